"""The NumPy simulator computes what each op's docstring says, on both of its paths, and equals PyTorch in float64."""

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from snncompile.backends import BACKENDS, Backend, Result, get_backend
from snncompile.backends.numpy import NumpyBackend, simulate
from snncompile.backends.numpy.kernels import FloatIntMembranes
from snncompile.chip import LOIHI2
from snncompile.errors import ConfigError, UnsupportedNodeError
from snncompile.ir import Graph, TensorInfo
from snncompile.integer import cuba_step
from snncompile.ir.ops import (LIF, MLF, Add, Affine, AvgPool2d, BatchNorm, Conv2d, Flatten, Input, IntLIF, Linear,
                               MaxPool2d, Op, Readout, SEWLogic)
from snncompile.models.neurons import MLF as ZooMLF
from snncompile.models.neurons import STBPLIF, SpikingNeuron
from snncompile.models.norm import ThresholdDependentBatchNorm

T, B = 3, 4
EVENT_KINDS = ("spikes", "counts")


def binary(rng, shape, density=0.3) -> np.ndarray:
    return (rng.random(shape) < density).astype(np.float64)


def source(kind: str, shape: tuple, rng, density=0.3) -> tuple:
    """A graph whose node ``x`` carries ``kind`` values of ``shape`` as frames, and the inputs that feed it.

    Counts are the sum of two spike inputs (values 0..2)."""
    graph = Graph(f"{kind}-source")
    if kind == "counts":
        graph.add("a", Input(shape, "frames", "spikes"))
        graph.add("b", Input(shape, "frames", "spikes"))
        graph.add("x", Add(), ["a", "b"])
        return graph, {"a": binary(rng, (T, B, *shape), density), "b": binary(rng, (T, B, *shape), density)}
    graph.add("x", Input(shape, "frames", kind))
    frames = binary(rng, (T, B, *shape), density) if kind == "spikes" else rng.standard_normal((T, B, *shape))
    return graph, frames


def run_op(op: Op, kind: str, shape: tuple, mode: str = "auto", seed: int = 0, density=0.3) -> tuple:
    """Run ``op`` on ``kind`` frames of ``shape``: its input ``[T, B, ...]``, its output ``[T, B, ...]``, the result."""
    graph, inputs = source(kind, shape, np.random.default_rng(seed), density)
    graph.add("y", op, ["x"])
    graph.set_outputs(["y"])
    result = simulate(graph, inputs, T, record=["x", "y"], mode=mode)
    return result.recorded["x"], result.recorded["y"], result


def torch_per_step(function, x: torch.Tensor) -> torch.Tensor:
    """Apply a torch function to every step of ``x`` ``[T, B, ...]`` (time folded into the batch)."""
    return function(x.flatten(0, 1)).unflatten(0, x.shape[:2])


def per_step(function, x: np.ndarray) -> np.ndarray:
    return torch_per_step(function, torch.from_numpy(x)).numpy()


@pytest.fixture
def rng():
    return np.random.default_rng(1)


# --- synaptic ops: event and dense paths against torch ----------------------------------------------------------

@pytest.mark.parametrize("kind", ["analog", *EVENT_KINDS])
@pytest.mark.parametrize("stride, padding", [(1, 0), (1, 1), (2, 1), ((2, 1), (0, 2))])
def test_conv2d_matches_torch_on_both_paths(rng, kind, stride, padding):
    weight, bias = rng.standard_normal((5, 3, 3, 3)), rng.standard_normal(5)
    op = Conv2d(weight, bias, stride=stride, padding=padding)
    outputs = {}
    for mode in ("event", "dense"):
        x, outputs[mode], _ = run_op(op, kind, (3, 7, 6), mode)
        expected = per_step(lambda t: F.conv2d(t, torch.from_numpy(weight), torch.from_numpy(bias), stride, padding), x)
        np.testing.assert_allclose(outputs[mode], expected, rtol=0, atol=1e-12)
    np.testing.assert_allclose(outputs["event"], outputs["dense"], rtol=0, atol=1e-12)


