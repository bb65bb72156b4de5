"""``fold_avgpool``: fold an average pool that feeds a fully connected layer into that layer's weights.

``AvgPool2d -> Flatten -> Linear/Readout`` (global average pooling before the FC readout) computes
``W (P x) + b``, where ``P`` is the pool's fixed connection matrix (each output the mean of its ``kH*kW`` window, zero
padding counted). It equals ``(W P) x + b``: one Linear/Readout over the flattened un-pooled input whose weight
columns are spread over each window and divided by ``kH*kW`` — exact in real arithmetic. The pool disappears; the
Flatten (a reshape) and the layer keep their names. The pool and the Flatten must be read by the next op only.

Each fold is recorded with the pooling window it carries (``kernel``, ``stride``, ``padding``): an input spike of the
folded layer now reaches every output through up to ``kH*kW`` merged taps, which energy reports count.
"""

from dataclasses import replace as with_fields

import numpy as np

from ..ir.ops import AvgPool2d, Flatten, Linear
from .rewrite import graph_pass, rewrite, sole_reader


def spread(layer, pool, in_shape: tuple):
    """``layer`` (Linear or Readout) reading ``pool`` on ``in_shape`` inputs, as one layer over those inputs."""
    pooling, _ = pool.connection_matrix(in_shape)  # [N_in, N_pooled]: pooled = x @ pooling
    return with_fields(layer, weight=np.asarray(pooling @ layer.weight.T).T)


@graph_pass
def fold_avgpool(graph):
    """Fold every AvgPool2d -> Flatten -> Linear/Readout chain into one Flatten -> Linear/Readout."""
    folds = {}  # layer name -> (pool node, flatten node)
    for pool in (node for node in graph if isinstance(node.op, AvgPool2d)):
        flatten = sole_reader(graph, pool.name)
        layer = sole_reader(graph, flatten.name) if flatten is not None and isinstance(flatten.op, Flatten) else None
        if layer is not None and isinstance(layer.op, Linear):  # a Linear or the Readout
            folds[layer.name] = (pool, flatten)
    pools = {pool.name for pool, _ in folds.values()}
    flattens = {flatten.name: pool for pool, flatten in folds.values()}

    def replace(node):
        if node.name in pools:
            return []
        if node.name in flattens:
            return [(node.name, node.op, flattens[node.name].inputs)]
        if node.name in folds:
            pool = folds[node.name][0]
            return [(node.name, spread(node.op, pool.op, graph[pool.inputs[0]].info.shape), node.inputs)]
        return None

    facts = {"folded": {name: {"pool": pool.name, "kernel": list(pool.op.kernel), "stride": list(pool.op.stride),
                               "padding": list(pool.op.padding)} for name, (pool, _) in folds.items()}}
    return rewrite(graph, replace), facts
