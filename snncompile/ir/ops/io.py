"""Where values enter: the graph's input, and the host's analog current entering the chip."""

from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from ..values import TensorInfo
from .base import IO, Op, require

ENCODINGS = ("direct", "frames")


@dataclass(frozen=True, eq=False)
class Input(Op):
    """The network input, one tensor of ``shape`` per sample.

    ``encoding="direct"``: an analog image fed identically at every timestep (the model receives ``[B, *shape]``).
    ``encoding="frames"``: a different tensor at every timestep (the model receives ``[T, B, *shape]``), binary event
    frames (``value_kind="spikes"``) or real-valued ones (``value_kind="analog"``).
    """

    shape: tuple
    encoding: str = "direct"
    value_kind: str = "analog"

    arity: ClassVar[int] = 0
    role: ClassVar[str] = IO

    def validate(self):
        require(self.encoding in ENCODINGS, f"encoding must be one of {ENCODINGS}, got {self.encoding!r}")
        require(self.encoding == "frames" or self.value_kind == "analog", "direct encoding feeds analog values")

    def infer(self, inputs):
        return TensorInfo(self.shape, self.value_kind, 1 if self.value_kind == "spikes" else None)


@dataclass(frozen=True, eq=False)
class Quantize(Op):
    """Where host-computed analog current enters the chip as integers: ``y = rint(x * scale)`` (round half to even).

    Follows a layer whose input is analog (the encoding layer), which the host computes in floating point."""

    scale: float = 1.0

    role: ClassVar[str] = IO

    def validate(self):
        require(self.scale > 0 and np.isfinite(self.scale), f"scale must be positive and finite, got {self.scale}")

    def infer(self, inputs):
        (x,) = inputs
        require(x.kind == "analog", f"quantize takes analog current, got {x.describe()}")
        return TensorInfo(x.shape)
