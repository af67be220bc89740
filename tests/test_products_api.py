"""cross, addmv, addr, addbmm, inner, vdot, trace, chain_matmul, dist, renorm, cdist, pdist,
cosine_similarity and pairwise_distance against PyTorch 2.13 (CPU): values, dtypes, gradients,
in-place forms, warnings and errors."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

import tracegrad as tg

from .tiers import slow_after

torch = pytest.importorskip("torch")

_rng = np.random.default_rng(7)


def R(*shape):
    return _rng.standard_normal(shape)


def _lib(T, arrays, grad: bool):
    return [
        T.tensor(a, requires_grad=grad and a.dtype.kind == "f") if isinstance(a, np.ndarray) else a
        for a in arrays
    ]


def _np(x):
    return x.detach().numpy() if isinstance(x, torch.Tensor) else np.asarray(x.detach())


def _parity(fn, arrays, kwargs=None, grad: bool = True, rtol: float = 1e-7, atol: float = 1e-9):
    """``fn(T, *tensors, **kwargs)`` in both libraries: same values, dtype and gradients for a
    random cotangent."""
    kwargs = kwargs or {}
    ours_in, theirs_in = _lib(tg, arrays, grad), _lib(torch, arrays, grad)
    ours, theirs = fn(tg, *ours_in, **kwargs), fn(torch, *theirs_in, **kwargs)
    assert tuple(ours.shape) == tuple(theirs.shape)
    assert str(ours.dtype).split(".")[-1] == str(theirs.dtype).split(".")[-1]
    np.testing.assert_allclose(_np(ours), _np(theirs), rtol=rtol, atol=atol)
    if not grad or not theirs.requires_grad:
        return
    cot = _rng.standard_normal(tuple(theirs.shape))
    ours.backward(tg.tensor(cot, dtype=ours.dtype))
    theirs.backward(torch.tensor(cot, dtype=theirs.dtype))
    for o, t in zip(ours_in, theirs_in):
        if isinstance(t, torch.Tensor) and t.requires_grad:
            np.testing.assert_allclose(_np(o.grad), _np(t.grad), rtol=rtol, atol=atol)


def _same_error(fn):
    """Both libraries raise the same exception type with the same message."""
    errors = []
    for T in (tg, torch):
        with pytest.raises(Exception) as e:  # noqa: PT011 - the type is compared below
            fn(T)
        errors.append(e.value)
    assert type(errors[0]).__name__ == type(errors[1]).__name__, errors
    assert str(errors[0]) == str(errors[1]).split(" (Triggered internally")[0]


# ------------------------------------------------------------------------------------------ cross
CROSS = [
    ((4, 3), (4, 3), {"dim": 1}),
    ((3, 2, 5), (3, 2, 5), {"dim": 0}),
    ((1, 3), (4, 3), {"dim": -1}),
    ((3, 1), (3, 4), {"dim": 0}),
]


@pytest.mark.parametrize("sa,sb,kw", slow_after(CROSS, 2, multi=True))
def test_cross_matches(sa, sb, kw):
    _parity(lambda T, a, b, **k: T.cross(a, b, **k), [R(*sa), R(*sb)], kw)
    _parity(lambda T, a, b, **k: T.linalg.cross(a, b, **k), [R(*sa), R(*sb)], kw)
    _parity(lambda T, a, b, **k: a.cross(b, **k), [R(*sa), R(*sb)], kw)


def test_cross_without_dim_warns_and_takes_the_first_size_3_dim():
    a, b = R(3, 3, 4), R(3, 3, 4)
    with pytest.warns(UserWarning, match="without specifying the dim arg is deprecated"):
        ours = tg.cross(tg.tensor(a), tg.tensor(b))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        theirs = torch.cross(torch.tensor(a), torch.tensor(b))
    np.testing.assert_allclose(_np(ours), _np(theirs), rtol=1e-12)
    _parity(lambda T, a, b: T.linalg.cross(a, b), [R(2, 4, 3), R(2, 4, 3)])


def test_cross_ints_and_grad_fn():
    a = np.array([[1, 2, 3], [4, 5, 6]])
    b = np.array([[7, 8, 9], [1, 0, 2]])
    _parity(lambda T, a, b: T.linalg.cross(a, b), [a, b], grad=False)
    x = tg.tensor(R(2, 3), requires_grad=True)
    assert tg.linalg.cross(x, tg.tensor(R(2, 3))).grad_fn.name() == "LinalgCrossBackward0"


@pytest.mark.parametrize(
    "call",
    [
        lambda T: T.cross(T.ones(2, 4), T.ones(2, 4)),
        lambda T: T.linalg.cross(T.ones(2, 4), T.ones(2, 4)),
        lambda T: T.cross(T.ones(2, 3), T.ones(2, 3), dim=0),
        lambda T: T.linalg.cross(T.ones(2, 3), T.ones(3)),
        lambda T: T.cross(T.ones(2, 3), T.ones(2, 3, dtype=T.float64), dim=1),
    ],
)
def test_cross_errors(call):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        _same_error(call)


# ------------------------------------------------------------------------ addmv, addr, addbmm
ADD = [
    ("addmv", ((3,), (3, 4), (4,)), {}),
    ("addmv", ((1,), (3, 4), (4,)), {"beta": 0.5, "alpha": 2.0}),
    ("addr", ((3, 4), (3,), (4,)), {"beta": 2.0, "alpha": -1.0}),
    ("addr", ((4,), (3,), (4,)), {}),
    ("addbmm", ((3, 5), (2, 3, 4), (2, 4, 5)), {"beta": 0.5, "alpha": 3.0}),
    ("addbmm", ((5,), (2, 3, 4), (2, 4, 5)), {}),
]


@pytest.mark.parametrize("name,shapes,kw", slow_after(ADD, 3, multi=True))
def test_add_products_match(name, shapes, kw):
    arrays = [R(*s) for s in shapes]
    _parity(lambda T, *xs, **k: getattr(T, name)(*xs, **k), arrays, kw)
    _parity(lambda T, x, *xs, **k: getattr(x, name)(*xs, **k), arrays, kw)


@pytest.mark.parametrize("name,shapes", [("addmv", ((3,), (3, 4), (4,))),
                                         ("addr", ((3, 4), (3,), (4,))),
                                         ("addbmm", ((3, 5), (2, 3, 4), (2, 4, 5)))])  # fmt: skip
def test_add_products_in_place_and_beta0_ignores_nan(name, shapes):
    arrays = [R(*s) for s in shapes]
    ours, theirs = (T.tensor(arrays[0]) for T in (tg, torch))
    getattr(ours, name + "_")(*(tg.tensor(a) for a in arrays[1:]), alpha=2)
    getattr(theirs, name + "_")(*(torch.tensor(a) for a in arrays[1:]), alpha=2)
    np.testing.assert_allclose(_np(ours), _np(theirs), rtol=1e-12)
    nan = np.full(shapes[0], np.nan)
    _parity(lambda T, *xs: getattr(T, name)(*xs, beta=0), [nan, *arrays[1:]], grad=False)


def test_add_products_grad_fn_names():
    x = tg.tensor(R(3), requires_grad=True)
    assert tg.addmv(x, tg.tensor(R(3, 2)), tg.tensor(R(2))).grad_fn.name() == "AddmvBackward0"
    y = tg.tensor(R(3, 2), requires_grad=True)
    assert tg.addr(y, tg.tensor(R(3)), tg.tensor(R(2))).grad_fn.name() == "AddrBackward0"
    z = tg.addbmm(y, tg.tensor(R(1, 3, 4)), tg.tensor(R(1, 4, 2)))
    assert z.grad_fn.name() == "AddbmmBackward0"


def test_add_products_integers():
    a, m, v = np.arange(3), np.arange(12).reshape(3, 4), np.arange(4)
    _parity(lambda T, *xs: T.addmv(*xs, beta=2, alpha=3), [a, m, v], grad=False)
    _parity(lambda T, *xs: T.addr(*xs, alpha=2), [m, a, v], grad=False)
    _same_error(lambda T: T.addr(T.tensor(m), T.tensor(a), T.tensor(v), alpha=0.5))
    _parity(lambda T, *xs: T.addr(*xs), [R(3, 4), R(3), R(4).astype(np.float32)], grad=False)


@pytest.mark.parametrize(
    "call",
    [
        lambda T: T.addmv(T.ones(3), T.ones(3, 4, 1), T.ones(4)),
        lambda T: T.addmv(T.ones(3), T.ones(3, 4), T.ones(5)),
        lambda T: T.addmv(T.ones(2), T.ones(3, 4), T.ones(4)),
        lambda T: T.addmv(T.ones(3), T.ones(3, 4), T.ones(4, dtype=T.float64)),
        lambda T: T.addr(T.ones(3, 4), T.ones(3, 1), T.ones(4)),
        lambda T: T.addr(T.ones(2, 4), T.ones(3), T.ones(4)),
        lambda T: T.addbmm(T.ones(3, 5), T.ones(2, 3, 4), T.ones(3, 4, 5)),
        lambda T: T.addbmm(T.ones(3, 5), T.ones(2, 3, 4), T.ones(2, 3, 5)),
        lambda T: T.addbmm(T.ones(2, 5), T.ones(2, 3, 4), T.ones(2, 4, 5)),
        lambda T: T.addbmm(T.ones(3, 5), T.ones(2, 3, 4), T.ones(2, 4, 5, dtype=T.float64)),
    ],
)
def test_add_products_errors(call):
    _same_error(call)


# ----------------------------------------------------------------- inner, vdot, trace, chain_matmul
@pytest.mark.parametrize(
    "sa,sb",
    slow_after([((2, 3), (4, 3)), ((3,), (3,)), ((), (2, 2)), ((2, 1, 3), (3,))], 2, multi=True),
)
def test_inner_matches(sa, sb):
    _parity(lambda T, a, b: T.inner(a, b), [R(*sa), R(*sb)])
    _parity(lambda T, a, b: a.inner(b), [R(*sa), R(*sb)])


def test_vdot_trace_dist_match():
    _parity(lambda T, a, b: T.vdot(a, b), [R(4), R(4)])
    a, b = R(4) + 1j * R(4), R(4) - 2j * R(4)  # vdot conjugates its first argument
    _parity(lambda T, a, b: T.vdot(a, b), [a, b], grad=False)
    _parity(lambda T, a: T.trace(a), [R(3, 4)])
    _parity(lambda T, a: a.trace(), [R(4, 2)])
    _parity(lambda T, a: T.trace(a), [np.arange(9).reshape(3, 3).astype(np.int32)], grad=False)
    for p in (2, 1, 3.5, float("inf")):
        _parity(lambda T, a, b, p=p: T.dist(a, b, p), [R(2, 3), R(3)])
    # PyTorch's DistBackward0 fails for p=0 (an undefined tensor), so only the values.
    _parity(lambda T, a, b: T.dist(a, b, 0), [R(2, 3), R(3)], grad=False)
    _parity(lambda T, a, b: a.dist(b), [R(2, 3), R(2, 3)])


def test_chain_matmul_matches_and_warns():
    arrays = [R(2, 3), R(3, 4), R(4, 5)]
    with pytest.warns(UserWarning, match="chain_matmul is deprecated"):
        ours = tg.chain_matmul(*(tg.tensor(a) for a in arrays))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        theirs = torch.chain_matmul(*(torch.tensor(a) for a in arrays))
        np.testing.assert_allclose(_np(ours), _np(theirs), rtol=1e-12)
        _parity(lambda T, *xs: T.chain_matmul(*xs), arrays)
        _parity(lambda T, x: T.chain_matmul(x), [R(2, 3)])


@pytest.mark.parametrize(
    "call",
    [
        lambda T: T.inner(T.ones(2, 3), T.ones(4, 4)),
        lambda T: T.inner(T.ones(3), T.ones(3, dtype=T.float64)),
        lambda T: T.vdot(T.ones(3, 1), T.ones(3)),
        lambda T: T.vdot(T.ones(3), T.ones(3, dtype=T.float64)),
        lambda T: T.vdot(T.ones(3), T.ones(4)),
        lambda T: T.trace(T.ones(3, 4, 5)),
        lambda T: T.trace(T.ones(3, 3, dtype=T.bool)),
        lambda T: T.chain_matmul(),
        lambda T: T.chain_matmul(T.ones(2, 3), T.ones(2, 3, 4)),
        lambda T: T.chain_matmul(T.ones(2, 3), T.ones(4, 4)),
        lambda T: T.dist(T.ones(3, dtype=T.int64), T.ones(3, dtype=T.int64)),
    ],
)
def test_inner_vdot_trace_chain_dist_errors(call):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        _same_error(call)


# ------------------------------------------------------------------------------------------ renorm
@pytest.mark.parametrize(
    "p,dim,maxnorm", slow_after([(2, 0, 1.0), (1, 1, 0.5), (3, -1, 2.0)], 2, multi=True)
)
def test_renorm_matches(p, dim, maxnorm):
    x = R(3, 4, 2)
    _parity(lambda T, a: T.renorm(a, p, dim, maxnorm), [x])
    _parity(lambda T, a: a.renorm(p, dim, maxnorm), [x])
    ours, theirs = tg.tensor(x), torch.tensor(x)
    ours.renorm_(p, dim, maxnorm)
    theirs.renorm_(p, dim, maxnorm)
    np.testing.assert_allclose(_np(ours), _np(theirs), rtol=1e-12)


@pytest.mark.parametrize(
    "call",
    [
        lambda T: T.renorm(T.ones(3), 2, 0, 1.0),
        lambda T: T.renorm(T.ones(3, 4), 2, 0, -1.0),
        lambda T: T.renorm(T.ones(3, 4), 0, 0, 1.0),
        lambda T: T.renorm(T.ones(3, 4, dtype=T.int64), 2, 0, 1.0),
        lambda T: T.renorm(T.ones(3, 4), 2, 3, 1.0),
    ],
)
def test_renorm_errors(call):
    _same_error(call)


# ---------------------------------------------------------------------------------- cdist, pdist
CDIST = [
    ((3, 4), (5, 4), 2.0, "use_mm_for_euclid_dist_if_necessary"),
    ((30, 4), (5, 4), 2.0, "use_mm_for_euclid_dist_if_necessary"),
    ((2, 3, 4), (5, 4), 1.0, "use_mm_for_euclid_dist_if_necessary"),
    ((3, 4), (5, 4), 2.0, "use_mm_for_euclid_dist"),
    ((30, 4), (5, 4), 2.0, "donot_use_mm_for_euclid_dist"),
    ((2, 1, 3, 4), (3, 5, 4), 3.0, "use_mm_for_euclid_dist_if_necessary"),
    ((3, 4), (5, 4), float("inf"), "use_mm_for_euclid_dist_if_necessary"),
    ((3, 4), (5, 4), 0.5, "use_mm_for_euclid_dist_if_necessary"),
    ((3, 0), (2, 0), 2.0, "use_mm_for_euclid_dist_if_necessary"),
]


@pytest.mark.parametrize("sa,sb,p,mode", slow_after(CDIST, 3, multi=True))
def test_cdist_matches(sa, sb, p, mode):
    _parity(lambda T, a, b: T.cdist(a, b, p=p, compute_mode=mode), [R(*sa), R(*sb)], rtol=1e-6)


def test_cdist_and_pdist_zero_distance_gradients_are_zero():
    x = R(3, 4)
    _parity(lambda T, a: T.cdist(a, a.detach()), [x])
    y = np.concatenate([x, x[:1]])
    _parity(lambda T, a: T.pdist(a), [y])


@pytest.mark.parametrize("p", slow_after([2.0, 1.0, 0.5, 3.0, float("inf"), 0.0], 2))
def test_pdist_matches(p):
    _parity(lambda T, a: T.pdist(a, p), [R(5, 3)], rtol=1e-6)
    _parity(lambda T, a: T.nn.functional.pdist(a, p), [R(4, 2)], rtol=1e-6)


def test_pdist_one_row_is_empty():
    _parity(lambda T, a: T.pdist(a), [R(1, 3)])


@pytest.mark.parametrize(
    "call",
    [
        lambda T: T.cdist(T.ones(4), T.ones(5, 4)),
        lambda T: T.cdist(T.ones(3, 4), T.ones(5, 3)),
        lambda T: T.cdist(T.ones(3, 4), T.ones(5, 4), compute_mode="x"),
        lambda T: T.cdist(T.ones(3, 4), T.ones(5, 4), p=-1),
        lambda T: T.cdist(T.ones(3, 4, dtype=T.int64), T.ones(5, 4, dtype=T.int64)),
        lambda T: T.cdist(T.ones(3, 4), T.ones(5, 4, dtype=T.float64)),
        lambda T: T.pdist(T.ones(4, 3, 2)),
        lambda T: T.pdist(T.ones(4, 3, dtype=T.int64)),
        lambda T: T.pdist(T.ones(4, 3), -1),
    ],
)
def test_cdist_pdist_errors(call):
    _same_error(call)


# ------------------------------------------------------------- cosine similarity, pairwise distance
@pytest.mark.parametrize(
    "sa,sb,kw",
    slow_after(
        [((2, 3), (3,), {}), ((4, 5), (4, 5), {"dim": 0}), ((2, 3), (2, 3), {"eps": 0.5})],
        2,
        multi=True,
    ),
)
def test_cosine_similarity_matches(sa, sb, kw):
    _parity(lambda T, a, b, **k: T.cosine_similarity(a, b, **k), [R(*sa), R(*sb)], kw)
    _parity(lambda T, a, b, **k: T.nn.functional.cosine_similarity(a, b, **k), [R(*sa), R(*sb)], kw)


def test_cosine_similarity_zero_vector_and_integers():
    zero = np.zeros((2, 3))
    _parity(lambda T, a, b: T.cosine_similarity(a, b), [zero, R(2, 3)])
    ints = np.arange(6).reshape(2, 3)
    floats = R(2, 3).astype(np.float32)
    _parity(lambda T, a, b: T.cosine_similarity(a, b), [ints, floats], rtol=1e-5, atol=1e-6)
    _same_error(lambda T: T.cosine_similarity(T.tensor(ints), T.tensor(ints)))
    _same_error(lambda T: T.cosine_similarity(T.ones(2, 3), T.ones(4)))


@pytest.mark.parametrize(
    "sa,sb,kw",
    slow_after(
        [
            ((2, 3), (3,), {}),
            ((4, 5), (4, 5), {"p": 1.0, "keepdim": True}),
            ((3,), (3,), {"eps": 0.0}),
            ((2, 3), (2, 3), {"p": float("inf")}),
            ((2, 3), (2, 3), {"p": 3.0, "eps": 1e-3}),
        ],
        2,
        multi=True,
    ),
)
def test_pairwise_distance_matches(sa, sb, kw):
    _parity(lambda T, a, b, **k: T.pairwise_distance(a, b, **k), [R(*sa), R(*sb)], kw)
    _parity(lambda T, a, b, **k: T.nn.functional.pairwise_distance(a, b, **k), [R(*sa), R(*sb)], kw)


def test_distance_modules_match():
    for kw in ({}, {"dim": 0, "eps": 1e-3}):
        _parity(lambda T, a, b, **k: T.nn.CosineSimilarity(**k)(a, b), [R(3, 4), R(3, 4)], kw)
    for kw in ({}, {"p": 1.0, "eps": 0.0, "keepdim": True}):
        _parity(lambda T, a, b, **k: T.nn.PairwiseDistance(**k)(a, b), [R(3, 4), R(3, 4)], kw)
    assert repr(tg.nn.PairwiseDistance()) == repr(torch.nn.PairwiseDistance())
    assert repr(tg.nn.CosineSimilarity(dim=0)) == repr(torch.nn.CosineSimilarity(dim=0))
