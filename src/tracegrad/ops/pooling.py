"""Pooling, as ``torch.nn.functional``: max, average and adaptive max/average pooling.

Every public function normalises PyTorch's arguments and checks them with PyTorch's messages
(``_window_args.py``), then calls one of a few registered ops, each a lowering (on the window
primitives of ``_window.py``) plus a hand-written rule in tracegrad ops:

- ``max_pool``: ``lax.reduce_window`` (max). Its rule recomputes the arg-max indices
  (``max_pool_indices``: the windows as strided slices, the first maximum in scan order, as
  PyTorch) and scatters ``g`` there (``max_pool_backward``, whose own rule is a gather).
- ``avg_pool``: ``lax.reduce_window`` (add) over PyTorch's divisor map; its rule is the
  transpose (``avg_pool_backward``: the cotangent divided by the same map, dilated by the
  stride, padded and summed over windows), whose rule is ``avg_pool`` again.
- ``adaptive_max_pool``: the variable windows gathered to a fixed width, then as max_pool.
- Adaptive average pooling is ``avg_pool`` for even windows, else a ``resample`` map
  (``resample.py``).

``pad``, ``unfold`` and ``fold`` live in ``resample.py`` (``interpolate`` in ``resize.py``); they are importable
from here too, as before.
"""

from __future__ import annotations

import math

import jax.numpy as jnp
import numpy as np
from jax import lax

from .. import _caches
from ..tensor import Tensor
from ._window import (
    _TABLES,
    _dilated,
    _double,
    _first_max_index,
    _full,
    _lowest,
    _patches,
    _window_table,
)
from ._window_args import (
    _adaptive_1d_size,
    _adaptive_check,
    _adaptive_size,
    _avg_pool1d_args,
    _check_tensor,
    _max_pool1d_args,
    _pool_args,
    _pool_padding,
)
from .indexing import _gather
from .registry import autocast_entry, defop
from .resample import _resample, fold, pad, unfold  # noqa: F401 (as before)

__all__ = [
    "max_pool1d",
    "max_pool2d",
    "max_pool3d",
    "avg_pool1d",
    "avg_pool2d",
    "avg_pool3d",
    "adaptive_avg_pool1d",
    "adaptive_avg_pool2d",
    "adaptive_avg_pool3d",
    "adaptive_max_pool1d",
    "adaptive_max_pool2d",
    "adaptive_max_pool3d",
]


# ------------------------------------------------------------------------------------ max pooling
def _max_pool_name(p) -> str:
    # Only 2-D and 3-D: PyTorch's max_pool1d runs max_pool2d on an unsqueezed input.
    return {2: "MaxPool2DWithIndicesBackward0", 3: "MaxPool3DWithIndicesBackward0"}[
        len(p["kernel"])
    ]


@defop(_max_pool_name, saves=(0,), fuse=True)
def _max_pool(x, *, kernel, stride, padding, dilation):
    """Max over windows of ``x``'s last ``len(kernel)`` axes, padding (lo, hi) pairs with -inf."""
    nd = len(kernel)
    if any(d != 1 for d in dilation):
        # The same max over the strided-slice windows: JAX (the tests' oracle) cannot
        # differentiate a window-dilated reduce_window max.
        return jnp.max(_patches(x, kernel, stride, dilation, padding, _lowest(x.dtype)), axis=-1)
    k, s, d = (_full(x, nd, v) for v in (kernel, stride, dilation))
    p = _full(x, nd, padding, pads=True)
    return lax.reduce_window(x, _lowest(x.dtype), lax.max, k, s, p, window_dilation=d)


@defop(_max_pool_name, saves=(), fuse=True)
def _max_pool_indices(x, *, kernel, stride, padding, dilation):
    """int64 flat index into each input plane of every window's (first) maximum."""
    nd = len(kernel)
    win = _patches(x, kernel, stride, dilation, padding, _lowest(x.dtype))
    size, out = tuple(x.shape[-nd:]), tuple(win.shape[-nd - 1 : -1])
    table = _window_table(size, out, kernel, stride, dilation, tuple(lo for lo, _ in padding))
    return _first_max_index(win, table)


# The gradient of a max is the cotangent at the arg-max: every window's g is added at its index.
@_max_pool.vjp
def _(g, out, x, *, kernel, stride, padding, dilation):
    params = dict(kernel=kernel, stride=stride, padding=padding, dilation=dilation)
    idx = _max_pool_indices(x, **params)
    name = _max_pool_name(params)
    return (_max_pool_backward(g, idx, size=tuple(x.shape[-len(kernel) :]), name=name),)


