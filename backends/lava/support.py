"""What Loihi 2 (as Lava's fixed-point models implement it) can run: one line per node it cannot, naming the node.

A supported graph is an integer graph from the quantizer (:mod:`snncompile.passes.quantize`):

- host part: analog Inputs and the float ops on them (:data:`.network.HOST_OPS`), ending in ``Quantize`` nodes;
- on chip: IntLIF populations whose input is a sum of integer currents (``Quantize`` outputs and synapses: Conv2d,
  Linear, Affine, SumPool2d reading spikes or counts, 9-bit weights, no bias), sums and flattenings of spikes, spike
  Inputs, and one ``Readout`` (9-bit weights, 13-bit bias) as the graph's output that nothing reads;
- within the widths of :data:`snncompile.integer.LOIHI2`: thresholds 17-bit, biases 13-bit, decays ``D`` in
  ``[1, 4096]`` (Loihi's ``dv`` is 12 bits; ``D = 0`` does not exist).
"""

import numpy as np

from snncompile.integer import DECAY_ONE, LOIHI2

from ..base import read_readout
from .network import host_nodes, spike_terms

CHIP_SYNAPSES = ("Conv2d", "Linear", "Affine", "SumPool2d")
LOWERED_AWAY = ("BatchNorm", "MaxPool2d", "SEWLogic", "AvgPool2d")


def unsupported(graph) -> list:
    """One line per node of ``graph`` that Loihi cannot run, naming the node and why; empty when it runs them all."""
    host = set(host_nodes(graph))
    problems = []
    for node in graph:
        if node.name not in host:
            problems += [f"node {node.name!r} ({node.op.kind}): {reason}" for reason in _node_problems(graph, node, host)]
    readouts = [node.name for node in graph if node.op.kind == "Readout"]
    if not graph.outputs or graph[graph.outputs[0]].op.kind != "Readout":
        problems.append(f"graph {graph.name!r}: its output must be a Readout (the chip's non-spiking integrator), "
                        f"got {graph.outputs[:1] or 'none'}")
    if len(readouts) > 1:
        problems.append(f"graph {graph.name!r}: one Readout per network, got {len(readouts)}: {readouts}")
    return problems


def _node_problems(graph, node, host: set) -> list:
    """Why the on-chip (or unplaceable) ``node`` cannot run on Loihi."""
    op, kind = node.op, node.op.kind
    reasons = [f"reads {i!r}, an analog host value that enters the chip without a Quantize"
               for i in node.inputs if i in host and graph[i].op.kind != "Quantize"]
    if kind in ("LIF", "MLF"):
        reasons.append("a float neuron; the chip runs integer IntLIF populations (quantize the graph first)")
        if op.reset != "hard" or op.v_reset != 0:
            reasons.append(f"{op.reset} reset to {op.v_reset}: Loihi neurons only reset hard, to 0")
    elif kind == "IntLIF":
        reasons += _range("threshold", op.threshold, 0, LOIHI2.threshold_max)
        reasons += _range("decay_12bit D", op.decay_12bit, 1, DECAY_ONE)
        if op.bias is not None:
            reasons += _range("bias", op.bias, *LOIHI2.bias_range)
        reasons += _current_problems(graph, node.inputs[0], host)
    elif kind in CHIP_SYNAPSES:
        reasons += _synapse_problems(graph, node)
    elif kind == "Readout":
        reasons += _synapse_problems(graph, node)
        if op.bias is not None:
            reasons += _range("bias", op.bias, *LOIHI2.bias_range)
        if read_readout(graph, node):
            reasons.append(read_readout(graph, node))
    elif kind == "Add" and not node.info.is_events:
        for i in node.inputs:
            reasons += _current_problems(graph, i, host)
    elif kind == "Flatten" and not node.info.is_events:
        reasons.append("flattens a synaptic current; the chip flattens spikes only")
    elif kind == "Quantize":
        reasons.append(f"quantizes {node.inputs[0]!r}, which the host does not compute")
    elif kind in LOWERED_AWAY:
        reasons.append("not a chip op; run the lowering passes (snncompile.compiler.lower_and_quantize) first")
    elif kind not in ("Add", "Flatten", "Input"):
        reasons.append("no Loihi mapping for this op type")
    return reasons


def _current_problems(graph, name: str, host: set) -> list:
    """Why ``name`` is not an integer current a population can sum at its input, if it is not."""
    node = graph[name]
    if node.op.kind == "Quantize" or (node.op.kind == "Add" and not node.info.is_events and name not in host):
        return []
    if node.op.kind in CHIP_SYNAPSES and graph[node.inputs[0]].info.is_events:
        return []
    return [f"sums {name!r} ({node.op.kind}, {node.info.describe()}) into a population's input, which takes "
            f"synaptic currents only (spikes need an explicit synapse)"]


def _synapse_problems(graph, node) -> list:
    """Why an on-chip synapse's weights or input do not fit Loihi's synapses."""
    op, source = node.op, graph[node.inputs[0]]
    if not source.info.is_events:
        return [f"reads {source.name!r}, a current; chip synapses read spikes or counts"]
    reasons = []
    if op.kind in ("Conv2d", "Linear") and op.bias is not None:
        reasons.append("has a bias; on chip the bias belongs to the population (quantize the graph)")
    if op.kind == "Affine" and np.any(op.shift != 0):
        reasons.append("has a shift; on chip a one-to-one synapse has none (quantize the graph)")
    weights = np.asarray(op.weight if op.kind == "SumPool2d" else op.scale if op.kind == "Affine" else op.weight)
    repeats = max(spike_terms(graph, source.name).values())
    return reasons + _range(f"weights (x{repeats}, a source summed {repeats} times)" if repeats > 1 else "weights",
                            weights * repeats, *LOIHI2.weight_range)


def _range(what: str, values, low: int, high: int) -> list:
    """Why integer ``values`` do not fit ``[low, high]``, if they do not."""
    values = np.asarray(values)
    if values.dtype.kind == "f" and not np.all(values == np.rint(values)):
        return [f"{what}: not integers (a float graph? quantize it first)"]
    if values.size and (values.min() < low or values.max() > high):
        return [f"{what}: [{values.min()}, {values.max()}] is outside the chip's range [{low}, {high}]"]
    return []
