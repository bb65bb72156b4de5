"""Quantize a lowered float graph to the chip's integers, one scale per postsynaptic population (DESIGN §4).

A hard-reset LIF computes the same spikes when its weights, bias and threshold are all multiplied by one ``s > 0``, so
each population gets one scale, shared by every synapse into it (residual fan-in included, and every level of a
lowered MLF unit, since the levels share their synapses: such populations form one *group*)::

    W_int = rint(W * s)      bias_int = rint(b * s)      threshold_int = rint(threshold * s)      D = rint(decay * 4096)

``s = clip_ratio * (2**(bits-1) - 1) / max|W|`` over the group's on-chip synapses: max-abs when ``clip_ratio = 1``;
above 1 the largest weights saturate at the widest integer in exchange for finer steps everywhere else
(:mod:`.calibrate` picks the ratio on sample inputs). Biases of every synapse into a
population move onto the population (a chip adds them there). A synapse whose input is analog (the encoding layer) is
computed by the host in floating point; a ``Quantize`` node turns its output current into integers with the group's
scale. The readout is a group of its own; its ``output_scale`` turns integer logits back into float ones.

Range analysis bounds, for every population, the largest synaptic input ``I`` (sum of ``|W_int|`` times the largest
count each input can carry, or the host current's bound), the bias and the membrane over ``T`` steps, and shrinks the
scale until ``I << 6``, ``v`` (both signs) and the bias fit their widths (:data:`snncompile.integer.LOIHI2`). A group
that cannot fit — its weights would all round to zero, or its threshold would — is a :class:`QuantizationRangeError`
naming the node. Where the integer model differs from the float one is reported, not hidden: ``>=`` comparisons
become ``>`` (exact for non-leaking neurons, whose membranes stay on multiples of 64: the threshold drops by one).
"""

import math
from dataclasses import dataclass, field

import numpy as np

from ..errors import GraphError, QuantizationRangeError, UnsupportedNodeError
from ..integer import DECAY_ONE, LOIHI2, decay_12bit
from ..ir import Graph
from ..ir.ops import Affine, Conv2d, IntLIF, Linear, Quantize, Readout, SumPool2d

SYNAPSES = ("Conv2d", "Linear", "Affine", "AvgPool2d")
PASS_THROUGH = ("Input", "Add", "Flatten")
LOWERED_AWAY = ("BatchNorm", "MLF", "SEWLogic", "MaxPool2d")


@dataclass
class Group:
    """Populations sharing synapses, and so one scale."""

    populations: list
    synapses: dict = field(default_factory=dict)  # synapse node name -> True if the host computes it (analog input)
    scale: float = 1.0
    rescaled_by: float = 1.0

    @property
    def name(self) -> str:
        return self.populations[0]


def quantize(graph: Graph, bits: int = 8, input_range: tuple = (0.0, 1.0), clip_ratio: float = 1.0) -> Graph:
    """The integer graph of a lowered float ``graph`` with ``bits``-bit signed weights (at most the chip's 9).

    ``input_range`` bounds the analog input values (images in [0, 1]); the host current's range follows from it.
    ``clip_ratio`` >= 1 multiplies every max-abs scale (weights beyond the widest integer saturate)."""
    if not clip_ratio >= 1:
        raise QuantizationRangeError(f"clip_ratio must be >= 1, got {clip_ratio}")
    if not 2 <= bits <= LOIHI2.weight_bits:
        raise QuantizationRangeError(f"weights must have 2 to {LOIHI2.weight_bits} bits on chip, got --bits {bits}")
    _check_lowered(graph)
    groups = _groups(graph)
    T = int(graph.metadata.get("T") or 1)
    quantized, report = Graph(graph.name), []
    quantized.metadata = {**graph.metadata, "integer": True, "bits": bits}
    host_bounds = _host_bounds(graph, input_range)
    for group in groups:
        _choose_scale(graph, group, bits, T, host_bounds, clip_ratio)
    owner = {name: group for group in groups for name in group.populations + list(group.synapses)}
    renamed = {}
    for node in graph:
        inputs = [renamed.get(i, i) for i in node.inputs]
        group = owner.get(node.name)
        if group is None:  # Input, host-side ops, flatten, and sums that no single population owns
            quantized.add(node.name, node.op, inputs)
        elif node.name in group.synapses and group.synapses[node.name]:  # host-computed: quantize its current
            quantized.add(node.name, node.op, inputs)
            renamed[node.name] = quantized.add(f"{node.name}.quantize", Quantize(group.scale), [node.name])
        elif node.name in group.synapses:
            quantized.add(node.name, _integer_synapse(node.op, group.scale, bits), inputs)
        elif node.op.kind == "Readout":
            quantized.add(node.name, _integer_readout(node.op, group.scale, bits), inputs)
        else:
            quantized.add(node.name, _integer_population(graph, node, group), inputs)
    quantized.set_outputs(graph.outputs)
    for group in groups:
        report.append(_group_report(graph, group, bits, T, host_bounds))
    quantized.metadata.setdefault("passes", {})["quantize"] = {"bits": bits, "clip_ratio": clip_ratio,
                                                               "groups": report}
    return quantized


