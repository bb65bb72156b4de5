"""The NIR backend: every lowered zoo family written as NIR (type-checked by ``nir.read``) and read back gives the same
spikes at every neuron in the simulator — the integer graph bit for bit; without snncompile's metadata, as other tools
read the file (forward Euler, dt = 1e-4), the float graph still fires the same spikes. MLF levels are LIF nodes and
sums are edges; what NIR cannot express is rejected in one error naming every node; ``compile --target nir`` and
``compile model.nir`` complete the round trip on the command line."""

import json

import nir
import numpy as np
import pytest
import torch

from conftest import FAMILIES, lively, tiny_config
from test_onnx_backend import family_graphs
from snncompile import checkpoint
from snncompile.backends import get_backend
from snncompile.backends.nir import INTEGER_FILE, MODEL_FILE
from snncompile.backends.nir.euler import DT
from snncompile.backends.nir.export import to_nir
from snncompile.backends.nir.importer import from_nir, read
from snncompile.backends.numpy import simulate
from snncompile.cli.main import main
from snncompile.compiler import load_artifact
from snncompile.errors import SerializationError, UnsupportedNodeError
from snncompile.frontend import trace
from snncompile.ir import Graph
from snncompile.ir.ops import LIF, Conv2d, Flatten, Input, IntLIF, Linear, Readout
from snncompile.models import build

NEURONS = ("LIF", "IntLIF")


def through_file(graph: Graph, path) -> nir.NIRGraph:
    nir.write(path, to_nir(graph))
    return nir.read(path, type_check=True)


def assert_same_spikes(graph: Graph, other: Graph, inputs, T: int) -> None:
    """Equal spikes at every neuron of ``graph`` (which ``other`` must hold by the same names) and equal outputs."""
    neurons = [node.name for node in graph if node.op.kind in NEURONS]
    expected = simulate(graph, inputs, T, record=neurons, dtype=np.float64)
    result = simulate(other, inputs, T, record=neurons, dtype=np.float64)
    for name in neurons:
        np.testing.assert_array_equal(result.recorded[name], expected.recorded[name], err_msg=name)
    np.testing.assert_array_equal(result.output, expected.output)
    assert sum(expected.recorded[name].sum() for name in neurons) > 0


@pytest.mark.parametrize("stage", ["lowered", "integer"])
@pytest.mark.parametrize("family", sorted(FAMILIES))
def test_the_round_trip_through_a_nir_file_keeps_every_spike(family, stage, tmp_path):
    inputs, T, graphs = family_graphs(family)
    graph = graphs[stage]
    through_file(graph, tmp_path / MODEL_FILE)
    back = read(tmp_path / MODEL_FILE)
    assert_same_spikes(graph, back, inputs, T)
    assert back.metadata == graph.metadata and back.outputs == graph.outputs
    for node in back:
        if node.op.kind != "Add":
            original = graph[node.name].op
            assert node.op.attributes() == original.attributes(), node.name
            for field, array in original.tensors().items():
                assert node.op.tensors()[field].dtype == array.dtype
                np.testing.assert_array_equal(node.op.tensors()[field], array, err_msg=f"{node.name}.{field}")


@pytest.mark.parametrize("family", ["mlf_k2", "sew_and_lif", "spiking_resnet"])
def test_without_our_metadata_the_float_graph_reads_as_other_tools_read_it(family, tmp_path):
    inputs, T, graphs = family_graphs(family)
    graph = graphs["lowered"]
    foreign = through_file(graph, tmp_path / MODEL_FILE)
    foreign.metadata = {}
    for node in foreign.nodes.values():
        node.metadata = {}
    plain = from_nir(foreign)
    assert not any(n.op.kind == "IntLIF" for n in plain) and plain.outputs == graph.outputs
    assert_same_spikes(graph, plain, inputs, T)


