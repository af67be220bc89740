"""tracegrad.func against JAX's transforms of the same math (the oracle) in float64, and against
torch.func for return structures and errors."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import tracegrad as tg
from tracegrad import func as F
from tracegrad.ops import REGISTRY

from .samples import load_all

TOL = dict(rtol=1e-12, atol=1e-12)


def t64(a, requires_grad=False):
    return tg.tensor(np.asarray(a, dtype=np.float64), dtype=tg.float64, requires_grad=requires_grad)


def close(got, want, **kw):
    np.testing.assert_allclose(np.asarray(got.detach()), np.asarray(want), **(kw or TOL))


RNG = np.random.default_rng(0)
XN = RNG.uniform(-1, 1, 4)
YN = RNG.uniform(-1, 1, 3)


def f_tg(x, y):
    return (x.sin() * x).sum() * (y.exp()).sum() + (x[:3] * y).tanh().sum()


def f_jax(x, y):
    return (jnp.sin(x) * x).sum() * jnp.exp(y).sum() + jnp.tanh(x[:3] * y).sum()


def vec_tg(x):
    return (x.sin() * x.cumsum(0)).exp()


def vec_jax(x):
    return jnp.exp(jnp.sin(x) * jnp.cumsum(x, 0))


# ----------------------------------------------------------------------------- grad


@pytest.mark.parametrize("argnums", [0, 1, (0, 1), (1, 0), -1])
def test_grad_argnums(argnums):
    got = F.grad(f_tg, argnums=argnums)(t64(XN), t64(YN))
    want = jax.grad(f_jax, argnums=argnums)(jnp.asarray(XN), jnp.asarray(YN))
    if isinstance(argnums, tuple):
        assert isinstance(got, tuple) and len(got) == 2
        for g, w in zip(got, want):
            close(g, w)
    else:
        close(got, want)


def test_grad_result_has_no_graph_for_plain_inputs():
    g = F.grad(f_tg)(t64(XN), t64(YN))
    assert not g.requires_grad and g.grad_fn is None


def test_grad_stays_connected_to_an_input_that_requires_grad():
    x = t64(XN, requires_grad=True)
    g = F.grad(lambda x: (x**3).sum())(x)
    assert g.requires_grad
    g.sum().backward()
    close(x.grad, 6 * XN)


def test_grad_stays_connected_to_captured_parameters():
    w = t64(2.0, requires_grad=True)
    g = F.grad(lambda x: w * (x**2).sum())(t64(XN))
    assert g.requires_grad
    g.sum().backward()
    close(w.grad, 2 * XN.sum())


def test_grad_under_no_grad_does_not_keep_the_outer_graph():
    w = t64(2.0, requires_grad=True)
    with tg.no_grad():
        g = F.grad(lambda x: w * (x**2).sum())(t64(XN))
    assert not g.requires_grad
    close(g, 4 * XN)


def test_grad_and_value_has_aux_and_pytrees():
    def f(p, x):
        loss = (p["w"] * x).sum() ** 2 + p["b"][0].sin() * p["b"][1]
        return loss, {"aux": x * 2}

    p = {"w": t64(XN), "b": [t64(0.3), t64(1.5)]}
    g, (value, aux) = F.grad_and_value(f, has_aux=True)(p, t64(XN))

    def fj(p, x):
        return (p["w"] * x).sum() ** 2 + jnp.sin(p["b"][0]) * p["b"][1]

    pj = {"w": jnp.asarray(XN), "b": [jnp.asarray(0.3), jnp.asarray(1.5)]}
    vj, gj = jax.value_and_grad(fj)(pj, jnp.asarray(XN))
    assert set(g) == {"w", "b"} and isinstance(g["b"], list)
    close(g["w"], gj["w"])
    close(g["b"][0], gj["b"][0])
    close(g["b"][1], gj["b"][1])
    close(value, vj)
    close(aux["aux"], 2 * XN)
    g2, aux2 = F.grad(f, has_aux=True)(p, t64(XN))
    close(g2["w"], gj["w"])
    assert isinstance(aux2, dict)


def test_grad_of_grad_and_perturbation_confusion():
    s = t64(0.7)
    close(F.grad(F.grad(F.grad(lambda x: x.sin())))(s), -np.cos(0.7))
    # d/da [a * d/db (a b)] = d/da a^2 = 2a: the inner level must not see a as its variable.
    a = t64(1.5)
    close(F.grad(lambda a: a * F.grad(lambda b: a * b)(a))(a), 3.0)


def test_grad_of_unused_input_is_zero():
    g = F.grad(lambda x, y: (x**2).sum(), argnums=(0, 1))(t64(XN), t64(YN))
    close(g[1], np.zeros(3))
    close(F.grad(lambda x: t64(3.0))(t64(XN)), np.zeros(4))


# ----------------------------------------------------------------------------- vjp, jvp


def test_vjp_pytree_outputs():
    def f(x, y):
        return {"a": x.sin() * 2, "b": (x[:3] * y, y.exp())}

    def fj(x, y):
        return {"a": jnp.sin(x) * 2, "b": (x[:3] * y, jnp.exp(y))}

    out, fn = F.vjp(f, t64(XN), t64(YN))
    outj, fnj = jax.vjp(fj, jnp.asarray(XN), jnp.asarray(YN))
    close(out["b"][1], outj["b"][1])
    ct = {"a": t64(np.arange(4.0)), "b": (t64(YN), t64(XN[:3]))}
    ctj = {"a": jnp.arange(4.0), "b": (jnp.asarray(YN), jnp.asarray(XN[:3]))}
    got, want = fn(ct), fnj(ctj)
    assert isinstance(got, tuple) and len(got) == 2
    for g, w in zip(got, want):
        close(g, w)
    for g, w in zip(fn(ct), want):  # vjp_fn may be called again
        close(g, w)


def test_vjp_has_aux_and_errors():
    out, fn, aux = F.vjp(lambda x: (x * 2, x.sum()), t64(XN), has_aux=True)
    close(aux, XN.sum())
    with pytest.raises(RuntimeError, match="Expected pytree structure of cotangents"):
        fn((t64(XN),))
    with pytest.raises(RuntimeError, match="Mismatch in shape"):
        fn(t64(YN))
    with pytest.raises(RuntimeError, match=r"should be a tuple: \(output, aux\)"):
        F.vjp(lambda x: x, t64(XN), has_aux=True)


def test_jvp_and_linearize():
    v = RNG.uniform(-1, 1, 4)
    out, t = F.jvp(vec_tg, (t64(XN),), (t64(v),))
    outj, tj = jax.jvp(vec_jax, (jnp.asarray(XN),), (jnp.asarray(v),))
    close(out, outj)
    close(t, tj)
    out, fn = F.linearize(vec_tg, t64(XN))
    outj, fnj = jax.linearize(vec_jax, jnp.asarray(XN))
    close(out, outj)
    for _ in range(2):
        w = RNG.uniform(-1, 1, 4)
        close(fn(t64(w)), fnj(jnp.asarray(w)))


def test_jvp_two_inputs_has_aux_and_errors():
    def f(x, y):
        return x[:3] * y.sin(), {"n": y.sum()}

    out, t, aux = F.jvp(f, (t64(XN), t64(YN)), (t64(np.ones(4)), t64(np.ones(3))), has_aux=True)
    _, tj = jax.jvp(
        lambda x, y: x[:3] * jnp.sin(y),
        (jnp.asarray(XN), jnp.asarray(YN)),
        (jnp.ones(4), jnp.ones(3)),
    )
    close(t, tj)
    close(aux["n"], YN.sum())
    with pytest.raises(RuntimeError, match="Expected primals to be a tuple"):
        F.jvp(vec_tg, t64(XN), (t64(XN),))
    with pytest.raises(RuntimeError, match="same python structure"):
        F.jvp(vec_tg, (t64(XN),), [t64(XN), t64(XN)])
    with pytest.raises(RuntimeError, match="doesn't match the shape"):
        F.jvp(vec_tg, (t64(XN),), (t64(YN),))


def test_jvp_of_constant_output_is_zero():
    _, t = F.jvp(lambda x: t64(YN), (t64(XN),), (t64(XN),))
    close(t, np.zeros(3))


# ----------------------------------------------------------------------------- Jacobians


@pytest.mark.parametrize("jac", [F.jacrev, F.jacfwd])
def test_jacobians(jac):
    close(jac(vec_tg)(t64(XN)), jax.jacrev(vec_jax)(jnp.asarray(XN)))

    def g(x, y):
        return (x[:3] * y, (x**2).sum())

    def gj(x, y):
        return (x[:3] * y, (x**2).sum())

    got = jac(g, argnums=(0, 1))(t64(XN), t64(YN))
    want = jax.jacrev(gj, argnums=(0, 1))(jnp.asarray(XN), jnp.asarray(YN))
    assert isinstance(got, tuple) and isinstance(got[0], tuple)
    for go, wo in zip(got, want):
        for gi, wi in zip(go, wo):
            assert gi.shape == wi.shape
            close(gi, wi)


@pytest.mark.parametrize("jac", [F.jacrev, F.jacfwd])
def test_jacobian_has_aux_and_dict_inputs(jac):
    def f(p):
        return p["w"].sin() * p["s"], p["s"] * 3

    got, aux = jac(f, has_aux=True)({"w": t64(XN), "s": t64(0.5)})
    close(got["w"], np.diag(np.cos(XN) * 0.5))
    close(got["s"], np.sin(XN))
    close(aux, 1.5)


def test_nested_jacobians_and_hessian():
    x = jnp.asarray(XN)
    h = jax.hessian(lambda x: f_jax(x, jnp.asarray(YN)))(x)
    ftg = lambda x: f_tg(x, t64(YN))  # noqa: E731
    close(F.hessian(ftg)(t64(XN)), h, rtol=1e-11, atol=1e-12)
    close(F.jacrev(F.jacrev(ftg))(t64(XN)), h, rtol=1e-11, atol=1e-12)
    close(F.jacfwd(F.jacrev(ftg))(t64(XN)), h, rtol=1e-11, atol=1e-12)
    close(F.jacfwd(F.jacfwd(ftg))(t64(XN)), h, rtol=1e-11, atol=1e-12)
    hs = F.hessian(f_tg, argnums=(0, 1))(t64(XN), t64(YN))
    hj = jax.hessian(f_jax, argnums=(0, 1))(x, jnp.asarray(YN))
    for i in range(2):
        for j in range(2):
            close(hs[i][j], hj[i][j], rtol=1e-11, atol=1e-12)


def test_mlp_loss_hessian():
    rng = np.random.default_rng(3)
    xs, ys = rng.normal(size=(5, 3)), rng.normal(size=(5, 2))
    model = tg.nn.Sequential(tg.nn.Linear(3, 4), tg.nn.Tanh(), tg.nn.Linear(4, 2)).double()
    params = {k: v.detach() for k, v in model.named_parameters()}

    def loss(p):
        return ((F.functional_call(model, p, (t64(xs),)) - t64(ys)) ** 2).mean()

    def loss_j(p):
        h = jnp.tanh(xs @ p["0.weight"].T + p["0.bias"])
        return ((h @ p["2.weight"].T + p["2.bias"] - ys) ** 2).mean()

    pj = {k: jnp.asarray(np.asarray(v)) for k, v in params.items()}
    got = F.hessian(loss)(params)
    want = jax.hessian(loss_j)(pj)
    for a in params:
        for b in params:
            close(got[a][b], want[a][b], rtol=1e-10, atol=1e-12)
    g = F.grad(loss)(params)
    assert all(not v.requires_grad for v in g.values())


def _pair_tg(x, y):
    return (x[:3] * y).sin(), (x**2).sum()


def _pair_jax(x, y):
    return jnp.sin(x[:3] * y), (x**2).sum()


@pytest.mark.parametrize("chunk_size", [None, 1, 2, 3, 4, 100])
def test_jacrev_chunk_sizes_agree(chunk_size):
    got = F.jacrev(_pair_tg, argnums=(0, 1), chunk_size=chunk_size)(t64(XN), t64(YN))
    want = jax.jacrev(_pair_jax, argnums=(0, 1))(jnp.asarray(XN), jnp.asarray(YN))
    for go, wo in zip(got, want):
        for gi, wi in zip(go, wo):
            assert gi.shape == wi.shape
            close(gi, wi)


class _CountedSin(tg.autograd.Function):
    """``sin`` whose backward counts its calls."""

    calls = 0

    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return x.sin()

    @staticmethod
    def backward(ctx, g):
        _CountedSin.calls += 1
        (x,) = ctx.saved_tensors
        return g * x.cos()


@pytest.mark.parametrize("chunk_size, passes", [(None, 1), (4, 1), (3, 2), (1, 4)])
def test_jacrev_is_one_vmapped_backward_per_chunk(chunk_size, passes):
    # 4 rows: the backward runs once per chunk of rows (on a batch of cotangents), not per row.
    _CountedSin.calls = 0
    got = F.jacrev(lambda x: _CountedSin.apply(x) * 2, chunk_size=chunk_size)(t64(XN))
    assert _CountedSin.calls == passes
    close(got, np.diag(2 * np.cos(XN)))


def test_jacfwd_is_one_vmapped_product():
    _CountedSin.calls = 0
    got = F.jacfwd(lambda x: _CountedSin.apply(x) * 2)(t64(XN))
    close(got, np.diag(2 * np.cos(XN)))
    # the recorded first reverse pass runs the rule once; the columns are one batched pass
    # through its graph (the rule's ops, not the rule, are differentiated again).
    assert _CountedSin.calls == 1


def test_vectorized_jacobians_compose():
    x, xj = t64(XN), jnp.asarray(XN)
    ftg = lambda x: f_tg(x, t64(YN))  # noqa: E731
    h = jax.hessian(lambda x: f_jax(x, jnp.asarray(YN)))(xj)
    close(F.jacrev(F.jacrev(ftg), chunk_size=3)(x), h, rtol=1e-11, atol=1e-12)
    close(F.jacrev(F.jacrev(ftg, chunk_size=1))(x), h, rtol=1e-11, atol=1e-12)
    close(F.jacfwd(F.jacrev(ftg, chunk_size=2))(x), h, rtol=1e-11, atol=1e-12)
    close(F.hessian(ftg)(x), h, rtol=1e-11, atol=1e-12)
    xs = RNG.uniform(-1, 1, (3, 4))
    for tg_jac, jax_jac in ((F.jacfwd, jax.jacfwd), (F.jacrev, jax.jacrev)):
        close(F.vmap(tg_jac(vec_tg))(t64(xs)), jax.vmap(jax_jac(vec_jax))(jnp.asarray(xs)))
    close(
        F.vmap(F.hessian(ftg))(t64(xs)),
        jax.vmap(jax.hessian(lambda x: f_jax(x, jnp.asarray(YN))))(jnp.asarray(xs)),
        rtol=1e-11,
        atol=1e-12,
    )


def test_jacobian_of_empty_output_and_input():
    got = F.jacrev(lambda x: x[:0] * 2)(t64(XN))
    assert got.shape == (0, 4)
    got = F.jacfwd(lambda x: x.sum() * 2)(t64(np.zeros(0)))
    assert got.shape == (0,)


def test_jacrev_chunk_size_and_argnums_errors():
    with pytest.raises(ValueError, match="chunk_size"):
        F.jacrev(vec_tg, chunk_size=0)
    close(F.jacrev(vec_tg, chunk_size=2)(t64(XN)), jax.jacrev(vec_jax)(jnp.asarray(XN)))
    with pytest.raises(RuntimeError, match="Got argnum=2, but only 2 positional inputs"):
        F.grad(f_tg, argnums=2)(t64(XN), t64(YN))
    with pytest.raises(RuntimeError, match="argnums must be non-empty"):
        F.grad(f_tg, argnums=())(t64(XN), t64(YN))
    with pytest.raises(RuntimeError, match="argnums elements must be unique"):
        F.grad(f_tg, argnums=(0, 0))(t64(XN), t64(YN))
    with pytest.raises(RuntimeError, match="argnums must be int or Tuple"):
        F.grad(f_tg, argnums=[0])(t64(XN), t64(YN))
    with pytest.raises(RuntimeError, match="Only allowed values for randomness"):
        F.jacfwd(vec_tg, randomness="x")


def test_input_errors():
    with pytest.raises(ValueError, match="Thing passed to transform API must be Tensor"):
        F.grad(lambda x: x)(1.0)
    with pytest.raises(RuntimeError, match="floating point"):
        F.grad(lambda x: x.sum())(tg.tensor([1, 2]))
    with pytest.raises(RuntimeError, match="to return a scalar Tensor, got tensor with 1 dims"):
        F.grad(lambda x: x)(t64(XN))
    with pytest.raises(RuntimeError, match="to return a Tensor, got"):
        F.grad(lambda x: 1.0)(t64(XN))


def test_errors_match_torch_func():
    torch = pytest.importorskip("torch")
    cases = [
        (lambda m, T: m.grad(lambda x: x)(T([1.0, 2.0]))),
        (lambda m, T: m.grad(lambda x: x.sum(), argnums=3)(T([1.0]))),
        (lambda m, T: m.grad(lambda x: x.sum())(1.0)),
        (lambda m, T: m.jacrev(lambda x: x, chunk_size=0)),
        (lambda m, T: m.jvp(lambda x: x, T([1.0]), (T([1.0]),))),
        (lambda m, T: m.vjp(lambda x: x, T([1.0]), has_aux=True)),
    ]
    for case in cases:
        errors = []
        for mod, make in ((torch.func, lambda v: torch.tensor(v)), (F, lambda v: tg.tensor(v))):
            with pytest.raises(Exception) as info:
                case(mod, make)
            errors.append(info.value)
        assert type(errors[0]) is type(errors[1]), (errors[0], errors[1])
        assert str(errors[0]).split(":")[0] == str(errors[1]).split(":")[0]


def test_return_structures_match_torch_func():
    torch = pytest.importorskip("torch")

    def f(mod, x, y):
        return {"a": (x * y).sum(), "b": [x.sin(), y]}

    def structure(tree):
        if isinstance(tree, (tuple, list)):
            return (type(tree).__name__, [structure(t) for t in tree])
        if isinstance(tree, dict):
            return ("dict", {k: structure(v) for k, v in tree.items()})
        return tuple(tree.shape)

    for name in ("jacrev", "jacfwd"):
        for argnums in (0, (0, 1)):
            got = getattr(F, name)(lambda x, y: f(tg, x, y), argnums=argnums)(t64(YN), t64(YN))
            want = getattr(torch.func, name)(lambda x, y: f(torch, x, y), argnums=argnums)(
                torch.tensor(YN), torch.tensor(YN)
            )
            assert structure(got) == structure(want)
    out, fn = F.vjp(lambda x, y: f(tg, x, y), t64(YN), t64(YN))
    assert isinstance(fn(out), tuple)


# ----------------------------------------------------------------------------- modules


class Tied(tg.nn.Module):
    def __init__(self):
        super().__init__()
        self.a = tg.nn.Linear(2, 2, bias=False)
        self.b = tg.nn.Linear(2, 2, bias=False)
        self.b.weight = self.a.weight
        self.register_buffer("scale", tg.tensor(2.0))

    def forward(self, x):
        return self.b(self.a(x)) * self.scale


def test_functional_call_tied_weights_strict_and_buffers():
    m = Tied()
    x = tg.ones(1, 2)
    w = tg.eye(2) * 3
    out = F.functional_call(m, {"a.weight": w}, (x,))
    np.testing.assert_allclose(np.asarray(out), [[18.0, 18.0]])
    out = F.functional_call(m, {"a.weight": w}, (x,), tie_weights=False)
    assert not np.allclose(np.asarray(out.detach()), [[18.0, 18.0]])
    out = F.functional_call(m, ({"a.weight": w}, {"scale": tg.tensor(1.0)}), x)
    np.testing.assert_allclose(np.asarray(out), [[9.0, 9.0]])
    with pytest.raises(RuntimeError, match="Missing key"):
        F.functional_call(m, {"a.weight": w}, (x,), strict=True)
    with pytest.raises(ValueError, match="appeared in multiple dictionaries"):
        F.functional_call(m, ({"scale": w}, {"scale": w}), (x,))
    with pytest.raises(ValueError, match="Expected parameter_and_buffer_dicts"):
        F.functional_call(m, 3, (x,))
    assert m.scale.item() == 2.0  # the originals are back


def test_stack_module_state():
    models = [tg.nn.Sequential(tg.nn.Linear(3, 2), tg.nn.BatchNorm1d(2)) for _ in range(4)]
    params, buffers = F.stack_module_state(models)
    assert params["0.weight"].shape == (4, 2, 3) and params["0.bias"].shape == (4, 2)
    assert params["0.weight"].requires_grad and params["0.weight"].is_leaf
    assert buffers["1.running_mean"].shape == (4, 2)
    assert not buffers["1.running_mean"].requires_grad
    np.testing.assert_array_equal(
        np.asarray(params["0.weight"][2].detach()), np.asarray(models[2][0].weight.detach())
    )
    with pytest.raises(RuntimeError, match="at least one model"):
        F.stack_module_state([])
    models[1].eval()
    with pytest.raises(RuntimeError, match="same training/eval mode"):
        F.stack_module_state(models)


# ----------------------------------------------------------------------------- registry


def _registry_cases():
    samples = load_all()
    picked = []
    for name in sorted(samples):
        op = REGISTRY[name]
        if not op.differentiable:
            continue
        s = samples[name][0]
        floats = [a for a in s.args if isinstance(a, np.ndarray) and a.dtype.kind == "f"]
        if not floats or any(isinstance(a, np.ndarray) and a.dtype.kind == "c" for a in s.args):
            continue
        if sum(a.size for a in floats) > 12 or not s.second_order or not s.fd:
            continue
        picked.append((name, s))
    rng = np.random.default_rng(7)
    idx = sorted(rng.choice(len(picked), size=min(16, len(picked)), replace=False))
    return [pytest.param(*picked[i], id=picked[i][0]) for i in idx]


@pytest.mark.parametrize("name,sample", _registry_cases())
def test_jacobians_of_registered_ops(name, sample):
    op = REGISTRY[name]
    args = list(sample.args)
    diff = [i for i, a in enumerate(args) if isinstance(a, np.ndarray) and a.dtype.kind == "f"]

    def program(*xs):
        full = [tg.tensor(a) if isinstance(a, np.ndarray) else a for a in args]
        for i, x in zip(diff, xs):
            full[i] = x
        return op(*full, **sample.params).tanh()

    def program_j(*xs):
        full = [jnp.asarray(a) if isinstance(a, np.ndarray) else a for a in args]
        for i, x in zip(diff, xs):
            full[i] = x
        return jnp.tanh(op.forward(*full, **sample.params))

    xs = [t64(args[i]) for i in diff]
    out = program_j(*[jnp.asarray(args[i]) for i in diff])
    if not jnp.issubdtype(out.dtype, jnp.floating) or out.size > 16:
        pytest.skip("not a small float result")
    argnums = tuple(range(len(diff)))
    want = jax.jacrev(program_j, argnums=argnums)(*[jnp.asarray(args[i]) for i in diff])
    for jac in (F.jacrev, F.jacfwd):
        got = jac(program, argnums=argnums)(*xs)
        for g, w in zip(got, want):
            close(g, w, rtol=1e-9, atol=1e-10)
