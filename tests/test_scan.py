"""Recurrent layers as one ``scan`` node (ops/recurrent.py, ops/scan.py).

Oracles: PyTorch's ``nn.RNN``/``nn.LSTM``/``nn.GRU`` (bidirectional, so one module gives both
directions; ``pack_padded_sequence`` for variable lengths) and its cell functions, when installed;
otherwise, and also, an independent ``jax.numpy`` Python loop over the steps differentiated by
``jax.vjp``. The registry tests (tests/samples/scan.py) check the op itself against ``jax.vjp``,
finite differences and to second order."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import tracegrad as tg
from tracegrad.autograd import compiled
from tracegrad.ops.recurrent import (
    gru_cell,
    lstm_cell,
    recurrent_layer,
    rnn_relu_cell,
    rnn_tanh_cell,
)

from .tiers import slow_after

GATES = {"RNN_TANH": 1, "RNN_RELU": 1, "LSTM": 4, "GRU": 3}


def _case(mode, t=4, b=3, i=3, h=3, proj=0, bias=True, seed=0):
    """float64 arrays for one layer: x, h0, c0 (LSTM) and the weights in PyTorch's layout."""
    rng = np.random.default_rng(seed)
    g = GATES[mode] * h
    h_out = proj or h
    d = dict(
        x=rng.standard_normal((t, b, i)),
        h0=rng.standard_normal((b, h_out)) * 0.5,
        c0=rng.standard_normal((b, h)) * 0.5 if mode == "LSTM" else None,
        w_ih=rng.uniform(-0.6, 0.6, (g, i)),
        w_hh=rng.uniform(-0.6, 0.6, (g, h_out)),
        b_ih=rng.uniform(-0.6, 0.6, g) if bias else None,
        b_hh=rng.uniform(-0.6, 0.6, g) if bias else None,
        w_hr=rng.uniform(-0.6, 0.6, (proj, h)) if proj else None,
    )
    # Cotangents of output, h_n and c_n.
    d["g_out"] = rng.standard_normal((t, b, h_out))
    d["g_h"] = rng.standard_normal((b, h_out))
    d["g_c"] = rng.standard_normal((b, h)) if mode == "LSTM" else None
    return d


NAMES = ("x", "h0", "c0", "w_ih", "w_hh", "b_ih", "b_hh", "w_hr")


def _tracegrad(mode, d, lengths=None, reverse=False):
    """Outputs and gradients (by name) of recurrent_layer for the case's cotangents."""
    ts = {k: tg.tensor(d[k], requires_grad=True) for k in NAMES if d[k] is not None}
    out, hn, cn = recurrent_layer(
        mode,
        ts["x"],
        ts["h0"],
        ts.get("c0"),
        ts["w_ih"],
        ts["w_hh"],
        ts.get("b_ih"),
        ts.get("b_hh"),
        ts.get("w_hr"),
        lengths=lengths,
        reverse=reverse,
    )
    loss = (out * tg.tensor(d["g_out"])).sum() + (hn * tg.tensor(d["g_h"])).sum()
    if cn is not None:
        loss = loss + (cn * tg.tensor(d["g_c"])).sum()
    loss.backward()
    outs = [np.asarray(out.detach()), np.asarray(hn.detach())]
    if cn is not None:
        outs.append(np.asarray(cn.detach()))
    return outs, {k: np.asarray(t.grad) for k, t in ts.items()}


