"""Steps per sample: the ``T`` a graph runs, set by ``--T``, and the check that a compiled graph's integers still fit
the chip when it runs another ``T`` (or other inputs) than it was compiled for.

The quantizer bounds every accumulator over the graph's ``T`` steps for analog inputs in ``[0, 1]``
(:mod:`snncompile.passes.quantize_ranges`); a longer run or larger inputs can make a non-leaking membrane or the
readout's sum leave the chip's widths. :func:`require_fit` re-runs that analysis on the artifact's own scales.
"""

from .errors import ConfigError, require_count
from .limits import MAX_TIMESTEPS
from .passes.quantize_ranges import INPUT_RANGE, require_ranges


def with_steps(graph, T, source):
    """``graph`` set to run ``T`` steps per sample (its own when ``T`` is None); a graph that records no ``T`` needs
    one: :class:`ConfigError` naming ``source`` (the model's file or type)."""
    if T is not None:
        graph.metadata["T"] = require_count(T, "--T", maximum=MAX_TIMESTEPS)
    elif not graph.metadata.get("T"):
        raise ConfigError(f"{source} records no T (timesteps per sample): pass --T (T= in the Python API)")
    return graph


def require_fit(graph, float_graph, chip, input_range: tuple = INPUT_RANGE) -> None:
    """Raise :class:`~snncompile.errors.QuantizationRangeError` when the integer ``graph`` (quantized from the
    lowered ``float_graph`` for ``chip``) could leave ``chip``'s widths at its ``metadata["T"]`` with analog inputs
    in ``input_range``. A graph snncompile did not quantize (read from a netx or integer NIR file, no float graph)
    has no scales to check: it runs as it is, saturating where the chip saturates."""
    groups = graph.metadata.get("passes", {}).get("quantize", {}).get("groups")
    if float_graph is None or not groups:
        return
    require_ranges(float_graph, groups, chip, int(graph.metadata["bits"]), int(graph.metadata["T"]), input_range)
