"""Public API of the linear algebra ops: matmul's dispatch, PyTorch's errors and grad_fn names,
and values and gradients against numpy."""

from __future__ import annotations

import numpy as np
import pytest

import tracegrad as tg

rng = np.random.default_rng(0)


def leaf(*shape):
    return tg.tensor(rng.standard_normal(shape), dtype=tg.float64, requires_grad=True)


def close(t, expected, rtol=1e-12, atol=1e-12):
    np.testing.assert_allclose(np.asarray(t.detach()), expected, rtol=rtol, atol=atol)


def _unbroadcast(g, shape):
    """numpy's sum of a gradient back to ``shape`` (the reference for broadcast batch dims)."""
    while g.ndim > len(shape):
        g = g.sum(0)
    return g.sum(tuple(i for i, s in enumerate(shape) if s == 1), keepdims=True)


# ---------------------------------------------------------------------------------------- matmul
@pytest.mark.parametrize(
    "sa,sb,name",
    [
        ((4,), (4,), "DotBackward0"),
        ((3, 4), (4,), "MvBackward0"),
        ((4,), (4, 5), "SqueezeBackward4"),
        ((3, 4), (4, 5), "MmBackward0"),
        ((2, 3, 4), (4, 5), "UnsafeViewBackward0"),
        ((2, 3, 4), (2, 4, 5), "UnsafeViewBackward0"),
        ((2, 1, 3, 4), (5, 4, 2), "UnsafeViewBackward0"),
        ((4,), (2, 4, 5), "SqueezeBackward1"),
        ((2, 3, 4), (4,), "SqueezeBackward1"),
        ((0, 3, 4), (4, 2), "UnsafeViewBackward0"),
    ],
)
def test_matmul_values_grads_and_names(sa, sb, name):
    a, b = leaf(*sa), leaf(*sb)
    out = a @ b
    na, nb = a.detach().numpy(), b.detach().numpy()
    ref = np.matmul(na, nb)
    close(out, ref)
    assert out.shape == ref.shape and out.grad_fn.name() == name
    g = rng.standard_normal(ref.shape)
    out.backward(tg.tensor(g))
    # Reference gradients: treat 1-D operands as a row / column, as matmul does.
    a2 = na[None] if na.ndim == 1 else na
    b2 = nb[:, None] if nb.ndim == 1 else nb
    g2 = g.reshape(np.matmul(a2, b2).shape)
    ga = _unbroadcast(np.matmul(g2, np.swapaxes(b2, -1, -2)), a2.shape).reshape(na.shape)
    gb = _unbroadcast(np.matmul(np.swapaxes(a2, -1, -2), g2), b2.shape).reshape(nb.shape)
    close(a.grad, ga, rtol=1e-10)
    close(b.grad, gb, rtol=1e-10)


def test_matmul_methods_and_rmatmul():
    a, b = rng.standard_normal((2, 3)), rng.standard_normal((3, 2))
    close(tg.tensor(a).matmul(tg.tensor(b)), a @ b)
    close(tg.matmul(tg.tensor(a), tg.tensor(b)), a @ b)
    close(tg.tensor(a).__rmatmul__(tg.tensor(b)), b @ a)


def test_matmul_double_backward():
    # f = sum((x W)^2): df/dx = 2 (x W) W^T, and d(sum df/dx)/dx = 2 W W^T 1 in every row.
    x, w = leaf(2, 3), leaf(3, 4)
    (gx,) = tg.autograd.grad(((x @ w) ** 2).sum(), x, create_graph=True)
    nw = w.detach().numpy()
    close(gx, 2 * (x.detach().numpy() @ nw) @ nw.T, rtol=1e-10)
    (h,) = tg.autograd.grad(gx.sum(), x)
    close(h, np.tile(2 * (nw @ nw.T).sum(1), (2, 1)), rtol=1e-10)


