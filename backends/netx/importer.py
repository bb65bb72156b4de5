"""A lava-dl netx network description (HDF5, as slayer's ``export_hdf5`` writes it) as an integer IR graph.

The file holds ``layer/0 .. layer/n-1`` (and optionally ``simulation/Ts``, ``simulation/tSample``); each layer a
``type`` and a ``shape`` in PyTorch order, ``(C, H, W)`` or ``(N,)``. Every number is already the chip's: weights are
the integers netx feeds Lava's synapses, biases its neurons' ``bias_mant``, and the CUBA neurons' parameters become an
:class:`~snncompile.ir.ops.IntLIF` each::

    threshold = vThMant    decay_12bit = 4096 - vDecay    current_decay_12bit = 4096 - iDecay    bias = bias

(netx sets Lava's ``du = iDecay - 1`` and ``dv = vDecay``; Lava's fixed-point LIF keeps ``4095 - du`` of the current
and ``4096 - dv`` of the voltage per step.) The layers become:

- ``input`` (layer 0): an ``Input`` of spike frames of its shape. With CUBA neurons (slayer's ``cuba.Input`` with
  neuron parameters), also a one-to-one synapse of the file's input ``weight`` (64 without one, as slayer scales a
  spike) and those neurons, as slayer computes them. Without an input layer, a first dense layer reads spike frames of
  its ``inFeatures``.
- ``conv``: ``Conv2d`` (weight ``[C_out, C_in, kH, kW]``, stride and padding as ``(H, W)``); ``dense``: ``Linear``;
  then the layer's neurons.
- ``pool``: slayer's pooling synapse, one weight shared by every tap and channel, then neurons: a ``SumPool2d`` when
  its windows tile the input (stride = kernel, no padding or dilation, sides divisible by the kernel), where slayer's
  padding of odd sides and its convolution over stacked channels change nothing. netx 0.6 cannot read pool layers.
- ``flatten``: ``Flatten`` in ``(C, H, W)`` row-major order, the order netx flattens a layer in (it transposes Lava's
  ``(x, y, z)`` to ``(z, y, x)`` first) and slayer reshapes it in: dense weights are used as they are.
- ``average`` (last only): the mean of ``shape[0]`` equal groups of the last layer's spikes, slayer's ``Average``.

The network's output: slayer networks end in spiking neurons and classify by spike count, so the graph ends in a
``Readout`` of identity weights over the last layer's spikes (or of the groups an ``average`` layer averages): its value
is each output neuron's spike count over ``T`` (divided by the group size after an ``average``), whose argmax is the
class. That readout is snncompile's (a non-spiking integrator the synapse counts and energy include); the file has no
such layer.

Anything netx or slayer computes that the IR would not reproduce is refused, every layer in one
:class:`~snncompile.errors.UnsupportedNodeError` naming it and why: graded spikes, synaptic delays other than 0,
refractory delays other than 1, non-CUBA neurons, recurrent, complex, transposed, unpooling and concatenating layers,
and weights or biases that are not integers (netx would truncate them).
"""

from pathlib import Path

import h5py
import numpy as np

from snncompile.checkpoint import HDF5_SIGNATURE
from snncompile.chip import LOIHI2_NETX
from snncompile.errors import ConfigError, SerializationError, UnsupportedNodeError
from snncompile.ir import Graph
from snncompile.ir.ops import Affine, Conv2d, Flatten, Input, IntLIF, Linear, Readout, SumPool2d

from .layers import CONV, DENSE, FLATTEN, INPUT

POOL, AVERAGE = "pool", "average"
NEURON_TYPES = ("CUBA", "LOIHI")
SLAYER_SPIKE_WEIGHT = 64   # the synaptic weight of one input spike into slayer's cuba.Input neurons without a weight
OUTPUT = "spike_rate"
STEPS_HINT = ("add it to the file: h5py.File(path, 'a').create_dataset('simulation/tSample', data=T) "
              "(slayer's export_hdf5 does not write it)")


class Refused(ValueError):
    """A layer the IR cannot reproduce; the message says why."""


