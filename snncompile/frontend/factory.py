"""Models defined in code: ``path/to/net.py:factory`` names a function that returns the ``nn.Module``.

The command line compiles one as ``snncompile compile net.py:factory --weights model.pth --input-shape C,H,W --T 4``:
the file is imported (it is the user's own code, run as Python runs it), ``factory()`` builds the model, the
weights fill it (:func:`snncompile.checkpoint.load_weights`: a plain or nested ``state_dict``, read with
``weights_only=True``), and it is traced on a ``[2, C, H, W]`` example (in the model's dtype) fed at each of ``T``
steps.
"""

import importlib.util
import sys
from pathlib import Path

import torch
from torch import nn

from .. import checkpoint
from ..errors import ConfigError
from ..ir import Graph
from .trace import trace

EXAMPLE_BATCH = 2  # two samples: the batch axis is told apart from a time axis of one step


def is_factory_source(model) -> bool:
    """Whether ``model`` (a path or string) is ``<file>.py:<function>``."""
    file, _, function = str(model).rpartition(":")
    return file.endswith(".py") and function.isidentifier()


def build_model(source: str) -> nn.Module:
    """Import ``<file>.py`` and return what its ``<function>()`` builds (an ``nn.Module``)."""
    file, _, function = str(source).rpartition(":")
    path = Path(file)
    if not path.is_file():
        raise ConfigError(f"{source}: {path} is not a file; pass path/to/net.py:factory")
    spec = importlib.util.spec_from_file_location(f"snncompile_user_model_{abs(hash(path.resolve()))}", path)
    module = importlib.util.module_from_spec(spec)
    sys.path.insert(0, str(path.resolve().parent))  # the file may import its neighbours
    try:
        spec.loader.exec_module(module)
        factory = getattr(module, function, None)
        if not callable(factory):
            names = sorted(n for n, v in vars(module).items() if callable(v) and not n.startswith("_"))
            raise ConfigError(f"{source}: {path.name} defines no function {function!r} (it has: {', '.join(names)})")
        model = factory()
    except ConfigError:
        raise
    except Exception as err:  # the user's code fails with whatever it raises
        raise ConfigError(f"{source}: building the model failed: {type(err).__name__}: {err}") from None
    finally:
        sys.path.remove(str(path.resolve().parent))
    if not isinstance(model, nn.Module):
        raise ConfigError(f"{source}: {function}() returned a {type(model).__name__}, not a torch nn.Module")
    return model


def parse_input_shape(text) -> tuple:
    """``"3,32,32"`` (or a sequence of ints) -> ``(3, 32, 32)``: the shape of one sample."""
    try:
        shape = tuple(int(part) for part in (text.split(",") if isinstance(text, str) else text))
    except (TypeError, ValueError):
        shape = ()
    if not shape or any(size < 1 or size > 4096 for size in shape):
        raise ConfigError(f"--input-shape {text!r}: give one sample's shape as whole numbers from 1 to 4096, "
                          f"e.g. 3,32,32 (channels, height, width)")
    return shape


def trace_factory(source: str, *, input_shape, T: int | None, weights=None) -> Graph:
    """The IR graph of the model ``source`` builds, filled from ``weights`` (a file; ``None``: as built)."""
    if input_shape is None or T is None:
        raise ConfigError(f"{source}: a model defined in code needs --input-shape C,H,W and --T (timesteps per "
                          f"sample): its code does not record them")
    model = build_model(source)
    if weights is not None:
        checkpoint.load_weights(model, weights)
    generator = torch.Generator().manual_seed(0)
    dtype = next((p.dtype for p in model.parameters() if p.dtype.is_floating_point), torch.float32)
    example = torch.rand((EXAMPLE_BATCH, *parse_input_shape(input_shape)), generator=generator).to(dtype)
    graph = trace(model, example, name=str(source).rpartition(":")[2], T=T)
    graph.metadata.update(source=str(source), arch=type(model).__name__,
                          weights=None if weights is None else str(weights))
    return graph