def test_conv2d_without_bias(rng):
    weight = rng.standard_normal((2, 3, 2, 2))
    for mode in ("event", "dense"):
        x, y, _ = run_op(Conv2d(weight), "spikes", (3, 5, 5), mode)
        np.testing.assert_allclose(y, per_step(lambda t: F.conv2d(t, torch.from_numpy(weight)), x), rtol=0, atol=1e-12)


@pytest.mark.parametrize("op", [
    Conv2d(np.ones((4, 3, 3, 3)), stride=2, padding=1),
    Conv2d(np.ones((2, 3, 5, 3))),
    AvgPool2d(3, 2, 1),
    AvgPool2d(2, 1),
])
def test_connection_matrices_hold_exactly_the_in_bounds_connections(op):
    shape = (3, 9, 8)
    matrix, _ = op.connection_matrix(shape)
    assert matrix.nnz == op.synapse_count((TensorInfo(shape),))


@pytest.mark.parametrize("kind", ["analog", *EVENT_KINDS])
@pytest.mark.parametrize("with_bias", [True, False])
def test_linear_matches_torch_on_both_paths(rng, kind, with_bias):
    weight = rng.standard_normal((6, 20))
    bias = rng.standard_normal(6) if with_bias else None
    torch_bias = None if bias is None else torch.from_numpy(bias)
    outputs = {}
    for mode in ("event", "dense"):
        x, outputs[mode], _ = run_op(Linear(weight, bias), kind, (20,), mode)
        expected = per_step(lambda t: F.linear(t, torch.from_numpy(weight), torch_bias), x)
        np.testing.assert_allclose(outputs[mode], expected, rtol=0, atol=1e-12)
    np.testing.assert_allclose(outputs["event"], outputs["dense"], rtol=0, atol=1e-12)


@pytest.mark.parametrize("kind", EVENT_KINDS)
def test_readout_is_the_time_average_of_its_linear_map(rng, kind):
    weight, bias = rng.standard_normal((4, 12)), rng.standard_normal(4)
    logits = {}
    for mode in ("event", "dense"):
        x, _, result = run_op(Readout(weight, bias), kind, (12,), mode)
        logits[mode] = result.output
        expected = F.linear(torch.from_numpy(x), torch.from_numpy(weight), torch.from_numpy(bias)).mean(0).numpy()
        assert result.output.shape == (B, 4)
        np.testing.assert_allclose(result.output, expected, rtol=0, atol=1e-12)
    np.testing.assert_allclose(logits["event"], logits["dense"], rtol=0, atol=1e-12)


@pytest.mark.parametrize("kind", ["analog", *EVENT_KINDS])
@pytest.mark.parametrize("kernel, stride, padding", [(2, 2, 0), (3, 2, 1), (3, 1, 1)])
def test_avg_pool2d_counts_the_padding_like_torch(kind, kernel, stride, padding):
    outputs = {}
    for mode in ("event", "dense"):
        x, outputs[mode], _ = run_op(AvgPool2d(kernel, stride, padding), kind, (2, 6, 7), mode)
        expected = per_step(lambda t: F.avg_pool2d(t, kernel, stride, padding), x)
        np.testing.assert_allclose(outputs[mode], expected, rtol=0, atol=1e-12)
    np.testing.assert_allclose(outputs["event"], outputs["dense"], rtol=0, atol=1e-12)


@pytest.mark.parametrize("kind", ["analog", *EVENT_KINDS])
@pytest.mark.parametrize("kernel, stride, padding", [(2, 2, 0), (3, 2, 1)])
def test_max_pool2d_never_picks_the_padding(kind, kernel, stride, padding):
    x, y, _ = run_op(MaxPool2d(kernel, stride, padding), kind, (2, 6, 7))
    np.testing.assert_array_equal(y, per_step(lambda t: F.max_pool2d(t, kernel, stride, padding), x))


