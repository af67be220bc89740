"""Pooling with indices (the ``*_with_indices`` aliases), max unpooling and power-average
pooling: values and gradients against numpy references (always) and against PyTorch (when
installed, float64, tight), the layers' ``repr`` and PyTorch's errors and messages."""

from __future__ import annotations

import itertools
import re

import numpy as np
import pytest

import tracegrad as tg
import tracegrad.nn.functional as F

from .tiers import slow, slow_after

TOL = dict(rtol=1e-12, atol=1e-12)


@pytest.fixture(autouse=True)
def _node_by_node_backward():
    """Every case has shapes of its own: run backward node by node, not compiled per graph."""
    was = tg.is_compiled_backward_enabled()
    tg.set_compiled_backward(False)
    yield
    tg.set_compiled_backward(was)


def _torch():
    return pytest.importorskip("torch")


def _grad(fn, x: np.ndarray, w: np.ndarray):
    """Value of ``fn(tensor(x))`` and the gradient of ``sum(fn * w)`` w.r.t. x, in tracegrad."""
    t = tg.tensor(x, requires_grad=True)
    out = fn(t)
    (out * tg.tensor(w)).sum().backward()
    return out.detach().numpy(), t.grad.numpy()


def _torch_grad(fn, x: np.ndarray, w: np.ndarray):
    torch = _torch()
    t = torch.tensor(x, requires_grad=True)
    out = fn(t)
    (out * torch.tensor(w)).sum().backward()
    return out.detach().numpy(), t.grad.numpy()


# ================================================================================ with_indices
@pytest.mark.parametrize(
    "name, args",
    [
        ("max_pool2d", ((2, 3, 5, 4), 2, 1, 1)),
        ("max_pool3d", ((1, 2, 4, 3, 4), 2, 2, 0)),
        ("adaptive_max_pool1d", ((2, 3, 7), 3)),
        ("adaptive_max_pool2d", ((2, 5, 4), (3, 2))),
        ("adaptive_max_pool3d", ((1, 2, 4, 3, 5), (2, 2, 3))),
    ],
)
def test_with_indices_aliases_return_values_and_indices(name, args):
    shape, *rest = args
    x = np.random.default_rng(1).permutation(np.prod(shape)).reshape(shape).astype(np.float64)
    alias = getattr(F, f"{name}_with_indices")
    v, i = alias(tg.tensor(x), *rest)
    v2, i2 = getattr(F, name)(tg.tensor(x), *rest, return_indices=True)
    np.testing.assert_array_equal(v.numpy(), v2.numpy())
    np.testing.assert_array_equal(i.numpy(), i2.numpy())
    assert i.dtype == tg.int64
    # return_indices is in the signature and ignored, as in PyTorch
    assert isinstance(alias(tg.tensor(x), *rest, return_indices=False), tuple)


def test_with_indices_aliases_match_pytorch():
    torch = _torch()
    tf = torch.nn.functional
    x = np.random.default_rng(2).standard_normal((2, 3, 6, 5))
    for name, rest in [("max_pool2d", (3, 2, 1)), ("adaptive_max_pool2d", ((4, 3),))]:
        tv, ti = getattr(tf, f"{name}_with_indices")(torch.tensor(x), *rest)
        v, i = getattr(F, f"{name}_with_indices")(tg.tensor(x), *rest)
        np.testing.assert_array_equal(v.numpy(), tv.numpy())
        np.testing.assert_array_equal(i.numpy(), ti.numpy())


# ================================================================================== max_unpool
def ref_unpool(x, idx, size):
    """Zeros of (*lead, *size) with x written at the flat plane indices idx."""
    nd = len(size)
    lead = x.shape[: x.ndim - nd]
    out = np.zeros((int(np.prod(lead)), int(np.prod(size))))
    for r, (xs, ix) in enumerate(zip(x.reshape(len(out), -1), idx.reshape(len(out), -1))):
        out[r, ix] = xs
    return out.reshape(*lead, *size)


UNPOOL = [
    # nd, input shape, kernel, stride, padding, output_size
    (2, (2, 3, 6, 4), 2, None, 0, None),
    (1, (2, 3, 9), 3, 2, 1, None),
    (2, (3, 7, 6), (3, 2), (2, 1), (1, 0), None),
    (2, (1, 2, 6, 6), 2, 2, 0, (7, 7)),
    (3, (1, 2, 4, 4, 4), 2, None, 0, None),
    (3, (2, 5, 4, 6), (2, 1, 3), (1, 2, 2), (0, 0, 1), (5, 4, 6)),
    (1, (3, 8), 2, None, 0, [1, 3, 9]),
]


def _pooled(nd, shape, k, s, p, seed=0):
    """A max pool's (values, indices) of a tie-free input, as numpy arrays."""
    x = np.random.default_rng(seed).permutation(np.prod(shape)).reshape(shape) / 7.0
    v, i = getattr(F, f"max_pool{nd}d")(tg.tensor(x), k, s, p, return_indices=True)
    return v.numpy(), i.numpy()


