"""Public indexing API: ``x[idx]``, ``x[idx] = v``, gather/scatter and friends, against numpy."""

from __future__ import annotations

import numpy as np
import pytest

import tracegrad as tg

from .tiers import slow_after

rng = np.random.default_rng(0)


def _np_index(index):
    """The same index for numpy (tensors become arrays)."""
    if isinstance(index, tuple):
        return tuple(_np_index(i) for i in index)
    return np.asarray(index) if isinstance(index, tg.Tensor) else index


M = np.array([[True, False, True, False], [False, False, False, False], [True, True, False, True]])

GETITEM_CASES = [
    ((3, 4), 1),
    ((3, 4), -1),
    ((3, 4), (2, -3)),
    ((3, 4), (slice(None), 2)),
    ((5, 4), slice(1, None, 2)),
    ((5, 4), slice(-2, 10)),
    ((5, 4), slice(3, 1)),
    ((5, 4), (slice(None, None, 3), slice(-3, -1))),
    ((3, 4), None),
    ((3, 4), (None, slice(None), None, 1)),
    ((2, 3, 4), Ellipsis),
    ((2, 3, 4), (Ellipsis, 0)),
    ((2, 3, 4), (1, Ellipsis, None)),
    ((3, 4), [0, 2, 0]),
    ((3, 4), (slice(None), [3, -1, 0, 3])),
    ((3, 4), tg.tensor([[0, 1], [2, 0]])),
    ((3, 4), tg.tensor(2)),
    ((3, 4, 5), ([0, 2], [1, 3])),
    ((3, 4, 5), ([[0], [2]], [1, 3, 3])),
    ((3, 4, 5), ([[0], [2]], slice(None), [1, 3, 4])),
    ((3, 4, 5), (slice(1, 3), [[0], [3]], [1, 3, 4])),
    ((3, 4, 5), (None, [0, 1], slice(None), [1, 2])),
    ((3, 4), tg.tensor(M)),
    ((3, 4), M),
    ((3, 4), (M[:, 0], slice(1, 3))),
    ((3, 4), (slice(None), tg.tensor([True, False, True, True]))),
    ((3, 4), tg.tensor(np.zeros((3, 4), bool))),
    ((3, 4), True),
    ((3, 4), False),
    ((3, 4), []),
    ((0, 3), (slice(None), [2, 0])),
    ((), None),
    ((), Ellipsis),
    ((4,), (slice(None), None)),
]


@pytest.mark.parametrize(
    "dtype",
    [pytest.param(np.float32, marks=pytest.mark.slow), np.float64],
    ids=["float32", "float64"],
)
@pytest.mark.parametrize(
    "shape,index",
    slow_after(GETITEM_CASES, 12, multi=True),
    ids=[str(i) for i in range(len(GETITEM_CASES))],
)
def test_getitem_matches_numpy(shape, index, dtype):
    x = rng.standard_normal(shape).astype(dtype)
    t = tg.tensor(x, requires_grad=True)
    y = t[index]
    ref = x[_np_index(index)]
    assert tuple(y.shape) == ref.shape
    assert y.dtype == t.dtype
    np.testing.assert_array_equal(np.asarray(y.detach()), ref)
    # the gradient of sum(x[idx] * w) scatters w back, adding where an index repeats
    w = rng.standard_normal(ref.shape).astype(dtype)
    (y * tg.tensor(w)).sum().backward()
    expected = np.zeros(shape, dtype)
    np.add.at(expected, _np_index(index), w)
    assert t.grad.shape == shape
    np.testing.assert_allclose(np.asarray(t.grad), expected, rtol=1e-6)


def test_int_then_tensor_follows_pytorch_not_numpy():
    # PyTorch selects with ints first, so x[1, :, [0, 2]] is x[1][:, [0, 2]] (numpy would move the
    # advanced dimension to the front).
    x = rng.standard_normal((3, 4, 5))
    t = tg.tensor(x, requires_grad=True)
    y = t[1, :, [0, 2]]
    ref = x[1][:, [0, 2]]
    assert tuple(y.shape) == (4, 2)
    np.testing.assert_array_equal(np.asarray(y.detach()), ref)
    w = rng.standard_normal((4, 2))
    (y * tg.tensor(w)).sum().backward()
    expected = np.zeros(x.shape)
    expected[1][:, [0, 2]] = w
    np.testing.assert_allclose(np.asarray(t.grad), expected)


