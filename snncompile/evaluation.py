"""Run a compiled graph over a data set in batches: accuracy, predictions, spikes per node, and float-vs-integer
agreement per layer."""

from dataclasses import dataclass, field

import numpy as np
from tqdm import tqdm

from .backends.base import Backend, get_backend
from .data.samples import Samples, dataset_for, graph_steps, samples_for  # noqa: F401 (dataset_for: re-exported)
from .errors import require_count
from .ir.summary import spiking_neurons


@dataclass
class Evaluation:
    """What a run over ``samples`` inputs found. ``spikes``: total events per node over all samples and steps;
    ``accuracy``: ``None`` for unlabelled samples."""

    backend: str
    samples: int
    T: int
    accuracy: float | None
    predictions: list
    spikes: dict
    neurons: dict
    seconds: float
    agreement: dict = field(default_factory=dict)

    def firing_rates(self) -> dict:
        """Spikes per neuron per timestep, per node: ``neurons`` are those whose spikes the node carries (all K levels
        of an MLF count, every term of a residual sum; :func:`~snncompile.ir.summary.spiking_neurons`)."""
        return {name: self.spikes[name] / (self.neurons[name] * self.T * self.samples)
                for name in self.spikes if self.neurons.get(name)}

    def as_json(self) -> dict:
        return {"backend": self.backend, "samples": self.samples, "T": self.T, "accuracy": self.accuracy,
                "predictions": self.predictions, "spikes": self.spikes, "firing_rates": self.firing_rates(),
                "seconds": self.seconds, "agreement": self.agreement}


def batch_inputs(data, start: int, stop: int, part: str = "test") -> np.ndarray:
    """Samples ``start:stop`` of the ``test`` (or ``train``) part of a named data set's
    :class:`~snncompile.data.Dataset` as the simulator takes them (frames time-major)."""
    x = getattr(data, f"{part}_x")[start:stop].numpy()
    return Samples(data.name, x, frames=data.encoding == "frames").batch(0, len(x))


def evaluate(graph, backend: Backend, data, *, limit=None, batch_size: int = 64, progress: bool = True,
             reference=None) -> Evaluation:
    """Run ``graph`` with ``backend`` on the first ``limit`` samples of ``data``: a named data set's test part, a
    file, tensors, a torch ``Dataset`` or ``DataLoader``, ... (what
    :func:`~snncompile.data.samples.samples_for` takes, checked against the graph's input), for the graph's ``T``.

    With a ``reference`` graph (the float graph the integer one came from), the reference runs on the NumPy simulator
    whatever ``backend`` is, and every event node present in both that ``backend`` records is compared:
    ``agreement[node]`` is the share of (sample, step, neuron) entries where both emit the same value, with both
    firing rates."""
    T = graph_steps(graph)
    samples = samples_for(graph, data, limit=limit)
    total = len(samples)
    require_count(batch_size, "--batch-size")
    event_nodes = [n.name for n in graph if n.info.is_events]
    compared = [name for name in event_nodes if reference is not None and name in reference
                and reference[name].info.shape == graph[name].info.shape]
    float_backend = get_backend("numpy") if compared else None
    spikes = dict.fromkeys(event_nodes, 0)
    same, reference_spikes = {}, {}
    predictions, seconds = [], 0.0
    with tqdm(total=total, unit="sample", desc=f"simulate ({backend.name})", disable=None if progress else True) as bar:
        for start in range(0, total, batch_size):
            stop = min(start + batch_size, total)
            inputs = samples.batch(start, stop)
            options = {"progress": _advance(bar, start)} if backend.reports_progress else {}
            if compared:
                options["record"] = compared
            result = backend.run(graph, inputs, T, **options)
            seconds += result.seconds
            predictions += result.output.argmax(axis=1).tolist()
            for name in event_nodes:
                spikes[name] += int(result.spike_counts[name].sum())
            if compared:
                expected = float_backend.run(reference, inputs, T, record=compared)
                for name in (n for n in compared if n in result.recorded):
                    same[name] = same.get(name, 0) + int((result.recorded[name] == expected.recorded[name]).sum())
                    reference_spikes[name] = reference_spikes.get(name, 0) + int(expected.recorded[name].sum())
            bar.set_postfix_str("", refresh=False)
            bar.update(stop - bar.n)
    accuracy = None if samples.y is None else float((np.array(predictions) == samples.y).mean())
    neurons = {n.name: spiking_neurons(graph, n.name) for n in graph if n.info.is_events}
    agreement = {name: {"agreement": same[name] / (total * T * graph[name].info.size),
                        "rate_float": reference_spikes[name] / (total * T * neurons[name]),
                        "rate_integer": spikes[name] / (total * T * neurons[name])} for name in same}
    return Evaluation(backend.name, total, T, accuracy, predictions, spikes, neurons, seconds, agreement)


def _advance(bar, start: int):
    """A backend's ``progress`` callback moving ``bar`` to ``start`` plus the samples done, showing the phase."""
    def advance(done: int, phase: str) -> None:
        bar.set_postfix_str(phase, refresh=False)
        bar.update(start + done - bar.n)
    return advance
