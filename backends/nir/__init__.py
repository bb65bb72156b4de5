"""The ``nir`` backend: the graph as a NIR file (``model.nir``, the Neuromorphic Intermediate Representation read by
snnTorch, Norse, Sinabs, Rockpool, SpiNNaker2 and lava-dl), beside the IR it came from.

- :mod:`.export`: IR -> NIR and what NIR cannot express; :mod:`.importer`: NIR -> IR (``snncompile compile
  model.nir``); :mod:`.euler`: the discretisation convention (forward Euler, ``dt = 1e-4``); :mod:`.tensors`: where
  each IR tensor lives in its NIR node.

``run`` reads the NIR file back and runs it in the NumPy simulator: what a NIR file means to snncompile. nir (and
h5py) are imported only when a method needs them, so importing the backends stays light.
"""

from pathlib import Path

from snncompile import ir, manifest

from ..base import Backend, register
from ..numpy import simulate
from ..result import Result

MODEL_FILE = "model.nir"


@register
class NirBackend(Backend):
    """NIR export. ``run`` takes a graph (written to NIR and read back in memory) or an artifact directory (its
    ``model.nir``) and simulates what the NIR graph holds; its options are the NumPy simulator's."""

    name = "nir"

    def unsupported(self, graph: ir.Graph) -> list:
        from .export import unsupported

        return unsupported(graph)

    def emit(self, graph: ir.Graph, outdir) -> Path:
        """Write ``model.nir`` and the graph's IR into ``outdir``; returns ``outdir``."""
        import nir

        from .export import to_nir

        self.check(graph)
        outdir = ir.save(graph, outdir)
        nir.write(outdir / MODEL_FILE, to_nir(graph))
        return outdir

    def run(self, artifact, inputs, T: int, **options) -> Result:
        from .export import to_nir
        from .importer import from_nir, read

        if not isinstance(artifact, ir.Graph):
            manifest.check_enclosing(artifact)  # model.nir is read directly: verify the artifact's files first
        graph = from_nir(to_nir(artifact)) if isinstance(artifact, ir.Graph) else read(Path(artifact) / MODEL_FILE)
        return simulate(graph, inputs, T, **options)
