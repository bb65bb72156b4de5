"""Energy per inference: the events a simulation counted, priced by a profile, layer by layer (DESIGN §6).

Rows (:class:`LayerEnergy`), in graph order:

- ``host``: a synaptic node the host computes (the encoding layer): ``macs`` every step (T x the layer's
  connections, the convention the totals use) and ``macs_once`` once per input (the same when the input changes every
  step, frames; a direct-encoded image is constant, so the host could compute the layer once);
- ``synapses``: an event-driven synaptic node: ``sops`` (events x exact fan-out, :mod:`.counting`) and ``chip_sops``
  (one per population integrating the output: each MLF level holds its own synapses on a chip);
- ``neurons``: a population, or the K level populations of one lowered MLF unit (the nodes reading the same input):
  ``spikes``, ``firing_rate`` (spikes per neuron per step, :func:`~snncompile.ir.summary.spiking_neurons`), neuron
  updates (``active_updates``: one per spike, a lower bound, Davies et al. define no finer split;
  ``inactive_updates``: the other neuron-steps), and the routing of its spikes on the placement
  (:func:`~snncompile.energy.placement.place`, the same as ``snncompile fit``): mesh hops east-west and north-south,
  and crossings between chips.

Every component of a row's energy is its columns times the profile's prices (:func:`~.profiles.priced`), nothing
else. Every figure is per inference: summed over the steps of one sample, averaged over the samples simulated. The
equivalent ANN (``ann_macs``, standard convention; ``ann_macs_exact`` beside it) is priced at the profile's MAC.

With ``memory=True`` (CMOS profiles only) rows add SRAM bytes: a weight read per MAC and per synaptic operation (at
the graph's weight width; the host's float weights at 32 bits), and per neuron and step its membrane read and written
and its bias read; the ANN reads each weight once per MAC. Off by default, and labelled in every output when on.
"""

from dataclasses import asdict, dataclass, field
from os.path import commonprefix

import numpy as np

from snncompile.chip import LOIHI2, Chip
from snncompile.errors import ConfigError
from snncompile.ir.ops.base import NEURON
from snncompile.ir.summary import synapse_counts, target_levels

from .counting import ann_macs, ann_macs_exact, connections, fan_out, synaptic_nodes
from .placement import Placement, place, routing
from .profiles import COMPONENTS, Profile, priced, profile as profile_named
from .resources import Widths, population_neurons, weight_bits, widths

MAC_CONVENTION = ("macs: every timestep (T x the layer's connections), the figure energy_pj prices; "
                  "macs_once_per_input: once per input (a direct-encoded image is constant over the T steps); "
                  "ann_macs: the equivalent ANN in the standard convention (every kernel tap, zero padding included, "
                  "as torchvision/fvcore/thop and the papers count), ann_macs_exact: one per connection")
SUMMED = ("neurons", "synapses", "level_synapses", "chip_synapses", "spikes", "sops", "chip_sops", "macs", "macs_once",
          "ann_macs", "ann_macs_exact", "active_updates", "inactive_updates", "east_west_hops", "north_south_hops",
          "chip_crossings", "memory_bytes", "ann_memory_bytes", "energy_pj", "ann_energy_pj")
BYTE = 8


