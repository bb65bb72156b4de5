"""``fold_input_gain``: move a neuron's input gain into the synapses that feed it.

A LIF/MLF population computes ``v_pre = decay * v + input_gain * x`` (SpikingJelly's ``LIFNode`` has gain ``1/tau``);
on a chip the input enters with gain 1. ``x`` is a sum (through Add nodes over currents) of the outputs of synaptic
ops, each linear in its tensors (:func:`.rewrite.holds_weights`): ``W s + b`` (Conv2d, Linear) or ``s * scale + shift``
(Affine). So ``gain * x`` equals the same sum with every tensor of those ops multiplied by ``gain`` — exact in real
arithmetic. A path that reaches anything else (an event tensor feeding the neuron directly, an AvgPool2d, ...) gets
an ``Affine(gain, 0)`` on its last edge, which multiplies that term alone.

A synaptic op or Add on the way that something else also reads cannot be scaled without changing that reader's
input: that is a :class:`GraphError` naming the node.
"""

from dataclasses import replace as with_fields

from ..errors import GraphError
from ..ir.ops import LIF, MLF
from .rewrite import graph_pass, holds_weights, one_to_one, rewrite, sole_reader


def scaled_op(op, gain: float):
    """``op`` (linear in its tensors jointly) with every tensor multiplied by ``gain``."""
    return with_fields(op, **{field: tensor * gain for field, tensor in op.tensors().items()})


def bridge_name(reader: str, port: int) -> str:
    return f"{reader}.input{port}.gain"


class _Plan:
    """Where each gain goes: the synaptic ops to scale and the edges ``(reader, port)`` that get an Affine."""

    def __init__(self, graph):
        self.graph = graph
        self.scaled = {}   # synaptic node name -> gain
        self.bridged = {}  # reader name -> {port: gain}

    def collect(self, reader, gain: float, neuron: str) -> None:
        """Route ``gain`` from ``reader`` back through analog Adds to the synaptic ops feeding it."""
        for port, name in enumerate(reader.inputs):
            source = self.graph[name]
            through_add = source.op.current_glue and not source.info.is_events
            if not holds_weights(source.op) and not through_add:
                self.bridged.setdefault(reader.name, {})[port] = gain
                continue
            if sole_reader(self.graph, name) is None:
                readers = [n.name for n in self.graph.consumers(name)]
                raise GraphError(f"node {name!r} ({source.op.kind}): feeds neuron {neuron!r}, whose input gain {gain} "
                                 f"folds into it, and is also read by {readers or 'the graph output'}")
            if through_add:
                self.collect(source, gain, neuron)
            else:
                self.scaled[name] = gain


@graph_pass
def fold_input_gain(graph):
    """Give every LIF/MLF input gain 1, scaling the synapses that feed it (or inserting an Affine edge) instead."""
    plan = _Plan(graph)
    gains = {n.name: n.op.input_gain for n in graph if isinstance(n.op, (LIF, MLF)) and n.op.input_gain != 1}
    for name, gain in gains.items():
        plan.collect(graph[name], gain, name)

    def new_op(node):
        if node.name in plan.scaled:
            return scaled_op(node.op, plan.scaled[node.name])
        if node.name in gains:
            return with_fields(node.op, input_gain=1.0)
        return node.op

    def replace(node):
        ports = plan.bridged.get(node.name, {})
        bridges = [(bridge_name(node.name, port), one_to_one(graph[node.inputs[port]].info, gain), [node.inputs[port]])
                   for port, gain in ports.items()]
        inputs = [bridge_name(node.name, port) if port in ports else name for port, name in enumerate(node.inputs)]
        return [*bridges, (node.name, new_op(node), inputs)]

    facts = {"neurons": gains, "scaled": sorted(plan.scaled),
             "bridges": [bridge_name(reader, port) for reader, ports in plan.bridged.items() for port in ports]}
    return rewrite(graph, replace), facts
