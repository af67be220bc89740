"""``tracegrad.linalg``, as ``torch.linalg``: inverses, determinants, solves, Cholesky, QR, the
SVD, LU, the symmetric and general eigendecompositions, pseudo-inverses, least squares, the matrix
exponential and powers, and norms.

The decompositions are ops with hand-written VJPs (``ops/decomp.py``, ``ops/decomp2.py``,
``ops/eig.py``); the
rest is composed from them and from tracegrad's other ops, so everything here is differentiable
(again, under ``create_graph=True``; ``eig``/``eigvals`` to first order). The LDL factorization
raises ``NotImplementedError`` naming the alternative.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Sequence

from ._dtype import as_dtype, scalar_type_name
from ._grad_mode import is_grad_enabled
from ._surface import numpy_keepdims
from .ops import decomp, decomp2
from .ops import eig as _eig_ops
from .ops import out as _out
from .ops.decomp import _eigh, _solve, _solve_triangular, _square, _square_batches
from .ops.linalg import matmul
from .ops.products import linalg_cross as cross
from .ops.reduction import amax, amin
from .ops.reduction import sum as _sum
from .ops.shape import cat
from .ops.shape import diagonal as _diagonal
from .tensor import Tensor

__all__ = [
    "cholesky",
    "cholesky_ex",
    "cond",
    "cross",
    "det",
    "diagonal",
    "eig",
    "eigh",
    "eigvals",
    "eigvalsh",
    "householder_product",
    "inv",
    "inv_ex",
    "ldl_factor",
    "ldl_factor_ex",
    "ldl_solve",
    "lstsq",
    "lu",
    "lu_factor",
    "lu_factor_ex",
    "lu_solve",
    "matmul",
    "matrix_exp",
    "matrix_norm",
    "matrix_power",
    "matrix_rank",
    "multi_dot",
    "norm",
    "pinv",
    "qr",
    "slogdet",
    "solve",
    "solve_ex",
    "solve_triangular",
    "svd",
    "svdvals",
    "tensorinv",
    "tensorsolve",
    "vander",
    "vecdot",
    "vector_norm",
]

inv = decomp.inverse
det = decomp.det
slogdet = decomp.slogdet
matrix_exp = decomp.matrix_exp
matrix_power = decomp.matrix_power
qr = decomp2.linalg_qr
svd = decomp2.linalg_svd
svdvals = decomp2.svdvals
pinv = decomp2.pinv
lstsq = decomp2.lstsq
lu_factor = decomp2.lu_factor
lu_factor_ex = decomp2.lu_factor_ex
lu = decomp2.linalg_lu
lu_solve = decomp2.linalg_lu_solve


def _result(name: str, fields: tuple[str, ...]):
    """A tuple type with named fields, as ``torch.return_types.<name>``."""

    def new(cls, *values):
        return tuple.__new__(cls, values)

    namespace = {"__new__": new, "__slots__": ()}
    for i, f in enumerate(fields):
        namespace[f] = property(lambda self, i=i: self[i])
    return type(name, (tuple,), namespace)


_Eigh = _result("linalg_eigh", ("eigenvalues", "eigenvectors"))
_CholeskyEx = _result("linalg_cholesky_ex", ("L", "info"))
_InvEx = _result("linalg_inv_ex", ("inverse", "info"))


def cholesky(A: Tensor, *, upper: bool = False) -> Tensor:
    """The Cholesky factor ``L`` of each symmetric positive-definite matrix (``A = L L^T``);
    ``upper=True`` returns ``L^T``."""
    return decomp.cholesky_factor(A, upper)


def cholesky_ex(A: Tensor, *, upper: bool = False, check_errors: bool = False):
    """``(L, info)`` with ``info`` 0 where the factorization succeeded; a matrix that is not
    positive-definite gives nan in ``L`` and ``info`` > 0 (the order of the failing minor)."""
    L = decomp.cholesky_factor(A, upper)
    bad = (L != L).any(dim=-1).any(dim=-1)
    info = bad.to(as_dtype("int32"))
    if check_errors and bool(bad.any()):
        raise RuntimeError(
            "linalg.cholesky_ex: The factorization could not be completed because "
            "the input is not positive-definite."
        )
    return _CholeskyEx(L, info)


def inv_ex(A: Tensor, *, check_errors: bool = False):
    """``(inverse, info)``; ``info`` is 0 where the inverse is finite."""
    inverse = decomp.inverse(A)
    bad = ~((inverse == inverse) & (inverse.abs() < math.inf)).all(dim=-1).all(dim=-1)
    if check_errors and bool(bad.any()):
        raise RuntimeError(
            "linalg.inv_ex: The diagonal element 1 is zero, the inversion could "
            "not be completed because the input matrix is singular."
        )
    return _InvEx(inverse, bad.to(as_dtype("int32")))


def _is_vector_rhs(A: Tensor, B: Tensor) -> bool:
    # PyTorch: B is a batch of vectors when it is 1-D or has A's batch shape plus one dimension.
    return B.ndim == 1 or (B.ndim == A.ndim - 1 and tuple(B.shape) == tuple(A.shape[:-1]))


def solve(A: Tensor, B: Tensor, *, left: bool = True) -> Tensor:
    """The solution ``X`` of ``A X = B`` (``left=False``: ``X A = B``) for square invertible
    ``A``; ``B`` may be a batch of vectors or of matrices, batch dimensions broadcast."""
    _square("solve", A)
    vector = _is_vector_rhs(A, B)
    b = B.unsqueeze(-1) if vector else B
    if left:
        x = _solve(A, b)
    else:
        x = _solve(A.transpose(-2, -1), b.transpose(-2, -1)).transpose(-2, -1)
    return x.squeeze(-1) if vector else x


def solve_triangular(
    A: Tensor, B: Tensor, *, upper: bool, left: bool = True, unitriangular: bool = False
) -> Tensor:
    """The solution of ``A X = B`` (``left=False``: ``X A = B``) for triangular ``A``; only the
    triangle named by ``upper`` is read (and its diagonal taken as ones when ``unitriangular``)."""
    _square("solve_triangular", A)
    return _solve_triangular(A, B, upper=upper, left=left, unitriangular=unitriangular)


def eigh(A: Tensor, UPLO: str = "L"):
    """``(eigenvalues, eigenvectors)`` of each symmetric matrix, eigenvalues ascending. The
    eigenvectors' signs are whatever LAPACK returns (as in PyTorch, a loss should not depend on
    them); the gradient is inf/nan where eigenvalues repeat."""
    _square("eigh", A)
    if UPLO not in ("L", "U"):
        raise RuntimeError(f"Expected UPLO argument to be 'L' or 'U', but got {UPLO}")
    # LAPACK reads one triangle: the values come from that triangle, mirrored; the gradient goes
    # straight through to A, which is PyTorch's rule (its formula assumes a symmetric A).
    tri = A.tril() if UPLO == "L" else A.triu()
    mirrored = tri + tri.mT - tri.diagonal(dim1=-2, dim2=-1).diag_embed()
    packed = _eigh(A + (mirrored - A).detach(), upper=UPLO == "U")
    return _Eigh(packed[..., 0, :], packed[..., 1:, :])


def eigvalsh(A: Tensor, UPLO: str = "L") -> Tensor:
    """The eigenvalues of each symmetric matrix, ascending."""
    return eigh(A, UPLO).eigenvalues


def multi_dot(tensors: Sequence[Tensor]) -> Tensor:
    """``tensors[0] @ tensors[1] @ ...``; the first may be 1-D (a row), the last 1-D (a column)."""
    if len(tensors) < 2:
        raise RuntimeError("multi_dot(): expected at least 2 tensors but got " + str(len(tensors)))
    first, last = tensors[0], tensors[-1]
    mats = [first.unsqueeze(0) if first.ndim == 1 else first, *tensors[1:-1]]
    mats.append(last.unsqueeze(-1) if last.ndim == 1 else last)
    for i, m in enumerate(mats):
        if m.ndim != 2:
            raise RuntimeError(f"multi_dot(): tensor {i} must be 2D but got {m.ndim}D")
    out = mats[0]
    for m in mats[1:]:
        out = matmul(out, m)
    if first.ndim == 1:
        out = out.squeeze(0)
    if last.ndim == 1:
        out = out.squeeze(-1)
    return out


@numpy_keepdims
def vector_norm(
    x: Tensor, ord: float = 2, dim=None, keepdim: bool = False, *, dtype=None
) -> Tensor:
    """``(sum |x|^ord)^(1/ord)`` over ``dim`` (all dimensions when None); ``ord`` inf/-inf are the
    largest/smallest absolute value, ``ord=0`` counts non-zeros."""
    if dtype is not None:
        x = x.to(dtype)
    if not x.dtype.is_floating_point:
        raise RuntimeError(
            f"linalg.vector_norm: Expected a floating point or complex tensor as input. Got "
            f"{x.dtype.name.capitalize()}"
        )
    dims = tuple(range(x.ndim)) if dim is None else dim
    a = x.abs()
    if ord == math.inf:
        return amax(a, dim=dims, keepdim=keepdim)
    if ord == -math.inf:
        return amin(a, dim=dims, keepdim=keepdim)
    if ord == 0:
        return _sum((a != 0).to(x.dtype), dim=dims, keepdim=keepdim)
    if ord == 2:
        return x.norm(2, dim=dims, keepdim=keepdim)
    if ord == 1:
        return _sum(a, dim=dims, keepdim=keepdim)
    return _sum(a.pow(ord), dim=dims, keepdim=keepdim).pow(1.0 / ord)


@numpy_keepdims
def matrix_norm(A: Tensor, ord="fro", dim=(-2, -1), keepdim: bool = False, *, dtype=None) -> Tensor:
    """The Frobenius norm (``'fro'``), the nuclear norm (``'nuc'``, the sum of the singular
    values), the spectral norms ``2``, ``-2`` (largest/smallest singular value) or the induced
    norms ``1``, ``-1`` (largest/smallest column sum of ``|A|``) and ``inf``, ``-inf`` (row sums)
    of the matrices over ``dim``."""
    if A.ndim < 2:
        raise RuntimeError(
            "linalg.matrix_norm: The input tensor A must have at least 2 dimensions."
        )
    if dtype is not None:
        A = A.to(dtype)
    d0, d1 = (d % A.ndim for d in dim)
    if ord == "fro":
        return vector_norm(A, 2, dim=(d0, d1), keepdim=keepdim)
    if ord in ("nuc", 2, -2):
        s = svdvals(A.movedim((d0, d1), (-2, -1)))
        out = _sum(s, dim=-1) if ord == "nuc" else (amax if ord == 2 else amin)(s, dim=-1)
        return out.unsqueeze(min(d0, d1)).unsqueeze(max(d0, d1)) if keepdim else out
    if ord in (1, -1, math.inf, -math.inf):
        over, then = (d0, d1) if ord in (1, -1) else (d1, d0)
        sums = _sum(A.abs(), dim=over, keepdim=True)
        pick = amax if ord in (1, math.inf) else amin
        out = pick(sums, dim=then, keepdim=True)
        return out if keepdim else out.squeeze(max(d0, d1)).squeeze(min(d0, d1))
    raise RuntimeError(f"linalg.matrix_norm: Order {ord} not supported.")


@numpy_keepdims
def norm(A: Tensor, ord=None, dim=None, keepdim: bool = False, *, dtype=None) -> Tensor:
    """``vector_norm`` when ``dim`` is an int or ``A`` is 1-D (or ``ord`` is None), else
    ``matrix_norm`` over the two dimensions."""
    if isinstance(dim, int):
        dim = (dim,)
    if ord is None:
        if dim is None or len(dim) == 1:
            return vector_norm(A, 2, dim, keepdim, dtype=dtype)
        return matrix_norm(A, "fro", dim, keepdim, dtype=dtype)
    if dim is not None and len(dim) == 1 or (dim is None and A.ndim == 1):
        return vector_norm(A, ord, dim, keepdim, dtype=dtype)
    if dim is None and A.ndim != 2:
        raise RuntimeError(
            f"linalg.norm: If dim is not specified but ord is, the input must be 1D or 2D. Got "
            f"{A.ndim}D."
        )
    return matrix_norm(A, ord, dim if dim is not None else (-2, -1), keepdim, dtype=dtype)


_SolveEx = _result("linalg_solve_ex", ("result", "info"))


def solve_ex(A: Tensor, B: Tensor, *, left: bool = True, check_errors: bool = False):
    """``(result, info)``: ``solve``'s result and LAPACK's ``info`` of the LU factorization of
    ``A`` (0, or the 1-based position of the first zero pivot of a singular matrix)."""
    _square("solve_ex", A)
    info = decomp2.lu_factor_ex(A.detach()).info
    if check_errors and bool((info > 0).any()):
        raise RuntimeError(
            "torch.linalg.solve_ex: The solver failed because the input matrix is singular."
        )
    return _SolveEx(solve(A, B, left=left), info)


def _singular_values_for_rank(A: Tensor, hermitian: bool) -> Tensor:
    if hermitian:
        # PyTorch (LAPACK) reads only the lower triangle: the symmetric matrix it describes.
        a = A.detach()
        return eigvalsh(a.tril() + a.tril(-1).mT).abs()
    return svdvals(A.detach())


def matrix_rank(A: Tensor, tol=None, hermitian: bool = False, *, atol=None, rtol=None) -> Tensor:
    """The number of singular values (``hermitian``: absolute eigenvalues) above
    ``max(atol, rtol * s_max)``, as int64; the tolerances default as in ``pinv``. ``tol`` is
    PyTorch's older form of ``atol`` (with ``rtol = 0``)."""
    if A.ndim < 2:
        raise RuntimeError(
            "torch.linalg.matrix_rank: The input tensor input must have at least 2 dimensions."
        )
    if tol is not None:
        if atol is not None or rtol is not None:
            raise TypeError("linalg.matrix_rank: pass either tol or atol/rtol, not both")
        atol, rtol = tol, 0.0
    atol, rtol = decomp2._tolerances(A, atol, rtol, "torch.linalg.matrix_rank")
    s = _singular_values_for_rank(A, hermitian)
    smax = amax(s, dim=-1, keepdim=True) if s.shape[-1] else s.sum(-1, keepdim=True)
    atol, rtol = (t.unsqueeze(-1).to(s.dtype) if isinstance(t, Tensor) else t for t in (atol, rtol))
    lim = smax * rtol
    cutoff = lim.maximum(atol) if isinstance(atol, Tensor) else lim.clamp_min(atol)
    return _sum((s > cutoff).to(as_dtype("int64")), dim=-1)


