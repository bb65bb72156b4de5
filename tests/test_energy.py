"""Energy and resources: figures per inference, SOPs equal to an independent count on the PyTorch model for every zoo
family, the profiles' arithmetic, the Loihi 2 fit, and ``snncompile energy``."""

import copy
import json
from dataclasses import replace

import numpy as np
import pytest
import torch
from torch import nn

from conftest import FAMILIES, family_input, family_model, lively, tiny_config
from snncompile import compile as compile_model
from snncompile.backends import get_backend
from snncompile.backends.numpy.simulator import simulate
from snncompile.chip import LOIHI2
from snncompile.cli.main import main
from snncompile.compiler import load_artifact, lower_and_quantize
from snncompile.energy import Activity, chip_fit, estimate, measure
from snncompile.errors import ConfigError
from snncompile.evaluation import dataset_for
from snncompile.frontend import trace
from snncompile.models import build
from snncompile.models.layers import DirectEncoder, PerStep, Readout
from snncompile.models.neurons import IFNode

T = 3


def with_unit_weights(layer: nn.Module) -> nn.Module:
    """A copy of conv or linear ``layer`` with every weight 1 and no bias: its outputs are sums of its inputs over
    exactly the connections it has."""
    ones = copy.deepcopy(layer)
    with torch.no_grad():
        ones.weight.fill_(1.0)
    ones.bias = None
    return ones


def fan_out(layer: nn.Module, shape: tuple) -> torch.Tensor:
    """Outputs each input position of ``layer`` reaches: run it on one one-hot input per position and count the
    outputs that are not zero."""
    size = int(np.prod(shape))
    one_hot = torch.eye(size, dtype=torch.float64).reshape(size, *shape)
    with torch.no_grad():
        reached = layer(one_hot).reshape(size, -1) != 0
    return reached.sum(dim=1).reshape(shape).double()


def applies(module, kinds) -> bool:
    return isinstance(module, PerStep) and isinstance(module.layer, kinds)


def synaptic_inputs(model, x) -> dict:
    """IR node name -> ``(input [T, B, ...], layer with unit weights)`` of every conv and linear layer of a zoo model,
    from one forward pass with hooks on every module.

    The IR names a node after the module applying the layer per step. A linear layer reading an average pool through
    a flatten (the compiler folds the pool into it) takes the pool's input, through the pool."""
    inputs, producers, outputs = {}, {}, []

    def keep(module, args, output):
        inputs[module] = args[0]
        producers[id(output)] = module
        outputs.append(output)  # alive until the end, so that no id is reused

    hooks = [module.register_forward_hook(keep) for module in model.modules()]
    with torch.no_grad():
        model(x)
    for hook in hooks:
        hook.remove()
    found = {}
    for name, module in model.named_modules():
        layer = module.layer if isinstance(module, PerStep) else module.linear if isinstance(module, Readout) else None
        if not isinstance(layer, (nn.Conv2d, nn.Linear)) or module not in inputs:
            continue
        events, unit = inputs[module], with_unit_weights(layer)
        flatten = producers.get(id(events))
        pool = producers.get(id(inputs.get(flatten)))
        if applies(flatten, nn.Flatten) and applies(pool, (nn.AvgPool2d, nn.AdaptiveAvgPool2d)):
            events, unit = inputs[pool], nn.Sequential(pool.layer, flatten.layer, unit)
        found[name] = (events, unit)
    return found


@pytest.mark.parametrize("family", sorted(FAMILIES))
def test_sops_equal_an_independent_count_with_pytorch_hooks(family):
    """Spikes entering each conv and linear layer of the PyTorch model (forward hooks) times the exact fan-out of
    their position (the layer run on one-hot inputs) equal the simulator's SOPs per layer and step; the analog
    encoding layer does one MAC per connection per step."""
    model, config = family_model(family, width=4, T=T)
    x = family_input(config, batch=3, seed=1)
    inputs = synaptic_inputs(model, x)
    graph = lower_and_quantize(trace(model, x)).float_graph
    activity = Activity.empty(graph, T)
    activity.add(simulate(graph, x.numpy(), T, record=activity.recorded))
    rows = {row.name: row for row in estimate(graph, activity).layers}
    samples = activity.samples
    assert samples == x.shape[1 if config["encoding"] == "frames" else 0]
    assert set(inputs) == {name for name, row in rows.items() if row.op in ("Conv2d", "Linear", "Readout")}
    for name, (events, layer) in inputs.items():
        reach = fan_out(layer, tuple(events.shape[2:]))
        if not torch.equal(events, events.round()):  # analog: the host's encoding layer
            assert rows[name].role == "host", name
            assert rows[name].macs == T * reach.sum() and rows[name].macs_once == reach.sum(), name
            continue
        per_step = (events * reach).flatten(1).sum(dim=1) / samples
        assert rows[name].role == "synapses", name
        np.testing.assert_allclose(rows[name].per_step, per_step.numpy(), rtol=1e-12, err_msg=name)
        assert rows[name].sops == pytest.approx(float(per_step.sum()), rel=1e-12), name
    assert sum(row.sops for row in rows.values()) > 0


