"""Write an integer graph as a lava-dl netx 0.6 network description (``network.net``, HDF5).

The keys and conventions are the ones netx's reader (``lava.lib.dl.netx.hdf5.Network``) reads, as lava-dl's slayer
writes them:

- ``layer/<i>`` for ``i = 0 .. n-1``, each with ``type`` (bytes: ``input``, ``conv``, ``dense``, ``flatten``) and
  ``shape`` in PyTorch order, ``(C, H, W)`` or ``(N,)`` (netx reverses it into Lava's ``(x, y, z)``).
- ``conv``: ``weight`` ``[C_out, C_in, kH, kW]`` as PyTorch holds it (netx flips and transposes it for Lava's
  convolution), ``kernelSize``, ``stride``, ``padding``, ``dilation`` as ``(H, W)``, ``groups``, ``inChannels``,
  ``outChannels``; ``dense``: ``weight`` ``[N_out, N_in]`` (after a ``flatten``, inputs in PyTorch's row-major
  ``(C, H, W)`` order), ``inFeatures``, ``outFeatures``. ``bias``: integers per output channel, the neurons'
  ``bias_mant`` (``bias_exp = 6``).
- ``neuron``: ``type = CUBA``, ``iDecay = decay_one - Du`` (netx sets Lava's ``du = iDecay - 1``, and Lava keeps
  ``4095 - du = Du`` of the current; ``Du = 0``: ``iDecay = 4096``, the current passes straight through; the readout
  has no current decay), ``vDecay = decay_one - D`` (Lava's ``dv``), ``vThMant`` = the integer threshold (compared as
  ``v > vThMant << 6``), ``refDelay = 1``, ``gradedSpike = False``.

The numbers are in the widths of the chip the graph was compiled for (the netx target's ``LOIHI2_NETX``).
- ``simulation``: ``Ts = 1``, ``tSample = T``.
"""

from pathlib import Path

import h5py
import numpy as np

from snncompile.chip import Chip

from .layers import INPUT, layers

NETWORK_FILE = "network.net"


def write(graph, path, chip: Chip) -> Path:
    """Write ``network.net`` for a supported integer ``graph`` on ``chip`` at ``path``; returns the path."""
    path = Path(path)
    with h5py.File(path, "w") as f:
        _layer(f, 0, INPUT, graph.input_nodes[0].info.shape)
        for index, layer in enumerate(layers(graph), start=1):
            group = _layer(f, index, layer.kind, layer.shape)
            if not layer.has_neurons:
                continue
            synapse, neuron = graph[layer.synapse].op, graph[layer.neuron].op
            group.create_dataset("weight", data=synapse.weight.astype(np.int64))
            if layer.is_conv:
                _conv_fields(group, synapse)
            else:
                group.create_dataset("inFeatures", data=synapse.weight.shape[1])
                group.create_dataset("outFeatures", data=synapse.weight.shape[0])
            if layer.is_readout:
                _neuron(group, chip, chip.threshold_max, 0, chip.decay_one)  # integrates, keeps no current
                bias = synapse.bias
            else:
                _neuron(group, chip, neuron.threshold, neuron.current_decay_12bit, neuron.decay_12bit)
                bias = neuron.bias
            if bias is not None:
                group.create_dataset("bias", data=bias.astype(np.int64))
        f.create_dataset("simulation/Ts", data=1)
        f.create_dataset("simulation/tSample", data=int(graph.metadata.get("T") or 1))
    return path


def _layer(f, index: int, layer_type: str, shape: tuple):
    group = f.create_group(f"layer/{index}")
    group.create_dataset("type", (1,), "S10", [layer_type.encode("ascii")])
    group.create_dataset("shape", data=np.array(shape, np.int64))
    return group


def _conv_fields(group, op) -> None:
    group.create_dataset("inChannels", data=op.weight.shape[1])
    group.create_dataset("outChannels", data=op.weight.shape[0])
    group.create_dataset("kernelSize", data=np.array(op.weight.shape[2:], np.int64))
    group.create_dataset("stride", data=np.array(op.stride, np.int64))
    group.create_dataset("padding", data=np.array(op.padding, np.int64))
    group.create_dataset("dilation", data=np.array((1, 1), np.int64))
    group.create_dataset("groups", data=1)


def _neuron(group, chip: Chip, threshold: int, current_kept: int, voltage_kept: int) -> None:
    """CUBA neurons keeping ``current_kept`` (``Du``) and ``voltage_kept`` (``D``) 4096ths of their current and
    membrane per step."""
    group.create_dataset("neuron/type", (1,), "S10", [b"CUBA"])
    group.create_dataset("neuron/iDecay", data=chip.decay_one - int(current_kept))  # netx: du = iDecay - 1
    group.create_dataset("neuron/vDecay", data=chip.decay_one - int(voltage_kept))
    group.create_dataset("neuron/vThMant", data=int(threshold))
    group.create_dataset("neuron/refDelay", data=1)
    group.create_dataset("neuron/gradedSpike", data=False)