def cond(A: Tensor, p=None) -> Tensor:
    """The condition number of each matrix in the norm ``p``: ``None``/``2`` (largest over
    smallest singular value; any shape), ``-2`` (its reciprocal), or ``'fro'``, ``'nuc'``,
    ``1``, ``-1``, ``inf``, ``-inf`` (``norm(A) * norm(A^-1)``, square invertible matrices;
    inf for a singular one, as in PyTorch)."""
    if A.ndim < 2:
        raise RuntimeError("linalg.cond: The input tensor A must have at least 2 dimensions.")
    if p is None or p in (2, -2):
        s = svdvals(A)
        hi, lo = s[..., 0], s[..., -1]
        return lo / hi if p == -2 else hi / lo
    if p not in ("fro", "nuc", 1, -1, math.inf, -math.inf):
        raise RuntimeError(f"linalg.cond got an invalid norm type: {p}")
    _square("cond", A)
    info = decomp2.lu_factor_ex(A.detach()).info
    value = matrix_norm(A, p) * matrix_norm(decomp.inverse(A), p)
    return value.where(info == 0, math.inf)


def vecdot(x: Tensor, y: Tensor, *, dim: int = -1) -> Tensor:
    """``sum(x * y, dim)``: the dot products of the vectors along ``dim`` (batch dimensions
    broadcast)."""
    if x.dtype is not y.dtype:
        raise RuntimeError(
            "linalg.vecdot: Expected x and y to have the same dtype, but found x of type "
            f"{x.dtype.name.capitalize()} and y of type {y.dtype.name.capitalize()} instead."
        )
    return _sum(x * y, dim=dim)


