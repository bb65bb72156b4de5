"""Chip-lowering passes: pure ``Graph -> Graph`` functions, each with a ``name``, run by a :class:`PassManager`.

Each pass preserves what the graph computes and records what it did under ``graph.metadata["passes"][name]``.
"""

from .avgpool import fold_avgpool
from .batchnorm import fold_batchnorm
from .dead_nodes import remove_dead_nodes
from .identity import add_identity_synapses
from .input_gain import fold_input_gain
from .manager import PassManager
from .maxpool import lower_maxpool
from .mlf import lower_mlf
from .rewrite import graph_pass, rewrite
from .sew_logic import lower_sew_logic

# The order matters:
# - fold_batchnorm first: fold_input_gain scales the Conv2d / Linear / Affine ops feeding a neuron and cannot look
#   through a BatchNorm.
# - fold_input_gain before lower_mlf: it scales the one conv feeding an MLF unit; once lowered, that conv feeds the K
#   level populations and can no longer be scaled for one reader (the pass refuses shared synapses).
# - fold_avgpool only needs the model's own layers; it runs with the folds, before the lowerings add nodes (their
#   AvgPool2d OR windows feed threshold neurons, not FC layers, and stay pools).
# - the lowerings leave only LIF neurons; add_identity_synapses then gives every spike tensor entering a neuron
#   (an identity shortcut, a neuron reading its input directly) a weight-1 synapse the quantizer can scale;
#   remove_dead_nodes runs last to drop whatever no output reads.
LOWERING_PIPELINE = [fold_batchnorm, fold_input_gain, fold_avgpool, lower_mlf, lower_sew_logic, lower_maxpool,
                     add_identity_synapses, remove_dead_nodes]

__all__ = ["LOWERING_PIPELINE", "PassManager", "add_identity_synapses", "fold_avgpool", "fold_batchnorm", "fold_input_gain", "graph_pass",
           "lower_maxpool", "lower_mlf", "lower_sew_logic", "remove_dead_nodes", "rewrite"]
