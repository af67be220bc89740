"""Public API of the elementwise family: values against numpy / exact math, gradients against
hand-derived formulas, grad_fn names, in-place forms, clamp bounds, ties, and integer dtypes."""

from __future__ import annotations

import math

import numpy as np
import pytest

import tracegrad as tg

X = np.array([-3.5, -2.0, -0.7, -0.1, 0.0, 0.3, 1.2, 2.5, 4.0])
POS = np.array([0.1, 0.5, 1.0, 2.0, 7.5])
erf_np = np.vectorize(math.erf)
sigmoid_np = lambda x: 1 / (1 + np.exp(-x))


def grad_of(fn, x, **kw):
    """Value and gradient of ``fn(t).sum()`` at ``x`` (float64)."""
    t = tg.tensor(np.asarray(x, dtype=np.float64), requires_grad=True)
    y = fn(t, **kw)
    y.sum().backward()
    return np.asarray(y.detach()), np.asarray(t.grad)


# ------------------------------------------------------------------------------ unary values
UNARY = [
    ("log1p", np.log1p, POS),
    ("expm1", np.expm1, X),
    ("log2", np.log2, POS),
    ("log10", np.log10, POS),
    ("sqrt", np.sqrt, POS),
    ("rsqrt", lambda x: 1 / np.sqrt(x), POS),
    ("erf", erf_np, X),
    ("erfc", lambda x: 1 - erf_np(x), X),
    ("sin", np.sin, X),
    ("cos", np.cos, X),
    ("tan", np.tan, X / 3),
    ("tanh", np.tanh, X),
    ("sigmoid", sigmoid_np, X),
    ("relu", lambda x: np.maximum(x, 0), X),
    ("silu", lambda x: x * sigmoid_np(x), X),
    ("logsigmoid", lambda x: np.log(sigmoid_np(x)), X),
    ("mish", lambda x: x * np.tanh(np.log1p(np.exp(x))), X),
    (
        "selu",
        lambda x: 1.0507009873554805 * np.where(x > 0, x, 1.6732632423543772 * np.expm1(x)),
        X,
    ),
    ("relu6", lambda x: np.clip(x, 0, 6), X * 2),
    ("hardtanh", lambda x: np.clip(x, -1, 1), X),
    ("hardsigmoid", lambda x: np.clip(x / 6 + 0.5, 0, 1), X),
    ("hardswish", lambda x: x * np.clip(x + 3, 0, 6) / 6, X),
    ("floor", np.floor, X),
    ("ceil", np.ceil, X),
    ("trunc", np.trunc, X),
    ("frac", lambda x: x - np.trunc(x), X),
    ("square", np.square, X),
]


@pytest.mark.parametrize("name,ref,x", UNARY, ids=[u[0] for u in UNARY])
@pytest.mark.parametrize("dtype", [tg.float32, tg.float64], ids=["f32", "f64"])
def test_unary_values_function_and_method(name, ref, x, dtype):
    t = tg.tensor(x, dtype=dtype)
    tol = 1e-6 if dtype is tg.float32 else 1e-12
    for y in (getattr(tg, name)(t), getattr(t, name)()):
        assert y.dtype == dtype and y.shape == t.shape
        np.testing.assert_allclose(np.asarray(y), ref(x), rtol=tol, atol=tol)


