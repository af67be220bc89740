"""Special and inverse functions, NaN handling and closeness tests: inverse and hyperbolic
trigonometry (``asin`` ... ``atanh`` and their ``arc*`` aliases, ``atan2``), ``hypot``,
``logaddexp``/``logaddexp2``, ``xlogy``, ``copysign``, ``heaviside``, ``sinc``, ``deg2rad``/
``rad2deg``, ``exp2``, ``float_power``, ``ldexp``, ``lgamma``/``digamma``/``polygamma``,
``erfinv``, ``logit``, ``i0``; the predicates ``isnan``, ``isinf``, ``isfinite``, ``isposinf``,
``isneginf``, ``signbit``, ``isclose`` (and the Python-bool ``allclose``, ``equal``); ``nan_to_num``,
``nansum``, ``nanmean`` and ``sgn``.

The float functions promote integer inputs to the default float dtype, as PyTorch. Rules follow
PyTorch's derivatives (``derivatives.yaml``), including its special values: ``logit`` without
``eps`` has a NaN gradient outside [0, 1] and with ``eps`` a zero one outside [eps, 1 - eps];
``copysign`` passes no gradient to ``other`` (nor to ``input`` where it is 0); ``nan_to_num``
passes none where the input is not finite; ``digamma`` is ``-inf`` at 0. ``heaviside`` has no derivative in PyTorch, so its
result never requires grad here.
"""

from __future__ import annotations

import math

import jax.numpy as jnp
import jax.scipy.special as jsp

from .._dtype import as_dtype, float64, get_default_dtype, scalar_type_name
from .._surface import expose
from ..tensor import Tensor
from .arith import pow
from .compare import eq, logical_not
from .elementwise import _public, cos, exp, log, rsqrt, sigmoid, sin, where
from .reduction import _dims, _restore
from .reduction import sum as _sum
from .registry import defop, needs_grad, not_implemented_rule

__all__ = [
    "asin",
    "acos",
    "atan",
    "sinh",
    "cosh",
    "asinh",
    "acosh",
    "atanh",
    "arcsin",
    "arccos",
    "arctan",
    "arcsinh",
    "arccosh",
    "arctanh",
    "atan2",
    "arctan2",
    "hypot",
    "logaddexp",
    "logaddexp2",
    "xlogy",
    "copysign",
    "heaviside",
    "sinc",
    "deg2rad",
    "rad2deg",
    "exp2",
    "float_power",
    "ldexp",
    "lgamma",
    "digamma",
    "polygamma",
    "erfinv",
    "logit",
    "i0",
    "isnan",
    "isinf",
    "isfinite",
    "isposinf",
    "isneginf",
    "signbit",
    "isclose",
    "allclose",
    "equal",
    "nan_to_num",
    "nansum",
    "nanmean",
    "sgn",
]

_LN2 = math.log(2.0)


def _overload_name(base: str, input, other) -> str:
    """``grad_fn`` name of a binary op either side of which may be a Python number, numbered as
    PyTorch numbers the overloads: ``0`` for two tensors, ``1`` for a number ``input``, ``2`` for
    a number ``other``."""
    if not isinstance(input, Tensor):
        return f"{base}1"
    if not isinstance(other, Tensor):
        return f"{base}2"
    return f"{base}0"


def _zero_where(cond, g):
    """``g`` where ``cond`` fails, else 0 (a mask, not a product: an inf in ``g`` stays out)."""
    return where(cond, 0.0, g)


def _require_tensor(op: str, name: str, position: int, x) -> None:
    if not isinstance(x, Tensor):
        raise TypeError(
            f"{op}(): argument '{name}' (position {position}) must be Tensor, not "
            f"{type(x).__name__}"
        )


def _require_float(op: str, *xs: Tensor) -> None:
    for x in xs:
        if not (x.dtype.is_floating_point or x.dtype.is_complex):
            raise NotImplementedError(
                f"\"{op}_cpu\" not implemented for '{scalar_type_name(x.dtype)}'"
            )


