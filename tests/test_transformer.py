"""The Transformer layers (``TransformerEncoderLayer``, ``TransformerDecoderLayer``, the encoder and
decoder stacks, ``Transformer``): values and gradients against PyTorch with the same state dict,
against an independent ``jax.numpy`` implementation (``jax.vjp``) without PyTorch, PyTorch's
parameter names and initialisation, its packed-inference zeros, warnings and errors."""

from __future__ import annotations

import math
import warnings

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import tracegrad as tg
from tests.tiers import slow, slow_after

# Built with PyTorch's defaults (batch_first=False), encoders warn that they cannot pack inputs.
pytestmark = [
    pytest.mark.filterwarnings("ignore:enable_nested_tensor is True"),
    pytest.mark.filterwarnings("ignore:The PyTorch API of nested tensors"),
]

D, H, FF, S, T, N = 8, 2, 16, 5, 4, 3
RNG = np.random.default_rng(0)
SRC = RNG.standard_normal((S, N, D))
TGT = RNG.standard_normal((T, N, D))
CAUSAL = np.triu(np.full((T, T), -np.inf), 1)
KPM = np.zeros((N, S), bool)
KPM[1, 3:] = True
KPM[2, 0] = True


def _torch():
    return pytest.importorskip("torch")


def _to_tg(mt, mg):
    """Load ``mt``'s state (with its zero biases perturbed, so they count) into ``mg``."""
    torch = _torch()
    with torch.no_grad():
        for p in mt.parameters():
            p.add_(0.1 * torch.randn_like(p))
    mg.load_state_dict({k: tg.tensor(v.detach().numpy()) for k, v in mt.state_dict().items()})


def _close(want, got, what):
    np.testing.assert_allclose(
        np.asarray(got), np.asarray(want), rtol=1e-9, atol=1e-11, err_msg=what
    )


def _compare(mt, mg, call, inputs):
    """Forward and backward through both modules; outputs, input and parameter gradients agree."""
    torch = _torch()
    t_in = [torch.tensor(a, requires_grad=True) for a in inputs]
    g_in = [tg.tensor(a, requires_grad=True) for a in inputs]
    ot, og = call(torch, mt, *t_in), call(tg, mg, *g_in)
    _close(ot.detach().numpy(), og.detach().numpy(), "output")
    go = RNG.standard_normal(tuple(ot.shape))
    (ot * torch.tensor(go)).sum().backward()
    (og * tg.tensor(go)).sum().backward()
    for i, (a, b) in enumerate(zip(t_in, g_in)):
        _close(a.grad.numpy(), b.grad.numpy(), f"grad of input {i}")
    pt, pg = dict(mt.named_parameters()), dict(mg.named_parameters())
    assert list(pt) == list(pg)
    for name in pt:
        _close(pt[name].grad.numpy(), pg[name].grad.numpy(), f"grad of {name}")


def _activation(lib, name):
    if name == "callable":
        return lambda x: lib.tanh(x) * 2.0
    if name == "module":
        return lib.nn.GELU()
    return name


LAYER_CASES = [
    (False, "relu", False),
    (True, "gelu", False),
    (False, "callable", True),
    (True, "module", True),
    (True, "relu", True),
    (False, "gelu", True),
]


@pytest.mark.parametrize("norm_first,act,batch_first", slow_after(LAYER_CASES, keep=1, multi=True))
def test_encoder_layer_matches_pytorch(norm_first, act, batch_first):
    torch = _torch()

    def make(lib):
        f64 = lib.float64
        return lib.nn.TransformerEncoderLayer(
            D, H, FF, 0.0, _activation(lib, act), 1e-5, batch_first, norm_first, dtype=f64
        ).eval()

    mt, mg = make(torch), make(tg)
    _to_tg(mt, mg)
    src = SRC.transpose(1, 0, 2) if batch_first else SRC
    mask = 0.3 * RNG.standard_normal((S, S))
    mask[0, 4] = -np.inf
    kpm = np.where(KPM, -np.inf, 0.0)

    def call(lib, m, x):
        return m(x, src_mask=lib.tensor(mask), src_key_padding_mask=lib.tensor(kpm))

    _compare(mt, mg, call, [src])