def diagonal(A: Tensor, *, offset: int = 0, dim1: int = -2, dim2: int = -1) -> Tensor:
    """``torch.diagonal`` with the last two dimensions as defaults."""
    return _diagonal(A, offset, dim1, dim2)


def vander(x: Tensor, *, N: int | None = None) -> Tensor:
    """The Vandermonde matrix of ``x`` (``*, n`` -> ``*, n, N``): columns ``x**0, x**1, ...,
    x**(N-1)``, built as a cumulative product (PyTorch's construction)."""
    if x.ndim < 1:
        raise RuntimeError("x must be at least 1-dimensional.")
    n = x.shape[-1] if N is None else N
    if n <= 1:
        raise RuntimeError("N must be greater than 1.")
    ones = x.new_ones((*x.shape, 1))
    rest = x.unsqueeze(-1).expand(*x.shape, n - 1)
    return cat([ones, rest], dim=-1).cumprod(-1)


def tensorinv(A: Tensor, ind: int = 2) -> Tensor:
    """The inverse of ``A`` for ``tensordot(..., dims=ind)``: ``A`` reshaped to a square matrix
    ``prod(shape[:ind]) x prod(shape[ind:])``, inverted, reshaped to ``shape[ind:] +
    shape[:ind]``."""
    if ind <= 0:
        raise RuntimeError(f"Expected a strictly positive integer for 'ind', but got {ind}")
    head, tail = tuple(A.shape[:ind]), tuple(A.shape[ind:])
    if math.prod(head) != math.prod(tail):
        raise RuntimeError(
            "Expected self to satisfy the requirement prod(self.shape[ind:]) == "
            f"prod(self.shape[:ind]), but got {math.prod(tail)} != {math.prod(head)}"
        )
    return inv(A.reshape(math.prod(head), math.prod(tail))).reshape(*tail, *head)


