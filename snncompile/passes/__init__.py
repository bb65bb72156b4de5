"""Chip-lowering passes and the quantizer: pure ``Graph -> Graph`` functions, each with a ``name``, run by a
:class:`PassManager` over the pipeline a target selects (:func:`pipeline_for`).

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
from .pipeline import LOWERING_PIPELINE, pipeline_for, quantize_pass
from .rewrite import graph_pass, rewrite
from .sew_logic import lower_sew_logic

__all__ = ["LOWERING_PIPELINE", "PassManager", "add_identity_synapses", "fold_avgpool", "fold_batchnorm",
           "fold_input_gain", "graph_pass", "lower_maxpool", "lower_mlf", "lower_sew_logic", "pipeline_for",
           "quantize_pass", "remove_dead_nodes", "rewrite"]
