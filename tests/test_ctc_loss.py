"""``F.ctc_loss``, ``torch.ctc_loss`` and ``nn.CTCLoss`` against PyTorch: values and gradients
for every reduction, padded and concatenated targets, unbatched input, ``zero_infinity`` with
impossible alignments, float32 and float64."""

from __future__ import annotations

import numpy as np
import pytest

import tracegrad as tg
import tracegrad.nn.functional as TF

from .tiers import slow, slow_after

torch = pytest.importorskip("torch")
F = torch.nn.functional

TOL = {"float32": dict(rtol=1e-5, atol=1e-5), "float64": dict(rtol=1e-10, atol=1e-12)}


def _draw(seed, t, n, c, s, blank=0):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((t, n, c)) if n else rng.standard_normal((t, c))
    labels = rng.integers(0, c - 1, size=(max(n, 1), s))
    labels = labels + (labels >= blank)  # never the blank
    return x, labels


def _both(x, dtype, fn_torch, fn_tg, *rest_torch_tg):
    """The loss and the gradient w.r.t. the log probabilities from both libraries; the log
    probabilities are a leaf, as PyTorch users pass them (its gradient convention shows there)."""
    lp = torch.tensor(x, dtype=getattr(torch, dtype)).log_softmax(-1).detach().requires_grad_()
    ours = tg.tensor(lp.detach().numpy(), requires_grad=True)
    ref = fn_torch(lp)
    got = fn_tg(ours)
    cot = np.random.default_rng(7).standard_normal(tuple(ref.shape))
    ref.backward(torch.tensor(cot, dtype=ref.dtype))
    got.backward(tg.tensor(cot.astype(dtype)))
    return ref, got, lp.grad, ours.grad


def _check(ref, got, gref, ggot, dtype):
    assert tuple(got.shape) == tuple(ref.shape)
    assert str(got.dtype).split(".")[-1] == dtype
    np.testing.assert_allclose(np.asarray(got.detach()), ref.detach().numpy(), **TOL[dtype])
    np.testing.assert_allclose(np.asarray(ggot), gref.numpy(), **TOL[dtype])


CASES = slow_after(
    [
        ("mean", "float64", False),
        ("none", "float32", True),
        ("sum", "float64", True),
        ("mean", "float32", False),
        ("none", "float64", False),
        ("sum", "float32", False),
    ],
    keep=2,
    multi=True,
)


@pytest.mark.parametrize("reduction,dtype,concatenated", CASES)
def test_batched_matches_pytorch(reduction, dtype, concatenated):
    t, n, c, s = 12, 4, 6, 5
    x, labels = _draw(1, t, n, c, s)
    il, tl = [12, 9, 11, 7], [5, 3, 0, 4]
    if concatenated:
        targets = np.concatenate([labels[i, : tl[i]] for i in range(n)])
    else:
        targets = labels

    def run(lib, fn):
        return lambda lp: fn(
            lp, lib.tensor(targets), lib.tensor(il), lib.tensor(tl), reduction=reduction
        )

    _check(*_both(x, dtype, run(torch, F.ctc_loss), run(tg, TF.ctc_loss)), dtype)


@pytest.mark.parametrize("blank", slow_after([2, 0], keep=0))
def test_tuples_blank_and_module(blank):
    x, labels = _draw(2, 8, 3, 4, 3, blank=blank)
    il, tl = (8, 8, 6), (3, 2, 2)
    ref, got, gref, ggot = _both(
        x,
        "float64",
        lambda lp: torch.nn.CTCLoss(blank=blank)(lp, torch.tensor(labels), il, tl),
        lambda lp: tg.nn.CTCLoss(blank=blank)(lp, tg.tensor(labels), il, tl),
    )
    _check(ref, got, gref, ggot, "float64")


@pytest.mark.parametrize("reduction", slow_after(["none", "mean", "sum"], keep=0))
def test_unbatched_matches_pytorch(reduction):
    x, labels = _draw(3, 7, 0, 5, 3)
    target = labels[0]

    def run(lib, fn):
        return lambda lp: fn(
            lp, lib.tensor(target), lib.tensor(6), lib.tensor(3), reduction=reduction
        )

    _check(*_both(x, "float64", run(torch, F.ctc_loss), run(tg, TF.ctc_loss)), "float64")


