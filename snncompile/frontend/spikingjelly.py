"""SpikingJelly 2.x ``activation_based`` modules, converted by type (imported only for models that hold them).

Neurons (``neuron.IFNode``, ``LIFNode``, ``ParametricLIFNode``) charge, then fire at ``v >= v_threshold``
(SpikingJelly's Heaviside is 1 at 0), then reset: to ``v_reset`` (hard) or, with ``v_reset=None``, by subtracting
the threshold (soft; simulated, refused for Loihi by the target's support check). With ``v_reset = 0``::

    IFNode                          H = V + X                        decay 1,            input gain 1
    LIFNode(tau, decay_input=True)  H = V + (X - V) / tau            decay 1 - 1/tau,    input gain 1/tau
    LIFNode(tau, decay_input=False) H = V - V / tau + X              decay 1 - 1/tau,    input gain 1
    ParametricLIFNode               as LIFNode with 1/tau = sigmoid(w), frozen at compile time

A non-zero ``v_reset`` also starts the membrane there and (for LIF) leaks towards it: no IR neuron has that, so it is
refused. ``detach_reset`` and the surrogate only shape gradients. ``layer.*`` wrappers are their torch layers applied
per timestep in either step mode; ``SeqToANNContainer`` and ``MultiStepContainer`` are their children in turn;
``ThresholdDependentBatchNorm*d`` keeps ``alpha * v_th`` in its weight, so it folds as a plain BN; ``Dropout`` is the
identity at inference.
"""

import torch
from spikingjelly.activation_based import base, layer, neuron

from ..ir.ops import LIF
from . import layers
from .registry import Chain


def _reset(module) -> dict:
    if module.v_reset is not None and module.v_reset != 0:
        raise ValueError(f"v_reset={module.v_reset}: the membrane would start at and leak towards a non-zero reset "
                         "value, which no IR neuron has; use v_reset=0.0 (hard reset) or None (soft reset)")
    return {"reset": "soft" if module.v_reset is None else "hard", "v_reset": 0.0, "inclusive": True,
            "threshold": float(module.v_threshold), "model": type(module).__name__}


def if_node(path, module, info):
    return LIF(decay=1.0, input_gain=1.0, **_reset(module))


def lif_node(path, module, info):
    leak = 1.0 / float(module.tau)
    return LIF(decay=1.0 - leak, input_gain=leak if module.decay_input else 1.0, **_reset(module))


def parametric_lif_node(path, module, info):
    leak = float(torch.sigmoid(module.w.detach().to(torch.float64)))
    return LIF(decay=1.0 - leak, input_gain=leak if module.decay_input else 1.0, **_reset(module))


def children(path, module, info):
    return Chain(tuple(module.named_children()))


CONVERTERS = {
    neuron.IFNode: if_node,
    neuron.LIFNode: lif_node,
    neuron.ParametricLIFNode: parametric_lif_node,
    layer.Conv2d: layers.conv2d,
    layer.Linear: layers.linear,
    layer.BatchNorm1d: layers.batch_norm,
    layer.BatchNorm2d: layers.batch_norm,
    layer.ThresholdDependentBatchNorm1d: layers.batch_norm,
    layer.ThresholdDependentBatchNorm2d: layers.batch_norm,
    layer.MaxPool2d: layers.max_pool,
    layer.AvgPool2d: layers.avg_pool,
    layer.AdaptiveAvgPool2d: layers.adaptive_avg_pool,
    layer.Flatten: layers.flatten,
    layer.Dropout: layers.identity,
    layer.Dropout2d: layers.identity,
    layer.SeqToANNContainer: children,
    layer.MultiStepContainer: children,
}
NEURONS = (neuron.IFNode, neuron.LIFNode, neuron.ParametricLIFNode)


def converter(module):
    """The converter ``(path, module, info) -> op`` of a SpikingJelly module, or ``None`` for a type this frontend
    does not know."""
    return CONVERTERS.get(type(module))


def keeps_state(module) -> bool:
    """A module whose state (a membrane) carries over from one call to the next until ``reset()``."""
    return isinstance(module, NEURONS)


def is_step_module(module) -> bool:
    """A SpikingJelly neuron or layer (stepped in time), as opposed to a network built from them."""
    return isinstance(module, base.StepModule)


def takes_sequences(module) -> bool | None:
    """Whether ``module`` reads ``[T, B, ...]`` sequences (multi-step mode, containers), or one timestep
    (single-step neurons); ``None`` for single-step stateless layers, which apply to any batch."""
    if isinstance(module, (layer.SeqToANNContainer, layer.MultiStepContainer)):
        return True
    mode = getattr(module, "step_mode", "s")
    if mode == "m":
        return True
    return False if isinstance(module, NEURONS) else None


def reset_states(model) -> None:
    """Put every SpikingJelly state (membranes, dropout masks) back to its initial value."""
    for module in model.modules():
        if isinstance(module, base.MemoryModule):
            module.reset()
