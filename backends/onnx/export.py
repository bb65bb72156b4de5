"""Export an IR graph as an ONNX model that onnxruntime runs exactly like the NumPy simulator.

**Time is unrolled.** The model holds ``T`` copies of the graph's nodes, one per timestep, chained through the
membranes. Unrolling keeps the model a flat dataflow graph that onnxruntime optimizes as a whole (fusions, constant
folding, memory planning across steps) and that needs no control flow, so the membranes' shapes follow the batch
without loop-carried state. Weights are initializers shared by every step: the file grows with ``T`` only by node
records (about 10 small nodes per IR node per step), not by tensors. A ``Loop`` would keep the node count
independent of ``T`` at the price of an opaque subgraph run step by step; for the ``T`` of direct-coded SNNs (2 to a
few dozen) unrolling is the better trade. ``T`` is fixed at export (it is in the model's metadata); the batch is
dynamic. Nodes whose value cannot change over time (a direct input and the host layers that read only it) are
computed once.

**Names.** The value of IR node ``n`` at step ``t`` is ``n@t`` (:func:`step_value`), for every node and step;
temporaries are ``n@t/what``; weights ``n.what``. Outputs: ``output`` (the graph's first output averaged over the
steps, divided by a readout's ``output_scale``), ``spike_counts/n`` (``[T, B]`` int64, the events node ``n`` emitted
per step and sample, for every node emitting spikes or counts) and, when asked, ``recorded/n`` (``[T, B, *shape]``).

**Types.** Values between nodes are float64, as in the simulator. Integer neurons compute in int64 (their wrap,
decays, saturation and comparison are :mod:`snncompile.integer`'s, op for op); their current ``u`` is state only when
it decays (``Du > 0``), so a graph without current decay exports as it did before ``Du`` existed. onnxruntime has no
float64 ``Conv`` or ``AveragePool``, so float64 convolutions are an im2col (one strided ``Slice`` per kernel tap,
``MatMul``) and pooling sums the taps. A convolution or linear map whose input is events and whose integer weights
bound every partial sum below the chip's current range computes in float32 instead (native ``Conv``/``MatMul``; the
simulator's own test, :func:`~snncompile.backends.numpy.kernels.exact_in_float32`): every partial sum is then an
integer that float32 holds exactly, in any summation order. That is every on-chip synapse of a quantized graph. The
host part of a quantized graph (a float layer on the analog input, then ``Quantize``) is float64 like the simulator's;
the two sum in different orders, so a current within a few ulps of a ``.5`` tie could round differently.
"""

from dataclasses import dataclass

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from snncompile.ir.ops import (LIF, MLF, Add, Affine, AvgPool2d, BatchNorm, Conv2d, Flatten, Input, IntLIF, Linear,
                               MaxPool2d, Quantize, Readout, SEWLogic, SumPool2d)

from ..base import ops_without_support, unsupported_error
from ..numpy.kernels import CHIP, exact_in_float32, in_dtype

OPSET = 17
PRODUCER = "snncompile"
T_KEY = "snncompile.T"
OUTPUT = "output"
SPIKE_COUNTS = "spike_counts/"
RECORDED = "recorded/"
BATCH = "batch"
# The integer neurons run the simulator's chip (``CHIP``), whose state wraps as
# wrap_state(x) = (x + WRAP_OFFSET) mod STATE_SPAN - WRAP_OFFSET: into (-2**23, 2**23] on Loihi 2.
STATE_SPAN = 1 << CHIP.state_bits
WRAP_OFFSET = STATE_SPAN // 2 - 1

DOUBLE, FLOAT, INT64 = TensorProto.DOUBLE, TensorProto.FLOAT, TensorProto.INT64


def step_value(name: str, t: int) -> str:
    """The ONNX value holding IR node ``name``'s output at step ``t``."""
    return f"{name}@{t}"


class Builder:
    """The ONNX nodes and initializers of a model under construction."""

    def __init__(self):
        self.nodes = []
        self.initializers = {}

    def add(self, op_type: str, inputs, output: str, **attributes) -> str:
        self.nodes.append(helper.make_node(op_type, list(inputs), [output], name=output, **attributes))
        return output

    def constant(self, name: str, array) -> str:
        """An initializer named ``name`` (created once; later calls reuse it)."""
        if name not in self.initializers:
            self.initializers[name] = numpy_helper.from_array(np.asarray(array), name)
        return name

    def scalar(self, value, dtype=np.float64) -> str:
        return self.constant(f"{np.dtype(dtype).name}:{value!r}", np.array(value, dtype))

    def shape(self, dims) -> str:
        return self.constant("shape:" + ",".join(map(str, dims)), np.array(dims, np.int64))


