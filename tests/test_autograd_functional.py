"""tracegrad.autograd.functional against JAX's transforms of the same math (float64) and against
torch.autograd.functional for return structures and errors."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import tracegrad as tg
from tracegrad.autograd import functional as AF

TOL = dict(rtol=1e-12, atol=1e-12)
RNG = np.random.default_rng(1)
XN, YN, VN = RNG.uniform(-1, 1, 3), RNG.uniform(-1, 1, 3), RNG.uniform(-1, 1, 3)


def t64(a, requires_grad=False):
    return tg.tensor(np.asarray(a, dtype=np.float64), dtype=tg.float64, requires_grad=requires_grad)


def close(got, want, **kw):
    np.testing.assert_allclose(np.asarray(got.detach()), np.asarray(want), **(kw or TOL))


def scalar_tg(x, y):
    return (x.sin() * y.exp()).sum() + (x * y).pow(2).sum()


def scalar_jax(x, y):
    return (jnp.sin(x) * jnp.exp(y)).sum() + ((x * y) ** 2).sum()


def vec_tg(x):
    return x.exp() * x.sum()


def vec_jax(x):
    return jnp.exp(x) * x.sum()


X, Y, V = jnp.asarray(XN), jnp.asarray(YN), jnp.asarray(VN)


def test_vjp_jvp_single_and_tuple():
    out, g = AF.vjp(vec_tg, t64(XN), t64(VN))
    outj, fj = jax.vjp(vec_jax, X)
    close(out, outj)
    close(g, fj(V)[0])
    out, t = AF.jvp(vec_tg, t64(XN), t64(VN))
    close(t, jax.jvp(vec_jax, (X,), (V,))[1])
    out, gs = AF.vjp(scalar_tg, (t64(XN), t64(YN)))
    assert isinstance(gs, tuple) and len(gs) == 2
    for g, w in zip(gs, jax.grad(scalar_jax, argnums=(0, 1))(X, Y)):
        close(g, w)
    out, t = AF.jvp(scalar_tg, (t64(XN), t64(YN)), (t64(VN), t64(XN)))
    close(t, jax.jvp(scalar_jax, (X, Y), (V, X))[1])


@pytest.mark.parametrize("strategy", ["reverse-mode", "forward-mode"])
def test_jacobian(strategy):
    vec = strategy == "forward-mode"
    close(AF.jacobian(vec_tg, t64(XN), strategy=strategy, vectorize=vec), jax.jacrev(vec_jax)(X))
    got = AF.jacobian(
        lambda x, y: (x * y, x.sum()), (t64(XN), t64(YN)), strategy=strategy, vectorize=vec
    )
    want = jax.jacrev(lambda x, y: (x * y, x.sum()), argnums=(0, 1))(X, Y)
    assert isinstance(got, tuple) and isinstance(got[0], tuple)
    for go, wo in zip(got, want):
        for gi, wi in zip(go, wo):
            close(gi, wi)


def test_hessian_hvp_vhp():
    h = AF.hessian(lambda x: scalar_tg(x, t64(YN)), t64(XN))
    close(h, jax.hessian(lambda x: scalar_jax(x, Y))(X))
    hs = AF.hessian(scalar_tg, (t64(XN), t64(YN)))
    hj = jax.hessian(scalar_jax, argnums=(0, 1))(X, Y)
    for i in range(2):
        for j in range(2):
            close(hs[i][j], hj[i][j])
    hv = jax.jvp(jax.grad(scalar_jax, argnums=(0, 1)), (X, Y), (V, X))[1]
    for fn in (AF.hvp, AF.vhp):  # the Hessian is symmetric
        value, r = fn(scalar_tg, (t64(XN), t64(YN)), (t64(VN), t64(XN)))
        close(value, scalar_jax(X, Y))
        for g, w in zip(r, hv):
            close(g, w)


@pytest.mark.parametrize("strategy", ["reverse-mode", "forward-mode"])
def test_vectorized_jacobian_and_hessian(strategy):
    # vectorize=True: one vmap of the backward over the identity basis, the same numbers.
    close(AF.jacobian(vec_tg, t64(XN), vectorize=True, strategy=strategy), jax.jacrev(vec_jax)(X))
    if strategy == "reverse-mode":
        got = AF.jacobian(vec_tg, t64(XN), vectorize=True, create_graph=True)  # the loop
        assert got.requires_grad
        close(got, jax.jacrev(vec_jax)(X))
    hs = AF.hessian(scalar_tg, (t64(XN), t64(YN)), vectorize=True, outer_jacobian_strategy=strategy)
    hj = jax.hessian(scalar_jax, argnums=(0, 1))(X, Y)
    for i in range(2):
        for j in range(2):
            close(hs[i][j], hj[i][j])
    x = t64(np.zeros(0))
    assert AF.jacobian(lambda x: x * 2, x, vectorize=True, strategy=strategy).shape == (0, 0)


def test_create_graph_and_detached_results():
    x = t64(XN, requires_grad=True)
    _, g = AF.vjp(lambda x: (x**3).sum(), x)
    assert not g.requires_grad
    _, g = AF.vjp(lambda x: (x**3).sum(), x, create_graph=True)
    assert g.requires_grad
    g.sum().backward()
    close(x.grad, 6 * XN)
    h = AF.hessian(lambda x: (x**3).sum(), t64(XN, requires_grad=True), create_graph=True)
    assert h.requires_grad


def test_strict_mode_errors():
    with pytest.raises(
        RuntimeError, match="Output 0 of the user-provided function does not require"
    ):
        AF.vjp(lambda x: t64(YN), t64(XN), t64(YN), strict=True)
    with pytest.raises(RuntimeError, match="independent of input 1"):
        AF.vjp(lambda x, y: x * 2, (t64(XN), t64(YN)), t64(XN), strict=True)
    with pytest.raises(RuntimeError, match="independent of input 1"):
        AF.jacobian(lambda x, y: x * 2, (t64(XN), t64(YN)), strict=True)
    _, g = AF.vjp(lambda x, y: x * 2, (t64(XN), t64(YN)), t64(XN))
    close(g[1], np.zeros(3))
    with pytest.raises(RuntimeError, match="jacobian of the user-provided function"):
        AF.hessian(lambda x: x.sum(), t64(XN), strict=True)


def test_argument_errors():
    with pytest.raises(TypeError, match="must be either a Tensor or a tuple of Tensors"):
        AF.vjp(vec_tg, [t64(XN)])
    with pytest.raises(RuntimeError, match="v can only be None"):
        AF.vjp(vec_tg, t64(XN))
    with pytest.raises(RuntimeError, match="v has invalid size"):
        AF.vjp(vec_tg, t64(XN), t64(np.ones(2)))
    with pytest.raises(RuntimeError, match="should return a single Tensor"):
        AF.hvp(lambda x: (x.sum(), x.sum()), t64(XN), t64(VN))
    with pytest.raises(NotImplementedError, match="vectorize=True"):
        AF.jacobian(vec_tg, t64(XN), strategy="forward-mode")
    with pytest.raises(AssertionError):
        AF.jacobian(vec_tg, t64(XN), strategy="sideways")


def test_structures_and_errors_match_torch():
    torch = pytest.importorskip("torch")
    taf = torch.autograd.functional

    def structure(tree):
        if isinstance(tree, (tuple, list)):
            return (type(tree).__name__, [structure(t) for t in tree])
        return tuple(tree.shape)

    def both(call):
        got = call(AF, tg, lambda a: t64(a))
        want = call(taf, torch, lambda a: torch.tensor(a))
        assert structure(got) == structure(want)

    both(lambda m, t, T: m.jacobian(lambda x: x.exp(), T(XN)))
    both(lambda m, t, T: m.jacobian(lambda x, y: x * y, (T(XN), T(YN))))
    both(lambda m, t, T: m.jacobian(lambda x: (x.exp(), x.sum()), T(XN)))
    both(lambda m, t, T: m.hessian(lambda x, y: (x * y).sum(), (T(XN), T(YN))))
    both(lambda m, t, T: m.hessian(lambda x: (x**3).sum(), T(XN)))
    both(lambda m, t, T: m.vjp(lambda x: (x.exp(), x), T(XN), (T(XN), T(XN))))
    both(lambda m, t, T: m.jvp(lambda x, y: x * y, (T(XN), T(YN)), (T(XN), T(YN))))
    both(lambda m, t, T: m.hvp(lambda x: (x**3).sum(), (T(XN),), (T(VN),)))
    both(lambda m, t, T: m.vhp(lambda x: (x**3).sum(), T(XN), T(VN)))
    for call in (
        lambda m, T: m.vjp(lambda x: x, T(XN)),
        lambda m, T: m.vjp(lambda x: x, [T(XN)], T(XN)),
        lambda m, T: m.jacobian(lambda x, y: x, (T(XN), T(YN)), strict=True),
        lambda m, T: m.jvp(lambda x: x, (T(XN), T(XN)), (T(XN),)),
    ):
        errors = []
        for mod, make in ((taf, torch.tensor), (AF, t64)):
            with pytest.raises(Exception) as info:
                call(mod, make)
            errors.append(info.value)
        assert type(errors[0]) is type(errors[1])
        assert str(errors[0]) == str(errors[1])
