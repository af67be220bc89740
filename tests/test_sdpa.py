"""``F.scaled_dot_product_attention`` and ``tracegrad.nn.attention`` against two oracles: PyTorch
(outputs, gradients of query/key/value and of a float mask, grad_fn names, errors, the fully
masked rows of its CPU kernels) and an independent ``jax.numpy`` attention differentiated by
``jax.vjp`` (so the checks mean something without PyTorch). Dropout is compared with the same keep
mask, regenerated from the key the op draws. The op's node keeps no ``L x S`` array.

The registry-generated checks (tests/test_op_registry.py: jax.vjp of the lowering, finite
differences, second order) run on the samples in tests/samples/attention.py."""

from __future__ import annotations

import math
import warnings

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import tracegrad as tg
import tracegrad.nn.functional as F
from tracegrad.nn.attention import SDPBackend, sdpa_kernel
from tracegrad.nn.attention.bias import CausalVariant, causal_lower_right, causal_upper_left

from .tiers import slow_after

TOL = dict(rtol=1e-10, atol=1e-12)


# ------------------------------------------------------------------------------- the cases
def _mask(kind: str, shape: tuple, rng) -> np.ndarray | None:
    """A mask of ``shape`` whose second row is masked everywhere (bool all False, float -inf)."""
    if kind == "none":
        return None
    if kind == "finite":
        return rng.standard_normal(shape)
    if kind == "bool":
        m = rng.random(shape) > 0.4
        m[..., 1, :] = False
        return m
    m = rng.standard_normal(shape)
    m[..., 1, :] = -np.inf
    m[..., 0, 0] = -np.inf
    return m


# (id, q shape, k shape, v shape, mask kind, mask shape, keywords)
CASES = [
    ("plain-4d", (2, 3, 4, 5), (2, 3, 6, 5), (2, 3, 6, 5), "none", None, {}),
    ("bool-mask-dead-row", (2, 3, 4, 2), (2, 3, 5, 2), (2, 3, 5, 3), "bool", (4, 5), {}),
    ("gqa-k2-v1", (2, 4, 3, 2), (2, 2, 5, 2), (2, 1, 5, 3), "none", None, {"enable_gqa": True}),
    ("float-mask-grad", (2, 3, 4, 2), (2, 3, 5, 2), (2, 3, 5, 3), "float", (1, 3, 4, 5), {}),
    ("causal", (2, 2, 4, 3), (2, 2, 4, 3), (2, 2, 4, 2), "none", None, {"is_causal": True}),
    ("causal-L>S", (5, 3), (3, 3), (3, 2), "none", None, {"is_causal": True}),
    ("causal-L<S", (3, 2, 3), (3, 5, 3), (3, 5, 3), "none", None, {"is_causal": True}),
    ("scale", (2, 4, 3), (2, 5, 3), (2, 5, 2), "none", None, {"scale": 0.37}),
    ("2d", (4, 3), (5, 3), (5, 2), "none", None, {}),
    ("5d-broadcast", (2, 1, 2, 3, 2), (1, 3, 2, 4, 2), (2, 3, 1, 4, 2), "none", None, {}),
    ("gqa-3d", (4, 3, 2), (2, 4, 2), (2, 4, 3), "bool", (3, 4), {"enable_gqa": True}),
    ("E=0", (2, 3, 0), (2, 4, 0), (2, 4, 2), "none", None, {}),
    ("S=0", (2, 3, 2), (2, 0, 2), (2, 0, 2), "none", None, {}),
]
# The full grids are slow; the fast tier checks one case against one oracle (test_one_case_fast).
CASE_PARAMS = slow_after([pytest.param(*c[1:], id=c[0]) for c in CASES], keep=0)


def _arrays(qs, ks, vs, mask_kind, mask_shape, seed=0):
    rng = np.random.default_rng(seed)
    q, k, v = (rng.standard_normal(s) for s in (qs, ks, vs))
    mask = _mask(mask_kind, mask_shape, rng) if mask_shape else None
    return q, k, v, mask


