"""Tensors: factories, attributes, conversions, printing, dtype promotion and interop, checked
against PyTorch's documented behaviour (and numpy for values)."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import tracegrad as torch


def _np(t):
    return np.asarray(t.detach())


# ------------------------------------------------------------------------------------ factories
@pytest.mark.parametrize(
    "fn,value",
    [(torch.zeros, 0.0), (torch.ones, 1.0), (torch.empty, 0.0)],
    ids=["zeros", "ones", "empty"],
)
def test_constant_factories(fn, value):
    for t in (fn(2, 3), fn((2, 3)), fn([2, 3])):
        assert t.shape == (2, 3) and t.dtype == torch.float32
        assert not t.requires_grad and t.is_leaf
        if fn is not torch.empty:
            np.testing.assert_array_equal(_np(t), np.full((2, 3), value))
    assert fn(()).shape == () and fn(0, 2).shape == (0, 2)
    assert fn(2, dtype=torch.float64).dtype == torch.float64
    assert fn(2, dtype=torch.int64).dtype == torch.int64
    t = fn(2, requires_grad=True)
    assert t.requires_grad and t.is_leaf
    assert fn(2, device="cpu").device == torch.device("cpu")


def test_full():
    t = torch.full((2, 2), 7.0)
    assert t.dtype == torch.float32 and t.tolist() == [[7.0, 7.0], [7.0, 7.0]]
    assert torch.full((2,), 3).dtype == torch.int64
    assert torch.full((2,), True).dtype == torch.bool
    assert torch.full((3,), 1.5, dtype=torch.float64).dtype == torch.float64
    assert torch.full((2,), 2.0, requires_grad=True).requires_grad


def test_arange():
    assert torch.arange(5).tolist() == [0, 1, 2, 3, 4]
    assert torch.arange(5).dtype == torch.int64
    assert torch.arange(1, 4).tolist() == [1, 2, 3]
    assert torch.arange(0, 10, 3).tolist() == [0, 3, 6, 9]
    t = torch.arange(0, 1, 0.25)
    assert t.dtype == torch.float32 and t.tolist() == [0.0, 0.25, 0.5, 0.75]
    assert torch.arange(5.0).dtype == torch.float32
    assert torch.arange(3, dtype=torch.float64).dtype == torch.float64
    assert torch.arange(5, 0, -2).tolist() == [5, 3, 1]
    assert torch.arange(0).shape == (0,)


def test_linspace_and_eye():
    t = torch.linspace(0, 1, 5)
    assert t.dtype == torch.float32
    np.testing.assert_allclose(_np(t), [0, 0.25, 0.5, 0.75, 1.0])
    assert torch.linspace(-1, 1, 1).tolist() == [-1.0]
    np.testing.assert_array_equal(_np(torch.eye(3)), np.eye(3))
    np.testing.assert_array_equal(_np(torch.eye(2, 3)), np.eye(2, 3))
    assert torch.eye(2, dtype=torch.int64).dtype == torch.int64


def test_random_factories_shapes_ranges_and_dtypes():
    torch.manual_seed(0)
    u = torch.rand(1000)
    assert u.dtype == torch.float32 and u.shape == (1000,)
    assert 0.0 <= _np(u).min() and _np(u).max() < 1.0
    n = torch.randn(20000, dtype=torch.float64)
    assert n.dtype == torch.float64
    assert abs(_np(n).mean()) < 0.05 and abs(_np(n).std() - 1) < 0.05
    r = torch.randint(3, 7, (500,))
    assert r.dtype == torch.int64 and set(r.tolist()) == {3, 4, 5, 6}
    assert set(torch.randint(2, (100,)).tolist()) <= {0, 1}
    p = torch.randperm(10)
    assert sorted(p.tolist()) == list(range(10))
    assert torch.rand(2, 3, requires_grad=True).requires_grad
    assert torch.randn((2, 3)).shape == (2, 3)


def test_manual_seed_reproducibility():
    torch.manual_seed(123)
    a, b = torch.randn(5), torch.rand(3)
    torch.manual_seed(123)
    c, d = torch.randn(5), torch.rand(3)
    np.testing.assert_array_equal(_np(a), _np(c))
    np.testing.assert_array_equal(_np(b), _np(d))
    assert torch.initial_seed() == 123
    torch.manual_seed(124)
    assert not np.array_equal(_np(torch.randn(5)), _np(a))
    # Consecutive draws differ.
    assert not np.array_equal(_np(torch.randn(5)), _np(torch.randn(5)))


def test_rng_state_roundtrip():
    torch.manual_seed(7)
    state = torch.get_rng_state()
    a = torch.randn(4)
    torch.set_rng_state(state)
    np.testing.assert_array_equal(_np(torch.randn(4)), _np(a))


def test_like_factories():
    x = torch.tensor([[1, 2, 3]], dtype=torch.int32)
    for fn, v in ((torch.zeros_like, 0), (torch.ones_like, 1), (torch.empty_like, 0)):
        t = fn(x)
        assert t.shape == (1, 3) and t.dtype == torch.int32
        if fn is not torch.empty_like:
            assert t.tolist() == [[v, v, v]]
    assert torch.full_like(x, 4).tolist() == [[4, 4, 4]]
    f = torch.zeros_like(x, dtype=torch.float64, requires_grad=True)
    assert f.dtype == torch.float64 and f.requires_grad
    y = torch.ones(2, 2)
    assert torch.rand_like(y).shape == (2, 2) and torch.randn_like(y).dtype == torch.float32
    assert torch.randint_like(y, 5).shape == (2, 2)


def test_tensor_factory_inference():
    assert torch.tensor(3.0).dtype == torch.float32
    assert torch.tensor(3).dtype == torch.int64
    assert torch.tensor(True).dtype == torch.bool
    assert torch.tensor([1, 2.5]).dtype == torch.float32
    assert torch.tensor([[1, 2], [3, 4]]).shape == (2, 2)
    assert torch.tensor([]).shape == (0,) and torch.tensor([]).dtype == torch.float32
    assert torch.tensor(np.float64(1.5)).dtype == torch.float64
    assert torch.tensor(np.arange(3, dtype=np.int32)).dtype == torch.int32
    assert torch.tensor([1, 2], dtype=torch.float64).dtype == torch.float64
    t = torch.tensor([1.0], requires_grad=True)
    assert t.requires_grad and t.is_leaf


def test_tensor_constructor_is_float32():
    t = torch.Tensor([1, 2])
    assert t.dtype == torch.float32 and t.tolist() == [1.0, 2.0]
    assert torch.Tensor(2, 3).shape == (2, 3)
    assert isinstance(t, torch.Tensor) and torch.is_tensor(t) and not torch.is_tensor([1])


# ----------------------------------------------------------------------------------- attributes
def test_shape_attributes():
    x = torch.zeros(2, 3, 4)
    assert x.shape == (2, 3, 4) and x.size() == (2, 3, 4)
    assert repr(x.shape) == "tracegrad.Size([2, 3, 4])"
    assert x.size(1) == 3 and x.size(-1) == 4
    assert x.dim() == 3 and x.ndim == 3
    assert x.numel() == 24 and torch.numel(x) == 24 and x.shape.numel() == 24
    assert x.dtype == torch.float32 and x.device.type == "cpu"
    assert len(x) == 2
    with pytest.raises(IndexError):
        x.size(3)
    s = torch.tensor(1.0)
    assert s.shape == () and s.dim() == 0 and s.numel() == 1


def test_transpose_attribute():
    x = torch.tensor([[1, 2, 3], [4, 5, 6]])
    assert x.T.tolist() == [[1, 4], [2, 5], [3, 6]]
    assert x.T.shape == (3, 2)


def test_is_leaf_and_grad_fn():
    x = torch.ones(2, requires_grad=True)
    y = x * 2
    assert x.is_leaf and not y.is_leaf and torch.ones(2).is_leaf
    assert (torch.ones(2) * 2).is_leaf  # results that do not require grad are leaves
    assert y.grad_fn is not None and x.grad_fn is None


def test_data_is_an_alias():
    x = torch.tensor([1.0, 2.0], requires_grad=True)
    d = x.data
    assert not d.requires_grad and d.is_leaf
    x.data.mul_(2)
    np.testing.assert_array_equal(_np(x), [2.0, 4.0])
    d.add_(1)
    np.testing.assert_array_equal(_np(x), [3.0, 5.0])
    x.data = torch.tensor([7.0, 8.0])
    np.testing.assert_array_equal(_np(x), [7.0, 8.0])
    assert x.requires_grad


def test_detach_shares_storage():
    x = torch.tensor([1.0, 2.0], requires_grad=True)
    d = x.detach()
    assert not d.requires_grad and d.grad_fn is None
    d.zero_()
    np.testing.assert_array_equal(_np(x), [0.0, 0.0])
    y = x * 2
    y.detach_()
    assert y.is_leaf and not y.requires_grad


# ---------------------------------------------------------------------------------- conversions
def test_item_tolist_numpy():
    assert torch.tensor(2.5).item() == 2.5 and isinstance(torch.tensor(2.5).item(), float)
    assert torch.tensor([3]).item() == 3 and isinstance(torch.tensor(3).item(), int)
    assert torch.tensor(True).item() is True
    with pytest.raises(RuntimeError, match="cannot be converted to Scalar"):
        torch.tensor([1.0, 2.0]).item()
    assert torch.tensor([[1, 2], [3, 4]]).tolist() == [[1, 2], [3, 4]]
    assert torch.tensor(1.5).tolist() == 1.5
    a = torch.tensor([1.0, 2.0]).numpy()
    assert isinstance(a, np.ndarray) and a.dtype == np.float32
    with pytest.raises(RuntimeError, match="detach"):
        torch.ones(2, requires_grad=True).numpy()
    assert torch.ones(2, requires_grad=True).detach().numpy().tolist() == [1.0, 1.0]
    assert float(torch.tensor(2.0)) == 2.0 and int(torch.tensor(3)) == 3
    assert bool(torch.tensor(1)) is True
    with pytest.raises(RuntimeError, match="ambiguous"):
        bool(torch.tensor([1, 2]))
    assert f"{torch.tensor(0.5):.2f}" == "0.50"


def test_clone_is_recorded_and_independent():
    x = torch.tensor([1.0, 2.0], requires_grad=True)
    c = x.clone()
    assert c.grad_fn.name() == "CloneBackward0"
    c.sum().backward()
    np.testing.assert_array_equal(_np(x.grad), [1.0, 1.0])
    y = torch.tensor([1.0, 2.0])
    z = y.clone()
    z.add_(1)
    np.testing.assert_array_equal(_np(y), [1.0, 2.0])


def test_dtype_conversion_methods():
    x = torch.tensor([1.7, -2.2])
    assert x.float() is x  # no-op conversions return self, as in PyTorch
    assert x.double().dtype == torch.float64
    assert x.half().dtype == torch.float16
    assert x.bfloat16().dtype == torch.bfloat16
    assert x.long().dtype == torch.int64 and x.long().tolist() == [1, -2]
    assert x.int().dtype == torch.int32 and x.int().tolist() == [1, -2]
    assert x.bool().tolist() == [True, True]
    assert torch.tensor([0.0, 1.0]).bool().tolist() == [False, True]
    assert x.to(torch.float64).dtype == torch.float64
    assert x.to("cpu") is x
    assert x.to("cpu", torch.float64).dtype == torch.float64
    assert x.to(dtype=torch.int64).dtype == torch.int64
    assert x.to(torch.zeros(1, dtype=torch.float64)).dtype == torch.float64
    assert x.to(torch.float32, copy=True) is not x
    assert x.type() == "tracegrad.FloatTensor"
    assert torch.tensor([1]).type() == "tracegrad.LongTensor"
    assert x.type(torch.float64).dtype == torch.float64
    assert x.contiguous() is x and x.is_contiguous()
    assert x.cpu() is x


def test_to_is_recorded():
    x = torch.tensor([1.0, 2.0], requires_grad=True)
    y = x.double()
    assert y.grad_fn.name() == "ToCopyBackward0"
    (y * 2).sum().backward()
    assert x.grad.dtype == torch.float32
    np.testing.assert_array_equal(_np(x.grad), [2.0, 2.0])


# ----------------------------------------------------------------------------------------- repr
@pytest.mark.parametrize(
    "make,expected",
    [
        (lambda: torch.tensor([0.5, 1.0]), "tensor([0.5000, 1.0000])"),
        (lambda: torch.tensor(3.0), "tensor(3.)"),
        (lambda: torch.tensor(5), "tensor(5)"),
        (lambda: torch.tensor([1, 2, 3]), "tensor([1, 2, 3])"),
        (lambda: torch.tensor([True, False]), "tensor([ True, False])"),
        (lambda: torch.tensor([-1.5, 2.0]), "tensor([-1.5000,  2.0000])"),
        (lambda: torch.tensor([100.0, 2.0]), "tensor([100.,   2.])"),
        (lambda: torch.zeros(2, 3), "tensor([[0., 0., 0.],\n        [0., 0., 0.]])"),
        (lambda: torch.ones(2, requires_grad=True), "tensor([1., 1.], requires_grad=True)"),
        (lambda: torch.tensor(2.0, requires_grad=True), "tensor(2., requires_grad=True)"),
        (
            lambda: torch.ones(1, 2, requires_grad=True) * 2,
            "tensor([[2., 2.]], grad_fn=<MulBackward0>)",
        ),
        (lambda: torch.ones(2, dtype=torch.float64), "tensor([1., 1.], dtype=tracegrad.float64)"),
        (
            lambda: torch.tensor([1.5], dtype=torch.float64, requires_grad=True),
            "tensor([1.5000], dtype=tracegrad.float64, requires_grad=True)",
        ),
        (lambda: torch.tensor([1, 2], dtype=torch.int32), "tensor([1, 2], dtype=tracegrad.int32)"),
        (lambda: torch.tensor([2.0], dtype=torch.float16), "tensor([2.], dtype=tracegrad.float16)"),
        (
            lambda: torch.tensor([1.5], dtype=torch.bfloat16),
            "tensor([1.5000], dtype=tracegrad.bfloat16)",
        ),
        (lambda: torch.tensor([1e-5, 1.0]), "tensor([1.0000e-05, 1.0000e+00])"),
        (lambda: torch.tensor([1e10, 1.0]), "tensor([1.0000e+10, 1.0000e+00])"),
        (lambda: torch.tensor([float("nan"), 1.0]), "tensor([nan, 1.])"),
        (lambda: torch.tensor([1.5, float("inf")]), "tensor([1.5000,    inf])"),
        (lambda: torch.tensor([float("inf"), -float("inf")]), "tensor([inf, -inf])"),
        (lambda: torch.tensor([0.0, -1.0]), "tensor([ 0., -1.])"),
        (lambda: torch.tensor([0.0, 0.5]), "tensor([0.0000, 0.5000])"),
        (lambda: torch.zeros(0), "tensor([])"),
        (lambda: torch.zeros(2, 0), "tensor([], size=(2, 0))"),
        (
            lambda: torch.arange(30.0),
            "tensor([ 0.,  1.,  2.,  3.,  4.,  5.,  6.,  7.,  8.,  9., 10., 11., 12., 13.,\n"
            "        14., 15., 16., 17., 18., 19., 20., 21., 22., 23., 24., 25., 26., 27.,\n"
            "        28., 29.])",
        ),
        (lambda: torch.ones(2000), "tensor([1., 1., 1.,  ..., 1., 1., 1.])"),
        (
            lambda: torch.arange(2000.0),
            "tensor([0.0000e+00, 1.0000e+00, 2.0000e+00,  ..., 1.9970e+03, 1.9980e+03,\n"
            "        1.9990e+03])",
        ),
        (
            lambda: torch.tensor([[1, 2], [3, 4]]),
            "tensor([[1, 2],\n        [3, 4]])",
        ),
        (
            lambda: torch.zeros(2, 1, 2),
            "tensor([[[0., 0.]],\n\n        [[0., 0.]]])",
        ),
    ],
)
def test_repr_matches_pytorch(make, expected):
    assert repr(make()) == expected


def test_str_is_repr():
    t = torch.tensor([1.0, 2.0])
    assert str(t) == repr(t)


# ------------------------------------------------------------------------------------ promotion
def test_dtype_aliases():
    assert torch.float is torch.float32 and torch.double is torch.float64
    assert torch.half is torch.float16 and torch.long is torch.int64
    assert torch.int is torch.int32 and torch.bool is torch.bool_
    assert repr(torch.float32) == "tracegrad.float32"
    assert torch.float32.is_floating_point and not torch.int64.is_floating_point
    assert torch.get_default_dtype() is torch.float32


@pytest.mark.parametrize(
    "make,expected",
    [
        (lambda: torch.tensor([1, 2]) * 0.5, torch.float32),
        (lambda: torch.tensor([1, 2]) * torch.tensor([3, 4]), torch.int64),
        (lambda: torch.tensor([1, 2]) * 2, torch.int64),
        (lambda: torch.tensor([1, 2], dtype=torch.int32) * 2, torch.int32),
        (lambda: torch.tensor([1, 2], dtype=torch.int32) * torch.tensor([1]), torch.int64),
        (lambda: torch.ones(2) * torch.ones(2, dtype=torch.float64), torch.float64),
        (lambda: torch.ones(2) * torch.tensor(2.0, dtype=torch.float64), torch.float32),
        (lambda: torch.tensor([1, 2]) * torch.tensor(2.0, dtype=torch.float64), torch.float64),
        (lambda: torch.tensor([True]) + torch.tensor([True]), torch.bool),
        (lambda: torch.tensor([True]) + 1, torch.int64),
        (lambda: torch.tensor([True]) * 1.5, torch.float32),
        (
            lambda: torch.ones(2, dtype=torch.float16) + torch.ones(2, dtype=torch.bfloat16),
            torch.float32,
        ),
        (lambda: torch.ones(2, dtype=torch.float16) * 2.0, torch.float16),
        (lambda: torch.tensor([1, 2]) / torch.tensor([2, 4]), torch.float32),
        (lambda: torch.tensor([1, 2]) // torch.tensor([2, 4]), torch.int64),
        (lambda: 2 ** torch.tensor([1, 2]), torch.int64),
        (lambda: torch.tensor([1, 2]) ** 2.0, torch.float32),
        (lambda: torch.tensor([1, 2]) ** 2, torch.int64),
        (lambda: torch.tensor([True]) ** 2, torch.int64),
        (lambda: torch.tensor(1.0, dtype=torch.float64) + torch.tensor(1), torch.float64),
    ],
)
def test_promotion_table(make, expected):
    assert make().dtype == expected


def test_promote_types_function():
    assert torch.promote_types(torch.int32, torch.float32) is torch.float32
    assert torch.promote_types(torch.uint8, torch.int8) is torch.int16
    assert torch.promote_types(torch.float16, torch.bfloat16) is torch.float32
    assert torch.promote_types(torch.bool, torch.int64) is torch.int64


def test_values_of_promoted_ops():
    np.testing.assert_array_equal(_np(torch.tensor([1, 2]) * 0.5), [0.5, 1.0])
    np.testing.assert_array_equal(_np(torch.tensor([1, 2]) / torch.tensor([2, 4])), [0.5, 0.5])
    assert (torch.tensor([True]) + torch.tensor([True])).tolist() == [True]


def test_float64_really_computes_in_float64():
    one = torch.tensor(1.0, dtype=torch.float64)
    assert ((one + 1e-12) - 1).item() != 0.0
    assert ((one + 1e-12) - 1).item() == pytest.approx(1e-12, rel=1e-3)
    f32 = torch.tensor(1.0)
    assert ((f32 + 1e-12) - 1).item() == 0.0
    big = torch.tensor([2**53], dtype=torch.int64)
    assert (big + 1).item() == 2**53 + 1


def test_set_default_dtype():
    try:
        torch.set_default_dtype(torch.float64)
        assert torch.tensor(1.5).dtype == torch.float64
        assert torch.zeros(2).dtype == torch.float64
        assert (torch.tensor([1, 2]) * 0.5).dtype == torch.float64
    finally:
        torch.set_default_dtype(torch.float32)
    assert torch.zeros(2).dtype == torch.float32
    with pytest.raises(TypeError):
        torch.set_default_dtype(torch.int64)


# -------------------------------------------------------------------------------------- interop
def test_numpy_interop():
    a = np.arange(6, dtype=np.float64).reshape(2, 3)
    t = torch.from_numpy(a)
    assert t.dtype == torch.float64 and t.shape == (2, 3)
    np.testing.assert_array_equal(_np(t), a)
    assert torch.from_numpy(np.array([1, 2], dtype=np.int32)).dtype == torch.int32
    np.testing.assert_array_equal(np.asarray(t), a)
    np.testing.assert_array_equal(np.array(torch.tensor([1.0, 2.0]), dtype=np.float64), [1, 2])
    with pytest.raises(TypeError):
        torch.from_numpy([1, 2])
    assert torch.as_tensor(t) is t
    assert torch.as_tensor([1, 2]).dtype == torch.int64


def test_jax_interop_shares_buffer():
    a = jnp.arange(4.0, dtype=jnp.float32)
    t = torch.tensor(a)
    assert t._storage.array is a  # no copy
    assert t.dtype == torch.float32
    out = jnp.asarray(t)
    assert out.unsafe_buffer_pointer() == a.unsafe_buffer_pointer()
    assert isinstance(jnp.asarray(t * 2), jax.Array)
    np.testing.assert_array_equal(np.asarray(jnp.asarray(t * 2)), [0.0, 2.0, 4.0, 6.0])
    assert torch.tensor(jnp.ones(2, jnp.float64)).dtype == torch.float64
    assert torch.tensor(jnp.ones(2, jnp.int32)).dtype == torch.int32


def test_numpy_operand_promotes_like_a_tensor():
    t = torch.tensor([1.0, 2.0]) * torch.tensor(np.array([2.0, 3.0], dtype=np.float32))
    np.testing.assert_array_equal(_np(t), [2.0, 6.0])


def test_devices():
    d = torch.device("cpu")
    assert str(d) == "cpu" and d.type == "cpu" and d.index is None
    assert repr(torch.device("cuda", 1)) == "device(type='cuda', index=1)"
    assert torch.device("cuda:0") == torch.device("cuda", 0)
    assert torch.ones(1).device == "cpu"
    with pytest.raises(RuntimeError):
        torch.device("nonsense")


def test_numpy_arrays_as_operands():
    t = torch.tensor([1.0, 2.0])
    r = t * np.array([2.0, 3.0])  # a float64 array takes part as a float64 tensor
    assert isinstance(r, torch.Tensor) and r.dtype == torch.float64
    np.testing.assert_array_equal(_np(r), [2.0, 6.0])
    r = np.array([2.0, 3.0], dtype=np.float32) * t  # numpy defers to the tensor
    assert isinstance(r, torch.Tensor) and r.dtype == torch.float32
    assert (t + np.array(1.0)).dtype == torch.float32  # 0-d: lower priority
    assert (torch.tensor([1, 2]) * np.float32(0.5)).dtype == torch.float32
    x = torch.tensor([1.0, 2.0], requires_grad=True)
    (x * np.array([2.0, 3.0], dtype=np.float32)).sum().backward()
    np.testing.assert_array_equal(_np(x.grad), [2.0, 3.0])
