"""The simulator's kernels: what each op computes in one timestep, on batch-first arrays ``[B, *shape]``.

Three families, each in a table keyed by op type:

- ``GLUE``: stateless ops, pure functions ``(op, inputs) -> array``.
- ``SYNAPSES``: weighted ops with a dense function ``(op, x) -> array``; a :class:`SynapseKernel` runs one per step,
  or follows the active inputs through the op's connection matrix (``op.connection_matrix``) when they are few.
- ``POPULATIONS``: LIF and MLF neurons (float membranes, :class:`FloatMembranes`) and IntLIF neurons (the chip's
  integer arithmetic, :class:`IntMembranes`), whose membranes persist between steps.

:func:`kernel_for` turns a graph node into a callable ``inputs -> output`` for one simulation.

An integer graph (the quantizer's output) can be simulated *exactly* in less time: its synaptic sums over spikes and
counts are integers small enough for float32 (:func:`exact_in_float32`), which lets a convolution sum in any order
(:class:`Im2colConv`), and its neurons run on float currents and membranes in place (:class:`FloatIntMembranes`), bit
for bit the arithmetic of :func:`snncompile.integer.cuba_step` on :data:`CHIP`.
"""

import dataclasses
from functools import partial

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view
from scipy import sparse

from snncompile import integer
from snncompile.chip import LOIHI2
from snncompile.ir.geometry import conv_output_size
from snncompile.ir.ops import (LIF, MLF, Add, Affine, AvgPool2d, BatchNorm, Conv2d, Flatten, Input, IntLIF, Linear,
                               MaxPool2d, Quantize, Readout, SEWLogic, SumPool2d)
from snncompile.ir.ops.base import NEURON

CHIP = LOIHI2  # the chip whose integer arithmetic the simulator runs (IntLIF neurons, the exact float32 sums)

# Highest fraction of nonzero input entries at which ``mode="auto"`` takes the event path, per op type, from
# bench/simulator_paths.py (2 cores, batch 64, float64; table in its docstring). The event path is faster below about
# 5-7 % activity for a 16->16 3x3 conv at 32x32 (0.4x the dense time at 1 %, 5x at 50 %), below about 20 % for a 2x2
# average pool (fan-out 1), and below 5-12 % for a 1024->256 linear layer (BLAS timing varies from run to run).
EVENT_DENSITY_LIMIT = {Conv2d: 0.05, AvgPool2d: 0.15, SumPool2d: 0.15, Linear: 0.05, Readout: 0.05}
# The same for an integer graph's exact float32 kernels (``bench/simulator_paths.py --exact``): the dense path of a
# convolution (:class:`Im2colConv`, one BLAS product) is 2x faster than the event path already at 1 % activity for a
# 16->16 conv at 32x32 and breaks even near 1.5 % for a 64->64 conv at 8x8; a 2x2 sum pool's event path wins below
# about 25 %, a 1024->256 linear layer's below 2 %; a readout's dense product (10 outputs) always wins (None: never).
# A whole simulation also pays for building each event path's connection matrix once per batch slice, so the
# limits sit below the kernels' break-even points. Its keys are the op types that have an exact float32 path.
EXACT_EVENT_DENSITY_LIMIT = {Conv2d: 0.002, SumPool2d: 0.2, Linear: 0.01, Readout: None}

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


def affine(op, inputs):
    (x,) = inputs
    return x * channel_vector(op.scale, x) + channel_vector(op.shift, x)


def add(op, inputs):
    return sum(inputs[1:], inputs[0])


def sew_logic(op, inputs):
    branch, shortcut = inputs
    return branch * shortcut if op.function == "AND" else (1 - branch) * shortcut


def quantize(op, inputs):
    (x,) = inputs
    return np.rint(x * op.scale)


GLUE = {Flatten: flatten, MaxPool2d: max_pool2d, BatchNorm: batch_norm, Affine: affine, Add: add, SEWLogic: sew_logic,
        Quantize: quantize}


# --- synapses: the dense path (op, x) -> output -------------------------------------------------------------------

def conv2d(op, x):
    """im2col by strided windows, then one tensor contraction over (C_in, kH, kW)."""
    columns = windows(x, op.weight.shape[2:], op.stride, op.padding, 0.0)
    out = np.moveaxis(np.tensordot(columns, op.weight, axes=([1, 4, 5], [1, 2, 3])), -1, 1)
    return out if op.bias is None else out + channel_vector(op.bias, out)


def avg_pool2d(op, x):
    return windows(x, op.kernel, op.stride, op.padding, 0.0).sum(axis=(-2, -1)) / (op.kernel[0] * op.kernel[1])


