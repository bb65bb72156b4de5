"""``add_identity_synapses``: give every event tensor that enters a neuron without a synapse an explicit one.

In PyTorch a spike tensor can be added to a current (an identity shortcut, ``SN(conv(x) + x)``) or fed to a neuron
as is. A chip connects populations only through synapses, so each such edge becomes a one-to-one ``Affine(1, 0)``
named ``<reader>.input<port>.synapse``: the same sum, now with a weight the quantizer can scale.
"""

from ..ir.ops.base import NEURON
from .rewrite import graph_pass, one_to_one, rewrite


def _needs_synapse(graph, node, port) -> bool:
    source = graph[node.inputs[port]].info
    reads_current = node.op.role == NEURON or (node.op.current_glue and not node.info.is_events)
    return reads_current and source.is_events


@graph_pass
def add_identity_synapses(graph):
    """Insert a weight-1 one-to-one synapse on every event input of a neuron or of a sum of currents."""
    added = []

    def replace(node):
        ports = [p for p in range(len(node.inputs)) if _needs_synapse(graph, node, p)]
        if not ports:
            return None
        inputs, edges = list(node.inputs), []
        for port in ports:
            edge = f"{node.name}.input{port}.synapse"
            edges.append((edge, one_to_one(graph[inputs[port]].info, 1.0), [inputs[port]]))
            inputs[port] = edge
            added.append(edge)
        return [*edges, (node.name, node.op, inputs)]

    return rewrite(graph, replace), {"added": added}
