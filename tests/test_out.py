"""``out=``: every public function whose PyTorch counterpart takes it writes into ``out`` as PyTorch
does (values, resize and its warning, dtype casts and refusals, version bump, autograd refusal),
checked against PyTorch over generated samples, plus PyTorch-free checks of each behaviour."""

from __future__ import annotations

import inspect
import re
import warnings

import numpy as np
import pytest

import tracegrad as tg
import tracegrad.nn.functional as F
from tracegrad.ops.out import NN_FUNCTIONAL_OUT_FUNCTIONS, OUT_FUNCTIONS

_rng = np.random.default_rng(0)
A = _rng.standard_normal((3, 4)).astype(np.float32)
B = _rng.standard_normal((3, 4)).astype(np.float32)
P = (np.abs(A) + 0.5).astype(np.float32)  # positive
V = _rng.standard_normal(4).astype(np.float32)
W = _rng.standard_normal(3).astype(np.float32)
M = _rng.standard_normal((4, 5)).astype(np.float32)
BA = _rng.standard_normal((2, 3, 4)).astype(np.float32)
BB = _rng.standard_normal((2, 4, 5)).astype(np.float32)
IDX = np.array([[0, 2, 1, 0], [1, 1, 0, 2], [2, 0, 2, 1]], dtype=np.int64)
IX = np.array([2, 0], dtype=np.int64)
K = np.array([[1, 0, 3, 0], [0, 2, 0, 0], [5, 0, 0, 1]], dtype=np.int64)
MASK = A > 0
U = (_rng.uniform(-0.9, 0.9, (3, 4))).astype(np.float32)


def t(T, a):
    return T.tensor(a)


# id -> (function name, f(T) -> (args, kwargs), random: values not compared)
S: dict = {}


def s(name, f, *flags, key=None):
    S[key or name] = (name, f, "random" in flags)


for _n in "abs absolute ceil cos erf exp expm1 fix floor frac neg negative round sigmoid sign sin square tan tanh trunc".split():
    s(_n, lambda T: ((t(T, A),), {}))
for _n in "log log10 log1p log2 rsqrt sqrt reciprocal".split():
    s(_n, lambda T: ((t(T, P),), {}))
s("erfc", lambda T: ((t(T, A),), {}))
for _n in "add sub subtract mul multiply div divide true_divide floor_divide fmod remainder maximum minimum fmax fmin eq ne lt le gt ge logical_and logical_or logical_xor".split():
    s(_n, lambda T: ((t(T, A), t(T, B)), {}))
