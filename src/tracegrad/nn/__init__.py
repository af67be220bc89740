"""Neural-network building blocks, as ``torch.nn``. For now: ``tracegrad.nn.functional``."""

from . import functional

__all__ = ["functional"]
