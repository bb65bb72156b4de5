"""IR ops, one family per module; ``OPS`` maps each op's type name to its class.

An op class registers itself in ``OPS`` when its module is imported (:meth:`Op.__init_subclass__`), and every
registered op is importable from this package: a new op is one class in one of these modules.
"""

from . import combine, io, neurons, norm, pooling, synapses  # noqa: F401  (importing a module registers its ops)
from .base import OPS, Op, SynapticOp

globals().update(OPS)

__all__ = ["OPS", "Op", "SynapticOp", *OPS]
