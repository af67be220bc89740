"""``tracegrad.linalg``, as ``torch.linalg``: inverses, determinants, solves, Cholesky, the
symmetric eigendecomposition, the matrix exponential and powers, and norms.

The decompositions are ops with hand-written VJPs (``ops/decomp.py``); the rest is composed from
them and from tracegrad's other ops, so everything here is differentiable (again, under
``create_graph=True``). ``svd``, ``qr``, ``eig``, ``lstsq``, ``pinv``, ``lu*`` and the norms that
need singular values (``ord=2``, ``-2``, ``'nuc'``) raise ``NotImplementedError`` for now.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from ._dtype import as_dtype
from .ops import decomp
from .ops.decomp import _eigh, _solve, _solve_triangular, _square
from .ops.linalg import matmul
from .ops.products import linalg_cross as cross
from .ops.reduction import amax, amin
from .ops.reduction import sum as _sum
from .tensor import Tensor

__all__ = [
    "cholesky",
    "cholesky_ex",
    "cross",
    "det",
    "eigh",
    "eigvalsh",
    "inv",
    "inv_ex",
    "matmul",
    "matrix_exp",
    "matrix_norm",
    "matrix_power",
    "multi_dot",
    "norm",
    "slogdet",
    "solve",
    "solve_triangular",
    "vector_norm",
]

inv = decomp.inverse
det = decomp.det
slogdet = decomp.slogdet
matrix_exp = decomp.matrix_exp
matrix_power = decomp.matrix_power


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
    packed = _eigh(A, upper=UPLO == "U")
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


def matrix_norm(A: Tensor, ord="fro", dim=(-2, -1), keepdim: bool = False, *, dtype=None) -> Tensor:
    """The Frobenius norm (``'fro'``) or the induced norms ``1``, ``-1`` (largest/smallest
    column sum of ``|A|``) and ``inf``, ``-inf`` (row sums) of the matrices over ``dim``."""
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
        raise NotImplementedError(
            f"linalg.matrix_norm(ord={ord!r}) needs singular values (linalg.svd), which tracegrad "
            "does not have yet; ord='fro', 1, -1, inf or -inf work"
        )
    if ord in (1, -1, math.inf, -math.inf):
        over, then = (d0, d1) if ord in (1, -1) else (d1, d0)
        sums = _sum(A.abs(), dim=over, keepdim=True)
        pick = amax if ord in (1, math.inf) else amin
        out = pick(sums, dim=then, keepdim=True)
        return out if keepdim else out.squeeze(max(d0, d1)).squeeze(min(d0, d1))
    raise RuntimeError(f"linalg.matrix_norm: Order {ord} not supported.")


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
