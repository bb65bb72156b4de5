"""onnxruntime against the NumPy simulator and PyTorch, on the same MLF DS-ResNet-20 and the same images.

    .venv/bin/python bench/onnx_vs_numpy.py [--batch 256] [--repeats 3] [--quick]

Not a test. The model is bench/mlf_dsresnet20.py's (``mlf_dsresnet20``, width 16, K = 3 levels, T = 4, 3x32x32
inputs, random weights with BN statistics set for moderate activity). In one run it prints:

1. the integer graph: onnxruntime (the exported model, session built beforehand) and the NumPy simulator (default
   arithmetic and ``mode="auto"``) against PyTorch float32 inference of the same batch, best of ``--repeats``
   (interleaved, so a busy machine slows all alike), as times and ratios; and whether onnxruntime's logits and every
   node's spike counts equal the simulator's reference arithmetic (``dtype=np.float64``) bit for bit;
2. the traced float graph: onnxruntime and the simulator, both in float64, against the same PyTorch time, and the
   largest logit difference and whether the spike counts are equal;
3. what unrolling costs: export and session time, node count and file size of the model at several ``T``.
"""

import time

import numpy as np
import onnxruntime
import torch
from mlf_dsresnet20 import MODEL, T, arguments, best_of, network

from snncompile.backends import get_backend
from snncompile.backends.numpy import simulate
from snncompile.backends.onnx.export import export
from snncompile.backends.onnx.runtime import session
from snncompile.frontend import trace

UNROLLED_T = (4, 16, 64)


def counts_equal(expected, result) -> bool:
    return all(np.array_equal(result.spike_counts[name], counts) for name, counts in expected.spike_counts.items())


def timed_rows(title: str, torch_s: float, rows: dict) -> None:
    print(title)
    print(f"   {'torch float32':<26} {torch_s:8.3f} s")
    for label, seconds in rows.items():
        print(f"   {label:<26} {seconds:8.3f} s    {seconds / torch_s:6.2f}x torch")


def unrolling_cost(graph) -> None:
    print("\n3. the integer graph unrolled: export, session, size")
    print(f"   {'T':>4} {'nodes':>8} {'MB':>7} {'export s':>9} {'session s':>10}")
    for steps in UNROLLED_T:
        start = time.perf_counter()
        model = export(graph, steps)
        exported = time.perf_counter()
        session(model)
        print(f"   {steps:>4} {len(model.graph.node):>8} {model.ByteSize() / 1e6:>7.2f} {exported - start:>9.2f} "
              f"{time.perf_counter() - exported:>10.2f}")


def main() -> None:
    args = arguments(__doc__.splitlines()[0], 256, "samples (onnxruntime runs them 32 at a time: its float64 "
                                                    "im2col buffers grow with the batch)")
    print(f"mlf_dsresnet20 {MODEL}, batch {args.batch}, best of {args.repeats}; onnxruntime {onnxruntime.__version__}, "
          f"numpy {np.__version__}, torch {torch.__version__} ({torch.get_num_threads()} threads)")
    images = torch.rand(args.batch, 3, 32, 32, generator=torch.Generator().manual_seed(args.seed))
    array = images.numpy().astype(np.float64)
    model, graph = network("moderate", args.seed)
    float_graph = trace(model, images[:1])
    backend = get_backend("onnx")

    start = time.perf_counter()
    for g in (graph, float_graph):
        backend.run(g, array[:2], T)  # export and build the sessions outside the timing
    print(f"export and session of both graphs: {time.perf_counter() - start:.1f} s")
    with torch.no_grad():
        model(images[:2])
        times, results = best_of(args.repeats, lambda: model(images), lambda: backend.run(graph, array, T),
                                 lambda: simulate(graph, array, T), lambda: backend.run(float_graph, array, T),
                                 lambda: simulate(float_graph, array, T))
    torch_s, onnx_s, numpy_s, onnx_float_s, numpy_float_s = times
    _, onnx_int, _, onnx_float, numpy_float = results

    timed_rows("\n1. integer graph", torch_s, {"onnxruntime": onnx_s, "numpy simulator": numpy_s})
    print(f"   onnxruntime / numpy = {onnx_s / numpy_s:.2f}x")
    reference = simulate(graph, array, T, dtype=np.float64)
    exact = np.array_equal(onnx_int.output, reference.output) and counts_equal(reference, onnx_int)
    print(f"   onnxruntime logits and spike counts of {len(reference.spike_counts)} nodes bit-exact with the "
          f"simulator's reference arithmetic: {exact}")

    timed_rows("\n2. traced float graph (float64)", torch_s, {"onnxruntime": onnx_float_s,
                                                               "numpy simulator": numpy_float_s})
    print(f"   onnxruntime / numpy = {onnx_float_s / numpy_float_s:.2f}x; largest logit difference "
          f"{np.abs(onnx_float.output - numpy_float.output).max():.1e}, spike counts equal: "
          f"{counts_equal(numpy_float, onnx_float)}")
    unrolling_cost(graph)


if __name__ == "__main__":
    main()
