"""Static resources of a lowered graph and whether it fits Loihi 2: neurons, synapses and memory per population.

A **population** is a node of neurons: an ``IntLIF`` (or float ``LIF``/``MLF``) node, or the ``Readout``, which a chip
runs as non-leaking integrators. It stores its incoming synapses: those of every event-driven synaptic node whose
current it integrates (through sums of currents), one copy per spike population summed in that node's input (MLF
levels, residual terms; :func:`~snncompile.ir.summary.spike_populations`) and per level of the population. Host-side
layers (the encoding layer) take no chip resources.

Mapping: a population needs ``max(ceil(neurons / neurons_per_core), ceil(synaptic bytes / synaptic_memory_per_core))``
cores, assuming every synapse stores its own weight at the graph's weight width (no convolutional weight sharing, no
index overhead); a population whose single neuron's fan-in exceeds a core's synaptic memory cannot be mapped at all.
Chips: the most of cores, neurons and synapses over the per-chip limits.
"""

from dataclasses import asdict, dataclass
from math import ceil

import numpy as np

from snncompile.integer import LOIHI2
from snncompile.ir.summary import spike_populations

from .counting import NEURONS, connections, fan_out, synaptic_nodes

SECONDARY = "Loihi 2 as quoted from Intel's 2021 announcement by secondary sources, not a datasheet"

#  limit                        value        source
LOIHI2_LIMITS = {
    "cores_per_chip":           (128,         SECONDARY),
    "neurons_per_core":         (8_192,       SECONDARY),
    "synaptic_bytes_per_core":  (128 * 1024,  f"{SECONDARY} (128 KB synaptic memory per core)"),
    "neurons_per_chip":         (1_048_576,   f"{SECONDARY} (~1 M neurons per chip)"),
    "synapses_per_chip":        (120_000_000, f"{SECONDARY} (~120 M synapses per chip)"),
}
FLOAT_BITS = 32


def limit(name: str) -> int:
    return LOIHI2_LIMITS[name][0]


@dataclass(frozen=True)
class Widths:
    """Bits per stored weight, bias and neuron state: the chip's widths for an integer graph (weights at the
    quantizer's width), 32-bit floats otherwise."""

    weight: int
    bias: int
    state: int


def widths(graph) -> Widths:
    if graph.metadata.get("integer"):
        return Widths(int(graph.metadata.get("bits", LOIHI2.weight_bits)), LOIHI2.bias_bits, LOIHI2.state_bits)
    return Widths(FLOAT_BITS, FLOAT_BITS, FLOAT_BITS)


def weight_bits(graph, node) -> int:
    """Bits of one weight of synaptic ``node``: a float tensor (the host's layers) is 32-bit."""
    tensor = node.op.scale if node.op.kind == "Affine" else getattr(node.op, "weight", None)
    if isinstance(tensor, np.ndarray) and tensor.dtype.kind == "f":
        return FLOAT_BITS
    return widths(graph).weight


def parameter_bits(graph, node) -> int:
    """Bits of ``node``'s stored tensors: weights (and one-to-one scales) at the weight width, biases and shifts at
    the bias width, float tensors at 32 bits."""
    width = widths(graph)
    bits = 0
    for name, tensor in node.op.tensors().items():
        integer = width.weight if name in ("weight", "scale") else width.bias
        bits += tensor.size * (FLOAT_BITS if tensor.dtype.kind == "f" else integer)
    return bits


def population_neurons(node) -> int:
    return node.info.size if node.op.kind == "Readout" else node.op.neuron_count(node.info)


def current_sources(graph, name: str) -> list:
    """The synaptic nodes whose current population ``name`` integrates, through sums of currents."""
    sources = []
    for source in graph[name].inputs:
        node = graph[source]
        if node.op.kind in ("Add", "BatchNorm") and not node.info.is_events:
            sources += current_sources(graph, source)
        else:
            sources.append(node)
    return sources


@dataclass(frozen=True)
class Population:
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
    what breaks (empty when the graph fits)."""

    populations: list
    totals: dict
    problems: list

    @property
    def fits_one_chip(self) -> bool:
        return self.totals["chips"] == 1 and not self.problems

    def as_json(self) -> dict:
        return {"populations": [asdict(p) for p in self.populations], "totals": self.totals,
                "problems": self.problems, "fits_one_chip": self.fits_one_chip,
                "limits": {name: {"value": value, "source": source} for name, (value, source) in LOIHI2_LIMITS.items()}}


def largest_fan_in(graph, node) -> int:
    """The most connections one output position of synaptic ``node`` receives (interior positions)."""
    op = node.op
    if op.kind == "Conv2d":
        return int(np.prod(op.weight.shape[1:]))
    if op.kind in ("Linear", "Readout"):
        return int(np.count_nonzero(fan_out(graph, node)))
    if hasattr(op, "kernel"):
        return op.kernel[0] * op.kernel[1]
    return 1


def populations(graph) -> list:
    """Every population of ``graph`` on chip, with its incoming synapses and cores."""
    event_driven, _ = synaptic_nodes(graph)
    on_chip = {node.name for node in event_driven}
    bits = widths(graph).weight
    rows = []
    for node in graph:
        if node.op.kind not in NEURONS and node.op.kind != "Readout":
            continue
        sources = [node] if node.op.kind == "Readout" else current_sources(graph, node.name)
        sources = [s for s in sources if s.name in on_chip]
        levels = getattr(node.op, "levels", 1)
        synapses = levels * sum(connections(graph, s) * spike_populations(graph, s.inputs[0]) for s in sources)
        fan_in = sum(largest_fan_in(graph, s) * spike_populations(graph, s.inputs[0]) for s in sources)
        neurons = population_neurons(node)
        synaptic_bytes = ceil(synapses * bits / 8)
        cores = max(1, ceil(neurons / limit("neurons_per_core")),
                    ceil(synaptic_bytes / limit("synaptic_bytes_per_core")))
        rows.append(Population(node.name, neurons, synapses, fan_in, synaptic_bytes, cores))
    return rows


def loihi2_fit(graph) -> Resources:
    """The populations of ``graph``, the cores and chips of Loihi 2 they need, and which population breaks which
    limit."""
    rows = populations(graph)
    totals = {key: sum(getattr(p, key) for p in rows) for key in ("neurons", "synapses", "synaptic_bytes", "cores")}
    totals["parameter_bits"] = sum(parameter_bits(graph, node) for node in graph)
    needs = {"cores": totals["cores"] / limit("cores_per_chip"),
             "neurons": totals["neurons"] / limit("neurons_per_chip"),
             "synapses": totals["synapses"] / limit("synapses_per_chip")}
    totals["chips"] = max(1, ceil(max(needs.values())))
    problems = []
    core_bytes = limit("synaptic_bytes_per_core")
    for p in rows:
        needed = ceil(p.largest_fan_in * widths(graph).weight / 8)
        if needed > core_bytes:
            problems.append(f"population {p.name!r}: one neuron's {p.largest_fan_in:,} incoming synapses need "
                            f"{needed:,} bytes, more than a core's synaptic memory ({core_bytes:,} bytes)")
    if totals["chips"] > 1:
        binding = max(needs, key=needs.get)
        largest = sorted(rows, key=lambda p: getattr(p, binding), reverse=True)[:3]
        problems.append(f"needs {totals['chips']} chips: {totals[binding]:,} {binding} exceed one chip's "
                        f"{limit(f'{binding}_per_chip'):,}; largest: "
                        + ", ".join(f"{p.name!r} ({getattr(p, binding):,})" for p in largest))
    return Resources(rows, totals, problems)
