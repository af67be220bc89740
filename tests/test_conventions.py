"""PyTorch's conventions that programs rely on, checked against PyTorch itself: legacy tensor types,
``finfo``/``iinfo``, constants, ``Size``, ``version``, threads, ``set_printoptions``, predicates,
broadcasting as functions, ``result_type``/``can_cast``, strides and the layout queries,
``type_as`` and ``numpy()``."""

from __future__ import annotations

import math
import re
import typing
import warnings

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import tracegrad as tg

torch = pytest.importorskip("torch")

DTYPES = ["float32", "float64", "float16", "bfloat16", "int8", "uint8", "int16", "int32",
          "int64", "bool"]  # fmt: skip
FLOATS = ["float32", "float64", "float16", "bfloat16"]
INTS = ["int8", "uint8", "int16", "int32", "int64"]


def _tg(name):
    return getattr(tg, name)


def _pt(name):
    return getattr(torch, name)


def _same_repr(ours: str, theirs: str) -> bool:
    """PyTorch's repr with ``torch.`` read as ``tracegrad.``. A ``dtype=`` suffix that does not fit
    on the last line goes on a line of its own; ``tracegrad.float64`` is 4 characters longer than
    ``torch.float64``, so where it goes is compared on each side's own terms."""
    theirs = theirs.replace("torch.", "tracegrad.")
    if ours == theirs:
        return True
    same_line = re.compile(r",\n *(dtype=)")
    return same_line.sub(r", \1", ours) == same_line.sub(r", \1", theirs)


def _raises_like(fn_ours, fn_theirs):
    """Both raise the same exception type with the same message (PyTorch's ``torch.`` prefix read
    as ``tracegrad.``)."""
    with pytest.raises(Exception) as theirs:
        fn_theirs()
    with pytest.raises(type(theirs.value)) as ours:
        fn_ours()
    assert str(ours.value) == str(theirs.value).replace("torch.", "tracegrad.")


# --------------------------------------------------------------------------------- finfo, iinfo
@pytest.mark.parametrize("name", FLOATS)
def test_finfo_matches_pytorch(name):
    ours, theirs = tg.finfo(_tg(name)), torch.finfo(_pt(name))
    for attr in ("bits", "eps", "max", "min", "tiny", "smallest_normal", "resolution", "dtype"):
        assert getattr(ours, attr) == getattr(theirs, attr), attr
        assert type(getattr(ours, attr)) is type(getattr(theirs, attr)), attr
    assert repr(ours) == repr(theirs)
    assert ours == tg.finfo(_tg(name))


def test_finfo_default_is_the_default_dtype():
    assert tg.finfo() == tg.finfo(tg.float32)
    tg.set_default_dtype(tg.float64)
    try:
        assert tg.finfo().dtype == "float64"
    finally:
        tg.set_default_dtype(tg.float32)


@pytest.mark.parametrize("name", INTS)
def test_iinfo_matches_pytorch(name):
    ours, theirs = tg.iinfo(_tg(name)), torch.iinfo(_pt(name))
    for attr in ("bits", "max", "min", "dtype"):
        assert getattr(ours, attr) == getattr(theirs, attr), attr
        assert type(getattr(ours, attr)) is type(getattr(theirs, attr)), attr
    assert repr(ours) == repr(theirs)


@pytest.mark.parametrize(
    "call", ["finfo(int32)", "finfo(bool)", "iinfo(float32)", "iinfo(bool)", "iinfo(bfloat16)"]
)
def test_finfo_iinfo_refuse_the_other_kind_as_pytorch(call):
    fn, arg = call[:-1].split("(")
    _raises_like(lambda: getattr(tg, fn)(_tg(arg)), lambda: getattr(torch, fn)(_pt(arg)))


# ------------------------------------------------------------------------- constants, _assert
def test_constants():
    for name in ("pi", "e", "inf"):
        assert getattr(tg, name) == getattr(torch, name)
    assert math.isnan(tg.nan) and tg.newaxis is None is torch.newaxis
    x = tg.ones(2)
    assert x[:, tg.newaxis].shape == (2, 1)


