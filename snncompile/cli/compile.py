"""``snncompile compile``: trace, lower and quantize a checkpoint, and write the artifact of a target."""

import argparse

from snncompile.backends import BACKENDS

EXAMPLES = """examples:
  snncompile compile build/model.pt --target numpy -o build/model.numpy
  snncompile compile build/model.pt --calibrate 256 -o build/model.numpy
  snncompile compile build/model.pt --bits 6 --dump-ir build/ir -o build/model6.numpy

The artifact directory holds the integer graph (graph.json + tensors.npz), the lowered float graph
(float/), report.json: every pass with its time, the scale of every population, the share of
clipped weights, the range-analysis margin (how far the worst case stays from the chip's widths),
and neuron and synapse counts before and after lowering; and manifest.json: every file's SHA-256,
verified before the artifact is used. A failed or interrupted compile writes
nothing; -o never replaces anything but a previous artifact, and that only with --force."""


def add_parser(subparsers) -> None:
    parser = subparsers.add_parser(
        "compile", help="lower and quantize a checkpoint for a target",
        description="Trace a checkpoint into the IR, fold and lower it to what chips run, quantize it per\n"
                    "postsynaptic population, and write the target's artifact.",
        epilog=EXAMPLES, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("model", metavar="MODEL",
                        help="checkpoint file (.pt) written by `snncompile train`, or a NIR graph (.nir)")
    parser.add_argument("--target", default="numpy", metavar="NAME",
                        help=f"backend, one of: {', '.join(BACKENDS)} (default: numpy)")
    parser.add_argument("--bits", type=int, default=8, metavar="B",
                        help="signed weight bits, 2 to 9 (default: 8)")
    parser.add_argument("--calibrate", type=int, default=0, metavar="N",
                        help="choose the weight clipping on N training samples (default: 0, max-abs scales)")
    parser.add_argument("--image-size", type=int, metavar="S",
                        help="input side in pixels (default: the size the checkpoint was trained on)")
    parser.add_argument("--dump-ir", metavar="DIR", help="save the IR after every pass into DIR/<n>-<pass>/")
    parser.add_argument("-o", "--output", required=True, metavar="DIR",
                        help="artifact directory to write: a new path, or an empty directory")
    parser.add_argument("--force", action="store_true",
                        help="replace a previous artifact at DIR (anything else there is never replaced)")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from snncompile.compiler import compile as compile_model

    compiled = compile_model(args.model, target=args.target, bits=args.bits, calibrate=args.calibrate,
                             output=args.output, force=args.force,
                             image_size=args.image_size, dump_dir=args.dump_ir,
                             dump_after="all" if args.dump_ir else ())
    report = compiled.report
    quantized = (f"clip ratio {report['clip_ratio']:g}" if report["clip_ratio"] is not None
                 else "integer weights as read (not quantized by snncompile)")
    print(f"compiled {report['arch']} for {args.target}: {report['bits']}-bit weights, T={report['T']}, "
          f"{quantized}" + (f" (calibrated on {args.calibrate} samples)" if args.calibrate else ""))
    for step in report["passes"]:
        print(f"  {step['pass']:<22} {step['seconds'] * 1000:8.1f} ms  nodes {step['nodes_before']} -> "
              f"{step['nodes_after']}")
    before, after = report["before_lowering"], report["after_lowering"]
    print(f"neurons {before['neurons']:,} -> {after['neurons']:,}, synapses {before['synapses']:,} -> "
          f"{after['synapses']:,} (after lowering MLF levels, logic and pooling neurons)")
    groups = report["populations"]
    if groups:
        tightest = min(groups, key=lambda g: g["range_margin"])
        rescaled = sum(g["rescaled_by"] < 1 for g in groups)
        print(f"{len(groups)} scale groups; {rescaled} rescaled to fit the chip's widths; tightest range margin "
              f"{tightest['range_margin']:.2f}x at {tightest['populations'][0]!r}")
    print(f"wrote {compiled.artifact}")
    return 0