def test_matmul_errors():
    with pytest.raises(
        RuntimeError, match=r"^mat1 and mat2 shapes cannot be multiplied \(2x3 and 4x5\)$"
    ):
        tg.ones(2, 3) @ tg.ones(4, 5)
    with pytest.raises(
        RuntimeError, match=r"^expected m1 and m2 to have the same dtype, but got: float != double$"
    ):
        tg.ones(2, 3) @ tg.ones(3, 2, dtype=tg.float64)
    with pytest.raises(
        RuntimeError, match=r"mat1 and mat2 shapes cannot be multiplied \(1x3 and 4x5\)"
    ):
        tg.ones(3) @ tg.ones(4, 5)
    with pytest.raises(
        RuntimeError, match=r"size mismatch, got input \(2\), mat \(2x3\), vec \(4\)"
    ):
        tg.ones(2, 3) @ tg.ones(4)
    with pytest.raises(
        RuntimeError, match=r"inconsistent tensor size, expected tensor \[3\] and src \[4\]"
    ):
        tg.ones(3) @ tg.ones(4)
    with pytest.raises(
        RuntimeError, match=r"mat1 and mat2 shapes cannot be multiplied \(6x4 and 5x2\)"
    ):
        tg.ones(2, 3, 4) @ tg.ones(5, 2)
    with pytest.raises(
        RuntimeError,
        match=r"first two dimensions of batch2 tensor to be: \[2, 4\] but got: \[2, 5\]",
    ):
        tg.ones(2, 3, 4) @ tg.ones(2, 5, 6)
    with pytest.raises(
        RuntimeError, match=r"size of tensor a \(2\) must match the size of tensor b \(3\)"
    ):
        tg.ones(2, 3, 4) @ tg.ones(3, 4, 5)
    with pytest.raises(RuntimeError, match="at least 1D, but they are 0D and 2D"):
        tg.tensor(1.0) @ tg.ones(2, 2)


# ---------------------------------------------------------------------------- mm, bmm, dot, mv
def test_mm_bmm_dot_mv_outer():
    a, b = leaf(3, 4), leaf(4, 5)
    close(tg.mm(a, b), a.detach().numpy() @ b.detach().numpy())
    assert a.mm(b).grad_fn.name() == "MmBackward0"
    p, q = leaf(2, 3, 4), leaf(2, 4, 5)
    r = tg.bmm(p, q)
    close(r, np.matmul(p.detach().numpy(), q.detach().numpy()))
    assert r.grad_fn.name() == "BmmBackward0"
    u, v = leaf(4), leaf(4)
    d = tg.dot(u, v)
    close(d, u.detach().numpy() @ v.detach().numpy())
    assert d.shape == () and d.grad_fn.name() == "DotBackward0"
    d.backward()
    close(u.grad, v.detach().numpy())
    m = a.t().mv(tg.tensor(rng.standard_normal(3)))
    assert m.shape == (4,) and m.grad_fn.name() == "MvBackward0"
    o = tg.outer(u, leaf(3))
    assert o.shape == (4, 3) and o.grad_fn.name() == "MulBackward0"
    close(tg.ger(tg.tensor([1.0, 2.0]), tg.tensor([3.0, 4.0])), [[3.0, 4.0], [6.0, 8.0]])


def test_mm_bmm_dot_errors():
    with pytest.raises(RuntimeError, match="self must be a matrix"):
        tg.mm(tg.ones(3), tg.ones(3, 2))
    with pytest.raises(RuntimeError, match="mat2 must be a matrix"):
        tg.mm(tg.ones(2, 3), tg.ones(3))
    with pytest.raises(RuntimeError, match="batch1 must be a 3D tensor"):
        tg.bmm(tg.ones(2, 3), tg.ones(2, 3, 4))
    with pytest.raises(RuntimeError, match="batch2 must be a 3D tensor"):
        tg.bmm(tg.ones(2, 2, 3), tg.ones(1, 2, 3, 4))
    with pytest.raises(RuntimeError, match=r"batch2 tensor to be: \[2, 3\] but got: \[1, 3\]"):
        tg.bmm(tg.ones(2, 2, 3), tg.ones(1, 3, 4))
    with pytest.raises(RuntimeError, match="expected scalar type Float but found Double"):
        tg.bmm(tg.ones(1, 2, 3), tg.ones(1, 3, 4, dtype=tg.float64))
    with pytest.raises(RuntimeError, match="1D tensors expected, but got 2D and 1D tensors"):
        tg.dot(tg.ones(2, 2), tg.ones(2))
    with pytest.raises(RuntimeError, match="dot : expected both vectors to have same dtype"):
        tg.dot(tg.ones(2), tg.ones(2, dtype=tg.float64))


