"""From PyTorch to the IR: trace a model (or a checkpoint) with torch.fx."""

from .checkpoint import example_input, trace_checkpoint
from .trace import supported_summary, trace

__all__ = ["trace", "trace_checkpoint", "example_input", "supported_summary"]