def test_max_pool_of_negative_analog_values_ignores_zero_padding():
    graph = Graph("negative")
    graph.add("x", Input((1, 2, 2), "direct"))
    graph.add("y", MaxPool2d(3, 1, 1), ["x"])
    graph.set_outputs(["y"])
    result = simulate(graph, -np.arange(1.0, 5.0).reshape(1, 1, 2, 2), 1)
    np.testing.assert_array_equal(result.output, [[[[-1.0, -1.0], [-1.0, -1.0]]]])


def test_flatten_is_row_major_per_sample(rng):
    x, y, _ = run_op(Flatten(), "counts", (2, 3, 4))
    np.testing.assert_array_equal(y, x.reshape(T, B, -1))


# --- per-channel maps -------------------------------------------------------------------------------------------

def batch_norm_op(rng, channels: int, **options) -> BatchNorm:
    return BatchNorm(mean=rng.standard_normal(channels), var=rng.random(channels) + 0.1,
                     weight=rng.standard_normal(channels), bias=rng.standard_normal(channels), **options)


@pytest.mark.parametrize("shape", [(3, 4, 5), (3,)])
def test_batch_norm_equals_torch_inference(rng, shape):
    op = batch_norm_op(rng, 3, eps=1e-3)
    x, y, _ = run_op(op, "analog", shape)
    tensors = [torch.from_numpy(t) for t in (op.mean, op.var, op.weight, op.bias)]
    expected = per_step(lambda t: F.batch_norm(t, *tensors, training=False, eps=1e-3), x)
    np.testing.assert_allclose(y, expected, rtol=0, atol=1e-12)


@pytest.mark.parametrize("eps_inside_sqrt", [True, False])
def test_batch_norm_equals_the_zoo_tdbn(rng, eps_inside_sqrt):
    op = batch_norm_op(rng, 3, eps_inside_sqrt=eps_inside_sqrt, gain=0.5)
    norm = ThresholdDependentBatchNorm(3, alpha=0.5, eps_inside_sqrt=eps_inside_sqrt).double().eval()
    with torch.no_grad():
        for name, value in (("running_mean", op.mean), ("running_var", op.var), ("weight", op.weight),
                            ("bias", op.bias)):
            getattr(norm, name).copy_(torch.from_numpy(value))
    x, y, _ = run_op(op, "spikes", (3, 4, 4))
    with torch.no_grad():
        np.testing.assert_array_equal(y, norm(torch.from_numpy(x)).numpy())


def test_affine_scales_and_shifts_each_channel(rng):
    scale, shift = rng.standard_normal(3), rng.standard_normal(3)
    x, y, _ = run_op(Affine(scale, shift), "analog", (3, 2, 2))
    np.testing.assert_array_equal(y, x * scale[:, None, None] + shift[:, None, None])


# --- joins ------------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("function", ["AND", "IAND"])
def test_sew_logic(rng, function):
    graph = Graph("sew")
    graph.add("branch", Input((6,), "frames", "spikes"))
    graph.add("shortcut", Input((6,), "frames", "spikes"))
    graph.add("join", SEWLogic(function), ["branch", "shortcut"])
    graph.set_outputs(["join"])
    branch, shortcut = binary(rng, (T, B, 6), 0.5), binary(rng, (T, B, 6), 0.5)
    result = simulate(graph, {"branch": branch, "shortcut": shortcut}, T, record=["join"])
    expected = branch * shortcut if function == "AND" else (1 - branch) * shortcut
    np.testing.assert_array_equal(result.recorded["join"], expected)


def test_add_of_events_counts_and_add_with_analog_is_analog(rng):
    graph = Graph("adds")
    graph.add("s1", Input((5,), "frames", "spikes"))
    graph.add("s2", Input((5,), "frames", "spikes"))
    graph.add("analog", Input((5,), "frames"))
    graph.add("count", Add(), ["s1", "s2", "s1"])
    graph.add("mixed", Add(), ["s1", "analog"])
    graph.set_outputs(["count", "mixed"])
    assert graph["count"].info == TensorInfo((5,), "counts", 3) and graph["mixed"].info.kind == "analog"
    inputs = {"s1": binary(rng, (T, B, 5)), "s2": binary(rng, (T, B, 5)), "analog": rng.standard_normal((T, B, 5))}
    result = simulate(graph, inputs, T, record=["count", "mixed"])
    np.testing.assert_array_equal(result.recorded["count"], 2 * inputs["s1"] + inputs["s2"])
    np.testing.assert_array_equal(result.recorded["mixed"], inputs["s1"] + inputs["analog"])
    assert "count" in result.spike_counts and "mixed" not in result.spike_counts


