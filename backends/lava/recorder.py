"""A Lava sink that writes the spikes of many populations to a memory-mapped file, one row per timestep.

Lava's own sinks (``io.sink.RingBuffer``, ``Monitor``) keep what they receive in a Var, and ``Var.get()`` transfers one
element at a time (~30 µs each): minutes for a network's spikes. This sink writes each step's spikes straight into an
``.npy`` file that the runner maps, and one instance serves every population (one InPort each), so recording costs one
Lava process. It receives spikes like any other sink; it computes nothing. It also counts the steps done, so the
caller can show progress while Lava runs.
"""

import numpy as np

from lava.magma.core.decorator import implements, requires, tag
from lava.magma.core.model.py.model import PyLoihiProcessModel
from lava.magma.core.model.py.ports import PyInPort
from lava.magma.core.model.py.type import LavaPyType
from lava.magma.core.process.ports.ports import InPort
from lava.magma.core.process.process import AbstractProcess
from lava.magma.core.resources import CPU
from lava.magma.core.sync.protocols.loihi_protocol import LoihiProtocol


class SpikeRecorder(AbstractProcess):
    """InPorts ``in_0, in_1, ...`` of the given ``shapes``; at step ``t`` (from 1) it writes their values, flattened
    and concatenated, to row ``t - 1`` of the int8 ``.npy`` file at ``path`` (``[steps, total size]``, created by the
    caller), then ``t`` to element 1 of the int64 ``.npy`` file at ``progress``."""

    def __init__(self, *, shapes: list, path: str, progress: str):
        super().__init__(shapes=[tuple(s) for s in shapes], path=str(path), progress=str(progress))
        for index, shape in enumerate(shapes):
            setattr(self, f"in_{index}", InPort(shape=tuple(shape)))


class AbstractSpikeRecorderModel(PyLoihiProcessModel):
    """Writes what its ports receive; subclassed by :func:`recorder_model` with one port declaration per InPort."""

    def __init__(self, proc_params):
        super().__init__(proc_params)
        sizes = [int(np.prod(shape)) for shape in proc_params["shapes"]]
        self.bounds = np.cumsum([0, *sizes])
        self.rows = np.load(proc_params["path"], mmap_mode="r+")
        self.progress = np.load(proc_params["progress"], mmap_mode="r+")

    def run_spk(self):
        row = self.rows[self.time_step - 1]
        for index in range(len(self.bounds) - 1):
            row[self.bounds[index]:self.bounds[index + 1]] = getattr(self, f"in_{index}").recv().ravel()
        self.progress[1] = self.time_step


def recorder_model(recorder: SpikeRecorder) -> type:
    """The fixed-point ProcessModel of ``recorder`` (Lava reads port types from class attributes, so the class is made
    for the recorder's number of ports)."""
    count = len(recorder.proc_params["shapes"])
    ports = {f"in_{index}": LavaPyType(PyInPort.VEC_DENSE, np.int32) for index in range(count)}
    model = type("SpikeRecorderModel", (AbstractSpikeRecorderModel,), ports)
    return implements(proc=SpikeRecorder, protocol=LoihiProtocol)(requires(CPU)(tag("fixed_pt")(model)))
