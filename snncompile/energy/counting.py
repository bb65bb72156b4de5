"""What each node of a graph costs per event or per step, from the op geometry alone (DESIGN §6).

- A **synaptic** node (conv, linear, readout, pooling, and a one-to-one ``Affine`` or ``BatchNorm``) whose input is
  spikes or counts works per event: an event at input position ``i`` is delivered over ``fan_out[i]`` synapses, the
  exact number of output positions it reaches (conv and pool borders have fewer), so a step costs
  ``sum_i events_i * fan_out[i]`` synaptic operations (SOPs). A count ``c`` is ``c`` spikes: on chip it is ``c``
  spikes of different populations after MLF and residual lowering.
- A synaptic node computed on the host (its input is analog, or it feeds the chip's input current through a
  ``Quantize``: the encoding layer) does one multiply-accumulate (MAC) per connection per step.
- A linear layer that absorbed an average pool (``fold_avgpool``, recorded in the graph's metadata) reaches all its
  outputs from every input position its pooling windows cover: the pool's ``kH*kW`` inputs per pooled value now each
  have the layer's full fan-out.
- The **equivalent ANN** runs the same graph once per inference. Its MACs in the standard convention
  (:func:`ann_macs`: every kernel tap of every convolution, zero padding included, and every weight of a fully
  connected layer; pooling, normalisation and residual sums are no MACs) are what torchvision, fvcore, thop and the
  papers count: ResNet-18 at 224x224 is 1.814 G. Our exact count beside it (:func:`ann_macs_exact`): one MAC per
  connection, padding taps excluded, pooling counted, an absorbed pool unfolded again.

The counts are independent of the weights' values: a zero weight is still a synapse.
"""

import numpy as np

from snncompile.ir.geometry import window_cover
from snncompile.ir.ops import Affine, AvgPool2d, BatchNorm, Conv2d, Linear
from snncompile.ir.ops.base import SYNAPSE
from snncompile.ir.structure import host_nodes

PER_CHANNEL = (Affine, BatchNorm)  # one-to-one synapses that, on analog values in the network, fold into the layer


def folded_pool(graph, node):
    """``(pool, pooled input shape)`` of the average pool ``fold_avgpool`` folded into ``node``, else ``None``."""
    folds = graph.metadata.get("passes", {}).get("fold_avgpool", {}).get("folded", {})
    if node.name not in folds:
        return None
    fold = folds[node.name]
    flatten = graph[node.inputs[0]]
    return AvgPool2d(fold["kernel"], fold["stride"], fold["padding"]), graph[flatten.inputs[0]].info.shape


def fan_out(graph, node) -> np.ndarray:
    """The synapses leaving each input position of synaptic ``node``, shaped like its input: the op's own geometry,
    or for a linear layer that absorbed an average pool, its full fan-out from every position the pool covered."""
    shape = graph[node.inputs[0]].info.shape
    pooled = folded_pool(graph, node)
    if pooled is None:
        return node.op.fan_out(shape)
    pool, pool_shape = pooled
    covered = window_cover(pool_shape[1:], pool.kernel, pool.stride, pool.padding) > 0
    return np.broadcast_to(node.op.weight.shape[0] * covered, pool_shape).reshape(shape)


def largest_fan_in(graph, node) -> int:
    """The most connections one output position of synaptic ``node`` receives (interior positions)."""
    if folded_pool(graph, node) is not None:
        return int(np.count_nonzero(fan_out(graph, node)))
    return node.op.largest_fan_in(graph[node.inputs[0]].info.shape)


def connections(graph, node) -> int:
    """Synapses of ``node``: (input position, output position) pairs, each counted once."""
    return int(fan_out(graph, node).sum())


def ann_macs(graph, node) -> int:
    """MACs of ``node`` in the equivalent ANN, standard convention: a convolution's every kernel tap at every output
    position (padding included), a fully connected layer's every weight (before an absorbed pool was folded in);
    nothing for other synaptic nodes."""
    if isinstance(node.op, Conv2d):
        return int(node.op.weight.size * np.prod(node.info.shape[1:]))
    if isinstance(node.op, Linear):
        pooled = folded_pool(graph, node)
        inputs = node.op.weight.shape[1] if pooled is None else int(np.prod(pooled[0].output_shape(
            graph[graph[node.inputs[0]].inputs[0]].info)))
        return node.op.weight.shape[0] * inputs
    return 0


def ann_macs_exact(graph, node) -> int:
    """MACs of ``node`` in the equivalent ANN, our count: one per connection, an absorbed average pool unfolded again
    (the pool's window taps, then the layer over the pooled values)."""
    pooled = folded_pool(graph, node)
    if pooled is None:
        return connections(graph, node)
    pool, pool_shape = pooled
    in_info = graph[graph[node.inputs[0]].inputs[0]].info
    outputs = int(np.prod(pool.output_shape(in_info)))
    return pool.synapse_count((in_info,)) + node.op.weight.shape[0] * outputs


def synaptic_nodes(graph) -> tuple:
    """``(event_driven, host)``: the synaptic nodes working per event, and those computing MACs at every step.

    A ``BatchNorm`` or ``Affine`` on analog values inside the network is no synapse (it folds into the layer before
    it); on the host (an input normalisation) it costs one MAC per value."""
    host = set(host_nodes(graph))
    event_driven, macs = [], []
    for node in graph:
        if node.op.role != SYNAPSE:
            continue
        if node.name in host:
            macs.append(node)
        elif graph[node.inputs[0]].info.is_events:
            event_driven.append(node)
        elif not isinstance(node.op, PER_CHANNEL):
            macs.append(node)
    return event_driven, macs
