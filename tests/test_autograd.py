"""Engine semantics, as PyTorch's autograd: accumulation, retain_graph, create_graph, autograd.grad,
hooks, custom Functions, grad modes, in-place operations and version counters, deep graphs."""

from __future__ import annotations

import threading

import numpy as np
import pytest

import tracegrad as torch
from tracegrad.autograd import Function


def _np(t):
    return np.asarray(t.detach())


# ------------------------------------------------------------------------------- accumulation
def test_gradients_accumulate_over_backward_calls():
    x = torch.tensor([1.0, 2.0], requires_grad=True)
    (x * 3).sum().backward()
    (x * x).sum().backward()
    np.testing.assert_array_equal(_np(x.grad), [3 + 2, 3 + 4])
    x.grad.zero_()
    np.testing.assert_array_equal(_np(x.grad), [0, 0])
    (x * 3).sum().backward()
    np.testing.assert_array_equal(_np(x.grad), [3, 3])
    x.grad = None
    (x * 5).sum().backward()
    np.testing.assert_array_equal(_np(x.grad), [5, 5])


def test_grad_is_not_aliased_to_an_upstream_gradient():
    # The seed gradient of sum is ones; x.grad must be its own tensor (in-place on it must not
    # change a tensor the user passed in).
    x = torch.tensor([1.0, 2.0], requires_grad=True)
    v = torch.tensor([1.0, 1.0])
    (x + 0).backward(v)
    x.grad.mul_(5)
    np.testing.assert_array_equal(_np(v), [1, 1])


def test_shared_input_gets_summed_gradient():
    x = torch.tensor(3.0, requires_grad=True)
    y = x * x + x  # dy/dx = 2x + 1
    y.backward()
    assert x.grad.item() == 7.0


# ------------------------------------------------------------------------------- retain_graph
def test_second_backward_needs_retain_graph():
    x = torch.tensor([1.0, 2.0], requires_grad=True)
    y = (x * x).sum()
    y.backward()
    with pytest.raises(RuntimeError, match="retain_graph=True"):
        y.backward()


def test_retain_graph_allows_second_backward():
    x = torch.tensor([1.0, 2.0], requires_grad=True)
    y = (x * x).sum()
    y.backward(retain_graph=True)
    y.backward()
    np.testing.assert_array_equal(_np(x.grad), [4.0, 8.0])


def test_graph_without_saved_tensors_can_be_rerun():
    # PyTorch only complains when a freed *saved* tensor is needed: add and sum save nothing.
    x = torch.tensor([1.0, 2.0], requires_grad=True)
    y = (x + 1).sum()
    y.backward()
    y.backward()
    np.testing.assert_array_equal(_np(x.grad), [2.0, 2.0])


# ------------------------------------------------------------------------ create_graph / grad
def test_create_graph_second_derivative_of_cube():
    x = torch.tensor([1.0, -2.0, 0.5], requires_grad=True)
    y = x**3
    (g,) = torch.autograd.grad(y.sum(), x, create_graph=True)
    np.testing.assert_allclose(_np(g), 3 * np.array([1.0, -2.0, 0.5]) ** 2)
    assert g.requires_grad
    (h,) = torch.autograd.grad(g.sum(), x)
    np.testing.assert_allclose(_np(h), 6 * np.array([1.0, -2.0, 0.5]))
    assert not h.requires_grad
    assert x.grad is None  # autograd.grad does not touch .grad


def test_backward_create_graph_makes_grad_differentiable():
    x = torch.tensor(2.0, requires_grad=True)
    (x**3).backward(create_graph=True)
    assert x.grad.item() == 12.0 and x.grad.requires_grad
    g = x.grad
    x.grad = None
    g.backward()  # d/dx 3x^2 = 6x
    assert x.grad.item() == 12.0


def test_third_derivative():
    x = torch.tensor(1.5, requires_grad=True, dtype=torch.float64)
    y = x**4
    (g1,) = torch.autograd.grad(y, x, create_graph=True)
    (g2,) = torch.autograd.grad(g1, x, create_graph=True)
    (g3,) = torch.autograd.grad(g2, x)
    assert g1.item() == pytest.approx(4 * 1.5**3)
    assert g2.item() == pytest.approx(12 * 1.5**2)
    assert g3.item() == pytest.approx(24 * 1.5)


