"""``F.linear_cross_entropy`` / ``nn.LinearCrossEntropyLoss`` / ``nn.LinearCrossEntropyOptions`` and
``F.grouped_mm`` (PyTorch 2.13): values and gradients against ``jax.vjp`` of a jnp reference, and
against PyTorch where it is installed."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import tracegrad as tg
from tracegrad.nn import functional as F

from .tiers import slow, slow_after

RNG = np.random.default_rng(0)


def _f32(*shape):
    return RNG.standard_normal(shape).astype(np.float32)


def _tg(a, grad=True):
    return tg.tensor(a, requires_grad=grad)


def _np(t):
    return np.asarray(t.detach().float().numpy())


# ----------------------------------------------------------------------- linear_cross_entropy
def _jnp_lce(x, w, b, t, cw, ignore, reduction):
    """Cross-entropy of ``x @ w.T + b`` by hand: class weights, ignore_index, reductions."""
    logp = jax.nn.log_softmax(x @ w.T + b, axis=-1)
    keep = t != ignore
    ts = jnp.where(keep, t, 0)
    wt = cw[ts] * keep
    loss = -jnp.take_along_axis(logp, ts[:, None], 1)[:, 0] * wt
    if reduction == "none":
        return loss
    return loss.sum() if reduction == "sum" else loss.sum() / wt.sum()


@pytest.mark.parametrize(
    "chunk,reduction",
    slow_after([(c, r) for c in (3, None, 16) for r in ("mean", "sum", "none")], multi=True),
)
def test_linear_cross_entropy_matches_jax_vjp(chunk, reduction):
    x, w, b, cw = _f32(10, 8), _f32(20, 8), _f32(20), np.abs(_f32(20)) + 0.5
    t = RNG.integers(0, 20, 10)
    t[[2, 7]] = 5  # class 5 is ignored
    opts = None if chunk is None else tg.nn.LinearCrossEntropyOptions(batch_chunk_size=chunk)
    xs, ws, bs = _tg(x), _tg(w), _tg(b)
    out = F.linear_cross_entropy(
        xs, ws, tg.tensor(t), linear_bias=bs, weight=tg.tensor(cw), reduction=reduction,
        ignore_index=5, options=opts,
    )  # fmt: skip
    ref, vjp = jax.vjp(lambda *a: _jnp_lce(*a, t, cw, 5, reduction), x, w, b)
    g = _f32(*ref.shape)
    out.backward(tg.tensor(g))
    np.testing.assert_allclose(_np(out), ref, rtol=1e-5, atol=1e-5)
    for got, want in zip((xs, ws, bs), vjp(jnp.asarray(g))):
        np.testing.assert_allclose(_np(got.grad), want, rtol=1e-4, atol=1e-5)


def _torch_lce_case(torch, case):
    """(tracegrad args, torch args, kwargs) for one configuration."""
    n, c, k = 6, 7, 5
    out_features = case.get("out", ())
    unbatched = case.get("unbatched", False)
    x = _f32(k) if unbatched else _f32(n, k)
    w = _f32(c, *out_features, k)
    b = _f32(c, *out_features) if case.get("bias") else None
    lead = () if unbatched else (n,)
    if case.get("probs"):
        t = np.asarray(jax.nn.softmax(_f32(*lead, c, *out_features), axis=len(lead)))
    else:
        t = RNG.integers(0, c, (*lead, *out_features))
        if not unbatched:
            t.reshape(-1)[1] = case.get("ignore_index", -100)
    kw = {k_: v for k_, v in case.items() if k_ in ("reduction", "ignore_index", "label_smoothing")}
    if case.get("weight"):
        kw["weight"] = np.abs(_f32(c)) + 0.5
    opts = case.get("options")
    mine = dict(kw, weight=None if "weight" not in kw else tg.tensor(kw["weight"]))
    theirs = dict(kw, weight=None if "weight" not in kw else torch.tensor(kw["weight"]))
    if opts is not None:
        mine["options"] = tg.nn.LinearCrossEntropyOptions(**opts)
        theirs["options"] = torch.nn.LinearCrossEntropyOptions(**opts)
    return x, w, b, t, mine, theirs


LCE_CASES = [
    dict(
        reduction="mean", bias=True, weight=True, ignore_index=3, options=dict(batch_chunk_size=4)
    ),
    dict(reduction="mean"),
    dict(reduction="sum", bias=True),
    dict(reduction="none", weight=True),
    dict(reduction="mean", label_smoothing=0.2, weight=True),
    dict(reduction="mean", out=(3, 2), bias=True),
    dict(reduction="none", out=(3,), weight=True, label_smoothing=0.1),
    dict(reduction="mean", probs=True, weight=True),
    dict(reduction="none", probs=True, out=(2,), label_smoothing=0.3),
    dict(reduction="mean", unbatched=True, bias=True),
    dict(reduction="none", unbatched=True),
    dict(reduction="sum", options=dict(batch_chunk_size=2), weight=True, bias=True),
    dict(reduction="none", options=dict(chunking_method="aspect_ratio"), ignore_index=1),
    dict(reduction="mean", options=dict(), bias=True),
    dict(reduction="none", options=dict(batch_chunk_size=2), unbatched=True),
    dict(reduction="sum", options=dict(acc_dtype=None, acc_policy="balanced")),
]


@pytest.mark.parametrize("case", slow_after(LCE_CASES), ids=str)
def test_linear_cross_entropy_matches_torch(case):
    torch = pytest.importorskip("torch")
    x, w, b, t, mine, theirs = _torch_lce_case(torch, case)
    tx, tw = torch.tensor(x, requires_grad=True), torch.tensor(w, requires_grad=True)
    tb = None if b is None else torch.tensor(b, requires_grad=True)
    want = torch.nn.functional.linear_cross_entropy(
        tx, tw, torch.tensor(t), linear_bias=tb, **theirs
    )
    gx, gw = _tg(x), _tg(w)
    gb = None if b is None else _tg(b)
    got = F.linear_cross_entropy(gx, gw, tg.tensor(t), linear_bias=gb, **mine)
    assert tuple(got.shape) == tuple(want.shape)
    np.testing.assert_allclose(_np(got), want.detach().numpy(), rtol=1e-5, atol=1e-5)
    g = _f32(*want.shape)
    want.backward(torch.tensor(g))
    got.backward(tg.tensor(g))
    pairs = [(gx, tx), (gw, tw)] + ([] if b is None else [(gb, tb)])
    for mine_, theirs_ in pairs:
        np.testing.assert_allclose(_np(mine_.grad), theirs_.grad.numpy(), rtol=1e-4, atol=1e-5)


_CHUNKED = "GeneratedBackwardFor_torch_nn__linear_cross_entropy_batch_chunked_"
_CHUNKED_NAMES = {  # reduction, batched -> the loss's grad_fn and the node under it (PyTorch's)
    ("mean", True): (_CHUNKED + "defaultBackward", None),
    ("sum", True): (_CHUNKED + "defaultBackward", None),
    ("none", True): (_CHUNKED + "no_reduction_defaultBackward", None),
    ("mean", False): ("SqueezeBackward1", _CHUNKED + "defaultBackward"),
    ("none", False): ("SqueezeBackward1", _CHUNKED + "no_reduction_defaultBackward"),
}


def _chunked_names(lib, reduction, batched):
    x = lib.tensor(_f32(6, 4) if batched else _f32(4), requires_grad=True)
    w, b = lib.tensor(_f32(5, 4), requires_grad=True), lib.tensor(_f32(5), requires_grad=True)
    t = lib.tensor(RNG.integers(0, 5, 6) if batched else 3)
    opts = lib.nn.LinearCrossEntropyOptions(batch_chunk_size=4)
    fn = lib.nn.functional.linear_cross_entropy(
        x, w, t, linear_bias=b, reduction=reduction, options=opts
    ).grad_fn
    under = fn.next_functions[0][0].name() if fn.name() == "SqueezeBackward1" else None
    # The chunked node's first inputs: input, linear_weight, target (no node), linear_bias.
    node = fn if under is None else fn.next_functions[0][0]
    edges = [None if f is None else f.name() for f, _ in node.next_functions[:4]]
    return fn.name(), under, edges


@pytest.mark.parametrize("reduction, batched", list(_CHUNKED_NAMES))
def test_linear_cross_entropy_chunked_grad_fn_names(reduction, batched):
    """One node for the whole chunked loss, reduction included, named as PyTorch's."""
    got = _chunked_names(tg, reduction, batched)
    assert got[:2] == _CHUNKED_NAMES[reduction, batched]
    leaf = "torch::autograd::AccumulateGrad"
    want_edges = [leaf, leaf, None, leaf] if batched else ["UnsqueezeBackward0", leaf, None, leaf]
    assert got[2] == want_edges
    torch = pytest.importorskip("torch")
    assert _chunked_names(torch, reduction, batched) == got


