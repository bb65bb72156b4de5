"""``snncompile fit``: place a compiled artifact on a chip without data: the cores and chips it needs, each
population's cores and the limit that binds them, the inter-chip traffic, and a core-map picture."""

import argparse
import json

from .energy import default_plot_path, is_png

EXAMPLES = """examples:
  snncompile fit build/model.numpy                     # table, totals, build/model.numpy.fit.png
  snncompile fit build/model.numpy --graded            # MLF counts and residual sums as graded spikes
  snncompile fit build/model.numpy --json | tail -1

The placement keeps whole neurons on a core (a neuron's fan-in lives on its core) and stores a
convolution's kernel once per core holding its channel, as Loihi 2 maps convolutions; the unshared
figure (one weight per synapse) is printed beside it. An average pool folded into a fully
connected layer is placed as its own pool population sending graded spikes. Cores are split among
chips by recursive Kernighan-Lin bisection of the spike traffic (networkx). Limits and their
sources: snncompile/chip.py. Exit status: 0 when everything is placed, 3 when a population cannot
be mapped (the table says which and why), 1 or 2 for a bad artifact or option."""

DOES_NOT_FIT = 3


def add_parser(subparsers) -> None:
    parser = subparsers.add_parser(
        "fit", help="place a compiled artifact on Loihi 2: cores, chips, binding limits, core map",
        description="Place a compiled artifact on a chip (Loihi 2), statically: no data, no simulation.",
        epilog=EXAMPLES, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("artifact", metavar="DIR", help="artifact directory written by `snncompile compile`")
    parser.add_argument("--graded", action="store_true",
                        help="send each MLF count and residual sum as one graded spike (Loihi 2)")
    parser.add_argument("--map", metavar="PATH", help="where to write the core map (default: DIR.fit.png)")
    parser.add_argument("--json", action="store_true", help="end with one JSON object on the last line")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    import sys

    from snncompile.compiler import load_artifact
    from snncompile.energy.fit_report import core_map, fit_table, graded_savings
    from snncompile.energy.placement import place
    from snncompile.outputs import check_output

    map_path = check_output(args.map or default_plot_path(args.artifact, "fit"), "--map", "core map",
                            inputs=[args.artifact], previous=is_png, directory=False)
    graph, _, _ = load_artifact(args.artifact)
    placement = place(graph, graded=args.graded)
    map_path = core_map(placement, map_path, title=f"{graph.name} on {placement.chip.title}")
    print(fit_table(placement))
    if args.graded:
        print(graded_savings(place(graph), placement))
    print(f"core map: {map_path}")
    if args.json:
        print(json.dumps({"graph": graph.name, **placement.as_json(), "map": str(map_path)}))
    if placement.problems:
        print(f"snncompile: error: {graph.name} does not fit {placement.chip.title}: "
              f"{len(placement.problems)} problem(s), listed above", file=sys.stderr)
        return DOES_NOT_FIT
    return 0
