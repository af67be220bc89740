"""Random sampling from tensors of parameters: ``bernoulli``, ``multinomial``, ``poisson`` and the
in-place fills ``x.uniform_()``, ``x.normal_()``, ``x.bernoulli_()``, ``x.exponential_()``, ...

Draws come from tracegrad's generator (``tracegrad.manual_seed``, or a ``generator=``), so they
are reproducible but not the numbers PyTorch draws. They are not differentiable: a sample carries
no graph (``torch.distributions``' ``rsample`` is the reparameterized way). An in-place fill is an
in-place write like ``copy_``: it bumps the version and refuses a leaf that requires grad outside
``no_grad``.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from . import _dtype
from . import random as _random
from ._dtype import int64
from ._surface import expose
from .tensor import Tensor

__all__ = ["bernoulli", "binomial", "multinomial", "poisson"]


def _draw_dtype(t: Tensor):
    # Draw in float32 (float64 for float64 tensors) and round, as PyTorch's CPU kernels do.
    return jnp.float64 if t.dtype.np == np.float64 else jnp.float32


def _fill(self: Tensor, name: str, array) -> Tensor:
    """Make ``self`` hold ``array`` (cast to its dtype), as an in-place op named ``name``."""
    self._check_inplace(name)
    return self.copy_(Tensor._wrap(jnp.asarray(array).astype(self.dtype.np)))


def _check_float(self: Tensor, name: str) -> None:
    if not self.dtype.is_floating_point:
        raise RuntimeError(f"\"{name}\" not implemented for '{self.dtype}'")


# ----------------------------------------------------------------------------------- bernoulli
def bernoulli(input: Tensor, p=None, *, generator=None) -> Tensor:
    """0/1 draws with probability ``input`` (or ``p`` everywhere), in ``input``'s dtype."""
    probs = input._storage.array if p is None else jnp.full(input.shape, p, jnp.float32)
    if p is None and not input.dtype.is_floating_point:
        raise RuntimeError(f"\"bernoulli\" not implemented for '{input.dtype}'")
    draw = jax.random.uniform(_random.next_key(generator), probs.shape, _draw_dtype(input))
    return Tensor._wrap((draw < probs).astype(input.dtype.np))


@expose(methods=("bernoulli",))
def _bernoulli_method(self: Tensor, p=None, *, generator=None) -> Tensor:
    """``tracegrad.bernoulli(self)``, or with probability ``p`` everywhere."""
    return bernoulli(self, p, generator=generator)


@expose(methods=("bernoulli_",))
def _bernoulli_(self: Tensor, p=0.5, *, generator=None) -> Tensor:
    """Fill with 0/1 draws of probability ``p`` (a number or a tensor broadcasting to ``self``)."""
    probs = p._storage.array if isinstance(p, Tensor) else p
    shape = tuple(self.shape)
    draw = jax.random.uniform(_random.next_key(generator), shape, _draw_dtype(self))
    return _fill(self, "bernoulli_", draw < jnp.broadcast_to(probs, shape))


# --------------------------------------------------------------------------------- multinomial
def multinomial(
    input: Tensor, num_samples: int, replacement: bool = False, *, generator=None
) -> Tensor:
    """Indices drawn from the categorical distribution(s) with weights ``input`` (1-D, or 2-D: one
    distribution per row), ``num_samples`` per distribution, int64. Without ``replacement`` no
    index repeats (the Gumbel top-k construction: the k largest of log-weight plus Gumbel noise)."""
    if input.ndim not in (1, 2):
        raise RuntimeError(f"prob_dist must be 1 or 2 dim, got {input.ndim}")
    if not input.dtype.is_floating_point:
        raise RuntimeError(
            f"multinomial only supports floating-point dtypes for input, got: {input.dtype}"
        )
    n = input.shape[-1]
    if num_samples <= 0:
        raise RuntimeError("cannot sample n_sample <= 0 samples")
    if not replacement and num_samples > n:
        raise RuntimeError(
            "cannot sample n_sample > prob_dist.size(-1) samples without replacement"
        )
    w = np.asarray(input.detach().numpy(force=True), np.float64)
    if not np.isfinite(w).all() or (w < 0).any():
        raise RuntimeError("probability tensor contains either `inf`, `nan` or element < 0")
    if (w.sum(-1) <= 0).any():
        raise RuntimeError("invalid multinomial distribution (sum of probabilities <= 0)")
    logits = jnp.log(input._storage.array.astype(jnp.float32))
    key = _random.next_key(generator)
    if replacement:
        batch = logits.shape[:-1]
        idx = jax.random.categorical(key, logits, shape=(num_samples, *batch))
        idx = jnp.moveaxis(idx, 0, -1)
    else:
        scores = logits + jax.random.gumbel(key, logits.shape, jnp.float32)
        idx = jax.lax.top_k(scores, num_samples)[1]
    return Tensor._wrap(idx.astype(int64.np))


expose(multinomial)


