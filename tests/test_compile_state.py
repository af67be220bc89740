"""``compile(step, state=...)``: a declared state, the cached discovery fallback, and donation by
ownership. Each compiled run is compared with the same step run eagerly."""

from __future__ import annotations

import copy
import weakref

import jax.numpy as jnp
import numpy as np
import pytest

import tracegrad as tg
import tracegrad.nn.functional as F
from tracegrad import compiler, nn, optim


def arr(t) -> np.ndarray:
    return np.asarray(t._storage.array)


def mlp_sgd():
    tg.manual_seed(0)
    model = nn.Sequential(nn.Linear(6, 8), nn.ReLU(), nn.Linear(8, 3))
    return model, optim.SGD(model.parameters(), lr=0.1, momentum=0.9)


def batches(n=4, seed=0):
    rng = np.random.default_rng(seed)
    return [
        (
            tg.tensor(rng.standard_normal((5, 6)).astype(np.float32)),
            tg.tensor(rng.integers(0, 3, 5)),
        )
        for _ in range(n)
    ]


def make_step(model, opt):
    def step(x, y):
        opt.zero_grad()
        loss = F.cross_entropy(model(x), y)
        loss.backward()
        opt.step()
        return loss

    return step


def assert_same(model_a, opt_a, model_b, opt_b):
    for a, b in zip(model_a.parameters(), model_b.parameters()):
        np.testing.assert_allclose(arr(a), arr(b), rtol=2e-5, atol=1e-6)
        np.testing.assert_allclose(arr(a.grad), arr(b.grad), rtol=2e-5, atol=1e-6)
        sa, sb = opt_a.state[a], opt_b.state[b]
        assert sa.keys() == sb.keys()
        for k in sa:
            np.testing.assert_allclose(np.asarray(sa[k]), np.asarray(sb[k]), rtol=2e-5, atol=1e-6)


def eager_run(data):
    model, opt = mlp_sgd()
    step = make_step(model, opt)
    return [step(x, y).item() for x, y in data], model, opt


@pytest.mark.slow
def test_explicit_state_matches_eager_over_steps(monkeypatch):
    data = batches()
    le, me, oe = eager_run(data)
    model, opt = mlp_sgd()
    calls = []
    monkeypatch.setattr(compiler, "_find_roots", lambda *a, **k: calls.append(a) or [])
    step = tg.compile(make_step(model, opt), state=(model, opt))
    lc = [step(x, y).item() for x, y in data]
    np.testing.assert_allclose(lc, le, rtol=2e-5)
    assert_same(me, oe, model, opt)
    assert calls == []  # no discovery with a declared state
    assert step.traces == 2  # the first call creates the gradients and momentum


def test_decorator_form_and_dict_state():
    data = batches()
    le, me, oe = eager_run(data)
    model, opt = mlp_sgd()

    @tg.compile(state={"model": model, "optimizer": opt})
    def step(x, y):
        opt.zero_grad()
        loss = F.cross_entropy(model(x), y)
        loss.backward()
        opt.step()
        return loss

    lc = [step(x, y).item() for x, y in data]
    np.testing.assert_allclose(lc, le, rtol=2e-5)
    assert_same(me, oe, model, opt)


def test_list_state_and_a_declared_loose_tensor():
    tg.manual_seed(0)
    w = tg.randn(4, requires_grad=True)
    count = tg.zeros(())

    def run(compiled: bool):
        w_, c_ = w.detach().clone().requires_grad_(True), count.clone()
        opt = optim.SGD([w_], lr=0.1)

        def step(x):
            opt.zero_grad()
            loss = (w_ * x).square().sum()
            loss.backward()
            opt.step()
            with tg.no_grad():
                c_.add_(1)
            return loss

        if compiled:
            step = tg.compile(step, state=[opt, c_])  # w_ through the optimizer
        x = tg.arange(4.0)
        losses = [step(x).item() for _ in range(3)]
        return losses, w_, c_

    le, we, ce = run(False)
    lc, wc, cc = run(True)
    np.testing.assert_allclose(lc, le, rtol=1e-6)
    np.testing.assert_allclose(arr(wc), arr(we), rtol=1e-6)
    assert cc.item() == ce.item() == 3


