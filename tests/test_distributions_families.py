"""The gamma, transformed, multivariate, counting, relaxed and mixture families of
tracegrad.distributions against torch.distributions on the same parameters and values (log_prob,
entropy, moments, cdf/icdf, KL, shapes); transforms and the biject_to/transform_to registries
against PyTorch's; reparameterized gamma draws against the implicit-reparameterization gradient
computed from scipy's incomplete gamma function; sample moments with fixed seeds."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.special as sps

import tracegrad as tg
import tracegrad.distributions as D
import tracegrad.distributions.relaxed as DR

from .tiers import slow_after

torch = pytest.importorskip("torch")
TD = torch.distributions
TT = TD.transforms

RNG = np.random.default_rng(0)
LOC = RNG.standard_normal(4)
SCALE = RNG.uniform(0.5, 2.0, 4)
CONC = np.array([0.5, 1.5, 2.5, 5.0])
CONC2 = np.array([3.0, 0.7, 4.5, 1.2])
PROBS = np.array([0.2, 0.4995, 0.7, 0.9])
X = RNG.standard_normal((2, 4))
XPOS = np.abs(X) + 0.1
XUNIT = RNG.uniform(0.05, 0.95, (2, 4))
WEIGHTS = RNG.uniform(0.1, 1.0, (2, 4))
SIMPLEX = RNG.dirichlet(np.ones(4), size=2)
COUNTS = RNG.integers(0, 5, (2, 4)).astype(np.float64)
N = 3
_A = RNG.standard_normal((2, N, N))
COV = _A @ _A.transpose(0, 2, 1) + N * np.eye(N)
MVLOC = RNG.standard_normal((2, N))
MVX = RNG.standard_normal((5, 2, N))
FACTOR = RNG.standard_normal((2, N, 2))
DIAG = RNG.uniform(0.5, 2.0, (2, N))
MIXLOC = RNG.standard_normal((2, 4))
MIXSCALE = RNG.uniform(0.5, 1.0, (2, 4))


def _t(m, a):
    return torch.tensor(a) if m is TD else tg.tensor(a)


def _module(m, torch_name):
    """Classes PyTorch keeps out of torch.distributions' namespace (in their own modules)."""
    return getattr(TD, torch_name) if m is TD else DR


def close(got, want, rtol=1e-6, atol=1e-8):
    got = np.asarray(got.detach().numpy())
    want = want.detach().numpy()
    assert got.shape == want.shape, (got.shape, want.shape)
    np.testing.assert_allclose(got, want, rtol=rtol, atol=atol, equal_nan=True)


