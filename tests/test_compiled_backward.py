"""Compiled eager backward (``autograd/compiled.py``): same gradients as the node-by-node engine
on the whole op registry, the cache policy and counters, and the cases that must fall back."""

from __future__ import annotations

import logging

import numpy as np
import pytest

import tracegrad as tg
from tracegrad.autograd import compiled
from tracegrad.ops import REGISTRY

from .samples import draw_cotangent, load_all

pytestmark = pytest.mark.eager_only  # lazy mode runs every backward node by node, recorded

SAMPLES = load_all()


@pytest.fixture(autouse=True)
def _fresh_cache():
    before = tg.is_compiled_backward_enabled()
    tg.set_compiled_backward(True)
    compiled.clear_cache()
    compiled.reset_stats()
    yield
    tg.set_compiled_backward(before)
    compiled.clear_cache()


def _is_diff(a) -> bool:
    return isinstance(a, np.ndarray) and a.dtype.kind == "f"


def _first_differentiable(name):
    """One sample per op (compiling one program per sample is the cost of this test): the first
    with a float operand."""
    for s in SAMPLES[name]:
        if any(_is_diff(a) for a in s.args):
            return s
    return None


def _cases():
    for name in sorted(SAMPLES):
        if REGISTRY[name].differentiable and _first_differentiable(name) is not None:
            yield pytest.param(name, id=name)


def _grads(op, sample, dtype):
    """Leaf gradients of ``op(*sample)`` seeded with a fixed cotangent, in ``dtype``."""
    args = [a.astype(dtype) if _is_diff(a) else a for a in sample.args]
    tensors = [
        tg.tensor(a, requires_grad=_is_diff(a)) if isinstance(a, np.ndarray) else a for a in args
    ]
    out = op(*tensors, **sample.params)
    if not out.requires_grad:
        return None
    out.backward(tg.tensor(draw_cotangent(out.detach(), np.random.default_rng(1), sample)))
    return [np.asarray(t.grad) if t.grad is not None else None for t in tensors if _is_diff_t(t)]


def _is_diff_t(t) -> bool:
    return isinstance(t, tg.Tensor) and t.requires_grad


TOL = {np.float64: dict(rtol=1e-12, atol=1e-12), np.float32: dict(rtol=1e-6, atol=1e-6)}


@pytest.mark.slow
@pytest.mark.parametrize("dtype", [np.float64, np.float32], ids=["f64", "f32"])
@pytest.mark.parametrize("name", list(_cases()))
def test_compiled_matches_eager_on_registry(name, dtype):
    op, sample = REGISTRY[name], _first_differentiable(name)
    tg.set_compiled_backward(False)
    expected = _grads(op, sample, dtype)
    if expected is None:
        pytest.skip("output does not require grad")
    tg.set_compiled_backward(True)
    first = _grads(op, sample, dtype)  # seen once: node by node
    assert compiled.stats()["compiles"] == 0
    second = _grads(op, sample, dtype)  # seen twice: compiled
    s = compiled.stats()
    assert s["compiles"] == 1 and s["fallbacks"] == 0, s
    third = _grads(op, sample, dtype)  # a cache hit
    assert compiled.stats()["hits"] == 1
    for got in (first, second, third):
        for g, e in zip(got, expected):
            assert (g is None) == (e is None)
            if e is not None:
                assert g.dtype == e.dtype and g.shape == e.shape
                np.testing.assert_allclose(g, e, **TOL[dtype])


# ------------------------------------------------------------------------------- cache and policy
def _mlp_loss(x, w, b, v):
    """A small graph with broadcasting, a shared weight, a scalar operand and a reduction."""
    h = tg.tanh(x @ w + b)
    return ((h @ w.t() * 0.5) * v).sum() + (w * w).mean()


def _params(rng, n=4):
    w = tg.tensor(rng.standard_normal((n, n)), requires_grad=True)
    b = tg.tensor(rng.standard_normal(n), requires_grad=True)
    v = tg.tensor(rng.standard_normal(n), requires_grad=True)
    return w, b, v


