"""The netx backend: a chain of conv and dense layers becomes a lava-dl netx 0.6 file that follows the schema netx's
reader reads; the Lava network netx builds from it fires the integer simulator's spikes at every layer, one step later
per layer, and gives its logits; graphs with residual joins, pooling or analog input are rejected in one error that
says netx 0.6 has none; ``compile --target netx`` writes the file (here from a NIR file)."""

import shutil

import h5py
import nir
import numpy as np
import pytest

from test_onnx_backend import family_graphs
from snncompile.backends import get_backend
from snncompile.backends.netx import schema
from snncompile.backends.netx.hdf5 import NETWORK_FILE
from snncompile.backends.nir.export import to_nir
from snncompile.backends.numpy import simulate
from snncompile.cli.main import main
from snncompile.compiler import lower_and_quantize
from snncompile.errors import UnsupportedNodeError
from snncompile.ir import Graph
from snncompile.ir.ops import LIF, Conv2d, Flatten, Input, Linear, Readout

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


@pytest.fixture(scope="module")
def chain():
    return lower_and_quantize(chain_graph(), bits=8).graph


@pytest.fixture(scope="module")
def artifact(chain, tmp_path_factory):
    return netx.emit(chain, tmp_path_factory.mktemp("netx") / "chain.netx")


def frames(batch: int = 2, seed: int = 0) -> np.ndarray:
    return (np.random.default_rng(seed).random((T, batch, 2, 6, 6)) < 0.4).astype(float)


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


@pytest.mark.lava
def test_netx_in_lava_fires_the_integer_simulators_spikes_one_step_later_per_layer(chain, artifact):
    inputs = frames()
    expected = simulate(chain, inputs, T, record="all", dtype=np.float64)
    result = netx.run(artifact, inputs, T)
    for name in ("lif1", "lif2"):
        np.testing.assert_array_equal(result.recorded[name], expected.recorded[name], err_msg=name)
        np.testing.assert_array_equal(result.spike_counts[name], expected.spike_counts[name])
    assert expected.spike_counts["lif1"].sum() > 0 and expected.spike_counts["lif2"].sum() > 0
    np.testing.assert_array_equal(result.output, expected.output)


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
