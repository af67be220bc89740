"""Layers of ``tracegrad.nn`` (conv, pooling, batch/layer/group norm, dropout) against PyTorch with
identical weights: forward values, input and parameter gradients, running statistics, state-dict
keys, ``repr``, default initialisation and PyTorch's errors."""

from __future__ import annotations

import math

import numpy as np
import pytest

import tracegrad as tg
import tracegrad.nn as nn

from .tiers import slow_after

torch = pytest.importorskip("torch")
rng = np.random.default_rng(2)


def X(*shape):
    return rng.uniform(-2, 2, size=shape)


def copy_from_torch(ours, theirs):
    """Give ``ours`` ``theirs``'s parameters and buffers (via numpy, float64)."""
    theirs.double()
    state = {k: tg.tensor(v.detach().numpy()) for k, v in theirs.state_dict().items()}
    ours.double()
    ours.load_state_dict(state)


def compare(ours, theirs, x, atol=1e-9, train=True):
    """Same input through both; compare outputs, input gradients and parameter gradients."""
    copy_from_torch(ours, theirs)
    ours.train(train)
    theirs.train(train)
    a = tg.tensor(x, requires_grad=True)
    b = torch.tensor(x, requires_grad=True)
    out, ref = ours(a), theirs(b)
    np.testing.assert_allclose(out.detach().numpy(), ref.detach().numpy(), atol=atol, rtol=1e-8)
    g = rng.uniform(0.5, 1.5, size=tuple(ref.shape))
    out.backward(tg.tensor(g))
    ref.backward(torch.tensor(g))
    np.testing.assert_allclose(a.grad.numpy(), b.grad.numpy(), atol=atol, rtol=1e-8)
    tp = dict(theirs.named_parameters())
    for name, p in ours.named_parameters():
        np.testing.assert_allclose(p.grad.numpy(), tp[name].grad.numpy(), atol=atol, rtol=1e-8)
    return out


# ------------------------------------------------------------------------------------------- conv
CONVS = [
    ("Conv1d", (3, 4, 3), {}, (2, 3, 9)),
    ("Conv1d", (4, 6, 2), {"stride": 2, "padding": 1, "groups": 2, "bias": False}, (2, 4, 8)),
    ("Conv2d", (3, 4, 3), {"padding": "same", "dilation": 2}, (2, 3, 7, 6)),
    ("Conv2d", (2, 4, (3, 2)), {"stride": (2, 1), "padding": (1, 0)}, (2, 2, 7, 6)),
    ("Conv2d", (2, 3, 3), {"padding": 2, "padding_mode": "reflect"}, (2, 2, 6, 5)),
    ("Conv2d", (2, 3, 3), {"padding": (1, 2), "padding_mode": "replicate"}, (2, 2, 6, 5)),
    ("Conv2d", (2, 3, 3), {"padding": 1, "padding_mode": "circular"}, (1, 2, 5, 5)),
    ("Conv2d", (2, 3, 3), {"padding": 1}, (2, 5, 5)),  # unbatched
    ("Conv3d", (2, 3, 2), {"padding": 1}, (1, 2, 4, 4, 3)),
    ("ConvTranspose1d", (3, 4, 3), {"stride": 2, "output_padding": 1}, (2, 3, 5)),
    ("ConvTranspose2d", (4, 2, 3), {"stride": 2, "padding": 1, "groups": 2}, (2, 4, 4, 3)),
    ("ConvTranspose2d", (2, 3, (2, 3)), {"dilation": 2, "bias": False}, (1, 2, 3, 4)),
    ("ConvTranspose3d", (2, 2, 2), {"stride": 2}, (1, 2, 2, 3, 2)),
]


@pytest.mark.parametrize(
    "name,args,kwargs,shape", slow_after(CONVS, 1, multi=True), ids=lambda v: str(v)
)
def test_conv_layers_match_torch(name, args, kwargs, shape):
    ours, theirs = getattr(nn, name)(*args, **kwargs), getattr(torch.nn, name)(*args, **kwargs)
    assert repr(ours) == repr(theirs)
    assert list(ours.state_dict()) == list(theirs.state_dict())
    for (k, v), v2 in zip(ours.state_dict().items(), theirs.state_dict().values()):
        assert tuple(v.shape) == tuple(v2.shape), k
    compare(ours, theirs, X(*shape))


def test_conv_transpose_output_size():
    ours, theirs = nn.ConvTranspose2d(2, 3, 3, stride=2), torch.nn.ConvTranspose2d(2, 3, 3, 2)
    copy_from_torch(ours, theirs)
    x = X(1, 2, 4, 4)
    out = ours(tg.tensor(x), output_size=(10, 9))
    ref = theirs(torch.tensor(x), output_size=(10, 9))
    assert out.shape == (1, 3, 10, 9)
    np.testing.assert_allclose(out.detach().numpy(), ref.detach().numpy(), rtol=1e-9)


