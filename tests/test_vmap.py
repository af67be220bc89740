"""``tracegrad.vmap``: results against ``jax.vmap`` of the same math in float64, per-sample
gradients (tracegrad's rules on batched values) against ``jax.vmap(jax.grad(...))``, PyTorch's
errors and randomness semantics against ``torch.func.vmap``, and every registered op batched
against the op applied per sample."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import tracegrad as tg
from tracegrad.ops import REGISTRY

from .samples import load_all

TOL = dict(rtol=1e-10, atol=1e-12)


def _rand(*shape, seed=0):
    return np.random.default_rng(seed + sum(shape)).standard_normal(shape)


def _t(a, **kw):
    return tg.tensor(a, dtype=tg.float64, **kw)


# ------------------------------------------------------------------ results against jax.vmap
def test_matches_jax_vmap_with_in_dims_and_unbatched_operands():
    x, w, b = _rand(5, 4), _rand(4, 3), _rand(3)
    got = tg.vmap(lambda x, w, b: (x @ w + b).tanh(), in_dims=(0, None, None))(_t(x), _t(w), _t(b))
    ref = jax.vmap(lambda x, w, b: jnp.tanh(x @ w + b), in_axes=(0, None, None))(x, w, b)
    np.testing.assert_allclose(got.numpy(), ref, **TOL)


def test_in_dims_out_dims_and_negative_dims():
    x = _rand(3, 5, 2)
    for in_dim, out_dim in [(1, 0), (-1, 1), (2, -1), (0, 1)]:
        got = tg.vmap(lambda a: a.sin().sum(0), in_dims=in_dim, out_dims=out_dim)(_t(x))
        ref = jax.vmap(lambda a: jnp.sin(a).sum(0), in_axes=in_dim, out_axes=out_dim)(x)
        assert got.shape == ref.shape
        np.testing.assert_allclose(got.numpy(), ref, **TOL)


def test_pytree_inputs_and_outputs_with_prefix_dims():
    x, y, z = _rand(4, 3), _rand(3), _rand(4)

    def f(pair, d, scale=2.0):
        a, b = pair
        return {"sum": (a + b) * scale, "dot": (a * d["z"]).sum()}, a.exp()

    got, e = tg.vmap(f, in_dims=((0, None), {"z": None}), out_dims=({"sum": 1, "dot": 0}, 0))(
        (_t(x), _t(y)), {"z": _t(z[:3])}, scale=3.0
    )
    np.testing.assert_allclose(got["sum"].numpy(), ((x + y) * 3.0).T, **TOL)
    np.testing.assert_allclose(got["dot"].numpy(), x @ z[:3], **TOL)
    np.testing.assert_allclose(e.numpy(), np.exp(x), **TOL)


def test_dicts_keep_their_key_order_as_in_pytorch():
    """The function sees its dict arguments, and the caller gets its dict results, in insertion
    order (torch's pytrees keep it; jax's sort the keys): ``zip(model.parameters(),
    grads.values())`` must pair each gradient with its own parameter."""
    seen = []

    def f(d):
        seen.append(list(d))
        return {"w": d["w"] * 2, "b": d["b"] + 1, "a": {"z": d["w"], "y": d["b"]}}

    out = tg.vmap(f)({"w": _t(_rand(3, 2)), "b": _t(_rand(3))})
    assert seen == [["w", "b"]]
    assert list(out) == ["w", "b", "a"] and list(out["a"]) == ["z", "y"]
    params = {"w": _t(_rand(2)), "b": _t(_rand(2))}
    grads = tg.vmap(tg.func.grad(lambda p, x: (p["w"] * x).sum() + p["b"].sum()), (None, 0))(
        params, _t(_rand(4, 2))
    )
    assert list(grads) == ["w", "b"]


def test_out_dims_none_returns_unbatched_values():
    x, c = _rand(4, 3), _rand(3)
    out, const, label = tg.vmap(lambda a, c: (a * 2, c + 1, "tag"), in_dims=(0, None),
                                out_dims=(0, None, None))(_t(x), _t(c))  # fmt: skip
    np.testing.assert_allclose(out.numpy(), 2 * x, **TOL)
    np.testing.assert_allclose(const.numpy(), c + 1, **TOL)
    assert label == "tag"


def test_nested_vmap_matches_nested_jax_vmap():
    x, y = _rand(3, 4, 5), _rand(4, 5)

    def inner(a, b):
        return (a * b).sum() + a.max()

    got = tg.vmap(tg.vmap(inner), in_dims=(0, None))(_t(x), _t(y))
    ref = jax.vmap(jax.vmap(lambda a, b: (a * b).sum() + a.max()), in_axes=(0, None))(x, y)
    np.testing.assert_allclose(got.numpy(), ref, **TOL)


@pytest.mark.parametrize("chunk_size", [1, 2, 3, 7, 100])
def test_chunk_size_gives_the_same_result(chunk_size):
    x, w = _rand(7, 4), _rand(4, 2)
    f = lambda a, w: (a @ w).sigmoid()  # noqa: E731
    got = tg.vmap(f, in_dims=(0, None), chunk_size=chunk_size)(_t(x), _t(w))
    np.testing.assert_allclose(got.numpy(), tg.vmap(f, in_dims=(0, None))(_t(x), _t(w)).numpy())
    np.testing.assert_allclose(got.numpy(), 1 / (1 + np.exp(-(x @ w))), **TOL)


def test_empty_batch():
    got = tg.vmap(lambda a: a * 2)(_t(np.zeros((0, 3))))
    assert got.shape == (0, 3)


def test_result_is_concrete_and_keeps_dtype():
    x = tg.tensor(np.arange(6).reshape(3, 2), dtype=tg.int64)
    out = tg.vmap(lambda a: a.sum())(x)
    assert out.dtype == tg.int64 and out.tolist() == [1, 5, 9]
    assert not isinstance(out._storage.array, jax.core.Tracer)


def test_inplace_on_batched_values_and_unbatched_writes_to_captured_tensors():
    counter = tg.zeros(())
    x = _rand(3, 4)

    def f(a):
        a = a.clone()
        a.mul_(2)  # batched into batched: fine
        counter.add_(1)  # unbatched into unbatched: runs once, as in PyTorch
        return a

    np.testing.assert_allclose(tg.vmap(f)(_t(x)).numpy(), 2 * x)
    assert counter.item() == 1.0


def test_index_out_of_range_raises_after_the_map():
    x = _t(_rand(3, 4))
    ok = tg.tensor([[0, 1], [2, 3], [3, 3]])
    bad = tg.tensor([[0, 1], [2, 5], [3, 3]])
    got = tg.vmap(lambda a, i: a[i])(x, ok)
    np.testing.assert_allclose(got.numpy(), np.take_along_axis(x.numpy(), ok.numpy(), 1))
    with pytest.raises(IndexError, match="index 5 is out of bounds"):
        tg.vmap(lambda a, i: a[i])(x, bad)


# ------------------------------------------------------------------------------ per-sample grads
def _mlp_jax(params, x, y):
    w1, b1, w2, b2 = params
    h = jnp.tanh(x @ w1 + b1)
    logits = h @ w2 + b2
    return -(jax.nn.log_softmax(logits)[y])


def _mlp_data():
    rng = np.random.default_rng(3)
    params = [rng.standard_normal(s) * 0.5 for s in [(6, 5), (5,), (5, 4), (4,)]]
    return params, rng.standard_normal((8, 6)), rng.integers(0, 4, size=8)


def _mlp_tg(params, x, y):
    w1, b1, w2, b2 = params
    h = (x @ w1 + b1).tanh()
    logits = h @ w2 + b2
    return tg.nn.functional.cross_entropy(logits.unsqueeze(0), y.unsqueeze(0))


def test_per_sample_gradients_of_an_mlp_match_jax():
    params, x, y = _mlp_data()
    ref = jax.vmap(jax.grad(_mlp_jax), in_axes=(None, 0, 0))(params, x, y)

    def grads(ps, xi, yi):
        ps = [p.detach().requires_grad_() for p in ps]
        return tg.autograd.grad(_mlp_tg(ps, xi, yi), ps)

    got = tg.vmap(grads, in_dims=(None, 0, 0))([_t(p) for p in params], _t(x), tg.tensor(y))
    for g, r in zip(got, ref):
        assert g.shape == r.shape
        np.testing.assert_allclose(g.numpy(), r, rtol=1e-9, atol=1e-12)


def test_per_sample_gradients_of_captured_parameters_and_inputs():
    """Gradients with respect to parameters captured from outside (requiring grad) and to the
    batched input made ``requires_grad_()`` inside; chunked, and nested in a compiled function."""
    w, x = _rand(3, 2), _rand(5, 3)
    W = _t(w, requires_grad=True)

    def grads(xi):
        xi.requires_grad_()
        loss = ((xi @ W).sin() ** 2).sum()
        return tg.autograd.grad(loss, (W, xi))

    f = lambda w, x: (jnp.sin(x @ w) ** 2).sum()  # noqa: E731
    ref_w = jax.vmap(jax.grad(f), in_axes=(None, 0))(w, x)
    ref_x = jax.vmap(jax.grad(f, argnums=1), in_axes=(None, 0))(w, x)
    for run in (tg.vmap(grads), tg.vmap(grads, chunk_size=2), tg.compile(tg.vmap(grads))):
        gw, gx = run(_t(x))
        np.testing.assert_allclose(gw.numpy(), ref_w, rtol=1e-9, atol=1e-12)
        np.testing.assert_allclose(gx.numpy(), ref_x, rtol=1e-9, atol=1e-12)
    assert W.grad is None


def test_per_sample_hessian_diagonal_by_nested_grad():
    x = _rand(4, 3)

    def hdiag(xi):
        xi.requires_grad_()
        (g,) = tg.autograd.grad((xi**3).sum() * xi.sum(), xi, create_graph=True)
        return tg.stack([tg.autograd.grad(g[i], xi, retain_graph=True)[0][i] for i in range(3)])

    f = lambda v: (v**3).sum() * v.sum()  # noqa: E731
    ref = jax.vmap(lambda v: jnp.diag(jax.hessian(f)(v)))(x)
    np.testing.assert_allclose(tg.vmap(hdiag)(_t(x)).numpy(), ref, rtol=1e-9, atol=1e-12)


def test_differentiating_through_vmap_matches_jax():
    """The mapped call is one node: its backward is the vmap of tracegrad's backward of the
    function, reaching mapped inputs, unmapped arguments and captured parameters."""
    x, w, b = _rand(5, 3), _rand(3, 2), _rand(2)
    X, W, B = _t(x, requires_grad=True), _t(w, requires_grad=True), _t(b, requires_grad=True)
    out = tg.vmap(lambda a, c: ((a @ W).sin() + c * 2).exp(), in_dims=(0, None))(X, B)
    assert out.grad_fn.name() == "_MappedCallBackward"
    out.sum().backward()
    f = lambda x, w, b: jnp.exp(jnp.sin(x @ w) + b * 2).sum()  # noqa: E731
    for t, r in zip((X, W, B), jax.grad(f, argnums=(0, 1, 2))(x, w, b)):
        np.testing.assert_allclose(t.grad.numpy(), r, rtol=1e-10, atol=1e-12)


def test_differentiating_through_vmap_with_dims_chunks_randomness_and_nesting():
    x, w = _rand(3, 5), _rand(3, 2)
    XT, W = _t(x, requires_grad=True), _t(w, requires_grad=True)
    cot = np.arange(10.0).reshape(2, 5)
    out = tg.vmap(lambda a: (a @ W).tanh(), in_dims=1, out_dims=1, chunk_size=2)(XT)
    (out * _t(cot)).sum().backward()
    f = lambda xt, w: (jnp.tanh(xt.T @ w).T * cot).sum()  # noqa: E731
    for t, r in zip((XT, W), jax.grad(f, argnums=(0, 1))(x, w)):
        np.testing.assert_allclose(t.grad.numpy(), r, rtol=1e-10, atol=1e-12)
    # the backward draws what the forward drew
    Y = _t(np.ones((4, 3)), requires_grad=True)
    o = tg.vmap(lambda a: a * tg.rand(3, dtype=tg.float64), randomness="different")(Y)
    o.sum().backward()
    np.testing.assert_array_equal(Y.grad.numpy(), o.detach().numpy())
    # an inner vmap differentiated inside an outer one, and inside a compiled step
    xs, v = _rand(4, 5, 3), _rand(3)
    V = _t(v, requires_grad=True)

    def per(xi):
        inner = tg.vmap(lambda r: (r * V).sin().sum())(xi)
        return tg.autograd.grad(inner.sum(), V)[0]

    ref = jax.vmap(lambda xi: jax.grad(lambda v: jnp.sin(xi * v).sum())(v))(xs)
    np.testing.assert_allclose(tg.vmap(per)(_t(xs)).numpy(), ref, rtol=1e-10, atol=1e-12)

    @tg.compile
    def step(xi):
        out = tg.vmap(lambda r: (r * V).sin().sum())(xi)
        out.sum().backward()
        return out.detach()

    step(_t(xs[0]))
    np.testing.assert_allclose(V.grad.numpy(), ref[0], rtol=1e-10, atol=1e-12)


def test_differentiating_through_nested_vmaps():
    x, w = _rand(4, 5, 3), _rand(3)
    X, W = _t(x, requires_grad=True), _t(w, requires_grad=True)
    tg.vmap(tg.vmap(lambda r: (r * W).sin().sum()))(X).sum().backward()
    f = lambda x, w: jnp.sin(x * w).sum()  # noqa: E731
    for t, r in zip((X, W), jax.grad(f, argnums=(0, 1))(x, w)):
        np.testing.assert_allclose(t.grad.numpy(), r, rtol=1e-10, atol=1e-12)


def test_an_unbatched_output_keeps_its_graph():
    w = _t(_rand(2), requires_grad=True)
    out, const = tg.vmap(lambda a: (a * 2, (w**2).sum()), out_dims=(0, None))(_t(_rand(3, 2)))
    const.backward()
    np.testing.assert_allclose(w.grad.numpy(), 2 * w.detach().numpy())


def test_differentiating_through_vmap_limits_raise_not_implemented():
    x = _t(_rand(3, 2))
    w = _t(_rand(2), requires_grad=True)
    with pytest.raises(NotImplementedError, match="one output that requires grad"):
        tg.vmap(lambda a: (a * w, a * 2 * w))(x)
    out = tg.vmap(lambda a: (a * w).sum())(x)
    with pytest.raises(NotImplementedError, match="double backward"):
        tg.autograd.grad(out.sum(), w, create_graph=True)
    with tg.no_grad():
        assert not tg.vmap(lambda a: (a * w).sum())(x).requires_grad


# ---------------------------------------------------------------------------------- randomness
def test_randomness_error_raises_pytorchs_error():
    with pytest.raises(RuntimeError, match="called random operation while in randomness error"):
        tg.vmap(lambda a: a + tg.rand(3))(tg.zeros(2, 3))
    with pytest.raises(RuntimeError, match="randomness error mode"):
        tg.vmap(lambda a: tg.nn.functional.dropout(a, 0.5))(tg.ones(2, 3))


def test_randomness_different_and_same():
    x = tg.zeros(4, 3)
    tg.manual_seed(0)
    diff = tg.vmap(lambda a: a + tg.rand(3), randomness="different")(x).numpy()
    tg.manual_seed(0)
    again = tg.vmap(lambda a: a + tg.rand(3), randomness="different")(x).numpy()
    same = tg.vmap(lambda a: a + tg.rand(3), randomness="same")(x).numpy()
    np.testing.assert_array_equal(diff, again)  # reproducible from the seed
    assert len({tuple(r) for r in diff}) == 4  # each element its own draw
    assert len({tuple(r) for r in same}) == 1  # one draw shared
    chunked = tg.vmap(lambda a: a + tg.rand(3), randomness="different", chunk_size=2)(x).numpy()
    assert len({tuple(r) for r in chunked}) == 4


def test_randomness_nested_and_compiled():
    x = tg.zeros(2, 3)
    inner_same = tg.vmap(lambda a: a + tg.rand(()), randomness="same")
    out = tg.vmap(inner_same, randomness="different")(x).numpy()
    assert (out == out[:, :1]).all() and out[0, 0] != out[1, 0]
    step = tg.compile(lambda x: tg.vmap(lambda a: a + tg.rand(()), randomness="different")(x))
    first, second = step(tg.zeros(3)).numpy(), step(tg.zeros(3)).numpy()
    assert len(set(first)) == 3 and not np.array_equal(first, second)


def test_randomness_matches_pytorch_semantics():
    torch = pytest.importorskip("torch")
    from torch.func import vmap as tvmap

    for mode in ("different", "same"):
        t = tvmap(lambda a: a + torch.rand(3), randomness=mode)(torch.zeros(4, 3)).numpy()
        g = tg.vmap(lambda a: a + tg.rand(3), randomness=mode)(tg.zeros(4, 3)).numpy()
        assert len({tuple(r) for r in t}) == len({tuple(r) for r in g})


# -------------------------------------------------------------------------------------- errors
def _torch_error(torch_call):
    try:
        torch_call()
    except Exception as e:
        return type(e), str(e)
    raise AssertionError("PyTorch did not raise")


def _cases(torch, lib):
    x, y = lib.zeros(3, 4), lib.zeros(2, 4)

    def ident(a):
        return a

    return [
        lambda: lib.vmap(lambda a, b: a + b)(x, y),
        lambda: lib.vmap(ident, in_dims=2)(x),
        lambda: lib.vmap(ident, in_dims=(None,))(x),
        lambda: lib.vmap(lambda a, n: a * n)(x, 2),
        lambda: lib.vmap(lambda a: 3)(x),
        lambda: lib.vmap(ident, out_dims=None)(x),
        lambda: lib.vmap(ident, randomness="sometimes")(x),
        lambda: lib.vmap(ident, chunk_size=0)(x),
        lambda: lib.vmap(ident)(),
        lambda: lib.vmap(ident, in_dims=[0])(x),
        lambda: lib.vmap(ident, in_dims=(0.5,))(x),
        lambda: lib.vmap(ident, out_dims="a")(x),
        lambda: lib.vmap(ident, out_dims=2)(x),
    ]


def test_errors_match_pytorch_type_and_message():
    torch = pytest.importorskip("torch")
    for ours, theirs in zip(_cases(torch, tg), _cases(torch, torch)):
        t_type, t_msg = _torch_error(theirs)
        with pytest.raises(t_type) as info:
            ours()
        assert str(info.value) == t_msg


def test_data_dependent_control_flow_and_item_raise_like_pytorch():
    x = _t(_rand(3, 4))
    with pytest.raises(RuntimeError, match="data-dependent control flow"):
        tg.vmap(lambda a: a if a.sum() > 0 else -a)(x)
    with pytest.raises(RuntimeError, match="data-dependent control flow"):
        tg.vmap(lambda a: a * float(a.sum()))(x)
    with pytest.raises(RuntimeError, match=r"calling \.item\(\) on a Tensor"):
        tg.vmap(lambda a: a.sum().item())(x)
    # an unbatched value may be read: it is the same for every element
    c = _t(np.ones(4))
    out = tg.vmap(lambda a, c: a * 2 if c.sum() > 0 else a, in_dims=(0, None))(x, c)
    np.testing.assert_allclose(out.numpy(), 2 * x.numpy())


def test_writing_a_batched_value_into_an_unbatched_tensor_raises_and_undoes():
    captured = tg.zeros(4)
    version = captured._version
    with pytest.raises(RuntimeError, match=r"vmap: inplace arithmetic\(self, \*extra_args\)"):
        tg.vmap(lambda a: captured.mul_(a))(tg.ones(3, 4))
    assert captured.tolist() == [0.0] * 4 and captured._version == version
    with pytest.raises(RuntimeError, match="inplace arithmetic"):
        tg.vmap(lambda a: tg.zeros(4).copy_(a))(tg.ones(3, 4))


@pytest.mark.parametrize(
    "name,fn",
    [
        ("nonzero", lambda a: tg.nonzero(a)),
        ("unique", lambda a: tg.unique(a)),
        ("masked_select", lambda a: tg.masked_select(a, a > 0)),
        ("boolean mask", lambda a: a[a > 0]),
    ],
)
def test_ops_with_data_dependent_shapes_raise_a_clear_error(name, fn):
    with pytest.raises(RuntimeError, match=f"^vmap: .*{name}"):
        tg.vmap(fn)(_t(_rand(3, 4)))


# --------------------------------------------------------------------------- compile and lazy
def test_inside_a_compiled_function():
    x, w = _rand(5, 3), _rand(3, 2)

    @tg.compile
    def step(x, w):
        return tg.vmap(lambda a: (a @ w).relu().sum(), chunk_size=2)(x)

    np.testing.assert_allclose(step(_t(x), _t(w)).numpy(), np.maximum(x @ w, 0).sum(1), **TOL)
    bad = tg.compile(lambda x, i: tg.vmap(lambda a, j: a[j])(x, i))
    with pytest.raises(IndexError, match="index 7 is out of bounds"):
        bad(_t(x), tg.tensor([[0], [1], [7], [0], [1]]))


def test_lazy_mode_realizes_inputs_and_returns_a_concrete_result():
    x = _rand(3, 4)
    tg.set_lazy(True)
    try:
        a = _t(x) * 2  # pending
        out = tg.vmap(lambda r: r.exp().sum())(a)
        assert not isinstance(out._storage._array, tg.lazy.Pending)
        np.testing.assert_allclose((out + 1).numpy(), np.exp(2 * x).sum(1) + 1, **TOL)
    finally:
        tg.set_lazy(False)


# ------------------------------------------------------------------- every registered op batched
SAMPLES = load_all()
_BATCH = 3


def _fast_sample(samples):
    return next(
        (s for s in samples if any(isinstance(a, np.ndarray) and a.dtype.kind in "fc"
                                   for a in s.args)),
        samples[0],
    )  # fmt: skip


def _op_cases():
    # The fast tier batches one op in six (every family is represented); all of them are slow.
    for i, name in enumerate(sorted(SAMPLES)):
        marks = () if i % 6 == 0 else pytest.mark.slow
        yield pytest.param(name, id=name, marks=marks)


# Ops whose lowering cannot be batched: none of the registered ops today (the ops with a result
# shape that depends on the values -- nonzero, unique, masked_select, boolean-mask indexing --
# are functions outside the registry, covered above). List one here as
# ``name: "reason"`` when it raises vmap's clear error instead of batching.
UNBATCHABLE: dict[str, str] = {}


@pytest.mark.parametrize("name", list(_op_cases()))
def test_every_registered_op_batches_like_a_loop(name):
    op = REGISTRY[name]
    s = _fast_sample(SAMPLES[name])
    arrays = [i for i, a in enumerate(s.args) if isinstance(a, np.ndarray)]

    def element(k):  # each batch element a slightly different call (same shapes, same domain)
        return [
            a * (1 + 0.05 * k) if isinstance(a, np.ndarray) and a.dtype.kind in "fc" else a
            for a in s.args
        ]

    def run(args):
        out = op(*[tg.tensor(a) if isinstance(a, np.ndarray) else a for a in args], **s.params)
        return [np.asarray(o) for o in (out if isinstance(out, (tuple, list)) else (out,))]

    stacked = [
        tg.tensor(np.stack([element(k)[i] for k in range(_BATCH)])) if i in arrays else a
        for i, a in enumerate(s.args)
    ]
    in_dims = tuple(0 if i in arrays else None for i in range(len(s.args)))
    mapped = tg.vmap(lambda *xs: op(*xs, **s.params), in_dims=in_dims)
    if name in UNBATCHABLE:
        with pytest.raises(RuntimeError, match=f"vmap: {name}"):
            with tg.no_grad():
                mapped(*stacked)
        return
    per_element = [run(element(k)) for k in range(_BATCH)]
    with tg.no_grad():
        out = mapped(*stacked)
    outs = out if isinstance(out, (tuple, list)) else (out,)
    for j, o in enumerate(outs):
        ref = np.stack([p[j] for p in per_element])
        assert o.shape == ref.shape and np.asarray(o).dtype == ref.dtype
        np.testing.assert_allclose(np.asarray(o), ref, rtol=1e-6, atol=1e-7, equal_nan=True)