@slow
def test_linear_cross_entropy_bfloat16_options_match_torch():
    """With bfloat16 input, options compute in float32 (``acc_dtype`` auto) as PyTorch does."""
    torch = pytest.importorskip("torch")
    x, w, t = _f32(16, 8), _f32(40, 8), RNG.integers(0, 40, 16)
    for opts in (None, dict(batch_chunk_size=4)):
        kw = {} if opts is None else dict(options=torch.nn.LinearCrossEntropyOptions(**opts))
        want = torch.nn.functional.linear_cross_entropy(
            torch.tensor(x).bfloat16(), torch.tensor(w).bfloat16(), torch.tensor(t), **kw
        )
        kw = {} if opts is None else dict(options=tg.nn.LinearCrossEntropyOptions(**opts))
        got = F.linear_cross_entropy(
            tg.tensor(x).bfloat16(), tg.tensor(w).bfloat16(), tg.tensor(t), **kw
        )
        assert got.dtype == tg.bfloat16
        np.testing.assert_allclose(_np(got), want.float().numpy(), rtol=2e-2)


def test_linear_cross_entropy_module_and_option_errors_match_torch():
    torch = pytest.importorskip("torch")
    torch.manual_seed(0)
    theirs = torch.nn.LinearCrossEntropyLoss(5, 10, out_features=(4, 3), bias=True)
    mine = tg.nn.LinearCrossEntropyLoss(5, 10, out_features=(4, 3), bias=True)
    assert repr(mine) == repr(theirs)
    mine.load_state_dict({k: tg.tensor(v.numpy()) for k, v in theirs.state_dict().items()})
    x, t = _f32(2, 5), RNG.integers(0, 10, (2, 4, 3))
    np.testing.assert_allclose(
        _np(mine(tg.tensor(x), tg.tensor(t))),
        theirs(torch.tensor(x), torch.tensor(t)).detach().numpy(),
        rtol=1e-5,
    )
    with pytest.raises(ValueError, match="give different chunk sizes"):
        F.linear_cross_entropy(
            tg.tensor(_f32(10, 8)), tg.tensor(_f32(20, 8)), tg.tensor(RNG.integers(0, 20, 10)),
            options=tg.nn.LinearCrossEntropyOptions(batch_chunk_size=3, chunking_method="aspect_ratio"),
        )  # fmt: skip
    for bad in (dict(acc_policy="x"), dict(chunking_method="aspect"), dict(batch_chunk_size=0)):
        with pytest.raises(ValueError):
            torch.nn.LinearCrossEntropyOptions(**bad)
        with pytest.raises(ValueError):
            tg.nn.LinearCrossEntropyOptions(**bad)
    with pytest.warns(UserWarning, match="``options`` ignored"):
        F.linear_cross_entropy(
            tg.tensor(_f32(4, 3)), tg.tensor(_f32(5, 3)), tg.tensor(RNG.integers(0, 5, 4)),
            label_smoothing=0.1, options=tg.nn.LinearCrossEntropyOptions(),
        )  # fmt: skip
    # as PyTorch: a class weight that requires grad is refused by the plain path, and taken (and
    # given no gradient) by the chunked one
    x, w, t, cw = (
        _tg(_f32(4, 3)),
        tg.tensor(_f32(5, 3)),
        tg.tensor(RNG.integers(0, 5, 4)),
        _tg(_f32(5)),
    )
    with pytest.raises(RuntimeError, match="not differentiable with respect to argument 'weight'"):
        F.linear_cross_entropy(x, w, t, weight=cw)
    F.linear_cross_entropy(x, w, t, weight=cw, options=tg.nn.LinearCrossEntropyOptions()).backward()
    assert cw.grad is None and x.grad is not None
    with pytest.raises(RuntimeError, match="ignore_index cannot be specified"):
        F.linear_cross_entropy(
            tg.tensor(_f32(4, 3)), tg.tensor(_f32(5, 3)), tg.tensor(_f32(4, 5)), ignore_index=1
        )


