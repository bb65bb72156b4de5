"""The case of issue 21: ``sew_resnet18`` at 224x224 with PyTorch's default initialisation, where most of the network is
silent, on the integer simulator against PyTorch float.

    .venv/bin/python bench/sew_resnet18_imagenet.py [--batch 2] [--repeats 3]

Not a test. It builds the zoo's ``sew_resnet18`` (IF neurons, SEW ADD, ImageNet stem, 1000 classes, T = 4) with
PyTorch's default initialisation (BN statistics 0 and 1, so the deeper layers barely fire), compiles it to the integer
graph, and prints the firing rate, the populations that never fire, which path the simulator took, the fastest of
``--repeats`` runs of PyTorch float32 inference and of the simulator (interleaved), their ratio, and each one's memory
peak (the resident size above the size before the run, sampled every millisecond), and the process's largest resident
size. Before 2026-12 the simulator built every silent layer's whole connection matrix here (51 s against 0.29 s,
13.4 GB).
"""

import argparse
import resource
import sys
import time
from pathlib import Path

import numpy as np
import torch

from snncompile.backends.numpy import simulate
from snncompile.compiler import lower_and_quantize
from snncompile.frontend import trace
from snncompile.models import build

sys.path.insert(0, str(Path(__file__).resolve().parent))
from simulate_vs_torch import T, firing_rate, timed  # noqa: E402

SIZE = 224


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    torch.manual_seed(0)
    model = build("sew_resnet18", in_channels=3, num_classes=1000, T=T).eval()
    images = torch.rand(args.batch, 3, SIZE, SIZE, generator=torch.Generator().manual_seed(0))
    start = time.perf_counter()
    graph = lower_and_quantize(trace(model, images[:1])).graph
    print(f"sew_resnet18 at {SIZE}x{SIZE}, default initialisation, batch {args.batch}, T={T}; compiled in "
          f"{time.perf_counter() - start:.1f} s; torch {torch.get_num_threads()} threads")
    array = images.numpy()
    start = time.perf_counter()
    first = simulate(graph, array, T)
    print(f"first simulation (compiled kernels loaded, every op prepared): {time.perf_counter() - start:.2f} s")
    with torch.no_grad():
        model(images)
        runs = timed(args.repeats, {"torch": lambda: model(images), "sim": lambda: simulate(graph, array, T)})
    (torch_s, torch_b, _), (sim_s, sim_b, result) = runs["torch"], runs["sim"]
    populations = [node.name for node in graph if node.op.kind == "IntLIF"]
    silent = [name for name in populations if result.spike_counts[name].sum() == 0]
    event = sum(p["event"] for p in result.paths.values())
    dense = sum(p["dense"] for p in result.paths.values())
    print(f"firing rate {firing_rate(graph, result):.2%}; {len(silent)} of {len(populations)} populations silent; "
          f"(synapse, step) pairs: {event} event path, {dense} dense path")
    print(f"torch float32   {torch_s:7.3f} s   memory peak {torch_b / 2**20:7.0f} MB")
    print(f"simulator       {sim_s:7.3f} s   memory peak {sim_b / 2**20:7.0f} MB   ratio simulator / torch = "
          f"{sim_s / torch_s:.2f}x")
    print(f"largest resident size of this process: {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20:.2f} GB")
    assert np.array_equal(first.output, result.output)


if __name__ == "__main__":
    main()
