"""Lava processes from a netx 0.6 network file, built as netx's reader builds them (imports Lava: only the worker uses
this module). lava-dl itself is not installable here, so this is its reader's semantics in our words:

- shapes are reversed into Lava's ``(x, y, z)``; a conv kernel ``[C_out, C_in, kH, kW]`` is flipped in both spatial
  axes and transposed to ``[C_out, kW, kH, C_in]``, its ``(H, W)`` tuples reversed; a dense layer after ``flatten``
  reads the previous layer's port transposed to ``(z, y, x)`` and flattened;
- dense weights are re-encoded for netx's 8-bit synapse (:func:`weight_encoding`, netx's ``optimize_weight_bits``);
- each layer's neurons are ``LIFReset`` with ``du = iDecay - 1``, ``dv = vDecay``, ``vth = vThMant``, ``bias_exp``
  the chip's ``current_shift`` (6) and ``bias_mant`` per channel, reset every ``T`` steps at phase ``k + 1`` for
  layer ``k`` (netx's ``reset_interval = T``, ``reset_offset = 1``: samples follow each other every ``T`` steps).

Spikes enter the first layer from a ring buffer; a monitor probes every layer's spikes and the last layer's membrane.
The widths are those of the chip netx's reader builds for, :data:`snncompile.chip.LOIHI2_NETX`.
"""

from dataclasses import dataclass

import numpy as np
from lava.magma.core.run_configs import Loihi2SimCfg
from lava.proc.conv.process import Conv
from lava.proc.dense.process import Dense
from lava.proc.io.source import RingBuffer
from lava.proc.lif.process import LIFReset
from lava.proc.monitor.process import Monitor
from lava.utils.weightutils import SignMode

from snncompile.chip import LOIHI2_NETX

from .layers import CONV, FLATTEN
from .schema import read


@dataclass
class Built:
    """The processes of a network: ``recorder`` is any one of them (the run is started on it), ``spikes`` a monitor
    per layer, ``membrane`` the monitor of the last layer's ``v``."""

    recorder: RingBuffer
    layers: list
    spikes: list
    membrane: Monitor
    run_cfg: Loihi2SimCfg


def weight_encoding(weight: np.ndarray) -> dict:
    """netx's re-encoding of integer weights for its 8-bit synapse (the netx chip's ``weight_bits``): shifted left by
    the largest ``k`` that keeps them in range (``weight_exp = -k`` undoes it after the sum), with their sign mode and
    the bits that still vary."""
    bits, (signed_low, signed_high) = LOIHI2_NETX.weight_bits, LOIHI2_NETX.weight_range
    high, low = int(weight.max()), int(weight.min())
    signed = high > 0 > low
    if signed:
        scale, mode = min(signed_high / high, signed_low / low), SignMode.MIXED
    elif high <= 0:
        scale, mode = -(1 << bits) / low, SignMode.INHIBITORY
    else:
        scale, mode = ((1 << bits) - 1) / high, SignMode.EXCITATORY
    shift = int(np.floor(np.log2(scale))) + signed
    common = next(n for n in range(bits, -1, -1) if np.all(weight % (1 << n) == 0)) - signed
    return {"weights": np.left_shift(weight.astype(np.int32), shift), "num_weight_bits": bits - shift - common,
            "weight_exp": -shift, "sign_mode": mode}


def build(path, frames: np.ndarray, T: int, steps: int) -> Built:
    """The network of the file at ``path`` fed ``frames`` (``[steps, *input shape]`` spikes) for ``steps`` steps."""
    described = read(path)
    shape = tuple(int(d) for d in described[0]["shape"][::-1])
    source = RingBuffer(data=np.moveaxis(frames, 0, -1).transpose(*reversed(range(len(shape))), len(shape)))
    port, layers, flatten = source.s_out, [], False
    for layer in described[1:]:
        if layer["type"] == FLATTEN:
            flatten = True
            continue
        out_shape = tuple(int(d) for d in layer["shape"][::-1]) if layer["type"] == CONV else (
            int(np.prod(layer["shape"])),)
        neuron = _neurons(layer, out_shape, T, offset=len(layers) + 2)
        if layer["type"] == CONV:
            synapse = Conv(input_shape=shape, **_conv(layer))
        else:
            synapse = Dense(**weight_encoding(layer["weight"].reshape(out_shape[0], -1)))
            port = port.transpose(list(reversed(range(len(shape))))).flatten() if flatten else port
        port.connect(synapse.s_in)
        synapse.a_out.connect(neuron.a_in)
        port, shape, flatten = neuron.s_out, out_shape, False
        layers.append(neuron)
    spikes = []
    for neuron in layers:
        spikes.append(Monitor())
        spikes[-1].probe(neuron.s_out, steps)
    membrane = Monitor()
    membrane.probe(layers[-1].v, steps)
    return Built(source, layers, spikes, membrane, Loihi2SimCfg(select_tag="fixed_pt"))


def _neurons(layer: dict, shape: tuple, T: int, offset: int) -> LIFReset:
    neuron = layer["neuron"]
    bias = layer.get("bias")
    bias_mant = 0 if bias is None else np.broadcast_to(bias, shape).astype(np.int32)  # per channel: the z axis
    return LIFReset(shape=shape, du=int(neuron["iDecay"]) - 1, dv=int(neuron["vDecay"]), vth=int(neuron["vThMant"]),
                    bias_mant=bias_mant, bias_exp=LOIHI2_NETX.current_shift, reset_interval=T, reset_offset=offset % T)


def _conv(layer: dict) -> dict:
    def reversed_pair(value):
        return tuple(int(v) for v in np.broadcast_to(value, 2)[::-1])

    weight = layer["weight"][:, :, ::-1, ::-1].transpose(0, 3, 2, 1)
    return {"weight": np.ascontiguousarray(weight).astype(np.int32), "stride": reversed_pair(layer["stride"]),
            "padding": reversed_pair(layer["padding"]), "dilation": reversed_pair(layer["dilation"]),
            "groups": int(layer["groups"])}
