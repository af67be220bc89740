"""The factorizations with several outputs and what is built on them: QR, the SVD, the
pseudo-inverse, least squares and LU (``torch.linalg.qr``, ``svd``, ``pinv``, ``lstsq``,
``lu_factor``, ``lu``, ``lu_solve``) and PyTorch's older top-level forms (``torch.qr``,
``torch.svd``, ``torch.pinverse``, ``torch.lu``, ``torch.lu_solve``, ``torch.lu_unpack``,
``torch.cholesky_inverse``, ``torch.cholesky_solve``, ``torch.triangular_solve``).

An op has one output array, so a factorization packs its factors into one flat trailing
dimension (``_pack``) and the public function slices them apart (``_unpack``); the rule receives
the packed cotangent and unpacks it the same way. A factor the caller never used gets a cotangent
of zeros, and the rules are written so that an all-zero cotangent contributes exactly zero (no
0/0), as PyTorch's rules skip an undefined gradient (``_div_unless_unused``). The rules are
PyTorch's (``FunctionsManual.cpp``: ``linalg_qr_backward``, ``svd_backward``, ``pinv_backward``,
``linalg_lstsq_backward``, ``linalg_lu_backward``), written in tracegrad ops so that they are
differentiable again.
"""

from __future__ import annotations

import math
import warnings

import jax.numpy as jnp
from jax import lax

from .._dtype import as_dtype
from .._surface import expose
from ..tensor import Tensor
from .decomp import _eye_like, _mT, _solve_triangular
from .linalg import matmul
from .registry import defop, needs_grad
from .shape import cat

__all__ = [
    "qr",
    "svd",
    "pinverse",
    "lu",
    "lu_solve",
    "lu_unpack",
    "cholesky_inverse",
    "cholesky_solve",
    "triangular_solve",
    "orgqr",
]


def _result(name: str, fields: tuple[str, ...]) -> type:
    """A tuple type with named fields, as ``torch.return_types.<name>``."""

    def new(cls, *values):
        return tuple.__new__(cls, values)

    def rep(self) -> str:
        inner = ",\n".join(f"{f}={v!r}" for f, v in zip(fields, self))
        return f"tracegrad.return_types.{name}(\n{inner})"

    namespace = {"__new__": new, "__slots__": (), "__repr__": rep}
    for i, f in enumerate(fields):
        namespace[f] = property(lambda self, i=i: self[i])
    cls = type(name, (tuple,), namespace)
    cls.__module__ = "tracegrad.return_types"
    return cls


QRResult = _result("linalg_qr", ("Q", "R"))
QRLegacy = _result("qr", ("Q", "R"))
SVDResult = _result("linalg_svd", ("U", "S", "Vh"))
SVDLegacy = _result("svd", ("U", "S", "V"))
LstsqResult = _result("linalg_lstsq", ("solution", "residuals", "rank", "singular_values"))
LUFactorResult = _result("linalg_lu_factor", ("LU", "pivots"))
LUFactorExResult = _result("linalg_lu_factor_ex", ("LU", "pivots", "info"))
LUResult = _result("linalg_lu", ("P", "L", "U"))
LUUnpackResult = _result("lu_unpack", ("P", "L", "U"))
TriangularSolveResult = _result("triangular_solve", ("solution", "cloned_coefficient"))


# PyTorch's deprecation warnings for its older top-level forms, each given once per process.
_DEPRECATED = {
    "qr": "torch.qr is deprecated in favor of torch.linalg.qr and will be removed in a future "
    "PyTorch release.\nThe boolean parameter 'some' has been replaced with a string parameter "
    "'mode'.\nQ, R = torch.qr(A, some)\nshould be replaced with\nQ, R = torch.linalg.qr(A, "
    "'reduced' if some else 'complete')",
    "lu": "torch.lu is deprecated in favor of torch.linalg.lu_factor / torch.linalg.lu_factor_ex "
    "and will be removed in a future PyTorch release.\nLU, pivots = torch.lu(A, compute_pivots)\n"
    "should be replaced with\nLU, pivots = torch.linalg.lu_factor(A, compute_pivots)\nand\n"
    "LU, pivots, info = torch.lu(A, compute_pivots, get_infos=True)\nshould be replaced with\n"
    "LU, pivots, info = torch.linalg.lu_factor_ex(A, compute_pivots)",
    "lu_solve": "torch.lu_solve is deprecated in favor of torch.linalg.lu_solveand will be "
    "removed in a future PyTorch release.\nNote that torch.linalg.lu_solve has its arguments "
    "reversed.\nX = torch.lu_solve(B, LU, pivots)\nshould be replaced with\n"
    "X = torch.linalg.lu_solve(LU, pivots, B)",
    "triangular_solve": "torch.triangular_solve is deprecated in favor of "
    "torch.linalg.solve_triangularand will be removed in a future PyTorch release.\n"
    "torch.linalg.solve_triangular has its arguments reversed and does not return a copy of one "
    "of the inputs.\nX = torch.triangular_solve(B, A).solution\nshould be replaced with\n"
    "X = torch.linalg.solve_triangular(A, B).",
}
_warned: set = set()


def _deprecated(name: str) -> None:
    if name not in _warned:
        _warned.add(name)
        warnings.warn(_DEPRECATED[name], UserWarning, stacklevel=3)


