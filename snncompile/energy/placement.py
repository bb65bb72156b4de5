"""Where a graph's neurons live on a chip: populations split into cores under the chip's per-core limits, cores
assigned to chips so that as few spikes as possible cross between chips, and cores laid out on each chip's mesh.

The chip view of a graph (:func:`chip_populations`):

- a **population** is a node that integrates (a LIF level population, a float LIF/MLF node, the readout); it stores
  the synapses of every event-driven synaptic node whose current it integrates, one copy per spike population in
  that node's input (:func:`~snncompile.ir.summary.synapse_counts`);
- an average pool that ``fold_avgpool`` folded into a fully connected layer is unfolded again: a **pool** population
  (one neuron per pooled value, its ``kH*kW`` window shared per channel) sends each step's window sum as one graded
  spike (Loihi 2) to the layer, which then holds ``outputs x pooled values`` weights instead of ``outputs x input
  positions``;
- with ``graded=True`` an event tensor summing several spike populations (an MLF unit's K levels, a residual sum)
  is formed once by a **relay** population (one neuron per position, one weight-1 synapse per term) that sends the
  count as one graded spike: its readers hold one copy of their synapses instead of one per population.

Placement rules (:func:`place`):

- **whole neurons per core**: a neuron's fan-in lives on its core;
- **shared weights**: neurons of one output channel read through one kernel (a convolution, a pooling window, a
  per-channel synapse), stored once per core that holds neurons of that channel, as Loihi 2 stores convolutions
  (assumption: the chip's convolutional connectivity; ``shared=False`` gives the figure with one weight per synapse).
  A fully connected layer shares nothing. A core holds whole channels when one fits, else part of one channel;
- per-core limits from :class:`~snncompile.chip.Chip`: neurons (their state) and synaptic memory at the graph's weight
  width (with one weight per synapse, each neuron reserves its largest fan-in, an interior neuron's). The limit
  that stopped a population's cores from holding more is its **binding limit**. Input and output
  axons are counted per core (an upper bound: a core reads every position of its inputs) and checked where the chip
  gives a limit;
- **chips**: ``ceil(cores / cores_per_chip)`` chips; the cores are split among them by recursive Kernighan-Lin
  bisection (networkx) of the core graph weighted by spike traffic (one spike per sending neuron per step without
  activity), each bisection keeping the sizes the chips can hold. Within a chip, cores fill the mesh in graph order
  along a serpentine, so that consecutive cores are neighbours.
"""

from collections import defaultdict
from dataclasses import asdict, dataclass, field
from math import ceil

import networkx as nx
import numpy as np

from snncompile.chip import LOIHI2, Chip
from snncompile.ir.ops.base import NEURON
from snncompile.ir.structure import event_terms, population_synapses, spike_populations
from snncompile.ir.summary import synapse_counts

from .counting import folded_pool, largest_fan_in, synaptic_nodes
from .resources import population_neurons, widths

BYTE = 8
NEURONS, MEMORY, NONE = "neurons", "synaptic memory", "fits one core"


@dataclass(frozen=True)
class Input:
    """Synapses of each neuron of a population from ``senders`` (the populations whose spikes arrive, one entry per
    spike population): ``fan_in`` per neuron, ``shared`` when a channel's neurons read through one kernel."""

    senders: tuple
    fan_in: int
    shared: bool


@dataclass(frozen=True)
class Population:
    """Neurons of one population of the chip view, ``channels`` groups of equal size sharing their kernels.
    ``kind``: ``"neurons"``, ``"readout"``, ``"pool"`` or ``"relay"`` (the last two send graded spikes).
    ``placed_synapses``: its incoming synapses, one copy per spike population sending and per level receiving."""

    name: str
    kind: str
    neurons: int
    channels: int
    inputs: tuple
    placed_synapses: int

    @property
    def neurons_per_channel(self) -> int:
        return self.neurons // self.channels

    @property
    def shared_weights_per_channel(self) -> int:
        return sum(i.fan_in for i in self.inputs if i.shared)

    @property
    def weights_per_neuron(self) -> int:
        """Weights each neuron stores for itself: every fan-in that no kernel shares."""
        return sum(i.fan_in for i in self.inputs if not i.shared)

    @property
    def fan_in(self) -> int:
        return sum(i.fan_in for i in self.inputs)


