"""``fold_avgpool``: fold an average pool that feeds a fully connected layer into that layer's weights.

``AvgPool2d -> Flatten -> Linear/Readout`` (global average pooling before the FC readout) computes
``W (P x) + b``, where ``P`` is the pool's fixed connection matrix (each output the mean of its ``kH*kW`` window, zero
padding counted). It equals ``(W P) x + b``: one Linear/Readout over the flattened un-pooled input whose weight
columns are spread over each window and divided by ``kH*kW`` — exact in real arithmetic. The pool disappears; the
Flatten (a reshape) and the layer keep their names. The pool and the Flatten must be read by the next op only.

Each fold is recorded with the pooling window it carries (``kernel``, ``stride``, ``padding``): an input spike of the
folded layer now reaches every output through up to ``kH*kW`` merged taps, which energy reports count.

``AvgPool2d -> Conv2d`` on spikes (a pool between two spiking layers) folds the same way into one strided conv over
the spikes (:func:`pooled_conv`): a chip's conv reads events, and the pool's averages are not events. It is exact
when no padded position of the pooled map covers real inputs (a pool whose kernel equals its stride and divides the
input size, or a conv without padding); otherwise the pass refuses, naming the pool and the conv. These folds are
recorded under ``into_conv`` (conv -> pool); the folded conv's own geometry is its synapse count.
"""

from dataclasses import replace as with_fields

import numpy as np

from ..errors import UnsupportedNodeError
from ..ir.ops import AvgPool2d, Conv2d, Flatten, Linear
from .rewrite import graph_pass, rewrite, sole_reader


def spread(layer, pool, in_shape: tuple):
    """``layer`` (Linear or Readout) reading ``pool`` on ``in_shape`` inputs, as one layer over those inputs."""
    pooling, _ = pool.connection_matrix(in_shape)  # [N_in, N_pooled]: pooled = x @ pooling
    return with_fields(layer, weight=np.asarray(pooling @ layer.weight.T).T)


def pooled_conv(conv, pool, in_shape: tuple):
    """``conv`` reading ``pool`` on ``in_shape`` inputs, as one strided conv over those inputs: kernel
    ``s*(k_conv - 1) + k_pool`` per axis (each tap spread over its pool window, divided by ``kH*kW``), stride
    ``s_pool * s_conv``, padding ``s_pool * p_conv + p_pool``; ``None`` where that is not exactly the pool then the conv
    (a padded position of the pooled map, which reads 0, would read real inputs in the folded conv)."""
    (s0, s1), (kc0, kc1) = pool.stride, conv.kernel
    spread_kernel = np.zeros((*conv.weight.shape[:2], s0 * (kc0 - 1) + pool.kernel[0], s1 * (kc1 - 1) + pool.kernel[1]),
                             conv.weight.dtype)
    for u in range(pool.kernel[0]):
        for v in range(pool.kernel[1]):
            spread_kernel[:, :, u:u + s0 * kc0:s0, v:v + s1 * kc1:s1] += conv.weight / (pool.kernel[0] * pool.kernel[1])
    for axis, size in enumerate(in_shape[1:]):
        pooled_size = (size + 2 * pool.padding[axis] - pool.kernel[axis]) // pool.stride[axis] + 1
        reads_padding = conv.padding[axis] > 0
        left_exact = pool.kernel[axis] - 1 - pool.padding[axis] < pool.stride[axis]
        right_exact = pool.stride[axis] * pooled_size - pool.padding[axis] >= size
        if reads_padding and not (left_exact and right_exact):
            return None
    return with_fields(conv, weight=spread_kernel,
                       stride=tuple(s * sc for s, sc in zip(pool.stride, conv.stride)),
                       padding=tuple(s * pc + p for s, pc, p in zip(pool.stride, conv.padding, pool.padding)))


@graph_pass
def fold_avgpool(graph):
    """Fold every AvgPool2d -> Flatten -> Linear/Readout chain into one Flatten -> Linear/Readout, and every AvgPool2d
    of events read by one Conv2d into that conv (:func:`pooled_conv`): on a chip a conv reads events, not the
    analog averages a pool of spikes makes."""
    folds = {}  # layer name -> (pool node, flatten node)
    conv_folds = _conv_folds(graph)
    for pool in (node for node in graph if isinstance(node.op, AvgPool2d)):
        flatten = sole_reader(graph, pool.name)
        layer = sole_reader(graph, flatten.name) if flatten is not None and isinstance(flatten.op, Flatten) else None
        if layer is not None and isinstance(layer.op, Linear):  # a Linear or the Readout
            folds[layer.name] = (pool, flatten)
    pools = {pool.name for pool, _ in [*folds.values(), *conv_folds.values()]}
    flattens = {flatten.name: pool for pool, flatten in folds.values()}

    def replace(node):
        if node.name in pools:
            return []
        if node.name in conv_folds:
            pool, folded_conv = conv_folds[node.name]
            return [(node.name, folded_conv, pool.inputs)]
        if node.name in flattens:
            return [(node.name, node.op, flattens[node.name].inputs)]
        if node.name in folds:
            pool = folds[node.name][0]
            return [(node.name, spread(node.op, pool.op, graph[pool.inputs[0]].info.shape), node.inputs)]
        return None

    facts = {"folded": {name: {"pool": pool.name, "kernel": list(pool.op.kernel), "stride": list(pool.op.stride),
                               "padding": list(pool.op.padding)} for name, (pool, _) in folds.items()},
             "into_conv": {name: pool.name for name, (pool, _) in conv_folds.items()}}
    return rewrite(graph, replace), facts


def _conv_folds(graph) -> dict:
    """Conv name -> (the AvgPool2d of events it alone reads, the conv over the pool's input computing both). An
    average of spikes read by a conv that cannot fold exactly is an :class:`UnsupportedNodeError` naming both."""
    folds = {}
    for pool in (node for node in graph if isinstance(node.op, AvgPool2d)):
        conv = sole_reader(graph, pool.name)
        if conv is None or not isinstance(conv.op, Conv2d) or not graph[pool.inputs[0]].info.is_events:
            continue
        folded_conv = pooled_conv(conv.op, pool.op, graph[pool.inputs[0]].info.shape)
        if folded_conv is None:
            raise UnsupportedNodeError(
                f"node {pool.name!r} (AvgPool2d {pool.op.kernel}, stride {pool.op.stride}, padding {pool.op.padding})"
                f" averages spikes read by conv {conv.name!r}, and with that conv's padding {conv.op.padding} it does "
                f"not fold exactly into the conv (a chip's conv reads events, not averages); use a pool whose kernel "
                f"equals its stride and divides the input size, or pad the conv by 0")
        folds[conv.name] = (pool, folded_conv)
    return folds
