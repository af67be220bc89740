"""Lazy mode (``tracegrad.set_lazy``): ops record pending values, realized as one program when
Python reads a value. Oracles: the same code run eagerly, in float64 (equal to a few units in the
last place: XLA fuses the program's elementwise ops and may contract a multiply and an add into
one rounding), and exact values from the math."""

from __future__ import annotations

import threading

import numpy as np
import pytest

import tracegrad as tg
from tracegrad import lazy


@pytest.fixture
def lazy_mode():
    before = tg.is_lazy()
    tg.set_lazy(True)
    try:
        yield
    finally:
        tg.sync()
        tg.set_lazy(before)


def _pending() -> int:
    return lazy.stats()["pending"]


def _chain(x, w):
    h = (x @ w).tanh()
    return (h * 2 + 1).sin().sum()


def _run_chain(lazy_on: bool, data):
    tg.set_lazy(lazy_on)
    try:
        x = tg.tensor(data[0], requires_grad=True)
        w = tg.tensor(data[1], requires_grad=True)
        y = _chain(x, w)
        y.backward()
        return float(y), x.grad.numpy(), w.grad.numpy()
    finally:
        tg.set_lazy(False)


def test_ops_record_without_running_and_the_values_equal_eager():
    rng = np.random.default_rng(0)
    data = rng.standard_normal((4, 5)), rng.standard_normal((5, 3))
    eager = _run_chain(False, data)
    lazy_result = _run_chain(True, data)
    assert lazy_result[0] == pytest.approx(eager[0], rel=1e-14)
    np.testing.assert_allclose(lazy_result[1], eager[1], rtol=1e-14, atol=1e-15)
    np.testing.assert_allclose(lazy_result[2], eager[2], rtol=1e-14, atol=1e-15)


def test_pending_values_answer_shape_and_dtype_without_computing(lazy_mode):
    x = tg.ones(3, 4, dtype=tg.float64)
    y = (x * 2).sum(1, keepdim=True).expand(3, 4).t()
    assert _pending() >= 3
    assert y.shape == (4, 3) and y.dtype == tg.float64 and y.ndim == 2 and y.numel() == 12
    assert _pending() >= 3  # still nothing computed
    assert y.tolist() == [[8.0] * 3] * 4
    assert _pending() == 0


@pytest.mark.parametrize(
    "read",
    [
        lambda t: t.item(),
        lambda t: float(t),
        lambda t: bool(t > 0),
        lambda t: t.numpy(),
        lambda t: repr(t),
        lambda t: np.asarray(t),
    ],
    ids=["item", "float", "bool", "numpy", "repr", "__array__"],
)
def test_python_reading_a_value_realizes_it(lazy_mode, read):
    t = (tg.ones(()) * 3 - 1).exp()
    assert _pending() > 0
    read(t)
    assert _pending() == 0
    assert "test_lazy.py:" in lazy.stats()["last"]["where"]


def test_the_log_names_the_read_that_realized(lazy_mode):
    t = (tg.ones(()) * 3 - 1).exp()
    t.item()
    assert lazy.stats()["last"]["where"].endswith("by Tensor.item()")


def test_errors_are_raised_at_the_op_with_the_eager_message(lazy_mode):
    with pytest.raises(RuntimeError, match=r"The size of tensor a \(3\) must match"):
        tg.ones(3) + tg.ones(4)
    with pytest.raises(RuntimeError):
        tg.ones(2, 3) @ tg.ones(2, 3)


def test_a_loop_compiles_once_and_then_reuses_the_program(lazy_mode):
    w = tg.ones(8, 8, dtype=tg.float64) / 8
    x = tg.ones(2, 8, dtype=tg.float64)
    values = []
    for _ in range(4):
        values.append(float((x @ w).relu().sum()))
    compiles = lazy.stats()["compiles"]
    for _ in range(3):
        values.append(float((x @ w).relu().sum()))
    assert lazy.stats()["compiles"] == compiles
    assert values == [16.0] * 7


