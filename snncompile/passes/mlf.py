"""``lower_mlf``: split every multi-level firing unit into one LIF population per level.

An MLF node with thresholds ``theta_1..theta_K`` runs K independent LIF neurons per position on the same input, each
with its own membrane and reset, and outputs the number that fired (DESIGN §3). That is literally K LIF nodes
``<name>.level<k>`` (same input, decay, gain, reset and comparison; threshold ``theta_k``) and an Add named
``<name>`` of their spikes (counts <= K), so consumers read the same value under the same name: exact, bit for bit.
A one-level unit becomes a single LIF named ``<name>``. Every consumer now connects to K populations: synapses grow
K-fold, neurons do not change.
"""

from dataclasses import fields

from ..ir.ops import LIF, MLF, Add
from .rewrite import graph_pass, rewrite

SHARED = [f.name for f in fields(LIF) if f.name != "threshold"]


@graph_pass
def lower_mlf(graph):
    """Replace each MLF node by one LIF per level and an Add of their spikes."""
    lowered = {}

    def replace(node):
        if not isinstance(node.op, MLF):
            return None
        shared = {field: getattr(node.op, field) for field in SHARED}
        lowered[node.name] = node.op.levels
        if node.op.levels == 1:
            return [(node.name, LIF(threshold=node.op.thresholds[0], **shared), node.inputs)]
        levels = [(f"{node.name}.level{k}", LIF(threshold=theta, **shared), node.inputs)
                  for k, theta in enumerate(node.op.thresholds, start=1)]
        return [*levels, (node.name, Add(), [name for name, _, _ in levels])]

    return rewrite(graph, replace), {"levels": lowered}