def tensorsolve(A: Tensor, B: Tensor, dims=None) -> Tensor:
    """The ``X`` with ``tensordot(A, X, dims=X.ndim) == B``; ``dims`` are dimensions of ``A``
    moved to the end first."""
    if dims is not None:
        dims = tuple(dims)
        A = A.movedim(dims, tuple(range(A.ndim - len(dims), A.ndim)))
    rest = tuple(A.shape[B.ndim :])
    lead = math.prod(A.shape[: B.ndim])
    if math.prod(rest) != lead:
        raise RuntimeError(
            "Expected self to satisfy the requirement prod(self.shape[other.ndim:]) == "
            f"prod(self.shape[:other.ndim]), but got {math.prod(rest)} != {lead}"
        )
    x = solve(A.reshape(lead, math.prod(rest)), B.reshape(lead))
    return x.reshape(*rest)


householder_product = decomp2.householder_product


def _ldl_refused(name: str):
    return NotImplementedError(
        f"linalg.{name}: the LDL^T (Bunch-Kaufman) factorization is not implemented in "
        "tracegrad; use linalg.cholesky / cholesky_solve for symmetric positive-definite "
        "matrices, or linalg.lu_factor / lu_solve (or linalg.solve) for other symmetric ones"
    )


def ldl_factor(A: Tensor, *, hermitian: bool = False):
    """Not implemented: raises ``NotImplementedError`` naming the alternatives (``cholesky`` for
    positive-definite matrices, ``lu_factor``/``lu_solve`` otherwise)."""
    raise _ldl_refused("ldl_factor")


