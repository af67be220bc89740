"""User errors raise PyTorch's exception types, with messages that name the problem and the fix."""

from __future__ import annotations

import pytest

import tracegrad as torch


def test_backward_of_non_scalar_needs_gradient():
    x = torch.ones(2, 3, requires_grad=True)
    with pytest.raises(
        RuntimeError, match="grad can be implicitly created only for scalar outputs"
    ):
        (x * 2).backward()


def test_second_backward_through_freed_graph():
    x = torch.ones(2, requires_grad=True)
    y = (x * x).sum()
    y.backward()
    with pytest.raises(RuntimeError, match="retain_graph=True") as info:
        y.backward()
    assert "second time" in str(info.value)


def test_autograd_grad_through_freed_graph():
    x = torch.ones(2, requires_grad=True)
    y = (x.exp()).sum()
    torch.autograd.grad(y, x)
    with pytest.raises(RuntimeError, match="retain_graph=True"):
        torch.autograd.grad(y, x)


def test_gradient_of_wrong_shape():
    x = torch.ones(2, 3, requires_grad=True)
    with pytest.raises(RuntimeError, match="Mismatch in shape") as info:
        (x * 2).backward(torch.ones(3, 2))
    assert "[3, 2]" in str(info.value) and "[2, 3]" in str(info.value)


def test_inplace_on_leaf_requiring_grad():
    w = torch.ones(3, requires_grad=True)
    with pytest.raises(
        RuntimeError, match="a leaf Variable that requires grad is being used in an"
    ):
        w.mul_(2)
    with pytest.raises(RuntimeError, match="leaf Variable"):
        w.zero_()
    with pytest.raises(RuntimeError, match="leaf Variable"):
        w.copy_(torch.zeros(3))
    assert w.tolist() == [1.0, 1.0, 1.0]  # nothing half-applied
    assert w._version == 0


def test_modified_saved_tensor():
    x = torch.ones(2, requires_grad=True)
    y = x.exp()
    y.add_(1)
    with pytest.raises(RuntimeError, match="modified by an inplace operation") as info:
        y.sum().backward()
    message = str(info.value)
    assert "ExpBackward0" in message and "version 1" in message and "version 0" in message


def test_matmul_shape_mismatch_names_both_shapes():
    # Needs matmul (linalg).
    a, b = torch.ones(2, 3), torch.ones(4, 5)
    with pytest.raises(RuntimeError) as info:
        a @ b
    assert "2x3" in str(info.value) and "4x5" in str(info.value)


def test_broadcast_mismatch_names_sizes_and_dimension():
    with pytest.raises(
        RuntimeError,
        match=r"The size of tensor a \(3\) must match the size of tensor b \(5\) at "
        r"non-singleton dimension 1",
    ):
        torch.ones(2, 3) + torch.ones(4, 5)
    with pytest.raises(
        RuntimeError,
        match=r"tensor a \(2\) must match the size of tensor b \(3\) "
        r"at non-singleton dimension 0",
    ):
        torch.ones(2, 1) * torch.ones(3, 4)
    with pytest.raises(
        RuntimeError,
        match=r"tensor a \(4\) must match .* tensor b \(3\) at "
        r"non-singleton dimension 2",
    ):
        torch.ones(2, 1, 4) - torch.ones(3)
    with pytest.raises(RuntimeError, match="must match the size"):
        torch.ones(3).mul_(torch.ones(4))
    with pytest.raises(RuntimeError, match="must match the size"):
        _ = torch.ones(3) == torch.ones(4)


def test_inplace_result_must_fit_self():
    with pytest.raises(RuntimeError, match="doesn't match the broadcast shape"):
        torch.ones(3).add_(torch.ones(2, 3))
    with pytest.raises(RuntimeError, match="can't be cast"):
        torch.tensor([1, 2]).mul_(0.5)


def test_requires_grad_on_integer_tensor():
    with pytest.raises(
        RuntimeError, match="only Tensors of floating point and complex dtype can require gradients"
    ):
        torch.tensor([1, 2], requires_grad=True)
    with pytest.raises(RuntimeError, match="floating point and complex dtype"):
        torch.tensor([1, 2]).requires_grad_()
    with pytest.raises(RuntimeError, match="floating point and complex dtype"):
        torch.zeros(2, dtype=torch.int64, requires_grad=True)


def test_backward_on_tensor_without_grad():
    with pytest.raises(
        RuntimeError, match="element 0 of tensors does not require grad and does not have a grad_fn"
    ):
        torch.ones(1).sum().backward()
    x = torch.ones(2, requires_grad=True)
    with torch.no_grad():
        y = (x * 2).sum()
    with pytest.raises(RuntimeError, match="does not require grad"):
        y.backward()


def test_grad_of_input_that_does_not_require_grad():
    x = torch.ones(2, requires_grad=True)
    with pytest.raises(RuntimeError, match="does not require grad"):
        torch.autograd.grad((x * 2).sum(), torch.ones(2))


def test_requires_grad_flag_on_non_leaf():
    y = torch.ones(2, requires_grad=True) * 2
    with pytest.raises(RuntimeError, match="leaf variables"):
        y.requires_grad = False


def test_numpy_on_tensor_requiring_grad():
    with pytest.raises(RuntimeError, match=r"detach\(\)\.numpy\(\)"):
        torch.ones(2, requires_grad=True).numpy()


def test_bad_dims_raise_index_error():
    with pytest.raises(IndexError, match="Dimension out of range"):
        torch.ones(2, 3).sum(dim=2)
    with pytest.raises(IndexError, match="Dimension out of range"):
        torch.ones(2, 3).size(-3)


def test_integer_to_negative_power():
    with pytest.raises(RuntimeError, match="negative integer powers"):
        torch.tensor([2, 3]) ** -1


def test_bad_rounding_mode():
    with pytest.raises(RuntimeError, match="rounding_mode"):
        torch.ones(2).div(2, rounding_mode="round")


def test_item_of_many_elements():
    with pytest.raises(
        RuntimeError, match="a Tensor with 2 elements cannot be converted to Scalar"
    ):
        torch.ones(2).item()


def test_unknown_dtype_and_device():
    with pytest.raises(TypeError):
        torch.zeros(2, dtype="complex257")
    with pytest.raises(RuntimeError, match="device type"):
        torch.zeros(2, device="quantum")


def test_retain_grad_without_grad():
    with pytest.raises(RuntimeError, match="requires_grad=False"):
        torch.ones(2).retain_grad()


def test_assigning_grad_of_wrong_shape():
    x = torch.ones(2, requires_grad=True)
    with pytest.raises(RuntimeError, match="different size"):
        x.grad = torch.ones(3)


def test_custom_function_wrong_number_of_grads():
    class Bad(torch.autograd.Function):
        @staticmethod
        def forward(ctx, a, b):
            return a * b

        @staticmethod
        def backward(ctx, g):
            return (g,)

    a = torch.ones(2, requires_grad=True)
    b = torch.ones(2, requires_grad=True)
    with pytest.raises(RuntimeError, match="incorrect number of gradients"):
        Bad.apply(a, b).sum().backward()


def test_wrong_number_of_seed_gradients():
    x = torch.ones(2, requires_grad=True)
    with pytest.raises(RuntimeError, match="number of gradients"):
        torch.autograd.backward([x * 2, x * 3], [torch.ones(2)])
