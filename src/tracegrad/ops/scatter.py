"""Writing into a tensor by index: ``index_copy``, ``index_fill``, ``index_reduce``,
``scatter_reduce``, ``masked_scatter``, ``put``, the ``*_scatter`` ops (``select_scatter``,
``slice_scatter``, ``diagonal_scatter``, ``as_strided_scatter``), ``as_strided`` and
``fill_diagonal_``.

Most of them are the indexing ops of ``ops/indexing.py`` with a new key: a write of values at
positions (``index_put``) or a read (``index``), whose rules already scatter or gather the cotangent
back. Only the reductions need an op of their own, ``scatter_reduce``: ``index_reduce`` is the same
reduction with its 1-d index spread over the source's shape.

Tensors here hold contiguous arrays, so ``as_strided`` reads its input as the row-major flat array
PyTorch's contiguous tensors have: each strided position is a flat offset, turned into coordinates
of the input and read (or written) by index. (A PyTorch view that is not contiguous, such as
``x.t()``, has other strides over its base; here every tensor is its own contiguous storage.)
"""

from __future__ import annotations

import math

import jax.numpy as jnp
import numpy as np

from .._dtype import scalar_type_name
from .._surface import expose
from ..tensor import Tensor, _wrap_dim
from .compare import eq
from .elementwise import where
from .indexing import (
    _along,
    _check_range,
    _check_scatter_args,
    _fit_src,
    _gather,
    _index,
    _index_put,
    _int_index,
    _is_tracer,
    _parse,
    _scatter,
    _scatter_add,
    _value_for,
)
from .registry import defop, needs_grad

__all__ = [
    "index_copy",
    "index_fill",
    "index_reduce",
    "scatter_reduce",
    "masked_scatter",
    "put",
    "select_scatter",
    "slice_scatter",
    "diagonal_scatter",
    "as_strided",
    "as_strided_scatter",
]

_REDUCTIONS = ("sum", "prod", "mean", "amax", "amin")


# ---------------------------------------------------------------------------- scatter_reduce
def _identity(reduce: str, dtype):
    """The value a position starts from when ``include_self=False`` (the reduction's identity)."""
    if reduce in ("sum", "mean"):
        return jnp.zeros((), dtype)
    if reduce == "prod":
        return jnp.ones((), dtype)
    if jnp.issubdtype(dtype, jnp.inexact):
        big = jnp.asarray(jnp.inf, dtype)
    else:
        big = jnp.asarray(jnp.iinfo(dtype).max if dtype != jnp.bool_ else True, dtype)
    if reduce == "amin":
        return big
    return -big if jnp.issubdtype(dtype, jnp.inexact) else jnp.asarray(jnp.iinfo(dtype).min, dtype)


# ``unique`` says every position is written at most once. It is only a hint to XLA (the values do
# not depend on it), known when the index is concrete; JAX differentiates a product scatter (the
# test oracle of this op) only under that hint.
@defop(lambda p: p["name"], save_out=True)
def _scatter_reduce(a, index, src, *, dim, reduce, include_self, unique, name):
    a = jnp.asarray(a)
    src = jnp.asarray(src, a.dtype)
    along = _along(index, dim)
    base = a if include_self else a.at[along].set(_identity(reduce, a.dtype))
    at = base.at[along]
    if reduce in ("sum", "mean"):
        out = at.add(src, unique_indices=unique)
    elif reduce == "prod":
        out = at.multiply(src, unique_indices=unique)
    elif reduce == "amax":
        out = at.max(src, unique_indices=unique)
    else:
        out = at.min(src, unique_indices=unique)
    if reduce == "mean":
        count = jnp.zeros(a.shape, a.dtype).at[along].add(jnp.ones((), a.dtype))
        count = count + 1 if include_self else count
        count = jnp.where(count == 0, jnp.ones((), a.dtype), count)
        if jnp.issubdtype(a.dtype, jnp.inexact):
            out = out / count
        else:  # PyTorch floors an integer mean
            out = jnp.floor_divide(out, count)
    return out


