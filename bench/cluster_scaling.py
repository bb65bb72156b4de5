"""Samples per second of a data set run sharded over local Dask workers, and the scaling to expect on a cluster.

    .venv/bin/python bench/cluster_scaling.py [--samples 450] [--workers 1 2] [--repeats 2] [--width 8]

Not a test. It builds the zoo's ``mlf_dsresnet14`` (K=3 levels) for 1x32x32 inputs with random weights and lively BN
statistics (``lively`` of tests/conftest.py), saves it as a digits checkpoint, compiles it to 8-bit integers for the
NumPy simulator, and measures on the held-out digits (resized to 32x32), with energy activity recorded as
``snncompile energy`` does:

- one process, no cluster (:func:`snncompile.energy.measure`): the reference throughput;
- a local cluster of N worker processes (one thread each) for each N of ``--workers``
  (:func:`snncompile.cluster.evaluate_sharded`), warm (the workers have loaded the artifact; best of ``--repeats``),
  checked equal to the single process (predictions and spikes).

From the one-worker run it derives the per-sample cost ``c`` (simulation seconds per sample, as the shards report
them) and the per-shard overhead ``o`` (wall time not spent simulating, per shard: scheduling, shipping the shard's
result, merging) and prints the time expected for 50,000 samples of this model on M machines of ``w`` workers
each: the shards :func:`~snncompile.cluster.evaluate_sharded` cuts (``n``, of ``s`` samples) run in
``ceil(n / (M*w))`` waves of ``s*c + o`` each. That holds while the scheduler keeps up (Dask's handles thousands of
tasks per second; these are a second or more each) and ignores the start (each worker loads the artifact and the data
once). Local workers stand in for machines: each is a separate process that loads the artifact and its data once
and runs its shards on one core.
"""

import argparse
import os
import sys
import tempfile
import time
from math import ceil
from pathlib import Path

import torch

from snncompile import checkpoint
from snncompile.backends import get_backend
from snncompile.cluster import SHARDS_PER_WORKER, connect, evaluate_sharded, shard_bounds, shard_count, worker_count
from snncompile.compiler import compile, load_artifact
from snncompile.data.samples import samples_for
from snncompile.energy import measure
from snncompile.models import build

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
from conftest import lively  # noqa: E402

SIZE, T, BATCH = 32, 4, 32
TARGET_SAMPLES = 50_000  # ImageNet's validation set


def compiled_model(directory: Path, width: int) -> Path:
    torch.manual_seed(0)
    model = lively(build("mlf_dsresnet14", in_channels=1, num_classes=10, T=T, width=width, levels=3,
                         encoding="direct")).eval()
    path = directory / "model.pt"
    checkpoint.save(path, model, {"dataset": "digits", "encoding": "direct", "T": T, "image_size": SIZE,
                                  "epochs": 0})
    return compile(path, target="numpy", output=directory / "model.numpy").artifact


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=450)
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--width", type=int, default=8)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as directory:
        artifact = compiled_model(Path(directory), args.width)
        graph, _, _ = load_artifact(artifact)
        samples = samples_for(graph, "digits", limit=args.samples)
        print(f"mlf_dsresnet14 (K=3, width {args.width}), 1x{SIZE}x{SIZE}, T={T}, {len(samples)} digits samples, "
              f"batch {BATCH}; {os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f} at the start")
        alone = None
        for _ in range(args.repeats):
            start = time.perf_counter()
            evaluation, _ = measure(graph, get_backend("numpy"), samples, batch_size=BATCH, progress=False)
            wall = time.perf_counter() - start
            alone = wall if alone is None else min(alone, wall)
        print(f"one process, no cluster:   {len(samples) / alone:7.1f} samples/s ({alone:.2f} s)")
        per_sample = overhead = None
        for workers in args.workers:
            with connect(workers=workers) as client:
                client.wait_for_workers(workers)
                best = None
                for _ in range(args.repeats + 1):  # the first run loads the artifact on every worker
                    start = time.perf_counter()
                    sharded, _ = evaluate_sharded(client, artifact, "digits", limit=args.samples, batch_size=BATCH,
                                                  activity=True, progress=False)
                    wall = time.perf_counter() - start
                    best = wall if best is None else min(best, wall)
                    shards = len(shard_bounds(len(samples), shard_count(len(samples), BATCH,
                                                                         worker_count(client))))
                    if workers == 1 and wall == best:
                        per_sample = sharded.seconds / sharded.samples
                        overhead = (wall - sharded.seconds) / shards
                assert sharded.predictions == evaluation.predictions and sharded.spikes == evaluation.spikes
                print(f"{workers} worker(s), {shards} shards: {len(samples) / best:7.1f} samples/s ({best:.2f} s, "
                      f"{alone / best:.2f}x one process); equal to one process")
        if per_sample is not None:
            print(f"per sample {per_sample * 1000:.1f} ms of simulation, per shard {overhead * 1000:.0f} ms of "
                  f"overhead (1 worker)")
            print(f"expected for {TARGET_SAMPLES:,} samples of this model, shards as evaluate_sharded cuts them "
                  f"(at most {SHARDS_PER_WORKER} per worker, at least a batch of {BATCH}):")
            alone_time = None
            for machines, per_machine in ((1, 1), (1, 2), (4, 8), (16, 16), (64, 32)):
                workers = machines * per_machine
                shards = shard_count(TARGET_SAMPLES, BATCH, workers)
                size = TARGET_SAMPLES / shards
                seconds = ceil(shards / workers) * (size * per_sample + overhead)
                alone_time = alone_time or seconds
                print(f"  {machines:>2} machine(s) x {per_machine:>2} workers: {shards:>5} shards of {size:6.0f} "
                      f"samples, {seconds / 60:6.1f} min, {TARGET_SAMPLES / seconds:8.0f} samples/s, "
                      f"{alone_time / seconds:6.1f}x one worker")

if __name__ == "__main__":
    main()