# --- neurons ----------------------------------------------------------------------------------------------------

def neuron_loop(x: np.ndarray, thresholds, decay, gain, inclusive, reset, v_reset) -> np.ndarray:
    """The LIF update of one neuron at a time, one level at a time: the output counts the levels that fired."""
    out = np.zeros_like(x)
    for position in np.ndindex(x.shape[1:]):
        for threshold in thresholds:
            v = 0.0
            for t in range(x.shape[0]):
                v_pre = decay * v + gain * x[(t, *position)]
                fired = v_pre >= threshold if inclusive else v_pre > threshold
                if fired:
                    v = v_reset if reset == "hard" else v_pre - threshold
                else:
                    v = v_pre
                out[(t, *position)] += fired
    return out


NEURONS = [
    LIF(threshold=0.5, decay=0.25),                                                        # STBP / tdBN
    LIF(threshold=1.0, decay=1.0, inclusive=True),                                         # IFNode
    LIF(threshold=1.0, decay=0.5, input_gain=0.5, inclusive=True, reset="soft"),           # LIFNode, v_reset=None
    LIF(threshold=0.75, decay=0.9, input_gain=0.3, reset="hard", v_reset=-0.25),
    MLF(level_thresholds=(0.6, 1.6, 2.6), decay=0.25),                                     # MLF unit, K=3
    MLF(level_thresholds=(0.5, 1.0), decay=0.75, inclusive=True, reset="soft"),
]


@pytest.mark.parametrize("neuron", NEURONS, ids=lambda n: f"{n.kind}-{n.reset}-{'ge' if n.inclusive else 'gt'}")
def test_neurons_follow_the_lif_update_exactly(neuron):
    rng = np.random.default_rng(2)
    graph = Graph("neurons")
    graph.add("x", Input((3, 4), "frames"))
    graph.add("y", neuron, ["x"])
    graph.set_outputs(["y"])
    steps = 12
    frames = rng.integers(-2, 7, size=(steps, B, 3, 4)) * 0.25  # multiples of 1/4: membranes land on thresholds
    result = simulate(graph, frames, steps, record=["y"])
    spikes = result.recorded["y"]
    expected = neuron_loop(frames, neuron.thresholds, neuron.decay, neuron.input_gain, neuron.inclusive,
                           neuron.reset, neuron.v_reset)
    np.testing.assert_array_equal(spikes, expected)
    zoo = SpikingNeuron(neuron.thresholds, neuron.decay, neuron.input_gain, inclusive=neuron.inclusive,
                        reset=neuron.reset, v_reset=neuron.v_reset)
    np.testing.assert_array_equal(spikes, zoo(torch.from_numpy(frames)).numpy())
    assert 0 < spikes.mean() and spikes.max() <= neuron.levels
    np.testing.assert_array_equal(result.spike_counts["y"], spikes.reshape(steps, B, -1).sum(-1))


def test_membranes_equal_the_zoo_bit_for_bit_on_real_valued_input():
    frames = np.random.default_rng(3).standard_normal((20, B, 50)) * 0.7
    for neuron in NEURONS:
        graph = Graph("bits")
        graph.add("x", Input((50,), "frames"))
        graph.add("y", neuron, ["x"])
        graph.set_outputs(["y"])
        zoo = SpikingNeuron(neuron.thresholds, neuron.decay, neuron.input_gain, inclusive=neuron.inclusive,
                            reset=neuron.reset, v_reset=neuron.v_reset)
        np.testing.assert_array_equal(simulate(graph, frames, 20, record=["y"]).recorded["y"],
                                      zoo(torch.from_numpy(frames)).numpy())


# --- a whole network against PyTorch ----------------------------------------------------------------------------

