"""Surrogate gradients of the spike function.

The forward pass is a Heaviside step on ``x = v - threshold``: ``x > 0`` (STBP models) or ``x >= 0`` (SpikingJelly).
The backward pass replaces its derivative by a smooth or boxed stand-in. Each surrogate is a frozen dataclass whose
``derivative(x)`` is the stand-in; :func:`spike` applies it.
"""

import math
from dataclasses import dataclass

import torch


@dataclass(frozen=True)
class Rectangle:
    """STBP rectangle: ``h(x) = (1/width) * [|x| < width/2]`` (Wu et al. 2018; tdBN eq. 16; MLF eq. 6)."""

    width: float = 1.0

    def derivative(self, x: torch.Tensor) -> torch.Tensor:
        return (x.abs() < self.width / 2).to(x.dtype) / self.width


@dataclass(frozen=True)
class ATan:
    """SpikingJelly's ATan: ``sigma(x) = arctan(pi/2 * alpha * x) / pi + 1/2``, so
    ``sigma'(x) = (alpha/2) / (1 + (pi/2 * alpha * x)^2)`` (SEW ResNet uses alpha = 2)."""

    alpha: float = 2.0

    def derivative(self, x: torch.Tensor) -> torch.Tensor:
        return (self.alpha / 2) / (1 + (math.pi / 2 * self.alpha * x) ** 2)


class _Heaviside(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, surrogate, inclusive):
        ctx.save_for_backward(x)
        ctx.surrogate = surrogate
        fired = x >= 0 if inclusive else x > 0
        return fired.to(x.dtype)

    @staticmethod
    def backward(ctx, grad_output):
        (x,) = ctx.saved_tensors
        return grad_output * ctx.surrogate.derivative(x), None, None


def spike(x: torch.Tensor, surrogate, inclusive: bool) -> torch.Tensor:
    """Heaviside of ``x`` (``x >= 0`` if ``inclusive`` else ``x > 0``) with ``surrogate``'s derivative."""
    return _Heaviside.apply(x, surrogate, inclusive)