s("add", lambda T: ((t(T, A), 2.0), {"alpha": 3}), key="add_scalar_alpha")
s("div", lambda T: ((t(T, A), t(T, B)), {"rounding_mode": "floor"}), key="div_floor")
s("logical_not", lambda T: ((t(T, A),), {}))
s("pow", lambda T: ((t(T, P), 2.5), {}))
s("pow", lambda T: ((t(T, P), t(T, B)), {}), key="pow_tensor")
s("addcdiv", lambda T: ((t(T, A), t(T, B), t(T, P)), {"value": 0.5}))
s("addcmul", lambda T: ((t(T, A), t(T, B), t(T, P)), {"value": 0.5}))
s("addmm", lambda T: ((t(T, W[:, None] * np.ones(5, np.float32)), t(T, A), t(T, M)), {"beta": 0.5}))
s("baddbmm", lambda T: ((t(T, np.ones((2, 3, 5), np.float32)), t(T, BA), t(T, BB)), {"alpha": 2}))
s("bmm", lambda T: ((t(T, BA), t(T, BB)), {}))
s("mm", lambda T: ((t(T, A), t(T, M)), {}))
s("matmul", lambda T: ((t(T, A), t(T, M)), {}))
s("mv", lambda T: ((t(T, A), t(T, V)), {}))
s("dot", lambda T: ((t(T, V), t(T, V)), {}))
s("outer", lambda T: ((t(T, V), t(T, W)), {}))
s("ger", lambda T: ((t(T, V), t(T, W)), {}))
s("tensordot", lambda T: ((t(T, A), t(T, M)), {"dims": 1}))
s("all", lambda T: ((t(T, MASK),), {}))
s("any", lambda T: ((t(T, MASK), 1), {}))
s("amax", lambda T: ((t(T, A), 1), {}))
s("amin", lambda T: ((t(T, A), 0), {}))
s("argmax", lambda T: ((t(T, A), 1), {}))
s("argmin", lambda T: ((t(T, A), 0), {}))
s("sum", lambda T: ((t(T, A), 1), {}))
s("mean", lambda T: ((t(T, A), 1), {}))
s("prod", lambda T: ((t(T, A), 0), {}))
s("logsumexp", lambda T: ((t(T, A), 1), {}))
s("std", lambda T: ((t(T, A), 1), {}))
s("var", lambda T: ((t(T, A),), {}))
s("norm", lambda T: ((t(T, A),), {}))
s("norm", lambda T: ((t(T, A), 2, 1), {}), key="norm_dim")
s("cumsum", lambda T: ((t(T, A), 1), {}))
s("cumprod", lambda T: ((t(T, A), 0), {}))
s("max", lambda T: ((t(T, A),), {}))
s("min", lambda T: ((t(T, A),), {}))
s("max", lambda T: ((t(T, A), 1), {}), key="max_dim")
s("min", lambda T: ((t(T, A), 0), {}), key="min_dim")
s("max", lambda T: ((t(T, A), t(T, B)), {}), key="max_other")
s("median", lambda T: ((t(T, A), 1), {}), key="median_dim")
s("clamp", lambda T: ((t(T, A), -0.5, 0.5), {}))
s("clip", lambda T: ((t(T, A),), {"min": -0.5}))
s("clamp_min", lambda T: ((t(T, A), -0.5), {}))
s("clamp_max", lambda T: ((t(T, A), 0.5), {}))
s("lerp", lambda T: ((t(T, A), t(T, B), 0.25), {}))
s("where", lambda T: ((t(T, MASK), t(T, A), t(T, B)), {}))
s("softmax", lambda T: ((t(T, A), 1), {}))
s("log_softmax", lambda T: ((t(T, A), 1), {}))
s("diag", lambda T: ((t(T, A),), {}))
s("tril", lambda T: ((t(T, A),), {}))
s("triu", lambda T: ((t(T, A), 1), {}))
s("gather", lambda T: ((t(T, A), 1, t(T, IDX)), {}))
s("take_along_dim", lambda T: ((t(T, A), t(T, IDX), 1), {}))
s("take", lambda T: ((t(T, A), t(T, IDX)), {}))
s("index_select", lambda T: ((t(T, A), 0, t(T, IX)), {}))
s("index_add", lambda T: ((t(T, A), 0, t(T, IX), t(T, B[:2])), {}))
s("scatter", lambda T: ((t(T, A), 1, t(T, IDX), t(T, B)), {}))
s("scatter_add", lambda T: ((t(T, A), 0, t(T, IDX), t(T, B)), {}))
s("masked_select", lambda T: ((t(T, A), t(T, MASK)), {}))
s("nonzero", lambda T: ((t(T, K),), {}))
for _n in "cat concat concatenate".split():
    s(_n, lambda T: (([t(T, A), t(T, B)], 1), {}))
