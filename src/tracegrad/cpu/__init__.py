"""``torch.cpu``: the CPU device module (here, its ``amp`` spellings)."""

from __future__ import annotations

from . import amp

__all__ = ["amp", "is_available"]


def is_available() -> bool:
    """True: the CPU is always available."""
    return True