@dataclass
class Site:
    """One IR node at one timestep: the op (tensors in float64, as the simulator computes with them), the values of its
    inputs at this step, and its state at the previous step (``None`` at the first step): the membrane of a float
    population, ``(u, v)`` of an integer one."""

    builder: Builder
    node: object
    op: object
    inputs: list
    in_infos: tuple
    t: int
    state: object = None

    @property
    def output(self) -> str:
        return step_value(self.node.name, self.t)

    def emit(self, op_type: str, inputs, what: str | None = None, **attributes) -> str:
        """Add one ONNX node writing the site's output, or the temporary ``what``."""
        name = self.output if what is None else f"{self.output}/{what}"
        return self.builder.add(op_type, inputs, name, **attributes)

    def param(self, what: str, array) -> str:
        return self.builder.constant(f"{self.node.name}.{what}", array)

    def channel(self, what: str, vector) -> str:
        """A per-channel vector shaped to broadcast over a sample's channel axis (axis 1 of ``[B, C, ...]``)."""
        return self.param(what, np.asarray(vector).reshape(-1, *[1] * (len(self.node.info.shape) - 1)))


# --- glue ----------------------------------------------------------------------------------------------------------

def flatten(site):
    site.emit("Flatten", site.inputs, axis=1)


def max_pool2d(site):
    op = site.op
    site.emit("MaxPool", site.inputs, kernel_shape=list(op.kernel), strides=list(op.stride), pads=pads(op.padding))


def batch_norm(site):
    op, (x,) = site.op, site.inputs
    centred = site.emit("Sub", [x, site.channel("mean", op.mean)], "centred")
    scaled = site.emit("Mul", [centred, site.channel("scale", op.scale())], "scaled")
    site.emit("Add", [scaled, site.channel("bias", op.bias)])


def affine(site):
    op, (x,) = site.op, site.inputs
    scaled = site.emit("Mul", [x, site.channel("scale", op.scale)], "scaled")
    site.emit("Add", [scaled, site.channel("shift", op.shift)])


def add(site):
    """``((x_1 + x_2) + x_3) + ...``: the simulator's order."""
    total = site.inputs[0]
    for index, term in enumerate(site.inputs[1:], 1):
        total = site.emit("Add", [total, term], None if index == len(site.inputs) - 1 else f"sum{index}")


def sew_logic(site):
    branch, shortcut = site.inputs
    if site.op.function == "IAND":
        branch = site.emit("Sub", [site.builder.scalar(1.0), branch], "not")
    site.emit("Mul", [branch, shortcut])


def quantize(site):
    """``rint(x * scale)``: ONNX ``Round`` rounds half to even, as ``np.rint``."""
    scaled = site.emit("Mul", [site.inputs[0], site.builder.scalar(float(site.op.scale))], "scaled")
    site.emit("Round", [scaled])


# --- synapses ------------------------------------------------------------------------------------------------------

def pads(padding: tuple) -> list:
    return [*padding, *padding]


def in_float32(site, op_type: str, weight: np.ndarray, what: str, **attributes) -> str:
    """``op_type(x, weight)`` computed in float32 (exact when :func:`~snncompile.backends.numpy.kernels.exact_in_float32`
    holds), back in float64."""
    x32 = site.emit("Cast", site.inputs, "float32", to=FLOAT)
    y32 = site.emit(op_type, [x32, site.param(f"{what}_float32", weight.astype(np.float32))], what, **attributes)
    return site.emit("Cast", [y32], f"{what}_float64", to=DOUBLE)


def windows(site) -> tuple:
    """One value ``[B, C, H_out, W_out]`` per kernel tap (row-major taps): the input under the tap at every output
    position, zero-padded; and the output plane ``(H_out, W_out)``."""
    op, (x,) = site.op, site.inputs
    (kh, kw) = op.kernel
    (sh, sw), (ph, pw) = op.stride, op.padding
    _, h_out, w_out = site.node.info.shape
    if ph or pw:
        x = site.emit("Pad", [x, site.builder.constant(f"pads:{ph},{pw}", np.array([0, 0, ph, pw, 0, 0, ph, pw]))],
                      "padded")
    taps = []
    for u in range(kh):
        for v in range(kw):
            bounds = np.array([[u, v], [u + sh * (h_out - 1) + 1, v + sw * (w_out - 1) + 1], [2, 3], [sh, sw]])
            inputs = [x] + [site.builder.constant(f"slice:{what}:" + ",".join(map(str, values)), values)
                            for what, values in zip(("starts", "ends", "axes", "steps"), bounds)]
            taps.append(site.emit("Slice", inputs, f"tap{u}_{v}"))
    return taps, (h_out, w_out)


