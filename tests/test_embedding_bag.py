"""``F.embedding_bag``, ``nn.EmbeddingBag`` and ``torch.embedding_bag`` against PyTorch: values
and gradients for every mode, bag layout and option; PyTorch's errors."""

from __future__ import annotations

import numpy as np
import pytest

import tracegrad as tg
import tracegrad.nn.functional as TF
from tests.tiers import slow_after

torch = pytest.importorskip("torch")
F = torch.nn.functional

RNG = np.random.default_rng(0)
W = RNG.standard_normal((10, 3))
# Bags of 4, 0 (empty), 2, 2 and 2 indices; index 2 repeats (and is the padding row below).
IDX = np.array([1, 2, 4, 5, 4, 3, 2, 9, 2, 2])
OFF = np.array([0, 4, 4, 6, 8])
MODES = ["sum", "mean", "max"]
ENUM = {"sum": 0, "mean": 1, "max": 2}


def _run(fn_t, fn_g, w=W, psw=None, seed=1):
    """Both libraries' results and gradients (weight, per_sample_weights) for a random cotangent."""
    wt = torch.tensor(w, requires_grad=True)
    wg = tg.tensor(w, requires_grad=True)
    pt = None if psw is None else torch.tensor(psw, requires_grad=True)
    pg = None if psw is None else tg.tensor(psw, requires_grad=True)
    a, b = fn_t(wt, pt), fn_g(wg, pg)
    g = np.random.default_rng(seed).standard_normal(tuple(a.shape))
    (a * torch.tensor(g)).sum().backward()
    (b * tg.tensor(g)).sum().backward()
    return (a, wt, pt), (b, wg, pg)


def _close(t, g, **kw):
    assert tuple(g.shape) == tuple(t.shape)
    np.testing.assert_allclose(g.detach().numpy(), t.detach().numpy(), rtol=1e-12, atol=1e-14)


def _compare(fn_t, fn_g, **kw):
    (a, wt, pt), (b, wg, pg) = _run(fn_t, fn_g, **kw)
    _close(a, b)
    _close(wt.grad, wg.grad)
    if pt is not None:
        _close(pt.grad, pg.grad)


CASES = [
    (mode, pad, layout)
    for layout in ("offsets", "2d", "last_offset")
    for mode in MODES
    for pad in (None, 2, -1)
]


@pytest.mark.parametrize("mode,pad,layout", slow_after(CASES, keep=9, multi=True))
def test_values_and_gradients_match_pytorch(mode, pad, layout):
    if layout == "2d":
        args = (IDX[:8].reshape(2, 4), None, False)
    elif layout == "offsets":
        args = (IDX, OFF, False)
    else:
        args = (IDX, np.r_[OFF, len(IDX)], True)
    idx, off, last = args

    def call(lib, fn):
        def f(w, _):
            o = None if off is None else lib.tensor(off)
            return fn(lib.tensor(idx), w, o, mode=mode, include_last_offset=last, padding_idx=pad)

        return f

    _compare(call(torch, F.embedding_bag), call(tg, TF.embedding_bag))


@pytest.mark.parametrize("pad", [None, 2])
def test_per_sample_weights_in_sum_mode(pad):
    psw = RNG.standard_normal(len(IDX))

    def call(lib, fn):
        return lambda w, p: fn(
            lib.tensor(IDX), w, lib.tensor(OFF), mode="sum", per_sample_weights=p, padding_idx=pad
        )

    _compare(call(torch, F.embedding_bag), call(tg, TF.embedding_bag), psw=psw)


def test_per_sample_weights_with_2d_input():
    idx = IDX[:8].reshape(4, 2)
    psw = RNG.standard_normal((4, 2))

    def call(lib, fn):
        return lambda w, p: fn(lib.tensor(idx), w, mode="sum", per_sample_weights=p)

    _compare(call(torch, F.embedding_bag), call(tg, TF.embedding_bag), psw=psw)


@pytest.mark.parametrize("mode", MODES)
def test_empty_bags_and_all_padding_bags_give_zeros(mode):
    # Bags: [], [2, 2] (all padding), [], [3].
    idx, off = np.array([2, 2, 3]), np.array([0, 0, 2, 2])

    def call(lib, fn):
        return lambda w, _: fn(lib.tensor(idx), w, lib.tensor(off), mode=mode, padding_idx=2)

    _compare(call(torch, F.embedding_bag), call(tg, TF.embedding_bag))
    out = TF.embedding_bag(tg.tensor(idx), tg.tensor(W), tg.tensor(off), mode=mode, padding_idx=2)
    assert (out.numpy()[:3] == 0).all()


