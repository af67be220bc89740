"""``Module.register_backward_hook``, PyTorch's deprecated non-full hook, against PyTorch itself:
the hook's ``grad_input`` / ``grad_output`` (the gradients of the module's last node), a
replacement ``grad_input``, removal, the FutureWarnings, the mixing error, and the clear error
where tracegrad's last node is not PyTorch's. Also ``Node.register_hook`` against ``jax.vjp``."""

from __future__ import annotations

import warnings

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import tracegrad as tg
from tracegrad import nn

from .tiers import slow, slow_after

torch = pytest.importorskip("torch")


def _np(t):
    return None if t is None else np.asarray(t.detach().numpy(), dtype=np.float64)


def _pair(factory):
    """The same module in PyTorch and tracegrad: PyTorch's parameters copied into tracegrad's."""
    torch.manual_seed(0)
    tm = factory(torch.nn)
    gm = factory(nn)
    sd = {k: tg.tensor(v.detach().numpy()) for k, v in tm.state_dict().items()}
    gm.load_state_dict(sd)
    return tm, gm


def _run(lib, module, x, requires_grad, scale):
    """Call ``module`` with a hook recording what it sees (and, with ``scale``, returning
    ``grad_input`` times ``scale``); backward a fixed weighting of the output."""
    seen = []

    def hook(mod, grad_input, grad_output):
        assert mod is module
        seen.append((tuple(map(_np, grad_input)), tuple(map(_np, grad_output))))
        if scale is not None:
            return tuple(None if g is None else g * scale for g in grad_input)
        return None

    h = module.register_backward_hook(hook)
    xt = lib.tensor(x, requires_grad=requires_grad)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        out = module(xt)
    w = np.linspace(-1.0, 1.0, out.numel()).reshape(tuple(out.shape)).astype(np.float32)
    (out * lib.tensor(w)).sum().backward()
    h.remove()
    grads = [_np(xt.grad)] + [_np(p.grad) for p in module.parameters()]
    return seen, grads


def _assert_same(a, b):
    assert (a is None) == (b is None)
    if a is not None:
        assert a.shape == b.shape
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-5)


def _check_parity(factory, shape, requires_grad=True, scale=None):
    tm, gm = _pair(factory)
    x = np.random.default_rng(0).standard_normal(shape).astype(np.float32)
    t_seen, t_grads = _run(torch, tm, x, requires_grad, scale)
    g_seen, g_grads = _run(tg, gm, x, requires_grad, scale)
    assert len(t_seen) == len(g_seen) == 1
    (t_gi, t_go), (g_gi, g_go) = t_seen[0], g_seen[0]
    assert len(t_gi) == len(g_gi) and len(t_go) == len(g_go)
    for a, b in zip(t_gi + t_go, g_gi + g_go):
        _assert_same(a, b)
    for a, b in zip(t_grads, g_grads):
        _assert_same(a, b)


CASES = [
    ("Linear", lambda n: n.Linear(4, 3), (5, 4)),
    ("ReLU", lambda n: n.ReLU(), (5, 4)),
    ("Conv2d", lambda n: n.Conv2d(2, 3, 3, padding=1), (2, 2, 5, 5)),
    ("Sigmoid", lambda n: n.Sigmoid(), (5, 4)),
    ("Sequential", lambda n: n.Sequential(n.Linear(4, 6), n.Tanh(), n.Linear(6, 3)), (5, 4)),
    ("Sequential-relu", lambda n: n.Sequential(n.Linear(4, 6), n.ReLU()), (5, 4)),
    ("Linear-nobias", lambda n: n.Linear(4, 3, bias=False), (5, 4)),
    (
        "Sequential-cnn",
        lambda n: n.Sequential(
            n.Conv2d(2, 3, 3), n.ReLU(inplace=True), n.Flatten(), n.Linear(27, 2)
        ),
        (2, 2, 5, 5),
    ),
    ("Conv2d-nobias", lambda n: n.Conv2d(2, 3, 3, stride=2, bias=False), (2, 2, 6, 6)),
    ("Conv1d", lambda n: n.Conv1d(2, 3, 3), (2, 2, 7)),
    ("Conv3d", lambda n: n.Conv3d(2, 2, 2), (1, 2, 3, 3, 3)),
    ("MaxPool2d", lambda n: n.MaxPool2d(2), (1, 2, 4, 4)),
    ("AvgPool2d", lambda n: n.AvgPool2d(2), (1, 2, 4, 4)),
    ("Flatten", lambda n: n.Flatten(), (2, 3, 4)),
    ("LayerNorm", lambda n: n.LayerNorm(4), (5, 4)),
    *[
        (name, (lambda n, name=name, a=a: getattr(n, name)(*a)), (5, 4))
        for name, a in [
            ("Tanh", ()),
            ("GELU", ()),
            ("LeakyReLU", (0.1,)),
            ("ELU", ()),
            ("SELU", ()),
            ("SiLU", ()),
            ("Softplus", ()),
            ("Hardtanh", ()),
            ("ReLU6", ()),
            ("Softmax", (-1,)),
            ("LogSoftmax", (-1,)),
            ("Mish", ()),
            ("Hardswish", ()),
            ("Hardsigmoid", ()),
            ("LogSigmoid", ()),
            ("Softsign", ()),
            ("Tanhshrink", ()),
        ]
    ],
]


@pytest.mark.parametrize(
    "factory,shape",
    slow_after([(f, s) for _, f, s in CASES], keep=3, multi=True),
    ids=[c[0] for c in CASES],
)
def test_grad_input_and_output_match_pytorch(factory, shape):
    _check_parity(factory, shape)


