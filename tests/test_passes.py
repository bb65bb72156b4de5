"""The chip-lowering passes: each one builds the structure it promises and preserves what the graph computes.

Exactness is checked by simulating the graph before and after in float64: every spike or count tensor that exists in
both graphs (every neuron keeps its name) must be identical at every timestep, and the outputs equal to 1e-9.
"""

import copy

import numpy as np
import pytest

from conftest import FAMILIES, TRAINED, family_input, family_model
from snncompile.backends.numpy.simulator import simulate
from snncompile.chip import LOIHI2_NETX
from snncompile.errors import ConfigError, GraphError, UnsupportedNodeError
from snncompile.frontend import trace
from snncompile.ir import Graph, load
from snncompile.ir.ops import (LIF, MLF, Add, Affine, AvgPool2d, BatchNorm, Conv2d, Flatten, Input, Linear, MaxPool2d,
                               Readout, SEWLogic)
from snncompile.ir.serialize import to_dict
from snncompile.passes import (LOWERING_PIPELINE, PassManager, fold_avgpool, fold_batchnorm, fold_input_gain,
                               lower_maxpool, lower_mlf, lower_sew_logic, pipeline_for, remove_dead_nodes, rewrite)

T, B = 3, 4


@pytest.fixture
def rng():
    return np.random.default_rng(0)


def frames(graph: Graph, rng, density=0.4) -> dict:
    """Random inputs for every (frames) Input node: spikes where it takes spikes, else normal values."""
    feeds = {}
    for node in graph.input_nodes:
        shape = (T, B, *node.info.shape)
        feeds[node.name] = ((rng.random(shape) < density).astype(float) if node.info.kind == "spikes"
                            else rng.standard_normal(shape))
    return feeds


def assert_same_computation(original: Graph, lowered: Graph, inputs, steps: int = T):
    """Every event tensor of ``original`` exists in ``lowered`` with identical values at every step; outputs agree."""
    before = simulate(original, inputs, steps, record="all")
    after = simulate(lowered, inputs, steps, record="all")
    missing = sorted(set(before.recorded) - set(after.recorded))
    assert not missing, f"event nodes lost their name: {missing}"
    for name, values in before.recorded.items():
        assert np.array_equal(after.recorded[name], values), f"events differ at {name!r}"
    np.testing.assert_allclose(after.output, before.output, rtol=0, atol=1e-9)
    return before, after


def kinds(graph: Graph) -> dict:
    return {node.name: node.op.kind for node in graph}


def batch_norm(rng, channels: int, gain=1.0, eps_inside_sqrt=True) -> BatchNorm:
    return BatchNorm(rng.normal(0, 0.2, channels), rng.uniform(0.05, 0.5, channels), rng.uniform(0.5, 1.5, channels),
                     rng.normal(0.3, 0.3, channels), 1e-3, eps_inside_sqrt, gain)


# --- the rewriter -------------------------------------------------------------------------------------------------

def test_rewriter_replaces_renames_and_fails_loudly_on_a_broken_rewrite(rng):
    graph = conv_bn_graph(rng, with_bias=False)
    without_bn = rewrite(graph, lambda node: [] if node.name == "bn" else None, renames={"bn": "conv"})
    assert list(kinds(without_bn)) == ["x", "conv", "lif", "flat", "readout"] and without_bn["lif"].inputs == ("conv",)
    assert without_bn.metadata is not graph.metadata and without_bn.outputs == ["readout"]
    with pytest.raises(GraphError, match="node 'lif'.*unknown input node.*'bn'"):
        rewrite(graph, lambda node: [] if node.name == "bn" else None)
    with pytest.raises(GraphError, match=r"node 'readout'.*expects input \(75,\), got \(50,\)"):
        rewrite(graph, lambda node: [("lif", LIF(), ["x"])] if node.name == "lif" else None)  # shapes re-inferred
    assert len(graph) == 6


# --- fold_batchnorm -----------------------------------------------------------------------------------------------