def test_no_bags_and_no_indices():
    w = tg.tensor(W)
    assert TF.embedding_bag(tg.tensor([1, 2]), w, tg.tensor([], dtype=tg.int64)).shape == (0, 3)
    empty = tg.tensor([], dtype=tg.int64)
    for mode in MODES:
        out = TF.embedding_bag(empty, w, tg.tensor([0, 0]), mode=mode)
        np.testing.assert_array_equal(out.numpy(), np.zeros((2, 3)))


def test_max_picks_the_first_maximum_and_its_gradient_goes_to_that_row():
    # Rows 1 and 3 are equal: PyTorch keeps the first (strictly greater replaces).
    w = W.copy()
    w[3] = w[1]
    idx, off = np.array([3, 1, 0, 1, 3]), np.array([0, 2])

    def call(lib, fn):
        return lambda w_, _: fn(lib.tensor(idx), w_, lib.tensor(off), mode="max")

    _compare(call(torch, F.embedding_bag), call(tg, TF.embedding_bag), w=w)


@pytest.mark.parametrize("mode", ["sum", "mean"])
def test_scale_grad_by_freq_divides_by_index_frequency(mode):
    # PyTorch 2.13's CPU kernel divides by the wrong count when counts differ (pytorch#190063);
    # the oracle is its correct F.embedding(scale_grad_by_freq=True) pooled into the same bags.
    idx = torch.tensor(IDX)
    wt = torch.tensor(W, requires_grad=True)
    rows = F.embedding(idx, wt, scale_grad_by_freq=True)
    bag = torch.tensor([0, 0, 0, 0, 2, 2, 3, 3, 4, 4])
    ref = torch.zeros(5, 3, dtype=torch.float64).index_add(0, bag, rows)
    if mode == "mean":
        ref = ref / torch.tensor([4.0, 1.0, 2.0, 2.0, 2.0], dtype=torch.float64)[:, None]
    wg = tg.tensor(W, requires_grad=True)
    out = TF.embedding_bag(tg.tensor(IDX), wg, tg.tensor(OFF), mode=mode, scale_grad_by_freq=True)
    g = RNG.standard_normal((5, 3))
    (ref * torch.tensor(g)).sum().backward()
    (out * tg.tensor(g)).sum().backward()
    _close(ref, out)
    _close(wt.grad, wg.grad)


def test_max_norm_renormalises_the_weight_in_place():
    wt, wg = torch.tensor(W * 3), tg.tensor(W * 3)
    a = F.embedding_bag(torch.tensor(IDX), wt, torch.tensor(OFF), max_norm=1.5, norm_type=1.0)
    b = TF.embedding_bag(tg.tensor(IDX), wg, tg.tensor(OFF), max_norm=1.5, norm_type=1.0)
    np.testing.assert_allclose(b.numpy(), a.numpy(), rtol=1e-6)
    np.testing.assert_allclose(wg.numpy(), wt.numpy(), rtol=1e-6)


def test_second_order_gradient_through_per_sample_weights():
    # PyTorch has no double backward for embedding_bag; its oracle is the same bags composed from
    # F.embedding and index_add, which it can differentiate twice.
    psw = RNG.standard_normal(len(IDX))
    bag = torch.tensor([0, 0, 0, 0, 2, 2, 3, 3, 4, 4])
    res = []
    for lib in (torch, tg):
        w = lib.tensor(W, requires_grad=True)
        p = lib.tensor(psw, requires_grad=True)
        if lib is torch:
            rows = F.embedding(torch.tensor(IDX), w) * p[:, None]
            out = torch.zeros(5, 3, dtype=torch.float64).index_add(0, bag, rows)
        else:
            out = TF.embedding_bag(
                tg.tensor(IDX), w, tg.tensor(OFF), mode="sum", per_sample_weights=p
            )
        (gw,) = lib.autograd.grad((out**2).sum(), w, create_graph=True)
        (gp,) = lib.autograd.grad((gw**2).sum(), p)
        res.append(gp.detach().numpy())
    np.testing.assert_allclose(res[1], res[0], rtol=1e-10)


