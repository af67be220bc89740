"""Public shape API: flatten, repeat, cat/stack, split/chunk/unbind, flip/roll, movedim, diagonal,
tril/triu, ... against numpy: values, gradients (every op here is linear, so the gradient of
sum(f(x) * w) is computed in numpy from f applied to each basis vector), grad_fn names, errors."""

from __future__ import annotations

import numpy as np
import pytest

import tracegrad as tg

rng = np.random.default_rng(0)


def _linear_grad(np_f, shape, w):
    """d/dx sum(np_f(x) * w) for a linear numpy function ``np_f``, one basis vector at a time."""
    g = np.zeros(shape)
    for i in range(g.size):
        e = np.zeros(shape)
        e.flat[i] = 1.0
        g.flat[i] = np.sum(np_f(e) * w)
    return g


def _check(tg_f, np_f, shape, grad_fn=None, dtype=np.float64):
    """Values and gradient of ``tg_f`` against ``np_f``; returns the result."""
    x = rng.standard_normal(shape).astype(dtype)
    t = tg.tensor(x, requires_grad=True)
    y = tg_f(t)
    ref = np_f(x)
    assert tuple(y.shape) == ref.shape and y.dtype == t.dtype
    np.testing.assert_array_equal(np.asarray(y.detach()), ref)
    if grad_fn is not None:
        assert y.grad_fn.name() == grad_fn
    w = rng.standard_normal(ref.shape)
    (y * tg.tensor(w.astype(dtype))).sum().backward()
    np.testing.assert_allclose(
        np.asarray(t.grad), _linear_grad(np_f, shape, w).astype(dtype), rtol=1e-6, atol=1e-6
    )
    return y


CASES = [
    # (tracegrad function, numpy function, input shape, grad_fn name)
    (lambda t: t.flatten(), lambda x: x.reshape(-1), (2, 3, 4), "ViewBackward0"),
    (lambda t: tg.flatten(t, 1), lambda x: x.reshape(2, 12), (2, 3, 4), "ViewBackward0"),
    (lambda t: t.flatten(0, -2), lambda x: x.reshape(6, 4), (2, 3, 4), "ViewBackward0"),
    (lambda t: t.flatten(), lambda x: x.reshape(1), (), "ViewBackward0"),
    (lambda t: t.unflatten(1, (2, -1)), lambda x: x.reshape(3, 2, 2), (3, 4), "ViewBackward0"),
    (lambda t: tg.unflatten(t, -1, [1, 4]), lambda x: x.reshape(3, 1, 4), (3, 4), None),
    (lambda t: t.repeat(2, 3), lambda x: np.tile(x, (2, 3)), (2, 3), "RepeatBackward0"),
    (lambda t: t.repeat((2, 1, 2)), lambda x: np.tile(x, (2, 1, 2)), (3, 2), "RepeatBackward0"),
    (lambda t: t.repeat(3), lambda x: np.tile(x, 3), (), "RepeatBackward0"),
    (lambda t: t.repeat(0, 2), lambda x: np.tile(x, (0, 2)), (2, 3), "RepeatBackward0"),
    (lambda t: tg.tile(t, (2,)), lambda x: np.tile(x, 2), (2, 3), "RepeatBackward0"),
    (lambda t: t.tile(2, 1, 1), lambda x: np.tile(x, (2, 1, 1)), (2, 3), "RepeatBackward0"),
    (lambda t: tg.flip(t, (0, 2)), lambda x: np.flip(x, (0, 2)), (2, 3, 4), "FlipBackward0"),
    (lambda t: t.flip(-1), lambda x: np.flip(x, -1), (2, 3), "FlipBackward0"),
    (lambda t: t.flip(0, 1), lambda x: np.flip(x, (0, 1)), (2, 3), "FlipBackward0"),
    (lambda t: t.fliplr(), np.fliplr, (2, 3), "FlipBackward0"),
    (lambda t: tg.flipud(t), np.flipud, (2, 3), "FlipBackward0"),
    (lambda t: t.roll(2, 1), lambda x: np.roll(x, 2, 1), (3, 4), "RollBackward0"),
    (lambda t: tg.roll(t, (1, -5), (0, 1)), lambda x: np.roll(x, (1, -5), (0, 1)), (3, 4), None),
    (lambda t: t.roll(5), lambda x: np.roll(x, 5), (3, 4), "ViewBackward0"),
    (lambda t: t.roll(1, 0), lambda x: np.roll(x, 1, 0), (0, 2), "RollBackward0"),
    (lambda t: t.movedim(0, -1), lambda x: np.moveaxis(x, 0, -1), (2, 3, 4), "PermuteBackward0"),
    (
        lambda t: tg.moveaxis(t, (0, 1), (2, 0)),
        lambda x: np.moveaxis(x, (0, 1), (2, 0)),
        (2, 3, 4),
        "PermuteBackward0",
    ),
    (lambda t: t.narrow(1, 1, 2), lambda x: x[:, 1:3], (3, 4), "SliceBackward0"),
    (lambda t: tg.narrow(t, 0, -2, 2), lambda x: x[1:], (3, 4), "SliceBackward0"),
    (lambda t: t.select(1, -1), lambda x: x[:, -1], (3, 4), "SelectBackward0"),
    (lambda t: t.diagonal(), np.diagonal, (3, 4), "DiagonalBackward0"),
    (lambda t: t.diagonal(1), lambda x: np.diagonal(x, 1), (3, 4), "DiagonalBackward0"),
    (lambda t: tg.diagonal(t, -1, 2, 0), lambda x: np.diagonal(x, -1, 2, 0), (3, 2, 4), None),
    (lambda t: t.diagonal(offset=7), lambda x: np.diagonal(x, 7), (3, 4), "DiagonalBackward0"),
    (lambda t: tg.diag(t), np.diag, (3,), "DiagEmbedBackward0"),
    (lambda t: t.diag(-1), lambda x: np.diag(x, -1), (3,), "DiagEmbedBackward0"),
    (lambda t: t.diag(2), lambda x: np.diag(x, 2), (3, 4), "DiagonalBackward0"),
    (
        lambda t: tg.diag_embed(t),
        lambda x: np.stack([np.diag(r) for r in x]),
        (2, 3),
        "DiagEmbedBackward0",
    ),
    (
        lambda t: t.diag_embed(1, 0, 2),
        lambda x: np.moveaxis(np.stack([np.diag(r, 1) for r in x]), 0, 1),
        (2, 3),
        "DiagEmbedBackward0",
    ),
    (lambda t: t.tril(), np.tril, (3, 4), "TrilBackward0"),
    (lambda t: tg.tril(t, -1), lambda x: np.tril(x, -1), (2, 3, 3), "TrilBackward0"),
    (lambda t: t.triu(1), lambda x: np.triu(x, 1), (3, 4), "TriuBackward0"),
    (lambda t: tg.triu(t, -2), lambda x: np.triu(x, -2), (4, 3), "TriuBackward0"),
]