def test_getitem_second_order():
    x = rng.standard_normal(5)
    t = tg.tensor(x, requires_grad=True)
    idx = [0, 2, 2, 4]
    y = t[idx]
    (g,) = tg.autograd.grad((y * y * y).sum(), t, create_graph=True)
    first = np.zeros(5)
    np.add.at(first, idx, 3 * x[idx] ** 2)
    np.testing.assert_allclose(np.asarray(g.detach()), first)
    g.sum().backward()
    second = np.zeros(5)
    np.add.at(second, idx, 6 * x[idx])
    np.testing.assert_allclose(np.asarray(t.grad), second)


@pytest.mark.parametrize(
    "index,name",
    [
        (0, "SelectBackward0"),
        ((slice(1, None),), "SliceBackward0"),
        ((0, slice(1, None)), "SliceBackward0"),
        ((slice(None), 0), "SelectBackward0"),
        (None, "UnsqueezeBackward0"),
        ([0, 1], "IndexBackward0"),
        ((0, [0, 1]), "IndexBackward0"),
        (Ellipsis, "AliasBackward0"),
    ],
)
def test_getitem_grad_fn_names(index, name):
    t = tg.randn(3, 4, requires_grad=True)
    assert t[index].grad_fn.name() == name


def test_getitem_without_grad_records_nothing():
    t = tg.randn(3, 4)
    y = t[[0, 1]]
    assert y.grad_fn is None and not y.requires_grad


@pytest.mark.parametrize(
    "index,exc,msg",
    [
        (5, IndexError, "index 5 is out of bounds for dimension 0 with size 3"),
        (-4, IndexError, "index -4 is out of bounds for dimension 0 with size 3"),
        ((0, 4), IndexError, "index 4 is out of bounds for dimension 1 with size 4"),
        ([0, 3], IndexError, "index 3 is out of bounds for dimension 0 with size 3"),
        ((slice(None), [-5]), IndexError, "index -5 is out of bounds for dimension 1 with size 4"),
        (slice(None, None, -1), ValueError, "step must be greater than zero"),
        (slice(None, None, 0), ValueError, "step must be greater than zero"),
        ((0, 0, 0), IndexError, "too many indices for tensor of dimension 2"),
        ((Ellipsis, Ellipsis), IndexError, "an index can only have a single ellipsis"),
        (1.5, IndexError, "only integers, slices"),
        ("a", IndexError, "only integers, slices"),
        ([0.5], IndexError, "tensors used as indices must be long, int, byte or bool tensors"),
        (np.ones((2,), bool), IndexError, "The shape of the mask [2] at index 0 does not match"),
        (
            ([0, 1], [0, 1, 2]),
            IndexError,
            "shape mismatch: indexing tensors could not be broadcast",
        ),
    ],
)
def test_getitem_errors(index, exc, msg):
    t = tg.zeros(3, 4)
    with pytest.raises(exc) as info:
        t[index]
    assert msg in str(info.value)


def test_float_tensor_index_raises():
    with pytest.raises(IndexError, match="tensors used as indices"):
        tg.zeros(3)[tg.tensor([0.0])]


def test_uint8_index_is_a_deprecated_mask():
    x = tg.tensor([1.0, 2.0, 3.0])
    with pytest.warns(UserWarning, match="uint8"):
        y = x[tg.tensor([1, 0, 1], dtype=tg.uint8)]
    assert y.tolist() == [1.0, 3.0]


def test_iteration_and_len_use_getitem():
    x = tg.tensor([[1.0, 2.0], [3.0, 4.0], [5.0, 6.0]], requires_grad=True)
    assert len(x) == 3
    rows = list(x)
    assert [r.tolist() for r in rows] == [[1.0, 2.0], [3.0, 4.0], [5.0, 6.0]]
    assert rows[0].grad_fn.name() == "SelectBackward0"
    sum(r.sum() * (i + 1) for i, r in enumerate(rows)).backward()
    np.testing.assert_allclose(np.asarray(x.grad), [[1, 1], [2, 2], [3, 3]])


# ------------------------------------------------------------------------------------- setitem
SETITEM_CASES = [
    (1, (4,)),
    (1, ()),
    ((slice(None), 2), (3,)),
    ((slice(None), slice(1, None, 2)), (3, 1)),
    ((slice(None), slice(1, None, 2)), (1, 3, 2)),  # leading 1s are dropped, as in PyTorch
    ((None, 0), (1, 4)),
    (Ellipsis, (4,)),
    ([0, 2], (2, 4)),
    ((slice(None), [3, 0]), (2,)),
    (([0, 2], [1, 3]), ()),
    (M, (5,)),
    (M, ()),
    ((M[:, 0], slice(1, 3)), (2,)),
]


