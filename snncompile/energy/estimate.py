"""Energy per inference: the events a simulation counted, priced by a profile, layer by layer (DESIGN §6).

Rows (:class:`LayerEnergy`), in graph order:

- ``host``: a synaptic node the host computes (the encoding layer): ``macs`` every step (T x the layer's
  connections, the convention the totals use) and ``macs_once`` once per input (the same when the input changes every
  step, frames; a direct-encoded image is constant, so the host could compute the layer once);
- ``synapses``: an event-driven synaptic node: ``sops`` (events x exact fan-out, :mod:`.counting`); on a profile that
  gives each level of a population its own synapses (``loihi``), each SOP costs one synaptic operation per level;
- ``neurons``: a population, or the K level populations of one lowered MLF unit (the nodes reading the same input):
  ``spikes``, ``firing_rate`` (spikes per neuron per step), ``neuron_updates`` (one per neuron per step) priced on
  ``loihi`` (active when the neuron fires, inactive otherwise: a lower bound on active updates, Davies et al. define
  no finer split), and one spike within a tile per spike.

Every figure is per inference: summed over the steps of one sample, averaged over the samples simulated. The
equivalent ANN (``ann_macs``: every connection one MAC, once per inference) is priced at the profile's MAC.

With ``memory=True`` each row adds SRAM traffic: a weight read per MAC and per synaptic operation (at the graph's
weight width; the host's float weights at 32 bits), and per neuron and step its membrane read and written and its bias
read; the ANN reads each weight once. Off by default, and labelled in every output when on.
"""

from dataclasses import asdict, dataclass, field
from os.path import commonprefix

import numpy as np

from snncompile.chip import LOIHI2, Chip
from snncompile.errors import ConfigError
from snncompile.ir.ops.base import NEURON

from .counting import ann_macs, chip_synapses, connections, fan_out, synaptic_nodes, target_levels
from .profiles import Profile, profile as profile_named
from .resources import Widths, population_neurons, weight_bits, widths

COMPONENTS = ("mac", "sop", "neuron", "spike", "memory")
MAC_CONVENTION = ("macs: every timestep (T x the layer's connections), the figure energy_pj prices; "
                  "macs_once_per_input: once per input (a direct-encoded image is constant over the T steps)")
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
    spikes: float = 0.0
    firing_rate: float = 0.0
    sops: float = 0.0
    macs: float = 0.0
    macs_once: float = 0.0
    ann_macs: int = 0
    neuron_updates: int = 0
    energy: dict = field(default_factory=lambda: dict.fromkeys(COMPONENTS, 0.0))
    ann_energy_pj: float = 0.0
    per_step: list = field(default_factory=list)

    @property
    def energy_pj(self) -> float:
        return sum(self.energy.values())

    def as_json(self) -> dict:
        return {**asdict(self), "energy_pj": self.energy_pj}


@dataclass
class Estimate:
    """Per-layer rows and totals of one graph under one profile, from ``samples`` simulated inputs of ``T`` steps."""

    graph: str
    profile: Profile
    samples: int
    T: int
    memory: bool
    layers: list

    @property
    def totals(self) -> dict:
        """Sums over the layers per inference, averages per timestep, and the SOPs and spikes at each step."""
        total = {key: sum(getattr(layer, key) for layer in self.layers)
                 for key in ("neurons", "synapses", "spikes", "sops", "macs", "macs_once", "ann_macs",
                             "neuron_updates", "energy_pj", "ann_energy_pj")}
        total["macs_once_per_input"] = total.pop("macs_once")
        total["energy"] = {c: sum(layer.energy[c] for layer in self.layers) for c in COMPONENTS}
        total["sops_per_step"] = self.step_sums("synapses")
        total["spikes_per_step"] = self.step_sums("neurons")
        total["per_timestep"] = {key: total[key] / self.T for key in ("sops", "spikes", "macs", "energy_pj")}
        return total

    def step_sums(self, role: str) -> list:
        rows = [layer.per_step for layer in self.layers if layer.role == role]
        return np.sum(rows, axis=0).tolist() if rows else [0.0] * self.T

    def as_json(self) -> dict:
        return {"graph": self.graph, "profile": self.profile.name, "samples": self.samples, "T": self.T,
                "memory_traffic": self.memory, "mac_convention": MAC_CONVENTION,
                "totals": self.totals, "layers": [layer.as_json() for layer in self.layers],
                "sources": list(self.profile.sources)}


