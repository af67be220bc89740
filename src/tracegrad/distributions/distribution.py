"""``Distribution``: the base class of ``tracegrad.distributions``, as PyTorch's.

A distribution has a ``batch_shape`` (independent, differently parameterized copies) and an
``event_shape`` (the shape of one draw). ``sample``/``rsample`` take a ``sample_shape`` and return
``sample_shape + batch_shape + event_shape``; ``log_prob`` returns one value per event. ``rsample``
is reparameterized: the draw is a differentiable function of the parameters (gradients flow
through tracegrad's graph), while ``sample`` carries no graph. Draws use tracegrad's generator.
"""

from __future__ import annotations

import jax
import numpy as np

from ..autograd.grad_mode import no_grad
from ..tensor import Size, Tensor, tensor
from . import constraints

__all__ = ["Distribution", "lazy_property", "broadcast_all", "logits_to_probs", "probs_to_logits"]


class lazy_property:
    """A property computed on first access and then stored on the instance (``probs`` of a
    distribution given ``logits``, and the reverse), as ``torch.distributions.utils``'."""

    def __init__(self, fn) -> None:
        self.wrapped = fn
        self.__doc__ = fn.__doc__

    def __get__(self, instance, owner=None):
        if instance is None:
            return self
        value = self.wrapped(instance)
        instance.__dict__[self.wrapped.__name__] = value
        return value


