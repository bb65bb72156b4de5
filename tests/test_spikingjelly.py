"""SpikingJelly 2.x models compile with no adapter: its model zoo's ``sew_resnet18`` (ADD with IF neurons, IAND with
LIF neurons) and ``spiking_resnet18`` in multi-step mode, and a small single-step net. For each, through the public
API (``trace``) and through the command line's factory path (``snncompile compile net.py:build --weights ...``):
the float simulation fires SpikingJelly's own spikes at every neuron and timestep (float64 on both sides), and the
integer artifact runs spike for spike the same on the NumPy simulator and onnxruntime (and, for the small net, Lava).

SpikingJelly's zoo modules import torchvision only for ``load_state_dict_from_url``; there is no CPU torchvision
here, so :func:`import_zoo` gives that one name a stand-in while they import (test-only).
"""

import sys
import textwrap
import types

import numpy as np
import pytest
import torch
from spikingjelly.activation_based import functional, layer, neuron

from conftest import lively
from snncompile.backends import get_backend
from snncompile.backends.numpy.simulator import simulate
from snncompile.cli.main import main
from snncompile.compiler import compile as compile_model
from snncompile.compiler import load_artifact
from snncompile.errors import UnsupportedModuleError, UnsupportedNodeError
from snncompile.frontend import trace

T, BATCH, SIDE = 2, 2, 16


def import_zoo():
    """SpikingJelly's ``sew_resnet`` and ``spiking_resnet`` modules, imported with a stand-in torchvision that is
    removed again at once."""
    names = ("torchvision", "torchvision._internally_replaced_utils")
    added = [name for name in names if name not in sys.modules]
    stand_in = types.ModuleType(names[1])
    stand_in.load_state_dict_from_url = None  # never called: no pretrained weights are fetched
    sys.modules.setdefault(names[0], types.ModuleType(names[0]))
    sys.modules.setdefault(names[1], stand_in)
    try:
        from spikingjelly.activation_based.model import sew_resnet, spiking_resnet
    finally:
        for name in added:
            del sys.modules[name]
    return sew_resnet, spiking_resnet


sew_resnet, spiking_resnet = import_zoo()

# name -> (source of the factory's body, step mode); the factory file imports what these use
MODELS = {
    "sew_resnet18_add_if": ("sew_resnet.sew_resnet18(spiking_neuron=neuron.IFNode, cnf='ADD', num_classes=10, "
                            "detach_reset=True)", "m"),
    "spiking_resnet18_if": ("spiking_resnet.spiking_resnet18(spiking_neuron=neuron.IFNode, num_classes=10)", "m"),
    "sew_resnet18_iand_lif": ("sew_resnet.sew_resnet18(spiking_neuron=neuron.LIFNode, tau=2.0, cnf='IAND', "
                              "num_classes=10)", "m"),
    "single_step_net": ("nn.Sequential(layer.Conv2d(3, 8, 3, padding=1), layer.BatchNorm2d(8), "
                        "neuron.LIFNode(tau=2.0, decay_input=False), layer.MaxPool2d(2), "
                        "layer.Conv2d(8, 8, 3, padding=1, stride=2), layer.BatchNorm2d(8), neuron.IFNode(), "
                        "layer.Flatten(), layer.Linear(8 * 4 * 4, 10))", "s"),
}
FACTORY = """
    from torch import nn
    from spikingjelly.activation_based import functional, layer, neuron
    from spikingjelly.activation_based.model import sew_resnet, spiking_resnet


    def build():
        net = {body}
        functional.set_step_mode(net, "{mode}")
        return net.double()
"""


def build(name: str):
    """The model of ``MODELS[name]``, seeded, with BN statistics that make random weights fire, in float64."""
    body, mode = MODELS[name]
    torch.manual_seed(0)
    net = eval(body, {"sew_resnet": sew_resnet, "spiking_resnet": spiking_resnet, "neuron": neuron,
                      "layer": layer, "nn": torch.nn})
    functional.set_step_mode(net, mode)
    return lively(net).double().eval()


