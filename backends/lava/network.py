"""The Lava process network of an integer graph: which neuron and connection processes, and when each one runs.

A plan, not Lava objects (no Lava import here): :func:`plan` maps a supported integer graph (:mod:`.support`) to a
:class:`Network`, which is what ``emit`` writes as JSON and what :mod:`.build` turns into Lava processes.

- **Neuron processes** (:class:`NeuronProcess`, one Lava neuron process per population). The IntLIF nodes that read
  the same current with the same decays (the K levels of a lowered MLF unit) share one ``LIFReset`` process of K
  times the neurons, levels stacked on the channel axis (per-neuron thresholds and biases). The Readout is a non-leaking
  ``LIFReset`` integrator. A spike Input is a ring buffer of its frames. Relays (below) are plain LIFs.
- **Connections** (:class:`Connection`, one Lava connection process per (source population, target population)
  pair). The IR's synaptic ops between the two (reached through sums of currents, sums of spikes and flattening) are
  combined into one weight tensor, tiled over the source's and the target's levels: a ``Conv`` for a single Conv2d
  (or, with ``convolutions="auto"``, a ``Sparse`` where Lava simulates that faster, see :func:`convolution_kind`), a
  ``Dense`` for linear layers, a ``Sparse`` otherwise.
- **Host current**: the Quantize nodes summed into a population; the host computes them and a ring buffer injects
  them into the population's input port (no latency).
- **Depth**: every connection hop costs one timestep, so population ``P`` sees IR step ``t`` at Lava step ``t + depth
  (P)``, ``depth(P) = max(depth(source) + 1)`` over its synapses (0 for host current only). Where a source is shallower
  than ``depth(P) - 1`` (residual joins) its spikes are delayed first: a relay population of the source at that depth,
  fed one-to-one through a ``DelaySparse`` with the missing steps as synaptic delay (at most the chip's ``max_delay``
  per hop, 63 on Loihi 2; longer delays chain relays). Relays are shared by every consumer needing the source at the
  same depth.
"""

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from snncompile import ir
from snncompile.chip import CHIPS, LOIHI2, Chip
from snncompile.errors import ConfigError, SerializationError
from snncompile.ir.ops import Conv2d, Input, IntLIF, Linear, Quantize, Readout
from snncompile.ir.structure import current_terms, event_terms

NETWORK_FILE = "lava_network.json"
FORMAT = "snncompile-lava-network"
VERSION = 2                  # 2: "connections" (was "synapses") and the "chip" the network was planned for
LIF_NEURONS, READOUT, SPIKE_INPUT, RELAY = "lif", "readout", "spikes", "relay"
CONV, DENSE, SPARSE, DELAY = "conv", "dense", "sparse", "delay"
CONVOLUTIONS = ("auto", "conv")
# One step of a convolution synapse in Lava's fixed-point models, measured here (bench/lava_vs_numpy.py, 2 cores): Conv
# loops over (output, input) channel pairs, one scipy convolve2d each, about 5.5 us + 0.027 us per padded input
# position; Sparse costs about 5 ns per connection and holds 8 bytes of weight and index per connection.
CONV_PAIR_US, CONV_POSITION_US, SPARSE_CONNECTION_US = 5.5, 0.027, 0.005
SPARSE_CONNECTIONS_MAX = 1 << 22


@dataclass
class NeuronProcess:
    """One Lava neuron process, a population. ``kind``: ``lif`` (IntLIF ``members``, one per level), ``readout`` (the
    Readout node), ``spikes`` (a spike Input node), ``relay`` (the spikes of population ``relays``, with its members
    and layout, ``depth`` steps late).

    ``shape`` is the IR shape of one level; ``host_current`` maps Quantize nodes summed into the input to how often."""

    name: str
    kind: str
    members: list
    shape: tuple
    depth: int = 0
    host_current: dict = field(default_factory=dict)
    relays: str | None = None

    @property
    def is_lif(self) -> bool:
        """IntLIF populations: the spiking neurons of the graph, whose spikes are recorded."""
        return self.kind == LIF_NEURONS

    @property
    def is_readout(self) -> bool:
        return self.kind == READOUT

    @property
    def is_spike_input(self) -> bool:
        return self.kind == SPIKE_INPUT

    @property
    def is_relay(self) -> bool:
        return self.kind == RELAY

    @property
    def levels(self) -> int:
        return len(self.members)

    @property
    def stacked_shape(self) -> tuple:
        """The IR shape of all levels, stacked on axis 0: ``(K*C, H, W)`` or ``(K*N,)``."""
        return (self.levels * self.shape[0], *self.shape[1:])

    @property
    def lava_shape(self) -> tuple:
        """The shape of the Lava ports: the stacked shape reversed, ``(X, Y, C) = (W, H, K*C)``, or ``(K*N,)``."""
        return self.stacked_shape[::-1]

    @property
    def size(self) -> int:
        return int(np.prod(self.stacked_shape))

    def lava_order(self) -> np.ndarray:
        """For each neuron of the Lava process (C order of ``lava_shape``), its index in the stacked IR order."""
        return np.arange(self.size).reshape(self.stacked_shape).transpose().ravel()


