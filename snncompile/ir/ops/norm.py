"""Per-channel affine maps: batch normalisation (before folding) and what is left of it when nothing can absorb it."""

from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from ..values import TensorInfo
from .base import SynapticOp, require


def check_channels(x: TensorInfo, *vectors) -> None:
    require(len(x.shape) >= 1, "a per-channel op needs a channel axis")
    for vector in vectors:
        require(vector.shape == (x.shape[0],), f"per-channel vectors must have shape ({x.shape[0]},), got {vector.shape}")


@dataclass(frozen=True, eq=False)
class BatchNorm(SynapticOp):
    """Inference-time (td)BN on the channel axis (axis 0 of a sample)::

        scale = weight * gain / sqrt(var + eps)          (eps_inside_sqrt, PyTorch and the tdBN paper)
        scale = weight * gain / (sqrt(var) + eps)        (the MLF reference code)
        y     = (x - mean) * scale + bias

    ``gain`` is ``alpha * Vth`` for tdBN and 1 for plain BN. Output analog. One-to-one; ``fold_batchnorm`` folds it into
    the synapse before it, or turns it into an ``Affine``."""

    mean: np.ndarray
    var: np.ndarray
    weight: np.ndarray
    bias: np.ndarray
    eps: float = 1e-5
    eps_inside_sqrt: bool = True
    gain: float = 1.0

    lowered_by: ClassVar[str] = "fold_batchnorm"

    def validate(self):
        require(bool(np.all(self.var >= 0)), "running variance must be non-negative")

    def scale(self) -> np.ndarray:
        denominator = np.sqrt(self.var + self.eps) if self.eps_inside_sqrt else np.sqrt(self.var) + self.eps
        return self.weight * self.gain / denominator

    def weights(self):
        return self.scale()

    def bias_values(self):
        return self.bias - self.mean * self.scale()

    def parameter_count(self) -> int:
        """Learned values only (``weight``, ``bias``), as PyTorch counts them; running statistics are buffers."""
        return self.weight.size + self.bias.size

    def infer(self, inputs):
        (x,) = inputs
        check_channels(x, self.mean, self.var, self.weight, self.bias)
        return TensorInfo(x.shape)


@dataclass(frozen=True, eq=False)
class Affine(SynapticOp):
    """``y = x * scale + shift`` per channel: a one-to-one synapse (a BN on an identity shortcut, a weight-1 edge
    into a neuron), or a normalisation that no weight could absorb. Output analog."""

    scale: np.ndarray
    shift: np.ndarray

    weight_field: ClassVar[str] = "scale"
    bias_field: ClassVar[str] = "shift"

    def with_weights(self, weights, bias):
        return super().with_weights(weights, np.zeros(self.shift.shape, weights.dtype) if bias is None else bias)

    def infer(self, inputs):
        (x,) = inputs
        check_channels(x, self.scale, self.shift)
        return TensorInfo(x.shape)
