"""The functions of ``torch.special`` that no other family holds: ``entr``, ``erfcx``, ``i0e``,
``i1e``, ``log_ndtr``, ``ndtri``, the regularized incomplete gamma functions (``igamma`` and
``igammac``), the Hurwitz ``zeta``, ``xlog1py`` and the multivariate log-gamma ``mvlgamma``, all
with PyTorch's derivatives; and the functions PyTorch gives no derivative: the Airy function
``airy_ai``, the Bessel functions ``J0``, ``J1``, ``Y0``, ``Y1``, the modified ones ``I0``, ``I1``,
``K0``, ``K1`` (and ``K`` scaled by ``exp(x)``), the spherical ``j0``, and the orthogonal
polynomials (Chebyshev ``T``, ``U``, ``V``, ``W`` and their shifted forms, Hermite ``H`` and
``He``, Laguerre ``L``, Legendre ``P``).

The polynomials follow PyTorch's evaluation exactly: ``n`` is truncated to an integer (negative,
NaN or infinite ``n`` gives 0), the values at the interval's ends are exact, Chebyshev polynomials
of high degree inside the interval use their trigonometric forms and the rest use the three-term
recurrence, run for all elements at once up to the largest degree. The Bessel and Airy functions
are evaluated here with our own methods, to double precision: power series near 0, the
trapezoidal rule on their periodic (Bessel's) or doubly decaying integral representations in the
middle range, where it converges geometrically, and the Hankel asymptotic expansions beyond.
"""

from __future__ import annotations

import math

import jax.numpy as jnp
import jax.scipy.special as jsp
import numpy as np
from jax import lax

from .._dtype import scalar_type_name
from .._surface import expose
from ..tensor import Tensor
from .elementwise import exp, log, log1p, where
from .mathfns import _i1, _overload_name, digamma, lgamma, sgn
from .registry import _promote, defop, needs_grad

__all__ = ["igamma", "igammac", "mvlgamma"]

_SQRT_2PI = math.sqrt(2.0 * math.pi)
_EULER = 0.57721566490153286061


def _require_tensor(op: str, name: str, position: int, x) -> None:
    if not isinstance(x, Tensor):
        raise TypeError(
            f"{op}(): argument '{name}' (position {position}) must be Tensor, not "
            f"{type(x).__name__}"
        )


# ------------------------------------------------------------------ differentiable unary functions
# entr = -x log x (0 at 0, -inf below); PyTorch's rule -(1 + log x), inf at 0 and NaN below.
@defop("SpecialEntrBackward0", promote="float", fuse=True)
def entr(a):
    """The entropy term ``-x * log(x)``: 0 at 0 and ``-inf`` for negative ``x``."""
    safe = jnp.where(a > 0, a, 1)
    return jnp.where(a > 0, -a * jnp.log(safe), jnp.where(a == 0, 0, jnp.where(a < 0, -jnp.inf, a)))


@entr.vjp
def _(g, out, a):
    return (g * -(1 + log(a)),)


# erfcx = exp(x^2) erfc(x): erfcx' = 2 x erfcx(x) - 2 / sqrt(pi). Evaluated here rather than by
# jax.scipy.special.erfcx, which loses digits in float64 and returns 0 around x = 9.3 in float32:
# below 12 (8 in float32) as exp(x^2) erfc(x), with x^2 split into an exact square and a small rest (so exp does
# not amplify the rounding of x^2), and above 12 by the asymptotic series
# 1 / (x sqrt(pi)) sum_k (-1)^k (2k - 1)!! / (2 x^2)^k, whose 12 terms are below double precision.
_ERFCX_SERIES = [(-1) ** k * math.prod(range(1, 2 * k, 2)) / 2**k for k in range(12)]


@defop("SpecialErfcxBackward0", promote="float", save_out=True, fuse=True)
def erfcx(a):
    """The scaled complementary error function ``exp(x ** 2) * erfc(x)``, without overflow."""
    # the switch sits below where exp(x^2) would overflow the dtype
    bits, switch = {"float64": (16, 12.0), "float16": (4, 3.0)}.get(a.dtype.name, (8, 8.0))
    near = jnp.clip(a, -30.0, switch)
    head = jnp.floor(near * 2**bits) / 2**bits
    square = jnp.exp(head * head) * jnp.exp((near - head) * (near + head))
    small = square * lax.erfc(near)
    far = jnp.maximum(a, switch)
    big = _poly_eval(_ERFCX_SERIES, 1 / (far * far)) / (far * math.sqrt(math.pi))
    value = jnp.where(a <= switch, small, big)
    return jnp.where(jnp.isneginf(a), jnp.inf, jnp.where(a < -27, jnp.inf, value))


@erfcx.vjp
def _(g, out, a):
    return (g * (2 * a * out - 2 / math.sqrt(math.pi)),)


# i0e = exp(-|x|) i0(x): i0e' = i1e(x) - sgn(x) i0e(x), as PyTorch.
@defop("SpecialI0EBackward0", promote="float", save_out=True)
def i0e(a):
    """The exponentially scaled modified Bessel function of order 0, ``exp(-|x|) * i0(x)``."""
    return jsp.i0e(a)


@i0e.vjp
def _(g, out, a):
    return (g * (i1e(a) - sgn(a) * out),)


