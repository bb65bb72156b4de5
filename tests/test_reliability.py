"""Reliability: outputs that never destroy data, artifacts verified before use, sizes bounded before allocation, no
process or file left behind. Every bad input ends in one line on stderr and a non-zero exit, with nothing touched."""

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import zipfile
from pathlib import Path

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from snncompile import checkpoint, ir
from snncompile.backends import get_backend
from snncompile.cli.main import main
from snncompile.compiler import load_artifact
from snncompile.errors import SnnCompileError
from snncompile.ir.serialize import GRAPH_FILE, TENSOR_FILE

ROOT = Path(__file__).resolve().parent.parent


def one_line_error(capsys) -> str:
    """The error the last command printed, checked to be one ``snncompile: error:`` line."""
    err = capsys.readouterr().err
    assert err.startswith("snncompile: error: ") and err.count("\n") == 1 and "Traceback" not in err, err
    return err


def snapshot(directory: Path) -> dict:
    """Every file under ``directory`` with its bytes (what a refused command must leave untouched)."""
    return {path.relative_to(directory).as_posix(): path.read_bytes() if path.is_file() else None
            for path in sorted(directory.rglob("*"))}


@pytest.fixture(scope="module")
def artifact(tiny_checkpoint, tmp_path_factory):
    """A numpy artifact of the tiny checkpoint (compiled once for the module; tests copy it before changing it)."""
    path = tmp_path_factory.mktemp("reliability") / "tiny.numpy"
    assert main(["compile", str(tiny_checkpoint), "-o", str(path)]) == 0
    return path


@pytest.fixture
def copied(artifact, tmp_path):
    path = tmp_path / "copy.numpy"
    shutil.copytree(artifact, path)
    return path


# -- outputs that never destroy ---------------------------------------------------------------------------------------

def _victim_directory(tmp, checkpoint_path):
    (tmp / "victim").mkdir()
    (tmp / "victim" / "notes.txt").write_text("precious\n")
    return tmp / "victim"


def _existing_file(tmp, checkpoint_path):
    (tmp / "notes.txt").write_text("precious\n")
    return tmp / "notes.txt"


def _under_a_file(tmp, checkpoint_path):
    (tmp / "notes.txt").write_text("precious\n")
    return tmp / "notes.txt" / "out"


def _input_itself(tmp, checkpoint_path):
    return checkpoint_path


def _holding_the_input(tmp, checkpoint_path):
    return checkpoint_path.parent


def _working_directory(tmp, checkpoint_path):
    (tmp / "notes.txt").write_text("precious\n")
    return Path(".")


def _artifact_with_a_user_file(tmp, checkpoint_path):
    assert main(["compile", str(checkpoint_path), "-o", str(tmp / "old")]) == 0
    (tmp / "old" / "notes.txt").write_text("precious\n")
    return tmp / "old"


REFUSED_OUTPUTS = {
    "a directory with other files": (_victim_directory, "holding other files"),
    "an existing file": (_existing_file, "not a snncompile artifact"),
    "a path under a file": (_under_a_file, "is a file, not a directory"),
    "the input checkpoint": (_input_itself, "is the input"),
    "the directory holding the input": (_holding_the_input, "holds the input"),
    "the working directory": (_working_directory, "working directory"),
    "an artifact holding a user file, even with --force": (_artifact_with_a_user_file, "holding other files"),
}


@pytest.mark.parametrize("case", REFUSED_OUTPUTS)
def test_compile_refuses_an_output_that_would_destroy_data(case, tiny_checkpoint, tmp_path, monkeypatch, capsys):
    source = tmp_path / "in" / "model.pt"
    source.parent.mkdir()
    shutil.copy(tiny_checkpoint, source)
    make, reason = REFUSED_OUTPUTS[case]
    monkeypatch.chdir(tmp_path)
    output = make(tmp_path, source)
    capsys.readouterr()
    before = snapshot(tmp_path)
    assert main(["compile", str(source), "-o", str(output), "--force"]) == 2
    assert reason in one_line_error(capsys)
    assert snapshot(tmp_path) == before


def test_a_previous_artifact_is_replaced_only_with_force(tiny_checkpoint, tmp_path, capsys):
    output = tmp_path / "model.numpy"
    assert main(["compile", str(tiny_checkpoint), "--bits", "6", "-o", str(output)]) == 0
    before = snapshot(tmp_path)
    capsys.readouterr()
    assert main(["compile", str(tiny_checkpoint), "-o", str(output)]) == 2
    assert "pass --force" in one_line_error(capsys) and snapshot(tmp_path) == before
    assert main(["compile", str(tiny_checkpoint), "-o", str(output), "--force"]) == 0
    assert json.loads((output / "report.json").read_text())["bits"] == 8
    assert [path.name for path in tmp_path.iterdir()] == ["model.numpy"]