@pytest.mark.parametrize(
    "nd, shape, k, s, p, size", slow_after(UNPOOL, keep=2, multi=True), ids=str
)
def test_max_unpool_values_and_gradient(nd, shape, k, s, p, size):
    v, i = _pooled(nd, shape, k, s, p)
    fn = getattr(F, f"max_unpool{nd}d")
    out = fn(tg.tensor(v), tg.tensor(i), k, s, p, size)
    full = out.shape[v.ndim - nd :]
    if nd == 1:
        want = ref_unpool(v[..., None], i[..., None], (full[0], 1))[..., 0]
    else:
        want = ref_unpool(v, i, tuple(full))
    np.testing.assert_array_equal(out.numpy(), want)
    w = np.random.default_rng(3).standard_normal(tuple(out.shape))
    _, g = _grad(lambda t: fn(t, tg.tensor(i), k, s, p, size), v, w)
    lead = v.shape[: v.ndim - nd]
    wf = w.reshape(int(np.prod(lead)), -1)
    want_g = np.take_along_axis(wf, i.reshape(len(wf), -1), 1).reshape(v.shape)
    np.testing.assert_allclose(g, want_g, **TOL)


@pytest.mark.parametrize(
    "nd, shape, k, s, p, size", slow_after(UNPOOL, keep=2, multi=True), ids=str
)
def test_max_unpool_matches_pytorch(nd, shape, k, s, p, size):
    torch = _torch()
    v, i = _pooled(nd, shape, k, s, p)
    w = None
    tfn = getattr(torch.nn.functional, f"max_unpool{nd}d")
    fn = getattr(F, f"max_unpool{nd}d")
    ti = torch.tensor(i)
    want = tfn(torch.tensor(v), ti, k, s, p, size)
    w = np.random.default_rng(4).standard_normal(tuple(want.shape))
    tv, tg_ = _torch_grad(lambda t: tfn(t, ti, k, s, p, size), v, w)
    out, g = _grad(lambda t: fn(t, tg.tensor(i), k, s, p, size), v, w)
    np.testing.assert_array_equal(out, tv)
    np.testing.assert_allclose(g, tg_, **TOL)


def test_max_unpool_grad_fn_names_and_layers():
    v, i = _pooled(2, (1, 2, 4, 4), 2, 2, 0)
    x = tg.tensor(v, requires_grad=True)
    assert F.max_unpool2d(x, tg.tensor(i), 2).grad_fn.name() == "MaxUnpool2DBackward0"
    v1, i1 = _pooled(1, (2, 6), 2, 2, 0)
    y = F.max_unpool1d(tg.tensor(v1, requires_grad=True), tg.tensor(i1), 2)
    assert y.grad_fn.name() == "SqueezeBackward1"
    v3, i3 = _pooled(3, (1, 1, 4, 4, 4), 2, 2, 0)
    z = F.max_unpool3d(tg.tensor(v3, requires_grad=True), tg.tensor(i3), 2)
    assert z.grad_fn.name() == "MaxUnpool3DBackward0"
    layer = tg.nn.MaxUnpool2d(2)
    assert repr(layer) == "MaxUnpool2d(kernel_size=(2, 2), stride=(2, 2), padding=(0, 0))"
    assert (
        repr(tg.nn.MaxUnpool1d(3, 1)) == "MaxUnpool1d(kernel_size=(3,), stride=(1,), padding=(0,))"
    )
    assert repr(tg.nn.MaxUnpool3d(2, 1, 1)) == (
        "MaxUnpool3d(kernel_size=(2, 2, 2), stride=(1, 1, 1), padding=(1, 1, 1))"
    )
    out = layer(tg.tensor(v), tg.tensor(i), output_size=(1, 2, 5, 5))
    assert tuple(out.shape) == (1, 2, 5, 5)
    pool = tg.nn.MaxPool2d(2, return_indices=True)
    a, b = pool(tg.tensor(np.arange(16.0).reshape(1, 1, 4, 4)))
    np.testing.assert_array_equal(layer(a, b).numpy().reshape(4, 4)[1::2, 1::2], a.numpy()[0, 0])