def test_assert():
    tg._assert(True, "never")
    tg._assert(tg.tensor(True), "never")
    with pytest.raises(AssertionError, match="^shape mismatch$"):
        tg._assert(False, "shape mismatch")
    with pytest.raises(AssertionError, match="zero"):
        tg._assert(tg.tensor(0), "zero")
    for value in ([True, False], []):
        _raises_like(
            lambda v=value: tg._assert(tg.tensor(v), "m"),
            lambda v=value: torch._assert(torch.tensor(v), "m"),
        )


# ------------------------------------------------------------------------------------- Size
def test_size_behaves_as_pytorchs():
    ours, theirs = tg.Size([2, 3, 4]), torch.Size([2, 3, 4])
    assert ours == theirs == (2, 3, 4) and ours != [2, 3, 4] and theirs != [2, 3, 4]
    assert ours[1] == theirs[1] and ours[-1] == 4
    for ex in ("s[1:]", "s[::-1]", "s + (5,)", "(5,) + s", "s * 2", "2 * s", "s[:0]"):
        a, b = eval(ex, {"s": ours}), eval(ex, {"s": theirs})
        assert type(a) is tg.Size and type(b) is torch.Size, ex
        assert tuple(a) == tuple(b), ex
    assert ours.numel() == theirs.numel() == 24 and tg.Size([]).numel() == 1
    assert repr(tg.Size([2, 3])) == "tracegrad.Size([2, 3])"
    assert hash(ours) == hash((2, 3, 4))
    assert tg.Size([tg.tensor(2), True]) == torch.Size([torch.tensor(2), True]) == (2, 1)
    assert tg.ones(2, 3).shape[1:] == (3,) and type(tg.ones(2, 3).shape[1:]) is tg.Size
    _raises_like(lambda: tg.Size([2.0]), lambda: torch.Size([2.0]))


def test_size_pickles():
    import pickle

    s = pickle.loads(pickle.dumps(tg.Size([2, 3])))
    assert type(s) is tg.Size and s == (2, 3)


# ------------------------------------------------------------------------------------ version
def test_version():
    import tracegrad.version

    assert tracegrad.version is tg.version
    assert tg.version.__version__ == tg.__version__
    assert tg.version.cuda is None and tg.version.hip is None
    assert isinstance(tg.version.git_version, str) and tg.version.debug is False


# ------------------------------------------------------------------------------------ threads
def test_num_threads():
    n = tg.get_num_threads()
    assert isinstance(n, int) and n >= 1 and tg.get_num_interop_threads() >= 1
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        tg.set_num_threads(n)  # the number in use: nothing to say
        tg.set_num_interop_threads(tg.get_num_interop_threads())
    with pytest.warns(UserWarning, match="no effect"):
        tg.set_num_threads(n + 1)
    assert tg.get_num_threads() == n
    with pytest.warns(UserWarning, match="no effect"):
        tg.set_num_interop_threads(n + 1)


@pytest.mark.parametrize("value", [0, -1, "2", 2.0])
def test_num_threads_validation_matches_pytorch(value):
    _raises_like(lambda: tg.set_num_threads(value), lambda: torch.set_num_threads(value))


def test_num_interop_threads_validation_matches_pytorch():
    _raises_like(lambda: tg.set_num_interop_threads(0), lambda: torch.set_num_interop_threads(0))


# ------------------------------------------------------------------------------ printoptions
@pytest.fixture
def printoptions():
    yield
    tg.set_printoptions(profile="default")
    torch.set_printoptions(profile="default")


