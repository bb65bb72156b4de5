"""Lava processes from a :class:`.network.Network` (imports Lava: only the worker process uses this module).

Neurons run Lava's bit-accurate fixed-point LIF in the widths of the network's chip (Loihi 2: ``du = 4095``, the
current stage passes ``I << 6`` straight through; ``dv = 4096 - D``; ``bias_exp = 6``); synapses keep the chip's
signed weights exact. Populations are ``LIFReset`` processes that clear their state every ``T`` steps
at their own phase ``depth + 1``, so samples follow each other through the pipeline one per ``T`` steps: sample ``b``,
IR step ``t`` (from 0) of population ``P`` happens at Lava step ``b*T + t + depth(P) + 1``. Whatever a population
does before its first reset is flushed by the resets downstream before anything reads it.
"""

from dataclasses import dataclass

import numpy as np
from lava.magma.core.run_configs import Loihi2SimCfg
from lava.proc.conv.process import Conv
from lava.proc.dense.process import Dense
from lava.proc.io.source import RingBuffer
from lava.proc.lif.process import LIF, LIFReset
from lava.proc.monitor.process import Monitor
from lava.proc.sparse.process import DelaySparse, Sparse
from lava.utils.weightutils import SignMode

from .network import Network
from .recorder import SpikeRecorder, recorder_model
from .tensors import conv_parameters, connection_matrix, neuron_parameters


@dataclass
class BuiltNetwork:
    """The Lava processes of a network, ready to run: ``recorder`` reaches every process; ``monitor`` probes the
    readout's membrane."""

    recorder: SpikeRecorder
    monitor: Monitor
    readout: LIFReset
    run_cfg: Loihi2SimCfg


def build(graph, network: Network, T: int, steps: int, ring_data: dict, spikes_path, progress_path) -> BuiltNetwork:
    """The processes of ``network`` for ``steps`` Lava steps; ``ring_data[population]``: ``[steps, n]`` int32 host
    current (or spike frames of a spike Input) in Lava order. The recorder writes spikes to ``spikes_path`` and the
    steps done to ``progress_path`` (:class:`.recorder.SpikeRecorder`)."""
    neurons = {name: _neurons(graph, network, population, T, ring_data)
               for name, population in network.populations.items()}
    for connection in network.connections:
        _connect(graph, network, connection, neurons[connection.source], neurons[connection.target])
    lifs = [population.name for population in network.lif_populations()]
    recorder = SpikeRecorder(shapes=[neurons[name].s_out.shape for name in lifs], path=spikes_path,
                             progress=progress_path)
    for index, name in enumerate(lifs):
        neurons[name].s_out.connect(getattr(recorder, f"in_{index}"))
    readout = neurons[network.readout.name]
    monitor = Monitor()
    monitor.probe(readout.v, steps)
    run_cfg = Loihi2SimCfg(select_tag="fixed_pt", exception_proc_model_map={recorder: recorder_model(recorder)})
    return BuiltNetwork(recorder, monitor, readout, run_cfg)


def _neurons(graph, network: Network, population, T: int, ring_data: dict):
    """The Lava process of ``population``: a ring buffer of a spike Input's frames, a relay's plain LIF, or a
    ``LIFReset`` (fed its host current by a ring buffer of its own, if any)."""
    shape, chip = population.lava_shape, network.chip
    if population.is_spike_input:
        return RingBuffer(data=_in_time(ring_data[population.name], shape))
    if population.is_relay:
        return LIF(shape=shape, bias_exp=chip.current_shift, **neuron_parameters(graph, network, population))
    neurons = LIFReset(shape=shape, bias_exp=chip.current_shift, reset_interval=T,
                       reset_offset=(population.depth + 1) % T, **neuron_parameters(graph, network, population))
    if population.host_current:
        RingBuffer(data=_in_time(ring_data[population.name], shape)).s_out.connect(neurons.a_in)
    return neurons


def _connect(graph, network: Network, connection, source, target) -> None:
    """Connect the neuron processes ``source`` and ``target`` through the Lava process of ``connection``."""
    if connection.is_conv:
        process = Conv(input_shape=network.populations[connection.source].lava_shape,
                       **conv_parameters(graph, network, connection))
        source.s_out.connect(process.s_in)
        process.a_out.connect(target.a_in)
        return
    weights = connection_matrix(graph, network, connection)
    exact = {"sign_mode": SignMode.MIXED, "num_weight_bits": network.chip.weight_bits}  # signed weights kept exact
    if connection.is_dense:
        process = Dense(weights=weights, **exact)
    elif connection.delay:
        delays = weights.astype(int)
        delays.data[:] = connection.delay
        process = DelaySparse(weights=weights, delays=delays, **exact)
    else:
        process = Sparse(weights=weights, **exact)
    _flat(source.s_out).connect(process.s_in)
    _shaped(process.a_out, target.a_in.shape).connect(target.a_in)


def _flat(port):
    return port if len(port.shape) == 1 else port.flatten()


def _shaped(port, shape: tuple):
    return port if port.shape == shape else port.reshape(shape)


def _in_time(rows: np.ndarray, shape: tuple) -> np.ndarray:
    """``[steps, n]`` in Lava order -> a ring buffer's data ``[*shape, steps]``."""
    return np.ascontiguousarray(rows.T.reshape(*shape, rows.shape[0]), dtype=np.int32)
