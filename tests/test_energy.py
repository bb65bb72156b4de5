"""Energy and resources: figures per inference, SOPs equal to an independent count on the PyTorch model for every zoo
family, the profiles' arithmetic, the Loihi 2 fit, and ``snncompile energy``."""

import copy
import json

import numpy as np
import pytest
import torch
from torch import nn

from conftest import FAMILIES, family_input, family_model, lively, tiny_config
from snncompile import compile as compile_model
from snncompile.backends import get_backend
from snncompile.backends.numpy.simulator import simulate
from snncompile.cli.main import main
from snncompile.compiler import load_artifact, lower_and_quantize
from snncompile.energy import Activity, chip_fit, estimate, measure
from snncompile.energy.counting import ann_macs, ann_macs_exact, synaptic_nodes
from snncompile.errors import ConfigError
from snncompile.evaluation import dataset_for
from snncompile.frontend import trace
from snncompile.passes import LOWERING_PIPELINE, PassManager
from snncompile.models import build
from snncompile.models.layers import PerStep, Readout

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
    """Davies et al. 2018: 23.6 pJ per synaptic op (each of the K=2 levels integrates its own copy: chip SOPs), 81 / 52
    pJ per active / inactive neuron update, 1.7 pJ per spike; the host's encoding layer at 4.6 pJ per MAC."""
    report = estimate(mlf_graph, mlf_activity, "loihi")
    for row in report.layers:
        if row.role == "synapses":
            levels = 1 if row.op == "Readout" else 2
            assert row.chip_sops == row.sops * levels and row.chip_synapses == row.level_synapses * levels, row.name
            assert row.energy["sop"] == pytest.approx(row.sops * levels * 23.6), row.name
        if row.role == "neurons":
            assert row.active_updates + row.inactive_updates == row.neurons * mlf_activity.T
            inactive = row.neurons * mlf_activity.T - row.spikes
            assert row.energy["neuron"] == pytest.approx(row.spikes * 81 + inactive * 52)
            assert row.energy["spike"] == pytest.approx(row.spikes * 1.7)
    totals = report.totals
    assert totals["energy"]["mac"] == pytest.approx(totals["macs"] * 4.6)
    assert totals["energy"]["sop"] == pytest.approx(totals["chip_sops"] * 23.6)
    assert any("Loihi 1" in source for source in report.profile.sources)


PUBLISHED = {  # pJ per unit of each column, as the papers give them (Horowitz 2014; Davies et al. 2018, Table 2)
    "cmos45": {"macs": 4.6, "sops": 0.9, "memory_bytes": 1.25},
    "cmos45-int8": {"macs": 0.23, "sops": 0.03, "memory_bytes": 1.25},
    "cmos45-int32": {"macs": 3.2, "sops": 0.1, "memory_bytes": 1.25},
    "loihi": {"macs": 4.6, "chip_sops": 23.6, "active_updates": 81.0, "inactive_updates": 52.0, "spikes": 1.7,
              "east_west_hops": 3.0, "north_south_hops": 4.0},
}
COMPONENT_COLUMNS = {"mac": ("macs",), "sop": ("sops", "chip_sops"), "neuron": ("active_updates", "inactive_updates"),
                     "spike": ("spikes",), "routing": ("east_west_hops", "north_south_hops"),
                     "memory": ("memory_bytes",)}


@pytest.mark.parametrize("name", sorted(PUBLISHED))
def test_every_profile_is_its_columns_times_their_published_prices(mlf_graph, mlf_activity, name):
    """Each component of every row, and of the totals, is the columns it prices times the published figure per unit,
    nothing added (the memory term only where the profile is not measured); the ANN is its standard MACs at the
    profile's MAC price, whose technology every output names."""
    report = estimate(mlf_graph, mlf_activity, name, memory=name != "loihi")
    prices = PUBLISHED[name]
    rows = [*report.layers, type(report.layers[0])("totals", "", "", **{
        column: report.totals[column] for columns in COMPONENT_COLUMNS.values() for column in columns})]
    rows[-1].energy = report.totals["energy"]
    for row in rows:
        for component, columns in COMPONENT_COLUMNS.items():
            expected = sum(getattr(row, column) * prices.get(column, 0.0) for column in columns)
            assert row.energy[component] == pytest.approx(expected, rel=1e-12, abs=1e-9), (row.name, component)
    assert report.totals["energy_pj"] == pytest.approx(sum(report.totals["energy"].values()), rel=1e-12)
    totals = report.totals
    assert totals["ann_energy_pj"] == pytest.approx(totals["ann_macs"] * prices["macs"]
                                                    + totals["ann_memory_bytes"] * prices.get("memory_bytes", 0))
    assert totals["sops"] > 0 and totals["spikes"] > 0 and totals["ann_macs"] > totals["ann_macs_exact"] > 0
    assert report.as_json()["ann_technology"].startswith("Horowitz, ISSCC 2014, 45 nm")
    if name == "loihi":
        assert totals["east_west_hops"] + totals["north_south_hops"] > 0 and totals["energy"]["routing"] > 0


