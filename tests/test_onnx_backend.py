"""The ONNX backend: onnx_backend runs the exported model exactly like the NumPy simulator — the integer graph bit for
bit, the traced and lowered float graphs to 1e-5 with equal spikes — for every zoo family; the model is standard
ONNX (opset 17, the full checker), its batch is dynamic, and ``compile --target onnx`` / ``simulate --backend onnx``
give the simulator's predictions and spikes."""

import json
from functools import lru_cache

import numpy as np
import onnx
import pytest
import torch

from conftest import FAMILIES, family_input, family_model, lively, tiny_config
from test_numpy_simulator import CURRENT_DECAYS, Teleport, cuba_graph, cuba_spikes
from snncompile import checkpoint
from snncompile.backends import get_backend
from snncompile.backends.numpy import simulate
from snncompile.backends.onnx.export import OPSET, export
from snncompile.cli.main import main
from snncompile.compiler import lower_and_quantize
from snncompile.errors import ConfigError, UnsupportedNodeError
from snncompile.frontend import trace
from snncompile.ir import Graph
from snncompile.ir.ops import LIF, Input, IntLIF, Linear, Readout
from snncompile.models import build

onnx_backend = get_backend("onnx")


@lru_cache(maxsize=None)
def family_graphs(family: str) -> tuple:
    """``(inputs, T, {"traced", "lowered", "integer": graph})`` of a tiny random-weight member of ``family``."""
    model, config = family_model(family)
    x = family_input(config)
    traced = trace(model, x)
    compiled = lower_and_quantize(traced, bits=8)
    return x.numpy(), config["T"], {"traced": traced, "lowered": compiled.float_graph, "integer": compiled.graph}


def both(graph: Graph, inputs, T: int, record="all") -> tuple:
    """The simulator's reference arithmetic (float64; integer neurons by :func:`snncompile.integer.cuba_step`) and
    onnxruntime, on the same graph and inputs."""
    return (simulate(graph, inputs, T, record=record, dtype=np.float64),
            onnx_backend.run(graph, inputs, T, record=record))


@pytest.mark.parametrize("family", sorted(FAMILIES))
def test_integer_graph_runs_bit_exactly_like_the_simulator(family):
    inputs, T, graphs = family_graphs(family)
    expected, result = both(graphs["integer"], inputs, T)
    np.testing.assert_array_equal(result.output, expected.output)
    assert result.spike_counts.keys() == expected.spike_counts.keys()
    for name, counts in expected.spike_counts.items():
        assert result.spike_counts[name].dtype == np.int64
        np.testing.assert_array_equal(result.spike_counts[name], counts, err_msg=name)
        np.testing.assert_array_equal(result.recorded[name], expected.recorded[name], err_msg=name)
    assert sum(counts.sum() for counts in expected.spike_counts.values()) > 0


@pytest.mark.parametrize("family", ["mlf_k3", "7bnet_add_maxpool"])  # images, then frames (batch on axis 1)
def test_a_batch_run_in_slices_joins_back_in_sample_order(family, monkeypatch):
    inputs, T, graphs = family_graphs(family)
    whole = onnx_backend.run(graphs["integer"], inputs, T, record="all")
    monkeypatch.setattr("snncompile.backends.onnx.runtime.SLICE", 3)  # the 4 samples as 3 + 1
    sliced = onnx_backend.run(graphs["integer"], inputs, T, record="all")
    np.testing.assert_array_equal(sliced.output, whole.output)
    for name in whole.spike_counts:
        np.testing.assert_array_equal(sliced.spike_counts[name], whole.spike_counts[name], err_msg=name)
        np.testing.assert_array_equal(sliced.recorded[name], whole.recorded[name], err_msg=name)
    assert len({tuple(row) for row in whole.output}) > 1  # samples differ, so an order mix-up would show


@pytest.mark.parametrize("stage", ["traced", "lowered"])
@pytest.mark.parametrize("family", sorted(FAMILIES))
def test_float_graphs_run_like_the_simulator(family, stage):
    inputs, T, graphs = family_graphs(family)
    expected, result = both(graphs[stage], inputs, T)
    np.testing.assert_allclose(result.output, expected.output, rtol=0, atol=1e-5)
    for name, counts in expected.spike_counts.items():
        np.testing.assert_array_equal(result.spike_counts[name], counts, err_msg=name)
        np.testing.assert_array_equal(result.recorded[name], expected.recorded[name], err_msg=name)


