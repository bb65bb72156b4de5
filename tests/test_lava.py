"""The Lava backend: a compiled integer graph as a Loihi 2 process network, run in Lava's bit-accurate fixed-point
simulation, emits the integer simulator's spikes at every step, for every population and every zoo family.

Every test that runs Lava is marked ``lava`` (``pytest -m lava`` selects them, ``-m "not lava"`` skips them); each run
forks one OS process per Lava process, so the networks here are tiny.
"""

import json
import os
import subprocess
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch

from conftest import FAMILIES, family_model, lively, tiny_config
from snncompile.backends import get_backend
from snncompile.backends.lava import LavaRunError, run_network
from snncompile.backends.lava.network import NETWORK_FILE, plan
from snncompile.backends.lava.support import unsupported
from snncompile.backends.lava.tensors import neuron_parameters
from snncompile.backends.lava.runtime import RUNNING, _rows, describe_progress
from snncompile.compiler import compile as compile_model
from snncompile.compiler import lower_and_quantize
from snncompile.errors import UnsupportedNodeError
from snncompile.frontend import trace
from snncompile.integer import LOIHI2, cuba_step, lif_step
from snncompile.ir import Graph
from snncompile.ir.ops import LIF, Add, Conv2d, Flatten, Input, IntLIF, Linear, MaxPool2d, Quantize, Readout
from snncompile.models import build

WORKER = b"snncompile.backends.lava.worker"


def lava_processes(job_root: Path) -> list:
    """PIDs of Lava workers whose job directory is under ``job_root``, and of their Lava processes (forks of a
    worker: they share its command line)."""
    found = []
    for entry in Path("/proc").iterdir():
        try:
            command = (entry / "cmdline").read_bytes() if entry.name.isdigit() else b""
        except OSError:  # it ended while we looked
            continue
        if WORKER in command and str(job_root).encode() in command:
            found.append(int(entry.name))
    return found


@pytest.fixture
def job_root(tmp_path, monkeypatch) -> Path:
    """A directory of its own for the runs' job directories (temporary files), so that other runs don't count."""
    root = tmp_path / "jobs"
    root.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(root))
    return root


def shared_memory() -> set:
    return {name for name in os.listdir("/dev/shm") if name.startswith("psm_")}


def assert_same_as_integer_simulator(graph, inputs, T: int, **options):
    """Lava and the NumPy simulator agree on every spike and count at every step, and on the readout."""
    expected = get_backend("numpy").run(graph, inputs, T, record="all")
    lava = run_network(graph, inputs, T, record=[*expected.recorded, graph.outputs[0]], **options).result
    for name, spikes in expected.recorded.items():
        assert np.array_equal(lava.recorded[name], spikes), f"{name}: Lava spikes differ from the integer simulator"
        assert np.array_equal(lava.spike_counts[name], expected.spike_counts[name]), name
    numpy_readout = get_backend("numpy").run(graph, inputs, T, record=[graph.outputs[0]]).recorded[graph.outputs[0]]
    assert np.array_equal(lava.recorded[graph.outputs[0]], numpy_readout), "readout differs at some step"
    assert np.array_equal(lava.output, expected.output)
    return lava, expected


# -- Lava itself ----------------------------------------------------------------------------------------------------

def test_importing_the_backends_does_not_import_lava():
    code = ("import sys, snncompile.backends as b; assert 'lava' in b.BACKENDS; "
            "assert not [m for m in sys.modules if m == 'lava' or m.startswith('lava.')]")
    subprocess.run([sys.executable, "-c", code], check=True)


@pytest.mark.lava
def test_lava_imports_on_python_311_through_the_hook_without_touching_its_files():
    code = ("import lava.magma.compiler.var_model as m, sys; from snncompile.backends.lava import compat; "
            "print(m.__file__)")
    broken = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert broken.returncode != 0 and "mutable default" in broken.stderr  # the installed source is unchanged
    fixed = subprocess.run([sys.executable, "-c", "from snncompile.backends.lava import compat; compat.install(); "
                            "import lava.magma.compiler.var_model as m; print(hash(m.ByteEncoder()) is not None)"],
                           capture_output=True, text=True, check=True)
    assert fixed.stdout.strip() == "True"