@pytest.mark.parametrize(
    "dtype",
    [pytest.param(np.float32, marks=pytest.mark.slow), np.float64],
    ids=["float32", "float64"],
)
@pytest.mark.parametrize("tg_f,np_f,shape,grad_fn", CASES, ids=[str(i) for i in range(len(CASES))])
def test_linear_shape_ops(tg_f, np_f, shape, grad_fn, dtype):
    _check(tg_f, np_f, shape, grad_fn, dtype)


def test_flatten_returns_input_when_nothing_merges_and_errors():
    t = tg.zeros(2, 3)
    assert t.flatten(1, 1) is t
    with pytest.raises(RuntimeError, match="start_dim cannot come after end_dim"):
        t.flatten(1, 0)
    with pytest.raises(IndexError, match="Dimension out of range"):
        t.flatten(0, 2)
    with pytest.raises(RuntimeError, match=r"unflatten: Provided sizes \[2, 2\] don't multiply"):
        tg.zeros(3, 5).unflatten(1, (2, 2))


def test_repeat_errors():
    with pytest.raises(RuntimeError, match="Number of dimensions of repeat dims"):
        tg.zeros(2, 3).repeat(2)
    assert not hasattr(tg, "repeat")  # a method only, as in PyTorch


# ---------------------------------------------------------------------------------- cat, stack
def test_cat_values_gradients_and_aliases():
    xs = [rng.standard_normal(s) for s in [(2, 3), (2, 1), (2, 0), (2, 2)]]
    ts = [tg.tensor(x, requires_grad=True) for x in xs]
    for fn in (tg.cat, tg.concat, tg.concatenate):
        y = fn(ts, dim=-1)
        np.testing.assert_array_equal(np.asarray(y.detach()), np.concatenate(xs, -1))
    assert y.grad_fn.name() == "CatBackward0"
    w = rng.standard_normal((2, 6))
    (y * tg.tensor(w)).sum().backward()
    for t, part in zip(ts, np.split(w, [3, 4, 4], axis=1)):
        np.testing.assert_array_equal(np.asarray(t.grad), part)