# ------------------------------------------------------------------------------------- packing
def _pack(*arrays):
    """Flatten each factor's matrix (or vector) dimensions and concatenate them along one
    trailing dimension; the batch dimensions (all but the factor's own) are shared."""
    batch = arrays[0].shape[:-2]
    return jnp.concatenate([x.reshape(*batch, -1) for x in arrays], axis=-1)


def _unpack(t: Tensor, shapes) -> list:
    """The factors of a packed tensor: ``shapes`` are their own (non-batch) shapes."""
    out, start = [], 0
    batch = tuple(t.shape[:-1])
    for s in shapes:
        size = math.prod(s)
        out.append(t[..., start : start + size].reshape(*batch, *s))
        start += size
    return out


def _check_matrix(name: str, a: Tensor, what: str = "A") -> None:
    if a.ndim < 2:
        raise RuntimeError(f"{name}: The input tensor {what} must have at least 2 dimensions.")
    if not a.dtype.is_floating_point:
        raise RuntimeError(
            f"{name}: Expected a floating point or complex tensor as input. Got "
            f"{a.dtype.name.capitalize()}"
        )


def _unused(g: Tensor) -> Tensor:
    """Per matrix of a batch (shape ``batch + (1, 1)``): whether the cotangent ``g`` is all zero,
    that is, whether the factor it belongs to was not used."""
    return (g == 0).all(dim=-1, keepdim=True).all(dim=-2, keepdim=True)


def _div_unless_unused(num: Tensor, den: Tensor, unused: Tensor) -> Tensor:
    """``num / den``, but 0 where the factors behind ``num`` were not used (``num`` is then zero)
    and ``den`` is zero: PyTorch skips an undefined cotangent, so an unused U or V adds nothing,
    while a used one over a zero gap stays inf/nan, as in PyTorch."""
    return num / den.where(~(unused & (den == 0)), 1.0)


# ------------------------------------------------------------------------------------------- qr
def _qr_shapes(m: int, n: int, mode: str):
    k = min(m, n)
    if mode == "r":
        return [(k, n)]
    if mode == "complete":
        return [(m, m), (m, n)]
    return [(m, k), (k, n)]


@defop("LinalgQrBackward0", saves=(0,), save_out=True)
def _qr(a, *, mode):
    if mode == "r":
        return _pack(jnp.linalg.qr(a, mode="r"))
    return _pack(*jnp.linalg.qr(a, mode=mode))


def _qr_square_backward(gq: Tensor, gr: Tensor, q: Tensor, r: Tensor) -> Tensor:
    # A = QR with Q (m, n) orthonormal columns and R (n, n) upper triangular, m >= n:
    # A_bar = (Q_bar + Q copyltu(M)) R^-T with M = R R_bar^T - Q_bar^T Q, where copyltu builds
    # the symmetric matrix from M's lower triangle (Walter and Lehmann 2018; Liao et al. 2019).
    m_ = matmul(r, _mT(gr)) - matmul(_mT(gq), q)
    sym = m_.tril() + _mT(m_.tril(-1))
    b = gq + matmul(q, sym)
    # X R^T = B  <=>  R X^T = B^T: one triangular solve.
    return _mT(_solve_triangular(r, _mT(b), upper=True, left=True, unitriangular=False))


@_qr.vjp
def _(g, out, a, *, mode):
    m, n = a.shape[-2], a.shape[-1]
    if mode == "r":
        raise RuntimeError(
            "The derivative of linalg.qr depends on Q, which is not computed when mode='r'. "
            "Please use linalg.qr(A, mode='reduced') if you are going to differentiate through "
            "linalg.qr."
        )
    if mode == "complete" and m > n:
        raise RuntimeError(
            "The QR decomposition is not differentiable when mode='complete' and nrows > ncols."
        )
    shapes = _qr_shapes(m, n, mode)
    q, r = _unpack(out, shapes)
    gq, gr = _unpack(g, shapes)
    if m >= n:
        return (_qr_square_backward(gq, gr, q, r),)
    # Wide A = [X | Y], R = [U | V]: X = QU is a square QR, and Y = QV, so V = Q^T Y. Y's
    # cotangent is Q V_bar, and V's dependence on Q adds Y V_bar^T to Q's cotangent.
    u = r[..., :m]
    gu, gv = gr[..., :m], gr[..., m:]
    y = a[..., m:]
    gx = _qr_square_backward(gq + matmul(y, _mT(gv)), gu, q, u)
    return (cat([gx, matmul(q, gv)], dim=-1),)


def linalg_qr(A: Tensor, mode: str = "reduced"):
    """``(Q, R)`` with ``A = Q R``, ``Q`` with orthonormal columns and ``R`` upper triangular
    (LAPACK's signs, as PyTorch). ``mode``: ``'reduced'`` (``Q`` is ``m x k``, ``k = min(m, n)``),
    ``'complete'`` (``Q`` is ``m x m``) or ``'r'`` (``Q`` is empty; not differentiable)."""
    _check_matrix("linalg.qr", A)
    if mode not in ("reduced", "complete", "r"):
        raise RuntimeError(
            f"qr received unrecognized mode '{mode}' but expected one of 'reduced' (default), "
            "'r', or 'complete'"
        )
    m, n = A.shape[-2], A.shape[-1]
    packed = _qr(A, mode=mode)
    if mode == "r":
        (r,) = _unpack(packed, _qr_shapes(m, n, mode))
        return QRResult(A.new_zeros((0,)), r)
    q, r = _unpack(packed, _qr_shapes(m, n, mode))
    return QRResult(q, r)


