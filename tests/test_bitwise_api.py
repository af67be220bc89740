"""Bitwise and integer ops, shifts, gcd/lcm, frexp, nextafter, the comparison aliases and the
in-place comparisons, against PyTorch (CPU): values, dtypes, operator and in-place forms, errors,
and frexp's gradient."""

from __future__ import annotations

import math
import operator

import numpy as np
import pytest

import tracegrad as tg

from .tiers import slow_after

torch = pytest.importorskip("torch")

_rng = np.random.default_rng(0)
DTYPES = ["bool", "uint8", "int8", "int16", "int32", "int64"]


def _arr(dtype: str, shape=(3, 4)):
    if dtype == "bool":
        return _rng.random(shape) > 0.5
    info = np.iinfo(dtype)
    return _rng.integers(max(info.min, -100), min(info.max, 100), shape).astype(dtype)


def _pair(a, dtype=None):
    a = np.asarray(a)
    dtype = dtype or str(a.dtype)
    return tg.tensor(a, dtype=getattr(tg, dtype)), torch.tensor(a, dtype=getattr(torch, dtype))


def _to_np(x):
    if isinstance(x, tg.Tensor):
        return np.asarray(x.detach()), str(x.dtype).split(".")[-1]
    return x.detach().numpy(), str(x.dtype).split(".")[-1]


def _same(ours, theirs):
    (o, od), (t, td) = _to_np(ours), _to_np(theirs)
    assert od == td
    assert o.shape == t.shape
    np.testing.assert_array_equal(o, t)


def _outcome(fn, lib):
    try:
        return fn(lib), None
    except Exception as e:  # noqa: BLE001 - compared against PyTorch's exception
        return None, e


def _check(fn_ours, fn_theirs, message: bool = True):
    """Both run; both raise the same exception type (and message), or agree on the value."""
    ours, oe = _outcome(fn_ours, tg)
    theirs, te = _outcome(fn_theirs, torch)
    if te is not None or oe is not None:
        assert type(oe) is type(te), f"tracegrad: {oe!r}, PyTorch: {te!r}"
        if message:
            assert str(oe).split("\n")[0] == str(te).split("\n")[0]
        return
    _same(ours, theirs)


# ----------------------------------------------------------------------------- and, or, xor, not
@pytest.mark.parametrize("name", ["bitwise_and", "bitwise_or", "bitwise_xor"])
@pytest.mark.parametrize(
    "da,db",
    slow_after(
        [("int64", "int64"), ("bool", "bool"), *[(a, b) for a in DTYPES for b in DTYPES]],
        keep=2,
        multi=True,
    ),
)
def test_binary_matches_pytorch(name, da, db):
    a, b = _arr(da), _arr(db, (4,))
    oa, ta = _pair(a)
    ob, tb = _pair(b)
    _same(getattr(tg, name)(oa, ob), getattr(torch, name)(ta, tb))
    _same(getattr(oa, name)(ob), getattr(ta, name)(tb))


@pytest.mark.parametrize(
    "op,scalar",
    [(operator.and_, 6), (operator.or_, True), (operator.xor, 3), (operator.and_, False)],
)
@pytest.mark.parametrize("dtype", ["bool", "uint8", "int32"])
def test_operators_with_scalars(op, scalar, dtype):
    o, t = _pair(_arr(dtype))
    _check(lambda T: op(o, scalar), lambda T: op(t, scalar))
    _check(lambda T: op(scalar, o), lambda T: op(scalar, t))


@pytest.mark.parametrize("name", ["bitwise_and", "bitwise_or", "bitwise_xor", "bitwise_not"])
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_float_operands_are_refused(name, dtype):
    o, t = _pair(_rng.standard_normal((2, 3)), dtype)
    args_o, args_t = ((o,), (t,)) if name == "bitwise_not" else ((o, o), (t, t))
    _check(lambda T: getattr(tg, name)(*args_o), lambda T: getattr(torch, name)(*args_t))
    i_o, i_t = _pair(np.arange(3))
    if name != "bitwise_not":  # an integer tensor with a float scalar promotes to float
        _check(lambda T: getattr(tg, name)(i_o, 1.5), lambda T: getattr(torch, name)(i_t, 1.5))