s("stack", lambda T: (([t(T, A), t(T, B)],), {}))
s("hstack", lambda T: (([t(T, A), t(T, B)],), {}))
s("vstack", lambda T: (([t(T, A), t(T, B)],), {}))
s("column_stack", lambda T: (([t(T, V), t(T, M[:, :2])],), {}))
s("dstack", lambda T: (([t(T, A), t(T, B)],), {}))
s("row_stack", lambda T: (([t(T, V), t(T, A)],), {}))
s("kron", lambda T: ((t(T, A[:2, :2]), t(T, B)), {}))
s("narrow_copy", lambda T: ((t(T, A), 1, 1, 2), {}))
s("logspace", lambda T: ((0.0, 2.0, 5), {}))
s("range", lambda T: ((1, 4), {}))
s("zeros", lambda T: ((2, 3), {}))
s("ones", lambda T: (((2, 3),), {}))
s("full", lambda T: (((2, 3), 0.3), {}))
s("empty", lambda T: ((2, 3), {}), "random")
s("arange", lambda T: ((1, 7, 2), {}))
s("arange", lambda T: ((0.5, 3.0, 0.5), {}), key="arange_float")
s("linspace", lambda T: ((0.0, 1.0, 5), {}))
s("eye", lambda T: ((3, 4), {}))
s("rand", lambda T: ((2, 3), {}), "random")
s("randn", lambda T: ((2, 3), {}), "random")
s("randint", lambda T: ((0, 5, (2, 3)), {}), "random")
s("randperm", lambda T: ((5,), {}), "random")
s("normal", lambda T: ((2.0, 3.0, (2, 3)), {}), "random")
s("bernoulli", lambda T: ((t(T, np.full((2, 3), 0.5, np.float32)),), {}), "random")
s("multinomial", lambda T: ((t(T, np.ones((2, 4), np.float32)), 3), {}), "random")
_SPD = np.array([[4.0, 1.0], [1.0, 3.0]], np.float32)
s("inverse", lambda T: ((t(T, _SPD),), {}))
s("cholesky", lambda T: ((t(T, _SPD),), {}))
s("matrix_power", lambda T: ((t(T, _SPD), 3), {}))
s("addmv", lambda T: ((t(T, W), t(T, A), t(T, V)), {"beta": 0.5}))
s("addr", lambda T: ((t(T, A), t(T, W), t(T, V)), {"alpha": 2}))
s("addbmm", lambda T: ((t(T, np.ones((3, 5), np.float32)), t(T, BA), t(T, BB)), {"beta": 2}))
s("cross", lambda T: ((t(T, A[:, :3]), t(T, B[:, :3])), {"dim": 1}))
s("inner", lambda T: ((t(T, A), t(T, B)), {}))
s("vdot", lambda T: ((t(T, V), t(T, V)), {}))
s("renorm", lambda T: ((t(T, A), 2, 0, 1.0), {}))
s("chain_matmul", lambda T: ((t(T, A), t(T, M)), {}))
_LU = np.array([[4.0, 1.0], [0.25, 2.75]], np.float32)  # lu_factor(_SPD): no row swaps
_PIV = np.array([1, 2], np.int32)
s("qr", lambda T: ((t(T, A),), {}))
s("svd", lambda T: ((t(T, _SPD),), {}))
s("lu_solve", lambda T: ((t(T, A[:2]), t(T, _LU), t(T, _PIV)), {}))
s("lu_unpack", lambda T: ((t(T, _LU), t(T, _PIV)), {}))
s("cholesky_inverse", lambda T: ((t(T, np.linalg.cholesky(_SPD)),), {}))
s("cholesky_solve", lambda T: ((t(T, A[:2]), t(T, np.linalg.cholesky(_SPD))), {}))
s("triangular_solve", lambda T: ((t(T, A[:2]), t(T, np.triu(_SPD))), {}))

for _n in "asin acos atan asinh atanh arcsin arccos arctan arcsinh arctanh erfinv".split():
    s(_n, lambda T: ((t(T, U),), {}))
for _n in "sinh cosh sinc deg2rad rad2deg exp2 i0 sgn signbit isposinf isneginf".split():
    s(_n, lambda T: ((t(T, A),), {}))
for _n in "lgamma digamma".split():
    s(_n, lambda T: ((t(T, P),), {}))
