"""tracegrad.utils.data (being written)."""

from __future__ import annotations