def _torch(mode, d, lengths=None, reverse=False):
    """The same through PyTorch's module, as the forward or the reverse half of a bidirectional
    one (the halves are independent), packed when there are lengths."""
    torch = pytest.importorskip("torch")
    from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

    t, b, i = d["x"].shape
    h = d["w_hh"].shape[1] if d["w_hr"] is None else d["w_hr"].shape[1]
    kw = dict(bias=d["b_ih"] is not None, bidirectional=True, dtype=torch.float64)
    if mode == "LSTM":
        m = torch.nn.LSTM(i, h, proj_size=0 if d["w_hr"] is None else d["w_hr"].shape[0], **kw)
    elif mode == "GRU":
        m = torch.nn.GRU(i, h, **kw)
    else:
        m = torch.nn.RNN(i, h, nonlinearity="tanh" if mode == "RNN_TANH" else "relu", **kw)
    sfx = "_l0_reverse" if reverse else "_l0"
    ps = {}
    with torch.no_grad():
        for k, name in (("w_ih", "weight_ih"), ("w_hh", "weight_hh"), ("b_ih", "bias_ih")):
            if d[k] is not None:
                getattr(m, name + sfx).copy_(torch.tensor(d[k]))
                ps[k] = getattr(m, name + sfx)
        for k, name in (("b_hh", "bias_hh"), ("w_hr", "weight_hr")):
            if d[k] is not None:
                getattr(m, name + sfx).copy_(torch.tensor(d[k]))
                ps[k] = getattr(m, name + sfx)
    side = 1 if reverse else 0
    x = torch.tensor(d["x"], requires_grad=True)
    h0 = torch.tensor(d["h0"], requires_grad=True)
    h0_both = torch.stack([h0, h0]) if side == 0 else torch.stack([h0.detach(), h0])
    state = h0_both
    if mode == "LSTM":
        c0 = torch.tensor(d["c0"], requires_grad=True)
        state = (h0_both, torch.stack([c0, c0.detach()] if side == 0 else [c0.detach(), c0]))
    inp = x if lengths is None else pack_padded_sequence(x, lengths, enforce_sorted=False)
    out, hn = m(inp, state)
    if lengths is not None:
        out = pad_packed_sequence(out, total_length=t)[0]
    h_out = d["h0"].shape[1]
    out = out[..., side * h_out : (side + 1) * h_out]
    cn = None
    if mode == "LSTM":
        hn, cn = hn
        cn = cn[side]
    hn = hn[side]
    loss = (out * torch.tensor(d["g_out"])).sum() + (hn * torch.tensor(d["g_h"])).sum()
    if cn is not None:
        loss = loss + (cn * torch.tensor(d["g_c"])).sum()
    loss.backward()
    outs = [out.detach().numpy(), hn.detach().numpy()]
    if cn is not None:
        outs.append(cn.detach().numpy())
    grads = {
        "x": x.grad.numpy(),
        "h0": h0.grad.numpy(),
        **{k: p.grad.numpy() for k, p in ps.items()},
    }
    if mode == "LSTM":
        grads["c0"] = c0.grad.numpy()
    return outs, grads


def _jax_layer(mode, p, mask, reverse):
    """An independent reference: the layer as a Python loop of jax.numpy steps."""
    x = p["x"]
    h, c = p["h0"], p.get("c0")
    t_len = x.shape[0]
    outs = [None] * t_len
    for t in range(t_len - 1, -1, -1) if reverse else range(t_len):
        xw = x[t] @ p["w_ih"].T + (p["b_ih"] if "b_ih" in p else 0.0)
        hw = h @ p["w_hh"].T + (p["b_hh"] if "b_hh" in p else 0.0)
        c2 = c
        if mode == "LSTM":
            i, f, g, o = jnp.split(xw + hw, 4, axis=-1)
            c2 = jax.nn.sigmoid(f) * c + jax.nn.sigmoid(i) * jnp.tanh(g)
            h2 = jax.nn.sigmoid(o) * jnp.tanh(c2)
            if "w_hr" in p:
                h2 = h2 @ p["w_hr"].T
        elif mode == "GRU":
            xr, xz, xn = jnp.split(xw, 3, axis=-1)
            hr, hz, hn = jnp.split(hw, 3, axis=-1)
            r, z = jax.nn.sigmoid(xr + hr), jax.nn.sigmoid(xz + hz)
            n = jnp.tanh(xn + r * hn)
            h2 = (1 - z) * n + z * h
        elif mode == "RNN_TANH":
            h2 = jnp.tanh(xw + hw)
        else:
            h2 = jnp.maximum(xw + hw, 0.0)
        m = True if mask is None else mask[t]
        outs[t] = jnp.where(m, h2, 0.0)
        h = jnp.where(m, h2, h)
        if c is not None:
            c = jnp.where(m, c2, c)
    return (jnp.stack(outs), h) + ((c,) if c is not None else ())


def _jax(mode, d, lengths=None, reverse=False):
    keys = [k for k in NAMES if d[k] is not None]
    t_len, b = d["x"].shape[:2]
    mask = None
    if lengths is not None:
        mask = (np.arange(t_len)[:, None] < np.asarray(lengths)[None, :])[:, :, None]
    cots = (d["g_out"], d["g_h"]) + ((d["g_c"],) if mode == "LSTM" else ())

    @jax.jit  # one program: a Python loop of eager jax.numpy ops is slow to run
    def run(*arrays):
        outs, vjp = jax.vjp(lambda *a: _jax_layer(mode, dict(zip(keys, a)), mask, reverse), *arrays)
        return outs, vjp(tuple(jnp.asarray(c) for c in cots))

    outs, grads = run(*[jnp.asarray(d[k]) for k in keys])
    return [np.asarray(o) for o in outs], {k: np.asarray(g) for k, g in zip(keys, grads)}


