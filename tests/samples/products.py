"""Samples for the products with their own rules (cross, addmv, addr, addbmm)."""

from __future__ import annotations

from . import Family, Sample

_draw = Family(__name__)
arr = _draw.arr

S = Sample

SAMPLES = {
    "cross": [
        S((arr(4, 3), arr(4, 3)), {"dim": 1}),
        S((arr(3, 2, 5), arr(3, 2, 5)), {"dim": 0}, name="dim0"),
        S((arr(1, 3), arr(4, 3)), {"dim": 1}, name="broadcast"),
        S((arr(3), arr(3)), {"dim": 0}, name="vectors"),
        S((arr(0, 3), arr(0, 3)), {"dim": 1}, name="empty"),
    ],
    "addmv": [
        S((arr(3), arr(3, 4), arr(4)), {"beta": 1, "alpha": 1}),
        S((arr(1), arr(3, 4), arr(4)), {"beta": 0.5, "alpha": 2.0}, name="broadcast"),
        S((arr(), arr(3, 4), arr(4)), {"beta": 0, "alpha": -1.5}, name="beta0"),
        S((arr(2), arr(2, 0), arr(0)), {"beta": 2, "alpha": 1}, name="empty_k"),
    ],
    "addr": [
        S((arr(3, 4), arr(3), arr(4)), {"beta": 1, "alpha": 1}),
        S((arr(4), arr(3), arr(4)), {"beta": 0.5, "alpha": 3.0}, name="broadcast"),
        S((arr(1, 1), arr(2), arr(5)), {"beta": 0, "alpha": 2}, name="beta0"),
    ],
    "addbmm": [
        S((arr(3, 5), arr(2, 3, 4), arr(2, 4, 5)), {"beta": 1, "alpha": 1}),
        S((arr(5), arr(3, 2, 4), arr(3, 4, 5)), {"beta": 0.5, "alpha": -2.0}, name="broadcast"),
        S((arr(2, 2), arr(0, 2, 3), arr(0, 3, 2)), {"beta": 1.5, "alpha": 1}, name="no_batches"),
    ],
}
