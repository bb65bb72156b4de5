"""IR ops, one family per module; ``OPS`` maps each op's type name to its class."""

from .base import Op
from .combine import Add, SEWLogic
from .io import Input, Quantize
from .neurons import LIF, MLF, IntLIF
from .norm import Affine, BatchNorm
from .pooling import AvgPool2d, Flatten, MaxPool2d, SumPool2d
from .synapses import Conv2d, Linear, Readout

OPS = {cls.__name__: cls for cls in (Input, Quantize, Conv2d, Linear, Readout, AvgPool2d, SumPool2d, MaxPool2d, Flatten,
                                     BatchNorm, Affine, Add, SEWLogic, LIF, MLF, IntLIF)}

__all__ = ["OPS", "Op", *OPS]
