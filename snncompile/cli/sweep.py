"""``snncompile sweep``: compile and evaluate one checkpoint over a grid of targets, weight bits, T and calibration
sizes on a Dask cluster; a table and a Pareto plot of accuracy against energy per inference."""

import argparse
import json
from pathlib import Path

from snncompile.backends import BACKENDS

EXAMPLES = """examples:
  snncompile sweep build/model.pt --bits 4,6,8 --T 2,4                  # local cluster, one worker per core
  snncompile sweep build/model.pt --bits 4,8 --calibrate 0,64 --targets numpy,onnx --limit 200
  snncompile sweep build/model.pt --bits 4,6,8 --scheduler tcp://head:8786 -o /shared/sweeps/model

Every point (target, bits, T, calibrate) is compiled on a worker and simulated on its share of the
data there; the energy per inference is priced under --profile and the cores and chips come from the
Loihi 2 fit. The sweep's directory (default: CHECKPOINT.sweep) keeps every finished point in
points/KEY.json and its artifact in artifacts/KEY/: run the same command again after an interruption
and only the missing points run; add values to a list to grow the sweep. It also gets results.json
(every point, the Pareto front marked) and pareto.png. On a cluster, the checkpoint, the data and the
sweep's directory must be on a file system every worker sees, at the same paths. A point the
compiler refuses (weights too narrow for the chip's ranges, ...) is a result too: listed under the
table with the compiler's reason, and not run again (delete its points/KEY.json to retry it).
--json prints one object as its last line: points (one object each; "refused" holds the reason for
such a point) and failures (tasks that failed and were run again)."""


def integers(text: str) -> list:
    """A comma-separated list of whole numbers (``4,6,8``)."""
    try:
        return [int(value) for value in text.split(",")]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected whole numbers separated by commas, got {text!r}") from None


def names(text: str) -> list:
    """A comma-separated list of names (``numpy,onnx``)."""
    return [name.strip() for name in text.split(",") if name.strip()]


def add_cluster_options(parser, local: str) -> None:
    """``--workers`` and ``--scheduler``, which every command that simulates takes; ``local``: what runs without
    them."""
    parser.add_argument("--workers", type=int, metavar="N",
                        help=f"run on a local Dask cluster of N worker processes (default: {local})")
    parser.add_argument("--scheduler", metavar="ADDRESS",
                        help="run on the workers of an existing Dask cluster (tcp://host:8786); the artifact and the "
                             "data must be at the same paths on every worker")


def on_cluster(args: argparse.Namespace) -> bool:
    """Whether ``args`` ask for a cluster (``--workers`` or ``--scheduler``)."""
    return args.workers is not None or args.scheduler is not None


def run_on_cluster(args: argparse.Namespace, graph, *, compare_float: bool = False, activity: bool = False) -> tuple:
    """``(evaluation, activity)`` of ``simulate`` or ``energy`` on a cluster: the samples ``args`` name sharded over
    its workers, each reading them and running the artifact at the ``T`` of ``graph`` once it has loaded it
    (:func:`snncompile.cluster.evaluate_sharded`)."""
    from snncompile.cluster import connect, evaluate_sharded

    from .simulate import binning

    with connect(args.scheduler, args.workers) as client:
        return evaluate_sharded(client, args.artifact, args.data, T=graph.metadata["T"], backend=args.backend,
                                batch_size=args.batch_size, compare_float=compare_float, activity=activity,
                                limit=args.limit, **binning(args))


def add_parser(subparsers) -> None:
    parser = subparsers.add_parser(
        "sweep", help="accuracy and energy over a grid of bits, T, calibration and targets",
        description="Compile a checkpoint at every point of a grid of targets, weight bits, steps T and\n"
                    "calibration sizes, simulate each on held-out data on a Dask cluster, and compare accuracy\n"
                    "with energy per inference (table, Pareto plot). Resumes where an interrupted run stopped.",
        epilog=EXAMPLES, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("checkpoint", metavar="CHECKPOINT", help="checkpoint file (.pt) written by `snncompile train`")
    parser.add_argument("--bits", type=integers, default=[8], metavar="B,...", help="weight bits (default: 8)")
    parser.add_argument("--T", type=integers, metavar="T,...", help="steps per sample (default: the checkpoint's)")
    parser.add_argument("--calibrate", type=integers, default=[0], metavar="N,...",
                        help="training samples to choose the weight clipping on; 0: max-abs scales (default: 0)")
    parser.add_argument("--targets", type=names, default=["numpy"], metavar="NAME,...",
                        help=f"compile for and simulate on these, of: {', '.join(BACKENDS)} (default: numpy)")
    data_option = parser.add_argument("--data", default="digits", metavar="NAME",
                                      help="data set or labelled file (default: digits)")
    parser.add_argument("--limit", type=int, metavar="N", help="simulate the first N test samples (default: all)")
    parser.add_argument("--batch-size", type=int, default=64, metavar="B", help="samples per run (default: 64)")
    profile_option = parser.add_argument("--profile", default="cmos45", metavar="NAME",
                                         help="energy profile (default: cmos45)")
    parser.add_argument("--memory", action="store_true", help="add the memory-traffic term to the energy")
    add_cluster_options(parser, "one per CPU core")
    parser.add_argument("-o", "--output", metavar="DIR",
                        help="the sweep's directory: new, empty, or a sweep to resume (default: CHECKPOINT.sweep)")
    parser.add_argument("--json", action="store_true", help="end with one JSON object on the last line")
    parser.set_defaults(run=run)

    def complete_help(parser) -> None:
        from snncompile.data import DATASETS
        from snncompile.energy import PROFILE_NAMES

        data_option.help = f"one of: {', '.join(DATASETS)}, or a labelled file (default: digits)"
        profile_option.help = f"energy profile, one of: {', '.join(PROFILE_NAMES)} (default: cmos45)"

    parser.complete_help = complete_help


def default_output(checkpoint) -> Path:
    """The sweep's directory next to the checkpoint: ``build/model.pt`` -> ``build/model.pt.sweep``."""
    checkpoint = Path(checkpoint)
    return checkpoint.with_name(f"{checkpoint.name}.sweep")


def run(args: argparse.Namespace) -> int:
    from snncompile.cluster import connect
    from snncompile.compiler import read_model
    from snncompile.sweep import PLOT_FILE, grid, plot, run_sweep, table

    steps = args.T or [int(read_model(args.checkpoint).metadata.get("T") or 1)]
    points = grid(args.targets, args.bits, steps, args.calibrate)
    output = Path(args.output or default_output(args.checkpoint))
    with connect(args.scheduler, args.workers) as client:
        rows, failures = run_sweep(client, args.checkpoint, points, output, data=args.data, limit=args.limit,
                                   batch_size=args.batch_size, profile=args.profile, memory=args.memory)
    plot_path = plot(rows, output / PLOT_FILE, title=f"{Path(args.checkpoint).name} on {args.data}: accuracy vs "
                                                     f"energy per inference ({args.profile})")
    print(f"sweep of {Path(args.checkpoint).name} on {args.data}: {len(rows)} points, energy per inference under "
          f"{args.profile}{' with memory traffic' if args.memory else ''}; * = Pareto front")
    print(table(rows))
    if failures:
        print(f"{len(failures)} task failure(s) during this run, each run again successfully (listed above)")
    print(f"points: {output}/points, plot: {plot_path}")
    if args.json:
        print(json.dumps({"points": rows, "failures": failures}))
    return 0
