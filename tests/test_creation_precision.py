"""Python data becomes a tensor at the requested precision, bit for bit as PyTorch converts it:
float64 exact, int64 exact, overflow refused with PyTorch's error, float32 rounded once."""

from __future__ import annotations

import numpy as np
import pytest

import tracegrad as tg

# (expression over `T` (the library), ...) evaluated with tracegrad and with PyTorch.
CASES = [
    "T.tensor([0.3], dtype=T.float64)",
    "T.tensor(0.3, dtype=T.float64)",
    "T.tensor([0.1, 0.2, 0.7], dtype=T.float64, requires_grad=True)",
    "T.tensor(16777217.0, dtype=T.float64)",
    "T.tensor(1e40, dtype=T.float64)",
    "T.tensor([1.5, 2**64])",
    "T.tensor([2**64], dtype=T.float64)",
    "T.tensor([[0.1, 0.2], [0.3, 0.4]], dtype=T.float64)",
    "T.tensor([T.tensor(0.3, dtype=T.float64)])",
    "T.tensor([T.tensor(0.3, dtype=T.float64), 2])",
    "T.as_tensor([0.3], dtype=T.float64)",
    "T.as_tensor(0.3, dtype=T.float64)",
    "T.zeros(1).new_tensor([0.3], dtype=T.float64)",
    "T.zeros(1, dtype=T.float64).new_tensor([0.3, 1e40])",
    "T.arange(end=5)",
    "T.linspace(-3.3, 7.1, 17, dtype=T.int64)",
]

# Errors PyTorch raises, with its message.
ERRORS = [
    "T.tensor(2**64)",
    "T.tensor(2**63)",
    "T.tensor([2**63], dtype=T.int64)",
    "T.tensor([1, 2**64])",
    "T.tensor([2**40 + 1], dtype=T.int32)",
    "T.tensor([300], dtype=T.uint8)",
    "T.tensor([-256], dtype=T.uint8)",
    "T.tensor([128], dtype=T.int8)",
    "T.tensor([1e20], dtype=T.int64)",
    "T.tensor([float('nan')], dtype=T.int64)",
    "T.tensor([float('inf')], dtype=T.int32)",
    "T.tensor([255.9], dtype=T.uint8)",
    "T.tensor([-1.5], dtype=T.uint8)",
    "T.tensor(10**400, dtype=T.float64)",
    "T.zeros(1, dtype=T.int64).new_tensor([2**63])",
    "T.arange(0, 1, 0.1, dtype=T.int64)",
    "T.full((2,), 1e40)",
    "T.full((1,), 2**63)",
    "T.arange(-3.3, 7.1, 0.7, dtype=T.int64)",
    "T.linspace(0, 1e5, 3, dtype=T.float16)",
    "T.full_like(T.zeros(1, dtype=T.int32), 2**40)",
]


def _bits(a: np.ndarray) -> np.ndarray:
    """The raw bits of ``a`` (so -0.0 != 0.0 and NaNs compare by payload)."""
    a = np.ascontiguousarray(a)
    return a.view(f"u{a.dtype.itemsize}") if a.dtype.itemsize in (1, 2, 4, 8) else a


def _np(t, lib) -> np.ndarray:
    if lib == "torch":
        import torch

        t = t.detach()
        if t.dtype == torch.bfloat16:
            import ml_dtypes

            return t.view(torch.int16).numpy().view(ml_dtypes.bfloat16)
        return t.numpy()
    return np.asarray(t.detach())


# The values the old float32 round trip got wrong, checked without PyTorch.
def test_float64_data_is_exact():
    assert tg.tensor([0.3], dtype=tg.float64).item() == 0.3
    assert tg.tensor(0.3, dtype=tg.float64, requires_grad=True).item() == 0.3
    assert tg.tensor(16777217.0, dtype=tg.float64).item() == 16777217.0
    assert tg.tensor(1e40, dtype=tg.float64).item() == 1e40
    assert tg.as_tensor([0.3], dtype=tg.float64).item() == 0.3
    assert tg.zeros(1).new_tensor([0.3], dtype=tg.float64).item() == 0.3
    assert tg.zeros(1, dtype=tg.float64).new_tensor([0.3]).item() == 0.3
    assert tg.tensor([tg.tensor(0.3, dtype=tg.float64)]).dtype == tg.float64
    # float32 still rounds once, from the exact value
    assert tg.tensor(16777217.0).item() == 16777216.0
    assert tg.tensor(1e40).item() == float("inf")


def test_int64_is_exact_and_overflow_refused():
    assert tg.tensor(2**62 + 1).item() == 2**62 + 1
    assert tg.full((1,), 2**62 + 1).item() == 2**62 + 1
    with pytest.raises(ValueError, match="Overflow when unpacking long long"):
        tg.tensor(2**64)
    with pytest.raises(ValueError, match="Overflow when unpacking long long"):
        tg.tensor([2**63], dtype=tg.int64)
    with pytest.raises(RuntimeError, match="value cannot be converted to type int32 without"):
        tg.tensor([2**40 + 1], dtype=tg.int32)
    with pytest.raises(RuntimeError, match="value cannot be converted to type int64 without"):
        tg.tensor([float("nan")], dtype=tg.int64)


@pytest.mark.parametrize("expr", CASES)
def test_values_match_pytorch_bit_for_bit(expr):
    torch = pytest.importorskip("torch")
    ours = eval(expr, {"T": tg})
    theirs = eval(expr, {"T": torch})
    assert ours.dtype.name == str(theirs.dtype).removeprefix("torch.")
    assert tuple(ours.shape) == tuple(theirs.shape)
    assert ours.requires_grad == theirs.requires_grad
    a, b = _np(ours, "tg"), _np(theirs, "torch")
    if expr.startswith("T.linspace") and a.dtype.kind == "f" and a.size > 8:
        # PyTorch's vectorised CPU loop computes some lanes as base + k * step (its vector width
        # decides which): those may differ from the scalar formula by an ulp.
        np.testing.assert_array_max_ulp(a, b, maxulp=1)
    else:
        np.testing.assert_array_equal(_bits(a), _bits(b))


@pytest.mark.parametrize("expr", ERRORS)
def test_errors_match_pytorch(expr):
    torch = pytest.importorskip("torch")
    with pytest.raises(Exception) as theirs:
        eval(expr, {"T": torch})
    with pytest.raises(Exception) as ours:
        eval(expr, {"T": tg})
    assert ours.type is theirs.type, (ours.value, theirs.value)
    prefix = "value cannot be converted to type"
    if str(theirs.value).startswith(prefix):
        assert str(ours.value).startswith(prefix)
    elif ours.type is not OverflowError:  # Python's own message from float(int)
        assert str(ours.value) == str(theirs.value)
