"""The seed notebooks (PyTorch's "60-minute blitz" autograd examples and friends), with the exact
numbers PyTorch prints, run with ``import tracegrad as torch``."""

from __future__ import annotations

import re

import numpy as np

import tracegrad as torch


def test_ones_times_two_cubed_sum_gives_24():
    # d/dx sum((2x)^3) = 3 (2x)^2 * 2 = 24 at x = 1.
    x = torch.ones(3, 3, requires_grad=True)
    y = x * 2
    z = y**3
    out = z.sum()
    assert out.item() == 72.0
    out.backward()
    np.testing.assert_array_equal(x.grad.numpy(), np.full((3, 3), 24.0, np.float32))
    assert x.grad.dtype == torch.float32 and x.grad.shape == (3, 3)
    assert y.grad_fn.name() == "MulBackward0"
    assert z.grad_fn.name() == "PowBackward0"
    assert out.grad_fn.name() == "SumBackward0"


def test_blitz_mean_of_3_y_squared():
    # out = mean(3 (x + 2)^2) over 4 elements: d out / dx = 6 (x + 2) / 4 = 4.5 at x = 1.
    x = torch.ones(2, 2, requires_grad=True)
    y = x + 2
    z = y * y * 3
    out = z.mean()
    assert repr(y) == "tensor([[3., 3.],\n        [3., 3.]], grad_fn=<AddBackward0>)"
    assert repr(out) == "tensor(27., grad_fn=<MeanBackward0>)"
    out.backward()
    assert repr(x.grad) == "tensor([[4.5000, 4.5000],\n        [4.5000, 4.5000]])"


def test_blitz_vector_jacobian_product_loop():
    # y = x * 2, then doubled k more times until its norm reaches 1000: y = 2**(k+1) x, so the
    # Jacobian is 2**(k+1) I and the vector-Jacobian product with v is exactly 2**(k+1) v
    # (powers of two are exact in float32). Needs Tensor.norm (reductions).
    torch.manual_seed(0)
    x = torch.randn(3, requires_grad=True)
    y = x * 2
    k = 0
    while y.data.norm() < 1000:
        y = y * 2
        k += 1
    v = torch.tensor([0.1, 1.0, 0.0001], dtype=torch.float)
    y.backward(v)
    expected = np.float32(2.0 ** (k + 1)) * np.array([0.1, 1.0, 0.0001], np.float32)
    np.testing.assert_array_equal(x.grad.numpy(), expected)
    np.testing.assert_array_equal(y.detach().numpy(), x.detach().numpy() * 2.0 ** (k + 1))
    assert np.linalg.norm(y.detach().numpy()) >= 1000
    assert np.linalg.norm(y.detach().numpy()) / 2 < 1000


def test_blitz_vjp_loop_without_norm():
    # The same computation with a plain-numpy stopping rule, so it only needs mul.
    x = torch.tensor([0.5, -1.25, 2.0], requires_grad=True)
    y = x * 2
    k = 0
    while np.linalg.norm(y.detach().numpy()) < 1000:
        y = y * 2
        k += 1
    assert k == 8  # |x| = 2.4, 2.4 * 2**9 = 1228.8
    y.backward(torch.tensor([0.1, 1.0, 0.0001]))
    np.testing.assert_array_equal(
        x.grad.numpy(), np.float32(2.0**9) * np.array([0.1, 1.0, 0.0001], np.float32)
    )


def test_linear_neuron_squared_loss():
    # z = w x + b = 11, L = z^2 = 121; dL/dw = 2 z x = 110, dL/db = 2 z = 22.
    w = torch.tensor(2.0, requires_grad=True)
    x = torch.tensor(5.0)
    b = torch.tensor(1.0, requires_grad=True)
    z = w * x + b
    loss = z**2
    assert loss.item() == 121.0
    loss.backward()
    assert w.grad.item() == 110.0
    assert b.grad.item() == 22.0
    assert x.grad is None
    assert repr(loss) == "tensor(121., grad_fn=<PowBackward0>)"


def test_broadcast_product_with_retained_grad():
    # z[i, j] = x[j] y[i] + y[i]^2 (2x3). dz.sum/dx[j] = y[0] + y[1] = 9;
    # dz.sum/dy[i] = sum_j x[j] + 3 * 2 y[i] = 6 + 6 y[i] = 30, 36; z.grad is all ones.
    x = torch.tensor([1.0, 2.0, 3.0], requires_grad=True)
    y = torch.tensor([[4.0], [5.0]], requires_grad=True)
    z = x * y + y**2
    z.retain_grad()
    z.sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), [9.0, 9.0, 9.0])
    np.testing.assert_array_equal(y.grad.numpy(), [[30.0], [36.0]])
    np.testing.assert_array_equal(z.grad.numpy(), np.ones((2, 3)))
    assert x.grad.shape == (3,) and y.grad.shape == (2, 1)
    np.testing.assert_array_equal(z.detach().numpy(), [[20.0, 24.0, 28.0], [30.0, 35.0, 40.0]])


def test_requires_grad_flags():
    x = torch.ones(2, requires_grad=True)
    assert (x * 2).requires_grad
    with torch.no_grad():
        assert not (x * 2).requires_grad
        assert (x * 2).grad_fn is None
    assert not x.detach().requires_grad
    assert x.detach().is_leaf
    assert not (x.detach() * 2).requires_grad
    assert torch.ones(2).requires_grad is False
    a = torch.ones(2)
    a.requires_grad_()
    assert a.requires_grad and a.is_leaf


def test_grad_fn_names_and_next_functions():
    x = torch.ones(2, 2, requires_grad=True)
    y = x + 2
    z = y * y * 3
    out = z.mean()
    assert re.fullmatch(r"<MulBackward0 object at 0x[0-9a-f]+>", repr(z.grad_fn))
    assert y.grad_fn.name() == "AddBackward0"
    assert out.grad_fn.name() == "MeanBackward0"
    # z = (y * y) * 3: the first edge goes to the inner MulBackward0, the scalar has none.
    (inner, _), (scalar, _) = z.grad_fn.next_functions
    assert inner.name() == "MulBackward0" and scalar is None
    (acc, idx), (none, _) = y.grad_fn.next_functions
    assert type(acc).__name__ == "AccumulateGrad" and idx == 0 and none is None
    assert acc.variable is x
    assert re.fullmatch(r"<AccumulateGrad object at 0x[0-9a-f]+>", repr(acc))
    # One AccumulateGrad per leaf, shared by every edge into it.
    assert (x * 3).grad_fn.next_functions[0][0] is acc
    assert x.grad_fn is None and x.is_leaf and not y.is_leaf
