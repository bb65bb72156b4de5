"""Quantization: trained models keep their accuracy in integers, and the range analysis keeps every value in the
chip's widths (or refuses, naming the node)."""

from dataclasses import replace

import numpy as np
import pytest
import torch

from conftest import TRAINED, family_input, family_model
from snncompile.backends import get_backend
from snncompile.backends.numpy.simulator import simulate
from snncompile.chip import LOIHI2_NETX
from snncompile.compiler import lower_and_quantize
from snncompile.errors import QuantizationRangeError, UnsupportedNodeError
from snncompile.evaluation import evaluate
from snncompile.frontend import trace
from snncompile.integer import LOIHI2
from snncompile.ir import Graph
from snncompile.ir.ops import LIF, Flatten, Input, Linear, Readout
from snncompile.passes import add_identity_synapses
from snncompile.passes.quantize import quantize


@pytest.mark.parametrize("family", sorted(TRAINED))
def test_trained_models_lose_at_most_one_point_in_integers(trained, family):
    model, data, metrics = trained(family)
    float_graph = trace(model, data.test_x[:1])
    compiled = lower_and_quantize(float_graph, bits=8, calibration=data.train_x[:256].numpy().astype(float))
    numpy = get_backend("numpy")
    integer = evaluate(compiled.graph, numpy, data, progress=False, reference=compiled.float_graph)
    floating = evaluate(float_graph, numpy, data, progress=False)
    assert floating.accuracy == pytest.approx(metrics["test_accuracy"])
    assert integer.accuracy >= floating.accuracy - 0.01
    # the per-layer report: every population is compared, and most spikes agree
    populations = [n.name for n in compiled.graph if n.op.kind == "IntLIF"]
    assert set(populations) <= set(integer.agreement)
    assert np.mean([integer.agreement[p]["agreement"] for p in populations]) > 0.85


def counts_to_linear(fan_in: int, max_count_levels: int, weight: float = 0.5) -> Graph:
    """Input frames -> LIF levels summed to counts -> one Linear population with a large fan-in -> readout."""
    graph = Graph("wide")
    graph.add("x", Input((fan_in,), "frames", "spikes"))
    levels = [graph.add(f"level{k}", LIF(decay=0.5, threshold=0.1 + k), ["x"]) for k in range(max_count_levels)]
    source = graph.add("counts", __import__("snncompile.ir.ops", fromlist=["Add"]).Add(), levels) \
        if len(levels) > 1 else levels[0]
    graph.add("fc", Linear(np.full((3, fan_in), weight), np.zeros(3)), [source])
    graph.add("sn", LIF(decay=0.25, threshold=1.0), ["fc"])
    graph.add("flat", Flatten(), ["sn"])
    graph.add("readout", Readout(np.ones((2, 3)), np.zeros(2)), ["flat"])
    graph.set_outputs(["readout"])
    graph.metadata["T"] = 4
    return add_identity_synapses(graph)


def test_range_analysis_rescales_a_population_that_could_overflow():
    graph = counts_to_linear(fan_in=2000, max_count_levels=4)
    quantized = quantize(graph, bits=8)
    report = {g["populations"][0]: g for g in quantized.metadata["passes"]["quantize"]["groups"]}
    assert report["sn"]["rescaled_by"] < 1 and report["sn"]["range_margin"] >= 1
    weight = quantized["fc"].op.weight
    worst = np.abs(weight).sum(axis=1).max() * 4  # four levels: counts up to 4
    assert worst <= LOIHI2.current_max
    assert (quantized["sn"].op.threshold + worst) <= LOIHI2.current_max


def test_every_width_comes_from_the_target_chip():
    graph = counts_to_linear(fan_in=2000, max_count_levels=4)
    narrow = replace(LOIHI2, name="narrow", state_bits=22)
    groups = {}
    for chip in (LOIHI2, narrow):
        quantized = quantize(graph, chip)
        groups[chip.name] = {g["populations"][0]: g for g in quantized.metadata["passes"]["quantize"]["groups"]}
        worst = np.abs(quantized["fc"].op.weight).sum(axis=1).max() * 4
        assert quantized["sn"].op.threshold + worst <= chip.current_max
    assert groups["narrow"]["sn"]["scale"] < groups["loihi2"]["sn"]["scale"]
    with pytest.raises(QuantizationRangeError, match="2 to 8 bits"):
        quantize(graph, LOIHI2_NETX, bits=9)


def test_a_fan_in_too_large_for_the_chip_is_refused_naming_the_node():
    with pytest.raises(QuantizationRangeError, match="'fc' into 'sn'|population 'sn'"):
        quantize(counts_to_linear(fan_in=300_000, max_count_levels=1), bits=8)


def test_unlowered_and_unrepresentable_neurons_are_refused():
    graph = counts_to_linear(fan_in=4, max_count_levels=1)
    soft = Graph("soft")
    for node in graph:
        op = LIF(decay=0.25, threshold=1.0, reset="soft") if node.name == "sn" else node.op
        soft.add(node.name, op, node.inputs)
    soft.set_outputs(["readout"])
    with pytest.raises(UnsupportedNodeError, match="'sn' \\(LIF\\): soft reset"):
        quantize(soft)
    with pytest.raises(QuantizationRangeError, match="2 to 9 bits"):
        quantize(graph, bits=12)