def conv_bn_graph(rng, with_bias: bool, **bn_options) -> Graph:
    graph = Graph("conv-bn")
    graph.add("x", Input((2, 5, 5), "frames", "spikes"))
    graph.add("conv", Conv2d(rng.normal(0, 0.5, (3, 2, 3, 3)), rng.normal(0, 0.1, 3) if with_bias else None, 1, 1),
              ["x"])
    graph.add("bn", batch_norm(rng, 3, **bn_options), ["conv"])
    graph.add("lif", LIF(decay=0.5, threshold=0.5), ["bn"])
    graph.add("flat", Flatten(), ["lif"])
    graph.add("readout", Readout(rng.normal(0, 0.3, (4, 75)), np.zeros(4)), ["flat"])
    graph.set_outputs(["readout"])
    return graph


@pytest.mark.parametrize("with_bias", [True, False])
@pytest.mark.parametrize("eps_inside_sqrt", [True, False])
def test_batchnorm_folds_into_the_conv_before_it(rng, with_bias, eps_inside_sqrt):
    graph = conv_bn_graph(rng, with_bias, gain=0.6, eps_inside_sqrt=eps_inside_sqrt)
    folded = fold_batchnorm(graph)
    assert kinds(folded) == {"x": "Input", "conv": "Conv2d", "lif": "LIF", "flat": "Flatten", "readout": "Readout"}
    assert folded["lif"].inputs == ("conv",)
    conv, bn = graph["conv"].op, graph["bn"].op
    denominator = np.sqrt(bn.var + bn.eps) if eps_inside_sqrt else np.sqrt(bn.var) + bn.eps
    scale = bn.weight * 0.6 / denominator
    bias = conv.bias if with_bias else 0.0
    np.testing.assert_array_equal(folded["conv"].op.weight, conv.weight * scale[:, None, None, None])
    np.testing.assert_array_equal(folded["conv"].op.bias, (bias - bn.mean) * scale + bn.bias)
    assert folded.metadata["passes"]["fold_batchnorm"] == {"folded": {"conv": "bn"}, "affine": []}
    assert_same_computation(graph, folded, frames(graph, rng))


def test_batchnorm_folds_into_a_linear_layer(rng):
    graph = Graph("linear-bn")
    graph.add("x", Input((6,), "frames", "spikes"))
    graph.add("fc", Linear(rng.normal(0, 0.5, (5, 6)), rng.normal(0, 0.1, 5)), ["x"])
    graph.add("bn", batch_norm(rng, 5), ["fc"])
    graph.add("lif", LIF(decay=0.5, threshold=0.3), ["bn"])
    graph.set_outputs(["lif"])
    folded = fold_batchnorm(graph)
    assert kinds(folded) == {"x": "Input", "fc": "Linear", "lif": "LIF"}
    scale = graph["bn"].op.scale()
    np.testing.assert_array_equal(folded["fc"].op.weight, graph["fc"].op.weight * scale[:, None])
    assert_same_computation(graph, folded, frames(graph, rng))


def test_batchnorm_on_an_identity_shortcut_or_the_input_becomes_an_affine_map(rng):
    graph = Graph("shortcut")
    graph.add("image", Input((2, 4, 4), "frames"))
    graph.add("input_bn", batch_norm(rng, 2), ["image"])
    graph.add("conv", Conv2d(rng.normal(0, 0.5, (2, 2, 3, 3)), None, 1, 1), ["input_bn"])
    graph.add("lif", LIF(decay=0.5, threshold=0.5), ["conv"])
    graph.add("shortcut", batch_norm(rng, 2, gain=0.4), ["lif"])
    graph.add("branch", Conv2d(rng.normal(0, 0.5, (2, 2, 3, 3)), None, 1, 1), ["lif"])
    graph.add("branch_bn", batch_norm(rng, 2), ["branch"])
    graph.add("sum", Add(), ["branch_bn", "shortcut"])
    graph.add("out", LIF(decay=0.5, threshold=0.5), ["sum"])
    graph.set_outputs(["out"])
    folded = fold_batchnorm(graph)
    assert kinds(folded) == {"image": "Input", "input_bn": "Affine", "conv": "Conv2d", "lif": "LIF",
                             "shortcut": "Affine", "branch": "Conv2d", "sum": "Add", "out": "LIF"}
    assert folded["sum"].inputs == ("branch", "shortcut")
    bn = graph["shortcut"].op
    np.testing.assert_array_equal(folded["shortcut"].op.scale, bn.scale())
    np.testing.assert_array_equal(folded["shortcut"].op.shift, bn.bias - bn.mean * bn.scale())
    assert folded.metadata["passes"]["fold_batchnorm"]["affine"] == ["input_bn", "shortcut"]
    assert_same_computation(graph, folded, frames(graph, rng))


