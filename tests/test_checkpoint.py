"""tracegrad.utils.checkpoint: activation checkpointing, both of PyTorch's implementations.

Oracles: the same function run without checkpointing (gradients equal bit for bit, the backward
running node by node in both), ``jax.grad`` of the same computation, PyTorch when installed."""

from __future__ import annotations

import functools
import gc
import warnings
import weakref

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import tracegrad as tg
from tracegrad.utils.checkpoint import (
    CheckpointError,
    checkpoint,
    checkpoint_sequential,
    set_checkpoint_debug_enabled,
    set_checkpoint_early_stop,
)

from .tiers import slow

MODES = [False, True]


@pytest.fixture(autouse=True)
def _eager_backward():
    """The reference backward runs node by node, as the checkpointed one does (a compiled
    backward fuses, which may change the last bit)."""
    before = tg.is_compiled_backward_enabled()
    tg.set_compiled_backward(False)
    yield
    tg.set_compiled_backward(before)


def _mlp():
    tg.manual_seed(0)
    lin1, lin2 = tg.nn.Linear(4, 8), tg.nn.Linear(8, 3)

    def f(x):
        return lin2(tg.tanh(lin1(x)).sin())

    return f, [lin1.weight, lin1.bias, lin2.weight, lin2.bias]


def _grads(leaves):
    out = [p.grad.clone() for p in leaves]
    for p in leaves:
        p.grad = None
    return out


@pytest.mark.parametrize("use_reentrant", MODES)
def test_gradients_equal_the_plain_ones_exactly(use_reentrant):
    f, params = _mlp()
    x = tg.randn(5, 4, requires_grad=True)
    leaves = [*params, x]
    f(x).pow(2).sum().backward()
    ref = _grads(leaves)
    y = checkpoint(f, x, use_reentrant=use_reentrant)
    np.testing.assert_array_equal(y.detach().numpy(), f(x).detach().numpy())
    y.pow(2).sum().backward()
    for a, b in zip(_grads(leaves), ref):
        np.testing.assert_array_equal(a.numpy(), b.numpy())


def test_gradients_match_jax_grad():
    w = np.random.default_rng(0).normal(size=(3, 3))
    x = np.random.default_rng(1).normal(size=(2, 3))
    tw = tg.tensor(w, requires_grad=True)
    y = checkpoint(lambda a: (a @ tw).tanh().exp(), tg.tensor(x), use_reentrant=False)
    y.sum().backward()
    expected = jax.grad(lambda w: jnp.exp(jnp.tanh(x @ w)).sum())(w)
    np.testing.assert_allclose(tw.grad.numpy(), expected, rtol=1e-12)


@pytest.mark.parametrize("use_reentrant", MODES)
def test_intermediates_are_freed_after_forward(use_reentrant):
    refs = []

    def f(x):
        h = tg.tanh(x * 2)  # tanh saves its output: without checkpointing the graph keeps it
        refs.append(weakref.ref(h._storage.array))
        return h.sin().exp()

    x = tg.randn(3, requires_grad=True)
    y = f(x)
    gc.collect()
    assert refs[0]() is not None  # the plain graph keeps it
    refs.clear()
    y = checkpoint(f, x, use_reentrant=use_reentrant)
    tg.sync()  # lazy mode: the ops recorded after reading h read its value until they run
    gc.collect()
    assert refs[0]() is None
    y.sum().backward()  # recomputed (a second intermediate, freed again)
    assert x.grad is not None


def test_non_reentrant_outputs_keep_their_grad_fn_and_support_grad():
    f, params = _mlp()
    x = tg.randn(5, 4, requires_grad=True)
    y = checkpoint(f, x, use_reentrant=False)
    assert y.grad_fn.name() == "AddmmBackward0"
    (gx,) = tg.autograd.grad(y.sum(), x)
    (ref,) = tg.autograd.grad(f(x).sum(), x)
    np.testing.assert_array_equal(gx.numpy(), ref.numpy())


