"""Bitwise and integer ops (``bitwise_and``/``or``/``xor``/``not``, shifts, ``gcd``, ``lcm``), the
floating-point decompositions ``frexp`` and ``nextafter``, and PyTorch's comparison aliases and
in-place comparison forms (``greater``, ``x.lt_(y)``, ``x.logical_and_(y)``, ...).

The bitwise ops and the shifts are defined on booleans and integers only; a floating-point operand
raises PyTorch's ``"<kernel>_cpu" not implemented for 'Float'``. Their results are integers, so they
never take part in a gradient. Shifts follow PyTorch's kernels rather than C's (or XLA's): a shift
by a negative amount or by at least the bit width gives 0 (left) or the sign fill (right).
"""

from __future__ import annotations

import jax.numpy as jnp
from jax import lax

from .._dtype import scalar_type_name
from .._surface import expose
from ..autograd.grad_mode import is_grad_enabled
from ..tensor import Tensor
from .arith import true_divide
from .compare import eq, ge, gt, le, logical_and, logical_not, logical_or, logical_xor, lt, ne
from .reduction import return_types
from .registry import _promote, defop, needs_grad

__all__ = [
    "bitwise_and",
    "bitwise_or",
    "bitwise_xor",
    "bitwise_not",
    "bitwise_left_shift",
    "bitwise_right_shift",
    "gcd",
    "lcm",
    "frexp",
    "nextafter",
    "greater",
    "greater_equal",
    "less",
    "less_equal",
    "not_equal",
]


def _refuse_float(kernel: str, op, *operands) -> None:
    """The dtype ``op`` computes ``operands`` in, or PyTorch's error when that is not an integer
    or boolean dtype."""
    dtype = _promote(op, operands)
    if dtype.is_floating_point or dtype.is_complex:
        raise NotImplementedError(
            f"\"{kernel}_cpu\" not implemented for '{scalar_type_name(dtype)}'"
        )
    return dtype


def _refuse_bool(kernel: str, dtype) -> None:
    if dtype.name == "bool":
        raise NotImplementedError(f"\"{kernel}_cpu\" not implemented for 'Bool'")


# ------------------------------------------------------------------------------- and, or, xor, not
@defop("BitwiseAndBackward0", promote="same")
def _bitwise_and(a, b):
    return jnp.bitwise_and(a, b)


@defop("BitwiseOrBackward0", promote="same")
def _bitwise_or(a, b):
    return jnp.bitwise_or(a, b)


@defop("BitwiseXorBackward0", promote="same")
def _bitwise_xor(a, b):
    return jnp.bitwise_xor(a, b)


@defop("BitwiseNotBackward0")
def _bitwise_not(a):
    return jnp.invert(a)


@expose(inplace=("bitwise_and_", "__iand__"), operators=("__and__", "__rand__"))
def bitwise_and(input, other) -> Tensor:
    """Elementwise AND of booleans or integers (logical AND for booleans)."""
    _refuse_float("bitwise_and", _bitwise_and, input, other)
    return _bitwise_and(input, other)


@expose(inplace=("bitwise_or_", "__ior__"), operators=("__or__", "__ror__"))
def bitwise_or(input, other) -> Tensor:
    """Elementwise OR of booleans or integers (logical OR for booleans)."""
    _refuse_float("bitwise_or", _bitwise_or, input, other)
    return _bitwise_or(input, other)


@expose(inplace=("bitwise_xor_", "__ixor__"), operators=("__xor__", "__rxor__"))
def bitwise_xor(input, other) -> Tensor:
    """Elementwise exclusive OR of booleans or integers (logical XOR for booleans)."""
    _refuse_float("bitwise_xor", _bitwise_xor, input, other)
    return _bitwise_xor(input, other)


@expose(inplace=True)
def bitwise_not(input: Tensor) -> Tensor:
    """Elementwise NOT: ``~x`` for integers (``-x - 1`` for signed ones), logical NOT for
    booleans."""
    _refuse_float("bitwise_not", _bitwise_not, input)
    return _bitwise_not(input)


def _invert(input: Tensor) -> Tensor:
    """``~x``: ``bitwise_not``, with PyTorch's TypeError for floating-point tensors."""
    if input.dtype.is_floating_point or input.dtype.is_complex:
        raise TypeError(
            "~ (operator.invert) is only implemented on integer and Boolean-type tensors"
        )
    return _bitwise_not(input)