def test_batchnorm_after_a_conv_read_elsewhere_does_not_fold(rng):
    graph = conv_bn_graph(rng, with_bias=True)
    graph.add("other", LIF(threshold=0.2), ["conv"])
    graph.set_outputs(["readout", "other"])
    folded = fold_batchnorm(graph)
    assert folded["bn"].op.kind == "Affine" and folded["conv"].op is graph["conv"].op
    assert_same_computation(graph, folded, frames(graph, rng))


# --- fold_input_gain ----------------------------------------------------------------------------------------------

def gain_graph(rng) -> Graph:
    """A gain-0.25 neuron reading a conv; a gain-0.5 neuron reading a sum of a conv, an Affine of spikes and raw
    spikes; a gain-2 MLF reading an average pool; a gain-3 neuron reading a sum of spikes (counts)."""
    graph = Graph("gains")
    graph.add("x", Input((2, 4, 4), "frames", "spikes"))
    graph.add("conv", Conv2d(rng.normal(0, 1, (2, 2, 3, 3)), rng.normal(0, 0.1, 2), 1, 1), ["x"])
    graph.add("a", LIF(decay=0.75, input_gain=0.25, threshold=0.3, inclusive=True), ["conv"])
    graph.add("branch", Conv2d(rng.normal(0, 1, (2, 2, 3, 3)), None, 1, 1), ["a"])
    graph.add("scaled", Affine(np.array([0.5, 1.5]), np.array([0.1, -0.1])), ["x"])
    graph.add("sum", Add(), ["branch", "scaled", "x"])
    graph.add("b", LIF(decay=0.5, input_gain=0.5, threshold=0.4), ["sum"])
    graph.add("pool", AvgPool2d(2, 2), ["b"])
    graph.add("c", MLF(decay=0.5, input_gain=2.0, level_thresholds=(0.3, 0.9)), ["pool"])
    graph.add("counts", Add(), ["x", "b"])
    graph.add("d", LIF(decay=0.5, input_gain=3.0, threshold=2.5), ["counts"])
    graph.set_outputs(["c", "d"])
    return graph


def test_input_gain_folds_into_the_synapses_feeding_the_neuron(rng):
    graph = gain_graph(rng)
    folded = fold_input_gain(graph)
    assert all(folded[name].op.input_gain == 1 for name in ("a", "b", "c", "d"))
    np.testing.assert_array_equal(folded["conv"].op.weight, graph["conv"].op.weight * 0.25)
    np.testing.assert_array_equal(folded["conv"].op.bias, graph["conv"].op.bias * 0.25)
    np.testing.assert_array_equal(folded["branch"].op.weight, graph["branch"].op.weight * 0.5)
    np.testing.assert_array_equal(folded["scaled"].op.scale, graph["scaled"].op.scale * 0.5)
    np.testing.assert_array_equal(folded["scaled"].op.shift, graph["scaled"].op.shift * 0.5)
    # raw spikes into the sum, the pool into the MLF and the counts into d get a one-to-one edge of the gain
    assert folded["sum"].inputs == ("branch", "scaled", "sum.input2.gain")
    assert folded["c"].inputs == ("c.input0.gain",) and folded["d"].inputs == ("d.input0.gain",)
    for name, gain in (("sum.input2.gain", 0.5), ("c.input0.gain", 2.0), ("d.input0.gain", 3.0)):
        assert folded[name].op.kind == "Affine"
        np.testing.assert_array_equal(folded[name].op.scale, [gain, gain])
        np.testing.assert_array_equal(folded[name].op.shift, [0.0, 0.0])
    facts = folded.metadata["passes"]["fold_input_gain"]
    assert facts["neurons"] == {"a": 0.25, "b": 0.5, "c": 2.0, "d": 3.0}
    assert facts["scaled"] == ["branch", "conv", "scaled"]
    assert_same_computation(graph, folded, frames(graph, rng))


