"""How ``mode="auto"`` picks a synapse's path at each step: the predicted time of each, from the layer's shape and
the number of active inputs at that step.

- event path: per active input, ``ROW_NS`` per row of weights it adds (one per kernel tap of a convolution, one for a
  linear map, one per target of a pool) and ``SYNAPSE_NS`` per synapse (its fan-out; a count ``c`` is one input that
  adds ``c`` times its weight), plus ``POSITION_NS`` per input and output position (listing the active inputs,
  writing the output). A silent step costs only the positions.
- dense path: ``DENSE_NS_PER_MAC`` per multiply-add of the layer, by kernel: PyTorch's float32 convolution (the
  taps that read the input; it skips those on zero padding), a NumPy contraction or matrix product (float64
  convolution, linear map; every tap, padding included) or NumPy's window sums (pooling).

Costs are per float size (4 or 8 bytes; the 8-byte figures are the 4-byte ones doubled), fitted by
``bench/simulator_paths.py --batch 64`` on this project's 2-core machine, quiet, every kernel on both cores. Only their
ratios matter, and a wrong guess near the crossover costs little: there both paths take about the same time. Both
paths compute the same values bit for bit, so the choice never changes a result.
"""

import numpy as np

ROW_NS = 4.8
SYNAPSE_NS = {4: 0.038, 8: 0.076}
POSITION_NS = 0.95
DENSE_NS_PER_MAC = {("torch", 4): 0.0096, ("torch", 8): 0.04, ("torch pool", 4): 0.58, ("blas", 4): 0.014, ("blas", 8): 0.05, ("pool", 4): 6.2, ("pool", 8): 6.2}


def event_seconds(dtype, events: float, fan_out: float, row_length: int, positions: int) -> float:
    """Predicted time of the event path in ``dtype`` for ``events`` active inputs of mean ``fan_out`` in rows of
    ``row_length`` weights, over ``positions``."""
    per_event = ROW_NS * fan_out / row_length + SYNAPSE_NS[np.dtype(dtype).itemsize] * fan_out
    return 1e-9 * (per_event * events + POSITION_NS * positions)


def dense_seconds(kernel: str, dtype, macs: int) -> float:
    """Predicted time of the dense path of ``kernel`` (``"blas"`` or ``"pool"``) doing ``macs`` in ``dtype``."""
    return 1e-9 * DENSE_NS_PER_MAC[kernel, np.dtype(dtype).itemsize] * macs