def _sum_to(g, shape):
    """numpy reference: sum a broadcast gradient back to ``shape`` (leading 1s of ``shape`` were
    dropped before broadcasting)."""
    core = tuple(shape)
    while len(core) > g.ndim and core[0] == 1:
        core = core[1:]
    lead = g.ndim - len(core)
    g = g.sum(axis=tuple(range(lead)))
    g = g.sum(axis=tuple(i for i, s in enumerate(core) if s == 1), keepdims=True)
    return g.reshape(shape)


@pytest.mark.parametrize(
    "index,vshape", SETITEM_CASES, ids=[str(i) for i in range(len(SETITEM_CASES))]
)
def test_setitem_values_and_gradients(index, vshape):
    a = rng.standard_normal((3, 4))
    v = rng.standard_normal(vshape)
    leaf_a = tg.tensor(a, requires_grad=True)
    leaf_v = tg.tensor(v, requires_grad=True)
    x = leaf_a * 1.0
    version = x._version
    x[index] = leaf_v
    assert x._version == version + 1
    ref = a.copy()
    ref[_np_index(index)] = v.reshape(v.shape[1:]) if len(vshape) == 3 else v
    np.testing.assert_array_equal(np.asarray(x.detach()), ref)

    w = rng.standard_normal((3, 4))
    (x * tg.tensor(w)).sum().backward()
    ga = w.copy()
    ga[_np_index(index)] = 0
    np.testing.assert_allclose(np.asarray(leaf_a.grad), ga)
    gv = _sum_to(w[_np_index(index)], vshape)
    np.testing.assert_allclose(np.asarray(leaf_v.grad), gv)


def test_setitem_grad_fn_and_scalar_value():
    x = tg.zeros(3, 4, requires_grad=True).clone()
    x[0, 1:] = 2.0
    assert x.grad_fn.name() == "CopySlices"
    assert x.tolist()[0] == [0.0, 2.0, 2.0, 2.0]
    x[x > 1] = 7
    assert x.grad_fn.name() == "IndexPutBackward0"
    assert x.tolist()[0] == [0.0, 7.0, 7.0, 7.0]


def test_setitem_casts_value_to_tensor_dtype():
    x = tg.zeros(3, dtype=tg.int64)
    x[1] = 2.7
    x[2] = tg.tensor(5.9)
    assert x.tolist() == [0, 2, 5] and x.dtype == tg.int64


def test_setitem_duplicates_give_the_gradient_to_the_kept_value():
    x = tg.zeros(3, requires_grad=True).clone()
    v = tg.tensor([1.0, 2.0, 3.0], requires_grad=True)
    x[[0, 0, 2]] = v
    kept = x.tolist()[0]
    (x * tg.tensor([10.0, 20.0, 30.0])).sum().backward()
    g = v.grad.tolist()
    assert g[2] == 30.0
    assert sorted(g[:2]) == [0.0, 10.0]  # exactly one of the two writes to x[0] landed...
    assert v.tolist()[g.index(10.0)] == kept  # ...and it is the one that gets the gradient


def test_setitem_on_leaf_requiring_grad_raises_and_no_grad_allows_it():
    x = tg.zeros(3, requires_grad=True)
    with pytest.raises(RuntimeError, match="leaf Variable that requires grad"):
        x[0] = 1.0
    with tg.no_grad():
        x[0] = 1.0
    assert x.tolist() == [1.0, 0.0, 0.0] and x.is_leaf


def test_setitem_shape_mismatch():
    x = tg.zeros(3, 4)
    with pytest.raises(RuntimeError, match=r"shape mismatch: value tensor of shape \[3\] cannot"):
        x[0] = tg.zeros(3)
    with pytest.raises(IndexError, match="out of bounds"):
        x[3] = 1.0


def test_setitem_detects_modified_saved_tensor():
    a = tg.ones(3, requires_grad=True)
    b = a * 1.0
    c = b * b  # saves b
    b[0] = 5.0
    with pytest.raises(RuntimeError, match="modified by an inplace operation"):
        c.sum().backward()


