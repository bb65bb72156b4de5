"""How ``mode="auto"`` picks a synapse's path at each step: the predicted time of each, from the layer's shape and
the number of active inputs at that step.

- event path: per active input, ``ROW_NS`` per row of weights it adds (one per kernel tap of a convolution, one for a
  linear map, one per target of a pool) and ``SYNAPSE_NS`` per synapse (its fan-out; a count ``c`` is one input that
  adds ``c`` times its weight), plus ``POSITION_NS`` per input and output position (listing the active inputs,
  writing the output). A silent step costs only the positions.
- dense path: ``DENSE_NS_PER_MAC`` per multiply-add of the layer (every tap of every output, zero padding included),
  by kernel: a BLAS product (im2col convolution, linear map) or NumPy's window sums (pooling).

Costs are per float size (4 or 8 bytes), fitted by ``bench/simulator_paths.py`` on this project's machine with one
thread each (``NUMBA_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1``: the machine was shared; the 8-byte figures are the
4-byte ones doubled). Only their ratios matter, and a wrong guess near the crossover costs little: there both paths
take about the same time. Both paths compute the same values bit for bit, so the choice never changes a result.
"""

import numpy as np

ROW_NS = 6.0  # the convolutions' rows alone; the fit over every layer, pooling's single-weight rows included: 8.6
SYNAPSE_NS = {4: 0.04, 8: 0.08}
POSITION_NS = 0.85
DENSE_NS_PER_MAC = {("blas", 4): 0.024, ("blas", 8): 0.05, ("pool", 4): 7.8, ("pool", 8): 7.8}


def event_seconds(dtype, events: float, fan_out: float, row_length: int, positions: int) -> float:
    """Predicted time of the event path in ``dtype`` for ``events`` active inputs of mean ``fan_out`` in rows of
    ``row_length`` weights, over ``positions``."""
    per_event = ROW_NS * fan_out / row_length + SYNAPSE_NS[np.dtype(dtype).itemsize] * fan_out
    return 1e-9 * (per_event * events + POSITION_NS * positions)


def dense_seconds(kernel: str, dtype, macs: int) -> float:
    """Predicted time of the dense path of ``kernel`` (``"blas"`` or ``"pool"``) doing ``macs`` in ``dtype``."""
    return 1e-9 * DENSE_NS_PER_MAC[kernel, np.dtype(dtype).itemsize] * macs