def estimate(graph, activity, profile="cmos45", *, memory: bool = False, chip: Chip = LOIHI2) -> Estimate:
    """Price the events of ``activity`` (:class:`~snncompile.energy.Activity` of ``graph``) under ``profile`` (a
    name or a :class:`Profile`), per layer and per inference; ``memory`` adds the SRAM traffic term, with the widths
    an integer graph has on ``chip``."""
    price = profile_named(profile) if isinstance(profile, str) else profile
    if activity.samples < 1:
        raise ConfigError("the activity holds no simulated samples: add a simulation result first")
    event_driven, host = synaptic_nodes(graph)
    missing = sorted({node.inputs[0] for node in event_driven} - set(activity.per_position))
    if missing:
        raise ConfigError(f"the activity has no per-position events of {', '.join(map(repr, missing))}: was it "
                          f"measured on graph {graph.name!r}?")
    width = widths(graph, chip) if memory else None
    rows = {node.name: host_row(graph, node, activity, price, width) for node in host}
    rows.update({node.name: synapse_row(graph, node, activity, price, width) for node in event_driven})
    for members in population_groups(graph):
        rows[members[0].name] = neuron_row(members, activity, price, width)
    layers = [rows[node.name] for node in graph if node.name in rows]
    return Estimate(graph.name, price, activity.samples, activity.T, memory, layers)


def host_row(graph, node, activity, price: Profile, width: Widths | None) -> LayerEnergy:
    """The row of a synaptic node the host computes; ``width``: the stored widths when memory traffic is priced."""
    per_step = connections(graph, node)
    constant = all(i.op.encoding == "direct" for i in graph.input_nodes)
    row = LayerEnergy(node.name, node.op.kind, "host", macs=per_step * activity.T,
                macs_once=per_step * (1 if constant else activity.T), ann_macs=ann_macs(graph, node))
    row.energy["mac"] = row.macs * price.mac
    if width is not None:
        row.energy["memory"] = row.macs * weight_bits(node, width) / BYTE * price.sram_byte
    return priced_ann(node, row, price, width)


def synapse_row(graph, node, activity, price: Profile, width: Widths | None) -> LayerEnergy:
    events = activity.per_position[node.inputs[0]]
    per_step = (events * fan_out(graph, node)).reshape(activity.T, -1).sum(axis=1) / activity.samples
    row = LayerEnergy(node.name, node.op.kind, "synapses", synapses=chip_synapses(graph, node), sops=float(per_step.sum()),
                ann_macs=ann_macs(graph, node), per_step=per_step.tolist())
    operations = row.sops * (target_levels(graph, node.name) if price.per_target_level else 1)
    row.energy["sop"] = operations * price.sop
    if width is not None:
        row.energy["memory"] = operations * weight_bits(node, width) / BYTE * price.sram_byte
    return priced_ann(node, row, price, width)


def priced_ann(node, row: LayerEnergy, price: Profile, width: Widths | None) -> LayerEnergy:
    """``row`` with the equivalent ANN's energy: its MACs, and with a ``width`` (memory traffic) one weight read
    each."""
    weight_bytes = weight_bits(node, width) / BYTE if width is not None else 0.0
    row.ann_energy_pj = row.ann_macs * (price.mac + weight_bytes * price.sram_byte)
    return row


def population_groups(graph) -> list:
    """The neuron nodes in groups reading the same inputs (the level populations of one MLF unit), in graph order."""
    groups = {}
    for node in graph:
        if node.op.role == NEURON:
            groups.setdefault(node.inputs, []).append(node)
    return list(groups.values())


def neuron_row(members: list, activity, price: Profile, width: Widths | None) -> LayerEnergy:
    names = [m.name for m in members]
    name = ".".join(commonprefix([n.split(".") for n in names])) or names[0]
    kind = members[0].op.kind if len(members) == 1 else f"{members[0].op.kind} x{len(members)}"
    per_step = sum(activity.per_step[n] for n in names) / activity.samples
    neurons = sum(population_neurons(m) for m in members)
    row = LayerEnergy(name, kind, "neurons", neurons=neurons, spikes=float(per_step.sum()), per_step=per_step.tolist())
    row.firing_rate = row.spikes / (neurons * activity.T)
    updates = row.neuron_updates = neurons * activity.T
    row.energy["neuron"] = row.spikes * price.neuron_active + (updates - row.spikes) * price.neuron_inactive
    row.energy["spike"] = row.spikes * price.spike
    if width is not None:
        biased = sum(population_neurons(m) for m in members if getattr(m.op, "bias", None) is not None)
        bits = updates * 2 * width.state + biased * activity.T * width.bias
        row.energy["memory"] = bits / BYTE * price.sram_byte
    return row