def test_non_reentrant_second_order():
    x = tg.tensor([0.3, -1.2, 2.0], dtype=tg.float64, requires_grad=True)
    w = tg.tensor([1.5, 0.5, -0.7], dtype=tg.float64, requires_grad=True)

    def f(a):
        return (a * w).tanh().pow(3)

    (g,) = tg.autograd.grad(checkpoint(f, x, use_reentrant=False).sum(), x, create_graph=True)
    (g_ref,) = tg.autograd.grad(f(x).sum(), x, create_graph=True)
    np.testing.assert_array_equal(g.detach().numpy(), g_ref.detach().numpy())
    hx, hw = tg.autograd.grad(g.sum(), [x, w])
    hx_ref, hw_ref = tg.autograd.grad(g_ref.sum(), [x, w])
    # The second-order graph runs through the recomputed tensors: the same terms, summed in
    # another order.
    np.testing.assert_allclose(hx.numpy(), hx_ref.numpy(), rtol=1e-14)
    np.testing.assert_allclose(hw.numpy(), hw_ref.numpy(), rtol=1e-14)
    xs, ws = x.detach().numpy(), w.detach().numpy()
    jax_h = jax.grad(lambda a: jax.grad(lambda a: (jnp.tanh(a * ws) ** 3).sum())(a).sum())(xs)
    np.testing.assert_allclose(hx.numpy(), jax_h, rtol=1e-12)


def test_reentrant_refuses_grad_and_inputs():
    x = tg.randn(3, requires_grad=True)
    msg = "When use_reentrant=True, torch.utils.checkpoint is incompatible with .grad()"
    with pytest.raises(RuntimeError, match=msg.replace("(", r"\(").replace(")", r"\)")):
        tg.autograd.grad(checkpoint(lambda a: a.sin(), x, use_reentrant=True).sum(), x)
    with pytest.raises(RuntimeError, match="incompatible with"):
        checkpoint(lambda a: a.sin(), x, use_reentrant=True).sum().backward(inputs=[x])
    y = checkpoint(lambda a: a.sin(), x, use_reentrant=True)
    assert y.grad_fn.name() == "CheckpointFunctionBackward"
    y.sum().backward(create_graph=True)  # no second order, as in PyTorch
    assert not x.grad.requires_grad


def test_argument_errors_and_warnings():
    x = tg.randn(3, requires_grad=True)
    with pytest.warns(UserWarning, match="the use_reentrant parameter should be passed"):
        checkpoint(lambda a: a * 2, x)
    with pytest.warns(UserWarning, match="checkpoint_sequential: the use_reentrant parameter"):
        checkpoint_sequential([lambda a: a * 2, lambda a: a + 1], 2, x)
    with pytest.raises(ValueError, match="Unexpected keyword arguments: b"):
        checkpoint(lambda a, b=1: a * b, x, b=2, use_reentrant=True)
    with pytest.raises(ValueError, match="only supported when use_reentrant=False"):
        checkpoint(lambda a: a, x, use_reentrant=True, debug=True)
    with pytest.raises(ValueError, match="determinism_check should be one of"):
        checkpoint(lambda a: a, x, use_reentrant=False, determinism_check="full")
    with pytest.warns(UserWarning, match="None of the inputs have requires_grad=True"):
        y = checkpoint(lambda a: a * 2, tg.randn(2), use_reentrant=True)
    assert not y.requires_grad
    with pytest.raises(NotImplementedError, match="use_reentrant=False"):
        checkpoint(lambda a: (a, a * 2), x, use_reentrant=True)


def test_non_reentrant_keywords_and_several_outputs():
    x = tg.randn(3, requires_grad=True)
    a, b = checkpoint(
        lambda t, scale: (t.exp() * scale, t.tanh()), x, scale=3.0, use_reentrant=False
    )
    (a.sum() + b.sum()).backward()
    ref = 3.0 * x.detach().exp() + 1 - x.detach().tanh() ** 2
    np.testing.assert_allclose(x.grad.numpy(), ref.numpy(), rtol=1e-6)


@pytest.mark.parametrize("use_reentrant", MODES)
def test_dropout_draws_the_same_mask(use_reentrant):
    drop = tg.nn.Dropout(0.5)
    x = tg.randn(50, requires_grad=True)
    tg.manual_seed(3)
    drop(x * 3).sum().backward()
    ref = _grads([x])[0]
    tg.manual_seed(3)
    y = checkpoint(lambda a: drop(a * 3), x, use_reentrant=use_reentrant).sum()
    state = tg.get_rng_state()
    y.backward()
    np.testing.assert_array_equal(x.grad.numpy(), ref.numpy())
    assert tg.get_rng_state() is state  # the recomputation does not consume the caller's draws


def test_without_preserved_rng_state_the_mask_changes():
    drop = tg.nn.Dropout(0.5)
    x = tg.randn(200, requires_grad=True)
    tg.manual_seed(3)
    drop(x * 3).sum().backward()
    ref = _grads([x])[0]
    tg.manual_seed(3)
    y = checkpoint(lambda a: drop(a * 3), x, use_reentrant=False, preserve_rng_state=False)
    y.sum().backward()
    assert not np.array_equal(x.grad.numpy(), ref.numpy())