# i1e = exp(-|x|) i1(x): i1e' = i0e(x) - i1e(x) (sgn(x) + 1 / x), 1/2 at 0 (PyTorch's
# i1e_backward); the 0 is masked out of a safe denominator.
@defop("SpecialI1EBackward0", promote="float", save_out=True)
def i1e(a):
    """The exponentially scaled modified Bessel function of order 1, ``exp(-|x|) * i1(x)``."""
    return jsp.i1e(a)


@i1e.vjp
def _(g, out, a):
    zero = a == 0
    x = where(zero, 1.0, a)
    return (g * where(zero, 0.5, i0e(a) - out * (sgn(a) + 1 / x)),)


# log_ndtr' = exp(-x^2 / 2 - log_ndtr(x)) / sqrt(2 pi): the density over the distribution function,
# in logs so that it stays finite far in the left tail.
@defop("SpecialLogNdtrBackward0", promote="float", save_out=True)
def log_ndtr(a):
    """The log of the standard normal distribution function, accurate in both tails."""
    return jsp.log_ndtr(a)


@log_ndtr.vjp
def _(g, out, a):
    return (g * exp(-(out + a * a / 2)) / _SQRT_2PI,)


# ndtri' = sqrt(2 pi) exp(ndtri(p)^2 / 2): one over the density at the quantile.
@defop("SpecialNdtriBackward0", promote="float", saves=(), save_out=True)
def ndtri(a):
    """The standard normal quantile function (the inverse of ``ndtr``); +-inf at 0 and 1."""
    return jsp.ndtri(a)


@ndtri.vjp
def _(g, out, a):
    return (g * _SQRT_2PI * exp(out * out / 2),)


# ------------------------------------------------------------------- incomplete gamma functions
# d/dx P(a, x) = x^(a - 1) exp(-x) / Gamma(a) (and minus that for Q = 1 - P). PyTorch has no
# derivative in ``a`` and raises when one is asked for, with these messages.
def _igamma_rule(name: str, sign: float):
    def rule(g, out, a, x):
        if needs_grad(a):
            raise NotImplementedError(f"the derivative for '{name}: input' is not implemented.")
        gx = None
        if needs_grad(x):
            if isinstance(a, Tensor) and not a.dtype.is_floating_point:
                a = a.to(g.dtype)  # lgamma of an integer tensor would be the default float
            gx = g * exp((a - 1) * log(x) - x - lgamma(a)) * sign
        return None, gx

    return rule


# At a = +inf and a finite x, PyTorch gives P = 0 and Q = 1 (the limits), where jax gives NaN.
@defop("IgammaBackward0", promote="same")
def _igamma(a, x):
    return jnp.where(jnp.isposinf(a) & jnp.isfinite(x), 0, jsp.gammainc(a, x))


@defop("IgammacBackward0", promote="same")
def _igammac(a, x):
    return jnp.where(jnp.isposinf(a) & jnp.isfinite(x), 1, jsp.gammaincc(a, x))


_igamma.vjp(_igamma_rule("igamma", 1.0))
_igammac.vjp(_igamma_rule("igammac", -1.0))


def _check_igamma(op: str, name: str, input, other, kernel) -> None:
    _require_tensor(op, "input", 1, input)
    _require_tensor(op, "other", 2, other)
    dtype = _promote(kernel, (input, other))
    if not dtype.is_floating_point:
        raise NotImplementedError(f"\"{name}_cpu\" not implemented for '{scalar_type_name(dtype)}'")


def igamma(input: Tensor, other: Tensor) -> Tensor:
    """The regularized lower incomplete gamma function ``P(input, other)``; differentiable in
    ``other`` only, as in PyTorch."""
    _check_igamma("igamma", "igamma", input, other, _igamma)
    return _igamma(input, other)


def igammac(input: Tensor, other: Tensor) -> Tensor:
    """The regularized upper incomplete gamma function ``Q(input, other) = 1 - P(input, other)``;
    differentiable in ``other`` only, as in PyTorch."""
    _check_igamma("igammac", "igammac", input, other, _igammac)
    return _igammac(input, other)


expose(igamma, inplace=True)
expose(igammac, inplace=True)


# ---------------------------------------------------------------------------- zeta and xlog1py
# The Hurwitz zeta(x, q) = sum_k (k + q)^-x: d/dq = -x zeta(x + 1, q); PyTorch has no derivative in
# x and raises when one is asked for.
# At x = +inf PyTorch gives 1 for q == 1 and inf for q < 1 (the limits) and NaN above, where jax
# gives NaN throughout.
@defop(lambda p: p["name"], promote="float")
def _zeta(x, q, *, name):
    at_inf = jnp.where(q == 1, 1, jnp.where(q < 1, jnp.inf, jnp.nan))
    return jnp.where(jnp.isposinf(x), at_inf, jsp.zeta(x, q))


@_zeta.vjp
def _(g, out, x, q, *, name):
    if needs_grad(x):
        raise NotImplementedError("the derivative for 'zeta' is not implemented.")
    gq = None
    if needs_grad(q):
        gq = g * -x * _zeta(x + 1, q, name="SpecialZetaBackward0")
    return None, gq


def zeta(input, other) -> Tensor:
    """The Hurwitz zeta function ``sum_k (k + other) ** -input``; either side may be a Python
    number. Differentiable in ``other`` only, as in PyTorch."""
    if not isinstance(input, Tensor) and not isinstance(other, Tensor):
        raise TypeError(
            "special_zeta() received an invalid combination of arguments - got "
            f"({type(input).__name__}, {type(other).__name__}), but expected one of: (Tensor "
            "input, Tensor other), (Number self, Tensor other), (Tensor input, Number other)"
        )
    return _zeta(input, other, name=_overload_name("SpecialZetaBackward", input, other))


