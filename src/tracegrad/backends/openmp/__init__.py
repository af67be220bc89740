"""``torch.backends.openmp``: XLA's CPU backend runs on its own thread pool, not OpenMP."""

from __future__ import annotations

__all__ = ["is_available"]


def is_available() -> bool:
    """False: tracegrad's CPU kernels (XLA's) do not use OpenMP."""
    return False
