"""A test set from a file: what ``--data PATH`` and ``--calibrate-data PATH`` read.

- ``.npz`` with ``x``, the samples, and optionally ``y``, one integer label per sample (without labels a run reports
  no accuracy; everything else works);
- ``.npy``: the samples alone;
- ``.npz`` with ``events``: event streams, binned into ``T`` frames per sample (:mod:`.event_files`).

Samples are ``[N, *input]`` (``[N, C, H, W]`` images: analog values fed at every step) or ``[N, T, *input]`` (one
frame per step), in any real numeric type; :func:`~snncompile.data.samples.samples_for` checks them against the
graph that will run them. Archives are read with ``allow_pickle=False``: a file cannot run code.
"""

from pathlib import Path

import numpy as np

from snncompile.errors import DataError

from . import DATASETS
from .event_files import is_event_file, read_events
from .samples import Samples

SUFFIXES = (".npz", ".npy")


def read_file(path, *, T: int = 1, limit=None, frame_time=None, frame_events=None, binary: bool = False) -> Samples:
    """The samples and labels in the file at ``path`` (module docstring); event streams are binned into ``T`` frames
    (the first ``limit`` samples only; ``frame_time``, ``frame_events`` and ``binary`` as
    :func:`.event_files.read_events` takes them). Raises :class:`DataError` naming the file."""
    path = Path(path)
    if path.suffix not in SUFFIXES:
        raise DataError(f"{path}: neither a data set ({', '.join(DATASETS)}) nor a data file: .npz (x, optional y; or "
                        f"event streams) or .npy (x)")
    if not path.is_file():
        raise DataError(f"{path}: no such data file")
    binned = frame_time is not None or frame_events is not None
    try:
        if path.suffix == ".npy" and binned:
            raise DataError(f"{path}: --frame-time and --frame-events bin event files; this file holds arrays")
        if path.suffix == ".npy":
            return _samples(path, np.load(path, allow_pickle=False), None)
        with np.load(path, allow_pickle=False) as loaded:
            if is_event_file(loaded):
                frames, labels = read_events(loaded, path, T=T, limit=limit, frame_time=frame_time,
                                             frame_events=frame_events, binary=binary)
                return _samples(path, frames, labels)
            if binned:
                raise DataError(f"{path}: --frame-time and --frame-events bin event files; this file holds arrays")
            if "x" not in loaded.files:
                raise DataError(f"{path}: no array 'x' (holds {', '.join(loaded.files) or 'nothing'}); write the "
                                f"samples as x and their labels as y, or event streams as 'events' (see "
                                f"snncompile.data.event_files)")
            return _samples(path, loaded["x"], loaded["y"] if "y" in loaded.files else None)
    except (OSError, ValueError, EOFError) as err:
        raise DataError(f"{path}: not a readable NumPy file ({type(err).__name__}: {err})") from None


def _samples(path: Path, x, y) -> Samples:
    """``x`` and ``y`` checked as samples and labels of the file ``path``."""
    x = np.asarray(x)
    if x.dtype.kind not in "biuf" or x.ndim < 2:
        raise DataError(f"{path}: x must be a real numeric array [N, ...] of samples, got {x.dtype} of shape "
                        f"{list(x.shape)}")
    if not np.isfinite(x).all():
        raise DataError(f"{path}: x holds NaN or infinite values")
    return Samples(str(path), x, y)
