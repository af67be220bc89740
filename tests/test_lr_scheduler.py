"""tracegrad.optim.lr_scheduler: learning-rate sequences in closed form, and (when torch is
installed) equal to torch's for the same options, including momentum/beta cycling, state dicts
and errors."""

from __future__ import annotations

import math
import warnings

import pytest

import tracegrad
from tracegrad import optim
from tracegrad.optim import lr_scheduler

EPOCHS = 40


def _optimizer(lib, cls_name="SGD", **kwargs):
    ps = [lib.ones(2, requires_grad=True), lib.ones(3, requires_grad=True)]
    kwargs = {"lr": 0.1, **kwargs}
    return getattr(lib.optim, cls_name)(
        [{"params": ps[:1]}, {"params": ps[1:], "lr": 0.02}], **kwargs
    )


def _trace(lib, sched_name, kwargs, epochs=EPOCHS, opt_name="SGD", opt_kwargs=None, metrics=None):
    """The learning rates (and momentum/betas) of both groups after construction and after each
    of ``epochs`` steps."""
    opt = _optimizer(lib, opt_name, **(opt_kwargs or {}))
    sched = getattr(lib.optim.lr_scheduler, sched_name)(opt, **kwargs)
    out = []

    def record():
        out.append(
            [(g["lr"], g.get("momentum"), g.get("betas")) for g in opt.param_groups]
            + [list(sched.get_last_lr())]
        )

    record()
    for e in range(epochs):
        opt.step()
        if metrics is None:
            sched.step()
        else:
            sched.step(metrics[e])
        record()
    return out


def _lambda_a(e):
    return 0.95**e


def _lambda_b(e):
    return 1.0 / (1 + e)


SCHEDULES = [
    ("StepLR", {"step_size": 7}),
    ("StepLR", {"step_size": 3, "gamma": 0.5}),
    ("MultiStepLR", {"milestones": [5, 12, 12, 30]}),
    ("MultiStepLR", {"milestones": [2, 8], "gamma": 0.3}),
    ("ExponentialLR", {"gamma": 0.9}),
    ("CosineAnnealingLR", {"T_max": 10}),
    ("CosineAnnealingLR", {"T_max": 13, "eta_min": 0.001}),
    ("LambdaLR", {"lr_lambda": _lambda_a}),
    ("LambdaLR", {"lr_lambda": [_lambda_a, _lambda_b]}),
    ("OneCycleLR", {"max_lr": 1.0, "total_steps": EPOCHS}),
    ("OneCycleLR", {"max_lr": [1.0, 0.5], "epochs": 4, "steps_per_epoch": 10,
                    "anneal_strategy": "linear", "pct_start": 0.25}),
    ("OneCycleLR", {"max_lr": 0.3, "total_steps": EPOCHS + 5, "three_phase": True,
                    "div_factor": 10.0, "final_div_factor": 100.0, "base_momentum": 0.8,
                    "max_momentum": [0.9, 0.99]}),
    ("OneCycleLR", {"max_lr": 0.3, "total_steps": EPOCHS, "cycle_momentum": False}),
]  # fmt: skip
SCHED_IDS = [f"{name}-{i}" for i, (name, _) in enumerate(SCHEDULES)]


@pytest.mark.parametrize("schedule", SCHEDULES, ids=SCHED_IDS)
@pytest.mark.parametrize("opt_name", ["SGD", "Adam"])
def test_matches_torch(schedule, opt_name):
    torch = pytest.importorskip("torch")
    name, kwargs = schedule
    opt_kwargs = {"momentum": 0.9} if opt_name == "SGD" else {}
    ours = _trace(tracegrad, name, kwargs, opt_name=opt_name, opt_kwargs=opt_kwargs)
    theirs = _trace(torch, name, kwargs, opt_name=opt_name, opt_kwargs=opt_kwargs)
    assert ours == theirs


PLATEAUS = [
    {},
    {"mode": "max", "factor": 0.5, "patience": 2},
    {"patience": 1, "threshold": 0.1, "threshold_mode": "abs", "cooldown": 2},
    {"mode": "max", "patience": 0, "threshold_mode": "abs", "min_lr": [0.01, 0.005]},
    {"patience": 0, "factor": 0.5, "min_lr": 0.02, "eps": 1e-3},
]
METRICS = [1.0, 0.9, 0.95, 0.95, 0.94, 0.96, 0.5, 0.5, 0.5, 0.49, 0.6, 0.7, 0.3, 0.3] * 3


