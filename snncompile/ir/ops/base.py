"""The base of every IR op: a small frozen dataclass whose numpy fields are its tensors."""

from dataclasses import dataclass, fields

import numpy as np

from ..values import TensorInfo


@dataclass(frozen=True, eq=False)
class Op:
    """One operation of the graph, applied at every timestep to one tensor per input.

    Subclasses declare their attributes as dataclass fields: numpy arrays are tensors (saved to ``.npz``), everything
    else is a plain JSON value. ``arity`` is the number of inputs (``None``: two or more). ``infer`` maps the inputs'
    :class:`TensorInfo` to the output's and raises ``ValueError`` when they do not fit.
    """

    arity = 1

    def __post_init__(self):
        for f in fields(self):
            value = getattr(self, f.name)
            if isinstance(value, list):
                object.__setattr__(self, f.name, tuple(value))
            elif isinstance(value, np.ndarray) and not value.flags.c_contiguous:
                object.__setattr__(self, f.name, np.ascontiguousarray(value))

    @property
    def kind(self) -> str:
        return type(self).__name__

    def tensors(self) -> dict:
        """The op's tensors by field name."""
        return {f.name: getattr(self, f.name) for f in fields(self) if isinstance(getattr(self, f.name), np.ndarray)}

    def attributes(self) -> dict:
        """The op's non-tensor fields by name (JSON values)."""
        return {f.name: getattr(self, f.name) for f in fields(self)
                if not isinstance(getattr(self, f.name), np.ndarray)}

    def parameter_count(self) -> int:
        return sum(t.size for t in self.tensors().values())

    def infer(self, inputs: tuple) -> TensorInfo:
        raise NotImplementedError

    def neuron_count(self, output: TensorInfo) -> int:
        """Stateful neurons this op holds (0 for synapses, pooling and glue)."""
        return 0

    def synapse_count(self, inputs: tuple) -> int:
        """Connections this op makes from its input positions to its output positions (0 for glue)."""
        return 0


def require(condition: bool, message: str) -> None:
    if not condition:
        raise ValueError(message)


def pair(value) -> tuple:
    """``3 -> (3, 3)``; ``(2, 1) -> (2, 1)``."""
    return (int(value), int(value)) if np.isscalar(value) else tuple(int(v) for v in value)