def _unpool_errors():
    v, i = _pooled(2, (1, 2, 4, 4), 2, 2, 0)
    v3, i3 = _pooled(3, (1, 2, 4, 4, 4), 2, 2, 0)
    v1, i1 = _pooled(1, (2, 6), 2, 2, 0)
    return [
        ("2d", lambda m, T: m.max_unpool2d(T(v), T(i * 100), 2)),
        ("2d", lambda m, T: m.max_unpool2d(T(v), T(-i - 1), 2)),
        ("2d", lambda m, T: m.max_unpool2d(T(v), T(i).float(), 2)),
        ("2d", lambda m, T: m.max_unpool2d(T(v), T(i[..., :1]), 2)),
        ("2d", lambda m, T: m.max_unpool2d(T(v[0, 0]), T(i[0, 0]), 2)),
        ("2d", lambda m, T: m.max_unpool2d(T(v), T(i), 2, output_size=(9, 9))),
        ("2d", lambda m, T: m.max_unpool2d(T(v), T(i), 2, output_size=(4, 4, 4))),
        ("2d", lambda m, T: m.max_unpool2d(T(v).int(), T(i), 2)),
        ("2d", lambda m, T: m.max_unpool2d(T(v[:, :0]), T(i[:, :0]), 2)),
        ("3d", lambda m, T: m.max_unpool3d(T(v3), T(i3 * 100), 2)),
        ("3d", lambda m, T: m.max_unpool3d(T(v3[0, 0]), T(i3[0, 0]), 2)),
        ("3d", lambda m, T: m.max_unpool3d(T(v3), T(i3), 2, stride=0)),
        ("1d", lambda m, T: m.max_unpool1d(T(v1), T(i1 * 100), 2)),
    ]


@pytest.mark.parametrize("case", range(len(_unpool_errors())))
def test_max_unpool_errors_match_pytorch(case):
    torch = _torch()
    _, call = _unpool_errors()[case]
    with pytest.raises(Exception) as want:
        call(torch.nn.functional, torch.tensor)
    with pytest.raises(type(want.value)) as got:
        call(F, tg.tensor)
    # Which invalid index PyTorch names depends on its threads (the last one written over
    # several planes); tracegrad names the last in memory order (tested below).
    same = re.sub(r"index: -?\d+", "index: N", str(got.value))
    assert same == re.sub(r"index: -?\d+", "index: N", str(want.value))


def test_max_unpool_errors_without_pytorch():
    v, i = _pooled(2, (1, 2, 4, 4), 2, 2, 0)
    with pytest.raises(
        RuntimeError, match=r"^Found an invalid max index: 1500 \(output volumes are of size 4x4\)$"
    ):
        F.max_unpool2d(tg.tensor(v), tg.tensor(i * 100), 2)
    with pytest.raises(ValueError, match="dim 0 must be between 2 and 6"):
        F.max_unpool2d(tg.tensor(v), tg.tensor(i), 2, output_size=(9, 9))
    with pytest.raises(NotImplementedError, match="\"max_unpool2d\" not implemented for 'Int'"):
        F.max_unpool2d(tg.tensor(v).int(), tg.tensor(i), 2)


# ===================================================================================== lp_pool
def ref_lp_pool(x, p, k, s, ceil):
    """(sum over each window of x^p)^(1/p), windows as PyTorch's avg pool with ceil_mode
    (a partial last window counts as its mean times the kernel's size), from the definition."""
    nd = len(k)
    size = x.shape[-nd:]
    outs = []
    for n, kk, ss in zip(size, k, s):
        o = (n - kk + (ss - 1 if ceil else 0)) // ss + 1
        if ceil and (o - 1) * ss >= n:
            o -= 1
        outs.append(o)
    res = np.empty(x.shape[:-nd] + tuple(outs))
    for o in itertools.product(*map(range, outs)):
        sl = tuple(slice(a * ss, a * ss + kk) for a, ss, kk in zip(o, s, k))
        win = x[(Ellipsis, *sl)] ** p
        win = win.reshape(*win.shape[: x.ndim - nd], -1)
        # A partial (ceil-mode) window's mean is scaled to the full kernel, as PyTorch does.
        res[(Ellipsis, *o)] = (win.mean(-1) * np.prod(k)) ** (1 / p)
    return res


LP = [
    # nd, shape, norm_type, kernel, stride, ceil_mode
    (2, (2, 3, 7, 6), 2, 3, 2, True),
    (1, (2, 3, 9), 1.5, 2, None, False),
    (1, (3, 8), 3, 3, 2, True),
    (2, (3, 6, 5), 1, (2, 3), (1, 2), False),
    (2, (1, 2, 5, 5), 2.5, 2, None, True),
    (3, (1, 2, 5, 4, 5), 2, 2, (2, 1, 2), True),
    (3, (2, 4, 4, 3), 1.5, (2, 2, 3), None, False),
]


