"""Memory under changing shapes: tracegrad's own caches stay bounded when every step brings a
new input shape, their sizes are visible, and ``tracegrad.clear_caches()`` empties them (and
JAX's). Entries are counted, not bytes: RSS is too noisy to test on."""

from __future__ import annotations

import numpy as np
import pytest

import tracegrad as tg
import tracegrad.nn.functional as F
from tracegrad import _caches, nn, optim
from tracegrad.autograd import compiled as compiled_backward
from tracegrad.ops import pooling, registry, resample


@pytest.fixture
def compiled_backward_on():
    was = tg.is_compiled_backward_enabled()
    tg.set_compiled_backward(True)
    compiled_backward.clear_cache()
    compiled_backward.reset_stats()
    yield
    tg.set_compiled_backward(was)


def mlp_step():
    tg.manual_seed(0)
    model = nn.Sequential(nn.Linear(6, 8), nn.ReLU(), nn.Linear(8, 3))
    opt = optim.SGD(model.parameters(), lr=0.1)
    rng = np.random.RandomState(0)

    def step(batch):
        x = tg.tensor(rng.randn(batch, 6).astype(np.float32))
        y = tg.tensor(rng.randint(0, 3, size=batch))
        opt.zero_grad()
        loss = F.cross_entropy(model(x), y)
        loss.backward()
        opt.step()
        return float(loss)

    return step


@pytest.mark.slow
def test_compiled_backward_cache_is_bounded_and_reported(monkeypatch, compiled_backward_on):
    monkeypatch.setattr(compiled_backward, "CACHE_SIZE", 3)
    monkeypatch.setattr(compiled_backward, "_SEEN_SIZE", 4)
    step = mlp_step()
    for batch in range(2, 9):  # 7 shapes, each seen twice: compiled at its second step
        step(batch)
        step(batch)
        info = compiled_backward.stats()
        assert info["cached"] <= 3 and info["executables"] <= 3 and info["seen"] <= 4
    assert info["compiles"] == 7
    assert info["cached"] == info["executables"] == 3
    for batch in range(20, 26):  # seen once each: remembered, not compiled
        step(batch)
    assert compiled_backward.stats()["seen"] == 4
    assert _caches.sizes()["tracegrad.autograd.compiled._cache"] == 3


@pytest.mark.filterwarnings("ignore:tracegrad.compile.*traced")
def test_compiled_function_cache_is_bounded_and_reported(monkeypatch):
    from tracegrad import compiler

    monkeypatch.setattr(compiler, "CACHE_SIZE", 3)
    tg.manual_seed(0)
    model = nn.Linear(4, 2)
    opt = optim.SGD(model.parameters(), lr=0.1)

    @tg.compile
    def step(x):
        opt.zero_grad()
        loss = model(x).square().mean()
        loss.backward()
        opt.step()
        return loss

    for batch in range(1, 8):
        step(tg.ones(batch, 4))
    info = step.stats()
    assert info["programs"] == 3 and info["executables"] == 3
    assert info["traces"] >= 7
    assert info["compile_seconds"] > 0


def test_shape_keyed_tables_are_bounded():
    before = _caches.sizes()
    for n in range(1, 200):
        pooling._adaptive_bounds(n, 7)
        resample._pad_rows(n, 1, 2, "reflect")
    sizes = _caches.sizes()
    assert sizes["tracegrad.ops.pooling._adaptive_bounds"] == pooling._TABLES
    assert sizes["tracegrad.ops.resample._pad_rows"] == pooling._TABLES
    assert before.keys() == sizes.keys()
    assert all(n <= 4096 for n in sizes.values())


def test_promotion_cache_is_bounded(monkeypatch):
    monkeypatch.setattr(registry, "_PROMOTION_LIMIT", 3)
    registry._PROMOTION_CACHE.clear()
    x = tg.ones(3)
    for other in (1, 2.0, True, tg.ones(3, dtype=tg.float64), tg.ones((), dtype=tg.int32)):
        x + other
        assert len(registry._PROMOTION_CACHE) <= 3
    assert (x + 1.5).tolist() == [2.5, 2.5, 2.5]


@pytest.mark.slow
def test_clear_caches_empties_every_cache_and_everything_still_works(compiled_backward_on):
    import jax

    step = mlp_step()
    for batch in (3, 3, 4, 4):
        step(batch)
    tg.manual_seed(0)
    model = nn.Linear(4, 2)

    @tg.compile
    def compiled_step(x):
        return model(x).sum()

    compiled_step(tg.ones(2, 4))
    F.adaptive_avg_pool2d(tg.ones(1, 1, 5, 5), 2)  # a pooling table or two
    jitted = jax.jit(lambda a: a + 1)  # JAX's own caches
    jitted(jax.numpy.ones(3))
    sizes = _caches.sizes()
    assert sizes["tracegrad.autograd.compiled._cache"] >= 1
    assert sizes["tracegrad.compiler.CompiledFunction._programs"] >= 1
    assert sizes["tracegrad.ops.registry._PROMOTION_CACHE"] >= 1
    # JAX's own dispatch cache holds the call unless JAX took its slow path (then it is empty,
    # and only the clearing below is checked).
    jax_entries = jitted._cache_size()
    assert jax_entries <= 1

    tg.clear_caches(jax_caches=False)
    assert set(_caches.sizes().values()) == {0}
    assert jitted._cache_size() == jax_entries
    tg.clear_caches()
    assert jitted._cache_size() <= 0  # empty, or (-1) no cache left at all
    assert compiled_backward.stats()["cached"] == 0
    assert compiled_step.stats()["programs"] == 0

    # everything compiles again and gives the same values as before
    expected = float(model(tg.ones(2, 4)).sum())
    assert float(compiled_step(tg.ones(2, 4))) == expected
    assert compiled_step.stats()["programs"] == 1
    step(3)
    step(3)
    assert compiled_backward.stats()["cached"] == 1
