"""Range analysis for the quantizer: bound every accumulator over ``T`` steps and shrink scales until they fit.

For every population of a group, at the group's scale ``s``, the analysis bounds

- the synaptic input ``I``: the sum of ``|W_int|`` into one neuron times the largest count each input carries (its
  spike populations), or the host current's bound times ``s`` for a synapse the host computes;
- the bias ``b``: the sum of the biases of the synapses into it, times ``s``;
- the membrane over ``T`` steps: ``threshold + I + b`` just before a spike, ``steps * (I + b)`` accumulated without
  one (``steps`` = ``T`` without leak, the leak's horizon ``1 / (1 - keep)`` with it), ``T * (I + b)`` for the
  readout's integrator;

and compares them with the chip's widths: ``I << current_shift`` and the membrane against ``current_max``, the bias
and the threshold against their fields. The group's *pressure* is its worst ratio; above 1 the scale shrinks by it.
A group whose weights or threshold would then all round to zero cannot be represented: :class:`QuantizationRangeError`
naming the node.

:func:`require_ranges` re-runs the analysis on an artifact's scales for another ``T`` or input range (``simulate
--T``): it refuses, naming the population, where the integers would no longer fit.
"""

import math
from dataclasses import dataclass

import numpy as np

from ..chip import Chip
from ..errors import QuantizationRangeError
from ..integer import decay_12bit
from ..ir import Graph
from ..ir.ops import LIF, Input, Readout
from ..ir.ops.base import SynapticOp
from ..ir.structure import host_nodes, population_synapses
from .quantize_scales import Group, scale_groups

MAX_SHRINK_STEPS = 64   # rescalings tried per group; each divides by the pressure, so one or two normally suffice
SHRINK_MARGIN = 0.999   # shrink a little more than the pressure asks, so that float rounding cannot leave it at 1+eps
HALF_UNIT = 0.5         # rounding to the nearest integer moves a value by at most half a unit
NO_PRESSURE = 1e-12     # the pressure of a group nothing drives, for its (huge) range margin
INPUT_RANGE = (0.0, 1.0)  # the analog input values the quantizer bounds by default (images in [0, 1])


def host_bounds(graph: Graph, host: set, input_range: tuple) -> dict:
    """``max |value|`` of every node of ``host`` (the nodes the host computes,
    :func:`~snncompile.ir.structure.host_nodes`), by interval arithmetic from the analog input's range."""
    bounds = {}
    for node in (node for node in graph if node.name in host):
        if isinstance(node.op, Input):
            bounds[node.name] = max(abs(input_range[0]), abs(input_range[1]))
        elif isinstance(node.op, SynapticOp):
            bias = node.op.bias_values()
            bounds[node.name] = node.op.fan_in_sum() * bounds[node.inputs[0]] + (
                0.0 if bias is None else float(np.abs(bias).max()))
        else:  # glue: a sum or a reshape
            bounds[node.name] = sum(bounds[i] for i in node.inputs)
    return bounds


