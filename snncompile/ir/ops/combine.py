"""Joins of residual paths: sums and the SEW logic functions."""

from dataclasses import dataclass
from typing import ClassVar

from ..values import TensorInfo, events
from .base import Op, require

SEW_LOGIC = ("AND", "IAND")


@dataclass(frozen=True, eq=False)
class Add(Op):
    """``y = x_1 + ... + x_n`` (same shapes). Spikes and counts add to counts bounded by the sum of their bounds
    (SEW-ADD and DS-ResNet joins); anything analog makes the sum analog: currents summed into a population."""

    arity: ClassVar[None] = None
    current_glue: ClassVar[bool] = True
    event_glue: ClassVar[bool] = True

    def infer(self, inputs):
        require(len(inputs) >= 2, f"add needs two or more inputs, got {len(inputs)}")
        shapes = {x.shape for x in inputs}
        require(len(shapes) == 1, f"add inputs must have one shape, got {sorted(shapes)}")
        if all(x.is_events for x in inputs):
            return events(inputs[0].shape, sum(x.max_count for x in inputs))
        return TensorInfo(inputs[0].shape)


@dataclass(frozen=True, eq=False)
class SEWLogic(Op):
    """SEW logic join of a branch ``A`` (input 0) and a shortcut ``S`` (input 1), both binary:
    ``AND``: ``y = A * S``;  ``IAND``: ``y = (1 - A) * S``. Output spikes."""

    function: str = "AND"

    arity: ClassVar[int] = 2
    lowered_by: ClassVar[str] = "lower_sew_logic"

    def validate(self):
        require(self.function in SEW_LOGIC, f"SEW logic function must be one of {SEW_LOGIC}, got {self.function!r}")

    def infer(self, inputs):
        branch, shortcut = inputs
        require(branch.shape == shortcut.shape, f"SEW inputs must have one shape, got {branch.shape}, {shortcut.shape}")
        require(branch.kind == "spikes" and shortcut.kind == "spikes",
                f"SEW {self.function} needs binary spike inputs, got {branch.describe()} and {shortcut.describe()}")
        return events(branch.shape, 1)