def _compare(got, want, rtol=1e-9, atol=1e-10):
    for a, b in zip(got[0], want[0]):
        np.testing.assert_allclose(a, b, rtol=rtol, atol=atol)
    assert set(got[1]) == set(want[1])
    for k in got[1]:
        np.testing.assert_allclose(got[1][k], want[1][k], rtol=rtol, atol=atol, err_msg=k)


CASES = [
    ("LSTM", {}, None, False),
    ("GRU", {}, [4, 2, 1], True),
    ("LSTM", {}, None, True),
    ("LSTM", {}, [2, 4, 3], False),
    ("LSTM", {}, [2, 4, 3], True),
    ("LSTM", {"proj": 2}, [3, 1, 4], True),
    ("LSTM", {"bias": False}, None, False),
    ("GRU", {}, None, False),
    ("GRU", {"bias": False}, [1, 4, 2], False),
    ("RNN_TANH", {}, None, False),
    ("RNN_TANH", {}, [4, 3, 1], True),
    ("RNN_RELU", {}, [3, 4, 2], False),
]
_IDS = [
    f"{m}{''.join(f'-{k}{v}' for k, v in kw.items())}-{'len' if lens else 'full'}-{'rev' if r else 'fwd'}"
    for m, kw, lens, r in CASES
]


@pytest.mark.parametrize(
    "mode,kw,lengths,reverse",
    slow_after([pytest.param(*c, id=i) for c, i in zip(CASES, _IDS)], keep=1),
)
def test_layer_matches_pytorch(mode, kw, lengths, reverse):
    d = _case(mode, **kw)
    _compare(_tracegrad(mode, d, lengths, reverse), _torch(mode, d, lengths, reverse))


@pytest.mark.parametrize(
    "mode,kw,lengths,reverse",
    slow_after([pytest.param(*c, id=i) for c, i in zip(CASES, _IDS)], keep=1),
)
def test_layer_matches_a_jax_loop(mode, kw, lengths, reverse):
    d = _case(mode, seed=1, **kw)
    _compare(_tracegrad(mode, d, lengths, reverse), _jax(mode, d, lengths, reverse))


CELLS = [
    ("lstm_cell", lstm_cell, 4),
    ("gru_cell", gru_cell, 3),
    ("rnn_tanh_cell", rnn_tanh_cell, 1),
    ("rnn_relu_cell", rnn_relu_cell, 1),
]


@pytest.mark.parametrize("name,cell,k", slow_after([pytest.param(*c, id=c[0]) for c in CELLS]))
def test_cells_match_pytorch(name, cell, k):
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(2)
    b, i, h = 3, 4, 5
    x, hx, cx = (rng.standard_normal(s) for s in ((b, i), (b, h), (b, h)))
    ws = [rng.standard_normal(s) * 0.5 for s in ((k * h, i), (k * h, h), (k * h,), (k * h,))]
    tt = [tg.tensor(a, requires_grad=True) for a in (x, hx, cx, *ws)]
    pt = [torch.tensor(a, requires_grad=True) for a in (x, hx, cx, *ws)]
    if name == "lstm_cell":
        got = lstm_cell(tt[0], tt[1], tt[2], *tt[3:])
        want = torch.lstm_cell(pt[0], (pt[1], pt[2]), *pt[3:])
    else:
        got = (cell(tt[0], tt[1], *tt[3:]),)
        want = (getattr(torch, name)(pt[0], pt[1], *pt[3:]),)
    sum(((o * (j + 1)).sum() for j, o in enumerate(got)), tg.tensor(0.0)).backward()
    sum((o * (j + 1)).sum() for j, o in enumerate(want)).backward()
    for a, e in zip(got, want):
        np.testing.assert_allclose(np.asarray(a.detach()), e.detach().numpy(), rtol=1e-10)
    for j, (a, e) in enumerate(zip(tt, pt)):
        if name == "lstm_cell" or j != 2:  # cx is an input of the LSTM cell only
            np.testing.assert_allclose(
                np.asarray(a.grad), e.grad.numpy(), rtol=1e-9, atol=1e-12, err_msg=name
            )