def test_input_gain_cannot_fold_into_a_synapse_read_elsewhere(rng):
    graph = gain_graph(rng)
    graph.add("spy", LIF(threshold=0.1), ["branch"])
    with pytest.raises(GraphError, match="'branch'"):
        fold_input_gain(graph)


# --- fold_avgpool -------------------------------------------------------------------------------------------------

def pooled_readout_graph(rng, pool: AvgPool2d) -> Graph:
    graph = Graph("pooled")
    graph.add("x", Input((3, 4, 4), "frames", "spikes"))
    graph.add("pool", pool, ["x"])
    graph.add("flatten", Flatten(), ["pool"])
    width = graph["flatten"].info.shape[0]
    graph.add("readout", Readout(rng.normal(0, 1, (5, width)), rng.normal(0, 0.1, 5)), ["flatten"])
    graph.set_outputs(["readout"])
    return graph


def test_average_pool_folds_into_the_readout(rng):
    graph = pooled_readout_graph(rng, AvgPool2d(2, 2))
    folded = fold_avgpool(graph)
    assert kinds(folded) == {"x": "Input", "flatten": "Flatten", "readout": "Readout"}
    assert folded["flatten"].inputs == ("x",) and folded["flatten"].info.shape == (48,)
    weight = graph["readout"].op.weight.reshape(5, 3, 2, 2)
    expected = np.repeat(np.repeat(weight, 2, axis=2), 2, axis=3).reshape(5, 48) / 4
    np.testing.assert_allclose(folded["readout"].op.weight, expected, rtol=0, atol=1e-15)
    np.testing.assert_array_equal(folded["readout"].op.bias, graph["readout"].op.bias)
    assert folded.metadata["passes"]["fold_avgpool"] == {
        "folded": {"readout": {"pool": "pool", "kernel": [2, 2], "stride": [2, 2], "padding": [0, 0]}},
        "into_conv": {}}
    assert_same_computation(graph, folded, frames(graph, rng))


def test_padded_average_pool_folds_exactly(rng):
    graph = pooled_readout_graph(rng, AvgPool2d(3, 2, 1))
    folded = fold_avgpool(graph)
    assert "pool" not in folded
    assert_same_computation(graph, folded, frames(graph, rng))


def test_average_pool_read_elsewhere_stays(rng):
    graph = pooled_readout_graph(rng, AvgPool2d(2, 2))
    graph.add("lif", LIF(threshold=0.1), ["pool"])
    graph.set_outputs(["readout", "lif"])
    assert kinds(fold_avgpool(graph)) == kinds(graph)


# --- lower_mlf ----------------------------------------------------------------------------------------------------

def mlf_graph(rng, thresholds) -> Graph:
    graph = Graph("mlf")
    graph.add("x", Input((2, 3, 3), "frames"))
    graph.add("conv", Conv2d(rng.normal(0, 1, (2, 2, 3, 3)), None, 1, 1), ["x"])
    graph.add("mlf", MLF(decay=0.25, level_thresholds=thresholds), ["conv"])
    graph.add("next", Conv2d(rng.normal(0, 1, (2, 2, 1, 1))), ["mlf"])
    graph.add("lif", LIF(threshold=0.5), ["next"])
    graph.set_outputs(["lif"])
    return graph


def test_mlf_with_three_levels_becomes_three_lif_populations_and_their_sum(rng):
    graph = mlf_graph(rng, (0.6, 1.6, 2.6))
    lowered = lower_mlf(graph)
    levels = ["mlf.level1", "mlf.level2", "mlf.level3"]
    assert [lowered[name].op.threshold for name in levels] == [0.6, 1.6, 2.6]
    assert all(lowered[name].op.kind == "LIF" and lowered[name].inputs == ("conv",) and lowered[name].op.decay == 0.25
               for name in levels)
    assert lowered["mlf"].op.kind == "Add" and lowered["mlf"].inputs == tuple(levels)
    assert lowered["mlf"].info == graph["mlf"].info  # counts <= 3
    assert lowered["next"].inputs == ("mlf",)
    before, _ = assert_same_computation(graph, lowered, frames(graph, rng))
    assert before.recorded["mlf"].max() == 3  # every level fired somewhere