def test_an_empty_directory_is_a_new_output(tiny_checkpoint, tmp_path):
    (tmp_path / "empty").mkdir()
    assert main(["compile", str(tiny_checkpoint), "-o", str(tmp_path / "empty")]) == 0
    load_artifact(tmp_path / "empty")


def test_a_full_disk_is_one_line_and_leaves_nothing(tiny_checkpoint, tmp_path, monkeypatch, capsys):
    import snncompile.manifest

    def full(*args, **kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(snncompile.manifest, "write", full)
    assert main(["compile", str(tiny_checkpoint), "-o", str(tmp_path / "out")]) == 2
    assert "No space left on device" in one_line_error(capsys)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("make, reason", [
    (lambda tmp: (tmp / "plots").mkdir() or tmp / "plots", "is a directory, not a file"),
    (lambda tmp: (tmp / "notes.txt").write_text("precious\n") and tmp / "notes.txt", "not a snncompile plot"),
], ids=["a directory", "a file that is not a PNG"])
def test_energy_refuses_a_plot_path_that_would_destroy_data(make, reason, artifact, tmp_path, capsys):
    plot = make(tmp_path)
    before = snapshot(tmp_path)
    assert main(["energy", str(artifact), "--limit", "2", "--plot", str(plot)]) == 2
    assert reason in one_line_error(capsys) and snapshot(tmp_path) == before


def test_energy_replaces_its_own_plot(artifact, tmp_path, capsys):
    plot = tmp_path / "energy.png"
    for _ in range(2):
        assert main(["energy", str(artifact), "--limit", "2", "--plot", str(plot)]) == 0
    assert plot.read_bytes().startswith(b"\x89PNG")


@pytest.mark.parametrize("make, reason", [
    (lambda tmp, good: (tmp / "notes.txt").write_text("precious\n") and tmp / "notes.txt", "not a snncompile"),
    (lambda tmp, good: _victim_directory(tmp, good), "holding other files"),
    (lambda tmp, good: shutil.copy(good, tmp / "old.pt") and tmp / "old.pt", "pass --force"),
], ids=["a file", "a directory", "a checkpoint without --force"])
def test_train_refuses_an_output_that_would_destroy_data(make, reason, tiny_checkpoint, tmp_path, capsys):
    output = make(tmp_path, tiny_checkpoint)
    before = snapshot(tmp_path)
    assert main(["train", "--arch", "mlf_dsresnet14", "--width", "4", "--T", "2", "--epochs", "1",
                 "-o", str(output)]) == 2
    assert reason in one_line_error(capsys) and snapshot(tmp_path) == before


# A compile whose backend pauses inside the staging directory until it is signalled.
PAUSED_COMPILE = """
import os, sys, time
from snncompile.backends.numpy.backend import NumpyBackend
from snncompile.cli.main import main

emit = NumpyBackend.emit

def paused_emit(self, graph, outdir):
    written = emit(self, graph, outdir)
    open(os.environ["SNNCOMPILE_TEST_READY"], "w").close()
    time.sleep(120)
    return written

NumpyBackend.emit = paused_emit
sys.exit(main(sys.argv[1:]))
"""


def wait_for(predicate, seconds: float, what: str):
    deadline = time.monotonic() + seconds
    while not predicate():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM, signal.SIGHUP], ids=lambda s: s.name)
@pytest.mark.parametrize("replacing", [False, True], ids=["new", "replacing"])
def test_a_signal_during_compile_leaves_no_staging_directory(signum, replacing, artifact, tiny_checkpoint, tmp_path):
    output, ready = tmp_path / "out" / "model.numpy", tmp_path / "ready"
    if replacing:
        shutil.copytree(artifact, output)
    before = snapshot(output.parent) if replacing else {}
    command = [sys.executable, "-c", PAUSED_COMPILE, "compile", str(tiny_checkpoint), "-o", str(output), "--force"]
    worker = subprocess.Popen(command, stderr=subprocess.PIPE, text=True,
                              env={**os.environ, "SNNCOMPILE_TEST_READY": str(ready)})
    try:
        wait_for(ready.exists, 120, "the compile to reach its staging directory")
        assert [p.name for p in output.parent.iterdir() if p.name.startswith(".model.numpy.")]  # staging exists
        worker.send_signal(signum)
        _, err = worker.communicate(timeout=60)
    finally:
        worker.kill()
    assert worker.returncode == 128 + signum
    assert err.strip().splitlines() == [f"snncompile: interrupted by {signum.name}; nothing partial was left behind"]
    assert (snapshot(output.parent) if output.parent.exists() else {}) == before


