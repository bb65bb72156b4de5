"""Inputs for one compiled graph, from wherever they come, checked against what its input node takes.

>>> samples = samples_for(graph, "digits")                 # a named data set, adapted to the graph's input
>>> samples = samples_for(graph, "test.npz")               # a file (snncompile.data.files)
>>> samples = samples_for(graph, loader)                   # a DataLoader, a torch Dataset, a tensor, (x, y) arrays
>>> samples.batch(0, 64)                                   # as the simulators take them: frames time-major

A graph whose input is ``direct`` takes samples ``[N, *input]``, fed at every step; one whose input is ``frames``
takes ``[N, T, *input]``, one frame per step, where ``T`` is the graph's (``metadata["T"]``). Anything else is one
:class:`DataError` saying what the input takes, what the data holds, and the option that fixes it when one does.
A PyTorch ``Dataset`` yields ``x`` or ``(x, y)`` per sample, a ``DataLoader`` the same per batch (sample-major, as
PyTorch's and tonic's collation gives them).
"""

import os
import sys
from dataclasses import dataclass

import numpy as np

from snncompile.errors import ConfigError, DataError

from . import DATASETS


@dataclass(frozen=True)
class Samples:
    """Samples ``x`` (sample-major, any real type) and their integer labels ``y`` (``None``: unlabelled), read from
    ``source``; ``frames``: ``x`` holds one frame per step, ``[N, T, *input]``."""

    source: str
    x: np.ndarray
    y: np.ndarray | None = None
    frames: bool = False

    def __post_init__(self):
        if self.y is None:
            return
        labels = np.asarray(self.y)
        if labels.shape != (len(self.x),) or labels.dtype.kind not in "iu" and not (
                labels.dtype.kind == "f" and np.array_equal(labels, np.round(labels))):
            raise DataError(f"{self.source}: labels must be one integer per sample ({len(self.x):,}), got "
                            f"{labels.dtype} of shape {list(labels.shape)}")
        object.__setattr__(self, "y", labels.astype(np.int64))

    def __len__(self) -> int:
        return len(self.x)

    def batch(self, start: int, stop: int) -> np.ndarray:
        """Samples ``start:stop`` as float64 in the simulators' layout (frames ``[T, B, ...]``)."""
        x = np.asarray(self.x[start:stop], np.float64)
        return np.ascontiguousarray(x.swapaxes(0, 1)) if self.frames else x


def samples_for(graph, data, *, part: str = "test", limit=None, frame_time=None, frame_events=None) -> Samples:
    """``data`` as :class:`Samples` that ``graph`` takes: the first ``limit`` of them (all when ``None``).

    ``data`` is a name of :data:`~snncompile.data.DATASETS` (its ``part``, ``"test"`` or ``"train"``, resized to the
    graph's input: :func:`dataset_for`), a :class:`~snncompile.data.Dataset`, a file path
    (:func:`~snncompile.data.files.read_file`; event streams binned into the graph's ``T`` frames by ``frame_time``
    or ``frame_events``, one spike per pixel and frame when the graph takes spikes), :class:`Samples`, an array or
    tensor of samples, a pair ``(x, y)``, or a PyTorch ``Dataset`` or ``DataLoader``."""
    from .files import read_file
    from .sets import Dataset

    T, node = graph_steps(graph), input_node(graph)
    if limit is not None and (isinstance(limit, bool) or not isinstance(limit, int) or limit < 1):
        raise ConfigError(f"--limit must be at least 1, got {limit}")
    if isinstance(data, str) and data in DATASETS:
        data = dataset_for(graph, data)
    if isinstance(data, Dataset):
        x, y = getattr(data, f"{part}_x"), getattr(data, f"{part}_y")
        samples = Samples(data.name, x.numpy(), y.numpy())
    elif isinstance(data, (str, os.PathLike)):
        samples = read_file(data, T=T, limit=limit, frame_time=frame_time, frame_events=frame_events,
                            binary=node.info.kind == "spikes")
    elif isinstance(data, Samples):
        samples = data
    else:
        samples = _from_python(data, limit)
    if limit is not None:
        samples = Samples(samples.source, samples.x[:limit], None if samples.y is None else samples.y[:limit])
    return _checked(samples, node, T)


def graph_steps(graph) -> int:
    """The steps ``graph`` runs per sample (its ``metadata["T"]``; 1 when it records none)."""
    return int(graph.metadata.get("T") or 1)


def input_node(graph):
    """The one input node of ``graph`` (samples come as one array)."""
    nodes = graph.input_nodes
    if len(nodes) != 1:
        raise DataError(f"graph {graph.name!r} has {len(nodes)} inputs; samples feed graphs with one input")
    return nodes[0]