def test_the_discretisation_is_forward_euler_with_dt_1e_4():
    _, _, graphs = family_graphs("sew_and_lif")  # SpikingJelly LIF, tau = 3: decay 2/3 with an input gain of 1/3
    graph = graphs["lowered"]
    exported = to_nir(graph)
    for node in graph:
        if node.op.kind == "LIF":
            lif = exported.nodes[node.name]
            assert isinstance(lif, nir.LIF if node.op.decay < 1 else nir.IF)
            if node.op.decay < 1:
                np.testing.assert_allclose(1 - DT / lif.tau, node.op.decay, rtol=1e-12)
                np.testing.assert_allclose(lif.r * DT / lif.tau, node.op.input_gain, rtol=1e-12)
                assert np.all(lif.v_leak == 0)
            assert np.all(lif.v_threshold == node.op.threshold) and np.all(lif.v_reset == node.op.v_reset)
    assert any(isinstance(n, nir.LIF) for n in exported.nodes.values())


def test_mlf_levels_are_lif_nodes_and_sums_are_summed_edges():
    _, _, graphs = family_graphs("mlf_k2")
    graph = graphs["integer"]
    exported = to_nir(graph)
    assert sum(isinstance(n, (nir.LIF, nir.IF)) for n in exported.nodes.values()) == sum(
        n.op.kind == "IntLIF" for n in graph)
    assert not any(node.name in exported.nodes for node in graph if node.op.kind == "Add")
    into_conv1 = {source for source, target in exported.edges if target == "stages.0.0.conv1"}
    assert into_conv1 == {"stem.2.level1", "stem.2.level2"}
    into_next_block = {source for source, target in exported.edges if target == "stages.0.1.conv1"}
    assert into_next_block == {"stages.0.0.sn2.level1", "stages.0.0.sn2.level2", "stem.2.level1", "stem.2.level2"}


def cuba_graph(current_decay: int, decay: int) -> Graph:
    """Spikes -> Conv2d -> IntLIF keeping ``current_decay`` of its current, with a bias -> Linear -> IntLIF (no current
    memory, a bias) -> Readout."""
    rng = np.random.default_rng(current_decay)
    graph = Graph("cuba")
    graph.add("x", Input((2, 5, 5), "frames", "spikes"))
    graph.add("conv", Conv2d(rng.integers(-60, 60, (3, 2, 3, 3)).astype(np.int32), None, (1, 1), (1, 1)), ["x"])
    graph.add("cuba", IntLIF(threshold=50, decay_12bit=decay, bias=np.array([12, 19, -5]),
                             current_decay_12bit=current_decay), ["conv"])
    graph.add("flat", Flatten(), ["cuba"])
    graph.add("fc", Linear(rng.integers(-60, 60, (10, 75)).astype(np.int32)), ["flat"])
    graph.add("lif", IntLIF(threshold=50, bias=rng.integers(-20, 20, 10)), ["fc"])
    graph.add("readout", Readout(rng.integers(-255, 256, (3, 10)).astype(np.int32)), ["lif"])
    graph.set_outputs(["readout"])
    return graph