@pytest.mark.parametrize("norm_first,act,batch_first", slow_after(LAYER_CASES, keep=0, multi=True))
def test_decoder_layer_matches_pytorch(norm_first, act, batch_first):
    torch = _torch()

    def make(lib):
        f64 = lib.float64
        return lib.nn.TransformerDecoderLayer(
            D, H, FF, 0.0, _activation(lib, act), 1e-5, batch_first, norm_first, dtype=f64
        ).eval()

    mt, mg = make(torch), make(tg)
    _to_tg(mt, mg)
    tgt, src = (TGT, SRC) if not batch_first else (TGT.transpose(1, 0, 2), SRC.transpose(1, 0, 2))

    def call(lib, m, x, mem):
        return m(
            x,
            mem,
            tgt_mask=lib.tensor(CAUSAL),
            memory_key_padding_mask=lib.tensor(KPM),
            tgt_is_causal=True,
        )

    _compare(mt, mg, call, [tgt, src])


def _transformer(lib, **kw):
    args = dict(d_model=D, nhead=H, num_encoder_layers=2, num_decoder_layers=2)
    args.update(dim_feedforward=FF, dtype=lib.float64, **kw)
    return lib.nn.Transformer(**args).eval()


TRANSFORMER_CASES = [{}, {"norm_first": True, "activation": "gelu"}, {"batch_first": True}]


@pytest.mark.parametrize("kw", slow_after(TRANSFORMER_CASES, keep=0))
def test_transformer_matches_pytorch(kw):
    torch = _torch()
    mt, mg = _transformer(torch, **kw), _transformer(tg, **kw)
    _to_tg(mt, mg)
    bf = kw.get("batch_first", False)
    src, tgt = (SRC, TGT) if not bf else (SRC.transpose(1, 0, 2), TGT.transpose(1, 0, 2))
    src_mask = np.zeros((S, S), bool)
    src_mask[0, 4] = True

    def call(lib, m, s, t):
        return m(
            s,
            t,
            src_mask=lib.tensor(src_mask),
            tgt_mask=m.generate_square_subsequent_mask(T, dtype=lib.float64),
            src_key_padding_mask=lib.tensor(KPM),
            memory_key_padding_mask=lib.tensor(KPM),
        )

    _compare(mt, mg, call, [src, tgt])


@slow
def test_unbatched_transformer_and_stacks_match_pytorch():
    torch = _torch()
    mt, mg = _transformer(torch), _transformer(tg)
    _to_tg(mt, mg)

    def call(lib, m, s, t):
        return m(
            s,
            t,
            tgt_mask=lib.tensor(CAUSAL),
            tgt_is_causal=True,
            src_key_padding_mask=lib.tensor(KPM[1]),
        )

    _compare(mt, mg, call, [SRC[:, 1], TGT[:, 1]])
    # A causal mask is detected and passed on as the is_causal hint.
    causal = np.triu(np.full((S, S), -np.inf), 1)
    _compare(mt.encoder, mg.encoder, lambda lib, m, s: m(s, mask=lib.tensor(causal)), [SRC])


def test_packed_inference_zeroes_padded_positions_as_pytorch_does():
    """In inference PyTorch runs a batch-first encoder with a left-aligned padding mask on a
    nested tensor: the output at padded positions is zero (before the norm). Not for a mask that
    is not left-aligned, nor when gradients are needed."""
    torch = _torch()

    def make(lib):
        layer = lib.nn.TransformerEncoderLayer(D, H, FF, batch_first=True, dtype=lib.float64)
        return lib.nn.TransformerEncoder(layer, 2, lib.nn.LayerNorm(D, dtype=lib.float64)).eval()

    mt, mg = make(torch), make(tg)
    _to_tg(mt, mg)
    x = SRC.transpose(1, 0, 2)
    left = np.zeros((N, S), bool)
    left[1, 3:] = True
    for kpm in (left, KPM):
        with torch.no_grad():
            want = mt(torch.tensor(x), src_key_padding_mask=torch.tensor(kpm))
        with tg.no_grad():
            got = mg(tg.tensor(x), src_key_padding_mask=tg.tensor(kpm))
        _close(want.numpy(), got.numpy(), "output")
    with tg.no_grad():
        packed = mg(tg.tensor(x), src_key_padding_mask=tg.tensor(left)).numpy()
    # The norm's bias is all a padded position keeps.
    bias = mg.norm.bias.detach().numpy()
    np.testing.assert_allclose(packed[1, 3:], np.broadcast_to(bias, (2, D)))
    # Gradients wanted: no packing, the padded positions are computed.
    full = mg(tg.tensor(x), src_key_padding_mask=tg.tensor(left)).detach().numpy()
    _close(packed[:, :3], full[:, :3], "kept positions")
    assert not np.allclose(full[1, 3:], packed[1, 3:])
    # Unchecked, PyTorch would pack a mask that is not left-aligned wrongly: refused.
    mg.mask_check = False
    with tg.no_grad(), pytest.raises(NotImplementedError, match="not left-aligned"):
        mg(tg.tensor(x), src_key_padding_mask=tg.tensor(KPM))


