"""Semantic fixes where tracegrad gave a different answer from PyTorch (or a wrong one silently).

Each test compares with PyTorch when it is installed, and pins exact values otherwise."""

from __future__ import annotations

import numpy as np
import pytest

import tracegrad as tg
import tracegrad.nn.functional as F

try:
    import torch
except ImportError:  # PyTorch is an optional second oracle
    torch = None

needs_torch = pytest.mark.skipif(torch is None, reason="PyTorch not installed")


def _both(fn):
    """``fn(lib)`` for tracegrad, and for PyTorch when installed: (tracegrad's, torch's or None)."""
    return fn(tg), (fn(torch) if torch is not None else None)


def _error(fn, lib):
    with pytest.raises(Exception) as info:
        fn(lib)
    return type(info.value), str(info.value)


# ------------------------------------------------------------------------------ range as an index
_ROWS = [[0.0, 1.0, 2.0], [3.0, 4.0, 5.0], [6.0, 7.0, 8.0], [9.0, 10.0, 11.0]]


@pytest.mark.parametrize(
    "index, expected",
    [
        (lambda lib: range(3), _ROWS[:3]),
        (lambda lib: range(1, 4), _ROWS[1:]),
        (lambda lib: range(0, 4, 2), [_ROWS[0], _ROWS[2]]),
        (lambda lib: range(0), []),
        (lambda lib: (range(3), lib.tensor([0, 2, 1])), [0.0, 5.0, 7.0]),
        (lambda lib: (range(3), [0, 2, 1]), [0.0, 5.0, 7.0]),
        (lambda lib: (slice(None), range(1, 3)), [r[1:] for r in _ROWS]),
    ],
)
def test_range_indexes_like_a_list(index, expected):
    ours, theirs = _both(lambda lib: lib.arange(12.0).reshape(4, 3)[index(lib)].tolist())
    assert ours == expected
    if theirs is not None:
        assert ours == theirs


def test_range_in_setitem():
    def run(lib):
        y = lib.zeros(4, 3)
        y[range(1, 3)] = 1.0
        y[range(2), 0] = 5.0
        return y.tolist()

    ours, theirs = _both(run)
    assert ours == [[5, 0, 0], [5, 1, 1], [1, 1, 1], [0, 0, 0]]
    if theirs is not None:
        assert ours == theirs


def test_range_index_gradient():
    x = tg.arange(12.0).reshape(4, 3).requires_grad_()
    x[range(3), tg.tensor([0, 2, 1])].sum().backward()
    expected = np.zeros((4, 3))
    expected[[0, 1, 2], [0, 2, 1]] = 1
    np.testing.assert_array_equal(x.grad.numpy(), expected)


# ---------------------------------------------------------------------- integer dtypes of indices
@pytest.mark.parametrize(
    "op",
    [
        lambda lib, i: lib.gather(lib.arange(6.0).reshape(2, 3), 1, i([[2, 0], [1, 1]])),
        lambda lib, i: lib.zeros(2, 3).scatter(1, i([[2, 0], [1, 1]]), lib.ones(2, 2)),
        lambda lib, i: lib.zeros(2, 3).scatter(1, i([[2, 0], [1, 1]]), 5.0),
        lambda lib, i: lib.zeros(2, 3).scatter_add(1, i([[2, 0], [1, 1]]), lib.ones(2, 2)),
        lambda lib, i: lib.index_select(lib.arange(6.0).reshape(2, 3), 1, i([2, 0])),
        lambda lib, i: lib.zeros(3).index_add(0, i([2, 0]), lib.ones(2)),
        lambda lib, i: lib.arange(6.0)[i([2, 0])],
    ],
)
def test_int32_indices_are_accepted(op):
    ours, theirs = _both(lambda lib: op(lib, lambda v: lib.tensor(v, dtype=lib.int32)).tolist())
    int64 = op(tg, lambda v: tg.tensor(v)).tolist()
    assert ours == int64
    if theirs is not None:
        assert ours == theirs


def test_gather_int32_index_gradient():
    x = tg.arange(6.0).reshape(2, 3).requires_grad_()
    x.gather(1, tg.tensor([[2, 2], [0, 1]], dtype=tg.int32)).sum().backward()
    assert x.grad.tolist() == [[0, 0, 2], [1, 1, 0]]


@pytest.mark.parametrize(
    "op, error, message",
    [
        (
            lambda lib, i: lib.take(lib.arange(6.0), i([2, 0])),
            RuntimeError,
            "take(): Expected a long tensor for index, but got Int",
        ),
        (
            lambda lib, i: lib.take_along_dim(lib.arange(6.0).reshape(2, 3), i([[2], [1]]), 1),
            RuntimeError,
            "torch.take_along_dim(): dtype of indices should be Long but got Int",
        ),
    ],
)
def test_int32_indices_refused_where_pytorch_refuses_them(op, error, message):
    with pytest.raises(error) as info:
        op(tg, lambda v: tg.tensor(v, dtype=tg.int32))
    assert str(info.value) == message
    if torch is not None:
        with pytest.raises(error) as info:
            op(torch, lambda v: torch.tensor(v, dtype=torch.int32))
        assert str(info.value) == message


@pytest.mark.parametrize("dtype", ["int8", "int16"])
def test_narrow_integer_tensors_are_not_indices(dtype):
    for lib in (tg, torch) if torch is not None else (tg,):
        i = lib.tensor([2, 0], dtype=getattr(lib, dtype))
        with pytest.raises(IndexError, match="tensors used as indices must be long, int, byte"):
            lib.arange(6.0)[i]


@pytest.mark.parametrize("dtype, name", [("int16", "Short"), ("int8", "Char"), ("int32", "Int")])
def test_nll_loss_target_dtype_message_names_pytorch_type(dtype, name):
    target = tg.tensor([0, 1], dtype=getattr(tg, dtype))
    with pytest.raises(RuntimeError) as info:
        F.nll_loss(tg.zeros(2, 3), target)
    assert str(info.value) == f"expected target dtype to be Long or Byte, but got {name}"
