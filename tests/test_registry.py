"""The public converter registry: a user maps their own module types to IR ops without editing snncompile — a
neuron, a layer subclass the built-in converters do not take, a container — and gets one clear error when the
converter's op does not compute what the module computed."""

import numpy as np
import pytest
import torch
from torch import nn

from snncompile.backends.numpy.simulator import simulate
from snncompile.errors import ConfigError, UnsupportedModuleError
from snncompile.frontend import Chain, register, trace, unregister
from snncompile.ir.ops import LIF, Conv2d

T = 3


class StepNeuron(nn.Module):
    """A multi-step IF neuron with a soft reset, ``[T, B, ...]`` in and out."""

    def __init__(self, threshold=1.0):
        super().__init__()
        self.threshold = threshold

    def forward(self, x):
        v, out = torch.zeros_like(x[0]), []
        for x_t in x:
            v = v + x_t
            s = (v > self.threshold).to(x.dtype)
            v = v - self.threshold * s
            out.append(s)
        return torch.stack(out)


class ScaledConv(nn.Conv2d):
    """A conv whose weight is scaled at run time (weight standardization and its kin): not a plain nn.Conv2d."""

    def forward(self, x):
        return self._conv_forward(x, self.weight * 0.5, self.bias)


class Block(nn.Module):
    """A block the user has converted child by child (a Chain), traced whole."""

    def __init__(self):
        super().__init__()
        self.conv = ScaledConv(2, 4, 3, padding=1)
        self.sn = StepNeuron(0.7)

    def forward(self, x):
        steps, batch = x.shape[:2]
        return self.sn(self.conv(x.flatten(0, 1)).unflatten(0, (steps, batch)))


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.block = Block()
        self.fc = nn.Linear(4 * 4 * 4, 3)

    def forward(self, x):
        x = x.unsqueeze(0).expand(T, *x.shape)
        return self.fc(self.block(x).flatten(2)).mean(0)


@pytest.fixture
def registered():
    """The converters of this file, registered for one test and removed after it."""
    register(StepNeuron, lambda m, info: LIF(threshold=m.threshold, reset="soft", model="StepNeuron"))

    @register(ScaledConv)
    def scaled_conv(module, info):
        return Conv2d(module.weight.detach().double().numpy() * 0.5, module.bias.detach().double().numpy(),
                      module.stride, module.padding)

    register(Block, lambda m, info: Chain((("conv", m.conv), ("sn", m.sn))))
    yield
    for module_type in (StepNeuron, ScaledConv, Block):
        unregister(module_type)


def test_registered_modules_trace_as_their_ops_and_fire_like_pytorch(registered):
    torch.manual_seed(0)
    model = Net().double().eval()
    x = torch.rand(2, 2, 4, 4, dtype=torch.float64) * 4
    graph = trace(model, x, T=T)
    assert [(n.name, n.op.kind) for n in graph] == [("input", "Input"), ("block.conv", "Conv2d"), ("block.sn", "LIF"),
                                                    ("flatten", "Flatten"), ("fc.readout", "Readout")]
    captured = []
    model.block.sn.register_forward_hook(lambda m, i, o: captured.append(o.numpy()))
    with torch.no_grad():
        logits = model(x).numpy()
    result = simulate(graph, x.numpy(), T, record=["block.sn"])
    assert np.array_equal(result.recorded["block.sn"], captured[0]) and 0 < captured[0].mean() < 1
    np.testing.assert_allclose(result.output, logits, atol=1e-9)


def test_without_its_converter_a_layer_subclass_is_refused_naming_it():
    model = nn.Sequential(ScaledConv(2, 4, 3), nn.Flatten(), nn.Linear(16 * 4, 3))
    with pytest.raises(UnsupportedModuleError, match=r"module '0' \(test_registry.ScaledConv\): no converter for this "
                                                     r"type.*snncompile.frontend.register"):
        trace(model, torch.rand(2, 2, 6, 6), T=T)


def test_a_converter_whose_op_does_not_fit_the_module_is_one_error(registered):
    register(ScaledConv, lambda m, info: Conv2d(np.ones((4, 2, 3, 3)), None))  # its padding forgotten
    with pytest.raises(UnsupportedModuleError, match=r"'block'.*PyTorch produced per-sample shape \(4, 4, 4\)"):
        trace(Net(), torch.rand(2, 2, 4, 4), T=T)


@pytest.mark.parametrize("module_type, converter, message", [
    (int, lambda m, i: None, "takes an nn.Module subclass"),
    (StepNeuron, "LIF", "must be callable"),
])
def test_register_refuses_what_it_cannot_use(module_type, converter, message):
    with pytest.raises(ConfigError, match=message):
        register(module_type, converter)
