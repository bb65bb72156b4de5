"""The event-driven NumPy simulator: runs an IR graph for ``T`` timesteps in floating point.

Within a timestep every node runs once, in graph order, so a signal crosses any number of layers in the same step, as
in the PyTorch models (DESIGN §2). The graph has no recurrent edge: a node's output at step ``t`` depends only on its
inputs at step ``t`` and its own state. So the loop runs one node at a time over all ``T`` steps, which computes the
same values as stepping the whole graph ``T`` times, with a synapse's ``T`` steps in one call (a convolution on
``T * B`` samples) and a population's in one pass (each neuron's state stays in cache). Kernels (:mod:`.kernels`) do
the arithmetic; this loop only wires them together, counts the events each node emits at each step, keeps the outputs
asked for and drops every other output once its last reader has run. A node that holds no state and reads only
inputs fed identically at every step (a direct-encoded image and the host layers on it) is computed once.
"""

import time
from collections.abc import Mapping
from contextlib import contextmanager
from concurrent.futures import ThreadPoolExecutor
from functools import partial

import numpy as np
from threadpoolctl import threadpool_limits

from snncompile.errors import ConfigError, GraphError, require_count
from snncompile.ir.ops import Add, Flatten, Input
from snncompile.ir.ops.base import NEURON

from ..base import ops_without_support, unsupported_error
from ..result import Result
from .event_kernels import run_serially, sample_sums
from .kernels import MODES, SUPPORTED, SynapseKernel, kernel_for


def unsupported(graph) -> list:
    """One line per node of ``graph`` the simulator cannot run, naming the node and why."""
    return ops_without_support(graph, SUPPORTED, "the NumPy simulator has no kernel")


CHUNK_BYTES = 1 << 30  # the activations one chunk of a batch may hold (run_in_chunks)
LIVE_OUTPUTS = 4       # outputs of a graph alive at once, at most, in the zoo's residual blocks


def simulate(graph, inputs, T: int, *, record=(), mode: str = "auto", dtype=None, workers=None) -> Result:
    """Run ``graph`` on ``inputs`` for ``T`` timesteps.

    ``inputs``: the array of the graph's single Input node, or a dict of arrays by Input node name: ``[B, *shape]`` for
    ``encoding="direct"`` (fed at every step), ``[T, B, *shape]`` for ``encoding="frames"`` (step ``t`` gets ``[t]``).
    ``record``: node names whose outputs at every step are kept, or ``"all"`` for every node emitting spikes or counts.
    ``mode``: ``"auto"`` picks the event or dense path of each synaptic node at each step, whichever :mod:`.cost`
    predicts faster for the step's active inputs (a silent input always takes the event path, which only writes the
    bias); ``"event"`` and ``"dense"`` force one (analog inputs always take the dense path). ``dtype``: the
    floating-point type of every computation; ``None`` is float64, except that an integer graph
    (``graph.metadata["integer"]``, the quantizer's output) then runs in its fastest exact arithmetic: synaptic sums
    over spikes and counts in float32 and the chip's neuron arithmetic in one compiled pass over all steps, with the same
    results bit for bit (see :func:`.kernels.kernel_for`). Every op is prepared once (:mod:`.prepare`) and reused by
    every later simulation of the graph. Pass
    ``dtype=np.float64`` for the reference arithmetic (:func:`snncompile.integer.cuba_step` on int64 state).
    ``workers``: threads that each simulate a slice of the batch with single-threaded kernels (samples are
    independent; the kernels release the GIL); default: one slice, whose compiled kernels, BLAS products and PyTorch
    convolutions use every core at any batch size. A slice larger than its memory allows runs in consecutive chunks
    (:func:`run_in_chunks`).

    The result's ``output`` is the graph's first output averaged over the ``T`` steps: for a Readout, its value.
    """
    start = time.perf_counter()
    problems = unsupported(graph)
    if problems:
        raise unsupported_error("numpy", graph, problems)
    exact = dtype is None and graph.metadata.get("integer") is True
    dtype = np.float64 if dtype is None else dtype
    check_options(graph, T, mode, dtype)
    feeds = input_feeds(graph, inputs, T, dtype)
    names = recorded_names(graph, record)
    batch = next(iter(feeds.values())).shape[1]
    slices = batch_slices(batch, workers)
    run = partial(run_in_chunks, graph, T=T, record=names, mode=mode, dtype=dtype, exact=exact)
    if len(slices) == 1:
        result = run(feeds)
    else:  # one BLAS thread and serial kernels per slice: the slices keep the cores busy
        with ThreadPoolExecutor(len(slices), initializer=run_serially) as pool, threadpool_limits(1, user_api="blas"), \
                one_torch_thread():
            result = merge(list(pool.map(run, [samples_of(feeds, part) for part in slices])))
    result.seconds = time.perf_counter() - start
    return result