def spikingjelly_run(net, x, steps: int = T) -> tuple:
    """Every SpikingJelly neuron's spikes ``[T, B, ...]`` and the logits averaged over time, as its users run it:
    multi-step nets on the image repeated ``T`` times, single-step nets called once per step."""
    single = all(m.step_mode == "s" for m in net.modules() if isinstance(m, neuron.BaseNode))
    captured = {}
    hooks = [m.register_forward_hook(lambda m, i, o, name=name: captured.setdefault(name, []).append(o.numpy()))
             for name, m in net.named_modules() if isinstance(m, neuron.BaseNode)]
    with torch.no_grad():
        if single:
            logits = torch.stack([net(x) for _ in range(steps)]).mean(0)
        else:
            logits = net(x.unsqueeze(0).repeat(steps, *([1] * x.dim()))).mean(0)
    for hook in hooks:
        hook.remove()
    functional.reset_net(net)
    spikes = {name: np.stack(outputs) if single else outputs[0] for name, outputs in captured.items()}
    return spikes, logits.numpy()


def assert_fires_like(graph, spikes: dict, logits, x) -> dict:
    """The float ``graph`` simulated on ``x`` fires ``spikes`` at every named neuron and returns ``logits``."""
    result = simulate(graph, x.numpy(), T, record=list(spikes))
    for name, expected in spikes.items():
        assert np.array_equal(result.recorded[name], expected), f"{name}: spikes differ from the reference"
    assert 0 < np.mean([s.mean() for s in spikes.values()]) < 1, "the network must fire, and not everywhere"
    np.testing.assert_allclose(result.output, logits, rtol=0, atol=1e-9)
    return result.recorded


def assert_backends_agree(graph, float_graph, inputs) -> dict:
    """The integer ``graph`` fires the same spikes and gives the same logits on NumPy and onnxruntime; returns its
    agreement with the float graph it was quantized from (share of equal predictions, and of equal spikes over all
    neurons of every population)."""
    numpy_run = simulate(graph, inputs, T, record="all")
    onnx_run = get_backend("onnx").run(graph, inputs, T, record="all")
    np.testing.assert_array_equal(onnx_run.output, numpy_run.output)
    for name, recorded in numpy_run.recorded.items():
        np.testing.assert_array_equal(onnx_run.recorded[name], recorded, err_msg=name)
    populations = [n.name for n in graph if n.op.role == "neuron"]
    reference = simulate(float_graph, inputs, T, record=populations)
    return {"predictions": float(np.mean(numpy_run.output.argmax(1) == reference.output.argmax(1))),
            "spikes": float(np.mean([(numpy_run.recorded[p] == reference.recorded[p]).mean() for p in populations]))}


def compile_from_code(tmp_path, name: str, net, *, nested: bool = False, target: str = "numpy"):
    """``snncompile compile net.py:build --weights weights.pt --input-shape 3,S,S --T 2`` of model ``name`` with
    ``net``'s weights (nested under ``"model"`` with ``nested``); the artifact directory."""
    body, mode = MODELS[name]
    factory = tmp_path / "net.py"
    factory.write_text(textwrap.dedent(FACTORY).format(body=body, mode=mode))
    weights = tmp_path / "weights.pt"
    state_dict = net.state_dict()
    torch.save({"model": state_dict, "epoch": 3} if nested else state_dict, weights)
    artifact = tmp_path / f"{name}.{target}"
    assert main(["compile", f"{factory}:build", "--weights", str(weights), "--input-shape", f"3,{SIDE},{SIDE}",
                 "--T", str(T), "--target", target, "-o", str(artifact)]) == 0
    return artifact


