"""More products and the distances: ``cross`` (and ``linalg.cross``), ``addmv``, ``addr``,
``addbmm``, ``inner``, ``vdot``, ``trace``, ``chain_matmul``, ``dist``, ``renorm``, ``cdist``,
``pdist``, ``cosine_similarity`` and ``pairwise_distance``.

The cross product and the three ``add*`` products are ops with hand-written rules (each gradient is
again a product, so gradients of gradients work); the rest are composed from recorded ops, whose
rules give their gradients. The distances follow PyTorch's formulas step by step (its ``eps``
placements, its matrix-product path for large Euclidean ``cdist``), so values agree to rounding.
"""

from __future__ import annotations

import warnings

import jax.numpy as jnp
import numpy as np

from .._dtype import promote_types, scalar_type_name
from .._surface import expose, numpy_keepdims
from ..autograd.grad_mode import no_grad
from ..creation import ones
from ..tensor import Tensor, _wrap_dim, tensor
from .broadcast import _infer_size
from .linalg import _beta_plus_alpha, _bmm, _mv, _shape_str, _times, dot, matmul, mm, tensordot
from .registry import autocast_entry, defop, needs_grad
from .shape import _expanded_shape, cat

__all__ = [
    "cross",
    "addmv",
    "addr",
    "addbmm",
    "inner",
    "vdot",
    "trace",
    "chain_matmul",
    "dist",
    "renorm",
    "cdist",
    "pdist",
    "cosine_similarity",
    "pairwise_distance",
]


# ----------------------------------------------------------------------------------------- cross
# d<g, a x b>/da = b x g and d<g, a x b>/db = g x a (the triple product is cyclic). Operands of a
# broadcast shape get cotangents of the result's shape; the engine sums them back.
@defop("LinalgCrossBackward0")
def _cross(a, b, *, dim):
    return jnp.cross(a, b, axis=dim)


@_cross.vjp
def _(g, out, a, b, *, dim):
    return (
        _cross(b, g, dim=dim) if needs_grad(a) else None,
        _cross(g, a, dim=dim) if needs_grad(b) else None,
    )


def linalg_cross(input: Tensor, other: Tensor, *, dim: int = -1) -> Tensor:
    """The cross product of the 3-vectors along ``dim`` of ``input`` and ``other``, as
    ``torch.linalg.cross``: both must have the same number of dimensions and size 3 along
    ``dim``; the other dimensions broadcast."""
    if input.ndim != other.ndim:
        raise RuntimeError("linalg.cross: inputs must have the same number of dimensions.")
    d = _wrap_dim(dim, input.ndim)
    if input.shape[d] != 3 or other.shape[d] != 3:
        raise RuntimeError(
            f"linalg.cross: inputs dimension {dim} must have length 3. Got {input.shape[d]} and "
            f"{other.shape[d]}"
        )
    if input.dtype != other.dtype:
        raise RuntimeError(
            f"expected scalar type {scalar_type_name(input.dtype)} but found "
            f"{scalar_type_name(other.dtype)}"
        )
    return _cross(input, other, dim=d)


@expose
def cross(input: Tensor, other: Tensor, dim: int | None = None) -> Tensor:
    """The cross product along ``dim``; without ``dim``, along the first dimension of size 3 of
    ``input``, with PyTorch's deprecation warning (``torch.linalg.cross`` defaults to ``-1``)."""
    if dim is None:
        warnings.warn(
            "Using torch.cross without specifying the dim arg is deprecated.\nPlease either pass "
            "the dim explicitly or simply use torch.linalg.cross.\nThe default value of dim will "
            "change to agree with that of linalg.cross in a future release.",
            UserWarning,
            stacklevel=2,
        )
        dim = next((i for i, s in enumerate(input.shape) if s == 3), None)
        if dim is None:
            raise RuntimeError("no dimension of size 3 in input")
    return linalg_cross(input, other, dim=dim)


# ---------------------------------------------------------------------------- addmv, addr, addbmm
def _check_scalars(input: Tensor, beta, alpha) -> None:
    """PyTorch refuses float ``beta``/``alpha`` for integer tensors (the product is integral)."""
    if input.dtype.is_floating_point:
        return
    for name, v in (("beta", beta), ("alpha", alpha)):
        if isinstance(v, float):
            raise RuntimeError(
                f"For integral input tensors, argument {name} must not be a floating point number."
            )


