"""Trace a PyTorch SNN with torch.fx, run on its example input, and translate it into the IR.

Inputs, in three conventions:

- the zoo's: ``[B, C, H, W]`` images behind a :class:`DirectEncoder`, or ``[T, B, ...]`` frames (``T`` not given);
- ``T`` given and a ``[B, ...]`` example: the image enters identically at every step (direct encoding). The model
  may make the time axis itself (research code: ``x.unsqueeze(0).repeat(T, 1, 1, 1, 1).flatten(0, 1)``), run as
  one timestep (SpikingJelly single-step nets: the frontend runs it ``T`` times), or expect ``[T, B, ...]``
  sequences from its caller (SpikingJelly multi-step nets: the frontend repeats the image over time for it).

Every value of the forward pass has a *layout*: ``[T, B, ...]`` sequences, ``[T*B, ...]`` time folded into the
batch (time-major), one timestep ``[B, ...]``, or ``[B, ...]`` after the readout reduced over time. Reshapes
(``view``, ``reshape``, ``flatten``, ``unsqueeze``, ``repeat``, ``expand``, ``stack``, ...) are followed by their
real values (:mod:`.concrete`): one that only moves the time axis costs nothing, one that flattens a sample is a
``Flatten`` node. Leaf modules (neurons, layers, registered types) become one IR node per call, named after their
module path (a module called at several places: ``sn``, ``sn_1``, ...). A linear layer whose output leaves the
model per timestep is the readout: the mean over time of its outputs. Modules the traced (evaluation) forward
never calls, such as shortcut back-propagation side heads, are left out and listed in ``graph.metadata["stripped"]``.
"""

import operator
from dataclasses import dataclass

import torch
from torch import fx, nn

from ..checkpoint import unusable_tensor
from ..errors import SnnCompileError, UnsupportedModuleError
from ..ir import Graph
from ..ir.ops import Add, Input, Linear, Readout, SEWLogic
from ..ir.ops import Flatten as FlattenOp
from ..models.layers import DirectEncoder, PerStep
from ..models.layers import Readout as ReadoutModule
from ..models.layers import SEWConnect
from ..models.neurons import SpikingNeuron
from ..models.norm import ThresholdDependentBatchNorm
from . import layers, registry
from .concrete import ConcreteTracer, exception_source_line, node_source_line

ZOO_LEAVES = (PerStep, SpikingNeuron, ThresholdDependentBatchNorm, DirectEncoder, ReadoutModule, SEWConnect)
ADD_FUNCTIONS = (operator.add, operator.iadd, torch.add)
MUL_FUNCTIONS = (operator.mul, operator.imul, torch.mul)
SUB_FUNCTIONS = (operator.sub, torch.sub, torch.rsub)
MEAN_FUNCTIONS = (torch.mean,)
RESHAPE_METHODS = {"view", "reshape", "flatten", "unflatten", "unsqueeze", "squeeze", "repeat", "expand", "transpose",
                   "permute", "contiguous", "clone", "float", "double", "to", "detach", "view_as", "reshape_as",
                   "expand_as"}
RESHAPE_FUNCTIONS = (torch.flatten, torch.reshape, torch.unsqueeze, torch.squeeze, torch.stack, torch.cat, torch.clone,
                     torch.transpose, torch.permute)
SPIKINGJELLY = "spikingjelly."

STEPS, FOLDED, STEP, FINAL = "[T, B, ...]", "[T*B, ...]", "[B, ...] (one step)", "[B, ...] (after the readout)"
BATCH_STEPS, BATCH_FOLDED = "[B, T, ...]", "[B*T, ...]"
SEQUENCES = (STEPS, FOLDED, BATCH_STEPS, BATCH_FOLDED)  # the layouts holding all timesteps, in matching order
RESHAPED, COMPLEMENT, TIME_MEAN, PENDING_INPUT = "reshaped", "1 - spikes", "a mean over time", "the input"
TIME_LAYOUTS = (*SEQUENCES, STEP)


