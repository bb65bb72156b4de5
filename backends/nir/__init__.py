"""The ``nir`` backend: the graph as NIR files (the Neuromorphic Intermediate Representation read by snnTorch, Norse,
sinabs, SpikingJelly, Rockpool, SpiNNaker2 and lava-dl), beside the IR it came from.

An artifact holds two: ``model.nir``, the lowered float graph (the network other simulators run: float parameters,
the compiler's lowerings done, nothing quantized), and ``model.int.nir``, the chip's integer graph as the float
network its integers mean (:mod:`.euler`, "Integer NIR"). Both carry snncompile's metadata, so either reads back
exactly as the graph it was written from (``snncompile compile model.int.nir`` needs no quantization).

- :mod:`.export`: IR -> NIR and what NIR cannot express; :mod:`.importer`: NIR -> IR (``snncompile compile
  model.nir``, ``--T``, ``--dt``); :mod:`.euler`: the discretisation convention (forward Euler with ``dt``), the one
  place it is written down; :mod:`.tensors`: where each IR tensor lives in its NIR node.

``run`` reads the integer file back (the float one when there is none) and runs it in the NumPy simulator: what a
NIR file means to snncompile. nir (and h5py) are imported only when a method needs them, so importing the backends
stays light.
"""

from pathlib import Path

from snncompile import ir, manifest

from ..base import Backend, register
from ..numpy import simulate
from ..result import Result

MODEL_FILE = "model.nir"
INTEGER_FILE = "model.int.nir"


@register
class NirBackend(Backend):
    """NIR export. ``run`` takes a graph (written to NIR and read back in memory) or an artifact directory (its
    ``model.int.nir``, else its ``model.nir``) and simulates what the NIR graph holds; its options are the NumPy
    simulator's."""

    name = "nir"

    def unsupported(self, graph: ir.Graph) -> list:
        from .export import unsupported

        return unsupported(graph)

    def emit(self, graph: ir.Graph, outdir) -> Path:
        """Write the graph's IR and its NIR into ``outdir``: an integer graph as ``model.int.nir``, and as
        ``model.nir`` the lowered float graph it was quantized from (``outdir/float``, as ``snncompile compile``
        saves it) when there is one; a float graph as ``model.nir``. Returns ``outdir``."""
        import nir

        from snncompile.compiler import FLOAT_DIR  # the lowered float graph, which compile saves before emitting

        from .export import to_nir

        self.check(graph)
        outdir = Path(outdir)
        lowered = outdir / FLOAT_DIR
        float_graph = ir.load(lowered) if graph.metadata.get("integer") and lowered.is_dir() else None
        if float_graph is not None:
            self.check(float_graph)
        outdir = ir.save(graph, outdir)
        if graph.metadata.get("integer"):
            nir.write(outdir / INTEGER_FILE, to_nir(graph))
        if float_graph is not None or not graph.metadata.get("integer"):
            nir.write(outdir / MODEL_FILE, to_nir(graph if float_graph is None else float_graph))
        return outdir

    def run(self, artifact, inputs, T: int, **options) -> Result:
        from .export import to_nir
        from .importer import from_nir, read

        if isinstance(artifact, ir.Graph):
            return simulate(from_nir(to_nir(artifact)), inputs, T, **options)
        manifest.check_enclosing(artifact)  # the NIR file is read directly: verify the artifact's files first
        written = Path(artifact) / INTEGER_FILE
        return simulate(read(written if written.is_file() else Path(artifact) / MODEL_FILE), inputs, T, **options)
