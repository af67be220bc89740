"""Reductions over dimensions (``dim`` None, an int or a tuple; ``keepdim``; negative dims):
``sum``, ``mean``, ``prod``, ``max``/``min``, ``amax``/``amin``, ``argmax``/``argmin``, ``var``/``std``,
``norm``, ``logsumexp``, ``median``, ``all``/``any``, ``count_nonzero``; the scans ``cumsum`` and
``cumprod``; and the normalisations ``softmax`` and ``log_softmax``.
"""

from __future__ import annotations

import builtins
import math
import warnings

import jax
import jax.numpy as jnp
from jax import lax

from .._dtype import as_dtype, int64, scalar_type_name
from .._surface import expose, numpy_keepdims
from ..creation import arange
from ..tensor import Tensor, _size_args, _wrap_dim
from .elementwise import maximum, minimum, where
from .registry import defop

__all__ = [
    "sum",
    "mean",
    "sum_to_size",
    "prod",
    "max",
    "min",
    "amax",
    "amin",
    "argmax",
    "argmin",
    "var",
    "std",
    "var_mean",
    "std_mean",
    "norm",
    "logsumexp",
    "cumsum",
    "cumprod",
    "all",
    "any",
    "median",
    "count_nonzero",
    "softmax",
    "log_softmax",
    "return_types",
]


def _dims(dim, ndim: int) -> tuple | None:
    """Normalise ``dim`` to a sorted tuple of non-negative axes, or None for "all dimensions".

    An empty sequence means all dimensions (as in PyTorch). A 0-d tensor accepts dim 0 or -1 and
    reduces nothing, hence ``()``.
    """
    if dim is None:
        return None
    if isinstance(dim, int):
        dim = (dim,)
    if len(dim) == 0:
        return None
    axes = tuple(sorted({_wrap_dim(d, ndim) for d in dim}))
    return axes if ndim else ()


def _restore(g: Tensor, shape: tuple, dim, keepdim: bool) -> Tensor:
    """Broadcast a reduction's cotangent back to the input ``shape``."""
    if dim is None:
        dim = tuple(range(len(shape)))
    if not keepdim:
        for d in dim:
            g = g.unsqueeze(d)
    return g.expand(shape)


def _count(shape, dim) -> int:
    n = 1
    for d in range(len(shape)) if dim is None else dim:
        n *= shape[d]
    return n


def _where(cond, a, b):
    return where(cond, a, b)


def _check_nonempty(op: str, input: Tensor, dims) -> None:
    """max/min/argmax/...: a reduction with no identity needs a non-empty slice (PyTorch's check)."""
    if dims is None:
        if input.numel() == 0:
            hint = (
                ""
                if op.startswith("arg")
                else " Specify the reduction dim with the 'dim' argument."
            )
            raise RuntimeError(
                f"{op}(): Expected reduction dim to be specified for input.numel() == 0.{hint}"
            )
        return
    for d in dims:
        if input.ndim and input.shape[d] == 0:
            raise IndexError(f"{op}(): Expected reduction dim {d} to have non-zero size.")


class _ReturnType(tuple):
    """A ``(values, indices)`` pair, as PyTorch's ``torch.return_types.max``."""

    __slots__ = ()
    _name = ""

    def __new__(cls, values: Tensor, indices: Tensor):
        return tuple.__new__(cls, (values, indices))

    values = property(lambda self: self[0])
    indices = property(lambda self: self[1])

    def __repr__(self) -> str:
        return f"tracegrad.return_types.{self._name}(\nvalues={self[0]!r},\nindices={self[1]!r})"


def _return_type(name: str) -> type:
    cls = type(name, (_ReturnType,), {"__slots__": (), "_name": name})
    cls.__module__ = "tracegrad.return_types"
    return cls


# ``tracegrad.return_types.max`` etc.: the named-tuple types of the (values, indices) reductions.
return_types = type("return_types", (), {n: _return_type(n) for n in ("max", "min", "median")})


