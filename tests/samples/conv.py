"""Samples for the ``convolution`` op (one ``lax.conv_general_dilated`` call plus the bias add).

A handful of representative calls: each runs four ways (f32, f64, finite differences, second
order), and every convolution compiles on first use, so the full option grid (1d/2d/3d, and the
public functions) lives in ``tests/test_conv.py`` instead. These cover the op's own parameters, including the ones only the
VJP rule itself produces: input dilation with negative padding (a transposed convolution with a
crop), batch groups (the weight gradient of a grouped convolution) and non-NCHW dimension numbers.
"""

from __future__ import annotations

from . import Family, Sample

_draw = Family(__name__)
arr = _draw.arr

S = Sample


def _params(nd, strides=None, padding=None, lhs=None, rhs=None, dims=None, fgc=1, bgc=1):
    spec = tuple(range(nd + 2))
    return {
        "window_strides": strides or (1,) * nd,
        "padding": padding or ((0, 0),) * nd,
        "lhs_dilation": lhs or (1,) * nd,
        "rhs_dilation": rhs or (1,) * nd,
        "dimension_numbers": dims or (spec, spec, spec),
        "feature_group_count": fgc,
        "batch_group_count": bgc,
    }


SAMPLES = {
    "convolution": [
        S(
            (arr(2, 3, 6, 5), arr(4, 3, 3, 2), arr(4)),
            _params(2, strides=(2, 1), padding=((1, 1), (0, 1)), rhs=(1, 2)),
            name="2d_bias_stride_dilation",
        ),
        S(
            (arr(2, 4, 9), arr(6, 2, 3), None),
            _params(1, strides=(3,), padding=((2, 0),), rhs=(2,), fgc=2),
            name="1d_groups_asymmetric_pad",
        ),
        S(
            (arr(2, 3, 5), arr(3, 4, 2), arr(4)),
            _params(1, padding=((-1, 1),), lhs=(2,), dims=((0, 1, 2), (1, 0, 2), (0, 1, 2))),
            name="1d_lhs_dilated_crop",
        ),
        S(
            (arr(4, 3, 7), arr(6, 3, 3), None),
            _params(1, strides=(2,), padding=((1, 1),), bgc=2),
            name="1d_batch_groups",
        ),
        S(
            (arr(2, 5, 5, 3), arr(2, 2, 3, 4), None),
            _params(2, strides=(1, 2), dims=((0, 3, 1, 2), (3, 2, 0, 1), (0, 3, 1, 2))),
            name="2d_nhwc_hwio",
        ),
        S((arr(0, 2, 5), arr(3, 2, 2), arr(3)), _params(1), name="1d_empty_batch"),
    ],
}