def conv2d(site):
    """Native float32 ``Conv`` when exact, else im2col in float64: the taps stacked along the channels
    ``[B, kH*kW*C, H_out*W_out]`` times the weight as ``[C_out, kH*kW*C]``."""
    op = site.op
    if exact_in_float32(op, site.in_infos[0]):
        y = in_float32(site, "Conv", op.weight, "conv", strides=list(op.stride), pads=pads(op.padding))
    else:
        c_out, c_in, kh, kw = op.weight.shape
        taps, (h_out, w_out) = windows(site)
        stacked = site.emit("Concat", taps, "columns", axis=1)
        columns = site.emit("Reshape", [stacked, site.builder.shape([0, kh * kw * c_in, -1])], "columns_flat")
        matrix = site.param("weight_columns", op.weight.transpose(0, 2, 3, 1).reshape(c_out, -1))
        product = site.emit("MatMul", [matrix, columns], "product")
        y = site.emit("Reshape", [product, site.builder.shape([0, c_out, h_out, w_out])], "conv")
    with_bias(site, y, None if op.bias is None else site.channel("bias", op.bias))


def linear(site):
    op, (x,) = site.op, site.inputs
    if exact_in_float32(op, site.in_infos[0]):
        y = in_float32(site, "MatMul", op.weight.T, "matmul")
    else:
        y = site.emit("MatMul", [x, site.param("weight_t", op.weight.T)], "matmul")
    with_bias(site, y, None if op.bias is None else site.param("bias", op.bias))


def with_bias(site, y: str, bias: str | None):
    if bias is None:
        site.emit("Identity", [y])
    else:
        site.emit("Add", [y, bias])


def avg_pool2d(site):
    """The taps' sum divided by the window size (zero padding counted), as the simulator."""
    taps, _ = windows(site)
    total = site.emit("Sum", taps, "sum")
    site.emit("Div", [total, site.builder.scalar(float(site.op.kernel[0] * site.op.kernel[1]))])


def sum_pool2d(site):
    taps, _ = windows(site)
    total = site.emit("Sum", taps, "sum")
    site.emit("Mul", [total, site.builder.scalar(float(site.op.weight))])


# --- populations: return their state after this step ---------------------------------------------------------------

def population(site) -> str:
    """LIF and MLF neurons in the simulator's float64 order (:class:`~snncompile.backends.numpy.kernels.FloatMembranes`):
    membranes ``[K, B, *shape]``, one per level; the output is the number of levels that fired."""
    op, (x,) = site.op, site.inputs
    current = x if op.input_gain == 1 else site.emit("Mul", [x, site.builder.scalar(float(op.input_gain))], "current")
    if site.state is None:  # every membrane starts at 0, so decay * v + current is the current
        v_pre = current
    else:
        decayed = site.state if op.decay == 1 else site.emit(
            "Mul", [site.state, site.builder.scalar(float(op.decay))], "decayed")
        v_pre = site.emit("Add", [decayed, current], "v_pre")
    thresholds = site.param("thresholds", np.reshape(op.thresholds, (op.levels, *[1] * (1 + len(site.node.info.shape)))))
    fired = site.emit("GreaterOrEqual" if op.inclusive else "Greater", [v_pre, thresholds], "fired")
    spikes = site.emit("Cast", [fired], "spikes", to=DOUBLE)
    site.emit("ReduceSum", [spikes, site.builder.constant("axes:0", np.array([0]))], keepdims=0)
    if op.reset == "hard":  # where(s, v_reset, v_pre) equals v_pre * (1 - s) + v_reset * s for finite membranes
        return site.emit("Where", [fired, site.builder.scalar(float(op.v_reset)), v_pre], "membrane")
    lowered = site.emit("Mul", [thresholds, spikes], "lowered")
    return site.emit("Sub", [v_pre, lowered], "membrane")


