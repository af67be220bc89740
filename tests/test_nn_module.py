"""nn.Module: registration, traversal, state_dict / load_state_dict, modes, conversion, hooks,
repr and containers, checked against PyTorch's conventions (and PyTorch itself when installed)."""

from __future__ import annotations

import copy
import pickle
from collections import OrderedDict

import numpy as np
import pytest

import tracegrad as tg
from tracegrad import nn


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc1 = nn.Linear(4, 3)
        self.act = nn.ReLU()
        self.scale = nn.Parameter(tg.ones(3))
        self.register_buffer("running", tg.zeros(3))
        self.register_buffer("scratch", tg.zeros(2), persistent=False)
        self.register_buffer("absent", None)
        self.head = nn.Sequential(nn.Linear(3, 2), nn.Tanh())

    def forward(self, x):
        return self.head(self.act(self.fc1(x)) * self.scale)


# ------------------------------------------------------------------------------- registration
def test_registration_and_order():
    m = Net()
    assert [n for n, _ in m.named_parameters()] == [
        "scale",
        "fc1.weight",
        "fc1.bias",
        "head.0.weight",
        "head.0.bias",
    ]
    assert [n for n, _ in m.named_buffers()] == ["running", "scratch"]
    assert [n for n, _ in m.named_children()] == ["fc1", "act", "head"]
    assert [n for n, _ in m.named_modules()] == ["", "fc1", "act", "head", "head.0", "head.1"]
    assert [n for n, _ in m.named_parameters(recurse=False)] == ["scale"]
    assert [n for n, _ in m.named_parameters(prefix="model")][0] == "model.scale"
    assert all(isinstance(p, nn.Parameter) for p in m.parameters())
    assert isinstance(m.scale, tg.Tensor)
    assert m.absent is None
    assert "fc1" in dir(m) and "scale" in dir(m)


def test_setattr_moves_between_kinds_and_delattr():
    m = nn.Module()
    m.x = nn.Parameter(tg.ones(2))
    assert "x" in m._parameters
    m.x = None  # None keeps it a (missing) parameter
    assert m._parameters["x"] is None and list(m.parameters()) == []
    with pytest.raises(TypeError, match="cannot assign 'tracegrad.Tensor' as parameter 'x'"):
        m.x = tg.ones(2)
    del m.x
    m.x = nn.Linear(1, 1)
    assert "x" in m._modules
    m.register_buffer("b", tg.zeros(1))
    m.b = tg.ones(1)  # assigning a tensor to a buffer name updates the buffer
    assert m._buffers["b"].tolist() == [1.0]
    m.plain = 3
    assert m.plain == 3 and "plain" not in m._parameters
    del m.b
    assert "b" not in m._buffers
    with pytest.raises(AttributeError, match="'Module' object has no attribute 'nothing'"):
        m.nothing  # noqa: B018


def test_registration_errors():
    class Early(nn.Module):
        def __init__(self):
            self.w = nn.Parameter(tg.ones(1))

    with pytest.raises(AttributeError, match="before Module.__init__"):
        Early()
    m = nn.Module()
    with pytest.raises(KeyError, match="contain"):
        m.register_buffer("a.b", tg.ones(1))
    with pytest.raises(KeyError, match="empty"):
        m.register_parameter("", None)
    with pytest.raises(TypeError, match="is not a Module subclass"):
        m.add_module("x", 3)
    m.y = 1
    with pytest.raises(KeyError, match="attribute 'y' already exists"):
        m.register_buffer("y", tg.ones(1))
    with pytest.raises(TypeError, match="cannot assign 'tracegrad.Tensor' object to parameter"):
        m.register_parameter("p", tg.ones(1))
    with pytest.raises(ValueError, match="non-leaf"):
        m.register_parameter("q", _nonleaf_param())
    with pytest.raises(NotImplementedError, match='missing the required "forward"'):
        m(tg.ones(1))


def _nonleaf_param():
    p = nn.Parameter(tg.ones(1))
    q = nn.Parameter(tg.ones(1))
    q.grad_fn = (p * 2).grad_fn  # a Parameter that is not a leaf
    return q


def test_shared_parameters_and_modules_are_deduplicated():
    lin = nn.Linear(2, 2)
    seq = nn.Sequential(lin, nn.ReLU(), lin)
    assert len(list(seq.parameters())) == 2
    assert len(list(seq.named_parameters(remove_duplicate=False))) == 4
    assert [n for n, _ in seq.named_modules()] == ["", "0", "1"]
    assert list(seq.state_dict()) == ["0.weight", "0.bias", "2.weight", "2.bias"]