def sum_pool2d(op, x):
    return windows(x, op.kernel, op.stride, op.padding, 0.0).sum(axis=(-2, -1)) * op.weight


def linear(op, x):
    out = x @ op.weight.T
    return out if op.bias is None else out + op.bias


class Im2colConv:
    """The dense path of a Conv2d whose sums are exact (:func:`exact_in_float32`), so that it may sum in any order.

    A few samples at a time (``CHUNK``, so the windows stay in the CPU cache), the input is copied channels-last into a
    zero-padded buffer, its windows into a matrix ``[samples * H_out * W_out, kH * kW * C_in]``, which one matrix
    product with the weight ``[kH * kW * C_in, C_out]`` turns into the output, copied back channels-first. Every buffer
    is allocated once per simulation; the output buffer is rewritten at every step."""

    CHUNK = 8

    def __init__(self, op, in_shape: tuple, batch: int):
        c_out, c_in, kh, kw = op.weight.shape
        (sh, sw), (self.ph, self.pw) = op.stride, op.padding
        _, self.h, self.w = in_shape
        out_h, out_w = conv_output_size(self.h, kh, sh, self.ph), conv_output_size(self.w, kw, sw, self.pw)
        dtype, chunk = op.weight.dtype, min(self.CHUNK, batch)
        self.weight = np.ascontiguousarray(op.weight.transpose(2, 3, 1, 0).reshape(-1, c_out))
        self.bias = op.bias
        self.padded = np.zeros((chunk, self.h + 2 * self.ph, self.w + 2 * self.pw, c_in), dtype)
        span = (sh * (out_h - 1) + 1, sw * (out_w - 1) + 1)  # the input rows and columns one tap's outputs read
        self.windows = sliding_window_view(self.padded, span, axis=(1, 2))[:, :kh, :kw, :, ::sh, ::sw].transpose(
            0, 4, 5, 1, 2, 3)                                  # [chunk, H_out, W_out, kH, kW, C_in], a view
        self.columns = np.empty(self.windows.shape, dtype)
        self.product = np.empty((chunk, out_h * out_w, c_out), dtype)
        self.out = np.empty((batch, c_out, out_h * out_w), dtype)
        self.out_shape = (batch, c_out, out_h, out_w)

    def __call__(self, op, x):
        chunk = self.padded.shape[0]
        for start in range(0, x.shape[0], chunk):
            n = min(chunk, x.shape[0] - start)
            self.padded[:n, self.ph:self.ph + self.h, self.pw:self.pw + self.w] = x[start:start + n].transpose(0, 2, 3, 1)
            np.copyto(self.columns[:n], self.windows[:n])
            np.matmul(self.columns[:n].reshape(-1, self.weight.shape[0]), self.weight,
                      out=self.product[:n].reshape(-1, self.weight.shape[1]))
            self.out[start:start + n] = self.product[:n].transpose(0, 2, 1)
        if self.bias is not None:
            self.out += channel_vector(self.bias, self.out)
        return self.out.reshape(self.out_shape)


SYNAPSES = {Conv2d: conv2d, AvgPool2d: avg_pool2d, SumPool2d: sum_pool2d, Linear: linear, Readout: linear}


class SynapseKernel:
    """A synaptic node for one simulation: computes each step on the dense path or on the event path.

    The event path multiplies the active inputs (a CSR matrix ``[B, N_in]``) by the op's connection matrix
    ``[N_in, N_out]`` (``op.connection_matrix``), built on first use, so its work is the number of active inputs times
    their fan-out. Analog inputs always take the dense path; event inputs take the event path when ``mode="event"``,
    or in ``mode="auto"`` when at most ``limits[type(op)]`` of their entries are nonzero (``None``: never). ``paths``
    counts the steps each path computed.
    """

    def __init__(self, op, in_info, out_shape: tuple, mode: str, dtype, dense=None, limits=EVENT_DENSITY_LIMIT):
        self.op, self.in_shape, self.out_shape, self.dtype = op, in_info.shape, out_shape, dtype
        self.dense = dense or SYNAPSES[type(op)]
        self.density_limit = {"event": 1.0, "dense": None, "auto": limits[type(op)]}[mode]
        self.events = in_info.is_events and self.density_limit is not None
        self.connections = self.bias = None
        self.paths = {"event": 0, "dense": 0}

    def __call__(self, inputs):
        (x,) = inputs
        if self.events and np.count_nonzero(x != 0) <= self.density_limit * x.size:  # 10x faster than on floats
            self.paths["event"] += 1
            flat = np.ascontiguousarray(x).reshape(x.shape[0], -1)
            return self.event(flat, np.flatnonzero(flat))
        self.paths["dense"] += 1
        return self.dense(self.op, x)

    def event(self, flat: np.ndarray, active: np.ndarray) -> np.ndarray:
        """The output from the inputs ``flat`` ``[B, N_in]`` whose nonzero entries are at flat indices ``active``."""
        if self.connections is None:
            matrix, self.bias = self.op.connection_matrix(self.in_shape)
            self.connections = matrix.astype(self.dtype, copy=False)
        batch, width = flat.shape
        rows = sparse.csr_matrix((flat.ravel()[active], active % width,
                                  np.searchsorted(active, np.arange(batch + 1) * width)), shape=flat.shape)
        product = rows @ self.connections
        out = product.toarray() if sparse.issparse(product) else product
        if self.bias is not None:
            out += self.bias
        return out.reshape(batch, *self.out_shape)


