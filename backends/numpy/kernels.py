"""The simulator's kernels: what each op computes, on batch-first arrays: a stateless op's ``[N, *shape]`` holds any
number of (step, sample) pairs, a population's ``[T, B, *shape]`` its input at each of T steps.

Three families, each in a table keyed by op type:

- ``GLUE``: stateless ops, pure functions ``(op, inputs) -> array``.
- synapses: weighted ops, prepared once per op (:mod:`.prepare`: tensors cast, weight layouts, exactness). A
  :class:`SynapseKernel` runs each step on the dense path (``DENSE``) or follows the active inputs on the event path
  (``EVENT_PATHS``, compiled scatters from :mod:`.event_kernels`); :mod:`.cost` picks one per step. A one-to-one
  synapse (Affine) is one compiled pass (:class:`OneToOne`).
- ``POPULATIONS``: LIF and MLF neurons (float membranes, :class:`FloatMembranes`) and IntLIF neurons (the chip's
  integer arithmetic, :class:`IntMembranes`), whose membranes persist between steps.

:func:`kernel_for` turns a graph node into a callable ``inputs -> output`` for one simulation.

An integer graph (the quantizer's output) can be simulated *exactly* in less time: its synaptic sums over spikes and
counts are integers small enough for float32 (:func:`exact_in_float32`), which lets a convolution sum in any order
(:class:`TorchDense`, the event kernels), and its neurons run the chip's integer arithmetic in one compiled pass over
all steps (:class:`FloatIntMembranes`), bit for bit :func:`snncompile.integer.cuba_step` on :data:`CHIP`.
"""

from functools import partial

import numba
import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from snncompile import integer
from snncompile.ir.ops import (LIF, MLF, Add, Affine, AvgPool2d, BatchNorm, Conv2d, Flatten, Input, IntLIF, Linear,
                               MaxPool2d, Quantize, Readout, SEWLogic, SumPool2d)

from . import cost, event_kernels
from .prepare import CHIP, exact_in_float32, in_dtype, prepared

__all__ = ["CHIP", "MODES", "SUPPORTED", "FloatIntMembranes", "SynapseKernel", "exact_in_float32", "in_dtype",
           "kernel_for"]

MODES = ("auto", "event", "dense")


def channel_vector(vector: np.ndarray, x: np.ndarray) -> np.ndarray:
    """A per-channel vector shaped to broadcast over axis 1 of ``x`` (``[B, C, ...]``)."""
    return vector.reshape(vector.shape[0], *([1] * (x.ndim - 2)))


def windows(x: np.ndarray, kernel: tuple, stride: tuple, padding: tuple, pad_value: float) -> np.ndarray:
    """The windows of a 2-d ``kernel`` at ``stride`` over ``[B, C, H, W]`` padded by ``padding`` with ``pad_value``:
    a view ``[B, C, H_out, W_out, kH, kW]``."""
    (ph, pw), (sh, sw) = padding, stride
    padded = np.pad(x, ((0, 0), (0, 0), (ph, ph), (pw, pw)), constant_values=pad_value) if ph or pw else x
    return sliding_window_view(padded, kernel, axis=(2, 3))[:, :, ::sh, ::sw]


# --- glue: (op, inputs) -> output ---------------------------------------------------------------------------------

def flatten(op, inputs):
    (x,) = inputs
    return x.reshape(x.shape[0], -1)


def max_pool2d(op, inputs):
    (x,) = inputs
    return windows(x, op.kernel, op.stride, op.padding, -np.inf).max(axis=(-2, -1))


def batch_norm(op, inputs):
    (x,) = inputs
    return (x - channel_vector(op.mean, x)) * channel_vector(op.scale(), x) + channel_vector(op.bias, x)


def add(op, inputs):
    return sum(inputs[1:], inputs[0])


def sew_logic(op, inputs):
    branch, shortcut = inputs
    return branch * shortcut if op.function == "AND" else (1 - branch) * shortcut


def quantize(op, inputs):
    (x,) = inputs
    return np.rint(x * op.scale)