# ---------------------------------------------------------------- inverse and hyperbolic trig
@defop("AsinBackward0", promote="float")
def asin(a):
    """Arcsine (radians); NaN outside [-1, 1]."""
    return jnp.arcsin(a)


@asin.vjp
def _(g, out, a):
    return (g * rsqrt(1 - a * a),)


@defop("AcosBackward0", promote="float")
def acos(a):
    """Arccosine (radians); NaN outside [-1, 1]."""
    return jnp.arccos(a)


@acos.vjp
def _(g, out, a):
    return (-g * rsqrt(1 - a * a),)


@defop("AtanBackward0", promote="float")
def atan(a):
    """Arctangent (radians)."""
    return jnp.arctan(a)


@atan.vjp
def _(g, out, a):
    return (g / (a * a + 1),)


@defop("SinhBackward0", promote="float")
def sinh(a):
    """Hyperbolic sine."""
    return jnp.sinh(a)


@sinh.vjp
def _(g, out, a):
    return (g * cosh(a),)


@defop("CoshBackward0", promote="float")
def cosh(a):
    """Hyperbolic cosine."""
    return jnp.cosh(a)


@cosh.vjp
def _(g, out, a):
    return (g * sinh(a),)


@defop("AsinhBackward0", promote="float")
def asinh(a):
    """Inverse hyperbolic sine."""
    return jnp.arcsinh(a)


@asinh.vjp
def _(g, out, a):
    return (g * rsqrt(a * a + 1),)


@defop("AcoshBackward0", promote="float")
def acosh(a):
    """Inverse hyperbolic cosine; NaN below 1."""
    return jnp.arccosh(a)


@acosh.vjp
def _(g, out, a):
    return (g * rsqrt(a * a - 1),)


@defop("AtanhBackward0", promote="float")
def atanh(a):
    """Inverse hyperbolic tangent; NaN outside [-1, 1], infinite at the ends."""
    return jnp.arctanh(a)


@atanh.vjp
def _(g, out, a):
    return (g / (1 - a * a),)


arcsin, arccos, arctan = asin, acos, atan
arcsinh, arccosh, arctanh = asinh, acosh, atanh
_public(asin, "arcsin")
_public(acos, "arccos")
_public(atan, "arctan")
_public(sinh)
_public(cosh)
_public(asinh, "arcsinh")
_public(acosh, "arccosh")
_public(atanh, "arctanh")


# atan2(a, b) = angle of (b, a): d/da = b / (a^2 + b^2), d/db = -a / (a^2 + b^2).
@defop("Atan2Backward0", promote="float")
def _atan2(a, b):
    return jnp.arctan2(a, b)


@_atan2.vjp
def _(g, out, a, b):
    r = g / (a * a + b * b)
    return (r * b if needs_grad(a) else None, -r * a if needs_grad(b) else None)


def atan2(input: Tensor, other: Tensor) -> Tensor:
    """The angle (radians, in [-pi, pi]) of the point ``(other, input)``, elementwise."""
    _require_tensor("atan2", "other", 2, other)
    return _atan2(input, other)


arctan2 = atan2
_public(atan2, "arctan2")


# hypot = sqrt(a^2 + b^2): d/da = a / hypot (NaN at the origin, as PyTorch).
@defop("HypotBackward0", promote="same", save_out=True)
def _hypot(a, b):
    return jnp.hypot(a, b)


@_hypot.vjp
def _(g, out, a, b):
    r = g / out
    return (r * a if needs_grad(a) else None, r * b if needs_grad(b) else None)


def hypot(input: Tensor, other: Tensor) -> Tensor:
    """``sqrt(input ** 2 + other ** 2)`` without overflow; floating-point tensors only."""
    _require_tensor("hypot", "other", 2, other)
    _require_float("hypot", input, other)
    return _hypot(input, other)


_public(hypot)