for _n in "acosh arccosh".split():
    s(_n, lambda T: ((t(T, P + 1),), {}))
for _n in "atan2 arctan2 hypot logaddexp logaddexp2 copysign xlogy ldexp".split():
    s(_n, lambda T: ((t(T, A), t(T, P)), {}))
s("polygamma", lambda T: ((1, t(T, P)), {}))
for _n in "igamma igammac".split():
    s(_n, lambda T: ((t(T, P), t(T, P + 0.5)), {}))
s("mvlgamma", lambda T: ((t(T, P + 1), 2), {}))
s("logit", lambda T: ((t(T, U),), {"eps": 0.05}))
s("nan_to_num", lambda T: ((t(T, np.where(MASK, np.nan, A)),), {"posinf": 1.0}))
s("nanmean", lambda T: ((t(T, np.where(MASK, np.nan, A)), 1), {}))
s("float_power", lambda T: ((t(T, P.astype(np.float64)), 2.5), {}))
s("heaviside", lambda T: ((t(T, A), t(T, B)), {}))
s("sort", lambda T: ((t(T, A), 1), {}))
s("msort", lambda T: ((t(T, A),), {}))
s("topk", lambda T: ((t(T, A), 2), {}))
s("kthvalue", lambda T: ((t(T, A), 2, 0, True), {}))
s("angle", lambda T: ((t(T, A),), {}))
s("conj_physical", lambda T: ((t(T, A),), {}))
s("complex", lambda T: ((t(T, A), t(T, B)), {}))
s("polar", lambda T: ((t(T, P), t(T, A)), {}))

for (
    _n
) in "bitwise_and bitwise_or bitwise_xor bitwise_left_shift bitwise_right_shift gcd lcm".split():
    s(_n, lambda T: ((t(T, K), t(T, IDX)), {}))
s("bitwise_not", lambda T: ((t(T, K),), {}))
for _n in "greater greater_equal less less_equal not_equal nextafter".split():
    s(_n, lambda T: ((t(T, A), t(T, B)), {}))
s("frexp", lambda T: ((t(T, A),), {}))
s("index_copy", lambda T: ((t(T, A), 0, t(T, IX), t(T, B[:2])), {}))
s("index_reduce", lambda T: ((t(T, A), 0, t(T, IX), t(T, B[:2]), "amax"), {}))

# keepdim: without it PyTorch's mode resizes out to the kept shape first and warns about that one.
s("mode", lambda T: ((t(T, K), 1, True), {}))
s("quantile", lambda T: ((t(T, A), 0.3, 1), {}))
s("nanquantile", lambda T: ((t(T, np.where(MASK, np.nan, A)), 0.6), {"dim": 0}))
s("searchsorted", lambda T: ((t(T, np.sort(A, axis=1)), t(T, B)), {}))
s("bucketize", lambda T: ((t(T, A), t(T, np.sort(V))), {"right": True}))
s("histc", lambda T: ((t(T, A),), {"bins": 4}))
s("histogram", lambda T: ((t(T, A), 3), {}))
s("cummax", lambda T: ((t(T, A), 1), {}))
s("cummin", lambda T: ((t(T, A), 0), {}))
s("logcumsumexp", lambda T: ((t(T, A), 1), {}))
s("aminmax", lambda T: ((t(T, A),), {"dim": 1}))

S["normalize"] = ("nn.functional.normalize", lambda T: ((t(T, A),), {}), False)

# Where tracegrad refuses what PyTorch silently gets wrong: arange(0.5, 3.0, 0.5, out=int32) in
# PyTorch truncates the step to 0 and repeats the start; tracegrad raises, as PyTorch does for int64.
DIVERGES = {("arange_float", "i32"): ValueError}

VARIANTS = ["empty", "same", "wrong", "f64", "f16", "i64", "i32", "bool"]
RESIZED = "was resized since it had shape"