@pytest.mark.parametrize("nd, shape, p, k, s, ceil", slow_after(LP, keep=1, multi=True), ids=str)
def test_lp_pool_values_and_gradient(nd, shape, p, k, s, ceil):
    x = np.random.default_rng(5).uniform(0.2, 2.0, shape)
    kk = (k,) * nd if isinstance(k, int) else k
    ss = kk if s is None else ((s,) * nd if isinstance(s, int) else s)
    fn = getattr(F, f"lp_pool{nd}d")
    out = fn(tg.tensor(x), p, k, s, ceil)
    np.testing.assert_allclose(out.numpy(), ref_lp_pool(x, p, kk, ss, ceil), rtol=1e-12)
    # Gradient against central differences of the reference.
    w = np.random.default_rng(6).standard_normal(tuple(out.shape))
    _, g = _grad(lambda t: fn(t, p, k, s, ceil), x, w)
    v = np.random.default_rng(7).standard_normal(shape)
    eps = 1e-6
    fd = (
        (ref_lp_pool(x + eps * v, p, kk, ss, ceil) - ref_lp_pool(x - eps * v, p, kk, ss, ceil)) * w
    ).sum() / (2 * eps)
    np.testing.assert_allclose((g * v).sum(), fd, rtol=1e-6)


@pytest.mark.parametrize("nd, shape, p, k, s, ceil", slow_after(LP, keep=2, multi=True), ids=str)
def test_lp_pool_matches_pytorch(nd, shape, p, k, s, ceil):
    torch = _torch()
    x = np.random.default_rng(8).standard_normal(shape)  # signs: sign(a) relu(|a|) as PyTorch
    if p == 1.5 or p == 2.5:
        x = np.abs(x) + 0.1  # fractional powers of negatives are NaN in both
    w = np.random.default_rng(9).standard_normal((1,))
    tfn = getattr(torch.nn.functional, f"lp_pool{nd}d")
    fn = getattr(F, f"lp_pool{nd}d")
    want = tfn(torch.tensor(x), p, k, s, ceil)
    w = np.random.default_rng(9).standard_normal(tuple(want.shape))
    tv, tgrad = _torch_grad(lambda t: tfn(t, p, k, s, ceil), x, w)
    out, g = _grad(lambda t: fn(t, p, k, s, ceil), x, w)
    np.testing.assert_allclose(out, tv, rtol=1e-12, atol=1e-12, equal_nan=True)
    np.testing.assert_allclose(g, tgrad, rtol=1e-10, atol=1e-12, equal_nan=True)


@pytest.mark.parametrize("p", [float("inf"), -float("inf")])
def test_lp_pool_infinite_norms_are_max_pools(p):
    x = np.random.default_rng(10).standard_normal((2, 3, 6, 5))
    out = F.lp_pool2d(tg.tensor(x), p, 2, 1)
    want = F.max_pool2d(tg.tensor(np.abs(x) if p > 0 else -np.abs(x)), 2, 1).numpy()
    np.testing.assert_array_equal(out.numpy(), want if p > 0 else -want)


def test_lp_pool_layers():
    assert repr(tg.nn.LPPool2d(2, 3)) == (
        "LPPool2d(norm_type=2, kernel_size=3, stride=None, ceil_mode=False)"
    )
    assert repr(tg.nn.LPPool1d(1.5, 3, 2, True)) == (
        "LPPool1d(norm_type=1.5, kernel_size=3, stride=2, ceil_mode=True)"
    )
    x = np.random.default_rng(11).uniform(0.5, 1.5, (1, 2, 4, 4, 4))
    layer = tg.nn.LPPool3d(2, 2)
    np.testing.assert_allclose(
        layer(tg.tensor(x)).numpy(), F.lp_pool3d(tg.tensor(x), 2.0, 2).numpy(), rtol=0
    )


# ============================================================================ affine_grid, grid_sample
def ref_affine_grid(theta, size, align):
    spatial = size[2:]
    axes = []
    for n in spatial:
        a = 1.0 if align else (n - 1) / n
        axes.append(np.linspace(-a, a, n) if n > 1 else np.zeros(1))
    out = np.empty((size[0], *spatial, len(spatial)))
    for pos in itertools.product(*map(range, spatial)):
        coords = [axes[a][i] for a, i in reversed(list(enumerate(pos)))] + [1.0]
        out[(slice(None), *pos)] = theta @ np.array(coords)
    return out


def _ref_source(c, n, padding, align):
    x = (c + 1) / 2 * (n - 1) if align else ((c + 1) * n - 1) / 2
    if padding == "zeros":
        return x
    if padding == "reflection":
        lo2, hi2 = (0, 2 * (n - 1)) if align else (-1, 2 * n - 1)
        if lo2 == hi2:
            x = 0.0
        else:
            low, span = lo2 / 2, (hi2 - lo2) / 2
            x = abs(x - low)
            extra, flips = np.fmod(x, span), np.floor(x / span)
            x = extra + low if flips % 2 == 0 else span - extra + low
    return min(max(x, 0.0), n - 1.0)