def test_conv_default_init_bounds():
    tg.manual_seed(0)
    conv = nn.Conv2d(4, 8, 3)
    bound = 1 / math.sqrt(4 * 9)  # kaiming_uniform_(a=sqrt(5)) gives 1/sqrt(fan_in)
    w, b = conv.weight.detach().numpy(), conv.bias.detach().numpy()
    assert np.abs(w).max() <= bound and np.abs(w).max() > 0.8 * bound
    assert np.abs(b).max() <= bound
    assert abs(w.std() - bound / math.sqrt(3)) < 0.02
    assert conv.weight.requires_grad and conv.weight.grad_fn is None


def test_conv_errors():
    with pytest.raises(ValueError, match="in_channels must be divisible by groups"):
        nn.Conv2d(3, 4, 3, groups=2)
    with pytest.raises(ValueError, match="out_channels must be divisible by groups"):
        nn.Conv2d(4, 3, 3, groups=2)
    with pytest.raises(ValueError, match="padding_mode must be one of"):
        nn.Conv2d(2, 2, 3, padding_mode="mirror")
    with pytest.raises(ValueError, match="not supported for strided convolutions"):
        nn.Conv2d(2, 2, 3, stride=2, padding="same")
    with pytest.raises(ValueError, match='Only "zeros" padding mode is supported'):
        nn.ConvTranspose2d(2, 2, 3, padding_mode="reflect")


def test_conv_repr_like_torch():
    assert repr(nn.Conv2d(1, 32, 3)) == "Conv2d(1, 32, kernel_size=(3, 3), stride=(1, 1))"
    for args, kw in [
        ((2, 4, 3), {"padding": "same", "bias": False, "padding_mode": "reflect"}),
        ((2, 4, (1, 3)), {"stride": 2, "dilation": (1, 2), "groups": 2}),
    ]:
        assert repr(nn.Conv2d(*args, **kw)) == repr(torch.nn.Conv2d(*args, **kw))


# ---------------------------------------------------------------------------------------- pooling
POOLS = [
    ("MaxPool1d", (3,), {"stride": 2, "padding": 1}, (2, 3, 9)),
    ("MaxPool2d", (2,), {}, (2, 3, 6, 6)),
    ("MaxPool2d", ((3, 2),), {"stride": 1, "dilation": (1, 2), "ceil_mode": True}, (1, 2, 7, 6)),
    ("MaxPool3d", (2,), {}, (1, 2, 4, 4, 4)),
    ("AvgPool1d", (3,), {"stride": 2, "padding": 1, "count_include_pad": False}, (2, 3, 8)),
    ("AvgPool2d", (2,), {"stride": 2, "ceil_mode": True}, (2, 3, 7, 7)),
    ("AvgPool2d", (3,), {"padding": 1, "divisor_override": 4}, (1, 2, 6, 6)),
    ("AvgPool3d", (2,), {}, (1, 2, 4, 4, 4)),
    ("AdaptiveAvgPool1d", (4,), {}, (2, 3, 10)),
    ("AdaptiveAvgPool2d", ((3, 2),), {}, (2, 3, 7, 5)),
    ("AdaptiveAvgPool2d", (1,), {}, (2, 3, 7, 5)),
    ("AdaptiveAvgPool3d", (2,), {}, (1, 2, 5, 4, 3)),
    ("AdaptiveMaxPool2d", ((2, 3),), {}, (2, 3, 7, 6)),
]


@pytest.mark.parametrize(
    "name,args,kwargs,shape", slow_after(POOLS, 3, multi=True), ids=lambda v: str(v)
)
def test_pooling_layers_match_torch(name, args, kwargs, shape):
    ours, theirs = getattr(nn, name)(*args, **kwargs), getattr(torch.nn, name)(*args, **kwargs)
    assert repr(ours) == repr(theirs)
    x = rng.permutation(np.linspace(-3, 3, int(np.prod(shape)))).reshape(shape)  # no ties
    compare(ours, theirs, x)


# --------------------------------------------------------------------------------------- batchnorm
BNS = [
    ("BatchNorm1d", (6, 3), {}),
    ("BatchNorm1d", (4, 3, 5), {"momentum": 0.3, "eps": 1e-3}),
    ("BatchNorm2d", (4, 3, 5, 5), {}),
    ("BatchNorm2d", (4, 3, 2, 2), {"momentum": None}),
    ("BatchNorm2d", (4, 3, 2, 2), {"affine": False}),
    ("BatchNorm2d", (4, 3, 2, 2), {"track_running_stats": False}),
    ("BatchNorm3d", (2, 3, 2, 3, 2), {}),
]