@slow
def test_packed_inference_is_the_same_in_a_compiled_step():
    """Inside ``tracegrad.compile`` the padding mask is traced: the alignment check is decided
    in the program, so the compiled step gives the eager values (zeros where packed)."""
    layer = tg.nn.TransformerEncoderLayer(D, H, FF, batch_first=True, dtype=tg.float64)
    enc = tg.nn.TransformerEncoder(layer, 2).eval()
    x = tg.tensor(SRC.transpose(1, 0, 2))
    left = np.zeros((N, S), bool)
    left[1, 3:] = True
    step = tg.compile(lambda x, kpm, mask: enc(x, mask=mask, src_key_padding_mask=kpm))
    with tg.no_grad():
        for kpm in (left, KPM):
            want = enc(x, src_key_padding_mask=tg.tensor(kpm)).numpy()
            got = step(x, tg.tensor(kpm), None).numpy()
            _close(want, got, "output")
            assert (kpm is left) == (not got[1, 3:].any())
        causal = tg.nn.Transformer.generate_square_subsequent_mask(S, dtype=tg.float64)
        _close(enc(x, mask=causal).numpy(), step(x, None, causal).numpy(), "causal mask")


def test_nested_tensor_warning_matches_pytorch():
    torch = _torch()
    for kw in ({}, {"batch_first": True, "norm_first": True}, {"batch_first": True}):
        msgs = []
        for lib in (torch, tg):
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always")
                lib.nn.TransformerEncoder(lib.nn.TransformerEncoderLayer(D, H, FF, **kw), 1)
            msgs.append([str(w.message) for w in caught if "nested" in str(w.message)])
        assert msgs[0] == msgs[1]
    enc = tg.nn.TransformerEncoder(
        tg.nn.TransformerEncoderLayer(D, H, FF), 1, enable_nested_tensor=False
    )
    assert not enc.use_nested_tensor and not enc.enable_nested_tensor


def test_state_dicts_interchange_both_ways():
    torch = _torch()
    kw = {"norm_first": True}
    mt, mg = _transformer(torch, **kw), _transformer(tg, **kw)
    assert list(mt.state_dict()) == list(mg.state_dict())
    _to_tg(mt, mg)
    back = _transformer(torch, **kw)
    back.load_state_dict({k: torch.tensor(v.detach().numpy()) for k, v in mg.state_dict().items()})
    for k, v in mt.state_dict().items():
        np.testing.assert_array_equal(back.state_dict()[k].numpy(), v.numpy())


def test_initialisation_follows_pytorch():
    m = tg.nn.Transformer(D, H, 2, 1, FF, dtype=tg.float64)
    # Every matrix is re-drawn Xavier-uniform, each layer's copy separately.
    for name, p in m.named_parameters():
        if p.dim() > 1:
            fan_out, fan_in = p.shape
            bound = math.sqrt(6 / (fan_in + fan_out))
            assert np.abs(p.detach().numpy()).max() <= bound, name
    enc = m.encoder.layers
    w0, w1 = (layer.linear1.weight.detach().numpy() for layer in enc)
    assert not np.array_equal(w0, w1)
    # A bare stack holds copies of one layer: equal parameters, different objects.
    stack = tg.nn.TransformerEncoder(tg.nn.TransformerEncoderLayer(D, H, FF), 2)
    a, b = stack.layers
    assert a.linear1.weight is not b.linear1.weight
    np.testing.assert_array_equal(
        a.linear1.weight.detach().numpy(), b.linear1.weight.detach().numpy()
    )
    assert isinstance(m.encoder.norm, tg.nn.LayerNorm) and m.decoder.num_layers == 1


def test_square_subsequent_mask_is_the_causal_mask():
    got = tg.nn.Transformer.generate_square_subsequent_mask(4).numpy()
    np.testing.assert_array_equal(got, np.triu(np.full((4, 4), -np.inf), 1))
    assert got.dtype == np.float32
    assert (
        tg.nn.Transformer.generate_square_subsequent_mask(3, dtype=tg.float64).dtype == tg.float64
    )