# ------------------------------------------------------------------------------------------- sum
@defop(lambda p: "SumBackward0" if p["dim"] is None else "SumBackward1", saves=())
def _sum(a, *, dim, keepdim, dtype):
    return jnp.sum(a, axis=dim, keepdims=keepdim, dtype=dtype)


@_sum.vjp
def _(g, out, a, *, dim, keepdim, dtype):
    return (_restore(g, a.shape, dim, keepdim),)


@expose
def sum(input: Tensor, dim=None, keepdim: bool = False, *, dtype=None) -> Tensor:  # noqa: A001
    """Sum over ``dim`` (all dimensions when None). Integer and bool inputs sum as int64."""
    if dtype is None and not (input.dtype.is_floating_point or input.dtype.is_complex):
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
    return (_restore(g, a.shape, dim, keepdim) / _count(a.shape, dim),)


@expose
def mean(input: Tensor, dim=None, keepdim: bool = False, *, dtype=None) -> Tensor:
    """Mean over ``dim`` (all dimensions when None). Needs a floating input, as in PyTorch."""
    if dtype is not None:
        input = input.to(dtype)
    if not (input.dtype.is_floating_point or input.dtype.is_complex):
        raise RuntimeError(
            "mean(): could not infer output dtype. Input dtype must be either a floating point or "
            f"complex dtype. Got: {scalar_type_name(input.dtype)}"
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


@expose
def sum_to_size(input: Tensor, *size) -> Tensor:
    """Sum ``input`` down to ``size`` (a shape it broadcasts from)."""
    shape = _size_args(size)
    if tuple(input.shape) == shape:
        return input
    return _sum_to_size(input, shape=shape)


# ------------------------------------------------------------------------------------------ prod
# d(prod x)/dx_i = prod_{j != i} x_j. That is out / x_i only when no x_j is zero, so, as PyTorch
# does, split on the number of zeros in the reduced slice:
#   none:        out / x_i
#   exactly one: the product of the non-zeros at the zero, 0 elsewhere
#   two or more: 0 everywhere
# Every branch is computed on ``safe`` (zeros replaced by 1), so even the branch ``where`` discards
# never divides by zero: a discarded inf would turn into NaN under double backward (0 * inf).
# Second derivatives are exact away from zeros; at zeros they are finite but drop the terms
# through the zero (the branches are constant there).
@defop(lambda p: "ProdBackward0" if p["dim"] is None else "ProdBackward1", save_out=True)
def _prod(a, *, dim, keepdim, dtype):
    return jnp.prod(a, axis=dim, keepdims=keepdim, dtype=dtype)


@_prod.vjp
def _(g, out, a, *, dim, keepdim, dtype):
    zero = a == 0
    safe = _where(zero, 1.0, a)
    zeros = zero.sum(dim, keepdim=True)
    nonzero_prod = _prod(safe, dim=dim, keepdim=True, dtype=None)
    out = _restore(out, a.shape, dim, keepdim)
    d = _where(zero, _where(zeros == 1, nonzero_prod, 0.0), _where(zeros == 0, out / safe, 0.0))
    return (_restore(g, a.shape, dim, keepdim) * d,)


@expose
def prod(input: Tensor, dim=None, keepdim: bool = False, *, dtype=None) -> Tensor:
    """Product over ``dim`` (all elements when None). Integer and bool inputs multiply as int64;
    the gradient is exact when the input holds zeros."""
    if dtype is None and not input.dtype.is_floating_point:
        dtype = int64
    return _prod(
        input,
        dim=_dims(dim, input.ndim),
        keepdim=keepdim,
        dtype=None if dtype is None else as_dtype(dtype).np,
    )


# ----------------------------------------------------------------------------- amax, amin, max()
# The maximum is locally a selection of the elements equal to it; PyTorch splits the gradient
# evenly among ties. Where the result is NaN the two forms differ, as PyTorch's do: ``max()``
# counts the NaNs as the ties (evenly_distribute_backward), while ``amax``/``amin`` match with
# ``==`` only, so no element matches and the gradient is ``g / 0 * 0`` = NaN everywhere
# (scale_grad_by_count). That NaN is written out with ``where``: in a compiled program XLA turns
# ``x * mask`` into a select, and ``inf * 0`` would become 0.
def _evenly(g, out, a, dim, keepdim, name):
    out = _restore(out, a.shape, dim, keepdim)
    g = _restore(g, a.shape, dim, keepdim)
    if name in ("AmaxBackward0", "AminBackward0"):
        mask = a == out
        count = mask.sum(dim, keepdim=True)
        return _where(mask, g / count, _where(count == 0, math.nan, 0.0))
    mask = (a == out) | ((a != a) & (out != out))
    return _where(mask, g / mask.sum(dim, keepdim=True), 0.0)


@defop(lambda p: p["name"], save_out=True)
def _amax(a, *, dim, keepdim, name):
    return jnp.max(a, axis=dim, keepdims=keepdim)


@_amax.vjp
def _(g, out, a, *, dim, keepdim, name):
    return (_evenly(g, out, a, dim, keepdim, name),)


@defop(lambda p: p["name"], save_out=True)
def _amin(a, *, dim, keepdim, name):
    return jnp.min(a, axis=dim, keepdims=keepdim)


@_amin.vjp
def _(g, out, a, *, dim, keepdim, name):
    return (_evenly(g, out, a, dim, keepdim, name),)


@expose
def amax(input: Tensor, dim=(), keepdim: bool = False) -> Tensor:
    """The maximum over ``dim`` (all dimensions by default); the gradient is shared among ties."""
    dims = _dims(dim, input.ndim)
    _check_nonempty("amax", input, dims)
    return _amax(input, dim=dims, keepdim=keepdim, name="AmaxBackward0")


@expose
def amin(input: Tensor, dim=(), keepdim: bool = False) -> Tensor:
    """The minimum over ``dim`` (all dimensions by default); the gradient is shared among ties."""
    dims = _dims(dim, input.ndim)
    _check_nonempty("amin", input, dims)
    return _amin(input, dim=dims, keepdim=keepdim, name="AminBackward0")


# -------------------------------------------------------------------------- argmax, argmin
# Indices are integers: these ops have no rule.
@defop("ArgmaxBackward0")
def _argmax(a, *, dim, keepdim):
    if dim is None:
        r = jnp.argmax(a.reshape(-1))
        return r.reshape((1,) * a.ndim) if keepdim else r
    if a.ndim == 0:
        return jnp.zeros((), jnp.int64)
    return jnp.argmax(a, axis=dim, keepdims=keepdim)


@defop("ArgminBackward0")
def _argmin(a, *, dim, keepdim):
    if dim is None:
        r = jnp.argmin(a.reshape(-1))
        return r.reshape((1,) * a.ndim) if keepdim else r
    if a.ndim == 0:
        return jnp.zeros((), jnp.int64)
    return jnp.argmin(a, axis=dim, keepdims=keepdim)


@expose
def argmax(input: Tensor, dim: int | None = None, keepdim: bool = False) -> Tensor:
    """Index (int64) of the first maximum along ``dim``, or into the flattened input when None."""
    d = None if dim is None else _wrap_dim(dim, input.ndim)
    _check_nonempty("argmax", input, None if d is None else (d,))
    return _argmax(input, dim=d, keepdim=keepdim)


@expose
def argmin(input: Tensor, dim: int | None = None, keepdim: bool = False) -> Tensor:
    """Index (int64) of the first minimum along ``dim``, or into the flattened input when None."""
    d = None if dim is None else _wrap_dim(dim, input.ndim)
    _check_nonempty("argmin", input, None if d is None else (d,))
    return _argmin(input, dim=d, keepdim=keepdim)


# ------------------------------------------------------------------- max(dim), min(dim), median
# The values at given indices along ``dim``; the gradient goes to exactly those positions (not
# shared among ties), as PyTorch's value_selecting_reduction_backward.
@defop(lambda p: p["name"], saves=(1,))
def _value_select(a, idx, *, dim, keepdim, name):
    i = idx if keepdim else jnp.expand_dims(idx, dim)
    v = jnp.take_along_axis(a, i, axis=dim)
    return v if keepdim else jnp.squeeze(v, dim)


@_value_select.vjp
def _(g, out, a, idx, *, dim, keepdim, name):
    if not keepdim:
        g, idx = g.unsqueeze(dim), idx.unsqueeze(dim)
    shape = [1] * a.ndim
    shape[dim] = a.shape[dim]
    hit = arange(a.shape[dim]).reshape(shape) == idx
    return _where(hit, g, 0.0), None


def _select_reduction(input: Tensor, idx_fn, dim, keepdim, op: str, name: str):
    d = _wrap_dim(dim, input.ndim)
    _check_nonempty(op, input, (d,))
    x = input.reshape(1) if input.ndim == 0 else input
    idx = idx_fn(x, d, keepdim and input.ndim > 0)
    values = _value_select(x, idx, dim=d, keepdim=keepdim and input.ndim > 0, name=name)
    if input.ndim == 0:
        values, idx = values.reshape(()), idx.reshape(())
    return getattr(return_types, op)(values, idx)


def _max_min(input, dim, keepdim, other, op: str):
    if isinstance(dim, Tensor) or other is not None:
        return (maximum if op == "max" else minimum)(input, dim if other is None else other)
    if dim is None:
        _check_nonempty(op, input, None)
        fn = _amax if op == "max" else _amin
        return fn(
            input, dim=None, keepdim=False, name="MaxBackward1" if op == "max" else "MinBackward1"
        )
    if not isinstance(dim, int):
        raise TypeError(f"{op}(): argument 'dim' must be int, not {type(dim).__name__}")
    idx_fn = (
        (lambda x, d, k: _argmax(x, dim=d, keepdim=k))
        if op == "max"
        else (lambda x, d, k: _argmin(x, dim=d, keepdim=k))
    )
    name = "MaxBackward0" if op == "max" else "MinBackward0"
    return _select_reduction(input, idx_fn, dim, keepdim, op, name)


@expose
def max(input: Tensor, dim=None, keepdim: bool = False, *, other=None):  # noqa: A001
    """``max(x)``: the largest element (gradient shared among ties). ``max(x, dim)``: a
    ``(values, indices)`` named tuple (gradient to the index). ``max(x, y)``: ``maximum(x, y)``."""
    return _max_min(input, dim, keepdim, other, "max")


@expose
def min(input: Tensor, dim=None, keepdim: bool = False, *, other=None):  # noqa: A001
    """``min(x)``: the smallest element (gradient shared among ties). ``min(x, dim)``: a
    ``(values, indices)`` named tuple (gradient to the index). ``min(x, y)``: ``minimum(x, y)``."""
    return _max_min(input, dim, keepdim, other, "min")


# The lower median (the ((n - 1) // 2)-th smallest); NaN when the slice holds a NaN, as PyTorch.
@defop("MedianBackward0", save_out=True)
def _median(a):
    flat = a.reshape(-1)
    if flat.size == 0:
        return jnp.full((), jnp.nan, a.dtype)
    v = jnp.sort(flat)[(flat.size - 1) // 2]
    return jnp.where(jnp.any(jnp.isnan(flat)), jnp.nan, v).astype(a.dtype)


@_median.vjp
def _(g, out, a):
    return (_evenly(g, out, a, None, False, "MedianBackward0"),)


@defop("MedianIndexBackward0")
def _median_index(a, *, dim, keepdim):
    order = jnp.argsort(a, axis=dim, stable=True)
    mid = jnp.take(order, jnp.array([(a.shape[dim] - 1) // 2]), axis=dim)
    isnan = jnp.isnan(a)
    nan_idx = jnp.argmax(isnan, axis=dim, keepdims=True)
    idx = jnp.where(jnp.any(isnan, axis=dim, keepdims=True), nan_idx, mid)
    return idx if keepdim else jnp.squeeze(idx, dim)


@expose
def median(input: Tensor, dim: int | None = None, keepdim: bool = False):
    """The lower median: of all elements (a tensor; gradient shared among ties), or along ``dim``
    (a ``(values, indices)`` named tuple; gradient to the index)."""
    if dim is None:
        return _median(input)
    return _select_reduction(
        input,
        lambda x, d, k: _median_index(x, dim=d, keepdim=k),
        dim,
        keepdim,
        "median",
        "MedianBackward1",
    )


# --------------------------------------------------------------------------------------- var, std
# var = sum((x - mean)^2) / (N - c), so d var / dx = 2 (x - mean) / (N - c); std = sqrt(var), so
# d std / dx = (x - mean) / ((N - c) std), taken as 0 where std == 0 (PyTorch's convention; a
# constant slice has a kink there, not an infinite slope worth propagating).
@defop("VarBackward0")
def _var(a, *, dim, correction, keepdim):
    return jnp.var(a, axis=dim, ddof=correction, keepdims=keepdim)


@_var.vjp
def _(g, out, a, *, dim, correction, keepdim):
    den = builtins.max(_count(a.shape, dim) - correction, 0)
    centred = a - _mean(a, dim=dim, keepdim=True)
    return (_restore(g, a.shape, dim, keepdim) * centred * (2.0 / den if den else math.inf),)


@defop("StdBackward0", save_out=True)
def _std(a, *, dim, correction, keepdim):
    return jnp.std(a, axis=dim, ddof=correction, keepdims=keepdim)


@_std.vjp
def _(g, out, a, *, dim, correction, keepdim):
    den = builtins.max(_count(a.shape, dim) - correction, 0)
    out = _restore(out, a.shape, dim, keepdim)
    flat = out == 0
    scale = _where(flat, 0.0, _restore(g, a.shape, dim, keepdim) / _where(flat, 1.0, out))
    centred = a - _mean(a, dim=dim, keepdim=True)
    return (scale * centred * (1.0 / den if den else math.inf),)


def _var_args(op: str, input: Tensor, dim, unbiased, keepdim, correction):
    if isinstance(dim, builtins.bool):  # var(x, False): the old (input, unbiased) overload
        dim, unbiased = None, dim
    if unbiased is not None and correction is not None:
        raise RuntimeError(f"{op}: cannot specify both unbiased and correction")
    if correction is None:
        correction = 0 if unbiased is False else 1
    if not input.dtype.is_floating_point:
        raise RuntimeError("std and var only support floating point and complex dtypes")
    return dict(dim=_dims(dim, input.ndim), correction=correction, keepdim=keepdim)


@expose
def var(input: Tensor, dim=None, unbiased=None, keepdim: bool = False, *, correction=None):
    """Variance over ``dim`` with ``correction`` (Bessel's, 1, by default; ``unbiased=False`` is
    ``correction=0``). ``var(x, False)`` is the old ``(input, unbiased)`` overload."""
    return _var(input, **_var_args("var", input, dim, unbiased, keepdim, correction))


@expose
def std(input: Tensor, dim=None, unbiased=None, keepdim: bool = False, *, correction=None):
    """Standard deviation over ``dim`` (arguments as ``var``); its gradient is 0 where it is 0."""
    return _std(input, **_var_args("std", input, dim, unbiased, keepdim, correction))


@numpy_keepdims
def var_mean(input: Tensor, dim=None, unbiased=None, keepdim: bool = False, *, correction=None):
    """``(var(input, ...), mean(input, dim, keepdim))``, as a tuple."""
    p = _var_args("var_mean", input, dim, unbiased, keepdim, correction)
    return _var(input, **p), _mean(input, dim=p["dim"], keepdim=keepdim)


@numpy_keepdims
def std_mean(input: Tensor, dim=None, unbiased=None, keepdim: bool = False, *, correction=None):
    """``(std(input, ...), mean(input, dim, keepdim))``, as a tuple."""
    p = _var_args("std_mean", input, dim, unbiased, keepdim, correction)
    return _std(input, **p), _mean(input, dim=p["dim"], keepdim=keepdim)


# ------------------------------------------------------------------------------------------- norm
# The vector p-norm ||x||_p = (sum |x|^p)^(1/p), so d/dx = sign(x) |x|^(p-1) / ||x||^(p-1). The
# special cases follow PyTorch's norm_backward: p=1 gives sign(x); p=2 gives x / ||x||, with 0
# (not NaN) where ||x|| == 0; p=+-inf shares sign(x) evenly among the elements attaining the norm;
# p=0 (a count) has zero gradient; p < 1 takes 0 at x == 0. Denominators and negative powers
# run on values with the zeros replaced by 1, so no discarded branch holds an inf.
@defop("LinalgVectorNormBackward0", save_out=True)
def _norm(a, *, p, dim, keepdim):
    x = jnp.abs(a)
    if p == math.inf:
        return jnp.max(x, axis=dim, keepdims=keepdim)
    if p == -math.inf:
        return jnp.min(x, axis=dim, keepdims=keepdim)
    if p == 0:
        return jnp.sum(x != 0, axis=dim, keepdims=keepdim).astype(a.dtype)
    if p == 1:
        return jnp.sum(x, axis=dim, keepdims=keepdim)
    if p == 2:
        return jnp.sqrt(jnp.sum(a * a, axis=dim, keepdims=keepdim))
    return jnp.sum(x**p, axis=dim, keepdims=keepdim) ** (1.0 / p)


@_norm.vjp
def _(g, out, a, *, p, dim, keepdim):
    g = _restore(g, a.shape, dim, keepdim)
    n = _restore(out, a.shape, dim, keepdim)
    if p == 0:
        return (g * 0.0,)
    if p == 1:
        return (g * a.sign(),)
    if math.isinf(p):
        mask = a.abs() == n
        return (_where(mask, g * a.sign() / mask.sum(dim, keepdim=True), 0.0),)
    null = n == 0
    if p == 2:
        return (a * _where(null, 0.0, g / _where(null, 1.0, n)),)
    zero = a == 0
    mag = _where(zero, 1.0, a.abs()) ** (p - 1)
    scaled = a.sign() * _where(zero, 0.0, mag)
    if p < 1:
        return (scaled * g * n ** (1.0 - p),)
    return (scaled * _where(null, 0.0, g / _where(null, 1.0, n) ** (p - 1)),)


@expose(keepdims=False)  # torch.norm is a Python function: no NumPy alias
def norm(input: Tensor, p="fro", dim=None, keepdim: bool = False, dtype=None) -> Tensor:
    """The vector ``p``-norm over ``dim`` (all elements when None): ``'fro'`` (= 2, the default),
    any number, ``inf`` or ``-inf``. The gradient of the 2-norm at 0 is 0, as in PyTorch."""
    if dtype is not None:
        input = input.to(dtype)
    if isinstance(p, str):
        if p != "fro":
            raise NotImplementedError(
                f"norm(p={p!r}) (a matrix norm) is not supported; use p='fro' or a number"
            )
        p = 2.0
    p = 2.0 if p is None else float(p)
    if not input.dtype.is_floating_point:
        raise RuntimeError(
            "linalg.vector_norm: Expected a floating point or complex tensor as input. Got "
            f"{scalar_type_name(input.dtype)}"
        )
    dims = _dims(dim, input.ndim)
    if p < 0 or math.isinf(p):
        if input.numel() == 0 and (dims is None or builtins.any(input.shape[d] == 0 for d in dims)):
            raise RuntimeError(
                f"linalg.vector_norm cannot compute the {p} norm on an empty tensor because the "
                "operation does not have an identity"
            )
    return _norm(input, p=p, dim=dims, keepdim=keepdim)


# ------------------------------------------------------------------------------------- logsumexp
# d/dx log(sum exp x) = exp(x - out): the softmax, formed from ``out`` so no exp overflows.
@defop("LogsumexpBackward0", promote="float", save_out=True, fuse=True)
def _logsumexp(a, *, dim, keepdim):
    return jax.scipy.special.logsumexp(a, axis=dim, keepdims=keepdim)


@_logsumexp.vjp
def _(g, out, a, *, dim, keepdim):
    out = _restore(out, a.shape, dim, keepdim)
    return (_restore(g, a.shape, dim, keepdim) * (a - out).exp(),)


@expose
def logsumexp(input: Tensor, dim, keepdim: bool = False) -> Tensor:
    """``log(sum(exp(input), dim))``, computed stably (shifted by the maximum)."""
    return _logsumexp(input, dim=_dims(dim, input.ndim), keepdim=keepdim)


# ---------------------------------------------------------------------------------- cumsum, cumprod
# The transpose of a prefix sum is a suffix sum: the rule is the same scan run in reverse.
@defop("CumsumBackward0", saves=())
def _cumsum(a, *, dim, reverse):
    if a.ndim == 0:
        return a
    return lax.cumsum(a, axis=dim, reverse=reverse)


@_cumsum.vjp
def _(g, out, a, *, dim, reverse):
    return (_cumsum(g, dim=dim, reverse=not reverse),)


def _scan_input(input: Tensor, dtype) -> Tensor:
    if dtype is not None:
        return input.to(dtype)
    return input if input.dtype.is_floating_point else input.to(int64)


@expose(inplace=True)
def cumsum(input: Tensor, dim: int, *, dtype=None) -> Tensor:
    """Running sum along ``dim``. Integer and bool inputs sum as int64."""
    return _cumsum(_scan_input(input, dtype), dim=_wrap_dim(dim, input.ndim), reverse=False)


# out_i = prod_{j <= i} x_j, so dx_k = sum_{i >= k} g_i prod_{j <= i, j != k} x_j. Let z be the
# first zero of the slice (PyTorch's split, made branch-free):
#   k < z:  dx_k = (suffix sum of g * out)_k / x_k          (x_k != 0; out_i = 0 for i >= z)
#   k = z:  dx_z = (prod_{j<z} x_j) * sum_{i>=z} g_i prod_{z<j<=i} x_j   (a cumprod of x with the
#           positions up to z replaced by 1: no division)
#   k > z:  dx_k = 0                                          (every product holds x_z = 0)
# It costs O(n). Without zeros it is the first line, exact to any order; with zeros the gradient
# is exact and its derivative finite (it omits terms through the zero).
@defop("CumprodBackward0", save_out=True)
def _cumprod(a, *, dim):
    if a.ndim == 0:
        return a
    return lax.cumprod(a, axis=dim)


@_cumprod.vjp
def _(g, out, a, *, dim):
    if a.ndim == 0:
        return (g,)
    zero = a == 0
    seen = _cumsum(zero.to(int64), dim=dim, reverse=False)
    before, first = seen == 0, zero & (seen == 1)
    safe = _where(before, a, 1.0)
    dx = _where(before, _cumsum(g * out, dim=dim, reverse=True) / safe, 0.0)
    prefix = _cumprod(safe, dim=dim)  # prod_{j<z} x_j at z
    after = _cumprod(_where(before | first, 1.0, a), dim=dim)  # prod_{z<j<=i} x_j for i >= z
    tail = _where(before, 0.0, g * after).sum(dim, keepdim=True)
    return (dx + _where(first, prefix * tail, 0.0),)


@expose(inplace=True)
def cumprod(input: Tensor, dim: int, *, dtype=None) -> Tensor:
    """Running product along ``dim``; the gradient is exact (and finite) when the input has zeros."""
    return _cumprod(_scan_input(input, dtype), dim=_wrap_dim(dim, input.ndim))


# -------------------------------------------------------------------- all, any, count_nonzero
# Boolean and integer results: no rules.
@defop("AllBackward0")
def _all(a, *, dim, keepdim):
    r = jnp.all(a, axis=dim, keepdims=keepdim)
    return r.astype(a.dtype) if a.dtype == jnp.uint8 else r


@defop("AnyBackward0")
def _any(a, *, dim, keepdim):
    r = jnp.any(a, axis=dim, keepdims=keepdim)
    return r.astype(a.dtype) if a.dtype == jnp.uint8 else r


@expose
def all(input: Tensor, dim=None, keepdim: bool = False) -> Tensor:  # noqa: A001
    """Whether every element (along ``dim``) is non-zero, as a bool tensor."""
    return _all(input, dim=_dims(dim, input.ndim), keepdim=keepdim)


@expose
def any(input: Tensor, dim=None, keepdim: bool = False) -> Tensor:  # noqa: A001
    """Whether some element (along ``dim``) is non-zero, as a bool tensor."""
    return _any(input, dim=_dims(dim, input.ndim), keepdim=keepdim)


@defop("CountNonzeroBackward0")
def _count_nonzero(a, *, dim):
    return jnp.sum(a != 0, axis=dim, dtype=jnp.int64)


@expose
def count_nonzero(input: Tensor, dim=None) -> Tensor:
    """The number of non-zero elements (along ``dim``), as int64."""
    return _count_nonzero(input, dim=_dims(dim, input.ndim))


# ------------------------------------------------------------------------ softmax, log_softmax
# Dedicated ops for stability (the lowering subtracts the maximum) and for rules that reuse out:
#   softmax:     dx = out * (g - sum(g * out))
#   log_softmax: dx = g - exp(out) * sum(g)
@defop("SoftmaxBackward0", saves=(), save_out=True, fuse=True)
def _softmax(a, *, dim):
    if a.ndim == 0:
        return jax.nn.softmax(a[None], axis=0)[0]
    return jax.nn.softmax(a, axis=dim)


@_softmax.vjp
def _(g, out, a, *, dim):
    return (out * (g - (g * out).sum(dim, keepdim=True)),)


@defop("LogSoftmaxBackward0", saves=(), save_out=True)
def _log_softmax(a, *, dim):
    if a.ndim == 0:
        return jax.nn.log_softmax(a[None], axis=0)[0]
    return jax.nn.log_softmax(a, axis=dim)


@_log_softmax.vjp
def _(g, out, a, *, dim):
    return (g - out.exp() * g.sum(dim, keepdim=True),)


def _softmax_dim(op: str, input: Tensor, dim, dtype) -> tuple:
    if dim is None:  # PyTorch's deprecated implicit choice (_get_softmax_dim)
        dim = 0 if input.ndim in (0, 1, 3) else 1
        warnings.warn(
            f"Implicit dimension choice for {op} has been deprecated. Change the call to include "
            "dim=X as an argument.",
            UserWarning,
            stacklevel=3,
        )
    if dtype is not None:
        input = input.to(dtype)
    d = _wrap_dim(dim, input.ndim)
    if not input.dtype.is_floating_point:
        kernel = "softmax_lastdim_kernel_impl" if d == input.ndim - 1 else "softmax_kernel_impl"
        if op == "log_softmax":
            kernel = "log_" + kernel
        raise RuntimeError(f"\"{kernel}\" not implemented for '{scalar_type_name(input.dtype)}'")
    return input, d


@expose
def softmax(input: Tensor, dim: int | None, dtype=None) -> Tensor:
    """``exp(x) / sum(exp(x), dim)``, computed stably; ``dtype`` casts the input first."""
    input, d = _softmax_dim("softmax", input, dim, dtype)
    return _softmax(input, dim=d)


@expose
def log_softmax(input: Tensor, dim: int | None, dtype=None) -> Tensor:
    """``x - logsumexp(x, dim)``, computed stably; ``dtype`` casts the input first."""
    input, d = _softmax_dim("log_softmax", input, dim, dtype)
    return _log_softmax(input, dim=d)
