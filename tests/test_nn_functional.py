"""Non-loss functions of ``tracegrad.nn.functional``: linear, bilinear, embedding, dropout,
batch/layer/group norm, normalize and pad, against numpy and (when installed) PyTorch, with
gradients, grad_fn names and PyTorch's errors."""

from __future__ import annotations

import numpy as np
import pytest

import tracegrad as tg
import tracegrad.nn.functional as F

from .tiers import slow_after

rng = np.random.default_rng(1)


def X(*shape, low=-2.0, high=2.0):
    return rng.uniform(low, high, size=shape)


def T(a, grad=True):
    return tg.tensor(np.asarray(a), requires_grad=grad)


def _torch():
    return pytest.importorskip("torch")


def check_torch(ours, theirs, arrays, consts=(), atol=1e-10):
    """Apply ``ours``/``theirs`` to the same float64 ``arrays`` (differentiable) and ``consts``;
    compare outputs and the gradients of every array."""
    torch = _torch()
    a = [T(x) for x in arrays]
    b = [torch.tensor(x, requires_grad=True) for x in arrays]
    ca = [T(c, False) if isinstance(c, np.ndarray) else c for c in consts]
    cb = [torch.tensor(c) if isinstance(c, np.ndarray) else c for c in consts]
    out, ref = ours(*a, *ca), theirs(*b, *cb)
    np.testing.assert_allclose(out.detach().numpy(), ref.detach().numpy(), atol=atol, rtol=1e-9)
    g = rng.uniform(0.5, 1.5, size=tuple(ref.shape))
    out.backward(tg.tensor(g))
    ref.backward(torch.tensor(g))
    for x, y in zip(a, b):
        np.testing.assert_allclose(x.grad.numpy(), y.grad.numpy(), atol=atol, rtol=1e-8)


# ------------------------------------------------------------------------------- linear, bilinear
def test_linear_numpy_and_grad_fn():
    x, w, b = X(4, 3), X(5, 3), X(5)
    out = F.linear(T(x), T(w), T(b))
    np.testing.assert_allclose(out.detach().numpy(), x @ w.T + b)
    assert out.grad_fn.name() == "AddmmBackward0"
    out3 = F.linear(T(X(2, 4, 3)), T(w))
    assert out3.shape == (2, 4, 5)


@pytest.mark.parametrize("shape", [(4, 3), (2, 4, 3), (3,)])
@pytest.mark.parametrize("bias", [True, False])
def test_linear_torch(shape, bias):
    torch = _torch()
    arrays = [X(*shape), X(5, 3)] + ([X(5)] if bias else [])
    check_torch(F.linear, torch.nn.functional.linear, arrays)


@pytest.mark.parametrize("lead", [(4,), (2, 3)])
def test_bilinear_torch(lead):
    torch = _torch()
    arrays = [X(*lead, 3), X(*lead, 2), X(5, 3, 2), X(5)]
    check_torch(F.bilinear, torch.nn.functional.bilinear, arrays)


# -------------------------------------------------------------------------------------- embedding
def test_embedding_numpy():
    w = X(6, 3)
    idx = np.array([[0, 5, 2], [2, 2, 1]])
    out = F.embedding(tg.tensor(idx), T(w))
    np.testing.assert_allclose(out.detach().numpy(), w[idx])


@pytest.mark.parametrize(
    "kwargs", [{}, {"padding_idx": 2}, {"padding_idx": -1}, {"scale_grad_by_freq": True}]
)
def test_embedding_torch(kwargs):
    torch = _torch()
    idx = np.array([[0, 5, 2], [2, 2, 1]])
    check_torch(
        lambda w, i: F.embedding(i, w, **kwargs),
        lambda w, i: torch.nn.functional.embedding(i, w, **kwargs),
        [X(6, 3)],
        [idx],
    )


def test_embedding_max_norm_renormalises_in_place():
    torch = _torch()
    w = X(5, 3) * 3
    idx = np.array([0, 3, 3])
    wt = torch.tensor(w)
    ref = torch.nn.functional.embedding(torch.tensor(idx), wt, max_norm=1.0)
    ours_w = tg.tensor(w)
    out = F.embedding(tg.tensor(idx), ours_w, max_norm=1.0)
    np.testing.assert_allclose(out.numpy(), ref.numpy(), rtol=1e-7)
    np.testing.assert_allclose(ours_w.numpy(), wt.numpy(), rtol=1e-7)


def test_embedding_errors():
    with pytest.raises(IndexError, match="index out of range in self"):
        F.embedding(tg.tensor([5]), tg.randn(3, 2))
    with pytest.raises(RuntimeError, match="indices"):
        F.embedding(tg.tensor([1.0]), tg.randn(3, 2))


