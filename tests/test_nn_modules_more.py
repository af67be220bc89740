"""The padding, upsampling, fold, local-response-norm, alpha-dropout, ``Softmax2d`` and margin-loss
layers of ``tracegrad.nn`` and their functional forms: against PyTorch's modules on the same input
(forward, input gradients, ``repr``, errors and messages), and without PyTorch against ``jax.vjp`` of
``jax.numpy`` reimplementations and exact values from the math."""

from __future__ import annotations

import warnings

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import tracegrad as tg
import tracegrad.nn as nn
import tracegrad.nn.functional as F

from .tiers import slow, slow_after

rng = np.random.default_rng(7)


def _torch():
    return pytest.importorskip("torch")


def X(*shape):
    return rng.uniform(-2, 2, size=shape)


# ----------------------------------------------------------------------- parity with PyTorch
# (constructor, input shape): each layer, built the same way in both libraries, on one input.
LAYERS = [
    ("ReflectionPad2d((1, 2, 2, 0))", (2, 3, 4, 5)),
    ("ReplicationPad1d(2)", (2, 3, 4)),
    ("ZeroPad2d((1, -1, 2, 0))", (2, 3, 4, 5)),
    ("ConstantPad1d((2, 1), 3.5)", (3, 4)),
    ("CircularPad2d(1)", (2, 3, 4, 5)),
    ("Upsample(scale_factor=2, mode='bilinear')", (2, 3, 4, 5)),
    ("UpsamplingBilinear2d(size=(5, 7))", (2, 3, 3, 4)),
    ("UpsamplingNearest2d(scale_factor=(2, 3))", (1, 2, 3, 4)),
    ("Fold((4, 5), (2, 3), padding=1, stride=(1, 2))", (2, 18, 15)),
    ("Unfold((2, 3), dilation=(2, 1), padding=1, stride=2)", (2, 3, 5, 6)),
    ("LocalResponseNorm(3, alpha=0.1, beta=0.6, k=1.5)", (2, 5, 3, 4)),
    ("Softmax2d()", (2, 3, 4, 5)),
    ("AlphaDropout(0.3)", (2, 3, 4)),  # eval mode: the identity
    ("FeatureAlphaDropout(0.3)", (2, 3, 4)),
    # the rest of the grid: slow tier
    ("ReflectionPad1d((3, 1))", (2, 4, 5)),
    ("ReflectionPad3d(1)", (1, 2, 3, 4, 3)),
    ("ReplicationPad2d((0, 2, 1, 3))", (3, 4, 5)),
    ("ReplicationPad3d((1, 0, 2, 1, 0, 1))", (1, 2, 3, 4, 3)),
    ("ZeroPad1d(2)", (2, 3, 4)),
    ("ZeroPad3d((1, 1, 0, 2, 1, 0))", (1, 2, 3, 4, 3)),
    ("ConstantPad2d(2, -1.0)", (2, 3, 4, 5)),
    ("ConstantPad3d((1, 0, 0, 1, -1, 1), 0.5)", (2, 2, 3, 4, 3)),
    ("CircularPad1d((2, -1))", (2, 3, 4)),
    ("CircularPad3d((1, 2, 0, 1, 1, 0))", (1, 2, 3, 4, 3)),
    ("Upsample(size=7, mode='linear', align_corners=True)", (2, 3, 4)),
    ("Upsample(scale_factor=(1.5, 2, 2), mode='trilinear')", (1, 2, 3, 4, 3)),
    ("Upsample(size=(3, 7), mode='nearest-exact')", (2, 2, 4, 5)),
    ("Upsample(scale_factor=0.5, mode='area')", (2, 2, 6, 4)),
    ("UpsamplingBilinear2d(scale_factor=2)", (1, 2, 3, 3)),
    ("UpsamplingNearest2d(size=5)", (1, 2, 3, 3)),
    ("Fold(5, 2)", (12, 16)),
    ("Unfold(2)", (3, 4, 5)),
    ("LocalResponseNorm(2)", (2, 4, 5)),
    ("LocalResponseNorm(4, k=2.0)", (2, 6, 2, 3, 2)),
    ("Softmax2d()", (3, 4, 5)),
]