def test_grad_allow_unused():
    x = torch.tensor(1.0, requires_grad=True)
    z = torch.tensor(2.0, requires_grad=True)
    y = x * 3
    with pytest.raises(RuntimeError, match="allow_unused=True"):
        torch.autograd.grad(y, [x, z], retain_graph=True)
    gx, gz = torch.autograd.grad(y, [x, z], allow_unused=True, retain_graph=True)
    assert gx.item() == 3.0 and gz is None
    gx, gz = torch.autograd.grad(y, [x, z], materialize_grads=True)
    assert gz.item() == 0.0


def test_grad_outputs_weights_the_outputs():
    x = torch.tensor([1.0, 2.0, 3.0], requires_grad=True)
    y = x * x
    (g,) = torch.autograd.grad(y, x, grad_outputs=torch.tensor([1.0, 0.5, 0.0]))
    np.testing.assert_array_equal(_np(g), [2.0, 2.0, 0.0])


def test_grad_of_several_outputs():
    x = torch.tensor(2.0, requires_grad=True)
    a, b = x * 3, x * x
    (g,) = torch.autograd.grad([a, b], x, grad_outputs=[torch.tensor(1.0), torch.tensor(2.0)])
    assert g.item() == 3 + 2 * 4


def test_backward_inputs_accumulates_only_into_them():
    a = torch.tensor(2.0, requires_grad=True)
    b = torch.tensor(3.0, requires_grad=True)
    (a * b).backward(inputs=[a])
    assert a.grad.item() == 3.0 and b.grad is None
    (a * b).backward(inputs=[b])
    assert a.grad.item() == 3.0 and b.grad.item() == 2.0


def test_backward_inputs_non_leaf():
    a = torch.tensor(2.0, requires_grad=True)
    h = a * 3
    (h * h).backward(inputs=[h])  # a non-leaf input gets .grad (no warning once it is set)
    assert h.grad.item() == 12.0
    assert a.grad is None
    k = a * 3
    k.retain_grad()
    (k * k).backward(inputs=[k])  # retained and an input: accumulated once
    assert k.grad.item() == 12.0


def test_autograd_backward_function():
    x = torch.tensor([1.0, 2.0], requires_grad=True)
    torch.autograd.backward([(x * 2).sum(), (x * x).sum()])
    np.testing.assert_array_equal(_np(x.grad), [4.0, 6.0])


# ------------------------------------------------------------------------------------- hooks
def test_leaf_hook_modifies_gradient_and_can_be_removed():
    x = torch.tensor([1.0, 2.0], requires_grad=True)
    seen = []

    def hook(g):
        seen.append(_np(g).copy())
        return g * 10

    handle = x.register_hook(hook)
    (x * 2).sum().backward()
    np.testing.assert_array_equal(seen[0], [2.0, 2.0])
    np.testing.assert_array_equal(_np(x.grad), [20.0, 20.0])
    handle.remove()
    x.grad = None
    (x * 2).sum().backward()
    np.testing.assert_array_equal(_np(x.grad), [2.0, 2.0])
    assert len(seen) == 1


def test_non_leaf_hook_modifies_what_flows_upstream():
    x = torch.tensor([1.0, 2.0], requires_grad=True)
    y = x * 3
    seen = []
    y.register_hook(lambda g: seen.append(_np(g).copy()))  # returns None: observe only
    y.register_hook(lambda g: g * 2)
    (y * y).sum().backward()  # d/dy = 2y = [6, 12], doubled by the hook, times 3
    np.testing.assert_array_equal(seen[0], [6.0, 12.0])
    np.testing.assert_array_equal(_np(x.grad), [36.0, 72.0])


def test_hook_on_tensor_without_grad_raises():
    with pytest.raises(RuntimeError, match="doesn't require gradient"):
        torch.ones(2).register_hook(lambda g: g)


def test_retain_grad_on_non_leaf():
    x = torch.tensor([1.0, 2.0], requires_grad=True)
    y = x * 2
    z = y * y
    y.retain_grad()
    assert y.retains_grad and not z.retains_grad
    z.sum().backward()
    np.testing.assert_array_equal(_np(y.grad), [4.0, 8.0])
    with pytest.warns(UserWarning, match="retain_grad"):
        assert z.grad is None


def test_retained_grad_after_an_in_place_op_is_the_new_values():
    """PyTorch: the retained gradient follows the tensor to its in-place result; the overwritten
    value's node no longer writes into ``.grad`` (it did: 3 instead of 1)."""
    x = torch.ones(3, requires_grad=True)
    y = x * 1
    y.retain_grad()
    y.mul_(2)
    y.sum().backward()
    np.testing.assert_array_equal(_np(y.grad), [1.0, 1.0, 1.0])
    np.testing.assert_array_equal(_np(x.grad), [2.0, 2.0, 2.0])
    assert y.retains_grad


