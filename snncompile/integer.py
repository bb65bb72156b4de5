"""The chip's integer arithmetic: the one definition the integer simulator runs and every backend is checked against.

A population computed on chip (Loihi 2's fixed-point CUBA LIF, ``bias_exp = 6``; DESIGN §4), per step::

    u = wrap24(sign(u) * ((|u| * Du) >> 12) + (I << 6))     I: integer synaptic input; wraps into (-2**23, 2**23]
    v = sign(v) * ((|v| * D) >> 12)                         D = 4096 - dv: the 12-bit voltage decay, toward zero
    v = clip(v + u + (bias << 6), -(2**23 - 1), 2**23 - 1)
    s = v > (threshold << 6);   v = where(s, 0, v)          strict comparison, reset to 0 (u is not reset)

``Du = 4095 - du`` is the share of the current kept per step (Lava adds one to ``du``): ``Du = 0`` (``du = 4095``) is
a current stage that passes ``I << 6`` straight through, the neurons of every graph snncompile quantizes itself;
slayer's CUBA neurons keep some (its ``iDecay = du + 1``).

The widths (24, 12, 6, ...) are the chip's (:data:`snncompile.chip.LOIHI2`); every function takes the chip.
"""

import numpy as np

from .chip import LOIHI2, Chip

__all__ = ["LOIHI2", "Chip", "cuba_step", "decay_12bit", "decayed", "lif_step", "wrap24", "wrap_state"]


def decay_12bit(decay: float, chip: Chip = LOIHI2) -> int:
    """``D = round(decay * 4096)``: the membrane keeps ``D / 4096`` of itself each step."""
    return int(round(float(decay) * chip.decay_one))


def wrap_state(x: np.ndarray, chip: Chip = LOIHI2) -> np.ndarray:
    """Wrap to the chip's state width (24 bits: into ``(-2**23, 2**23]``), as Lava's fixed-point LIF wraps its
    current ``u``."""
    half, span = 1 << (chip.state_bits - 1), 1 << chip.state_bits
    return ((x + half - 1) & (span - 1)) - half + 1


def wrap24(x: np.ndarray) -> np.ndarray:
    """:func:`wrap_state` on Loihi 2: into ``(-2**23, 2**23]``."""
    return wrap_state(x, LOIHI2)


def decayed(x: np.ndarray, kept: int, chip: Chip = LOIHI2) -> np.ndarray:
    """``sign(x) * ((|x| * kept) >> 12)``: ``x`` keeping ``kept / 4096`` of itself, truncated toward zero."""
    x = np.asarray(x, np.int64)
    return np.sign(x) * ((np.abs(x) * kept) >> chip.decay_bits)


def cuba_step(u, v, current, current_decay: int, decay: int, bias, threshold, chip: Chip = LOIHI2) -> tuple:
    """One step of integer CUBA LIF neurons: returns ``(spikes, u, v)`` (int64 arrays; inputs are not modified).

    ``current`` is the integer synaptic input ``I``; ``current_decay`` the 12-bit ``Du`` kept of ``u``, ``decay`` the
    12-bit ``D`` kept of ``v``; ``bias`` and ``threshold`` integers broadcast against ``v`` (per neuron or per
    channel)."""
    shift = chip.current_shift
    u = wrap_state(decayed(u, current_decay, chip) + (np.asarray(current, np.int64) << shift), chip)
    v = np.clip(decayed(v, decay, chip) + u + (np.asarray(bias, np.int64) << shift), -chip.state_max, chip.state_max)
    spikes = v > (np.asarray(threshold, np.int64) << shift)
    return spikes, u, np.where(spikes, 0, v)


def lif_step(v: np.ndarray, current: np.ndarray, decay: int, bias, threshold, chip: Chip = LOIHI2) -> tuple:
    """:func:`cuba_step` of neurons whose current has no memory (``Du = 0``): returns ``(spikes, v)``."""
    spikes, _, v = cuba_step(0, v, current, 0, decay, bias, threshold, chip)
    return spikes, v