def test_invert():
    for dtype in DTYPES:
        o, t = _pair(_arr(dtype))
        _same(~o, ~t)
        _same(tg.bitwise_not(o), torch.bitwise_not(t))
    o, t = _pair(np.ones(3), "float32")
    _check(lambda T: ~o, lambda T: ~t)


@pytest.mark.parametrize(
    "iop,method",
    [
        (operator.iand, "bitwise_and_"),
        (operator.ior, "bitwise_or_"),
        (operator.ixor, "bitwise_xor_"),
        (operator.ilshift, "bitwise_left_shift_"),
        (operator.irshift, "bitwise_right_shift_"),
    ],
)
def test_inplace_forms(iop, method):
    a, b = _arr("int32"), _arr("int32", (4,)) % 5
    o, t = _pair(a)
    ob, tb = _pair(b)
    before = o
    o = iop(o, ob)
    t = iop(t, tb)
    assert o is before and o._version == 1
    _same(o, t)
    o2, t2 = _pair(a)
    _same(getattr(o2, method)(2), getattr(t2, method)(2))
    # A bool tensor cannot hold an integer result.
    ob, tb = _pair(_arr("bool"))
    if "shift" not in method:
        _check(lambda T: getattr(ob, method)(3), lambda T: getattr(tb, method)(3), message=False)


def test_bool_python_operators_keep_their_behaviour():
    m, n = tg.tensor([True, False, True]), tg.tensor([True, True, False])
    assert (m & n).tolist() == [True, False, False]
    assert (m | n).tolist() == [True, True, True]
    assert (m ^ n).tolist() == [False, True, True]
    assert (~m).tolist() == [False, True, False]
    m &= n
    assert m.tolist() == [True, False, False]


# ---------------------------------------------------------------------------------------- shifts
AMOUNTS = [-3, -1, 0, 1, 5, 7, 8, 15, 16, 31, 32, 63, 64, 100]


@pytest.mark.parametrize("name", ["bitwise_left_shift", "bitwise_right_shift"])
@pytest.mark.parametrize("dtype", slow_after(["int64", "uint8", "int8", "int16", "int32"], keep=2))
def test_shifts_match_pytorch(name, dtype):
    info = np.iinfo(dtype)
    values = np.array([info.min, -7, -1, 0, 1, 3, 100, info.max])
    values = np.clip(values, info.min, info.max).astype(dtype)[:, None]
    amounts = np.array(AMOUNTS)
    amounts = amounts[(amounts >= info.min) & (amounts <= info.max)].astype(dtype)
    o, t = _pair(values)
    ob, tb = _pair(amounts)
    _same(getattr(tg, name)(o, ob), getattr(torch, name)(t, tb))


def test_shift_operators_and_promotion():
    o, t = _pair(np.array([1, 2, -8], np.int32))
    _same(o << 3, t << 3)
    _same(o >> 1, t >> 1)
    _same(2 << o.abs(), 2 << t.abs())
    _same(-100 >> o.abs(), -100 >> t.abs())
    _same(o << tg.tensor(1), t << torch.tensor(1))
    ob, tb = _pair(np.array([True, False]))
    _same(ob << 1, tb << 1)
    _check(lambda T: ob << ob, lambda T: tb << tb)
    of, tf = _pair(np.array([1.5]), "float32")
    _check(lambda T: of << 2, lambda T: tf << 2)
    _check(lambda T: tg.bitwise_right_shift(of, 1), lambda T: torch.bitwise_right_shift(tf, 1))


