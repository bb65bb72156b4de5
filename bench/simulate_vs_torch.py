"""The integer simulator against PyTorch float and SpikingJelly on the same SEW-ResNet-18, at several batch sizes and
firing levels, with memory peaks.

    .venv/bin/python bench/simulate_vs_torch.py [--batches 1 16 64 256] [--rates 0 2 5 12 25] [--repeats 3]

Not a test. In one run it builds the zoo's ``sew_resnet18`` (IF neurons, SEW ADD, ImageNet stem, 3x32x32 inputs,
10 classes, T = 4) with random weights, and for each firing level sets every BN's statistics at random (``lively`` of
tests/conftest.py) with the BN biases shifted so that PyTorch's neurons fire at that rate (found by bisection; 0 %
shifts them far below: every layer silent). Three runners compute the same network on the same images:

- ``torch``: the zoo model, PyTorch float32 inference (eval, no_grad), as many threads as cores;
- ``sj``: the same structure and weights built from SpikingJelly 2.0's ``activation_based`` modules: its multi-step
  ``IFNode`` (hard reset to 0, the torch backend) for every neuron and ``SeqToANNContainer`` around every layer;
- ``sim``: the compiled integer graph (8-bit, max-abs scales) on the NumPy simulator, ``mode="auto"``.

For each (firing level, batch) it prints the fastest of ``--repeats`` runs of each (interleaved, so a busy machine
slows all three alike), the ratios sim/torch and sim/sj, and each runner's memory peak: the largest resident size
during the run above the size before it (sampled every millisecond). Then, at batch 64, the event path alone
(``mode="event"``) at 2 % and at 25 % firing: the whole simulation and the time spent in the synapses that read events
(the event kernels themselves); and an exactness check of one run against the float64 dense reference.
The firing rate printed is the integer simulation's: spikes per neuron per step over every population.
"""

import argparse
import copy
import os
import sys
import threading
import time
from pathlib import Path

import numpy as np
import torch
from spikingjelly.activation_based import functional as sj_functional
from spikingjelly.activation_based import layer as sj_layer
from spikingjelly.activation_based import neuron as sj_neuron

from snncompile.backends.numpy import simulate
from snncompile.backends.numpy.kernels import SynapseKernel
from snncompile.compiler import lower_and_quantize
from snncompile.frontend import trace
from snncompile.models import build
from snncompile.models.layers import PerStep
from snncompile.models.neurons import IFNode

sys.path.insert(0, str(Path(__file__).resolve().parent))
from mlf_dsresnet20 import T, lively  # noqa: E402

SIZE = 32
SEW_MODEL = dict(in_channels=3, num_classes=10, T=T)
SILENT_SHIFT = -20.0  # BN biases this far below zero: no neuron ever reaches its threshold


class PeakMemory:
    """The largest resident set size of this process while in the ``with`` block, above the size on entry (bytes),
    sampled every millisecond by a thread."""

    PAGE = os.sysconf("SC_PAGE_SIZE")

    def __enter__(self):
        self.base = self.peak = self.resident()
        self.running = True
        self.thread = threading.Thread(target=self.sample, daemon=True)
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.running = False
        self.thread.join()
        self.peak = max(self.peak, self.resident())

    def sample(self):
        while self.running:
            self.peak = max(self.peak, self.resident())
            time.sleep(0.001)

    def resident(self) -> int:
        with open("/proc/self/statm") as statm:
            return int(statm.read().split()[1]) * self.PAGE

    @property
    def grown(self) -> int:
        return self.peak - self.base


def neuron_rate(model, images: torch.Tensor) -> float:
    """Spikes per neuron per step of ``model``'s IF neurons on ``images`` (PyTorch, float)."""
    spikes, neurons = [], []

    def count(_module, _inputs, out):
        spikes.append(float(out.sum()))
        neurons.append(out.numel())

    hooks = [m.register_forward_hook(count) for m in model.modules() if isinstance(m, IFNode)]
    with torch.no_grad():
        model(images)
    for hook in hooks:
        hook.remove()
    return sum(spikes) / sum(neurons)


def model_at(rate: float, images: torch.Tensor, seed: int):
    """The zoo model with BN statistics shifted so that it fires at ``rate`` on ``images`` (bisection on the shift)."""
    def shifted(shift):
        torch.manual_seed(seed)
        return lively(build("sew_resnet18", **SEW_MODEL), seed, shift=shift).eval()

    if rate == 0:
        return shifted(SILENT_SHIFT)
    low, high = -3.0, 1.0
    for _ in range(12):
        middle = (low + high) / 2
        low, high = (middle, high) if neuron_rate(shifted(middle), images) < rate else (low, middle)
    return shifted((low + high) / 2)


def spikingjelly_twin(model):
    """The same network built from SpikingJelly modules: every zoo IF neuron a multi-step ``IFNode`` (fires at
    ``v >= 1``, hard reset to 0, as the zoo's), every per-step layer in a ``SeqToANNContainer``, same weights."""
    twin = copy.deepcopy(model)

    def replace(parent):
        for name, child in parent.named_children():
            if isinstance(child, IFNode):
                setattr(parent, name, sj_neuron.IFNode(v_threshold=float(child.thresholds[0]), v_reset=0.0,
                                                       detach_reset=True, step_mode="m"))
            elif isinstance(child, PerStep):
                setattr(parent, name, sj_layer.SeqToANNContainer(child.layer))
            else:
                replace(child)

    replace(twin)
    return twin.eval()


