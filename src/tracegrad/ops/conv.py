"""Convolutions: ``conv1d/2d/3d`` and ``conv_transpose1d/2d/3d``, as ``torch.nn.functional``.

All six lower to one registered op, ``convolution``: a single ``lax.conv_general_dilated`` call
(plus the bias add) whose static params are exactly lax's (window strides, padding pairs, lhs and
rhs dilation, dimension numbers, feature and batch group counts). A transposed convolution is that
op with the input dilated by the stride and the kernel flipped and regrouped. The VJP rule returns
the input and weight gradients as calls to the same op, so XLA sees convolutions in the backward
pass too, and gradients of gradients work.
"""

from __future__ import annotations

import jax.numpy as jnp
from jax import lax

from .._dtype import cpp_type_name
from ..creation import zeros
from ..tensor import Tensor
from ._window import _dilated
from ._window_args import _sizes, int_tuple
from .registry import autocast_entry, defop, needs_grad

__all__ = [
    "conv1d",
    "conv2d",
    "conv3d",
    "conv_transpose1d",
    "conv_transpose2d",
    "conv_transpose3d",
]


def _swap(spec: tuple) -> tuple:
    """A dimension spec with its first two (batch/feature, or out/in) roles exchanged."""
    return (spec[1], spec[0], *spec[2:])