def supported_summary() -> str:
    standard = ", ".join(sorted(t.__name__ for t in layers.PER_STEP_LAYERS))
    registered = registry.registered_types()
    return (f"supported: torch.nn {standard}; SpikingJelly IFNode, LIFNode, ParametricLIFNode and layer.* wrappers "
            f"of those layers, SeqToANNContainer, MultiStepContainer; the zoo's neurons, tdBN, PerStep, "
            f"DirectEncoder, Readout, SEWConnect; `a + b`, SEW `a * b` and `a * (1 - b)` on spikes, reshapes that move "
            f"the time axis or flatten a sample, and a linear readout averaged over time"
            + (f"; registered: {', '.join(registered)}" if registered else "")
            + ". Register a converter for any other module (snncompile.frontend.register)")


def spikingjelly_frontend(module):
    """``snncompile.frontend.spikingjelly`` if ``module`` is a SpikingJelly module (imported only then), else None."""
    if not type(module).__module__.startswith(SPIKINGJELLY):
        return None
    from . import spikingjelly

    return spikingjelly


def is_leaf(module) -> bool:
    if isinstance(module, ZOO_LEAVES) or registry.registered_converter(module) is not None:
        return True
    frontend = spikingjelly_frontend(module)
    if frontend is not None:  # its neurons and layers, known or not (an unknown one is an error naming it)
        return frontend.converter(module) is not None or frontend.is_step_module(module)
    return isinstance(module, tuple(layers.PER_STEP_LAYERS)) or (  # a subclass too: refused unless registered
        module.__module__.startswith("torch.nn") and not isinstance(module, nn.Sequential))


def _leading_axes(layout: str) -> int:
    """The axes before a sample's in ``layout``: two for ``[T, B, ...]`` and ``[B, T, ...]``, else one."""
    return 2 if layout in (STEPS, BATCH_STEPS) else 1


def takes_sequences(module) -> bool | None:
    """Whether ``module`` reads ``[T, B, ...]`` sequences (multi-step), one timestep (single-step), or either
    (``None``: stateless layers and registered modules)."""
    frontend = spikingjelly_frontend(module)
    if frontend is not None:
        return frontend.takes_sequences(module)
    return True if isinstance(module, (SpikingNeuron, PerStep, ThresholdDependentBatchNorm, ReadoutModule)) else None


class _SequencesExpected(Exception):
    """A multi-step module met the image before the model made a time axis: it expects ``[T, B, ...]`` input."""


def trace(model: nn.Module, example_input: torch.Tensor, name: str | None = None, *, T: int | None = None) -> Graph:
    """The IR graph of ``model`` in evaluation mode, with shapes taken from ``example_input``. With ``T``, the
    example is one ``[B, ...]`` batch of images fed at each of ``T`` steps (see the module docstring), except for
    zoo models, which record their own ``T``. Weights that are not real and finite are refused, naming the
    tensor."""
    unusable = unusable_tensor(model.state_dict())
    if unusable:
        raise UnsupportedModuleError(f"{type(model).__name__}: tensor {unusable[0]!r} holds {unusable[1]}; only real, "
                                     f"finite weights can be compiled")
    was_training = model.training
    model.eval()
    name = name or type(model).__name__
    try:
        with torch.no_grad():
            if T is None or _records_steps(model):
                return _trace(model, example_input, name, None, None)
            try:
                return _trace(model, example_input, name, T, STEP)
            except _SequencesExpected:
                pass
            sequence = example_input.unsqueeze(0).expand(T, *example_input.shape).contiguous()
            return _trace(model, sequence, name, T, STEPS)
    finally:
        _reset_states(model)
        model.train(was_training)


def _records_steps(model) -> bool:
    """A zoo model: its DirectEncoder or its config holds its T, and it takes images or frames as the zoo does."""
    config = getattr(model, "config", None)
    return any(isinstance(m, DirectEncoder) for m in model.modules()) or (isinstance(config, dict) and "T" in config)


def _reset_states(model) -> None:
    for module in model.modules():
        frontend = spikingjelly_frontend(module)
        if frontend is not None:
            frontend.reset_states(model)
            return


