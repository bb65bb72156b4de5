"""Energy per inference of a checkpoint: compile it, simulate held-out digits, and price every layer's synaptic
operations and MACs under an energy profile, beside the equivalent ANN.

    python examples/estimate_energy.py build/demo/model.pt [--samples 100] [--profile cmos45]
"""

import argparse

import snncompile
from snncompile.backends import get_backend
from snncompile.energy import PROFILE_NAMES, estimate, measure
from snncompile.evaluation import dataset_for

parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
parser.add_argument("checkpoint", help="a checkpoint written by `snncompile train`")
parser.add_argument("--samples", type=int, default=100, help="held-out samples to simulate (default: 100)")
parser.add_argument("--profile", default="cmos45", choices=PROFILE_NAMES)
args = parser.parse_args()

graph = snncompile.compile(args.checkpoint, target="numpy").graph
evaluation, activity = measure(graph, get_backend("numpy"), dataset_for(graph, "digits"), limit=args.samples,
                               progress=False)
report = estimate(graph, activity, args.profile)
print(f"{graph.name}: accuracy {evaluation.accuracy:.2%} on {evaluation.samples} digits; profile {args.profile}")
for layer in report.layers:
    if layer.energy_pj:
        print(f"  {layer.name:<28} {layer.op:<12} SOPs {layer.sops:>12,.1f}  MACs {layer.macs:>9,.0f}  "
              f"{layer.energy_pj:>12,.1f} pJ")
totals = report.totals
print(f"per inference: {totals['sops']:,.1f} SOPs, {totals['macs']:,.0f} MACs (every step; "
      f"{totals['macs_once_per_input']:,.0f} once per input), {totals['energy_pj'] / 1000:,.2f} nJ; "
      f"equivalent ANN {totals['ann_energy_pj'] / 1000:,.2f} nJ")
