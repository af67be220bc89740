"""Sampling functions and in-place random fills: shapes, dtypes, statistics against the closed
forms, and PyTorch's errors."""

from __future__ import annotations

import numpy as np
import pytest

import tracegrad as tg


def test_multinomial_frequencies_and_shapes():
    tg.manual_seed(0)
    p = tg.tensor([0.1, 0.2, 0.7])
    draws = tg.multinomial(p, 30000, replacement=True)
    assert draws.dtype is tg.int64 and tuple(draws.shape) == (30000,)
    freq = np.bincount(draws.numpy(), minlength=3) / 30000
    np.testing.assert_allclose(freq, [0.1, 0.2, 0.7], atol=0.015)
    rows = tg.multinomial(tg.tensor([[1.0, 1.0, 0.0, 2.0], [0.0, 0.0, 5.0, 1.0]]), 2)
    assert tuple(rows.shape) == (2, 2)
    for row, weights in zip(rows.numpy(), [[1, 1, 0, 2], [0, 0, 5, 1]]):
        assert len(set(row)) == 2 and all(weights[i] > 0 for i in row)  # no repeats, no zeros


def test_multinomial_without_replacement_follows_the_weights():
    tg.manual_seed(1)
    first = [int(tg.multinomial(tg.tensor([0.8, 0.1, 0.1]), 2)[0]) for _ in range(400)]
    assert 0.72 < first.count(0) / 400 < 0.88


@pytest.mark.parametrize(
    "args, message",
    [
        ((tg.tensor([0.5, 0.5]), 3), "cannot sample n_sample > prob_dist.size\\(-1\\) samples"),
        (
            (tg.tensor([0.5, -0.5]), 1),
            "probability tensor contains either `inf`, `nan` or element < 0",
        ),
        ((tg.zeros(3), 1), "invalid multinomial distribution"),
        ((tg.ones(2, 2, 2), 1), "prob_dist must be 1 or 2 dim"),
    ],
)
def test_multinomial_errors_match_pytorch(args, message):
    torch = pytest.importorskip("torch")
    with pytest.raises(RuntimeError, match=message):
        tg.multinomial(*args)
    with pytest.raises(RuntimeError, match=message):
        torch.multinomial(torch.tensor(args[0].numpy()), *args[1:])


def test_bernoulli_and_poisson_statistics():
    tg.manual_seed(2)
    b = tg.bernoulli(tg.full((20000,), 0.3))
    assert b.dtype is tg.float32 and set(np.unique(b.numpy())) <= {0.0, 1.0}
    assert abs(float(b.mean()) - 0.3) < 0.015
    assert abs(float(tg.bernoulli(tg.zeros(20000), 0.8).mean()) - 0.8) < 0.015
    k = tg.poisson(tg.full((20000,), 4.0))
    assert abs(float(k.mean()) - 4.0) < 0.06 and abs(float(k.var()) - 4.0) < 0.2


@pytest.mark.parametrize(
    "fill, mean, var",
    [
        (lambda x: x.uniform_(2.0, 4.0), 3.0, 4 / 12),
        (lambda x: x.normal_(1.0, 2.0), 1.0, 4.0),
        (lambda x: x.exponential_(2.0), 0.5, 0.25),
        (lambda x: x.bernoulli_(0.25), 0.25, 0.1875),
        (lambda x: x.geometric_(0.5), 2.0, 2.0),
        (lambda x: x.log_normal_(0.0, 0.5), np.exp(0.125), (np.exp(0.25) - 1) * np.exp(0.25)),
    ],
)
def test_in_place_fills_have_the_right_moments(fill, mean, var):
    tg.manual_seed(3)
    x = tg.zeros(40000, dtype=tg.float64)
    version = x._version
    assert fill(x) is x and x._version == version + 1
    values = x.numpy()
    assert abs(values.mean() - mean) < 5 * np.sqrt(var / 40000)
    assert abs(values.var() - var) < 0.08 * var


def test_random_fill_ranges():
    tg.manual_seed(4)
    x = tg.zeros(5000, dtype=tg.int64).random_(3, 7)
    assert set(np.unique(x.numpy())) == {3, 4, 5, 6}
    y = tg.zeros(5000, dtype=tg.int64).random_(4)
    assert set(np.unique(y.numpy())) == {0, 1, 2, 3}


def test_fills_follow_the_in_place_rules():
    w = tg.ones(3, requires_grad=True)
    with pytest.raises(RuntimeError, match="leaf Variable that requires grad"):
        w.uniform_()
    with tg.no_grad():
        w.normal_()
    assert w.requires_grad and w.grad_fn is None
    with pytest.raises(RuntimeError, match='"normal_" not implemented for'):
        tg.zeros(2, dtype=tg.int64).normal_()


def test_generator_makes_draws_reproducible():
    g1, g2 = tg.Generator().manual_seed(7), tg.Generator().manual_seed(7)
    a = tg.multinomial(tg.ones(10), 5, generator=g1)
    b = tg.multinomial(tg.ones(10), 5, generator=g2)
    np.testing.assert_array_equal(a.numpy(), b.numpy())
    np.testing.assert_array_equal(
        tg.empty(4).uniform_(generator=tg.Generator().manual_seed(3)).numpy(),
        tg.empty(4).uniform_(generator=tg.Generator().manual_seed(3)).numpy(),
    )


def test_normal_with_tensor_parameters_broadcasts_like_pytorch():
    torch = pytest.importorskip("torch")
    for args in [
        (tg.zeros(2, 3), 1.0),
        (0.0, tg.ones(3)),
        (tg.zeros(2, 1), tg.ones(3)),
    ]:
        theirs = torch.normal(
            *[torch.tensor(a.numpy()) if isinstance(a, tg.Tensor) else a for a in args]
        )
        assert tuple(tg.normal(*args).shape) == tuple(theirs.shape)
    tg.manual_seed(5)
    draws = tg.normal(tg.full((30000,), 3.0), tg.full((30000,), 2.0)).numpy()
    assert abs(draws.mean() - 3.0) < 0.05 and abs(draws.std() - 2.0) < 0.04
    with pytest.raises(TypeError, match="invalid combination of arguments"):
        tg.normal(0.0, 1.0)


def test_binomial_moments_and_errors_match_pytorch():
    tg.manual_seed(0)
    count = tg.full((20000,), 12.0)
    draws = tg.binomial(count, tg.full((20000,), 0.25)).numpy()
    assert draws.dtype == np.float32 and draws.min() >= 0 and draws.max() <= 12
    assert abs(draws.mean() - 3.0) < 0.05 and abs(draws.var() - 2.25) < 0.1
    assert np.all(draws == np.round(draws))
    torch = pytest.importorskip("torch")
    for lib in (tg, torch):
        with pytest.raises(ValueError, match="floating-point dtypes for count"):
            lib.binomial(lib.tensor([3, 4]), lib.tensor([0.5, 0.5]))
        with pytest.raises(RuntimeError, match="Found dtype Double but expected Float"):
            lib.binomial(lib.tensor([3.0]), lib.tensor([0.5], dtype=lib.float64))
