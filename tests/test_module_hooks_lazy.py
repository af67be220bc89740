"""nn.Module's full backward hooks, state-dict hooks, extra state, ``to_empty`` and
``set_submodule``; ``UninitializedParameter`` and the ``Lazy*`` modules. Checked against
PyTorch's documented behaviour, and against PyTorch itself when it is installed."""

from __future__ import annotations

import warnings
from collections import OrderedDict

import numpy as np
import pytest

import tracegrad as tg
from tracegrad import nn

from .tiers import slow_after


def _np(t):
    if t is None:
        return None
    return np.asarray(t.detach().numpy()).tolist()


class _Two:
    """A module of two tensor inputs (and a float between them) and three outputs."""

    @staticmethod
    def build(lib):
        class Two(lib.nn.Module):
            def forward(self, a, s, b):
                return a * b * s, (a + b).sum(), 3

        return Two()


def _hook_log(lib):
    log = []
    m = _Two.build(lib)

    def pre(mod, go):
        log.append(("pre", [_np(g) for g in go]))
        return (go[0] * 2, go[1], go[2])

    def hook(mod, gi, go):
        log.append(("hook", [_np(g) for g in gi], [_np(g) for g in go]))
        return (gi[0] + 1, gi[1], gi[2])

    def hook2(mod, gi, go):
        log.append(("hook2", [_np(g) for g in gi]))

    m.register_full_backward_pre_hook(pre)
    m.register_full_backward_hook(hook2)
    m.register_full_backward_hook(hook, prepend=True)
    a = lib.tensor([1.0, 2.0], requires_grad=True)
    b = lib.tensor([3.0, 4.0], requires_grad=True)
    y, z, _ = m(a, 2.0, b)
    (y.sum() + z).backward()
    log.append(("grads", a.grad.tolist(), b.grad.tolist()))

    # an unused output has grad_output None; an input tensor without grad gets zeros
    m2 = _Two.build(lib)
    m2.register_full_backward_hook(hook)
    a = lib.tensor([1.0, 2.0], requires_grad=True)
    y, z, _ = m2(a, 2.0, lib.tensor([3.0, 4.0]))
    y.sum().backward()
    log.append(("grads2", a.grad.tolist()))
    return log


def test_full_backward_hooks_values_and_replacement():
    log = _hook_log(tg)
    assert log == [
        ("pre", [[1.0, 1.0], 1.0, None]),
        ("hook", [[13.0, 17.0], None, [5.0, 9.0]], [[2.0, 2.0], 1.0, None]),
        ("hook2", [[14.0, 18.0], None, [5.0, 9.0]]),
        ("grads", [14.0, 18.0], [5.0, 9.0]),
        ("hook", [[6.0, 8.0], None, [0.0, 0.0]], [[1.0, 1.0], None, None]),
        ("grads2", [7.0, 9.0]),
    ]


def test_full_backward_hooks_match_torch():
    torch = pytest.importorskip("torch")
    assert _hook_log(tg) == _hook_log(torch)


