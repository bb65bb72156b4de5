"""A netx 0.6 network file as netx's reader sees it, and the checks that reader implies.

:func:`read` decodes the file the way netx's ``NetDict`` does (``type`` strings from bytes, everything else as
arrays, weights and biases as integers); :func:`check` lists every way a file departs from what
``lava.lib.dl.netx.hdf5.Network`` can build: consecutive ``layer/<i>`` groups, the keys each layer type reads, shapes
that chain from one layer to the next, CUBA neuron parameters within Loihi's widths, and no layer type netx leaves
unimplemented. The widths are those of the chip netx's reader builds for, :data:`snncompile.chip.LOIHI2_NETX`.

The netx backend checks an artifact's file with :func:`check` before lava-dl loads it: netx's reader does not check
widths, and fails on a missing key with a bare ``KeyError`` from deep inside h5py.
"""

import h5py
import numpy as np

from snncompile.chip import LOIHI2_NETX

from .layers import CONV, DENSE, FLATTEN, INPUT

UNIMPLEMENTED = ("pool", "average", "concat", "convT", "unpool")
NEURON_KEYS = ("type", "iDecay", "vDecay", "vThMant")


def read(path) -> list:
    """The layers of the file at ``path``, in order: dicts of decoded values (``neuron`` a nested dict)."""
    with h5py.File(path, "r") as f:
        group = f.get("layer")
        if not isinstance(group, h5py.Group):
            raise ValueError(f"{path}: no 'layer' group; not a netx network description")
        return [_decode(group[name]) for name in sorted(group, key=lambda name: int(name) if name.isdigit() else -1)]


def _decode(group) -> dict:
    values = {"name": group.name}
    for key, item in group.items():
        if isinstance(item, h5py.Group):
            values[key] = _decode(item)
        elif key == "type":
            raw = item[()]
            values[key] = (raw[0] if np.ndim(raw) else raw).decode("ascii")
        elif key in ("weight", "bias"):
            values[key] = item[()].astype(int)
        else:
            values[key] = item[()]
    return values


def check(path) -> list:
    """One line per departure of the file at ``path`` from what netx 0.6's reader builds; empty when it builds."""
    with h5py.File(path, "r") as f:
        names = sorted(f.get("layer", {}))
    expected = [str(i) for i in range(len(names))]
    if sorted(names, key=lambda n: int(n) if n.isdigit() else -1) != expected:
        return [f"layer groups must be named 0..{len(names) - 1}, got {names}"]
    problems, shape = [], None
    for index, layer in enumerate(read(path)):
        where = f"layer {index}"
        layer_type = layer.get("type")
        if "shape" not in layer or layer_type is None:
            problems.append(f"{where}: every layer needs 'type' and 'shape'")
            continue
        if layer_type in UNIMPLEMENTED:
            problems.append(f"{where}: netx 0.6 raises NotImplementedError for {layer_type!r} layers")
        elif layer_type == INPUT and index > 0:
            problems.append(f"{where}: the input must be layer 0")
        elif layer_type == INPUT:
            shape = tuple(layer["shape"])
        elif shape is None:
            problems.append(f"{where}: no input layer before it gives its input shape")
        elif layer_type == FLATTEN:
            shape = (int(np.prod(shape)),)
        elif layer_type in (CONV, DENSE):
            found = _synapse(layer, layer_type, shape) + _neuron(layer.get("neuron"))
            problems += [f"{where} ({layer_type}): {problem}" for problem in found]
            shape = tuple(layer["shape"])
        else:
            problems.append(f"{where}: unknown layer type {layer_type!r}")
    return problems


def _synapse(layer: dict, layer_type: str, in_shape: tuple) -> list:
    weight = layer.get("weight")
    out_shape = tuple(layer["shape"])
    if weight is None:
        return ["no 'weight'"]
    problems = []
    low, high = LOIHI2_NETX.weight_range
    if weight.min() < low or weight.max() > high:
        problems.append(f"weights span [{weight.min()}, {weight.max()}]; netx's encoding keeps {(low, high)} exact")
    if layer_type == DENSE and len(in_shape) > 1:
        problems.append(f"reads {in_shape} without a flatten layer before it")
    elif layer_type == DENSE:
        if weight.shape != (out_shape[0], int(np.prod(in_shape))):
            problems.append(f"weight {weight.shape} does not map {in_shape} (flattened) to {out_shape}")
    else:
        missing = [k for k in ("stride", "padding", "dilation", "groups") if k not in layer]
        if missing or weight.ndim != 4 or len(in_shape) != 3:
            return problems + [f"a conv needs a 4-d weight, a (C, H, W) input and {missing or 'its fields'}"]
        size = [(n + 2 * p - d * (k - 1) - 1) // s + 1 for n, k, s, p, d in zip(
            in_shape[1:], weight.shape[2:], np.broadcast_to(layer["stride"], 2), np.broadcast_to(layer["padding"], 2),
            np.broadcast_to(layer["dilation"], 2))]
        if weight.shape[1] * int(layer["groups"]) != in_shape[0] or out_shape != (weight.shape[0], *size):
            problems.append(f"weight {weight.shape} does not map {in_shape} to {out_shape}")
    bias = layer.get("bias")
    if bias is not None and bias.shape not in ((out_shape[0],), out_shape):
        problems.append(f"bias {bias.shape} is neither per channel nor per neuron of {out_shape}")
    return problems


def _neuron(neuron) -> list:
    if neuron is None:
        return ["no 'neuron' (netx's conv layers read it unconditionally)"]
    missing = [key for key in NEURON_KEYS if key not in neuron]
    if missing:
        return [f"neuron lacks {missing}"]
    problems = [] if neuron["type"] in ("CUBA", "LOIHI") else [f"neuron type {neuron['type']!r} is not CUBA"]
    chip = LOIHI2_NETX
    limits = {"iDecay": (1, chip.decay_one), "vDecay": (0, chip.decay_one - 1), "vThMant": (0, chip.threshold_max)}
    for key, (low, high) in limits.items():
        if not low <= int(neuron[key]) <= high:
            problems.append(f"neuron {key} = {neuron[key]} outside [{low}, {high}]")
    return problems
