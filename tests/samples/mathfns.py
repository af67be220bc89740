"""Samples for the special functions, predicates and NaN handling of ops/mathfns.py."""

from __future__ import annotations

import numpy as np

from . import Family, Sample

_draw = Family(__name__)
arr, away, ints, pos = _draw.arr, _draw.away, _draw.ints, _draw.pos

S = Sample


def _unary(gen=arr, **kw):
    """A 2-d, a 0-d and a 0-size operand drawn from ``gen``."""
    return [
        S((gen(3, 4, **kw),), name="3x4"),
        S((gen(**kw),), name="0d"),
        S((gen(0, 3, **kw),), name="0x3"),
    ]


_binary_shapes = [((3, 4), (3, 4)), ((3, 4), (4,)), ((2, 1, 4), (3, 1)), ((), (3,)), ((0, 3), (3,))]


def _binary(lhs=arr, rhs=arr):
    return [S((lhs(*a), rhs(*b)), name=f"{a}x{b}") for a, b in _binary_shapes]


def _specials(*shape) -> np.ndarray:
    """Values with NaN, +-inf and both zeros among ordinary ones."""
    x = arr(*shape).reshape(-1)
    x[:5] = [np.nan, np.inf, -np.inf, 0.0, -0.0]
    return _draw.rng.permutation(x).reshape(shape)


def _predicate():
    return [
        S((_specials(3, 4),), name="specials"),
        S((ints(5, high=4, low=-4),), name="int"),
        S((arr(),), name="0d"),
    ]


def _nans(*shape) -> np.ndarray:
    """Ordinary values with about a quarter NaN."""
    return np.where(arr(*shape) > 1.0, np.nan, arr(*shape))


def _zeros_in(x: np.ndarray) -> np.ndarray:
    x = x.copy()
    x.reshape(-1)[::3] = 0.0
    return x


_close_a = arr(3, 4)
_close_b = _close_a + np.where(arr(3, 4) > 0, 1e-9, 1e-3)
_close_b.reshape(-1)[:3] = [np.nan, np.inf, _close_a.reshape(-1)[2]]
_close_a.reshape(-1)[:2] = [np.nan, np.inf]