def _fn(T, name):
    obj = T
    for part in name.split("."):
        obj = getattr(obj, part)
    return obj


def _make_out(T, variant, like_shape, like_dtype):
    dtype = {
        "empty": like_dtype,
        "same": like_dtype,
        "wrong": like_dtype,
        "f64": T.float64,
        "f16": T.float16,
        "i64": T.int64,
        "i32": T.int32,
        "bool": T.bool,
    }[variant]
    if variant == "empty":
        return T.zeros(0, dtype=dtype)
    shape = (7,) if variant == "wrong" else tuple(like_shape)
    return T.ones(shape, dtype=dtype)


def _dtype_name(d) -> str:
    return str(d).rsplit(".", 1)[-1]


def _run(T, key, variant):
    """(exception type or None, resize warnings, result tensors as numpy, out is returned, versions)."""
    name, make, _ = S[key]
    fn = _fn(T, name)
    args, kwargs = make(T)
    ref = fn(*args, **kwargs)
    refs = tuple(ref) if isinstance(ref, tuple) else (ref,)
    if len(refs) > 1:  # tuple results: values keep their dtype, indices int64
        outs = tuple(
            _make_out(
                T,
                variant,
                r.shape,
                r.dtype
                if i == 0 or variant in ("empty", "same", "wrong")
                else {"f64": T.float64, "f16": T.float16}.get(variant, r.dtype),
            )
            for i, r in enumerate(refs)
        )
        out = outs
    else:
        out = _make_out(T, variant, refs[0].shape, refs[0].dtype)
        outs = (out,)
    args, kwargs = make(T)
    before = [o._version for o in outs]
    with warnings.catch_warnings(record=True) as w:
        warnings.simplefilter("always")
        try:
            got = fn(*args, **kwargs, out=out)
        except Exception as e:  # noqa: BLE001 - the oracle comparison is the point
            return type(e), None, None, None, None
    resized = sorted(
        re.sub(r" \(Triggered internally at .*\)$", "", str(x.message))
        for x in w
        if RESIZED in str(x.message)
    )
    gots = tuple(got) if isinstance(got, tuple) else (got,)
    same = all(g is o for g, o in zip(gots, outs)) and len(gots) == len(outs)
    values = [np.asarray(o.detach().double().cpu() if T is not tg else o.double()) for o in outs]
    dtypes = [_dtype_name(o.dtype) for o in outs]
    versions = [o._version - b for o, b in zip(outs, before)]
    return None, resized, (values, dtypes), same, versions


def _cases():
    # Fast tier: every fifth function with an empty out (resize); the rest are slow.
    for i, key in enumerate(S):
        for v in VARIANTS:
            marks = pytest.mark.slow if v != VARIANTS[0] or i % 5 else ()
            yield pytest.param(key, v, id=f"{key}-{v}", marks=marks)


@pytest.mark.parametrize("key,variant", list(_cases()))
def test_out_matches_pytorch(key, variant):
    torch = pytest.importorskip("torch")
    torch.manual_seed(0)
    ours = _run(tg, key, variant)
    if (key, variant) in DIVERGES:
        assert ours[0] is DIVERGES[key, variant]
        return
    theirs = _run(torch, key, variant)
    assert ours[0] is theirs[0], f"tracegrad raised {ours[0]}, PyTorch {theirs[0]}"
    if theirs[0] is not None:
        return
    _, resized, (values, dtypes), same, versions = ours
    assert same, "out= must return the out tensor(s)"
    assert resized == theirs[1]
    assert dtypes == theirs[2][1]
    assert all(v == 1 for v in versions)
    for a, b in zip(values, theirs[2][0]):
        assert a.shape == b.shape
        if not S[key][2]:
            tol = 1e-3 if variant == "f16" else 1e-5
            np.testing.assert_allclose(a, b, rtol=tol, atol=tol)


