"""The IR: construction checks that name the node, value kinds, and a serialization that rejects tampering."""

import json

import numpy as np
import pytest
import torch

from conftest import tiny_config
from snncompile.errors import GraphError, SerializationError
from snncompile.frontend import trace
from snncompile.ir import FORMAT_VERSION, Graph, load, save
from snncompile.ir.ops import MLF, Add, Conv2d, Flatten, Input, IntLIF, LIF, Linear, MaxPool2d, SEWLogic
from snncompile.models import build


def small_graph():
    graph = Graph("small")
    graph.add("x", Input((2, 6, 6)))
    graph.add("conv", Conv2d(np.ones((3, 2, 3, 3)), np.zeros(3), 1, 1), ["x"])
    graph.add("mlf", MLF(decay=0.25, level_thresholds=(0.6, 1.6)), ["conv"])
    graph.add("lif", LIF(decay=0.5, threshold=1.0), ["conv"])
    graph.add("sum", Add(), ["mlf", "lif"])
    return graph


def test_value_kinds_follow_the_ops():
    graph = small_graph()
    graph.add("pool", MaxPool2d(2, 2), ["sum"])
    graph.add("flat", Flatten(), ["pool"])
    assert graph["x"].info.kind == "analog"
    assert graph["conv"].info.kind == "analog" and graph["conv"].info.shape == (3, 6, 6)
    assert (graph["mlf"].info.kind, graph["mlf"].info.max_count) == ("counts", 2)
    assert graph["lif"].info.kind == "spikes"
    assert (graph["sum"].info.kind, graph["sum"].info.max_count) == ("counts", 3)
    assert graph["flat"].info.shape == (27,) and graph["flat"].info.max_count == 3
    graph.add("analog_sum", Add(), ["conv", "lif"])
    assert graph["analog_sum"].info.kind == "analog"


@pytest.mark.parametrize("name, op, inputs, message", [
    ("bad_conv", Conv2d(np.ones((3, 5, 3, 3))), ["x"], "node 'bad_conv' \\(Conv2d\\): conv expects 5 input channels"),
    ("bad_linear", Linear(np.ones((4, 10))), ["x"], "node 'bad_linear' \\(Linear\\): linear expects input \\(10,\\)"),
    ("bad_add", Add(), ["x"], "node 'bad_add' \\(Add\\): takes two or more input"),
    ("bad_ref", LIF(), ["nowhere"], "node 'bad_ref' \\(LIF\\): unknown input node\\(s\\) 'nowhere'"),
    ("bad_sew", SEWLogic("AND"), ["mlf", "lif"], "node 'bad_sew' \\(SEWLogic\\): SEW AND needs binary spike inputs"),
    ("conv", LIF(), ["x"], "node 'conv': a node of that name already exists"),
])
def test_construction_errors_name_the_node(name, op, inputs, message):
    with pytest.raises(GraphError, match=message):
        small_graph().add(name, op, inputs)


@pytest.mark.parametrize("make, message", [
    (lambda: LIF(decay=1.5), "decay must be in \\[0, 1\\], got 1.5"),
    (lambda: LIF(reset="bounce"), "reset must be one of"),
    (lambda: MLF(level_thresholds=()), "at least one level"),
    (lambda: IntLIF(threshold=-1, decay_12bit=4096), "threshold must be a non-negative integer"),
    (lambda: IntLIF(threshold=10, decay_12bit=5000), "decay_12bit must be in \\[0, 4096\\]"),
])
def test_an_op_with_a_bad_field_cannot_be_built(make, message):
    with pytest.raises(ValueError, match=message):
        make()


def assert_same_graph(a: Graph, b: Graph):
    assert [n.name for n in a] == [n.name for n in b] and a.outputs == b.outputs and a.metadata == b.metadata
    for x, y in zip(a, b):
        assert type(x.op) is type(y.op) and x.inputs == y.inputs and x.info == y.info
        assert x.op.attributes() == y.op.attributes()
        assert x.op.tensors().keys() == y.op.tensors().keys()
        for key, tensor in x.op.tensors().items():
            assert np.array_equal(tensor, y.op.tensors()[key]) and tensor.dtype == y.op.tensors()[key].dtype


@pytest.mark.parametrize("name", ["mlf_dsresnet14", "sew_7bnet", "tdbn_resnet19"])
def test_traced_graphs_round_trip(tmp_path, name):
    graph = trace(build(name, **tiny_config(name)), torch.rand(1, 1, 8, 8))
    assert_same_graph(graph, load(save(graph, tmp_path / "g")))


def saved(tmp_path):
    graph = small_graph()
    graph.set_outputs(["sum"])
    return save(graph, tmp_path / "g")


def edit_json(directory, change):
    path = directory / "graph.json"
    document = json.loads(path.read_text())
    change(document)
    path.write_text(json.dumps(document))


def test_wrong_version_is_rejected(tmp_path):
    directory = saved(tmp_path)
    edit_json(directory, lambda d: d.update(version=FORMAT_VERSION + 1))
    with pytest.raises(SerializationError, match=f"graph format version {FORMAT_VERSION + 1}.*recompile"):
        load(directory)


def test_tampered_tensor_is_rejected(tmp_path):
    directory = saved(tmp_path)
    with np.load(directory / "tensors.npz") as archive:
        tensors = dict(archive)
    tensors["1.weight"] = tensors["1.weight"] * 2
    np.savez(directory / "tensors.npz", **tensors)
    with pytest.raises(SerializationError, match="node 'conv': tensor 'weight' does not match its checksum"):
        load(directory)


def test_a_stored_field_value_no_op_accepts_is_refused_naming_the_node(tmp_path):
    directory = saved(tmp_path)
    edit_json(directory, lambda d: d["nodes"][3]["attributes"].update(decay=1.5))
    with pytest.raises(SerializationError, match="node 'lif' \\(LIF\\): decay must be in \\[0, 1\\], got 1.5"):
        load(directory)


def test_tampered_attribute_is_rejected(tmp_path):
    directory = saved(tmp_path)
    edit_json(directory, lambda d: d["nodes"][2]["attributes"].update(level_thresholds=[0.6, 1.6, 2.6]))
    with pytest.raises(SerializationError, match="node 'mlf': stored output .* differs"):
        load(directory)


@pytest.mark.parametrize("damage, message", [
    (lambda d: (d / "graph.json").write_text("{not json"), "not valid JSON"),
    (lambda d: (d / "graph.json").write_text('{"hello": 1}'), "not an snncompile graph"),
    (lambda d: (d / "tensors.npz").write_bytes(b"garbage"), "unreadable tensor archive"),
    (lambda d: (d / "tensors.npz").unlink(), "tensors.npz: missing"),
    (lambda d: edit_json(d, lambda doc: doc["nodes"][1].pop("inputs")), "malformed graph document"),
    (lambda d: edit_json(d, lambda doc: doc["nodes"][1].update(op="Teleport")), "unknown op 'Teleport'"),
])
def test_damaged_files_give_one_clear_error(tmp_path, damage, message):
    directory = saved(tmp_path)
    damage(directory)
    with pytest.raises(SerializationError, match=message):
        load(directory)


def test_remove_refuses_nodes_that_are_read():
    graph = small_graph()
    with pytest.raises(GraphError, match="read by \\['sum'\\]"):
        graph.remove("lif")
    graph.remove("sum")
    assert "sum" not in graph and not graph.nx.has_node("sum")
