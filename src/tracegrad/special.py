"""``tracegrad.special``, as ``torch.special``: the error, gamma, Bessel and Airy functions, the
normal distribution's functions, the orthogonal polynomials, and PyTorch's aliases of
``tracegrad`` functions (``expit`` is ``sigmoid``, ``gammaln`` is ``lgamma``, ``psi`` is
``digamma``, ...).

The ops themselves live in ``ops/special.py`` (the functions new here) and ``ops/mathfns.py`` /
``ops/elementwise.py`` / ``ops/reduction.py`` (those ``torch`` also has at the top level). Every
function takes PyTorch's ``out=`` except ``softmax`` and ``log_softmax`` (whose ``dtype`` is
keyword-only here, as in ``torch.special``). Gradients are PyTorch's: ``gammainc``, ``gammaincc``
and ``zeta`` are differentiable in their second argument only, and the Bessel and Airy functions
and the polynomials have none (their results never require grad).
"""

from __future__ import annotations

import math

from .ops import elementwise, mathfns, reduction
from .ops import special as _ops
from .ops.out import CAST, SAME, with_out
from .tensor import Tensor

__all__ = [
    "airy_ai",
    "bessel_j0",
    "bessel_j1",
    "bessel_y0",
    "bessel_y1",
    "chebyshev_polynomial_t",
    "chebyshev_polynomial_u",
    "chebyshev_polynomial_v",
    "chebyshev_polynomial_w",
    "digamma",
    "entr",
    "erf",
    "erfc",
    "erfcx",
    "erfinv",
    "exp2",
    "expit",
    "expm1",
    "gammainc",
    "gammaincc",
    "gammaln",
    "hermite_polynomial_h",
    "hermite_polynomial_he",
    "i0",
    "i0e",
    "i1",
    "i1e",
    "laguerre_polynomial_l",
    "legendre_polynomial_p",
    "log1p",
    "log_ndtr",
    "log_softmax",
    "logit",
    "logsumexp",
    "modified_bessel_i0",
    "modified_bessel_i1",
    "modified_bessel_k0",
    "modified_bessel_k1",
    "multigammaln",
    "ndtr",
    "ndtri",
    "polygamma",
    "psi",
    "round",
    "scaled_modified_bessel_k0",
    "scaled_modified_bessel_k1",
    "shifted_chebyshev_polynomial_t",
    "shifted_chebyshev_polynomial_u",
    "shifted_chebyshev_polynomial_v",
    "shifted_chebyshev_polynomial_w",
    "sinc",
    "softmax",
    "spherical_bessel_j0",
    "xlog1py",
    "xlogy",
    "zeta",
]


def _unwrapped(fn):
    """The function under a top-level ``out=`` wrapper (this module adds its own); only that
    wrapper is removed (``_surface.numpy_keepdims`` under it stays)."""
    return fn.__wrapped__ if getattr(fn, "out_rule", None) is not None else fn


def _entr(input: Tensor) -> Tensor:
    """The entropy term ``-input * log(input)``: 0 at 0 and ``-inf`` for negative values."""
    return _ops.entr(input)


def _erfcx(input: Tensor) -> Tensor:
    """The scaled complementary error function ``exp(input ** 2) * erfc(input)``."""
    return _ops.erfcx(input)


def _i0e(input: Tensor) -> Tensor:
    """The exponentially scaled modified Bessel function of order 0, ``exp(-|x|) * i0(x)``."""
    return _ops.i0e(input)


def _i1(input: Tensor) -> Tensor:
    """The modified Bessel function of the first kind of order 1 (differentiable)."""
    return _ops.i1(input)


def _i1e(input: Tensor) -> Tensor:
    """The exponentially scaled modified Bessel function of order 1, ``exp(-|x|) * i1(x)``."""
    return _ops.i1e(input)


def _log_ndtr(input: Tensor) -> Tensor:
    """The log of the standard normal distribution function, accurate in both tails."""
    return _ops.log_ndtr(input)


def _ndtri(input: Tensor) -> Tensor:
    """The standard normal quantile function, the inverse of ``ndtr``."""
    return _ops.ndtri(input)


def _ndtr(input: Tensor) -> Tensor:
    """The standard normal distribution function ``(1 + erf(input / sqrt(2))) / 2``, computed
    as PyTorch does (so it is 0 far in the left tail, where ``log_ndtr`` keeps the precision)."""
    return (1 + elementwise.erf(input * math.sqrt(0.5))) * 0.5


def _gammainc(input: Tensor, other: Tensor) -> Tensor:
    """The regularized lower incomplete gamma function ``P(input, other)``; differentiable in
    ``other`` only."""
    _ops._check_igamma("special_gammainc", "igamma", input, other, _ops._igamma)
    return _ops._igamma(input, other)


def _gammaincc(input: Tensor, other: Tensor) -> Tensor:
    """The regularized upper incomplete gamma function ``Q(input, other)``; differentiable in
    ``other`` only."""
    _ops._check_igamma("special_gammaincc", "igammac", input, other, _ops._igammac)
    return _ops._igammac(input, other)


def _multigammaln(input: Tensor, p: int) -> Tensor:
    """The multivariate log-gamma function of dimension ``p`` (``torch.mvlgamma``)."""
    return _ops._mvlgamma(input, p=_ops._check_p("special_multigammaln", p))


def _expit(input: Tensor) -> Tensor:
    """The logistic sigmoid ``1 / (1 + exp(-input))``."""
    return elementwise.sigmoid(input)


def _gammaln(input: Tensor) -> Tensor:
    """The log of the absolute value of the gamma function (``lgamma``)."""
    return mathfns.lgamma(input)