# -- artifacts verified before use -----------------------------------------------------------------------------------

def _edit_json(name, change):
    def edit(path):
        document = json.loads((path / name).read_text())
        change(document)
        (path / name).write_text(json.dumps(document, indent=1) + "\n")
    return edit


def _first(document, kind):
    return next(node for node in document["nodes"] if node["op"] == kind)


def _set_threshold(document):
    _first(document, "IntLIF")["attributes"]["threshold"] = 1


def _set_decay(document):
    _first(document, "IntLIF")["attributes"]["decay_12bit"] = 4000


def _add_node(document):
    node = json.loads(json.dumps(document["nodes"][-1]))
    node["name"] += ".copy"
    document["nodes"].append(node)


def _retype_tensor(path):
    """A tensor stored with another dtype of the same bytes (int32 read as uint32)."""
    with np.load(path / TENSOR_FILE) as archive:
        tensors = {key: archive[key] for key in archive.files}
    key = next(key for key, array in tensors.items() if array.dtype == np.int32)
    tensors[key] = tensors[key].view(np.uint32)
    np.savez(path / TENSOR_FILE, **tensors)


def _unreferenced_entry(path):
    with zipfile.ZipFile(path / TENSOR_FILE, "a", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("extra.npy", b"\x00" * 1024)


ARTIFACT_CHANGES = {
    "a threshold in graph.json": (_edit_json(GRAPH_FILE, _set_threshold), "attributes.threshold differs"),
    "metadata T": (_edit_json(GRAPH_FILE, lambda d: d["metadata"].update(T=3)),
                   "graph.json was changed after compiling (graph metadata.T differs"),
    "a decay": (_edit_json(GRAPH_FILE, _set_decay), "attributes.decay_12bit differs"),
    "a scale": (_edit_json(GRAPH_FILE, lambda d: _first(d, "IntLIF")["attributes"].update(scale=1.0)),
                "attributes.scale differs"),
    "an added node": (_edit_json(GRAPH_FILE, _add_node), "node 'head.readout.copy' attributes.output_scale was added"),
    "a tensor stored with another dtype": (_retype_tensor, "tensors.npz was changed"),
    "an unreferenced tensor entry": (_unreferenced_entry, "tensors.npz was changed"),
    "the float graph": (lambda p: _edit_json(GRAPH_FILE, _add_node)(p / "float"), "float/graph.json was changed"),
    "an invalid report": (lambda p: (p / "report.json").write_text("{nope"), "report.json was changed"),
    "an added file": (lambda p: (p / "notes.txt").write_text("x"), "notes.txt is not part of the artifact"),
    "a removed file": (lambda p: (p / "float" / TENSOR_FILE).unlink(), "float/tensors.npz is missing"),
    "a removed manifest": (lambda p: (p / "manifest.json").unlink(), "manifest.json"),
    "a garbage manifest": (lambda p: (p / "manifest.json").write_text("[" * 100_000), "not a snncompile artifact"),
}


@pytest.mark.parametrize("case", ARTIFACT_CHANGES)
@pytest.mark.parametrize("command", ["simulate", "energy", "inspect"])
def test_a_changed_artifact_is_refused_naming_the_file(case, command, copied, tmp_path, capsys):
    change, message = ARTIFACT_CHANGES[case]
    change(copied)
    extra = {"simulate": ["--limit", "2"], "energy": ["--limit", "2", "--plot", str(tmp_path / "p.png")],
             "inspect": []}[command]
    assert main([command, str(copied), *extra]) == 1
    assert message in one_line_error(capsys)
    assert not (tmp_path / "p.png").exists()


@pytest.mark.parametrize("target, changed", [("onnx", "model.onnx"), ("lava", "lava_network.json"),
                                             ("nir", "model.nir")])
def test_a_backend_file_replaced_is_refused_by_run(target, changed, tiny_checkpoint, tmp_path):
    output = tmp_path / f"model.{target}"
    assert main(["compile", str(tiny_checkpoint), "--target", target, "-o", str(output)]) == 0
    (output / changed).write_bytes(b"garbage")
    with pytest.raises(SnnCompileError, match=f"{changed} was changed"):
        get_backend(target).run(output, np.zeros((1, 1, 8, 8)), T=2)


def test_another_valid_onnx_model_is_refused(tiny_checkpoint, tmp_path):
    for bits in (8, 6):
        assert main(["compile", str(tiny_checkpoint), "--target", "onnx", "--bits", str(bits),
                     "-o", str(tmp_path / f"bits{bits}")]) == 0
    shutil.copy(tmp_path / "bits6" / "model.onnx", tmp_path / "bits8" / "model.onnx")
    with pytest.raises(SnnCompileError, match="model.onnx was changed"):
        get_backend("onnx").run(tmp_path / "bits8", np.zeros((1, 1, 8, 8)), T=2)


def test_an_unchanged_artifact_runs(artifact):
    graph, float_graph, report = load_artifact(artifact)
    assert report["target"] == "numpy" and float_graph is not None
    assert get_backend("numpy").run(artifact, np.ones((2, 1, 8, 8)), T=2).output.shape == (2, 10)


# -- graphs read canonically (no manifest: the graph directory on its own) ------------------------------------------

@pytest.fixture
def graph_directory(artifact, tmp_path):
    """The artifact's integer graph saved on its own (no manifest, no report)."""
    graph, _, _ = load_artifact(artifact)
    return ir.save(graph, tmp_path / "graph")


def _write_entries(path, entries: dict):
    """Rewrite ``path/tensors.npz`` with raw ``entries`` (name -> bytes), stored compressed."""
    with zipfile.ZipFile(path / TENSOR_FILE, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in entries.items():
            archive.writestr(name, data)


def _entries(path) -> dict:
    with zipfile.ZipFile(path / TENSOR_FILE) as archive:
        return {name: archive.read(name) for name in archive.namelist()}


def _npy(array: np.ndarray) -> bytes:
    from io import BytesIO

    stream = BytesIO()
    np.save(stream, array)
    return stream.getvalue()


def _zero_bomb(path):
    """A compressed entry of 256 MiB of zeros that no tensor references (a few hundred kB on disk)."""
    entries = _entries(path)
    entries["bomb.npy"] = _npy(np.zeros(1, np.int8))[:128] + b"\x00" * (256 * 2**20)
    _write_entries(path, entries)


def _huge_header(path):
    """An entry whose header claims 7 TiB (the data is a few bytes)."""
    entries = _entries(path)
    name = next(iter(entries))
    header = np.lib.format.header_data_from_array_1_0(np.zeros(1, np.int8))
    header["shape"] = (7 * 2**40,)
    from io import BytesIO

    stream = BytesIO()
    np.lib.format.write_array_header_1_0(stream, header)
    entries[name] = stream.getvalue() + b"\x00" * 16
    _write_entries(path, entries)


def _huge_consistent(path):
    """The same 7 TiB claim, recorded in graph.json too."""
    _huge_header(path)
    document = json.loads((path / GRAPH_FILE).read_text())
    key = next(iter(_entries(path)))[:-len(".npy")]
    for node in document["nodes"]:
        for ref in node["tensors"].values():
            if ref["key"] == key:
                ref.update(shape=[7 * 2**40], dtype="int8")
    (path / GRAPH_FILE).write_text(json.dumps(document))


def _tensor_value(value, dtype=None):
    """A float tensor of the graph set to ``value`` (its checksum updated, so only the value check can refuse it)."""
    def change(path):
        from snncompile.ir.serialize import _digest

        document = json.loads((path / GRAPH_FILE).read_text())
        with np.load(path / TENSOR_FILE) as archive:
            tensors = {key: archive[key] for key in archive.files}
        node = next(node for node in document["nodes"] for ref in node["tensors"].values()
                    if tensors[ref["key"]].dtype.kind == "f")
        ref = next(ref for ref in node["tensors"].values() if tensors[ref["key"]].dtype.kind == "f")
        array = tensors[ref["key"]].astype(dtype or tensors[ref["key"]].dtype)
        array.flat[0] = value
        tensors[ref["key"]] = array
        ref.update(dtype=str(array.dtype), sha256=_digest(array))
        np.savez(path / TENSOR_FILE, **tensors)
        (path / GRAPH_FILE).write_text(json.dumps(document))
    return change


GRAPH_CHANGES = {
    "an unreferenced zero-filled entry (zip bomb)": (_zero_bomb, "not referenced"),
    "an entry header claiming 7 TiB": (_huge_header, "holds int8 [7696581394432]"),
    "7 TiB recorded in graph.json too": (_huge_consistent, "its header implies"),
    "100k nested brackets in graph.json": (
        lambda p: (p / GRAPH_FILE).write_text('{"format": "snncompile-graph", "x": ' + "[" * 100_000 + "]" * 100_000
                                              + "}"), "nested 100001 levels"),
    "metadata T = 1e9": (_edit_json(GRAPH_FILE, lambda d: d["metadata"].update(T=10**9)), "metadata T=1000000000"),
    "metadata T = 0": (_edit_json(GRAPH_FILE, lambda d: d["metadata"].update(T=0)), "metadata T=0"),
    "an input shape of 1e9 values": (_edit_json(GRAPH_FILE, lambda d: d["nodes"][0]["output"].update(
        shape=[10**5, 10**5, 10**5])), "of memory"),
    "a NaN weight": (_tensor_value(np.nan), "holds NaN or infinite values"),
    "an infinite weight": (_tensor_value(np.inf), "holds NaN or infinite values"),
    "complex weights": (_tensor_value(1 + 2j, np.complex128), "complex or object values are refused"),
    "a dtype other than the recorded one": (_retype_tensor, "holds uint32"),
    "NaN in graph.json": (lambda p: (p / GRAPH_FILE).write_text((p / GRAPH_FILE).read_text().replace(
        '"T": 2', '"T": NaN')), "NaN is not a value"),
}


@pytest.mark.parametrize("case", GRAPH_CHANGES)
def test_a_malformed_graph_is_one_error_before_allocation(case, graph_directory):
    change, message = GRAPH_CHANGES[case]
    change(graph_directory)
    started = time.perf_counter()
    with pytest.raises(SnnCompileError) as error:
        ir.load(graph_directory)
    assert message in str(error.value) and "\n" not in str(error.value)
    assert time.perf_counter() - started < 5  # refused from headers, nothing decompressed or allocated


# -- inputs, checkpoints and options bounded before allocation -------------------------------------------------------

def _changed_checkpoint(good: Path, tmp: Path, change) -> Path:
    content = torch.load(good, weights_only=True)
    change(content)
    path = tmp / "changed.pt"
    torch.save(content, path)
    return path


def _first_weight(content, value, dtype=None):
    name = next(name for name, tensor in content["state_dict"].items() if tensor.dtype.is_floating_point
                and tensor.ndim > 1)
    tensor = content["state_dict"][name].to(dtype or torch.float32)
    tensor.view(-1)[0] = value
    content["state_dict"][name] = tensor


def _flip_a_weight_byte(good: Path, tmp: Path) -> Path:
    """A byte of a stored weight flipped inside the zip (its CRC left as it was)."""
    data = bytearray(good.read_bytes())
    with zipfile.ZipFile(good) as archive:
        info = max(archive.infolist(), key=lambda info: info.file_size)
    name_length, extra_length = np.frombuffer(data[info.header_offset + 26:info.header_offset + 30], np.uint16)
    data[info.header_offset + 30 + name_length + extra_length + 5] ^= 0x40
    path = tmp / "flipped.pt"
    path.write_bytes(bytes(data))
    return path


CHECKPOINT_CASES = {
    "a NaN weight": (lambda g, t: _changed_checkpoint(g, t, lambda c: _first_weight(c, float("nan"))),
                     "holds NaN or infinite values"),
    "an infinite weight": (lambda g, t: _changed_checkpoint(g, t, lambda c: _first_weight(c, float("inf"))),
                           "holds NaN or infinite values"),
    "complex weights": (lambda g, t: _changed_checkpoint(g, t, lambda c: _first_weight(c, 1 + 2j, torch.complex64)),
                        "holds complex values"),
    "config width 1e9": (lambda g, t: _changed_checkpoint(g, t, lambda c: c["config"].update(width=10**9)),
                         "too large to build"),
    "config width 1e5": (lambda g, t: _changed_checkpoint(g, t, lambda c: c["config"].update(width=10**5)),
                         "do not fit"),
    "config T 1e9": (lambda g, t: _changed_checkpoint(g, t, lambda c: c["config"].update(T=10**9)),
                     "config T=1000000000"),
    "a flipped byte in a weight": (_flip_a_weight_byte, "does not match its checksum"),
}


@pytest.mark.parametrize("case", CHECKPOINT_CASES)
def test_a_bad_checkpoint_is_one_line_and_writes_nothing(case, tiny_checkpoint, tmp_path, capsys):
    make, message = CHECKPOINT_CASES[case]
    path = make(tiny_checkpoint, tmp_path)
    before = snapshot(tmp_path)
    assert main(["compile", str(path), "-o", str(tmp_path / "out")]) == 1
    assert message in one_line_error(capsys)
    assert snapshot(tmp_path) == before


@pytest.mark.parametrize("command, options, message", [
    ("compile", ["--image-size", "100000"], "--image-size must be an integer from 1 to 4,096, got 100000"),
    ("compile", ["--image-size", "0"], "--image-size must be an integer from 1 to 4,096, got 0"),
    ("inspect", ["--image-size", "100000"], "--image-size must be an integer from 1 to 4,096"),
    ("compile", ["--calibrate", "100000000"], "--calibrate 100000000: digits holds 1,347 samples"),
], ids=["compile image size 1e5", "compile image size 0", "inspect image size 1e5", "calibrate 1e8"])
def test_sizes_are_checked_before_anything_is_allocated(command, options, message, tiny_checkpoint, tmp_path,
                                                         capsys):
    output = ["-o", str(tmp_path / "out")] if command == "compile" else []
    assert main([command, str(tiny_checkpoint), *options, *output]) == 2
    assert message in one_line_error(capsys)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("options, message", [
    (["--width", "1000000000"], "too large to build"),
    (["--width", "100000"], "of memory"),
    (["--image-size", "100000"], "--image-size must be an integer from 1 to 4,096"),
    (["--image-size", "0"], "--image-size must be an integer from 1 to 4,096"),
    (["--T", "1000000000"], "--T must be an integer from 1 to"),
], ids=["width 1e9", "width 1e5", "image size 1e5", "image size 0", "T 1e9"])
def test_train_sizes_are_checked_before_anything_is_allocated(options, message, tmp_path, capsys):
    arguments = ["train", "--arch", "mlf_dsresnet14", "--epochs", "1", "-o", str(tmp_path / "x.pt")]
    assert main([*arguments, "--width", "4", "--T", "2", *options]) == 2
    assert message in one_line_error(capsys)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("value", [np.nan, np.inf, -np.inf])
@pytest.mark.parametrize("target", ["numpy", "onnx"])
def test_non_finite_inputs_are_refused_naming_the_input(value, target, artifact):
    inputs = np.zeros((2, 1, 8, 8))
    inputs[1, 0, 3, 3] = value
    with pytest.raises(SnnCompileError, match="input node 'input': the array holds NaN or infinite values"):
        get_backend(target).run(load_artifact(artifact)[0], inputs, T=2)


# -- no process left behind ------------------------------------------------------------------------------------------

def processes() -> list:
    """``(pid, parent pid, session id)`` of every live process on the machine (zombies, dead but not yet reaped by
    init, are left out)."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            state, parent, _, session = stat.read_text().rsplit(")", 1)[1].split()[:4]
        except (OSError, ValueError):
            continue
        if state != "Z":
            found.append((int(stat.parent.name), int(parent), int(session)))
    return found


@pytest.mark.lava
@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGHUP, signal.SIGINT], ids=lambda s: s.name)
def test_a_signal_during_a_lava_run_kills_the_worker_session_and_removes_its_files(signum, tmp_path):
    import snncompile
    from snncompile.backends.lava.worker import PROGRESS_FILE, RUNNING
    from test_cli_compile import DenseChain

    torch.manual_seed(0)
    chain = DenseChain().eval()
    chain.encoder.T = 8  # 450 samples of 8 steps: Lava runs for seconds, long enough to be signalled while it runs
    artifact = tmp_path / "chain.lava"
    snncompile.compile(chain, torch.rand(1, 1, 8, 8), target="lava", output=artifact)
    temporary = Path(tempfile.mkdtemp(prefix="snc-", dir="/tmp"))  # short: Lava's sockets live below it
    command = [sys.executable, "-m", "snncompile", "simulate", str(artifact), "--backend", "lava", "--limit", "450",
               "--batch-size", "450"]
    parent = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                              env={**os.environ, "TMPDIR": str(temporary)})
    try:
        def running() -> bool:
            assert parent.poll() is None, parent.communicate()[1]
            progress = list(temporary.glob(f"snncompile-lava-*/{PROGRESS_FILE}"))
            return bool(progress) and np.load(progress[0])[0] >= RUNNING
        wait_for(running, 120, "the Lava worker to run")
        worker = next(pid for pid, ppid, _ in processes() if ppid == parent.pid)
        assert len([pid for pid, _, session in processes() if session == worker]) > 1  # Lava's own processes
        parent.send_signal(signum)
        _, err = parent.communicate(timeout=60)
    finally:
        parent.kill()
    assert parent.returncode == 128 + signum, err
    assert err.strip().splitlines()[-1] == f"snncompile: interrupted by {signum.name}; nothing partial was left behind"
    assert [pid for pid, _, session in processes() if session == worker] == []
    assert list(temporary.iterdir()) == []
    temporary.rmdir()


# -- fuzzing: a mutated file is refused in one error, or reads as the original ---------------------------------------

FUZZ = settings(max_examples=30, deadline=None, derandomize=True, database=None,
                suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])


def byte_flips(size: int):
    """1 to 4 (position, xor mask) pairs within ``size`` bytes."""
    return st.lists(st.tuples(st.integers(0, size - 1), st.integers(1, 255)), min_size=1, max_size=4)


def flipped(data: bytes, flips) -> bytes:
    changed = bytearray(data)
    for position, mask in flips:
        changed[position] ^= mask
    return bytes(changed)


def graph_content(graph) -> tuple:
    """A graph as comparable plain data: its JSON document without checksums and its tensors as bytes."""
    document, tensors = ir.serialize.to_dict(graph)
    return json.dumps(document, sort_keys=True), {key: (array.dtype.str, array.tobytes()) for key, array in
                                                  tensors.items()}


def refused_or_same(read, expected):
    """``read()`` raises one :class:`SnnCompileError` of one line, or returns what ``expected`` is."""
    try:
        value = read()
    except SnnCompileError as error:
        assert "\n" not in str(error), str(error)
        return
    assert value == expected


@pytest.fixture(scope="module")
def checkpoint_bytes(tiny_checkpoint):
    model, saved = checkpoint.load(tiny_checkpoint)
    state = {name: tensor.numpy().tobytes() for name, tensor in saved["state_dict"].items()}
    return tiny_checkpoint.read_bytes(), (saved["arch"], saved["config"], state)


@pytest.fixture(scope="module")
def fuzz_directory(tmp_path_factory):
    return tmp_path_factory.mktemp("fuzz")


def test_fuzzed_checkpoints_are_refused_or_read_unchanged(checkpoint_bytes, fuzz_directory):
    data, expected = checkpoint_bytes
    path = fuzz_directory / "fuzzed.pt"

    def read():
        _, saved = checkpoint.load(path)
        return saved["arch"], saved["config"], {name: t.numpy().tobytes() for name, t in saved["state_dict"].items()}

    @FUZZ
    @given(byte_flips(len(data)))
    def check(flips):
        path.write_bytes(flipped(data, flips))
        refused_or_same(read, expected)

    check()


@pytest.mark.parametrize("seed", range(3))
def test_fuzzed_checkpoints_through_the_command_line_are_one_line(seed, checkpoint_bytes, tmp_path):
    data, _ = checkpoint_bytes
    rng = np.random.default_rng(seed)
    flips = [(int(p), int(m)) for p, m in zip(rng.integers(0, len(data), 3), rng.integers(1, 256, 3))]
    path = tmp_path / "fuzzed.pt"
    path.write_bytes(flipped(data, flips))
    done = subprocess.run([sys.executable, "-m", "snncompile", "compile", str(path), "-o", str(tmp_path / "out")],
                          capture_output=True, text=True, timeout=120)
    assert "Traceback" not in done.stderr
    if done.returncode:
        assert done.stderr.startswith("snncompile: error: ") and done.stderr.count("\n") == 1
        assert sorted(p.name for p in tmp_path.iterdir()) == ["fuzzed.pt"]


def json_leaves(value, path=()):
    """Every (path, scalar) of a JSON document."""
    if isinstance(value, dict):
        return [leaf for key, item in value.items() for leaf in json_leaves(item, (*path, key))]
    if isinstance(value, list):
        return [leaf for index, item in enumerate(value) for leaf in json_leaves(item, (*path, index))]
    return [(path, value)]


def replaced(document, path, value):
    changed = json.loads(json.dumps(document))
    target = changed
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value
    return changed


def fuzz_copy(artifact: Path, directory: Path, with_manifest: bool) -> Path:
    """A fresh copy of ``artifact`` in ``directory``, or only its integer graph (no manifest, no report)."""
    shutil.rmtree(directory, ignore_errors=True)
    if with_manifest:
        shutil.copytree(artifact, directory)
        return directory
    return ir.save(load_artifact(artifact)[0], directory)


JSON_VALUES = st.one_of(st.none(), st.booleans(), st.integers(-2**70, 2**70), st.floats(allow_nan=False),
                        st.text(max_size=8), st.lists(st.integers(-3, 3), max_size=3))


@pytest.mark.parametrize("with_manifest", [True, False], ids=["artifact", "graph alone"])
def test_fuzzed_graph_documents_are_refused_or_read_unchanged(with_manifest, artifact, fuzz_directory):
    directory = fuzz_copy(artifact, fuzz_directory / f"graph-{with_manifest}", with_manifest)
    original = (directory / GRAPH_FILE).read_text()
    document = json.loads(original)
    leaves = json_leaves(document)
    expected = graph_content(ir.load(directory))

    @FUZZ
    @given(st.integers(0, len(leaves) - 1), JSON_VALUES)
    def check(leaf, value):
        path, _ = leaves[leaf]
        (directory / GRAPH_FILE).write_text(json.dumps(replaced(document, path, value), indent=1) + "\n")
        try:
            graph = ir.load(directory)
        except SnnCompileError as error:
            assert "\n" not in str(error)
            return
        # a graph alone has no manifest: an edit that builds a valid graph is read (the manifest is what refuses it)
        assert not with_manifest or (directory / GRAPH_FILE).read_text() == original or \
            graph_content(graph) == expected

    try:
        check()
    finally:
        (directory / GRAPH_FILE).write_text(original)


@pytest.mark.parametrize("with_manifest", [True, False], ids=["artifact", "graph alone"])
def test_fuzzed_tensor_archives_are_refused_or_read_unchanged(with_manifest, artifact, fuzz_directory):
    directory = fuzz_copy(artifact, fuzz_directory / f"tensors-{with_manifest}", with_manifest)
    data = (directory / TENSOR_FILE).read_bytes()
    expected = graph_content(ir.load(directory))

    @FUZZ
    @given(byte_flips(len(data)))
    def check(flips):
        (directory / TENSOR_FILE).write_bytes(flipped(data, flips))
        refused_or_same(lambda: graph_content(ir.load(directory)), expected)

    check()


@pytest.fixture(scope="module")
def nir_file(tiny_checkpoint, tmp_path_factory):
    output = tmp_path_factory.mktemp("nir") / "model.nir.out"
    assert main(["compile", str(tiny_checkpoint), "--target", "nir", "-o", str(output)]) == 0
    return output / "model.nir"


def test_fuzzed_nir_files_are_refused_or_read(nir_file, fuzz_directory):
    """A NIR file carries no checksum: a flipped byte may read as another valid graph, but never as anything other
    than a graph or one error."""
    from snncompile.backends.nir.importer import read

    data = nir_file.read_bytes()
    path = fuzz_directory / "fuzzed.nir"

    @FUZZ
    @given(byte_flips(len(data)))
    def check(flips):
        path.write_bytes(flipped(data, flips))
        try:
            assert isinstance(read(path), ir.Graph)
        except SnnCompileError as error:
            assert "\n" not in str(error)

    check()


def nir_chain(tau: float = 1e-3, cycle: bool = False, metadata=None):
    """input -> affine -> LIF -> output (3 neurons), optionally with a recurrent linear edge back into the affine."""
    import nir

    neurons = nir.LIF(tau=np.full(3, tau), r=np.ones(3), v_leak=np.zeros(3), v_threshold=np.ones(3))
    if metadata is not None:
        neurons.metadata = metadata
    nodes = {"input": nir.Input(input_type=np.array([4])), "fc": nir.Affine(weight=np.ones((3, 4)), bias=np.zeros(3)),
             "lif": neurons, "output": nir.Output(output_type=np.array([3]))}
    edges = [("input", "fc"), ("fc", "lif"), ("lif", "output")]
    if cycle:
        nodes["back"] = nir.Linear(weight=np.ones((4, 3)))
        edges += [("lif", "back"), ("back", "fc")]
    return nir.NIRGraph(nodes=nodes, edges=edges)


@pytest.mark.parametrize("make, message", [
    (lambda: nir_chain(tau=0.0), "tau must be a positive, finite time constant, got 0.0"),
    (lambda: nir_chain(tau=-1.0), "tau must be a positive, finite time constant, got -1.0"),
    (lambda: nir_chain(cycle=True), "the graph has a cycle (fc -> lif -> back)"),
    (lambda: nir_chain(metadata={"snncompile": "{not json"}), "its snncompile metadata is not a valid op"),
], ids=["tau 0", "negative tau", "a cycle", "malformed metadata"])
def test_a_bad_nir_file_is_refused_without_a_traceback(make, message, tmp_path, capsys):
    import nir

    path = tmp_path / "bad.nir"
    nir.write(path, make())
    assert main(["compile", str(path), "-o", str(tmp_path / "out")]) == 1
    err = capsys.readouterr().err
    assert err.startswith("snncompile: error: ") and message in err and "Traceback" not in err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bad.nir"]


@pytest.mark.parametrize("value, kind", [(float("nan"), "NaN or infinite"), (float("inf"), "NaN or infinite"),
                                         (1 + 1j, "complex")])
def test_a_module_with_unusable_weights_is_refused_naming_the_tensor(value, kind):
    import snncompile
    from test_cli_compile import DenseChain

    chain = DenseChain().eval()
    if kind == "complex":
        chain.fc.weight = torch.nn.Parameter(chain.fc.weight.detach().to(torch.complex64))
    with torch.no_grad():
        chain.fc.weight.view(-1)[3] = value
    with pytest.raises(SnnCompileError, match=f"tensor 'fc.weight' holds {kind} values"):
        snncompile.compile(chain, torch.rand(1, 1, 8, 8))