@pytest.mark.parametrize(
    "mode,pad,last,dtype,grad",
    slow_after(
        [
            (m, p, last, d, g)
            for m in (0, 1, 2)
            for p in (None, 2)
            for last in (False, True)
            for d in ("float32", "float64")
            for g in (False, True)
        ],
        keep=6,
        multi=True,
    ),
)
def test_torch_form_returns_pytorchs_four_results(mode, pad, last, dtype, grad):
    off = np.r_[OFF, len(IDX)] if last else OFF
    w = W.astype(dtype)
    a = torch.embedding_bag(
        torch.tensor(w, requires_grad=grad),
        torch.tensor(IDX),
        torch.tensor(off),
        False,
        mode,
        False,
        None,
        last,
        pad,
    )
    b = tg.embedding_bag(
        tg.tensor(w, requires_grad=grad),
        tg.tensor(IDX),
        tg.tensor(off),
        False,
        mode,
        False,
        None,
        last,
        pad,
    )
    assert len(b) == 4
    for x, y in zip(a, b):
        assert tuple(y.shape) == tuple(x.shape)
        assert str(y.dtype).split(".")[-1] == str(x.dtype).split(".")[-1]
        np.testing.assert_allclose(y.detach().numpy(), x.detach().numpy(), rtol=1e-6)


def test_int32_indices_and_offsets():
    idx, off = IDX.astype(np.int32), OFF.astype(np.int32)
    a = torch.embedding_bag(torch.tensor(W), torch.tensor(idx), torch.tensor(off), False, 2)
    b = tg.embedding_bag(tg.tensor(W), tg.tensor(idx), tg.tensor(off), False, 2)
    for x, y in zip(a, b):
        assert str(y.dtype).split(".")[-1] == str(x.dtype).split(".")[-1]
        np.testing.assert_allclose(y.numpy(), x.numpy())


ERRORS = [
    (dict(input=IDX, offsets=np.array([1, 4])), RuntimeError, "offsets\\[0\\] has to be 0"),
    (
        dict(input=IDX, offsets=np.array([0, 11])),
        RuntimeError,
        "offsets\\[-1\\] can not be greater",
    ),
    (dict(input=IDX, offsets=None), ValueError, "offsets has to be a 1D Tensor but got None"),
    (dict(input=IDX, offsets=np.array([[0, 4]])), ValueError, "offsets has to be a 1D Tensor"),
    (dict(input=IDX[:8].reshape(2, 4), offsets=OFF), ValueError, "if input is 2D"),
    (dict(input=IDX[:8].reshape(1, 2, 4)), ValueError, "input has to be 1D or 2D"),
    (dict(mode="foo"), ValueError, "mode has to be one of sum, mean or max"),
    (dict(mode="max", scale_grad_by_freq=True), ValueError, "max mode does not support scaling"),
    (dict(mode="max", sparse=True), ValueError, "max mode does not support sparse"),
    (dict(mode="mean", per_sample_weights=np.ones(10)), NotImplementedError, "only supported for"),
    (dict(mode="sum", per_sample_weights=np.ones(9)), ValueError, "must have the same shape"),
    (dict(padding_idx=10), RuntimeError, "padding_idx must be within the number of embeddings"),
    (dict(padding_idx=-11), RuntimeError, "padding_idx must be within the number of embeddings"),
    (dict(input=IDX.astype(np.float32)), RuntimeError, "argument #1 'indices'"),
    (dict(weight=W[None]), ValueError, "weight has to be a 2D Tensor"),
]


@pytest.mark.parametrize("kw,exc,msg", ERRORS)
def test_errors_match_pytorch(kw, exc, msg):
    args = dict(input=IDX, weight=W, offsets=OFF)
    args.update(kw)
    for lib, fn in ((torch, F.embedding_bag), (tg, TF.embedding_bag)):
        call = {k: lib.tensor(v) if isinstance(v, np.ndarray) else v for k, v in args.items()}
        with pytest.raises(exc, match=msg):
            fn(**call)


