"""sort/argsort/msort/topk/kthvalue and the functions of ops/mathfns.py against PyTorch 2.13 (CPU):
values, dtypes, named-tuple types and fields, grad_fn names, gradients, in-place forms, errors."""

from __future__ import annotations

import math

import numpy as np
import pytest

import tracegrad as tg

from .tiers import slow_after

torch = pytest.importorskip("torch")

NAN, INF = math.nan, math.inf
SPECIALS = [1.0, NAN, 0.0, -0.0, INF, -INF, 2.0, 1.0, NAN, -3.5]
_rng = np.random.default_rng(0)
X = _rng.standard_normal((3, 5))
U = _rng.uniform(-0.9, 0.9, (3, 5))
P = _rng.uniform(0.2, 3.0, (3, 5))


def _both(values, dtype="float64", requires_grad=False):
    a = np.asarray(values)
    return (
        tg.tensor(a, dtype=getattr(tg, dtype), requires_grad=requires_grad),
        torch.tensor(a, dtype=getattr(torch, dtype), requires_grad=requires_grad),
    )


def _same(ours, theirs, exact: bool = False, atol: float = 1e-9):
    o = np.asarray(ours.detach()) if isinstance(ours, tg.Tensor) else np.asarray(ours)
    t = theirs.detach().numpy() if isinstance(theirs, torch.Tensor) else np.asarray(theirs)
    assert o.shape == t.shape
    if isinstance(ours, tg.Tensor):
        assert str(ours.dtype).split(".")[-1] == str(theirs.dtype).split(".")[-1]
    if exact or o.dtype.kind in "biu":
        np.testing.assert_array_equal(o, t)
        if o.dtype.kind == "f":  # signed zeros too
            np.testing.assert_array_equal(np.signbit(o), np.signbit(t))
    else:
        np.testing.assert_allclose(o, t, rtol=1e-6, atol=atol, equal_nan=True)


def _grad_fn(t):
    if t.grad_fn is None:
        return None
    return t.grad_fn.name() if isinstance(t, tg.Tensor) else type(t.grad_fn).__name__


# ------------------------------------------------------------------------------------------ sort
@pytest.mark.parametrize("descending", [False, True])
@pytest.mark.parametrize(
    "values,dtype",
    [
        (SPECIALS, "float32"),
        ([3, 1, 2, 1, -5, 3], "int64"),
        ([True, False, True, False], "bool"),
        ([200, 3, 3, 0], "uint8"),
    ],
)
def test_sort_order_matches_pytorch(values, dtype, descending):
    a, b = _both(values, dtype)
    ours = tg.sort(a, descending=descending, stable=True)
    theirs = torch.sort(b, descending=descending, stable=True)
    _same(ours.values, theirs.values, exact=True)
    _same(ours.indices, theirs.indices)
    _same(
        tg.argsort(a, descending=descending, stable=True),
        torch.argsort(b, descending=descending, stable=True),
    )


def test_sort_namedtuple_dims_and_gradient():
    a, b = _both(X, requires_grad=True)
    ours, theirs = tg.sort(a, dim=0, descending=True), torch.sort(b, dim=0, descending=True)
    assert isinstance(ours, tg.return_types.sort) and isinstance(ours, tuple)
    assert "values=" in repr(ours) and "indices=" in repr(ours)
    values, indices = ours
    _same(values, theirs.values)
    _same(indices, theirs.indices)
    assert _grad_fn(values) == _grad_fn(theirs.values) == "SortBackward0"
    assert not indices.requires_grad
    w = _rng.standard_normal((3, 5))
    (values * tg.tensor(w)).sum().backward()
    (theirs.values * torch.tensor(w)).sum().backward()
    _same(a.grad, b.grad)
    assert a.sort().values.shape == (3, 5)  # the method form
    assert tg.argsort(a).dtype == tg.int64


def test_sort_zero_d_and_msort():
    a, b = _both(2.5)
    _same(tg.sort(a).values, torch.sort(b).values)
    _same(tg.sort(a).indices, torch.sort(b).indices)
    c, d = _both(X, requires_grad=True)
    ours, theirs = tg.msort(c), torch.msort(d)
    _same(ours, theirs)
    assert _grad_fn(ours) == _grad_fn(theirs) == "SortBackward0"
    _same(c.msort(), theirs)


