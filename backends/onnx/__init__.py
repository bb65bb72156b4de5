"""The ``onnx`` backend: a graph as a standard ONNX model that onnxruntime runs exactly like the NumPy simulator.

- :mod:`.export`: the graph unrolled over ``T`` steps, one small function per op type;
- :mod:`.runtime`: onnxruntime sessions (cached) and the :class:`~snncompile.backends.result.Result` of a run;
- :mod:`.backend`: the registered backend. Importing this package imports neither onnx nor onnxruntime.
"""

from .backend import OnnxBackend

__all__ = ["OnnxBackend"]
