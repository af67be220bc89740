"""pooling ops (filled by the convolution work)."""

from __future__ import annotations

__all__: list[str] = []