# name: (factory(module), value for log_prob, values for cdf/icdf or None)
CASES = {
    "gamma": (lambda m: m.Gamma(_t(m, CONC), _t(m, SCALE)), XPOS, XPOS),
    "chi2": (lambda m: m.Chi2(_t(m, CONC)), XPOS, None),
    "beta": (lambda m: m.Beta(_t(m, CONC), _t(m, CONC2)), XUNIT, None),
    "dirichlet": (lambda m: m.Dirichlet(_t(m, WEIGHTS * 3)), SIMPLEX, None),
    "lognormal": (lambda m: m.LogNormal(_t(m, LOC), _t(m, SCALE)), XPOS, XPOS),
    "mvn_cov": (
        lambda m: m.MultivariateNormal(_t(m, MVLOC), covariance_matrix=_t(m, COV)),
        MVX,
        None,
    ),
    "mvn_prec": (
        lambda m: m.MultivariateNormal(_t(m, MVLOC), precision_matrix=_t(m, np.linalg.inv(COV))),
        MVX,
        None,
    ),
    "mvn_tril": (
        lambda m: m.MultivariateNormal(_t(m, MVLOC[0]), scale_tril=_t(m, np.linalg.cholesky(COV))),
        MVX,
        None,
    ),
    "lowrank_mvn": (
        lambda m: m.LowRankMultivariateNormal(_t(m, MVLOC), _t(m, FACTOR), _t(m, DIAG)),
        MVX,
        None,
    ),
    "poisson": (lambda m: m.Poisson(_t(m, SCALE * 2)), COUNTS, None),
    "binomial": (lambda m: m.Binomial(5, _t(m, PROBS)), COUNTS, None),
    "binomial_logits": (
        lambda m: m.Binomial(_t(m, np.full(4, 6.0)), logits=_t(m, LOC)),
        COUNTS,
        None,
    ),
    "geometric": (lambda m: m.Geometric(_t(m, PROBS)), COUNTS, None),
    "negative_binomial": (lambda m: m.NegativeBinomial(_t(m, SCALE), _t(m, PROBS)), COUNTS, None),
    "multinomial": (
        lambda m: m.Multinomial(4, _t(m, WEIGHTS)),
        np.array([[1.0, 2, 0, 1], [0, 0, 4, 0]]),
        None,
    ),
    "cauchy": (lambda m: m.Cauchy(_t(m, LOC), _t(m, SCALE)), X, XUNIT),
    "half_normal": (lambda m: m.HalfNormal(_t(m, SCALE)), XPOS, XUNIT),
    "half_cauchy": (lambda m: m.HalfCauchy(_t(m, SCALE)), XPOS, XUNIT),
    "student_t": (lambda m: m.StudentT(_t(m, CONC), _t(m, LOC), _t(m, SCALE)), X, None),
    "gumbel": (lambda m: m.Gumbel(_t(m, LOC), _t(m, SCALE)), X, XUNIT),
    "weibull": (lambda m: m.Weibull(_t(m, SCALE), _t(m, CONC)), XPOS, XUNIT),
    "pareto": (lambda m: m.Pareto(_t(m, SCALE * 0.1), _t(m, CONC)), XPOS + 0.2, XPOS + 0.2),
    "kumaraswamy": (lambda m: m.Kumaraswamy(_t(m, CONC), _t(m, CONC2)), XUNIT, XUNIT),
    "fisher_snedecor": (lambda m: m.FisherSnedecor(_t(m, CONC * 2), _t(m, CONC2 * 3)), XPOS, None),
    "inverse_gamma": (lambda m: m.InverseGamma(_t(m, CONC), _t(m, SCALE)), XPOS, XPOS),
    "relaxed_bernoulli": (
        lambda m: m.RelaxedBernoulli(_t(m, np.array(0.7)), _t(m, PROBS)),
        XUNIT,
        None,
    ),
    "logit_relaxed_bernoulli": (
        lambda m: _module(m, "relaxed_bernoulli").LogitRelaxedBernoulli(
            _t(m, np.array(0.7)), logits=_t(m, LOC)
        ),
        X,
        None,
    ),
    "relaxed_one_hot": (
        lambda m: m.RelaxedOneHotCategorical(_t(m, np.array(0.7)), _t(m, WEIGHTS)),
        SIMPLEX,
        None,
    ),
    "exp_relaxed_categorical": (
        lambda m: _module(m, "relaxed_categorical").ExpRelaxedCategorical(
            _t(m, np.array(0.7)), logits=_t(m, WEIGHTS)
        ),
        np.log(SIMPLEX),
        None,
    ),
    "continuous_bernoulli": (lambda m: m.ContinuousBernoulli(_t(m, PROBS)), XUNIT, XUNIT),
    "continuous_bernoulli_logits": (
        lambda m: m.ContinuousBernoulli(logits=_t(m, LOC)),
        XUNIT,
        XUNIT,
    ),
    "logistic_normal": (lambda m: m.LogisticNormal(_t(m, MVLOC), _t(m, DIAG)), SIMPLEX, None),
    "one_hot_straight_through": (
        lambda m: m.OneHotCategoricalStraightThrough(_t(m, WEIGHTS)),
        np.eye(4)[[0, 3]],
        None,
    ),
    "mixture": (
        lambda m: m.MixtureSameFamily(
            m.Categorical(_t(m, WEIGHTS)), m.Normal(_t(m, MIXLOC), _t(m, MIXSCALE))
        ),
        RNG.standard_normal((5, 2)),
        RNG.standard_normal((5, 2)),
    ),
    "mixture_independent": (
        lambda m: m.MixtureSameFamily(
            m.Categorical(_t(m, WEIGHTS[0])),
            m.Independent(m.Normal(_t(m, MIXLOC.T[:, :2]), _t(m, MIXSCALE.T[:, :2])), 1),
        ),
        RNG.standard_normal((5, 2)),
        None,
    ),
}
_SETS = ["gamma", "mvn_cov", "binomial_logits", "mixture"]  # the fast tier's share
_ORDER = _SETS + sorted(set(CASES) - set(_SETS))


