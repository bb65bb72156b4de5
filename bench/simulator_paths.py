"""Time the NumPy simulator's event path against its dense path on one synaptic layer, at several input densities.

    .venv/bin/python bench/simulator_paths.py [--batch 64] [--repeats 5]

Not a test: it prints milliseconds per timestep and the ratio, which set ``EVENT_DENSITY_LIMIT`` in
``backends/numpy/kernels.py``. Measured on the project machine (2 cores, numpy 1.26 with OpenBLAS, scipy 1.17),
batch 64, float64, best of 5, two runs (the dense times vary by up to 1.5x between runs on a shared machine)::

    density   conv 16->16 3x3 pad 1, 32x32     avg pool 2x2/2, 16x32x32      linear 1024 -> 256
              event ms  dense ms  ratio        event ms  dense ms  ratio     event ms  dense ms  ratio
      1 %       15.7     38-46    0.34-0.42      4.6      9.8      0.47        0.38     0.90     0.42
      2 %       21.9     31-39    0.56-0.72      4.8      9.8      0.49        0.43     0.92     0.47
      5 %       33-35    30-39    0.83-1.15      5.5      9.8      0.56        0.57     0.90     0.63
     10 %       51-52    30-39    1.30-1.72      6.6      9.8      0.68        0.79     0.47-0.9 0.85-1.69
     20 %       87-103   30-40    2.57-2.85      9.5      9.9      0.96        1.3      0.9-2.4  0.57-1.37
     50 %      196       31-39    5.1-6.3       17.2      9.9      1.74        2.7      0.48-1.0 2.8-5.5

The event path follows the activity (cost ∝ active inputs × fan-out, plus about 5 ms per step for finding the active
inputs and writing a dense output at this size); the dense path costs the same at every density. Crossovers: conv about
5-7 %, average pool about 20 %, linear 5-12 %.
"""

import argparse
import dataclasses
import time
from types import SimpleNamespace

import numpy as np

from snncompile.backends.numpy.kernels import SynapseKernel, kernel_for
from snncompile.ir import TensorInfo
from snncompile.ir.ops import AvgPool2d, Conv2d, Linear, Readout, SumPool2d

DENSITIES = (0.01, 0.02, 0.03, 0.05, 0.07, 0.10, 0.20, 0.50)


def best_ms(synapses: tuple, x: np.ndarray, repeats: int) -> list:
    """The fastest of ``repeats`` runs of each synapse on ``x``, in ms (interleaved, so a busy machine slows both)."""
    for synapse in synapses:
        synapse([x])  # builds the connection matrix of the event path outside the timing
    times = np.empty((repeats, len(synapses)))
    for repeat in range(repeats):
        for column, synapse in enumerate(synapses):
            start = time.perf_counter()
            synapse([x])
            times[repeat, column] = time.perf_counter() - start
    return list(1000 * times.min(axis=0))


def synapses(op, in_shape: tuple, out_shape: tuple, batch: int, exact: bool) -> tuple:
    """The event-path and dense-path kernels of ``op`` on spike inputs: float64, or as an integer graph's exact
    simulation computes them (integer weights, float32)."""
    if not exact:
        return tuple(SynapseKernel(op, TensorInfo(in_shape, "spikes"), out_shape, mode, np.float64)
                     for mode in ("event", "dense"))
    node = SimpleNamespace(op=dataclasses.replace(op, **{name: np.rint(10 * tensor)
                                                         for name, tensor in op.tensors().items()}),
                           info=TensorInfo(out_shape))
    return tuple(kernel_for(node, (TensorInfo(in_shape, "spikes"),), batch, mode, np.float64, exact=True)
                 for mode in ("event", "dense"))


def compare(title: str, op, in_shape: tuple, out_shape: tuple, batch: int, repeats: int, rng, exact: bool) -> None:
    print(f"{title}, batch {batch}, {'exact float32' if exact else 'float64'}")
    print(f"{'density':>8} {'event ms':>9} {'dense ms':>9} {'event/dense':>12}")
    kernels = synapses(op, in_shape, out_shape, batch, exact)
    for density in DENSITIES:
        x = (rng.random((batch, *in_shape)) < density).astype(np.float32 if exact else np.float64)
        event, dense = best_ms(kernels, x, repeats)
        print(f"{density:>8.0%} {event:>9.2f} {dense:>9.2f} {event / dense:>12.2f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--exact", action="store_true",
                        help="time the kernels of an integer graph's exact simulation (float32) instead of float64")
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    run = dict(batch=args.batch, repeats=args.repeats, rng=rng, exact=args.exact)
    conv = Conv2d(rng.standard_normal((16, 16, 3, 3)), rng.standard_normal(16), stride=1, padding=1)
    compare("conv 16->16 3x3 pad 1, 32x32", conv, (16, 32, 32), (16, 32, 32), **run)
    deep = Conv2d(rng.standard_normal((64, 64, 3, 3)), None, stride=1, padding=1)
    compare("conv 64->64 3x3 pad 1, 8x8", deep, (64, 8, 8), (64, 8, 8), **run)
    if args.exact:
        pool = SumPool2d(kernel=2, stride=2, weight=3)
        compare("sum pool 2x2 stride 2, 16x32x32", pool, (16, 32, 32), (16, 16, 16), **run)
    else:
        pool = AvgPool2d(kernel=2, stride=2)
        compare("average pool 2x2 stride 2, 16x32x32", pool, (16, 32, 32), (16, 16, 16), **run)
    linear = Linear(rng.standard_normal((256, 1024)), rng.standard_normal(256))
    compare("linear 1024 -> 256", linear, (1024,), (256,), **run)
    readout = Readout(rng.standard_normal((10, 4096)), rng.standard_normal(10))
    compare("readout 4096 -> 10", readout, (4096,), (10,), **run)


if __name__ == "__main__":
    main()
