"""Every registered op, checked against JAX's autodiff of its own lowering (the oracle), against
float64 finite differences, and to second order. Generated from ``tracegrad.ops.REGISTRY``.

Tiers: the fast tier (``-m "not slow"``) checks every op against the oracle in float64 on one of its
samples; its other samples, float32, finite differences and second order are marked ``slow``."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import tracegrad as tg
from tracegrad.ops import REGISTRY

from .samples import draw_cotangent, load_all

SAMPLES = load_all()
TOL = {np.float32: dict(rtol=2e-4, atol=2e-5), np.float64: dict(rtol=1e-9, atol=1e-10)}
# Complex operands and results: tracegrad follows PyTorch's gradient convention and JAX the other
# one; they are related by torch_vjp(g) = conj(jax_vjp(conj(g))) (see ops/complex.py).
_COMPLEX_OF = {np.float32: np.complex64, np.float64: np.complex128}


def test_every_op_has_samples():
    missing = sorted(set(REGISTRY) - set(SAMPLES))
    assert not missing, f"ops without samples in tests/samples/: {missing}"
    unknown = sorted(set(SAMPLES) - set(REGISTRY))
    assert not unknown, f"samples for unregistered ops: {unknown}"


def _cases(tiered: bool = False):
    """Every op's samples. ``tiered``: all but one sample per op (the first with a float operand,
    else the first) are marked slow, so the fast tier still checks every op."""
    for name in sorted(SAMPLES):
        samples = SAMPLES[name]
        fast = next((i for i, s in enumerate(samples) if any(map(_is_diff, s.args))), 0)
        for i, s in enumerate(samples):
            marks = pytest.mark.slow if tiered and i != fast else ()
            yield pytest.param(name, s, id=f"{name}-{s.name or i}", marks=marks)


def _is_diff(a) -> bool:
    return isinstance(a, np.ndarray) and a.dtype.kind in "fc"


def _cast(a, dtype):
    return a.astype(_COMPLEX_OF[dtype] if a.dtype.kind == "c" else dtype)


def _setup(op, sample, dtype):
    """tracegrad operands, and the jax function of the differentiable operands."""
    args = [_cast(a, dtype) if _is_diff(a) else a for a in sample.args]
    diff = [i for i, a in enumerate(args) if _is_diff(a)]
    tensors = [
        tg.tensor(a, requires_grad=_is_diff(a) and op.differentiable)
        if isinstance(a, np.ndarray)
        else a
        for a in args
    ]

    def f(*xs):
        full = [jnp.asarray(a) if isinstance(a, np.ndarray) else a for a in args]
        for i, x in zip(diff, xs):
            full[i] = x
        return op.forward(*full, **sample.params)

    return args, diff, tensors, f


_cotangent = draw_cotangent


def _jax_oracle(f, xs):
    """``f(*xs)`` and its vjp function, by JAX's autodiff. Jitted, so each is one program (run
    primitive by primitive, each primitive is a program of its own to lower and load); eagerly
    when the lowering cannot be traced (a result shape that depends on values)."""
    try:
        ref = jax.jit(f)(*xs)
    except Exception:  # not traceable: the eager oracle (which raises if f itself fails)
        return jax.vjp(f, *xs)
    return ref, jax.jit(lambda c: jax.vjp(f, *xs)[1](c))


@pytest.mark.parametrize(
    "dtype",
    [
        pytest.param(np.float32, id="f32", marks=pytest.mark.slow),
        pytest.param(np.float64, id="f64"),
    ],
)
@pytest.mark.parametrize("name,sample", list(_cases(tiered=True)))
def test_vjp_matches_jax(name, sample, dtype):
    op = REGISTRY[name]
    args, diff, tensors, f = _setup(op, sample, dtype)
    out = op(*tensors, **sample.params)
    xs = [jnp.asarray(args[i]) for i in diff]
    ref, vjp = _jax_oracle(f, xs)
    np.testing.assert_allclose(np.asarray(out.detach()), np.asarray(ref), **TOL[dtype])
    if not op.differentiable or not diff or not (out.dtype.is_floating_point or out.is_complex()):
        assert not out.requires_grad
        return
    cot = _cotangent(ref, np.random.default_rng(1), sample)
    out.backward(tg.tensor(cot))
    expected = [np.conj(e) for e in vjp(jnp.asarray(np.conj(cot)))]
    for i, e in zip(diff, expected):
        got = tensors[i].grad
        assert got is not None, f"no gradient reached operand {i}"
        assert got.shape == tuple(e.shape) and got.dtype == tensors[i].dtype
        np.testing.assert_allclose(np.asarray(got), np.asarray(e), **TOL[dtype])


@pytest.mark.slow
@pytest.mark.parametrize("name,sample", [c for c in _cases() if c.values[1].fd])
def test_vjp_matches_finite_differences(name, sample):
    op = REGISTRY[name]
    if not op.differentiable:
        pytest.skip("not differentiable")
    args, diff, tensors, f = _setup(op, sample, np.float64)
    if not diff:
        pytest.skip("no differentiable operand")
    out = op(*tensors, **sample.params)
    rng = np.random.default_rng(2)
    cot = _cotangent(out.detach(), rng, sample)
    out.backward(tg.tensor(cot))
    dirs = [_cotangent(args[i], rng) for i in diff]
    eps = 1e-6
    plus = f(*[args[i] + eps * d for i, d in zip(diff, dirs)])
    minus = f(*[args[i] - eps * d for i, d in zip(diff, dirs)])
    # The real inner product Re(sum(conj(a) b)): PyTorch's complex gradient is its Riesz vector.
    numeric = np.real(np.sum(np.asarray(plus - minus) * np.conj(cot))) / (2 * eps)
    analytic = sum(
        np.real(np.sum(np.conj(np.asarray(tensors[i].grad)) * d)) for i, d in zip(diff, dirs)
    )
    np.testing.assert_allclose(analytic, numeric, rtol=1e-5, atol=1e-6)


@pytest.mark.slow
@pytest.mark.parametrize("name,sample", [c for c in _cases() if c.values[1].second_order])
def test_second_order_matches_jax(name, sample):
    op = REGISTRY[name]
    if not op.differentiable:
        pytest.skip("not differentiable")
    args, diff, tensors, f = _setup(op, sample, np.float64)
    if not diff:
        pytest.skip("no differentiable operand")
    if any(args[i].dtype.kind == "c" for i in diff):
        pytest.skip("complex operands: second order is checked against PyTorch in test_complex.py")
    rng = np.random.default_rng(3)
    primals = [jnp.asarray(args[i]) for i in diff]
    cot = jnp.asarray(_cotangent(f(*primals), rng, sample))
    # Real operands: JAX's cotangent is the conjugate of tracegrad's (no-op for real results).
    jcot = jnp.conj(cot)
    ws = [jnp.asarray(rng.standard_normal(p.shape)) for p in primals]

    def h(*xs):  # <vjp(cot), w>: its gradient is a Hessian-vector product
        g = jax.vjp(f, *xs)[1](jcot)
        return sum(jnp.sum(gi * w) for gi, w in zip(g, ws))

    expected = jax.grad(h, argnums=tuple(range(len(primals))))(*primals)

    out = op(*tensors, **sample.params)
    ins = [tensors[i] for i in diff]
    grads = tg.autograd.grad(out, ins, tg.tensor(np.asarray(cot)), create_graph=True)
    total = sum((g * tg.tensor(np.asarray(w))).sum() for g, w in zip(grads, ws))
    if not total.requires_grad:  # the gradient is constant in the inputs (linear ops)
        for e in expected:
            np.testing.assert_allclose(np.asarray(e), 0.0, atol=1e-9)
        return
    got = tg.autograd.grad(total, ins, allow_unused=True)
    for g, e in zip(got, expected):
        g = np.zeros(e.shape) if g is None else np.asarray(g)
        np.testing.assert_allclose(g, np.asarray(e), rtol=1e-7, atol=1e-9)