@expose
def qr(input: Tensor, some: bool = True):
    """``torch.qr``: ``(Q, R)``, reduced when ``some`` (the default), complete otherwise; the
    older name of ``linalg.qr``."""
    _deprecated("qr")
    q, r = linalg_qr(input, "reduced" if some else "complete")
    return QRLegacy(q, r)


# ------------------------------------------------------------------------------------------ svd
def _svd_shapes(m: int, n: int, full_matrices: bool):
    k = min(m, n)
    if full_matrices:
        return [(m, m), (k,), (n, n)]
    return [(m, k), (k,), (k, n)]


@defop("LinalgSvdBackward0", saves=(), save_out=True)
def _svd(a, *, full_matrices):
    u, s, vh = jnp.linalg.svd(a, full_matrices=full_matrices)
    return _pack(u, s[..., None, :], vh)  # s as a (1, k) matrix, so every factor has 2 dims


@_svd.vjp
def _(g, out, a, *, full_matrices):
    # PyTorch's svd_backward. With full_matrices the extra columns of U (rows of Vh) are not
    # determined by A; like PyTorch, the rule uses only the first k of them and their cotangents.
    # With K_U = U^T U_bar, K_V = V^T V_bar and E_ij = s_j^2 - s_i^2:
    #   A_bar = U [(skew(K_U) s_j + s_i skew(K_V)) / E + diag(s_bar)] V^T
    #           + (I - U U^T) U_bar S^-1 V^T + U S^-1 V_bar^T (I - V V^T),
    # the last two terms only for tall (m > n) and wide (m < n) A. Repeated singular values make
    # E vanish off the diagonal: inf/nan when U or V is used, as in PyTorch.
    m, n = a.shape[-2], a.shape[-1]
    k = min(m, n)
    shapes = [(s if len(s) == 2 else (1, s[0])) for s in _svd_shapes(m, n, full_matrices)]
    u, s, vh = _unpack(out, shapes)
    gu, gs, gvh = _unpack(g, shapes)
    u, vh, gu, gvh = u[..., :k], vh[..., :k, :], gu[..., :k], gvh[..., :k, :]
    s, gs = s[..., 0, :], gs[..., 0, :]
    ku = matmul(_mT(u), gu)
    kv = matmul(vh, _mT(gvh))
    num = (ku - _mT(ku)) * s.unsqueeze(-2) + s.unsqueeze(-1) * (kv - _mT(kv))
    s2 = s * s
    e = s2.unsqueeze(-2) - s2.unsqueeze(-1) + _eye_like(s, k)
    unused = _unused(gu) & _unused(gvh)
    inner = _div_unless_unused(num, e, unused) + gs.diag_embed()
    if m > n:
        gus = _div_unless_unused(gu, s.unsqueeze(-2).expand(*gu.shape), _unused(gu))
        ga = matmul(matmul(u, inner) + gus - matmul(u, matmul(_mT(u), gus)), vh)
    elif m < n:
        sv = s.unsqueeze(-2).expand(*gvh.shape[:-2], n, k)
        gvs = _mT(_div_unless_unused(_mT(gvh), sv, _unused(gvh)))
        ga = matmul(u, matmul(inner, vh) + gvs - matmul(matmul(gvs, _mT(vh)), vh))
    else:
        ga = matmul(matmul(u, inner), vh)
    return (ga,)


def _no_driver(name: str, driver) -> None:
    if driver is not None:
        raise RuntimeError(
            f"torch.linalg.{name}: keyword argument `driver=` is only supported on CUDA inputs "
            "with cuSOLVER backend."
        )


def linalg_svd(A: Tensor, full_matrices: bool = True, *, driver: str | None = None):
    """``(U, S, Vh)`` with ``A = U diag(S) Vh``, singular values descending (LAPACK's signs for
    the vectors, as PyTorch). The gradient is PyTorch's; it is inf/nan where singular values
    repeat and ``U`` or ``Vh`` is used (a loss of ``S`` alone is fine)."""
    _no_driver("svd", driver)
    _check_matrix("linalg.svd", A)
    m, n = A.shape[-2], A.shape[-1]
    shapes = [(s if len(s) == 2 else (1, s[0])) for s in _svd_shapes(m, n, full_matrices)]
    u, s, vh = _unpack(_svd(A, full_matrices=bool(full_matrices)), shapes)
    return SVDResult(u, s[..., 0, :], vh)


def svdvals(A: Tensor, *, driver: str | None = None) -> Tensor:
    """The singular values of each matrix, descending (``linalg.svdvals``); differentiable, with
    gradient ``U diag(S_bar) V^T`` (defined even where singular values repeat)."""
    _no_driver("svdvals", driver)
    _check_matrix("linalg.svdvals", A)
    return linalg_svd(A, full_matrices=False).S


