"""``fold_batchnorm``: absorb every (td)BN into the weights before it, or make it a per-channel affine map.

With ``scale = op.scale()`` (``weight * gain / sqrt(var + eps)`` or ``/ (sqrt(var) + eps)``, DESIGN §4), a BN computes
``y = (x - mean) * scale + bias``. When ``x`` is the output of a Conv2d or Linear read by nothing else, ``x = W*s + b``
(``b = 0`` without a bias), so ``y = (W * scale) * s + ((b - mean) * scale + bias)``: the conv with weights scaled per
output channel and a new bias computes ``y`` exactly (in real arithmetic; float rounding differs by ~1 ulp). The
folded node keeps the conv's name and the BN's readers read it.

Every other BN (on an identity shortcut, whose input is spikes or counts; on the raw analog input, which stays in the
host-side encoding) becomes ``Affine(scale, bias - mean * scale)``, the same map: a one-to-one synapse of weight
``scale`` plus a bias on the target population.
"""

from dataclasses import replace as with_fields

import numpy as np

from ..ir.ops import Affine
from .rewrite import graph_pass, rewrite, sole_reader

FOLDS_INTO = ("Conv2d", "Linear")


def per_output(vector: np.ndarray, weight: np.ndarray) -> np.ndarray:
    """``vector`` shaped to scale ``weight`` along its first (output) axis."""
    return vector.reshape(-1, *([1] * (weight.ndim - 1)))


def folded(synapse, bn):
    """``synapse`` (Conv2d or Linear) followed by ``bn``, as one op of the same type."""
    scale = bn.scale()
    bias = 0.0 if synapse.bias is None else synapse.bias
    return with_fields(synapse, weight=synapse.weight * per_output(scale, synapse.weight),
                       bias=(bias - bn.mean) * scale + bn.bias)


def as_affine(bn) -> Affine:
    scale = bn.scale()
    return Affine(scale, bn.bias - bn.mean * scale)


@graph_pass
def fold_batchnorm(graph):
    """Fold each BN into the Conv2d/Linear it alone reads; turn every other BN into an Affine."""
    into = {}  # conv/linear name -> the BN node folding into it
    for bn in (node for node in graph if node.op.kind == "BatchNorm"):
        source = graph[bn.inputs[0]]
        if source.op.kind in FOLDS_INTO and sole_reader(graph, source.name):
            into[source.name] = bn
    folded_bns = {bn.name for bn in into.values()}
    affine = [node.name for node in graph if node.op.kind == "BatchNorm" and node.name not in folded_bns]

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