expose(_invert, methods=(), operators=("__invert__",))


# ---------------------------------------------------------------------------------------- shifts
# PyTorch's CPU kernels: ``a << b`` is 0 and ``a >> b`` is the sign fill (0 or -1) when ``b`` is
# negative or at least the width of the type; XLA leaves those shifts implementation-defined.
def _operands(a, b):
    """Both operands as arrays of the (already promoted) tensor dtype, broadcast together."""
    dtype = a.dtype if hasattr(a, "dtype") else b.dtype
    return jnp.broadcast_arrays(jnp.asarray(a, dtype), jnp.asarray(b, dtype))


def _out_of_range(a, b):
    return (b < 0) | (b >= a.dtype.itemsize * 8)


@defop("BitwiseLeftShiftBackward0", promote="same")
def _left_shift(a, b):
    a, b = _operands(a, b)
    shifted = lax.shift_left(a, jnp.where(_out_of_range(a, b), 0, b))
    return jnp.where(_out_of_range(a, b), jnp.zeros((), a.dtype), shifted)


@defop("BitwiseRightShiftBackward0", promote="same")
def _right_shift(a, b):
    a, b = _operands(a, b)
    top = a.dtype.itemsize * 8 - 1
    # The arithmetic shift of a signed type (logical of an unsigned one) by width - 1 is the fill.
    shift = lax.shift_right_arithmetic if jnp.issubdtype(a.dtype, jnp.signedinteger) else None
    shift = shift or lax.shift_right_logical
    fill = shift(a, jnp.full_like(a, top)) if jnp.issubdtype(a.dtype, jnp.signedinteger) else 0
    shifted = shift(a, jnp.where(_out_of_range(a, b), 0, b))
    return jnp.where(_out_of_range(a, b), fill, shifted).astype(a.dtype)


def _shift(kernel: str, op, input, other) -> Tensor:
    dtype = _refuse_float(kernel, op, input, other)
    _refuse_bool(kernel, dtype)
    return op(input, other)


@expose(inplace=("bitwise_left_shift_", "__ilshift__"), operators=("__lshift__",))
def bitwise_left_shift(input, other) -> Tensor:
    """``input << other`` elementwise, on integers; shifts out of ``[0, bit width)`` give 0."""
    return _shift("lshift", _left_shift, input, other)


@expose(inplace=("bitwise_right_shift_", "__irshift__"), operators=("__rshift__",))
def bitwise_right_shift(input, other) -> Tensor:
    """``input >> other`` elementwise (arithmetic for signed integers); shifts out of
    ``[0, bit width)`` give the sign fill (0 or -1)."""
    return _shift("rshift", _right_shift, input, other)


expose(bitwise_left_shift, methods=(), reflected=("__rlshift__",))
expose(bitwise_right_shift, methods=(), reflected=("__rrshift__",))


# -------------------------------------------------------------------------------------- gcd, lcm
@defop("GcdBackward0", promote="same")
def _gcd(a, b):
    return jnp.gcd(a, b)


@defop("LcmBackward0", promote="same")
def _lcm(a, b):
    return jnp.lcm(a, b)


def _integer_pair(kernel: str, op, input, other) -> Tensor:
    for position, (name, x) in enumerate((("input", input), ("other", other)), start=1):
        if not isinstance(x, Tensor):
            raise TypeError(
                f"{kernel}(): argument '{name}' (position {position}) must be Tensor, not "
                f"{type(x).__name__}"
            )
    _refuse_bool(kernel, _refuse_float(kernel, op, input, other))
    return op(input, other)


@expose(inplace=True)
def gcd(input: Tensor, other: Tensor) -> Tensor:
    """Elementwise greatest common divisor of integer tensors (non-negative; ``gcd(0, 0) = 0``)."""
    return _integer_pair("gcd", _gcd, input, other)


@expose(inplace=True)
def lcm(input: Tensor, other: Tensor) -> Tensor:
    """Elementwise least common multiple of integer tensors (non-negative; 0 if either is 0)."""
    return _integer_pair("lcm", _lcm, input, other)


