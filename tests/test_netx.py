"""The netx backend: a chain of conv and dense layers becomes a lava-dl netx 0.6 file that follows the schema netx's
reader reads; real lava-dl netx, loading it as ``hdf5.Network(net_config=FILE, reset_interval=T, reset_offset=1)``,
fires the integer simulator's spikes at every layer and step (one step later per layer) and gives its logits; with
netx's defaults it runs the batch as one recording (state carried across samples) and integrates biases while the
pipeline fills; graphs with residual joins, pooling or analog input are rejected in one error that says netx 0.6 has
none; ``compile --target netx`` writes the file (here from a NIR file) and ``simulate`` and ``energy`` run it."""

import json
import shutil
from dataclasses import replace

import h5py
import nir
import numpy as np
import pytest

from test_onnx_backend import family_graphs
from snncompile.backends import get_backend
from snncompile.backends.netx import schema
from snncompile.backends.netx.hdf5 import NETWORK_FILE, write
from snncompile.backends.netx.layers import layers
from snncompile.backends.netx.runtime import decode, run_file
from snncompile.backends.nir.export import to_nir
from snncompile.backends.numpy import simulate
from snncompile.cli.main import main
from snncompile.compiler import lower_and_quantize
from snncompile.errors import SerializationError, UnsupportedNodeError
from snncompile.ir import Graph
from snncompile.ir.ops import LIF, Conv2d, Flatten, Input, IntLIF, Linear, Readout

T = 3
netx = get_backend("netx")


def chain_graph() -> Graph:
    """Spike frames -> conv 3x3 -> leaky LIF -> flatten -> dense -> IF -> readout: a network netx describes."""
    rng = np.random.default_rng(0)
    graph = Graph("chain")
    graph.metadata["T"] = T
    graph.add("x", Input((2, 6, 6), "frames", "spikes"))
    graph.add("conv", Conv2d(rng.normal(0, 0.6, (3, 2, 3, 3)), rng.normal(0.1, 0.1, 3), 1, 1), ["x"])
    graph.add("lif1", LIF(decay=0.75, threshold=0.5), ["conv"])
    graph.add("flat", Flatten(), ["lif1"])
    graph.add("fc", Linear(rng.normal(0, 0.3, (8, 108)), rng.normal(0, 0.1, 8)), ["flat"])
    graph.add("lif2", LIF(decay=1.0, threshold=0.4), ["fc"])
    graph.add("readout", Readout(rng.normal(0, 0.5, (4, 8)), rng.normal(0, 0.1, 4)), ["lif2"])
    graph.set_outputs(["readout"])
    return graph


def dense_graph(hidden_bias: bool = True) -> Graph:
    """Spike frames (2, 4, 5) -> flatten -> dense -> leaky LIF -> dense -> IF -> readout: netx's first block is dense,
    reading the frames flattened. Without ``hidden_bias`` only the readout has a bias."""
    rng = np.random.default_rng(1)
    graph = Graph("dense")
    graph.metadata["T"] = T
    graph.add("x", Input((2, 4, 5), "frames", "spikes"))
    graph.add("flat", Flatten(), ["x"])
    graph.add("fc1", Linear(rng.normal(0.05, 0.3, (12, 40)), rng.normal(0.1, 0.1, 12) if hidden_bias else None),
              ["flat"])
    graph.add("lif1", LIF(decay=0.9, threshold=0.5), ["fc1"])
    graph.add("fc2", Linear(rng.normal(0.1, 0.4, (8, 12)), rng.normal(0.1, 0.1, 8) if hidden_bias else None), ["lif1"])
    graph.add("lif2", LIF(decay=1.0, threshold=0.4), ["fc2"])
    graph.add("readout", Readout(rng.normal(0, 0.5, (4, 8)), rng.normal(0.3, 0.1, 4)), ["lif2"])
    graph.set_outputs(["readout"])
    return graph


