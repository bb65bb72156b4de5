"""A NIR graph as an IR graph: NIR files written by snncompile come back exactly, other tools' files as float graphs.

A node whose ``metadata["snncompile"]`` names an IR op is rebuilt as that op, from its attributes and the tensors its
NIR fields (and ``metadata["tensors"]``) hold. Any other node maps by its NIR type, read with the convention of
:mod:`.euler` (forward Euler, ``dt = 1e-4``):

- ``Input`` -> ``Input`` (direct encoding: an analog tensor fed at every step); ``Output`` names the graph output.
- ``Conv2d`` (groups expanded to a dense kernel, no dilation), ``Affine`` and ``Linear`` -> ``Conv2d`` and
  ``Linear``, and ``Readout`` when they feed the Output; ``AvgPool2d``, ``SumPool2d``, ``Flatten`` (every axis of a
  sample); ``Scale`` per channel -> ``Affine``.
- ``LIF``, ``IF`` and ``CubaLIF`` whose synaptic current lasts one step (``tau_syn = dt``) -> ``LIF``, with one value
  per parameter for all neurons and ``v_leak = 0``. (A CubaLIF snncompile wrote for an IntLIF that keeps its current
  comes back from its metadata, with that current decay.)

A node with several incoming edges reads their sum (an ``Add``). Every node that cannot be imported is listed in one
:class:`UnsupportedNodeError`. A node whose snncompile metadata does not rebuild a valid op (the file was modified)
is a :class:`SerializationError` naming the node, and the file when read from one.
"""

import json
from dataclasses import fields
from pathlib import Path

import networkx as nx
import nir
import numpy as np

from snncompile.errors import GraphError, SerializationError, UnsupportedNodeError
from snncompile.ir import OPS, Graph
from snncompile.ir.ops import LIF, Add, AvgPool2d, Conv2d, Flatten, Input, Linear, Readout, SumPool2d
from snncompile.ir.ops import Affine as ChannelAffine

from . import euler
from .tensors import NODE_KEY, TENSORS_KEY, nir_tensors


def read(path) -> Graph:
    """The IR graph of the NIR file at ``path`` (read and type-checked by ``nir.read``)."""
    try:
        nir_graph = nir.read(path, type_check=True)
    except (OSError, ValueError, KeyError, TypeError, AssertionError) as err:
        raise SerializationError(f"{path}: not a readable NIR graph ({type(err).__name__}: {err})") from None
    try:
        return from_nir(nir_graph, Path(path).stem)
    except (SerializationError, GraphError) as err:
        raise SerializationError(f"{path}: {err}") from None


def from_nir(nir_graph: nir.NIRGraph, name: str = "nir") -> Graph:
    """The IR graph of ``nir_graph``; ``name`` when the file does not carry snncompile's own. Raises
    :class:`UnsupportedNodeError` listing every node without an IR form, :class:`SerializationError` for a node whose
    snncompile metadata is not a valid op, :class:`GraphError` for ops whose shapes do not fit together."""
    document = _graph_document(nir_graph)
    flow = nx.DiGraph(list(nir_graph.edges))
    flow.add_nodes_from(nir_graph.nodes)
    outputs = [key for key, node in nir_graph.nodes.items() if isinstance(node, nir.Output)]
    ops, problems = {}, []
    for key, node in nir_graph.nodes.items():
        if key in outputs:
            continue
        if NODE_KEY in node.metadata:
            ops[key] = _restored(key, node)
            continue
        try:
            ops[key] = _mapped(node, feeds_output=set(flow.successors(key)) <= set(outputs) and bool(outputs))
        except (ValueError, KeyError, TypeError) as err:
            problems.append(f"node {key!r} ({type(node).__name__}): {err}")
    if len(outputs) != 1:
        problems.append(f"the graph has {len(outputs)} Output nodes; snncompile reads one")
    if not nx.is_directed_acyclic_graph(flow):
        cycle = " -> ".join(str(source) for source, _ in nx.find_cycle(flow))
        problems.append(f"the graph has a cycle ({cycle}); snncompile reads feed-forward graphs")
    if problems:
        lines = "\n".join(f"  - {problem}" for problem in problems)
        raise UnsupportedNodeError(f"NIR graph {name!r}: {len(problems)} problem(s) importing it:\n{lines}")
    graph = Graph(document.get("name", name))
    graph.metadata = document.get("metadata", {"source": "nir"})
    order = {key: index for index, key in enumerate(document.get("order", sorted(nir_graph.nodes)))}
    sums, written_sums = {}, document.get("sums", {})
    for key in nx.lexicographical_topological_sort(flow, key=lambda k: (order.get(k, len(order)), k)):
        sources = list(flow.predecessors(key))
        if key in outputs:
            wanted = document.get("outputs", [f"{key}.sum"])[0]
            graph.set_outputs([_sum_read(graph, sums, written_sums, sources, wanted)])
        else:
            wanted = json.loads(nir_graph.nodes[key].metadata.get(NODE_KEY, "{}")).get("sum", f"{key}.sum")
            graph.add(key, ops[key], [_sum_read(graph, sums, written_sums, sources, wanted)] if sources else [])
    return graph


