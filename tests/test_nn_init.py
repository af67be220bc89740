"""nn.init: fans and gains (PyTorch's formulas), the distributions each initialiser draws from
(moments and bounds on large tensors), orthogonality, in-place semantics and errors."""

from __future__ import annotations

import math

import numpy as np
import pytest

import tracegrad as tg
from tracegrad import nn
from tracegrad.nn import init


def _np(t):
    return t.detach().numpy().astype(np.float64)


def test_calculate_gain_table():
    assert init.calculate_gain("linear") == 1
    assert init.calculate_gain("conv2d") == 1
    assert init.calculate_gain("sigmoid") == 1
    assert init.calculate_gain("tanh") == pytest.approx(5 / 3)
    assert init.calculate_gain("relu") == pytest.approx(math.sqrt(2))
    assert init.calculate_gain("leaky_relu") == pytest.approx(math.sqrt(2 / (1 + 0.01**2)))
    assert init.calculate_gain("leaky_relu", math.sqrt(5)) == pytest.approx(math.sqrt(1 / 3))
    assert init.calculate_gain("selu") == 0.75
    with pytest.raises(ValueError, match="Unsupported nonlinearity"):
        init.calculate_gain("swish")
    with pytest.raises(ValueError, match="not a valid number"):
        init.calculate_gain("leaky_relu", "x")


def test_fans():
    assert init._calculate_fan_in_and_fan_out(tg.empty(5, 3)) == (3, 5)
    assert init._calculate_fan_in_and_fan_out(tg.empty(8, 4, 3, 3)) == (36, 72)
    with pytest.raises(ValueError, match="fewer than 2 dimensions"):
        init._calculate_fan_in_and_fan_out(tg.empty(3))
    with pytest.raises(ValueError, match="Mode fan_avg not supported"):
        init.kaiming_uniform_(tg.empty(3, 3), mode="fan_avg")


def test_gain_and_fans_match_torch():
    torch = pytest.importorskip("torch")
    for shape in [(5, 3), (8, 4, 3, 3), (2, 6, 5)]:
        assert init._calculate_fan_in_and_fan_out(
            tg.empty(*shape)
        ) == torch.nn.init._calculate_fan_in_and_fan_out(torch.empty(*shape))
    for nl, p in [("tanh", None), ("relu", None), ("leaky_relu", 0.2), ("selu", None)]:
        assert init.calculate_gain(nl, p) == pytest.approx(torch.nn.init.calculate_gain(nl, p))


def test_uniform_normal_constant():
    tg.manual_seed(0)
    t = tg.empty(200, 300)
    assert init.uniform_(t, -2.0, 3.0) is t
    v = _np(t)
    assert v.min() >= -2.0 and v.max() <= 3.0
    assert v.mean() == pytest.approx(0.5, abs=0.02)
    assert v.std() == pytest.approx(5 / math.sqrt(12), rel=0.02)
    init.normal_(t, 1.0, 0.5)
    v = _np(t)
    assert v.mean() == pytest.approx(1.0, abs=0.01)
    assert v.std() == pytest.approx(0.5, rel=0.02)
    init.constant_(t, 0.25)
    assert np.all(_np(t) == 0.25)
    init.ones_(t)
    assert np.all(_np(t) == 1)
    init.zeros_(t)
    assert np.all(_np(t) == 0)


def test_trunc_normal_bounds_and_moments():
    tg.manual_seed(1)
    t = init.trunc_normal_(tg.empty(100_000), mean=0.5, std=1.0, a=-1.0, b=1.5)
    v = _np(t)
    assert v.min() >= -1.0 and v.max() <= 1.5
    # mean of N(0.5, 1) truncated to [-1.5, 1] (standardised): mu + phi(a)-phi(b) / Z
    a, b = -1.5, 1.0
    phi = lambda x: math.exp(-x * x / 2) / math.sqrt(2 * math.pi)  # noqa: E731
    Phi = lambda x: 0.5 * (1 + math.erf(x / math.sqrt(2)))  # noqa: E731
    expected = 0.5 + (phi(a) - phi(b)) / (Phi(b) - Phi(a))
    assert v.mean() == pytest.approx(expected, abs=0.01)