def _maybe(fn):
    """PyTorch's value, or None where PyTorch does not implement it."""
    try:
        return fn()
    except NotImplementedError:
        return None


@pytest.mark.parametrize("name", slow_after(_ORDER, keep=2))
def test_family_matches_pytorch(name):
    make, value, cdf_values = CASES[name]
    p, q = make(TD), make(D)
    assert type(q).__name__ == type(p).__name__
    assert tuple(q.batch_shape) == tuple(p.batch_shape)
    assert tuple(q.event_shape) == tuple(p.event_shape)
    assert q.has_rsample == p.has_rsample
    close(q.log_prob(tg.tensor(value)), p.log_prob(torch.tensor(value)))
    want = _maybe(p.entropy)
    if want is None:
        with pytest.raises(NotImplementedError):
            q.entropy()
    else:
        close(q.entropy(), want, rtol=1e-5)
    for moment in ("mean", "mode", "variance", "stddev"):
        want = _maybe(lambda moment=moment: getattr(p, moment))
        if want is not None:
            close(getattr(q, moment), want)
    if cdf_values is not None:
        close(q.cdf(tg.tensor(cdf_values)), p.cdf(torch.tensor(cdf_values)))
        probe = np.clip(XUNIT, 0.05, 0.95)
        want = _maybe(lambda: p.icdf(torch.tensor(probe)))
        if want is not None and probe.shape[-1:] == tuple(q.batch_shape)[-1:]:
            close(q.icdf(tg.tensor(probe)), want)
    draw = q.rsample((3,)) if q.has_rsample else q.sample((3,))
    assert tuple(draw.shape) == tuple(p.sample((3,)).shape)
    batch = (2, *q.batch_shape)
    assert tuple(q.expand(batch).batch_shape) == tuple(p.expand(batch).batch_shape)
    one = value[(0,) * (value.ndim - len(q.batch_shape) - len(q.event_shape))]  # no sample dims
    close(q.expand(batch).log_prob(tg.tensor(one)), p.expand(batch).log_prob(torch.tensor(one)))