def test_a_memory_term_on_measured_loihi_figures_is_refused(mlf_graph, mlf_activity):
    with pytest.raises(ConfigError, match="include their memory accesses: a 45 nm SRAM term on top would count them "
                                          "twice; drop --memory"):
        estimate(mlf_graph, mlf_activity, "loihi", memory=True)


def macs_with_hooks(model, x) -> int:
    """The standard count, as fvcore and thop make it: every Conv2d's output elements times its kernel taps per
    output (``C_in/groups x kH x kW``), every Linear's weights, per sample and per step."""
    total = []

    def count(module, args, output):
        per_output = module.weight[0].numel()  # C_in/groups * kH * kW, or N_in
        total.append(output.numel() // output.shape[0] * per_output)

    hooks = [m.register_forward_hook(count) for m in model.modules() if isinstance(m, (nn.Conv2d, nn.Linear))]
    with torch.no_grad():
        model(x)
    for hook in hooks:
        hook.remove()
    return sum(total)


@pytest.mark.parametrize("family", sorted(FAMILIES))
def test_ann_macs_are_the_standard_convention_of_fvcore_and_thop(family):
    """The equivalent ANN's MACs equal every kernel tap, padding included (forward hooks on the PyTorch model, one
    sample and one step: the hooks see [T*B, ...] when a model folds time into the batch)."""
    model, config = family_model(family, width=4, T=1)
    x = family_input(config, batch=1, seed=1)
    graph = lower_and_quantize(trace(model, x)).float_graph
    event_driven, host = synaptic_nodes(graph)
    ann = sum(ann_macs(graph, node) for node in [*event_driven, *host])
    exact = sum(ann_macs_exact(graph, node) for node in [*event_driven, *host])
    assert ann == macs_with_hooks(model, x) and exact < ann


def test_resnet18_at_224_has_the_published_1_814_g_macs():
    """torchvision/fvcore/thop and the papers: 1.814 G MACs for ResNet-18 at 224x224; our zoo's SEW ResNet-18 with the
    ImageNet stem, traced and lowered (no training needed); the exact-connection count is 1.682 G."""
    model = build("sew_resnet18", in_channels=3, num_classes=1000, T=1, stem="imagenet").eval()
    x = torch.rand(1, 3, 224, 224)
    graph, _ = PassManager(LOWERING_PIPELINE).run(trace(model, x))
    event_driven, host = synaptic_nodes(graph)
    ann = sum(ann_macs(graph, node) for node in [*event_driven, *host])
    assert ann == pytest.approx(1.814e9, rel=0.005) and ann == macs_with_hooks(model, x)
    assert sum(ann_macs_exact(graph, node) for node in [*event_driven, *host]) == pytest.approx(1.682e9, rel=0.001)


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
    assert lines[header].split() == ["layer", "op", "neurons", "synapses", "chip", "synapses", "spikes", "rate", "SOPs",
                                     "chip", "SOPs", "MACs", "ANN", "MACs", "energy", "pJ", "ANN", "pJ"]
    for row in report["layers"]:
        assert any(line.split()[0] == row["name"] for line in lines[header + 2:]), row["name"]
    total = next(line for line in lines if line.startswith("total "))
    assert f"{report['totals']['energy_pj']:,.1f}" in total and f"{report['totals']['ann_energy_pj']:,.1f}" in total
    assert "MACs: the total uses the every-timestep convention" in printed and "Horowitz, ISSCC 2014" in printed
    assert "Loihi 2 fit:" in printed and "(fits one chip)" in printed and "ANN / SNN = " in printed
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


def test_simulate_inspect_and_energy_print_one_rate_and_one_synapse_count(artifact, capsys):
    """The firing rate of every layer (an MLF unit's: spikes per neuron of all its levels per step) and the synapse
    counts (connections, and the per-level and per-chip copies) are the same numbers in every command."""
    assert main(["simulate", str(artifact), "--limit", "4", "--json"]) == 0
    rates = json.loads(capsys.readouterr().out.splitlines()[-1])["firing_rates"]
    _, _, report = energy_json(capsys, artifact, "--limit", "4")
    assert main(["inspect", str(artifact), "--json"]) == 0
    inspected = json.loads(capsys.readouterr().out)
    neurons = [row for row in report["layers"] if row["role"] == "neurons"]
    assert any(row["op"].endswith("x2") for row in neurons)  # MLF units with K=2 levels
    for row in neurons:
        assert rates[row["name"]] == pytest.approx(row["firing_rate"], rel=1e-12), row["name"]
    for key in ("synapses", "level_synapses", "chip_synapses"):
        assert report["totals"][key] == inspected["totals"][key] > 0, key
    totals = inspected["totals"]
    assert totals["synapses"] < totals["level_synapses"] < totals["chip_synapses"]


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
