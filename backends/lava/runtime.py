"""Run a Lava network from the caller's process: host current in, the worker child with a timeout, a Result out.

The host part of the graph (the float encoding layer up to its Quantize nodes) runs here with the NumPy simulator's
own kernels, so its integer current is the one the integer simulator computes. The network runs in a worker child
(:mod:`.worker`) in a session of its own; whatever happens (success, Lava error, timeout, SIGINT, SIGTERM or SIGHUP)
that session is killed afterwards and the job's temporary directory removed, so no Lava process or file outlives a
run. The caller's process never imports Lava.

Samples are pipelined: sample ``b`` enters at Lava step ``b*T``, so a batch takes ``B*T + depth`` steps in one run.
The recorded spikes and the readout's membrane are then realigned: IR step ``t`` of sample ``b`` of a population at
``depth`` is Lava step ``b*T + t + depth + 1``.
"""

import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from snncompile import ir
from snncompile.chip import LOIHI2, Chip
from snncompile.errors import ConfigError, SnnCompileError, require_count
from snncompile.interrupts import signals_interrupt
from snncompile.ir.ops import Add, Input, Readout
from snncompile.ir.structure import host_nodes

from ..base import unsupported_error
from ..numpy.kernels import kernel_for
from ..numpy.simulator import input_feeds
from ..result import Result
from . import network as lava_network
from .support import unsupported
from .tensors import from_lava
from .worker import (BUILDING, ERROR_FILE, JOB_FILE, PROGRESS_FILE, READOUT_FILE, RING_FILE, RUNNING, SPIKES_FILE,
                     STARTING, TIMING_FILE)

DEFAULT_TIMEOUT = 1800.0   # seconds for building and running one batch
GRACE_SECONDS = 30.0       # the worker's own teardown after its timeout, before its session is killed
POLL_SECONDS = 0.25        # how often the worker's progress is read
KILL_WAIT_SECONDS = 10.0   # how long a killed session may take to disappear
WORKER = "snncompile.backends.lava.worker"
# the longest directory whose multiprocessing socket (DIR/pymp-XXXXXXXX/listener-XXXXXXXX) fits a Unix socket path
SOCKET_DIRECTORY_MAX = 107 - len("/pymp-XXXXXXXX/listener-XXXXXXXX")


class LavaRunError(SnnCompileError):
    """Lava failed to run a network (an error inside a Lava process, or a timeout); ``details`` holds Lava's
    tracebacks."""

    def __init__(self, message: str, details: str = ""):
        super().__init__(message)
        self.details = details


@dataclass
class LavaRun:
    """A run's :class:`Result` and where its time went: ``timing`` has ``construct_seconds`` (Lava objects),
    ``compile_seconds`` (Lava's compiler and starting its processes), ``run_seconds``, ``readout_seconds``,
    ``processes`` and ``steps``."""

    result: Result
    timing: dict


def run_network(artifact, inputs, T: int, *, record=(), timeout: float = DEFAULT_TIMEOUT,
                convolutions: str | None = None, progress=None, chip: Chip = LOIHI2) -> LavaRun:
    """Run ``artifact`` (an integer :class:`Graph` or a directory written by the backend's ``emit``) on ``inputs``
    (as :func:`snncompile.backends.numpy.simulate` takes them) for ``T`` steps per sample.

    ``record``: node names whose outputs at every step are returned (spikes and counts, the readout, host nodes), or
    ``"all"`` for every node emitting spikes or counts. ``convolutions``: plan the network anew with this choice
    (:func:`.network.plan`; a graph is planned with ``"auto"`` by default, an artifact runs the plan it holds).
    ``progress``: called while the worker runs with the samples whose readout is complete and what Lava is doing.
    ``chip``: the chip a graph is planned for (an artifact's network names its own)."""
    started = time.perf_counter()
    require_count(T, "T")
    with tempfile.TemporaryDirectory(prefix="snncompile-lava-") as job_dir:
        job_dir = Path(job_dir)
        if isinstance(artifact, ir.Graph):
            graph, network = artifact, None
        else:
            graph, network = lava_network.load(artifact)
            chip = network.chip
        problems = unsupported(graph, chip)
        if problems:
            raise unsupported_error("lava", graph, problems)
        if network is None or convolutions is not None:
            network = lava_network.plan(graph, convolutions or "auto", chip)
            artifact = lava_network.save(graph, network, job_dir / "artifact")
        names = recordable(graph, record)
        feeds = input_feeds(graph, inputs, T, np.float64)
        batch = next(iter(feeds.values())).shape[1]
        host = host_values(graph, feeds, batch)
        steps = batch * T + network.depth
        np.savez(job_dir / RING_FILE, **ring_data(graph, network, host, feeds, T, steps))
        watch = progress and (lambda phase, step: progress(*describe_progress(network, T, batch, steps, phase, step)))
        run_worker(job_dir, artifact, T, steps, timeout, watch=watch)
        spikes = np.load(job_dir / SPIKES_FILE)
        membranes = np.load(job_dir / READOUT_FILE)
        timing = {**json.loads((job_dir / TIMING_FILE).read_text()), "steps": steps}
    result = decode(graph, network, host, feeds, spikes, membranes, T, names)
    result.seconds = time.perf_counter() - started
    return LavaRun(result, timing)