def ref_grid_sample_2d(x, grid, mode, padding, align):
    """PyTorch's scalar CPU loop for 4-D input."""
    n, c, h, w = x.shape
    ho, wo = grid.shape[1:3]
    out = np.zeros((n, c, ho, wo))
    for b, i, j in itertools.product(range(n), range(ho), range(wo)):
        ix = _ref_source(grid[b, i, j, 0], w, padding, align)
        iy = _ref_source(grid[b, i, j, 1], h, padding, align)
        if mode == "nearest":
            xs, ys = np.rint(ix), np.rint(iy)
            if 0 <= xs < w and 0 <= ys < h:
                out[b, :, i, j] = x[b, :, int(ys), int(xs)]
            continue
        x0, y0 = np.floor(ix), np.floor(iy)
        for dx, dy in itertools.product((0, 1), (0, 1)):
            xs, ys = x0 + dx, y0 + dy
            wt = (ix - x0 if dx else x0 + 1 - ix) * (iy - y0 if dy else y0 + 1 - iy)
            if 0 <= xs < w and 0 <= ys < h:
                out[b, :, i, j] += wt * x[b, :, int(ys), int(xs)]
    return out


@pytest.mark.parametrize(
    "nd, align", slow_after([(2, False), (3, True), (2, True), (3, False)], multi=True)
)
def test_affine_grid_values_and_gradient(nd, align):
    rng = np.random.default_rng(12)
    theta = rng.standard_normal((2, nd, nd + 1))
    size = (2, 3, 4, 5) if nd == 2 else (2, 1, 3, 4, 2)
    out = F.affine_grid(tg.tensor(theta), size, align_corners=align)
    np.testing.assert_allclose(out.numpy(), ref_affine_grid(theta, size, align), **TOL)
    # linear in theta: the gradient of <out, w> is <w, base>
    w = rng.standard_normal(tuple(out.shape))
    _, g = _grad(lambda t: F.affine_grid(t, size, align_corners=align), theta, w)
    v = rng.standard_normal(theta.shape)
    np.testing.assert_allclose(
        (g * v).sum(), (ref_affine_grid(v, size, align) * w).sum(), rtol=1e-10
    )


GS = list(
    itertools.product(("bilinear", "nearest"), ("zeros", "border", "reflection"), (False, True))
)


@pytest.mark.parametrize("mode, padding, align", slow_after(GS, keep=2, multi=True))
def test_grid_sample_2d_against_reference(mode, padding, align):
    rng = np.random.default_rng(13)
    x = rng.standard_normal((2, 3, 4, 5))
    grid = rng.uniform(-1.6, 1.6, (2, 3, 4, 2))
    out = F.grid_sample(tg.tensor(x), tg.tensor(grid), mode, padding, align)
    np.testing.assert_allclose(
        out.numpy(), ref_grid_sample_2d(x, grid, mode, padding, align), **TOL
    )
    if mode == "bilinear":  # grid gradient against central differences of the reference
        w = rng.standard_normal(tuple(out.shape))
        _, g = _grad(lambda t: F.grid_sample(tg.tensor(x), t, mode, padding, align), grid, w)
        v = rng.standard_normal(grid.shape)
        eps = 1e-7
        fd = (
            (ref_grid_sample_2d(x, grid + eps * v, mode, padding, align)
             - ref_grid_sample_2d(x, grid - eps * v, mode, padding, align)) * w
        ).sum() / (2 * eps)  # fmt: skip
        np.testing.assert_allclose((g * v).sum(), fd, rtol=1e-6)


GS_TORCH = list(
    itertools.product(
        (2, 3), ("bilinear", "nearest"), ("zeros", "border", "reflection"), (False, True)
    )
)


GS_TORCH += [(2, "bicubic", p, a) for p in ("zeros", "border", "reflection") for a in (False, True)]


@pytest.mark.parametrize("nd, mode, padding, align", slow_after(GS_TORCH, keep=2, multi=True))
def test_grid_sample_matches_pytorch(nd, mode, padding, align):
    torch = _torch()
    rng = np.random.default_rng(14)
    shape = (2, 3, 5, 6) if nd == 2 else (2, 2, 4, 5, 3)
    gshape = (2, 4, 3, 2) if nd == 2 else (2, 3, 2, 3, 3)
    x, grid = rng.standard_normal(shape), rng.uniform(-1.7, 1.7, gshape)
    tx, tgrid = torch.tensor(x, requires_grad=True), torch.tensor(grid, requires_grad=True)
    want = torch.nn.functional.grid_sample(tx, tgrid, mode, padding, align)
    w = rng.standard_normal(tuple(want.shape))
    (want * torch.tensor(w)).sum().backward()
    gx, ggrid = tg.tensor(x, requires_grad=True), tg.tensor(grid, requires_grad=True)
    out = F.grid_sample(gx, ggrid, mode, padding, align)
    (out * tg.tensor(w)).sum().backward()
    np.testing.assert_allclose(out.detach().numpy(), want.detach().numpy(), **TOL)
    np.testing.assert_allclose(gx.grad.numpy(), tx.grad.numpy(), **TOL)
    np.testing.assert_allclose(ggrid.grad.numpy(), tgrid.grad.numpy(), rtol=1e-10, atol=1e-10)


