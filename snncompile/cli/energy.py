"""``snncompile energy``: simulate a compiled artifact on held-out data and report the energy per inference, layer by
layer, the equivalent ANN's, and whether the graph fits Loihi 2; write a plot next to the artifact."""

import argparse
import json
from pathlib import Path

from snncompile.backends import get_backend
from snncompile.outputs import check_output

from .simulate import accuracy_line, add_simulation_options, load_run
from .sweep import on_cluster, run_on_cluster

EXAMPLES = """examples:
  snncompile energy build/model.numpy --data digits --limit 200
  snncompile energy build/model.numpy --profile loihi                # Loihi 1 per-op figures, routed spikes
  snncompile energy build/model.numpy --profile cmos45-int8 --memory # 45 nm int8, SRAM traffic on
  snncompile energy build/model.numpy --backend onnx --json | tail -1
  snncompile energy build/model.numpy --data test.npz --T 8      # your own samples, 8 steps each

Every figure is per inference (averaged over the simulated samples). SOPs are spikes times the exact
fan-out of each input position; MACs are the analog encoding layer's, counted at every timestep (the
once-per-input figure is printed beside it). The equivalent ANN's MACs are counted in the standard
convention (every kernel tap, padding included), our exact count beside them; every ANN / SNN ratio
names the technology the ANN is priced at. Profiles: cmos45 (fp32), cmos45-int8, cmos45-int32
(Horowitz, ISSCC 2014) and loihi (Davies et al. 2018, Loihi 1: Intel publishes no per-op Loihi 2
figures; measured figures include memory access, so --memory is refused with it; spikes are routed
on the placement `snncompile fit` prints). --json prints one object as its last line: totals (sops,
chip_sops, macs, macs_once_per_input, ann_macs, ann_macs_exact, energy_pj, ann_energy_pj,
ann_to_snn, per_timestep, ...), layers (one object per table row), resources (the Loihi 2
placement) and sources. The plot (firing rate and energy per layer) goes to ARTIFACT.energy.png
unless --plot says otherwise; it replaces only an earlier PNG there, never other files."""

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def add_parser(subparsers) -> None:
    parser = subparsers.add_parser(
        "energy", help="energy per inference, per layer, and the Loihi 2 fit",
        description="Simulate a compiled artifact on held-out data, count spikes, synaptic operations and MACs\n"
                    "per layer, price them under an energy profile beside the equivalent ANN, and estimate the\n"
                    "Loihi 2 cores and chips the graph needs.",
        epilog=EXAMPLES, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_simulation_options(parser)
    profile_option = parser.add_argument("--profile", default="cmos45", metavar="NAME",
                                         help="energy profile (default: cmos45)")
    parser.add_argument("--memory", action="store_true",
                        help="add the memory-traffic term (weights, biases and neuron state read and written)")
    parser.add_argument("--plot", metavar="PATH", help="where to write the PNG plot (default: DIR.energy.png)")
    parser.add_argument("--json", action="store_true", help="end with one JSON object on the last line")
    parser.set_defaults(run=run)
    complete_simulation_help = parser.complete_help

    def complete_help(parser) -> None:
        from snncompile.energy import PROFILE_NAMES

        complete_simulation_help(parser)
        profile_option.help = f"energy profile, one of: {', '.join(PROFILE_NAMES)} (default: cmos45)"

    parser.complete_help = complete_help


def default_plot_path(artifact, kind: str = "energy") -> Path:
    """The plot's place next to the artifact directory: ``build/model.numpy`` -> ``build/model.numpy.energy.png``
    (``kind`` ``"fit"``: ``build/model.numpy.fit.png``)."""
    artifact = Path(artifact)
    return artifact.with_name(f"{artifact.name}.{kind}.png")


def is_png(path) -> bool:
    """Whether ``path`` is a PNG file (a plot written earlier, which a new one may replace)."""
    path = Path(path)
    if not path.is_file() or path.is_symlink():
        return False
    with open(path, "rb") as stream:
        return stream.read(len(PNG_SIGNATURE)) == PNG_SIGNATURE


def run(args: argparse.Namespace) -> int:
    from snncompile.energy import estimate, measure, profile
    from snncompile.energy.report import as_json, fit_summary, plot, table

    price = profile(args.profile)
    backend = get_backend(args.backend)
    plot_path = check_output(args.plot or default_plot_path(args.artifact), "--plot", "plot", inputs=[args.artifact],
                             previous=is_png, directory=False)
    graph, _, samples = load_run(args)
    evaluation, activity = (run_on_cluster(args, graph, activity=True) if on_cluster(args)
                            else measure(graph, backend, samples, batch_size=args.batch_size))
    report = estimate(graph, activity, price, memory=args.memory)
    fit = report.placement  # the placement `snncompile fit` prints, which routed the spikes
    plot_path = plot(report, plot_path)
    print(accuracy_line(graph, samples, evaluation))
    print(table(report))
    print(fit_summary(fit))
    print(f"plot: {plot_path}")
    if args.json:
        print(json.dumps(as_json(report, fit, data=samples.source, backend=evaluation.backend,
                                 accuracy=evaluation.accuracy, plot=str(plot_path))))
    return 0