@dataclass
class LayerEnergy:
    """One row of an :class:`Estimate`, per inference. ``energy``: pJ by component (:data:`COMPONENTS`);
    ``per_step``: SOPs (``synapses``) or spikes (``neurons``) at each step."""

    name: str
    op: str
    role: str
    neurons: int = 0
    synapses: int = 0
    level_synapses: int = 0
    chip_synapses: int = 0
    spikes: float = 0.0
    firing_rate: float = 0.0
    sops: float = 0.0
    chip_sops: float = 0.0
    macs: float = 0.0
    macs_once: float = 0.0
    ann_macs: int = 0
    ann_macs_exact: int = 0
    active_updates: float = 0.0
    inactive_updates: float = 0.0
    east_west_hops: float = 0.0
    north_south_hops: float = 0.0
    chip_crossings: float = 0.0
    memory_bytes: float = 0.0
    ann_memory_bytes: float = 0.0
    energy: dict = field(default_factory=lambda: dict.fromkeys(COMPONENTS, 0.0))
    ann_energy_pj: float = 0.0
    per_step: list = field(default_factory=list)

    @property
    def energy_pj(self) -> float:
        return sum(self.energy.values())

    def price(self, price: Profile) -> "LayerEnergy":
        """This row with its energy: every component its columns times their prices, the ANN its MACs."""
        self.energy = {component: sum(getattr(self, column) * pj for column, pj in columns)
                       for component, columns in priced(price).items()}
        self.ann_energy_pj = self.ann_macs * price.mac + self.ann_memory_bytes * price.sram_byte
        return self

    def as_json(self) -> dict:
        return {**asdict(self), "energy_pj": self.energy_pj}


@dataclass
class Estimate:
    """Per-layer rows and totals of one graph under one profile, from ``samples`` simulated inputs of ``T`` steps,
    with the placement its routing used."""

    graph: str
    profile: Profile
    samples: int
    T: int
    memory: bool
    layers: list
    placement: Placement | None = None

    @property
    def totals(self) -> dict:
        """Sums over the layers per inference, averages per timestep, and the SOPs and spikes at each step."""
        total = {key: sum(getattr(layer, key) for layer in self.layers) for key in SUMMED}
        total["macs_once_per_input"] = total.pop("macs_once")
        total["energy"] = {c: sum(layer.energy[c] for layer in self.layers) for c in COMPONENTS}
        total["sops_per_step"] = self.step_sums("synapses")
        total["spikes_per_step"] = self.step_sums("neurons")
        total["per_timestep"] = {key: total[key] / self.T for key in ("sops", "spikes", "macs", "energy_pj")}
        total["ann_to_snn"] = total["ann_energy_pj"] / total["energy_pj"] if total["energy_pj"] else None
        return total

    def step_sums(self, role: str) -> list:
        rows = [layer.per_step for layer in self.layers if layer.role == role]
        return np.sum(rows, axis=0).tolist() if rows else [0.0] * self.T

    def as_json(self) -> dict:
        return {"graph": self.graph, "profile": self.profile.name, "samples": self.samples, "T": self.T,
                "memory_traffic": self.memory, "mac_convention": MAC_CONVENTION,
                "ann_technology": self.profile.mac_source, "sop_column": self.profile.sop_column,
                "totals": self.totals, "layers": [layer.as_json() for layer in self.layers],
                "sources": list(self.profile.sources)}


def estimate(graph, activity, profile="cmos45", *, memory: bool = False, chip: Chip = LOIHI2,
             placement: Placement | None = None) -> Estimate:
    """Price the events of ``activity`` (:class:`~snncompile.energy.Activity` of ``graph``) under ``profile`` (a
    name or a :class:`Profile`), per layer and per inference; ``memory`` adds the SRAM traffic term (CMOS profiles),
    with the widths an integer graph has on ``chip``. Spikes are routed on ``placement`` (default: ``graph`` placed
    on ``chip``)."""
    price = profile_named(profile) if isinstance(profile, str) else profile
    if memory and price.measured:
        raise ConfigError(f"profile {price.name!r} prices measured per-operation energies that include their memory "
                          f"accesses: a 45 nm SRAM term on top would count them twice; drop --memory")
    if activity.samples < 1:
        raise ConfigError("the activity holds no simulated samples: add a simulation result first")
    event_driven, host = synaptic_nodes(graph)
    missing = sorted({node.inputs[0] for node in event_driven} - set(activity.per_position))
    if missing:
        raise ConfigError(f"the activity has no per-position events of {', '.join(map(repr, missing))}: was it "
                          f"measured on graph {graph.name!r}?")
    placement = placement or place(graph, chip)
    hops = routing(placement)
    width = widths(graph, chip) if memory else None
    rows = {node.name: host_row(graph, node, activity, width) for node in host}
    rows.update({node.name: synapse_row(graph, node, activity, width) for node in event_driven})
    for members in population_groups(graph):
        rows[members[0].name] = neuron_row(members, activity, hops, width)
    layers = [rows[node.name].price(price) for node in graph if node.name in rows]
    return Estimate(graph.name, price, activity.samples, activity.T, memory, layers, placement)


