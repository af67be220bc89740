"""Samples for the grid-sampling and pixel-rearrangement ops (``tracegrad/ops/sampling.py``):
every grid_sample mode with every padding mode (grids reaching past [-1, 1] so the padding is
exercised), both values of align_corners; affine grids in 2-D and 3-D; pixel (un)shuffle with
batch dimensions. The public functions' PyTorch parity is in ``tests/test_grad_fn_names.py``.
"""

from __future__ import annotations

from . import Family, Sample

_draw = Family(__name__)
arr = _draw.arr

S = Sample


def _gs(nd, mode, padding, align):
    spatial = (3, 4) if nd == 2 else (2, 3, 3)
    out = (2, 3) if nd == 2 else (2, 1, 2)
    x = arr(2, 2, *spatial)
    grid = arr(2, *out, nd, low=-1.4, high=1.4)
    params = {"mode": mode, "padding_mode": padding, "align_corners": align}
    return S((x, grid), params, name=f"{mode}_{padding}_{'align' if align else 'noalign'}")


_PADDINGS = ("zeros", "border", "reflection")

SAMPLES = {
    "grid_sampler_2d": [
        _gs(2, mode, padding, align)
        for mode in ("bilinear", "nearest", "bicubic")
        for padding in _PADDINGS
        for align in (False, True)
    ],
    "grid_sampler_3d": [
        _gs(3, mode, padding, align)
        for mode in ("bilinear", "nearest")
        for padding in _PADDINGS
        for align in (False, True)
    ],
    "affine_grid_generator": [
        S((arr(2, 2, 3),), {"size": (2, 1, 3, 4), "align_corners": False}, name="2d"),
        S((arr(1, 2, 3),), {"size": (1, 3, 1, 2), "align_corners": True}, name="2d_unit"),
        S((arr(2, 3, 4),), {"size": (2, 1, 2, 3, 2), "align_corners": True}, name="3d"),
    ],
    "pixel_shuffle": [
        S((arr(2, 8, 3, 2),), {"upscale_factor": 2}),
        S((arr(2, 1, 9, 1, 2),), {"upscale_factor": 3}, name="batch_dims"),
    ],
    "pixel_unshuffle": [
        S((arr(2, 2, 4, 6),), {"downscale_factor": 2}),
        S((arr(3, 1, 3, 3),), {"downscale_factor": 3}, name="no_batch"),
    ],
}