class Distribution:
    """Base class of probability distributions, as ``torch.distributions.Distribution``."""

    has_rsample = False
    has_enumerate_support = False
    _validate_args = __debug__
    arg_constraints: dict = {}
    support: constraints.Constraint | None = None

    @staticmethod
    def set_default_validate_args(value: bool) -> None:
        """Whether distributions check their parameters and ``log_prob`` values by default."""
        if value not in (True, False):
            raise ValueError
        Distribution._validate_args = value

    def __init__(self, batch_shape=(), event_shape=(), validate_args=None) -> None:
        self._batch_shape = Size(batch_shape)
        self._event_shape = Size(event_shape)
        if validate_args is not None:
            self._validate_args = validate_args
        if self._validate_args:
            arg_constraints = self.arg_constraints
            for param, constraint in arg_constraints.items():
                if param not in self.__dict__ and isinstance(
                    getattr(type(self), param, None), lazy_property
                ):
                    continue  # a lazily computed parameter (probs given logits): not checked
                value = getattr(self, param)
                valid = constraint.check(value)
                if _traced(valid):
                    continue  # inside tracegrad.compile: values are not known until it runs
                if not bool(valid.all()):
                    raise ValueError(
                        f"Expected parameter {param} ({type(value).__name__} of shape "
                        f"{tuple(value.shape)}) of distribution {self!r} to satisfy the "
                        f"constraint {constraint!r}, but found invalid values:\n{value}"
                    )

    @property
    def batch_shape(self) -> Size:
        return self._batch_shape

    @property
    def event_shape(self) -> Size:
        return self._event_shape

    def expand(self, batch_shape, _instance=None):
        raise NotImplementedError(f"{type(self).__name__}.expand")

    @property
    def mean(self) -> Tensor:
        raise NotImplementedError(f"{type(self).__name__} does not implement mean")

    @property
    def mode(self) -> Tensor:
        raise NotImplementedError(f"{type(self).__name__} does not implement mode")

    @property
    def variance(self) -> Tensor:
        raise NotImplementedError(f"{type(self).__name__} does not implement variance")

    @property
    def stddev(self) -> Tensor:
        return self.variance.sqrt()

    def sample(self, sample_shape=()) -> Tensor:
        """A draw of shape ``sample_shape + batch_shape + event_shape``, carrying no graph."""
        with no_grad():
            return self.rsample(sample_shape)

    def rsample(self, sample_shape=()) -> Tensor:
        raise NotImplementedError(
            f"{type(self).__name__} has no reparameterized sampling (rsample); use sample()"
        )

    def sample_n(self, n: int) -> Tensor:
        return self.sample(Size((n,)))

    def log_prob(self, value: Tensor) -> Tensor:
        raise NotImplementedError(f"{type(self).__name__} does not implement log_prob")

    def cdf(self, value: Tensor) -> Tensor:
        raise NotImplementedError(f"{type(self).__name__} does not implement cdf")

    def icdf(self, value: Tensor) -> Tensor:
        raise NotImplementedError(f"{type(self).__name__} does not implement icdf")

    def enumerate_support(self, expand: bool = True) -> Tensor:
        raise NotImplementedError(f"{type(self).__name__} does not implement enumerate_support")

    def entropy(self) -> Tensor:
        raise NotImplementedError(f"{type(self).__name__} does not implement entropy")

    def perplexity(self) -> Tensor:
        return self.entropy().exp()

    def _extended_shape(self, sample_shape=()) -> Size:
        return Size(tuple(sample_shape) + tuple(self._batch_shape) + tuple(self._event_shape))

    def _validate_sample(self, value) -> None:
        if not isinstance(value, Tensor):
            raise ValueError("The value argument to log_prob must be a Tensor")
        event_dim_start = len(value.shape) - len(self._event_shape)
        if tuple(value.shape[event_dim_start:]) != tuple(self._event_shape):
            raise ValueError(
                f"The right-most size of value must match event_shape: {tuple(value.shape)} vs "
                f"{tuple(self._event_shape)}."
            )
        actual = tuple(value.shape)
        expected = tuple(self._batch_shape) + tuple(self._event_shape)
        for i, j in zip(reversed(actual), reversed(expected)):
            if i != 1 and j != 1 and i != j:
                raise ValueError(
                    f"Value is not broadcastable with batch_shape+event_shape: {actual} vs "
                    f"{expected}."
                )
        support = self.support
        valid = support.check(value) if support is not None else None
        if valid is not None and not _traced(valid) and not bool(valid.all()):
            raise ValueError(
                f"Expected value argument ({type(value).__name__} of shape {actual}) to be within "
                f"the support ({support!r}) of the distribution {self!r}, but found invalid "
                f"values:\n{value}"
            )

    def _expand_params(self, cls, names, batch_shape, _instance=None):
        """``expand`` for a distribution whose parameters ``names`` all have its batch shape."""
        new = self._get_checked_instance(cls, _instance)
        for name in names:
            setattr(new, name, getattr(self, name).expand(*batch_shape))
        Distribution.__init__(new, batch_shape, validate_args=False)
        new._validate_args = self._validate_args
        return new

    def _get_checked_instance(self, cls, _instance=None):
        if _instance is None and type(self).__init__ != cls.__init__:
            raise NotImplementedError(
                f"Subclass {self.__class__.__name__} of {cls.__name__} that defines a custom "
                "__init__() method must also define a custom .expand() method."
            )
        return self.__new__(type(self)) if _instance is None else _instance

    def __repr__(self) -> str:
        names = [k for k in self.arg_constraints if k in self.__dict__]
        args = ", ".join(
            f"{p}: {self.__dict__[p] if self.__dict__[p].numel() == 1 else self.__dict__[p].size()}"
            for p in names
        )
        return f"{type(self).__name__}({args})"


class LocationScale(Distribution):
    """Base of the real-valued families parameterized by ``loc`` (the mean and mode) and a positive
    ``scale`` (Normal, Laplace): parameters, shapes and ``expand``; subclasses give the formulas."""

    arg_constraints = {"loc": constraints.real, "scale": constraints.positive}
    support = constraints.real
    has_rsample = True

    def __init__(self, loc, scale, validate_args=None) -> None:
        self.loc, self.scale = broadcast_all(loc, scale)
        super().__init__(self.loc.shape, validate_args=validate_args)

    def expand(self, batch_shape, _instance=None):
        return self._expand_params(type(self), ("loc", "scale"), batch_shape, _instance)

    @property
    def mean(self) -> Tensor:
        return self.loc

    @property
    def mode(self) -> Tensor:
        return self.loc


