"""Order statistics, searching and counting: ``quantile``/``nanquantile``, ``nanmedian``, ``mode``,
``aminmax``, ``searchsorted``/``bucketize``, ``isin``, ``bincount``, ``histc``, ``histogram``
``histogramdd``, ``unique``/``unique_consecutive`` and ``unravel_index``.

Values that PyTorch differentiates are formed from differentiable pieces: ``quantile`` is the
sort's values gathered at the ranks below and above each ``q`` and interpolated (so the gradient
reaches the two elements and, through the weight, ``q``); ``nanmedian``/``mode`` along a dimension
select values at index ops (the gradient goes to the index, as PyTorch's
``value_selecting_reduction_backward``); ``aminmax`` is ``amin`` and ``amax``. Counts, positions and
histograms are integer or bin data with no gradient.

``unique``, ``unique_consecutive`` and ``bincount`` have result shapes that depend on the values, so
they run eagerly on concrete tensors and raise, as ``nonzero`` does, inside a compiled function.
"""

from __future__ import annotations

import builtins
import math

import jax
import jax.numpy as jnp
import numpy as np

from .._dtype import float64, scalar_type_name
from .._surface import expose
from ..creation import linspace
from ..tensor import Tensor, _wrap_dim, tensor
from .elementwise import lerp, where
from .reduction import (
    _amax,
    _amin,
    _evenly,
    _return_type,
    _select_reduction,
    return_types,
)
from .registry import defop
from .shape import cat, stack

__all__ = [
    "quantile",
    "nanquantile",
    "nanmedian",
    "mode",
    "aminmax",
    "searchsorted",
    "bucketize",
    "isin",
    "bincount",
    "histc",
    "histogram",
    "histogramdd",
    "unique",
    "unique_consecutive",
    "unravel_index",
]

for _name in ("mode", "nanmedian", "cummax", "cummin"):
    setattr(return_types, _name, _return_type(_name))


def _pair_type(name: str, first: str, second: str) -> type:
    """A named pair with PyTorch's field names (``torch.return_types.aminmax``: ``min``/``max``)."""

    def new(cls, a, b):
        return tuple.__new__(cls, (a, b))

    def rep(self) -> str:
        return f"tracegrad.return_types.{name}(\n{first}={self[0]!r},\n{second}={self[1]!r})"

    cls = type(
        name,
        (tuple,),
        {
            "__slots__": (),
            "__new__": new,
            "__repr__": rep,
            first: property(lambda self: self[0]),
            second: property(lambda self: self[1]),
        },
    )
    cls.__module__ = "tracegrad.return_types"
    return cls


return_types.aminmax = _pair_type("aminmax", "min", "max")
return_types.histogram = _pair_type("histogram", "hist", "bin_edges")
return_types.histogramdd = _pair_type("histogramdd", "hist", "bin_edges")


def _traced(x) -> bool:
    return isinstance(x, Tensor) and isinstance(x._storage.array, jax.core.Tracer)


# ------------------------------------------------------------------------- quantile, nanquantile
_INTERPOLATIONS = ("linear", "lower", "higher", "midpoint", "nearest")