# -- structure ------------------------------------------------------------------------------------------------------

def _check_lowered(graph: Graph) -> None:
    problems = []
    for node in graph:
        kind = node.op.kind
        if kind in LOWERED_AWAY:
            problems.append(f"node {node.name!r} ({kind}): run the lowering passes before quantizing")
        elif kind == "LIF" and (node.op.reset != "hard" or node.op.v_reset != 0):
            problems.append(f"node {node.name!r} (LIF): {node.op.reset} reset to {node.op.v_reset} has no integer "
                            f"form on chip (hard reset to 0 only)")
        elif kind == "LIF" and node.op.input_gain != 1:
            problems.append(f"node {node.name!r} (LIF): input gain {node.op.input_gain} must be folded first")
        elif kind not in (*SYNAPSES, *PASS_THROUGH, "LIF", "Readout"):
            problems.append(f"node {node.name!r} ({kind}): cannot be quantized")
        elif kind == "Readout" and not graph[node.inputs[0]].info.is_events:
            problems.append(f"node {node.name!r} (Readout): reads analog values; fold the pooling before it into it")
    if problems:
        raise UnsupportedNodeError("cannot quantize:\n  " + "\n  ".join(problems))


def _synapses_of(graph: Graph, name: str) -> dict:
    """The synapses summed into population ``name``: walk back through analog sums to weighted ops."""
    found, stack = {}, list(graph[name].inputs)
    while stack:
        node = graph[stack.pop()]
        if node.op.kind == "Add" and node.info.kind == "analog":
            stack.extend(node.inputs)
        elif node.op.kind in SYNAPSES:
            found[node.name] = not graph[node.inputs[0]].info.is_events
        else:
            raise GraphError(f"node {node.name!r} ({node.op.kind}) feeds population {name!r} without a synapse; "
                             f"give it an explicit one-to-one synapse (Affine)")
    return found


def _groups(graph: Graph) -> list:
    """Populations that share a synapse, merged (union-find over synapse ownership); the readout alone."""
    groups = []
    for node in graph:
        if node.op.kind == "LIF":
            synapses = _synapses_of(graph, node.name)
            merged = [g for g in groups if g.synapses.keys() & synapses.keys()]
            group = Group([node.name], synapses)
            for other in merged:
                groups.remove(other)
                group.populations = other.populations + group.populations
                group.synapses = {**other.synapses, **group.synapses}
            groups.append(group)
        elif node.op.kind == "Readout":
            groups.append(Group([node.name], {}))
    return groups


# -- scales and ranges ----------------------------------------------------------------------------------------------

def _weights(op) -> np.ndarray:
    if op.kind == "AvgPool2d":
        return np.array([1.0 / (op.kernel[0] * op.kernel[1])])
    return op.scale if op.kind == "Affine" else op.weight


