"""The graph: a networkx DiGraph of named nodes, each one op with ordered inputs and an inferred output."""

from dataclasses import dataclass

import networkx as nx

from ..errors import GraphError
from .ops import Input, Op
from .values import TensorInfo


@dataclass(frozen=True)
class Node:
    """A node of the graph: its op, its inputs in port order, and what it outputs."""

    name: str
    op: Op
    inputs: tuple
    info: TensorInfo


class Graph:
    """A dataflow graph of :class:`Op` nodes, built in topological order.

    ``add`` checks the op against its inputs at once (shapes, value kinds, arity) and raises :class:`GraphError`
    naming the node. Nodes iterate in insertion order, which is a topological order. ``outputs`` lists the nodes whose
    values the graph returns; ``metadata`` carries plain JSON facts (source model, stripped modules, ...).
    """

    def __init__(self, name: str = "graph"):
        self.name = name
        self.metadata: dict = {}
        self.outputs: list = []
        self._nx = nx.DiGraph()
        self._nodes: dict = {}

    def add(self, name: str, op: Op, inputs=()) -> str:
        """Add node ``name`` computing ``op`` of the named ``inputs``; returns ``name``."""
        inputs = tuple(inputs)
        if name in self._nodes:
            raise GraphError(f"node {name!r}: a node of that name already exists")
        missing = [i for i in inputs if i not in self._nodes]
        if missing:
            raise GraphError(f"node {name!r} ({op.kind}): unknown input node(s) {', '.join(map(repr, missing))}")
        expected = op.arity
        if (expected is None and len(inputs) < 2) or (expected is not None and len(inputs) != expected):
            raise GraphError(f"node {name!r} ({op.kind}): takes {expected or 'two or more'} input(s), got {len(inputs)}")
        try:
            info = op.infer(tuple(self._nodes[i].info for i in inputs))
        except ValueError as err:
            raise GraphError(f"node {name!r} ({op.kind}): {err}") from None
        self._nodes[name] = Node(name, op, inputs, info)
        self._nx.add_node(name)
        for port, source in enumerate(inputs):
            if self._nx.has_edge(source, name):
                self._nx.edges[source, name]["ports"].append(port)
            else:
                self._nx.add_edge(source, name, ports=[port])
        return name

    def remove(self, name: str) -> None:
        """Remove node ``name``, which nothing may read."""
        self[name]  # raises for an unknown node
        readers = [n.name for n in self.consumers(name)]
        if readers or name in self.outputs:
            raise GraphError(f"node {name!r} cannot be removed: read by {readers or 'the graph output'}")
        del self._nodes[name]
        self._nx.remove_node(name)

    def set_outputs(self, names) -> None:
        names = list(names)
        unknown = [n for n in names if n not in self._nodes]
        if unknown:
            raise GraphError(f"graph output(s) {', '.join(map(repr, unknown))} name no node")
        self.outputs = names

    def __iter__(self):
        return iter(self._nodes.values())

    def __len__(self) -> int:
        return len(self._nodes)

    def __contains__(self, name) -> bool:
        return name in self._nodes

    def __getitem__(self, name: str) -> Node:
        try:
            return self._nodes[name]
        except KeyError:
            raise GraphError(f"no node named {name!r}") from None

    @property
    def nx(self) -> nx.DiGraph:
        """The underlying networkx graph (edges carry the input ``ports`` they feed); read it, don't edit it."""
        return self._nx

    @property
    def input_nodes(self) -> list:
        return [n for n in self if isinstance(n.op, Input)]

    def consumers(self, name: str) -> list:
        """The nodes that read ``name``, in graph order."""
        return [n for n in self if name in n.inputs]

    def __repr__(self) -> str:
        return f"Graph({self.name!r}, {len(self)} nodes, outputs={self.outputs})"