@_scatter_reduce.vjp
def _(g, out, a, index, src, *, dim, reduce, include_self, unique, name):
    # PyTorch's rules (scatter_reduce_backward), written in tracegrad ops.
    params = dict(dim=dim, reduce=reduce, include_self=include_self, unique=unique, name=name)
    ga = gs = None
    want_a, want_s = needs_grad(a), needs_grad(src)

    def gather(t):
        return _gather(t, index, dim=dim)

    if reduce == "sum":
        ga = g if want_a else None
        gs = gather(g) if want_s else None
    elif reduce == "mean":
        # Each position's gradient is shared by the N values averaged there (N >= 1).
        n = g.new_ones(tuple(a.shape)) if include_self else g.new_zeros(tuple(a.shape))
        n = _scatter_add(n, index, g.new_ones(tuple(index.shape)), dim=dim)
        n = where(eq(n, 0), 1.0, n)
        ga = g / n if want_a else None
        gs = gather(g) / gather(n) if want_s else None
    elif reduce in ("amax", "amin"):
        # Ties share the gradient evenly: the self value and every src value equal to the result.
        value = gather(out)
        self_is = eq(a, out).to(g.dtype)
        src_is = eq(src, value).to(g.dtype)
        share = g / _scatter_add(self_is, index, src_is, dim=dim)
        ga = self_is * share if want_a else None
        gs = src_is * gather(share) if want_s else None
    else:
        # prod: out / x divides by zero where x is 0, so the products without the zero are
        # recomputed: self's zeros set to 1 (the exclusive product at each position), and each
        # src value that is the only zero of its position set to 1. With two or more zeros at a
        # position every gradient there is 0, which ``out`` (0) gives.
        if want_a:
            self_zero = eq(a, 0)
            masked_self = where(self_zero, 1.0, a)
            ga = g * _scatter_reduce(masked_self, index, src, **params) / masked_self
        if want_s:
            src_zero = eq(src, 0)
            zeros = _scatter_add(g.new_zeros(tuple(a.shape)), index, src_zero.to(g.dtype), dim=dim)
            single = src_zero & eq(gather(zeros), 1)
            masked_src = where(single, 1.0, src)
            alone = gather(g * _scatter_reduce(a, index, masked_src, **params))
            gs = where(single, alone, gather(g * out) / where(src_zero, 1.0, src))
    if ga is not None and not include_self:
        ga = _scatter(ga, index, 0.0, dim=dim)  # a written position forgot self's value
    return ga, None, gs


def _unique_targets(index: Tensor, dim: int) -> bool:
    """Whether ``index`` along ``dim`` sends every element to its own position (concrete index
    only; False when it is traced)."""
    arr = index._storage.array
    if _is_tracer(arr) or arr.size == 0:
        return False
    arr = np.asarray(arr)
    rows = np.moveaxis(arr, dim, -1).reshape(-1, arr.shape[dim])
    return all(len(np.unique(r)) == len(r) for r in rows)


def _check_reduce_dtype(op: str, input: Tensor, src: Tensor) -> None:
    if isinstance(src, Tensor) and src.dtype != input.dtype:
        raise RuntimeError(f"{op}(): Expected self.dtype to be equal to src.dtype")


@expose(inplace=True)
def scatter_reduce(
    input: Tensor, dim: int, index: Tensor, src: Tensor, reduce: str, *, include_self: bool = True
) -> Tensor:
    """``input`` with the values of ``src`` reduced into the positions ``index`` along ``dim``
    (``out[index[i][j]][j] op= src[i][j]`` for ``dim=0``), ``reduce`` one of ``'sum'``, ``'prod'``,
    ``'mean'``, ``'amax'``, ``'amin'``; ``include_self=False`` leaves ``input``'s own values out at
    the positions written. Gradients as PyTorch's: ties of amax/amin share evenly."""
    if reduce not in _REDUCTIONS:
        raise RuntimeError(
            f"reduce argument must be either sum, prod, mean, amax or amin, got {reduce}"
        )
    _check_reduce_dtype("scatter", input, src)
    d = _check_scatter_args("scatter_reduce", input, dim, index, src)
    if index.numel() == 0:
        return input.clone()
    src = _fit_src(src, index)
    if input.ndim == 0:
        return scatter_reduce(
            input.reshape(1), 0, index.reshape(1), src.reshape(1), reduce, include_self=include_self
        ).reshape(())
    unique = reduce == "prod" and _unique_targets(index, d)
    return _scatter_reduce(
        input,
        index,
        src,
        dim=d,
        reduce=reduce,
        include_self=include_self,
        unique=unique,
        name="ScatterReduceBackward0",
    )