def _parity(ctor: str, shape, dtype: str, rtol: float, atol: float, train: bool = False):
    torch = _torch()
    ours, theirs = eval("nn." + ctor), eval("torch.nn." + ctor)
    assert repr(ours) == repr(theirs)
    ours.train(train)
    theirs.train(train)
    x = X(*shape).astype(dtype)
    a = tg.tensor(x, requires_grad=True)
    b = torch.tensor(x, requires_grad=True)
    out, ref = ours(a), theirs(b)
    assert tuple(out.shape) == tuple(ref.shape)
    assert out.dtype.name == str(ref.dtype).replace("torch.", "")
    np.testing.assert_allclose(out.detach().numpy(), ref.detach().numpy(), rtol=rtol, atol=atol)
    g = rng.uniform(0.5, 1.5, size=tuple(ref.shape)).astype(dtype)
    out.backward(tg.tensor(g))
    ref.backward(torch.tensor(g))
    np.testing.assert_allclose(a.grad.numpy(), b.grad.numpy(), rtol=rtol, atol=atol)


@pytest.mark.parametrize("ctor,shape", slow_after(LAYERS, 14, multi=True), ids=str)
def test_layer_matches_torch_float64(ctor, shape):
    _parity(ctor, shape, "float64", 1e-10, 1e-12)


@pytest.mark.parametrize(
    "ctor,shape", slow_after([LAYERS[0], LAYERS[5], LAYERS[10], *LAYERS[8:10]], 3, multi=True)
)
def test_layer_matches_torch_float32(ctor, shape):
    _parity(ctor, shape, "float32", 1e-5, 1e-6)


LOSSES = [
    ("MultiMarginLoss()", "mm", (5, 6)),
    ("MultiMarginLoss(p=2, margin=0.7, reduction='sum')", "mm", (5, 6)),
    ("MultiLabelMarginLoss()", "ml", (5, 6)),
    ("TripletMarginWithDistanceLoss()", "tr", (4, 5)),
    # slow tier
    ("MultiMarginLoss(margin=1.5, weight=torch.tensor(W), reduction='none')", "mm", (5, 6)),
    ("MultiMarginLoss(p=2, weight=torch.tensor(W))", "mm", (5, 6)),
    ("MultiMarginLoss(reduction='none')", "mm1", (6,)),
    ("MultiLabelMarginLoss(reduction='none')", "ml", (5, 6)),
    ("MultiLabelMarginLoss(reduction='sum')", "ml1", (6,)),
    ("TripletMarginWithDistanceLoss(swap=True, margin=2.0, reduction='none')", "tr", (4, 5)),
    ("TripletMarginWithDistanceLoss(distance_function=COS, reduction='sum')", "tr", (4, 5)),
    ("TripletMarginWithDistanceLoss(distance_function=nn.PairwiseDistance(p=1))", "tr", (4, 5)),
]
W = np.array([0.5, 1.0, 2.0, 0.3, 1.5, 0.8])
# Class lists ended by -1; a class listed twice counts twice, as in PyTorch's kernel.
LABELS = np.array(
    [
        [3, 0, -1, 1, 2, 2],
        [1, 2, 3, 0, 5, 4],
        [-1, 0, 0, 0, 0, 0],
        [5, 5, -1, 2, 2, 2],
        [4, 1, -1, 0, 0, 0],
    ]
)


def _loss_inputs(kind: str, shape, dtype: str):
    x = X(*shape).astype(dtype)
    if kind == "mm":
        return [x], rng.integers(0, shape[-1], size=shape[0])
    if kind == "mm1":
        return [x], np.array([2])
    if kind == "ml":
        return [x], LABELS
    if kind == "ml1":
        return [x], LABELS[0]
    return [x, X(*shape).astype(dtype), X(*shape).astype(dtype)], None