def host_row(graph, node, activity, width: Widths | None) -> LayerEnergy:
    """The row of a synaptic node the host computes; ``width``: the stored widths when memory traffic is priced."""
    per_step = connections(graph, node)
    constant = all(i.op.encoding == "direct" for i in graph.input_nodes)
    row = LayerEnergy(node.name, node.op.kind, "host", **synapse_counts(graph, node), macs=per_step * activity.T,
                      macs_once=per_step * (1 if constant else activity.T))
    weight_bytes = weight_bits(node, width) / BYTE if width is not None else 0.0
    row.memory_bytes = row.macs * weight_bytes
    return with_ann(graph, node, row, weight_bytes)


def synapse_row(graph, node, activity, width: Widths | None) -> LayerEnergy:
    events = activity.per_position[node.inputs[0]]
    per_step = (events * fan_out(graph, node)).reshape(activity.T, -1).sum(axis=1) / activity.samples
    row = LayerEnergy(node.name, node.op.kind, "synapses", **synapse_counts(graph, node), sops=float(per_step.sum()),
                      per_step=per_step.tolist())
    row.chip_sops = row.sops * target_levels(graph, node.name)
    weight_bytes = weight_bits(node, width) / BYTE if width is not None else 0.0
    row.memory_bytes = row.sops * weight_bytes
    return with_ann(graph, node, row, weight_bytes)


def with_ann(graph, node, row: LayerEnergy, weight_bytes: float) -> LayerEnergy:
    """``row`` with the equivalent ANN's MACs (both conventions) and, with memory traffic, a weight read per MAC."""
    row.ann_macs, row.ann_macs_exact = ann_macs(graph, node), ann_macs_exact(graph, node)
    row.ann_memory_bytes = row.ann_macs * weight_bytes
    return row


def population_groups(graph) -> list:
    """The neuron nodes in groups reading the same inputs (the level populations of one MLF unit), in graph order."""
    groups = {}
    for node in graph:
        if node.op.role == NEURON:
            groups.setdefault(node.inputs, []).append(node)
    return list(groups.values())


def neuron_row(members: list, activity, hops: dict, width: Widths | None) -> LayerEnergy:
    names = [m.name for m in members]
    name = ".".join(commonprefix([n.split(".") for n in names])) or names[0]
    kind = members[0].op.kind if len(members) == 1 else f"{members[0].op.kind} x{len(members)}"
    spikes = {n: activity.per_step[n] / activity.samples for n in names}
    per_step = sum(spikes.values())
    neurons = sum(population_neurons(m) for m in members)
    row = LayerEnergy(name, kind, "neurons", neurons=neurons, spikes=float(per_step.sum()), per_step=per_step.tolist())
    row.firing_rate = row.spikes / (neurons * activity.T)  # the levels' neurons: spiking_neurons of their sum
    row.active_updates = row.spikes
    row.inactive_updates = neurons * activity.T - row.spikes
    for n in names:
        east_west, north_south, crossings = hops.get(n, (0.0, 0.0, 0.0))
        sent = float(spikes[n].sum())
        row.east_west_hops += sent * east_west
        row.north_south_hops += sent * north_south
        row.chip_crossings += sent * crossings
    if width is not None:
        biased = sum(population_neurons(m) for m in members if getattr(m.op, "bias", None) is not None)
        row.memory_bytes = (neurons * activity.T * 2 * width.state + biased * activity.T * width.bias) / BYTE
    return row