@dataclass
class Connection:
    """One Lava connection process from population ``source`` to population ``target``.

    ``kind``: ``conv``, ``dense`` or ``sparse`` (the IR synaptic ``terms``, each ``[node, multiplicity per source
    level]``), or ``delay`` (one-to-one, weight 1, into a relay, ``delay`` extra steps)."""

    source: str
    target: str
    kind: str
    terms: list = field(default_factory=list)
    delay: int = 0

    @property
    def is_conv(self) -> bool:
        return self.kind == CONV

    @property
    def is_dense(self) -> bool:
        return self.kind == DENSE

    @property
    def is_delay(self) -> bool:
        return self.kind == DELAY


@dataclass
class Network:
    """Populations in topological order (by name), the connections between them, and the chip whose widths their
    parameters have."""

    populations: dict
    connections: list
    chip: Chip

    @property
    def depth(self) -> int:
        """The latency of the deepest population: run ``T + depth`` steps for one sample."""
        return max(p.depth for p in self.populations.values())

    @property
    def readout(self) -> NeuronProcess:
        return next(p for p in self.populations.values() if p.is_readout)

    def lif_populations(self) -> list:
        """The IntLIF populations, in order: the spikes a run records."""
        return [p for p in self.populations.values() if p.is_lif]

    def process_count(self) -> int:
        """Lava processes: neurons, connections, ring buffers of host current, the spike recorder and the readout
        monitor."""
        injected = sum(1 for p in self.populations.values() if p.host_current)
        return len(self.populations) + len(self.connections) + injected + 2

    def to_json(self) -> dict:
        return {"format": FORMAT, "version": VERSION, "chip": self.chip.name, "depth": self.depth,
                "processes": self.process_count(), "populations": [asdict(p) for p in self.populations.values()],
                "connections": [asdict(c) for c in self.connections]}

    @classmethod
    def from_json(cls, document: dict) -> "Network":
        if not isinstance(document, dict) or document.get("format") != FORMAT or document.get("version") != VERSION:
            raise SerializationError(f"not a {FORMAT} document of version {VERSION}")
        populations = {}
        for entry in document["populations"]:
            population = NeuronProcess(**{**entry, "shape": tuple(entry["shape"])})
            populations[population.name] = population
        return cls(populations, [Connection(**entry) for entry in document["connections"]], CHIPS[document["chip"]])


# -- the plan -------------------------------------------------------------------------------------------------------

def plan(graph, convolutions: str = "auto", chip: Chip = LOIHI2) -> Network:
    """The process network of a supported integer ``graph`` (see :func:`.support.unsupported`) on ``chip``.

    ``convolutions``: ``"conv"`` maps every single-Conv2d synapse to a Lava ``Conv`` (the weight-shared form a chip
    stores); ``"auto"`` maps it to a ``Sparse`` instead where that simulates faster (:func:`convolution_kind`)."""
    if convolutions not in CONVOLUTIONS:
        raise ConfigError(f"convolutions must be one of {CONVOLUTIONS}, got {convolutions!r}")
    populations, owner = _populations(graph)
    inputs = {}  # (source population, target population) -> [[synapse node, multiplicities]]
    for target in populations.values():
        for synapse in _synapses_into(graph, target):
            by_source = {}
            for node, count in event_terms(graph, graph[synapse].inputs[0]).items():
                source, level = owner[node]
                by_source.setdefault(source, [0] * populations[source].levels)[level] += count
            for source, multiplicity in by_source.items():
                inputs.setdefault((source, target.name), []).append([synapse, multiplicity])
    for target in populations.values():
        sources = [populations[s].depth for s, t in inputs if t == target.name]
        target.depth = max(sources) + 1 if sources else 0
    connections = _delay_lines(populations, inputs, chip.max_delay)
    for (source, target), terms in inputs.items():
        ops = [graph[node].op for node, _ in terms]
        if len(terms) == 1 and isinstance(ops[0], Conv2d):
            kind = convolution_kind(graph, terms[0], populations[source], populations[target], convolutions)
        else:
            kind = DENSE if all(isinstance(op, Linear) for op in ops) else SPARSE
        connections.append(Connection(source, target, kind, terms))
    return Network(populations, connections, chip)


def _synapses_into(graph, target: NeuronProcess) -> list:
    """The synaptic nodes whose current ``target`` integrates, once per time each is summed; sets the population's
    ``host_current`` (the Quantize nodes among the terms of its input current)."""
    if target.is_readout:
        return target.members
    if not target.is_lif:
        return []
    terms = current_terms(graph, graph[target.members[0]].inputs[0])
    target.host_current = {name: n for name, n in terms.items() if isinstance(graph[name].op, Quantize)}
    return [name for name in terms for _ in range(terms[name]) if name not in target.host_current]


