"""``nn.utils.parametrize``, ``nn.utils.parametrizations`` and the other ``nn.utils`` helpers
(legacy weight/spectral norm, batch-norm fusion, ``skip_init``, ``stateless.functional_call``).

Without PyTorch: the mechanics (class swap, property, ``right_inverse`` on assignment, state-dict
keys, removal, caching), the values from the math and gradients against ``jax.vjp`` of
``jax.numpy`` re-implementations, and a compiled training step against eager. With PyTorch:
values, gradients w.r.t. the originals, spectral-norm power iterations from the same ``u``/``v``,
state-dict interchange both ways, and error messages."""

from __future__ import annotations

import warnings

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import tracegrad as tg
from tests.tiers import slow, slow_after
from tracegrad import nn
from tracegrad.nn.utils import parametrizations as PZ
from tracegrad.nn.utils import parametrize as P


def _np(t) -> np.ndarray:
    return np.asarray(t.detach().numpy())


class _Symmetric(nn.Module):
    def forward(self, X):
        return X.triu() + X.triu(1).mT


class _Scale(nn.Module):
    def forward(self, X):
        return 2.0 * X

    def right_inverse(self, Y):
        return Y / 2.0


class _Split(nn.Module):
    def forward(self, a, b):
        return a + b

    def right_inverse(self, Y):
        return Y / 2.0, Y / 2.0


# --- mechanics, without PyTorch ------------------------------------------------------------------


def test_register_swaps_class_and_moves_original():
    m = nn.Linear(3, 3)
    w0 = _np(m.weight)
    P.register_parametrization(m, "weight", _Symmetric())
    assert type(m).__name__ == "ParametrizedLinear"
    assert isinstance(m, nn.Linear)
    assert P.is_parametrized(m) and P.is_parametrized(m, "weight")
    assert not P.is_parametrized(m, "bias")
    assert P.type_before_parametrizations(m) is nn.Linear
    assert isinstance(m.parametrizations.weight, P.ParametrizationList)
    np.testing.assert_array_equal(_np(m.parametrizations.weight.original), w0)
    np.testing.assert_array_equal(_np(m.weight), np.triu(w0) + np.triu(w0, 1).T)
    assert list(m.state_dict()) == ["bias", "parametrizations.weight.original"]
    names = [n for n, _ in m.named_parameters()]
    assert names == ["bias", "parametrizations.weight.original"]
    # the class swap is per instance
    assert type(nn.Linear(3, 3)) is nn.Linear


def test_gradient_reaches_original():
    m = nn.Linear(3, 3)
    P.register_parametrization(m, "weight", _Symmetric())
    x = tg.randn(2, 3)
    m(x).sum().backward()
    W = jnp.asarray(_np(m.parametrizations.weight.original))
    xj = jnp.asarray(_np(x))

    def f(W):
        return (xj @ (jnp.triu(W) + jnp.triu(W, 1).T).T).sum()

    np.testing.assert_allclose(
        _np(m.parametrizations.weight.original.grad), np.asarray(jax.grad(f)(W)), rtol=1e-6
    )


def test_assignment_goes_through_right_inverse_and_keeps_identity():
    m = nn.Linear(2, 2)
    P.register_parametrization(m, "weight", _Scale())
    orig = m.parametrizations.weight.original
    # registration applied right_inverse: the weight's value is unchanged
    w = _np(m.weight)
    np.testing.assert_allclose(_np(orig), w / 2)
    m.weight = tg.ones(2, 2)
    assert m.parametrizations.weight.original is orig
    np.testing.assert_allclose(_np(orig), np.full((2, 2), 0.5))
    np.testing.assert_allclose(_np(m.weight), np.ones((2, 2)))


def test_chained_parametrizations_and_removal():
    m = nn.Linear(3, 3)
    P.register_parametrization(m, "weight", _Scale())
    P.register_parametrization(m, "weight", _Scale())
    assert len(m.parametrizations.weight) == 2
    w = _np(m.weight)
    orig = m.parametrizations.weight.original
    P.remove_parametrizations(m, "weight")
    assert type(m) is nn.Linear and not hasattr(m, "parametrizations")
    assert m.weight is orig and isinstance(m.weight, nn.Parameter)
    np.testing.assert_allclose(_np(m.weight), w, rtol=1e-6)
    assert list(m.state_dict()) == ["bias", "weight"]  # re-registered last, as PyTorch