@pytest.mark.parametrize("ctor,kind,shape", slow_after(LOSSES, 4, multi=True), ids=str)
@pytest.mark.parametrize("dtype", slow_after(["float64", "float32"]))
def test_loss_matches_torch(ctor, kind, shape, dtype):
    torch = _torch()
    tol = (1e-10, 1e-12) if dtype == "float64" else (1e-5, 1e-6)
    w_t = dict(W=W.astype(dtype), nn=torch.nn, COS=lambda a, b: 1 - torch.cosine_similarity(a, b))
    w_g = dict(W=W.astype(dtype), nn=nn, COS=lambda a, b: 1 - F.cosine_similarity(a, b))
    theirs = eval("torch.nn." + ctor, {"torch": torch}, w_t)
    ours = eval("nn." + ctor, {"nn": nn, "torch": tg}, w_g)
    assert repr(ours) == repr(theirs)
    arrays, target = _loss_inputs(kind, shape, dtype)
    a = [tg.tensor(v, requires_grad=True) for v in arrays]
    b = [torch.tensor(v, requires_grad=True) for v in arrays]
    if target is not None:
        a.append(tg.tensor(target))
        b.append(torch.tensor(target))
    out, ref = ours(*a), theirs(*b)
    assert tuple(out.shape) == tuple(ref.shape)
    np.testing.assert_allclose(out.detach().numpy(), ref.detach().numpy(), rtol=tol[0], atol=tol[1])
    g = rng.uniform(0.5, 1.5, size=tuple(ref.shape)).astype(dtype)
    out.backward(tg.tensor(g))
    ref.backward(torch.tensor(g))
    for u, v in zip(a[: len(arrays)], b):
        np.testing.assert_allclose(u.grad.numpy(), v.grad.numpy(), rtol=tol[0], atol=tol[1])


def test_margin_losses_at_the_margin_match_torch():
    """Integer-valued inputs put hinge terms exactly at 0: no gradient there, as PyTorch."""
    torch = _torch()
    x = rng.integers(-2, 3, size=(5, 6)).astype(float)
    t = rng.integers(0, 6, size=5)
    for ours, theirs, target in (
        (F.multi_margin_loss, torch.nn.functional.multi_margin_loss, t),
        (F.multilabel_margin_loss, torch.nn.functional.multilabel_margin_loss, LABELS),
    ):
        a = tg.tensor(x, requires_grad=True)
        b = torch.tensor(x, requires_grad=True)
        out, ref = ours(a, tg.tensor(target)), theirs(b, torch.tensor(target))
        out.backward()
        ref.backward()
        np.testing.assert_allclose(out.item(), ref.item(), rtol=1e-12)
        np.testing.assert_allclose(a.grad.numpy(), b.grad.numpy(), atol=1e-12)


def test_margin_loss_shapes_match_torch():
    torch = _torch()
    tF = torch.nn.functional
    x = X(3, 4)
    cases = [
        ("multi_margin_loss", x[:1], np.array(1), "none"),
        ("multi_margin_loss", x[0], np.array(2), "none"),
        ("multi_margin_loss", np.array(0.5), np.array(0), "none"),
        ("multi_margin_loss", np.zeros((0, 4)), np.zeros(0, np.int64), "none"),
        ("multi_margin_loss", np.zeros((0, 4)), np.zeros(0, np.int64), "sum"),
        ("multilabel_margin_loss", x[:1], LABELS[:1, :4] % 4, "none"),
        ("multilabel_margin_loss", x[0], np.array([1, -1, 0, 0]), "none"),
        ("multilabel_margin_loss", np.array(0.5), np.array(0), "none"),
        ("multilabel_margin_loss", np.zeros((0, 4)), np.zeros((0, 4), np.int64), "none"),
    ]
    for name, inp, target, red in cases:
        out = getattr(F, name)(tg.tensor(inp), tg.tensor(target), reduction=red)
        ref = getattr(tF, name)(torch.tensor(inp), torch.tensor(target), reduction=red)
        assert tuple(out.shape) == tuple(ref.shape), (name, inp.shape, target.shape, red)
        if inp.size:  # PyTorch's reduction of an empty batch reads uninitialised memory
            np.testing.assert_allclose(out.numpy(), ref.numpy(), rtol=1e-12)


def test_deprecated_upsample_functions_match_torch():
    torch = _torch()
    x = X(1, 2, 3, 4)
    for name, kw in (
        ("upsample", {"scale_factor": 2, "mode": "bilinear"}),
        ("upsample_nearest", {"size": (5, 6)}),
        ("upsample_bilinear", {"scale_factor": 2}),
    ):
        with pytest.warns(UserWarning, match=f"nn.functional.{name}` is deprecated"):
            out = getattr(F, name)(tg.tensor(x), **kw)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            ref = getattr(torch.nn.functional, name)(torch.tensor(x), **kw)
        np.testing.assert_allclose(out.numpy(), ref.numpy(), rtol=1e-12)


