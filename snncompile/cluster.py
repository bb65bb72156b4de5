"""Simulations sharded over the workers of a Dask cluster: a local cluster of worker processes, or the workers of an
existing scheduler (``--scheduler tcp://host:8786``). The merged result is the one a single process computes.

>>> with connect(workers=2) as client:
...     evaluation, activity = evaluate_sharded(client, "build/model.numpy", "digits", limit=200, activity=True)

A **shard** is a contiguous range of the samples. A worker runs it with :func:`snncompile.evaluation.evaluate` (or
:func:`snncompile.energy.measure` when an energy estimate needs the activity) after loading the artifact once —
verified against its manifest by :func:`~snncompile.compiler.load_artifact` — and reading the data once
(:func:`~snncompile.data.samples.samples_for`); it keeps both for the shards that follow (:func:`loaded`: the few most
recent artifacts, keyed by the manifest's digest, so a recompiled artifact is loaded again). Workers read the artifact
and the data from their paths, so a shard whose worker dies can run anywhere: on a real cluster those must be on a
file system every worker sees, at the same path.

:func:`merge` puts the shards back in sample order: predictions concatenated, spikes and activity summed as integers,
accuracy recomputed from the merged predictions, exactly as one process computes them (float agreement, kept as shares,
to rounding).

Failures: a shard that raises is run again (:data:`RETRIES` more times, Dask's ``retries``); one whose worker dies is
rescheduled by Dask (up to ``distributed.scheduler.allowed-failures`` deaths). Each failure is printed as it happens
and listed in :attr:`Failures.lines`; a shard that still fails stops the whole job with its error and nothing is
merged.

Why Dask rather than Ray: the work is a static graph of pure tasks over NumPy data (compile, simulate shards,
summarize) with per-task retries, task-level events and data locality, which ``distributed`` provides as a pip
dependency that starts a local cluster in-process in under a second and joins an existing one by address (also on
HPC batch systems, through dask-jobqueue); Ray's strengths (actors, a shared object store, GPU scheduling) are not
needed here, and it ships a large binary runtime (raylet, GCS) that must run beside every driver.
"""

import hashlib
import logging
import os
import socket
import sys
import uuid
from contextlib import contextmanager
from dataclasses import dataclass, replace
from functools import lru_cache
from math import ceil
from pathlib import Path

import numpy as np

from .errors import ConfigError, SnnCompileError, require_count

RETRIES = 2                     # extra attempts of a shard that raised (worker deaths are Dask's allowed-failures)
SHARDS_PER_WORKER = 4           # shards queued per worker: small enough to balance a slow worker, large to amortize
CONNECT_TIMEOUT = "10s"
PROBE_SECONDS = 2.0  # how long a TCP connection to --scheduler may take before it is called unreachable
FAILURE_TOPIC = "snncompile-failure"
ARTIFACTS_KEPT = 4              # artifacts a worker keeps loaded (a sweep moves from point to point)


class ClusterError(SnnCompileError):
    """The cluster cannot be reached, or a shard failed on every attempt (names the samples and the error)."""


@dataclass
class ShardResult:
    """What a worker found on samples ``start:start + evaluation.samples``: the evaluation of those samples and their
    activity (None unless asked for)."""

    start: int
    evaluation: object
    activity: object


@contextmanager
def connect(scheduler: str | None = None, workers: int | None = None):
    """A Dask ``Client`` of the scheduler at address ``scheduler``, or of a new local cluster of ``workers``
    processes (one thread each; default: one per CPU core), closed when the block ends."""
    from distributed import Client, LocalCluster

    if scheduler is not None and workers is not None:
        raise ConfigError("--scheduler and --workers exclude each other: the workers of an existing cluster are its "
                          "own; pass one of them")
    if scheduler is not None:
        try:
            reachable(scheduler)
            client = Client(scheduler, timeout=CONNECT_TIMEOUT)
        except (OSError, TimeoutError, ValueError) as err:
            raise ClusterError(f"--scheduler {scheduler}: cannot connect ({err}); start one with `dask scheduler` "
                               f"and `dask worker ADDRESS`, or leave --scheduler out for a local cluster") from None
        with client:
            yield client
        return
    count = require_count(os.cpu_count() if workers is None else workers, "--workers")
    with LocalCluster(n_workers=count, threads_per_worker=1, processes=True, dashboard_address=None,
                      silence_logs=logging.CRITICAL) as cluster, Client(cluster) as client:
        yield client