@pytest.mark.parametrize("shape", [(256, 512), (64, 32, 3, 3)])
def test_xavier_and_kaiming_statistics(shape):
    tg.manual_seed(2)
    t = tg.empty(*shape)
    fan_in, fan_out = init._calculate_fan_in_and_fan_out(t)
    std = math.sqrt(2.0 / (fan_in + fan_out))
    init.xavier_uniform_(t)
    v = _np(t)
    assert np.abs(v).max() <= math.sqrt(3) * std * (1 + 1e-6)
    assert v.std() == pytest.approx(std, rel=0.03)
    init.xavier_normal_(t, gain=2.0)
    assert _np(t).std() == pytest.approx(2 * std, rel=0.03)
    init.kaiming_uniform_(t, a=math.sqrt(5))  # Linear's default: bound = 1/sqrt(fan_in)
    v = _np(t)
    bound = 1 / math.sqrt(fan_in)
    assert np.abs(v).max() <= bound * (1 + 1e-6) and np.abs(v).max() > 0.98 * bound
    init.kaiming_normal_(t, mode="fan_out", nonlinearity="relu")
    v = _np(t)
    assert v.mean() == pytest.approx(0.0, abs=0.01 * math.sqrt(2 / fan_out) * 10)
    assert v.std() == pytest.approx(math.sqrt(2 / fan_out), rel=0.03)


@pytest.mark.parametrize("shape", [(6, 6), (4, 10), (10, 4), (8, 2, 3)])
def test_orthogonal(shape):
    tg.manual_seed(3)
    t = init.orthogonal_(tg.empty(*shape, dtype=tg.float64), gain=2.0)
    m = _np(t).reshape(shape[0], -1)
    rows, cols = m.shape
    gram = m @ m.T if rows <= cols else m.T @ m
    np.testing.assert_allclose(gram, 4.0 * np.eye(min(rows, cols)), atol=1e-10)
    with pytest.raises(ValueError, match="2 or more dimensions"):
        init.orthogonal_(tg.empty(3))


def test_eye_and_dirac():
    t = init.eye_(tg.empty(2, 3))
    np.testing.assert_array_equal(_np(t), np.eye(2, 3))
    w = init.dirac_(tg.empty(4, 2, 3, 3), groups=2)
    x = tg.randn(1, 4, 5, 5)
    y = tg.conv2d(x, w, padding=1, groups=2)
    np.testing.assert_allclose(y.numpy(), x.numpy(), rtol=1e-6)
    with pytest.raises(ValueError, match="2 dimensions"):
        init.eye_(tg.empty(2, 2, 2))


def test_in_place_on_parameters_and_versions():
    p = nn.Parameter(tg.zeros(3, 4))
    v0 = p._version
    out = init.normal_(p)
    assert out is p and isinstance(p, nn.Parameter) and p.requires_grad and p.is_leaf
    assert p._version > v0
    init.kaiming_uniform_(p)
    assert p.grad_fn is None


def test_seeded_and_float64():
    tg.manual_seed(7)
    a = _np(init.normal_(tg.empty(5)))
    tg.manual_seed(7)
    b = _np(init.normal_(tg.empty(5)))
    np.testing.assert_array_equal(a, b)
    t = init.uniform_(tg.empty(3, dtype=tg.float64))
    assert t.dtype == tg.float64
    h = init.normal_(tg.empty(3, dtype=tg.float16))
    assert h.dtype == tg.float16


def test_zero_element_kaiming_warns():
    with pytest.warns(UserWarning, match="no-op"):
        init.kaiming_uniform_(tg.empty(0, 3))


def test_integer_tensor_rejected():
    with pytest.raises(RuntimeError, match="not implemented"):
        init.normal_(tg.zeros(3, dtype=tg.int64))


def test_default_layer_init_bounds():
    tg.manual_seed(0)
    lin = nn.Linear(400, 300)
    bound = 1 / math.sqrt(400)
    w, b = _np(lin.weight), _np(lin.bias)
    assert np.abs(w).max() <= bound and np.abs(w).max() > 0.99 * bound
    assert w.std() == pytest.approx(bound / math.sqrt(3), rel=0.02)
    assert np.abs(b).max() <= bound
    emb = nn.Embedding(1000, 64)
    e = _np(emb.weight)
    assert e.mean() == pytest.approx(0, abs=0.01) and e.std() == pytest.approx(1, rel=0.02)
    bil = nn.Bilinear(50, 20, 30)
    assert np.abs(_np(bil.weight)).max() <= 1 / math.sqrt(50)