# --- populations: neurons with membranes --------------------------------------------------------------------------

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
        op = self.op
        spikes, current, self.membrane = integer.cuba_step(
            self.current, self.membrane, synaptic.astype(np.int64), op.current_decay_12bit, op.decay_12bit, self.bias,
            op.threshold, CHIP)
        if op.current_decay_12bit:
            self.current = current
        return spikes.astype(synaptic.dtype)


class FloatIntMembranes:
    """An IntLIF node computed as :func:`snncompile.integer.cuba_step` computes it, bit for bit, on floating-point
    currents and membranes updated in place (fewer passes over memory and no allocation per step).

    Every value of the arithmetic is an integer of at most 36 bits, which float64 holds exactly: a decay
    ``sign(x) * ((|x| * D) >> 12)`` of the current ``u`` or the membrane ``v`` (both at most ``2**23`` in magnitude)
    is ``trunc(x * (D / 4096))`` (``D / 4096`` is exact and the product has at most 24 + 12 significant bits), and
    ``I << 6`` is ``64 * I``. When both decays are powers of two (or 0) — 1024 for the MLF and STBP decay 0.25, 2048
    for 0.5, 4096 without leak, ``Du = 0`` for a current without memory — a decay only moves the exponent, and
    float32 is exact too: a current ``64 * I`` is at most ``2**23`` in magnitude (below), so the kept current plus it
    is an integer below ``2**24``, wrapped back into ``(-2**23, 2**23]``; adding the bias ``64 * b`` (at most
    ``2**18``) keeps it below ``2**24``; a membrane is at most ``2**23 - 1``, so the membrane plus that is exact up
    to ``2**24``, and a sum beyond rounds to a value beyond, which saturates either way.

    Without current decay (``Du = 0``) ``u`` is only this step's ``64 * I`` and is not kept. The current must be
    integer-valued (it is in a quantized graph). A step whose current is outside ``+-CHIP.current_max``, where
    ``I << 6`` alone would wrap around 24 bits, is run by ``cuba_step`` itself."""

    def __init__(self, op, shape: tuple, batch: int):
        self.op = op
        decays = (op.decay_12bit, op.current_decay_12bit)
        dtype = np.float32 if all(d & (d - 1) == 0 for d in decays) else np.float64
        self.decay, self.current_decay = (d / CHIP.decay_one for d in decays)
        self.int_bias = channel_bias(op, shape)
        self.bias = None if op.bias is None else (self.int_bias << CHIP.current_shift).astype(dtype)
        self.threshold = dtype(op.threshold << CHIP.current_shift)
        self.state_max = dtype(CHIP.state_max)  # bounds of the membrane's type: a Python int is much slower
        self.membrane = np.zeros((batch, *shape), dtype)
        self.current = np.zeros_like(self.membrane) if op.current_decay_12bit else None
        self.input = np.empty_like(self.membrane)
        self.fired = np.empty(self.membrane.shape, bool)
        self.spikes = np.empty(self.membrane.shape, np.float32)

    def __call__(self, inputs):
        (synaptic,) = inputs
        if synaptic.min() < -CHIP.current_max or synaptic.max() > CHIP.current_max:
            return self.wrapping_step(synaptic)
        v = self.membrane
        np.multiply(v, self.decay, out=v)
        np.trunc(v, out=v)
        v += self.membrane_input(synaptic)
        np.clip(v, -self.state_max, self.state_max, out=v)
        np.greater(v, self.threshold, out=self.fired)
        np.copyto(self.spikes, self.fired)
        v *= np.logical_not(self.fired, out=self.fired)  # reset to 0 (several times faster than putmask)
        return self.spikes

    def membrane_input(self, synaptic):
        """``u + (bias << 6)``, what the membranes add this step (in ``self.input``), after updating ``u``."""
        added = np.multiply(synaptic, 1 << CHIP.current_shift, out=self.input)
        if self.current is not None:
            added = self.kept_current_plus(added)
        return added if self.bias is None else np.add(added, self.bias, out=self.input)

    def kept_current_plus(self, shifted):
        """The current ``u = wrap(trunc(u * Du / 4096) + shifted)``, updated in place."""
        u = self.current
        np.multiply(u, self.current_decay, out=u)
        np.trunc(u, out=u)
        u += shifted
        if u.max() > CHIP.state_max + 1 or u.min() <= -(CHIP.state_max + 1):  # beyond the 24-bit register
            u[...] = integer.wrap_state(u.astype(np.int64), CHIP)
        return u

    def wrapping_step(self, synaptic):
        op = self.op
        current = 0 if self.current is None else self.current.astype(np.int64)
        fired, current, membrane = integer.cuba_step(
            current, self.membrane.astype(np.int64), synaptic.astype(np.int64), op.current_decay_12bit,
            op.decay_12bit, self.int_bias, op.threshold, CHIP)
        self.membrane[...] = membrane
        if self.current is not None:
            self.current[...] = current
        np.copyto(self.spikes, fired)
        return self.spikes


