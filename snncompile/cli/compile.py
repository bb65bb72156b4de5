"""``snncompile compile``: trace, lower and quantize a checkpoint, and write the artifact of a target."""

import argparse

from snncompile.backends import BACKENDS

from .simulate import DATA_FILES, add_event_options, binning

EXAMPLES = """examples:
  snncompile compile build/model.pt --target numpy -o build/model.numpy
  snncompile compile build/model.pt --calibrate 256 -o build/model.numpy
  snncompile compile build/model.pt --calibrate 64 --calibrate-data train.npz -o build/model.numpy
  snncompile compile network.nir --T 8 --target lava -o build/network.lava
  snncompile compile build/model.pt --bits 6 --dump-ir build/ir -o build/model6.numpy
  snncompile compile net.py:factory --weights model.pth --input-shape 3,32,32 --T 4 -o build/net.numpy

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
                        help="checkpoint file (.pt) written by `snncompile train`, a NIR graph (.nir), or a model "
                             "defined in code: path/to/net.py:factory (a function returning the nn.Module; with "
                             "--input-shape and --T)")
    parser.add_argument("--target", default="numpy", metavar="NAME",
                        help=f"backend, one of: {', '.join(BACKENDS)} (default: numpy)")
    parser.add_argument("--bits", type=int, default=8, metavar="B",
                        help="signed weight bits, 2 to 9 (default: 8)")
    parser.add_argument("--calibrate", type=int, default=0, metavar="N",
                        help="choose the weight clipping on N samples: of --calibrate-data, else of the checkpoint's "
                             "training data (default: 0, max-abs scales; with --calibrate-data: all of it)")
    parser.add_argument("--calibrate-data", metavar="FILE",
                        help=f"calibration samples: {DATA_FILES}, as `simulate --data` reads them")
    add_event_options(parser)
    parser.add_argument("--T", type=int, metavar="N",
                        help="timesteps per sample to run and range-check for (default: the checkpoint's; a NIR "
                             "file records none and needs it)")
    parser.add_argument("--dt", type=float, metavar="SECONDS",
                        help="for a NIR file: the time step its network runs at, which NIR does not record "
                             "(default: 1e-4, as snnTorch and SpikingJelly write; Norse runs at 1e-3, sinabs at 1)")
    parser.add_argument("--image-size", type=int, metavar="S",
                        help="input side in pixels (default: the size the checkpoint was trained on)")
    add_code_model_options(parser)
    parser.add_argument("--dump-ir", metavar="DIR", help="save the IR after every pass into DIR/<n>-<pass>/")
    parser.add_argument("-o", "--output", required=True, metavar="DIR",
                        help="artifact directory to write: a new path, or an empty directory")
    parser.add_argument("--force", action="store_true",
                        help="replace a previous artifact at DIR (anything else there is never replaced)")
    parser.set_defaults(run=run)


def add_code_model_options(parser) -> None:
    """The options of a model defined in code (MODEL is path/to/net.py:factory)."""
    parser.add_argument("--weights", metavar="FILE",
                        help="for MODEL path/to/net.py:factory: its weights, a state_dict saved by torch.save (plain, "
                             "or nested under 'state_dict', 'model', ...; read safely, weights_only)")
    parser.add_argument("--input-shape", metavar="C,H,W",
                        help="for MODEL path/to/net.py:factory: the shape of one input sample")


def run(args: argparse.Namespace) -> int:
    from snncompile.compiler import compile as compile_model

    compiled = compile_model(args.model, target=args.target, bits=args.bits, calibrate=args.calibrate,
                             calibrate_data=args.calibrate_data, binning=binning(args), T=args.T, dt=args.dt,
                             output=args.output, force=args.force, weights=args.weights,
                             input_shape=args.input_shape,
                             image_size=args.image_size, dump_dir=args.dump_ir,
                             dump_after="all" if args.dump_ir else ())
    report = compiled.report
    calibration = report["calibration"]
    quantized = (f"clip ratio {report['clip_ratio']:g}" if report["clip_ratio"] is not None
                 else "integer weights as read (not quantized by snncompile)")
    print(f"compiled {report['arch'] or compiled.graph.name} for {args.target}: {report['bits']}-bit weights, "
          f"T={report['T']}, {quantized}" + (f" (calibrated on {calibration['samples']} samples)" if calibration else ""))
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