def _quantile(input: Tensor, q, dim, keepdim: bool, interpolation: str, skip_nan: bool):
    # PyTorch's quantile_checks, in its order and words (which say "quantile()" for nanquantile
    # too).
    op = "quantile"
    if input.numel() == 0:
        raise RuntimeError(f"{op}() input tensor must be non-empty")
    if input.dtype.name not in ("float32", "float64"):
        raise RuntimeError(f"{op}() input tensor must be either float or double dtype")
    scalar_q = not isinstance(q, Tensor)
    if scalar_q:
        if not 0 <= q <= 1:
            raise RuntimeError(f"{op}() q must be in the range [0, 1] but got {q}")
        q = tensor(float(q), dtype=input.dtype)
    if q.ndim > 1:
        raise RuntimeError(f"{op}() q must be a scalar or 1D tensor")
    if q.dtype is not input.dtype:
        raise RuntimeError(f"{op}() q tensor must be same dtype as the input tensor")
    if interpolation not in _INTERPOLATIONS:
        raise RuntimeError(
            f"{op}() interpolation must be one of linear, lower, higher, midpoint or nearest, "
            f"but got {interpolation}"
        )
    if not scalar_q and not _traced(q):
        qa = np.asarray(q._storage.array)
        if ((qa < 0) | (qa > 1)).any():
            raise RuntimeError(f"{op}() q values must be in the range [0, 1]")

    # Work along the last dimension of x: (*batch, n).
    if dim is None:
        x = input.reshape(-1)
        kept = (1,) * input.ndim
    else:
        d = _wrap_dim(dim, input.ndim)
        x = (input.reshape(1) if input.ndim == 0 else input).movedim(d, -1)
        kept = tuple(1 if i == d else s for i, s in enumerate(input.shape))
    n = x.shape[-1]
    batch = tuple(x.shape[:-1])
    nan = x.isnan()
    # The rank of each q among the sorted values (NaN sorts last), in q's dtype as PyTorch; a
    # slice holding a NaN (quantile) or only NaNs (nanquantile) takes the last, a NaN.
    qv = q.reshape(tuple(q.shape) + (1,) * len(batch))
    if skip_nan:
        count = nan.logical_not().sum(-1)
        rank = qv * (count - 1)
        rank = where(count == 0, float(n - 1), rank)
    else:
        rank = qv * (n - 1)
        rank = where(nan.any(-1), float(n - 1), rank)
    if interpolation == "lower":
        rank = rank.floor()
    elif interpolation == "higher":
        rank = rank.ceil()
    elif interpolation == "nearest":
        rank = rank.round()
    below = rank.floor()
    values = x.sort(-1).values
    lead = len(q.shape)
    sv = values.reshape((1,) * lead + tuple(values.shape)).expand(
        *(tuple(q.shape) + tuple(values.shape))
    )
    low = sv.gather(-1, below.long().unsqueeze(-1)).squeeze(-1)
    if interpolation in ("linear", "midpoint"):
        high = sv.gather(-1, rank.ceil().long().unsqueeze(-1)).squeeze(-1)
        weight = rank - below if interpolation == "linear" else 0.5
        out = lerp(low, high, weight)
    else:
        out = low
    if keepdim:
        out = out.reshape(tuple(q.shape) + kept)
    elif dim is not None and input.ndim == 0:
        out = out.reshape(tuple(q.shape))
    return out


@expose
def quantile(
    input: Tensor,
    q,
    dim: int | None = None,
    keepdim: bool = False,
    *,
    interpolation: str = "linear",
) -> Tensor:
    """The ``q``-th quantiles (``q`` a number or a 1-d tensor in [0, 1]) of ``input`` along ``dim``
    (of all elements when None), interpolating between the neighbouring order statistics as
    ``interpolation`` says; a slice holding NaN gives NaN. A tensor ``q`` adds a leading dimension.
    The gradient reaches the two neighbouring elements and, for ``linear``, ``q``."""
    return _quantile(input, q, dim, keepdim, interpolation, False)


@expose
def nanquantile(
    input: Tensor,
    q,
    dim: int | None = None,
    keepdim: bool = False,
    *,
    interpolation: str = "linear",
) -> Tensor:
    """``quantile`` ignoring NaN values: each slice's quantiles are those of its non-NaN
    elements (NaN when it has none)."""
    return _quantile(input, q, dim, keepdim, interpolation, True)