def test_index_put():
    x = tg.zeros(3, requires_grad=True)
    v = tg.tensor([1.0, 2.0, 3.0], requires_grad=True)
    y = x.index_put((tg.tensor([0, 0, 2]),), v, accumulate=True)
    assert y.tolist() == [3.0, 0.0, 3.0]
    y.sum().backward()
    assert v.grad.tolist() == [1.0, 1.0, 1.0] and x.grad.tolist() == [1.0, 1.0, 1.0]
    z = tg.zeros(2, 3)
    z.index_put_((None, tg.tensor([1])), tg.tensor(4.0))
    assert z.tolist() == [[0, 4, 0], [0, 4, 0]]


# ------------------------------------------------------------------------------- gather, scatter
def test_gather_and_take_along_dim():
    x = rng.standard_normal((3, 4))
    idx = np.array([[0, 3, 3], [1, 0, 2], [2, 2, 2]])
    t = tg.tensor(x, requires_grad=True)
    y = tg.gather(t, 1, tg.tensor(idx))
    np.testing.assert_array_equal(np.asarray(y.detach()), np.take_along_axis(x, idx, 1))
    assert y.grad_fn.name() == "GatherBackward0"
    w = rng.standard_normal(idx.shape)
    (y * tg.tensor(w)).sum().backward()
    expected = np.zeros_like(x)
    np.add.at(expected, (np.arange(3)[:, None], idx), w)
    np.testing.assert_allclose(np.asarray(t.grad), expected)
    # a smaller index in the other dimensions reads the leading corner
    small = np.array([[2, 0]])
    np.testing.assert_array_equal(
        t.gather(0, tg.tensor(small)).detach().numpy(), np.take_along_axis(x[:, :2], small, 0)
    )
    # take_along_dim broadcasts, and flattens with dim=None
    ib = np.array([[1], [0], [3]])
    np.testing.assert_array_equal(
        tg.take_along_dim(t, tg.tensor(ib), 1).detach().numpy(), np.take_along_axis(x, ib, 1)
    )
    row = np.array([[2, 0, 1, 1]])
    np.testing.assert_array_equal(
        t.take_along_dim(tg.tensor(row), dim=0).detach().numpy(), np.take_along_axis(x, row, 0)
    )
    flat = np.array([11, 0, 5])
    np.testing.assert_array_equal(
        tg.take_along_dim(t, tg.tensor(flat)).detach().numpy(), x.reshape(-1)[flat]
    )


def test_gather_errors():
    x = tg.zeros(3, 4)
    with pytest.raises(RuntimeError, match="index 4 is out of bounds for dimension 1 with size 4"):
        x.gather(1, tg.tensor([[4]]))
    with pytest.raises(RuntimeError, match="same number of dimensions"):
        x.gather(1, tg.tensor([0]))
    with pytest.raises(RuntimeError, match="Size does not match at dimension 0"):
        x.gather(1, tg.tensor([[0]] * 4))
    with pytest.raises(IndexError, match="Dimension out of range"):
        x.gather(2, tg.tensor([[0]]))


def test_scatter_and_scatter_add():
    a = rng.standard_normal((3, 4))
    src = rng.standard_normal((2, 4))
    idx = np.array([[0, 1, 2, 0], [2, 0, 1, 1]])
    ta, ts = tg.tensor(a, requires_grad=True), tg.tensor(src, requires_grad=True)
    y = tg.scatter(ta, 0, tg.tensor(idx), ts)
    ref = a.copy()
    ref[idx, np.arange(4)] = src
    np.testing.assert_array_equal(np.asarray(y.detach()), ref)
    assert y.grad_fn.name() == "ScatterBackward0"
    w = rng.standard_normal((3, 4))
    (y * tg.tensor(w)).sum().backward()
    ga = w.copy()
    ga[idx, np.arange(4)] = 0
    np.testing.assert_allclose(np.asarray(ta.grad), ga)
    np.testing.assert_allclose(np.asarray(ts.grad), w[idx, np.arange(4)])

    # scatter_add: repeated indices add up, and src may be larger than index
    big = rng.standard_normal((4, 5))
    idx2 = np.array([[0, 0, 2], [0, 1, 2]])
    tb = tg.tensor(big, requires_grad=True)
    y2 = tg.tensor(a).scatter_add(1, tg.tensor(idx2), tb)
    ref2 = a.copy()
    np.add.at(ref2, (np.arange(2)[:, None], idx2), big[:2, :3])
    np.testing.assert_allclose(np.asarray(y2.detach()), ref2)
    assert y2.grad_fn.name() == "ScatterAddBackward0"
    (y2 * tg.tensor(w)).sum().backward()
    gb = np.zeros_like(big)
    gb[:2, :3] = w[np.arange(2)[:, None], idx2]
    np.testing.assert_allclose(np.asarray(tb.grad), gb)


