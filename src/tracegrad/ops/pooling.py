"""Pooling and friends, as ``torch.nn.functional``: max/avg/adaptive pooling, ``pad``,
``interpolate``, ``unfold`` and ``fold``.

Every public function normalises PyTorch's arguments, checks them with PyTorch's messages, and
calls one of a few registered ops, each a lowering plus a hand-written rule in tracegrad ops:

- ``max_pool``: ``lax.reduce_window`` (max). Its rule recomputes the arg-max indices
  (``max_pool_indices``: the windows as strided slices, the first maximum in scan order, as
  PyTorch) and scatters ``g`` there (``max_pool_backward``, whose own rule is a gather).
- ``avg_pool``: ``lax.reduce_window`` (add) over PyTorch's divisor map; its rule is the
  transpose (``avg_pool_backward``: the cotangent divided by the same map, dilated by the
  stride, padded and summed over windows), whose rule is ``avg_pool`` again.
- ``adaptive_max_pool``: the variable windows gathered to a fixed width, then as max_pool.
- ``resample``: a sparse linear map applied along some axes, each output element a few weighted
  gathers (``take``) of the input. Reflect/replicate/circular padding, nearest and linear
  interpolation and adaptive average pooling with uneven windows are such maps. Its rule is the
  same op with each axis' map transposed (again a few gathers per element: no scatter).
- ``constant_pad`` (``lax.pad``; its rule crops with the negated pads), ``im2col``/``col2im``
  (``unfold``/``fold``: strided slices and their transpose, interior-padded sums), each the
  other's rule.
"""

from __future__ import annotations

import functools
import math

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax

from .. import _caches
from ..tensor import Tensor
from .indexing import _gather
from .registry import defop

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
    "pad",
    "interpolate",
    "unfold",
    "fold",
]

# Index and weight tables are keyed on input/output sizes, so a new shape adds entries: keep the
# most recently used (tracegrad.clear_caches() empties them).
_TABLES = 128


def _jit(lowering):
    """Compile a lowering once per shape and params. Run eagerly, each of its many primitives
    (strided slices, gathers) would be dispatched and compiled on its own; under an outer
    ``jax.jit`` this is inlined."""
    code = lowering.__code__
    static = code.co_varnames[code.co_argcount : code.co_argcount + code.co_kwonlyargcount]
    compiled = jax.jit(lowering, static_argnames=static)

    @functools.wraps(lowering)
    def run(*operands, **params):
        return compiled(*operands, **params)

    return run


def _dilated(n: int, d: int) -> int:
    """Extent of ``n`` elements ``d`` apart."""
    return 0 if n == 0 else 1 + d * (n - 1)


def _double(name: str) -> str:
    """PyTorch's name for the backward of a backward: ``XBackward0`` -> ``XBackwardBackward0``."""
    return name[: -len("Backward0")] + "BackwardBackward0"


def _lowest(dtype):
    """The identity of max: -inf for floats, the smallest integer otherwise."""
    dtype = np.dtype(dtype)
    if dtype.kind == "f" or dtype.name == "bfloat16":
        return np.array(-np.inf, dtype)
    if dtype.kind == "b":
        return np.array(False)
    return np.array(np.iinfo(dtype).min, dtype)


def _full(a, nd: int, values, pads: bool = False) -> tuple:
    """Per-axis window parameters extended over ``a``'s leading axes by 1 (or (0, 0) pads)."""
    return ((0, 0) if pads else 1,) * (a.ndim - nd) + tuple(values)