# ---------------------------------------------------------------------------------------- dropout
def test_dropout_statistics_and_scaling():
    tg.manual_seed(0)
    x = tg.ones(200, 500)
    out = F.dropout(x, p=0.3).numpy()
    kept = out != 0
    assert abs(kept.mean() - 0.7) < 0.01
    np.testing.assert_allclose(out[kept], 1 / 0.7, rtol=1e-6)


def test_dropout_reproducible_with_manual_seed():
    x = tg.randn(10, 10)
    tg.manual_seed(3)
    a = F.dropout(x, 0.5).numpy()
    b = F.dropout(x, 0.5).numpy()
    tg.manual_seed(3)
    c = F.dropout(x, 0.5).numpy()
    np.testing.assert_array_equal(a, c)
    assert not np.array_equal(a, b)


def test_dropout_identity_and_edge_cases():
    x = tg.randn(4, 5)
    assert F.dropout(x, 0.5, training=False) is x
    assert F.dropout(x, 0.0) is x
    np.testing.assert_array_equal(F.dropout(x, 1.0).numpy(), np.zeros((4, 5)))
    for p in (-0.1, 1.5):
        with pytest.raises(ValueError, match="dropout probability has to be between 0 and 1"):
            F.dropout(x, p)


def test_dropout_gradient_is_the_mask():
    tg.manual_seed(1)
    x = tg.randn(50, 40, requires_grad=True)
    out = F.dropout(x, 0.25)
    out.sum().backward()
    mask = out.detach().numpy() / np.where(x.detach().numpy() == 0, 1, x.detach().numpy())
    np.testing.assert_allclose(x.grad.numpy(), mask, rtol=1e-5, atol=1e-6)


def test_dropout_inplace():
    tg.manual_seed(2)
    x = tg.ones(8, 8)
    out = F.dropout(x, 0.5, inplace=True)
    assert out is x
    assert set(np.unique(x.numpy())) <= {0.0, 2.0}


def test_dropout2d_drops_whole_channels():
    tg.manual_seed(0)
    x = tg.ones(64, 16, 3, 3)
    out = F.dropout2d(x, 0.5).numpy()
    per_channel = out.reshape(64, 16, 9)
    assert np.all((per_channel == 0).all(-1) | (per_channel == 2).all(-1))
    assert 0.4 < (per_channel[..., 0] == 0).mean() < 0.6
    with pytest.warns(UserWarning, match="3D input to dropout2d"):
        out3 = F.dropout2d(tg.ones(4, 6, 5), 0.5).numpy()
    assert np.all((out3 == 0).all(-1) | (out3 == 2).all(-1))
    assert F.dropout2d(x, 0.5, training=False) is x


# -------------------------------------------------------------------------------------- batch_norm
def _bn_numpy(x, w, b, eps=1e-5):
    axes = (0, *range(2, x.ndim))
    shape = (1, -1) + (1,) * (x.ndim - 2)
    mean = x.mean(axes, keepdims=True)
    var = x.var(axes, keepdims=True)
    return (x - mean) / np.sqrt(var + eps) * w.reshape(shape) + b.reshape(shape)


@pytest.mark.parametrize("shape", [(6, 3), (4, 3, 5), (2, 3, 4, 4)])
def test_batch_norm_training_numpy(shape):
    x, w, b = X(*shape), X(3), X(3)
    rm, rv = tg.zeros(3, dtype=tg.float64), tg.ones(3, dtype=tg.float64)
    out = F.batch_norm(T(x), rm, rv, T(w), T(b), training=True, momentum=0.2)
    np.testing.assert_allclose(out.detach().numpy(), _bn_numpy(x, w, b), rtol=1e-9, atol=1e-12)
    axes = (0, *range(2, x.ndim))
    np.testing.assert_allclose(rm.numpy(), 0.2 * x.mean(axes), rtol=1e-9)
    np.testing.assert_allclose(rv.numpy(), 0.8 + 0.2 * x.var(axes, ddof=1), rtol=1e-9)


@pytest.mark.parametrize("training", [True, False])
@pytest.mark.parametrize("shape", [(6, 3), (2, 3, 4, 4)])
def test_batch_norm_torch(shape, training):
    torch = _torch()
    rm, rv = X(3), X(3, low=0.5, high=2)
    rm_t, rv_t = tg.tensor(rm), tg.tensor(rv)
    rm_r, rv_r = torch.tensor(rm), torch.tensor(rv)
    check_torch(
        lambda x, w, b: F.batch_norm(x, rm_t, rv_t, w, b, training, 0.3, 1e-3),
        lambda x, w, b: torch.nn.functional.batch_norm(x, rm_r, rv_r, w, b, training, 0.3, 1e-3),
        [X(*shape), X(3), X(3)],
    )
    np.testing.assert_allclose(rm_t.numpy(), rm_r.numpy(), rtol=1e-9)
    np.testing.assert_allclose(rv_t.numpy(), rv_r.numpy(), rtol=1e-9)


