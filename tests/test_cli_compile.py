"""``snncompile compile`` and ``simulate``: artifacts with a full report, written atomically; simulation results as
one JSON line whose keys every backend shares."""

import json

import numpy as np
import pytest
import torch
from torch import nn

import snncompile
from snncompile import checkpoint
from snncompile.backends import get_backend
from snncompile.cli.main import main
from snncompile.compiler import load_artifact
from snncompile.evaluation import dataset_for, evaluate
from snncompile.models.layers import DirectEncoder, Readout
from snncompile.models.neurons import IFNode


@pytest.fixture(scope="module")
def trained_file(trained, tmp_path_factory):
    model, _, metrics = trained("sew_resnet")
    path = tmp_path_factory.mktemp("cli") / "sew.pt"
    checkpoint.save(path, model, metrics)
    return path


def test_compile_writes_the_artifact_and_its_report(trained_file, tmp_path, capsys):
    out = tmp_path / "sew.numpy"
    assert main(["compile", str(trained_file), "--target", "numpy", "--calibrate", "64", "-o", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "fold_batchnorm" in printed and "quantize" in printed and f"wrote {out}" in printed
    assert {p.name for p in out.iterdir()} == {"graph.json", "tensors.npz", "float", "report.json", "manifest.json"}
    report = json.loads((out / "report.json").read_text())
    assert [p["pass"] for p in report["passes"]][-1] == "quantize"
    assert all(p["seconds"] >= 0 for p in report["passes"])
    assert report["calibration"]["samples"] == 64 and report["clip_ratio"] in (1.0, 1.25, 1.5, 2.0, 3.0)
    for group in report["populations"]:
        assert group["scale"] > 0 and 0 <= group["clipped_weight_share"] <= 1 and group["range_margin"] >= 1
    assert report["after_lowering"]["neurons"] >= report["before_lowering"]["neurons"]
    graph, float_graph, _ = load_artifact(out)
    assert graph.metadata["integer"] and any(n.op.kind == "IntLIF" for n in graph)
    assert not any(n.op.kind in ("MLF", "BatchNorm", "MaxPool2d", "SEWLogic") for n in float_graph)


def test_a_failed_compile_leaves_nothing_behind(trained_file, tmp_path, capsys):
    out = tmp_path / "never"
    assert main(["compile", str(trained_file), "--bits", "12", "-o", str(out)]) == 1
    err = capsys.readouterr().err
    assert err.startswith("snncompile: error: ") and "2 to 9 bits" in err and err.count("\n") == 1
    assert list(tmp_path.iterdir()) == []


def test_recompiling_replaces_the_artifact(trained_file, tmp_path):
    out = tmp_path / "model"
    assert main(["compile", str(trained_file), "--bits", "6", "-o", str(out)]) == 0
    assert main(["compile", str(trained_file), "--bits", "8", "-o", str(out)]) == 2  # an artifact is there
    assert main(["compile", str(trained_file), "--bits", "8", "-o", str(out), "--force"]) == 0
    assert json.loads((out / "report.json").read_text())["bits"] == 8
    assert [p.name for p in tmp_path.iterdir()] == ["model"]


def test_simulate_json_matches_the_python_api(trained_file, tmp_path, capsys):
    out = tmp_path / "sew.numpy"
    assert main(["compile", str(trained_file), "-o", str(out)]) == 0
    capsys.readouterr()
    assert main(["simulate", str(out), "--data", "digits", "--limit", "40", "--json", "--compare-float"]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert lines[0].startswith("sew_resnet18 on digits (numpy): accuracy ")
    result = json.loads(lines[-1])
    assert {"accuracy", "predictions", "spikes", "firing_rates", "backend", "samples"} <= set(result)
    assert len(result["predictions"]) == result["samples"] == 40
    graph, float_graph, _ = load_artifact(out)
    expected = evaluate(graph, get_backend("numpy"), dataset_for(graph), limit=40, progress=False)
    assert result["predictions"] == expected.predictions and result["accuracy"] == expected.accuracy
    assert result["spikes"] == expected.spikes and set(result["spikes"]) == {n.name for n in graph if n.info.is_events}
    assert all(isinstance(v, int) for v in result["spikes"].values()) and sum(result["spikes"].values()) > 0
    assert 0.5 < np.mean([a["agreement"] for a in result["agreement"].values()]) <= 1


class DenseChain(nn.Module):
    """Direct-encoded 8x8 digits -> dense layer -> IF neurons -> readout (T=2): three Lava processes."""

    def __init__(self):
        super().__init__()
        self.encoder = DirectEncoder(2)
        self.flatten = nn.Flatten(start_dim=2)
        self.fc = nn.Linear(64, 16)
        self.sn = IFNode(v_threshold=0.5)
        self.readout = Readout(16, 10)

    def forward(self, x):
        return self.readout(self.sn(self.fc(self.flatten(self.encoder(x)))))


@pytest.mark.lava
def test_compare_float_on_lava_runs_the_float_reference_on_numpy(tmp_path, capsys):
    torch.manual_seed(0)
    out = tmp_path / "chain.lava"
    snncompile.compile(DenseChain().eval(), torch.rand(1, 1, 8, 8), target="lava", output=out)
    assert main(["simulate", str(out), "--backend", "lava", "--limit", "2", "--json", "--compare-float"]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert "(lava): accuracy" in lines[0] and lines[1].split()[-2:] == ["float", "rate"]
    result = json.loads(lines[-1])
    assert result["backend"] == "lava" and set(result["agreement"]) == {"sn"}
    assert result["agreement"]["sn"]["rate_integer"] == result["firing_rates"]["sn"]


@pytest.mark.parametrize("argv, message, code", [
    (["simulate", "{tmp}"], "graph.json: missing", 1),
    (["simulate", "{checkpoint}"], "a file, not a compiled graph; compile it first", 1),
    (["simulate", "{artifact}", "--batch-size", "0"], "--batch-size must be an integer >= 1, got 0", 2),
    (["compile", "{checkpoint}", "--calibrate", "-3", "-o", "{tmp}/out"], "--calibrate (training samples; 0 for "
                                                                         "max-abs scales) must be an integer >= 0", 2),
])
def test_bad_simulate_or_compile_input_is_one_line_and_writes_nothing(trained_file, tmp_path, capsys, argv, message,
                                                                      code):
    artifact = tmp_path / "artifact"
    assert main(["compile", str(trained_file), "-o", str(artifact)]) == 0
    before = sorted(tmp_path.rglob("*"))
    capsys.readouterr()
    assert main([a.format(tmp=tmp_path, checkpoint=trained_file, artifact=artifact) for a in argv]) == code
    err = capsys.readouterr().err
    assert err.startswith("snncompile: error: ") and message in err and err.count("\n") == 1
    assert sorted(tmp_path.rglob("*")) == before


def test_a_target_that_cannot_run_the_graph_lists_one_node_per_line_and_writes_nothing(tiny_checkpoint, tmp_path,
                                                                                       capsys):
    out = tmp_path / "model.netx"
    assert main(["compile", str(tiny_checkpoint), "--target", "netx", "-o", str(out)]) != 0
    header, *problems = capsys.readouterr().err.splitlines()
    assert header.startswith("snncompile: error: ") and "not supported by backend 'netx'" in header
    assert len(problems) >= 2 and all(line.startswith("  - node '") for line in problems)
    assert any("residual" in line for line in problems)
    assert not out.exists()
