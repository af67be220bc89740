"""Sorting and selection along a dimension: ``sort``, ``argsort``, ``msort``, ``topk`` and
``kthvalue``.

Each is an index op (the permutation, int64, no gradient) followed by a gather of the values at
those indices; the gather's rule scatters the cotangent back to the positions it read, so the
values' gradient flows exactly as PyTorch's ``SortBackward0``/``TopkBackward0``/
``KthvalueBackward0``. The order is PyTorch's: NaN sorts above ``inf`` (last ascending, first
descending), ``-0.0`` equals ``0.0``, and ties keep their input order (every sort here is stable,
which is one of the orders PyTorch's unstable sort may return).
"""

from __future__ import annotations

import jax.numpy as jnp
from jax import lax

from .._surface import expose
from ..tensor import Tensor, _wrap_dim
from .indexing import _scatter_add
from .reduction import _return_type, _select_reduction, return_types
from .registry import defop

__all__ = ["sort", "argsort", "msort", "topk", "kthvalue"]

# ``tracegrad.return_types.sort`` etc., beside reduction's max/min/median.
for _name in ("sort", "topk", "kthvalue"):
    setattr(return_types, _name, _return_type(_name))


def _order(a, dim: int, descending: bool):
    """The stable permutation that sorts ``a`` along ``dim`` in PyTorch's order (NaN largest,
    ``-0.0 == 0.0``)."""
    iota = lax.broadcasted_iota(jnp.int64, a.shape, dim)
    if a.dtype == jnp.bool_:
        a = a.astype(jnp.uint8)
    if jnp.issubdtype(a.dtype, jnp.inexact):
        nan = jnp.isnan(a)
        key = jnp.where(nan | (a == 0), jnp.zeros((), a.dtype), a)  # one zero, NaN by its flag
        flag = nan.astype(jnp.int8)
        if descending:
            flag, key = 1 - flag, -key
        return lax.sort((flag, key, iota), dimension=dim, is_stable=True, num_keys=2)[-1]
    key = jnp.invert(a) if descending else a  # ~a reverses the order of any integer type
    return lax.sort((key, iota), dimension=dim, is_stable=True, num_keys=1)[-1]


@defop("SortBackward0")
def _argsort(a, *, dim, descending):
    return _order(a, dim, descending)


@defop("TopkBackward0")
def _topk_indices(a, *, dim, k, largest):
    order = _order(a, dim, largest)
    return lax.slice_in_dim(order, 0, k, axis=dim)


@defop("KthvalueBackward0")
def _kth_index(a, *, dim, k, keepdim):
    order = _order(a, dim, False)
    idx = lax.slice_in_dim(order, k - 1, k, axis=dim)
    return idx if keepdim else jnp.squeeze(idx, dim)


# The values at a set of distinct indices along ``dim``: the cotangent goes back to exactly the
# positions read (a scatter-add into zeros; the indices never repeat, so nothing is summed).
@defop(lambda p: p["name"], saves=(1,))
def _take_along(a, idx, *, dim, name):
    return jnp.take_along_axis(a, idx, axis=dim)


@_take_along.vjp
def _(g, out, a, idx, *, dim, name):
    return _scatter_add(g.new_zeros(tuple(a.shape)), idx, g, dim=dim), None


def _as_1d(input: Tensor) -> Tensor:
    return input.reshape(1) if input.ndim == 0 else input


@expose
def sort(input: Tensor, dim: int = -1, descending: bool = False, *, stable: bool = False):
    """Sort along ``dim``; returns a ``(values, indices)`` named tuple (``torch.return_types.sort``).
    NaN counts as the largest value; ties keep their input order (``stable`` is always honoured).
    The values' gradient goes back to the positions they came from."""
    d = _wrap_dim(dim, input.ndim)
    x = _as_1d(input)
    idx = _argsort(x, dim=d, descending=bool(descending))
    values = _take_along(x, idx, dim=d, name="SortBackward0")
    if input.ndim == 0:
        values, idx = values.reshape(()), idx.reshape(())
    return return_types.sort(values, idx)


@expose
def argsort(input: Tensor, dim: int = -1, descending: bool = False, *, stable: bool = False):
    """The indices (int64) that sort ``input`` along ``dim``: ``sort(...).indices``."""
    d = _wrap_dim(dim, input.ndim)
    idx = _argsort(_as_1d(input), dim=d, descending=bool(descending))
    return idx.reshape(()) if input.ndim == 0 else idx


@expose
def msort(input: Tensor) -> Tensor:
    """``sort(input, dim=0).values``: sort along the first dimension."""
    return sort(input, dim=0).values


@expose
def topk(input: Tensor, k: int, dim: int = -1, largest: bool = True, sorted: bool = True):  # noqa: A002
    """The ``k`` largest (``largest=False``: smallest) elements along ``dim``, as a
    ``(values, indices)`` named tuple (``torch.return_types.topk``). NaN counts as the largest
    value; among ties the earlier index comes first. The result is always sorted (PyTorch leaves
    the order unspecified when ``sorted=False``, so sorted is one of its orders)."""
    d = _wrap_dim(dim, input.ndim)
    x = _as_1d(input)
    k = int(k)
    if k < 0 or k > x.shape[d]:
        raise RuntimeError("selected index k out of range")
    idx = _topk_indices(x, dim=d, k=k, largest=bool(largest))
    values = _take_along(x, idx, dim=d, name="TopkBackward0")
    if input.ndim == 0:
        values, idx = values.reshape(()), idx.reshape(())
    return return_types.topk(values, idx)


@expose
def kthvalue(input: Tensor, k: int, dim: int = -1, keepdim: bool = False):
    """The ``k``-th smallest element (1-based) along ``dim``, as a ``(values, indices)`` named
    tuple (``torch.return_types.kthvalue``); NaN counts as the largest value. The gradient goes to
    the index."""
    d = _wrap_dim(dim, input.ndim)
    k = int(k)
    size = input.shape[d] if input.ndim else 1
    if k < 1 or k > size:
        raise RuntimeError(f"kthvalue(): selected number k out of range for dimension {d}")
    return _select_reduction(
        input,
        lambda x, d, keep: _kth_index(x, dim=d, k=k, keepdim=keep),
        d,
        keepdim,
        "kthvalue",
        "KthvalueBackward0",
    )
