"""Calibration: pick the quantizer's ``clip_ratio`` on sample inputs instead of trusting max-abs scales.

Each candidate ratio quantizes the lowered float graph; the integer graph then runs on the calibration samples next to
the float graph, and the ratio whose predictions agree with the float ones most often wins (ties: the smaller output
error, then the smaller ratio). The range analysis holds for every candidate, so calibration only ever trades
resolution against saturation of the largest weights; it never lets a value leave the chip's widths.
"""

import numpy as np

from ..backends.numpy.simulator import simulate
from ..chip import LOIHI2, Chip
from ..errors import ConfigError
from .quantize import quantize

CLIP_RATIOS = (1.0, 1.25, 1.5, 2.0, 3.0)


def calibrate(graph, inputs, *, chip: Chip = LOIHI2, bits: int = 8, ratios=CLIP_RATIOS) -> tuple:
    """``(best clip ratio, scores)`` for the lowered float ``graph`` quantized for ``chip``, on ``inputs`` (as
    :func:`simulate` takes them); ``scores`` maps each ratio to ``{"agreement", "output_error"}``."""
    T = int(graph.metadata.get("T") or 1)
    if len(inputs) == 0:
        raise ConfigError("calibration needs at least one sample")
    reference = simulate(graph, inputs, T).output
    scores = {}
    for ratio in ratios:
        output = simulate(quantize(graph, chip, bits, clip_ratio=ratio), inputs, T).output
        scores[ratio] = {"agreement": float((output.argmax(1) == reference.argmax(1)).mean()),
                         "output_error": float(np.abs(output - reference).mean())}
    best = min(ratios, key=lambda r: (-scores[r]["agreement"], scores[r]["output_error"], r))
    return best, scores
