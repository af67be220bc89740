"""The rest of tracegrad.optim.lr_scheduler (MultiplicativeLR, ConstantLR, LinearLR, PolynomialLR,
CyclicLR, CosineAnnealingWarmRestarts, SequentialLR, ChainedScheduler): learning-rate sequences
equal to closed forms written here from PyTorch's documentation, and (when torch is installed)
equal to torch's bit for bit, including momentum/beta cycling, resumption, state dicts, warnings
and errors. The schedules inside ``tracegrad.compile`` are checked for one trace."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest

import tracegrad
from tracegrad import nn
from tracegrad.optim import lr_scheduler

from .tiers import slow_after

EPOCHS = 40


def _optimizer(lib, cls_name="SGD", **kwargs):
    ps = [lib.ones(2, requires_grad=True), lib.ones(3, requires_grad=True)]
    kwargs = {"lr": 0.1, **kwargs}
    return getattr(lib.optim, cls_name)(
        [{"params": ps[:1]}, {"params": ps[1:], "lr": 0.02}], **kwargs
    )


def _record(opt, sched):
    return [(g["lr"], g.get("momentum"), g.get("betas")) for g in opt.param_groups] + [
        list(sched.get_last_lr())
    ]


def _run(lib, make, epochs=EPOCHS, opt_name="SGD", opt_kwargs=None, epoch_fn=None):
    """The learning rates (and momentum/betas) of both groups after construction and after each
    of ``epochs`` steps of the scheduler ``make(lib, opt)`` builds."""
    opt = _optimizer(lib, opt_name, **(opt_kwargs or {}))
    sched = make(lib, opt)
    out = [_record(opt, sched)]
    for e in range(epochs):
        opt.step()
        if epoch_fn is None:
            sched.step()
        else:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # the deprecated step(epoch)
                sched.step(epoch_fn(e))
        out.append(_record(opt, sched))
    return out


def _sched(name, **kwargs):
    def make(lib, opt):
        return getattr(lib.optim.lr_scheduler, name)(opt, **kwargs)

    make.__name__ = name
    return make


def _mult_a(e):
    return 0.97


def _mult_b(e):
    return 1.0 if e % 3 else 0.5


def _scale(x):
    return 1.0 / (1.0 + 0.1 * x)


def _sequential(lib, opt):
    s = lib.optim.lr_scheduler
    warm = s.LinearLR(opt, start_factor=0.1, total_iters=5)
    decay = s.CosineAnnealingLR(opt, T_max=20, eta_min=0.001)
    tail = s.ExponentialLR(opt, gamma=0.9)
    return s.SequentialLR(opt, [warm, decay, tail], milestones=[5, 25])


def _sequential_constant(lib, opt):
    s = lib.optim.lr_scheduler
    first = s.ConstantLR(opt, factor=0.5, total_iters=3)
    second = s.StepLR(opt, step_size=4, gamma=0.5)
    return s.SequentialLR(opt, [first, second], milestones=[7])


def _chained(lib, opt):
    s = lib.optim.lr_scheduler
    return s.ChainedScheduler([s.ConstantLR(opt, factor=0.2, total_iters=6),
                               s.ExponentialLR(opt, gamma=0.95)])  # fmt: skip


def _chained_with_optimizer(lib, opt):
    s = lib.optim.lr_scheduler
    return s.ChainedScheduler(
        [s.LinearLR(opt, start_factor=0.5, total_iters=8), s.MultiStepLR(opt, [10, 20])],
        optimizer=opt,
    )


SCHEDULES = [
    _sched("ConstantLR"),
    _sched("ConstantLR", factor=0.5, total_iters=7),
    _sched("LinearLR"),
    _sched("LinearLR", start_factor=1.0, end_factor=0.05, total_iters=25),
    _sched("PolynomialLR"),
    _sched("PolynomialLR", total_iters=30, power=2.0),
    _sched("PolynomialLR", total_iters=17, power=0.5),
    _sched("MultiplicativeLR", lr_lambda=_mult_a),
    _sched("MultiplicativeLR", lr_lambda=[_mult_a, _mult_b]),
    _sched("CyclicLR", base_lr=0.01, max_lr=0.1, step_size_up=4),
    _sched("CyclicLR", base_lr=[0.01, 0.002], max_lr=[0.1, 0.05], step_size_up=3,
           step_size_down=7, mode="triangular2"),
    _sched("CyclicLR", base_lr=0.001, max_lr=0.1, step_size_up=5, mode="exp_range",
           gamma=0.97, base_momentum=[0.8, 0.7], max_momentum=0.95),
    _sched("CyclicLR", base_lr=0.001, max_lr=0.1, step_size_up=6, scale_fn=_scale),
    _sched("CyclicLR", base_lr=0.001, max_lr=0.1, step_size_up=6, scale_fn=_scale,
           scale_mode="iterations", cycle_momentum=False),
    _sched("CosineAnnealingWarmRestarts", T_0=7),
    _sched("CosineAnnealingWarmRestarts", T_0=3, T_mult=2, eta_min=0.001),
    _sequential,
    _sequential_constant,
    _chained,
    _chained_with_optimizer,
]  # fmt: skip
IDS = [f"{i}-{make.__name__}" for i, make in enumerate(SCHEDULES)]


@pytest.mark.parametrize("make", slow_after(SCHEDULES, keep=len(SCHEDULES)), ids=IDS)
@pytest.mark.parametrize("opt_name", slow_after(["SGD", "Adam"]))
def test_matches_torch(make, opt_name):
    torch = pytest.importorskip("torch")
    opt_kwargs = {"momentum": 0.9} if opt_name == "SGD" else {}
    ours = _run(tracegrad, make, opt_name=opt_name, opt_kwargs=opt_kwargs)
    theirs = _run(torch, make, opt_name=opt_name, opt_kwargs=opt_kwargs)
    assert ours == theirs


EPOCH_SCHEDULES = [
    ("ConstantLR", {"factor": 0.25, "total_iters": 6}, lambda e: (e * 7) % 11),
    ("LinearLR", {"start_factor": 0.2, "total_iters": 9}, lambda e: (e * 5) % 13),
    ("PolynomialLR", {"total_iters": 10, "power": 3.0}, lambda e: (e * 3) % 14),
    ("MultiplicativeLR", {"lr_lambda": _mult_a}, lambda e: e + 1),
    ("CosineAnnealingWarmRestarts", {"T_0": 5}, lambda e: e * 0.37),
    ("CosineAnnealingWarmRestarts", {"T_0": 2, "T_mult": 3, "eta_min": 1e-3}, lambda e: e * 0.7),
]


@pytest.mark.parametrize(
    "name, kwargs, epoch_fn", EPOCH_SCHEDULES, ids=[e[0] for e in EPOCH_SCHEDULES]
)
def test_step_with_epoch_matches_torch(name, kwargs, epoch_fn):
    """The deprecated ``step(epoch)``: the closed form (fractional epochs for warm restarts)."""
    torch = pytest.importorskip("torch")
    ours = _run(tracegrad, _sched(name, **kwargs), epoch_fn=epoch_fn)
    theirs = _run(torch, _sched(name, **kwargs), epoch_fn=epoch_fn)
    assert ours == theirs


RESUMABLE = [
    _sched("LinearLR", start_factor=0.25, total_iters=12),
    _sched("PolynomialLR", total_iters=20, power=1.5),
    _sched("CyclicLR", base_lr=0.01, max_lr=0.1, step_size_up=5, mode="triangular2"),
    _sched("CosineAnnealingWarmRestarts", T_0=4, T_mult=2),
    _sequential,
    _chained,
]


def _resume_run(lib, make, cut=13, total=EPOCHS):
    """Run ``cut`` steps, save the scheduler and optimizer, build fresh ones, load both, run on."""
    opt = _optimizer(lib, momentum=0.9)
    sched = make(lib, opt)
    out = []
    for _ in range(cut):
        opt.step()
        sched.step()
        out.append(_record(opt, sched))
    saved_sched, saved_opt = sched.state_dict(), opt.state_dict()
    opt2 = _optimizer(lib, momentum=0.9)
    sched2 = make(lib, opt2)
    opt2.load_state_dict(saved_opt)
    sched2.load_state_dict(saved_sched)
    for _ in range(total - cut):
        opt2.step()
        sched2.step()
        out.append(_record(opt2, sched2))
    return out


@pytest.mark.parametrize(
    "make", slow_after(RESUMABLE, keep=len(RESUMABLE)), ids=lambda m: m.__name__
)
def test_state_dict_round_trip_mid_schedule(make):
    """Saving mid-schedule and loading into fresh objects continues the same sequence."""
    straight = _run(tracegrad, make, opt_kwargs={"momentum": 0.9})[1:]
    assert _resume_run(tracegrad, make) == straight
    torch = pytest.importorskip("torch")
    assert _resume_run(tracegrad, make) == _resume_run(torch, make)


def test_resume_with_last_epoch_matches_torch():
    torch = pytest.importorskip("torch")
    out = []
    for lib in (tracegrad, torch):
        opt = _optimizer(lib, momentum=0.9)
        for g in opt.param_groups:
            g["initial_lr"] = g["lr"]
        s = lib.optim.lr_scheduler
        scheds = [
            s.LinearLR(opt, total_iters=9, last_epoch=3),
            s.PolynomialLR(opt, total_iters=12, power=2.0, last_epoch=3),
            s.ConstantLR(opt, total_iters=6, last_epoch=3),
            s.CosineAnnealingWarmRestarts(opt, T_0=5, last_epoch=3),
        ]
        rows = []
        for _ in range(15):
            opt.step()
            for sc in scheds:
                sc.step()
                rows.append(list(sc.get_last_lr()))
        out.append(rows)
    assert out[0] == out[1]


# ----------------------------------------------------------------------------- closed forms
def _closed_form_check(make, formula, epochs=EPOCHS, rel=1e-12):
    opt = _optimizer(tracegrad)
    sched = make(tracegrad, opt)
    for e in range(epochs):
        for base, lr in zip([0.1, 0.02], sched.get_last_lr()):
            assert math.isclose(lr, formula(base, e), rel_tol=rel, abs_tol=1e-15), (e, lr)
        opt.step()
        sched.step()


def test_constant_lr_closed_form():
    _closed_form_check(
        _sched("ConstantLR", factor=0.5, total_iters=4), lambda b, e: b * (0.5 if e < 4 else 1.0)
    )


def test_linear_lr_closed_form():
    _closed_form_check(
        _sched("LinearLR", start_factor=0.25, end_factor=0.75, total_iters=10),
        lambda b, e: b * (0.25 + 0.5 * min(e, 10) / 10),
    )


@pytest.mark.parametrize("power", [1.0, 2.5])
def test_polynomial_lr_closed_form(power):
    _closed_form_check(
        _sched("PolynomialLR", total_iters=15, power=power),
        lambda b, e: b * (1 - min(e, 15) / 15) ** power,
    )


def test_multiplicative_lr_closed_form():
    _closed_form_check(_sched("MultiplicativeLR", lr_lambda=lambda e: 0.9), lambda b, e: b * 0.9**e)


@pytest.mark.parametrize("mode", ["triangular", "triangular2", "exp_range"])
def test_cyclic_lr_closed_form(mode):
    # The documented triangular policy: cycle = floor(1 + t / (2 s)), x = |t / s - 2 cycle + 1|,
    # lr = base + (max - base) * max(0, 1 - x) * scale, scale 1, 1/2^(cycle-1) or gamma^t.
    s, gamma = 5, 0.95

    def formula(_, t):
        cycle = math.floor(1 + t / (2 * s))
        x = abs(t / s - 2 * cycle + 1)
        scale = {"triangular": 1.0, "triangular2": 1 / 2 ** (cycle - 1), "exp_range": gamma**t}
        return 0.01 + (0.2 - 0.01) * max(0.0, 1 - x) * scale[mode]

    opt = _optimizer(tracegrad, momentum=0.9)
    sched = lr_scheduler.CyclicLR(opt, 0.01, 0.2, step_size_up=s, mode=mode, gamma=gamma)
    for t in range(EPOCHS):
        lr = formula(None, t)
        assert sched.get_last_lr() == pytest.approx([lr, lr], rel=1e-12, abs=1e-15)
        # momentum cycles inversely: max_momentum - (max - base) * (lr - base_lr) / (max_lr - base)
        m = 0.9 - (0.9 - 0.8) * (lr - 0.01) / (0.2 - 0.01)
        assert opt.param_groups[0]["momentum"] == pytest.approx(m, rel=1e-12)
        opt.step()
        sched.step()


@pytest.mark.parametrize("T_mult", [1, 2])
def test_cosine_warm_restarts_closed_form(T_mult):
    def formula(b, e):
        T_i, t = 4, e
        while t >= T_i:
            t -= T_i
            T_i *= T_mult
        return 0.001 + (b - 0.001) * (1 + math.cos(math.pi * t / T_i)) / 2

    _closed_form_check(
        _sched("CosineAnnealingWarmRestarts", T_0=4, T_mult=T_mult, eta_min=0.001), formula
    )


def test_cosine_warm_restarts_fractional_epochs():
    opt = _optimizer(tracegrad)
    sched = lr_scheduler.CosineAnnealingWarmRestarts(opt, T_0=2, T_mult=2)
    for epoch in [0.5, 1.25, 2.0, 3.5, 5.9, 6.0, 13.0]:
        sched.step(epoch)
        # periods [0, 2), [2, 6), [6, 14): T_cur is the distance from the period's start
        start, T_i = (0, 2) if epoch < 2 else (2, 4) if epoch < 6 else (6, 8)
        expected = 0.1 * (1 + math.cos(math.pi * (epoch - start) / T_i)) / 2
        assert sched.get_last_lr()[0] == pytest.approx(expected, rel=1e-12)
        assert sched.last_epoch == math.floor(epoch)


def test_sequential_lr_closed_form():
    # LinearLR warm-up over 4 epochs, then ExponentialLR from the base lr at epoch 4.
    def make(lib, opt):
        s = lib.optim.lr_scheduler
        return s.SequentialLR(
            opt,
            [s.LinearLR(opt, start_factor=0.5, total_iters=4), s.ExponentialLR(opt, gamma=0.8)],
            milestones=[4],
        )

    _closed_form_check(make, lambda b, e: b * (0.5 + 0.5 * e / 4) if e < 4 else b * 0.8 ** (e - 4))


def test_chained_scheduler_closed_form():
    def make(lib, opt):
        s = lib.optim.lr_scheduler
        return s.ChainedScheduler(
            [s.ConstantLR(opt, factor=0.1, total_iters=3), s.ExponentialLR(opt, gamma=0.9)]
        )

    _closed_form_check(make, lambda b, e: b * (0.1 if e < 3 else 1.0) * 0.9**e)


def test_cyclic_lr_cycles_adam_beta1():
    opt = _optimizer(tracegrad, "Adam", betas=(0.9, 0.99))
    sched = lr_scheduler.CyclicLR(opt, 0.001, 0.01, step_size_up=2, base_momentum=0.8)
    assert [g["betas"] for g in opt.param_groups] == [(0.9, 0.99)] * 2
    opt.step()
    sched.step()
    assert opt.param_groups[0]["betas"] == pytest.approx((0.85, 0.99))
    opt.step()
    sched.step()
    assert opt.param_groups[1]["betas"] == pytest.approx((0.8, 0.99))


# ----------------------------------------------------------------------------- warnings, errors
def test_scheduler_step_before_optimizer_step_warns():
    opt = _optimizer(tracegrad)
    sched = lr_scheduler.LinearLR(opt)
    with pytest.warns(UserWarning, match=r"Detected call of `lr_scheduler.step\(\)` before"):
        sched.step()


def test_overridden_optimizer_step_warns():
    opt = _optimizer(tracegrad)
    sched = lr_scheduler.PolynomialLR(opt)
    opt.step = lambda closure=None: None
    with pytest.warns(UserWarning, match="has been overridden after learning rate scheduler"):
        sched.step()


def test_get_lr_outside_step_warns():
    sched = lr_scheduler.ConstantLR(_optimizer(tracegrad))
    with pytest.warns(UserWarning, match=r"please use `get_last_lr\(\)`"):
        sched.get_lr()


def test_no_warnings_in_ordinary_use():
    opt = _optimizer(tracegrad, momentum=0.9)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        for make in SCHEDULES:
            sched = make(tracegrad, opt)
            opt.step()
            sched.step()


def test_errors():
    opt = _optimizer(tracegrad)
    s = lr_scheduler
    with pytest.raises(ValueError, match="Constant multiplicative factor expected"):
        s.ConstantLR(opt, factor=1.5)
    with pytest.raises(ValueError, match="Starting multiplicative factor expected"):
        s.LinearLR(opt, start_factor=0)
    with pytest.raises(ValueError, match="Ending multiplicative factor expected"):
        s.LinearLR(opt, end_factor=2)
    with pytest.raises(TypeError, match="lr_lambda should be a function, but got int"):
        s.MultiplicativeLR(opt, 3)
    with pytest.raises(ValueError, match="Expected 2 lr_lambdas, but got 1"):
        s.MultiplicativeLR(opt, [_mult_a])
    with pytest.raises(ValueError, match="mode is invalid and scale_fn is None"):
        s.CyclicLR(opt, 0.1, 1.0, mode="sine")
    with pytest.raises(ValueError, match="base_lr must have the same length"):
        s.CyclicLR(opt, [0.1], 1.0)
    with pytest.raises(ValueError, match="optimizer must support momentum or beta1"):
        s.CyclicLR(tracegrad.optim.Adagrad([tracegrad.ones(1, requires_grad=True)]), 0.1, 1.0)
    with pytest.raises(ValueError, match="Expected positive integer T_0, but got 0"):
        s.CosineAnnealingWarmRestarts(opt, T_0=0)
    with pytest.raises(ValueError, match="Expected integer T_mult >= 1, but got 0"):
        s.CosineAnnealingWarmRestarts(opt, T_0=2, T_mult=0)
    with pytest.raises(ValueError, match="Expected non-negative epoch, but got -1"):
        s.CosineAnnealingWarmRestarts(opt, T_0=2).step(-1)
    with pytest.raises(ValueError, match="expects at least one scheduler, but got no"):
        s.SequentialLR(opt, [], [])
    with pytest.raises(ValueError, match="expects number of schedulers provided to be one more"):
        s.SequentialLR(opt, [s.ConstantLR(opt)], [3])
    with pytest.raises(ValueError, match="does not support `ReduceLROnPlateau`"):
        s.SequentialLR(opt, [s.ConstantLR(opt), s.ReduceLROnPlateau(opt)], [3])
    with pytest.raises(ValueError, match="expects all schedulers to belong to the same optimizer"):
        s.ChainedScheduler([s.ConstantLR(opt), s.ConstantLR(_optimizer(tracegrad))])
    with pytest.raises(ValueError, match="expects at least one scheduler to be chained"):
        s.ChainedScheduler([])


def test_reduce_lr_on_plateau_is_an_lr_scheduler():
    assert issubclass(lr_scheduler.ReduceLROnPlateau, lr_scheduler.LRScheduler)
    assert issubclass(lr_scheduler._LRScheduler, lr_scheduler.LRScheduler)


# ----------------------------------------------------------------------------- inside compile
def _compiled_run(make_sched, compiled, metrics=None, n=8):
    """Train a small model for ``n`` steps, the scheduler stepping between calls; return the
    parameters, the lrs seen and the step function."""
    rng = np.random.default_rng(0)
    data = [
        (
            tracegrad.tensor(rng.standard_normal((8, 6)).astype(np.float32)),
            tracegrad.tensor(rng.integers(0, 3, 8)),
        )
        for _ in range(n)
    ]
    tracegrad.manual_seed(0)
    model = nn.Sequential(nn.Linear(6, 8), nn.Tanh(), nn.Linear(8, 3))
    opt = tracegrad.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    sched = make_sched(opt)

    def step(x, y):
        opt.zero_grad()
        loss = nn.functional.cross_entropy(model(x), y)
        loss.backward()
        opt.step()
        return loss

    f = tracegrad.compile(step) if compiled else step
    lrs = []
    for i, (x, y) in enumerate(data):
        f(x, y)
        lrs.append(opt.param_groups[0]["lr"])
        if metrics is None:
            sched.step()
        else:
            sched.step(metrics[i])
    return [np.asarray(p._storage.array) for p in model.parameters()], lrs, f


COMPILED = [
    ("OneCycleLR", lambda o: lr_scheduler.OneCycleLR(o, 0.5, total_steps=8, cycle_momentum=False)),
    ("CosineAnnealingWarmRestarts", lambda o: lr_scheduler.CosineAnnealingWarmRestarts(o, 3)),
    ("ReduceLROnPlateau", lambda o: lr_scheduler.ReduceLROnPlateau(o, factor=0.5, patience=0)),
    ("CyclicLR", lambda o: lr_scheduler.CyclicLR(o, 0.01, 0.2, 2, cycle_momentum=False)),
    ("LinearLR", lambda o: lr_scheduler.LinearLR(o, start_factor=0.1, total_iters=5)),
    ("SequentialLR", lambda o: lr_scheduler.SequentialLR(
        o, [lr_scheduler.ConstantLR(o, 0.5, 2), lr_scheduler.PolynomialLR(o, 6, 2.0)], [3])),
]  # fmt: skip


@pytest.mark.parametrize(
    "make", slow_after([m for _, m in COMPILED], keep=3), ids=[n for n, _ in COMPILED]
)
def test_compiled_step_follows_scheduler_without_retracing(make):
    """The lr is a program input: a scheduler changing it between calls costs no retrace (two
    traces: the first call creates the gradients and momentum buffers), and the trained
    parameters equal eager training's."""
    metrics = [1.0, 1.0, 0.5, 0.5, 0.5, 0.4, 0.4, 0.4]  # ReduceLROnPlateau halves the lr 5 times
    pe, lre, _ = _compiled_run(make, False, metrics if make is COMPILED[2][1] else None)
    pc, lrc, f = _compiled_run(make, True, metrics if make is COMPILED[2][1] else None)
    assert lrc == lre and len(set(lrc)) > 2
    for a, b in zip(pe, pc):
        np.testing.assert_allclose(a, b, rtol=2e-5, atol=1e-6)
    assert f.traces == 2


