"""Static resources of a lowered graph and whether it fits a chip (Loihi 2 by default): neurons, synapses and memory
per population.

A **population** is a node that integrates (:attr:`~snncompile.ir.ops.base.Op.integrates`): a neuron node
(``IntLIF``, or float ``LIF``/``MLF``), or the ``Readout``, which a chip runs as non-leaking integrators. It stores its
incoming synapses: those of every event-driven synaptic node whose current it integrates (through sums of currents,
:func:`~snncompile.ir.structure.population_synapses`), one copy per spike population summed in that node's input (MLF
levels, residual terms; :func:`~snncompile.ir.structure.spike_populations`) and per level of the population.
Host-side layers (the encoding layer) take no chip resources.

Mapping: a population needs ``max(ceil(neurons / neurons_per_core), ceil(synaptic bytes / synaptic_bytes_per_core))``
cores of the chip (:class:`~snncompile.chip.Chip`), assuming every synapse stores its own weight at the graph's weight
width (no convolutional weight sharing, no index overhead); a population whose single neuron's fan-in exceeds a
core's synaptic memory cannot be mapped at all. Chips: the most of cores, neurons and synapses over the per-chip
limits.
"""

from dataclasses import asdict, dataclass, field
from math import ceil

import numpy as np

from snncompile.chip import LOIHI2, Chip
from snncompile.ir.ops.base import NEURON
from snncompile.ir.structure import population_synapses, spike_populations

from .counting import connections, largest_fan_in, synaptic_nodes

FLOAT_BITS = 32


@dataclass(frozen=True)
class Widths:
    """Bits per stored weight, bias and neuron state: the chip's widths for an integer graph (weights at the
    quantizer's width), 32-bit floats otherwise."""

    weight: int
    bias: int
    state: int


def widths(graph, chip: Chip = LOIHI2) -> Widths:
    if graph.metadata.get("integer"):
        return Widths(int(graph.metadata.get("bits", chip.weight_bits)), chip.bias_bits, chip.state_bits)
    return Widths(FLOAT_BITS, FLOAT_BITS, FLOAT_BITS)


def stored_weights(op):
    """The weight tensor synaptic ``op`` stores (its ``weight_field``), or ``None`` for weights implied by its type."""
    return None if op.weight_field is None else getattr(op, op.weight_field)


def weight_bits(node, width: Widths) -> int:
    """Bits of one weight of synaptic ``node`` at ``width``: a float tensor (the host's layers) is 32-bit."""
    tensor = stored_weights(node.op)
    if isinstance(tensor, np.ndarray) and tensor.dtype.kind == "f":
        return FLOAT_BITS
    return width.weight


def parameter_bits(node, width: Widths) -> int:
    """Bits of ``node``'s stored tensors: weights (and one-to-one scales) at the weight width, biases and shifts at
    the bias width, float tensors at 32 bits."""
    bits = 0
    for name, tensor in node.op.tensors().items():
        integer = width.weight if name == node.op.weight_field else width.bias
        bits += tensor.size * (FLOAT_BITS if tensor.dtype.kind == "f" else integer)
    return bits


def population_neurons(node) -> int:
    """Neurons of population ``node``: its neurons (every level), or one integrator per output of a readout."""
    return node.op.neuron_count(node.info) if node.op.role == NEURON else node.info.size


@dataclass(frozen=True)
class PopulationShare:
    """One population's share of a chip. ``synapses``: incoming synapses; ``largest_fan_in``: of one neuron."""

    name: str
    neurons: int
    synapses: int
    largest_fan_in: int
    synaptic_bytes: int
    cores: int


@dataclass
class Resources:
    """Populations, totals (``parameter_bits``: every stored tensor once, host layers included), the chips needed and
    what breaks (empty when the graph fits), on ``chip``."""

    populations: list
    totals: dict
    problems: list
    chip: Chip = field(default=LOIHI2)

    @property
    def fits_one_chip(self) -> bool:
        return self.totals["chips"] == 1 and not self.problems

    def as_json(self) -> dict:
        return {"populations": [asdict(p) for p in self.populations], "totals": self.totals,
                "problems": self.problems, "fits_one_chip": self.fits_one_chip, "limits": self.chip.limits()}


def populations(graph, chip: Chip = LOIHI2) -> list:
    """Every population of ``graph`` on ``chip``, with its incoming synapses and cores."""
    event_driven, _ = synaptic_nodes(graph)
    on_chip = {node.name for node in event_driven}
    bits = widths(graph, chip).weight
    rows = []
    for node in graph:
        if not node.op.integrates:
            continue
        sources = [(graph[name], count) for name, count in population_synapses(graph, node.name).items()
                   if name in on_chip]
        synapses = node.op.levels * sum(count * connections(graph, s) * spike_populations(graph, s.inputs[0])
                                        for s, count in sources)
        fan_in = sum(count * largest_fan_in(graph, s) * spike_populations(graph, s.inputs[0]) for s, count in sources)
        neurons = population_neurons(node)
        synaptic_bytes = ceil(synapses * bits / 8)
        cores = max(1, ceil(neurons / chip.neurons_per_core), ceil(synaptic_bytes / chip.synaptic_bytes_per_core))
        rows.append(PopulationShare(node.name, neurons, synapses, fan_in, synaptic_bytes, cores))
    return rows


def chip_fit(graph, chip: Chip = LOIHI2) -> Resources:
    """The populations of ``graph``, the cores and chips of ``chip`` they need, and which population breaks which
    limit."""
    rows = populations(graph, chip)
    width = widths(graph, chip)
    totals = {key: sum(getattr(p, key) for p in rows) for key in ("neurons", "synapses", "synaptic_bytes", "cores")}
    totals["parameter_bits"] = sum(parameter_bits(node, width) for node in graph)
    per_chip = {"cores": chip.cores_per_chip, "neurons": chip.neurons_per_chip, "synapses": chip.synapses_per_chip}
    needs = {key: totals[key] / per_chip[key] for key in per_chip}
    totals["chips"] = max(1, ceil(max(needs.values())))
    problems = []
    core_bytes = chip.synaptic_bytes_per_core
    for p in rows:
        needed = ceil(p.largest_fan_in * width.weight / 8)
        if needed > core_bytes:
            problems.append(f"population {p.name!r}: one neuron's {p.largest_fan_in:,} incoming synapses need "
                            f"{needed:,} bytes, more than a core's synaptic memory ({core_bytes:,} bytes)")
    if totals["chips"] > 1:
        binding = max(needs, key=needs.get)
        largest = sorted(rows, key=lambda p: getattr(p, binding), reverse=True)[:3]
        problems.append(f"needs {totals['chips']} chips: {totals[binding]:,} {binding} exceed one chip's "
                        f"{per_chip[binding]:,}; largest: "
                        + ", ".join(f"{p.name!r} ({getattr(p, binding):,})" for p in largest))
    return Resources(rows, totals, problems, chip)
