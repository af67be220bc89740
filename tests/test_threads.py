"""Threads: tracing state is per thread, shared caches are safe to use from several threads.

A ``tracegrad.compile`` trace in one thread must not be seen by another: not its tape, not its
random key, not its switching the compiled backward off. Several threads training models of their
own -- compiled, eager, eager with the compiled backward -- must give bit for bit the results of
running them one after the other.
"""

from __future__ import annotations

import threading

import numpy as np
import pytest

import tracegrad as tg
import tracegrad.nn.functional as F
from tracegrad import nn, optim
from tracegrad.autograd import compiled as compiled_backward

STEPS = 12
# compiled: a whole step under tracegrad.compile; module: compile(model) with eager backward and
# step; eager: backward(inputs=...) runs node by node; eager+cb: plain backward(), compiled from
# its second call.
KINDS = ("compiled", "compiled", "module", "eager", "eager+cb")


def arr(t) -> np.ndarray:
    return np.asarray(t._storage.array)


def make_worker(i: int, kind: str):
    """A model, optimizer and data of its own for worker ``i``, and a function that trains it
    for ``STEPS`` steps and returns its parameters. Built in the calling thread."""
    tg.manual_seed(100 + i)
    width = 16 + 4 * i
    model = nn.Sequential(nn.Linear(8, width), nn.Tanh(), nn.Linear(width, 3))
    opt = optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
    rng = np.random.RandomState(i)
    batches = [
        (tg.tensor(rng.randn(10, 8).astype(np.float32)), tg.tensor(rng.randint(0, 3, size=10)))
        for _ in range(STEPS)
    ]
    params = list(model.parameters())
    forward = tg.compile(model) if kind == "module" else model

    def step(x, y):
        opt.zero_grad()
        loss = F.cross_entropy(forward(x), y)
        if kind == "eager":
            loss.backward(inputs=params)
        else:
            loss.backward()
        opt.step()
        return loss

    if kind == "compiled":
        step = tg.compile(step)

    def train():
        losses = [step(x, y) for x, y in batches]
        return [arr(p).copy() for p in params], [float(loss) for loss in losses]

    return train


def run_all(threaded: bool):
    """Every worker's (parameters, losses), run in threads started together or one by one."""
    compiled_backward.clear_cache()
    trains = [make_worker(i, kind) for i, kind in enumerate(KINDS)]
    if not threaded:
        return [train() for train in trains], []
    results: list = [None] * len(trains)
    errors: list = []
    barrier = threading.Barrier(len(trains))

    def run(i):
        barrier.wait()
        try:
            results[i] = trains[i]()
        except BaseException as e:  # reported by the test
            errors.append((KINDS[i], repr(e)))

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(trains))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return results, errors


@pytest.mark.slow
def test_threaded_training_matches_sequential():
    was = tg.is_compiled_backward_enabled()
    tg.set_compiled_backward(True)
    try:
        sequential, _ = run_all(threaded=False)
        threaded, errors = run_all(threaded=True)
    finally:
        tg.set_compiled_backward(was)
    assert errors == []
    for kind, (params_s, losses_s), (params_t, losses_t) in zip(KINDS, sequential, threaded):
        assert losses_t == losses_s, kind
        for a, b in zip(params_s, params_t):
            np.testing.assert_array_equal(a, b, err_msg=kind)


