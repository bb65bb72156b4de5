"""What ``snncompile energy`` shows: the per-layer table with totals, the Loihi 2 fit, one JSON object, and a plot.

>>> print(table(report_estimate))              # one row per layer, totals, the conventions, the sources
>>> print(fit_summary(report_estimate.placement))     # cores and chips, or what breaks which limit
>>> as_json(report_estimate, report_estimate.placement, accuracy=0.97)     # the same numbers as plain data
>>> plot(report_estimate, "build/model.numpy.energy.png")       # firing rate and energy per layer (PNG)

Every figure is per inference (:mod:`.estimate`). The table's MAC column and energy use the every-timestep
convention; the once-per-input figure is printed beside the totals. Every ANN / SNN ratio is printed with the
technology the ANN is priced at.
"""

from pathlib import Path

from snncompile.outputs import save_figure
from snncompile.text_table import text_table

from .estimate import Estimate
from .placement import Placement

COLUMNS = (("layer", "<"), ("op", "<"), ("neurons", ">"), ("synapses", ">"), ("chip synapses", ">"), ("spikes", ">"),
           ("rate", ">"), ("SOPs", ">"), ("chip SOPs", ">"), ("MACs", ">"), ("ANN MACs", ">"), ("energy pJ", ">"),
           ("ANN pJ", ">"))
PJ_PER_NJ = 1000.0


def count(value: float, shown: bool = True) -> str:
    """A whole number (neurons, synapses, MACs) with thousands separators; empty when not ``shown``."""
    return f"{value:,.0f}" if shown else ""


def mean(value: float, shown: bool = True) -> str:
    """An average over samples (spikes, SOPs, energy) with thousands separators and one decimal; empty when not
    ``shown``."""
    return f"{value:,.1f}" if shown else ""


def layer_cells(layer) -> tuple:
    neurons, synapses, host = layer.role == "neurons", layer.role == "synapses", layer.role == "host"
    op = f"{layer.op} (host)" if host else layer.op
    return (layer.name, op, count(layer.neurons, neurons), count(layer.synapses, not neurons),
            count(layer.chip_synapses, synapses), mean(layer.spikes, neurons),
            f"{layer.firing_rate:.3f}" if neurons else "", mean(layer.sops, synapses), mean(layer.chip_sops, synapses),
            count(layer.macs, host), count(layer.ann_macs, layer.ann_macs > 0),
            mean(layer.energy_pj, layer.energy_pj > 0), mean(layer.ann_energy_pj, layer.ann_energy_pj > 0))


def total_cells(estimate: Estimate) -> list:
    """The rows ``total`` (per inference) and ``per timestep``."""
    totals, T = estimate.totals, estimate.T
    rate = totals["spikes"] / (totals["neurons"] * T) if totals["neurons"] else 0.0
    per_step = totals["per_timestep"]
    return [("total", "", count(totals["neurons"]), count(totals["synapses"]), count(totals["chip_synapses"]),
             mean(totals["spikes"]), f"{rate:.3f}", mean(totals["sops"]), mean(totals["chip_sops"]),
             count(totals["macs"]), count(totals["ann_macs"]), mean(totals["energy_pj"]),
             mean(totals["ann_energy_pj"])),
            ("per timestep", "", "", "", "", mean(per_step["spikes"]), "", mean(per_step["sops"]), "",
             count(per_step["macs"]), "", mean(per_step["energy_pj"]), "")]


def heading(estimate: Estimate) -> str:
    memory = "compute + memory traffic: SRAM reads and writes" if estimate.memory else "compute only"
    return (f"energy per inference of {estimate.graph} under profile {estimate.profile.name} ({memory}), "
            f"averaged over {estimate.samples} samples of T={estimate.T} steps")


def mac_convention(estimate: Estimate) -> str:
    totals = estimate.totals
    if not totals["macs"]:
        return "MACs: none (no analog input layer: the input is events)"
    return (f"MACs: the total uses the every-timestep convention, {count(totals['macs'])} (T={estimate.T} x "
            f"{count(totals['macs'] / estimate.T)}); once per input {count(totals['macs_once_per_input'])}")


def conventions(estimate: Estimate) -> list:
    """What the synapse, SOP and ANN MAC columns count."""
    totals = estimate.totals
    priced_sops = "chip SOPs (one per population integrating the current: each MLF level holds its own synapses)" \
        if estimate.profile.sop_column == "chip_sops" else "SOPs (one per connection)"
    return [f"synapses: connections, each (input, output) pair once; chip synapses: one copy per spike population "
            f"sending and per population receiving (MLF levels, residual terms), {count(totals['level_synapses'])} "
            f"counting the senders only",
            f"SOP energy prices {priced_sops}",
            f"ANN MACs: {count(totals['ann_macs'])} in the standard convention (every kernel tap, zero padding "
            f"included, as torchvision/fvcore/thop and the papers count); {count(totals['ann_macs_exact'])} exact "
            f"connections (padding taps excluded, pooling counted)"]


def routing_line(estimate: Estimate) -> str:
    placement, totals = estimate.placement, estimate.totals
    priced = "priced" if estimate.profile.hop_east_west else "not priced under this profile"
    return (f"routing on the {placement.chip.title} placement ({placement.totals['cores']:,} cores, "
            f"{placement.chips} chip{'s' if placement.chips > 1 else ''}; `snncompile fit`): "
            f"{totals['east_west_hops']:,.1f} east-west and {totals['north_south_hops']:,.1f} north-south mesh hops "
            f"({priced}), {totals['chip_crossings']:,.1f} inter-chip crossings (counted, not priced: no published "
            f"figure)")


