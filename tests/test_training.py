"""Training: reproducible from its seed, tells SBP models their progress, and checks the model fits the data."""

from dataclasses import replace

import pytest
import torch

from conftest import tiny_config
from snncompile.data import load
from snncompile.errors import ConfigError
from snncompile.models import build
from snncompile.training import evaluate, train


@pytest.fixture(scope="module")
def few_digits():
    """200 training and 100 test digits."""
    data = load("digits", T=2)
    return replace(data, train_x=data.train_x[:200], train_y=data.train_y[:200],
                   test_x=data.test_x[:100], test_y=data.test_y[:100])


def trained(arch, data, seed=0):
    torch.manual_seed(seed)
    model = build(arch, **tiny_config(arch))
    return model, train(model, data, epochs=1, batch_size=50, seed=seed, progress=False)


def test_the_same_seed_gives_the_same_weights_and_metrics(few_digits):
    first, metrics = trained("mlf_dsresnet14", few_digits)
    second, again = trained("mlf_dsresnet14", few_digits)
    assert all(torch.equal(a, b) for a, b in zip(first.state_dict().values(), second.state_dict().values()))
    metrics.pop("train_seconds"), again.pop("train_seconds")
    assert metrics == again
    assert not first.training
    assert metrics["test_accuracy"] == evaluate(first, few_digits.test_x, few_digits.test_y)


def test_sbp_models_are_told_their_progress(few_digits, monkeypatch):
    seen = []
    model = build("sbp_resnet18", **tiny_config("sbp_resnet18"))
    monkeypatch.setattr(model, "set_progress", seen.append)
    train(model, few_digits, epochs=2, batch_size=50, progress=False)
    assert seen == [i / 8 for i in range(8)]


def test_a_model_that_does_not_fit_the_data_is_a_config_error(few_digits):
    model = build("mlf_dsresnet14", **tiny_config("mlf_dsresnet14", in_channels=3))
    with pytest.raises(ConfigError, match="cannot run on digits"):
        train(model, few_digits, epochs=1, progress=False)
