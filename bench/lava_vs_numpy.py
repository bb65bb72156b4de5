"""Lava (fixed-point, bit-accurate) against the integer NumPy simulator on the same compiled networks.

    .venv/bin/python bench/lava_vs_numpy.py [--quick] [--cases NAME ...]

Not a test. Each case builds a zoo model with random weights and random BN statistics (``lively`` of tests/conftest.py,
so that it fires), compiles it to the integer graph, runs one batch on both backends, checks that every spike, count
and the readout agree, and prints: Lava processes, Lava steps (``B*T + depth``), the time to build the Lava network
(constructing the processes, Lava's compiler and starting its OS processes), to run it, and end to end (including the
worker process, host current and reading the results back), the NumPy simulator's time on the same batch and the
ratio Lava / NumPy. ``conv`` cases map every convolution to a Lava ``Conv``; the others let the plan pick ``Sparse``
where Lava simulates it faster (``convolutions="auto"``).

Measured on the project machine (2 cores, shared with other jobs: times vary by up to 2x between runs)::

    (the table printed by a full run is pasted into the report of the change that added this script)
"""

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
from conftest import lively, tiny_config  # noqa: E402

from snncompile.backends.lava import run_network  # noqa: E402
from snncompile.backends.numpy import simulate  # noqa: E402
from snncompile.compiler import lower_and_quantize  # noqa: E402
from snncompile.frontend import trace  # noqa: E402
from snncompile.models import build  # noqa: E402

RESNET = dict(width="small", levels=3, T=4, in_channels=3)
CASES = {  # name: (architecture, options, image size, batch, convolutions)
    "tiny-sew18": ("sew_resnet18", tiny_config("sew_resnet18"), 8, 1, "auto"),
    "tiny-mlf14": ("mlf_dsresnet14", tiny_config("mlf_dsresnet14"), 8, 1, "auto"),
    "mlf20-8px": ("mlf_dsresnet20", RESNET, 8, 1, "auto"),
    "mlf20-8px-b8": ("mlf_dsresnet20", RESNET, 8, 8, "auto"),
    "mlf20-8px-conv": ("mlf_dsresnet20", RESNET, 8, 1, "conv"),
    "mlf32-8px": ("mlf_dsresnet32", RESNET, 8, 1, "auto"),
    "mlf44-8px": ("mlf_dsresnet44", RESNET, 8, 1, "auto"),
    "mlf20-32px": ("mlf_dsresnet20", RESNET, 32, 1, "auto"),
}
QUICK = ("tiny-sew18", "tiny-mlf14", "mlf20-8px", "mlf20-8px-b8")


def measure(name: str) -> dict:
    arch, options, size, batch, convolutions = CASES[name]
    torch.manual_seed(0)
    model = lively(build(arch, **options)).eval()
    images = torch.rand(batch, options["in_channels"], size, size)
    graph = lower_and_quantize(trace(model, images[:1])).graph
    T = options["T"]
    started = time.perf_counter()
    expected = simulate(graph, images.numpy(), T, record="all")
    numpy_seconds = time.perf_counter() - started
    run = run_network(graph, images.numpy(), T, record=list(expected.recorded), convolutions=convolutions)
    exact = np.array_equal(run.result.output, expected.output) and all(
        np.array_equal(run.result.recorded[n], expected.recorded[n]) for n in expected.recorded)
    timing = run.timing
    return {"case": name, "processes": timing["processes"], "steps": timing["steps"],
            "build": timing["construct_seconds"] + timing["compile_seconds"], "run": timing["run_seconds"],
            "total": run.result.seconds, "numpy": numpy_seconds, "exact": exact}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help=f"only {', '.join(QUICK)}")
    parser.add_argument("--cases", nargs="+", choices=CASES, help="the cases to run (default: all)")
    args = parser.parse_args()
    names = args.cases or (QUICK if args.quick else list(CASES))
    print(f"{'case':<16} {'processes':>9} {'steps':>5} {'build s':>8} {'run s':>7} {'s/step':>7} {'total s':>8} "
          f"{'numpy s':>8} {'lava/numpy':>10}  exact")
    for name in names:
        row = measure(name)
        print(f"{row['case']:<16} {row['processes']:>9} {row['steps']:>5} {row['build']:>8.1f} {row['run']:>7.1f} "
              f"{row['run'] / row['steps']:>7.3f} {row['total']:>8.1f} {row['numpy']:>8.3f} "
              f"{row['total'] / row['numpy']:>10.0f}  {row['exact']}", flush=True)


if __name__ == "__main__":
    main()
