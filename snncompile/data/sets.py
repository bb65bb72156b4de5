"""The named data sets: real, offline data for training and checking compiled networks::

    data = load("digits", encoding="frames", image_size=16, T=4)
    data.train_x.shape                                      # [1347, 4, 2, 16, 16]: ON/OFF event frames
    logits = model(model_input(data.train_x[:64], data.encoding))   # a batch as a zoo model takes it

Two encodings of the same images:

- ``direct``: the grey image ``[N, 1, S, S]`` in ``[0, 1]``; the model feeds it identically at each of ``T`` steps.
- ``frames``: ``T`` binary ON/OFF event frames per sample, ``[N, T, 2, S, S]``, made at load time as a DVS camera
  would see the image under a small motion (:mod:`snncompile.data.events` gives the exact construction).

Images larger than the source (``image_size`` > 8) are resized with bilinear interpolation. The train/test split is
stratified (every class keeps its share in both parts) and depends only on ``seed``.
"""

from dataclasses import dataclass
from importlib import import_module

import numpy as np
import torch
from sklearn.model_selection import train_test_split

from snncompile.errors import DataError, require_count

from . import DATASETS, ENCODINGS
from .events import event_frames, resize

_SOURCES = {name: import_module(f"{__package__}.{name}") for name in DATASETS}  # one module per data set


@dataclass(frozen=True)
class Dataset:
    """A labelled data set split into train and test parts, in one encoding (module docstring)."""

    name: str
    encoding: str
    T: int
    image_size: int
    in_channels: int
    num_classes: int
    train_x: torch.Tensor
    train_y: torch.Tensor
    test_x: torch.Tensor
    test_y: torch.Tensor


def load(name: str = "digits", *, encoding: str = "direct", image_size: int = 8, T: int = 4,
         test_fraction: float = 0.25, seed: int = 0) -> Dataset:
    """Load data set ``name`` in ``encoding`` at ``image_size`` x ``image_size`` pixels, split into train and test.

    ``T`` is the number of event frames per sample for ``encoding="frames"`` (recorded, unused, for ``direct``);
    ``test_fraction`` of the samples, chosen by ``seed`` and stratified by class, form the test part.
    Raises :class:`DataError` for an unknown name or an invalid option.
    """
    if name not in _SOURCES:
        raise DataError(f"unknown data set {name!r}; choose one of: {', '.join(DATASETS)}")
    if encoding not in ENCODINGS:
        raise DataError(f"unknown encoding {encoding!r}; choose one of: {', '.join(ENCODINGS)}")
    source = _SOURCES[name]
    images, labels = source.images()
    source_size = images.shape[-1]
    if not isinstance(image_size, int) or image_size < source_size:
        raise DataError(f"image_size must be an integer >= {source_size} (the size of {name!r}), got {image_size!r}")
    require_count(T, "T", error=DataError)
    if not isinstance(test_fraction, (int, float)) or not 0 < test_fraction < 1:
        raise DataError(f"test_fraction must be between 0 and 1 (exclusive), got {test_fraction!r}")
    train_index, test_index = _stratified_split(labels, test_fraction, seed)
    if encoding == "frames":
        inputs = event_frames(images, T, image_size)
    else:
        inputs = resize(images, image_size)
    return Dataset(name=name, encoding=encoding, T=T, image_size=image_size, in_channels=inputs.shape[-3],
                   num_classes=source.NUM_CLASSES, train_x=inputs[train_index], train_y=labels[train_index],
                   test_x=inputs[test_index], test_y=labels[test_index])


def model_input(x: torch.Tensor, encoding: str) -> torch.Tensor:
    """A batch of samples as a zoo model takes it: ``direct`` ``[B, C, H, W]`` as is, ``frames`` ``[B, T, ...]`` as
    ``[T, B, ...]``."""
    return x.transpose(0, 1) if encoding == "frames" else x


def _stratified_split(labels: torch.Tensor, test_fraction: float, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Sorted train and test indices, stratified by label, a function of ``seed`` only."""
    try:
        train_index, test_index = train_test_split(np.arange(len(labels)), test_size=test_fraction,
                                                   stratify=labels.numpy(), random_state=seed)
    except ValueError as err:
        raise DataError(f"cannot split {len(labels)} samples with test_fraction={test_fraction!r}: {err}") from None
    return torch.from_numpy(np.sort(train_index)), torch.from_numpy(np.sort(test_index))
