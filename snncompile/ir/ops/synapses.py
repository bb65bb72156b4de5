"""Weighted connections: convolution, fully connected layer, and the non-spiking readout."""

from dataclasses import dataclass
from typing import ClassVar

import numpy as np
from scipy import sparse

from ..geometry import conv_output_size, in_bounds_taps, window_cover, window_pairs
from ..values import TensorInfo
from .base import SynapticOp, pair, require


@dataclass(frozen=True, eq=False)
class Conv2d(SynapticOp):
    """``y[o, i, j] = bias[o] + sum_{c, u, v} weight[o, c, u, v] * x[c, i*s0 + u - p0, j*s1 + v - p1]`` (zero padding).

    ``weight``: ``[C_out, C_in, kH, kW]``; ``bias``: ``[C_out]`` or ``None``. Input ``(C_in, H, W)``; output analog."""

    weight: np.ndarray
    bias: np.ndarray | None = None
    stride: tuple = (1, 1)
    padding: tuple = (0, 0)

    weight_field: ClassVar[str] = "weight"
    bias_field: ClassVar[str] = "bias"

    def __post_init__(self):
        object.__setattr__(self, "stride", pair(self.stride))
        object.__setattr__(self, "padding", pair(self.padding))
        super().__post_init__()

    def validate(self):
        require(self.weight.ndim == 4, f"conv weight must be [C_out, C_in, kH, kW], got shape {self.weight.shape}")
        require(self.bias is None or self.bias.shape == (self.weight.shape[0],),
                f"conv bias must have shape ({self.weight.shape[0]},)")

    @property
    def kernel(self) -> tuple:
        return tuple(self.weight.shape[2:])

    def infer(self, inputs):
        (x,) = inputs
        require(len(x.shape) == 3, f"conv input must be (C, H, W), got {x.shape}")
        c_out, c_in, kh, kw = self.weight.shape
        require(x.shape[0] == c_in, f"conv expects {c_in} input channels, got {x.shape[0]}")
        h = conv_output_size(x.shape[1], kh, self.stride[0], self.padding[0])
        w = conv_output_size(x.shape[2], kw, self.stride[1], self.padding[1])
        require(h > 0 and w > 0, f"conv kernel {kh}x{kw} does not fit input {x.shape[1:]}")
        return TensorInfo((c_out, h, w))

    def synapse_count(self, inputs):
        (x,) = inputs
        c_out, c_in, kh, kw = self.weight.shape
        return (c_out * c_in * in_bounds_taps(x.shape[1], kh, self.stride[0], self.padding[0])
                * in_bounds_taps(x.shape[2], kw, self.stride[1], self.padding[1]))

    def fan_out(self, in_shape):
        cover = window_cover(in_shape[1:], self.kernel, self.stride, self.padding)
        return np.broadcast_to(self.weight.shape[0] * cover, in_shape)

    def largest_fan_in(self, in_shape):
        return int(np.prod(self.weight.shape[1:]))

    def fan_in_sum(self, weights=None):
        weights = self.weight if weights is None else weights
        return float(np.abs(weights).reshape(weights.shape[0], -1).sum(axis=1).max())

    def connection_matrix(self, in_shape):
        """The in-bounds connections (zero weights dropped) and the bias per output."""
        c_out, c_in, kh, kw = self.weight.shape
        _, h, w = in_shape
        source, target, tap, out_plane = window_pairs((h, w), (kh, kw), self.stride, self.padding)
        rows = np.arange(c_in)[:, None, None] * (h * w) + source          # [C_in, 1, P]
        cols = np.arange(c_out)[None, :, None] * out_plane + target       # [1, C_out, P]
        rows, cols = np.broadcast_arrays(rows, cols)
        weights = self.weight.reshape(c_out, c_in, kh * kw)[:, :, tap].transpose(1, 0, 2)
        matrix = sparse.csr_matrix((weights.ravel(), (rows.ravel(), cols.ravel())),
                                   shape=(c_in * h * w, c_out * out_plane))
        matrix.eliminate_zeros()
        bias = None if self.bias is None else np.repeat(self.bias, out_plane)
        return matrix, bias


@dataclass(frozen=True, eq=False)
class Linear(SynapticOp):
    """``y = weight @ x + bias``; ``weight``: ``[N_out, N_in]``. Input ``(N_in,)``; output analog."""

    weight: np.ndarray
    bias: np.ndarray | None = None

    weight_field: ClassVar[str] = "weight"
    bias_field: ClassVar[str] = "bias"

    def validate(self):
        require(self.weight.ndim == 2, f"linear weight must be [N_out, N_in], got shape {self.weight.shape}")
        require(self.bias is None or self.bias.shape == (self.weight.shape[0],), "linear bias must match N_out")

    def infer(self, inputs):
        (x,) = inputs
        require(x.shape == (self.weight.shape[1],),
                f"linear expects input ({self.weight.shape[1]},), got {x.shape} (flatten first?)")
        return TensorInfo((self.weight.shape[0],))

    def synapse_count(self, inputs):
        return int(self.weight.size)

    def fan_out(self, in_shape):
        return np.full(in_shape, self.weight.shape[0])

    def largest_fan_in(self, in_shape):
        return int(self.weight.shape[1])

    def fan_in_sum(self, weights=None):
        weights = self.weight if weights is None else weights
        return float(np.abs(weights).sum(axis=1).max())

    def connection_matrix(self, in_shape):
        """The weight transposed (dense: every input reaches every output)."""
        return np.ascontiguousarray(self.weight.T), self.bias


@dataclass(frozen=True, eq=False)
class Readout(Linear):
    """Non-spiking readout, a non-leaking integrator read once at the end:
    ``y = (1/T) sum_t (weight @ x[t] + bias) / output_scale``.

    The graph's output; its value exists only after the last timestep. ``output_scale`` is 1 in a float graph and the
    quantization scale in an integer graph (integer weights and bias; dividing by it gives the float logits back)."""

    output_scale: float = 1.0

    integrates: ClassVar[bool] = True
