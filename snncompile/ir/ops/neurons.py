"""Spiking neuron populations: one neuron per position of the input (and per level of an MLF unit).

Every population runs the discrete LIF update of DESIGN §3, per timestep ``t``::

    v_pre = decay * v + input_gain * x[t]
    s     = v_pre > threshold                 (v_pre >= threshold when ``inclusive``)
    v     = v_reset where s else v_pre        (``reset="hard"``)
    v     = v_pre - threshold * s             (``reset="soft"``)
"""

from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from ...chip import LOIHI2
from ..values import events
from .base import NEURON, Op, require

RESETS = ("hard", "soft")


@dataclass(frozen=True, eq=False)
class _FloatNeurons(Op):
    decay: float = 1.0
    input_gain: float = 1.0
    inclusive: bool = False
    reset: str = "hard"
    v_reset: float = 0.0
    model: str = "LIF"

    role: ClassVar[str] = NEURON
    integrates: ClassVar[bool] = True

    def validate(self):
        require(self.reset in RESETS, f"reset must be one of {RESETS}, got {self.reset!r}")
        require(0.0 <= self.decay <= 1.0, f"decay must be in [0, 1], got {self.decay}")
        require(np.isfinite(self.input_gain), f"input gain must be finite, got {self.input_gain}")

    @property
    def thresholds(self) -> tuple:
        raise NotImplementedError

    @property
    def levels(self) -> int:
        return len(self.thresholds)

    def infer(self, inputs):
        return events(inputs[0].shape, self.levels)

    def neuron_count(self, output):
        return output.size * self.levels


@dataclass(frozen=True, eq=False)
class LIF(_FloatNeurons):
    """A LIF population with one ``threshold``; outputs spikes. ``model`` names the source neuron for people
    (``STBPLIF``, ``IFNode``, ``LIFNode``, ``PLIFNode``); the arithmetic is the fields alone."""

    threshold: float = 1.0

    @property
    def thresholds(self):
        return (self.threshold,)


@dataclass(frozen=True, eq=False)
class MLF(_FloatNeurons):
    """Multi-level firing unit: K LIF neurons per position sharing the input, each with its own membrane, reset and
    threshold ``thresholds[k]``; outputs the count of levels that fired, ``0..K``."""

    level_thresholds: tuple = (0.6,)

    lowered_by: ClassVar[str] = "lower_mlf"

    @property
    def thresholds(self):
        return self.level_thresholds

    def validate(self):
        super().validate()
        require(len(self.level_thresholds) >= 1, "an MLF unit needs at least one level")


@dataclass(frozen=True, eq=False)
class IntLIF(Op):
    """A CUBA LIF population in the chip's integer arithmetic (:mod:`snncompile.integer`, DESIGN §4)::

        u = wrap24(sign(u) * ((|u| * current_decay_12bit) >> 12) + (I << 6))
        v = sign(v) * ((|v| * decay_12bit) >> 12)
        v = clip(v + u + (bias << 6), +-(2**23 - 1));  s = v > (threshold << 6);  v = where(s, 0, v)

    ``current_decay_12bit`` (``Du``): the share of the current kept per step, in 4096ths; 0, the default, is a current
    with no memory (the synaptic input enters the membrane the step it arrives), as every quantized float neuron.

    ``bias``: int per channel (axis 0 of a sample) or ``None``. ``scale``: the integer units per float unit shared by
    every edge into the population (weights, bias and threshold were multiplied by it); ``source`` names the float
    neuron model it came from."""

    threshold: int = 0
    decay_12bit: int = LOIHI2.decay_one
    bias: object = None
    scale: float = 1.0
    source: str = "LIF"
    current_decay_12bit: int = 0

    role: ClassVar[str] = NEURON
    integrates: ClassVar[bool] = True

    def validate(self):
        require(isinstance(self.threshold, int) and self.threshold >= 0, "threshold must be a non-negative integer")
        require(isinstance(self.decay_12bit, int) and 0 <= self.decay_12bit <= LOIHI2.decay_one,
                f"decay_12bit must be in [0, {LOIHI2.decay_one}]")
        require(isinstance(self.current_decay_12bit, int) and 0 <= self.current_decay_12bit < LOIHI2.decay_one,
                f"current_decay_12bit must be in [0, {LOIHI2.decay_one - 1}]")
        require(self.bias is None or (isinstance(self.bias, np.ndarray) and self.bias.ndim == 1
                                      and self.bias.dtype.kind == "i"), "bias must be an integer vector or None")

    @property
    def decay_fraction(self) -> float:
        """The share of the membrane kept per step, ``decay_12bit / 4096``."""
        return self.decay_12bit / LOIHI2.decay_one

    def infer(self, inputs):
        (x,) = inputs
        require(self.bias is None or self.bias.shape == (x.shape[0],),
                f"bias must be an integer vector of shape ({x.shape[0]},)")
        return events(x.shape, 1)

    def neuron_count(self, output):
        return output.size
