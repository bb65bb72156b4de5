"""Trace a multi-step PyTorch SNN with torch.fx and translate it into the IR.

The model takes ``[B, C, H, W]`` images behind a :class:`DirectEncoder` (direct encoding) or ``[T, B, C, H, W]``
frames. Zoo modules (neurons, tdBN, ``PerStep``, ``Readout``, ``SEWConnect``, ``DirectEncoder``) and standard torch
layers are traced as leaves; everything else is traced through. Each leaf or function becomes one IR node named
after its module path (or the fx node for functions). Modules the traced (evaluation) forward never calls — such as
shortcut back-propagation side heads — are left out and listed in ``graph.metadata["stripped"]``.
"""

import operator

import torch
from torch import fx, nn
from torch.fx.passes.shape_prop import ShapeProp

from ..checkpoint import unusable_tensor
from ..errors import UnsupportedModuleError
from ..ir import Graph
from ..ir.ops import Add, Input, Linear, Readout, SEWLogic
from ..models.layers import DirectEncoder, PerStep
from ..models.layers import Readout as ReadoutModule
from ..models.layers import SEWConnect
from ..models.neurons import SpikingNeuron
from ..models.norm import ThresholdDependentBatchNorm
from . import layers

ZOO_LEAVES = (PerStep, SpikingNeuron, ThresholdDependentBatchNorm, DirectEncoder, ReadoutModule, SEWConnect)
ADD_FUNCTIONS = (operator.add, torch.add)


def supported_summary() -> str:
    standard = ", ".join(sorted(t.__name__ for t in layers.PER_STEP_LAYERS))
    return (f"supported: zoo neurons (SpikingNeuron and subclasses), ThresholdDependentBatchNorm, PerStep(<{standard}>), "
            "DirectEncoder, Readout, SEWConnect, nn.Linear / nn.Flatten(start_dim=2) / nn.Dropout / nn.Identity on "
            "[T, B, ...] tensors, `a + b`, and `linear(x).mean(0)` as a readout")


class _LeafTracer(fx.Tracer):
    def is_leaf_module(self, module, qualified_name):
        return isinstance(module, ZOO_LEAVES) or super().is_leaf_module(module, qualified_name)


def trace(model: nn.Module, example_input: torch.Tensor, name: str | None = None) -> Graph:
    """The IR graph of ``model`` in evaluation mode, with shapes taken from ``example_input``. Weights that are not
    real and finite are refused, naming the tensor."""
    unusable = unusable_tensor(model.state_dict())
    if unusable:
        raise UnsupportedModuleError(f"{type(model).__name__}: tensor {unusable[0]!r} holds {unusable[1]}; only real, "
                                     f"finite weights can be compiled")
    was_training = model.training
    model.eval()
    try:
        try:
            graph_module = fx.GraphModule(model, _LeafTracer().trace(model))
        except Exception as err:  # fx raises many types for untraceable Python
            raise UnsupportedModuleError(
                f"cannot trace {type(model).__name__}: {type(err).__name__}: {err}. The forward pass must not branch "
                f"on tensor values; {supported_summary()}") from None
        with torch.no_grad():
            ShapeProp(graph_module).propagate(example_input)
        binary = bool(((example_input == 0) | (example_input == 1)).all())
        return _Translator(graph_module, model, name or type(model).__name__, "spikes" if binary else "analog").run()
    finally:
        model.train(was_training)