def test_the_model_is_standard_onnx_with_a_dynamic_batch():
    inputs, T, graphs = family_graphs("mlf_k2")
    graph = graphs["integer"]
    model = export(graph, T)
    onnx.checker.check_model(model, full_check=True)
    assert model.opset_import[0].version == OPSET >= 17
    (image,) = model.graph.input
    assert image.type.tensor_type.shape.dim[0].dim_param == "batch"
    assert {o.name for o in model.graph.output} == {"output"} | {f"spike_counts/{n.name}" for n in graph
                                                                  if n.info.is_events}
    for batch in (inputs[:1], inputs):
        expected, result = both(graph, batch, T, record=())
        np.testing.assert_array_equal(result.output, expected.output)
        assert result.recorded == {} and result.spike_counts["stem.2"].shape == (T, len(batch))


def test_on_chip_synapses_compute_in_float32_and_the_host_layer_in_float64():
    """Integer weights on events sum exactly in float32 (native Conv); the host conv on analog pixels is an im2col in
    float64, whose currents round to the simulator's integers."""
    inputs, T, graphs = family_graphs("mlf_k1")
    graph = graphs["integer"]
    op_types = [node.op_type for node in export(graph, T).graph.node]
    on_chip = [n for n in graph if n.op.kind == "Conv2d" and graph[n.inputs[0]].info.is_events]
    assert op_types.count("Conv") == T * len(on_chip) and op_types.count("Round") == 1  # the host part: once
    host = [n.name for n in graph if n.op.kind == "Quantize"]
    expected, result = both(graph, inputs, T, record=host)
    np.testing.assert_array_equal(result.recorded[host[0]], expected.recorded[host[0]])


def test_the_integer_neuron_wraps_saturates_and_decays_like_the_chip_arithmetic():
    """Currents far beyond the range analysis (they wrap at 24 bits, the membranes saturate), leaking negative
    membranes, per-channel biases: spikes and logits equal :func:`snncompile.integer.lif_step`'s. Neuron 0 gets
    ``I << 6 = 2**23`` (mod 2**24) for every odd number of active inputs: the edge of the wrap interval."""
    rng = np.random.default_rng(0)
    T, n_in, n_out = 12, 16, 64
    weight = rng.integers(-400_000, 400_000, (n_out, n_in))
    weight[0] = 1 << 17
    graph = Graph("extreme")
    graph.add("x", Input((n_in,), "frames", "spikes"))
    graph.add("fc", Linear(weight.astype(np.int32)), ["x"])
    graph.add("lif", IntLIF(threshold=60_000, decay_12bit=3001, bias=rng.integers(-4096, 4096, n_out)), ["fc"])
    graph.add("readout", Readout(rng.integers(-255, 256, (3, n_out)).astype(np.int32), output_scale=7.0), ["lif"])
    graph.set_outputs(["readout"])
    frames = (rng.random((T, 8, n_in)) < 0.4).astype(float)
    expected, result = both(graph, frames, T)
    assert 0 < expected.spike_counts["lif"].sum() < T * 8 * n_out
    np.testing.assert_array_equal(result.recorded["lif"], expected.recorded["lif"])
    np.testing.assert_array_equal(result.output, expected.output)


@pytest.mark.parametrize("decay, current_decay", CURRENT_DECAYS)
def test_an_integer_neuron_whose_current_decays_runs_cuba_step(decay, current_decay):
    """The current ``u`` is state of the model when it decays: spikes and readout equal ``cuba_step``'s and the
    simulator's, with currents that wrap at 24 bits; without current decay the model has no such state."""
    rng = np.random.default_rng(decay)
    graph = cuba_graph(current_decay, decay, rng, weight_max=200_000)
    frames = (rng.random((10, 8, 16)) < 0.4).astype(float)
    expected, result = both(graph, frames, 10)
    spikes = cuba_spikes(graph, frames)
    assert 0 < spikes.mean() < 1
    np.testing.assert_array_equal(result.recorded["lif"], spikes)
    np.testing.assert_array_equal(result.output, expected.output)
    decaying = [n.name for n in export(graph, 10).graph.node if n.name.startswith("lif@") and "/current_" in n.name]
    stateless = [n.name for n in export(cuba_graph(0, decay, rng), 10).graph.node if "/current_" in n.name]
    assert len(decaying) == 9 * 6 and stateless == []  # from the second step: |u|, *Du, /4096, sign, *, + input