def two_conv_graph() -> Graph:
    """Spike frames (2, 7, 5) -> conv 3x3 -> LIF -> conv 3x3 stride 2 -> leaky LIF -> flatten -> readout: two
    convolution blocks on a frame that is not square."""
    rng = np.random.default_rng(2)
    graph = Graph("two_conv")
    graph.metadata["T"] = T
    graph.add("x", Input((2, 7, 5), "frames", "spikes"))
    graph.add("conv1", Conv2d(rng.normal(0.05, 0.5, (3, 2, 3, 3)), rng.normal(0.1, 0.1, 3), (1, 1), (1, 1)), ["x"])
    graph.add("lif1", LIF(decay=1.0, threshold=0.5), ["conv1"])
    graph.add("conv2", Conv2d(rng.normal(0.05, 0.4, (4, 3, 3, 3)), rng.normal(0.1, 0.1, 4), (2, 2), (1, 1)), ["lif1"])
    graph.add("lif2", LIF(decay=0.8, threshold=0.4), ["conv2"])
    graph.add("flat", Flatten(), ["lif2"])
    graph.add("readout", Readout(rng.normal(0, 0.5, (4, 48)), rng.normal(0, 0.1, 4)), ["flat"])
    graph.set_outputs(["readout"])
    return graph


@pytest.fixture(scope="module")
def chain():
    return lower_and_quantize(chain_graph(), bits=8).graph


@pytest.fixture(scope="module")
def artifact(chain, tmp_path_factory):
    return netx.emit(chain, tmp_path_factory.mktemp("netx") / "chain.netx")


def frames(graph, batch: int = 2, seed: int = 0) -> np.ndarray:
    """Random spike frames ``[T, batch, *input shape]`` for ``graph``."""
    shape = graph.input_nodes[0].info.shape
    return (np.random.default_rng(seed).random((T, batch, *shape)) < 0.4).astype(float)


def spiking_nodes(graph) -> list:
    """Every node emitting spikes (input frames, flatten nodes, populations) and the readout."""
    return [node.name for node in graph if node.info.is_events] + graph.outputs


def test_the_file_follows_the_schema_netx_reads(chain, artifact):
    path = artifact / NETWORK_FILE
    assert schema.check(path) == []
    layers = schema.read(path)
    assert [layer["type"] for layer in layers] == ["input", "conv", "flatten", "dense", "dense"]
    assert [tuple(layer["shape"]) for layer in layers] == [(2, 6, 6), (3, 6, 6), (108,), (8,), (4,)]
    conv, dense, readout = layers[1], layers[3], layers[4]
    np.testing.assert_array_equal(conv["weight"], chain["conv"].op.weight)
    np.testing.assert_array_equal(dense["weight"], chain["fc"].op.weight)
    for layer, neuron in ((conv, chain["lif1"].op), (dense, chain["lif2"].op)):
        assert layer["neuron"]["type"] == "CUBA" and layer["neuron"]["iDecay"] == 4096  # netx: du = iDecay - 1
        assert layer["neuron"]["vDecay"] == 4096 - neuron.decay_12bit and layer["neuron"]["vThMant"] == neuron.threshold
        np.testing.assert_array_equal(layer["bias"], neuron.bias)
    assert readout["neuron"]["vDecay"] == 0 and readout["neuron"]["vThMant"] == (1 << 17) - 1
    np.testing.assert_array_equal(readout["bias"], chain["readout"].op.bias)


@pytest.mark.parametrize("tamper, complaint", [
    (lambda f: f["layer/1/neuron/vThMant"].__setitem__((), 1 << 20), "vThMant"),
    (lambda f: f.__delitem__("layer/1/neuron"), "no 'neuron'"),
    (lambda f: f["layer/3/type"].__setitem__(0, b"pool"), "NotImplementedError for 'pool'"),
    (lambda f: f.__delitem__("layer/2"), "layer groups must be named"),
    (lambda f: f["layer/1/shape"].__setitem__(0, 5), "does not map"),
])
def test_the_schema_check_finds_what_netx_could_not_build(artifact, tmp_path, tamper, complaint):
    path = tmp_path / NETWORK_FILE
    shutil.copy(artifact / NETWORK_FILE, path)
    with h5py.File(path, "r+") as f:
        tamper(f)
    assert any(complaint in problem for problem in schema.check(path)), schema.check(path)