_PRINTED = [
    "[1.12345, 2.5, -3.0]",
    "[[1.0, 2.0], [3.0, 4.0]]",
    "[1e-5, 1.0, 1e5]",
    "[0.0, float('nan'), float('inf'), 2.0]",
    "[123456789.0, 1.5]",
    "[[0.1, 0.22, 0.333] * 10] * 8",
    "list(range(2000))",
    "[[float(i * 3 + j) / 7 for j in range(40)] for i in range(30)]",
    "[True, False]",
    "[100, -7, 3]",
    "3.14159",
    "[]",
]
_OPTIONS = [
    {},
    {"precision": 2},
    {"precision": 8},
    {"threshold": 5},
    {"threshold": 5, "edgeitems": 1},
    {"threshold": 5, "edgeitems": 0},
    {"linewidth": 30},
    {"sci_mode": True},
    {"sci_mode": False},
    {"profile": "short"},
    {"profile": "full"},
    {"profile": "short", "precision": 6},
]


@pytest.mark.parametrize(
    "options", _OPTIONS, ids=lambda o: ",".join(f"{k}={v}" for k, v in o.items())
)
def test_repr_under_printoptions_matches_pytorch(options, printoptions):
    tg.set_printoptions(**options)
    torch.set_printoptions(**options)
    for data in _PRINTED:
        value = eval(data)
        for dtype in ("float32", "float64", "int64") if "." in data else (None,):
            if dtype == "int64" and ("nan" in data or "e" in data):
                continue
            kw = {} if dtype is None else {"dtype": dtype}
            ours = repr(tg.tensor(value, **{k: _tg(v) for k, v in kw.items()}))
            theirs = repr(torch.tensor(value, **{k: _pt(v) for k, v in kw.items()}))
            assert _same_repr(ours, theirs), (data, dtype, ours, theirs)


def test_repr_suffixes_wrap_and_empty_dtypes(printoptions):
    cases = [
        lambda m: m.ones(3, dtype=m.float64, requires_grad=True),
        lambda m: m.zeros(0, dtype=m.int64),
        lambda m: m.zeros(0, dtype=m.bool),
        lambda m: m.zeros(2, 0, dtype=m.float16),
        lambda m: m.ones(2, 2, requires_grad=True) * 2,
        lambda m: m.ones(3, requires_grad=True),
        lambda m: m.ones(3, 1, requires_grad=True).sum(),
    ]
    for linewidth in (80, 20):
        tg.set_printoptions(linewidth=linewidth)
        torch.set_printoptions(linewidth=linewidth)
        for make in cases:
            assert _same_repr(repr(make(tg)), repr(make(torch)))


def test_sci_mode_is_reset_by_a_call_without_it(printoptions):
    tg.set_printoptions(sci_mode=True)
    tg.set_printoptions(precision=4)
    assert repr(tg.tensor([1.5])) == "tensor([1.5000])"


# -------------------------------------------------------------------------------- predicates
@pytest.mark.parametrize("name", DTYPES)
def test_predicates_match_pytorch(name):
    ours, theirs = tg.ones(2, dtype=_tg(name)), torch.ones(2, dtype=_pt(name))
    for fn in ("is_floating_point", "is_complex", "is_signed"):
        assert getattr(tg, fn)(ours) == getattr(torch, fn)(theirs), fn
        assert getattr(ours, fn)() == getattr(theirs, fn)(), fn
    assert tg.is_tensor(ours) and not tg.is_tensor([1.0])


def test_is_nonzero_and_is_same_size_match_pytorch():
    for value in ([1.0], [0.0], 3, 0, [[True]], [False]):
        assert tg.is_nonzero(tg.tensor(value)) == torch.is_nonzero(torch.tensor(value))
        assert tg.tensor(value).is_nonzero() == torch.tensor(value).is_nonzero()
    for value in ([], [1, 2]):
        _raises_like(
            lambda v=value: tg.is_nonzero(tg.tensor(v)),
            lambda v=value: torch.is_nonzero(torch.tensor(v)),
        )
    a, b = tg.ones(2, 3), tg.zeros(2, 3, dtype=tg.int64)
    assert tg.is_same_size(a, b) and a.is_same_size(b) and not a.is_same_size(tg.ones(3, 2))
    _raises_like(lambda: tg.is_nonzero(1), lambda: torch.is_nonzero(1))
    _raises_like(
        lambda: tg.is_same_size(tg.ones(1), [1]), lambda: torch.is_same_size(torch.ones(1), [1])
    )
    _raises_like(lambda: tg.is_floating_point([1.0]), lambda: torch.is_floating_point([1.0]))


