"""Samples for the bitwise and integer ops, ``frexp`` and ``nextafter``."""

from __future__ import annotations

import numpy as np

from . import Family, Sample

_draw = Family(__name__)
arr, ints = _draw.arr, _draw.ints

S = Sample

_bools = [S((arr(3, 4) > 0, arr(3, 4) > 0))]
_ints = S((ints(3, 4, low=-50, high=50), ints(4, low=-50, high=50)), name="int")
SAMPLES: dict = {}
for _n in ("bitwise_and", "bitwise_or", "bitwise_xor"):
    SAMPLES[_n] = [*_bools, _ints, S((np.arange(6, dtype=np.uint8), 3), name="uint8_scalar")]
# Shifts inside and outside [0, width), of negative and positive values.
_amounts = np.array([-1, 0, 1, 5, 63, 64, 70], np.int64)
_values = np.array([[-7], [1], [123456789]], np.int64)
SAMPLES["left_shift"] = [
    S((_values, _amounts), name="int64"),
    S((np.array([1, 3, 255], np.uint8), np.array([1, 7, 9], np.uint8)), name="uint8"),
]
SAMPLES["right_shift"] = [
    S((_values, _amounts), name="int64"),
    S((np.array([-128, 64, 1], np.int8), np.array([1, 7, 9], np.int8)), name="int8"),
]
SAMPLES["bitwise_not"] = [
    S((arr(3, 4) > 0,)),
    S((np.arange(-3, 6),)),
    S((np.arange(4, dtype=np.uint8),)),
]
SAMPLES["gcd"] = [S((ints(3, 4, low=-30, high=30), ints(4, low=-30, high=30)))]
SAMPLES["lcm"] = [S((ints(3, 4, low=-30, high=30), ints(4, low=-30, high=30)))]
_special = np.array([0.0, -0.0, np.inf, -np.inf, np.nan, 1e-310, -3e-320, 5e-324, 1.0, -0.75])
# Subnormal inputs only in the value checks: their mantissa is read from the bits (no product the
# oracle could differentiate), and their derivative 2**-exponent overflows.
_normal = np.array([0.0, -0.0, np.inf, -np.inf, np.nan, 1.0, -0.75, 3e38, 2e-38])
SAMPLES["frexp_mantissa"] = [S((arr(3, 4) * 100,)), S((_normal,), fd=False)]
SAMPLES["frexp_exponent"] = [S((arr(3, 4) * 100,)), S((_special,))]
SAMPLES["frexp_scale"] = [S((arr(3, 4), arr(3, 4) * 100)), S((arr(9), _normal), fd=False)]
SAMPLES["nextafter"] = [
    S((arr(3, 4), arr(4))),
    S(
        (
            np.array([0.0, 0.0, 1.0, -1.0, np.inf, 2.0, np.nan]),
            np.array([1.0, -1.0, 1.0, 0.0, 0.0, np.inf, 0.0]),
        )
    ),
]
