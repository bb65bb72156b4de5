"""The child process that runs one netx network file in Lava with lava-dl's own reader:
``python -m snncompile.backends.netx.worker JOB_DIR``.

The network is ``lava.lib.dl.netx.hdf5.Network(net_config=FILE, **LOAD)``, ``LOAD`` the keyword arguments in
``load.json`` (the netx backend's: :func:`.runtime.load_arguments`). A ring buffer feeds the spike frames of
``frames.npy`` to the network's input; the Lava backend's recorder (:class:`..lava.recorder.SpikeRecorder`) writes
every block's spikes and a monitor reads the last block's membrane ``v``, which the Lava backend's job
(:class:`..lava.worker.LavaJob`) saves as it saves a readout's. That job also does the watching and tearing down.
"""

import json
import os
import sys
import time
from dataclasses import dataclass

import numpy as np

from ..lava.worker import PROGRESS_FILE, SPIKES_FILE, LavaJob, main

FRAMES_FILE = "frames.npy"   # int32 [steps, *input shape]: the spike frames of every Lava step, in PyTorch order
LOAD_FILE = "load.json"      # the keyword arguments of netx's hdf5.Network besides net_config


@dataclass
class NetxNetwork:
    """The processes a :class:`LavaJob` runs: ``recorder`` writes every block's spikes (and reaches every process),
    ``monitor`` probes the membrane of ``readout``, the last block's neurons."""

    recorder: object
    monitor: object
    readout: object
    run_cfg: object


class NetxJob(LavaJob):
    """A :class:`LavaJob` whose network is the one lava-dl netx builds from a network file."""

    def __init__(self, job_dir, job: dict):
        self.prepare(job_dir, job)
        started = time.perf_counter()
        load = json.loads((job_dir / LOAD_FILE).read_text())
        self.built = build(job["artifact"], load, np.load(job_dir / FRAMES_FILE), self.steps, job_dir / SPIKES_FILE,
                           job_dir / PROGRESS_FILE)
        self.timing = {"construct_seconds": time.perf_counter() - started}


def build(path, load: dict, frames: np.ndarray, steps: int, spikes_path, progress_path) -> NetxNetwork:
    """netx's network ``hdf5.Network(net_config=path, **load)`` fed ``frames`` (``[steps, *input shape]``); every
    block's spikes go to a new int8 ``[steps, neurons]`` file at ``spikes_path`` (blocks in order, each flattened in
    Lava's ``(x, y, z)`` order), the steps done to the progress file at ``progress_path``. Imports Lava and lava-dl:
    call after :func:`..lava.compat.install`."""
    from lava.lib.dl.netx.hdf5 import Network
    from lava.magma.core.run_configs import Loihi2SimCfg
    from lava.proc.io.source import RingBuffer
    from lava.proc.monitor.process import Monitor

    from ..lava.recorder import SpikeRecorder, recorder_model

    network = Network(net_config=str(path), **load)
    RingBuffer(data=ring_data(frames, network.inp.shape)).s_out.connect(network.inp)
    neurons = [block.neuron for block in network.layers]
    width = sum(int(np.prod(n.s_out.shape)) for n in neurons)
    np.lib.format.open_memmap(spikes_path, mode="w+", dtype=np.int8, shape=(steps, width)).flush()
    recorder = SpikeRecorder(shapes=[n.s_out.shape for n in neurons], path=spikes_path, progress=progress_path)
    for index, population in enumerate(neurons):
        population.s_out.connect(getattr(recorder, f"in_{index}"))
    monitor = Monitor()
    monitor.probe(neurons[-1].v, steps)
    run_cfg = Loihi2SimCfg(select_tag="fixed_pt", exception_proc_model_map={recorder: recorder_model(recorder)})
    return NetxNetwork(recorder, monitor, neurons[-1], run_cfg)


def ring_data(frames: np.ndarray, port_shape: tuple) -> np.ndarray:
    """Frames ``[steps, C, H, W]`` (or ``[steps, N]``) in PyTorch order as a ring buffer's data ``[*port_shape,
    steps]`` for netx's input port: ``(x, y, z) = (W, H, C)``, or flattened in PyTorch's order when the first block is
    a dense layer behind a flatten (its weights read that order)."""
    if len(port_shape) == 1:
        per_step = frames.reshape(len(frames), -1)
    else:
        per_step = frames.transpose(0, *range(frames.ndim - 1, 0, -1))
    return np.ascontiguousarray(np.moveaxis(per_step, 0, -1), dtype=np.int32)


if __name__ == "__main__":
    status = main(sys.argv[1], NetxJob)
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(status)
