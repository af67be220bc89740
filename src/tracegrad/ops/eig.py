"""The eigendecomposition of general (non-symmetric) square matrices, ``torch.linalg.eig`` and
``eigvals``: complex eigenvalues and unit-norm eigenvectors, with PyTorch's gradient.

``A = V diag(L) V^-1``. First-order perturbation gives ``dL = diag(V^-1 dA V)`` and
``dV = V (F o (V^-1 dA V))`` with ``F_ij = 1 / (L_j - L_i)`` off the diagonal, plus a change of
each column's length and phase. LAPACK (and so PyTorch and JAX) returns each eigenvector with unit
norm, which fixes its length but not its phase: ``v e^{i phi}`` is as good an eigenvector. A loss of
the eigenvectors is well defined only if it does not depend on those phases, which is the case
exactly when ``Im(diag(V^H gV)) = 0``; PyTorch checks this and raises otherwise, and so does this
rule. The adjoint, in PyTorch's conjugate convention (see ops/complex.py), is then

    gA = V^-H (diag(gL) + P / conj(E)) V^H,    P = V^H gV - V^H V diag(Re(diag(V^H gV))),

with ``E_ij = L_j - L_i`` and the diagonal of the quotient dropped; ``P`` is ``V^H gV`` with the
length changes projected out (the unit-norm constraint). A real input's gradient is the real part
(PyTorch's ``handle_r_to_c``). Repeated eigenvalues make ``E`` zero off the diagonal: inf/nan, as
in PyTorch. The rule is M. Giles' (2008) with PyTorch's normalization; its matrix products on
complex values are not yet recorded with complex gradients, so ``create_graph=True`` through it
raises ``NotImplementedError``.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from .. import _tracing
from ..tensor import Tensor
from .complex import _complex_op, _conj, _real
from .decomp import _solve
from .linalg import matmul

__all__: list[str] = []

_PHASE_ERROR = (
    "linalg_eig_backward: The eigenvectors in the complex case are specified up to "
    "multiplication by e^{i phi}. The specified loss function depends on this quantity, so it "
    "is ill-defined."
)


def _mH(x: Tensor) -> Tensor:
    return _conj(x.transpose(-2, -1))


def _lapack_eig(a):
    """Eigenvalues and right eigenvectors on JAX arrays. ``enable_eigvec_derivs`` changes no value:
    it only lets JAX's autodiff (the tests' oracle) differentiate the lowering."""
    w, v = jax.lax.linalg.eig(
        a,
        compute_left_eigenvectors=False,
        compute_right_eigenvectors=True,
        enable_eigvec_derivs=True,
    )
    return w, v


# ------------------------------------------------------------------------------------------ eig
# One packed output: row 0 holds the eigenvalues, rows 1.. the eigenvectors (the public eig slices
# them apart, as eigh does), so one node carries both gradients.
@_complex_op("LinalgEigBackward0", saves=(), save_out=True)
def _eig(a):
    w, v = _lapack_eig(a)
    return jnp.concatenate([w[..., None, :], v], axis=-2)


@_eig.vjp
def _(g, out, a):
    w, v = out[..., 0, :], out[..., 1:, :]
    gw, gv = g[..., 0, :], g[..., 1:, :]
    vh = _mH(v)
    k = matmul(vh, gv)
    diag_k = k.diagonal(dim1=-2, dim2=-1)
    _check_phase_invariant(diag_k)
    # Project out the change of each column's length (eigenvectors are kept at unit norm).
    k = k - matmul(vh, v * _real(diag_k).unsqueeze(-2))
    wc = _conj(w)
    n = w.shape[-1]
    eye = Tensor._wrap(jnp.eye(n, dtype=out.dtype.np))
    econj = wc.unsqueeze(-2) - wc.unsqueeze(-1) + eye  # conj(L_j - L_i), 1 on the diagonal
    inner = k / econj * (1 - eye) + gw.diag_embed()
    ga = _solve(vh, matmul(inner, vh))
    return (ga if a.is_complex() else _real(ga),)


def _check_phase_invariant(diag_k: Tensor) -> None:
    """PyTorch's check that the loss does not depend on the eigenvectors' phases (its tolerance,
    1e-2 absolute). Under a trace the check runs with the compiled step, before anything is
    written."""
    bad = jnp.any(jnp.abs(jnp.imag(diag_k._storage.array)) > 1e-2)
    if isinstance(bad, jax.core.Tracer):
        _tracing.add_check(bad, lambda: RuntimeError(_PHASE_ERROR))
    elif bad:
        raise RuntimeError(_PHASE_ERROR)


# -------------------------------------------------------------------------------------- eigvals
# The eigenvalues alone: dL = diag(V^-1 dA V) gives gA = V^-H diag(gL) V^H (PyTorch's shortcut for
# eigvals). The rule needs the eigenvectors; it recomputes them with the same LAPACK call as the
# lowering (``vectors=True``, used whenever a gradient may be needed), so they come in the same
# order as the eigenvalues. Without a gradient LAPACK skips the eigenvectors (``vectors=False``).
@_complex_op("LinalgEigBackward0", saves=(0,))
def _eigvals(a, *, vectors):
    return _lapack_eig(a)[0] if vectors else jnp.linalg.eigvals(a)


@_eigvals.vjp
def _(g, out, a, *, vectors):
    vh = _mH(_eig(a)[..., 1:, :])
    ga = _solve(vh, g.unsqueeze(-1) * vh)
    return (ga if a.is_complex() else _real(ga),)