def _trace(model, example, name, T, input_layout) -> Graph:
    _reset_states(model)

    def check_time_axis(module, args):
        if input_layout == STEP and args and args[0] is example and takes_sequences(module):
            raise _SequencesExpected()

    tracer = ConcreteTracer(is_leaf, example, check_time_axis)
    try:
        fx_graph = tracer.trace(model)
    except (SnnCompileError, _SequencesExpected):
        raise
    except Exception as err:  # fx and the model's own code raise many types for what cannot be traced
        where = getattr(err, "snncompile_module", "the model")
        raise UnsupportedModuleError(
            f"cannot trace {type(model).__name__}: {where}{exception_source_line(err)} failed on the example input: "
            f"{type(err).__name__}: {err}. If the module is not one snncompile knows, register a converter for it "
            f"(snncompile.frontend.register); {supported_summary()}") from None
    graph_module = fx.GraphModule(model, fx_graph)
    frames_kind = "spikes" if bool(((example == 0) | (example == 1)).all()) else "analog"
    return _Translator(graph_module, model, name, frames_kind, T, input_layout).run()


@dataclass(frozen=True, eq=False)
class Value:
    """What an fx value is in the IR: the node holding it (``None`` for the zoo's input before its first use), its
    layout, and its value on the example as ``[T, B, ...]`` (``[B, ...]`` for one step), which reshapes are matched
    against."""

    name: str | None
    layout: str
    sequences: torch.Tensor | None = None
    timed: bool = False  # ``sequences`` has the time axis


