"""``interpolate`` (upsampling and downsampling), as ``torch.nn.functional.interpolate``.

Nearest and linear modes are sparse linear maps along the spatial axes (``resample.py``'s
``resample`` op, whose rule is the transposed map); ``area`` is adaptive average pooling
(``pooling.py``).
"""

from __future__ import annotations

import math

import numpy as np

from .. import _caches
from ..tensor import Tensor
from . import pooling
from ._window import _TABLES
from ._window_args import _check_tensor
from .registry import autocast_entry
from .resample import _resample

__all__ = ["interpolate"]


# ----------------------------------------------------------------------------------- interpolate
@_caches.bounded(_TABLES)
def _nearest_rows(n: int, o: int, scale: float | None, exact: bool) -> tuple:
    """PyTorch's nearest source index, in float32 as its kernels compute it: legacy
    ``floor(dst * s)`` (with its copy and 2x fast paths), exact ``floor((dst + 0.5) * s)``;
    ``s`` is 1 / scale_factor when one was given, else n / o."""
    f32 = np.float32
    s = f32(1.0 / scale) if scale is not None and scale > 0 else f32(n) / f32(o)
    src = []
    for i in range(o):
        if not exact and o == n:
            j = i
        elif not exact and o == 2 * n:
            j = i >> 1
        elif exact:
            j = int(np.floor(f32((i + 0.5) * float(s))))
        else:
            j = int(np.floor(f32(i) * s))
        src.append(min(j, n - 1))
    return tuple(((j, 1.0),) for j in src)


@_caches.bounded(_TABLES)
def _linear_rows(n: int, o: int, align_corners: bool, scale: float | None, double: bool) -> tuple:
    """PyTorch's linear taps per output (upsample_linear1d / bilinear2d / trilinear3d), computed
    in the kernels' math type (float32, or float64 for double inputs): source
    ``s * dst`` (align_corners, s = (n - 1) / (o - 1)) or ``s * (dst + 0.5) - 0.5`` clamped at 0
    (s = 1 / scale_factor or n / o); neighbours floor(src) and the next one (not past the edge),
    weights 1 - frac and frac."""
    if o == n:
        return tuple(((i, 1.0),) for i in range(o))
    f = np.float64 if double else np.float32
    if align_corners:
        s = f(n - 1) / f(o - 1) if o > 1 else f(0)
    else:
        s = f(1.0 / scale) if scale is not None and scale > 0 else f(n) / f(o)
    rows = []
    for i in range(o):
        if align_corners:
            src = s * f(i)
        else:
            src = max(s * (f(i) + f(0.5)) - f(0.5), f(0))
        i0 = min(int(np.floor(src)), n - 1)
        l1 = min(max(src - f(i0), f(0)), f(1))
        i1 = i0 + (1 if i0 < n - 1 else 0)
        rows.append(((i0, float(f(1) - l1)), (i1, float(l1))))
    return tuple(rows)


_MODES = "nearest | linear | bilinear | bicubic | trilinear | area | nearest-exact"
_LINEAR = {"linear": 1, "bilinear": 2, "trilinear": 3}


def _per_axis(value, dim: int, input: Tensor, is_size: bool) -> list:
    """``size`` or ``scale_factor`` as one value per spatial axis (PyTorch's checks)."""
    if not isinstance(value, (list, tuple)):
        return [value] * dim
    if len(value) != dim:
        what, shown, fmt = (
            ("output", f"output size of {value}", "output size in (o1, o2, ...,oK)")
            if is_size
            else (
                "scale_factor",
                f"scale_factor of shape {value}",
                "scale_factor in (s1, s2, ...,sK)",
            )
        )
        raise ValueError(
            f"Input and {what} must have the same number of spatial dimensions, but got input with "
            f"spatial dimensions of {list(input.shape[2:])} and {shown}. Please provide input "
            f"tensor in (N, C, d1, d2, ...,dK) format and {fmt} format."
        )
    return list(value)


