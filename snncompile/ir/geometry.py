"""Where a sliding window's taps land: the connection geometry of convolutions and pooling, by index arithmetic.

Every count here is exact at the borders: a tap that falls on zero padding connects nothing.
"""

import numpy as np


def conv_output_size(size: int, kernel: int, stride: int, padding: int) -> int:
    return (size + 2 * padding - kernel) // stride + 1


def in_bounds_taps(size: int, kernel: int, stride: int, padding: int) -> int:
    """How many (output position, kernel tap) pairs along one axis land inside the unpadded input."""
    out = conv_output_size(size, kernel, stride, padding)
    starts = np.arange(out) * stride - padding
    taps = starts[:, None] + np.arange(kernel)[None, :]
    return int(((taps >= 0) & (taps < size)).sum())


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


def window_cover(plane: tuple, kernel: tuple, stride: tuple, padding: tuple) -> np.ndarray:
    """``[H, W]``: how many sliding windows (output positions) contain each input position of ``plane``."""
    source, _, _, _ = window_pairs(plane, kernel, stride, padding)
    return np.bincount(source, minlength=plane[0] * plane[1]).reshape(plane)
