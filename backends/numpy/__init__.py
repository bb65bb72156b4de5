"""The event-driven NumPy simulator, registered as backend ``numpy``."""

from .backend import NumpyBackend
from .simulator import on_one_core, simulate

__all__ = ["NumpyBackend", "on_one_core", "simulate"]
