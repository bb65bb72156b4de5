"""``fold_batchnorm``: absorb every (td)BN into the weights before it, or make it a per-channel affine map.

With ``scale = op.scale()`` (``weight * gain / sqrt(var + eps)`` or ``/ (sqrt(var) + eps)``, DESIGN §4), a BN computes
``y = (x - mean) * scale + bias``. When ``x`` is the output of a synapse holding weights and a bias (Conv2d, Linear)
read by nothing else, ``x = W*s + b`` (``b = 0`` without a bias), so ``y = (W * scale) * s + ((b - mean) * scale +
bias)``: the synapse with weights scaled per output channel and a new bias computes ``y`` exactly (in real arithmetic;
float rounding differs by ~1 ulp). The folded node keeps the synapse's name and the BN's readers read it.

Every other BN (on an identity shortcut, whose input is spikes or counts; on the raw analog input, which stays in the
host-side encoding) becomes ``Affine(scale, bias - mean * scale)``, the same map: a one-to-one synapse of weight
``scale`` plus a bias on the target population.
"""

import numpy as np

from ..ir.ops import Affine, BatchNorm
from .rewrite import graph_pass, holds_weights, rewrite, sole_reader


def per_output(vector: np.ndarray, weight: np.ndarray) -> np.ndarray:
    """``vector`` shaped to scale ``weight`` along its first (output) axis."""
    return vector.reshape(-1, *([1] * (weight.ndim - 1)))


def folded(synapse, bn):
    """``synapse`` (its weights and bias tensors, :func:`holds_weights`) followed by ``bn``, as one op of the same
    type."""
    scale, weights = bn.scale(), synapse.weights()
    bias = 0.0 if synapse.bias_values() is None else synapse.bias_values()
    return synapse.with_weights(weights * per_output(scale, weights), (bias - bn.mean) * scale + bn.bias)


def as_affine(bn) -> Affine:
    scale = bn.scale()
    return Affine(scale, bn.bias - bn.mean * scale)


@graph_pass
def fold_batchnorm(graph):
    """Fold each BN into the synapse with weights it alone reads; turn every other BN into an Affine."""
    bns = [node for node in graph if isinstance(node.op, BatchNorm)]
    into = {}  # synapse name -> the BN node folding into it
    for bn in bns:
        source = graph[bn.inputs[0]]
        if holds_weights(source.op) and sole_reader(graph, source.name):
            into[source.name] = bn
    folded_bns = {bn.name for bn in into.values()}
    affine = [bn.name for bn in bns if bn.name not in folded_bns]

    def replace(node):
        if node.name in into:
            return [(node.name, folded(node.op, into[node.name].op), node.inputs)]
        if node.name in folded_bns:
            return []
        if node.name in affine:
            return [(node.name, as_affine(node.op), node.inputs)]
        return None

    renames = {bn.name: conv for conv, bn in into.items()}
    return rewrite(graph, replace, renames), {"folded": {conv: bn.name for conv, bn in into.items()}, "affine": affine}
