"""``nn.MultiheadAttention`` and ``multi_head_attention_forward``: values, attention weights and
gradients (inputs and every parameter) against PyTorch for each option and mask form, against an
independent ``jax.numpy`` implementation (``jax.vjp`` for the gradients) without PyTorch, and
PyTorch's parameters, initialisation, warnings and errors."""

from __future__ import annotations

import math
import warnings

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import tracegrad as tg
from tests.tiers import slow, slow_after

E, H, L, S, N = 8, 2, 4, 5, 3
RNG = np.random.default_rng(0)


def _torch():
    return pytest.importorskip("torch")


def _pair(torch, **kw):
    """A float64 PyTorch MHA and a tracegrad one holding the same parameters."""
    torch.manual_seed(0)
    mt = torch.nn.MultiheadAttention(E, H, dtype=torch.float64, **kw)
    if kw.get("bias", True):
        with torch.no_grad():  # PyTorch starts the biases at zero: make them count.
            for name, p in mt.named_parameters():
                if "bias" in name:
                    p.normal_()
    mg = tg.nn.MultiheadAttention(E, H, dtype=tg.float64, **kw)
    mg.load_state_dict({k: tg.tensor(v.detach().numpy()) for k, v in mt.state_dict().items()})
    return mt, mg


def _kpm(batched: bool, kind: str, s: int = S):
    """A key-padding mask: boolean (True pads) or additive float; no row is fully masked."""
    m = np.zeros((N, s), bool)
    m[0, -2:] = True
    m[2, 1] = True
    if not batched:
        m = m[0]
    return m if kind == "bool" else np.where(m, -np.inf, 0.0) + (~m) * 0.3 * RNG.random(m.shape)


def _attn_mask(kind: str, dims: int, batch: int = N, lq: int = L, s: int = S):
    m = np.zeros((lq, s), bool)
    m[np.triu_indices(lq, 1, s)] = True
    m[:, 0] = False  # every query sees at least key 0
    if dims == 3:
        m = np.broadcast_to(m, (batch * H, lq, s)).copy()
        m[1, 2, 3] = True
    return m if kind == "bool" else np.where(m, -np.inf, 0.0) + 0.2 * RNG.random(m.shape)


# (constructor keywords, forward keywords, inputs: "self" | "kv" | "cross", batched)
CASES = {
    "default": ({}, {}, "self", True),
    "no_weights": ({}, {"need_weights": False}, "self", True),
    "kpm_bool_mask2d_bool": ({}, {"key_padding_mask": "bool", "attn_mask": ("bool", 2)}, "cross", True),
    "bias_kv_zero_attn_float": (
        {"add_bias_kv": True, "add_zero_attn": True},
        {"key_padding_mask": "float", "attn_mask": ("float", 2)},
        "cross",
        True,
    ),
    "batch_first": ({"batch_first": True}, {}, "self", True),
    "batch_first_kv": ({"batch_first": True}, {"need_weights": False}, "kv", True),
    "kdim_vdim": ({"kdim": 5, "vdim": 3}, {"key_padding_mask": "bool"}, "cross", True),
    "kdim_vdim_no_weights": ({"kdim": 5, "vdim": 3}, {"need_weights": False}, "cross", True),
    "mask3d_bool": ({}, {"attn_mask": ("bool", 3)}, "cross", True),
    "mask3d_float_no_weights": ({}, {"attn_mask": ("float", 3), "need_weights": False}, "cross", True),
    "mask2d_kpm_no_weights": (
        {},
        {"attn_mask": ("bool", 2), "key_padding_mask": "bool", "need_weights": False},
        "cross",
        True,
    ),
    "per_head": ({}, {"average_attn_weights": False, "key_padding_mask": "bool"}, "kv", True),
    "causal_hint_sdpa": ({}, {"attn_mask": ("causal", 2), "is_causal": True, "need_weights": False}, "self", True),
    "causal_hint_weights": ({}, {"attn_mask": ("causal", 2), "is_causal": True}, "self", True),
    "causal_hint_kpm": (
        {},
        {"attn_mask": ("causal", 2), "is_causal": True, "key_padding_mask": "bool", "need_weights": False},
        "self",
        True,
    ),
    "zero_attn_kpm_bool": ({"add_zero_attn": True}, {"key_padding_mask": "bool"}, "kv", True),
    "bias_kv_mask3d_no_weights": ({"add_bias_kv": True}, {"attn_mask": ("bool", 3), "need_weights": False}, "kv", True),
    "no_bias": ({"bias": False}, {"attn_mask": ("float", 2)}, "cross", True),
    "unbatched": ({}, {"key_padding_mask": "bool"}, "cross", False),
    "unbatched_mask3d_no_weights": ({}, {"attn_mask": ("bool", 3), "need_weights": False}, "self", False),
    "unbatched_batch_first_per_head": ({"batch_first": True}, {"average_attn_weights": False}, "kv", False),
}  # fmt: skip