def test_get_submodule_and_parameter():
    m = Net()
    assert m.get_submodule("head.0") is m.head[0]
    assert m.get_parameter("head.0.bias") is m.head[0].bias
    assert m.get_buffer("running") is m.running
    with pytest.raises(AttributeError, match="has no attribute `nope`"):
        m.get_submodule("head.nope")
    with pytest.raises(AttributeError, match="is not an nn.Parameter"):
        m.get_parameter("running")


# --------------------------------------------------------------------------------- state dict
def test_state_dict_keys_and_values():
    m = Net()
    sd = m.state_dict()
    assert isinstance(sd, OrderedDict)
    assert list(sd) == [
        "scale",
        "running",
        "fc1.weight",
        "fc1.bias",
        "head.0.weight",
        "head.0.bias",
    ]
    assert not isinstance(sd["scale"], nn.Parameter) and not sd["scale"].requires_grad
    assert m.state_dict(keep_vars=True)["scale"] is m.scale
    assert list(m.state_dict(prefix="p."))[0] == "p.scale"


def _torch_and_tg_pair(torch):
    tnn = torch.nn

    def build(mod):
        return mod.Sequential(
            OrderedDict(
                conv_free=mod.Linear(4, 8),
                block=mod.ModuleList([mod.Linear(8, 8), mod.ReLU(), mod.Linear(8, 8, bias=False)]),
                heads=mod.ModuleDict({"b": mod.Linear(8, 2), "a": mod.Bilinear(8, 8, 3)}),
                emb=mod.Embedding(10, 4, padding_idx=0),
                out=mod.Sequential(mod.Flatten(), mod.Identity(), mod.Softmax(dim=-1)),
            )
        )

    return build(tnn), build(nn)


@pytest.mark.slow
def test_state_dict_keys_match_torch():
    torch = pytest.importorskip("torch")
    tm, gm = _torch_and_tg_pair(torch)
    tsd, gsd = tm.state_dict(), gm.state_dict()
    assert list(tsd) == list(gsd)
    for k in tsd:
        assert tuple(tsd[k].shape) == tuple(gsd[k].shape), k
    assert [n for n, _ in tm.named_parameters()] == [n for n, _ in gm.named_parameters()]
    assert [n for n, _ in tm.named_modules()] == [n for n, _ in gm.named_modules()]


def test_load_state_dict_from_torch_gives_same_values():
    torch = pytest.importorskip("torch")
    tm, gm = _torch_and_tg_pair(torch)
    result = gm.load_state_dict({k: tg.tensor(v.numpy()) for k, v in tm.state_dict().items()})
    assert result.missing_keys == [] and result.unexpected_keys == []
    for k, v in gm.state_dict().items():
        np.testing.assert_array_equal(v.numpy(), tm.state_dict()[k].numpy())


def test_load_state_dict_keeps_identity_and_casts():
    m = Net()
    w = m.fc1.weight
    sd = {k: v.double() * 0 + 1 for k, v in Net().state_dict().items()}
    m.load_state_dict(sd)
    assert m.fc1.weight is w and isinstance(w, nn.Parameter) and w.requires_grad
    assert w.dtype == tg.float32
    np.testing.assert_array_equal(w.detach().numpy(), np.ones((3, 4), np.float32))
    # numpy arrays are accepted as values too
    m.load_state_dict({k: np.zeros(tuple(v.shape), np.float32) for k, v in sd.items()})
    assert float(w.abs().sum()) == 0.0


def test_load_state_dict_errors_are_complete_and_nothing_is_applied():
    m = Net()
    before = {k: v.numpy().copy() for k, v in m.state_dict().items()}
    bad = {k: tg.ones(*v.shape) for k, v in m.state_dict().items()}
    del bad["running"]
    bad["fc1.weight"] = tg.ones(5, 4)
    bad["extra.thing"] = tg.ones(1)
    with pytest.raises(RuntimeError) as e:
        m.load_state_dict(bad)
    msg = str(e.value)
    assert msg.startswith("Error(s) in loading state_dict for Net:")
    assert 'Missing key(s) in state_dict: "running".' in msg
    assert 'Unexpected key(s) in state_dict: "extra.thing".' in msg
    assert "size mismatch for fc1.weight: copying a param with shape" in msg
    assert "[5, 4]" in msg and "[3, 4]" in msg
    for k, v in m.state_dict().items():  # the valid entries were NOT copied
        np.testing.assert_array_equal(v.numpy(), before[k])
    # non-strict: the size mismatch still raises, missing/unexpected are reported
    del bad["fc1.weight"]
    res = m.load_state_dict(bad, strict=False)
    assert res.missing_keys == ["running", "fc1.weight"]
    assert m.fc1.bias.tolist() == [1.0, 1.0, 1.0]


