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

from .tiers import slow_after

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


@pytest.mark.parametrize("nd, shape, p, k, s, ceil", slow_after(LP, keep=2, multi=True), ids=str)
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
