"""The child process that runs one Lava network: ``python -m snncompile.backends.lava.worker JOB_DIR``.

It imports Lava (through :mod:`.compat`), builds the network (:mod:`.build`), runs it and writes the results into the
job directory: ``progress.npy`` (the phase, and the steps the recorder has seen), ``spikes.npy`` (written by the
recorder while it runs), ``readout.npy`` (the readout's membrane at every
step) and ``timing.json``; or ``error.json`` (``message``, ``details``) and a non-zero exit status.

Lava hangs after an exception inside one of its processes (the runtime waits for them forever, and so does ``stop()``),
so Lava runs in a thread while the main thread watches its OS processes: when one of them has failed, or the deadline
passes, the main thread kills them all, shuts down their shared memory and reports Lava's own traceback. The parent
(:mod:`.runtime`) runs this worker in a session of its own and kills that session when the worker is done; if the
parent dies first, the worker cleans up after itself (:func:`main`).
"""

import json
import os
import shutil
import signal
import sys
import threading
import time
import traceback
from pathlib import Path

import numpy as np

from . import compat
from .network import load

JOB_FILE, RING_FILE = "job.json", "ring.npz"
SPIKES_FILE, READOUT_FILE, TIMING_FILE, ERROR_FILE = "spikes.npy", "readout.npy", "timing.json", "error.json"
PROGRESS_FILE = "progress.npy"  # int64 [phase, Lava steps done], written while the job runs, read by the parent
BUILDING, STARTING, RUNNING = range(3)
POLL_SECONDS = 0.05


class LavaFailure(Exception):
    """Lava failed inside one of its processes, or did not finish in time; ``details`` holds Lava's tracebacks."""

    def __init__(self, message: str, details: str = ""):
        super().__init__(message)
        self.details = details


def main(job_dir, job_class=None) -> int:
    """Run the job in ``job_dir`` with ``job_class`` (default :class:`LavaJob`); 0 on success, 1 with ``error.json``.
    If the caller dies (even by SIGKILL, which leaves it no clean-up), the job stops at its next look and tears Lava
    down; then nobody is left to read the results, remove ``job_dir`` or kill this worker's session, so it does all
    three itself."""
    job_dir = Path(job_dir)
    job = json.loads((job_dir / JOB_FILE).read_text())
    parent = job["caller"]  # the PID of the process that started this worker (it may be gone already)
    deadline = time.monotonic() + job["timeout"]
    runner, status = None, 1
    try:
        compat.install()
        runner = (job_class or LavaJob)(job_dir, job)
        runner.start()
        runner.watch(deadline, parent)
        runner.finish()
        status = 0
    except BaseException as error:  # noqa: BLE001 (everything becomes error.json; the parent raises it)
        details = getattr(error, "details", "") or traceback.format_exc()
        if runner is not None:
            try:
                runner.tear_down()
            except Exception:  # noqa: BLE001 (a runtime that never fully started; the report must still be written)
                details += "\nwhile tearing the runtime down:\n" + traceback.format_exc()
        message = str(error) if isinstance(error, LavaFailure) else f"{type(error).__name__}: {error}"
        (job_dir / ERROR_FILE).write_text(json.dumps({"message": message, "details": details}))
    if os.getppid() != parent:
        shutil.rmtree(job_dir, ignore_errors=True)
        if os.getpgrp() == os.getpid():  # the leader of its own group, as the runtime starts it
            os.killpg(os.getpgrp(), signal.SIGKILL)  # what is left of it (Lava's servers), this worker last
    return status


