"""tracegrad.utils: ``checkpoint`` (activation checkpointing) and ``data`` (datasets, loaders)."""

from . import checkpoint, data

__all__ = ["checkpoint", "data"]
