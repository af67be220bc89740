"""Wishart and LKJCholesky against torch.distributions on the same parameters and values
(log_prob, entropy, moments, KL, gradients, shapes, errors); sample moments with fixed seeds
against the closed forms; the rsample gradient of the Wishart against the gradient of its exact
mean; the two-dimensional LKJ density integrated numerically to one."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

import tracegrad as tg
import tracegrad.distributions as D

from .tiers import slow, slow_after

torch = pytest.importorskip("torch")
TD = torch.distributions

RNG = np.random.default_rng(0)
P = 3
_A = RNG.standard_normal((2, P, P))
COV = _A @ _A.transpose(0, 2, 1) + np.eye(P)
DF = np.array([3.5, 6.0])
# Sample covariances of 8 normal draws: positive definite values for log_prob.
VALUES = np.stack([np.cov(RNG.standard_normal((P, 8))) for _ in range(4)]).reshape(2, 2, P, P)


def _t(m, a):
    return torch.tensor(a) if m is TD else tg.tensor(a)


def close(got, want, rtol=1e-6, atol=1e-8):
    got = np.asarray(got.detach().numpy())
    want = want.detach().numpy()
    assert got.shape == want.shape, (got.shape, want.shape)
    np.testing.assert_allclose(got, want, rtol=rtol, atol=atol, equal_nan=True)


WISHARTS = {
    "cov": lambda m: m.Wishart(_t(m, DF), covariance_matrix=_t(m, COV)),
    "prec": lambda m: m.Wishart(_t(m, DF), precision_matrix=_t(m, np.linalg.inv(COV))),
    "tril": lambda m: m.Wishart(_t(m, DF), scale_tril=_t(m, np.linalg.cholesky(COV))),
    "number_df": lambda m: m.Wishart(4.0, covariance_matrix=_t(m, COV[0])),
    "broadcast_df": lambda m: m.Wishart(_t(m, DF), covariance_matrix=_t(m, COV[0])),
    "low_df_mode_nan": lambda m: m.Wishart(
        _t(m, np.array([2.5, 3.9])), scale_tril=_t(m, np.linalg.cholesky(COV))
    ),
}


def _both(factory):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # the low-df warning, checked below
        return factory(D), factory(TD)


@pytest.mark.parametrize("name", list(WISHARTS))
def test_wishart_against_torch(name):
    ours, theirs = _both(WISHARTS[name])
    assert tuple(ours.batch_shape) == tuple(theirs.batch_shape)
    assert tuple(ours.event_shape) == tuple(theirs.event_shape)
    for prop in (
        "mean",
        "mode",
        "variance",
        "stddev",
        "covariance_matrix",
        "precision_matrix",
        "scale_tril",
    ):
        close(getattr(ours, prop), getattr(theirs, prop), rtol=1e-9)
    close(ours.entropy(), theirs.entropy(), rtol=1e-10)
    close(ours.log_prob(tg.tensor(VALUES)), theirs.log_prob(torch.tensor(VALUES)), rtol=1e-10)


def test_wishart_gradients_against_torch():
    grads = []
    for m in (D, TD):
        df = _t(m, DF).requires_grad_()
        L = _t(m, np.linalg.cholesky(COV)).requires_grad_()
        w = m.Wishart(df, scale_tril=L)
        (w.log_prob(_t(m, VALUES)).sum() + w.entropy().sum()).backward()
        grads.append((df.grad, L.grad))
    close(grads[0][0], grads[1][0], rtol=1e-9)
    # tracegrad's cholesky_solve reads only the lower triangle of the factor, so its gradient is
    # zero above the diagonal (PyTorch's formula writes entries there that nothing depends on).
    close(grads[0][1], grads[1][1].tril(), rtol=1e-9)


def test_wishart_covariance_gradient_against_torch():
    grads = []
    for m in (D, TD):
        cov = _t(m, COV).requires_grad_()
        m.Wishart(_t(m, DF), covariance_matrix=cov).log_prob(_t(m, VALUES)).sum().backward()
        grads.append(cov.grad)
    close(grads[0], grads[1], rtol=1e-8)


def test_wishart_kl_against_torch():
    # PyTorch's Bregman KL sums a batch-shaped term over the whole batch, so compare entry by
    # entry with unbatched PyTorch distributions.
    ours = D.kl_divergence(
        D.Wishart(tg.tensor(DF), covariance_matrix=tg.tensor(COV)),
        D.Wishart(tg.tensor(5.0, dtype=tg.float64), covariance_matrix=tg.tensor(COV[::-1].copy())),
    )
    for i in range(2):
        want = TD.kl_divergence(
            TD.Wishart(torch.tensor(DF[i]), covariance_matrix=torch.tensor(COV[i])),
            TD.Wishart(
                torch.tensor(5.0, dtype=torch.float64), covariance_matrix=torch.tensor(COV[1 - i])
            ),
        )
        np.testing.assert_allclose(ours.detach().numpy()[i], want.item(), rtol=1e-9)


@slow
def test_wishart_expand_against_torch():
    ours, theirs = _both(lambda m: m.Wishart(_t(m, DF[:1]), covariance_matrix=_t(m, COV[:1])))
    ours, theirs = ours.expand((4, 1)), theirs.expand((4, 1))
    assert tuple(ours.batch_shape) == (4, 1)
    close(ours.mean, theirs.mean)
    close(ours.entropy(), theirs.entropy(), rtol=1e-10)
    x = VALUES.reshape(4, 1, P, P)
    close(ours.log_prob(tg.tensor(x)), theirs.log_prob(torch.tensor(x)), rtol=1e-10)
    assert tuple(ours.rsample((2,)).shape) == (2, 4, 1, P, P)


def test_wishart_errors_match_torch():
    eye = np.eye(P)
    for m in (D, TD):
        with pytest.raises(AssertionError, match="Exactly one of covariance_matrix"):
            m.Wishart(_t(m, DF), covariance_matrix=_t(m, eye), scale_tril=_t(m, eye))
        with pytest.raises(AssertionError, match="Exactly one of covariance_matrix"):
            m.Wishart(_t(m, DF))
        with pytest.raises(ValueError, match="at least two-dimensional"):
            m.Wishart(_t(m, DF), covariance_matrix=_t(m, np.ones(3)))
        with pytest.raises(ValueError, match="expected to be greater than ndim - 1 = 2"):
            m.Wishart(_t(m, np.array([1.5, 4.0])), covariance_matrix=_t(m, eye))
        with pytest.warns(UserWarning, match="Low df values detected"):
            m.Wishart(_t(m, np.array([2.5])), covariance_matrix=_t(m, eye))
        with pytest.raises(ValueError, match="positive_definite|PositiveDefinite"):
            m.Wishart(_t(m, DF), covariance_matrix=_t(m, -eye))
        w = m.Wishart(_t(m, DF), covariance_matrix=_t(m, eye))
        with pytest.raises(ValueError, match="support"):
            w.log_prob(_t(m, -eye))


def test_wishart_arg_constraints_and_support():
    w = D.Wishart(tg.tensor(DF), covariance_matrix=tg.tensor(COV))
    assert w.arg_constraints["df"].lower_bound == P - 1
    assert w.support is D.constraints.positive_definite
    assert w.has_rsample


@slow
def test_wishart_sample_moments():
    tg.manual_seed(0)
    w = D.Wishart(tg.tensor(DF), covariance_matrix=tg.tensor(COV))
    x = w.sample((4000,))
    assert tuple(x.shape) == (4000, 2, P, P)
    assert not x.requires_grad
    assert bool(D.constraints.positive_definite.check(x).all())
    xs = x.numpy()
    mean = w.mean.numpy()
    var = w.variance.numpy()
    # The standard error of the sample mean is sqrt(var / n); allow five of them.
    np.testing.assert_array_less(np.abs(xs.mean(0) - mean), 5 * np.sqrt(var / 4000))
    np.testing.assert_allclose(xs.var(0), var, rtol=0.25)


@slow
def test_wishart_rsample_gradient_in_expectation():
    # E[X] = df L L^T, so the gradient of mean(sum(X * W)) over many draws approaches the gradient
    # of df * sum(L L^T * W) in df and L.
    tg.manual_seed(1)
    W = RNG.uniform(0.5, 1.5, (P, P))
    df = tg.tensor(5.0, dtype=tg.float64, requires_grad=True)
    L = tg.tensor(np.linalg.cholesky(COV[0]), requires_grad=True)
    x = D.Wishart(df, scale_tril=L).rsample((20000,))
    (x * tg.tensor(W)).sum((-2, -1)).mean().backward()
    Ln = np.linalg.cholesky(COV[0])
    want_df = (Ln @ Ln.T * W).sum()
    want_L = 5.0 * (W + W.T) @ Ln
    assert np.isfinite(df.grad.numpy()).all() and np.isfinite(L.grad.numpy()).all()
    np.testing.assert_allclose(df.grad.item(), want_df, rtol=0.05)
    np.testing.assert_allclose(np.tril(L.grad.numpy()), np.tril(want_L), rtol=0.1, atol=0.5)


@slow
def test_wishart_rsample_low_df_is_corrected_or_warned():
    # df barely above p - 1: the Bartlett diagonal's last chi-square has 0.05 degrees of freedom,
    # so draws are often numerically singular and are redrawn; whatever comes back is finite.
    tg.manual_seed(2)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        w = D.Wishart(tg.tensor(2.05, dtype=tg.float64), covariance_matrix=tg.tensor(np.eye(P)))
    with pytest.warns(UserWarning, match="Singular sample detected"):
        x = w.rsample((200,), max_try_correction=10)
    assert tuple(x.shape) == (200, P, P)
    assert np.isfinite(x.numpy()).all()
    ok = D.constraints.positive_definite.check(x).numpy()
    assert ok.all()  # about 4% of first draws are singular; ten redraws fix every one
    tg.manual_seed(2)
    with pytest.warns(UserWarning, match="Singular sample detected"):
        x0 = w.rsample((200,), max_try_correction=0)
    assert not D.constraints.positive_definite.check(x0).numpy().all()
    assert tuple(x0.shape) == (200, P, P)


# --------------------------------------------------------------------------------- LKJCholesky
LKJ_CASES = slow_after(
    [(3, [0.5, 1.0, 2.5]), (2, [0.3, 4.0]), (5, [1.0]), (4, 0.7), (6, [[0.5], [3.0]])],
    keep=3,
    multi=True,
)


def _corr_cholesky(dim, batch, rng):
    """Cholesky factors of random correlation matrices (values for log_prob)."""
    a = rng.standard_normal((*batch, dim, dim + 2))
    cov = a @ np.swapaxes(a, -1, -2)
    d = np.sqrt(np.diagonal(cov, axis1=-2, axis2=-1))
    corr = cov / d[..., :, None] / d[..., None, :]
    return np.linalg.cholesky(corr)


@pytest.mark.parametrize("dim,conc", LKJ_CASES)
def test_lkj_log_prob_against_torch(dim, conc):
    conc = np.asarray(conc, dtype=np.float64)
    ours, theirs = D.LKJCholesky(dim, tg.tensor(conc)), TD.LKJCholesky(dim, torch.tensor(conc))
    assert tuple(ours.batch_shape) == tuple(theirs.batch_shape)
    assert tuple(ours.event_shape) == (dim, dim)
    x = _corr_cholesky(dim, (2, *conc.shape), np.random.default_rng(dim))
    close(ours.log_prob(tg.tensor(x)), theirs.log_prob(torch.tensor(x)), rtol=1e-10)


def test_lkj_number_concentration_and_gradient_against_torch():
    x = _corr_cholesky(4, (3,), np.random.default_rng(5))
    grads = []
    for m in (D, TD):
        c = _t(m, np.array([0.6, 2.0, 1.0])).requires_grad_()
        m.LKJCholesky(4, c).log_prob(_t(m, x)).sum().backward()
        grads.append(c.grad)
    close(grads[0], grads[1], rtol=1e-9)
    close(
        D.LKJCholesky(3).log_prob(tg.tensor(np.eye(3))),
        TD.LKJCholesky(3).log_prob(torch.eye(3, dtype=torch.float64)),
        rtol=1e-6,
    )


def test_lkj_two_dim_density_integrates_to_one():
    # For dim 2 the factor is [[1, 0], [r, sqrt(1 - r^2)]] with r the correlation: the density in
    # r must integrate to one over (-1, 1).
    r = np.linspace(-1, 1, 200001)[1:-1]
    L = np.zeros((r.size, 2, 2))
    L[:, 0, 0] = 1
    L[:, 1, 0] = r
    L[:, 1, 1] = np.sqrt(1 - r**2)
    for eta in (0.8, 1.0, 3.0):
        d = D.LKJCholesky(2, tg.tensor(eta, dtype=tg.float64), validate_args=False)
        dens = np.exp(d.log_prob(tg.tensor(L)).numpy())
        np.testing.assert_allclose(np.trapezoid(dens, r), 1.0, rtol=2e-3)


@slow
def test_lkj_sample_shapes_support_and_moments():
    tg.manual_seed(3)
    dim, eta = 4, np.array([0.5, 2.0])
    d = D.LKJCholesky(dim, tg.tensor(eta))
    x = d.sample((3000,))
    assert tuple(x.shape) == (3000, 2, dim, dim)
    assert not x.requires_grad
    assert bool(D.constraints.corr_cholesky.check(x).all())
    assert np.isfinite(d.log_prob(x).numpy()).all()
    xs = x.numpy()
    corr = xs @ np.swapaxes(xs, -1, -2)
    # Each off-diagonal correlation is marginally 2 Beta(b, b) - 1 with b = eta - 1 + dim / 2:
    # mean 0, variance 1 / (2 eta + dim - 1), the same for every pair (LKJ is invariant under
    # permutations; PyTorch's draws are not, see lkj_cholesky.py).
    for i in range(1, dim):
        for j in range(i):
            o = corr[..., i, j]
            np.testing.assert_allclose(o.mean(0), 0.0, atol=0.05)
            np.testing.assert_allclose(o.var(0), 1 / (2 * eta + dim - 1), rtol=0.1)


@slow
def test_lkj_expand_errors_and_constraints():
    d = D.LKJCholesky(3, tg.tensor([1.5], dtype=tg.float64)).expand((2, 1))
    t = TD.LKJCholesky(3, torch.tensor([1.5], dtype=torch.float64)).expand((2, 1))
    assert tuple(d.batch_shape) == (2, 1)
    x = _corr_cholesky(3, (2, 1), np.random.default_rng(7))
    close(d.log_prob(tg.tensor(x)), t.log_prob(torch.tensor(x)), rtol=1e-10)
    assert tuple(d.sample((5,)).shape) == (5, 2, 1, 3, 3)
    assert D.LKJCholesky.support is D.constraints.corr_cholesky
    assert not D.LKJCholesky.has_rsample
    for m in (D, TD):
        with pytest.raises(ValueError, match="greater than or equal to 2. Found dim=1"):
            m.LKJCholesky(1, 1.0)
        with pytest.raises(ValueError, match="concentration"):
            m.LKJCholesky(3, _t(m, np.array([-1.0])))
        with pytest.raises(ValueError, match="support"):
            m.LKJCholesky(2, 1.0).log_prob(_t(m, np.array([[1.0, 0.0], [0.9, 0.9]])))
        with pytest.raises(NotImplementedError):
            m.LKJCholesky(2, 1.0).rsample()


@slow
def test_wishart_rsample_inside_compile():
    # Values are unknown while tracing: the singular-draw correction takes its fixed-count path.
    @tg.compile
    def draw(L):
        w = D.Wishart(tg.tensor(5.0, dtype=tg.float64), scale_tril=L, validate_args=False)
        return w.rsample((4,))

    tg.manual_seed(4)
    x = draw(tg.tensor(1.5 * np.eye(P)))
    assert tuple(x.shape) == (4, P, P)
    assert bool(D.constraints.positive_definite.check(x).all())