def test_an_integer_neuron_whose_current_decays_is_a_cuba_lif_and_comes_back_exactly(tmp_path):
    """NIR's CubaLIF by forward Euler (the current first): ``1 - dt/tau_syn = Du/4096``, ``(dt/tau_syn) w_in = 1``,
    ``1 - dt/tau_mem = D/4096``, ``(dt/tau_mem) r = 1``, the bias ``(dt/tau_mem) v_leak`` (not on the synapse, where
    it would decay with the current); snncompile reads its own file back to the same ops and spikes."""
    graph = cuba_graph(3072, 3001)
    exported = through_file(graph, tmp_path / MODEL_FILE)
    cuba = exported.nodes["cuba"]
    assert isinstance(cuba, nir.CubaLIF) and isinstance(exported.nodes["lif"], nir.IF)
    np.testing.assert_allclose(1 - DT / cuba.tau_syn, 3072 / 4096, rtol=1e-12)
    np.testing.assert_allclose(cuba.w_in * DT / cuba.tau_syn, 1.0, rtol=1e-12)
    np.testing.assert_allclose(1 - DT / cuba.tau_mem, 3001 / 4096, rtol=1e-12)
    np.testing.assert_allclose(cuba.r * DT / cuba.tau_mem, 1.0, rtol=1e-12)
    np.testing.assert_allclose(cuba.v_leak * DT / cuba.tau_mem, np.broadcast_to([[[12]], [[19]], [[-5]]], (3, 5, 5)),
                               rtol=1e-12)
    assert np.all(cuba.v_threshold == 50) and not np.any(exported.nodes["conv"].bias)
    np.testing.assert_array_equal(exported.nodes["fc"].bias, graph["lif"].op.bias)  # a LIF's bias: on its synapse
    back = read(tmp_path / MODEL_FILE)
    for name in ("cuba", "lif"):
        assert back[name].op.attributes() == graph[name].op.attributes(), name
        np.testing.assert_array_equal(back[name].op.bias, graph[name].op.bias)
    frames = (np.random.default_rng(1).random((8, 4, 2, 5, 5)) < 0.4).astype(float)
    assert_same_spikes(graph, back, frames, 8)
    assert simulate(back, frames, 8, record=["cuba"]).recorded["cuba"].mean() > 0


def test_a_current_that_decays_without_a_membrane_leak_has_no_nir_form():
    with pytest.raises(UnsupportedNodeError, match="node 'cuba' \\(IntLIF\\): keeps its current \\(Du = 1024\\).*no "
                                                   "form without a membrane time constant"):
        get_backend("nir").check(cuba_graph(1024, 4096))


def test_what_nir_cannot_express_is_rejected_in_one_error():
    model, _ = tiny("sew_resnet18", connect="AND", neuron="LIF")
    traced = trace(model, torch.rand(2, 1, 8, 8))
    soft = Graph("soft")
    soft.add("x", Input((4,), "frames", "spikes"))
    soft.add("fc", Linear(np.ones((3, 4))), ["x"])
    soft.add("lif", LIF(reset="soft"), ["fc"])
    soft.add("readout", Readout(np.ones((2, 3))), ["lif"])
    soft.set_outputs(["readout"])
    with pytest.raises(UnsupportedNodeError) as raised:
        get_backend("nir").check(traced)
    message = str(raised.value)
    assert "SEWLogic" in message and "BatchNorm" in message and "lower it first" in message
    assert message.count("\n  - ") == sum(n.op.kind in ("SEWLogic", "BatchNorm", "MaxPool2d") for n in traced)
    with pytest.raises(UnsupportedNodeError, match="node 'lif' \\(LIF\\): soft reset"):
        get_backend("nir").check(soft)


def test_nir_nodes_without_an_ir_form_are_listed_when_importing():
    shape = np.array([3])
    graph = nir.NIRGraph(
        nodes={"x": nir.Input(input_type=shape),
               "li": nir.LI(tau=np.ones(3), r=np.ones(3), v_leak=np.zeros(3)),
               "slow": nir.CubaLIF(tau_syn=np.full(3, 5 * DT), tau_mem=np.full(3, 2 * DT), r=np.ones(3),
                                   v_leak=np.zeros(3), v_threshold=np.ones(3)),
               "leak": nir.LIF(tau=np.full(3, 2 * DT), r=np.ones(3), v_leak=np.ones(3), v_threshold=np.ones(3)),
               "out": nir.Output(output_type=shape)},
        edges=[("x", "li"), ("li", "slow"), ("slow", "leak"), ("leak", "out")])
    with pytest.raises(UnsupportedNodeError) as raised:
        from_nir(graph)
    message = str(raised.value)
    assert "3 problem(s)" in message
    assert "'li' (LI): a leaky integrator without spikes" in message
    assert "'slow' (CubaLIF): its synaptic current outlasts" in message
    assert "'leak' (LIF): v_leak is not 0" in message


