"""From PyTorch to the IR: trace a model (or a checkpoint) with torch.fx."""

from .trace import supported_summary, trace

__all__ = ["trace", "supported_summary"]
