"""Pooling and reshaping, applied per channel at every timestep."""

from dataclasses import dataclass

from ..values import TensorInfo
from .base import Op, pair, require
from .synapses import conv_output_size, in_bounds_taps


@dataclass(frozen=True, eq=False)
class _Pool2d(Op):
    kernel: tuple
    stride: tuple
    padding: tuple = (0, 0)

    def __post_init__(self):
        super().__post_init__()
        for name in ("kernel", "stride", "padding"):
            object.__setattr__(self, name, pair(getattr(self, name)))

    def output_shape(self, x: TensorInfo) -> tuple:
        require(len(x.shape) == 3, f"{self.kind} input must be (C, H, W), got {x.shape}")
        require(all(2 * p <= k for p, k in zip(self.padding, self.kernel)), "padding must be at most half the kernel")
        h = conv_output_size(x.shape[1], self.kernel[0], self.stride[0], self.padding[0])
        w = conv_output_size(x.shape[2], self.kernel[1], self.stride[1], self.padding[1])
        require(h > 0 and w > 0, f"pooling window {self.kernel} does not fit input {x.shape[1:]}")
        return (x.shape[0], h, w)

    def synapse_count(self, inputs):
        (x,) = inputs
        return (x.shape[0] * in_bounds_taps(x.shape[1], self.kernel[0], self.stride[0], self.padding[0])
                * in_bounds_taps(x.shape[2], self.kernel[1], self.stride[1], self.padding[1]))


@dataclass(frozen=True, eq=False)
class AvgPool2d(_Pool2d):
    """``y[c, i, j] = (1 / (kH*kW)) * sum_{u, v} x[c, i*s0 + u - p0, j*s1 + v - p1]`` (zero padding counted, as
    PyTorch's default ``count_include_pad=True``). A fixed-weight linear op; output analog."""

    def infer(self, inputs):
        return TensorInfo(self.output_shape(inputs[0]))


@dataclass(frozen=True, eq=False)
class SumPool2d(_Pool2d):
    """``y[c, i, j] = weight * sum_{u, v} x[c, i*s0 + u - p0, j*s1 + v - p1]`` (zero padding): average pooling with
    the ``1 / (kH*kW)`` folded into one integer synaptic weight, as a chip stores it. Output analog."""

    weight: int = 1

    def infer(self, inputs):
        return TensorInfo(self.output_shape(inputs[0]))


@dataclass(frozen=True, eq=False)
class MaxPool2d(_Pool2d):
    """``y[c, i, j] = max_{u, v} x[c, i*s0 + u - p0, j*s1 + v - p1]`` (padding never wins). Keeps the value kind:
    an OR over spikes, a maximum over counts."""

    def infer(self, inputs):
        (x,) = inputs
        return TensorInfo(self.output_shape(x), x.kind, x.max_count)


@dataclass(frozen=True, eq=False)
class Flatten(Op):
    """``(C, H, W) -> (C*H*W,)`` in row-major order; keeps the value kind."""

    def infer(self, inputs):
        (x,) = inputs
        return TensorInfo((x.size,), x.kind, x.max_count)