def reachable(scheduler: str) -> None:
    """Raise ``OSError`` at once if nothing listens at a TCP ``scheduler`` address (Dask's client would retry for
    :data:`CONNECT_TIMEOUT` first); other schemes are left to Dask."""
    from distributed.comm.addressing import parse_address, parse_host_port

    scheme, location = parse_address(scheduler)
    if scheme in ("tcp", "tls"):
        socket.create_connection(parse_host_port(location), timeout=PROBE_SECONDS).close()


def worker_count(client) -> int:
    """The workers connected to ``client``'s scheduler (at least 1: an external cluster may still be starting)."""
    return max(1, len(client.scheduler_info(n_workers=-1)["workers"]))


def shard_bounds(total: int, shards: int) -> list:
    """``(start, stop)`` of ``shards`` contiguous ranges covering ``range(total)``, sizes differing by at most 1."""
    edges = np.linspace(0, total, min(shards, total) + 1).round().astype(int)
    return list(zip(edges[:-1].tolist(), edges[1:].tolist()))


def shard_count(total: int, batch_size: int, workers: int, jobs: int = 1) -> int:
    """How many shards to cut ``total`` samples into when ``jobs`` such runs share ``workers``: about
    :data:`SHARDS_PER_WORKER` per worker in all, never smaller than a batch."""
    return max(1, min(ceil(total / batch_size), ceil(SHARDS_PER_WORKER * workers / jobs)))


@lru_cache(maxsize=ARTIFACTS_KEPT)
def _artifact(artifact: str, manifest_digest: str, T) -> tuple:
    from .compiler import load_artifact
    from .steps import with_steps

    graph, float_graph, _ = load_artifact(artifact)
    return with_steps(graph, T, artifact), float_graph


_samples_read = {}  # the samples this process read last, by what they depend on (one data set kept, not one per graph)


def _samples(graph, data: str, options: tuple):
    from .data.samples import samples_for

    node = graph.input_nodes[0]
    key = (data, options, graph.metadata["T"], tuple(node.info.shape), node.info.kind, node.op.encoding)
    if key not in _samples_read:
        _samples_read.clear()
        _samples_read[key] = samples_for(graph, data, **dict(options))
    return _samples_read[key]


def data_source(data) -> str:
    """``data`` as every worker names it: a data set's name as it is, a file by its absolute path (workers may run in
    another directory, or on another machine sharing the file system)."""
    from .data import DATASETS

    return str(data) if str(data) in DATASETS else str(Path(data).resolve())


def loaded(artifact, T=None, data: str = "digits", **options) -> tuple:
    """``(graph, float graph, samples)``: ``artifact`` set to run ``T`` steps (default: its own) and the samples of
    ``data`` it takes (:func:`~snncompile.data.samples.samples_for` with ``options``: ``limit``, ``frame_time``,
    ``frame_events``), loaded in this process once per version of the artifact (verified; the key holds its
    manifest's digest; the last few kept) and once per data set and input (the last one kept)."""
    from .manifest import MANIFEST_FILE

    manifest = Path(artifact) / MANIFEST_FILE
    digest = hashlib.sha256(manifest.read_bytes()).hexdigest() if manifest.is_file() else ""
    graph, float_graph = _artifact(str(artifact), digest, T)
    return graph, float_graph, _samples(graph, str(data), tuple(sorted(options.items())))


@contextmanager
def reported(task: str):
    """On a worker: an exception leaving the block is logged to the scheduler (topic :data:`FAILURE_TOPIC`, naming
    ``task``, the worker and the error) before it propagates, so that the client reports it even when a retry then
    succeeds."""
    from distributed import get_worker

    try:
        yield
    except Exception as err:
        worker = get_worker()
        worker.log_event(FAILURE_TOPIC, {"task": task, "key": worker.get_current_task(), "worker": worker.address,
                                         "error": f"{type(err).__name__}: {err}"})
        raise