# The fast tier: the explicit-weights path with every extra (bias_kv, zero_attn, float masks);
# tests/test_transformer.py's fast tier covers the scaled_dot_product_attention path.
FAST = ["bias_kv_zero_attn_float"]


def _inputs(kind: str, batched: bool, batch_first: bool, kdim: int, vdim: int):
    """numpy query, key, value; ``kind`` says which of them are one array (identity matters:
    it selects PyTorch's packed projection)."""
    lead_q = (L,) if not batched else ((N, L) if batch_first else (L, N))
    lead_k = (S,) if not batched else ((N, S) if batch_first else (S, N))
    if kind == "self":
        lead_k = lead_q
    q = RNG.standard_normal((*lead_q, E))
    k = RNG.standard_normal((*lead_k, kdim))
    v = RNG.standard_normal((*lead_k, vdim))
    return q, k, v


def _build(lib, kind, q, k, v):
    """The three tensors for ``lib``, sharing objects where ``kind`` says, and the leaves."""
    if kind == "self":
        x = lib.tensor(q, requires_grad=True)
        return (x, x, x), [x]
    if kind == "kv":
        a, b = lib.tensor(q, requires_grad=True), lib.tensor(k, requires_grad=True)
        return (a, b, b), [a, b]
    ts = [lib.tensor(a, requires_grad=True) for a in (q, k, v)]
    return tuple(ts), ts


def _masks(fk: dict, batched: bool, s: int, lq: int):
    out = dict(fk)
    if "key_padding_mask" in fk:
        out["key_padding_mask"] = _kpm(batched, fk["key_padding_mask"], s)
    if "attn_mask" in fk:
        kind, dims = fk["attn_mask"]
        if kind == "causal":
            out["attn_mask"] = np.triu(np.full((lq, lq), -np.inf), 1)
        else:
            m = _attn_mask(kind, dims, N if batched else 1, lq, s)
            out["attn_mask"] = m
    return out


def _close(a, b, what):
    np.testing.assert_allclose(np.asarray(b), np.asarray(a), rtol=1e-9, atol=1e-11, err_msg=what)


@pytest.mark.filterwarnings("ignore:Support for mismatched key_padding_mask")
@pytest.mark.parametrize(
    "case", slow_after(FAST + [c for c in CASES if c not in FAST], keep=len(FAST))
)
def test_values_weights_and_gradients_match_pytorch(case):
    torch = _torch()
    ck, fk, kind, batched = CASES[case]
    mt, mg = _pair(torch, **ck)
    kdim, vdim = ck.get("kdim", E), ck.get("vdim", E)
    q, k, v = _inputs(kind, batched, ck.get("batch_first", False), kdim, vdim)
    s = L if kind == "self" else S
    masks = _masks(fk, batched, s, L)
    (tq, tk, tv), t_leaves = _build(torch, kind, q, k, v)
    (gq, gk, gv), g_leaves = _build(tg, kind, q, k, v)
    t_kw = {n: torch.tensor(m) if isinstance(m, np.ndarray) else m for n, m in masks.items()}
    g_kw = {n: tg.tensor(m) if isinstance(m, np.ndarray) else m for n, m in masks.items()}
    ot, wt = mt(tq, tk, tv, **t_kw)
    og, wg = mg(gq, gk, gv, **g_kw)
    _close(ot.detach().numpy(), og.detach().numpy(), "attn_output")
    assert (wt is None) == (wg is None)
    go = RNG.standard_normal(tuple(ot.shape))
    loss_t, loss_g = (ot * torch.tensor(go)).sum(), (og * tg.tensor(go)).sum()
    if wt is not None:
        _close(wt.detach().numpy(), wg.detach().numpy(), "attn_weights")
        gw = RNG.standard_normal(tuple(wt.shape))
        loss_t, loss_g = loss_t + (wt * torch.tensor(gw)).sum(), loss_g + (wg * tg.tensor(gw)).sum()
    loss_t.backward()
    loss_g.backward()
    for i, (a, b) in enumerate(zip(t_leaves, g_leaves)):
        _close(a.grad.numpy(), b.grad.numpy(), f"grad of input {i}")
    pt, pg = dict(mt.named_parameters()), dict(mg.named_parameters())
    assert list(pt) == list(pg)
    for name in pt:
        _close(pt[name].grad.numpy(), pg[name].grad.numpy(), f"grad of {name}")


