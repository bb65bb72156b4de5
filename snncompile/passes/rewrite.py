"""The graph rewriter every pass is built on: copy a graph node by node, replacing the nodes a pass rewrites.

A pass states its rewrite as a function ``replace(node)`` of each node of the input graph, in graph order:

- ``None``: keep the node as it is;
- a list of ``(name, op, inputs)``: the nodes that take its place, in order (``[]`` drops it). Readers of the node
  read the replacement node of the same name, so a replacement that ends in a node named like the original leaves
  every consumer unchanged.

``renames`` re-points readers: every input (and graph output) named ``old`` reads ``renames[old]`` instead, for a
node whose value another node now carries (a BatchNorm folded into its conv). The new graph is built with
:meth:`Graph.add`, which re-infers and re-checks every node, so a rewrite that breaks the graph fails at once,
naming the node.

Also here: the small building blocks several passes emit (one-to-one edges, memoryless threshold neurons) and the
synapses they may rescale (:func:`holds_weights`).
"""

import copy
import functools

import numpy as np

from ..ir import Graph
from ..ir.ops import LIF, Affine
from ..ir.ops.base import SynapticOp


def rewrite(graph: Graph, replace, renames=None) -> Graph:
    """A new graph: ``graph`` with each node replaced as ``replace(node)`` says and readers re-pointed by ``renames``.

    The input graph is not modified; kept nodes share their (immutable) ops with it. Metadata is deep-copied."""
    renames = renames or {}
    result = Graph(graph.name)
    result.metadata = copy.deepcopy(graph.metadata)
    for node in graph:
        replacement = replace(node)
        for name, op, inputs in [(node.name, node.op, node.inputs)] if replacement is None else replacement:
            result.add(name, op, [renames.get(i, i) for i in inputs])
    result.set_outputs([renames.get(o, o) for o in graph.outputs])
    return result


def sole_reader(graph: Graph, name: str):
    """The one node reading ``name``, or ``None`` if several nodes (or the graph output, or nothing) read it."""
    readers = graph.consumers(name)
    return readers[0] if len(readers) == 1 and name not in graph.outputs else None


def graph_pass(function):
    """Make ``function(graph) -> (new_graph, facts)`` a pass ``graph -> new_graph`` named after the function, that
    records ``facts`` (plain JSON: what it did) under ``new_graph.metadata["passes"][name]``."""
    @functools.wraps(function)
    def run(graph: Graph) -> Graph:
        result, facts = function(graph)
        result.metadata.setdefault("passes", {})[function.__name__] = facts
        return result

    run.name = function.__name__
    return run


def holds_weights(op) -> bool:
    """Whether ``op`` is a synapse whose weights and bias are its tensors (Conv2d, Linear, Affine): its output is
    linear in them, so a scale or shift per output channel folds into them (pools have fixed or no weights, a
    BatchNorm holds statistics)."""
    return isinstance(op, SynapticOp) and op.weight_field is not None


def one_to_one(info, weight: float) -> Affine:
    """A one-to-one edge (each position to itself) of the given ``weight``, for a tensor described by ``info``."""
    channels = info.shape[0]
    return Affine(np.full(channels, float(weight)), np.zeros(channels))


def threshold_unit(threshold: float, model: str) -> LIF:
    """A memoryless threshold neuron ``s = x > threshold``: with ``decay = 0`` and a hard reset to 0, ``v_pre = x``
    at every step, exactly (``0 * v + x == x`` for any finite ``v``)."""
    return LIF(decay=0.0, threshold=float(threshold), inclusive=False, reset="hard", v_reset=0.0, model=model)
