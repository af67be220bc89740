"""Samples for QR, the SVD, the pseudo-inverse, least squares and LU: well-conditioned square,
tall and wide matrices (distinct singular values, so the SVD's vectors are differentiable)."""

from __future__ import annotations

import numpy as np

from . import Family, Sample

_draw = Family(__name__)
arr, ints = _draw.arr, _draw.ints

S = Sample


def _spread(*shape):
    """Matrices with singular values 1, 2, 3, ... (well separated, well conditioned)."""
    m, n = shape[-2], shape[-1]
    k = min(m, n)
    u, _ = np.linalg.qr(arr(*shape[:-2], m, m))
    v, _ = np.linalg.qr(arr(*shape[:-2], n, n))
    s = np.arange(1, k + 1, dtype=float)[::-1] + arr(*shape[:-2], k, low=-0.2, high=0.2)
    return (u[..., :, :k] * s[..., None, :]) @ np.swapaxes(v[..., :, :k], -1, -2)


SAMPLES = {
    "qr": [
        S((_spread(4, 3),), {"mode": "reduced"}),
        S((_spread(2, 3, 3),), {"mode": "complete"}, name="square_complete_batched"),
        S((_spread(3, 5),), {"mode": "reduced"}, name="wide"),
        S((_spread(2, 3, 5),), {"mode": "complete"}, name="wide_complete"),
    ],
    "svd": [
        S((_spread(3, 3),), {"full_matrices": False}),
        S((_spread(2, 5, 3),), {"full_matrices": False}, name="tall_batched"),
        S((_spread(3, 5),), {"full_matrices": False}, name="wide"),
        S((_spread(3, 3),), {"full_matrices": True}, name="square_full"),
    ],
    "pinv": [
        S((_spread(4, 3), 0.0, 1e-12), {"hermitian": False}),
        S((_spread(2, 3, 5), 0.0, 1e-12), {"hermitian": False}, name="wide_batched"),
        S((_spread(3, 3), 1e-3, 0.0), {"hermitian": False}, name="square_atol"),
    ],
    "lstsq": [
        S((_spread(5, 3), arr(5, 2)), {"rcond": 1e-12}),
        S((_spread(2, 4, 4), arr(4, 1)), {"rcond": 1e-12}, name="square_broadcast"),
        S((_spread(3, 5), arr(3, 2)), {"rcond": 1e-12}, name="wide"),
    ],
    "lu_factor": [
        S((arr(4, 4) + 2 * np.eye(4),)),
        S((arr(2, 3, 3),), name="batched"),
        S((arr(3, 5),), name="wide"),
        S((arr(5, 3),), name="tall"),
    ],
    "pivots_to_perm": [
        S((np.array([2, 2, 3], dtype=np.int32),), {"m": 3}),
        S((np.array([[3, 2, 3, 4], [1, 4, 3, 4]], dtype=np.int32),), {"m": 4}, name="batched"),
    ],
}