GLUE = {Flatten: flatten, MaxPool2d: max_pool2d, BatchNorm: batch_norm, Add: add, SEWLogic: sew_logic,
        Quantize: quantize}


# --- synapses -----------------------------------------------------------------------------------------------------

def conv2d(op, x):
    """im2col by strided windows, then one tensor contraction over (C_in, kH, kW)."""
    columns = windows(x, op.weight.shape[2:], op.stride, op.padding, 0.0)
    out = np.ascontiguousarray(np.moveaxis(np.tensordot(columns, op.weight, axes=([1, 4, 5], [1, 2, 3])), -1, 1))
    return out if op.bias is None else out + channel_vector(op.bias, out)


def avg_pool2d(op, x):
    return windows(x, op.kernel, op.stride, op.padding, 0.0).sum(axis=(-2, -1)) / (op.kernel[0] * op.kernel[1])


def sum_pool2d(op, x):
    return windows(x, op.kernel, op.stride, op.padding, 0.0).sum(axis=(-2, -1)) * op.weight


def linear(op, x):
    out = x @ op.weight.T
    return out if op.bias is None else out + op.bias


DENSE = {Conv2d: conv2d, AvgPool2d: avg_pool2d, SumPool2d: sum_pool2d, Linear: linear, Readout: linear}


class TorchDense:
    """The dense path of a Conv2d or a float32 SumPool2d in PyTorch: its CPU convolution (in float32 oneDNN's direct
    algorithm, about three times faster than an im2col product in NumPy on one core, skipping the taps that only read
    zero padding; in float64 its im2col product, twice as fast as NumPy's contraction), and its pooling (window sums,
    ``divisor_override=1``; the pool's weight multiplies them here, as :func:`sum_pool2d` does).

    On an integer graph it is exact (:func:`exact_in_float32`): every product and partial sum is an integer float32
    holds, so the order PyTorch sums in does not matter. Only algorithms that transform the operands (Winograd, FFT:
    NNPACK) or round them to bf16/tf32 would break that; PyTorch's CPU convolutions use none of them unless a user
    lowers the float32 precision, in which case NumPy's kernels (:data:`DENSE`) run instead
    (:func:`torch_keeps_float32`)."""

    def __init__(self, prepared):
        import torch  # only where a dense float32 convolution or pool runs

        op, functional = prepared.op, torch.nn.functional
        self.from_numpy, self.no_grad, self.dtype = torch.from_numpy, torch.no_grad, prepared.dtype
        if isinstance(op, Conv2d):
            weight, bias = (None if array is None else torch.from_numpy(writable(array))
                            for array in (op.weight, op.bias))
            self.compute = partial(functional.conv2d, weight=weight, bias=bias, stride=op.stride, padding=op.padding)
            self.scale = None
        else:
            self.compute = partial(functional.avg_pool2d, kernel_size=op.kernel, stride=op.stride, padding=op.padding,
                                   divisor_override=1)
            self.scale = op.weight

    def __call__(self, op, x):
        x = np.ascontiguousarray(x, self.dtype)  # spike frames fed in another float type
        with self.no_grad():
            out = self.compute(self.from_numpy(writable(x))).numpy()
        return out if self.scale is None else out * self.scale


def torch_keeps_float32() -> bool:
    """Whether PyTorch's CPU convolutions compute in IEEE float32 (a user may allow bf16 or tf32 instead)."""
    import torch

    precision = torch.backends.mkldnn.conv.fp32_precision
    return precision in ("none", "ieee") and torch.get_float32_matmul_precision() == "highest"


def writable(array: np.ndarray) -> np.ndarray:
    """``array``, or a copy of it if it is read-only (PyTorch shares only writable memory; it writes to neither)."""
    return array if array.flags.writeable else array.copy()


