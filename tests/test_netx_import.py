"""Importing lava-dl netx networks as slayer's ``export_hdf5`` writes them.

A slayer CUBA network (current decay on: iDecay 1024), trained for a few steps on CPU on digit event frames and
exported, compiles without quantization; the integer simulator fires the spikes slayer itself fires, in every layer at
every step (slayer delays each block's output by one step), its output is slayer's spike count per class, ONNX runs it
equal to the simulator, ``energy`` prices it, and lava-dl netx, running the exported file in Lava, fires the same
spikes one step later per block. Slayer's pooling and input neurons, which netx 0.6 cannot run, import from slayer's
definition; what the IR would not reproduce (graded spikes, delays, unknown layers, untiled pooling) is refused, every
layer named, in one error.
"""

import json
import tempfile
from pathlib import Path

import h5py
import numpy as np
import pytest
import torch

from snncompile.backends import get_backend
from snncompile.backends.lava import compat
from snncompile.backends.netx.importer import read
from snncompile.cli.main import main
from snncompile.compiler import compile as compile_model
from snncompile.data import load
from snncompile.energy import Activity, estimate
from snncompile.errors import UnsupportedNodeError
from snncompile.ir.ops import IntLIF, Readout

compat.install()  # slayer imports on Python 3.11 (it imports no Lava runtime)
slayer = pytest.importorskip("lava.lib.dl.slayer")

T = 4
PAD = 4            # zero steps after each sample, so that slayer's delayed blocks show every step of the sample
CURRENT_DECAY = 0.25
NEURON = dict(threshold=1.0, current_decay=CURRENT_DECAY, voltage_decay=0.03, tau_grad=0.1, scale_grad=1,
              requires_grad=False)
numpy_backend = get_backend("numpy")


@pytest.fixture(scope="module")
def digits():
    return load("digits", encoding="frames", image_size=8, T=T)


def slayer_input(frames: torch.Tensor) -> torch.Tensor:
    """Frames ``[N, T, C, H, W]`` as slayer takes them, ``[N, C, H, W, T + PAD]``."""
    x = frames.permute(0, 2, 3, 4, 1)
    return torch.cat([x, torch.zeros(*x.shape[:-1], PAD)], dim=-1)


def run_slayer(blocks, frames: torch.Tensor) -> list:
    """Every block's output on ``frames``."""
    outputs, x = [], slayer_input(frames)
    for block in blocks:
        x = block(x)
        outputs.append(x)
    return outputs


def train(blocks, digits, steps: int, seed: int = 0):
    """A few Adam steps of cross-entropy on the last block's spike counts (surrogate gradients), on CPU."""
    torch.manual_seed(seed)
    optimizer = torch.optim.Adam([p for p in blocks.parameters() if p.requires_grad], lr=0.01)
    for _ in range(steps):
        batch = torch.randint(0, len(digits.train_x), (64,))
        counts = run_slayer(blocks, digits.train_x[batch])[-1].sum(-1)
        loss = torch.nn.functional.cross_entropy(counts, digits.train_y[batch])
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    return blocks


def export(blocks, path: Path, digits) -> Path:
    """The blocks' ``export_hdf5`` into ``layer/<i>`` (after one forward pass, which sets their shapes), and the
    steps per sample, which slayer does not write."""
    with torch.no_grad():
        run_slayer(blocks, digits.train_x[:1])
    with h5py.File(path, "w") as f:
        layers = f.create_group("layer")
        for index, block in enumerate(blocks):
            block.export_hdf5(layers.create_group(str(index)))
        f.create_dataset("simulation/tSample", data=T)
    return path


def chain_blocks():
    """Spike frames -> conv (stride 2) -> flatten -> dense (delays on, fixed at 0) -> dense: a network netx runs."""
    torch.manual_seed(0)
    blocks = torch.nn.ModuleList([
        slayer.block.cuba.Input(None, delay_shift=False),
        slayer.block.cuba.Conv(NEURON, 2, 8, 3, padding=1, stride=2, weight_scale=3),
        slayer.block.cuba.Flatten(),
        slayer.block.cuba.Dense(NEURON, 8 * 4 * 4, 24, weight_scale=3, delay=True),
        slayer.block.cuba.Dense(NEURON, 24, 10, weight_scale=3)])
    blocks[3].delay.delay.requires_grad_(False)
    return blocks


@pytest.fixture(scope="module")
def chain(digits, tmp_path_factory):
    """``(blocks, file)``: the chain trained for 30 steps and exported."""
    blocks = train(chain_blocks(), digits, 30).eval()
    return blocks, export(blocks, tmp_path_factory.mktemp("slayer") / "chain.net", digits)