# ----------------------------------------------------------------------------------------- frexp
def _frexp_parts(x):
    """``(mantissa, exponent)`` with ``x = mantissa * 2**exponent`` and ``0.5 <= |mantissa| < 1``,
    read from the bits: XLA's CPU arithmetic flushes subnormal numbers to zero, so ``jnp.frexp``
    (and any rescaling) loses them, while PyTorch decomposes them exactly."""
    info = jnp.finfo(x.dtype)
    width, p = info.bits, info.nmant
    bias = int(info.maxexp) - 1
    uint = {16: jnp.uint16, 32: jnp.uint32, 64: jnp.uint64}[width]
    bits = lax.bitcast_convert_type(x, uint)
    one = uint(1)
    mant_mask = (one << uint(p)) - one
    exp_field = ((bits >> uint(p)) & ((one << uint(width - 1 - p)) - one)).astype(jnp.int32)
    mant = bits & mant_mask
    sign = bits & (one << uint(width - 1))
    special = exp_field == (1 << (width - 1 - p)) - 1  # inf and NaN
    sub = (exp_field == 0) & (mant != 0)
    # A subnormal's leading bit sits at ``top``; shifting it up to bit ``p`` (then dropping it)
    # gives the mantissa bits of the normalised number.
    top = (width - 1) - lax.clz(mant).astype(jnp.int32)
    up = jnp.where(sub, p - top, 0).astype(uint)
    norm_mant = jnp.where(sub, (mant << up) & mant_mask, mant)
    exponent = jnp.where(sub, top - p + 2 - bias, exp_field - bias + 1)
    m_bits = sign | (uint(bias - 1) << uint(p)) | norm_mant
    mantissa = lax.bitcast_convert_type(m_bits, x.dtype)
    keep = special | ((exp_field == 0) & (mant == 0))  # inf, NaN and zeros (not ``x == 0``:
    # the CPU's comparisons read subnormals as zero too)
    mantissa = jnp.where(keep, x, mantissa)
    exponent = jnp.where(keep, 0, exponent).astype(jnp.int32)
    return mantissa, exponent, sub


def _pow2(k, dtype):
    """``2.0**k`` in ``dtype`` for integers ``k`` of a normal number's range, built from the bits."""
    info = jnp.finfo(dtype)
    uint = {16: jnp.uint16, 32: jnp.uint32, 64: jnp.uint64}[info.bits]
    field = (k + int(info.maxexp) - 1).astype(uint) << uint(info.nmant)
    return lax.bitcast_convert_type(field, dtype)


def _frexp_scaled(v, x):
    """``v * 2**-exponent`` of ``frexp(x)``, as two power-of-two factors: ``2**-exponent`` alone
    leaves the normal range at both ends of it (and a subnormal factor would be flushed)."""
    e = _frexp_parts(x)[1]
    half = (-e) // 2
    return v * _pow2(half, x.dtype) * _pow2(-e - half, x.dtype)


@defop("FrexpBackward0", saves=(0,))
def _frexp_mantissa(a):
    # The product is exact (a power-of-two scaling); subnormal inputs, which the CPU flushes in
    # any product, take the mantissa read from their bits.
    bits_mantissa, _, sub = _frexp_parts(a)
    return jnp.where(sub, bits_mantissa, _frexp_scaled(a, a))


@_frexp_mantissa.vjp
def _(g, out, a):
    # mantissa = a * 2**-exponent with the exponent piecewise constant: d mantissa / da = 2**-e.
    return (_frexp_scale(g, a),)


@defop("FrexpBackward0", saves=(1,))
def _frexp_scale(v, a):
    """``v * 2**-exponent`` of ``frexp(a)`` (linear in ``v``; ``a`` only picks the exponent)."""
    return _frexp_scaled(v, a)


@_frexp_scale.vjp
def _(g, out, v, a):
    # ``a`` only selects the (piecewise constant) exponent: its gradient is zero.
    ga = a.new_zeros(tuple(a.shape)) if needs_grad(a) else None
    return (_frexp_scale(g, a) if needs_grad(v) else None), ga


@defop("FrexpBackward0")
def _frexp_exponent(a):
    return _frexp_parts(a)[1]


class _Frexp(tuple):
    """A ``(mantissa, exponent)`` pair, as PyTorch's ``torch.return_types.frexp``."""

    __slots__ = ()

    def __new__(cls, mantissa: Tensor, exponent: Tensor):
        return tuple.__new__(cls, (mantissa, exponent))

    mantissa = property(lambda self: self[0])
    exponent = property(lambda self: self[1])

    def __repr__(self) -> str:
        return f"tracegrad.return_types.frexp(\nmantissa={self[0]!r},\nexponent={self[1]!r})"


