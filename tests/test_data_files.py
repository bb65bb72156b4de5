"""Your own data (issue 16): a test set a script wrote to .npz, event streams binned by tonic, and PyTorch data
(tensors, a Dataset, a DataLoader) run through calibration, simulation and energy on every target's artifact, and
data that does not fit an artifact's input is one error saying what it takes and what fixes it."""

import json

import nir
import numpy as np
import pytest
import torch
from torch.utils.data import DataLoader, TensorDataset

import snncompile
from snncompile.backends import get_backend
from snncompile.backends.nir.export import to_nir
from snncompile.cli.main import main
from snncompile.compiler import load_artifact
from snncompile.data import load, read_file, samples_for
from snncompile.data.event_files import write_events
from snncompile.energy import measure
from snncompile.errors import DataError
from snncompile.evaluation import evaluate
from snncompile.ir import Graph
from snncompile.ir.ops import Input
from snncompile.models import build

from conftest import lively, tiny_config
from test_netx import frames_classifier

EVENT_DTYPE = np.dtype([("x", np.int16), ("y", np.int16), ("t", np.int64), ("p", np.int8)])
FRAME_PERIOD = 1000  # the event files below: frame t's events at t * FRAME_PERIOD + row (a few time units apart)


def last_json(capsys) -> dict:
    return json.loads(capsys.readouterr().out.strip().splitlines()[-1])


@pytest.fixture(scope="module")
def digits_npz(tmp_path_factory):
    """What a user's script writes: 16 held-out digit images [N, 1, 8, 8] and their labels."""
    data = load("digits")
    path = tmp_path_factory.mktemp("data") / "test.npz"
    np.savez(path, x=data.test_x[:16].numpy(), y=data.test_y[:16].numpy())
    return path


def frames_to_events(frames: np.ndarray) -> np.ndarray:
    """The events of one sample's binary frames ``[T, 2, H, W]``: one per set pixel, frame t's at
    ``t * FRAME_PERIOD + row``, sorted by time."""
    t, p, y, x = np.nonzero(frames)
    events = np.zeros(len(t), EVENT_DTYPE)
    events["x"], events["y"], events["t"], events["p"] = x, y, t * FRAME_PERIOD + y, p
    return np.sort(events, order="t", kind="stable")


@pytest.fixture(scope="module")
def event_file(tmp_path_factory):
    """An event-stream file of 8 digits seen by the simulated DVS over 2 frames, with labels; and those frames."""
    data = load("digits", encoding="frames", T=2)
    frames, labels = data.test_x.numpy(), data.test_y.numpy()
    keep = [i for i in range(len(frames)) if frames[i, 0].any() and frames[i, -1].any()][:8]  # events in both
    path = tmp_path_factory.mktemp("events") / "events.npz"
    write_events(path, [frames_to_events(frames[i]) for i in keep], (8, 8, 2), labels[keep])
    return path, frames[keep], labels[keep]


@pytest.fixture(scope="module")
def frames_nir(tmp_path_factory):
    path = tmp_path_factory.mktemp("nir") / "frames.nir"
    nir.write(path, to_nir(frames_classifier()))
    return path


def run_commands(capsys, model, target: str, data: str, tmp_path, *options) -> tuple:
    """``compile --calibrate-data``, then ``simulate`` and ``energy`` on the artifact with ``--data``: the compile
    report and the two JSON objects."""
    out = tmp_path / f"model.{target}"
    assert main(["compile", str(model), "--target", target, "--calibrate", "6", "--calibrate-data", data, *options,
                 "-o", str(out)]) == 0
    capsys.readouterr()
    backend = target if target in ("numpy", "onnx", "nir") else "numpy"
    assert main(["simulate", str(out), "--backend", backend, "--data", data, "--limit", "5", "--json", *options]) == 0
    simulated = last_json(capsys)
    assert main(["energy", str(out), "--data", data, "--limit", "5", "--json", "--plot", str(tmp_path / "e.png"),
                 *options]) == 0
    energy = last_json(capsys)
    return load_artifact(out), simulated, energy


