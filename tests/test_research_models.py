"""Models written as published SNN repositories write them: time folded into the batch (``[T*B, C, H, W]``, and
batch-major ``[B*T, ...]``), shapes
computed with Python arithmetic (``int(x.shape[0] / T)``), one stateless neuron module called at every layer, and
tdBN variants of their own (``alpha * Vth`` scale; eps inside or outside the square root; a tdBN on the raw input),
taught to the frontend with registered converters. Through the public API and the command line's factory path the
float simulation fires the model's own spikes at every call of the neuron, and the integer network runs the same on
NumPy and onnxruntime.
"""

import textwrap

import numpy as np
import pytest
import torch

from conftest import lively
from snncompile import compile as compile_model
from snncompile.compiler import load_artifact
from snncompile.cli.main import main
from snncompile.errors import UnsupportedModuleError
from snncompile.frontend import trace
from test_spikingjelly import assert_backends_agree, assert_fires_like

T = 2
# The model file, as a user writes it: the research code, and the converters that teach snncompile its modules.
RESEARCH_CODE = '''
import torch
from torch import nn

from snncompile.frontend import register
from snncompile.ir.ops import LIF, BatchNorm

T, VTH = 2, 0.5


class LIFSpike(nn.Module):
    """Iterative LIF over time folded into the batch: u = tau * u * (1 - o) + x, o = [u > Vth]."""

    def __init__(self, tau=0.5):
        super().__init__()
        self.tau = tau

    def forward(self, x):
        x = x.view(T, int(x.shape[0] / T), *x.shape[1:])
        u, spikes = torch.zeros_like(x[0]), []
        for x_t in x:
            u = self.tau * u + x_t
            o = (u > VTH).to(x.dtype)
            u = u * (1 - o)
            spikes.append(o)
        return torch.stack(spikes).flatten(0, 1)


class TdBN(nn.BatchNorm2d):
    """tdBN at inference: alpha * Vth * (x - mean) / sqrt(var + eps) * weight + bias (eps outside the root when
    asked, as some reference code has it)."""

    def __init__(self, channels, alpha=1.0, eps_inside_sqrt=True):
        super().__init__(channels)
        self.alpha, self.eps_inside_sqrt = alpha, eps_inside_sqrt

    def forward(self, x):
        mean, var = self.running_mean[None, :, None, None], self.running_var[None, :, None, None]
        root = torch.sqrt(var + self.eps) if self.eps_inside_sqrt else torch.sqrt(var) + self.eps
        x = self.alpha * VTH * (x - mean) / root
        return x * self.weight[None, :, None, None] + self.bias[None, :, None, None]


class FoldedNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.bn0 = TdBN(3, alpha=1.0)
        self.conv1 = nn.Conv2d(3, 8, 3, padding=1, bias=False)
        self.bn1 = TdBN(8, alpha=1.0)
        self.conv2 = nn.Conv2d(8, 8, 3, padding=1, stride=2)
        self.bn2 = TdBN(8, alpha=0.7, eps_inside_sqrt=False)
        self.spike = LIFSpike()
        self.pool = nn.AvgPool2d(2)
        self.fc = nn.Linear(8 * 2 * 2, 10)

    def forward(self, x):
        x = x.unsqueeze(0).repeat(T, 1, 1, 1, 1)
        x = x.view(-1, *x.shape[2:])                         # [T*B, C, H, W]
        x = self.spike(self.bn1(self.conv1(self.bn0(x))))
        x = self.spike(self.bn2(self.conv2(x)))
        x = self.pool(x)
        x = x.view(x.shape[0], -1)
        x = self.fc(x)
        return x.view(T, int(x.shape[0] / T), -1).mean(0)


class BatchMajorSpike(nn.Module):
    """The same neuron on [B*T, ...]: batch-major folding, as other repositories keep time (u >= Vth fires)."""

    def forward(self, x):
        x = x.view(int(x.shape[0] / T), T, *x.shape[1:])
        u, spikes = torch.zeros_like(x[:, 0]), []
        for t in range(T):
            u = 0.5 * u + x[:, t]
            o = (u >= VTH).to(x.dtype)
            u = u * (1 - o)
            spikes.append(o)
        return torch.stack(spikes, dim=1).flatten(0, 1)


class BatchMajorNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 8, 3, padding=1)
        self.bn = nn.BatchNorm2d(8)
        self.spike = BatchMajorSpike()
        self.fc = nn.Linear(8 * 8 * 8, 10)

    def forward(self, x):
        x = x.unsqueeze(1).repeat(1, T, 1, 1, 1)             # [B, T, C, H, W]
        x = self.spike(self.bn(self.conv(x.flatten(0, 1))))  # [B*T, ...]
        x = x.view(-1, T, *x.shape[1:]).flatten(2)           # [B, T, N]
        return self.fc(x).mean(1)


register(LIFSpike, lambda m, info: LIF(threshold=VTH, decay=m.tau, model="LIFSpike"))
register(BatchMajorSpike, lambda m, info: LIF(threshold=VTH, decay=0.5, inclusive=True, model="BatchMajorSpike"))
register(TdBN, lambda m, info: BatchNorm(
    m.running_mean.double().numpy(), m.running_var.double().numpy(), m.weight.detach().double().numpy(),
    m.bias.detach().double().numpy(), m.eps, m.eps_inside_sqrt, m.alpha * VTH))


def build():
    return FoldedNet().double()


def build_batch_major():
    return BatchMajorNet().double()
'''