# xlog1py = a log1p(b), 0 where a == 0 (NaN where b is NaN). As for xlogy, the lowering computes
# a log1p(b) itself wherever that is 0 at a == 0, so its derivatives there are PyTorch's rule:
# d/da = log1p(b), 0 where a == 0 and b <= -1; d/db = a / (1 + b).
@defop(lambda p: p["name"], promote="float", fuse=True)
def _xlog1py(a, b, *, name):
    zero = (a == 0) & ~jnp.isnan(b) & ((b <= -1) | jnp.isinf(b))
    return jnp.where(zero, 0, a * jnp.log1p(jnp.where(zero, 0, b)))


def _log1p_number(b: float) -> float:
    if b != b or b < -1:
        return math.nan
    return math.log1p(b) if b > -1 else -math.inf


@_xlog1py.vjp
def _(g, out, a, b, *, name):
    ga = gb = None
    if needs_grad(a):
        if isinstance(b, Tensor):
            ga = where((a == 0) & (b <= -1), 0.0, g * log1p(b))
        else:
            ga = g * _log1p_number(b)
            ga = where(a == 0, 0.0, ga) if b <= -1 else ga
    if needs_grad(b):
        gb = g * a / (b + 1)
    return ga, gb


def xlog1py(input, other) -> Tensor:
    """``input * log1p(other)``, defined as 0 where ``input`` is 0 (NaN where ``other`` is NaN);
    either side may be a Python number."""
    return _xlog1py(input, other, name=_overload_name("SpecialXlog1PyBackward", input, other))


# mvlgamma(x, p) = p (p - 1) / 4 log(pi) + sum_{j < p} lgamma(x - j / 2), so its derivative is
# sum_{j < p} digamma(x - j / 2) (PyTorch's mvlgamma_backward).
@defop("MvlgammaBackward0", promote="float")
def _mvlgamma(a, *, p):
    total = jnp.full(a.shape, p * (p - 1) / 4 * math.log(math.pi), a.dtype)
    for j in range(p):
        total = total + jsp.gammaln(a - j / 2)
    return total


@_mvlgamma.vjp
def _(g, out, a, *, p):
    total = digamma(a)
    for j in range(1, p):
        total = total + digamma(a - j / 2)
    return (g * total,)


def _check_p(op: str, p) -> int:
    if isinstance(p, bool) or not isinstance(p, (int, np.integer)):
        raise TypeError(f"{op}(): argument 'p' (position 2) must be int, not {type(p).__name__}")
    if p < 1:
        raise RuntimeError("p has to be greater than or equal to 1")
    return int(p)


def mvlgamma(input: Tensor, p: int) -> Tensor:
    """The multivariate log-gamma function of dimension ``p``:
    ``p (p - 1) / 4 log(pi) + sum_{j < p} lgamma(input - j / 2)``."""
    return _mvlgamma(input, p=_check_p("mvlgamma", p))


expose(mvlgamma, inplace=True)


# ------------------------------------------------------- functions without a derivative in PyTorch
# These ops have no rule, so their results never require grad (as PyTorch's). PyTorch has CPU
# kernels for float32 and float64 only.
def _require_float32_or_64(name: str, dtype) -> None:
    if dtype.name in ("float16", "bfloat16"):
        raise NotImplementedError(f"\"{name}_cpu\" not implemented for '{scalar_type_name(dtype)}'")


def _nondifferentiable(name: str, lowering, doc: str):
    """The op ``name`` (no rule) and its public function."""
    lowering.__doc__ = doc
    op = defop(
        f"Special{name.title().replace('_', '')}Backward0",
        promote="float",
        fuse=True,
        name=f"special_{name}",
    )(lowering)

    def public(input: Tensor) -> Tensor:
        _require_tensor(f"special_{name}", "input", 1, input)
        _require_float32_or_64(name, _promote(op, (input,)))
        return op(input)

    public.__name__ = public.__qualname__ = name
    public.__doc__ = doc
    return public


def _poly_eval(coefficients, z):
    """``sum_k coefficients[k] z^k`` by Horner's rule."""
    total = jnp.zeros_like(z) + float(coefficients[-1])
    for c in coefficients[-2::-1]:
        total = total * z + float(c)  # Python floats: a float32 ``z`` stays float32
    return total


def _hankel_coefficients(nu: float, count: int) -> np.ndarray:
    """The coefficients ``a_k(nu) = prod_{j <= k} (4 nu^2 - (2j - 1)^2) / (k! 8^k)`` of the
    Hankel expansions of Bessel functions for large arguments."""
    out = [1.0]
    for k in range(1, count):
        out.append(out[-1] * (4 * nu * nu - (2 * k - 1) ** 2) / (k * 8))
    return np.array(out)


def _hankel_pq(nu: float, z):
    """``P`` and ``Q`` of the Hankel expansion of order ``nu`` at ``z`` (large): ``J = sqrt(2 /
    (pi z)) (P cos(chi) - Q sin(chi))`` and ``Y = sqrt(2 / (pi z)) (P sin(chi) + Q cos(chi))``
    with ``chi = z - nu pi / 2 - pi / 4``. Truncated at 28 terms: for ``z >= 25`` the terms
    beyond are below double precision."""
    a = _hankel_coefficients(nu, 28)
    w = 1 / (z * z)
    p = _poly_eval([(-1) ** k * a[2 * k] for k in range(14)], w)
    q = _poly_eval([(-1) ** k * a[2 * k + 1] for k in range(14)], w) / z
    return p, q