def test_remove_leave_parametrized_false_restores_original():
    m = nn.Linear(3, 3)
    P.register_parametrization(m, "weight", _Symmetric())
    orig = _np(m.parametrizations.weight.original)
    P.remove_parametrizations(m, "weight", leave_parametrized=False)
    np.testing.assert_array_equal(_np(m.weight), orig)


def test_sequence_right_inverse_gives_original0_original1():
    m = nn.Linear(2, 3)
    w = _np(m.weight)
    P.register_parametrization(m, "weight", _Split())
    pl = m.parametrizations.weight
    assert not pl.is_tensor and pl.ntensors == 2
    assert list(m.state_dict()) == [
        "bias",
        "parametrizations.weight.original0",
        "parametrizations.weight.original1",
    ]
    np.testing.assert_allclose(_np(m.weight), w, rtol=1e-6)
    with pytest.raises(ValueError, match="Cannot leave unparametrized"):
        P.remove_parametrizations(m, "weight", leave_parametrized=False)
    P.remove_parametrizations(m, "weight")
    assert isinstance(m.weight, nn.Parameter)
    np.testing.assert_allclose(_np(m.weight), w, rtol=1e-6)


def test_cached_computes_once():
    calls = []

    class Counting(nn.Module):
        def forward(self, X):
            calls.append(1)
            return X * 1.0

    m = nn.Linear(2, 2)
    P.register_parametrization(m, "weight", Counting())
    calls.clear()
    with P.cached():
        a = m.weight
        b = m.weight
    assert a is b and len(calls) == 1
    m.weight  # noqa: B018
    assert len(calls) == 2


def test_buffer_can_be_parametrized():
    bn = nn.BatchNorm1d(3)
    P.register_parametrization(bn, "running_var", _Scale())
    assert "parametrizations.running_var.original" in bn.state_dict()
    assert isinstance(bn.parametrizations.running_var.original, tg.Tensor)
    assert not isinstance(bn.parametrizations.running_var.original, nn.Parameter)


def test_transfer_parametrizations_and_params():
    a, b = nn.Linear(3, 3), nn.Linear(3, 3)
    P.register_parametrization(a, "weight", _Symmetric())
    P.transfer_parametrizations_and_params(a, b)
    assert P.is_parametrized(b, "weight")
    np.testing.assert_array_equal(_np(b.weight), _np(a.weight))


def test_errors():
    m = nn.Linear(2, 2)
    with pytest.raises(ValueError, match="does not have a parameter, a buffer, or a"):
        P.register_parametrization(m, "nope", _Scale())
    with pytest.raises(ValueError, match="does not have a parametrization on weight"):
        P.remove_parametrizations(m, "weight")

    class Shape(nn.Module):
        def forward(self, X):
            return X.sum(0)

    with pytest.raises(ValueError, match="may not change the shape"):
        P.register_parametrization(m, "weight", Shape())
    assert type(m) is nn.Linear and "weight" in m._parameters  # nothing half-applied
    P.register_parametrization(m, "weight", Shape(), unsafe=True)
    assert m.weight.shape == (2,)
    P.register_parametrization(m, "bias", _Symmetric(), unsafe=True)  # ok with unsafe
    m2 = nn.Linear(2, 2)
    P.register_parametrization(m2, "weight", _Symmetric())
    with pytest.raises(RuntimeError, match="does not implement right_inverse"):
        m2.weight = tg.zeros(2, 2)
    import pickle

    with pytest.raises(RuntimeError, match="only supported through state_dict"):
        pickle.dumps(m2)


def test_deepcopy_of_parametrized_module():
    import copy

    m = nn.Linear(3, 3)
    P.register_parametrization(m, "weight", _Symmetric())
    c = copy.deepcopy(m)
    assert type(c).__name__ == "ParametrizedLinear"
    np.testing.assert_array_equal(_np(c.weight), _np(m.weight))
    assert c.parametrizations.weight.original is not m.parametrizations.weight.original


# --- parametrizations, from the math -------------------------------------------------------------


