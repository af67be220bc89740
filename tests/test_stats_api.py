"""Statistics, searching, counting and scans (ops/stats.py, ops/scans.py) against PyTorch 2.13
(CPU): values, dtypes, named-tuple types and fields, gradients, Tensor methods and errors; and the
data-dependent functions' refusal inside a compiled function."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest

import tracegrad as tg

from .tiers import slow, slow_after

torch = pytest.importorskip("torch")

NAN, INF = math.nan, math.inf
_rng = np.random.default_rng(0)
X = _rng.standard_normal((3, 5))
Y = _rng.standard_normal((4, 6))


def _both(values, dtype="float64", requires_grad=False):
    a = np.asarray(values)
    return (
        tg.tensor(a, dtype=getattr(tg, dtype), requires_grad=requires_grad),
        torch.tensor(a, dtype=getattr(torch, dtype), requires_grad=requires_grad),
    )


def _same(ours, theirs, atol: float = 1e-9):
    """Same shape, dtype and values (NaN where PyTorch has NaN)."""
    if isinstance(theirs, (tuple, list)):
        assert isinstance(ours, (tuple, list)) and len(ours) == len(theirs)
        for o, t in zip(ours, theirs):
            _same(o, t, atol)
        return
    o = np.asarray(ours.detach())
    t = theirs.detach().numpy()
    assert o.shape == t.shape
    assert str(ours.dtype).split(".")[-1] == str(theirs.dtype).split(".")[-1]
    if o.dtype.kind in "biu":
        np.testing.assert_array_equal(o, t)
    else:  # float32: summation orders may differ in the last bit
        rtol = 1e-7 if o.dtype == np.float64 else 1e-6
        np.testing.assert_allclose(o, t, rtol=rtol, atol=atol)


def _grads(fn_tg, fn_torch, *values, seed: int = 1, dtypes=None):
    """The inputs' gradients of ``fn(*inputs)`` (a tensor, or a tuple whose first element is
    differentiated) under the same random cotangent, tracegrad's and PyTorch's."""
    dtypes = dtypes or ["float64"] * len(values)
    pairs = [_both(v, d, requires_grad=True) for v, d in zip(values, dtypes)]
    ours = fn_tg(*[p[0] for p in pairs])
    theirs = fn_torch(*[p[1] for p in pairs])
    ours = ours[0] if isinstance(ours, tuple) else ours
    theirs = theirs[0] if isinstance(theirs, tuple) else theirs
    _same(ours, theirs)
    cot = np.random.default_rng(seed).standard_normal(tuple(theirs.shape))
    og = tg.autograd.grad(ours, [p[0] for p in pairs], tg.tensor(cot), allow_unused=True)
    tgr = torch.autograd.grad(theirs, [p[1] for p in pairs], torch.tensor(cot), allow_unused=True)
    for a, b in zip(og, tgr):
        if b is None:
            assert a is None or not np.any(np.asarray(a))
        else:
            np.testing.assert_allclose(np.asarray(a), b.numpy(), rtol=1e-7, atol=1e-10)


def _raises_like(call, exc=Exception):
    """Both libraries raise the same exception type with the same message."""
    with pytest.raises(exc) as theirs:
        call(torch)
    with pytest.raises(type(theirs.value)) as ours:
        call(tg)
    assert str(ours.value) == str(theirs.value)


# ------------------------------------------------------------------------- quantile, nanquantile
INTERPOLATIONS = ["linear", "lower", "higher", "midpoint", "nearest"]


@pytest.mark.parametrize("interpolation", slow_after(INTERPOLATIONS, keep=2))
@pytest.mark.parametrize(
    "q,dim,keepdim",
    slow_after(
        [(0.3, 1, False), ([0.0, 0.25, 0.5, 1.0], None, False), ([0.1, 0.9], 0, True),
         (0.5, None, True), ([0.4], -1, False)],
        keep=2,
        multi=True,
    ),
)  # fmt: skip
def test_quantile_values(q, dim, keepdim, interpolation):
    for name in ("quantile", "nanquantile"):
        x, xt = _both(X)
        qo = q if isinstance(q, float) else tg.tensor(q, dtype=tg.float64)
        qt = q if isinstance(q, float) else torch.tensor(q, dtype=torch.float64)
        kw = dict(dim=dim, keepdim=keepdim, interpolation=interpolation)
        _same(getattr(tg, name)(x, qo, **kw), getattr(torch, name)(xt, qt, **kw))
        _same(getattr(x, name)(qo, **kw), getattr(xt, name)(qt, **kw))


@pytest.mark.parametrize("interpolation", slow_after(INTERPOLATIONS, keep=2))
def test_quantile_with_nans(interpolation):
    v = [[NAN, 1.0, 4.0, 2.0, NAN], [NAN] * 5, [3.0, 0.5, 2.0, 8.0, 1.0]]
    x, xt = _both(v, "float32")
    q, qt = _both([0.2, 0.75], "float32")
    for name in ("quantile", "nanquantile"):
        for dim in (1, None):
            kw = dict(dim=dim, interpolation=interpolation)
            _same(getattr(tg, name)(x, q, **kw), getattr(torch, name)(xt, qt, **kw), atol=1e-6)


def test_quantile_of_0d_and_scalar_q():
    x, xt = _both(2.5)
    _same(tg.quantile(x, 0.3), torch.quantile(xt, 0.3))
    _same(tg.quantile(x, 0.3, dim=0, keepdim=True), torch.quantile(xt, 0.3, dim=0, keepdim=True))


@pytest.mark.parametrize("interpolation", slow_after(INTERPOLATIONS, keep=1))
def test_quantile_gradients_reach_input_and_q(interpolation):
    for name in ("quantile", "nanquantile"):
        _grads(
            lambda a, q, name=name: getattr(tg, name)(a, q, dim=1, interpolation=interpolation),
            lambda a, q, name=name: getattr(torch, name)(a, q, dim=1, interpolation=interpolation),
            X,
            [0.15, 0.6],
        )
    # NaNs skipped by nanquantile: the gradient avoids them
    v = np.array([[NAN, 1.0, 4.0, 2.0], [0.5, NAN, NAN, 3.0]])
    _grads(
        lambda a: tg.nanquantile(a, 0.7, dim=1, interpolation=interpolation),
        lambda a: torch.nanquantile(a, 0.7, dim=1, interpolation=interpolation),
        v,
    )


@pytest.mark.parametrize(
    "call",
    [
        lambda T: T.quantile(T.tensor([1, 2]), 0.5),
        lambda T: T.quantile(T.tensor([]), 0.5),
        lambda T: T.quantile(T.tensor([1.0, 2.0]), 1.5),
        lambda T: T.quantile(T.tensor([1.0, 2.0]), T.tensor([0.5, 1.5])),
        lambda T: T.quantile(T.tensor([1.0, 2.0]), T.tensor([[0.5]])),
        lambda T: T.quantile(T.tensor([1.0, 2.0]), T.tensor([0.5], dtype=T.float64)),
        lambda T: T.nanquantile(T.tensor([1.0, 2.0]), 0.5, interpolation="cubic"),
    ],
)
def test_quantile_errors(call):
    _raises_like(call)


# --------------------------------------------------------------------------------------- nanmedian
def test_nanmedian_values_indices_and_gradients():
    v = [[NAN, 1.0, 4.0, 2.0, 0.5], [3.0, NAN, NAN, -1.0, 2.0], [5.0, 4.0, 3.0, 2.0, 1.0]]
    x, xt = _both(v)
    _same(tg.nanmedian(x), torch.nanmedian(xt))
    for dim, keepdim in ((1, False), (0, True), (-1, True)):
        ours, theirs = tg.nanmedian(x, dim, keepdim), torch.nanmedian(xt, dim, keepdim)
        assert type(ours).__name__ == "nanmedian"
        _same(ours.values, theirs.values)
        _same(ours.indices, theirs.indices)
        _same(x.nanmedian(dim, keepdim).values, xt.nanmedian(dim, keepdim).values)
    _grads(tg.nanmedian, torch.nanmedian, v)
    _grads(lambda a: tg.nanmedian(a, 1), lambda a: torch.nanmedian(a, 1), v)


def test_nanmedian_of_only_nans():
    # The value is NaN; the full reduction shares the gradient among the NaNs, as PyTorch. Along a
    # dimension the index is one of the NaNs (PyTorch's pick among them follows its selection
    # algorithm; here it is the first).
    _grads(tg.nanmedian, torch.nanmedian, [NAN, NAN, NAN])
    x, _ = _both([[NAN] * 4, [1.0, NAN, NAN, NAN]])
    r = tg.nanmedian(x, 1)
    assert math.isnan(r.values[0].item()) and r.values[1].item() == 1.0
    assert r.indices.tolist() == [0, 0]


# -------------------------------------------------------------------------------------------- mode
@pytest.mark.parametrize("dtype", slow_after(["int64", "float32", "bool", "int32"], keep=2))
def test_mode(dtype):
    v = _rng.integers(0, 3, (4, 7))
    x, xt = _both(v, dtype)
    for dim, keepdim in ((1, False), (0, True), (-1, False)):
        ours, theirs = tg.mode(x, dim, keepdim), torch.mode(xt, dim, keepdim)
        assert type(ours).__name__ == "mode"
        _same(ours.values, theirs.values)
        _same(ours.indices, theirs.indices)
    _same(x.mode().values, xt.mode().values)


def test_mode_counts_nans_together():
    # NaNs form one run, larger than any number. PyTorch's kernel sorts with a comparison NaN
    # breaks, so only slices whose sorted order it still gets right are compared; for a NaN mode
    # the index is one of the NaNs (PyTorch's pick among them depends on its sort; here the last).
    rows = [[NAN, 1.0, NAN, 2.0], [NAN, NAN, 1.0, 1.0]]
    x, xt = _both(rows)
    ours, theirs = tg.mode(x, 1), torch.mode(xt, 1)
    _same(ours.values, theirs.values)
    assert ours.indices[1].item() == theirs.indices[1].item()
    assert math.isnan(rows[0][ours.indices[0].item()])


def test_mode_gradient_and_0d():
    v = np.array([[1.0, 2.0, 1.0, 3.0], [2.0, 2.0, 0.0, 0.0]])
    _grads(lambda a: tg.mode(a, 1), lambda a: torch.mode(a, 1), v)
    x, xt = _both(2.0)
    _same(tg.mode(x), torch.mode(xt))
    _raises_like(lambda T: T.mode(T.tensor([])), IndexError)


# ------------------------------------------------------------------------------------------ aminmax
def test_aminmax():
    x, xt = _both(X)
    ours, theirs = tg.aminmax(x), torch.aminmax(xt)
    assert type(ours).__name__ == "aminmax"
    _same(ours.min, theirs.min)
    _same(ours.max, theirs.max)
    for kw in (dict(dim=1), dict(dim=0, keepdim=True), dict(keepdim=True)):
        _same(tuple(tg.aminmax(x, **kw)), tuple(torch.aminmax(xt, **kw)))
        _same(tuple(x.aminmax(**kw)), tuple(xt.aminmax(**kw)))
    i, it = _both([[1, 5], [3, 0]], "int64")
    _same(tuple(tg.aminmax(i, dim=0)), tuple(torch.aminmax(it, dim=0)))
    ties = [[1.0, 3.0, 3.0], [2.0, 2.0, 0.0]]
    for k in (0, 1):
        _grads(
            lambda a, k=k: tg.aminmax(a, dim=1)[k], lambda a, k=k: torch.aminmax(a, dim=1)[k], ties
        )
        _grads(lambda a, k=k: tg.aminmax(a)[k], lambda a, k=k: torch.aminmax(a)[k], ties)
    _raises_like(lambda T: T.aminmax(T.tensor([])))
    _raises_like(lambda T: T.aminmax(T.zeros(2, 0), dim=1), IndexError)


# ----------------------------------------------------------------------- searchsorted, bucketize
def test_searchsorted():
    seq, seqt = _both(np.sort(X, axis=1))
    v, vt = _both(Y[:3, :4])
    for kw in (dict(), dict(right=True), dict(side="right"), dict(out_int32=True)):
        _same(tg.searchsorted(seq, v, **kw), torch.searchsorted(seqt, vt, **kw))
    s1, s1t = _both([1, 3, 3, 5, 7], "int64")
    q, qt = _both([[0, 3, 8], [5, 5, 2]], "int64")
    for kw in (dict(), dict(right=True), dict(side="left", right=False)):
        _same(tg.searchsorted(s1, q, **kw), torch.searchsorted(s1t, qt, **kw))
    _same(tg.searchsorted(s1, 3), torch.searchsorted(s1t, 3))
    perm = np.array([3, 0, 4, 1, 2])
    unsorted = np.array([1, 3, 3, 5, 7])[np.argsort(perm)]
    u, ut = _both(unsorted, "int64")
    sorter, sortert = _both(np.argsort(unsorted, kind="stable"), "int64")
    _same(tg.searchsorted(u, q, sorter=sorter), torch.searchsorted(ut, qt, sorter=sortert))


def test_searchsorted_with_nans_follows_pytorchs_search():
    for seq in ([1.0, 2.0, NAN], [NAN, NAN, 1.0, 2.0, 3.0], [0.5, 1.0, 1.0, 2.0, NAN, NAN, NAN]):
        s, st = _both(seq)
        v, vt = _both([NAN, 1.0, 1.5, 3.0, -1.0])
        for right in (False, True):
            _same(tg.searchsorted(s, v, right=right), torch.searchsorted(st, vt, right=right))


@pytest.mark.parametrize(
    "call",
    [
        lambda T: T.searchsorted(T.tensor([[1, 2]]), T.tensor([1, 2, 3])),
        lambda T: T.searchsorted(T.tensor([1, 2]), T.tensor([1]), side="left", right=True),
        lambda T: T.searchsorted(T.tensor([[1, 2]]), 1),
        lambda T: T.searchsorted(T.tensor([1, 2]), T.tensor([1]), sorter=T.tensor([0, 1.0])),
    ],
)
def test_searchsorted_errors(call):
    _raises_like(call, RuntimeError)


def test_bucketize():
    b, bt = _both([-1.0, 0.0, 0.5, 2.0])
    x, xt = _both(np.round(X, 1))
    for kw in (dict(), dict(right=True), dict(out_int32=True)):
        _same(tg.bucketize(x, b, **kw), torch.bucketize(xt, bt, **kw))
    _same(tg.bucketize(0.5, b), torch.bucketize(0.5, bt))
    _raises_like(lambda T: T.bucketize(T.tensor([1]), T.tensor([[1, 2]])), RuntimeError)


# --------------------------------------------------------------------------------------------- isin
def test_isin():
    e, et = _both([[1, 2, 3], [4, 5, 6]], "int64")
    t, tt = _both([2, 6, 9], "int64")
    for kw in (dict(), dict(invert=True), dict(assume_unique=True)):
        _same(tg.isin(e, t, **kw), torch.isin(et, tt, **kw))
    _same(tg.isin(e, 5), torch.isin(et, 5))
    _same(tg.isin(5, t), torch.isin(5, tt))
    f, ft = _both([1.5, 2.0])
    _same(tg.isin(e, f), torch.isin(et, ft))


# ----------------------------------------------------------------------------------------- bincount
def test_bincount():
    x, xt = _both([1, 2, 2, 5, 0], "int64")
    _same(tg.bincount(x), torch.bincount(xt))
    _same(x.bincount(minlength=8), xt.bincount(minlength=8))
    for dtype in ("float32", "float64", "int64"):
        w, wt = _both([0.5, 1.0, 2.0, 3.0, 4.0] if dtype != "int64" else [1, 2, 3, 4, 5], dtype)
        _same(tg.bincount(x, w), torch.bincount(xt, wt))
    e, et = _both([], "int64")
    _same(tg.bincount(e), torch.bincount(et))
    _raises_like(lambda T: T.bincount(T.tensor([-1])), RuntimeError)
    _raises_like(lambda T: T.bincount(T.tensor([[1]])), RuntimeError)
    _raises_like(lambda T: T.bincount(T.tensor([1.0])), NotImplementedError)


# ------------------------------------------------------------------------ histc, histogram(dd)
def test_histc():
    x, xt = _both(X, "float32")
    for kw in (dict(), dict(bins=7), dict(bins=4, min=-1, max=1), dict(bins=3, min=2, max=2)):
        _same(tg.histc(x, **kw), torch.histc(xt, **kw))
        _same(x.histc(**kw), xt.histc(**kw))
    c, ct = _both([1.0, 1.0, 1.0])
    _same(tg.histc(c, bins=4), torch.histc(ct, bins=4))
    _raises_like(lambda T: T.histc(T.tensor([1, 2]), bins=3), NotImplementedError)
    _raises_like(lambda T: T.histc(T.tensor([1.0]), bins=3, min=2, max=1), RuntimeError)
    _raises_like(lambda T: T.histc(T.tensor([1.0]), bins=0), RuntimeError)


def test_histogram():
    x, xt = _both(X)
    w, wt = _both(np.abs(Y[:3, :5]))
    edges, edgest = _both([-2.0, -0.5, 0.0, 0.1, 3.0])
    cases = [
        ((5,), {}),
        ((4,), dict(range=(-1.0, 1.0), density=True)),
        ((3,), dict(weight=(w, wt))),
        ((edges,), dict(weight=(w, wt), density=True)),
    ]
    for args, kw in cases:
        a_o = [edges if a is edges else a for a in args]
        a_t = [edgest if a is edges else a for a in args]
        ko = {k: (v[0] if isinstance(v, tuple) and k == "weight" else v) for k, v in kw.items()}
        kt = {k: (v[1] if isinstance(v, tuple) and k == "weight" else v) for k, v in kw.items()}
        ours, theirs = tg.histogram(x, *a_o, **ko), torch.histogram(xt, *a_t, **kt)
        assert type(ours).__name__ == "histogram"
        _same(ours.hist, theirs.hist)
        _same(ours.bin_edges, theirs.bin_edges)
        _same(tuple(x.histogram(*a_o, **ko)), tuple(xt.histogram(*a_t, **kt)))
    _raises_like(lambda T: T.histogram(T.tensor([1, 2]), 3), NotImplementedError)
    _raises_like(
        lambda T: T.histogram(T.tensor([1.0]), 2, weight=T.tensor([1.0], dtype=T.float64)),
        RuntimeError,
    )


def test_histogramdd():
    pts, ptst = _both(_rng.uniform(-1, 2, (12, 3)))
    w, wt = _both(_rng.uniform(0, 1, 12))
    b = [_both([-1.0, 0.0, 2.0]), _both([-1.0, 0.5, 1.0, 2.0]), _both([0.0, 1.0])]
    for ko, kt in (
        (dict(bins=3), dict(bins=3)),
        (dict(bins=[2, 3, 4], weight=w), dict(bins=[2, 3, 4], weight=wt)),
        (dict(bins=2, range=[0.0, 1.0] * 3, density=True),) * 2,
        (dict(bins=[e[0] for e in b], density=True), dict(bins=[e[1] for e in b], density=True)),
    ):
        ours, theirs = tg.histogramdd(pts, **ko), torch.histogramdd(ptst, **kt)
        assert type(ours).__name__ == "histogramdd"
        _same(ours.hist, theirs.hist)
        _same(tuple(ours.bin_edges), tuple(theirs.bin_edges))
    _raises_like(lambda T: T.histogramdd(T.tensor([1.0, 2.0]), bins=2), RuntimeError)
    _raises_like(lambda T: T.histogramdd(T.tensor([[1, 2]]), bins=2), NotImplementedError)
    _raises_like(lambda T: T.histogramdd(T.tensor([[1.0]]), bins=2, range=[2.0, 1.0]), RuntimeError)


# ------------------------------------------------------------------- unique, unique_consecutive
FLAGS = [dict(), dict(return_inverse=True), dict(return_counts=True),
         dict(return_inverse=True, return_counts=True)]  # fmt: skip


@pytest.mark.parametrize("flags", slow_after(FLAGS, keep=2))
def test_unique(flags):
    v = [[3, 1, 2], [3, 1, 2], [0, 5, 1], [3, 1, 2]]
    for dtype in ("int64", "float32", "bool"):
        x, xt = _both(v, dtype)
        _same(tg.unique(x, **flags), torch.unique(xt, **flags))
        _same(x.unique(sorted=False, **flags), xt.unique(sorted=False, **flags))
        for dim in (0, 1, -1):
            _same(tg.unique(x, dim=dim, **flags), torch.unique(xt, dim=dim, **flags))
            _same(
                tg.unique_consecutive(x, dim=dim, **flags),
                torch.unique_consecutive(xt, dim=dim, **flags),
            )
    r, rt = _both([2, 2, 1, 1, 1, 3, 2, 2], "int64")
    _same(tg.unique_consecutive(r, **flags), torch.unique_consecutive(rt, **flags))
    _same(r.unique_consecutive(**flags), rt.unique_consecutive(**flags))


def test_unique_keeps_nans_apart():
    x, xt = _both([3.0, NAN, 1.0, NAN, 3.0])
    _same(tg.unique(x, return_counts=True), torch.unique(xt, return_counts=True))


# ---------------------------------------------------------------------------------- unravel_index
def test_unravel_index():
    i, it = _both([[4, 1], [-1, 7]], "int64")
    _same(tg.unravel_index(i, (2, 3)), torch.unravel_index(it, (2, 3)))
    _same(
        tg.unravel_index(tg.tensor(5), (2, 3, 1)), torch.unravel_index(torch.tensor(5), (2, 3, 1))
    )
    s, st = _both([0, 2, 5], "int32")
    _same(tg.unravel_index(s, 6), torch.unravel_index(st, 6))
    _raises_like(lambda T: T.unravel_index(T.tensor([1.0]), (2, 3)), TypeError)


# --------------------------------------------------------------------------------- cummax, cummin
@pytest.mark.parametrize("dtype", slow_after(["float64", "int64", "float32", "bool"], keep=2))
def test_cummax_cummin(dtype):
    v = [[1, 3, 3, 2, 0, 5, 5], [4, 4, 1, 0, 6, 1, 7]]
    if dtype.startswith("float"):
        v = np.array(v, float)
        v[0, 4] = v[1, 6] = NAN
    x, xt = _both(v, dtype)
    for name in ("cummax", "cummin"):
        for dim in (0, 1, -1):
            ours, theirs = getattr(tg, name)(x, dim), getattr(torch, name)(xt, dim)
            assert type(ours).__name__ == name
            _same(ours.values, theirs.values)
            _same(ours.indices, theirs.indices)
            _same(tuple(getattr(x, name)(dim)), tuple(getattr(xt, name)(dim)))


@slow
def test_cummax_cummin_gradients_sum_at_the_source():
    v = np.array([[1.0, 3.0, 3.0, 2.0, 0.5, 5.0], [4.0, 4.0, 1.0, 0.0, 6.0, 1.0]])
    for name in ("cummax", "cummin"):
        for dim in (0, 1):
            _grads(
                lambda a, n=name, d=dim: getattr(tg, n)(a, d),
                lambda a, n=name, d=dim: getattr(torch, n)(a, d),
                v,
            )
        x, xt = _both(2.0)
        _same(tuple(getattr(tg, name)(x, 0)), tuple(getattr(torch, name)(xt, 0)))


# ------------------------------------------------------------------------------------ logcumsumexp
def test_logcumsumexp():
    x, xt = _both(X * 30)
    for dim in (0, 1, -1):
        _same(tg.logcumsumexp(x, dim), torch.logcumsumexp(xt, dim))
        _same(x.logcumsumexp(dim), xt.logcumsumexp(dim))
        _grads(
            lambda a, d=dim: tg.logcumsumexp(a, d),
            lambda a, d=dim: torch.logcumsumexp(a, d),
            X * 30,
        )
    inf = [[-INF, -INF, 0.5, -INF, 2.0], [1.0, -INF, 3.0, 0.0, -1.0]]
    _grads(lambda a: tg.logcumsumexp(a, 1), lambda a: torch.logcumsumexp(a, 1), inf)
    _grads(lambda a: tg.logcumsumexp(a, 0), lambda a: torch.logcumsumexp(a, 0), 1.5)
    _raises_like(lambda T: T.logcumsumexp(T.tensor([1, 2]), 0), NotImplementedError)


def test_logcumsumexp_second_order_matches_pytorch():
    x, xt = _both(X, requires_grad=True)
    cot = np.random.default_rng(3).standard_normal(X.shape)
    (g,) = tg.autograd.grad(tg.logcumsumexp(x, 1), [x], tg.tensor(cot), create_graph=True)
    (gt,) = torch.autograd.grad(
        torch.logcumsumexp(xt, 1), [xt], torch.tensor(cot), create_graph=True
    )
    (h,) = tg.autograd.grad((g * g).sum(), [x])
    (ht,) = torch.autograd.grad((gt * gt).sum(), [xt])
    np.testing.assert_allclose(np.asarray(h), ht.numpy(), rtol=1e-7, atol=1e-10)


# -------------------------------------------------------------------------------------------- diff
def test_diff():
    x, xt = _both(X)
    p, pt = _both(Y[:3, :2])
    for kw, kwt in (
        (dict(), dict()),
        (dict(n=2, dim=0), dict(n=2, dim=0)),
        (dict(n=3, prepend=p, append=p), dict(n=3, prepend=pt, append=pt)),
        (dict(n=9), dict(n=9)),
        (dict(n=0), dict(n=0)),
    ):
        _same(tg.diff(x, **kw), torch.diff(xt, **kwt))
        _same(x.diff(**kw), xt.diff(**kwt))
    _grads(lambda a: tg.diff(a, 2), lambda a: torch.diff(a, 2), X)
    _grads(
        lambda a, b: tg.diff(a, 1, 1, prepend=b),
        lambda a, b: torch.diff(a, 1, 1, prepend=b),
        X,
        Y[:3, :2],
    )
    for dtype in ("bool", "int64"):
        b, bt = _both([[1, 0, 0, 1], [0, 1, 1, 1]], dtype)
        _same(tg.diff(b), torch.diff(bt))
    _raises_like(lambda T: T.diff(T.tensor(1.0)), RuntimeError)
    _raises_like(lambda T: T.diff(T.ones(2, 2), prepend=T.ones(2)), RuntimeError)


# ---------------------------------------------------------------------------------------- gradient
@pytest.mark.parametrize("edge_order", [1, 2])
def test_gradient(edge_order):
    x, xt = _both(Y)
    coords = [np.array([0.0, 0.5, 1.5, 3.0]), np.array([0.0, 1.0, 1.5, 2.5, 4.0, 4.2])]
    co = [tg.tensor(c) for c in coords]
    ct = [torch.tensor(c) for c in coords]
    for ko, kt in (
        (dict(), dict()),
        (dict(spacing=2.0), dict(spacing=2.0)),
        (dict(spacing=[0.5], dim=1), dict(spacing=[0.5], dim=1)),
        (dict(spacing=co), dict(spacing=ct)),
        (dict(spacing=co[1:], dim=[-1]), dict(spacing=ct[1:], dim=[-1])),
    ):
        ko, kt = dict(ko, edge_order=edge_order), dict(kt, edge_order=edge_order)
        _same(tg.gradient(x, **ko), torch.gradient(xt, **kt))
    _grads(
        lambda a: tg.gradient(a, spacing=co, edge_order=edge_order)[1],
        lambda a: torch.gradient(a, spacing=ct, edge_order=edge_order)[1],
        Y,
    )
    i, it = _both([[1, 4, 9], [2, 3, 5]], "int64")
    _same(tg.gradient(i, dim=1), torch.gradient(it, dim=1))
    _raises_like(lambda T: T.gradient(T.ones(2, 1), edge_order=1), RuntimeError)


# --------------------------------------------------------------------- trapezoid and cumulative
def test_trapezoid_trapz_cumulative():
    xs, xst = _both([0.0, 0.5, 1.5, 3.0, 3.5])
    xf, xft = _both(np.cumsum(np.abs(X), axis=1))
    y, yt = _both(X)
    for fn in ("trapezoid", "trapz", "cumulative_trapezoid"):
        ours, theirs = getattr(tg, fn), getattr(torch, fn)
        _same(ours(y), theirs(yt))
        _same(ours(y, dx=0.5, dim=0), theirs(yt, dx=0.5, dim=0))
        _same(ours(y, xs), theirs(yt, xst))
        _same(ours(y, xf), theirs(yt, xft))
        _grads(ours, theirs, X, [0.0, 0.5, 1.5, 3.0, 3.5])
        _grads(lambda a, f=ours: f(a, dx=2.0, dim=0), lambda a, f=theirs: f(a, dx=2.0, dim=0), X)
    e, et = _both(np.zeros((2, 0)))
    _same(tg.trapezoid(e), torch.trapezoid(et))


# ----------------------------------------------------------------------------------- cov, corrcoef
def test_cov_and_corrcoef():
    x, xt = _both(Y)
    fw, fwt = _both([1, 2, 0, 3, 1, 1], "int64")
    aw, awt = _both([0.5, 1.0, 2.0, 0.1, 1.0, 0.3])
    for ko, kt in (
        (dict(), dict()),
        (dict(correction=0), dict(correction=0)),
        (dict(fweights=fw), dict(fweights=fwt)),
        (dict(aweights=aw, correction=2), dict(aweights=awt, correction=2)),
        (dict(fweights=fw, aweights=aw), dict(fweights=fwt, aweights=awt)),
    ):
        _same(tg.cov(x, **ko), torch.cov(xt, **kt))
        _same(x.cov(**ko), xt.cov(**kt))
    _same(tg.cov(x[0]), torch.cov(xt[0]))
    i, it = _both([[1, 2, 4], [0, 3, 3]], "int64")
    _same(tg.cov(i), torch.cov(it))
    _same(tg.corrcoef(x), torch.corrcoef(xt))
    _same(x.corrcoef(), xt.corrcoef())
    _same(tg.corrcoef(x[1]), torch.corrcoef(xt[1]))
    _grads(lambda a, w: tg.cov(a, aweights=w), lambda a, w: torch.cov(a, aweights=w), Y, aw)
    _grads(tg.corrcoef, torch.corrcoef, Y)


def test_cov_warnings_and_errors():
    x, xt = _both([[1.0, 2.0]])
    with pytest.warns(UserWarning, match="degrees of freedom is <= 0") as w:
        ours = tg.cov(x, correction=2)
    with warnings.catch_warnings(record=True) as wt:
        warnings.simplefilter("always")
        theirs = torch.cov(xt, correction=2)
    assert str(w[0].message) in str(wt[0].message)
    _same(ours, theirs)
    _raises_like(lambda T: T.cov(T.ones(2, 2, 2)), RuntimeError)
    _raises_like(lambda T: T.cov(T.ones(2, 3), fweights=T.tensor([1.0, 1.0, 1.0])), RuntimeError)
    _raises_like(lambda T: T.cov(T.ones(2, 3), fweights=T.tensor([1, -1, 1])), RuntimeError)
    _raises_like(lambda T: T.cov(T.ones(2, 3), aweights=T.tensor([1.0, 1.0])), RuntimeError)
    _raises_like(lambda T: T.corrcoef(T.ones(2, 2, 2)), RuntimeError)


# ------------------------------------------------------------------------------- compiled functions
@pytest.mark.parametrize(
    "call,name",
    [
        (lambda x: tg.unique(x), "unique"),
        (lambda x: x.unique_consecutive(), "unique_consecutive"),
        (lambda x: tg.bincount(x.long().abs()), "bincount"),
    ],
)
def test_data_dependent_shapes_refused_inside_compile(call, name):
    f = tg.compile(lambda x: call(x))
    with pytest.raises(RuntimeError, match=rf"Tensor\.{name}\(\) needs a concrete value"):
        f(tg.tensor([1.0, 2.0, 2.0]))


@slow
def test_fixed_shape_functions_run_inside_compile():
    def step(x, q):
        return (
            tg.quantile(x, q, dim=1),
            tg.cummax(x, 1).values,
            tg.logcumsumexp(x, 0),
            tg.searchsorted(x.sort(1).values, x),
            tg.histogram(x, tg.tensor([-3.0, 0.0, 3.0], dtype=tg.float64)).hist,
        )

    x, q = tg.tensor(X), tg.tensor([0.2, 0.9], dtype=tg.float64)
    for a, b in zip(tg.compile(step)(x, q), step(x, q)):
        np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=1e-12)
