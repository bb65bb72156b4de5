"""Lava processes from a :class:`.network.Network` (imports Lava: only the worker process uses this module).

Neurons run Lava's bit-accurate fixed-point LIF (``du = 4095``: the current stage passes ``I << 6`` straight through;
``dv = 4096 - D``; ``bias_exp = 6``). Populations are ``LIFReset`` processes that clear their state every ``T`` steps
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

from snncompile.integer import CURRENT_SHIFT

from .network import Network
from .recorder import SpikeRecorder, recorder_model
from .tensors import conv_parameters, connection_matrix, neuron_parameters

WEIGHTS = {"sign_mode": SignMode.MIXED, "num_weight_bits": 9}  # 9-bit signed weights kept exact (DESIGN §4)
CURRENT_PASS_THROUGH = 4095                                     # du: with Lava's ds_offset of 1, no current memory


@dataclass
class Built:
    """The Lava processes of a network, ready to run: ``recorder`` reaches every process; ``monitor`` probes the
    readout's membrane."""

    recorder: SpikeRecorder
    monitor: Monitor
    readout: LIFReset
    run_cfg: Loihi2SimCfg


def build(graph, network: Network, T: int, steps: int, ring_data: dict, spikes_path, progress_path) -> Built:
    """The processes of ``network`` for ``steps`` Lava steps; ``ring_data[population]``: ``[steps, n]`` int32 host
    current (or spike frames of a spike Input) in Lava order. The recorder writes spikes to ``spikes_path`` and the
    steps done to ``progress_path`` (:class:`.recorder.SpikeRecorder`)."""
    neurons = {}
    for population in network.populations.values():
        shape = population.lava_shape
        if population.kind == "spikes":
            neurons[population.name] = RingBuffer(data=_in_time(ring_data[population.name], shape))
        elif population.kind == "relay":
            neurons[population.name] = LIF(shape=shape, du=CURRENT_PASS_THROUGH, dv=0, vth=0, bias_exp=CURRENT_SHIFT)
        else:
            neurons[population.name] = LIFReset(shape=shape, du=CURRENT_PASS_THROUGH, bias_exp=CURRENT_SHIFT,
                                                reset_interval=T, reset_offset=(population.depth + 1) % T,
                                                **neuron_parameters(graph, population))
            if population.host_current:
                source = RingBuffer(data=_in_time(ring_data[population.name], shape))
                source.s_out.connect(neurons[population.name].a_in)
    for synapse in network.synapses:
        source, target = neurons[synapse.source], neurons[synapse.target]
        if synapse.kind == "conv":
            connection = Conv(input_shape=network.populations[synapse.source].lava_shape,
                              **conv_parameters(graph, network, synapse))
            source.s_out.connect(connection.s_in)
            connection.a_out.connect(target.a_in)
            continue
        weights = connection_matrix(graph, network, synapse)
        if synapse.kind == "dense":
            connection = Dense(weights=weights, **WEIGHTS)
        elif synapse.delay:
            delays = weights.astype(int)
            delays.data[:] = synapse.delay
            connection = DelaySparse(weights=weights, delays=delays, **WEIGHTS)
        else:
            connection = Sparse(weights=weights, **WEIGHTS)
        _flat(source.s_out).connect(connection.s_in)
        _shaped(connection.a_out, target.a_in.shape).connect(target.a_in)
    lifs = [p.name for p in network.populations.values() if p.kind == "lif"]
    recorder = SpikeRecorder(shapes=[neurons[name].s_out.shape for name in lifs], path=spikes_path,
                             progress=progress_path)
    for index, name in enumerate(lifs):
        neurons[name].s_out.connect(getattr(recorder, f"in_{index}"))
    readout = neurons[next(p.name for p in network.populations.values() if p.kind == "readout")]
    monitor = Monitor()
    monitor.probe(readout.v, steps)
    run_cfg = Loihi2SimCfg(select_tag="fixed_pt", exception_proc_model_map={recorder: recorder_model(recorder)})
    return Built(recorder, monitor, readout, run_cfg)


def _flat(port):
    return port if len(port.shape) == 1 else port.flatten()


def _shaped(port, shape: tuple):
    return port if port.shape == shape else port.reshape(shape)


def _in_time(rows: np.ndarray, shape: tuple) -> np.ndarray:
    """``[steps, n]`` in Lava order -> a ring buffer's data ``[*shape, steps]``."""
    return np.ascontiguousarray(rows.T.reshape(*shape, rows.shape[0]), dtype=np.int32)