def _graph_nodes(t) -> list:
    seen, stack, names = set(), [t.grad_fn], []
    while stack:
        node = stack.pop()
        if node is None or id(node) in seen:
            continue
        seen.add(id(node))
        names.append(node.name())
        stack.extend(c for c, _ in getattr(node, "next_functions", ()))
    return names


def test_a_thousand_step_sequence_is_one_node_per_layer_direction():
    d = _case("LSTM", t=1000, b=2, i=3, h=4)
    ts = {k: tg.tensor(d[k], requires_grad=True) for k in NAMES if d[k] is not None}
    args = [ts["x"], ts["h0"], ts["c0"], ts["w_ih"], ts["w_hh"], ts["b_ih"], ts["b_hh"]]
    out, hn, cn = recurrent_layer("LSTM", *args, lengths=[1000, 500])
    names = _graph_nodes(out.sum() + hn.sum() + cn.sum())
    assert names.count("ScanBackward0") == 1
    # Besides it: the input projection, the unpacking views, the mask and the loss; a fixed
    # handful, not thousands. (PyTorch-style step-by-step recording would give ~10 per step.)
    assert len(names) < 40, names


@pytest.mark.slow
def test_a_thousand_step_bidirectional_layer_backpropagates():
    d = _case("LSTM", t=1000, b=2, i=3, h=4)
    ts = {k: tg.tensor(d[k], requires_grad=True) for k in NAMES if d[k] is not None}
    args = [ts["x"], ts["h0"], ts["c0"], ts["w_ih"], ts["w_hh"], ts["b_ih"], ts["b_hh"]]
    fwd, _, _ = recurrent_layer("LSTM", *args)
    bwd, _, _ = recurrent_layer("LSTM", *args, reverse=True)
    total = (fwd * bwd).sum()
    assert _graph_nodes(total).count("ScanBackward0") == 2
    total.backward()

    def lstm(w_hh, reverse):  # an independent reference: lax.scan of the jax.numpy step
        def step(carry, xw):
            h, c = carry
            i, f, g, o = jnp.split(xw + h @ w_hh.T, 4, axis=-1)
            c = jax.nn.sigmoid(f) * c + jax.nn.sigmoid(i) * jnp.tanh(g)
            h = jax.nn.sigmoid(o) * jnp.tanh(c)
            return (h, c), h

        xw = d["x"] @ d["w_ih"].T + d["b_ih"] + d["b_hh"]
        return jax.lax.scan(step, (d["h0"], d["c0"]), xw, reverse=reverse)[1]

    want = jax.grad(lambda w: jnp.sum(lstm(w, False) * lstm(w, True)))(jnp.asarray(d["w_hh"]))
    np.testing.assert_allclose(np.asarray(ts["w_hh"].grad), np.asarray(want), rtol=1e-8)


def test_errors():
    d = _case("GRU")
    x, h0 = tg.tensor(d["x"]), tg.tensor(d["h0"])
    w = [tg.tensor(d[k]) for k in ("w_ih", "w_hh", "b_ih", "b_hh")]
    with pytest.raises(ValueError, match="Unrecognized RNN mode: LSTMX"):
        recurrent_layer("LSTMX", x, h0, None, *w)
    with pytest.raises(ValueError, match="between 1 and"):
        recurrent_layer("GRU", x, h0, None, *w, lengths=[5, 1, 1])
    with pytest.raises(ValueError, match="Expected 3 lengths"):
        recurrent_layer("GRU", x, h0, None, *w, lengths=[2, 1])


@pytest.mark.slow
def test_hooks_run_once_outside_the_body_and_the_backward_compiles():
    """The body's inner differentiation (inside the backward scan) neither runs the user's hooks
    nor goes through the compiled-backward cache; the outer graph does, as usual."""
    d = _case("LSTM", seed=3)
    calls = []
    compiled.reset_stats()

    def run(hook: bool):
        ts = {k: tg.tensor(d[k], requires_grad=True) for k in NAMES if d[k] is not None}
        if hook:
            ts["w_hh"].register_hook(lambda g: calls.append(g.shape))
        out, hn, cn = recurrent_layer(
            "LSTM", ts["x"], ts["h0"], ts["c0"], ts["w_ih"], ts["w_hh"], ts["b_ih"], ts["b_hh"]
        )
        (out.sum() + hn.sum() + cn.sum()).backward()
        return ts["w_hh"].grad

    g_hook = run(True)
    assert calls == [(12, 3)]
    grads = [np.asarray(run(False)) for _ in range(3)]
    stats = compiled.stats()
    assert stats["compiles"] >= 1 and stats["hits"] >= 1
    for g in grads:
        np.testing.assert_allclose(g, np.asarray(g_hook), rtol=1e-12)