@expose
def svd(input: Tensor, some: bool = True, compute_uv: bool = True):
    """``torch.svd``: ``(U, S, V)`` (``V``, not ``Vh``), reduced when ``some``. With
    ``compute_uv=False`` ``U`` and ``V`` are zero-filled ``m x m`` and ``n x n`` matrices, as in
    PyTorch. Prefer ``linalg.svd``."""
    _check_matrix("linalg.svd", input)
    if not compute_uv:
        m, n = input.shape[-2], input.shape[-1]
        batch = tuple(input.shape[:-2])
        s = svdvals(input)
        return SVDLegacy(input.new_zeros((*batch, m, m)), s, input.new_zeros((*batch, n, n)))
    u, s, vh = linalg_svd(input, full_matrices=not some)
    return SVDLegacy(u, s, _mT(vh))


# ----------------------------------------------------------------------------------------- pinv
def _pinv_lowering(a, atol, rtol, hermitian):
    atol = jnp.asarray(atol, a.dtype)
    rtol = jnp.asarray(rtol, a.dtype)
    if hermitian:
        w, v = jnp.linalg.eigh(a, UPLO="L", symmetrize_input=False)  # the lower triangle, as LAPACK
        sa = jnp.abs(w)
        cutoff = jnp.maximum(atol[..., None], rtol[..., None] * jnp.max(sa, -1, keepdims=True))
        winv = jnp.where(sa > cutoff, 1 / w, 0)
        return jnp.matmul(v * winv[..., None, :], jnp.swapaxes(v, -1, -2))
    u, s, vh = jnp.linalg.svd(a, full_matrices=False)
    cutoff = jnp.maximum(atol[..., None], rtol[..., None] * s[..., :1])
    sinv = jnp.where(s > cutoff, 1 / s, 0)
    return jnp.matmul(jnp.swapaxes(vh, -1, -2) * sinv[..., None, :], jnp.swapaxes(u, -1, -2))


# The tolerances are operands (they may be tensors with batch dimensions) but not differentiable.
@defop("LinalgPinvBackward0", saves=(0,), save_out=True)
def _pinv(a, atol, rtol, *, hermitian):
    return _pinv_lowering(a, atol, rtol, hermitian)


def _pinv_backward(g: Tensor, pinv: Tensor, a: Tensor) -> Tensor:
    # The derivative of the pseudo-inverse at constant rank (Golub and Pereyra 1973), in
    # PyTorch's arrangement, which keeps every product at the smaller of the two sizes.
    m, n = a.shape[-2], a.shape[-1]
    ph, gh = _mT(pinv), _mT(g)
    if m <= n:
        k = matmul(gh, pinv)
        kph = matmul(k, ph)
        return (
            -_mT(matmul(pinv, k))
            + kph
            - matmul(matmul(a, pinv), kph)
            + matmul(matmul(ph, pinv), gh - matmul(k, a))
        )
    k = matmul(pinv, gh)
    phk = matmul(ph, k)
    return (
        -_mT(matmul(k, pinv))
        + matmul(matmul(gh - matmul(a, k), pinv), ph)
        + phk
        - matmul(matmul(phk, pinv), a)
    )


@_pinv.vjp
def _(g, out, a, atol, rtol, *, hermitian):
    # PyTorch uses the general formula for hermitian=True too (not symmetrized).
    return _pinv_backward(g, out, a), None, None


def _tolerances(A: Tensor, atol, rtol, name: str):
    """PyTorch's defaults: ``rtol = eps * max(m, n)`` unless ``atol`` is given and positive (then
    0); ``atol = 0``."""
    eps = float(jnp.finfo(A.dtype.np).eps)
    default = eps * max(A.shape[-2], A.shape[-1])
    for v, what in ((atol, "atol"), (rtol, "rtol")):
        if isinstance(v, Tensor) and not v.dtype.is_floating_point:
            raise RuntimeError(f"{name}: {what} tensor of complex type is not supported.")
    if rtol is None:
        if atol is None:
            rtol = default
        elif isinstance(atol, Tensor):
            rtol = (atol > 0).logical_not().to(A.dtype) * default
        else:
            rtol = 0.0 if atol > 0 else default
    if atol is None:
        atol = 0.0
    return atol, rtol


def _float_or_tensor(v, A: Tensor):
    if isinstance(v, Tensor):
        return v.detach().to(A.dtype)
    return float(v)


def pinv(A: Tensor, *, atol=None, rtol=None, hermitian: bool = False) -> Tensor:
    """The Moore-Penrose pseudo-inverse of each matrix, from its SVD (``hermitian=True``: its
    eigendecomposition, reading the lower triangle) with singular values below
    ``max(atol, rtol * s_max)`` dropped. The gradient is PyTorch's (constant-rank) formula."""
    _check_matrix("linalg.pinv", A)
    atol, rtol = _tolerances(A, atol, rtol, "linalg.pinv")
    if hermitian and A.shape[-1] != A.shape[-2]:
        raise RuntimeError(
            "linalg.eigh: A must be batches of square matrices, but they are "
            f"{A.shape[-2]} by {A.shape[-1]} matrices"
        )
    return _pinv(A, _float_or_tensor(atol, A), _float_or_tensor(rtol, A), hermitian=bool(hermitian))


