"""Synaptic ops unrolled into connection matrices ``[N_in, N_out]`` over flattened samples, for the event path.

Row ``i`` of a matrix lists the targets of input position ``i`` and their weights, so a timestep's output is
``active_inputs @ matrix + bias``: the work is the number of active inputs times their fan-out. Convolution and pooling
matrices hold exactly the in-bounds connections (borders have fewer targets), built by index arithmetic.
"""

import numpy as np
from scipy import sparse

from snncompile.ir.ops.synapses import conv_output_size


def window_pairs(plane: tuple, kernel: tuple, stride: tuple, padding: tuple) -> tuple:
    """Every (input position, output position, kernel tap) of a 2-d sliding window whose tap lands inside the
    unpadded ``plane`` ``(H, W)``, as three flat-index arrays over the input plane, the output plane and the kernel;
    and the size of the output plane."""
    (h, w), (kh, kw), (sh, sw), (ph, pw) = plane, kernel, stride, padding
    out_h, out_w = conv_output_size(h, kh, sh, ph), conv_output_size(w, kw, sw, pw)
    out_row, out_col, tap_row, tap_col = np.meshgrid(np.arange(out_h), np.arange(out_w), np.arange(kh), np.arange(kw),
                                                     indexing="ij")
    in_row, in_col = out_row * sh + tap_row - ph, out_col * sw + tap_col - pw
    inside = (in_row >= 0) & (in_row < h) & (in_col >= 0) & (in_col < w)
    return ((in_row * w + in_col)[inside], (out_row * out_w + out_col)[inside], (tap_row * kw + tap_col)[inside],
            out_h * out_w)


def conv2d(op, in_shape: tuple) -> tuple:
    """The connection matrix of a Conv2d on ``(C_in, H, W)`` inputs (zero weights dropped) and its bias per output."""
    c_out, c_in, kh, kw = op.weight.shape
    _, h, w = in_shape
    source, target, tap, out_plane = window_pairs((h, w), (kh, kw), op.stride, op.padding)
    rows = np.arange(c_in)[:, None, None] * (h * w) + source          # [C_in, 1, P]
    cols = np.arange(c_out)[None, :, None] * out_plane + target       # [1, C_out, P]
    rows, cols = np.broadcast_arrays(rows, cols)
    weights = op.weight.reshape(c_out, c_in, kh * kw)[:, :, tap].transpose(1, 0, 2)
    matrix = sparse.csr_matrix((weights.ravel(), (rows.ravel(), cols.ravel())), shape=(c_in * h * w, c_out * out_plane))
    matrix.eliminate_zeros()
    bias = None if op.bias is None else np.repeat(op.bias, out_plane)
    return matrix, bias


def avg_pool2d(op, in_shape: tuple) -> tuple:
    """The connection matrix of an AvgPool2d on ``(C, H, W)`` inputs: each channel to itself, weight ``1/(kH*kW)``."""
    return pool2d(op, in_shape, 1.0 / (op.kernel[0] * op.kernel[1]))


def sum_pool2d(op, in_shape: tuple) -> tuple:
    """The connection matrix of a SumPool2d: each channel to itself, weight ``op.weight``."""
    return pool2d(op, in_shape, float(op.weight))


def pool2d(op, in_shape: tuple, weight: float) -> tuple:
    """The matrix of a per-channel pooling window whose every tap has ``weight``."""
    channels, h, w = in_shape
    source, target, _, out_plane = window_pairs((h, w), op.kernel, op.stride, op.padding)
    rows = (np.arange(channels)[:, None] * (h * w) + source).ravel()
    cols = (np.arange(channels)[:, None] * out_plane + target).ravel()
    weights = np.full(rows.size, weight)
    return sparse.csr_matrix((weights, (rows, cols)), shape=(channels * h * w, channels * out_plane)), None


def linear(op, in_shape: tuple) -> tuple:
    """A fully connected layer's matrix is its weight transposed (dense: every input reaches every output)."""
    return np.ascontiguousarray(op.weight.T), op.bias
