"""The backend protocol and the registry of backends by name (DESIGN §1).

A backend declares what it supports (``unsupported``); ``check`` turns that into one error listing every problem, before
anything is emitted. ``emit`` writes an artifact; ``run`` executes an artifact (or a graph) on inputs for ``T`` steps.
"""

from abc import ABC, abstractmethod
from pathlib import Path

from ..chip import LOIHI2, Chip
from ..errors import ConfigError, UnsupportedNodeError
from ..ir import Graph
from ..ir.ops import Readout
from .result import Result

BACKENDS: dict = {}


class Backend(ABC):
    """One compilation target. Subclasses set ``name`` and are registered with :func:`register`. A backend whose
    ``run`` takes a ``progress`` option (called with the samples done so far and a phase) sets ``reports_progress``.

    ``chip`` is the chip whose integer arithmetic and widths the target's graphs are quantized for (the NumPy, ONNX
    and NIR targets run Loihi 2's arithmetic bit for bit, so they declare it too)."""

    name: str
    chip: Chip = LOIHI2
    reports_progress: bool = False

    @abstractmethod
    def unsupported(self, graph: Graph) -> list:
        """One line per node this backend cannot run, naming the node and why; empty when it runs them all."""

    def check(self, graph: Graph) -> None:
        """Raise :class:`UnsupportedNodeError` listing every node of ``graph`` this backend cannot run."""
        problems = self.unsupported(graph)
        if problems:
            raise unsupported_error(self.name, graph, problems)

    @abstractmethod
    def emit(self, graph: Graph, outdir) -> Path:
        """Write the artifact of ``graph`` into ``outdir``; returns its path."""

    @abstractmethod
    def run(self, artifact, inputs, T: int, **options) -> Result:
        """Run ``artifact`` (a :class:`Graph` or what ``emit`` wrote) on ``inputs`` for ``T`` timesteps."""


def ops_without_support(graph: Graph, supported, lacking: str) -> list:
    """One line per node of ``graph`` whose op type is not one of the classes in ``supported`` (the backend has
    ``lacking`` for it, e.g. ``"no kernel"``) or that is a Readout other nodes read (:func:`read_readout`)."""
    problems = []
    for node in graph:
        if type(node.op) not in supported:
            problems.append(f"node {node.name!r} ({node.op.kind}): {lacking} for this op type")
        elif isinstance(node.op, Readout) and (reason := read_readout(graph, node)):
            problems.append(f"node {node.name!r} (Readout): {reason}")
    return problems


def read_readout(graph: Graph, node) -> str:
    """Why Readout ``node`` cannot run when other nodes read it, or ``""`` when none does."""
    readers = ", ".join(repr(name) for name in graph.nx.successors(node.name))
    return readers and f"read by {readers}, but a readout's value exists only after the last timestep"


def unsupported_error(target: str, graph: Graph, problems: list) -> UnsupportedNodeError:
    """The error naming every node of ``graph`` that ``target`` cannot run."""
    lines = "\n".join(f"  - {problem}" for problem in problems)
    return UnsupportedNodeError(f"graph {graph.name!r}: {len(problems)} node(s) not supported by backend "
                                f"{target!r}:\n{lines}")


def register(cls: type) -> type:
    """Class decorator: make backend ``cls`` available as ``get_backend(cls.name)``."""
    if BACKENDS.get(cls.name, cls) is not cls:
        raise ValueError(f"backend name {cls.name!r} is already taken by {BACKENDS[cls.name].__qualname__}")
    BACKENDS[cls.name] = cls
    return cls


def get_backend(name: str) -> Backend:
    """A new instance of the backend registered as ``name``."""
    try:
        return BACKENDS[name]()
    except KeyError:
        raise ConfigError(f"unknown backend {name!r}; registered backends: {', '.join(sorted(BACKENDS))}") from None