KL_PAIRS = [
    ("gamma", lambda m: m.Gamma(_t(m, CONC), _t(m, SCALE)), lambda m: m.Gamma(_t(m, CONC2), 1.5)),
    (
        "beta",
        lambda m: m.Beta(_t(m, CONC), _t(m, CONC2)),
        lambda m: m.Beta(_t(m, CONC2), _t(m, CONC)),
    ),
    (
        "dirichlet",
        lambda m: m.Dirichlet(_t(m, WEIGHTS * 3)),
        lambda m: m.Dirichlet(_t(m, WEIGHTS[::-1] * 2)),
    ),
    (
        "mvn",
        lambda m: m.MultivariateNormal(_t(m, MVLOC), covariance_matrix=_t(m, COV)),
        lambda m: m.MultivariateNormal(
            _t(m, MVLOC[::-1].copy()), scale_tril=_t(m, np.linalg.cholesky(COV[::-1].copy()))
        ),
    ),
    (
        "lowrank-mvn",
        lambda m: m.LowRankMultivariateNormal(_t(m, MVLOC), _t(m, FACTOR), _t(m, DIAG)),
        lambda m: m.MultivariateNormal(_t(m, MVLOC[0]), covariance_matrix=_t(m, COV[1])),
    ),
    (
        "mvn-lowrank",
        lambda m: m.MultivariateNormal(_t(m, MVLOC), covariance_matrix=_t(m, COV)),
        lambda m: m.LowRankMultivariateNormal(_t(m, MVLOC), _t(m, FACTOR), _t(m, DIAG)),
    ),
    (
        "lowrank-lowrank",
        lambda m: m.LowRankMultivariateNormal(_t(m, MVLOC), _t(m, FACTOR), _t(m, DIAG)),
        lambda m: m.LowRankMultivariateNormal(_t(m, MVLOC[0]), _t(m, FACTOR[1]), _t(m, DIAG[0])),
    ),
    ("poisson", lambda m: m.Poisson(_t(m, SCALE)), lambda m: m.Poisson(_t(m, CONC))),
    (
        "binomial",
        lambda m: m.Binomial(5, _t(m, PROBS)),
        lambda m: m.Binomial(5, _t(m, PROBS[::-1].copy())),
    ),
    (
        "geometric",
        lambda m: m.Geometric(_t(m, PROBS)),
        lambda m: m.Geometric(_t(m, PROBS[::-1].copy())),
    ),
    (
        "continuous_bernoulli",
        lambda m: m.ContinuousBernoulli(_t(m, PROBS)),
        lambda m: m.ContinuousBernoulli(_t(m, PROBS[::-1].copy())),
    ),
]


@pytest.mark.parametrize("name,p_make,q_make", slow_after(KL_PAIRS, keep=2, multi=True))
def test_kl_divergence_matches_pytorch(name, p_make, q_make):
    want = TD.kl_divergence(p_make(TD), q_make(TD))
    close(D.kl_divergence(p_make(D), q_make(D)), want, rtol=1e-6)


def test_kl_between_exponential_families_uses_the_bregman_divergence():
    # Gamma's own KL is registered; the generic exponential-family one must agree with it.
    from tracegrad.distributions.kl import _kl_expfamily_expfamily

    p, q = D.Gamma(tg.tensor(CONC), tg.tensor(SCALE)), D.Gamma(tg.tensor(CONC2), 1.5)
    want = TD.kl_divergence(
        TD.Gamma(torch.tensor(CONC), torch.tensor(SCALE)), TD.Gamma(torch.tensor(CONC2), 1.5)
    )
    close(_kl_expfamily_expfamily(p, q), want, rtol=1e-6)
    with pytest.raises(NotImplementedError, match="different exponential families"):
        _kl_expfamily_expfamily(p, D.Poisson(tg.tensor(SCALE)))