def test_repeated_graph_compiles_once_then_hits():
    rng = np.random.default_rng(0)
    w, b, v = _params(rng)
    x = tg.tensor(rng.standard_normal((3, 4)))
    for _ in range(5):
        _mlp_loss(x, w, b, v).backward()
    s = compiled.stats()
    assert (s["misses"], s["compiles"], s["hits"], s["fallbacks"]) == (2, 1, 3, 0)
    assert s["compile_seconds"] > 0 and s["cached"] == 1
    # Accumulated five times: equal to 5x the node-by-node gradient.
    tg.set_compiled_backward(False)
    w2, b2, v2 = (tg.tensor(np.asarray(p), requires_grad=True) for p in (w, b, v))
    _mlp_loss(x, w2, b2, v2).backward()
    for p, q in zip((w, b, v), (w2, b2, v2)):
        np.testing.assert_allclose(np.asarray(p.grad), 5 * np.asarray(q.grad), rtol=1e-12)


def test_changed_shape_is_a_new_signature(caplog):
    rng = np.random.default_rng(0)
    w, b, v = _params(rng)
    with caplog.at_level(logging.INFO, logger="tracegrad.compile"):
        for batch in (3, 3, 5, 5, 5):
            _mlp_loss(tg.tensor(rng.standard_normal((batch, 4))), w, b, v).backward()
    s = compiled.stats()
    assert (s["misses"], s["compiles"], s["hits"]) == (4, 2, 1)
    messages = [r.getMessage() for r in caplog.records]
    assert len(messages) == 2
    assert "first seen" in messages[0] and "shapes/dtypes changed" in messages[1]


def test_changed_scalar_is_a_new_signature():
    x = tg.tensor([1.0, 2.0], requires_grad=True)
    for c in (2.0, 2.0, 3.0, 3.0):
        (x * c).sum().backward()
    assert compiled.stats()["compiles"] == 2
    np.testing.assert_array_equal(np.asarray(x.grad), [10.0, 10.0])


def test_switch_off_never_compiles():
    tg.set_compiled_backward(False)
    assert not tg.is_compiled_backward_enabled()
    x = tg.tensor([1.0, 2.0], requires_grad=True)
    for _ in range(3):
        (x * x).sum().backward()
    assert compiled.stats()["misses"] == 0 and compiled.stats()["compiles"] == 0
    np.testing.assert_array_equal(np.asarray(x.grad), [6.0, 12.0])


# ----------------------------------------------------------------------------------- semantics
def test_retain_grad_is_compiled():
    x = tg.tensor([1.0, -2.0, 3.0], requires_grad=True)
    for _ in range(3):
        x.grad = None
        h = x * 3.0
        h.retain_grad()
        (h * h).sum().backward()
        np.testing.assert_allclose(np.asarray(h.grad), 2 * 3 * np.array([1.0, -2.0, 3.0]))
        np.testing.assert_allclose(np.asarray(x.grad), 18 * np.array([1.0, -2.0, 3.0]))
    assert compiled.stats()["hits"] == 1


def test_retain_graph_and_freed_graph_error():
    x = tg.tensor([1.0, 2.0], requires_grad=True)
    for _ in range(2):  # the second iteration compiles
        y = (x.exp() * x).sum()
        y.backward(retain_graph=True)
        y.backward()
        with pytest.raises(RuntimeError, match="backward through the graph a second time"):
            y.backward()
    assert compiled.stats()["compiles"] == 1
    e = np.exp([1.0, 2.0])
    np.testing.assert_allclose(np.asarray(x.grad), 4 * (e + e * [1.0, 2.0]))


def test_modified_saved_tensor_raises_before_accumulating():
    x = tg.tensor([1.0, 2.0], requires_grad=True)
    for _ in range(2):
        (x.sin() * 2).sum().backward()
    before = np.asarray(x.grad).copy()
    y = x * 1.0
    z = y.exp()
    with tg.no_grad():
        y.mul_(2)  # exp saved its output, not y: still fine
    loss = (z * y).sum()
    loss2 = (y * y).sum()
    with tg.no_grad():
        y.add_(1)  # y is saved by both muls
    for _ in range(2):
        with pytest.raises(RuntimeError, match="modified by an inplace operation"):
            loss2.backward(retain_graph=True)
    with pytest.raises(RuntimeError, match="modified by an inplace operation"):
        loss.backward()
    np.testing.assert_array_equal(np.asarray(x.grad), before)


