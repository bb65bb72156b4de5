"""Energy and resources of a compiled graph (DESIGN §6): events counted by any simulation, priced per inference, and
the graph placed on a chip's cores.

>>> from snncompile.energy import chip_fit, estimate, measure
>>> evaluation, activity = measure(graph, get_backend("numpy"), dataset_for(graph), limit=100)
>>> report = estimate(graph, activity, profile="cmos45")      # per-layer rows, .totals, .as_json(), .placement
>>> fit = chip_fit(graph)                                     # on Loihi 2: populations, cores, chips, problems

- :mod:`.profiles`: the energy per operation of each profile, with its published source (one table);
- :mod:`.counting`: fan-out per input position, connections, MACs and the equivalent ANN, from the op geometry;
- :mod:`.activity`: events per step and per position, summed over simulated samples;
- :mod:`.estimate`: the events priced, per layer and in total;
- :mod:`.resources`: the widths stored values take on a chip, a population's neurons;
- :mod:`.placement`: populations split into cores, cores into chips (Loihi 2 by default);
- :mod:`.report`: the table, the JSON object and the plot of ``snncompile energy``;
- :mod:`.fit_report`: the table and the core map of ``snncompile fit``.
"""

from .activity import Activity, measure
from .estimate import Estimate, LayerEnergy, estimate
from .placement import Placement, place as chip_fit
from .profiles import ENERGY_TABLE, PROFILE_NAMES, Profile, profile

__all__ = ["ENERGY_TABLE", "PROFILE_NAMES", "Activity", "Estimate", "LayerEnergy", "Placement", "Profile", "chip_fit",
           "estimate", "measure", "profile"]
