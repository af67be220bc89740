"""tracegrad.optim.swa_utils: AveragedModel (SWA and EMA averages, avg_fn / multi_avg_fn,
use_buffers, n_averaged), update_bn and SWALR. Oracles: the averages and lr formulas computed
here with numpy from PyTorch's documentation, and (when torch is installed) torch's results from
the same weights, copied across through numpy."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest

import tracegrad
import tracegrad.optim.swa_utils
from tracegrad import nn
from tracegrad.optim.swa_utils import (
    SWALR,
    AveragedModel,
    get_ema_avg_fn,
    get_ema_multi_avg_fn,
    get_swa_avg_fn,
    get_swa_multi_avg_fn,
    update_bn,
)

from .tiers import slow_after


def _np(t) -> np.ndarray:
    return np.asarray(t.detach().cpu().numpy() if hasattr(t, "cpu") else t)


def _model(lib):
    return lib.nn.Sequential(
        lib.nn.Linear(4, 6), lib.nn.BatchNorm1d(6), lib.nn.ReLU(), lib.nn.Linear(6, 2)
    )


def _snapshots(n=4, seed=0):
    """``n`` sets of weights (state-dict arrays) for the model, as numpy arrays."""
    rng = np.random.default_rng(seed)
    shapes = {
        "0.weight": (6, 4), "0.bias": (6,), "1.weight": (6,), "1.bias": (6,),
        "1.running_mean": (6,), "1.running_var": (6,), "3.weight": (2, 6), "3.bias": (2,),
    }  # fmt: skip
    out = []
    for i in range(n):
        snap = {k: rng.standard_normal(s).astype(np.float32) for k, s in shapes.items()}
        snap["1.running_var"] = np.abs(snap["1.running_var"]) + 0.5
        snap["1.num_batches_tracked"] = np.array(3 * i + 1, dtype=np.int64)
        out.append(snap)
    return out


def _load(lib, model, snap):
    model.load_state_dict({k: lib.tensor(v) for k, v in snap.items()})


def _averaged(lib, snaps, **kwargs):
    model = _model(lib)
    _load(lib, model, snaps[0])
    avg = lib.optim.swa_utils.AveragedModel(model, **kwargs)
    for snap in snaps:
        _load(lib, model, snap)
        avg.update_parameters(model)
    return {k: _np(v) for k, v in avg.state_dict().items()}


AVERAGES = [
    ("swa", lambda su: {}),
    ("swa_buffers", lambda su: {"use_buffers": True}),
    ("ema_multi", lambda su: {"multi_avg_fn": su.get_ema_multi_avg_fn(0.9)}),
    ("ema_multi_buffers", lambda su: {"multi_avg_fn": su.get_ema_multi_avg_fn(0.8),
                                      "use_buffers": True}),
    ("swa_multi", lambda su: {"multi_avg_fn": su.get_swa_multi_avg_fn()}),
    ("ema_avg_fn", lambda su: {"avg_fn": su.get_ema_avg_fn(0.75)}),
    ("swa_avg_fn", lambda su: {"avg_fn": su.get_swa_avg_fn()}),
]  # fmt: skip


@pytest.mark.parametrize("name, kwargs", slow_after(AVERAGES, keep=3, multi=True),
                         ids=[a[0] for a in AVERAGES])  # fmt: skip
def test_averaged_model_matches_torch(name, kwargs):
    torch = pytest.importorskip("torch")
    snaps = _snapshots(5)
    ours = _averaged(tracegrad, snaps, **kwargs(tracegrad.optim.swa_utils))
    theirs = _averaged(torch, snaps, **kwargs(torch.optim.swa_utils))
    assert ours.keys() == theirs.keys()
    for k in ours:
        assert ours[k].dtype == theirs[k].dtype, k
        # to the last bit or one float32 ulp: PyTorch's CPU lerp uses fused multiply-adds, and
        # its division by a scalar tensor multiplies by the reciprocal
        np.testing.assert_allclose(ours[k], theirs[k], rtol=1.2e-7, atol=1.2e-7, err_msg=k)


def test_swa_average_is_the_mean():
    snaps = _snapshots(6)
    ours = _averaged(tracegrad, snaps)
    assert int(ours["n_averaged"]) == 6
    for k in ("0.weight", "1.bias", "3.weight"):
        mean = np.mean([s[k].astype(np.float64) for s in snaps], axis=0)
        np.testing.assert_allclose(ours["module." + k], mean, rtol=1e-5, atol=1e-6)
    # without use_buffers the buffers are the model's latest, not averaged
    np.testing.assert_array_equal(ours["module.1.running_mean"], snaps[-1]["1.running_mean"])
    assert int(ours["module.1.num_batches_tracked"]) == int(snaps[-1]["1.num_batches_tracked"])


@pytest.mark.parametrize("multi", [False, True])
def test_ema_average_closed_form(multi):
    decay = 0.9
    snaps = _snapshots(5)
    su = tracegrad.optim.swa_utils
    fn = {"multi_avg_fn": su.get_ema_multi_avg_fn(decay)} if multi else {
        "avg_fn": su.get_ema_avg_fn(decay)}  # fmt: skip
    ours = _averaged(tracegrad, snaps, use_buffers=True, **fn)
    for k in ("0.weight", "1.running_var", "3.bias"):
        ema = snaps[0][k].astype(np.float64)
        for s in snaps[1:]:
            ema = decay * ema + (1 - decay) * s[k]
        np.testing.assert_allclose(ours["module." + k], ema, rtol=1e-5, atol=1e-6)


def test_avg_fn_and_multi_avg_fn_exclusive():
    with pytest.raises(AssertionError, match="Only one of avg_fn and multi_avg_fn"):
        AveragedModel(_model(tracegrad), avg_fn=get_swa_avg_fn(),
                      multi_avg_fn=get_swa_multi_avg_fn())  # fmt: skip
    with pytest.raises(ValueError, match=r"Invalid decay value 1.5 provided"):
        get_ema_avg_fn(1.5)
    with pytest.raises(ValueError, match=r"Invalid decay value -0.1 provided"):
        get_ema_multi_avg_fn(-0.1)


def test_averaged_model_forward_and_no_grad_link():
    model = _model(tracegrad)
    avg = AveragedModel(model)
    avg.update_parameters(model)
    x = tracegrad.randn(3, 4)
    model.eval(), avg.eval()
    np.testing.assert_allclose(_np(avg(x)), _np(model(x)), rtol=1e-6)
    # the averaged copy is independent of the model
    with tracegrad.no_grad():
        model[0].weight.add_(1.0)
    assert not np.allclose(_np(avg.module[0].weight), _np(model[0].weight))


def _loader(lib, n=4, seed=1):
    rng = np.random.default_rng(seed)
    return [(lib.tensor(rng.standard_normal((8, 4)).astype(np.float32) * 2 + 1), 0)
            for _ in range(n)]  # fmt: skip


def test_update_bn_matches_torch():
    torch = pytest.importorskip("torch")
    snap = _snapshots(1)[0]
    out = []
    for lib in (tracegrad, torch):
        model = _model(lib)
        _load(lib, model, snap)
        model[1].momentum = 0.3
        model.eval()
        lib.optim.swa_utils.update_bn(_loader(lib), model)
        assert not model.training and model[1].momentum == 0.3
        out.append({k: _np(v) for k, v in model.state_dict().items()})
    for k in out[0]:
        np.testing.assert_allclose(out[0][k], out[1][k], rtol=1e-5, atol=1e-6, err_msg=k)


def test_update_bn_is_the_dataset_statistics():
    model = _model(tracegrad)
    loader = _loader(tracegrad)
    update_bn(loader, model)
    with tracegrad.no_grad():
        hidden = np.concatenate([_np(model[0](x)) for x, _ in loader]).astype(np.float64)
    # the cumulative average of per-batch means and unbiased variances
    batches = np.split(hidden, len(loader))
    np.testing.assert_allclose(
        _np(model[1].running_mean), np.mean([b.mean(0) for b in batches], 0), rtol=1e-5, atol=1e-6
    )
    np.testing.assert_allclose(
        _np(model[1].running_var),
        np.mean([b.var(0, ddof=1) for b in batches], 0),
        rtol=1e-5,
        atol=1e-6,
    )
    assert int(model[1].num_batches_tracked) == len(loader)


def test_update_bn_without_batch_norm_is_a_no_op():
    model = nn.Linear(4, 2)
    update_bn(_loader(tracegrad), model)


# ----------------------------------------------------------------------------- SWALR
def _optimizer(lib, **kwargs):
    ps = [lib.ones(2, requires_grad=True), lib.ones(3, requires_grad=True)]
    return lib.optim.SGD([{"params": ps[:1]}, {"params": ps[1:], "lr": 0.02}], lr=0.1, **kwargs)


def _swalr_run(lib, kwargs, epochs=30, switch=None):
    opt = _optimizer(lib, momentum=0.9)
    before = lib.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=20) if switch else None
    sched = None if switch else lib.optim.swa_utils.SWALR(opt, **kwargs)
    out = []
    for e in range(epochs):
        opt.step()
        if switch is not None and e < switch:
            before.step()
        else:
            if sched is None:
                sched = lib.optim.swa_utils.SWALR(opt, **kwargs)
            sched.step()
        out.append([g["lr"] for g in opt.param_groups])
    return out


SWALRS = [
    {"swa_lr": 0.05},
    {"swa_lr": [0.01, 0.005], "anneal_epochs": 5, "anneal_strategy": "linear"},
    {"swa_lr": 0.03, "anneal_epochs": 0},
    {"swa_lr": 0.2, "anneal_epochs": 7, "anneal_strategy": "cos"},
]


@pytest.mark.parametrize("kwargs", slow_after(SWALRS, keep=2), ids=str)
@pytest.mark.parametrize("switch", [None, 8])
def test_swalr_matches_torch(kwargs, switch):
    torch = pytest.importorskip("torch")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # torch warns about two schedulers on one optimizer
        theirs = _swalr_run(torch, kwargs, switch=switch)
    assert _swalr_run(tracegrad, kwargs, switch=switch) == theirs


@pytest.mark.parametrize("strategy", ["cos", "linear"])
def test_swalr_closed_form(strategy):
    # From a constant lr: lr_t = swa_lr * a(t) + lr0 * (1 - a(t)), t = min(1, step / anneal).
    anneal = {"cos": lambda t: (1 - math.cos(math.pi * t)) / 2, "linear": lambda t: t}[strategy]
    opt = _optimizer(tracegrad)
    sched = SWALR(opt, swa_lr=0.01, anneal_epochs=6, anneal_strategy=strategy)
    for step in range(15):
        a = anneal(min(1, step / 6))
        expected = [0.01 * a + lr0 * (1 - a) for lr0 in (0.1, 0.02)]
        assert sched.get_last_lr() == pytest.approx(expected, rel=1e-12)
        opt.step()
        sched.step()


def test_swalr_state_dict_and_errors():
    opt = _optimizer(tracegrad)
    sched = SWALR(opt, swa_lr=0.01, anneal_epochs=6, anneal_strategy="linear")
    opt.step()
    sched.step()
    saved = sched.state_dict()
    assert "anneal_func" not in saved and saved["_anneal_strategy"] == "linear"
    sched2 = SWALR(_optimizer(tracegrad), swa_lr=0.01, anneal_strategy="cos")
    sched2.load_state_dict(saved)
    assert sched2.anneal_func(0.5) == 0.5
    with pytest.raises(ValueError, match="anneal_strategy must be one of 'cos' or 'linear'"):
        SWALR(opt, swa_lr=0.01, anneal_strategy="exp")
    with pytest.raises(ValueError, match="anneal_epochs must be equal or greater than 0, got -1"):
        SWALR(opt, swa_lr=0.01, anneal_epochs=-1)
    with pytest.raises(ValueError, match="swa_lr must have the same length"):
        SWALR(opt, swa_lr=[0.1])
    with pytest.warns(UserWarning, match=r"please use `get_last_lr\(\)`"):
        sched.get_lr()


def test_swa_utils_is_a_submodule():
    import importlib

    mod = importlib.import_module("tracegrad.optim.swa_utils")
    assert mod.AveragedModel is AveragedModel and mod.update_bn is update_bn
    assert set(mod.__all__) == {"AveragedModel", "update_bn", "SWALR", "get_ema_multi_avg_fn",
                                "get_swa_multi_avg_fn", "get_ema_avg_fn", "get_swa_avg_fn"}  # fmt: skip
