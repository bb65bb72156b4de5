"""Batch normalisation for multi-step tensors ``[T, B, C, ...]``."""

import torch
from torch import nn


class ThresholdDependentBatchNorm(nn.Module):
    """tdBN (Zheng et al. 2021, Algorithm 1): per channel, statistics over time, batch and space::

        x_hat = alpha * Vth * (x - mean) / sqrt(var + eps)        (eps_inside_sqrt=True, the paper)
        x_hat = alpha * Vth * (x - mean) / (sqrt(var) + eps)      (eps_inside_sqrt=False, the MLF reference code)
        y     = weight * x_hat + bias                             (lambda, beta)

    Training normalises with the batch's biased variance and tracks running statistics (unbiased variance, as
    ``nn.BatchNorm``); evaluation uses the running statistics, so it folds into the preceding conv exactly.
    """

    def __init__(self, num_features, alpha=1.0, threshold=1.0, eps=1e-5, momentum=0.1, eps_inside_sqrt=True):
        super().__init__()
        self.num_features = int(num_features)
        self.alpha = float(alpha)
        self.threshold = float(threshold)
        self.eps = float(eps)
        self.momentum = float(momentum)
        self.eps_inside_sqrt = bool(eps_inside_sqrt)
        self.weight = nn.Parameter(torch.ones(num_features))
        self.bias = nn.Parameter(torch.zeros(num_features))
        self.register_buffer("running_mean", torch.zeros(num_features))
        self.register_buffer("running_var", torch.ones(num_features))

    def denominator(self, var: torch.Tensor) -> torch.Tensor:
        if self.eps_inside_sqrt:
            return torch.sqrt(var + self.eps)
        # sqrt'(0) is infinite: a channel that is constant in a batch (a silent spike map) would poison the gradient
        positive = var > 0
        return torch.where(positive, var, torch.ones_like(var)).sqrt() * positive + self.eps

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.dim() < 3:
            raise ValueError(f"tdBN expects [T, B, C, ...], got shape {tuple(x.shape)}")
        shape = [1, 1, self.num_features] + [1] * (x.dim() - 3)
        if self.training:
            dims = [d for d in range(x.dim()) if d != 2]
            mean = x.mean(dims)
            var = x.var(dims, unbiased=False)
            n = x.numel() // self.num_features
            with torch.no_grad():
                self.running_mean.lerp_(mean, self.momentum)
                self.running_var.lerp_(var * n / max(n - 1, 1), self.momentum)
        else:
            mean, var = self.running_mean, self.running_var
        scale = self.weight * self.alpha * self.threshold / self.denominator(var)
        return (x - mean.view(shape)) * scale.view(shape) + self.bias.view(shape)

    def extra_repr(self) -> str:
        form = "sqrt(var+eps)" if self.eps_inside_sqrt else "sqrt(var)+eps"
        return f"{self.num_features}, alpha={self.alpha:.4g}, threshold={self.threshold:.4g}, eps={self.eps}, {form}"
