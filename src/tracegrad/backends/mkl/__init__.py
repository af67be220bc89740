"""``torch.backends.mkl``: tracegrad calls no MKL; XLA's CPU backend brings its own kernels."""

from __future__ import annotations

__all__ = ["is_available"]


def is_available() -> bool:
    """False: no MKL kernels are used (XLA compiles its own CPU code)."""
    return False
