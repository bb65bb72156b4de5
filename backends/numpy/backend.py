"""The ``numpy`` backend: its artifact is the serialized IR, run by the event-driven simulator."""

from pathlib import Path

from snncompile import ir

from ..base import Backend, register
from ..result import Result
from .simulator import simulate, unsupported


@register
class NumpyBackend(Backend):
    """Floating-point simulation of the IR on the CPU. ``run`` options: ``record``, ``mode``, ``dtype`` (see
    :func:`simulate`)."""

    name = "numpy"

    def unsupported(self, graph: ir.Graph) -> list:
        return unsupported(graph)

    def emit(self, graph: ir.Graph, outdir) -> Path:
        self.check(graph)
        return ir.save(graph, outdir)

    def run(self, artifact, inputs, T: int, **options) -> Result:
        graph = artifact if isinstance(artifact, ir.Graph) else ir.load(artifact)
        return simulate(graph, inputs, T, **options)
