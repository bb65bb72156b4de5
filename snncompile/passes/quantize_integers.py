"""The integer rewrite of the quantizer: each float op of a group as the chip's integer op at the group's scale ``s``.

::

    W_int = rint(W * s)  (saturated to the weight width)     bias_int = rint(b * s)     threshold_int = rint(theta * s)
    D = rint(decay * 2**decay_bits)  (at least the chip's smallest leak)

Biases of every synapse into a population move onto the population (a chip adds them there). An average pool becomes
a :class:`SumPool2d` whose one integer weight holds its ``1 / (kH*kW)``. A ``>=`` comparison becomes ``>`` with the
threshold one lower where that is exact (non-leaking neurons, whose membranes stay on multiples of
``2**current_shift``); for leaky ones it is an approximation the quantizer reports.
"""

from dataclasses import replace

import numpy as np

from ..chip import Chip
from ..integer import decay_12bit
from ..ir import Graph
from ..ir.ops import AvgPool2d, IntLIF, Readout, SumPool2d
from ..ir.structure import population_synapses
from .quantize_scales import Group, weight_max


def rint(values, dtype=np.int32) -> np.ndarray:
    return np.rint(values).astype(dtype)


def weights_int(values, bits: int) -> np.ndarray:
    """``rint(values)`` saturated to the ``bits``-bit signed range."""
    qmax = weight_max(bits)
    return np.clip(np.rint(values), -qmax - 1, qmax).astype(np.int32)


def integer_synapse(op, scale: float, bits: int):
    """Synapse ``op`` with integer weights at ``scale`` and no bias (it moves onto the population)."""
    if isinstance(op, AvgPool2d):  # a chip stores the pool's 1/(kH*kW) in one integer weight of a window sum
        weight = weights_int(scale / (op.kernel[0] * op.kernel[1]), bits)
        return SumPool2d(op.kernel, op.stride, op.padding, int(weight))
    return op.with_weights(weights_int(op.weights() * scale, bits), None)


def integer_readout(op: Readout, scale: float, bits: int) -> Readout:
    """The readout with integer weights and bias at ``scale``, which its ``output_scale`` divides back out."""
    bias = op.bias_values()
    integer = op.with_weights(weights_int(op.weights() * scale, bits), None if bias is None else rint(bias * scale))
    return replace(integer, output_scale=scale)


def integer_population(graph: Graph, name: str, group: Group, chip: Chip) -> IntLIF:
    """LIF population ``name`` as the chip's :class:`IntLIF`, carrying the biases of its on-chip synapses."""
    op, s = graph[name].op, group.scale
    bias = np.zeros(graph[name].info.shape[0])
    for synapse, count in population_synapses(graph, name).items():
        b = graph[synapse].op.bias_values()
        if not group.synapses[synapse] and b is not None:
            bias = bias + count * b
    bias_int = rint(bias * s, np.int64)
    decay = max(decay_12bit(op.decay, chip), chip.decay_range[0])  # a decay of 0 keeps the chip's smallest leak
    threshold = int(round(op.threshold * s))
    if op.inclusive and decay == chip.decay_one and threshold > 0:
        threshold -= 1  # without leak v stays on multiples of 2**shift: v >= th << shift  <=>  v > (th - 1) << shift
    return IntLIF(threshold, decay, bias_int if bias_int.any() else None, s, op.model)