def test_every_sample_function_takes_out():
    assert {S[k][0] for k in S} == set(OUT_FUNCTIONS) | {
        f"nn.functional.{n}" for n in NN_FUNCTIONAL_OUT_FUNCTIONS
    }


def _torch_documents_out(torch_fn, name) -> bool:
    try:
        return "out" in inspect.signature(torch_fn).parameters
    except (TypeError, ValueError):
        pass
    for line in (getattr(torch_fn, "__doc__", None) or "").split("\n"):
        if re.match(rf"\s*{name}\(.*\bout\b.*\)", line):
            return True
    return False


# Documented with out= but refused by PyTorch's own binding (TypeError on out=).
_TORCH_REFUSES_OUT = {"std_mean", "var_mean", "histogramdd"}


@pytest.mark.parametrize(
    "namespace,torch_path,table",
    [(tg, "torch", OUT_FUNCTIONS), (F, "torch.nn.functional", NN_FUNCTIONAL_OUT_FUNCTIONS)],
    ids=["tracegrad", "nn.functional"],
)
def test_every_function_pytorch_gives_out_takes_it(namespace, torch_path, table):
    pytest.importorskip("torch")
    import importlib

    tmod = importlib.import_module(torch_path)
    missing = []
    for name in dir(namespace):
        obj = getattr(namespace, name)
        if name.startswith("_") or isinstance(obj, type) or not callable(obj):
            continue
        theirs = getattr(tmod, name, None)
        if theirs is None or not callable(theirs) or name in _TORCH_REFUSES_OUT:
            continue
        if _torch_documents_out(theirs, name) and name not in table:
            missing.append(name)
    assert not missing, f"PyTorch gives these out=, tracegrad does not: {missing}"
    for name in table:
        assert "out" in inspect.signature(getattr(namespace, name)).parameters


# ------------------------------------------------------------------ each behaviour, without PyTorch
def test_writes_values_and_returns_out():
    x, y = tg.tensor([1.0, 2.0]), tg.tensor([3.0, 4.0])
    out = tg.zeros(2)
    assert tg.add(x, y, out=out) is out
    assert out.tolist() == [4.0, 6.0]
    assert tg.mul(x, y, out=out) is out and out.tolist() == [3.0, 8.0]
    assert tg.matmul(x, y, out=tg.zeros(())).item() == 11.0
    assert tg.cat([x, y], out=tg.zeros(0)).tolist() == [1.0, 2.0, 3.0, 4.0]
    assert tg.zeros(2, 3, out=out) is out and out.shape == (2, 3)


def test_out_may_alias_an_input():
    x = tg.tensor([1.0, 2.0])
    tg.add(x, x, out=x)
    assert x.tolist() == [2.0, 4.0]


def test_resizes_empty_silently_and_warns_for_non_empty():
    x = tg.tensor([1.0, 2.0, 3.0])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        out = tg.exp(x, out=tg.zeros(0))
    assert out.shape == (3,)
    with pytest.warns(
        UserWarning,
        match=r"resized since it had shape \[2, 2\], which does not "
        r"match the required output shape \[3\]",
    ):
        out = tg.exp(x, out=tg.zeros(2, 2))
    assert out.shape == (3,)


def test_dtype_cast_and_refusal():
    x = tg.tensor([1.5, 2.5])
    out = tg.zeros(2, dtype=tg.float64)
    tg.add(x, x, out=out)
    assert out.dtype == tg.float64 and out.tolist() == [3.0, 5.0]
    ints = tg.zeros(2, dtype=tg.int64)
    with pytest.raises(
        RuntimeError, match="result type Float can't be cast to the desired output type Long"
    ):
        tg.add(x, x, out=ints)
    assert ints.tolist() == [0, 0] and ints._version == 0  # untouched
    with pytest.raises(TypeError, match="can't be cast to the desired output type Long"):
        tg.cat([x, x], out=ints)
    with pytest.raises(RuntimeError, match="expected out tensor to have dtype float32"):
        tg.matmul(x, x, out=tg.zeros((), dtype=tg.float64))
    assert tg.eq(x, x, out=tg.zeros(2)).tolist() == [1.0, 1.0]  # bool -> float is allowed
    assert tg.sum(tg.tensor([[0.6, 0.6]]), 1, out=tg.zeros(1, dtype=tg.int64)).tolist() == [0]


