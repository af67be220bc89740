"""Scans, differences and integrals along a dimension: ``cummax``/``cummin``, ``logcumsumexp``,
``diff``, ``gradient``, ``trapezoid``/``trapz``/``cumulative_trapezoid``, and the covariance
``cov``/``corrcoef``.

``cummax``/``cummin`` are an index scan (int64, no gradient) followed by a gather of the values at
those indices, so the gradient is scattered (summed) back to the positions each running extremum
came from, as PyTorch's ``cummaxmin_backward``. ``logcumsumexp`` has its own rule. The rest are
compositions of slices, sums and products, whose rules give their gradients.
"""

from __future__ import annotations

import builtins
import math
import warnings

import jax
import jax.numpy as jnp
from jax import lax

from .._dtype import get_default_dtype, scalar_type_name
from .._surface import expose
from ..tensor import Tensor, _wrap_dim, tensor
from .elementwise import where
from .linalg import mm
from .reduction import return_types
from .registry import defop
from .shape import cat
from .sorting import _take_along

__all__ = [
    "cummax",
    "cummin",
    "logcumsumexp",
    "diff",
    "gradient",
    "trapezoid",
    "trapz",
    "cumulative_trapezoid",
    "cov",
    "corrcoef",
]


# --------------------------------------------------------------------------------- cummax, cummin
# The index of the running extremum: the later index wins ties (PyTorch compares with >= / <=),
# and a NaN, once seen, stays the extremum; a later NaN takes over its index. Picking the later
# of two (value, index) pairs under that order is associative, so it runs as a parallel scan.
@defop(lambda p: "CummaxBackward0" if p["largest"] else "CumminBackward0")
def _cum_index(a, *, dim, largest):
    x = a.astype(jnp.uint8) if a.dtype == jnp.bool_ else a
    idx = lax.broadcasted_iota(jnp.int64, x.shape, dim)
    floating = jnp.issubdtype(x.dtype, jnp.inexact)

    def pick(first, second):
        v1, i1 = first
        v2, i2 = second
        take = (v2 >= v1) if largest else (v2 <= v1)
        if floating:
            take = jnp.isnan(v2) | (~jnp.isnan(v1) & take)
        return jnp.where(take, v2, v1), jnp.where(take, i2, i1)

    return lax.associative_scan(pick, (x, idx), axis=dim)[1]


def _cum_extremum(input: Tensor, dim: int, largest: bool):
    d = _wrap_dim(dim, input.ndim)
    x = input.reshape(1) if input.ndim == 0 else input
    idx = _cum_index(x, dim=d, largest=largest)
    name = "CummaxBackward0" if largest else "CumminBackward0"
    values = _take_along(x, idx, dim=d, name=name)
    if input.ndim == 0:
        values, idx = values.reshape(()), idx.reshape(())
    return getattr(return_types, "cummax" if largest else "cummin")(values, idx)


@expose
def cummax(input: Tensor, dim: int):
    """The running maximum along ``dim`` and the index it came from (the last of equal values; NaN
    propagates), as a ``(values, indices)`` named tuple (``torch.return_types.cummax``). The
    gradient is summed back to those indices."""
    return _cum_extremum(input, dim, True)


@expose
def cummin(input: Tensor, dim: int):
    """The running minimum along ``dim`` and the index it came from (the last of equal values; NaN
    propagates), as a ``(values, indices)`` named tuple (``torch.return_types.cummin``). The
    gradient is summed back to those indices."""
    return _cum_extremum(input, dim, False)


# ------------------------------------------------------------------------------------ logcumsumexp
# out_i = log sum_{k<=i} exp(x_k), so dx_k = sum_{i>=k} g_i exp(x_k - out_i). Summed directly, the
# exp(-out_i) overflow; PyTorch's stable form splits g by sign and sums in log space with the same
# scan run in reverse:  dx = exp(x + rlcse(log g+ - out)) - exp(x + rlcse(log g- - out)).
# A sign with no entries in a suffix gives -inf there, whose exp is exactly 0. Where out is -inf
# (every x_k so far -inf) the gradient is NaN (-inf + inf), as PyTorch's.
@defop("LogcumsumexpBackward0", save_out=True)
def _logcumsumexp(a, *, dim, reverse):
    if a.ndim == 0:
        return a
    return lax.cumlogsumexp(a, axis=dim, reverse=reverse)