@pytest.fixture(scope="module")
def research(tmp_path_factory):
    """The research code as a module of its own (imported as a user's file is), and its file."""
    path = tmp_path_factory.mktemp("research") / "folded_net.py"
    path.write_text(textwrap.dedent(RESEARCH_CODE))
    namespace = {"__name__": "folded_net"}
    exec(compile(path.read_text(), str(path), "exec"), namespace)
    return namespace, path


def folded_model(research):
    namespace, _ = research
    torch.manual_seed(0)
    model = lively(namespace["build"](), shift=0.3)
    with torch.no_grad():
        model.bn0.running_var.fill_(0.08)  # the input's own statistics: pixels in [0, 1]
        model.bn0.running_mean.fill_(0.5)
    return model.eval()


def spikes_per_call(model, x) -> tuple:
    """The spikes of every call of the shared neuron module, ``[T, B, ...]``, named as the IR names its nodes."""
    calls = []
    hook = model.spike.register_forward_hook(lambda m, i, o: calls.append(o.view(T, -1, *o.shape[1:]).numpy()))
    with torch.no_grad():
        logits = model(x).numpy()
    hook.remove()
    return {("spike" if k == 0 else f"spike_{k}"): spikes for k, spikes in enumerate(calls)}, logits


def test_time_folded_model_with_a_reused_neuron_fires_its_own_spikes_and_compiles(research):
    model = folded_model(research)
    x = torch.rand(3, 3, 8, 8, dtype=torch.float64, generator=torch.Generator().manual_seed(1))
    spikes, logits = spikes_per_call(model, x)
    graph = trace(model, x, T=T)
    assert [n.name for n in graph if n.op.kind == "LIF"] == ["spike", "spike_1"]
    assert [n.op.kind for n in graph if n.name.startswith("bn")] == ["BatchNorm"] * 3
    assert graph["bn2"].op.eps_inside_sqrt is False and graph["bn2"].op.gain == pytest.approx(0.35)
    assert_fires_like(graph, spikes, logits, x)

    compiled = compile_model(model, x, T=T, target="numpy")
    assert "bn0" in compiled.float_graph and not any(n.op.kind == "BatchNorm" for n in compiled.float_graph
                                                     if n.name != "bn0")  # the input's tdBN stays on the host
    assert_fires_like(compiled.float_graph, spikes, logits, x)  # folding every other tdBN kept every spike
    inputs = torch.rand(8, 3, 8, 8, generator=torch.Generator().manual_seed(2)).numpy()
    assert assert_backends_agree(compiled.graph, compiled.float_graph, inputs)["spikes"] > 0.8