ERRORS = [
    ("activation", lambda lib: lib.nn.TransformerEncoderLayer(D, H, activation="tanh"),
     RuntimeError, "activation should be relu/gelu, not tanh"),
    ("batch", lambda lib: lib.nn.Transformer(D, H, 1, 1, FF)(
        lib.zeros(S, 2, D), lib.zeros(T, 3, D)), RuntimeError,
     "the batch number of src and tgt must be equal"),
    ("features", lambda lib: lib.nn.Transformer(D, H, 1, 1, FF)(
        lib.zeros(S, 2, D), lib.zeros(T, 2, 4)), RuntimeError,
     "the feature number of src and tgt must be equal to d_model"),
    ("int_mask", lambda lib: lib.nn.TransformerEncoderLayer(D, H, FF)(
        lib.zeros(S, 2, D), src_mask=lib.zeros(S, S, dtype=lib.int64)), AssertionError,
     "only bool and floating types of src_mask are supported"),
]  # fmt: skip


@pytest.mark.parametrize("name,fn,exc,msg", slow_after(ERRORS, keep=1, multi=True))
def test_errors_match_pytorch(name, fn, exc, msg):
    libs = [tg]
    try:
        import torch

        libs.append(torch)
    except ImportError:
        pass
    for lib in libs:
        with pytest.raises(exc, match=msg):
            fn(lib)


# --------------------------------------------------------------------- without PyTorch: jax oracle
def _j_ln(p, pre, x):
    mu = x.mean(-1, keepdims=True)
    var = ((x - mu) ** 2).mean(-1, keepdims=True)
    return (x - mu) / jnp.sqrt(var + 1e-5) * p[pre + "weight"] + p[pre + "bias"]


def _j_mha(p, pre, q, kv, mask):
    """Attention of (Tq, N, D) queries over (Tk, N, D) keys/values; ``mask`` additive and
    broadcastable to (N, H, Tq, Tk)."""
    w, b = p[pre + "in_proj_weight"], p[pre + "in_proj_bias"]
    hd = D // H

    def heads(x, i):
        y = x @ w[i * D : (i + 1) * D].T + b[i * D : (i + 1) * D]
        return y.reshape(y.shape[0], y.shape[1], H, hd).transpose(1, 2, 0, 3)

    qh, kh, vh = heads(q, 0), heads(kv, 1), heads(kv, 2)
    att = jax.nn.softmax(jnp.einsum("nhqd,nhkd->nhqk", qh, kh) / math.sqrt(hd) + mask, axis=-1)
    o = jnp.einsum("nhqk,nhkd->nhqd", att, vh).transpose(2, 0, 1, 3)
    o = o.reshape(q.shape[0], q.shape[1], D)
    return o @ p[pre + "out_proj.weight"].T + p[pre + "out_proj.bias"]


def _j_ff(p, pre, x):
    h = jax.nn.relu(x @ p[pre + "linear1.weight"].T + p[pre + "linear1.bias"])
    return h @ p[pre + "linear2.weight"].T + p[pre + "linear2.bias"]


def _j_encoder_layer(p, pre, x, mask, norm_first):
    if norm_first:
        y = _j_ln(p, pre + "norm1.", x)
        x = x + _j_mha(p, pre + "self_attn.", y, y, mask)
        return x + _j_ff(p, pre, _j_ln(p, pre + "norm2.", x))
    x = _j_ln(p, pre + "norm1.", x + _j_mha(p, pre + "self_attn.", x, x, mask))
    return _j_ln(p, pre + "norm2.", x + _j_ff(p, pre, x))


def _j_decoder_layer(p, pre, x, mem, tgt_mask, mem_mask, norm_first):
    if norm_first:
        y = _j_ln(p, pre + "norm1.", x)
        x = x + _j_mha(p, pre + "self_attn.", y, y, tgt_mask)
        x = x + _j_mha(p, pre + "multihead_attn.", _j_ln(p, pre + "norm2.", x), mem, mem_mask)
        return x + _j_ff(p, pre, _j_ln(p, pre + "norm3.", x))
    x = _j_ln(p, pre + "norm1.", x + _j_mha(p, pre + "self_attn.", x, x, tgt_mask))
    x = _j_ln(p, pre + "norm2.", x + _j_mha(p, pre + "multihead_attn.", x, mem, mem_mask))
    return _j_ln(p, pre + "norm3.", x + _j_ff(p, pre, x))


def _j_encoder(p, pre, x, mask, norm_first, layers=2):
    for i in range(layers):
        x = _j_encoder_layer(p, f"{pre}layers.{i}.", x, mask, norm_first)
    return _j_ln(p, pre + "norm.", x)


def _j_decoder(p, pre, x, mem, tgt_mask, mem_mask, norm_first, layers=2):
    for i in range(layers):
        x = _j_decoder_layer(p, f"{pre}layers.{i}.", x, mem, tgt_mask, mem_mask, norm_first)
    return _j_ln(p, pre + "norm.", x)