def test_affine_grid_then_grid_sample_matches_pytorch():
    torch = _torch()
    rng = np.random.default_rng(15)
    theta, x = rng.standard_normal((2, 2, 3)) * 0.5, rng.standard_normal((2, 3, 6, 5))
    tt = torch.tensor(theta, requires_grad=True)
    tf = torch.nn.functional
    want = tf.grid_sample(
        torch.tensor(x), tf.affine_grid(tt, (2, 3, 4, 4), False), align_corners=False
    )
    want.square().sum().backward()
    gt = tg.tensor(theta, requires_grad=True)
    out = F.grid_sample(tg.tensor(x), F.affine_grid(gt, (2, 3, 4, 4), False), align_corners=False)
    out.square().sum().backward()
    np.testing.assert_allclose(out.detach().numpy(), want.detach().numpy(), **TOL)
    np.testing.assert_allclose(gt.grad.numpy(), tt.grad.numpy(), rtol=1e-10, atol=1e-12)


def test_grid_sample_nearest_grid_gradient_is_zeros():
    x = tg.tensor(np.ones((1, 1, 3, 3)))
    grid = tg.tensor(np.zeros((1, 2, 2, 2)), requires_grad=True)
    F.grid_sample(x, grid, "nearest", align_corners=False).sum().backward()
    np.testing.assert_array_equal(grid.grad.numpy(), np.zeros((1, 2, 2, 2)))


def _gs_errors():
    x, g = np.zeros((2, 3, 4, 5)), np.zeros((2, 3, 3, 2))
    return [
        lambda m, T: m.grid_sample(T(x), T(g), "linear", align_corners=False),
        lambda m, T: m.grid_sample(T(x), T(g), padding_mode="wrap", align_corners=False),
        lambda m, T: m.grid_sample(T(x), T(g[..., None]), align_corners=False),
        lambda m, T: m.grid_sample(T(x), T(g[:1]), align_corners=False),
        lambda m, T: m.grid_sample(T(x), T(np.zeros((2, 3, 3, 3))), align_corners=False),
        lambda m, T: m.grid_sample(T(x[:, :, :0]), T(g), align_corners=False),
        lambda m, T: m.grid_sample(
            T(x[None]), T(np.zeros((1, 2, 3, 3, 3, 3))), align_corners=False
        ),
        lambda m, T: m.grid_sample(T(x[0]), T(g[0]), align_corners=False),
        lambda m, T: m.grid_sample(T(x), T(g).float(), align_corners=False),
        lambda m, T: m.grid_sample(
            T(x[None]), T(np.zeros((1, 2, 3, 3, 3))), "bicubic", align_corners=False
        ),
        lambda m, T: m.affine_grid(T(np.zeros((2, 2, 3))), (2, 3, 4), False),
        lambda m, T: m.affine_grid(T(np.zeros((2, 3, 3))), (2, 3, 4, 5), False),
        lambda m, T: m.affine_grid(T(np.zeros((2, 2, 3))).int(), (2, 3, 4, 5), False),
        lambda m, T: m.affine_grid(T(np.zeros((2, 2, 3))), (2, 3, 0, 5), False),
    ]


@pytest.mark.parametrize("case", range(len(_gs_errors())))
def test_grid_sample_and_affine_grid_errors_match_pytorch(case):
    torch = _torch()
    call = _gs_errors()[case]
    with pytest.raises(Exception) as want:
        call(torch.nn.functional, torch.tensor)
    with pytest.raises(type(want.value)) as got:
        call(F, tg.tensor)
    assert str(got.value) == str(want.value).replace("torch.", "tracegrad.")


def test_grid_sample_bicubic_and_align_corners_warning():
    x, g = tg.tensor(np.zeros((1, 1, 3, 3))), tg.tensor(np.zeros((1, 2, 2, 2)))
    with pytest.warns(UserWarning, match="align_corners=False since 1.3.0"):
        F.grid_sample(x, g)
    with pytest.warns(UserWarning, match="align_corners=False since 1.3.0"):
        F.affine_grid(tg.tensor(np.zeros((1, 2, 3))), (1, 1, 2, 2))