# beta * input + alpha * (mat @ vec); with beta == 0 the input is ignored (its NaNs too).
@defop("AddmvBackward0", saves=(1, 2))  # the addend's gradient needs only its shape
def _addmv(c, m, v, *, beta, alpha):
    return _beta_plus_alpha(c, jnp.matmul(m, v), beta, alpha)


@_addmv.vjp
def _(g, out, c, m, v, *, beta, alpha):
    gr = _times(g, alpha)
    return (
        _times(g, beta) if needs_grad(c) else None,
        gr.unsqueeze(1) * v if needs_grad(m) else None,  # the outer product (alpha g) v^T
        _mv(m.t(), gr) if needs_grad(v) else None,
    )


@expose(inplace=True)
def addmv(input: Tensor, mat: Tensor, vec: Tensor, *, beta=1, alpha=1) -> Tensor:
    """``beta * input + alpha * (mat @ vec)`` for a 2-D ``mat`` and 1-D ``vec``; ``input``
    broadcasts to the product's shape."""
    if mat.ndim != 2 or vec.ndim != 1 or input.ndim > 1:
        raise RuntimeError(
            f"vector + matrix @ vector expected, got {input.ndim}, {mat.ndim}, {vec.ndim}"
        )
    n = mat.shape[0]
    if mat.shape[1] != vec.shape[0] or (input.ndim == 1 and input.shape[0] not in (1, n)):
        got = input.shape[0] if input.ndim else 1
        raise RuntimeError(
            f"size mismatch, got input ({got}), mat ({_shape_str(mat.shape)}), vec ({vec.shape[0]})"
        )
    if not input.dtype == mat.dtype == vec.dtype:
        names = ", ".join(scalar_type_name(t.dtype) for t in (input, mat))
        raise RuntimeError(
            f"addmv input tensors must have the same dtype, but got {names}, and "
            f"{scalar_type_name(vec.dtype)}"
        )
    _check_scalars(input, beta, alpha)
    return _addmv(input, mat, vec, beta=beta, alpha=alpha)


@defop("AddrBackward0", saves=(1, 2))
def _addr(c, u, v, *, beta, alpha):
    return _beta_plus_alpha(c, jnp.outer(u, v), beta, alpha)


@_addr.vjp
def _(g, out, c, u, v, *, beta, alpha):
    gr = _times(g, alpha)
    return (
        _times(g, beta) if needs_grad(c) else None,
        _mv(gr, v) if needs_grad(u) else None,
        _mv(gr.t(), u) if needs_grad(v) else None,
    )


@expose(inplace=True)
def addr(input: Tensor, vec1: Tensor, vec2: Tensor, *, beta=1, alpha=1) -> Tensor:
    """``beta * input + alpha * outer(vec1, vec2)``; ``input`` broadcasts to ``(n, m)`` and the
    dtypes are promoted, as in PyTorch."""
    for name, v in (("vec1", vec1), ("vec2", vec2)):
        if v.ndim != 1:
            raise RuntimeError(f"addr: Expected 1-D argument {name}, but got {v.ndim}-D")
    _expanded_shape(input, (vec1.shape[0], vec2.shape[0]))  # PyTorch's expand error
    if not input.dtype == vec1.dtype == vec2.dtype:
        dtype = promote_types(promote_types(input.dtype, vec1.dtype), vec2.dtype)
        input, vec1, vec2 = (t.to(dtype) for t in (input, vec1, vec2))
    _check_scalars(input, beta, alpha)
    return _addr(input, vec1, vec2, beta=beta, alpha=alpha)


# beta * input + alpha * sum_b batch1[b] @ batch2[b]: each batch's factor gets the same cotangent.
@defop("AddbmmBackward0", saves=(1, 2))
def _addbmm(c, a, b, *, beta, alpha):
    return _beta_plus_alpha(c, jnp.einsum("bij,bjk->ik", a, b), beta, alpha)


@_addbmm.vjp
def _(g, out, c, a, b, *, beta, alpha):
    gr = _times(g, alpha).unsqueeze(0)
    n = a.shape[0]
    return (
        _times(g, beta) if needs_grad(c) else None,
        _bmm(gr.expand(n, -1, -1), b.transpose(1, 2)) if needs_grad(a) else None,
        _bmm(a.transpose(1, 2), gr.expand(n, -1, -1)) if needs_grad(b) else None,
    )