def test_out_of_range_indices_raise_and_leave_the_weight_alone():
    w = tg.tensor(W * 3)
    for bad in (10, -1):
        idx = tg.tensor([1, bad])
        with pytest.raises(RuntimeError, match="not in the valid range \\[0, 10\\)"):
            TF.embedding_bag(idx, w, tg.tensor([0]), max_norm=1.0)
    np.testing.assert_array_equal(w.numpy(), W * 3)


def test_offsets_pytorch_leaves_undefined_are_refused():
    w = tg.tensor(W)
    with pytest.raises(RuntimeError, match="non-decreasing"):
        TF.embedding_bag(tg.tensor(IDX), w, tg.tensor([0, 5, 4]))
    # PyTorch's modes disagree on indices after the closing offset; tracegrad asks for it exact.
    with pytest.raises(NotImplementedError, match="include_last_offset"):
        TF.embedding_bag(tg.tensor(IDX), w, tg.tensor([0, 4, 8]), include_last_offset=True)


def test_sparse_gradients_are_refused_when_they_would_be_made():
    w = tg.tensor(W, requires_grad=True)
    with pytest.raises(NotImplementedError, match="sparse=True"):
        TF.embedding_bag(tg.tensor(IDX), w, tg.tensor(OFF), sparse=True)
    with pytest.raises(NotImplementedError, match="sparse=True"):
        tg.embedding_bag(w, tg.tensor(IDX), tg.tensor(OFF), False, 0, True)
    frozen = tg.nn.EmbeddingBag.from_pretrained(tg.tensor(W), sparse=True)
    assert frozen(tg.tensor(IDX), tg.tensor(OFF)).shape == (5, 3)


def test_old_argument_order_is_accepted_with_a_warning():
    with pytest.warns(UserWarning, match="Argument order"):
        out = TF.embedding_bag(tg.tensor(W), tg.tensor(IDX[:8].reshape(2, 4)))
    ref = F.embedding_bag(torch.tensor(IDX[:8].reshape(2, 4)), torch.tensor(W))
    np.testing.assert_allclose(out.numpy(), ref.numpy())


def test_module_matches_pytorch():
    a = torch.nn.EmbeddingBag(10, 3, mode="sum", padding_idx=-1, include_last_offset=True)
    b = tg.nn.EmbeddingBag(10, 3, mode="sum", padding_idx=-1, include_last_offset=True)
    assert repr(b) == repr(a) == "EmbeddingBag(10, 3, mode='sum', padding_idx=9)"
    assert b.weight.shape == (10, 3) and b.weight.requires_grad
    assert (b.weight.detach().numpy()[9] == 0).all()
    with tg.no_grad():
        b.weight.copy_(tg.tensor(W))
    with torch.no_grad():
        a.weight.copy_(torch.tensor(W))
    psw = RNG.standard_normal(len(IDX))
    off = np.r_[OFF, len(IDX)]
    out_a = a(torch.tensor(IDX), torch.tensor(off), torch.tensor(psw).float())
    out_b = b(tg.tensor(IDX), tg.tensor(off), tg.tensor(psw).float())
    np.testing.assert_allclose(out_b.detach().numpy(), out_a.detach().numpy(), rtol=1e-5)
    out_a.sum().backward()
    out_b.sum().backward()
    np.testing.assert_allclose(b.weight.grad.numpy(), a.weight.grad.numpy(), rtol=1e-5)
    assert repr(tg.nn.EmbeddingBag(4, 2, max_norm=1.0)) == repr(
        torch.nn.EmbeddingBag(4, 2, max_norm=1.0)
    )
    with pytest.raises(AssertionError, match="padding_idx must be within num_embeddings"):
        tg.nn.EmbeddingBag(4, 2, padding_idx=4)


def test_from_pretrained():
    b = tg.nn.EmbeddingBag.from_pretrained(tg.tensor(W), mode="max")
    a = torch.nn.EmbeddingBag.from_pretrained(torch.tensor(W), mode="max")
    assert not b.weight.requires_grad
    assert tg.nn.EmbeddingBag.from_pretrained(tg.tensor(W), freeze=False).weight.requires_grad
    x = IDX[:8].reshape(2, 4)
    np.testing.assert_allclose(b(tg.tensor(x)).numpy(), a(torch.tensor(x)).numpy())
    with pytest.raises(AssertionError, match="2-dimensional"):
        tg.nn.EmbeddingBag.from_pretrained(tg.tensor(W[0]))
