"""Samples for the shape ops (reshape/expand/permute keep theirs in core.py)."""

from __future__ import annotations

from . import Family, Sample

_draw = Family(__name__)
arr = _draw.arr

S = Sample

SAMPLES = {
    "repeat": [
        S((arr(2, 3),), {"repeats": (2, 1, 3)}),
        S((arr(3),), {"repeats": (2, 2)}),
        S((arr(),), {"repeats": (3,)}),
        S((arr(0, 2),), {"repeats": (2, 2)}),
        S((arr(3),), {"repeats": (0,)}),
    ],
    "cat": [
        S((arr(2, 3), arr(4, 3)), {"dim": 0}),
        S((arr(2, 3), arr(2, 1), arr(2, 0)), {"dim": 1}),
        S((arr(2, 3, 2),), {"dim": 2}),
        S((arr(0, 3), arr(1, 3)), {"dim": 0}),
    ],
    "stack": [
        S((arr(2, 3), arr(2, 3)), {"dim": 0}),
        S((arr(2, 3), arr(2, 3), arr(2, 3)), {"dim": 2}),
        S((arr(), arr()), {"dim": 0}),
        S((arr(0, 2),), {"dim": 1}),
    ],
    "flip": [
        S((arr(3, 4),), {"dims": (0,)}),
        S((arr(2, 3, 4),), {"dims": (0, 2)}),
        S((arr(),), {"dims": ()}),
    ],
    "roll": [
        S((arr(5),), {"shifts": (2,), "dims": (0,)}),
        S((arr(3, 4),), {"shifts": (2, 1), "dims": (1, 0)}),
        S((arr(0, 3),), {"shifts": (1,), "dims": (1,)}),
    ],
    "diagonal": [
        S((arr(3, 4),), {"offset": 0, "dim1": 0, "dim2": 1}),
        S((arr(3, 4),), {"offset": 1, "dim1": 1, "dim2": 0}),
        S((arr(2, 3, 4),), {"offset": -1, "dim1": 2, "dim2": 1}),
        S((arr(2, 3),), {"offset": 5, "dim1": 0, "dim2": 1}),
    ],
    "diagonal_scatter": [
        S(
            (arr(3),),
            {"shape": (3, 4), "offset": 0, "dim1": 0, "dim2": 1, "name": "DiagEmbedBackward0"},
        ),
        S((arr(2, 3),), {"shape": (4, 2, 3), "offset": 0, "dim1": 2, "dim2": 0, "name": "D"}),
        S((arr(2),), {"shape": (3, 3), "offset": -1, "dim1": 0, "dim2": 1, "name": "D"}),
        S((arr(0),), {"shape": (2, 3), "offset": 3, "dim1": 0, "dim2": 1, "name": "D"}),
    ],
    "tril": [
        S((arr(3, 4),), {"diagonal": 0}),
        S((arr(2, 3, 3),), {"diagonal": -1}),
        S((arr(3, 4),), {"diagonal": 2}),
    ],
    "triu": [
        S((arr(3, 4),), {"diagonal": 0}),
        S((arr(2, 3, 3),), {"diagonal": 1}),
        S((arr(0, 4),), {"diagonal": -2}),
    ],
}
