"""tracegrad.distributions against torch.distributions on the same parameters and values:
log_prob, entropy, cdf/icdf, moments and KL agree; rsample is differentiable through tracegrad's
graph (checked against the closed form); samples have the right shape and statistics."""

from __future__ import annotations

import numpy as np
import pytest

import tracegrad as tg
import tracegrad.distributions as D

from .tiers import slow_after

torch = pytest.importorskip("torch")
TD = torch.distributions

RNG = np.random.default_rng(0)
LOC = RNG.standard_normal((3, 4)).astype(np.float32)
SCALE = RNG.uniform(0.5, 2.0, (3, 4)).astype(np.float32)
VALUE = RNG.standard_normal((2, 3, 4)).astype(np.float32)
PROBS = RNG.uniform(0.05, 0.95, (3, 4)).astype(np.float32)
WEIGHTS = RNG.uniform(0.1, 1.0, (3, 5)).astype(np.float32)
LOW = RNG.uniform(-2, 0, (3,)).astype(np.float32)
HIGH = LOW + RNG.uniform(0.5, 2, (3,)).astype(np.float32)


def T(a):
    return torch.tensor(a)


def G(a):
    return tg.tensor(a)


def close(got, want, rtol=1e-5, atol=1e-6):
    np.testing.assert_allclose(
        np.asarray(got.detach().numpy()), want.detach().numpy(), rtol=rtol, atol=atol
    )


CASES = {
    "normal": (lambda m: m.Normal(_c(m, LOC), _c(m, SCALE)), VALUE),
    "laplace": (lambda m: m.Laplace(_c(m, LOC), _c(m, SCALE)), VALUE),
    "exponential": (lambda m: m.Exponential(_c(m, SCALE)), np.abs(VALUE)),
    "uniform": (
        lambda m: m.Uniform(_c(m, LOW), _c(m, HIGH)),
        (LOW + HIGH) / 2 + 0.1 * VALUE[..., 0, :3],
    ),
    "bernoulli": (lambda m: m.Bernoulli(_c(m, PROBS)), (VALUE > 0).astype(np.float32)),
    "bernoulli_logits": (lambda m: m.Bernoulli(logits=_c(m, LOC)), (VALUE > 0).astype(np.float32)),
    "categorical": (lambda m: m.Categorical(_c(m, WEIGHTS)), np.array([[0, 4, 2], [1, 1, 3]])),
    "categorical_logits": (lambda m: m.Categorical(logits=_c(m, WEIGHTS)), np.array([0, 4, 2])),
    "independent": (lambda m: m.Independent(m.Normal(_c(m, LOC), _c(m, SCALE)), 1), VALUE),
}


def _c(m, a):
    return T(a) if m is TD else G(a)


_FIRST = ["normal", "categorical", "bernoulli_logits", "independent"]  # the fast tier's share


@pytest.mark.parametrize(
    "name", slow_after(_FIRST + sorted(set(CASES) - set(_FIRST)), keep=len(_FIRST))
)
def test_log_prob_entropy_and_moments_match_pytorch(name):
    make, value = CASES[name]
    p, q = make(TD), make(D)
    assert tuple(q.batch_shape) == tuple(p.batch_shape)
    assert tuple(q.event_shape) == tuple(p.event_shape)
    v = np.asarray(value)
    close(q.log_prob(G(v)), p.log_prob(T(v)))
    close(q.entropy(), p.entropy())
    for moment in ("mean", "variance", "stddev"):
        want = getattr(p, moment)
        if not torch.isnan(want).all():
            close(getattr(q, moment), want)