def test_scatter_value_in_place_and_reduce():
    x = tg.zeros(2, 3)
    x.scatter_(1, tg.tensor([[2], [0]]), 1.5)
    assert x.tolist() == [[0, 0, 1.5], [1.5, 0, 0]]
    y = tg.ones(2, 3).scatter(1, tg.tensor([[0, 0]]), tg.tensor([[1.0, 2.0]]), reduce="add")
    assert y.tolist() == [[4, 1, 1], [1, 1, 1]]
    z = tg.zeros(3)
    z.scatter_add_(0, tg.tensor([1, 1]), tg.tensor([1.0, 2.0]))
    assert z.tolist() == [0, 3, 0]
    with pytest.raises(RuntimeError, match="index 3 is out of bounds"):
        tg.zeros(3).scatter(0, tg.tensor([3]), 1.0)
    with pytest.raises(RuntimeError, match="Expected self.dtype to be equal to src.dtype"):
        tg.zeros(3).scatter(0, tg.tensor([0]), tg.ones(1, dtype=tg.float64))
    # int32 indices are accepted, as in PyTorch; narrower integers are not
    assert tg.zeros(3).scatter_add(0, tg.tensor([0], dtype=tg.int32), tg.ones(1)).tolist() == [
        1,
        0,
        0,
    ]
    with pytest.raises(RuntimeError, match="Expected dtype int32/int64 for index"):
        tg.zeros(3).scatter_add(0, tg.tensor([0], dtype=tg.int16), tg.ones(1))


def test_scatter_duplicates_give_the_gradient_to_the_kept_element():
    x = tg.zeros(3, requires_grad=True)
    src = tg.tensor([1.0, 2.0, 3.0], requires_grad=True)
    y = x.scatter(0, tg.tensor([1, 1, 0]), src)
    kept = y.tolist()[1]
    (y * tg.tensor([10.0, 20.0, 30.0])).sum().backward()
    g = src.grad.tolist()
    assert g[2] == 10.0 and sorted(g[:2]) == [0.0, 20.0]
    assert src.tolist()[g.index(20.0)] == kept
    assert x.grad.tolist() == [0.0, 0.0, 30.0]


def test_index_select_take_index_add():
    x = rng.standard_normal((3, 4))
    t = tg.tensor(x, requires_grad=True)
    idx = np.array([3, 0, 3])
    y = t.index_select(1, tg.tensor(idx))
    np.testing.assert_array_equal(np.asarray(y.detach()), np.take(x, idx, 1))
    assert y.grad_fn.name() == "IndexSelectBackward0"
    y.sum().backward()
    np.testing.assert_allclose(np.asarray(t.grad), np.tile([[1.0, 0, 0, 2]], (3, 1)))
    with pytest.raises(IndexError, match="index out of range in self"):
        t.index_select(0, tg.tensor([3]))
    with pytest.raises(IndexError, match="Index is supposed to be a vector"):
        t.index_select(0, tg.tensor([[0]]))

    ti = tg.tensor([[0, 11], [5, -1]])
    np.testing.assert_array_equal(tg.take(t, ti).detach().numpy(), np.take(x, np.asarray(ti)))
    with pytest.raises(IndexError, match="out of range: tried to access index 12"):
        tg.take(t, tg.tensor([12]))

    src = tg.tensor(rng.standard_normal((3, 2)), requires_grad=True)
    z = tg.index_add(t, 1, tg.tensor([1, 1]), src, alpha=2.0)
    ref = x.copy()
    np.add.at(ref, (slice(None), [1, 1]), 2.0 * np.asarray(src.detach()))
    np.testing.assert_allclose(np.asarray(z.detach()), ref)
    assert z.grad_fn.name() == "IndexAddBackward0"
    z.sum().backward()
    np.testing.assert_allclose(np.asarray(src.grad), np.full((3, 2), 2.0))
    with pytest.raises(RuntimeError, match="source tensor shape must match"):
        t.index_add(1, tg.tensor([0, 1]), tg.zeros(2, 2))


