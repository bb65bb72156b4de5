"""``snncompile inspect``: the IR of a checkpoint or of a compiled graph as a table, or as JSON."""

import argparse
import json
from pathlib import Path

from snncompile.ir import load
from snncompile.ir.summary import format_table, summarize

from .compile import add_code_model_options

EXAMPLES = """examples:
  snncompile inspect build/model.pt
  snncompile inspect network.net                    # a lava-dl netx network, as slayer's export_hdf5 writes it
  snncompile inspect network.nir                    # a NIR graph (snncompile's or another tool's)
  snncompile inspect build/model.numpy              # a compiled artifact: its integer graph
  snncompile inspect build/model.pt --json | python -m json.tool
  snncompile inspect net.py:factory --weights model.pth --input-shape 3,32,32 --T 4

columns: node (module path), op, output shape per sample and timestep, value kind (analog, spikes,
counts<=K), neurons (MLF units count K per position), synapses (exact connections, conv borders
included), params (learned values). Modules the inference graph never uses (training-only heads)
are listed as stripped."""


def add_parser(subparsers) -> None:
    parser = subparsers.add_parser(
        "inspect", help="print the IR of a checkpoint, a NIR or netx file, or an artifact as a table of nodes",
        description="Trace a checkpoint (or read a NIR or netx file, or a compiled artifact) and print one row per\n"
                    "IR node with totals.",
        epilog=EXAMPLES, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("model", metavar="MODEL",
                        help="checkpoint file (.pt), NIR graph (.nir), lava-dl netx network (.net), compiled graph "
                             "directory, or a model defined in code: path/to/net.py:factory")
    parser.add_argument("--json", action="store_true", help="print one JSON object instead of the table")
    parser.add_argument("--image-size", type=int, metavar="S",
                        help="input side in pixels (default: the size the checkpoint was trained on)")
    parser.add_argument("--T", type=int, metavar="N",
                        help="for MODEL path/to/net.py:factory: timesteps per sample")
    add_code_model_options(parser)
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from snncompile.compiler import read_model

    path = Path(args.model)
    graph = load(path) if path.is_dir() else read_model(args.model, args.image_size, T=args.T, weights=args.weights,
                                                        input_shape=args.input_shape, need_steps=False)
    summary = summarize(graph)
    if args.json:
        print(json.dumps(summary))
        return 0
    metadata = graph.metadata
    print(f"{graph.name}: {metadata.get('encoding', '?')} input, T={metadata.get('T', '?')}")
    report = _artifact_report(path)
    if report:
        print(f"artifact compiled for {report['target']}: {report['bits']}-bit weights, input "
              + ", ".join(f"{list(node.info.shape)} ({node.op.encoding}, {node.info.kind})"
                          for node in graph.input_nodes))
    print(format_table(graph))
    for stripped in metadata.get("stripped", []):
        print(f"stripped (not used at inference): {stripped['module']} ({stripped['type']}, "
              f"{stripped['parameters']:,} parameters)")
    return 0


def _artifact_report(path: Path) -> dict:
    """The compile report of the artifact directory ``path`` (``{}`` for anything else)."""
    from snncompile.compiler import read_report
    from snncompile.manifest import REPORT_FILE

    return read_report(path / REPORT_FILE) if path.is_dir() and (path / REPORT_FILE).is_file() else {}