def is_network_file(path) -> bool:
    """Whether ``path`` is an HDF5 file holding netx's ``layer`` group (a NIR graph, also HDF5, holds ``node``)."""
    path = Path(path)
    if not path.is_file():
        return False
    with open(path, "rb") as file:
        if file.read(len(HDF5_SIGNATURE)) != HDF5_SIGNATURE:
            return False
    try:
        with h5py.File(path, "r") as f:
            return isinstance(f.get("layer"), h5py.Group)
    except OSError:
        return False


def read(path, *, need_steps: bool = True) -> Graph:
    """The integer IR graph of the netx network file at ``path`` (module docstring). ``need_steps``: refuse a file
    that does not record its steps per sample (``simulation/tSample``), as compiling needs them."""
    path = Path(path)
    if not path.is_file():
        raise SerializationError(f"{path}: no such file; pass a lava-dl netx network (.net) written by slayer's "
                                 f"export_hdf5 or `snncompile compile ... --target netx`")
    try:
        with h5py.File(path, "r") as f:
            layers = _layer_groups(f, path)
            graph = _build(path, [(index, _decoded(group)) for index, group in layers])
            graph.metadata.update(_metadata(f, path, need_steps))
    except OSError as err:
        raise SerializationError(f"{path}: not a readable HDF5 file ({err})") from None
    graph.metadata["bits"] = _weight_bits(graph)
    return graph


def _layer_groups(f, path: Path) -> list:
    """``[(index, group)]`` of ``layer/0 .. layer/n-1``, or a :class:`SerializationError` saying what is missing."""
    group = f.get("layer")
    if not isinstance(group, h5py.Group) or not len(group):
        raise SerializationError(f"{path}: no 'layer' group; not a lava-dl netx network description")
    names = sorted(group, key=lambda name: int(name) if name.isdigit() else -1)
    if names != [str(i) for i in range(len(names))]:
        raise SerializationError(f"{path}: layer groups must be named 0..{len(names) - 1}, got {names}")
    return [(int(name), group[name]) for name in names]


def _decoded(group) -> dict:
    """A layer's datasets as Python values: strings decoded, arrays as read (floats kept, to see non-integers)."""
    values = {}
    for key, item in group.items():
        if isinstance(item, h5py.Group):
            values[key] = _decoded(item)
            continue
        raw = item[()]
        if isinstance(raw, np.ndarray) and raw.dtype.kind in "SO" and raw.size == 1:
            raw = raw.reshape(-1)[0]
        values[key] = raw.decode("ascii") if isinstance(raw, bytes) else raw
    return values


