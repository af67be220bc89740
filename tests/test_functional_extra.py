"""The nn functions added with the products (activations, shrinks, normalisations, alpha
dropout, losses, their modules and the torch.* forms with ATen's signatures) against PyTorch 2.13
(CPU): values and gradients, every reduction of every loss, errors, and the random functions'
statistics (their draws come from tracegrad's generator, so they cannot match value by value)."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest

import tracegrad as tg

from .tiers import slow_after

torch = pytest.importorskip("torch")

_rng = np.random.default_rng(11)


def R(*shape):
    return _rng.standard_normal(shape)


def _np(x):
    return x.detach().numpy() if isinstance(x, torch.Tensor) else np.asarray(x.detach())


class Const:
    """An operand that does not require grad (PyTorch refuses a gradient for some targets)."""

    def __init__(self, array):
        self.array = array


def _lib(T, arrays):
    return [
        T.tensor(a, requires_grad=a.dtype.kind == "f")
        if isinstance(a, np.ndarray)
        else T.tensor(a.array)
        if isinstance(a, Const)
        else a
        for a in arrays
    ]


def _parity(fn, arrays, rtol: float = 1e-7, atol: float = 1e-9):
    """``fn(T, F, *tensors)`` in both libraries: same values and gradients (float inputs)."""
    ours_in, theirs_in = _lib(tg, arrays), _lib(torch, arrays)
    ours = fn(tg, tg.nn.functional, *ours_in)
    theirs = fn(torch, torch.nn.functional, *theirs_in)
    assert tuple(ours.shape) == tuple(theirs.shape)
    assert str(ours.dtype).split(".")[-1] == str(theirs.dtype).split(".")[-1]
    np.testing.assert_allclose(_np(ours), _np(theirs), rtol=rtol, atol=atol)
    if not theirs.requires_grad:
        return
    cot = _rng.standard_normal(tuple(theirs.shape))
    ours.backward(tg.tensor(cot, dtype=ours.dtype))
    theirs.backward(torch.tensor(cot, dtype=theirs.dtype))
    for o, t in zip(ours_in, theirs_in):
        if isinstance(t, torch.Tensor) and t.requires_grad:
            assert (o.grad is None) == (t.grad is None)
            if t.grad is not None:
                np.testing.assert_allclose(_np(o.grad), _np(t.grad), rtol=rtol, atol=atol)


def _same_error(fn):
    errors = []
    for T in (tg, torch):
        with pytest.raises(Exception) as e:  # noqa: PT011 - the type is compared below
            fn(T, T.nn.functional)
        errors.append(e.value)
    assert type(errors[0]).__name__ == type(errors[1]).__name__, errors
    assert str(errors[0]) == str(errors[1]).replace("torch.Size", "tracegrad.Size")


# ------------------------------------------------------------------------------------ activations
WITH_SPECIALS = np.array([-1.0, -0.5, -0.2, 0.0, 0.3, 0.5, 0.7, 2.0, np.nan, -np.inf, np.inf])

ACTIVATIONS = [
    ("hardshrink", lambda T, F, x: F.hardshrink(x)),
    ("hardshrink_lambd", lambda T, F, x: T.hardshrink(x, 0.3)),
    ("hardshrink_method", lambda T, F, x: x.hardshrink(1.0)),
    ("softshrink", lambda T, F, x: F.softshrink(x, 0.4)),
    ("threshold", lambda T, F, x: F.threshold(x, 0.1, -3.0)),
    ("torch_threshold", lambda T, F, x: T.threshold(x, 0.5, 7.0)),
    ("softsign", lambda T, F, x: F.softsign(x)),
    ("tanhshrink", lambda T, F, x: F.tanhshrink(x)),
    ("rrelu_eval", lambda T, F, x: F.rrelu(x, 0.1, 0.3)),
    ("torch_rrelu_eval", lambda T, F, x: T.rrelu(x)),
]


@pytest.mark.parametrize("name,fn", slow_after(ACTIVATIONS, 4, multi=True))
def test_activations_match(name, fn):
    _parity(fn, [R(3, 5)])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        _parity(fn, [WITH_SPECIALS.copy()])


def test_softmin_glu_prelu_match():
    _parity(lambda T, F, x: F.softmin(x, 1), [R(3, 4)])
    _parity(lambda T, F, x: F.softmin(x, 0, dtype=T.float32), [R(3, 4)], rtol=1e-6)
    _parity(lambda T, F, x: F.glu(x), [R(3, 4)])
    _parity(lambda T, F, x: F.glu(x, 0), [R(4, 3)])
    for w in (R(1), R(3)):
        _parity(lambda T, F, x, w: F.prelu(x, w), [R(2, 3, 4), w])
        _parity(lambda T, F, x, w: T.prelu(x, w), [R(2, 3), w])
        _parity(lambda T, F, x, w: x.prelu(w), [R(2, 3), w])
    x0 = np.array([[-1.0, 0.0, 2.0]])
    _parity(lambda T, F, x, w: F.prelu(x, w), [x0, np.array([0.25])])


@pytest.mark.parametrize(
    "call",
    [
        lambda T, F: F.softshrink(T.ones(3), -0.5),
        lambda T, F: F.glu(T.ones(3, 5)),
        lambda T, F: F.glu(T.tensor(1.0)),
        lambda T, F: F.prelu(T.ones(2, 3), T.ones(4)),
        lambda T, F: F.channel_shuffle(T.ones(2, 6), 2),
        lambda T, F: F.channel_shuffle(T.ones(2, 6, 3), 4),
        lambda T, F: F.channel_shuffle(T.ones(2, 6, 3), 0),
        lambda T, F: F.rms_norm(T.ones(2, 3), [4]),
    ],
)
def test_activation_errors(call):
    _same_error(call)


def test_threshold_and_rrelu_in_place():
    for T in (tg, torch):
        x = T.tensor([-1.0, 0.5, 2.0])
        assert T.threshold_(x, 0.5, 9.0) is x
        assert x.tolist() == [9.0, 9.0, 2.0]
        y = T.tensor([-1.0, 0.5, 2.0])
        assert T.nn.functional.threshold(y, 1.0, 0.0, inplace=True) is y
        assert y.tolist() == [0.0, 0.0, 2.0]
        z = T.tensor([-1.0, 0.5])
        T.nn.functional.rrelu_(z, 0.25, 0.25)
        assert z.tolist() == [-0.25, 0.5]


def test_rrelu_training_slopes_are_uniform_and_the_gradient_is_the_slope():
    tg.manual_seed(0)
    x = tg.tensor(-np.ones(20000), requires_grad=True)
    y = tg.nn.functional.rrelu(x, 0.1, 0.3, training=True)
    slopes = -y.detach().numpy()
    assert slopes.min() >= 0.1 and slopes.max() <= 0.3
    assert abs(slopes.mean() - 0.2) < 0.005
    y.sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), slopes)
    pos = tg.tensor(np.ones(5))
    np.testing.assert_array_equal(tg.rrelu(pos, training=True).numpy(), np.ones(5))


def test_gumbel_softmax():
    tg.manual_seed(0)
    logits = tg.tensor(np.log(np.array([[0.1, 0.2, 0.7]] * 20000)), requires_grad=True)
    soft = tg.nn.functional.gumbel_softmax(logits, tau=0.5)
    np.testing.assert_allclose(soft.detach().numpy().sum(-1), 1.0, rtol=1e-12)
    hard = tg.nn.functional.gumbel_softmax(logits, hard=True)
    h = hard.detach().numpy()
    assert set(np.unique(h)) == {0.0, 1.0} and (h.sum(-1) == 1).all()
    # the argmax of logits + Gumbel noise is a draw from softmax(logits)
    np.testing.assert_allclose(h.mean(0), [0.1, 0.2, 0.7], atol=0.015)
    hard.sum().backward()  # the straight-through gradient: the soft sample's
    assert np.isfinite(logits.grad.numpy()).all()
    with pytest.warns(UserWarning, match="`eps` parameter is deprecated"):
        tg.nn.functional.gumbel_softmax(logits, eps=1e-5)


# --------------------------------------------------------------------------------- normalisation
def test_rms_norm_matches():
    _parity(lambda T, F, x, w: F.rms_norm(x, [4], w), [R(3, 4), R(4)])
    _parity(lambda T, F, x: T.rms_norm(x, (2, 4), eps=1e-3), [R(3, 2, 4)])
    _parity(lambda T, F, x: F.rms_norm(x, [4]), [R(3, 4).astype(np.float32)], rtol=1e-6)
    _same_error(lambda T, F: F.rms_norm(T.ones(2, 4), 4))
    for T in (tg, torch):
        m = T.nn.RMSNorm([4], eps=1e-4)
        assert tuple(m.weight.shape) == (4,)
    assert repr(tg.nn.RMSNorm(4)) == repr(torch.nn.RMSNorm(4))


def test_channel_shuffle_matches():
    x = np.arange(2 * 6 * 2, dtype=np.float64).reshape(2, 6, 2)
    _parity(lambda T, F, x: F.channel_shuffle(x, 3), [x])
    _parity(lambda T, F, x: T.channel_shuffle(x, 2), [R(1, 4, 2, 2)])
    _parity(lambda T, F, x: T.native_channel_shuffle(x, 2), [Const(R(1, 4, 3))])
    _parity(lambda T, F, x: T.nn.ChannelShuffle(2)(x), [R(2, 4, 3)])
    assert repr(tg.nn.ChannelShuffle(3)) == repr(torch.nn.ChannelShuffle(3))


@pytest.mark.parametrize("use_stats", [True, False])
def test_instance_norm_matches_with_running_stats(use_stats):
    x, w, b = R(2, 3, 5), R(3), R(3)
    stats = {}
    for T in (tg, torch):
        rm, rv = T.tensor(R(3) * 0 + 0.5), T.tensor(np.full(3, 2.0))
        F = T.nn.functional
        xt, wt, bt = (T.tensor(a, requires_grad=True) for a in (x, w, b))
        out = F.instance_norm(xt, rm, rv, wt, bt, use_input_stats=use_stats, momentum=0.3)
        out.backward(T.tensor(np.cos(np.arange(30.0)).reshape(2, 3, 5)))
        stats[T] = [_np(v) for v in (out, rm, rv, xt.grad, wt.grad, bt.grad)]
    for a, b_ in zip(stats[tg], stats[torch]):
        np.testing.assert_allclose(a, b_, rtol=1e-7, atol=1e-9)
    _parity(lambda T, F, x: F.instance_norm(x), [R(2, 3, 4, 4)])
    args = (R(3), R(3))
    _parity(
        lambda T, F, x, w, b: T.instance_norm(x, w, b, None, None, True, 0.1, 1e-5, False),
        [R(2, 3, 4), *args],
    )


@pytest.mark.parametrize("cls,shape", [("InstanceNorm1d", (2, 3, 5)), ("InstanceNorm2d", (3, 4, 4)),
                                       ("InstanceNorm3d", (2, 3, 2, 2, 2))])  # fmt: skip
def test_instance_norm_modules_match(cls, shape):
    x = R(*shape)
    for kw in ({}, {"affine": True, "track_running_stats": True}):
        mods = {T: getattr(T.nn, cls)(3, **kw, dtype=T.float64) for T in (tg, torch)}
        _parity(lambda T, F, x, m=mods: m[T](x), [x])
        if kw:
            np.testing.assert_allclose(
                _np(mods[tg].running_mean), _np(mods[torch].running_mean), rtol=1e-6
            )
            for T in (tg, torch):
                mods[T].eval()
            _parity(lambda T, F, x, m=mods: m[T](x), [x])
        assert repr(mods[tg]) == repr(mods[torch])
        assert sorted(mods[tg].state_dict()) == sorted(mods[torch].state_dict())


def test_instance_norm_errors():
    _same_error(lambda T, F: F.instance_norm(T.ones(2, 3, 1)))
    _same_error(lambda T, F: T.nn.InstanceNorm1d(3)(T.ones(2, 3, 4, 5)))
    _same_error(lambda T, F: T.nn.InstanceNorm1d(3, affine=True)(T.ones(2, 4, 5)))


# ------------------------------------------------------------------------------------ alpha dropout
@pytest.mark.parametrize("feature", [False, True])
def test_alpha_dropout_keeps_mean_and_variance(feature):
    tg.manual_seed(0)
    F = tg.nn.functional
    x = tg.tensor(R(400, 50, 10))
    fn = F.feature_alpha_dropout if feature else F.alpha_dropout
    y = fn(x, 0.3, training=True).numpy()
    assert abs(y.mean()) < 0.02 and abs(y.std() - 1) < 0.02
    b = -1.7580993408473766 * _a(0.3) * 0.7  # where a unit is dropped, y is b exactly
    dropped = np.abs(y - b) < 1e-12
    assert abs(dropped.mean() - 0.3) < 0.01
    if feature:  # one draw per channel
        assert (dropped == dropped[:, :, :1]).all()
    assert fn(x, 0.3) is x  # training is False by default
    np.testing.assert_array_equal(fn(x, 1.0, training=True).numpy(), 0.0)


def _a(p):
    alpha = 1.7580993408473766
    return 1.0 / math.sqrt((alpha * alpha * p + 1) * (1 - p))


def test_torch_dropout_forms():
    tg.manual_seed(0)
    x = tg.ones(200, 100)
    for name in ("dropout", "feature_dropout", "alpha_dropout", "feature_alpha_dropout"):
        assert getattr(tg, name)(x, 0.5, False) is x
        y = getattr(tg, name)(x, 0.5, True)
        assert tuple(y.shape) == (200, 100) and not np.array_equal(y.numpy(), x.numpy())
        z = tg.ones(4, 3)
        assert getattr(tg, name + "_")(z, 0.5, True) is z
    y = tg.feature_dropout(tg.ones(50, 40, 3), 0.5, True).numpy()
    assert (y == y[:, :, :1]).all() and set(np.unique(y)) == {0.0, 2.0}
    for T in (tg, torch):
        with pytest.raises(RuntimeError, match="Feature dropout requires at least 2 dimensions"):
            T.feature_dropout(T.ones(3), 0.5, True)
        with pytest.raises(ValueError, match="dropout probability has to be between 0 and 1"):
            T.nn.functional.alpha_dropout(T.ones(3), 1.5)


# ------------------------------------------------------------------------------------------ losses
REDUCTIONS = ["mean", "sum", "none"]
SIGNS = np.where(_rng.uniform(size=6) < 0.5, -1.0, 1.0)

LOSSES = {
    "hinge_embedding_loss": (lambda F, x, y, **k: F.hinge_embedding_loss(x, y, margin=0.8, **k),
                             lambda: [R(6), SIGNS.copy()]),
    "margin_ranking_loss": (lambda F, a, b, y, **k: F.margin_ranking_loss(a, b, y, 0.3, **k),
                            lambda: [R(6), R(6), SIGNS.copy()]),
    "cosine_embedding_loss": (lambda F, a, b, y, **k: F.cosine_embedding_loss(a, b, y, 0.1, **k),
                              lambda: [R(6, 4), R(6, 4), SIGNS.copy()]),
    "triplet_margin_loss": (lambda F, a, p, n, **k: F.triplet_margin_loss(a, p, n, **k),
                            lambda: [R(5, 4), R(5, 4), R(5, 4)]),
    "triplet_swap_l1": (lambda F, a, p, n, **k: F.triplet_margin_loss(a, p, n, 0.5, 1.0,
                                                                      swap=True, **k),
                        lambda: [R(5, 4), R(5, 4), R(5, 4)]),
    "poisson_nll_loss": (lambda F, x, y, **k: F.poisson_nll_loss(x, y, **k),
                         lambda: [R(6), _rng.poisson(2.0, 6).astype(float)]),
    "poisson_nll_loss_full_rate": (lambda F, x, y, **k: F.poisson_nll_loss(x, y, False, True,
                                                                           **k),
                                   lambda: [np.abs(R(6)) + 0.1,
                                            _rng.poisson(2.0, 6).astype(float)]),
    "gaussian_nll_loss": (lambda F, x, y, v, **k: F.gaussian_nll_loss(x, y, v, **k),
                          lambda: [R(4, 3), R(4, 3), np.abs(R(4, 3)) + 0.1]),
    "gaussian_nll_loss_full_homo": (lambda F, x, y, v, **k: F.gaussian_nll_loss(x, y, v, True,
                                                                               **k),
                                    lambda: [R(4, 3), R(4, 3), np.abs(R(4)) * 1e-7]),
    "soft_margin_loss": (lambda F, x, y, **k: F.soft_margin_loss(x, y, **k),
                         lambda: [R(6), Const(SIGNS.copy())]),
    "multilabel_soft_margin_loss": (lambda F, x, y, **k: F.multilabel_soft_margin_loss(x, y,
                                                                                       **k),
                                    lambda: [R(3, 4), (R(3, 4) > 0).astype(float)]),
    "multilabel_weighted": (lambda F, x, y, w, **k: F.multilabel_soft_margin_loss(x, y, w, **k),
                            lambda: [R(3, 4), (R(3, 4) > 0).astype(float), np.abs(R(4))]),
}  # fmt: skip
_LOSS_CASES = [(name, r) for name in LOSSES for r in REDUCTIONS]


@pytest.mark.parametrize("name,reduction", slow_after(_LOSS_CASES, 12, multi=True))
def test_losses_match_every_reduction(name, reduction):
    fn, draw = LOSSES[name]
    _parity(lambda T, F, *xs: fn(F, *xs, reduction=reduction), draw())


MODULES = [
    ("HingeEmbeddingLoss", {"margin": 0.5}, lambda: [R(6), SIGNS.copy()]),
    ("MarginRankingLoss", {"margin": 0.2}, lambda: [R(6), R(6), SIGNS.copy()]),
    ("CosineEmbeddingLoss", {"margin": 0.1}, lambda: [R(6, 4), R(6, 4), SIGNS.copy()]),
    ("TripletMarginLoss", {"margin": 2.0, "p": 3.0}, lambda: [R(5, 4), R(5, 4), R(5, 4)]),
    ("PoissonNLLLoss", {"full": True}, lambda: [R(6), _rng.poisson(3.0, 6).astype(float)]),
    ("GaussianNLLLoss", {"full": True}, lambda: [R(4, 3), R(4, 3), np.abs(R(4, 1)) + 0.1]),
    ("SoftMarginLoss", {}, lambda: [R(6), Const(SIGNS.copy())]),
    ("MultiLabelSoftMarginLoss", {}, lambda: [R(3, 4), (R(3, 4) > 0).astype(float)]),
]


@pytest.mark.parametrize("cls,kw,draw", slow_after(MODULES, 8, multi=True))
@pytest.mark.parametrize("reduction", ["mean", "none"])
def test_loss_modules_match(cls, kw, draw, reduction):
    mods = {T: getattr(T.nn, cls)(**kw, reduction=reduction) for T in (tg, torch)}
    _parity(lambda T, F, *xs: mods[T](*xs), draw())
    assert repr(mods[tg]) == repr(mods[torch])


@pytest.mark.parametrize("r", [0, 1, 2])
def test_torch_loss_forms_take_enum_reductions(r):
    x, y, s = R(6), R(6), SIGNS.copy()
    _parity(lambda T, F, a, t: T.hinge_embedding_loss(a, t, 1.0, r), [x, s])
    _parity(lambda T, F, a, b, t: T.margin_ranking_loss(a, b, t, 0.1, r), [x, y, s])
    _parity(lambda T, F, a, b, t: T.cosine_embedding_loss(a, b, t, 0.0, r),
            [R(6, 3), R(6, 3), s])  # fmt: skip
    _parity(lambda T, F, a, p, n: T.triplet_margin_loss(a, p, n, 1.0, 2, 1e-6, True, r),
            [R(4, 3), R(4, 3), R(4, 3)])  # fmt: skip
    _parity(lambda T, F, a, t: T.poisson_nll_loss(a, t, True, False, 1e-8, r),
            [x, np.abs(y)])  # fmt: skip
    _parity(lambda T, F, a, t: T.binary_cross_entropy_with_logits(a, t, None, None, r),
            [x, (y > 0).astype(float)])  # fmt: skip
    _parity(lambda T, F, a, t: T.kl_div(a, t, r), [x, np.abs(y)])
    _parity(lambda T, F, a, t: T.kl_div(a, t, r, log_target=True), [x, y])


@pytest.mark.parametrize(
    "call",
    [
        lambda T, F: F.margin_ranking_loss(T.ones(3), T.ones(3), T.ones(1, 3)),
        lambda T, F: F.cosine_embedding_loss(T.ones(3, 2), T.ones(3, 2), T.ones(3, 1)),
        lambda T, F: F.cosine_embedding_loss(T.ones(3), T.ones(3), T.ones(3)),
        lambda T, F: F.triplet_margin_loss(T.ones(3, 2), T.ones(3, 2), T.ones(3, 2), margin=0),
        lambda T, F: F.triplet_margin_loss(T.ones(3, 2), T.ones(3, 2), T.ones(2)),
        lambda T, F: F.gaussian_nll_loss(T.ones(3, 2), T.ones(3, 2), T.ones(4)),
        lambda T, F: F.gaussian_nll_loss(T.ones(3, 2), T.ones(3, 2), -T.ones(3, 2)),
        lambda T, F: F.gaussian_nll_loss(T.ones(3, 2), T.ones(3, 2), T.ones(3, 2), reduction="x"),
        lambda T, F: F.poisson_nll_loss(T.ones(3), T.ones(3), reduction="x"),
        lambda T, F: T.nn.TripletMarginLoss(margin=-1.0),
    ],
)
def test_loss_errors(call):
    _same_error(call)


# --------------------------------------------------------------------------------- torch.* forms
def test_torch_forms_of_norms_embedding_bilinear_match():
    x, w, b = R(4, 3, 5), R(3), R(3)
    rm, rv = np.zeros(3), np.ones(3)
    _parity(lambda T, F, x, w, b: T.batch_norm(x, w, b, None, None, True, 0.1, 1e-5, False),
            [x, w, b])  # fmt: skip
    _parity(lambda T, F, x, m, v: T.batch_norm(x, None, None, m, v, False, 0.1, 1e-3, True),
            [x, Const(rm), Const(rv)])  # fmt: skip
    _parity(lambda T, F, x, w, b: T.layer_norm(x, [5], None, None, 1e-3), [x, w, b])
    _parity(lambda T, F, x, w, b: T.group_norm(x, 3, w, b), [x, w, b])
    idx = np.array([[0, 2], [1, 2]])
    _parity(lambda T, F, w, i: T.embedding(w, i), [R(4, 3), idx])
    _parity(lambda T, F, w, i: T.embedding(w, i, 2), [R(4, 3), idx])
    _parity(lambda T, F, a, b, w, c: T.bilinear(a, b, w, c), [R(2, 3), R(2, 4), R(5, 3, 4), R(5)])


def test_max_pool1d_with_indices():
    x = R(2, 3, 8)
    for T in (tg, torch):
        v, i = T.nn.functional.max_pool1d_with_indices(T.tensor(x), 2)
        v2, i2 = T.max_pool1d_with_indices(T.tensor(x), 3, 2, 1)
        if T is tg:
            ours = [_np(a) for a in (v, i, v2, i2)]
        else:
            for a, b in zip(ours, (v, i, v2, i2)):
                np.testing.assert_array_equal(a, _np(b))