def ldl_factor_ex(A: Tensor, *, hermitian: bool = False, check_errors: bool = False):
    """Not implemented: raises ``NotImplementedError`` (see ``ldl_factor``)."""
    raise _ldl_refused("ldl_factor_ex")


def ldl_solve(LD: Tensor, pivots: Tensor, B: Tensor, *, hermitian: bool = False):
    """Not implemented: raises ``NotImplementedError`` (see ``ldl_factor``)."""
    raise _ldl_refused("ldl_solve")


_Eig = _result("linalg_eig", ("eigenvalues", "eigenvectors"))


def _eig_check(name: str, A: Tensor) -> None:
    """PyTorch's errors for ``linalg.eig``/``eigvals`` inputs, and the device where JAX has no
    general eigendecomposition."""
    _square_batches(name, A)
    if not (A.dtype.is_floating_point or A.dtype.is_complex):
        raise RuntimeError(f"Unknown Complex ScalarType for {scalar_type_name(A.dtype)}")
    if A.dtype.name in ("float16", "bfloat16"):
        raise NotImplementedError(
            f"\"linalg_eig_out_cpu\" not implemented for '{scalar_type_name(A.dtype)}'"
        )


def _eig_on_device(name: str, op, A: Tensor) -> Tensor:
    """Run ``op`` on ``A``; on an accelerator where JAX cannot lower the general eigensolver, a
    ``NotImplementedError`` naming the device and the way out (the CPU)."""
    if A.device.type == "cpu":
        return op(A)
    try:
        return op(A)
    except (NotImplementedError, RuntimeError, ValueError) as e:
        raise NotImplementedError(
            f"linalg.{name}: the eigendecomposition of a general matrix is not available on "
            f"device {A.device} in this JAX build ({type(e).__name__}: {e}); compute it on the "
            f"CPU: torch.linalg.{name}(A.cpu())"
        ) from e


