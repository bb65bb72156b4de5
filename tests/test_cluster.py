"""Simulations sharded over a local Dask cluster (2 worker processes) equal one process: predictions, spikes per node,
activity and energy, on every backend that runs headless; failed shards are retried and reported, or stop the run."""

import json
import os
import signal
import socket
import time
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

from snncompile import cluster
from snncompile.backends import get_backend
from snncompile.cli.main import main
from snncompile.compiler import compile, load_artifact
from snncompile.data.samples import samples_for
from snncompile.energy import estimate, measure
from snncompile.evaluation import evaluate

SAMPLES, BATCH = 96, 16


@pytest.fixture(scope="module")
def client():
    with cluster.connect(workers=2) as client:
        yield client


@pytest.fixture(scope="module")
def artifacts(tiny_checkpoint, tmp_path_factory):
    """The tiny checkpoint compiled for each headless backend: target -> artifact directory."""
    root = tmp_path_factory.mktemp("cluster")
    return {target: compile(tiny_checkpoint, target=target, output=root / target).artifact
            for target in ("numpy", "onnx")}


def artifact_loads(client) -> dict:
    """worker -> how many artifacts that worker process has loaded from disk so far."""
    return client.run(lambda: __import__("snncompile.cluster").cluster._artifact.cache_info().misses)


@pytest.mark.parametrize("target", ["numpy", "onnx"])
def test_a_local_cluster_run_equals_one_process(client, artifacts, target):
    graph, _, _ = load_artifact(artifacts[target])
    samples = samples_for(graph, "digits", limit=SAMPLES)
    alone, alone_activity = measure(graph, get_backend(target), samples, batch_size=BATCH, progress=False)
    loads_before = artifact_loads(client)
    sharded, activity = cluster.evaluate_sharded(client, artifacts[target], "digits", limit=SAMPLES,
                                                 backend=target, batch_size=BATCH, activity=True, progress=False)
    loads = {worker: count - loads_before[worker] for worker, count in artifact_loads(client).items()}
    assert sharded.predictions == alone.predictions and sharded.accuracy == alone.accuracy
    assert sharded.spikes == alone.spikes and sum(sharded.spikes.values()) > 0
    assert (sharded.samples, sharded.T, sharded.backend) == (alone.samples, alone.T, alone.backend)
    for name, events in alone_activity.per_position.items():
        assert np.array_equal(activity.per_position[name], events), name
    for name, events in alone_activity.per_step.items():
        assert np.array_equal(activity.per_step[name], events), name
    assert estimate(graph, activity).totals == estimate(graph, alone_activity).totals
    assert sorted(loads.values()) == [1, 1]  # 8 shards over 2 workers: each loaded the artifact once


def test_float_agreement_on_a_cluster_equals_one_process(client, artifacts):
    graph, float_graph, _ = load_artifact(artifacts["numpy"])
    samples = samples_for(graph, "digits", limit=SAMPLES)
    alone = evaluate(graph, get_backend("numpy"), samples, batch_size=BATCH, reference=float_graph, progress=False)
    sharded, _ = cluster.evaluate_sharded(client, artifacts["numpy"], "digits", limit=SAMPLES, batch_size=BATCH,
                                          compare_float=True, progress=False)
    assert sharded.agreement.keys() == alone.agreement.keys() and alone.agreement
    for name, shares in alone.agreement.items():
        assert sharded.agreement[name] == pytest.approx(shares, rel=1e-12), name


def failing_backend(name: str, failures: int):
    """A function that registers, in the process it runs in, backend ``name``: the NumPy simulator failing its first
    ``failures`` runs in that process."""
    def install():
        from snncompile.backends.base import BACKENDS
        from snncompile.backends.numpy import NumpyBackend

        class Failing(NumpyBackend):
            left = failures

            def run(self, *args, **options):
                if Failing.left > 0:
                    Failing.left -= 1
                    raise RuntimeError(f"injected failure of {name}")
                return super().run(*args, **options)

        Failing.name = name
        BACKENDS[name] = Failing
    return install


