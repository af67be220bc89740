"""Window primitives shared by the pooling ops (``pooling.py``), ``unfold``/``fold``
(``resample.py``) and the convolutions (``conv.py``): window extents, the windows of an array as
strided slices and their transpose, the flat-index table of every window element, and the first
maximum of each window as PyTorch picks it. Lowering helpers on jax arrays; no ops here.
"""

from __future__ import annotations

import jax.numpy as jnp
import numpy as np
from jax import lax

from .. import _caches

# Index and weight tables are keyed on input/output sizes, so a new shape adds entries: keep the
# most recently used (tracegrad.clear_caches() empties them).
_TABLES = 128


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