# logaddexp = log(e^a + e^b): d/da = 1 / (1 + e^(b - a)) = sigmoid(a - b). The base-2 form has
# d/da = 1 / (1 + 2^(b - a)) = sigmoid((a - b) ln 2).
@defop("LogaddexpBackward0", promote="same")
def _logaddexp(a, b):
    return jnp.logaddexp(a, b)


@_logaddexp.vjp
def _(g, out, a, b):
    d = a - b
    return (
        g * sigmoid(d) if needs_grad(a) else None,
        g * sigmoid(-d) if needs_grad(b) else None,
    )


@defop("Logaddexp2Backward0", promote="same")
def _logaddexp2(a, b):
    return jnp.logaddexp2(a, b)


@_logaddexp2.vjp
def _(g, out, a, b):
    d = (a - b) * _LN2
    return (
        g * sigmoid(d) if needs_grad(a) else None,
        g * sigmoid(-d) if needs_grad(b) else None,
    )


def logaddexp(input: Tensor, other: Tensor) -> Tensor:
    """``log(exp(input) + exp(other))`` without overflow; floating-point tensors only."""
    _require_tensor("logaddexp", "other", 2, other)
    _require_float("logaddexp", input, other)
    return _logaddexp(input, other)


def logaddexp2(input: Tensor, other: Tensor) -> Tensor:
    """``log2(2 ** input + 2 ** other)`` without overflow; floating-point tensors only."""
    _require_tensor("logaddexp2", "other", 2, other)
    _require_float("logaddexp2", input, other)
    return _logaddexp2(input, other)


_public(logaddexp, inplace=False)
_public(logaddexp2, inplace=False)


# xlogy = a log(b), 0 where a == 0 (NaN where b is NaN). PyTorch's rule: d/da = log(b), 0 where
# a == 0 and b <= 0; d/db = a / b. The lowering computes a log(b) itself wherever that is 0 at
# a == 0 (b positive and finite), so its derivatives there are the rule's.
@defop(lambda p: p["name"], promote="float", fuse=True)
def _xlogy(a, b, *, name):
    zero = (a == 0) & ~jnp.isnan(b) & ((b <= 0) | jnp.isinf(b))
    return jnp.where(zero, 0, a * jnp.log(jnp.where(zero, 1, b)))


def _log_number(b: float) -> float:
    if b != b or b < 0:
        return math.nan
    return math.log(b) if b > 0 else -math.inf


@_xlogy.vjp
def _(g, out, a, b, *, name):
    ga = gb = None
    if needs_grad(a):
        if isinstance(b, Tensor):
            ga = where((a == 0) & (b <= 0), 0.0, g * log(b))
        else:
            ga = g * _log_number(b)
            ga = where(a == 0, 0.0, ga) if b <= 0 else ga
    if needs_grad(b):
        gb = g * a / b
    return ga, gb


def xlogy(input, other) -> Tensor:
    """``input * log(other)``, defined as 0 where ``input`` is 0 (NaN where ``other`` is NaN);
    either side may be a Python number."""
    return _xlogy(input, other, name=_overload_name("XlogyBackward", input, other))


_public(xlogy)


# copysign: |a| with b's sign. d/da = +-1 (-1 where the sign flipped), 0 where a == 0 (PyTorch's
# copysign_tensor_self_backward); ``other`` gets a zero gradient.
@defop(lambda p: p["name"], promote="float")
def _copysign(a, b, *, name):
    return jnp.copysign(a, b)


@_copysign.vjp
def _(g, out, a, b, *, name):
    ga = gb = None
    if needs_grad(a):
        b_neg = signbit(b) if isinstance(b, Tensor) else math.copysign(1.0, b) < 0
        flip = signbit(a) != b_neg
        ga = where(a == 0, 0.0, where(flip, -g, g))
    if needs_grad(b):
        gb = g * 0
    return ga, gb


def copysign(input: Tensor, other) -> Tensor:
    """The magnitude of ``input`` with the sign of ``other`` (a tensor or a number); integer
    inputs become the default float."""
    name = "CopysignBackward0" if isinstance(other, Tensor) else "CopysignBackward1"
    return _copysign(input, other, name=name)