@pytest.fixture(scope="module")
def pooled(digits, tmp_path_factory):
    """Input neurons -> conv -> pool 2x2 -> flatten -> dense: slayer blocks netx 0.6 cannot run."""
    torch.manual_seed(1)
    blocks = torch.nn.ModuleList([
        slayer.block.cuba.Input(NEURON),
        slayer.block.cuba.Conv(NEURON, 2, 4, 3, padding=1, weight_scale=3),
        slayer.block.cuba.Pool(NEURON, 2, weight_scale=1),
        slayer.block.cuba.Flatten(),
        slayer.block.cuba.Dense(NEURON, 4 * 4 * 4, 10, weight_scale=3)])
    blocks = train(blocks, digits, 10).eval()
    return blocks, export(blocks, tmp_path_factory.mktemp("slayer") / "pooled.net", digits)


def simulator_inputs(frames: torch.Tensor) -> np.ndarray:
    return frames.numpy().astype(np.float64).swapaxes(0, 1)   # [T, B, C, H, W]


def assert_slayer_spikes(graph, blocks, outputs, recorded):
    """Every population of ``graph`` (``layer<i>``, block ``i``) fires what block ``i`` fires, its output delayed by
    one step per block that shifts (slayer's ``delay_shift``) up to and including it."""
    delay, compared = 0, 0
    for index, (block, output) in enumerate(zip(blocks, outputs)):
        delay += int(getattr(block, "delay_shift", False))
        name = f"layer{index}"
        if name in graph and isinstance(graph[name].op, IntLIF):
            expected = np.moveaxis(output[..., delay:delay + T].numpy(), -1, 0)   # [T, B, *shape]
            np.testing.assert_array_equal(recorded[name], expected, err_msg=name)
            assert expected.sum() > 0, f"{name} never fires: the comparison would prove nothing"
            compared += 1
    return compared


def test_a_trained_slayer_network_fires_slayers_spikes_in_the_simulator(chain, digits):
    blocks, path = chain
    graph = compile_model(path, target="numpy").graph
    assert [graph[f"layer{i}"].op.current_decay_12bit for i in (1, 3, 4)] == [4096 - int(CURRENT_DECAY * 4096)] * 3
    frames = digits.test_x[:16]
    with torch.no_grad():
        outputs = run_slayer(blocks, frames)
    result = numpy_backend.run(graph, simulator_inputs(frames), T, record="all")
    assert assert_slayer_spikes(graph, blocks, outputs, result.recorded) == 3
    counts = outputs[-1][..., 3:3 + T].sum(-1).numpy()              # the last block's spikes of each sample
    np.testing.assert_array_equal(result.output * T, counts)        # the readout: spike count over T, per class


def test_compile_and_simulate_it_on_the_command_line_classifies_as_slayer(chain, digits, tmp_path, capsys):
    blocks, path = chain
    out = tmp_path / "chain.numpy"
    assert main(["compile", str(path), "--target", "numpy", "-o", str(out)]) == 0
    assert "integer weights as read" in capsys.readouterr().out
    assert main(["simulate", str(out), "--data", "digits", "--limit", "100", "--json"]) == 0
    accuracy = json.loads(capsys.readouterr().out.strip().splitlines()[-1])["accuracy"]
    with torch.no_grad():
        counts = run_slayer(blocks, digits.test_x[:100])[-1][..., 3:3 + T].sum(-1).numpy()
    assert accuracy == pytest.approx(np.mean(counts.argmax(1) == digits.test_y[:100].numpy()))
    assert accuracy > 0.3   # trained: well above chance (10 %)


def test_a_first_dense_layer_without_an_input_layer_reads_flat_frames(digits, tmp_path):
    torch.manual_seed(2)
    blocks = torch.nn.ModuleList([slayer.block.cuba.Dense(NEURON, 2 * 8 * 8, 10, weight_scale=3)]).eval()
    flat = digits.test_x[:16].flatten(2)                                 # [N, T, 128], (C, H, W) order
    with torch.no_grad():
        blocks[0](slayer_input(flat[..., None, None]).flatten(1, 3))    # sets the block's shape for export
        outputs = [blocks[0](slayer_input(flat[..., None, None]).flatten(1, 3))]
    with h5py.File(tmp_path / "dense.net", "w") as f:
        blocks[0].export_hdf5(f.create_group("layer/0"))
        f.create_dataset("simulation/tSample", data=T)
    graph = read(tmp_path / "dense.net")
    assert graph["input"].info.shape == (128,)
    result = numpy_backend.run(graph, flat.numpy().astype(np.float64).swapaxes(0, 1), T, record="all")
    assert assert_slayer_spikes(graph, blocks, outputs, result.recorded) == 1


