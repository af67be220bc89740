"""Samples for the arrangement ops: block_diag, unfold (and its transpose), rot90."""

from __future__ import annotations

from . import Family, Sample

_draw = Family(__name__)
arr = _draw.arr

S = Sample

SAMPLES = {
    "block_diag": [
        S((arr(2, 3), arr(1, 2), arr(3, 1))),
        S((arr(2, 2),)),
        S((arr(1, 3), arr(0, 2), arr(2, 0))),
    ],
    "unfold": [
        S((arr(7),), {"dim": 0, "size": 3, "step": 2}),
        S((arr(2, 5, 3),), {"dim": 1, "size": 2, "step": 1}),
        S((arr(4, 6),), {"dim": 1, "size": 2, "step": 3}),
        S((arr(3, 2),), {"dim": 0, "size": 3, "step": 1}),
        S((arr(3),), {"dim": 0, "size": 0, "step": 1}),
        S((arr(),), {"dim": 0, "size": 1, "step": 1}),
    ],
    "unfold_backward": [
        S((arr(3, 3),), {"shape": (7,), "dim": 0, "size": 3, "step": 2}),
        S((arr(2, 4, 3, 2),), {"shape": (2, 5, 3), "dim": 1, "size": 2, "step": 1}),
        S((arr(4, 2, 2),), {"shape": (4, 6), "dim": 1, "size": 2, "step": 3}),
        S((arr(1),), {"shape": (), "dim": 0, "size": 1, "step": 1}),
    ],
    "rot90": [
        S((arr(2, 3),), {"k": 1, "dims": (0, 1)}),
        S((arr(2, 3, 4),), {"k": 2, "dims": (2, 0)}),
        S((arr(3, 4),), {"k": 3, "dims": (1, 0)}),
        S((arr(2, 3),), {"k": 0, "dims": (0, 1)}),
    ],
}