SAMPLES = {
    "asin": _unary(arr, low=-0.9, high=0.9),
    "acos": _unary(arr, low=-0.9, high=0.9),
    "atan": _unary(arr, low=-4.0, high=4.0),
    "sinh": _unary(),
    "cosh": _unary(),
    "asinh": _unary(arr, low=-4.0, high=4.0),
    "acosh": _unary(pos, low=1.2, high=4.0),
    "atanh": _unary(arr, low=-0.9, high=0.9),
    "atan2": _binary(arr, away),
    "hypot": _binary(away, away),
    "logaddexp": _binary() + [S((arr(4, low=-40, high=40), arr(4, low=-40, high=40)), name="wide")],
    "logaddexp2": _binary()
    + [S((arr(4, low=-40, high=40), arr(4, low=-40, high=40)), name="wide")],
    "xlogy": [
        S((arr(3, 4), pos(3, 4)), {"name": "XlogyBackward0"}),
        S((arr(2, 1, 4), pos(3, 1)), {"name": "XlogyBackward0"}),
        S(
            (_zeros_in(arr(3, 4)), pos(4)),
            {"name": "XlogyBackward0"},
            name="zeros",
        ),
        S((1.5, pos(3)), {"name": "XlogyBackward1"}, name="scalar_self"),
        S((arr(3), 2.5), {"name": "XlogyBackward2"}, name="scalar_other"),
        S((_zeros_in(arr(4)), -1.5), {"name": "XlogyBackward2"}, fd=False, name="nan_log"),
        S((arr(0, 3), pos(3)), {"name": "XlogyBackward0"}, name="0x3"),
    ],
    "copysign": [
        S((away(3, 4), away(3, 4)), {"name": "CopysignBackward0"}),
        S((away(2, 1, 4), away(3, 1)), {"name": "CopysignBackward0"}),
        S((away(3), -0.5), {"name": "CopysignBackward1"}, name="scalar"),
        S((away(0, 3), away(3)), {"name": "CopysignBackward0"}, name="0x3"),
    ],
    "heaviside": [
        S((_zeros_in(arr(3, 4)), arr(4))),
        S((_specials(2, 3), arr())),
        S((ints(5, high=3, low=-2), ints(5, high=5))),
    ],
    "sinc": _unary(away),
    "deg2rad": _unary(arr, low=-360.0, high=360.0),
    "rad2deg": _unary(),
    "exp2": _unary(),
    "ldexp": [
        S((arr(3, 4), ints(4, high=4, low=-3))),
        S((arr(3, 4), arr(3, 4))),
        S((arr(), arr(0, 2))),
    ],
    "lgamma": _unary(pos, low=0.2, high=5.0) + [S((arr(4, low=-2.9, high=-2.1),), name="neg")],
    "digamma": _unary(pos, low=0.2, high=5.0) + [S((arr(4, low=-2.9, high=-2.1),), name="neg")],
    "polygamma": [
        S((pos(3, 4),), {"n": 1}),
        S((pos(5, low=0.3, high=4.0),), {"n": 2}),
        S((pos(),), {"n": 0}),
        S((pos(0, 2),), {"n": 3}),
    ],
    "erfinv": _unary(arr, low=-0.9, high=0.9),
    "logit": [
        S((arr(3, 4, low=0.05, high=0.95),), {"eps": None}),
        S((arr(8, low=0.02, high=0.98),), {"eps": 0.1}, name="eps"),
        S((arr(low=0.1, high=0.9),), {"eps": None}, name="0d"),
        S((arr(0, 3, low=0.1, high=0.9),), {"eps": 1e-6}, name="0x3"),
    ],
    "i0": _unary(arr, low=-4.0, high=4.0),
    "i1": _unary(arr, low=-4.0, high=4.0)
    + [
        # i1''(0) = 0 (i1 is odd), but jax's second derivative of i1 at 0 is not: first order only.
        S((np.array([0.0, 0.5, -1.0]),), second_order=False, name="zero")
    ],
    "isnan": _predicate(),
    "isinf": _predicate(),
    "isfinite": _predicate(),
    "isposinf": _predicate(),
    "isneginf": _predicate(),
    "signbit": _predicate(),
    "isclose": [
        S(
            (_close_a, _close_b),
            {"rtol": 1e-5, "atol": 1e-8, "equal_nan": False, "fdtype": np.float32},
        ),
        S(
            (_close_a, _close_b),
            {"rtol": 0.0, "atol": 0.0, "equal_nan": True, "fdtype": np.float32},
            name="exact",
        ),
        S(
            (ints(6, high=5), ints(6, high=5)),
            {"rtol": 0.1, "atol": 1.0, "equal_nan": False, "fdtype": np.float32},
            name="int",
        ),
    ],
    "nan_to_num": [
        S((_specials(3, 4),), {"nan": 0.0, "posinf": None, "neginf": None}),
        S((_specials(2, 5),), {"nan": -1.0, "posinf": 10.0, "neginf": -10.0}, name="values"),
        S((arr(),), {"nan": 0.0, "posinf": None, "neginf": None}, name="0d"),
        S((ints(4, high=3),), {"nan": 0.0, "posinf": None, "neginf": None}, name="int"),
    ],
    "nansum": [
        S(
            (_nans(3, 4),),
            {"dim": None, "keepdim": False, "dtype": None},
        ),
        S(
            (_nans(2, 3, 4),),
            {"dim": (0, 2), "keepdim": True, "dtype": None},
        ),
        S((arr(3, 4),), {"dim": (1,), "keepdim": False, "dtype": None}),
        S((arr(),), {"dim": (), "keepdim": False, "dtype": None}, name="0d"),
        S((arr(0, 3),), {"dim": (0,), "keepdim": False, "dtype": None}, name="0x3"),
    ],
    "sgn": _unary(away),
}
