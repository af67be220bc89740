"""PyTorch's argument checking for the windowed ops: int-or-tuple expansion of kernel_size, stride,
padding, dilation and output_size (shared with the convolutions), pooling's output sizes and shape
checks, and the error messages PyTorch raises for each. Plain Python on shapes and ints.
"""

from __future__ import annotations

from collections.abc import Callable

from ..tensor import Tensor
from ._window import _dilated


def _sizes(t) -> str:
    return "[" + ", ".join(str(s) for s in t.shape) + "]"


def _check_tensor(fname: str, input) -> None:
    if not isinstance(input, Tensor):
        raise TypeError(f"{fname}(): argument 'input' must be Tensor, not {type(input).__name__}")


def int_tuple(
    value,
    n: int,
    message: str | Callable[[tuple], str],
    *,
    strict: bool = False,
    allow_empty: bool = False,
) -> tuple | None:
    """An int (anything with ``__index__``), or a sequence of 1 or ``n`` ints, as ``n`` ints: how
    PyTorch expands a kernel_size, stride, padding, dilation or output_size argument. A sequence
    of another length raises ``RuntimeError(message)`` (``message`` may be a function of the ints
    given). ``strict`` (pooling's argument parser): a bool raises ``TypeError(message)`` and a
    Tensor is read as a sequence. ``allow_empty``: None for an empty sequence (PyTorch's omitted
    stride)."""
    if strict and isinstance(value, bool):
        raise TypeError(message(value) if callable(message) else message)
    if hasattr(value, "__index__") and not (strict and isinstance(value, Tensor)):
        return (int(value),) * n
    value = tuple(int(v) for v in value)
    if allow_empty and not value:
        return None
    if len(value) == 1:
        return value * n
    if len(value) != n:
        raise RuntimeError(message(value) if callable(message) else message)
    return value


def _half(a: int) -> int:
    """C++'s a / 2 (truncating toward zero)."""
    return a // 2 if a >= 0 else -(-a // 2)


def _output_size(n: int, k: int, p: int, s: int, d: int, ceil_mode: bool) -> int:
    """PyTorch's ``pooling_output_shape``: the last window must start inside the input or the
    left padding."""
    if s == 0:
        raise RuntimeError("stride should not be zero")
    if p < 0:
        raise RuntimeError(f"pad must be non-negative, but got pad: {p}")
    if p > _half((k - 1) * d + 1):
        raise RuntimeError(
            f"pad should be at most half of effective kernel size, but got pad={p}, "
            f"kernel_size={k} and dilation={d}"
        )
    o = (n + 2 * p - d * (k - 1) - 1 + (s - 1 if ceil_mode else 0)) // s + 1
    if ceil_mode and (o - 1) * s >= n + p:
        o -= 1
    return o


