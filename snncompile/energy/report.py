"""What ``snncompile energy`` shows: the per-layer table with totals, the Loihi 2 fit, one JSON object, and a plot.

>>> print(table(report_estimate))              # one row per layer, totals, the MAC convention, the sources
>>> print(fit_summary(chip_fit(graph)))        # cores and chips, or what breaks which limit
>>> as_json(report_estimate, chip_fit(graph), accuracy=0.97)     # the same numbers as plain data
>>> plot(report_estimate, "build/model.numpy.energy.png")       # firing rate and energy per layer (PNG)

Every figure is per inference (:mod:`.estimate`). The table's MAC column and energy use the every-timestep
convention; the once-per-input figure is printed beside the totals.
"""

from pathlib import Path

from snncompile.outputs import atomic_file
from snncompile.text_table import text_table

from .estimate import Estimate
from .resources import Resources

COLUMNS = (("layer", "<"), ("op", "<"), ("neurons", ">"), ("synapses", ">"), ("spikes", ">"), ("rate", ">"),
           ("SOPs", ">"), ("MACs", ">"), ("energy pJ", ">"), ("ANN pJ", ">"))
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
    return (layer.name, op, count(layer.neurons, neurons), count(layer.synapses, synapses),
            mean(layer.spikes, neurons), f"{layer.firing_rate:.3f}" if neurons else "",
            mean(layer.sops, synapses), count(layer.macs, host), mean(layer.energy_pj, layer.energy_pj > 0),
            mean(layer.ann_energy_pj, layer.ann_energy_pj > 0))


def total_cells(estimate: Estimate) -> list:
    """The rows ``total`` (per inference) and ``per timestep``."""
    totals, T = estimate.totals, estimate.T
    rate = totals["spikes"] / (totals["neurons"] * T) if totals["neurons"] else 0.0
    per_step = totals["per_timestep"]
    return [("total", "", count(totals["neurons"]), count(totals["synapses"]), mean(totals["spikes"]),
             f"{rate:.3f}", mean(totals["sops"]), count(totals["macs"]), mean(totals["energy_pj"]),
             mean(totals["ann_energy_pj"])),
            ("per timestep", "", "", "", mean(per_step["spikes"]), "", mean(per_step["sops"]),
             count(per_step["macs"]), mean(per_step["energy_pj"]), "")]


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


def comparison(estimate: Estimate) -> str:
    """The SNN against the equivalent ANN, with the SNN's energy split by component."""
    totals = estimate.totals
    parts = ", ".join(f"{name} {pj / PJ_PER_NJ:,.1f} nJ" for name, pj in totals["energy"].items() if pj)
    ratio = totals["ann_energy_pj"] / totals["energy_pj"] if totals["energy_pj"] else float("inf")
    return (f"SNN {totals['energy_pj'] / PJ_PER_NJ:,.1f} nJ ({parts}) vs equivalent ANN "
            f"{totals['ann_energy_pj'] / PJ_PER_NJ:,.1f} nJ ({count(totals['ann_macs'])} MACs) per inference: "
            f"ANN / SNN = {ratio:.2f}")


def used_sources(estimate: Estimate) -> list:
    """The profile's sources for the quantities the estimate priced (the memory figure only with ``memory``)."""
    return [source for source in estimate.profile.sources if estimate.memory or not source.startswith("sram_byte")]


def table(estimate: Estimate) -> str:
    """The per-layer table with its totals, the MAC convention, the ANN comparison and the profile's sources."""
    rows = [tuple(name for name, _ in COLUMNS), *map(layer_cells, estimate.layers), *total_cells(estimate)]
    notes = [mac_convention(estimate), comparison(estimate), "sources:",
             *(f"  {source}" for source in used_sources(estimate))]
    if estimate.profile.per_target_level:
        notes.insert(2, "SOP energy counts one synaptic operation per target level (each MLF level holds its own "
                        "synapses on Loihi)")
    aligned = text_table(rows, "".join(side for _, side in COLUMNS), rules_before=(1, -2))  # rules around the totals
    return "\n".join([heading(estimate), aligned, *notes])


def fit_summary(resources: Resources) -> str:
    """The cores and chips the graph needs on the fit's chip (Loihi 2), or each limit a population breaks."""
    totals = resources.totals
    lines = [f"Loihi 2 fit: {len(resources.populations)} populations, {totals['neurons']:,} neurons, "
             f"{totals['synapses']:,} synapses ({totals['synaptic_bytes'] / 1024:,.1f} KB synaptic memory) -> "
             f"{totals['cores']:,} cores, {totals['chips']} chip{'s' if totals['chips'] > 1 else ''}"
             + (" (fits one chip)" if resources.fits_one_chip else "")]
    lines += [f"  does not fit: {problem}" for problem in resources.problems]
    lines.append(f"  limits: {resources.chip.limits()['cores_per_chip']['source']}")
    return "\n".join(lines)


def as_json(estimate: Estimate, resources: Resources, **context) -> dict:
    """The estimate and the fit as one JSON-ready object; ``context`` (data set, backend, accuracy, plot path, ...)
    is added at the top level."""
    return {**context, **estimate.as_json(), "sources": used_sources(estimate), "resources": resources.as_json()}


def plot(estimate: Estimate, path) -> Path:
    """A PNG of the firing rate of every population and the energy of every layer (SNN beside the equivalent ANN),
    written atomically to ``path``."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot

    neurons = [layer for layer in estimate.layers if layer.role == "neurons"]
    priced = [layer for layer in estimate.layers if layer.energy_pj or layer.ann_energy_pj]
    width = max(8.0, 0.28 * max(len(neurons), len(priced)))
    figure, (rates, energy) = pyplot.subplots(2, 1, figsize=(width, 8.0), constrained_layout=True)
    rates.bar(range(len(neurons)), [layer.firing_rate for layer in neurons], color="tab:blue")
    rates.set_xticks(range(len(neurons)), [layer.name for layer in neurons], rotation=90, fontsize=7)
    rates.set_ylabel("spikes per neuron per step")
    rates.set_title(f"{estimate.graph}: firing rate per population ({estimate.samples} samples, T={estimate.T})")
    positions = range(len(priced))
    energy.bar([p - 0.2 for p in positions], [layer.energy_pj for layer in priced], 0.4, label="SNN",
               color="tab:orange")
    energy.bar([p + 0.2 for p in positions], [layer.ann_energy_pj for layer in priced], 0.4, label="equivalent ANN",
               color="tab:gray")
    energy.set_xticks(list(positions), [layer.name for layer in priced], rotation=90, fontsize=7)
    energy.set_yscale("log")
    energy.set_ylabel("pJ per inference")
    memory = ", memory traffic included" if estimate.memory else ""
    energy.set_title(f"energy per layer, profile {estimate.profile.name}{memory}")
    energy.legend(loc="upper left", bbox_to_anchor=(1.0, 1.0))
    path = Path(path)
    try:
        with atomic_file(path) as staging:
            figure.savefig(staging, format="png", dpi=100)
    finally:
        pyplot.close(figure)
    return path
