"""In-place ops on what PyTorch returns as a view (basic indexing, view/reshape/flatten/unflatten/
squeeze/unsqueeze, t/T/transpose/permute/movedim, narrow/select/unbind/split/chunk, diagonal) write
through to the tensor it was taken from (docs/semantics.md, "Views are copies that write through").

Each program runs on tracegrad and is compared with the same program written with numpy views
(numpy's slices, reshapes and transposes alias their array, as PyTorch's views do), and with
PyTorch when it is installed."""

from __future__ import annotations

import gc
import weakref

import numpy as np
import pytest

import tracegrad


def _chained_setitem(lib):
    t = lib.zeros(2, 1, 3)
    t[1][0][2] = 1  # the char-RNN tutorial's one-hot encoding
    return t


def _np_chained_setitem():
    t = np.zeros((2, 1, 3), np.float32)
    t[1][0][2] = 1
    return t


def _chained_iadd(lib):
    c = lib.zeros(2, 2)
    c[1][0] += 1  # the tutorials' confusion matrix
    c[1][0] += 1
    return c


def _np_chained_iadd():
    c = np.zeros((2, 2), np.float32)
    c[1][0] += 1
    c[1][0] += 1
    return c


def _stale_row_is_refreshed(lib):
    x = lib.zeros(2, 3)
    row = x[1]
    x[1, 1] = 5  # the base changes after the view is taken; the view must see it
    row.add_(1)
    return x


def _np_stale_row_is_refreshed():
    x = np.zeros((2, 3), np.float32)
    row = x[1]
    x[1, 1] = 5
    row += 1
    return x


def _reshapes(lib):
    x = lib.zeros(2, 3)
    x.view(-1)[1:3].fill_(1)
    x.reshape(3, 2)[2].add_(2)
    x.flatten()[0].add_(5)
    x.unsqueeze(0)[0, 1, 0].fill_(4)
    x.view(1, 2, 3).squeeze(0)[0, 2].mul_(10)
    x.unflatten(1, (3, 1))[1, 2].add_(7)
    return x


def _np_reshapes():
    x = np.zeros((2, 3), np.float32)
    x.reshape(-1)[1:3] = 1
    x.reshape(3, 2)[2] += 2
    x.reshape(-1)[0] += 5
    x[None][0, 1, 0] = 4
    x.reshape(1, 2, 3)[0][0, 2] *= 10
    x.reshape(2, 3, 1)[1, 2] += 7
    return x


def _permutations(lib):
    x = lib.arange(24.0).reshape(2, 3, 4)
    x.permute(2, 0, 1)[3].mul_(-1)
    x.transpose(0, 2)[0].add_(100)
    x.movedim(0, 2)[1, 1].fill_(0)
    x[0].t().mul_(2)
    x[1].T[0].add_(1000)
    x.mT[0, 1].sub_(0.5)
    return x


def _np_permutations():
    x = np.arange(24.0, dtype=np.float32).reshape(2, 3, 4)
    x.transpose(2, 0, 1)[3] *= -1
    x.swapaxes(0, 2)[0] += 100
    np.moveaxis(x, 0, 2)[1, 1] = 0
    x[0].T[...] *= 2
    x[1].T[0] += 1000
    x.swapaxes(-2, -1)[0, 1] -= 0.5
    return x


def _pieces(lib):
    x = lib.zeros(2, 6)
    x.narrow(1, 1, 2).add_(1)
    x.select(0, 1).add_(10)
    a, b, c = x.chunk(3, dim=1)
    c.add_(3)
    p, q = x.split([2, 4], dim=1)
    q[:, 0].add_(30)
    for i, col in enumerate(x.unbind(1)):
        col.add_(i)
    return x


def _np_pieces():
    x = np.zeros((2, 6), np.float32)
    x[:, 1:3] += 1
    x[1] += 10
    a, b, c = np.split(x, 3, axis=1)
    c += 3
    p, q = np.split(x, [2], axis=1)
    q[:, 0] += 30
    for i in range(6):
        x[:, i] += i
    return x


def _diagonals(lib):
    x = lib.zeros(3, 4)
    x.diagonal().add_(1)
    x.diagonal(1).fill_(5)
    x.t().diagonal(-2)[0].add_(7)
    return x


def _np_diagonals():
    x = np.zeros((3, 4), np.float32)
    i = np.arange(3)
    x[i, i] += 1
    x[i, i + 1] = 5
    x[0, 2] += 7  # x.T's diagonal -2 starts at x.T[2, 0] = x[0, 2]
    return x


def _view_of_a_view(lib):
    x = lib.zeros(3, 2)
    v = x.view(2, 3)
    v[0].add_(1)  # writes into v, and through v into x
    return lib.stack([x.flatten(), v.flatten()])


def _np_view_of_a_view():
    x = np.zeros((3, 2), np.float32)
    v = x.reshape(2, 3)
    v[0] += 1
    return np.stack([x.reshape(-1), v.reshape(-1)])


def _chain_of_temporaries(lib):
    y = lib.zeros(6)
    z = y[1:]
    for _ in range(3):
        z = z[1:]  # each intermediate is gone by the write
    z.add_(1)
    return y


