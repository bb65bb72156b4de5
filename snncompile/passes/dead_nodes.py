"""``remove_dead_nodes``: drop every node whose value no graph output depends on.

A node that is not an ancestor of an output (in networkx terms) cannot change any output, so dropping it is exact.
Input nodes stay even when unread: they are the graph's interface, and the simulator and backends feed them by name.
"""

import networkx as nx

from ..ir.ops import Input
from .rewrite import graph_pass, rewrite


@graph_pass
def remove_dead_nodes(graph):
    """Keep only the inputs, the outputs and their ancestors."""
    live = set(graph.outputs).union(*(nx.ancestors(graph.nx, name) for name in graph.outputs))
    dead = [node.name for node in graph if node.name not in live and not isinstance(node.op, Input)]
    dropped = set(dead)
    return rewrite(graph, lambda node: [] if node.name in dropped else None), {"removed": dead}
