"""``VonMises``: the circular normal distribution on [-pi, pi)."""

from __future__ import annotations

import math

from .. import creation
from ..autograd.grad_mode import no_grad
from ..ops.elementwise import where
from ..ops.mathfns import _i1, i0
from ..tensor import Size, Tensor
from . import constraints
from .distribution import Distribution, broadcast_all, lazy_property

__all__ = ["VonMises"]

# Beyond this concentration I0 and I1 overflow float32; the asymptotic series (three terms, relative
# error below 2e-8 there) takes over.
_ASYMPTOTIC_FROM = 50.0


def _log_modified_bessel_fn(x: Tensor, order: int = 0) -> Tensor:
    """log I_order(x) for x > 0 and order 0 or 1, differentiable (through the i0/i1 ops below the
    threshold and the asymptotic series e^x / sqrt(2 pi x) (1 + ...) above it)."""
    small = x <= _ASYMPTOTIC_FROM
    xs = where(small, x, 1.0)  # keeps the unused branch finite (and its gradient zero)
    xl = where(small, _ASYMPTOTIC_FROM, x)
    direct = (i0(xs) if order == 0 else _i1(xs)).log()
    inv = 1.0 / xl
    if order == 0:
        series = 1 + inv * (1 / 8 + inv * (9 / 128 + inv * 225 / 3072))
    else:
        series = 1 - inv * (3 / 8 + inv * (15 / 128 + inv * 315 / 3072))
    asymptotic = xl - 0.5 * (2 * math.pi * xl).log() + series.log()
    return where(small, direct, asymptotic)


class VonMises(Distribution):
    """Von Mises with mean direction ``loc`` and ``concentration`` (kappa); sampled by Best and
    Fisher's rejection method (no reparameterized ``rsample``, as in PyTorch)."""

    arg_constraints = {"loc": constraints.real, "concentration": constraints.positive}
    support = constraints.real
    has_rsample = False

    def __init__(self, loc, concentration, validate_args=None) -> None:
        self.loc, self.concentration = broadcast_all(loc, concentration)
        super().__init__(self.loc.shape, Size(), validate_args=validate_args)

    def expand(self, batch_shape, _instance=None):
        return self._expand_params(VonMises, ("loc", "concentration"), batch_shape, _instance)

    def log_prob(self, value) -> Tensor:
        if self._validate_args:
            self._validate_sample(value)
        log_prob = self.concentration * (value - self.loc).cos()
        return (
            log_prob - math.log(2 * math.pi) - _log_modified_bessel_fn(self.concentration, order=0)
        )

    @lazy_property
    def _proposal_r(self) -> Tensor:
        kappa = self.concentration.detach().double()
        tau = 1 + (1 + 4 * kappa**2).sqrt()
        rho = (tau - (2 * tau).sqrt()) / (2 * kappa)
        proposal_r = (1 + rho**2) / (2 * rho)
        return where(kappa < 1e-5, 1 / kappa + kappa, proposal_r)

    def sample(self, sample_shape=()) -> Tensor:
        shape = tuple(self._extended_shape(sample_shape))
        with no_grad():
            loc = self.loc.detach().double()
            kappa = self.concentration.detach().double()
            r = self._proposal_r
            x = creation.zeros(*shape, dtype=loc.dtype)
            done = creation.zeros(*shape, dtype=loc.dtype).bool()
            while not bool(done.all()):
                u1, u2, u3 = creation.rand(3, *shape, dtype=loc.dtype).unbind(0)
                z = (math.pi * u1).cos()
                f = (1 + r * z) / (r + z)
                c = kappa * (r - f)
                accept = ((c * (2 - c) - u2) > 0) | ((c / u2).log() + 1 - c >= 0)
                accept = accept & ~done
                x = where(accept, (u3 - 0.5).sign() * f.acos(), x)
                done = done | accept
            result = (x + math.pi + loc) % (2 * math.pi) - math.pi
            return result.to(self.loc.dtype)

    @property
    def mean(self) -> Tensor:
        return self.loc

    @property
    def mode(self) -> Tensor:
        return self.loc

    @lazy_property
    def variance(self) -> Tensor:
        k = self.concentration
        return 1 - (_log_modified_bessel_fn(k, order=1) - _log_modified_bessel_fn(k, order=0)).exp()
