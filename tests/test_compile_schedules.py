"""Schedulers and host-driven optimizers inside ``tracegrad.compile``.

* ``OneCycleLR`` / ``CyclicLR`` with ``cycle_momentum`` change ``momentum`` or ``betas[0]`` every
  step: they are program inputs (like ``lr``), so the compiled step traces at most twice, and its
  parameters match the same loop run eagerly and PyTorch's.
* ``LBFGS.step(closure)`` cannot be one program: the compiled step runs eagerly with the closure
  compiled, and gives the eager (and PyTorch's) parameters.
"""

from __future__ import annotations

import numpy as np
import pytest

import tracegrad as tg
from tracegrad import nn, optim
from tracegrad.optim import lr_scheduler

from .tiers import slow, slow_after

STEPS = 8

OPTIMIZERS = {
    "SGD": dict(lr=0.1, momentum=0.9),
    "Adam": dict(lr=0.01),
    "RMSprop": dict(lr=0.01, momentum=0.9),
    "AdamW": dict(lr=0.01),
    "NAdam": dict(lr=0.01),
    "RAdam": dict(lr=0.01),
    "Adamax": dict(lr=0.01),
}

SCHEDULERS = {
    "OneCycleLR": lambda lib, opt: lib.optim.lr_scheduler.OneCycleLR(
        opt, max_lr=0.05, total_steps=STEPS + 2
    ),
    "CyclicLR": lambda lib, opt: lib.optim.lr_scheduler.CyclicLR(
        opt, base_lr=0.001, max_lr=0.05, step_size_up=3
    ),
}

CASES = [
    ("SGD", "OneCycleLR"),
    ("Adam", "CyclicLR"),
    *[
        (o, s)
        for o in OPTIMIZERS
        for s in SCHEDULERS
        if (o, s) not in (("SGD", "OneCycleLR"), ("Adam", "CyclicLR"))
    ],
]


def data(seed: int = 0):
    rng = np.random.default_rng(seed)
    return rng.standard_normal((16, 4)).astype(np.float32), rng.standard_normal((16, 1)).astype(
        np.float32
    )


def mlp(seed: int = 0) -> nn.Module:
    tg.manual_seed(seed)
    return nn.Sequential(nn.Linear(4, 8), nn.Tanh(), nn.Linear(8, 1))


def train(opt_name: str, sched_name: str, compiled: bool):
    model = mlp()
    opt = getattr(optim, opt_name)(model.parameters(), **OPTIMIZERS[opt_name])
    sched = SCHEDULERS[sched_name](tg, opt)
    x, y = (tg.tensor(a) for a in data())

    def step(x, y):
        opt.zero_grad()
        loss = ((model(x) - y) ** 2).mean()
        loss.backward()
        opt.step()
        return loss

    f = tg.compile(step) if compiled else step
    for _ in range(STEPS):
        f(x, y)
        sched.step()
    return model, f


def torch_train(opt_name: str, sched_name: str, init: nn.Module):
    torch = pytest.importorskip("torch")
    model = torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.Tanh(), torch.nn.Linear(8, 1))
    with torch.no_grad():
        for p, q in zip(model.parameters(), init.parameters()):
            p.copy_(torch.tensor(q.detach().numpy()))
    opt = getattr(torch.optim, opt_name)(model.parameters(), **OPTIMIZERS[opt_name])
    sched = SCHEDULERS[sched_name](torch, opt)
    x, y = (torch.tensor(a) for a in data())
    for _ in range(STEPS):
        opt.zero_grad()
        loss = ((model(x) - y) ** 2).mean()
        loss.backward()
        opt.step()
        sched.step()
    return [p.detach().numpy() for p in model.parameters()]


@pytest.mark.parametrize("opt_name,sched_name", slow_after(CASES, 2, multi=True))
def test_scheduled_momentum_does_not_retrace(opt_name, sched_name):
    eager, _ = train(opt_name, sched_name, compiled=False)
    model, step = train(opt_name, sched_name, compiled=True)
    assert step.stats()["traces"] <= 2, step.explain()
    for p, q in zip(model.parameters(), eager.parameters()):
        np.testing.assert_allclose(p.detach().numpy(), q.detach().numpy(), rtol=1e-6, atol=1e-7)
    if opt_name in ("SGD", "RMSprop"):  # the scheduler did drive the momentum
        assert step.stats()["traces"] == 2
    expected = torch_train(opt_name, sched_name, mlp())
    for p, q in zip(model.parameters(), expected):
        np.testing.assert_allclose(p.detach().numpy(), q, rtol=1e-5, atol=1e-6)