def _index_1d(op: str, index: Tensor, input: Tensor, d: int, prefix: bool = True):
    """``index`` as a flat int64 array after PyTorch's checks for the ``index_*`` ops (``prefix``:
    the op's name leads the out-of-bounds message, as it does for all but ``index_fill``)."""
    index = _int_index(index, op)
    if index.ndim > 1:
        raise IndexError(f"{op}(): Index should have dimension 1 or 0 (got {index.ndim})")
    arr = index._storage.array.reshape(-1)
    size = input.shape[d] if input.ndim else 1

    def error(bad: int) -> IndexError:
        lead = f"{op}(): " if prefix else ""
        return IndexError(f"{lead}index {bad} is out of bounds for dimension {d} with size {size}")

    _check_range(arr, 0, size, error)
    return arr.astype(jnp.int64)


def _long_only_error(kind: str, index: Tensor) -> Exception:
    if kind == "index_fill_":
        return IndexError("index_fill_(): Expected dtype int64 for index.")
    return RuntimeError(
        f"{kind}(): Expected a long tensor for index, but got {scalar_type_name(index.dtype)}"
    )


def _check_source(op: str, input: Tensor, d: int, n: int, source: Tensor) -> None:
    if input.ndim and source.ndim and source.shape[d] != n:
        raise IndexError(
            f"{op}(): Number of indices ({n}) should be equal to source.size(dim) "
            f"({source.shape[d]})"
        )
    expected = tuple(n if k == d else s for k, s in enumerate(input.shape))
    if tuple(source.shape) != expected and not (source.ndim == 0 and math.prod(expected) == 1):
        raise RuntimeError(
            "source tensor shape must match self tensor shape, excluding the specified "
            f"dimension. Got self.shape = {list(input.shape)} source.shape = {list(source.shape)}"
        )


@expose(inplace=True)
def index_reduce(
    input: Tensor,
    dim: int,
    index: Tensor,
    source: Tensor,
    reduce: str,
    *,
    include_self: bool = True,
) -> Tensor:
    """``input`` with the slices of ``source`` reduced into the positions ``index`` (a 1-d
    integer tensor) along ``dim``: ``reduce`` is ``'prod'``, ``'mean'``, ``'amax'`` or ``'amin'``;
    ``include_self=False`` leaves ``input``'s own values out at the positions written."""
    if reduce not in ("prod", "mean", "amax", "amin"):
        raise RuntimeError(
            "index_reduce(): Expected reduce to be one of prod, mean, amax or amin but got "
            f"{reduce}."
        )
    if source.dtype != input.dtype:
        raise RuntimeError(
            f"index_reduce_(): self ({scalar_type_name(input.dtype)}) and source "
            f"({scalar_type_name(source.dtype)}) must have the same scalar type"
        )
    if input.ndim == 0:
        return index_reduce(
            input.reshape(1), 0, index, source.reshape(-1), reduce, include_self=include_self
        ).reshape(())
    d = _wrap_dim(dim, input.ndim)
    arr = _index_1d("index_reduce_", index, input, d)
    _check_source("index_reduce_", input, d, arr.shape[0], source)
    source = source.reshape(tuple(arr.shape[0] if k == d else s for k, s in enumerate(input.shape)))
    if arr.shape[0] == 0:
        return input.clone()
    # The 1-d index spread over source's shape: index_reduce is scatter_reduce with it.
    shape = tuple(source.shape)
    spread = jnp.broadcast_to(arr.reshape([-1 if k == d else 1 for k in range(len(shape))]), shape)
    idx = Tensor._wrap(spread)
    unique = (
        reduce == "prod" and not _is_tracer(arr) and len(np.unique(np.asarray(arr))) == len(arr)
    )
    return _scatter_reduce(
        input,
        idx,
        source,
        dim=d,
        reduce=reduce,
        include_self=include_self,
        unique=bool(unique),
        name="IndexReduceBackward0",
    )


# ------------------------------------------------------------------------ index_copy, index_fill
@expose(inplace=True)
def index_copy(input: Tensor, dim: int, index: Tensor, source: Tensor) -> Tensor:
    """``input`` with the slices of ``source`` written at the positions ``index`` (a 1-d int64
    tensor) along ``dim``. With repeated indices one of the slices lands (and only it gets the
    gradient)."""
    if isinstance(index, Tensor) and index.dtype.name != "int64":
        raise _long_only_error("index_copy_", index)
    if source.dtype != input.dtype:
        raise RuntimeError(
            "index_copy_(): self and source expected to have the same dtype, but got (self) "
            f"{scalar_type_name(input.dtype)} and (source) {scalar_type_name(source.dtype)}"
        )
    if input.ndim == 0:
        return index_copy(input.reshape(1), 0, index, source.reshape(-1)).reshape(())
    d = _wrap_dim(dim, input.ndim)
    arr = _index_1d("index_copy_", index, input, d)
    _check_source("index_copy_", input, d, arr.shape[0], source)
    source = source.reshape(tuple(arr.shape[0] if k == d else s for k, s in enumerate(input.shape)))
    return _index_put(
        input,
        source,
        Tensor._wrap(arr[None]),
        basic=(),
        adv=(d,),
        accumulate=False,
        name="IndexCopyBackward0",
    )