def test_small_network_equals_its_pytorch_counterpart():
    """Encoding conv, BN, MLF, conv (event path), LIF, residual sum, pooling, readout — in one graph."""
    rng = np.random.default_rng(4)
    w1, w2, w_out, b_out = (rng.standard_normal(s) for s in ((4, 1, 3, 3), (4, 4, 3, 3), (10, 64), (10,)))
    bn = batch_norm_op(rng, 4)
    graph = Graph("net")
    graph.add("image", Input((1, 8, 8), "direct"))
    graph.add("conv1", Conv2d(w1, padding=1), ["image"])
    graph.add("bn1", bn, ["conv1"])
    graph.add("mlf1", MLF(level_thresholds=(0.6, 1.6, 2.6), decay=0.25), ["bn1"])
    graph.add("conv2", Conv2d(w2 * 0.3, padding=1), ["mlf1"])
    graph.add("lif2", LIF(threshold=0.5, decay=0.25), ["conv2"])
    graph.add("sum", Add(), ["lif2", "mlf1"])
    graph.add("pool", AvgPool2d(2, 2), ["sum"])
    graph.add("flat", Flatten(), ["pool"])
    graph.add("readout", Readout(w_out, b_out), ["flat"])
    graph.set_outputs(["readout"])
    image = rng.random((B, 1, 8, 8))
    result = simulate(graph, image, 4, record="all", mode="event")

    x = torch.from_numpy(image).unsqueeze(0).expand(4, *image.shape)
    statistics = [torch.from_numpy(v) for v in (bn.mean, bn.var, bn.weight, bn.bias)]
    h = torch_per_step(lambda t: F.conv2d(t, torch.from_numpy(w1), padding=1), x)
    h = torch_per_step(lambda t: F.batch_norm(t, *statistics, training=False, eps=bn.eps), h)
    mlf = ZooMLF(levels=3, vth1=0.6, spacing=1.0, decay=0.25)(h)
    lif = STBPLIF(0.5, 0.25)(torch_per_step(lambda t: F.conv2d(t, torch.from_numpy(w2 * 0.3), padding=1), mlf))
    pooled = torch_per_step(lambda t: F.avg_pool2d(t, 2, 2), lif + mlf).flatten(2)
    logits = F.linear(pooled, torch.from_numpy(w_out), torch.from_numpy(b_out)).mean(0)

    np.testing.assert_array_equal(result.recorded["mlf1"], mlf.numpy())
    np.testing.assert_array_equal(result.recorded["lif2"], lif.numpy())
    np.testing.assert_allclose(result.output, logits.numpy(), rtol=0, atol=1e-12)
    assert "conv1" not in result.paths  # reads the direct-encoded image only: computed once, at the first step
    assert result.paths["conv2"] == {"event": 4, "dense": 0}


# --- inputs, records, counts, paths -----------------------------------------------------------------------------

def conv_lif_graph(encoding: str) -> Graph:
    rng = np.random.default_rng(5)
    graph = Graph(encoding)
    graph.add("image", Input((2, 5, 5), encoding))
    graph.add("conv", Conv2d(rng.standard_normal((3, 2, 3, 3)), rng.standard_normal(3), padding=1), ["image"])
    graph.add("lif", LIF(threshold=0.5, decay=0.5), ["conv"])
    graph.set_outputs(["lif"])
    return graph


def test_direct_input_equals_the_same_frames_at_every_step(rng):
    image = rng.standard_normal((B, 2, 5, 5))
    direct = simulate(conv_lif_graph("direct"), image, 5, record=["lif"])
    frames = simulate(conv_lif_graph("frames"), np.broadcast_to(image, (5, *image.shape)), 5, record=["lif"])
    np.testing.assert_array_equal(direct.recorded["lif"], frames.recorded["lif"])
    np.testing.assert_array_equal(direct.output, frames.recorded["lif"].mean(0))