def test_functional_form_matches_pytorch():
    torch = _torch()
    mt, mg = _pair(torch)
    q, k, v = _inputs("cross", True, False, E, E)
    kpm = _kpm(True, "bool")

    def call(lib, fn, m):
        return fn(
            *(lib.tensor(a) for a in (q, k, v)),
            E,
            H,
            m.in_proj_weight,
            m.in_proj_bias,
            None,
            None,
            False,
            0.0,
            m.out_proj.weight,
            m.out_proj.bias,
            key_padding_mask=lib.tensor(kpm),
            average_attn_weights=False,
        )

    ot, wt = call(torch, torch.nn.functional.multi_head_attention_forward, mt)
    og, wg = call(tg, tg.nn.functional.multi_head_attention_forward, mg)
    _close(ot.detach().numpy(), og.detach().numpy(), "attn_output")
    _close(wt.detach().numpy(), wg.detach().numpy(), "attn_weights")


# ------------------------------------------------------------------ without PyTorch: jax oracle
def _jax_mha(params, q, k, v, kpm_add, mask_add):
    """Multi-head attention written directly in jax.numpy, (L, N, E) layout, additive masks."""
    w, b, wo, bo = params
    wq, wk, wv = jnp.split(w, 3)
    bq, bk, bv = jnp.split(b, 3)
    hd = E // H

    def heads(x):  # (T, N, E) -> (N, H, T, hd)
        return x.reshape(x.shape[0], N, H, hd).transpose(1, 2, 0, 3)

    qh, kh, vh = heads(q @ wq.T + bq), heads(k @ wk.T + bk), heads(v @ wv.T + bv)
    scores = jnp.einsum("nhld,nhsd->nhls", qh, kh) / math.sqrt(hd)
    scores = scores + mask_add[None, None] + kpm_add[:, None, None, :]
    p = jax.nn.softmax(scores, axis=-1)
    o = jnp.einsum("nhls,nhsd->nhld", p, vh).transpose(2, 0, 1, 3).reshape(L, N, E)
    return o @ wo.T + bo, p.mean(axis=1)


@slow
def test_matches_an_independent_jax_implementation():
    tg.manual_seed(3)
    m = tg.nn.MultiheadAttention(E, H, dtype=tg.float64)
    with tg.no_grad():
        m.in_proj_bias.normal_()
        m.out_proj.bias.normal_()
    q, k, v = _inputs("cross", True, False, E, E)
    kpm = _kpm(True, "float")
    mask = _attn_mask("float", 2)
    gq, gk, gv = (tg.tensor(a, requires_grad=True) for a in (q, k, v))
    out, w = m(gq, gk, gv, key_padding_mask=tg.tensor(kpm), attn_mask=tg.tensor(mask))
    go, gw = RNG.standard_normal(tuple(out.shape)), RNG.standard_normal(tuple(w.shape))
    ((out * tg.tensor(go)).sum() + (w * tg.tensor(gw)).sum()).backward()

    params = [
        jnp.asarray(p.detach().numpy())
        for p in (m.in_proj_weight, m.in_proj_bias, m.out_proj.weight, m.out_proj.bias)
    ]
    kpm_add = jnp.asarray(kpm)
    (jo, jw), pull = jax.vjp(
        lambda p, a, b_, c: _jax_mha(p, a, b_, c, kpm_add, jnp.asarray(mask)),
        params,
        *(jnp.asarray(a) for a in (q, k, v)),
    )
    _close(jo, out.detach().numpy(), "attn_output")
    _close(jw, w.detach().numpy(), "attn_weights")
    dp, dq, dk, dv = pull((jnp.asarray(go), jnp.asarray(gw)))
    for got, want, name in zip((gq, gk, gv), (dq, dk, dv), "qkv"):
        _close(want, got.grad.numpy(), f"grad of {name}")
    grads = (m.in_proj_weight, m.in_proj_bias, m.out_proj.weight, m.out_proj.bias)
    for got, want in zip(grads, dp):
        _close(want, got.grad.numpy(), "parameter grad")


