"""Sampling by grids and pixel rearrangement, each one op with PyTorch's backward node:
``grid_sampler_2d`` / ``grid_sampler_3d`` (``GridSampler2DBackward0`` / ``3D``),
``affine_grid_generator`` (``AffineGridGeneratorBackward0``) and ``pixel_shuffle`` /
``pixel_unshuffle`` (``PixelShuffleBackward0`` / ``PixelUnshuffleBackward0``).

The public functions (``torch.nn.functional``'s checks and messages) are in ``nn/functional.py``.
A single node per call keeps the graph PyTorch's: one node, saving only the operands its rule
reads, where a composition of gathers and elementwise ops would record and save a dozen.
"""

from __future__ import annotations

import itertools
import math

import jax.numpy as jnp
import numpy as np

from ..autograd.grad_mode import is_grad_enabled
from ..tensor import Tensor
from .elementwise import where
from .indexing import _gather, _scatter_add
from .registry import defop, needs_grad
from .shape import stack

__all__: list[str] = []


# ----------------------------------------------------------------------------- pixel shuffle
def _shuffle(x, r: int):
    *batch, c, h, w = x.shape
    n = len(batch)
    x = x.reshape(*batch, c // (r * r), r, r, h, w)
    x = jnp.transpose(x, (*range(n), n, n + 3, n + 1, n + 4, n + 2))
    return x.reshape(*batch, c // (r * r), h * r, w * r)


def _unshuffle(x, r: int):
    *batch, c, h, w = x.shape
    n = len(batch)
    x = x.reshape(*batch, c, h // r, r, w // r, r)
    x = jnp.transpose(x, (*range(n), n, n + 2, n + 4, n + 1, n + 3))
    return x.reshape(*batch, c * r * r, h // r, w // r)


@defop("PixelShuffleBackward0", saves=(), fuse=True)
def _pixel_shuffle(x, *, upscale_factor):
    """``(*, C r^2, H, W)`` to ``(*, C, H r, W r)``: a reshape and a permute."""
    return _shuffle(x, upscale_factor)


@defop("PixelUnshuffleBackward0", saves=(), fuse=True)
def _pixel_unshuffle(x, *, downscale_factor):
    """``(*, C, H r, W r)`` to ``(*, C r^2, H, W)``, the inverse permutation."""
    return _unshuffle(x, downscale_factor)


# Each is a permutation of the elements, so each one's transpose is the other.
@_pixel_shuffle.vjp
def _(g, out, x, *, upscale_factor):
    return (_pixel_unshuffle(g, downscale_factor=upscale_factor),)


@_pixel_unshuffle.vjp
def _(g, out, x, *, downscale_factor):
    return (_pixel_shuffle(g, upscale_factor=downscale_factor),)


# ------------------------------------------------------------------------------- affine_grid
def _base_coords(n: int, align_corners: bool) -> np.ndarray:
    """PyTorch's ``_linspace_from_neg_one``: n points over [-1, 1] (pixel centres when
    ``align_corners``; else shrunk by (n - 1) / n), or [0] for a single point."""
    if n <= 1:
        return np.zeros(max(n, 1))
    a = 1.0 if align_corners else (n - 1) / n
    return np.linspace(-a, a, n)


def _base_grid(spatial: tuple, align_corners: bool) -> np.ndarray:
    """(prod(spatial), nd + 1): x (along the last axis) first, then y (, z), then 1."""
    axes = [_base_coords(n, align_corners) for n in spatial]
    mesh = np.meshgrid(*axes, indexing="ij")
    base = np.stack([*reversed(mesh), np.ones(tuple(spatial))], axis=-1)
    return base.reshape(-1, len(spatial) + 1)


@defop("AffineGridGeneratorBackward0", saves=(), fuse=True)
def _affine_grid_generator(theta, *, size, align_corners):
    """The (N, *spatial, nd) grid ``theta @ [x, (y, z,) 1]`` over the base grid of ``size``."""
    base = jnp.asarray(_base_grid(size[2:], align_corners), theta.dtype)
    grid = jnp.matmul(base, jnp.swapaxes(theta, 1, 2))  # (N, P, nd)
    return grid.reshape(size[0], *size[2:], len(size) - 2)


# out[n, p, i] = sum_j base[p, j] theta[n, i, j], so dtheta[n, i, j] = sum_p g[n, p, i] base[p, j]:
# the cotangent contracted with the (constant) base grid.
@_affine_grid_generator.vjp
def _(g, out, theta, *, size, align_corners):
    nd = len(size) - 2
    base = Tensor._wrap(jnp.asarray(_base_grid(size[2:], align_corners), g.dtype.np))
    return (g.reshape(size[0], -1, nd).transpose(1, 2).matmul(base),)


# ------------------------------------------------------------------------------- grid_sample
# The geometry of a sample (where each output point lands, which input pixels it reads, whether
# they are in bounds) is piecewise constant in the grid, except the position itself, which is
# piecewise linear: pos = m * coord + b with m, b constant between the kinks of the padding.
# ``_geometry`` computes all of it on arrays; the rule then rebuilds pos from the grid tensor as
# m * coord + b, so the tap weights (polynomials of pos - floor(pos)) and their derivatives are
# tracegrad expressions of the grid and differentiate again (second order) exactly.


def _clip(x, m, size: int):
    """PyTorch's ``clip_coordinates_set_grad``: clamped to [0, size - 1], slope kept strictly
    inside and 0 at or beyond the borders."""
    inside = (x > 0) & (x < size - 1)
    return jnp.clip(x, 0, size - 1), jnp.where(inside, m, 0)


def _reflect(x, m, twice_low: int, twice_high: int):
    """PyTorch's ``reflect_coordinates_set_grad``: x reflected by the borders twice_low / 2 and
    twice_high / 2 until it lies between them; each reflection flips the slope's sign."""
    if twice_low == twice_high:
        return x * 0, m * 0
    low = twice_low / 2
    span = (twice_high - twice_low) / 2
    x = x - low
    m = jnp.where(x < 0, -m, m)
    x = jnp.abs(x)
    extra = jnp.fmod(x, span)
    even = jnp.fmod(jnp.floor(x / span), 2) == 0
    return jnp.where(even, extra + low, span - extra + low), jnp.where(even, m, -m)


def _reflect_padded(x, size: int, padding: str, align: bool):
    if padding != "reflection":
        return x, x
    return _reflect(x, x, 0, 2 * (size - 1)) if align else _reflect(x, x, -1, 2 * size - 1)


def _source(coord, size: int, padding: str, align: bool):
    """PyTorch's ``grid_sampler_compute_source_index_set_grad``: a normalised coordinate to a
    pixel position along an axis of ``size`` (border / reflection padding applied), and its
    slope d pos / d coord."""
    scale = (size - 1) / 2 if align else size / 2
    x = (coord + 1) * scale if align else ((coord + 1) * size - 1) / 2
    m = jnp.full(coord.shape, scale, coord.dtype)
    if padding == "reflection":
        x, m = _reflect(x, m, *((0, 2 * (size - 1)) if align else (-1, 2 * size - 1)))
    if padding in ("border", "reflection"):
        x, m = _clip(x, m, size)
    return x, m


def _tap_coord(p, size: int, padding: str, align: bool):
    """PyTorch's ``compute_coordinates`` of an integer bicubic tap: clipped for 'border',
    reflected then clipped for 'reflection', as is for 'zeros'."""
    if padding == "zeros":
        return p
    if padding == "reflection":
        p, _ = _reflect_padded(p, size, padding, align)
    return jnp.trunc(jnp.clip(p, 0, size - 1))


_A = -0.75  # PyTorch's cubic convolution coefficient


def _axis_weights(t, mode: str) -> list:
    """Per tap along one axis, (weight, d weight / d t) at fractional position ``t``: arithmetic
    only, so ``t`` may be an array (the lowering) or a tensor (the rule). Bicubic is PyTorch's
    ``get_cubic_upsample_coefficients`` (taps at -1, 0, 1, 2 from the floor)."""
    if mode == "nearest":
        return [(1.0, 0.0)]
    if mode == "bilinear":
        return [(1 - t, -1.0), (t, 1.0)]

    def near(x):  # |x| <= 1
        return ((_A + 2) * x - (_A + 3)) * x * x + 1

    def d_near(x):
        return (3 * (_A + 2) * x - 2 * (_A + 3)) * x

    def far(x):  # 1 < |x| < 2
        return ((_A * x - 5 * _A) * x + 8 * _A) * x - 4 * _A

    def d_far(x):
        return (3 * _A * x - 10 * _A) * x + 8 * _A

    return [
        (far(t + 1), d_far(t + 1)),
        (near(t), d_near(t)),
        (near(1 - t), -d_near(1 - t)),
        (far(2 - t), -d_far(2 - t)),
    ]


def _geometry(grid, spatial: tuple, mode: str, padding: str, align: bool):
    """For ``grid`` (N, count, nd): per axis (0 = D or H) the position, its slope and its floor,
    each (N, count); the taps as per-axis offsets; the flat input index of every tap (N, T *
    count) and whether it is in bounds (N, T, count)."""
    nd = len(spatial)
    pos, slope, lo, coords = [], [], [], []
    for a in range(nd):
        # grid[..., 0] is x, along the last axis. Bicubic pads taps, not positions.
        p, m = _source(
            grid[..., nd - 1 - a], spatial[a], "zeros" if mode == "bicubic" else padding, align
        )
        f = jnp.round(p) if mode == "nearest" else jnp.floor(p)
        pos.append(p)
        slope.append(m)
        lo.append(f)
        taps = []
        for k in range({"nearest": 1, "bilinear": 2, "bicubic": 4}[mode]):
            q = f + (k - 1 if mode == "bicubic" else k)
            if mode == "bicubic":
                q = _tap_coord(q, spatial[a], padding, align)
            taps.append(((q >= 0) & (q <= spatial[a] - 1), jnp.clip(q, 0, spatial[a] - 1)))
        coords.append(taps)
    offsets = list(itertools.product(range(len(coords[0])), repeat=nd))
    index, valid = [], []
    for ks in offsets:
        ok, flat = None, None
        for a, k in enumerate(ks):
            v, q = coords[a][k]
            q = q.astype(jnp.int64)
            ok = v if ok is None else ok & v
            flat = q if flat is None else flat * spatial[a] + q
        index.append(flat)
        valid.append(ok)
    return pos, slope, lo, offsets, jnp.concatenate(index, axis=1), jnp.stack(valid, axis=1)


def _grid_sampler(x, grid, *, mode, padding_mode, align_corners):
    n, c, *spatial = x.shape
    out = grid.shape[1:-1]
    count = math.prod(out)
    nd = len(spatial)
    pos, _, lo, offsets, index, valid = _geometry(
        grid.reshape(n, count, nd), tuple(spatial), mode, padding_mode, align_corners
    )
    w = [_axis_weights(p - f, mode) for p, f in zip(pos, lo)]
    weight = jnp.stack(
        [
            jnp.broadcast_to(math.prod(w[a][k][0] for a, k in enumerate(ks)), (n, count))
            for ks in offsets
        ],
        axis=1,
    ).astype(x.dtype)  # (N, T, count)
    flat = x.reshape(n, c, math.prod(spatial))
    idx = jnp.broadcast_to(index[:, None, :], (n, c, index.shape[1]))
    v = jnp.take_along_axis(flat, idx, axis=2).reshape(n, c, len(offsets), count)
    taps = jnp.where(valid[:, None], v * weight[:, None], jnp.zeros((), x.dtype))
    return taps.sum(2).reshape(n, c, *out)


@defop("GridSampler2DBackward0", fuse=True)
def _grid_sampler_2d(x, grid, *, mode, padding_mode, align_corners):
    """Sample ``x`` (N, C, H, W) at ``grid`` (N, Ho, Wo, 2), as ``aten::grid_sampler_2d``:
    ``mode`` 'bilinear', 'nearest' or 'bicubic'; ``padding_mode`` 'zeros', 'border' or
    'reflection'. Each output point is a weighted sum of gathered taps."""
    return _grid_sampler(x, grid, mode=mode, padding_mode=padding_mode, align_corners=align_corners)


@defop("GridSampler3DBackward0", fuse=True)
def _grid_sampler_3d(x, grid, *, mode, padding_mode, align_corners):
    """Sample ``x`` (N, C, D, H, W) at ``grid`` (N, Do, Ho, Wo, 3), as ``aten::grid_sampler_3d``
    ('bilinear' is trilinear; 'nearest'); the same padding modes as the 2-D op."""
    return _grid_sampler(x, grid, mode=mode, padding_mode=padding_mode, align_corners=align_corners)


# out[n, c, o] = sum over taps T of valid * w_T(pos(grid[n, o])) * x[n, c, index_T]. So
#   d input  = scatter-add of valid * w_T * g at index_T (the taps' transpose);
#   d grid_a = sum_T valid * (sum_c g * x[index_T]) * d w_T / d pos_a * d pos_a / d coord_a,
# with d w_T / d pos_a the product of the other axes' weights and this axis' weight derivative.
# 'nearest' has weights 1 and a grid gradient of zeros (PyTorch's: a tensor, not None).
# Its input gradient's own grid derivative is zeros too (see the rule).
def _grid_sampler_rule(g, out, x, grid, *, mode, padding_mode, align_corners):
    n, c, *spatial = x.shape
    shape = tuple(grid.shape[1:-1])
    count = math.prod(shape)
    nd = len(spatial)
    size = math.prod(spatial)
    coord = grid.reshape(n, count, nd)
    pos, slope, lo, offsets, index, valid = _geometry(
        coord.detach()._storage.array, tuple(spatial), mode, padding_mode, align_corners
    )
    dt = g.dtype.np
    taps = len(offsets)
    ok = Tensor._wrap(valid)
    idx = Tensor._wrap(jnp.broadcast_to(index[:, None, :], (n, c, index.shape[1])))
    # t = pos - floor(pos) = m * coord + b as a tensor of the grid (m, b constant; see above).
    w = []
    for a in range(nd):
        m = slope[a].astype(dt)
        c0 = coord.detach()._storage.array[..., nd - 1 - a]
        flat_part = slope[a] == 0  # clamped (or a degenerate axis): t is constant, even for inf
        b = (pos[a] - lo[a] - jnp.where(flat_part, 0, slope[a] * c0)).astype(dt)
        t = coord[..., nd - 1 - a] * Tensor._wrap(m) + Tensor._wrap(b)
        t = where(Tensor._wrap(flat_part), Tensor._wrap(b), t)
        if mode == "nearest" and a == 0 and is_grad_enabled() and needs_grad(grid):
            # Recording (create_graph): the input gradient depends on the grid with derivative
            # zero, as PyTorch's double backward reports it (zeros for the grid, not None). The
            # weight is exactly 1 (whatever t is, inf or nan too); its gradient is zeros.
            w.append([(where(Tensor._wrap(jnp.ones(t.shape, bool)), 1.0, t), 0.0)])
            continue
        w.append(_axis_weights(t, mode))

    def product(factors):
        result = factors[0]
        for f in factors[1:]:
            result = result * f
        return result if isinstance(result, Tensor) else g.new_full((n, count), result)

    gt = g.reshape(n, c, 1, count)
    d_x = d_grid = None
    weight = stack([product([w[a][k][0] for a, k in enumerate(ks)]) for ks in offsets], 1)
    if needs_grad(x):
        src = where(ok.unsqueeze(1), gt * weight.unsqueeze(1), 0.0).reshape(n, c, taps * count)
        d_x = _scatter_add(g.new_zeros((n, c, size)), idx, src, dim=2).reshape(tuple(x.shape))
    if needs_grad(grid):
        if mode == "nearest":
            return d_x, g.new_zeros(tuple(grid.shape))
        v = _gather(x.reshape(n, c, size), idx, dim=2).reshape(n, c, taps, count)
        gv = where(ok, (gt * v).sum(1), 0.0)  # (N, T, count)
        parts = []
        for a in reversed(range(nd)):  # grid's last dimension lists x (the last axis) first
            dw = stack(
                [
                    product([w[b][k][1 if b == a else 0] for b, k in enumerate(ks)])
                    for ks in offsets
                ],
                1,
            )
            parts.append((gv * dw).sum(1) * Tensor._wrap(slope[a].astype(dt)))
        d_grid = stack(parts, -1).reshape(tuple(grid.shape))
    return d_x, d_grid


_grid_sampler_2d.vjp(_grid_sampler_rule)
_grid_sampler_3d.vjp(_grid_sampler_rule)
