"""Where a graph starts."""

from dataclasses import dataclass

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
