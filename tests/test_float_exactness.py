"""The float simulation of a traced graph reproduces the PyTorch model: the same spikes at every neuron node and
timestep, and the same output to 1e-5, for every zoo family.

Both sides compute in float64: two correct float32 convolutions sum in different orders, and a membrane that lands
within rounding of its threshold would then fire on one side only. In float64 that takes a coincidence of ~1e-16.
"""

import copy

import numpy as np
import pytest
import torch

from conftest import FAMILIES, TRAINED, family_input, family_model
from snncompile.backends.numpy.simulator import simulate
from snncompile.frontend import trace
from snncompile.models.layers import SEWConnect
from snncompile.models.neurons import SpikingNeuron


def torch_spikes(model, x):
    """Output of every neuron (and SEW join) module, ``[T, B, ...]``, and the logits."""
    captured = {}
    hooks = [m.register_forward_hook(lambda m, i, o, name=name: captured.__setitem__(name, o.numpy()))
             for name, m in model.named_modules() if isinstance(m, (SpikingNeuron, SEWConnect))]
    with torch.no_grad():
        logits = model(x).numpy()
    for hook in hooks:
        hook.remove()
    return captured, logits


def assert_simulation_matches(model, x):
    graph = trace(model, x)
    expected, logits = torch_spikes(model, x)
    inputs = x.numpy()
    result = simulate(graph, inputs, graph.metadata["T"], record="all")
    for name, spikes in expected.items():
        assert np.array_equal(result.recorded[name], spikes), f"spikes differ at {name}"
    assert sum(s.sum() for s in expected.values()) > 0
    np.testing.assert_allclose(result.output, logits, rtol=0, atol=1e-5)
    return result


@pytest.mark.parametrize("family", sorted(FAMILIES))
def test_random_weights_reproduce_pytorch(family):
    model, config = family_model(family)
    assert_simulation_matches(model, family_input(config))


@pytest.mark.parametrize("family", sorted(TRAINED))
def test_trained_digits_checkpoints_reproduce_pytorch(trained, family):
    model, data, _ = trained(family)
    model = copy.deepcopy(model).double()
    result = assert_simulation_matches(model, data.test_x[:32].double())
    with torch.no_grad():
        torch_predictions = model(data.test_x[:32].double()).argmax(1).numpy()
    assert np.array_equal(result.output.argmax(1), torch_predictions)