def test_cyclic_lr_state_dict_keeps_callable_scale_fn():
    class Scale:
        def __init__(self):
            self.rate = 0.5

        def __call__(self, x):
            return self.rate**x

    fn = Scale()
    sched = lr_scheduler.CyclicLR(_optimizer(tracegrad, momentum=0.9), 0.01, 0.1, scale_fn=fn)
    fn.rate = 0.25
    saved = sched.state_dict()
    assert saved["_scale_fn_custom"] == {"rate": 0.25} and "_scale_fn_ref" not in saved
    fn2 = Scale()
    sched2 = lr_scheduler.CyclicLR(_optimizer(tracegrad, momentum=0.9), 0.01, 0.1, scale_fn=fn2)
    sched2.load_state_dict(saved)
    assert fn2.rate == 0.25 and sched2.scale_fn(2) == 0.0625
    # the mode's own scale function is rebuilt on load
    plain = lr_scheduler.CyclicLR(_optimizer(tracegrad, momentum=0.9), 0.01, 0.1, mode="exp_range",
                                  gamma=0.5)  # fmt: skip
    saved = plain.state_dict()
    assert saved["_scale_fn_custom"] is None and "_scale_fn_ref" not in saved
    again = lr_scheduler.CyclicLR(_optimizer(tracegrad, momentum=0.9), 0.01, 0.1)
    again.load_state_dict(saved)
    assert again.scale_mode == "iterations" and again.scale_fn(3) == 0.125


