"""The compiled event kernels compute exactly what the dense path computes, cost nothing on silent inputs, and are
prepared once per graph.

Randomized (Hypothesis, derandomized): layer shapes, strides, padding, batch, density and count levels. In an
integer graph (integer weights, spikes or counts) the event path must equal the dense path bit for bit, and both
must equal an int64 reference; the fused neuron update must equal :func:`snncompile.integer.cuba_step` after every
step.
"""

import tracemalloc
from types import SimpleNamespace

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st

from snncompile.backends.numpy import kernels, prepare, simulate
from snncompile.backends.numpy.kernels import FloatIntMembranes, kernel_for
from snncompile.chip import LOIHI2
from snncompile.integer import cuba_step
from snncompile.ir import Graph, TensorInfo
from snncompile.ir.ops import LIF, Affine, AvgPool2d, Conv2d, Flatten, Input, IntLIF, Linear, Readout, SumPool2d

RANDOMIZED = settings(max_examples=25, deadline=None, derandomize=True, database=None)


def events(rng, shape: tuple, density: float, max_count: int) -> np.ndarray:
    """Spikes (``max_count`` 1) or counts ``0..max_count`` at ``density`` nonzero, float32 as the simulator has them."""
    values = rng.integers(1, max_count + 1, shape) * (rng.random(shape) < density)
    return values.astype(np.float32)


def both_paths(op, x: np.ndarray, max_count: int) -> tuple:
    """``op`` on ``x`` ``[B, *shape]`` by an integer graph's exact kernels: (event path, dense path, the kernels)."""
    in_info = TensorInfo(x.shape[1:], "spikes" if max_count == 1 else "counts", None if max_count == 1 else max_count)
    node = SimpleNamespace(op=op, info=op.infer((in_info,)))
    kernels = [kernel_for(node, (in_info,), x.shape[0], mode, np.float64, exact=True) for mode in ("event", "dense")]
    return kernels[0]([x]).copy(), kernels[1]([x]).copy(), kernels


def integer_weights(rng, shape: tuple, largest: int = 40) -> np.ndarray:
    return rng.integers(-largest, largest + 1, shape).astype(np.float64)


CONV = st.fixed_dictionaries({
    "batch": st.integers(1, 5), "c_in": st.integers(1, 6), "c_out": st.integers(1, 9),
    "size": st.tuples(st.integers(3, 11), st.integers(3, 11)),
    "kernel": st.tuples(st.integers(1, 4), st.integers(1, 4)),
    "stride": st.tuples(st.integers(1, 3), st.integers(1, 3)), "pad": st.tuples(st.integers(0, 2), st.integers(0, 2)),
    "density": st.sampled_from([0.0, 0.02, 0.1, 0.3, 1.0]), "max_count": st.integers(1, 3), "bias": st.booleans(),
    "seed": st.integers(0, 2**16)})


@RANDOMIZED
@given(CONV)
def test_the_conv_event_kernel_equals_the_dense_path_and_int64_bit_for_bit(case):
    rng = np.random.default_rng(case["seed"])
    (kh, kw), (ph, pw), (h, w) = case["kernel"], case["pad"], case["size"]
    kh, kw = min(kh, h + 2 * ph), min(kw, w + 2 * pw)
    weight = integer_weights(rng, (case["c_out"], case["c_in"], kh, kw))
    bias = integer_weights(rng, (case["c_out"],), 500) if case["bias"] else None
    op = Conv2d(weight, bias, stride=case["stride"], padding=case["pad"])
    x = events(rng, (case["batch"], case["c_in"], h, w), case["density"], case["max_count"])
    event, dense, (kernel, _) = both_paths(op, x, case["max_count"])
    assert kernel.prepared.dtype == np.float32  # the exact float32 path
    reference = F.conv2d(torch.from_numpy(x.astype(np.int64)), torch.from_numpy(weight.astype(np.int64)),
                         None if bias is None else torch.from_numpy(bias.astype(np.int64)), case["stride"],
                         case["pad"]).numpy()
    np.testing.assert_array_equal(event, reference)
    np.testing.assert_array_equal(dense, reference)