@pytest.mark.slow
def test_compiled_training_step_matches_eager_and_records_one_scan():
    d = _case("LSTM", t=5, b=2, i=3, h=4, seed=4)
    names = ("w_ih", "w_hh", "b_ih", "b_hh")

    def make():
        return [tg.tensor(d[k], requires_grad=True) for k in names]

    def step(params, x, h0, c0):
        for p in params:
            p.grad = None
        out, hn, cn = recurrent_layer("LSTM", x, h0, c0, *params, lengths=[5, 3])
        loss = (out * out).sum() + hn.sum() * cn.sum()
        loss.backward()
        with tg.no_grad():
            for p in params:
                p -= 0.1 * p.grad
        return loss

    x, h0, c0 = (tg.tensor(d[k]) for k in ("x", "h0", "c0"))
    eager, comp = make(), make()
    cstep = tg.compile(step)
    for _ in range(3):
        le = step(eager, x, h0, c0)
        lc = cstep(comp, x, h0, c0)
        np.testing.assert_allclose(np.asarray(lc), np.asarray(le), rtol=1e-10)
    for a, b in zip(comp, eager):
        np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=1e-10, atol=1e-12)
    tape = cstep.lower(comp, x, h0, c0).tape
    # The forward scan and its backward scan are on the tape; the body's ops are not.
    assert tape.count("scan(") == 2
    assert "sigmoid(" not in tape


@pytest.mark.slow
def test_second_order_matches_pytorch():
    """A gradient penalty through an LSTM layer: the gradient of |d loss / d W_hh|^2."""
    torch = pytest.importorskip("torch")
    d = _case("LSTM", t=3, b=2, i=2, h=2, seed=5)
    ts = {k: tg.tensor(d[k], requires_grad=True) for k in NAMES if d[k] is not None}
    out, hn, cn = recurrent_layer(
        "LSTM", ts["x"], ts["h0"], ts["c0"], ts["w_ih"], ts["w_hh"], ts["b_ih"], ts["b_hh"]
    )
    loss = (out * tg.tensor(d["g_out"])).sum() + (cn * tg.tensor(d["g_c"])).sum()
    (g,) = tg.autograd.grad(loss, ts["w_hh"], create_graph=True)
    (g * g).sum().backward()

    pt = {k: torch.tensor(d[k], requires_grad=True) for k in NAMES if d[k] is not None}
    o, _, c = torch._VF.lstm(
        pt["x"],
        (pt["h0"][None], pt["c0"][None]),
        [pt["w_ih"], pt["w_hh"], pt["b_ih"], pt["b_hh"]],
        True, 1, 0.0, False, False, False,
    )  # fmt: skip
    tloss = (o * torch.tensor(d["g_out"])).sum() + (c[0] * torch.tensor(d["g_c"])).sum()
    (tgr,) = torch.autograd.grad(tloss, pt["w_hh"], create_graph=True)
    (tgr * tgr).sum().backward()
    np.testing.assert_allclose(np.asarray(g.detach()), tgr.detach().numpy(), rtol=1e-9)
    for k in pt:
        np.testing.assert_allclose(
            np.asarray(ts[k].grad), pt[k].grad.numpy(), rtol=1e-8, atol=1e-11, err_msg=k
        )


def test_grad_of_one_tensor_given_twice_as_an_output():
    """``autograd.grad([y, y], x, [g1, g2])`` sums both cotangents, as PyTorch does (the engine once
    counted the shared root's children twice and lost the gradient). The scan rule's derived body
    differentiates such outputs: an add's two gradients are one tensor."""
    x = tg.tensor([0.5, 1.0], requires_grad=True)
    y = (x * 2).sin()
    (g,) = tg.autograd.grad([y, y], [x], [tg.tensor([1.0, 2.0]), tg.tensor([3.0, 1.0])])
    np.testing.assert_allclose(np.asarray(g), 2 * np.cos(2 * np.array([0.5, 1.0])) * [4.0, 3.0])