# ------------------------------------------------------------------------------------- poisson
def poisson(input: Tensor, generator=None) -> Tensor:
    """Poisson draws with rates ``input``, in ``input``'s dtype."""
    rate = input._storage.array
    draw = jax.random.poisson(_random.next_key(generator), rate, rate.shape)
    return Tensor._wrap(draw.astype(input.dtype.np))


def binomial(count: Tensor, prob: Tensor, generator=None) -> Tensor:
    """Binomial draws: successes in ``count`` trials of probability ``prob`` (same shape and
    floating dtype), in that dtype."""
    if not count.dtype.is_floating_point:
        raise ValueError(
            f"binomial only supports floating-point dtypes for count, got: "
            f"{_dtype.scalar_type_name(count.dtype)}"
        )
    if prob.dtype != count.dtype:
        raise RuntimeError(
            f"Found dtype {_dtype.scalar_type_name(prob.dtype)} but expected "
            f"{_dtype.scalar_type_name(count.dtype)}"
        )
    n, p = jnp.broadcast_arrays(count._storage.array, prob._storage.array)
    draw = jax.random.binomial(_random.next_key(generator), n, p, n.shape, _draw_dtype(count))
    return Tensor._wrap(draw.astype(count.dtype.np))


# ------------------------------------------------------------------------------ in-place fills
@expose(methods=("uniform_",))
def _uniform_(self: Tensor, from_: float = 0.0, to: float = 1.0, *, generator=None) -> Tensor:
    """Fill with draws from U(from, to)."""
    _check_float(self, "uniform_")
    key = _random.next_key(generator)
    u = jax.random.uniform(key, tuple(self.shape), _draw_dtype(self), minval=from_, maxval=to)
    return _fill(self, "uniform_", u)


@expose(methods=("normal_",))
def _normal_(self: Tensor, mean: float = 0.0, std: float = 1.0, *, generator=None) -> Tensor:
    """Fill with draws from N(mean, std^2)."""
    _check_float(self, "normal_")
    z = jax.random.normal(_random.next_key(generator), tuple(self.shape), _draw_dtype(self))
    return _fill(self, "normal_", z * std + mean)


@expose(methods=("log_normal_",))
def _log_normal_(self: Tensor, mean: float = 1.0, std: float = 2.0, *, generator=None) -> Tensor:
    """Fill with exp of draws from N(mean, std^2)."""
    _check_float(self, "log_normal_")
    z = jax.random.normal(_random.next_key(generator), tuple(self.shape), _draw_dtype(self))
    return _fill(self, "log_normal_", jnp.exp(z * std + mean))


@expose(methods=("exponential_",))
def _exponential_(self: Tensor, lambd: float = 1.0, *, generator=None) -> Tensor:
    """Fill with draws from the exponential distribution of rate ``lambd``."""
    _check_float(self, "exponential_")
    e = jax.random.exponential(_random.next_key(generator), tuple(self.shape), _draw_dtype(self))
    return _fill(self, "exponential_", e / lambd)


@expose(methods=("cauchy_",))
def _cauchy_(self: Tensor, median: float = 0.0, sigma: float = 1.0, *, generator=None) -> Tensor:
    """Fill with draws from the Cauchy distribution."""
    _check_float(self, "cauchy_")
    c = jax.random.cauchy(_random.next_key(generator), tuple(self.shape), _draw_dtype(self))
    return _fill(self, "cauchy_", median + sigma * c)


@expose(methods=("geometric_",))
def _geometric_(self: Tensor, p: float, *, generator=None) -> Tensor:
    """Fill with the number of Bernoulli(p) trials up to the first success (1, 2, ...)."""
    key = _random.next_key(generator)
    u = jax.random.uniform(key, tuple(self.shape), _draw_dtype(self))
    return _fill(self, "geometric_", jnp.ceil(jnp.log1p(-u) / np.log1p(-p)))


@expose(methods=("random_",))
def _random_(self: Tensor, from_: int = 0, to: int | None = None, *, generator=None) -> Tensor:
    """Fill with integers drawn uniformly from [from, to - 1]; ``random_(to)`` is [0, to - 1];
    with no bounds, [0, 2^mantissa] for floating dtypes and the dtype's range for integers."""
    if to is None and from_ != 0:
        from_, to = 0, from_
    if to is None:
        d = self.dtype
        if d.is_floating_point:
            to = 2 ** (np.finfo(d.np).nmant + 1) + 1 if d.np != np.float64 else 2**53 + 1
        elif d.np == np.bool_:
            to = 2
        else:
            to = int(np.iinfo(d.np).max) + 1
    if from_ >= to:
        raise RuntimeError(
            f"random_ expects 'from' to be less than 'to', but got from={from_} >= to={to}"
        )
    key = _random.next_key(generator)
    ints = jax.random.randint(key, tuple(self.shape), from_, to, dtype=jnp.int64)
    return _fill(self, "random_", ints)
