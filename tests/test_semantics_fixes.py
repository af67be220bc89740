"""Semantic fixes where tracegrad gave a different answer from PyTorch (or a wrong one silently).

Each test compares with PyTorch when it is installed, and pins exact values otherwise."""

from __future__ import annotations

import io
import json
import math
import pickle
import struct

import numpy as np
import pytest

import tracegrad as tg
import tracegrad.nn.functional as F

try:
    import torch
except ImportError:  # PyTorch is an optional second oracle
    torch = None

needs_torch = pytest.mark.skipif(torch is None, reason="PyTorch not installed")


def _both(fn):
    """``fn(lib)`` for tracegrad, and for PyTorch when installed: (tracegrad's, torch's or None)."""
    return fn(tg), (fn(torch) if torch is not None else None)


def _error(fn, lib):
    with pytest.raises(Exception) as info:
        fn(lib)
    return type(info.value), str(info.value)


# ------------------------------------------------------------------------------ range as an index
_ROWS = [[0.0, 1.0, 2.0], [3.0, 4.0, 5.0], [6.0, 7.0, 8.0], [9.0, 10.0, 11.0]]


@pytest.mark.parametrize(
    "index, expected",
    [
        (lambda lib: range(3), _ROWS[:3]),
        (lambda lib: range(1, 4), _ROWS[1:]),
        (lambda lib: range(0, 4, 2), [_ROWS[0], _ROWS[2]]),
        (lambda lib: range(0), []),
        (lambda lib: (range(3), lib.tensor([0, 2, 1])), [0.0, 5.0, 7.0]),
        (lambda lib: (range(3), [0, 2, 1]), [0.0, 5.0, 7.0]),
        (lambda lib: (slice(None), range(1, 3)), [r[1:] for r in _ROWS]),
    ],
)
def test_range_indexes_like_a_list(index, expected):
    ours, theirs = _both(lambda lib: lib.arange(12.0).reshape(4, 3)[index(lib)].tolist())
    assert ours == expected
    if theirs is not None:
        assert ours == theirs


def test_range_in_setitem():
    def run(lib):
        y = lib.zeros(4, 3)
        y[range(1, 3)] = 1.0
        y[range(2), 0] = 5.0
        return y.tolist()

    ours, theirs = _both(run)
    assert ours == [[5, 0, 0], [5, 1, 1], [1, 1, 1], [0, 0, 0]]
    if theirs is not None:
        assert ours == theirs


def test_range_index_gradient():
    x = tg.arange(12.0).reshape(4, 3).requires_grad_()
    x[range(3), tg.tensor([0, 2, 1])].sum().backward()
    expected = np.zeros((4, 3))
    expected[[0, 1, 2], [0, 2, 1]] = 1
    np.testing.assert_array_equal(x.grad.numpy(), expected)


# ---------------------------------------------------------------------- integer dtypes of indices
@pytest.mark.parametrize(
    "op",
    [
        lambda lib, i: lib.gather(lib.arange(6.0).reshape(2, 3), 1, i([[2, 0], [1, 1]])),
        lambda lib, i: lib.zeros(2, 3).scatter(1, i([[2, 0], [1, 1]]), lib.ones(2, 2)),
        lambda lib, i: lib.zeros(2, 3).scatter(1, i([[2, 0], [1, 1]]), 5.0),
        lambda lib, i: lib.zeros(2, 3).scatter_add(1, i([[2, 0], [1, 1]]), lib.ones(2, 2)),
        lambda lib, i: lib.index_select(lib.arange(6.0).reshape(2, 3), 1, i([2, 0])),
        lambda lib, i: lib.zeros(3).index_add(0, i([2, 0]), lib.ones(2)),
        lambda lib, i: lib.arange(6.0)[i([2, 0])],
    ],
)
def test_int32_indices_are_accepted(op):
    ours, theirs = _both(lambda lib: op(lib, lambda v: lib.tensor(v, dtype=lib.int32)).tolist())
    int64 = op(tg, lambda v: tg.tensor(v)).tolist()
    assert ours == int64
    if theirs is not None:
        assert ours == theirs