def _np_chain_of_temporaries():
    y = np.zeros(6, np.float32)
    y[4:] += 1
    return y


def _advanced_index_copies(lib):
    x = lib.zeros(3)
    x[[0, 1]].add_(1)  # advanced indexing copies, in PyTorch too
    x[lib.tensor([True, False, True])].fill_(3)
    return x


def _np_advanced_index_copies():
    return np.zeros(3, np.float32)


CASES = {
    "chained_setitem": (_chained_setitem, _np_chained_setitem),
    "chained_iadd": (_chained_iadd, _np_chained_iadd),
    "stale_row_is_refreshed": (_stale_row_is_refreshed, _np_stale_row_is_refreshed),
    "reshapes": (_reshapes, _np_reshapes),
    "permutations": (_permutations, _np_permutations),
    "pieces": (_pieces, _np_pieces),
    "diagonals": (_diagonals, _np_diagonals),
    "view_of_a_view": (_view_of_a_view, _np_view_of_a_view),
    "chain_of_temporaries": (_chain_of_temporaries, _np_chain_of_temporaries),
    "advanced_index_copies": (_advanced_index_copies, _np_advanced_index_copies),
}


@pytest.mark.parametrize("case", list(CASES))
def test_values_match_numpy_views(case):
    fn, np_fn = CASES[case]
    np.testing.assert_array_equal(fn(tracegrad).numpy(), np_fn())


@pytest.mark.parametrize("case", list(CASES))
def test_values_match_pytorch(case):
    torch = pytest.importorskip("torch")
    fn, _ = CASES[case]
    np.testing.assert_array_equal(fn(tracegrad).numpy(), fn(torch).numpy())


def _graph(lib, a):
    w = lib.tensor(a, requires_grad=True)
    y = w * 2
    y.t()[3].add_(y[2].t()[3])  # y[:, 3] += y[2, 3]
    y[1].mul_(3)
    y[0][1:3].exp_()
    y.sum().backward()
    return w.grad


def test_gradients_flow_through_the_write():
    a = np.random.default_rng(0).uniform(-1, 1, (3, 4))
    # y = 2w; y[:, 3] += 2 w[2, 3]; y[1] *= 3; y[0, 1:3] = exp(y[0, 1:3]). d sum(y) / dw: 2, except
    # row 1 (6), w[0, 1:3] (2 exp(2w)) and w[2, 3] (2 + 3 * 2 from rows 0 and 1, 2 * 2 from row 2).
    want = np.full((3, 4), 2.0)
    want[1] = 6.0
    want[0, 1:3] = 2 * np.exp(2 * a[0, 1:3])
    want[2, 3] = 12.0
    np.testing.assert_allclose(_graph(tracegrad, a).numpy(), want, rtol=1e-12)


def test_gradients_match_pytorch():
    torch = pytest.importorskip("torch")
    a = np.random.default_rng(1).uniform(-1, 1, (3, 4))
    np.testing.assert_allclose(_graph(tracegrad, a).numpy(), _graph(torch, a).numpy(), rtol=1e-12)


def test_view_of_a_leaf_that_requires_grad_refuses_in_place():
    w = tracegrad.zeros(3, requires_grad=True)
    for view in (w[0], w.view(3), w.unsqueeze(0)[0]):
        with pytest.raises(RuntimeError, match="a view of a leaf Variable that requires grad"):
            view.add_(1)
    assert w.tolist() == [0.0, 0.0, 0.0]
    with tracegrad.no_grad():
        w[0].add_(1)  # allowed without grad mode, as in PyTorch
        w.view(3)[2].fill_(2)
    assert w.tolist() == [1.0, 0.0, 2.0]


def test_in_place_reshape_of_a_view_then_a_write_raises():
    # PyTorch keeps writing through a view reshaped in place (x becomes [[1, 1, 1], [0, 0, 0]]);
    # tracegrad cannot, so it refuses rather than leave x unchanged.
    x = tracegrad.zeros(2, 3)
    row = x[0]
    row.unsqueeze_(0)
    assert row.shape == (1, 3)
    with pytest.raises(NotImplementedError, match="in-place shape change"):
        row.add_(1)
    assert x.sum().item() == 0.0


def test_a_view_keeps_nothing_alive():
    x = tracegrad.zeros(1000)
    ref = weakref.ref(x)
    v = x.view(10, 100)[3]
    del x
    gc.collect()
    assert ref() is None
    v.add_(1)  # nobody can see the base any more: the write goes nowhere, and nothing fails
    assert v.sum().item() == 100.0


def test_writing_into_an_expanded_view_raises_as_in_pytorch():
    x = tracegrad.zeros(1, 3)
    with pytest.raises(RuntimeError, match="more than one element of the written-to tensor"):
        x.expand(2, 3).add_(1)
    assert x.sum().item() == 0.0
    y = x.expand(2, 3).clone()
    y.add_(1)  # a clone is a tensor of its own
    assert x.sum().item() == 0.0 and y.sum().item() == 6.0