def test_batch_norm_errors():
    with pytest.raises(ValueError, match="Expected more than 1 value per channel when training"):
        F.batch_norm(tg.randn(1, 3), tg.zeros(3), tg.ones(3), training=True)
    with pytest.raises(RuntimeError, match="running_mean should contain 3 elements not 4"):
        F.batch_norm(tg.randn(2, 3), tg.zeros(4), tg.ones(4), training=True)
    with pytest.raises(RuntimeError, match="running_mean must be defined in evaluation mode"):
        F.batch_norm(tg.randn(2, 3), None, None)


# --------------------------------------------------------------------------- layer and group norm
@pytest.mark.parametrize("shape,norm", [((4, 5), (5,)), ((2, 3, 4), (3, 4)), ((3, 6), 6)])
def test_layer_norm(shape, norm):
    torch = _torch()
    ns = (norm,) if isinstance(norm, int) else norm
    x = X(*shape)
    dims = tuple(range(x.ndim - len(ns), x.ndim))
    ref = (x - x.mean(dims, keepdims=True)) / np.sqrt(x.var(dims, keepdims=True) + 1e-5)
    np.testing.assert_allclose(F.layer_norm(T(x), norm).detach().numpy(), ref, rtol=1e-9)
    check_torch(
        lambda x, w, b: F.layer_norm(x, norm, w, b, 1e-4),
        lambda x, w, b: torch.nn.functional.layer_norm(x, ns, w, b, 1e-4),
        [x, X(*ns), X(*ns)],
    )


def test_layer_norm_error():
    with pytest.raises(RuntimeError, match=r"Given normalized_shape=\[4\], expected input"):
        F.layer_norm(tg.randn(2, 3), (4,))


@pytest.mark.parametrize(
    "shape,groups", slow_after([((2, 6, 5), 3), ((3, 4, 2, 2), 2), ((2, 4), 4)], 1, multi=True)
)
def test_group_norm(shape, groups):
    torch = _torch()
    x = X(*shape)
    g = x.reshape(shape[0], groups, -1)
    ref = ((g - g.mean(-1, keepdims=True)) / np.sqrt(g.var(-1, keepdims=True) + 1e-5)).reshape(
        shape
    )
    np.testing.assert_allclose(F.group_norm(T(x), groups).detach().numpy(), ref, rtol=1e-9)
    check_torch(
        lambda x, w, b: F.group_norm(x, groups, w, b),
        lambda x, w, b: torch.nn.functional.group_norm(x, groups, w, b),
        [x, X(shape[1]), X(shape[1])],
    )


def test_group_norm_error():
    with pytest.raises(RuntimeError, match="divisible by num_groups"):
        F.group_norm(tg.randn(2, 6, 3), 4)


@pytest.mark.parametrize("p,dim", [(2.0, 1), (1.0, 0), (3.0, -1)])
def test_normalize(p, dim):
    torch = _torch()
    check_torch(
        lambda x: F.normalize(x, p, dim),
        lambda x: torch.nn.functional.normalize(x, p, dim),
        [X(3, 4)],
    )


# -------------------------------------------------------------------------------------------- pad
@pytest.mark.parametrize("mode", ["constant", "reflect", "replicate", "circular"])
@pytest.mark.parametrize("pad", [(1, 2), (2, 1, 1, 0), (0, 1, 2, 2)])
def test_pad_modes_torch(mode, pad):
    torch = _torch()
    check_torch(
        lambda x: F.pad(x, pad, mode=mode),
        lambda x: torch.nn.functional.pad(x, pad, mode=mode),
        [X(3, 4, 5)],
    )


def test_pad_constant_value_and_crop():
    torch = _torch()
    check_torch(
        lambda x: F.pad(x, (-1, 2, 1, -1), value=3.5),
        lambda x: torch.nn.functional.pad(x, (-1, 2, 1, -1), value=3.5),
        [X(3, 4, 5)],
    )
    np.testing.assert_array_equal(F.pad(tg.ones(1, 2), (1, 1)).numpy(), [[0, 1, 1, 0]])


def test_pad_errors():
    x = tg.randn(3, 4)
    with pytest.raises(RuntimeError, match="Padding size should be less than"):
        F.pad(x, (4, 1), mode="reflect")
    with pytest.raises(RuntimeError, match="Padding length"):
        F.pad(x, (1, 1, 1, 1, 1, 1))