# -- one population against snncompile.integer.cuba_step -----------------------------------------------------------

EDGE_CASES = {  # (threshold, D, bias, Du): no leak, the largest leak, truncation toward zero, negative bias, saturation
    "plain": (100, 4096, None, 0),
    "leaky": (100, 1, 37, 0),
    "truncating": (2000, 3000, -5, 0),
    "negative_bias": (0, 2048, -4096, 0),
    "saturating": (LOIHI2.threshold_max, 4096, 4095, 0),
    "current_kept_least": (100, 4096, None, 1),                     # and the current's decays, Du = 1 .. 4095
    "current_kept_half": (2000, 3000, -5, 2048),
    "current_kept_most": (0, 2048, -4096, 4000),
    "current_kept_all_but_one": (LOIHI2.threshold_max, 4096, 4095, 4095),
}


def edge_case_currents(T: int, batch: int) -> np.ndarray:
    """Currents ``[T, batch, 8]`` per neuron: threshold ties (100 = 6400 >> 6), negative input, alternating sign, the
    largest current that fits (saturating v), currents beyond it (u wraps at 24 bits, both signs), zero (bias only),
    random; the second sample negated and reversed."""
    rng = np.random.default_rng(0)
    first = np.array([100, -300, 5000, 131071, 200_000, 0, 0, -200_000])
    samples = [np.tile(first, (T, 1)), np.tile(-first[::-1], (T, 1))][:batch]
    currents = np.stack(samples, axis=1)
    currents[1::2, :, 2] *= -1
    currents[:, :, 6] = rng.integers(-2000, 2000, (T, batch))
    return currents


@pytest.mark.lava
def test_edge_cases_of_one_population_equal_cuba_step_at_every_step():
    """Populations that keep none, 1, half, most and all but one 4096th of their current: separate Lava processes
    (one ``du`` each), whose spikes equal :func:`snncompile.integer.cuba_step`'s at every step."""
    T, neurons = 8, 8
    currents = edge_case_currents(T, 2)
    graph = Graph("edge_cases")
    graph.add("input", Input((neurons,), "frames", "analog"))
    graph.add("current", Quantize(1.0), ["input"])
    for name, (threshold, decay, bias, current_decay) in EDGE_CASES.items():
        graph.add(name, IntLIF(threshold, decay, None if bias is None else np.full(neurons, bias),
                               current_decay_12bit=current_decay), ["current"])
    graph.add("spikes", Add(), list(EDGE_CASES))
    graph.add("readout", Readout(np.ones((2, neurons), np.int32), np.array([3, -2], np.int32)), ["spikes"])
    graph.set_outputs(["readout"])
    reports = []
    lava, _ = assert_same_as_integer_simulator(graph, currents.astype(float), T,
                                               progress=lambda *report: reports.append(report))
    assert reports[0] == (0, "building the Lava processes")
    assert [done for done, _ in reports] == sorted(done for done, _ in reports)
    for name, (threshold, decay, bias, current_decay) in EDGE_CASES.items():
        u = v = np.zeros((2, neurons), np.int64)
        expected = []
        for t in range(T):
            fired, u, v = cuba_step(u, v, currents[t], current_decay, decay, 0 if bias is None else bias, threshold)
            expected.append(fired)
        assert np.array_equal(lava.recorded[name], np.array(expected, float)), name
    assert lava.recorded["plain"][0, 0, 0] == 0 and lava.recorded["plain"][1, 0, 0] == 1  # v == threshold: no spike


LAVA_LIF_STATES = """
import sys
import numpy as np
from snncompile.backends.lava import compat
compat.install()
from lava.magma.core.run_conditions import RunSteps
from lava.magma.core.run_configs import Loihi2SimCfg
from lava.proc.io.sink import RingBuffer as Sink
from lava.proc.io.source import RingBuffer as Source
from lava.proc.lif.process import LIF

cases = np.load(sys.argv[1])
currents, T = cases["currents"], cases["currents"].shape[0]
u, v, spikes = [], [], []
for du, dv, bias, threshold in zip(cases["du"], cases["dv"], cases["bias"], cases["threshold"]):  # one run each
    lif = LIF(shape=(currents.shape[1],), du=int(du), dv=int(dv), bias_mant=bias, bias_exp=6, vth=threshold)
    Source(data=currents.T.astype(np.int32)).s_out.connect(lif.a_in)
    sink = Sink(shape=lif.s_out.shape, buffer=T)
    lif.s_out.connect(sink.a_in)
    states = []
    for t in range(T):
        lif.run(condition=RunSteps(num_steps=1), run_cfg=Loihi2SimCfg(select_tag="fixed_pt"))
        states.append((lif.u.get(), lif.v.get()))
    spikes.append(sink.data.get().T)
    lif.stop()
    u.append([state[0] for state in states])
    v.append([state[1] for state in states])
np.savez(sys.argv[2], u=np.array(u), v=np.array(v), spikes=np.array(spikes))  # [case, T, neuron]
"""