def _plane_sizes(shape: tuple, size: tuple) -> tuple:
    """For values of ``shape`` (..., *in) indexed into planes (..., *size): the leading dims, their
    count, and the number of values and of plane positions per leading index."""
    nd = len(size)
    lead = tuple(shape[: len(shape) - nd])
    return lead, math.prod(lead), math.prod(shape[len(shape) - nd :]), math.prod(size)


def _plane_write(v, idx, size: tuple, accumulate: bool):
    """Zeros (..., *size) with every value of the array ``v`` (..., *in) added (``accumulate``) or
    written at its flat plane index ``idx``."""
    lead, b, o, p = _plane_sizes(v.shape, size)
    rows = jnp.arange(b, dtype=jnp.int64)[:, None]
    at = jnp.zeros((b, p), v.dtype).at[rows, idx.reshape(b, o)]
    out = at.add(v.reshape(b, o)) if accumulate else at.set(v.reshape(b, o))
    return out.reshape(*lead, *size)


def _plane_read(plane: Tensor, idx: Tensor, shape: tuple, size: tuple) -> Tensor:
    """The values of ``plane`` (..., *size) at flat plane indices ``idx``, in ``shape`` (..., *in):
    the transpose of ``_plane_write`` (a gather, differentiable again)."""
    _, b, o, p = _plane_sizes(shape, size)
    return _gather(plane.reshape(b, p), idx.reshape(b, o), dim=1).reshape(*shape)


@defop(lambda p: _double(p["name"]), saves=(1,), fuse=True)
def _max_pool_backward(g, idx, *, size, name):
    """Scatter-add of ``g`` (..., *out) at flat plane indices ``idx`` into zeros (..., *size)."""
    return _plane_write(g, idx, size, accumulate=True)


# Linear in g: its transpose reads gg back at the same indices (a gather, differentiable again).
@_max_pool_backward.vjp
def _(gg, out, g, idx, *, size, name):
    return _plane_read(gg, idx, tuple(g.shape), size), None


def _max_pool_nd(
    fname, nd, input, kernel_size, stride, padding, dilation, ceil_mode, return_indices
):
    k, s, p, d = _pool_args(fname, nd, input, kernel_size, stride, padding, dilation)
    pads = _pool_padding(nd, input, k, s, p, d, ceil_mode)
    params = dict(kernel=k, stride=s, padding=pads, dilation=d)
    result = _max_pool(input, **params)
    return (result, _max_pool_indices(input, **params)) if return_indices else result


def max_pool1d(
    input: Tensor,
    kernel_size,
    stride=None,
    padding=0,
    dilation=1,
    ceil_mode: bool = False,
    return_indices: bool = False,
):
    """1-D max pooling of ``input`` (N, C, L) or (C, L), as ``torch.nn.functional.max_pool1d``:
    windows of ``kernel_size`` every ``stride`` (default: ``kernel_size``) elements, ``dilation``
    apart, over the input padded with -inf by ``padding``; ``ceil_mode`` keeps a last partial
    window that starts inside the input. With ``return_indices`` also returns each maximum's
    int64 index along L. Runs as 2-D pooling of a height-1 plane (as PyTorch, so ``grad_fn`` is
    ``SqueezeBackward1``)."""
    k, s, p, d = _max_pool1d_args(input, kernel_size, stride, padding, dilation, ceil_mode)
    res = _max_pool_nd(
        "max_pool2d",
        2,
        input.unsqueeze(-2),
        (1, k[0]),
        (1, s[0]),
        (0, p[0]),
        (1, d[0]),
        ceil_mode,
        return_indices,
    )
    if return_indices:
        return res[0].squeeze(-2), res[1].squeeze(-2)
    return res.squeeze(-2)


def max_pool2d(
    input: Tensor,
    kernel_size,
    stride=None,
    padding=0,
    dilation=1,
    ceil_mode: bool = False,
    return_indices: bool = False,
):
    """2-D max pooling of ``input`` (N, C, H, W) or (C, H, W), as
    ``torch.nn.functional.max_pool2d``: windows of ``kernel_size`` every ``stride`` (default:
    ``kernel_size``), ``dilation`` apart, over the input padded with -inf by ``padding`` (at most
    half the kernel); ``ceil_mode`` keeps a last partial window that starts inside the input or
    the left padding. With ``return_indices`` also returns the int64 flat index (h * W + w) of
    each maximum in its plane. The gradient goes to the first maximum in window scan order."""
    return _max_pool_nd(
        "max_pool2d", 2, input, kernel_size, stride, padding, dilation, ceil_mode, return_indices
    )


