"""Energy and resources of a compiled graph (DESIGN §6): events counted by any simulation, priced per inference.

>>> from snncompile.energy import chip_fit, estimate, measure
>>> evaluation, activity = measure(graph, get_backend("numpy"), dataset_for(graph), limit=100)
>>> report = estimate(graph, activity, profile="cmos45")      # per-layer rows, .totals, .as_json()
>>> fit = chip_fit(graph)                                     # on Loihi 2: populations, cores, chips, problems

- :mod:`.profiles`: the energy per operation of each profile, with its published source (one table);
- :mod:`.counting`: fan-out per input position, connections, MACs and the equivalent ANN, from the op geometry;
- :mod:`.activity`: events per step and per position, summed over simulated samples;
- :mod:`.estimate`: the events priced, per layer and in total;
- :mod:`.resources`: neurons, synapses, memory and the fit on a chip (Loihi 2 by default);
- :mod:`.report`: the table, the JSON object and the plot of ``snncompile energy``.
"""

from .activity import Activity, measure
from .estimate import Estimate, LayerEnergy, estimate
from .profiles import ENERGY_TABLE, PROFILE_NAMES, Profile, profile
from .resources import PopulationShare, Resources, chip_fit

__all__ = ["ENERGY_TABLE", "PROFILE_NAMES", "Activity", "Estimate", "LayerEnergy", "PopulationShare", "Profile", "Resources",
           "chip_fit", "estimate", "measure", "profile"]