@expose(inplace=True)
def index_fill(input: Tensor, dim: int, index: Tensor, value) -> Tensor:
    """``input`` with ``value`` (a number or a 0-d tensor) at the positions ``index`` (a 1-d int64
    tensor) along ``dim``."""
    if isinstance(value, Tensor) and value.ndim != 0:
        raise RuntimeError(
            "index_fill_ only supports a 0-dimensional value tensor, but got tensor with "
            f"{value.ndim} dimension(s)."
        )
    if isinstance(index, Tensor) and index.dtype.name != "int64":
        raise _long_only_error("index_fill_", index)
    if input.ndim == 0:
        return index_fill(input.reshape(1), 0, index, value).reshape(())
    d = _wrap_dim(dim, input.ndim)
    arr = _index_1d("index_fill_", index, input, d, prefix=False)
    # PyTorch's two overloads: a number (IndexFillBackward0) and a 0-d tensor (IndexFillBackward1).
    name = "IndexFillBackward1" if isinstance(value, Tensor) else "IndexFillBackward0"
    value = _value_for(value, input.dtype, ())
    return _index_put(
        input,
        value,
        Tensor._wrap(arr[None]),
        basic=(),
        adv=(d,),
        accumulate=False,
        name=name,
    )


# --------------------------------------------------------------------------- masked_scatter, put
@expose(inplace=True)
def masked_scatter(input: Tensor, mask: Tensor, source: Tensor) -> Tensor:
    """``input`` with the first elements of ``source`` (in row-major order) written where
    ``mask`` (bool, broadcast with ``input``) is True, one after another."""
    if mask.dtype.name != "bool":
        raise RuntimeError(
            "masked_scatter_ only supports boolean masks, but got mask with dtype "
            f"{scalar_type_name(mask.dtype)}"
        )
    if source.dtype != input.dtype:
        raise RuntimeError(
            "masked_scatter: expected self and source to have same dtypes but got"
            f"{scalar_type_name(input.dtype)} and {scalar_type_name(source.dtype)}"
        )
    if _is_tracer(mask._storage.array):
        raise RuntimeError(
            "masked_scatter writes as many elements as the mask holds Trues, which is not known "
            "inside a compiled function; use tracegrad.where(mask, values, x) with values "
            "already placed instead"
        )
    shape = tuple(np.broadcast_shapes(tuple(input.shape), tuple(mask.shape)))
    if tuple(input.shape) != shape:
        input = input.expand(*shape)
    m = np.broadcast_to(np.asarray(mask._storage.array), shape)
    n = int(m.sum())
    if source.numel() < n:
        raise RuntimeError("Number of elements of source < number of ones in mask")
    k = _parse(shape, Tensor._wrap(jnp.asarray(m)))
    values = source.reshape(-1)[:n]
    return _index_put(
        input,
        values,
        k.idx,
        basic=k.basic,
        adv=k.adv,
        accumulate=False,
        name="MaskedScatterBackward0",
    )


def _coordinates(flat, shape: tuple) -> Tensor:
    """The stacked coordinates in ``shape`` of the row-major positions ``flat``."""
    return Tensor._wrap(jnp.stack(jnp.unravel_index(jnp.asarray(flat, jnp.int64), shape)))


