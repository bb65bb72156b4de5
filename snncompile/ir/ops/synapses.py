"""Weighted connections: convolution, fully connected layer, and the non-spiking readout."""

from dataclasses import dataclass

import numpy as np

from ..values import TensorInfo
from .base import Op, pair, require


def conv_output_size(size: int, kernel: int, stride: int, padding: int) -> int:
    return (size + 2 * padding - kernel) // stride + 1


def in_bounds_taps(size: int, kernel: int, stride: int, padding: int) -> int:
    """How many (output position, kernel tap) pairs along one axis land inside the unpadded input."""
    out = conv_output_size(size, kernel, stride, padding)
    starts = np.arange(out) * stride - padding
    taps = starts[:, None] + np.arange(kernel)[None, :]
    return int(((taps >= 0) & (taps < size)).sum())


@dataclass(frozen=True, eq=False)
class Conv2d(Op):
    """``y[o, i, j] = bias[o] + sum_{c, u, v} weight[o, c, u, v] * x[c, i*s0 + u - p0, j*s1 + v - p1]`` (zero padding).

    ``weight``: ``[C_out, C_in, kH, kW]``; ``bias``: ``[C_out]`` or ``None``. Input ``(C_in, H, W)``; output analog."""

    weight: np.ndarray
    bias: np.ndarray | None = None
    stride: tuple = (1, 1)
    padding: tuple = (0, 0)

    def __post_init__(self):
        super().__post_init__()
        object.__setattr__(self, "stride", pair(self.stride))
        object.__setattr__(self, "padding", pair(self.padding))

    def infer(self, inputs):
        (x,) = inputs
        require(self.weight.ndim == 4, f"conv weight must be [C_out, C_in, kH, kW], got shape {self.weight.shape}")
        require(len(x.shape) == 3, f"conv input must be (C, H, W), got {x.shape}")
        c_out, c_in, kh, kw = self.weight.shape
        require(x.shape[0] == c_in, f"conv expects {c_in} input channels, got {x.shape[0]}")
        require(self.bias is None or self.bias.shape == (c_out,), f"conv bias must have shape ({c_out},)")
        h = conv_output_size(x.shape[1], kh, self.stride[0], self.padding[0])
        w = conv_output_size(x.shape[2], kw, self.stride[1], self.padding[1])
        require(h > 0 and w > 0, f"conv kernel {kh}x{kw} does not fit input {x.shape[1:]}")
        return TensorInfo((c_out, h, w))

    def synapse_count(self, inputs):
        (x,) = inputs
        c_out, c_in, kh, kw = self.weight.shape
        return (c_out * c_in * in_bounds_taps(x.shape[1], kh, self.stride[0], self.padding[0])
                * in_bounds_taps(x.shape[2], kw, self.stride[1], self.padding[1]))


@dataclass(frozen=True, eq=False)
class Linear(Op):
    """``y = weight @ x + bias``; ``weight``: ``[N_out, N_in]``. Input ``(N_in,)``; output analog."""

    weight: np.ndarray
    bias: np.ndarray | None = None

    def infer(self, inputs):
        (x,) = inputs
        require(self.weight.ndim == 2, f"linear weight must be [N_out, N_in], got shape {self.weight.shape}")
        require(x.shape == (self.weight.shape[1],),
                f"linear expects input ({self.weight.shape[1]},), got {x.shape} (flatten first?)")
        require(self.bias is None or self.bias.shape == (self.weight.shape[0],), "linear bias must match N_out")
        return TensorInfo((self.weight.shape[0],))

    def synapse_count(self, inputs):
        return int(self.weight.size)


@dataclass(frozen=True, eq=False)
class Readout(Linear):
    """Non-spiking readout, a non-leaking integrator read once at the end:
    ``y = (1/T) sum_t (weight @ x[t] + bias) / output_scale``.

    The graph's output; its value exists only after the last timestep. ``output_scale`` is 1 in a float graph and the
    quantization scale in an integer graph (integer weights and bias; dividing by it gives the float logits back)."""

    output_scale: float = 1.0