@autocast_entry("max_pool3d")
def max_pool3d(
    input: Tensor,
    kernel_size,
    stride=None,
    padding=0,
    dilation=1,
    ceil_mode: bool = False,
    return_indices: bool = False,
):
    """3-D max pooling of ``input`` (N, C, D, H, W) or (C, D, H, W), as
    ``torch.nn.functional.max_pool3d``; the options are those of :func:`max_pool2d`, and indices
    are flat (d * H * W + h * W + w) within each volume."""
    return _max_pool_nd(
        "max_pool3d", 3, input, kernel_size, stride, padding, dilation, ceil_mode, return_indices
    )


# ------------------------------------------------------------------------------------ avg pooling
@_caches.bounded(_TABLES)
def _divisors(size, out, kernel, stride, lo, count_include_pad, divisor_override):
    """PyTorch's divisor per output position (*out), float64: per axis a window
    [o s - p, o s - p + k) is clipped to the padded input [-p, n + p) (the ceil-mode overhang
    never counts), then to the input [0, n) unless padding counts; the 2-D/3-D divisor is the
    product over axes (windows are boxes)."""
    if divisor_override is not None:
        return np.full(out, float(divisor_override))
    div = np.ones(out)
    for i, (n, o, k, s, p) in enumerate(zip(size, out, kernel, stride, lo)):
        start = np.arange(o) * s - p
        end = np.minimum(start + k, n + p)
        count = end - start if count_include_pad else np.minimum(end, n) - np.maximum(start, 0)
        shape = [1] * len(out)
        shape[i] = o
        div = div * count.reshape(shape)
    return div


def _avg_name(p) -> str:
    return p["name"]


@defop(_avg_name, saves=(), fuse=True)
def _avg_pool(x, *, kernel, stride, padding, count_include_pad, divisor_override, name):
    """Window sums of ``x``'s last axes (zero padding by (lo, hi) pairs) over PyTorch's divisors."""
    nd = len(kernel)
    k, s, p = _full(x, nd, kernel), _full(x, nd, stride), _full(x, nd, padding, pads=True)
    total = lax.reduce_window(x, np.array(0, x.dtype), lax.add, k, s, p)
    lo = tuple(a for a, _ in padding)
    div = _divisors(
        tuple(x.shape[-nd:]),
        tuple(total.shape[-nd:]),
        kernel,
        stride,
        lo,
        count_include_pad,
        divisor_override,
    )
    return total / div.astype(x.dtype)


@_avg_pool.vjp
def _(g, out, x, *, kernel, stride, padding, count_include_pad, divisor_override, name):
    size = tuple(x.shape[-len(kernel) :])
    return (
        _avg_pool_backward(
            g,
            size=size,
            kernel=kernel,
            stride=stride,
            padding=padding,
            count_include_pad=count_include_pad,
            divisor_override=divisor_override,
            name=name,
        ),
    )


# The transpose of a window sum: x̄[i] = sum over (o, t) with s o + t - lo = i of ḡ[o].
# Dilate ḡ by s (interior padding s - 1), so ḡ[o] sits at s o; then x̄[i] = sum_t ḡd[i + lo - t],
# a window sum of width k over ḡd padded by k - 1 - lo in front (and n + lo - D(o, s) behind, a
# crop when negative: trailing inputs no window reached get zeros, a ceil-mode overhang is cut).
@defop(lambda p: _double(p["name"]), saves=(), fuse=True)
def _avg_pool_backward(
    g, *, size, kernel, stride, padding, count_include_pad, divisor_override, name
):
    """The transpose of ``avg_pool`` (to an input of spatial ``size``) applied to ``g``."""
    nd = len(kernel)
    out = tuple(g.shape[-nd:])
    lo = tuple(a for a, _ in padding)
    div = _divisors(size, out, kernel, stride, lo, count_include_pad, divisor_override)
    g = g / div.astype(g.dtype)
    cfg = [(0, 0, 0)] * (g.ndim - nd)
    cfg += [
        (k - 1 - p, n + p - _dilated(o, s), s - 1)
        for n, o, k, s, p in zip(size, out, kernel, stride, lo)
    ]
    g = lax.pad(g, np.array(0, g.dtype), cfg)
    k = _full(g, nd, kernel)
    return lax.reduce_window(g, np.array(0, g.dtype), lax.add, k, (1,) * g.ndim, "VALID")