def _bias(op):
    if op.kind == "Affine":
        return op.shift
    return getattr(op, "bias", None)


def _fan_in_sum(op, weights: np.ndarray) -> float:
    """The largest sum of ``|weight|`` into one output position."""
    if op.kind in ("Conv2d", "Linear", "Readout"):
        return float(np.abs(weights).reshape(weights.shape[0], -1).sum(axis=1).max())
    if op.kind in ("AvgPool2d", "SumPool2d"):
        return float(np.abs(weights).max()) * op.kernel[0] * op.kernel[1]
    return float(np.abs(weights).max())  # Affine: one input per output


def _host_bounds(graph: Graph, input_range: tuple) -> dict:
    """``max |value|`` of every host-side analog node (interval arithmetic from the input range)."""
    bounds = {}
    for node in graph:
        if node.op.kind == "Input":
            bounds[node.name] = max(abs(input_range[0]), abs(input_range[1]))
        elif not node.inputs or not all(i in bounds for i in node.inputs):
            continue
        elif node.op.kind in SYNAPSES:
            x = bounds[node.inputs[0]]
            bias = _bias(node.op)
            bounds[node.name] = _fan_in_sum(node.op, _weights(node.op)) * x + (
                0.0 if bias is None else float(np.abs(bias).max()))
        elif node.op.kind in ("Add", "Flatten"):
            bounds[node.name] = sum(bounds[i] for i in node.inputs)
    return bounds


def _choose_scale(graph, group, bits, T, host_bounds, clip_ratio) -> None:
    """Max-abs scale of the group (times ``clip_ratio``), shrunk until every range check passes (or a clear error)."""
    qmax = (1 << (bits - 1)) - 1
    on_chip = [name for name, host in group.synapses.items() if not host] or list(group.synapses) or group.populations
    largest = max(float(np.abs(_weights(graph[name].op)).max()) for name in on_chip)
    if largest == 0:
        raise QuantizationRangeError(f"population {group.name!r}: every weight into it is zero")
    group.scale = clip_ratio * qmax / largest
    for _ in range(64):
        needed = _range_pressure(graph, group, T, host_bounds, bits)
        if needed <= 1:
            break
        factor = 1 / needed * 0.999
        group.scale *= factor
        group.rescaled_by *= factor
    _check_resolution(graph, group)


def _integer_inputs(graph, group, population, host_bounds, bits) -> tuple:
    """(largest |I|, largest |bias|) of ``population`` in integer units at the group's scale."""
    s = group.scale
    synapses = {population: False} if graph[population].op.kind == "Readout" else _synapses_of(graph, population)
    current, bias = 0.0, 0.0
    for name, host in synapses.items():
        op, source = graph[name].op, graph[graph[name].inputs[0]]
        if host:
            current += host_bounds[name] * s + 0.5
            continue
        weights = np.minimum(np.abs(np.rint(_weights(op) * s)), (1 << (bits - 1)))
        current += _fan_in_sum(op, weights) * source.info.max_count
        b = _bias(op)
        bias += 0.0 if b is None else float(np.abs(b).max()) * s
    return current, math.floor(bias + 0.5)


def _range_pressure(graph, group, T, host_bounds, bits) -> float:
    """How many times too large the group's worst case is for the chip's widths (<= 1: it fits)."""
    limit = LOIHI2.current_max
    pressure = 0.0
    for population in group.populations:
        op = graph[population].op
        current, bias = _integer_inputs(graph, group, population, host_bounds, bits)
        if op.kind == "Readout":  # a non-leaking accumulator over T steps
            pressure = max(pressure, T * (current + bias) / limit)
            continue
        threshold = op.threshold * group.scale
        keep = decay_12bit(op.decay) / DECAY_ONE
        steps = T if keep >= 1 else min(T, 1 / (1 - keep))
        pressure = max(pressure, current / limit, (threshold + current + bias) / limit,
                       steps * (current + bias) / limit, bias / LOIHI2.bias_range[1],
                       threshold / LOIHI2.threshold_max)
    return pressure