# ------------------------------------------------------------------------------- broadcasting
_SHAPES = [
    (),
    ((2, 1), (3,)),
    ((2,), (3, 1), (1, 1, 1)),
    (5, (2, 1)),
    ((torch.Size([1, 3]),)),
    ((0, 1), (1, 3)),
    ((0,), (1,)),
    ([2, 1], [1, 4]),
    ((2,), None, (1,)),
    ((2, 3), (2, 3)),
    ((2,), (3,)),
    ((2, 3), (4, 1, 2)),
    ((2, 3), (3, 3)),
    ((0,), (2,)),
    ((-1,), (2,)),
    ((1,), (-1,)),
    ((2.0,),),
    ({2: 1},),
]


@pytest.mark.parametrize("shapes", _SHAPES, ids=str)
def test_broadcast_shapes_matches_pytorch(shapes):
    ours_args = [tg.Size(s) if isinstance(s, torch.Size) else s for s in shapes]
    try:
        theirs = torch.broadcast_shapes(*shapes)
    except Exception as e:
        with pytest.raises(type(e)) as ours:
            tg.broadcast_shapes(*ours_args)
        assert str(ours.value) == str(e).replace("torch.", "tracegrad.")
        return
    ours = tg.broadcast_shapes(*ours_args)
    assert type(ours) is tg.Size and ours == theirs


_TENSOR_SHAPES = [
    [(2, 1), (3,)],
    [(2, 1), (3,), (4, 1, 1)],
    [(5, 1, 3), (2, 1)],
    [(3,), (3,)],
    [(1,), ()],
    [(2,)],
    [(4, 2), (3,)],
    [(3,), (2, 3), (4,)],
    [(2, 0), (1, 1)],
]


@pytest.mark.parametrize("shapes", _TENSOR_SHAPES, ids=str)
def test_broadcast_tensors_matches_pytorch(shapes):
    rng = np.random.default_rng(0)
    values = [rng.standard_normal(s) for s in shapes]
    try:
        theirs = torch.broadcast_tensors(*(torch.tensor(v, requires_grad=True) for v in values))
    except RuntimeError as e:
        with pytest.raises(RuntimeError) as ours:
            tg.broadcast_tensors(*(tg.tensor(v) for v in values))
        assert str(ours.value) == str(e)
        return
    ours = tg.broadcast_tensors(*(tg.tensor(v) for v in values))
    assert isinstance(ours, tuple) and len(ours) == len(theirs)
    for a, b in zip(ours, theirs, strict=True):
        assert a.shape == b.shape and a.dtype == tg.float64
        np.testing.assert_array_equal(a.numpy(), b.detach().numpy())


def test_broadcast_tensors_gradient_matches_jax_vjp():
    rng = np.random.default_rng(1)
    values = [rng.standard_normal(s) for s in [(2, 1), (3,), (4, 1, 1)]]
    cotangents = [rng.standard_normal((4, 2, 3)) for _ in values]
    xs = [tg.tensor(v, requires_grad=True) for v in values]
    outs = tg.broadcast_tensors(*xs)
    assert all(o.grad_fn is not None and o.grad_fn.name() == "ExpandBackward0" for o in outs[:2])
    sum(o * tg.tensor(c) for o, c in zip(outs, cotangents, strict=True)).sum().backward()
    _, vjp = jax.vjp(lambda *a: tuple(jnp.broadcast_arrays(*a)), *map(jnp.asarray, values))
    expected = vjp(tuple(map(jnp.asarray, cotangents)))
    for x, g in zip(xs, expected, strict=True):
        np.testing.assert_allclose(x.grad.numpy(), np.asarray(g), rtol=1e-12)


