"""Compiled loops of the simulator (numba): the event-driven synapses and the fused integer neuron update.

Why compiled code: an event path is a scatter-add — each active input position adds its weights into the outputs its
fan-out reaches. NumPy can only express that by materialising the (input, target) pairs of every event (``np.add.at``
over index arrays as large as the synaptic work, or a sparse matrix of the whole layer, which is what made silent
layers cost gigabytes); a compiled loop walks the kernel's geometry directly, touching nothing but the active inputs,
the weights and the outputs. numba compiles plain Python loops with LLVM, caches the machine code on disk
(``cache=True``: about a second per kernel the first time, milliseconds after), and runs ``prange`` loops on every core.

The event kernels scan each sample's input once and, for each active position, add its weights into the outputs its
fan-out reaches: their work is the active inputs times their fan-out, plus one pass over the input and the output;
their memory is the layer's activations and weights only. Work is split into ``B * blocks`` tasks (a sample and a
block of output channels), so that both cores work at batch 1 too.

Sums over spikes and counts are computed in the order the events arrive: in an integer graph every partial sum is an
integer that float32 holds exactly (:func:`.kernels.exact_in_float32`), so any order gives the chip's sum bit for bit.

Threads: each kernel is compiled twice, with its ``prange`` loops on numba's threads and serially; a thread that
simulates a slice of the batch (:func:`run_serially`) runs the serial ones. numba's own ``workqueue`` threads are
used, not OpenMP: OpenMP threads spin while they wait, and on a machine whose cores are shared every parallel loop
then waited for a descheduled spinning thread (a SEW-ResNet-18 batch took 10x longer than on one thread).
"""

import functools
import threading
import types

import numba
import numpy as np
from numba import njit, prange

numba.config.THREADING_LAYER = "workqueue"
COMPILE = dict(cache=True, nogil=True)
_THREAD = threading.local()


def run_serially() -> None:
    """Make the calling thread run the serial version of every kernel (the batch is already split over threads)."""
    _THREAD.serial = True


class Kernel:
    """A loop compiled with its ``prange`` loops parallel and serial; calling it runs the serial one in a thread that
    :func:`run_serially`, or when its first argument (the array it scans) has fewer than ``parallel_size`` entries:
    starting the threads (0.1-0.2 ms per call) costs more than such a loop. A scatter does up to its fan-out of work
    per entry (``1 << 15``); a pass of a few operations per entry (:data:`PASS`: the neuron update, counts, sums) takes
    about 0.1 ms on one thread for ``1 << 17`` entries."""

    def __init__(self, function, parallel_size: int = 1 << 15):
        self.parallel_size = parallel_size
        self.parallel = njit(parallel=True, **COMPILE)(function)
        serial = types.FunctionType(function.__code__, function.__globals__, function.__name__)
        serial.__qualname__ = f"{function.__qualname__}_serial"  # its own entry in numba's on-disk cache
        self.serial = njit(**COMPILE)(serial)
        self.__doc__, self.__name__ = function.__doc__, function.__name__

    def __call__(self, *args):
        serial = getattr(_THREAD, "serial", False) or args[0].size < self.parallel_size
        return (self.serial if serial else self.parallel)(*args)


PASS = functools.partial(Kernel, parallel_size=1 << 17)  # a kernel doing a few operations per entry


@PASS
def active_counts(x, counts):
    """``counts[b]``: the nonzero entries of sample ``b`` of ``x`` ``[B, N]``."""
    for b in prange(x.shape[0]):
        n = 0
        for value in x[b]:
            n += value != 0
        counts[b] = n


@njit(**COMPILE)
def channel_block(task, blocks, channels):
    """The sample and the half-open range of output channels of ``task`` (``blocks`` per sample)."""
    width = (channels + blocks - 1) // blocks
    low = (task % blocks) * width
    return task // blocks, low, min(channels, low + width)