def test_sort_errors():
    a, b = _both(X)
    with pytest.raises(IndexError):
        tg.sort(a, dim=2)
    with pytest.raises(IndexError):
        torch.sort(b, dim=2)


# ------------------------------------------------------------------------------------------ topk
@pytest.mark.parametrize("largest", [True, False])
@pytest.mark.parametrize("dim", [0, 1, -1])
def test_topk_matches_pytorch(largest, dim):
    a, b = _both(X, requires_grad=True)
    k = 2
    ours, theirs = (
        tg.topk(a, k, dim=dim, largest=largest),
        torch.topk(b, k, dim=dim, largest=largest),
    )
    assert type(ours).__name__ == type(theirs).__name__ == "topk"
    _same(ours.values, theirs.values)
    _same(ours.indices, theirs.indices)
    assert _grad_fn(ours.values) == _grad_fn(theirs.values) == "TopkBackward0"
    w = _rng.standard_normal(tuple(theirs.values.shape))
    (ours.values * tg.tensor(w)).sum().backward()
    (theirs.values * torch.tensor(w)).sum().backward()
    _same(a.grad, b.grad)


def test_topk_nan_is_largest_and_ties_take_the_first_index():
    a, b = _both(SPECIALS, "float32")
    for largest in (True, False):
        ours, theirs = tg.topk(a, 4, largest=largest), torch.topk(b, 4, largest=largest)
        _same(ours.values, theirs.values)  # 0.0 and -0.0 tie: PyTorch may take either first
    ties = tg.topk(tg.tensor([1.0, 3.0, 3.0, 2.0, 3.0]), 2)
    assert ties.indices.tolist() == [1, 2]


def test_topk_errors_and_zero_d():
    a, b = _both(X)
    for k in (6, -1):
        with pytest.raises(RuntimeError, match="selected index k out of range"):
            tg.topk(a, k)
        with pytest.raises(RuntimeError, match="selected index k out of range"):
            torch.topk(b, k)
    c, d = _both(3.0)
    _same(tg.topk(c, 1).values, torch.topk(d, 1).values)
    _same(a.topk(0).values, torch.topk(b, 0).values)


# -------------------------------------------------------------------------------------- kthvalue
@pytest.mark.parametrize("keepdim", [False, True])
def test_kthvalue_matches_pytorch(keepdim):
    a, b = _both(X, requires_grad=True)
    ours, theirs = tg.kthvalue(a, 2, 0, keepdim), torch.kthvalue(b, 2, 0, keepdim)
    assert type(ours).__name__ == type(theirs).__name__ == "kthvalue"
    _same(ours.values, theirs.values)
    _same(ours.indices, theirs.indices)
    assert _grad_fn(ours.values) == _grad_fn(theirs.values) == "KthvalueBackward0"
    ours.values.sum().backward()
    theirs.values.sum().backward()
    _same(a.grad, b.grad)


def test_kthvalue_nan_and_errors():
    a, b = _both(SPECIALS)
    for k in (1, 5, 9, 10):
        _same(tg.kthvalue(a, k).values, torch.kthvalue(b, k).values, exact=True)
    c, d = _both(X)
    for k in (0, 6):
        with pytest.raises(RuntimeError, match="selected number k out of range for dimension 1"):
            tg.kthvalue(c, k)
        with pytest.raises(RuntimeError, match="selected number k out of range for dimension 1"):
            torch.kthvalue(d, k)


# ------------------------------------------------------------------------- unary float functions
UNARY = {
    "asin": U, "acos": U, "atan": X, "sinh": X, "cosh": X, "asinh": X, "acosh": P + 1.0,
    "atanh": U, "arcsin": U, "arccos": U, "arctan": X, "arcsinh": X, "arccosh": P + 1.0,
    "arctanh": U, "sinc": X, "deg2rad": X * 90, "rad2deg": X, "exp2": X, "lgamma": P,
    "digamma": P, "erfinv": U, "logit": (U + 1) / 2, "i0": X, "sgn": X,
}  # fmt: skip