def test_mlf_with_one_level_becomes_one_lif_of_the_same_name(rng):
    lowered = lower_mlf(mlf_graph(rng, (0.6,)))
    assert lowered["mlf"].op.kind == "LIF" and lowered["mlf"].op.threshold == 0.6
    assert "mlf.level1" not in lowered


# --- lower_sew_logic ----------------------------------------------------------------------------------------------

@pytest.mark.parametrize("function, truth", [("AND", [0, 0, 0, 1]), ("IAND", [0, 1, 0, 0])])
def test_sew_logic_becomes_a_threshold_neuron(function, truth):
    graph = Graph("sew")
    graph.add("branch", Input((4,), "frames", "spikes"))
    graph.add("shortcut", Input((4,), "frames", "spikes"))
    graph.add("join", SEWLogic(function), ["branch", "shortcut"])
    graph.set_outputs(["join"])
    lowered = lower_sew_logic(graph)
    neuron = lowered["join"].op
    assert (neuron.kind, neuron.decay, neuron.inclusive) == ("LIF", 0.0, False)
    assert lowered["join"].inputs == ("join.sum",)
    if function == "AND":
        assert lowered["join.sum"].inputs == ("branch", "shortcut") and neuron.threshold == 1.5
    else:
        assert lowered["join.sum"].inputs == ("shortcut", "join.not_branch") and neuron.threshold == 0.5
        np.testing.assert_array_equal(lowered["join.not_branch"].op.scale, -np.ones(4))
    # (branch, shortcut) = (0,0), (0,1), (1,0), (1,1) at every step
    inputs = {"branch": np.tile([0.0, 0, 1, 1], (T, 1, 1)), "shortcut": np.tile([0.0, 1, 0, 1], (T, 1, 1))}
    _, after = assert_same_computation(graph, lowered, inputs)
    assert np.array_equal(after.recorded["join"][:, 0], np.tile(truth, (T, 1)))
    assert lowered.metadata["passes"]["lower_sew_logic"] == {"neurons_added": {"join": 4}}


# --- lower_maxpool ------------------------------------------------------------------------------------------------

def test_max_pool_over_spikes_becomes_an_or_of_each_window(rng):
    graph = Graph("maxpool")
    graph.add("x", Input((2, 5, 5), "frames", "spikes"))
    graph.add("pool", MaxPool2d(3, 2, 1), ["x"])
    graph.set_outputs(["pool"])
    lowered = lower_maxpool(graph)
    assert kinds(lowered) == {"x": "Input", "pool.window": "AvgPool2d", "pool": "LIF"}
    window = lowered["pool.window"].op
    assert (window.kernel, window.stride, window.padding) == ((3, 3), (2, 2), (1, 1))
    assert (lowered["pool"].op.decay, lowered["pool"].op.threshold, lowered["pool"].op.inclusive) == (0.0, 0.0, False)
    assert lowered.metadata["passes"]["lower_maxpool"] == {"neurons_added": {"pool": 2 * 3 * 3}}
    assert_same_computation(graph, lowered, frames(graph, rng, density=0.1))


