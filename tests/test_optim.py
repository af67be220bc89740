"""tracegrad.optim: each optimizer's update against a hand-written numpy version of PyTorch's
documented algorithm, and (when torch is installed) against torch.optim itself, from the same
initial parameters and the same sequence of gradients; plus param groups, state dicts, zero_grad
and PyTorch's errors."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import tracegrad
from tracegrad import optim
from tracegrad.tensor import Tensor

from .tiers import slow_after

SHAPES = [(3, 4), (5,), (), (2, 0, 3)]  # group 0: the first two, group 1: the last two
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


def _run(lib, cls_name, kwargs, group1, dtype, steps=STEPS):
    """Build the parameters in ``lib`` (tracegrad or torch), take ``steps`` steps, return the
    final parameter values as numpy arrays and the optimizer."""
    init, grads = _data(dtype)
    ps = [lib.tensor(a.copy(), requires_grad=True) for a in init]
    opt = getattr(lib.optim, cls_name)([{"params": ps[:2]}, {"params": ps[2:], **group1}], **kwargs)
    for gs in grads[:steps]:
        for p, g in zip(ps, gs):
            p.grad = None if g is None else lib.tensor(g)
        opt.step()
    return [p.detach().numpy().copy() for p in ps], opt


CASES = [
    ("SGD", {"lr": 0.1}, {"lr": 0.05}),
    ("SGD", {"lr": 0.1, "momentum": 0.9}, {"momentum": 0.5, "dampening": 0.1}),
    ("SGD", {"lr": 0.1, "momentum": 0.9, "nesterov": True, "weight_decay": 0.01}, {"lr": 0.3}),
    ("SGD", {"lr": 0.05, "momentum": 0.8, "maximize": True, "weight_decay": 0.1}, {}),
    ("Adam", {}, {"lr": 0.01}),
    ("Adam", {"lr": 0.02, "amsgrad": True, "weight_decay": 0.1}, {"betas": (0.8, 0.99)}),
    ("Adam", {"lr": 0.02, "maximize": True, "eps": 1e-3}, {"amsgrad": True}),
    ("Adam", {"lr": 0.02, "betas": (0.0, 0.5)}, {"decoupled_weight_decay": True, "weight_decay": 0.3}),
    ("AdamW", {}, {"lr": 0.01}),
    ("AdamW", {"lr": 0.05, "amsgrad": True, "weight_decay": 0.2}, {"betas": (0.7, 0.9)}),
    ("RMSprop", {}, {"lr": 0.001}),
    ("RMSprop", {"momentum": 0.9, "weight_decay": 0.1}, {"alpha": 0.9}),
    ("RMSprop", {"centered": True, "maximize": True}, {"momentum": 0.5, "centered": False}),
    ("Adagrad", {}, {"lr": 0.1}),
    ("Adagrad", {"lr_decay": 0.1, "initial_accumulator_value": 0.5, "weight_decay": 0.1}, {}),
    ("Adagrad", {"maximize": True, "eps": 1e-3}, {"lr_decay": 0.01}),
    ("Adadelta", {}, {"lr": 0.5}),
    ("Adadelta", {"rho": 0.8, "weight_decay": 0.1, "maximize": True}, {"eps": 1e-4}),
]  # fmt: skip
IDS = [f"{c}-{i}" for i, (c, _, _) in enumerate(CASES)]


# ------------------------------------------------------------------------ numpy references
def _np_sgd(p, g, st, o):
    g = -g if o.get("maximize") else g
    if o.get("weight_decay", 0):
        g = g + o["weight_decay"] * p
    mu = o.get("momentum", 0)
    if mu:
        b = st.get("b")
        b = g.copy() if b is None else mu * b + (1 - o.get("dampening", 0)) * g
        st["b"] = b
        g = g + mu * b if o.get("nesterov") else b
    return p - o["lr"] * g


def _np_adam(p, g, st, o):
    b1, b2 = o.get("betas", (0.9, 0.999))
    lr, wd, eps = o["lr"], o.get("weight_decay", 0), o.get("eps", 1e-8)
    t = st["t"] = st.get("t", 0) + 1
    g = -g if o.get("maximize") else g
    if wd:
        if o.get("decoupled_weight_decay"):
            p = p * (1 - lr * wd)
        else:
            g = g + wd * p
    m = st["m"] = b1 * st.get("m", 0) + (1 - b1) * g
    v = st["v"] = b2 * st.get("v", 0) + (1 - b2) * g * g
    if o.get("amsgrad"):
        v = st["vmax"] = np.maximum(st.get("vmax", 0), v)
    mhat, vhat = m / (1 - b1**t), v / (1 - b2**t)
    return p - lr * mhat / (np.sqrt(vhat) + eps)


def _np_rmsprop(p, g, st, o):
    lr, alpha, eps = o["lr"], o.get("alpha", 0.99), o.get("eps", 1e-8)
    g = -g if o.get("maximize") else g
    if o.get("weight_decay", 0):
        g = g + o["weight_decay"] * p
    v = st["v"] = alpha * st.get("v", 0) + (1 - alpha) * g * g
    if o.get("centered"):
        ga = st["ga"] = alpha * st.get("ga", 0) + (1 - alpha) * g
        v = v - ga * ga
    avg = np.sqrt(v) + eps
    if o.get("momentum", 0):
        b = st["b"] = o["momentum"] * st.get("b", 0) + g / avg
        return p - lr * b
    return p - lr * g / avg


def _np_adagrad(p, g, st, o):
    t = st["t"] = st.get("t", 0) + 1
    g = -g if o.get("maximize") else g
    if o.get("weight_decay", 0):
        g = g + o["weight_decay"] * p
    clr = o["lr"] / (1 + (t - 1) * o.get("lr_decay", 0))
    s = st["s"] = st.get("s", o.get("initial_accumulator_value", 0)) + g * g
    return p - clr * g / (np.sqrt(s) + o.get("eps", 1e-10))


def _np_adadelta(p, g, st, o):
    rho, eps = o.get("rho", 0.9), o.get("eps", 1e-6)
    g = -g if o.get("maximize") else g
    if o.get("weight_decay", 0):
        g = g + o["weight_decay"] * p
    v = st["v"] = rho * st.get("v", 0) + (1 - rho) * g * g
    delta = np.sqrt(st.get("u", 0) + eps) / np.sqrt(v + eps) * g
    st["u"] = rho * st.get("u", 0) + (1 - rho) * delta * delta
    return p - o["lr"] * delta


_DEFAULT_LR = {
    "SGD": 1e-3, "Adam": 1e-3, "AdamW": 1e-3, "RMSprop": 1e-2, "Adagrad": 1e-2, "Adadelta": 1.0,
}  # fmt: skip
_NP_RULES = {
    "SGD": _np_sgd,
    "Adam": _np_adam,
    "AdamW": _np_adam,
    "RMSprop": _np_rmsprop,
    "Adagrad": _np_adagrad,
    "Adadelta": _np_adadelta,
}


def _np_run(cls_name, kwargs, group1):
    init, grads = _data(np.float64)
    base = {"lr": _DEFAULT_LR[cls_name], **kwargs}
    if cls_name == "AdamW":
        base = {"weight_decay": 1e-2, **base, "decoupled_weight_decay": True}
    opts = [base, {**base, **group1}]
    ps, states = list(init), [{} for _ in SHAPES]
    for gs in grads:
        for i, g in enumerate(gs):
            if g is not None:
                ps[i] = _NP_RULES[cls_name](ps[i], g, states[i], opts[i >= 2])
    return ps


@pytest.mark.parametrize("case", slow_after(CASES, 3), ids=IDS)
def test_matches_numpy_reference_float64(case):
    ours, _ = _run(tracegrad, *case, np.float64)
    for a, b in zip(ours, _np_run(*case)):
        np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("case", slow_after(CASES), ids=IDS)
def test_float32_close_to_numpy_reference(case):
    ours, _ = _run(tracegrad, *case, np.float32)
    for a, b in zip(ours, _np_run(*case)):
        assert a.dtype == np.float32
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-5)


# Fast tier: every optimizer in float32; float64 (tighter tolerances) is slow.
@pytest.mark.parametrize("dtype", [np.float32, pytest.param(np.float64, marks=pytest.mark.slow)])
@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_matches_torch(case, dtype):
    torch = pytest.importorskip("torch")
    ours, opt = _run(tracegrad, *case, dtype)
    theirs, topt = _run(torch, *case, dtype)
    # Centered RMSprop takes sqrt(v - ga^2), a cancellation that magnifies rounding differences.
    rtol = 1e-6 if dtype == np.float32 and not case[1].get("centered") else 5e-6
    if dtype == np.float64:
        rtol = 1e-13
    for a, b in zip(ours, theirs):
        np.testing.assert_allclose(a, b, rtol=rtol, atol=rtol)
    # The same state, under the same keys, in the same state_dict layout.
    sd, tsd = opt.state_dict(), topt.state_dict()
    assert sd["param_groups"] == tsd["param_groups"]
    assert sd["state"].keys() == tsd["state"].keys()
    for k in sd["state"]:
        assert sd["state"][k].keys() == tsd["state"][k].keys()
        for name, v in sd["state"][k].items():
            tv = tsd["state"][k][name]
            assert v.dtype.name == str(tv.dtype).removeprefix("torch."), name
            np.testing.assert_allclose(v.numpy(), tv.numpy(), rtol=max(rtol, 1e-5), atol=rtol)


# ------------------------------------------------------------------------ semantics
def test_parameters_are_updated_in_place():
    p = tracegrad.tensor([1.0, 2.0], requires_grad=True)
    opt = optim.SGD([p], lr=0.5)
    p.grad = tracegrad.tensor([1.0, -1.0])
    alias, version = p.detach(), p._version
    opt.step()
    assert opt.param_groups[0]["params"][0] is p
    assert p._version == version + 1
    assert alias.tolist() == [0.5, 2.5]  # the same storage was updated
    assert p.requires_grad and p.is_leaf and p.grad_fn is None


def test_skips_params_without_grad_and_creates_no_state():
    a = tracegrad.tensor([1.0], requires_grad=True)
    b = tracegrad.tensor([2.0], requires_grad=True)
    opt = optim.Adam([a, b], lr=0.1)
    a.grad = tracegrad.tensor([1.0])
    opt.step()
    assert b.tolist() == [2.0] and b not in opt.state
    assert set(opt.state[a]) == {"step", "exp_avg", "exp_avg_sq"}
    assert opt.state[a]["step"].dtype == tracegrad.float32 and opt.state[a]["step"].item() == 1.0


def test_sgd_without_momentum_keeps_no_state():
    p = tracegrad.ones(2, requires_grad=True)
    opt = optim.SGD([p], lr=0.1)
    p.grad = tracegrad.ones(2)
    opt.step()
    assert opt.state_dict()["state"] == {}


def test_sgd_momentum_buffer_starts_as_the_gradient():
    p = tracegrad.zeros(2, requires_grad=True)
    opt = optim.SGD([p], lr=1.0, momentum=0.9, dampening=0.5)
    p.grad = tracegrad.tensor([1.0, 2.0])
    opt.step()
    assert opt.state[p]["momentum_buffer"].tolist() == [1.0, 2.0]  # not (1 - dampening) * g
    assert p.tolist() == [-1.0, -2.0]


def test_closure_runs_with_grad_enabled_and_its_loss_is_returned():
    p = tracegrad.tensor([3.0], requires_grad=True)
    opt = optim.SGD([p], lr=0.1)

    def closure():
        opt.zero_grad()
        loss = (p * p).sum()
        loss.backward()
        return loss

    with tracegrad.no_grad():
        loss = opt.step(closure)
    assert loss.item() == 9.0
    np.testing.assert_allclose(p.tolist(), [3.0 - 0.1 * 6.0], rtol=1e-6)


def test_tensor_lr():
    p = tracegrad.tensor([1.0], requires_grad=True)
    opt = optim.Adam([p], lr=tracegrad.tensor(0.1))
    p.grad = tracegrad.tensor([2.0])
    opt.step()
    np.testing.assert_allclose(p.tolist(), [0.9], rtol=1e-6)
    with pytest.raises(ValueError, match="Tensor lr must be 1-element"):
        optim.SGD([p], lr=tracegrad.tensor([0.1, 0.2]))


def test_zero_grad_set_to_none():
    ps = [tracegrad.ones(2, requires_grad=True), tracegrad.ones(3, requires_grad=True)]
    opt = optim.SGD(ps)
    ps[0].grad = tracegrad.ones(2)
    opt.zero_grad()
    assert ps[0].grad is None and ps[1].grad is None


def test_zero_grad_in_place():
    p = tracegrad.ones(2, requires_grad=True)
    opt = optim.SGD([p])
    (p * 3).sum().backward()
    g = p.grad
    opt.zero_grad(set_to_none=False)
    assert p.grad is g and g.tolist() == [0.0, 0.0] and not g.requires_grad
    (p * 2).sum().backward()  # accumulates into the zeroed tensor
    assert p.grad.tolist() == [2.0, 2.0]


def test_zero_grad_in_place_detaches_a_graph_grad():
    p = tracegrad.ones(2, requires_grad=True)
    opt = optim.SGD([p])
    (p * p).sum().backward(create_graph=True)
    assert p.grad.grad_fn is not None
    opt.zero_grad(set_to_none=False)
    assert p.grad.grad_fn is None and p.grad.tolist() == [0.0, 0.0]


def test_add_param_group_and_defaults():
    a, b = tracegrad.ones(2, requires_grad=True), tracegrad.ones(2, requires_grad=True)
    opt = optim.SGD([a], lr=0.1, momentum=0.9)
    opt.add_param_group({"params": b, "lr": 0.01})
    assert opt.param_groups[1]["params"] == [b]
    assert opt.param_groups[1]["lr"] == 0.01 and opt.param_groups[1]["momentum"] == 0.9
    with pytest.raises(ValueError, match="some parameters appear in more than one parameter group"):
        opt.add_param_group({"params": [a]})
    with pytest.raises(TypeError, match="param_group must be a dict"):
        opt.add_param_group([a])


def test_named_parameters_are_accepted():
    a = tracegrad.ones(2, requires_grad=True)
    opt = optim.SGD([("w", a)], lr=0.1)
    assert opt.param_groups[0]["params"] == [a]
    assert opt.param_groups[0]["param_names"] == ["w"]
    assert opt.state_dict()["param_groups"][0]["param_names"] == ["w"]


def test_errors_match_pytorch():
    p = tracegrad.ones(2, requires_grad=True)
    with pytest.raises(ValueError, match="optimizer got an empty parameter list"):
        optim.SGD([])
    with pytest.raises(ValueError, match="can't optimize a non-leaf Tensor"):
        optim.SGD([p * 2])
    with pytest.raises(ValueError, match=r"^Invalid learning rate: -1$"):
        optim.SGD([p], lr=-1)
    with pytest.raises(ValueError, match="Invalid learning rate: -0.1"):
        optim.Adam([p], lr=-0.1)
    with pytest.raises(ValueError, match="Invalid momentum value: -0.5"):
        optim.SGD([p], momentum=-0.5)
    with pytest.raises(ValueError, match="Invalid weight_decay value: -1"):
        optim.AdamW([p], weight_decay=-1)
    with pytest.raises(ValueError, match="Invalid beta parameter at index 1: 1.0"):
        optim.Adam([p], betas=(0.9, 1.0))
    with pytest.raises(ValueError, match="Invalid epsilon value: -1"):
        optim.RMSprop([p], eps=-1)
    with pytest.raises(ValueError, match="Invalid alpha value: -1"):
        optim.RMSprop([p], alpha=-1)
    with pytest.raises(ValueError, match="Invalid lr_decay value: -1"):
        optim.Adagrad([p], lr_decay=-1)
    with pytest.raises(
        ValueError, match="Nesterov momentum requires a momentum and zero dampening"
    ):
        optim.SGD([p], nesterov=True)
    with pytest.raises(TypeError, match="should be an iterable of Tensors or dicts"):
        optim.SGD(p)
    with pytest.raises(TypeError, match="ordered collections"):
        optim.SGD([{"params": {p}}])
    with pytest.raises(TypeError, match="optimizer can only optimize Tensors"):
        optim.SGD([1.0])
    with pytest.raises(NotImplementedError):
        optim.Optimizer([p], {}).step()


def test_errors_match_torch_messages():
    torch = pytest.importorskip("torch")
    tp = torch.ones(2, requires_grad=True)
    p = tracegrad.ones(2, requires_grad=True)
    for make in [
        lambda lib, q: lib.optim.SGD([], lr=0.1),
        lambda lib, q: lib.optim.SGD([q * 2]),
        lambda lib, q: lib.optim.SGD([q], lr=-1),
        lambda lib, q: lib.optim.Adam([q], betas=(1.5, 0.9)),
        lambda lib, q: lib.optim.Adam([q], betas=(0, 0.9)),
        lambda lib, q: lib.optim.Adagrad([q], initial_accumulator_value=-2),
    ]:
        with pytest.raises(ValueError) as theirs:
            make(torch, tp)
        with pytest.raises(ValueError) as ours:
            make(tracegrad, p)
        assert str(ours.value) == str(theirs.value)


def test_repr_matches_torch():
    torch = pytest.importorskip("torch")
    ours = optim.Adam([tracegrad.ones(1, requires_grad=True)], lr=0.1)
    theirs = torch.optim.Adam([torch.ones(1, requires_grad=True)], lr=0.1)
    assert repr(ours) == repr(theirs)


# ------------------------------------------------------------------------ state dicts
@pytest.mark.parametrize("case", slow_after(CASES, 3), ids=IDS)
@pytest.mark.eager_only  # bitwise equal runs of different programs: lazy mode's fuse, which may round float32 differently
def test_state_dict_round_trip_continues_exactly(case):
    cls_name, kwargs, group1 = case
    straight, _ = _run(tracegrad, cls_name, kwargs, group1, np.float32)

    init, grads = _data(np.float32)
    ps = [tracegrad.tensor(a.copy(), requires_grad=True) for a in init]
    opt = getattr(optim, cls_name)([{"params": ps[:2]}, {"params": ps[2:], **group1}], **kwargs)
    for gs in grads[:3]:
        for p, g in zip(ps, gs):
            p.grad = None if g is None else tracegrad.tensor(g)
        opt.step()
    saved = opt.state_dict()
    # A fresh optimizer over fresh parameters holding the same values, with default options:
    # load_state_dict brings back both the state and the group options.
    ps2 = [tracegrad.tensor(p.detach().numpy(), requires_grad=True) for p in ps]
    opt2 = getattr(optim, cls_name)([{"params": ps2[:2]}, {"params": ps2[2:]}])
    opt2.load_state_dict(saved)
    assert opt2.param_groups[1]["params"] == ps2[2:]
    for gs in grads[3:]:
        for p, g in zip(ps + ps2, gs + gs):
            p.grad = None if g is None else tracegrad.tensor(g)
        opt.step()  # the first optimizer goes on too: the two must not share state
        opt2.step()
    for a, b, c in zip(straight, ps, ps2):
        np.testing.assert_array_equal(a, b.detach().numpy())
        np.testing.assert_array_equal(a, c.detach().numpy())


def test_load_state_dict_casts_to_the_param_dtype_but_keeps_step():
    p64 = tracegrad.ones(3, dtype=tracegrad.float64, requires_grad=True)
    opt64 = optim.Adam([p64])
    p64.grad = tracegrad.ones(3, dtype=tracegrad.float64)
    opt64.step()
    p32 = tracegrad.ones(3, requires_grad=True)
    opt32 = optim.Adam([p32])
    opt32.load_state_dict(opt64.state_dict())
    state = opt32.state[p32]
    assert state["exp_avg"].dtype == tracegrad.float32
    assert state["exp_avg_sq"].dtype == tracegrad.float32
    assert state["step"].dtype == tracegrad.float32
    assert state["exp_avg"] is not opt64.state[p64]["exp_avg"]


def test_load_state_dict_errors():
    a, b = tracegrad.ones(2, requires_grad=True), tracegrad.ones(2, requires_grad=True)
    sd = optim.SGD([a, b], momentum=0.9).state_dict()
    with pytest.raises(ValueError, match="different number of parameter groups"):
        optim.SGD([{"params": [a]}, {"params": [b]}]).load_state_dict(sd)
    with pytest.raises(ValueError, match="doesn't match the size of optimizer's group"):
        optim.SGD([a]).load_state_dict(sd)


def test_load_state_dict_of_old_python_step():
    p = tracegrad.ones(2, requires_grad=True)
    opt = optim.Adam([p])
    p.grad = tracegrad.ones(2)
    opt.step()
    sd = opt.state_dict()
    sd["state"][0]["step"] = 1  # older checkpoints kept a Python number
    opt.load_state_dict(sd)
    assert isinstance(opt.state[p]["step"], Tensor)
    opt.step()
    assert opt.state[p]["step"].item() == 2.0


@pytest.mark.parametrize("case", [CASES[2], CASES[5], CASES[11], CASES[14]], ids=str)
def test_loads_a_torch_optimizer_state(case):
    """A torch optimizer's state_dict (torch tensors) loads into tracegrad, and the run goes on
    exactly as torch's own."""
    torch = pytest.importorskip("torch")
    cls_name, kwargs, group1 = case
    theirs, _ = _run(torch, cls_name, kwargs, group1, np.float32)
    mid, topt = _run(torch, cls_name, kwargs, group1, np.float32, steps=3)
    init, grads = _data(np.float32)
    ps = [tracegrad.tensor(a, requires_grad=True) for a in mid]
    opt = getattr(optim, cls_name)([{"params": ps[:2]}, {"params": ps[2:]}])
    opt.load_state_dict(topt.state_dict())
    for gs in grads[3:]:
        for p, g in zip(ps, gs):
            p.grad = None if g is None else tracegrad.tensor(g)
        opt.step()
    for a, b in zip(ps, theirs):
        np.testing.assert_allclose(a.detach().numpy(), b, rtol=1e-6, atol=1e-6)