_public(copysign)


# heaviside has no derivative in PyTorch: its result requires grad and a backward through it
# raises.
@defop("NotImplemented", fuse=True, saves=())
def _heaviside(a, values):
    return jnp.where(a == 0, values, (a > 0).astype(a.dtype))


_heaviside.vjp(not_implemented_rule("aten::heaviside"))


def heaviside(input: Tensor, values: Tensor) -> Tensor:
    """The step function: 0 where ``input < 0``, ``values`` where it is 0, 1 where positive.
    ``input`` and ``values`` must have the same dtype. Not differentiable (as in PyTorch)."""
    _require_tensor("heaviside", "values", 2, values)
    if input.dtype != values.dtype:
        raise RuntimeError("heaviside is not yet implemented for tensors with different dtypes.")
    return _heaviside(input, values)


_public(heaviside)


# --------------------------------------------------------------------------- unary float functions
# sinc(x) = sin(pi x) / (pi x), 1 at 0; sinc'(x) = (pi x cos(pi x) - sin(pi x)) / (pi x^2), 0 at 0
# (PyTorch's masked_fill). The 0 is masked out of a safe denominator, so nothing divides by 0.
@defop("SincBackward0", promote="float")
def sinc(a):
    """The normalised sinc ``sin(pi x) / (pi x)``, 1 at 0."""
    return jnp.sinc(a)


@sinc.vjp
def _(g, out, a):
    zero = a == 0
    x = where(zero, 1.0, a)
    px = x * math.pi
    d = (px * cos(px) - sin(px)) / (x * x * math.pi)
    return (_zero_where(zero, g * d),)


@defop("Deg2RadBackward0", promote="float", saves=())
def deg2rad(a):
    """Degrees to radians."""
    return a * (math.pi / 180.0)


@deg2rad.vjp
def _(g, out, a):
    return (g * (math.pi / 180.0),)


@defop("Rad2DegBackward0", promote="float", saves=())
def rad2deg(a):
    """Radians to degrees."""
    return a * (180.0 / math.pi)


@rad2deg.vjp
def _(g, out, a):
    return (g * (180.0 / math.pi),)


@defop("Exp2Backward0", promote="float", saves=(), save_out=True)
def exp2(a):
    """``2 ** input``."""
    return jnp.exp2(a)


@exp2.vjp
def _(g, out, a):
    return (g * out * _LN2,)


@defop("LgammaBackward0", promote="float")
def lgamma(a):
    """The log of the absolute value of the gamma function."""
    return jsp.gammaln(a)


@lgamma.vjp
def _(g, out, a):
    return (g * digamma(a),)


@defop("DigammaBackward0", promote="float")
def digamma(a):
    """The logarithmic derivative of the gamma function, ``lgamma'``; ``-inf`` at ``0.0`` and
    ``inf`` at ``-0.0``, NaN at the negative integers (PyTorch's values)."""
    return jnp.where(a == 0, jnp.copysign(jnp.inf, -a).astype(a.dtype), jsp.digamma(a))


@digamma.vjp
def _(g, out, a):
    return (g * _polygamma(a, n=1),)


@defop("PolygammaBackward0", promote="float")
def _polygamma(a, *, n):
    return jsp.polygamma(n, a)


@_polygamma.vjp
def _(g, out, a, *, n):
    return (g * _polygamma(a, n=n + 1),)


def polygamma(n: int, input: Tensor) -> Tensor:
    """The ``n``-th derivative of ``digamma`` (``n >= 0``)."""
    if int(n) < 0:
        raise RuntimeError("polygamma(n, x) does not support negative n.")
    return _polygamma(input, n=int(n))


def _polygamma_method(self: Tensor, n: int) -> Tensor:
    """``x.polygamma(n)`` is ``polygamma(n, x)``."""
    return polygamma(n, self)


expose(_polygamma_method, methods=("polygamma",), inplace=("polygamma_",))


