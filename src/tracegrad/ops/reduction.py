"""Reductions over dimensions: ``sum``, ``mean``, ... (``dim`` an int or tuple, ``keepdim``)."""

from __future__ import annotations

import jax.numpy as jnp

from .._dtype import as_dtype
from ..tensor import Tensor, _wrap_dim
from .registry import defop, tensor_method

__all__ = ["sum", "mean", "sum_to_size"]


def _dims(dim, ndim: int) -> tuple | None:
    """Normalise ``dim`` (None, int, or sequence) to a sorted tuple of non-negative axes or None."""
    if dim is None:
        return None
    if isinstance(dim, int):
        dim = (dim,)
    axes = tuple(sorted({_wrap_dim(d, ndim) for d in dim}))
    return axes


def _restore(g: Tensor, shape: tuple, dim, keepdim: bool) -> Tensor:
    """Broadcast a reduction's cotangent back to the input ``shape``."""
    if dim is None:
        dim = tuple(range(len(shape)))
    if not keepdim:
        for d in dim:
            g = g.unsqueeze(d)
    return g.expand(shape)


# ------------------------------------------------------------------------------------------- sum
@defop(lambda p: "SumBackward0" if p["dim"] is None else "SumBackward1", saves=())
def _sum(a, *, dim, keepdim, dtype):
    return jnp.sum(a, axis=dim, keepdims=keepdim, dtype=dtype)


@_sum.vjp
def _(g, out, a, *, dim, keepdim, dtype):
    return (_restore(g, a.shape, dim, keepdim),)


@tensor_method
def sum(input: Tensor, dim=None, keepdim: bool = False, *, dtype=None) -> Tensor:  # noqa: A001
    """Sum over ``dim`` (all dimensions when None). Integer and bool inputs sum as int64."""
    if dtype is None and not input.dtype.is_floating_point:
        dtype = "int64"
    return _sum(
        input,
        dim=_dims(dim, input.ndim),
        keepdim=keepdim,
        dtype=None if dtype is None else as_dtype(dtype).np,
    )


# ------------------------------------------------------------------------------------------ mean
@defop(lambda p: "MeanBackward0" if p["dim"] is None else "MeanBackward1", saves=())
def _mean(a, *, dim, keepdim):
    return jnp.mean(a, axis=dim, keepdims=keepdim)


@_mean.vjp
def _(g, out, a, *, dim, keepdim):
    n = a.numel() if dim is None else _count(a.shape, dim)
    return (_restore(g, a.shape, dim, keepdim) / n,)


def _count(shape, dim) -> int:
    n = 1
    for d in dim:
        n *= shape[d]
    return n


@tensor_method
def mean(input: Tensor, dim=None, keepdim: bool = False, *, dtype=None) -> Tensor:
    """Mean over ``dim`` (all dimensions when None). Needs a floating input, as in PyTorch."""
    if dtype is not None:
        input = input.to(dtype)
    if not input.dtype.is_floating_point:
        raise RuntimeError(
            "mean(): could not infer output dtype. Input dtype must be either a floating point or "
            f"complex dtype. Got: {input.dtype}"
        )
    return _mean(input, dim=_dims(dim, input.ndim), keepdim=keepdim)


# ----------------------------------------------------------------------------------- sum_to_size
# The inverse of broadcasting, used by the engine to reduce a gradient to its input's shape:
# sum the leading dimensions broadcasting added and the size-1 dimensions it stretched.
@defop("SumToSizeBackward0", saves=())
def _sum_to_size(a, *, shape):
    lead = a.ndim - len(shape)
    axes = tuple(range(lead)) + tuple(
        lead + i for i, s in enumerate(shape) if s == 1 and a.shape[lead + i] != 1
    )
    r = jnp.sum(a, axis=axes, keepdims=True) if axes else a
    return r.reshape(shape)


@_sum_to_size.vjp
def _(g, out, a, *, shape):
    return (g.expand(a.shape),)


@tensor_method
def sum_to_size(input: Tensor, *size) -> Tensor:
    """Sum ``input`` down to ``size`` (a shape it broadcasts from)."""
    from ..tensor import _size_args

    shape = _size_args(size)
    if tuple(input.shape) == shape:
        return input
    return _sum_to_size(input, shape=shape)