LINEAR = st.fixed_dictionaries({
    "batch": st.integers(1, 6), "n_in": st.integers(1, 70), "n_out": st.integers(1, 40), "readout": st.booleans(),
    "density": st.sampled_from([0.0, 0.05, 0.3, 1.0]), "max_count": st.integers(1, 4), "bias": st.booleans(),
    "seed": st.integers(0, 2**16)})


@RANDOMIZED
@given(LINEAR)
def test_the_linear_event_kernel_equals_the_dense_path_and_int64_bit_for_bit(case):
    rng = np.random.default_rng(case["seed"])
    weight = integer_weights(rng, (case["n_out"], case["n_in"]))
    bias = integer_weights(rng, (case["n_out"],), 500) if case["bias"] else None
    op = (Readout if case["readout"] else Linear)(weight, bias)
    x = events(rng, (case["batch"], case["n_in"]), case["density"], case["max_count"])
    event, dense, _ = both_paths(op, x, case["max_count"])
    reference = x.astype(np.int64) @ weight.T.astype(np.int64) + (0 if bias is None else bias.astype(np.int64))
    np.testing.assert_array_equal(event, reference)
    np.testing.assert_array_equal(dense, reference)


POOL = st.fixed_dictionaries({
    "batch": st.integers(1, 5), "channels": st.integers(1, 7),
    "size": st.tuples(st.integers(2, 12), st.integers(2, 12)),
    "kernel": st.integers(1, 3), "stride": st.integers(1, 3), "pad": st.integers(0, 1), "weight": st.integers(-9, 9),
    "average": st.booleans(), "density": st.sampled_from([0.0, 0.05, 0.3, 1.0]), "max_count": st.integers(1, 3),
    "seed": st.integers(0, 2**16)})


@RANDOMIZED
@given(POOL)
def test_the_pool_event_kernel_equals_the_dense_path_bit_for_bit(case):
    """Sum pools (an integer graph's) equal int64; average pools (a float graph's, float64) equal the dense path bit for
    bit too: both divide the same exact integer sum once."""
    rng = np.random.default_rng(case["seed"])
    kernel, pad = max(case["kernel"], 2 * case["pad"]), case["pad"]
    h, w = (max(s, kernel - 2 * pad) for s in case["size"])
    x = events(rng, (case["batch"], case["channels"], h, w), case["density"], case["max_count"])
    if case["average"]:  # a float graph's pool, computed in float64
        op, exact, x = AvgPool2d(kernel, case["stride"], pad), False, x.astype(np.float64)
    else:
        op, exact = SumPool2d(kernel, case["stride"], pad, weight=case["weight"]), True
    in_info = TensorInfo(x.shape[1:], "spikes" if case["max_count"] == 1 else "counts",
                         None if case["max_count"] == 1 else case["max_count"])
    node = SimpleNamespace(op=op, info=op.infer((in_info,)))
    event, dense = (kernel_for(node, (in_info,), x.shape[0], mode, np.float64, exact=exact)([x]).copy()
                    for mode in ("event", "dense"))
    np.testing.assert_array_equal(event, dense)
    reference = F.avg_pool2d(torch.from_numpy(x.astype(np.float64)), kernel, case["stride"], pad).numpy()
    if case["average"]:
        np.testing.assert_allclose(event, reference, rtol=0, atol=1e-12)
    else:
        np.testing.assert_array_equal(event, np.rint(reference * kernel * kernel) * case["weight"])


@RANDOMIZED
@given(st.integers(1, 4), st.integers(1, 6), st.integers(1, 9), st.sampled_from([0.0, 0.2, 1.0]), st.integers(0, 999))
def test_the_one_to_one_kernel_equals_numpy_bit_for_bit(batch, channels, plane, density, seed):
    rng = np.random.default_rng(seed)
    op = Affine(rng.standard_normal(channels), rng.standard_normal(channels))
    x = rng.standard_normal((batch, channels, plane)) * (rng.random((batch, channels, plane)) < density)
    node = SimpleNamespace(op=op, info=TensorInfo((channels, plane)))
    out = kernel_for(node, (TensorInfo((channels, plane)),), batch, "auto", np.float64)([x])
    np.testing.assert_array_equal(out, x * op.scale[:, None] + op.shift[:, None])