@_logcumsumexp.vjp
def _(g, out, a, *, dim, reverse):
    if a.ndim == 0:
        return (g,)
    ninf = -math.inf
    pos, neg = g > 0, g < 0
    lp = where(pos, where(pos, g, 1.0).log() - out, ninf)
    ln = where(neg, where(neg, -g, 1.0).log() - out, ninf)
    rp = _logcumsumexp(lp, dim=dim, reverse=not reverse)
    rn = _logcumsumexp(ln, dim=dim, reverse=not reverse)
    return ((a + rp).exp() - (a + rn).exp(),)


@expose
def logcumsumexp(input: Tensor, dim: int) -> Tensor:
    """``log(cumsum(exp(input), dim))``, computed stably; floating inputs only, as in PyTorch."""
    if not input.dtype.is_floating_point:
        raise NotImplementedError(
            f"\"logcumsumexp_out_cpu\" not implemented for '{scalar_type_name(input.dtype)}'"
        )
    return _logcumsumexp(input, dim=_wrap_dim(dim, input.ndim), reverse=False)


# ------------------------------------------------------------------------------------------- diff
def _pieces(x: Tensor, d: int) -> tuple[Tensor, Tensor]:
    """``x[1:]`` and ``x[:-1]`` along ``d`` (empty when ``x`` has no elements there)."""
    n = builtins.max(x.shape[d] - 1, 0)
    return x.narrow(d, builtins.min(1, x.shape[d]), n), x.narrow(d, 0, n)


@expose
def diff(
    input: Tensor,
    n: int = 1,
    dim: int = -1,
    prepend: Tensor | None = None,
    append: Tensor | None = None,
) -> Tensor:
    """The ``n``-th forward difference along ``dim`` (``x[1:] - x[:-1]``, applied ``n`` times;
    ``!=`` for bool), after joining ``prepend`` and ``append`` to ``input`` along ``dim``."""
    if input.ndim == 0:
        raise RuntimeError("diff expects input to be at least one-dimensional")
    if n < 0:
        raise RuntimeError(f"order must be non-negative but got {n}")
    d = _wrap_dim(dim, input.ndim)
    parts = []
    for extra in (prepend, append):
        if extra is not None and extra.ndim != input.ndim:
            raise RuntimeError("diff expects prepend or append to be the same dimension as input")
    if prepend is not None:
        parts.append(prepend)
    parts.append(input)
    if append is not None:
        parts.append(append)
    x = cat(parts, d) if len(parts) > 1 else input
    for _ in range(n):
        upper, lower = _pieces(x, d)
        x = upper.logical_xor(lower) if x.dtype.name == "bool" else upper - lower
    return x


# --------------------------------------------------------------------------------------- gradient
def _dims_list(dim, ndim: int) -> list[int]:
    if dim is None:
        return list(range(ndim))
    dims = [dim] if isinstance(dim, int) else list(dim)
    wrapped = [_wrap_dim(d, ndim) for d in dims]
    if len(set(wrapped)) != len(wrapped):
        raise RuntimeError("torch.gradient expected each dimension to be unique")
    return wrapped


def _uniform_gradient(f: Tensor, d: int, h, edge_order: int) -> Tensor:
    n = f.shape[d]

    def at(i, length=1):
        return f.narrow(d, i if i >= 0 else n + i, length)

    interior = (at(2, n - 2) - at(0, n - 2)) / (2 * h)
    if edge_order == 1:
        first = (at(1) - at(0)) / h
        last = (at(-1) - at(-2)) / h
    else:
        first = (-1.5 * at(0) + 2.0 * at(1) - 0.5 * at(2)) / h
        last = (0.5 * at(-3) - 2.0 * at(-2) + 1.5 * at(-1)) / h
    return cat([first, interior, last], d)


def _coordinate_gradient(f: Tensor, d: int, x: Tensor, edge_order: int) -> Tensor:
    n = f.shape[d]
    shape = [1] * f.ndim
    shape[d] = -1

    def at(i, length=1):
        return f.narrow(d, i if i >= 0 else n + i, length)

    dx = (x[1:] - x[:-1]).to(f.dtype)
    dx1, dx2 = dx[:-1].reshape(shape), dx[1:].reshape(shape)
    a = -dx2 / (dx1 * (dx1 + dx2))
    b = (dx2 - dx1) / (dx1 * dx2)
    c = dx1 / (dx2 * (dx1 + dx2))
    interior = a * at(0, n - 2) + b * at(1, n - 2) + c * at(2, n - 2)
    if edge_order == 1:
        first = (at(1) - at(0)) / dx[0]
        last = (at(-1) - at(-2)) / dx[-1]
    else:
        p, q = dx[0], dx[1]
        first = (
            -(2 * p + q) / (p * (p + q)) * at(0)
            + (p + q) / (p * q) * at(1)
            - p / (q * (p + q)) * at(2)
        )
        p, q = dx[-2], dx[-1]
        last = (
            q / (p * (p + q)) * at(-3)
            - (q + p) / (p * q) * at(-2)
            + (2 * q + p) / (q * (p + q)) * at(-1)
        )
    return cat([first, interior, last], d)


