"""What a synaptic op needs before it can run, computed once per op and kept for every later simulation.

A graph's ops are frozen, so everything derived from one — whether its sums are exact in float32, its tensors cast to
the type it computes in, the weight layouts of its event and dense kernels, its work per sample — is computed the first
time the op is simulated and cached on the op object (:func:`prepared`: a weak-key cache, so it goes with the graph).
Simulating a graph again, or a slice of its batch, only allocates buffers.
"""

import dataclasses
import threading
import weakref

import numpy as np

from snncompile.chip import LOIHI2
from snncompile.ir.ops import Affine, AvgPool2d, Conv2d, Linear, Readout, SumPool2d
from snncompile.ir.ops.base import NEURON

CHIP = LOIHI2  # the chip whose integer arithmetic the simulator runs (IntLIF neurons, the exact float32 sums)

EXACT_TYPES = (Conv2d, SumPool2d, Linear, Readout, Affine)  # synapses with an exact float32 path
POOLS = (AvgPool2d, SumPool2d)


def in_dtype(op, dtype):
    """``op`` with its tensors cast to ``dtype`` (integer weights too: their sums stay exact in float64 up to 2**53);
    an IntLIF keeps its integer bias."""
    if op.role == NEURON:
        return op
    cast = {name: tensor.astype(dtype, copy=False) for name, tensor in op.tensors().items()}
    return dataclasses.replace(op, **cast) if cast else op


def exact_in_float32(op, in_info) -> bool:
    """Whether synaptic ``op`` computes exactly in float32 on inputs ``in_info``: an op type with an exact float32 path
    (:data:`EXACT_TYPES`), integer weights and bias, inputs that are spikes or counts (integers in ``0..max_count``),
    and no partial sum beyond ``CHIP.current_max`` (131071) in magnitude — the largest sum of ``|weight|`` into one
    output (``op.fan_in_sum``) times ``max_count``, plus ``|bias|``, bounds every partial sum in any order. float32
    holds every integer up to ``2**24`` exactly, so every product and partial sum is exact.

    The quantizer's range analysis bounds each population's whole synaptic input by ``current_max``, so in an integer
    graph this holds for every synapse, and an Add of several synapses' currents into one population stays below
    ``2**24`` as well; the check here makes each synapse prove its own share, and one that cannot stays in float64."""
    if not in_info.is_events or not isinstance(op, EXACT_TYPES):
        return False
    weights, bias = op.weights(), op.bias_values()
    tensors = [weights] if bias is None else [weights, bias]
    if not all(np.array_equal(tensor, np.rint(tensor)) for tensor in tensors):
        return False
    largest_bias = 0.0 if bias is None else float(np.abs(bias).max())
    return op.fan_in_sum(weights.astype(np.float64)) * in_info.max_count + largest_bias <= CHIP.current_max


@dataclasses.dataclass(frozen=True)
class PreparedSynapse:
    """A synaptic op ready to run on inputs described by ``in_info``: ``op`` with its tensors in ``dtype``, and

    - ``event_weight``: the weights as the event kernel reads them (a convolution ``[C_in, kH, kW, C_out]``, a linear
      map ``[N_in, N_out]``, a pool's one weight as ``[1]``, a one-to-one map's scale per channel);
    - ``bias``: the bias per output channel, zeros without one (a one-to-one map's shift);
    - ``fan_out``: the mean synapses per input position, added in rows of ``row_length`` weights by the event kernel;
      ``dense_kernel``: what the dense path runs (:data:`.cost.DENSE_NS_PER_MAC`): ``"torch"`` (a convolution:
      PyTorch's, which skips the taps that read only zero padding), ``"torch pool"`` (a float32 sum
      pool: PyTorch's window sums), ``"blas"`` (NumPy's contraction or matrix product) or ``"pool"`` (NumPy's window
      sums); ``macs``: its multiply-adds per sample."""

    op: object
    dtype: type
    event_weight: np.ndarray
    bias: np.ndarray
    fan_out: float
    row_length: int
    dense_kernel: str
    macs: int


def prepare(op, in_info, out_info, dtype, exact: bool) -> PreparedSynapse:
    """:class:`PreparedSynapse` of ``op`` in ``dtype`` — float32 instead when ``exact`` and :func:`exact_in_float32`."""
    exact = exact and exact_in_float32(op, in_info)
    dtype = np.float32 if exact else dtype
    op = in_dtype(op, dtype)
    bias = op.bias_values()
    bias = np.zeros(out_info.shape[0], dtype) if bias is None else np.asarray(bias, dtype)
    row_length, dense_kernel = out_info.shape[0], "blas"
    synapses = op.synapse_count((in_info,))
    if isinstance(op, Conv2d):
        event_weight = np.ascontiguousarray(op.weight.transpose(1, 2, 3, 0))
        dense_kernel, macs = "torch", synapses
    elif isinstance(op, Linear):
        event_weight = np.ascontiguousarray(op.weight.T)
        macs = op.weight.size
    elif isinstance(op, POOLS):
        event_weight, row_length = np.asarray(op.weights(), dtype), 1
        macs = op.kernel[0] * op.kernel[1] * out_info.size
        # PyTorch pools exact sums (a float32 SumPool2d) where its padding rule (at most half the window) allows
        fits = all(2 * pad <= size for pad, size in zip(op.padding, op.kernel))
        dense_kernel = "torch pool" if dtype == np.float32 and isinstance(op, SumPool2d) and fits else "pool"
    else:  # one-to-one
        event_weight = np.asarray(op.weights(), dtype)
        macs = out_info.size
    return PreparedSynapse(op, dtype, event_weight, bias, synapses / in_info.size, row_length, dense_kernel, macs)


_PREPARED = weakref.WeakKeyDictionary()  # op -> {(in_info, out_info, dtype, exact): PreparedSynapse}
_LOCK = threading.Lock()


def prepared(op, in_info, out_info, dtype, exact: bool) -> PreparedSynapse:
    """:func:`prepare`, once per op and arguments (later calls, from any simulation of the graph, reuse it)."""
    key = (in_info, out_info, np.dtype(dtype).str, exact)
    with _LOCK:
        cached = _PREPARED.setdefault(op, {})
        if key not in cached:
            cached[key] = prepare(op, in_info, out_info, dtype, exact)
        return cached[key]