@pytest.mark.lava
def test_lavas_fixed_point_lif_keeps_its_current_as_cuba_step_does(tmp_path):
    """Lava's own LIF (``du = 4095 - Du``, ``dv = 4096 - D``), fed the edge-case currents: its current ``u``, membrane
    ``v`` and spikes after every step equal :func:`snncompile.integer.cuba_step`'s, for Du in {0, 1, 2048, 4000,
    4095}: the current's truncation toward zero, negative currents, its wrap beyond 2**23, saturated membranes."""
    T = 8
    currents = edge_case_currents(T, 1)[:, 0]
    cases = {  # one Lava process per Du (du is one number per process): (D, bias, threshold) per neuron
        0: (3000, [0, 37, -5, 4095, -4096, 100, 0, 3], [100, 0, 2000, 131071, 50, 10, 131071, 500]),
        1: (4096, [0, 0, 0, 0, 0, 5, 0, 0], [100, 10, 100, 131071, 131071, 131071, 131071, 131071]),
        2048: (1, [5, -5, 0, 4095, 0, 0, 7, -4096], [200, 0, 2000, 131071, 0, 1, 300, 1000]),
        4000: (2048, [0, 0, -5, 4095, 0, 40, 0, 0], [131071, 131071, 2000, 131071, 131071, 10, 131071, 131071]),
        4095: (4096, [0, 1, 2, 4095, -4096, 0, 0, 3], [131071, 131071, 131071, 131071, 131071, 131071, 500, 131071]),
    }
    np.savez(tmp_path / "cases.npz", currents=currents, du=[LOIHI2.current_pass_through - du for du in cases],
             dv=[LOIHI2.decay_one - d for d, _, _ in cases.values()], bias=[b for _, b, _ in cases.values()],
             threshold=[th for _, _, th in cases.values()])
    subprocess.run([sys.executable, "-c", LAVA_LIF_STATES, str(tmp_path / "cases.npz"), str(tmp_path / "lava.npz")],
                   check=True, timeout=300)
    lava = np.load(tmp_path / "lava.npz")
    wrapped = 0
    for index, (current_decay, (decay, bias, threshold)) in enumerate(cases.items()):
        u = v = np.zeros(currents.shape[1], np.int64)
        for t in range(T):
            kept = np.sign(u) * ((np.abs(u) * current_decay) >> 12)
            fired, u, v = cuba_step(u, v, currents[t], current_decay, decay, np.array(bias), np.array(threshold))
            wrapped += np.count_nonzero(u != kept + (currents[t] << 6))
            step = f"Du = {current_decay}, step {t}"
            np.testing.assert_array_equal(lava["u"][index, t], u, err_msg=f"u: {step}")
            np.testing.assert_array_equal(lava["v"][index, t], v, err_msg=f"v: {step}")
            np.testing.assert_array_equal(lava["spikes"][index, t], fired, err_msg=f"spikes: {step}")
    assert wrapped > 0 and np.abs(lava["v"]).max() == LOIHI2.state_max and lava["spikes"].any()


