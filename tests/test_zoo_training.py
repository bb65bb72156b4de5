"""Every seed family trains on real digits to a useful held-out accuracy, inside the test suite."""

import pytest

from conftest import TRAINED
from snncompile.training import evaluate

BARS = {"mlf_dsresnet": 0.90, "tdbn_resnet": 0.85, "sew_resnet": 0.85, "sbp_resnet": 0.85}


@pytest.mark.parametrize("family", sorted(TRAINED))
def test_family_trains_on_digits(trained, family):
    model, data, metrics = trained(family)
    assert metrics["test_accuracy"] >= BARS[family]
    # the checkpoint round trip keeps the accuracy exactly
    assert evaluate(model, data.test_x, data.test_y, encoding=data.encoding) == pytest.approx(metrics["test_accuracy"])