def test_batch_major_time_folding_traces_too(research):
    namespace, _ = research
    torch.manual_seed(0)
    model = lively(namespace["build_batch_major"]()).eval()
    x = torch.rand(3, 3, 8, 8, dtype=torch.float64, generator=torch.Generator().manual_seed(1))
    calls = []
    model.spike.register_forward_hook(lambda m, i, o: calls.append(o.view(-1, T, *o.shape[1:]).transpose(0, 1)))
    with torch.no_grad():
        logits = model(x).numpy()
    graph = trace(model, x, T=T)
    assert [n.op.kind for n in graph] == ["Input", "Conv2d", "BatchNorm", "LIF", "Flatten", "Readout"]
    assert_fires_like(graph, {"spike": calls[0].numpy()}, logits, x)
    compiled = compile_model(model, x, T=T, target="numpy")
    inputs = torch.rand(8, 3, 8, 8, generator=torch.Generator().manual_seed(2)).numpy()
    assert assert_backends_agree(compiled.graph, compiled.float_graph, inputs)["spikes"] > 0.8


def test_the_command_line_compiles_the_research_file_with_its_weights(research, tmp_path, capsys):
    namespace, path = research
    model = folded_model(research)
    torch.save({"state_dict": model.state_dict(), "optimizer": {"lr": torch.tensor(0.1)}}, tmp_path / "best.pth")
    x = torch.rand(3, 3, 8, 8, dtype=torch.float64, generator=torch.Generator().manual_seed(1))
    spikes, logits = spikes_per_call(model, x)
    assert main(["inspect", f"{path}:build", "--weights", str(tmp_path / "best.pth"), "--input-shape", "3,8,8",
                 "--T", str(T)]) == 0
    assert "spike_1" in capsys.readouterr().out
    out = tmp_path / "folded.onnx"
    assert main(["compile", f"{path}:build", "--weights", str(tmp_path / "best.pth"), "--input-shape", "3,8,8",
                 "--T", str(T), "--target", "onnx", "-o", str(out)]) == 0
    integer, lowered, _ = load_artifact(out)
    assert_fires_like(lowered, spikes, logits, x)
    assert (out / "model.onnx").is_file()


class ValueBranch(torch.nn.Module):
    def forward(self, x):
        x = x.unsqueeze(0).repeat(T, 1, 1, 1, 1)
        if x.mean() > 0.5:
            return x
        return -x


class UnknownNeuron(torch.nn.Module):
    def forward(self, x):
        return (x > 0).float()


class UsesUnknown(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = torch.nn.Conv2d(1, 2, 3)
        self.sn = UnknownNeuron()

    def forward(self, x):
        return self.sn(self.conv(x.unsqueeze(0).repeat(T, 1, 1, 1, 1).flatten(0, 1)))


@pytest.mark.parametrize("model, message", [
    (ValueBranch(), r"the model at test_research_models.py:\d+ \(`if x.mean\(\) > 0.5:`\): a branch .*depends on the "
                    r"data.*compute the branch from shapes"),
    (UsesUnknown(), r"call_function 'gt' .* in module 'sn' \(UnknownNeuron\) at test_research_models.py:\d+ "
                    r"\(`return \(x > 0\).float\(\)`\) is not supported; if UnknownNeuron is a neuron or layer, "
                    r"register a converter for it"),
])
def test_what_cannot_be_traced_names_the_module_the_line_and_the_fix(model, message):
    with pytest.raises(UnsupportedModuleError, match=message):
        trace(model, torch.rand(2, 1, 4, 4), T=T)


@pytest.mark.lava
def test_the_time_folded_model_compiled_for_lava_fires_the_simulators_spikes(research):
    from test_lava import assert_same_as_integer_simulator

    model = folded_model(research)
    x = torch.rand(3, 3, 8, 8, dtype=torch.float64, generator=torch.Generator().manual_seed(1))
    compiled = compile_model(model, x, T=T, target="lava")
    inputs = torch.rand(2, 3, 8, 8, generator=torch.Generator().manual_seed(2)).numpy()
    _, expected = assert_same_as_integer_simulator(compiled.graph, inputs, T)
    assert 0 < np.mean([expected.recorded[n.name].mean() for n in compiled.graph if n.op.kind == "IntLIF"]) < 1