def test_cat_promotes_and_skips_legacy_empty():
    y = tg.cat([tg.tensor([1, 2]), tg.tensor([0.5]), tg.zeros(0)])
    assert y.dtype == tg.float32 and y.tolist() == [1.0, 2.0, 0.5]
    z = tg.cat([tg.ones(2, 2), tg.zeros(0)], dim=1)
    assert tuple(z.shape) == (2, 2)
    part = tg.tensor([1.0, 2.0], requires_grad=True)
    tg.cat([part, tg.tensor([3.0])]).sum().backward()  # one operand needs no gradient
    assert part.grad.tolist() == [1.0, 1.0]


@pytest.mark.parametrize(
    "tensors,dim,exc,msg",
    [
        ([], 0, RuntimeError, "expected a non-empty list of Tensors"),
        ([tg.zeros(2, 3), tg.zeros(3)], 0, RuntimeError, "same number of dimensions: got 2 and 1"),
        (
            [tg.zeros(2, 3), tg.zeros(2, 4)],
            0,
            RuntimeError,
            "Sizes of tensors must match except in dimension 0. Expected size 3 but got size 4 "
            "for tensor number 1 in the list.",
        ),
        ([tg.zeros(2)], 1, IndexError, "Dimension out of range"),
        ([tg.tensor(1.0)], 0, RuntimeError, "zero-dimensional tensor (at position 0)"),
        ([tg.zeros(2), [1.0]], 0, TypeError, "expected Tensor as element 1"),
    ],
)
def test_cat_errors(tensors, dim, exc, msg):
    with pytest.raises(exc) as info:
        tg.cat(tensors, dim)
    assert msg in str(info.value)


def test_stack_hstack_vstack():
    xs = [rng.standard_normal((2, 3)) for _ in range(3)]
    ts = [tg.tensor(x, requires_grad=True) for x in xs]
    for dim in (0, 1, 2, -1):
        y = tg.stack(ts, dim)
        np.testing.assert_array_equal(np.asarray(y.detach()), np.stack(xs, dim))
    assert y.grad_fn.name() == "StackBackward0"
    w = rng.standard_normal((2, 3, 3))
    (y * tg.tensor(w)).sum().backward()
    for i, t in enumerate(ts):
        np.testing.assert_array_equal(np.asarray(t.grad), w[..., i])
    np.testing.assert_array_equal(tg.hstack(ts).detach().numpy(), np.hstack(xs))
    np.testing.assert_array_equal(tg.vstack(ts).detach().numpy(), np.vstack(xs))
    v = [np.arange(3.0), np.arange(3.0) + 3]
    np.testing.assert_array_equal(tg.hstack([tg.tensor(a) for a in v]).numpy(), np.hstack(v))
    np.testing.assert_array_equal(tg.vstack([tg.tensor(a) for a in v]).numpy(), np.vstack(v))
    assert tuple(tg.stack([tg.tensor(1.0), tg.tensor(2.0)]).shape) == (2,)
    with pytest.raises(RuntimeError, match=r"stack expects each tensor to be equal size"):
        tg.stack([tg.zeros(2), tg.zeros(3)])
    with pytest.raises(RuntimeError, match="non-empty TensorList"):
        tg.stack([])


# -------------------------------------------------------------------- split, chunk, unbind
def _pieces_check(pieces, np_pieces, t, x_shape, name):
    assert len(pieces) == len(np_pieces)
    ws = []
    for p, r in zip(pieces, np_pieces):
        assert tuple(p.shape) == r.shape
        np.testing.assert_array_equal(np.asarray(p.detach()), r)
        assert p.grad_fn.name() == name
        ws.append(rng.standard_normal(r.shape))
    sum((p * tg.tensor(w)).sum() for p, w in zip(pieces, ws)).backward()
    return ws


