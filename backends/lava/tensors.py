"""The integer arrays the Lava processes of a :class:`.network.Network` are built from, and the way back (numpy only).

Lava ports are ``(X, Y, C)``: a population's neurons in Lava order are its stacked IR tensor ``(K*C, H, W)`` with every
axis reversed (:meth:`.network.NeuronProcess.lava_order`). Weights are the IR's own integers, tiled over the source's
and the target's levels:

- ``Conv`` (a true convolution over ``(X, Y, C)``): PyTorch's kernel ``[C_out, C_in, kH, kW]`` flipped in space and
  transposed to ``[C_out, kW, kH, C_in]``; stride and padding tuples reversed.
- ``Dense`` / ``Sparse``: the IR connection matrix ``[N_in, N_out]`` (:meth:`snncompile.ir.ops.base.SynapticOp.
  connection_matrix`), rows and columns put in Lava order, transposed to Lava's ``(n_out, n_in)``.

Neuron parameters are in the widths of the network's chip (``Network.chip``).
"""

import numpy as np
from scipy import sparse

from .network import Connection, Network, NeuronProcess


def neuron_parameters(graph, network: Network, population: NeuronProcess) -> dict:
    """``du``, ``dv``, ``bias_mant`` and ``vth`` (per neuron, Lava shape) of a population's LIF process.

    Lava keeps ``4095 - du`` of the current (it adds one to ``du``) and ``4096 - dv`` of the membrane, in 4096ths:
    ``du = current_pass_through - Du``, ``dv = decay_one - D``. Only IntLIF populations keep some current."""
    chip = network.chip
    if population.is_lif:
        ops = [graph[m].op for m in population.members]
        plane = int(np.prod(population.shape[1:]))
        bias = np.concatenate([np.repeat(np.zeros(population.shape[0], np.int64) if op.bias is None else op.bias, plane)
                               for op in ops])
        threshold = np.repeat([op.threshold for op in ops], population.size // population.levels)
        return {"du": chip.current_pass_through - ops[0].current_decay_12bit, "dv": chip.decay_one - ops[0].decay_12bit,
                "bias_mant": lava_array(population, bias), "vth": lava_array(population, threshold)}
    if population.is_readout:  # a non-leaking integrator that never fires within the range analysis' bounds
        op = graph[population.members[0]].op
        bias = np.zeros(population.size, np.int64) if op.bias is None else op.bias
        return {"du": chip.current_pass_through, "dv": 0, "bias_mant": lava_array(population, bias),
                "vth": chip.threshold_max}
    # a relay: one input spike (weight 1) fires it, nothing else does
    return {"du": chip.current_pass_through, "dv": 0, "bias_mant": 0, "vth": 0}


def lava_array(population: NeuronProcess, stacked: np.ndarray) -> np.ndarray:
    """Per-neuron values in stacked IR order, as an array in the population's Lava shape."""
    return np.asarray(stacked).reshape(population.stacked_shape).transpose()


def from_lava(population: NeuronProcess, values: np.ndarray) -> np.ndarray:
    """``[..., n]`` per-neuron values in Lava order -> ``[..., K, *shape]`` per level in IR order."""
    stacked = np.empty_like(values)
    stacked[..., population.lava_order()] = values
    return stacked.reshape(*values.shape[:-1], population.levels, *population.shape)


def conv_parameters(graph, network: Network, connection: Connection) -> dict:
    """``weight``, ``stride`` and ``padding`` of the Lava ``Conv`` of a single Conv2d term."""
    (node, multiplicity), = connection.terms
    op = graph[node].op
    per_source = np.concatenate([count * op.weight for count in multiplicity], axis=1)
    weight = np.tile(per_source, (network.populations[connection.target].levels, 1, 1, 1))
    return {"weight": np.ascontiguousarray(weight[:, :, ::-1, ::-1].transpose(0, 3, 2, 1)).astype(np.int32),
            "stride": tuple(op.stride[::-1]), "padding": tuple(op.padding[::-1])}


def connection_matrix(graph, network: Network, connection: Connection):
    """Lava's ``(n_out, n_in)`` integer weights of a ``dense`` (ndarray), ``sparse`` or ``delay`` (CSR) connection."""
    source, target = network.populations[connection.source], network.populations[connection.target]
    if connection.is_delay:
        return sparse.identity(source.size, np.int32, format="csr")
    stacked = sum(sparse.kron(np.outer(multiplicity, np.ones(target.levels)), ir_matrix(graph, node))
                  for node, multiplicity in connection.terms)
    lava = sparse.csr_matrix(stacked)[source.lava_order()][:, target.lava_order()].T
    lava = lava.toarray() if connection.is_dense else lava.tocsr()
    return lava.astype(np.int32)


def ir_matrix(graph, name: str):
    """The connection matrix ``[N_in, N_out]`` of synaptic node ``name`` over flattened IR positions."""
    node = graph[name]
    return node.op.connection_matrix(graph[node.inputs[0]].info.shape)[0]
