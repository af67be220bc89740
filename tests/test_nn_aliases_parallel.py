"""Small ``torch.nn`` names against PyTorch itself: the deprecated ``NLLLoss2d`` and
``Container``, ``DataParallel`` and ``SyncBatchNorm`` as PyTorch runs them in one CPU process,
the in-place activations ``F.relu_`` ... ``F.hardtanh_``, ``F.native_channel_shuffle`` and
``F.conv_tbc``."""

from __future__ import annotations

import numpy as np
import pytest

import tracegrad as tg
from tracegrad import nn
from tracegrad.nn import functional as F

from .tiers import slow_after

torch = pytest.importorskip("torch")


def _np(t):
    return None if t is None else np.asarray(t.detach().numpy(), dtype=np.float64)


def _close(a, b, tol=1e-5):
    np.testing.assert_allclose(_np(a), _np(b), rtol=tol, atol=tol)


def _copy_params(tm, gm):
    gm.load_state_dict({k: tg.tensor(v.detach().numpy()) for k, v in tm.state_dict().items()})


def test_deprecated_nllloss2d_and_container():
    rng = np.random.default_rng(0)
    logp = rng.standard_normal((2, 3, 4, 4)).astype(np.float32)
    target = rng.integers(0, 3, (2, 4, 4))
    with pytest.warns(FutureWarning, match="`NLLLoss2d` has been deprecated"):
        g = nn.NLLLoss2d(ignore_index=1)
    with pytest.warns(FutureWarning):
        t = torch.nn.NLLLoss2d(ignore_index=1)
    assert isinstance(g, nn.NLLLoss)
    _close(g(tg.tensor(logp), tg.tensor(target)), t(torch.tensor(logp), torch.tensor(target)))
    with pytest.warns(FutureWarning, match="`nn.Container` is deprecated"):
        c = nn.Container(a=nn.Linear(2, 2), b=nn.ReLU())
    with pytest.warns(FutureWarning):
        tc = torch.nn.Container(a=torch.nn.Linear(2, 2), b=torch.nn.ReLU())
    assert list(c.state_dict()) == list(tc.state_dict())
    assert repr(c) == repr(tc)


def test_data_parallel_runs_the_module_as_pytorch_does_without_cuda():
    torch.manual_seed(0)
    tm = torch.nn.DataParallel(torch.nn.Linear(4, 3), device_ids=None, dim=0)
    gm = nn.DataParallel(nn.Linear(4, 3))
    assert list(gm.state_dict()) == list(tm.state_dict()) == ["module.weight", "module.bias"]
    _copy_params(tm, gm)
    assert gm.device_ids == tm.device_ids == []
    assert repr(gm) == repr(tm)
    x = np.random.default_rng(1).standard_normal((5, 4)).astype(np.float32)
    yt, yg = tm(torch.tensor(x)), gm(tg.tensor(x))
    _close(yg, yt)
    yt.pow(2).sum().backward()
    yg.pow(2).sum().backward()
    _close(gm.module.weight.grad, tm.module.weight.grad)


@pytest.mark.parametrize(
    "shape,momentum,affine",
    slow_after(
        [((6, 3, 4, 4), 0.1, True), ((6, 3), None, True), ((4, 3, 5), 0.3, False)], multi=True
    ),
)
def test_sync_batchnorm_matches_pytorch_in_one_process(shape, momentum, affine):
    torch.manual_seed(0)
    tm = torch.nn.SyncBatchNorm(3, momentum=momentum, affine=affine)
    gm = nn.SyncBatchNorm(3, momentum=momentum, affine=affine)
    assert repr(gm) == repr(tm)
    if affine:
        with torch.no_grad():
            tm.weight.uniform_(0.5, 1.5)
            tm.bias.uniform_(-0.5, 0.5)
    _copy_params(tm, gm)
    rng = np.random.default_rng(2)
    for _ in range(2):
        x = rng.standard_normal(shape).astype(np.float32)
        xt, xg = torch.tensor(x, requires_grad=True), tg.tensor(x, requires_grad=True)
        yt, yg = tm(xt), gm(xg)
        _close(yg, yt)
        w = np.linspace(-1, 1, int(np.prod(shape))).reshape(shape).astype(np.float32)
        (yt * torch.tensor(w)).sum().backward()
        (yg * tg.tensor(w)).sum().backward()
        _close(xg.grad, xt.grad, 1e-4)
    for name in ("running_mean", "running_var", "num_batches_tracked"):
        _close(getattr(gm, name), getattr(tm, name))
    tm.eval()
    gm.eval()
    _close(gm(tg.tensor(x)), tm(torch.tensor(x)))
    with pytest.raises(ValueError, match="expected at least 2D input"):
        gm(tg.ones(3))


