"""Run a netx network file in Lava with lava-dl's reader (in a worker child, :mod:`.worker`) and realign its spikes
to the IR's steps.

Samples follow each other every ``T`` steps. netx adds one step of latency per block: spikes of IR step ``t`` of
sample ``b`` leave block ``k`` (1 for the first block after the input) at Lava step ``b*T + t + k + 1``; a batch
takes ``B*T + depth`` steps. The last block's membrane at the last step of a sample is the readout's sum shifted left
by the chip's ``current_shift`` (64 times it on Loihi 2).
"""

import json
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from snncompile import ir
from snncompile.chip import Chip
from snncompile.errors import SerializationError, require_count
from snncompile.ir.ops import Input

from ..base import unsupported_error
from ..lava.runtime import DEFAULT_TIMEOUT, describe_progress, recordable, run_worker
from ..lava.worker import READOUT_FILE, SPIKES_FILE
from ..numpy.simulator import input_feeds
from ..result import Result
from .hdf5 import NETWORK_FILE, write
from .layers import CONV, DENSE, layers, unsupported
from .schema import check, read
from .worker import FRAMES_FILE, LOAD_FILE

WORKER = "snncompile.backends.netx.worker"


@dataclass
class Pipeline:
    """What a progress report needs of a netx network: its ``depth`` in blocks and its Lava processes."""

    depth: int

    def process_count(self) -> int:
        """A synapse and a neuron process per block, the ring buffer, the spike recorder and the membrane monitor."""
        return 2 * self.depth + 3


def load_arguments(T: int) -> dict:
    """The keyword arguments, besides ``net_config``, that netx's ``hdf5.Network`` loads our files with: every block
    reset at the start of each sample of ``T`` steps, one step later per block. netx's defaults (no reset) differ:
    state is carried from sample to sample, and each block integrates its bias while the pipeline fills."""
    return {"reset_interval": int(T), "reset_offset": 1}


def run(artifact, inputs, T: int, chip: Chip, *, record=(), timeout: float = DEFAULT_TIMEOUT,
        progress=None) -> Result:
    """Run ``artifact`` (an integer graph, or a directory with the graph and its ``network.net``) compiled for ``chip``
    on spike ``inputs`` (``[T, B, *shape]``) for ``T`` steps per sample; spikes and output as the NumPy simulator
    reports them. ``record`` and ``progress`` as the Lava backend takes them (:func:`..lava.runtime.run_network`)."""
    started = time.perf_counter()
    require_count(T, "T")
    graph = artifact if isinstance(artifact, ir.Graph) else ir.load(artifact)
    problems = unsupported(graph, chip)
    if problems:
        raise unsupported_error("netx", graph, problems)
    names = recordable(graph, record)
    feeds = input_feeds(graph, inputs, T, np.float64)
    described = layers(graph)
    with tempfile.TemporaryDirectory(prefix="snncompile-netx-") as job_dir:
        job_dir = Path(job_dir)
        network = network_file(artifact, graph, job_dir, chip)
        spikes, membrane = run_file(network, next(iter(feeds.values())), T, load_arguments(T), job_dir,
                                    timeout=timeout, progress=progress)
    result = decode(graph, described, feeds, spikes, membrane, T, names, chip)
    result.seconds = time.perf_counter() - started
    return result


def run_file(network: Path, frames: np.ndarray, T: int, load: dict, job_dir: Path, *,
             timeout: float = DEFAULT_TIMEOUT, progress=None) -> tuple:
    """Run the netx file ``network`` loaded as ``hdf5.Network(net_config=network, **load)`` in Lava on spike
    ``frames`` ``[T, B, *shape]``, sample after sample, in ``job_dir``: ``(spikes [steps, neurons], membrane [steps,
    outputs])`` of its ``B*T + depth`` Lava steps (see :func:`decode`)."""
    pipeline = Pipeline(sum(layer["type"] in (CONV, DENSE) for layer in read(network)))
    batch = frames.shape[1]
    steps = batch * T + pipeline.depth
    stream = np.zeros((steps, *frames.shape[2:]), np.int32)
    stream[:batch * T] = np.swapaxes(frames, 0, 1).reshape(batch * T, *frames.shape[2:])
    np.save(job_dir / FRAMES_FILE, stream)
    (job_dir / LOAD_FILE).write_text(json.dumps(load))
    watch = progress and (lambda phase, step: progress(*describe_progress(pipeline, T, batch, steps, phase, step)))
    run_worker(job_dir, network, T, steps, timeout, WORKER, watch=watch)
    return np.load(job_dir / SPIKES_FILE), np.load(job_dir / READOUT_FILE)


def network_file(artifact, graph, job_dir: Path, chip: Chip) -> Path:
    """The artifact's ``network.net`` once it passes the checks of :func:`.schema.check`, or, for a graph (or a
    directory without one), the file written for it into ``job_dir``."""
    path = None if isinstance(artifact, ir.Graph) else Path(artifact) / NETWORK_FILE
    if path is None or not path.is_file():
        return write(graph, job_dir / NETWORK_FILE, chip)
    problems = check(path)
    if problems:
        lines = "\n".join(f"  - {problem}" for problem in problems)
        raise SerializationError(f"{path}: not a network lava-dl netx 0.6 can build (recompile it with `snncompile "
                                 f"compile ... --target netx`):\n{lines}")
    return path


def decode(graph, described: list, feeds: dict, spikes: np.ndarray, membrane: np.ndarray, T: int, record: list,
           chip: Chip) -> Result:
    """The :class:`Result` of a run from the recorded spikes ``[steps, neurons]`` (blocks in order, each in Lava's
    order) and the last block's membrane ``[steps, outputs]``, realigned to IR steps: every node emitting spikes
    (the input's frames, flatten nodes, the populations) and the readout's value at every step."""
    batch = next(iter(feeds.values())).shape[1]
    rows = np.arange(batch)[None, :] * T + np.arange(T)[:, None]   # [T, B] rows of the input frames; block k: + k
    blocks = [layer for layer in described if layer.has_neurons]
    bounds = np.cumsum([0, *(int(np.prod(layer.shape)) for layer in blocks)])
    values = {}
    for k, layer in enumerate(blocks[:-1], start=1):
        lava = spikes[:, bounds[k - 1]:bounds[k]][rows + k].reshape(T, batch, *reversed(layer.shape))
        values[layer.neuron] = np.moveaxis(lava, range(2, lava.ndim), range(lava.ndim - 1, 1, -1)).astype(float)
    readout = graph[graph.outputs[0]]
    totals = membrane.reshape(membrane.shape[0], -1)[rows + len(blocks)] >> chip.current_shift   # [T, B, outputs] sums
    values[readout.name] = np.diff(totals, axis=0, prepend=0).astype(np.float64)
    for node in graph:
        if node.info.is_events and node.name not in values:
            values[node.name] = (feeds[node.name] if isinstance(node.op, Input)
                                 else values[node.inputs[0]].reshape(T, batch, *node.info.shape))
    spike_counts = {node.name: values[node.name].reshape(T, batch, -1).sum(axis=2).astype(np.int64)
                    for node in graph if node.info.is_events}
    output = totals[-1] / T / readout.op.output_scale
    return Result(output, spike_counts, {name: np.array(values[name]) for name in record})