def test_weight_norm_values_and_grads_against_jax():
    m = nn.Linear(4, 3)
    w = _np(m.weight)
    PZ.weight_norm(m)
    g = m.parametrizations.weight.original0
    v = m.parametrizations.weight.original1
    assert tuple(g.shape) == (3, 1)
    np.testing.assert_allclose(_np(g), np.linalg.norm(w, axis=1, keepdims=True), rtol=1e-6)
    np.testing.assert_allclose(_np(m.weight), w, rtol=1e-5, atol=1e-6)
    x = tg.randn(5, 4)
    m(x).square().sum().backward()

    def f(g, v):
        W = v * (g / jnp.linalg.norm(v, axis=1, keepdims=True))
        return ((jnp.asarray(_np(x)) @ W.T + jnp.asarray(_np(m.bias))) ** 2).sum()

    gg, gv = jax.grad(f, argnums=(0, 1))(jnp.asarray(_np(g)), jnp.asarray(_np(v)))
    np.testing.assert_allclose(_np(g.grad), np.asarray(gg), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(_np(v.grad), np.asarray(gv), rtol=1e-5, atol=1e-6)


def test_weight_norm_dim_none_is_a_scalar_magnitude():
    m = nn.Conv2d(2, 3, 3)
    w = _np(m.weight)
    PZ.weight_norm(m, dim=None)
    g = m.parametrizations.weight.original0
    assert g.shape == ()
    np.testing.assert_allclose(float(g), np.linalg.norm(w), rtol=1e-6)


def test_spectral_norm_divides_by_the_top_singular_value():
    tg.manual_seed(0)
    m = nn.Linear(6, 4)
    w = _np(m.weight)
    PZ.spectral_norm(m, n_power_iterations=30)
    m.eval()
    s = np.linalg.svd(w, compute_uv=False)[0]
    np.testing.assert_allclose(_np(m.weight), w / s, rtol=1e-4)
    sn = m.parametrizations.weight[0]
    assert set(dict(sn.named_buffers())) == {"_u", "_v"}


def test_spectral_norm_gradient_against_jax():
    m = nn.Linear(5, 3)
    PZ.spectral_norm(m)
    m.eval()
    sn = m.parametrizations.weight[0]
    u, v = jnp.asarray(_np(sn._u)), jnp.asarray(_np(sn._v))
    W0 = m.parametrizations.weight.original
    (m.weight * tg.arange(15.0).reshape(3, 5)).sum().backward()

    def f(W):
        return (W / jnp.vdot(u, W @ v) * jnp.arange(15.0).reshape(3, 5)).sum()

    np.testing.assert_allclose(
        _np(W0.grad), np.asarray(jax.grad(f)(jnp.asarray(_np(W0)))), rtol=1e-5, atol=1e-6
    )


@pytest.mark.parametrize("orthogonal_map", ["matrix_exp", "cayley", "householder"])
@pytest.mark.parametrize("shape", slow_after([(4, 4), (6, 3), (3, 6)], keep=1))
def test_orthogonal_is_orthogonal(orthogonal_map, shape):
    m = nn.Linear(shape[1], shape[0])
    PZ.orthogonal(m, orthogonal_map=orthogonal_map)
    Q = _np(m.weight)
    if shape[0] >= shape[1]:
        np.testing.assert_allclose(Q.T @ Q, np.eye(shape[1]), atol=1e-5)
    else:
        np.testing.assert_allclose(Q @ Q.T, np.eye(shape[0]), atol=1e-5)
    # the trivialization starts at the weight's orthogonalisation: the original is -I
    orig = _np(m.parametrizations.weight.original)
    np.testing.assert_array_equal(orig, -np.eye(*shape))
    m.weight.sum().backward()
    assert m.parametrizations.weight.original.grad is not None


def test_orthogonal_keeps_an_orthogonal_weight_and_grads_against_jax():
    Q0 = np.linalg.qr(np.random.RandomState(0).randn(4, 4))[0].astype(np.float32)
    m = nn.Linear(4, 4, bias=False)
    with tg.no_grad():
        m.weight.copy_(tg.tensor(Q0))
    PZ.orthogonal(m, orthogonal_map="cayley")
    np.testing.assert_allclose(_np(m.weight), Q0, atol=1e-6)
    X = m.parametrizations.weight.original
    with tg.no_grad():
        X.copy_(tg.tensor(np.random.RandomState(1).randn(4, 4).astype(np.float32) * 0.1))
    target = jnp.asarray(np.random.RandomState(2).randn(4, 4).astype(np.float32))
    (m.weight * tg.tensor(np.asarray(target))).sum().backward()
    base = jnp.asarray(_np(m.parametrizations.weight[0].base))

    def f(X):
        A = jnp.tril(X)
        A = A - A.T
        Id = jnp.eye(4)
        return (base @ jnp.linalg.solve(Id - 0.5 * A, Id + 0.5 * A) * target).sum()

    np.testing.assert_allclose(
        _np(X.grad), np.asarray(jax.grad(f)(jnp.asarray(_np(X)))), rtol=1e-4, atol=1e-5
    )


def test_orthogonal_errors():
    with pytest.raises(ValueError, match="Expected a matrix or batch of matrices"):
        PZ.orthogonal(nn.Linear(2, 2), "bias")
    with pytest.raises(ValueError, match="orthogonal_map has to be one of"):
        PZ.orthogonal(nn.Linear(2, 2), orthogonal_map="qr")
    with pytest.raises(ValueError, match="has no parameter or buffer with name"):
        PZ.orthogonal(nn.Linear(2, 2), "nope")
    m = PZ.orthogonal(nn.Linear(3, 3), orthogonal_map="matrix_exp", use_trivialization=False)
    with pytest.raises(NotImplementedError, match="use_trivialization=False"):
        m.weight = tg.eye(3)
    m = PZ.orthogonal(nn.Linear(3, 5), orthogonal_map="householder", use_trivialization=False)
    Q = _np(m.weight)
    np.testing.assert_allclose(Q.T @ Q, np.eye(3), atol=1e-5)


def test_spectral_norm_errors():
    with pytest.raises(ValueError, match="Expected n_power_iterations to be positive"):
        PZ.spectral_norm(nn.Linear(2, 2), n_power_iterations=0)
    with pytest.raises(IndexError, match="Dimension out of range"):
        PZ.spectral_norm(nn.Linear(2, 2), dim=2)


# --- compiled training step ----------------------------------------------------------------------


@pytest.mark.filterwarnings("ignore::FutureWarning")
@pytest.mark.parametrize(
    "which",
    slow_after(
        [
            "weight_norm",
            "spectral_norm",
            "orthogonal",
            "legacy weight_norm",
            "legacy spectral_norm",
        ],
        keep=1,
    ),
)
def test_compiled_training_step_matches_eager(which):
    def run(compiled: bool):
        tg.manual_seed(0)
        model = nn.Sequential(nn.Linear(4, 4), nn.Tanh(), nn.Linear(4, 2))
        if which.startswith("legacy "):
            getattr(nn.utils, which.split()[1])(model[0])
        else:
            getattr(PZ, which)(model[0])
        opt = tg.optim.SGD(model.parameters(), lr=0.1)
        x, y = tg.randn(8, 4), tg.randn(8, 2)

        def step():
            opt.zero_grad()
            loss = ((model(x) - y) ** 2).mean()
            loss.backward()
            opt.step()
            return loss

        f = tg.compile(step, state=(model, opt)) if compiled else step
        losses = [float(f()) for _ in range(3)]
        state = {k: _np(v) for k, v in model.state_dict().items()}
        state["weight read after the step"] = _np(model[0].weight)
        return losses, state

    (le, se), (lc, sc) = run(False), run(True)
    np.testing.assert_allclose(lc, le, rtol=1e-5, atol=1e-6)
    assert list(sc) == list(se)
    for k in se:
        np.testing.assert_allclose(sc[k], se[k], rtol=1e-5, atol=1e-6, err_msg=k)


# --- legacy hooks, fusion, skip_init, functional_call, without PyTorch ---------------------------


def test_legacy_weight_norm():
    m = nn.Linear(3, 2)
    w = _np(m.weight)
    with pytest.warns(FutureWarning, match="torch.nn.utils.weight_norm` is deprecated"):
        nn.utils.weight_norm(m)
    assert list(m.state_dict()) == ["bias", "weight_g", "weight_v"]
    np.testing.assert_allclose(_np(m.weight_g), np.linalg.norm(w, axis=1, keepdims=True))
    x = tg.randn(2, 3)
    np.testing.assert_allclose(_np(m(x)), _np(x) @ w.T + _np(m.bias), rtol=1e-5, atol=1e-6)
    with pytest.raises(RuntimeError, match="Cannot register two weight_norm hooks"):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            nn.utils.weight_norm(m)
    nn.utils.remove_weight_norm(m)
    assert list(m.state_dict()) == ["bias", "weight"]
    with pytest.raises(ValueError, match="weight_norm of 'weight' not found in"):
        nn.utils.remove_weight_norm(m)


def test_legacy_spectral_norm():
    m = nn.Linear(5, 3)
    w = _np(m.weight)
    nn.utils.spectral_norm(m, n_power_iterations=50)
    assert list(m.state_dict()) == ["bias", "weight_orig", "weight_u", "weight_v"]
    m(tg.randn(1, 5))
    s = np.linalg.svd(w, compute_uv=False)[0]
    np.testing.assert_allclose(_np(m.weight), w / s, rtol=1e-4)
    with pytest.raises(RuntimeError, match="Cannot register two spectral_norm hooks"):
        nn.utils.spectral_norm(m)
    nn.utils.remove_spectral_norm(m)
    assert isinstance(m.weight, nn.Parameter)
    with pytest.raises(ValueError, match="spectral_norm of 'weight' not found in"):
        nn.utils.remove_spectral_norm(m)


def test_fuse_conv_bn_and_linear_bn_match_unfused():
    conv, bn = nn.Conv2d(2, 3, 3), nn.BatchNorm2d(3)
    with tg.no_grad():
        bn.running_mean.copy_(tg.randn(3))
        bn.running_var.copy_(tg.rand(3) + 0.5)
        bn.weight.copy_(tg.randn(3))
        bn.bias.copy_(tg.randn(3))
    conv.eval(), bn.eval()
    x = tg.randn(2, 2, 5, 5)
    fused = nn.utils.fuse_conv_bn_eval(conv, bn)
    np.testing.assert_allclose(_np(fused(x)), _np(bn(conv(x))), rtol=1e-4, atol=1e-5)
    lin, bn1 = nn.Linear(4, 3), nn.BatchNorm1d(3)
    with tg.no_grad():
        bn1.running_var.copy_(tg.rand(3) + 0.5)
    lin.eval(), bn1.eval()
    x = tg.randn(2, 4)
    fused = nn.utils.fuse_linear_bn_eval(lin, bn1)
    np.testing.assert_allclose(_np(fused(x)), _np(bn1(lin(x))), rtol=1e-4, atol=1e-5)
    with pytest.raises(AssertionError, match="Fusion only for eval!"):
        nn.utils.fuse_linear_bn_eval(lin.train(), bn1)


def test_skip_init():
    m = nn.utils.skip_init(nn.Linear, 3, 4)
    assert isinstance(m, nn.Linear) and m.weight.shape == (4, 3)
    with pytest.raises(RuntimeError, match="Expected a Module"):
        nn.utils.skip_init(int)

    class NoDevice(nn.Module):
        def __init__(self):
            super().__init__()

    with pytest.raises(RuntimeError, match="Module must support a 'device' arg"):
        nn.utils.skip_init(NoDevice)


def test_functional_call():
    m = nn.Linear(2, 2)
    w = m.weight
    new_w = tg.ones(2, 2, requires_grad=True)
    x = tg.randn(3, 2)
    with pytest.warns(FutureWarning, match="stateless.functional_call` is deprecated"):
        out = nn.utils.stateless.functional_call(m, {"weight": new_w}, (x,))
    np.testing.assert_allclose(_np(out), _np(x) @ np.ones((2, 2)) + _np(m.bias), rtol=1e-6)
    assert m.weight is w
    out.sum().backward()
    assert new_w.grad is not None and m.weight.grad is None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with pytest.raises(RuntimeError, match="Unexpected key\\(s\\): 'nope'"):
            nn.utils.stateless.functional_call(m, {"nope": new_w}, x, strict=True)
        # tied weights: one value replaces both names
        s = nn.Sequential(nn.Linear(2, 2, bias=False), nn.Linear(2, 2, bias=False))
        s[1].weight = s[0].weight
        out = nn.utils.stateless.functional_call(s, {"0.weight": new_w}, x)
        np.testing.assert_allclose(_np(out), _np(x) @ np.ones((2, 2)) @ np.ones((2, 2)))


# --- against PyTorch ----------------------------------------------------------------------------


def _load_from_torch(tm, m):
    m.load_state_dict({k: tg.tensor(v.detach().numpy()) for k, v in tm.state_dict().items()})


def _pairs(kind):
    torch = pytest.importorskip("torch")
    torch.manual_seed(0)
    if kind == "linear":
        return torch.nn.Linear(5, 4), nn.Linear(5, 4), (3, 5)
    return torch.nn.Conv2d(2, 3, 3), nn.Conv2d(2, 3, 3), (2, 2, 6, 6)


def _apply(lib_nn, kind_of_param, module, **kw):
    return getattr(lib_nn.utils.parametrizations, kind_of_param)(module, **kw)


@pytest.mark.filterwarnings("ignore:tracegrad. the backward")
@pytest.mark.parametrize("kind", slow_after(["linear", "conv"]))
@pytest.mark.parametrize(
    "param,kw",
    # The fast tier keeps each parametrization's defaults; its options run in the full suite.
    [
        (param, kw) if not kw else pytest.param(param, kw, marks=slow)
        for param, kw in [
            ("weight_norm", {}),
            ("weight_norm", {"dim": None}),
            ("weight_norm", {"dim": 1}),
            ("spectral_norm", {}),
            ("spectral_norm", {"n_power_iterations": 3}),
            ("orthogonal", {}),
            ("orthogonal", {"orthogonal_map": "cayley"}),
            ("orthogonal", {"orthogonal_map": "householder"}),
            ("orthogonal", {"orthogonal_map": "householder", "use_trivialization": False}),
            ("orthogonal", {"use_trivialization": False}),
        ]
    ],
)
def test_parametrizations_against_pytorch(kind, param, kw):
    torch = pytest.importorskip("torch")
    tm, m, xshape = _pairs(kind)
    if param == "orthogonal" and kind == "conv":
        kw = dict(kw)
    _load_from_torch(tm, m)
    _apply(torch.nn, param, tm, **kw)
    _apply(nn, param, m, **kw)
    assert list(m.state_dict()) == list(tm.state_dict())
    # the same originals, u/v and base: copy PyTorch's state into ours
    _load_from_torch(tm, m)
    x = np.random.RandomState(0).randn(*xshape).astype(np.float32)
    for _ in range(3):  # training mode: spectral norm's power iterations advance each call
        out_t = tm(torch.tensor(x))
        out = m(tg.tensor(x))
        np.testing.assert_allclose(_np(out), out_t.detach().numpy(), rtol=2e-4, atol=2e-5)
        (out_t**2).sum().backward()
        (out**2).sum().backward()
    for (n, p), (nt, pt) in zip(m.named_parameters(), tm.named_parameters()):
        assert n == nt
        np.testing.assert_allclose(_np(p.grad), pt.grad.numpy(), rtol=2e-3, atol=2e-4, err_msg=n)
    for (n, b), (nt, bt) in zip(m.named_buffers(), tm.named_buffers()):
        assert n == nt
        np.testing.assert_allclose(_np(b), bt.numpy(), rtol=1e-4, atol=1e-5, err_msg=n)
    # and back: our state_dict loads into PyTorch's module
    tm.load_state_dict({k: torch.tensor(_np(v)) for k, v in m.state_dict().items()})
    tm.eval(), m.eval()
    np.testing.assert_allclose(
        _np(m(tg.tensor(x))), tm(torch.tensor(x)).detach().numpy(), rtol=2e-4, atol=2e-5
    )


def test_spectral_norm_eval_does_not_update_u_v_as_pytorch():
    torch = pytest.importorskip("torch")
    tm, m, _ = _pairs("linear")
    _load_from_torch(tm, m)
    torch.nn.utils.parametrizations.spectral_norm(tm)
    PZ.spectral_norm(m)
    _load_from_torch(tm, m)
    tm.eval(), m.eval()
    u = _np(m.parametrizations.weight[0]._u)
    np.testing.assert_allclose(_np(m.weight), tm.weight.detach().numpy(), rtol=1e-5)
    np.testing.assert_array_equal(_np(m.parametrizations.weight[0]._u), u)


@pytest.mark.parametrize("which", ["weight_norm", "spectral_norm"])
def test_legacy_against_pytorch(which):
    torch = pytest.importorskip("torch")
    tm, m, xshape = _pairs("conv")
    _load_from_torch(tm, m)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        getattr(torch.nn.utils, which)(tm)
        getattr(nn.utils, which)(m)
    assert list(m.state_dict()) == list(tm.state_dict())
    _load_from_torch(tm, m)
    x = np.random.RandomState(0).randn(*xshape).astype(np.float32)
    for _ in range(2):
        out_t, out = tm(torch.tensor(x)), m(tg.tensor(x))
        np.testing.assert_allclose(_np(out), out_t.detach().numpy(), rtol=2e-4, atol=2e-5)
        (out_t**2).sum().backward()
        (out**2).sum().backward()
    for (n, p), (nt, pt) in zip(m.named_parameters(), tm.named_parameters()):
        assert n == nt
        np.testing.assert_allclose(_np(p.grad), pt.grad.numpy(), rtol=2e-3, atol=2e-4)
    for (n, b), (_, bt) in zip(m.named_buffers(), tm.named_buffers()):
        np.testing.assert_allclose(_np(b), bt.numpy(), rtol=1e-4, atol=1e-5, err_msg=n)


def test_fusion_against_pytorch():
    torch = pytest.importorskip("torch")
    tc, c, _ = _pairs("conv")
    _load_from_torch(tc, c)
    tbn, bn = torch.nn.BatchNorm2d(3), nn.BatchNorm2d(3)
    with torch.no_grad():
        tbn.running_mean.normal_()
        tbn.running_var.uniform_(0.5, 2)
        tbn.weight.normal_()
    _load_from_torch(tbn, bn)
    tc.eval(), c.eval(), tbn.eval(), bn.eval()
    tf = torch.nn.utils.fuse_conv_bn_eval(tc, tbn)
    f = nn.utils.fuse_conv_bn_eval(c, bn)
    for k, v in tf.state_dict().items():
        np.testing.assert_allclose(_np(f.state_dict()[k]), v.numpy(), rtol=1e-6, atol=1e-7)
    assert isinstance(f.weight, nn.Parameter) and f.weight.requires_grad


def test_parametrize_error_messages_match_pytorch():
    torch = pytest.importorskip("torch")

    def msg(fn):
        with pytest.raises(Exception) as e:
            fn()
        return type(e.value), str(e.value)

    class TShape(torch.nn.Module):
        def forward(self, X):
            return X.sum(0)

    class Shape(nn.Module):
        def forward(self, X):
            return X.sum(0)

    t = msg(
        lambda: torch.nn.utils.parametrize.register_parametrization(
            torch.nn.Linear(2, 2), "weight", TShape()
        )
    )
    o = msg(lambda: P.register_parametrization(nn.Linear(2, 2), "weight", Shape()))
    assert o[0] is t[0]
    assert o[1].replace("tracegrad.Size", "torch.Size") == t[1]
    t = msg(lambda: torch.nn.utils.parametrizations.orthogonal(torch.nn.Linear(2, 2), "bias"))
    o = msg(lambda: PZ.orthogonal(nn.Linear(2, 2), "bias"))
    assert o == t
    t = msg(
        lambda: torch.nn.utils.parametrizations.spectral_norm(
            torch.nn.Linear(2, 2), n_power_iterations=0
        )
    )
    o = msg(lambda: PZ.spectral_norm(nn.Linear(2, 2), n_power_iterations=0))
    assert o == t


def test_clip_grad_norm_deprecated_alias_and_memory_format_converters():
    p = tg.ones(3, requires_grad=True)
    p.grad = tg.full((3,), 4.0)
    with pytest.warns(FutureWarning, match="clip_grad_norm` is now deprecated"):
        total = nn.utils.clip_grad_norm(p, 1.0)
    np.testing.assert_allclose(float(total), np.sqrt(48.0), rtol=1e-6)
    np.testing.assert_allclose(_np(p.grad), np.full(3, 4.0 / (np.sqrt(48.0) + 1e-6)), rtol=1e-5)
    m = nn.Conv2d(1, 2, 3)
    w = m.weight
    assert nn.utils.convert_conv2d_weight_memory_format(m, tg.contiguous_format) is m
    assert m.weight is w
    with pytest.raises(NotImplementedError, match="JAX arrays have no strides"):
        nn.utils.convert_conv2d_weight_memory_format(m, tg.channels_last)
    with pytest.raises(NotImplementedError, match="JAX arrays have no strides"):
        nn.utils.convert_conv3d_weight_memory_format(m, tg.channels_last_3d)


_SIGNATURE_NAMES = [
    ("parametrize", "register_parametrization"),
    ("parametrize", "remove_parametrizations"),
    ("parametrize", "is_parametrized"),
    ("parametrize", "transfer_parametrizations_and_params"),
    ("parametrizations", "weight_norm"),
    ("parametrizations", "spectral_norm"),
    ("parametrizations", "orthogonal"),
    ("", "weight_norm"),
    ("", "remove_weight_norm"),
    ("", "spectral_norm"),
    ("", "remove_spectral_norm"),
    ("", "fuse_conv_bn_eval"),
    ("", "fuse_conv_bn_weights"),
    ("", "fuse_linear_bn_eval"),
    ("", "fuse_linear_bn_weights"),
    ("", "skip_init"),
    ("", "clip_grad_norm"),
    ("", "convert_conv2d_weight_memory_format"),
    ("stateless", "functional_call"),
]


@pytest.mark.parametrize("ns,name", _SIGNATURE_NAMES)
def test_signatures_match_pytorch(ns, name):
    import inspect

    torch = pytest.importorskip("torch")

    def get(root):
        obj = root.nn.utils
        for part in [p for p in ns.split(".") if p] + [name]:
            obj = getattr(obj, part)
        return obj

    def params(f):
        f = inspect.unwrap(f)
        return [(p.name, p.kind, p.default) for p in inspect.signature(f).parameters.values()]

    assert params(get(tg)) == params(get(torch))


def test_weight_norm_parametrization_loads_a_hook_based_checkpoint():
    old = nn.Linear(3, 2)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        nn.utils.weight_norm(old)
    sd = old.state_dict()
    assert "weight_g" in sd
    new = nn.Sequential(PZ.weight_norm(nn.Linear(3, 2)))
    new.load_state_dict({"0." + k: v for k, v in sd.items()})
    np.testing.assert_allclose(_np(new[0].parametrizations.weight.original0), _np(old.weight_g))
    np.testing.assert_allclose(_np(new[0].weight), _np(old.weight), rtol=1e-6)
    x = tg.randn(2, 3)
    np.testing.assert_allclose(_np(new(x)), _np(old(x)), rtol=1e-5, atol=1e-6)


@pytest.mark.filterwarnings("ignore::FutureWarning")
@pytest.mark.parametrize("legacy", [False, True])
def test_spectral_norm_conv_transpose_uses_dim_1_as_pytorch(legacy):
    torch = pytest.importorskip("torch")
    torch.manual_seed(0)
    tm, m = torch.nn.ConvTranspose2d(3, 4, 3), nn.ConvTranspose2d(3, 4, 3)
    _load_from_torch(tm, m)
    if legacy:
        torch.nn.utils.spectral_norm(tm)
        nn.utils.spectral_norm(m)
    else:
        torch.nn.utils.parametrizations.spectral_norm(tm)
        PZ.spectral_norm(m)
    _load_from_torch(tm, m)
    u = "weight_u" if legacy else "parametrizations.weight.0._u"
    assert tuple(m.state_dict()[u].shape) == (4,)
    x = np.random.RandomState(0).randn(1, 3, 5, 5).astype(np.float32)
    for _ in range(2):
        np.testing.assert_allclose(
            _np(m(tg.tensor(x))), tm(torch.tensor(x)).detach().numpy(), rtol=2e-4, atol=2e-5
        )
    np.testing.assert_allclose(_np(m.state_dict()[u]), tm.state_dict()[u].numpy(), rtol=1e-4)


def test_more_error_messages_match_pytorch():
    torch = pytest.importorskip("torch")

    def msg(fn):
        with pytest.raises(Exception) as e:
            fn()
        return type(e.value), str(e.value)

    class TSym(torch.nn.Module):
        def forward(self, X):
            return X.triu() + X.triu(1).mT

    tmod, mod = torch.nn.Linear(2, 2), nn.Linear(2, 2)
    pairs = [
        (
            lambda: torch.nn.utils.parametrize.register_parametrization(tmod, "nope", TSym()),
            lambda: P.register_parametrization(mod, "nope", _Symmetric()),
        ),
        (
            lambda: torch.nn.utils.parametrize.remove_parametrizations(tmod, "weight"),
            lambda: P.remove_parametrizations(mod, "weight"),
        ),
        (
            lambda: torch.nn.utils.remove_weight_norm(tmod),
            lambda: nn.utils.remove_weight_norm(mod),
        ),
        (
            lambda: torch.nn.utils.remove_spectral_norm(tmod),
            lambda: nn.utils.remove_spectral_norm(mod),
        ),
        (
            lambda: torch.nn.utils.parametrizations.orthogonal(tmod, orthogonal_map="x"),
            lambda: PZ.orthogonal(mod, orthogonal_map="x"),
        ),
        (
            lambda: torch.nn.utils.parametrizations.spectral_norm(tmod, dim=-3),
            lambda: PZ.spectral_norm(mod, dim=-3),
        ),
    ]
    for tf, f in pairs:
        assert msg(f) == msg(tf)