def test_load_state_dict_error_messages_match_torch():
    torch = pytest.importorskip("torch")
    tm, gm = torch.nn.Sequential(torch.nn.Linear(2, 3)), nn.Sequential(nn.Linear(2, 3))
    sd_t = {"0.weight": torch.ones(3, 2), "1.bias": torch.ones(3)}
    sd_g = {"0.weight": tg.ones(3, 2), "1.bias": tg.ones(3)}
    with pytest.raises(RuntimeError) as et:
        tm.load_state_dict(sd_t)
    with pytest.raises(RuntimeError) as eg:
        gm.load_state_dict(sd_g)
    assert str(et.value) == str(eg.value)
    rt = tm.load_state_dict(sd_t, strict=False)
    rg = gm.load_state_dict(sd_g, strict=False)
    assert (rt.missing_keys, rt.unexpected_keys) == (rg.missing_keys, rg.unexpected_keys)


def test_load_state_dict_assign():
    m = nn.Linear(2, 2)
    new = tg.ones(2, 2, dtype=tg.float64)
    m.load_state_dict({"weight": new, "bias": tg.zeros(2)}, assign=True)
    assert isinstance(m.weight, nn.Parameter) and m.weight.dtype == tg.float64
    assert m.weight.requires_grad


# ---------------------------------------------------------------------- modes, grads, conversion
def test_train_eval_propagate():
    m = Net()
    assert m.training and m.head[1].training
    assert m.eval() is m
    assert not any(x.training for x in m.modules())
    m.train()
    assert all(x.training for x in m.modules())
    with pytest.raises(ValueError, match="boolean"):
        m.train("yes")


def test_zero_grad_and_requires_grad_():
    m = Net()
    m(tg.randn(5, 4)).sum().backward()
    assert all(p.grad is not None for p in m.parameters())
    m.zero_grad(set_to_none=False)
    assert all(float(p.grad.abs().sum()) == 0.0 for p in m.parameters())
    m.zero_grad()
    assert all(p.grad is None for p in m.parameters())
    m.requires_grad_(False)
    assert not any(p.requires_grad for p in m.parameters())


def test_to_double_keeps_parameter_objects_and_converts_buffers():
    m = Net()
    m.register_buffer("count", tg.tensor(0))
    m(tg.randn(2, 4)).sum().backward()
    w = m.fc1.weight
    assert m.to(tg.float64) is m
    assert m.fc1.weight is w and isinstance(w, nn.Parameter) and w.dtype == tg.float64
    assert w.grad.dtype == tg.float64
    assert m.running.dtype == tg.float64 and m.count.dtype == tg.int64
    assert m(tg.randn(2, 4, dtype=tg.float64)).dtype == tg.float64
    m.float()
    assert w.dtype == tg.float32 and m.running.dtype == tg.float32
    m.to("cpu")
    m.cpu()
    with pytest.raises(TypeError, match="floating point"):
        m.to(tg.int64)


def test_apply_and_deepcopy_and_pickle():
    m = Net()
    seen = []
    m.apply(lambda mod: seen.append(type(mod).__name__))
    assert seen == ["Linear", "ReLU", "Linear", "Tanh", "Sequential", "Net"]
    c = copy.deepcopy(m)
    assert isinstance(c.fc1.weight, nn.Parameter) and c.fc1.weight is not m.fc1.weight
    np.testing.assert_array_equal(c.fc1.weight.detach().numpy(), m.fc1.weight.detach().numpy())
    with tg.no_grad():
        c.fc1.weight.mul_(0)
    assert float(m.fc1.weight.abs().sum()) > 0
    lin = nn.Linear(2, 2)
    tied = nn.Sequential(lin, lin)
    tc = copy.deepcopy(tied)
    assert tc[0].weight is tc[1].weight
    p = pickle.loads(pickle.dumps(m))
    assert isinstance(p.fc1.weight, nn.Parameter)
    x = tg.randn(3, 4)
    np.testing.assert_allclose(p(x).detach().numpy(), m(x).detach().numpy())