POPULATIONS = {LIF: FloatMembranes, MLF: FloatMembranes, IntLIF: IntMembranes}

SUPPORTED = frozenset({Input, *GLUE, *SYNAPSES, *POPULATIONS})


def in_dtype(op, dtype):
    """``op`` with its tensors cast to ``dtype`` (integer weights too: their sums stay exact in float64 up to 2**53);
    an IntLIF keeps its integer bias."""
    if op.role == NEURON:
        return op
    cast = {name: tensor.astype(dtype, copy=False) for name, tensor in op.tensors().items()}
    return dataclasses.replace(op, **cast) if cast else op


def exact_in_float32(op, in_info) -> bool:
    """Whether synaptic ``op`` computes exactly in float32 on inputs ``in_info``: an op type with an exact float32 path
    (:data:`EXACT_EVENT_DENSITY_LIMIT`), integer weights and bias, inputs that are spikes or counts (integers in
    ``0..max_count``), and no partial sum beyond ``CHIP.current_max`` (131071) in magnitude — the largest sum of
    ``|weight|`` into one output (``op.fan_in_sum``) times ``max_count``, plus ``|bias|``, bounds every partial sum in
    any order. float32 holds every integer up to ``2**24`` exactly, so every product and partial sum is exact.

    The quantizer's range analysis bounds each population's whole synaptic input by ``current_max``, so in an integer
    graph this holds for every synapse, and an Add of several synapses' currents into one population stays below
    ``2**24`` as well; the check here makes each synapse prove its own share, and one that cannot stays in float64."""
    if not in_info.is_events or type(op) not in EXACT_EVENT_DENSITY_LIMIT:
        return False
    weights, bias = op.weights(), op.bias_values()
    tensors = [weights] if bias is None else [weights, bias]
    if not all(np.array_equal(tensor, np.rint(tensor)) for tensor in tensors):
        return False
    largest_bias = 0.0 if bias is None else float(np.abs(bias).max())
    return op.fan_in_sum(weights.astype(np.float64)) * in_info.max_count + largest_bias <= CHIP.current_max


def kernel_for(node, in_infos: tuple, batch: int, mode: str, dtype, exact: bool = False):
    """The callable ``inputs -> output`` computing ``node`` (not an Input; a type in ``SUPPORTED``) at each step of one
    simulation, with fresh state.

    ``exact``: ``node`` belongs to an integer graph simulated in its fastest exact arithmetic: a synapse that
    :func:`exact_in_float32` admits computes in float32 (a convolution by :class:`Im2colConv` on its dense path), an
    IntLIF node is a :class:`FloatIntMembranes`; everything else computes in ``dtype`` as without it."""
    if exact and exact_in_float32(node.op, in_infos[0]):
        op = in_dtype(node.op, np.float32)
        dense = Im2colConv(op, in_infos[0].shape, batch) if isinstance(op, Conv2d) else None
        return SynapseKernel(op, in_infos[0], node.info.shape, mode, np.float32, dense, EXACT_EVENT_DENSITY_LIMIT)
    if exact and isinstance(node.op, IntLIF):
        return FloatIntMembranes(node.op, node.info.shape, batch)
    op = in_dtype(node.op, dtype)
    if type(op) in GLUE:
        return partial(GLUE[type(op)], op)
    if type(op) in SYNAPSES:
        return SynapseKernel(op, in_infos[0], node.info.shape, mode, dtype)
    return POPULATIONS[type(op)](op, node.info.shape, batch, dtype)