def test_accumulates_into_existing_grad():
    x = tg.tensor([1.0, 2.0], requires_grad=True)
    x.grad = tg.tensor([10.0, 20.0])
    alias = x.grad
    for _ in range(3):
        (x * x).sum().backward()
    np.testing.assert_allclose(np.asarray(x.grad), [16.0, 32.0])
    assert x.grad is alias  # in place, as the node-by-node engine does
    assert compiled.stats()["hits"] == 1


def test_hooks_function_create_graph_fall_back():
    x = tg.tensor([1.0, 2.0], requires_grad=True)
    seen = []
    handle = x.register_hook(lambda g: seen.append(g) or g * 2)
    for _ in range(3):
        (x * x).sum().backward()
    assert len(seen) == 3 and compiled.stats()["fallbacks"] == 3
    np.testing.assert_allclose(np.asarray(x.grad), 3 * 2 * np.array([2.0, 4.0]))
    handle.remove()

    y = tg.tensor([1.0, 2.0], requires_grad=True)
    for _ in range(3):  # a node pre-hook (register_hook on a non-leaf)
        h = y * 2
        h.register_hook(lambda g: g * 10)
        h.sum().backward()
    np.testing.assert_allclose(np.asarray(y.grad), [60.0, 60.0])

    class Square(tg.autograd.Function):
        @staticmethod
        def forward(ctx, a):
            ctx.save_for_backward(a)
            return a * a

        @staticmethod
        def backward(ctx, g):
            (a,) = ctx.saved_tensors
            return 2 * a * g

    z = tg.tensor([3.0], requires_grad=True)
    for _ in range(3):
        Square.apply(z).sum().backward()
    np.testing.assert_allclose(np.asarray(z.grad), [18.0])

    compiled.reset_stats()
    w = tg.tensor([3.0], requires_grad=True)
    for _ in range(3):
        (w**3).sum().backward(create_graph=True)
    assert compiled.stats()["misses"] == 0 and compiled.stats()["compiles"] == 0
    np.testing.assert_allclose(np.asarray(w.grad.detach()), [3 * 27.0])
    # The graph create_graph built is an ordinary graph: its own plain backward may compile.
    for _ in range(3):
        w.grad = None
        (g,) = tg.autograd.grad((w**3).sum(), w, create_graph=True)
        g.sum().backward()
        np.testing.assert_allclose(np.asarray(w.grad), [18.0])
    assert compiled.stats()["compiles"] == 1


def test_a_first_backward_inside_a_jax_trace_does_not_poison_the_cache():
    """The compiled backward tells concrete arrays from tracers by the type of a concrete array.
    Taken the first time inside ``jax.jit`` (as a jitted test does), that type was the tracer's,
    and a later traced backward ran a cached executable on tracers. A fresh process, so the
    first backward really is the traced one."""
    import subprocess
    import sys
    import textwrap

    script = textwrap.dedent(
        """
        import jax, jax.numpy as jnp
        import tracegrad as tg

        def step(a):
            x = tg.tensor(a, requires_grad=True)
            (x * x).sum().backward()
            return jnp.asarray(x.grad)

        for _ in range(8):  # traced each time: must run node by node, never compile on tracers
            print(jax.jit(step)(jnp.arange(3.0)).tolist())
        for _ in range(8):  # concrete: compiled and cached as usual
            step(jnp.arange(3.0))
        print(tg.autograd.compiled.stats()["hits"] > 0)
        """
    )
    import os

    env = {**os.environ, "TRACEGRAD_LAZY": "0"}  # the compiled backward is eager mode's
    out = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=300, env=env
    )
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.split() == ["[0.0,", "2.0,", "4.0]"] * 8 + ["True"]
