"""An IR graph (float or integer, lowered) as a NIR graph: one NIR node per IR node; sums become NIR's summed edges.

Each IR op maps to the NIR node that computes the same thing (the discretisation: :mod:`.euler`):

- ``Input`` -> ``Input``; the graph's output -> an ``Output`` node named :data:`OUTPUT`.
- ``Conv2d`` -> ``Conv2d``; ``Linear`` and ``Readout`` -> ``Affine``; ``AvgPool2d`` -> ``AvgPool2d``; ``Flatten`` ->
  ``Flatten`` (all axes of a sample); ``SumPool2d`` -> ``SumPool2d`` (weight 1), or a channel-diagonal ``Conv2d``
  holding its weight; the per-channel ``Affine`` -> a 1x1 ``Conv2d`` (``(C, H, W)``) or an ``Affine`` (``(N,)``),
  with diagonal weights.
- ``LIF`` and ``IntLIF`` -> ``LIF`` (leaky) or ``IF`` (no leak), one node per population: a lowered MLF unit is its K
  LIF nodes. An ``IntLIF`` is written as the float neuron it equals up to its integer rounding (``decay = D/4096``,
  threshold and weights in integer units); its bias goes to a synapse feeding it (a current plus a bias is the same
  integer sum). An ``IntLIF`` that keeps some of its current (``Du > 0``) is a ``CubaLIF`` (``current_decay =
  Du/4096``) whose bias is its ``v_leak`` (a bias on the synapse would decay with the current).
- ``Quantize`` -> nothing: its scale is folded into the host-computed synapse before it (NIR has no rounding, and
  most tools no ``Scale``); its readers read that synapse.
- ``Add`` -> nothing: its inputs' edges go to its readers, which NIR sums (residual joins, MLF level sums).

A float graph is written as it is (a LIF firing at ``v >= threshold``, ``inclusive``, as NIR's ``>``: the same
spikes unless a membrane lands exactly on its threshold). An integer graph (``metadata["integer"]``) is written as
the float network its integers mean (:mod:`.euler`, "Integer NIR"): every tensor a float, thresholds ``theta +
0.5``, the readout divided by its ``output_scale``. NIR 1.0.8 infers a convolution's output from a square kernel
(``weight.shape[2]`` for both axes) and rejects other kernels when a file is read; a ``kh x kw`` kernel is written
zero-padded to a square with the padding grown to match, when ``|kh - kw|`` is even (otherwise :func:`unsupported`
refuses it). Neuron parameters are per-neuron arrays: nir 1.0.8's reader infers a neuron's shape from them and
refuses scalars.

Every node carries ``metadata["snncompile"]``: its IR op and attributes as JSON, and under ``metadata["tensors"]`` the
IR tensors the NIR fields do not hold as they are (an IntLIF's bias, a synapse's own bias under a population's, the
integer readout), with every tensor's dtype, so that snncompile reads its own files back exactly (:mod:`.importer`);
other tools read the NIR fields. The graph's ``metadata["snncompile"]`` holds its name, metadata, outputs and every
``Add`` and ``Quantize`` with its inputs (``glue``), so that nested sums (an MLF unit's level sum read by a residual
join) and the host's rounding come back as the nodes they were.

The mapping is :data:`NIR_NODES`, one function per IR op type. What NIR cannot express is reported by
:func:`unsupported`, one line per node: every op a lowering pass removes (naming the pass), soft reset, and the few
shapes of graph that NIR's summed edges (or nir 1.0.8's square kernels) cannot hold.
"""

import json

import nir
import numpy as np

from snncompile.chip import LOIHI2
from snncompile.ir import Graph
from snncompile.ir.serialize import json_value
from snncompile.ir.ops import (LIF, MLF, Add, Affine, AvgPool2d, BatchNorm, Conv2d, Flatten, Input, IntLIF, Linear,
                               MaxPool2d, Quantize, Readout, SEWLogic, SumPool2d)

from . import euler
from .tensors import NODE_KEY, OUTPUT, TENSORS_KEY, nir_tensors

# Why NIR has no node for an op that a lowering pass removes (``op.lowered_by``); any other such op: NO_NIR_NODE.
NIR_GAPS = {
    MLF: "an MLF unit has no NIR node (its K levels become K LIF nodes)",
    SEWLogic: "SEW AND/IAND joins multiply spikes, and NIR only sums its inputs",
    MaxPool2d: "NIR 1.0 has no max pooling",
    BatchNorm: "NIR holds a batch normalisation only folded into its synapse",
}
NO_NIR_NODE = "NIR has no node for it"
GLUE = (Add, Quantize)  # ops written as edges (sums) or into the synapse before them (the host's rounding)
INTEGER_THRESHOLD_OFFSET = 0.5  # integer NIR: v > theta iff v >= theta + 0.5, for tools firing at > and at >=


