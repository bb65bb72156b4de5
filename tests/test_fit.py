"""The chip placement and ``snncompile fit``: whole neurons per core, shared convolution kernels re-added from the
layers' own weights, an average pool kept as its own population, limits that bind, chips split by Kernighan-Lin,
graded spikes, and the command's output and exit codes."""

import json
from dataclasses import replace

import pytest
import torch
from torch import nn

from snncompile import compile as compile_model
from snncompile.chip import LOIHI2
from snncompile.cli.main import main
from snncompile.compiler import load_artifact, lower_and_quantize
from snncompile.energy.placement import place
from snncompile.frontend import trace
from snncompile.models.layers import DirectEncoder, PerStep, Readout
from snncompile.models.neurons import IFNode

PNG = b"\x89PNG\r\n\x1a\n"


class PooledNet(nn.Module):
    """Analog input -> conv (host) -> 4x8x8 IF -> conv 4->6 3x3 -> 6x8x8 IF -> average pool 2 -> readout of 10 over the
    6x4x4 pooled values (the compiler folds the pool into the readout: 10 x 384 weights)."""

    def __init__(self):
        super().__init__()
        self.encode = DirectEncoder(2)
        self.conv1 = PerStep(nn.Conv2d(1, 4, 3, padding=1))
        self.sn1 = IFNode()
        self.conv2 = PerStep(nn.Conv2d(4, 6, 3, padding=1))
        self.sn2 = IFNode()
        self.pool = PerStep(nn.AvgPool2d(2))
        self.flat = nn.Flatten(2)
        self.readout = Readout(96, 10)

    def forward(self, x):
        return self.readout(self.flat(self.pool(self.sn2(self.conv2(self.sn1(self.conv1(self.encode(x))))))))


@pytest.fixture(scope="module")
def pooled():
    torch.manual_seed(0)
    model = PooledNet().eval()
    return model, lower_and_quantize(trace(model, torch.rand(1, 1, 8, 8))).graph


# 100 neurons and 200 bytes per core, 4 cores per chip on a 2 x 2 mesh: every population must split
SMALL = replace(LOIHI2, name="small", neurons_per_core=100, synaptic_bytes_per_core=200, cores_per_chip=4, mesh=(2, 2))


def test_whole_neurons_per_core_and_per_core_totals_re_added_from_the_layers(pooled):
    """Every neuron sits on exactly one core; re-adding the cores gives each population's neurons, and its stored
    weights are the conv kernel once per core holding a channel (the layer's own weight tensor), or one weight per
    synapse for the readout; no core exceeds its limits."""
    model, graph = pooled
    placement = place(graph, SMALL)
    cores = {}
    for core in placement.cores:
        assert core.neurons <= 100 and core.synaptic_bytes <= 200, core
        cores.setdefault(core.population, []).append(core)
    by_name = {p.name: p for p in placement.populations}
    assert list(by_name) == ["sn1", "sn2", "pool", "readout"]
    expected_neurons = {"sn1": 4 * 64, "sn2": 6 * 64, "pool": 6 * 16, "readout": 10}
    for name, population in by_name.items():
        covered = sorted((core.first, core.first + core.neurons) for core in cores[name])
        assert covered[0][0] == 0 and covered[-1][1] == expected_neurons[name] == population.neurons, name
        assert all(a[1] == b[0] for a, b in zip(covered, covered[1:])), name  # no gap, no overlap
        assert sum(core.weights for core in cores[name]) == population.weights, name
    kernel = model.conv2.layer.weight[0].numel()  # 4 x 3 x 3 taps per output channel
    assert by_name["sn2"].weights == model.conv2.layer.weight.numel() and len(cores["sn2"]) == 6
    assert by_name["sn2"].unshared_weights == 6 * 64 * kernel and by_name["sn2"].binding == "neurons"
    assert by_name["readout"].weights == model.readout.linear.weight.numel() == 10 * 96  # not 10 x 384
    assert (by_name["readout"].cores, by_name["readout"].binding) == (5, "synaptic memory")  # 2 x 96 bytes per core
    assert by_name["pool"].weights == 6 * 4 and by_name["pool"].binding == "fits one core"
    assert placement.totals["cores"] == len(placement.cores) == 4 + 6 + 1 + 5 and not placement.problems


def test_cores_are_split_among_chips_by_kernighan_lin(pooled):
    """16 cores of at most 4 per chip: 4 chips, none over capacity, every core at its own mesh position, and no more
    spikes crossing chips than a split in graph order."""
    placement = place(pooled[1], SMALL)
    assert placement.chips == 4
    positions = [(core.chip, core.x, core.y) for core in placement.cores]
    assert len(set(positions)) == len(positions)
    assert all(sum(core.chip == chip for core in placement.cores) <= 4 for chip in range(4))
    assert all(0 <= core.x < 2 and 0 <= core.y < 2 for core in placement.cores)
    traffic = placement.traffic
    assert 0 < traffic["inter_chip"] <= traffic["inter_chip_in_graph_order"] <= traffic["per_step"]