@pytest.mark.parametrize("name", slow_after(sorted(UNARY), 6))
def test_unary_values_gradients_and_names(name):
    a, b = _both(UNARY[name], requires_grad=True)
    ours, theirs = getattr(tg, name)(a), getattr(torch, name)(b)
    _same(ours, theirs)
    assert _grad_fn(ours) == _grad_fn(theirs)
    w = _rng.standard_normal(X.shape)
    (ours * tg.tensor(w)).sum().backward()
    (theirs * torch.tensor(w)).sum().backward()
    expected = torch.zeros_like(b) if b.grad._is_zerotensor() else b.grad
    np.testing.assert_allclose(np.asarray(a.grad), expected.numpy(), rtol=1e-6, atol=1e-9)
    _same(getattr(a.detach(), name)(), theirs)  # method
    c = tg.tensor(UNARY[name])
    assert getattr(c, name + "_")() is c  # in place
    _same(c, theirs)


@pytest.mark.parametrize("name", slow_after(sorted(set(UNARY) - {"sgn"}), 3))
def test_integer_inputs_promote_to_the_default_float(name):
    a, b = _both([1, 2, 0], "int64")
    _same(getattr(tg, name)(a), getattr(torch, name)(b), atol=1e-6)


def test_sgn_keeps_integers():
    a, b = _both([-2, 0, 3], "int64")
    _same(tg.sgn(a), torch.sgn(b))
    c, d = _both([NAN, -0.0, 0.0, -INF])
    _same(tg.sgn(c), torch.sgn(d))


def test_special_values():
    a, b = _both([-1.0, 1.0, 0.0, 1.5])
    _same(tg.erfinv(a), torch.erfinv(b))
    _same(tg.atanh(a), torch.atanh(b))
    c, d = _both([0.0, 0.5, 1.0, 1.5, -0.5])
    _same(tg.logit(c), torch.logit(d))
    _same(tg.logit(c, eps=0.1), torch.logit(d, eps=0.1))
    _same(tg.sinc(tg.tensor([0.0])), torch.sinc(torch.tensor([0.0])))
    e, f = _both([0.0, -0.0, -1.0, -2.5, 3.0])
    _same(tg.digamma(e), torch.digamma(f))


@pytest.mark.parametrize("eps", [None, 0.1])
def test_logit_gradient_outside_the_domain(eps):
    a, b = _both([-0.5, 0.05, 0.5, 0.97, 1.5], requires_grad=True)
    tg.logit(a, eps).sum().backward()
    torch.logit(b, eps).sum().backward()
    _same(a.grad, b.grad)


def test_polygamma():
    a, b = _both(P, requires_grad=True)
    for n in (0, 1, 3):
        _same(tg.polygamma(n, a), torch.polygamma(n, b))
    ours, theirs = tg.polygamma(2, a), torch.polygamma(2, b)
    assert _grad_fn(ours) == _grad_fn(theirs)
    ours.sum().backward()
    theirs.sum().backward()
    np.testing.assert_allclose(np.asarray(a.grad), b.grad.numpy(), rtol=1e-6)
    _same(a.detach().polygamma(1), torch.polygamma(1, b))


def test_second_derivatives_of_lgamma_and_i0():
    for name in ("lgamma", "i0"):
        a, b = _both(P, requires_grad=True)
        (ga,) = tg.autograd.grad(getattr(tg, name)(a).sum(), a, create_graph=True)
        (gb,) = torch.autograd.grad(getattr(torch, name)(b).sum(), b, create_graph=True)
        (hga,) = tg.autograd.grad(ga.sum(), a)
        (hgb,) = torch.autograd.grad(gb.sum(), b)
        np.testing.assert_allclose(np.asarray(hga), hgb.numpy(), rtol=1e-6)


# ---------------------------------------------------------------------------------------- binary
BINARY = {
    "atan2": (X, P), "arctan2": (X, P), "hypot": (X, P), "logaddexp": (X, P),
    "logaddexp2": (X, P), "xlogy": (X, P), "copysign": (X, -X.T[:1].T), "ldexp": (X, P),
}  # fmt: skip


@pytest.mark.parametrize("name", slow_after(sorted(BINARY), 4))
def test_binary_values_gradients_and_names(name):
    x, y = BINARY[name]
    a, b = _both(x, requires_grad=True)
    c, d = _both(y, requires_grad=True)
    ours, theirs = getattr(tg, name)(a, c), getattr(torch, name)(b, d)
    _same(ours, theirs)
    assert _grad_fn(ours) == _grad_fn(theirs)
    w = _rng.standard_normal(X.shape)
    (ours * tg.tensor(w)).sum().backward()
    (theirs * torch.tensor(w)).sum().backward()
    np.testing.assert_allclose(np.asarray(a.grad), b.grad.numpy(), rtol=1e-6, atol=1e-9)
    np.testing.assert_allclose(np.asarray(c.grad), d.grad.numpy(), rtol=1e-6, atol=1e-9)
    _same(getattr(a.detach(), name)(c.detach()), theirs)