@expose
def pinverse(input: Tensor, rcond: float = 1e-15) -> Tensor:
    """``torch.pinverse``: ``linalg.pinv(input, rtol=rcond)``."""
    return pinv(input, atol=0.0, rtol=rcond)


# ---------------------------------------------------------------------------------------- lstsq
@defop("LinalgLstsqBackward0", saves=(0, 1))
def _lstsq(a, b, *, rcond):
    return jnp.matmul(_pinv_lowering(a, 0.0, rcond, False), b)


@_lstsq.vjp
def _(g, out, a, b, *, rcond):
    # PyTorch's linalg_lstsq_backward: X = pinv(A) B, so A_bar is pinv's rule applied to
    # X_bar B^T and B_bar = pinv(A)^T X_bar (with pinv's default tolerances).
    m, n = a.shape[-2], a.shape[-1]
    eps = float(jnp.finfo(a.dtype.np).eps)
    p = _pinv(a, 0.0, eps * max(m, n), hermitian=False)
    ga = _pinv_backward(matmul(g, _mT(b)), p, a) if needs_grad(a) else None
    gb = matmul(_mT(p), g) if needs_grad(b) else None
    return ga, gb


_DRIVERS = ("gels", "gelsy", "gelsd", "gelss")


def lstsq(A: Tensor, B: Tensor, rcond: float | None = None, *, driver: str | None = None):
    """The least-squares solution of ``A X = B`` as ``(solution, residuals, rank,
    singular_values)``, following PyTorch's CPU drivers: ``gelsy`` (default) gives ``rank``,
    ``gelsd``/``gelss`` also ``singular_values``, ``gels`` neither; ``residuals`` (squared
    residual norms) when ``m > n`` and every matrix has full rank. The solution is computed from
    the SVD, dropping singular values below ``rcond * s_max``, and is the minimum-norm one;
    only it is differentiable (PyTorch's rule, through the pseudo-inverse)."""
    _check_matrix("torch.linalg.lstsq", A)
    if driver is None:
        driver = "gelsy"
    if driver not in _DRIVERS:
        raise RuntimeError(
            "torch.linalg.lstsq: parameter `driver` should be one of (gels, gelsy, gelsd, gelss)"
        )
    if A.dtype is not B.dtype:
        raise RuntimeError(
            "torch.linalg.lstsq: Expected input and other to have the same dtype, but got "
            f"input's dtype {A.dtype.name.capitalize()} and other's dtype "
            f"{B.dtype.name.capitalize()}"
        )
    # PyTorch's lstsq takes B as a batch of vectors whenever it has one dimension fewer than A.
    vector = B.ndim == A.ndim - 1
    b = B.unsqueeze(-1) if vector else B
    m, n = A.shape[-2], A.shape[-1]
    if b.shape[-2] != m:
        raise RuntimeError("torch.linalg.lstsq: input.size(-2) should match other.size(-2)")
    eps = float(jnp.finfo(A.dtype.np).eps)
    if rcond is None:
        rcond = eps * max(m, n)
    x = _lstsq(A, b, rcond=float(rcond))
    empty = A.new_zeros((0,))
    int64 = as_dtype("int64")
    rank = empty.to(int64)
    sv = empty
    if driver != "gels":
        # The rank as gelsy/gelsd/gelss report it: singular values above rcond * s_max (gelsy
        # estimates it from a pivoted QR; the two agree unless a value sits at the cutoff).
        s = svdvals(A.detach())
        cut = s[..., :1] * (float(rcond) if rcond >= 0 else eps)
        rank = (s > cut).sum(-1).to(int64)
        if driver != "gelsy":
            sv = s
    residuals = empty
    # PyTorch: residuals only when m > n, not from gelsy, and (gelsd/gelss) every A of full rank.
    if m > n and driver != "gelsy" and (driver == "gels" or bool((rank == n).all())):
        r = matmul(A.detach(), x.detach()) - b.detach()
        residuals = (r * r).sum(-2)
    return LstsqResult(x.squeeze(-1) if vector else x, residuals, rank, sv)


# ------------------------------------------------------------------------------------------- lu
def _lu_shapes(m: int, n: int):
    return [(m, n), (1, min(m, n)), (1, m)]


# LU with partial pivoting, P A = L U in LAPACK's form: the packed output holds LU (L strictly
# below the diagonal, unit diagonal implied, U on and above), the pivots (0-based) and the
# permutation, the last two as floats (exact for any size LAPACK handles).
@defop("LinalgLuFactorExBackward0", saves=(), save_out=True)
def _lu_factor(a):
    lu, piv, perm = lax.linalg.lu(a)
    return _pack(lu, piv[..., None, :].astype(a.dtype), perm[..., None, :].astype(a.dtype))


def _perm_matrix(perm: Tensor, dtype) -> Tensor:
    """P with ``A = P L U``: ``P[i, j] = 1`` where ``perm[j] == i`` (LU factors ``A[perm]``)."""
    m = perm.shape[-1]
    rows = Tensor._wrap(jnp.arange(m, dtype=perm.dtype.np))
    return (perm.unsqueeze(-2) == rows.unsqueeze(-1)).to(dtype)


