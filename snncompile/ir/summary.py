"""A per-node table of a graph: what ``snncompile inspect`` prints."""

from dataclasses import asdict, dataclass

from snncompile.text_table import text_table

from .graph import Graph
from .structure import spike_populations


@dataclass(frozen=True)
class NodeRow:
    """One node: its op, output (per sample, per timestep), neurons, synapses and stored parameters."""

    name: str
    op: str
    inputs: tuple
    shape: tuple
    kind: str
    neurons: int
    synapses: int
    params: int


def node_rows(graph: Graph) -> list:
    """One row per node; synapses count every copy a chip needs (one per spike population summed in the input)."""
    rows = []
    for node in graph:
        inputs = tuple(graph[i].info for i in node.inputs)
        synapses = node.op.synapse_count(inputs)
        if synapses and inputs[0].is_events:
            synapses *= spike_populations(graph, node.inputs[0])
        rows.append(NodeRow(node.name, node.op.kind, node.inputs, node.info.shape, node.info.describe(),
                            node.op.neuron_count(node.info), synapses, node.op.parameter_count()))
    return rows


def summarize(graph: Graph) -> dict:
    """The table as plain data: ``{"name", "metadata", "nodes": [...], "totals": {...}}``."""
    rows = node_rows(graph)
    totals = {key: sum(getattr(r, key) for r in rows) for key in ("neurons", "synapses", "params")}
    totals["nodes"] = len(rows)
    return {"name": graph.name, "metadata": graph.metadata, "outputs": graph.outputs,
            "nodes": [asdict(r) for r in rows], "totals": totals}


def format_table(graph: Graph) -> str:
    """A fixed-width text table of :func:`summarize`."""
    summary = summarize(graph)
    header = ("node", "op", "output", "kind", "neurons", "synapses", "params")
    lines = [(r["name"], r["op"], "x".join(map(str, r["shape"])), r["kind"], f"{r['neurons']:,}",
              f"{r['synapses']:,}", f"{r['params']:,}") for r in summary["nodes"]]
    t = summary["totals"]
    total = ("total", f"{t['nodes']} nodes", "", "", f"{t['neurons']:,}", f"{t['synapses']:,}", f"{t['params']:,}")
    return text_table([header, *lines, total], "<<<<>>>", rules_before=(1, -1))