@pytest.fixture(scope="module")
def mlf_graph():
    """A tiny lively MLF DS-ResNet (K=2, T=2) lowered and quantized: the integer graph a chip runs."""
    torch.manual_seed(0)
    model = lively(build("mlf_dsresnet14", **tiny_config("mlf_dsresnet14"), levels=2)).eval()
    return lower_and_quantize(trace(model, torch.rand(1, 1, 8, 8))).graph


def activity_of(graph, *batches) -> Activity:
    activity = Activity.empty(graph)
    for inputs in batches:
        activity.add(simulate(graph, inputs, activity.T, record=activity.recorded))
    return activity


@pytest.fixture(scope="module")
def mlf_activity(mlf_graph):
    return activity_of(mlf_graph, np.random.default_rng(0).random((4, 1, 8, 8)))


def test_figures_are_per_inference_never_summed_over_a_batch(mlf_graph):
    """Two samples, the same two repeated four times in one batch, or in two batches: the same figures."""
    x = np.random.default_rng(1).random((2, 1, 8, 8))
    two = estimate(mlf_graph, activity_of(mlf_graph, x), memory=True).as_json()
    assert two["samples"] == 2 and two["totals"]["sops"] > 0 and two["totals"]["spikes"] > 0
    for batches in ([np.concatenate([x, x])], [x, x]):
        again = estimate(mlf_graph, activity_of(mlf_graph, *batches), memory=True).as_json()
        assert again["samples"] == 4
        assert again["totals"] == two["totals"] and again["layers"] == two["layers"]


@pytest.mark.parametrize("name, e_mac, e_ac", [("cmos45", 4.6, 0.9), ("cmos45-int8", 0.23, 0.03),
                                               ("cmos45-int32", 3.2, 0.1)])
def test_cmos_energy_is_macs_times_e_mac_plus_sops_times_e_ac(mlf_graph, mlf_activity, name, e_mac, e_ac):
    totals = estimate(mlf_graph, mlf_activity, name).totals
    assert totals["macs"] > 0 and totals["sops"] > 0
    assert totals["energy_pj"] == pytest.approx(totals["macs"] * e_mac + totals["sops"] * e_ac, rel=1e-12)
    assert totals["ann_energy_pj"] == pytest.approx(totals["ann_macs"] * e_mac, rel=1e-12)
    assert totals["macs"] == mlf_activity.T * totals["macs_once_per_input"]
    assert totals["per_timestep"]["energy_pj"] == pytest.approx(totals["energy_pj"] / mlf_activity.T)
    assert sum(totals["sops_per_step"]) == pytest.approx(totals["sops"])


def test_loihi_prices_synaptic_ops_per_level_neuron_updates_and_spikes(mlf_graph, mlf_activity):
    """Davies et al. 2018: 23.6 pJ per synaptic op (each of the K=2 levels integrates its own copy), 81 / 52 pJ per
    active / inactive neuron update, 1.7 pJ per spike; the host's encoding layer at 4.6 pJ per MAC."""
    report = estimate(mlf_graph, mlf_activity, "loihi")
    for row in report.layers:
        if row.role == "synapses":
            levels = 1 if row.op == "Readout" else 2
            assert row.energy["sop"] == pytest.approx(row.sops * levels * 23.6), row.name
        if row.role == "neurons":
            assert row.neuron_updates == row.neurons * mlf_activity.T
            assert row.energy["neuron"] == pytest.approx(row.spikes * 81 + (row.neuron_updates - row.spikes) * 52)
            assert row.energy["spike"] == pytest.approx(row.spikes * 1.7)
    totals = report.totals
    assert totals["energy"]["mac"] == pytest.approx(totals["macs"] * 4.6)
    assert any("Loihi 1" in source for source in report.profile.sources)