def test_a_failed_shard_is_retried_and_reported(client, artifacts, capsys):
    client.run(failing_backend("flaky", failures=1))  # each worker's first shard fails once
    graph, _, _ = load_artifact(artifacts["numpy"])
    samples = samples_for(graph, "digits", limit=SAMPLES)
    alone = evaluate(graph, get_backend("numpy"), samples, batch_size=BATCH, progress=False)
    sharded, _ = cluster.evaluate_sharded(client, artifacts["numpy"], "digits", limit=SAMPLES, backend="flaky",
                                          batch_size=BATCH, progress=False)
    assert sharded.predictions == alone.predictions and sharded.spikes == alone.spikes
    reported = [line for line in capsys.readouterr().err.splitlines() if line.startswith("cluster: ")]
    assert 1 <= len(reported) <= 2 and all("RuntimeError: injected failure of flaky" in line for line in reported)


def test_a_shard_failing_every_attempt_stops_the_run(client, artifacts, capsys):
    client.run(failing_backend("broken", failures=1000))
    with pytest.raises(cluster.ClusterError, match=r"samples \d+-\d+ failed 3 times on the cluster \(RuntimeError: "
                                                   r"injected failure of broken\); nothing was merged"):
        cluster.evaluate_sharded(client, artifacts["numpy"], "digits", limit=SAMPLES, backend="broken",
                                 batch_size=BATCH, progress=False)
    assert "injected failure of broken" in capsys.readouterr().err


def slow_backend_plugin(name: str, seconds: float):
    """A Dask worker plugin registering, on every worker (those that join later too), backend ``name``: the NumPy
    simulator waiting ``seconds`` before each run."""
    from distributed import WorkerPlugin

    class SlowBackend(WorkerPlugin):
        def setup(self, worker):
            from snncompile.backends.base import BACKENDS
            from snncompile.backends.numpy import NumpyBackend

            class Slow(NumpyBackend):
                def run(self, *args, **options):
                    time.sleep(seconds)
                    return super().run(*args, **options)

            Slow.name = name
            BACKENDS[name] = Slow

    return SlowBackend()


def test_a_lost_worker_is_reported_and_its_shards_run_elsewhere(client, artifacts, capsys):
    client.register_plugin(slow_backend_plugin("slow", 0.2), name="slow-backend")
    graph, _, _ = load_artifact(artifacts["numpy"])
    samples = samples_for(graph, "digits", limit=SAMPLES)
    alone = evaluate(graph, get_backend("numpy"), samples, batch_size=BATCH, progress=False)
    pids = client.run(os.getpid)
    with ThreadPoolExecutor(1) as pool:
        running = pool.submit(cluster.evaluate_sharded, client, artifacts["numpy"], "digits", limit=SAMPLES,
                              backend="slow", batch_size=BATCH, progress=False)
        busy = {}
        while not busy and not running.done():
            busy = {worker: keys for worker, keys in client.processing().items() if keys}
            time.sleep(0.01)
        os.kill(pids[next(iter(busy))], signal.SIGKILL)
        sharded, _ = running.result()
    assert sharded.predictions == alone.predictions and sharded.spikes == alone.spikes
    assert f"cluster: worker {next(iter(busy))} was lost while running" in capsys.readouterr().err


def test_energy_on_a_cluster_equals_one_process(client, artifacts, tmp_path, capsys):
    figures = []
    for cluster_options in ([], ["--scheduler", client.scheduler.address]):
        assert main(["energy", str(artifacts["numpy"]), "--limit", "64", "--batch-size", "16",
                     "--plot", str(tmp_path / f"plot{len(figures)}.png"), "--json", *cluster_options]) == 0
        report = json.loads(capsys.readouterr().out.splitlines()[-1])
        figures.append((report["accuracy"], report["samples"], report["totals"], report["layers"]))
    assert figures[0] == figures[1]


def test_scheduler_and_workers_exclude_each_other(artifacts, capsys):
    assert main(["simulate", str(artifacts["numpy"]), "--workers", "2", "--scheduler", "tcp://127.0.0.1:8786"]) == 2
    assert capsys.readouterr().err.startswith("snncompile: error: --scheduler and --workers exclude each other")


def test_a_scheduler_address_where_nothing_listens_is_refused_without_waiting_for_dask(artifacts, capsys):
    """A probe connects first: the refusal is the socket's own ("Connection refused"), not Dask's connect timeout."""
    with socket.socket() as probe:  # a free port, closed again: nothing listens there
        probe.bind(("127.0.0.1", 0))
        address = f"tcp://127.0.0.1:{probe.getsockname()[1]}"
    assert main(["simulate", str(artifacts["numpy"]), "--scheduler", address]) != 0
    error = capsys.readouterr().err
    assert error.startswith(f"snncompile: error: --scheduler {address}: cannot connect") and "refused" in error
    assert "Traceback" not in error
