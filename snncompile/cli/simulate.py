"""``snncompile simulate``: run a compiled artifact on held-out data: accuracy and per-layer firing rates."""

import argparse
import json

from snncompile.backends import BACKENDS, get_backend
from snncompile.text_table import text_table

EXAMPLES = """examples:
  snncompile simulate build/model.numpy --data digits --limit 200
  snncompile simulate build/model.numpy --compare-float          # where quantization changes spikes
  snncompile simulate build/model.numpy --json | tail -1         # one JSON object, the same keys for every backend

--json prints one object as its last line: backend, samples, T, accuracy, predictions (in sample
order), spikes (total events per IR node over all samples and steps), firing_rates, seconds."""


def add_parser(subparsers) -> None:
    parser = subparsers.add_parser(
        "simulate", help="run a compiled artifact on held-out data",
        description="Run a compiled artifact on the held-out part of the data it was trained on; print the\n"
                    "accuracy and every layer's firing rate.",
        epilog=EXAMPLES, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_simulation_options(parser)
    parser.add_argument("--compare-float", action="store_true",
                        help="also run the float graph and report per-layer spike agreement and rate change")
    parser.add_argument("--json", action="store_true", help="end with one JSON object on the last line")
    parser.set_defaults(run=run)


def add_simulation_options(parser) -> None:
    """The artifact and how to simulate it: what ``simulate`` and ``energy`` share."""
    parser.add_argument("artifact", metavar="DIR", help="artifact directory written by `snncompile compile`")
    data_option = parser.add_argument("--data", default="digits", metavar="NAME", help="data set (default: digits)")
    parser.add_argument("--limit", type=int, metavar="N", help="simulate the first N test samples (default: all)")
    parser.add_argument("--backend", default="numpy", metavar="NAME",
                        help=f"simulate with one of: {', '.join(BACKENDS)} (default: numpy)")
    parser.add_argument("--batch-size", type=int, default=64, metavar="B", help="samples per run (default: 64)")

    def complete_help(parser) -> None:
        from snncompile.data import DATASETS

        data_option.help = f"one of: {', '.join(DATASETS)} (default: digits)"

    parser.complete_help = complete_help


def run(args: argparse.Namespace) -> int:
    from snncompile.compiler import load_artifact
    from snncompile.evaluation import dataset_for, evaluate

    graph, float_graph, _ = load_artifact(args.artifact)
    data = dataset_for(graph, args.data)
    backend = get_backend(args.backend)
    result = evaluate(graph, backend, data, limit=args.limit, batch_size=args.batch_size,
                      reference=float_graph if args.compare_float else None)
    print(f"{graph.name} on {data.name} ({result.backend}): accuracy {result.accuracy:.2%} on {result.samples} "
          f"held-out samples, T={result.T}, {result.seconds:.2f} s simulated")
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
