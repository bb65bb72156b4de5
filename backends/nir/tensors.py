"""Where the tensors of an IR op live in the NIR node it is written as, and the metadata keys of snncompile's NIR files.

The exporter (:mod:`.export`) and the importer (:mod:`.importer`) share this one table: an IR tensor whose values
:func:`nir_tensors` finds in the NIR node (as floats; the node's metadata records its dtype) is not repeated in the
node's metadata.
"""

import numpy as np

from snncompile.ir.ops import Affine, Conv2d, Linear, Readout

OUTPUT = "output"           # the name of the NIR Output node
NODE_KEY = "snncompile"     # metadata: the IR op and attributes (node) or name, metadata and outputs (graph), as JSON
TENSORS_KEY = "tensors"     # metadata: the IR tensors the NIR fields do not hold as they are


def nir_tensors(op_type: type, node) -> dict:
    """The tensors of an IR op of class ``op_type`` as NIR ``node`` holds them, by IR field name."""
    if op_type in (Conv2d, Linear, Readout):
        return {"weight": node.weight, "bias": node.bias}
    if op_type is Affine and node.weight.ndim == 4:  # a channel-diagonal 1x1 convolution
        return {"scale": np.diagonal(node.weight[:, :, 0, 0]).copy(), "shift": node.bias}
    if op_type is Affine:
        return {"scale": np.diag(node.weight), "shift": node.bias}
    return {}