def test_quantized_integers_respect_every_width(trained):
    model, data, _ = trained("sew_resnet")
    graph = lower_and_quantize(trace(model, data.test_x[:1]), bits=8).graph
    low, high = LOIHI2.weight_range
    for node in graph:
        op = node.op
        if node.op.kind in ("Conv2d", "Linear") and node.op.weight.dtype.kind == "i":
            assert low <= op.weight.min() and op.weight.max() <= high
        if op.kind == "IntLIF":
            assert 0 <= op.threshold <= LOIHI2.threshold_max and 1 <= op.decay_12bit <= 4096
            assert op.bias is None or (LOIHI2.bias_range[0] <= op.bias.min() and op.bias.max() <= LOIHI2.bias_range[1])


def test_fewer_bits_give_coarser_weights(trained):
    model, data, _ = trained("mlf_dsresnet")
    graph = trace(model, data.test_x[:1])
    for bits in (4, 8):
        weights = lower_and_quantize(graph, bits=bits).graph["stages.0.0.conv1"].op.weight
        assert np.abs(weights).max() == 2 ** (bits - 1) - 1
    assert torch.is_grad_enabled()


@pytest.mark.parametrize("family", ["mlf_k3", "resnet_snn", "sew_and_lif", "sew_iand_plif", "sew_imagenet_stem",
                                    "7bnet_add_maxpool", "sbp", "tdbn_resnet17_frames"])
def test_every_family_compiles_to_integers_that_track_the_float_graph(family):
    model, config = family_model(family)
    x = family_input(config)
    compiled = lower_and_quantize(trace(model, x), bits=8)
    assert {n.op.kind for n in compiled.graph} <= {"Input", "Conv2d", "Affine", "Quantize", "Linear",
                                                   "SumPool2d", "Add", "Flatten", "IntLIF", "Readout"}
    T = compiled.graph.metadata["T"]
    populations = [n.name for n in compiled.graph if n.op.kind == "IntLIF"]
    integer = simulate(compiled.graph, x.numpy(), T, record=populations)
    floating = simulate(compiled.float_graph, x.numpy(), T, record=populations)
    assert sum(integer.recorded[p].sum() for p in populations) > 0
    agreement = np.mean([(integer.recorded[p] == floating.recorded[p]).mean() for p in populations])
    assert agreement > 0.8


@pytest.mark.parametrize("family", ["mlf_k3", "sew_iand_plif", "7bnet_add_maxpool", "tdbn_resnet17_frames"])
def test_the_fast_exact_simulation_equals_the_reference_arithmetic_spike_for_spike(family):
    model, config = family_model(family)
    x = family_input(config, batch=48)  # enough samples for several threads
    graph = lower_and_quantize(trace(model, x), bits=8).graph
    x = x.numpy()
    T = graph.metadata["T"]
    fast = simulate(graph, x, T, record="all", workers=3)
    reference = simulate(graph, x, T, record="all", mode="dense", dtype=np.float64, workers=1)
    steps = sum(fast.paths[name]["event"] + fast.paths[name]["dense"] for name in fast.paths)
    assert steps == 3 * T * len(fast.paths)  # every slice ran every synapse at every step
    np.testing.assert_array_equal(fast.output, reference.output)
    for name, spikes in reference.recorded.items():
        np.testing.assert_array_equal(fast.recorded[name], spikes, err_msg=name)
        np.testing.assert_array_equal(fast.spike_counts[name], reference.spike_counts[name], err_msg=name)


@pytest.mark.parametrize("decay", [0, 1024, 3000, 4096])
def test_the_float_membrane_kernel_steps_exactly_like_lif_step(decay):
    from snncompile.backends.numpy.kernels import FloatIntMembranes
    from snncompile.integer import lif_step
    from snncompile.ir.ops import IntLIF

    rng = np.random.default_rng(decay)
    op = IntLIF(threshold=900, decay_12bit=decay, bias=rng.integers(-300, 300, 4))
    kernel = FloatIntMembranes(op, (4, 5), batch=6)
    v = np.zeros((6, 4, 5), np.int64)
    for step in range(40):  # currents up to the chip's limit, then past it (where I << 6 wraps around 24 bits)
        limit = LOIHI2.current_max * (1 if step < 30 else 3)
        current = rng.integers(-limit, limit + 1, (6, 4, 5)).astype(np.float32)
        current[rng.random(current.shape) < 0.3] = 0
        fired, v = lif_step(v, current.astype(np.int64), decay, op.bias[:, None], op.threshold)
        np.testing.assert_array_equal(kernel([current[None]])[0], fired, err_msg=f"step {step}")
        np.testing.assert_array_equal(kernel.membrane, v, err_msg=f"step {step}")


def test_a_host_layer_after_flattening_the_analog_input_is_bounded_and_quantized():
    graph = Graph("flat-host")
    graph.add("x", Input((1, 4, 4), "direct", "analog"))
    graph.add("flat", Flatten(), ["x"])
    rng = np.random.default_rng(0)
    graph.add("fc1", Linear(rng.standard_normal((8, 16)), np.zeros(8)), ["flat"])
    graph.add("sn", LIF(decay=0.5, threshold=1.0), ["fc1"])
    graph.add("readout", Readout(rng.standard_normal((3, 8)), np.zeros(3)), ["sn"])
    graph.set_outputs(["readout"])
    graph.metadata["T"] = 4
    quantized = quantize(add_identity_synapses(graph))
    assert [n.op.kind for n in quantized] == ["Input", "Flatten", "Linear", "Quantize", "IntLIF", "Readout"]
    group = next(g for g in quantized.metadata["passes"]["quantize"]["groups"] if "sn" in g["populations"])
    assert group["range_margin"] >= 1  # the flattened input's range reached the host layer's bound
