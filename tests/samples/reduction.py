"""Samples for the reductions, scans and softmaxes (sum, mean and sum_to_size stay in core.py)."""

from __future__ import annotations

import math

import numpy as np

from . import Family, Sample

_draw = Family(__name__)
arr, away, distinct, pos = _draw.arr, _draw.away, _draw.distinct, _draw.pos

S = Sample


def _with_zeros(*shape, zeros: int, axis: int = -1):
    """Values away from 0, with ``zeros`` exact zeros in every slice along ``axis``."""
    x = away(*shape, gap=0.3)
    idx = [slice(None)] * len(shape)
    idx[axis] = slice(1, 1 + zeros)
    x[tuple(idx)] = 0.0
    return x


def _signed_distinct(*shape):
    """Distinct magnitudes (no ties in |x|), random signs: for the inf-norms."""
    return distinct(*shape, low=0.5, high=2.0) * np.where(arr(*shape) > 0, 1.0, -1.0)


def _red(gen, *shapes_dims, **extra):
    """Samples of a ``(dim, keepdim)`` reduction: one per ``(shape, dim, keepdim)``."""
    return [
        S((gen(*shape),), {"dim": dim, "keepdim": keep, **extra}, name=f"{shape}-{dim}-{keep}")
        for shape, dim, keep in shapes_dims
    ]


_shapes = [
    ((3, 4), None, False),
    ((3, 4), (1,), False),
    ((2, 3, 4), (0, 2), True),
    ((2, 3, 4), (1,), False),
    ((), (), False),
]
_nonempty = _shapes + [((0, 3), (1,), False)]


def _select(gen, shape, dim, keepdim, name, pick):
    x = gen(*shape)
    idx = pick(x, axis=dim, keepdims=True)
    if not keepdim:
        idx = np.squeeze(idx, dim)
    return S((x, idx.astype(np.int64)), {"dim": dim, "keepdim": keepdim, "name": name})


