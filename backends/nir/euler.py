"""The discretisation convention between our discrete neurons and NIR's continuous-time ones: the one place it is
written down (the README's NIR section quotes it).

NIR states neurons as differential equations; a simulator steps them with some ``dt`` that the file does not record.
snncompile steps them by **forward Euler with** ``dt`` (:data:`DT` = 1e-4 unless ``--dt`` says otherwise: snnTorch
and SpikingJelly write with 1e-4; Norse runs at 1e-3 by default, and its ``to_nir`` writes ``tau = dt /
tau_mem_inv`` for its ``dt`` argument, so a Norse network exported with ``dt=1`` (tau in seconds) reads with ``--dt
1e-3``; sinabs counts time in steps, i.e. ``dt = 1``).
For NIR's LIF, ``tau dv/dt = (v_leak - v) + r I`` becomes::

    v[t] = (1 - dt/tau) v[t-1] + (dt/tau) v_leak + (dt/tau) r I[t]

which is our LIF ``v = decay * v + input_gain * I`` when::

    tau = dt / (1 - decay)        r = input_gain / (1 - decay)        v_leak = 0

(biases live on the synapses, as in our graphs). A neuron without leak (``decay = 1``) is NIR's IF, ``dv/dt = r I``:
snncompile writes ``r = input_gain / dt``, the equation stepped with ``dt`` (as SpikingJelly reads and writes it).
Norse, sinabs and snnTorch write ``r = 1`` for an IF and add their input as it is, whatever ``dt``; so an IF's ``r``
is read in either convention: ``r = 1/dt`` and ``r = 1`` are both an input gain of 1 (they coincide at ``dt = 1``),
and any other ``r`` is a gain of ``r * dt``. Neurons fire when ``v > v_threshold`` and then set ``v = v_reset``
(hard reset; 0 on chip); SpikingJelly and sinabs fire at ``v >= v_threshold``, which only differs when a membrane
lands exactly on the threshold (float graphs: practically never; integer NIR sets thresholds half way between
integers, so that both rules give the same spikes).

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

**Integer NIR** (``model.int.nir``, the chip's integers as a float network): weights, biases and thresholds in
integer units stored as floats, ``decay = D/4096`` (``Du/4096`` for the current), thresholds ``theta + 0.5`` (integer
membranes: ``v > theta`` iff ``v >= theta + 0.5``), and the readout divided by its scale, so that its output is the
float logits. The host computes the first layer from analog input and rounds its current to integers (``rint(x *
scale)``, half to even) before the chip sees it; NIR has no rounding, so the file holds that layer with the scale
folded into its weights and a tool running it sees the current unrounded. What a float tool cannot reproduce: the
rounding just named and the chip's truncating leak (``v * D >> 12``); networks without leak, fed events, are exact.
"""

import numpy as np

DT = 1e-4


def lif_parameters(decay: float, input_gain: float, dt: float = DT) -> dict:
    """NIR ``tau`` and ``r`` of a leaky neuron (``decay < 1``)."""
    return {"tau": dt / (1.0 - decay), "r": input_gain / (1.0 - decay)}


def cuba_parameters(current_decay: float, decay: float, input_gain: float, bias, dt: float = DT) -> dict:
    """NIR CubaLIF ``tau_syn``, ``w_in``, ``tau_mem``, ``r`` and ``v_leak`` of a neuron keeping ``current_decay`` of
    its current and ``decay`` of its membrane per step (both below 1), adding ``bias`` to its membrane."""
    current, membrane = lif_parameters(current_decay, 1.0, dt), lif_parameters(decay, input_gain, dt)
    return {"tau_syn": current["tau"], "w_in": current["r"], "tau_mem": membrane["tau"], "r": membrane["r"],
            "v_leak": np.asarray(bias, np.float64) / (1.0 - decay)}


def if_resistance(input_gain: float, dt: float = DT) -> float:
    """NIR ``r`` of a neuron without leak."""
    return input_gain / dt


def lif_decay_and_gain(tau: float, r: float, dt: float = DT) -> tuple:
    """``(decay, input_gain)`` of a NIR LIF's ``tau`` and ``r``."""
    if not 0 < tau < np.inf:
        raise ValueError(f"tau must be a positive, finite time constant, got {tau}")
    if tau < dt:
        raise ValueError(f"tau = {tau:g} is shorter than dt = {dt:g}: forward Euler would overshoot (decay "
                         f"{1 - dt / tau:g}); pass the time step the network runs at (--dt). Norse 1.1's to_nir "
                         f"writes tau = its dt argument / tau_mem_inv: export with dt=1 for tau in seconds")
    step = dt / tau
    return 1.0 - step, r * step


def if_gain(r: float, dt: float = DT) -> float:
    """``input_gain`` of a NIR IF's ``r``: 1 for ``r = 1/dt`` and for ``r = 1``, else ``r * dt``."""
    return 1.0 if np.isclose(r, 1.0 / dt, rtol=1e-9) or r == 1 else r * dt


def uniform(values, what: str) -> float:
    """The one value of a per-neuron parameter array (or a scalar); our populations share their parameters."""
    values = np.asarray(values, np.float64)
    if values.size == 0 or not np.all(values == values.flat[0]):
        raise ValueError(f"{what} differs between neurons; snncompile populations share one value")
    return float(values.flat[0])
