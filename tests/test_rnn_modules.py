"""``nn.RNN``, ``nn.LSTM``, ``nn.GRU`` and their cells. Without PyTorch: each layer type against an
independent ``jax.numpy`` loop (values, and gradients from ``jax.vjp``) with variable lengths and
both directions. With PyTorch (its weights loaded through ``state_dict``): outputs, final states
and the gradients of the input, the initial states and every parameter, for every option, padded
and packed input, unbatched input, dropout, the cells, the state-dict round trip and the errors."""

from __future__ import annotations

import warnings

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import tracegrad as tg
from tracegrad.nn.utils import rnn as R

from .tiers import slow, slow_after

TOL = dict(rtol=1e-9, atol=1e-11)
# The fast tier's tests share one configuration and input shape (float64, 3 features, 5 hidden
# units projected to 3, two layers, both directions, 3 steps, batch 2), so the kernels compiled
# for one test serve the next.
FAST = dict(num_layers=2, bidirectional=True, proj_size=3)
MODE = {"RNN": "RNN_TANH", "LSTM": "LSTM", "GRU": "GRU"}


def _np(t) -> np.ndarray:
    return np.asarray(t.detach().numpy())


# --- an independent reference: jax.numpy loops over time ------------------------------------------


def _ref_cell(mode, x, h, c, p):
    gi = x @ p["w_ih"].T + p.get("b_ih", 0.0)
    gh = h @ p["w_hh"].T + p.get("b_hh", 0.0)
    if mode == "RNN_TANH":
        return jnp.tanh(gi + gh), None
    if mode == "RNN_RELU":
        return jnp.maximum(gi + gh, 0.0), None
    if mode == "LSTM":
        i, f, g, o = jnp.split(gi + gh, 4, axis=-1)
        c = jax.nn.sigmoid(f) * c + jax.nn.sigmoid(i) * jnp.tanh(g)
        h = jax.nn.sigmoid(o) * jnp.tanh(c)
        return (h @ p["w_hr"].T if "w_hr" in p else h), c
    ir, iz, inn = jnp.split(gi, 3, axis=-1)
    hr, hz, hn = jnp.split(gh, 3, axis=-1)
    r, z = jax.nn.sigmoid(ir + hr), jax.nn.sigmoid(iz + hz)
    n = jnp.tanh(inn + r * hn)
    return (1 - z) * n + z * h, None


