"""Backends: targets a compiled graph is emitted for and run on, registered by name behind one protocol.

>>> from snncompile.backends import get_backend
>>> result = get_backend("numpy").run(graph, images, T=4)
"""

from . import numpy  # noqa: F401  (registers the "numpy" backend)
from . import lava  # noqa: F401  (registers the "lava" backend; Lava itself is imported only by its worker process)
from . import onnx  # noqa: F401  (registers the "onnx" backend; onnx and onnxruntime are imported when used)
from . import nir  # noqa: F401  (registers the "nir" backend; nir and h5py are imported when used)
from . import netx  # noqa: F401  (registers the "netx" backend; h5py and Lava are imported when used)
from .base import BACKENDS, Backend, get_backend, register
from .result import Result

__all__ = ["BACKENDS", "Backend", "Result", "get_backend", "register"]
