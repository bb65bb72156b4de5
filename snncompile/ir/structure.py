"""What feeds what: the structural questions every pass, backend and report asks of a graph, answered once.

- :func:`current_terms`: the nodes whose outputs sum into a current (through sums of currents), with multiplicity.
- :func:`population_synapses`: the synaptic nodes whose current a population integrates.
- :func:`event_terms` / :func:`spike_populations`: the spike populations whose events reach a node unchanged.
- :func:`host_nodes`: the nodes the host computes in floating point (the encoding layers).

The answers follow the ops' traits (:mod:`snncompile.ir.ops.base`), never their type names.
"""

from collections import Counter

from .graph import Graph
from .ops import Input, Quantize
from .ops.base import NEURON


def current_terms(graph: Graph, name: str) -> Counter:
    """The nodes whose outputs sum to the current ``name``, each with how often it is summed: ``name`` itself unless
    it is a sum of currents (an analog op with ``current_glue``), whose inputs are followed in turn."""
    node = graph[name]
    if node.op.current_glue and not node.info.is_events:
        return sum((current_terms(graph, i) for i in node.inputs), Counter())
    return Counter({name: 1})


def population_synapses(graph: Graph, population: str) -> Counter:
    """The nodes whose current ``population`` integrates, with multiplicity: the terms of its input current, or the
    readout itself (a readout integrates its own synaptic sum)."""
    node = graph[population]
    if node.op.role != NEURON:
        return Counter({population: 1})
    return sum((current_terms(graph, i) for i in node.inputs), Counter())


def event_terms(graph: Graph, name: str) -> Counter:
    """The nodes whose events reach the events ``name`` through ops with ``event_glue`` (sums, flattening, maxima),
    each with how often: the spike populations (neurons, spike inputs) summed in it."""
    node = graph[name]
    if node.op.event_glue and node.info.is_events:
        return sum((event_terms(graph, i) for i in node.inputs), Counter())
    return Counter({name: 1})


def spike_populations(graph: Graph, name: str) -> int:
    """How many spike populations a chip sums into the events of node ``name``: a count tensor (an MLF unit's K levels,
    a residual sum) is several populations, and every synapse reading it exists once per population."""
    return sum(count * graph[term].op.levels for term, count in event_terms(graph, name).items())


def host_nodes(graph: Graph) -> list:
    """The nodes the host computes in floating point, in graph order: analog Inputs, the synapses and glue computed
    from them alone, and the ``Quantize`` nodes turning their result into the chip's integer current (whose readers
    are on chip). Neurons and the readout's integrator are never host nodes."""
    host = set()
    for node in graph:
        reads_host = bool(node.inputs) and all(i in host and not isinstance(graph[i].op, Quantize)
                                               for i in node.inputs)
        if isinstance(node.op, Input) and not node.info.is_events:
            host.add(node.name)
        elif reads_host and not node.op.integrates and node.op.role != NEURON and node.op.lowered_by is None:
            host.add(node.name)
    return [node.name for node in graph if node.name in host]
