"""Samples for the general eigendecomposition (``linalg.eig``'s packed op and ``eigvals``): real and
complex matrices with well-separated eigenvalues (complex-conjugate pairs among the real ones).

Eigenvectors are defined up to a phase each, and PyTorch's gradient is defined only for losses that
do not depend on it; the checks of ``eig`` use cotangents ``gV`` with ``Im(diag(V^H gV)) = 0``
(``_phase_invariant``), for which JAX's gradient (taken under LAPACK's phase) is the same. Second
order is not checked: the rules' complex matrix products do not record complex gradients yet."""

from __future__ import annotations

import numpy as np

from . import Family, Sample

_draw = Family(__name__)
arr = _draw.arr

S = Sample


def _separated(*shape, complex_values: bool = False, gap: float = 0.5) -> np.ndarray:
    """Random matrices whose eigenvalues are at least ``gap`` apart (redrawn until they are)."""
    while True:
        m = arr(*shape)
        if complex_values:
            m = m + 1j * arr(*shape)
        w = np.linalg.eigvals(m)
        d = np.abs(w[..., :, None] - w[..., None, :]) + np.eye(shape[-1]) * gap
        if d.min() >= gap:
            return m


def _phase_invariant(out: np.ndarray, cot: np.ndarray) -> np.ndarray:
    """``cot`` with each eigenvector column's component along ``i v`` removed, so that
    ``Im(v^H gv) = 0`` for every column: a loss with this gradient ignores the phases."""
    v, gv = out[..., 1:, :], cot[..., 1:, :]
    t = np.imag(np.sum(np.conj(v) * gv, axis=-2)) / np.sum(np.abs(v) ** 2, axis=-2)
    cot = cot.copy()
    cot[..., 1:, :] = gv - 1j * t[..., None, :] * v
    return cot


SAMPLES = {
    "eig": [
        S((_separated(3, 3),), cotangent=_phase_invariant, second_order=False),
        S(
            (_separated(3, 3, complex_values=True),),
            cotangent=_phase_invariant,
            second_order=False,
            name="complex",
        ),
        S(
            (_separated(2, 4, 4),),
            cotangent=_phase_invariant,
            second_order=False,
            name="batched",
        ),
    ],
    "eigvals": [
        S((_separated(3, 3),), {"vectors": True}, second_order=False),
        S(
            (_separated(2, 3, 3, complex_values=True),),
            {"vectors": True},
            second_order=False,
            name="complex_batched",
        ),
    ],
}