@pytest.mark.parametrize("name", ["normal", "laplace", "exponential", "uniform"])
def test_cdf_and_icdf_match_pytorch(name):
    make, value = CASES[name]
    p, q = make(TD), make(D)
    v = np.asarray(value)
    close(q.cdf(G(v)), p.cdf(T(v)), atol=1e-5)
    u = np.clip(np.abs(VALUE[0]) / 3, 0.05, 0.95).astype(np.float32)
    u = u[..., : q.batch_shape[-1]] if name == "uniform" else u
    close(q.icdf(G(u)), p.icdf(T(u)), rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize(
    "make",
    slow_after(
        [
            lambda m: (
                m.Normal(_c(m, LOC), _c(m, SCALE)),
                m.Normal(_c(m, SCALE), _c(m, SCALE + 1)),
            ),
            lambda m: (m.Bernoulli(_c(m, PROBS)), m.Bernoulli(_c(m, 1 - PROBS))),
            lambda m: (m.Categorical(_c(m, WEIGHTS)), m.Categorical(_c(m, WEIGHTS[::-1].copy()))),
            lambda m: (m.Exponential(_c(m, SCALE)), m.Exponential(_c(m, SCALE + 1))),
            lambda m: (
                m.Laplace(_c(m, LOC), _c(m, SCALE)),
                m.Laplace(_c(m, SCALE), _c(m, SCALE + 1)),
            ),
            lambda m: (
                m.Uniform(_c(m, LOW), _c(m, HIGH)),
                m.Uniform(_c(m, LOW - 1), _c(m, HIGH + 1)),
            ),
            lambda m: (
                m.Independent(m.Normal(_c(m, LOC), _c(m, SCALE)), 1),
                m.Independent(m.Normal(_c(m, SCALE), _c(m, SCALE)), 1),
            ),
        ],
        keep=3,
    ),
)
def test_kl_divergence_matches_pytorch(make):
    close(D.kl_divergence(*make(D)), TD.kl_divergence(*make(TD)), rtol=1e-5, atol=1e-5)


def test_gradients_of_log_prob_match_pytorch():
    loc_t, scale_t = T(LOC).requires_grad_(), T(SCALE).requires_grad_()
    TD.Normal(loc_t, scale_t).log_prob(T(VALUE)).sum().backward()
    loc, scale = G(LOC).requires_grad_(), G(SCALE).requires_grad_()
    D.Normal(loc, scale).log_prob(G(VALUE)).sum().backward()
    close(loc.grad, loc_t.grad)
    close(scale.grad, scale_t.grad)
    logits_t = T(WEIGHTS).requires_grad_()
    TD.Categorical(logits=logits_t).entropy().sum().backward()
    logits = G(WEIGHTS).requires_grad_()
    D.Categorical(logits=logits).entropy().sum().backward()
    close(logits.grad, logits_t.grad)


def test_rsample_is_differentiable_and_sample_is_not():
    loc, scale = G(LOC).requires_grad_(), G(SCALE).requires_grad_()
    dist = D.Normal(loc, scale)
    draw = dist.rsample((5,))
    assert tuple(draw.shape) == (5, 3, 4) and draw.requires_grad
    draw.sum().backward()
    np.testing.assert_allclose(loc.grad.numpy(), np.full(LOC.shape, 5.0))  # d(loc + eps*scale)/dloc
    eps = (draw.detach() - G(LOC)) / G(SCALE)
    np.testing.assert_allclose(scale.grad.numpy(), eps.sum(0).numpy(), rtol=1e-5, atol=1e-5)
    assert not dist.sample((2,)).requires_grad


@pytest.mark.parametrize(
    "dist, mean, var",
    slow_after(
        [
            (D.Normal(1.5, 2.0), 1.5, 4.0),
            (D.Laplace(-1.0, 0.5), -1.0, 0.5),
            (D.Exponential(2.0), 0.5, 0.25),
            (D.Uniform(-1.0, 3.0), 1.0, 16 / 12),
            (D.Bernoulli(0.3), 0.3, 0.21),
            (D.Categorical(tg.tensor([0.2, 0.3, 0.5])), 1.3, 0.61),
        ],
        keep=2,
        multi=True,
    ),
)
def test_samples_have_the_distributions_moments(dist, mean, var):
    tg.manual_seed(0)
    draws = dist.sample((40000,)).double().numpy()
    assert abs(draws.mean() - mean) < 4 * np.sqrt(var / 40000) + 1e-9
    assert abs(draws.var() - var) < 0.05 * var


def test_one_hot_categorical_and_enumerate_support():
    p, q = TD.OneHotCategorical(T(WEIGHTS)), D.OneHotCategorical(G(WEIGHTS))
    tg.manual_seed(0)
    s = q.sample((7,))
    assert tuple(s.shape) == (7, 3, 5) and bool((s.sum(-1) == 1).all())
    close(q.log_prob(s), p.log_prob(torch.tensor(s.numpy())))
    cat = D.Categorical(G(WEIGHTS))
    np.testing.assert_array_equal(
        cat.enumerate_support().numpy(), TD.Categorical(T(WEIGHTS)).enumerate_support().numpy()
    )


def test_validation_errors_match_pytorch():
    with pytest.raises(
        ValueError, match="Expected parameter scale .* to satisfy the constraint GreaterThan"
    ):
        D.Normal(0.0, -1.0)
    with pytest.raises(ValueError, match="Either `probs` or `logits` must be specified"):
        D.Bernoulli()
    with pytest.raises(ValueError, match="within the support"):
        D.Bernoulli(0.5).log_prob(tg.tensor(2.0))
    D.Normal(0.0, -1.0, validate_args=False)  # unchecked when asked
    with pytest.raises(NotImplementedError, match="No KL"):
        D.kl_divergence(D.Normal(0.0, 1.0), D.Bernoulli(0.5))


def test_expand_and_repr():
    d = D.Normal(G(LOC[0]), G(SCALE[0])).expand((3, 4))
    assert tuple(d.batch_shape) == (3, 4)
    assert repr(D.Normal(0.0, 1.0)) == repr(TD.Normal(0.0, 1.0))
    assert repr(D.Normal(G(LOC), G(SCALE))) == repr(TD.Normal(T(LOC), T(SCALE))).replace(
        "torch", "tracegrad"
    )


@pytest.mark.parametrize(
    "dist",
    [
        D.Normal(G(LOC[0]), G(SCALE[0])),
        D.Laplace(G(LOC[0]), G(SCALE[0])),
        D.Exponential(G(SCALE[0])),
        D.Uniform(G(LOW), G(HIGH)),
    ],
    ids=["normal", "laplace", "exponential", "uniform"],
)
def test_expand_broadcasts_the_parameters(dist):
    n = dist.batch_shape[-1]
    wide = dist.expand((2, n))
    assert tuple(wide.batch_shape) == (2, n) and type(wide) is type(dist)
    value = dist.mean.detach()
    np.testing.assert_allclose(
        wide.log_prob(value.expand(2, n)).numpy(), np.stack([dist.log_prob(value).numpy()] * 2)
    )
