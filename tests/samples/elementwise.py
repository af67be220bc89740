"""Samples for the elementwise family (exp, log, sign and where stay in core.py)."""

from __future__ import annotations

import math

from . import Family, Sample

_draw = Family(__name__)
arr, away, pos = _draw.arr, _draw.away, _draw.pos

S = Sample


def _unary(gen=arr, **kw):
    """A 2-d, a 0-d and a 0-size operand drawn from ``gen``."""
    return [
        S((gen(3, 4, **kw),), name="3x4"),
        S((gen(**kw),), name="0d"),
        S((gen(0, 3, **kw),), name="0x3"),
    ]


def _wide():
    """Large magnitudes, where naive formulas overflow (the rules must not)."""
    return [S((arr(6, low=-40.0, high=40.0),), name="wide")]


_binary_shapes = [((3, 4), (3, 4)), ((3, 4), (4,)), ((2, 1, 4), (3, 1)), ((), (3,)), ((0, 3), (3,))]


def _binary(lhs=arr, rhs=arr):
    return [S((lhs(*a), rhs(*b)), name=f"{a}x{b}") for a, b in _binary_shapes] + [
        S((lhs(3, 2), 0.25), name="scalar_rhs")
    ]


def _clamp(lo, hi, name):
    return S((arr(3, 4),), {"lo": lo, "hi": hi, "name": name}, name=name)


def _elu(alpha, scale, input_scale):
    p = {"alpha": alpha, "scale": scale, "input_scale": input_scale}
    return [S((away(3, 4),), p), S((arr(5, low=-5.0, high=5.0),), p), S((away(),), p)]