def test_parameters_and_initialisation_follow_pytorch():
    m = tg.nn.MultiheadAttention(E, H, dtype=tg.float64)
    assert [n for n, _ in m.named_parameters()] == [
        "in_proj_weight",
        "in_proj_bias",
        "out_proj.weight",
        "out_proj.bias",
    ]
    assert m.q_proj_weight is None and m._qkv_same_embed_dim
    assert type(m.out_proj).__name__ == "NonDynamicallyQuantizableLinear"
    assert isinstance(m.out_proj, tg.nn.Linear)
    assert not m.in_proj_bias.detach().numpy().any() and not m.out_proj.bias.detach().numpy().any()
    bound = math.sqrt(6 / (E + 3 * E))  # xavier_uniform_ over the packed (3E, E) weight
    w = m.in_proj_weight.detach().numpy()
    assert np.abs(w).max() <= bound and np.abs(w).max() > 0.5 * bound
    sep = tg.nn.MultiheadAttention(
        E, H, kdim=5, vdim=3, add_bias_kv=True, bias=False, dtype=tg.float64
    )
    assert [n for n, _ in sep.named_parameters()] == [
        "q_proj_weight",
        "k_proj_weight",
        "v_proj_weight",
        "bias_k",
        "bias_v",
        "out_proj.weight",
    ]
    assert sep.in_proj_weight is None and sep.in_proj_bias is None
    assert tuple(sep.k_proj_weight.shape) == (E, 5) and tuple(sep.bias_k.shape) == (1, 1, E)


def test_state_dict_loads_into_pytorch():
    torch = _torch()
    m = tg.nn.MultiheadAttention(E, H, kdim=5, vdim=3, add_bias_kv=True, dtype=tg.float64)
    mt = torch.nn.MultiheadAttention(E, H, kdim=5, vdim=3, add_bias_kv=True, dtype=torch.float64)
    mt.load_state_dict({k: torch.tensor(v.detach().numpy()) for k, v in m.state_dict().items()})
    for k, v in mt.state_dict().items():
        np.testing.assert_array_equal(v.numpy(), m.state_dict()[k].detach().numpy())


@slow
def test_dropout_drops_weights_in_training_only():
    tg.manual_seed(0)
    m = tg.nn.MultiheadAttention(E, H, dropout=0.5, dtype=tg.float64)
    x = tg.tensor(_inputs("self", True, False, E, E)[0])
    m.eval()
    _, w_eval = m(x, x, x, average_attn_weights=False)
    m.train()
    _, w_train = m(x, x, x, average_attn_weights=False)
    a, b = w_eval.detach().numpy(), w_train.detach().numpy()
    kept = b != 0
    assert 0 < kept.mean() < 1
    np.testing.assert_allclose(b[kept], 2 * a[kept], rtol=1e-12)
    # With every weight dropped only the output bias is left, on both attention paths.
    m1 = tg.nn.MultiheadAttention(E, H, dropout=1.0, dtype=tg.float64)
    with tg.no_grad():
        m1.out_proj.bias.normal_()
    for need in (True, False):
        out, _ = m1(x, x, x, need_weights=need)
        np.testing.assert_allclose(
            out.detach().numpy(),
            np.broadcast_to(m1.out_proj.bias.detach().numpy(), out.shape),
            atol=1e-14,
        )