@pytest.mark.parametrize("use_reentrant", MODES)
def test_checkpoint_sequential(use_reentrant):
    tg.manual_seed(0)
    seq = tg.nn.Sequential(*[tg.nn.Linear(4, 4) for _ in range(6)])
    x = tg.randn(2, 4, requires_grad=True)
    leaves = [x, *seq.parameters()]
    seq(x).sum().backward()
    ref = _grads(leaves)
    out = checkpoint_sequential(seq, 3, x, use_reentrant=use_reentrant)
    out.sum().backward()
    for a, b in zip(_grads(leaves), ref):
        np.testing.assert_array_equal(a.numpy(), b.numpy())


def test_nested_checkpoints():
    w = tg.tensor([0.5, -1.0, 2.0], requires_grad=True)

    def inner(a):
        return (a * w).sin()

    def outer(a):
        return checkpoint(inner, a.exp(), use_reentrant=False).tanh() * w

    x = tg.tensor([0.1, 0.2, -0.3], requires_grad=True)
    outer(x).sum().backward()
    ref = _grads([x, w])
    checkpoint(outer, x, use_reentrant=False).sum().backward()
    for a, b in zip(_grads([x, w]), ref):
        np.testing.assert_array_equal(a.numpy(), b.numpy())


def test_retain_graph_recomputes_each_time():
    x = tg.randn(3, requires_grad=True)
    y = checkpoint(lambda a: a.tanh().exp(), x, use_reentrant=False).sum()
    y.backward(retain_graph=True)
    first = _grads([x])[0]
    y.backward()
    np.testing.assert_array_equal(x.grad.numpy(), first.numpy())
    with pytest.raises(RuntimeError, match="backward through the graph a second time"):
        y.backward()


def test_recomputation_that_differs_raises_checkpoint_error():
    calls = []

    def f(a):
        calls.append(1)
        return a.exp() if len(calls) == 1 else a.exp().exp()

    x = tg.randn(3, requires_grad=True)
    y = checkpoint(f, x, use_reentrant=False, debug=True)
    with pytest.raises(CheckpointError, match="A different number of tensors was saved"):
        y.sum().backward()
    calls.clear()
    with set_checkpoint_debug_enabled(True), set_checkpoint_early_stop(False):
        y = checkpoint(f, x, use_reentrant=False)
    with pytest.raises(CheckpointError, match="Operations recorded during the recomputation"):
        y.sum().backward()


def test_modified_input_raises():
    x = tg.randn(3, requires_grad=True)
    a = x * 1
    y = checkpoint(lambda t: t.exp(), a, use_reentrant=False)
    a.add_(1)
    with pytest.raises(RuntimeError, match="modified by an inplace operation"):
        y.sum().backward()


def test_context_fn_wraps_forward_and_recomputation():
    seen = []

    class Ctx:
        def __init__(self, name):
            self.name = name

        def __enter__(self):
            seen.append(self.name)

        def __exit__(self, *a):
            pass

    x = tg.randn(3, requires_grad=True)
    y = checkpoint(
        lambda a: a.exp(),
        x,
        use_reentrant=False,
        context_fn=lambda: (Ctx("forward"), Ctx("recompute")),
    )
    y.sum().backward()
    assert seen == ["forward", "recompute"]


def test_under_no_grad_it_just_runs():
    x = tg.randn(3, requires_grad=True)
    with tg.no_grad():
        y = checkpoint(lambda a: a.exp(), x, use_reentrant=False)
    assert not y.requires_grad


# ---------------------------------------------------------------------- inside tracegrad.compile
def _blocks(n=3, d=8, p=0.0):
    tg.manual_seed(0)

    def block():
        layers = (tg.nn.Linear(d, 2 * d), tg.nn.GELU(), tg.nn.Dropout(p), tg.nn.Linear(2 * d, d))
        return tg.nn.Sequential(*layers, tg.nn.Tanh())

    return tg.nn.ModuleList(block() for _ in range(n))


def _step(blocks, opt, use_reentrant):
    def step(x):
        opt.zero_grad()
        h = blocks[0](x)  # so that the reentrant checkpoint's input requires grad
        for b in blocks[1:]:
            h = b(h) if use_reentrant is None else checkpoint(b, h, use_reentrant=use_reentrant)
        loss = h.pow(2).mean()
        loss.backward()
        opt.step()
        return loss

    return step