def on_one_core() -> None:
    """Make the calling thread simulate on one core: the serial compiled kernels, PyTorch on one thread (for the
    process: a Dask worker of one thread, whose machine runs other workers beside it)."""
    import torch

    run_serially()
    torch.set_num_threads(1)


@contextmanager
def one_torch_thread():
    """PyTorch's convolutions on one thread while the slices of a batch run in threads of their own (PyTorch's thread
    count is global; every thread started meanwhile takes it)."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(threads)


def batch_slices(batch: int, workers) -> list:
    """The batch cut into ``workers`` (default: 1) near-equal slices (at most one per sample)."""
    if workers is not None and (isinstance(workers, bool) or not isinstance(workers, int) or workers < 1):
        raise ConfigError(f"workers must be a positive number of threads, got {workers!r}")
    count = workers or 1
    bounds = np.linspace(0, batch, min(count, batch) + 1).astype(int)
    return [slice(a, b) for a, b in zip(bounds[:-1], bounds[1:])]


def samples_of(feeds: dict, part: slice) -> dict:
    """The ``part`` of the batch of every input's feed ``[T, B, *shape]``."""
    return {name: feed[:, part] for name, feed in feeds.items()}


def run_in_chunks(graph, feeds: dict, *, T: int, **options) -> Result:
    """:func:`run_slice` on ``feeds`` cut into consecutive chunks of as many samples as :data:`CHUNK_BYTES` of
    activations allow, one after the other: a node's output holds all T steps, so memory grows with T times the
    batch (a 224x224 network holds about 50 MB per sample at T = 4)."""
    batch = next(iter(feeds.values())).shape[1]
    chunks = batch_slices(batch, -(-batch // chunk_samples(graph, T)))
    if len(chunks) == 1:
        return run_slice(graph, feeds, T=T, **options)
    return merge([run_slice(graph, samples_of(feeds, part), T=T, **options) for part in chunks])


def chunk_samples(graph, T: int) -> int:
    """How many samples one chunk may hold: :data:`CHUNK_BYTES` over a sample's share, taken as ``LIVE_OUTPUTS``
    outputs of the graph's largest node at every step, in float64."""
    largest = max(node.info.size for node in graph)
    return max(1, CHUNK_BYTES // (LIVE_OUTPUTS * largest * T * 8))


def run_slice(graph, feeds: dict, *, T: int, record: list, mode: str, dtype, exact: bool) -> Result:
    """Simulate ``graph`` on ``feeds`` (``[T, B, *shape]`` per Input node) with fresh kernels, one node at a time over
    all ``T`` steps (see the module's docstring)."""
    batch = next(iter(feeds.values())).shape[1]
    constant = constant_nodes(graph)
    kernels = {node.name: kernel_for(node, tuple(graph[i].info for i in node.inputs), batch, mode, dtype, exact,
                                     steps=1 if node.name in constant else T)
               for node in graph if node.name not in feeds}
    keep = {*record, graph.outputs[0]}
    last_use = {name: index for index, node in enumerate(graph) for name in node.inputs}
    values, spike_counts = {}, {}
    for index, node in enumerate(graph):
        name = node.name
        if name in feeds:
            values[name] = feeds[name]
        elif name in constant:  # its inputs are the same at every step: computed once
            value = kernels[name]([values[i][0] for i in node.inputs])
            values[name] = np.broadcast_to(value, (T, *value.shape))
        else:
            values[name] = node_steps(node, kernels[name], [values[i] for i in node.inputs], spike_counts, T, batch)
        if node.info.is_events:
            spike_counts[name] = node_events(node, kernels.get(name), values[name], spike_counts)
        for i in node.inputs:
            if last_use[i] == index and i not in keep:
                del values[i]
    paths = {name: kernel.paths for name, kernel in kernels.items()
             if isinstance(kernel, SynapseKernel) and name not in constant}
    output_name = graph.outputs[0]
    output_sum = np.zeros((batch, *graph[output_name].info.shape), dtype)
    for output in values[output_name]:
        output_sum += output
    output_scale = getattr(graph[output_name].op, "output_scale", 1.0)
    recorded = {name: np.array(values[name], dtype) for name in record}
    return Result(output_sum / T / output_scale, spike_counts, recorded, paths)


def node_steps(node, kernel, inputs: list, spike_counts: dict, T: int, batch: int) -> np.ndarray:
    """``node``'s output at every step, ``[T, B, *shape]``, from its inputs at every step: a population steps through
    them; any other node has no state and computes all ``T * B`` samples in one call (a synapse reading events is
    given the events its input emitted at each step)."""
    if node.op.role == NEURON:
        return kernel(inputs)
    flat = [x.reshape(T * batch, *x.shape[2:]) for x in inputs]
    if isinstance(kernel, SynapseKernel) and kernel.events:
        out = kernel(flat, spike_counts[node.inputs[0]])
    else:
        out = kernel(flat)
    return out.reshape(T, batch, *out.shape[1:])


def node_events(node, kernel, value: np.ndarray, spike_counts: dict) -> np.ndarray:
    """The events each sample of ``node`` emitted at each step, ``[T, B]`` (``value``: its output at every step):
    counted by its kernel, the sum of its inputs' events (an Add of events), its input's (a Flatten), or else summed
    here."""
    if hasattr(kernel, "emitted"):
        return kernel.emitted()
    if isinstance(node.op, (Add, Flatten)):
        return sum(spike_counts[name] for name in node.inputs)
    steps, batch = value.shape[:2]
    sums = np.empty(steps * batch)
    sample_sums(np.ascontiguousarray(value).reshape(steps * batch, -1), sums)
    return sums.reshape(steps, batch).astype(np.int64)


def constant_nodes(graph) -> set:
    """The nodes whose value is the same at every step: direct-encoded Inputs, and every node without state whose
    inputs are all such nodes (computed once; not listed in a result's ``paths``)."""
    constant = set()
    for node in graph:
        if isinstance(node.op, Input):
            if node.op.encoding == "direct":
                constant.add(node.name)
        elif not node.op.integrates and node.op.role != NEURON and all(i in constant for i in node.inputs):
            constant.add(node.name)
    return constant


def merge(results: list) -> Result:
    """The results of consecutive slices of one batch as the result of the whole batch."""
    first = results[0]
    return Result(np.concatenate([r.output for r in results]),
                  {name: np.concatenate([r.spike_counts[name] for r in results], axis=1) for name in first.spike_counts},
                  {name: np.concatenate([r.recorded[name] for r in results], axis=1) for name in first.recorded},
                  {name: {path: sum(r.paths[name][path] for r in results) for path in paths}
                   for name, paths in first.paths.items()})


def check_options(graph, T, mode, dtype) -> None:
    if not graph.outputs:
        raise GraphError(f"graph {graph.name!r} has no outputs; nothing to simulate")
    require_count(T, "T")
    if mode not in MODES:
        raise ConfigError(f"simulation mode must be one of {', '.join(MODES)}, got {mode!r}")
    if np.dtype(dtype).kind != "f":
        raise ConfigError(f"the simulator computes in a floating-point type, got {np.dtype(dtype)}")


def input_feeds(graph, inputs, T: int, dtype) -> dict:
    """Each Input node's values at every step, ``[T, B, *shape]`` (a direct input is repeated without copying)."""
    nodes = graph.input_nodes
    if not isinstance(inputs, Mapping):
        if len(nodes) != 1:
            raise ConfigError(f"graph {graph.name!r} has {len(nodes)} inputs ({', '.join(n.name for n in nodes)}); "
                              f"pass a dict of arrays by input node name")
        inputs = {nodes[0].name: inputs}
    names = {node.name for node in nodes}
    if set(inputs) != names:
        raise ConfigError(f"graph {graph.name!r} takes inputs {sorted(names)}, got arrays for {sorted(inputs)}")
    feeds = {}
    for node in nodes:
        array = np.asarray(inputs[node.name], dtype)
        shape, direct = node.info.shape, node.op.encoding == "direct"
        expected = ("B", *shape) if direct else (f"T={T}", "B", *shape)
        fits = array.shape[len(expected) - len(shape):] == shape and array.ndim == len(expected) and (
            direct or array.shape[0] == T)
        if not fits:
            raise ConfigError(f"input node {node.name!r} ({node.op.encoding} encoding) expects an array of shape "
                              f"[{', '.join(map(str, expected))}], got {list(array.shape)}")
        if not np.isfinite(array).all():
            raise ConfigError(f"input node {node.name!r}: the array holds NaN or infinite values; pass finite inputs")
        if node.info.kind == "spikes" and not np.all((array == 0) | (array == 1)):
            raise ConfigError(f"input node {node.name!r} takes spike frames, but its array holds values other than 0 "
                              f"and 1")
        feeds[node.name] = np.broadcast_to(array, (T, *array.shape)) if direct else array
    batches = {name: feed.shape[1] for name, feed in feeds.items()}
    if len(set(batches.values())) > 1:
        raise ConfigError(f"input arrays disagree on the batch size: {batches}")
    return feeds


def recorded_names(graph, record) -> list:
    """The node names ``record`` asks for (``"all"``: every node emitting spikes or counts)."""
    if record == "all":
        return [node.name for node in graph if node.info.is_events]
    names = [record] if isinstance(record, str) else list(record)
    unknown = [name for name in names if name not in graph]
    if unknown:
        raise ConfigError(f"cannot record {', '.join(map(repr, unknown))}: no such node in graph {graph.name!r}")
    return names