@pytest.mark.parametrize("target", ["numpy", "onnx", "nir"])
def test_a_test_set_a_script_wrote_to_npz_runs_through_compile_simulate_and_energy(target, tiny_checkpoint,
                                                                                  digits_npz, tmp_path, capsys):
    (graph, _, report), simulated, energy = run_commands(capsys, tiny_checkpoint, target, str(digits_npz), tmp_path)
    assert report["calibration"]["samples"] == 6
    with np.load(digits_npz) as saved:
        x, y = saved["x"][:5].astype(np.float64), saved["y"][:5]
    expected = get_backend("numpy").run(graph, x, 2)
    assert simulated["predictions"] == expected.output.argmax(1).tolist()
    assert simulated["accuracy"] == pytest.approx(np.mean(expected.output.argmax(1) == y))
    assert simulated["spikes"] == {name: int(c.sum()) for name, c in expected.spike_counts.items()}
    assert energy["accuracy"] == simulated["accuracy"] and energy["totals"]["sops"] > 0


def test_an_npy_without_labels_reports_no_accuracy_and_runs_the_same(tiny_checkpoint, digits_npz, tmp_path, capsys):
    with np.load(digits_npz) as saved:
        np.save(tmp_path / "x.npy", saved["x"])
    out = tmp_path / "model"
    assert main(["compile", str(tiny_checkpoint), "-o", str(out)]) == 0
    capsys.readouterr()
    runs = {}
    for data in (digits_npz, tmp_path / "x.npy"):
        assert main(["simulate", str(out), "--data", str(data), "--limit", "4", "--json"]) == 0
        printed = capsys.readouterr().out
        runs[data.suffix] = json.loads(printed.strip().splitlines()[-1]), printed.splitlines()[0]
    assert runs[".npy"][0]["accuracy"] is None and "no labels, no accuracy on 4 samples, T=2" in runs[".npy"][1]
    assert runs[".npy"][0]["predictions"] == runs[".npz"][0]["predictions"]
    assert runs[".npy"][0]["spikes"] == runs[".npz"][0]["spikes"]


def test_event_streams_are_binned_by_tonic_into_the_frames_they_came_from(event_file):
    path, frames, labels = event_file
    samples = read_file(path, T=2)
    np.testing.assert_array_equal(samples.x, frames)
    np.testing.assert_array_equal(samples.y, labels)
    first = read_file(path, T=2, limit=3)  # only the samples asked for are binned
    np.testing.assert_array_equal(first.x, frames[:3])
    np.testing.assert_array_equal(first.y, labels[:3])


def test_frames_by_time_window_or_event_count_and_spikes_as_one_per_pixel(tmp_path):
    events = np.zeros(4, EVENT_DTYPE)
    events["x"], events["y"], events["t"], events["p"] = [1, 1, 0, 2], [0, 0, 1, 1], [3, 5, 13, 23], [1, 1, 0, 1]
    path = write_events(tmp_path / "one.npz", [events], (3, 2, 2))
    per_frame = {"by time": (read_file(path, T=2, frame_time=8).x[0], [2, 1]),   # [3, 11) [11, 19): 23 left out
                 "by count": (read_file(path, T=3, frame_events=3).x[0], [3, 1, 0]),   # the last frame empty
                 "equal windows": (read_file(path, T=2).x[0], [3, 1])}                 # [3, 14) [14, 25)
    for name, (binned, counts) in per_frame.items():
        assert binned.sum(axis=(1, 2, 3)).tolist() == counts, name
    assert read_file(path, T=2, frame_time=8).x[0, 0, 1, 0, 1] == 2  # two events at one pixel: a count of 2 ...
    assert read_file(path, T=2, frame_time=8, binary=True).x[0, 0, 1, 0, 1] == 1  # ... one spike for spike input
    assert read_file(path, T=2).y is None


@pytest.mark.parametrize("target", ["numpy", "onnx", "nir", "netx"])
def test_an_event_file_runs_through_compile_simulate_and_energy(target, frames_nir, event_file, tmp_path, capsys):
    path, frames, labels = event_file
    (graph, _, report), simulated, energy = run_commands(capsys, frames_nir, target, str(path), tmp_path)
    assert report["calibration"]["samples"] == 6
    expected = get_backend("numpy").run(graph, np.ascontiguousarray(frames[:5].swapaxes(0, 1)), 2)
    assert simulated["predictions"] == expected.output.argmax(1).tolist()
    assert simulated["accuracy"] == pytest.approx(np.mean(expected.output.argmax(1) == labels[:5]))
    assert simulated["spikes"]["lif"] == int(expected.spike_counts["lif"].sum()) > 0
    assert energy["accuracy"] == simulated["accuracy"]


