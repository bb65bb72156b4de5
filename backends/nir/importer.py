"""A NIR graph as an IR graph: NIR files written by snncompile come back exactly, other tools' files as float graphs.

A node whose ``metadata["snncompile"]`` names an IR op is rebuilt as that op, from its attributes and the tensors its
NIR fields (and ``metadata["tensors"]``) hold, with the dtypes it records. Any other node maps by its NIR type, read
with the convention of :mod:`.euler` (forward Euler with ``dt``: 1e-4 unless the caller says, ``--dt``), as the
other tools' exporters write it:

- ``Input`` -> ``Input`` (direct encoding: an analog tensor fed at every step), its shape one sample's: leading batch
  axes in ``input_type`` (Norse, snnTorch) are dropped by the axes its readers take (a ``Conv2d`` reads ``(C, H,
  W)``, an ``Affine`` ``(N,)``). ``Output`` names the graph output.
- ``Conv2d`` (groups expanded to a dense kernel, no dilation), ``Affine`` and ``Linear`` -> ``Conv2d`` and
  ``Linear``, and ``Readout`` when they feed the Output; ``AvgPool2d``, ``SumPool2d``, ``Flatten`` of every axis of
  a sample (``start_dim = 0`` after the exporters drop the batch axis, or 1 over an ``input_type`` that keeps it);
  ``Scale`` per channel -> ``Affine``; ``Threshold`` -> a LIF without memory (``decay = 0``).
- ``LIF``, ``IF`` and ``CubaLIF`` whose synaptic current lasts one step (``tau_syn = dt``) -> ``LIF``, with one value
  per parameter for all neurons (per-neuron arrays or scalars) and ``v_leak = 0``; an IF's ``r`` in either
  convention (:func:`.euler.if_gain`). (A CubaLIF snncompile wrote for an IntLIF that keeps its current comes back
  from its metadata, with that current decay.)

A node with several incoming edges reads their sum (an ``Add``). Every node that cannot be imported is listed in one
:class:`UnsupportedNodeError`. A node whose snncompile metadata does not rebuild a valid op (the file was modified)
is a :class:`SerializationError` naming the node, and the file when read from one. A NIR file records neither the
number of steps per sample nor its ``dt``: ``T`` and ``dt`` are the caller's (``--T``, ``--dt``), kept in the
graph's metadata. A population whose membrane can never reach its threshold (often the sign of a wrong ``dt`` or
``r`` convention) is a :class:`NeverFiresWarning` naming it.
"""

import json
import warnings
from dataclasses import fields
from pathlib import Path

import networkx as nx
import nir
import numpy as np

from snncompile.errors import ConfigError, GraphError, SerializationError, UnsupportedNodeError
from snncompile.ir import OPS, Graph
from snncompile.ir.ops import LIF, Add, AvgPool2d, Conv2d, Flatten, Input, Linear, Readout, SumPool2d
from snncompile.ir.ops import Affine as ChannelAffine
from snncompile.ir.ops.base import SYNAPSE
from snncompile.ir.structure import population_synapses

from . import euler
from .tensors import NODE_KEY, TENSORS_KEY, nir_tensors


class NeverFiresWarning(UserWarning):
    """An imported population whose membrane can never reach its threshold."""


def read(path, *, T=None, dt=None) -> Graph:
    """The IR graph of the NIR file at ``path``, run for ``T`` steps per sample and read with time step ``dt``
    (:func:`from_nir`). Shapes are checked by snncompile's graph, not by ``nir.read``'s type check: nir 1.0.8's
    refuses what exporters write (scalar neuron parameters, non-square kernels)."""
    try:
        nir_graph = nir.read(path, type_check=False)
    except (OSError, ValueError, KeyError, TypeError, AssertionError, AttributeError, IndexError) as err:
        raise SerializationError(f"{path}: not a readable NIR graph ({type(err).__name__}: {err})") from None
    try:
        return from_nir(nir_graph, Path(path).stem, T=T, dt=dt)
    except (SerializationError, GraphError) as err:
        raise SerializationError(f"{path}: {err}") from None


