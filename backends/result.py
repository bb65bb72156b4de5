"""What running a graph on any backend returns."""

from dataclasses import dataclass, field

import numpy as np


@dataclass
class Result:
    """The outcome of running a graph for ``T`` timesteps on a batch of ``B`` samples.

    ``output``: ``[B, *shape]``, the graph's first output averaged over the timesteps (for a ``Readout``, its value).
    ``spike_counts``: node name -> ``[T, B]`` int64, the events each sample's copy of the node emitted at each step
    (the sum of its output values), for every node whose output is spikes or counts.
    ``recorded``: node name -> ``[T, B, *shape]``, the full per-step outputs of the nodes asked for.
    ``paths``: synaptic node name -> ``{"event": steps, "dense": steps}``, which kernel computed each step (a
    simulation that cut the batch into slices counts the steps of every slice).
    ``seconds``: wall-clock time of the run.
    """

    output: np.ndarray
    spike_counts: dict = field(default_factory=dict)
    recorded: dict = field(default_factory=dict)
    paths: dict = field(default_factory=dict)
    seconds: float = 0.0
