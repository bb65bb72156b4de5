"""The event-driven NumPy simulator, registered as backend ``numpy``."""

from .backend import NumpyBackend
from .simulator import simulate

__all__ = ["NumpyBackend", "simulate"]
