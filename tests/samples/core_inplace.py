"""Samples for the overwriting ops behind ``fill_``, ``zero_`` and ``copy_`` (ops/arith.py)."""

from __future__ import annotations

from . import Family, Sample

_draw = Family(__name__)
arr = _draw.arr

S = Sample

SAMPLES = {
    "fill": [
        S((arr(3, 4),), {"value": 2.5, "zero": False}),
        S((arr(),), {"value": 0, "zero": True}),
        S((arr(0, 3),), {"value": 1.0, "zero": False}),
    ],
    "copy": [
        S((arr(3, 4), arr(3, 4)), name="same"),
        S((arr(3, 4), arr(4)), name="broadcast_row"),
        S((arr(2, 3, 4), arr(3, 1)), name="broadcast_two"),
        S((arr(3), arr()), name="from_0d"),
    ],
}