@dataclass(frozen=True)
class Core:
    """One core: ``neurons`` of ``population`` (neurons ``first`` to ``first + neurons - 1`` in its flat order),
    ``weights`` stored (shared kernels once), ``unshared_weights`` (one per synapse), ``synaptic_bytes``, axons, and
    where it sits: ``chip`` and ``(x, y)`` on that chip's mesh."""

    index: int
    population: str
    first: int
    neurons: int
    weights: int
    unshared_weights: int
    synaptic_bytes: int
    axons_in: int
    axons_out: int = 0
    chip: int = 0
    x: int = 0
    y: int = 0


@dataclass(frozen=True)
class PopulationFit:
    """One population's cores and the limit that bound them (``None`` when one neuron cannot fit a core), with
    shared kernels and, ``unshared_*``, with one stored weight per synapse."""

    name: str
    kind: str
    neurons: int
    fan_in: int
    placed_synapses: int
    weights: int
    unshared_weights: int
    cores: int
    binding: str | None
    unshared_cores: int
    unshared_binding: str | None


@dataclass
class Placement:
    """Populations and cores of a graph on ``chip`` and the chips they need; ``problems`` lists what cannot be mapped.
    ``traffic``: spikes per step between cores (static: one per sending neuron), the inter-chip share of it, and the
    inter-chip share of a split in graph order (what the partitioning improved on)."""

    chip: Chip
    shared: bool
    graded: bool
    populations: list
    cores: list
    chips: int
    traffic: dict
    reaches: dict
    problems: list = field(default_factory=list)

    @property
    def totals(self) -> dict:
        keys = ("neurons", "placed_synapses", "weights", "unshared_weights", "cores", "unshared_cores")
        totals = {key: sum(getattr(p, key) for p in self.populations) for key in keys}
        totals["synaptic_bytes"] = sum(core.synaptic_bytes for core in self.cores)
        totals["chips"] = self.chips
        totals["unshared_chips"] = max(1, ceil(totals["unshared_cores"] / self.chip.cores_per_chip))
        return totals

    @property
    def fits_one_chip(self) -> bool:
        return self.chips == 1 and not self.problems

    def as_json(self) -> dict:
        return {"chip": self.chip.name, "shared_weights": self.shared, "graded_spikes": self.graded,
                "fits_one_chip": self.fits_one_chip,
                "totals": self.totals, "traffic": self.traffic, "problems": self.problems,
                "populations": [asdict(p) for p in self.populations], "cores": [asdict(c) for c in self.cores],
                "limits": self.chip.limits()}


