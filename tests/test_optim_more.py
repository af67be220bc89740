"""The optimizers beyond the first six (Adamax, NAdam, RAdam, ASGD, Rprop, Adafactor, LBFGS,
SparseAdam), the implementation flags (foreach / fused / capturable / differentiable), and
``Optimizer``'s hooks: each update against a numpy version of PyTorch's documented algorithm,
and (when torch is installed) against torch.optim step by step, state dicts both ways."""

from __future__ import annotations

import importlib
import inspect

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import tracegrad
from tracegrad import optim
from tracegrad.optim import optimizer as optimizer_module
from tracegrad.tensor import Tensor

from .tiers import slow_after

# Adafactor factors the matrices ((3, 4) and (2, 3, 2)) and keeps a full variance for the rest.
SHAPES = [(3, 4), (5,), (), (2, 3, 2)]  # group 0: the first two, group 1: the last two
STEPS = 6


def _data(dtype, seed=0):
    rng = np.random.default_rng(seed)
    init = [rng.standard_normal(s).astype(dtype) for s in SHAPES]
    grads = []
    for k in range(STEPS):
        gs = [rng.standard_normal(s).astype(dtype) for s in SHAPES]
        if k == 2:
            gs[1] = None  # a parameter without a gradient is skipped for that step
        grads.append(gs)
    return init, grads


def _make(lib, cls_name, kwargs, group1, ps):
    groups = [{"params": ps[:2]}, {"params": ps[2:], **group1}]
    return getattr(lib.optim, cls_name)(groups, **kwargs)


def _feed(lib, ps, gs):
    for p, g in zip(ps, gs):
        p.grad = None if g is None else lib.tensor(g)


def _run(lib, cls_name, kwargs, group1, dtype, steps=STEPS):
    init, grads = _data(dtype)
    ps = [lib.tensor(a.copy(), requires_grad=True) for a in init]
    opt = _make(lib, cls_name, kwargs, group1, ps)
    for gs in grads[:steps]:
        _feed(lib, ps, gs)
        opt.step()
    return [p.detach().numpy().copy() for p in ps], opt


CASES = [
    ("Adamax", {}, {"lr": 0.01}),
    ("Adamax", {"lr": 0.05, "weight_decay": 0.1, "maximize": True}, {"betas": (0.5, 0.9)}),
    ("NAdam", {}, {"lr": 0.01}),
    ("NAdam", {"lr": 0.05, "weight_decay": 0.1, "momentum_decay": 0.1}, {"eps": 1e-3}),
    ("NAdam", {"weight_decay": 0.2, "decoupled_weight_decay": True, "maximize": True}, {}),
    ("RAdam", {}, {"lr": 0.01}),
    # beta2 = 0.8: rho_t crosses 5 during the run, so both branches are taken.
    ("RAdam", {"lr": 0.05, "betas": (0.9, 0.8), "weight_decay": 0.1}, {"maximize": True}),
    ("RAdam", {"betas": (0.9, 0.8), "weight_decay": 0.3, "decoupled_weight_decay": True}, {}),
    ("ASGD", {}, {"lr": 0.05}),
    ("ASGD", {"lr": 0.1, "lambd": 0.1, "alpha": 0.5, "t0": 2, "weight_decay": 0.1}, {"t0": 0}),
    ("ASGD", {"maximize": True, "t0": 3}, {}),
    ("Rprop", {}, {"lr": 0.1}),
    ("Rprop", {"lr": 0.2, "etas": (0.3, 1.5), "step_sizes": (0.05, 0.3)}, {"maximize": True}),
    ("Adafactor", {}, {"lr": 0.1}),
    ("Adafactor", {"lr": 0.05, "weight_decay": 0.1, "eps": (1e-3, 1e-2), "d": 1.5}, {}),
    ("Adafactor", {"beta2_decay": -0.5, "maximize": True}, {"lr": 0.2}),
]  # fmt: skip
IDS = [f"{c}-{i}" for i, (c, _, _) in enumerate(CASES)]
NEW = ["Adamax", "NAdam", "RAdam", "ASGD", "Rprop", "Adafactor"]
FIRST = [next(c for c in CASES if c[0] == name) for name in NEW]  # one case per optimizer


# ------------------------------------------------------------------------ numpy references
def _lerp(a, b, w):
    return a + w * (b - a)


def _np_adamax(p, g, st, o):
    b1, b2 = o.get("betas", (0.9, 0.999))
    t = st["t"] = st.get("t", 0) + 1
    g = -g if o.get("maximize") else g
    if o.get("weight_decay", 0):
        g = g + o["weight_decay"] * p
    m = st["m"] = b1 * st.get("m", 0) + (1 - b1) * g
    u = st["u"] = np.maximum(b2 * st.get("u", 0), np.abs(g) + o.get("eps", 1e-8))
    return p - o["lr"] / (1 - b1**t) * m / u


def _np_nadam(p, g, st, o):
    b1, b2 = o.get("betas", (0.9, 0.999))
    lr, wd, psi = o["lr"], o.get("weight_decay", 0), o.get("momentum_decay", 4e-3)
    t = st["t"] = st.get("t", 0) + 1
    g = -g if o.get("maximize") else g
    if wd:
        if o.get("decoupled_weight_decay"):
            p = p * (1 - lr * wd)
        else:
            g = g + wd * p
    mu = b1 * (1 - 0.5 * 0.96 ** (t * psi))
    mu_next = b1 * (1 - 0.5 * 0.96 ** ((t + 1) * psi))
    # PyTorch keeps mu_product in a float32 tensor: ``mu_product *= mu`` rounds to float32.
    prod = st["prod"] = float(np.float32(st.get("prod", 1.0)) * np.float32(mu))
    m = st["m"] = b1 * st.get("m", 0) + (1 - b1) * g
    v = st["v"] = b2 * st.get("v", 0) + (1 - b2) * g * g
    denom = np.sqrt(v / (1 - b2**t)) + o.get("eps", 1e-8)
    return (
        p - lr * (1 - mu) / (1 - prod) * g / denom - lr * mu_next / (1 - prod * mu_next) * m / denom
    )