@pytest.mark.lava
def test_synaptic_input_beyond_16_bits_reaches_the_neuron_unchanged():
    """Lava declares the LIF's input port ``np.int16``, but Dense and Conv deliver int32 and nothing truncates it: the
    limit is the 24-bit current register (``I << 6`` wraps beyond 2**23), i.e. ``LOIHI2.current_max``."""
    T = 4
    linear = np.zeros((2, 16 * 6 * 6), np.int32)
    linear[0, :200], linear[1, :200] = 255, -255                      # +-51000 per step from 200 active inputs
    graph = Graph("wide_input")
    graph.add("input", Input((16, 6, 6), "frames", "spikes"))
    graph.add("conv", Conv2d(np.full((2, 16, 3, 3), 255, np.int32), None, (1, 1), (1, 1)), ["input"])
    graph.add("conv_neurons", IntLIF(LOIHI2.threshold_max, 4096), ["conv"])  # up to 16*9*255 = 36720 per step
    graph.add("flat", Flatten(), ["input"])
    graph.add("linear", Linear(linear), ["flat"])
    graph.add("linear_neurons", IntLIF(LOIHI2.threshold_max, 4096), ["linear"])
    graph.add("readout", Readout(np.ones((1, 2), np.int32)), ["linear_neurons"])
    graph.set_outputs(["readout"])
    frames = np.ones((T, 1, 16, 6, 6))
    lava, _ = assert_same_as_integer_simulator(graph, frames, T, convolutions="conv")
    currents = get_backend("numpy").run(graph, frames, T, record=["conv", "linear"]).recorded
    assert currents["conv"].max() == 36720 and np.abs(currents["linear"]).max() == 51000
    assert 32767 < 51000 <= LOIHI2.current_max
    truncated = currents["linear"].astype(np.int16).astype(np.int64)  # what an int16 port would have delivered
    v, spikes = np.zeros((1, 2), np.int64), []
    for t in range(T):
        fired, v = lif_step(v, truncated[t], 4096, 0, LOIHI2.threshold_max)
        spikes.append(fired)
    assert not np.array_equal(np.array(spikes, float), lava.recorded["linear_neurons"])  # so the test would notice
    assert lava.recorded["linear_neurons"][:, 0].tolist() == [[0, 0], [0, 0], [1, 0], [0, 0]]  # saturates, fires


@pytest.mark.lava
def test_conv_is_a_true_convolution_over_x_y_c_with_flipped_transposed_kernels():
    """An asymmetric kernel, stride and padding on a non-square input, as a Lava Conv process."""
    rng = np.random.default_rng(3)
    graph = Graph("conv_layout")
    graph.add("input", Input((3, 7, 5), "frames", "spikes"))
    graph.add("conv", Conv2d(rng.integers(-40, 41, (4, 3, 3, 2)).astype(np.int32), None, (2, 1), (1, 0)), ["input"])
    graph.add("neurons", IntLIF(30, 3000), ["conv"])
    graph.add("flat", Flatten(), ["neurons"])
    graph.add("readout", Readout(rng.integers(-5, 6, (3, 4 * 4 * 4)).astype(np.int32)), ["flat"])
    graph.set_outputs(["readout"])
    assert {c.kind for c in plan(graph, "conv").connections} == {"conv", "dense"}
    frames = (rng.random((5, 2, 3, 7, 5)) < 0.5).astype(float)
    lava, _ = assert_same_as_integer_simulator(graph, frames, 5, convolutions="conv")
    assert 0 < lava.recorded["neurons"].mean() < 1


# -- the zoo --------------------------------------------------------------------------------------------------------

def zoo_graph(family: str, seed: int = 0):
    """The integer graph of a float32 :data:`conftest.FAMILIES` ``family`` at width 4, T=2, and its config."""
    model, config = family_model(family, width=4, T=2, seed=seed, dtype=torch.float32)
    shape = (config["T"], 1, config["in_channels"], 8, 8) if config["encoding"] == "frames" else (1, 1, 8, 8)
    example = (torch.rand(shape) < 0.3).float() if config["encoding"] == "frames" else torch.rand(shape)
    return lower_and_quantize(trace(model, example)).graph, config


def test_progress_counts_a_sample_once_the_step_completing_its_readout_has_run():
    graph, config = zoo_graph("sew_add_if")
    network, T, batch = plan(graph), config["T"], 3
    steps, readout_rows = batch * T + network.depth, _rows(network.depth, T, batch)  # rows: Lava steps from 0
    for sample in range(batch):
        completing = readout_rows[sample, -1] + 1
        assert describe_progress(network, T, batch, steps, RUNNING, completing)[0] == sample + 1
        assert describe_progress(network, T, batch, steps, RUNNING, completing - 1)[0] == sample


