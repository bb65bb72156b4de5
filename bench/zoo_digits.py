"""Train one model of each seed family on digits, compile it to integers, and print float vs integer accuracy.

    .venv/bin/python bench/zoo_digits.py            # the test suite's models (T=2); about a minute on 2 cores

The models, options and seeds are the test suite's (tests/conftest.py TRAINED, train_family), so these are the
figures the tests check.
"""

import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

from conftest import TRAINED, train_family  # noqa: E402
from snncompile.backends import get_backend  # noqa: E402
from snncompile.compiler import lower_and_quantize  # noqa: E402
from snncompile.data import load  # noqa: E402
from snncompile.evaluation import batch_inputs, evaluate  # noqa: E402
from snncompile.frontend import trace  # noqa: E402


def main():
    data = load("digits", encoding="direct", T=2)
    numpy = get_backend("numpy")
    print(f"{'family':<14} {'arch':<16} {'params':>8} {'train s':>8} {'float':>7} {'int8':>7} {'int8 cal':>8} "
          f"{'spike agreement':>15}")
    for family, (arch, _, _) in TRAINED.items():
        start = time.perf_counter()
        model, _ = train_family(family, data)
        seconds = time.perf_counter() - start
        graph = trace(model, data.test_x[:1])
        floating = evaluate(graph, numpy, data, progress=False).accuracy
        plain = lower_and_quantize(graph, bits=8)
        calibrated = lower_and_quantize(graph, bits=8, calibration=batch_inputs(data, 0, 256, part="train"))
        max_abs = evaluate(plain.graph, numpy, data, progress=False).accuracy
        result = evaluate(calibrated.graph, numpy, data, progress=False, reference=calibrated.float_graph)
        agreement = sum(a["agreement"] for a in result.agreement.values()) / len(result.agreement)
        params = sum(p.numel() for p in model.parameters())
        print(f"{family:<14} {arch:<16} {params:>8,} {seconds:>8.1f} {floating:>7.2%} {max_abs:>7.2%} "
              f"{result.accuracy:>8.2%} {agreement:>15.2%}")


if __name__ == "__main__":
    main()
