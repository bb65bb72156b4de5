"""Tracing PyTorch models into the IR: every zoo family, user modules, and clear errors for what cannot be traced."""

import pytest
import torch
from torch import nn

from conftest import tiny_config
from snncompile.errors import CheckpointError, ConfigError, UnsupportedModuleError
from snncompile.frontend import trace
from snncompile.ir.summary import summarize
from snncompile.models import build
from snncompile.models.layers import DirectEncoder, PerStep, Readout
from snncompile.models.neurons import MLF, IFNode, SpikingNeuron


def op_kinds(graph):
    return [node.op.kind for node in graph]


def test_every_arch_traces_with_the_torch_parameter_count(arch):
    model = build(arch, **tiny_config(arch))
    graph = trace(model, torch.rand(2, 1, 8, 8))
    assert graph.outputs[0].endswith("readout") and graph.metadata["T"] == 2
    stripped = sum(s["parameters"] for s in graph.metadata["stripped"])
    neuron_parameters = sum(p.numel() for n, p in model.named_parameters() if n.endswith(".w"))  # PLIF tau -> decay
    expected = sum(p.numel() for p in model.parameters()) - stripped - neuron_parameters
    assert summarize(graph)["totals"]["params"] == expected


def test_mlf_units_and_count_joins_are_kept_as_such():
    graph = trace(build("mlf_dsresnet14", **tiny_config("mlf_dsresnet14")), torch.rand(1, 1, 8, 8))
    kinds = op_kinds(graph)
    assert kinds.count("MLF") == 1 + 2 * 6 + 2  # stem, two per block, two projection shortcuts
    first_join = graph["stages.0.0.sn2"].name
    adds = [n for n in graph if n.op.kind == "Add"]
    assert first_join in adds[0].inputs
    assert adds[0].info.kind == "counts" and adds[0].info.max_count == 6  # K + K
    assert adds[1].info.max_count == 9  # counts accumulate along a stage


def test_sew_logic_and_frames_input():
    config = {**tiny_config("sew_7bnet", in_channels=2), "encoding": "frames", "connect": "IAND"}
    frames = (torch.rand(2, 3, 2, 8, 8) > 0.7).float()
    graph = trace(build("sew_7bnet", **config), frames)
    assert graph["input"].op.encoding == "frames" and graph["input"].info.kind == "spikes"
    logic = [n for n in graph if n.op.kind == "SEWLogic"]
    assert len(logic) == 3 and {n.op.function for n in logic} == {"IAND"}
    assert all(n.info.kind == "spikes" for n in logic)


def test_side_heads_are_stripped_and_reported():
    model = build("sbp_resnet18", **tiny_config("sbp_resnet18"))
    graph = trace(model, torch.rand(1, 1, 8, 8))
    (stripped,) = graph.metadata["stripped"]
    assert stripped["module"] == "side_heads"
    assert stripped["parameters"] == sum(p.numel() for p in model.side_heads.parameters())
    assert not any(n.name.startswith("side_heads") for n in graph)
    assert model.training, "tracing must leave the model's mode as it was"


class UserNet(nn.Module):
    """A user model from zoo neurons and standard layers, with a residual add and a mean-over-time readout."""

    def __init__(self):
        super().__init__()
        self.encode = DirectEncoder(3)
        self.conv = PerStep(nn.Conv2d(1, 4, 3, padding=1))
        self.bn = PerStep(nn.BatchNorm2d(4))
        self.sn1 = IFNode()
        self.conv2 = PerStep(nn.Conv2d(4, 4, 3, padding=1, bias=False))
        self.sn2 = MLF(2)
        self.pool = PerStep(nn.AvgPool2d(2))
        self.flat = nn.Flatten(2)
        self.drop = nn.Dropout(0.2)
        self.fc = nn.Linear(64, 5)

    def forward(self, x):
        s = self.sn1(self.bn(self.conv(self.encode(x))))
        s = self.sn2(self.conv2(s)) + s
        return self.fc(self.drop(self.flat(self.pool(s)))).mean(0)


def test_user_module_traces_with_add_and_mean_readout():
    graph = trace(UserNet(), torch.rand(2, 1, 8, 8))
    assert op_kinds(graph) == ["Input", "Conv2d", "BatchNorm", "LIF", "Conv2d", "MLF", "Add", "AvgPool2d", "Flatten",
                               "Readout"]
    assert graph[graph.outputs[0]].info.shape == (5,)


class Unsupported(nn.Module):
    def __init__(self, layer):
        super().__init__()
        self.encode = DirectEncoder(2)
        self.body = nn.Sequential(PerStep(nn.Conv2d(1, 2, 3)), layer)
        self.readout = Readout(72, 3)

    def forward(self, x):
        return self.readout(self.body(self.encode(x)).flatten(2))


