"""The discretisation convention between our discrete neurons and NIR's continuous-time ones.

NIR states neurons as differential equations; a simulator steps them with some ``dt``. Like the common exporters
(snnTorch, Norse, Sinabs), snncompile reads them by **forward Euler with** ``dt = 1e-4``. For NIR's LIF,
``tau dv/dt = (v_leak - v) + r I`` becomes::

    v[t] = (1 - dt/tau) v[t-1] + (dt/tau) v_leak + (dt/tau) r I[t]

which is our LIF ``v = decay * v + input_gain * I`` when::

    tau = dt / (1 - decay)        r = input_gain / (1 - decay)        v_leak = 0

(biases live on the synapses, as in our graphs). A neuron without leak (``decay = 1``) is NIR's IF, ``dv/dt = r I``:
``r = input_gain / dt``. Both fire when ``v > v_threshold`` and then set ``v = v_reset`` (hard reset; 0 on chip).

A neuron whose current has memory (an IntLIF keeping ``current_decay = Du / 4096`` of its current ``u``) is NIR's
CubaLIF, ``tau_syn dI/dt = -I + w_in S`` and ``tau_mem dv/dt = (v_leak - v) + r I``. The current is stepped first and
the membrane reads the new current, as on the chip::

    I[t] = (1 - dt/tau_syn) I[t-1] + (dt/tau_syn) w_in S[t]
    v[t] = (1 - dt/tau_mem) v[t-1] + (dt/tau_mem) v_leak + (dt/tau_mem) r I[t]

which is ``u = current_decay * u + S``, ``v = decay * v + bias + input_gain * u`` when ``tau_syn = dt / (1 -
current_decay)``, ``w_in = 1 / (1 - current_decay)``, ``tau_mem`` and ``r`` as for the LIF, and ``v_leak = bias / (1 -
decay)``: the bias enters the membrane each step (on a synapse it would enter the decaying current). CubaLIF has no
form without membrane leak (``decay = 1`` would need ``tau_mem = r = inf``). A CubaLIF with ``tau_syn = dt`` is a LIF
with an input gain ``w_in``.
"""

import numpy as np

DT = 1e-4


def lif_parameters(decay: float, input_gain: float) -> dict:
    """NIR ``tau`` and ``r`` of a leaky neuron (``decay < 1``)."""
    return {"tau": DT / (1.0 - decay), "r": input_gain / (1.0 - decay)}


def cuba_parameters(current_decay: float, decay: float, input_gain: float, bias) -> dict:
    """NIR CubaLIF ``tau_syn``, ``w_in``, ``tau_mem``, ``r`` and ``v_leak`` of a neuron keeping ``current_decay`` of
    its current and ``decay`` of its membrane per step (both below 1), adding ``bias`` to its membrane."""
    current, membrane = lif_parameters(current_decay, 1.0), lif_parameters(decay, input_gain)
    return {"tau_syn": current["tau"], "w_in": current["r"], "tau_mem": membrane["tau"], "r": membrane["r"],
            "v_leak": np.asarray(bias, np.float64) / (1.0 - decay)}


def if_resistance(input_gain: float) -> float:
    """NIR ``r`` of a neuron without leak."""
    return input_gain / DT


def lif_decay_and_gain(tau: float, r: float) -> tuple:
    """``(decay, input_gain)`` of a NIR LIF's ``tau`` and ``r``."""
    if not 0 < tau < np.inf:
        raise ValueError(f"tau must be a positive, finite time constant, got {tau}")
    step = DT / tau
    return 1.0 - step, r * step


def if_gain(r: float) -> float:
    """``input_gain`` of a NIR IF's ``r``."""
    return r * DT


def uniform(values, what: str) -> float:
    """The one value of a per-neuron parameter array; our populations share their parameters."""
    values = np.asarray(values, np.float64)
    if values.size == 0 or not np.all(values == values.flat[0]):
        raise ValueError(f"{what} differs between neurons; snncompile populations share one value")
    return float(values.flat[0])
