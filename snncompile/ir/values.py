"""What flows along an edge: one tensor per timestep, described per sample."""

from dataclasses import dataclass

KINDS = ("analog", "spikes", "counts")


@dataclass(frozen=True)
class TensorInfo:
    """Shape of one sample at one timestep (no time or batch axis) and its value kind.

    ``analog``: real values (pixels, currents). ``spikes``: {0, 1}. ``counts``: integers in ``0..max_count`` (an MLF
    output, a sum of spike tensors). Spikes are counts with ``max_count = 1``.
    """

    shape: tuple
    kind: str = "analog"
    max_count: int | None = None

    def __post_init__(self):
        object.__setattr__(self, "shape", tuple(int(d) for d in self.shape))
        if self.kind not in KINDS:
            raise ValueError(f"value kind must be one of {KINDS}, got {self.kind!r}")
        if self.kind == "spikes" and self.max_count not in (None, 1):
            raise ValueError("spikes have max_count 1")
        if self.kind == "spikes":
            object.__setattr__(self, "max_count", 1)
        if self.kind == "counts" and (self.max_count is None or self.max_count < 1):
            raise ValueError("counts need a positive max_count")
        if self.kind == "analog" and self.max_count is not None:
            raise ValueError("analog values have no max_count")
        if any(d < 1 for d in self.shape):
            raise ValueError(f"every dimension must be positive, got {self.shape}")

    @property
    def is_events(self) -> bool:
        """True for spikes and counts: values a chip sends as events."""
        return self.kind != "analog"

    @property
    def size(self) -> int:
        n = 1
        for d in self.shape:
            n *= d
        return n

    def describe(self) -> str:
        if self.kind == "counts":
            return f"counts<={self.max_count}"
        return self.kind


def events(shape, max_count: int) -> TensorInfo:
    """Spikes (``max_count == 1``) or counts of the given shape."""
    return TensorInfo(shape, "spikes" if max_count == 1 else "counts", max_count)
