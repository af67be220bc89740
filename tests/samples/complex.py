"""Samples for the complex ops (complex, polar, view_as_real/complex, real, imag, angle, conj)."""

from __future__ import annotations

import numpy as np

from . import Family, Sample

_draw = Family(__name__)
arr, pos, away = _draw.arr, _draw.pos, _draw.away

S = Sample


def carr(*shape) -> np.ndarray:
    """Complex128 values with both parts uniform in [-2, 2)."""
    return arr(*shape) + 1j * arr(*shape)


def caway(*shape) -> np.ndarray:
    """Complex values at least 0.2 from 0 (angle is not differentiable there)."""
    return away(*shape) + 1j * arr(*shape)


SAMPLES = {
    "complex": [
        S((arr(3, 4), arr(3, 4))),
        S((arr(2, 1, 3), arr(4, 1)), name="broadcast"),
    ],
    "polar": [
        S((pos(3, 4), arr(3, 4))),
        S((pos(4), arr(2, 4)), name="broadcast"),
    ],
    "view_as_real": [S((carr(3, 4),)), S((carr(),), name="0d")],
    "view_as_complex": [S((arr(3, 4, 2),)), S((arr(2),), name="0d")],
    "real": [S((carr(3, 4),))],
    "imag": [S((carr(3, 4),))],
    "angle": [
        S((caway(3, 4),)),
        S((away(5),), name="real"),
    ],
    "conj": [S((carr(3, 4),))],
}
