"""The layers of lava-dl netx 0.6 that an integer graph is made of, and why a graph is not one.

netx describes a network as a chain: an ``input`` layer (spikes enter the next layer), then ``conv`` and ``dense``
layers, each a synapse followed by CUBA neurons, with ``flatten`` before a dense layer that reads a convolution. Its
reader raises ``NotImplementedError`` for ``pool``, ``average``, ``concat``, ``convT`` and ``unpool``: there are no
pooling layers and no residual (skip) connections. So a graph fits when it is a chain

    Input(spikes) -> [Flatten] -> Conv2d|Linear -> IntLIF -> ... -> [Flatten] -> Readout

and each layer's numbers fit netx's encoding (:func:`unsupported`). The Readout becomes a last dense layer whose CUBA
neurons never fire (threshold at its 17-bit maximum) and integrate without leak: its membrane is the readout's sum.
"""

from dataclasses import dataclass

import numpy as np

from snncompile.integer import DECAY_ONE, LOIHI2

WEIGHT_RANGE = (-128, 127)   # netx re-encodes weights for an 8-bit synapse; within int8 the encoding is exact
CHAIN = "netx describes a chain of layers (input, conv, dense, flatten)"
NO_POOLING = "netx 0.6 has no pooling layer (its reader raises NotImplementedError for 'pool' and 'average')"
NO_RESIDUAL = "netx 0.6 has no residual or summing connections (its reader raises NotImplementedError for 'concat')"


@dataclass
class Layer:
    """One netx layer: ``kind`` is ``conv``, ``dense`` or ``flatten``; ``synapse`` and ``neuron`` name IR nodes (the
    neuron is an IntLIF, or the Readout for the last layer)."""

    kind: str
    shape: tuple
    synapse: str = ""
    neuron: str = ""


def unsupported(graph) -> list:
    """One line per node of ``graph`` that netx 0.6 cannot describe, naming the node and why."""
    problems = []
    for node in graph:
        problems += [f"node {node.name!r} ({node.op.kind}): {reason}" for reason in _problems(graph, node)]
    if not graph.outputs or graph[graph.outputs[0]].op.kind != "Readout":
        problems.append(f"graph {graph.name!r}: its output must be a Readout, the last dense layer")
    return problems


def _problems(graph, node) -> list:
    op, kind = node.op, node.op.kind
    readers = list(graph.nx.successors(node.name))
    reasons = [f"read by {len(readers)} nodes; {CHAIN}, each read by the next"] if len(readers) > 1 else []
    if kind in ("Add", "SEWLogic"):
        reasons.append(NO_RESIDUAL)
    elif kind in ("AvgPool2d", "SumPool2d", "MaxPool2d"):
        reasons.append(NO_POOLING)
    elif kind == "Input" and node.info.kind != "spikes":
        reasons.append("netx feeds spikes into its first layer; an analog input is encoded by a host layer, which "
                       "netx has not (compile a model with event-frame input)")
    elif kind in ("Conv2d", "Linear", "Readout"):
        reasons += _synapse_problems(graph, node)
    elif kind == "IntLIF":
        if graph[node.inputs[0]].op.kind not in ("Conv2d", "Linear"):
            reasons.append(f"reads {node.inputs[0]!r}; a netx neuron reads one conv or dense synapse")
        reasons += _out_of_range("threshold", op.threshold, 0, LOIHI2.threshold_max)
        reasons += _out_of_range("decay_12bit D", op.decay_12bit, 1, DECAY_ONE)
        if op.bias is not None:
            reasons += _out_of_range("bias", op.bias, *LOIHI2.bias_range)
    elif kind == "Flatten" and readers and graph[readers[0]].op.kind not in ("Linear", "Readout"):
        reasons.append("netx flattens only in front of a dense layer")
    elif kind in ("LIF", "MLF"):
        reasons.append("a float neuron; netx layers hold integer CUBA neurons (compile the graph first)")
    elif kind not in ("Input", "Flatten"):
        reasons.append(f"no netx layer for this op; {CHAIN}")
    return reasons


def _synapse_problems(graph, node) -> list:
    op, source = node.op, graph[node.inputs[0]]
    reasons = []
    if not source.info.is_events:
        reasons.append("reads analog values; netx synapses read spikes")
    elif source.info.kind != "spikes":
        reasons.append("reads counts (a sum of levels); netx layers send single spikes")
    if op.weight.dtype.kind not in "iu":
        reasons.append("float weights; netx layers hold integers (compile the graph first)")
    else:
        reasons += _out_of_range("weights", op.weight, *WEIGHT_RANGE)
    if op.bias is not None and node.op.kind != "Readout":
        reasons.append("a synapse bias; netx biases belong to the neurons")
    elif op.bias is not None:
        reasons += _out_of_range("bias", op.bias, *LOIHI2.bias_range)
    if node.op.kind != "Readout" and not any(r.op.kind == "IntLIF" for r in graph.consumers(node.name)):
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
        kind = node.op.kind
        if kind == "Flatten":
            found.append(Layer("flatten", node.info.shape))
        elif kind in ("Conv2d", "Linear"):
            neuron = graph.consumers(node.name)[0]
            found.append(Layer("conv" if kind == "Conv2d" else "dense", neuron.info.shape, node.name, neuron.name))
        elif kind == "Readout":
            found.append(Layer("dense", node.info.shape, node.name, node.name))
    return found