# ---------------------------------------------------------------------------------- grouped_mm
OFFS = np.array([5, 5, 12, 20], dtype=np.int32)  # an empty group, and 4 rows past the last


def _jnp_grouped_mm(a, b, offs):
    """The grouped product by slicing, group by group (zeros past ``offs[-1]``)."""
    if offs is None:
        return a @ b
    starts = np.concatenate([[0], offs[:-1]])
    spans = list(zip(starts, offs))
    if a.ndim == 2 and b.ndim == 3:
        rows = [a[s:e] @ b[g] for g, (s, e) in enumerate(spans)]
        return jnp.concatenate(rows + [jnp.zeros((a.shape[0] - offs[-1], b.shape[2]), a.dtype)])
    if a.ndim == 3 and b.ndim == 2:
        cols = [a[g] @ b[:, s:e] for g, (s, e) in enumerate(spans)]
        return jnp.concatenate(
            cols + [jnp.zeros((a.shape[1], b.shape[1] - offs[-1]), a.dtype)], axis=1
        )
    return jnp.stack([a[:, s:e] @ b[s:e] for s, e in spans])


# PyTorch's kernel wants 16-byte aligned strides: inner sizes multiples of 8 (bfloat16)
LAYOUTS = [((24, 8), (4, 8, 8)), ((4, 8, 8), (8, 24)), ((8, 24), (24, 16)), ((4, 8, 8), (4, 8, 16))]