GRAD_FN = {
    "log1p": "Log1PBackward0",
    "expm1": "Expm1Backward0",
    "log2": "Log2Backward0",
    "log10": "Log10Backward0",
    "sqrt": "SqrtBackward0",
    "rsqrt": "RsqrtBackward0",
    "erf": "ErfBackward0",
    "erfc": "ErfcBackward0",
    "sin": "SinBackward0",
    "cos": "CosBackward0",
    "tan": "TanBackward0",
    "tanh": "TanhBackward0",
    "sigmoid": "SigmoidBackward0",
    "relu": "ReluBackward0",
    "leaky_relu": "LeakyReluBackward0",
    "elu": "EluBackward0",
    "selu": "EluBackward0",
    "celu": "EluBackward0",
    "gelu": "GeluBackward0",
    "silu": "SiluBackward0",
    "softplus": "SoftplusBackward0",
    "logsigmoid": "LogSigmoidBackward0",
    "mish": "MishBackward0",
    "hardtanh": "HardtanhBackward0",
    "relu6": "HardtanhBackward0",
    "hardsigmoid": "HardsigmoidBackward0",
    "hardswish": "HardswishBackward0",
    "floor": "FloorBackward0",
    "ceil": "CeilBackward0",
    "round": "RoundBackward0",
    "trunc": "TruncBackward0",
    "fix": "TruncBackward0",
    "frac": "FracBackward0",
    "square": "PowBackward0",
}


@pytest.mark.parametrize("name,expected", sorted(GRAD_FN.items()))
def test_grad_fn_names(name, expected):
    x = tg.tensor(POS, requires_grad=True)
    assert getattr(tg, name)(x).grad_fn.name() == expected
    assert getattr(x, name)().grad_fn.name() == expected


def test_grad_fn_names_with_params():
    x = tg.tensor(X, requires_grad=True)
    t = tg.tensor(X * 0.5)
    names = {
        "RoundBackward1": x.round(decimals=2),
        "ClampBackward1": x.clamp(-1, 1),
        "ClampBackward0": x.clamp(t, None),
        "ClampMinBackward0": x.clamp_min(0.0),
        "ClampMinBackward1": x.clamp_min(t),
        "ClampMaxBackward0": x.clamp_max(0.0),
        "ClampMaxBackward1": x.clamp_max(t),
        "MaximumBackward0": tg.maximum(x, t),
        "MinimumBackward0": tg.minimum(x, t),
        "FmaxBackward0": tg.fmax(x, t),
        "FminBackward0": tg.fmin(x, t),
        "LerpBackward0": x.lerp(t, 0.5),
        "LerpBackward1": x.lerp(t, t),
        "AddcmulBackward0": x.addcmul(t, t),
        "AddcdivBackward0": x.addcdiv(t, t + 10),
        "WhereBackward0": tg.where(t > 0, x, 0.0),
    }
    for name, y in names.items():
        assert y.grad_fn.name() == name


# ------------------------------------------------------------------------- gradients, exactly
@pytest.mark.parametrize(
    "name,deriv,x",
    [
        ("log1p", lambda x: 1 / (1 + x), POS),
        ("log2", lambda x: 1 / (x * math.log(2)), POS),
        ("log10", lambda x: 1 / (x * math.log(10)), POS),
        ("sqrt", lambda x: 0.5 / np.sqrt(x), POS),
        ("rsqrt", lambda x: -0.5 * x**-1.5, POS),
        ("erf", lambda x: 2 / math.sqrt(math.pi) * np.exp(-x * x), X),
        ("tan", lambda x: 1 / np.cos(x) ** 2, X / 3),
        ("tanh", lambda x: 1 - np.tanh(x) ** 2, X),
        ("sigmoid", lambda x: sigmoid_np(x) * (1 - sigmoid_np(x)), X),
        ("silu", lambda x: sigmoid_np(x) * (1 + x * (1 - sigmoid_np(x))), X),
        ("logsigmoid", lambda x: 1 - sigmoid_np(x), X),
        ("relu", lambda x: (x > 0).astype(float), X),  # relu'(0) = 0
        ("hardsigmoid", lambda x: np.where(np.abs(x) < 3, 1 / 6, 0.0), X),
        ("hardswish", lambda x: np.where(x < -3, 0, np.where(x <= 3, x / 3 + 0.5, 1.0)), X),
        ("hardtanh", lambda x: (np.abs(x) < 1).astype(float), np.array([-1.0, 1.0, 0.5, 2.0])),
        ("floor", lambda x: 0 * x, X),
        ("ceil", lambda x: 0 * x, X),
        ("round", lambda x: 0 * x, X),
        ("frac", lambda x: 1 + 0 * x, X),
        ("square", lambda x: 2 * x, X),
    ],
)
def test_gradients_match_exact_derivatives(name, deriv, x):
    _, g = grad_of(getattr(tg, name), x)
    np.testing.assert_allclose(g, deriv(x), rtol=1e-12, atol=1e-12)