def test_masked_fill_and_masked_select():
    x = rng.standard_normal((3, 4))
    t = tg.tensor(x, requires_grad=True)
    v = tg.tensor(0.5, requires_grad=True)
    mask = x > 0
    y = t.masked_fill(tg.tensor(mask), v)
    np.testing.assert_array_equal(np.asarray(y.detach()), np.where(mask, 0.5, x))
    assert y.grad_fn.name() == "MaskedFillBackward0"
    w = rng.standard_normal((3, 4))
    (y * tg.tensor(w)).sum().backward()
    np.testing.assert_allclose(np.asarray(t.grad), np.where(mask, 0, w))
    np.testing.assert_allclose(v.grad.item(), w[mask].sum())
    # broadcast mask, in place
    z = tg.tensor(x)
    z.masked_fill_(tg.tensor([True, False, False, True]), -1.0)
    np.testing.assert_array_equal(z.numpy(), np.where([True, False, False, True], -1.0, x))
    with pytest.raises(RuntimeError, match="only supports boolean masks"):
        t.masked_fill(tg.tensor(mask.astype(np.int64)), 0.0)
    with pytest.raises(RuntimeError, match="0-dimensional value tensor"):
        t.masked_fill(tg.tensor(mask), tg.zeros(1))

    s = tg.masked_select(t, tg.tensor(mask[0]))
    np.testing.assert_array_equal(np.asarray(s.detach()), x[np.broadcast_to(mask[0], x.shape)])
    assert s.grad_fn.name() == "MaskedSelectBackward0"


# ---------------------------------------------------------------------------- no-gradient ops
def test_nonzero_argwhere():
    x = np.array([[0.0, 1.5, 0.0], [2.0, 0.0, -1.0]])
    n = tg.nonzero(tg.tensor(x))
    assert n.dtype == tg.int64
    np.testing.assert_array_equal(n.numpy(), np.argwhere(x))
    rows, cols = tg.tensor(x).nonzero(as_tuple=True)
    np.testing.assert_array_equal(rows.numpy(), np.nonzero(x)[0])
    np.testing.assert_array_equal(cols.numpy(), np.nonzero(x)[1])
    np.testing.assert_array_equal(tg.argwhere(tg.tensor(x)).numpy(), np.argwhere(x))
    assert tuple(tg.tensor(3.0).nonzero().shape) == (1, 0)
    assert tuple(tg.zeros(0, 2).nonzero().shape) == (0, 2)


def test_nonzero_static_pads_and_truncates_and_compiles():
    x = np.array([[0.0, 1.5, 0.0], [2.0, 0.0, -1.0]])
    full = np.argwhere(x)
    got = tg.nonzero_static(tg.tensor(x), size=5).numpy()
    np.testing.assert_array_equal(got, np.concatenate([full, -np.ones((2, 2), np.int64)]))
    np.testing.assert_array_equal(
        tg.tensor(x).nonzero_static(size=2, fill_value=9).numpy(), full[:2]
    )
    assert tg.nonzero_static(tg.tensor(2.0), size=2).shape == (2, 0)
    with pytest.raises(RuntimeError, match="non-negative"):
        tg.nonzero_static(tg.tensor(x), size=-1)
    step = tg.compile(lambda t: tg.nonzero_static(t, size=4))
    np.testing.assert_array_equal(step(tg.tensor(x)).numpy(), np.concatenate([full, [[-1, -1]]]))


def test_one_hot():
    labels = np.array([[0, 2], [1, 2]])
    y = tg.one_hot(tg.tensor(labels))
    assert y.dtype == tg.int64
    np.testing.assert_array_equal(y.numpy(), np.eye(3, dtype=np.int64)[labels])
    assert tuple(tg.one_hot(tg.tensor([1]), 4).shape) == (1, 4)
    with pytest.raises(RuntimeError, match="Class values must be smaller than num_classes"):
        tg.one_hot(tg.tensor([3]), 3)
    with pytest.raises(RuntimeError, match="Class values must be non-negative"):
        tg.one_hot(tg.tensor([-1]))
    with pytest.raises(RuntimeError, match="LongTensor"):
        tg.one_hot(tg.tensor([1.0]))


def test_torch_parity_getitem_setitem():
    torch = pytest.importorskip("torch")
    x = rng.standard_normal((3, 4, 5))
    for index in [(1, slice(None), [0, 2]), ([[0], [2]], slice(None), [1, 3, 4]), (M[:, 0],)]:
        ref = torch.tensor(x)[index].numpy()
        np.testing.assert_array_equal(tg.tensor(x)[index].numpy(), ref)