@_avg_pool_backward.vjp
def _(gg, out, g, *, size, kernel, stride, padding, count_include_pad, divisor_override, name):
    return (
        _avg_pool(
            gg,
            kernel=kernel,
            stride=stride,
            padding=padding,
            count_include_pad=count_include_pad,
            divisor_override=divisor_override,
            name=name,
        ),
    )


def _avg_pool_nd(
    fname, nd, input, kernel_size, stride, padding, ceil_mode, count_include_pad, divisor_override
):
    k, s, p, d = _pool_args(fname, nd, input, kernel_size, stride, padding, 1)
    if divisor_override is not None and divisor_override == 0:
        raise RuntimeError("divisor must be not zero")
    if not input.dtype.is_floating_point:
        raise RuntimeError(f'"{fname}" not implemented for {input.dtype}: use a float dtype')
    return _avg_pool(
        input,
        kernel=k,
        stride=s,
        padding=_pool_padding(nd, input, k, s, p, d, ceil_mode),
        count_include_pad=bool(count_include_pad),
        divisor_override=None if divisor_override is None else int(divisor_override),
        name=f"AvgPool{nd}DBackward0",
    )


def avg_pool1d(
    input: Tensor,
    kernel_size,
    stride=None,
    padding=0,
    ceil_mode: bool = False,
    count_include_pad: bool = True,
) -> Tensor:
    """1-D average pooling of ``input`` (N, C, L) or (C, L), as
    ``torch.nn.functional.avg_pool1d``: the options and divisors of :func:`avg_pool2d`, run as
    2-D pooling of a height-1 plane (``grad_fn`` is ``SqueezeBackward1``, as in PyTorch)."""
    k, s, p = _avg_pool1d_args(input, kernel_size, stride, padding)
    out = _avg_pool_nd(
        "avg_pool2d",
        2,
        input.unsqueeze(-2),
        (1, k[0]),
        (1, s[0]),
        (0, p[0]),
        ceil_mode,
        count_include_pad,
        None,
    )
    return out.squeeze(-2)


def avg_pool2d(
    input: Tensor,
    kernel_size,
    stride=None,
    padding=0,
    ceil_mode: bool = False,
    count_include_pad: bool = True,
    divisor_override: int | None = None,
) -> Tensor:
    """2-D average pooling of ``input`` (N, C, H, W) or (C, H, W), as
    ``torch.nn.functional.avg_pool2d``: window sums over the zero-padded input divided by
    PyTorch's divisor: ``divisor_override`` if given, else the window's size clipped to the
    padded input (``count_include_pad=True``; a ``ceil_mode`` overhang never counts) or to the
    input itself (``count_include_pad=False``)."""
    return _avg_pool_nd(
        "avg_pool2d",
        2,
        input,
        kernel_size,
        stride,
        padding,
        ceil_mode,
        count_include_pad,
        divisor_override,
    )


@autocast_entry("avg_pool3d")
def avg_pool3d(
    input: Tensor,
    kernel_size,
    stride=None,
    padding=0,
    ceil_mode: bool = False,
    count_include_pad: bool = True,
    divisor_override: int | None = None,
) -> Tensor:
    """3-D average pooling of ``input`` (N, C, D, H, W) or (C, D, H, W), as
    ``torch.nn.functional.avg_pool3d``, with the options and divisors of :func:`avg_pool2d`."""
    return _avg_pool_nd(
        "avg_pool3d",
        3,
        input,
        kernel_size,
        stride,
        padding,
        ceil_mode,
        count_include_pad,
        divisor_override,
    )