def _psi(input: Tensor) -> Tensor:
    """The digamma function, ``lgamma'`` (an alias of ``digamma``)."""
    return mathfns.digamma(input)


def _round(input: Tensor, *, decimals: int = 0) -> Tensor:
    """Round to ``decimals`` decimal places, halves to even (``torch.round``)."""
    return elementwise.round(input, decimals=decimals)


def softmax(input: Tensor, dim: int, *, dtype=None) -> Tensor:
    """``exp(x) / sum(exp(x), dim)``, computed stably; ``dtype`` casts the input first."""
    return reduction.softmax(input, dim, dtype)


def log_softmax(input: Tensor, dim: int, *, dtype=None) -> Tensor:
    """``x - logsumexp(x, dim)``, computed stably; ``dtype`` casts the input first."""
    return reduction.log_softmax(input, dim, dtype)


def _named(fn, name: str, rule: str = CAST):
    return with_out(fn, name, rule)


airy_ai = _named(_ops.airy_ai, "airy_ai")
bessel_j0 = _named(_ops.bessel_j0, "bessel_j0")
bessel_j1 = _named(_ops.bessel_j1, "bessel_j1")
bessel_y0 = _named(_ops.bessel_y0, "bessel_y0")
bessel_y1 = _named(_ops.bessel_y1, "bessel_y1")
modified_bessel_i0 = _named(_ops.modified_bessel_i0, "modified_bessel_i0")
modified_bessel_i1 = _named(_ops.modified_bessel_i1, "modified_bessel_i1")
modified_bessel_k0 = _named(_ops.modified_bessel_k0, "modified_bessel_k0")
modified_bessel_k1 = _named(_ops.modified_bessel_k1, "modified_bessel_k1")
scaled_modified_bessel_k0 = _named(_ops.scaled_modified_bessel_k0, "scaled_modified_bessel_k0")
scaled_modified_bessel_k1 = _named(_ops.scaled_modified_bessel_k1, "scaled_modified_bessel_k1")
spherical_bessel_j0 = _named(_ops.spherical_bessel_j0, "spherical_bessel_j0")
chebyshev_polynomial_t = _named(_ops.chebyshev_polynomial_t, "chebyshev_polynomial_t")
chebyshev_polynomial_u = _named(_ops.chebyshev_polynomial_u, "chebyshev_polynomial_u")
chebyshev_polynomial_v = _named(_ops.chebyshev_polynomial_v, "chebyshev_polynomial_v")
chebyshev_polynomial_w = _named(_ops.chebyshev_polynomial_w, "chebyshev_polynomial_w")
shifted_chebyshev_polynomial_t = _named(
    _ops.shifted_chebyshev_polynomial_t, "shifted_chebyshev_polynomial_t"
)
shifted_chebyshev_polynomial_u = _named(
    _ops.shifted_chebyshev_polynomial_u, "shifted_chebyshev_polynomial_u"
)
shifted_chebyshev_polynomial_v = _named(
    _ops.shifted_chebyshev_polynomial_v, "shifted_chebyshev_polynomial_v"
)
shifted_chebyshev_polynomial_w = _named(
    _ops.shifted_chebyshev_polynomial_w, "shifted_chebyshev_polynomial_w"
)
hermite_polynomial_h = _named(_ops.hermite_polynomial_h, "hermite_polynomial_h")
hermite_polynomial_he = _named(_ops.hermite_polynomial_he, "hermite_polynomial_he")
laguerre_polynomial_l = _named(_ops.laguerre_polynomial_l, "laguerre_polynomial_l")
legendre_polynomial_p = _named(_ops.legendre_polynomial_p, "legendre_polynomial_p")

entr = _named(_entr, "entr")
erfcx = _named(_erfcx, "erfcx")
i0e = _named(_i0e, "i0e")
i1 = _named(_i1, "i1")
i1e = _named(_i1e, "i1e")
log_ndtr = _named(_log_ndtr, "log_ndtr")
ndtr = _named(_ndtr, "ndtr")
ndtri = _named(_ndtri, "ndtri")
gammainc = _named(_gammainc, "gammainc")
gammaincc = _named(_gammaincc, "gammaincc")
multigammaln = _named(_multigammaln, "multigammaln")
zeta = _named(_ops.zeta, "zeta")
xlog1py = _named(_ops.xlog1py, "xlog1py")
expit = _named(_expit, "expit")
gammaln = _named(_gammaln, "gammaln")
psi = _named(_psi, "psi")
round = _named(_round, "round", SAME)  # noqa: A001 - PyTorch's name

# Aliases of the top-level functions, each with its own out= form.
digamma = _named(_unwrapped(mathfns.digamma), "digamma")
erf = _named(_unwrapped(elementwise.erf), "erf")
erfc = _named(_unwrapped(elementwise.erfc), "erfc")
erfinv = _named(_unwrapped(mathfns.erfinv), "erfinv")
exp2 = _named(_unwrapped(mathfns.exp2), "exp2")
expm1 = _named(_unwrapped(elementwise.expm1), "expm1")
i0 = _named(_unwrapped(mathfns.i0), "i0")
log1p = _named(_unwrapped(elementwise.log1p), "log1p")
logit = _named(_unwrapped(mathfns.logit), "logit")
logsumexp = _named(_unwrapped(reduction.logsumexp), "logsumexp")
polygamma = _named(_unwrapped(mathfns.polygamma), "polygamma")
sinc = _named(_unwrapped(mathfns.sinc), "sinc")
xlogy = _named(_unwrapped(mathfns.xlogy), "xlogy")
