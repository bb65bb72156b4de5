"""Checkpoints: every architecture round-trips exactly, and every bad file is one CheckpointError naming it."""

import pickle

import numpy as np
import pytest
import torch

from conftest import lively, tiny_config
from snncompile import checkpoint
from snncompile.errors import CheckpointError
from snncompile.models import build


def tiny_model(arch: str):
    """A tiny ``arch`` in eval mode, its batch norms given random statistics so that it fires."""
    torch.manual_seed(0)
    return lively(build(arch, **tiny_config(arch))).eval()


@pytest.fixture(scope="module")
def good_file(tmp_path_factory):
    """A valid checkpoint of a tiny MLF DS-ResNet."""
    path = tmp_path_factory.mktemp("good") / "model.pt"
    checkpoint.save(path, tiny_model("mlf_dsresnet14"), {"test_accuracy": 0.5})
    return path


def test_every_arch_round_trips_with_identical_outputs(arch, tmp_path):
    model = tiny_model(arch)
    x = torch.rand(3, 1, 8, 8)
    with torch.no_grad():
        expected = model(x)
    path = tmp_path / "nested" / "dir" / "model.pt"
    checkpoint.save(path, model, {"test_accuracy": 0.25, "epochs": 1})
    loaded, saved = checkpoint.load(path)
    assert not loaded.training
    assert (loaded.arch, loaded.config) == (arch, model.config)
    assert saved["metrics"] == {"test_accuracy": 0.25, "epochs": 1}
    loaded_state = loaded.state_dict()
    for name, tensor in model.state_dict().items():
        assert torch.equal(loaded_state[name], tensor), name
    with torch.no_grad():
        assert torch.equal(loaded(x), expected)
    assert [p.name for p in path.parent.iterdir()] == ["model.pt"]  # no temporary file left behind


def test_saving_a_model_not_built_by_the_zoo_is_refused(tmp_path):
    with pytest.raises(CheckpointError, match="build"):
        checkpoint.save(tmp_path / "linear.pt", torch.nn.Linear(2, 2), {})
    assert not list(tmp_path.iterdir())


def test_metrics_a_safe_load_could_not_read_are_refused_and_the_old_file_kept(good_file, tmp_path):
    path = tmp_path / "model.pt"
    path.write_bytes(good_file.read_bytes())
    model, _ = checkpoint.load(path)
    with pytest.raises(CheckpointError, match=r"metrics\['accuracy'\] is a float64"):
        checkpoint.save(path, model, {"accuracy": np.float64(0.9)})
    assert path.read_bytes() == good_file.read_bytes()
    assert [p.name for p in tmp_path.iterdir()] == ["model.pt"]


def rewritten(good_file, tmp_path, change):
    """A copy of the good checkpoint with ``change(dict)`` applied."""
    content = torch.load(good_file, weights_only=True)
    change(content)
    path = tmp_path / "changed.pt"
    torch.save(content, path)
    return path


def truncated(good_file, tmp_path):
    path = tmp_path / "truncated.pt"
    data = good_file.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    return path


def written(tmp_path, name, content):
    path = tmp_path / name
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        torch.save(content, path)
    return path


class Foreign:
    """A class a safe load must refuse to instantiate."""


BAD_FILES = {
    "missing": (lambda good, tmp: tmp / "absent.pt", "does not exist"),
    "directory": (lambda good, tmp: tmp, "not a file"),
    "truncated": (truncated, "truncated"),
    "empty": (lambda good, tmp: written(tmp, "empty.pt", b""), "truncated"),
    "text": (lambda good, tmp: written(tmp, "notes.pt", b"just some text\n"), "not written by torch.save"),
    "pickle of an object": (lambda good, tmp: written(tmp, "obj.pt", pickle.dumps(Foreign())), "Python objects"),
    "plain tensor": (lambda good, tmp: written(tmp, "tensor.pt", torch.ones(3)), "holds a Tensor"),
    "dict of other keys": (lambda good, tmp: written(tmp, "other.pt", {"model": {}, "epoch": 3}), "keys should be"),
    "newer format": (lambda good, tmp: rewritten(good, tmp, lambda c: c.update(format_version=2)), "version 2"),
    "unknown arch": (lambda good, tmp: rewritten(good, tmp, lambda c: c.update(arch="vgg_snn")), "vgg_snn"),
    "config not a dict": (lambda good, tmp: rewritten(good, tmp, lambda c: c.update(config=[1])), "'config' is a list"),
    "missing weight": (lambda good, tmp: rewritten(good, tmp, lambda c: c["state_dict"].popitem()), "missing"),
    "resized weight": (lambda good, tmp: rewritten(
        good, tmp, lambda c: c["state_dict"].update({"head.readout.linear.bias": torch.zeros(3)})), "wrong shape"),
    "option changed": (lambda good, tmp: rewritten(good, tmp, lambda c: c["config"].update(width=6)), "do not fit"),
}


@pytest.mark.parametrize("case", BAD_FILES)
def test_a_bad_file_raises_one_checkpoint_error_naming_it(case, good_file, tmp_path):
    make, what = BAD_FILES[case]
    path = make(good_file, tmp_path)
    with pytest.raises(CheckpointError) as error:
        checkpoint.load(path)
    message = str(error.value)
    assert str(path) in message and what in message.replace(str(path), "")
    assert "\n" not in message
    raw = error.value.__cause__ or (None if error.value.__suppress_context__ else error.value.__context__)
    assert raw is None  # no torch, pickle or zip error chained to it
