"""Samples for the loss ops of ``ops/nn.py``: ``nll_loss`` (with and without class weights,
ignored targets, spatial inputs), ``mse_loss`` (broadcasting, 0-d, empty) and
``binary_cross_entropy`` (probabilities kept away from 0 and 1, where the log is clamped)."""

from __future__ import annotations

import numpy as np

from . import Family, Sample

_draw = Family(__name__)
arr, ints, pos = _draw.arr, _draw.ints, _draw.pos

S = Sample
R = ("mean", "sum", "none")


def _targets(*shape, high, ignore=()):
    t = ints(*shape, high=high)
    for i in ignore:
        t.reshape(-1)[i] = -100
    return t


def _nll(reduction):
    return {"ignore_index": -100, "reduction": reduction}


SAMPLES = {
    "nll_loss": [
        *[
            S((arr(5, 4), _targets(5, high=4, ignore=(1,)), None), _nll(r), name=f"2d_{r}")
            for r in R
        ],  # fmt: skip
        *[
            S((arr(4, 3), _targets(4, high=3, ignore=(0,)), pos(3)), _nll(r), name=f"weight_{r}")
            for r in R
        ],  # fmt: skip
        S(
            (arr(2, 3, 2, 3), _targets(2, 2, 3, high=3, ignore=(2,)), pos(3)),
            _nll("mean"),
            name="spatial_weight_mean",
        ),  # fmt: skip
        S((arr(2, 3, 4), _targets(2, 4, high=3), None), _nll("none"), name="spatial_none"),
        S((arr(0, 3), np.zeros(0, np.int64), None), _nll("sum"), name="empty_sum"),
    ],
    "layer_norm": [
        S((arr(3, 4), arr(4), arr(4)), {"dims": (1,), "eps": 1e-5}, name="affine"),
        S((arr(2, 3, 4), arr(3, 4), None), {"dims": (1, 2), "eps": 1e-5}, name="two_dims_weight"),
        S((arr(2, 5), None, None), {"dims": (1,), "eps": 1e-3}, name="plain"),
        S((arr(5), None, arr(5)), {"dims": (0,), "eps": 1e-5}, name="all_dims_bias"),
    ],
    "mse_loss": [
        *[S((arr(3, 4), arr(3, 4)), {"reduction": r}, name=r) for r in R],
        S((arr(3, 1), arr(4)), {"reduction": "mean"}, name="broadcast_mean"),
        S((arr(), arr()), {"reduction": "none"}, name="0d"),
        S((arr(0, 2), arr(0, 2)), {"reduction": "sum"}, name="empty_sum"),
    ],
    "binary_cross_entropy": [
        *[
            S(
                (pos(3, 4, low=0.05, high=0.95), pos(3, 4, low=0.0, high=1.0), None),
                {"reduction": r},
                name=r,
            )
            for r in R
        ],  # fmt: skip
        S(
            (pos(2, 3, low=0.05, high=0.95), pos(2, 3, low=0.0, high=1.0), pos(2, 3)),
            {"reduction": "mean"},
            name="weight_mean",
        ),  # fmt: skip
        S(
            (pos(4, low=0.1, high=0.9), pos(4, low=0.0, high=1.0), pos(4)),
            {"reduction": "none"},
            name="weight_none",
        ),  # fmt: skip
        S(
            (pos(low=0.2, high=0.8), pos(low=0.0, high=1.0), None), {"reduction": "sum"}, name="0d"
        ),  # fmt: skip
    ],
    "binary_cross_entropy_with_logits": [
        *[
            S((arr(3, 4), pos(3, 4, low=0.0, high=1.0), None, None), {"reduction": r}, name=r)
            for r in R
        ],
        S(
            (arr(2, 3), pos(2, 3, low=0.0, high=1.0), pos(2, 3), pos(3)),
            {"reduction": "mean"},
            name="weights_mean",
        ),
        S(
            (arr(4), pos(4, low=0.0, high=1.0), None, pos(4)),
            {"reduction": "none"},
            name="pos_weight_none",
        ),
    ],  # fmt: skip
}
