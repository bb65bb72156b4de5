"""Ordinary user journeys (issue 16): those that used to crash (simulating a NIR artifact of an MLF checkpoint, a
spiking network with an average pool between two convs, an artifact compiled at another image size than trained),
and inspecting a NIR file and an artifact."""

import json

import numpy as np
import pytest
import torch
from torch import nn

import snncompile
from snncompile.backends import get_backend
from snncompile.cli.main import main
from snncompile.data import load
from snncompile.errors import UnsupportedNodeError
from snncompile.models.layers import DirectEncoder, PerStep, Readout
from snncompile.models.neurons import LIFNode


def last_json(capsys) -> dict:
    """The JSON object a ``--json`` command printed on its last line."""
    return json.loads(capsys.readouterr().out.strip().splitlines()[-1])


def test_simulate_backend_nir_on_a_compiled_mlf_checkpoint(tiny_checkpoint, tmp_path, capsys):
    out = tmp_path / "out"
    assert main(["compile", str(tiny_checkpoint), "--target", "nir", "-o", str(out)]) == 0
    capsys.readouterr()
    assert main(["simulate", str(out), "--backend", "nir", "--limit", "3", "--json"]) == 0
    from_nir = last_json(capsys)
    assert main(["simulate", str(out), "--backend", "numpy", "--limit", "3", "--json"]) == 0
    from_ir = last_json(capsys)
    assert "stages.0.0.sn2" in from_nir["spikes"]  # an MLF level sum read by a residual join
    assert from_nir["spikes"] == from_ir["spikes"] and from_nir["predictions"] == from_ir["predictions"]


class PooledConvNet(nn.Module):
    """conv -> LIF -> 2x2 average pool (or none) -> conv -> LIF -> readout, on 8x8 images at T=2."""

    def __init__(self, pool: nn.Module, gain: float):
        super().__init__()
        self.encode = DirectEncoder(2)
        self.conv1 = PerStep(nn.Conv2d(1, 4, 3, padding=1))
        self.sn1 = LIFNode()
        self.pool = PerStep(pool)
        self.conv2 = PerStep(nn.Conv2d(4, 4, 3, padding=1))
        self.sn2 = LIFNode()
        self.flat = nn.Flatten(2)
        self.readout = Readout(4 * (16 if isinstance(pool, nn.AvgPool2d) else 64), 10)
        with torch.no_grad():
            self.conv1.layer.weight.mul_(8)
            self.conv1.layer.bias.fill_(0.5)
            self.conv2.layer.weight.mul_(gain)
            self.conv2.layer.bias.fill_(0.5)

    def forward(self, x):
        spikes = self.pool(self.sn1(self.conv1(self.encode(x))))
        return self.readout(self.flat(self.sn2(self.conv2(spikes))))


def pooled_net(pool: nn.Module, gain: float) -> PooledConvNet:
    torch.manual_seed(0)
    return PooledConvNet(pool, gain).double().eval()


def integer_vs_float(net) -> tuple:
    """``(share of test samples where the integer and float graphs predict the same class, share of sn2's (step,
    sample, neuron) entries where they spike alike)`` over 64 digits, and the float graph's output vs ``net``'s."""
    x = load("digits", image_size=8, T=2).test_x[:64].numpy().astype(np.float64)
    compiled = snncompile.compile(net, torch.rand(2, 1, 8, 8, dtype=torch.float64), target="numpy")
    simulator = get_backend("numpy")
    integer = simulator.run(compiled.graph, x, 2, record=["sn2"])
    real = simulator.run(compiled.float_graph, x, 2, record=["sn2"])
    with torch.no_grad():
        np.testing.assert_allclose(real.output, net(torch.from_numpy(x)).numpy(), atol=1e-9)  # the fold is exact
    return ((integer.output.argmax(1) == real.output.argmax(1)).mean(),
            (integer.recorded["sn2"] == real.recorded["sn2"]).mean())


def test_an_average_pool_of_spikes_before_a_conv_folds_into_the_conv():
    pooled_classes, pooled_spikes = integer_vs_float(pooled_net(nn.AvgPool2d(2), gain=12))
    plain_classes, plain_spikes = integer_vs_float(pooled_net(nn.Identity(), gain=4))
    assert pooled_classes >= plain_classes and pooled_spikes >= 0.99


def test_an_average_pool_that_cannot_fold_exactly_is_refused_naming_it():
    net = pooled_net(nn.AvgPool2d(3, stride=2, padding=1), gain=12)  # its last window sticks out of the 8x8 map
    with pytest.raises(UnsupportedNodeError, match=r"'pool'.*conv 'conv2'.*pad the conv by 0"):
        snncompile.compile(net, torch.rand(2, 1, 8, 8, dtype=torch.float64), target="numpy")


def test_simulate_and_energy_resize_digits_to_an_artifact_compiled_at_another_size(tiny_checkpoint, tmp_path,
                                                                                   capsys):
    out = tmp_path / "big"
    assert main(["compile", str(tiny_checkpoint), "--target", "numpy", "--image-size", "16", "-o", str(out)]) == 0
    capsys.readouterr()
    assert main(["simulate", str(out), "--limit", "2", "--json"]) == 0
    printed = capsys.readouterr()
    assert "digits images resized (bilinear) to 16x16" in printed.err
    assert json.loads(printed.out.strip().splitlines()[-1])["samples"] == 2
    assert main(["energy", str(out), "--limit", "2", "--plot", str(tmp_path / "energy.png")]) == 0
    assert "resized (bilinear) to 16x16" in capsys.readouterr().err


def test_inspect_reads_a_nir_file_and_a_compiled_artifact(tiny_checkpoint, tmp_path, capsys):
    out = tmp_path / "out"
    assert main(["compile", str(tiny_checkpoint), "--target", "nir", "-o", str(out)]) == 0
    capsys.readouterr()
    assert main(["inspect", str(out / "model.nir")]) == 0
    from_nir = capsys.readouterr().out.splitlines()
    assert main(["inspect", str(out)]) == 0
    from_artifact = capsys.readouterr().out.splitlines()
    assert from_nir[0] == from_artifact[0] == "mlf_dsresnet14: direct input, T=2"
    assert from_artifact[1] == "artifact compiled for nir: 8-bit weights, input [1, 8, 8] (direct, analog)"
    assert from_nir[1].split()[:3] == from_artifact[2].split()[:3] == ["node", "op", "output"]
    totals = [line.split()[3:7] for line in (from_nir[-1], from_artifact[-1])]  # neurons and synapse counts
    assert totals[0] == totals[1]
