"""What ``snncompile fit`` shows of a :class:`~snncompile.energy.placement.Placement`: one row per population with its
cores and binding limit (shared and unshared weights), the totals, the inter-chip traffic, and a core-map picture.

>>> print(fit_table(placement))
>>> core_map(placement, "build/model.numpy.fit.png")
"""

from pathlib import Path

from snncompile.outputs import save_figure
from snncompile.text_table import text_table

from .placement import Placement

COLUMNS = (("population", "<"), ("kind", "<"), ("neurons", ">"), ("fan-in", ">"), ("placed synapses", ">"),
           ("weights", ">"), ("cores", ">"), ("binding", "<"), ("unshared weights", ">"), ("cores", ">"),
           ("binding", "<"))
MAP_COLUMNS = 4  # chips per row of the core map


def fit_rows(placement: Placement) -> list:
    def cells(p) -> tuple:
        return (p.name, p.kind, f"{p.neurons:,}", f"{p.fan_in:,}", f"{p.placed_synapses:,}", f"{p.weights:,}",
                f"{p.cores:,}", p.binding or "DOES NOT FIT", f"{p.unshared_weights:,}", f"{p.unshared_cores:,}",
                p.unshared_binding or "DOES NOT FIT")

    t = placement.totals
    total = ("total", "", f"{t['neurons']:,}", "", f"{t['placed_synapses']:,}", f"{t['weights']:,}", f"{t['cores']:,}",
             "", f"{t['unshared_weights']:,}", f"{t['unshared_cores']:,}", "")
    return [tuple(name for name, _ in COLUMNS), *map(cells, placement.populations), total]


def fit_table(placement: Placement) -> str:
    """The population table, the cores and chips with shared and unshared weights, the traffic, problems, sources."""
    chip, t, traffic = placement.chip, placement.totals, placement.traffic
    kernels = "convolution weights shared per core" if placement.shared else "one weight per synapse"
    spikes = "graded spikes for MLF counts and residual sums" if placement.graded else "binary spikes"
    aligned = text_table(fit_rows(placement), "".join(side for _, side in COLUMNS), rules_before=(1, -1))
    lines = [f"{chip.title} placement ({kernels}; {spikes}; whole neurons per core):", aligned,
             f"cores {t['cores']:,} -> chips {t['chips']:,} ({kernels}); with one weight per synapse: cores "
             f"{t['unshared_cores']:,} -> chips {t['unshared_chips']:,}",
             f"spikes per step between cores (one per sending neuron): {traffic['per_step']:,.0f}; between chips "
             f"{traffic['inter_chip']:,.0f} after Kernighan-Lin partitioning "
             f"({traffic['inter_chip_in_graph_order']:,.0f} split in graph order)",
             "placed synapses: a population's incoming synapses, one copy per spike population sending and per "
             "level receiving, as placed (the chip synapses of `inspect` and `energy`, without the host's encoding "
             "layer and with an average pool folded into a layer counted as its own pool population); weights: "
             "what its cores store; unshared weights: one per synapse, each neuron reserving its largest fan-in"]
    lines += [f"  does not fit: {problem}" for problem in placement.problems]
    limits = chip.limits()
    lines.append("limits: " + ", ".join(f"{name} {limit['value']}" for name, limit in limits.items()))
    lines += [f"  {name}: {limit['source']}" for name, limit in limits.items() if limit["source"]]
    return "\n".join(lines)


def graded_savings(binary: Placement, graded: Placement) -> str:
    """What sending MLF counts and residual sums as graded spikes changes against binary spikes."""
    b, g = binary.totals, graded.totals
    relays = sum(p.neurons for p in graded.populations if p.kind == "relay")
    return (f"graded spikes against binary: placed synapses {b['placed_synapses']:,} -> {g['placed_synapses']:,}, "
            f"stored weights {b['weights']:,} -> {g['weights']:,}, cores {b['cores']:,} -> {g['cores']:,}, chips "
            f"{b['chips']} -> {g['chips']} (relays add {relays:,} neurons). In Lava's fixed-point models a relay is "
            f"lava.proc.graded.GradedVec (vth 0: it sends its summed input as one graded spike each step) read by "
            f"Dense or Conv with num_message_bits > 0; the relay adds one hop of latency to balance")


def core_map(placement: Placement, path, title: str = "") -> Path:
    """A PNG of every chip's mesh, each core coloured by its population (graph order), written atomically."""
    import matplotlib

    matplotlib.use("Agg")
    import numpy as np
    from matplotlib import pyplot

    columns, rows = placement.chip.mesh
    order = {p.name: i for i, p in enumerate(placement.populations)}
    per_row = min(placement.chips, MAP_COLUMNS)
    chip_rows = -(-placement.chips // per_row)
    figure, axes = pyplot.subplots(chip_rows, per_row, figsize=(4.2 * per_row + 1.5, 2.6 * chip_rows + 0.8),
                                   squeeze=False, constrained_layout=True)
    grids = [np.full((rows, columns), np.nan) for _ in range(placement.chips)]
    for core in placement.cores:
        grids[core.chip][core.y, core.x] = order[core.population]
    colours = pyplot.get_cmap("viridis")
    image = None
    for chip, axis in enumerate(axes.flat):
        axis.set_xticks([])
        axis.set_yticks([])
        if chip >= placement.chips:
            axis.set_visible(False)
            continue
        image = axis.imshow(grids[chip], cmap=colours, vmin=0, vmax=max(len(order) - 1, 1))
        used = int(np.count_nonzero(~np.isnan(grids[chip])))
        axis.set_title(f"chip {chip}: {used} of {columns * rows} cores", fontsize=9)
        first = {}
        for core in placement.cores:
            if core.chip == chip:
                first.setdefault(core.population, core)
        for name, core in first.items():  # a population's first core on this chip carries its position in the order
            axis.text(core.x, core.y, str(order[name]), ha="center", va="center", fontsize=6, color="white")
    if image is not None:
        bar = figure.colorbar(image, ax=axes.ravel().tolist(), shrink=0.9)
        bar.set_label("population (graph order)")
    t = placement.totals
    figure.suptitle(f"{title or placement.chip.title}: {t['cores']:,} cores on {t['chips']} chip"
                    f"{'s' if t['chips'] > 1 else ''}, {len(order)} populations", fontsize=11)
    return save_figure(figure, path, dpi=110)