@expose(inplace=True)
def addbmm(input: Tensor, batch1: Tensor, batch2: Tensor, *, beta=1, alpha=1) -> Tensor:
    """``beta * input + alpha * sum_b batch1[b] @ batch2[b]`` for 3-D ``batch1``, ``batch2`` (the
    batch products are summed); ``input`` broadcasts to the ``(n, p)`` result."""
    for name, t in (("batch1", batch1), ("batch2", batch2)):
        if t.ndim != 3:
            raise RuntimeError(f"{name} must be a 3D tensor")
    if batch1.shape[0] != batch2.shape[0]:
        raise RuntimeError(
            f"batch1 and batch2 must have same number of batches, got {batch1.shape[0]} and "
            f"{batch2.shape[0]}"
        )
    if batch1.shape[2] != batch2.shape[1]:
        raise RuntimeError(
            f"Incompatible matrix sizes for bmm ({batch1.shape[1]}x{batch1.shape[2]} and "
            f"{batch2.shape[1]}x{batch2.shape[2]})"
        )
    _expanded_shape(input, (batch1.shape[1], batch2.shape[2]))
    for t in (batch1, batch2):
        if t.dtype != input.dtype:
            raise RuntimeError(
                f"self and mat2 must have the same dtype, but got "
                f"{scalar_type_name(input.dtype)} and {scalar_type_name(t.dtype)}"
            )
    _check_scalars(input, beta, alpha)
    return _addbmm(input, batch1, batch2, beta=beta, alpha=alpha)


# --------------------------------------------------------------------- inner, vdot, trace, chain
@expose
def inner(input: Tensor, other: Tensor) -> Tensor:
    """The inner product over the last dimension of both: ``(*a, k) x (*b, k) -> (*a, *b)``; a
    0-d operand multiplies the other."""
    if input.ndim == 0 or other.ndim == 0:
        return input * other
    if input.shape[-1] != other.shape[-1]:
        raise RuntimeError(
            "inner() the last dimension must match on both input tensors but got shapes "
            f"{list(input.shape)} and {list(other.shape)}"
        )
    if input.dtype != other.dtype:
        raise RuntimeError("both inputs should have same dtype")
    if input.ndim == 1 and other.ndim == 1:
        return dot(input, other)
    return tensordot(input, other, dims=([input.ndim - 1], [other.ndim - 1]))


@expose
def vdot(input: Tensor, other: Tensor) -> Tensor:
    """The dot product of two 1-D tensors, conjugating the first (for real tensors, ``dot``)."""
    if input.ndim != 1 or other.ndim != 1:
        raise RuntimeError(f"1D tensors expected, but got {input.ndim}D and {other.ndim}D tensors")
    return dot(input.conj() if input.is_complex() else input, other)


@expose
def trace(input: Tensor) -> Tensor:
    """The sum of the main diagonal of a 2-D tensor (integers sum to int64, as ``sum``)."""
    if input.ndim != 2:
        raise RuntimeError(f"trace: expected a matrix, but got tensor with dim {input.ndim}")
    if input.dtype.name == "bool":
        raise NotImplementedError("\"trace\" not implemented for 'Bool'")
    return input.diagonal().sum()


def chain_matmul(*matrices: Tensor) -> Tensor:
    """The product of the 2-D ``matrices``, left to right (deprecated in PyTorch, with its
    warning: ``torch.linalg.multi_dot`` takes a list)."""
    warnings.warn(
        "torch.chain_matmul is deprecated and will be removed in a future PyTorch release. Use "
        "torch.linalg.multi_dot instead, which accepts a list of two or more tensors rather than "
        "multiple parameters.",
        UserWarning,
        stacklevel=2,
    )
    if len(matrices) == 1 and isinstance(matrices[0], (list, tuple)):
        matrices = tuple(matrices[0])
    if not matrices:
        raise RuntimeError("chain_matmul(): Expected one or more matrices")
    for m in matrices:
        if m.ndim != 2:
            raise RuntimeError(f"Tensor dimension is {m.ndim}, expected 2 instead.")
    if len(matrices) == 1:
        return matrices[0].clone()
    for i in range(len(matrices) - 1):
        a, b = matrices[i], matrices[i + 1]
        if a.shape[1] != b.shape[0]:
            raise RuntimeError(
                f"multi_dot(): tensors {i} and {i + 1} with shapes {list(a.shape)} and "
                f"{list(b.shape)} cannot be multiplied"
            )
    out = matrices[0]
    for m in matrices[1:]:
        out = mm(out, m)
    return out


