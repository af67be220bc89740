"""``torch.backends.mkldnn``: tracegrad has no MKL-DNN (oneDNN) tensors; XLA's CPU backend
chooses its own kernels."""

from __future__ import annotations

__all__ = ["is_available", "enabled"]

enabled = True  # kept for programs that read it back; it changes nothing


def is_available() -> bool:
    """False: tracegrad has no MKL-DNN tensors (``to_mkldnn``) or MKL-DNN kernels to choose."""
    return False
