"""The pipeline a target selects: the lowering passes, then the quantizer sized for the target's chip.

The order of the lowering passes matters:

- ``fold_batchnorm`` first: ``fold_input_gain`` scales the Conv2d / Linear / Affine ops feeding a neuron and cannot
  look through a BatchNorm.
- ``fold_input_gain`` before ``lower_mlf``: it scales the one conv feeding an MLF unit; once lowered, that conv feeds
  the K level populations and can no longer be scaled for one reader (the pass refuses shared synapses).
- ``fold_avgpool`` only needs the model's own layers; it runs with the folds, before the lowerings add nodes (their
  AvgPool2d OR windows feed threshold neurons, not FC layers, and stay pools).
- the lowerings leave only LIF neurons; ``add_identity_synapses`` then gives every spike tensor entering a neuron (an
  identity shortcut, a neuron reading its input directly) a weight-1 synapse the quantizer can scale;
  ``remove_dead_nodes`` runs last to drop whatever no output reads.

``quantize`` comes last: it needs a graph of LIF populations, synapses and glue only.
"""

from ..chip import Chip
from .avgpool import fold_avgpool
from .batchnorm import fold_batchnorm
from .calibrate import calibrate
from .dead_nodes import remove_dead_nodes
from .identity import add_identity_synapses
from .input_gain import fold_input_gain
from .maxpool import lower_maxpool
from .mlf import lower_mlf
from .quantize import quantize
from .sew_logic import lower_sew_logic

LOWERING_PIPELINE = [fold_batchnorm, fold_input_gain, fold_avgpool, lower_mlf, lower_sew_logic, lower_maxpool,
                     add_identity_synapses, remove_dead_nodes]


def quantize_pass(chip: Chip, bits: int = 8, *, clip_ratio: float = 1.0, calibration=None):
    """The pass ``quantize`` for ``chip`` with ``bits``-bit weights.

    With ``calibration`` samples (as the simulator takes them) it first picks the clip ratio on the lowered graph it
    receives (:func:`.calibrate.calibrate`) instead of using ``clip_ratio``; either way it records the ratio and the
    calibration (``None``, or ``{"samples", "scores"}`` with the scores by ratio) under
    ``graph.metadata["passes"]["quantize"]``."""
    def run(graph):
        ratio, scores = clip_ratio, None
        if calibration is not None:
            ratio, scores = calibrate(graph, calibration, chip=chip, bits=bits)
        quantized = quantize(graph, chip, bits, clip_ratio=ratio)
        frames = graph.input_nodes[0].op.encoding == "frames"  # calibration samples [T, B, ...]
        quantized.metadata["passes"]["quantize"]["calibration"] = None if scores is None else {
            "samples": len(calibration[0] if frames else calibration),
            "scores": {str(r): score for r, score in scores.items()}}
        return quantized

    run.name = "quantize"
    return run


def pipeline_for(chip: Chip, bits: int = 8, *, clip_ratio: float = 1.0, calibration=None) -> list:
    """Every pass that turns a traced float graph into ``chip``'s integer graph: the lowering passes, then
    :func:`quantize_pass`."""
    return [*LOWERING_PIPELINE, quantize_pass(chip, bits, clip_ratio=clip_ratio, calibration=calibration)]
