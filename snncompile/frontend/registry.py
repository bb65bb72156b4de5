"""The public converter registry: teach the frontend your own module types without editing snncompile.

>>> from snncompile.frontend import register
>>> from snncompile.ir.ops import LIF
>>> register(MyNeuron, lambda module, info: LIF(threshold=module.vth, decay=module.leak, model="MyNeuron"))

A converter is called as ``converter(module, info)`` with ``info`` the :class:`~snncompile.ir.values.TensorInfo` of
the module's input per sample and timestep (shape and value kind), and returns

- an IR op (``snncompile.ir.ops``: ``LIF``, ``MLF``, ``Conv2d``, ``Linear``, ``BatchNorm``, pooling, ``Flatten``)
  computing what the module computes at every timestep, keeping its state (a neuron's membrane) across timesteps;
- ``None`` when the module is an identity at inference (dropout, a debug probe);
- a :class:`Chain` of ``(name, module)`` pairs applied in turn (a container), each converted like any module.

A registered module is traced as one leaf: its forward is run (on the example input) but not looked into, so it
may hold any Python (loops over time, state kept on ``self``, reshapes of ``[T*B, ...]``). The frontend checks the
shape it produced against the op's. Registration is by exact type and wins over snncompile's own converters.
"""

from dataclasses import dataclass

from torch import nn

from ..errors import ConfigError

_REGISTERED: dict = {}


@dataclass(frozen=True)
class Chain:
    """A container's children, applied in order: ``((name, module), ...)``; names extend the container's path."""

    children: tuple


def register(module_type: type, converter=None):
    """Register ``converter`` for modules of exactly ``module_type``; usable as a decorator of the converter."""
    if not isinstance(module_type, type) or not issubclass(module_type, nn.Module):
        raise ConfigError(f"register() takes an nn.Module subclass, got {module_type!r}")

    def add(function):
        if not callable(function):
            raise ConfigError(f"the converter for {module_type.__name__} must be callable, got {function!r}")
        _REGISTERED[module_type] = function
        return function

    return add if converter is None else add(converter)


def unregister(module_type: type) -> None:
    """Forget the converter registered for ``module_type`` (no error if there is none)."""
    _REGISTERED.pop(module_type, None)


def registered_converter(module):
    """The converter a user registered for ``module``'s exact type, or ``None``."""
    return _REGISTERED.get(type(module))


def registered_types() -> list:
    return sorted({t.__name__ for t in _REGISTERED})