def run_shard(artifact, T, data: str, options: dict, start: int, stop: int, backend_name: str, batch_size: int,
              compare_float: bool = False, activity: bool = False) -> ShardResult:
    """On a worker: simulate samples ``start:stop`` of ``data`` (read with ``options``, :func:`loaded`) on
    ``artifact`` set to ``T`` steps with backend ``backend_name``; with ``activity`` also record what an energy
    estimate needs."""
    from .backends import get_backend
    from .backends.numpy import on_one_core
    from .energy.activity import measure
    from .evaluation import evaluate

    on_one_core()  # a worker is one thread: the others have the machine's other cores
    with reported(f"samples {start}-{stop - 1} of {artifact}"):
        graph, float_graph, samples = loaded(artifact, T, data, **options)
        shard = replace(samples, x=samples.x[start:stop], y=None if samples.y is None else samples.y[start:stop])
        backend = get_backend(backend_name)
        if activity:
            evaluation, events = measure(graph, backend, shard, batch_size=batch_size, progress=False)
        else:
            evaluation, events = evaluate(graph, backend, shard, batch_size=batch_size, progress=False,
                                          reference=float_graph if compare_float else None), None
    return ShardResult(start, evaluation, events)


def merge(shards: list, labels) -> tuple:
    """``(evaluation, activity)`` of the ``shards`` of one run put back in sample order, as one process computes them
    on all their samples (``labels``: those samples' labels, or None); ``activity`` is None unless the shards
    recorded it. Float agreement, which an evaluation keeps as shares, is their mean weighted by samples (equal to one
    process's to rounding); everything else is exact."""
    from .energy.activity import Activity
    from .evaluation import Evaluation

    shards = sorted(shards, key=lambda shard: shard.start)
    parts = [shard.evaluation for shard in shards]
    first = parts[0]
    predictions = [p for part in parts for p in part.predictions]
    total = len(predictions)
    spikes = {name: sum(part.spikes[name] for part in parts) for name in first.spikes}
    agreement = {name: {key: sum(part.agreement[name][key] * part.samples for part in parts) / total
                        for key in first.agreement[name]} for name in first.agreement}
    accuracy = None if labels is None else float((np.array(predictions) == labels).mean())
    evaluation = Evaluation(first.backend, total, first.T, accuracy, predictions, spikes, first.neurons,
                            sum(part.seconds for part in parts), agreement)
    if shards[0].activity is None:
        return evaluation, None
    activities = [shard.activity for shard in shards]
    activity = Activity(first.T, sum(a.samples for a in activities),
                        {name: sum(a.per_step[name] for a in activities) for name in activities[0].per_step},
                        {name: sum(a.per_position[name] for a in activities) for name in activities[0].per_position})
    return evaluation, activity


def say(line: str) -> None:
    """Print ``line`` on stderr, above any progress bar."""
    from tqdm import tqdm

    tqdm.write(line, file=sys.stderr)


class Failures:
    """The failures of one job on ``client``: tasks that raised (logged by :func:`reported`) and workers lost while
    running the job's tasks (the scheduler's ``remove-worker`` events), for the tasks of the futures given to
    :meth:`watch`. Each is written (through ``write``, default :func:`say`) as it arrives and kept in
    :attr:`lines`; when the block completes the scheduler's event log is read once more, so that none that arrived
    late is missed. Enter it before submitting the tasks."""

    def __init__(self, client, write=None):
        self.client, self.write = client, write or say
        self.keys, self.seen, self.lines = set(), set(), []

    def watch(self, futures) -> None:
        self.keys.update(future.key for future in futures)

    def __enter__(self):
        self.client.subscribe_topic(FAILURE_TOPIC, self._task_failed)
        self.client.subscribe_topic("all", self._worker_event)
        return self

    def __exit__(self, error_type, *exc):
        for topic in (FAILURE_TOPIC, "all"):
            self.client.unsubscribe_topic(topic)
        if error_type is not None:
            return
        for event in self.client.get_events(FAILURE_TOPIC):
            self._task_failed(event)
        for event in self.client.get_events("all"):
            self._worker_event(event)

    def _report(self, event, line: str) -> None:
        timestamp, message = event
        seen = (timestamp, message.get("key"), message.get("worker"))
        if seen not in self.seen:
            self.seen.add(seen)
            self.lines.append(line)
            self.write(f"cluster: {line}")

    def _task_failed(self, event) -> None:
        _, failure = event
        if failure.get("key") in self.keys:
            self._report(event, f"{failure['task']} failed on {failure['worker']} ({failure['error']}); run again, "
                                f"up to {RETRIES} times")

    def _worker_event(self, event) -> None:
        _, message = event
        if message.get("action") != "remove-worker" or message.get("expected"):
            return
        ours = [key for key in message.get("processing-tasks", ()) if key in self.keys]
        if ours:
            self._report(event, f"worker {message['worker']} was lost while running {len(ours)} task(s); the "
                                f"scheduler runs them on another worker")