def _tracegrad(q, k, v, mask, cot, **kw):
    """Output and gradients (q, k, v, float mask) from tracegrad."""
    ts = [tg.tensor(a, requires_grad=True) for a in (q, k, v)]
    tm = None
    if mask is not None:
        tm = tg.tensor(mask, requires_grad=mask.dtype.kind == "f")
    out = F.scaled_dot_product_attention(*ts, attn_mask=tm, **kw)
    out.backward(tg.tensor(cot))
    grads = [np.asarray(t.grad) for t in ts]
    if tm is not None and tm.requires_grad:
        grads.append(np.asarray(tm.grad))
    return np.asarray(out.detach()), grads, out


def _reference(q, k, v, mask, *, is_causal=False, scale=None, enable_gqa=False, keep=None, p=0.0):
    """Attention in jax.numpy, written from the definition (not from the op's lowering)."""
    if enable_gqa:
        k = jnp.repeat(k, q.shape[-3] // k.shape[-3], axis=-3)
        v = jnp.repeat(v, q.shape[-3] // v.shape[-3], axis=-3)
    e = q.shape[-1]
    scale = (1 / math.sqrt(e) if e else 1.0) if scale is None else scale
    s = jnp.matmul(q, jnp.swapaxes(k, -1, -2)) * scale
    if mask is not None:
        s = jnp.where(mask, s, -jnp.inf) if mask.dtype == bool else s + mask
    if is_causal:
        s = jnp.where(jnp.tril(jnp.ones(s.shape[-2:], bool)), s, -jnp.inf)
    m = jnp.max(s, axis=-1, keepdims=True, initial=-jnp.inf)
    m = jnp.where(jnp.isfinite(m), m, 0)
    w = jnp.exp(s - m)
    d = jnp.sum(w, axis=-1, keepdims=True)
    prob = jnp.where(d > 0, w / jnp.where(d > 0, d, 1), 0)
    if keep is not None:
        prob = prob * keep / (1 - p)
    return jnp.matmul(prob, v)


def _jax_oracle(q, k, v, mask, cot, **kw):
    float_mask = mask is not None and mask.dtype.kind == "f"
    primals = [jnp.asarray(a) for a in (q, k, v)] + ([jnp.asarray(mask)] if float_mask else [])

    def f(*xs):
        m = xs[3] if float_mask else (None if mask is None else jnp.asarray(mask))
        return _reference(xs[0], xs[1], xs[2], m, **kw)

    out, vjp = jax.vjp(f, *primals)
    grads = vjp(jnp.asarray(cot))
    # jax.vjp of -inf mask entries: exp(-inf) is 0 and so is its derivative, as PyTorch's
    return np.asarray(out), [np.asarray(g) for g in grads]


def _torch_oracle(torch, q, k, v, mask, cot, **kw):
    ts = [torch.tensor(a, requires_grad=True) for a in (q, k, v)]
    tm = None
    if mask is not None:
        tm = torch.tensor(mask, requires_grad=mask.dtype.kind == "f")
    out = torch.nn.functional.scaled_dot_product_attention(*ts, attn_mask=tm, **kw)
    out.backward(torch.tensor(cot))
    grads = [t.grad.numpy() for t in ts]
    if tm is not None and tm.requires_grad:
        grads.append(tm.grad.numpy())
    return out.detach().numpy(), grads, out


def _cot(qs, ks, vs, seed=1, gqa=False):
    if gqa:  # key/value heads are repeated to the query's
        ks, vs = ks[:-3] + qs[-3:-2] + ks[-2:], vs[:-3] + qs[-3:-2] + vs[-2:]
    shape = np.broadcast_shapes(qs[:-2], ks[:-2], vs[:-2]) + (qs[-2], vs[-1])
    return np.random.default_rng(seed).standard_normal(shape)


def _assert_all_close(got, expected):
    out, grads = got
    e_out, e_grads = expected
    np.testing.assert_allclose(out, e_out, **TOL)
    assert len(grads) == len(e_grads)
    for g, e in zip(grads, e_grads):
        assert g.shape == e.shape
        np.testing.assert_allclose(g, e, **TOL)


# -------------------------------------------------------------------------- values and gradients
@pytest.mark.parametrize("qs,ks,vs,mask_kind,mask_shape,kw", CASE_PARAMS)
def test_matches_jax_reference(qs, ks, vs, mask_kind, mask_shape, kw):
    q, k, v, mask = _arrays(qs, ks, vs, mask_kind, mask_shape)
    cot = _cot(qs, ks, vs, gqa=kw.get("enable_gqa", False))
    out, grads, _ = _tracegrad(q, k, v, mask, cot, **kw)
    _assert_all_close((out, grads), _jax_oracle(q, k, v, mask, cot, **kw))


@pytest.mark.parametrize("qs,ks,vs,mask_kind,mask_shape,kw", CASE_PARAMS)
def test_matches_pytorch(qs, ks, vs, mask_kind, mask_shape, kw):
    torch = pytest.importorskip("torch")
    q, k, v, mask = _arrays(qs, ks, vs, mask_kind, mask_shape)
    cot = _cot(qs, ks, vs, gqa=kw.get("enable_gqa", False))
    out, grads, t_out = _tracegrad(q, k, v, mask, cot, **kw)
    e_out, e_grads, p_out = _torch_oracle(torch, q, k, v, mask, cot, **kw)
    _assert_all_close((out, grads), (e_out, e_grads))
    if 0 not in qs + ks + vs:  # PyTorch's empty cases end in other ops (an AddBackward0)
        assert t_out.grad_fn.name() == type(p_out.grad_fn).__name__


def test_one_case_fast():
    """The bool-mask case (a fully masked row included) against PyTorch, or, without PyTorch,
    against the jax.numpy reference."""
    qs, ks, vs, mask_kind, mask_shape, kw = CASES[1][1:]
    q, k, v, mask = _arrays(qs, ks, vs, mask_kind, mask_shape)
    cot = _cot(qs, ks, vs)
    out, grads, _ = _tracegrad(q, k, v, mask, cot, **kw)
    try:
        import torch
    except ImportError:
        expected = _jax_oracle(q, k, v, mask, cot, **kw)
    else:
        expected = _torch_oracle(torch, q, k, v, mask, cot, **kw)[:2]
    _assert_all_close((out, grads), expected)


@pytest.mark.slow
def test_fully_masked_rows_are_zero_with_zero_gradients():
    # PyTorch's CPU kernels (flash and math): a row with no key taking part gives 0, and its
    # query gets no gradient; exact math, since the output does not depend on it.
    q, k, v, _ = _arrays((1, 2, 3, 2), (1, 2, 4, 2), (1, 2, 4, 3), "none", None)
    cot = _cot(q.shape, k.shape, v.shape)
    for mask in (np.ones((3, 4), bool), np.zeros((3, 4))):
        mask[1] = False if mask.dtype == bool else -np.inf
        out, grads, _ = _tracegrad(q, k, v, mask, cot)
        assert np.all(out[..., 1, :] == 0) and not np.isnan(out).any()
        assert np.all(grads[0][..., 1, :] == 0)
        assert all(not np.isnan(g).any() for g in grads)


@pytest.mark.slow
def test_half_precision_softmax_in_float32():
    # float16 inputs: scores whose exponentials overflow float16 (e^12 > 65504 is not the issue;
    # sums over many keys are) still give PyTorch's float16 result within float16 resolution.
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(5)
    q, k, v = (rng.standard_normal((1, 2, 8, 4)).astype(np.float16) * 4 for _ in range(3))
    mask = rng.standard_normal((8, 8)).astype(np.float32)  # float32 masks go with any query dtype
    got = F.scaled_dot_product_attention(*(tg.tensor(a) for a in (q, k, v)), tg.tensor(mask))
    ref = torch.nn.functional.scaled_dot_product_attention(
        *(torch.tensor(a) for a in (q, k, v)), torch.tensor(mask)
    )
    assert got.dtype == tg.float16
    np.testing.assert_allclose(np.asarray(got).astype(np.float32), ref.float().numpy(), atol=2e-2)


# ------------------------------------------------------------------------------------ dropout
def _dropout_case(p: float, mask_kind: str):
    q, k, v, mask = _arrays((2, 2, 3, 2), (2, 2, 4, 2), (2, 2, 4, 3), mask_kind, (3, 4), seed=7)
    cot = _cot(q.shape, k.shape, v.shape)
    tg.manual_seed(11)
    out, grads, _ = _tracegrad(q, k, v, mask, cot, dropout_p=p)
    # The op draws one key from the generator; the same key gives the same keep mask.
    tg.manual_seed(11)
    key = tg.random.next_key()
    keep = np.asarray(jax.random.bernoulli(key, 1 - p, (2, 2, 3, 4)))
    return q, k, v, mask, cot, (out, grads), keep


@pytest.mark.slow
@pytest.mark.parametrize("p,mask_kind", [(0.4, "none"), (0.3, "float")])
def test_dropout_matches_jax_reference_with_the_same_mask(p, mask_kind):
    q, k, v, mask, cot, got, keep = _dropout_case(p, mask_kind)
    assert 0 < keep.mean() < 1
    _assert_all_close(got, _jax_oracle(q, k, v, mask, cot, keep=keep, p=p))


@pytest.mark.slow
def test_dropout_matches_pytorch_math_with_the_same_mask():
    torch = pytest.importorskip("torch")
    p = 0.4
    # A finite mask: composed in PyTorch, a fully masked row's softmax is NaN (and its gradients).
    q, k, v, mask, cot, got, keep = _dropout_case(p, "finite")
    ts = [torch.tensor(a, requires_grad=True) for a in (q, k, v, mask)]
    s = ts[0] @ ts[1].transpose(-2, -1) / math.sqrt(q.shape[-1]) + ts[3]
    prob = torch.softmax(s, -1) * torch.tensor(keep) / (1 - p)
    out = prob @ ts[2]
    out.backward(torch.tensor(cot))
    _assert_all_close(got, (out.detach().numpy(), [t.grad.numpy() for t in ts]))


@pytest.mark.slow
def test_dropout_draws_fresh_masks_and_edge_probabilities():
    q = tg.randn(1, 2, 6, 3)
    tg.manual_seed(0)
    a = F.scaled_dot_product_attention(q, q, q, dropout_p=0.5)
    b = F.scaled_dot_product_attention(q, q, q, dropout_p=0.5)
    assert not np.allclose(np.asarray(a), np.asarray(b))
    # PyTorch: p == 1 drops everything; p <= 0 applies no dropout at all (negative too).
    assert np.all(np.asarray(F.scaled_dot_product_attention(q, q, q, dropout_p=1.0)) == 0)
    plain = np.asarray(F.scaled_dot_product_attention(q, q, q))
    np.testing.assert_array_equal(
        np.asarray(F.scaled_dot_product_attention(q, q, q, dropout_p=-0.5)), plain
    )


# ------------------------------------------------------------------------------------- memory
@pytest.mark.slow
def test_node_keeps_no_L_by_S_array():
    L, S, E = 7, 11, 3
    q = tg.randn(2, 2, L, E, requires_grad=True)
    k = tg.randn(2, 2, S, E, requires_grad=True)
    v = tg.randn(2, 2, S, E, requires_grad=True)
    for kw in ({}, {"is_causal": True}, {"dropout_p": 0.3}):
        out = F.scaled_dot_product_attention(q, k, v, **kw)
        node = out.grad_fn
        held = [x for x in node.inputs if isinstance(x, tg.Tensor)]
        if getattr(node, "_out", None) is not None:
            held.append(node._out)
        assert all(L * S not in (math.prod(x.shape[-2:]),) for x in held), [x.shape for x in held]
        assert len(node.next_functions) == 5
        # Composed attention, for contrast, keeps the L x S probabilities.
    s = (q @ k.transpose(-2, -1)).softmax(-1)
    assert tuple(s.grad_fn._out.array.shape[-2:]) == (L, S)


# -------------------------------------------------------------------------------------- errors
_r = np.random.default_rng(0).standard_normal
ERRORS = [
    (
        "causal-and-mask",
        ((2, 4, 3), (2, 4, 3), (2, 4, 3)),
        {"attn_mask": ("bool", (4, 4)), "is_causal": True},
        RuntimeError,
        "_scaled_dot_product_attention: Explicit attn_mask should not be set when is_causal=True",
    ),
    (
        "gqa-not-divisible",
        ((1, 4, 4, 3), (1, 3, 4, 3), (1, 3, 4, 3)),
        {"enable_gqa": True},
        RuntimeError,
        "Number of heads in key and value must divide the number of heads in ",
    ),
    (
        "heads-differ-without-gqa",
        ((1, 4, 4, 3), (1, 2, 4, 3), (1, 2, 4, 3)),
        {},
        RuntimeError,
        "The size of tensor a (4) must match the size of tensor b (2) at non-singleton dimension 1",
    ),
    (
        "gqa-2d",
        ((4, 3), (4, 3), (4, 3)),
        {"enable_gqa": True},
        IndexError,
        "Dimension out of range (expected to be in range of [-2, 1], but got -3)",
    ),
    (
        "dtypes",
        ((2, 4, 3), (2, 4, 3), (2, 4, 3, "float32")),
        {},
        RuntimeError,
        "Expected query, key, and value to have the same dtype, but got query.dtype: double "
        "key.dtype: double and value.dtype: float instead.",
    ),
    (
        "mask-dtype",
        ((2, 4, 3), (2, 4, 3), (2, 4, 3)),
        {"attn_mask": ("int64", (4, 4))},
        RuntimeError,
        "Expected attn_mask dtype to be bool or float or to match query dtype, but got "
        "attn_mask.dtype: long int and  query.dtype: double instead.",
    ),
    (
        "1d",
        ((3,), (3,), (3,)),
        {},
        RuntimeError,
        "Expected query, key, and value to all be  at least 2 dimensional, but got query.dim: 1 "
        "key.dim: 1 and value.dim: 1 instead.",
    ),
    (
        "E-mismatch",
        ((2, 4, 3), (2, 4, 4), (2, 4, 3)),
        {},
        RuntimeError,
        "Expected size for first two dimensions of batch2 tensor to be: [2, 3] but got: [2, 4].",
    ),
    (
        "S-mismatch",
        ((2, 4, 3), (2, 5, 3), (2, 4, 3)),
        {},
        RuntimeError,
        "Expected size for first two dimensions of batch2 tensor to be: [2, 5] but got: [2, 4].",
    ),
    (
        "dropout>1",
        ((2, 4, 3), (2, 4, 3), (2, 4, 3)),
        {"dropout_p": 1.5},
        RuntimeError,
        "dropout probability has to be between 0 and 1, but got 1.5",
    ),
    (
        "mask-not-broadcastable",
        ((2, 4, 3), (2, 4, 3), (2, 4, 3)),
        {"attn_mask": ("float64", (3, 4))},
        RuntimeError,
        "The size of tensor a (4) must match the size of tensor b (3) at non-singleton dimension 1",
    ),
    (
        "mask-grows-output",
        ((2, 4, 3), (2, 4, 3), (2, 4, 3)),
        {"attn_mask": ("float64", (1, 2, 2, 4, 4))},
        RuntimeError,
        "output with shape [2, 4, 4] doesn't match the broadcast shape [1, 2, 2, 4, 4]",
    ),
]


def _error_call(lib, shapes, kw):
    def arr(spec):
        shape, dtype = (spec[:-1], spec[-1]) if isinstance(spec[-1], str) else (spec, "float64")
        return lib.tensor(_r(shape).astype(dtype))

    kw = dict(kw)
    if "attn_mask" in kw:
        dtype, shape = kw["attn_mask"]
        kw["attn_mask"] = lib.tensor(np.ones(shape, dtype))
    return lambda: lib.nn.functional.scaled_dot_product_attention(*map(arr, shapes), **kw)


@pytest.mark.parametrize(
    "shapes,kw,etype,message",
    slow_after([pytest.param(*e[1:], id=e[0]) for e in ERRORS], keep=len(ERRORS)),
)
def test_errors_as_pytorch(shapes, kw, etype, message):
    with pytest.raises(etype) as info:
        _error_call(tg, shapes, kw)()
    assert str(info.value) == message
    torch = pytest.importorskip("torch")
    with pytest.raises(etype) as info:
        _error_call(torch, shapes, kw)()
    assert str(info.value) == message


def test_scale_and_gqa_are_keyword_only_as_in_pytorch():
    q = tg.randn(2, 3)
    with pytest.raises(TypeError):
        F.scaled_dot_product_attention(q, q, q, None, 0.0, False, 0.5)


# ----------------------------------------------------------------------------- nn.attention
def test_sdp_backend_members_as_pytorch():
    expected = {
        "ERROR": -1,
        "MATH": 0,
        "FLASH_ATTENTION": 1,
        "EFFICIENT_ATTENTION": 2,
        "CUDNN_ATTENTION": 3,
        "OVERRIDEABLE": 4,
    }
    assert {m.name: int(m) for m in SDPBackend} == expected
    assert (
        repr(SDPBackend.MATH) == "<SDPBackend.MATH: 0>"
        and str(SDPBackend.MATH) == "SDPBackend.MATH"
    )
    torch = pytest.importorskip("torch")
    assert {n: int(m) for n, m in torch.nn.attention.SDPBackend.__members__.items()} == expected
    assert set(tg.nn.attention.__all__) == set(torch.nn.attention.__all__)


def test_sdpa_kernel_selects_restores_and_refuses_no_backend():
    cuda = tg.backends.cuda
    q = tg.randn(1, 2, 3)
    with sdpa_kernel(SDPBackend.MATH) as ctx:
        assert ctx == {}
        assert cuda.math_sdp_enabled() and not cuda.flash_sdp_enabled()
        F.scaled_dot_product_attention(q, q, q)
        with sdpa_kernel([SDPBackend.FLASH_ATTENTION, SDPBackend.CUDNN_ATTENTION], True):
            assert cuda.flash_sdp_enabled() and not cuda.math_sdp_enabled()
        assert cuda.math_sdp_enabled() and not cuda.flash_sdp_enabled()
    assert all(
        f() for f in (cuda.math_sdp_enabled, cuda.flash_sdp_enabled, cuda.mem_efficient_sdp_enabled)
    )
    with sdpa_kernel([]), pytest.raises(RuntimeError, match="^No viable backend for scaled_dot"):
        F.scaled_dot_product_attention(q, q, q)
    with pytest.raises(AssertionError, match="got tuple"), sdpa_kernel((SDPBackend.MATH,)):
        pass
    F.scaled_dot_product_attention(q, q, q)  # restored after the error


def test_flash_attention_impl_registry():
    A = tg.nn.attention
    assert A.list_flash_attention_impls() == [] and A.current_flash_attention_impl() is None
    with pytest.raises(ValueError, match="Unknown flash attention impl 'FA4'"):
        A.activate_flash_attention_impl("FA4")
    A.register_flash_attention_impl("Mine", register_fn=lambda: None)
    assert "Mine" in A.list_flash_attention_impls()
    with pytest.raises(NotImplementedError, match="XLA chooses the attention kernel"):
        A.activate_flash_attention_impl("Mine")


@pytest.mark.slow
@pytest.mark.parametrize("lq,s", [(3, 5), (4, 4), (2, 2)])
def test_causal_biases_match_pytorch(lq, s):
    torch = pytest.importorskip("torch")
    from torch.nn.attention import bias as tbias

    q, k, v, _ = _arrays((2, 2, lq, 3), (2, 2, s, 3), (2, 2, s, 2), "none", None)
    cot = _cot(q.shape, k.shape, v.shape)
    for ours, theirs in (
        (causal_lower_right(lq, s), tbias.causal_lower_right(lq, s)),
        (causal_upper_left(lq, s), tbias.causal_upper_left(lq, s)),
    ):
        ts = [tg.tensor(a, requires_grad=True) for a in (q, k, v)]
        out = F.scaled_dot_product_attention(*ts, attn_mask=ours)
        out.backward(tg.tensor(cot))
        ps = [torch.tensor(a, requires_grad=True) for a in (q, k, v)]
        ref = torch.nn.functional.scaled_dot_product_attention(*ps, attn_mask=theirs)
        ref.backward(torch.tensor(cot))
        np.testing.assert_allclose(np.asarray(out.detach()), ref.detach().numpy(), **TOL)
        for t, p in zip(ts, ps):
            np.testing.assert_allclose(np.asarray(t.grad), p.grad.numpy(), **TOL)
        np.testing.assert_array_equal(np.asarray(ours._materialize()), theirs._materialize())


def test_causal_bias_errors():
    q = tg.randn(2, 3)
    with pytest.raises(ValueError, match="CausalBias should not be used with causal=True"):
        F.scaled_dot_product_attention(q, q, q, attn_mask=causal_upper_left(2, 2), is_causal=True)
    with pytest.raises(AssertionError, match="only supports 2D"):
        causal_lower_right(1, 2, 3)
    with warnings.catch_warnings(record=True) as w:
        warnings.simplefilter("always")
        assert causal_lower_right(3, 2).variant is CausalVariant.LOWER_RIGHT
    assert "produce NaNs" in str(w[0].message)
