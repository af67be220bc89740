"""Probability distributions, as ``torch.distributions``: parameters are tensors, ``rsample`` is
differentiable through tracegrad's graph, draws use tracegrad's generator.

Implemented: ``Normal``, ``Bernoulli``, ``Categorical``, ``OneHotCategorical``, ``Uniform``,
``Exponential``, ``Laplace``, ``Independent``; ``kl_divergence`` for same-family pairs;
``constraints``. See docs/distributions.md.
"""

from . import constraints
from .bernoulli import Bernoulli
from .categorical import Categorical, OneHotCategorical
from .distribution import Distribution
from .exp_family import ExponentialFamily
from .gamma import Beta, Chi2, Dirichlet, Gamma
from .independent import Independent
from .kl import kl_divergence, register_kl
from .normal import Normal
from .simple import Exponential, Laplace, Uniform

__all__ = [
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
    "Normal",
    "OneHotCategorical",
    "Uniform",
    "constraints",
    "kl_divergence",
    "register_kl",
]