@_lu_factor.vjp
def _(g, out, a):
    # PyTorch's linalg_lu_backward, with L_bar and U_bar the strictly lower and upper parts of
    # the packed cotangent. Square: A_bar = P L^-T [tril_-1(L^T L_bar) + triu(U_bar U^T)] U^-T.
    m, n = a.shape[-2], a.shape[-1]
    k = min(m, n)
    lu, _, perm = _unpack(out, _lu_shapes(m, n))
    glu = _unpack(g, _lu_shapes(m, n))[0]
    p = _perm_matrix(perm[..., 0, :], a.dtype)
    eye = _eye_like(lu, max(m, n))[:m, :k]
    lo = lu[..., :, :k].tril(-1) + eye
    up = lu[..., :k, :].triu()
    gl = glu[..., :, :k].tril(-1)
    gu = glu[..., :k, :].triu()
    if m == n:
        x = matmul(_mT(lo), gl).tril(-1) + matmul(gu, _mT(up)).triu()
        x = _solve_triangular(_mT(up), x, upper=False, left=False, unitriangular=False)
        x = _solve_triangular(_mT(lo), x, upper=True, left=True, unitriangular=True)
    elif m < n:
        # Wide: A = P L [U1 | U2].
        u1 = up[..., :k]
        x = (matmul(_mT(lo), gl) - matmul(gu, _mT(up))).tril(-1)
        x = _solve_triangular(_mT(u1), x, upper=False, left=False, unitriangular=False)
        x = cat([x + gu[..., :k].triu(), gu[..., k:]], dim=-1)
        x = _solve_triangular(_mT(lo), x, upper=True, left=True, unitriangular=True)
    else:
        # Tall: A = P [L1; L2] U.
        l1 = lo[..., :k, :]
        x = (matmul(gu, _mT(up)) - matmul(_mT(lo), gl)).triu()
        x = _solve_triangular(_mT(l1), x, upper=True, left=True, unitriangular=True)
        x = cat([x + gl[..., :k, :].tril(-1), gl[..., k:, :]], dim=-2)
        x = _solve_triangular(_mT(up), x, upper=False, left=False, unitriangular=False)
    return (matmul(p, x),)


def _lu_parts(A: Tensor, name: str):
    _check_matrix(name, A)
    if A.dtype.name not in ("float32", "float64"):
        raise RuntimeError(f"\"lu_factor_cpu\" not implemented for '{A.dtype.name.capitalize()}'")
    m, n = A.shape[-2], A.shape[-1]
    lu_, piv, perm = _unpack(_lu_factor(A), _lu_shapes(m, n))
    int32 = as_dtype("int32")
    return lu_, piv[..., 0, :].detach().to(int32) + 1, perm[..., 0, :].detach().to(int32)


def _no_pivot(name: str) -> RuntimeError:
    return RuntimeError(f"{name}: LU without pivoting is not implemented on the CPU")


def _lu_factor_checked(A: Tensor, pivot: bool, check_errors: bool, name: str):
    """``(LU, pivots, info)``: the packed LU factorization with partial pivoting (LAPACK's
    ``getrf``: 1-based int32 pivots), ``info`` > 0 (the first zero of ``U``'s diagonal, 1-based)
    where ``U`` is singular."""
    if not pivot:
        raise _no_pivot("linalg.lu_factor")
    lu_, piv, _ = _lu_parts(A, "torch.linalg.lu_factor_ex")
    d = lu_.detach().diagonal(dim1=-2, dim2=-1) == 0
    k = d.shape[-1]
    first = Tensor._wrap(jnp.arange(k, 0, -1, dtype=jnp.int32))
    # The first zero on the diagonal: the largest of (k - j) over zero positions j.
    info = (d.to(as_dtype("int32")) * first).amax(-1) if k else d.sum(-1)
    info = (info > 0).to(as_dtype("int32")) * (k + 1 - info)
    if check_errors and bool((info > 0).any()):
        first_bad = int(info.reshape(-1)[(info.reshape(-1) > 0).to(as_dtype("int64")).argmax()])
        raise RuntimeError(
            f"torch.linalg.{name}: U[{first_bad},{first_bad}] is zero and "
            "using it on lu_solve would result in a division by zero. If you still want to "
            "perform the factorization, consider calling linalg.lu(A, pivot) or "
            "linalg.lu_factor_ex(A, pivot)"
        )
    return LUFactorExResult(lu_, piv, info.to(as_dtype("int32")))


def lu_factor_ex(A: Tensor, *, pivot: bool = True, check_errors: bool = False):
    """``(LU, pivots, info)``: the packed LU factorization with partial pivoting (LAPACK's
    ``getrf``: 1-based int32 pivots), ``info`` > 0 (the first zero of ``U``'s diagonal, 1-based)
    where ``U`` is singular; ``check_errors`` raises then."""
    return _lu_factor_checked(A, pivot, check_errors, "lu_factor_ex")


def lu_factor(A: Tensor, *, pivot: bool = True):
    """``(LU, pivots)``: the packed LU factorization with partial pivoting, as LAPACK's
    ``getrf`` (1-based int32 pivots); differentiable through ``LU`` (PyTorch's rule)."""
    lu_, piv, _ = _lu_factor_checked(A, pivot, True, "lu_factor")
    return LUFactorResult(lu_, piv)