def test_integer_matmul_has_no_grad():
    r = tg.tensor([[1, 2], [3, 4]]) @ tg.tensor([[1], [1]])
    assert r.tolist() == [[3], [7]] and r.dtype == tg.int64


# ------------------------------------------------------------------------------ addmm, baddbmm
def test_addmm():
    c, a, b = leaf(5), leaf(3, 4), leaf(4, 5)
    nc, na, nb = (t.detach().numpy() for t in (c, a, b))
    y = tg.addmm(c, a, b, beta=0.5, alpha=2.0)
    close(y, 0.5 * nc + 2.0 * na @ nb)
    assert y.grad_fn.name() == "AddmmBackward0"
    g = rng.standard_normal((3, 5))
    y.backward(tg.tensor(g))
    close(c.grad, 0.5 * g.sum(0))
    close(a.grad, 2.0 * g @ nb.T)
    close(b.grad, 2.0 * na.T @ g)
    nan = tg.full((3, 5), float("nan"), dtype=tg.float64)
    assert np.all(np.isfinite(tg.addmm(nan, a, b, beta=0).detach().numpy()))
    close(c.addmm(a, b), nc + na @ nb)
    with pytest.raises(RuntimeError, match="The expanded size of the tensor"):
        tg.addmm(tg.ones(4), tg.ones(3, 4), tg.ones(4, 5))
    with pytest.raises(RuntimeError, match=r"\(3x4 and 5x5\)"):
        tg.addmm(tg.ones(5), tg.ones(3, 4), tg.ones(5, 5))


def test_baddbmm():
    c, a, b = leaf(3, 5), leaf(2, 3, 4), leaf(2, 4, 5)
    nc, na, nb = (t.detach().numpy() for t in (c, a, b))
    y = tg.baddbmm(c, a, b, alpha=3.0)
    close(y, nc + 3.0 * np.matmul(na, nb))
    assert y.grad_fn.name() == "BaddbmmBackward0"
    y.sum().backward()
    close(c.grad, np.full((3, 5), 2.0))


# ------------------------------------------------------------------------------------- tensordot
def test_tensordot():
    a, b = rng.standard_normal((2, 3, 4)), rng.standard_normal((3, 4, 5))
    close(tg.tensordot(tg.tensor(a), tg.tensor(b)), np.tensordot(a, b), rtol=1e-10)
    close(
        tg.tensordot(tg.tensor(a), tg.tensor(b), dims=([1, 2], [0, 1])),
        np.tensordot(a, b, axes=([1, 2], [0, 1])),
        rtol=1e-10,
    )
    close(tg.tensordot(tg.tensor(a), tg.tensor(b), 0), np.tensordot(a, b, 0))
    with pytest.raises(RuntimeError, match="contracted dimensions need to match"):
        tg.tensordot(tg.tensor(a), tg.tensor(b), dims=([0], [0]))


