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


@dataclass(frozen=True, eq=False)
class IntLIF(Op):
    """A LIF population in the chip's integer arithmetic (:mod:`snncompile.integer`, DESIGN §4)::

        u = wrap24(I << 6);  v = sign(v) * ((|v| * decay_12bit) >> 12)
        v = clip(v + u + (bias << 6), +-(2**23 - 1));  s = v > (threshold << 6);  v = where(s, 0, v)

    ``bias``: int per channel (axis 0 of a sample) or ``None``. ``scale``: the integer units per float unit shared by
    every edge into the population (weights, bias and threshold were multiplied by it); ``source`` names the float
    neuron model it came from."""

    threshold: int = 0
    decay_12bit: int = 4096
    bias: object = None
    scale: float = 1.0
    source: str = "LIF"

    def infer(self, inputs):
        (x,) = inputs
        require(isinstance(self.threshold, int) and self.threshold >= 0, "threshold must be a non-negative integer")
        require(isinstance(self.decay_12bit, int) and 0 <= self.decay_12bit <= 4096, "decay_12bit must be in [0, 4096]")
        require(self.bias is None or (self.bias.shape == (x.shape[0],) and self.bias.dtype.kind == "i"),
                f"bias must be an integer vector of shape ({x.shape[0]},)")
        return events(x.shape, 1)

    def neuron_count(self, output):
        return output.size