def test_memory_traffic_is_off_by_default_and_adds_weight_reads(mlf_graph, mlf_activity):
    compute = estimate(mlf_graph, mlf_activity, "cmos45-int8")
    with_memory = estimate(mlf_graph, mlf_activity, "cmos45-int8", memory=True)
    assert compute.totals["energy"]["memory"] == 0 and not compute.as_json()["memory_traffic"]
    memory = with_memory.totals["energy"]["memory"]
    assert memory > 0 and with_memory.totals["energy_pj"] == pytest.approx(compute.totals["energy_pj"] + memory)
    for row in with_memory.layers:
        if row.role == "synapses":  # one 8-bit weight read per SOP, 1.25 pJ per byte (10 pJ per 64-bit SRAM read)
            assert row.energy["memory"] == pytest.approx(row.sops * 1.25), row.name


def test_an_unknown_profile_is_a_config_error(mlf_graph, mlf_activity):
    with pytest.raises(ConfigError, match="unknown energy profile 'loihi3'; profiles: cmos45, cmos45-int8"):
        estimate(mlf_graph, mlf_activity, "loihi3")


def test_loihi2_is_priced_with_loihi_1_figures_and_says_so(mlf_graph, mlf_activity):
    loihi, loihi2 = (estimate(mlf_graph, mlf_activity, name) for name in ("loihi", "loihi2"))
    assert loihi2.totals["energy_pj"] == loihi.totals["energy_pj"] > 0
    assert loihi2.profile.sources[0] == "Intel publishes no per-operation energy figures for Loihi 2: these are Loihi 1's"
    assert loihi2.as_json()["profile"] == "loihi2"


class TwoLayers(nn.Module):
    """Analog input -> conv (host) -> 192 IF neurons -> linear -> 50 IF neurons (192 synapses each) -> readout of 10
    (50 synapses each)."""

    def __init__(self):
        super().__init__()
        self.encode = DirectEncoder(2)
        self.conv = PerStep(nn.Conv2d(1, 3, 3, padding=1))
        self.sn1 = IFNode()
        self.flat = nn.Flatten(2)
        self.fc = PerStep(nn.Linear(192, 50))
        self.sn2 = IFNode()
        self.readout = Readout(50, 10)

    def forward(self, x):
        return self.readout(self.sn2(self.fc(self.flat(self.sn1(self.conv(self.encode(x)))))))


@pytest.fixture(scope="module")
def two_layers():
    torch.manual_seed(0)
    return lower_and_quantize(trace(TwoLayers().eval(), torch.rand(1, 1, 8, 8))).graph


def test_a_small_graph_fits_one_chip(two_layers):
    fit = chip_fit(two_layers)
    by_name = {p.name: p for p in fit.populations}
    assert set(by_name) == {"sn1", "sn2", "readout"}
    assert (by_name["sn1"].synapses, by_name["sn2"].synapses, by_name["readout"].synapses) == (0, 9_600, 500)
    assert (by_name["sn2"].largest_fan_in, by_name["sn2"].synaptic_bytes) == (192, 9_600)
    assert fit.totals["neurons"] == 252 and fit.totals["cores"] == 3 and fit.totals["chips"] == 1
    assert fit.fits_one_chip and fit.problems == []


def test_a_population_too_large_for_a_core_is_named(two_layers):
    """With 128 bytes of synaptic memory per core, one neuron of ``sn2`` (192 8-bit weights) cannot be mapped; one of
    the readout (50) still can."""
    fit = chip_fit(two_layers, replace(LOIHI2, synaptic_bytes_per_core=128))
    assert not fit.fits_one_chip
    assert fit.problems == ["population 'sn2': one neuron's 192 incoming synapses need 192 bytes, more than a "
                            "core's synaptic memory (128 bytes)"]


def test_more_cores_than_a_chip_holds_need_more_chips(two_layers):
    fit = chip_fit(two_layers, replace(LOIHI2, neurons_per_core=64, cores_per_chip=2))
    assert {p.name: p.cores for p in fit.populations} == {"sn1": 3, "sn2": 1, "readout": 1}
    assert fit.totals["chips"] == 3
    assert fit.problems == ["needs 3 chips: 5 cores exceed one chip's 2; largest: 'sn1' (3), 'sn2' (1), "
                            "'readout' (1)"]