@pytest.mark.lava
@pytest.mark.parametrize("family, convolutions", [*((family, None) for family in sorted(FAMILIES)),
                                                  ("mlf_k3", "conv")])  # and Lava Conv tiled over the K levels
def test_lava_spikes_equal_the_integer_simulator_for_every_family(family, convolutions):
    graph, config = zoo_graph(family)
    T, rng = config["T"], np.random.default_rng(1)
    if config["encoding"] == "frames":
        inputs = (rng.random((T, 2, config["in_channels"], 8, 8)) < 0.3).astype(float)
    else:
        inputs = rng.random((2, config["in_channels"], 8, 8))
    lava, expected = assert_same_as_integer_simulator(graph, inputs, T, convolutions=convolutions)
    populations = [n.name for n in graph if n.op.kind == "IntLIF"]
    assert 0 < np.mean([expected.recorded[name].mean() for name in populations]) < 1  # the network does fire


# -- what Loihi cannot run -----------------------------------------------------------------------------------------

def test_one_error_lists_every_node_loihi_cannot_run():
    graph = Graph("unsupported")
    graph.add("input", Input((2, 4, 4), "frames", "spikes"))
    graph.add("conv", Conv2d(np.full((2, 2, 3, 3), 300, np.int32), None, (1, 1), (1, 1)), ["input"])
    graph.add("neurons", IntLIF(200_000, 4096, np.array([5000, 0])), ["conv"])
    graph.add("pool", MaxPool2d(2, 2), ["neurons"])
    graph.add("soft", LIF(reset="soft"), ["pool"])
    graph.add("flat", Flatten(), ["neurons"])
    graph.add("readout", Readout(np.ones((3, 32), np.int32), np.array([0, 0, 9000], np.int32)), ["flat"])
    graph.add("after", Linear(np.ones((2, 3))), ["readout"])
    graph.set_outputs(["readout"])
    with pytest.raises(UnsupportedNodeError) as error:
        get_backend("lava").check(graph)
    message = str(error.value)
    expected = ["'conv' (Conv2d): weights: [300, 300] is outside the chip's range [-256, 255]",
                "'neurons' (IntLIF): threshold: [200000, 200000] is outside", "'neurons' (IntLIF): bias: [0, 5000]",
                "'pool' (MaxPool2d): not a chip op", "'soft' (LIF): a float neuron", "'soft' (LIF): soft reset",
                "'readout' (Readout): bias: [0, 9000]", "'readout' (Readout): read by 'after'",
                "'after' (Linear): reads 'readout', a current"]
    for line in expected:
        assert line in message, line
    assert message.count("\n  - ") == len(expected)


def test_populations_share_a_lava_process_only_with_the_same_decays():
    """Lava's ``du`` and ``dv`` are one number per process: IntLIF nodes reading one current share a process when
    both their decays agree, and ``du = 4095 - Du``; a chip with a narrower ``du`` refuses a larger ``Du``."""
    graph = Graph("decays")
    graph.add("input", Input((4,), "frames", "spikes"))
    graph.add("fc", Linear(np.ones((3, 4), np.int32)), ["input"])
    levels = {"a": (3000, 0), "b": (3000, 0), "c": (3000, 1024), "d": (3000, 1024), "e": (2048, 1024)}
    for name, (decay, current_decay) in levels.items():
        graph.add(name, IntLIF(5, decay, current_decay_12bit=current_decay), ["fc"])
    graph.add("spikes", Add(), list(levels))
    graph.add("readout", Readout(np.ones((2, 3), np.int32)), ["spikes"])
    graph.set_outputs(["readout"])
    network = plan(graph)
    processes = {tuple(p.members): p for p in network.lif_populations()}
    assert set(processes) == {("a", "b"), ("c", "d"), ("e",)}
    assert [neuron_parameters(graph, network, p)["du"] for p in processes.values()] == [4095, 3071, 3071]
    assert [neuron_parameters(graph, network, p)["dv"] for p in processes.values()] == [1096, 1096, 2048]
    narrow = replace(LOIHI2, name="narrow", decay_bits=10)
    assert any("'c' (IntLIF): current_decay_12bit Du: [1024, 1024] is outside the chip's range [0, 1023]" in problem
               for problem in unsupported(graph, narrow))


