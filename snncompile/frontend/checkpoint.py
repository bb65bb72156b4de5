"""Trace a saved checkpoint: rebuild the model, make an example input from what it was trained on, trace it."""

import torch

from .. import checkpoint
from ..errors import ConfigError
from ..limits import require_image_size
from .trace import trace


def example_input(config: dict, metrics: dict, image_size: int | None = None) -> torch.Tensor:
    """A zero input shaped as the checkpoint's model takes it: ``[1, C, S, S]`` or ``[T, 1, C, S, S]`` frames."""
    size = image_size if image_size is not None else config.get("image_size") or metrics.get("image_size")
    if size is None:
        raise ConfigError("the checkpoint does not record its input size; pass the image size (--image-size)")
    size = require_image_size(size)
    sample = (1, config["in_channels"], size, size)
    return torch.zeros((config["T"], *sample)) if config.get("encoding") == "frames" else torch.zeros(sample)


def trace_checkpoint(path, image_size: int | None = None):
    """The IR graph of the model saved in ``path`` (metadata: source file, arch, config, training metrics)."""
    model, saved = checkpoint.load(path)
    example = example_input(saved["config"], saved["metrics"], image_size)
    if saved["config"].get("encoding") == "frames":
        example[..., 0, 0] = 1  # binary frames: the input's value kind is spikes
    graph = trace(model, example, name=saved["arch"])
    graph.metadata.update(source=str(path), arch=saved["arch"], config=saved["config"], metrics=saved["metrics"])
    return graph
