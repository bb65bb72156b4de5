"""Run exported models in onnxruntime: sessions built once and reused, inputs checked as the simulator checks them,
outputs turned into a :class:`~snncompile.backends.result.Result`.

A graph's sessions are cached per graph object (weakly: they go when the graph goes) and per ``(T, recorded nodes)``,
so a data set run batch by batch exports once; a graph is assumed unchanged after its first run (passes build new
graphs rather than editing them). An artifact directory's ``model.onnx`` is cached by path and modification time.
"""

import time
import weakref
from functools import lru_cache
from pathlib import Path

import numpy as np
import onnx
import onnxruntime

from snncompile import ir
from snncompile.errors import ConfigError

from ..numpy.simulator import check_options, input_feeds, recorded_names
from ..result import Result
from .export import OUTPUT, RECORDED, SPIKE_COUNTS, export, model_T, with_records

MODEL_FILE = "model.onnx"
SLICE = 32  # samples per onnxruntime call: MLF DS-ResNet-20 at 32x32 needs several GB at 64 and more than 24 GB at 256

_graph_sessions = weakref.WeakKeyDictionary()


def session(model: onnx.ModelProto) -> onnxruntime.InferenceSession:
    options = onnxruntime.SessionOptions()
    options.log_severity_level = 3  # errors only: the exporter's Identity nodes are meant to be removed
    return onnxruntime.InferenceSession(model.SerializeToString(), options, providers=["CPUExecutionProvider"])


def graph_session(graph: ir.Graph, T: int, record: tuple) -> onnxruntime.InferenceSession:
    """The session of ``graph`` exported for ``T`` steps with outputs recording the nodes ``record``."""
    sessions = _graph_sessions.setdefault(graph, {})
    if (T, record) not in sessions:
        sessions[T, record] = session(with_records(export(graph, T), graph, record))
    return sessions[T, record]


@lru_cache(maxsize=8)
def file_session(path: Path, modified_ns: int, T: int, record: tuple) -> onnxruntime.InferenceSession:
    """The session of the model file ``path`` (as last modified at ``modified_ns``), with ``record`` outputs added."""
    model = onnx.load(path)
    exported_T = model_T(model)
    if exported_T != T:
        raise ConfigError(f"{path} was exported for T={exported_T}, not T={T}: run it with T={exported_T}, or compile "
                          f"again")
    return session(with_records(model, ir.load(path.parent), record)) if record else session(model)


def run(artifact, inputs, T: int, *, record=()) -> Result:
    """Run ``artifact`` (a :class:`~snncompile.ir.Graph`, or a directory written by the backend's ``emit``) on
    ``inputs`` (as :func:`~snncompile.backends.numpy.simulate` takes them) for ``T`` steps."""
    start = time.perf_counter()
    graph = artifact if isinstance(artifact, ir.Graph) else ir.load(artifact)
    check_options(graph, T, "auto", np.float64)
    names = tuple(recorded_names(graph, record))
    if isinstance(artifact, ir.Graph):
        runner = graph_session(graph, T, names)
    else:
        path = (Path(artifact) / MODEL_FILE).resolve()
        if not path.is_file():
            raise ConfigError(f"{artifact} holds no {MODEL_FILE}: compile it with --target onnx")
        runner = file_session(path, path.stat().st_mtime_ns, T, names)
    feeds = {name: np.ascontiguousarray(feed[0] if graph[name].op.encoding == "direct" else feed)
             for name, feed in input_feeds(graph, inputs, T, np.float64).items()}
    values = run_in_slices(runner, feeds, {name: 0 if graph[name].op.encoding == "direct" else 1 for name in feeds})
    spike_counts = {key[len(SPIKE_COUNTS):]: value for key, value in values.items() if key.startswith(SPIKE_COUNTS)}
    recorded = {key[len(RECORDED):]: value for key, value in values.items() if key.startswith(RECORDED)}
    return Result(values[OUTPUT], spike_counts, recorded, {}, time.perf_counter() - start)


def run_in_slices(runner: onnxruntime.InferenceSession, feeds: dict, batch_axes: dict) -> dict:
    """Every output of ``runner`` on ``feeds``, computed :data:`SLICE` samples at a time (onnxruntime's working memory
    grows with the batch: float64 im2col buffers of every step) and joined on the batch axis: 0 for the logits, 1 for
    the ``[T, B, ...]`` spike counts and recordings."""
    name = next(iter(feeds))
    batch = feeds[name].shape[batch_axes[name]]
    parts = []
    for start in range(0, batch, SLICE):
        part = {key: np.take(feed, range(start, min(start + SLICE, batch)), axis=batch_axes[key])
                for key, feed in feeds.items()}
        parts.append(dict(zip((o.name for o in runner.get_outputs()), runner.run(None, part))))
    return {key: np.concatenate([part[key] for part in parts], axis=0 if key == OUTPUT else 1) for key in parts[0]}