def test_a_float_graph_is_rejected_node_by_node():
    model = lively(build("mlf_dsresnet14", **tiny_config("mlf_dsresnet14"))).eval()
    graph = trace(model, torch.rand(1, 1, 8, 8))
    problems = get_backend("lava").unsupported(graph)
    assert any("a float neuron" in p for p in problems) and any("not a chip op" in p for p in problems)


# -- the artifact, errors and teardown -----------------------------------------------------------------------------

@pytest.mark.lava
def test_compile_for_lava_then_simulate_on_digits_through_the_cli(tmp_path, capsys):
    from snncompile.cli.main import main

    torch.manual_seed(0)
    model = lively(build("mlf_dsresnet14", **tiny_config("mlf_dsresnet14"))).eval()
    compiled = compile_model(model, torch.rand(1, 1, 8, 8), target="lava", output=tmp_path / "model.lava")
    network = json.loads((compiled.artifact / NETWORK_FILE).read_text())
    assert network["processes"] == plan(compiled.graph).process_count() and network["depth"] > 0
    results = {}
    for backend in ("numpy", "lava"):
        assert main(["simulate", str(compiled.artifact), "--backend", backend, "--limit", "3", "--json"]) == 0
        results[backend] = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert results["lava"]["predictions"] == results["numpy"]["predictions"]
    assert results["lava"]["spikes"] == results["numpy"]["spikes"]


@pytest.mark.lava
def test_an_error_inside_a_lava_process_surfaces_and_leaves_no_process_behind(tmp_path, job_root):
    """A hand-edited artifact asks for a 100-step synaptic delay; Lava's DelaySparse raises inside its process at the
    first step (Loihi 2 delays are 6 bits). Lava itself would hang; the run raises Lava's message instead."""
    graph, config = zoo_graph("sew_add_if")
    artifact = get_backend("lava").emit(graph, tmp_path / "model.lava")
    document = json.loads((artifact / NETWORK_FILE).read_text())
    next(c for c in document["connections"] if c["kind"] == "delay")["delay"] = 100
    (artifact / NETWORK_FILE).write_text(json.dumps(document))
    memory_before = shared_memory()
    with pytest.raises(LavaRunError, match="a Lava process failed: ValueError: DelaySparse Process 'delays' expects "
                                           "values between 0 and 63") as error:
        get_backend("lava").run(artifact, np.random.default_rng(0).random((1, 1, 8, 8)), config["T"])
    assert "Traceback" in error.value.details
    assert lava_processes(job_root) == []
    assert not shared_memory() - memory_before


@pytest.mark.lava
def test_a_caller_killed_mid_run_leaves_no_lava_process_or_file_behind(tmp_path, job_root):
    """SIGKILL gives the caller no clean-up: its Lava worker notices its new parent, tears Lava down, removes the job
    directory and kills what is left of its session."""
    graph, config = zoo_graph("tdbn_resnet19")
    artifact = get_backend("lava").emit(graph, tmp_path / "model.lava")
    script = (f"import tempfile, numpy as np\ntempfile.tempdir = {str(job_root)!r}\n"
              f"from snncompile.backends import get_backend\n"
              f"get_backend('lava').run({str(artifact)!r}, np.zeros((4, 1, 8, 8)), {config['T']})\n")
    caller = subprocess.Popen([sys.executable, "-c", script])
    deadline = time.monotonic() + 120
    while not lava_processes(job_root) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert lava_processes(job_root), "the Lava worker never started"
    caller.kill()
    caller.wait()
    def job_directories():  # (the caller's PyTorch put its own cache directory there too)
        return list(job_root.glob("snncompile-*"))

    while (lava_processes(job_root) or job_directories()) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert lava_processes(job_root) == [] and job_directories() == []


@pytest.mark.lava
def test_a_run_past_its_timeout_is_stopped_without_leftovers(job_root):
    graph, config = zoo_graph("tdbn_resnet19")
    with pytest.raises(LavaRunError, match="before the timeout"):
        run_network(graph, np.zeros((1, 1, 8, 8)), config["T"], timeout=0.5)
    assert lava_processes(job_root) == []
