"""Samples for the FFT primitives (c2c, r2c, c2r) behind tracegrad.fft."""

from __future__ import annotations

from . import Family, Sample

_draw = Family(__name__)
arr = _draw.arr

S = Sample


def carr(*shape):
    return arr(*shape) + 1j * arr(*shape)


SAMPLES = {
    "c2c": [
        S((carr(3, 8),), {"dims": (1,), "norm": "backward", "inverse": False}),
        S((carr(4, 5),), {"dims": (0, 1), "norm": "ortho", "inverse": True}, name="2d_ortho_inv"),
        S((carr(6),), {"dims": (0,), "norm": "forward", "inverse": False}, name="forward"),
    ],
    "r2c": [
        S((arr(3, 8),), {"dim": 1, "norm": "backward"}),
        S((arr(7, 2),), {"dim": 0, "norm": "ortho"}, name="odd"),
    ],
    "c2r": [
        S((carr(3, 5),), {"dim": 1, "n": 8, "norm": "backward"}),
        S((carr(4, 2),), {"dim": 0, "n": 7, "norm": "forward"}, name="odd"),
        S((carr(3),), {"dim": 0, "n": 5, "norm": "ortho"}, name="ortho"),
    ],
}