def test_pooling_and_input_neurons_import_from_slayers_definition(pooled, digits):
    blocks, path = pooled
    graph = compile_model(path, target="numpy").graph
    assert graph["layer2.pool"].op.kind == "SumPool2d"
    frames = digits.test_x[:16]
    with torch.no_grad():
        outputs = run_slayer(blocks, frames)
    result = numpy_backend.run(graph, simulator_inputs(frames), T, record="all")
    assert assert_slayer_spikes(graph, blocks, outputs, result.recorded) == 4


def test_onnx_runs_the_imported_network_equal_to_the_simulator(chain, pooled, digits, tmp_path):
    inputs = simulator_inputs(digits.test_x[:8])
    for _, path in (chain, pooled):
        compiled = compile_model(path, target="onnx", output=tmp_path / f"{path.stem}.onnx")
        expected = numpy_backend.run(compiled.graph, inputs, T)
        result = get_backend("onnx").run(compiled.artifact, inputs, T)
        np.testing.assert_array_equal(result.output, expected.output)
        for name, counts in expected.spike_counts.items():
            np.testing.assert_array_equal(result.spike_counts[name], counts, err_msg=name)


def test_energy_prices_every_spike_slayer_fired(chain, digits):
    blocks, path = chain
    graph = compile_model(path, target="numpy").graph
    frames = digits.test_x[:16]
    activity = Activity.empty(graph)
    activity.add(numpy_backend.run(graph, simulator_inputs(frames), T, record=activity.recorded))
    rows = {row.name: row for row in estimate(graph, activity, "loihi").layers}
    with torch.no_grad():
        conv_spikes = run_slayer(blocks, frames)[1][..., 1:1 + T].sum().item() / len(frames)
    assert rows["layer3.dense"].sops == pytest.approx(conv_spikes * 24)   # each spike reaches 24 dense neurons
    assert rows["layer1"].spikes == pytest.approx(conv_spikes)
    assert all(row.energy_pj > 0 for name, row in rows.items() if name != "input")


def test_an_average_layer_reads_out_the_mean_of_each_group(chain, digits, tmp_path):
    blocks, path = chain
    averaged = tmp_path / "averaged.net"
    averaged.write_bytes(path.read_bytes())
    with h5py.File(averaged, "a") as f:
        f.create_dataset("layer/5/type", (1,), "S10", [b"average"])
        f.create_dataset("layer/5/shape", data=np.array([5, 1, 1]))
    graph = read(averaged)
    assert isinstance(graph[graph.outputs[0]].op, Readout)
    frames = digits.test_x[:8]
    with torch.no_grad():
        rates = slayer.block.cuba.Average(5)(run_slayer(blocks, frames)[-1])[..., 3:3 + T].mean(-1).numpy()
    np.testing.assert_allclose(numpy_backend.run(graph, simulator_inputs(frames), T).output, rates, rtol=1e-12)


def refused_file(chain, digits, path: Path) -> Path:
    """The chain with graded spikes in layer 3, a delay of 2 steps in layer 4, and a 'concat' layer 5."""
    blocks, _ = chain
    graded = slayer.block.cuba.Dense({**NEURON, "graded_spike": True}, 8 * 4 * 4, 24)
    delayed = slayer.block.cuba.Dense(NEURON, 24, 10, delay=True)
    refused = torch.nn.ModuleList([*blocks[:3], graded, delayed])
    with torch.no_grad():
        run_slayer(refused, digits.train_x[:1])   # slayer sizes the delays at the first forward pass
    delayed.delay.delay.data.fill_(2.0)
    export(refused, path, digits)
    with h5py.File(path, "a") as f:
        f.create_dataset("layer/5/type", (1,), "S10", [b"concat"])
        f.create_dataset("layer/5/shape", data=np.array([10]))
    return path


