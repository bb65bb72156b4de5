"""Module -> IR op conversion for every layer the frontend knows.

``PER_STEP_LAYERS`` maps standard torch layers (applied per timestep, usually inside ``PerStep``) to a function
``(module, input_info) -> Op | None`` (``None``: the layer is an identity at inference). ``NEURON_TYPES`` and the
zoo's other modules are handled in :mod:`.trace`.
"""

from contextlib import contextmanager

import numpy as np
import torch
from torch import nn

from ..errors import SnnCompileError, UnsupportedModuleError
from ..ir.ops import LIF, MLF, AvgPool2d, BatchNorm, Conv2d, Flatten, Linear, MaxPool2d
from ..models.neurons import SpikingNeuron
from ..models.norm import ThresholdDependentBatchNorm


def array(tensor) -> np.ndarray | None:
    """A detached float64 numpy copy of a parameter or buffer (``None`` stays ``None``)."""
    return None if tensor is None else tensor.detach().to(torch.float64).cpu().numpy().copy()


def scalar(value) -> float:
    return float(torch.as_tensor(value).detach().to(torch.float64))


def unsupported(path: str, module, why: str) -> UnsupportedModuleError:
    return UnsupportedModuleError(f"module {path!r} ({type(module).__module__}.{type(module).__name__}): {why}")


@contextmanager
def converting(path: str, module):
    """Turn an op's ``ValueError`` on a value taken from ``module`` (a decay outside [0, 1], ...) into the error
    naming the module."""
    try:
        yield
    except ValueError as err:
        if isinstance(err, SnnCompileError):
            raise
        raise unsupported(path, module, str(err)) from None


def conv2d(path, m: nn.Conv2d, info):
    if m.groups != 1 or m.dilation != (1, 1) or m.padding_mode != "zeros" or isinstance(m.padding, str):
        raise unsupported(path, m, "only groups=1, dilation=1 and numeric zero padding are supported")
    return Conv2d(array(m.weight), array(m.bias), m.stride, m.padding)


def linear(path, m: nn.Linear, info):
    return Linear(array(m.weight), array(m.bias))


def batch_norm(path, m: nn.modules.batchnorm._BatchNorm, info):
    if not m.track_running_stats or m.running_mean is None:
        raise unsupported(path, m, "BatchNorm without running statistics cannot run at inference")
    channels = m.num_features
    weight = array(m.weight) if m.affine else np.ones(channels)
    bias = array(m.bias) if m.affine else np.zeros(channels)
    return BatchNorm(array(m.running_mean), array(m.running_var), weight, bias, float(m.eps), True, 1.0)


def td_batch_norm(path, m: ThresholdDependentBatchNorm, info):
    return BatchNorm(array(m.running_mean), array(m.running_var), array(m.weight), array(m.bias), m.eps,
                     m.eps_inside_sqrt, m.alpha * m.threshold)


def avg_pool(path, m: nn.AvgPool2d, info):
    if m.ceil_mode or m.divisor_override is not None or (not m.count_include_pad and m.padding not in (0, (0, 0))):
        raise unsupported(path, m, "only floor mode, no divisor override, and padding counted in the average")
    return AvgPool2d(m.kernel_size, m.stride, m.padding)


def adaptive_avg_pool(path, m: nn.AdaptiveAvgPool2d, info):
    size = m.output_size if isinstance(m.output_size, tuple) else (m.output_size, m.output_size)
    size = tuple(s if s is not None else i for s, i in zip(size, info.shape[1:]))
    if any(i % s for i, s in zip(info.shape[1:], size)):
        raise unsupported(path, m, f"input {info.shape[1:]} is not a multiple of the output size {size}")
    kernel = tuple(i // s for i, s in zip(info.shape[1:], size))
    return AvgPool2d(kernel, kernel, 0)


def max_pool(path, m: nn.MaxPool2d, info):
    if m.ceil_mode or m.return_indices or m.dilation not in (1, (1, 1)):
        raise unsupported(path, m, "only floor mode and dilation 1 are supported")
    return MaxPool2d(m.kernel_size, m.stride if m.stride is not None else m.kernel_size, m.padding)


def flatten(path, m: nn.Flatten, info, first_sample_dim: int = 1):
    if m.start_dim != first_sample_dim or m.end_dim != -1:
        raise unsupported(path, m, f"only flattening a whole sample is supported (start_dim={first_sample_dim}, "
                                   "end_dim=-1)")
    return Flatten()


def identity(path, m, info):
    return None


PER_STEP_LAYERS = {
    nn.Conv2d: conv2d,
    nn.Linear: linear,
    nn.BatchNorm1d: batch_norm,
    nn.BatchNorm2d: batch_norm,
    nn.AvgPool2d: avg_pool,
    nn.AdaptiveAvgPool2d: adaptive_avg_pool,
    nn.MaxPool2d: max_pool,
    nn.Flatten: flatten,
    nn.Dropout: identity,
    nn.Identity: identity,
}


def neuron(path, m: SpikingNeuron, info):
    common = dict(decay=scalar(m.decay), input_gain=scalar(m.input_gain), inclusive=m.inclusive, reset=m.reset,
                  v_reset=m.v_reset, model=type(m).__name__)
    if m.levels == 1:
        return LIF(threshold=m.threshold, **common)
    return MLF(level_thresholds=m.thresholds, **common)