@defop("LuUnpackBackward0")
def _pivots_to_perm(pivots, *, m):
    return lax.linalg.lu_pivots_to_permutation(pivots - 1, m)


def _unpack_lu(lu_: Tensor, perm: Tensor | None):
    m, n = lu_.shape[-2], lu_.shape[-1]
    k = min(m, n)
    eye = _eye_like(lu_, max(m, n))[:m, :k]
    lo = lu_[..., :, :k].tril(-1) + eye
    up = lu_[..., :k, :].triu()
    p = None if perm is None else _perm_matrix(perm, lu_.dtype)
    return p, lo, up


def linalg_lu(A: Tensor, *, pivot: bool = True):
    """``(P, L, U)`` with ``A = P L U``: ``P`` a permutation matrix, ``L`` unit lower triangular
    (``m x k``), ``U`` upper triangular (``k x n``); differentiable (PyTorch's rule)."""
    if not pivot:
        raise _no_pivot("linalg.lu")
    lu_, _, perm = _lu_parts(A, "linalg.lu")
    p, lo, up = _unpack_lu(lu_, perm)
    return LUResult(p, lo, up)


def lu_unpack(
    LU_data: Tensor, LU_pivots: Tensor, unpack_data: bool = True, unpack_pivots: bool = True
):
    """``(P, L, U)`` from ``lu_factor``'s packed ``LU`` and ``pivots``; with ``unpack_data=False``
    ``L`` and ``U`` are empty, with ``unpack_pivots=False`` ``P`` is. Differentiable through
    ``LU_data``."""
    if LU_pivots.dtype.name != "int32":
        raise RuntimeError(
            "torch.lu_unpack: LU_pivots is expected to be a contiguous tensor of torch.int32 "
            "dtype. Note: this function is intended to be used with the output produced by "
            "torch.linalg.lu_factor"
        )
    m = LU_data.shape[-2]
    empty = LU_data.new_zeros((0,))
    perm = _pivots_to_perm(LU_pivots, m=m) if unpack_pivots else None
    p, lo, up = _unpack_lu(LU_data, perm)
    if not unpack_data:
        lo = up = empty
    return LUUnpackResult(p if unpack_pivots else empty, lo, up)


def linalg_lu_solve(
    LU: Tensor, pivots: Tensor, B: Tensor, *, left: bool = True, adjoint: bool = False
) -> Tensor:
    """The solution of ``A X = B`` (``left=False``: ``X A = B``; ``adjoint``: ``A^T`` for ``A``)
    from ``lu_factor``'s ``(LU, pivots)``: a permutation and two triangular solves, each
    differentiable, so the gradient reaches ``LU`` (in its two triangles) and ``B``."""
    _check_matrix("linalg.lu_solve", LU, "LU")
    if LU.shape[-1] != LU.shape[-2]:
        raise RuntimeError(
            "linalg.lu_solve: Expected LU to be square, but got "
            f"{LU.shape[-2]} by {LU.shape[-1]} matrices"
        )
    m = LU.shape[-1]
    p = _perm_matrix(_pivots_to_perm(pivots, m=m), LU.dtype)
    lower = dict(upper=False, unitriangular=True)
    upper_ = dict(upper=True, unitriangular=False)
    lt = _mT(LU)
    if left and not adjoint:  # X = U^-1 L^-1 P^T B
        x = _solve_triangular(LU, matmul(_mT(p), B), left=True, **lower)
        return _solve_triangular(LU, x, left=True, **upper_)
    if left:  # A^T X = B: X = P L^-T U^-T B
        x = _solve_triangular(lt, B, left=True, upper=False, unitriangular=False)
        return matmul(p, _solve_triangular(lt, x, left=True, upper=True, unitriangular=True))
    if not adjoint:  # X P L U = B: X = B U^-1 L^-1 P^T
        x = _solve_triangular(LU, B, left=False, **upper_)
        return matmul(_solve_triangular(LU, x, left=False, **lower), _mT(p))
    # X A^T = B: X = B P L^-T U^-T
    x = matmul(B, p)
    x = _solve_triangular(lt, x, left=False, upper=True, unitriangular=True)
    return _solve_triangular(lt, x, left=False, upper=False, unitriangular=False)


@expose
def lu(A: Tensor, pivot: bool = True, get_infos: bool = False):
    """``torch.lu``: ``(LU, pivots)`` (and ``infos`` when ``get_infos``), as
    ``linalg.lu_factor_ex``."""
    _deprecated("lu")
    lu_, piv, info = lu_factor_ex(A, pivot=pivot)
    return (lu_, piv, info) if get_infos else (lu_, piv)


@expose
def lu_solve(b: Tensor, LU_data: Tensor, LU_pivots: Tensor) -> Tensor:
    """``torch.lu_solve``: ``linalg.lu_solve(LU_data, LU_pivots, b)`` (note the order)."""
    _deprecated("lu_solve")
    return linalg_lu_solve(LU_data, LU_pivots, b)


