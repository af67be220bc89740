"""Matrix functions and decompositions with hand-written VJPs: inverse, determinants, solves,
Cholesky, the symmetric eigendecomposition and the matrix exponential (``torch.linalg``).

Every op works on the last two dimensions and batches over the rest. The rules are the classic
derivations (M. Giles, "An extended collection of matrix derivative results", 2008; I. Murray,
"Differentiation of the Cholesky decomposition", 2016), written in tracegrad ops so that they are
differentiable again. Where a derivative does not exist (a singular matrix for ``inv``/``det``,
repeated eigenvalues for ``eigh``'s vectors) the result is inf/nan, as in PyTorch.
"""

from __future__ import annotations

import warnings

import jax.numpy as jnp
import jax.scipy.linalg as jsl

from .._surface import expose
from ..tensor import Tensor
from .linalg import matmul
from .registry import defop, needs_grad
from .shape import cat

__all__ = [
    "inverse",
    "det",
    "logdet",
    "slogdet",
    "cholesky",
    "matrix_exp",
    "matrix_power",
]


def _square_batches(name: str, a: Tensor) -> None:
    """PyTorch's errors for a ``linalg`` input that is not a batch of square matrices."""
    if a.ndim < 2:
        raise RuntimeError(f"linalg.{name}: The input tensor A must have at least 2 dimensions.")
    if a.shape[-1] != a.shape[-2]:
        raise RuntimeError(
            f"linalg.{name}: A must be batches of square matrices, but they are "
            f"{a.shape[-2]} by {a.shape[-1]} matrices"
        )


def _square(name: str, a: Tensor) -> None:
    _square_batches(name, a)
    if not a.dtype.is_floating_point:
        raise RuntimeError(
            f"linalg.{name}: Expected a floating point or complex tensor as input. Got {a.dtype.name.capitalize()}"
        )


def _mT(x: Tensor) -> Tensor:
    return x.transpose(-2, -1)


# ------------------------------------------------------------------------------------------ inv
# Y = A^-1: dY = -Y dA Y, so A_bar = -Y^T Y_bar Y^T.
@defop("LinalgInvExBackward0", saves=(), save_out=True)
def _inv(a):
    return jnp.linalg.inv(a)


@_inv.vjp
def _(g, out, a):
    yt = _mT(out)
    return (-matmul(matmul(yt, g), yt),)


# ------------------------------------------------------------------------------------------ det
# d det(A) = det(A) tr(A^-1 dA), so A_bar = g det(A) A^-T (A must be invertible).
@defop("LinalgDetBackward0", save_out=True)
def _det(a):
    return jnp.linalg.det(a)


@_det.vjp
def _(g, out, a):
    return ((g * out)[..., None, None] * _mT(_inv(a)),)


# log|det A|: its derivative is A^-T, whatever the sign.
@defop("LinalgSlogdetBackward0")
def _logabsdet(a):
    return jnp.linalg.slogdet(a)[1]


@_logabsdet.vjp
def _(g, out, a):
    return (g[..., None, None] * _mT(_inv(a)),)


@defop("LinalgSlogdetBackward0")
def _det_sign(a):
    return jnp.linalg.slogdet(a)[0]


# ---------------------------------------------------------------------------------------- solve
# X = A^-1 B: B_bar = A^-T X_bar, A_bar = -B_bar X^T.
@defop("LinalgSolveExBackward0", saves=(0,), save_out=True)
def _solve(a, b):
    return jnp.linalg.solve(a, b)


@_solve.vjp
def _(g, out, a, b):
    gb = _solve(_mT(a), g)
    ga = -matmul(gb, _mT(out)) if needs_grad(a) else None
    return ga, (gb if needs_grad(b) else None)


# X = A^-1 B with A triangular: the same rule, with the triangular solve and A_bar kept triangular.
@defop("LinalgSolveTriangularBackward0", saves=(0,), save_out=True)
def _solve_triangular(a, b, *, upper, left, unitriangular):
    if left:
        return jsl.solve_triangular(a, b, lower=not upper, unit_diagonal=unitriangular)
    # X A = B  <=>  A^T X^T = B^T
    xt = jsl.solve_triangular(
        jnp.swapaxes(a, -1, -2),
        jnp.swapaxes(b, -1, -2),
        lower=upper,
        unit_diagonal=unitriangular,
    )
    return jnp.swapaxes(xt, -1, -2)