def _np_radam(p, g, st, o):
    b1, b2 = o.get("betas", (0.9, 0.999))
    lr, wd = o["lr"], o.get("weight_decay", 0)
    t = st["t"] = st.get("t", 0) + 1
    g = -g if o.get("maximize") else g
    if wd:
        if o.get("decoupled_weight_decay"):
            p = p * (1 - lr * wd)
        else:
            g = g + wd * p
    m = st["m"] = b1 * st.get("m", 0) + (1 - b1) * g
    v = st["v"] = b2 * st.get("v", 0) + (1 - b2) * g * g
    mhat = m / (1 - b1**t)
    rho_inf = 2 / (1 - b2) - 1
    rho_t = rho_inf - 2 * t * b2**t / (1 - b2**t)
    if rho_t > 5:
        rect = np.sqrt(
            (rho_t - 4) * (rho_t - 2) * rho_inf / ((rho_inf - 4) * (rho_inf - 2) * rho_t)
        )
        return p - lr * mhat * rect * np.sqrt(1 - b2**t) / (np.sqrt(v) + o.get("eps", 1e-8))
    return p - lr * mhat


def _np_asgd(p, g, st, o):
    lr, lambd, alpha, t0 = o["lr"], o.get("lambd", 1e-4), o.get("alpha", 0.75), o.get("t0", 1e6)
    t = st["t"] = st.get("t", 0) + 1
    eta, mu = st.get("eta", float(np.float32(lr))), st.get("mu", 1.0)
    g = -g if o.get("maximize") else g
    if o.get("weight_decay", 0):
        g = g + o["weight_decay"] * p
    p = p * (1 - lambd * eta) - eta * g
    st["ax"] = p.copy() if mu == 1 else st.get("ax", 0) + mu * (p - st.get("ax", 0))
    # PyTorch keeps eta and mu in float32 tensors.
    st["eta"] = float(np.float32(lr / (1 + lambd * lr * t) ** alpha))
    st["mu"] = float(np.float32(1 / max(1, t - t0)))
    return p


def _np_rprop(p, g, st, o):
    etaminus, etaplus = o.get("etas", (0.5, 1.2))
    lo, hi = o.get("step_sizes", (1e-6, 50))
    g = -g if o.get("maximize") else g
    prev = st.get("prev", np.zeros_like(p))
    size = st.get("size", np.full_like(p, o["lr"]))
    s = np.sign(g * prev)
    size = st["size"] = np.clip(
        size * np.where(s > 0, etaplus, np.where(s < 0, etaminus, 1)), lo, hi
    )
    g = st["prev"] = np.where(s < 0, 0, g)
    return p - np.sign(g) * size


def _np_adafactor(p, g, st, o):
    lr, wd, d = o["lr"], o.get("weight_decay", 0), o.get("d", 1.0)
    eps1, eps2 = o.get("eps", (None, 1e-3))
    eps1 = np.finfo(np.float32).eps if eps1 is None else eps1  # the parameters are float32
    t = st["t"] = st.get("t", 0) + 1
    g = -g if o.get("maximize") else g
    w = t ** o.get("beta2_decay", -0.8)
    alpha = max(eps2, np.sqrt(np.mean(p * p))) * min(lr, 1 / np.sqrt(t))
    p = p * (1 - lr * wd)
    if g.ndim > 1:
        r = st["r"] = _lerp(st.get("r", 0), np.mean(g * g, axis=-1, keepdims=True), w)
        c = st["c"] = _lerp(st.get("c", 0), np.mean(g * g, axis=-2, keepdims=True), w)
        var = r @ c / np.maximum(np.mean(r, axis=-2, keepdims=True), eps1)
    else:
        var = st["v"] = _lerp(st.get("v", 0), g * g, w)
    u = g / np.sqrt(np.maximum(var, eps1 * eps1))
    return p - alpha / max(1, np.sqrt(np.mean(u * u)) / d) * u


_DEFAULT_LR = {"Adamax": 2e-3, "NAdam": 2e-3, "RAdam": 1e-3, "ASGD": 1e-2, "Rprop": 1e-2,
               "Adafactor": 1e-2}  # fmt: skip
_NP_RULES = {"Adamax": _np_adamax, "NAdam": _np_nadam, "RAdam": _np_radam, "ASGD": _np_asgd,
             "Rprop": _np_rprop, "Adafactor": _np_adafactor}  # fmt: skip


def _np_run(cls_name, kwargs, group1):
    init, grads = _data(np.float64 if cls_name != "Adafactor" else np.float32)
    init = [a.astype(np.float64) for a in init]
    base = {"lr": _DEFAULT_LR[cls_name], **kwargs}
    opts = [base, {**base, **group1}]
    ps, states = list(init), [{} for _ in SHAPES]
    for gs in grads:
        for i, g in enumerate(gs):
            if g is not None:
                ps[i] = _NP_RULES[cls_name](ps[i], g.astype(np.float64), states[i], opts[i >= 2])
    return ps