def _metadata(f, path: Path, need_steps: bool) -> dict:
    """Source, steps per sample and the flags that say the graph is already integer."""
    T = None
    if "simulation/tSample" in f:
        sample = float(f["simulation/tSample"][()])
        step = float(f["simulation/Ts"][()]) if "simulation/Ts" in f else 1.0
        if step <= 0 or sample <= 0 or sample % step:
            raise SerializationError(f"{path}: simulation/tSample = {sample:g} is not a whole number of steps "
                                     f"Ts = {step:g}")
        T = int(sample // step)
    elif need_steps:
        raise ConfigError(f"{path}: the file does not record its steps per sample (simulation/tSample); {STEPS_HINT}")
    known = {"T": T} if T is not None else {}
    return {"source": str(path), "arch": f"netx:{path.stem}", **known, "encoding": "frames", "integer": True,
            "imported": "lava-dl netx"}


def _build(path: Path, layers: list) -> Graph:
    """The graph of ``layers`` (``[(index, decoded layer)]``); every refused layer listed in one error."""
    graph, problems = Graph(path.stem), []
    current = None
    for position, (index, layer) in enumerate(layers):
        kind = layer.get("type")
        try:
            if "shape" not in layer or kind is None:
                raise Refused("every layer needs a 'type' and a 'shape'")
            if current is None:
                current = _input(graph, index, layer)
                if kind == INPUT:
                    continue
            elif kind == INPUT:
                raise Refused("an input layer after layer 0")
            if kind == AVERAGE and position != len(layers) - 1:
                raise Refused("an average layer before the last; it outputs rates, which no layer reads")
            current = LAYERS[kind](graph, index, layer, current) if kind in LAYERS else _unknown(kind)
        except Refused as refusal:
            problems.append(f"layer {index} ({kind}): {refusal}")
            problems += [f"layer {i} ({later.get('type')}): {reason}" for i, later in layers[position + 1:]
                         if (reason := _refusal_alone(later))]
            break  # the layers after it would read a shape that is not there: check each on its own
    if problems:
        lines = "\n".join(f"  - {problem}" for problem in problems)
        raise UnsupportedNodeError(f"{path}: {len(problems)} layer(s) snncompile cannot import:\n{lines}")
    if not isinstance(graph[current].op, Readout):
        current = _spike_rate(graph, current)
    graph.set_outputs([current])
    return graph


def _refusal_alone(layer: dict) -> str:
    """Why ``layer`` is refused whatever it reads (its type, neurons, delays, numbers), or ``""``."""
    try:
        if layer.get("type") not in (*LAYERS, INPUT):
            _unknown(layer.get("type"))
        _no_delays(layer)
        for key in ("weight", "bias"):
            if key in layer:
                _integers(layer[key], key)
        if "neuron" in layer:
            _neurons({"neuron": layer["neuron"]}, 1)
    except Refused as refusal:
        return str(refusal)
    return ""


def _input(graph: Graph, index: int, layer: dict) -> str:
    """The graph's Input (and the input layer's neurons, when it has some); returns the node the next layer reads."""
    kind = layer["type"]
    if kind == DENSE:
        shape = (int(_scalar(layer, "inFeatures")),)
    elif kind == INPUT:
        shape = tuple(int(d) for d in layer["shape"])
    else:
        raise Refused("the file has no input layer, and the input size of a first "
                      f"{kind} layer is not in it; add an 'input' layer of the input's (C, H, W) shape as layer 0")
    node = graph.add("input", Input(shape, "frames", "spikes"))
    if kind != INPUT or "neuron" not in layer:
        return node
    if "bias" in layer and np.any(np.asarray(layer["bias"]) != 0):
        raise Refused("a bias on the input neurons; slayer adds it to their current, which netx 0.6 does not run "
                      "(export the Input block without a bias)")
    weight = _integers(layer.get("weight", SLAYER_SPIKE_WEIGHT), "weight").reshape(-1)
    if weight.size != 1:
        raise Refused(f"an input weight of {weight.size} values; slayer's input scales every spike by one weight")
    channels = shape[0]
    synapse = graph.add(f"layer{index}.synapse",
                        Affine(np.full(channels, weight[0], np.int64), np.zeros(channels, np.int64)), [node])
    return graph.add(f"layer{index}", _neurons(layer, channels), [synapse])


def _conv(graph: Graph, index: int, layer: dict, source: str) -> str:
    weight = _integers(layer.get("weight"), "weight")
    _no_delays(layer)
    if weight.ndim != 4:
        raise Refused(f"a conv weight of shape {weight.shape}; expected [C_out, C_in, kH, kW]")
    if int(_scalar(layer, "groups", 1)) != 1:
        raise Refused(f"a grouped convolution (groups = {int(_scalar(layer, 'groups'))}); snncompile imports groups 1")
    if np.any(_pair(layer, "dilation", 1) != 1):
        raise Refused("a dilated convolution; snncompile's convolutions are not dilated")
    stride, padding = tuple(_pair(layer, "stride", 1)), tuple(_pair(layer, "padding", 0))
    synapse = graph.add(f"layer{index}.conv", Conv2d(weight, None, stride, padding), [_reading(graph, source, 3)])
    return _layer_neurons(graph, index, layer, synapse)


def _dense(graph: Graph, index: int, layer: dict, source: str) -> str:
    weight = _integers(layer.get("weight"), "weight")
    _no_delays(layer)
    if weight.ndim == 1:
        weight = weight.reshape(int(np.prod(layer["shape"])), -1)  # netx reshapes a flat weight to (outputs, -1)
    if len(graph[source].info.shape) != 1:
        raise Refused(f"reads a {graph[source].info.shape} layer without a flatten layer between them; slayer would "
                      f"apply it at every pixel, netx to the flattened layer (add a flatten layer)")
    synapse = graph.add(f"layer{index}.dense", Linear(weight), [source])
    return _layer_neurons(graph, index, layer, synapse)


def _pool(graph: Graph, index: int, layer: dict, source: str) -> str:
    weight = _integers(layer.get("weight"), "weight")
    _no_delays(layer)
    kernel = tuple(weight.shape[-2:])
    stride = tuple(_pair(layer, "stride", kernel))   # slayer's pool strides by its kernel unless told otherwise
    source = _reading(graph, source, 3)
    sides = graph[source].info.shape[1:]
    if np.unique(weight).size != 1:
        raise Refused("a pooling weight that differs between taps; slayer's pool shares one weight")
    if (stride != kernel or np.any(_pair(layer, "padding", 0) != 0) or np.any(_pair(layer, "dilation", 1) != 1)
            or any(side % k for side, k in zip(sides, kernel))):
        raise Refused(f"a pool of kernel {kernel} and stride {stride} over {sides}; slayer pools channels stacked "
                      f"into one plane and pads odd sides, which equals a per-channel sum pool only when the windows "
                      f"tile every channel (stride = kernel, no padding or dilation, sides divisible by the kernel)")
    synapse = graph.add(f"layer{index}.pool", SumPool2d(kernel, stride, (0, 0), int(weight.reshape(-1)[0])), [source])
    return _layer_neurons(graph, index, layer, synapse)


def _flatten(graph: Graph, index: int, layer: dict, source: str) -> str:
    return source if len(graph[source].info.shape) == 1 else graph.add(f"layer{index}", Flatten(), [source])


def _average(graph: Graph, index: int, layer: dict, source: str) -> str:
    source = _reading(graph, source, 1)
    size, groups = graph[source].info.shape[0], int(np.asarray(layer["shape"]).reshape(-1)[0])
    if groups < 1 or size % groups:
        raise Refused(f"averages {size} neurons in {groups} groups; the groups must be equal")
    membership = np.repeat(np.eye(groups, dtype=np.int64), size // groups, axis=1)
    return graph.add(f"layer{index}", Readout(membership, None, float(size // groups)), [source])


def _unknown(kind):
    raise Refused(f"no snncompile import for {kind!r} layers (snncompile imports input, conv, dense, pool, flatten "
                  f"and a last average layer)")


LAYERS = {CONV: _conv, DENSE: _dense, POOL: _pool, FLATTEN: _flatten, AVERAGE: _average}


def _reading(graph: Graph, source: str, dims: int) -> str:
    """``source`` if its samples have ``dims`` axes; else a :class:`Refused` naming the shapes."""
    shape = graph[source].info.shape
    if len(shape) != dims:
        raise Refused(f"reads a {shape} layer; it needs {'(C, H, W)' if dims == 3 else '(N,)'} input")
    return source


def _layer_neurons(graph: Graph, index: int, layer: dict, synapse: str) -> str:
    """The layer's neurons after ``synapse``, checked against the shape the file gives."""
    shape = graph[synapse].info.shape
    expected = tuple(int(d) for d in layer["shape"])
    if int(np.prod(expected)) != int(np.prod(shape)) or (len(expected) == len(shape) and expected != shape):
        raise Refused(f"its synapse maps the input to {shape}, but the layer's shape is {expected}")
    return graph.add(f"layer{index}", _neurons(layer, shape[0]), [synapse])


def _neurons(layer: dict, channels: int) -> IntLIF:
    """The layer's CUBA neurons as an IntLIF (``channels``: the length of a per-channel bias)."""
    neuron = layer.get("neuron")
    if not isinstance(neuron, dict):
        raise Refused("no 'neuron' group; netx makes it a non-spiking integrator, snncompile imports spiking layers")
    kind = neuron.get("type")
    if kind not in NEURON_TYPES:
        raise Refused(f"{kind!r} neurons; snncompile imports CUBA neurons (netx's {'/'.join(NEURON_TYPES)})")
    if bool(neuron.get("gradedSpike", False)) or int(neuron.get("messageBits", 0)):
        raise Refused("graded spikes (gradedSpike / messageBits); snncompile's neurons send binary spikes (train with "
                      "graded_spike=False)")
    if int(neuron.get("refDelay", 1)) != 1:
        raise Refused(f"a refractory delay of {int(neuron['refDelay'])} steps; netx 0.6 ignores it and Lava's LIF has "
                      f"none, snncompile's neither (export with refDelay = 1)")
    missing = [key for key in ("iDecay", "vDecay", "vThMant") if key not in neuron]
    if missing:
        raise Refused(f"its neuron lacks {', '.join(missing)}")
    one = LOIHI2_NETX.decay_one
    current, voltage, threshold = (int(neuron[key]) for key in ("iDecay", "vDecay", "vThMant"))
    if not 1 <= current <= one or not 0 <= voltage <= one or threshold < 0:
        raise Refused(f"iDecay = {current}, vDecay = {voltage}, vThMant = {threshold}; snncompile imports iDecay in "
                      f"[1, {one}] (0 would keep the whole current), vDecay in [0, {one}], vThMant >= 0")
    return IntLIF(threshold=threshold, decay_12bit=one - voltage, bias=_bias(layer, channels), source=f"netx {kind}",
                  current_decay_12bit=one - current)


def _bias(layer: dict, channels: int):
    """The layer's bias per channel, or ``None``; a per-neuron bias must be the same across each channel."""
    if "bias" not in layer:
        return None
    bias = _integers(layer["bias"], "bias")
    if bias.size == 1:
        return np.full(channels, bias.reshape(-1)[0], np.int64)
    per_channel = bias.reshape(channels, -1) if bias.size % channels == 0 else None
    if per_channel is None or not np.all(per_channel == per_channel[:, :1]):
        raise Refused(f"a bias of shape {bias.shape} that is not one value per channel of {channels}")
    return per_channel[:, 0].copy()


def _integers(values, what: str) -> np.ndarray:
    """``values`` as int64, or a :class:`Refused` when some are not whole numbers (netx would truncate them)."""
    if values is None:
        raise Refused(f"no '{what}'")
    if isinstance(values, dict):
        raise Refused(f"a complex {what} ({what}/real, {what}/imag); snncompile's synapses are real")
    array = np.asarray(values)
    whole = array.dtype.kind == "f" and bool(np.all(np.isfinite(array) & (array == np.round(array))))
    if array.dtype.kind not in "iu" and not whole:
        raise Refused(f"{what} values that are not integers; netx would truncate them toward zero "
                      f"(export a network whose {what}s are quantized, as slayer's cuba blocks quantize weights)")
    return array.astype(np.int64)


def _no_delays(layer: dict) -> None:
    """Refuse synaptic delays other than 0 (slayer's delayed blocks export 0 until trained)."""
    if "delay" in layer and np.any(np.asarray(layer["delay"]) != 0):
        delays = np.asarray(layer["delay"])
        raise Refused(f"synaptic delays up to {delays.max():g} steps; snncompile imports layers without delays "
                      f"(train without delay=True, or with the delays fixed at 0)")


def _scalar(layer: dict, key: str, default=None):
    if key not in layer:
        if default is None:
            raise Refused(f"no '{key}'")
        return default
    return np.asarray(layer[key]).reshape(-1)[0]


def _pair(layer: dict, key: str, default) -> np.ndarray:
    """An ``(H, W)`` pair from a scalar or a pair."""
    return np.broadcast_to(np.asarray(layer.get(key, default)).astype(np.int64).reshape(-1), 2)


def _spike_rate(graph: Graph, source: str) -> str:
    """The Readout of every output neuron's spikes (identity weights): its value is their rate over ``T`` steps."""
    if len(graph[source].info.shape) != 1:
        source = graph.add(f"{source}.flatten", Flatten(), [source])
    size = graph[source].info.shape[0]
    return graph.add(OUTPUT, Readout(np.eye(size, dtype=np.int64)), [source])


def _weight_bits(graph: Graph) -> int:
    """The signed bits the file's widest weight needs (the readout snncompile adds not counted)."""
    largest = max((int(np.abs(node.op.weights()).max()) for node in graph
                   if isinstance(node.op, (Affine, Conv2d, Linear, SumPool2d)) and not isinstance(node.op, Readout)),
                  default=0)
    return max(2, largest.bit_length() + 1)
