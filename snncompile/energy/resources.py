"""The widths a graph's stored values take on a chip, and a population's neurons: what the placement and the
memory-traffic term need (:mod:`.placement` places the populations on cores and chips).

An integer graph stores its weights at the quantizer's width and its biases and neuron state at the chip's widths;
a float graph (and the host's float layers) at 32 bits.
"""

from dataclasses import dataclass

import numpy as np

from snncompile.chip import LOIHI2, Chip
from snncompile.ir.ops.base import NEURON

FLOAT_BITS = 32


@dataclass(frozen=True)
class Widths:
    """Bits per stored weight, bias and neuron state: the chip's widths for an integer graph (weights at the
    quantizer's width), 32-bit floats otherwise."""

    weight: int
    bias: int
    state: int


def widths(graph, chip: Chip = LOIHI2) -> Widths:
    if graph.metadata.get("integer"):
        return Widths(int(graph.metadata.get("bits", chip.weight_bits)), chip.bias_bits, chip.state_bits)
    return Widths(FLOAT_BITS, FLOAT_BITS, FLOAT_BITS)


def weight_bits(node, width: Widths) -> int:
    """Bits of one weight of synaptic ``node`` at ``width``: a float tensor (the host's layers) is 32-bit."""
    tensor = node.op.weights()
    if isinstance(tensor, np.ndarray) and tensor.dtype.kind == "f":
        return FLOAT_BITS
    return width.weight


def population_neurons(node) -> int:
    """Neurons of population ``node``: its neurons (every level), or one integrator per output of a readout."""
    return node.op.neuron_count(node.info) if node.op.role == NEURON else node.info.size