@slow
def test_mismatched_mask_types_warn_as_pytorch_does():
    torch = _torch()
    mt, mg = _pair(torch)
    x = _inputs("self", True, False, E, E)[0]
    kpm, mask = _kpm(True, "bool", L), _attn_mask("float", 2, lq=L, s=L)
    for lib, m in ((torch, mt), (tg, mg)):
        t = lib.tensor(x)
        with pytest.warns(
            UserWarning, match="Support for mismatched key_padding_mask and attn_mask"
        ):
            m(t, t, t, key_padding_mask=lib.tensor(kpm), attn_mask=lib.tensor(mask))
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            m(t, t, t, key_padding_mask=lib.tensor(kpm), attn_mask=lib.tensor(mask < -1))


ERRORS = [
    ("ctor_divisible", lambda lib: lib.nn.MultiheadAttention(6, 4), AssertionError,
     "embed_dim must be divisible by num_heads"),
    ("ctor_positive", lambda lib: lib.nn.MultiheadAttention(0, 2), ValueError,
     "embed_dim and num_heads must be greater than 0"),
    ("query_4d", lambda lib: _call(lib, q=(1, L, N, E)), AssertionError,
     "query should be unbatched 2D or batched 3D tensor"),
    ("key_2d", lambda lib: _call(lib, k=(S, E)), AssertionError,
     "expected `key` and `value` to be 3-D"),
    ("int_mask", lambda lib: _call(lib, attn_mask=np.zeros((L, S), np.int64)), AssertionError,
     "only bool and floating types of attn_mask are supported"),
    ("mask_shape", lambda lib: _call(lib, attn_mask=np.zeros((L, L))), RuntimeError,
     "The shape of the 2D attn_mask is"),
    ("mask3d_shape", lambda lib: _call(lib, attn_mask=np.zeros((N, L, S))), RuntimeError,
     "The shape of the 3D attn_mask is"),
    ("kpm_shape", lambda lib: _call(lib, key_padding_mask=np.zeros((N, L), bool)), AssertionError,
     "Expected key_padded_mask.shape[1] to be 5, but got 4"),
    ("causal_without_mask", lambda lib: _call(lib, is_causal=True), RuntimeError,
     "Need attn_mask if specifying the is_causal hint"),
    ("embed_dim", lambda lib: _call(lib, q=(L, N, 4), k=(S, N, 4), v=(S, N, 4)), AssertionError,
     "was expecting embedding dimension of 8, but got 4"),
]  # fmt: skip


def _call(lib, q=(L, N, E), k=(S, N, E), v=None, **kw):
    m = lib.nn.MultiheadAttention(E, H)
    kw = {n: lib.tensor(a) if isinstance(a, np.ndarray) else a for n, a in kw.items()}
    t = [lib.tensor(np.zeros(s, np.float32)) for s in (q, k, v or k)]
    return m(*t, **kw)


@pytest.mark.parametrize("name,fn,exc,msg", slow_after(ERRORS, keep=1, multi=True))
def test_errors_match_pytorch(name, fn, exc, msg):
    libs = [tg]
    try:
        import torch

        libs.append(torch)
    except ImportError:
        pass
    for lib in libs:
        with pytest.raises(exc, match=msg.replace("[", r"\[").replace("]", r"\]")):
            fn(lib)


@slow
def test_static_key_value_and_repr_match_pytorch():
    torch = _torch()
    mt, mg = _pair(torch)
    assert repr(mt) == repr(mg)
    q, k, v = _inputs("cross", True, False, E, E)
    sk, sv = (RNG.standard_normal((N * H, S, E // H)) for _ in range(2))

    def call(lib, fn, m):
        xs = [lib.tensor(a, requires_grad=True) for a in (q, k, v, sk, sv)]
        out, w = fn(
            *xs[:3],
            E,
            H,
            m.in_proj_weight,
            m.in_proj_bias,
            None,
            None,
            True,
            0.0,
            m.out_proj.weight,
            m.out_proj.bias,
            static_k=xs[3],
            static_v=xs[4],
        )
        (out.sum() + (w * w).sum()).backward()
        return [out, w] + [x.grad for x in xs[::3]] + [xs[4].grad]

    want = call(torch, torch.nn.functional.multi_head_attention_forward, mt)
    got = call(tg, tg.nn.functional.multi_head_attention_forward, mg)
    for i, (a, b) in enumerate(zip(want, got)):
        _close(a.detach().numpy(), b.detach().numpy(), f"result {i}")