# ---------------------------------------------------------------------------------------- hooks
def test_forward_hooks():
    m = nn.Linear(2, 2)
    calls = []

    def pre(mod, args):
        calls.append("pre")
        return (args[0] * 0,)  # replaces the input

    def post(mod, args, out):
        calls.append("post")
        assert float(args[0].abs().sum()) == 0.0
        return out + 1  # replaces the output

    h1 = m.register_forward_pre_hook(pre)
    h2 = m.register_forward_hook(post)
    y = m(tg.ones(1, 2))
    np.testing.assert_allclose(y.detach().numpy(), m.bias.detach().numpy()[None] + 1, rtol=1e-6)
    assert calls == ["pre", "post"]
    h1.remove()
    h2.remove()
    np.testing.assert_allclose(
        m(tg.zeros(1, 2)).detach().numpy(), m.bias.detach().numpy()[None], rtol=1e-6
    )
    order = []
    m.register_forward_hook(lambda *a: order.append(1))
    m.register_forward_hook(lambda *a: order.append(0), prepend=True)
    m.register_forward_pre_hook(lambda mod, a, k: (a, {}), with_kwargs=True)
    m(tg.ones(2))
    assert order == [0, 1]


# ----------------------------------------------------------------------------------------- repr
def _repr_modules(mod):
    return [
        mod.Linear(2, 3),
        mod.Linear(2, 3, bias=False),
        mod.Sequential(mod.Linear(2, 3), mod.ReLU(), mod.Sequential(mod.Tanh(), mod.Sigmoid())),
        mod.ModuleList([mod.Linear(2, 2), mod.Linear(2, 2), mod.Linear(2, 2), mod.ReLU()]),
        mod.ModuleList([]),
        mod.ModuleDict({"a": mod.ReLU(inplace=True), "b": mod.LeakyReLU(0.2)}),
        mod.Sequential(OrderedDict(fc=mod.Linear(1, 1), act=mod.GELU(approximate="tanh"))),
        mod.ELU(alpha=0.5),
        mod.CELU(),
        mod.SELU(inplace=True),
        mod.SiLU(),
        mod.Mish(),
        mod.Hardtanh(-2.0, 2.0),
        mod.ReLU6(),
        mod.Hardswish(),
        mod.Hardsigmoid(),
        mod.Softplus(beta=2.0),
        mod.Softmax(dim=1),
        mod.LogSoftmax(dim=-1),
        mod.Softmin(dim=0),
        mod.LogSigmoid(),
        mod.PReLU(3),
        mod.Identity(),
        mod.Flatten(),
        mod.Unflatten(1, (2, 3)),
        mod.Embedding(10, 3),
        mod.Embedding(10, 3, padding_idx=2),
        mod.Bilinear(2, 3, 4),
    ]


def test_repr_matches_torch():
    torch = pytest.importorskip("torch")
    for t, g in zip(_repr_modules(torch.nn), _repr_modules(nn)):
        assert repr(g) == repr(t)


def test_parameter_container_repr_matches_torch():
    torch = pytest.importorskip("torch")
    pl_t = torch.nn.ParameterList([torch.nn.Parameter(torch.ones(2, 3)), torch.zeros(2)])
    pl_g = nn.ParameterList([nn.Parameter(tg.ones(2, 3)), tg.zeros(2)])
    assert repr(pl_g) == repr(pl_t).replace("torch.", "tracegrad.")
    pd_t = torch.nn.ParameterDict({"b": torch.ones(2, 3), "a": torch.zeros(2)})
    pd_g = nn.ParameterDict({"b": tg.ones(2, 3), "a": tg.zeros(2)})
    assert repr(pd_g) == repr(pd_t).replace("torch.", "tracegrad.")


def test_repr_literal():
    s = nn.Sequential(nn.Linear(2, 3), nn.ReLU())
    assert repr(s) == (
        "Sequential(\n  (0): Linear(in_features=2, out_features=3, bias=True)\n  (1): ReLU()\n)"
    )
    p = nn.Parameter(tg.tensor([1.0, 2.0]))
    assert repr(p) == "Parameter containing:\ntensor([1., 2.], requires_grad=True)"