def _ref_network(mode, layers, directions, x, h0, c0, lengths):
    """Time-major ``x`` (T, B, I); ``layers[k]`` the parameters of layer/direction ``k``; each
    sequence stops at its length (its state carried unchanged, its output zero after it)."""
    steps, batch = x.shape[:2]
    valid = (np.arange(steps)[:, None] < np.asarray(lengths)[None, :])[:, :, None]
    hs, cs, inp = [], [], x
    for layer in range(len(layers) // directions):
        outs = []
        for d in range(directions):
            k = layer * directions + d
            h, c = h0[k], None if c0 is None else c0[k]
            out = [None] * steps
            for t in reversed(range(steps)) if d else range(steps):
                nh, nc = _ref_cell(mode, inp[t], h, c, layers[k])
                h = jnp.where(valid[t], nh, h)
                c = None if c is None else jnp.where(valid[t], nc, c)
                out[t] = jnp.where(valid[t], nh, 0.0)
            outs.append(jnp.stack(out))
            hs.append(h)
            cs.append(c)
        inp = jnp.concatenate(outs, axis=-1)
    return inp, jnp.stack(hs), None if c0 is None else jnp.stack(cs)


def _ref_params(module) -> list[dict]:
    short = {"weight_ih": "w_ih", "weight_hh": "w_hh", "bias_ih": "b_ih", "bias_hh": "b_hh"}
    short["weight_hr"] = "w_hr"
    return [
        {short[n.split("_l")[0]]: jnp.asarray(_np(getattr(module, n))) for n in names}
        for names in module._all_weights
    ]


@pytest.mark.parametrize(
    "kind,kwargs",
    slow_after(
        [
            ("GRU", dict()),
            ("LSTM", dict(num_layers=2, bidirectional=True, proj_size=2)),
            ("RNN", dict(num_layers=2, nonlinearity="relu", bias=False)),
            ("RNN", dict(bidirectional=True)),
            ("GRU", dict(bidirectional=True, num_layers=2)),
        ],
        keep=1,
        multi=True,
    ),
)
def test_packed_layers_match_a_jax_loop(kind, kwargs):
    tg.manual_seed(0)
    m = getattr(tg.nn, kind)(3, 4, dtype=tg.float64, **kwargs)
    mode = m.mode
    dirs = 2 if m.bidirectional else 1
    h_size = m.proj_size or m.hidden_size
    rng = np.random.default_rng(0)
    lengths = [4, 2, 3]
    x = rng.standard_normal((4, 3, 3))
    h0 = rng.standard_normal((m.num_layers * dirs, 3, h_size))
    c0 = rng.standard_normal((m.num_layers * dirs, 3, m.hidden_size)) if kind == "LSTM" else None

    xt, ht = tg.tensor(x, requires_grad=True), tg.tensor(h0, requires_grad=True)
    ct = None if c0 is None else tg.tensor(c0, requires_grad=True)
    packed = R.pack_padded_sequence(xt, lengths, enforce_sorted=False)
    out, hidden = m(packed, ht if ct is None else (ht, ct))
    out, _ = R.pad_packed_sequence(out)
    got = [out, *(hidden if kind == "LSTM" else (hidden,))]

    params = _ref_params(m)

    def ref(x, h0, c0, params):
        return _ref_network(mode, params, dirs, x, h0, c0, lengths)

    want, vjp = jax.vjp(ref, jnp.asarray(x), jnp.asarray(h0), c0, params)
    want = [w for w in want if w is not None]
    cots = [rng.standard_normal(w.shape) for w in want]
    sum((g * tg.tensor(c)).sum() for g, c in zip(got, cots)).backward()
    grads = vjp((*cots, *([None] if c0 is None else [])))
    for g, w in zip(got, want):
        np.testing.assert_allclose(_np(g), np.asarray(w), **TOL)
    np.testing.assert_allclose(_np(xt.grad), np.asarray(grads[0]), **TOL)
    np.testing.assert_allclose(_np(ht.grad), np.asarray(grads[1]), **TOL)
    if ct is not None:
        np.testing.assert_allclose(_np(ct.grad), np.asarray(grads[2]), **TOL)
    for names, ref_grads in zip(m._all_weights, grads[3]):
        for n in names:
            key = {"weight_ih": "w_ih", "weight_hh": "w_hh", "bias_ih": "b_ih"}.get(
                n.split("_l")[0], {"bias_hh": "b_hh", "weight_hr": "w_hr"}.get(n.split("_l")[0])
            )
            np.testing.assert_allclose(_np(getattr(m, n).grad), np.asarray(ref_grads[key]), **TOL)


def test_parameters_names_shapes_and_init_without_pytorch():
    tg.manual_seed(1)
    m = tg.nn.LSTM(3, 5, dtype=tg.float64, **FAST)
    names = [n for n, _ in m.named_parameters()]
    assert names[:5] == ["weight_ih_l0", "weight_hh_l0", "bias_ih_l0", "bias_hh_l0", "weight_hr_l0"]
    assert names[5] == "weight_ih_l0_reverse" and len(names) == 20
    assert tuple(m.weight_ih_l0.shape) == (20, 3) and tuple(m.weight_hh_l0.shape) == (20, 3)
    assert tuple(m.weight_ih_l1.shape) == (20, 6) and tuple(m.weight_hr_l1_reverse.shape) == (3, 5)
    bound = 1 / np.sqrt(5)
    for p in m.parameters():
        v = _np(p)
        assert np.all(np.abs(v) <= bound) and v.std() > bound / 4
    assert [len(w) for w in m.all_weights] == [5] * 4 and m.all_weights[0][0] is m.weight_ih_l0
    assert m._flat_weights[4] is m.weight_hr_l0
    assert m.flatten_parameters() is None
    tg.manual_seed(1)
    again = tg.nn.LSTM(3, 5, dtype=tg.float64, **FAST)
    np.testing.assert_array_equal(_np(again.weight_hr_l1), _np(m.weight_hr_l1))


@slow
def test_bias_false_and_gate_sizes_without_pytorch():
    g = tg.nn.GRU(2, 3, bias=False)
    assert [n for n, _ in g.named_parameters()] == ["weight_ih_l0", "weight_hh_l0"]
    assert tuple(g.weight_ih_l0.shape) == (9, 2)
    assert tuple(tg.nn.RNN(2, 3, 2).weight_ih_l1.shape) == (3, 3)
    cell = tg.nn.LSTMCell(2, 3, bias=False)
    assert cell.bias_ih is None and tuple(cell.weight_hh.shape) == (12, 3)


@slow
def test_cells_match_a_jax_step():
    rng = np.random.default_rng(2)
    x, h, c = rng.standard_normal((2, 3)), rng.standard_normal((2, 4)), rng.standard_normal((2, 4))
    for cls, mode in (
        (tg.nn.RNNCell, "RNN_TANH"),
        (tg.nn.LSTMCell, "LSTM"),
        (tg.nn.GRUCell, "GRU"),
    ):
        cell = cls(3, 4, dtype=tg.float64)
        p = {
            k: jnp.asarray(_np(v))
            for k, v in zip(("w_ih", "w_hh", "b_ih", "b_hh"), cell.parameters())
        }
        got = cell(tg.tensor(x), (tg.tensor(h), tg.tensor(c)) if mode == "LSTM" else tg.tensor(h))
        want = _ref_cell(mode, x, h, c, p)
        got = got if mode == "LSTM" else (got, None)
        for g, w in zip(got, want):
            if w is not None:
                np.testing.assert_allclose(_np(g), np.asarray(w), **TOL)


# --- against PyTorch ----------------------------------------------------------------------------


def _torch():
    return pytest.importorskip("torch")


def _build(kind, *args, **kwargs):
    """A PyTorch module and ours with the same (PyTorch's) weights, in float64."""
    torch = _torch()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ref = getattr(torch.nn, kind)(*args, dtype=torch.float64, **kwargs)
        ours = getattr(tg.nn, kind)(*args, dtype=tg.float64, **kwargs)
    ours.load_state_dict({k: tg.tensor(v.detach().numpy()) for k, v in ref.state_dict().items()})
    return ref, ours


def _leaf(lib, a):
    return None if a is None else lib.tensor(a, requires_grad=True)


def _flat(result):
    out, hidden = result
    hidden = list(hidden) if isinstance(hidden, tuple) else [hidden]
    return [out, *hidden]


def _compare(ref, ours, x, h0=None, c0=None, packed=None, seed=0):
    """Run both modules on ``x`` (padded; ``packed=(lengths, enforce_sorted)`` packs it first),
    backpropagate the same random cotangents, and compare outputs and every gradient."""
    torch = _torch()
    results = []
    for lib, mod, m in ((torch, torch.nn.utils.rnn, ref), (tg, R, ours)):
        xs, hs, cs = _leaf(lib, x), _leaf(lib, h0), _leaf(lib, c0)
        hx = hs if c0 is None else (hs, cs)
        inp = xs
        if packed is not None:
            inp = mod.pack_padded_sequence(xs, packed[0], m.batch_first, packed[1])
        outs = _flat(m(inp, hx) if hx is not None else m(inp))
        if packed is not None:
            assert type(outs[0]).__name__ == "PackedSequence"
            outs[0] = mod.pad_packed_sequence(outs[0], m.batch_first)[0]
        results.append((outs, [xs, hs, cs]))
    (ref_outs, ref_leaves), (our_outs, our_leaves) = results
    rng = np.random.default_rng(seed)
    cots = [rng.standard_normal(tuple(o.shape)) for o in ref_outs]
    sum((o * torch.tensor(c)).sum() for o, c in zip(ref_outs, cots)).backward()
    sum((o * tg.tensor(c)).sum() for o, c in zip(our_outs, cots)).backward()
    for got, want in zip(our_outs, ref_outs, strict=True):
        assert tuple(got.shape) == tuple(want.shape)
        np.testing.assert_allclose(_np(got), want.detach().numpy(), **TOL)
    for got, want in zip(our_leaves, ref_leaves):
        if want is not None:
            np.testing.assert_allclose(_np(got.grad), want.grad.numpy(), **TOL)
    ref_params = dict(ref.named_parameters())
    for name, p in ours.named_parameters():
        np.testing.assert_allclose(_np(p.grad), ref_params[name].grad.numpy(), err_msg=name, **TOL)


def _states(m, batch, rng, unbatched=False):
    dirs = 2 if m.bidirectional else 1
    size = (m.num_layers * dirs,) + (() if unbatched else (batch,))
    h0 = rng.standard_normal((*size, getattr(m, "proj_size", 0) or m.hidden_size))
    c0 = rng.standard_normal((*size, m.hidden_size)) if m.mode == "LSTM" else None
    return h0, c0


LAYER_CASES = slow_after(
    [
        ("LSTM", FAST, True),
        ("GRU", dict(batch_first=True, bias=False), False),
        ("RNN", dict(nonlinearity="relu", num_layers=2), True),
        ("RNN", dict(bidirectional=True, batch_first=True), False),
        ("LSTM", dict(batch_first=True, bias=False), True),
        ("LSTM", dict(num_layers=2, proj_size=2, bias=False, bidirectional=True), False),
        ("GRU", dict(num_layers=2, bidirectional=True), True),
        ("GRU", dict(), True),
        ("RNN", dict(nonlinearity="relu", bias=False, bidirectional=True), True),
        ("LSTM", dict(), False),
    ],
    keep=1,
    multi=True,
)


@pytest.mark.parametrize("kind,kwargs,with_state", LAYER_CASES)
def test_layers_match_pytorch(kind, kwargs, with_state):
    ref, ours = _build(kind, 3, 5, **kwargs)
    rng = np.random.default_rng(3)
    x = rng.standard_normal((2, 3, 3) if ours.batch_first else (3, 2, 3))
    h0, c0 = _states(ours, 2, rng) if with_state else (None, None)
    _compare(ref, ours, x, h0, c0)


PACKED_CASES = slow_after(
    [
        ("LSTM", FAST, [1, 3], False, True),
        ("GRU", dict(num_layers=2, bidirectional=True), [3, 5, 1, 5], False, True),
        (
            "LSTM",
            dict(proj_size=2, bidirectional=True, batch_first=True),
            [5, 4, 2, 1],
            True,
            False,
        ),
        ("RNN", dict(nonlinearity="relu", bidirectional=True), [2, 5, 3, 4], False, False),
        ("LSTM", dict(num_layers=2, bidirectional=True), [1, 3, 5, 2], False, True),
        ("GRU", dict(batch_first=True), [5, 5, 3, 3], True, True),
        ("RNN", dict(num_layers=2, bias=False), [4, 2, 5, 2], False, True),
    ],
    keep=0,  # the fast tier checks packed input against the jax loop
    multi=True,
)


@pytest.mark.parametrize("kind,kwargs,lengths,enforce_sorted,with_state", PACKED_CASES)
def test_packed_input_matches_pytorch(kind, kwargs, lengths, enforce_sorted, with_state):
    ref, ours = _build(kind, 3, 5, **kwargs)
    rng = np.random.default_rng(4)
    steps, batch = max(lengths), len(lengths)
    x = rng.standard_normal((batch, steps, 3) if ours.batch_first else (steps, batch, 3))
    h0, c0 = _states(ours, batch, rng) if with_state else (None, None)
    _compare(ref, ours, x, h0, c0, packed=(lengths, enforce_sorted))


@pytest.mark.parametrize(
    "kind,kwargs,with_state",
    slow_after(
        [
            ("LSTM", dict(bidirectional=True, proj_size=2), True),
            ("GRU", dict(num_layers=2), True),
            ("RNN", dict(batch_first=True), True),
            ("LSTM", dict(batch_first=True), False),
        ],
        keep=0,
        multi=True,
    ),
)
def test_unbatched_input_matches_pytorch(kind, kwargs, with_state):
    ref, ours = _build(kind, 3, 4, **kwargs)
    rng = np.random.default_rng(5)
    x = rng.standard_normal((4, 3))
    h0, c0 = _states(ours, None, rng, unbatched=True) if with_state else (None, None)
    _compare(ref, ours, x, h0, c0)


@slow
def test_dropout_between_layers_not_after_the_last():
    # p = 1 makes the dropped values deterministic (all zero): layer 2 then sees zeros, and its
    # output is not zero only because dropout does not follow the last layer.
    ref, ours = _build("LSTM", 3, 4, num_layers=3, dropout=1.0)
    ref.train()
    ours.train()
    x = np.random.default_rng(6).standard_normal((4, 2, 3))
    _compare(ref, ours, x)


@slow
def test_dropout_in_training_is_seeded_and_off_in_eval():
    ref, ours = _build("GRU", 3, 4, num_layers=2, dropout=0.5)
    x = tg.tensor(np.random.default_rng(7).standard_normal((4, 2, 3)))
    ours.train()
    tg.manual_seed(0)
    a = _np(ours(x)[0])
    tg.manual_seed(0)
    b = _np(ours(x)[0])
    tg.manual_seed(1)
    c = _np(ours(x)[0])
    np.testing.assert_array_equal(a, b)
    assert not np.allclose(a, c)
    ours.eval()
    ref.eval()
    _compare(ref, ours, np.asarray(x.numpy()))


def test_dropout_warning_matches_pytorch():
    torch = _torch()
    with pytest.warns(UserWarning) as ref:
        torch.nn.RNN(3, 4, dropout=0.5)
    with pytest.warns(UserWarning) as got:
        tg.nn.RNN(3, 4, dropout=0.5)
    assert str(got[0].message) == str(ref[0].message)


@slow
def test_repr_matches_pytorch():
    torch = _torch()
    cases = [
        ("LSTM", (3, 4, 2), dict(bias=False, batch_first=True, dropout=0.1, bidirectional=True)),
        ("LSTM", (3, 4), dict(proj_size=2)),
        ("RNN", (3, 4, 1, "relu"), {}),
        ("RNNCell", (3, 4), dict(bias=False, nonlinearity="relu")),
        ("GRUCell", (3, 4), {}),
    ]
    for kind, args, kwargs in cases:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            assert repr(getattr(tg.nn, kind)(*args, **kwargs)) == repr(
                getattr(torch.nn, kind)(*args, **kwargs)
            )


def test_state_dict_round_trips_both_ways():
    torch = _torch()
    ref, ours = _build("LSTM", 3, 5, **FAST)
    assert list(ours.state_dict()) == list(ref.state_dict())
    assert ours._flat_weights_names == ref._flat_weights_names
    back = torch.nn.LSTM(3, 5, dtype=torch.float64, **FAST)
    sd = {k: torch.tensor(_np(v)) for k, v in ours.state_dict().items()}
    assert back.load_state_dict(sd, strict=True).missing_keys == []
    for k, v in back.state_dict().items():
        assert tuple(v.shape) == tuple(ours.state_dict()[k].shape)
        np.testing.assert_array_equal(v.numpy(), ref.state_dict()[k].numpy())


CELL_CASES = slow_after(
    [
        ("LSTMCell", {}, True, True),
        ("GRUCell", dict(bias=False), False, True),
        ("RNNCell", dict(nonlinearity="relu"), True, False),
        ("RNNCell", {}, False, True),
        ("LSTMCell", dict(bias=False), False, False),
        ("GRUCell", {}, True, False),
    ],
    keep=1,
    multi=True,
)


@pytest.mark.parametrize("kind,kwargs,batched,with_state", CELL_CASES)
def test_cells_match_pytorch(kind, kwargs, batched, with_state):
    torch = _torch()
    ref, ours = _build(kind, 3, 4, **kwargs)
    rng = np.random.default_rng(8)
    lead = (2,) if batched else ()
    x = rng.standard_normal((*lead, 3))
    states = [rng.standard_normal((*lead, 4)) for _ in range(2 if kind == "LSTMCell" else 1)]
    outs, leaves = [], []
    for lib, m in ((torch, ref), (tg, ours)):
        xs = _leaf(lib, x)
        hs = [_leaf(lib, s) for s in states]
        if with_state:
            out = m(xs, tuple(hs) if kind == "LSTMCell" else hs[0])
        else:
            out = m(xs)
        outs.append(list(out) if isinstance(out, tuple) else [out])
        leaves.append([xs, *(hs if with_state else [])])
    cots = [rng.standard_normal(tuple(o.shape)) for o in outs[0]]
    sum((o * torch.tensor(c)).sum() for o, c in zip(outs[0], cots)).backward()
    sum((o * tg.tensor(c)).sum() for o, c in zip(outs[1], cots)).backward()
    for got, want in zip(outs[1], outs[0], strict=True):
        np.testing.assert_allclose(_np(got), want.detach().numpy(), **TOL)
    for got, want in zip(leaves[1], leaves[0], strict=True):
        np.testing.assert_allclose(_np(got.grad), want.grad.numpy(), **TOL)
    ref_params = dict(ref.named_parameters())
    for name, p in ours.named_parameters():
        np.testing.assert_allclose(_np(p.grad), ref_params[name].grad.numpy(), **TOL)


def _same_error(make_torch, make_tg):
    with pytest.raises(Exception) as ref:
        make_torch()
    with pytest.raises(type(ref.value)) as got:
        make_tg()
    assert str(got.value).replace("tracegrad", "torch") == str(ref.value)


ERRORS = [
    ("LSTM", (3, 5, 2, True, False, 0.0, True, 3), lambda L: (L.randn(3, 2, 7),)),
    (
        "LSTM",
        (3, 5, 2, True, False, 0.0, True, 3),
        lambda L: (L.randn(3, 2, 3), (L.randn(4, 2, 5), L.randn(4, 2, 5))),
    ),
    ("GRU", (10, 20, 2), lambda L: (L.randn(5, 3, 10), L.randn(2, 4, 20))),
    ("LSTM", (10, 20, 2), lambda L: (L.randn(5, 3, 10), (L.randn(2, 3, 20), L.randn(1, 3, 20)))),
    ("LSTM", (10, 20, 2), lambda L: (L.randn(5, 3, 10), (L.randn(1, 3, 20), L.randn(2, 3, 20)))),
    ("LSTM", (10, 20), lambda L: (L.randn(5, 3, 10, dtype=L.float32),)),
    ("LSTM", (10, 20), lambda L: (L.randn(5, 10), (L.randn(1, 3, 20), L.randn(1, 3, 20)))),
    ("GRU", (10, 20), lambda L: (L.randn(5, 10), L.randn(2, 4, 20))),
    ("RNN", (10, 20), lambda L: (L.randn(5, 3, 10), L.randn(1, 20))),
    ("RNN", (10, 20), lambda L: (L.randn(2, 5, 3, 10),)),
    ("LSTM", (10, 20), lambda L: (L.randn(2, 5, 3, 10),)),
    ("GRUCell", (10, 20), lambda L: (L.randn(3, 5),)),
    ("GRUCell", (10, 20), lambda L: (L.randn(3, 10), L.randn(2, 20))),
    ("RNNCell", (10, 20), lambda L: (L.randn(3, 10), L.randn(3, 7))),
    ("LSTMCell", (10, 20), lambda L: (L.randn(3, 10), (L.randn(3, 20), L.randn(3, 7)))),
    ("LSTMCell", (10, 20), lambda L: (L.randn(3, 10, 1),)),
    ("RNNCell", (10, 20), lambda L: (L.randn(3, 10), L.randn(1, 3, 20))),
]


@pytest.mark.parametrize("kind,args,inputs", slow_after(ERRORS, keep=2, multi=True))
def test_forward_errors_match_pytorch(kind, args, inputs):
    torch = _torch()

    def run(lib):
        # float64 modules and inputs (the dtype-mismatch case gives float32 input)
        prev = lib.get_default_dtype()
        lib.set_default_dtype(lib.float64)
        try:
            m = getattr(lib.nn, kind)(*args)
            xs = inputs(lib)
        finally:
            lib.set_default_dtype(prev)
        return m(*xs)

    _same_error(lambda: run(torch), lambda: run(tg))


CTOR_ERRORS = [
    ("GRU", (3, 4), dict(proj_size=2)),
    ("RNN", (3, 4), dict(nonlinearity="sigmoid")),
    ("LSTM", (3, 4), dict(proj_size=4)),
    ("LSTM", (3, 4), dict(dropout=1.5)),
    ("LSTM", (3, 4), dict(bias=1)),
    ("GRU", (3, 0), {}),
    ("RNN", (3.0, 4), {}),
    ("LSTM", (3, 4, 0), {}),
]


@pytest.mark.parametrize("kind,args,kwargs", slow_after(CTOR_ERRORS, keep=2, multi=True))
def test_constructor_errors_match_pytorch(kind, args, kwargs):
    torch = _torch()
    _same_error(
        lambda: getattr(torch.nn, kind)(*args, **kwargs),
        lambda: getattr(tg.nn, kind)(*args, **kwargs),
    )


@slow
def test_packed_hidden_state_follows_the_original_batch_order():
    # h_n of a packed, unsorted batch equals running each sequence alone (in the caller's order).
    ref, ours = _build("GRU", 2, 3, bidirectional=True)
    rng = np.random.default_rng(9)
    seqs = [rng.standard_normal((n, 2)) for n in (2, 4, 3)]
    packed = R.pack_sequence([tg.tensor(s) for s in seqs], enforce_sorted=False)
    _, h = ours(packed)
    for b, s in enumerate(seqs):
        _, alone = ours(tg.tensor(s))
        np.testing.assert_allclose(_np(h[:, b]), _np(alone), **TOL)


@slow
def test_packed_lstm_inside_a_compiled_step_matches_eager():
    # Inside tracegrad.compile every tensor the step creates is traced; the packed structure
    # (lengths, batch sizes, permutations) must still be readable as Python ints.
    tg.manual_seed(0)
    m = tg.nn.LSTM(3, 4, bidirectional=True, dtype=tg.float64)
    x = tg.tensor(np.random.default_rng(10).standard_normal((3, 2, 3)))

    def step(x):
        packed = R.pack_padded_sequence(x, [1, 3], enforce_sorted=False)
        out, (h, c) = m(packed)
        padded, lengths = R.pad_packed_sequence(out)
        loss = (padded * padded).sum() + h.sum() + c.sum()
        loss.backward()
        return loss

    eager = _np(step(x))
    grads = [_np(p.grad) for p in m.parameters()]
    m.zero_grad()
    compiled = tg.compile(step)
    for _ in range(2):
        m.zero_grad()
        np.testing.assert_allclose(_np(compiled(x)), eager, **TOL)
        for p, g in zip(m.parameters(), grads):
            np.testing.assert_allclose(_np(p.grad), g, **TOL)
    traced_lengths = tg.compile(lambda x, n: R.pack_padded_sequence(x, n).data.sum())
    with pytest.raises(RuntimeError, match="pass the lengths as a Python list"):
        traced_lengths(x, tg.tensor([3, 1]))
