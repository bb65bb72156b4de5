"""The digits data: shapes, a deterministic stratified split, DVS-like event frames, and clear errors."""

import subprocess
import sys

import pytest
import torch

from snncompile.data import DATASETS, ENCODINGS, digits, load, model_input
from snncompile.data.events import CONTRAST_THRESHOLD, event_frames
from snncompile.data.sets import _stratified_split
from snncompile.errors import DataError


def test_direct_digits_are_grey_images_split_three_to_one():
    data = load("digits")
    assert (data.name, data.encoding, data.in_channels, data.num_classes) == ("digits", "direct", 1, 10)
    assert data.train_x.shape == (1347, 1, 8, 8) and data.test_x.shape == (450, 1, 8, 8)
    assert data.train_x.dtype == torch.float32 and data.train_y.dtype == torch.int64
    assert data.train_x.min() == 0 and data.train_x.max() == 1
    assert set(data.test_y.tolist()) == set(range(10))


def test_larger_image_size_upsamples():
    data = load("digits", image_size=16)
    assert data.test_x.shape == (450, 1, 16, 16)
    assert 0 <= data.test_x.min() and data.test_x.max() <= 1


def test_split_is_stratified_disjoint_and_a_function_of_the_seed():
    _, labels = digits.images()
    train, test = _stratified_split(labels, 0.25, seed=0)
    assert set(train.tolist()).isdisjoint(test.tolist())
    assert len(train) + len(test) == len(labels) == 1797
    per_class, per_class_in_test = torch.bincount(labels), torch.bincount(labels[test])
    assert (per_class_in_test - 0.25 * per_class).abs().max() <= 1
    again, _ = _stratified_split(labels, 0.25, seed=0)
    other, _ = _stratified_split(labels, 0.25, seed=1)
    assert torch.equal(train, again) and not torch.equal(train, other)


def test_loading_twice_gives_identical_tensors():
    first, second = load("digits", encoding="frames", T=3), load("digits", encoding="frames", T=3)
    for field in ("train_x", "train_y", "test_x", "test_y"):
        assert torch.equal(getattr(first, field), getattr(second, field))


def test_frames_are_binary_on_off_events():
    data = load("digits", encoding="frames", T=3, image_size=16)
    assert data.in_channels == 2 and data.T == 3
    assert data.train_x.shape == (1347, 3, 2, 16, 16)
    assert set(data.train_x.unique().tolist()) == {0.0, 1.0}
    on_rate, off_rate = data.train_x[:, :, 0].mean(), data.train_x[:, :, 1].mean()
    assert 0.05 < on_rate < 0.5 and 0.05 < off_rate < 0.5
    assert model_input(data.train_x[:5], "frames").shape == (3, 5, 2, 16, 16)


def test_a_bright_dot_moving_right_then_down_fires_on_ahead_and_off_behind():
    dot = torch.zeros(1, 1, 8, 8)
    dot[0, 0, 3, 3] = 1.0
    frames = event_frames(dot, T=2, size=8)[0]
    on, off = frames[:, 0].nonzero().tolist(), frames[:, 1].nonzero().tolist()
    assert on == [[0, 3, 4], [1, 4, 4]]
    assert off == [[0, 3, 3], [1, 3, 4]]
    faint = event_frames(dot * CONTRAST_THRESHOLD, T=2, size=8)
    assert faint.sum() == 0


@pytest.mark.parametrize("options, named, allowed", [
    (dict(name="mnist"), "data set", DATASETS),
    (dict(encoding="rate"), "encoding", ENCODINGS),
    (dict(image_size=4), "image_size", (">= 8",)),
    (dict(T=0), "T", (">= 1",)),
    (dict(test_fraction=1.0), "test_fraction", ("between 0 and 1",)),
])
def test_bad_options_raise_a_data_error_naming_the_option_and_allowed_values(options, named, allowed):
    with pytest.raises(DataError) as error:
        load(**options)
    message = str(error.value)
    assert named in message and all(value in message for value in allowed)


def test_the_data_package_lists_its_names_without_importing_torch_or_sklearn():
    """``snncompile.data`` answers ``DATASETS`` and ``ENCODINGS`` for the command line's help at once; its loaders
    come with their modules on first use."""
    script = ("import sys, snncompile.data as data; names = (data.DATASETS, data.ENCODINGS); "
              "print(sorted(name for name in ('torch', 'sklearn', 'tonic') if name in sys.modules)); "
              "data.load; print('torch' in sys.modules)")
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["[]", "True"]