# erfinv' = sqrt(pi) / 2 * exp(erfinv(x)^2). As PyTorch's rule, it recomputes erfinv(x) from the
# saved x rather than saving the output, so the result may be changed in place before backward.
@defop("ErfinvBackward0", promote="float", saves=(0,))
def erfinv(a):
    """The inverse error function; +-inf at +-1, NaN outside [-1, 1]."""
    return jsp.erfinv(a)


@erfinv.vjp
def _(g, out, a):
    y = erfinv(a)
    return (g * exp(y * y) * (math.sqrt(math.pi) / 2),)


# logit = log(x / (1 - x)) of x clamped to [eps, 1 - eps] when eps is given. PyTorch's
# logit_backward: 1 / (x (1 - x)) inside, NaN outside [0, 1] without eps, 0 outside the clamp.
@defop("LogitBackward0", promote="float", fuse=True)
def _logit(a, *, eps):
    if eps is not None:
        a = jnp.clip(a, eps, 1.0 - eps)
    return jnp.log(a / (1 - a))


@_logit.vjp
def _(g, out, a, *, eps):
    inner = g / (a * (1 - a))
    if eps is None:
        return (where((a < 0) | (a > 1), math.nan, inner),)
    return (_zero_where((a < eps) | (a > 1.0 - eps), inner),)


def logit(input: Tensor, eps: float | None = None) -> Tensor:
    """``log(p / (1 - p))``; with ``eps``, ``p`` is first clamped to ``[eps, 1 - eps]``."""
    return _logit(input, eps=None if eps is None else float(eps))


# i0' = i1; i1' = i0 - i1 / x (1/2 at 0), so second derivatives work too.
@defop("I0Backward0", promote="float")
def i0(a):
    """The modified Bessel function of the first kind, order 0."""
    return jsp.i0(a)


@i0.vjp
def _(g, out, a):
    return (g * _i1(a),)


@defop("SpecialI1Backward0", promote="float")
def _i1(a):
    return jsp.i1(a)


@_i1.vjp
def _(g, out, a):
    zero = a == 0
    x = where(zero, 1.0, a)
    return (g * where(zero, 0.5, i0(a) - _i1(x) / x),)


for _op in (sinc, deg2rad, rad2deg, exp2, lgamma, digamma, erfinv, i0):
    _public(_op)
_public(logit)


# float_power computes in float64: the operands are cast, then it is ``pow``.
def float_power(input, exponent) -> Tensor:
    """``input ** exponent`` computed in float64 (either side may be a Python number)."""
    base = input.to(float64) if isinstance(input, Tensor) else float(input)
    power = exponent.to(float64) if isinstance(exponent, Tensor) else float(exponent)
    return pow(base, power)


def _float_power_inplace(input: Tensor, exponent) -> Tensor:
    """``x.float_power_(e)``: only a float64 ``x`` can hold the result."""
    if input.dtype != float64:
        raise RuntimeError(
            f"the base given to float_power_ has dtype {scalar_type_name(input.dtype)} but the "
            "operation's result requires dtype Double"
        )
    return float_power(input, exponent)


expose(float_power)
expose(_float_power_inplace, methods=(), inplace=("float_power_",))


# ldexp = a 2^b: d/da = 2^b, d/db = a 2^b ln 2.
@defop("LdexpBackward0", promote="float")
def _ldexp(a, b):
    return a * jnp.exp2(b)


@_ldexp.vjp
def _(g, out, a, b):
    p = exp2(b)
    return (g * p if needs_grad(a) else None, g * a * p * _LN2 if needs_grad(b) else None)


def ldexp(input: Tensor, other: Tensor) -> Tensor:
    """``input * 2 ** other``; integer inputs become the default float."""
    _require_tensor("ldexp", "other", 2, other)
    return _ldexp(input, other)


_public(ldexp)


