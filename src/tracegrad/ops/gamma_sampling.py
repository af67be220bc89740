"""Reparameterized gamma draws: ``standard_gamma(concentration)``, differentiable in the
concentration (the ``rsample`` of Gamma, Beta, Dirichlet, Chi2 and the families built on them).

A gamma draw ``x ~ Gamma(a, 1)`` is made by rejection, so it is not a smooth function of ``a`` for
a fixed random stream. Its gradient is the *implicit* reparameterization one (Figurnov et al.,
2018): with the CDF ``F(x; a)`` held fixed, ``dx/da = -(dF/da) / (dF/dx)``. That quantity is
computed numerically by ``jax.lax.random_gamma_grad`` (series and asymptotic expansions of the
incomplete gamma function); it is a value here, not JAX autodiff, wrapped as its own op
``standard_gamma_grad``. As in PyTorch (``_standard_gamma_grad`` is not differentiable), the draw
has a first derivative only.

The random stream enters the op as an operand: ``seed``, the raw data of a JAX key as int64 (a
tracegrad tensor cannot hold uint32). Drawing the key from tracegrad's generator outside the op
keeps the lowering a pure function of its operands, so it can be replayed, traced and compiled.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from .. import random as _random
from ..tensor import Tensor
from .registry import defop, needs_grad, not_implemented_rule

__all__ = ["standard_gamma"]


@defop("StandardGammaBackward0", saves=(0,), save_out=True)
def _standard_gamma(alpha, seed):
    """Gamma(``alpha``, 1) draws from the JAX key whose raw data is ``seed``."""
    key = jax.random.wrap_key_data(seed.astype(jnp.uint32))
    return jax.random.gamma(key, alpha, dtype=alpha.dtype)


@_standard_gamma.vjp
def _(g, out, alpha, seed):
    # dx/dalpha at fixed CDF value (implicit reparameterization); see the module docstring.
    return (g * standard_gamma_grad(alpha, out) if needs_grad(alpha) else None, None)


@defop("NotImplemented", saves=())
def standard_gamma_grad(alpha, x):
    """d x / d alpha of a Gamma(``alpha``, 1) draw ``x`` at a fixed CDF value (no derivative:
    a backward through it raises, as PyTorch's)."""
    return jax.lax.random_gamma_grad(alpha, x)


standard_gamma_grad.vjp(not_implemented_rule("aten::_standard_gamma_grad"))


def standard_gamma(concentration: Tensor, *, generator=None) -> Tensor:
    """Draws from Gamma(``concentration``, 1), one per element, from tracegrad's generator (or
    ``generator``); ``rsample``-differentiable in ``concentration`` (implicit reparameterization)."""
    if not concentration.dtype.is_floating_point:
        raise RuntimeError(f"\"_standard_gamma\" not implemented for '{concentration.dtype}'")
    key = _random.next_key(generator)
    seed = Tensor._wrap(jax.random.key_data(key).astype(jnp.int64))
    return _standard_gamma(concentration, seed)