def _check_resolution(graph, group) -> None:
    for population in group.populations:
        op = graph[population].op
        if op.kind == "LIF" and op.threshold > 0 and round(op.threshold * group.scale) < 1:
            raise QuantizationRangeError(
                f"population {population!r}: to fit the chip's ranges its scale fell to {group.scale:.3g}, where its "
                f"threshold {op.threshold:.3g} rounds to 0; reduce its fan-in or the counts it receives")
    for name, host in group.synapses.items():
        if not host and not np.rint(_weights(graph[name].op) * group.scale).any():
            raise QuantizationRangeError(f"synapse {name!r} into {group.name!r}: every weight rounds to 0 at scale "
                                         f"{group.scale:.3g}; the population's fan-in is too large for the chip")


# -- integer ops ----------------------------------------------------------------------------------------------------

def _rint(values, dtype=np.int32) -> np.ndarray:
    return np.rint(values).astype(dtype)


def _weights_int(values, bits) -> np.ndarray:
    """``rint(values)`` saturated to the ``bits``-bit signed range."""
    qmax = (1 << (bits - 1)) - 1
    return np.clip(np.rint(values), -qmax - 1, qmax).astype(np.int32)


def _integer_synapse(op, scale, bits):
    if op.kind == "Conv2d":
        return Conv2d(_weights_int(op.weight * scale, bits), None, op.stride, op.padding)
    if op.kind == "Linear":
        return Linear(_weights_int(op.weight * scale, bits), None)
    if op.kind == "Affine":
        return Affine(_weights_int(op.scale * scale, bits), np.zeros(op.shift.shape, np.int32))
    return SumPool2d(op.kernel, op.stride, op.padding,
                     int(_weights_int(scale / (op.kernel[0] * op.kernel[1]), bits)))


def _integer_readout(op, scale, bits):
    bias = None if op.bias is None else _rint(op.bias * scale)
    return Readout(_weights_int(op.weight * scale, bits), bias, output_scale=scale)


def _integer_population(graph, node, group) -> IntLIF:
    op, s = node.op, group.scale
    bias = np.zeros(node.info.shape[0])
    for name, host in _synapses_of(graph, node.name).items():
        b = _bias(graph[name].op)
        if not host and b is not None:
            bias = bias + b
    bias_int = _rint(bias * s, np.int64)
    decay = max(decay_12bit(op.decay), 1)  # the chip's smallest leak keeps 1/4096 (Loihi: dv <= 4095)
    threshold = int(round(op.threshold * s))
    if op.inclusive and decay == DECAY_ONE and threshold > 0:
        threshold -= 1  # v stays on multiples of 64 without leak: v >= 64*th  <=>  v > 64*(th - 1)
    return IntLIF(threshold, decay, bias_int if bias_int.any() else None, s, op.model)


def _group_report(graph, group, bits, T, host_bounds) -> dict:
    """What the quantizer chose for a group and how much room it left, as plain JSON."""
    qmax = (1 << (bits - 1)) - 1
    clipped = total = 0
    for name, host in group.synapses.items():
        if not host:
            scaled = np.abs(_weights(graph[name].op) * group.scale)
            clipped += int((scaled > qmax + 0.5).sum())
            total += scaled.size
    margin = 1 / max(_range_pressure(graph, group, T, host_bounds, bits), 1e-12)
    neurons = [graph[p].op for p in group.populations if graph[p].op.kind == "LIF"]
    approximations = [f"{p}: v >= threshold computed as v > threshold (leaky neuron)"
                      for p, op in zip(group.populations, neurons) if op.inclusive and op.decay != 1]
    approximations += [f"{p}: decay 0 kept as the chip's smallest leak, 1/4096"
                       for p, op in zip(group.populations, neurons) if decay_12bit(op.decay) == 0]
    return {"populations": group.populations, "scale": group.scale, "rescaled_by": group.rescaled_by,
            "clipped_weight_share": clipped / total if total else 0.0, "range_margin": margin,
            "host_input": any(group.synapses.values()),
            "approximations": approximations}