# --------------------------------------------------------------------------- adaptive max pooling
@_caches.bounded(_TABLES)
def _adaptive_bounds(n: int, o: int) -> tuple:
    """PyTorch's adaptive windows: [floor(i n / o), ceil((i + 1) n / o)) for output i."""
    return tuple((i * n // o, -(-(i + 1) * n // o)) for i in range(o))


@_caches.bounded(_TABLES)
def _adaptive_windows(size, out):
    """Per-axis gather indices (o, kmax) of the adaptive windows, each padded to the widest by
    repeating its last element (neither the max nor the first arg-max changes), and the (*out,
    K) flat-index table of the gathered windows."""
    idx = []
    for n, o in zip(size, out):
        bounds = _adaptive_bounds(n, o)
        kmax = max((e - b for b, e in bounds), default=1)
        idx.append(
            np.array(
                [[min(b + t, e - 1) for t in range(kmax)] for b, e in bounds], np.int64
            ).reshape(o, kmax)
        )
    nd = len(size)
    grids, flat = [], np.zeros((), np.int64)
    for i, ix in enumerate(idx):
        shape = [1] * (2 * nd)
        shape[2 * i : 2 * i + 2] = ix.shape
        grids.append(ix.reshape(shape))
        flat = flat * size[i] + grids[-1]
    perm = [2 * i for i in range(nd)] + [2 * i + 1 for i in range(nd)]
    table = np.broadcast_to(flat, [s for ix in idx for s in ix.shape]).transpose(perm)
    return tuple(grids), table.reshape(*out, -1)


def _adaptive_gather(x, out):
    """(..., *size) -> (..., *out, K): every adaptive window, padded to a common width."""
    nd = len(out)
    grids, table = _adaptive_windows(tuple(x.shape[-nd:]), tuple(out))
    win = x[(Ellipsis, *grids)]  # (..., o1, k1, o2, k2, ...)
    lead = x.ndim - nd
    perm = (
        list(range(lead))
        + [lead + 2 * i for i in range(nd)]
        + [lead + 2 * i + 1 for i in range(nd)]
    )
    win = jnp.transpose(win, perm)
    return win.reshape(*win.shape[: lead + nd], -1), table


def _adaptive_max_name(p) -> str:
    nd = len(p["output_size"])  # 2 or 3: adaptive_max_pool1d runs adaptive_max_pool2d
    return {2: "AdaptiveMaxPool2DBackward0", 3: "AdaptiveMaxPool3DBackward0"}[nd]


@defop(_adaptive_max_name, saves=(0,), fuse=True)
def _adaptive_max_pool(x, *, output_size):
    """Max over PyTorch's adaptive windows of ``x``'s last ``len(output_size)`` axes."""
    win, _ = _adaptive_gather(x, output_size)
    return jnp.max(win, axis=-1)


@defop(_adaptive_max_name, saves=(), fuse=True)
def _adaptive_max_pool_indices(x, *, output_size):
    """int64 flat index into each input plane of every adaptive window's (first) maximum."""
    win, table = _adaptive_gather(x, output_size)
    return _first_max_index(win, table)


@_adaptive_max_pool.vjp
def _(g, out, x, *, output_size):
    idx = _adaptive_max_pool_indices(x, output_size=output_size)
    size = tuple(x.shape[-len(output_size) :])
    name = _adaptive_max_name({"output_size": output_size})
    return (_max_pool_backward(g, idx, size=size, name=name),)


@_caches.bounded(_TABLES)
def _adaptive_rows(n: int, o: int) -> tuple:
    """Averaging taps of PyTorch's adaptive windows along one axis."""
    return tuple(tuple((j, 1.0 / (e - b)) for j in range(b, e)) for b, e in _adaptive_bounds(n, o))


def _adaptive_avg(fname: str, nd: int, input, output_size) -> Tensor:
    _check_tensor(fname, input)
    out = _adaptive_size(output_size, input, nd, fname)
    _adaptive_check(fname, nd, input, out)
    if not input.dtype.is_floating_point:
        raise RuntimeError(f'"{fname}" not implemented for {input.dtype}: use a float dtype')
    size = tuple(input.shape[-nd:])
    name = f"AdaptiveAvgPool{nd}DBackward0"
    if all(o > 0 and n % o == 0 for n, o in zip(size, out)):
        # Even windows are ordinary average pooling: kernel = stride = n / o (reduce_window).
        k = tuple(n // o for n, o in zip(size, out))
        return _avg_pool(
            input,
            kernel=k,
            stride=k,
            padding=((0, 0),) * nd,
            count_include_pad=True,
            divisor_override=None,
            name=name,
        )
    axes = tuple((i - nd, _adaptive_rows(n, o)) for i, (n, o) in enumerate(zip(size, out)))
    return _resample(input, axes=axes, name=name, transposed=False)


def adaptive_avg_pool1d(input: Tensor, output_size) -> Tensor:
    """Adaptive 1-D average pooling of ``input`` (N, C, L) or (C, L) to length ``output_size``, as
    ``torch.nn.functional.adaptive_avg_pool1d``: output i averages the input over
    [floor(i L / out), ceil((i + 1) L / out)). Runs as 2-D pooling (``SqueezeBackward1``)."""
    o = _adaptive_1d_size("adaptive_avg_pool1d", input, output_size)
    return _adaptive_avg("adaptive_avg_pool2d", 2, input.unsqueeze(-2), (1, o)).squeeze(-2)


def adaptive_avg_pool2d(input: Tensor, output_size) -> Tensor:
    """Adaptive 2-D average pooling of ``input`` (N, C, H, W) or (C, H, W) to ``output_size``
    (an int, or a pair whose None entries keep the input's size), as
    ``torch.nn.functional.adaptive_avg_pool2d``: PyTorch's windows
    [floor(i n / out), ceil((i + 1) n / out)) per axis."""
    return _adaptive_avg("adaptive_avg_pool2d", 2, input, output_size)


@autocast_entry("adaptive_avg_pool3d")
def adaptive_avg_pool3d(input: Tensor, output_size) -> Tensor:
    """Adaptive 3-D average pooling of ``input`` (N, C, D, H, W) or (C, D, H, W) to
    ``output_size``, as ``torch.nn.functional.adaptive_avg_pool3d`` (see
    :func:`adaptive_avg_pool2d`)."""
    return _adaptive_avg("adaptive_avg_pool3d", 3, input, output_size)


def _adaptive_max(fname: str, nd: int, input, output_size, return_indices: bool):
    _check_tensor(fname, input)
    out = _adaptive_size(output_size, input, nd, fname)
    _adaptive_check(fname, nd, input, out, colon=":")
    result = _adaptive_max_pool(input, output_size=out)
    if return_indices:
        return result, _adaptive_max_pool_indices(input, output_size=out)
    return result


def adaptive_max_pool1d(input: Tensor, output_size, return_indices: bool = False):
    """Adaptive 1-D max pooling of ``input`` (N, C, L) or (C, L), as
    ``torch.nn.functional.adaptive_max_pool1d`` (PyTorch's windows; with ``return_indices`` also
    the int64 index of each maximum). Runs as 2-D pooling (``SqueezeBackward1``)."""
    o = _adaptive_1d_size("adaptive_max_pool1d", input, output_size)
    res = _adaptive_max("adaptive_max_pool2d", 2, input.unsqueeze(-2), (1, o), return_indices)
    if return_indices:
        return res[0].squeeze(-2), res[1].squeeze(-2)
    return res.squeeze(-2)


def adaptive_max_pool2d(input: Tensor, output_size, return_indices: bool = False):
    """Adaptive 2-D max pooling of ``input`` (N, C, H, W) or (C, H, W) to ``output_size`` (None
    entries keep the input's size), as ``torch.nn.functional.adaptive_max_pool2d``; with
    ``return_indices`` also the int64 flat index (h * W + w) of each maximum. The gradient goes
    to the first maximum in window scan order."""
    return _adaptive_max("adaptive_max_pool2d", 2, input, output_size, return_indices)


@autocast_entry("adaptive_max_pool3d")
def adaptive_max_pool3d(input: Tensor, output_size, return_indices: bool = False):
    """Adaptive 3-D max pooling of ``input`` (N, C, D, H, W) or (C, D, H, W), as
    ``torch.nn.functional.adaptive_max_pool3d`` (see :func:`adaptive_max_pool2d`)."""
    return _adaptive_max("adaptive_max_pool3d", 3, input, output_size, return_indices)


# ----------------------------------------------------------------------------------- max unpool
def _unpool_name(p) -> str:
    # Only 2-D and 3-D: PyTorch's max_unpool1d runs max_unpool2d on an unsqueezed input.
    return {2: "MaxUnpool2DBackward0", 3: "MaxUnpool3DBackward0"}[len(p["size"])]


@defop(_unpool_name, saves=(1,), fuse=True)
def _max_unpool(x, idx, *, size):
    """Zeros (..., *size) with every value of ``x`` (..., *in) written at its flat plane index
    ``idx`` (a write, not an add: an index given twice keeps one value, as PyTorch's kernel)."""
    return _plane_write(x, idx, size, accumulate=False)


# Each input value lands at its index, so its gradient is the cotangent read back there (a gather,
# whose rule is a scatter-add: differentiable again). PyTorch's rule is the same gather, so with
# a repeated index every copy gets the gradient of the one place they were written to.
@_max_unpool.vjp
def _(g, out, x, idx, *, size):
    return _plane_read(g, idx, tuple(x.shape), size), None