@autocast_entry("interpolate")
def interpolate(
    input: Tensor,
    size=None,
    scale_factor=None,
    mode: str = "nearest",
    align_corners: bool | None = None,
    recompute_scale_factor: bool | None = None,
    antialias: bool = False,
) -> Tensor:
    """Resize ``input`` (N, C, *spatial) to ``size`` or by ``scale_factor``, as
    ``torch.nn.functional.interpolate``. Modes: ``'nearest'`` (PyTorch's legacy nearest:
    source = floor(dst * in / out), not half-pixel), ``'nearest-exact'``, ``'linear'`` (3-D
    input), ``'bilinear'`` (4-D), ``'trilinear'`` (5-D), each with ``align_corners`` as PyTorch,
    and ``'area'`` (adaptive average pooling). With ``scale_factor`` the output size is
    floor(in * scale) and the kernels use 1 / scale (unless ``recompute_scale_factor``).
    ``'bicubic'`` and ``antialias=True`` are not supported."""
    _check_tensor("interpolate", input)
    if mode in ("nearest", "area", "nearest-exact"):
        if align_corners is not None:
            raise ValueError(
                "align_corners option can only be set with the interpolating modes: "
                "linear | bilinear | bicubic | trilinear"
            )
    elif align_corners is None:
        align_corners = False
    dim = input.ndim - 2
    if size is not None and scale_factor is not None:
        raise ValueError("only one of size or scale_factor should be defined")
    if size is not None:
        out = [int(v) for v in _per_axis(size, dim, input, True)]
        scales = None
    elif scale_factor is not None:
        out = None
        scales = [float(v) for v in _per_axis(scale_factor, dim, input, False)]
    else:
        raise ValueError("either size or scale_factor should be defined")
    if recompute_scale_factor is not None and recompute_scale_factor and size is not None:
        raise ValueError("recompute_scale_factor is not meaningful with an explicit size.")
    if mode == "area" and out is None:
        recompute_scale_factor = True
    if antialias:
        raise NotImplementedError("interpolate: antialias=True is not supported by tracegrad")
    if input.ndim not in (3, 4, 5) or mode not in ("nearest", "nearest-exact", "area", *_LINEAR):
        if mode == "bicubic" and input.ndim == 4:
            raise NotImplementedError("interpolate: mode 'bicubic' is not supported by tracegrad")
        raise NotImplementedError(
            f"Input Error: Only 3D, 4D and 5D input Tensors supported (got {input.ndim}D) for the "
            f"modes: {_MODES} (got {mode})"
        )
    if mode in _LINEAR and _LINEAR[mode] != dim:
        raise NotImplementedError(
            f"Got {input.ndim}D input, but {mode} mode needs {_LINEAR[mode] + 2}D input"
        )
    if out is None:
        out = [math.floor(float(n) * s) for n, s in zip(input.shape[2:], scales)]
        if recompute_scale_factor:
            scales = None
    if scales is None:
        scales = [None] * dim
    if mode == "area":
        fn = getattr(pooling, f"adaptive_avg_pool{dim}d")
        return fn(input, tuple(out))
    if min(out) <= 0 or min(input.shape[2:]) <= 0:
        axes_names = "DHW"[3 - dim :]
        fmt = lambda sz: ", ".join(f"{a}: {v}" for a, v in zip(axes_names, sz))  # noqa: E731
        raise RuntimeError(
            "Input and output sizes should be greater than 0, but got input "
            f"({fmt(input.shape[2:])}) "
            f"output ({fmt(out)})"
        )
    if mode in _LINEAR:
        if not input.dtype.is_floating_point:
            raise RuntimeError(
                f'"upsample_{mode}" not implemented for {input.dtype}: use a float dtype'
            )
        double = input.dtype.np.name == "float64"
        rows = [
            _linear_rows(n, o, align_corners, s, double)
            for n, o, s in zip(input.shape[2:], out, scales)
        ]
        name = f"Upsample{mode.capitalize()}{dim}DBackward0"
    else:
        exact = mode == "nearest-exact"
        rows = [_nearest_rows(n, o, s, exact) for n, o, s in zip(input.shape[2:], out, scales)]
        name = f"UpsampleNearest{'Exact' if exact else ''}{dim}DBackward0"
    axes = tuple((i - dim, r) for i, r in enumerate(rows))
    return _resample(input, axes=axes, name=name, transposed=False)
