"""Samples for the pooling ops (``tracegrad/ops/pooling.py``): a few representative calls each,
with the ops' own static params (the public functions' option grids are in
``tests/test_pooling.py``). Max-type samples use distinct values (no ties, no kinks); the
``resample`` maps are built with the module's own table helpers (reflect/circular padding,
linear interpolation, uneven adaptive windows), including a transposed one.
"""

from __future__ import annotations

import numpy as np

from tracegrad.ops import pooling as P
from tracegrad.ops import resample as R
from tracegrad.ops import resize

from . import Family, Sample

_draw = Family(__name__)
arr, distinct, ints = _draw.arr, _draw.distinct, _draw.ints

S = Sample


def _unique_indices(lead, out, plane):
    """int64 indices (*lead, *out), distinct within each plane of size ``plane``."""
    rows = int(np.prod(lead))
    n = int(np.prod(out))
    picks = [_draw.rng.permutation(plane)[:n] for _ in range(rows)]
    return np.stack(picks).reshape(*lead, *out).astype(np.int64)


def _window(kernel, stride, padding, dilation):
    return {"kernel": kernel, "stride": stride, "padding": padding, "dilation": dilation}


_MAX = [
    ((2, 3, 6, 5), _window((3, 3), (2, 2), ((1, 2), (1, 1)), (1, 1)), "2d_ceil_overhang"),
    ((3, 1, 7), _window((1, 2), (1, 2), ((0, 0), (0, 1)), (1, 2)), "1d_as_2d_dilated"),
    ((1, 4, 4, 3), _window((2, 2, 2), (1, 2, 1), ((1, 1), (0, 0), (0, 1)), (1, 1, 1)), "3d"),
    ((0, 2, 4, 4), _window((2, 2), (2, 2), ((0, 0), (0, 0)), (1, 1)), "empty_batch"),
]


def _avg(kernel, stride, padding, cip, div, name="AvgPool2DBackward0"):
    return {
        "kernel": kernel,
        "stride": stride,
        "padding": padding,
        "count_include_pad": cip,
        "divisor_override": div,
        "name": name,
    }


_AVG = [
    ((2, 3, 6, 5), _avg((3, 2), (2, 1), ((1, 2), (0, 0)), False, None), (4, 4)),
    ((2, 6, 5), _avg((2, 2), (2, 2), ((1, 1), (1, 1)), True, None), (4, 3)),
    ((1, 2, 4, 3, 5), _avg((2, 2, 3), (2, 1, 2), ((1, 1), (0, 0), (1, 2)), True, 5, "AvgPool3DBackward0"), (3, 2, 3)),
]  # fmt: skip

_ROWS = {
    "bilinear": ((-1, resize._linear_rows(5, 8, False, None, True)), (-2, resize._linear_rows(4, 3, True, None, True))),
    "reflect": ((-1, R._pad_rows(5, 2, 3, "reflect")),),
    "circular_crop": ((-2, R._pad_rows(4, -1, 3, "circular")), (-1, R._pad_rows(5, 2, 0, "replicate"))),
    "adaptive": ((-1, P._adaptive_rows(5, 3)), (-3, P._adaptive_rows(4, 3))),
}  # fmt: skip

SAMPLES = {
    "max_pool": [S((distinct(*shape),), params, name=n) for shape, params, n in _MAX],
    "max_pool_indices": [S((distinct(*shape),), params, name=n) for shape, params, n in _MAX[:2]],
    "max_pool_backward": [
        S(
            (arr(2, 3, 3, 3), ints(2, 3, 3, 3, high=30)),
            {"size": (6, 5), "name": "MaxPool2DWithIndicesBackward0"},
        ),
        S(
            (arr(4, 1, 2), ints(4, 1, 2, high=3)),
            {"size": (1, 3), "name": "AdaptiveMaxPool2DBackward0"},
        ),
    ],  # fmt: skip
    "max_unpool": [
        S((arr(2, 3, 2, 3), _unique_indices((2, 3), (2, 3), 20)), {"size": (4, 5)}),
        S((arr(3, 4, 1), _unique_indices((3,), (4, 1), 9)), {"size": (9, 1)}),
        S((arr(1, 2, 2, 1, 2), _unique_indices((1, 2), (2, 1, 2), 24)), {"size": (2, 3, 4)}),
    ],
    "avg_pool": [S((arr(*shape),), params) for shape, params, _ in _AVG],
    "avg_pool_backward": [
        S((arr(*shape[: -len(out)], *out),), {"size": shape[-len(out) :], **params})
        for shape, params, out in _AVG
    ],  # fmt: skip
    "adaptive_max_pool": [
        S((distinct(2, 3, 7, 5),), {"output_size": (3, 2)}),
        S((distinct(2, 1, 5),), {"output_size": (1, 3)}),
        S((distinct(2, 3, 4, 2),), {"output_size": (2, 5, 3)}),
    ],
    "adaptive_max_pool_indices": [S((distinct(2, 3, 7, 5),), {"output_size": (3, 2)})],
    "resample": [
        S(
            (arr(2, 4, 5),),
            {"axes": _ROWS["bilinear"], "name": "UpsampleBilinear2DBackward0", "transposed": False},
        ),
        S(
            (arr(3, 5),),
            {"axes": _ROWS["reflect"], "name": "ReflectionPad1DBackward0", "transposed": False},
        ),
        S(
            (arr(2, 4, 5),),
            {"axes": _ROWS["circular_crop"], "name": "CopySlices", "transposed": False},
        ),
        S(
            (arr(4, 2, 5),),
            {"axes": _ROWS["adaptive"], "name": "AdaptiveAvgPool3DBackward0", "transposed": False},
        ),
        S(
            (arr(2, 3, 8),),
            {
                "axes": ((-1, R._transpose_rows(_ROWS["bilinear"][0][1], 5)),),
                "name": "UpsampleLinear1DBackward0",
                "transposed": True,
            },
        ),
    ],  # fmt: skip
    "constant_pad": [
        S((arr(2, 3, 4),), {"pad": ((0, 0), (1, -1), (2, 0)), "value": 1.5}),
        S((arr(3),), {"pad": ((2, 1),), "value": 0}),
        S((arr(),), {"pad": (), "value": 0}),
    ],
    "im2col": [
        S(
            (arr(2, 3, 5, 6),),
            {"kernel": (2, 3), "dilation": (1, 1), "padding": (0, 1), "stride": (1, 2)},
        ),
        S(
            (arr(3, 5, 5),),
            {"kernel": (2, 2), "dilation": (2, 1), "padding": (1, 0), "stride": (1, 1)},
        ),
    ],  # fmt: skip
    "col2im": [
        S(
            (arr(2, 18, 12),),
            {
                "output_size": (5, 6),
                "kernel": (2, 3),
                "dilation": (1, 1),
                "padding": (0, 1),
                "stride": (1, 2),
            },
        ),
        S(
            (arr(12, 20),),
            {
                "output_size": (5, 5),
                "kernel": (2, 2),
                "dilation": (2, 1),
                "padding": (1, 0),
                "stride": (1, 1),
            },
        ),
    ],  # fmt: skip
}