def test_nested_composites_match_torch():
    """A ChainedScheduler holding a SequentialLR: stepping and the nested state dicts."""
    torch = pytest.importorskip("torch")

    def make(lib, opt):
        s = lib.optim.lr_scheduler
        seq = s.SequentialLR(
            opt, [s.LinearLR(opt, 0.2, total_iters=4), s.StepLR(opt, 5, 0.5)], milestones=[4]
        )
        return s.ChainedScheduler([seq, s.ExponentialLR(opt, 0.97)], optimizer=opt)

    assert _run(tracegrad, make) == _run(torch, make)
    assert _resume_run(tracegrad, make) == _resume_run(torch, make)


def test_compiled_step_with_cycled_momentum_is_correct_without_retracing():
    """Momentum is a program input, like lr (docs/optim.md): OneCycleLR's default
    ``cycle_momentum=True`` changes it every step without a retrace, with eager's results."""

    def make(o):
        return lr_scheduler.OneCycleLR(o, 0.5, total_steps=5)

    pe, lre, _ = _compiled_run(make, False, n=5)
    pc, lrc, f = _compiled_run(make, True, n=5)
    assert lrc == lre
    for a, b in zip(pe, pc):
        np.testing.assert_allclose(a, b, rtol=2e-5, atol=1e-6)
    assert f.traces == 2  # the first call and the steady state
