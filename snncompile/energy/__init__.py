"""Energy and resources of a compiled graph (DESIGN §6): events counted by any simulation, priced per inference.

>>> from snncompile.energy import estimate, loihi2_fit, measure
>>> evaluation, activity = measure(graph, get_backend("numpy"), dataset_for(graph), limit=100)
>>> report = estimate(graph, activity, profile="cmos45")      # per-layer rows, .totals, .as_json()
>>> fit = loihi2_fit(graph)                                   # populations, cores, chips, problems

- :mod:`.profiles`: the energy per operation of each profile, with its published source (one table);
- :mod:`.counting`: fan-out per input position, connections, MACs and the equivalent ANN, from the op geometry;
- :mod:`.activity`: events per step and per position, summed over simulated samples;
- :mod:`.estimate`: the events priced, per layer and in total;
- :mod:`.resources`: neurons, synapses, memory and the Loihi 2 fit;
- :mod:`.report`: the table, the JSON object and the plot of ``snncompile energy``.
"""

from .activity import Activity, measure
from .estimate import Estimate, Layer, estimate
from .profiles import ENERGY_TABLE, PROFILE_NAMES, Profile, profile
from .resources import LOIHI2_LIMITS, Resources, loihi2_fit

__all__ = ["ENERGY_TABLE", "LOIHI2_LIMITS", "PROFILE_NAMES", "Activity", "Estimate", "Layer", "Profile", "Resources",
           "estimate", "loihi2_fit", "measure", "profile"]
