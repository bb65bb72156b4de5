"""The integer NumPy simulation of MLF DS-ResNet-20 against PyTorch float inference of the same model and inputs.

    .venv/bin/python bench/simulate_vs_torch.py [--batch 256] [--repeats 3] [--quick]

Not a test. In one run it builds ``mlf_dsresnet20`` (width "small" = 16, K = 3 levels, T = 4, 3x32x32 inputs, 10
classes) with random weights, sets every BN's statistics and affine terms at random (as ``lively`` in
tests/conftest.py, with the BN biases shifted by ``ACTIVITY[level]``) so that the layers fire at a chosen rate, compiles
it to the integer graph, and prints:

1. PyTorch float32 inference (eval, no_grad) and the integer simulation (``mode="auto"``) of the same batch of images,
   best of ``--repeats`` runs each (interleaved, so a busy machine slows both), and their ratio;
2. exactness: the simulation against the same graph simulated in float64 on the dense path (``mode="dense"``,
   ``dtype=np.float64``, the reference arithmetic): the outputs and every node's spike count at every step of every
   sample must be equal, and every node's spikes on the first ``EXACT_SAMPLES`` samples;
3. the simulator at the three activity levels of ``ACTIVITY`` (BN biases shifted so the network fires about half and
   twice as often as at "moderate"): the measured firing rate, how many (synapse, step) pairs took the event and the
   dense path, and the time of ``mode="auto"`` and of the pure event path (``mode="event"``).

The firing rate is spikes per neuron per step over all IntLIF populations (each MLF level is one population). Results
are in the docstring of the commit that last changed the simulator's speed, and in the module docstring below.
"""

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import torch

from snncompile.backends.numpy import simulate
from snncompile.compiler import lower_and_quantize
from snncompile.frontend import trace
from snncompile.models import build

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
from conftest import lively  # noqa: E402

T = 4
MODEL = dict(width="small", in_channels=3, num_classes=10, T=T, levels=3)
# BN bias shift per activity level: measured firing rates about 5 %, 12 % and 25 % of neurons per step (printed).
ACTIVITY = {"low": -0.8, "moderate": -0.6, "high": -0.2}
EXACT_SAMPLES = 8


def network(level: str, seed: int) -> tuple:
    """The float model at activity ``level`` and its integer graph."""
    torch.manual_seed(seed)
    model = lively(build("mlf_dsresnet20", **MODEL), seed, shift=ACTIVITY[level]).eval()
    example = torch.zeros(1, 3, 32, 32)
    return model, lower_and_quantize(trace(model, example)).graph


def best_of(repeats: int, *runs) -> list:
    """The fastest of ``repeats`` wall-clock times of each callable in ``runs`` (interleaved), in seconds, and each
    one's last return value."""
    times, values = np.full((repeats, len(runs)), np.inf), [None] * len(runs)
    for repeat in range(repeats):
        for column, run in enumerate(runs):
            start = time.perf_counter()
            values[column] = run()
            times[repeat, column] = time.perf_counter() - start
    return list(times.min(axis=0)), values


def firing_rate(graph, result) -> float:
    """Spikes per neuron per step over every IntLIF population."""
    populations = [node for node in graph if node.op.kind == "IntLIF"]
    spikes = sum(int(result.spike_counts[node.name].sum()) for node in populations)
    neurons = sum(node.info.size for node in populations)
    return spikes / (neurons * T * result.output.shape[0])


def path_steps(result) -> tuple:
    """(event, dense): how many (synapse, step) pairs each path computed."""
    return (sum(p["event"] for p in result.paths.values()), sum(p["dense"] for p in result.paths.values()))


def check_exact(graph, images: np.ndarray, fast) -> str:
    """Compare ``fast`` (the timed run) with the float64 dense reference; raise if anything differs."""
    reference = simulate(graph, images, T, mode="dense", dtype=np.float64)
    assert np.array_equal(fast.output, reference.output), "outputs differ"
    for name, counts in reference.spike_counts.items():
        assert np.array_equal(fast.spike_counts[name], counts), f"spike counts differ at {name}"
    subset = images[:EXACT_SAMPLES]
    recorded = [simulate(graph, subset, T, record="all", **options).recorded
                for options in ({}, dict(mode="dense", dtype=np.float64))]
    for name, spikes in recorded[1].items():
        assert np.array_equal(recorded[0][name], spikes), f"spikes differ at {name}"
    return (f"bit-exact: outputs and {len(reference.spike_counts)} nodes' spike counts of all {len(images)} samples, "
            f"and every spike of {len(subset)} samples, equal the float64 dense reference")


def arguments(description: str, batch: int, batch_help: str = "samples") -> argparse.Namespace:
    """The options of this benchmark and of those timing the same model: batch, repeats, seed, --quick."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--batch", type=int, default=batch, help=f"{batch_help} (default: {batch})")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--quick", action="store_true", help="batch 32, one repeat: a smoke run")
    args = parser.parse_args()
    if args.quick:
        args.batch, args.repeats = 32, 1
    return args


def main() -> None:
    args = arguments(__doc__.splitlines()[0], 256)
    print(f"mlf_dsresnet20 {MODEL}, batch {args.batch}, best of {args.repeats}; numpy {np.__version__}, "
          f"torch {torch.__version__} ({torch.get_num_threads()} threads)")
    images = torch.rand(args.batch, 3, 32, 32, generator=torch.Generator().manual_seed(args.seed))
    array = images.numpy().astype(np.float64)

    model, graph = network("moderate", args.seed)
    with torch.no_grad():
        model(images[:2])  # warm-up
        (torch_s, simulator_s), (_, fast) = best_of(args.repeats, lambda: model(images),
                                                    lambda: simulate(graph, array, T))
    print(f"\n1. moderate activity ({firing_rate(graph, fast):.1%} spikes per neuron per step)")
    print(f"   torch float32   {torch_s:8.2f} s")
    print(f"   simulator       {simulator_s:8.2f} s    ratio simulator / torch = {simulator_s / torch_s:.2f}x")
    print(f"\n2. {check_exact(graph, array, fast)}")

    print("\n3. activity levels (auto: the simulator's choice per synapse and step; event: the event path only)")
    print(f"   {'level':<9} {'rate':>6} {'event steps':>12} {'dense steps':>12} {'auto s':>8} {'event s':>8}")
    for level in ACTIVITY:
        _, graph = network(level, args.seed)
        (auto_s, event_s), (auto, _) = best_of(args.repeats, lambda: simulate(graph, array, T),
                                               lambda: simulate(graph, array, T, mode="event"))
        event_steps, dense_steps = path_steps(auto)
        print(f"   {level:<9} {firing_rate(graph, auto):>6.1%} {event_steps:>12} {dense_steps:>12} {auto_s:>8.2f} "
              f"{event_s:>8.2f}")


if __name__ == "__main__":
    main()