def from_nir(nir_graph: nir.NIRGraph, name: str = "nir", *, T=None, dt=None) -> Graph:
    """The IR graph of ``nir_graph`` (numpy-valued, as ``nir.read`` returns it: a peer's exporter returns torch
    tensors, so write and read its graph first); ``name`` when the file does not carry snncompile's own. Nodes
    snncompile did not write are read with time step ``dt`` (default :data:`.euler.DT`); ``T`` (steps per sample) is
    stored in the graph's metadata. Raises :class:`UnsupportedNodeError` listing every node without an IR form,
    :class:`SerializationError` for a node whose snncompile metadata is not a valid op, :class:`GraphError` for ops
    whose shapes do not fit together; warns :class:`NeverFiresWarning` for each population that cannot fire."""
    document = _graph_document(nir_graph)
    dt = float(document.get("dt", euler.DT) if dt is None else dt)
    if not 0 < dt < np.inf:
        raise ConfigError(f"dt must be a positive time step in seconds, got {dt:g}")
    flow = nx.DiGraph(list(nir_graph.edges))
    flow.add_nodes_from(nir_graph.nodes)
    outputs = [key for key, node in nir_graph.nodes.items() if isinstance(node, nir.Output)]
    ops, problems = {}, []
    for key, node in nir_graph.nodes.items():
        if key in outputs:
            continue
        if NODE_KEY in (node.metadata or {}):
            ops[key] = _restored(key, node)
            continue
        readers = [nir_graph.nodes[reader] for reader in flow.successors(key)]
        try:
            ops[key] = _mapped(node, readers, dt)
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
    _sum_pools_as_averages(nir_graph, flow, ops)
    graph = Graph(document.get("name", name))
    graph.metadata = document.get("metadata", {"source": "nir", "dt": dt})
    if T is not None:
        graph.metadata["T"] = T
    order = {key: index for index, key in enumerate(document.get("order", sorted(nir_graph.nodes)))}
    sums, glue = {}, document.get("glue", {})
    for key in nx.lexicographical_topological_sort(flow, key=lambda k: (order.get(k, len(order)), k)):
        sources = list(flow.predecessors(key))
        if key in outputs:
            wanted = document.get("outputs", [f"{key}.sum"])[0]
            graph.set_outputs([_sum_read(graph, sums, glue, sources, wanted)])
        else:
            wanted = json.loads((nir_graph.nodes[key].metadata or {}).get(NODE_KEY, "{}")).get("sum", f"{key}.sum")
            graph.add(key, ops[key], [_sum_read(graph, sums, glue, sources, wanted)] if sources else [])
    steps = graph.metadata.get("T")
    for population, bound in _silent_populations(graph, steps):
        warnings.warn(f"NIR graph {graph.name!r}: node {population!r} can never fire: its membrane stays at or "
                      f"below {bound:.4g} (inputs of magnitude <= 1{f', {steps} steps' if steps else ''}) and its "
                      f"threshold is {graph[population].op.threshold:.4g}; check the time step it runs at (--dt, "
                      f"read with {dt:g}) and its r convention", NeverFiresWarning, stacklevel=2)
    return graph


def _sum_pools_as_averages(nir_graph: nir.NIRGraph, flow: nx.DiGraph, ops: dict) -> None:
    """Replace in ``ops`` each ``SumPool2d`` another tool wrote (sinabs) by an ``AvgPool2d`` and multiply the weights
    of the synapses reading it (through Flattens, each reading the pool alone) by its window ``kH*kW``: the same
    network in real arithmetic, in the form the compiler folds (``fold_avgpool``) and quantizes. A sum pool read
    otherwise is left as it is (the quantizer then names it)."""
    for key, op in list(ops.items()):
        if not isinstance(op, SumPool2d) or NODE_KEY in (nir_graph.nodes[key].metadata or {}):
            continue
        readers, frontier = [], [key]
        while frontier:
            for reader in flow.successors(frontier.pop()):
                (frontier if isinstance(ops.get(reader), Flatten) else readers).append(reader)
        synapses = [reader for reader in readers if isinstance(ops.get(reader), (Conv2d, Linear))]
        if synapses and len(synapses) == len(readers) and all(flow.in_degree(s) == 1 for s in synapses):
            window = op.kernel[0] * op.kernel[1]
            ops[key] = AvgPool2d(op.kernel, op.stride, op.padding)
            for synapse in synapses:
                reader = ops[synapse]
                ops[synapse] = reader.with_weights(reader.weights() * window, reader.bias_values())