def unsupported(graph: Graph) -> list:
    """One line per node of ``graph`` that NIR cannot express, naming the node and why."""
    problems = []
    for node in graph:
        op = node.op
        if op.lowered_by is not None:
            problems.append(f"node {node.name!r} ({op.kind}): {NIR_GAPS.get(type(op), NO_NIR_NODE)}; lower it first "
                            f"(pass {op.lowered_by})")
        elif isinstance(op, LIF) and op.reset != "hard":
            problems.append(f"node {node.name!r} (LIF): soft reset (subtract the threshold) has no NIR form; NIR "
                            f"neurons reset to v_reset")
        elif isinstance(op, Add) and len(set(node.inputs)) < len(node.inputs):
            problems.append(f"node {node.name!r} (Add): sums a value with itself; NIR edges cannot repeat")
        elif isinstance(op, IntLIF) and op.current_decay_12bit and op.decay_12bit == LOIHI2.decay_one:
            problems.append(f"node {node.name!r} (IntLIF): keeps its current (Du = {op.current_decay_12bit}) and all "
                            f"of its membrane (no leak); NIR's CubaLIF has no form without a membrane time constant")
        elif _carried_bias(op) and _bias_carrier(graph, node.name) is None:
            problems.append(f"node {node.name!r} (IntLIF): its bias needs a Conv2d, Linear or Affine synapse at its "
                            f"input to carry it in NIR")
        elif isinstance(op, Readout) and graph.nx.out_degree(node.name):
            problems.append(f"node {node.name!r} (Readout): read by other nodes; a readout is the graph's output")
        elif isinstance(op, Conv2d) and (op.kernel[0] - op.kernel[1]) % 2:
            problems.append(f"node {node.name!r} (Conv2d): kernel {op.kernel[0]}x{op.kernel[1]}; nir 1.0.8 reads "
                            f"only square kernels, and this one cannot be zero-padded to a square symmetrically")
    if len(graph.outputs) != 1:
        problems.append(f"graph {graph.name!r}: one output expected, got {graph.outputs}")
    return problems


def to_nir(graph: Graph) -> nir.NIRGraph:
    """The NIR graph of ``graph`` (check it with :func:`unsupported` first)."""
    biases, host_scales = _population_biases(graph), _host_scales(graph)
    integer = bool(graph.metadata.get("integer"))
    nodes, edges = {}, []
    for node in graph:
        if isinstance(node.op, GLUE):
            continue
        nodes[node.name] = _nir_node(graph, node, biases.get(node.name), host_scales.get(node.name, 1.0), integer)
        edges += [(source, node.name) for source in summed_sources(graph, node.inputs)]
    output, output_name = graph[graph.outputs[0]], OUTPUT
    while output_name in graph:
        output_name += "_"
    nodes[output_name] = nir.Output(output_type=np.array(output.info.shape))
    edges += [(source, output_name) for source in summed_sources(graph, [output.name])]
    glue = {node.name: {"op": node.op.kind, "attributes": node.op.attributes(), "inputs": node.inputs}
            for node in graph if isinstance(node.op, GLUE)}
    document = {"name": graph.name, "metadata": graph.metadata, "outputs": graph.outputs, "order": list(nodes),
                "dt": euler.DT, "glue": glue}
    return nir.NIRGraph(nodes, edges, metadata={NODE_KEY: json.dumps(document, default=json_value)})


def summed_sources(graph: Graph, names) -> list:
    """The nodes with a NIR node whose values the sums among ``names`` add up (each ``Add`` and ``Quantize``
    replaced by its inputs): NIR sums every node's incoming edges, events and currents alike, so every ``Add`` becomes
    edges, and a ``Quantize`` lives in the synapse before it."""
    sources = []
    for name in names:
        node = graph[name]
        sources += summed_sources(graph, node.inputs) if isinstance(node.op, GLUE) else [name]
    return sources


def _host_scales(graph: Graph) -> dict:
    """Synapse name -> the scale of the ``Quantize`` that reads it (folded into its NIR weights)."""
    return {source: node.op.scale for node in graph if isinstance(node.op, Quantize)
            for source in summed_sources(graph, node.inputs)}