# ---------------------------------------------------------------------------------- Function
class MyExp(Function):
    @staticmethod
    def forward(ctx, x):
        y = x.exp()
        ctx.save_for_backward(y)
        return y

    @staticmethod
    def backward(ctx, grad_output):
        (y,) = ctx.saved_tensors
        return grad_output * y


class ScaledMul(Function):
    seen_needs = None

    @staticmethod
    def forward(ctx, a, b, scale):
        ctx.save_for_backward(a, b)
        ctx.scale = scale
        ScaledMul.seen_needs = ctx.needs_input_grad
        return a * b * scale

    @staticmethod
    def backward(ctx, g):
        a, b = ctx.saved_tensors
        ga = g * b * ctx.scale if ctx.needs_input_grad[0] else None
        gb = g * a * ctx.scale if ctx.needs_input_grad[1] else None
        return ga, gb, None


def test_custom_function_exp():
    x = torch.tensor([0.0, 1.0, -1.0], requires_grad=True)
    y = MyExp.apply(x)
    assert y.requires_grad and type(y.grad_fn).__name__ != "ExpBackward0"
    assert "MyExp" in y.grad_fn.name()
    y.sum().backward()
    np.testing.assert_allclose(_np(x.grad), np.exp([0.0, 1.0, -1.0]), rtol=1e-6)


def test_custom_function_needs_input_grad_and_non_tensor_args():
    a = torch.tensor([1.0, 2.0], requires_grad=True)
    b = torch.tensor([3.0, 4.0])
    out = ScaledMul.apply(a, b, 0.5)
    assert ScaledMul.seen_needs == (True, False, False)
    out.sum().backward()
    np.testing.assert_array_equal(_np(a.grad), [1.5, 2.0])
    assert b.grad is None


def test_custom_function_forward_runs_without_recording():
    class Probe(Function):
        inside = None

        @staticmethod
        def forward(ctx, x):
            Probe.inside = torch.is_grad_enabled()
            return x * 2

        @staticmethod
        def backward(ctx, g):
            return g * 2

    x = torch.tensor(1.0, requires_grad=True)
    Probe.apply(x).backward()
    assert Probe.inside is False and x.grad.item() == 2.0


def test_custom_function_composes_with_builtin_ops():
    x = torch.tensor(0.5, requires_grad=True)
    y = MyExp.apply(x * 2) * 3  # d/dx 3 e^{2x} = 6 e^{2x}
    y.backward()
    assert x.grad.item() == pytest.approx(6 * np.exp(1.0), rel=1e-6)


# -------------------------------------------------------------------------------- grad modes
def test_no_grad_context_and_decorator():
    x = torch.ones(2, requires_grad=True)
    with torch.no_grad():
        assert not torch.is_grad_enabled()
        assert not (x * 2).requires_grad
    assert torch.is_grad_enabled()

    @torch.no_grad()
    def f(t):
        return t * 2

    @torch.no_grad
    def g(t):
        return t * 2

    assert not f(x).requires_grad and not g(x).requires_grad
    assert torch.is_grad_enabled()


def test_enable_grad_inside_no_grad():
    x = torch.ones(2, requires_grad=True)
    with torch.no_grad():
        with torch.enable_grad():
            assert (x * 2).requires_grad

        @torch.enable_grad()
        def f(t):
            return t * 2

        assert f(x).requires_grad
        assert not (x * 2).requires_grad


def test_set_grad_enabled_as_function_and_context():
    x = torch.ones(2, requires_grad=True)
    with torch.set_grad_enabled(False):
        assert not (x * 2).requires_grad
    assert torch.is_grad_enabled()
    torch.set_grad_enabled(False)
    try:
        assert not torch.is_grad_enabled()
    finally:
        torch.set_grad_enabled(True)
    assert (x * 2).requires_grad


def test_inference_mode():
    x = torch.ones(2, requires_grad=True)
    with torch.inference_mode():
        assert torch.is_inference_mode_enabled()
        assert not (x * 2).requires_grad
    assert not torch.is_inference_mode_enabled()
    with torch.inference_mode(False):
        assert (x * 2).requires_grad

    @torch.inference_mode()
    def f(t):
        return t * 2

    assert not f(x).requires_grad