@pytest.mark.parametrize("case", slow_after(CASES, 3), ids=IDS)
def test_matches_numpy_reference_float64(case):
    if case[0] == "Adafactor":
        pytest.skip("eps1=None is float32's epsilon in the reference: checked in float32")
    ours, _ = _run(tracegrad, *case, np.float64)
    for a, b in zip(ours, _np_run(*case)):
        np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-13)


@pytest.mark.parametrize("case", slow_after(CASES, 6), ids=IDS)
def test_float32_close_to_numpy_reference(case):
    ours, _ = _run(tracegrad, *case, np.float32)
    for a, b in zip(ours, _np_run(*case)):
        assert a.dtype == np.float32
        np.testing.assert_allclose(a, b, rtol=2e-5, atol=2e-5)


def _assert_same_state_dict(sd, tsd, rtol):
    assert sd["param_groups"] == tsd["param_groups"]
    assert sd["state"].keys() == tsd["state"].keys()
    for k in sd["state"]:
        assert sd["state"][k].keys() == tsd["state"][k].keys()
        for name, v in sd["state"][k].items():
            tv = tsd["state"][k][name]
            assert v.dtype.name == str(tv.dtype).removeprefix("torch."), name
            assert tuple(v.shape) == tuple(tv.shape), name
            np.testing.assert_allclose(v.numpy(), tv.numpy(), rtol=rtol, atol=rtol, err_msg=name)


# Fast tier: every case in float32; float64 (tolerance 1e-13) is slow after one case.
@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_matches_torch_float32(case):
    torch = pytest.importorskip("torch")
    ours, opt = _run(tracegrad, *case, np.float32)
    theirs, topt = _run(torch, *case, np.float32)
    for a, b in zip(ours, theirs):
        np.testing.assert_allclose(a, b, rtol=2e-6, atol=1e-6)
    _assert_same_state_dict(opt.state_dict(), topt.state_dict(), 2e-6)


@pytest.mark.parametrize("case", slow_after(CASES), ids=IDS)
def test_matches_torch_float64(case):
    torch = pytest.importorskip("torch")
    ours, opt = _run(tracegrad, *case, np.float64)
    theirs, topt = _run(torch, *case, np.float64)
    for a, b in zip(ours, theirs):
        np.testing.assert_allclose(a, b, rtol=1e-13, atol=1e-13)
    _assert_same_state_dict(opt.state_dict(), topt.state_dict(), 1e-13)


@pytest.mark.parametrize("case", slow_after(FIRST, 2), ids=NEW)
def test_matches_torch_step_by_step(case):
    """Every step, not only the last, agrees with torch."""
    torch = pytest.importorskip("torch")
    init, grads = _data(np.float32)
    ps = [tracegrad.tensor(a.copy(), requires_grad=True) for a in init]
    tps = [torch.tensor(a.copy(), requires_grad=True) for a in init]
    opt, topt = _make(tracegrad, *case, ps), _make(torch, *case, tps)
    for gs in grads:
        _feed(tracegrad, ps, gs)
        _feed(torch, tps, gs)
        opt.step()
        topt.step()
        for a, b in zip(ps, tps):
            np.testing.assert_allclose(a.detach().numpy(), b.detach().numpy(), rtol=2e-6, atol=1e-6)


# ------------------------------------------------------------------------ state dicts
@pytest.mark.parametrize("case", slow_after(CASES, 3), ids=IDS)
@pytest.mark.eager_only  # bitwise equal runs of different programs: lazy mode's fuse, which may round float32 differently
def test_state_dict_round_trip_continues_exactly(case):
    cls_name, kwargs, group1 = case
    straight, _ = _run(tracegrad, cls_name, kwargs, group1, np.float32)
    init, grads = _data(np.float32)
    ps = [tracegrad.tensor(a.copy(), requires_grad=True) for a in init]
    opt = _make(tracegrad, cls_name, kwargs, group1, ps)
    for gs in grads[:3]:
        _feed(tracegrad, ps, gs)
        opt.step()
    ps2 = [tracegrad.tensor(p.detach().numpy(), requires_grad=True) for p in ps]
    opt2 = _make(tracegrad, cls_name, {}, {}, ps2)
    opt2.load_state_dict(opt.state_dict())
    for gs in grads[3:]:
        _feed(tracegrad, ps + ps2, gs + gs)
        opt.step()
        opt2.step()
    for a, b, c in zip(straight, ps, ps2):
        np.testing.assert_array_equal(a, b.detach().numpy())
        np.testing.assert_array_equal(a, c.detach().numpy())


@pytest.mark.parametrize("case", slow_after(FIRST, 2), ids=NEW)
def test_state_dicts_move_between_torch_and_tracegrad(case):
    """A torch optimizer's state_dict loads into tracegrad and the run goes on as torch's own;
    tracegrad's state_dict, converted tensor by tensor, loads into torch the same way."""
    torch = pytest.importorskip("torch")
    cls_name, kwargs, group1 = case
    final, _ = _run(torch, cls_name, kwargs, group1, np.float32)
    init, grads = _data(np.float32)
    for src, dst in ((torch, tracegrad), (tracegrad, torch)):
        mid, sopt = _run(src, cls_name, kwargs, group1, np.float32, steps=3)
        sd = sopt.state_dict()
        if dst is torch:
            sd = {
                "state": {
                    k: {n: torch.tensor(v.numpy()) for n, v in s.items()}
                    for k, s in sd["state"].items()
                },
                "param_groups": sd["param_groups"],
            }
        ps = [dst.tensor(a, requires_grad=True) for a in mid]
        opt = _make(dst, cls_name, {}, {}, ps)
        opt.load_state_dict(sd)
        for gs in grads[3:]:
            _feed(dst, ps, gs)
            opt.step()
        for a, b in zip(ps, final):
            np.testing.assert_allclose(a.detach().numpy(), b, rtol=2e-6, atol=1e-6)


