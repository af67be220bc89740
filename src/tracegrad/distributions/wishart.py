"""``Wishart``: the distribution of sums of ``df`` outer products of N(0, Sigma) vectors, over
positive-definite matrices. Sigma is given as covariance, precision or its lower Cholesky factor,
and every computation goes through that factor, as PyTorch's. ``rsample`` is the Bartlett
decomposition: chi-square diagonal (reparameterized gamma draws) and normal lower triangle."""

from __future__ import annotations

import math
import warnings

from .. import creation, linalg
from ..ops.broadcast import broadcast_shapes
from ..ops.decomp import slogdet
from ..ops.decomp2 import cholesky_solve
from ..ops.elementwise import where
from ..ops.mathfns import digamma
from ..ops.special import mvlgamma
from ..tensor import Size, Tensor, tensor
from . import constraints
from .distribution import Distribution, _traced, finfo_eps, lazy_property
from .exp_family import ExponentialFamily
from .gamma import Chi2
from .multivariate_normal import _ScaleTrilParams

__all__ = ["Wishart"]

_log_2 = math.log(2)


def _mvdigamma(x: Tensor, p: int) -> Tensor:
    """The multivariate digamma function: sum_{j < p} digamma(x - j / 2)."""
    ok = x.gt((p - 1) / 2).all()
    if not _traced(ok) and not bool(ok):
        raise AssertionError("Wrong domain for multivariate digamma function.")
    offsets = creation.arange(p, dtype=x.dtype).div(2)
    return digamma(x.unsqueeze(-1) - offsets.expand(*x.shape, p)).sum(-1)


def _clamp_above_eps(x: Tensor) -> Tensor:
    # The draws are nonnegative; the clamp keeps the Cholesky factor of a sample invertible.
    return x.clamp(min=finfo_eps(x))