def test_only_values_a_tensor_holds_are_kept(lazy_mode):
    a = tg.ones(5)
    b = a * 2  # an intermediate nobody keeps
    c = b + 1
    d = c * c
    del b, c
    float(d.sum())
    last = lazy.stats()["last"]
    assert last["nodes"] == 4  # mul, add, mul, sum: all computed...
    assert last["outputs"] == 2  # ...but only d and its sum come out of the program
    assert d.tolist() == [9.0] * 5


def test_in_place_ops_and_version_checks(lazy_mode):
    x = tg.ones(3, requires_grad=True)
    y = x * 2
    z = y.exp()  # saves its output... and y for nothing; y is modified next
    y.add_(1)
    assert y.tolist() == [3.0] * 3
    w = y.sin()
    w.sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), 2 * np.cos(3.0) * np.ones(3), rtol=1e-6)
    q = x * 1
    r = q.sigmoid()  # saves its output
    r.mul_(2)
    with pytest.raises(RuntimeError, match="modified by an inplace operation"):
        r.sum().backward()
    assert z.shape == (3,)


def test_training_loop_matches_eager_step_for_step():
    def train(lazy_on):
        tg.set_lazy(lazy_on)
        try:
            tg.manual_seed(0)
            model = tg.nn.Sequential(
                tg.nn.Linear(6, 16), tg.nn.ReLU(), tg.nn.Linear(16, 3)
            ).double()
            opt = tg.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
            rng = np.random.default_rng(1)
            x = tg.tensor(rng.standard_normal((8, 6)))
            t = tg.tensor(rng.integers(0, 3, 8))
            losses = []
            for _ in range(4):
                opt.zero_grad()
                loss = tg.nn.functional.cross_entropy(model(x), t)
                loss.backward()
                opt.step()
                losses.append(loss.item())
            return losses, [p.detach().numpy() for p in model.parameters()]
        finally:
            tg.set_lazy(False)

    (l0, p0), (l1, p1) = train(False), train(True)
    np.testing.assert_allclose(l1, l0, rtol=1e-13)
    for a, b in zip(p0, p1):
        np.testing.assert_allclose(b, a, rtol=1e-12, atol=1e-14)


def test_random_draws_are_the_same_lazy_and_eager():
    def draw(lazy_on):
        tg.set_lazy(lazy_on)
        try:
            tg.manual_seed(3)
            x = tg.ones(64)
            return tg.nn.functional.dropout(x * 1, 0.5, training=True).numpy()
        finally:
            tg.set_lazy(False)

    np.testing.assert_array_equal(draw(True), draw(False))