def test_convert_sync_batchnorm():
    tnet = torch.nn.Sequential(torch.nn.Linear(4, 3), torch.nn.BatchNorm1d(3, eps=1e-3))
    gnet = nn.Sequential(nn.Linear(4, 3), nn.BatchNorm1d(3, eps=1e-3))
    _copy_params(tnet, gnet)
    tnet = torch.nn.SyncBatchNorm.convert_sync_batchnorm(tnet)
    bn = gnet[1]
    gnet = nn.SyncBatchNorm.convert_sync_batchnorm(gnet)
    assert type(gnet[1]) is nn.SyncBatchNorm and repr(gnet) == repr(tnet)
    assert gnet[1].weight is bn.weight
    x = np.random.default_rng(3).standard_normal((5, 4)).astype(np.float32)
    _close(gnet(tg.tensor(x)), tnet(torch.tensor(x)))
    _close(gnet[1].running_mean, tnet[1].running_mean)
    with pytest.raises(NotImplementedError, match="process_group=None"):
        nn.SyncBatchNorm(3, process_group=object())


INPLACE = [
    ("relu_", ()),
    ("leaky_relu_", (0.2,)),
    ("hardtanh_", (-0.5, 0.7)),
    ("elu_", (0.7,)),
    ("celu_", (1.3,)),
    ("selu_", ()),
]


@pytest.mark.parametrize("name,args", slow_after(INPLACE, keep=2, multi=True))
def test_inplace_activations_match_pytorch(name, args):
    x = np.random.default_rng(4).standard_normal((3, 5)).astype(np.float32)
    a, b = torch.tensor(x), tg.tensor(x)
    assert getattr(F, name)(b, *args) is b
    getattr(torch.nn.functional, name)(a, *args)
    _close(b, a)
    # through a graph: the in-place op on a non-leaf, then backward
    at = torch.tensor(x, requires_grad=True)
    bt = tg.tensor(x, requires_grad=True)
    ya = getattr(torch.nn.functional, name)(at * 2, *args)
    yb = getattr(F, name)(bt * 2, *args)
    (ya * ya).sum().backward()
    (yb * yb).sum().backward()
    _close(bt.grad, at.grad)


def test_conv_tbc_and_native_channel_shuffle_match_pytorch():
    rng = np.random.default_rng(5)
    x = rng.standard_normal((7, 2, 3)).astype(np.float32)
    w = rng.standard_normal((3, 3, 4)).astype(np.float32)
    b = rng.standard_normal(4).astype(np.float32)
    ts = [torch.tensor(v, requires_grad=True) for v in (x, w, b)]
    gs = [tg.tensor(v, requires_grad=True) for v in (x, w, b)]
    for pad in (0, 2):
        yt = torch.nn.functional.conv_tbc(*ts, pad)
        yg = F.conv_tbc(*gs, pad)
        assert tuple(yg.shape) == tuple(yt.shape)
        _close(yg, yt)
        (yt * yt).sum().backward()
        (yg * yg).sum().backward()
    for a, c in zip(gs, ts):
        _close(a.grad, c.grad, 1e-4)
    with pytest.raises(RuntimeError, match="Input must have 3 dims"):
        F.conv_tbc(tg.ones(2, 3), gs[1], gs[2])
    with pytest.raises(RuntimeError, match="Bias size must equal dim 2"):
        F.conv_tbc(gs[0], gs[1], tg.ones(5))
    s = rng.standard_normal((2, 6, 3)).astype(np.float32)
    _close(
        F.native_channel_shuffle(tg.tensor(s), 3),
        torch.nn.functional.native_channel_shuffle(torch.tensor(s), 3),
    )