@expose(inplace=True)
def put(input: Tensor, index: Tensor, source: Tensor, accumulate: bool = False) -> Tensor:
    """``input`` read as a 1-d tensor, with ``source`` written (``accumulate``: added) at the
    positions ``index`` (int64, negative counting from the end); result shaped like ``input``."""
    if index.dtype.name != "int64":
        raise _long_only_error("put_", index)
    if source.dtype != input.dtype:
        raise RuntimeError(
            "put_(): self and source expected to have the same dtype, but got self.dtype = "
            f"{scalar_type_name(input.dtype)} and source.dtype = {scalar_type_name(source.dtype)}"
        )
    if source.numel() != index.numel():
        raise IndexError(
            "put_(): Expected source and index to have the same number of elements, but got "
            f"source.numel() = {source.numel()}, index.numel() = {index.numel()}"
        )
    if index.numel() == 0:
        return input.clone()
    n = input.numel()
    arr = index._storage.array

    def error(bad: int) -> IndexError:
        return IndexError(f"out of range: tried to access index {bad} on a tensor of {n} elements.")

    _check_range(arr, -n, n, error)
    if input.ndim == 0:
        return put(input.reshape(1), index, source, accumulate).reshape(())
    flat = jnp.where(arr < 0, arr + n, arr)
    return _index_put(
        input,
        source.reshape(tuple(index.shape)),
        _coordinates(flat, tuple(input.shape)),
        basic=(),
        adv=tuple(range(input.ndim)),
        accumulate=bool(accumulate),
        name="PutBackward0",
    )


# -------------------------------------------------------------------------------- the *_scatter
def _check_src(src: Tensor, shape: tuple) -> None:
    if tuple(src.shape) != tuple(shape):
        raise RuntimeError(
            "expected src to have a size equal to the slice of self. src size = "
            f"{list(src.shape)}, slice size = {list(shape)}"
        )


def _write_key(input: Tensor, src: Tensor, key, name: str) -> Tensor:
    src = _value_for(src, input.dtype, key.shape, "src")
    return _index_put(
        input, src, key.idx, basic=key.basic, adv=key.adv, accumulate=False, name=name
    )


@expose
def select_scatter(input: Tensor, src: Tensor, dim: int, index: int) -> Tensor:
    """``input`` with ``src`` written at ``input.select(dim, index)``."""
    if input.ndim == 0:
        raise IndexError("select() cannot be applied to a 0-dim tensor.")
    d = _wrap_dim(dim, input.ndim)
    size = input.shape[d]
    if not -size <= index < size:
        raise IndexError(
            f"select(): index {index} out of range for tensor of size {list(input.shape)} at "
            f"dimension {d}"
        )
    key = _parse(tuple(input.shape), (slice(None),) * d + (index,))
    _check_src(src, key.shape)
    return _write_key(input, src, key, "SelectScatterBackward0")


@expose
def slice_scatter(
    input: Tensor,
    src: Tensor,
    dim: int = 0,
    start: int | None = None,
    end: int | None = None,
    step: int = 1,
) -> Tensor:
    """``input`` with ``src`` written at ``input[..., start:end:step]`` (the slice along ``dim``)."""
    if input.ndim == 0:
        raise RuntimeError("slice() cannot be applied to a 0-dim tensor.")
    d = _wrap_dim(dim, input.ndim)
    if step <= 0:
        raise RuntimeError("slice step must be positive")
    key = _parse(tuple(input.shape), (slice(None),) * d + (slice(start, end, step),))
    _check_src(src, key.shape)
    return _write_key(input, src, key, "SliceScatterBackward0")


@expose
def diagonal_scatter(
    input: Tensor, src: Tensor, offset: int = 0, dim1: int = 0, dim2: int = 1
) -> Tensor:
    """``input`` with ``src`` written on ``input.diagonal(offset, dim1, dim2)`` (the diagonal's
    own dimension last in ``src``, as ``diagonal`` returns it)."""
    d1, d2 = _wrap_dim(dim1, input.ndim), _wrap_dim(dim2, input.ndim)
    if d1 == d2:
        raise RuntimeError(f"diagonal dimensions cannot be identical {dim1}, {dim2}")
    shape = tuple(input.shape)
    n = max(0, min(shape[d1] - max(0, -offset), shape[d2] - max(0, offset)))
    rest = [s for k, s in enumerate(shape) if k not in (d1, d2)]
    _check_src(src, (*rest, n))
    key = [slice(None)] * input.ndim
    key[d1] = np.arange(n) + max(0, -offset)
    key[d2] = np.arange(n) + max(0, offset)
    k = _parse(shape, tuple(key))
    # numpy's placement: adjacent index dimensions keep their place, separated ones go first.
    at = min(d1, d2) if abs(d1 - d2) == 1 else 0
    if at != src.ndim - 1:
        src = src.movedim(-1, at)
    return _write_key(input, src, k, "DiagonalScatterBackward0")


