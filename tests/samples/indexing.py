"""Samples for the indexing ops. Index keys are built by tracegrad's own parser from Python index
expressions (the public tests check that parser against numpy)."""

from __future__ import annotations

import numpy as np

from tracegrad import tensor
from tracegrad.ops.indexing import _parse

from . import Family, Sample

_draw = Family(__name__)
arr, ints = _draw.arr, _draw.ints

S = Sample


def _key(shape, index):
    k = _parse(shape, index)
    idx = None if k.idx is None else np.asarray(k.idx._storage.array)
    return k, idx


def _get(shape, index, label):
    k, idx = _key(shape, index)
    return S((arr(*shape), idx), {"basic": k.basic, "adv": k.adv, "name": k.name}, name=label)


def _back(shape, index, label):
    k, idx = _key(shape, index)
    p = {"shape": shape, "basic": k.basic, "adv": k.adv, "name": "B"}
    return S((arr(*k.shape), idx), p, name=label)


def _put(shape, index, vshape, label, accumulate=False, value=None):
    k, idx = _key(shape, index)
    v = arr(*vshape) if value is None else value
    p = {"basic": k.basic, "adv": k.adv, "accumulate": accumulate, "name": "CopySlices"}
    return S((arr(*shape), v, idx), p, name=label)


def _loser(shape, index, label):
    k, idx = _key(shape, index)
    return S((idx,), {"shape": shape, "basic": k.basic, "adv": k.adv}, name=label)


_mask = np.array([[True, False, True, False], [False, False, True, True], [True] * 4])
_rep = [0, 2, 0, -1]  # repeats and a negative index
_cases = [
    ((3, 4), 1, "int"),
    ((3, 4), (slice(None), -1), "int_last"),
    ((5, 4), slice(1, None, 2), "slice_step"),
    ((5, 4), (slice(-3, None), slice(None, 2)), "slices"),
    ((3, 4), (None, Ellipsis, None), "newaxes"),
    ((2, 3, 4), (Ellipsis, 1), "ellipsis"),
    ((3, 4), (slice(None), _rep), "repeated"),
    ((3, 4), tensor([[0, 1], [2, 2]]), "2d_index"),
    ((3, 4, 5), ([[0], [2]], slice(None), [1, 3, 3]), "separated"),
    ((3, 4, 5), (slice(1, 3), [[0], [2]], [1, 3, 4]), "adjacent"),
    ((3, 4, 5), (1, slice(None), [0, 2]), "int_then_tensor"),
    ((3, 4), _mask, "mask"),
    ((3, 4), (_mask[:, 0], slice(1, 3)), "row_mask"),
    ((3, 4), True, "true"),
    ((), None, "scalar_newaxis"),
    ((0, 3), (slice(None), [2, 0]), "empty"),
    ((3, 4), [], "empty_index"),
]

SAMPLES = {
    "embedding": [
        S((arr(5, 3), np.array([[1, 2], [0, 4], [2, 2]])), name="repeats"),
        S((arr(4, 2, 3), np.array(3)), name="0d_index_2d_rows"),
        S((arr(4, 3), np.zeros((0,), np.int64)), name="empty"),
    ],
    "embedding_backward": [
        S((arr(3, 2, 3), np.array([[1, 4], [0, 1], [4, 4]])), {"num_weights": 5}, name="repeats"),
    ],
    "index": [_get(shape, index, label) for shape, index, label in _cases],
    "index_backward": [_back(shape, index, label) for shape, index, label in _cases],
    "index_put": [
        _put((3, 4), 1, (4,), "row"),
        _put((3, 4), (slice(None), slice(1, None, 2)), (3, 1), "strided_broadcast"),
        _put((3, 4), (None, 1), (1, 4), "newaxis"),
        _put((3, 4), ([0, 2], slice(None)), (), "scalar_value"),
        _put((3, 4), _mask, (8,), "mask"),
        _put((3, 4, 5), ([[0], [2]], slice(None), [1, 3, 4]), (2, 3, 4), "separated"),
        _put((3, 4), (slice(None), [1, 2, 1]), (3, 3), "duplicates"),
        _put((3, 4), (slice(None), [1, 2, 1]), (3, 1), "duplicates_broadcast"),
        _put((3, 4), (slice(None), [1, 2, 1]), (3, 3), "accumulate", accumulate=True),
        _put((3, 4), Ellipsis, (4,), "all"),
        _put((3, 4), [0, 2], (2, 4), "python_scalar", value=1.5),
    ],
    "index_put_loser": [
        _loser((3, 4), (slice(None), [1, 2, 1]), "duplicates"),
        _loser((3, 4), ([0, 0], [1, 1]), "same_element"),
        _loser((3, 4), _mask, "mask"),
    ],
    "gather": [
        S((arr(3, 4), ints(3, 2, high=4)), {"dim": 1}),
        S((arr(3, 4), ints(5, 3, high=3)), {"dim": 0}),
        S((arr(2, 3, 4), ints(2, 2, 4, high=3)), {"dim": 1}),
        S((arr(3), np.zeros(0, np.int64)), {"dim": 0}),
    ],
    "scatter_add": [
        S((arr(3, 4), ints(5, 4, high=3), arr(5, 4)), {"dim": 0}),
        S((arr(3, 4), ints(2, 3, high=4), arr(2, 3)), {"dim": 1}),
    ],
    "scatter": [
        S((arr(3, 4), np.array([[0, 1, 2, 0], [2, 0, 1, 1]]), arr(2, 4)), {"dim": 0}),
        S((arr(3, 4), np.array([[3, 0], [1, 1], [2, 0]]), arr(3, 2)), {"dim": 1}),
        S((arr(3, 4), np.array([[0, 0], [1, 1]]), 2.5), {"dim": 1}),
    ],
    "scatter_loser": [
        S((np.array([[3, 0], [1, 1], [2, 0]]),), {"dim": 1, "shape": (3, 4)}),
        S((np.array([[0, 1, 0]]),), {"dim": 0, "shape": (2, 3)}),
    ],
    "masked_fill": [
        S((arr(3, 4), _mask, 1.5), {"name": "MaskedFillBackward0"}),
        S((arr(3, 4), _mask[0], arr()), {"name": "MaskedFillBackward0"}),
        S((arr(4), _mask[:, :1], -0.5), {"name": "MaskedFillBackward0"}),
    ],
}
