"""``snncompile simulate``: run a compiled artifact on held-out data or the user's own (a file): accuracy and
per-layer firing rates."""

import argparse
import json

from snncompile.backends import BACKENDS, get_backend
from snncompile.text_table import text_table

from .sweep import add_cluster_options, on_cluster, run_on_cluster

DATA_FILES = ".npz (x, optional labels y), .npy, or event streams (.npz: events, offsets, sensor_size)"

EXAMPLES = """examples:
  snncompile simulate build/model.numpy --data digits --limit 200
  snncompile simulate build/model.numpy --data test.npz --T 8    # your own samples, 8 steps each
  snncompile simulate build/dvs.numpy --data events.npz --frame-events 500
  snncompile simulate build/model.numpy --compare-float          # where quantization changes spikes
  snncompile simulate build/model.numpy --json | tail -1         # one JSON object, the same keys for every backend

--json prints one object as its last line: backend, samples, T, accuracy, predictions (in sample
order), spikes (total events per IR node over all samples and steps), firing_rates, seconds.

Data files: x is [N, C, H, W] (analog, fed at every step) or [N, T, C, H, W] (one frame per step),
as the artifact's input takes; y (optional) one integer label per sample: without it no accuracy
is reported. Event streams are binned into T frames per sample with tonic's ToFrame: T equal time
windows by default, --frame-time W or --frame-events K otherwise (snncompile.data.event_files
defines the file)."""


def add_parser(subparsers) -> None:
    parser = subparsers.add_parser(
        "simulate", help="run a compiled artifact on held-out data or your own",
        description="Run a compiled artifact on the held-out part of the data it was trained on, or on your own\n"
                    "samples (--data FILE); print the accuracy and every layer's firing rate.",
        epilog=EXAMPLES, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_simulation_options(parser)
    parser.add_argument("--compare-float", action="store_true",
                        help="also run the float graph and report per-layer spike agreement and rate change")
    parser.add_argument("--json", action="store_true", help="end with one JSON object on the last line")
    parser.set_defaults(run=run)


def add_simulation_options(parser) -> None:
    """The artifact and how to simulate it: what ``simulate`` and ``energy`` share."""
    parser.add_argument("artifact", metavar="DIR", help="artifact directory written by `snncompile compile`")
    data_option = parser.add_argument("--data", default="digits", metavar="NAME|FILE",
                                      help=f"data set name, or a file: {DATA_FILES} (default: digits)")
    add_event_options(parser)
    parser.add_argument("--T", type=int, metavar="N",
                        help="timesteps per sample (default: the artifact's); the range analysis is re-run for N and "
                             "refuses where the chip's integers would overflow")
    parser.add_argument("--limit", type=int, metavar="N", help="simulate the first N test samples (default: all)")
    parser.add_argument("--backend", default="numpy", metavar="NAME",
                        help=f"simulate with one of: {', '.join(BACKENDS)} (default: numpy)")
    parser.add_argument("--batch-size", type=int, default=64, metavar="B", help="samples per run (default: 64)")
    add_cluster_options(parser, "one process, no cluster")

    def complete_help(parser) -> None:
        from snncompile.data import DATASETS

        data_option.help = f"data set, one of: {', '.join(DATASETS)}; or a file: {DATA_FILES} (default: digits)"

    parser.complete_help = complete_help


def add_event_options(parser) -> None:
    """How event streams in a data file are binned into frames (``snncompile.data.event_files``)."""
    binning = parser.add_mutually_exclusive_group()
    binning.add_argument("--frame-time", type=float, metavar="W",
                         help="event files: frames of W time units each (default: T equal windows per sample)")
    binning.add_argument("--frame-events", type=int, metavar="K", help="event files: frames of K events each")


def binning(args: argparse.Namespace) -> dict:
    """The event-binning options of ``args`` as :func:`snncompile.data.samples.samples_for` takes them."""
    return {"frame_time": args.frame_time, "frame_events": args.frame_events}


def load_run(args: argparse.Namespace) -> tuple:
    """``(graph, float graph, samples)`` of the artifact and data ``args`` name: the graph set to ``--T``, the
    samples checked against its input, and its integers checked to fit the chip at that ``T`` on those samples."""
    from snncompile.compiler import load_artifact
    from snncompile.data.samples import samples_for
    from snncompile.steps import INPUT_RANGE, require_fit, with_steps

    graph, float_graph, report = load_artifact(args.artifact)
    with_steps(graph, args.T, args.artifact)
    samples = samples_for(graph, args.data, limit=args.limit, **binning(args))
    analog = graph.input_nodes[0].info.kind == "analog"  # spikes are 0 or 1, and no host computes from them
    input_range = (float(samples.x.min()), float(samples.x.max())) if analog else INPUT_RANGE
    require_fit(graph, float_graph, get_backend(report.get("target", "numpy")).chip, input_range)
    return graph, float_graph, samples


def accuracy_line(graph, samples, result) -> str:
    """What a run measured, for the first line a command prints: ``<graph> on <data> (<backend>): accuracy ...``."""
    from snncompile.data import DATASETS

    accuracy = "no labels, no accuracy" if result.accuracy is None else f"accuracy {result.accuracy:.2%}"
    held_out = "held-out " if samples.source in DATASETS else ""
    return (f"{graph.name} on {samples.source} ({result.backend}): {accuracy} on {result.samples} {held_out}samples, "
            f"T={result.T}")


def run(args: argparse.Namespace) -> int:
    from snncompile.evaluation import evaluate

    graph, float_graph, samples = load_run(args)
    backend = get_backend(args.backend)
    if on_cluster(args):
        result, _ = run_on_cluster(args, graph, compare_float=args.compare_float)
    else:
        result = evaluate(graph, backend, samples, batch_size=args.batch_size,
                          reference=float_graph if args.compare_float else None)
    print(f"{accuracy_line(graph, samples, result)}, {result.seconds:.2f} s simulated")
    print(spike_table(result))
    if args.json:
        print(json.dumps(result.as_json()))
    return 0


def spike_table(result) -> str:
    """Neurons, spikes per inference and firing rate of every population of an evaluation ``result``, with the
    agreement with the float graph and its rate when it was compared."""
    header = ("node", "neurons", "spikes/inference", "rate", *(("agree", "float rate") if result.agreement else ()))
    rows = [header]
    for name, rate in result.firing_rates().items():
        compared = result.agreement.get(name)
        agreement = (f"{compared['agreement']:.2%}", f"{compared['rate_float']:.3f}") if compared else ("", "")
        rows.append((name, f"{result.neurons[name]:,}", f"{result.spikes[name] / result.samples:,.1f}", f"{rate:.3f}",
                     *agreement)[:len(header)])
    return text_table(rows, "<>>>>>", gap=" ", minimum=(32, 9, 17, 7, 8, 10))