TRANSFORMS = [
    ("exp", lambda m: m.ExpTransform(), X),
    ("affine", lambda m: m.AffineTransform(1.5, -2.0), X),
    ("sigmoid", lambda m: m.SigmoidTransform(), X),
    ("tanh", lambda m: m.TanhTransform(), X),
    ("softplus", lambda m: m.SoftplusTransform(), X),
    ("power", lambda m: m.PowerTransform(2.5), XPOS),
    ("abs", lambda m: m.AbsTransform(), X),
    ("softmax", lambda m: m.SoftmaxTransform(), X),
    ("stick_breaking", lambda m: m.StickBreakingTransform(), X),
    ("lower_cholesky", lambda m: m.LowerCholeskyTransform(), RNG.standard_normal((2, 3, 3))),
    ("positive_definite", lambda m: m.PositiveDefiniteTransform(), RNG.standard_normal((2, 3, 3))),
    ("corr_cholesky", lambda m: m.CorrCholeskyTransform(), RNG.standard_normal((2, 6))),
    (
        "compose",
        lambda m: m.ComposeTransform([m.ExpTransform(), m.AffineTransform(1.0, 2.0)]),
        X,
    ),
    ("independent", lambda m: m.IndependentTransform(m.ExpTransform(), 1), X),
    ("reshape", lambda m: m.ReshapeTransform((4,), (2, 2)), X),
    (
        "cat",
        lambda m: m.CatTransform([m.ExpTransform(), m.SigmoidTransform()], dim=1, lengths=[1, 3]),
        X,
    ),
    (
        "stack",
        lambda m: m.StackTransform(
            [
                m.ExpTransform(),
                m.SigmoidTransform(),
                m.TanhTransform(),
                m.AffineTransform(0.0, 3.0),
            ],
            dim=1,
        ),
        X,
    ),
    (
        "affine_event",
        lambda m: m.AffineTransform(_t(m if m is not TT else TD, LOC), 2.0, event_dim=1),
        X,
    ),
    (
        "cdf",
        lambda m: m.CumulativeDistributionTransform(
            (TD if m is TT else D).Normal(
                _t(TD if m is TT else D, LOC), _t(TD if m is TT else D, SCALE)
            )
        ),
        X,
    ),
    ("identity", lambda m: m.identity_transform, X),
]


@pytest.mark.parametrize("name,make,x", slow_after(TRANSFORMS, keep=2, multi=True))
def test_transform_matches_pytorch(name, make, x):
    p, q = make(TT), make(D.transforms)
    yp, yq = p(torch.tensor(x)), q(tg.tensor(x))
    close(yq, yp)
    close(q.inv(yq), p.inv(yp))
    want = _maybe(lambda: p.log_abs_det_jacobian(torch.tensor(x), yp))
    if want is not None:
        close(q.log_abs_det_jacobian(tg.tensor(x), yq), want)
    assert q.bijective == p.bijective
    assert q.domain.event_dim == p.domain.event_dim
    assert q.codomain.event_dim == p.codomain.event_dim
    shape = tuple(x.shape)
    assert tuple(q.forward_shape(shape)) == tuple(p.forward_shape(shape))
    assert tuple(q.inv.inverse_shape(shape)) == tuple(p.inv.inverse_shape(shape))


def test_transform_cache_returns_the_same_input():
    t = D.transforms.ExpTransform(cache_size=1)
    x = tg.tensor(X)
    assert t.inv(t(x)) is x
    with pytest.raises(ValueError, match="cache_size must be 0 or 1"):
        D.transforms.ExpTransform(cache_size=2)


@pytest.mark.parametrize(
    "constraint",
    slow_after(
        [
            "real",
            "positive",
            "nonnegative",
            "unit_interval",
            "simplex",
            "real_vector",
            "lower_cholesky",
            "positive_definite",
            "corr_cholesky",
        ],
        keep=3,
    ),
)
def test_biject_to_and_transform_to_pick_pytorchs_transforms(constraint):
    for registry in ("biject_to", "transform_to"):
        want = _maybe(
            lambda registry=registry: type(
                getattr(TD, registry)(getattr(TD.constraints, constraint))
            )
        )
        if want is None:
            with pytest.raises(NotImplementedError, match="Cannot transform"):
                getattr(D, registry)(getattr(D.constraints, constraint))
            continue
        got = getattr(D, registry)(getattr(D.constraints, constraint))
        assert type(got).__name__ == want.__name__
        # Onto the constraint, from anywhere.
        shape = {"simplex": (3,), "real_vector": (3,), "corr_cholesky": (3,)}.get(constraint)
        shape = shape or ((3, 3) if "chol" in constraint or "definite" in constraint else (4,))
        y = got(tg.tensor(RNG.standard_normal(shape)))
        assert bool(getattr(D.constraints, constraint).check(y).all())