def tiny_model():
    torch.manual_seed(0)
    return lively(build("mlf_dsresnet14", **tiny_config("mlf_dsresnet14"), levels=2)).double().eval()


def digits_loader(count: int = 12):
    data = load("digits")
    x, y = data.test_x[:count].double(), data.test_y[:count]
    return x, y, DataLoader(TensorDataset(x, y), batch_size=5)


def test_a_dataloader_a_dataset_tensors_and_arrays_are_the_same_samples_to_the_python_api():
    x, y, loader = digits_loader()
    compiled = snncompile.compile(tiny_model(), x[:1], calibrate=loader)
    from_arrays = snncompile.compile(tiny_model(), x[:1], calibrate=12, calibrate_data=(x.numpy(), y.numpy()))
    assert compiled.report["calibration"] == from_arrays.report["calibration"]
    assert compiled.report["calibration"]["samples"] == 12
    backend = get_backend("numpy")
    by_loader = evaluate(compiled.graph, backend, loader, limit=7, progress=False)
    by_dataset = evaluate(compiled.graph, backend, TensorDataset(x, y), limit=7, progress=False)
    by_tensor = evaluate(compiled.graph, backend, x[:7], progress=False)
    assert by_loader.predictions == by_dataset.predictions == by_tensor.predictions
    assert by_loader.spikes == by_dataset.spikes == by_tensor.spikes and by_tensor.accuracy is None
    assert by_loader.accuracy == pytest.approx(np.mean(np.array(by_loader.predictions) == y[:7].numpy()))


@pytest.mark.parametrize("target", ["onnx", "nir"])
def test_a_dataloader_calibrates_simulates_and_prices_a_module_for_every_target(target):
    x, y, loader = digits_loader(8)
    compiled = snncompile.compile(tiny_model(), x[:1], target=target, calibrate=loader)
    assert compiled.report["calibration"]["samples"] == 8
    evaluation, activity = measure(compiled.graph, get_backend(target), loader, limit=4, progress=False)
    expected = get_backend("numpy").run(compiled.graph, x[:4].numpy(), 2)
    assert evaluation.predictions == expected.output.argmax(1).tolist() and activity.samples == 4
    assert evaluation.spikes == {name: int(c.sum()) for name, c in expected.spike_counts.items()}


@pytest.mark.parametrize("target", ["lava", "netx"])
def test_a_dataloader_calibrates_and_runs_lava_and_netx_artifacts(target, frames_nir, event_file, tmp_path):
    """Lava's and netx's artifacts, compiled on a DataLoader and run on it by the NumPy backend (running them in
    Lava is the Lava test's job)."""
    if target == "lava":
        x, y, loader = digits_loader(8)
        model, example = tiny_model(), x[:1]
    else:
        frames, labels = torch.from_numpy(event_file[1]), torch.from_numpy(event_file[2])
        x, loader = frames, DataLoader(TensorDataset(frames, labels), batch_size=3)
        model, example = frames_nir, None
    compiled = snncompile.compile(model, example, target=target, calibrate=loader, output=tmp_path / target)
    graph = load_artifact(compiled.artifact)[0]
    assert compiled.report["calibration"]["samples"] == len(x)
    evaluation, activity = measure(graph, get_backend("numpy"), loader, limit=4, progress=False)
    inputs = x[:4].numpy().astype(np.float64)
    expected = get_backend("numpy").run(graph, inputs if target == "lava" else inputs.swapaxes(0, 1), 2)
    assert evaluation.predictions == expected.output.argmax(1).tolist() and activity.samples == 4


def test_calibrating_a_module_without_data_says_how_to_pass_it():
    with pytest.raises(snncompile.errors.ConfigError, match="--calibrate-data FILE"):
        snncompile.compile(tiny_model(), torch.rand(1, 1, 8, 8, dtype=torch.float64), calibrate=8)


@pytest.fixture(scope="module")
def artifacts(tiny_checkpoint, frames_nir, tmp_path_factory):
    """A direct-encoded artifact (1x8x8 images, T=2) and a spike-frames one (2x8x8, T=2)."""
    root = tmp_path_factory.mktemp("artifacts")
    assert main(["compile", str(tiny_checkpoint), "-o", str(root / "direct")]) == 0
    assert main(["compile", str(frames_nir), "-o", str(root / "frames")]) == 0
    return {name: load_artifact(root / name)[0] for name in ("direct", "frames")}


