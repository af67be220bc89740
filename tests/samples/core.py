"""Samples for the arithmetic, conversion, reduction and shape ops of the core."""

from __future__ import annotations

from tracegrad import float32

from . import Family, Sample

_draw = Family(__name__)
arr, away, pos = _draw.arr, _draw.away, _draw.pos

S = Sample

_binary_shapes = [((3, 4), (3, 4)), ((3, 4), (4,)), ((2, 1, 4), (3, 1)), ((), (3,)), ((0, 3), (3,))]


def _binary(lhs=arr, rhs=arr):
    return [S((lhs(*a), rhs(*b)), name=f"{a}x{b}") for a, b in _binary_shapes] + [
        S((lhs(3, 2), 2.5), name="scalar_rhs"),
        S((1.5, rhs(3, 2)), name="scalar_lhs"),
    ]


SAMPLES = {
    "add": _binary(),
    "sub": _binary(),
    "rsub": _binary(),
    "mul": _binary(),
    "div": _binary(rhs=away),
    "floor_div": _binary(rhs=away),
    "trunc_div": _binary(rhs=away),
    "remainder": [S((arr(3, 4), away(3, 4) + 3.0), fd=False), S((arr(5), 1.5), fd=False)],
    "fmod": [S((arr(3, 4), away(3, 4) + 3.0), fd=False), S((arr(5), 1.5), fd=False)],
    "pow_scalar": [
        S((arr(3, 4),), {"exponent": 2}),
        S((pos(3, 4),), {"exponent": 0.5}),
        S((pos(3),), {"exponent": -1.5}),
        S((arr(2, 3),), {"exponent": 0}),
        S((arr(2, 3),), {"exponent": 3.0}),
    ],
    "pow_tensor": [
        S((pos(3, 4), arr(3, 4))),
        S((pos(3, 4), arr(4))),
        S((2.0, arr(3))),
        S((pos(3), 2.0)),
    ],
    "neg": [S((arr(3, 4),)), S((arr(),)), S((arr(0, 2),))],
    "abs": [S((away(3, 4),)), S((away(),))],
    "reciprocal": [S((away(3, 4),))],
    "to_copy": [
        S((arr(3, 4),), {"dtype": float32, "device": None}, fd=False, second_order=False),
        S((arr(2),), {"dtype": None, "device": None}),
    ],
    "clone": [S((arr(3, 4),))],
    "sum": [
        S((arr(3, 4),), {"dim": None, "keepdim": False, "dtype": None}),
        S((arr(3, 4),), {"dim": (1,), "keepdim": False, "dtype": None}),
        S((arr(2, 3, 4),), {"dim": (0, 2), "keepdim": True, "dtype": None}),
        S((arr(0, 3),), {"dim": (0,), "keepdim": False, "dtype": None}),
        S((arr(),), {"dim": None, "keepdim": False, "dtype": None}),
    ],
    "mean": [
        S((arr(3, 4),), {"dim": None, "keepdim": False}),
        S((arr(2, 3, 4),), {"dim": (0, 2), "keepdim": True}),
        S((arr(2, 3, 4),), {"dim": (1,), "keepdim": False}),
    ],
    "sum_to_size": [
        S((arr(2, 3, 4),), {"shape": (3, 1)}),
        S((arr(3, 4),), {"shape": (1, 4)}),
    ],
    "reshape": [
        S((arr(3, 4),), {"shape": (4, 3), "name": "ViewBackward0"}),
        S((arr(2, 3, 4),), {"shape": (6, 4), "name": "ViewBackward0"}),
        S((arr(),), {"shape": (1, 1), "name": "ViewBackward0"}),
    ],
    "expand": [S((arr(3, 1),), {"shape": (2, 3, 4)}), S((arr(),), {"shape": (3,)})],
    "permute": [
        S((arr(2, 3, 4),), {"dims": (2, 0, 1), "name": "PermuteBackward0"}),
        S((arr(3, 4),), {"dims": (1, 0), "name": "TBackward0"}),
    ],
}


SAMPLES.update(
    {
        "exp": [S((arr(3, 4),)), S((arr(),))],
        "log": [S((pos(3, 4),))],
        "sign": [S((away(3, 4),))],
        "where": [
            S((arr(3, 4) > 0, arr(3, 4), arr(3, 4))),
            S((arr(3, 1) > 0, arr(4), arr(3, 4))),
            S((arr(3) > 0, arr(3), 0.0)),
        ],
    }
)
_cmp = [S((arr(3, 4), arr(3, 4))), S((arr(3, 4), 0.0))]
for _n in ("eq", "ne", "lt", "le", "gt", "ge"):
    SAMPLES[_n] = _cmp
_logic = [S((arr(3, 4) > 0, arr(3, 4) > 0))]
for _n in ("logical_and", "logical_or", "logical_xor"):
    SAMPLES[_n] = _logic
SAMPLES["logical_not"] = [S((arr(3, 4) > 0,))]