def test_momentum_scheduled_to_zero_and_back():
    """``momentum != 0`` decides whether SGD uses its buffer: a structural fact (a retrace
    when it flips), while the value itself is an input. The results are eager's."""
    schedule = [0.9, 0.5, 0.0, 0.0, 0.3, 0.9, 0.7]

    def run(compiled: bool):
        model = mlp()
        opt = optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
        x, y = (tg.tensor(a) for a in data())

        def step(x, y):
            opt.zero_grad()
            ((model(x) - y) ** 2).mean().backward()
            opt.step()

        f = tg.compile(step) if compiled else step
        for m in schedule:
            opt.param_groups[0]["momentum"] = m
            f(x, y)
        return model, opt, f

    eager, eager_opt, _ = run(False)
    model, opt, step = run(True)
    for p, q in zip(model.parameters(), eager.parameters()):
        np.testing.assert_allclose(p.detach().numpy(), q.detach().numpy(), rtol=1e-6, atol=1e-7)
    for p, q in zip(model.parameters(), eager.parameters()):
        np.testing.assert_allclose(
            opt.state[p]["momentum_buffer"].numpy(),
            eager_opt.state[q]["momentum_buffer"].numpy(),
            rtol=1e-6,
            atol=1e-7,
        )
    # first call, steady state, momentum 0 (no buffer read), nonzero again: no more
    assert step.stats()["traces"] <= 4, step.explain()


class _FloatMomentumSGD(optim.SGD):
    """An SGD subclass whose rule reads its momentum as a Python number."""

    def _update_group(self, group):
        if group["momentum"] > 0.95:
            raise AssertionError("unused")
        super()._update_group(group)


@slow
def test_optimizer_reading_momentum_as_a_float_keys_it_instead():
    def run(compiled: bool):
        model = mlp()
        opt = _FloatMomentumSGD(model.parameters(), lr=0.1, momentum=0.9)
        sched = lr_scheduler.OneCycleLR(opt, max_lr=0.05, total_steps=5)
        x, y = (tg.tensor(a) for a in data())

        def step(x, y):
            opt.zero_grad()
            ((model(x) - y) ** 2).mean().backward()
            opt.step()

        f = tg.compile(step) if compiled else step
        for _ in range(3):
            f(x, y)
            sched.step()
        return model, f

    eager, _ = run(False)
    model, step = run(True)
    for p, q in zip(model.parameters(), eager.parameters()):
        np.testing.assert_allclose(p.detach().numpy(), q.detach().numpy(), rtol=1e-6, atol=1e-7)
    assert step.stats()["traces"] >= 3  # keyed: each new momentum retraces, as before


# ----------------------------------------------------------------------------- LBFGS


