"""Arithmetic: ``+ - * / // % **``, ``neg``, ``abs``, ``reciprocal``, with Python scalars on either
side, PyTorch's type promotion, and the in-place forms (``add_``, ``+=``, ...)."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax

from .. import _tracing
from .._dtype import bool_, get_default_dtype, int64
from .._surface import expose
from ..creation import zeros_like
from ..tensor import Tensor
from .elementwise import log, where
from .registry import defop, needs_grad

__all__ = [
    "add",
    "sub",
    "subtract",
    "rsub",
    "mul",
    "multiply",
    "div",
    "divide",
    "true_divide",
    "floor_divide",
    "remainder",
    "fmod",
    "pow",
    "neg",
    "negative",
    "abs",
    "absolute",
    "reciprocal",
]


# --------------------------------------------------------------------------------------- add, sub
@expose(methods=(), operators=("__add__", "__radd__"))
@defop("AddBackward0", promote="same", saves=())
def _add(a, b):
    return jnp.add(a, b)


@_add.vjp
def _(g, out, a, b):
    return g, g


@expose(methods=(), operators=("__sub__",))
@defop("SubBackward0", promote="same", saves=())
def _sub(a, b):
    return jnp.subtract(a, b)


@_sub.vjp
def _(g, out, a, b):
    return (g if needs_grad(a) else None), (-g if needs_grad(b) else None)


@expose(methods=(), operators=("__rsub__",))
@defop("RsubBackward1", promote="same", saves=())
def _rsub(a, b):
    return jnp.subtract(b, a)


@_rsub.vjp
def _(g, out, a, b):
    return (-g if needs_grad(a) else None), (g if needs_grad(b) else None)


@expose(inplace=("add_", "__iadd__"))
def add(input, other, *, alpha=1) -> Tensor:
    """``input + alpha * other``, broadcasting and promoting as PyTorch does."""
    return _add(input, other if alpha == 1 else other * alpha)


@expose(methods=("sub", "subtract"), inplace=("sub_", "__isub__", "subtract_"))
def sub(input, other, *, alpha=1) -> Tensor:
    """``input - alpha * other``."""
    return _sub(input, other if alpha == 1 else other * alpha)


def rsub(input, other, *, alpha=1) -> Tensor:
    """``other - alpha * input`` (what ``2 - x`` runs)."""
    return _rsub(input if alpha == 1 else input * alpha, other)


subtract = sub


# -------------------------------------------------------------------------------------------- mul
@expose(
    methods=("mul", "multiply"),
    operators=("__mul__", "__rmul__"),
    inplace=("mul_", "__imul__", "multiply_"),
)
@defop("MulBackward0", promote="same")
def mul(a, b):
    """Elementwise product ``a * b``."""
    return jnp.multiply(a, b)


@mul.vjp
def _(g, out, a, b):
    # PyTorch's convention for complex operands: each gradient is g times the other's conjugate.
    return (g * _conj(b) if needs_grad(a) else None), (g * _conj(a) if needs_grad(b) else None)


def _conj(x):
    if isinstance(x, Tensor):
        return x.conj() if x.is_complex() else x
    return x.conjugate() if isinstance(x, complex) else x


multiply = mul


# -------------------------------------------------------------------------------------------- div
# d(a/b)/da = 1/b; d(a/b)/db = -a/b^2. Integer operands divide as floats (true division).
@defop("DivBackward0", promote="float")
def _div(a, b):
    return jnp.true_divide(a, b)


@_div.vjp
def _(g, out, a, b):
    return (g / b if needs_grad(a) else None), (-g * a / (b * b) if needs_grad(b) else None)


def _common_dtype(a, b):
    """The dtype of a division's promoted operands: array operands share it already; only two
    Python numbers need JAX's rule."""
    for x in (a, b):
        if hasattr(x, "dtype"):
            return x.dtype
    return jnp.result_type(a, b)


def _check_int_divisor(a, b, kernel: str) -> None:
    """PyTorch's errors for integer division: by zero, and of booleans. XLA's integer division
    by zero returns an arbitrary value, so a zero divisor must be caught before it is used: a
    Python number here, an integer tensor by reading back whether it holds a zero (integer
    division is rare on the hot path; floats are not checked), and inside ``tracegrad.compile``
    by a check the compiled call raises before the step runs."""
    dtype = _common_dtype(a, b)
    if dtype == jnp.bool_:
        raise NotImplementedError(f"\"{kernel}_cpu\" not implemented for 'Bool'")
    if not jnp.issubdtype(dtype, jnp.integer):
        return
    if isinstance(b, (int, np.integer)):
        if b == 0:
            raise RuntimeError("ZeroDivisionError")
        return
    has_zero = jnp.any(b == 0)
    if isinstance(has_zero, jax.core.Tracer):
        _tracing.add_check(has_zero, lambda: RuntimeError("ZeroDivisionError"))
    elif has_zero:
        raise RuntimeError("ZeroDivisionError")


