"""Scale choice for the quantizer: which populations share one scale, and the max-abs scale of each.

A hard-reset LIF computes the same spikes when its weights, bias and threshold are all multiplied by one ``s > 0``, so
a scale belongs to a population and to every synapse into it (residual fan-in included). Populations that read one
synapse (the levels of a lowered MLF unit share their conv) must then share their scale: they form one
:class:`Group`. The readout is a group of its own; its scale turns integer logits back into float ones.

A group's scale starts at ``s = clip_ratio * (2**(bits-1) - 1) / max|W|`` over its on-chip synapses: max-abs when
``clip_ratio = 1``; above 1 the largest weights saturate at the widest integer in exchange for finer steps everywhere
else. The range analysis (:mod:`.quantize_ranges`) may shrink it afterwards.
"""

from dataclasses import dataclass, field

import numpy as np

from ..errors import GraphError, QuantizationRangeError
from ..ir import Graph
from ..ir.ops import Readout
from ..ir.ops.base import NEURON, SynapticOp
from ..ir.structure import population_synapses


@dataclass
class Group:
    """Populations sharing synapses, and so one scale. ``synapses`` maps each synapse into them to whether the host
    computes it (its input is the analog encoding); ``rescaled_by`` is how much the range analysis shrank the
    max-abs scale."""

    populations: list
    synapses: dict = field(default_factory=dict)
    scale: float = 1.0
    rescaled_by: float = 1.0

    @property
    def name(self) -> str:
        return self.populations[0]


def weight_max(bits: int) -> int:
    """The largest ``bits``-bit signed weight."""
    return (1 << (bits - 1)) - 1


def synapses_into(graph: Graph, population: str, host: set) -> dict:
    """The synapses whose current ``population`` integrates, each mapped to whether it is in ``host`` (the host
    computes it). Anything else feeding the population's current is a :class:`GraphError`."""
    synapses = {}
    for name in population_synapses(graph, population):
        if not isinstance(graph[name].op, SynapticOp):
            raise GraphError(f"node {name!r} ({graph[name].op.kind}) feeds population {population!r} without a "
                             f"synapse; give it an explicit one-to-one synapse (Affine)")
        synapses[name] = name in host
    return synapses


def scale_groups(graph: Graph, host: set) -> list:
    """The groups of a lowered graph, in graph order: populations that share a synapse merged (union-find over
    synapse ownership), the readout alone."""
    groups = []
    for node in graph:
        if node.op.role == NEURON:
            synapses = synapses_into(graph, node.name, host)
            merged = [g for g in groups if g.synapses.keys() & synapses.keys()]
            group = Group([node.name], synapses)
            for other in merged:
                groups.remove(other)
                group.populations = other.populations + group.populations
                group.synapses = {**other.synapses, **group.synapses}
            groups.append(group)
        elif isinstance(node.op, Readout):
            groups.append(Group([node.name], {}))
    return groups


def max_abs_scale(graph: Graph, group: Group, bits: int, clip_ratio: float) -> float:
    """``clip_ratio * (2**(bits-1) - 1) / max|W|`` over the group's on-chip synapses (its host synapses when it has
    no other, the readout's own weights for the readout)."""
    on_chip = [name for name, host in group.synapses.items() if not host] or list(group.synapses) or group.populations
    largest = max(float(np.abs(graph[name].op.weights()).max()) for name in on_chip)
    if largest == 0:
        raise QuantizationRangeError(f"population {group.name!r}: every weight into it is zero")
    return clip_ratio * weight_max(bits) / largest