def test_gather_int32_index_gradient():
    x = tg.arange(6.0).reshape(2, 3).requires_grad_()
    x.gather(1, tg.tensor([[2, 2], [0, 1]], dtype=tg.int32)).sum().backward()
    assert x.grad.tolist() == [[0, 0, 2], [1, 1, 0]]


@pytest.mark.parametrize(
    "op, error, message",
    [
        (
            lambda lib, i: lib.take(lib.arange(6.0), i([2, 0])),
            RuntimeError,
            "take(): Expected a long tensor for index, but got Int",
        ),
        (
            lambda lib, i: lib.take_along_dim(lib.arange(6.0).reshape(2, 3), i([[2], [1]]), 1),
            RuntimeError,
            "torch.take_along_dim(): dtype of indices should be Long but got Int",
        ),
    ],
)
def test_int32_indices_refused_where_pytorch_refuses_them(op, error, message):
    with pytest.raises(error) as info:
        op(tg, lambda v: tg.tensor(v, dtype=tg.int32))
    assert str(info.value) == message
    if torch is not None:
        with pytest.raises(error) as info:
            op(torch, lambda v: torch.tensor(v, dtype=torch.int32))
        assert str(info.value) == message


@pytest.mark.parametrize("dtype", ["int8", "int16"])
def test_narrow_integer_tensors_are_not_indices(dtype):
    for lib in (tg, torch) if torch is not None else (tg,):
        i = lib.tensor([2, 0], dtype=getattr(lib, dtype))
        with pytest.raises(IndexError, match="tensors used as indices must be long, int, byte"):
            lib.arange(6.0)[i]


@pytest.mark.parametrize("dtype, name", [("int16", "Short"), ("int8", "Char"), ("int32", "Int")])
def test_nll_loss_target_dtype_message_names_pytorch_type(dtype, name):
    target = tg.tensor([0, 1], dtype=getattr(tg, dtype))
    with pytest.raises(RuntimeError) as info:
        F.nll_loss(tg.zeros(2, 3), target)
    assert str(info.value) == f"expected target dtype to be Long or Byte, but got {name}"


# ------------------------------------------------------------------- integer division and modulus
A = [7, -7, 5, -5, 0]