def test_factory_takes_out_dtype_and_refuses_another():
    out = tg.zeros(1, dtype=tg.int64)
    assert tg.full((2,), 1.5, out=out).tolist() == [1, 1]
    assert tg.arange(3, out=tg.zeros(0)).dtype == tg.float32
    with pytest.raises(
        RuntimeError,
        match="dtype Double does not match dtype of out parameter "
        r"\(Float\)",
    ):
        tg.zeros(2, dtype=tg.float64, out=tg.zeros(2))


def test_version_is_bumped():
    out = tg.zeros(2)
    tg.add(tg.ones(2), 1, out=out)
    tg.zeros(2, out=out)
    assert out._version == 2


def test_requires_grad_refused_under_grad_mode():
    a = tg.ones(2, requires_grad=True)
    msg = r"add\(\): functions with out=... arguments don't support automatic differentiation"
    with pytest.raises(RuntimeError, match=msg):
        tg.add(a, 1, out=tg.zeros(2))
    with pytest.raises(RuntimeError, match=msg):
        tg.add(tg.ones(2), 1, out=tg.zeros(2, requires_grad=True))
    with pytest.raises(RuntimeError, match="cat"):
        tg.cat([a, a], out=tg.zeros(4))
    with pytest.raises(RuntimeError, match="zeros"):
        tg.zeros(2, out=tg.zeros(2, requires_grad=True))
    with tg.no_grad():
        out = tg.zeros(2)
        tg.add(a, 1, out=out)
    assert out.tolist() == [2.0, 2.0] and out.grad_fn is None and not out.requires_grad


def test_tuple_out():
    x = tg.tensor([[1.0, 5.0, 2.0], [7.0, 0.0, 3.0]])
    values, indices = tg.zeros(0), tg.zeros(0, dtype=tg.int64)
    got = tg.max(x, 1, out=(values, indices))
    assert got[0] is values and got[1] is indices
    assert got.values is values and got.indices is indices  # still PyTorch's named pair
    assert values.tolist() == [5.0, 7.0] and indices.tolist() == [1, 0]
    with pytest.raises(RuntimeError):
        tg.max(x, 1, out=(tg.zeros(0), tg.zeros(0, dtype=tg.int32)))


def test_out_must_be_a_tensor_and_methods_have_none():
    x = tg.ones(2)
    with pytest.raises(TypeError, match="argument 'out' must be Tensor, not int"):
        tg.add(x, x, out=3)
    with pytest.raises(TypeError):
        x.add(x, out=tg.zeros(2))  # as in PyTorch, methods take no out=


def test_nn_functional_normalize_out():
    x = tg.tensor([[3.0, 4.0]])
    out = tg.zeros(0)
    assert F.normalize(x, out=out) is out
    np.testing.assert_allclose(out.tolist(), [[0.6, 0.8]], rtol=1e-6)


@pytest.mark.parametrize("name", ["sum", "prod"])
def test_full_reductions_without_dim_take_no_out(name):
    """PyTorch's ``sum(input)``/``prod(input)`` have no ``out=`` overload (``mean`` does)."""
    x = tg.ones(2, 3)
    with pytest.raises(TypeError, match="invalid combination of arguments"):
        getattr(tg, name)(x, out=tg.zeros(0))
    assert getattr(tg, name)(x, 1, out=tg.zeros(0)).shape == (2,)
    assert tg.mean(x, out=tg.zeros(0)).item() == 1.0