# ----------------------------------------------------------------------------------- dist, renorm
def _require_float(name: str, x: Tensor) -> None:
    if not x.dtype.is_floating_point:
        raise RuntimeError(
            f"{name}: Expected a floating point or complex tensor as input. Got "
            f"{scalar_type_name(x.dtype)}"
        )


@expose
def dist(input: Tensor, other: Tensor, p: float = 2) -> Tensor:
    """The ``p``-norm of ``input - other`` (broadcast), over all elements."""
    d = input - other
    if not d.dtype.is_floating_point:
        raise RuntimeError(
            "norm(): input dtype should be either floating point or complex. Got "
            f"{scalar_type_name(d.dtype)} instead."
        )
    return d.norm(p)


@expose(inplace=True)
def renorm(input: Tensor, p: float, dim: int, maxnorm: float) -> Tensor:
    """Each slice ``input.select(dim, i)`` whose ``p``-norm exceeds ``maxnorm`` is scaled to norm
    ``maxnorm`` (by ``maxnorm / (norm + 1e-7)``, as PyTorch); the others are unchanged."""
    if maxnorm < 0:
        raise RuntimeError(f"renorm: expected maxnorm to be >= 0 but got {maxnorm:g}")
    if input.ndim <= 1:
        raise RuntimeError(
            f"renorm: input needs at least 2 dimensions, got {input.ndim} dimensions"
        )
    d = _wrap_dim(dim, input.ndim)
    if p <= 0:
        raise RuntimeError("renorm: non-positive-norm not supported")
    _require_float("linalg.vector_norm", input)
    dims = [i for i in range(input.ndim) if i != d]
    norm = input.norm(p, dim=dims, keepdim=True)
    factor = (maxnorm / (norm + 1e-7)).where(norm > maxnorm, 1.0)
    return input * factor.to(input.dtype)


# ---------------------------------------------------------------------------------- cdist, pdist
_COMPUTE_MODES = {
    "use_mm_for_euclid_dist_if_necessary": 0,
    "use_mm_for_euclid_dist": 1,
    "donot_use_mm_for_euclid_dist": 2,
}


def _euclidean_by_mm(x1: Tensor, x2: Tensor) -> Tensor:
    """``sqrt(max(|x|^2 - 2 x.y + |y|^2, 0))`` as one product of padded matrices, PyTorch's
    faster (and rounder) Euclidean path; its gradient is the composition's, as in PyTorch."""
    n1 = x1.pow(2).sum(-1, keepdim=True)
    n2 = x2.pow(2).sum(-1, keepdim=True)
    a = cat([x1 * -2, n1, ones(n1.shape, dtype=n1.dtype)], -1)
    b = cat([x2, ones(n2.shape, dtype=n2.dtype), n2], -1)
    return matmul(a, b.mT).clamp_min(0).sqrt()


