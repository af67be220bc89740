"""Losses of ``tracegrad.nn.functional`` and ``tracegrad.nn``: forward values and gradients against
PyTorch (same inputs, float64) and against numpy formulas; reductions, weights, ignore_index,
label smoothing, probability targets, spatial inputs, grad_fn names and PyTorch's errors."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

import tracegrad as tg
import tracegrad.nn as nn
import tracegrad.nn.functional as F

from .tiers import slow_after

torch = pytest.importorskip("torch")
TF = torch.nn.functional

rng = np.random.default_rng(0)
REDUCTIONS = ["mean", "sum", "none"]


def _pair(a, requires_grad=True):
    """The same numpy array as a tracegrad and a torch tensor."""
    a = np.asarray(a)
    grad = requires_grad and a.dtype.kind == "f"
    return tg.tensor(a, requires_grad=grad), torch.tensor(a, requires_grad=grad)


def check(ours, theirs, args, kwargs=None, tkwargs=None, atol=1e-10):
    """Run ``ours`` and ``theirs`` on the same arrays (keyword arrays as constants); compare the
    outputs and the gradients of the positional float arrays."""
    kwargs = kwargs or {}
    tkwargs = kwargs if tkwargs is None else tkwargs
    pairs = [_pair(a) if isinstance(a, np.ndarray) else (a, a) for a in args]
    conv = {k: _pair(v, False) if isinstance(v, np.ndarray) else (v, v) for k, v in kwargs.items()}
    tconv = {k: _pair(v, False)[1] if isinstance(v, np.ndarray) else v for k, v in tkwargs.items()}
    out = ours(*[p[0] for p in pairs], **{k: v[0] for k, v in conv.items()})
    ref = theirs(*[p[1] for p in pairs], **tconv)
    np.testing.assert_allclose(out.detach().numpy(), ref.detach().numpy(), atol=atol, rtol=1e-9)
    if not ref.requires_grad:
        return out
    g = rng.uniform(0.5, 1.5, size=tuple(ref.shape))
    out.backward(tg.tensor(g))
    ref.backward(torch.tensor(g))
    for a, b in pairs:
        if isinstance(b, torch.Tensor) and b.requires_grad:
            np.testing.assert_allclose(a.grad.numpy(), b.grad.numpy(), atol=atol, rtol=1e-8)
    return out


def X(*shape, low=-2.0, high=2.0):
    return rng.uniform(low, high, size=shape)


# ------------------------------------------------------------------------ regression-type losses
@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize(
    "name,extra",
    [
        ("mse_loss", {}),
        ("l1_loss", {}),
        ("smooth_l1_loss", {}),
        ("smooth_l1_loss", {"beta": 0.5}),
        ("smooth_l1_loss", {"beta": 0.0}),
        ("huber_loss", {}),
        ("huber_loss", {"delta": 0.3}),
    ],
)
def test_pointwise_losses_match_torch(name, extra, reduction):
    x, y = X(4, 5), X(4, 5)
    check(getattr(F, name), getattr(TF, name), (x, y), {"reduction": reduction, **extra})


@pytest.mark.parametrize("name", ["mse_loss", "l1_loss", "huber_loss"])
def test_weighted_pointwise_losses(name):
    x, y, w = X(3, 4), X(3, 4), X(3, 4, low=0.1, high=1.0)
    check(getattr(F, name), getattr(TF, name), (x, y), {"weight": w})


def test_mse_l1_against_numpy():
    x, y = X(3, 4), X(3, 4)
    assert np.isclose(F.mse_loss(tg.tensor(x), tg.tensor(y)).item(), np.mean((x - y) ** 2))
    assert np.isclose(F.l1_loss(tg.tensor(x), tg.tensor(y), reduction="sum").item(),
                      np.abs(x - y).sum())  # fmt: skip
    d = x - y
    ref = np.where(np.abs(d) < 0.7, 0.5 * d * d, 0.7 * (np.abs(d) - 0.35)).mean()
    assert np.isclose(F.huber_loss(tg.tensor(x), tg.tensor(y), delta=0.7).item(), ref)


def test_loss_grad_fn_names():
    x = tg.randn(3, 4, requires_grad=True)
    y = tg.randn(3, 4)
    assert F.mse_loss(x, y).grad_fn.name() == "MseLossBackward0"
    t = tg.tensor([0, 1, 2])
    assert F.cross_entropy(x, t).grad_fn.name() == "NllLossBackward0"
    assert F.nll_loss(x, t).grad_fn.name() == "NllLossBackward0"
    p = tg.rand(3, 4, requires_grad=True)
    assert F.binary_cross_entropy(p, tg.rand(3, 4)).grad_fn.name() == (
        "BinaryCrossEntropyBackward0"
    )


def test_size_mismatch_warns_and_broadcasts():
    x, y = X(3, 1), X(3)
    with pytest.warns(UserWarning, match="target size"):
        out = F.mse_loss(tg.tensor(x), tg.tensor(y))
    assert np.isclose(out.item(), np.mean((x - y) ** 2))


def test_bad_reduction_and_legacy_args():
    x = tg.randn(3)
    with pytest.raises(ValueError, match="bad is not a valid value for reduction"):
        F.mse_loss(x, x, reduction="bad")
    with pytest.warns(UserWarning, match="size_average and reduce"):
        out = F.l1_loss(x, tg.zeros(3), reduce=False)
    assert out.shape == (3,)
    with pytest.raises(RuntimeError, match="negative values for beta"):
        F.smooth_l1_loss(x, x, beta=-1)
    with pytest.raises(RuntimeError, match="non-positive values for delta"):
        F.huber_loss(x, x, delta=0)


# --------------------------------------------------------------------------- nll, cross-entropy
@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("smoothing", [0.0, 0.2])
@pytest.mark.parametrize("shape", slow_after([(5, 4), (3, 4, 2, 3), (4,)]))
def test_cross_entropy_class_targets(shape, smoothing, weighted, reduction):
    x = X(*shape)
    c = shape[0] if len(shape) == 1 else shape[1]
    tshape = () if len(shape) == 1 else (shape[0], *shape[2:])
    t = rng.integers(0, c, size=tshape)
    if len(shape) > 1:
        t.reshape(-1)[:2] = 1  # class 1 is ignored below: some targets are ignored
    kwargs = {"reduction": reduction, "label_smoothing": smoothing, "ignore_index": 1}
    if weighted:
        kwargs["weight"] = X(c, low=0.2, high=2.0)
    check(F.cross_entropy, TF.cross_entropy, (x, t), kwargs)


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("smoothing", [0.0, 0.3])
@pytest.mark.parametrize("shape", [(5, 4), (2, 3, 4, 2)])
def test_cross_entropy_probability_targets(shape, smoothing, weighted, reduction):
    x = X(*shape)
    p = rng.uniform(0, 1, size=shape)
    p = p / p.sum(1, keepdims=True)
    kwargs = {"reduction": reduction, "label_smoothing": smoothing}
    if weighted:
        kwargs["weight"] = X(shape[1], low=0.2, high=2.0)
    check(F.cross_entropy, TF.cross_entropy, (x, p), kwargs)


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("shape", [(6, 3), (2, 3, 5), (3,)])
def test_nll_loss_weight_ignore_index(shape, reduction):
    x = X(*shape)
    c = shape[0] if len(shape) == 1 else shape[1]
    t = rng.integers(0, c, size=() if len(shape) == 1 else (shape[0], *shape[2:]))
    if t.ndim:
        t.reshape(-1)[0] = -100
    check(F.nll_loss, TF.nll_loss, (x, t), {"reduction": reduction, "weight": X(c, low=0.1)})


def test_cross_entropy_against_numpy():
    x = X(5, 3)
    t = np.array([0, 2, 1, 1, 0])
    w = np.array([0.5, 2.0, 1.0])
    logp = x - np.log(np.exp(x).sum(1, keepdims=True))
    picked = logp[np.arange(5), t]
    ref = -(w[t] * picked).sum() / w[t].sum()  # PyTorch divides by the total weight
    out = F.cross_entropy(tg.tensor(x), tg.tensor(t), weight=tg.tensor(w))
    assert np.isclose(out.item(), ref)


def test_cross_entropy_stable_for_huge_logits():
    x = tg.tensor([[1000.0, 0.0, -1000.0]], requires_grad=True)
    loss = F.cross_entropy(x, tg.tensor([1]))
    loss.backward()
    assert np.isclose(loss.item(), 1000.0)
    assert np.all(np.isfinite(x.grad.numpy()))


def test_nll_loss_errors():
    x = tg.randn(3, 4)
    with pytest.raises(ValueError, match=r"Expected input batch_size \(3\) to match target"):
        F.nll_loss(x, tg.tensor([0, 1]))
    with pytest.raises(IndexError, match="Target 7 is out of bounds."):
        F.nll_loss(x, tg.tensor([0, 1, 7]))
    with pytest.raises(RuntimeError, match=r"Expected target size \[2, 5\], got \[2, 4\]"):
        F.nll_loss(tg.randn(2, 3, 5), tg.zeros(2, 4, dtype=tg.int64))
    with pytest.raises(RuntimeError, match="expected target dtype to be Long"):
        F.nll_loss(x, tg.tensor([0.0, 1.0, 1.0]))
    with pytest.raises(ValueError, match=r"Expected 1 or more dimensions \(got 0\)"):
        F.nll_loss(tg.tensor(1.0), tg.tensor(1))
    with pytest.raises(RuntimeError, match="ignore_index is not supported for floating point"):
        F.cross_entropy(x, tg.rand(3, 4), ignore_index=1)


def test_all_ignored_mean_is_nan_like_torch():
    x = X(2, 3)
    t = np.array([-100, -100])
    ours = F.cross_entropy(tg.tensor(x), tg.tensor(t)).item()
    theirs = TF.cross_entropy(torch.tensor(x), torch.tensor(t)).item()
    assert np.isnan(ours) and np.isnan(theirs)


# ------------------------------------------------------------------------------------------ BCE
@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("weighted", [False, True])
def test_binary_cross_entropy(weighted, reduction):
    p, y = X(4, 3, low=0.05, high=0.95), X(4, 3, low=0.0, high=1.0)
    kwargs = {"reduction": reduction}
    if weighted:
        kwargs["weight"] = X(3, low=0.2, high=2.0)  # broadcasts to the input
    check(F.binary_cross_entropy, TF.binary_cross_entropy, (p, y), kwargs)


def test_binary_cross_entropy_clamps_log():
    p = tg.tensor([0.0, 1.0, 0.5], requires_grad=True)
    y = tg.tensor([1.0, 0.0, 1.0])
    loss = F.binary_cross_entropy(p, y, reduction="none")
    np.testing.assert_allclose(loss.detach().numpy(), [100.0, 100.0, np.log(2)])
    loss.sum().backward()
    pt = torch.tensor([0.0, 1.0, 0.5], requires_grad=True)
    TF.binary_cross_entropy(pt, torch.tensor([1.0, 0.0, 1.0]), reduction="sum").backward()
    np.testing.assert_allclose(p.grad.numpy(), pt.grad.numpy())


def test_binary_cross_entropy_errors():
    with pytest.raises(ValueError, match="Using a target size"):
        F.binary_cross_entropy(tg.rand(3), tg.rand(3, 1))
    with pytest.raises(RuntimeError, match="all elements of input should be between 0 and 1"):
        F.binary_cross_entropy(tg.rand(3) + 1, tg.rand(3))
    with pytest.raises(ValueError, match="must be the same as input size"):
        F.binary_cross_entropy_with_logits(tg.rand(3), tg.rand(3, 1))


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("pos_weight", [False, True])
@pytest.mark.parametrize("weighted", [False, True])
def test_bce_with_logits(weighted, pos_weight, reduction):
    x, y = X(4, 3, low=-30, high=30), X(4, 3, low=0, high=1)
    kwargs = {"reduction": reduction}
    if weighted:
        kwargs["weight"] = X(4, 3, low=0.2, high=2)
    if pos_weight:
        kwargs["pos_weight"] = X(3, low=0.5, high=3)
    check(F.binary_cross_entropy_with_logits, TF.binary_cross_entropy_with_logits, (x, y), kwargs)


def test_bce_with_logits_stable():
    x = tg.tensor([-1000.0, 1000.0], requires_grad=True)
    y = tg.tensor([1.0, 0.0])
    loss = F.binary_cross_entropy_with_logits(x, y, reduction="none")
    np.testing.assert_allclose(loss.detach().numpy(), [1000.0, 1000.0])
    loss.sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), [-1.0, 1.0])


# --------------------------------------------------------------------------------------- kl_div
@pytest.mark.parametrize("reduction", ["mean", "sum", "none", "batchmean"])
@pytest.mark.parametrize("log_target", [False, True])
def test_kl_div(reduction, log_target):
    x = np.log(rng.dirichlet(np.ones(5), size=4))
    t = rng.dirichlet(np.ones(5), size=4)
    if log_target:
        t = np.log(t + 0.01)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        check(F.kl_div, TF.kl_div, (x, t), {"reduction": reduction, "log_target": log_target})


def test_kl_div_zero_target_is_zero():
    x = tg.tensor(np.log([[0.5, 0.5]]), requires_grad=True)
    loss = F.kl_div(x, tg.tensor([[0.0, 1.0]]), reduction="sum")
    assert np.isclose(loss.item(), np.log(2.0))
    loss.backward()
    np.testing.assert_allclose(x.grad.numpy(), [[0.0, -1.0]])


def test_kl_div_mean_warns():
    x = tg.randn(2, 3)
    with pytest.warns(UserWarning, match="batchmean"):
        F.kl_div(x, x.exp())


# --------------------------------------------------------------------------------- loss modules
MODULES = [
    ("MSELoss", {}, "f"),
    ("L1Loss", {"reduction": "sum"}, "f"),
    ("SmoothL1Loss", {"beta": 0.5}, "f"),
    ("HuberLoss", {"delta": 0.5, "reduction": "none"}, "f"),
    ("CrossEntropyLoss", {"label_smoothing": 0.1, "ignore_index": 2}, "c"),
    ("NLLLoss", {"reduction": "sum"}, "c"),
    ("BCELoss", {}, "p"),
    ("BCEWithLogitsLoss", {}, "f"),
    ("KLDivLoss", {"reduction": "batchmean", "log_target": True}, "f"),
]


@pytest.mark.parametrize("name,kwargs,kind", MODULES)
def test_loss_modules_match_torch(name, kwargs, kind):
    x = X(4, 3, low=0.05, high=0.95) if kind == "p" else X(4, 3)
    y = rng.integers(0, 3, size=4) if kind == "c" else X(4, 3, low=0.0, high=1.0)
    ours = getattr(nn, name)(**kwargs)
    theirs = getattr(torch.nn, name)(**kwargs)
    check(ours, theirs, (x, y))
    assert repr(ours) == repr(theirs)


def test_loss_modules_with_weights():
    w = X(3, low=0.5, high=2)
    x, t = X(5, 3), rng.integers(0, 3, size=5)
    ours = nn.CrossEntropyLoss(weight=tg.tensor(w))
    theirs = torch.nn.CrossEntropyLoss(weight=torch.tensor(w))
    check(ours, theirs, (x, t))
    assert "weight" in dict(ours.named_buffers())
    pw = X(3, low=0.5, high=2)
    ours = nn.BCEWithLogitsLoss(pos_weight=tg.tensor(pw))
    theirs = torch.nn.BCEWithLogitsLoss(pos_weight=torch.tensor(pw))
    check(ours, theirs, (x, X(5, 3, low=0, high=1)))
    assert sorted(ours.state_dict()) == sorted(theirs.state_dict())


def test_loss_module_extra_repr():
    assert repr(nn.SmoothL1Loss(beta=0.5)) == repr(torch.nn.SmoothL1Loss(beta=0.5))
    assert repr(nn.MSELoss(reduction="sum")) == repr(torch.nn.MSELoss(reduction="sum"))
    with pytest.raises(ValueError, match="is not a valid value for reduction"):
        nn.MSELoss(reduction="avg")(tg.randn(2), tg.randn(2))