def test_interval_transform_maps_into_the_interval():
    t = D.biject_to(D.constraints.interval(1.0, 3.0))
    y = t(tg.tensor(X))
    assert bool(((y > 1) & (y < 3)).all())
    close(t.inv(y), torch.tensor(X))


# ------------------------------------------------------------------ reparameterized gamma draws
def _implicit_gradient(alpha: float, x: np.ndarray) -> np.ndarray:
    """dx/dalpha at a fixed CDF value: -(dP/dalpha) / (dP/dx), from scipy by central differences
    in alpha and the gamma density in x."""
    h = 1e-6
    dp_da = (sps.gammainc(alpha + h, x) - sps.gammainc(alpha - h, x)) / (2 * h)
    density = np.exp((alpha - 1) * np.log(x) - x - sps.gammaln(alpha))
    return -dp_da / density


@pytest.mark.parametrize("alpha", [0.4, 2.5])
def test_gamma_rsample_gradient_is_the_implicit_reparameterization(alpha):
    tg.manual_seed(0)
    a = tg.tensor(np.full(6, alpha), requires_grad=True)
    x = D.Gamma(a, 1.0).rsample()
    x.sum().backward()
    want = _implicit_gradient(alpha, x.detach().numpy())
    np.testing.assert_allclose(a.grad.numpy(), want, rtol=1e-5)


def test_gamma_rsample_gradient_through_the_rate():
    tg.manual_seed(1)
    rate = tg.tensor([0.5, 2.0], requires_grad=True)
    x = D.Gamma(tg.tensor([3.0, 3.0]), rate).rsample((4,))
    x.sum().backward()
    # x = g / rate for a rate-free draw g, so dx/drate = -x / rate.
    want = (-x.detach().numpy() / rate.detach().numpy()).sum(0)
    np.testing.assert_allclose(rate.grad.numpy(), want, rtol=1e-5)


@pytest.mark.slow
def test_dirichlet_and_beta_rsample_gradients_match_the_mean_in_expectation():
    # d E[x_0] / d alpha for Dirichlet(alpha): (a0 - a_0) / a0^2 and -a_0 / a0^2 (fixed seed,
    # Monte Carlo, loose tolerance).
    tg.manual_seed(2)
    alpha = np.array([2.0, 0.5, 1.0])
    a = tg.tensor(alpha, requires_grad=True)
    D.Dirichlet(a).rsample((20000,))[:, 0].mean().backward()
    a0 = alpha.sum()
    want = np.array([(a0 - alpha[0]) / a0**2, -alpha[0] / a0**2, -alpha[0] / a0**2])
    np.testing.assert_allclose(a.grad.numpy(), want, atol=0.01)
    c1 = tg.tensor(2.0, requires_grad=True)
    D.Beta(c1, 3.0).rsample((20000,)).mean().backward()
    np.testing.assert_allclose(c1.grad.item(), 3.0 / 25.0, atol=0.01)


def test_gamma_cdf_matches_pytorch_and_its_concentration_gradient_is_refused_likewise():
    a, x = np.array([0.5, 2.0, 7.5]), np.array([0.3, 2.0, 9.0])
    close(
        D.Gamma(tg.tensor(a), 2.0).cdf(tg.tensor(x)),
        TD.Gamma(torch.tensor(a), 2.0).cdf(torch.tensor(x)),
    )
    for lib, dist in ((tg, D), (torch, TD)):
        conc = lib.tensor(a, requires_grad=True)
        with pytest.raises(NotImplementedError, match="igamma: input"):
            dist.Gamma(conc, 2.0).cdf(lib.tensor(x)).sum().backward()