@_solve_triangular.vjp
def _(g, out, a, b, *, upper, left, unitriangular):
    # Left: B_bar = A^-T G (A^T is triangular the other way), A_bar = -B_bar X^T.
    # Right (X A = B): B_bar = G A^-T, A_bar = -X^T B_bar.
    gb = _solve_triangular(_mT(a), g, upper=not upper, left=left, unitriangular=unitriangular)
    ga = None
    if needs_grad(a):
        ga = -matmul(gb, _mT(out)) if left else -matmul(_mT(out), gb)
        ga = ga.triu(1 if unitriangular else 0) if upper else ga.tril(-1 if unitriangular else 0)
    return ga, (gb if needs_grad(b) else None)


# ------------------------------------------------------------------------------------- cholesky
# A = L L^T (Murray 2016): A_bar = 1/2 (S + S^T) with S = L^-T Phi(L^T L_bar) L^-1, where Phi
# keeps the lower triangle and halves the diagonal. The lowering reads A symmetrized, so A_bar is
# symmetric.
@defop("LinalgCholeskyExBackward0", saves=(), save_out=True)
def _cholesky(a):
    return jnp.linalg.cholesky(a)


@_cholesky.vjp
def _(g, out, a):
    lt = _mT(out)
    p = matmul(lt, g).tril()
    p = p - 0.5 * p.diagonal(dim1=-2, dim2=-1).diag_embed()
    # S = L^-T P L^-1: two triangular solves.
    s = _solve_triangular(lt, p, upper=True, left=True, unitriangular=False)
    s = _solve_triangular(out, s, upper=False, left=False, unitriangular=False)
    return (0.5 * (s + _mT(s)),)


# ----------------------------------------------------------------------------------------- eigh
# A = V diag(w) V^T for symmetric A, packed as one output: row 0 holds w, rows 1.. hold V (the public
# eigh slices them apart). With K = V^T V_bar: A_bar = V (diag(w_bar) + skew(K) / E) V^T, where
# E_ij = w_j - w_i (and the diagonal of the quotient is 0): PyTorch's and JAX's rule for the
# symmetrized input. Repeated eigenvalues make E zero off the diagonal: inf/nan, as in PyTorch.
@defop("LinalgEighBackward0", saves=(), save_out=True)
def _eigh(a, *, upper):
    a = jnp.swapaxes(a, -1, -2) if upper else a
    w, v = jnp.linalg.eigh(a, UPLO="L", symmetrize_input=True)
    return jnp.concatenate([w[..., None, :], v], axis=-2)


@_eigh.vjp
def _(g, out, a, *, upper):
    w, v = out[..., 0, :], out[..., 1:, :]
    gw, gv = g[..., 0, :], g[..., 1:, :]
    k = matmul(_mT(v), gv)
    k = 0.5 * (k - _mT(k))
    e = w.unsqueeze(-2) - w.unsqueeze(-1)  # E_ij = w_j - w_i
    n = w.shape[-1]
    eye = _eye_like(w, n)
    inner = k / (e + eye) * (1 - eye) + gw.diag_embed()
    ga = matmul(matmul(v, inner), _mT(v))
    return (ga,)


def _eye_like(t: Tensor, n: int) -> Tensor:
    return Tensor._wrap(jnp.eye(n, dtype=t.dtype.np))


# ------------------------------------------------------------------------------------ matrix_exp
# The Frechet derivative of expm is the top-right block of expm([[A, E], [0, A]]); its adjoint
# takes A^T in place of A: A_bar = expm([[A^T, G], [0, A^T]])[:n, n:].
@defop("LinalgMatrixExpBackward0")
def _matrix_exp(a):
    return jsl.expm(a) if a.ndim == 2 else jnp.vectorize(jsl.expm, signature="(n,n)->(n,n)")(a)