@defop("DivBackward0", promote="same", saves=(), name="floor_div")
def _floor_div(a, b):
    _check_int_divisor(a, b, "div_floor")
    return jnp.floor_divide(a, b)


@_floor_div.vjp
def _(g, out, a, b):  # piecewise constant: zero almost everywhere, as PyTorch's rule
    return (g * 0 if needs_grad(a) else None), (g * 0 if needs_grad(b) else None)


# Integers divide exactly, rounding toward zero (lax.div), and stay integers as in PyTorch;
# floats divide and truncate.
@defop("DivBackward0", promote="same", saves=(), name="trunc_div")
def _trunc_div(a, b):
    _check_int_divisor(a, b, "div_trunc")
    dtype = _common_dtype(a, b)
    if jnp.issubdtype(dtype, jnp.integer):
        return lax.div(jnp.asarray(a, dtype), jnp.asarray(b, dtype))
    return jnp.trunc(jnp.true_divide(a, b))


@_trunc_div.vjp
def _(g, out, a, b):
    return (g * 0 if needs_grad(a) else None), (g * 0 if needs_grad(b) else None)


@expose(methods=("div", "divide"), inplace=("div_", "__itruediv__", "divide_"))
def div(input, other, *, rounding_mode: str | None = None) -> Tensor:
    """``input / other``; ``rounding_mode`` ``'floor'`` or ``'trunc'`` rounds the quotient."""
    if rounding_mode is None:
        return _div(input, other)
    if rounding_mode == "floor":
        return _floor_div(input, other)
    if rounding_mode == "trunc":
        return _trunc_div(input, other)
    raise RuntimeError(
        f"div expected rounding_mode to be one of None, 'trunc', or 'floor' but found '{rounding_mode}'"
    )


divide = div
true_divide = expose(
    _div, methods=("true_divide",), operators=("__truediv__",), reflected=("__rtruediv__",)
)


@expose(inplace=("floor_divide_", "__ifloordiv__"))
def floor_divide(input, other) -> Tensor:
    """``input // other`` (rounds toward negative infinity, like Python)."""
    return _floor_div(input, other)


expose(_floor_div, methods=(), operators=("__floordiv__",), reflected=("__rfloordiv__",))


# -------------------------------------------------------------------------------------- remainder
# a % b = a - floor(a / b) * b, so d/da = 1 and d/db = -floor(a / b) (away from the jumps).
@defop("RemainderBackward0", promote="same")
def remainder(a, b):
    """Python-style modulus: the result has the sign of ``b``."""
    _check_int_divisor(a, b, "remainder")
    return jnp.remainder(a, b)


@remainder.vjp
def _(g, out, a, b):
    return (g if needs_grad(a) else None), (-g * _floor_div(a, b) if needs_grad(b) else None)


@defop("FmodBackward0", promote="same")
def fmod(a, b):
    """C-style modulus: the result has the sign of ``a``."""
    _check_int_divisor(a, b, "fmod")
    return jnp.fmod(a, b)


@fmod.vjp
def _(g, out, a, b):
    return (g if needs_grad(a) else None), (-g * _trunc_div(a, b) if needs_grad(b) else None)


expose(
    remainder, operators=("__mod__",), reflected=("__rmod__",), inplace=("remainder_", "__imod__")
)
expose(fmod, inplace=True)


# -------------------------------------------------------------------------------------------- pow
# x^c (c a constant): c * x^(c-1), taken as 0 where c == 0 so that 0^0 has a zero gradient.
@defop("PowBackward0", promote="same", saves=(0,), name="pow_scalar")
def _pow_scalar(a, *, exponent):
    return jnp.power(a, exponent)


@_pow_scalar.vjp
def _(g, out, a, *, exponent):
    if exponent == 0:
        return (g * 0,)
    return (g * exponent * _pow_scalar(a, exponent=exponent - 1),)


# a^b with a tensor exponent: d/da = b a^(b-1); d/db = a^b log(a), taken as 0 where a == 0 and
# b >= 0 (the limit from the right), as PyTorch does.
@defop("PowBackward1", promote="same", save_out=True, name="pow_tensor")
def _pow_tensor(a, b):
    return jnp.power(a, b)


@_pow_tensor.vjp
def _(g, out, a, b):
    da = where(b == 0, 0.0, g * b * _pow_tensor(a, b - 1)) if needs_grad(a) else None
    db = where((a == 0) & (b >= 0), 0.0, g * out * log(a)) if needs_grad(b) else None
    return da, db