def _graph_document(nir_graph: nir.NIRGraph) -> dict:
    """The graph's snncompile metadata (name, metadata, outputs, node order), or ``{}`` when another tool wrote it."""
    if NODE_KEY not in (nir_graph.metadata or {}):
        return {}
    try:
        document = json.loads(nir_graph.metadata[NODE_KEY])
    except ValueError as err:
        raise SerializationError(f"the graph's snncompile metadata is not JSON ({err}); the file was modified — "
                                 f"export it again") from None
    if not isinstance(document, dict):
        raise SerializationError("the graph's snncompile metadata is not a JSON object; the file was modified — "
                                 "export it again")
    return document


def _sum_read(graph: Graph, sums: dict, written_sums: dict, sources: list, wanted: str) -> str:
    """The node holding the sum of ``sources`` that a reader reads: the ``Add`` named ``wanted`` with the nested Adds
    snncompile wrote in ``written_sums`` (Add name -> its inputs) when they add up exactly ``sources``, else
    :func:`_summed`."""
    if wanted in written_sums and sorted(_summed_leaves(written_sums, wanted)) == sorted(sources):
        return _rebuilt_sum(graph, written_sums, wanted)
    return _summed(graph, sums, sources, wanted)


def _summed_leaves(written_sums: dict, name: str) -> list:
    """The non-sum nodes the written ``Add`` ``name`` adds up, through its nested Adds."""
    return [leaf for source in written_sums[name]
            for leaf in (_summed_leaves(written_sums, source) if source in written_sums else [source])]


def _rebuilt_sum(graph: Graph, written_sums: dict, name: str) -> str:
    """Add the written ``Add`` ``name`` and the nested Adds it reads to ``graph`` (each once); returns ``name``."""
    if name not in graph:
        inputs = [_rebuilt_sum(graph, written_sums, source) if source in written_sums else source
                  for source in written_sums[name]]
        graph.add(name, Add(), inputs)
    return name


def _summed(graph: Graph, sums: dict, sources: list, wanted: str) -> str:
    """The node holding the sum of ``sources`` (one source: itself; else an Add, shared by readers of the same sum)."""
    if len(sources) == 1:
        return sources[0]
    key = tuple(sorted(sources))
    if key not in sums:
        name = wanted
        while name in graph:
            name += ".sum"
        sums[key] = graph.add(name, Add(), sources)
    return sums[key]


def _restored(key: str, node):
    """The IR op snncompile wrote as NIR ``node`` (named ``key``), from its metadata and the tensors its NIR fields
    hold; a :class:`SerializationError` naming the node when they do not make a valid op."""
    try:
        document = json.loads(node.metadata[NODE_KEY])
        op_type = OPS[document["op"]]
        arguments = {**nir_tensors(op_type, node), **node.metadata.get(TENSORS_KEY, {}), **document["attributes"]}
        return op_type(**{f.name: arguments[f.name] for f in fields(op_type) if f.name in arguments})
    except (ValueError, KeyError, TypeError, AttributeError) as err:
        raise SerializationError(f"node {key!r} ({type(node).__name__}): its snncompile metadata is not a valid op "
                                 f"({type(err).__name__}: {err}); the file was modified — export it again") from None