def chip_populations(graph, *, graded: bool = False) -> list:
    """The populations of ``graph`` as a chip holds them (module docstring), in graph order."""
    event_driven, _ = synaptic_nodes(graph)
    on_chip = {node.name for node in event_driven}
    relays = {}
    populations = []

    def senders(events: str) -> tuple:
        """The populations whose spikes make the events ``events`` arrive, one entry per spike population; with
        graded spikes a sum of several is its relay."""
        terms = tuple(name for term, count in event_terms(graph, events).items()
                      for name in [term] * count * graph[term].op.levels)
        if not graded or spike_populations(graph, events) == 1:
            return terms
        if events not in relays:
            info = graph[events].info
            relays[events] = Population(events, "relay", info.size, info.shape[0], (Input(terms, len(terms), True),),
                                        info.size * len(terms))
            populations.append(relays[events])
        return (events,)

    for node in graph:
        if not node.op.integrates:
            continue
        inputs, placed_synapses = [], 0
        for name, count in population_synapses(graph, node.name).items():
            if name not in on_chip:
                continue
            synapse = graph[name]
            pooled = folded_pool(graph, synapse)
            if pooled is not None:
                pool = unfolded_pool(graph, synapse, pooled[0], senders)
                populations.append(pool)
                inputs += [Input((pool.name,), count * pool.neurons, False)]
                placed_synapses += count * pool.neurons * synapse.op.weight.shape[0]
                continue
            arriving = senders(synapse.inputs[0])
            shared = len(synapse.info.shape) == 3  # per output channel: conv, pooling, per-channel synapse
            fan_in = largest_fan_in(graph, synapse)
            inputs.append(Input(arriving * count, count * len(arriving) * fan_in, shared))
            placed_synapses += count * len(arriving) * synapse_counts(graph, synapse)["synapses"]
        channels = (node.info.shape[0] if len(node.info.shape) == 3 else 1) * node.op.levels
        kind = "neurons" if node.op.role == NEURON else "readout"
        populations.append(Population(node.name, kind, population_neurons(node), channels, tuple(inputs),
                                      placed_synapses * node.op.levels))
    return populations


def unfolded_pool(graph, synapse, pool_op, senders) -> Population:
    """The pool population (average pool ``pool_op``) that the folded fully connected ``synapse`` reads in the chip
    view; ``senders(events)`` names the populations whose spikes reach it."""
    pool_name = graph.metadata["passes"]["fold_avgpool"]["folded"][synapse.name]["pool"]
    events = graph[synapse.inputs[0]].inputs[0]
    arriving = senders(events)
    out_shape = pool_op.output_shape(graph[events].info)
    neurons = int(np.prod(out_shape))
    window = pool_op.kernel[0] * pool_op.kernel[1]
    synapses = pool_op.synapse_count((graph[events].info,)) * len(arriving)
    return Population(pool_name, "pool", neurons, out_shape[0], (Input(arriving, len(arriving) * window, True),),
                      synapses)