def test_broadcast_tensors_gradient_matches_pytorch():
    a, b = np.arange(2.0).reshape(2, 1), np.arange(3.0)
    ta, tb = torch.tensor(a, requires_grad=True), torch.tensor(b, requires_grad=True)
    x, y = torch.broadcast_tensors(ta, tb)
    (x * y * y).sum().backward()
    ga, gb = tg.tensor(a, requires_grad=True), tg.tensor(b, requires_grad=True)
    x, y = tg.broadcast_tensors(ga, gb)
    (x * y * y).sum().backward()
    np.testing.assert_allclose(ga.grad.numpy(), ta.grad.numpy())
    np.testing.assert_allclose(gb.grad.numpy(), tb.grad.numpy())


def test_broadcast_tensors_refuses_non_tensors():
    assert tg.broadcast_tensors() == ()
    _raises_like(
        lambda: tg.broadcast_tensors(tg.ones(2), [1, 2]),
        lambda: torch.broadcast_tensors(torch.ones(2), [1, 2]),
    )


# ----------------------------------------------------------------------- result_type, can_cast
@pytest.mark.parametrize("a", DTYPES)
def test_result_type_matches_pytorch(a):
    scalars = (True, 2, 2.5)
    for b in DTYPES:
        for shape_a, shape_b in (((2,), (2,)), ((2,), ()), ((), (2,)), ((), ())):
            ours = tg.result_type(tg.ones(shape_a, dtype=_tg(a)), tg.ones(shape_b, dtype=_tg(b)))
            theirs = torch.result_type(
                torch.ones(shape_a, dtype=_pt(a)), torch.ones(shape_b, dtype=_pt(b))
            )
            assert ours.name == str(theirs).removeprefix("torch."), (a, b, shape_a, shape_b)
    for s in scalars:
        for shape in ((2,), ()):
            theirs = torch.result_type(torch.ones(shape, dtype=_pt(a)), s)
            assert tg.result_type(tg.ones(shape, dtype=_tg(a)), s).name == str(theirs)[6:]
            theirs = torch.result_type(s, torch.ones(shape, dtype=_pt(a)))
            assert tg.result_type(s, tg.ones(shape, dtype=_tg(a))).name == str(theirs)[6:]


def test_result_type_of_numbers_and_errors():
    for a in (True, 2, 2.5):
        for b in (False, 3, 0.5):
            assert tg.result_type(a, b).name == str(torch.result_type(a, b))[6:]
    with pytest.raises(TypeError, match="invalid combination of arguments - got \\(str, int\\)"):
        tg.result_type("a", 1)


@pytest.mark.parametrize("a", DTYPES)
def test_can_cast_matches_pytorch(a):
    for b in DTYPES:
        assert tg.can_cast(_tg(a), _tg(b)) == torch.can_cast(_pt(a), _pt(b)), (a, b)


def test_can_cast_refuses_tensors():
    _raises_like(
        lambda: tg.can_cast(tg.ones(1), tg.int32),
        lambda: torch.can_cast(torch.ones(1), torch.int32),
    )


# ------------------------------------------------------------------------- strides and layout
@pytest.mark.parametrize(
    "shape", [(), (3,), (2, 3), (2, 3, 4), (2, 1, 3), (0, 3), (2, 0, 3), (1, 1), (5, 1, 1, 2)]
)
def test_stride_matches_pytorchs_contiguous_tensor(shape):
    ours, theirs = tg.zeros(shape), torch.zeros(shape)
    assert ours.stride() == theirs.stride() and type(ours.stride()) is tuple
    for d in range(-len(shape) - 1, len(shape) + 1):
        try:
            expected = theirs.stride(d)
        except IndexError as e:
            with pytest.raises(IndexError) as err:
                ours.stride(d)
            assert str(err.value) == str(e)
            continue
        assert ours.stride(d) == expected
    assert ours.storage_offset() == theirs.storage_offset() == 0
    assert ours.is_contiguous() and ours.contiguous() is ours


