"""indexing ops (see the module docstring once filled)."""

from __future__ import annotations

__all__: list[str] = []