@pytest.fixture(scope="module")
def artifact(tiny_checkpoint, tmp_path_factory):
    out = tmp_path_factory.mktemp("energy") / "mlf.numpy"
    compile_model(tiny_checkpoint, target="numpy", output=out)
    return out


def energy_json(capsys, *args) -> tuple:
    """``(exit code, printed text, the JSON object on the last line)`` of ``snncompile energy ARGS --json``."""
    code = main(["energy", *map(str, args), "--json"])
    printed = capsys.readouterr().out
    return code, printed, json.loads(printed.splitlines()[-1])


def test_energy_prints_the_table_and_ends_with_json(artifact, capsys):
    code, printed, report = energy_json(capsys, artifact, "--data", "digits", "--limit", "8")
    assert code == 0
    lines = printed.splitlines()
    header = next(i for i, line in enumerate(lines) if line.startswith("layer "))
    assert lines[header].split() == ["layer", "op", "neurons", "synapses", "spikes", "rate", "SOPs", "MACs",
                                     "energy", "pJ", "ANN", "pJ"]
    for row in report["layers"]:
        assert any(line.split()[0] == row["name"] for line in lines[header + 2:]), row["name"]
    total = next(line for line in lines if line.startswith("total "))
    assert f"{report['totals']['energy_pj']:,.1f}" in total and f"{report['totals']['ann_energy_pj']:,.1f}" in total
    assert "MACs: the total uses the every-timestep convention" in printed and "Horowitz, ISSCC 2014" in printed
    assert "Loihi 2 fit:" in printed and "(fits one chip)" in printed
    totals = report["totals"]
    assert {"sops", "macs", "energy_pj", "ann_energy_pj"} <= set(totals) and totals["sops"] > 0
    assert report["samples"] == 8 and report["profile"] == "cmos45" and report["memory_traffic"] is False
    assert report["resources"]["fits_one_chip"] and report["resources"]["totals"]["cores"] >= 1
    plot = artifact.with_name("mlf.numpy.energy.png")
    assert report["plot"] == str(plot) and plot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_energy_json_equals_the_python_api(artifact, capsys):
    code, _, report = energy_json(capsys, artifact, "--limit", "8", "--profile", "cmos45-int8", "--memory",
                                  "--batch-size", "3", "--plot", artifact.parent / "api.png")
    assert code == 0
    graph, _, _ = load_artifact(artifact)
    _, activity = measure(graph, get_backend("numpy"), dataset_for(graph), limit=8, progress=False)
    expected = json.loads(json.dumps(estimate(graph, activity, "cmos45-int8", memory=True).as_json()))
    assert report["totals"] == expected["totals"] and report["layers"] == expected["layers"]
    assert report["resources"] == json.loads(json.dumps(chip_fit(graph).as_json()))
    assert report["memory_traffic"] and any(source.startswith("sram_byte") for source in report["sources"])


@pytest.mark.parametrize("backend", ["onnx", pytest.param("lava", marks=pytest.mark.lava)])
def test_every_backend_counts_the_same_events(artifact, capsys, backend):
    reports = [energy_json(capsys, artifact, "--limit", "3", "--backend", name)[2] for name in ("numpy", backend)]
    assert reports[0]["totals"] == reports[1]["totals"] and reports[0]["layers"] == reports[1]["layers"]
    assert reports[1]["backend"] == backend and reports[0]["totals"]["sops"] > 0


@pytest.mark.parametrize("args, message, code", [
    (["missing.numpy"], "graph.json: missing", 1),
    (["{artifact}", "--profile", "loihi3"], "unknown energy profile 'loihi3'", 2),
    (["{artifact}", "--backend", "spinnaker"], "unknown backend 'spinnaker'", 2),
    (["{artifact}", "--limit", "0"], "--limit must be at least 1", 2),
])
def test_bad_input_is_one_line_and_writes_nothing(artifact, tmp_path, capsys, args, message, code):
    plot = tmp_path / "plot.png"
    argv = [str(tmp_path / a) if a == "missing.numpy" else a.format(artifact=artifact) for a in args]
    assert main(["energy", *argv, "--plot", str(plot)]) == code
    err = capsys.readouterr().err
    assert err.startswith("snncompile: error: ") and message in err and err.count("\n") == 1
    assert list(tmp_path.iterdir()) == []