def channel_blocks(batch: int, channels: int) -> int:
    """Blocks of output channels per sample, so that an event kernel has at least two tasks per thread."""
    return max(1, min(channels, -(-2 * numba.get_num_threads() // batch)))


class ConvEvents:
    """The event path of a Conv2d: :func:`.event_kernels.conv_scatter` into a channels-last buffer, then the
    channels-first output. Buffers hold ``batch`` samples; a call may pass fewer."""

    def __init__(self, prepared, in_shape: tuple, out_shape: tuple, batch: int):
        self.prepared, self.out_shape = prepared, out_shape
        channels, out_h, out_w = out_shape
        self.channels_last = np.empty((batch, out_h, out_w, channels), prepared.dtype)
        self.out = np.empty((batch, channels, out_h * out_w), prepared.dtype)
        self.blocks = channel_blocks(batch, channels)

    def __call__(self, x, active):
        op, n = self.prepared.op, x.shape[0]
        channels_last, out = self.channels_last[:n], self.out[:n]
        event_kernels.conv_scatter(x, active, self.prepared.event_weight, self.prepared.bias, *op.stride, *op.padding,
                                   self.blocks, channels_last)
        event_kernels.channels_first(channels_last.reshape(n, -1, self.out_shape[0]), out)
        return out.reshape(n, *self.out_shape)


class LinearEvents:
    """The event path of a Linear map or a Readout: :func:`.event_kernels.linear_scatter`."""

    def __init__(self, prepared, in_shape: tuple, out_shape: tuple, batch: int):
        self.prepared = prepared
        self.out = np.empty((batch, *out_shape), prepared.dtype)
        self.blocks = channel_blocks(batch, out_shape[0])

    def __call__(self, x, active):
        out = self.out[:x.shape[0]]
        event_kernels.linear_scatter(x, active, self.prepared.event_weight, self.prepared.bias, self.blocks, out)
        return out


class PoolEvents:
    """The event path of an average or sum pool: :func:`.event_kernels.pool_scatter`."""

    def __init__(self, prepared, in_shape: tuple, out_shape: tuple, batch: int):
        op = prepared.op
        self.prepared = prepared
        self.out = np.empty((batch, *out_shape), prepared.dtype)
        self.blocks = channel_blocks(batch, out_shape[0])
        average = isinstance(op, AvgPool2d)
        self.weight, self.divisor = (1.0, float(op.kernel[0] * op.kernel[1])) if average else (float(op.weight), 1.0)

    def __call__(self, x, active):
        op, out = self.prepared.op, self.out[:x.shape[0]]
        event_kernels.pool_scatter(x, active, *op.kernel, *op.stride, *op.padding, self.weight, self.divisor,
                                   self.blocks, out)
        return out


EVENT_PATHS = {Conv2d: ConvEvents, Linear: LinearEvents, Readout: LinearEvents, AvgPool2d: PoolEvents,
               SumPool2d: PoolEvents}


class SynapseKernel:
    """A synaptic node for one simulation: computes each step on the dense path or on the event path.

    A call computes ``steps`` steps of ``batch`` samples at once: its input is ``[steps * B, *in_shape]``, step-major
    (a synapse has no state, so the steps of a layer are independent given its input). Each step takes its own path:
    the event path scans each sample's input and scatters the weights of its active positions into the outputs they
    reach (a compiled kernel of :mod:`.event_kernels`), so its work is the active inputs times their fan-out, and its
    memory the layer's weights and activations. Analog inputs always take the dense path; event inputs take the event
    path when ``mode="event"``, or in ``mode="auto"`` when :mod:`.cost` predicts it is faster for that step's active
    inputs; a silent step (no input event) is the bias. The steps taking one path are computed in one call of it, so
    a dense convolution runs on ``steps * B`` samples at once. Each path allocates its buffers when it first runs.
    ``paths`` counts the steps each path computed (a silent step counts as an event step)."""

    def __init__(self, prepared, in_info, out_shape: tuple, batch: int, mode: str, steps: int = 1):
        self.prepared, self.paths = prepared, {"event": 0, "dense": 0}
        self.in_shape, self.out_shape, self.steps, self.capacity = in_info.shape, out_shape, steps, steps * batch
        self.scatter = self.dense_path = self.silent = None  # made on first use: their buffers
        self.events = in_info.is_events and mode != "dense"
        self.auto = mode == "auto"
        self.positions_per_sample = in_info.size + int(np.prod(out_shape))  # what an event step scans and writes
        self.dense_seconds_per_sample = cost.dense_seconds(prepared.dense_kernel, prepared.dtype, prepared.macs)

    def __call__(self, inputs, events=None):
        """The output ``[steps * B, *out_shape]`` for ``inputs`` (one array ``[steps * B, *in_shape]``). ``events``:
        ``[steps, B]``, the events of each sample of the input at each step (spikes, or the sum of counts), which the
        simulator has counted already; counted here without it."""
        (x,) = inputs
        if not self.events:
            self.paths["dense"] += self.steps
            return self.dense(x)
        x = np.ascontiguousarray(x)
        if events is None:
            counts = np.empty(x.shape[0], np.int64)
            event_kernels.active_counts(x.reshape(x.shape[0], -1), counts)
            events = counts.reshape(self.steps, -1)
        paths = self.step_paths(events.sum(axis=1), x.shape[0] // self.steps)
        dense_steps = int(np.count_nonzero(paths == "dense"))
        self.paths["dense"] += dense_steps
        self.paths["event"] += len(paths) - dense_steps
        if (paths == paths[0]).all():
            return self.run(paths[0], x, events.reshape(-1))
        steps_first = x.reshape(self.steps, -1, *x.shape[1:])
        out = np.empty((*steps_first.shape[:2], *self.out_shape), self.prepared.dtype)
        for path in set(paths.tolist()):
            chosen = np.flatnonzero(paths == path)
            out[chosen] = self.run(path, steps_first[chosen].reshape(-1, *x.shape[1:]),
                                   events[chosen].reshape(-1)).reshape(len(chosen), -1, *self.out_shape)
        return out.reshape(-1, *self.out_shape)

    def step_paths(self, events_per_step: np.ndarray, batch: int) -> np.ndarray:
        """The path of each step (``"silent"``, ``"event"`` or ``"dense"``) for its total input events."""
        synapse = self.prepared
        paths = np.full(len(events_per_step), "event" if not self.auto else "dense", dtype=object)
        if self.auto:
            for step, events in enumerate(events_per_step):
                if self.dense_seconds_per_sample * batch >= cost.event_seconds(
                        synapse.dtype, events, synapse.fan_out, synapse.row_length, self.positions_per_sample * batch):
                    paths[step] = "event"
        paths[events_per_step == 0] = "silent"
        return paths

    def run(self, path: str, x: np.ndarray, events: np.ndarray) -> np.ndarray:
        """``x`` (``[n, *in_shape]``, its samples' ``events``) through ``path``; the event path scans only the samples
        with events."""
        if path == "dense":
            return self.dense(x)
        if path == "silent":
            return self.silent_output(x.shape[0])
        if self.scatter is None:
            synapse = self.prepared
            self.scatter = EVENT_PATHS[type(synapse.op)](synapse, self.in_shape, self.out_shape, self.capacity)
        return self.scatter(x, np.ascontiguousarray(events))

    def silent_output(self, n: int) -> np.ndarray:
        """The output of samples without input events: the bias of every output channel (made once, then reused)."""
        if self.silent is None:
            bias = self.prepared.bias.reshape(-1, *([1] * (len(self.out_shape) - 1)))
            self.silent = np.ascontiguousarray(np.broadcast_to(bias, (self.capacity, *self.out_shape)))
        return self.silent[:n]

    def dense(self, x):
        if self.dense_path is None:
            op = self.prepared.op
            in_torch = self.prepared.dense_kernel.startswith("torch") and (
                self.prepared.dtype != np.float32 or torch_keeps_float32())
            self.dense_path = partial(TorchDense(self.prepared) if in_torch else DENSE[type(op)], op)
        return self.dense_path(np.ascontiguousarray(x))


class OneToOne:
    """An Affine (one-to-one synapse, ``x * scale + shift`` per channel) in one compiled pass
    (:func:`.event_kernels.one_to_one`): a silent input only writes the shift."""

    def __init__(self, prepared, in_info, batch: int):
        self.prepared = prepared
        self.plane = in_info.size // in_info.shape[0]
        self.out = np.empty((batch, *in_info.shape), prepared.dtype)

    def __call__(self, inputs):
        (x,) = inputs
        n = x.shape[0]
        flat = np.ascontiguousarray(x).reshape(n, -1)
        event_kernels.one_to_one(flat, self.prepared.event_weight, self.prepared.bias, self.plane,
                                 self.out[:n].reshape(n, -1))
        return self.out[:n]


# --- populations: neurons with membranes --------------------------------------------------------------------------
#
# A population's kernel takes its input at every step of a simulation at once, ``[T, B, *shape]``, and returns its
# output at every step; its membranes persist from call to call (a call of ``T = 1`` is one step).

class FloatMembranes:
    """The membranes ``[K, B, *shape]`` of a LIF (K = 1) or MLF (K levels) node, updated once per step.

    The arithmetic, in this order of floating-point operations (it is the zoo's ``SpikingNeuron.forward``, so float64
    results are equal bit for bit)::

        v_pre = decay * v + input_gain * x
        s     = v_pre > threshold_k          (>= when inclusive)
        v     = v_pre * (1 - s) + v_reset * s          (hard reset)
        v     = v_pre - threshold_k * s                (soft reset)

    The output is the sum of ``s`` over the K levels.
    """

    def __init__(self, op, shape: tuple, batch: int, dtype):
        self.op = op
        self.thresholds = np.asarray(op.thresholds, dtype).reshape(op.levels, *([1] * (1 + len(shape))))
        self.membrane = np.zeros((op.levels, batch, *shape), dtype)

    def __call__(self, inputs):
        (x,) = inputs
        return np.stack([self.step(x_t) for x_t in x])

    def step(self, x):
        op = self.op
        v_pre = op.decay * self.membrane + op.input_gain * x
        fired = (v_pre >= self.thresholds if op.inclusive else v_pre > self.thresholds).astype(v_pre.dtype)
        if op.reset == "hard":
            self.membrane = v_pre * (1 - fired) + op.v_reset * fired
        else:
            self.membrane = v_pre - self.thresholds * fired
        return fired.sum(axis=0)


def channel_bias(op, shape: tuple):
    """An IntLIF's integer bias per channel, int64 shaped to broadcast over a sample of ``shape``; 0 without one."""
    return 0 if op.bias is None else op.bias.astype(np.int64).reshape(-1, *([1] * (len(shape) - 1)))


class IntMembranes:
    """The integer state of an IntLIF node, its currents ``u`` and membranes ``v`` ``[B, *shape]``, updated by
    :func:`snncompile.integer.cuba_step` on :data:`CHIP`.

    Its input is an integer-valued synaptic current computed in floating point (exact below 2**53); it is converted to
    int64 here, and every step from there is the chip's integer arithmetic. Without current decay (``Du = 0``) no part
    of ``u`` outlives its step, so ``current`` stays 0 (decaying an array of zeros would only cost time)."""

    def __init__(self, op, shape: tuple, batch: int, dtype):
        self.op = op
        self.bias = channel_bias(op, shape)
        self.current = 0
        self.membrane = np.zeros((batch, *shape), np.int64)

    def __call__(self, inputs):
        (synaptic,) = inputs
        return np.stack([self.step(current) for current in synaptic]).astype(synaptic.dtype)

    def step(self, synaptic):
        op = self.op
        spikes, current, self.membrane = integer.cuba_step(
            self.current, self.membrane, synaptic.astype(np.int64), op.current_decay_12bit, op.decay_12bit, self.bias,
            op.threshold, CHIP)
        if op.current_decay_12bit:
            self.current = current
        return spikes


class FloatIntMembranes:
    """An IntLIF node computed as :func:`snncompile.integer.cuba_step` computes it, bit for bit, in one compiled pass
    over all the steps of a call (:func:`.event_kernels.cuba_update`: the same integer operations on int64, each
    neuron's steps in turn while its row of state stays in cache) on float32 currents and membranes updated in place.

    float32 holds the state exactly: the current ``u`` is wrapped into ``(-2**23, 2**23]`` and the membrane ``v``
    saturates at ``+-(2**23 - 1)``, and float32 holds every integer up to ``2**24``. The synaptic input may be any
    float array of integer values (a float32 sum of spikes or counts, a float64 host current); like ``cuba_step``'s
    caller it is truncated to an integer. Without current decay (``Du = 0``) ``u`` is only this step's ``I << 6`` and
    is not kept (``current`` is ``None``). The update counts the spikes it emits (:meth:`emitted`)."""

    def __init__(self, op, shape: tuple, batch: int):
        self.op = op
        self.bias = (channel_bias(op, shape) << CHIP.current_shift).reshape(-1) if op.bias is not None \
            else np.zeros(shape[0], np.int64)
        self.rows = batch * shape[0]  # one row per sample and channel
        self.membrane = np.zeros((batch, *shape), np.float32)
        self.current = np.zeros_like(self.membrane) if op.current_decay_12bit else None
        self.fired_per_row = np.zeros((0, self.rows), np.int64)

    def __call__(self, inputs):
        (synaptic,) = inputs
        op, rows, steps = self.op, self.rows, synaptic.shape[0]
        spikes = np.empty((steps, *self.membrane.shape), np.float32)
        self.fired_per_row = np.empty((steps, rows), np.int64)
        current = self.membrane if self.current is None else self.current  # not read without current decay
        if synaptic.strides[0] == 0:  # the same input at every step (a constant host current): read one copy
            synaptic = synaptic[:1]
        synaptic = np.ascontiguousarray(synaptic)
        event_kernels.cuba_update(synaptic.reshape(len(synaptic), rows, -1), current.reshape(rows, -1),
                                  self.membrane.reshape(rows, -1), spikes.reshape(steps, rows, -1),
                                  self.fired_per_row, self.bias, self.current is not None, op.current_decay_12bit,
                                  op.decay_12bit, op.threshold << CHIP.current_shift, CHIP.current_shift,
                                  CHIP.decay_bits, CHIP.state_bits, CHIP.state_max)
        return spikes

    def emitted(self) -> np.ndarray:
        """The spikes of each sample at each step of the last call, ``[steps, B]`` (counted by the update itself)."""
        steps = self.fired_per_row.shape[0]
        return self.fired_per_row.reshape(steps, self.membrane.shape[0], -1).sum(axis=2)


POPULATIONS = {LIF: FloatMembranes, MLF: FloatMembranes, IntLIF: IntMembranes}

SYNAPSES = (*DENSE, Affine)

SUPPORTED = frozenset({Input, *GLUE, *SYNAPSES, *POPULATIONS})


def kernel_for(node, in_infos: tuple, batch: int, mode: str, dtype, exact: bool = False, steps: int = 1):
    """The callable computing ``node`` (not an Input; a type in ``SUPPORTED``) for one simulation of ``batch``
    samples, with fresh state: a population's takes and returns ``[T, B, *shape]`` (any number of steps per call);
    any other node's takes and returns ``[steps * B, *shape]``, step-major.

    ``exact``: ``node`` belongs to an integer graph simulated in its fastest exact arithmetic: a synapse that
    :func:`exact_in_float32` admits computes in float32, an IntLIF node is a :class:`FloatIntMembranes`; everything
    else computes in ``dtype`` as without it."""
    op = node.op
    if exact and isinstance(op, IntLIF):
        return FloatIntMembranes(op, node.info.shape, batch)
    if isinstance(op, SYNAPSES):
        synapse = prepared(op, in_infos[0], node.info, dtype, exact)
        if isinstance(op, Affine):
            return OneToOne(synapse, in_infos[0], steps * batch)
        return SynapseKernel(synapse, in_infos[0], node.info.shape, batch, mode, steps)
    op = in_dtype(op, dtype)
    if type(op) in GLUE:
        return partial(GLUE[type(op)], op)
    return POPULATIONS[type(op)](op, node.info.shape, batch, dtype)
