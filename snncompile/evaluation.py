"""Run a compiled graph over a data set in batches: accuracy, predictions, spikes per node, and float-vs-integer
agreement per layer."""

import sys
from dataclasses import dataclass, field

import numpy as np
from tqdm import tqdm

from .backends.base import Backend, get_backend
from .data import load
from .errors import ConfigError, DataError, require_count


@dataclass
class Evaluation:
    """What a run over ``samples`` inputs found. ``spikes``: total events per node over all samples and steps."""

    backend: str
    samples: int
    T: int
    accuracy: float
    predictions: list
    spikes: dict
    neurons: dict
    seconds: float
    agreement: dict = field(default_factory=dict)

    def firing_rates(self) -> dict:
        """Spikes per neuron per timestep, per node (counts nodes report events per position)."""
        return {name: self.spikes[name] / (self.neurons[name] * self.T * self.samples)
                for name in self.spikes if self.neurons.get(name)}

    def as_json(self) -> dict:
        return {"backend": self.backend, "samples": self.samples, "T": self.T, "accuracy": self.accuracy,
                "predictions": self.predictions, "spikes": self.spikes, "firing_rates": self.firing_rates(),
                "seconds": self.seconds, "agreement": self.agreement}


def dataset_for(graph, data_name: str = "digits"):
    """The held-out data a compiled graph was trained for, in its encoding and T, at the size of the graph's input
    (images resized bilinearly when the graph was compiled at another image size than it was trained at, which one
    line on stderr says). Raises :class:`DataError` when the data cannot take that shape."""
    metadata = graph.metadata
    metrics, config = metadata.get("metrics", {}), metadata.get("config", {})
    input_node = graph.input_nodes[0]
    if len(input_node.info.shape) != 3:
        raise DataError(f"input node {input_node.name!r} takes samples of shape {list(input_node.info.shape)}; "
                        f"{data_name!r} holds images [C, H, W]")
    channels, height, width = input_node.info.shape
    if height != width:
        raise DataError(f"input node {input_node.name!r} takes {height}x{width} images; {data_name!r} images are "
                        f"square: compile the model at a square --image-size")
    data = load(data_name, encoding=metadata.get("encoding", "direct"), image_size=int(height),
                T=int(metadata.get("T") or 1))
    if data.in_channels != channels:
        raise DataError(f"input node {input_node.name!r} takes {channels} channel(s); {data.name!r} in "
                        f"{data.encoding} encoding has {data.in_channels}")
    trained_size = metrics.get("image_size") or config.get("image_size")
    if trained_size and int(trained_size) != height:
        print(f"note: {data.name} images resized (bilinear) to {height}x{height}, the artifact's input; the model was "
              f"trained at {trained_size}x{trained_size}", file=sys.stderr)
    return data


def batch_inputs(data, start: int, stop: int, part: str = "test") -> np.ndarray:
    """Samples ``start:stop`` of the ``test`` (or ``train``) part as the simulator takes them (frames time-major)."""
    x = getattr(data, f"{part}_x")[start:stop].numpy().astype(np.float64)
    return np.ascontiguousarray(x.swapaxes(0, 1)) if data.encoding == "frames" else x


def evaluate(graph, backend: Backend, data, *, limit=None, batch_size: int = 64, progress: bool = True,
             reference=None) -> Evaluation:
    """Run ``graph`` on the first ``limit`` test samples of ``data`` with ``backend``.

    With a ``reference`` graph (the float graph the integer one came from), the reference runs on the NumPy simulator
    whatever ``backend`` is, and every event node present in both that ``backend`` records is compared:
    ``agreement[node]`` is the share of (sample, step, neuron) entries where both emit the same value, with both
    firing rates."""
    T = int(graph.metadata.get("T") or 1)
    total = len(data.test_y) if limit is None else min(int(limit), len(data.test_y))
    if total < 1:
        raise ConfigError(f"--limit must be at least 1, got {limit}")
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
            inputs = batch_inputs(data, start, stop)
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
    labels = data.test_y[:total].numpy()
    neurons = {n.name: n.info.size for n in graph if n.info.is_events}
    agreement = {name: {"agreement": same[name] / (total * T * neurons[name]),
                        "rate_float": reference_spikes[name] / (total * T * neurons[name]),
                        "rate_integer": spikes[name] / (total * T * neurons[name])} for name in same}
    return Evaluation(backend.name, total, T, float((np.array(predictions) == labels).mean()), predictions, spikes,
                      neurons, seconds, agreement)


def _advance(bar, start: int):
    """A backend's ``progress`` callback moving ``bar`` to ``start`` plus the samples done, showing the phase."""
    def advance(done: int, phase: str) -> None:
        bar.set_postfix_str(phase, refresh=False)
        bar.update(start + done - bar.n)
    return advance