@pytest.mark.parametrize("name", sorted(MODELS))
def test_spikingjelly_models_compile_exactly_through_the_api_and_the_command_line(name, tmp_path, capsys):
    net = build(name)
    x = torch.rand(BATCH, 3, SIDE, SIDE, dtype=torch.float64, generator=torch.Generator().manual_seed(1))
    spikes, logits = spikingjelly_run(net, x)
    graph = trace(net, x, T=T)
    assert graph.metadata["encoding"] == "direct" and graph[graph.outputs[0]].op.kind == "Readout"
    assert_fires_like(graph, spikes, logits, x)

    integer, lowered, report = load_artifact(compile_from_code(tmp_path, name, net, nested=name.startswith("sew")))
    assert f"for numpy: 8-bit weights, T={T}" in capsys.readouterr().out
    assert_fires_like(lowered, spikes, logits, x)  # the command line traced the same network
    inputs = torch.rand(8, 3, SIDE, SIDE, generator=torch.Generator().manual_seed(2)).numpy()
    agreement = assert_backends_agree(integer, lowered, inputs)
    assert agreement["spikes"] > 0.8


@pytest.mark.lava
def test_the_single_step_net_compiled_for_lava_fires_the_simulators_spikes(tmp_path):
    from test_lava import assert_same_as_integer_simulator

    integer, _, _ = load_artifact(compile_from_code(tmp_path, "single_step_net", build("single_step_net"),
                                                    target="lava"))
    inputs = torch.rand(2, 3, SIDE, SIDE, generator=torch.Generator().manual_seed(3)).numpy()
    _, expected = assert_same_as_integer_simulator(integer, inputs, T)
    assert 0 < np.mean([expected.recorded[n.name].mean() for n in integer if n.op.kind == "IntLIF"]) < 1


def test_soft_reset_is_simulated_in_float_and_refused_by_name_for_a_chip():
    net = torch.nn.Sequential(layer.Flatten(), layer.Linear(12, 6), neuron.IFNode(v_reset=None),
                              layer.Linear(6, 3)).double()
    x = torch.rand(4, 3, 2, 2, dtype=torch.float64) * 3
    spikes, logits = spikingjelly_run(net, x)
    graph = trace(net, x, T=T)
    assert graph["2"].op.reset == "soft" and graph["2"].op.inclusive
    assert_fires_like(graph, spikes, logits, x)
    with pytest.raises(UnsupportedNodeError, match=r"node '2' \(LIF\): soft reset"):
        compile_model(net, x, T=T, target="lava")


class ReusesNeuron(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.fc1, self.fc2, self.fc3 = layer.Linear(4, 4), layer.Linear(4, 4), layer.Linear(4, 2)
        self.sn = neuron.IFNode()

    def forward(self, x):
        return self.fc3(self.sn(self.fc2(self.sn(self.fc1(x)))))


def test_a_spikingjelly_neuron_called_twice_is_refused_since_its_state_carries_over():
    with pytest.raises(UnsupportedModuleError, match=r"module 'sn' \(IFNode\) at test_spikingjelly.py:\d+ .* is "
                                                     r"called a second time.*give each call its own neuron"):
        trace(ReusesNeuron(), torch.rand(2, 4), T=T)


@pytest.mark.parametrize("module, message", [
    (neuron.IFNode(v_reset=-0.5, step_mode="m"), r"module '1' \(spikingjelly.*IFNode\).*v_reset=-0.5"),
    (layer.Dropout(0.5, step_mode="m"), None),
    (neuron.IFNode(step_mode="s"), r"module '1' .*single-step neuron given \[T, B, ...\] sequences.*step_mode='m'"),
])
def test_a_neuron_the_ir_cannot_hold_is_refused_naming_it(module, message):
    net = torch.nn.Sequential(layer.Conv2d(1, 2, 3, step_mode="m"), module, layer.Flatten(step_mode="m"),
                              layer.Linear(8, 2, step_mode="m"))
    if message is None:  # dropout: the identity at inference
        assert [n.op.kind for n in trace(net, torch.rand(2, 1, 4, 4), T=T)] == ["Input", "Conv2d", "Flatten",
                                                                                 "Readout"]
        return
    with pytest.raises(UnsupportedModuleError, match=message):
        trace(net, torch.rand(2, 1, 4, 4), T=T)
