"""``LKJCholesky``: the LKJ distribution over lower Cholesky factors of correlation matrices, as
PyTorch's (which follows NumPyro). Draws use the onion method of Lewandowski, Kurowicka and Joe
(2009), vectorized over rows: a Beta draw for each row's squared norm below the diagonal and a
uniform direction on the sphere."""

from __future__ import annotations

import math

import numpy as np

from .. import creation
from ..autograd.grad_mode import no_grad
from ..ops.elementwise import where
from ..ops.mathfns import lgamma
from ..ops.shape import cat
from ..ops.special import mvlgamma
from ..tensor import Size, Tensor
from . import constraints
from .distribution import Distribution, broadcast_all
from .gamma import Beta

__all__ = ["LKJCholesky"]


class LKJCholesky(Distribution):
    """LKJ over ``dim x dim`` lower Cholesky factors ``L`` of correlation matrices, with density
    of the correlation matrix ``L L^T`` proportional to ``det(L L^T) ** (concentration - 1)``
    (uniform over correlation matrices at ``concentration == 1``)."""

    arg_constraints = {"concentration": constraints.positive}
    support = constraints.corr_cholesky

    def __init__(
        self, dim: int, concentration: Tensor | float = 1.0, validate_args: bool | None = None
    ) -> None:
        if dim < 2:
            raise ValueError(
                f"Expected dim to be an integer greater than or equal to 2. Found dim={dim}."
            )
        self.dim = dim
        (self.concentration,) = broadcast_all(concentration)
        batch_shape = self.concentration.shape
        event_shape = Size((dim, dim))
        # Onion method (Sec. 3.2 of the paper): row i >= 1 of the factor has squared norm below
        # the diagonal ~ Beta(i / 2, eta + (dim - 2) / 2 - (i - 1) / 2); row 0 gets a dummy
        # draw that is never used. PyTorch's first parameter is i - 1 / 2, which agrees for
        # i = 1 only: its draws for dim >= 3 do not follow the density its log_prob gives (the
        # correlations of later rows come out too spread), so these are the paper's.
        marginal_conc = self.concentration + 0.5 * (self.dim - 2)
        offset = creation.arange(self.dim - 1, dtype=self.concentration.dtype)
        offset = cat([offset.new_zeros((1,)), offset])
        beta_conc1 = 0.5 * offset + 0.5
        beta_conc0 = marginal_conc.unsqueeze(-1) - 0.5 * offset
        self._beta = Beta(beta_conc1, beta_conc0)
        super().__init__(batch_shape, event_shape, validate_args)

    def expand(self, batch_shape, _instance=None):
        new = self._get_checked_instance(LKJCholesky, _instance)
        batch_shape = Size(batch_shape)
        new.dim = self.dim
        new.concentration = self.concentration.expand(*batch_shape)
        new._beta = self._beta.expand((*batch_shape, self.dim))
        Distribution.__init__(new, batch_shape, self.event_shape, validate_args=False)
        new._validate_args = self._validate_args
        return new

    def sample(self, sample_shape=()) -> Tensor:
        """A draw of shape ``sample_shape + batch_shape + (dim, dim)`` by the onion method; like
        PyTorch's, not differentiable (there is no ``rsample``)."""
        with no_grad():
            y = self._beta.sample(sample_shape).unsqueeze(-1)
            shape = self._extended_shape(sample_shape)
            u_normal = creation.randn(*shape, dtype=y.dtype).tril(-1)
            norm = u_normal.norm(dim=-1, keepdim=True)
            # Row 0 has nothing below the diagonal (0 / 0): its direction is zero.
            first_row = creation.arange(self.dim).eq(0).unsqueeze(-1)
            u_hypersphere = where(first_row, 0.0, u_normal / where(first_row, 1.0, norm))
            w = y.sqrt() * u_hypersphere
            tiny = float(np.finfo(w.dtype.np).tiny)
            diag_elems = (1 - w.pow(2).sum(-1)).clamp(min=tiny).sqrt()
            return w + diag_elems.diag_embed()

    def log_prob(self, value) -> Tensor:
        # The density of the correlation matrix is proportional to det ** (eta - 1) =
        # prod L_ii ** (2 (eta - 1)); the Jacobian from the factor to the matrix is
        # prod L_ii ** (dim - i), so the factor's density is prod L_ii ** (2 eta - 2 + dim - i).
        if self._validate_args:
            self._validate_sample(value)
        diag_elems = value.diagonal(dim1=-1, dim2=-2)[..., 1:]
        order = creation.arange(2, self.dim + 1)
        order = 2 * (self.concentration - 1).unsqueeze(-1) + self.dim - order
        unnormalized_log_pdf = (order * diag_elems.log()).sum(-1)
        # The normalizing constant (p. 1999 of the paper); multigammaln's pi term is
        # (D - 1)(D - 2) / 4 log(pi), the paper's D (D - 1) / 4 log(pi): the difference is added.
        dm1 = self.dim - 1
        alpha = self.concentration + 0.5 * dm1
        denominator = lgamma(alpha) * dm1
        numerator = mvlgamma(alpha - 0.5, dm1)
        pi_constant = 0.5 * dm1 * math.log(math.pi)
        normalize_term = pi_constant + numerator - denominator
        return unnormalized_log_pdf - normalize_term