def _shifted_cos_sin(z, shift: float):
    """``cos(z - shift)`` and ``sin(z - shift)``, expanded so that a large ``z`` is reduced once."""
    c, s = jnp.cos(z), jnp.sin(z)
    return c * math.cos(shift) + s * math.sin(shift), s * math.cos(shift) - c * math.sin(shift)


# J_m(x) = (1 / 2 pi) int_0^2pi cos(m t - x sin t) dt, a periodic integrand: the trapezoidal rule
# with N nodes is exact up to J_{N - m}(x), below double precision for N - m > x + 70 when x <= 25.
# With the cosines and sines of m t_j tabulated, all orders come from one matrix product.
_TRAP_NODES = 176
_TRAP_ORDERS = 74
_t = 2 * np.pi * np.arange(_TRAP_NODES) / _TRAP_NODES
_TRAP_SIN = np.sin(_t)
_TRAP_COS_TABLE = np.cos(np.outer(_t, np.arange(_TRAP_ORDERS))) / _TRAP_NODES
_TRAP_SIN_TABLE = np.sin(np.outer(_t, np.arange(_TRAP_ORDERS))) / _TRAP_NODES
_BESSEL_MID = 25.0


def _bessel_j_orders(x):
    """``J_m(x)`` for ``m = 0 .. 73`` along a new last axis, for ``|x| <= 25``."""
    phase = x[..., None] * _TRAP_SIN.astype(x.dtype)
    hi = lax.Precision.HIGHEST
    return jnp.matmul(jnp.cos(phase), _TRAP_COS_TABLE.astype(x.dtype), precision=hi) + jnp.matmul(
        jnp.sin(phase), _TRAP_SIN_TABLE.astype(x.dtype), precision=hi
    )


def _series(coefficients, z):
    return _poly_eval(list(coefficients), z)


_FACT = [math.factorial(k) for k in range(40)]
_J0_SERIES = [(-1) ** k / _FACT[k] ** 2 for k in range(24)]
_J1_SERIES = [(-1) ** k / (_FACT[k] * _FACT[k + 1]) for k in range(24)]
_BESSEL_SMALL = 4.0


def _bessel_j(x, order: int):
    """``J0`` or ``J1``: the power series for ``|x| < 4`` (relative accuracy near 0), the
    trapezoidal rule up to 25, the Hankel expansion beyond; NaN at +-inf as PyTorch."""
    ax = jnp.abs(x)
    z = ax * ax / 4
    if order == 0:
        small = _series(_J0_SERIES, z)
    else:
        small = ax / 2 * _series(_J1_SERIES, z)
    mid = _bessel_j_orders(jnp.minimum(ax, _BESSEL_MID))[..., order]
    big_x = jnp.maximum(ax, _BESSEL_MID)
    p, q = _hankel_pq(order, big_x)
    c, s = _shifted_cos_sin(big_x, (2 * order + 1) * math.pi / 4)
    big = jnp.sqrt(2 / (math.pi * big_x)) * (p * c - q * s)
    value = jnp.where(ax < _BESSEL_SMALL, small, jnp.where(ax <= _BESSEL_MID, mid, big))
    if order == 1:
        value = jnp.where(x < 0, -value, value)
    return jnp.where(jnp.isinf(x), jnp.nan, value)