# ------------------------------------------------------------------------ under jax.jit
@pytest.mark.parametrize("case", slow_after(FIRST, 2), ids=NEW)
def test_step_traces_under_jit(case):
    """No host reads, no branching on values: tracing whole steps with jax.jit gives the eager
    result."""
    cls_name, kwargs, _ = case
    init, grads = _data(np.float32)

    def train(p_arrays, g_arrays):
        ps = [Tensor._wrap(a, requires_grad=True) for a in p_arrays]
        opt = getattr(optim, cls_name)(ps, **kwargs)
        for gs in g_arrays:
            for p, g in zip(ps, gs):
                p.grad = Tensor._wrap(g)
            opt.step()
        return [p._storage.array for p in ps]

    gs = [[jnp.asarray(g) for g in step] for step in grads[:2] + grads[3:5]]
    eager = train([jnp.asarray(a) for a in init], gs)
    compiled = jax.jit(train)([jnp.asarray(a) for a in init], gs)
    for a, b in zip(eager, compiled):
        np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=1e-6, atol=1e-7)


# ------------------------------------------------------------------------ specific semantics
def test_state_layouts():
    p = tracegrad.ones(2, 3, requires_grad=True)
    v = tracegrad.ones(3, requires_grad=True)
    expected = {
        "Adamax": ({"step", "exp_avg", "exp_inf"},) * 2,
        "NAdam": ({"step", "mu_product", "exp_avg", "exp_avg_sq"},) * 2,
        "RAdam": ({"step", "exp_avg", "exp_avg_sq"},) * 2,
        "ASGD": ({"step", "eta", "mu", "ax"},) * 2,
        "Rprop": ({"step", "prev", "step_size"},) * 2,
        "Adafactor": ({"step", "row_var", "col_var"}, {"step", "variance"}),
    }
    for name, (matrix_keys, vector_keys) in expected.items():
        opt = getattr(optim, name)([p, v])
        p.grad, v.grad = tracegrad.ones(2, 3), tracegrad.ones(3)
        opt.step()
        assert set(opt.state[p]) == matrix_keys and set(opt.state[v]) == vector_keys, name
        assert opt.state[p]["step"].dtype == tracegrad.float32 and opt.state[p]["step"].item() == 1
    opt = optim.Adafactor([p])
    p.grad = tracegrad.ones(2, 3)
    opt.step()
    assert opt.state[p]["row_var"].shape == (2, 1) and opt.state[p]["col_var"].shape == (1, 3)
    opt = optim.ASGD([v], lr=0.5)
    v.grad = tracegrad.ones(3)
    opt.step()
    assert opt.state[v]["eta"].dtype == tracegrad.float32 and opt.state[v]["mu"].item() == 1.0
    opt = optim.Rprop([v], lr=0.25)
    v.grad = tracegrad.ones(3)
    opt.step()
    assert opt.state[v]["step_size"].tolist() == [0.25] * 3  # lr, times 1 (no previous sign)


def test_nadam_mu_product():
    p = tracegrad.zeros(1, requires_grad=True)
    opt = optim.NAdam([p], momentum_decay=0.1)
    prod = 1.0
    for t in (1, 2, 3):
        p.grad = tracegrad.ones(1)
        opt.step()
        prod = float(np.float32(prod * np.float32(0.9 * (1 - 0.5 * 0.96 ** (t * 0.1)))))
        assert opt.state[p]["mu_product"].item() == prod


def test_rprop_sign_flip_zeroes_the_gradient_and_shrinks_the_step():
    p = tracegrad.zeros(2, requires_grad=True)
    opt = optim.Rprop([p], lr=0.1, etas=(0.5, 2.0))
    p.grad = tracegrad.tensor([1.0, 1.0])
    opt.step()  # no previous sign: factor 1
    p.grad = tracegrad.tensor([1.0, -1.0])
    opt.step()  # same sign: grows; flipped: shrinks, and no move
    np.testing.assert_array_equal(opt.state[p]["step_size"].numpy(), np.float32([0.2, 0.05]))
    np.testing.assert_allclose(p.tolist(), [-0.3, -0.1], rtol=1e-6)
    assert opt.state[p]["prev"].tolist() == [1.0, 0.0]


def test_asgd_averages_after_t0():
    p = tracegrad.zeros(1, requires_grad=True)
    opt = optim.ASGD([p], lr=1.0, lambd=0.0, t0=1)
    seen = []
    for _ in range(4):
        p.grad = tracegrad.ones(1)
        opt.step()
        seen.append(p.item())
    # eta stays 1 (lambd = 0); mu = 1 / max(1, t - t0): ax copies p for two steps, then averages.
    assert seen == [-1.0, -2.0, -3.0, -4.0]
    np.testing.assert_allclose(opt.state[p]["ax"].item(), -2.0 + (-3.0 + 2.0) + 0.5 * (-4.0 + 3.0))


def test_sparse_adam_refuses_dense_gradients_as_pytorch():
    p = tracegrad.ones(2, requires_grad=True)
    opt = optim.SparseAdam([p], lr=0.1)
    assert opt.defaults == {"lr": 0.1, "betas": (0.9, 0.999), "eps": 1e-8, "maximize": False}
    opt.step()  # no gradient: nothing to do
    p.grad = tracegrad.ones(2)
    with pytest.raises(RuntimeError, match="^SparseAdam does not support dense gradients"):
        opt.step()
    assert len(opt.state) == 0 and p.tolist() == [1.0, 1.0]
    with pytest.raises(ValueError, match="Invalid learning rate: 0"):
        optim.SparseAdam([p], lr=0)
    with pytest.raises(ValueError, match="Invalid epsilon value: 0"):
        optim.SparseAdam([p], eps=0)


