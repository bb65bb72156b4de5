"""``snncompile inspect``: the node table of a checkpoint, as text and JSON, with stripped heads listed."""

import json

from conftest import tiny_config
from snncompile import checkpoint
from snncompile.cli.main import main
from snncompile.frontend import trace_checkpoint
from snncompile.ir import save
from snncompile.models import build


def saved_model(tmp_path, arch="sbp_resnet18", **overrides):
    model = build(arch, **{**tiny_config(arch), **overrides})
    path = tmp_path / f"{arch}.pt"
    checkpoint.save(path, model, {"image_size": 8, "test_accuracy": 0.5})
    return model, path


def test_inspect_prints_every_node_totals_and_what_was_stripped(tmp_path, capsys):
    model, path = saved_model(tmp_path)
    assert main(["inspect", str(path)]) == 0
    out = capsys.readouterr().out
    assert out.splitlines()[0] == "sbp_resnet18: direct input, T=2"
    graph = trace_checkpoint(path)
    for node in graph:
        assert node.name in out
    assert "stages.0.0.add" in out and "readout" in out
    assert "stripped (not used at inference): side_heads (ModuleList, 310 parameters)" in out
    used = sum(p.numel() for p in model.parameters()) - 310
    assert out.splitlines()[-2].rstrip().endswith(f"{used:,}")


def test_inspect_json_is_one_object_with_nodes_and_totals(tmp_path, capsys):
    _, path = saved_model(tmp_path, "mlf_dsresnet14", levels=3)
    assert main(["inspect", str(path), "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    nodes = {n["name"]: n for n in summary["nodes"]}
    assert nodes["stem.2"]["op"] == "MLF" and nodes["stem.2"]["kind"] == "counts<=3"
    assert nodes["stem.2"]["neurons"] == 3 * 4 * 8 * 8
    assert nodes["stem.0"]["synapses"] == 4 * 1 * 22 * 22  # 3x3 conv with padding on 8x8: 22 taps per axis
    assert summary["totals"]["neurons"] == sum(n["neurons"] for n in summary["nodes"])


def test_inspect_reads_a_compiled_graph_directory(tmp_path, capsys):
    _, path = saved_model(tmp_path, "sew_7bnet", in_channels=2, encoding="frames")
    directory = save(trace_checkpoint(path), tmp_path / "compiled")
    assert main(["inspect", str(directory)]) == 0
    assert capsys.readouterr().out.startswith("sew_7bnet: frames input, T=2")


def test_inspect_of_a_foreign_file_is_one_line_and_exit_1(tmp_path, capsys):
    path = tmp_path / "notes.pt"
    path.write_text("not a checkpoint")
    assert main(["inspect", str(path)]) == 1
    err = capsys.readouterr().err
    assert err.startswith("snncompile: error: ") and str(path) in err and err.count("\n") == 1