def _traced(t: Tensor) -> bool:
    return isinstance(t._storage.array, jax.core.Tracer)


def broadcast_all(*values):
    """The tensors and numbers ``values`` as tensors of one broadcast shape (numbers take the
    dtype of the tensors, or the default float dtype)."""
    tensors = [v for v in values if isinstance(v, Tensor)]
    if not tensors and not all(isinstance(v, (int, float)) for v in values):
        raise ValueError("Input arguments must all be instances of numbers.Number or Tensor.")
    dtype = tensors[0].dtype if tensors else None
    out = [v if isinstance(v, Tensor) else tensor(float(v), dtype=dtype) for v in values]
    shape = Size(())
    for v in out:
        shape = _broadcast(shape, v.shape)
    return tuple(v.expand(*shape) if v.shape != shape else v for v in out)


def _broadcast(a, b) -> Size:
    n = max(len(a), len(b))
    a, b = (1,) * (n - len(a)) + tuple(a), (1,) * (n - len(b)) + tuple(b)
    out = []
    for x, y in zip(a, b):
        if x != y and 1 not in (x, y):
            raise RuntimeError("shape mismatch: objects cannot be broadcast to a single shape")
        out.append(max(x, y) if 1 in (x, y) else x)
    return Size(out)


def _clamp_probs(probs: Tensor) -> Tensor:
    eps = finfo_eps(probs)
    return probs.clamp(min=eps, max=1 - eps)


def finfo_eps(t: Tensor) -> float:
    return float(np.finfo(t.dtype.np).eps)


def probs_to_logits(probs: Tensor, is_binary: bool = False) -> Tensor:
    """Log-odds (``is_binary``) or log-probabilities of ``probs``, clamped away from 0 and 1."""
    ps = _clamp_probs(probs)
    return ps.log() - (-ps).log1p() if is_binary else ps.log()


def logits_to_probs(logits: Tensor, is_binary: bool = False) -> Tensor:
    """Probabilities from log-odds (``is_binary``: the sigmoid) or from unnormalized
    log-probabilities over the last dimension (the softmax)."""
    return logits.sigmoid() if is_binary else logits.softmax(-1)


class _BinaryParams:
    """Mixin of the distributions given by a success probability: one of ``probs``/``logits``
    given, the other computed from it (log-odds), and the ``expand`` that carries the given
    one over."""

    @lazy_property
    def logits(self) -> Tensor:
        return probs_to_logits(self.probs, is_binary=True)

    @lazy_property
    def probs(self) -> Tensor:
        return logits_to_probs(self.logits, is_binary=True)

    @property
    def param_shape(self) -> Size:
        return self._param.shape

    def _set_param(self, probs, logits) -> Size:
        """Store whichever of ``probs``/``logits`` is given (exactly one, as PyTorch demands) as a
        tensor; returns the batch shape."""
        if (probs is None) == (logits is None):
            raise ValueError("Either `probs` or `logits` must be specified, but not both.")
        if probs is not None:
            (self.probs,) = broadcast_all(probs)
            self._param = self.probs
        else:
            (self.logits,) = broadcast_all(logits)
            self._param = self.logits
        return self._param.shape

    def _expand_param(self, cls, batch_shape, _instance=None):
        """``expand`` of the given parameter to ``batch_shape``; the caller copies or expands
        the distribution's other attributes onto the result."""
        new = self._get_checked_instance(cls, _instance)
        batch_shape = Size(batch_shape)
        for name in ("probs", "logits"):
            if name in self.__dict__:
                setattr(new, name, getattr(self, name).expand(*batch_shape))
                new._param = getattr(new, name)
        Distribution.__init__(new, batch_shape, validate_args=False)
        new._validate_args = self._validate_args
        return new