@expose(operators=("__pow__",), inplace=("pow_", "__ipow__"))
def pow(input, exponent) -> Tensor:
    """``input ** exponent``; either side may be a Python number."""
    if not isinstance(input, Tensor):
        return _pow_tensor(input, exponent)
    if isinstance(exponent, Tensor):
        return _pow_tensor(input, exponent)
    if (
        isinstance(input, Tensor)
        and not input.dtype.is_floating_point
        and isinstance(exponent, int)
    ):
        if exponent < 0:
            raise RuntimeError("Integers to negative integer powers are not allowed.")
    # The exponent is a static param, so promote here as for a Python scalar operand:
    # int_tensor ** 2.0 is float32, bool_tensor ** 2 is int64.
    if not input.dtype.is_floating_point:
        if isinstance(exponent, float):
            input = input.to(get_default_dtype())
        elif input.dtype is bool_ and not isinstance(exponent, bool):
            input = input.to(int64)
    return _pow_scalar(input, exponent=exponent)


expose(_pow_tensor, methods=(), reflected=("__rpow__",))


# --------------------------------------------------------------------------- neg, abs, reciprocal
@defop("NegBackward0", saves=())
def neg(a):
    """``-input``."""
    return jnp.negative(a)


@neg.vjp
def _(g, out, a):
    return (-g,)


@defop("AbsBackward0")
def abs(a):  # noqa: A001 - PyTorch's name
    """Absolute value."""
    return jnp.abs(a)


@abs.vjp
def _(g, out, a):
    return (g * a.sgn(),)  # sgn is sign for real tensors and z / |z| for complex ones


@defop("ReciprocalBackward0", promote="float", saves=(), save_out=True)
def reciprocal(a):
    """``1 / input``."""
    return jnp.reciprocal(a)


@reciprocal.vjp
def _(g, out, a):
    return (-g * out * out,)


negative = expose(neg, methods=("neg", "negative"), operators=("__neg__",), inplace=True)
absolute = expose(abs, methods=("abs", "absolute"), operators=("__abs__",), inplace=True)
expose(reciprocal, inplace=True)


# ------------------------------------------------------------------------------ fill, zero, copy
# Overwriting ops. The old value is discarded, so its gradient is zero; ``copy_`` passes the
# gradient to ``src`` (the engine sums it back over the dimensions ``src`` was broadcast along and
# casts it to ``src``'s dtype).
@defop(lambda p: "ZeroBackward0" if p["zero"] else "FillBackward0", saves=())
def _fill(a, *, value, zero):
    return jnp.full(a.shape, value, a.dtype)


@_fill.vjp
def _(g, out, a, *, value, zero):
    return (zeros_like(g),)


@defop("CopyBackwards", saves=(), name="copy")
def _copy(a, src):
    return jnp.broadcast_to(jnp.asarray(src).astype(a.dtype), a.shape)


@_copy.vjp
def _(g, out, a, src):
    return (zeros_like(g) if needs_grad(a) else None), (g if needs_grad(src) else None)


def _check_fill_tensor(value: Tensor) -> None:
    """PyTorch's error for a fill value given as a tensor that is not 0-d."""
    if value.ndim != 0:
        raise RuntimeError(
            "fill_ only supports 0-dimension value tensor but got tensor with "
            f"{value.ndim} dimensions."
        )


def _fill_inplace(self: Tensor, value) -> Tensor:
    """Fill ``self`` with ``value`` (a number or a 0-d tensor) in place."""
    if isinstance(value, Tensor):
        _check_fill_tensor(value)
        return _copy_inplace(self, value)
    self._check_inplace("fill_")
    return self._rebase(_fill(self._snapshot(), value=value, zero=False))


def _zero_inplace(self: Tensor) -> Tensor:
    """Fill ``self`` with zeros in place."""
    self._check_inplace("zero_")
    return self._rebase(_fill(self._snapshot(), value=0, zero=True))


def _copy_inplace(self: Tensor, src, non_blocking: bool = False) -> Tensor:
    """Copy ``src`` (broadcast to ``self``'s shape, cast to its dtype) into ``self`` in place."""
    if not isinstance(src, Tensor):
        raise TypeError(f"copy_(): argument 'src' must be Tensor, not {type(src).__name__}")
    self._check_inplace("copy_")
    # Shapes that do not broadcast get PyTorch's message from ``apply``; a ``src`` that broadcasts
    # to something larger than ``self`` cannot be written into it.
    shape, src_shape = tuple(self.shape), tuple(src.shape)
    if len(src_shape) > len(shape) and all(
        s == d or d == 1 or s == 1 for s, d in zip(src_shape[::-1], shape[::-1])
    ):
        big = src_shape[: len(src_shape) - len(shape)] + tuple(
            max(s, d) for s, d in zip(src_shape[len(src_shape) - len(shape) :], shape)
        )
        raise RuntimeError(
            f"output with shape {list(shape)} doesn't match the broadcast shape {list(big)}"
        )
    if src.device != self.device:
        src = src.to(self.device)
    return self._rebase(_copy(self._snapshot(), src))


expose(_fill_inplace, methods=("fill_",))
expose(_zero_inplace, methods=("zero_",))
expose(_copy_inplace, methods=("copy_",))
