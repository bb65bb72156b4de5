"""The child process that runs one netx network in Lava: ``python -m snncompile.backends.netx.worker JOB_DIR``.

The Lava backend's worker (:mod:`..lava.worker`) does the watching and tearing down; this job builds the network from
``network.net`` (:mod:`.loader`) fed the spike frames of ``frames.npy`` and writes ``spikes.npz`` (every layer's
spikes, ``[steps, *Lava shape]``) and ``membrane.npy`` (the last layer's ``v``).
"""

import json
import os
import sys
import time

import numpy as np

from ..lava.worker import TIMING_FILE, LavaJob, main

FRAMES_FILE, SPIKES_FILE, MEMBRANE_FILE = "frames.npy", "spikes.npz", "membrane.npy"


class NetxJob(LavaJob):
    """A :class:`LavaJob` whose network comes from a netx file."""

    def __init__(self, job_dir, job: dict):
        from .loader import build  # imports Lava: after compat.install()

        self.prepare(job_dir, job)
        started = time.perf_counter()
        self.built = build(job["artifact"], np.load(job_dir / FRAMES_FILE), job["T"], self.steps)
        self.timing = {"construct_seconds": time.perf_counter() - started}

    def finish(self):
        spikes = {f"layer{index}": next(iter(monitor.get_data().values()))["s_out"]
                  for index, monitor in enumerate(self.built.spikes)}
        membrane = next(iter(self.built.membrane.get_data().values()))["v"]
        self.built.recorder.stop()
        np.savez(self.job_dir / SPIKES_FILE, **spikes)
        np.save(self.job_dir / MEMBRANE_FILE, np.asarray(membrane, np.int64))
        (self.job_dir / TIMING_FILE).write_text(json.dumps(self.timing))


if __name__ == "__main__":
    status = main(sys.argv[1], NetxJob)
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(status)
