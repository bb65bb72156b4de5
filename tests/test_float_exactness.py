"""The float simulation of a traced graph reproduces the PyTorch model: the same spikes at every neuron node and
timestep, and the same output to 1e-5, for every zoo family.

Both sides compute in float64: two correct float32 convolutions sum in different orders, and a membrane that lands
within rounding of its threshold would then fire on one side only. In float64 that takes a coincidence of ~1e-16.
"""

import copy

import numpy as np
import pytest
import torch

from conftest import TRAINED, lively, tiny_config
from snncompile.backends.numpy.simulator import simulate
from snncompile.frontend import trace
from snncompile.models import build
from snncompile.models.layers import SEWConnect
from snncompile.models.neurons import SpikingNeuron

FAMILIES = {
    "mlf_k1": ("mlf_dsresnet14", dict(levels=1)),
    "mlf_k2": ("mlf_dsresnet14", dict(levels=2)),
    "mlf_k3": ("mlf_dsresnet20", dict(levels=3)),
    "spiking_resnet": ("spiking_resnet14", {}),
    "resnet_snn": ("resnet_snn14", {}),
    "tdbn_resnet19": ("tdbn_resnet19", {}),
    "tdbn_resnet17_frames": ("tdbn_resnet17", dict(in_channels=2, encoding="frames")),
    "sew_add_if": ("sew_resnet18", dict(connect="ADD", neuron="IF")),
    "sew_and_lif": ("sew_resnet18", dict(connect="AND", neuron="LIF", tau=3.0)),
    "sew_iand_plif": ("sew_resnet34", dict(connect="IAND", neuron="PLIF")),
    "sew_imagenet_stem": ("sew_resnet18", dict(stem="imagenet")),
    "sew_bottleneck": ("sew_resnet50", dict(width=2)),
    "7bnet_add_maxpool": ("sew_7bnet", dict(in_channels=2, encoding="frames", connect="ADD")),
    "sbp": ("sbp_resnet18", {}),
}


def family_model(key: str, seed: int = 0):
    arch, overrides = FAMILIES[key]
    config = {**tiny_config(arch, width=6, T=3), **overrides}
    torch.manual_seed(seed)
    return lively(build(arch, **config), seed).double().eval(), config


def family_input(config, batch=4, seed=0):
    generator = torch.Generator().manual_seed(seed)
    if config["encoding"] == "frames":
        return (torch.rand(config["T"], batch, config["in_channels"], 8, 8, generator=generator) > 0.6).double()
    return torch.rand(batch, config["in_channels"], 8, 8, generator=generator, dtype=torch.float64)


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