SAMPLES = {
    "log1p": _unary(pos, low=-0.5, high=2.0),
    "expm1": _unary() + [S((arr(4, low=-1e-3, high=1e-3),), name="small")],
    "log2": _unary(pos),
    "log10": _unary(pos),
    "sqrt": _unary(pos),
    "rsqrt": _unary(pos),
    "erf": _unary(),
    "erfc": _unary(),
    "sin": _unary(),
    "cos": _unary(),
    "tan": _unary(arr, low=-1.2, high=1.2),
    "tanh": _unary() + _wide(),
    "sigmoid": _unary() + _wide(),
    "floor": _unary(arr, low=-5.0, high=5.0),
    "ceil": _unary(arr, low=-5.0, high=5.0),
    "trunc": _unary(arr, low=-5.0, high=5.0),
    "frac": _unary(arr, low=-5.0, high=5.0),
    "round": [
        S((arr(3, 4, low=-5.0, high=5.0),), {"decimals": 0}),
        S((arr(5),), {"decimals": 2}),
        S((arr(5, low=-50.0, high=50.0),), {"decimals": -1}),
        S((arr(),), {"decimals": 0}),
    ],
    "clamp": [
        _clamp(-0.5, 0.7, "ClampBackward1"),
        _clamp(-0.5, None, "ClampMinBackward0"),
        _clamp(None, 0.3, "ClampMaxBackward0"),
        S((arr(),), {"lo": -0.5, "hi": 0.5, "name": "ClampBackward1"}, name="0d"),
        S((arr(0, 2),), {"lo": -0.5, "hi": 0.5, "name": "ClampBackward1"}, name="0x2"),
    ],
    "clamp_tensor": [
        S((arr(3, 4), arr(3, 4, high=0.0), arr(3, 4, low=0.0)), {"name": "ClampBackward0"}),
        S((arr(3, 4), arr(4, high=0.0), arr(3, 1, low=0.0)), {"name": "ClampBackward0"}),
        # min > max in places: the result (and the gradient) is max's there.
        S((arr(3, 4), arr(3, 4), arr(3, 4)), {"name": "ClampBackward0"}, name="crossed"),
        S((arr(3, 4), arr(4), None), {"name": "ClampMinBackward1"}, name="min_only"),
        S((arr(3, 4), None, arr(3, 1)), {"name": "ClampMaxBackward1"}, name="max_only"),
        S((arr(), arr(3), None), {"name": "ClampMinBackward1"}, name="0d_input"),
        S((arr(0, 3), None, arr(3)), {"name": "ClampMaxBackward1"}, name="0x3"),
    ],
    "maximum": _binary(),
    "minimum": _binary(),
    "fmax": _binary(),
    "fmin": _binary(),
    "lerp": [
        S((arr(3, 4), arr(3, 4)), {"weight": 0.3}),
        S((arr(3, 4), arr(4)), {"weight": 1.5}),
        S((arr(), arr(0, 2)), {"weight": 0.5}),
    ],
    "lerp_tensor": [
        S((arr(3, 4), arr(3, 4), arr(3, 4))),
        S((arr(3, 1), arr(4), arr(2, 1, 1))),
        S((arr(3), arr(3), arr())),
        S((arr(0, 3), arr(3), arr(3))),
    ],
    "addcmul": [
        S((arr(3, 4), arr(3, 4), arr(3, 4)), {"value": 1}),
        S((arr(4), arr(3, 1), arr(2, 1, 4)), {"value": -0.5}),
        S((arr(), arr(3), arr(0, 3)), {"value": 2.0}),
    ],
    "addcdiv": [
        S((arr(3, 4), arr(3, 4), away(3, 4)), {"value": 1}),
        S((arr(4), arr(3, 1), away(2, 1, 4)), {"value": -0.5}),
        S((arr(), arr(3), away(0, 3)), {"value": 2.0}),
    ],
    "relu": _unary(away),
    "leaky_relu": [
        S((away(3, 4),), {"negative_slope": 0.01}),
        S((away(5),), {"negative_slope": 0.2}),
        S((away(),), {"negative_slope": -0.5}),
        S((arr(0, 3),), {"negative_slope": 0.01}),
    ],
    "elu": (
        _elu(1.0, 1.0, 1.0)  # elu
        + _elu(1.6732632423543772, 1.0507009873554805, 1.0)  # selu
        + _elu(0.5, 1.0, 2.0)  # celu(alpha=0.5)
        + [S((arr(4, low=-40.0, high=40.0),), {"alpha": 1.0, "scale": 1.0, "input_scale": 1.0})]
    ),
    "gelu": [
        S((arr(3, 4, low=-4.0, high=4.0),), {"approximate": "none"}),
        S((arr(3, 4, low=-4.0, high=4.0),), {"approximate": "tanh"}),
        S((arr(),), {"approximate": "none"}),
        S((arr(0, 2),), {"approximate": "tanh"}),
        S((arr(5, low=-12.0, high=12.0),), {"approximate": "none"}, name="wide"),
    ],
    "silu": _unary(arr, low=-4.0, high=4.0) + _wide(),
    "softplus": [
        S((arr(3, 4, low=-4.0, high=4.0),), {"beta": 1.0, "threshold": 20.0}),
        S((arr(6, low=-40.0, high=40.0),), {"beta": 1.0, "threshold": 20.0}, name="wide"),
        # beta * x crosses the threshold: linear above it.
        S((arr(8, low=-2.0, high=2.0),), {"beta": 2.0, "threshold": 1.0}, name="threshold"),
        S((arr(),), {"beta": 0.5, "threshold": 20.0}),
        S((arr(3),), {"beta": 1.0, "threshold": math.inf}, name="no_threshold"),
    ],
    "logsigmoid": _unary() + _wide(),
    "mish": _unary(arr, low=-4.0, high=4.0) + _wide(),
    "hardtanh": [
        S((arr(3, 4),), {"min_val": -1.0, "max_val": 1.0}),
        S((arr(5, low=-1.0, high=7.0),), {"min_val": 0, "max_val": 6}),
        S((arr(),), {"min_val": -0.5, "max_val": 0.5}),
    ],
    "hardsigmoid": _unary(arr, low=-5.0, high=5.0),
    "hardswish": _unary(arr, low=-5.0, high=5.0),
}
