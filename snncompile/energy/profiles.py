"""Energy per operation: every figure the estimates use, each with its published source, in one table, and which
column of an estimate row each figure prices (:data:`PRICED`).

A profile prices the work a simulation counted (DESIGN §6):

- ``mac``: one multiply-accumulate (the host-side encoding layer, and every MAC of the equivalent ANN);
- ``sop``: one synaptic operation, a spike delivered over one synapse (an accumulate);
- ``neuron_active`` / ``neuron_inactive``: one neuron updated for one timestep (Loihi only);
- ``spike``: one spike sent from its neuron, within its tile (Loihi only);
- ``hop_east_west`` / ``hop_north_south``: one spike message crossing one tile of the mesh (Loihi only; the hops come
  from the placement, :mod:`.placement`);
- ``sram_byte``: one byte read or written in on-chip SRAM, for the optional memory-traffic term (CMOS profiles only).

The CMOS profiles are Horowitz's 45 nm figures (ISSCC 2014, "Computing's energy problem"): a MAC is a multiply plus
an add, a SOP is an add. Loihi's figures are per-operation measurements of Loihi 1 (Davies et al., IEEE Micro 2018,
Table 2), which include the memory accesses of each operation: the memory term is refused on top of them. **Intel
publishes no per-operation energy figures for Loihi 2**; the ``loihi`` profile is Loihi 1's, and nothing here
extrapolates it. Loihi prices a synaptic operation per target population (``chip_sops``: each MLF level holds its
own synapses), a CMOS accelerator once per connection (``sops``). Loihi has no multipliers for the host's encoding
layer: that layer and the equivalent ANN are priced at Horowitz's 32-bit float MAC. No figure for a spike crossing
between chips is published: those crossings are counted, not priced.

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
    ("loihi",        "mac",             4.6,  f"{HOROWITZ}: 32-bit float multiply 3.7 pJ + add 0.9 pJ (the host's "
                                              f"encoding layer and the equivalent ANN)"),
    ("loihi",        "sop",             23.6, f"{DAVIES}: synaptic spike operation"),
    ("loihi",        "neuron_active",   81.0, f"{DAVIES}: neuron update, active"),
    ("loihi",        "neuron_inactive", 52.0, f"{DAVIES}: neuron update, inactive"),
    ("loihi",        "spike",           1.7,  f"{DAVIES}: spike within a tile"),
    ("loihi",        "hop_east_west",   3.0,  f"{DAVIES}: tile hop, east-west"),
    ("loihi",        "hop_north_south", 4.0,  f"{DAVIES}: tile hop, north-south"),
    ("memory",       "sram_byte",       1.25, f"{HOROWITZ}: 8 KB SRAM, 10 pJ per 64-bit read"),
)

MEMORY = "memory"
MEASURED = ("loihi",)  # per-op figures measured on a chip, memory access included

COMPONENTS = ("mac", "sop", "neuron", "spike", "routing", "memory")


@dataclass(frozen=True)
class Profile:
    """The energy of each operation under one profile (pJ; 0 for what the profile does not price), with sources.

    ``sop_column``: the estimate column its synaptic operations are (``"sops"`` or ``"chip_sops"``). ``measured``:
    its figures are measurements that include memory access (no memory term may be added). ``mac_source``: the
    technology of its MAC, which prices the equivalent ANN."""

    name: str
    mac: float
    sop: float
    neuron_active: float = 0.0
    neuron_inactive: float = 0.0
    spike: float = 0.0
    hop_east_west: float = 0.0
    hop_north_south: float = 0.0
    sram_byte: float = 0.0
    sop_column: str = "sops"
    measured: bool = False
    mac_source: str = ""
    sources: tuple = ()


def priced(price: Profile) -> dict:
    """Component -> ``((column of an estimate row, pJ per unit), ...)``: the one place saying what each component of
    an energy is, so that every component equals its columns times their prices."""
    return {"mac": (("macs", price.mac),),
            "sop": ((price.sop_column, price.sop),),
            "neuron": (("active_updates", price.neuron_active), ("inactive_updates", price.neuron_inactive)),
            "spike": (("spikes", price.spike),),
            "routing": (("east_west_hops", price.hop_east_west), ("north_south_hops", price.hop_north_south)),
            "memory": (("memory_bytes", price.sram_byte),)}


# DESIGN §7 names the chip profile ``loihi2``: it is accepted, priced with the ``loihi`` figures, and says so.
ALIASES = {"loihi2": ("loihi", "Intel publishes no per-operation energy figures for Loihi 2: these are Loihi 1's")}
PROFILE_NAMES = (*dict.fromkeys(row[0] for row in ENERGY_TABLE if row[0] != MEMORY), *ALIASES)


def profile(name: str) -> Profile:
    """The profile ``name`` (one of :data:`PROFILE_NAMES`) as :data:`ENERGY_TABLE` gives it; the memory figure only
    for a profile that is not measured."""
    if name not in PROFILE_NAMES:
        raise ConfigError(f"unknown energy profile {name!r}; profiles: {', '.join(PROFILE_NAMES)}")
    table_name, note = ALIASES.get(name, (name, None))
    measured = table_name in MEASURED
    rows = [row for row in ENERGY_TABLE if row[0] == table_name or (row[0] == MEMORY and not measured)]
    figures = {quantity: pj for _, quantity, pj, _ in rows}
    sources = (note,) * bool(note) + tuple(f"{quantity} {pj:g} pJ: {source}" for _, quantity, pj, source in rows)
    mac_source = next(source for profile_name, quantity, _, source in rows if quantity == "mac")
    return Profile(name, sop_column="chip_sops" if measured else "sops", measured=measured, mac_source=mac_source,
                   sources=sources, **figures)