def int_population(site) -> tuple:
    """The chip's integer CUBA LIF (:func:`snncompile.integer.cuba_step`) in int64, op for op; returns its state
    ``(u, v)``, with ``u = None`` when the current has no memory (``Du = 0``: it is this step's ``I << 6`` alone)."""
    op, (x,) = site.op, site.inputs
    scalar = site.builder.scalar
    previous_u, previous_v = site.state or (None, None)
    current = site.emit("Cast", [x], "current", to=INT64)
    shifted = site.emit("Mul", [current, scalar(1 << CHIP.current_shift, np.int64)], "shifted")
    if previous_u is not None:
        kept = decay_12bit(site, previous_u, op.current_decay_12bit, "current_")
        shifted = site.emit("Add", [kept, shifted], "current_plus_input")
    offset = site.emit("Add", [shifted, scalar(WRAP_OFFSET, np.int64)], "offset")
    wrapped = site.emit("Mod", [offset, scalar(STATE_SPAN, np.int64)], "wrapped")
    u = site.emit("Sub", [wrapped, scalar(WRAP_OFFSET, np.int64)], "u")
    v = u if previous_v is None else site.emit("Add", [decay_12bit(site, previous_v, op.decay_12bit), u], "v_plus_u")
    if op.bias is not None:
        bias_shifted = site.channel("bias_shifted", op.bias.astype(np.int64) << CHIP.current_shift)
        v = site.emit("Add", [v, bias_shifted], "v_plus_bias")
    saturated = site.emit("Clip", [v, scalar(-CHIP.state_max, np.int64), scalar(CHIP.state_max, np.int64)],
                          "saturated")
    fired = site.emit("Greater", [saturated, scalar(op.threshold << CHIP.current_shift, np.int64)], "fired")
    site.emit("Cast", [fired], to=DOUBLE)
    membrane = site.emit("Where", [fired, scalar(0, np.int64), saturated], "membrane")
    return (u if op.current_decay_12bit else None), membrane


def decay_12bit(site, x: str, kept: int, prefix: str = "") -> str:
    """``sign(x) * ((|x| * kept) >> 12)``: ``Div`` of a non-negative integer truncates, as the shift does.
    Temporaries are named ``<prefix>magnitude`` etc."""
    if kept == CHIP.decay_one:
        return x
    scalar = site.builder.scalar
    magnitude = site.emit("Abs", [x], f"{prefix}magnitude")
    scaled = site.emit("Mul", [magnitude, scalar(kept, np.int64)], f"{prefix}magnitude_scaled")
    kept_magnitude = site.emit("Div", [scaled, scalar(CHIP.decay_one, np.int64)], f"{prefix}magnitude_kept")
    sign = site.emit("Sign", [x], f"{prefix}sign")
    return site.emit("Mul", [sign, kept_magnitude], f"{prefix}decayed")


STATELESS = {Flatten: flatten, MaxPool2d: max_pool2d, BatchNorm: batch_norm, Affine: affine, Add: add,
             SEWLogic: sew_logic, Quantize: quantize, Conv2d: conv2d, Linear: linear, Readout: linear,
             AvgPool2d: avg_pool2d, SumPool2d: sum_pool2d}
POPULATIONS = {LIF: population, MLF: population, IntLIF: int_population}
SUPPORTED = frozenset({Input, *STATELESS, *POPULATIONS})


def unsupported(graph) -> list:
    """One line per node of ``graph`` the exporter cannot handle, naming the node and why."""
    problems = []
    if not graph.outputs:
        problems.append(f"graph {graph.name!r} has no outputs: the model would compute nothing")
    return problems + ops_without_support(graph, SUPPORTED, "the ONNX exporter has no translation")


def time_invariant(graph) -> set:
    """Nodes whose value is the same at every step: direct inputs and the stateless nodes reading only them."""
    constant = set()
    for node in graph:
        if isinstance(node.op, Input) and node.op.encoding == "direct" or (
                node.inputs and type(node.op) in STATELESS and all(i in constant for i in node.inputs)):
            constant.add(node.name)
    return constant