# --------------------------------------------------------------------------------------- nanmedian
# The lower median of the non-NaN values: the ((k - 1) // 2)-th smallest of the k non-NaN values
# (NaN sorts last); a slice of only NaNs gives NaN at its first NaN.
@defop("NanmedianBackward0", save_out=True)
def _nanmedian(a):
    flat = a.reshape(-1)
    if flat.size == 0:
        return jnp.full((), jnp.nan, a.dtype)
    count = jnp.sum(~jnp.isnan(flat))
    return jnp.sort(flat)[jnp.maximum((count - 1) // 2, 0)]


@_nanmedian.vjp
def _(g, out, a):
    return (_evenly(g, out, a, None, False, "NanmedianBackward0"),)


@defop("NanmedianBackward1")
def _nanmedian_index(a, *, dim, keepdim):
    order = jnp.argsort(a, axis=dim, stable=True)
    count = jnp.sum(~jnp.isnan(a), axis=dim, keepdims=True)
    idx = jnp.take_along_axis(order, jnp.maximum((count - 1) // 2, 0), axis=dim)
    return idx if keepdim else jnp.squeeze(idx, dim)


@expose
def nanmedian(input: Tensor, dim: int | None = None, keepdim: bool = False):
    """``median`` ignoring NaN values: the lower median of the non-NaN elements, of all elements
    (a tensor; gradient shared among ties) or along ``dim`` (a ``(values, indices)`` named tuple;
    gradient to the index). A slice of only NaNs gives NaN."""
    if dim is None:
        return _nanmedian(input)
    return _select_reduction(
        input,
        lambda x, d, k: _nanmedian_index(x, dim=d, keepdim=k),
        dim,
        keepdim,
        "nanmedian",
        "NanmedianBackward1",
    )


# -------------------------------------------------------------------------------------------- mode
# The most frequent value of each slice (the smallest of equally frequent ones, NaN counting as
# equal to NaN and larger than any number, as in PyTorch's sorted runs) and the index of its last
# occurrence, as PyTorch's CPU kernel (which, for a NaN mode, may point at another of the NaNs).
# Counting compares every pair of the slice: O(n^2) work, in one fused XLA computation.
@defop("ModeBackward0")
def _mode_index(a, *, dim, keepdim):
    x = jnp.moveaxis(a, dim, -1)
    if x.dtype == jnp.bool_:
        x = x.astype(jnp.uint8)
    n = x.shape[-1]
    same = x[..., :, None] == x[..., None, :]
    floating = jnp.issubdtype(x.dtype, jnp.inexact)
    nan = jnp.isnan(x) if floating else jnp.zeros(x.shape, bool)
    same = same | (nan[..., :, None] & nan[..., None, :])
    counts = jnp.sum(same, axis=-1)
    candidate = counts == jnp.max(counts, axis=-1, keepdims=True)
    top = jnp.inf if floating else jnp.iinfo(x.dtype).max
    number = candidate & ~nan
    value = jnp.min(jnp.where(number, x, top), axis=-1, keepdims=True)
    hit = jnp.where(jnp.any(number, axis=-1, keepdims=True), number & (x == value), candidate)
    idx = n - 1 - jnp.argmax(hit[..., ::-1], axis=-1, keepdims=True)
    idx = jnp.moveaxis(idx.astype(jnp.int64), -1, dim)
    return idx if keepdim else jnp.squeeze(idx, dim)


@expose
def mode(input: Tensor, dim: int = -1, keepdim: bool = False):
    """The most frequent value along ``dim`` (the smallest when several are equally frequent) and
    the index of its last occurrence, as a ``(values, indices)`` named tuple
    (``torch.return_types.mode``); the gradient goes to the index."""
    return _select_reduction(
        input,
        lambda x, d, k: _mode_index(x, dim=d, keepdim=k),
        dim,
        keepdim,
        "mode",
        "ModeBackward0",
    )


# ------------------------------------------------------------------------------------------ aminmax
@expose
def aminmax(input: Tensor, *, dim: int | None = None, keepdim: bool = False):
    """``(amin, amax)`` over ``dim`` (all elements when None) as a ``(min, max)`` named tuple
    (``torch.return_types.aminmax``); each gradient is shared among ties, as ``amin``/``amax``."""
    if dim is None:
        if input.numel() == 0:
            raise RuntimeError(
                "aminmax(): cannot compute aminmax over an empty dimension as the operation has "
                "no identity."
            )
        dims = None
    else:
        d = _wrap_dim(dim, input.ndim)
        if input.ndim and input.shape[d] == 0:
            raise IndexError(f"aminmax: Expected reduction dim {d} to have non-zero size.")
        dims = (d,) if input.ndim else ()
    lo = _amin(input, dim=dims, keepdim=keepdim, name="AminBackward0")
    hi = _amax(input, dim=dims, keepdim=keepdim, name="AmaxBackward0")
    if dim is None and keepdim:  # PyTorch keeps every dimension as size 1
        lo, hi = lo.reshape((1,) * input.ndim), hi.reshape((1,) * input.ndim)
    return return_types.aminmax(lo, hi)


# ----------------------------------------------------------------------- searchsorted, bucketize
# PyTorch's binary search, step for step: the lower bound moves right while !(mid >= value), the
# upper bound while !(mid > value). Written out (a fixed log2(n) + 1 halvings, all queries at once)
# rather than jnp.searchsorted, so NaNs in the sequence or the queries land where PyTorch's land.
@defop("SearchsortedBackward0")
def _searchsorted(seq, values, *, right, int32):
    dtype = jnp.promote_types(seq.dtype, values.dtype)
    n = seq.shape[-1]
    rows = seq.astype(dtype).reshape(-1, n)
    vals = values.astype(dtype).reshape(rows.shape[0], -1)
    start = jnp.zeros(vals.shape, jnp.int64)
    end = jnp.full(vals.shape, n, jnp.int64)
    for _ in range(n.bit_length()):
        active = start < end
        mid = start + ((end - start) >> 1)
        at = jnp.take_along_axis(rows, jnp.minimum(mid, builtins.max(n - 1, 0)), axis=-1)
        right_of = ~(at > vals) if right else ~(at >= vals)
        start = jnp.where(active & right_of, mid + 1, start)
        end = jnp.where(active & ~right_of, mid, end)
    return start.reshape(values.shape).astype(jnp.int32 if int32 else jnp.int64)


@expose(methods=())
def searchsorted(
    sorted_sequence: Tensor,
    input,
    *,
    out_int32: bool = False,
    right: bool = False,
    side: str | None = None,
    sorter: Tensor | None = None,
) -> Tensor:
    """The indices where ``input``'s values would be inserted into ``sorted_sequence`` (sorted
    along its last dimension; the leading dimensions batch) to keep it sorted: the first such place,
    or the last with ``right=True`` / ``side="right"``. ``sorter`` sorts an unsorted sequence.
    int64 indices, int32 with ``out_int32``."""
    if side is not None:
        if side not in ("left", "right"):
            raise RuntimeError(
                f"torch.searchsorted(): side can only be 'left' or 'right' but got {side}"
            )
        if right and side == "left":
            raise RuntimeError(
                "torch.searchsorted(): side and right can't be set to opposites, got side of "
                "left while right was True"
            )
        right = side == "right"
    scalar = not isinstance(input, Tensor)
    if scalar:
        if sorted_sequence.ndim != 1:
            raise RuntimeError(
                "torch.searchsorted(): input value can be a scalar only when boundaries tensor "
                f"dimension is 1, but we got boundaries tensor dim({sorted_sequence.ndim}) and "
                "input value's dim(0) numel(1)"
            )
        input = tensor(input)
    if sorted_sequence.ndim == 0:
        raise RuntimeError(
            "torch.searchsorted(): boundaries tensor should have positive dimension, but got 0 "
            "dimension"
        )
    if sorted_sequence.ndim > 1 and (
        input.ndim != sorted_sequence.ndim
        or tuple(input.shape[:-1]) != tuple(sorted_sequence.shape[:-1])
    ):
        raise RuntimeError(
            "torch.searchsorted(): boundaries tensor should be 1 dimension or the first N-1 "
            "dimensions of boundaries tensor and input value tensor must match, but we got "
            f"boundaries tensor {list(sorted_sequence.shape)} and input value tensor "
            f"{list(input.shape)}"
        )
    if sorter is not None:
        if sorter.dtype.name != "int64":
            raise RuntimeError(
                "torch.searchsorted(): sorter must be a tensor of long dtype but got dtype "
                f"{scalar_type_name(sorter.dtype)}"
            )
        if tuple(sorter.shape) != tuple(sorted_sequence.shape):
            raise RuntimeError(
                "torch.searchsorted(): boundary and sorter must have the same size, but got "
                f"boundary tensor {list(sorted_sequence.shape)}and got sorter tensor "
                f"{list(sorter.shape)}"
            )
        sorted_sequence = sorted_sequence.gather(-1, sorter)
    return _searchsorted(sorted_sequence.detach(), input.detach(), right=right, int32=out_int32)


@expose(methods=())
def bucketize(input, boundaries: Tensor, *, out_int32: bool = False, right: bool = False):
    """The bucket of each value of ``input`` among the sorted 1-d ``boundaries``: ``i`` with
    ``boundaries[i-1] < x <= boundaries[i]`` (``right=True``: ``boundaries[i-1] <= x <
    boundaries[i]``); int64, int32 with ``out_int32``."""
    if boundaries.ndim != 1:
        raise RuntimeError(f"boundaries tensor must be 1 dimension, but got dim({boundaries.ndim})")
    return searchsorted(boundaries, input, out_int32=out_int32, right=right)


# --------------------------------------------------------------------------------------------- isin
@defop("IsinBackward0")
def _isin(elements, test, *, assume_unique, invert):
    dtype = jnp.promote_types(elements.dtype, test.dtype)
    flat = test.reshape(-1).astype(dtype)
    hit = jnp.any(elements.astype(dtype)[..., None] == flat, axis=-1)
    return ~hit if invert else hit


@expose(methods=())
def isin(elements, test_elements, *, assume_unique: bool = False, invert: bool = False) -> Tensor:
    """Whether each of ``elements`` is among ``test_elements`` (either may be a number), as a bool
    tensor of ``elements``' shape; ``invert`` negates it. ``assume_unique`` is a speed hint in
    PyTorch; the comparison here does not depend on it."""
    if not isinstance(elements, Tensor) and not isinstance(test_elements, Tensor):
        raise TypeError("isin() received an invalid combination of arguments: expected a Tensor")
    if not isinstance(elements, Tensor):
        elements = tensor(elements)
    if not isinstance(test_elements, Tensor):
        test_elements = tensor(test_elements)
    return _isin(
        elements.detach(), test_elements.detach(), assume_unique=bool(assume_unique), invert=invert
    )


# --------------------------------------------------------------------------------------- bincount
def _host(x: Tensor, what: str) -> np.ndarray:
    x._check_concrete(what)
    return np.asarray(x._storage.array)


@expose
def bincount(input: Tensor, weights: Tensor | None = None, minlength: int = 0) -> Tensor:
    """How often each value 0, 1, ... occurs in the 1-d non-negative integer ``input`` (the sum of
    ``weights`` at its positions, when given), with at least ``minlength`` bins. The length depends
    on the values, so this runs eagerly. int64 counts; float weights keep their dtype, others give
    float64."""
    a = _host(input, "bincount")
    if input.dtype.is_floating_point or input.dtype.name == "bool":
        raise NotImplementedError(
            f"\"bincount_cpu\" not implemented for '{scalar_type_name(input.dtype)}'"
        )
    if input.ndim != 1 or (a.size and a.min() < 0):
        raise RuntimeError("bincount only supports 1-d non-negative integral inputs.")
    if minlength < 0:
        raise RuntimeError("minlength should be >= 0")
    if weights is None:
        return Tensor._wrap(jnp.asarray(np.bincount(a, minlength=minlength), jnp.int64))
    if weights.ndim != 1 or weights.shape[0] != a.shape[0]:
        raise RuntimeError("weights should be 1-d and have the same length as input")
    w = _host(weights, "bincount")
    kind = weights.dtype if weights.dtype.is_floating_point else float64
    return Tensor._wrap(
        jnp.asarray(np.bincount(a, weights=w.astype(np.float64), minlength=minlength), kind.np)
    )


# ------------------------------------------------------------------------------ histc, histogram
# Bin i holds edges[i] <= x < edges[i+1], the last bin also x == edges[-1]; values outside the
# edges (and NaN) are not counted. A weighted count sums the weights instead of ones.
@defop("HistogramBackward0")
def _histogram(a, edges, weight, *, density):
    bins = edges.shape[0] - 1
    flat = a.reshape(-1)
    w = jnp.ones_like(flat) if weight is None else weight.reshape(-1).astype(a.dtype)
    pos = jnp.searchsorted(edges, flat, side="right") - 1
    pos = jnp.where(flat == edges[-1], bins - 1, pos)
    inside = (flat >= edges[0]) & (flat <= edges[-1])
    hist = jnp.zeros(bins, a.dtype).at[jnp.where(inside, pos, 0)].add(jnp.where(inside, w, 0))
    if density:
        hist = hist / (jnp.sum(hist) * jnp.diff(edges))
    return hist


def _c_name(x: Tensor) -> str:
    """The C++ name PyTorch's messages give a dtype (``float``, ``double``, ``long``)."""
    return {"float32": "float", "float64": "double", "int64": "long"}.get(
        x.dtype.name, x.dtype.name
    )


def _check_dtypes(op: str, input: Tensor, weight, edges: list) -> None:
    """PyTorch's refusal of weights and bin edges of another dtype than the input."""
    if weight is not None and weight.dtype is not input.dtype:
        raise RuntimeError(
            f"torch.histogramdd: if weight tensor is provided, input tensor and weight tensor "
            f"should have the same dtype, but got input({_c_name(input)}), and "
            f"weight({_c_name(weight)})"
        )
    for e in edges:
        if isinstance(e, Tensor) and e.dtype is not input.dtype:
            raise RuntimeError(
                f"torch.{op}: input tensor and bins tensors should have the same dtype, but got "
                f"input {input.dtype.name} and bins {e.dtype.name}"
            )


def _check_float(op: str, kernel: str, x: Tensor) -> None:
    if not x.dtype.is_floating_point:
        raise NotImplementedError(f"\"{kernel}\" not implemented for '{scalar_type_name(x.dtype)}'")


def _range_edges(op: str, input: Tensor, bins: int, lo, hi, widen: float, k: int = 0) -> Tensor:
    """``bins + 1`` evenly spaced edges over [lo, hi], the data's range when both are equal (as
    PyTorch: widened by ``widen`` either side when that is one value too)."""
    if bins <= 0:
        raise RuntimeError(f"torch.histogram(): bins must be > 0, but got {bins} for dimension 0")
    lo, hi = float(lo), float(hi)
    if lo == hi and input.numel():
        a = _host(input, op.rpartition(".")[2])
        lo, hi = float(a.min()), float(a.max())
    if lo > hi:
        if op == "torch.histc":
            raise RuntimeError("torch.histc: max must be larger than min")
        raise RuntimeError(
            f"{op}: min should not exceed max, but got min {lo:g} max {hi:g} for dimension {k}"
        )
    if not (math.isfinite(lo) and math.isfinite(hi)):
        raise RuntimeError(f"{op}(): range of [{lo}, {hi}] is not finite")
    if lo == hi:
        lo, hi = lo - widen, hi + widen
    return linspace(lo, hi, bins + 1, dtype=input.dtype)


@expose
def histc(input: Tensor, bins: int = 100, min=0, max=0) -> Tensor:  # noqa: A002
    """A histogram of ``input`` in ``bins`` equal bins over [min, max] (the data's range when both
    are 0; values outside are not counted), in ``input``'s dtype."""
    _check_float("histc", "histogram_cpu", input)
    edges = _range_edges("torch.histc", input, int(bins), min, max, 1.0)
    return _histogram(input.detach(), edges, None, density=False)


@expose
def histogram(input: Tensor, bins, *, range=None, weight=None, density: bool = False):  # noqa: A002
    """A histogram of ``input`` as a ``(hist, bin_edges)`` named tuple: ``bins`` equal bins over
    ``range`` (the data's range by default), or the given increasing edges. ``weight`` sums
    weights instead of counting; ``density`` normalises to a density over the bins."""
    _check_float("histogram", "histogramdd", input)
    _check_dtypes("histogram", input, weight, [bins])
    if isinstance(bins, Tensor):
        if range is not None:
            raise TypeError(
                "histogram() received an invalid combination of arguments: range= is only "
                "accepted with an integer number of bins"
            )
        if bins.ndim != 1:
            raise RuntimeError("torch.histogram(): bins tensor should have one dimension")
        edges = bins.detach()
    else:
        lo, hi = (0.0, 0.0) if range is None else range
        edges = _range_edges("torch.histogramdd", input, int(bins), lo, hi, 0.5)
    if weight is not None and tuple(weight.shape) != tuple(input.shape):
        raise RuntimeError(
            "torch.histogram(): if weight tensor is provided, it should have the same shape as "
            "the input tensor excluding its innermost dimension"
        )
    hist = _histogram(
        input.detach(), edges, None if weight is None else weight.detach(), density=bool(density)
    )
    return return_types.histogram(hist, edges)


# The joint bin of each point is the row-major combination of its bin in each dimension; the
# edges of all dimensions travel as one padded (D, max bins + 1) operand, each row read up to its
# own length (``sizes``, static).
@defop("HistogramddBackward0")
def _histogramdd(a, edges, weight, *, sizes, density):
    flat = jnp.zeros(a.shape[0], jnp.int64)
    inside = jnp.ones(a.shape[0], bool)
    for k, b in enumerate(sizes):
        e, x = edges[k, : b + 1], a[:, k]
        pos = jnp.searchsorted(e, x, side="right") - 1
        pos = jnp.where(x == e[-1], b - 1, pos)
        inside = inside & (x >= e[0]) & (x <= e[-1])
        flat = flat * b + pos
    w = jnp.ones(a.shape[0], a.dtype) if weight is None else weight.reshape(-1).astype(a.dtype)
    total = math.prod(sizes)
    hist = jnp.zeros(total, a.dtype).at[jnp.where(inside, flat, 0)].add(jnp.where(inside, w, 0))
    hist = hist.reshape(sizes)
    if density:
        hist = hist / jnp.sum(hist)
        for k, b in enumerate(sizes):
            shape = [1] * len(sizes)
            shape[k] = b
            hist = hist / jnp.diff(edges[k, : b + 1]).reshape(shape)
    return hist


def histogramdd(input: Tensor, bins, *, range=None, weight=None, density: bool = False):  # noqa: A002
    """A histogram of the points in ``input``'s rows (its last dimension holds each point's D
    coordinates) as a ``(hist, bin_edges)`` named tuple (``bin_edges`` a tuple of D tensors):
    ``bins`` an int for every dimension, one int per dimension, or one tensor of edges per
    dimension; ``range`` the flat ``(min, max)`` pairs of the dimensions (the data's range by
    default). ``weight`` sums weights instead of counting; ``density`` normalises to a density."""
    _check_float("histogramdd", "histogramdd", input)
    _check_dtypes("histogramdd", input, weight, bins if isinstance(bins, (list, tuple)) else [])
    if input.ndim < 2:
        raise RuntimeError("torch.histogramdd: input tensor should have at least 2 dimensions")
    dims = input.shape[-1]
    points = input.detach().reshape(-1, dims)
    bins = [bins] * dims if isinstance(bins, int) else list(bins)
    if len(bins) != dims:
        raise RuntimeError(
            f"torch.histogramdd: expected {dims} sequences of bin edges for each of the {dims} "
            f"dimensions of the input, but got {len(bins)}"
        )
    if range is not None and len(range) != 2 * dims:
        raise RuntimeError(
            f"torch.histogramdd: for a {dims}-dimensional histogram range should have "
            f"{2 * dims} elements, but got {len(range)}"
        )
    edges = []
    for k, b in enumerate(bins):
        if isinstance(b, Tensor):
            edges.append(b.detach())
        else:
            lo, hi = (0.0, 0.0) if range is None else (range[2 * k], range[2 * k + 1])
            edges.append(_range_edges("torch.histogramdd", points[:, k], int(b), lo, hi, 0.5, k))
    sizes = tuple(e.shape[0] - 1 for e in edges)
    width = builtins.max(sizes) + 1
    padded = stack([cat([e, e[-1:].expand(width - e.shape[0])]) for e in edges])
    if weight is not None and tuple(weight.shape) != tuple(input.shape[:-1]):
        raise RuntimeError(
            "torch.histogramdd: if weight tensor is provided it should have the same shape as "
            "the input tensor excluding its innermost dimension"
        )
    hist = _histogramdd(
        points,
        padded,
        None if weight is None else weight.detach(),
        sizes=sizes,
        density=bool(density),
    )
    return return_types.histogramdd(hist, tuple(edges))


# ------------------------------------------------------------------- unique, unique_consecutive
def _unique_result(values, inverse, counts, return_inverse: bool, return_counts: bool, dtype):
    out = Tensor._wrap(jnp.asarray(values, dtype.np))
    if not return_inverse and not return_counts:
        return out
    parts = [out]
    if return_inverse:
        parts.append(Tensor._wrap(jnp.asarray(inverse, jnp.int64)))
    if return_counts:
        parts.append(Tensor._wrap(jnp.asarray(counts, jnp.int64)))
    return tuple(parts)


@expose
def unique(
    input: Tensor,
    sorted: bool = True,  # noqa: A002
    return_inverse: bool = False,
    return_counts: bool = False,
    dim: int | None = None,
):
    """The distinct values of ``input`` in ascending order (or its distinct slices along ``dim``),
    with, on request, the inverse indices (where each element or slice went, int64) and the counts
    (int64). NaNs are all distinct, as in PyTorch. The number of values depends on the data, so
    this runs eagerly. The result is sorted even with ``sorted=False`` (PyTorch leaves that order
    to the implementation; ascending is one such order)."""
    a = _host(input, "unique")
    if dim is None:
        flat = a.reshape(-1)
        values, inverse, counts = np.unique(
            flat, return_inverse=True, return_counts=True, equal_nan=False
        )
        inverse = inverse.reshape(a.shape)
    else:
        d = _wrap_dim(dim, input.ndim)
        if a.shape[d] == 0:
            values = a
            inverse = np.zeros(0, np.int64)
            counts = np.zeros(0, np.int64)
        else:
            values, inverse, counts = np.unique(a, return_inverse=True, return_counts=True, axis=d)
            inverse = inverse.reshape(-1)
    return _unique_result(values, inverse, counts, return_inverse, return_counts, input.dtype)


@expose
def unique_consecutive(
    input: Tensor, return_inverse: bool = False, return_counts: bool = False, dim: int | None = None
):
    """``input`` with each run of equal consecutive values (slices along ``dim``) collapsed to
    one, with, on request, the inverse indices and the run lengths (int64). Runs eagerly (the
    length depends on the data)."""
    a = _host(input, "unique_consecutive")
    if dim is None:
        flat = a.reshape(-1)
        starts = np.ones(flat.shape[0], bool)
        starts[1:] = flat[1:] != flat[:-1]
        values = flat[starts]
        inverse_shape = a.shape
    else:
        d = _wrap_dim(dim, input.ndim)
        moved = np.moveaxis(a, d, 0).reshape(a.shape[d], -1)
        starts = np.ones(moved.shape[0], bool)
        starts[1:] = (moved[1:] != moved[:-1]).any(axis=1)
        values = np.compress(starts, a, axis=d)
        inverse_shape = (a.shape[d],)
    inverse = (np.cumsum(starts) - 1).reshape(inverse_shape)
    edges = np.flatnonzero(np.append(starts, True))
    counts = np.diff(edges)
    return _unique_result(values, inverse, counts, return_inverse, return_counts, input.dtype)


# ---------------------------------------------------------------------------------- unravel_index
def unravel_index(indices, shape) -> tuple:
    """The coordinates, in a tensor of ``shape``, of each flat index in ``indices``: a tuple of int64
    tensors, one per dimension of ``shape``, each of ``indices``' shape."""
    if not isinstance(indices, Tensor):
        indices = tensor(indices)
    if indices.dtype.is_floating_point or indices.dtype.name == "bool":
        raise TypeError(
            f"expected 'indices' to be integer dtype, but got torch.{indices.dtype.name}"
        )
    shape = (shape,) if isinstance(shape, int) else tuple(int(s) for s in shape)
    if builtins.any(s < 0 for s in shape):
        raise ValueError(f"'shape' cannot have negative values, but got {tuple(shape)}")
    idx = indices.long()
    out = []
    stride = 1
    for size in reversed(shape):
        out.append((idx // stride) % size if size else idx * 0)
        stride *= size
    return tuple(reversed(out))