def test_gelu_exact_uses_erf():
    y, g = grad_of(tg.gelu, X)
    cdf = 0.5 * (1 + erf_np(X / math.sqrt(2)))
    pdf = np.exp(-X * X / 2) / math.sqrt(2 * math.pi)
    np.testing.assert_allclose(y, X * cdf, rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(g, cdf + X * pdf, rtol=1e-12, atol=1e-14)


def test_gelu_tanh_approximation():
    y, g = grad_of(tg.gelu, X, approximate="tanh")
    k, c = math.sqrt(2 / math.pi), 0.044715
    t = np.tanh(k * (X + c * X**3))
    np.testing.assert_allclose(y, 0.5 * X * (1 + t), rtol=1e-12, atol=1e-14)
    expected = 0.5 * (1 + t) + 0.5 * X * (1 - t * t) * k * (1 + 3 * c * X * X)
    np.testing.assert_allclose(g, expected, rtol=1e-12, atol=1e-14)
    assert not np.allclose(y, np.asarray(tg.gelu(tg.tensor(X, dtype=tg.float64))), atol=1e-6)
    with pytest.raises(RuntimeError, match="approximate argument must be either none or tanh"):
        tg.gelu(tg.tensor(X), approximate="fast")


def test_softplus_threshold_region_is_linear():
    x = np.array([-30.0, -1.0, 0.0, 2.0, 9.0, 10.5, 30.0])
    y, g = grad_of(tg.softplus, x, beta=2.0, threshold=20.0)
    soft = np.log1p(np.exp(2 * x)) / 2
    above = 2 * x > 20
    np.testing.assert_allclose(y, np.where(above, x, soft), rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(g, np.where(above, 1.0, sigmoid_np(2 * x)), rtol=1e-12)
    # Default beta=1, threshold=20; no overflow far out in float32.
    y32 = tg.softplus(tg.tensor([-100.0, 0.0, 100.0]))
    np.testing.assert_allclose(np.asarray(y32), [0.0, math.log(2), 100.0], atol=1e-6)


def test_stable_activations_at_large_magnitudes_float32():
    x = tg.tensor([-200.0, -50.0, 50.0, 200.0], requires_grad=True)
    for fn in (tg.sigmoid, tg.tanh, tg.logsigmoid, tg.silu, tg.mish, tg.elu, tg.softplus):
        y = fn(x)
        y.sum().backward()
        assert np.isfinite(np.asarray(y)).all() and np.isfinite(np.asarray(x.grad)).all(), fn
        x.grad = None
    np.testing.assert_allclose(np.asarray(tg.logsigmoid(x)), [-200.0, -50.0, 0.0, 0.0], atol=1e-6)
    for fn in (tg.elu, tg.selu, tg.softplus, tg.mish, tg.silu, tg.gelu, tg.logsigmoid):
        (g,) = tg.autograd.grad(fn(x).sum(), [x], create_graph=True)
        (h,) = tg.autograd.grad(g.sum(), [x])  # the discarded branches must not leak NaN
        assert np.isfinite(np.asarray(h)).all(), fn


def test_leaky_relu_slope_and_elu_family():
    x = np.array([-2.0, -0.5, 0.0, 0.5, 3.0])
    y, g = grad_of(tg.leaky_relu, x, negative_slope=0.2)
    np.testing.assert_allclose(y, np.where(x > 0, x, 0.2 * x))
    np.testing.assert_allclose(g, np.where(x > 0, 1.0, 0.2))  # slope at 0 is the negative one
    _, g = grad_of(tg.leaky_relu, x)
    np.testing.assert_allclose(g, np.where(x > 0, 1.0, 0.01))

    y, g = grad_of(tg.elu, x, alpha=0.7)
    np.testing.assert_allclose(y, np.where(x > 0, x, 0.7 * np.expm1(x)), rtol=1e-12)
    np.testing.assert_allclose(g, np.where(x > 0, 1.0, 0.7 * np.exp(x)), rtol=1e-12)
    y, g = grad_of(tg.celu, x, alpha=0.5)
    np.testing.assert_allclose(y, np.where(x > 0, x, 0.5 * np.expm1(x / 0.5)), rtol=1e-12)
    np.testing.assert_allclose(g, np.where(x > 0, 1.0, np.exp(x / 0.5)), rtol=1e-12)


def test_second_order_tanh_and_sigmoid():
    x = tg.tensor(X, requires_grad=True)
    (g,) = tg.autograd.grad(tg.tanh(x).sum(), [x], create_graph=True)
    (h,) = tg.autograd.grad(g.sum(), [x])
    t = np.tanh(X)
    np.testing.assert_allclose(np.asarray(h), -2 * t * (1 - t * t), rtol=1e-5, atol=1e-6)
    (g,) = tg.autograd.grad(tg.sigmoid(x).sum(), [x], create_graph=True)
    (h,) = tg.autograd.grad(g.sum(), [x])
    s = sigmoid_np(X)
    np.testing.assert_allclose(np.asarray(h), s * (1 - s) * (1 - 2 * s), rtol=1e-5, atol=1e-6)


# -------------------------------------------------------------------------------------- in place
def test_relu_inplace_on_non_leaf():
    x = tg.tensor(X, requires_grad=True)
    y = x * 2
    out = y.relu_()
    assert out is y and y.grad_fn.name() == "ReluBackward0"
    (y * y).sum().backward()
    np.testing.assert_allclose(np.asarray(x.grad), np.where(X > 0, 8 * X, 0.0), rtol=1e-6)


@pytest.mark.parametrize(
    "name,args",
    [
        ("sigmoid", ()),
        ("tanh", ()),
        ("sqrt", ()),
        ("gelu", ()),
        ("clamp", (-1, 1)),
        ("leaky_relu", (0.1,)),
        ("hardswish", ()),
        ("round", ()),
        ("square", ()),
        ("clip", (0, 1)),
    ],
)
def test_inplace_variants_match_out_of_place(name, args):
    x = tg.tensor(POS, requires_grad=True)
    ref = getattr(tg, name)(x * 1.0, *args)
    y = x * 1.0
    v = y._version
    assert getattr(y, name + "_")(*args) is y
    assert y._version == v + 1
    assert y.grad_fn.name() == ref.grad_fn.name()
    np.testing.assert_allclose(np.asarray(y.detach()), np.asarray(ref.detach()))
    y.sum().backward()
    g_inplace = np.asarray(x.grad)
    x.grad = None
    ref.sum().backward()
    np.testing.assert_allclose(g_inplace, np.asarray(x.grad))


def test_inplace_guards_and_functional_inplace_flag():
    leaf = tg.tensor(X, requires_grad=True)
    with pytest.raises(RuntimeError, match="leaf Variable"):
        leaf.relu_()
    with pytest.raises(RuntimeError, match="can't be cast"):
        tg.tensor([1, 4]).sqrt_()  # the float result does not fit an integer tensor
    t = tg.tensor(X)
    assert tg.relu(t, inplace=True) is t
    np.testing.assert_allclose(np.asarray(t), np.maximum(X, 0))


# ----------------------------------------------------------------------------------------- clamp
def test_clamp_scalar_bounds_and_boundary_gradient():
    x = np.array([-2.0, -1.0, 0.0, 1.0, 2.0])
    y, g = grad_of(tg.clamp, x, min=-1.0, max=1.0)
    np.testing.assert_allclose(y, np.clip(x, -1, 1))
    np.testing.assert_allclose(g, [0, 1, 1, 1, 0])  # at the bounds the input keeps the gradient
    _, g = grad_of(tg.clamp_min, x, min=0.0)
    np.testing.assert_allclose(g, [0, 0, 1, 1, 1])
    _, g = grad_of(tg.clamp_max, x, max=0.0)
    np.testing.assert_allclose(g, [1, 1, 1, 0, 0])
    assert tg.clip is tg.clamp
    np.testing.assert_allclose(np.asarray(tg.tensor(x).clip(max=0.5)), np.minimum(x, 0.5))
    y = tg.clamp(tg.tensor(x, dtype=tg.float32), np.float64(-0.5), np.float64(0.5))
    assert y.dtype == tg.float32  # numpy scalars act as Python numbers
    with pytest.raises(RuntimeError, match="At least one of 'min' or 'max' must not be None"):
        tg.clamp(tg.tensor(x))


def test_clamp_tensor_bounds_gradients_flow_to_bounds():
    x = tg.tensor([-3.0, -1.0, 0.0, 1.0, 3.0, 0.5], requires_grad=True)
    lo = tg.tensor([-2.0, -1.0, -1.0, -1.0, -1.0, 2.0], requires_grad=True)
    hi = tg.tensor([2.0, 2.0, 1.0, 1.0, 2.0, 1.0], requires_grad=True)  # last: lo > hi
    y = tg.clamp(x, lo, hi)
    assert y.grad_fn.name() == "ClampBackward0"
    np.testing.assert_allclose(np.asarray(y.detach()), [-2.0, -1.0, 0.0, 1.0, 2.0, 1.0])
    y.backward(tg.tensor([1.0, 2.0, 3.0, 4.0, 5.0, 6.0]))
    np.testing.assert_allclose(np.asarray(x.grad), [0, 2, 3, 4, 0, 0])
    np.testing.assert_allclose(np.asarray(lo.grad), [1, 0, 0, 0, 0, 0])
    np.testing.assert_allclose(np.asarray(hi.grad), [0, 0, 0, 0, 5, 6])


def test_clamp_tensor_bounds_broadcast_and_one_sided():
    x = tg.tensor(np.arange(6.0).reshape(2, 3), requires_grad=True)
    lo = tg.tensor([1.5], requires_grad=True)
    y = tg.clamp_min(x, lo)
    assert y.shape == (2, 3) and y.grad_fn.name() == "ClampMinBackward1"
    y.sum().backward()
    np.testing.assert_allclose(np.asarray(lo.grad), [2.0])
    np.testing.assert_allclose(np.asarray(x.grad), [[0, 0, 1], [1, 1, 1]])
    np.testing.assert_allclose(
        np.asarray(tg.clamp(x, max=tg.tensor([1.0, 2.0, 3.0])).detach()), [[0, 1, 2], [1, 2, 3]]
    )


# ------------------------------------------------------------------------- minimum, maximum, fmin
def test_minimum_maximum_split_ties_equally():
    a = tg.tensor([1.0, 2.0, 3.0], requires_grad=True)
    b = tg.tensor([2.0, 2.0, 1.0], requires_grad=True)
    tg.maximum(a, b).backward(tg.tensor([1.0, 4.0, 1.0]))
    np.testing.assert_allclose(np.asarray(a.grad), [0.0, 2.0, 1.0])
    np.testing.assert_allclose(np.asarray(b.grad), [1.0, 2.0, 0.0])
    a.grad = b.grad = None
    y = a.minimum(b)
    np.testing.assert_allclose(np.asarray(y.detach()), [1.0, 2.0, 1.0])
    y.backward(tg.tensor([1.0, 4.0, 1.0]))
    np.testing.assert_allclose(np.asarray(a.grad), [1.0, 2.0, 0.0])
    np.testing.assert_allclose(np.asarray(b.grad), [0.0, 2.0, 1.0])


def test_maximum_propagates_nan_fmax_ignores_it():
    a = tg.tensor([1.0, math.nan, math.nan], requires_grad=True)
    b = tg.tensor([math.nan, 2.0, math.nan], requires_grad=True)
    assert np.isnan(np.asarray(tg.maximum(a, b).detach())).all()
    y = tg.fmax(a, b)
    np.testing.assert_array_equal(np.asarray(y.detach()), [1.0, 2.0, math.nan])
    y.sum().backward()
    np.testing.assert_allclose(np.asarray(a.grad), [1.0, 0.0, 1.0])
    np.testing.assert_allclose(np.asarray(b.grad), [0.0, 1.0, 0.0])
    np.testing.assert_array_equal(np.asarray(tg.fmin(a, b).detach()), [1.0, 2.0, math.nan])


def test_maximum_promotes_and_broadcasts():
    y = tg.maximum(tg.tensor([[1], [5]]), tg.tensor([2.5, 3.0]))
    assert y.dtype == tg.float32 and y.shape == (2, 2)
    np.testing.assert_allclose(np.asarray(y), [[2.5, 3.0], [5.0, 5.0]])


# ------------------------------------------------------------------------ lerp, addcmul, addcdiv
def test_lerp_scalar_and_tensor_weight():
    s = tg.tensor([0.0, 1.0], requires_grad=True)
    e = tg.tensor([10.0, 3.0], requires_grad=True)
    y = tg.lerp(s, e, 0.25)
    np.testing.assert_allclose(np.asarray(y.detach()), [2.5, 1.5])
    y.sum().backward()
    np.testing.assert_allclose(np.asarray(s.grad), [0.75, 0.75])
    np.testing.assert_allclose(np.asarray(e.grad), [0.25, 0.25])
    s.grad = e.grad = None
    w = tg.tensor([0.5, 2.0], requires_grad=True)
    y = s.lerp(e, w)
    np.testing.assert_allclose(np.asarray(y.detach()), [5.0, 5.0])
    y.sum().backward()
    np.testing.assert_allclose(np.asarray(s.grad), [0.5, -1.0])
    np.testing.assert_allclose(np.asarray(e.grad), [0.5, 2.0])
    np.testing.assert_allclose(np.asarray(w.grad), [10.0, 2.0])


def test_addcmul_addcdiv():
    a = tg.tensor([1.0, 2.0], requires_grad=True)
    t1 = tg.tensor([3.0, 4.0], requires_grad=True)
    t2 = tg.tensor([2.0, 8.0], requires_grad=True)
    y = tg.addcmul(a, t1, t2, value=0.5)
    np.testing.assert_allclose(np.asarray(y.detach()), [4.0, 18.0])
    y.sum().backward()
    np.testing.assert_allclose(np.asarray(t1.grad), [1.0, 4.0])
    np.testing.assert_allclose(np.asarray(t2.grad), [1.5, 2.0])
    a.grad = t1.grad = t2.grad = None
    y = a.addcdiv(t1, t2, value=2)
    np.testing.assert_allclose(np.asarray(y.detach()), [4.0, 3.0])
    y.sum().backward()
    np.testing.assert_allclose(np.asarray(a.grad), [1.0, 1.0])
    np.testing.assert_allclose(np.asarray(t1.grad), [1.0, 0.25])
    np.testing.assert_allclose(np.asarray(t2.grad), [-1.5, -0.125])
    with pytest.raises(RuntimeError, match="Integer division with addcdiv"):
        tg.addcdiv(tg.tensor([1]), tg.tensor([1]), tg.tensor([2]))


# -------------------------------------------------------------------------------- integer dtypes
def test_integer_inputs():
    i = tg.tensor([-3, 0, 2, 9])
    assert i.dtype == tg.int64
    for name in ("sqrt", "exp", "sin", "tanh", "sigmoid", "log1p", "erf", "gelu", "silu"):
        assert getattr(tg, name)(i).dtype == tg.float32, name
    np.testing.assert_allclose(np.asarray(tg.sin(i)), np.sin([-3, 0, 2, 9]), rtol=1e-6)
    for name in ("floor", "ceil", "round", "trunc", "relu", "square"):
        y = getattr(tg, name)(i)
        assert y.dtype == tg.int64, name
    np.testing.assert_array_equal(np.asarray(tg.relu(i)), [0, 0, 2, 9])
    np.testing.assert_array_equal(np.asarray(tg.square(i)), [9, 0, 4, 81])
    y = tg.clamp(i, 0, 5)
    assert y.dtype == tg.int64
    np.testing.assert_array_equal(np.asarray(y), [0, 0, 2, 5])
    y = tg.clamp(i, min=0.5)  # a float bound promotes, as in PyTorch
    assert y.dtype == tg.float32
    np.testing.assert_allclose(np.asarray(y), [0.5, 0.5, 2, 9])
    assert tg.clamp(i.int(), tg.tensor([1, 1, 1, 1], dtype=tg.int32)).dtype == tg.int32
    assert tg.maximum(i, tg.tensor([1, 1, 1, 1])).dtype == tg.int64


def test_round_decimals_and_half_to_even():
    np.testing.assert_allclose(np.asarray(tg.tensor([0.5, 1.5, 2.5, -0.5]).round()), [0, 2, 2, 0])
    np.testing.assert_allclose(
        np.asarray(tg.round(tg.tensor([1.2345, 123.4], dtype=tg.float64), decimals=2)),
        [1.23, 123.4],
    )
    np.testing.assert_allclose(
        np.asarray(tg.tensor([1234.0, 5678.0]).round(decimals=-2)), [1200, 5700]
    )


def test_hardtanh_and_relu6():
    x = tg.tensor([-3.0, -0.5, 0.0, 5.0, 7.0])
    np.testing.assert_allclose(np.asarray(tg.hardtanh(x, -2.0, 2.0)), [-2, -0.5, 0, 2, 2])
    np.testing.assert_allclose(np.asarray(x.relu6()), [0, 0, 0, 5, 6])
    with pytest.raises(ValueError, match="min_val cannot be greater than max_val"):
        tg.hardtanh(x, 2.0, -2.0)


# ----------------------------------------------------------------------------------------- where
def test_where_scalars_promotion_and_methods():
    x = tg.tensor([-1.0, 2.0, -3.0], requires_grad=True)
    cond = x > 0
    y = tg.where(cond, x, 0.0)
    assert y.dtype == tg.float32
    np.testing.assert_allclose(np.asarray(y.detach()), [0.0, 2.0, 0.0])
    y.sum().backward()
    np.testing.assert_allclose(np.asarray(x.grad), [0.0, 1.0, 0.0])
    other = tg.tensor([10.0, 20.0, 30.0])
    np.testing.assert_allclose(np.asarray(x.where(cond, other).detach()), [10.0, 2.0, 30.0])
    assert tg.where(cond, 1.0, 0.0).dtype == tg.float32
    assert tg.where(cond, 1, 0).dtype == tg.int64
    z = tg.where(cond, tg.tensor([1, 2, 3]), 0.5)
    assert z.dtype == tg.float32
    np.testing.assert_allclose(np.asarray(z), [0.5, 2.0, 0.5])
    assert tg.where(cond, tg.tensor([1, 2, 3]), tg.tensor([1.0], dtype=tg.float64)).dtype == (
        tg.float64
    )
    with pytest.raises(RuntimeError, match="where expected condition to be a boolean tensor"):
        tg.where(tg.tensor([1.0, 0.0, 1.0]), x, 0.0)


def test_torch_parity_if_available():
    torch = pytest.importorskip("torch")
    x = np.linspace(-4, 4, 17)
    for name in ("gelu", "silu", "mish", "hardswish", "selu", "logsigmoid", "softplus"):
        tt = torch.tensor(x, requires_grad=True)
        expected = getattr(torch.nn.functional, name)(tt)
        expected.sum().backward()
        y, g = grad_of(getattr(tg, name), x)
        np.testing.assert_allclose(y, expected.detach().numpy(), rtol=1e-10, atol=1e-12)
        np.testing.assert_allclose(g, tt.grad.numpy(), rtol=1e-10, atol=1e-12)
