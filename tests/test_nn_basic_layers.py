"""Identity, Linear, Bilinear, Embedding, activation layers, Flatten/Unflatten and nn.utils:
forward and gradients against numpy (and PyTorch with copied weights, when installed)."""

from __future__ import annotations

import math

import numpy as np
import pytest

import tracegrad as tg
from tracegrad import nn


def _np(t):
    return t.detach().numpy()


def _copy_from_torch(gm, tm):
    gm.load_state_dict({k: tg.tensor(v.detach().numpy()) for k, v in tm.state_dict().items()})


# ------------------------------------------------------------------------------------ Linear
@pytest.mark.parametrize("shape", [(5, 4), (4,), (2, 3, 4), (0, 4)])
@pytest.mark.parametrize("bias", [True, False])
def test_linear_forward_backward_vs_numpy(shape, bias):
    tg.manual_seed(0)
    lin = nn.Linear(4, 3, bias=bias).double()
    rng = np.random.default_rng(0)
    xn = rng.standard_normal(shape)
    x = tg.tensor(xn, requires_grad=True)
    y = lin(x)
    W = _np(lin.weight)
    ref = xn @ W.T + (_np(lin.bias) if bias else 0)
    np.testing.assert_allclose(_np(y), ref, rtol=1e-12, atol=1e-12)
    gn = rng.standard_normal(ref.shape)
    y.backward(tg.tensor(gn))
    np.testing.assert_allclose(_np(x.grad), gn @ W, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(
        _np(lin.weight.grad), gn.reshape(-1, 3).T @ xn.reshape(-1, 4), rtol=1e-12, atol=1e-12
    )
    if bias:
        np.testing.assert_allclose(_np(lin.bias.grad), gn.reshape(-1, 3).sum(0), atol=1e-12)
    else:
        assert lin.bias is None and [n for n, _ in lin.named_parameters()] == ["weight"]


def test_linear_grad_fn_and_errors():
    lin = nn.Linear(4, 3)
    assert lin(tg.randn(2, 4)).grad_fn.name() == "AddmmBackward0"
    with pytest.raises(RuntimeError, match="shapes cannot be multiplied"):
        lin(tg.randn(2, 5))
    lin64 = nn.Linear(2, 2, dtype=tg.float64)
    assert lin64.weight.dtype == tg.float64 and lin64.bias.dtype == tg.float64


def test_linear_vs_torch():
    torch = pytest.importorskip("torch")
    tm, gm = torch.nn.Linear(5, 3), nn.Linear(5, 3)
    _copy_from_torch(gm, tm)
    xn = np.random.default_rng(1).standard_normal((7, 2, 5)).astype(np.float32)
    xt, xg = torch.tensor(xn, requires_grad=True), tg.tensor(xn, requires_grad=True)
    yt, yg = tm(xt), gm(xg)
    np.testing.assert_allclose(_np(yg), yt.detach().numpy(), rtol=1e-5, atol=1e-6)
    (yt**2).sum().backward()
    (yg**2).sum().backward()
    np.testing.assert_allclose(_np(xg.grad), xt.grad.numpy(), rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(_np(gm.weight.grad), tm.weight.grad.numpy(), rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(_np(gm.bias.grad), tm.bias.grad.numpy(), rtol=1e-5, atol=1e-5)


def test_identity():
    x = tg.randn(3)
    assert nn.Identity(54, unused="x")(x) is x


# ---------------------------------------------------------------------------------- Bilinear
def test_bilinear_vs_numpy_and_torch():
    tg.manual_seed(0)
    gm = nn.Bilinear(3, 4, 2).double()
    rng = np.random.default_rng(2)
    a, b = rng.standard_normal((5, 3)), rng.standard_normal((5, 4))
    xa, xb = tg.tensor(a, requires_grad=True), tg.tensor(b, requires_grad=True)
    y = gm(xa, xb)
    W, c = _np(gm.weight), _np(gm.bias)
    np.testing.assert_allclose(
        _np(y), np.einsum("bi,oij,bj->bo", a, W, b) + c, rtol=1e-12, atol=1e-12
    )
    y.sum().backward()
    np.testing.assert_allclose(_np(xa.grad), np.einsum("oij,bj->bi", W, b), rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(_np(gm.weight.grad), np.einsum("bi,bj->ij", a, b)[None].repeat(2, 0))
    torch = pytest.importorskip("torch")
    torch.manual_seed(0)
    tm = torch.nn.Bilinear(3, 4, 2).double()
    gm.load_state_dict({k: tg.tensor(v.detach().numpy()) for k, v in tm.state_dict().items()})
    yt = tm(torch.tensor(a), torch.tensor(b))
    np.testing.assert_allclose(
        _np(gm(tg.tensor(a), tg.tensor(b))), yt.detach().numpy(), rtol=1e-12, atol=1e-12
    )


# --------------------------------------------------------------------------------- Embedding
def test_embedding_gradient_with_padding_and_repeats_vs_numpy():
    tg.manual_seed(0)
    emb = nn.Embedding(6, 3, padding_idx=2)
    np.testing.assert_array_equal(_np(emb.weight)[2], np.zeros(3))
    idx = np.array([[2, 1, 1], [5, 2, 1]])
    out = emb(tg.tensor(idx))
    np.testing.assert_array_equal(_np(out), _np(emb.weight)[idx])
    g = np.random.default_rng(0).standard_normal((2, 3, 3)).astype(np.float32)
    out.backward(tg.tensor(g))
    ref = np.zeros((6, 3), np.float32)
    np.add.at(ref, idx, g)
    ref[2] = 0
    np.testing.assert_allclose(_np(emb.weight.grad), ref, rtol=1e-6)


def test_embedding_vs_torch():
    torch = pytest.importorskip("torch")
    tm, gm = torch.nn.Embedding(7, 4, padding_idx=-1), nn.Embedding(7, 4, padding_idx=-1)
    assert gm.padding_idx == 6 == tm.padding_idx
    _copy_from_torch(gm, tm)
    idx = np.array([[6, 0, 0, 3], [6, 6, 1, 0]])
    yt, yg = tm(torch.tensor(idx)), gm(tg.tensor(idx))
    np.testing.assert_array_equal(_np(yg), yt.detach().numpy())
    g = np.random.default_rng(3).standard_normal((2, 4, 4)).astype(np.float32)
    yt.backward(torch.tensor(g))
    yg.backward(tg.tensor(g))
    np.testing.assert_allclose(_np(gm.weight.grad), tm.weight.grad.numpy(), rtol=1e-6, atol=1e-6)


def test_embedding_from_pretrained_and_errors():
    w = tg.arange(6.0).reshape(3, 2)
    e = nn.Embedding.from_pretrained(w)
    assert not e.weight.requires_grad and e(tg.tensor([2])).tolist() == [[4.0, 5.0]]
    assert nn.Embedding.from_pretrained(w, freeze=False).weight.requires_grad
    with pytest.raises(RuntimeError, match="Long, Int"):
        e(tg.tensor([0.0]))
    with pytest.raises(IndexError, match="index out of range in self"):
        e(tg.tensor([3]))
    with pytest.raises(AssertionError, match="Padding_idx must be within num_embeddings"):
        nn.Embedding(3, 2, padding_idx=3)
    with pytest.raises(AssertionError, match="2-dimensional"):
        nn.Embedding.from_pretrained(tg.ones(3))


def test_embedding_max_norm_and_scale_grad_by_freq_vs_torch():
    torch = pytest.importorskip("torch")
    kw = dict(max_norm=1.0, scale_grad_by_freq=True)
    tm, gm = torch.nn.Embedding(5, 3, **kw), nn.Embedding(5, 3, **kw)
    assert repr(gm) == repr(tm)
    _copy_from_torch(gm, tm)
    idx = np.array([0, 2, 2, 4])
    yt, yg = tm(torch.tensor(idx)), gm(tg.tensor(idx))
    np.testing.assert_allclose(_np(yg), yt.detach().numpy(), rtol=1e-6)
    np.testing.assert_allclose(_np(gm.weight), tm.weight.detach().numpy(), rtol=1e-6)
    yt.sum().backward()
    yg.sum().backward()
    np.testing.assert_allclose(_np(gm.weight.grad), tm.weight.grad.numpy(), rtol=1e-6)


# ------------------------------------------------------------------------------- activations
def _act_pairs(mod):
    return [
        mod.ReLU(),
        mod.ReLU6(),
        mod.LeakyReLU(0.2),
        mod.ELU(alpha=0.7),
        mod.CELU(alpha=1.3),
        mod.SELU(),
        mod.GELU(),
        mod.GELU(approximate="tanh"),
        mod.SiLU(),
        mod.Mish(),
        mod.Sigmoid(),
        mod.LogSigmoid(),
        mod.Tanh(),
        mod.Hardtanh(-0.5, 0.8),
        mod.Hardsigmoid(),
        mod.Hardswish(),
        mod.Softplus(beta=2.0, threshold=3.0),
        mod.Softsign(),
        mod.Tanhshrink(),
        mod.Softmax(dim=1),
        mod.LogSoftmax(dim=-1),
        mod.Softmin(dim=0),
    ]


def test_activations_vs_torch():
    torch = pytest.importorskip("torch")
    xn = np.random.default_rng(4).standard_normal((4, 5)) * 3
    g = np.random.default_rng(5).standard_normal((4, 5))
    for tm, gm in zip(_act_pairs(torch.nn), _act_pairs(nn)):
        xt = torch.tensor(xn, requires_grad=True)
        xg = tg.tensor(xn, requires_grad=True)
        yt, yg = tm(xt), gm(xg)
        np.testing.assert_allclose(_np(yg), yt.detach().numpy(), rtol=1e-10, atol=1e-12)
        yt.backward(torch.tensor(g))
        yg.backward(tg.tensor(g))
        # PyTorch's CELU and Hardsigmoid backward kernels use float32 constants (1/alpha, 1/6)
        # even in float64, so they agree only to ~1e-7
        rtol = 1e-6 if type(gm).__name__ in ("CELU", "Hardsigmoid") else 1e-9
        np.testing.assert_allclose(_np(xg.grad), xt.grad.numpy(), rtol=rtol, atol=1e-12)


def test_activations_vs_numpy():
    xn = np.linspace(-3, 3, 13)
    x = tg.tensor(xn)
    np.testing.assert_allclose(_np(nn.ReLU()(x)), np.maximum(xn, 0))
    np.testing.assert_allclose(_np(nn.LeakyReLU(0.1)(x)), np.where(xn > 0, xn, 0.1 * xn))
    np.testing.assert_allclose(_np(nn.Sigmoid()(x)), 1 / (1 + np.exp(-xn)), rtol=1e-12)
    np.testing.assert_allclose(_np(nn.Tanh()(x)), np.tanh(xn), rtol=1e-12)
    e = np.exp(xn - xn.max())
    np.testing.assert_allclose(_np(nn.Softmax(dim=0)(x)), e / e.sum(), rtol=1e-12)
    np.testing.assert_allclose(_np(nn.Softplus()(x)), np.log1p(np.exp(xn)), rtol=1e-12)
    np.testing.assert_allclose(_np(nn.ELU()(x)), np.where(xn > 0, xn, np.expm1(xn)), rtol=1e-12)
    np.testing.assert_allclose(_np(nn.SiLU()(x)), xn / (1 + np.exp(-xn)), rtol=1e-12)


def test_inplace_activation_and_prelu():
    x = tg.tensor([-1.0, 2.0])
    y = nn.ReLU(inplace=True)(x)
    assert y is x and x.tolist() == [0.0, 2.0]
    p = nn.PReLU(3)
    assert [n for n, _ in p.named_parameters()] == ["weight"] and p.weight.tolist() == [0.25] * 3
    inp = tg.tensor([[[-4.0], [4.0], [-8.0]]], requires_grad=True)
    out = p(inp)
    assert out.flatten().tolist() == [-1.0, 4.0, -2.0]
    out.sum().backward()
    assert p.weight.grad.tolist() == [-4.0, 0.0, -8.0]


# --------------------------------------------------------------------------- Flatten/Unflatten
def test_flatten_unflatten():
    x = tg.randn(2, 3, 4, 5)
    assert nn.Flatten()(x).shape == (2, 60)
    assert nn.Flatten(0, 2)(x).shape == (24, 5)
    assert nn.Unflatten(1, (3, 20))(nn.Flatten()(x)).shape == (2, 3, 20)
    assert nn.Unflatten(-1, (-1, 2))(tg.ones(2, 6)).shape == (2, 3, 2)
    with pytest.raises(TypeError, match="tuple of ints"):
        nn.Unflatten(1, (2.0, 3))


# ---------------------------------------------------------------------------------- nn.utils
def _params_with_grads(lib, arrays, grads):
    ps = []
    for a, g in zip(arrays, grads):
        if lib is tg:
            p = nn.Parameter(tg.tensor(a))
            p.grad = tg.tensor(g)
        else:
            p = lib.nn.Parameter(lib.tensor(a))
            p.grad = lib.tensor(g)
        ps.append(p)
    return ps


@pytest.mark.parametrize("norm_type", [2.0, 1.0, math.inf, 3.0])
@pytest.mark.parametrize("max_norm", [0.5, 100.0])
def test_clip_grad_norm_vs_numpy(norm_type, max_norm):
    rng = np.random.default_rng(6)
    arrays = [rng.standard_normal((3, 4)), rng.standard_normal(5)]
    grads = [rng.standard_normal((3, 4)), rng.standard_normal(5)]
    ps = _params_with_grads(tg, arrays, grads)
    total = nn.utils.clip_grad_norm_(ps, max_norm, norm_type=norm_type)
    flat = np.concatenate([g.ravel() for g in grads])
    ref = (
        np.abs(flat).max()
        if math.isinf(norm_type)
        else (np.abs(flat) ** norm_type).sum() ** (1 / norm_type)
    )
    assert float(total) == pytest.approx(ref, rel=1e-12)
    coef = min(max_norm / (ref + 1e-6), 1.0)
    for p, g in zip(ps, grads):
        np.testing.assert_allclose(_np(p.grad), g * coef, rtol=1e-12)


def test_clip_grad_norm_vs_torch():
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(7)
    arrays = [
        rng.standard_normal((3, 4)).astype(np.float32),
        rng.standard_normal(5).astype(np.float32),
    ]
    grads = [a * 10 for a in arrays]
    pt, pg = _params_with_grads(torch, arrays, grads), _params_with_grads(tg, arrays, grads)
    pg.append(nn.Parameter(tg.ones(2)))  # a parameter without .grad is skipped
    nt = torch.nn.utils.clip_grad_norm_(pt, 1.0)
    ng = nn.utils.clip_grad_norm_(pg, 1.0)
    assert float(ng) == pytest.approx(float(nt), rel=1e-6)
    for a, b in zip(pt, pg):
        np.testing.assert_allclose(_np(b.grad), a.grad.numpy(), rtol=1e-6)


def test_clip_grad_norm_edge_cases():
    p = nn.Parameter(tg.ones(2))
    assert float(nn.utils.clip_grad_norm_([p], 1.0)) == 0.0  # no grads at all
    p.grad = tg.tensor([3.0, 4.0])
    total = nn.utils.clip_grad_norm_(p, 1.0)  # a single tensor is accepted
    assert float(total) == pytest.approx(5.0)
    np.testing.assert_allclose(_np(p.grad), [0.6, 0.8], rtol=1e-5)
    p.grad = tg.tensor([float("nan"), 1.0])
    with pytest.raises(RuntimeError, match="non-finite"):
        nn.utils.clip_grad_norm_(p, 1.0, error_if_nonfinite=True)


def test_clip_grad_value():
    p = nn.Parameter(tg.zeros(4))
    p.grad = tg.tensor([-3.0, -0.5, 0.5, 3.0])
    nn.utils.clip_grad_value_([p], 1.0)
    assert p.grad.tolist() == [-1.0, -0.5, 0.5, 1.0]


def test_parameters_vector_round_trip():
    lin = nn.Linear(3, 2)
    w = lin.weight
    v = nn.utils.parameters_to_vector(lin.parameters())
    assert v.shape == (8,)
    np.testing.assert_array_equal(_np(v), np.concatenate([_np(lin.weight).ravel(), _np(lin.bias)]))
    v.sum().backward()  # differentiable
    assert lin.weight.grad.tolist() == [[1.0] * 3] * 2
    nn.utils.vector_to_parameters(tg.arange(8.0), lin.parameters())
    assert lin.weight is w and lin.weight.tolist() == [[0.0, 1.0, 2.0], [3.0, 4.0, 5.0]]
    assert lin.bias.tolist() == [6.0, 7.0]
    with pytest.raises(TypeError, match="expected tracegrad.Tensor"):
        nn.utils.vector_to_parameters([1.0], lin.parameters())