def _bias_carrier(graph: Graph, population: str):
    """The synapse with a bias field feeding ``population`` (directly or through a sum) that holds its bias in NIR,
    or ``None``."""
    candidates = summed_sources(graph, graph[population].inputs)
    return next((name for name in candidates if graph[name].op.bias_field is not None), None)


def _carried_bias(op) -> bool:
    """Whether ``op`` is an IntLIF whose bias a synapse carries in NIR (a CubaLIF holds its own, as ``v_leak``)."""
    return isinstance(op, IntLIF) and op.bias is not None and not op.current_decay_12bit


def _population_biases(graph: Graph) -> dict:
    """Synapse name -> the IntLIF bias it carries (populations sharing a synapse share their bias)."""
    carried = {}
    for node in graph:
        if _carried_bias(node.op):
            carrier = _bias_carrier(graph, node.name)
            if carrier in carried and not np.array_equal(carried[carrier], node.op.bias):
                raise ValueError(f"populations fed by {carrier!r} have different biases; NIR holds one per synapse")
            carried[carrier] = node.op.bias
    return carried


def _nir_node(graph: Graph, node, carried_bias, host_scale: float, integer: bool):
    """The NIR node of IR ``node``, with the metadata that restores it exactly. ``host_scale``: the scale of a
    ``Quantize`` reading it; ``integer``: the node belongs to an integer graph (half-integer thresholds)."""
    op = node.op
    in_shape = graph[node.inputs[0]].info.shape if node.inputs else node.info.shape
    if type(op) not in NIR_NODES:
        raise ValueError(f"node {node.name!r} ({op.kind}): no NIR mapping")
    written = op if host_scale == 1.0 else op.with_weights(
        op.weights() * host_scale, None if op.bias_values() is None else op.bias_values() * host_scale)
    made = NIR_NODES[type(op)](written, node.info.shape, in_shape, carried_bias)
    if integer and isinstance(made, (nir.IF, nir.LIF, nir.CubaLIF)):
        made.v_threshold = made.v_threshold + INTEGER_THRESHOLD_OFFSET
    stored = {"op": op.kind, "attributes": op.attributes(),
              "dtypes": {field: str(array.dtype) for field, array in op.tensors().items()}}
    if node.inputs and isinstance(graph[node.inputs[0]].op, GLUE):
        stored["sum"] = node.inputs[0]
    made.metadata = {NODE_KEY: json.dumps(stored, default=json_value)}
    unheld = {field: array for field, array in op.tensors().items() if not _held(type(op), field, array, made)}
    if unheld:
        made.metadata[TENSORS_KEY] = unheld
    return made


# --- one NIR node per IR op type: (op, output shape, input shape, carried population bias) -> NIR node -------------

def _input(op, shape, in_shape, carried_bias):
    return nir.Input(input_type=np.array(op.shape))


def _conv2d(op, shape, in_shape, carried_bias):
    return _conv(op.weight, _plus(op.bias, carried_bias, shape[0]), op.stride, op.padding, in_shape)


def _affine_map(op, shape, in_shape, carried_bias):
    """``Linear`` and ``Readout`` (divided by its ``output_scale``: the float logits): NIR ``Affine``."""
    scale = getattr(op, "output_scale", 1.0)
    return nir.Affine(weight=_floats(op.weight) / scale, bias=_plus(op.bias, carried_bias, shape[0]) / scale)


def _channel_affine(op, shape, in_shape, carried_bias):
    """The per-channel ``Affine``: a 1x1 ``Conv2d`` on ``(C, H, W)``, an ``Affine`` on ``(N,)``, diagonal weights."""
    bias = _plus(op.shift, carried_bias, shape[0])
    if len(shape) == 3:
        return _conv(_per_channel(op.scale, (1, 1)), bias, 1, 0, in_shape)
    return nir.Affine(weight=np.diag(_floats(op.scale)), bias=bias)


def _avg_pool2d(op, shape, in_shape, carried_bias):
    return nir.AvgPool2d(kernel_size=np.array(op.kernel), stride=np.array(op.stride), padding=np.array(op.padding))