class _Translator:
    """Walks the fx graph once, adding one IR node per leaf call or function."""

    def __init__(self, graph_module, model, name, frames_kind, T, input_layout):
        self.gm, self.model, self.frames_kind = graph_module, model, frames_kind
        self.T, self.input_layout = T, input_layout
        self.graph = Graph(name)
        self.values = {}      # fx node -> Value
        self.called = set()
        self.batch = None

    def run(self) -> Graph:
        for node in self.gm.graph.nodes:
            getattr(self, f"_{node.op}")(node)
        self.graph.metadata["stripped"] = self._stripped_modules()
        return self.graph

    # -- fx node kinds ------------------------------------------------------------------------------------------
    def _placeholder(self, node):
        if self.values:
            raise UnsupportedModuleError(f"input {node.name!r}: models with more than one input are not supported")
        shape = tuple(node.meta["value"].shape)
        if self.input_layout is None:  # the zoo: a DirectEncoder or [T, B, ...] frames, known at the first use
            self.values[node] = Value(None, PENDING_INPUT)
            return
        sample = shape[2:] if self.input_layout == STEPS else shape[1:]
        self.batch = shape[1] if self.input_layout == STEPS else shape[0]
        self.graph.add("input", Input(sample, "direct", "analog"))
        self.graph.metadata.update(encoding="direct", T=self.T)
        self._record(node, "input", self.input_layout)

    def _get_attr(self, node):
        path = node.target.rpartition(".")[0]
        owner = type(self.gm.get_submodule(path)).__name__ if path else type(self.model).__name__
        raise UnsupportedModuleError(f"module {path!r} ({owner}){node_source_line(node)} reads its tensor "
                                     f"{node.target!r} in forward(), which is not supported: register a converter "
                                     f"for {owner} (snncompile.frontend.register) so that it is traced whole. "
                                     f"{supported_summary()}")

    def _call_module(self, node):
        module = self.gm.get_submodule(node.target)
        frontend = spikingjelly_frontend(module)
        if node.target in self.called and frontend is not None and frontend.keeps_state(module):
            raise UnsupportedModuleError(
                f"module {node.target!r} ({type(module).__name__}){node_source_line(node)} is called a second time: "
                f"a SpikingJelly neuron keeps its membrane from one call to the next, which no separate IR node "
                f"has; give each call its own neuron")
        self.called.add(node.target)
        if isinstance(module, DirectEncoder):
            return self._direct_encoder(node, module)
        source = self._value(node, 0)
        with layers.converting(node.target, module):
            if isinstance(module, SEWConnect):
                return self._join(node, self._sew_op(module), [source, self._value(node, 1)])
            if source.layout == TIME_MEAN:
                return self._readout_after_mean(node, module, source)
            self._check_layout(node, node.target, module, source)
            name = self._convert(node, node.target, module, source.name, source.layout)
        self._record(node, name, FINAL if isinstance(self.graph[name].op, Readout) else source.layout)

    def _call_function(self, node):
        if all(isinstance(a, fx.Node) for a in node.args) and not node.kwargs and len(node.args) == 2:
            if node.target in ADD_FUNCTIONS:
                return self._join(node, Add(), [self._value(node, 0), self._value(node, 1)])
            if node.target in MUL_FUNCTIONS:
                return self._product(node, self._value(node, 0), self._value(node, 1))
        if node.target in SUB_FUNCTIONS and self._is_complement(node):
            operand = self._value(node, 0 if node.target is torch.rsub else 1)
            self.values[node] = Value(operand.name, COMPLEMENT)
            return
        if node.target in RESHAPE_FUNCTIONS:
            return self._reshape(node)
        if node.target in MEAN_FUNCTIONS and self._is_time_mean(node):
            return self._time_mean(node)
        raise self._unsupported_call(node)

    def _call_method(self, node):
        if node.target in RESHAPE_METHODS:
            return self._reshape(node)
        if node.target == "mean" and self._is_time_mean(node):
            return self._time_mean(node)
        raise self._unsupported_call(node)

    def _output(self, node):
        outputs = node.args[0] if isinstance(node.args[0], (tuple, list)) else [node.args[0]]
        names = []
        for output in outputs:
            value = self.values.get(output) if isinstance(output, fx.Node) else None
            if value is not None and value.layout in TIME_LAYOUTS:
                value = self._readout_of(value)
            if value is None or value.layout != FINAL:
                raise UnsupportedModuleError(
                    f"the model output {getattr(output, 'name', output)!r} is not a readout: the model must end in a "
                    f"linear layer (averaged over time, or per timestep, which the frontend averages)")
            names.append(value.name)
        self.graph.set_outputs(names)

    # -- modules ------------------------------------------------------------------------------------------------
    def _convert(self, node, path, module, source: str, layout: str) -> str:
        """Add the IR node(s) of ``module`` at ``path`` reading IR node ``source`` in ``layout``; the node holding
        its output."""
        op = self._op(path, module, self.graph[source].info, layout)
        if not isinstance(op, registry.Chain):
            return self._emit(node, op, [source], path)
        for child_name, child in op.children:
            with layers.converting(f"{path}.{child_name}", child):
                source = self._convert(node, f"{path}.{child_name}", child, source, layout)
        return source

    def _op(self, path, module, info, layout=STEP):
        """The IR op (or None, or a Chain) of one module reading ``layout``."""
        if type(module) is nn.Flatten:  # a flatten of whole samples starts after the time and batch axes
            return layers.flatten(path, module, info, first_sample_dim=_leading_axes(layout))
        convert = registry.registered_converter(module)
        if convert is not None:
            return convert(module, info)
        if isinstance(module, PerStep):
            with layers.converting(path, module.layer):
                return self._op(path, module.layer, info)  # the layer sees [T*B, ...]
        if isinstance(module, SpikingNeuron):
            return layers.neuron(path, module, info)
        if isinstance(module, ThresholdDependentBatchNorm):
            return layers.td_batch_norm(path, module, info)
        if isinstance(module, ReadoutModule):
            return Readout(layers.array(module.linear.weight), layers.array(module.linear.bias))
        frontend = spikingjelly_frontend(module)
        convert = frontend.converter(module) if frontend is not None else layers.PER_STEP_LAYERS.get(type(module))
        if convert is None:
            raise layers.unsupported(path, module, f"no converter for this type. {supported_summary()}")
        return convert(path, module, info)

    def _check_layout(self, node, path, module, source: Value):
        """A module gets the time layout it computes on: sequences for multi-step modules, one step for single-step
        ones; every module needs a per-timestep value (not the readout's, not a half-made reshape)."""
        where = f"module {path!r} ({type(module).__module__}.{type(module).__name__}){node_source_line(node)}"
        if source.layout not in TIME_LAYOUTS:
            raise UnsupportedModuleError(f"{where}: its input is {source.layout}, not a per-timestep tensor; "
                                         f"{self._layout_hint(source)}")
        sequences = takes_sequences(module)
        if sequences and source.layout == STEP:
            if source.name == "input" and self.input_layout == STEP:
                raise _SequencesExpected()
            raise UnsupportedModuleError(f"{where}: a multi-step module given one timestep [B, ...]; give it "
                                         f"[T, B, ...] sequences, or set its step_mode to 's'")
        if sequences and source.layout != STEPS:
            raise UnsupportedModuleError(f"{where}: a multi-step module given {source.layout}; give it [T, B, ...] "
                                         f"sequences (x.view(T, B, ...))")
        if sequences is False and source.layout != STEP:
            raise UnsupportedModuleError(f"{where}: a single-step neuron given {source.layout} sequences would treat "
                                         f"time as batch; set step_mode='m' (spikingjelly functional.set_step_mode)")

    def _direct_encoder(self, node, module):
        placeholder = node.args[0]
        if self.values.get(placeholder) is None or self.values[placeholder].layout != PENDING_INPUT:
            raise UnsupportedModuleError(f"module {node.target!r}: a DirectEncoder must be applied to the model input")
        shape = tuple(placeholder.meta["value"].shape)
        self.batch, self.T = shape[0], module.T
        self.graph.add("input", Input(shape[1:], "direct", "analog"))
        self.graph.metadata.update(encoding="direct", T=module.T)
        self._record(node, "input", STEPS)

    def _frames_input(self, placeholder):
        """A zoo model without a DirectEncoder receives ``[T, B, ...]`` frames (binary in the zoo: spikes)."""
        shape = tuple(placeholder.meta["value"].shape)
        if len(shape) < 3:
            raise UnsupportedModuleError("the model input must be [B, C, H, W] behind a DirectEncoder or "
                                         f"[T, B, ...] frames, got shape {shape}")
        self.graph.add("input", Input(shape[2:], "frames", self.frames_kind))
        self.graph.metadata.update(encoding="frames", T=shape[0])
        self.T, self.batch = shape[0], shape[1]
        self._record(placeholder, "input", STEPS)

    # -- functions ----------------------------------------------------------------------------------------------
    def _join(self, node, op, inputs):
        layouts = {v.layout for v in inputs}
        if len(layouts) != 1 or not layouts <= set(TIME_LAYOUTS):
            raise UnsupportedModuleError(f"{self._where(node)}: joins per-timestep values of one layout, got "
                                         f"{' and '.join(v.layout for v in inputs)}")
        self._record(node, self._emit(node, op, [v.name for v in inputs]), inputs[0].layout)

    def _product(self, node, left: Value, right: Value):
        """SEW logic: ``a * b`` on spikes is AND; ``a * (1 - b)`` is IAND with branch ``b`` and shortcut ``a``."""
        if COMPLEMENT in (left.layout, right.layout):
            complement, shortcut = (left, right) if left.layout == COMPLEMENT else (right, left)
            return self._join(node, SEWLogic("IAND"), [Value(complement.name, shortcut.layout), shortcut])
        return self._join(node, SEWLogic("AND"), [left, right])

    def _is_complement(self, node) -> bool:
        """``1 - x`` (``torch.rsub(x, 1)``) of a spike tensor."""
        if len(node.args) != 2 or node.kwargs:
            return False
        operand, constant = node.args if node.target is torch.rsub else node.args[::-1]
        if constant != 1 or not isinstance(operand, fx.Node):
            return False
        value = self.values.get(operand)
        return value is not None and value.layout in TIME_LAYOUTS and self.graph[value.name].info.kind == "spikes"

    def _sew_op(self, module):
        return Add() if module.function == "ADD" else SEWLogic(module.function)

    def _reshape(self, node):
        """Follow a reshape by its value: the same per-timestep samples with the time axis moved (no node), a
        sample flattened (a Flatten node), the input repeated over time (direct encoding), or still half-made."""
        arguments = node.args[0] if node.target in (torch.stack, torch.cat) else node.args[:1]
        sources = {self._value_of(node, a) for a in arguments if isinstance(a, fx.Node)}
        if len({(s.name, s.layout, id(s.sequences)) for s in sources}) != 1:
            raise self._unsupported_call(node)
        source = next(iter(sources))
        info = self.graph[source.name].info
        if source.layout == FINAL:  # the logits, reshaped to what they are (a squeeze, a view [B, -1])
            if tuple(node.meta["value"].shape) != (self.batch, *info.shape):
                raise self._unsupported_call(node)
            return self._record(node, source.name, FINAL)
        layout, sample = self._match(node.meta["value"], source)
        if layout != RESHAPED and sample != info.shape and (len(info.shape) < 2 or sample != (info.size,)):
            layout = RESHAPED
        if layout == RESHAPED:
            self.values[node] = Value(source.name, RESHAPED, source.sequences, source.timed)
            return
        name = source.name if sample == info.shape else self._emit(node, FlattenOp(), [source.name])
        self._record(node, name, layout)

    def _match(self, y, source: Value) -> tuple:
        """``(layout, per-sample shape)`` of reshape result ``y`` of ``source``, or ``(RESHAPED, None)``."""
        B, T, origin = self.batch, self.T, source.sequences
        if not isinstance(y, torch.Tensor) or origin is None:
            return RESHAPED, None
        if not source.timed:
            flat = origin.reshape(B, -1)
            if y.dim() >= 1 and y.shape[0] == B and y.numel() == flat.numel() and torch.equal(y.reshape(B, -1), flat):
                return STEP, tuple(y.shape[1:])
            if source.name == "input" and self.input_layout == STEP and y.numel() == T * flat.numel():
                return self._match_sequences(y, flat.unsqueeze(0).expand(T, *flat.shape))  # repeated over time
            return RESHAPED, None
        return self._match_sequences(y, origin.reshape(T, B, -1)) if y.numel() == origin.numel() else (RESHAPED, None)

    def _match_sequences(self, y, flat) -> tuple:
        """``(layout, per-sample shape)`` of ``y`` holding the ``[T, B, N]`` values ``flat`` in one of the sequence
        layouts, or ``(RESHAPED, None)``."""
        for layout in SEQUENCES:
            leading = _leading_axes(layout)
            expected = (self.T, self.batch) if layout in (STEPS, FOLDED) else (self.batch, self.T)
            shape_fits = y.shape[:2] == expected if leading == 2 else y.shape[:1] == (expected[0] * expected[1],)
            if y.dim() >= leading and shape_fits and torch.equal(self._as_steps(y, layout).reshape(flat.shape), flat):
                return layout, tuple(y.shape[leading:])
        return RESHAPED, None

    def _as_steps(self, tensor, layout):
        """``tensor`` in ``layout`` as ``[T, B, ...]``."""
        if layout == FOLDED:
            return tensor.reshape(self.T, self.batch, *tensor.shape[1:])
        if layout == BATCH_FOLDED:
            tensor = tensor.reshape(self.batch, self.T, *tensor.shape[1:])
        return tensor.transpose(0, 1) if layout in (BATCH_STEPS, BATCH_FOLDED) else tensor

    def _time_mean(self, node):
        """``y.mean(0)`` of ``[T, B, ...]`` (``y.mean(1)`` of ``[B, T, ...]``): the readout when ``y`` is a linear
        layer's output, else a mean that must feed one."""
        value = self._value(node, 0)
        if (value.layout, self._mean_axis(node)) not in ((STEPS, 0), (BATCH_STEPS, 1)):
            raise UnsupportedModuleError(f"{self._where(node)}: a mean over axis {self._mean_axis(node)} of "
                                         f"{value.layout} is not a mean over time; average [T, B, ...] sequences "
                                         f"over axis 0 (x.view(T, B, ...).mean(0)) or [B, T, ...] over axis 1")
        readout = self._readout_of(value)
        self.values[node] = readout if readout.layout == FINAL else Value(value.name, TIME_MEAN)

    def _readout_after_mean(self, node, module, source: Value):
        """``linear(x.mean(0))``: the linear layer of the time-mean is the readout (a mean commutes with it)."""
        op = self._op(node.target, module, self.graph[source.name].info)
        if type(op) is not Linear:
            raise UnsupportedModuleError(f"{self._where(node)}: a mean over time must feed the readout (a linear "
                                         f"layer) or be the model output")
        name = self._emit(node, Readout(op.weight, op.bias), [source.name], f"{node.target}.readout")
        self._record(node, name, FINAL)

    def _readout_of(self, value: Value) -> Value:
        """The linear layer holding ``value`` as the readout (the mean over time of its outputs), if it is one."""
        linear = self.graph[value.name]
        if type(linear.op) is not Linear or self.graph.consumers(linear.name) or linear.name in self.graph.outputs:
            return value
        self.graph.remove(linear.name)
        name = self._unique(f"{linear.name}.readout")
        self.graph.add(name, Readout(linear.op.weight, linear.op.bias), linear.inputs)
        return Value(name, FINAL)

    # -- helpers ------------------------------------------------------------------------------------------------
    def _value(self, node, index: int) -> Value:
        argument = node.args[index]
        if not isinstance(argument, fx.Node):
            raise UnsupportedModuleError(f"{self._where(node)}: argument {index} must be a tensor, got {argument!r}")
        return self._value_of(node, argument)

    def _value_of(self, node, argument) -> Value:
        value = self.values[argument]
        if value.layout == PENDING_INPUT:
            self._frames_input(argument)
            value = self.values[argument]
        return value

    def _record(self, node, name: str, layout: str):
        """``node``'s value is IR node ``name`` in ``layout``; its shape is checked against the IR's."""
        tensor = node.meta["value"]
        traced = tuple(tensor.shape[_leading_axes(layout):])
        if traced != self.graph[name].info.shape:
            raise UnsupportedModuleError(f"{self._where(node)}: PyTorch produced per-sample shape {traced} but the IR "
                                         f"infers {self.graph[name].info.shape} ({layout}); is the layer applied per "
                                         f"timestep?")
        sequences = self._as_steps(tensor, layout) if layout in TIME_LAYOUTS else None
        self.values[node] = Value(name, layout, sequences, layout in SEQUENCES)

    def _emit(self, node, op, inputs, name=None):
        """Add ``op`` reading ``inputs`` (``None``: an identity, nothing added); the name of the node holding the
        result."""
        if op is None:
            return inputs[0]
        name = self._unique(name or (node.target if node.op == "call_module" else self._function_name(node)))
        self.graph.add(name, op, inputs)
        return name

    def _unique(self, base: str) -> str:
        """``base``, or ``base_1``, ``base_2``, ... when a module is called at several places."""
        name, suffix = base, 0
        while name in self.graph:
            suffix += 1
            name = f"{base}_{suffix}"
        return name

    def _function_name(self, node) -> str:
        """``<enclosing module path>.add`` for a function, else the fx node's name."""
        stack = node.meta.get("nn_module_stack") or {}
        if not stack:
            return node.name
        return f"{next(reversed(stack.values()))[0]}.{getattr(node.target, '__name__', node.target)}"

    def _mean_axis(self, node):
        """The one axis a ``mean`` call averages over, or None."""
        dims = node.args[1] if len(node.args) > 1 else node.kwargs.get("dim")
        dims = dims[0] if isinstance(dims, (tuple, list)) and len(dims) == 1 else dims
        return dims if isinstance(dims, int) and not node.kwargs.get("keepdim", False) else None

    def _is_time_mean(self, node) -> bool:
        return self._mean_axis(node) in (0, 1)

    def _layout_hint(self, value: Value) -> str:
        if value.layout == RESHAPED:
            return (f"after this reshape the frontend cannot tell the time axis (T={self.T}, batch {self.batch}): "
                    f"per-timestep tensors are [T, B, ...] or [T*B, ...]; flatten only the sample axes")
        if value.layout == COMPLEMENT:
            return "`1 - spikes` must be multiplied by spikes (SEW IAND)"
        return "the readout must be last"

    def _where(self, node) -> str:
        stack = node.meta.get("nn_module_stack") or {}
        path, module_type = list(stack.values())[-1] if stack else ("", None)
        where = f" in module {path!r} ({getattr(module_type, '__name__', module_type)})" if path else ""
        target = getattr(node.target, "__name__", node.target)
        return f"{node.op} {target!r} (fx node {node.name!r}){where}{node_source_line(node)}"

    def _unsupported_call(self, node):
        stack = node.meta.get("nn_module_stack") or {}
        path, module_type = list(stack.values())[-1] if stack else ("", None)
        fix = (f"if {getattr(module_type, '__name__', module_type)} is a neuron or layer, register a converter for "
               f"it (snncompile.frontend.register) so that it is traced whole; ") if path else ""
        return UnsupportedModuleError(f"{self._where(node)} is not supported; {fix}{supported_summary()}")

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
