"""index_copy, index_fill, index_reduce, scatter_reduce, masked_scatter, put, the *_scatter ops,
as_strided and fill_diagonal_ against PyTorch (CPU): values, dtypes, grad_fn names, gradients of
every floating-point input, in-place forms and errors."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

import tracegrad as tg

from .tiers import slow_after

torch = pytest.importorskip("torch")

_rng = np.random.default_rng(0)


def _lib_tensor(T, a, grad: bool):
    a = np.asarray(a)
    return T.tensor(a, requires_grad=grad and a.dtype.kind == "f")


def _run(T, fn, arrays, grad: bool):
    xs = [_lib_tensor(T, a, grad) if isinstance(a, np.ndarray) else a for a in arrays]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # PyTorch's "index_reduce() is in beta"
        out = fn(T, *xs)
    return xs, out


def _name(t):
    if t.grad_fn is None:
        return None
    return t.grad_fn.name() if isinstance(t, tg.Tensor) else type(t.grad_fn).__name__


def _np(t):
    return np.asarray(t.detach()) if isinstance(t, tg.Tensor) else t.detach().numpy()


def _parity(fn, *arrays, grad: bool = True, atol: float = 1e-12):
    """``fn(T, *tensors)`` with tracegrad and PyTorch: same values, dtype and grad_fn name, and the
    same gradient (for a random cotangent) of every float input."""
    ours_in, ours = _run(tg, fn, arrays, grad)
    theirs_in, theirs = _run(torch, fn, arrays, grad)
    assert str(ours.dtype).split(".")[-1] == str(theirs.dtype).split(".")[-1]
    np.testing.assert_allclose(_np(ours), _np(theirs), rtol=1e-12, atol=atol)
    if not grad or not theirs.requires_grad:
        assert not ours.requires_grad
        return
    if theirs.ndim:  # a 0-d input is written as 1-d and reshaped back: another grad_fn
        assert _name(ours) == _name(theirs)
    w = _rng.standard_normal(tuple(theirs.shape))
    (ours * tg.tensor(w)).sum().backward()
    (theirs * torch.tensor(w)).sum().backward()
    for o, t in zip(ours_in, theirs_in):
        if isinstance(t, torch.Tensor) and t.requires_grad:
            assert (o.grad is None) == (t.grad is None)
            if t.grad is not None:
                np.testing.assert_allclose(
                    np.asarray(o.grad), t.grad.numpy(), rtol=1e-10, atol=atol
                )


def _errors(fn, *arrays):
    """Both raise the same exception type with the same message."""
    with pytest.raises(Exception) as theirs:
        _run(torch, fn, arrays, False)
    with pytest.raises(type(theirs.value)) as ours:
        _run(tg, fn, arrays, False)
    assert str(ours.value).split("\n")[0] == str(theirs.value).split("\n")[0]


def _first(fast: list, grid: list) -> list:
    """``fast`` followed by the rest of ``grid`` (for ``slow_after(..., keep=len(fast))``)."""
    return fast + [g for g in grid if g not in fast]


X = _rng.standard_normal((3, 4))
S2 = _rng.standard_normal((3, 2))
I2 = np.array([2, 0])


# ------------------------------------------------------------------------ index_copy, index_fill
def test_index_copy():
    _parity(lambda T, x, i, s: T.index_copy(x, 1, i, s), X, I2, S2)
    _parity(lambda T, x, i, s: x.index_copy(0, i, s), X, np.array([1]), X[:1])
    _parity(lambda T, x, i, s: x.index_copy(0, i, s), np.array(2.0), np.array(0), np.array(5.0))
    _parity(lambda T, x, i, s: (x * 1).index_copy_(1, i, s), X, I2, S2)


def test_index_copy_errors():
    f = lambda T, x, i, s: x.index_copy(1, i, s)  # noqa: E731
    _errors(f, X, I2.astype(np.int32), S2)
    _errors(f, X, I2, S2.astype(np.float32))
    _errors(f, X, I2[None], S2)
    _errors(f, X, np.array([0, 5]), S2)
    _errors(f, X, np.array([0, 1, 2]), S2)


@pytest.mark.parametrize("value", [2.5, "tensor"])
def test_index_fill(value):
    v = np.float64(-1.5) if value == "tensor" else value
    if value == "tensor":
        _parity(lambda T, x, i, v: T.index_fill(x, 1, i, v), X, np.array([3, 0, 3]), np.asarray(v))
    else:
        _parity(lambda T, x, i: T.index_fill(x, 1, i, v), X, np.array([3, 0, 3]))
    _parity(lambda T, x, i: (x * 1).index_fill_(-1, i, 7), X, I2)
    _parity(lambda T, x, i: x.index_fill(0, i, True), np.arange(6).reshape(3, 2), I2)


def test_index_fill_errors():
    _errors(lambda T, x, i, v: x.index_fill(1, i, v), X, I2, np.ones(2))
    _errors(lambda T, x, i: x.index_fill(1, i, 1.0), X, I2.astype(np.int32))
    _errors(lambda T, x, i: x.index_fill(1, i, 1.0), X, np.array([0, 7]))


# ---------------------------------------------------------------------------------- index_reduce
REDUCE = ["prod", "mean", "amax", "amin"]


@pytest.mark.parametrize(
    "reduce,include_self",
    slow_after(
        _first([("amax", True), ("prod", False)], [(r, i) for r in REDUCE for i in (True, False)]),
        keep=2,
        multi=True,
    ),
)
def test_index_reduce(reduce, include_self):
    idx = np.array([0, 2, 0, 3])
    src = _rng.standard_normal((3, 4))
    _parity(
        lambda T, x, i, s: x.index_reduce(1, i, s, reduce, include_self=include_self), X, idx, src
    )
    _parity(
        lambda T, x, i, s: T.index_reduce(x, 0, i, s, reduce, include_self=include_self),
        X,
        np.array([1, 1]),
        _rng.standard_normal((2, 4)),
    )


def test_index_reduce_integers_and_errors():
    x = np.arange(12).reshape(3, 4)
    src = np.arange(8).reshape(2, 4) - 3
    for reduce in REDUCE:
        _parity(lambda T, x, i, s, r=reduce: x.index_reduce(0, i, s, r), x, np.array([1, 1]), src)
    _errors(lambda T, x, i, s: x.index_reduce(1, i, s, "sum"), X, I2, S2)
    _errors(lambda T, x, i, s: x.index_reduce(1, i, s, "prod"), X, I2, S2.astype(np.float32))


# -------------------------------------------------------------------------------- scatter_reduce
INDEX = np.array([[0, 0, 2], [3, 1, 1], [2, 2, 2]])


@pytest.mark.parametrize(
    "reduce,include_self",
    slow_after(
        _first(
            [("prod", True), ("mean", False)],
            [(r, i) for r in ("sum", "prod", "mean", "amax", "amin") for i in (True, False)],
        ),
        keep=2,
        multi=True,
    ),
)
def test_scatter_reduce(reduce, include_self):
    src = _rng.standard_normal((3, 3))
    _parity(
        lambda T, x, i, s: x.scatter_reduce(1, i, s, reduce, include_self=include_self),
        X,
        INDEX,
        src,
    )
    _parity(
        lambda T, x, i, s: T.scatter_reduce(x, 0, i, s, reduce, include_self=include_self),
        X,
        INDEX[:2] % 3,
        src[:2],
    )


@pytest.mark.parametrize(
    "reduce,include_self",
    slow_after(
        [("amax", True), ("amin", False), ("amin", True), ("amax", False)], keep=2, multi=True
    ),
)
def test_scatter_reduce_ties_share_the_gradient(reduce, include_self):
    x = np.array([[1.0, 3.0, 3.0, 0.0]])
    src = np.array([[3.0, 3.0, 1.0, 3.0, 0.0]])
    idx = np.array([[1, 1, 0, 2, 3]])
    _parity(
        lambda T, x, i, s: x.scatter_reduce(1, i, s, reduce, include_self=include_self),
        x,
        idx,
        src,
    )


@pytest.mark.parametrize(
    "x,src",
    slow_after(
        [
            ([[2.0, 0.0, 3.0, 0.5]], [[0.0, 4.0, 2.0, 0.0, 5.0, 1.5]]),  # zeros in self and src
            ([[2.0, 1.0, 3.0, 0.5]], [[0.0, 0.0, 2.0, 1.0, 5.0, 1.5]]),  # two zeros at one place
            ([[0.0, 1.0, 3.0, 0.5]], [[1.5, 2.0, 2.0, 1.0, 0.0, 1.5]]),
        ],
        keep=2,
        multi=True,
    ),
)
@pytest.mark.parametrize("include_self", [True, False])
def test_scatter_reduce_prod_with_zeros(x, src, include_self):
    idx = np.array([[0, 0, 1, 1, 2, 2]])
    _parity(
        lambda T, x, i, s: x.scatter_reduce(1, i, s, "prod", include_self=include_self),
        np.array(x),
        idx,
        np.array(src),
    )


def test_scatter_reduce_inplace_integers_and_errors():
    xi = np.arange(12).reshape(3, 4)
    si = np.arange(9).reshape(3, 3) + 1
    for reduce in ["sum", "prod", "mean", "amax", "amin"]:
        _parity(lambda T, x, i, s, r=reduce: x.scatter_reduce(1, i, s, r), xi, INDEX, si)
    _parity(lambda T, x, i, s: (x * 1).scatter_reduce_(1, i, s, "mean"), X, INDEX, X[:, :3])
    _errors(lambda T, x, i, s: x.scatter_reduce(1, i, s, "foo"), X, INDEX, X[:, :3])
    _errors(lambda T, x, i, s: x.scatter_reduce(1, i, s, "sum"), X, INDEX, si)


# --------------------------------------------------------------------------- masked_scatter, put
def test_masked_scatter():
    mask = X > 0
    src = _rng.standard_normal(14)
    _parity(lambda T, x, m, s: x.masked_scatter(m, s), X, mask, src)
    _parity(lambda T, x, m, s: T.masked_scatter(x, m, s), X, mask[0], src)  # broadcast mask
    _parity(lambda T, x, m, s: (x * 1).masked_scatter_(m, s), X, mask, src.reshape(2, 7))
    _parity(lambda T, x, m, s: x.masked_scatter(m, s), X, np.zeros_like(mask), src)
    _errors(lambda T, x, m, s: x.masked_scatter(m, s), X, mask, src[:2])
    _errors(lambda T, x, m, s: x.masked_scatter(m, s), X, mask.astype(np.int32), src)
    _errors(lambda T, x, m, s: x.masked_scatter(m, s), X, mask, src.astype(np.float32))


@pytest.mark.parametrize("accumulate", [False, True])
def test_put(accumulate):
    idx = np.array([[1, -1], [5, 0]])
    src = _rng.standard_normal((2, 2))
    _parity(lambda T, x, i, s: x.put(i, s, accumulate), X, idx, src)
    # Repeated positions only accumulate here: a plain write keeps one of them (see below).
    rep = np.array([3, 3, 4]) if accumulate else np.array([3, 2, 4])
    _parity(lambda T, x, i, s: T.put(x, i, s, accumulate=accumulate), X, rep, X[0, :3])
    _parity(lambda T, x, i, s: (x * 1).put_(i, s, accumulate), X, idx, src)


def test_put_repeated_positions_give_the_gradient_to_the_value_kept():
    # PyTorch leaves which value lands unspecified and gives every repeated one the gradient;
    # tracegrad differentiates the value it computed: only the one that landed gets it.
    x = tg.zeros(4, requires_grad=True)
    s = tg.tensor([1.0, 2.0, 3.0], requires_grad=True)
    y = x.put(tg.tensor([1, 1, 2]), s)
    kept = y[1].item()
    assert kept in (1.0, 2.0)
    y.backward(tg.tensor([10.0, 20.0, 30.0, 40.0]))
    assert s.grad.tolist() == ([20.0, 0.0, 30.0] if kept == 1.0 else [0.0, 20.0, 30.0])
    assert x.grad.tolist() == [10.0, 0.0, 0.0, 40.0]


def test_put_errors():
    f = lambda T, x, i, s: x.put(i, s)  # noqa: E731
    _errors(f, X, I2.astype(np.int32), S2[0])
    _errors(f, X, I2, S2[0].astype(np.float32))
    _errors(f, X, I2, S2[:, 0])
    _errors(f, X, np.array([12]), S2[0, :1])
    _errors(f, X, np.array([-13]), S2[0, :1])


# ---------------------------------------------------------------------------------- *_scatter
def test_select_and_slice_scatter():
    _parity(lambda T, x, s: T.select_scatter(x, s, 0, 1), X, X[0] * 2)
    _parity(lambda T, x, s: x.select_scatter(s, -1, -2), X, X[:, 0] * 2)
    _parity(lambda T, x, s: T.slice_scatter(x, s, 1, 0, 4, 2), X, S2)
    _parity(lambda T, x, s: x.slice_scatter(s, start=1), X, X[:2])
    _parity(lambda T, x, s: T.slice_scatter(x, s, -1, -3, None, 2), X, S2)
    _errors(lambda T, x, s: T.select_scatter(x, s, 0, 1), X, X[0, :3])
    _errors(lambda T, x, s: T.select_scatter(x, s, 0, 5), X, X[0])
    _errors(lambda T, x, s: T.slice_scatter(x, s, 1, 0, 4, 2), X, X[:, :3])


@pytest.mark.parametrize(
    "shape,offset,dim1,dim2",
    slow_after(
        [
            ((3, 4), 0, 0, 1),
            ((3, 4), 1, 1, 0),
            ((2, 3, 4), -1, 0, 2),
            ((2, 3, 4), 0, 2, 1),
            ((4, 3), -2, 0, 1),
            ((3, 4), 5, 0, 1),
        ],
        keep=3,
        multi=True,
    ),
)
def test_diagonal_scatter(shape, offset, dim1, dim2):
    x = _rng.standard_normal(shape)
    d = torch.diagonal(torch.tensor(x), offset, dim1, dim2)
    src = _rng.standard_normal(tuple(d.shape))
    _parity(lambda T, x, s: T.diagonal_scatter(x, s, offset, dim1, dim2), x, src)
    _parity(lambda T, x, s: x.diagonal_scatter(s, offset=offset, dim1=dim1, dim2=dim2), x, src)


def test_diagonal_scatter_errors():
    _errors(lambda T, x, s: T.diagonal_scatter(x, s), X, X[0])
    _errors(lambda T, x, s: T.diagonal_scatter(x, s, 0, 1, 1), X, X[0, :3])


# -------------------------------------------------------------------------------- as_strided
@pytest.mark.parametrize(
    "size,stride,offset",
    [
        ((2, 2), (1, 2), None),
        ((3, 3), (1, 1), 2),
        ((2, 3), (4, 1), 1),
        ((5,), (0,), 3),
        ((), (), 7),
    ],
)
def test_as_strided(size, stride, offset):
    _parity(lambda T, x: x.as_strided(size, stride, offset), X)
    _parity(lambda T, x: T.as_strided(x, size, stride, offset), X)
    src = _rng.standard_normal(size)
    overlapping = (
        len(np.unique(np.asarray(torch.arange(12).as_strided(size, stride, offset or 0))))
        < src.size
    )
    if not overlapping:  # where positions overlap, which write lands is unspecified
        _as_strided_scatter_parity(size, stride, offset, src)


def _as_strided_scatter_parity(size, stride, offset, src):
    """Values, grad_fn and src's gradient against PyTorch; input's gradient against the
    cotangent with the written positions zeroed. (PyTorch 2.13's AsStridedScatterBackward0 gives
    input the cotangent at the written positions instead, the complement of its derivative.)"""
    x, s = tg.tensor(X, requires_grad=True), tg.tensor(src, requires_grad=True)
    tx, ts = torch.tensor(X, requires_grad=True), torch.tensor(src, requires_grad=True)
    y = tg.as_strided_scatter(x, s, size, stride, offset)
    ty = torch.as_strided_scatter(tx, ts, size, stride, offset)
    np.testing.assert_array_equal(np.asarray(y.detach()), ty.detach().numpy())
    assert _name(y) == _name(ty)
    w = _rng.standard_normal(X.shape)
    y.backward(tg.tensor(w))
    ty.backward(torch.tensor(w))
    np.testing.assert_array_equal(np.asarray(s.grad), ts.grad.numpy())
    mask = np.zeros(12, bool)
    mask[np.asarray(torch.arange(12).as_strided(size, stride, offset or 0)).reshape(-1)] = True
    np.testing.assert_array_equal(np.asarray(x.grad), np.where(mask.reshape(3, 4), 0.0, w))


def test_as_strided_errors():
    _errors(lambda T, x: x.as_strided((3, 4), (4, 1), 1), X)
    _errors(lambda T, x: x.as_strided((3,), (-1,)), X)
    _errors(lambda T, x: x.as_strided((3, 4), (4,)), X)
    _errors(lambda T, x, s: T.as_strided_scatter(x, s, (2, 2), (1, 2)), X, X[:2, :3])


# ---------------------------------------------------------------------------- fill_diagonal_
@pytest.mark.parametrize(
    "shape,wrap",
    slow_after(
        [((7, 3), True), ((3, 3, 3), False), ((3, 4), False), ((7, 3), False), ((4, 3), True)],
        keep=2,
        multi=True,
    ),
)
def test_fill_diagonal(shape, wrap):
    x = _rng.standard_normal(shape)
    _parity(lambda T, x: (x * 1).fill_diagonal_(2.5, wrap=wrap), x)
    _parity(
        lambda T, x: x.fill_diagonal_(-1, wrap),
        np.arange(np.prod(shape)).reshape(shape),
        grad=False,
    )


def test_fill_diagonal_errors():
    _errors(lambda T, x: x.fill_diagonal_(1.0), X[0])
    _errors(lambda T, x: x.fill_diagonal_(1.0), np.zeros((3, 3, 2)))


def test_inplace_on_a_leaf_is_refused():
    x = tg.tensor(X, requires_grad=True)
    with pytest.raises(RuntimeError, match="leaf Variable"):
        x.index_fill_(1, tg.tensor(I2), 0.0)


def test_create_graph_through_scatter_reduce():
    # Second order of amax/mean reductions and of index_copy, checked against PyTorch.
    def run(T):
        x = T.tensor(X, requires_grad=True)
        s = T.tensor(X[:, :3] * 0.5, requires_grad=True)
        y = (x.scatter_reduce(1, T.tensor(INDEX), s * s, "mean") ** 2).sum()
        (gx, gs) = T.autograd.grad(y, (x, s), create_graph=True)
        (gx.sum() + (gs * gs).sum()).backward()
        return x.grad, s.grad

    for o, t in zip(run(tg), run(torch)):
        np.testing.assert_allclose(np.asarray(o), t.numpy(), rtol=1e-10, atol=1e-12)
