"""From PyTorch to the IR: trace a model (or a checkpoint, or a model defined in code) with torch.fx."""

from .checkpoint import example_input, trace_checkpoint
from .factory import is_factory_source, trace_factory
from .registry import Chain, register, unregister
from .trace import supported_summary, trace

__all__ = ["trace", "trace_checkpoint", "trace_factory", "is_factory_source", "example_input", "supported_summary",
           "register", "unregister", "Chain"]