@pytest.mark.parametrize("dtype", ["int64", "int32", "int16", "int8", "uint8"])
@pytest.mark.parametrize("mode", ["trunc", "floor"])
@pytest.mark.parametrize("divisor", [2, -2, "tensor"])
def test_rounded_integer_division_stays_integer(dtype, mode, divisor):
    if dtype == "uint8" and divisor != 2:
        pytest.skip("negative divisors of unsigned tensors wrap")
    values = [v for v in A if v >= 0] if dtype == "uint8" else A
    divisors = [3, -3, 2, -2, 4]

    def run(lib):
        a = lib.tensor(values, dtype=getattr(lib, dtype))
        b = lib.tensor(divisors, dtype=a.dtype) if divisor == "tensor" else divisor
        out = lib.div(a, b, rounding_mode=mode)
        return out.tolist(), str(out.dtype).split(".")[-1]

    ours, theirs = _both(run)
    assert ours[1] == dtype
    bs = divisors if divisor == "tensor" else [divisor] * len(values)
    assert ours[0] == [int(v / b) if mode == "trunc" else v // b for v, b in zip(values, bs)]
    if theirs is not None:
        assert ours == theirs


def test_floor_divide_operators_with_python_ints():
    a = tg.tensor([7, -7, 5, -5])
    assert (a // 2).tolist() == [3, -4, 2, -3] and (a // 2).dtype == tg.int64
    assert (a // -2).tolist() == [-4, 3, -3, 2]
    assert (7 // tg.tensor([2, -2])).tolist() == [3, -4]
    assert tg.floor_divide(a, 2).tolist() == [3, -4, 2, -3]
    assert tg.div(a, 2, rounding_mode="trunc").tolist() == [3, -3, 2, -2]
    assert a.div(2, rounding_mode="trunc").dtype == tg.int64
    assert tg.div(7, tg.tensor([2, -2]), rounding_mode="trunc").tolist() == [3, -3]
    # a float operand makes the quotient float, as before
    assert tg.div(a, 2.0, rounding_mode="trunc").dtype == tg.float32
    assert tg.div(tg.tensor([7.0, -7.0]), 2, rounding_mode="trunc").tolist() == [3.0, -3.0]


def test_trunc_division_is_exact_for_large_integers():
    # float division would round 2**53 + 1 to 2**53
    big = tg.tensor([2**53 + 1, -(2**53) - 1])
    assert tg.div(big, 1, rounding_mode="trunc").tolist() == [2**53 + 1, -(2**53) - 1]


def test_in_place_trunc_division_of_an_integer_tensor():
    a = tg.tensor([7, -7])
    a.div_(2, rounding_mode="trunc")
    assert a.tolist() == [3, -3] and a.dtype == tg.int64


@pytest.mark.parametrize(
    "op",
    [
        lambda lib, a: lib.div(a, 0, rounding_mode="trunc"),
        lambda lib, a: lib.div(a, 0, rounding_mode="floor"),
        lambda lib, a: a // 0,
        lambda lib, a: lib.floor_divide(a, 0),
        lambda lib, a: a % 0,
        lambda lib, a: lib.remainder(a, 0),
        lambda lib, a: lib.fmod(a, 0),
        lambda lib, a: a // False,
    ],
)
def test_integer_division_by_python_zero_raises(op):
    for lib in (tg, torch) if torch is not None else (tg,):
        with pytest.raises(RuntimeError, match="^ZeroDivisionError$"):
            op(lib, lib.tensor([7, -7]))


@pytest.mark.parametrize(
    "op",
    [
        lambda lib, a, b: lib.div(a, b, rounding_mode="trunc"),
        lambda lib, a, b: a // b,
        lambda lib, a, b: a % b,
        lambda lib, a, b: lib.fmod(a, b),
        lambda lib, a, b: 7 // b,
    ],
)
def test_integer_division_by_a_tensor_holding_zero_raises(op):
    for lib in (tg, torch) if torch is not None else (tg,):
        with pytest.raises(RuntimeError, match="^ZeroDivisionError$"):
            op(lib, lib.tensor([7, -7]), lib.tensor([2, 0]))
    assert op(tg, tg.tensor([7, -7]), tg.tensor([2, 3])).dtype == tg.int64


def test_integer_division_by_zero_inside_compile_raises_and_keeps_the_state():
    counts = tg.tensor([3, 4])

    @tg.compile
    def step(b):
        counts.add_(1)
        return counts // b

    assert step(tg.tensor([2, 1])).tolist() == [2, 5]
    with pytest.raises(RuntimeError, match="^ZeroDivisionError$"):
        step(tg.tensor([0, 1]))
    assert counts.tolist() == [4, 5]  # the failed call wrote nothing back
    assert step(tg.tensor([1, 1])).tolist() == [5, 6]


def test_float_division_by_zero_does_not_raise():
    assert tg.div(tg.tensor([5.0]), 0, rounding_mode="floor").tolist() == [math.inf]
    assert tg.div(tg.tensor([5]), 0.0, rounding_mode="trunc").tolist() == [math.inf]
    assert math.isnan((tg.tensor([5.0]) % 0).item())


@pytest.mark.parametrize(
    "op, kernel",
    [
        (lambda lib, b: lib.div(b, True, rounding_mode="trunc"), "div_trunc"),
        (lambda lib, b: b // True, "div_floor"),
        (lambda lib, b: b % True, "remainder"),
        (lambda lib, b: lib.fmod(b, True), "fmod"),
    ],
)
def test_boolean_integer_division_is_not_implemented(op, kernel):
    for lib in (tg, torch) if torch is not None else (tg,):
        with pytest.raises(NotImplementedError) as info:
            op(lib, lib.tensor([True, False]))
        assert str(info.value) == f"\"{kernel}_cpu\" not implemented for 'Bool'"


# ----------------------------------------------------------------------- activations at NaN
NAN_INPUT = [math.nan, -1.0, 0.0, 1.0, 7.0, -3.0, 3.0]


@pytest.mark.parametrize(
    "fn, grad",
    [
        (lambda lib, x: lib.relu(x), [1, 0, 0, 1, 1, 0, 1]),
        (lambda lib, x: lib.nn.functional.relu(x), [1, 0, 0, 1, 1, 0, 1]),
        (lambda lib, x: lib.nn.functional.relu6(x), [1, 0, 0, 1, 0, 0, 1]),
        (lambda lib, x: lib.nn.functional.hardtanh(x), [1, 0, 1, 0, 0, 0, 0]),
        (lambda lib, x: lib.nn.functional.hardtanh(x, 0.0, 1.0), [1, 0, 0, 0, 0, 0, 0]),
        (lambda lib, x: lib.nn.functional.elu(x), None),
        (lambda lib, x: lib.nn.functional.selu(x), None),
        (lambda lib, x: lib.nn.functional.celu(x, 2.0), None),
        (lambda lib, x: lib.nn.functional.hardswish(x), None),
        (lambda lib, x: lib.abs(x), [0, -1, 0, 1, 1, -1, 1]),
        (lambda lib, x: lib.nn.functional.leaky_relu(x, 0.1), None),
        (lambda lib, x: lib.clamp(x, 0.0, 1.0), [0, 0, 1, 1, 0, 0, 0]),
        (lambda lib, x: lib.nn.functional.hardsigmoid(x), None),
    ],
)
def test_activation_gradient_at_nan_follows_pytorch(fn, grad):
    def run(lib):
        x = lib.tensor(NAN_INPUT, requires_grad=True)
        y = fn(lib, x)
        y.sum().backward()
        return [v if v == v else "nan" for v in y.tolist()], x.grad.tolist()

    ours, theirs = _both(run)
    assert ours[0][0] == "nan"  # the forward keeps the NaN
    assert ours[1][0] == ours[1][0]  # and the gradient there is a number
    if grad is not None:
        assert ours[1] == grad
    if theirs is not None:
        assert ours[0] == [v if isinstance(v, str) else pytest.approx(v) for v in theirs[0]]
        np.testing.assert_allclose(ours[1], theirs[1], rtol=1e-6)


def test_elu_gradient_at_nan_is_the_linear_slope():
    x = tg.tensor([math.nan, -1.0], requires_grad=True)
    tg.nn.functional.selu(x).sum().backward()
    assert x.grad[0].item() == pytest.approx(1.0507009873554805)


def test_sign_of_nan_is_zero():
    ours, theirs = _both(
        lambda lib: lib.sign(lib.tensor([math.nan, -2.0, -0.0, 0.0, 3.0])).tolist()
    )
    assert ours == [0.0, -1.0, 0.0, 0.0, 1.0]
    if theirs is not None:
        assert ours == theirs
    assert tg.sign(tg.tensor([-3, 0, 4])).tolist() == [-1, 0, 1]


# ------------------------------------------------------------------ Python numbers from tensors
@pytest.mark.parametrize("values", [[1.0, 2.0], [], [[1.0, 2.0]]])
@pytest.mark.parametrize("convert", [float, int])
def test_float_and_int_of_many_elements(values, convert):
    for lib in (tg, torch) if torch is not None else (tg,):
        with pytest.raises(ValueError) as info:
            convert(lib.tensor(values))
        assert str(info.value) == "only one element tensors can be converted to Python scalars"


def test_float_int_of_one_element():
    assert float(tg.tensor([[1.5]])) == 1.5 and int(tg.tensor([[-1.7]])) == -1
    assert isinstance(float(tg.tensor(3)), float) and isinstance(int(tg.tensor(2.5)), int)


def test_bool_of_no_values():
    with pytest.raises(RuntimeError, match="Boolean value of Tensor with no values is ambiguous"):
        bool(tg.tensor([]))
    with pytest.raises(RuntimeError, match="with more than one value is ambiguous"):
        bool(tg.tensor([1, 2]))
    if torch is not None:
        with pytest.raises(
            RuntimeError, match="Boolean value of Tensor with no values is ambiguous"
        ):
            bool(torch.tensor([]))


def test_item_of_many_elements_is_a_runtime_error():
    for lib in (tg, torch) if torch is not None else (tg,):
        with pytest.raises(RuntimeError, match="a Tensor with 0 elements cannot be converted"):
            lib.tensor([]).item()


# -------------------------------------------------------------- loaded tensors and requires_grad
def _checkpoint_with(tree_edit) -> bytes:
    """A tracegrad checkpoint of an int64 and a float tensor, its tree metadata edited."""
    buf = io.BytesIO()
    tg.save({"i": tg.tensor([1, 2]), "f": tg.tensor([1.0], requires_grad=True)}, buf)
    data = buf.getvalue()
    (n,) = struct.unpack("<Q", data[:8])
    header = json.loads(data[8 : 8 + n])
    tree = json.loads(header["__metadata__"]["tracegrad.tree"])
    tree_edit(tree)
    header["__metadata__"]["tracegrad.tree"] = json.dumps(tree)
    raw = json.dumps(header).encode()
    raw += b" " * (-len(raw) % 8)
    return struct.pack("<Q", len(raw)) + raw + data[8 + n :]


def test_load_refuses_an_integer_tensor_marked_requires_grad():
    def mark(tree):
        for key, node in tree["D"]:
            if key == "i":
                node["g"] = True

    with pytest.raises(RuntimeError, match="'i' has dtype int64 but is marked requires_grad"):
        tg.load(io.BytesIO(_checkpoint_with(mark)))
    ok = tg.load(io.BytesIO(_checkpoint_with(lambda tree: None)))
    assert ok["f"].requires_grad and not ok["i"].requires_grad


def test_unpickling_an_integer_tensor_cannot_require_grad():
    from tracegrad.tensor import _rebuild

    payload = pickle.dumps(tg.tensor([1.0, 2.0], requires_grad=True))
    assert pickle.loads(payload).requires_grad
    assert not pickle.loads(pickle.dumps(tg.tensor([1, 2]))).requires_grad
    # a crafted pickle naming the integer array and requires_grad=True
    with pytest.raises(RuntimeError, match="only Tensors of floating point"):
        _rebuild(np.array([1, 2]), True)


def test_load_state_dict_casts_integer_values_to_the_parameter():
    m = tg.nn.Linear(2, 1)
    m.load_state_dict({"weight": tg.tensor([[1, 2]]), "bias": tg.tensor([3])})
    assert m.weight.dtype == tg.float32 and m.weight.requires_grad
    with pytest.raises(RuntimeError, match="only Tensors of floating point"):
        m.load_state_dict({"weight": tg.tensor([[1, 2]]), "bias": tg.tensor([3])}, assign=True)
    assert m.weight.dtype == tg.float32 and m.weight.requires_grad


# ------------------------------------------------------------------------------------ denormals
@pytest.mark.eager_only  # a lazy program compiles the 1 in, and XLA simplifies x * 1 to x
def test_cpu_flushes_subnormals_as_documented():
    """XLA's CPU runtime runs every program with flush-to-zero and denormals-are-zero set, and
    no JAX or XLA option turns that off (docs/semantics.md). Subnormals are stored exactly but
    read as zero by any computation. This pins the documented difference from PyTorch."""
    import jax

    if jax.default_backend() != "cpu":
        pytest.skip("GPUs keep float32 subnormals; the documented difference is CPU's")
    x = tg.tensor(1e-45)
    assert x.item() == pytest.approx(1.401298464324817e-45)  # stored exactly
    assert tg.log(x).item() == -math.inf  # PyTorch: -103.28
    assert (x * 1).item() == 0.0
    assert tg.log(tg.tensor(1e-310, dtype=tg.float64)).item() == -math.inf  # PyTorch: -713.8
    assert tg.log(tg.tensor(1.2e-38)).item() == pytest.approx(math.log(1.2e-38), rel=1e-6)
    if torch is not None:
        assert torch.log(torch.tensor(1e-45)).item() == pytest.approx(-103.2789, abs=1e-3)


_N = float("nan")


@pytest.mark.parametrize(
    "fn, grad",
    [
        (lambda lib, x: lib.amax(x), [[_N, _N, _N], [_N, _N, _N]]),
        (lambda lib, x: lib.amin(x, 1), [[_N, _N, _N], [1, 0, 0]]),
        (lambda lib, x: x.amax(dim=1, keepdim=True), [[_N, _N, _N], [0, 0.5, 0.5]]),
        (lambda lib, x: lib.max(x), [[0, 1, 0], [0, 0, 0]]),
        (lambda lib, x: lib.min(x), [[0, 1, 0], [0, 0, 0]]),
        (lambda lib, x: lib.max(x, 1).values, [[0, 1, 0], [0, 1, 0]]),
        (lambda lib, x: lib.median(x), [[0, 1, 0], [0, 0, 0]]),
    ],
)
def test_reduction_gradient_at_nan_follows_pytorch(fn, grad):
    """``amax``/``amin`` give NaN gradients where the result is NaN (PyTorch matches ties with
    ``==``); ``max()``/``min()``/``median()`` send the gradient to the NaN itself."""
    data = [[1.0, float("nan"), 3.0], [2.0, 5.0, 5.0]]

    def run(lib):
        x = lib.tensor(data, requires_grad=True)
        fn(lib, x).sum().backward()
        return x.grad.tolist()

    ours, theirs = _both(run)
    np.testing.assert_array_equal(np.array(ours), np.array(grad))
    if theirs is not None:
        np.testing.assert_array_equal(np.array(ours), np.array(theirs))
    before = tg.is_compiled_backward_enabled()
    tg.set_compiled_backward(True)
    try:  # the same graph three times: the compiled backward's program gives the same NaNs
        for _ in range(3):
            np.testing.assert_array_equal(np.array(run(tg)), np.array(grad))
    finally:
        tg.set_compiled_backward(before)


@needs_torch
def test_ops_pytorch_cannot_differentiate_raise_at_backward_not_a_zero_gradient():
    # heaviside (and the internal ctc_loss_backward, _standard_gamma_grad) record a node, as in
    # PyTorch, whose backward raises; before, heaviside's result was a constant and the gradient
    # through it silently zero.
    x = tg.tensor([0.5, -1.0, 0.0], requires_grad=True)
    h = tg.heaviside(x, tg.tensor([0.5]))
    xt = torch.tensor([0.5, -1.0, 0.0], requires_grad=True)
    ht = torch.heaviside(xt, torch.tensor([0.5]))
    assert h.requires_grad == ht.requires_grad
    with pytest.raises(RuntimeError) as want:
        (ht + xt).sum().backward()
    with pytest.raises(RuntimeError) as got:
        (h + x).sum().backward()
    assert str(got.value) == str(want.value)
    lp = tg.randn(4, 1, 3, dtype=tg.float64).log_softmax(-1).requires_grad_()
    loss = tg.nn.functional.ctc_loss(lp, tg.tensor([[1, 2]]), [4], [2], reduction="sum")
    (g,) = tg.autograd.grad(loss, lp, create_graph=True)
    with pytest.raises(RuntimeError, match="derivative for aten::_ctc_loss_backward"):
        g.sum().backward()


@needs_torch
@pytest.mark.parametrize("lazy", [False, True])
@pytest.mark.parametrize("reduction", ["none", "sum", "mean"])
def test_nll_loss_gradient_with_a_non_finite_cotangent_follows_pytorch(reduction, lazy):
    # PyTorch writes -w * g at the picked elements only; a product with a one-hot mask spread
    # inf * 0 = NaN over whole rows (eagerly; a compiled program turned it into a select).
    x = np.random.default_rng(0).standard_normal((4, 5))
    t = np.array([1, 0, 3, 2])
    w = np.array([1.0, 0.0, 2.0, 1.0, 0.5])
    ct = np.array([np.inf, 1.0, np.nan, -np.inf]) if reduction == "none" else np.array(np.inf)
    xt = torch.tensor(x, requires_grad=True)
    torch.nn.functional.nll_loss(
        xt, torch.tensor(t), weight=torch.tensor(w), reduction=reduction
    ).backward(torch.tensor(ct))
    before = tg.is_lazy()
    tg.set_lazy(lazy)
    try:
        xg = tg.tensor(x, requires_grad=True)
        F.nll_loss(xg, tg.tensor(t), weight=tg.tensor(w), reduction=reduction).backward(
            tg.tensor(ct)
        )
        got = xg.grad.numpy()
    finally:
        tg.set_lazy(before)
    np.testing.assert_array_equal(got, xt.grad.numpy())
