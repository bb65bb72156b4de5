"""Event streams in a file, binned into ``T`` frames per sample with tonic.

**The file** is an ``.npz`` archive (``numpy.savez``) holding:

- ``events``: every sample's events, one after the other, as a structured array with integer fields ``x``, ``y``,
  ``t``, ``p`` (tonic's event layout: column, row, timestamp, polarity ``0..P-1``), each sample's sorted by ``t``;
- ``offsets``: ``[N + 1]`` integers, sample ``i`` being ``events[offsets[i]:offsets[i + 1]]`` (``offsets[0] = 0``,
  ``offsets[N] = len(events)``, non-decreasing);
- ``sensor_size``: ``[width, height, polarities]``, tonic's order;
- ``y`` (optional): one integer label per sample.

:func:`write_events` writes one from a list of per-sample event arrays (what a tonic data set yields).

**Binning** uses ``tonic.transforms.ToFrame``; a frame ``[P, height, width]`` counts each pixel's events of each
polarity. A sample gives exactly ``T`` frames, starting at its first event:

- by default, ``T`` equal time windows spanning the sample from its first event to its last, inclusive
  (``time_window = ceil((t_last - t_first + 1) / T)``);
- ``frame_time=W``: windows of ``W`` time units (the unit of ``t``); events after the ``T``-th window are left out;
- ``frame_events=K``: ``K`` events per frame; a sample with fewer than ``T * K`` events ends in empty frames, events
  beyond ``T * K`` are left out.

For a network that takes spikes, ``binary=True`` makes a pixel with one or more events in a frame one spike.
"""

from math import ceil
from pathlib import Path

import numpy as np

from snncompile.errors import DataError, require_count
from snncompile.limits import require_memory

EVENT_FIELDS = ("x", "y", "t", "p")
FILE_KEYS = ("events", "offsets", "sensor_size")


def is_event_file(archive) -> bool:
    """Whether an opened ``.npz`` ``archive`` holds event streams (its ``events`` key) rather than arrays."""
    return "events" in archive.files


def write_events(path, samples: list, sensor_size: tuple, labels=None) -> Path:
    """Write the event arrays ``samples`` (one structured ``x, y, t, p`` array per sample) recorded by a sensor of
    ``sensor_size`` ``(width, height, polarities)``, with optional ``labels``, as an event file at ``path``."""
    offsets = np.cumsum([0, *(len(events) for events in samples)], dtype=np.int64)
    arrays = {"events": np.concatenate(samples) if samples else np.zeros(0, _event_dtype()), "offsets": offsets,
              "sensor_size": np.asarray(sensor_size, np.int64)}
    if labels is not None:
        arrays["y"] = np.asarray(labels, np.int64)
    np.savez(path, **arrays)
    return Path(path)


def read_events(archive, path, *, T: int, limit=None, frame_time=None, frame_events=None,
                binary: bool = False) -> tuple:
    """``(frames [N, T, P, height, width] float64, labels or None)`` of the first ``limit`` samples (all when
    ``None``) of the event file ``archive`` opened from ``path``, binned as the module docstring says. Raises
    :class:`DataError` naming the file and the problem."""
    missing = [key for key in FILE_KEYS if key not in archive.files]
    if missing:
        raise DataError(f"{path}: an event file needs {', '.join(FILE_KEYS)}; missing {', '.join(missing)}")
    events, offsets, sensor_size = archive["events"], archive["offsets"], archive["sensor_size"]
    require_count(T, "T", error=DataError)
    _check_events(path, events, offsets, sensor_size)
    width, height, polarities = (int(v) for v in sensor_size)
    count = len(offsets) - 1 if limit is None else min(len(offsets) - 1, limit)
    require_memory(count * T * polarities * height * width * 8, f"{path}: {count:,} samples of {T} frames",
                   "simulate fewer samples (--limit)", error=DataError)
    slicing = _slicing(tuple(int(v) for v in sensor_size), T, frame_time, frame_events)
    frames = np.zeros((count, T, polarities, height, width))
    for index in range(count):
        sample = events[offsets[index]:offsets[index + 1]]
        if len(sample):  # no events: T empty frames
            binned = slicing(sample)(sample)[:T]
            frames[index, :len(binned)] = binned
    labels = archive["y"][:count] if "y" in archive.files else None
    return (np.minimum(frames, 1) if binary else frames), labels


def _slicing(sensor_size: tuple, T: int, frame_time, frame_events):
    """The function giving the ``ToFrame`` transform that bins one sample's events (module docstring)."""
    from tonic.transforms import ToFrame

    if frame_time is not None and frame_events is not None:
        raise DataError("choose one of --frame-time and --frame-events")
    if frame_events is not None:
        by_count = ToFrame(sensor_size, event_count=require_count(frame_events, "--frame-events", error=DataError),
                           include_incomplete=True)
        return lambda sample: by_count
    if frame_time is not None and not (isinstance(frame_time, (int, float)) and frame_time > 0):
        raise DataError(f"--frame-time must be a positive duration, got {frame_time!r}")

    def by_time(sample):
        start = int(sample["t"][0])
        window = frame_time or ceil((int(sample["t"][-1]) - start + 1) / T)
        return ToFrame(sensor_size, time_window=window, start_time=start, end_time=start + T * window,
                       include_incomplete=True)
    return by_time


def _check_events(path, events, offsets, sensor_size) -> None:
    """Raise :class:`DataError` unless the arrays of an event file fit together (module docstring)."""
    fields = events.dtype.names or ()
    if any(name not in fields or events.dtype[name].kind not in "iub" for name in EVENT_FIELDS):
        raise DataError(f"{path}: 'events' must be a structured array with integer fields x, y, t, p (tonic's "
                        f"layout), got dtype {events.dtype}")
    if sensor_size.shape != (3,) or sensor_size.dtype.kind not in "iu" or (sensor_size < 1).any():
        raise DataError(f"{path}: 'sensor_size' must be three positive integers [width, height, polarities], got "
                        f"{sensor_size.tolist()}")
    if (offsets.ndim != 1 or len(offsets) < 2 or offsets.dtype.kind not in "iu" or offsets[0] != 0
            or offsets[-1] != len(events) or (np.diff(offsets) < 0).any()):
        raise DataError(f"{path}: 'offsets' must be N+1 non-decreasing integers from 0 to len(events) "
                        f"({len(events):,}), sample i being events[offsets[i]:offsets[i+1]]")
    for name, size in zip(("x", "y", "p"), (sensor_size[0], sensor_size[1], sensor_size[2])):
        values = events[name]
        if len(values) and (values.min() < 0 or values.max() >= size):
            raise DataError(f"{path}: event field {name!r} holds values from {values.min()} to {values.max()}; "
                            f"the sensor ({sensor_size.tolist()}) allows 0 to {size - 1}")
    times = events["t"].astype(np.int64)
    backwards = np.flatnonzero(np.diff(times) < 0) + 1
    starts = set(offsets[1:-1].tolist())
    unsorted = [int(i) for i in backwards if int(i) not in starts]
    if unsorted:
        sample = int(np.searchsorted(offsets, unsorted[0], side="right")) - 1
        raise DataError(f"{path}: the events of sample {sample} are not sorted by t; sort each sample's events by t")


def _event_dtype() -> np.dtype:
    """tonic's event layout, for an empty events array."""
    return np.dtype([("x", np.int16), ("y", np.int16), ("t", np.int64), ("p", np.int8)])
