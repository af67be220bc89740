"""Elementwise math and activations: ``exp``, ``log``, ``sqrt``, trigonometry, rounding, ``clamp``,
``minimum``/``maximum``, ``lerp``, ``addcmul``, the elementwise activations of
``torch.nn.functional`` (``relu``, ``gelu``, ``softplus``, ...), and selection (``where``).

Every op is reachable as ``tracegrad.name(x)``, ``x.name()`` and in place as ``x.name_()``. Rules
reuse ``out`` where PyTorch does (sigmoid, tanh, relu, ...), take PyTorch's subgradient at kinks
(``relu'(0) = 0``; rounding has a zero gradient) and avoid overflow in the branch ``where`` discards,
so that second derivatives stay finite too.
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax

from .._dtype import get_default_dtype, scalar_type_name
from .._surface import expose
from ..tensor import Tensor, tensor
from .registry import _promote, defop, needs_grad

__all__ = [
    "exp",
    "log",
    "log1p",
    "expm1",
    "log2",
    "log10",
    "sqrt",
    "rsqrt",
    "erf",
    "erfc",
    "sin",
    "cos",
    "tan",
    "tanh",
    "sigmoid",
    "sign",
    "floor",
    "ceil",
    "round",
    "trunc",
    "fix",
    "frac",
    "square",
    "clamp",
    "clip",
    "clamp_min",
    "clamp_max",
    "minimum",
    "maximum",
    "fmin",
    "fmax",
    "lerp",
    "addcmul",
    "addcdiv",
    "relu",
    "relu6",
    "leaky_relu",
    "elu",
    "selu",
    "celu",
    "gelu",
    "silu",
    "softplus",
    "logsigmoid",
    "mish",
    "hardtanh",
    "hardsigmoid",
    "hardswish",
    "where",
]


def _public(fn, *aliases, inplace: bool = True):
    """Expose ``fn`` as ``x.name(...)`` (and ``x.name_(...)``), and so for each alias."""
    names = (getattr(fn, "name", None) or fn.__name__, *aliases)
    return expose(fn, methods=names, inplace=inplace)


def _number(x):
    """A numpy scalar as a Python number: JAX treats Python numbers as weakly typed, so a float32
    tensor clamped by ``np.float64(0.5)`` stays float32 (and params stay plain, hashable values)."""
    return x.item() if isinstance(x, np.generic) else x


def _mask(cond: Tensor, g: Tensor) -> Tensor:
    """``g`` where ``cond`` holds, else 0 (not ``g * cond``: that would turn an inf in ``g`` into
    NaN where PyTorch's rules give 0)."""
    return _where(cond, g, 0.0)


# ------------------------------------------------------------------------ exponentials and logs
@defop("ExpBackward0", promote="float", saves=(), save_out=True)
def exp(a):
    """``e ** input``."""
    return jnp.exp(a)


@exp.vjp
def _(g, out, a):
    return (g * out,)


@defop("LogBackward0", promote="float")
def log(a):
    """Natural logarithm."""
    return jnp.log(a)


@log.vjp
def _(g, out, a):
    return (g / a,)


@defop("Log1PBackward0", promote="float")
def log1p(a):
    """``log(1 + input)``, accurate for small inputs."""
    return jnp.log1p(a)


@log1p.vjp
def _(g, out, a):
    return (g / (a + 1),)


@defop("Expm1Backward0", promote="float", saves=(), save_out=True)
def expm1(a):
    """``exp(input) - 1``, accurate for small inputs."""
    return jnp.expm1(a)


@expm1.vjp
def _(g, out, a):
    return (g * (out + 1),)


@defop("Log2Backward0", promote="float", fuse=True)
def log2(a):
    """Base-2 logarithm."""
    return jnp.log2(a)


@log2.vjp
def _(g, out, a):
    return (g / (a * math.log(2.0)),)


@defop("Log10Backward0", promote="float", fuse=True)
def log10(a):
    """Base-10 logarithm."""
    return jnp.log10(a)


@log10.vjp
def _(g, out, a):
    return (g / (a * math.log(10.0)),)


@defop("SqrtBackward0", promote="float", saves=(), save_out=True)
def sqrt(a):
    """Square root."""
    return jnp.sqrt(a)


@sqrt.vjp
def _(g, out, a):
    return (g / (out * 2),)


# rsqrt(a) = a^(-1/2): the derivative -a^(-3/2) / 2 is -out^3 / 2.
@defop("RsqrtBackward0", promote="float", saves=(), save_out=True)
def rsqrt(a):
    """``1 / sqrt(input)``."""
    return lax.rsqrt(a)


@rsqrt.vjp
def _(g, out, a):
    return (g * out * out * out * -0.5,)


# erf'(a) = 2/sqrt(pi) exp(-a^2); erfc = 1 - erf.
@defop("ErfBackward0", promote="float")
def erf(a):
    """The error function."""
    return lax.erf(a)


@erf.vjp
def _(g, out, a):
    return (g * exp(a * a * -1.0) * (2.0 / math.sqrt(math.pi)),)


@defop("ErfcBackward0", promote="float")
def erfc(a):
    """The complementary error function ``1 - erf(input)``, accurate where erf is near 1."""
    return lax.erfc(a)


@erfc.vjp
def _(g, out, a):
    return (g * exp(a * a * -1.0) * (-2.0 / math.sqrt(math.pi)),)


for _op in (exp, log, log1p, expm1, log2, log10, sqrt, rsqrt, erf, erfc):
    _public(_op)


# ---------------------------------------------------------------------- trigonometry, sigmoid
@defop("SinBackward0", promote="float")
def sin(a):
    """Sine (radians)."""
    return jnp.sin(a)


@sin.vjp
def _(g, out, a):
    return (g * cos(a),)


@defop("CosBackward0", promote="float")
def cos(a):
    """Cosine (radians)."""
    return jnp.cos(a)


@cos.vjp
def _(g, out, a):
    return (-g * sin(a),)


@defop("TanBackward0", promote="float", saves=(), save_out=True)
def tan(a):
    """Tangent (radians)."""
    return jnp.tan(a)


@tan.vjp
def _(g, out, a):
    return (g * (out * out + 1),)


# tanh and sigmoid read only their output: tanh' = 1 - tanh^2, sigmoid' = s (1 - s). Both are
# bounded, so the rules never overflow (recomputing exp(-a) would, for very negative a).
@defop("TanhBackward0", promote="float", saves=(), save_out=True)
def tanh(a):
    """Hyperbolic tangent."""
    return jnp.tanh(a)


@tanh.vjp
def _(g, out, a):
    return (g * (1 - out * out),)


@defop("SigmoidBackward0", promote="float", saves=(), save_out=True)
def sigmoid(a):
    """The logistic function ``1 / (1 + exp(-input))``."""
    return jax.nn.sigmoid(a)


@sigmoid.vjp
def _(g, out, a):
    return (g * out * (1 - out),)


@defop("SignBackward0", saves=(), fuse=True)
def sign(a):
    """-1, 0 or 1 by the sign of each element (its gradient is zero); 0 at NaN, as PyTorch."""
    if jnp.issubdtype(a.dtype, jnp.inexact):
        return (a > 0).astype(a.dtype) - (a < 0).astype(a.dtype)
    return jnp.sign(a)


@sign.vjp
def _(g, out, a):
    return (g * 0,)


for _op in (sin, cos, tan, tanh, sigmoid, sign):
    _public(_op)


# --------------------------------------------------------------------------------------- rounding
# Piecewise constant: the gradient is zero (PyTorch's convention, also at the jumps). Integer
# tensors are returned as they are (their dtype is kept).
def _rounding(jnp_fn, grad_fn_name, name, doc):
    def lowering(a):
        return a if jnp.issubdtype(a.dtype, jnp.integer) else jnp_fn(a)

    lowering.__doc__ = doc
    op = defop(grad_fn_name, saves=(), name=name)(lowering)
    op.vjp(lambda g, out, a: (g * 0,))
    return op


floor = _rounding(jnp.floor, "FloorBackward0", "floor", "Round down to an integral value.")
ceil = _rounding(jnp.ceil, "CeilBackward0", "ceil", "Round up to an integral value.")
trunc = _rounding(jnp.trunc, "TruncBackward0", "trunc", "Round toward zero.")
fix = trunc
_public(floor)
_public(ceil)
_public(trunc, "fix")


@defop(lambda p: "RoundBackward0" if p["decimals"] == 0 else "RoundBackward1", saves=())
def _round(a, *, decimals):
    if jnp.issubdtype(a.dtype, jnp.integer) and decimals >= 0:
        return a
    return jnp.round(a, decimals)


@_round.vjp
def _(g, out, a, *, decimals):
    return (g * 0,)


def round(input: Tensor, *, decimals: int = 0) -> Tensor:  # noqa: A001 - PyTorch's name
    """Round to ``decimals`` decimal places, halves to even (``round(2.5) == 2``), as PyTorch."""
    return _round(input, decimals=int(decimals))


_public(round)


# frac(a) = a - trunc(a): slope 1 between the jumps.
@defop("FracBackward0", saves=(), fuse=True)
def frac(a):
    """The fractional part ``input - trunc(input)``, with the sign of ``input``."""
    return a - jnp.trunc(a)


@frac.vjp
def _(g, out, a):
    return (g,)


_public(frac)


def square(input: Tensor) -> Tensor:
    """``input * input`` (recorded as ``pow(input, 2)``, as PyTorch does; integers stay integers)."""
    return input.pow(2)  # arith's pow (arith imports this module)


_public(square)


# ------------------------------------------------------------------------------------------ clamp
# clamp = min(max(a, lo), hi). The input gets the gradient inside [lo, hi], bounds included (the
# subgradient 1 at the boundary, PyTorch's clamp_backward). With tensor bounds, each bound gets it
# where it is the result: lo where a < lo (and lo < hi), hi where a > hi or hi < lo (when lo > hi
# the result is hi everywhere). One op serves clamp, clamp_min and clamp_max; ``name`` is PyTorch's
# node name for the form that was called.
@defop(lambda p: p["name"], saves=(0,))
def _clamp(a, *, lo, hi, name):
    return jnp.clip(a, lo, hi)


@_clamp.vjp
def _(g, out, a, *, lo, hi, name):
    if lo is None:
        return (_mask(a <= hi, g),)
    if hi is None:
        return (_mask(a >= lo, g),)
    return (_mask((a >= lo) & (a <= hi), g),)


@defop(lambda p: p["name"], promote="same", saves=(0, 1, 2), fuse=True)
def _clamp_tensor(a, lo, hi, *, name):
    if lo is not None:
        a = jnp.maximum(a, lo)
    if hi is not None:
        a = jnp.minimum(a, hi)
    return a


@_clamp_tensor.vjp
def _(g, out, a, lo, hi, *, name):
    if lo is None:
        return (
            _mask(a <= hi, g) if needs_grad(a) else None,
            None,
            _mask(a > hi, g) if needs_grad(hi) else None,
        )
    if hi is None:
        return (
            _mask(a >= lo, g) if needs_grad(a) else None,
            _mask(a < lo, g) if needs_grad(lo) else None,
            None,
        )
    return (
        _mask((a >= lo) & (a <= hi), g) if needs_grad(a) else None,
        _mask((a < lo) & (lo < hi), g) if needs_grad(lo) else None,
        _mask((a > hi) | (hi < lo), g) if needs_grad(hi) else None,
    )


def _as_bound(bound):
    """A Python-number bound as a 0-d tensor (for the tensor form, when the other is a tensor)."""
    if bound is None or isinstance(bound, Tensor):
        return bound
    return tensor(bound)


def _float_for_scalars(input: Tensor, *scalars) -> Tensor:
    # An integer tensor clamped to a float bound becomes float, by PyTorch's promotion.
    if not input.dtype.is_floating_point and any(isinstance(s, float) for s in scalars):
        return input.to(get_default_dtype())
    return input


def _clamp_any(input: Tensor, lo, hi, scalar_name: str, tensor_name: str) -> Tensor:
    lo, hi = _number(lo), _number(hi)
    if isinstance(lo, Tensor) or isinstance(hi, Tensor):
        return _clamp_tensor(input, _as_bound(lo), _as_bound(hi), name=tensor_name)
    input = _float_for_scalars(input, lo, hi)
    return _clamp(input, lo=lo, hi=hi, name=scalar_name)


def clamp(input: Tensor, min=None, max=None) -> Tensor:  # noqa: A002 - PyTorch's names
    """Limit ``input`` to ``[min, max]``; either bound may be None, a number or a tensor
    (broadcast against ``input``). Where ``min > max`` the result is ``max``."""
    if min is None and max is None:
        raise RuntimeError("torch.clamp: At least one of 'min' or 'max' must not be None")
    return _clamp_any(input, min, max, "ClampBackward1", "ClampBackward0")


def clamp_min(input: Tensor, min) -> Tensor:  # noqa: A002
    """``max(input, min)`` for a number or tensor ``min``."""
    return _clamp_any(input, min, None, "ClampMinBackward0", "ClampMinBackward1")


def clamp_max(input: Tensor, max) -> Tensor:  # noqa: A002
    """``min(input, max)`` for a number or tensor ``max``."""
    return _clamp_any(input, None, max, "ClampMaxBackward0", "ClampMaxBackward1")


clip = clamp
_public(clamp, "clip")
_public(clamp_min)
_public(clamp_max)


# ----------------------------------------------------------------------------- minimum, maximum
# On ties PyTorch splits the gradient equally (g/2 to each side); elsewhere it goes to the
# operand that was selected.
@defop("MaximumBackward0", promote="same")
def _maximum(a, b):
    return jnp.maximum(a, b)


@_maximum.vjp
def _(g, out, a, b):
    half = _where(a == b, g / 2, g)
    return (
        _mask(~(a < b), half) if needs_grad(a) else None,
        _mask(~(a > b), half) if needs_grad(b) else None,
    )


@defop("MinimumBackward0", promote="same")
def _minimum(a, b):
    return jnp.minimum(a, b)


@_minimum.vjp
def _(g, out, a, b):
    half = _where(a == b, g / 2, g)
    return (
        _mask(~(a > b), half) if needs_grad(a) else None,
        _mask(~(a < b), half) if needs_grad(b) else None,
    )


def maximum(input: Tensor, other: Tensor) -> Tensor:
    """Elementwise maximum, broadcasting; NaN propagates. On ties each side gets half the
    gradient."""
    return _maximum(input, other)


def minimum(input: Tensor, other: Tensor) -> Tensor:
    """Elementwise minimum, broadcasting; NaN propagates. On ties each side gets half the
    gradient."""
    return _minimum(input, other)


# fmax/fmin ignore a NaN operand. No tie split here (PyTorch's rule): ``input`` takes the gradient
# where it is selected (ties included, or ``other`` is NaN), ``other`` takes the rest.
@defop("FmaxBackward0", promote="same")
def _fmax(a, b):
    return jnp.fmax(a, b)


@_fmax.vjp
def _(g, out, a, b):
    first = (a >= b) | (b != b)
    return (
        _mask(first, g) if needs_grad(a) else None,
        _mask(~first, g) if needs_grad(b) else None,
    )


@defop("FminBackward0", promote="same")
def _fmin(a, b):
    return jnp.fmin(a, b)


@_fmin.vjp
def _(g, out, a, b):
    first = (a <= b) | (b != b)
    return (
        _mask(first, g) if needs_grad(a) else None,
        _mask(~first, g) if needs_grad(b) else None,
    )


def fmax(input: Tensor, other: Tensor) -> Tensor:
    """Elementwise maximum that ignores NaN (NaN only where both are NaN)."""
    return _fmax(input, other)


def fmin(input: Tensor, other: Tensor) -> Tensor:
    """Elementwise minimum that ignores NaN (NaN only where both are NaN)."""
    return _fmin(input, other)


for _fn in (maximum, minimum, fmax, fmin):
    _public(_fn)


# ------------------------------------------------------------------------- lerp, addcmul, addcdiv
# lerp = start + w (end - start): d/dstart = 1 - w, d/dend = w, d/dw = end - start.
@defop("LerpBackward0", promote="same", saves=())
def _lerp(start, end, *, weight):
    return start + weight * (end - start)


@_lerp.vjp
def _(g, out, start, end, *, weight):
    return (
        g * (1 - weight) if needs_grad(start) else None,
        g * weight if needs_grad(end) else None,
    )


@defop("LerpBackward1", promote="same", fuse=True)
def _lerp_tensor(start, end, weight):
    return start + weight * (end - start)


@_lerp_tensor.vjp
def _(g, out, start, end, weight):
    return (
        g * (1 - weight) if needs_grad(start) else None,
        g * weight if needs_grad(end) else None,
        g * (end - start) if needs_grad(weight) else None,
    )


def lerp(input: Tensor, end: Tensor, weight) -> Tensor:
    """Linear interpolation ``input + weight * (end - input)``; ``weight`` a number or a tensor."""
    if isinstance(weight, Tensor):
        return _lerp_tensor(input, end, weight)
    return _lerp(input, end, weight=_number(weight))


@defop("AddcmulBackward0", promote="same", saves=(1, 2))
def _addcmul(a, t1, t2, *, value):
    return a + value * t1 * t2


@_addcmul.vjp
def _(g, out, a, t1, t2, *, value):
    return (
        g if needs_grad(a) else None,
        g * t2 * value if needs_grad(t1) else None,
        g * t1 * value if needs_grad(t2) else None,
    )


# a + v t1 / t2: d/dt1 = v / t2, d/dt2 = -v t1 / t2^2.
@defop("AddcdivBackward0", promote="same", saves=(1, 2))
def _addcdiv(a, t1, t2, *, value):
    return a + value * t1 / t2


@_addcdiv.vjp
def _(g, out, a, t1, t2, *, value):
    return (
        g if needs_grad(a) else None,
        g * value / t2 if needs_grad(t1) else None,
        -g * value * t1 / (t2 * t2) if needs_grad(t2) else None,
    )


def addcmul(input: Tensor, tensor1: Tensor, tensor2: Tensor, *, value=1) -> Tensor:
    """``input + value * tensor1 * tensor2``, broadcasting all three."""
    return _addcmul(input, tensor1, tensor2, value=_number(value))


def addcdiv(input: Tensor, tensor1: Tensor, tensor2: Tensor, *, value=1) -> Tensor:
    """``input + value * tensor1 / tensor2``, broadcasting all three."""
    if not (input.dtype.is_floating_point or _is_float(tensor1) or _is_float(tensor2)):
        raise RuntimeError(
            "Integer division with addcdiv is no longer supported, and in a future release "
            "addcdiv will perform a true division of tensor1 and tensor2. Convert the tensors "
            "to floating point first."
        )
    return _addcdiv(input, tensor1, tensor2, value=_number(value))


def _is_float(x) -> bool:
    return isinstance(x, float) or (isinstance(x, Tensor) and x.dtype.is_floating_point)


for _fn in (lerp, addcmul, addcdiv):
    _public(_fn)


# ------------------------------------------------------------------------------------ activations
# The signatures are those of torch.nn.functional (``inplace=True`` runs the ``x.name_()`` form),
# so nn.functional can re-export them.
# relu' is 0 where the output is <= 0 (0 at the kink), 1 elsewhere -- NaN included, as
# PyTorch's threshold_backward (a NaN input passes the gradient through).
@defop("ReluBackward0", saves=(), save_out=True)
def _relu(a):
    return jnp.maximum(a, jnp.zeros((), a.dtype))


@_relu.vjp
def _(g, out, a):
    return (_where(out <= 0, 0.0, g),)


def relu(input: Tensor, inplace: bool = False) -> Tensor:
    """``max(input, 0)``; integer tensors stay integers."""
    if inplace:
        return input.relu_()
    return _relu(input)


@defop("LeakyReluBackward0", promote="float", fuse=True)
def _leaky_relu(a, *, negative_slope):
    return jnp.where(a > 0, a, a * negative_slope)


@_leaky_relu.vjp
def _(g, out, a, *, negative_slope):
    return (_where(a > 0, g, g * negative_slope),)


def leaky_relu(input: Tensor, negative_slope: float = 0.01, inplace: bool = False) -> Tensor:
    """``input`` where positive, else ``negative_slope * input``."""
    if inplace:
        return input.leaky_relu_(negative_slope)
    return _leaky_relu(input, negative_slope=float(negative_slope))


# PyTorch's elu(x; alpha, scale, input_scale) = scale x for x > 0, else
# scale alpha (exp(input_scale x) - 1); selu and celu are instances of it. The exp in the rule is
# taken of min(x, 0), so the discarded branch cannot overflow into a NaN second derivative.
@defop("EluBackward0", promote="float", fuse=True)
def _elu(a, *, alpha, scale, input_scale):
    return jnp.where(a > 0, a * scale, jnp.expm1(a * input_scale) * (alpha * scale))


@_elu.vjp
def _(g, out, a, *, alpha, scale, input_scale):
    # PyTorch's branch test is x <= 0, so a NaN input takes the linear branch's slope.
    neg = exp(_where(a <= 0, a, 0.0) * input_scale) * (alpha * scale * input_scale)
    return (_where(a <= 0, g * neg, g * scale),)


def elu(input: Tensor, alpha: float = 1.0, inplace: bool = False) -> Tensor:
    """``input`` where positive, else ``alpha * (exp(input) - 1)``."""
    if inplace:
        return input.elu_(alpha)
    return _elu(input, alpha=float(alpha), scale=1.0, input_scale=1.0)


_SELU_ALPHA = 1.6732632423543772848170429916717
_SELU_SCALE = 1.0507009873554804934193349852946


def selu(input: Tensor, inplace: bool = False) -> Tensor:
    """``scale * elu(input, alpha)`` with the self-normalising constants of Klambauer et al."""
    if inplace:
        return input.selu_()
    return _elu(input, alpha=_SELU_ALPHA, scale=_SELU_SCALE, input_scale=1.0)


def celu(input: Tensor, alpha: float = 1.0, inplace: bool = False) -> Tensor:
    """``input`` where positive, else ``alpha * (exp(input / alpha) - 1)``."""
    if inplace:
        return input.celu_(alpha)
    if alpha == 0:
        raise RuntimeError("ZeroDivisionError: celu with alpha=0")
    return _elu(input, alpha=float(alpha), scale=1.0, input_scale=1.0 / alpha)


# gelu(x) = x Phi(x), Phi the normal CDF = (1 + erf(x / sqrt 2)) / 2, so
# gelu'(x) = Phi(x) + x phi(x), phi(x) = exp(-x^2 / 2) / sqrt(2 pi).
# The tanh form: gelu(x) = x (1 + t) / 2, t = tanh(u), u = k (x + c x^3), k = sqrt(2 / pi), so
# gelu'(x) = (1 + t) / 2 + x (1 - t^2) k (1 + 3 c x^2) / 2.
_GELU_K = math.sqrt(2.0 / math.pi)
_GELU_C = 0.044715


@defop("GeluBackward0", promote="float", fuse=True)
def _gelu(a, *, approximate):
    if approximate == "tanh":
        return a * (1 + jnp.tanh((a + a * a * a * _GELU_C) * _GELU_K)) * 0.5
    return a * (1 + lax.erf(a * (1 / math.sqrt(2.0)))) * 0.5


@_gelu.vjp
def _(g, out, a, *, approximate):
    if approximate == "tanh":
        t = tanh((a + a * a * a * _GELU_C) * _GELU_K)
        inner = (a * a * (3 * _GELU_C) + 1) * _GELU_K
        return (g * ((t + 1) * 0.5 + a * (1 - t * t) * inner * 0.5),)
    cdf = (erf(a * (1 / math.sqrt(2.0))) + 1) * 0.5
    pdf = exp(a * a * -0.5) * (1 / math.sqrt(2 * math.pi))
    return (g * (cdf + a * pdf),)


def gelu(input: Tensor, approximate: str = "none") -> Tensor:
    """Gaussian error linear unit ``input * Phi(input)``; ``approximate='tanh'`` uses the tanh
    approximation."""
    if approximate not in ("none", "tanh"):
        raise RuntimeError("approximate argument must be either none or tanh.")
    return _gelu(input, approximate=approximate)


# silu = x s(x), s = sigmoid: silu' = s + x s (1 - s) = s (1 + x (1 - s)).
@defop("SiluBackward0", promote="float", fuse=True)
def _silu(a):
    return a * jax.nn.sigmoid(a)


@_silu.vjp
def _(g, out, a):
    s = sigmoid(a)
    return (g * s * (a * (1 - s) + 1),)


def silu(input: Tensor, inplace: bool = False) -> Tensor:
    """``input * sigmoid(input)`` (also called swish)."""
    if inplace:
        return input.silu_()
    return _silu(input)


# softplus = log(1 + exp(beta x)) / beta, computed as logaddexp(0, beta x) / beta (no overflow);
# above ``threshold`` (in beta x) it is x itself, as PyTorch. Its derivative is sigmoid(beta x),
# or 1 above the threshold.
@defop("SoftplusBackward0", promote="float", fuse=True)
def _softplus(a, *, beta, threshold):
    z = a * beta
    return jnp.where(z > threshold, a, jnp.logaddexp(z, 0.0) / beta)


@_softplus.vjp
def _(g, out, a, *, beta, threshold):
    z = a * beta
    return (_where(z > threshold, g, g * sigmoid(z)),)


def softplus(input: Tensor, beta: float = 1.0, threshold: float = 20.0) -> Tensor:
    """Smooth relu ``log(1 + exp(beta * input)) / beta``, linear where ``beta * input > threshold``."""
    return _softplus(input, beta=float(beta), threshold=float(threshold))


# logsigmoid(x) = -softplus(-x), computed stably; its derivative is sigmoid(-x) = 1 - sigmoid(x).
@defop("LogSigmoidBackward0", promote="float")
def _logsigmoid(a):
    return jax.nn.log_sigmoid(a)


@_logsigmoid.vjp
def _(g, out, a):
    return (g * sigmoid(-a),)


def logsigmoid(input: Tensor) -> Tensor:
    """``log(sigmoid(input))``, without overflow for large negative inputs."""
    return _logsigmoid(input)


# mish = x tanh(sp(x)), sp = softplus: mish' = t + x (1 - t^2) sigmoid(x), t = tanh(sp(x)).
# sp here has no threshold (an infinite one), so the rule is smooth like the lowering.
@defop("MishBackward0", promote="float", fuse=True)
def _mish(a):
    return a * jnp.tanh(jnp.logaddexp(a, 0.0))


@_mish.vjp
def _(g, out, a):
    t = tanh(_softplus(a, beta=1.0, threshold=math.inf))
    return (g * (t + a * (1 - t * t) * sigmoid(a)),)


def mish(input: Tensor, inplace: bool = False) -> Tensor:
    """``input * tanh(softplus(input))``."""
    if inplace:
        return input.mish_()
    return _mish(input)


# hardtanh: slope 0 at the corners and outside, 1 elsewhere -- strictly inside (min_val, max_val),
# and at NaN, as PyTorch's test (x <= min_val or x >= max_val) has it.
@defop("HardtanhBackward0", saves=(0,))
def _hardtanh(a, *, min_val, max_val):
    return jnp.clip(a, min_val, max_val)


@_hardtanh.vjp
def _(g, out, a, *, min_val, max_val):
    return (_where((a <= min_val) | (a >= max_val), 0.0, g),)


def hardtanh(
    input: Tensor, min_val: float = -1.0, max_val: float = 1.0, inplace: bool = False
) -> Tensor:
    """``clamp(input, min_val, max_val)``, with a zero gradient at the corners."""
    if inplace:
        return input.hardtanh_(min_val, max_val)
    if min_val > max_val:
        raise ValueError("min_val cannot be greater than max_val")
    min_val, max_val = _number(min_val), _number(max_val)
    input = _float_for_scalars(input, min_val, max_val)
    return _hardtanh(input, min_val=min_val, max_val=max_val)


def relu6(input: Tensor, inplace: bool = False) -> Tensor:
    """``min(max(input, 0), 6)`` (a hardtanh, as PyTorch records it)."""
    if inplace:
        return input.relu6_()
    return _hardtanh(input, min_val=0, max_val=6)


# hardsigmoid = relu6(x + 3) / 6: slope 1/6 strictly inside (-3, 3).
@defop("HardsigmoidBackward0", promote="float", fuse=True)
def _hardsigmoid(a):
    return jnp.clip(a + 3.0, 0.0, 6.0) / 6.0


@_hardsigmoid.vjp
def _(g, out, a):
    return (_mask((a > -3.0) & (a < 3.0), g / 6),)


def hardsigmoid(input: Tensor, inplace: bool = False) -> Tensor:
    """Piecewise-linear sigmoid ``relu6(input + 3) / 6``."""
    if inplace:
        return input.hardsigmoid_()
    return _hardsigmoid(input)


# hardswish = x relu6(x + 3) / 6: 0 below -3, x / 3 + 1/2 on [-3, 3], 1 above (PyTorch's branches).
@defop("HardswishBackward0", promote="float", fuse=True)
def _hardswish(a):
    return a * jnp.clip(a + 3.0, 0.0, 6.0) / 6.0


@_hardswish.vjp
def _(g, out, a):
    # PyTorch's kernel: 0 for x <= -3, x/3 + 1/2 for -3 < x < 3, 1 otherwise (NaN included).
    middle = _where(a < 3.0, g * (a / 3.0 + 0.5), g)
    return (_where(a <= -3.0, 0.0, middle),)


def hardswish(input: Tensor, inplace: bool = False) -> Tensor:
    """``input * relu6(input + 3) / 6``."""
    if inplace:
        return input.hardswish_()
    return _hardswish(input)


for _fn in (relu, leaky_relu, elu, selu, celu, gelu, silu, softplus, logsigmoid, mish):
    _public(_fn)
for _fn in (hardtanh, relu6, hardsigmoid, hardswish):
    _public(_fn)


# ------------------------------------------------------------------------------------------ where
@defop("WhereBackward0", promote=None, saves=(0,))
def _where(cond, a, b):
    return jnp.where(cond, a, b)


@_where.vjp
def _(g, out, cond, a, b):
    zero = g * 0
    return (
        None,
        _where(cond, g, zero) if needs_grad(a) else None,
        _where(cond, zero, g) if needs_grad(b) else None,
    )


def where(condition: Tensor, input=None, other=None) -> Tensor:
    """``input`` where ``condition`` holds, else ``other``; either may be a Python number. The two
    values are promoted to a common dtype (PyTorch's rules), and everything broadcasts."""
    if input is None and other is None:
        raise NotImplementedError("where(condition) with one argument: use condition.nonzero()")
    if isinstance(condition, Tensor) and condition.dtype.name not in ("bool", "uint8"):
        name = scalar_type_name(condition.dtype)
        raise RuntimeError(
            f"where expected condition to be a boolean tensor, but got a tensor with dtype {name}"
        )
    dtype = _promote(_where, (input, other))
    if not isinstance(input, Tensor) and not isinstance(other, Tensor):
        input = tensor(input, dtype=dtype)  # two numbers: the result has the default dtype
    input = input.to(dtype) if isinstance(input, Tensor) else input
    other = other.to(dtype) if isinstance(other, Tensor) else other
    return _where(condition, input, other)


@expose(methods=("where",))
def _where_method(self: Tensor, condition: Tensor, other) -> Tensor:
    """``x.where(condition, y)`` is ``where(condition, x, y)``."""
    return where(condition, self, other)