@_matrix_exp.vjp
def _(g, out, a):
    n = a.shape[-1]
    at = _mT(a)
    top = cat([at, g], dim=-1)
    bottom = cat([at * 0, at], dim=-1)
    block = _matrix_exp(cat([top, bottom], dim=-2))
    return (block[..., :n, n:],)


# ---------------------------------------------------------------------------- public functions
@expose
def inverse(input: Tensor) -> Tensor:
    """The inverse of each square matrix in ``input`` (``torch.inverse``, ``linalg.inv``)."""
    _square("inv", input)
    return _inv(input)


@expose
def det(input: Tensor) -> Tensor:
    """The determinant of each square matrix in ``input``."""
    _square("det", input)
    return _det(input)


@expose
def slogdet(input: Tensor):
    """``(sign, logabsdet)`` of each square matrix's determinant; ``logabsdet`` is differentiable
    (its gradient is ``A^-T``), ``sign`` is not."""
    _square("slogdet", input)
    return _SlogdetResult(_det_sign(input), _logabsdet(input))


@expose
def logdet(input: Tensor) -> Tensor:
    """``log(det(A))``: nan for a negative determinant, -inf for a singular matrix."""
    _square("logdet", input)
    sign, logabs = slogdet(input)
    # nan where the determinant is negative; a singular matrix has logabs = -inf already.
    return logabs + (sign * 0).where(sign >= 0, float("nan"))


def cholesky_factor(input: Tensor, upper: bool = False) -> Tensor:
    """``linalg.cholesky``: the factor, without ``torch.cholesky``'s deprecation warning."""
    _square("cholesky", input)
    out = _cholesky(input)
    return _mT(out) if upper else out


@expose
def cholesky(input: Tensor, upper: bool = False) -> Tensor:
    """The Cholesky factor of each symmetric positive-definite matrix: lower ``L`` with
    ``A = L L^T`` (``upper=True``: ``U = L^T``). PyTorch reads only A's lower triangle;
    tracegrad reads the symmetrized matrix, which is the same for the symmetric input this
    is defined on. Deprecated in PyTorch in favour of ``linalg.cholesky``, and so here: it warns
    once, with PyTorch's message."""
    if not _warned_cholesky:
        _warned_cholesky.append(True)
        warnings.warn(
            "torch.cholesky is deprecated in favor of torch.linalg.cholesky and will be removed "
            "in a future PyTorch release.\nL = torch.cholesky(A)\nshould be replaced with\n"
            "L = torch.linalg.cholesky(A)\nand\nU = torch.cholesky(A, upper=True)\nshould be "
            "replaced with\nU = torch.linalg.cholesky(A).mH",
            UserWarning,
            stacklevel=2,
        )
    return cholesky_factor(input, upper)


_warned_cholesky: list = []


@expose
def matrix_exp(input: Tensor) -> Tensor:
    """The matrix exponential of each square matrix."""
    _square("matrix_exp", input)
    return _matrix_exp(input)


@expose
def matrix_power(input: Tensor, n: int) -> Tensor:
    """``A @ A @ ... @ A`` (``n`` times) by repeated squaring; ``n = 0`` gives the identity and
    a negative ``n`` powers the inverse."""
    _square("matrix_power", input)
    if not isinstance(n, int):
        raise TypeError(f"matrix_power(): argument 'n' must be int, not {type(n).__name__}")
    if n == 0:
        eye = _eye_like(input, input.shape[-1])
        return eye.expand(*input.shape) + input * 0
    base = inverse(input) if n < 0 else input
    n = abs(n)
    result = None
    while n:
        if n & 1:
            result = base if result is None else matmul(result, base)
        n >>= 1
        if n:
            base = matmul(base, base)
    return result


class _SlogdetResult(tuple):
    """``torch.return_types.slogdet``: a tuple with fields ``sign`` and ``logabsdet``."""

    def __new__(cls, sign, logabsdet):
        return super().__new__(cls, (sign, logabsdet))

    @property
    def sign(self) -> Tensor:
        return self[0]

    @property
    def logabsdet(self) -> Tensor:
        return self[1]