def export(graph, T: int) -> onnx.ModelProto:
    """The ONNX model of ``graph`` unrolled over ``T`` steps, with its ``output`` and every event node's
    ``spike_counts/<node>``. Raises :class:`~snncompile.errors.UnsupportedNodeError` listing every node it cannot
    translate."""
    problems = unsupported(graph)
    if problems:
        raise unsupported_error("onnx", graph, problems)
    builder, states, constant = Builder(), {}, time_invariant(graph)
    for t in range(T):
        for node in graph:
            name = step_value(node.name, t)
            if t and node.name in constant:
                builder.add("Identity", [step_value(node.name, 0)], name)
            elif isinstance(node.op, Input):
                read_input(builder, node, t)
            else:
                site = Site(builder, node, in_dtype(node.op, np.float64), [step_value(i, t) for i in node.inputs],
                            tuple(graph[i].info for i in node.inputs), t, states.get(node.name))
                if type(node.op) in POPULATIONS:
                    states[node.name] = POPULATIONS[type(node.op)](site)
                else:
                    STATELESS[type(node.op)](site)
    outputs = [average_output(builder, graph, T)]
    for node in graph:
        if node.info.is_events:
            outputs.append(spike_counts(builder, node, T))
    model = helper.make_model(
        helper.make_graph(builder.nodes, graph.name, [input_info(node, T) for node in graph.input_nodes], outputs,
                          list(builder.initializers.values())),
        opset_imports=[helper.make_opsetid("", OPSET)], producer_name=PRODUCER,
        doc_string=f"snncompile graph {graph.name!r} unrolled over T={T} timesteps")
    helper.set_model_props(model, {T_KEY: str(T)})
    return model


def read_input(builder: Builder, node, t: int) -> None:
    """A direct input is the graph input itself; step ``t`` of a frames input ``[T, B, ...]`` is its slice ``t``."""
    name = step_value(node.name, t)
    if node.op.encoding == "direct":
        builder.add("Identity", [node.name], name)
    else:
        builder.add("Gather", [node.name, builder.scalar(t, np.int64)], name, axis=0)


def input_info(node, T: int) -> onnx.ValueInfoProto:
    steps = [] if node.op.encoding == "direct" else [T]
    return helper.make_tensor_value_info(node.name, DOUBLE, [*steps, BATCH, *node.info.shape])


def average_output(builder: Builder, graph, T: int) -> onnx.ValueInfoProto:
    """``output = (((y@0 + y@1) + ...) / T) / output_scale`` for the graph's first output ``y``, as the simulator."""
    node = graph[graph.outputs[0]]
    total = step_value(node.name, 0)
    for t in range(1, T):
        total = builder.add("Add", [total, step_value(node.name, t)], f"{node.name}/sum@{t}")
    mean = builder.add("Div", [total, builder.scalar(float(T))], f"{node.name}/mean")
    builder.add("Div", [mean, builder.scalar(float(getattr(node.op, "output_scale", 1.0)))], OUTPUT)
    return helper.make_tensor_value_info(OUTPUT, DOUBLE, [BATCH, *node.info.shape])


def stack_steps(builder: Builder, values: list, sample_shape: tuple, output: str) -> str:
    """``[T, B, *sample_shape]`` from one ``[B, *sample_shape]`` value per step."""
    stacked = builder.add("Concat", values, f"{output}/concat", axis=0)
    return builder.add("Reshape", [stacked, builder.shape([len(values), -1, *sample_shape])], output)


def spike_counts(builder: Builder, node, T: int) -> onnx.ValueInfoProto:
    """``spike_counts/<node>`` ``[T, B]`` int64: the sum of the node's output per step and sample."""
    axes = builder.constant(f"axes:1..{len(node.info.shape)}", np.arange(1, 1 + len(node.info.shape)))
    sums = [builder.add("ReduceSum", [step_value(node.name, t), axes], f"{node.name}/events@{t}", keepdims=0)
            for t in range(T)]
    output = SPIKE_COUNTS + node.name
    builder.add("Cast", [stack_steps(builder, sums, (), f"{output}/float")], output, to=INT64)
    return helper.make_tensor_value_info(output, INT64, [T, BATCH])


def with_records(model: onnx.ModelProto, graph, names) -> onnx.ModelProto:
    """A copy of ``model`` (exported from ``graph``) with an extra output ``recorded/<name>`` ``[T, B, *shape]`` per
    node name: the node's output at every step."""
    T = model_T(model)
    recorded = onnx.ModelProto()
    recorded.CopyFrom(model)
    builder = Builder()
    for name in dict.fromkeys(names):
        shape = graph[name].info.shape
        output = stack_steps(builder, [step_value(name, t) for t in range(T)], shape, RECORDED + name)
        recorded.graph.output.append(helper.make_tensor_value_info(output, DOUBLE, [T, BATCH, *shape]))
    recorded.graph.node.extend(builder.nodes)
    present = {initializer.name for initializer in model.graph.initializer}
    recorded.graph.initializer.extend(i for name, i in builder.initializers.items() if name not in present)
    return recorded


def model_T(model: onnx.ModelProto) -> int:
    """The number of timesteps ``model`` was unrolled over."""
    return int({prop.key: prop.value for prop in model.metadata_props}[T_KEY])