def test_mutating_a_tensor_outside_the_state_raises():
    model, opt = mlp_sgd()
    total = tg.zeros(())
    step = make_step(model, opt)

    def f(x, y):
        loss = step(x, y)
        with tg.no_grad():
            total.add_(loss.detach())
        return loss

    compiled = tg.compile(f, state=(model, opt))
    x, y = batches(n=1)[0]
    before = [arr(p).copy() for p in model.parameters()]
    with pytest.raises(RuntimeError, match=r"modifies a tensor of shape \[\].*state="):
        compiled(x, y)
    assert total.item() == 0.0  # left as it was, no tracer inside
    for p, b in zip(model.parameters(), before):
        np.testing.assert_array_equal(arr(p), b)


def test_a_module_buffer_outside_the_state_raises():
    tg.manual_seed(0)
    bn = nn.BatchNorm1d(6)
    model = nn.Linear(6, 3)
    opt = optim.SGD(model.parameters(), lr=0.1)

    def f(x, y):
        opt.zero_grad()
        loss = F.cross_entropy(model(bn(x)), y)
        loss.backward()
        opt.step()
        return loss

    compiled = tg.compile(f, state=(model, opt))
    with pytest.raises(
        RuntimeError, match=r"modifies a tensor of shape .*not under the declared state"
    ):
        compiled(*batches(n=1)[0])
    np.testing.assert_array_equal(arr(bn.running_mean), np.zeros(6, np.float32))


def test_a_parameter_outside_the_state_raises():
    model, opt = mlp_sgd()
    compiled = tg.compile(make_step(model, opt), state=(opt,))  # through opt: fine
    compiled(*batches(n=1)[0])
    head = nn.Linear(3, 3)

    def f(x, y):
        return make_step(model, opt)(x, y) + head(model(x)).sum()

    with pytest.raises(RuntimeError, match=r"shape \[3, 3\].*requires grad.*state="):
        tg.compile(f, state=(model, opt))(*batches(n=1)[0])


def test_an_optimizer_outside_the_state_raises():
    model, opt = mlp_sgd()
    with pytest.raises(RuntimeError, match="optimizer.*SGD.*state="):
        tg.compile(make_step(model, opt), state=model)(*batches(n=1)[0])


def test_a_constant_tensor_outside_the_state_is_read_and_guarded():
    """An outside tensor the step only reads is a constant of the program; replacing its value
    retraces, so the result is always eager's."""
    scale = tg.tensor([1.0, 2.0, 3.0])

    def f(x):
        return (x * scale).sum()

    compiled = tg.compile(f, state=())
    x = tg.ones(3)
    assert compiled(x).item() == f(x).item() == 6.0
    scale.data = tg.tensor([1.0, 1.0, 1.0])
    assert compiled(x).item() == f(x).item() == 3.0
    with tg.no_grad():
        scale.mul_(2)
    assert compiled(x).item() == f(x).item() == 6.0
    assert compiled.traces == 3
    assert "outside state=" in compiled.compile_events[-1].reason


def test_bad_state_is_refused_at_compile():
    with pytest.raises(TypeError, match=r"state\[1\] is a str"):
        tg.compile(lambda: None, state=(nn.Linear(2, 2), "model"))


def test_discovery_runs_once_and_again_after_rebinding(monkeypatch):
    calls = []
    find = compiler._find_roots
    monkeypatch.setattr(compiler, "_find_roots", lambda *a, **k: calls.append(1) or find(*a, **k))
    data = batches()
    le, me, oe = eager_run(data)
    model, opt = mlp_sgd()
    holder = {"model": model}

    @tg.compile
    def step(x, y):
        opt.zero_grad()
        loss = F.cross_entropy(holder["model"](x), y)
        loss.backward()
        opt.step()
        return loss

    lc = [step(x, y).item() for x, y in data]
    np.testing.assert_allclose(lc, le, rtol=2e-5)
    assert_same(me, oe, model, opt)
    assert len(calls) == 1
    holder["model"] = nn.Linear(6, 3)  # rebinding what the walk read discovers again
    step(*data[0])
    assert len(calls) == 2
    step(*data[0])
    assert len(calls) == 2


