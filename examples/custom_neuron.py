"""Compile a network whose spiking neuron is your own module: register one converter that says, as an IR op, what
the neuron computes at every timestep, then trace, check and compile as for any model.

    python examples/custom_neuron.py [--T 4] [--samples 16]

The neuron below keeps ``beta`` of its membrane per step and fires at ``v >= threshold`` with a hard reset: the IR's
``LIF`` with ``decay=beta`` and ``inclusive=True``. The script checks that the float simulation fires PyTorch's own
spikes, compiles to 8-bit integers, and runs the integer network on the NumPy simulator and onnxruntime.
"""

import argparse

import numpy as np
import torch
from torch import nn

import snncompile
from snncompile.backends import get_backend
from snncompile.frontend import register, trace
from snncompile.ir.ops import LIF


class LeakyHeaviside(nn.Module):
    """``v = beta * v + x[t]``; ``s = v >= threshold``; ``v = 0`` where it fired. Input and output ``[T, B, ...]``."""

    def __init__(self, beta: float = 0.8, threshold: float = 1.0):
        super().__init__()
        self.beta, self.threshold = beta, threshold

    def forward(self, x):
        v, spikes = torch.zeros_like(x[0]), []
        for x_t in x:
            v = self.beta * v + x_t
            s = (v >= self.threshold).to(x.dtype)
            v = v * (1 - s)
            spikes.append(s)
        return torch.stack(spikes)


register(LeakyHeaviside, lambda neuron, info: LIF(threshold=neuron.threshold, decay=neuron.beta, inclusive=True,
                                                  model="LeakyHeaviside"))


class Net(nn.Module):
    """Direct encoding, two conv layers of LeakyHeaviside neurons, a linear readout averaged over time."""

    def __init__(self, T: int):
        super().__init__()
        self.T = T
        self.conv1 = nn.Conv2d(1, 8, 3, padding=1)
        self.sn1 = LeakyHeaviside(beta=0.8)
        self.conv2 = nn.Conv2d(8, 16, 3, padding=1, stride=2)
        self.sn2 = LeakyHeaviside(beta=0.5, threshold=0.6)
        self.fc = nn.Linear(16 * 4 * 4, 10)

    def forward(self, x):
        x = x.unsqueeze(0).repeat(self.T, 1, 1, 1, 1)                       # [T, B, 1, 8, 8]
        x = self.sn1(self.conv1(x.flatten(0, 1)).unflatten(0, (self.T, -1)))
        x = self.sn2(self.conv2(x.flatten(0, 1)).unflatten(0, (self.T, -1)))
        return self.fc(x.flatten(2)).mean(0)


parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
parser.add_argument("--T", type=int, default=4, help="timesteps per sample (default: 4)")
parser.add_argument("--samples", type=int, default=16, help="random test images (default: 16)")
args = parser.parse_args()

torch.manual_seed(0)
model = Net(args.T).double().eval()
images = torch.rand(args.samples, 1, 8, 8, dtype=torch.float64)

graph = trace(model, images[:2], T=args.T)
print("traced:", ", ".join(f"{node.name} ({node.op.kind})" for node in graph))
spikes = {}
for name in ("sn1", "sn2"):
    getattr(model, name).register_forward_hook(lambda m, i, o, name=name: spikes.__setitem__(name, o.numpy()))
with torch.no_grad():
    logits = model(images).numpy()
float_run = get_backend("numpy").run(graph, images.numpy(), args.T, record=["sn1", "sn2"])
same = all(np.array_equal(float_run.recorded[name], spikes[name]) for name in spikes)
print(f"float simulation vs PyTorch: {'the same' if same else 'DIFFERENT'} spikes at every step "
      f"({int(sum(s.sum() for s in spikes.values())):,} spikes), logits within "
      f"{np.abs(float_run.output - logits).max():.1e}")

compiled = snncompile.compile(model.float(), images[:2].float(), T=args.T, target="numpy", bits=8)
inputs = images.float().numpy()
numpy_run = get_backend("numpy").run(compiled.graph, inputs, args.T, record=["sn1", "sn2"])
onnx_run = get_backend("onnx").run(compiled.graph, inputs, args.T, record=["sn1", "sn2"])
identical = np.array_equal(numpy_run.output, onnx_run.output) and all(
    np.array_equal(numpy_run.recorded[name], onnx_run.recorded[name]) for name in ("sn1", "sn2"))
print(f"integer network, numpy vs onnx: {'identical' if identical else 'DIFFERENT'} spikes and logits")
reference = get_backend("numpy").run(compiled.float_graph, inputs, args.T, record=["sn1", "sn2"])  # quantized from
spike_agreement = np.mean([(numpy_run.recorded[name] == reference.recorded[name]).mean() for name in ("sn1", "sn2")])
prediction_agreement = (numpy_run.output.argmax(1) == reference.output.argmax(1)).mean()
print(f"integer vs float: {prediction_agreement:.1%} of predictions and {spike_agreement:.2%} of spikes agree")