@pytest.mark.parametrize("layer, message", [
    (PerStep(nn.GELU()), r"module 'body.1' \(torch.nn.modules.activation.GELU\)"),
    (nn.ReLU(), r"module 'body.1' \(torch.nn.modules.activation.ReLU\): no converter for this type"),
    (PerStep(nn.Conv2d(2, 2, 3, padding=1, dilation=1, groups=2)), r"'body.1'.*groups=1"),
])
def test_unsupported_modules_name_their_path_and_type(layer, message):
    with pytest.raises(UnsupportedModuleError, match=message) as err:
        trace(Unsupported(layer), torch.rand(1, 1, 8, 8))
    assert "supported" in str(err.value)


def negative_variance_bn() -> PerStep:
    bn = nn.BatchNorm2d(2).eval()
    bn.running_var.fill_(-1.0)
    return PerStep(bn)


@pytest.mark.parametrize("layer, message", [
    (SpikingNeuron((1.0,), decay=1.5), r"module 'body.1' \(snncompile.models.neurons.SpikingNeuron\): decay must be"),
    (negative_variance_bn(), r"module 'body.1' \(torch.nn.modules.batchnorm.BatchNorm2d\): running variance"),
])
def test_a_value_no_op_can_hold_is_an_error_naming_the_module(layer, message):
    with pytest.raises(UnsupportedModuleError, match=message):
        trace(Unsupported(layer), torch.rand(1, 1, 8, 8))


class CallsSigmoid(Unsupported):
    def forward(self, x):
        return self.readout(torch.sigmoid(self.body(self.encode(x))).flatten(2))


def test_unsupported_function_names_the_call_and_its_line():
    with pytest.raises(UnsupportedModuleError, match=r"call_function 'sigmoid'.* at test_frontend.py:\d+ "
                                                     r"\(`return self.readout\(torch.sigmoid"):
        trace(CallsSigmoid(nn.Identity()), torch.rand(1, 1, 8, 8))


class DataDependent(nn.Module):
    def __init__(self):
        super().__init__()
        self.encode = DirectEncoder(2)

    def forward(self, x):
        x = self.encode(x)
        return x if x.sum() > 0 else -x


def test_untraceable_control_flow_is_one_clear_error():
    with pytest.raises(UnsupportedModuleError, match=r"the model at test_frontend.py:\d+ \(`return x if x.sum\(\) > 0 "
                                                     r"else -x`\): a branch .* depends on the data"):
        trace(DataDependent(), torch.rand(1, 1, 8, 8))


class Tiny(nn.Module):
    def __init__(self):
        super().__init__()
        self.encode = DirectEncoder(2)
        self.fc = nn.Linear(4, 3)

    def forward(self, x):
        return self.fc(self.encode(x).flatten(2)).mean(0)


def test_a_plain_state_dict_given_as_a_checkpoint_says_how_to_compile_it(tmp_path):
    from snncompile import checkpoint

    torch.save(Tiny().state_dict(), tmp_path / "model.pth")
    with pytest.raises(CheckpointError, match=r"holds weights only \(a state_dict\).*snncompile compile "
                                              r"path/to/net.py:factory --weights .*model.pth "
                                              r"--input-shape C,H,W --T N"):
        checkpoint.load(tmp_path / "model.pth")


@pytest.mark.parametrize("saved, loads", [
    (lambda sd: sd, True),
    (lambda sd: {"epoch": 3, "net": sd, "best_acc": 0.9}, True),
    (lambda sd: {"module." + k: v for k, v in sd.items()}, True),  # DataParallel
    (lambda sd: {"a": sd, "b": dict(sd)}, r"several dicts of tensors \(a, b\)"),
    (lambda sd: {"fc.weight": sd["fc.weight"]}, r"do not fit Tiny \(missing fc.bias\)"),
    (lambda sd: {**sd, "fc.weight": torch.zeros(3, 5)}, r"wrong shape fc.weight \(3, 5\) instead of \(3, 4\)"),
])
def test_weights_load_from_plain_and_nested_state_dicts(tmp_path, saved, loads):
    from snncompile.checkpoint import load_weights

    source = Tiny()
    torch.save(saved(source.state_dict()), tmp_path / "w.pth")
    model = Tiny()
    if loads is True:
        load_weights(model, tmp_path / "w.pth")
        assert torch.equal(model.fc.weight, source.fc.weight)
    else:
        with pytest.raises(CheckpointError, match=loads):
            load_weights(model, tmp_path / "w.pth")


def test_the_factory_source_is_checked_before_anything_is_traced(tmp_path):
    from snncompile.frontend import trace_factory

    (tmp_path / "net.py").write_text("import torch\n\ndef build():\n    return 3\n")
    with pytest.raises(ConfigError, match=r"build\(\) returned a int, not a torch nn.Module"):
        trace_factory(f"{tmp_path / 'net.py'}:build", input_shape="1,2,2", T=2)
    with pytest.raises(ConfigError, match=r"net.py defines no function 'model' \(it has: build\)"):
        trace_factory(f"{tmp_path / 'net.py'}:model", input_shape="1,2,2", T=2)
    with pytest.raises(ConfigError, match="needs --input-shape C,H,W and --T"):
        trace_factory(f"{tmp_path / 'net.py'}:build", input_shape=None, T=2)