def test_graded_spikes_delays_and_unknown_layers_are_refused_by_name_in_one_error(chain, digits, tmp_path, capsys):
    path = refused_file(chain, digits, tmp_path / "refused.net")
    with pytest.raises(UnsupportedNodeError) as refusal:
        read(path)
    message = str(refusal.value)
    assert "3 layer(s)" in message
    assert "layer 3 (dense): graded spikes" in message
    assert "layer 4 (dense): synaptic delays up to 2 steps" in message
    assert "layer 5 (concat): no snncompile import for 'concat' layers" in message
    assert main(["compile", str(path), "--target", "numpy", "-o", str(tmp_path / "out")]) == 1
    assert capsys.readouterr().err.startswith(f"snncompile: error: {path}: 3 layer(s) snncompile cannot import")
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("change, complaint", [
    (lambda f: f["layer/2/stride"].write_direct(np.array([1, 1])),
     "layer 2 (pool): a pool of kernel (2, 2) and stride (1, 1)"),
    (lambda f: f.__delitem__("layer/0"), "layer 0 (conv): the file has no input layer"),
    (lambda f: f["layer/1/neuron/refDelay"].write_direct(np.array(3)), "layer 1 (conv): a refractory delay of 3"),
    (lambda f: f["layer/1/weight"].write_direct(f["layer/1/weight"][()] + 0.5), "weight values that are not integers"),
])
def test_what_the_ir_would_not_reproduce_is_refused(pooled, tmp_path, change, complaint):
    _, path = pooled
    changed = tmp_path / "changed.net"
    changed.write_bytes(path.read_bytes())
    with h5py.File(changed, "a") as f:
        change(f)
        if "layer/0" not in f:   # renumber the layers 0..n-1
            for index in range(1, len(f["layer"]) + 1):
                f.move(f"layer/{index}", f"layer/{index - 1}")
    with pytest.raises(UnsupportedNodeError, match="cannot import") as refusal:
        read(changed)
    assert complaint in str(refusal.value)


def test_inspect_reads_a_netx_file_and_other_files_say_what_they_are(chain, tmp_path, capsys):
    _, path = chain
    assert main(["inspect", str(path)]) == 0
    table = capsys.readouterr().out
    assert "layer1.conv" in table and "IntLIF" in table and "spike_rate" in table
    untimed = tmp_path / "untimed.net"
    untimed.write_bytes(path.read_bytes())
    with h5py.File(untimed, "a") as f:
        del f["simulation"]
    assert main(["inspect", str(untimed)]) == 0
    assert "T=?" in capsys.readouterr().out
    assert main(["compile", str(untimed), "-o", str(tmp_path / "out")]) == 2
    assert "simulation/tSample" in capsys.readouterr().err
    other = tmp_path / "other.h5"
    with h5py.File(other, "w") as f:
        f.create_dataset("x", data=1)
    assert main(["compile", str(other), "-o", str(tmp_path / "out")]) == 1
    assert "is an HDF5 file, not a checkpoint" in capsys.readouterr().err


@pytest.mark.lava
def test_netx_runs_slayers_file_in_lava_with_the_simulators_spikes_one_step_later_per_block(chain, digits):
    from snncompile.backends.netx.runtime import load_arguments, run_file

    _, path = chain
    graph = read(path)
    inputs = simulator_inputs(digits.test_x[:2])                       # [T, B, C, H, W]
    with tempfile.TemporaryDirectory() as job_dir:
        lava, _ = run_file(path, inputs, T, load_arguments(T), Path(job_dir))   # [steps, neurons of every block]
    expected = numpy_backend.run(graph, inputs, T, record="all").recorded
    batch = inputs.shape[1]
    rows = np.arange(batch)[None, :] * T + np.arange(T)[:, None]        # [T, B]: IR step t of sample b
    start = 0
    for k, name in enumerate(("layer1", "layer3", "layer4"), start=1):   # block k fires k steps after its input
        shape = graph[name].info.shape
        block = lava[:, start:start + int(np.prod(shape))][rows + k].reshape(T, batch, *reversed(shape))
        start += int(np.prod(shape))
        in_pytorch_order = np.moveaxis(block, range(2, block.ndim), range(block.ndim - 1, 1, -1))
        np.testing.assert_array_equal(in_pytorch_order, expected[name], err_msg=name)
        assert expected[name].sum() > 0
    assert start == lava.shape[1]


@pytest.mark.lava
def test_the_lava_backend_runs_the_imported_network_equal_to_the_simulator(pooled, digits, tmp_path):
    _, path = pooled
    compiled = compile_model(path, target="lava", output=tmp_path / "pooled.lava")
    inputs = simulator_inputs(digits.test_x[:2])
    names = [node.name for node in compiled.graph if isinstance(node.op, IntLIF)]
    expected = numpy_backend.run(compiled.graph, inputs, T, record=names)
    result = get_backend("lava").run(compiled.artifact, inputs, T, record=names)
    for name in names:
        np.testing.assert_array_equal(result.recorded[name], expected.recorded[name], err_msg=name)
    np.testing.assert_array_equal(result.output, expected.output)