def core_capacity(population: Population, chip: Chip, bits: int, shared: bool) -> tuple:
    """``(channels per core, neurons per core, binding limit)``: whole channels when one fits (``channels >= 1``),
    else ``(0, neurons of one channel per core, limit)``; ``(0, 0, None)`` when one neuron does not fit a core."""
    kernel_bytes = population.shared_weights_per_channel * bits / BYTE if shared else 0
    neuron_bytes = (population.weights_per_neuron if shared else population.fan_in) * bits / BYTE
    memory = chip.synaptic_bytes_per_core
    if kernel_bytes + neuron_bytes > memory:
        return 0, 0, None
    per_channel = population.neurons_per_channel
    by_neurons = chip.neurons_per_core // per_channel
    by_memory = int(memory // (kernel_bytes + per_channel * neuron_bytes)) if kernel_bytes or neuron_bytes \
        else population.channels
    channels = min(by_neurons, by_memory, population.channels)
    if channels == population.channels:
        return channels, population.neurons, NONE
    if channels >= 1:
        return channels, channels * per_channel, NEURONS if by_neurons <= by_memory else MEMORY
    by_neurons = chip.neurons_per_core
    by_memory = int((memory - kernel_bytes) // neuron_bytes) if neuron_bytes else by_neurons
    neurons = min(by_neurons, by_memory, per_channel)
    if neurons < 1:
        return 0, 0, None
    return 0, neurons, NEURONS if by_neurons <= by_memory else MEMORY


def split(population: Population, chip: Chip, bits: int, shared: bool, first_index: int) -> tuple:
    """The cores of ``population`` (numbered from ``first_index``) and its binding limit."""
    channels, neurons, binding = core_capacity(population, chip, bits, shared)
    if binding is None:
        return [], None
    per_channel = population.neurons_per_channel
    if channels:  # whole channels per core
        pieces = [(start * per_channel, min(channels, population.channels - start))
                  for start in range(0, population.channels, channels)]
        pieces = [(first, count * per_channel, count) for first, count in pieces]
    else:  # part of one channel per core: each core keeps its channel's kernel
        pieces = [(c * per_channel + start, min(neurons, per_channel - start), 1)
                  for c in range(population.channels) for start in range(0, per_channel, neurons)]
    cores = []
    for offset, (first, count, kernels) in enumerate(pieces):
        kernel_weights = kernels * population.shared_weights_per_channel if shared else 0
        own_weights = count * (population.weights_per_neuron if shared else population.fan_in)
        weights = kernel_weights + own_weights
        cores.append(Core(first_index + offset, population.name, first, count, weights, count * population.fan_in,
                          ceil(weights * bits / BYTE), axons_in=0))
    return cores, binding


def place(graph, chip: Chip = LOIHI2, *, shared: bool = True, graded: bool = False) -> Placement:
    """Place ``graph`` on ``chip`` (module docstring): a compile-time decision, made without data, which ``fit`` and
    ``energy`` share."""
    bits = widths(graph, chip).weight
    populations = chip_populations(graph, graded=graded)
    by_name = {p.name: p for p in populations}
    cores, fits, problems = [], [], []
    for population in populations:
        pieces, binding = split(population, chip, bits, shared, len(cores))
        unshared, unshared_binding = split(population, chip, bits, False, 0) if shared else (pieces, binding)
        if binding is None:
            problems.append(f"population {population.name!r}: one neuron's {population.fan_in:,} incoming synapses "
                            f"need {ceil(population.fan_in * bits / BYTE):,} bytes, more than a core's synaptic "
                            f"memory ({chip.synaptic_bytes_per_core:,} bytes)")
        cores += pieces
        fits.append(PopulationFit(population.name, population.kind, population.neurons, population.fan_in,
                                  population.placed_synapses, sum(c.weights for c in pieces),
                                  sum(c.unshared_weights for c in unshared), len(pieces), binding, len(unshared),
                                  unshared_binding))
    cores = with_axons(cores, by_name)
    problems += axon_problems(cores, chip)
    traffic_graph = core_traffic(cores, by_name)
    chips = max(1, ceil(len(cores) / chip.cores_per_chip))
    groups = partition(traffic_graph, [c.index for c in cores], chips, chip.cores_per_chip)
    cores = laid_out(cores, groups, chip.mesh)
    traffic = {"per_step": traffic_graph.size(weight="traffic"),
               "inter_chip": crossing(traffic_graph, groups),
               "inter_chip_in_graph_order": crossing(traffic_graph, in_order([c.index for c in cores], chips))}
    return Placement(chip, shared, graded, fits, cores, chips, traffic, consumers(by_name), problems)


def consumers(populations: dict) -> dict:
    """Population name -> the populations its spikes reach."""
    reached = defaultdict(set)
    for population in populations.values():
        for source in population.inputs:
            for sender in source.senders:
                reached[sender].add(population.name)
    return reached


def with_axons(cores: list, populations: dict) -> list:
    """``cores`` with their axons: in, every neuron of every population sending to the core's population; out, each
    neuron once per core its spikes reach."""
    reached = consumers(populations)
    core_count = defaultdict(int)
    for core in cores:
        core_count[core.population] += 1
    result = []
    for core in cores:
        axons_in = sum(populations[s].neurons for i in populations[core.population].inputs for s in i.senders
                       if s in populations)
        targets = sum(core_count[name] for name in reached[core.population])
        result.append(Core(**{**asdict(core), "axons_in": axons_in, "axons_out": core.neurons * targets}))
    return result


def axon_problems(cores: list, chip: Chip) -> list:
    problems = []
    for limit, key in ((chip.axons_in_per_core, "axons_in"), (chip.axons_out_per_core, "axons_out")):
        worst = max(cores, key=lambda core: getattr(core, key), default=None)
        if limit and worst is not None and getattr(worst, key) > limit:
            problems.append(f"core {worst.index} ({worst.population!r}) needs {getattr(worst, key):,} "
                            f"{key.replace('_', ' ')}, more than a core's {limit:,}")
    return problems


def core_traffic(cores: list, populations: dict) -> nx.Graph:
    """The undirected core graph: edge ``traffic`` = spikes per step between two cores (one per sending neuron), a
    sending core's spikes reaching every core of every population it feeds."""
    graph = nx.Graph()
    graph.add_nodes_from(core.index for core in cores)
    by_population = defaultdict(list)
    for core in cores:
        by_population[core.population].append(core)
    reached = consumers(populations)
    for core in cores:
        for target in (t for name in reached[core.population] for t in by_population[name]):
            if target.index != core.index:
                previous = graph.get_edge_data(core.index, target.index, {"traffic": 0.0})["traffic"]
                graph.add_edge(core.index, target.index, traffic=previous + core.neurons)
    return graph


def in_order(indices: list, chips: int) -> list:
    """Cores split evenly among ``chips`` in graph order (what the partitioning improves on)."""
    size = ceil(len(indices) / chips)
    return [indices[start:start + size] for start in range(0, len(indices), size)]


def partition(graph: nx.Graph, indices: list, chips: int, per_chip: int) -> list:
    """``indices`` split into ``chips`` groups of at most ``per_chip`` cores, recursive Kernighan-Lin bisection
    minimising the traffic between groups; each group keeps graph order."""
    if chips <= 1:
        return [indices]
    left_chips = chips // 2
    left_size = min(left_chips * per_chip, ceil(len(indices) * left_chips / chips))
    start = (set(indices[:left_size]), set(indices[left_size:]))
    halves = nx.algorithms.community.kernighan_lin_bisection(graph.subgraph(indices), partition=start,
                                                             weight="traffic", seed=0)
    # the halves keep the sizes of ``start``, not its order (networkx 2.8 returns them swapped)
    left = max(halves, key=lambda half: (len(half) == left_size, len(half & start[0])))
    return (partition(graph, [i for i in indices if i in left], left_chips, per_chip)
            + partition(graph, [i for i in indices if i not in left], chips - left_chips, per_chip))


def crossing(graph: nx.Graph, groups: list) -> float:
    chip_of = {index: chip for chip, group in enumerate(groups) for index in group}
    return float(sum(data["traffic"] for a, b, data in graph.edges(data=True) if chip_of[a] != chip_of[b]))


def serpentine(columns: int, rows: int) -> list:
    """Mesh positions ``(x, y)`` row by row, every other row right to left: consecutive positions are neighbours."""
    return [(x if y % 2 == 0 else columns - 1 - x, y) for y in range(rows) for x in range(columns)]


def laid_out(cores: list, groups: list, mesh: tuple) -> list:
    """``cores`` with their chip and mesh position, in index order."""
    positions = serpentine(*mesh)
    where = {index: (chip, *positions[slot]) for chip, group in enumerate(groups)
             for slot, index in enumerate(group)}
    return [Core(**{**asdict(core), "chip": where[core.index][0], "x": where[core.index][1],
                    "y": where[core.index][2]}) for core in cores]


def routing(placement: Placement) -> dict:
    """Population name -> ``(east-west hops, north-south hops, chip crossings)`` one spike of it makes on average,
    delivered to every core its population feeds (one message per destination core, no multicast tree)."""
    by_population = defaultdict(list)
    for core in placement.cores:
        by_population[core.population].append(core)
    hops = {}
    for name, own in by_population.items():
        targets = [t for target in placement.reaches.get(name, ()) for t in by_population[target]]
        total = sum(core.neurons for core in own)
        east_west = north_south = crossings = 0.0
        for core in own:
            share = core.neurons / total
            for target in targets:
                if target.chip != core.chip:
                    crossings += share
                elif target.index != core.index:
                    east_west += share * abs(target.x - core.x)
                    north_south += share * abs(target.y - core.y)
        hops[name] = (east_west, north_south, crossings)
    return hops