def test_grad_mode_restored_after_exception():
    with pytest.raises(ValueError):
        with torch.no_grad():
            raise ValueError
    assert torch.is_grad_enabled()


def test_grad_mode_is_thread_local():
    seen = {}
    entered, release = threading.Event(), threading.Event()

    def worker():
        entered.wait()
        x = torch.ones(1, requires_grad=True)
        seen["enabled"] = torch.is_grad_enabled()
        seen["records"] = (x * 2).requires_grad
        release.set()

    t = threading.Thread(target=worker)
    t.start()
    with torch.no_grad():
        entered.set()
        release.wait(10)
        assert not torch.is_grad_enabled()
    t.join()
    assert seen == {"enabled": True, "records": True}


def test_no_grad_generator_decorator():
    @torch.no_grad()
    def gen():
        yield torch.is_grad_enabled()
        yield torch.is_grad_enabled()

    assert list(gen()) == [False, False]
    assert torch.is_grad_enabled()


# -------------------------------------------------------------------------- in-place and versions
def test_inplace_on_leaf_requiring_grad_raises():
    w = torch.ones(2, requires_grad=True)
    with pytest.raises(RuntimeError, match="leaf Variable that requires grad"):
        w.add_(1)
    with pytest.raises(RuntimeError, match="leaf Variable that requires grad"):
        w += 1


def test_sgd_step_under_no_grad_keeps_leaf():
    w = torch.tensor([1.0, 2.0], requires_grad=True)
    (w * w).sum().backward()
    lr = 0.1
    with torch.no_grad():
        w -= lr * w.grad
    np.testing.assert_allclose(_np(w), [0.8, 1.6], rtol=1e-6)
    assert w.is_leaf and w.requires_grad and w.grad_fn is None
    w.grad.zero_()
    np.testing.assert_array_equal(_np(w.grad), [0.0, 0.0])
    (w * 3).sum().backward()
    np.testing.assert_array_equal(_np(w.grad), [3.0, 3.0])


def test_update_through_data():
    p = torch.tensor([1.0, 2.0], requires_grad=True)
    p.data.sub_(torch.tensor([0.5, 0.5]))
    np.testing.assert_array_equal(_np(p), [0.5, 1.5])
    assert p.is_leaf and p.requires_grad
    p.data.mul_(2)
    np.testing.assert_array_equal(_np(p), [1.0, 3.0])


def test_data_changes_are_not_version_tracked():
    x = torch.tensor([1.0, 2.0], requires_grad=True)
    y = x * x
    x.data.mul_(2)  # PyTorch does not detect this: the gradient uses the new value
    y.sum().backward()
    np.testing.assert_array_equal(_np(x.grad), [4.0, 8.0])


def test_zero_fill_copy_inplace():
    t = torch.tensor([1.0, 2.0, 3.0])
    v0 = t._version
    assert t.zero_() is t
    np.testing.assert_array_equal(_np(t), [0, 0, 0])
    t.fill_(2.5)
    np.testing.assert_array_equal(_np(t), [2.5, 2.5, 2.5])
    t.copy_(torch.tensor([4.0, 5.0, 6.0]))
    np.testing.assert_array_equal(_np(t), [4, 5, 6])
    t.copy_(torch.tensor(7.0))  # broadcasts
    np.testing.assert_array_equal(_np(t), [7, 7, 7])
    t.fill_(torch.tensor(1.5))
    np.testing.assert_array_equal(_np(t), [1.5, 1.5, 1.5])
    assert t._version == v0 + 5
    i = torch.tensor([1, 2])
    i.copy_(torch.tensor([3.7, -1.2]))  # cast to the destination dtype
    assert i.dtype == torch.int64 and i.tolist() == [3, -1]


def test_copy_backward_sends_gradient_to_src_only():
    a = torch.tensor([1.0, 2.0], requires_grad=True)
    src = torch.tensor([3.0], requires_grad=True)
    y = a * 2
    y.copy_(src)
    assert y.grad_fn.name() == "CopyBackwards"
    (y * torch.tensor([1.0, 10.0])).sum().backward()
    assert src.grad.item() == 11.0  # summed over the broadcast dimension
    np.testing.assert_array_equal(_np(a.grad), [0.0, 0.0])