# Additive masks in the jax layout: causal over the target, key padding over the source.
_J_CAUSAL = jnp.asarray(CAUSAL)
_J_PAD = jnp.where(jnp.asarray(KPM), -jnp.inf, 0.0)[:, None, None, :]


def _ln(f64):
    return tg.nn.LayerNorm(D, dtype=f64)


JAX_CASES = {
    "Transformer": (
        lambda nf: tg.nn.Transformer(D, H, 2, 2, FF, norm_first=nf, dtype=tg.float64),
        lambda m, s, t: m(s, t, tgt_mask=tg.tensor(CAUSAL), src_key_padding_mask=tg.tensor(KPM),
                          memory_key_padding_mask=tg.tensor(KPM)),
        lambda p, s, t, nf: _j_decoder(p, "decoder.", t, _j_encoder(p, "encoder.", s, _J_PAD, nf),
                                       _J_CAUSAL, _J_PAD, nf),
        [SRC, TGT],
    ),
    "TransformerEncoderLayer": (
        lambda nf: tg.nn.TransformerEncoderLayer(D, H, FF, norm_first=nf, dtype=tg.float64),
        lambda m, s: m(s, src_key_padding_mask=tg.tensor(KPM)),
        lambda p, s, nf: _j_encoder_layer(p, "", s, _J_PAD, nf),
        [SRC],
    ),
    "TransformerDecoderLayer": (
        lambda nf: tg.nn.TransformerDecoderLayer(D, H, FF, norm_first=nf, dtype=tg.float64),
        lambda m, t, s: m(t, s, tgt_mask=tg.tensor(CAUSAL), memory_key_padding_mask=tg.tensor(KPM)),
        lambda p, t, s, nf: _j_decoder_layer(p, "", t, s, _J_CAUSAL, _J_PAD, nf),
        [TGT, SRC],
    ),
    "TransformerEncoder": (
        lambda nf: tg.nn.TransformerEncoder(
            tg.nn.TransformerEncoderLayer(D, H, FF, norm_first=nf, dtype=tg.float64), 2,
            _ln(tg.float64), enable_nested_tensor=False),
        lambda m, s: m(s, src_key_padding_mask=tg.tensor(KPM)),
        lambda p, s, nf: _j_encoder(p, "", s, _J_PAD, nf),
        [SRC],
    ),
    "TransformerDecoder": (
        lambda nf: tg.nn.TransformerDecoder(
            tg.nn.TransformerDecoderLayer(D, H, FF, norm_first=nf, dtype=tg.float64), 2,
            _ln(tg.float64)),
        lambda m, t, s: m(t, s, tgt_mask=tg.tensor(CAUSAL)),
        lambda p, t, s, nf: _j_decoder(p, "", t, s, _J_CAUSAL, 0.0, nf),
        [TGT, SRC],
    ),
}  # fmt: skip


@pytest.mark.parametrize(
    "cls,norm_first",
    # The fast tier keeps the encoder layer (the whole Transformer is three times its compile).
    slow_after(
        sorted(
            ((c, nf) for nf in (False, True) for c in JAX_CASES),
            key=lambda c: c[0] != "TransformerEncoderLayer",
        ),
        keep=1,
        multi=True,
    ),
)
def test_matches_an_independent_jax_implementation(cls, norm_first):
    make, call, ref, inputs = JAX_CASES[cls]
    tg.manual_seed(1)
    m = make(norm_first).eval()
    with tg.no_grad():
        for p in m.parameters():
            p.add_(0.1 * tg.randn(p.shape, dtype=tg.float64))
    xs = [tg.tensor(a, requires_grad=True) for a in inputs]
    out = call(m, *xs)
    go = RNG.standard_normal(tuple(out.shape))
    (out * tg.tensor(go)).sum().backward()

    params = {n: jnp.asarray(p.detach().numpy()) for n, p in m.named_parameters()}
    want, pull = jax.vjp(
        lambda p, *a: ref(p, *a, norm_first), params, *(jnp.asarray(a) for a in inputs)
    )
    _close(want, out.detach().numpy(), "output")
    d_params, *d_inputs = pull(jnp.asarray(go))
    for i, (x, d) in enumerate(zip(xs, d_inputs)):
        _close(d, x.grad.numpy(), f"grad of input {i}")
    for n, p in m.named_parameters():
        _close(d_params[n], p.grad.numpy(), f"grad of {n}")
