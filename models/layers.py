"""Glue that makes ordinary layers multi-step, and the input/output ends of every zoo network.

Tensors inside a network are ``[T, B, ...]``. A synaptic layer (conv, linear, pooling, BN, flatten) acts on each
timestep alone, which :class:`PerStep` provides by folding time into the batch.
"""

import torch
from torch import nn

SEW_FUNCTIONS = ("ADD", "AND", "IAND")


class PerStep(nn.Module):
    """Apply ``layer`` to every timestep: ``[T, B, ...] -> [T, B, ...]`` (time folded into the batch).

    A BatchNorm inside sees time and batch together, as the seed papers' "BN applied per timestep" does."""

    def __init__(self, layer: nn.Module):
        super().__init__()
        self.layer = layer

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.layer(x.flatten(0, 1))
        return y.view(x.shape[0], x.shape[1], *y.shape[1:])


class DirectEncoder(nn.Module):
    """Direct encoding: the analog image ``[B, ...]`` enters identically at each of ``T`` timesteps -> ``[T, B, ...]``."""

    def __init__(self, T: int):
        super().__init__()
        if T < 1:
            raise ValueError(f"T must be >= 1, got {T}")
        self.T = int(T)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.unsqueeze(0).expand(self.T, *x.shape)

    def extra_repr(self) -> str:
        return f"T={self.T}"


class Readout(nn.Module):
    """Non-spiking readout: ``Q = (1/T) sum_t (W s[t] + b)``, a linear layer averaged over time -> ``[B, classes]``."""

    def __init__(self, in_features: int, out_features: int, bias: bool = True):
        super().__init__()
        self.linear = nn.Linear(in_features, out_features, bias=bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.linear(x).mean(0)


class PooledReadout(nn.Module):
    """Global average pooling, flattening, and the non-spiking :class:`Readout`: ``[T, B, C, H, W] -> [B, classes]``."""

    def __init__(self, channels: int, num_classes: int):
        super().__init__()
        self.pool = PerStep(nn.AdaptiveAvgPool2d(1))
        self.flatten = PerStep(nn.Flatten())
        self.readout = Readout(channels, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.readout(self.flatten(self.pool(x)))


class SEWConnect(nn.Module):
    """SEW element-wise function ``g(A, S)`` of a residual branch output ``A`` and a shortcut ``S`` (Fang et al. 2021):
    ``ADD`` = ``A + S`` (counts), ``AND`` = ``A * S``, ``IAND`` = ``(1 - A) * S`` (both stay binary)."""

    def __init__(self, function: str = "ADD"):
        super().__init__()
        function = function.upper()
        if function not in SEW_FUNCTIONS:
            raise ValueError(f"SEW function must be one of {SEW_FUNCTIONS}, got {function!r}")
        self.function = function

    def forward(self, branch: torch.Tensor, shortcut: torch.Tensor) -> torch.Tensor:
        if self.function == "ADD":
            return branch + shortcut
        if self.function == "AND":
            return branch * shortcut
        return (1 - branch) * shortcut

    def extra_repr(self) -> str:
        return self.function
