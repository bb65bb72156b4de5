"""``snncompile inspect``: the IR of a checkpoint or of a compiled graph as a table, or as JSON."""

import argparse
import json
from pathlib import Path

from snncompile.ir import load
from snncompile.ir.summary import format_table, summarize

EXAMPLES = """examples:
  snncompile inspect build/model.pt
  snncompile inspect network.net                    # a lava-dl netx network, as slayer's export_hdf5 writes it
  snncompile inspect build/model.pt --json | python -m json.tool

columns: node (module path), op, output shape per sample and timestep, value kind (analog, spikes,
counts<=K), neurons (MLF units count K per position), synapses (exact connections, conv borders
included), params (learned values). Modules the inference graph never uses (training-only heads)
are listed as stripped."""


def add_parser(subparsers) -> None:
    parser = subparsers.add_parser(
        "inspect", help="print the IR of a checkpoint as a table of nodes",
        description="Trace a checkpoint (or read a compiled graph directory) and print one row per IR node\n"
                    "with totals.",
        epilog=EXAMPLES, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("model", metavar="MODEL",
                        help="checkpoint file (.pt), NIR graph (.nir), lava-dl netx network (.net) or compiled graph "
                             "directory")
    parser.add_argument("--json", action="store_true", help="print one JSON object instead of the table")
    parser.add_argument("--image-size", type=int, metavar="S",
                        help="input side in pixels (default: the size the checkpoint was trained on)")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from snncompile.compiler import read_model

    path = Path(args.model)
    graph = load(path) if path.is_dir() else read_model(path, args.image_size, need_steps=False)
    summary = summarize(graph)
    if args.json:
        print(json.dumps(summary))
        return 0
    metadata = graph.metadata
    print(f"{graph.name}: {metadata.get('encoding', '?')} input, T={metadata.get('T', '?')}")
    print(format_table(graph))
    for stripped in metadata.get("stripped", []):
        print(f"stripped (not used at inference): {stripped['module']} ({stripped['type']}, "
              f"{stripped['parameters']:,} parameters)")
    return 0
