"""The chip's integer arithmetic: the one definition the integer simulator runs and every backend is checked against.

A population computed on chip (Loihi 2's fixed-point LIF with ``du = 4095``, ``bias_exp = 6``; DESIGN §4), per step::

    u = wrap24(I << 6)                                   I: integer synaptic input; wraps into (-2**23, 2**23]
    v = sign(v) * ((|v| * D) >> 12)                      D = 4096 - dv: the 12-bit decay, truncating toward zero
    v = clip(v + u + (bias << 6), -(2**23 - 1), 2**23 - 1)
    s = v > (threshold << 6);   v = where(s, 0, v)       strict comparison, reset to 0

``LOIHI2`` holds the widths every value must fit; the quantizer's range analysis keeps within them.
"""

from dataclasses import dataclass

import numpy as np

CURRENT_SHIFT = 6    # u and bias enter the membrane scaled by 2**6 (Lava: bias_exp = 6; du = 4095 passes I << 6)
DECAY_ONE = 4096     # D = 4096: no leak; D = 0: no memory (the membrane is cleared every step)


@dataclass(frozen=True)
class ChipLimits:
    """Integer widths of a neuromorphic core (Loihi 2 as Lava's fixed-point models implement it)."""

    weight_bits: int = 9       # signed: [-256, 255] (Dense needs sign_mode=MIXED, num_weight_bits=9 for all 9)
    bias_bits: int = 13        # signed mantissa: [-4096, 4095]
    threshold_bits: int = 17   # unsigned mantissa: [0, 131071]
    state_bits: int = 24       # u and v are 24-bit signed
    decay_bits: int = 12       # dv in [0, 4095]

    @property
    def weight_range(self) -> tuple:
        return -(1 << (self.weight_bits - 1)), (1 << (self.weight_bits - 1)) - 1

    @property
    def bias_range(self) -> tuple:
        return -(1 << (self.bias_bits - 1)), (1 << (self.bias_bits - 1)) - 1

    @property
    def threshold_max(self) -> int:
        return (1 << self.threshold_bits) - 1

    @property
    def state_max(self) -> int:
        """Largest membrane magnitude: v saturates at +-(2**23 - 1)."""
        return (1 << (self.state_bits - 1)) - 1

    @property
    def current_max(self) -> int:
        """Largest synaptic input ``|I|`` whose ``I << 6`` fits the state width without wrapping."""
        return self.state_max >> CURRENT_SHIFT


LOIHI2 = ChipLimits()


def decay_12bit(decay: float) -> int:
    """``D = round(decay * 4096)``: the membrane keeps ``D / 4096`` of itself each step."""
    return int(round(float(decay) * DECAY_ONE))


def wrap24(x: np.ndarray) -> np.ndarray:
    """Wrap to 24 bits into ``(-2**23, 2**23]``, as Lava's fixed-point LIF wraps its current ``u``."""
    return ((x + (1 << 23) - 1) & ((1 << 24) - 1)) - (1 << 23) + 1


def lif_step(v: np.ndarray, current: np.ndarray, decay: int, bias, threshold) -> tuple:
    """One step of integer LIF neurons: returns ``(spikes, v)`` (int64 arrays; ``v`` is not modified in place).

    ``current`` is the integer synaptic input ``I``; ``decay`` the 12-bit ``D``; ``bias`` and ``threshold`` integers
    broadcast against ``v`` (per neuron or per channel)."""
    u = wrap24(np.asarray(current, np.int64) << CURRENT_SHIFT)
    v = np.sign(v) * ((np.abs(v) * decay) >> 12)
    v = np.clip(v + u + (np.asarray(bias, np.int64) << CURRENT_SHIFT), -LOIHI2.state_max, LOIHI2.state_max)
    spikes = v > (np.asarray(threshold, np.int64) << CURRENT_SHIFT)
    return spikes, np.where(spikes, 0, v)