def _silent_populations(graph: Graph, T) -> list:
    """``(name, bound)`` of each LIF population whose membrane provably stays at or below its threshold: ``bound``
    is the largest membrane its synapses can drive (analog inputs of magnitude at most 1, events at most their
    count) within ``T`` steps (any number when ``T`` is ``None``)."""
    silent = []
    for node in graph:
        if not isinstance(node.op, LIF):
            continue
        current = 0.0
        for name, count in population_synapses(graph, node.name).items():
            synapse = graph[name]
            if synapse.op.role != SYNAPSE or synapse.op.weights() is None or not synapse.inputs:
                break
            source = graph[synapse.inputs[0]].info
            largest_input = source.max_count if source.is_events else 1.0
            bias = synapse.op.bias_values()
            current += count * (synapse.op.fan_in_sum() * largest_input + (0 if bias is None else np.abs(bias).max()))
        else:
            current *= abs(node.op.input_gain)
            decay = node.op.decay
            if decay == 1:
                bound = current * T if T else (np.inf if current else 0.0)
            else:
                bound = current * (1 - decay ** T) / (1 - decay) if T else current / (1 - decay)
            if bound < node.op.threshold or (bound == node.op.threshold and not node.op.inclusive):
                silent.append((node.name, bound))
    return silent


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


def _sum_read(graph: Graph, sums: dict, glue: dict, sources: list, wanted: str) -> str:
    """The node holding the sum of ``sources`` that a reader reads: the ``Add`` or ``Quantize`` named ``wanted`` with
    the nested glue snncompile wrote in ``glue`` (name -> op, attributes and inputs) when it adds up exactly
    ``sources``, else :func:`_summed`."""
    if wanted in glue and sorted(_glued_leaves(glue, wanted)) == sorted(sources):
        return _rebuilt_glue(graph, glue, wanted)
    return _summed(graph, sums, sources, wanted)


def _glued_leaves(glue: dict, name: str) -> list:
    """The nodes with a NIR node that the written glue node ``name`` reads, through nested glue."""
    return [leaf for source in glue[name]["inputs"]
            for leaf in (_glued_leaves(glue, source) if source in glue else [source])]


def _rebuilt_glue(graph: Graph, glue: dict, name: str) -> str:
    """Add the written glue node ``name`` and the nested glue it reads to ``graph`` (each once); returns ``name``."""
    if name not in graph:
        inputs = [_rebuilt_glue(graph, glue, source) if source in glue else source for source in glue[name]["inputs"]]
        try:
            op = OPS[glue[name]["op"]](**glue[name]["attributes"])
        except (KeyError, TypeError, ValueError) as err:
            raise SerializationError(f"node {name!r}: its snncompile metadata is not a valid op ({type(err).__name__}: "
                                     f"{err}); the file was modified — export it again") from None
        graph.add(name, op, inputs)
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
        tensors = {**nir_tensors(op_type, node), **node.metadata.get(TENSORS_KEY, {})}
        tensors = {field: np.asarray(array).astype(document["dtypes"][field]) for field, array in tensors.items()
                   if field in document["dtypes"]}
        arguments = {**tensors, **document["attributes"]}
        return op_type(**{f.name: arguments[f.name] for f in fields(op_type) if f.name in arguments})
    except (ValueError, KeyError, TypeError, AttributeError) as err:
        raise SerializationError(f"node {key!r} ({type(node).__name__}): its snncompile metadata is not a valid op "
                                 f"({type(err).__name__}: {err}); the file was modified — export it again") from None


