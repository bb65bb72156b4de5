"""What an energy estimate needs from simulations: events per node and per step, and per input position of every
synaptic node, summed over the samples run (never the ``[T, B, ...]`` outputs of a whole data set).

Any backend works: it must return :class:`~snncompile.backends.Result`'s ``spike_counts`` and honour ``record``.

>>> activity = Activity.empty(graph)
>>> activity.add(simulate(graph, images, T, record=activity.recorded))   # one batch; add as many as you like
>>> evaluation, activity = measure(graph, get_backend("numpy"), dataset_for(graph), limit=100)   # a data set
"""

from dataclasses import dataclass, field

import numpy as np

from snncompile.errors import ConfigError
from snncompile.evaluation import evaluate

from .counting import synaptic_nodes


@dataclass
class Activity:
    """Events summed over ``samples`` inputs of ``T`` steps.

    ``per_step``: node -> ``[T]``, the events the node emitted at each step, for every node emitting spikes or
    counts. ``per_position``: node -> ``[T, *shape]``, its events at each step and position, for the nodes that
    event-driven synaptic nodes read (the names in ``recorded``)."""

    T: int
    samples: int = 0
    per_step: dict = field(default_factory=dict)
    per_position: dict = field(default_factory=dict)

    @classmethod
    def empty(cls, graph, T=None) -> "Activity":
        """No events yet, for ``graph`` run for ``T`` steps (default: the graph's own ``T``)."""
        T = int(T or graph.metadata.get("T") or 1)
        event_driven, _ = synaptic_nodes(graph)
        recorded = dict.fromkeys(node.inputs[0] for node in event_driven)
        return cls(T, 0, {node.name: np.zeros(T, np.int64) for node in graph if node.info.is_events},
                   {name: np.zeros((T, *graph[name].info.shape), np.int64) for name in recorded})

    @property
    def recorded(self) -> list:
        """The nodes whose outputs a simulation must record for :meth:`add`."""
        return list(self.per_position)

    def add(self, result) -> None:
        """Add the events of one simulation :class:`~snncompile.backends.Result` (recording :attr:`recorded`)."""
        missing = [name for name in self.per_position if name not in result.recorded]
        if missing:
            raise ConfigError(f"the simulation did not record {', '.join(map(repr, missing))}: run it with "
                              f"record=activity.recorded")
        for name, events in self.per_step.items():
            if result.spike_counts[name].shape[0] != self.T:
                raise ConfigError(f"the simulation ran {result.spike_counts[name].shape[0]} steps, not T={self.T}")
            events += result.spike_counts[name].sum(axis=1)
        for name, events in self.per_position.items():
            events += np.rint(result.recorded[name].sum(axis=1, dtype=np.float64)).astype(np.int64)
        self.samples += len(result.output)


class Recorder:
    """A backend that also adds every run's events to ``activity``: it records what ``activity`` needs besides what
    the caller asked for."""

    def __init__(self, backend, activity: Activity):
        self.backend, self.activity, self.name = backend, activity, backend.name
        self.reports_progress = backend.reports_progress

    def run(self, artifact, inputs, T: int, record=(), **options):
        result = self.backend.run(artifact, inputs, T, record=[*record, *self.activity.recorded], **options)
        self.activity.add(result)
        return result


def measure(graph, backend, data, *, limit=None, batch_size: int = 64, progress: bool = True) -> tuple:
    """Run ``graph`` with ``backend`` on the first ``limit`` test samples of ``data``, as
    :func:`~snncompile.evaluation.evaluate` does (accuracy, a progress bar over samples); returns
    ``(evaluation, activity)``."""
    activity = Activity.empty(graph)
    evaluation = evaluate(graph, Recorder(backend, activity), data, limit=limit, batch_size=batch_size,
                          progress=progress)
    return evaluation, activity