# ======================================================================== fractional max pooling
def ref_fractional(x, samples, nd, k, out):
    """PyTorch's CPU loop: generate_intervals in float64 (the inputs here are float64), the
    first maximum of each window (its flat plane index)."""
    spatial = x.shape[-nd:]
    lead = x.shape[:-nd]
    planes = x.reshape(-1, *spatial)
    u = samples.reshape(-1, nd)
    col = (1, 0) if nd == 2 else (0, 1, 2)
    vals = np.empty((len(planes), *out))
    idx = np.empty((len(planes), *out), np.int64)
    for p, plane in enumerate(planes):
        starts = []
        for a in range(nd):
            n, o, kk, s = spatial[a], out[a], k[a], u[p, col[a]]
            seq = [0] * o
            if o > 1:
                alpha = (n - kk) / (o - 1)
                seq = [int((i + s) * alpha) - int(s * alpha) for i in range(o)]
            if o > 0:
                seq[-1] = n - kk
            starts.append(seq)
        for pos in itertools.product(*map(range, out)):
            best, where_ = -np.inf, None
            for off in itertools.product(*map(range, k)):
                src = tuple(starts[a][pos[a]] + off[a] for a in range(nd))
                if where_ is None or plane[src] > best:
                    best, where_ = plane[src], np.ravel_multi_index(src, spatial)
            vals[(p, *pos)], idx[(p, *pos)] = best, where_
    return vals.reshape(*lead, *out), idx.reshape(*lead, *out)


FRACTIONAL = [
    # nd, shape, kernel, output_size, output_ratio
    (2, (2, 3, 9, 8), 2, (4, 5), None),
    (3, (1, 2, 7, 8, 9), 2, (3, 4, 5), None),
    (2, (3, 11, 10), 3, None, (0.5, 0.6)),
    (2, (1, 2, 7, 7), (3, 2), 1, None),
    (3, (2, 6, 7, 8), (2, 3, 2), None, 0.5),
]


def _fractional_case(nd, shape, k, size, ratio):
    rng = np.random.default_rng(16)
    x = rng.standard_normal(shape)
    batch = shape[0] if len(shape) == nd + 2 else 1
    samples = rng.uniform(0, 1, (batch, shape[-nd - 1], nd))
    kk = tuple(k) if isinstance(k, tuple) else (k,) * nd
    if size is None:
        r = ratio if isinstance(ratio, tuple) else (ratio,) * nd
        out = tuple(int(shape[-nd + a] * r[a]) for a in range(nd))
    else:
        out = size if isinstance(size, tuple) else (size,) * nd
    return x, samples, kk, out


@pytest.mark.parametrize("nd, shape, k, size, ratio", slow_after(FRACTIONAL, keep=1, multi=True))
def test_fractional_max_pool_against_reference(nd, shape, k, size, ratio):
    x, samples, kk, out = _fractional_case(nd, shape, k, size, ratio)
    fn = getattr(F, f"fractional_max_pool{nd}d")
    v, i = fn(tg.tensor(x), k, size, ratio, True, _random_samples=tg.tensor(samples))
    want_v, want_i = ref_fractional(x, samples, nd, kk, out)
    np.testing.assert_array_equal(v.numpy(), want_v)
    np.testing.assert_array_equal(i.numpy(), want_i)
    w = np.random.default_rng(17).standard_normal(want_v.shape)
    _, g = _grad(lambda t: fn(t, k, size, ratio, _random_samples=tg.tensor(samples)), x, w)
    want_g = np.zeros(x.shape).reshape(-1, int(np.prod(x.shape[-nd:])))
    for r, (ix, ww) in enumerate(zip(want_i.reshape(len(want_g), -1), w.reshape(len(want_g), -1))):
        np.add.at(want_g[r], ix, ww)
    np.testing.assert_allclose(g, want_g.reshape(x.shape), **TOL)


@pytest.mark.parametrize("nd, shape, k, size, ratio", slow_after(FRACTIONAL, keep=2, multi=True))
@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_fractional_max_pool_matches_pytorch(nd, shape, k, size, ratio, dtype):
    torch = _torch()
    x, samples, _, _ = _fractional_case(nd, shape, k, size, ratio)
    x, samples = x.astype(dtype), samples.astype(dtype)
    tx = torch.tensor(x, requires_grad=True)
    tfn = getattr(torch.nn.functional, f"fractional_max_pool{nd}d_with_indices")
    tv, ti = tfn(tx, k, size, ratio, _random_samples=torch.tensor(samples))
    w = np.random.default_rng(18).standard_normal(tuple(tv.shape)).astype(dtype)
    (tv * torch.tensor(w)).sum().backward()
    gx = tg.tensor(x, requires_grad=True)
    fn = getattr(F, f"fractional_max_pool{nd}d_with_indices")
    v, i = fn(gx, k, size, ratio, _random_samples=tg.tensor(samples))
    (v * tg.tensor(w)).sum().backward()
    np.testing.assert_array_equal(v.detach().numpy(), tv.detach().numpy())
    np.testing.assert_array_equal(i.numpy(), ti.numpy())
    np.testing.assert_array_equal(gx.grad.numpy(), tx.grad.numpy())


def test_fractional_max_pool_random_samples_use_the_generator():
    x = tg.tensor(np.random.default_rng(19).standard_normal((2, 3, 8, 8)))
    tg.manual_seed(3)
    a = F.fractional_max_pool2d(x, 2, output_ratio=0.5)
    tg.manual_seed(3)
    b = F.fractional_max_pool2d(x, 2, output_ratio=0.5)
    np.testing.assert_array_equal(a.numpy(), b.numpy())
    assert tuple(a.shape) == (2, 3, 4, 4)


