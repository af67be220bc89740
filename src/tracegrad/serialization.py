"""``tracegrad.save`` / ``tracegrad.load`` (being written)."""

from __future__ import annotations

__all__ = ["save", "load"]


def save(obj, f) -> None:
    raise NotImplementedError


def load(f, map_location=None, weights_only=True):
    raise NotImplementedError