def comparison(estimate: Estimate) -> str:
    """The SNN against the equivalent ANN, with the SNN's energy split by component and the ANN's technology."""
    totals = estimate.totals
    parts = ", ".join(f"{name} {pj / PJ_PER_NJ:,.1f} nJ" for name, pj in totals["energy"].items() if pj)
    ratio = f"{totals['ann_to_snn']:.2f}" if totals["ann_to_snn"] is not None else "undefined (SNN 0 pJ)"
    return (f"SNN {totals['energy_pj'] / PJ_PER_NJ:,.1f} nJ ({parts}) vs equivalent ANN "
            f"{totals['ann_energy_pj'] / PJ_PER_NJ:,.1f} nJ ({count(totals['ann_macs'])} MACs at "
            f"{estimate.profile.mac:g} pJ) per inference: ANN / SNN = {ratio}, the ANN priced at "
            f"{estimate.profile.mac_source}")


def used_sources(estimate: Estimate) -> list:
    """The profile's sources for the quantities the estimate priced (the memory figure only with ``memory``)."""
    return [source for source in estimate.profile.sources if estimate.memory or not source.startswith("sram_byte")]


def table(estimate: Estimate) -> str:
    """The per-layer table with its totals, the conventions, the routing, the ANN comparison and the sources."""
    rows = [tuple(name for name, _ in COLUMNS), *map(layer_cells, estimate.layers), *total_cells(estimate)]
    notes = [mac_convention(estimate), *conventions(estimate), routing_line(estimate), comparison(estimate),
             "sources:", *(f"  {source}" for source in used_sources(estimate))]
    aligned = text_table(rows, "".join(side for _, side in COLUMNS), rules_before=(1, -2))  # rules around the totals
    return "\n".join([heading(estimate), aligned, *notes])


def fit_summary(placement: Placement) -> str:
    """The cores and chips the graph needs on the placement's chip, or each limit a population breaks."""
    totals = placement.totals
    lines = [f"{placement.chip.title} fit: {len(placement.populations)} populations, {totals['neurons']:,} neurons, "
             f"{totals['weights']:,} stored weights ({totals['synaptic_bytes'] / 1024:,.1f} KB synaptic memory, "
             f"convolution weights shared per core) -> {totals['cores']:,} cores, {totals['chips']} "
             f"chip{'s' if totals['chips'] > 1 else ''}" + (" (fits one chip)" if placement.fits_one_chip else "")
             + f"; one weight per synapse: {totals['unshared_cores']:,} cores, {totals['unshared_chips']} chip"
             + ("s" if totals["unshared_chips"] > 1 else "")]
    lines += [f"  does not fit: {problem}" for problem in placement.problems]
    lines.append("  per population: `snncompile fit`")
    return "\n".join(lines)


def as_json(estimate: Estimate, placement: Placement, **context) -> dict:
    """The estimate and the fit as one JSON-ready object; ``context`` (data set, backend, accuracy, plot path, ...)
    is added at the top level."""
    return {**context, **estimate.as_json(), "sources": used_sources(estimate), "resources": placement.as_json()}


def plot(estimate: Estimate, path) -> Path:
    """A PNG of every layer, the same rows on both panels: the firing rate of its neurons, and its energy beside the
    equivalent ANN's, with the totals and the ratio in the title; written atomically to ``path``."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot

    layers = [layer for layer in estimate.layers if layer.role == "neurons" or layer.energy_pj or layer.ann_energy_pj]
    totals = estimate.totals
    height = max(4.0, 0.22 * len(layers) + 1.8)
    figure, (rates, energy) = pyplot.subplots(1, 2, figsize=(13.0, height), sharey=True, constrained_layout=True)
    positions = range(len(layers))
    rates.barh(positions, [layer.firing_rate for layer in layers], color="tab:blue")
    rates.set_yticks(list(positions), [f"{layer.name} ({layer.op})" for layer in layers], fontsize=8)
    rates.invert_yaxis()
    rates.set_xlabel("firing rate (spikes per neuron per step)")
    rates.set_title("neurons", fontsize=10)
    energy.barh([p - 0.2 for p in positions], [layer.energy_pj for layer in layers], 0.4, label="SNN",
                color="tab:orange")
    energy.barh([p + 0.2 for p in positions], [layer.ann_energy_pj for layer in layers], 0.4,
                label="equivalent ANN", color="tab:gray")
    energy.set_xscale("log")
    energy.set_xlabel("pJ per inference (log)")
    energy.set_title(f"energy per layer, profile {estimate.profile.name}"
                     f"{', memory traffic included' if estimate.memory else ''}", fontsize=10)
    energy.legend(loc="lower right", fontsize=8)
    ratio = f"{totals['ann_to_snn']:.2f}" if totals["ann_to_snn"] is not None else "undefined"
    figure.suptitle(f"{estimate.graph}: SNN {totals['energy_pj'] / PJ_PER_NJ:,.1f} nJ vs equivalent ANN "
                    f"{totals['ann_energy_pj'] / PJ_PER_NJ:,.1f} nJ per inference, ANN / SNN = {ratio}\n"
                    f"({estimate.samples} samples, T={estimate.T}; ANN at {estimate.profile.mac:g} pJ per MAC, "
                    f"{estimate.profile.mac_source.split(':')[0]})", fontsize=10)
    return save_figure(figure, path)