@pytest.mark.eager_only  # counts the compiled backward's hits
def test_trace_is_invisible_to_other_threads():
    """While a thread is inside a trace (held there), another thread creates layers, draws random
    numbers, trains eagerly with the compiled backward: it sees no tracer, keeps its compiled
    backward, and its random draws continue the global generator's sequence undisturbed."""
    inside, proceed = threading.Event(), threading.Event()
    w = tg.ones(4, 4, requires_grad=True)
    opt = optim.SGD([w], lr=0.1)

    def traced_step(x):
        inside.set()
        assert proceed.wait(60)
        opt.zero_grad()
        loss = (x @ w).square().sum()
        loss.backward()
        opt.step()
        return loss

    step = tg.compile(traced_step)
    errors: list = []

    def tracing_thread():
        try:
            step(tg.ones(2, 4))
        except BaseException as e:
            errors.append(repr(e))

    was = tg.is_compiled_backward_enabled()
    tg.set_compiled_backward(True)
    compiled_backward.clear_cache()
    t = threading.Thread(target=tracing_thread)
    t.start()
    try:
        assert inside.wait(60)
        tg.manual_seed(7)
        draws = [arr(tg.randn(3))]
        layer = nn.Linear(4, 2)
        assert isinstance(arr(layer.weight), np.ndarray)  # concrete, not a tracer
        assert tg.is_compiled_backward_enabled()
        sgd = optim.SGD(layer.parameters(), lr=0.1)
        x = tg.ones(5, 4)
        for _ in range(3):
            sgd.zero_grad()
            layer(x).square().sum().backward()
            sgd.step()
        assert compiled_backward.stats()["hits"] >= 1  # compiled while the other thread traces
        draws.append(arr(tg.randn(3)))
    finally:
        proceed.set()
        t.join()
        tg.set_compiled_backward(was)
    assert errors == []
    draws.append(arr(tg.randn(3)))  # the step drew nothing: it leaves the global key alone
    # nn.Linear's init drew between the first two draws: replay it
    tg.manual_seed(7)
    replay = [arr(tg.randn(3))]
    nn.Linear(4, 2)
    replay += [arr(tg.randn(3)), arr(tg.randn(3))]
    for a, b in zip(draws, replay):
        np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(arr(w), arr(tg.ones(4, 4)) - 0.1 * 2 * 2 * 4)


@pytest.mark.slow
def test_eager_loop_while_another_thread_traces():
    """One thread traces (a new compiled function each time) while another builds layers and
    runs eager training steps in a loop: no errors in either."""
    stop = threading.Event()
    errors: list = []
    eager_steps = [0]

    def make_step(model, opt):
        @tg.compile
        def step(x):
            opt.zero_grad()
            loss = F.dropout(model(x), 0.1).square().mean()
            loss.backward()
            opt.step()
            return loss

        return step

    def tracer():
        try:
            for i in range(6):
                model = nn.Linear(6, 3 + i)
                step = make_step(model, optim.SGD(model.parameters(), lr=0.1))
                for _ in range(2):
                    assert np.isfinite(float(step(tg.ones(4, 6))))
        except BaseException as e:
            errors.append(("tracer", repr(e)))
        finally:
            stop.set()

    def eager():
        try:
            while not stop.is_set():
                layer = nn.Linear(5, 4)
                opt = optim.SGD(layer.parameters(), lr=0.1)
                opt.zero_grad()
                loss = F.dropout(layer(tg.randn(3, 5)), 0.2).square().mean()
                loss.backward()
                opt.step()
                assert np.isfinite(float(loss))
                eager_steps[0] += 1
        except BaseException as e:
            errors.append(("eager", repr(e)))

    threads = [threading.Thread(target=tracer), threading.Thread(target=eager)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert eager_steps[0] > 0


@pytest.mark.filterwarnings("ignore:tracegrad.compile.*traced")
@pytest.mark.slow
@pytest.mark.parametrize("workers", [4])
def test_one_compiled_function_called_from_threads(workers):
    """One compiled function taking the model as an argument, called by several threads on
    models of their own (each model has programs of its own, in the function's shared cache):
    each thread gets the sequential result."""

    def train_step(model, opt, x, y):
        opt.zero_grad()
        loss = F.mse_loss(model(x), y)
        loss.backward()
        opt.step()
        return loss

    def setup(i):
        tg.manual_seed(i)
        model = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 2))
        opt = optim.Adam(model.parameters(), lr=0.01)
        rng = np.random.RandomState(i)
        data = [
            (
                tg.tensor(rng.randn(6, 4).astype(np.float32)),
                tg.tensor(rng.randn(6, 2).astype(np.float32)),
            )
            for _ in range(5)
        ]
        return model, opt, data

    def run(step, model, opt, data):
        for x, y in data:
            step(model, opt, x, y)
        return [arr(p).copy() for p in model.parameters()]

    sequential = [run(tg.compile(train_step), *setup(i)) for i in range(workers)]
    step = tg.compile(train_step)
    setups = [setup(i) for i in range(workers)]
    results: list = [None] * workers
    errors: list = []
    barrier = threading.Barrier(workers)

    def work(i):
        barrier.wait()
        try:
            results[i] = run(step, *setups[i])
        except BaseException as e:
            errors.append(repr(e))

    threads = [threading.Thread(target=work, args=(i,)) for i in range(workers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    for a, b in zip(sequential, results):
        for pa, pb in zip(a, b):
            np.testing.assert_array_equal(pa, pb)
