"""Run a netx network file in Lava (in a worker child, :mod:`.worker`) and realign its spikes to the IR's steps.

Samples follow each other every ``T`` steps. netx adds one step of latency per layer: spikes of IR step ``t`` of sample
``b`` leave layer ``k`` (1 for the first layer after the input) at Lava step ``b*T + t + k + 1``; a batch takes
``B*T + depth`` steps. The last layer's membrane at the last step of a sample is the readout's sum shifted left by
the chip's ``current_shift`` (64 times it on Loihi 2).
"""

import tempfile
from pathlib import Path

import numpy as np

from snncompile import ir
from snncompile.chip import Chip
from snncompile.errors import require_count

from ..base import unsupported_error
from ..lava.runtime import run_worker
from ..numpy.simulator import input_feeds
from ..result import Result
from .hdf5 import NETWORK_FILE, write
from .layers import layers, unsupported
from .worker import FRAMES_FILE, MEMBRANE_FILE, SPIKES_FILE

WORKER = "snncompile.backends.netx.worker"


def run(artifact, inputs, T: int, chip: Chip, *, timeout: float = 600.0) -> Result:
    """Run ``artifact`` (an integer graph, or a directory with the graph and its ``network.net``) compiled for ``chip``
    on spike ``inputs`` (``[T, B, *shape]``) for ``T`` steps per sample; spikes and output as the NumPy simulator
    reports them."""
    require_count(T, "T")
    with tempfile.TemporaryDirectory(prefix="snncompile-netx-") as job_dir:
        job_dir = Path(job_dir)
        graph = artifact if isinstance(artifact, ir.Graph) else ir.load(artifact)
        problems = unsupported(graph, chip)
        if problems:
            raise unsupported_error("netx", graph, problems)
        network = write(graph, job_dir / NETWORK_FILE, chip) if isinstance(artifact, ir.Graph) else (
            Path(artifact) / NETWORK_FILE)
        described = layers(graph)
        depth = sum(layer.has_neurons for layer in described)
        frames = next(iter(input_feeds(graph, inputs, T, np.float64).values()))   # [T, B, *shape]
        batch = frames.shape[1]
        steps = batch * T + depth
        stream = np.zeros((steps, *frames.shape[2:]), np.int32)
        stream[:batch * T] = np.swapaxes(frames, 0, 1).reshape(batch * T, *frames.shape[2:])
        np.save(job_dir / FRAMES_FILE, stream)
        run_worker(job_dir, network, T, steps, timeout, WORKER)
        with np.load(job_dir / SPIKES_FILE) as recorded:
            spikes = [recorded[f"layer{i}"] for i in range(depth)]
        membrane = np.load(job_dir / MEMBRANE_FILE)
    return decode(graph, described, spikes, membrane, T, batch, chip)


def decode(graph, described: list, spikes: list, membrane: np.ndarray, T: int, batch: int, chip: Chip) -> Result:
    """Every layer's spikes at IR steps ``[T, B, *IR shape]`` and the readout's value, from Lava's records."""
    steps = np.arange(batch)[None, :] * T + np.arange(T)[:, None]                  # [T, B] first-layer rows, less k
    recorded = {}
    neurons = [layer for layer in described if layer.has_neurons]
    for k, (layer, record) in enumerate(zip(neurons, spikes), start=1):
        if not layer.is_readout:
            lava = record.reshape(record.shape[0], *reversed(layer.shape))[steps + k]  # [T, B, x, y, z]
            recorded[layer.neuron] = np.moveaxis(lava, range(2, lava.ndim), range(lava.ndim - 1, 1, -1)).astype(float)
    readout = graph[graph.outputs[0]].op
    last = np.arange(batch) * T + T - 1 + len(neurons)
    output = (membrane.reshape(membrane.shape[0], -1)[last] >> chip.current_shift) / T / readout.output_scale
    counts = {name: values.reshape(T, batch, -1).sum(axis=2).astype(np.int64) for name, values in recorded.items()}
    return Result(output, counts, recorded)