def timed(repeats: int, runs: dict) -> dict:
    """For each named callable: (fastest of ``repeats`` interleaved runs in s, largest memory growth in bytes, last
    value)."""
    times = {name: [] for name in runs}
    peaks = {name: 0 for name in runs}
    values = {}
    for _ in range(repeats):
        for name, run in runs.items():
            with PeakMemory() as memory:
                start = time.perf_counter()
                values[name] = run()
                times[name].append(time.perf_counter() - start)
            peaks[name] = max(peaks[name], memory.grown)
    return {name: (min(times[name]), peaks[name], values[name]) for name in runs}


def event_path_seconds(graph, images: np.ndarray) -> tuple:
    """One simulation with every synapse on its event path: (its time, the time spent in the synapses whose input is
    events), in s."""
    spent, original = [0.0], SynapseKernel.__call__

    def timed_call(kernel, inputs, events=None):
        start = time.perf_counter()
        out = original(kernel, inputs, events)
        if kernel.events:
            spent[0] += time.perf_counter() - start
        return out

    SynapseKernel.__call__ = timed_call
    try:
        start = time.perf_counter()
        simulate(graph, images, T, mode="event")
        return time.perf_counter() - start, spent[0]
    finally:
        SynapseKernel.__call__ = original


def firing_rate(graph, result) -> float:
    """Spikes per neuron per step over every IntLIF population of the integer simulation."""
    populations = [node for node in graph if node.op.kind == "IntLIF"]
    spikes = sum(int(result.spike_counts[node.name].sum()) for node in populations)
    return spikes / (sum(node.info.size for node in populations) * T * result.output.shape[0])


def check_exact(graph, images: np.ndarray, fast) -> str:
    """Compare ``fast`` (a timed run) with the float64 dense reference; raise if anything differs."""
    reference = simulate(graph, images, T, mode="dense", dtype=np.float64)
    assert np.array_equal(fast.output, reference.output), "outputs differ"
    for name, counts in reference.spike_counts.items():
        assert np.array_equal(fast.spike_counts[name], counts), f"spike counts differ at {name}"
    return (f"bit-exact: the outputs and the spike counts of all {len(reference.spike_counts)} event nodes at every "
            f"step of {len(images)} samples equal the float64 dense reference (integer.cuba_step on int64)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batches", type=int, nargs="+", default=[1, 16, 64, 256])
    parser.add_argument("--rates", type=float, nargs="+", default=[0, 2, 5, 12, 25], help="firing levels in %%")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    print(f"sew_resnet18 {SEW_MODEL}, 3x{SIZE}x{SIZE}, best of {args.repeats}; {os.cpu_count()} cores, torch "
          f"{torch.__version__} ({torch.get_num_threads()} threads), numpy {np.__version__}")
    images = torch.rand(max(args.batches), 3, SIZE, SIZE, generator=torch.Generator().manual_seed(args.seed))
    print(f"\n{'target':>6} {'rate':>6} {'batch':>5} {'torch s':>8} {'sj s':>8} {'sim s':>8} {'sim/torch':>9} "
          f"{'sim/sj':>7} {'torch MB':>8} {'sj MB':>7} {'sim MB':>7}")
    graphs, worst = {}, {"torch": 0.0, "sj": 0.0}
    for target in args.rates:
        model = model_at(target / 100, images[:16], args.seed)
        twin = spikingjelly_twin(model)
        graph = graphs[target] = lower_and_quantize(trace(model, images[:1])).graph
        with torch.no_grad():
            difference = float((twin(images[:4]) - model(images[:4])).abs().max())
            sj_functional.reset_net(twin)
        assert difference < 1e-4, f"SpikingJelly's twin differs from the zoo model by {difference}"
        for batch in args.batches:
            x = images[:batch]
            array = x.numpy()
            simulate(graph, array[:1], T)  # loads the compiled kernels, prepares every op

            def spikingjelly():
                sj_functional.reset_net(twin)
                return twin(x)

            with torch.no_grad():
                model(x[:1])
                spikingjelly()
                runs = timed(args.repeats, {"torch": lambda: model(x), "sj": spikingjelly,
                                              "sim": lambda: simulate(graph, array, T)})
            (torch_s, torch_b, _), (sj_s, sj_b, _), (sim_s, sim_b, result) = (runs[k] for k in ("torch", "sj", "sim"))
            worst["torch"], worst["sj"] = max(worst["torch"], sim_s / torch_s), max(worst["sj"], sim_s / sj_s)
            print(f"{target:>5.0f}% {firing_rate(graph, result):>6.1%} {batch:>5} {torch_s:>8.3f} {sj_s:>8.3f} "
                  f"{sim_s:>8.3f} {sim_s / torch_s:>8.2f}x {sim_s / sj_s:>6.2f}x {torch_b / 2**20:>8.0f} "
                  f"{sj_b / 2**20:>7.0f} {sim_b / 2**20:>7.0f}", flush=True)
    print(f"\nlargest ratio over all rows: sim/torch {worst['torch']:.2f}x, sim/sj {worst['sj']:.2f}x")

    batch = 64 if 64 <= len(images) else len(images)
    array = images[:batch].numpy()
    levels = [target for target in (2, 25) if target in graphs]
    if len(levels) == 2:
        event = {target: min(event_path_seconds(graphs[target], array) for _ in range(args.repeats))
                 for target in levels}
        print(f"\nevent path (mode='event'), batch {batch}: whole simulation / synapses on events only:")
        for target in levels:
            print(f"   {target:>3} % firing   {event[target][0]:.3f} s / {event[target][1]:.3f} s")
        print(f"   ratio 2 % / 25 %: {event[2][0] / event[25][0]:.2f} / {event[2][1] / event[25][1]:.2f}")
    target = 5 if 5 in graphs else next(iter(graphs))
    print(f"\n{check_exact(graphs[target], array, simulate(graphs[target], array, T))} (firing target {target:g} %, "
          f"batch {batch})")


if __name__ == "__main__":
    main()