def job_key(kind: str, *parts) -> str:
    """A task key unique to this job (Dask keeps results by key): ``kind-part-...-random``."""
    return "-".join(map(str, (kind, *parts, uuid.uuid4().hex[:8])))


def failure(future, what: str) -> SnnCompileError:
    """The error to stop a job with when ``future``, the task doing ``what``, failed on every attempt: an
    snncompile error as it is, prefixed with ``what``; anything else as one :class:`ClusterError` naming ``what``,
    the attempts and the error."""
    from distributed import KilledWorker

    error = future.exception() if future.status == "error" else None
    if isinstance(error, SnnCompileError):
        return type(error)(f"{what}: {error}")
    if isinstance(error, KilledWorker):
        return ClusterError(f"{what}: every worker that ran it died (Dask's allowed-failures reached); nothing was "
                            f"merged. Check the workers' memory and logs")
    if error is None:
        return ClusterError(f"{what}: its task was {future.status} on the cluster; nothing was merged")
    return ClusterError(f"{what} failed {RETRIES + 1} times on the cluster ({type(error).__name__}: {error}); "
                        f"nothing was merged")


def evaluate_sharded(client, artifact, data: str = "digits", *, T=None, backend: str = "numpy", batch_size: int = 64,
                     compare_float: bool = False, activity: bool = False, progress: bool = True, **options) -> tuple:
    """``(evaluation, activity)``: run ``artifact`` set to ``T`` steps (default: its own) on the samples of ``data``
    (a data set name, or a file at the same path on every worker; ``options``: ``limit``, ``frame_time``,
    ``frame_events``, as :func:`~snncompile.data.samples.samples_for` takes them), sharded over ``client``'s
    workers, with a progress bar over samples; ``activity`` (for energy estimates) is None unless asked for. Equal
    to :func:`~snncompile.evaluation.evaluate` (and :func:`~snncompile.energy.measure`) in one process, but for
    ``seconds``, the shards' simulation times summed."""
    from distributed import as_completed
    from tqdm import tqdm

    require_count(batch_size, "--batch-size")
    artifact, data = str(Path(artifact).resolve()), data_source(data)
    _, _, samples = loaded(artifact, T, data, **options)  # checked here, before any worker starts
    total = len(samples)
    bounds = shard_bounds(total, shard_count(total, batch_size, worker_count(client)))
    results = []
    description = f"simulate ({backend}) on {worker_count(client)} workers"
    with Failures(client) as failures, \
            tqdm(total=total, unit="sample", desc=description, disable=None if progress else True) as bar:
        futures = {client.submit(run_shard, artifact, T, data, options, start, stop, backend, batch_size,
                                 compare_float, activity, key=job_key("simulate", start, stop), retries=RETRIES,
                                 pure=False): (start, stop) for start, stop in bounds}
        failures.watch(futures)
        for future in as_completed(futures):
            start, stop = futures[future]
            if future.status != "finished":
                error = failure(future, f"samples {start}-{stop - 1}")
                client.cancel(list(futures))
                raise error from None
            results.append(future.result())
            bar.update(stop - start)
            bar.set_postfix_str(f"shards {len(results)}/{len(bounds)}", refresh=False)
    return merge(results, samples.y)
