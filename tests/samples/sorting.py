"""Samples for sorting and selection (sort, argsort, topk, kthvalue)."""

from __future__ import annotations

import numpy as np

from . import Family, Sample

_draw = Family(__name__)
arr, distinct, ints = _draw.arr, _draw.distinct, _draw.ints

S = Sample


def _with_specials(n: int) -> np.ndarray:
    """Values with NaN, +-inf, ties and both zeros (their order is PyTorch's)."""
    x = arr(n)
    x[:6] = [np.nan, np.inf, -np.inf, 0.0, -0.0, x[6]]
    return _draw.rng.permutation(x)


def _take(x, dim, name, k=None, descending=False):
    idx = np.argsort(-x if descending else x, axis=dim, kind="stable")
    if k is not None:
        idx = np.take(idx, np.arange(k), axis=dim)
    return S((x, idx.astype(np.int64)), {"dim": dim, "name": name}, name=f"{name}-{x.shape}-{dim}")


SAMPLES = {
    "argsort": [
        S((distinct(3, 4),), {"dim": 1, "descending": False}),
        S((distinct(3, 4),), {"dim": 0, "descending": True}),
        S((_with_specials(10),), {"dim": 0, "descending": False}, name="specials"),
        S((_with_specials(10),), {"dim": 0, "descending": True}, name="specials_desc"),
        S((ints(2, 6, high=3),), {"dim": 1, "descending": True}, name="int_ties"),
        S((arr(0, 3),), {"dim": 1, "descending": False}, name="0x3"),
    ],
    "topk_indices": [
        S((distinct(3, 5),), {"dim": 1, "k": 2, "largest": True}),
        S((distinct(4, 3),), {"dim": 0, "k": 3, "largest": False}),
        S((_with_specials(10),), {"dim": 0, "k": 4, "largest": True}, name="specials"),
        S((arr(2, 3),), {"dim": 1, "k": 0, "largest": True}, name="k0"),
    ],
    "kth_index": [
        S((distinct(3, 5),), {"dim": 1, "k": 2, "keepdim": False}),
        S((distinct(4, 3),), {"dim": 0, "k": 4, "keepdim": True}),
        S((_with_specials(10),), {"dim": 0, "k": 9, "keepdim": False}, name="specials"),
    ],
    "take_along": [
        _take(distinct(3, 4), 1, "SortBackward0"),
        _take(distinct(3, 4), 0, "SortBackward0", descending=True),
        _take(distinct(2, 3, 4), 2, "TopkBackward0", k=2, descending=True),
        _take(distinct(5, 2), 0, "TopkBackward0", k=3),
        _take(distinct(4), 0, "SortBackward0"),
        _take(arr(0, 3), 1, "SortBackward0"),
    ],
}