SAMPLES = {
    "prod": _red(arr, *_nonempty, ((0, 3), (0,), False), dtype=None)
    + [
        # Zeros: first derivatives are exact; second derivatives drop terms through the zero.
        S(
            (_with_zeros(3, 4, zeros=1),),
            {"dim": (1,), "keepdim": False, "dtype": None},
            second_order=False,
            name="one_zero",
        ),
        S(
            (_with_zeros(3, 4, zeros=2),),
            {"dim": (1,), "keepdim": True, "dtype": None},
            second_order=False,
            name="two_zeros",
        ),
        S(
            (_with_zeros(2, 3, zeros=1),),
            {"dim": None, "keepdim": False, "dtype": None},
            second_order=False,
            name="zero_all",
        ),
    ],
    "amax": _red(distinct, *_shapes[:4], name="AmaxBackward0")
    + [
        S(
            (np.array([[1.0, 3.0, 3.0], [2.0, 2.0, 2.0]]),),
            {"dim": (1,), "keepdim": False, "name": "AmaxBackward0"},
            fd=False,
            name="ties",
        ),
        S((distinct(3, 4),), {"dim": None, "keepdim": False, "name": "MaxBackward1"}),
    ],
    "amin": _red(distinct, *_shapes[:4], name="AminBackward0")
    + [
        S(
            (np.array([[1.0, 1.0, 3.0], [2.0, 2.0, 2.0]]),),
            {"dim": None, "keepdim": False, "name": "MinBackward1"},
            fd=False,
            name="ties",
        ),
    ],
    "argmax": [
        S((distinct(3, 4),), {"dim": 1, "keepdim": False}),
        S((distinct(3, 4),), {"dim": None, "keepdim": True}),
        S((distinct(2, 3, 4),), {"dim": 0, "keepdim": True}),
    ],
    "argmin": [
        S((distinct(3, 4),), {"dim": 0, "keepdim": False}),
        S((distinct(3, 4),), {"dim": None, "keepdim": False}),
    ],
    "value_select": [
        _select(distinct, (3, 4), 1, False, "MaxBackward0", np.argmax),
        _select(distinct, (2, 3, 4), 0, True, "MinBackward0", np.argmin),
        _select(distinct, (2, 3, 4), 2, False, "MedianBackward1", np.argmax),
        _select(distinct, (0, 4), 1, False, "MaxBackward0", lambda x, **k: np.zeros((0, 1), int)),
    ],
    "median": [S((distinct(3, 4),)), S((distinct(5),)), S((distinct(),))],
    "median_index": [
        S((distinct(3, 4),), {"dim": 1, "keepdim": False}),
        S((distinct(3, 4),), {"dim": 0, "keepdim": True}),
    ],
    "var": _red(arr, *_shapes[:4], correction=1)
    + _red(arr, ((3, 4), (0,), True), ((5,), None, False), correction=0),
    "std": _red(arr, *_shapes[:4], correction=1)
    + _red(arr, ((3, 4), (0,), True), ((5,), None, False), correction=0),
    "norm": [
        *_red(away, *_shapes[:4], p=2.0),
        *_red(away, ((3, 4), (1,), False), ((5,), None, False), p=1.0),
        *_red(_signed_distinct, ((3, 4), (1,), False), ((5,), None, True), p=math.inf),
        *_red(_signed_distinct, ((3, 4), (0,), False), p=-math.inf),
        *_red(away, ((3, 4), (1,), False), ((2, 3), None, False), p=3.0),
        *_red(away, ((3, 4), (1,), True), p=1.5),
        *_red(away, ((3, 4), (1,), False), p=0.5),
        *_red(away, ((3, 4), (1,), False), p=-2.0),
        *_red(away, ((3, 4), None, False), p=0.0),
    ],
    "logsumexp": _red(arr, *_shapes, ((0, 3), (1,), False))
    + [S((arr(2, 5, low=-900.0, high=900.0),), {"dim": (1,), "keepdim": False}, name="wide")],
    "cumsum": [
        S((arr(3, 4),), {"dim": 1, "reverse": False}),
        S((arr(2, 3, 4),), {"dim": 0, "reverse": False}),
        S((arr(3, 4),), {"dim": 1, "reverse": True}),
        S((arr(),), {"dim": 0, "reverse": False}),
        S((arr(0, 3),), {"dim": 1, "reverse": False}),
    ],
    "cumprod": [
        S((arr(3, 4),), {"dim": 1}),
        S((arr(2, 3, 4),), {"dim": 0}),
        S((arr(),), {"dim": 0}),
        S((arr(0, 3),), {"dim": 1}),
        # Zeros: first derivatives are exact; second derivatives drop terms through the zero.
        S((_with_zeros(3, 5, zeros=1),), {"dim": 1}, second_order=False, name="one_zero"),
        S((_with_zeros(3, 5, zeros=2),), {"dim": 1}, second_order=False, name="two_zeros"),
        S((_with_zeros(4, 3, zeros=1, axis=0),), {"dim": 0}, second_order=False, name="zero_d0"),
    ],
    "all": [
        S((arr(3, 4) > 0,), {"dim": None, "keepdim": False}),
        S((arr(3, 4) > -1.5,), {"dim": (1,), "keepdim": True}),
        S((np.arange(6).reshape(2, 3),), {"dim": (0,), "keepdim": False}),
    ],
    "any": [
        S((arr(3, 4) > 1.5,), {"dim": None, "keepdim": False}),
        S((arr(3, 4),), {"dim": (0,), "keepdim": False}),
    ],
    "count_nonzero": [
        S((np.array([[0.0, 1.0, 2.0], [0.0, 0.0, 3.0]]),), {"dim": None}),
        S((np.array([[0, 1, 2], [0, 0, 3]]),), {"dim": (0,)}),
    ],
    "softmax": [
        S((arr(3, 4),), {"dim": 1}),
        S((arr(2, 3, 4),), {"dim": 0}),
        S((arr(),), {"dim": 0}),
        S((arr(0, 3),), {"dim": 1}),
        S((arr(2, 5, low=995.0, high=1000.0),), {"dim": 1}, name="large"),
    ],
    "log_softmax": [
        S((arr(3, 4),), {"dim": 1}),
        S((arr(2, 3, 4),), {"dim": 2}),
        S((arr(),), {"dim": 0}),
        S((arr(0, 3),), {"dim": 0}),
        S((arr(2, 5, low=995.0, high=1000.0),), {"dim": 1}, name="large"),
    ],
}

# std at a constant slice is 0: the gradient there is 0, not NaN (checked in the API tests).
SAMPLES["std"].append(S((pos(3, 4),), {"dim": (1,), "correction": 1, "keepdim": False}))