def test_max_pool_over_counts_is_lowered_level_by_level(rng):
    graph = Graph("maxpool-counts")
    for name in ("a", "b", "c"):
        graph.add(name, Input((2, 4, 4), "frames", "spikes"))
    graph.add("counts", Add(), ["a", "b", "c"])
    graph.add("pool", MaxPool2d(2, 2), ["counts"])
    graph.add("flatten", Flatten(), ["pool"])
    graph.add("readout", Readout(rng.normal(0, 1, (3, 8))), ["flatten"])
    graph.set_outputs(["readout"])
    lowered = lower_maxpool(graph)
    for j in (1, 2, 3):
        level = f"pool.level{j}"
        assert lowered[f"{level}.input"].op.kind == "Affine" and lowered[f"{level}.input"].inputs == ("counts",)
        np.testing.assert_array_equal(lowered[f"{level}.input"].op.scale, [1.0, 1.0])
        assert lowered[f"{level}.test"].op.threshold == j - 0.5 and lowered[f"{level}.test"].op.decay == 0
        assert lowered[f"{level}.window"].inputs == (f"{level}.test",)
        assert lowered[level].op.kind == "LIF" and lowered[level].op.threshold == 0.0
    assert lowered["pool"].op.kind == "Add" and lowered["pool"].inputs == ("pool.level1", "pool.level2", "pool.level3")
    assert lowered["pool"].info == graph["pool"].info  # counts <= 3
    assert lowered.metadata["passes"]["lower_maxpool"] == {"neurons_added": {"pool": 3 * (32 + 8)}}
    before, _ = assert_same_computation(graph, lowered, frames(graph, rng, density=0.3))
    assert set(np.unique(before.recorded["pool"])) == {0, 1, 2, 3}


def test_max_pool_over_analog_values_is_rejected_by_name():
    graph = Graph("analog-max")
    graph.add("x", Input((1, 4, 4), "frames"))
    graph.add("currents.max", MaxPool2d(2, 2), ["x"])
    graph.set_outputs(["currents.max"])
    with pytest.raises(UnsupportedNodeError, match="'currents.max'"):
        lower_maxpool(graph)


# --- remove_dead_nodes --------------------------------------------------------------------------------------------

def test_nodes_no_output_depends_on_are_removed(rng):
    graph = mlf_graph(rng, (0.5,))
    graph.add("unused.conv", Conv2d(np.ones((1, 2, 1, 1))), ["mlf"])
    graph.add("unused.lif", LIF(), ["unused.conv"])
    graph.add("unused.input", Input((3,), "frames"))
    pruned = remove_dead_nodes(graph)
    assert list(kinds(pruned)) == ["x", "conv", "mlf", "next", "lif", "unused.input"]
    assert pruned.metadata["passes"]["remove_dead_nodes"] == {"removed": ["unused.conv", "unused.lif"]}


# --- the whole pipeline on the zoo --------------------------------------------------------------------------------

def zoo_graph(family: str) -> tuple:
    """The traced graph of a tiny float64 instance of ``family`` (T=3), and an input batch for it."""
    model, config = family_model(family)
    x = family_input(config)
    return trace(model, x), x.numpy()


def lower(graph: Graph) -> Graph:
    lowered, _ = PassManager(LOWERING_PIPELINE).run(graph)
    return lowered


def assert_lowering_exercised(lowered: Graph, after):
    """Each lowering that replaced nodes replaced some that emitted events (the test saw it work)."""
    facts = lowered.metadata["passes"]
    for replaced in (facts["lower_mlf"]["levels"], facts["lower_sew_logic"]["neurons_added"],
                     facts["lower_maxpool"]["neurons_added"]):
        assert not replaced or sum(after.spike_counts[name].sum() for name in replaced) > 0


@pytest.mark.parametrize("family", sorted(FAMILIES))
def test_lowering_pipeline_preserves_every_spike_of_the_zoo(family):
    graph, x = zoo_graph(family)
    lowered = lower(graph)
    before, after = assert_same_computation(graph, lowered, x, graph.metadata["T"])
    assert sum(counts.sum() for counts in before.spike_counts.values()) > 0
    assert_lowering_exercised(lowered, after)


@pytest.mark.parametrize("family", sorted(TRAINED))
def test_lowering_pipeline_preserves_every_spike_of_trained_checkpoints(trained, family):
    model, data, _ = trained(family)
    x = data.test_x[:16].double()
    graph = trace(copy.deepcopy(model).double(), x)
    lowered = lower(graph)
    _, after = assert_same_computation(graph, lowered, x.numpy(), graph.metadata["T"])
    assert_lowering_exercised(lowered, after)


