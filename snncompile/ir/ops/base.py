"""The base of every IR op: a small frozen dataclass whose numpy fields are its tensors, and whose class says what
the op *is* to every pass, backend and report.

Traits (class attributes; each defaults to "no"):

- ``role``: :data:`NEURON` (holds membranes and spikes), :data:`SYNAPSE` (weighted connections from input positions
  to output positions), :data:`GLUE` (joins and reshapes: no weights, no state) or :data:`IO` (where values enter the
  graph or the chip).
- ``integrates``: the op keeps a membrane per output position across steps — a population (neurons, and the
  readout's non-spiking integrator).
- ``current_glue``: on analog values, the op carries the synaptic current of the ops it reads on towards a
  population unchanged (a sum of currents).
- ``event_glue``: on spikes or counts, the op passes on the events of the populations it reads (a sum, a reshape, a
  max that keeps the levels).
- ``lowered_by``: the lowering pass that replaces the op before any chip can run it.
- ``weight_field`` / ``bias_field``: the tensor fields holding a synapse's weights and bias.

Synaptic geometry (fan-out per input position, connection matrices) is on :class:`SynapticOp`.
"""

from dataclasses import dataclass, fields, replace
from typing import ClassVar

import numpy as np

from ..values import TensorInfo

NEURON, SYNAPSE, GLUE, IO = "neuron", "synapse", "glue", "io"
ROLES = (NEURON, SYNAPSE, GLUE, IO)
OPS: dict = {}  # every op class by type name, registered as it is defined (what graph files name)


@dataclass(frozen=True, eq=False)
class Op:
    """One operation of the graph, applied at every timestep to one tensor per input.

    Subclasses declare their attributes as dataclass fields: numpy arrays are tensors (saved to ``.npz``), everything
    else is a plain JSON value. Field values are checked on construction (:meth:`validate`, ``ValueError``): an op
    that exists is well formed. ``arity`` is the number of inputs (``None``: two or more). ``infer`` maps the inputs'
    :class:`TensorInfo` to the output's and raises ``ValueError`` when they do not fit.
    """

    arity: ClassVar[int | None] = 1
    role: ClassVar[str] = GLUE
    integrates: ClassVar[bool] = False
    current_glue: ClassVar[bool] = False
    event_glue: ClassVar[bool] = False
    lowered_by: ClassVar[str | None] = None
    weight_field: ClassVar[str | None] = None
    bias_field: ClassVar[str | None] = None

    def __init_subclass__(cls, register: bool = True, **options):
        """Register the op class in :data:`OPS` by its name, unless ``register=False`` or the name starts with ``_``
        (a shared base, or an op no graph file may name)."""
        super().__init_subclass__(**options)
        if register and not cls.__name__.startswith("_"):
            if OPS.get(cls.__name__, cls) is not cls:
                raise TypeError(f"op type name {cls.__name__!r} is already taken by {OPS[cls.__name__].__module__}")
            OPS[cls.__name__] = cls

    def __post_init__(self):
        for f in fields(self):
            value = getattr(self, f.name)
            if isinstance(value, list):
                object.__setattr__(self, f.name, tuple(value))
            elif isinstance(value, np.ndarray) and not value.flags.c_contiguous:
                object.__setattr__(self, f.name, np.ascontiguousarray(value))
        self.validate()

    def validate(self) -> None:
        """Raise ``ValueError`` when a field's value is invalid on its own (shapes against inputs: :meth:`infer`)."""

    @property
    def kind(self) -> str:
        return type(self).__name__

    @property
    def levels(self) -> int:
        """Spike populations behind the events this op emits itself: one per level of a neuron unit."""
        return 1

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


@dataclass(frozen=True, eq=False)
class SynapticOp(Op, register=False):
    """Connections from each input position to output positions, with weights (``weights()``) and an optional bias
    per output channel (``bias_values()``). Subclasses give the geometry; the default is one-to-one."""

    role: ClassVar[str] = SYNAPSE

    def weights(self) -> np.ndarray | None:
        """The weight values, or ``None`` for a connection with no weights (a max)."""
        return None if self.weight_field is None else getattr(self, self.weight_field)

    def bias_values(self) -> np.ndarray | None:
        """The bias added per output channel, or ``None``."""
        return None if self.bias_field is None else getattr(self, self.bias_field)

    def with_weights(self, weights, bias):
        """This op with other weights and bias (``None``: no bias, or zeros where the op always holds one)."""
        changes = {self.weight_field: weights}
        if self.bias_field is not None:
            changes[self.bias_field] = bias
        return replace(self, **changes)

    def fan_out(self, in_shape: tuple) -> np.ndarray:
        """The synapses leaving each input position, shaped like the input."""
        return np.ones(in_shape, np.int64)

    def largest_fan_in(self, in_shape: tuple) -> int:
        """The most connections one output position receives."""
        return 1

    def fan_in_sum(self, weights: np.ndarray | None = None) -> float:
        """The largest sum of ``|weight|`` into one output position (of ``weights`` shaped like the op's own)."""
        weights = self.weights() if weights is None else weights
        return float(np.abs(weights).max())

    def connection_matrix(self, in_shape: tuple) -> tuple:
        """``(matrix [N_in, N_out], bias per output or None)`` over flattened samples: row ``i`` lists the targets of
        input position ``i`` and their weights (scipy CSR, or a dense array when every input reaches every output)."""
        from scipy import sparse

        n = int(np.prod(in_shape))
        weights = np.broadcast_to(self.weights().reshape(-1, *([1] * (len(in_shape) - 1))), in_shape).ravel()
        bias = self.bias_values()
        per_output = None if bias is None else np.broadcast_to(
            bias.reshape(-1, *([1] * (len(in_shape) - 1))), in_shape).ravel()
        return sparse.csr_matrix((weights, (np.arange(n), np.arange(n))), shape=(n, n)), per_output


def require(condition: bool, message: str) -> None:
    if not condition:
        raise ValueError(message)


def pair(value) -> tuple:
    """``3 -> (3, 3)``; ``(2, 1) -> (2, 1)``."""
    return (int(value), int(value)) if np.isscalar(value) else tuple(int(v) for v in value)