class LavaJob:
    """One network, built and started in a thread (``start``), watched (``watch``), read out (``finish``)."""

    def __init__(self, job_dir: Path, job: dict):
        from .build import build  # imports Lava: after compat.install()

        self.prepare(job_dir, job)
        graph, network = load(job["artifact"])
        with np.load(job_dir / RING_FILE) as ring:
            ring_data = {name: ring[name] for name in ring.files}
        width = sum(p.size for p in network.lif_populations())
        np.lib.format.open_memmap(job_dir / SPIKES_FILE, mode="w+", dtype=np.int8, shape=(self.steps, width)).flush()
        started = time.perf_counter()
        self.built = build(graph, network, job["T"], self.steps, ring_data, job_dir / SPIKES_FILE,
                           job_dir / PROGRESS_FILE)
        self.timing = {"construct_seconds": time.perf_counter() - started, "processes": network.process_count()}

    def prepare(self, job_dir: Path, job: dict):
        """What every job holds before its network is built: the job, its progress file, the thread to run it."""
        self.job_dir, self.steps = job_dir, job["steps"]
        self.progress = np.load(job_dir / PROGRESS_FILE, mmap_mode="r+")
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.error = None

    def _run(self):
        from lava.magma.core.run_conditions import RunSteps  # noqa: E402 (Lava only after compat.install())

        try:
            self.progress[0] = STARTING
            started = time.perf_counter()
            self.built.recorder.create_runtime(run_cfg=self.built.run_cfg)
            self.timing["compile_seconds"] = time.perf_counter() - started
            self.progress[0] = RUNNING
            started = time.perf_counter()
            self.built.recorder.run(condition=RunSteps(num_steps=self.steps), run_cfg=self.built.run_cfg)
            self.timing["run_seconds"] = time.perf_counter() - started
        except BaseException as error:  # noqa: BLE001 (handed to the main thread)
            self.error = error

    def start(self):
        self.thread.start()

    def watch(self, deadline: float, parent: int):
        """Wait for the run; raise :class:`LavaFailure` as soon as a Lava process has failed, at the deadline, or when
        the process ``parent`` (the caller) is gone (this worker then has another parent)."""
        while self.thread.is_alive():
            self.thread.join(POLL_SECONDS)
            if os.getppid() != parent:
                raise LavaFailure("the caller of this Lava run has gone")
            failures = [f for f in map(_failure, self._actors()) if f]
            if failures:
                raise LavaFailure(f"a Lava process failed: {exception_line(failures[0])}", "\n".join(failures))
            if time.monotonic() > deadline:
                raise LavaFailure(f"Lava did not finish {self.steps} steps before the timeout")
        if self.error is not None:
            raise self.error

    def finish(self):
        """Read the readout's membranes, stop Lava normally, write the results."""
        started = time.perf_counter()
        membranes = self.built.monitor.get_data()[self.built.readout.name]["v"]
        self.built.recorder.stop()
        self.timing["readout_seconds"] = time.perf_counter() - started
        np.save(self.job_dir / READOUT_FILE, np.asarray(membranes, np.int64))
        (self.job_dir / TIMING_FILE).write_text(json.dumps(self.timing))

    def tear_down(self):
        """Kill every Lava process and release the shared memory of their channels (``stop()`` would hang)."""
        for actor in self._actors():
            try:
                actor.kill()
            except ValueError:  # already joined and closed by Lava
                pass
        infrastructure = self._infrastructure()
        if infrastructure is not None and infrastructure.smm is not None:
            infrastructure.smm.shutdown()

    def _infrastructure(self):
        """The runtime's message infrastructure: its OS processes and shared memory (lava 0.10 keeps it behind a
        private attribute, with no public accessor); ``None`` before the runtime exists."""
        return getattr(self.built.recorder.runtime, "_messaging_infrastructure", None)

    def _actors(self) -> list:
        infrastructure = self._infrastructure()
        return list(infrastructure.actors) if infrastructure is not None else []


def exception_line(report: str, limit: int = 300) -> str:
    """The ``Type: message`` line of a traceback (the first unindented line after its last frame), shortened."""
    lines = report.rstrip().splitlines()
    frames = [index for index, line in enumerate(lines) if line.startswith("  File ")]
    after = lines[frames[-1] + 1:] if frames else lines
    line = next((line for line in after if line and not line[0].isspace()), lines[-1] if lines else "")
    return line if len(line) <= limit else line[:limit] + " ..."


def _failure(actor) -> str:
    """Lava's traceback if ``actor`` (a Lava ``SystemProcess``) raised, a line if it died, else ``""``."""
    error = actor.exception
    if error:
        return error[1]
    try:
        code = actor.exitcode
    except ValueError:  # closed: Lava joined it
        return ""
    return f"a Lava process exited with status {code}" if code not in (None, 0) else ""


if __name__ == "__main__":
    status = main(sys.argv[1])
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(status)  # Lava's channel threads would keep a failed run's interpreter alive