_Frexp.__name__ = _Frexp.__qualname__ = "frexp"
_Frexp.__module__ = "tracegrad.return_types"
return_types.frexp = _Frexp


@expose
def frexp(input: Tensor):
    """``(mantissa, exponent)`` with ``input = mantissa * 2**exponent``, ``0.5 <= |mantissa| < 1``
    (0, inf and NaN come back as themselves with exponent 0); the exponent is int32. Only the
    mantissa carries a gradient."""
    if not input.dtype.is_floating_point:
        raise RuntimeError("torch.frexp() only supports floating-point dtypes")
    return _Frexp(_frexp_mantissa(input), _frexp_exponent(input))


# ------------------------------------------------------------------------------------- nextafter
@defop("NextafterBackward0", promote="same")
def _nextafter(a, b):
    return _nextafter_bits(jnp.asarray(a), jnp.asarray(b))


def _nextafter_bits(a, b):
    """The next representable number after ``a`` towards ``b``, stepped on the bits (XLA's CPU
    arithmetic flushes the subnormals near 0, which ``jnp.nextafter`` returns as they are)."""
    a, b = jnp.broadcast_arrays(a, b)
    info = jnp.finfo(a.dtype)
    uint = {16: jnp.uint16, 32: jnp.uint32, 64: jnp.uint64}[info.bits]
    sint = {16: jnp.int16, 32: jnp.int32, 64: jnp.int64}[info.bits]
    bits = lax.bitcast_convert_type(a, sint)
    # Away from zero is one up in magnitude (the bits as an integer grow), towards it one down.
    away = (b > a) == (a > 0)
    step = jnp.where(away, 1, -1).astype(sint)
    stepped = lax.bitcast_convert_type(bits + step, a.dtype)
    smallest = lax.bitcast_convert_type(jnp.ones((), uint), a.dtype)  # the least subnormal
    from_zero = jnp.where(b > 0, smallest, -smallest)
    out = jnp.where(a == 0, from_zero, stepped)
    out = jnp.where(a == b, b, out)
    return jnp.where(jnp.isnan(a) | jnp.isnan(b), jnp.nan, out).astype(a.dtype)


@expose(inplace=True)
def nextafter(input: Tensor, other: Tensor) -> Tensor:
    """The next floating-point value after ``input`` towards ``other``, elementwise. PyTorch
    defines no derivative for it: with grad mode on, an input that requires grad raises (detach
    it first)."""
    for position, (name, x) in enumerate((("input", input), ("other", other)), start=1):
        if not isinstance(x, Tensor):
            raise TypeError(
                f"nextafter(): argument '{name}' (position {position}) must be Tensor, not "
                f"{type(x).__name__}"
            )
    dtype = _promote(_nextafter, (input, other))
    if not dtype.is_floating_point:
        raise NotImplementedError(
            f"\"nextafter_cpu\" not implemented for '{scalar_type_name(dtype)}'"
        )
    if is_grad_enabled() and (input.requires_grad or other.requires_grad):
        raise NotImplementedError(
            "the derivative for 'nextafter' is not implemented (PyTorch raises at backward); "
            "call nextafter on detached tensors, e.g. nextafter(x.detach(), other)"
        )
    return _nextafter(input, other)


# ---------------------------------------------------------------- comparison aliases, in place
greater = expose(gt, methods=("greater",), inplace=("gt_", "greater_"))
greater_equal = expose(ge, methods=("greater_equal",), inplace=("ge_", "greater_equal_"))
less = expose(lt, methods=("less",), inplace=("lt_", "less_"))
less_equal = expose(le, methods=("less_equal",), inplace=("le_", "less_equal_"))
not_equal = expose(ne, methods=("not_equal",), inplace=("ne_", "not_equal_"))
expose(eq, methods=(), inplace=("eq_",))
expose(logical_and, methods=(), inplace=("logical_and_",))
expose(logical_or, methods=(), inplace=("logical_or_",))
expose(logical_xor, methods=(), inplace=("logical_xor_",))
expose(logical_not, methods=(), inplace=("logical_not_",))
expose(true_divide, methods=(), inplace=("true_divide_",))
