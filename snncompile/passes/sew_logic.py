"""``lower_sew_logic``: turn the SEW logic joins into memoryless threshold neurons.

With binary branch ``A`` and shortcut ``S``, a LIF with ``decay = 0`` (hard reset to 0) has ``v_pre = x`` at every
step, so it is a pure threshold unit ``s = x > theta``:

- ``AND`` (``A * S``):        ``x = A + S``,   ``theta = 1.5``: fires iff both fired;
- ``IAND`` (``(1 - A) * S``): ``x = S - A``,   ``theta = 0.5``: fires iff the shortcut fired and the branch did not
  (``-A`` is a one-to-one ``Affine(-1, 0)`` edge named ``<name>.not_branch``).

``x`` takes only the integer values -1..2, and each threshold sits halfway between two of them, so the lowering is
exact, and stays exact on a chip whose neurons cannot forget completely: Loihi's smallest leak keeps 1/4096 of the
membrane (``D = 1``), a residue far below the half-step margin. The sum is named ``<name>.sum`` and the threshold
neuron keeps the join's name.
"""

from ..ir.ops import Add, SEWLogic
from .rewrite import graph_pass, one_to_one, rewrite, threshold_unit

THRESHOLDS = {"AND": 1.5, "IAND": 0.5}


@graph_pass
def lower_sew_logic(graph):
    """Replace each SEWLogic node by an Add (of ``A`` and ``S``, or ``S`` and ``-A``) into a threshold neuron."""
    neurons_added = {}

    def replace(node):
        if not isinstance(node.op, SEWLogic):
            return None
        (branch, shortcut), name, function = node.inputs, node.name, node.op.function
        neurons_added[name] = node.info.size
        if function == "AND":
            terms = [(f"{name}.sum", Add(), [branch, shortcut])]
        else:
            terms = [(f"{name}.not_branch", one_to_one(graph[branch].info, -1.0), [branch]),
                     (f"{name}.sum", Add(), [shortcut, f"{name}.not_branch"])]
        return [*terms, (name, threshold_unit(THRESHOLDS[function], f"SEW {function}"), [f"{name}.sum"])]

    return rewrite(graph, replace), {"neurons_added": neurons_added}