class Wishart(_ScaleTrilParams, ExponentialFamily):
    """Wishart over ``p x p`` positive-definite matrices with ``df`` degrees of freedom (greater
    than ``p - 1``) and scale Sigma given by exactly one of ``covariance_matrix``,
    ``precision_matrix`` or ``scale_tril`` (its lower Cholesky factor); the mean is ``df * Sigma``.
    """

    support = constraints.positive_definite
    has_rsample = True
    _mean_carrier_measure = 0

    @property
    def arg_constraints(self) -> dict:
        return {
            "covariance_matrix": constraints.positive_definite,
            "precision_matrix": constraints.positive_definite,
            "scale_tril": constraints.lower_cholesky,
            "df": constraints.greater_than(self.event_shape[-1] - 1),
        }

    def __init__(
        self,
        df: Tensor | float,
        covariance_matrix: Tensor | None = None,
        precision_matrix: Tensor | None = None,
        scale_tril: Tensor | None = None,
        validate_args: bool | None = None,
    ) -> None:
        given = (covariance_matrix is not None) + (scale_tril is not None)
        if given + (precision_matrix is not None) != 1:
            raise AssertionError(
                "Exactly one of covariance_matrix or precision_matrix or scale_tril may be "
                "specified."
            )
        param = next(p for p in (covariance_matrix, precision_matrix, scale_tril) if p is not None)
        if param.dim() < 2:
            raise ValueError(
                "scale_tril must be at least two-dimensional, with optional leading batch "
                "dimensions"
            )
        if isinstance(df, Tensor):
            batch_shape = Size(broadcast_shapes(tuple(param.shape[:-2]), tuple(df.shape)))
            self.df = df.expand(*batch_shape)
        else:
            batch_shape = Size(param.shape[:-2])
            self.df = tensor(float(df), dtype=param.dtype)
        event_shape = Size(param.shape[-2:])
        p = event_shape[-1]

        too_small = self.df.le(p - 1).any()
        if not _traced(too_small) and bool(too_small):
            raise ValueError(f"Value of df={df} expected to be greater than ndim - 1 = {p - 1}.")
        expanded = param.expand(*batch_shape, -1, -1)
        self._keep_given(expanded, covariance_matrix, scale_tril)

        low = self.df.lt(p).any()
        if not _traced(low) and bool(low):
            warnings.warn(
                "Low df values detected. Singular samples are highly likely to occur for "
                "ndim - 1 < df < ndim.",
                stacklevel=2,
            )

        super().__init__(batch_shape, event_shape, validate_args=validate_args)
        self._batch_dims = [-(x + 1) for x in range(len(self._batch_shape))]
        self._factor_given(covariance_matrix, precision_matrix, scale_tril)
        self._dist_chi2 = self._bartlett_chi2(batch_shape)

    def _bartlett_chi2(self, batch_shape) -> Chi2:
        # The k-th diagonal entry of the Bartlett factor is the square root of a chi-square
        # with df - k degrees of freedom.
        p = self._event_shape[-1]
        offsets = creation.arange(p, dtype=self._unbroadcasted_scale_tril.dtype)
        return Chi2(df=self.df.unsqueeze(-1) - offsets.expand(*batch_shape, p))

    def expand(self, batch_shape, _instance=None):
        new = self._get_checked_instance(Wishart, _instance)
        batch_shape = Size(batch_shape)
        cov_shape = (*batch_shape, *self.event_shape)
        new._unbroadcasted_scale_tril = self._unbroadcasted_scale_tril.expand(*cov_shape)
        new.df = self.df.expand(*batch_shape)
        new._batch_dims = [-(x + 1) for x in range(len(batch_shape))]
        self._expand_matrices_into(new, cov_shape)
        Distribution.__init__(new, batch_shape, self.event_shape, validate_args=False)
        new._dist_chi2 = new._bartlett_chi2(batch_shape)
        new._validate_args = self._validate_args
        return new

    def _matrix_shape(self) -> tuple:
        return (*self._batch_shape, *self._event_shape)

    @lazy_property
    def precision_matrix(self) -> Tensor:
        L = self._unbroadcasted_scale_tril
        identity = creation.eye(self._event_shape[-1], dtype=L.dtype)
        return cholesky_solve(identity.expand(*L.shape), L).expand(*self._matrix_shape())

    def _df_matrix(self) -> Tensor:
        return self.df.reshape(*self._batch_shape, 1, 1)

    @property
    def mean(self) -> Tensor:
        return self._df_matrix() * self.covariance_matrix

    @property
    def mode(self) -> Tensor:
        factor = self.df - self.covariance_matrix.shape[-1] - 1
        # No mode for df <= p + 1: NaN there, as PyTorch's.
        factor = factor.masked_fill(factor <= 0, float("nan"))
        return factor.reshape(*self._batch_shape, 1, 1) * self.covariance_matrix

    @property
    def variance(self) -> Tensor:
        V = self.covariance_matrix
        diag_V = V.diagonal(dim1=-2, dim2=-1)
        return self._df_matrix() * (V.pow(2) + diag_V.unsqueeze(-1) * diag_V.unsqueeze(-2))

    def _bartlett_sampling(self, sample_shape) -> Tensor:
        p = self._event_shape[-1]
        L = self._unbroadcasted_scale_tril
        chi = _clamp_above_eps(self._dist_chi2.rsample(sample_shape).sqrt())
        # The strictly lower triangle holds standard normals (PyTorch draws only those
        # p (p - 1) / 2 numbers and scatters them; the distribution is the same).
        shape = (*sample_shape, *self._batch_shape, p, p)
        normal = creation.randn(*shape, dtype=chi.dtype).tril(-1)
        chol = L @ (chi.diag_embed(dim1=-2, dim2=-1) + normal)
        return chol @ chol.mT

    def _singular(self, sample: Tensor) -> Tensor:
        # A sample is L A A^T L^T, symmetric by construction, so positive definiteness is a
        # successful Cholesky factorization (traceable, unlike the support check's bool()).
        singular = linalg.cholesky_ex(sample.detach()).info.ne(0)
        if self._batch_shape:
            singular = singular.amax(self._batch_dims)
        return singular

    def rsample(self, sample_shape=(), max_try_correction: int | None = None) -> Tensor:
        """A reparameterized draw by the Bartlett decomposition. A draw that is numerically
        singular (likely for ``p - 1 < df < p``) is redrawn up to ``max_try_correction`` times
        (default 10, or 3 inside ``tracegrad.compile``); one still singular is returned as is
        (its ``log_prob`` may be ``-inf``)."""
        sample_shape = Size(sample_shape)
        sample = self._bartlett_sampling(sample_shape)
        singular = self._singular(sample)
        event_dims = len(self._batch_shape) + 2
        traced = _traced(singular)
        if max_try_correction is None:
            max_try_correction = 3 if traced else 10
        if traced:
            # Values are unknown while tracing: redraw a fixed number of times, as PyTorch's
            # traced version.
            for _ in range(max_try_correction):
                mask = singular.reshape(*singular.shape, *(1,) * event_dims)
                sample = where(mask, self._bartlett_sampling(sample_shape), sample)
                singular = self._singular(sample)
        elif bool(singular.any()):
            warnings.warn("Singular sample detected.", stacklevel=2)
            for _ in range(max_try_correction):
                mask = singular.reshape(*singular.shape, *(1,) * event_dims)
                sample = where(mask, self._bartlett_sampling(sample_shape), sample)
                singular = self._singular(sample)
                if not bool(singular.any()):
                    break
        return sample

    def log_prob(self, value) -> Tensor:
        if self._validate_args:
            self._validate_sample(value)
        nu = self.df
        p = self._event_shape[-1]
        L = self._unbroadcasted_scale_tril
        half_log_det = L.diagonal(dim1=-2, dim2=-1).log().sum(-1)
        return (
            -nu * (p * _log_2 / 2 + half_log_det)
            - mvlgamma(nu / 2, p)
            + (nu - p - 1) / 2 * slogdet(value)[1]
            - _solve_trace(value, L) / 2
        )

    def entropy(self) -> Tensor:
        nu = self.df
        p = self._event_shape[-1]
        half_log_det = self._unbroadcasted_scale_tril.diagonal(dim1=-2, dim2=-1).log().sum(-1)
        return (
            (p + 1) * (p * _log_2 / 2 + half_log_det)
            + mvlgamma(nu / 2, p)
            - (nu - p - 1) / 2 * _mvdigamma(nu / 2, p)
            + nu * p / 2
        )

    @property
    def _natural_params(self) -> tuple:
        # The second parameter, (df - p - 1) / 2, is kept with two trailing unit dimensions so
        # that the exponential-family KL sums each term over the event dimensions only (PyTorch's
        # summing of a batch-shaped term adds the whole batch into every entry).
        p = self._event_shape[-1]
        return -self.precision_matrix / 2, self._df_matrix().sub(p + 1).div(2)

    def _log_normalizer(self, x, y) -> Tensor:
        p = self._event_shape[-1]
        y = y.squeeze(-1).squeeze(-1)
        return (y + (p + 1) / 2) * (-slogdet(-2 * x)[1] + _log_2 * p) + mvlgamma(y + (p + 1) / 2, p)


def _solve_trace(value: Tensor, L: Tensor) -> Tensor:
    """trace((L L^T)^-1 value), with ``L`` broadcast against ``value``'s batch."""
    batch = tuple(broadcast_shapes(tuple(L.shape[:-2]), tuple(value.shape[:-2])))
    n = value.shape[-1]
    solved = cholesky_solve(value.expand(*batch, n, n), L.expand(*batch, n, n))
    return solved.diagonal(dim1=-2, dim2=-1).sum(-1)
