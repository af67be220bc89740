"""Samples for ``scatter_reduce`` (the one op of ops/scatter.py; the rest are indexing ops)."""

from __future__ import annotations

import numpy as np

from . import Family, Sample

_draw = Family(__name__)
arr, distinct = _draw.arr, _draw.distinct

S = Sample

# Repeated positions along dim 1 (row 0 writes position 0 twice), and positions left alone.
_rep = np.array([[0, 0, 2], [3, 1, 1], [2, 2, 2]])
# Each position at most once: JAX's oracle differentiates a product scatter only then.
_uniq = np.array([[0, 2, 3], [3, 1, 0], [1, 2, 0]])


def _p(reduce, include_self=True, unique=False, dim=1):
    return {
        "dim": dim,
        "reduce": reduce,
        "include_self": include_self,
        "unique": unique,
        "name": "ScatterReduceBackward0",
    }


_with_zeros = arr(3, 4)
_with_zeros[0, 2] = 0.0
_src_zeros = arr(3, 3)
_src_zeros[1, 0] = 0.0

SAMPLES = {
    "scatter_reduce": [
        S((arr(3, 4), _rep, arr(3, 3)), _p("sum"), name="sum"),
        S((arr(3, 4), _rep, arr(3, 3)), _p("sum", False), name="sum_exclude"),
        S((arr(3, 4), _rep, arr(3, 3)), _p("mean"), name="mean"),
        S((arr(3, 4), _rep, arr(3, 3)), _p("mean", False), name="mean_exclude"),
        S((distinct(3, 4), _rep, distinct(3, 3)), _p("amax"), name="amax"),
        S((distinct(3, 4), _rep, distinct(3, 3)), _p("amin", False), name="amin_exclude"),
        S((distinct(4, 3), _rep.T.copy(), distinct(3, 3)), _p("amax", dim=0), name="amax_dim0"),
        S((arr(3, 4), _uniq, arr(3, 3)), _p("prod", unique=True), name="prod"),
        S((_with_zeros, _uniq, _src_zeros), _p("prod", unique=True), name="prod_zeros"),
        S((arr(3, 4), _uniq, arr(3, 3)), _p("prod", False, True), name="prod_exclude"),
    ],
}