REPLACE = [
    ("Linear", True, 3.0),
    ("Conv2d", False, -2.0),  # the input needs no grad: PyTorch's grad_input has a None
    ("ReLU", True, 3.0),
    ("Sigmoid", True, -2.0),
    ("Sequential", True, 3.0),
    ("Sequential", False, 3.0),
    ("Linear", False, None),
    ("Linear-nobias", True, 3.0),
]


@pytest.mark.parametrize(
    "name,requires_grad,scale", slow_after(REPLACE, multi=True), ids=[str(r) for r in REPLACE]
)
def test_replacement_and_input_without_grad_match_pytorch(name, requires_grad, scale):
    _, factory, shape = next(c for c in CASES if c[0] == name)
    _check_parity(factory, shape, requires_grad, scale)


def test_warnings_mixing_removal_and_bad_returns():
    lin = nn.Linear(3, 2)
    h = lin.register_backward_hook(lambda m, gi, go: None)
    # as PyTorch: the forward has nodes (the weight's) that are not the input's
    with pytest.warns(FutureWarning, match="the forward contains multiple autograd Nodes"):
        lin(tg.ones(4, 3, requires_grad=True))
    with pytest.raises(RuntimeError, match="Cannot use both regular backward hooks and full"):
        lin.register_full_backward_hook(lambda *a: None)
    h.remove()
    assert not lin._backward_hooks
    full = nn.Tanh()
    full.register_full_backward_hook(lambda *a: None)
    with pytest.raises(RuntimeError, match="Cannot use both regular backward hooks and full"):
        full.register_backward_hook(lambda *a: None)

    class Nested(nn.Module):
        def forward(self, x):
            return [x.tanh()]

    with pytest.warns(FutureWarning, match="does not return a single Tensor"):
        m = Nested()
        m.register_backward_hook(lambda *a: None)
        m(tg.ones(2, requires_grad=True))

    # a handle removed after the call leaves that graph hooked (PyTorch's hook lives on the node)
    calls = []
    relu = nn.ReLU()
    h = relu.register_backward_hook(lambda m, gi, go: calls.append(1))
    x = tg.ones(3, requires_grad=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        y = relu(x)
        h.remove()
        y.sum().backward()
        relu(x).sum().backward()
    assert calls == [1]

    def bad(m, gi, go):
        return (gi[0], gi[0])

    relu.register_backward_hook(bad)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        with pytest.raises(RuntimeError, match=r"hook 'bad' has returned an incorrect number"):
            relu(x).sum().backward()


@pytest.mark.parametrize(
    "factory,shape",
    slow_after(
        [
            (lambda: nn.Linear(4, 3), (2, 5, 4)),  # PyTorch: a view of a 2-D addmm
            (lambda: nn.Linear(4, 3), (4,)),
            (lambda: nn.BatchNorm1d(4), (5, 4)),
            (lambda: nn.ConvTranspose2d(2, 3, 3), (1, 2, 4, 4)),  # the weight is flipped
        ],
        multi=True,
    ),
)
def test_unmatched_last_node_raises(factory, shape):
    m = factory()
    m.register_backward_hook(lambda *a: None)
    with pytest.raises(NotImplementedError, match="register_full_backward_hook"):
        m(tg.ones(*shape, requires_grad=True))


@slow
def test_custom_forward_ops():
    class Act(nn.Module):
        def forward(self, x):
            return tg.nn.functional.gelu(x)

    class Residual(nn.Module):
        def forward(self, x):
            return x + x.tanh()

    _check_parity(lambda n: Act() if n is nn else _TorchAct(), (5, 4))
    m = Residual()
    m.register_backward_hook(lambda *a: None)
    with pytest.raises(NotImplementedError, match="AddBackward0"):
        m(tg.ones(3, requires_grad=True))


class _TorchAct(torch.nn.Module):
    def forward(self, x):
        return torch.nn.functional.gelu(x)


@slow
def test_global_non_full_hook():
    from torch.nn.modules.module import register_module_backward_hook as t_reg

    from tracegrad.nn.modules.module import register_module_backward_hook as g_reg

    res = []
    for lib, reg in ((torch, t_reg), (tg, g_reg)):
        seen: list = []

        def hook(m, gi, go, seen=seen):
            seen.append([None if g is None else tuple(g.shape) for g in gi])

        h = reg(hook)
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", FutureWarning)
                net = lib.nn.Sequential(lib.nn.Linear(4, 3), lib.nn.ReLU())
                net(lib.ones(2, 4)).sum().backward()
        finally:
            h.remove()
            # Registering a global non-full hook marks the process for good (PyTorch's rule: a
            # global full hook then raises); undo the mark in both libraries for later tests.
            torch.nn.modules.module._global_is_full_backward_hook = None
            tg.nn.modules.module._global_is_full_backward_hook = None
        res.append(seen)
    assert res[0] == res[1]


def test_node_register_hook_matches_jax_vjp():
    a = np.arange(6.0, dtype=np.float32).reshape(2, 3) - 2.5
    x = tg.tensor(a, requires_grad=True)
    y = x.tanh()
    seen = []
    y.grad_fn.register_hook(lambda gi, go: (seen.append((gi, go)), (gi[0] * 2,))[1])
    (y * 3).sum().backward()
    _, vjp = jax.vjp(jnp.tanh, jnp.asarray(a))
    (expected,) = vjp(jnp.full((2, 3), 3.0, jnp.float32))
    np.testing.assert_allclose(_np(seen[0][0][0]), expected, rtol=1e-5)
    np.testing.assert_allclose(_np(seen[0][1][0]), np.full((2, 3), 3.0))
    np.testing.assert_allclose(_np(x.grad), 2 * np.asarray(expected), rtol=1e-5)
