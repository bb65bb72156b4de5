"""The ``netx`` backend: the integer graph as a lava-dl netx 0.6 network description (``network.net``, HDF5), the
format lava-dl's ``netx.hdf5.Network`` loads onto Loihi 2, beside the IR it came from.

netx describes chains of ``conv`` and ``dense`` layers of CUBA neurons that read spikes; graphs with residual joins,
pooling or an analog (host-encoded) input are rejected by the support check (:mod:`.layers`).

- :mod:`.layers`: what netx can describe; :mod:`.hdf5`: the writer; :mod:`.schema`: the file as netx's reader sees it
  and what that reader needs (checked before a file runs); :mod:`.runtime` and :mod:`.worker`: running it in Lava
  with lava-dl's own reader, ``netx.hdf5.Network(net_config=FILE, reset_interval=T, reset_offset=1)``, and
  realigning its spikes (one step of latency per layer).

Importing this package imports neither h5py nor Lava.
"""

from pathlib import Path

from snncompile import ir
from snncompile.chip import LOIHI2_NETX

from ..base import Backend, register
from ..result import Result


@register
class NetxBackend(Backend):
    """lava-dl netx export. ``run`` loads the file with lava-dl netx and runs it in Lava on spike frames; options
    ``record``, ``timeout`` (seconds) and ``progress``, as the Lava backend takes them."""

    name = "netx"
    chip = LOIHI2_NETX
    reports_progress = True

    def unsupported(self, graph: ir.Graph) -> list:
        from .layers import unsupported

        return unsupported(graph, self.chip)

    def emit(self, graph: ir.Graph, outdir) -> Path:
        """Write ``network.net`` and the graph's IR into ``outdir``; returns ``outdir``."""
        from .hdf5 import NETWORK_FILE, write

        self.check(graph)
        outdir = ir.save(graph, outdir)
        write(graph, outdir / NETWORK_FILE, self.chip)
        return outdir

    def run(self, artifact, inputs, T: int, **options) -> Result:
        from .runtime import run

        return run(artifact, inputs, T, self.chip, **options)