# ------------------------------------------------------------------------------ as_strided
def _strided_offsets(input: Tensor, size, stride, storage_offset) -> np.ndarray:
    """The flat positions ``as_strided(size, stride, storage_offset)`` reads, after PyTorch's
    checks against the input's (contiguous) storage."""
    size, stride = tuple(int(s) for s in size), tuple(int(s) for s in stride)
    offset = 0 if storage_offset is None else int(storage_offset)
    if len(size) != len(stride):
        raise RuntimeError("mismatch in length of strides and shape")
    if any(s < 0 for s in stride):
        raise RuntimeError(
            f"as_strided: Negative strides are not supported at the moment, got strides: "
            f"{list(stride)}"
        )
    if any(s < 0 for s in size):
        raise RuntimeError(f"as_strided: Negative sizes are not supported, got sizes: {list(size)}")
    if offset < 0:
        raise RuntimeError(f"Tensor: invalid storage offset {offset}")
    flat = np.full(size, offset, np.int64)
    for k, (n, s) in enumerate(zip(size, stride)):
        flat += (np.arange(n, dtype=np.int64) * s).reshape(
            [n if j == k else 1 for j in range(len(size))]
        )
    need = (int(flat.max()) + 1) if flat.size else 0
    numel = input.numel()
    if need > numel:
        item = input.element_size()
        raise RuntimeError(
            f"setStorage: sizes {list(size)}, strides {list(stride)}, storage offset {offset}, "
            f"and itemsize {item} requiring a storage size of {need * item} are out of bounds "
            f"for storage of size {numel * item}"
        )
    return flat


@expose
def as_strided(input: Tensor, size, stride, storage_offset: int | None = None) -> Tensor:
    """A ``size`` tensor whose element ``(i, j, ...)`` is ``input``'s flat (row-major) element
    ``storage_offset + i * stride[0] + j * stride[1] + ...``. A copy, not a view: writes to it do
    not reach ``input``; the gradient sums over positions read more than once."""
    flat = _strided_offsets(input, size, stride, storage_offset)
    x = input.reshape(1) if input.ndim == 0 else input
    return _index(
        x,
        _coordinates(flat, tuple(x.shape)),
        basic=(),
        adv=tuple(range(x.ndim)),
        name="AsStridedBackward0",
    )


@expose
def as_strided_scatter(
    input: Tensor, src: Tensor, size, stride, storage_offset: int | None = None
) -> Tensor:
    """``input`` with ``src`` written at the positions ``as_strided(input, size, stride,
    storage_offset)`` reads."""
    flat = _strided_offsets(input, size, stride, storage_offset)
    _check_src(src, flat.shape)
    if flat.size == 0:
        return input.clone()
    x = input.reshape(1) if input.ndim == 0 else input
    src = _value_for(src, input.dtype, flat.shape, "src")
    out = _index_put(
        x,
        src,
        _coordinates(flat, tuple(x.shape)),
        basic=(),
        adv=tuple(range(x.ndim)),
        accumulate=False,
        name="AsStridedScatterBackward0",
    )
    return out.reshape(()) if input.ndim == 0 else out


# ----------------------------------------------------------------------------- fill_diagonal_
def _fill_diagonal(input: Tensor, fill_value, wrap: bool = False) -> Tensor:
    """``input`` with ``fill_value`` on its main diagonal (all dimensions equal beyond 2-d); a
    tall matrix with ``wrap=True`` continues the diagonal every ``width + 1`` rows, as numpy's
    ``fill_diagonal`` does."""
    if input.ndim < 2:
        raise RuntimeError("dimensions must larger than 1")
    shape = tuple(input.shape)
    if input.ndim > 2 and len(set(shape)) != 1:
        raise RuntimeError("all dimensions of input must be of equal length")
    strides = [math.prod(shape[k + 1 :]) for k in range(len(shape))]
    step = sum(strides)
    n = min(shape)
    count = n
    if wrap and input.ndim == 2 and shape[0] > shape[1] + 1:
        count = -(-input.numel() // step)  # every (width + 1)-th element, to the end
    flat = np.arange(count, dtype=np.int64) * step
    value = _value_for(fill_value, input.dtype, ())
    return _index_put(
        input,
        value,
        _coordinates(flat, shape),
        basic=(),
        adv=tuple(range(input.ndim)),
        accumulate=False,
        name="CopySlices",
    )


expose(_fill_diagonal, methods=(), inplace=("fill_diagonal_",))