@pytest.mark.parametrize("kwargs", PLATEAUS, ids=str)
def test_reduce_lr_on_plateau_matches_torch(kwargs):
    torch = pytest.importorskip("torch")
    n = len(METRICS)
    ours = _trace(tracegrad, "ReduceLROnPlateau", kwargs, epochs=n, metrics=METRICS)
    theirs = _trace(torch, "ReduceLROnPlateau", kwargs, epochs=n, metrics=METRICS)
    assert ours == theirs


def test_reduce_lr_on_plateau_by_hand():
    opt = _optimizer(tracegrad)
    sched = lr_scheduler.ReduceLROnPlateau(opt, factor=0.5, patience=1)
    lrs = []
    for m in [1.0, 1.0, 1.0, 1.0, 1.0, 0.1]:
        sched.step(tracegrad.tensor(m))  # a tensor metric is read on the host
        lrs.append(sched.get_last_lr()[0])
    assert lrs == [0.1, 0.1, 0.05, 0.05, 0.025, 0.025]


def _closed_form_check(name, kwargs, formula):
    opt = _optimizer(tracegrad)
    sched = getattr(lr_scheduler, name)(opt, **kwargs)
    for e in range(EPOCHS):
        for base, lr in zip([0.1, 0.02], sched.get_last_lr()):
            assert math.isclose(lr, formula(base, e), rel_tol=1e-12, abs_tol=1e-15), (e, lr)
        opt.step()
        sched.step()


