"""Time the simulator's event path against its dense path on single synaptic layers, at several input densities, and
fit the per-operation costs of ``backends/numpy/cost.py``.

    .venv/bin/python bench/simulator_paths.py [--batch 16] [--repeats 5]

Not a test. For each layer it prints milliseconds per timestep of both paths at each density (best of ``--repeats``,
interleaved) and which one ``mode="auto"`` picks; then the costs fitted over all layers: ns per row of weights and per
synapse that an active input adds, and per input and output position (the time of a silent step) on the event path,
and ns per multiply-add of each dense kernel. Layers are those of an integer graph (integer weights, exact float32)
unless ``--float`` (float64).
"""

import argparse
import dataclasses
import time
from types import SimpleNamespace

import numpy as np

from snncompile.backends.numpy import cost
from snncompile.backends.numpy.kernels import kernel_for
from snncompile.ir import TensorInfo
from snncompile.ir.ops import Conv2d, Linear, Readout, SumPool2d

DENSITIES = (0.0, 0.01, 0.02, 0.05, 0.12, 0.25, 0.5)


def best_ms(kernels: tuple, x: np.ndarray, repeats: int) -> list:
    """The fastest of ``repeats`` runs of each kernel on ``x``, in ms (interleaved, so a busy machine slows all)."""
    for kernel in kernels:
        kernel([x])  # compiles or loads the compiled kernels outside the timing
    times = np.empty((repeats, len(kernels)))
    for repeat in range(repeats):
        for column, kernel in enumerate(kernels):
            start = time.perf_counter()
            kernel([x])
            times[repeat, column] = time.perf_counter() - start
    return list(1000 * times.min(axis=0))


def kernels(op, in_shape: tuple, out_shape: tuple, batch: int, exact: bool) -> tuple:
    """The event-path, dense-path and auto kernels of ``op`` on spikes, as an integer graph's simulation (integer
    weights, float32) or a float graph's (float64) computes them."""
    if exact:
        op = dataclasses.replace(op, **{name: np.rint(10 * tensor) for name, tensor in op.tensors().items()})
    node = SimpleNamespace(op=op, info=TensorInfo(out_shape))
    return tuple(kernel_for(node, (TensorInfo(in_shape, "spikes"),), batch, mode, np.float64, exact=exact)
                 for mode in ("event", "dense", "auto"))


@dataclasses.dataclass
class Fit:
    """Samples for the cost fit: (rows, synapses, ms above a silent step), (positions, silent ms), (MACs, dense ms)."""

    events: list = dataclasses.field(default_factory=list)
    silent: list = dataclasses.field(default_factory=list)
    dense: dict = dataclasses.field(default_factory=dict)


def compare(title: str, op, in_shape: tuple, out_shape: tuple, args, rng, fit: Fit) -> None:
    event, dense, auto = kernels(op, in_shape, out_shape, args.batch, not args.float)
    kind = dense.prepared.dense_kernel
    dtype = np.float64 if args.float else np.float32
    print(f"\n{title}, batch {args.batch}, {'float64' if args.float else 'exact float32'}")
    print(f"{'density':>8} {'event ms':>9} {'dense ms':>9} {'event/dense':>12} {'auto picks':>11}")
    silent_ms = None
    for density in DENSITIES:
        x = (rng.random((args.batch, *in_shape)) < density).astype(dtype)
        event_ms, dense_ms = best_ms((event, dense), x, args.repeats)
        before = dict(auto.paths)
        auto([x])
        picked = next(path for path in auto.paths if auto.paths[path] > before[path])
        print(f"{density:>8.0%} {event_ms:>9.3f} {dense_ms:>9.3f} {event_ms / dense_ms:>12.2f} {picked:>11}")
        synapse = event.prepared
        synapses = np.count_nonzero(x) * synapse.fan_out
        if density == 0:
            silent_ms = event_ms
            fit.silent.append((args.batch * event.positions_per_sample, event_ms))
        elif density >= 0.05:
            fit.events.append((synapses / synapse.row_length, synapses, event_ms - silent_ms))
        fit.dense.setdefault(kind, []).append((args.batch * dense.prepared.macs, dense_ms))


def per_unit_ns(samples: list) -> float:
    """The least-squares ns per unit through the origin of (units, ms) samples."""
    units, ms = np.array(samples, dtype=float).T
    return 1e6 * float(units @ ms / (units @ units))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--float", action="store_true", help="float64 layers of a float graph")
    args = parser.parse_args()
    rng, fit = np.random.default_rng(0), Fit()
    layers = [
        ("conv 16->16 3x3 pad 1, 32x32", Conv2d(rng.standard_normal((16, 16, 3, 3)), rng.standard_normal(16),
                                                 padding=1), (16, 32, 32), (16, 32, 32)),
        ("conv 64->64 3x3 pad 1, 16x16", Conv2d(rng.standard_normal((64, 64, 3, 3)), None, padding=1),
         (64, 16, 16), (64, 16, 16)),
        ("conv 128->256 3x3 stride 2 pad 1, 8x8", Conv2d(rng.standard_normal((256, 128, 3, 3)), None, stride=2,
                                                          padding=1), (128, 8, 8), (256, 4, 4)),
        ("sum pool 3x3 stride 2 pad 1, 64x16x16", SumPool2d(kernel=3, stride=2, padding=1, weight=3),
         (64, 16, 16), (64, 8, 8)),
        ("linear 1024 -> 256", Linear(rng.standard_normal((256, 1024)), rng.standard_normal(256)), (1024,), (256,)),
        ("readout 512 -> 10", Readout(rng.standard_normal((10, 512)), rng.standard_normal(10)), (512,), (10,)),
    ]
    for title, op, in_shape, out_shape in layers:
        compare(title, op, in_shape, out_shape, args, rng, fit)
    print("\nfitted costs (backends/numpy/cost.py holds the values in use):")
    size = 8 if args.float else 4
    rows, synapses, ms = np.array(fit.events, dtype=float).T
    (row_ns, synapse_ns), *_ = np.linalg.lstsq(np.stack([rows, synapses], axis=1), 1e6 * ms, rcond=None)
    print(f"  event ns per row of weights   {row_ns:.3f}   (in use: {cost.ROW_NS})")
    print(f"  event ns per synapse          {synapse_ns:.3f}   (in use: {cost.SYNAPSE_NS[size]})")
    print(f"  event ns per position         {per_unit_ns(fit.silent):.3f}   (in use: {cost.POSITION_NS})")
    for kind, samples in fit.dense.items():
        print(f"  dense {kind} ns per MAC ({size}-byte) {per_unit_ns(samples):.4f}   "
              f"(in use: {cost.DENSE_NS_PER_MAC[kind, size]})")


if __name__ == "__main__":
    main()
