"""The intermediate representation: a graph of small op dataclasses holding numpy tensors."""

from .graph import Graph, Node
from .ops import OPS
from .serialize import FORMAT_VERSION, load, save
from .values import TensorInfo

__all__ = ["Graph", "Node", "OPS", "TensorInfo", "FORMAT_VERSION", "load", "save"]