# -------------------------------------------------------------------------------------- gcd, lcm
@pytest.mark.parametrize("name", ["gcd", "lcm"])
@pytest.mark.parametrize("dtype", ["int64", "int32", "uint8", "int16"])
def test_gcd_lcm_match_pytorch(name, dtype):
    info = np.iinfo(dtype)
    low = max(info.min, -30)
    a = np.concatenate([_rng.integers(low, 30, 20), [0, 0, 12]]).astype(dtype)
    b = np.concatenate([_rng.integers(low, 30, 20), [0, 7, -18 if low < 0 else 18]]).astype(dtype)
    o, t = _pair(a)
    ob, tb = _pair(b)
    _same(getattr(tg, name)(o, ob), getattr(torch, name)(t, tb))
    o2, t2 = _pair(a)
    _same(getattr(o2, name + "_")(ob), getattr(t2, name + "_")(tb))


@pytest.mark.parametrize("name", ["gcd", "lcm"])
def test_gcd_lcm_errors(name):
    of, tf = _pair(np.ones(3), "float32")
    ob, tb = _pair(np.ones(3, bool))
    oi, ti = _pair(np.arange(3))
    _check(lambda T: getattr(tg, name)(of, of), lambda T: getattr(torch, name)(tf, tf))
    _check(lambda T: getattr(tg, name)(ob, ob), lambda T: getattr(torch, name)(tb, tb))
    _check(lambda T: getattr(tg, name)(oi, 4), lambda T: getattr(torch, name)(ti, 4))


# ----------------------------------------------------------------------------------------- frexp
SPECIAL = [0.0, -0.0, math.inf, -math.inf, math.nan, 1.0, -0.75, 3.0, 1024.5, 1e-3]


@pytest.mark.parametrize("dtype", ["float32", "float64", "float16", "bfloat16"])
def test_frexp_matches_pytorch(dtype):
    tiny = {"float64": [1e-310, -3e-320, 5e-324, 2.3e-308], "float32": [1e-40, -1.4e-45, 1.2e-38]}
    values = np.array(SPECIAL + list(_rng.standard_normal(8) * 50) + tiny.get(dtype, []))
    o, t = _pair(values, dtype)
    ours, theirs = tg.frexp(o), torch.frexp(t)
    assert type(ours).__name__ == "frexp" and ours.mantissa is ours[0]
    assert str(ours.mantissa.dtype).split(".")[-1] == str(theirs.mantissa.dtype).split(".")[-1]
    _same(ours.mantissa.float(), theirs.mantissa.float())
    _same(ours.exponent, theirs.exponent)


def test_frexp_gradient_and_errors():
    values = np.array([0.3, -7.0, 1e-3, 0.0, 2.5e5])
    o = tg.tensor(values, requires_grad=True)
    t = torch.tensor(values, requires_grad=True)
    mo, mt = tg.frexp(o).mantissa, torch.frexp(t).mantissa
    assert mo.grad_fn.name() == type(mt.grad_fn).__name__
    w = _rng.standard_normal(5)
    (mo * tg.tensor(w)).sum().backward()
    (mt * torch.tensor(w)).sum().backward()
    np.testing.assert_array_equal(np.asarray(o.grad), t.grad.numpy())
    assert not tg.frexp(o).exponent.requires_grad
    oi, ti = _pair(np.arange(3))
    _check(lambda T: tg.frexp(oi), lambda T: torch.frexp(ti))
    out = (tg.empty(0), tg.empty(0, dtype=tg.int32))
    r = tg.frexp(tg.tensor([8.0, 0.25]), out=out)
    assert r[0] is out[0] and r.mantissa.tolist() == [0.5, 0.5] and r.exponent.tolist() == [4, -1]


# ------------------------------------------------------------------------------------- nextafter
@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_nextafter_matches_pytorch(dtype):
    a = np.array([0.0, 0.0, -0.0, 1.0, 1.0, -1.0, math.inf, -math.inf, 2.0, math.nan, 1.0, 5e-324])
    b = np.array([1.0, -1.0, 1.0, 2.0, 0.0, -2.0, 0.0, 0.0, math.inf, 0.0, 1.0, 0.0])
    values = _rng.standard_normal((2, 12))
    o, t = _pair(np.concatenate([a[None], values]), dtype)
    ob, tb = _pair(b, dtype)
    (ours, _), (theirs, _) = _to_np(tg.nextafter(o, ob)), _to_np(torch.nextafter(t, tb))
    np.testing.assert_array_equal(ours, theirs)
    np.testing.assert_array_equal(np.signbit(ours), np.signbit(theirs))
    o2, t2 = _pair(values, dtype)
    _same(o2.nextafter_(ob), t2.nextafter_(tb))