@njit(**COMPILE)
def window_spans(size, padding, kernel, stride, out_size):
    """For each input index along one axis, the first and last output index whose window holds it (``first > last``:
    none)."""
    first, last = np.empty(size, np.int64), np.empty(size, np.int64)
    for position in range(size):
        shifted = position + padding
        first[position] = max(0, (shifted - kernel + stride) // stride)
        last[position] = min(out_size - 1, shifted // stride)
    return first, last


@Kernel
def conv_scatter(x, active, weight, bias, stride_h, stride_w, pad_h, pad_w, blocks, out):
    """A convolution of the active inputs of ``x`` ``[B, C_in, H, W]``: ``weight`` ``[C_in, kH, kW, C_out]``,
    ``bias`` ``[C_out]``, ``out`` ``[B, H_out, W_out, C_out]`` (channels last, so that one active input adds a
    contiguous row of weights per kernel tap). A sample whose ``active[b]`` is 0 has no input event: its input is
    not scanned."""
    batch, channels_in, in_h, in_w = x.shape
    kernel_h, kernel_w, channels = weight.shape[1], weight.shape[2], weight.shape[3]
    out_h, out_w = out.shape[1], out.shape[2]
    first_rows, last_rows = window_spans(in_h, pad_h, kernel_h, stride_h, out_h)
    first_cols, last_cols = window_spans(in_w, pad_w, kernel_w, stride_w, out_w)
    for task in prange(batch * blocks):
        b, low, high = channel_block(task, blocks, channels)
        for i in range(out_h):
            for j in range(out_w):
                out[b, i, j, low:high] = bias[low:high]
        if active[b] == 0:
            continue
        for c in range(channels_in):
            for row in range(in_h):
                line = x[b, c, row]
                for col in range(in_w):
                    value = line[col]
                    if value == 0:
                        continue
                    for i in range(first_rows[row], last_rows[row] + 1):
                        tap_row = row + pad_h - i * stride_h
                        for j in range(first_cols[col], last_cols[col] + 1):
                            tap = weight[c, tap_row, col + pad_w - j * stride_w, low:high]
                            target = out[b, i, j, low:high]
                            for o in range(target.shape[0]):  # from 0: a loop LLVM vectorizes
                                target[o] += value * tap[o]


@Kernel
def linear_scatter(x, active, weight_t, bias, blocks, out):
    """``out = x @ weight_t + bias`` over the active inputs of ``x`` ``[B, N_in]``: ``weight_t`` ``[N_in, N_out]``,
    ``out`` ``[B, N_out]``; a sample whose ``active[b]`` is 0 is not scanned."""
    channels = weight_t.shape[1]
    for task in prange(x.shape[0] * blocks):
        b, low, high = channel_block(task, blocks, channels)
        target = out[b, low:high]
        target[:] = bias[low:high]
        if active[b] == 0:
            continue
        for index in range(x.shape[1]):
            value = x[b, index]
            if value == 0:
                continue
            row = weight_t[index, low:high]
            for o in range(target.shape[0]):
                target[o] += value * row[o]


@Kernel
def pool_scatter(x, active, kernel_h, kernel_w, stride_h, stride_w, pad_h, pad_w, weight, divisor, blocks, out):
    """Per-channel sums over sliding windows of the active inputs of ``x`` ``[B, C, H, W]``, times ``weight`` and
    divided by ``divisor``: ``out`` ``[B, C, H_out, W_out]``. A sum of spikes or counts is an integer, exact in any
    order, so the result is the dense path's (``sum * weight`` or ``sum / divisor``) bit for bit. A sample whose
    ``active[b]`` is 0 is not scanned (its sums are 0)."""
    batch, channels, in_h, in_w = x.shape
    out_h, out_w = out.shape[2], out.shape[3]
    first_rows, last_rows = window_spans(in_h, pad_h, kernel_h, stride_h, out_h)
    first_cols, last_cols = window_spans(in_w, pad_w, kernel_w, stride_w, out_w)
    for task in prange(batch * blocks):
        b, low, high = channel_block(task, blocks, channels)
        for c in range(low, high):
            plane = out[b, c]
            plane[:] = 0
            for row in range(in_h if active[b] else 0):
                line = x[b, c, row]
                for col in range(in_w):
                    value = line[col]
                    if value == 0:
                        continue
                    for i in range(first_rows[row], last_rows[row] + 1):
                        for j in range(first_cols[col], last_cols[col] + 1):
                            plane[i, j] += value
            for i in range(out_h):
                for j in range(out_w):
                    plane[i, j] = plane[i, j] * weight / divisor


@PASS
def channels_first(channels_last, out):
    """``out[b, c, p] = channels_last[b, p, c]``: a convolution's event output in the layout every kernel reads."""
    batch, positions, channels = channels_last.shape
    for b in prange(batch):
        source, target = channels_last[b], out[b]
        for c in range(channels):
            for p in range(positions):
                target[c, p] = source[p, c]


@PASS
def one_to_one(x, scale, shift, plane, out):
    """``out = x * scale[c] + shift[c]`` per position of ``x`` ``[B, C * plane]``: a silent input only writes the
    shift. The same arithmetic as NumPy's ``x * scale + shift``, bit for bit."""
    batch, size = x.shape
    channels = size // plane
    for task in prange(batch * channels):
        b, c = task // channels, task % channels
        weight, offset = scale[c], shift[c]
        for p in range(c * plane, (c + 1) * plane):
            value = x[b, p]
            out[b, p] = offset if value == 0 else value * weight + offset


@njit(**COMPILE)
def decayed(x, kept, decay_bits):
    """``sign(x) * ((|x| * kept) >> decay_bits)`` on one int64, as :func:`snncompile.integer.decayed`."""
    magnitude = (abs(x) * kept) >> decay_bits
    return -magnitude if x < 0 else magnitude


@PASS
def cuba_update(synaptic, current, membrane, spikes, fired, bias, keeps_current, current_decay, decay, threshold, shift,
                decay_bits, state_bits, state_max):
    """Steps of :func:`snncompile.integer.cuba_step` on every neuron, in one pass: the same integer operations on
    int64, with the state stored in float32 (``|u|, |v| <= 2**23`` are exact in it).

    ``spikes`` is ``[T, B * C, plane]``, ``synaptic`` the same or ``[1, B * C, plane]`` (the same input at every
    step), ``membrane`` and ``current`` (read and written only when ``keeps_current``) ``[B * C, plane]``: one row per
    sample and channel, whose T steps run in turn (its state stays in cache); ``fired`` ``[T, B * C]`` gets the spikes
    of each row at each step; ``bias`` holds ``bias << shift`` per channel; ``threshold`` is ``threshold << shift``."""
    steps, rows, plane = spikes.shape
    constant = synaptic.shape[0] == 1
    channels = bias.shape[0]
    half, mask = 1 << (state_bits - 1), (1 << state_bits) - 1
    for row in prange(rows):
        offset = bias[row % channels]
        v_row, u_row = membrane[row], current[row]
        for t in range(steps):
            fired_here = 0
            synaptic_row, spikes_row = synaptic[0 if constant else t, row], spikes[t, row]
            for k in range(plane):
                u = np.int64(synaptic_row[k]) << shift
                if keeps_current:
                    u += decayed(np.int64(u_row[k]), current_decay, decay_bits)
                u = ((u + half - 1) & mask) - half + 1
                if keeps_current:
                    u_row[k] = u
                v = decayed(np.int64(v_row[k]), decay, decay_bits) + u + offset
                v = min(max(v, -state_max), state_max)
                spiked = v > threshold
                v_row[k] = 0 if spiked else v
                spikes_row[k] = spiked
                fired_here += spiked
            fired[t, row] = fired_here


@PASS
def sample_sums(x, sums):
    """``sums[b] = x[b].sum()`` in float64 for spikes or counts ``x`` ``[B, N]``: integers, whose sum is exact in any
    order, so four running sums are added alternately (the loop does not wait for each addition)."""
    for b in prange(x.shape[0]):
        row = x[b]
        partial = np.zeros(4)
        whole = row.shape[0] - row.shape[0] % 4
        for i in range(0, whole, 4):
            for lane in range(4):
                partial[lane] += row[i + lane]
        total = partial.sum()
        for i in range(whole, row.shape[0]):
            total += row[i]
        sums[b] = total
