"""Probability distributions, as ``torch.distributions``: parameters are tensors, ``rsample`` is
differentiable through tracegrad's graph, draws use tracegrad's generator.

Implemented: ``Normal``, ``Bernoulli``, ``Categorical``, ``OneHotCategorical``, ``Uniform``,
``Exponential``, ``Laplace``, ``Independent``, ``Wishart``, ``LKJCholesky`` and more; ``kl_divergence`` for same-family pairs;
``constraints``. See docs/distributions.md.
"""

from . import constraints, transforms
from .bernoulli import Bernoulli
from .categorical import Categorical, OneHotCategorical, OneHotCategoricalStraightThrough
from .constraint_registry import biject_to, transform_to
from .continuous import (
    Cauchy,
    FisherSnedecor,
    GeneralizedPareto,
    Gumbel,
    HalfCauchy,
    HalfNormal,
    InverseGamma,
    Kumaraswamy,
    Pareto,
    StudentT,
    Weibull,
)
from .discrete import Binomial, Geometric, Multinomial, NegativeBinomial, Poisson
from .distribution import Distribution
from .exp_family import ExponentialFamily
from .gamma import Beta, Chi2, Dirichlet, Gamma
from .independent import Independent
from .kl import kl_divergence, register_kl
from .lkj_cholesky import LKJCholesky
from .mixture_same_family import MixtureSameFamily
from .multivariate_normal import LowRankMultivariateNormal, MultivariateNormal
from .normal import Normal
from .relaxed import (
    ContinuousBernoulli,
    LogisticNormal,
    RelaxedBernoulli,
    RelaxedOneHotCategorical,
)
from .simple import Exponential, Laplace, Uniform
from .transformed_distribution import LogNormal, TransformedDistribution
from .transforms import *  # noqa: F403
from .von_mises import VonMises
from .wishart import Wishart

__all__ = [
    "LKJCholesky",
    "Wishart",
    "VonMises",
    "RelaxedOneHotCategorical",
    "RelaxedBernoulli",
    "LogisticNormal",
    "ContinuousBernoulli",
    "MixtureSameFamily",
    "OneHotCategoricalStraightThrough",
    "Weibull",
    "StudentT",
    "Pareto",
    "Kumaraswamy",
    "InverseGamma",
    "HalfNormal",
    "HalfCauchy",
    "Gumbel",
    "GeneralizedPareto",
    "FisherSnedecor",
    "Cauchy",
    "Poisson",
    "NegativeBinomial",
    "Multinomial",
    "Geometric",
    "Binomial",
    "Bernoulli",
    "Beta",
    "Chi2",
    "Dirichlet",
    "ExponentialFamily",
    "Gamma",
    "Categorical",
    "Distribution",
    "Exponential",
    "Independent",
    "Laplace",
    "LogNormal",
    "LowRankMultivariateNormal",
    "MultivariateNormal",
    "Normal",
    "OneHotCategorical",
    "TransformedDistribution",
    "Uniform",
    "biject_to",
    "constraints",
    "kl_divergence",
    "register_kl",
    "transform_to",
    "transforms",
]
__all__ += transforms.__all__