# ------------------------------------------------------------------------ compilable steps
@pytest.mark.parametrize("case", [CASES[2], CASES[5], CASES[9], CASES[12], CASES[14]], ids=str)
def test_step_traces_under_jit(case):
    """The whole step runs on traced arrays (no .item(), no branching on values): tracing it with
    jax.jit gives the eager result."""
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


def test_trains_a_small_problem():
    tracegrad.manual_seed(0)
    x = tracegrad.randn(64, 3)
    y = x @ tracegrad.tensor([[1.0], [-2.0], [0.5]]) + 0.3
    for cls, kw in [(optim.SGD, {"lr": 0.2, "momentum": 0.5}), (optim.Adam, {"lr": 0.1})]:
        w = tracegrad.zeros(3, 1, requires_grad=True)
        b = tracegrad.zeros(1, requires_grad=True)
        opt = cls([w, b], **kw)
        for _ in range(120):
            opt.zero_grad()
            loss = ((x @ w + b - y) ** 2).mean()
            loss.backward()
            opt.step()
        assert loss.item() < 1e-3, cls.__name__


@pytest.mark.parametrize(
    "make",
    [lambda ps: optim.SGD(ps, lr=0.1, momentum=0.9), lambda ps: optim.AdamW(ps, lr=1e-3)],
    ids=["sgd", "adamw"],
)
def test_eager_steps_compile_nothing_new_after_the_second(make):
    """An update keeps its parameters' placement (committed to a device or not, part of jit's
    signature), so the forward ops of step 2 meet the signatures step 1 compiled: the programs
    step 2 adds are the recorded backward (compiled at its second run) and, for SGD, the update
    with a momentum buffer (the first step has none); step 3 adds none."""
    from jax import monitoring

    compiles = []
    monitoring.register_event_duration_secs_listener(
        lambda event, _s, **_k: (
            compiles.append(event)
            if event == "/jax/core/compile/backend_compile_duration"
            else None
        )
    )
    tracegrad.manual_seed(0)
    model = tracegrad.nn.Sequential(
        tracegrad.nn.Linear(7, 13), tracegrad.nn.Tanh(), tracegrad.nn.Linear(13, 3)
    )
    opt = make(model.parameters())
    x, y = tracegrad.randn(5, 7), tracegrad.randn(5, 3)
    placement = [p._storage.array.committed for p in model.parameters()]
    counts = []
    for _ in range(3):
        before = len(compiles)
        opt.zero_grad()
        tracegrad.nn.functional.mse_loss(model(x), y).backward()
        opt.step()
        counts.append(len(compiles) - before)
    assert [p._storage.array.committed for p in model.parameters()] == placement
    assert counts[1] <= 2 and counts[2] == 0, counts