def _mapped(node, feeds_output: bool):
    """The float IR op that computes what NIR ``node`` computes."""
    if isinstance(node, nir.Input):
        return Input(tuple(int(d) for d in node.input_type["input"]))
    if isinstance(node, nir.Conv2d):
        return _conv(node)
    if isinstance(node, (nir.Affine, nir.Linear)):
        bias = node.bias if isinstance(node, nir.Affine) and np.any(node.bias) else None
        return (Readout if feeds_output else Linear)(np.asarray(node.weight), bias)
    if isinstance(node, (nir.AvgPool2d, nir.SumPool2d)):
        pool = AvgPool2d if isinstance(node, nir.AvgPool2d) else SumPool2d
        return pool(tuple(np.broadcast_to(node.kernel_size, 2)), tuple(np.broadcast_to(node.stride, 2)),
                    tuple(np.broadcast_to(node.padding, 2)))
    if isinstance(node, nir.Flatten):
        dims = len(node.input_type["input"])
        if int(node.start_dim) != 0 or int(node.end_dim) not in (-1, dims - 1):
            raise ValueError(f"flattens axes {node.start_dim}..{node.end_dim}; snncompile flattens whole samples")
        return Flatten()
    if isinstance(node, nir.Scale):
        scale = np.asarray(node.scale, np.float64)
        per_channel = scale.reshape(len(scale), -1)
        if not np.all(per_channel == per_channel[:, :1]):
            raise ValueError("scales positions of a channel differently; snncompile scales per channel")
        return ChannelAffine(per_channel[:, 0].copy(), np.zeros(len(scale)))
    if isinstance(node, (nir.LIF, nir.IF, nir.CubaLIF)):
        return _neuron(node)
    raise ValueError(f"no snncompile op for NIR {type(node).__name__}")


def _conv(node) -> Conv2d:
    if np.any(np.asarray(node.dilation) != 1):
        raise ValueError(f"dilation {tuple(node.dilation)}; snncompile convolutions are not dilated")
    weight = np.asarray(node.weight)
    kernel = weight.shape[2:]
    if isinstance(node.padding, str):
        if node.padding == "same" and (np.any(np.asarray(node.stride) != 1) or not all(k % 2 for k in kernel)):
            raise ValueError("'same' padding with a stride or an even kernel")
        padding = (0, 0) if node.padding == "valid" else tuple(k // 2 for k in kernel)
    else:
        padding = tuple(np.broadcast_to(node.padding, 2))
    groups = int(node.groups)
    if groups > 1:  # block-diagonal dense kernel
        per_group_out, per_group_in = weight.shape[0] // groups, weight.shape[1]
        dense = np.zeros((weight.shape[0], per_group_in * groups, *kernel), weight.dtype)
        for g in range(groups):
            rows = slice(g * per_group_out, (g + 1) * per_group_out)
            dense[rows, g * per_group_in:(g + 1) * per_group_in] = weight[rows]
        weight = dense
    bias = node.bias if np.any(node.bias) else None
    return Conv2d(weight, bias, tuple(np.broadcast_to(node.stride, 2)), padding)


def _neuron(node) -> LIF:
    name = type(node).__name__
    if not isinstance(node, nir.IF) and np.any(node.v_leak != 0):
        raise ValueError("v_leak is not 0; snncompile neurons rest at 0 (put a constant drive in a synapse's bias)")
    if isinstance(node, nir.IF):
        decay, gain = 1.0, euler.if_gain(euler.uniform(node.r, "r"))
    else:
        tau = euler.uniform(node.tau_mem if isinstance(node, nir.CubaLIF) else node.tau, "tau")
        decay, gain = euler.lif_decay_and_gain(tau, euler.uniform(node.r, "r"))
    if isinstance(node, nir.CubaLIF):
        if euler.uniform(node.tau_syn, "tau_syn") != euler.DT:
            raise ValueError(f"its synaptic current outlasts a step (tau_syn != dt = {euler.DT}); snncompile's float "
                             f"neurons have no current memory (only the integer IntLIF of a file snncompile wrote)")
        gain *= euler.uniform(node.w_in, "w_in")
    if not 0 <= decay <= 1:
        raise ValueError(f"tau is shorter than dt = {euler.DT} (decay {decay:g})")
    return LIF(decay=decay, input_gain=gain, threshold=euler.uniform(node.v_threshold, "v_threshold"),
               v_reset=euler.uniform(node.v_reset, "v_reset"), model=f"NIR.{name}")