def test_fractional_max_pool_layers():
    layer = tg.nn.FractionalMaxPool2d(2, output_size=3, return_indices=True)
    assert layer.kernel_size == (2, 2) and layer.output_size == (3, 3)
    samples = tg.tensor(np.full((1, 2, 2), 0.5))
    layer3 = tg.nn.FractionalMaxPool3d(
        2,
        output_ratio=0.5,
        _random_samples=samples.reshape(1, 2, 2)[..., :1].expand(1, 2, 3).contiguous(),
    )
    x = tg.tensor(np.random.default_rng(20).standard_normal((1, 2, 6, 6)))
    v, i = layer(x)
    assert tuple(v.shape) == tuple(i.shape) == (1, 2, 3, 3)
    out = layer3(tg.tensor(np.random.default_rng(21).standard_normal((1, 2, 4, 6, 8))))
    assert tuple(out.shape) == (1, 2, 2, 3, 4)
    with pytest.raises(
        ValueError, match="requires specifying either an output size, or a pooling ratio"
    ):
        tg.nn.FractionalMaxPool2d(2)
    with pytest.raises(
        ValueError, match="only one of output_size and output_ratio may be specified"
    ):
        tg.nn.FractionalMaxPool2d(2, output_size=3, output_ratio=0.5)
    with pytest.raises(ValueError, match=r"output_ratio must be between 0 and 1 \(got 1.5\)"):
        tg.nn.FractionalMaxPool3d(2, output_ratio=1.5)
    with pytest.raises(ValueError, match="kernel_size must be greater than 0, but got 0"):
        tg.nn.FractionalMaxPool3d(0, output_size=2)


def _fractional_errors():
    x = np.zeros((2, 3, 7, 6))
    return [
        lambda m, T: m.fractional_max_pool2d(T(x), 3),
        lambda m, T: m.fractional_max_pool2d(T(x), 3, output_size=(6, 5)),
        lambda m, T: m.fractional_max_pool2d(
            T(x), 2, output_size=3, _random_samples=T(np.zeros((2, 3, 3)))
        ),
        lambda m, T: m.fractional_max_pool2d(
            T(x), 2, output_size=3, _random_samples=T(np.zeros((2, 3, 2))).float()
        ),
        lambda m, T: m.fractional_max_pool3d(T(x), 2, output_size=3),
        lambda m, T: m.fractional_max_pool2d(T(x), 2, output_ratio=(0.5, 0.5, 0.5)),
        lambda m, T: m.fractional_max_pool2d(T(x), 2, output_size=(3, 6)),
    ]


@pytest.mark.parametrize("case", range(len(_fractional_errors())))
def test_fractional_max_pool_errors_match_pytorch(case):
    torch = _torch()
    call = _fractional_errors()[case]
    with pytest.raises(Exception) as want:
        call(torch.nn.functional, torch.tensor)
    with pytest.raises(type(want.value)) as got:
        call(F, tg.tensor)
    assert str(got.value) == str(want.value)


@slow
def test_new_functions_inside_a_compiled_step():
    """Unpooling, LP pooling, grid sampling and fractional pooling trace under tracegrad.compile
    and give the eager gradients."""
    rng = np.random.default_rng(22)
    x = tg.tensor(rng.uniform(0.1, 1.0, (2, 3, 8, 8)), requires_grad=True)
    theta = tg.tensor(rng.standard_normal((2, 2, 3)) * 0.5, requires_grad=True)
    samples = tg.tensor(rng.uniform(0, 1, (2, 3, 2)))

    def forward():
        grid = F.affine_grid(theta, (2, 3, 4, 4), align_corners=False)
        y = F.grid_sample(x, grid, align_corners=False)
        y = y + F.grid_sample(x, grid, "bicubic", "reflection", align_corners=True)
        v, i = F.max_pool2d(y, 2, return_indices=True)
        f = F.fractional_max_pool2d(x, 2, output_size=3, _random_samples=samples)
        return F.max_unpool2d(v, i, 2).square().sum() + F.lp_pool2d(y, 2, 2).sum() + f.sum()

    def step():
        loss = forward()
        loss.backward()
        return loss

    compiled = tg.compile(step, state=(x, theta))
    loss = compiled()
    gx, gt = x.grad.numpy().copy(), theta.grad.numpy().copy()
    x.grad = theta.grad = None
    want = step()
    np.testing.assert_allclose(loss.numpy(), want.detach().numpy(), rtol=1e-12)
    np.testing.assert_allclose(gx, x.grad.numpy(), rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(gt, theta.grad.numpy(), rtol=1e-10, atol=1e-12)