# ---------------------------------------------------------------------------------- errors
def _raises_like_torch(ours, theirs):
    with pytest.raises(Exception) as want:
        theirs()
    with pytest.raises(want.type) as got:
        ours()
    assert str(got.value) == str(want.value)


ERRORS = [
    "nn.MultiMarginLoss(p=3)",
    "nn.MultiMarginLoss(weight=lib.ones(2, 3))",
    "nn.TripletMarginWithDistanceLoss(margin=0)",
    "nn.AlphaDropout(1.5)",
    "nn.FeatureAlphaDropout(-0.1)",
    "nn.Softmax2d()(lib.ones(3, 4))",
    "nn.CircularPad1d(1)(lib.ones(2, 3, 4, 5))",
    "nn.CircularPad2d(1)(lib.ones(3, 4))",
    "nn.CircularPad3d(1)(lib.ones(3, 4, 5))",
    "nn.ReflectionPad1d(4)(lib.ones(2, 3, 4))",
    "nn.Unfold(3)(lib.ones(2, 3, 2, 2))",
    "nn.Fold(3, 2)(lib.ones(2, 7, 4))",
    "nn.LocalResponseNorm(2)(lib.ones(3, 4))",
    "nn.Upsample()(lib.ones(1, 2, 3))",
    "nn.Upsample(size=4, scale_factor=2)(lib.ones(1, 2, 3))",
    "F.multi_margin_loss(lib.ones(3, 4), lib.tensor([0, 4, 1]))",
    "F.multi_margin_loss(lib.ones(3, 4), lib.tensor([0, 1]))",
    "F.multi_margin_loss(lib.ones(3, 4), lib.tensor([0, 1, 2]).int())",
    "F.multi_margin_loss(lib.ones(3, 4).int(), lib.tensor([0, 1, 2]))",
    "F.multi_margin_loss(lib.ones(3, 4), lib.tensor([0, 1, 2]), weight=lib.ones(3))",
    "F.multi_margin_loss(lib.ones(3, 4), lib.tensor([0, 1, 2]), weight=lib.ones(4).double())",
    "F.multi_margin_loss(lib.ones(3, 4), lib.tensor([0, 1, 2]), reduction='avg')",
    "F.multi_margin_loss(lib.ones(2, 3, 4), lib.tensor([0, 1]))",
    "F.multi_margin_loss(lib.ones(3, 0), lib.tensor([0, 1, 2]))",
    "F.multi_margin_loss(lib.ones(3, 4), lib.tensor([0, 1, 2]), "
    "weight=lib.ones(4, requires_grad=True))",
    "F.multilabel_margin_loss(lib.ones(3, 4), lib.ones(3, 3).long())",
    "F.multilabel_margin_loss(lib.ones(3, 4), lib.ones(3, 4))",
    "F.multilabel_margin_loss(lib.ones(3, 4), lib.full((3, 4), -2))",
    "F.multilabel_margin_loss(lib.ones(3, 4), lib.full((3, 4), 4))",
    "F.multilabel_margin_loss(lib.ones(4), lib.ones(1, 4).long())",
    "F.triplet_margin_with_distance_loss(lib.ones(2, 3), lib.ones(2, 3), lib.ones(3))",
    "F.triplet_margin_with_distance_loss(lib.ones(3), lib.ones(3), lib.ones(3), margin=-1)",
    "F.triplet_margin_with_distance_loss(lib.ones(3), lib.ones(3), lib.ones(3), reduction='x')",
]


@pytest.mark.parametrize("expr", slow_after(ERRORS, 12))
def test_errors_match_torch(expr):
    torch = _torch()
    _raises_like_torch(
        lambda: eval(expr, {"nn": nn, "F": F, "lib": tg}),
        lambda: eval(expr, {"nn": torch.nn, "F": torch.nn.functional, "lib": torch}),
    )


