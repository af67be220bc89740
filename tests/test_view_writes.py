"""In-place ops on the result of basic indexing write through to the indexed tensor, as on
PyTorch's views (docs/semantics.md, "Views are copies, except through indexing").

Each case is a small program run on ``tracegrad`` and compared with the values the math gives
(written out), and with PyTorch when it is installed."""

from __future__ import annotations

import numpy as np
import pytest

import tracegrad


def _chained_setitem(lib):
    t = lib.zeros(2, 1, 3)
    t[1][0][2] = 1  # the char-RNN tutorial's one-hot encoding
    return t


def _chained_iadd(lib):
    c = lib.zeros(2, 2)
    c[1][0] += 1  # the tutorials' confusion matrix
    c[1][0] += 1
    return c


def _method_on_row(lib):
    x = lib.zeros(2, 3)
    x[0].add_(1)
    x[:, 2].fill_(7)
    x[1, 0:2].mul_(3)  # zeros stay zeros
    return x


def _stale_row_is_refreshed(lib):
    x = lib.zeros(2, 3)
    row = x[1]
    x[1, 1] = 5  # the base changes after the indexing; the view must see it
    row.add_(1)
    return x


def _iteration(lib):
    x = lib.ones(3, 2)
    for r in x:
        r.mul_(2)
    return x


def _advanced_index_copies(lib):
    x = lib.zeros(3)
    x[[0, 1]].add_(1)  # advanced indexing copies, in PyTorch too
    x[lib.tensor([True, False, True])].fill_(3)
    return x


CASES = {
    "chained_setitem": (_chained_setitem, [[[0, 0, 0]], [[0, 0, 1]]]),
    "chained_iadd": (_chained_iadd, [[0, 0], [2, 0]]),
    "method_on_row": (_method_on_row, [[1, 1, 7], [0, 0, 7]]),
    "stale_row_is_refreshed": (_stale_row_is_refreshed, [[0, 0, 0], [1, 6, 1]]),
    "iteration": (_iteration, [[2, 2], [2, 2], [2, 2]]),
    "advanced_index_copies": (_advanced_index_copies, [0, 0, 0]),
}


@pytest.mark.parametrize("case", list(CASES))
def test_values(case):
    fn, want = CASES[case]
    np.testing.assert_array_equal(fn(tracegrad).numpy(), np.asarray(want, np.float32))


@pytest.mark.parametrize("case", list(CASES))
def test_values_match_pytorch(case):
    torch = pytest.importorskip("torch")
    fn, _ = CASES[case]
    np.testing.assert_array_equal(fn(tracegrad).numpy(), fn(torch).numpy())


def _graph(lib, a):
    w = lib.tensor(a, requires_grad=True)
    y = w * 2
    y[1].mul_(3)
    y[0][1:3].exp_()
    y.sum().backward()
    return w.grad


def test_gradients_flow_through_the_write():
    a = np.random.default_rng(0).uniform(-1, 1, (3, 4))
    # d/dw of sum(y): row 1 is 6w, row 0 columns 1..2 are exp(2w) (derivative 2 exp(2w)), the
    # rest 2w.
    want = np.full((3, 4), 2.0)
    want[1] = 6.0
    want[0, 1:3] = 2 * np.exp(2 * a[0, 1:3])
    np.testing.assert_allclose(_graph(tracegrad, a).numpy(), want, rtol=1e-12)


def test_gradients_match_pytorch():
    torch = pytest.importorskip("torch")
    a = np.random.default_rng(1).uniform(-1, 1, (3, 4))
    np.testing.assert_allclose(_graph(tracegrad, a).numpy(), _graph(torch, a).numpy(), rtol=1e-12)


def test_view_of_a_leaf_that_requires_grad_refuses_in_place():
    w = tracegrad.zeros(3, requires_grad=True)
    with pytest.raises(RuntimeError, match="a view of a leaf Variable that requires grad"):
        w[0].add_(1)
    assert w.tolist() == [0.0, 0.0, 0.0]
    with tracegrad.no_grad():
        w[0].add_(1)  # allowed without grad mode, as in PyTorch
    assert w.tolist() == [1.0, 0.0, 0.0]


def test_in_place_reshape_of_a_row_then_a_write_raises():
    # PyTorch keeps writing through a view reshaped in place (x becomes [[1, 1, 1], [0, 0, 0]]);
    # tracegrad cannot, so it refuses rather than leave x unchanged.
    x = tracegrad.zeros(2, 3)
    row = x[0]
    row.unsqueeze_(0)
    assert row.shape == (1, 3)
    with pytest.raises(NotImplementedError, match="in-place shape change"):
        row.add_(1)
    assert x.sum().item() == 0.0