def test_full_backward_hook_on_layers_in_a_model_order_and_values():
    torch = pytest.importorskip("torch")

    torch.manual_seed(0)
    weights = {k: v.numpy() for k, v in torch.nn.Linear(3, 4).state_dict().items()}
    weights.update({"2." + k: v.numpy() for k, v in torch.nn.Linear(4, 2).state_dict().items()})
    weights = {(k if "." in k else "0." + k): v for k, v in weights.items()}

    def run(lib):
        net = lib.nn.Sequential(lib.nn.Linear(3, 4), lib.nn.Tanh(), lib.nn.Linear(4, 2))
        net.load_state_dict({k: lib.tensor(v) for k, v in weights.items()})
        log = []
        for name, m in net.named_modules():
            m.register_full_backward_pre_hook(lambda mod, go, n=name: log.append(("pre", n)))
            m.register_full_backward_hook(
                lambda mod, gi, go, n=name: log.append(
                    (n, [_np(g) for g in gi], [_np(g) for g in go])
                )
            )
        x = lib.tensor(np.arange(6.0, dtype=np.float32).reshape(2, 3) / 5, requires_grad=True)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            net(x).pow(2).sum().backward()
        return log, x.grad.tolist()

    ours, theirs = run(tg), run(torch)
    # the same hooks fire in the same order
    assert [e[0] for e in ours[0]] == [e[0] for e in theirs[0]]
    for a, b in zip(ours[0], theirs[0]):
        if a[0] != "pre":
            for x, y in zip(a[1] + a[2], b[1] + b[2]):
                np.testing.assert_allclose(x, y, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(ours[1], theirs[1], rtol=1e-5, atol=1e-6)


def test_full_backward_hook_without_input_grad_warns_and_fires():
    lin = nn.Linear(2, 1)
    seen = []
    lin.register_full_backward_hook(lambda m, gi, go: seen.append((gi, go[0].shape)))
    with pytest.warns(UserWarning, match="Full backward hook is firing when gradients"):
        lin(tg.ones(3, 2)).sum().backward()
    assert seen == [((None,), (3, 1))]
    lin.register_full_backward_hook(lambda m, gi, go: (tg.ones(3, 2),))
    with pytest.raises(RuntimeError, match="should always return None or None for all"):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            lin(tg.ones(3, 2)).sum().backward()


def test_full_backward_hook_errors_and_removal():
    m = nn.Tanh()
    h = m.register_full_backward_hook(lambda mod, gi, go: (gi[0], gi[0]))
    x = tg.ones(2, requires_grad=True)
    with pytest.raises(RuntimeError, match="invalid number of grad_input, got 2, but expected 1"):
        m(x).sum().backward()
    h.remove()
    p = m.register_full_backward_pre_hook(lambda mod, go: ())
    with pytest.raises(RuntimeError, match="invalid number of grad_output, got 0, but expected 1"):
        m(x).sum().backward()
    p.remove()
    assert not m._backward_hooks and not m._backward_pre_hooks
    m = nn.Tanh()
    m.register_backward_hook(lambda *a: None)  # the deprecated non-full hook
    with pytest.raises(RuntimeError, match="Cannot use both regular backward hooks and full"):
        m.register_full_backward_hook(lambda *a: None)


def test_non_tensor_output_warns():
    class D(nn.Module):
        def forward(self, x):
            return {"y": x * 2}

    d = D()
    d.register_full_backward_hook(lambda *a: None)
    with pytest.warns(UserWarning, match="module output should be a Tensor or a tuple"):
        d(tg.ones(2, requires_grad=True))


def test_global_full_backward_hooks():
    from tracegrad.nn.modules.module import (
        register_module_full_backward_hook,
        register_module_full_backward_pre_hook,
    )

    order = []
    m = nn.Tanh()
    m.register_full_backward_hook(lambda *a: order.append("local"))
    h1 = register_module_full_backward_hook(lambda *a: order.append("global"))
    h2 = register_module_full_backward_pre_hook(lambda *a: order.append("global pre"))
    try:
        m(tg.ones(2, requires_grad=True)).sum().backward()
    finally:
        h1.remove()
        h2.remove()
    assert order == ["global pre", "global", "local"]


# ------------------------------------------------------------------------- state-dict hooks
class _Extra(nn.Module):
    def __init__(self):
        super().__init__()
        self.lin = nn.Linear(2, 2)
        self.step = 0

    def get_extra_state(self):
        return {"step": self.step}

    def set_extra_state(self, state):
        self.step = state["step"]


def test_extra_state_round_trip_and_keys():
    m = _Extra()
    m.step = 7
    sd = m.state_dict()
    assert list(sd) == ["_extra_state", "lin.weight", "lin.bias"]
    assert sd["_extra_state"] == {"step": 7}
    n = _Extra()
    n.load_state_dict(sd)
    assert n.step == 7
    del sd["_extra_state"]
    with pytest.raises(RuntimeError, match='Missing key\\(s\\) in state_dict: "_extra_state"'):
        n.load_state_dict(sd)
    r = nn.Linear(2, 2).load_state_dict(
        {"weight": tg.ones(2, 2), "bias": tg.ones(2), "_extra_state": 1}, strict=False
    )
    assert r.unexpected_keys == []


def test_extra_state_keys_match_torch():
    torch = pytest.importorskip("torch")

    class TExtra(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.lin = torch.nn.Linear(2, 2)

        def get_extra_state(self):
            return 1

        def set_extra_state(self, s):
            pass

    outer_t = torch.nn.Sequential(TExtra())
    outer_g = nn.Sequential(_Extra())
    assert list(outer_g.state_dict()) == list(outer_t.state_dict())


def test_state_dict_hooks_order_and_arguments():
    def run(lib):
        log = []
        net = lib.nn.Sequential(lib.nn.Linear(2, 2), lib.nn.Sequential(lib.nn.Linear(2, 1)))
        for name, m in net.named_modules():
            m.register_state_dict_pre_hook(lambda mod, p, kv, n=name: log.append(("pre", n, p)))
            m.register_state_dict_post_hook(
                lambda mod, sd, p, meta, n=name: log.append(("post", n, p, len(sd)))
            )
            m.register_load_state_dict_pre_hook(
                lambda mod, sd, p, meta, strict, mk, uk, em, n=name: log.append(
                    ("load pre", n, p, strict)
                )
            )
            m.register_load_state_dict_post_hook(
                lambda mod, keys, n=name: log.append(
                    ("load post", n, list(keys.missing_keys), list(keys.unexpected_keys))
                )
            )
        sd = net.state_dict()
        net.load_state_dict(sd)
        return log

    log = run(tg)
    assert log[:2] == [("pre", "", ""), ("pre", "0", "0.")]
    assert ("post", "", "", 4) in log
    assert [e[1] for e in log if e[0] == "load post"] == ["0", "1.0", "1", ""]
    torch = pytest.importorskip("torch")
    assert log == run(torch)


def test_state_dict_post_hook_edits_in_place_and_must_return_none():
    m = nn.Linear(2, 1)
    h = m.register_state_dict_post_hook(lambda mod, sd, p, meta: sd.pop(p + "bias"))
    with pytest.raises(RuntimeError, match="state_dict post-hook must return None"):
        m.state_dict()
    h.remove()
    m.register_state_dict_post_hook(lambda mod, sd, p, meta: sd.__setitem__("extra", 1) and None)
    assert list(m.state_dict()) == ["weight", "bias", "extra"]


def test_load_state_dict_pre_hook_upgrades_and_post_hook_clears_keys():
    m = nn.Linear(2, 1)

    def rename(mod, sd, prefix, meta, strict, mk, uk, em):
        if prefix + "w" in sd:
            sd[prefix + "weight"] = sd.pop(prefix + "w")

    m.register_load_state_dict_pre_hook(rename)
    m.load_state_dict({"w": tg.full((1, 2), 3.0), "bias": tg.zeros(1)})
    assert m.weight.tolist() == [[3.0, 3.0]]

    def forgive(mod, keys):
        keys.unexpected_keys.clear()

    m.register_load_state_dict_post_hook(forgive)
    m.load_state_dict({"weight": tg.full((1, 2), 4.0), "bias": tg.zeros(1), "junk": tg.ones(1)})
    assert m.weight.tolist() == [[4.0, 4.0]]

    # a strict failure after the post hooks leaves the module unchanged
    n = nn.Linear(2, 1)
    n.register_load_state_dict_post_hook(lambda mod, keys: None)
    before = n.weight.tolist()
    with pytest.raises(RuntimeError, match="Unexpected key"):
        n.load_state_dict({"weight": tg.ones(1, 2), "bias": tg.ones(1), "junk": tg.ones(1)})
    assert n.weight.tolist() == before
    n.register_load_state_dict_post_hook(lambda mod, keys: keys)
    with pytest.raises(AssertionError, match="not expected to return new values"):
        n.load_state_dict({"weight": tg.ones(1, 2), "bias": tg.ones(1)})
    assert n.weight.tolist() == before


# --------------------------------------------------------------- to_empty and set_submodule
def test_to_empty_keeps_shapes_dtypes_and_parameters():
    m = nn.Sequential(nn.Linear(3, 2), nn.BatchNorm1d(2))
    params = list(m.parameters())
    assert m.to_empty(device="cpu") is m
    assert list(m.parameters()) == params
    assert [tuple(p.shape) for p in m.parameters()] == [(2, 3), (2,), (2,), (2,)]
    assert m[1].num_batches_tracked.dtype == tg.int64
    m[0].to_empty(device=None, recurse=False)
    with pytest.raises(TypeError):
        m.to_empty("cpu")


def test_set_submodule():
    m = nn.Sequential(OrderedDict(a=nn.Sequential(OrderedDict(b=nn.Linear(1, 1)))))
    new = nn.ReLU()
    m.set_submodule("a.b", new)
    assert m.a.b is new
    m.set_submodule("a.c", nn.Tanh())
    assert isinstance(m.get_submodule("a.c"), nn.Tanh)
    with pytest.raises(AttributeError, match="has no attribute `d`"):
        m.set_submodule("a.d", nn.Tanh(), strict=True)
    with pytest.raises(ValueError, match="Cannot set the submodule without a target name!"):
        m.set_submodule("", nn.Tanh())
    with pytest.raises(ValueError, match="`module` is not an nn.Module"):
        m.set_submodule("a.b", 3)
    m.a.flag = 1
    with pytest.raises(AttributeError, match="`flag` is not an nn.Module"):
        m.set_submodule("a.flag", nn.Tanh())
    with pytest.raises(AttributeError, match="has no attribute `x`"):
        m.set_submodule("x.y", nn.Tanh())


def test_set_submodule_errors_match_torch():
    torch = pytest.importorskip("torch")
    for lib in (torch, tg):
        m = lib.nn.Sequential(lib.nn.Linear(1, 1))
        with pytest.raises(AttributeError) as e:
            m.set_submodule("q", lib.nn.Tanh(), strict=True)
        assert str(e.value) == "Sequential has no attribute `q`"


# ------------------------------------------------------------------ uninitialised parameters
def test_uninitialized_parameter_and_buffer():
    from tracegrad.nn.parameter import is_lazy

    p = nn.UninitializedParameter(dtype=tg.float64)
    assert isinstance(p, nn.Parameter) and is_lazy(p) and p.requires_grad
    assert repr(p) == "<UninitializedParameter>"
    with pytest.raises(RuntimeError, match="Can't access the shape of an uninitialized"):
        p.shape  # noqa: B018
    with pytest.raises(ValueError, match="Attempted to use an uninitialized parameter in"):
        p + 1
    with pytest.raises(ValueError, match="uninitialized parameter"):
        tg.ones(2) @ p
    p.materialize((2, 3))
    assert type(p) is nn.Parameter and p.shape == (2, 3) and p.dtype == tg.float64
    assert not is_lazy(p)

    b = nn.UninitializedBuffer()
    assert not b.requires_grad and nn.UninitializedBuffer.cls_to_become is tg.Tensor
    b.materialize(4, dtype=tg.float16)
    assert type(b) is tg.Tensor and b.shape == (4,) and b.dtype == tg.float16


def test_uninitialized_parameter_errors_match_torch():
    torch = pytest.importorskip("torch")
    for lib in (torch, tg):
        p = lib.nn.UninitializedParameter()
        assert repr(p) == "<UninitializedParameter>"
        with pytest.raises(RuntimeError, match="Can't access the shape"):
            p.shape  # noqa: B018
        with pytest.raises(ValueError, match="Attempted to use an uninitialized parameter in"):
            p + 1
        assert lib.nn.UninitializedParameter.cls_to_become is lib.nn.Parameter


# ------------------------------------------------------------------------------ lazy modules
_LAZY = [
    ("LazyLinear", (3,), {}, (4, 5)),
    ("LazyConv1d", (4, 3), {"padding": 1}, (2, 3, 8)),
    ("LazyConv2d", (4, 3), {"stride": 2}, (2, 3, 8, 8)),
    ("LazyConv3d", (4, 2), {}, (2, 3, 4, 4, 4)),
    ("LazyConv2d", (4, 3), {"groups": 2, "bias": False}, (4, 8, 8)),
    ("LazyConvTranspose1d", (4, 3), {}, (2, 3, 8)),
    ("LazyConvTranspose2d", (4, 3), {"stride": 2, "output_padding": 1}, (2, 3, 5, 5)),
    ("LazyConvTranspose3d", (4, 2), {}, (2, 3, 3, 3, 3)),
    ("LazyBatchNorm1d", (), {}, (4, 3)),
    ("LazyBatchNorm2d", (), {"affine": False}, (2, 3, 4, 4)),
    ("LazyBatchNorm3d", (), {}, (2, 3, 2, 2, 2)),
    ("LazyInstanceNorm1d", (), {}, (2, 3, 5)),
    ("LazyInstanceNorm2d", (), {"track_running_stats": False}, (2, 3, 4, 4)),
    ("LazyInstanceNorm3d", (), {"affine": False}, (2, 3, 2, 2, 2)),
]


@pytest.mark.parametrize(("name", "args", "kwargs", "shape"), slow_after(_LAZY, 3, multi=True))
def test_lazy_module_infers_and_becomes_the_layer(name, args, kwargs, shape):
    m = getattr(nn, name)(*args, **kwargs)
    assert m.has_uninitialized_params() == (
        any(True for _ in m._parameters.values()) or bool(m._buffers)
    )
    base = getattr(nn, name.replace("Lazy", ""))
    x = tg.randn(*shape)
    y = m(x)
    assert type(m) is base
    assert not any(type(p).__name__.startswith("Uninit") for p in m.parameters())
    assert not hasattr(m, "_initialize_hook")
    # an optimizer made now trains the materialised parameters
    params = list(m.parameters())
    if params:
        opt = tg.optim.SGD(params, lr=0.1)
        before = [p.detach().clone() for p in params]
        m(x).pow(2).sum().backward()
        opt.step()
        assert any(not tg.equal(a, p.detach()) for a, p in zip(before, params))
    assert y.shape == m(x).shape


@pytest.mark.parametrize(("name", "args", "kwargs", "shape"), slow_after(_LAZY, 3, multi=True))
def test_lazy_module_matches_torch(name, args, kwargs, shape):
    torch = pytest.importorskip("torch")
    t = getattr(torch.nn, name)(*args, **kwargs)
    g = getattr(nn, name)(*args, **kwargs)
    assert repr(g) == repr(t)
    base = name.replace("Lazy", "")
    assert isinstance(g, getattr(nn, base)) == isinstance(t, getattr(torch.nn, base))
    x = np.random.default_rng(0).standard_normal(shape).astype(np.float32)
    ty = t(torch.tensor(x))
    g(tg.tensor(x))
    assert repr(g) == repr(t) and type(g).__name__ == type(t).__name__
    sd = t.state_dict()
    assert list(g.state_dict()) == list(sd)
    g.load_state_dict({k: tg.tensor(v.numpy()) for k, v in sd.items()})
    gy = g(tg.tensor(x))
    ty = t(torch.tensor(x))
    np.testing.assert_allclose(gy.detach().numpy(), ty.detach().numpy(), rtol=1e-4, atol=1e-5)


def test_load_state_dict_into_uninitialized_lazy_module():
    src = nn.Sequential(nn.Linear(5, 3), nn.BatchNorm1d(3))
    src(tg.randn(4, 5))
    lazy = nn.Sequential(nn.LazyLinear(3), nn.LazyBatchNorm1d())
    lazy.load_state_dict(src.state_dict())
    assert lazy[0].weight.shape == (3, 5) and type(lazy[0].weight) is nn.Parameter
    assert tg.equal(lazy[0].weight, src[0].weight)
    assert tg.equal(lazy[1].running_var, src[1].running_var)
    # still lazy until called: the first call keeps the loaded values
    assert type(lazy[0]).__name__ == "LazyLinear"
    lazy.eval(), src.eval()
    x = tg.randn(2, 5)
    assert tg.allclose(lazy(x), src(x))
    assert type(lazy[0]) is nn.Linear


def test_failed_load_leaves_lazy_module_uninitialized():
    lazy = nn.LazyLinear(3)
    with pytest.raises(RuntimeError, match='Unexpected key\\(s\\) in state_dict: "junk"'):
        lazy.load_state_dict({"weight": tg.ones(3, 5), "bias": tg.ones(3), "junk": tg.ones(1)})
    assert lazy.has_uninitialized_params()
    assert type(lazy.weight) is nn.UninitializedParameter


def test_lazy_state_dict_round_trip_uninitialized():
    a, b = nn.LazyLinear(2), nn.LazyLinear(2)
    sd = a.state_dict()
    assert all(type(v) is nn.UninitializedParameter for v in sd.values())
    b.load_state_dict(sd)
    assert b.has_uninitialized_params()
    with pytest.raises(RuntimeError, match="Can't access the shape"):
        nn.Linear(2, 2).load_state_dict(sd)


def test_lazy_errors():
    c = nn.LazyConv2d(4, 3)
    with pytest.raises(RuntimeError, match="Expected 3D \\(unbatched\\) or 4D \\(batched\\) input"):
        c(tg.ones(2, 3, 4, 4, 4))
    g = nn.LazyConv2d(4, 3, groups=2)
    with pytest.raises(ValueError, match="in_channels must be divisible by groups"):
        g(tg.ones(1, 3, 5, 5))

    class Half(nn.modules.lazy.LazyModuleMixin, nn.Module):
        def __init__(self):
            super().__init__()
            self.w = nn.UninitializedParameter()

        def initialize_parameters(self, x):
            pass

        def forward(self, x):
            return x

    with pytest.raises(RuntimeError, match="module Half has not been fully initialized"):
        Half()(tg.ones(1))

    class NoInit(nn.modules.lazy.LazyModuleMixin, nn.Module):
        def forward(self, x):
            return x

    with pytest.raises(NotImplementedError, match="initialize_parameters is not implemented"):
        NoInit()(tg.ones(1))


def test_lazy_model_trains_under_compile():
    tg.manual_seed(0)
    model = nn.Sequential(nn.LazyConv1d(4, 3), nn.ReLU(), nn.Flatten(), nn.LazyLinear(1))
    x, y = tg.randn(8, 2, 6), tg.randn(8, 1)
    model(x)  # the first call is eager: it initialises the parameters
    ref = copy_model(model)
    opt = tg.optim.SGD(model.parameters(), lr=0.1)
    ref_opt = tg.optim.SGD(ref.parameters(), lr=0.1)

    def step(m, o):
        o.zero_grad()
        loss = ((m(x) - y) ** 2).mean()
        loss.backward()
        o.step()
        return loss

    compiled = tg.compile(lambda: step(model, opt))
    losses = [compiled().item() for _ in range(3)]
    eager = [step(ref, ref_opt).item() for _ in range(3)]
    np.testing.assert_allclose(losses, eager, rtol=1e-5, atol=1e-6)
    assert losses[2] < losses[0]


def copy_model(model):
    import copy

    return copy.deepcopy(model)


def test_full_backward_hook_gradient_replacement_is_compiled():
    model = nn.Sequential(nn.Linear(3, 4), nn.Tanh(), nn.Linear(4, 1))
    calls = []

    def cut(m, gi, go):
        calls.append(1)
        return (gi[0] * 0,)

    model[1].register_full_backward_hook(cut)
    x, y = tg.randn(8, 3), tg.randn(8, 1)

    @tg.compile
    def step(x, y):
        loss = ((model(x) - y) ** 2).mean()
        loss.backward()
        return loss

    for _ in range(3):
        model.zero_grad()
        step(x, y)
        # the hook's replaced gradient is part of the program: nothing reaches the first layer
        assert model[0].weight.grad.abs().sum().item() == 0.0
        assert model[2].weight.grad.abs().sum().item() > 0.0
    assert len(calls) >= 1  # Python side effects happen when the step is traced


def _identity_and_mixed_log(lib):
    log = []
    idm = lib.nn.Identity()
    idm.register_full_backward_hook(
        lambda m, gi, go: log.append(("id", gi[0].tolist(), go[0].tolist()))
    )
    x = lib.tensor([1.0, 2.0], requires_grad=True)
    y = idm(x)
    (y * 3).sum().backward(retain_graph=True)
    (y * 2).sum().backward()
    log.append(x.grad.tolist())

    class Mixed(lib.nn.Module):
        def forward(self, a, b):
            return a * 2, b.double() * 3

    mm = Mixed()
    mm.register_full_backward_hook(
        lambda m, gi, go: log.append(
            ("mixed", [str(g.dtype)[-7:] for g in gi], [str(g.dtype)[-7:] for g in go])
        )
    )
    a = lib.tensor([1.0, 2.0], requires_grad=True)
    b = lib.tensor([1.0], requires_grad=True)
    p, q = mm(a, b)
    (p.sum() + q.sum()).backward()
    log.append((a.grad.tolist(), b.grad.tolist()))
    return log


def test_full_backward_hook_identity_retain_graph_and_mixed_dtypes():
    log = _identity_and_mixed_log(tg)
    assert log == [
        ("id", [3.0, 3.0], [3.0, 3.0]),
        ("id", [2.0, 2.0], [2.0, 2.0]),
        [5.0, 5.0],
        ("mixed", ["float32", "float32"], ["float32", "float64"]),
        ([2.0, 2.0], [3.0]),
    ]
    torch = pytest.importorskip("torch")
    assert log == _identity_and_mixed_log(torch)


def test_lazy_module_dtype_conversion_copy_and_pickle():
    import copy
    import pickle

    m = nn.LazyLinear(3).double()
    assert m.weight.dtype == tg.float64 and type(m.weight) is nn.UninitializedParameter
    for mm in (m, copy.deepcopy(m), pickle.loads(pickle.dumps(m))):
        y = mm(tg.ones(2, 4, dtype=tg.float64))
        assert type(mm) is nn.Linear and mm.weight.shape == (3, 4)
        assert mm.weight.dtype == tg.float64 and y.dtype == tg.float64
    b = nn.LazyBatchNorm2d().half()
    assert b.running_mean.dtype == tg.float16


def test_load_state_dict_undoes_copies_when_a_hook_raises():
    net = nn.Sequential(nn.Linear(2, 2), nn.Linear(2, 2))
    before = [p.tolist() for p in net.parameters()]

    def boom(*args):
        raise KeyError("boom")

    net[1].register_load_state_dict_pre_hook(boom)
    sd = {k: tg.zeros_like(v) for k, v in net.state_dict().items()}
    with pytest.raises(KeyError, match="boom"):
        net.load_state_dict(sd)
    assert [p.tolist() for p in net.parameters()] == before