def test_errors_without_torch():
    with pytest.raises(ValueError, match="only p == 1 and p == 2 supported"):
        nn.MultiMarginLoss(p=3)
    with pytest.raises(ValueError, match="expected weight to be None or 1D tensor, got 2D"):
        nn.MultiMarginLoss(weight=tg.ones(2, 3))
    with pytest.raises(ValueError, match="expected margin to be greater than 0, got 0 instead"):
        nn.TripletMarginWithDistanceLoss(margin=0)
    with pytest.raises(ValueError, match="expected input to be 3D or 4D, got 2D instead"):
        nn.Softmax2d()(tg.ones(3, 4))
    with pytest.raises(ValueError, match=r"expected 3D or 4D input \(got 2D input\)"):
        nn.CircularPad2d(1)(tg.ones(3, 4))
    with pytest.raises(RuntimeError, match="target out of range"):
        F.multi_margin_loss(tg.ones(2, 3), tg.tensor([0, 3]))
    with pytest.raises(RuntimeError, match="argument #2 'target' is out of range"):
        F.multilabel_margin_loss(tg.ones(3), tg.tensor([0, -2, 1]))
    with pytest.raises(TypeError, match="argument 'size' must be int"):
        F.local_response_norm(tg.ones(2, 3, 4), 1.5)


# ----------------------------------------------------------------------- repr and state
def test_repr_and_stored_options():
    assert repr(nn.ReflectionPad2d(1)) == "ReflectionPad2d((1, 1, 1, 1))"
    assert repr(nn.ZeroPad3d((1, 2, 3, 4, 5, 6))) == "ZeroPad3d((1, 2, 3, 4, 5, 6))"
    assert repr(nn.ConstantPad1d([1, 2], 0.5)) == "ConstantPad1d(padding=(1, 2), value=0.5)"
    assert repr(nn.CircularPad3d(2)) == "CircularPad3d((2, 2, 2, 2, 2, 2))"
    assert repr(nn.Upsample(scale_factor=2)) == "Upsample(scale_factor=2.0, mode='nearest')"
    assert repr(nn.UpsamplingBilinear2d(size=3)) == "UpsamplingBilinear2d(size=3, mode='bilinear')"
    assert nn.UpsamplingBilinear2d(size=3).align_corners is True
    assert nn.Upsample(scale_factor=(2, 3)).scale_factor == (2.0, 3.0)
    assert repr(nn.Fold(4, 2)) == (
        "Fold(output_size=4, kernel_size=2, dilation=1, padding=0, stride=1)"
    )
    assert repr(nn.Unfold(3, padding=1)) == "Unfold(kernel_size=3, dilation=1, padding=1, stride=1)"
    assert repr(nn.LocalResponseNorm(3)) == "LocalResponseNorm(3, alpha=0.0001, beta=0.75, k=1.0)"
    assert repr(nn.AlphaDropout(0.2, True)) == "AlphaDropout(p=0.2, inplace=True)"
    assert repr(nn.MultiMarginLoss(p=2)) == "MultiMarginLoss()"
    loss = nn.TripletMarginWithDistanceLoss()
    assert (
        repr(loss) == "TripletMarginWithDistanceLoss(\n  (distance_function): PairwiseDistance()\n)"
    )
    assert list(nn.MultiMarginLoss(weight=tg.ones(3)).state_dict()) == ["weight"]
    assert nn.MultiLabelMarginLoss(size_average=False).reduction == "sum"


# ------------------------------------------------------------------- oracles without PyTorch
def _vjp_oracle(ours, ref, *arrays, rtol=1e-10, atol=1e-12):
    """``ours`` (tracegrad) against ``jax.vjp`` of ``ref`` (jax.numpy): value and every input's
    gradient for a random cotangent."""
    ts = [tg.tensor(a, requires_grad=True) for a in arrays]
    out = ours(*ts)
    want, vjp = jax.vjp(ref, *[jnp.asarray(a) for a in arrays])
    np.testing.assert_allclose(out.detach().numpy(), np.asarray(want), rtol=rtol, atol=atol)
    g = rng.uniform(0.5, 1.5, size=tuple(out.shape))
    out.backward(tg.tensor(g))
    for t, w in zip(ts, vjp(jnp.asarray(g))):
        np.testing.assert_allclose(t.grad.numpy(), np.asarray(w), rtol=rtol, atol=atol)