@pytest.mark.parametrize("name", DTYPES)
def test_itemsize_nbytes_layout(name):
    ours, theirs = tg.zeros(2, 3, dtype=_tg(name)), torch.zeros(2, 3, dtype=_pt(name))
    assert ours.itemsize == theirs.itemsize == ours.element_size()
    assert ours.nbytes == theirs.nbytes
    assert ours.is_sparse is theirs.is_sparse is False
    assert ours.layout is tg.strided and str(theirs.layout) == "torch.strided"


def test_memory_format_is_accepted_where_pytorch_accepts_it():
    x = tg.ones(1, 2, 3, 4)
    for name in ("float", "double", "half", "bfloat16", "long", "int", "short", "bool", "byte"):
        assert getattr(x, name)(memory_format=tg.preserve_format).dtype == _tg(
            {"float": "float32", "double": "float64", "half": "float16", "long": "int64",
             "int": "int32", "short": "int16", "byte": "uint8"}.get(name, name)
        )  # fmt: skip
        with pytest.raises(NotImplementedError, match="memory_format"):
            getattr(x, name)(memory_format=tg.channels_last)
    assert x.cpu(memory_format=tg.contiguous_format).shape == x.shape
    with pytest.raises(NotImplementedError, match="memory_format"):
        x.cpu(memory_format=tg.channels_last)


# ------------------------------------------------------------------------ type_as and numpy()
@pytest.mark.parametrize("name", DTYPES)
def test_type_as_matches_pytorch(name):
    # Non-negative values: a negative float cast to uint8 is undefined in C and PyTorch wraps it.
    ours = tg.tensor([0.5, 1.5, 2.0]).type_as(tg.ones(1, dtype=_tg(name)))
    theirs = torch.tensor([0.5, 1.5, 2.0]).type_as(torch.ones(1, dtype=_pt(name)))
    assert ours.dtype.name == str(theirs.dtype)[6:]
    np.testing.assert_array_equal(ours.double().numpy(), theirs.double().numpy())


def test_type_as_is_recorded_and_returns_self_when_unchanged():
    x = tg.tensor([1.0, 2.0], requires_grad=True)
    assert x.type_as(tg.ones(1)) is x
    y = x.type_as(tg.ones(1, dtype=tg.float64))
    (y * y).sum().backward()
    assert x.grad.dtype == tg.float32 and x.grad.tolist() == [2.0, 4.0]


def test_numpy_returns_a_writable_copy():
    x = tg.tensor([1.0, 2.0])
    a = x.numpy()
    assert a.flags.writeable and a.dtype == np.float32
    a[0] = 5.0
    assert x.tolist() == [1.0, 2.0]  # PyTorch would show 5.0: it shares the memory
    x.add_(1)
    assert a.tolist() == [5.0, 2.0]
    assert tg.ones(2, dtype=tg.bfloat16).numpy().flags.writeable
    b = tg.tensor([1.0], requires_grad=True).numpy(force=True)
    assert b.flags.writeable


# ---------------------------------------------------------------------------- legacy types
LEGACY = ["FloatTensor", "DoubleTensor", "HalfTensor", "BFloat16Tensor", "ByteTensor",
          "CharTensor", "ShortTensor", "IntTensor", "LongTensor", "BoolTensor"]  # fmt: skip
_ARGS = [
    "()",
    "(2, 3)",
    "(0,)",
    "([1, 2],)",
    "([1.5, -2.0],)",
    "([[1, 0], [0, 1]],)",
    "([True, False],)",
    "((2, 3),)",
    "(np.array([1, 2]),)",
    "(np.array([[0.5], [2.0]]),)",
    "(Size([2, 3]),)",
    "(Size([]),)",
    "(2.0,)",
    "(2, 3.0)",
    "([1], [2])",
    "(-1,)",
]


def _same_tensor(ours, theirs):
    assert type(ours) is tg.Tensor and type(theirs) is torch.Tensor
    assert ours.shape == theirs.shape and ours.dtype.name == str(theirs.dtype)[6:]


