"""Samples for the ops of ops/special.py (torch.special's own functions).

``igamma``, ``igammac`` and ``zeta`` have no derivative in their first operand (PyTorch raises when
one is asked for), so that operand is an integer array or a Python number here: never
differentiated. The Bessel, Airy and polynomial ops have no rule; their samples check the values
and that the result does not require grad.
"""

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


def _wide(*shape) -> np.ndarray:
    """Values over every branch of the Bessel and Airy evaluations (series, quadrature,
    asymptotic expansion), of both signs."""
    x = arr(*shape, low=-40.0, high=40.0)
    x.reshape(-1)[:6] = [0.5, -3.0, 7.5, -12.0, 30.0, -60.0][: x.size]
    return x


def _poly(x_low=-1.5, x_high=1.5):
    return [
        S((arr(3, 4, low=x_low, high=x_high), ints(3, 4, high=12)), name="int_n"),
        S((arr(2, 3, low=x_low, high=x_high), arr(3, low=-1.0, high=9.0)), name="float_n"),
        S((arr(4, low=x_low, high=x_high), 3), name="scalar_n"),
        # a float64 degree: with an integer one the result is float32 (as PyTorch), the oracle not
        S((0.25, arr(5, low=0.0, high=9.0)), name="scalar_x"),
        S((arr(0, 3, low=x_low, high=x_high), ints(3, high=4)), name="0x3"),
    ]


SAMPLES = {
    "entr": _unary(pos, low=0.1, high=3.0),
    "erfcx": _unary(arr, low=-3.0, high=5.0),
    "i0e": _unary(away, low=-4.0, high=4.0),
    "i1e": _unary(away, low=-4.0, high=4.0),
    "log_ndtr": _unary(arr, low=-6.0, high=4.0),
    "ndtri": _unary(pos, low=0.05, high=0.95),
    "igamma": [
        S((ints(3, 4, low=1, high=5), pos(3, 4, low=0.3, high=4.0)), name="int_a"),
        S((2.5, pos(4, low=0.3, high=4.0)), name="scalar_a"),
        S((ints(2, 1, low=1, high=4), pos(3, low=0.3, high=4.0)), name="broadcast"),
        S((ints(0, 3, low=1, high=3), pos(3)), name="0x3"),
    ],
    "igammac": [
        S((ints(3, 4, low=1, high=5), pos(3, 4, low=0.3, high=4.0)), name="int_a"),
        S((0.75, pos(4, low=0.3, high=4.0)), name="scalar_a"),
        S((ints(0, 3, low=1, high=3), pos(3)), name="0x3"),
    ],
    "zeta": [
        S(
            (ints(3, 4, low=2, high=6), pos(3, 4, low=0.5, high=3.0)),
            {"name": "SpecialZetaBackward0"},
        ),
        S((2.5, pos(4, low=0.5, high=3.0)), {"name": "SpecialZetaBackward1"}, name="scalar_x"),
        S((ints(0, 3, low=2, high=4), pos(3)), {"name": "SpecialZetaBackward0"}, name="0x3"),
    ],
    "xlog1py": [
        S((arr(3, 4), pos(3, 4, low=-0.5, high=2.0)), {"name": "SpecialXlog1PyBackward0"}),
        S((arr(2, 1, 4), pos(3, 1, low=-0.5, high=2.0)), {"name": "SpecialXlog1PyBackward0"}),
        S((1.5, pos(3, low=-0.5, high=2.0)), {"name": "SpecialXlog1PyBackward1"}, name="sx"),
        S((arr(3), 2.5), {"name": "SpecialXlog1PyBackward2"}, name="scalar_other"),
        S((arr(0, 3), pos(3)), {"name": "SpecialXlog1PyBackward0"}, name="0x3"),
    ],
    "mvlgamma": [
        S((pos(3, 4, low=2.0, high=5.0),), {"p": 3}),
        S((pos(low=1.0, high=3.0),), {"p": 1}, name="0d"),
        S((pos(0, 2, low=2.0, high=3.0),), {"p": 2}, name="0x2"),
    ],
    "special_airy_ai": [S((_wide(3, 4),)), S((arr(5, low=-2.0, high=2.0),), name="small")],
    "special_bessel_j0": [S((_wide(3, 4),)), S((arr(),), name="0d")],
    "special_bessel_j1": [S((_wide(3, 4),)), S((arr(),), name="0d")],
    "special_bessel_y0": [S((pos(3, 4, low=0.1, high=40.0),)), S((pos(),), name="0d")],
    "special_bessel_y1": [S((pos(3, 4, low=0.1, high=40.0),)), S((pos(),), name="0d")],
    "special_modified_bessel_i0": _unary(arr, low=-10.0, high=10.0),
    "special_modified_bessel_i1": _unary(arr, low=-10.0, high=10.0),
    "special_modified_bessel_k0": [S((pos(3, 4, low=0.1, high=40.0),))],
    "special_modified_bessel_k1": [S((pos(3, 4, low=0.1, high=40.0),))],
    "special_scaled_modified_bessel_k0": [S((pos(3, 4, low=0.1, high=40.0),))],
    "special_scaled_modified_bessel_k1": [S((pos(3, 4, low=0.1, high=40.0),))],
    "special_spherical_bessel_j0": _unary(arr, low=-10.0, high=10.0),
    "special_chebyshev_polynomial_t": _poly(),
    "special_chebyshev_polynomial_u": _poly(),
    "special_chebyshev_polynomial_v": _poly(),
    "special_chebyshev_polynomial_w": _poly(),
    "special_shifted_chebyshev_polynomial_t": _poly(-0.25, 1.25),
    "special_shifted_chebyshev_polynomial_u": _poly(-0.25, 1.25),
    "special_shifted_chebyshev_polynomial_v": _poly(-0.25, 1.25),
    "special_shifted_chebyshev_polynomial_w": _poly(-0.25, 1.25),
    "special_hermite_polynomial_h": _poly(),
    "special_hermite_polynomial_he": _poly(),
    "special_laguerre_polynomial_l": _poly(-1.0, 4.0),
    "special_legendre_polynomial_p": _poly(),
}
