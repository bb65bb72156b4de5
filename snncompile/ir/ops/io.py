"""Where a graph starts."""

from dataclasses import dataclass

import numpy as np

from ..values import TensorInfo
from .base import Op, require

ENCODINGS = ("direct", "frames")


@dataclass(frozen=True, eq=False)
class Input(Op):
    """The network input, one tensor of ``shape`` per sample.

    ``encoding="direct"``: an analog image fed identically at every timestep (the model receives ``[B, *shape]``).
    ``encoding="frames"``: a different tensor at every timestep (the model receives ``[T, B, *shape]``), binary event
    frames (``kind="spikes"``) or real-valued ones (``kind="analog"``).
    """

    shape: tuple
    encoding: str = "direct"
    value_kind: str = "analog"

    arity = 0

    def infer(self, inputs):
        require(self.encoding in ENCODINGS, f"encoding must be one of {ENCODINGS}, got {self.encoding!r}")
        require(self.encoding == "frames" or self.value_kind == "analog", "direct encoding feeds analog values")
        return TensorInfo(self.shape, self.value_kind, 1 if self.value_kind == "spikes" else None)


@dataclass(frozen=True, eq=False)
class Quantize(Op):
    """Where host-computed analog current enters the chip as integers: ``y = rint(x * scale)`` (round half to even).

    Follows a layer whose input is analog (the encoding layer), which the host computes in floating point."""

    scale: float = 1.0

    def infer(self, inputs):
        (x,) = inputs
        require(self.scale > 0 and np.isfinite(self.scale), f"scale must be positive and finite, got {self.scale}")
        require(x.kind == "analog", f"quantize takes analog current, got {x.describe()}")
        return TensorInfo(x.shape)