def test_second_call_donates_the_parameters():
    model, opt = mlp_sgd()
    step = tg.compile(make_step(model, opt), state=(model, opt))
    data = batches(n=3)
    step(*data[0])  # creates gradients and momentum
    step(*data[1])
    # Weak references: a strong one would be another holder, and the array would be copied.
    held = [weakref.ref(p._storage.array) for p in model.parameters()]
    pointers = [p._storage.array.unsafe_buffer_pointer() for p in model.parameters()]
    step(*data[2])
    assert all(r() is None or r().is_deleted() for r in held)  # donated, not copied
    assert [p._storage.array.unsafe_buffer_pointer() for p in model.parameters()] == pointers


def test_first_call_copies_arrays_it_does_not_own():
    """Arrays the user built the model from (or passed in) are never invalidated."""
    model, opt = mlp_sgd()
    mine = jnp.ones((8, 6), jnp.float32)
    with tg.no_grad():
        model[0].weight.data = tg.tensor(mine)
    step = tg.compile(make_step(model, opt), state=(model, opt))
    for x, y in batches(n=3):
        step(x, y)
    assert not mine.is_deleted()
    np.testing.assert_array_equal(np.asarray(mine), np.ones((8, 6), np.float32))


def test_arrays_handed_out_between_calls_stay_valid():
    model, opt = mlp_sgd()
    step = tg.compile(make_step(model, opt), state=(model, opt))
    data = batches(n=6)
    step(*data[0])
    step(*data[1])
    w = model[0].weight
    as_jax = jnp.asarray(w)  # the very array object
    as_numpy = w.detach().numpy()  # a view of the same buffer on CPU
    copied = copy.deepcopy(model)
    values = np.array(as_jax)
    step(*data[2])
    assert not as_jax.is_deleted()
    np.testing.assert_array_equal(np.asarray(as_jax), values)
    np.testing.assert_array_equal(as_numpy, values)
    np.testing.assert_array_equal(arr(copied[0].weight), values)
    assert not np.array_equal(arr(w), values)  # the model itself moved on
    # Ownership comes back with the next outputs: later calls donate again.
    step(*data[3])
    held = weakref.ref(w._storage.array)
    step(*data[4])
    assert held() is None or held().is_deleted()


def test_returned_state_tensor_is_not_donated_under_the_caller():
    model, opt = mlp_sgd()
    step = make_step(model, opt)

    @tg.compile(state=(model, opt))
    def f(x, y):
        return step(x, y), model[2].bias

    data = batches(n=4)
    outs = [f(x, y)[1] for x, y in data]
    for b in outs:
        assert not b._storage.array.is_deleted()
        assert np.isfinite(arr(b)).all()


def test_without_donation_nothing_is_deleted():
    model, opt = mlp_sgd()
    step = tg.compile(make_step(model, opt), state=(model, opt), donate=False)
    data = batches(n=3)
    step(*data[0])
    step(*data[1])
    held = [p._storage.array for p in model.parameters()]
    step(*data[2])
    assert not any(a.is_deleted() for a in held)


def test_a_tensor_sharing_the_array_of_a_parameter_stays_valid():
    """An op that changes nothing (a squeeze without size-1 dimensions) returns a new tensor
    holding the parameter's own array object: donating the parameter must not delete it."""
    model, opt = mlp_sgd()
    step = tg.compile(make_step(model, opt), state=(model, opt))
    data = batches(n=4)
    step(*data[0])
    step(*data[1])
    bias = model[0].bias
    with tg.no_grad():
        alias = bias.squeeze()
    assert alias is not bias and alias._storage.array is bias._storage.array
    before = np.array(alias.numpy())
    step(*data[2])
    step(*data[3])
    np.testing.assert_array_equal(alias.numpy(), before)