NEURONS = st.fixed_dictionaries({
    "batch": st.integers(1, 3), "shape": st.sampled_from([(7,), (3, 5), (2, 3, 4), (4, 200, 200)]),
    "decay": st.sampled_from([1, 1024, 3000, 4095, 4096]), "current_decay": st.sampled_from([0, 1, 2048, 4000, 4095]),
    "threshold": st.integers(0, 5000), "bias": st.booleans(), "seed": st.integers(0, 2**16)})


@settings(max_examples=20, deadline=None, derandomize=True, database=None)
@given(NEURONS)
def test_the_fused_neuron_update_steps_exactly_like_cuba_step(case):
    """Spikes, currents and membranes after every step, currents up to past the chip's limit (where ``I << 6`` wraps);
    the largest shape (over the update's ``parallel_size`` neurons) is cut into many parallel tasks."""
    rng = np.random.default_rng(case["seed"])
    shape, batch = case["shape"], case["batch"]
    bias = rng.integers(-4000, 4000, shape[0]) if case["bias"] else None
    op = IntLIF(threshold=case["threshold"], decay_12bit=case["decay"], bias=bias,
                current_decay_12bit=case["current_decay"])
    kernel = FloatIntMembranes(op, shape, batch)
    channel_bias = 0 if bias is None else bias.reshape(-1, *([1] * (len(shape) - 1)))
    u = v = np.zeros((batch, *shape), np.int64)
    for step in range(6):
        limit = LOIHI2.current_max * (3 if step == 5 else 1)
        current = (rng.integers(-limit // 3, limit + 1, (batch, *shape)) * (rng.random((batch, *shape)) < 0.5))
        fired, u, v = cuba_step(u, v, current, case["current_decay"], case["decay"], channel_bias, case["threshold"])
        np.testing.assert_array_equal(kernel([current.astype(np.float32)[None]])[0], fired, err_msg=f"step {step}")
        np.testing.assert_array_equal(kernel.membrane, v, err_msg=f"step {step}")
        if case["current_decay"]:
            np.testing.assert_array_equal(kernel.current, u, err_msg=f"step {step}")


def test_the_fused_neuron_update_runs_all_steps_in_one_call_as_step_by_step():
    """The simulator hands a population its input at every step at once: one call over T steps fires, counts and
    leaves the state as ``cuba_step`` stepping T times, and as T calls of one step."""
    rng = np.random.default_rng(7)
    shape, batch, steps = (3, 4, 5), 2, 6
    op = IntLIF(threshold=700, decay_12bit=3000, bias=rng.integers(-200, 200, 3), current_decay_12bit=2048)
    currents = rng.integers(-40_000, 120_000, (steps, batch, *shape)) * (rng.random((steps, batch, *shape)) < 0.5)
    at_once, one_by_one = FloatIntMembranes(op, shape, batch), FloatIntMembranes(op, shape, batch)
    spikes = at_once([currents.astype(np.float32)])
    u = v = np.zeros((batch, *shape), np.int64)
    for t in range(steps):
        fired, u, v = cuba_step(u, v, currents[t], 2048, 3000, op.bias.reshape(-1, 1, 1), 700)
        np.testing.assert_array_equal(spikes[t], fired, err_msg=f"step {t}")
        np.testing.assert_array_equal(one_by_one([currents[t:t + 1].astype(np.float32)])[0], fired)
        np.testing.assert_array_equal(at_once.emitted()[t], fired.reshape(batch, -1).sum(axis=1))
    assert spikes.sum() > 0
    np.testing.assert_array_equal(at_once.membrane, v)
    np.testing.assert_array_equal(at_once.current, u)


def test_the_neuron_update_reads_one_copy_of_an_input_that_is_the_same_at_every_step():
    """A direct-encoded image's host current is the same array at every step (a broadcast view): the update reads it
    once per step from one copy and gives what a materialised copy of every step gives."""
    rng = np.random.default_rng(8)
    op = IntLIF(threshold=900, decay_12bit=3500, bias=rng.integers(-100, 100, 4))
    current = rng.integers(-2000, 3000, (3, 4, 6, 6)).astype(np.float64)
    broadcast, copied = FloatIntMembranes(op, (4, 6, 6), 3), FloatIntMembranes(op, (4, 6, 6), 3)
    spikes = broadcast([np.broadcast_to(current, (5, *current.shape))])
    np.testing.assert_array_equal(spikes, copied([np.repeat(current[None], 5, axis=0)]))
    np.testing.assert_array_equal(broadcast.membrane, copied.membrane)
    assert 0 < spikes.sum() < spikes.size and not np.array_equal(spikes[0], spikes[-1])


@pytest.mark.parametrize("op_kind", ["conv", "linear", "pool"])
def test_the_event_path_skips_silent_samples_and_still_equals_the_dense_path(op_kind):
    """A batch where every other sample has no input event: the event kernels scan only the samples with events (the
    simulator hands them the counts it has), and every sample's output still equals the dense path's."""
    rng = np.random.default_rng(11)
    if op_kind == "conv":
        op, shape = Conv2d(integer_weights(rng, (5, 3, 3, 3)), integer_weights(rng, (5,)), padding=(1, 1)), (3, 6, 6)
    elif op_kind == "linear":
        op, shape = Linear(integer_weights(rng, (7, 20)), integer_weights(rng, (7,))), (20,)
    else:
        op, shape = SumPool2d(2, 2, 0, weight=-3), (3, 6, 6)
    x = events(rng, (6, *shape), 0.3, 2)
    x[::2] = 0
    in_info = TensorInfo(shape, "counts", 2)
    node = SimpleNamespace(op=op, info=op.infer((in_info,)))
    event, dense = (kernel_for(node, (in_info,), 6, mode, np.float64, exact=True) for mode in ("event", "dense"))
    counts = x.reshape(6, -1).sum(axis=1).astype(np.int64).reshape(1, 6)
    assert (counts[0, ::2] == 0).all() and (counts[0, 1::2] > 0).all()
    np.testing.assert_array_equal(event([x], counts), dense([x]))
    assert event.paths == {"event": 1, "dense": 0}


# --- silent layers, memory, preparation --------------------------------------------------------------------------

def wide_conv_graph(rng) -> Graph:
    """Spike frames -> a 256->256 3x3 convolution at 32x32 with a bias (579 M connections; as a connection matrix
    about 7 GB) -> IntLIF -> flatten -> readout: an integer graph."""
    graph = Graph("wide")
    graph.add("x", Input((256, 32, 32), "frames", "spikes"))
    graph.add("conv", Conv2d(rng.integers(-3, 4, (256, 256, 3, 3)).astype(np.float64),
                             rng.integers(-9, 10, 256).astype(np.float64), padding=1), ["x"])
    graph.add("lif", IntLIF(threshold=20, decay_12bit=2048), ["conv"])
    graph.add("flat", Flatten(), ["lif"])
    graph.add("readout", Readout(rng.integers(-3, 4, (3, 256 * 32 * 32)).astype(np.float64)), ["flat"])
    graph.set_outputs(["readout"])
    graph.metadata["integer"] = True
    return graph


def test_a_silent_layer_takes_the_event_path_in_memory_bounded_by_its_activations(monkeypatch):
    """Silent inputs at every step: ``auto`` takes the event path, which writes the bias and nothing else; no
    connection matrix is ever built, and the run allocates only activation-sized buffers (under 20 MB besides what
    it records), where the layer has 579 M connections."""
    def refuse(*_):
        raise AssertionError("a connection matrix was built")

    monkeypatch.setattr(Conv2d, "connection_matrix", refuse)
    graph = wide_conv_graph(np.random.default_rng(0))
    frames = np.zeros((3, 2, 256, 32, 32))
    simulate(graph, frames[:1, :1], 1)  # compiles or loads the kernels, prepares the ops
    tracemalloc.start()
    result = simulate(graph, frames, 3, record=["conv"])
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert result.paths["conv"] == {"event": 3, "dense": 0}
    assert peak < 20e6 + result.recorded["conv"].nbytes, peak
    bias = graph["conv"].op.bias
    np.testing.assert_array_equal(result.recorded["conv"], np.broadcast_to(bias[:, None, None], (3, 2, 256, 32, 32)))


def test_auto_follows_the_cost_model_per_step():
    """A convolution whose input falls silent after dense steps: dense while busy, event when sparse or silent."""
    rng = np.random.default_rng(1)
    graph = Graph("steps")
    graph.add("x", Input((32, 16, 16), "frames", "spikes"))
    graph.add("conv", Conv2d(rng.integers(-3, 4, (32, 32, 3, 3)).astype(np.float64), padding=1), ["x"])
    graph.set_outputs(["conv"])
    graph.metadata["integer"] = True
    densities = [0.9, 0.9, 0.001, 0.0]
    frames = np.stack([(rng.random((4, 32, 16, 16)) < d).astype(np.float64) for d in densities])
    result = simulate(graph, frames, len(densities), record=["conv"])
    assert result.paths["conv"] == {"event": 2, "dense": 2}
    reference = simulate(graph, frames, len(densities), record=["conv"], mode="dense", dtype=np.float64)
    np.testing.assert_array_equal(result.recorded["conv"], reference.recorded["conv"])


def test_each_op_is_prepared_once_for_every_later_simulation(monkeypatch):
    calls = []
    original = prepare.prepare
    monkeypatch.setattr(prepare, "prepare", lambda *args: calls.append(args[0]) or original(*args))
    graph = wide_conv_graph(np.random.default_rng(2))
    frames = (np.random.default_rng(3).random((2, 2, 256, 32, 32)) < 0.01).astype(np.float64)
    first = simulate(graph, frames, 2)
    assert {id(op) for op in calls} == {id(graph["conv"].op), id(graph["readout"].op)}
    prepared_ops = len(calls)
    again = simulate(graph, frames, 2, workers=2)
    assert len(calls) == prepared_ops
    np.testing.assert_array_equal(first.output, again.output)


def test_a_node_on_the_direct_input_only_is_computed_once(monkeypatch):
    calls, dense = [], kernels.TorchDense.__call__  # the samples of each call: it computes every step of them at once
    monkeypatch.setattr(kernels.TorchDense, "__call__", lambda self, op, x: calls.append(len(x)) or dense(self, op, x))
    rng = np.random.default_rng(4)
    graph = Graph("direct")
    graph.add("image", Input((2, 6, 6), "direct"))
    graph.add("conv", Conv2d(rng.standard_normal((3, 2, 3, 3))), ["image"])
    graph.add("lif", LIF(threshold=0.5, decay=0.5), ["conv"])
    graph.set_outputs(["lif"])
    image = rng.random((2, 2, 6, 6))
    result = simulate(graph, image, 5, record=["lif"])
    assert calls == [2] and "conv" not in result.paths
    frames = simulate(graph_with_frames(graph), np.broadcast_to(image, (5, *image.shape)), 5, record=["lif"])
    assert calls == [2, 5 * 2]
    np.testing.assert_array_equal(result.recorded["lif"], frames.recorded["lif"])


def graph_with_frames(graph: Graph) -> Graph:
    """``graph`` with its direct input fed as frames instead (the same ops)."""
    frames = Graph("frames")
    for node in graph:
        op = Input(node.op.shape, "frames") if isinstance(node.op, Input) else node.op
        frames.add(node.name, op, list(node.inputs))
    frames.set_outputs(list(graph.outputs))
    return frames