def _shape_check(nd: int, x: Tensor, k, s, d, p, out) -> None:
    """PyTorch's pool2d_shape_check / pool3d_shape_check (after the output size is known)."""
    if nd == 2:
        kernel_msg = f"kH: {k[0]} kW: {k[1]}"
        stride_msg = f"dH: {s[0]} dW: {s[1]}"
        dil_msg = f"dilationH: {d[0]} dilationW: {d[1]}"
        pad_msg = f"padW = {p[1]}, padH = {p[0]}, kW = {k[1]}, kH = {k[0]}"
    else:
        kernel_msg = f"kT: {k[0]} kH: {k[1]} kW: {k[2]}"
        stride_msg = f"dT: {s[0]} dH: {s[1]} dW: {s[2]}"
        dil_msg = f"dilationT: {d[0]} dilationH: {d[1]} dilationW: {d[2]}"
        pad_msg = f"kT: {k[0]} kW: {k[2]} kH: {k[1]} padT: {p[0]} padW: {p[2]} padH: {p[1]}"
    if min(k) <= 0:
        raise RuntimeError(f"kernel size should be greater than zero, but got {kernel_msg}")
    if min(s) <= 0:
        raise RuntimeError(f"stride should be greater than zero, but got {stride_msg}")
    if min(d) <= 0:
        raise RuntimeError(f"dilation should be greater than zero, but got {dil_msg}")
    if any(n == 0 for n in x.shape[-nd - 1 :]):
        raise RuntimeError(
            f"Expected {nd + 1}D or {nd + 2}D (batch mode) tensor with optional 0 dim batch size "
            f"for input, but got:{_sizes(x)}"
        )
    if any(kk // 2 < pp for kk, pp in zip(k, p)):
        raise RuntimeError(
            f"pad should be smaller than or equal to half of kernel size, but got {pad_msg}"
        )
    if min(out) < 1:
        c = x.shape[-nd - 1]
        raise RuntimeError(
            f"Given input size: ({'x'.join(map(str, (c, *x.shape[-nd:])))}). Calculated output "
            f"size: ({'x'.join(map(str, (c, *out)))}). Output size is too small"
        )


_COUNT = {1: "one", 2: "two", 3: "three"}


def _pool_args(fname: str, nd: int, input, kernel_size, stride, padding, dilation):
    """Normalise and check the window arguments of max/avg_pool{2,3}d."""
    _check_tensor(fname, input)
    n = _COUNT[nd]
    what = "must either be a single int, or a tuple of"
    k = int_tuple(kernel_size, nd, f"{fname}: kernel_size {what} {n} ints", strict=True)
    s = None
    if stride is not None:
        s = int_tuple(
            stride,
            nd,
            f"{fname}: stride must either be omitted, a single int, or a tuple of {n} ints",
            strict=True,
            allow_empty=True,
        )
    s = k if s is None else s
    p = int_tuple(padding, nd, f"{fname}: padding {what} {n} ints", strict=True)
    d = int_tuple(
        dilation,
        nd,
        f"{fname}: dilation must be either a single int, or a tuple of {n} ints",
        strict=True,
    )
    if input.ndim not in (nd + 1, nd + 2):
        raise RuntimeError(
            f"non-empty {nd + 1}D or {nd + 2}D (batch mode) tensor expected for input"
        )
    return k, s, p, d


def _pool_padding(nd: int, input, k, s, p, d, ceil_mode: bool) -> tuple:
    """The output size of max/avg_pool{2,3}d (PyTorch's checks), as the (lo, hi) padding per axis
    that gives exactly that many windows: lo = p; hi just long enough for the last window (a
    ceil-mode overhang beyond p, or p when floor mode drops trailing elements)."""
    size = tuple(input.shape[-nd:])
    out = tuple(_output_size(*a, ceil_mode) for a in zip(size, k, p, s, d))
    _shape_check(nd, input, k, s, d, p, out)
    return tuple(
        (pp, max(pp, (o - 1) * ss + _dilated(kk, dd) - n - pp))
        for n, o, kk, ss, pp, dd in zip(size, out, k, s, p, d)
    )


def _max_pool1d_args(input, kernel_size, stride, padding, dilation, ceil_mode: bool) -> tuple:
    """max_pool1d's own checks (PyTorch's messages); kernel, stride, padding and dilation."""
    _check_tensor("max_pool1d", input)
    if input.ndim not in (2, 3):
        raise RuntimeError(f"max_pool1d() Expected 2D or 3D input tensor, but got {_sizes(input)}")
    what = "must be an int, list of ints or tuple of ints of size 1"
    k = int_tuple(
        kernel_size,
        1,
        f"max_pool1d() kernel_size {what} but got size {_len(kernel_size)}",
        strict=True,
    )
    s = (
        k
        if stride is None
        else int_tuple(
            stride,
            1,
            f"max_pool1d() stride {what} but got size {_len(stride)}",
            strict=True,
            allow_empty=True,
        )
        or k
    )
    p = int_tuple(
        padding, 1, f"max_pool1d() padding {what} but got size {_len(padding)}", strict=True
    )
    d = int_tuple(
        dilation, 1, f"max_pool1d() dilation {what} but got size {_len(dilation)}", strict=True
    )
    if k[0] <= 0:
        raise RuntimeError(f"max_pool1d() kernel_size must be greater than zero, but got {k[0]}")
    if s[0] <= 0:
        raise RuntimeError(f"max_pool1d() stride must be greater than zero, but got {s[0]}")
    if p[0] < 0:
        raise RuntimeError(f"max_pool1d() padding must be non-negative, but got {p[0]}")
    if p[0] > k[0] // 2:
        raise RuntimeError(
            f"max_pool1d() padding should be at most half of kernel size, but got padding={p[0]} "
            f"and kernel_size={k[0]}"
        )
    if d[0] <= 0:
        raise RuntimeError(f"max_pool1d() dilation must be greater than zero, but got {d[0]}")
    o = _output_size(input.shape[-1], k[0], p[0], s[0], d[0], ceil_mode)
    if o <= 0:
        raise RuntimeError(f"max_pool1d() Invalid computed output size: {o}")
    return k, s, p, d


def _avg_pool1d_args(input, kernel_size, stride, padding) -> tuple:
    """avg_pool1d's own checks (PyTorch's messages); kernel, stride and padding."""
    _check_tensor("avg_pool1d", input)
    for what, v in (("kernel_size", kernel_size), ("stride", stride), ("padding", padding)):
        if (
            v is not None
            and not isinstance(v, int)
            and len(v) != 1
            and not (what == "stride" and not len(v))
        ):
            raise RuntimeError(
                f"avg_pool1d() argument '{what}' should contain one int (got {len(v)})"
            )
    if input.ndim not in (2, 3):
        raise RuntimeError(
            f"Expected 2 to 3 dimensions, but got {input.ndim}-dimensional tensor for argument "
            "#1 'self' (while checking arguments for avg_pool1d)"
        )
    k = int_tuple(kernel_size, 1, "", strict=True)
    s = k if stride is None else (int_tuple(stride, 1, "", strict=True, allow_empty=True) or k)
    return k, s, int_tuple(padding, 1, "", strict=True)


def _len(v) -> int:
    return 1 if isinstance(v, int) else len(v)


def _adaptive_size(output_size, input: Tensor, nd: int, fname: str) -> tuple:
    """PyTorch's ``_list_with_default``: an int for every axis, or a sequence whose None entries
    keep the input's size."""
    if isinstance(output_size, int) or hasattr(output_size, "__index__"):
        return (int(output_size),) * nd
    output_size = tuple(output_size)
    if input.ndim <= len(output_size):
        raise ValueError(f"Input dimension should be at least {len(output_size) + 1}")
    if len(output_size) != nd:
        if nd == 1:
            raise RuntimeError(
                f"{fname}() argument 'output_size' should contain one int (got {len(output_size)})"
            )
        raise RuntimeError(f"{fname}: output_size must be {nd}")
    return tuple(int(d) if v is None else int(v) for v, d in zip(output_size, input.shape[-nd:]))


def _adaptive_check(fname: str, nd: int, input, out: tuple, colon: str = "") -> None:
    if input.ndim not in (nd + 1, nd + 2):
        raise RuntimeError(
            f"{fname}(): Expected {nd + 1}D or {nd + 2}D tensor, but got{colon} {_sizes(input)}"
        )
    for i in range(input.ndim - nd, input.ndim):
        if input.shape[i] == 0:
            raise RuntimeError(
                f"{fname}(): Expected input to have non-zero size for non-batch dimensions, but "
                f"input has sizes {_sizes(input)} with dimension {i} being empty"
            )
    if min(out) < 0:
        raise RuntimeError(
            f"{fname}: elements of output_size must be greater than or equal to 0 but received "
            "{" + ", ".join(map(str, out)) + "}"
        )


def _adaptive_1d_size(fname: str, input, output_size) -> int:
    """Validate a 1-D adaptive pool's input and ``output_size`` (PyTorch's errors); the length."""
    _check_tensor(fname, input)
    if not isinstance(output_size, int) and len(output_size) != 1:
        raise RuntimeError(
            f"{fname}() argument 'output_size' should contain one int (got {len(output_size)})"
        )
    if input.ndim not in (2, 3):
        raise RuntimeError(
            f"Expected 2 to 3 dimensions, but got {input.ndim}-dimensional tensor for argument "
            f"#1 'self' (while checking arguments for {fname})"
        )
    return output_size if isinstance(output_size, int) else output_size[0]


def _pair(value, what: str, fname: str) -> tuple:
    """fold/unfold's expansion of an argument to two ints."""
    return int_tuple(
        value, 2, lambda v: f"{fname}: {what} must be an int or a tuple of two ints, got {v}"
    )


def _fold_params(fname, kernel_size, dilation, padding, stride) -> tuple:
    k = _pair(kernel_size, "kernel_size", fname)
    d = _pair(dilation, "dilation", fname)
    p = _pair(padding, "padding", fname)
    s = _pair(stride, "stride", fname)
    if min(k) <= 0:
        raise RuntimeError(
            f"kernel size should be greater than zero, but got kernel_height: {k[0]} "
            f"kernel_width: {k[1]}"
        )
    if min(s) <= 0:
        raise RuntimeError(
            f"stride should be greater than zero, but got stride_height: {s[0]} "
            f"stride_width: {s[1]}"
        )
    if min(d) <= 0:
        raise RuntimeError(
            f"dilation should be greater than zero, but got dilation_height: {d[0]} "
            f"dilation_width: {d[1]}"
        )
    if min(p) < 0:
        raise RuntimeError(
            f"padding should be non-negative, but got pad_height: {p[0]} pad_width: {p[1]}"
        )
    return k, d, p, s