@pytest.mark.parametrize(
    "layer,mode,pad",
    [
        (nn.ReflectionPad2d((1, 2, 2, 0)), "reflect", ((0, 0), (0, 0), (2, 0), (1, 2))),
        (nn.ReplicationPad1d((2, 3)), "edge", ((0, 0), (0, 0), (2, 3))),
        (nn.CircularPad2d((1, 0, 2, 1)), "wrap", ((0, 0), (0, 0), (2, 1), (1, 0))),
        (nn.ZeroPad2d(1), "constant", ((0, 0), (0, 0), (1, 1), (1, 1))),
        (nn.ReflectionPad3d(1), "reflect", ((0, 0), (0, 0), (1, 1), (1, 1), (1, 1))),
    ],
    ids=lambda v: type(v).__name__ if isinstance(v, nn.Module) else None,
)
def test_padding_layers_against_jnp_pad(layer, mode, pad):
    shape = (2, 2, 3, 4, 3)[: len(pad)]
    _vjp_oracle(layer, lambda x: jnp.pad(x, pad, mode=mode), X(*shape))


def test_padding_layers_exact_values():
    x = tg.arange(4.0).reshape(1, 1, 4)
    assert nn.ReflectionPad1d(2)(x).tolist() == [[[2, 1, 0, 1, 2, 3, 2, 1]]]
    assert nn.ReplicationPad1d((1, 2))(x).tolist() == [[[0, 0, 1, 2, 3, 3, 3]]]
    assert nn.CircularPad1d((2, 1))(x).tolist() == [[[2, 3, 0, 1, 2, 3, 0]]]
    assert nn.ConstantPad1d((1, -2), 9.0)(x).tolist() == [[[9, 0, 1]]]
    assert nn.ZeroPad1d(1)(x).tolist() == [[[0, 0, 1, 2, 3, 0]]]


def _align_corners_matrix(n: int, o: int) -> np.ndarray:
    """Linear interpolation with corners on corners: output i samples input i (n-1)/(o-1)."""
    m = np.zeros((o, n))
    for i in range(o):
        s = i * (n - 1) / (o - 1) if o > 1 else 0.0
        j = min(int(np.floor(s)), n - 2) if n > 1 else 0
        f = s - j
        m[i, j] += 1 - f
        if n > 1:
            m[i, j + 1] += f
    return m


def test_upsampling_bilinear_is_align_corners_linear_map():
    x = X(2, 3, 3, 4)
    a, b = _align_corners_matrix(3, 5), _align_corners_matrix(4, 7)
    _vjp_oracle(
        nn.UpsamplingBilinear2d(size=(5, 7)), lambda v: jnp.einsum("ph,nchw,qw->ncpq", a, v, b), x
    )
    corners = nn.UpsamplingBilinear2d(scale_factor=2)(
        tg.tensor([[[[0.0, 1], [2, 3]]]], dtype=tg.float64)
    )
    want = [[0.0, 1 / 3, 2 / 3, 1.0], [2 / 3, 1.0, 4 / 3, 5 / 3], [4 / 3, 5 / 3, 2.0, 7 / 3]]
    np.testing.assert_allclose(corners.numpy()[0, 0, :3], want, rtol=1e-15)


def test_upsampling_nearest_repeats():
    x = X(1, 2, 2, 3)
    _vjp_oracle(
        nn.UpsamplingNearest2d(scale_factor=2), lambda v: v.repeat(2, axis=2).repeat(2, axis=3), x
    )
    _vjp_oracle(nn.Upsample(scale_factor=3), lambda v: v.repeat(3, axis=-1), X(2, 2, 3))


def test_fold_is_the_adjoint_of_unfold():
    unfold, fold = nn.Unfold((2, 3), dilation=(1, 2), padding=1, stride=(2, 1)), None
    x = X(2, 3, 5, 6)
    cols = unfold(tg.tensor(x))
    fold = nn.Fold((5, 6), (2, 3), dilation=(1, 2), padding=1, stride=(2, 1))
    y = X(*cols.shape)
    lhs = float((cols * tg.tensor(y)).sum())
    rhs = float((tg.tensor(x) * fold(tg.tensor(y))).sum())
    np.testing.assert_allclose(lhs, rhs, rtol=1e-12)
    # Non-overlapping blocks: fold(unfold(x)) is x, and unfold's gradient is fold.
    x = X(1, 2, 4, 6)
    z = tg.tensor(x, requires_grad=True)
    cols = nn.Unfold(2, stride=2)(z)
    np.testing.assert_allclose(nn.Fold((4, 6), 2, stride=2)(cols).detach().numpy(), x)
    g = X(*cols.shape)
    cols.backward(tg.tensor(g))
    np.testing.assert_allclose(z.grad.numpy(), nn.Fold((4, 6), 2, stride=2)(tg.tensor(g)).numpy())