def test_sparse_adam_matches_torch():
    torch = pytest.importorskip("torch")
    for lib in (torch, tracegrad):
        p = lib.ones(2, requires_grad=True)
        p.grad = lib.ones(2)
        with pytest.raises(RuntimeError) as err:
            lib.optim.SparseAdam([p]).step()
        if lib is torch:
            theirs = str(err.value)
    assert str(err.value) == theirs


def test_constructor_errors_match_torch():
    torch = pytest.importorskip("torch")
    tp = torch.ones(2, requires_grad=True)
    p = tracegrad.ones(2, requires_grad=True)
    for make in [
        lambda lib, q: lib.optim.Adamax([q], lr=-1),
        lambda lib, q: lib.optim.Adamax([q], betas=(1.0, 0.9)),
        lambda lib, q: lib.optim.NAdam([q], momentum_decay=-1),
        lambda lib, q: lib.optim.NAdam([q], eps=-1),
        lambda lib, q: lib.optim.RAdam([q], betas=(0.9, 1.5)),
        lambda lib, q: lib.optim.RAdam([q], weight_decay=-1),
        lambda lib, q: lib.optim.ASGD([q], lr=-0.5),
        lambda lib, q: lib.optim.ASGD([q], weight_decay=-1),
        lambda lib, q: lib.optim.Rprop([q], etas=(1.5, 1.2)),
        lambda lib, q: lib.optim.Rprop([q], etas=(0.5, 0.9)),
        lambda lib, q: lib.optim.LBFGS([q], lr=-1),
        lambda lib, q: lib.optim.LBFGS([{"params": [q]}, {"params": [q * 1]}]),
        lambda lib, q: lib.optim.SparseAdam([q], betas=(0.9, 1.0)),
        lambda lib, q: lib.optim.Adafactor([q], lr=-1),
        lambda lib, q: lib.optim.Adafactor([q], beta2_decay=0.5),
        lambda lib, q: lib.optim.Adafactor([q], eps=(-1, 1e-3)),
        lambda lib, q: lib.optim.Adafactor([q], eps=(None, -1)),
        lambda lib, q: lib.optim.Adafactor([q], d=0.5),
        lambda lib, q: lib.optim.Adafactor([q], weight_decay=-1),
        lambda lib, q: lib.optim.Adam([q], lr=-1, fused=True),
    ]:
        with pytest.raises(ValueError) as theirs:
            make(torch, tp)
        with pytest.raises(ValueError) as ours:
            make(tracegrad, p)
        assert str(ours.value) == str(theirs.value)


def test_lbfgs_rejects_param_groups():
    a, b = tracegrad.ones(1, requires_grad=True), tracegrad.ones(1, requires_grad=True)
    with pytest.raises(ValueError, match="doesn't support per-parameter options"):
        optim.LBFGS([{"params": [a]}, {"params": [b]}])


def test_repr_matches_torch():
    torch = pytest.importorskip("torch")
    for name in NEW + ["LBFGS", "SparseAdam"]:
        ours = getattr(optim, name)([tracegrad.ones(1, requires_grad=True)])
        theirs = getattr(torch.optim, name)([torch.ones(1, requires_grad=True)])
        assert repr(ours) == repr(theirs), name


# ------------------------------------------------------------------------ LBFGS
def _rosenbrock(lib, x):
    return (1 - x[0]) ** 2 + 100 * (x[1] - x[0] ** 2) ** 2 + (x[2] - x[1]) ** 2


def _lbfgs_run(lib, kwargs, dtype, steps=3, start=(-1.2, 1.0, 0.5)):
    x = lib.tensor(np.array(start, dtype=dtype), requires_grad=True)
    opt = lib.optim.LBFGS([x], **kwargs)
    evals = []

    def closure():
        opt.zero_grad()
        loss = _rosenbrock(lib, x)
        loss.backward()
        evals.append(x.detach().numpy().copy())
        return loss

    iterates, losses = [], []
    for _ in range(steps):
        losses.append(float(opt.step(closure).detach()))
        iterates.append(x.detach().numpy().copy())
    return np.array(iterates), np.array(losses), np.array(evals), opt


LBFGS_CASES = [
    {"line_search_fn": "strong_wolfe"},
    {},
    {"lr": 0.1, "max_iter": 7, "history_size": 2},
    {"line_search_fn": "strong_wolfe", "history_size": 3, "max_iter": 10, "max_eval": 12},
    {"line_search_fn": "strong_wolfe", "tolerance_change": 1e-3, "tolerance_grad": 1e-2},
]


