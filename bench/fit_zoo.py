"""The Loihi 2 fit of every zoo architecture in its default (full-size) configuration, compile only (random weights,
no data, no training): the populations, cores and chips with convolution weights shared per core and with one weight
per synapse, the stored weights, the binding limit of the most-cored population, and what graded spikes save.

    .venv/bin/python bench/fit_zoo.py [--size 32] [--large 224] [ARCH ...]

Not a test. Images are ``--size`` pixels square (32: CIFAR), the ImageNet SEW ResNets (``sew_resnet*``) ``--large``
(224), and the two architectures that need 128 x 128 frames (``tdbn_resnet17``, ``sew_7bnet``) 128. One line per
architecture; `snncompile fit` prints the same figures per population for one artifact.
"""

import argparse
import time

import torch

from snncompile.compiler import lower_and_quantize
from snncompile.energy.placement import place
from snncompile.frontend import trace
from snncompile.models import ARCHS, build, default_config
from snncompile.text_table import text_table

NEEDS_128 = ("tdbn_resnet17", "sew_7bnet")


def example_input(arch: str, size: int, large: int) -> tuple:
    """``(config overrides, example input)`` of ``arch`` at its bench size."""
    config = default_config(arch)
    side = 128 if arch in NEEDS_128 else large if arch.startswith("sew_resnet") else size
    overrides = {"image_size": side} if "image_size" in config else {}
    if arch == "sbp_resnet18" or (arch.startswith("sew_resnet") and side < 64):
        overrides["stem"] = "cifar"
    if config["encoding"] == "frames":
        return overrides, (torch.rand(1, 1, config["in_channels"], side, side) > 0.7).float()
    return overrides, torch.rand(1, config["in_channels"], side, side)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("archs", nargs="*", default=list(ARCHS))
    parser.add_argument("--size", type=int, default=32)
    parser.add_argument("--large", type=int, default=224)
    args = parser.parse_args()
    rows = [("arch", "input", "neurons", "placed synapses", "weights", "cores", "chips", "unshared cores", "chips",
             "binding (largest)", "graded: weights", "cores", "seconds")]
    for arch in args.archs:
        started = time.perf_counter()
        overrides, x = example_input(arch, args.size, args.large)
        torch.manual_seed(0)
        graph = lower_and_quantize(trace(build(arch, **{**overrides, "T": 1}).eval(), x)).graph
        fit, graded = place(graph), place(graph, graded=True)
        t, g = fit.totals, graded.totals
        largest = max(fit.populations, key=lambda p: p.cores)
        rows.append((arch, "x".join(map(str, x.shape[-3:])), f"{t['neurons']:,}", f"{t['placed_synapses']:,}",
                     f"{t['weights']:,}", f"{t['cores']:,}", f"{t['chips']:,}", f"{t['unshared_cores']:,}",
                     f"{t['unshared_chips']:,}", f"{largest.name}: {largest.cores} ({largest.binding})",
                     f"{g['weights']:,}", f"{g['cores']:,}", f"{time.perf_counter() - started:.0f}"))
        print(text_table(rows[-1:], "<" * len(rows[0]), gap=" | "), flush=True)
    print(text_table(rows, "<<>>>>>>><>>>", rules_before=(1,)))


if __name__ == "__main__":
    main()