SAMPLE_MOMENTS = [
    ("gamma", lambda: D.Gamma(tg.tensor([0.5, 3.0]), tg.tensor([1.0, 2.0]))),
    ("beta", lambda: D.Beta(tg.tensor([0.5, 3.0]), tg.tensor([2.0, 2.0]))),
    ("dirichlet", lambda: D.Dirichlet(tg.tensor([0.5, 1.0, 3.0]))),
    ("chi2", lambda: D.Chi2(tg.tensor([1.0, 4.0]))),
    ("mvn", lambda: D.MultivariateNormal(tg.tensor(MVLOC[0]), covariance_matrix=tg.tensor(COV[0]))),
    (
        "lowrank",
        lambda: D.LowRankMultivariateNormal(
            tg.tensor(MVLOC[0]), tg.tensor(FACTOR[0]), tg.tensor(DIAG[0])
        ),
    ),
    ("poisson", lambda: D.Poisson(tg.tensor([0.5, 4.0]))),
    ("binomial", lambda: D.Binomial(tg.tensor([3.0, 10.0]), tg.tensor([0.3, 0.8]))),
    ("geometric", lambda: D.Geometric(tg.tensor([0.3, 0.8]))),
    ("negative_binomial", lambda: D.NegativeBinomial(tg.tensor([2.0, 5.0]), tg.tensor([0.3, 0.6]))),
    ("multinomial", lambda: D.Multinomial(5, tg.tensor([0.2, 0.3, 0.5]))),
    ("weibull", lambda: D.Weibull(tg.tensor([1.0, 2.0]), tg.tensor([1.5, 3.0]))),
    ("kumaraswamy", lambda: D.Kumaraswamy(tg.tensor([2.0, 0.7]), tg.tensor([3.0, 1.5]))),
    ("inverse_gamma", lambda: D.InverseGamma(tg.tensor([4.0, 6.0]), tg.tensor([1.0, 2.0]))),
    ("continuous_bernoulli", lambda: D.ContinuousBernoulli(tg.tensor([0.2, 0.9]))),
    (
        "mixture",
        lambda: D.MixtureSameFamily(
            D.Categorical(tg.tensor([0.3, 0.7])),
            D.Normal(tg.tensor([-1.0, 2.0]), tg.tensor([0.5, 1.0])),
        ),
    ),
]


@pytest.mark.parametrize("name,make", slow_after(SAMPLE_MOMENTS, keep=2, multi=True))
def test_sample_mean_and_variance(name, make):
    tg.manual_seed(3)
    d = make()
    s = d.sample((20000,)).double().numpy()
    mean, var = d.mean.detach().double().numpy(), d.variance.detach().double().numpy()
    np.testing.assert_allclose(s.mean(0), mean, rtol=0.05, atol=0.03)
    np.testing.assert_allclose(s.var(0), var, rtol=0.1, atol=0.03)
    assert bool(d.support.check(tg.tensor(s[:100])).all())


# ----------------------------------------------------------------------------------- validation
def test_invalid_parameters_raise_pytorchs_errors():
    with pytest.raises(ValueError, match="concentration"):
        D.Gamma(tg.tensor([-1.0]), 1.0, validate_args=True)
    with pytest.raises(ValueError, match="Exactly one of covariance_matrix"):
        D.MultivariateNormal(tg.zeros(2), covariance_matrix=tg.eye(2), scale_tril=tg.eye(2))
    with pytest.raises(ValueError, match="loc must be at least one-dimensional"):
        D.MultivariateNormal(tg.tensor(0.0), covariance_matrix=tg.eye(1))
    with pytest.raises(ValueError, match="positive_definite|PositiveDefinite"):
        D.MultivariateNormal(tg.zeros(2), covariance_matrix=-tg.eye(2), validate_args=True)
    with pytest.raises(ValueError, match="Either `probs` or `logits`"):
        D.Binomial(3)
    with pytest.raises(NotImplementedError, match="inhomogeneous total_count"):
        D.Multinomial(tg.tensor(3.0), tg.tensor([0.5, 0.5]))
    with pytest.raises(ValueError, match="support"):
        D.Gamma(tg.tensor([1.0]), 1.0, validate_args=True).log_prob(tg.tensor([-1.0]))
    with pytest.raises(ValueError, match="support"):
        D.Dirichlet(tg.ones(3), validate_args=True).log_prob(tg.tensor([0.5, 0.6, 0.2]))
    with pytest.raises(ValueError, match="transforms must be a Transform"):
        D.TransformedDistribution(D.Normal(0.0, 1.0), "exp")
    with pytest.raises(NotImplementedError, match="Inhomogeneous total count"):
        D.Binomial(tg.tensor([2.0, 3.0]), tg.tensor([0.5, 0.5])).entropy()