@pytest.mark.parametrize("name", ["atan2", "hypot", "logaddexp", "logaddexp2"])
def test_binary_other_must_be_a_tensor(name):
    with pytest.raises(TypeError, match="must be Tensor, not float"):
        getattr(tg, name)(tg.tensor([1.0]), 2.0)
    with pytest.raises(TypeError, match="must be Tensor, not float"):
        getattr(torch, name)(torch.tensor([1.0]), 2.0)


@pytest.mark.parametrize("name", ["hypot", "logaddexp"])
def test_integer_only_binary_ops_raise_like_pytorch(name):
    with pytest.raises(NotImplementedError, match=f"\"{name}_cpu\" not implemented for 'Long'"):
        getattr(tg, name)(tg.tensor([1, 2]), tg.tensor([1, 2]))
    with pytest.raises(NotImplementedError):
        getattr(torch, name)(torch.tensor([1, 2]), torch.tensor([1, 2]))


def test_xlogy_zero_nan_and_scalar_forms():
    a, b = _both([0.0, 0.0, 1.0, 2.0], requires_grad=True)
    c, d = _both([NAN, -1.0, 2.0, 0.0], requires_grad=True)
    _same(tg.xlogy(a, c), torch.xlogy(b, d))
    _same(tg.xlogy(2.0, c), torch.xlogy(2.0, d))
    _same(tg.xlogy(a, 3.0), torch.xlogy(b, 3.0))
    assert _grad_fn(tg.xlogy(2.0, c)) == _grad_fn(torch.xlogy(2.0, d)) == "XlogyBackward1"
    assert _grad_fn(tg.xlogy(a, 3.0)) == _grad_fn(torch.xlogy(b, 3.0)) == "XlogyBackward2"
    e, f = _both([1, 2, 0], "int64")
    _same(tg.xlogy(e, e), torch.xlogy(f, f))
    for other in (3.0, -1.0, 0.0):
        a.grad = b.grad = None
        tg.xlogy(a, other).sum().backward()
        torch.xlogy(b, other).sum().backward()
        _same(a.grad, b.grad)
    a.grad = b.grad = c.grad = d.grad = None
    tg.xlogy(a, c).sum().backward()
    torch.xlogy(b, d).sum().backward()
    _same(a.grad, b.grad)
    _same(c.grad, d.grad)


def test_copysign_zeros_scalars_and_gradient():
    a, b = _both([0.0, -0.0, 1.5, -2.0, 3.0], requires_grad=True)
    _same(tg.copysign(a, -1.0), torch.copysign(b, -1.0), exact=True)
    _same(
        tg.copysign(a, tg.tensor(-0.0, dtype=tg.float64)),
        torch.copysign(b, torch.tensor(-0.0, dtype=torch.float64)),
        exact=True,
    )
    ours, theirs = tg.copysign(a, -1.0), torch.copysign(b, -1.0)
    assert _grad_fn(ours) == _grad_fn(theirs) == "CopysignBackward1"
    ours.sum().backward()
    theirs.sum().backward()
    _same(a.grad, b.grad)
    _same(tg.copysign(tg.tensor([1, -2]), -1), torch.copysign(torch.tensor([1, -2]), -1))


def test_heaviside():
    a, b = _both([-1.5, 0.0, 2.0, NAN])
    c, d = _both([0.5, 0.25, 0.75, 0.1])
    _same(tg.heaviside(a, c), torch.heaviside(b, d))
    _same(
        a.heaviside(tg.tensor(0.5, dtype=tg.float64)),
        b.heaviside(torch.tensor(0.5, dtype=torch.float64)),
    )
    msg = "heaviside is not yet implemented for tensors with different dtypes"
    with pytest.raises(RuntimeError, match=msg):
        tg.heaviside(tg.tensor([1, 2]), tg.tensor([1.0]))
    with pytest.raises(RuntimeError, match=msg):
        torch.heaviside(torch.tensor([1, 2]), torch.tensor([1.0]))


