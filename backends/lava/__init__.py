"""The ``lava`` backend: a compiled integer graph as a Lava process network for Loihi 2, run here in Lava's bit-accurate
fixed-point simulation (``Loihi2SimCfg(select_tag="fixed_pt")``), spike for spike equal to the integer simulator.

Importing this package does not import Lava (slow, and it sets the multiprocessing start method): only the worker
child that runs a network does (:mod:`.worker`).

- :mod:`.support`: what Loihi can run; :mod:`.network`: the process network plan (what ``emit`` writes);
  :mod:`.tensors`: its weights and neuron parameters; :mod:`.runtime`: host current, the worker, the Result;
  :mod:`.worker`, :mod:`.build`, :mod:`.recorder`: Lava itself; :mod:`.compat`: Lava on Python 3.11.
"""

from pathlib import Path

from snncompile.chip import LOIHI2

from ..base import Backend, register
from ..result import Result
from .network import plan, save
from .runtime import LavaRunError, run_network
from .support import unsupported


@register
class LavaBackend(Backend):
    """Loihi 2 through Lava. Its artifact: the integer graph and ``lava_network.json`` (the processes, their
    connections and depths). ``run`` options: ``record`` (as the NumPy backend), ``timeout`` (seconds per batch),
    ``progress`` (see :func:`.runtime.run_network`)."""

    name = "lava"
    chip = LOIHI2
    reports_progress = True

    def unsupported(self, graph) -> list:
        return unsupported(graph, self.chip)

    def emit(self, graph, outdir) -> Path:
        self.check(graph)
        return save(graph, plan(graph, chip=self.chip), outdir)

    def run(self, artifact, inputs, T: int, **options) -> Result:
        return run_network(artifact, inputs, T, chip=self.chip, **options).result


__all__ = ["LavaBackend", "LavaRunError", "run_network"]