@pytest.mark.parametrize("use_reentrant", [False, pytest.param(True, marks=slow)])
def test_compiled_step_with_checkpointed_blocks_matches_eager(use_reentrant):
    x = tg.randn(4, 8)
    results = []
    for compiled in (False, True):
        blocks = _blocks(p=0.3)  # dropout: the recomputation must draw the forward's mask
        opt = tg.optim.SGD(blocks.parameters(), lr=0.1)
        step = _step(blocks, opt, use_reentrant)
        if compiled:
            step = tg.compile(step, state=(blocks, opt))
        losses = [step(x).item() for _ in range(2)]
        results.append((losses, [p.detach().numpy().copy() for p in blocks.parameters()]))
    (l0, p0), (l1, p1) = results
    np.testing.assert_allclose(l0, l1, rtol=1e-5)
    for a, b in zip(p0, p1):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)


def _dots(step, blocks, opt, x) -> int:
    compiled = tg.compile(step, state=(blocks, opt))
    return compiled.lower(x).compile().as_text().count(" dot(")


@slow
def test_compiled_recomputation_is_not_merged_with_the_forward():
    """XLA would see the recomputation equal the forward and merge them (CSE), keeping the
    forward's activations; an optimization barrier keeps it, as ``jax.checkpoint`` does: the
    optimized program has as many matrix products as ``jax.checkpoint``'s (which is not one more
    per recomputed product: XLA still drops some, for both)."""
    x = tg.randn(16, 8)
    counts = {}
    for mode in (None, False, True):
        blocks = _blocks()
        opt = tg.optim.SGD(blocks.parameters(), lr=0.1)
        counts[mode] = _dots(_step(blocks, opt, mode), blocks, opt, x)
    assert counts[False] > counts[None]
    assert counts[True] > counts[None]
    assert counts[False] == counts[True] == _jax_checkpoint_dots(16, 8)


def _jax_network(n: int, d: int, remat: bool):
    """``(params, loss)`` of the same network written by hand in JAX: ``n`` blocks, the first
    plain and the others under ``jax.checkpoint`` when ``remat``."""
    keys = jax.random.split(jax.random.key(0), 2 * n)
    params = [
        (jax.random.normal(keys[2 * i], (d, 2 * d)), jnp.zeros(2 * d),
         jax.random.normal(keys[2 * i + 1], (2 * d, d)), jnp.zeros(d))
        for i in range(n)
    ]  # fmt: skip

    def block(p, h):
        return jnp.tanh(jax.nn.gelu(h @ p[0] + p[1], approximate=False) @ p[2] + p[3])

    def loss(params, x):
        h = block(params[0], x)
        for p in params[1:]:
            h = jax.checkpoint(block)(p, h) if remat else block(p, h)
        return (h**2).mean()

    return params, loss


def _jax_checkpoint_dots(n: int, d: int) -> int:
    """Matrix products in XLA's optimized program for the same network trained under
    ``jax.checkpoint`` (the first block plain, the others checkpointed)."""
    params, loss = _jax_network(3, d, remat=True)
    x = jnp.zeros((n, d))
    return jax.jit(jax.grad(loss)).lower(params, x).compile().as_text().count(" dot(")


# XLA:CPU's pipeline expands optimization barriers away (its ``cse_barrier_expander`` pass)
# before common-subexpression elimination, so on the CPU the recomputation is merged with the
# forward again, for ``jax.checkpoint`` as for tracegrad: the default CPU program keeps every
# activation. Accelerators keep the barriers. The memory test compiles with that one pass
# disabled, which is the program an accelerator's pipeline gets.
_KEEP_BARRIERS = {"xla_disable_hlo_passes": "cse_barrier_expander"}


def _temp_bytes(step, blocks, opt, x) -> int:
    """Scratch memory (the peak of what is live besides arguments and outputs) of the compiled
    training step, from XLA's buffer assignment."""
    lowered = tg.compile(step, state=(blocks, opt)).lower(x)
    compiled = lowered._traced.lower().compile(_KEEP_BARRIERS)
    return compiled.memory_analysis().temp_size_in_bytes


def _jax_temp_bytes(n: int, d: int, batch: int, remat: bool) -> int:
    """The same for the network trained by hand in JAX (``jax.grad``, the first block plain, the
    others under ``jax.checkpoint`` when ``remat``), parameters updated in place (donated)."""
    params, loss = _jax_network(n, d, remat)

    def step(params, x):
        grads = jax.grad(loss)(params, x)
        return jax.tree.map(lambda p, g: p - 0.1 * g, params, grads)

    lowered = jax.jit(step, donate_argnums=0).lower(params, jnp.zeros((batch, d)))
    return lowered.compile(_KEEP_BARRIERS).memory_analysis().temp_size_in_bytes