def test_float_power():
    a, b = _both(P, "float32", requires_grad=True)
    for exponent in (2.5, 2):
        _same(tg.float_power(a, exponent), torch.float_power(b, exponent))
    ours, theirs = tg.float_power(a, 1.5), torch.float_power(b, 1.5)
    assert _grad_fn(ours) == _grad_fn(theirs)
    ours.sum().backward()
    theirs.sum().backward()
    np.testing.assert_allclose(np.asarray(a.grad), b.grad.numpy(), rtol=1e-6)
    _same(tg.float_power(tg.tensor([1, 2]), 2), torch.float_power(torch.tensor([1, 2]), 2))
    c = tg.tensor([1.0, 2.0], dtype=tg.float64)
    c.float_power_(2)
    assert c.tolist() == [1.0, 4.0]
    msg = "the base given to float_power_ has dtype Float but the operation's result requires"
    with pytest.raises(RuntimeError, match=msg):
        tg.tensor([1.0]).float_power_(2)
    with pytest.raises(RuntimeError, match=msg):
        torch.tensor([1.0]).float_power_(2)


def test_ldexp_with_integer_exponents():
    a, b = _both(X, "float32")
    e, f = _both([1, -2, 3, 0, 4], "int64")
    _same(tg.ldexp(a, e), torch.ldexp(b, f))
    _same(tg.ldexp(e, e), torch.ldexp(f, f))


# ------------------------------------------------------------------------------------ predicates
@pytest.mark.parametrize("name", ["isnan", "isinf", "isfinite", "isposinf", "isneginf", "signbit"])
@pytest.mark.parametrize("dtype", slow_after(["float32", "float16", "int64", "bool"], 2))
def test_predicates(name, dtype):
    values = [False, True, True] if dtype == "bool" else [1, -2, 0, 5]
    if dtype.startswith("float"):
        values = SPECIALS
    a, b = _both(values, dtype)
    _same(getattr(tg, name)(a), getattr(torch, name)(b))
    _same(getattr(a, name)(), getattr(torch, name)(b))


@pytest.mark.parametrize("equal_nan", [False, True])
@pytest.mark.parametrize("rtol,atol", [(1e-5, 1e-8), (0.0, 0.0), (0.1, 0.0), (0.0, 1.5)])
def test_isclose(rtol, atol, equal_nan):
    x = [1.0, NAN, INF, -INF, 1.0, 0.0, 100.0]
    y = [1.0 + 1e-9, NAN, INF, INF, 1.05, 1e-9, 101.0]
    a, b = _both(x)
    c, d = _both(y)
    ours = tg.isclose(a, c, rtol=rtol, atol=atol, equal_nan=equal_nan)
    _same(ours, torch.isclose(b, d, rtol=rtol, atol=atol, equal_nan=equal_nan))
    assert tg.allclose(a, c, rtol, atol, equal_nan) == torch.allclose(b, d, rtol, atol, equal_nan)
    e, f = _both([1, 2, 3, 10], "int64")
    g, h = _both([1, 3, 5, 11], "int64")
    _same(tg.isclose(e, g, rtol=rtol, atol=atol), torch.isclose(f, h, rtol=rtol, atol=atol))


def test_isclose_errors():
    with pytest.raises(RuntimeError, match="Long did not match Float"):
        tg.isclose(tg.tensor([1]), tg.tensor([1.0]))
    with pytest.raises(RuntimeError, match="Long did not match Float"):
        torch.isclose(torch.tensor([1]), torch.tensor([1.0]))
    for kw, msg in (("rtol", "rtol must be"), ("atol", "atol must be")):
        with pytest.raises(RuntimeError, match=msg):
            tg.isclose(tg.tensor([1.0]), tg.tensor([1.0]), **{kw: -1})
        with pytest.raises(RuntimeError, match=msg):
            torch.isclose(torch.tensor([1.0]), torch.tensor([1.0]), **{kw: -1})


def test_allclose_and_equal_return_python_bools():
    assert tg.allclose(tg.tensor([1.0]), tg.tensor([1.0 + 1e-9])) is True
    assert tg.tensor([1.0]).allclose(tg.tensor([2.0])) is False
    cases = [
        ([1, 2, 3], [1.0, 2.0, 3.0]),
        ([1, 2], [1, 2, 3]),
        ([NAN], [NAN]),
        ([[1, 2]], [1, 2]),
        ([1.0, 2.0], [1.0, 2.5]),
    ]
    for x, y in cases:
        ours = tg.equal(tg.tensor(x), tg.tensor(y))
        assert ours is torch.equal(torch.tensor(x), torch.tensor(y))
    assert tg.tensor([1, 2]).equal(tg.tensor([1, 2])) is True


