"""Energy per operation: every figure the estimates use, each with its published source, in one table.

A profile prices the work a simulation counted (DESIGN §6):

- ``mac``: one multiply-accumulate (the host-side encoding layer, and every connection of the equivalent ANN);
- ``sop``: one synaptic operation, a spike delivered over one synapse (an accumulate);
- ``neuron_active`` / ``neuron_inactive``: one neuron updated for one timestep (Loihi only);
- ``spike``: one spike sent from its neuron (Loihi only);
- ``sram_byte``: one byte read or written in on-chip SRAM, for the optional memory-traffic term.

The CMOS profiles are Horowitz's 45 nm figures (ISSCC 2014, "Computing's energy problem"): a MAC is a multiply plus
an add, a SOP is an add. Loihi's figures are per-operation measurements of Loihi 1 (Davies et al., IEEE Micro 2018,
Table 2). **Intel publishes no per-operation energy figures for Loihi 2**; the ``loihi`` profile is Loihi 1's, and
nothing here extrapolates it. Loihi has no multipliers for the host's encoding layer: that layer and the equivalent
ANN are priced at Horowitz's 32-bit float MAC. Loihi's tile-hop energies (3.0 pJ east-west, 4.0 pJ north-south per
hop, same table) need a placement of cores on the mesh, which the estimate does not model: every spike is priced as a
spike within a tile.

The memory term prices a byte at Horowitz's 8 KB SRAM figure (10 pJ per 64-bit read), writes like reads. The same
paper gives 1.3-2.6 nJ per 64 bits of DRAM, 100-200x more: a network whose weights do not fit on chip pays that.
"""

from dataclasses import dataclass

from snncompile.errors import ConfigError

HOROWITZ = "Horowitz, ISSCC 2014, 45 nm"
DAVIES = "Davies et al., IEEE Micro 2018, Table 2 (Loihi 1)"

#  profile          quantity          pJ     source
ENERGY_TABLE = (
    ("cmos45",       "mac",             4.6,  f"{HOROWITZ}: 32-bit float multiply 3.7 pJ + add 0.9 pJ"),
    ("cmos45",       "sop",             0.9,  f"{HOROWITZ}: 32-bit float add"),
    ("cmos45-int8",  "mac",             0.23, f"{HOROWITZ}: 8-bit integer multiply 0.2 pJ + add 0.03 pJ"),
    ("cmos45-int8",  "sop",             0.03, f"{HOROWITZ}: 8-bit integer add"),
    ("cmos45-int32", "mac",             3.2,  f"{HOROWITZ}: 32-bit integer multiply 3.1 pJ + add 0.1 pJ"),
    ("cmos45-int32", "sop",             0.1,  f"{HOROWITZ}: 32-bit integer add"),
    ("loihi",        "mac",             4.6,  f"{HOROWITZ}: 32-bit float MAC, for the host-side encoding layer"),
    ("loihi",        "sop",             23.6, f"{DAVIES}: synaptic spike operation"),
    ("loihi",        "neuron_active",   81.0, f"{DAVIES}: neuron update, active"),
    ("loihi",        "neuron_inactive", 52.0, f"{DAVIES}: neuron update, inactive"),
    ("loihi",        "spike",           1.7,  f"{DAVIES}: spike within a tile"),
    ("memory",       "sram_byte",       1.25, f"{HOROWITZ}: 8 KB SRAM, 10 pJ per 64-bit read"),
)

MEMORY = "memory"


@dataclass(frozen=True)
class Profile:
    """The energy of each operation under one profile (pJ; 0 for what the profile does not price), with sources.

    ``per_target_level``: a chip whose neurons each integrate their own copy of the synapses, so that a spike into
    the K levels of an MLF unit costs K synaptic operations per connection (Loihi, as the Lava backend maps it);
    a CMOS accelerator accumulates the shared current once."""

    name: str
    mac: float
    sop: float
    neuron_active: float = 0.0
    neuron_inactive: float = 0.0
    spike: float = 0.0
    sram_byte: float = 0.0
    per_target_level: bool = False
    sources: tuple = ()


# DESIGN §7 names the chip profile ``loihi2``: it is accepted, priced with the ``loihi`` figures, and says so.
ALIASES = {"loihi2": ("loihi", "Intel publishes no per-operation energy figures for Loihi 2: these are Loihi 1's")}
PROFILE_NAMES = (*dict.fromkeys(row[0] for row in ENERGY_TABLE if row[0] != MEMORY), *ALIASES)


def profile(name: str) -> Profile:
    """The profile ``name`` (one of :data:`PROFILE_NAMES`) as :data:`ENERGY_TABLE` gives it, memory cost included."""
    if name not in PROFILE_NAMES:
        raise ConfigError(f"unknown energy profile {name!r}; profiles: {', '.join(PROFILE_NAMES)}")
    table_name, note = ALIASES.get(name, (name, None))
    rows = [row for row in ENERGY_TABLE if row[0] in (table_name, MEMORY)]
    figures = {quantity: pj for _, quantity, pj, _ in rows}
    sources = (note,) * bool(note) + tuple(f"{quantity} {pj:g} pJ: {source}" for _, quantity, pj, source in rows)
    return Profile(name, per_target_level=table_name == "loihi", sources=sources, **figures)