def with_current_decay(graph: Graph, kept: int) -> Graph:
    """Integer ``graph`` with every IntLIF population keeping ``kept`` 4096ths of its current per step (``Du``)."""
    changed = Graph(graph.name)
    changed.metadata = dict(graph.metadata)
    for node in graph:
        op = replace(node.op, current_decay_12bit=kept) if isinstance(node.op, IntLIF) else node.op
        changed.add(node.name, op, node.inputs)
    changed.set_outputs(graph.outputs)
    return changed


@pytest.mark.lava
@pytest.mark.parametrize("make, current_kept", [(chain_graph, 0), (dense_graph, 0), (two_conv_graph, 0),
                                                 pytest.param(chain_graph, 3000, id="chain_graph-current_decay")])
def test_real_netx_in_lava_fires_the_integer_simulators_spikes_at_every_layer_and_step(make, current_kept, tmp_path):
    graph = with_current_decay(lower_and_quantize(make(), bits=8).graph, current_kept)
    inputs = frames(graph)
    expected = simulate(graph, inputs, T, record=spiking_nodes(graph), dtype=np.float64)
    result = netx.run(netx.emit(graph, tmp_path / "net.netx"), inputs, T, record=spiking_nodes(graph))
    populations = [node.name for node in graph if isinstance(node.op, IntLIF)]
    assert all(expected.spike_counts[name][:, 1].sum() > 0 for name in populations), expected.spike_counts
    for name in spiking_nodes(graph):
        np.testing.assert_array_equal(result.recorded[name], expected.recorded[name], err_msg=name)
    assert result.spike_counts.keys() == expected.spike_counts.keys()
    for name, counts in expected.spike_counts.items():
        np.testing.assert_array_equal(result.spike_counts[name], counts, err_msg=name)
    np.testing.assert_array_equal(result.output, expected.output)


@pytest.mark.lava
def test_with_netx_defaults_the_batch_is_one_recording_and_the_readout_integrates_its_bias_while_the_pipeline_fills(
        tmp_path):
    """``hdf5.Network(net_config=FILE)`` without ``reset_interval``: nothing is reset, so two samples run as one
    recording of 2T steps, and block k integrates its bias for k steps before its first input arrives. With biases
    on the readout only, both effects are exact: every layer fires as the simulator on the two samples concatenated,
    and the readout's first step holds ``depth * bias`` more."""
    graph = lower_and_quantize(dense_graph(hidden_bias=False), bits=8).graph
    inputs = frames(graph)
    spikes, membrane = run_file(write(graph, tmp_path / NETWORK_FILE, netx.chip), inputs, T, {}, tmp_path)
    names, readout = spiking_nodes(graph), graph[graph.outputs[0]].op
    depth = sum(layer.has_neurons for layer in layers(graph))
    concatenated = np.swapaxes(inputs, 0, 1).reshape(1, 2 * T, *inputs.shape[2:]).swapaxes(0, 1)   # [2T, 1, ...]
    as_one = decode(graph, layers(graph), {"x": concatenated}, spikes, membrane, 2 * T, names, netx.chip)
    expected = simulate(graph, concatenated, 2 * T, record=names, dtype=np.float64)
    for name in names[:-1]:
        np.testing.assert_array_equal(as_one.recorded[name], expected.recorded[name], err_msg=name)
    assert expected.spike_counts["lif2"][T:].sum() > 0
    filling = expected.recorded["readout"].copy()
    filling[0] += depth * readout.bias
    np.testing.assert_array_equal(as_one.recorded["readout"], filling)
    per_sample = decode(graph, layers(graph), {"x": inputs}, spikes, membrane, T, names, netx.chip)
    separate = simulate(graph, inputs, T, record=names, dtype=np.float64)
    assert readout.bias.any() and (per_sample.output != separate.output).all(axis=1).all()


def test_residual_pooling_and_analog_input_are_rejected_naming_netx_06():
    _, _, graphs = family_graphs("7bnet_add_maxpool")
    with pytest.raises(UnsupportedNodeError) as raised:
        netx.check(graphs["integer"])
    message = str(raised.value)
    assert "netx 0.6 has no residual" in message and "netx 0.6 has no pooling layer" in message
    assert "'stages.0.connect' (Add)" in message and "'stages.1.level1.window' (SumPool2d)" in message
    _, _, graphs = family_graphs("mlf_k1")
    with pytest.raises(UnsupportedNodeError, match="node 'input' \\(Input\\): netx feeds spikes"):
        netx.check(graphs["integer"])