def gradient(input: Tensor, *, spacing=1, dim=None, edge_order: int = 1) -> tuple:
    """The derivative of ``input`` along each dimension in ``dim`` (all by default) by central
    differences inside and one-sided differences of order ``edge_order`` (1 or 2) at the edges, as
    ``numpy.gradient``. ``spacing``: one number for every dimension, one per dimension, or one
    coordinate tensor per dimension. Returns a tuple, one tensor per dimension."""
    dims = _dims_list(dim, input.ndim)
    if edge_order not in (1, 2):
        raise RuntimeError(
            f"torch.gradient only supports edge_order=1 and edge_order=2. Got {edge_order}"
        )
    if isinstance(spacing, (int, float)) or (isinstance(spacing, Tensor) and spacing.ndim == 0):
        spacings = [spacing] * len(dims)
    else:
        spacings = list(spacing)
        if len(spacings) != len(dims):
            raise RuntimeError(
                f"torch.gradient expected spacing to be unspecified, a scalar or it's spacing and "
                f"dim arguments to have the same length, but got a spacing argument of length "
                f"{len(spacings)} and a dim argument of length {len(dims)}."
            )
    f = input
    if not f.dtype.is_floating_point:
        f = f.to(get_default_dtype())
    out = []
    for d, h in zip(dims, spacings):
        if input.shape[d] < edge_order + 1:
            raise RuntimeError(
                "torch.gradient expected each dimension size to be at least edge_order+1"
            )
        if isinstance(h, Tensor) and h.ndim == 1:
            if h.shape[0] != input.shape[d]:
                raise RuntimeError(
                    f"torch.gradient expected each tensor to be on the same device as the input "
                    f"and to have {input.shape[d]} elements along dimension {d}"
                )
            out.append(_coordinate_gradient(f, d, h, edge_order))
        else:
            out.append(_uniform_gradient(f, d, h, edge_order))
    return tuple(out)


# ------------------------------------------------------------------- trapezoid and its cumulative
def _spacing_along(x: Tensor, y: Tensor, d: int) -> Tensor:
    """The widths ``x[1:] - x[:-1]`` placed to broadcast against ``y``'s pieces along ``d``."""
    if x.ndim == 1:
        if x.shape[0] != y.shape[d]:
            raise RuntimeError(
                f"trapezoid: There must be one `x` value for each sample point, but got "
                f"{x.shape[0]} and {y.shape[d]}"
            )
        shape = [1] * y.ndim
        shape[d] = -1
        return (x[1:] - x[:-1]).reshape(shape)
    upper, lower = _pieces(x, _wrap_dim(d - y.ndim, x.ndim))
    return upper - lower


def _trapezoid_args(y: Tensor, x, dx):
    if x is not None and dx is not None:
        raise TypeError(
            "trapezoid() received an invalid combination of arguments: give x or dx, not both"
        )
    if isinstance(x, (int, float)):  # trapezoid(y, 2.0): PyTorch's (y, dx) overload
        x, dx = None, x
    return x, 1 if dx is None else dx


def trapezoid(y: Tensor, x=None, *, dx=None, dim: int = -1) -> Tensor:
    """The trapezoidal rule along ``dim``: the integral of ``y`` over sample points ``x`` (a 1-d
    tensor or one of ``y``'s shape), or over points ``dx`` apart (1 by default)."""
    x, dx = _trapezoid_args(y, x, dx)
    d = _wrap_dim(dim, y.ndim)
    if y.shape[d] == 0:
        return y.sum(d) * 0
    upper, lower = _pieces(y, d)
    if x is not None:
        return (_spacing_along(x, y, d) * (upper + lower)).sum(d) / 2.0
    return (y.sum(d) - (y.select(d, 0) + y.select(d, -1)) * 0.5) * dx


def trapz(y: Tensor, x=None, *, dx=None, dim: int = -1) -> Tensor:
    """``trapezoid``, under NumPy's older name."""
    return trapezoid(y, x, dx=dx, dim=dim)