@pytest.mark.parametrize("name,shape,kwargs", slow_after(BNS, 2, multi=True), ids=lambda v: str(v))
def test_batchnorm_training_steps_and_eval_match_torch(name, shape, kwargs):
    ours, theirs = getattr(nn, name)(3, **kwargs), getattr(torch.nn, name)(3, **kwargs)
    assert repr(ours) == repr(theirs)
    assert list(ours.state_dict()) == list(theirs.state_dict())
    if kwargs.get("affine", True):
        with torch.no_grad():  # non-trivial affine parameters
            theirs.weight.uniform_(0.5, 1.5)
            theirs.bias.uniform_(-1, 1)
    copy_from_torch(ours, theirs)
    for _ in range(3):
        x = X(*shape)
        out, ref = ours(tg.tensor(x)), theirs(torch.tensor(x))
        np.testing.assert_allclose(out.detach().numpy(), ref.detach().numpy(), rtol=1e-8)
    for (k, v), (k2, v2) in zip(ours.state_dict().items(), theirs.state_dict().items()):
        assert k == k2
        np.testing.assert_allclose(v.numpy(), v2.numpy(), rtol=1e-9, err_msg=k)
    if "num_batches_tracked" in ours.state_dict():
        assert ours.num_batches_tracked.dtype == tg.int64
        assert ours.num_batches_tracked.item() == 3
    compare(ours, theirs, X(*shape), train=True)
    compare(ours, theirs, X(*shape), train=False)


def test_batchnorm_eval_uses_running_stats():
    bn = nn.BatchNorm1d(2)
    bn.running_mean.copy_(tg.tensor([1.0, -1.0]))
    bn.running_var.copy_(tg.tensor([4.0, 0.25]))
    bn.eval()
    out = bn(tg.tensor([[3.0, 0.0]]))
    np.testing.assert_allclose(
        out.detach().numpy(), [[2 / np.sqrt(4 + 1e-5), 1 / np.sqrt(0.25 + 1e-5)]], rtol=1e-6
    )


def test_batchnorm_dim_errors():
    with pytest.raises(ValueError, match=r"expected 4D input \(got 3D input\)"):
        nn.BatchNorm2d(3)(tg.randn(2, 3, 4))
    with pytest.raises(ValueError, match=r"expected 2D or 3D input \(got 4D input\)"):
        nn.BatchNorm1d(3)(tg.randn(2, 3, 4, 4))
    with pytest.raises(ValueError, match=r"expected 5D input \(got 4D input\)"):
        nn.BatchNorm3d(3)(tg.randn(2, 3, 4, 4))


def test_state_dict_keys_of_a_small_cnn_match_torch():
    def build(m):
        return m.Sequential(m.Conv2d(1, 4, 3), m.BatchNorm2d(4), m.ReLU(), m.MaxPool2d(2))

    ours, theirs = build(nn), build(torch.nn)
    assert list(ours.state_dict()) == list(theirs.state_dict())


# ---------------------------------------------------------------------------- layer and group norm
@pytest.mark.parametrize(
    "args,kwargs,shape",
    [
        ((5,), {}, (3, 5)),
        (((3, 4),), {"eps": 1e-3}, (2, 3, 4)),
        ((4,), {"bias": False}, (2, 4)),
        ((4,), {"elementwise_affine": False}, (2, 4)),
    ],  # fmt: skip
)
def test_layernorm_matches_torch(args, kwargs, shape):
    ours, theirs = nn.LayerNorm(*args, **kwargs), torch.nn.LayerNorm(*args, **kwargs)
    assert repr(ours) == repr(theirs)
    assert list(ours.state_dict()) == list(theirs.state_dict())
    with torch.no_grad():
        for p in theirs.parameters():
            p.uniform_(0.5, 1.5)
    compare(ours, theirs, X(*shape))


@pytest.mark.parametrize("affine", [True, False])
def test_groupnorm_matches_torch(affine):
    ours, theirs = nn.GroupNorm(2, 6, affine=affine), torch.nn.GroupNorm(2, 6, affine=affine)
    assert repr(ours) == repr(theirs)
    with torch.no_grad():
        for p in theirs.parameters():
            p.uniform_(0.5, 1.5)
    compare(ours, theirs, X(3, 6, 4, 2))
    with pytest.raises(
        ValueError, match=r"num_channels \(6\) must be divisible by num_groups \(4\)"
    ):
        nn.GroupNorm(4, 6)


# ---------------------------------------------------------------------------------------- dropout
def test_dropout_modules():
    d = nn.Dropout(0.4)
    assert repr(d) == repr(torch.nn.Dropout(0.4))
    assert repr(nn.Dropout2d(0.2, inplace=True)) == repr(torch.nn.Dropout2d(0.2, inplace=True))
    x = tg.ones(100, 100)
    tg.manual_seed(5)
    a = d(x).numpy()
    assert abs((a == 0).mean() - 0.4) < 0.02
    np.testing.assert_allclose(a[a != 0], 1 / 0.6, rtol=1e-6)
    tg.manual_seed(5)
    np.testing.assert_array_equal(d(x).numpy(), a)
    d.eval()
    assert d(x) is x
    d2 = nn.Dropout2d(0.5)
    out = d2(tg.ones(8, 16, 3, 3)).numpy().reshape(8, 16, 9)
    assert np.all((out == 0).all(-1) | (out == 2).all(-1))
    with pytest.raises(ValueError, match="dropout probability has to be between 0 and 1"):
        nn.Dropout(1.2)
