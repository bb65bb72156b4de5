"""Spiking neuron populations: one neuron per position of the input (and per level of an MLF unit).

Every population runs the discrete LIF update of DESIGN §3, per timestep ``t``::

    v_pre = decay * v + input_gain * x[t]
    s     = v_pre > threshold                 (v_pre >= threshold when ``inclusive``)
    v     = v_reset where s else v_pre        (``reset="hard"``)
    v     = v_pre - threshold * s             (``reset="soft"``)
"""

from dataclasses import dataclass

from ..values import events
from .base import Op, require

RESETS = ("hard", "soft")


@dataclass(frozen=True, eq=False)
class _Population(Op):
    decay: float = 1.0
    input_gain: float = 1.0
    inclusive: bool = False
    reset: str = "hard"
    v_reset: float = 0.0
    model: str = "LIF"

    def check(self):
        require(self.reset in RESETS, f"reset must be one of {RESETS}, got {self.reset!r}")
        require(0.0 <= self.decay <= 1.0, f"decay must be in [0, 1], got {self.decay}")

    @property
    def thresholds(self) -> tuple:
        raise NotImplementedError

    @property
    def levels(self) -> int:
        return len(self.thresholds)

    def infer(self, inputs):
        self.check()
        return events(inputs[0].shape, self.levels)

    def neuron_count(self, output):
        return output.size * self.levels


@dataclass(frozen=True, eq=False)
class LIF(_Population):
    """A LIF population with one ``threshold``; outputs spikes. ``model`` names the source neuron for people
    (``STBPLIF``, ``IFNode``, ``LIFNode``, ``PLIFNode``); the arithmetic is the fields alone."""

    threshold: float = 1.0

    @property
    def thresholds(self):
        return (self.threshold,)


@dataclass(frozen=True, eq=False)
class MLF(_Population):
    """Multi-level firing unit: K LIF neurons per position sharing the input, each with its own membrane, reset and
    threshold ``thresholds[k]``; outputs the count of levels that fired, ``0..K``."""

    level_thresholds: tuple = (0.6,)

    @property
    def thresholds(self):
        return self.level_thresholds

    def check(self):
        super().check()
        require(len(self.level_thresholds) >= 1, "an MLF unit needs at least one level")
