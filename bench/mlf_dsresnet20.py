"""The MLF DS-ResNet-20 benchmark network and the timing helpers that bench/onnx_vs_numpy.py uses.

Not a benchmark itself: ``network(level, seed)`` builds ``mlf_dsresnet20`` (width "small" = 16, K = 3 levels, T = 4,
3x32x32 inputs, 10 classes) with random weights and every BN's statistics and affine terms set at random (``lively``
of tests/conftest.py, with the BN biases shifted by ``ACTIVITY[level]``), and its integer graph.
"""

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import torch

from snncompile.compiler import lower_and_quantize
from snncompile.frontend import trace
from snncompile.models import build

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
from conftest import lively  # noqa: E402

T = 4
MODEL = dict(width="small", in_channels=3, num_classes=10, T=T, levels=3)
# BN bias shift per activity level: firing rates about 5 %, 12 % and 25 % of neurons per step.
ACTIVITY = {"low": -0.8, "moderate": -0.6, "high": -0.2}


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


def arguments(description: str, batch: int, batch_help: str = "samples") -> argparse.Namespace:
    """The options of the benchmarks timing this model: batch, repeats, seed, --quick."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--batch", type=int, default=batch, help=f"{batch_help} (default: {batch})")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--quick", action="store_true", help="batch 32, one repeat: a smoke run")
    args = parser.parse_args()
    if args.quick:
        args.batch, args.repeats = 32, 1
    return args
