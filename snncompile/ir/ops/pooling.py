"""Pooling and reshaping, applied per channel at every timestep."""

from dataclasses import dataclass, replace
from typing import ClassVar

import numpy as np
from scipy import sparse

from ..geometry import conv_output_size, in_bounds_taps, window_cover, window_pairs
from ..values import TensorInfo
from .base import GLUE, Op, SynapticOp, pair, require


@dataclass(frozen=True, eq=False)
class _Pool2d(SynapticOp):
    """A per-channel sliding window: each channel connects to itself only."""

    kernel: tuple
    stride: tuple
    padding: tuple = (0, 0)

    def __post_init__(self):
        for name in ("kernel", "stride", "padding"):
            object.__setattr__(self, name, pair(getattr(self, name)))
        super().__post_init__()

    def validate(self):
        require(all(2 * p <= k for p, k in zip(self.padding, self.kernel)), "padding must be at most half the kernel")

    def output_shape(self, x: TensorInfo) -> tuple:
        require(len(x.shape) == 3, f"{self.kind} input must be (C, H, W), got {x.shape}")
        h = conv_output_size(x.shape[1], self.kernel[0], self.stride[0], self.padding[0])
        w = conv_output_size(x.shape[2], self.kernel[1], self.stride[1], self.padding[1])
        require(h > 0 and w > 0, f"pooling window {self.kernel} does not fit input {x.shape[1:]}")
        return (x.shape[0], h, w)

    def synapse_count(self, inputs):
        (x,) = inputs
        return (x.shape[0] * in_bounds_taps(x.shape[1], self.kernel[0], self.stride[0], self.padding[0])
                * in_bounds_taps(x.shape[2], self.kernel[1], self.stride[1], self.padding[1]))

    def fan_out(self, in_shape):
        return np.broadcast_to(window_cover(in_shape[1:], self.kernel, self.stride, self.padding), in_shape)

    def largest_fan_in(self, in_shape):
        return self.kernel[0] * self.kernel[1]

    def fan_in_sum(self, weights=None):
        weights = self.weights() if weights is None else weights
        return float(np.abs(weights).max()) * self.kernel[0] * self.kernel[1]

    def connection_matrix(self, in_shape):
        """Each channel to itself, every tap of the window at the pool's one weight."""
        channels, h, w = in_shape
        source, target, _, out_plane = window_pairs((h, w), self.kernel, self.stride, self.padding)
        rows = (np.arange(channels)[:, None] * (h * w) + source).ravel()
        cols = (np.arange(channels)[:, None] * out_plane + target).ravel()
        weights = np.full(rows.size, float(self.weights()[0]))
        return sparse.csr_matrix((weights, (rows, cols)), shape=(channels * h * w, channels * out_plane)), None


@dataclass(frozen=True, eq=False)
class AvgPool2d(_Pool2d):
    """``y[c, i, j] = (1 / (kH*kW)) * sum_{u, v} x[c, i*s0 + u - p0, j*s1 + v - p1]`` (zero padding counted, as
    PyTorch's default ``count_include_pad=True``). A fixed-weight linear op; output analog."""

    def weights(self):
        return np.array([1.0 / (self.kernel[0] * self.kernel[1])])

    def infer(self, inputs):
        return TensorInfo(self.output_shape(inputs[0]))


@dataclass(frozen=True, eq=False)
class SumPool2d(_Pool2d):
    """``y[c, i, j] = weight * sum_{u, v} x[c, i*s0 + u - p0, j*s1 + v - p1]`` (zero padding): average pooling with
    the ``1 / (kH*kW)`` folded into one integer synaptic weight, as a chip stores it. Output analog."""

    weight: int = 1

    def weights(self):
        return np.array([self.weight])

    def with_weights(self, weights, bias):
        return replace(self, weight=int(np.asarray(weights).reshape(-1)[0]))

    def infer(self, inputs):
        return TensorInfo(self.output_shape(inputs[0]))


@dataclass(frozen=True, eq=False)
class MaxPool2d(_Pool2d):
    """``y[c, i, j] = max_{u, v} x[c, i*s0 + u - p0, j*s1 + v - p1]`` (padding never wins). Keeps the value kind:
    an OR over spikes, a maximum over counts. Its connections carry no weights; a chip runs it as threshold neurons
    after ``lower_maxpool``."""

    event_glue: ClassVar[bool] = True
    lowered_by: ClassVar[str] = "lower_maxpool"

    def infer(self, inputs):
        (x,) = inputs
        return TensorInfo(self.output_shape(x), x.kind, x.max_count)

    def fan_in_sum(self, weights=None):
        raise TypeError("a max has no weighted sum")

    def connection_matrix(self, in_shape):
        raise TypeError("a max is not a weighted sum; lower it first (lower_maxpool)")


@dataclass(frozen=True, eq=False)
class Flatten(Op):
    """``(C, H, W) -> (C*H*W,)`` in row-major order; keeps the value kind."""

    role: ClassVar[str] = GLUE
    event_glue: ClassVar[bool] = True

    def infer(self, inputs):
        (x,) = inputs
        return TensorInfo((x.size,), x.kind, x.max_count)