# ---------------------------------------------------------------------------- NaN handling
@pytest.mark.parametrize(
    "dtype", slow_after(["float32", "float16", "float64", "bfloat16", "int64"], 2)
)
@pytest.mark.parametrize("kwargs", [{}, {"nan": 1.5, "posinf": 2.0, "neginf": -3.0}, {"posinf": 7}])
def test_nan_to_num(dtype, kwargs):
    values = [1, 2, -3] if dtype == "int64" else SPECIALS
    a, b = _both(values, dtype)
    ours, theirs = tg.nan_to_num(a, **kwargs), torch.nan_to_num(b, **kwargs)
    if dtype == "bfloat16":
        np.testing.assert_array_equal(np.asarray(ours.float()), theirs.float().numpy())
    else:
        _same(ours, theirs, exact=True)
    c = a.clone()
    assert c.nan_to_num_(**kwargs) is c


def test_nan_to_num_gradient():
    a, b = _both(SPECIALS, requires_grad=True)
    ours, theirs = tg.nan_to_num(a, 0.5), torch.nan_to_num(b, 0.5)
    assert _grad_fn(ours) == _grad_fn(theirs) == "NanToNumBackward0"
    w = [1.0, 2.0, 3.0, INF, -1.0, INF, 0.5, 1.0, INF, 2.0]
    (ours * tg.tensor(w, dtype=tg.float64)).sum().backward()
    (theirs * torch.tensor(w, dtype=torch.float64)).sum().backward()
    _same(a.grad, b.grad)
    before = tg.is_compiled_backward_enabled()
    tg.set_compiled_backward(True)
    try:  # the same graph three times: the compiled backward's program keeps the NaNs and -0.0s
        for _ in range(3):
            a.grad = None
            (tg.nan_to_num(a, 0.5) * tg.tensor(w, dtype=tg.float64)).sum().backward()
            _same(a.grad, b.grad)
    finally:
        tg.set_compiled_backward(before)


@pytest.mark.parametrize("dim,keepdim", [(None, False), (1, False), ((0, 1), True), (0, True)])
def test_nansum_and_nanmean(dim, keepdim):
    x = np.where(X > 0.8, np.nan, X)
    x[0] = np.nan  # a slice of NaN only: nansum 0, nanmean NaN
    for fn in ("nansum", "nanmean"):
        a, b = _both(x, requires_grad=True)
        args = () if dim is None else (dim, keepdim)
        ours, theirs = getattr(tg, fn)(a, *args), getattr(torch, fn)(b, *args)
        _same(ours, theirs)
        assert _grad_fn(ours) == _grad_fn(theirs)
        ours.sum().backward()
        theirs.sum().backward()
        _same(a.grad, b.grad)
        _same(getattr(a.detach(), fn)(*args), theirs)


def test_nansum_nanmean_dtypes_and_errors():
    a, b = _both([1, 2, 3], "int64")
    _same(tg.nansum(a), torch.nansum(b))
    _same(tg.nansum(tg.tensor([True, True])), torch.nansum(torch.tensor([True, True])))
    c, d = _both(X, "float32")
    _same(tg.nansum(c, 1, dtype=tg.float64), torch.nansum(d, 1, dtype=torch.float64))
    _same(tg.nanmean(c, 0, dtype=tg.float64), torch.nanmean(d, 0, dtype=torch.float64))
    msg = "nanmean\\(\\): expected input to have floating point or complex dtype but got Long"
    with pytest.raises(RuntimeError, match=msg):
        tg.nanmean(a)
    with pytest.raises(RuntimeError, match=msg):
        torch.nanmean(b)


def test_new_names_reach_tensor_and_top_level():
    for name in ("sort", "argsort", "msort", "topk", "kthvalue", "isnan", "nansum", "sgn_"):
        assert hasattr(tg.Tensor, name)
    for name in ("arcsin_", "arctan2_", "xlogy_", "logit_", "i0_", "polygamma_", "copysign_"):
        assert hasattr(tg.Tensor, name) and hasattr(torch.Tensor, name)
    for name in ("logaddexp_", "isnan_", "sort_"):
        assert not hasattr(tg.Tensor, name) and not hasattr(torch.Tensor, name)
    assert tg.arcsin is tg.asin and tg.arctan2 is tg.atan2