def _sequence(lib):
    """The time-series example's model, smaller: an LSTMCell unrolled over time, then Linear
    (in ``lib``: tracegrad or torch)."""

    class Sequence(lib.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.lstm = lib.nn.LSTMCell(1, 6)
            self.linear = lib.nn.Linear(6, 1)

        def forward(self, x):
            h = lib.zeros(x.size(0), 6, dtype=lib.double)
            c = lib.zeros(x.size(0), 6, dtype=lib.double)
            outputs = []
            for xt in x.split(1, dim=1):
                h, c = self.lstm(xt, (h, c))
                outputs.append(self.linear(h))
            return lib.cat(outputs, dim=1)

    return Sequence().double()


def _mlp(lib):
    return lib.nn.Sequential(lib.nn.Linear(11, 8), lib.nn.Tanh(), lib.nn.Linear(8, 11)).double()


def _series():
    t = np.arange(12, dtype=np.float64)
    x = np.stack([np.sin(t / 3 + k) for k in range(3)])
    return x[:, :-1], x[:, 1:]


def _lbfgs_model(kind: str) -> nn.Module:
    tg.manual_seed(0)
    return _sequence(tg) if kind == "lstm" else _mlp(tg)


def lbfgs_train(kind: str, line_search_fn, compiled: bool, steps: int = 3):
    model = _lbfgs_model(kind)
    opt = optim.LBFGS(model.parameters(), lr=0.8, max_iter=8, line_search_fn=line_search_fn)
    x, y = (tg.tensor(a) for a in _series())
    losses = []

    def step():
        def closure():
            opt.zero_grad()
            loss = ((model(x) - y) ** 2).mean()
            loss.backward()
            return loss

        return opt.step(closure)

    f = tg.compile(step) if compiled else step
    for _ in range(steps):
        losses.append(float(f()))
    return model, opt, f, losses


def torch_lbfgs(kind: str, line_search_fn, init: nn.Module, steps: int = 3):
    torch = pytest.importorskip("torch")
    model = _sequence(torch) if kind == "lstm" else _mlp(torch)
    with torch.no_grad():
        for p, q in zip(model.parameters(), init.parameters()):
            p.copy_(torch.tensor(q.detach().numpy()))
    opt = torch.optim.LBFGS(model.parameters(), lr=0.8, max_iter=8, line_search_fn=line_search_fn)
    x, y = (torch.tensor(a) for a in _series())

    def closure():
        opt.zero_grad()
        loss = ((model(x) - y) ** 2).mean()
        loss.backward()
        return loss

    losses = [opt.step(closure).item() for _ in range(steps)]
    return [p.detach().numpy() for p in model.parameters()], losses


LBFGS_CASES = [("mlp", None), ("lstm", "strong_wolfe"), ("mlp", "strong_wolfe"), ("lstm", None)]


@pytest.mark.parametrize("kind,line_search_fn", slow_after(LBFGS_CASES, 1, multi=True))
def test_lbfgs_in_a_compiled_step_runs_eagerly_with_a_compiled_closure(kind, line_search_fn):
    eager, _, _, eager_losses = lbfgs_train(kind, line_search_fn, compiled=False)
    model, opt, step, losses = lbfgs_train(kind, line_search_fn, compiled=True, steps=2)
    report = step.explain()
    assert "runs eagerly: LBFGS.step needs host values between closure evaluations" in report
    assert "compiled closure" in report
    assert step.compile_events[-1].cause == "eager"
    before = step.stats(), [c.stats()["traces"] for c in step._closures]
    assert len(step._closures) == 1 and before[1][0] >= 1
    losses.append(float(step()))  # a third step compiles nothing new
    assert (step.stats(), [c.stats()["traces"] for c in step._closures]) == before
    np.testing.assert_allclose(losses, eager_losses, rtol=1e-10)
    for p, q in zip(model.parameters(), eager.parameters()):
        np.testing.assert_allclose(p.detach().numpy(), q.detach().numpy(), rtol=1e-9, atol=1e-11)
    expected, torch_losses = torch_lbfgs(kind, line_search_fn, _lbfgs_model(kind))
    np.testing.assert_allclose(losses, torch_losses, rtol=1e-8)
    for p, q in zip(model.parameters(), expected):
        np.testing.assert_allclose(p.detach().numpy(), q, rtol=1e-7, atol=1e-9)


def test_lbfgs_abandoned_trace_leaves_nothing_half_applied():
    """The trace that reaches ``LBFGS.step`` ran the step's first part (here an update of
    another tensor) under tracing; the eager run then does it exactly once."""
    x = tg.tensor([1.0, 2.0], dtype=tg.float64, requires_grad=True)
    counter = tg.zeros(1, dtype=tg.float64)
    opt = optim.LBFGS([x])

    def closure():
        opt.zero_grad()
        loss = (x * x).sum()
        loss.backward()
        return loss

    @tg.compile(state=(x, counter, opt))
    def step():
        counter.add_(1)
        return opt.step(closure)

    step()
    assert counter.tolist() == [1.0]
    assert abs(x).max().item() < 1e-6
    step()
    assert counter.tolist() == [2.0]


@slow
def test_lbfgs_closure_that_reads_a_value_runs_uncompiled():
    """A closure calling ``.item()`` cannot be traced: it runs as it is (logged in explain)."""
    x = tg.tensor([1.0, 2.0], dtype=tg.float64, requires_grad=True)
    opt = optim.LBFGS([x], max_iter=5)
    seen = []

    def closure():
        opt.zero_grad()
        loss = (x * x).sum()
        seen.append(loss.item())
        loss.backward()
        return loss

    step = tg.compile(lambda: opt.step(closure))
    step()
    assert "runs eagerly: tracing it failed (RuntimeError" in step.explain()
    assert len(seen) >= 2 and abs(x).max().item() < 1e-6
