"""``quantize``: a lowered float graph as the integers of a target's chip, one scale per postsynaptic population
(DESIGN §4).

Three jobs, one module each:

- :mod:`.quantize_scales`: which populations share one scale (groups), and the max-abs scale of each (times a
  ``clip_ratio`` >= 1, which :mod:`.calibrate` can pick on sample inputs);
- :mod:`.quantize_ranges`: bounds of every accumulator over ``T`` steps against the chip's widths, shrinking scales
  until everything fits, or a :class:`QuantizationRangeError` naming the node;
- :mod:`.quantize_integers`: the integer ops at those scales.

A synapse whose input is analog (the encoding layer) is computed by the host in floating point; a ``Quantize`` node
turns its output current into integers with the group's scale. Where the integer model differs from the float one
is reported, not hidden (``graph.metadata["passes"]["quantize"]["groups"]``).
"""

import copy

import numpy as np

from ..chip import LOIHI2, Chip
from ..errors import QuantizationRangeError, UnsupportedNodeError
from ..integer import decay_12bit
from ..ir import Graph
from ..ir.ops import LIF, Input, Quantize, Readout
from ..ir.ops.base import GLUE, NEURON, SynapticOp
from ..ir.structure import host_nodes
from .quantize_integers import integer_population, integer_readout, integer_synapse
from .quantize_ranges import HALF_UNIT, INPUT_RANGE, RangeAnalysis, host_bounds
from .quantize_scales import max_abs_scale, scale_groups, weight_max


def quantize(graph: Graph, chip: Chip = LOIHI2, bits: int = 8, input_range: tuple = INPUT_RANGE,
             clip_ratio: float = 1.0) -> Graph:
    """The integer graph of a lowered float ``graph`` for ``chip``, with ``bits``-bit signed weights (at most the
    chip's weight width).

    ``input_range`` bounds the analog input values (images in [0, 1]); the host current's range follows from it.
    ``clip_ratio`` >= 1 multiplies every max-abs scale (weights beyond the widest integer saturate)."""
    if not clip_ratio >= 1:
        raise QuantizationRangeError(f"clip_ratio must be >= 1, got {clip_ratio}")
    if not 2 <= bits <= chip.weight_bits:
        raise QuantizationRangeError(f"weights must have 2 to {chip.weight_bits} bits on chip, got --bits {bits}")
    host = set(host_nodes(graph))
    _check_lowered(graph, host)
    groups = scale_groups(graph, host)
    ranges = RangeAnalysis(graph, chip, bits, int(graph.metadata.get("T") or 1), host_bounds(graph, host, input_range))
    for group in groups:
        group.scale = max_abs_scale(graph, group, bits, clip_ratio)
        ranges.shrink_to_fit(group)
    quantized = _integer_graph(graph, groups, chip, bits)
    quantized.metadata = {**copy.deepcopy(graph.metadata), "integer": True, "bits": bits}
    quantized.metadata.setdefault("passes", {})["quantize"] = {
        "bits": bits, "clip_ratio": clip_ratio, "groups": [_group_report(ranges, group) for group in groups]}
    return quantized


def _check_lowered(graph: Graph, host: set) -> None:
    """Raise :class:`UnsupportedNodeError` listing every node the quantizer has no integer form for."""
    problems = [f"node {node.name!r} ({node.op.kind}): {problem}" for node in graph
                if (problem := _unquantizable(graph, node, host))]
    if problems:
        raise UnsupportedNodeError("cannot quantize:\n  " + "\n  ".join(problems))


def _unquantizable(graph: Graph, node, host: set) -> str:
    """Why the quantizer cannot take ``node``, or ``""``."""
    op = node.op
    if op.lowered_by is not None:
        return f"run the lowering pass {op.lowered_by} before quantizing"
    if isinstance(op, LIF) and (op.reset != "hard" or op.v_reset != 0):
        return f"{op.reset} reset to {op.v_reset} has no integer form on chip (hard reset to 0 only)"
    if isinstance(op, LIF) and op.input_gain != 1:
        return f"input gain {op.input_gain} must be folded first"
    if isinstance(op, Readout):
        return "" if graph[node.inputs[0]].info.is_events else "reads analog values; fold the pooling before it into it"
    if isinstance(op, SynapticOp) and not (graph[node.inputs[0]].info.is_events or node.name in host):
        return "reads analog current computed on chip; a synapse reads events or host values"
    if not (isinstance(op, (LIF, Input, SynapticOp)) or op.role == GLUE):
        return "cannot be quantized"
    return ""


def _integer_graph(graph: Graph, groups: list, chip: Chip, bits: int) -> Graph:
    """``graph`` with every op of a group replaced by its integer op, and a ``Quantize`` after each host synapse."""
    owner = {name: group for group in groups for name in group.populations + list(group.synapses)}
    quantized, renamed = Graph(graph.name), {}
    for node in graph:
        inputs = [renamed.get(i, i) for i in node.inputs]
        group = owner.get(node.name)
        if group is None:  # Input, host-side ops, flatten, and sums that no single population owns
            quantized.add(node.name, node.op, inputs)
        elif group.synapses.get(node.name):  # host-computed: quantize its current
            quantized.add(node.name, node.op, inputs)
            renamed[node.name] = quantized.add(f"{node.name}.quantize", Quantize(group.scale), [node.name])
        elif node.name in group.synapses:
            quantized.add(node.name, integer_synapse(node.op, group.scale, bits), inputs)
        elif isinstance(node.op, Readout):
            quantized.add(node.name, integer_readout(node.op, group.scale, bits), inputs)
        else:
            quantized.add(node.name, integer_population(graph, node.name, group, chip), inputs)
    quantized.set_outputs(graph.outputs)
    return quantized


def _group_report(ranges: RangeAnalysis, group) -> dict:
    """What the quantizer chose for a group and how much room it left, as plain JSON."""
    graph, chip = ranges.graph, ranges.chip
    clipped = total = 0
    for name, host in group.synapses.items():
        if not host:
            scaled = np.abs(graph[name].op.weights() * group.scale)
            clipped += int((scaled > weight_max(ranges.bits) + HALF_UNIT).sum())
            total += scaled.size
    neurons = {p: graph[p].op for p in group.populations if graph[p].op.role == NEURON}
    approximations = [f"{p}: v >= threshold computed as v > threshold (leaky neuron)"
                      for p, op in neurons.items() if op.inclusive and op.decay != 1]
    approximations += [f"{p}: decay 0 kept as the chip's smallest leak, {chip.decay_range[0]}/{chip.decay_one}"
                       for p, op in neurons.items() if decay_12bit(op.decay, chip) == 0]
    return {"populations": group.populations, "scale": group.scale, "rescaled_by": group.rescaled_by,
            "clipped_weight_share": clipped / total if total else 0.0, "range_margin": ranges.range_margin(group),
            "host_input": any(group.synapses.values()),
            "approximations": approximations}
