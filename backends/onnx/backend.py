"""The ``onnx`` backend: its artifact is ``model.onnx`` (the graph unrolled over its ``T`` steps, :mod:`.export`) beside
the integer IR it came from, which makes the directory self-describing for ``snncompile simulate``.

onnx and onnxruntime are imported only when a method needs them, so importing the backends stays light.
"""

from pathlib import Path

from snncompile import ir

from ..base import Backend, register
from ..result import Result


@register
class OnnxBackend(Backend):
    """onnxruntime on the CPU. ``run`` takes a graph (exported in memory, its session cached) or an artifact directory
    (its ``model.onnx``); option ``record``: node names whose output at every step is returned, or ``"all"``."""

    name = "onnx"

    def unsupported(self, graph: ir.Graph) -> list:
        from .export import unsupported

        return unsupported(graph)

    def emit(self, graph: ir.Graph, outdir) -> Path:
        """Write ``model.onnx`` for the ``T`` of the graph's metadata (1 when absent) and the graph's IR into
        ``outdir``; returns ``outdir``."""
        import onnx

        from .export import export
        from .runtime import MODEL_FILE

        self.check(graph)
        outdir = ir.save(graph, outdir)
        onnx.save(export(graph, int(graph.metadata.get("T") or 1)), outdir / MODEL_FILE)
        return outdir

    def run(self, artifact, inputs, T: int, **options) -> Result:
        from .runtime import run

        return run(artifact, inputs, T, **options)