def recordable(graph, record) -> list:
    """The node names ``record`` asks for, each one Lava can report."""
    if record == "all":
        return [node.name for node in graph if node.info.is_events]
    names = [record] if isinstance(record, str) else list(record)
    host = set(host_nodes(graph))
    unknown = [name for name in names if name not in graph]
    if unknown:
        raise ConfigError(f"cannot record {', '.join(map(repr, unknown))}: no such node in graph {graph.name!r}")
    hidden = [name for name in names
              if not (graph[name].info.is_events or isinstance(graph[name].op, Readout) or name in host)]
    if hidden:
        raise ConfigError(f"cannot record {', '.join(map(repr, hidden))} on Lava: synaptic currents stay inside the "
                          f"chip (record spikes, counts, the readout or host nodes)")
    return names


def host_values(graph, feeds: dict, batch: int) -> dict:
    """Every host node's value at every step, ``[T, B, *shape]``, computed by the NumPy simulator's kernels."""
    values, steps = dict(feeds), len(next(iter(feeds.values())))
    for name in host_nodes(graph):
        if name not in feeds:
            node = graph[name]
            kernel = kernel_for(node, tuple(graph[i].info for i in node.inputs), batch, "dense", np.float64)
            values[name] = np.stack([kernel([values[i][t] for i in node.inputs]) for t in range(steps)])
    return values


def ring_data(graph, network, host: dict, feeds: dict, T: int, steps: int) -> dict:
    """``[steps, n]`` int32 rows in Lava order for each population fed by a ring buffer: its host current, or the
    frames of a spike Input, placed at the Lava steps of its depth."""
    data = {}
    for population in network.populations.values():
        if population.is_spike_input:
            per_step = feeds[population.members[0]]
        elif population.host_current:
            per_step = sum(count * host[name] for name, count in population.host_current.items())
        else:
            continue
        batch = per_step.shape[1]
        stacked = np.concatenate([per_step.reshape(T, batch, -1)] * population.levels, axis=2)
        if np.abs(stacked).max(initial=0) > np.iinfo(np.int32).max:
            raise ConfigError(f"population {population.name!r}: host current beyond 32 bits; are the inputs in the "
                              f"range the graph was quantized for?")
        rows = np.zeros((steps, population.size), np.int32)
        rows[_rows(population.depth, T, batch).T] = stacked[..., population.lava_order()]
        data[population.name] = rows
    return data