def _sum_pool2d(op, shape, in_shape, carried_bias):
    """NIR ``SumPool2d`` (weight 1), or a channel-diagonal ``Conv2d`` holding the weight."""
    if op.weight == 1:
        return nir.SumPool2d(kernel_size=np.array(op.kernel), stride=np.array(op.stride), padding=np.array(op.padding))
    weight = _per_channel(np.full(in_shape[0], op.weight, np.int64), op.kernel)
    return _conv(weight, _plus(None, carried_bias, in_shape[0]), op.stride, op.padding, in_shape)


def _flatten(op, shape, in_shape, carried_bias):
    return nir.Flatten(input_type=np.array(in_shape), start_dim=0, end_dim=-1)


def _lif(op, shape, in_shape, carried_bias):
    return _neuron(shape, op.decay, op.input_gain, op.threshold, op.v_reset)


def _int_lif(op, shape, in_shape, carried_bias):
    """The float neuron an ``IntLIF`` equals up to its integer rounding: a LIF or IF (its bias is on a synapse feeding
    it) or, when it keeps some of its current, a CubaLIF (holding its bias)."""
    if not op.current_decay_12bit:
        return _neuron(shape, op.decay_fraction, 1.0, float(op.threshold), 0.0)
    bias = np.zeros(shape) if op.bias is None else op.bias.reshape(-1, *[1] * (len(shape) - 1))
    parameters = euler.cuba_parameters(op.current_decay_12bit / LOIHI2.decay_one, op.decay_fraction, 1.0, bias)
    return nir.CubaLIF(**{name: np.broadcast_to(value, shape).astype(np.float64) for name, value in parameters.items()},
                       v_threshold=np.full(shape, float(op.threshold)), v_reset=np.zeros(shape))


NIR_NODES = {Input: _input, Conv2d: _conv2d, Linear: _affine_map, Readout: _affine_map, Affine: _channel_affine,
             AvgPool2d: _avg_pool2d, SumPool2d: _sum_pool2d, Flatten: _flatten, LIF: _lif,
             IntLIF: _int_lif}


def _conv(weight, bias, stride, padding, in_shape: tuple) -> nir.Conv2d:
    """A NIR ``Conv2d``; a non-square kernel zero-padded to a square, its padding grown by as much on each side."""
    side = max(weight.shape[2:])
    grow = [(side - k) // 2 for k in weight.shape[2:]]
    square = np.pad(_floats(weight), [(0, 0), (0, 0), (grow[0], grow[0]), (grow[1], grow[1])])
    return nir.Conv2d(input_shape=tuple(in_shape[1:]), weight=square, stride=tuple(np.broadcast_to(stride, 2)),
                      padding=tuple(int(p) + g for p, g in zip(np.broadcast_to(padding, 2), grow)), dilation=(1, 1),
                      groups=1, bias=bias)


def _floats(array) -> np.ndarray:
    """``array`` with a float dtype (integer graphs' tensors as float64; float ones as they are)."""
    array = np.asarray(array)
    return array if array.dtype.kind == "f" else array.astype(np.float64)


def _per_channel(weights: np.ndarray, kernel: tuple) -> np.ndarray:
    """A convolution kernel ``[C, C, *kernel]`` connecting each channel only to itself, with one weight per channel
    (nir 1.0's type inference does not know grouped convolutions, so the kernel is dense)."""
    dense = np.zeros((len(weights), len(weights), *kernel), weights.dtype)
    dense[np.arange(len(weights)), np.arange(len(weights))] = weights[:, None, None]
    return dense


def _plus(bias, carried, channels: int) -> np.ndarray:
    """A synapse's own bias (zeros when it has none) plus the population bias it carries, as floats."""
    own = np.zeros(channels) if bias is None else _floats(bias)
    return own if carried is None else own + carried


def _neuron(shape: tuple, decay: float, input_gain: float, threshold: float, v_reset: float):
    def full(value):
        return np.full(shape, value, np.float64)

    if decay == 1:
        return nir.IF(r=full(euler.if_resistance(input_gain)), v_threshold=full(threshold), v_reset=full(v_reset))
    parameters = euler.lif_parameters(decay, input_gain)
    return nir.LIF(tau=full(parameters["tau"]), r=full(parameters["r"]), v_leak=full(0.0),
                   v_threshold=full(threshold), v_reset=full(v_reset))


def _held(op_type: type, field: str, array: np.ndarray, made) -> bool:
    """Whether NIR node ``made`` holds the values of IR tensor ``field`` where :mod:`.importer` looks for them
    (their dtype is in the node's metadata)."""
    held = nir_tensors(op_type, made).get(field)
    return held is not None and held.shape == array.shape and np.array_equal(held, array)