# ------------------------------------------------------------------------- cholesky-based solves
@expose
def cholesky_inverse(L: Tensor, upper: bool = False) -> Tensor:
    """The inverse of ``A = L L^T`` from its Cholesky factor (``upper=True``: ``A = U^T U``);
    reads only the named triangle. Its gradient is zero in the other triangle (the one the
    value does not depend on), where PyTorch's formula writes entries; through a factor from
    ``linalg.cholesky`` the two agree."""
    _check_matrix("cholesky_inverse", L, "input")
    if L.shape[-1] != L.shape[-2]:
        raise RuntimeError(
            "cholesky_inverse: A must be batches of square matrices, but they are "
            f"{L.shape[-2]} by {L.shape[-1]} matrices"
        )
    eye = _eye_like(L, L.shape[-1])
    # L^-1 (or U^-1), then A^-1 = L^-T L^-1 (or U^-1 U^-T).
    inv = _solve_triangular(L, eye + L * 0, upper=bool(upper), left=True, unitriangular=False)
    return matmul(inv, _mT(inv)) if upper else matmul(_mT(inv), inv)


@expose
def cholesky_solve(B: Tensor, L: Tensor, upper: bool = False) -> Tensor:
    """The solution of ``A X = B`` for ``A = L L^T`` (``upper=True``: ``A = U^T U``), by two
    triangular solves; like ``cholesky_inverse``, the gradient is zero in the unread triangle."""
    _check_matrix("cholesky_solve", L, "input2")
    if B.ndim < 2:
        raise RuntimeError(
            f"b should have at least 2 dimensions, but has {B.ndim} dimensions instead"
        )
    if upper:  # U^T U X = B
        y = _solve_triangular(_mT(L), B, upper=False, left=True, unitriangular=False)
        return _solve_triangular(L, y, upper=True, left=True, unitriangular=False)
    y = _solve_triangular(L, B, upper=False, left=True, unitriangular=False)
    return _solve_triangular(_mT(L), y, upper=True, left=True, unitriangular=False)


@expose
def triangular_solve(
    b: Tensor,
    A: Tensor,
    upper: bool = True,
    transpose: bool = False,
    unitriangular: bool = False,
):
    """``torch.triangular_solve``: ``(solution, cloned_coefficient)`` of ``A X = b``
    (``transpose``: ``A^T X = b``) for triangular ``A``; deprecated in PyTorch in favour of
    ``linalg.solve_triangular``."""
    _deprecated("triangular_solve")
    _check_matrix("torch.triangular_solve", A, "A")
    if b.ndim < 2:
        raise RuntimeError(
            f"torch.triangular_solve: Expected b to have at least 2 dimensions, but it has "
            f"{b.ndim} dimensions instead"
        )
    a = _mT(A) if transpose else A
    up = bool(upper) != bool(transpose)
    x = _solve_triangular(a, b, upper=up, left=True, unitriangular=bool(unitriangular))
    return TriangularSolveResult(x, A.clone())


# ------------------------------------------------------------------------ householder_product
def householder_product(A: Tensor, tau: Tensor) -> Tensor:
    """The first ``n`` columns of ``H_1 H_2 ... H_k`` with ``H_i = I - tau_i v_i v_i^T``, ``v_i``
    column ``i`` of ``A`` below the diagonal with a 1 on it (LAPACK's ``orgqr``: the ``Q`` of a
    ``geqrf`` factorization). Composed of tracegrad ops (``k`` rank-one updates), so it is
    differentiable in ``A`` and ``tau``."""
    name = "torch.linalg.householder_product"
    if A.ndim < 2:
        raise RuntimeError(f"{name}: input must have at least 2 dimensions.")
    if tau.ndim < 1:
        raise RuntimeError(f"{name}: tau must have at least 1 dimension.")
    m, n, k = A.shape[-2], A.shape[-1], tau.shape[-1]
    if m < n:
        raise RuntimeError(
            f"{name}: input.shape[-2] must be greater than or equal to input.shape[-1]"
        )
    if n < k:
        raise RuntimeError(
            f"{name}: input.shape[-1] must be greater than or equal to tau.shape[-1]"
        )
    if tuple(A.shape[:-2]) != tuple(tau.shape[:-1]):
        raise RuntimeError(
            f"{name}: Expected batch dimensions of tau to be equal to input.shape[:-2], but got "
            f"{list(tau.shape[:-1])}"
        )
    if A.dtype is not tau.dtype:
        raise RuntimeError(
            f"{name}: tau dtype {tau.dtype.name.capitalize()} does not match input dtype "
            f"{A.dtype.name.capitalize()}"
        )
    eye = _eye_like(A, m)
    rows = Tensor._wrap(jnp.arange(m))
    q = eye.expand(*A.shape[:-2], m, m) + A[..., :1, :1] * 0
    for i in range(k):
        below = (rows > i).to(A.dtype)
        v = A[..., :, i] * below + eye[i]  # zeros above, 1 on the diagonal
        # Q H_i = Q - tau_i (Q v) v^T
        qv = matmul(q, v.unsqueeze(-1))
        q = q - tau[..., i, None, None] * matmul(qv, v.unsqueeze(-2))
    return q[..., :, :n]


@expose
def orgqr(input: Tensor, tau: Tensor) -> Tensor:
    """``torch.orgqr``: ``linalg.householder_product(input, tau)``."""
    return householder_product(input, tau)