@pytest.mark.parametrize("encoding, shape, expected", [
    ("direct", (B, 2, 5, 4), "[B, 2, 5, 5]"),
    ("direct", (2, 5, 5), "[B, 2, 5, 5]"),
    ("frames", (B, 2, 5, 5), "[T=3, B, 2, 5, 5]"),
    ("frames", (4, B, 2, 5, 5), "[T=3, B, 2, 5, 5]"),
])
def test_a_wrong_input_shape_names_the_node_and_the_expected_shape(encoding, shape, expected):
    with pytest.raises(ConfigError, match=r"input node 'image' \(" + encoding + r" encoding\) expects an array of "
                                          r"shape " + expected.replace("[", r"\[").replace("]", r"\]")):
        simulate(conv_lif_graph(encoding), np.zeros(shape), T)


def test_input_errors_name_what_is_wrong(rng):
    graph, inputs = source("counts", (4,), rng)
    graph.set_outputs(["x"])
    with pytest.raises(ConfigError, match=r"2 inputs \(a, b\); pass a dict"):
        simulate(graph, inputs["a"], T)
    with pytest.raises(ConfigError, match=r"takes inputs \['a', 'b'\], got arrays for \['a'\]"):
        simulate(graph, {"a": inputs["a"]}, T)
    with pytest.raises(ConfigError, match="values other than 0 and 1"):
        simulate(graph, {"a": inputs["a"] * 2, "b": inputs["b"]}, T)
    with pytest.raises(ConfigError, match="batch size"):
        simulate(graph, {"a": inputs["a"], "b": inputs["b"][:, :2]}, T)
    with pytest.raises(ConfigError, match="cannot record 'nope'"):
        simulate(graph, inputs, T, record=["nope"])
    with pytest.raises(ConfigError, match="mode"):
        simulate(graph, inputs, T, mode="fast")
    with pytest.raises(ConfigError, match="T must be"):
        simulate(graph, inputs, 0)


def test_spike_counts_are_the_sums_of_the_recorded_outputs(rng):
    graph = conv_lif_graph("direct")
    graph.add("mlf", MLF(level_thresholds=(0.2, 0.7)), ["conv"])
    graph.add("sum", Add(), ["lif", "mlf"])
    result = simulate(graph, rng.standard_normal((B, 2, 5, 5)), 6, record="all")
    assert set(result.recorded) == set(result.spike_counts) == {"lif", "mlf", "sum"}
    for name, counts in result.spike_counts.items():
        assert counts.dtype == np.int64 and counts.shape == (6, B)
        np.testing.assert_array_equal(counts, result.recorded[name].reshape(6, B, -1).sum(-1))
    assert result.spike_counts["sum"].sum() > 0
    np.testing.assert_array_equal(result.spike_counts["sum"], result.spike_counts["lif"] + result.spike_counts["mlf"])


@pytest.mark.parametrize("density, path", [(0.005, "event"), (0.6, "dense")])
def test_auto_mode_takes_the_event_path_at_low_activity_and_dense_at_high(density, path):
    rng = np.random.default_rng(6)
    _, _, result = run_op(Conv2d(rng.standard_normal((16, 16, 3, 3)), padding=1), "spikes", (16, 16, 16), "auto",
                          density=density)
    assert result.paths == {"y": {path: T, ({"event", "dense"} - {path}).pop(): 0}}


def test_float32_simulation_stays_close_to_float64(rng):
    image = rng.standard_normal((B, 2, 5, 5))
    graph = conv_lif_graph("direct")
    single, double = (simulate(graph, image, 4, record=["conv"], dtype=dtype) for dtype in (np.float32, np.float64))
    assert single.recorded["conv"].dtype == np.float32
    np.testing.assert_allclose(single.recorded["conv"], double.recorded["conv"], rtol=1e-5, atol=1e-5)


# --- integer CUBA neurons: the current decays too ------------------------------------------------------------------

CURRENT_DECAYS = [(4096, 1), (1024, 2048), (3000, 4000), (1, 4095)]  # (D, Du)