@pytest.mark.parametrize("kwargs", slow_after(LBFGS_CASES, 2), ids=str)
@pytest.mark.eager_only  # PyTorch's iterates to 1e-12 through host-side line-search decisions: op-by-op rounding
def test_lbfgs_matches_torch_iterates_float64(kwargs):
    """Every closure evaluation (line-search points included), every step's iterate and loss,
    and the counters agree with torch."""
    torch = pytest.importorskip("torch")
    xs, ls, evals, opt = _lbfgs_run(tracegrad, kwargs, np.float64)
    txs, tls, tevals, topt = _lbfgs_run(torch, kwargs, np.float64)
    assert evals.shape == tevals.shape
    # Rosenbrock's curved valley magnifies float64 rounding differences (PyTorch's fused
    # ``add_(alpha=...)`` against separate ops) to ~1e-9 over 3 steps of up to 20 iterations.
    np.testing.assert_allclose(evals, tevals, rtol=1e-7, atol=1e-9)
    np.testing.assert_allclose(xs, txs, rtol=1e-7, atol=1e-9)
    np.testing.assert_allclose(ls, tls, rtol=1e-7, atol=1e-12)
    sd, tsd = opt.state_dict(), topt.state_dict()
    assert sd["param_groups"] == tsd["param_groups"]
    state, tstate = sd["state"][0], tsd["state"][0]
    assert state.keys() == tstate.keys()
    assert state["func_evals"] == tstate["func_evals"] and state["n_iter"] == tstate["n_iter"]
    assert len(state["old_dirs"]) == len(tstate["old_dirs"])
    for a, b in zip(state["old_dirs"] + state["old_stps"], tstate["old_dirs"] + tstate["old_stps"]):
        np.testing.assert_allclose(a.numpy(), b.numpy(), rtol=1e-6, atol=1e-9)