@pytest.mark.parametrize("family", sorted(FAMILIES))
def test_after_lowering_every_neuron_is_a_plain_lif(family):
    lowered = lower(zoo_graph(family)[0])
    assert not {"BatchNorm", "MLF", "SEWLogic", "MaxPool2d"} & set(kinds(lowered).values())
    neurons = [node.op for node in lowered if node.op.neuron_count(node.info)]
    assert neurons and all(op.kind == "LIF" and op.input_gain == 1 for op in neurons)


# --- the pass manager ---------------------------------------------------------------------------------------------

@pytest.fixture
def sew_graph():
    return zoo_graph("7bnet_add_maxpool")[0]


def test_pass_manager_reports_each_pass_with_its_time_and_sizes(sew_graph):
    lowered, report = PassManager(LOWERING_PIPELINE).run(sew_graph)
    assert [entry["pass"] for entry in report] == [p.name for p in LOWERING_PIPELINE]
    assert all(entry["seconds"] >= 0 and "dump" not in entry for entry in report)
    sizes = [report[0]["nodes_before"]] + [entry["nodes_after"] for entry in report]
    assert sizes[0] == len(sew_graph) and sizes[-1] == len(lowered)
    assert all(entry["nodes_before"] == size for entry, size in zip(report, sizes))
    assert set(lowered.metadata["passes"]) == {p.name for p in LOWERING_PIPELINE}


def test_pass_manager_dumps_loadable_graphs_after_the_named_passes(sew_graph, tmp_path):
    _, report = PassManager(LOWERING_PIPELINE, tmp_path, ("fold_batchnorm", "lower_maxpool")).run(sew_graph)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["01-fold_batchnorm", "06-lower_maxpool"]
    after_fold = load(tmp_path / "01-fold_batchnorm")
    assert len(after_fold) == report[0]["nodes_after"] and "BatchNorm" not in kinds(after_fold).values()
    assert report[5]["dump"] == str(tmp_path / "06-lower_maxpool")
    assert "MaxPool2d" not in kinds(load(tmp_path / "06-lower_maxpool")).values()

    PassManager(LOWERING_PIPELINE, tmp_path / "all", "all").run(sew_graph)
    assert len(list((tmp_path / "all").iterdir())) == len(LOWERING_PIPELINE)


def test_a_chips_pipeline_ends_with_its_quantizer_and_runs_in_slices(sew_graph, tmp_path):
    pipeline = pipeline_for(LOIHI2_NETX, bits=8)
    assert [p.name for p in pipeline] == [p.name for p in LOWERING_PIPELINE] + ["quantize"]
    manager = PassManager(pipeline, tmp_path, "quantize")
    lowered, lowering_report = manager.run(sew_graph, stop=-1)
    before = copy.deepcopy(to_dict(lowered)[0])
    quantized, quantize_report = manager.run(lowered, start=-1)
    assert to_dict(lowered)[0] == before, "quantize modified its input"
    assert [entry["pass"] for entry in lowering_report + quantize_report] == [p.name for p in pipeline]
    assert quantize_report[0]["dump"] == str(tmp_path / f"{len(pipeline):02d}-quantize")
    record = quantized.metadata["passes"]["quantize"]
    assert quantized.metadata["integer"] and record["clip_ratio"] == 1.0 and record["calibration"] is None


def test_pass_manager_rejects_dumps_it_cannot_make(tmp_path):
    with pytest.raises(ConfigError, match="'fold_everything'"):
        PassManager(LOWERING_PIPELINE, tmp_path, ["fold_everything"])
    with pytest.raises(ConfigError, match="dump directory"):
        PassManager(LOWERING_PIPELINE, dump_after="all")


@pytest.mark.parametrize("family", ["7bnet_add_maxpool", "sew_iand_plif", "mlf_k3", "resnet_snn"])
def test_passes_do_not_modify_their_input_graph(family):
    graph = zoo_graph(family)[0]
    for graph_pass in LOWERING_PIPELINE:
        before = to_dict(graph)[0]  # structure, attributes, metadata and a SHA-256 of every tensor
        result = graph_pass(graph)
        assert result is not graph and to_dict(graph)[0] == before, f"{graph_pass.name} modified its input"
        graph = result