def test_threads_record_into_their_own_graphs(lazy_mode):
    results = {}

    def work(k):
        x = tg.full((4,), float(k), dtype=tg.float64)
        for _ in range(10):
            x = x * 1.5 - 0.25
        results[k] = x.tolist()

    threads = [threading.Thread(target=work, args=(k,)) for k in range(4)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    for k in range(4):
        v = float(k)
        for _ in range(10):
            v = v * 1.5 - 0.25
        assert results[k] == [v] * 4


def test_a_value_pending_in_another_thread_is_realized_when_used(lazy_mode):
    box = {}
    th = threading.Thread(target=lambda: box.setdefault("x", tg.ones(3) * 4))
    th.start()
    th.join()
    assert (box["x"] + 1).tolist() == [5.0] * 3


def test_sync_realizes_everything(lazy_mode):
    a = tg.ones(2) + 1
    b = a * a
    assert _pending() > 0
    tg.sync()
    assert _pending() == 0
    assert type(b._storage._array) is not lazy.Pending


def test_the_node_cap_bounds_a_graph(lazy_mode, monkeypatch):
    monkeypatch.setattr(lazy, "NODE_CAP", 50)
    x = tg.zeros(3, dtype=tg.float64)
    for _ in range(120):
        x = x + 1
    assert _pending() <= 50
    assert x.tolist() == [120.0] * 3


def test_an_op_that_needs_concrete_values_runs_eagerly(lazy_mode):
    a = tg.tensor([4, 5, 6]) * 1
    with pytest.raises(RuntimeError, match="ZeroDivisionError"):
        tg.div(a, tg.tensor([1, 0, 2]), rounding_mode="trunc")
    assert tg.div(a, 2, rounding_mode="trunc").tolist() == [2, 2, 3]


def test_no_grad_retain_grad_and_hooks(lazy_mode):
    x = tg.ones(3, requires_grad=True)
    with tg.no_grad():
        assert not (x * 2).requires_grad
    y = x * 3
    y.retain_grad()
    seen = []
    y.register_hook(lambda g: seen.append(g.tolist()))
    (y * y).sum().backward()
    assert y.grad.tolist() == [6.0] * 3 and seen == [[6.0] * 3]
    assert x.grad.tolist() == [18.0] * 3


def test_compile_inside_lazy_mode(lazy_mode):
    lin = tg.nn.Linear(3, 2).double()

    @tg.compile
    def f(x):
        return lin(x).tanh().sum()

    x = tg.ones(4, 3, dtype=tg.float64)
    expected = float(lin(x).tanh().sum())
    assert float(f(x)) == pytest.approx(expected, rel=1e-14)
    assert float(f(x * 1)) == pytest.approx(expected, rel=1e-14)


def test_a_line_that_keeps_compiling_warns_and_says_why(lazy_mode, caplog):
    import logging

    caplog.set_level(logging.INFO, logger="tracegrad.compile")
    with pytest.warns(UserWarning, match=r"compiled 8 times, most often because .*shapes"):
        for n in range(1, 10):
            float((tg.ones(n) * 2).sum())
    logged = [r.getMessage() for r in caplog.records if "tracegrad.lazy" in r.getMessage()]
    assert any("shapes/dtypes changed (input 0: [1]" in m for m in logged), logged
    assert all("test_lazy.py:" in m for m in logged)


def test_clear_caches_forgets_the_programs(lazy_mode):
    float((tg.ones(3) * 5).sum())
    assert lazy.stats()["programs"] >= 1
    tg.clear_caches()
    assert lazy.stats()["programs"] == 0
    assert float((tg.ones(3) * 5).sum()) == 15.0


def test_a_training_step_is_one_program(lazy_mode):
    tg.manual_seed(0)
    model = tg.nn.Sequential(tg.nn.Linear(5, 8), tg.nn.Tanh(), tg.nn.Linear(8, 2))
    opt = tg.optim.AdamW(model.parameters(), lr=1e-2)
    x, t = tg.randn(6, 5), tg.randint(0, 2, (6,))
    per_step, compiles = [], []
    for _ in range(4):
        before = lazy.stats()["realizations"]
        opt.zero_grad()
        loss = tg.nn.functional.cross_entropy(model(x), t)
        loss.backward()
        tg.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        loss.item()
        per_step.append(lazy.stats()["realizations"] - before)
        compiles.append(lazy.stats()["compiles"])
    assert per_step == [1, 1, 1, 1]
    assert compiles[3] == compiles[2]  # the steady state compiled once (step 1 creates the state)


def test_an_optimizer_step_matches_eager():
    def run(lazy_on):
        tg.set_lazy(lazy_on)
        try:
            tg.manual_seed(0)
            lin = tg.nn.Linear(4, 3).double()
            opt = tg.optim.Adam(lin.parameters(), lr=0.1, weight_decay=0.01)
            x = tg.ones(2, 4, dtype=tg.float64)
            for _ in range(3):
                opt.zero_grad()
                lin(x).square().sum().backward()
                opt.step()
            return lin.weight.detach().numpy(), opt.state[lin.weight]["exp_avg"].numpy()
        finally:
            tg.set_lazy(False)

    (w0, m0), (w1, m1) = run(False), run(True)
    np.testing.assert_allclose(w1, w0, rtol=1e-13)
    np.testing.assert_allclose(m1, m0, rtol=1e-13)


def test_a_value_realized_inside_a_jax_trace_is_concrete(lazy_mode):
    import jax

    w = tg.ones(3) * 2  # pending

    @jax.jit
    def f(a):
        return a + jax.numpy.asarray(w.numpy().sum())

    assert float(f(jax.numpy.ones(()))) == 7.0
    assert isinstance(w._storage._array, jax.Array)
    assert not isinstance(w._storage._array, jax.core.Tracer)


def test_strict_region_raises_on_a_realization_and_leaves_the_graph_pending(lazy_mode):
    x = tg.tensor([1.0, 2.0], dtype=tg.float64, requires_grad=True)
    with lazy.strict():
        loss = (x * x).sum()
        loss.backward()  # the backward's rules record pending values too: no realization
        pending = _pending()
        read = r"realized at \S*test_lazy.py:\d+ by Tensor.item\(\)"
        with pytest.raises(lazy.RealizationError, match=read):
            loss.item()
        assert _pending() == pending  # nothing was computed, nothing was dropped
        with pytest.raises(lazy.RealizationError, match="strict region"):
            print(x.grad)
    assert loss.item() == 5.0  # after the region: realized as usual
    assert x.grad.tolist() == [2.0, 4.0]


def test_strict_allows_sync_and_nests_and_decorates(lazy_mode, monkeypatch):
    @lazy.strict()
    def step(t):
        out = t + 1
        tg.sync()  # the cut the user asks for is allowed
        assert _pending() == 0
        with lazy.strict():
            out = out * 2
        with pytest.raises(lazy.RealizationError):
            out.tolist()  # still inside the outer region
        return out

    out = step(tg.ones(2))
    assert out.tolist() == [4.0, 4.0]
    monkeypatch.setattr(lazy, "NODE_CAP", 5)
    y = tg.zeros(1)
    with lazy.strict(), pytest.raises(lazy.RealizationError, match="reached 5 nodes"):
        for _ in range(10):
            y = y + 1


def test_strict_is_per_thread(lazy_mode):
    seen = {}

    def other():
        seen["value"] = (tg.ones(1) + 1).item()  # not strict in this thread

    with lazy.strict():
        th = threading.Thread(target=other)
        th.start()
        th.join()
    assert seen["value"] == 2.0


def test_in_place_ops_on_pending_values_stay_pending(lazy_mode):
    a = tg.tensor([1.0, 2.0], dtype=tg.float64) * 2
    before = lazy.stats()["realizations"]
    a.add_(1)
    a.mul_(3)
    a += 1
    a[a > 7] = 0.5  # a masked fill: no value read
    assert lazy.stats()["realizations"] == before
    assert type(a._storage._array) is lazy.Pending
    assert a.tolist() == [0.5, 0.5]  # ((2x + 1) * 3) + 1 = [10, 16], both > 7


def test_a_model_moved_to_the_default_device_trains_as_one_program(lazy_mode):
    tg.manual_seed(0)
    model = tg.nn.Sequential(tg.nn.Linear(3, 4), tg.nn.ReLU(inplace=True), tg.nn.Linear(4, 1))
    model.to("cpu")  # committed to the device programs run on: still recorded
    opt = tg.optim.SGD(model.parameters(), lr=0.1)
    x = tg.ones(5, 3)
    tg.sync()
    before = lazy.stats()["realizations"]
    with lazy.strict():
        opt.zero_grad()
        loss = model(x).pow(2).mean()
        loss.backward()
        opt.step()
    loss.item()
    assert lazy.stats()["realizations"] == before + 1
    assert model[0].weight.device == tg.device("cpu")


def test_threads_reading_one_pending_value_at_once(lazy_mode):
    # Several threads realize the same graph (the main thread's) at once: each must wait for the
    # one computing it and then find the value, never "never computed".
    for _ in range(30):
        a = tg.ones(256) * 2 + 1
        b = (a * a).exp()
        results, errors = [], []
        barrier = threading.Barrier(4)

        def read(t=b, barrier=barrier, results=results, errors=errors):
            barrier.wait()
            try:
                results.append(float(t[0].log()) if len(results) % 2 else t.sum().item())
            except BaseException as e:
                errors.append(repr(e))

        threads = [threading.Thread(target=read) for _ in range(4)]
        for th in threads:
            th.start()
        for th in threads:
            th.join()
        assert errors == []
        assert len(results) == 4