def test_a_neuron_whose_fan_in_exceeds_a_core_is_named(pooled):
    """With 30 bytes per core one neuron of ``sn2`` (36 8-bit weights in its kernel) or of the readout (96) cannot be
    placed; the pool's 4-tap windows can."""
    placement = place(pooled[1], replace(SMALL, synaptic_bytes_per_core=30))
    assert placement.problems == [
        "population 'sn2': one neuron's 36 incoming synapses need 36 bytes, more than a core's synaptic memory "
        "(30 bytes)",
        "population 'readout': one neuron's 96 incoming synapses need 96 bytes, more than a core's synaptic memory "
        "(30 bytes)"]
    bindings = {p.name: p.binding for p in placement.populations}
    assert bindings == {"sn1": "neurons", "sn2": None, "pool": "fits one core", "readout": None}


@pytest.fixture(scope="module")
def artifact(tiny_checkpoint, tmp_path_factory):
    out = tmp_path_factory.mktemp("fit") / "mlf.numpy"
    compile_model(tiny_checkpoint, target="numpy", output=out)
    return out


def test_graded_spikes_store_one_copy_per_sum_instead_of_one_per_population(artifact):
    """An MLF DS-ResNet with K=2: sending each count as one graded spike from a relay divides the readers' fan-in by
    the populations summed in their input, at the cost of the relays' neurons."""
    graph, _, _ = load_artifact(artifact)
    binary, graded = place(graph), place(graph, graded=True)
    relays = [p for p in graded.populations if p.kind == "relay"]
    assert relays and graded.totals["weights"] < binary.totals["weights"]
    assert graded.totals["placed_synapses"] < binary.totals["placed_synapses"]
    assert graded.totals["neurons"] == binary.totals["neurons"] + sum(p.neurons for p in relays)
    binary_fan_in, graded_fan_in = ({p.name: p.fan_in for p in fit.populations} for fit in (binary, graded))
    assert binary_fan_in["stages.0.0.sn1.level1"] == 2 * graded_fan_in["stages.0.0.sn1.level1"]


def test_fit_prints_the_table_writes_the_map_and_ends_with_json(artifact, capsys):
    assert main(["fit", str(artifact), "--json"]) == 0
    printed = capsys.readouterr().out
    report = json.loads(printed.splitlines()[-1])
    assert "Loihi 2 placement (convolution weights shared per core; binary spikes; whole neurons per core):" in printed
    assert report["totals"]["cores"] == sum(p["cores"] for p in report["populations"]) == len(report["cores"])
    assert report["totals"]["unshared_cores"] >= report["totals"]["cores"] and report["fits_one_chip"]
    for population in report["populations"]:
        assert any(line.split()[:2] == [population["name"], population["kind"]] for line in printed.splitlines())
    assert artifact.with_name("mlf.numpy.fit.png").read_bytes()[:8] == PNG
    assert report["map"] == str(artifact.with_name("mlf.numpy.fit.png"))


def test_a_graph_that_cannot_be_placed_exits_3_after_the_table(tmp_path, capsys):
    """A readout reading 140,625 spiking neurons: one of its neurons needs 140,625 bytes of synapses, more than a
    Loihi 2 core's 131,072."""
    wide = nn.Sequential(DirectEncoder(1), PerStep(nn.Conv2d(1, 1, 1)), IFNode(), nn.Flatten(2), Readout(375 * 375, 2))
    out = tmp_path / "wide.numpy"
    compile_model(wide.eval(), torch.rand(1, 1, 375, 375), T=1, target="numpy", output=out)
    assert main(["fit", str(out), "--map", str(tmp_path / "wide.png")]) == 3
    captured = capsys.readouterr()
    assert "does not fit: population '4': one neuron's 140,625 incoming synapses need 140,625 bytes" in captured.out
    assert captured.err == "snncompile: error: Sequential does not fit Loihi 2: 1 problem(s), listed above\n"


@pytest.mark.parametrize("args, message, code", [
    (["{missing}"], "graph.json", 1),
    (["{artifact}", "--map", "{not_png}"], "--map", 2),
])
def test_bad_input_is_one_line_and_writes_nothing(artifact, tmp_path, capsys, args, message, code):
    not_png = tmp_path / "notes.txt"
    not_png.write_text("mine")
    argv = [a.format(missing=tmp_path / "missing.numpy", artifact=artifact, not_png=not_png) for a in args]
    assert main(["fit", *argv]) == code
    err = capsys.readouterr().err
    assert err.startswith("snncompile: error: ") and message in err and err.count("\n") == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == ["notes.txt"] and not_png.read_text() == "mine"