def dataset_for(graph, data_name: str = "digits"):
    """The named data set ``data_name`` for ``graph``: in its encoding and ``T``, at the size of its input (images
    resized bilinearly when the graph was compiled at another image size than it was trained at, which one line on
    stderr says). Raises :class:`DataError` when the data cannot take that shape."""
    from .sets import load

    metadata = graph.metadata
    metrics, config = metadata.get("metrics", {}), metadata.get("config", {})
    node = input_node(graph)
    if len(node.info.shape) != 3:
        raise DataError(f"input node {node.name!r} takes samples of shape {list(node.info.shape)}; "
                        f"{data_name!r} holds images [C, H, W]: pass your own data (--data FILE)")
    channels, height, width = node.info.shape
    if height != width:
        raise DataError(f"input node {node.name!r} takes {height}x{width} images; {data_name!r} images are "
                        f"square: compile the model at a square --image-size, or pass your own data (--data FILE)")
    data = load(data_name, encoding=node.op.encoding, image_size=int(height), T=graph_steps(graph))
    if data.in_channels != channels:
        raise DataError(f"input node {node.name!r} takes {channels} channel(s); {data.name!r} in "
                        f"{data.encoding} encoding has {data.in_channels}: pass your own data (--data FILE)")
    trained_size = metrics.get("image_size") or config.get("image_size")
    if trained_size and int(trained_size) != height:
        print(f"note: {data.name} images resized (bilinear) to {height}x{height}, the artifact's input; the model was "
              f"trained at {trained_size}x{trained_size}", file=sys.stderr)
    return data


def _from_python(data, limit) -> Samples:
    """Samples from an array or tensor, a pair ``(x, y)``, or a PyTorch ``Dataset`` or ``DataLoader`` (at most
    ``limit`` of them read)."""
    import torch
    from torch.utils.data import DataLoader
    from torch.utils.data import Dataset as TorchDataset

    if isinstance(data, (np.ndarray, torch.Tensor)):
        return Samples(type(data).__name__, _array(data))
    if isinstance(data, tuple) and len(data) == 2:
        return Samples("(x, y)", _array(data[0]), _array(data[1]))
    if isinstance(data, (DataLoader, TorchDataset)):
        parts, labels, count = [], [], 0
        items = data if isinstance(data, DataLoader) or not hasattr(data, "__len__") else (
            data[index] for index in range(len(data)))
        for item in items:
            x, y = item[:2] if isinstance(item, (tuple, list)) else (item, None)
            x = _array(x)
            if not isinstance(data, DataLoader):
                x, y = x[None], None if y is None else np.reshape(_array(y), 1)
            parts.append(x)
            labels.append(None if y is None else _array(y))
            count += len(x)
            if limit is not None and count >= limit:
                break
        if not parts:
            raise DataError(f"the {type(data).__name__} yielded no samples")
        unlabelled = any(y is None for y in labels)
        return Samples(type(data).__name__, np.concatenate(parts), None if unlabelled else np.concatenate(labels))
    raise DataError(f"cannot read samples from a {type(data).__name__}: pass a data set name, a file path, an array "
                    f"or tensor, (x, y), a torch Dataset or a DataLoader")


def _array(values) -> np.ndarray:
    """A tensor or array-like as a NumPy array."""
    return values.detach().cpu().numpy() if hasattr(values, "detach") else np.asarray(values)


def _checked(samples: Samples, node, T: int) -> Samples:
    """``samples`` marked as frames or not, once their shape and values fit ``node`` run for ``T`` steps."""
    shape, frames = list(node.info.shape), node.op.encoding != "direct"
    x, source = np.asarray(samples.x), samples.source
    expected = [T, *shape] if frames else shape
    if x.dtype.kind not in "biuf":
        raise DataError(f"{source}: samples must be real numbers, got {x.dtype}")
    if list(x.shape[1:]) != expected:
        takes = (f"{T} frame(s) of {shape} per sample (frames encoding)" if frames
                 else f"samples of {shape}, fed at every step (direct encoding)")
        raise DataError(f"{source}: input node {node.name!r} takes {takes}: [N, {', '.join(map(str, expected))}]; "
                        f"the data holds [{', '.join(map(str, x.shape))}]{_remedy(x.shape, shape, frames, T)}")
    if not np.isfinite(x).all():
        raise DataError(f"{source}: the samples hold NaN or infinite values")
    if node.info.kind == "spikes" and not np.isin(x, (0, 1)).all():
        raise DataError(f"{source}: input node {node.name!r} takes spike frames (0 or 1), the samples hold values "
                        f"from {x.min():g} to {x.max():g}")
    return Samples(source, x, samples.y, frames)


def _remedy(got: tuple, shape: list, frames: bool, T: int) -> str:
    """The option or change that makes samples of shape ``got`` fit an input of ``shape`` (``frames`` or direct)."""
    got = list(got)
    if frames and got[2:] == shape:
        return f"; pass --T {got[1]} to run one step per frame"
    if frames and got[1:] == shape:
        return "; the artifact takes one frame per step: pass [N, T, ...] frames, or event streams"
    if not frames and got[2:] == shape:
        return ("; the artifact feeds one sample at every step: pass [N, ...] samples, or compile a model that takes "
                "frames")
    sample = got[2:] if frames else got[1:]
    if len(sample) == len(shape) == 3 and sample[0] == shape[0] and sample[1] == sample[2]:
        return f"; compile the model for {sample[1]}x{sample[2]} inputs (--image-size {sample[1]})"
    return ""
