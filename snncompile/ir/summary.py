"""A per-node table of a graph (what ``snncompile inspect`` prints), and the one definition of the counts every
command prints: synapses and the neurons behind a firing rate.

Synapses of a synaptic node, three named figures (``inspect``, ``compile``, ``energy`` and ``fit`` print the same):

- ``synapses``: its connections, each (input position, output position) pair once — the network's synapses;
- ``level_synapses``: one copy per spike population summed in its input (the K levels of an MLF unit, the terms of a
  residual sum): a chip sending binary spikes receives each population on its own synapses;
- ``chip_synapses``: ``level_synapses`` times the populations integrating its output (the K level populations of a
  lowered MLF unit each store their own copy): what a chip without graded spikes stores, unshared.

A **firing rate** is spikes per neuron per step, the neurons being those whose spikes the node carries
(:func:`spiking_neurons`): a level population's own neurons, all K levels of an MLF unit's count, every term of a
residual sum.
"""

from dataclasses import asdict, dataclass

from snncompile.text_table import text_table

from .graph import Graph
from .structure import event_terms, population_synapses, spike_populations

SYNAPSE_COUNTS = ("synapses", "level_synapses", "chip_synapses")


@dataclass(frozen=True)
class NodeRow:
    """One node: its op, output (per sample, per timestep), neurons, synapses (:data:`SYNAPSE_COUNTS`) and stored
    parameters."""

    name: str
    op: str
    inputs: tuple
    shape: tuple
    kind: str
    neurons: int
    synapses: int
    level_synapses: int
    chip_synapses: int
    params: int


def target_levels(graph: Graph, name: str) -> int:
    """How many neuron populations integrate the current of node ``name`` (through sums of currents): the K levels of
    a lowered MLF unit read the same current. At least 1 (a readout integrates its own)."""
    total = sum(node.op.levels for node in graph
                if node.op.integrates and name in population_synapses(graph, node.name))
    return max(total, 1)


def synapse_counts(graph: Graph, node) -> dict:
    """``{"synapses", "level_synapses", "chip_synapses"}`` of ``node`` (all 0 for a node without synapses); a node
    reading analog values (the host's encoding layer) has no copies per population."""
    connections = node.op.synapse_count(tuple(graph[i].info for i in node.inputs))
    if not connections or not graph[node.inputs[0]].info.is_events:
        return dict.fromkeys(SYNAPSE_COUNTS, connections)
    level_synapses = connections * spike_populations(graph, node.inputs[0])
    return {"synapses": connections, "level_synapses": level_synapses,
            "chip_synapses": level_synapses * target_levels(graph, node.name)}


def spiking_neurons(graph: Graph, name: str) -> int:
    """The neurons whose spikes the events of node ``name`` carry (a spike input's positions count as neurons)."""
    return sum(count * (graph[term].op.neuron_count(graph[term].info) or graph[term].info.size)
               for term, count in event_terms(graph, name).items())


def node_rows(graph: Graph) -> list:
    """One row per node."""
    return [NodeRow(node.name, node.op.kind, node.inputs, node.info.shape, node.info.describe(),
                    node.op.neuron_count(node.info), **synapse_counts(graph, node), params=node.op.parameter_count())
            for node in graph]


def summarize(graph: Graph) -> dict:
    """The table as plain data: ``{"name", "metadata", "nodes": [...], "totals": {...}}``."""
    rows = node_rows(graph)
    totals = {key: sum(getattr(r, key) for r in rows) for key in ("neurons", *SYNAPSE_COUNTS, "params")}
    totals["nodes"] = len(rows)
    return {"name": graph.name, "metadata": graph.metadata, "outputs": graph.outputs,
            "nodes": [asdict(r) for r in rows], "totals": totals}


def format_table(graph: Graph) -> str:
    """A fixed-width text table of :func:`summarize`."""
    summary = summarize(graph)
    header = ("node", "op", "output", "kind", "neurons", "synapses", "level synapses", "chip synapses", "params")
    counts = ("neurons", *SYNAPSE_COUNTS, "params")
    lines = [(r["name"], r["op"], "x".join(map(str, r["shape"])), r["kind"], *(f"{r[key]:,}" for key in counts))
             for r in summary["nodes"]]
    t = summary["totals"]
    total = ("total", f"{t['nodes']} nodes", "", "", *(f"{t[key]:,}" for key in counts))
    return text_table([header, *lines, total], "<<<<>>>>>", rules_before=(1, -1))