def _lrn_ref(size, alpha, beta, k):
    def ref(x):
        c = x.shape[1]
        sq = jnp.pad(x * x, [(0, 0), (size // 2, (size - 1) // 2)] + [(0, 0)] * (x.ndim - 2))
        div = sum(sq[:, i : i + c] for i in range(size)) / size
        return x / (k + alpha * div) ** beta

    return ref


@pytest.mark.parametrize(
    "shape,size", slow_after([((2, 5, 4), 3), ((2, 6, 3, 2), 2), ((1, 4, 2, 2, 3), 5)], multi=True)
)
def test_local_response_norm_against_jnp(shape, size):
    _vjp_oracle(nn.LocalResponseNorm(size, 0.2, 0.6, 1.5), _lrn_ref(size, 0.2, 0.6, 1.5), X(*shape))
    empty = tg.ones(0, 3, 4)
    assert F.local_response_norm(empty, 2) is empty


def test_softmax2d_against_jnp():
    _vjp_oracle(nn.Softmax2d(), lambda v: jax.nn.softmax(v, axis=-3), X(2, 3, 4, 2))


def _mm_ref(t, p, margin, w):
    def ref(x):
        x2 = x.reshape(len(t), -1)
        c = x2.shape[1]
        z = margin - x2[np.arange(len(t)), t][:, None] + x2
        h = jnp.where((z > 0) & (np.arange(c) != t[:, None]), z, 0.0) ** p
        if w is not None:
            h = h * w[t][:, None]
        return h.sum(1) / c

    return ref


@pytest.mark.parametrize("p,margin,weighted", [(1, 1.0, False), (2, 0.7, True), (1, 1.5, True)])
def test_multi_margin_loss_against_jnp(p, margin, weighted):
    t = rng.integers(0, 5, size=4)
    w = rng.uniform(0.5, 2, size=5) if weighted else None
    wt = tg.tensor(w) if weighted else None
    _vjp_oracle(
        lambda x: F.multi_margin_loss(x, tg.tensor(t), p, margin, wt, reduction="none"),
        _mm_ref(t, p, margin, w),
        X(4, 5),
    )
    _vjp_oracle(
        lambda x: F.multi_margin_loss(x, tg.tensor(t), p, margin, wt),
        lambda x: _mm_ref(t, p, margin, w)(x).mean(),
        X(4, 5),
    )


def test_multi_margin_loss_exact_values():
    x = tg.tensor([[0.0, 1.0, 0.0, 2.0]], requires_grad=True)
    loss = F.multi_margin_loss(x, tg.tensor([0]))  # (2 + 1 + 3) / 4
    loss.backward()
    assert loss.item() == 1.5
    assert x.grad.tolist() == [[-0.75, 0.25, 0.25, 0.25]]
    x.grad = None
    loss = F.multi_margin_loss(x, tg.tensor([1]))  # terms 0, (0), 2: the hinge at 0 is flat
    loss.backward()
    assert loss.item() == 0.5
    assert x.grad.tolist() == [[0.0, -0.25, 0.0, 0.25]]


def _ml_ref(target):
    def ref(x):
        out = []
        for row, t in zip(x.reshape(len(target), -1), target.reshape(len(target), -1)):
            listed = []
            for j in t:
                if j < 0:
                    break
                listed.append(int(j))
            total = 0.0
            for j in listed:
                for i in range(row.shape[0]):
                    if i not in listed:
                        total = total + jnp.maximum(1 - row[j] + row[i], 0.0)
            out.append(total / row.shape[0])
        return jnp.stack([jnp.asarray(v, x.dtype) for v in out])

    return ref


def test_multilabel_margin_loss_against_jnp():
    _vjp_oracle(
        lambda x: F.multilabel_margin_loss(x, tg.tensor(LABELS), reduction="none"),
        _ml_ref(LABELS),
        X(5, 6),
    )
    _vjp_oracle(
        lambda x: F.multilabel_margin_loss(x, tg.tensor(LABELS[1])),
        lambda x: _ml_ref(LABELS[1:2])(x)[0],
        X(6),
    )


def test_triplet_margin_with_distance_loss_against_jnp():
    def l1(u, v):
        return (u - v).abs().sum(-1)

    def ref(a, p, n):
        d_neg = jnp.minimum(jnp.abs(a - n).sum(-1), jnp.abs(p - n).sum(-1))
        return jnp.maximum(2.0 + jnp.abs(a - p).sum(-1) - d_neg, 0.0).mean()

    _vjp_oracle(
        nn.TripletMarginWithDistanceLoss(distance_function=l1, margin=2.0, swap=True),
        ref,
        X(4, 5),
        X(4, 5),
        X(4, 5),
    )

    def ref_default(a, p, n):
        def d(u, v):
            return jnp.sqrt(((u - v + 1e-6) ** 2).sum(-1))

        return jnp.maximum(1.0 + d(a, p) - d(a, n), 0.0).sum()

    _vjp_oracle(
        nn.TripletMarginWithDistanceLoss(reduction="sum"), ref_default, X(3, 4), X(3, 4), X(3, 4)
    )


def test_alpha_dropout_in_training():
    """Each element is either ``a x + alpha a p`` (kept) or ``alpha a (p - 1)`` (dropped), with
    ``a = ((alpha^2 p + 1)(1 - p))^-1/2``; the feature form drops whole channels; eval, p = 0
    are the identity."""
    alpha, p = 1.7580993408473766, 0.4
    a = 1 / np.sqrt((alpha**2 * p + 1) * (1 - p))
    x = X(4, 6, 5)
    tg.manual_seed(0)
    out = nn.AlphaDropout(p)(tg.tensor(x)).numpy()
    kept = np.isclose(out, a * x + alpha * a * p, rtol=1e-12)
    dropped = np.isclose(out, alpha * a * (p - 1), rtol=1e-12)
    assert (kept | dropped).all() and kept.any() and dropped.any()
    out = nn.FeatureAlphaDropout(p)(tg.tensor(x)).numpy()
    kept = np.isclose(out, a * x + alpha * a * p, rtol=1e-12)
    dropped = np.isclose(out, alpha * a * (p - 1), rtol=1e-12)
    assert (kept | dropped).all()
    assert (kept.all(-1) | dropped.all(-1)).all()  # one draw per channel
    layer = nn.AlphaDropout(p).eval()
    t = tg.tensor(x)
    assert layer(t) is t
    assert nn.FeatureAlphaDropout(0.0)(t) is t
    # Gradient in training: a where kept, 0 where dropped.
    t = tg.tensor(x, requires_grad=True)
    tg.manual_seed(1)
    out = nn.AlphaDropout(p)(t)
    out.sum().backward()
    kept = np.isclose(out.detach().numpy(), a * x + alpha * a * p, rtol=1e-12)
    np.testing.assert_allclose(t.grad.numpy(), np.where(kept, a, 0.0), rtol=1e-12)


@slow
def test_margin_losses_and_lrn_in_a_compiled_step():
    """The losses trace under ``tracegrad.compile`` (no Python branch on values); the target
    range check is carried into the compiled call and raises PyTorch's error there."""
    lin = nn.Linear(4, 5).double()
    mm, ml = nn.MultiMarginLoss(p=2), nn.MultiLabelMarginLoss()

    def loss_of(x, t, labels):
        y = lin(x)
        return mm(y, t) + ml(y, labels) + F.local_response_norm(y.unsqueeze(-1), 3).sum()

    @tg.compile
    def step(x, t, labels):
        lin.zero_grad()
        loss = loss_of(x, t, labels)
        loss.backward()
        return loss

    x = tg.tensor(X(3, 4))
    t = tg.tensor([0, 4, 2])
    labels = tg.tensor([[1, -1, 0, 0, 0], [4, 3, -1, 0, 0], [0, 1, 2, 3, 4]])
    got = step(x, t, labels).item()
    grad = lin.weight.grad.numpy()
    lin.zero_grad()
    want = loss_of(x, t, labels)
    want.backward()
    np.testing.assert_allclose(got, want.item(), rtol=1e-12)
    np.testing.assert_allclose(grad, lin.weight.grad.numpy(), rtol=1e-12)
    with pytest.raises(RuntimeError, match="target out of range"):
        step(x, tg.tensor([0, 5, 2]), labels)