def _move_group(t: Tensor, src: int, dst: int, groups: int) -> Tensor:
    """Split axis ``src`` into ``(groups, n / groups)`` and fold the ``groups`` part into axis
    ``dst`` as its major part: ``src`` shrinks by ``groups``, ``dst`` grows by it."""
    shape = list(t.shape)
    t = t.reshape(*shape[:src], groups, shape[src] // groups, *shape[src + 1 :])
    perm = []
    for i in range(len(shape)):  # axis i of t before the split sits at i, or i + 1 after src
        if i == dst:
            perm.append(src)
        perm.append(i if i < src else i + 1)
    if perm != sorted(perm):
        t = t.permute(*perm)
    shape[src] //= groups
    shape[dst] *= groups
    return t.reshape(*shape)


# ------------------------------------------------------------------------------------ convolution
@defop("ConvolutionBackward0", saves=(0, 1))
def _convolution(
    x,
    w,
    b,
    *,
    window_strides,
    padding,
    lhs_dilation,
    rhs_dilation,
    dimension_numbers,
    feature_group_count,
    batch_group_count,
):
    """``lax.conv_general_dilated`` with every parameter static, plus ``b`` (or None) broadcast
    along the output's feature axis."""
    out = lax.conv_general_dilated(
        x,
        w,
        window_strides,
        padding,
        lhs_dilation,
        rhs_dilation,
        lax.ConvDimensionNumbers(*dimension_numbers),
        feature_group_count,
        batch_group_count,
    )
    if b is not None:
        shape = [1] * out.ndim
        shape[dimension_numbers[2][1]] = -1
        out = out + jnp.reshape(b, shape)
    return out


# Per spatial axis, with input size n, kernel k, stride s, padding (lo, hi), input (lhs) dilation
# l, kernel (rhs) dilation d, output size o; write D(m, r) = 1 + r (m - 1):
#   out[j] = sum_t xpad[s j + d t] w[t],  xpad = x dilated by l, padded by (lo, hi).
# Input gradient: x̄pad[s j + d t] += ḡ[j] w[t]. Dilate ḡ by s (the positions the forward visited)
#   and it is a full correlation with the flipped kernel: x̄pad = conv(ḡ dilated by s, flip(w),
#   rhs dilation d, pad D(k,d) - 1 on both sides). Dropping the lo padded entries and keeping
#   D(n, l) gives padding (D(k,d) - 1 - lo, D(n,l) + D(k,d) - 1 - D(o,s) - before): the "after"
#   part also restores the trailing rows the stride skipped (zero gradient) or crops (negative);
#   then window stride l keeps only the real (undilated) input rows. The kernel's in/out roles
#   swap (dimension numbers), and with groups the g output blocks map to the g input blocks, so
#   the group axis moves from the kernel's out axis to its in axis.
# Weight gradient: w̄[t] = sum_{batch, j} xpad[s j + d t] ḡ[j], a convolution of xpad with ḡ as
#   the kernel (dilated by s), where the batch axis is the contraction (feature) axis and x's
#   channels play the batch: window stride d, rhs dilation s, padding lo and
#   D(o,s) - D(n,l) + D(k,d) - 1 - lo so exactly k outputs come out. Forward feature groups become
#   batch groups (each group of x's channels meets its own block of ḡ) and vice versa, so the
#   rule is closed: gradients of gradients are the same op again.
@_convolution.vjp
def _(
    g,
    out,
    x,
    w,
    b,
    *,
    window_strides,
    padding,
    lhs_dilation,
    rhs_dilation,
    dimension_numbers,
    feature_group_count,
    batch_group_count,
):
    lhs_spec, rhs_spec, out_spec = dimension_numbers
    n = [x.shape[i] for i in lhs_spec[2:]]
    k = [w.shape[i] for i in rhs_spec[2:]]
    o = [g.shape[i] for i in out_spec[2:]]
    nd = [_dilated(*a) for a in zip(n, lhs_dilation)]
    kd = [_dilated(*a) for a in zip(k, rhs_dilation)]
    od = [_dilated(*a) for a in zip(o, window_strides)]
    groups = max(feature_group_count, batch_group_count)
    empty = g.numel() == 0

    gx = gw = gb = None
    if needs_grad(x):
        if empty:
            gx = zeros(tuple(x.shape), dtype=x.dtype)
        else:
            kernel = w if groups == 1 else _move_group(w, rhs_spec[0], rhs_spec[1], groups)
            pads = []
            for a, c, e, (lo, _) in zip(nd, kd, od, padding):
                before = c - 1 - lo
                pads.append((before, a + c - 1 - e - before))
            gx = _convolution(
                g,
                kernel.flip(list(rhs_spec[2:])),
                None,
                window_strides=lhs_dilation,
                padding=tuple(pads),
                lhs_dilation=window_strides,
                rhs_dilation=rhs_dilation,
                dimension_numbers=(out_spec, _swap(rhs_spec), lhs_spec),
                feature_group_count=groups,
                batch_group_count=1,
            )
            if batch_group_count > 1:  # the batch groups came out as channel blocks
                gx = _move_group(gx, lhs_spec[1], lhs_spec[0], batch_group_count)
    if needs_grad(w):
        if empty:
            gw = zeros(tuple(w.shape), dtype=w.dtype)
        else:
            pads = tuple((lo, e - a + c - 1 - lo) for a, c, e, (lo, _) in zip(nd, kd, od, padding))
            gw = _convolution(
                x,
                g,
                None,
                window_strides=rhs_dilation,
                padding=pads,
                lhs_dilation=lhs_dilation,
                rhs_dilation=window_strides,
                dimension_numbers=(_swap(lhs_spec), _swap(out_spec), _swap(rhs_spec)),
                feature_group_count=batch_group_count,
                batch_group_count=feature_group_count,
            )
    if needs_grad(b):
        gb = g.sum(dim=tuple(i for i in range(g.ndim) if i != out_spec[1]))
    return gx, gw, gb


# ----------------------------------------------------------------------------- argument checking
def _expand_param(value, nd: int, name: str) -> tuple:
    """An int, or a sequence of 1 or ``nd`` ints, as ``nd`` ints (PyTorch's expand_param)."""
    if not isinstance(value, (int, tuple, list)) and not hasattr(value, "__index__"):
        raise TypeError(f"{name} must be an int or a tuple of ints, got {type(value).__name__}")
    return int_tuple(
        value,
        nd,
        lambda v: (
            f"expected {name} to be a single integer value or a list of {nd} values to "
            f"match the convolution dimensions, but got {name}={list(v)}"
        ),
    )


def _check_operands(fname: str, nd: int, input, weight, bias) -> tuple[Tensor, bool]:
    """Type, dtype and rank checks shared by conv and conv_transpose; returns the batched input."""
    for what, t in (("input", input), ("weight", weight)):
        if not isinstance(t, Tensor):
            raise TypeError(f"{fname}(): argument '{what}' must be Tensor, not {type(t).__name__}")
    if bias is not None and not isinstance(bias, Tensor):
        raise TypeError(f"{fname}(): argument 'bias' must be Tensor, not {type(bias).__name__}")
    if input.ndim not in (nd + 1, nd + 2):
        raise RuntimeError(
            f"Expected {nd + 1}D (unbatched) or {nd + 2}D (batched) input to {fname}, but got "
            f"input of size: {_sizes(input)}"
        )
    if not input.dtype.is_floating_point:
        raise RuntimeError(f'"{fname}" not implemented for {input.dtype}: use a float dtype')
    for what, t in (("weight", weight), ("bias", bias)):
        if t is not None and t.dtype != input.dtype:
            raise RuntimeError(
                f"Input type ({cpp_type_name(input.dtype)}) and {what} type ({cpp_type_name(t.dtype)}) should be "
                "the same"
            )
    batched = input.ndim == nd + 2
    return (input if batched else input.unsqueeze(0)), batched


def _check_params(stride, dilation, groups: int) -> None:
    if any(s <= 0 for s in stride):
        raise RuntimeError("non-positive stride is not supported")
    if any(d <= 0 for d in dilation):
        raise RuntimeError("dilation should be greater than zero")
    if groups <= 0:
        raise RuntimeError("non-positive groups is not supported")


def _check_weight(x: Tensor, weight: Tensor, groups: int) -> None:
    if weight.ndim != x.ndim:
        raise RuntimeError(
            f"Expected {weight.ndim}-dimensional input for {weight.ndim}-dimensional weight "
            f"{_sizes(weight)}, but got {x.ndim}-dimensional input of size {_sizes(x)} instead"
        )
    if weight.shape[0] < groups:
        raise RuntimeError(
            f"Given groups={groups}, expected weight to be at least {groups} at dimension 0, but "
            f"got weight of size {_sizes(weight)} instead"
        )
    if weight.shape[0] % groups:
        raise RuntimeError(
            f"Given groups={groups}, expected weight to be divisible by {groups} at dimension 0, "
            f"but got weight of size {_sizes(weight)} instead"
        )


def _check_bias(bias, n: int, prefix: str, weight: Tensor) -> None:
    if bias is not None and (bias.ndim != 1 or bias.shape[0] != n):
        raise RuntimeError(
            f"Given {prefix}weight of size {_sizes(weight)}, expected bias to be 1-dimensional "
            f"with {n} elements, but got bias of size {_sizes(bias)} instead"
        )


def _standard_dims(nd: int) -> tuple:
    spec = tuple(range(nd + 2))
    return (spec, spec, spec)


# ------------------------------------------------------------------------------------ public conv
def _conv(fname: str, nd: int, input, weight, bias, stride, padding, dilation, groups) -> Tensor:
    x, batched = _check_operands(fname, nd, input, weight, bias)
    stride = _expand_param(stride, nd, "stride")
    dilation = _expand_param(dilation, nd, "dilation")
    _check_params(stride, dilation, groups)
    if isinstance(padding, str):
        if padding not in ("valid", "same"):
            raise RuntimeError(f"Invalid padding string: '{padding}'")
        if padding == "same" and any(s != 1 for s in stride):
            raise RuntimeError("padding='same' is not supported for strided convolutions")
    else:
        padding = _expand_param(padding, nd, "padding")
        if any(v < 0 for v in padding):
            raise RuntimeError("negative padding is not supported")
    _check_weight(x, weight, groups)
    k = tuple(weight.shape[2:])
    if padding == "valid":
        pads = ((0, 0),) * nd
    elif padding == "same":  # PyTorch's split: d (k - 1) halved, the odd element on the right
        pads = tuple(
            (d * (kk - 1) // 2, d * (kk - 1) - d * (kk - 1) // 2) for d, kk in zip(dilation, k)
        )
    else:
        pads = tuple((v, v) for v in padding)
    if x.shape[1] != weight.shape[1] * groups:
        raise RuntimeError(
            f"Given groups={groups}, weight of size {_sizes(weight)}, expected input{_sizes(x)} "
            f"to have {weight.shape[1] * groups} channels, but got {x.shape[1]} channels instead"
        )
    _check_bias(bias, weight.shape[0], "", weight)
    padded = [n + lo + hi for n, (lo, hi) in zip(x.shape[2:], pads)]
    eff = [_dilated(kk, d) for kk, d in zip(k, dilation)]
    if any(p < e for p, e in zip(padded, eff)):
        raise RuntimeError(
            f"Calculated padded input size per channel: ({' x '.join(map(str, padded))}). "
            f"Kernel size: ({' x '.join(map(str, eff))}). Kernel size can't be greater than "
            "actual input size"
        )
    out = _convolution(
        x,
        weight,
        bias,
        window_strides=stride,
        padding=pads,
        lhs_dilation=(1,) * nd,
        rhs_dilation=dilation,
        dimension_numbers=_standard_dims(nd),
        feature_group_count=groups,
        batch_group_count=1,
    )
    return out if batched else out.squeeze(0)


@autocast_entry("conv1d")
def conv1d(
    input: Tensor,
    weight: Tensor,
    bias: Tensor | None = None,
    stride=1,
    padding=0,
    dilation=1,
    groups: int = 1,
) -> Tensor:
    """1-D cross-correlation of ``input`` (N, C_in, L) or (C_in, L) with ``weight``
    (C_out, C_in / groups, k), as ``torch.nn.functional.conv1d``: ``padding`` is an int, a tuple,
    ``'valid'`` or ``'same'`` (stride 1 only; an odd total goes to the right)."""
    return _conv("conv1d", 1, input, weight, bias, stride, padding, dilation, groups)


@autocast_entry("conv2d")
def conv2d(
    input: Tensor,
    weight: Tensor,
    bias: Tensor | None = None,
    stride=1,
    padding=0,
    dilation=1,
    groups: int = 1,
) -> Tensor:
    """2-D cross-correlation of ``input`` (N, C_in, H, W) or (C_in, H, W) with ``weight``
    (C_out, C_in / groups, kH, kW), as ``torch.nn.functional.conv2d``: ``padding`` is an int, a
    tuple, ``'valid'`` or ``'same'`` (stride 1 only; an odd total goes to the right)."""
    return _conv("conv2d", 2, input, weight, bias, stride, padding, dilation, groups)


@autocast_entry("conv3d")
def conv3d(
    input: Tensor,
    weight: Tensor,
    bias: Tensor | None = None,
    stride=1,
    padding=0,
    dilation=1,
    groups: int = 1,
) -> Tensor:
    """3-D cross-correlation of ``input`` (N, C_in, D, H, W) or (C_in, D, H, W) with ``weight``
    (C_out, C_in / groups, kD, kH, kW), as ``torch.nn.functional.conv3d``: ``padding`` is an int,
    a tuple, ``'valid'`` or ``'same'`` (stride 1 only; an odd total goes to the right)."""
    return _conv("conv3d", 3, input, weight, bias, stride, padding, dilation, groups)


# -------------------------------------------------------------------------- public conv_transpose
def _conv_transpose(
    fname: str, nd: int, input, weight, bias, stride, padding, output_padding, groups, dilation
) -> Tensor:
    # The transpose (adjoint) of conv(stride s, padding p, dilation d) in its input: dilate the
    # input by s, pad by d (k - 1) - p (negative: crop) plus output_padding on the right, and
    # correlate with the flipped kernel whose in/out channel roles are swapped per group.
    x, batched = _check_operands(fname, nd, input, weight, bias)
    if isinstance(padding, str):
        raise TypeError(f"{fname}(): argument 'padding' must be tuple of ints, not str")
    stride = _expand_param(stride, nd, "stride")
    dilation = _expand_param(dilation, nd, "dilation")
    padding = _expand_param(padding, nd, "padding")
    output_padding = _expand_param(output_padding, nd, "output_padding")
    _check_params(stride, dilation, groups)
    if any(v < 0 for v in padding):
        raise RuntimeError("negative padding is not supported")
    if any(v < 0 for v in output_padding):
        raise RuntimeError("negative output_padding is not supported")
    if any(op >= s and op >= d for op, s, d in zip(output_padding, stride, dilation)):
        raise RuntimeError(
            "output padding must be smaller than either stride or dilation, but got "
            f"output_padding={output_padding}, stride={stride}, dilation={dilation}"
        )
    _check_weight(x, weight, groups)
    if x.shape[1] != weight.shape[0]:
        raise RuntimeError(
            f"Given transposed=1, weight of size {_sizes(weight)}, expected input{_sizes(x)} to "
            f"have {weight.shape[0]} channels, but got {x.shape[1]} channels instead"
        )
    _check_bias(bias, weight.shape[1] * groups, "transposed=1, ", weight)
    k = tuple(weight.shape[2:])
    sizes = [
        (n - 1) * s - 2 * p + d * (kk - 1) + op + 1
        for n, s, p, d, kk, op in zip(x.shape[2:], stride, padding, dilation, k, output_padding)
    ]
    if any(s <= 0 for s in sizes):
        raise RuntimeError(
            f"Given input size per channel: ({' x '.join(map(str, x.shape[2:]))}). Calculated "
            f"output size per channel: ({' x '.join(map(str, sizes))}). Output size is too small"
        )
    # The kernel is read with out = axis 1, in = axis 0 (no transpose); with groups, the group
    # part of axis 0 moves to axis 1: (C_in, C_out/g, k...) -> (C_in/g, C_out, k...).
    w = weight.flip(list(range(2, nd + 2)))
    if groups > 1:
        w = _move_group(w, 0, 1, groups)
    spec = tuple(range(nd + 2))
    rhs_spec = (1, 0, *spec[2:])
    pads = tuple(
        (d * (kk - 1) - p, d * (kk - 1) - p + op)
        for d, kk, p, op in zip(dilation, k, padding, output_padding)
    )
    out = _convolution(
        x,
        w,
        bias,
        window_strides=(1,) * nd,
        padding=pads,
        lhs_dilation=stride,
        rhs_dilation=dilation,
        dimension_numbers=(spec, rhs_spec, spec),
        feature_group_count=groups,
        batch_group_count=1,
    )
    return out if batched else out.squeeze(0)


@autocast_entry("conv_transpose1d")
def conv_transpose1d(
    input: Tensor,
    weight: Tensor,
    bias: Tensor | None = None,
    stride=1,
    padding=0,
    output_padding=0,
    groups: int = 1,
    dilation=1,
) -> Tensor:
    """1-D transposed convolution ("deconvolution") of ``input`` (N, C_in, L) or (C_in, L) with
    ``weight`` (C_in, C_out / groups, k), as ``torch.nn.functional.conv_transpose1d``: the
    gradient of ``conv1d`` with respect to its input, output length
    ``(L - 1) stride - 2 padding + dilation (k - 1) + output_padding + 1``."""
    return _conv_transpose(
        "conv_transpose1d",
        1,
        input,
        weight,
        bias,
        stride,
        padding,
        output_padding,
        groups,
        dilation,
    )


@autocast_entry("conv_transpose2d")
def conv_transpose2d(
    input: Tensor,
    weight: Tensor,
    bias: Tensor | None = None,
    stride=1,
    padding=0,
    output_padding=0,
    groups: int = 1,
    dilation=1,
) -> Tensor:
    """2-D transposed convolution of ``input`` (N, C_in, H, W) or (C_in, H, W) with ``weight``
    (C_in, C_out / groups, kH, kW), as ``torch.nn.functional.conv_transpose2d``: the gradient of
    ``conv2d`` with respect to its input, each output size
    ``(n - 1) stride - 2 padding + dilation (k - 1) + output_padding + 1``."""
    return _conv_transpose(
        "conv_transpose2d",
        2,
        input,
        weight,
        bias,
        stride,
        padding,
        output_padding,
        groups,
        dilation,
    )


@autocast_entry("conv_transpose3d")
def conv_transpose3d(
    input: Tensor,
    weight: Tensor,
    bias: Tensor | None = None,
    stride=1,
    padding=0,
    output_padding=0,
    groups: int = 1,
    dilation=1,
) -> Tensor:
    """3-D transposed convolution of ``input`` (N, C_in, D, H, W) or (C_in, D, H, W) with
    ``weight`` (C_in, C_out / groups, kD, kH, kW), as ``torch.nn.functional.conv_transpose3d``:
    the gradient of ``conv3d`` with respect to its input, each output size
    ``(n - 1) stride - 2 padding + dilation (k - 1) + output_padding + 1``."""
    return _conv_transpose(
        "conv_transpose3d",
        3,
        input,
        weight,
        bias,
        stride,
        padding,
        output_padding,
        groups,
        dilation,
    )
