"""Samples for the matrix functions and decompositions (inv, det, slogdet, solve, solve_triangular,
cholesky, eigh, matrix_exp): well-conditioned matrices, symmetric positive-definite ones for the
Cholesky factor, symmetric ones with well-separated eigenvalues for eigh."""

from __future__ import annotations

import numpy as np

from . import Family, Sample

_draw = Family(__name__)
arr = _draw.arr

S = Sample


def _wc(*shape):
    """Well-conditioned square matrices: random plus a dominant diagonal."""
    n = shape[-1]
    return arr(*shape) + 3.0 * n * np.eye(n) / 2


def _spd(*shape):
    m = arr(*shape)
    return m @ np.swapaxes(m, -1, -2) + shape[-1] * np.eye(shape[-1])


def _sym_spread(*shape):
    """Symmetric, eigenvalues at least 1 apart."""
    n = shape[-1]
    q, _ = np.linalg.qr(arr(*shape))
    w = np.arange(n, dtype=float) * 1.5 + arr(*shape[:-1], low=-0.3, high=0.3)
    return q @ (w[..., :, None] * np.swapaxes(q, -1, -2))


def _tri(*shape, upper):
    m = arr(*shape) * 0.5 + 2.0 * np.eye(shape[-1])
    return np.triu(m) if upper else np.tril(m)


SAMPLES = {
    "inv": [S((_wc(3, 3),)), S((_wc(2, 4, 4),), name="batched")],
    "det": [S((_wc(3, 3),)), S((_wc(2, 2, 2),), name="batched")],
    "logabsdet": [S((_wc(3, 3),)), S((-_wc(2, 3, 3),), name="negative_batched")],
    "det_sign": [S((_wc(3, 3),))],
    "solve": [
        S((_wc(3, 3), arr(3, 2))),
        S((_wc(2, 3, 3), arr(3, 1)), name="broadcast_b"),
    ],
    "solve_triangular": [
        S(
            (_tri(3, 3, upper=True), arr(3, 2)),
            {"upper": True, "left": True, "unitriangular": False},
        ),
        S(
            (_tri(3, 3, upper=False), arr(2, 3)),
            {"upper": False, "left": False, "unitriangular": False},
            name="right",
        ),
        S(
            (_tri(2, 3, 3, upper=False), arr(2, 3, 2)),
            {"upper": False, "left": True, "unitriangular": True},
            name="unit_batched",
        ),
    ],
    "cholesky": [S((_spd(3, 3),)), S((_spd(2, 4, 4),), name="batched")],
    "eigh": [
        S((_sym_spread(3, 3),), {"upper": False}),
        S((_sym_spread(2, 4, 4),), {"upper": True}, name="batched_upper"),
    ],
    "matrix_exp": [S((arr(3, 3) * 0.5,)), S((arr(2, 2, 2) * 0.5,), name="batched")],
}