# --------------------------------------------------------------------- windows as strided slices
def _patches(a, kernel, stride, dilation, padding, fill):
    """(..., *spatial) -> (..., *out, K): element ``t`` (row-major over the kernel, PyTorch's scan
    order) of every window, ``a`` padded by ``padding`` pairs with ``fill``. One strided slice per
    kernel offset: XLA fuses them into the consumer."""
    nd = len(kernel)
    lead = a.ndim - nd
    a = lax.pad(
        a, jnp.asarray(fill, a.dtype), [(0, 0, 0)] * lead + [(lo, hi, 0) for lo, hi in padding]
    )
    sp = a.shape[lead:]
    out = [(n - _dilated(k, d)) // s + 1 for n, k, s, d in zip(sp, kernel, stride, dilation)]
    parts = []
    for t in np.ndindex(*kernel):
        start = [0] * lead + [d * ti for d, ti in zip(dilation, t)]
        limit = list(a.shape[:lead]) + [
            b + s * (o - 1) + 1 for b, s, o in zip(start[lead:], stride, out)
        ]
        parts.append(lax.slice(a, start, limit, [1] * lead + list(stride)))
    return jnp.stack(parts, axis=-1)


def _patches_t(g, size, kernel, stride, dilation, lo):
    """The transpose of ``_patches`` (its fill ignored): (..., *out, K) -> (..., *size). Window
    element ``t`` of output ``o`` came from input ``s o + d t - lo``, so slice ``t`` of ``g``,
    dilated by ``s`` and shifted by ``d t - lo`` (``lax.pad``, negative edges crop), lands on the
    input; the K shifted copies are summed."""
    nd = len(kernel)
    lead = g.ndim - nd - 1
    out = g.shape[lead : lead + nd]
    total = None
    for i, t in enumerate(np.ndindex(*kernel)):
        cfg = [(0, 0, 0)] * lead
        for n, o, s, d, ti, low in zip(size, out, stride, dilation, t, lo):
            shift = d * ti - low
            cfg.append((shift, n - shift - _dilated(o, s), s - 1))
        part = lax.pad(g[..., i], jnp.zeros((), g.dtype), cfg)
        total = part if total is None else total + part
    return total


@_caches.bounded(_TABLES)
def _window_table(size, out, kernel, stride, dilation, lo):
    """(*out, K) flat input index (row-major over ``size``) read by window element ``t`` of each
    output position, -1 where it reads padding."""
    nd = len(kernel)
    flat = np.zeros(out + kernel, np.int64)
    valid = np.ones(out + kernel, bool)
    for i in range(nd):
        pos = np.arange(out[i])[:, None] * stride[i] - lo[i] + dilation[i] * np.arange(kernel[i])
        shape = [1] * (2 * nd)
        shape[i], shape[nd + i] = out[i], kernel[i]
        pos = pos.reshape(shape)
        valid = valid & (pos >= 0) & (pos < size[i])
        flat = flat * size[i] + pos
    return np.where(valid, flat, -1).reshape(*out, -1)


def _first_max_index(win, table):
    """The flat input index of each window's first maximum in scan order (NaN counts as the
    maximum), as PyTorch's kernels choose it. ``win`` is (..., *out, K), ``table`` (*out, K) from
    ``_window_table`` or the adaptive one; padding (-1) never wins, even against -inf."""
    hit = win == jnp.max(win, axis=-1, keepdims=True)
    if jnp.issubdtype(win.dtype, jnp.inexact):
        hit = hit | jnp.isnan(win)
    if (table < 0).any():
        hit = hit & (table >= 0)
    t = jnp.argmax(hit, axis=-1)  # the first True
    k = table.shape[-1]
    base = np.arange(table.size // max(k, 1), dtype=np.int64).reshape(table.shape[:-1]) * k
    return jnp.take(jnp.asarray(table.reshape(-1)), base + t, mode="clip")


# ------------------------------------------------------------------------------------ max pooling
def _max_pool_name(p) -> str:
    # Only 2-D and 3-D: PyTorch's max_pool1d runs max_pool2d on an unsqueezed input.
    return {2: "MaxPool2DWithIndicesBackward0", 3: "MaxPool3DWithIndicesBackward0"}[
        len(p["kernel"])
    ]


@defop(_max_pool_name, saves=(0,))
@_jit
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


@defop(_max_pool_name, saves=())
@_jit
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


@defop(lambda p: _double(p["name"]), saves=(1,))
@_jit
def _max_pool_backward(g, idx, *, size, name):
    """Scatter-add of ``g`` (..., *out) at flat plane indices ``idx`` into zeros (..., *size)."""
    nd = len(size)
    lead = g.shape[: g.ndim - nd]
    b, o, p = math.prod(lead), math.prod(g.shape[g.ndim - nd :]), math.prod(size)
    rows = jnp.arange(b, dtype=jnp.int64)[:, None]
    out = jnp.zeros((b, p), g.dtype).at[rows, idx.reshape(b, o)].add(g.reshape(b, o))
    return out.reshape(*lead, *size)


# Linear in g: its transpose reads gg back at the same indices (a gather, differentiable again).
@_max_pool_backward.vjp
def _(gg, out, g, idx, *, size, name):
    nd = len(size)
    b, o, p = math.prod(g.shape[: g.ndim - nd]), math.prod(g.shape[g.ndim - nd :]), math.prod(size)
    picked = _gather(gg.reshape(b, p), idx.reshape(b, o), dim=1)
    return picked.reshape(*g.shape), None


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


@defop(_avg_name, saves=())
@_jit
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
@defop(lambda p: _double(p["name"]), saves=())
@_jit
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


@defop(_adaptive_max_name, saves=(0,))
@_jit
def _adaptive_max_pool(x, *, output_size):
    """Max over PyTorch's adaptive windows of ``x``'s last ``len(output_size)`` axes."""
    win, _ = _adaptive_gather(x, output_size)
    return jnp.max(win, axis=-1)


@defop(_adaptive_max_name, saves=())
@_jit
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


# ------------------------------------------------------------------- sparse maps along axes
@_caches.bounded(_TABLES)
def _dense_rows(rows: tuple):
    """Row taps ((j, w), ...) per output element as (o, T) index and weight arrays, padded with
    masked taps; plus whether any tap is masked and whether every weight is 1."""
    width = max((len(r) for r in rows), default=0)
    idx = np.zeros((len(rows), width), np.int64)
    wts = np.zeros((len(rows), width))
    mask = np.zeros((len(rows), width), bool)
    for i, r in enumerate(rows):
        for t, (j, w) in enumerate(r):
            idx[i, t], wts[i, t], mask[i, t] = j, w, True
    return idx, wts, mask, bool(mask.all()), bool((wts[mask] == 1.0).all())


def _apply_rows(x, axis: int, rows: tuple):
    """y[..., i, ...] = sum over taps (j, w) of row i of w * x[..., j, ...] along ``axis``."""
    idx, wts, mask, full, ones = _dense_rows(rows)
    shape = [1] * x.ndim
    shape[axis] = len(rows)
    if idx.shape[1] == 0:
        out_shape = list(x.shape)
        out_shape[axis] = len(rows)
        return jnp.zeros(out_shape, x.dtype)
    total = None
    for t in range(idx.shape[1]):
        v = jnp.take(x, idx[:, t], axis=axis, mode="clip")
        if not ones:
            v = v * wts[:, t].astype(x.dtype).reshape(shape)
        if not full:
            v = jnp.where(mask[:, t].reshape(shape), v, jnp.zeros((), x.dtype))
        total = v if total is None else total + v
    return total


@_caches.bounded(_TABLES)
def _transpose_rows(rows: tuple, n: int) -> tuple:
    """The same sparse matrix, transposed: taps ((i, w), ...) for each of the ``n`` inputs."""
    cols = [[] for _ in range(n)]
    for i, r in enumerate(rows):
        for j, w in r:
            cols[j].append((i, w))
    return tuple(tuple(c) for c in cols)


@defop(lambda p: _double(p["name"]) if p["transposed"] else p["name"], saves=())
@_jit
def _resample(x, *, axes, name, transposed):
    """A sparse linear map along each of ``axes`` = ((axis, rows), ...): output element i along
    ``axis`` is the sum over the taps (j, w) of ``rows[i]`` of w * input element j. Weights of 1
    are plain copies (integer dtypes work). ``name`` is the forward's grad_fn name."""
    for axis, rows in axes:
        x = _apply_rows(x, axis, rows)
    return x


# Linear: the VJP applies each axis' transposed matrix, again as row taps (gathers, no scatter).
@_resample.vjp
def _(g, out, x, *, axes, name, transposed):
    t_axes = tuple((axis, _transpose_rows(rows, x.shape[axis])) for axis, rows in axes)
    return (_resample(g, axes=t_axes, name=name, transposed=not transposed),)


# ---------------------------------------------------------------------------------- constant pad
@defop("ConstantPadNdBackward0", saves=())
@_jit
def _constant_pad(x, *, pad, value):
    """``lax.pad`` with one (lo, hi) pair per axis of ``x``; negative entries crop."""
    return lax.pad(x, jnp.asarray(value, x.dtype), [(lo, hi, 0) for lo, hi in pad])


# Padding's transpose crops what it added and zero-pads what it cropped: the negated pads.
@_constant_pad.vjp
def _(g, out, x, *, pad, value):
    return (_constant_pad(g, pad=tuple((-lo, -hi) for lo, hi in pad), value=0),)


# --------------------------------------------------------------------------------- im2col/col2im
@defop("Im2ColBackward0", saves=())
@_jit
def _im2col(x, *, kernel, dilation, padding, stride):
    """(..., C, *size) -> (..., C * K, L): PyTorch's unfold, channel-major (c, *kernel) rows."""
    nd = len(kernel)
    win = _patches(x, kernel, stride, dilation, tuple((p, p) for p in padding), 0)
    lead = x.shape[: x.ndim - nd - 1]
    win = jnp.moveaxis(win, -1, len(lead) + 1)  # (..., C, K, *out)
    return win.reshape(*lead, -1, math.prod(win.shape[len(lead) + 2 :]))


@_im2col.vjp
def _(g, out, x, *, kernel, dilation, padding, stride):
    size = tuple(x.shape[-len(kernel) :])
    return (
        _col2im(
            g, output_size=size, kernel=kernel, dilation=dilation, padding=padding, stride=stride
        ),
    )


def _blocks(size, kernel, dilation, padding, stride) -> tuple:
    return tuple(
        (n + 2 * p - _dilated(k, d)) // s + 1
        for n, k, d, p, s in zip(size, kernel, dilation, padding, stride)
    )


@defop("Col2ImBackward0", saves=())
@_jit
def _col2im(x, *, output_size, kernel, dilation, padding, stride):
    """(..., C * K, L) -> (..., C, *output_size): PyTorch's fold, overlapping blocks summed."""
    out = _blocks(output_size, kernel, dilation, padding, stride)
    lead = x.shape[:-2]
    k = math.prod(kernel)
    g = x.reshape(*lead, x.shape[-2] // k, k, *out)
    g = jnp.moveaxis(g, len(lead) + 1, -1)  # (..., C, *out, K)
    return _patches_t(g, output_size, kernel, stride, dilation, padding)


@_col2im.vjp
def _(g, out, x, *, output_size, kernel, dilation, padding, stride):
    return (_im2col(g, kernel=kernel, dilation=dilation, padding=padding, stride=stride),)


# ============================================================================ argument checking
def _sizes(t) -> str:
    return "[" + ", ".join(str(s) for s in t.shape) + "]"


def _check_tensor(fname: str, input) -> None:
    if not isinstance(input, Tensor):
        raise TypeError(f"{fname}(): argument 'input' must be Tensor, not {type(input).__name__}")


def _ints(value, nd: int, message: str, allow_empty: bool = False):
    """An int, or a sequence of 1 or ``nd`` ints, as ``nd`` ints; None for an empty sequence when
    allowed (PyTorch's omitted stride)."""
    if isinstance(value, bool):
        raise TypeError(message)
    if isinstance(value, int) or hasattr(value, "__index__") and not isinstance(value, Tensor):
        return (int(value),) * nd
    value = tuple(int(v) for v in value)
    if allow_empty and not value:
        return None
    if len(value) == 1:
        return value * nd
    if len(value) != nd:
        raise RuntimeError(message)
    return value


def _half(a: int) -> int:
    """C++'s a / 2 (truncating toward zero)."""
    return a // 2 if a >= 0 else -(-a // 2)


def _output_size(n: int, k: int, p: int, s: int, d: int, ceil_mode: bool) -> int:
    """PyTorch's ``pooling_output_shape``: the last window must start inside the input or the
    left padding."""
    if s == 0:
        raise RuntimeError("stride should not be zero")
    if p < 0:
        raise RuntimeError(f"pad must be non-negative, but got pad: {p}")
    if p > _half((k - 1) * d + 1):
        raise RuntimeError(
            f"pad should be at most half of effective kernel size, but got pad={p}, "
            f"kernel_size={k} and dilation={d}"
        )
    o = (n + 2 * p - d * (k - 1) - 1 + (s - 1 if ceil_mode else 0)) // s + 1
    if ceil_mode and (o - 1) * s >= n + p:
        o -= 1
    return o


def _shape_check(nd: int, x: Tensor, k, s, d, p, out) -> None:
    """PyTorch's pool2d_shape_check / pool3d_shape_check (after the output size is known)."""
    if nd == 2:
        kernel_msg = f"kH: {k[0]} kW: {k[1]}"
        stride_msg = f"dH: {s[0]} dW: {s[1]}"
        dil_msg = f"dilationH: {d[0]} dilationW: {d[1]}"
        pad_msg = f"padW = {p[1]}, padH = {p[0]}, kW = {k[1]}, kH = {k[0]}"
    else:
        kernel_msg = f"kT: {k[0]} kH: {k[1]} kW: {k[2]}"
        stride_msg = f"dT: {s[0]} dH: {s[1]} dW: {s[2]}"
        dil_msg = f"dilationT: {d[0]} dilationH: {d[1]} dilationW: {d[2]}"
        pad_msg = f"kT: {k[0]} kW: {k[2]} kH: {k[1]} padT: {p[0]} padW: {p[2]} padH: {p[1]}"
    if min(k) <= 0:
        raise RuntimeError(f"kernel size should be greater than zero, but got {kernel_msg}")
    if min(s) <= 0:
        raise RuntimeError(f"stride should be greater than zero, but got {stride_msg}")
    if min(d) <= 0:
        raise RuntimeError(f"dilation should be greater than zero, but got {dil_msg}")
    if any(n == 0 for n in x.shape[-nd - 1 :]):
        raise RuntimeError(
            f"Expected {nd + 1}D or {nd + 2}D (batch mode) tensor with optional 0 dim batch size "
            f"for input, but got:{_sizes(x)}"
        )
    if any(kk // 2 < pp for kk, pp in zip(k, p)):
        raise RuntimeError(
            f"pad should be smaller than or equal to half of kernel size, but got {pad_msg}"
        )
    if min(out) < 1:
        c = x.shape[-nd - 1]
        raise RuntimeError(
            f"Given input size: ({'x'.join(map(str, (c, *x.shape[-nd:])))}). Calculated output "
            f"size: ({'x'.join(map(str, (c, *out)))}). Output size is too small"
        )


_COUNT = {1: "one", 2: "two", 3: "three"}


def _pool_args(fname: str, nd: int, input, kernel_size, stride, padding, dilation):
    """Normalise and check the window arguments of max/avg_pool{2,3}d."""
    _check_tensor(fname, input)
    n = _COUNT[nd]
    k = _ints(
        kernel_size, nd, f"{fname}: kernel_size must either be a single int, or a tuple of {n} ints"
    )
    s = (
        _ints(
            stride,
            nd,
            f"{fname}: stride must either be omitted, a single int, or a tuple of {n} ints",
            allow_empty=True,
        )
        if stride is not None
        else None
    )
    s = k if s is None else s
    p = _ints(padding, nd, f"{fname}: padding must either be a single int, or a tuple of {n} ints")
    d = _ints(
        dilation, nd, f"{fname}: dilation must be either a single int, or a tuple of {n} ints"
    )
    if input.ndim not in (nd + 1, nd + 2):
        raise RuntimeError(
            f"non-empty {nd + 1}D or {nd + 2}D (batch mode) tensor expected for input"
        )
    return k, s, p, d


def _window_padding(size, out, k, s, p, d) -> tuple:
    """(lo, hi) per axis: lo = p; hi just long enough for ``out`` windows (a ceil-mode overhang
    beyond p, or p when floor mode drops trailing elements)."""
    return tuple(
        (pp, max(pp, (o - 1) * ss + _dilated(kk, dd) - n - pp))
        for n, o, kk, ss, pp, dd in zip(size, out, k, s, p, d)
    )


# ==================================================================================== public API
def _max_pool_nd(
    fname, nd, input, kernel_size, stride, padding, dilation, ceil_mode, return_indices
):
    k, s, p, d = _pool_args(fname, nd, input, kernel_size, stride, padding, dilation)
    size = tuple(input.shape[-nd:])
    out = tuple(_output_size(*a, ceil_mode) for a in zip(size, k, p, s, d))
    _shape_check(nd, input, k, s, d, p, out)
    params = dict(kernel=k, stride=s, padding=_window_padding(size, out, k, s, p, d), dilation=d)
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
    _check_tensor("max_pool1d", input)
    if input.ndim not in (2, 3):
        raise RuntimeError(f"max_pool1d() Expected 2D or 3D input tensor, but got {_sizes(input)}")
    what = "must be an int, list of ints or tuple of ints of size 1"
    k = _ints(kernel_size, 1, f"max_pool1d() kernel_size {what} but got size {_len(kernel_size)}")
    s = (
        k
        if stride is None
        else _ints(
            stride, 1, f"max_pool1d() stride {what} but got size {_len(stride)}", allow_empty=True
        )
        or k
    )
    p = _ints(padding, 1, f"max_pool1d() padding {what} but got size {_len(padding)}")
    d = _ints(dilation, 1, f"max_pool1d() dilation {what} but got size {_len(dilation)}")
    if k[0] <= 0:
        raise RuntimeError(f"max_pool1d() kernel_size must be greater than zero, but got {k[0]}")
    if s[0] <= 0:
        raise RuntimeError(f"max_pool1d() stride must be greater than zero, but got {s[0]}")
    if p[0] < 0:
        raise RuntimeError(f"max_pool1d() padding must be non-negative, but got {p[0]}")
    if p[0] > k[0] // 2:
        raise RuntimeError(
            f"max_pool1d() padding should be at most half of kernel size, but got padding={p[0]} "
            f"and kernel_size={k[0]}"
        )
    if d[0] <= 0:
        raise RuntimeError(f"max_pool1d() dilation must be greater than zero, but got {d[0]}")
    o = _output_size(input.shape[-1], k[0], p[0], s[0], d[0], ceil_mode)
    if o <= 0:
        raise RuntimeError(f"max_pool1d() Invalid computed output size: {o}")
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


def _len(v) -> int:
    return 1 if isinstance(v, int) else len(v)


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


def _avg_pool_nd(
    fname, nd, input, kernel_size, stride, padding, ceil_mode, count_include_pad, divisor_override
):
    k, s, p, d = _pool_args(fname, nd, input, kernel_size, stride, padding, 1)
    if divisor_override is not None and divisor_override == 0:
        raise RuntimeError("divisor must be not zero")
    if not input.dtype.is_floating_point:
        raise RuntimeError(f'"{fname}" not implemented for {input.dtype}: use a float dtype')
    size = tuple(input.shape[-nd:])
    out = tuple(_output_size(*a, ceil_mode) for a in zip(size, k, p, s, d))
    _shape_check(nd, input, k, s, d, p, out)
    return _avg_pool(
        input,
        kernel=k,
        stride=s,
        padding=_window_padding(size, out, k, s, p, d),
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
    _check_tensor("avg_pool1d", input)
    for what, v in (("kernel_size", kernel_size), ("stride", stride), ("padding", padding)):
        if (
            v is not None
            and not isinstance(v, int)
            and len(v) != 1
            and not (what == "stride" and not len(v))
        ):
            raise RuntimeError(
                f"avg_pool1d() argument '{what}' should contain one int (got {len(v)})"
            )
    if input.ndim not in (2, 3):
        raise RuntimeError(
            f"Expected 2 to 3 dimensions, but got {input.ndim}-dimensional tensor for argument "
            "#1 'self' (while checking arguments for avg_pool1d)"
        )
    k = _ints(kernel_size, 1, "")
    s = k if stride is None else (_ints(stride, 1, "", allow_empty=True) or k)
    out = _avg_pool_nd(
        "avg_pool2d",
        2,
        input.unsqueeze(-2),
        (1, k[0]),
        (1, s[0]),
        (0, _ints(padding, 1, "")[0]),
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


# ------------------------------------------------------------------------------ adaptive pooling
def _adaptive_size(output_size, input: Tensor, nd: int, fname: str) -> tuple:
    """PyTorch's ``_list_with_default``: an int for every axis, or a sequence whose None entries
    keep the input's size."""
    if isinstance(output_size, int) or hasattr(output_size, "__index__"):
        return (int(output_size),) * nd
    output_size = tuple(output_size)
    if input.ndim <= len(output_size):
        raise ValueError(f"Input dimension should be at least {len(output_size) + 1}")
    if len(output_size) != nd:
        if nd == 1:
            raise RuntimeError(
                f"{fname}() argument 'output_size' should contain one int (got {len(output_size)})"
            )
        raise RuntimeError(f"{fname}: output_size must be {nd}")
    return tuple(int(d) if v is None else int(v) for v, d in zip(output_size, input.shape[-nd:]))


def _adaptive_check(fname: str, nd: int, input, out: tuple, colon: str = "") -> None:
    if input.ndim not in (nd + 1, nd + 2):
        raise RuntimeError(
            f"{fname}(): Expected {nd + 1}D or {nd + 2}D tensor, but got{colon} {_sizes(input)}"
        )
    for i in range(input.ndim - nd, input.ndim):
        if input.shape[i] == 0:
            raise RuntimeError(
                f"{fname}(): Expected input to have non-zero size for non-batch dimensions, but "
                f"input has sizes {_sizes(input)} with dimension {i} being empty"
            )
    if min(out) < 0:
        raise RuntimeError(
            f"{fname}: elements of output_size must be greater than or equal to 0 but received "
            "{" + ", ".join(map(str, out)) + "}"
        )


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


def _adaptive_1d_size(fname: str, input, output_size) -> int:
    """Validate a 1-D adaptive pool's input and ``output_size`` (PyTorch's errors); the length."""
    _check_tensor(fname, input)
    if not isinstance(output_size, int) and len(output_size) != 1:
        raise RuntimeError(
            f"{fname}() argument 'output_size' should contain one int (got {len(output_size)})"
        )
    if input.ndim not in (2, 3):
        raise RuntimeError(
            f"Expected 2 to 3 dimensions, but got {input.ndim}-dimensional tensor for argument "
            f"#1 'self' (while checking arguments for {fname})"
        )
    return output_size if isinstance(output_size, int) else output_size[0]


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


def adaptive_max_pool3d(input: Tensor, output_size, return_indices: bool = False):
    """Adaptive 3-D max pooling of ``input`` (N, C, D, H, W) or (C, D, H, W), as
    ``torch.nn.functional.adaptive_max_pool3d`` (see :func:`adaptive_max_pool2d`)."""
    return _adaptive_max("adaptive_max_pool3d", 3, input, output_size, return_indices)


# ------------------------------------------------------------------------------------------- pad
@_caches.bounded(_TABLES)
def _pad_rows(n: int, lo: int, hi: int, mode: str) -> tuple:
    """The source element of each padded position along one axis (negative pads crop)."""
    if mode == "reflect":
        src = [abs(i) if i < n else 2 * (n - 1) - i for i in range(-lo, n + hi)]
    elif mode == "replicate":
        src = [min(max(i, 0), n - 1) for i in range(-lo, n + hi)]
    else:  # circular, as PyTorch: crop first, then wrap within what is left
        start, m = max(-lo, 0), n - max(-lo, 0) - max(-hi, 0)
        src = [start + (i - max(lo, 0)) % m for i in range(m + max(lo, 0) + max(hi, 0))]
    return tuple(((j, 1.0),) for j in src)


_PAD_NAMES = {"reflect": "ReflectionPad{}DBackward0", "replicate": "ReplicationPad{}DBackward0"}


def pad(input: Tensor, pad, mode: str = "constant", value: float | None = None) -> Tensor:
    """Pad ``input`` as ``torch.nn.functional.pad``: ``pad`` lists (left, right) pairs starting
    from the LAST dimension (``(1, 1, 2, 0)`` pads W by 1 and 1, H by 2 and 0). ``mode``:
    ``'constant'`` (``value``, default 0; negative pads crop; any number of dimensions),
    ``'reflect'`` (mirror without the edge; pads smaller than the size), ``'replicate'`` (repeat
    the edge) or ``'circular'`` (wrap around, at most once); the last three pad the last 1, 2 or
    3 dimensions of a batched or unbatched input."""
    _check_tensor("pad", input)
    pad = tuple(int(v) for v in pad)
    ndim = input.ndim
    if len(pad) % 2:
        raise RuntimeError("Padding length must be divisible by 2")
    if len(pad) > 2 * ndim:
        raise RuntimeError(
            "Padding length should be less than or equal to two times the input dimension but got "
            f"padding length {len(pad)} and input of dimension {ndim}"
        )
    if mode not in ("constant", "reflect", "replicate", "circular"):
        raise NotImplementedError(f"Unrecognised padding mode {mode}")
    k = len(pad) // 2
    pairs = [(pad[2 * j], pad[2 * j + 1]) for j in range(k)]  # last dimension first
    if mode == "constant":
        full = [(0, 0)] * ndim
        for j, (lo, hi) in enumerate(pairs):
            d = ndim - 1 - j
            if input.shape[d] + lo + hi < 0:
                raise RuntimeError(
                    f"The input size {input.shape[d]}, plus negative padding {lo} and {hi} "
                    "resulted in a negative output size, which is invalid. Check dimension "
                    f"{d} of your input."
                )
            full[d] = (lo, hi)
        return _constant_pad(input, pad=tuple(full), value=0 if value is None else value)
    if value is not None and value != 0:
        raise RuntimeError(f'Padding mode "{mode}" doesn\'t take in value argument')
    if (k, ndim) not in ((1, 2), (1, 3), (2, 3), (2, 4), (3, 4), (3, 5)):
        raise NotImplementedError(
            "Only 2D, 3D, 4D, 5D padding with non-constant padding are supported for now"
        )
    for j, (lo, hi) in enumerate(pairs):
        d, n = ndim - 1 - j, input.shape[ndim - 1 - j]
        if mode == "reflect" and (lo >= n or hi >= n):
            raise RuntimeError(
                f"Argument #{4 + 2 * j}: Padding size should be less than the corresponding input "
                f"dimension, but got: padding ({lo}, {hi}) at dimension {d} of input "
                f"{_sizes(input)}"
            )
        if mode == "circular":
            if lo > n or hi > n:
                raise RuntimeError("Padding value causes wrapping around more than once.")
            if n + lo + hi < 0:
                raise RuntimeError("Negative padding value is resulting in an empty dimension")
        elif n + lo + hi < 1 or n == 0:
            raise RuntimeError(
                f"input (size {n} at dimension {d}) is too small for padding ({lo}, {hi}): "
                f"calculated output size {n + lo + hi}"
            )
    axes = tuple(
        (-1 - j, _pad_rows(input.shape[-1 - j], lo, hi, mode)) for j, (lo, hi) in enumerate(pairs)
    )
    name = "CopySlices" if mode == "circular" else _PAD_NAMES[mode].format(k)
    return _resample(input, axes=axes, name=name, transposed=False)


# ----------------------------------------------------------------------------------- interpolate
@_caches.bounded(_TABLES)
def _nearest_rows(n: int, o: int, scale: float | None, exact: bool) -> tuple:
    """PyTorch's nearest source index, in float32 as its kernels compute it: legacy
    ``floor(dst * s)`` (with its copy and 2x fast paths), exact ``floor((dst + 0.5) * s)``;
    ``s`` is 1 / scale_factor when one was given, else n / o."""
    f32 = np.float32
    s = f32(1.0 / scale) if scale is not None and scale > 0 else f32(n) / f32(o)
    src = []
    for i in range(o):
        if not exact and o == n:
            j = i
        elif not exact and o == 2 * n:
            j = i >> 1
        elif exact:
            j = int(np.floor(f32((i + 0.5) * float(s))))
        else:
            j = int(np.floor(f32(i) * s))
        src.append(min(j, n - 1))
    return tuple(((j, 1.0),) for j in src)


@_caches.bounded(_TABLES)
def _linear_rows(n: int, o: int, align_corners: bool, scale: float | None, double: bool) -> tuple:
    """PyTorch's linear taps per output (upsample_linear1d / bilinear2d / trilinear3d), computed
    in the kernels' math type (float32, or float64 for double inputs): source
    ``s * dst`` (align_corners, s = (n - 1) / (o - 1)) or ``s * (dst + 0.5) - 0.5`` clamped at 0
    (s = 1 / scale_factor or n / o); neighbours floor(src) and the next one (not past the edge),
    weights 1 - frac and frac."""
    if o == n:
        return tuple(((i, 1.0),) for i in range(o))
    f = np.float64 if double else np.float32
    if align_corners:
        s = f(n - 1) / f(o - 1) if o > 1 else f(0)
    else:
        s = f(1.0 / scale) if scale is not None and scale > 0 else f(n) / f(o)
    rows = []
    for i in range(o):
        if align_corners:
            src = s * f(i)
        else:
            src = max(s * (f(i) + f(0.5)) - f(0.5), f(0))
        i0 = min(int(np.floor(src)), n - 1)
        l1 = min(max(src - f(i0), f(0)), f(1))
        i1 = i0 + (1 if i0 < n - 1 else 0)
        rows.append(((i0, float(f(1) - l1)), (i1, float(l1))))
    return tuple(rows)


_MODES = "nearest | linear | bilinear | bicubic | trilinear | area | nearest-exact"
_LINEAR = {"linear": 1, "bilinear": 2, "trilinear": 3}


def _per_axis(value, dim: int, input: Tensor, is_size: bool) -> list:
    """``size`` or ``scale_factor`` as one value per spatial axis (PyTorch's checks)."""
    if not isinstance(value, (list, tuple)):
        return [value] * dim
    if len(value) != dim:
        what, shown, fmt = (
            ("output", f"output size of {value}", "output size in (o1, o2, ...,oK)")
            if is_size
            else (
                "scale_factor",
                f"scale_factor of shape {value}",
                "scale_factor in (s1, s2, ...,sK)",
            )
        )
        raise ValueError(
            f"Input and {what} must have the same number of spatial dimensions, but got input with "
            f"spatial dimensions of {list(input.shape[2:])} and {shown}. Please provide input "
            f"tensor in (N, C, d1, d2, ...,dK) format and {fmt} format."
        )
    return list(value)


def interpolate(
    input: Tensor,
    size=None,
    scale_factor=None,
    mode: str = "nearest",
    align_corners: bool | None = None,
    recompute_scale_factor: bool | None = None,
    antialias: bool = False,
) -> Tensor:
    """Resize ``input`` (N, C, *spatial) to ``size`` or by ``scale_factor``, as
    ``torch.nn.functional.interpolate``. Modes: ``'nearest'`` (PyTorch's legacy nearest:
    source = floor(dst * in / out), not half-pixel), ``'nearest-exact'``, ``'linear'`` (3-D
    input), ``'bilinear'`` (4-D), ``'trilinear'`` (5-D), each with ``align_corners`` as PyTorch,
    and ``'area'`` (adaptive average pooling). With ``scale_factor`` the output size is
    floor(in * scale) and the kernels use 1 / scale (unless ``recompute_scale_factor``).
    ``'bicubic'`` and ``antialias=True`` are not supported."""
    _check_tensor("interpolate", input)
    if mode in ("nearest", "area", "nearest-exact"):
        if align_corners is not None:
            raise ValueError(
                "align_corners option can only be set with the interpolating modes: "
                "linear | bilinear | bicubic | trilinear"
            )
    elif align_corners is None:
        align_corners = False
    dim = input.ndim - 2
    if size is not None and scale_factor is not None:
        raise ValueError("only one of size or scale_factor should be defined")
    if size is not None:
        out = [int(v) for v in _per_axis(size, dim, input, True)]
        scales = None
    elif scale_factor is not None:
        out = None
        scales = [float(v) for v in _per_axis(scale_factor, dim, input, False)]
    else:
        raise ValueError("either size or scale_factor should be defined")
    if recompute_scale_factor is not None and recompute_scale_factor and size is not None:
        raise ValueError("recompute_scale_factor is not meaningful with an explicit size.")
    if mode == "area" and out is None:
        recompute_scale_factor = True
    if antialias:
        raise NotImplementedError("interpolate: antialias=True is not supported by tracegrad")
    if input.ndim not in (3, 4, 5) or mode not in ("nearest", "nearest-exact", "area", *_LINEAR):
        if mode == "bicubic" and input.ndim == 4:
            raise NotImplementedError("interpolate: mode 'bicubic' is not supported by tracegrad")
        raise NotImplementedError(
            f"Input Error: Only 3D, 4D and 5D input Tensors supported (got {input.ndim}D) for the "
            f"modes: {_MODES} (got {mode})"
        )
    if mode in _LINEAR and _LINEAR[mode] != dim:
        raise NotImplementedError(
            f"Got {input.ndim}D input, but {mode} mode needs {_LINEAR[mode] + 2}D input"
        )
    if out is None:
        out = [math.floor(float(n) * s) for n, s in zip(input.shape[2:], scales)]
        if recompute_scale_factor:
            scales = None
    if scales is None:
        scales = [None] * dim
    if mode == "area":
        fn = {1: adaptive_avg_pool1d, 2: adaptive_avg_pool2d, 3: adaptive_avg_pool3d}[dim]
        return fn(input, tuple(out))
    if min(out) <= 0 or min(input.shape[2:]) <= 0:
        axes_names = "DHW"[3 - dim :]
        fmt = lambda sz: ", ".join(f"{a}: {v}" for a, v in zip(axes_names, sz))  # noqa: E731
        raise RuntimeError(
            "Input and output sizes should be greater than 0, but got input "
            f"({fmt(input.shape[2:])}) "
            f"output ({fmt(out)})"
        )
    if mode in _LINEAR:
        if not input.dtype.is_floating_point:
            raise RuntimeError(
                f'"upsample_{mode}" not implemented for {input.dtype}: use a float dtype'
            )
        double = input.dtype.np.name == "float64"
        rows = [
            _linear_rows(n, o, align_corners, s, double)
            for n, o, s in zip(input.shape[2:], out, scales)
        ]
        name = f"Upsample{mode.capitalize()}{dim}DBackward0"
    else:
        exact = mode == "nearest-exact"
        rows = [_nearest_rows(n, o, s, exact) for n, o, s in zip(input.shape[2:], out, scales)]
        name = f"UpsampleNearest{'Exact' if exact else ''}{dim}DBackward0"
    axes = tuple((i - dim, r) for i, r in enumerate(rows))
    return _resample(input, axes=axes, name=name, transposed=False)


# ------------------------------------------------------------------------------- unfold and fold
def _pair(value, what: str, fname: str) -> tuple:
    if isinstance(value, int) or hasattr(value, "__index__"):
        return (int(value),) * 2
    value = tuple(int(v) for v in value)
    if len(value) == 1:
        return value * 2
    if len(value) != 2:
        raise RuntimeError(f"{fname}: {what} must be an int or a tuple of two ints, got {value}")
    return value


def _fold_params(fname, kernel_size, dilation, padding, stride) -> tuple:
    k = _pair(kernel_size, "kernel_size", fname)
    d = _pair(dilation, "dilation", fname)
    p = _pair(padding, "padding", fname)
    s = _pair(stride, "stride", fname)
    if min(k) <= 0:
        raise RuntimeError(
            f"kernel size should be greater than zero, but got kernel_height: {k[0]} "
            f"kernel_width: {k[1]}"
        )
    if min(s) <= 0:
        raise RuntimeError(
            f"stride should be greater than zero, but got stride_height: {s[0]} "
            f"stride_width: {s[1]}"
        )
    if min(d) <= 0:
        raise RuntimeError(
            f"dilation should be greater than zero, but got dilation_height: {d[0]} "
            f"dilation_width: {d[1]}"
        )
    if min(p) < 0:
        raise RuntimeError(
            f"padding should be non-negative, but got pad_height: {p[0]} pad_width: {p[1]}"
        )
    return k, d, p, s


def unfold(input: Tensor, kernel_size, dilation=1, padding=0, stride=1) -> Tensor:
    """Sliding blocks of ``input`` (N, C, H, W) or (C, H, W) as columns, as
    ``torch.nn.functional.unfold``: (N, C * kH * kW, L) with rows in PyTorch's channel-major
    (c, kh, kw) order and L = number of blocks, row-major over the output grid. Its gradient is
    :func:`fold`."""
    _check_tensor("unfold", input)
    k, d, p, s = _fold_params("unfold", kernel_size, dilation, padding, stride)
    if input.ndim not in (3, 4) or any(n == 0 for n in input.shape[-3:]):
        raise RuntimeError(
            "Expected 3D or 4D (batch mode) tensor with optional 0 dim batch size for input, but "
            f"got:{_sizes(input)}"
        )
    size = tuple(input.shape[-2:])
    out = _blocks(size, k, d, p, s)
    if min(out) < 1:
        raise RuntimeError(
            f"Given input with spatial size ({size[0]}, {size[1]}), kernel_size=({k[0]}, {k[1]}), "
            f"dilation=({d[0]}, {d[1]}), padding=({p[0]}, {p[1]}), calculated shape of the "
            "array of "
            f"sliding blocks as ({out[0]}, {out[1]}), but its components must be at least one."
        )
    return _im2col(input, kernel=k, dilation=d, padding=p, stride=s)


def fold(input: Tensor, output_size, kernel_size, dilation=1, padding=0, stride=1) -> Tensor:
    """Sum sliding blocks given as columns back into an image, as
    ``torch.nn.functional.fold``: ``input`` (N, C * kH * kW, L) or (C * kH * kW, L) ->
    (N, C, *output_size), overlapping entries added. The adjoint of :func:`unfold` (not its
    inverse)."""
    _check_tensor("fold", input)
    size = _pair(output_size, "output_size", "fold")
    k, d, p, s = _fold_params("fold", kernel_size, dilation, padding, stride)
    if input.ndim not in (2, 3) or any(n == 0 for n in input.shape[-2:]):
        raise RuntimeError(
            "Expected 2D or 3D (batch mode) tensor for input with possibly 0 batch size and "
            f"non-zero dimensions for input, but got: {_sizes(input)}"
        )
    if input.shape[-2] % (k[0] * k[1]):
        raise RuntimeError(
            "Expected size of input's dimension 1 to be divisible by the product of kernel_size, "
            f"but got input.size(1)={input.shape[-2]} and kernel_size=({k[0]}, {k[1]})"
        )
    out = _blocks(size, k, d, p, s)
    given = (
        f"Given output_size=({size[0]}, {size[1]}), kernel_size=({k[0]}, {k[1]}), "
        f"dilation=({d[0]}, {d[1]}), padding=({p[0]}, {p[1]}), stride=({s[0]}, {s[1]}), "
    )
    if min(out) < 1:
        raise RuntimeError(
            f"{given}calculated shape of the array of sliding blocks as ({out[0]}, {out[1]}), "
            "which "
            "is too small (non-positive)"
        )
    if input.shape[-1] != out[0] * out[1]:
        raise RuntimeError(
            f"{given}expected size of input's dimension 2 to match the calculated number of "
            f"sliding blocks {out[0]} * {out[1]} = {out[0] * out[1]}, but got "
            f"input.size(2)={input.shape[-1]}."
        )
    return _col2im(input, output_size=size, kernel=k, dilation=d, padding=p, stride=s)
