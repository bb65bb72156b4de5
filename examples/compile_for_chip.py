"""Compile a trained checkpoint for Loihi 2 (the Lava backend): trace, lower, quantize to 8-bit integers, write the
artifact, and check that it fits the chip.

    python examples/compile_for_chip.py build/demo/model.pt [-o build/demo/model.lava] [--target lava] [--force]
"""

import argparse

import snncompile
from snncompile.energy import chip_fit
from snncompile.energy.report import fit_summary

parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
parser.add_argument("checkpoint", help="a checkpoint written by `snncompile train`")
parser.add_argument("--target", default="lava", help="lava (default), numpy or onnx")
parser.add_argument("-o", "--output", help="artifact directory (default: next to the checkpoint)")
parser.add_argument("--force", action="store_true", help="replace a previous artifact there")
args = parser.parse_args()

output = args.output or args.checkpoint.removesuffix(".pt") + f".{args.target}"
compiled = snncompile.compile(args.checkpoint, target=args.target, bits=8, output=output, force=args.force)
report = compiled.report
print(f"{report['arch']} for {args.target}: {report['bits']}-bit weights, T={report['T']}, "
      f"{len(report['passes'])} passes in {sum(p['seconds'] for p in report['passes']) * 1000:.0f} ms")
print(f"neurons {report['after_lowering']['neurons']:,}, synapses {report['after_lowering']['synapses']:,} "
      f"after lowering; {len(report['populations'])} scale groups")
print(fit_summary(chip_fit(compiled.graph)))
print(f"wrote {compiled.artifact}")