@pytest.mark.parametrize(
    "zero_infinity,reduction",
    slow_after([(True, "none"), (False, "none"), (True, "mean")], keep=2, multi=True),
)
def test_impossible_alignments(zero_infinity, reduction):
    # Sample 0 needs 4 steps for [1, 1, 2] (a blank between the repeats) but has 3; sample 1 needs
    # 3 steps for 3 labels and has 2; sample 2 is possible.
    x, _ = _draw(4, 5, 3, 4, 3)
    targets = np.array([[1, 1, 2], [1, 2, 3], [2, 3, 0]])
    il, tl = [3, 2, 5], [3, 3, 2]

    def run(lib, fn):
        return lambda lp: fn(
            lp,
            lib.tensor(targets),
            lib.tensor(il),
            lib.tensor(tl),
            reduction=reduction,
            zero_infinity=zero_infinity,
        )

    ref, got, gref, ggot = _both(x, "float64", run(torch, F.ctc_loss), run(tg, TF.ctc_loss))
    if not zero_infinity:  # infinite losses and NaN gradients, at the same places as PyTorch's
        assert np.isinf(np.asarray(got.detach())[:2]).all()
        assert np.isnan(np.asarray(ggot)[0, :2]).all()
    _check(ref, got, gref, ggot, "float64")


@slow
def test_torch_form_enum_reduction():
    x, labels = _draw(5, 6, 2, 4, 2)
    il, tl = [6, 5], [2, 1]
    for enum in (0, 1, 2):
        ref, got, gref, ggot = _both(
            x,
            "float64",
            lambda lp, enum=enum: torch.ctc_loss(lp, torch.tensor(labels), il, tl, 0, enum, False),
            lambda lp, enum=enum: tg.ctc_loss(lp, tg.tensor(labels), il, tl, 0, enum, False),
        )
        _check(ref, got, gref, ggot, "float64")


@slow
def test_through_log_softmax_matches_pytorch():
    """The usual use: logits -> log_softmax -> ctc_loss; the logits' gradient."""
    rng = np.random.default_rng(6)
    logits = rng.standard_normal((9, 2, 5))
    targets = np.array([[1, 2, 2], [3, 4, 1]])
    a = torch.tensor(logits, requires_grad=True)
    b = tg.tensor(logits, requires_grad=True)
    F.ctc_loss(a.log_softmax(2), torch.tensor(targets), (9, 8), (3, 2)).backward()
    TF.ctc_loss(b.log_softmax(2), tg.tensor(targets), (9, 8), (3, 2)).backward()
    np.testing.assert_allclose(np.asarray(b.grad), a.grad.numpy(), rtol=1e-10, atol=1e-12)


def _errors(lib, fn):
    lp = lib.randn(5, 2, 4).log_softmax(2)
    t = lib.tensor([[1, 2], [1, 1]])
    return [
        lambda: fn(lp, t, (6, 5), (2, 2)),
        lambda: fn(lp, t, (5, 5), (3, 2)),
        lambda: fn(lp, t, (5,), (2, 2)),
        lambda: fn(lp, t, (5, 5), (2, 2, 2)),
        lambda: fn(lp, lib.tensor([1, 2, 1]), (5, 5), (2, 2)),
        lambda: fn(lp, t, (5, 5), (-1, 2)),
        lambda: fn(lp, t, (5, 5), (2, 2), blank=4),
        lambda: fn(lp, t, (5, 5), (2, 2), reduction="avg"),
        lambda: fn(lib.ones(5, 2, 4, dtype=lib.int32), t, (5, 5), (2, 2)),
    ]


def test_errors_match_pytorch():
    for ours, theirs in zip(_errors(tg, TF.ctc_loss), _errors(torch, F.ctc_loss)):
        with pytest.raises(Exception) as want:
            theirs()
        with pytest.raises(type(want.value)) as got:
            ours()
        assert str(got.value) == str(want.value)
