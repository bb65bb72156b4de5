"""The simulator's kernels: what each op computes in one timestep, on batch-first arrays ``[B, *shape]``.

Three families, each in a table keyed by op type:

- ``GLUE``: stateless ops, pure functions ``(op, inputs) -> array``.
- ``SYNAPSES``: weighted ops with a dense function ``(op, x) -> array`` and an unrolled connection matrix
  (:mod:`.unrolled`); a :class:`Synapse` runs one of them per step, following the active inputs when they are few.
- ``POPULATIONS``: LIF and MLF neurons (float membranes, :class:`Population`) and IntLIF neurons (the chip's integer
  arithmetic, :class:`IntPopulation`), whose membranes persist between steps.

:func:`kernel_for` turns a graph node into a callable ``inputs -> output`` for one simulation.
"""

import dataclasses
from functools import partial

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view
from scipy import sparse

from snncompile import integer

from . import unrolled

# Highest fraction of nonzero input entries at which ``mode="auto"`` takes the event path, per op type, from
# bench/simulator_paths.py (2 cores, batch 64, float64; table in its docstring). The event path is faster below about
# 5-7 % activity for a 16->16 3x3 conv at 32x32 (0.4x the dense time at 1 %, 5x at 50 %), below about 20 % for a 2x2
# average pool (fan-out 1), and below 5-12 % for a 1024->256 linear layer (BLAS timing varies from run to run).
EVENT_DENSITY_LIMIT = {"Conv2d": 0.05, "AvgPool2d": 0.15, "SumPool2d": 0.15, "Linear": 0.05, "Readout": 0.05}

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


GLUE = {"Flatten": flatten, "MaxPool2d": max_pool2d, "BatchNorm": batch_norm, "Affine": affine, "Add": add,
        "SEWLogic": sew_logic, "Quantize": quantize}


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


SYNAPSES = {"Conv2d": (conv2d, unrolled.conv2d), "AvgPool2d": (avg_pool2d, unrolled.avg_pool2d),
            "SumPool2d": (sum_pool2d, unrolled.sum_pool2d), "Linear": (linear, unrolled.linear),
            "Readout": (linear, unrolled.linear)}


class Synapse:
    """A synaptic node for one simulation: computes each step on the dense path or on the event path.

    The event path multiplies the active inputs (a CSR matrix ``[B, N_in]``) by the node's connection matrix
    ``[N_in, N_out]``, built on first use, so its work is the number of active inputs times their fan-out. Analog
    inputs always take the dense path; event inputs take the event path when ``mode="event"``, or in ``mode="auto"``
    when at most ``EVENT_DENSITY_LIMIT`` of their entries are nonzero. ``paths`` counts the steps each path computed.
    """

    def __init__(self, op, in_info, out_shape: tuple, mode: str, dtype):
        self.op, self.in_shape, self.out_shape, self.dtype = op, in_info.shape, out_shape, dtype
        self.dense, self.unroll = SYNAPSES[op.kind]
        self.density_limit = {"event": 1.0, "dense": None, "auto": EVENT_DENSITY_LIMIT[op.kind]}[mode]
        self.events = in_info.is_events and self.density_limit is not None
        self.connections = self.bias = None
        self.paths = {"event": 0, "dense": 0}

    def __call__(self, inputs):
        (x,) = inputs
        if self.events:
            flat = np.ascontiguousarray(x).reshape(x.shape[0], -1)
            active = np.flatnonzero(flat)
            if active.size <= self.density_limit * flat.size:
                self.paths["event"] += 1
                return self.event(flat, active)
        self.paths["dense"] += 1
        return self.dense(self.op, x)

    def event(self, flat: np.ndarray, active: np.ndarray) -> np.ndarray:
        """The output from the inputs ``flat`` ``[B, N_in]`` whose nonzero entries are at flat indices ``active``."""
        if self.connections is None:
            matrix, self.bias = self.unroll(self.op, self.in_shape)
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

class Population:
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


class IntPopulation:
    """The integer membranes ``[B, *shape]`` of an IntLIF node, updated by :func:`snncompile.integer.lif_step`.

    Its input is an integer-valued current computed in floating point (exact below 2**53); it is converted to int64
    here, and every step from there is the chip's integer arithmetic."""

    def __init__(self, op, shape: tuple, batch: int, dtype):
        self.op = op
        self.bias = 0 if op.bias is None else op.bias.astype(np.int64).reshape(-1, *([1] * (len(shape) - 1)))
        self.membrane = np.zeros((batch, *shape), np.int64)

    def __call__(self, inputs):
        (current,) = inputs
        spikes, self.membrane = integer.lif_step(self.membrane, current.astype(np.int64), self.op.decay_12bit,
                                                 self.bias, self.op.threshold)
        return spikes.astype(current.dtype)


POPULATIONS = {"LIF": Population, "MLF": Population, "IntLIF": IntPopulation}

SUPPORTED = frozenset({"Input", *GLUE, *SYNAPSES, *POPULATIONS})


def in_dtype(op, dtype):
    """``op`` with its tensors cast to ``dtype`` (integer weights too: their sums stay exact in float64 up to 2**53);
    an IntLIF keeps its integer bias."""
    if op.kind in POPULATIONS:
        return op
    cast = {name: tensor.astype(dtype, copy=False) for name, tensor in op.tensors().items()}
    return dataclasses.replace(op, **cast) if cast else op


def kernel_for(node, in_infos: tuple, batch: int, mode: str, dtype):
    """The callable ``inputs -> output`` computing ``node`` (not an Input; a type in ``SUPPORTED``) at each step of one
    simulation, with fresh state."""
    op = in_dtype(node.op, dtype)
    if op.kind in GLUE:
        return partial(GLUE[op.kind], op)
    if op.kind in SYNAPSES:
        return Synapse(op, in_infos[0], node.info.shape, mode, dtype)
    return POPULATIONS[op.kind](op, node.info.shape, batch, dtype)