def test_mvn_log_prob_gradient_matches_pytorch():
    loc = tg.tensor(MVLOC, requires_grad=True)
    cov = tg.tensor(COV, requires_grad=True)
    D.MultivariateNormal(loc, covariance_matrix=cov).log_prob(tg.tensor(MVX)).sum().backward()
    tloc = torch.tensor(MVLOC, requires_grad=True)
    tcov = torch.tensor(COV, requires_grad=True)
    TD.MultivariateNormal(tloc, covariance_matrix=tcov).log_prob(torch.tensor(MVX)).sum().backward()
    close(loc.grad, tloc.grad)
    close(cov.grad, tcov.grad, rtol=1e-5)


# ------------------------------------------------------------------------------------ von Mises
KAPPA = np.array([0.5, 3.0, 60.0, 200.0])
VM_LOC = np.array([0.3, -1.0, 2.0, 0.0])


def test_von_mises_matches_scipy_and_pytorch():
    value = RNG.uniform(-3, 3, (2, 4))
    q = D.VonMises(tg.tensor(VM_LOC), tg.tensor(KAPPA))
    exact = KAPPA * np.cos(value - VM_LOC) - np.log(2 * np.pi) - (np.log(sps.i0e(KAPPA)) + KAPPA)
    # Exact below kappa = 50; the three-term asymptotic series above it is within 1e-8.
    np.testing.assert_allclose(q.log_prob(tg.tensor(value)).numpy(), exact, rtol=1e-10, atol=2e-8)
    np.testing.assert_allclose(q.variance.numpy(), 1 - sps.i1e(KAPPA) / sps.i0e(KAPPA), rtol=1e-5)
    # PyTorch evaluates the Bessel functions by polynomial approximations: close, not exact.
    p = TD.VonMises(torch.tensor(VM_LOC), torch.tensor(KAPPA))
    close(q.log_prob(tg.tensor(value)), p.log_prob(torch.tensor(value)), rtol=1e-5, atol=1e-6)
    close(q.variance, p.variance, rtol=1e-3)
    close(q.mean, p.mean)
    assert tuple(q.expand((3, 4)).batch_shape) == (3, 4)
    with pytest.raises(NotImplementedError):
        q.entropy()
    k = tg.tensor(KAPPA, requires_grad=True)
    D.VonMises(tg.tensor(VM_LOC), k).log_prob(tg.tensor(value)).sum().backward()
    kt = torch.tensor(KAPPA, requires_grad=True)
    TD.VonMises(torch.tensor(VM_LOC), kt).log_prob(torch.tensor(value)).sum().backward()
    close(k.grad, kt.grad, rtol=1e-5, atol=1e-6)


def test_von_mises_samples_have_the_circular_moments():
    tg.manual_seed(4)
    d = D.VonMises(tg.tensor(VM_LOC), tg.tensor(KAPPA))
    s = d.sample((20000,)).numpy()
    resultant = np.exp(1j * s).mean(0)
    np.testing.assert_allclose(np.angle(resultant), VM_LOC, atol=0.03)
    np.testing.assert_allclose(1 - np.abs(resultant), d.variance.numpy(), rtol=0.05, atol=0.005)
    assert s.min() >= -np.pi and s.max() < np.pi
