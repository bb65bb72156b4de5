"""One error type per kind of failure.

Every error carries a message a user can act on: what went wrong, where (layer, node or file), and what to do.
The command line turns any :class:`SnnCompileError` into one line on stderr and a non-zero exit.
"""

from numbers import Integral


class SnnCompileError(Exception):
    """Base class of every error snncompile raises on purpose."""

    exit_code = 1


class ConfigError(SnnCompileError, ValueError):
    """An architecture name, option or configuration value is invalid."""

    exit_code = 2


class CheckpointError(SnnCompileError):
    """A checkpoint file is missing, truncated, malformed, or not an snncompile checkpoint."""


class DataError(SnnCompileError):
    """A data set name or its options are invalid."""

    exit_code = 2


class UnsupportedModuleError(SnnCompileError):
    """The frontend met a module or construct it cannot trace into the IR."""


class GraphError(SnnCompileError):
    """The IR is inconsistent: shapes, value kinds or edges do not agree (names the node)."""


class SerializationError(SnnCompileError):
    """A serialized graph has a wrong version, a missing tensor or was modified."""


class OutputError(SnnCompileError):
    """An output path would destroy data that is not a previous output of the same kind, or cannot be written."""

    exit_code = 2


class UnsupportedNodeError(SnnCompileError):
    """A backend cannot run some nodes of a graph (lists every one of them)."""


class QuantizationRangeError(SnnCompileError):
    """A value does not fit the integer widths of the target (names the node)."""


def require_count(value, what: str, minimum: int = 1, error: type = ConfigError, maximum: int | None = None) -> int:
    """``value`` as an ``int`` when it is a whole number from ``minimum`` to ``maximum`` (no bound when None);
    otherwise ``error`` saying what ``what`` must be (``"T"``, ``"--batch-size"``, ...)."""
    if isinstance(value, bool) or not isinstance(value, Integral) or value < minimum or (
            maximum is not None and value > maximum):
        bound = f"from {minimum} to {maximum:,}" if maximum is not None else f">= {minimum}"
        raise error(f"{what} must be an integer {bound}, got {value!r}")
    return int(value)