def _mapped(node, readers: list, dt: float):
    """The float IR op that computes what NIR ``node`` computes, read by the NIR nodes ``readers``."""
    if isinstance(node, nir.Input):
        return Input(_sample_shape(node.input_type["input"], readers))
    if isinstance(node, nir.Conv2d):
        return _conv(node)
    if isinstance(node, (nir.Affine, nir.Linear)):
        bias = node.bias if isinstance(node, nir.Affine) and np.any(node.bias) else None
        feeds_output = bool(readers) and all(isinstance(reader, nir.Output) for reader in readers)
        return (Readout if feeds_output else Linear)(np.asarray(node.weight), bias)
    if isinstance(node, (nir.AvgPool2d, nir.SumPool2d)):
        pool = AvgPool2d if isinstance(node, nir.AvgPool2d) else SumPool2d
        return pool(tuple(np.broadcast_to(node.kernel_size, 2)), tuple(np.broadcast_to(node.stride, 2)),
                    tuple(np.broadcast_to(node.padding, 2)))
    if isinstance(node, nir.Flatten):
        given = (node.input_type or {}).get("input")
        dims = None if given is None else len(given)
        batch_axis = dims == 4 and int(node.start_dim) == 1  # an input_type that keeps the batch axis
        if (int(node.start_dim) != 0 and not batch_axis) or int(node.end_dim) not in (-1, (dims or 0) - 1):
            raise ValueError(f"flattens axes {node.start_dim}..{node.end_dim}; snncompile flattens whole samples")
        return Flatten()
    if isinstance(node, nir.Scale):
        scale = np.asarray(node.scale, np.float64)
        per_channel = scale.reshape(len(scale), -1)
        if not np.all(per_channel == per_channel[:, :1]):
            raise ValueError("scales positions of a channel differently; snncompile scales per channel")
        return ChannelAffine(per_channel[:, 0].copy(), np.zeros(len(scale)))
    if isinstance(node, nir.Threshold):
        return LIF(decay=0.0, threshold=euler.uniform(node.threshold, "threshold"), model="NIR.Threshold")
    if isinstance(node, (nir.LIF, nir.IF, nir.CubaLIF)):
        return _neuron(node, dt)
    if isinstance(node, nir.LI):
        raise ValueError("a leaky integrator without spikes (sinabs ExpLeak, Norse LIBoxCell) has no snncompile op; "
                         "snncompile's readout is an Affine feeding the Output, averaged over T: export without it")
    raise ValueError(f"no snncompile op for NIR {type(node).__name__}")


def _sample_shape(input_type, readers: list) -> tuple:
    """One sample's shape of an ``Input`` whose ``input_type`` may keep leading batch axes: as many trailing axes as
    its readers take (3 for a Conv2d, 1 for an Affine or Linear), else all of them."""
    shape = tuple(int(d) for d in np.atleast_1d(input_type))
    axes = {3 if isinstance(reader, nir.Conv2d) else 1 if isinstance(reader, (nir.Affine, nir.Linear)) else None
            for reader in readers}
    if len(axes) == 1 and None not in axes and len(shape) > (kept := axes.pop()):
        if any(d != 1 for d in shape[:-kept]):
            raise ValueError(f"input_type {shape}: its leading axes are not batch axes of size 1")
        return shape[-kept:]
    return shape


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


def _neuron(node, dt: float) -> LIF:
    name = type(node).__name__
    if not isinstance(node, nir.IF) and np.any(np.asarray(node.v_leak) != 0):
        raise ValueError("v_leak is not 0; snncompile neurons rest at 0 (put a constant drive in a synapse's bias)")
    if isinstance(node, nir.IF):
        decay, gain = 1.0, euler.if_gain(euler.uniform(node.r, "r"), dt)
    else:
        tau = euler.uniform(node.tau_mem if isinstance(node, nir.CubaLIF) else node.tau, "tau")
        decay, gain = euler.lif_decay_and_gain(tau, euler.uniform(node.r, "r"), dt)
    if isinstance(node, nir.CubaLIF):
        if not np.isclose(euler.uniform(node.tau_syn, "tau_syn"), dt, rtol=1e-6):
            raise ValueError(f"its synaptic current outlasts a step (tau_syn != dt = {dt:g}); snncompile's float "
                             f"neurons have no current memory (only the integer IntLIF of a file snncompile wrote)")
        gain *= euler.uniform(node.w_in, "w_in")
    v_reset = 0.0 if node.v_reset is None else euler.uniform(node.v_reset, "v_reset")
    return LIF(decay=decay, input_gain=gain, threshold=euler.uniform(node.v_threshold, "v_threshold"),
               v_reset=v_reset, model=f"NIR.{name}")