def test_step_lr_closed_form():
    _closed_form_check("StepLR", {"step_size": 4, "gamma": 0.5}, lambda b, e: b * 0.5 ** (e // 4))


def test_multistep_lr_closed_form():
    _closed_form_check(
        "MultiStepLR",
        {"milestones": [3, 10, 10], "gamma": 0.1},
        lambda b, e: b * 0.1 ** ((e >= 3) + 2 * (e >= 10)),
    )


def test_exponential_lr_closed_form():
    _closed_form_check("ExponentialLR", {"gamma": 0.8}, lambda b, e: b * 0.8**e)


@pytest.mark.parametrize("eta_min", [0.0, 0.005])
def test_cosine_annealing_closed_form(eta_min):
    # Periodic past T_max (no restarts): the recursive form must follow the closed form throughout.
    _closed_form_check(
        "CosineAnnealingLR",
        {"T_max": 9, "eta_min": eta_min},
        lambda b, e: eta_min + (b - eta_min) * (1 + math.cos(math.pi * e / 9)) / 2,
    )


def test_lambda_lr_closed_form():
    _closed_form_check("LambdaLR", {"lr_lambda": lambda e: 1 / (e + 1)}, lambda b, e: b / (e + 1))


def test_one_cycle_by_hand():
    opt = _optimizer(tracegrad, momentum=0.9)
    sched = lr_scheduler.OneCycleLR(opt, max_lr=1.0, total_steps=10, anneal_strategy="linear")
    # Phase 1 ends at step 0.3 * 10 - 1 = 2: lr 0.04 -> 1.0 linearly; momentum 0.95 -> 0.85.
    assert opt.param_groups[0]["lr"] == pytest.approx(0.04)
    assert opt.param_groups[0]["momentum"] == pytest.approx(0.95)
    for _ in range(2):
        opt.step()
        sched.step()
    assert opt.param_groups[0]["lr"] == pytest.approx(1.0)
    assert opt.param_groups[0]["momentum"] == pytest.approx(0.85)
    for _ in range(7):
        opt.step()
        sched.step()
    assert opt.param_groups[0]["lr"] == pytest.approx(0.04 / 1e4)
    opt.step()
    sched.step()  # step 10 of 10 is allowed; the 11th is not
    with pytest.raises(ValueError, match="Tried to step 11 times"):
        sched.step()


def test_one_cycle_cycles_adam_beta1():
    opt = _optimizer(tracegrad, "Adam", betas=(0.9, 0.99))
    lr_scheduler.OneCycleLR(opt, max_lr=0.01, total_steps=5)
    assert opt.param_groups[0]["betas"] == (0.95, 0.99)


def test_initial_step_sets_initial_lr_and_last_epoch():
    opt = _optimizer(tracegrad)
    sched = lr_scheduler.StepLR(opt, step_size=2)
    assert sched.last_epoch == 0 and sched.base_lrs == [0.1, 0.02]
    assert [g["initial_lr"] for g in opt.param_groups] == [0.1, 0.02]
    assert sched.get_last_lr() == [0.1, 0.02]


def test_resuming_needs_initial_lr():
    with pytest.raises(KeyError, match="initial_lr"):
        lr_scheduler.StepLR(_optimizer(tracegrad), step_size=2, last_epoch=3)


def test_state_dict_round_trip():
    opt = _optimizer(tracegrad)
    sched = lr_scheduler.CosineAnnealingLR(opt, T_max=10)
    for _ in range(4):
        opt.step()
        sched.step()
    saved = sched.state_dict()
    assert "optimizer" not in saved and saved["last_epoch"] == 4

    opt2 = _optimizer(tracegrad)
    sched2 = lr_scheduler.CosineAnnealingLR(opt2, T_max=10)
    sched2.load_state_dict(saved)
    for g, g2 in zip(opt.param_groups, opt2.param_groups):
        g2["lr"] = g["lr"]  # the optimizer's own state_dict carries the lrs
    for _ in range(8):
        for o, s in ((opt, sched), (opt2, sched2)):
            o.step()
            s.step()
        assert sched.get_last_lr() == sched2.get_last_lr()


def test_lambda_lr_state_dict_keeps_callable_objects():
    class Decay:
        def __init__(self):
            self.rate = 0.5

        def __call__(self, e):
            return self.rate**e

    opt = _optimizer(tracegrad)
    fn = Decay()
    sched = lr_scheduler.LambdaLR(opt, [fn, _lambda_b])
    fn.rate = 0.25
    saved = sched.state_dict()
    assert saved["lr_lambdas"] == [{"rate": 0.25}, None]
    fn2 = Decay()
    sched2 = lr_scheduler.LambdaLR(_optimizer(tracegrad), [fn2, _lambda_b])
    sched2.load_state_dict(saved)
    assert fn2.rate == 0.25


def test_step_with_epoch_uses_closed_form_and_warns():
    opt = _optimizer(tracegrad)
    sched = lr_scheduler.ExponentialLR(opt, gamma=0.5)
    opt.step()
    with pytest.warns(UserWarning, match="epoch parameter"):
        sched.step(3)
    assert sched.get_last_lr() == [0.1 * 0.125, 0.02 * 0.125]


def test_errors():
    opt = _optimizer(tracegrad)
    with pytest.raises(TypeError, match="is not an Optimizer"):
        lr_scheduler.StepLR(object(), step_size=1)
    with pytest.raises(ValueError, match="Expected 2 lr_lambdas, but got 1"):
        lr_scheduler.LambdaLR(opt, [_lambda_a])
    with pytest.raises(ValueError, match="You must define either total_steps OR"):
        lr_scheduler.OneCycleLR(opt, max_lr=0.1)
    with pytest.raises(ValueError, match="Expected positive integer total_steps"):
        lr_scheduler.OneCycleLR(opt, max_lr=0.1, total_steps=0)
    with pytest.raises(ValueError, match="anneal_strategy must be one of"):
        lr_scheduler.OneCycleLR(opt, max_lr=0.1, total_steps=5, anneal_strategy="exp")
    with pytest.raises(ValueError, match="max_lr must have the same length"):
        lr_scheduler.OneCycleLR(opt, max_lr=[0.1], total_steps=5)
    with pytest.raises(ValueError, match="optimizer must support momentum or beta1"):
        lr_scheduler.OneCycleLR(optim.Adagrad([tracegrad.ones(1, requires_grad=True)]), 0.1, 5)
    with pytest.raises(ValueError, match="Factor should be < 1.0."):
        lr_scheduler.ReduceLROnPlateau(opt, factor=1.0)
    with pytest.raises(ValueError, match="mode avg is unknown!"):
        lr_scheduler.ReduceLROnPlateau(opt, mode="avg")
    with pytest.raises(ValueError, match="expected 2 min_lrs, got 3"):
        lr_scheduler.ReduceLROnPlateau(opt, min_lr=[0, 0, 0])


def test_no_warnings_in_ordinary_use():
    opt = _optimizer(tracegrad)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        sched = lr_scheduler.StepLR(opt, step_size=1)
        opt.step()
        sched.step()
