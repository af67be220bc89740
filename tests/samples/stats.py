"""Samples for the statistics, searching, counting and scan ops (nanmedian, mode, cummax/cummin,
logcumsumexp, searchsorted, isin, histogram)."""

from __future__ import annotations

import numpy as np

from . import Family, Sample

_draw = Family(__name__)
arr, distinct, ints = _draw.arr, _draw.distinct, _draw.ints

S = Sample


def _with_nans(*shape, count: int) -> np.ndarray:
    """Distinct values with ``count`` NaNs at random places."""
    x = distinct(*shape).reshape(-1)
    x[_draw.rng.choice(x.size, count, replace=False)] = np.nan
    return x.reshape(shape)


# An all-NaN slice is left to tests/test_stats_api.py: PyTorch shares the gradient among the NaNs
# (evenly_distribute_backward), while JAX's derivative of the lowering picks one of them.
SAMPLES = {
    "nanmedian": [
        S((_with_nans(3, 4, count=3),), name="nans"),
        S((distinct(5),), name="no_nan"),
        S((distinct(2, 3),), name="even"),
    ],
    "nanmedian_index": [
        S((_with_nans(3, 5, count=4),), {"dim": 1, "keepdim": False}),
        S((distinct(4, 3),), {"dim": 0, "keepdim": True}),
    ],
    "mode_index": [
        S((ints(3, 6, high=3),), {"dim": 1, "keepdim": False}, name="int_ties"),
        S((ints(5, 2, high=2).astype(np.float64),), {"dim": 0, "keepdim": True}, name="float"),
        S((distinct(2, 4),), {"dim": 1, "keepdim": False}, name="all_distinct"),
        S((np.array([[np.nan, 1.0, np.nan], [2.0, np.nan, 2.0]]),), {"dim": 1, "keepdim": False}),
    ],
    "cum_index": [
        S((distinct(3, 5),), {"dim": 1, "largest": True}),
        S((distinct(4, 3),), {"dim": 0, "largest": False}),
        S((ints(2, 7, high=3),), {"dim": 1, "largest": True}, name="int_ties"),
        S((_with_nans(8, count=2),), {"dim": 0, "largest": False}, name="nans"),
    ],
    "logcumsumexp": [
        S((arr(3, 5),), {"dim": 1, "reverse": False}),
        S((arr(4, 2, low=-30.0, high=30.0),), {"dim": 0, "reverse": False}, name="wide"),
        S((arr(2, 6),), {"dim": 1, "reverse": True}, name="reverse"),
        S((arr(7),), {"dim": 0, "reverse": False}, name="1d"),
    ],
    "searchsorted": [
        S((np.sort(arr(6)), arr(2, 3)), {"right": False, "int32": False}),
        S((np.sort(arr(2, 5), axis=-1), arr(2, 4)), {"right": True, "int32": True}, name="batch"),
        S((np.array([0, 1, 1, 3], np.int64), ints(5, high=4)), {"right": True, "int32": False}),
        S(
            (np.array([-1.0, 0.5, 2.0, np.nan]), np.array([np.nan, 0.5, 3.0, -2.0])),
            {"right": False, "int32": False},
            name="nans",
        ),
    ],
    "isin": [
        S((ints(3, 4, high=6), ints(3, high=6)), {"assume_unique": False, "invert": False}),
        S((ints(5, high=4), ints(2, 2, high=4)), {"assume_unique": False, "invert": True}),
    ],
    "histogram": [
        S((arr(20), np.linspace(-2.0, 2.0, 6), None), {"density": False}),
        S((arr(4, 5), np.array([-1.0, 0.0, 0.5, 3.0]), arr(4, 5, low=0.0)), {"density": True}),
    ],
    "histogramdd": [
        S(
            (arr(10, 2), np.array([[-2.0, 0.0, 2.0, 2.0], [-2.0, -1.0, 1.0, 2.0]]), None),
            {"sizes": (2, 3), "density": False},
        ),
        S(
            (arr(6, 3), np.array([[-2.0, 2.0], [-1.0, 1.5], [0.0, 2.0]]), arr(6, low=0.0)),
            {"sizes": (1, 1, 1), "density": True},
            name="density",
        ),
    ],
}