# ----------------------------------------------------------------------------------- parameter
def test_parameter_basics():
    t = tg.tensor([1.0, 2.0])
    p = nn.Parameter(t)
    assert isinstance(p, tg.Tensor) and p.requires_grad and p.is_leaf
    assert type(p * 2) is tg.Tensor and type(p.detach()) is tg.Tensor
    with tg.no_grad():
        p.mul_(3)
    assert t.tolist() == [3.0, 6.0]  # Parameter(t) shares t's storage, as PyTorch
    assert not nn.Parameter(t, requires_grad=False).requires_grad
    assert nn.Parameter().shape == (0,)
    assert isinstance(copy.deepcopy(p), nn.Parameter)


# ----------------------------------------------------------------------------------- containers
def test_sequential():
    a, b, c = nn.Linear(2, 3), nn.ReLU(), nn.Linear(3, 1)
    s = nn.Sequential(a, b, c)
    assert len(s) == 3 and s[0] is a and s[-1] is c and list(s) == [a, b, c]
    assert isinstance(s[1:], nn.Sequential) and list(s[1:]) == [b, c]
    assert list(s[1:]._modules) == ["1", "2"]
    x = tg.randn(4, 2)
    np.testing.assert_allclose(s(x).detach().numpy(), c(b(a(x))).detach().numpy(), rtol=1e-6)
    s.append(nn.Sigmoid())
    assert len(s) == 4 and list(s._modules) == ["0", "1", "2", "3"]
    del s[1]
    assert list(s._modules) == ["0", "1", "2"] and s[1] is c
    s[0] = nn.Identity()
    assert isinstance(s[0], nn.Identity)
    with pytest.raises(IndexError, match="index 5 is out of range"):
        s[5]  # noqa: B018
    d = nn.Sequential(OrderedDict(first=a, second=b))
    assert list(d.state_dict()) == ["first.weight", "first.bias"] and d.first is a


def test_module_list_and_dict():
    layers = nn.ModuleList([nn.Linear(2, 2) for _ in range(2)])
    layers.append(nn.ReLU())
    layers.extend([nn.Tanh()])
    layers.insert(1, nn.Sigmoid())
    assert [type(m).__name__ for m in layers] == ["Linear", "Sigmoid", "Linear", "ReLU", "Tanh"]
    assert list(layers._modules) == ["0", "1", "2", "3", "4"]
    assert isinstance(layers[1:3], nn.ModuleList) and len(layers[1:3]) == 2
    assert layers[-1] is layers[4]
    assert len(list(layers.parameters())) == 4
    del layers[0]
    assert list(layers._modules) == ["0", "1", "2", "3"]
    d = nn.ModuleDict({"x": nn.Linear(1, 1)})
    d["y"] = nn.ReLU()
    d.update([("z", nn.Tanh())])
    assert list(d) == ["x", "y", "z"] and "y" in d and len(d) == 3
    assert list(d.keys()) == ["x", "y", "z"] and d.pop("y").__class__ is nn.ReLU
    assert list(d.state_dict()) == ["x.weight", "x.bias"]


def test_parameter_list_and_dict():
    pl = nn.ParameterList([tg.ones(2), nn.Parameter(tg.zeros(3))])
    assert all(isinstance(p, nn.Parameter) for p in pl) and len(pl) == 2
    pl.append(tg.ones(1))
    assert [n for n, _ in pl.named_parameters()] == ["0", "1", "2"]
    pd = nn.ParameterDict({"w": tg.ones(2)})
    pd["b"] = tg.zeros(1)
    assert list(pd.keys()) == ["w", "b"] and isinstance(pd["b"], nn.Parameter)
    assert [n for n, _ in pd.named_parameters()] == ["w", "b"]
    assert "w" in pd and len(pd) == 2
    del pd["w"]
    assert list(pd.keys()) == ["b"] and len(list(pd.parameters())) == 1
    with pytest.raises(RuntimeError, match="should not be called"):
        pl()


def test_buffer_marker_assignment():
    m = nn.Module()
    m.stats = nn.Buffer(tg.ones(2))
    m.tmp = nn.Buffer(tg.zeros(1), persistent=False)
    assert [n for n, _ in m.named_buffers()] == ["stats", "tmp"]
    assert list(m.state_dict()) == ["stats"]
    assert type(m.stats) is tg.Tensor
    m.stats = tg.zeros(2)  # plain tensor to an existing buffer name stays a buffer
    assert m._buffers["stats"].tolist() == [0.0, 0.0]
