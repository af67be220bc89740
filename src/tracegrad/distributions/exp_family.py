"""``ExponentialFamily``: distributions of the form exp(<t(x), theta> - F(theta) + k(x)), whose
entropy (and same-family KL) follow from the log normalizer F by a Bregman divergence."""

from __future__ import annotations

from ..autograd import grad as _grad
from ..tensor import Tensor
from .distribution import Distribution

__all__ = ["ExponentialFamily"]


class ExponentialFamily(Distribution):
    """Base of exponential-family distributions: subclasses give ``_natural_params``,
    ``_log_normalizer(*natural_params)`` and ``_mean_carrier_measure``; ``entropy`` is then
    F(theta) - <theta, grad F(theta)> - E[k(x)], the gradient taken by tracegrad's autograd."""

    @property
    def _natural_params(self) -> tuple:
        raise NotImplementedError

    def _log_normalizer(self, *natural_params) -> Tensor:
        raise NotImplementedError

    @property
    def _mean_carrier_measure(self) -> float:
        raise NotImplementedError

    def entropy(self) -> Tensor:
        """Entropy from the log normalizer (a Bregman divergence), as PyTorch's default."""
        result = -self._mean_carrier_measure
        nparams = [p.detach().requires_grad_() for p in self._natural_params]
        lg_normal = self._log_normalizer(*nparams)
        gradients = _grad(lg_normal.sum(), nparams, create_graph=True)
        result = result + lg_normal
        for p, g in zip(nparams, gradients):
            result = result - (p * g).reshape(*self._batch_shape, -1).sum(-1)
        return result