def cuba_graph(current_decay: int, decay: int, rng, weight_max: int = 20_000) -> Graph:
    """Spikes -> Linear -> IntLIF (keeping ``current_decay`` of its current) -> Readout: summed currents beyond the
    chip's ``current_max`` at some steps (16 inputs of up to 20,000), per-channel biases."""
    graph = Graph("cuba")
    graph.add("x", Input((16,), "frames", "spikes"))
    graph.add("fc", Linear(rng.integers(-weight_max, weight_max, (24, 16)).astype(np.int32)), ["x"])
    graph.add("lif", IntLIF(threshold=60_000, decay_12bit=decay, bias=rng.integers(-4096, 4096, 24),
                            current_decay_12bit=current_decay), ["fc"])
    graph.add("readout", Readout(rng.integers(-255, 256, (3, 24)).astype(np.int32), output_scale=7.0), ["lif"])
    graph.set_outputs(["readout"])
    graph.metadata["integer"] = True
    return graph


def cuba_spikes(graph: Graph, frames: np.ndarray) -> np.ndarray:
    """The spikes of ``graph``'s population ``lif`` at every step, by :func:`snncompile.integer.cuba_step`."""
    op, weight = graph["lif"].op, graph["fc"].op.weight
    u = v = np.zeros((frames.shape[1], weight.shape[0]), np.int64)
    spikes = []
    for step in frames:
        fired, u, v = cuba_step(u, v, step.astype(np.int64) @ weight.T.astype(np.int64), op.current_decay_12bit,
                                op.decay_12bit, op.bias, op.threshold)
        spikes.append(fired)
    return np.array(spikes, np.float64)