def tiny(arch: str, **overrides):
    config = {**tiny_config(arch), **overrides}
    torch.manual_seed(0)
    return lively(build(arch, **config)).eval(), config


def tiny_checkpoint_file(directory) -> str:
    model, config = tiny("spiking_resnet14")
    path = f"{directory}/spiking.pt"
    checkpoint.save(path, model, {"dataset": "digits", "encoding": "direct", "T": config["T"], "image_size": 8})
    return path


def test_compile_to_nir_and_back_on_the_command_line(tmp_path, capsys):
    """``--target nir`` writes the lowered float graph (``model.nir``) and the integer one (``model.int.nir``): the
    integer file compiles back without quantizing, the float file quantizes to the same integers."""
    exported = tmp_path / "model.nir.out"
    assert main(["compile", tiny_checkpoint_file(tmp_path), "--target", "nir", "-o", str(exported)]) == 0
    graph, lowered, _ = load_artifact(exported)
    images = np.random.default_rng(0).random((3, 1, 8, 8))
    for written, quantized in ((INTEGER_FILE, False), (MODEL_FILE, True)):
        assert nir.read(exported / written, type_check=True).nodes
        imported = tmp_path / f"from_{written}"
        assert main(["compile", str(exported / written), "--target", "numpy", "-o", str(imported)]) == 0
        assert f"wrote {imported}" in capsys.readouterr().out
        back, float_graph, report = load_artifact(imported)
        assert (report["passes"][-1]["pass"] == "quantize" if quantized else report["passes"] == [])
        assert_same_spikes(graph, back, images, 2)
    assert not read(exported / MODEL_FILE).metadata.get("integer")
    assert_same_spikes(lowered, read(exported / MODEL_FILE), images, 2)
    result = get_backend("nir").run(exported, images, 2)
    np.testing.assert_array_equal(result.output, simulate(graph, images, 2).output)


def test_a_float_nir_file_from_another_tool_compiles_like_a_checkpoint(tmp_path, capsys):
    inputs, T, graphs = family_graphs("spiking_resnet")
    foreign = to_nir(graphs["lowered"])
    foreign.metadata = {}
    for node in foreign.nodes.values():
        node.metadata = {}
    nir.write(tmp_path / "foreign.nir", foreign)
    out = tmp_path / "foreign.numpy"
    assert main(["compile", str(tmp_path / "foreign.nir"), "--T", str(T), "--target", "numpy", "-o", str(out)]) == 0
    assert "quantize" in capsys.readouterr().out
    graph, float_graph, _ = load_artifact(out)
    assert graph.metadata["integer"] and float_graph is not None
    assert sum(n.op.kind == "IntLIF" for n in graph) == sum(n.op.kind == "LIF" for n in graphs["lowered"])


def test_a_modified_nir_file_is_one_error_naming_the_node_and_the_file(tmp_path):
    graph = Graph("small")
    graph.add("x", Input((4,), "frames", "spikes"))
    graph.add("fc", Linear(np.ones((3, 4))), ["x"])
    graph.add("lif", LIF(decay=0.5), ["fc"])
    graph.add("readout", Readout(np.ones((2, 3))), ["lif"])
    graph.set_outputs(["readout"])
    exported = to_nir(graph)
    stored = json.loads(exported.nodes["lif"].metadata["snncompile"])
    stored["attributes"]["decay"] = 1.5
    exported.nodes["lif"].metadata["snncompile"] = json.dumps(stored)
    nir.write(tmp_path / MODEL_FILE, exported)
    with pytest.raises(SerializationError, match=r"model\.nir: node 'lif' \(LIF\): .*decay must be in \[0, 1\]"):
        read(tmp_path / MODEL_FILE)
