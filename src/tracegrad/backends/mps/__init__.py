"""``torch.backends.mps``: JAX has no Metal (MPS) backend in tracegrad."""

from __future__ import annotations

__all__ = ["is_available", "is_built"]


def is_available() -> bool:
    """False: tracegrad cannot place tensors on Apple's MPS devices."""
    return False


def is_built() -> bool:
    """False: tracegrad has no MPS backend."""
    return False
