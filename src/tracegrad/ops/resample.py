"""Padding and sliding blocks, as ``torch.nn.functional``: ``pad``, ``unfold`` and ``fold``; and
the sparse linear maps that ``interpolate`` (``resize.py``) and adaptive pooling run on.

Every public function checks PyTorch's arguments with PyTorch's messages, then calls one of a
few registered ops, each a lowering plus a hand-written rule in tracegrad ops:

- ``resample``: a sparse linear map applied along some axes, each output element a few weighted
  gathers (``take``) of the input. Reflect/replicate/circular padding, nearest and linear
  interpolation and adaptive average pooling with uneven windows (``pooling.py``) are such maps.
  Its rule is the same op with each axis' map transposed (again a few gathers per element: no
  scatter).
- ``constant_pad`` (``lax.pad``; its rule crops with the negated pads), ``im2col``/``col2im``
  (``unfold``/``fold``: strided slices and their transpose, interior-padded sums), each the
  other's rule.
"""

from __future__ import annotations

import math

import jax.numpy as jnp
import numpy as np
from jax import lax

from .. import _caches
from ..tensor import Tensor
from ._window import _TABLES, _dilated, _double, _patches, _patches_t
from ._window_args import _check_tensor, _fold_params, _pair, _sizes
from .registry import defop

__all__ = ["pad", "unfold", "fold"]


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


@defop(lambda p: _double(p["name"]) if p["transposed"] else p["name"], saves=(), fuse=True)
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


# ------------------------------------------------------------------------------------------- pad
@defop("ConstantPadNdBackward0", saves=(), fuse=True)
def _constant_pad(x, *, pad, value):
    """``lax.pad`` with one (lo, hi) pair per axis of ``x``; negative entries crop."""
    return lax.pad(x, jnp.asarray(value, x.dtype), [(lo, hi, 0) for lo, hi in pad])


# Padding's transpose crops what it added and zero-pads what it cropped: the negated pads.
@_constant_pad.vjp
def _(g, out, x, *, pad, value):
    return (_constant_pad(g, pad=tuple((-lo, -hi) for lo, hi in pad), value=0),)


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


# ------------------------------------------------------------------- unfold and fold (im2col)
@defop("Im2ColBackward0", saves=(), fuse=True)
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


@defop("Col2ImBackward0", saves=(), fuse=True)
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
            f"but got input.size(1)={input.shape[-2]} and kernel_size=({k[0]}, {k[1]})."
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