# ------------------------------------------------------------------------------------ predicates
# Bool results, no rules.
def _predicate(name: str, float_fn, int_value, doc: str):
    def lowering(a):
        if jnp.issubdtype(a.dtype, jnp.inexact):
            return float_fn(a)
        return jnp.full(a.shape, int_value(a) if callable(int_value) else int_value, jnp.bool_)

    lowering.__doc__ = doc
    op = defop(name[0].upper() + name[1:] + "Backward0", name=name)(lowering)
    return expose(op)


isnan = _predicate("isnan", jnp.isnan, False, "True where ``input`` is NaN.")
isinf = _predicate("isinf", jnp.isinf, False, "True where ``input`` is +inf or -inf.")
isfinite = _predicate("isfinite", jnp.isfinite, True, "True where ``input`` is finite.")
isposinf = _predicate("isposinf", jnp.isposinf, False, "True where ``input`` is +inf.")
isneginf = _predicate("isneginf", jnp.isneginf, False, "True where ``input`` is -inf.")


@defop("SignbitBackward0")
def signbit(a):
    """True where the sign bit of ``input`` is set (``-0.0`` included)."""
    if a.dtype == jnp.bool_:
        return jnp.zeros(a.shape, jnp.bool_)
    return jnp.signbit(a)


expose(signbit)


# PyTorch's isclose: equal, or both NaN with ``equal_nan``, or |a - b| finite and
# <= atol + rtol |b| (computed in the default float dtype for integer inputs).
@defop("IscloseBackward0")
def _isclose(a, b, *, rtol, atol, equal_nan, fdtype):
    close = a == b
    if equal_nan and jnp.issubdtype(a.dtype, jnp.inexact):
        close = close | (jnp.isnan(a) & jnp.isnan(b))
    if rtol == 0 and atol == 0:
        return close
    if a.dtype == jnp.bool_:
        a, b = a.astype(fdtype), b.astype(fdtype)
    fb = b if jnp.issubdtype(b.dtype, jnp.inexact) else b.astype(fdtype)
    allowed = atol + jnp.abs(rtol * fb)
    actual = jnp.abs(a - b)
    return close | (jnp.isfinite(actual) & (actual <= allowed))


def isclose(
    input: Tensor, other: Tensor, rtol: float = 1e-05, atol: float = 1e-08, equal_nan: bool = False
) -> Tensor:
    """Elementwise ``|input - other| <= atol + rtol * |other|`` (or equal; NaNs equal each other
    only with ``equal_nan``). Both tensors must have the same dtype."""
    _require_tensor("isclose", "other", 2, other)
    if input.dtype != other.dtype:
        raise RuntimeError(
            f"{scalar_type_name(input.dtype)} did not match {scalar_type_name(other.dtype)}"
        )
    if rtol < 0:
        raise RuntimeError(f"rtol must be greater than or equal to zero, but got {rtol}")
    if atol < 0:
        raise RuntimeError(f"atol must be greater than or equal to zero, but got {atol}")
    return _isclose(
        input,
        other,
        rtol=float(rtol),
        atol=float(atol),
        equal_nan=bool(equal_nan),
        fdtype=get_default_dtype().np,
    )


def allclose(
    input: Tensor, other: Tensor, rtol: float = 1e-05, atol: float = 1e-08, equal_nan: bool = False
) -> bool:
    """Whether every element of ``input`` is close to ``other`` (``isclose(...).all()``), as a
    Python bool."""
    return bool(isclose(input, other, rtol, atol, equal_nan).all())


def equal(input: Tensor, other: Tensor) -> bool:
    """True if the two tensors have the same shape and equal elements (after promotion; NaN is
    never equal), as a Python bool."""
    _require_tensor("equal", "other", 2, other)
    if tuple(input.shape) != tuple(other.shape):
        return False
    return bool(eq(input, other).all())


expose(isclose)
expose(allclose)
expose(equal)