def describe_progress(network, T: int, batch: int, steps: int, phase: int, step: int) -> tuple:
    """``(samples done, what Lava is doing)`` from the worker's ``phase`` and the Lava ``step`` its recorder has done:
    sample ``b``'s readout is complete after step ``b*T + T + depth``."""
    if phase == BUILDING:
        return 0, "building the Lava processes"
    if phase == STARTING:
        return 0, f"starting {network.process_count()} Lava processes"
    assert phase == RUNNING, phase
    return min(max((step - network.depth) // T, 0), batch), f"Lava step {step}/{steps}"


def run_worker(job_dir: Path, artifact, T: int, steps: int, timeout: float, module: str = WORKER,
               watch=None) -> None:
    """Run the worker ``module`` on the network file or directory ``artifact`` for ``steps`` Lava steps of samples of
    ``T`` steps, in a new session, with the inputs the caller has put into ``job_dir``; kill the session when it is
    done (or after ``timeout`` plus grace). ``watch(phase, step)`` is called with the worker's progress
    (:data:`PROGRESS_FILE`) a few times a second. Raises :class:`LavaRunError` with the worker's report when it
    failed."""
    environment = {**os.environ, "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
    if len(str(job_dir.resolve())) <= SOCKET_DIRECTORY_MAX:
        # the temporary files of the worker and of Lava's processes (multiprocessing's pymp-* directory, which a
        # killed session never removes) go into the job's directory, removed with it
        environment["TMPDIR"] = str(job_dir.resolve())
    deadline = time.monotonic() + timeout + GRACE_SECONDS
    job = {"artifact": str(Path(artifact).resolve()), "T": int(T), "steps": int(steps), "timeout": float(timeout),
           "caller": os.getpid()}
    (job_dir / JOB_FILE).write_text(json.dumps(job))
    np.lib.format.open_memmap(job_dir / PROGRESS_FILE, mode="w+", dtype=np.int64, shape=(2,)).flush()
    # SIGTERM or SIGHUP would end this process without its clean-up: as exceptions they reach the `finally`
    with open(job_dir / "worker.log", "wb") as log, signals_interrupt(only_defaults=True):
        worker = subprocess.Popen([sys.executable, "-m", module, str(job_dir)], stdout=log, stderr=subprocess.STDOUT,
                                  start_new_session=True, env=environment)
        try:
            while time.monotonic() < deadline:
                if watch:
                    watch(*np.load(job_dir / PROGRESS_FILE).tolist())
                try:
                    worker.wait(POLL_SECONDS)
                    break
                except subprocess.TimeoutExpired:
                    pass
        finally:
            kill_session(worker.pid)
            worker.wait()
    error = job_dir / ERROR_FILE
    if error.is_file():
        report = json.loads(error.read_text())
        raise LavaRunError(f"Lava run failed: {report['message']}", report["details"])
    if worker.returncode != 0:
        log_tail = (job_dir / "worker.log").read_text(errors="replace")[-2000:]
        raise LavaRunError(f"Lava worker ended with status {worker.returncode} and no report (timeout {timeout:g} s "
                           f"passed?)", log_tail)


def kill_session(session: int, wait: float = KILL_WAIT_SECONDS) -> None:
    """SIGKILL every process left in the worker's session (Lava's processes, its shared-memory server) and wait (up
    to ``wait`` seconds) until none is left running: a signal is delivered asynchronously, and a run must not return
    while its processes still exist."""
    try:
        os.killpg(session, signal.SIGKILL)
    except ProcessLookupError:
        return
    deadline = time.monotonic() + wait
    while session_members(session) and time.monotonic() < deadline:
        time.sleep(0.01)


def session_members(session: int) -> list:
    """PIDs of the live (not yet dead or zombie) processes of the session ``session`` (Linux ``/proc``)."""
    members = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:  # it ended while we looked
            continue
        # fields after the command name (which may hold spaces and parentheses): state ppid pgrp session ...
        state, _, _, member_of = stat[stat.rindex(")") + 2:].split()[:4]
        if int(member_of) == session and state not in "ZX":
            members.append(int(entry.name))
    return members


def decode(graph, network, host: dict, feeds: dict, spikes: np.ndarray, membranes: np.ndarray, T: int,
           record: list) -> Result:
    """The :class:`Result` of a run from the recorded spikes ``[steps, neurons]`` and readout membranes ``[steps,
    outputs]``, realigned to IR steps."""
    batch = next(iter(feeds.values())).shape[1]
    values, offset = {}, 0
    for population in network.lif_populations():
        columns = spikes[:, offset:offset + population.size]
        offset += population.size
        per_level = from_lava(population, columns[_rows(population.depth, T, batch).T])  # [T, B, K, *shape]
        for level, member in enumerate(population.members):
            values[member] = per_level[:, :, level].astype(np.float64)
    readout = network.readout
    totals = membranes[_rows(readout.depth, T, batch).T] >> network.chip.current_shift   # [T, B, outputs] running sums
    values[readout.name] = np.diff(totals, axis=0, prepend=0).astype(np.float64)
    for node in graph:
        if node.info.is_events and node.name not in values:
            inputs = [values[i] for i in node.inputs]
            values[node.name] = (feeds[node.name] if isinstance(node.op, Input) else sum(inputs)
                                 if isinstance(node.op, Add) else inputs[0].reshape(T, batch, -1))
    spike_counts = {node.name: values[node.name].reshape(T, batch, -1).sum(axis=2).astype(np.int64)
                    for node in graph if node.info.is_events}
    recorded = {name: np.array(values[name] if name in values else host[name]) for name in record}
    output = totals[-1] / T / graph[readout.name].op.output_scale
    return Result(output, spike_counts, recorded)


def _rows(depth: int, T: int, batch: int) -> np.ndarray:
    """The Lava step rows (from 0) of every (sample, IR step) of a population at ``depth``: ``[B, T]``."""
    return np.arange(batch)[:, None] * T + np.arange(T)[None, :] + depth