def test_compile_a_nir_file_to_netx_on_the_command_line(tmp_path, capsys):
    nir.write(tmp_path / "chain.nir", to_nir(chain_graph()))
    out = tmp_path / "chain.netx"
    assert main(["compile", str(tmp_path / "chain.nir"), "--target", "netx", "-o", str(out)]) == 0
    assert f"wrote {out}" in capsys.readouterr().out
    assert schema.check(out / NETWORK_FILE) == []
    assert [layer["type"] for layer in schema.read(out / NETWORK_FILE)] == ["input", "conv", "flatten", "dense",
                                                                             "dense"]


def frames_classifier() -> Graph:
    """Digits as event frames (2, 8, 8), T = 2 -> conv 3x3 stride 2 -> LIF -> flatten -> readout of 10 classes."""
    rng = np.random.default_rng(3)
    graph = Graph("frames_classifier")
    graph.metadata.update(T=2, encoding="frames")
    graph.add("x", Input((2, 8, 8), "frames", "spikes"))
    graph.add("conv", Conv2d(rng.normal(0.2, 0.5, (4, 2, 3, 3)), rng.normal(0, 0.1, 4), (2, 2), (1, 1)), ["x"])
    graph.add("lif", LIF(decay=0.9, threshold=0.5), ["conv"])
    graph.add("flat", Flatten(), ["lif"])
    graph.add("readout", Readout(rng.normal(0, 0.5, (10, 64)), rng.normal(0, 0.1, 10)), ["flat"])
    graph.set_outputs(["readout"])
    return graph


def last_json(text: str) -> dict:
    return json.loads(text.strip().splitlines()[-1])


@pytest.mark.lava
def test_simulate_and_energy_run_a_netx_artifact_on_the_command_line_as_numpy_does(tmp_path, capsys):
    nir.write(tmp_path / "digits.nir", to_nir(frames_classifier()))
    out = str(tmp_path / "digits.netx")
    assert main(["compile", str(tmp_path / "digits.nir"), "--target", "netx", "-o", out]) == 0
    capsys.readouterr()
    common = ["--limit", "2", "--json"]
    assert main(["simulate", out, "--backend", "numpy", "--compare-float", *common]) == 0
    on_numpy = last_json(capsys.readouterr().out)
    assert main(["simulate", out, "--backend", "netx", "--compare-float", *common]) == 0
    printed = capsys.readouterr().out
    on_netx = last_json(printed)
    assert "frames_classifier on digits (netx): accuracy " in printed and " on 2 held-out samples, T=2" in printed
    assert printed.splitlines()[1].split()[:3] == ["node", "neurons", "spikes/inference"]
    lif_row = next(line.split() for line in printed.splitlines() if line.startswith("lif "))
    assert on_netx["spikes"]["lif"] > 0 and lif_row[:3] == ["lif", "64", f"{on_netx['spikes']['lif'] / 2:,.1f}"]
    for key in ("predictions", "spikes", "firing_rates", "agreement"):
        assert on_netx[key] == on_numpy[key], key
    assert main(["energy", out, "--backend", "numpy", *common]) == 0
    energy_numpy = last_json(capsys.readouterr().out)
    assert main(["energy", out, "--backend", "netx", *common]) == 0
    energy_netx = last_json(capsys.readouterr().out)
    assert energy_netx["backend"] == "netx"
    assert energy_netx["totals"] == energy_numpy["totals"]


def test_a_netx_artifact_whose_file_netx_cannot_build_is_refused_naming_the_file(chain, artifact, tmp_path):
    broken = tmp_path / "broken.netx"
    shutil.copytree(artifact, broken)
    with h5py.File(broken / NETWORK_FILE, "r+") as f:
        del f["layer/1/neuron"]
    with pytest.raises(SerializationError, match="network.net: not a network lava-dl netx 0.6 can build"):
        netx.run(broken, frames(chain), T)