@pytest.mark.parametrize("name", ["Tensor", *LEGACY])
@pytest.mark.parametrize("args", _ARGS)
def test_legacy_constructors_match_pytorch(name, args):
    def call(module):
        size = tg.Size if module is tg else torch.Size
        return getattr(module, name)(*eval(args, {"np": np, "Size": size}))

    try:
        theirs = call(torch)
    except Exception as e:
        with pytest.raises(type(e)) as ours:
            call(tg)
        if not isinstance(e, TypeError) or "invalid combination" not in str(e):
            assert str(ours.value) == str(e)
        return
    ours = call(tg)
    _same_tensor(ours, theirs)
    if theirs.numel() and "(" in args[1:]:  # data, not a shape (whose values PyTorch leaves)
        if args.startswith("((") or args.startswith("(["):
            np.testing.assert_array_equal(ours.float().numpy(), theirs.float().numpy())
        elif args.startswith("(np"):
            np.testing.assert_array_equal(ours.float().numpy(), theirs.float().numpy())


@pytest.mark.parametrize("name", LEGACY)
def test_legacy_isinstance_matches_pytorch(name):
    for dtype in DTYPES:
        assert isinstance(tg.ones(2, dtype=_tg(dtype)), _tg(name)) == isinstance(
            torch.ones(2, dtype=_pt(dtype)), _pt(name)
        ), dtype
    assert not isinstance([1.0], _tg(name)) and not isinstance(np.ones(2), _tg(name))
    assert not issubclass(_tg(name), tg.Tensor) and not issubclass(_pt(name), torch.Tensor)
    assert _tg(name).dtype.name == str(_pt(name).dtype)[6:]
    assert _tg(name).__name__ == _pt(name).__name__ and repr(_tg(name)).endswith(f".{name}'>")


def test_legacy_types_as_annotations_and_in_type():
    def f(x: tg.FloatTensor) -> tg.LongTensor:
        return x.long()

    assert typing.get_type_hints(f) == {"x": tg.FloatTensor, "return": tg.LongTensor}
    x = tg.tensor([1.5, 2.5])
    assert x.type(tg.LongTensor).dtype == tg.int64
    assert x.type("torch.DoubleTensor").dtype == tg.float64
    assert torch.tensor([1.5]).type(torch.LongTensor).dtype == torch.int64


def test_legacy_constructor_of_a_tensor_aliases_it():
    for module in (tg, torch):
        x = module.tensor([1.0, 2.0])
        y = module.FloatTensor(x)
        z = module.Tensor(module.tensor([1, 2]))
        assert y is not x and z.dtype == module.int64
        y.add_(1)
        assert x.tolist() == [2.0, 3.0]  # shared storage, as PyTorch
    with pytest.raises(TypeError, match="expected TensorOptions\\(dtype=long int"):
        tg.LongTensor(tg.ones(2))


def test_tensor_of_a_tensor_that_requires_grad_passes_gradients_back():
    for module in (tg, torch):
        x = module.tensor([1.0, 2.0], requires_grad=True)
        y = module.Tensor(x)
        assert y.requires_grad and not y.is_leaf
        (y * y).sum().backward()
        assert x.grad.tolist() == [2.0, 4.0]


def test_legacy_devices():
    assert tg.FloatTensor([1.0], device="cpu").device == tg.device("cpu")
    _raises_like(
        lambda: tg.FloatTensor([1.0], device="cuda"),
        lambda: torch.FloatTensor([1.0], device="cuda"),
    )
    with pytest.raises(TypeError):
        tg.FloatTensor([1.0], dtype=tg.float64)
    assert tg.Tensor(2, device="cpu").shape == (2,)


def test_empty_tensor_constructor_matches_pytorch():
    assert repr(tg.Tensor()) == repr(torch.Tensor()) == "tensor([])"
    assert tg.Tensor().dtype == tg.float32 and tg.Tensor().shape == (0,)
    tg.set_default_dtype(tg.float64)
    try:
        assert tg.Tensor([1]).dtype == tg.float64 and tg.FloatTensor([1]).dtype == tg.float32
    finally:
        tg.set_default_dtype(tg.float32)
