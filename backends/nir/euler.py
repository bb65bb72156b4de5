"""The discretisation convention between our discrete neurons and NIR's continuous-time ones.

NIR states neurons as differential equations; a simulator steps them with some ``dt``. Like the common exporters
(snnTorch, Norse, Sinabs), snncompile reads them by **forward Euler with** ``dt = 1e-4``. For NIR's LIF,
``tau dv/dt = (v_leak - v) + r I`` becomes::

    v[t] = (1 - dt/tau) v[t-1] + (dt/tau) v_leak + (dt/tau) r I[t]

which is our LIF ``v = decay * v + input_gain * I`` when::

    tau = dt / (1 - decay)        r = input_gain / (1 - decay)        v_leak = 0

(biases live on the synapses, as in our graphs). A neuron without leak (``decay = 1``) is NIR's IF, ``dv/dt = r I``:
``r = input_gain / dt``. Both fire when ``v > v_threshold`` and then set ``v = v_reset`` (hard reset; 0 on chip).
"""

import numpy as np

DT = 1e-4


def lif_parameters(decay: float, input_gain: float) -> dict:
    """NIR ``tau`` and ``r`` of a leaky neuron (``decay < 1``)."""
    return {"tau": DT / (1.0 - decay), "r": input_gain / (1.0 - decay)}


def if_resistance(input_gain: float) -> float:
    """NIR ``r`` of a neuron without leak."""
    return input_gain / DT


def lif_decay_and_gain(tau: float, r: float) -> tuple:
    """``(decay, input_gain)`` of a NIR LIF's ``tau`` and ``r``."""
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