# Y0 from Neumann's series, Y0 = (2 / pi)(log(x / 2) + gamma) J0 - (4 / pi) sum_k (-1)^k J_2k / k,
# and Y1 = -Y0' from its derivative (J_m' = (J_{m-1} - J_{m+1}) / 2): every J_m from the one
# trapezoidal product above; the terms are bounded, so nothing cancels badly for 0 < x <= 25.
_NEUMANN_K = np.arange(1, (_TRAP_ORDERS - 1) // 2 + 1)
_NEUMANN_SIGN = (-1.0) ** _NEUMANN_K / _NEUMANN_K


def _bessel_y(x, order: int):
    """``Y0`` or ``Y1`` for real ``x``: NaN below 0 and at +-inf, ``-inf`` at 0 (PyTorch's)."""
    mid_x = jnp.clip(x, jnp.finfo(x.dtype).tiny, _BESSEL_MID)
    j = _bessel_j_orders(mid_x)
    log_term = (jnp.log(mid_x / 2) + _EULER) * (2 / math.pi)
    k = _NEUMANN_K
    sign = _NEUMANN_SIGN.astype(x.dtype)
    if order == 0:
        mid = log_term * j[..., 0] - (4 / math.pi) * jnp.sum(sign * j[..., 2 * k], axis=-1)
    else:
        diff = j[..., 2 * k - 1] - j[..., 2 * k + 1]
        mid = (
            -(2 / math.pi) * j[..., 0] / mid_x
            + log_term * j[..., 1]
            + (2 / math.pi) * jnp.sum(sign * diff, axis=-1)
        )
    big_x = jnp.maximum(x, _BESSEL_MID)
    p, q = _hankel_pq(order, big_x)
    c, s = _shifted_cos_sin(big_x, (2 * order + 1) * math.pi / 4)
    big = jnp.sqrt(2 / (math.pi * big_x)) * (p * s + q * c)
    value = jnp.where(x <= _BESSEL_MID, mid, big)
    value = jnp.where(x == 0, -jnp.inf, value)
    return jnp.where((x < 0) | jnp.isinf(x) | jnp.isnan(x), jnp.nan, value)


# K_nu(x) exp(x) = int_0^inf exp(-2 x sinh^2(t / 2)) cosh(nu t) dt: for x >= 2 the integrand decays
# doubly exponentially, and the trapezoidal rule on the (even) integrand converges geometrically;
# a step of 0.1 to t = 4.5 is below double precision up to x = 25. Series below 2, asymptotic
# expansion above 25.
_K_STEP = 0.1
_K_T = np.arange(0, 46) * _K_STEP
_K_WEIGHTS = np.full(_K_T.shape, _K_STEP)
_K_WEIGHTS[0] = _K_STEP / 2
_K_SINH2 = 2 * np.sinh(_K_T / 2) ** 2
_K_LOW, _K_HIGH = 2.0, 25.0


def _scaled_k_integral(x, nu: float):
    """``exp(x) K_nu(x)`` for ``2 <= x <= 25``."""
    f = jnp.exp(-x[..., None] * _K_SINH2.astype(x.dtype)) * np.cosh(nu * _K_T).astype(x.dtype)
    return jnp.sum(f * _K_WEIGHTS.astype(x.dtype), axis=-1)


def _scaled_k_asymptotic(x, nu: float):
    """``exp(x) K_nu(x)`` for ``x >= 25``: ``sqrt(pi / (2x)) sum_k a_k(nu) / x^k``."""
    a = _hankel_coefficients(nu, 28)
    return jnp.sqrt(math.pi / (2 * x)) * _poly_eval(list(a), 1 / x)


def _digammas(n: int) -> list:
    """``psi(k + 1)`` for ``k = 0 .. n - 1``."""
    return [-_EULER + sum(1 / j for j in range(1, k + 1)) for k in range(n)]


_PSI = _digammas(30)
_K0_SERIES = [_PSI[k] / _FACT[k] ** 2 for k in range(20)]
_K1_SERIES = [(_PSI[k] + _PSI[k + 1]) / (_FACT[k] * _FACT[k + 1]) for k in range(20)]


def _bessel_k(x, order: int, scaled: bool):
    """``K0``/``K1`` (times ``exp(x)`` when ``scaled``): NaN below 0, inf at 0, 0 at inf."""
    small_x = jnp.clip(x, jnp.finfo(x.dtype).tiny, _K_LOW)
    z = small_x * small_x / 4
    log_half = jnp.log(small_x / 2)
    if order == 0:
        small = -log_half * jsp.i0(small_x) + _series(_K0_SERIES, z)
    else:
        small = 1 / small_x + log_half * jsp.i1(small_x) - small_x / 4 * _series(_K1_SERIES, z)
    if scaled:
        small = small * jnp.exp(small_x)
    mid_x = jnp.clip(x, _K_LOW, _K_HIGH)
    mid = _scaled_k_integral(mid_x, order)
    big_x = jnp.maximum(x, _K_HIGH)
    big = _scaled_k_asymptotic(big_x, order)
    if not scaled:
        mid = mid * jnp.exp(-mid_x)
        big = big * jnp.exp(-big_x)
    value = jnp.where(x < _K_LOW, small, jnp.where(x <= _K_HIGH, mid, big))
    value = jnp.where(x == 0, jnp.inf, jnp.where(jnp.isposinf(x), 0, value))
    return jnp.where((x < 0) | jnp.isnan(x), jnp.nan, value)


# Airy Ai: its Maclaurin series for |x| <= 2; for x > 2, Ai(x) = sqrt(x / 3) K_{1/3}(zeta) / pi with
# zeta = 2 x^(3/2) / 3 (K from the integral above, or its expansion); for x < -2,
# Ai(x) = sqrt(|x|) / 3 (J_{1/3}(zeta) + J_{-1/3}(zeta)), whose sum has the integral form
# (2 / pi) int_0^pi cos(t / 3) cos(zeta sin t) dt + (sqrt 3 / pi) int_0^inf exp(-zeta sinh t)
# sinh(t / 3) dt, both smooth, by Gauss-Legendre quadrature up to zeta = 25, and the Hankel
# expansion beyond.
_AI0 = 1 / (3 ** (2 / 3) * math.gamma(2 / 3))
_AIP0 = 1 / (3 ** (1 / 3) * math.gamma(1 / 3))


def _airy_series_coefficients(count: int):
    f, g = [1.0], [1.0]
    for k in range(1, count):
        f.append(f[-1] / ((3 * k - 1) * (3 * k)))
        g.append(g[-1] / ((3 * k) * (3 * k + 1)))
    return f, g


_AIRY_F, _AIRY_G = _airy_series_coefficients(24)
_GL_OSC_X, _GL_OSC_W = np.polynomial.legendre.leggauss(80)
_GL_OSC_T = (_GL_OSC_X + 1) * (np.pi / 2)
_GL_OSC_W = _GL_OSC_W * (np.pi / 2) * np.cos(_GL_OSC_T / 3)
_GL_EXP_X, _GL_EXP_W = np.polynomial.legendre.leggauss(60)
_GL_EXP_T = (_GL_EXP_X + 1) * 2.25
_GL_EXP_W = _GL_EXP_W * 2.25 * np.sinh(_GL_EXP_T / 3)
_AIRY_ZETA = 25.0
_AIRY_K_LOW = 1.8  # below zeta(2) = 1.886; the K integral's nodes reach far enough there


def _airy_ai(x):
    dt = x.dtype
    small_x = jnp.clip(x, -2.0, 2.0)
    cube = small_x**3
    small = _AI0 * _series(_AIRY_F, cube) - _AIP0 * small_x * _series(_AIRY_G, cube)
    ax = jnp.maximum(jnp.abs(x), 2.0)
    zeta = 2 / 3 * ax * jnp.sqrt(ax)
    # x > 2
    kz_mid = jnp.clip(zeta, _AIRY_K_LOW, _K_HIGH)
    kz_big = jnp.maximum(zeta, _K_HIGH)
    k = jnp.where(
        zeta <= _K_HIGH,
        _scaled_k_integral(kz_mid, 1 / 3) * jnp.exp(-kz_mid),
        _scaled_k_asymptotic(kz_big, 1 / 3) * jnp.exp(-kz_big),
    )
    positive = jnp.sqrt(ax / 3) * k / math.pi
    # x < -2
    oz = jnp.minimum(zeta, _AIRY_ZETA)
    osc = jnp.sum(jnp.cos(oz[..., None] * np.sin(_GL_OSC_T).astype(dt)) * _GL_OSC_W.astype(dt), -1)
    tail = jnp.sum(
        jnp.exp(-oz[..., None] * np.sinh(_GL_EXP_T).astype(dt)) * _GL_EXP_W.astype(dt), -1
    )
    mid = jnp.sqrt(ax) / 3 * (2 / math.pi * osc + math.sqrt(3) / math.pi * tail)
    bz = jnp.maximum(zeta, _AIRY_ZETA)
    p, q = _hankel_pq(1 / 3, bz)
    c, s = _shifted_cos_sin(bz, math.pi / 4)
    big = jnp.sqrt(ax) / 3 * jnp.sqrt(2 / (math.pi * bz)) * math.sqrt(3) * (p * c - q * s)
    negative = jnp.where(zeta <= _AIRY_ZETA, mid, big)
    value = jnp.where(jnp.abs(x) <= 2, small, jnp.where(x > 0, positive, negative))
    return jnp.where(jnp.isinf(x), jnp.nan, value)


_J0_TAIL_TERMS = (-1 / 39916800, 1 / 6227020800)


def _spherical_j0(x):
    """``sin(x) / x``: its Maclaurin series below 0.5 (as PyTorch), 0 at +-inf."""
    _J0_TAIL = _J0_TAIL_TERMS[0] + x * x * _J0_TAIL_TERMS[1]
    small = 1 + x * x * (
        -1 / 6 + x * x * (1 / 120 + x * x * (-1 / 5040 + x * x * (1 / 362880 + x * x * _J0_TAIL)))
    )
    safe = jnp.where(jnp.abs(x) < 0.5, 1, x)
    value = jnp.where(jnp.abs(x) < 0.5, small, jnp.sin(safe) / safe)
    return jnp.where(jnp.isinf(x), 0, value)


def _modified_i(fn):
    def lowering(a):
        return jnp.where(jnp.isinf(a), jnp.nan, fn(a))

    return lowering


airy_ai = _nondifferentiable("airy_ai", _airy_ai, "The Airy function ``Ai``.")
bessel_j0 = _nondifferentiable(
    "bessel_j0", lambda a: _bessel_j(a, 0), "The Bessel function of the first kind of order 0."
)
bessel_j1 = _nondifferentiable(
    "bessel_j1", lambda a: _bessel_j(a, 1), "The Bessel function of the first kind of order 1."
)
bessel_y0 = _nondifferentiable(
    "bessel_y0",
    lambda a: _bessel_y(a, 0),
    "The Bessel function of the second kind of order 0 (NaN for negative ``x``).",
)
bessel_y1 = _nondifferentiable(
    "bessel_y1",
    lambda a: _bessel_y(a, 1),
    "The Bessel function of the second kind of order 1 (NaN for negative ``x``).",
)
modified_bessel_i0 = _nondifferentiable(
    "modified_bessel_i0",
    _modified_i(jsp.i0),
    "The modified Bessel function of the first kind of order 0 (NaN at +-inf, as PyTorch).",
)
modified_bessel_i1 = _nondifferentiable(
    "modified_bessel_i1",
    _modified_i(jsp.i1),
    "The modified Bessel function of the first kind of order 1 (NaN at +-inf, as PyTorch).",
)
modified_bessel_k0 = _nondifferentiable(
    "modified_bessel_k0",
    lambda a: _bessel_k(a, 0, False),
    "The modified Bessel function of the second kind of order 0.",
)
modified_bessel_k1 = _nondifferentiable(
    "modified_bessel_k1",
    lambda a: _bessel_k(a, 1, False),
    "The modified Bessel function of the second kind of order 1.",
)
scaled_modified_bessel_k0 = _nondifferentiable(
    "scaled_modified_bessel_k0",
    lambda a: _bessel_k(a, 0, True),
    "``exp(x) * K0(x)``, the scaled modified Bessel function of the second kind of order 0.",
)
scaled_modified_bessel_k1 = _nondifferentiable(
    "scaled_modified_bessel_k1",
    lambda a: _bessel_k(a, 1, True),
    "``exp(x) * K1(x)``, the scaled modified Bessel function of the second kind of order 1.",
)
spherical_bessel_j0 = _nondifferentiable(
    "spherical_bessel_j0",
    _spherical_j0,
    "The spherical Bessel function of the first kind of order 0, ``sin(x) / x``.",
)


# --------------------------------------------------------------------------- orthogonal polynomials
def _degree(n, dtype):
    """``n`` as PyTorch's kernels read it: truncated to an integer, -1 where NaN or infinite."""
    ok = jnp.isfinite(n) & (jnp.abs(n) < 2.0**62)
    return jnp.where(ok, jnp.trunc(jnp.where(ok, n, 0)), -1).astype(jnp.int64)


def _recurrence(x, n, p0, p1, step):
    """``P_n`` from ``P_0 = p0``, ``P_1 = p1`` and ``P_{j+1} = step(j, x, P_{j-1}, P_j)``, for each
    element's own ``n >= 2`` (other elements keep ``p1``); stops when no element needs more."""
    x, n, p0, p1 = jnp.broadcast_arrays(x, n, p0, p1)
    top = jnp.max(n, initial=0) if n.size else jnp.int64(0)

    def cond(state):
        j, _, q = state
        return (j < top) & jnp.any((j < n) & ~jnp.isnan(q))

    def body(state):
        j, p, q = state
        r = step(j.astype(x.dtype), x, p, q)
        live = j < n
        return j + 1, jnp.where(live, q, p), jnp.where(live, r, q)

    _, _, q = lax.while_loop(cond, body, (jnp.int64(1), p0, p1))
    return q


def _chebyshev(x, n, kind: str, shifted: bool):
    """The Chebyshev polynomials of ``kind`` ``t``, ``u``, ``v`` or ``w`` (of ``2x - 1`` when
    ``shifted``), with PyTorch's special values and its trigonometric forms above a degree."""
    k = _degree(n, x.dtype)
    y = x + x - 1 if shifted else x
    kf = k.astype(x.dtype)
    one = jnp.ones_like(y)
    first = {"t": y, "u": y + y, "v": y + y - 1, "w": y + y + 1}[kind]
    rec = _recurrence(y, k, one, first, lambda j, y, p, q: (y + y) * q - p)
    value = jnp.where(k == 0, one, jnp.where(k == 1, first, rec))
    # the trigonometric forms inside the interval (PyTorch's thresholds)
    threshold = {"t": 6, "u": 8, "v": 8, "w": 8}[kind] if not shifted else {"w": 4}.get(kind, 6)
    inside = jnp.abs(y) < 1
    theta = jnp.arccos(jnp.where(inside, y, 0))
    even = (k % 2) == 0
    parity = jnp.where(even, 1.0, -1.0).astype(x.dtype)
    if kind == "t":
        trig = jnp.cos(kf * theta)
    elif kind == "u":
        st = jnp.sin(theta)
        trig = jnp.where(
            st != 0,
            jnp.sin((kf + 1) * theta) / jnp.where(st != 0, st, 1),
            (kf + 1) * jnp.cos((kf + 1) * theta) / y,
        )
    elif kind == "v":
        half = jnp.sin(theta / 2) != 1
        trig = jnp.where(
            half, jnp.cos((kf + 0.5) * theta) / jnp.cos(theta / 2), parity * (2 * kf + 1)
        )
    else:
        half = jnp.cos(theta / 2) != 1
        if shifted:
            edge = parity
        else:
            edge = jnp.where(y > 0, 2 * kf + 1, parity)
        trig = jnp.where(half, jnp.sin((kf + 0.5) * theta) / jnp.sin(theta / 2), edge)
    value = jnp.where((k > threshold) & inside, trig, value)
    # the ends of the interval, exactly
    hi = (x == 1) if shifted else (jnp.abs(x) == 1) & (x > 0)
    lo = (x == 0) if shifted else (jnp.abs(x) == 1) & (x < 0)
    at_hi = {"t": one, "u": kf + 1, "v": one, "w": 2 * kf + 1}[kind]
    at_lo = {"t": parity, "u": parity * (kf + 1), "v": parity * (2 * kf + 1), "w": parity}[kind]
    value = jnp.where(hi, at_hi, jnp.where(lo, at_lo, value))
    return jnp.where(k < 0, 0, value)


def _hermite(x, n, physicists: bool):
    k = _degree(n, x.dtype)
    one = jnp.ones_like(x)
    if physicists:
        first = x + x
        rec = _recurrence(x, k, one, first, lambda j, x, p, q: (x + x) * q - (j + j) * p)
    else:
        first = x
        rec = _recurrence(x, k, one, first, lambda j, x, p, q: x * q - j * p)
    value = jnp.where(k == 0, one, jnp.where(k == 1, first, rec))
    # PyTorch returns NaN above a degree (128 for float32, 512 for float64).
    limit = 128 if x.dtype == jnp.float32 else 512
    value = jnp.where(k > limit, jnp.nan, value)
    return jnp.where(k < 0, 0, value)


def _laguerre(x, n):
    k = _degree(n, x.dtype)
    one = jnp.ones_like(x)
    first = 1 - x
    rec = _recurrence(
        x, k, one, first, lambda j, x, p, q: ((j + j + (1 - x)) * q - j * p) / (j + 1)
    )
    value = jnp.where((k == 0) | (x == 0), one, jnp.where(k == 1, first, rec))
    return jnp.where(k < 0, 0, value)


def _legendre(x, n):
    k = _degree(n, x.dtype)
    one = jnp.ones_like(x)
    rec = _recurrence(x, k, one, x, lambda j, x, p, q: ((j + j + 1) * x * q - j * p) / (j + 1))
    value = jnp.where(k == 0, one, jnp.where(k == 1, x, rec))
    parity = jnp.where(k % 2 == 0, 1.0, -1.0).astype(x.dtype)
    value = jnp.where(x == 1, one, jnp.where(x == -1, parity, value))
    return jnp.where(k < 0, 0, value)


def _polynomial(name: str, lowering, doc: str):
    """The op ``name`` (no rule) and its public ``fn(input, n)`` (either may be a number)."""

    def both_arrays(x, n):
        # a Python number operand takes the tensor's (promoted) dtype, as in PyTorch
        dtype = jnp.result_type(x, n)
        return lowering(jnp.asarray(x, dtype), jnp.asarray(n, dtype))

    op = defop(
        f"Special{name.title().replace('_', '')}Backward0",
        promote="float",
        fuse=True,
        name=f"special_{name}",
    )(both_arrays)

    def public(input, n) -> Tensor:
        if not isinstance(input, Tensor) and not isinstance(n, Tensor):
            raise TypeError(
                f"special_{name}() received an invalid combination of arguments - got "
                f"({type(input).__name__}, {type(n).__name__}), but expected one of: (Tensor x, "
                "Tensor n), (Number x, Tensor n), (Tensor x, Number n)"
            )
        _require_float32_or_64(name, _promote(op, (input, n)))
        return op(input, n)

    public.__name__ = public.__qualname__ = name
    public.__doc__ = doc
    return public


def _chebyshev_lowering(kind: str, shifted: bool):
    def lowering(x, n):
        return _chebyshev(x, n, kind, shifted)

    return lowering


_CHEBYSHEV_DOCS = {
    "t": "of the first kind ``T_n``",
    "u": "of the second kind ``U_n``",
    "v": "of the third kind ``V_n``",
    "w": "of the fourth kind ``W_n``",
}
_POLY_NOTE = " ``n`` is truncated to an integer; a negative ``n`` gives 0. Not differentiable."

chebyshev_polynomial_t = _polynomial(
    "chebyshev_polynomial_t",
    _chebyshev_lowering("t", False),
    "The Chebyshev polynomial "
    + _CHEBYSHEV_DOCS["t"]
    + " of degree ``n`` at ``input``."
    + _POLY_NOTE,
)
chebyshev_polynomial_u = _polynomial(
    "chebyshev_polynomial_u",
    _chebyshev_lowering("u", False),
    "The Chebyshev polynomial "
    + _CHEBYSHEV_DOCS["u"]
    + " of degree ``n`` at ``input``."
    + _POLY_NOTE,
)
chebyshev_polynomial_v = _polynomial(
    "chebyshev_polynomial_v",
    _chebyshev_lowering("v", False),
    "The Chebyshev polynomial "
    + _CHEBYSHEV_DOCS["v"]
    + " of degree ``n`` at ``input``."
    + _POLY_NOTE,
)
chebyshev_polynomial_w = _polynomial(
    "chebyshev_polynomial_w",
    _chebyshev_lowering("w", False),
    "The Chebyshev polynomial "
    + _CHEBYSHEV_DOCS["w"]
    + " of degree ``n`` at ``input``."
    + _POLY_NOTE,
)
shifted_chebyshev_polynomial_t = _polynomial(
    "shifted_chebyshev_polynomial_t",
    _chebyshev_lowering("t", True),
    "The shifted Chebyshev polynomial "
    + _CHEBYSHEV_DOCS["t"]
    + " (of ``2 input - 1``)."
    + _POLY_NOTE,
)
shifted_chebyshev_polynomial_u = _polynomial(
    "shifted_chebyshev_polynomial_u",
    _chebyshev_lowering("u", True),
    "The shifted Chebyshev polynomial "
    + _CHEBYSHEV_DOCS["u"]
    + " (of ``2 input - 1``)."
    + _POLY_NOTE,
)
shifted_chebyshev_polynomial_v = _polynomial(
    "shifted_chebyshev_polynomial_v",
    _chebyshev_lowering("v", True),
    "The shifted Chebyshev polynomial "
    + _CHEBYSHEV_DOCS["v"]
    + " (of ``2 input - 1``)."
    + _POLY_NOTE,
)
shifted_chebyshev_polynomial_w = _polynomial(
    "shifted_chebyshev_polynomial_w",
    _chebyshev_lowering("w", True),
    "The shifted Chebyshev polynomial "
    + _CHEBYSHEV_DOCS["w"]
    + " (of ``2 input - 1``)."
    + _POLY_NOTE,
)
hermite_polynomial_h = _polynomial(
    "hermite_polynomial_h",
    lambda x, n: _hermite(x, n, True),
    "The physicists' Hermite polynomial ``H_n`` at ``input``." + _POLY_NOTE,
)
hermite_polynomial_he = _polynomial(
    "hermite_polynomial_he",
    lambda x, n: _hermite(x, n, False),
    "The probabilists' Hermite polynomial ``He_n`` at ``input``." + _POLY_NOTE,
)
laguerre_polynomial_l = _polynomial(
    "laguerre_polynomial_l",
    _laguerre,
    "The Laguerre polynomial ``L_n`` at ``input``." + _POLY_NOTE,
)
legendre_polynomial_p = _polynomial(
    "legendre_polynomial_p",
    _legendre,
    "The Legendre polynomial ``P_n`` at ``input``." + _POLY_NOTE,
)

# i1 is registered in mathfns (it is i0's derivative); ``special.i1`` is that op, differentiable.
i1 = _i1