def convolution_kind(graph, term: list, source: NeuronProcess, target: NeuronProcess, convolutions: str) -> str:
    """``conv``, or ``sparse`` when ``convolutions == "auto"`` and the unrolled connections are few enough to hold
    (:data:`SPARSE_CONNECTIONS_MAX`) and faster to simulate than Lava's Conv, which convolves every pair of its
    ``K'*C_out`` output and ``K*C_in`` input channels separately (MLF levels tile both)."""
    node, multiplicity = term
    op, x = graph[node].op, graph[graph[node].inputs[0]].info
    c_out, c_in = op.weight.shape[:2]
    padded = (x.shape[1] + 2 * op.padding[0]) * (x.shape[2] + 2 * op.padding[1])
    conv_us = target.levels * c_out * source.levels * c_in * (CONV_PAIR_US + CONV_POSITION_US * padded)
    connections = target.levels * sum(1 for count in multiplicity if count) * op.synapse_count((x,))
    faster = connections * SPARSE_CONNECTION_US < conv_us
    return SPARSE if convolutions == "auto" and faster and connections <= SPARSE_CONNECTIONS_MAX else CONV


def _populations(graph) -> tuple:
    """The neuron processes, in graph order, and which (process, level) holds each IntLIF / spike Input node."""
    populations, owner, shared = {}, {}, {}
    for node in graph:
        if isinstance(node.op, IntLIF):
            key = (node.inputs[0], node.op.decay_12bit, node.op.current_decay_12bit)  # Lava's dv, du: per process
            if key not in shared:
                shared[key] = NeuronProcess(node.name, LIF_NEURONS, [], node.info.shape)
                populations[node.name] = shared[key]
            owner[node.name] = (shared[key].name, len(shared[key].members))
            shared[key].members.append(node.name)
        elif isinstance(node.op, Readout) or (isinstance(node.op, Input) and node.info.is_events):
            kind = READOUT if isinstance(node.op, Readout) else SPIKE_INPUT
            populations[node.name] = NeuronProcess(node.name, kind, [node.name], node.info.shape)
            owner[node.name] = (node.name, 0)
    taken = set(owner)
    for population in populations.values():
        name = _common_name(population.members)
        if population.is_lif and name not in taken:
            population.name = name
            taken.add(name)
    renamed = {p.members[0]: p.name for p in populations.values()}
    owner = {node: (renamed[source], level) for node, (source, level) in owner.items()}
    return {p.name: p for p in populations.values()}, owner


def _common_name(members: list) -> str:
    """``stem.2`` for ``stem.2.level1 .. stem.2.level3``; the member itself when there is one; the first member when
    the names share no prefix."""
    if len(members) == 1:
        return members[0]
    parts = [m.split(".") for m in members]
    common = []
    for pieces in zip(*parts):
        if len(set(pieces)) > 1:
            break
        common.append(pieces[0])
    return ".".join(common) or members[0]


def _delay_lines(populations: dict, inputs: dict, max_delay: int) -> list:
    """Insert relays so that every connection joins populations exactly one step apart, each delaying by at most
    ``max_delay`` steps; re-point ``inputs`` at them. Returns the relays' one-to-one delayed connections."""
    needed = {}
    for source, target in inputs:
        depth = populations[target].depth - 1
        if populations[source].depth < depth:
            needed.setdefault(source, set()).add(depth)
    connections = []
    for source, depths in needed.items():
        previous = populations[source]
        for depth in sorted(depths):
            while depth - previous.depth - 1 > max_delay:
                previous = _relay(populations, connections, source, previous, previous.depth + max_delay + 1)
            previous = _relay(populations, connections, source, previous, depth)
    for source, target in list(inputs):
        depth = populations[target].depth - 1
        if populations[source].depth < depth:
            inputs[(f"{source}@{depth}", target)] = inputs.pop((source, target))
    return connections


def _relay(populations: dict, connections: list, source: str, previous: NeuronProcess, depth: int) -> NeuronProcess:
    """A relay of population ``source`` at ``depth``, fed by ``previous`` (the source or a shallower relay)."""
    original = populations[source]
    relay = NeuronProcess(f"{source}@{depth}", RELAY, list(original.members), original.shape, depth, relays=source)
    populations[relay.name] = relay
    connections.append(Connection(previous.name, relay.name, DELAY, delay=depth - previous.depth - 1))
    return relay


# -- the artifact ---------------------------------------------------------------------------------------------------

def save(graph, network: Network, directory) -> Path:
    """Write the integer graph (:func:`snncompile.ir.save`) and the network plan (:data:`NETWORK_FILE`)."""
    directory = ir.save(graph, directory)
    (directory / NETWORK_FILE).write_text(json.dumps(network.to_json(), indent=1) + "\n")
    return directory


def load(directory) -> tuple:
    """``(graph, network)`` of an artifact written by :func:`save`."""
    directory = Path(directory)
    graph, path = ir.load(directory), directory / NETWORK_FILE
    if not path.is_file():
        raise SerializationError(f"{path}: missing; a Lava artifact holds the graph and its {NETWORK_FILE} (write one "
                                 f"with `snncompile compile --target lava`)")
    try:
        return graph, Network.from_json(json.loads(path.read_text()))
    except (json.JSONDecodeError, KeyError, TypeError) as err:
        raise SerializationError(f"{path}: not a valid Lava network ({err})") from None