# ------------------------------------------------------------------------- NaN handling, sgn
@defop("NanToNumBackward0")
def _nan_to_num(a, *, nan, posinf, neginf):
    if not jnp.issubdtype(a.dtype, jnp.inexact):
        return a
    return jnp.nan_to_num(a, nan=nan, posinf=posinf, neginf=neginf)


# PyTorch's rule is the product ``grad * isfinite(input)`` (an inf cotangent at a replaced element
# gives NaN there, and a negative one -0.0). Written with ``where``: in a compiled program XLA turns
# a product with a mask into a select, which would give 0 there.
@_nan_to_num.vjp
def _(g, out, a, *, nan, posinf, neginf):
    return (where(isfinite(a), g, g * 0.0),)


def nan_to_num(
    input: Tensor, nan: float = 0.0, posinf: float | None = None, neginf: float | None = None
) -> Tensor:
    """NaN replaced by ``nan``, +inf by ``posinf`` and -inf by ``neginf`` (by default the dtype's
    largest and lowest finite values); the gradient is zero at the replaced elements."""
    return _nan_to_num(
        input,
        nan=float(nan),
        posinf=None if posinf is None else float(posinf),
        neginf=None if neginf is None else float(neginf),
    )


_public(nan_to_num)


@defop("NansumBackward0")
def _nansum(a, *, dim, keepdim, dtype):
    return jnp.nansum(a, axis=dim, keepdims=keepdim, dtype=dtype)


# PyTorch's rule is the product ``grad * isnan(input).logical_not()``, so an infinite cotangent
# (nanmean of an all-NaN slice divides by 0) gives NaN, as in PyTorch. Written with ``where``, as
# nan_to_num's: XLA would turn the product with a mask into a select, giving 0.
@_nansum.vjp
def _(g, out, a, *, dim, keepdim, dtype):
    g = _restore(g, a.shape, dim, keepdim)
    return (where(isnan(a), g * 0.0, g),)


def nansum(input: Tensor, dim=None, keepdim: bool = False, *, dtype=None) -> Tensor:
    """Sum over ``dim`` (all dimensions when None) treating NaN as 0; integer and bool inputs sum
    as int64."""
    if dtype is None and not input.dtype.is_floating_point:
        dtype = "int64"
    return _nansum(
        input,
        dim=_dims(dim, input.ndim),
        keepdim=keepdim,
        dtype=None if dtype is None else as_dtype(dtype).np,
    )


def nanmean(input: Tensor, dim=None, keepdim: bool = False, *, dtype=None) -> Tensor:
    """The mean over ``dim`` of the non-NaN elements (``nansum / count``, recorded as a
    division, as PyTorch)."""
    if not input.dtype.is_floating_point:
        raise RuntimeError(
            "nanmean(): expected input to have floating point or complex dtype but got "
            f"{scalar_type_name(input.dtype)}"
        )
    if dtype is not None and not as_dtype(dtype).is_floating_point:
        raise RuntimeError(
            "nanmean(): could not infer output dtype. Optional dtype must be either a floating "
            f"point or complex dtype. Got: {scalar_type_name(as_dtype(dtype))}"
        )
    count = _sum(logical_not(isnan(input)), dim, keepdim)
    return nansum(input, dim, keepdim, dtype=dtype) / count


nansum = expose(nansum)  # rebound: expose adds the ``keepdims=`` alias
nanmean = expose(nanmean)


@defop("SgnBackward0", saves=(), fuse=True)
def sgn(a):
    """The sign of each element (-1, 0 or 1; 0 at NaN); for real tensors the same as ``sign``, for
    complex ones ``z / abs(z)`` (0 at 0)."""
    if jnp.iscomplexobj(a):
        mag = jnp.abs(a)
        return jnp.where(mag == 0, jnp.zeros((), a.dtype), a / jnp.where(mag == 0, 1, mag))
    if jnp.issubdtype(a.dtype, jnp.inexact):
        return (a > 0).astype(a.dtype) - (a < 0).astype(a.dtype)
    return jnp.sign(a)


@sgn.vjp
def _(g, out, a):
    return (g * 0,)


_public(sgn)
