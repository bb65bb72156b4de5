"""Spiking neurons of the four seed families, multi-step: input and output are ``[T, B, ...]``.

Every neuron here is one discrete leaky integrate-and-fire update, differing only in its constants::

    v_pre[t] = decay * v[t-1] + input_gain * x[t]
    s[t]     = v_pre[t] > threshold              (``>=`` when ``inclusive``)
    v[t]     = v_reset             where s[t]    (hard reset)
               v_pre[t] - threshold where s[t]   (soft reset)
               v_pre[t]            elsewhere

The compiler reads these constants (``decay``, ``input_gain``, ``threshold``/``thresholds``, ``inclusive``,
``reset``, ``v_reset``) straight off the module, so they are the whole contract between the zoo and the IR.
"""

import math

import torch
from torch import nn

from .surrogates import ATan, Rectangle, spike

RESET_MODES = ("hard", "soft")


class SpikingNeuron(nn.Module):
    """A population of discrete LIF neurons with one threshold per level (one level unless it is an MLF unit).

    The output is the sum of the level spikes: ``{0, 1}`` for one level, ``{0..K}`` for K levels.
    """

    def __init__(self, thresholds, decay=1.0, input_gain=1.0, *, inclusive=False, reset="hard", v_reset=0.0,
                 surrogate=Rectangle(1.0), detach_reset=False):
        super().__init__()
        thresholds = tuple(float(t) for t in thresholds)
        if not thresholds:
            raise ValueError("a spiking neuron needs at least one threshold")
        if reset not in RESET_MODES:
            raise ValueError(f"reset must be one of {RESET_MODES}, got {reset!r}")
        self.thresholds = thresholds
        self._decay = float(decay)
        self._input_gain = float(input_gain)
        self.inclusive = bool(inclusive)
        self.reset = reset
        self.v_reset = float(v_reset)
        self.surrogate = surrogate
        self.detach_reset = bool(detach_reset)

    @property
    def levels(self) -> int:
        return len(self.thresholds)

    @property
    def threshold(self) -> float:
        """The first (for one level: the only) threshold."""
        return self.thresholds[0]

    @property
    def decay(self):
        return self._decay

    @property
    def input_gain(self):
        return self._input_gain

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        levels = self.levels
        threshold = torch.tensor(self.thresholds, dtype=x.dtype, device=x.device)
        if levels > 1:  # a leading level axis after time: [T, K, B, ...]
            x = x.unsqueeze(1).expand(x.shape[0], levels, *x.shape[1:])
            threshold = threshold.view(levels, *([1] * (x.dim() - 2)))
        else:
            threshold = threshold.view(())
        decay, gain = self.decay, self.input_gain
        v = torch.zeros_like(x[0])
        out = []
        for x_t in x:
            v_pre = decay * v + gain * x_t
            s = spike(v_pre - threshold, self.surrogate, self.inclusive)
            s_reset = s.detach() if self.detach_reset else s
            if self.reset == "hard":
                v = v_pre * (1 - s_reset) + self.v_reset * s_reset
            else:
                v = v_pre - threshold * s_reset
            out.append(s.sum(0) if levels > 1 else s)
        return torch.stack(out)

    def extra_repr(self) -> str:
        cmp = ">=" if self.inclusive else ">"
        decay, gain = (float(torch.as_tensor(v).detach()) for v in (self.decay, self.input_gain))
        return (f"thresholds={self.thresholds}, decay={decay:.4g}, input_gain={gain:.4g}, "
                f"spike: v {cmp} threshold, reset={self.reset}")


class STBPLIF(SpikingNeuron):
    """Iterative LIF of STBP / tdBN: ``u = k_tau * u * (1 - o) + x``, ``o = [u > Vth]`` (hard reset to 0).

    Rectangular surrogate of width ``a`` (Wu et al. 2018, tdBN eq. 16)."""

    def __init__(self, threshold=0.5, decay=0.25, width=1.0):
        super().__init__((threshold,), decay, 1.0, inclusive=False, reset="hard", surrogate=Rectangle(width))


class MLF(SpikingNeuron):
    """Multi-level firing unit (Feng et al. 2022): ``levels`` STBP LIF neurons sharing one input, with thresholds
    ``Vth_k = vth1 + (k-1) * spacing``, each with its own membrane and reset and its own rectangular surrogate of
    width ``spacing``. Output: the sum of level spikes, in ``{0..levels}``. ``levels=1`` is the plain STBP LIF."""

    def __init__(self, levels=3, vth1=0.6, spacing=1.0, decay=0.25):
        thresholds = [vth1 + k * spacing for k in range(levels)]
        super().__init__(thresholds, decay, 1.0, inclusive=False, reset="hard", surrogate=Rectangle(spacing))


class IFNode(SpikingNeuron):
    """SpikingJelly IF: ``H = V + X``, ``S = [H >= V_th]``; hard reset to ``v_reset`` (``None``: soft reset)."""

    def __init__(self, v_threshold=1.0, v_reset=0.0, surrogate=ATan(2.0), detach_reset=True):
        super().__init__((v_threshold,), 1.0, 1.0, inclusive=True, reset="hard" if v_reset is not None else "soft",
                         v_reset=v_reset or 0.0, surrogate=surrogate, detach_reset=detach_reset)


class LIFNode(SpikingNeuron):
    """SpikingJelly LIF: ``H = V + (X - (V - V_reset)) / tau`` with ``decay_input`` (else ``H = V - (V - V_reset)/tau + X``).

    With ``v_reset = 0`` this is ``decay = 1 - 1/tau`` and ``input_gain = 1/tau`` (or 1), which is the form computed here."""

    def __init__(self, tau=2.0, decay_input=True, v_threshold=1.0, v_reset=0.0, surrogate=ATan(2.0), detach_reset=True):
        if tau <= 1:
            raise ValueError(f"LIFNode needs tau > 1, got {tau}")
        if v_reset not in (None, 0, 0.0):
            raise ValueError("LIFNode supports v_reset = 0 (hard) or None (soft)")
        super().__init__((v_threshold,), 1 - 1 / tau, 1 / tau if decay_input else 1.0, inclusive=True,
                         reset="hard" if v_reset is not None else "soft", surrogate=surrogate, detach_reset=detach_reset)
        self.tau = float(tau)
        self.decay_input = bool(decay_input)


class PLIFNode(SpikingNeuron):
    """SpikingJelly parametric LIF (Fang et al. 2021): LIF with a learned time constant, ``1/tau = sigmoid(w)``,
    ``w`` initialised so that ``tau = init_tau``. ``decay = 1 - sigmoid(w)``, ``input_gain = sigmoid(w)`` (decay_input)."""

    def __init__(self, init_tau=2.0, decay_input=True, v_threshold=1.0, v_reset=0.0, surrogate=ATan(2.0),
                 detach_reset=True):
        if init_tau <= 1:
            raise ValueError(f"PLIFNode needs init_tau > 1, got {init_tau}")
        if v_reset not in (None, 0, 0.0):
            raise ValueError("PLIFNode supports v_reset = 0 (hard) or None (soft)")
        super().__init__((v_threshold,), inclusive=True, reset="hard" if v_reset is not None else "soft",
                         surrogate=surrogate, detach_reset=detach_reset)
        self.w = nn.Parameter(torch.tensor(-math.log(init_tau - 1.0)))
        self.decay_input = bool(decay_input)

    @property
    def decay(self):
        return 1 - torch.sigmoid(self.w)

    @property
    def input_gain(self):
        return torch.sigmoid(self.w) if self.decay_input else 1.0
