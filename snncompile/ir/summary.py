"""A per-node table of a graph: what ``snncompile inspect`` prints."""

from dataclasses import asdict, dataclass

from .graph import Graph


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


def spike_populations(graph: Graph, name: str) -> int:
    """How many spike populations a chip sums into the events of node ``name``: a count tensor (an MLF unit's K levels,
    a residual sum) is several populations, and every synapse reading it exists once per population."""
    node = graph[name]
    if node.op.kind in ("Add", "Flatten", "MaxPool2d") and node.info.is_events:
        return sum(spike_populations(graph, i) for i in node.inputs) if node.op.kind == "Add" else \
            spike_populations(graph, node.inputs[0])
    return getattr(node.op, "levels", 1)


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
    widths = [max(len(str(row[i])) for row in [header, *lines, total]) for i in range(len(header))]

    def fmt(row):
        return "  ".join(str(c).ljust(w) if i < 4 else str(c).rjust(w) for i, (c, w) in enumerate(zip(row, widths)))

    rule = "-" * len(fmt(header))
    return "\n".join([fmt(header), rule, *map(fmt, lines), rule, fmt(total)])