# ---------------------------------------------------------------------------------------- einsum
@pytest.mark.parametrize(
    "eq,shapes",
    [
        ("ij,jk->ik", [(3, 4), (4, 5)]),
        ("ij,jk", [(3, 4), (4, 5)]),
        ("ba,ac", [(3, 4), (4, 5)]),  # implicit output: sorted letters used once
        ("bij,bjk->bik", [(2, 3, 4), (2, 4, 5)]),
        ("...ij,...jk->...ik", [(2, 3, 4), (4, 5)]),
        ("i...,i...->...", [(3, 2, 2), (3, 1, 2)]),
        ("...i", [(2, 3)]),
        ("ii->i", [(3, 3)]),
        ("ii", [(3, 3)]),
        ("iji->j", [(2, 3, 2)]),
        ("ij->", [(3, 4)]),
        ("i,j,k->ijk", [(2,), (3,), (4,)]),
        ("ab,bc,cd->ad", [(2, 3), (3, 4), (4, 5)]),
        ("ii,ij->j", [(3, 3), (3, 4)]),
        ("ij , jk -> ik", [(3, 4), (4, 5)]),
    ],
)
def test_einsum_values_and_gradients(eq, shapes):
    arrays = [rng.standard_normal(s) for s in shapes]
    xs = [tg.tensor(a, requires_grad=True) for a in arrays]
    out = tg.einsum(eq, *xs)
    ref = np.einsum(eq.replace(" ", ""), *arrays)
    close(out, ref, rtol=1e-10)
    assert out.grad_fn.name() == "EinsumBackward0"
    # d<out, w>/dx by central differences in a random direction (the einsum is multilinear).
    w = rng.standard_normal(ref.shape)
    out.backward(tg.tensor(w))
    for k, a in enumerate(arrays):
        d = rng.standard_normal(a.shape)
        plus = [x + d if i == k else x for i, x in enumerate(arrays)]
        minus = [x - d if i == k else x for i, x in enumerate(arrays)]
        numeric = (
            np.sum(
                (np.einsum(eq.replace(" ", ""), *plus) - np.einsum(eq.replace(" ", ""), *minus)) * w
            )
            / 2
        )
        np.testing.assert_allclose(
            np.sum(np.asarray(xs[k].grad) * d), numeric, rtol=1e-9, atol=1e-9
        )


def test_einsum_list_operands_and_errors():
    a, b = rng.standard_normal((2, 3)), rng.standard_normal((3, 4))
    close(tg.einsum("ij,jk->ik", [tg.tensor(a), tg.tensor(b)]), a @ b, rtol=1e-10)
    with pytest.raises(ValueError, match="more operands were provided"):
        tg.einsum("ij->i", tg.ones(2, 2), tg.ones(2))
    with pytest.raises(ValueError, match="fewer operands were provided"):
        tg.einsum("ij,jk->ik", tg.ones(2, 2))
    with pytest.raises(
        RuntimeError, match=r"number of subscripts in the equation \(2\) does not match"
    ):
        tg.einsum("ij->i", tg.ones(2, 2, 2))
    with pytest.raises(RuntimeError, match="output subscript k does not appear"):
        tg.einsum("ij->k", tg.ones(2, 2))
    with pytest.raises(RuntimeError, match="appears more than once"):
        tg.einsum("ij->ii", tg.ones(2, 2))
    with pytest.raises(RuntimeError, match="do not broadcast"):
        tg.einsum("ij,jk->ik", tg.ones(2, 3), tg.ones(4, 5))
    with pytest.raises(ValueError, match="invalid subscript"):
        tg.einsum("i1->i", tg.ones(2, 2))


def test_einsum_double_backward():
    # f = sum_ij (A B)_ij^2; compare the Hessian-vector product with the analytic one.
    a, b = leaf(2, 3), leaf(3, 4)
    (ga,) = tg.autograd.grad((tg.einsum("ij,jk->ik", a, b) ** 2).sum(), a, create_graph=True)
    nb = b.detach().numpy()
    close(ga, 2 * (a.detach().numpy() @ nb) @ nb.T, rtol=1e-10)
    v = rng.standard_normal((2, 3))
    (h,) = tg.autograd.grad((ga * tg.tensor(v)).sum(), a)
    close(h, 2 * v @ nb @ nb.T, rtol=1e-10)
