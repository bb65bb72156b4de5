"""Shared fixtures: tiny instances of every zoo architecture (8x8 inputs, T=2, width 4)."""

import pytest

from snncompile.models import ARCHS, default_config


def tiny_config(name: str, in_channels: int = 1, num_classes: int = 10, T: int = 2, width: int = 4) -> dict:
    """Options for a tiny, fast instance of architecture ``name`` that takes ``[B, in_channels, 8, 8]`` images."""
    options = default_config(name)
    config = dict(in_channels=in_channels, num_classes=num_classes, T=T, width=width, encoding="direct")
    if "image_size" in options:
        config["image_size"] = 8
    if "blocks" in options:
        config["blocks"] = 3
    if "hidden" in options:
        config["hidden"] = 16
    if options.get("stem") == "imagenet":
        config["stem"] = "cifar"
    return config


@pytest.fixture(params=sorted(ARCHS))
def arch(request):
    """Every architecture name in the zoo."""
    return request.param