@pytest.mark.parametrize("artifact, x, message", [
    ("direct", np.zeros((4, 2, 1, 8, 8)), r"takes samples of \[1, 8, 8\], fed at every step \(direct encoding\): "
                                          r"\[N, 1, 8, 8\]; the data holds \[4, 2, 1, 8, 8\]; the artifact feeds one "
                                          r"sample at every step"),
    ("direct", np.zeros((4, 1, 16, 16)), r"holds \[4, 1, 16, 16\]; compile the model for 16x16 inputs "
                                         r"\(--image-size 16\)"),
    ("frames", np.zeros((4, 3, 2, 8, 8)), r"takes 2 frame\(s\) of \[2, 8, 8\] per sample \(frames encoding\): "
                                          r"\[N, 2, 2, 8, 8\]; the data holds \[4, 3, 2, 8, 8\]; pass --T 3"),
    ("frames", np.zeros((4, 2, 8, 8)), r"the artifact takes one frame per step"),
    ("frames", np.full((4, 2, 2, 8, 8), 2.0), r"takes spike frames \(0 or 1\), the samples hold values from 2 to 2"),
])
def test_data_that_does_not_fit_the_input_is_one_error_with_the_fix(artifacts, artifact, x, message):
    with pytest.raises(DataError, match=message):
        samples_for(artifacts[artifact], x)


def test_bad_data_files_are_one_line_naming_the_file(artifacts, tmp_path, capsys):
    unsorted = np.zeros(2, EVENT_DTYPE)
    unsorted["t"] = [5, 1]
    cases = {"unsorted.npz": (lambda p: write_events(p, [unsorted[:0], unsorted], (8, 8, 2)),
                              "the events of sample 1 are not sorted by t"),
             "keys.npz": (lambda p: np.savez(p, images=np.zeros(3)), "no array 'x' (holds images)"),
             "labels.npz": (lambda p: np.savez(p, x=np.zeros((3, 1, 8, 8)), y=np.zeros(2)),
                            "labels must be one integer per sample (3)"),
             "data.csv": (lambda p: p.write_text("1,2"), "neither a data set (digits) nor a data file: .npz")}
    for name, (write, message) in cases.items():
        write(tmp_path / name)
        with pytest.raises(DataError, match=message.replace("(", r"\(").replace(")", r"\)")):
            samples_for(artifacts["frames" if name == "unsorted.npz" else "direct"], tmp_path / name)


@pytest.mark.lava
def test_an_npz_test_set_on_lava_and_an_event_file_on_netx_predict_as_numpy(tiny_checkpoint, frames_nir, digits_npz,
                                                                            event_file, tmp_path, capsys):
    """One small Lava run per target: the lava artifact of the checkpoint on two images of the .npz, and the netx
    artifact of the frames classifier on two samples of the event file, each equal to the NumPy backend."""
    for model, target, data in ((tiny_checkpoint, "lava", digits_npz), (frames_nir, "netx", event_file[0])):
        out = tmp_path / target
        assert main(["compile", str(model), "--target", target, "--calibrate-data", str(data), "-o", str(out)]) == 0
        runs = {}
        for backend in ("numpy", target):
            capsys.readouterr()
            assert main(["simulate", str(out), "--backend", backend, "--data", str(data), "--limit", "2",
                         "--json"]) == 0
            runs[backend] = last_json(capsys)
        assert runs[target]["predictions"] == runs["numpy"]["predictions"]
        assert runs[target]["spikes"] == runs["numpy"]["spikes"]


@pytest.mark.parametrize("shape, message", [
    ((3, 8, 8), "input node 'x' takes 3 channel(s); 'digits' in direct encoding has 1: pass your own data"),
    ((1, 8, 6), "input node 'x' takes 8x6 images; 'digits' images are square: compile the model at a square "
                "--image-size, or pass your own data (--data FILE)"),
    ((64,), "input node 'x' takes samples of shape [64]; 'digits' holds images [C, H, W]: pass your own data"),
])
def test_digits_say_why_they_cannot_feed_an_input_and_what_to_pass(shape, message):
    graph = Graph("other")
    graph.add("x", Input(shape))
    graph.metadata["T"] = 2
    with pytest.raises(DataError, match=message.replace("(", r"\(").replace(")", r"\)").replace("[", r"\[")):
        samples_for(graph, "digits")