@pytest.mark.parametrize("decay, current_decay", CURRENT_DECAYS)
def test_the_fast_integer_kernel_keeps_its_current_exactly_like_cuba_step(decay, current_decay):
    """Currents and membranes after every step, with inputs up to the chip's limit that pile up until the current
    wraps at 24 bits, then inputs past the limit (the step ``cuba_step`` itself runs)."""
    rng = np.random.default_rng(current_decay)
    op = IntLIF(threshold=900, decay_12bit=decay, bias=rng.integers(-300, 300, 4), current_decay_12bit=current_decay)
    kernel = FloatIntMembranes(op, (4, 5), batch=6)
    u = v = np.zeros((6, 4, 5), np.int64)
    wrapped = 0
    for step in range(40):
        limit = LOIHI2.current_max * (1 if step < 30 else 3)
        current = rng.integers(-limit // 4, limit + 1, (6, 4, 5)).astype(np.float32)  # mostly positive: u grows
        current[rng.random(current.shape) < 0.3] = 0
        kept = np.sign(u) * ((np.abs(u) * current_decay) >> 12)
        fired, u, v = cuba_step(u, v, current.astype(np.int64), current_decay, decay, op.bias[:, None], op.threshold)
        wrapped += np.count_nonzero(u != kept + (current.astype(np.int64) << 6))
        np.testing.assert_array_equal(kernel([current[None]])[0], fired, err_msg=f"step {step}")
        np.testing.assert_array_equal(kernel.current, u, err_msg=f"step {step}")
        np.testing.assert_array_equal(kernel.membrane, v, err_msg=f"step {step}")
    assert wrapped > 0


@pytest.mark.parametrize("decay, current_decay", CURRENT_DECAYS)
def test_an_integer_graph_whose_current_decays_simulates_cuba_step(decay, current_decay):
    """Both arithmetics of the simulator (the fast exact one and the int64 reference) emit ``cuba_step``'s spikes."""
    rng = np.random.default_rng(decay)
    graph = cuba_graph(current_decay, decay, rng)
    frames = (rng.random((10, 8, 16)) < 0.4).astype(float)
    expected = cuba_spikes(graph, frames)
    assert 0 < expected.mean() < 1
    for dtype in (None, np.float64):
        np.testing.assert_array_equal(simulate(graph, frames, 10, record=["lif"], dtype=dtype).recorded["lif"],
                                      expected, err_msg=f"dtype {dtype}")


# --- the backend protocol ---------------------------------------------------------------------------------------

def test_numpy_is_registered_and_unknown_names_list_the_registered_ones():
    assert isinstance(get_backend("numpy"), NumpyBackend) and isinstance(get_backend("numpy"), Backend)
    assert BACKENDS["numpy"] is NumpyBackend
    with pytest.raises(ConfigError, match=r"unknown backend 'loihi3'; registered backends: .*numpy"):
        get_backend("loihi3")


def test_emitted_directory_runs_like_the_graph(tmp_path, rng):
    backend, graph = get_backend("numpy"), conv_lif_graph("direct")
    image = rng.standard_normal((B, 2, 5, 5))
    artifact = backend.emit(graph, tmp_path / "out")
    assert (artifact / "graph.json").is_file()
    from_disk, in_memory = backend.run(artifact, image, 3), backend.run(graph, image, 3, mode="dense")
    assert isinstance(from_disk, Result) and from_disk.seconds > 0
    np.testing.assert_array_equal(from_disk.output, in_memory.output)


class Teleport(Op, register=False):
    """An op no backend knows."""

    def infer(self, inputs):
        return inputs[0]


def test_every_unsupported_node_is_listed_at_once(rng, tmp_path):
    graph = Graph("bad")
    graph.add("x", Input((4,), "frames", "spikes"))
    graph.add("jump", Teleport(), ["x"])
    graph.add("readout", Readout(rng.standard_normal((3, 4))), ["jump"])
    graph.add("after", LIF(), ["readout"])
    graph.add("again", Teleport(), ["after"])
    graph.set_outputs(["again"])
    backend = get_backend("numpy")
    problems = backend.unsupported(graph)
    assert len(problems) == 3
    assert "'jump' (Teleport)" in problems[0] and "'again' (Teleport)" in problems[2]
    assert "'readout' (Readout): read by 'after'" in problems[1]
    for attempt in (lambda: backend.check(graph), lambda: simulate(graph, np.zeros((T, B, 4)), T),
                    lambda: backend.emit(graph, tmp_path)):
        with pytest.raises(UnsupportedNodeError, match=r"(?s)3 node\(s\) not supported by backend 'numpy'.*jump.*"
                                                       r"readout.*again"):
            attempt()
    assert backend.unsupported(conv_lif_graph("direct")) == []


def test_a_batch_beyond_its_memory_runs_in_chunks_with_the_same_result(monkeypatch):
    """A node's output holds every step, so a batch whose activations would pass ``CHUNK_BYTES`` runs in consecutive
    chunks: outputs, spike counts per step and recordings equal one run of the whole batch."""
    from conftest import lively, tiny_config
    from snncompile.backends.numpy import simulator
    from snncompile.compiler import lower_and_quantize
    from snncompile.frontend import trace
    from snncompile.models import build

    model = lively(build("sew_resnet18", **tiny_config("sew_resnet18"))).eval()
    graph = lower_and_quantize(trace(model, torch.rand(1, 1, 8, 8))).graph
    x = np.random.default_rng(2).random((7, 1, 8, 8))
    whole = simulate(graph, x, 3, record="all")
    sample_bytes = simulator.LIVE_OUTPUTS * max(node.info.size for node in graph) * 3 * 8
    monkeypatch.setattr(simulator, "CHUNK_BYTES", 3 * sample_bytes)  # at most three samples a chunk: 2, 2 and 3
    chunks = []
    original = simulator.run_slice
    monkeypatch.setattr(simulator, "run_slice", lambda graph, feeds, **kw: chunks.append(
        next(iter(feeds.values())).shape[1]) or original(graph, feeds, **kw))
    chunked = simulate(graph, x, 3, record="all")
    assert chunks == [2, 2, 3]
    np.testing.assert_array_equal(chunked.output, whole.output)
    assert chunked.paths.keys() == whole.paths.keys()  # each chunk chose a path for each of its steps
    assert all(sum(steps.values()) == 3 * 3 for steps in chunked.paths.values())
    for name, counts in whole.spike_counts.items():
        np.testing.assert_array_equal(chunked.spike_counts[name], counts, err_msg=name)
        np.testing.assert_array_equal(chunked.recorded[name], whole.recorded[name], err_msg=name)
