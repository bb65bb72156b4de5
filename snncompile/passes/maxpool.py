"""``lower_maxpool``: max pooling over events as threshold neurons (DESIGN §3).

- Over **spikes** a max is an OR: ``AvgPool2d`` (same kernel, stride, padding) named ``<name>.window`` into a threshold
  neuron ``<name>`` (``x > 0``). The window mean is positive iff some input fired; zero padding never fires, as
  padding never wins the max of non-negative values.
- Over **counts** ``c <= M``: ``max_p c_p >= j`` iff some ``c_p >= j``. For each level ``j = 1..M`` a one-to-one
  ``Affine(1, 0)`` edge ``<name>.level<j>.input`` feeds a threshold neuron ``<name>.level<j>.test`` (``c > j - 1/2``,
  i.e. ``c >= j``), an OR over the window as above gives ``<name>.level<j>``, and an Add named ``<name>`` counts the
  levels that hold: the maximum, as counts <= M.

Every value compared is an integer (or a positive multiple of ``1/(kH*kW)``) away from its threshold, so the lowering
is exact. A maximum of analog values (currents) has no chip equivalent: :class:`UnsupportedNodeError`.
"""

from ..errors import UnsupportedNodeError
from ..ir.ops import Add, AvgPool2d, MaxPool2d
from .rewrite import graph_pass, one_to_one, rewrite, threshold_unit


def or_pool(name: str, source: str, window: AvgPool2d) -> list:
    """Nodes computing, as ``name``, whether any spike of ``source`` in each pooling window fired."""
    return [(f"{name}.window", window, [source]), (name, threshold_unit(0.0, "OR"), [f"{name}.window"])]


def level_test(name: str, source: str, info, level: int) -> list:
    """Nodes computing, as ``<name>.test``, whether each count of ``source`` (described by ``info``) is at least
    ``level``."""
    return [(f"{name}.input", one_to_one(info, 1.0), [source]),
            (f"{name}.test", threshold_unit(level - 0.5, f"count >= {level}"), [f"{name}.input"])]


@graph_pass
def lower_maxpool(graph):
    """Replace each MaxPool2d over spikes by an OR pool, and over counts by one OR pool per count level."""
    pools = [node for node in graph if isinstance(node.op, MaxPool2d)]
    analog = [node.name for node in pools if not graph[node.inputs[0]].info.is_events]
    if analog:
        raise UnsupportedNodeError(f"MaxPool2d node(s) {', '.join(map(repr, analog))} pool analog values: a chip "
                                   f"cannot take a maximum of currents (only of spikes or counts)")
    neurons_added = {}

    def replace(node):
        if not isinstance(node.op, MaxPool2d):
            return None
        (source,), info = node.inputs, graph[node.inputs[0]].info
        window = AvgPool2d(node.op.kernel, node.op.stride, node.op.padding)
        if info.kind == "spikes":
            neurons_added[node.name] = node.info.size
            return or_pool(node.name, source, window)
        levels = [f"{node.name}.level{j}" for j in range(1, info.max_count + 1)]
        neurons_added[node.name] = len(levels) * (info.size + node.info.size)
        nodes = []
        for j, level in enumerate(levels, start=1):
            nodes += level_test(level, source, info, j) + or_pool(level, f"{level}.test", window)
        return [*nodes, (node.name, Add(), levels)]

    return rewrite(graph, replace), {"neurons_added": neurons_added}