class _Translator:
    """Walks the fx graph once, adding one IR node per leaf call or function."""

    def __init__(self, graph_module: fx.GraphModule, model: nn.Module, name: str, frames_kind: str):
        self.gm, self.model, self.frames_kind = graph_module, model, frames_kind
        self.graph = Graph(name)
        self.values = {}      # fx node -> IR node name holding its value
        self.time_major = {}  # fx node -> True if its tensor is [T, B, ...]
        self.called = set()
        self.pending_input = None

    def run(self) -> Graph:
        for node in self.gm.graph.nodes:
            getattr(self, f"_{node.op}")(node)
        self.graph.metadata["stripped"] = self._stripped_modules()
        return self.graph

    # -- fx node kinds ------------------------------------------------------------------------------------------
    def _placeholder(self, node):
        if self.graph.input_nodes:
            raise UnsupportedModuleError(f"input {node.name!r}: models with more than one input are not supported")
        self.pending_input = node  # becomes an Input node once its first user shows the encoding

    def _get_attr(self, node):
        raise UnsupportedModuleError(f"{node.target!r}: reading a parameter or buffer inside forward() is not "
                                     f"supported; wrap the computation in a module. {supported_summary()}")

    def _call_module(self, node):
        module = self.gm.get_submodule(node.target)
        self.called.add(node.target)
        with layers.converting(node.target, module):
            self._convert_module(node, module)

    def _convert_module(self, node, module):
        if isinstance(module, DirectEncoder):
            return self._input(node, "direct", module.T)
        source = self._source(node, 0)
        info = self.graph[source].info
        if isinstance(module, PerStep):
            return self._per_step(node, module.layer, source, info)
        if isinstance(module, SpikingNeuron):
            return self._emit(node, layers.neuron(node.target, module, info), [source])
        if isinstance(module, ThresholdDependentBatchNorm):
            return self._emit(node, layers.td_batch_norm(node.target, module, info), [source])
        if isinstance(module, ReadoutModule):
            return self._emit(node, Readout(layers.array(module.linear.weight), layers.array(module.linear.bias)),
                              [source], time_major=False)
        if isinstance(module, SEWConnect):
            inputs = [source, self._source(node, 1)]
            op = Add() if module.function == "ADD" else SEWLogic(module.function)
            return self._emit(node, op, inputs)
        if isinstance(module, nn.Flatten):  # on [T, B, ...]: a per-step flatten iff it starts at the sample axis 2
            return self._emit(node, layers.flatten(node.target, module, info, first_sample_dim=2), [source])
        if isinstance(module, (nn.Linear, nn.Dropout, nn.Identity)):  # act on the last axes of [T, B, ...] as is
            return self._per_step(node, module, source, info)
        raise layers.unsupported(node.target, module, f"not supported on [T, B, ...] tensors; {supported_summary()}")

    def _call_function(self, node):
        if node.target in ADD_FUNCTIONS and not node.kwargs and len(node.args) == 2:
            if all(isinstance(a, fx.Node) for a in node.args):
                return self._emit(node, Add(), [self._source(node, 0), self._source(node, 1)])
        raise self._unsupported_call(node)

    def _call_method(self, node):
        if node.target == "mean" and self._is_time_mean(node):
            linear_node = node.args[0]
            linear = self.graph[self.values[linear_node]]
            if len(linear_node.users) == 1 and type(linear.op) is Linear:
                readout = Readout(linear.op.weight, linear.op.bias)
                return self._emit(node, readout, list(linear.inputs), time_major=False,
                                  name=f"{linear.name}.readout", replaces=linear.name)
        raise self._unsupported_call(node)

    def _output(self, node):
        outputs = node.args[0] if isinstance(node.args[0], (tuple, list)) else [node.args[0]]
        self.graph.set_outputs([self.values[o] for o in outputs])

    # -- helpers ------------------------------------------------------------------------------------------------
    def _input(self, node, encoding, T=None):
        if node.args[0] is not self.pending_input:
            raise UnsupportedModuleError(f"module {node.target!r}: a DirectEncoder must be applied to the model input")
        shape = node.args[0].meta["tensor_meta"].shape[1:]
        self.graph.add("input", Input(tuple(shape), encoding, "analog"))
        self.graph.metadata.update(encoding=encoding, T=T)
        self.values[node] = "input"
        self.time_major[node] = True

    def _frames_input(self, placeholder):
        """A model without a DirectEncoder receives ``[T, B, ...]`` frames (binary in the zoo: spikes)."""
        shape = placeholder.meta["tensor_meta"].shape
        if len(shape) < 3:
            raise UnsupportedModuleError("the model input must be [B, C, H, W] behind a DirectEncoder or "
                                         f"[T, B, ...] frames, got shape {tuple(shape)}")
        self.graph.add("input", Input(tuple(shape[2:]), "frames", self.frames_kind))
        self.graph.metadata.update(encoding="frames", T=int(shape[0]))
        self.values[placeholder] = "input"
        self.time_major[placeholder] = True

    def _source(self, node, index: int) -> str:
        argument = node.args[index]
        if not isinstance(argument, fx.Node):
            raise UnsupportedModuleError(f"{node.name!r}: argument {index} must be a tensor, got {argument!r}")
        if self.values.get(argument) is None and argument is self.pending_input:
            self._frames_input(argument)
        if not self.time_major.get(argument, False):
            raise UnsupportedModuleError(f"{node.name!r}: its input {argument.name!r} is not a [T, B, ...] tensor "
                                         "(only the readout may reduce over time, and only at the end)")
        return self.values[argument]

    def _per_step(self, node, layer, source, info):
        convert = next((f for t, f in layers.PER_STEP_LAYERS.items() if type(layer) is t), None)
        if convert is None:
            raise layers.unsupported(node.target, layer, supported_summary())
        with layers.converting(node.target, layer):
            op = convert(node.target, layer, info)
        if op is None:
            self.values[node], self.time_major[node] = source, True
            return
        self._emit(node, op, [source])

    def _emit(self, node, op, inputs, time_major=True, name=None, replaces=None):
        name = name or (node.target if node.op == "call_module" else self._function_name(node))
        if replaces is not None:
            self.graph.remove(replaces)
        self.graph.add(name, op, inputs)
        self._check_shape(node, name, time_major)
        self.values[node], self.time_major[node] = name, time_major

    def _function_name(self, node) -> str:
        """``<enclosing module path>.add`` (``.add_1``, ... when a module holds several), else the fx node's name."""
        stack = node.meta.get("nn_module_stack") or {}
        if not stack:
            return node.name
        base = f"{next(reversed(stack.values()))[0]}.{getattr(node.target, '__name__', node.target)}"
        name, suffix = base, 0
        while name in self.graph:
            suffix += 1
            name = f"{base}_{suffix}"
        return name

    def _check_shape(self, node, name, time_major):
        """The IR's per-sample shape must equal what PyTorch produced (``[T, B, ...]`` or, after the readout, ``[B, ...]``)."""
        traced = tuple(node.meta["tensor_meta"].shape[2 if time_major else 1:])
        if traced != self.graph[name].info.shape:
            raise UnsupportedModuleError(f"{name!r}: PyTorch produced per-sample shape {traced} but the IR infers "
                                         f"{self.graph[name].info.shape}; is the layer applied per timestep?")

    def _is_time_mean(self, node) -> bool:
        dims = node.args[1] if len(node.args) > 1 else node.kwargs.get("dim")
        return dims in (0, (0,), [0]) and not node.kwargs.get("keepdim", False)

    def _unsupported_call(self, node):
        stack = node.meta.get("nn_module_stack") or {}
        where = f" in module {list(stack)[-1]!r}" if stack else ""
        target = getattr(node.target, "__name__", node.target)
        return UnsupportedModuleError(f"{node.op} {target!r} (fx node {node.name!r}){where} is not supported; "
                                      f"{supported_summary()}")

    def _stripped_modules(self) -> list:
        """Top-most modules holding parameters or buffers that the traced forward never calls."""
        def used(path):
            return any(path == c or path.startswith(c + ".") or c.startswith(path + ".") for c in self.called)

        stripped = []
        for path, module in self.model.named_modules():
            if not path or used(path) or any(path.startswith(s["module"] + ".") for s in stripped):
                continue
            count = sum(p.numel() for p in module.parameters())
            if count or any(True for _ in module.buffers()):
                stripped.append({"module": path, "type": type(module).__name__, "parameters": count})
        return stripped