def test_nextafter_errors():
    oi, ti = _pair(np.arange(3))
    of, tf = _pair(np.ones(3), "float32")
    _check(lambda T: tg.nextafter(oi, oi), lambda T: torch.nextafter(ti, ti))
    _check(lambda T: tg.nextafter(of, 2.0), lambda T: torch.nextafter(tf, 2.0))
    # PyTorch has no derivative for nextafter: tracegrad refuses at once rather than at backward.
    x = tg.ones(3, requires_grad=True)
    with pytest.raises(NotImplementedError, match="derivative for 'nextafter'"):
        tg.nextafter(x, of)
    with tg.no_grad():
        assert tg.nextafter(x, of).tolist() == [1.0, 1.0, 1.0]


# ------------------------------------------------------------------ comparison aliases, in place
ALIASES = {
    "greater": "gt",
    "greater_equal": "ge",
    "less": "lt",
    "less_equal": "le",
    "not_equal": "ne",
}


@pytest.mark.parametrize("alias", list(ALIASES))
def test_comparison_aliases(alias):
    a, b = np.array([[1.0, 2.0, 3.0]]), np.array([[2.0], [1.0]])
    o, t = _pair(a)
    ob, tb = _pair(b)
    _same(getattr(tg, alias)(o, ob), getattr(torch, alias)(t, tb))
    _same(getattr(o, alias)(2.0), getattr(t, alias)(2.0))
    _same(getattr(o.clone(), alias + "_")(2.0), getattr(t.clone(), alias + "_")(2.0))
    assert getattr(tg, alias) is getattr(tg, ALIASES[alias])


@pytest.mark.parametrize(
    "name",
    ["eq_", "ne_", "lt_", "le_", "gt_", "ge_", "logical_and_", "logical_or_", "logical_xor_"],
)
@pytest.mark.parametrize("dtype", ["float32", "int64", "bool"])
def test_inplace_comparisons(name, dtype):
    a = np.array([[0, 1, 2], [2, 0, 1]])
    o, t = _pair(a, dtype)
    ob, tb = _pair(np.array([1, 0, 2]), dtype)
    before = o
    _same(getattr(o, name)(ob), getattr(t, name)(tb))
    assert o is before and o._version == 1
    if not name.startswith("logical"):  # PyTorch refuses a number for other there
        _check(lambda T: getattr(o, name)(0.5), lambda T: getattr(t, name)(0.5))


def test_logical_not_and_true_divide_inplace():
    for dtype in ("float32", "int64", "bool"):
        o, t = _pair(np.array([0, 1, 2]), dtype)
        _same(o.logical_not_(), t.logical_not_())
    o, t = _pair(np.array([1.0, 3.0]))
    _same(o.true_divide_(2), t.true_divide_(2))
    o, t = _pair(np.array([1, 3]))
    _check(lambda T: o.true_divide_(2), lambda T: t.true_divide_(2), message=False)


@pytest.mark.parametrize(
    "name",
    [
        "bitwise_and",
        "bitwise_left_shift",
        "gcd",
        "lcm",
        "nextafter",
        "greater",
        "less_equal",
        "not_equal",
    ],
)
def test_out(name):
    is_float = name == "nextafter"
    a = np.array([[4.0, 6.0], [9.0, 12.0]]) if is_float else np.array([[4, 6], [9, 12]])
    o, t = _pair(a)
    ob, tb = _pair(a[::-1].copy() % 5 + 1)
    oo = tg.empty(0, dtype=tg.bool if name in ALIASES else o.dtype)
    to = torch.empty(0, dtype=torch.bool if name in ALIASES else t.dtype)
    r = getattr(tg, name)(o, ob, out=oo)
    getattr(torch, name)(t, tb, out=to)
    assert r is oo
    _same(oo, to)