def test_lbfgs_matches_torch_float32_first_step():
    torch = pytest.importorskip("torch")
    kwargs = {"line_search_fn": "strong_wolfe", "max_iter": 5}
    xs, _, evals, _ = _lbfgs_run(tracegrad, kwargs, np.float32, steps=1)
    txs, _, tevals, _ = _lbfgs_run(torch, kwargs, np.float32, steps=1)
    assert evals.shape == tevals.shape
    np.testing.assert_allclose(evals, tevals, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(xs, txs, rtol=1e-4, atol=1e-5)


def _np_lbfgs(grad, x, lr, max_iter, history_size):
    """The documented L-BFGS (two-loop recursion, fixed step; the first step scaled by
    min(1, 1/|g|_1)) for max_iter iterations of one ``step``; the gradient tests are not
    reached on this problem."""
    g = grad(x)
    dirs, stps, ro = [], [], []
    h_diag, d, t, prev_g = 1.0, None, None, None
    for n in range(1, max_iter + 1):
        if n == 1:
            d = -g
        else:
            y, s = g - prev_g, d * t
            ys = y @ s
            if ys > 1e-10:
                if len(dirs) == history_size:
                    dirs.pop(0), stps.pop(0), ro.pop(0)
                dirs.append(y), stps.append(s), ro.append(1 / ys)
                h_diag = ys / (y @ y)
            q, al = -g, [0.0] * len(dirs)
            for i in reversed(range(len(dirs))):
                al[i] = (stps[i] @ q) * ro[i]
                q = q - al[i] * dirs[i]
            d = r = q * h_diag
            for i in range(len(dirs)):
                r += stps[i] * (al[i] - (dirs[i] @ r) * ro[i])
        prev_g = g
        t = min(1.0, 1.0 / np.abs(g).sum()) * lr if n == 1 else lr
        x = x + t * d
        if n != max_iter:
            g = grad(x)
    return x


def test_lbfgs_matches_numpy_two_loop_recursion():
    rng = np.random.default_rng(0)
    a = rng.standard_normal((5, 3))
    h = a.T @ a + np.eye(3)  # a convex quadratic 0.5 x'Hx - b'x
    b = rng.standard_normal(3)
    x0 = rng.standard_normal(3)
    expected = _np_lbfgs(lambda x: h @ x - b, x0, lr=0.5, max_iter=6, history_size=3)
    x = tracegrad.tensor(x0, requires_grad=True)
    ht, bt = tracegrad.tensor(h), tracegrad.tensor(b)
    opt = optim.LBFGS([x], lr=0.5, max_iter=6, history_size=3)

    def closure():
        opt.zero_grad()
        loss = 0.5 * (x @ (ht @ x)) - bt @ x
        loss.backward()
        return loss

    opt.step(closure)
    np.testing.assert_allclose(x.detach().numpy(), expected, rtol=1e-12, atol=1e-12)
    assert opt.state[x]["n_iter"] == 6 and opt.state[x]["func_evals"] == 6


def test_lbfgs_strong_wolfe_finds_the_minimum_of_rosenbrock():
    xs, _, _, opt = _lbfgs_run(tracegrad, {"line_search_fn": "strong_wolfe"}, np.float64, steps=5)
    np.testing.assert_allclose(xs[-1], [1.0, 1.0, 1.0], atol=1e-5)
    state = opt.state[opt.param_groups[0]["params"][0]]
    assert {"d", "t", "old_dirs", "old_stps", "ro", "H_diag", "prev_flat_grad", "prev_loss", "al",
            "func_evals", "n_iter"} == set(state)  # fmt: skip


def test_lbfgs_state_dict_round_trip():
    _, _, _, opt = _lbfgs_run(tracegrad, {"history_size": 4}, np.float64, steps=1)
    x = tracegrad.tensor(opt.param_groups[0]["params"][0].detach().numpy(), requires_grad=True)
    opt2 = optim.LBFGS([x], history_size=4)
    opt2.load_state_dict(opt.state_dict())
    a, b = opt.state_dict()["state"][0], opt2.state_dict()["state"][0]
    assert a.keys() == b.keys() and a["n_iter"] == b["n_iter"]
    for u, v in zip(a["old_dirs"], b["old_dirs"]):
        np.testing.assert_array_equal(u.numpy(), v.numpy())


def test_lbfgs_inside_compile_runs_eagerly_with_its_closure_compiled():
    """A compiled step reaching LBFGS.step runs eagerly (see test_compile_schedules.py)."""
    x = tracegrad.tensor([1.0, 2.0], requires_grad=True)
    opt = optim.LBFGS([x])

    def closure():
        opt.zero_grad()
        loss = (x * x).sum()
        loss.backward()
        return loss

    step = tracegrad.compile(lambda: opt.step(closure), state=(x, opt))
    step()
    assert abs(x).max().item() < 1e-6
    assert "runs eagerly: LBFGS.step needs host values" in step.explain()


def _convert(value, lib):
    """A state value with its tensors (also inside lists) rebuilt in ``lib``."""
    if isinstance(value, list):
        return [_convert(v, lib) for v in value]
    if hasattr(value, "numpy") and hasattr(value, "shape"):
        return lib.tensor(value.detach().numpy())
    return value


@pytest.mark.parametrize("kwargs", [{"line_search_fn": "strong_wolfe", "history_size": 4}, {}])
def test_lbfgs_state_dicts_move_between_torch_and_tracegrad(kwargs):
    """LBFGS's state (tensors, lists of tensors, floats and counters) converted value by value
    loads in the other library, and the run goes on as the first library's own."""
    torch = pytest.importorskip("torch")
    final, _, _, _ = _lbfgs_run(torch, kwargs, np.float64, steps=3)
    for src, dst in ((torch, tracegrad), (tracegrad, torch)):
        xs, _, _, sopt = _lbfgs_run(src, kwargs, np.float64, steps=1)
        sd = sopt.state_dict()
        sd = {
            "state": {
                k: {n: _convert(v, dst) for n, v in st.items()} for k, st in sd["state"].items()
            },
            "param_groups": sd["param_groups"],
        }
        x = dst.tensor(xs[-1], requires_grad=True)
        opt = dst.optim.LBFGS([x], **kwargs)
        opt.load_state_dict(sd)

        def closure(opt=opt, x=x, lib=dst):
            opt.zero_grad()
            loss = _rosenbrock(lib, x)
            loss.backward()
            return loss

        for _ in range(2):
            opt.step(closure)
        np.testing.assert_allclose(x.detach().numpy(), final[-1], rtol=1e-7, atol=1e-9)


def test_lbfgs_unknown_line_search():
    x = tracegrad.ones(2, requires_grad=True)
    opt = optim.LBFGS([x], line_search_fn="armijo")

    def closure():
        opt.zero_grad()
        loss = (x * x).sum()
        loss.backward()
        return loss

    with pytest.raises(RuntimeError, match="only 'strong_wolfe' is supported"):
        opt.step(closure)


# ------------------------------------------------------------------------ flags
ALL = ["SGD", "Adam", "AdamW", "RMSprop", "Adagrad", "Adadelta", *NEW, "LBFGS", "SparseAdam"]


@pytest.mark.parametrize("name", ALL)
def test_constructor_signature_matches_torch(name):
    """Every optimizer takes PyTorch's arguments (names, order, keyword-only-ness, defaults)."""
    torch = pytest.importorskip("torch")

    def sig(cls):
        params = list(inspect.signature(cls.__init__).parameters.values())[2:]
        return [(p.name, p.kind, p.default) for p in params]

    assert sig(getattr(optim, name)) == sig(getattr(torch.optim, name))


_FLAGS = {
    "SGD": ("foreach", "fused"),
    "Adam": ("foreach", "fused", "capturable"),
    "AdamW": ("foreach", "fused", "capturable"),
    "RMSprop": ("foreach", "capturable"),
    "Adagrad": ("foreach", "fused"),
    "Adadelta": ("foreach", "capturable"),
    "Adamax": ("foreach", "capturable"),
    "NAdam": ("foreach", "capturable"),
    "RAdam": ("foreach", "capturable"),
    "ASGD": ("foreach", "capturable"),
    "Rprop": ("foreach", "capturable"),
    "Adafactor": ("foreach",),
}


@pytest.mark.parametrize("name", list(_FLAGS))
def test_implementation_flags_are_accepted_and_change_nothing(name):
    flag_sets = [{f: True for f in _FLAGS[name] if f != "fused"}]
    if "fused" in _FLAGS[name]:  # PyTorch refuses fused together with foreach
        flag_sets.append({"fused": True, "foreach": False})
    results = []
    for flags in [{}, *flag_sets]:
        p = tracegrad.tensor([1.0, -2.0, 3.0], requires_grad=True)
        opt = getattr(optim, name)([p], lr=0.1, **flags)
        assert all(opt.param_groups[0][k] == v for k, v in flags.items())
        for _ in range(3):
            p.grad = tracegrad.tensor([0.5, 1.0, -1.0])
            opt.step()
        results.append(p.tolist())
    assert all(r == results[0] for r in results)


@pytest.mark.parametrize("name", [n for n in ALL if n not in ("LBFGS", "SparseAdam", "Adafactor")])
def test_differentiable_is_refused(name):
    p = tracegrad.ones(2, requires_grad=True)
    with pytest.raises(NotImplementedError, match="differentiable=True"):
        getattr(optim, name)([p], differentiable=True)
    getattr(optim, name)([p], differentiable=False)


def test_fused_flag_errors_match_torch():
    torch = pytest.importorskip("torch")
    for kwargs in ({"fused": True, "foreach": True}, {"fused": True, "differentiable": True}):
        for name in ("SGD", "Adam", "AdamW", "Adagrad"):
            with pytest.raises(RuntimeError) as theirs:
                getattr(torch.optim, name)([torch.ones(1, requires_grad=True)], **kwargs)
            with pytest.raises(RuntimeError) as ours:
                getattr(optim, name)([tracegrad.ones(1, requires_grad=True)], **kwargs)
            assert str(ours.value) == str(theirs.value)


# ------------------------------------------------------------------------ hooks
def _hook_events(lib):
    """The order in which hooks run, what pre-hooks' results do, for ``lib`` (tracegrad or
    torch)."""
    events = []
    p = lib.ones(2, requires_grad=True)
    opt = lib.optim.SGD([p], lr=0.5)
    mod = importlib.import_module(f"{lib.__name__}.optim.optimizer")
    handles = [
        mod.register_optimizer_step_pre_hook(lambda o, a, k: events.append(("gpre", len(a)))),
        mod.register_optimizer_step_post_hook(lambda o, a, k: events.append(("gpost", k))),
        opt.register_step_pre_hook(lambda o, a, k: events.append(("pre", o is opt))),
        opt.register_step_post_hook(lambda o, a, k: events.append(("post", len(a)))),
    ]

    def closure():
        events.append("closure")
        return 7.0

    def replace(o, args, kwargs):
        events.append("replace")
        return (args[0],), {"closure": closure}

    h = opt.register_step_pre_hook(replace)
    p.grad = lib.ones(2)
    out = opt.step()
    events.append(("out", out))
    h.remove()
    for handle in handles[:2]:
        handle.remove()
    opt.step()
    bad = opt.register_step_pre_hook(lambda o, a, k: 3)
    with pytest.raises(RuntimeError, match="must return None or a tuple of"):
        opt.step()
    bad.remove()

    opt.register_state_dict_pre_hook(lambda o: events.append("sd-pre"))
    opt.register_state_dict_pre_hook(lambda o: events.append("sd-pre-first"), prepend=True)
    opt.register_state_dict_post_hook(lambda o, sd: events.append(("sd-post", sorted(sd))))
    opt.register_state_dict_post_hook(lambda o, sd: {**sd, "extra": 1})
    sd = opt.state_dict()
    events.append(("sd", sorted(sd)))

    def load_pre(o, sd):
        events.append(("load-pre", sorted(sd)))
        sd = dict(sd)
        sd.pop("extra")
        sd["param_groups"] = [{**sd["param_groups"][0], "lr": 0.25}]
        return sd

    opt.register_load_state_dict_pre_hook(load_pre)
    opt.register_load_state_dict_post_hook(
        lambda o: events.append(("load-post", o.param_groups[0]["lr"]))
    )
    opt.load_state_dict(sd)
    events.append(("kept", sorted(sd)))  # the caller's dict is not changed by the pre-hook
    return events, p.detach().numpy()


def test_hooks_order_and_results():
    events, p = _hook_events(tracegrad)
    gpost = events[5]
    assert gpost[0] == "gpost" and list(gpost[1]) == ["closure"]  # the replaced kwargs
    assert events[:5] + events[6:] == [
        ("gpre", 1), ("pre", True), "replace", "closure", ("post", 1), ("out", 7.0),
        ("pre", True), ("post", 1),  # the removed hooks are gone
        ("pre", True),  # the bad pre-hook's result stops the step
        "sd-pre-first", "sd-pre", ("sd-post", ["param_groups", "state"]),
        ("sd", ["extra", "param_groups", "state"]),
        ("load-pre", ["extra", "param_groups", "state"]), ("load-post", 0.25),
        ("kept", ["extra", "param_groups", "state"]),
    ]  # fmt: skip
    np.testing.assert_array_equal(p, [0.0, 0.0])  # stepped twice (the failing third never ran)


def test_hooks_match_torch():
    torch = pytest.importorskip("torch")
    ours, p = _hook_events(tracegrad)
    theirs, tp = _hook_events(torch)
    assert [repr(e) for e in ours if not (isinstance(e, tuple) and e[0] == "gpost")] == [
        repr(e) for e in theirs if not (isinstance(e, tuple) and e[0] == "gpost")
    ]
    np.testing.assert_array_equal(p, tp)


def test_hooks_are_per_class_wrapped_once_and_survive_pickling():
    import copy

    p = tracegrad.ones(1, requires_grad=True)
    opt = optim.Adam([p])
    calls = []
    opt.register_step_post_hook(lambda o, a, k: calls.append(1))
    optim.Adam([tracegrad.ones(1, requires_grad=True)])  # a second instance does not re-wrap
    p.grad = tracegrad.ones(1)
    opt.step()
    assert calls == [1]
    clone = copy.deepcopy(opt)  # hooks are not part of the pickled state, as in PyTorch
    assert len(clone._optimizer_step_post_hooks) == 0
    p2 = clone.param_groups[0]["params"][0]
    p2.grad = tracegrad.ones(1)
    clone.step()
    assert calls == [1]
    assert optimizer_module.register_optimizer_step_pre_hook is (
        optim.optimizer.register_optimizer_step_pre_hook
    )


@pytest.mark.parametrize("name", slow_after(NEW, 2))
def test_tensor_lr_matches_torch(name):
    torch = pytest.importorskip("torch")
    results = []
    for lib in (torch, tracegrad):
        p = lib.tensor(np.arange(6, dtype=np.float32).reshape(2, 3) - 2.5, requires_grad=True)
        opt = getattr(lib.optim, name)([p], lr=lib.tensor(0.05))
        for k in range(3):
            g = np.cos(np.arange(6) * (k + 1)).astype(np.float32).reshape(2, 3)
            p.grad = lib.tensor(g)
            opt.step()
        results.append(p.detach().numpy())
    np.testing.assert_allclose(results[1], results[0], rtol=2e-6, atol=1e-6)