def test_an_emitted_directory_runs_like_the_graph(tmp_path):
    inputs, T, graphs = family_graphs("sew_and_lif")
    graph = graphs["integer"]
    artifact = onnx_backend.emit(graph, tmp_path / "out")
    assert {p.name for p in artifact.iterdir()} == {"graph.json", "tensors.npz", "model.onnx"}
    population = next(n.name for n in graph if n.op.kind == "IntLIF")
    from_disk = onnx_backend.run(artifact, inputs, T, record=[population])
    in_memory = onnx_backend.run(graph, inputs, T, record=[population])
    np.testing.assert_array_equal(from_disk.output, in_memory.output)
    np.testing.assert_array_equal(from_disk.recorded[population], in_memory.recorded[population])
    assert from_disk.spike_counts.keys() == in_memory.spike_counts.keys() and from_disk.seconds > 0
    with pytest.raises(ConfigError, match=f"exported for T={T}, not T={T + 1}"):
        onnx_backend.run(artifact, inputs, T + 1)
    with pytest.raises(ConfigError, match=r"expects an array of shape \[B, 1, 8, 8\]"):
        onnx_backend.run(artifact, inputs[:, :, :4], T)


def test_every_unsupported_node_is_listed_at_once(tmp_path):
    rng = np.random.default_rng(1)
    graph = Graph("bad")
    graph.add("x", Input((4,), "frames", "spikes"))
    graph.add("jump", Teleport(), ["x"])
    graph.add("readout", Readout(rng.standard_normal((3, 4))), ["jump"])
    graph.add("after", LIF(), ["readout"])
    graph.set_outputs(["after"])
    problems = onnx_backend.unsupported(graph)
    assert len(problems) == 2
    assert "'jump' (Teleport): the ONNX exporter has no translation" in problems[0]
    assert "'readout' (Readout): read by 'after'" in problems[1]
    for attempt in (lambda: onnx_backend.emit(graph, tmp_path), lambda: onnx_backend.run(graph, np.zeros((2, 1, 4)), 2)):
        with pytest.raises(UnsupportedNodeError, match=r"(?s)2 node\(s\) not supported by backend 'onnx'.*jump.*readout"):
            attempt()
    assert not (tmp_path / "model.onnx").exists()


@pytest.fixture(scope="module")
def tiny_checkpoint(tmp_path_factory):
    """A tiny random-weight SEW ResNet saved as if trained on digits (8x8 images, T=2)."""
    torch.manual_seed(0)
    model = lively(build("sew_resnet18", **tiny_config("sew_resnet18")), seed=0).eval()
    path = tmp_path_factory.mktemp("onnx_cli") / "sew.pt"
    checkpoint.save(path, model, {"dataset": "digits", "encoding": "direct", "T": 2, "image_size": 8})
    return path


def test_compile_to_onnx_then_simulate_gives_the_simulators_predictions_and_spikes(tiny_checkpoint, tmp_path,
                                                                                  capsys):
    out = tmp_path / "sew.onnx"
    assert main(["compile", str(tiny_checkpoint), "--target", "onnx", "-o", str(out)]) == 0
    assert (out / "model.onnx").is_file() and (out / "float" / "graph.json").is_file()
    printed = {}
    for backend in ("numpy", "onnx"):
        capsys.readouterr()
        arguments = ["simulate", str(out), "--backend", backend, "--limit", "40", "--json", "--compare-float"]
        assert main(arguments) == 0
        lines = capsys.readouterr().out.strip().splitlines()
        assert f"({backend}): accuracy" in lines[0]
        printed[backend] = json.loads(lines[-1])
    numpy_json, onnx_json = printed["numpy"], printed["onnx"]
    assert numpy_json.keys() == onnx_json.keys() and onnx_json["backend"] == "onnx"
    for key in ("samples", "T", "accuracy", "predictions", "spikes", "firing_rates", "agreement"):
        assert onnx_json[key] == numpy_json[key], key
    assert sum(onnx_json["spikes"].values()) > 0
