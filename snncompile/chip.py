"""The chips a target compiles for: every width, mode and capacity of a neuromorphic core, in one object per chip.

A backend declares its chip (``Backend.chip``); the quantizer sizes integers from it, the support checks compare a
graph against it, and the resource report places populations on its cores. Adding a chip is one :class:`Chip`
instance; nothing else in the compiler holds a chip's numbers.

The integer arithmetic a chip's neurons run is :mod:`snncompile.integer`, parameterised by the widths here.
"""

from dataclasses import dataclass, field, replace

SECONDARY = "Loihi 2 as quoted from Intel's 2021 announcement by secondary sources, not a datasheet"
LAVA_FIXED_POINT = "Lava 0.10 fixed-point process models (lava.proc.lif, dense, conv, sparse)"


@dataclass(frozen=True)
class Chip:
    """One neuromorphic chip: integer widths of its cores, how its neurons fire and reset, and its capacities.

    ``firing``: the comparison of membrane and threshold (``">"``: strict, ``v > threshold << current_shift``).
    ``resets``: the neuron resets it has (``"hard"``: to 0). ``sources`` cites every figure, by field name."""

    name: str
    weight_bits: int              # signed synaptic weights
    bias_bits: int                # signed bias mantissa
    threshold_bits: int           # unsigned threshold mantissa
    state_bits: int               # signed current u and membrane v
    decay_bits: int               # the 12-bit decays: D = 2**decay_bits - dv keeps D / 2**decay_bits per step
    current_shift: int            # u and the bias enter the membrane scaled by 2**current_shift (bias_exp)
    delay_bits: int               # synaptic delay per hop, in steps
    firing: str = ">"
    resets: tuple = ("hard",)
    neurons_per_core: int = 0
    synaptic_bytes_per_core: int = 0
    cores_per_chip: int = 0
    neurons_per_chip: int = 0
    synapses_per_chip: int = 0
    axons_in_per_core: int = 0    # 0: no published limit (counted, not checked)
    axons_out_per_core: int = 0
    mesh: tuple = (1, 1)          # cores per chip as (columns, rows) of the on-chip mesh
    label: str = ""               # how reports name the chip (default: its name)
    sources: dict = field(default_factory=dict, compare=False)

    @property
    def title(self) -> str:
        return self.label or self.name

    @property
    def weight_range(self) -> tuple:
        return -(1 << (self.weight_bits - 1)), (1 << (self.weight_bits - 1)) - 1

    @property
    def bias_range(self) -> tuple:
        return -(1 << (self.bias_bits - 1)), (1 << (self.bias_bits - 1)) - 1

    @property
    def threshold_max(self) -> int:
        return (1 << self.threshold_bits) - 1

    @property
    def state_max(self) -> int:
        """Largest membrane magnitude: ``v`` saturates at ``+-(2**(state_bits-1) - 1)``."""
        return (1 << (self.state_bits - 1)) - 1

    @property
    def current_max(self) -> int:
        """Largest synaptic input ``|I|`` whose ``I << current_shift`` fits the state width without wrapping."""
        return self.state_max >> self.current_shift

    @property
    def decay_one(self) -> int:
        """``D`` of a neuron that keeps all of its membrane (no leak): ``2**decay_bits``."""
        return 1 << self.decay_bits

    @property
    def decay_range(self) -> tuple:
        """The ``D`` a chip neuron can have: ``dv = decay_one - D`` is at most ``decay_one - 1``, so ``D >= 1``."""
        return 1, self.decay_one

    @property
    def current_pass_through(self) -> int:
        """Lava's ``du`` that gives the current no memory: ``u`` keeps ``(decay_one - (du + 1)) / decay_one = 0``."""
        return self.decay_one - 1

    @property
    def max_delay(self) -> int:
        """The longest synaptic delay of one hop, in steps."""
        return (1 << self.delay_bits) - 1

    def limits(self) -> dict:
        """The capacities, each ``{"value", "source"}``, for reports."""
        names = ("cores_per_chip", "neurons_per_core", "synaptic_bytes_per_core", "neurons_per_chip",
                 "synapses_per_chip", "axons_in_per_core", "axons_out_per_core", "mesh")
        return {name: {"value": getattr(self, name), "source": self.sources.get(name, "")} for name in names}


LOIHI2 = Chip(
    name="loihi2",
    weight_bits=9,          # [-256, 255]; Lava Dense keeps all 9 with sign_mode=MIXED, num_weight_bits=9
    bias_bits=13,           # [-4096, 4095]
    threshold_bits=17,      # [0, 131071]
    state_bits=24,
    decay_bits=12,
    current_shift=6,
    delay_bits=6,           # at most 63 steps per hop
    neurons_per_core=8_192,
    synaptic_bytes_per_core=128 * 1024,
    cores_per_chip=128,
    neurons_per_chip=1_048_576,
    synapses_per_chip=120_000_000,
    mesh=(16, 8),
    label="Loihi 2",
    sources={
        "weight_bits": LAVA_FIXED_POINT, "bias_bits": LAVA_FIXED_POINT, "threshold_bits": LAVA_FIXED_POINT,
        "state_bits": LAVA_FIXED_POINT, "decay_bits": LAVA_FIXED_POINT, "current_shift": LAVA_FIXED_POINT,
        "delay_bits": LAVA_FIXED_POINT,
        "neurons_per_core": SECONDARY, "synaptic_bytes_per_core": f"{SECONDARY} (128 KB synaptic memory per core)",
        "cores_per_chip": SECONDARY, "neurons_per_chip": f"{SECONDARY} (~1 M neurons per chip)",
        "synapses_per_chip": f"{SECONDARY} (~120 M synapses per chip); a figure for small synapse formats: 128 "
                             f"cores x 128 KB hold 16.8 M 8-bit weights, so the per-core memory binds first",
        "axons_in_per_core": "Intel publishes no per-core axon limits for Loihi 2: counted, not checked",
        "axons_out_per_core": "Intel publishes no per-core axon limits for Loihi 2: counted, not checked",
        "mesh": "assumed: the 128 cores as a 16 x 8 mesh, one core per tile (Intel publishes no core layout)",
    },
)

# lava-dl netx stores a layer's weights for an 8-bit synapse (its reader re-encodes them; within int8 the encoding is
# exact): Loihi 2 as a netx network file can describe it.
LOIHI2_NETX = replace(LOIHI2, name="loihi2-netx", weight_bits=8,
                      sources={**LOIHI2.sources, "weight_bits": "lava-dl 0.6 netx: 8-bit synapse encoding"})

CHIPS = {chip.name: chip for chip in (LOIHI2, LOIHI2_NETX)}
