"""The layers of lava-dl netx 0.6 that an integer graph is made of, and why a graph is not one.

netx describes a network as a chain: an ``input`` layer (spikes enter the next layer), then ``conv`` and ``dense``
layers, each a synapse followed by CUBA neurons, with ``flatten`` before a dense layer that reads a convolution. Its
reader raises ``NotImplementedError`` for ``pool``, ``average``, ``concat``, ``convT`` and ``unpool``: there are no
pooling layers and no residual (skip) connections. So a graph fits when it is a chain

    Input(spikes) -> [Flatten] -> Conv2d|Linear -> IntLIF -> ... -> [Flatten] -> Readout

and each layer's numbers fit netx's encoding: the widths of the netx target's chip (:func:`unsupported`). The Readout
becomes a last dense layer whose CUBA neurons never fire (threshold at the chip's maximum) and integrate without leak:
its membrane is the readout's sum.
"""

from dataclasses import dataclass

import numpy as np

from snncompile.chip import Chip
from snncompile.ir.ops import (LIF, MLF, Add, AvgPool2d, Conv2d, Flatten, Input, IntLIF, Linear, MaxPool2d, Readout,
                               SEWLogic, SumPool2d)

CHAIN = "netx describes a chain of layers (input, conv, dense, flatten)"
NO_POOLING = "netx 0.6 has no pooling layer (its reader raises NotImplementedError for 'pool' and 'average')"
NO_RESIDUAL = "netx 0.6 has no residual or summing connections (its reader raises NotImplementedError for 'concat')"
INPUT, CONV, DENSE, FLATTEN = "input", "conv", "dense", "flatten"   # netx layer types


@dataclass
class NetxLayer:
    """One netx layer: ``kind`` is ``conv``, ``dense`` or ``flatten``; ``synapse`` and ``neuron`` name IR nodes (the
    neuron is an IntLIF, or the Readout for the last layer)."""

    kind: str
    shape: tuple
    synapse: str = ""
    neuron: str = ""

    @property
    def is_conv(self) -> bool:
        return self.kind == CONV

    @property
    def has_neurons(self) -> bool:
        """A synapse and its neurons (a ``conv`` or ``dense`` layer), not a ``flatten``."""
        return self.kind != FLATTEN

    @property
    def is_readout(self) -> bool:
        """The last dense layer, whose synapse and integrating neurons are the Readout node."""
        return self.has_neurons and self.neuron == self.synapse


def unsupported(graph, chip: Chip) -> list:
    """One line per node of ``graph`` that netx 0.6 cannot describe in the widths of ``chip``, naming the node and
    why."""
    problems = []
    for node in graph:
        problems += [f"node {node.name!r} ({node.op.kind}): {reason}" for reason in _problems(graph, node, chip)]
    if not graph.outputs or not isinstance(graph[graph.outputs[0]].op, Readout):
        problems.append(f"graph {graph.name!r}: its output must be a Readout, the last dense layer")
    return problems


def _problems(graph, node, chip: Chip) -> list:
    op = node.op
    readers = list(graph.nx.successors(node.name))
    reasons = [f"read by {len(readers)} nodes; {CHAIN}, each read by the next"] if len(readers) > 1 else []
    if isinstance(op, (Add, SEWLogic)):
        reasons.append(NO_RESIDUAL)
    elif isinstance(op, (AvgPool2d, SumPool2d, MaxPool2d)):
        reasons.append(NO_POOLING)
    elif isinstance(op, Input) and not node.info.is_events:
        reasons.append("netx feeds spikes into its first layer; an analog input is encoded by a host layer, which "
                       "netx has not (compile a model with event-frame input)")
    elif isinstance(op, (Conv2d, Linear)):
        reasons += _synapse_problems(graph, node, chip)
    elif isinstance(op, IntLIF):
        if not _hidden_synapse(graph[node.inputs[0]].op):
            reasons.append(f"reads {node.inputs[0]!r}; a netx neuron reads one conv or dense synapse")
        reasons += _out_of_range("threshold", op.threshold, 0, chip.threshold_max)
        reasons += _out_of_range("decay_12bit D", op.decay_12bit, *chip.decay_range)
        reasons += _out_of_range("current_decay_12bit Du", op.current_decay_12bit, 0, chip.current_pass_through)
        if op.bias is not None:
            reasons += _out_of_range("bias", op.bias, *chip.bias_range)
    elif isinstance(op, Flatten) and readers and not isinstance(graph[readers[0]].op, Linear):
        reasons.append("netx flattens only in front of a dense layer")
    elif isinstance(op, (LIF, MLF)):
        reasons.append("a float neuron; netx layers hold integer CUBA neurons (compile the graph first)")
    elif not isinstance(op, (Input, Flatten)):
        reasons.append(f"no netx layer for this op; {CHAIN}")
    return reasons


def _hidden_synapse(op) -> bool:
    """A conv or dense synapse that feeds a layer's neurons (not the readout, whose neurons it is)."""
    return isinstance(op, (Conv2d, Linear)) and not isinstance(op, Readout)


def _synapse_problems(graph, node, chip: Chip) -> list:
    op, source = node.op, graph[node.inputs[0]]
    reasons = []
    if not source.info.is_events:
        reasons.append("reads analog values; netx synapses read spikes")
    elif source.info.kind != "spikes":
        reasons.append("reads counts (a sum of levels); netx layers send single spikes")
    if op.weight.dtype.kind not in "iu":
        reasons.append("float weights; netx layers hold integers (compile the graph first)")
    else:
        reasons += _out_of_range("weights", op.weight, *chip.weight_range)
    if op.bias is not None and _hidden_synapse(op):
        reasons.append("a synapse bias; netx biases belong to the neurons")
    elif op.bias is not None:
        reasons += _out_of_range("bias", op.bias, *chip.bias_range)
    if _hidden_synapse(op) and not any(isinstance(r.op, IntLIF) for r in graph.consumers(node.name)):
        reasons.append("not followed by an IntLIF population; a netx layer is a synapse and its neurons")
    return reasons


def _out_of_range(what: str, values, low: int, high: int) -> list:
    values = np.asarray(values)
    if values.min() < low or values.max() > high:
        return [f"{what} span [{values.min()}, {values.max()}], beyond netx's [{low}, {high}]"]
    return []


def layers(graph) -> list:
    """The netx layers of a supported ``graph`` after its input, in order."""
    found = []
    for node in graph:
        op = node.op
        if isinstance(op, Flatten):
            found.append(NetxLayer(FLATTEN, node.info.shape))
        elif isinstance(op, Readout):
            found.append(NetxLayer(DENSE, node.info.shape, node.name, node.name))
        elif isinstance(op, (Conv2d, Linear)):
            neuron = graph.consumers(node.name)[0]
            found.append(NetxLayer(CONV if isinstance(op, Conv2d) else DENSE, neuron.info.shape, node.name, neuron.name))
    return found