def cumulative_trapezoid(y: Tensor, x=None, *, dx=None, dim: int = -1) -> Tensor:
    """The running trapezoidal rule along ``dim`` (one element shorter than ``y`` there): the
    integral up to each sample point after the first."""
    x, dx = _trapezoid_args(y, x, dx)
    d = _wrap_dim(dim, y.ndim)
    upper, lower = _pieces(y, d)
    if x is not None:
        return (_spacing_along(x, y, d) * (upper + lower) / 2.0).cumsum(d)
    return (dx / 2.0 * (upper + lower)).cumsum(d)


# ------------------------------------------------------------------------------- cov, corrcoef
def _traced(x: Tensor) -> bool:
    """Whether ``x`` is traced (a compiled function): value checks then cannot run."""
    return isinstance(x._storage.array, jax.core.Tracer)


def _check_weights(w: Tensor, name: str, n: int) -> None:
    if w.ndim > 1:
        raise RuntimeError(
            f"cov(): expected {name} to have one or fewer dimensions but got {name} with "
            f"{w.ndim} dimensions"
        )
    if w.numel() != n:
        raise RuntimeError(
            f"cov(): expected {name} to have the same numel as there are observations in the "
            f"input but got {w.numel()} != {n}"
        )
    if n and not _traced(w) and bool((w.min() < 0).item()):
        raise RuntimeError(f"cov(): {name} cannot be negative")


@expose
def cov(
    input: Tensor,
    *,
    correction: int = 1,
    fweights: Tensor | None = None,
    aweights: Tensor | None = None,
) -> Tensor:
    """The covariance matrix of the variables in ``input``'s rows (observations in columns; a 1-d
    input is one variable), with ``correction`` (1: Bessel's) and optional integer frequency
    weights ``fweights`` and float observation weights ``aweights``; a single variable gives a
    0-d tensor."""
    if input.ndim > 2:
        raise RuntimeError(
            "cov(): expected input to have two or fewer dimensions but got an input with "
            f"{input.ndim} dimensions"
        )
    if input.dtype.name == "bool":
        raise RuntimeError("cov(): bool dtype is not supported for input")
    x = input.reshape(1, -1) if input.ndim < 2 else input
    n = x.shape[1]
    w = None
    if fweights is not None:
        if fweights.dtype.is_floating_point or fweights.dtype.name == "bool":
            raise RuntimeError(
                "cov(): expected fweights to have integral dtype but got fweights with "
                f"{scalar_type_name(fweights.dtype)} dtype"
            )
        _check_weights(fweights, "fweights", n)
        w = fweights
    if aweights is not None:
        if not aweights.dtype.is_floating_point:
            raise RuntimeError(
                "cov(): expected aweights to have floating point dtype but got aweights with "
                f"{scalar_type_name(aweights.dtype)} dtype"
            )
        _check_weights(aweights, "aweights", n)
        w = aweights if w is None else w * aweights
    if w is None:
        w_sum = tensor(n)
        avg = x.sum(1) / w_sum
    else:
        w_sum = w.sum()
        if not _traced(w_sum) and bool((w_sum == 0).item()):
            raise RuntimeError("cov(): weights sum to zero, can't be normalized")
        avg = (x * w).sum(1) / w_sum
    if w is not None and correction != 0:
        if aweights is not None:
            norm = w_sum - correction * (w * aweights).sum() / w_sum
        else:
            norm = w_sum - correction
    else:
        norm = w_sum - correction
    if not _traced(norm) and bool((norm <= 0).item()):
        warnings.warn(
            "cov(): degrees of freedom is <= 0. Correction should be strictly less than the "
            "number of observations.",
            UserWarning,
            stacklevel=2,
        )
        norm = norm * 0
    centred = x - avg.unsqueeze(1)
    c = mm(centred, (centred if w is None else centred * w).t())
    return (c / norm).squeeze()


@expose
def corrcoef(input: Tensor) -> Tensor:
    """The Pearson correlation coefficients of the variables in ``input``'s rows (observations in
    columns): ``cov`` normalised by the standard deviations, clipped to [-1, 1]."""
    if input.ndim > 2:
        raise RuntimeError(
            "corrcoef(): expected input to have two or fewer dimensions but got an input with "
            f"{input.ndim} dimensions"
        )
    c = cov(input)
    if c.ndim == 0:
        return c / c
    std = c.diagonal().sqrt()
    c = c / std.reshape(-1, 1)
    c = c / std.reshape(1, -1)
    return c.clamp(-1, 1)