def test_zero_and_fill_grad_fn_names():
    x = torch.ones(2, requires_grad=True)
    y = x * 1
    assert y.zero_().grad_fn.name() == "ZeroBackward0"
    assert y.fill_(3).grad_fn.name() == "FillBackward0"
    y.sum().backward()
    np.testing.assert_array_equal(_np(x.grad), [0.0, 0.0])


def test_inplace_on_non_leaf_is_recorded():
    x = torch.tensor([1.0, 2.0], requires_grad=True)
    y = x * 1
    y.mul_(2)
    assert y.grad_fn.name() == "MulBackward0"
    y.sum().backward()
    np.testing.assert_array_equal(_np(x.grad), [2.0, 2.0])


def test_inplace_chain_on_non_leaf():
    x = torch.tensor([1.0, 2.0], requires_grad=True)
    y = x + 0
    y += 1
    y *= x  # (x + 1) x: d/dx = 2x + 1
    y.sum().backward()
    np.testing.assert_array_equal(_np(x.grad), [3.0, 5.0])


def test_inplace_that_saves_itself_raises_at_backward():
    # y *= y saves y as the other operand, and then overwrites it, as in PyTorch.
    x = torch.tensor([1.0, 2.0], requires_grad=True)
    y = x + 0
    y *= y
    with pytest.raises(RuntimeError, match="modified by an inplace operation"):
        y.sum().backward()


def test_version_counter():
    x = torch.ones(2)
    assert x._version == 0
    x.add_(1)
    assert x._version == 1
    x.mul_(2)
    x += 1
    assert x._version == 3
    d = x.detach()
    d.add_(1)  # detach() shares the version counter
    assert x._version == 4
    np.testing.assert_array_equal(_np(x), [6.0, 6.0])
    _ = x + 1
    assert x._version == 4


def test_modified_saved_tensor_raises_naming_the_op():
    x = torch.tensor([1.0, 2.0], requires_grad=True)
    y = x.exp()
    y.add_(1)
    with pytest.raises(RuntimeError, match="ExpBackward0") as info:
        y.sum().backward()
    assert "modified by an inplace operation" in str(info.value)


def test_modified_saved_input_raises():
    x = torch.tensor([1.0, 2.0], requires_grad=True)
    a = x * 1
    b = a * a  # saves a
    a.add_(1)
    with pytest.raises(RuntimeError, match="MulBackward0"):
        b.sum().backward()


def test_inplace_on_input_not_saved_is_fine():
    x = torch.tensor([1.0, 2.0], requires_grad=True)
    a = x * 1
    b = a + 1  # add saves nothing
    a.mul_(3)
    b.sum().backward()  # b's graph is unchanged: b = x * 1 + 1
    np.testing.assert_array_equal(_np(x.grad), [1.0, 1.0])


def test_rebinding_is_not_inplace():
    x = torch.tensor([1.0, 2.0], requires_grad=True)
    y = x.exp()
    y = y + 1  # a new tensor: the saved output is intact
    y.sum().backward()
    np.testing.assert_allclose(_np(x.grad), np.exp([1.0, 2.0]), rtol=1e-6)


# ---------------------------------------------------------------------------------- deep graphs
@pytest.mark.slow
def test_100k_op_chain_backpropagates():
    # No recursion in the engine (or in freeing the graph): a chain of 100,000 nodes works.
    x = torch.tensor(0.0, dtype=torch.float64, requires_grad=True)
    y = x
    for _ in range(100_000):
        y = y + 1.0
    assert y.item() == 100_000.0
    y.backward()
    assert x.grad.item() == 1.0
    del y


def test_long_multiplicative_chain():
    x = torch.tensor(1.0, dtype=torch.float64, requires_grad=True)
    y = x
    for _ in range(5000):
        y = y * 1.0001
    y.backward()
    assert x.grad.item() == pytest.approx(1.0001**5000, rel=1e-10)


def test_wide_graph_diamond():
    x = torch.tensor(1.0, requires_grad=True)
    parts = [x * float(i) for i in range(200)]
    total = parts[0]
    for p in parts[1:]:
        total = total + p
    total.backward()
    assert x.grad.item() == sum(range(200))


def test_seed_gradient_is_cast_to_the_output_dtype():
    x = torch.tensor([1.0, 2.0], requires_grad=True)
    x.backward(torch.tensor([1.0, 2.0], dtype=torch.float64))
    assert x.grad.dtype == torch.float32
    y = x * 3
    y.backward(torch.tensor([1, 1]))
    assert x.grad.dtype == torch.float32
    np.testing.assert_array_equal(_np(x.grad), [4.0, 5.0])