@pytest.mark.parametrize("shapes", slow_after(LAYOUTS), ids=str)
def test_grouped_mm_matches_jax_vjp(shapes):
    a, b = _f32(*shapes[0]), _f32(*shapes[1])
    offs = None if len(shapes[0]) == len(shapes[1]) == 3 else OFFS
    ta, tb = _tg(a), _tg(b)
    out = F.grouped_mm(ta, tb, offs=None if offs is None else tg.tensor(offs))
    ref, vjp = jax.vjp(lambda a, b: _jnp_grouped_mm(a, b, offs), a, b)
    g = _f32(*ref.shape)
    out.backward(tg.tensor(g))
    np.testing.assert_allclose(_np(out), ref, rtol=1e-5, atol=1e-5)
    for got, want in zip((ta, tb), vjp(jnp.asarray(g))):
        np.testing.assert_allclose(_np(got.grad), want, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize(
    "shapes,dtype",
    slow_after([(s, d) for d in ("float32", "bfloat16") for s in LAYOUTS], multi=True),
)
def test_grouped_mm_matches_torch(shapes, dtype):
    """Forward and gradients against PyTorch's CPU kernel, with offsets covering every row (past
    ``offs[-1]`` PyTorch leaves the output unspecified and its backward refuses)."""
    torch = pytest.importorskip("torch")
    full = np.array([5, 5, 12, 24], dtype=np.int32)
    offs = None if len(shapes[0]) == len(shapes[1]) == 3 else full
    a, b = _f32(*shapes[0]), _f32(*shapes[1])
    tdt, gdt = getattr(torch, dtype), getattr(tg, dtype)
    xa, xb = (torch.tensor(v).to(tdt).requires_grad_() for v in (a, b))
    want = torch.nn.functional.grouped_mm(xa, xb, offs=None if offs is None else torch.tensor(offs))
    ga, gb = (tg.tensor(v).to(gdt).requires_grad_() for v in (a, b))
    got = F.grouped_mm(ga, gb, offs=None if offs is None else tg.tensor(offs))
    assert got.dtype == gdt and tuple(got.shape) == tuple(want.shape)
    tol = dict(rtol=1e-5, atol=1e-5) if dtype == "float32" else dict(rtol=2e-2, atol=5e-2)
    np.testing.assert_allclose(_np(got), want.detach().float().numpy(), **tol)
    g = _f32(*want.shape)
    want.backward(torch.tensor(g).to(tdt))
    got.backward(tg.tensor(g).to(gdt))
    for mine, theirs in ((ga, xa), (gb, xb)):
        np.testing.assert_allclose(_np(mine.grad), theirs.grad.float().numpy(), **tol)


@slow
def test_grouped_mm_errors_match_torch():
    torch = pytest.importorskip("torch")
    i32 = np.int32
    cases = [
        ((24, 8), (4, 8, 8), np.array([5, 12, 20, 24]).astype(np.int64), {}),
        ((24, 8), (4, 8, 8), None, {}),
        ((4, 24, 8), (4, 8, 8), OFFS, {}),
        ((24, 8), (3, 8, 8), OFFS, {}),
        ((2, 24, 8), (4, 8, 8), None, {}),
        ((24, 8), (4, 16, 8), OFFS, {}),
        ((24, 8), (4, 8, 8), OFFS, dict(bias=True)),
        ((24, 8), (4, 8, 8), OFFS, dict(out_dtype="bfloat16")),
        ((24, 8), (4, 8, 8), OFFS.astype(i32), dict(b_dtype="bfloat16")),
    ]
    for sa, sb, offs, extra in cases:
        a, b = _f32(*sa), _f32(*sb)
        outs = []
        for lib in (torch, tg):
            kw = {}
            if "bias" in extra:
                kw["bias"] = lib.tensor(_f32(4, 8))
            if "out_dtype" in extra:
                kw["out_dtype"] = getattr(lib, extra["out_dtype"])
            mb = lib.tensor(b)
            if "b_dtype" in extra:
                mb = mb.to(getattr(lib, extra["b_dtype"]))
            o = None if offs is None else lib.tensor(offs)
            with pytest.raises(RuntimeError) as err:
                lib.nn.functional.grouped_mm(lib.tensor(a), mb, offs=o, **kw)
            outs.append(str(err.value))
        assert outs[1] == outs[0], (sa, sb, extra)


# ------------------------------------------------------------------ second order, compiled step
@slow
def test_linear_cross_entropy_chunked_second_order_matches_jax():
    """The chunked backward is written in tracegrad ops: gradients of gradients flow."""
    x, w, b = _f32(6, 4), _f32(5, 4), _f32(5)
    t, cw = RNG.integers(0, 5, 6), np.abs(_f32(5)) + 0.5
    xs, ws, bs = _tg(x), _tg(w), _tg(b)
    opts = tg.nn.LinearCrossEntropyOptions(batch_chunk_size=4)
    loss = F.linear_cross_entropy(
        xs, ws, tg.tensor(t), linear_bias=bs, weight=tg.tensor(cw), options=opts
    )
    (gx,) = tg.autograd.grad(loss, xs, create_graph=True)
    (gx * gx).sum().backward()

    def ref(x, w, b):
        gx = jax.grad(lambda x: _jnp_lce(x, w, b, t, cw, -100, "mean"))(x)
        return (gx * gx).sum()

    want = jax.grad(ref, argnums=(0, 1, 2))(x, w, b)
    for got, w_ in zip((xs, ws, bs), want):
        np.testing.assert_allclose(_np(got.grad), w_, rtol=1e-4, atol=1e-6)


def test_compiled_step_with_chunked_loss_and_grouped_mm_matches_eager():
    """Inside ``tracegrad.compile`` the offsets are traced values: the same loss and gradients."""
    x, w1 = _f32(16, 8), _f32(4, 8, 8)
    w2, t = _f32(24, 8), RNG.integers(0, 24, 16)
    offs = np.array([3, 9, 9, 14], dtype=np.int32)
    opts = tg.nn.LinearCrossEntropyOptions(batch_chunk_size=5)

    def step(x, w1, w2, t, offs):
        h = F.grouped_mm(x, w1, offs=offs).relu()
        loss = F.linear_cross_entropy(h, w2, t, options=opts)
        loss.backward()
        return loss

    results = []
    for run in (step, tg.compile(step)):
        p1, p2 = _tg(w1), _tg(w2)
        loss = run(tg.tensor(x), p1, p2, tg.tensor(t), tg.tensor(offs))
        results.append([_np(loss), _np(p1.grad), _np(p2.grad)])
    for eager, compiled in zip(*results):
        np.testing.assert_allclose(compiled, eager, rtol=1e-5, atol=1e-6)