def cdist(
    x1: Tensor,
    x2: Tensor,
    p: float = 2.0,
    compute_mode: str = "use_mm_for_euclid_dist_if_necessary",
) -> Tensor:
    """The ``p``-norm distance between each row of ``x1`` ``(*, P, M)`` and each row of ``x2``
    ``(*, R, M)``: ``(*, P, R)``, batch dimensions broadcast. For ``p == 2`` the distances come
    from a matrix product when ``compute_mode`` asks for it (by default when ``P`` or ``R``
    exceeds 25), as PyTorch does."""
    mode = _COMPUTE_MODES.get(compute_mode)
    if mode is None:
        raise ValueError(f"{compute_mode} is not a valid value for compute_mode")
    for name, x in (("X1", x1), ("X2", x2)):
        if x.ndim < 2:
            raise RuntimeError(f"cdist only supports at least 2D tensors, {name} got: {x.ndim}D")
    if x1.shape[-1] != x2.shape[-1]:
        raise RuntimeError(
            f"X1 and X2 must have the same number of columns. X1: {x1.shape[-1]} X2: {x2.shape[-1]}"
        )
    for name, x in (("X1", x1), ("X2", x2)):
        if not x.dtype.is_floating_point:
            raise RuntimeError(
                f"cdist only supports floating-point dtypes, {name} got: "
                f"{scalar_type_name(x.dtype)}"
            )
    if p < 0:
        raise RuntimeError("cdist only supports non-negative p values")
    if x1.dtype != x2.dtype:
        raise RuntimeError(
            f"expected scalar type {scalar_type_name(x1.dtype)} but found "
            f"{scalar_type_name(x2.dtype)}"
        )
    r1, r2 = x1.shape[-2], x2.shape[-2]
    use_mm = p == 2 and (mode == 1 or (mode == 0 and (r1 > 25 or r2 > 25)))
    if use_mm and x1.numel() and x2.numel():
        return _euclidean_by_mm(x1, x2)
    return (x1.unsqueeze(-2) - x2.unsqueeze(-3)).norm(p, dim=-1)


@autocast_entry("pdist")
def pdist(input: Tensor, p: float = 2) -> Tensor:
    """The ``p``-norm distances between the rows of a 2-D ``input``, for each pair ``i < j`` in
    row-major order: ``n (n - 1) / 2`` values (the upper triangle of ``cdist(input, input)``)."""
    if input.ndim != 2:
        raise RuntimeError(f"pdist only supports 2D tensors, got: {input.ndim}D")
    if not input.dtype.is_floating_point:
        raise RuntimeError("pdist only supports floating-point dtypes")
    if p < 0:
        raise RuntimeError("pdist only supports non-negative p values")
    n = input.shape[0]
    i, j = np.triu_indices(n, 1)
    left = input.index_select(0, tensor(i.astype(np.int64)))
    right = input.index_select(0, tensor(j.astype(np.int64)))
    return (left - right).norm(p, dim=-1)


# ------------------------------------------------------------------ cosine similarity, distance
@autocast_entry("cosine_similarity")
def cosine_similarity(x1: Tensor, x2: Tensor, dim: int = 1, eps: float = 1e-8) -> Tensor:
    """``<x1, x2> / (max(|x1|, eps) max(|x2|, eps))`` along ``dim`` (the inputs broadcast).

    As PyTorch, each input is divided by its clamped norm before the product (so the result
    stays in [-1, 1]), and the clamp is invisible to the gradient: it flows through the norm as
    if unclamped."""
    common = promote_types(x1.dtype, x2.dtype)
    if not common.is_floating_point:
        raise RuntimeError(
            "expected common dtype to be floating point, yet common dtype is "
            f"{scalar_type_name(common)}"
        )
    if not x1.dtype.is_floating_point:
        x1 = x1.to(common)
    if not x2.dtype.is_floating_point:
        x2 = x2.to(common)
    shape = _infer_size(tuple(x1.shape), tuple(x2.shape))
    x1, x2 = x1.expand(*shape), x2.expand(*shape)
    n1 = _clamped_norm(x1, dim, eps)
    n2 = _clamped_norm(x2, dim, eps)
    return ((x1 / n1) * (x2 / n2)).sum(dim)


def _clamped_norm(x: Tensor, dim: int, eps: float) -> Tensor:
    """``max(|x|, eps)`` in value with the gradient of ``|x|`` (PyTorch clamps under no_grad)."""
    n = x.norm(2, dim=dim, keepdim=True)
    with no_grad():
        shift = n.clamp_min(eps) - n
    return n + shift


@numpy_keepdims
def pairwise_distance(
    x1: Tensor, x2: Tensor, p: float = 2.0, eps: float = 1e-6, keepdim: bool = False
) -> Tensor:
    """The ``p``-norm of ``x1 - x2 + eps`` over the last dimension (of the broadcast shape), as
    PyTorch computes it (``eps`` added to each difference)."""
    dim = max(x1.ndim, x2.ndim) - 1
    d = x1 - x2 + eps
    if d.ndim == 0:
        return d.abs() if p != 0 else (d != 0).to(d.dtype)
    return d.norm(p, dim=dim, keepdim=keepdim)
