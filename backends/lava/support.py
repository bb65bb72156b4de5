"""What a chip can run, as Lava's fixed-point models implement it: one line per node it cannot, naming the node.

A supported graph is an integer graph from the quantizer (:mod:`snncompile.passes.quantize`):

- host part (:func:`snncompile.ir.structure.host_nodes`): analog Inputs and the float ops on them, ending in
  ``Quantize`` nodes;
- on chip: IntLIF populations whose input is a sum of integer currents (``Quantize`` outputs and synapses reading
  spikes or counts, with integer weights and no bias), sums and flattenings of spikes, spike Inputs, and one
  ``Readout`` as the graph's output that nothing reads;
- within the chip's widths (:class:`snncompile.chip.Chip`): weights, thresholds and biases, decays ``D`` in its
  ``decay_range`` (Loihi's ``dv`` is 12 bits; ``D = 0`` does not exist) and current decays ``Du`` from 0 to its
  ``current_pass_through`` (``du = current_pass_through - Du``, 12 bits).
"""

import numpy as np

from snncompile.chip import Chip
from snncompile.ir.ops import LIF, MLF, Flatten, Input, IntLIF, Quantize, Readout
from snncompile.ir.ops.base import SYNAPSE
from snncompile.ir.structure import event_terms, host_nodes

from ..base import read_readout


def unsupported(graph, chip: Chip) -> list:
    """One line per node of ``graph`` that ``chip`` cannot run, naming the node and why; empty when it runs them all."""
    host = set(host_nodes(graph))
    problems = []
    for node in graph:
        if node.name not in host:
            problems += [f"node {node.name!r} ({node.op.kind}): {reason}"
                         for reason in _node_problems(graph, node, host, chip)]
    readouts = [node.name for node in graph if isinstance(node.op, Readout)]
    if not graph.outputs or not isinstance(graph[graph.outputs[0]].op, Readout):
        problems.append(f"graph {graph.name!r}: its output must be a Readout (the chip's non-spiking integrator), "
                        f"got {graph.outputs[:1] or 'none'}")
    if len(readouts) > 1:
        problems.append(f"graph {graph.name!r}: one Readout per network, got {len(readouts)}: {readouts}")
    return problems


def chip_synapse(op) -> bool:
    """Whether ``op`` is a synapse the chip holds between populations (not the readout's, not one a pass removes)."""
    return op.role == SYNAPSE and not op.integrates and op.lowered_by is None


def _node_problems(graph, node, host: set, chip: Chip) -> list:
    """Why the on-chip (or unplaceable) ``node`` cannot run on ``chip``."""
    op = node.op
    reasons = [f"reads {i!r}, an analog host value that enters the chip without a Quantize"
               for i in node.inputs if i in host and not isinstance(graph[i].op, Quantize)]
    if isinstance(op, (LIF, MLF)):
        reasons.append("a float neuron; the chip runs integer IntLIF populations (quantize the graph first)")
        if op.reset != "hard" or op.v_reset != 0:
            reasons.append(f"{op.reset} reset to {op.v_reset}: Loihi neurons only reset hard, to 0")
    elif op.lowered_by is not None:
        reasons.append(f"not a chip op; the lowering pass {op.lowered_by} replaces it (compile the graph first)")
    elif isinstance(op, IntLIF):
        reasons += _range("threshold", op.threshold, 0, chip.threshold_max)
        reasons += _range("decay_12bit D", op.decay_12bit, *chip.decay_range)
        reasons += _range("current_decay_12bit Du", op.current_decay_12bit, 0, chip.current_pass_through)
        if op.bias is not None:
            reasons += _range("bias", op.bias, *chip.bias_range)
        reasons += _current_problems(graph, node.inputs[0], host)
    elif isinstance(op, Readout):
        reasons += _synapse_problems(graph, node, chip)
        if op.bias is not None:
            reasons += _range("bias", op.bias, *chip.bias_range)
        if read_readout(graph, node):
            reasons.append(read_readout(graph, node))
    elif chip_synapse(op):
        reasons += _synapse_problems(graph, node, chip)
    elif op.current_glue and not node.info.is_events:
        for i in node.inputs:
            reasons += _current_problems(graph, i, host)
    elif isinstance(op, Flatten) and not node.info.is_events:
        reasons.append("flattens a synaptic current; the chip flattens spikes only")
    elif isinstance(op, Quantize):
        reasons.append(f"quantizes {node.inputs[0]!r}, which the host does not compute")
    elif not (op.event_glue or isinstance(op, Input)):
        reasons.append("no Loihi mapping for this op type")
    return reasons


def _current_problems(graph, name: str, host: set) -> list:
    """Why ``name`` is not an integer current a population can sum at its input, if it is not."""
    node = graph[name]
    if isinstance(node.op, Quantize) or (node.op.current_glue and not node.info.is_events and name not in host):
        return []
    if chip_synapse(node.op) and graph[node.inputs[0]].info.is_events:
        return []
    return [f"sums {name!r} ({node.op.kind}, {node.info.describe()}) into a population's input, which takes "
            f"synaptic currents only (spikes need an explicit synapse)"]


def _synapse_problems(graph, node, chip: Chip) -> list:
    """Why an on-chip synapse's weights or input do not fit the chip's synapses."""
    op, source = node.op, graph[node.inputs[0]]
    if not source.info.is_events:
        return [f"reads {source.name!r}, a current; chip synapses read spikes or counts"]
    reasons = []
    bias = None if isinstance(op, Readout) else op.bias_values()
    if bias is not None and np.any(bias != 0):
        reasons.append(f"has a bias ({op.bias_field}); on chip the bias belongs to the population (quantize the "
                       f"graph)")
    repeats = max(event_terms(graph, source.name).values())
    return reasons + _range(f"weights (x{repeats}, a source summed {repeats} times)" if repeats > 1 else "weights",
                            np.asarray(op.weights()) * repeats, *chip.weight_range)


def _range(what: str, values, low: int, high: int) -> list:
    """Why integer ``values`` do not fit ``[low, high]``, if they do not."""
    values = np.asarray(values)
    if values.dtype.kind == "f" and not np.all(values == np.rint(values)):
        return [f"{what}: not integers (a float graph? quantize it first)"]
    if values.size and (values.min() < low or values.max() > high):
        return [f"{what}: [{values.min()}, {values.max()}] is outside the chip's range [{low}, {high}]"]
    return []