_N, _D, _BATCH = 4, 32, 256
# Each block keeps two ``batch x 2d`` float32 activations for backward (the first linear's
# output, for GELU's derivative, and GELU's output, for the second linear's weight gradient); its
# input and output stay either way. Of the ``n - 1`` checkpointed blocks one is recomputed at a
# time, so at least ``n - 2`` blocks' worth must go.
_SAVED = (_N - 2) * 2 * _BATCH * (2 * _D) * 4


@functools.cache
def _step_temp_bytes(use_reentrant) -> int:
    blocks = _blocks(_N, _D)
    opt = tg.optim.SGD(blocks.parameters(), lr=0.1)
    tg.manual_seed(1)
    return _temp_bytes(_step(blocks, opt, use_reentrant), blocks, opt, tg.randn(_BATCH, _D))


@pytest.mark.parametrize("use_reentrant", [False, pytest.param(True, marks=slow)])
def test_compiled_checkpointed_step_needs_less_memory(use_reentrant):
    """The recomputation really happens in the compiled step: its peak scratch memory drops by
    at least the activations the checkpointed blocks no longer keep."""
    assert _step_temp_bytes(use_reentrant) <= _step_temp_bytes(None) - _SAVED


@slow
def test_compiled_checkpointed_step_memory_against_jax_checkpoint():
    """The anchor: the same network under ``jax.checkpoint`` shows the same drop, and tracegrad's
    checkpointed step needs no more scratch memory than it."""
    jax_plain, jax_remat = (_jax_temp_bytes(_N, _D, _BATCH, remat) for remat in (False, True))
    assert jax_remat <= jax_plain - _SAVED
    assert max(_step_temp_bytes(False), _step_temp_bytes(True)) <= jax_remat


# ----------------------------------------------------------------------------------- PyTorch
def test_matches_pytorch():
    torch = pytest.importorskip("torch")
    from torch.utils.checkpoint import checkpoint as torch_checkpoint

    w = np.random.default_rng(0).normal(size=(4, 4)).astype(np.float32)
    xv = np.random.default_rng(1).normal(size=(3, 4)).astype(np.float32)
    for mode in MODES:
        grads, names = [], []
        for lib, ck in ((tg, checkpoint), (torch, torch_checkpoint)):
            tw = lib.tensor(w, requires_grad=True)
            x = lib.tensor(xv, requires_grad=True)
            y = ck(lambda a, tw=tw: (a @ tw).tanh().sin(), x, use_reentrant=mode)
            names.append(y.grad_fn.name())
            y.pow(2).sum().backward()
            grads.append((tw.grad.detach().numpy(), x.grad.detach().numpy()))
        for a, b in zip(*grads):
            np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
        assert names[0] == names[1]
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        torch_checkpoint(lambda a: a * 2, torch.ones(2, requires_grad=True))
        checkpoint(lambda a: a * 2, tg.ones(2, requires_grad=True))
    assert str(caught[0].message) == str(caught[1].message)


def test_non_reentrant_parameters_get_gradients_when_no_input_requires_grad():
    tg.manual_seed(0)
    lin = tg.nn.Linear(3, 2)
    x = tg.randn(4, 3)
    lin(x).tanh().sum().backward()
    ref = _grads([lin.weight])[0]
    checkpoint(lambda a: lin(a).tanh(), x, use_reentrant=False).sum().backward()
    np.testing.assert_array_equal(lin.weight.grad.numpy(), ref.numpy())


def test_checkpointed_graph_runs_node_by_node_and_says_why():
    tg.set_compiled_backward(True)
    x = tg.randn(3, requires_grad=True)
    y = checkpoint(lambda a: a.tanh().exp(), x, use_reentrant=False).sum()
    assert "inside a checkpointed region" in tg.autograd.compiled.explain(y)


def test_compiled_module_with_a_checkpoint_runs_eagerly_and_says_why():
    tg.manual_seed(0)
    lin = tg.nn.Linear(3, 3)

    class Net(tg.nn.Module):
        def __init__(self):
            super().__init__()
            self.lin = lin

        def forward(self, x):
            return checkpoint(self.lin, x, use_reentrant=False).tanh().sum()

    net = Net()
    x = tg.randn(2, 3)
    net(x).backward()
    ref = _grads([lin.weight])[0]
    with pytest.warns(UserWarning, match="a checkpointed segment"):
        out = tg.compile(net)(x)
    out.backward()
    np.testing.assert_array_equal(lin.weight.grad.numpy(), ref.numpy())
