"""Event-driven inference: compile a checkpoint to integers, run the NumPy simulator on held-out digits, and show the
spikes of every layer and which steps its synapses computed event by event.

    python examples/simulate_events.py build/demo/model.pt [--samples 100]
"""

import argparse

import snncompile
from snncompile.backends import get_backend
from snncompile.evaluation import batch_inputs, dataset_for

parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
parser.add_argument("checkpoint", help="a checkpoint written by `snncompile train`")
parser.add_argument("--samples", type=int, default=100, help="held-out samples to simulate (default: 100)")
args = parser.parse_args()

graph = snncompile.compile(args.checkpoint, target="numpy").graph
data = dataset_for(graph, "digits")
T = graph.metadata["T"]
result = get_backend("numpy").run(graph, batch_inputs(data, 0, args.samples), T)
accuracy = (result.output.argmax(axis=1) == data.test_y[:args.samples].numpy()).mean()
print(f"{graph.name}: accuracy {accuracy:.2%} on {args.samples} held-out digits, T={T}, {result.seconds:.2f} s")
print(f"{'population':<32} {'neurons':>8} {'spikes/inference':>16}  per step")
for node in graph:
    if node.op.kind == "IntLIF":
        per_step = result.spike_counts[node.name].sum(axis=1) / args.samples
        steps = " ".join(f"{count:.1f}" for count in per_step)
        print(f"{node.name:<32} {node.info.size:>8,} {per_step.sum():>16,.1f}  {steps}")
event_steps = sum(path["event"] for path in result.paths.values())
dense_steps = sum(path["dense"] for path in result.paths.values())
print(f"synaptic layer steps: {event_steps} event-driven, {dense_steps} dense")