def test_split():
    x = rng.standard_normal((5, 3))
    t = tg.tensor(x, requires_grad=True)
    ws = _pieces_check(t.split(2), np.split(x, [2, 4]), t, x.shape, "SplitBackward0")
    np.testing.assert_array_equal(np.asarray(t.grad), np.concatenate(ws))
    t.grad = None
    ws = _pieces_check(
        tg.split(t, [1, 0, 2], dim=1), np.split(x, [1, 1], axis=1), t, x.shape,
        "SplitWithSizesBackward0",
    )  # fmt: skip
    np.testing.assert_array_equal(np.asarray(t.grad), np.concatenate(ws, 1))
    assert [p.shape[0] for p in tg.zeros(0, 2).split(3)] == [0]
    with pytest.raises(RuntimeError, match="split_with_sizes expects split_sizes to sum exactly"):
        t.split([2, 2])
    with pytest.raises(RuntimeError, match="split expects split_size be non-negative"):
        t.split(-1)


def test_chunk_and_unbind():
    x = rng.standard_normal((3, 7))
    t = tg.tensor(x, requires_grad=True)
    ws = _pieces_check(t.chunk(3, 1), np.split(x, [3, 6], axis=1), t, x.shape, "SplitBackward0")
    np.testing.assert_array_equal(np.asarray(t.grad), np.concatenate(ws, 1))
    assert [p.shape[0] for p in tg.zeros(6).chunk(4)] == [2, 2, 2]  # fewer chunks than asked
    assert [p.shape[0] for p in tg.zeros(5).chunk(3)] == [2, 2, 1]
    assert len(tg.zeros(0).chunk(3)) == 3
    with pytest.raises(RuntimeError, match="chunk expects `chunks` to be greater than 0"):
        t.chunk(0)
    t.grad = None
    ws = _pieces_check(tg.unbind(t, 1), [x[:, i] for i in range(7)], t, x.shape, "UnbindBackward0")
    np.testing.assert_array_equal(np.asarray(t.grad), np.stack(ws, 1))
    assert tg.zeros(0, 2).unbind() == ()


def test_narrow_select_errors():
    t = tg.zeros(3, 5)
    with pytest.raises(
        RuntimeError, match=r"start \(3\) \+ length \(3\) exceeds dimension size \(5\)"
    ):
        t.narrow(1, 3, 3)
    with pytest.raises(
        IndexError, match=r"start out of range \(expected to be in range of \[-5, 5\]"
    ):
        t.narrow(1, 6, 0)
    with pytest.raises(IndexError, match=r"select\(\): index 3 out of range for tensor of size"):
        t.select(0, 3)
    assert tuple(t.narrow(1, 5, 0).shape) == (3, 0)


def test_flip_roll_movedim_diagonal_errors():
    t = tg.zeros(2, 3)
    with pytest.raises(RuntimeError, match="dims has duplicates"):
        t.flip(0, -2)
    with pytest.raises(RuntimeError, match="shifts and dimensions must align"):
        t.roll((1, 2), 0)
    with pytest.raises(RuntimeError, match="movedim: Invalid source or destination dims"):
        t.movedim((0, 1), 0)
    with pytest.raises(RuntimeError, match="movedim: repeated dim in `source`"):
        t.movedim((0, 0), (0, 1))
    with pytest.raises(RuntimeError, match="diagonal dimensions cannot be identical"):
        t.diagonal(0, 1, -1)
    with pytest.raises(RuntimeError, match="tril: input tensor must have at least 2 dimensions"):
        tg.zeros(3).tril()
    with pytest.raises(RuntimeError, match="diag\\(\\): Supports 1D or 2D tensors"):
        tg.zeros(2, 2, 2).diag()
    with pytest.raises(RuntimeError, match="Input must be >= 2-d."):
        tg.zeros(3).fliplr()


def test_tril_triu_in_place():
    x = tg.ones(3, 3)
    x.tril_()
    np.testing.assert_array_equal(x.numpy(), np.tril(np.ones((3, 3))))
    x.triu_(1)
    assert x.numpy().sum() == 0
    y = tg.ones(2, 2, requires_grad=True)
    with pytest.raises(RuntimeError, match="leaf Variable that requires grad"):
        y.triu_()


def test_torch_parity_shapes():
    torch = pytest.importorskip("torch")
    x = rng.standard_normal((3, 7))
    assert [tuple(p.shape) for p in tg.tensor(x).chunk(4, 1)] == [
        tuple(p.shape) for p in torch.tensor(x).chunk(4, 1)
    ]
    np.testing.assert_array_equal(tg.tensor(x).roll(3).numpy(), torch.tensor(x).roll(3).numpy())