def eig(A: Tensor):
    """``(eigenvalues, eigenvectors)`` of each general square matrix, both complex (complex64 for
    float32 input, complex128 for float64), as LAPACK's ``geev`` returns them: eigenvalues in no
    particular order, each eigenvector of unit norm with its largest component real. Eigenvectors
    are defined only up to a phase, so a loss must not depend on it (a gradient of one that does
    raises ``RuntimeError``, as in PyTorch); repeated eigenvalues give inf/nan gradients."""
    _eig_check("eig", A)
    packed = _eig_on_device("eig", _eig_ops._eig, A)
    return _Eig(packed[..., 0, :], packed[..., 1:, :])


def eigvals(A: Tensor) -> Tensor:
    """The eigenvalues of each general square matrix, complex (complex64 for float32 input,
    complex128 for float64), in LAPACK's order (that of ``eig``). With a gradient, the
    eigenvectors are computed too (the rule needs them), as in PyTorch."""
    _eig_check("eigvals", A)
    vectors = A.requires_grad and is_grad_enabled()
    return _eig_on_device("eigvals", functools.partial(_eig_ops._eigvals, vectors=vectors), A)


# PyTorch's ``out=`` on every torch.linalg function that takes it (see ops/out.py): the result
# dtype must match ``out``'s, as for PyTorch's linalg kernels.
_OUT_FUNCTIONS = dict.fromkeys(
    "cholesky cholesky_ex cond cross det eig eigh eigvals eigvalsh householder_product inv inv_ex "
    "ldl_factor ldl_factor_ex ldl_solve lu lu_factor lu_factor_ex lu_solve matmul matrix_norm "
    "matrix_power matrix_rank multi_dot norm pinv qr slogdet solve solve_ex solve_triangular svd "
    "svdvals tensorinv tensorsolve vecdot vector_norm".split(),
    _out.SAME,
)
_out.install(globals(), _OUT_FUNCTIONS)