@dataclass(frozen=True)
class RangeAnalysis:
    """The bounds of one lowered graph quantized with ``bits``-bit weights for ``chip`` and run for ``T`` steps;
    ``host_bounds`` from :func:`host_bounds`."""

    graph: Graph
    chip: Chip
    bits: int
    T: int
    host_bounds: dict

    def integer_inputs(self, group: Group, population: str) -> tuple:
        """``(largest |I|, largest |bias|)`` of ``population`` in integer units at the group's scale."""
        s, graph = group.scale, self.graph
        saturated = 1 << (self.bits - 1)  # the largest |weight| a saturating rounding leaves
        current, bias = 0.0, 0.0
        for name, count in population_synapses(graph, population).items():
            op, source = graph[name].op, graph[graph[name].inputs[0]]
            if group.synapses.get(name, False):
                current += count * (self.host_bounds[name] * s + HALF_UNIT)
                continue
            weights = np.minimum(np.abs(np.rint(op.weights() * s)), saturated)
            current += count * op.fan_in_sum(weights) * source.info.max_count
            b = op.bias_values()
            bias += 0.0 if b is None else count * float(np.abs(b).max()) * s
        return current, math.floor(bias + HALF_UNIT)

    def pressure(self, group: Group) -> float:
        """How many times too large the group's worst case is for the chip's widths (<= 1: it fits)."""
        chip, limit = self.chip, self.chip.current_max
        pressure = 0.0
        for population in group.populations:
            op = self.graph[population].op
            current, bias = self.integer_inputs(group, population)
            if isinstance(op, Readout):  # a non-leaking accumulator over T steps
                pressure = max(pressure, self.T * (current + bias) / limit)
                continue
            threshold = op.threshold * group.scale
            keep = decay_12bit(op.decay, chip) / chip.decay_one
            steps = self.T if keep >= 1 else min(self.T, 1 / (1 - keep))
            pressure = max(pressure, current / limit, (threshold + current + bias) / limit,
                           steps * (current + bias) / limit, bias / chip.bias_range[1],
                           threshold / chip.threshold_max)
        return pressure

    def range_margin(self, group: Group) -> float:
        """How many times the group's worst case fits the chip's widths."""
        return 1 / max(self.pressure(group), NO_PRESSURE)

    def shrink_to_fit(self, group: Group) -> None:
        """Shrink the group's scale until its pressure is at most 1, then check that its values still resolve."""
        for _ in range(MAX_SHRINK_STEPS):
            needed = self.pressure(group)
            if needed <= 1:
                break
            factor = 1 / needed * SHRINK_MARGIN
            group.scale *= factor
            group.rescaled_by *= factor
        check_resolution(self.graph, group)


def check_resolution(graph: Graph, group: Group) -> None:
    """Raise :class:`QuantizationRangeError` when a threshold or a synapse's weights all round to 0 at the group's
    scale."""
    for population in group.populations:
        op = graph[population].op
        if isinstance(op, LIF) and op.threshold > 0 and round(op.threshold * group.scale) < 1:
            raise QuantizationRangeError(
                f"population {population!r}: to fit the chip's ranges its scale fell to {group.scale:.3g}, where its "
                f"threshold {op.threshold:.3g} rounds to 0; reduce its fan-in or the counts it receives")
    for name, host in group.synapses.items():
        if not host and not np.rint(graph[name].op.weights() * group.scale).any():
            raise QuantizationRangeError(f"synapse {name!r} into {group.name!r}: every weight rounds to 0 at scale "
                                         f"{group.scale:.3g}; the population's fan-in is too large for the chip")


def require_ranges(lowered: Graph, groups: list, chip: Chip, bits: int, T: int, input_range: tuple) -> None:
    """Re-run the range analysis of a graph quantized earlier from ``lowered`` (``groups``: the quantizer's report of
    its scale groups, ``graph.metadata["passes"]["quantize"]["groups"]``) for ``T`` steps per sample and analog inputs
    in ``input_range``; raise :class:`QuantizationRangeError` naming the first population whose worst case would leave
    ``chip``'s widths (wrap or saturate), and what to do."""
    host = set(host_nodes(lowered))
    ranges = RangeAnalysis(lowered, chip, bits, T, host_bounds(lowered, host, input_range))
    scales = {group["populations"][0]: group["scale"] for group in groups}
    for group in scale_groups(lowered, host):
        group.scale = scales[group.name]
        pressure = ranges.pressure(group)
        if pressure > 1:
            wider = tuple(input_range) != INPUT_RANGE
            inputs = f" with analog inputs from {input_range[0]:g} to {input_range[1]:g}" if wider else ""
            remedies = [f"compile for these steps (compile --T {T}: the quantizer then shrinks its scale)"] * (
                T != int(lowered.metadata.get("T") or 1))
            remedies += [f"scale the analog inputs into [{INPUT_RANGE[0]:g}, {INPUT_RANGE[1]:g}], the range it was "
                         f"compiled for"] * wider
            raise QuantizationRangeError(f"population {group.name!r}: at T={T}{inputs} its worst case is "
                                         f"{pressure:.2f}x what the chip's integers hold; {', or '.join(remedies)}")
