"""Public API of the reductions, scans and softmaxes: PyTorch's signatures, dtypes, errors and
grad_fn names, with values and gradients checked against numpy or exact math."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest

import tracegrad as tg

rng = np.random.default_rng(0)


def leaf(a, dtype=tg.float64):
    return tg.tensor(np.asarray(a), dtype=dtype, requires_grad=True)


def close(t, expected, **kw):
    np.testing.assert_allclose(np.asarray(t.detach()), expected, **(kw or dict(rtol=1e-12)))


# ------------------------------------------------------------------------------------ dims & sum
def test_dims_negative_tuple_and_zero_d():
    x = rng.standard_normal((2, 3, 4))
    close(tg.tensor(x).sum((-1, 0)), x.sum((0, 2)))
    close(tg.tensor(x).sum([]), x.sum())  # an empty dim list reduces everything, as PyTorch
    s = tg.tensor(2.5)
    assert s.sum(0).shape == () and s.amax(-1).item() == 2.5
    with pytest.raises(IndexError, match="Dimension out of range"):
        tg.tensor(x).prod(3)


# ------------------------------------------------------------------------------------------ prod
def test_prod_values_dims_and_dtypes():
    x = rng.standard_normal((2, 3, 4))
    close(tg.prod(tg.tensor(x)), np.prod(x))
    close(tg.tensor(x).prod(-1, keepdim=True), np.prod(x, -1, keepdims=True))
    close(tg.tensor(x).prod((0, 2)), np.prod(x, (0, 2)))
    assert tg.tensor([1, 2, 3], dtype=tg.int32).prod().dtype == tg.int64
    assert tg.tensor([2.0, 3.0]).prod(dtype=tg.float64).dtype == tg.float64
    assert tg.tensor(x).requires_grad_().prod().grad_fn.name() == "ProdBackward0"
    assert tg.tensor(x).requires_grad_().prod(1).grad_fn.name() == "ProdBackward1"


def _prod_others(row):
    return np.array([np.prod(np.delete(row, i)) for i in range(len(row))])


@pytest.mark.parametrize("row", [[2.0, 3.0, 4.0], [2.0, 0.0, 4.0], [0.0, 3.0, 0.0], [0.0]])
def test_prod_gradient_with_zeros_is_exact(row):
    x = leaf(row)
    x.prod().backward()
    close(x.grad, _prod_others(np.array(row)))
    assert np.all(np.isfinite(np.asarray(x.grad)))


def test_prod_gradient_with_zeros_along_dim_and_double_backward_finite():
    a = np.array([[1.0, 0.0, 2.0], [3.0, 4.0, 5.0]])
    x = leaf(a)
    (g,) = tg.autograd.grad(x.prod(1).sum(), x, create_graph=True)
    close(g, np.stack([_prod_others(r) for r in a]))
    (h,) = tg.autograd.grad(g.sum(), x)
    assert np.all(np.isfinite(np.asarray(h)))


# --------------------------------------------------------------------------- max, min, amax, amin
def test_max_without_dim_shares_ties_evenly():
    x = leaf([[1.0, 3.0], [3.0, 2.0]])
    m = x.max()
    assert m.item() == 3.0 and m.grad_fn.name() == "MaxBackward1"
    m.backward()
    close(x.grad, [[0.0, 0.5], [0.5, 0.0]])
    y = leaf([1.0, 1.0, 2.0])
    tg.min(y).backward()
    close(y.grad, [0.5, 0.5, 0.0])


def test_max_with_dim_is_a_named_tuple_and_grad_goes_to_the_index():
    x = leaf([[1.0, 5.0, 5.0], [7.0, 2.0, 0.0]])
    r = tg.max(x, 1)
    values, indices = r
    assert isinstance(r, tuple) and r.values is values and r.indices is indices
    assert isinstance(r, tg.return_types.max) and "values=" in repr(r)
    close(values, [5.0, 7.0])
    assert indices.tolist() == [1, 0] and indices.dtype == tg.int64  # first occurrence of ties
    assert values.grad_fn.name() == "MaxBackward0" and not indices.requires_grad
    values.backward(tg.tensor([10.0, 20.0], dtype=tg.float64))
    close(x.grad, [[0.0, 10.0, 0.0], [20.0, 0.0, 0.0]])


def test_min_with_dim_keepdim_negative_dim():
    a = rng.standard_normal((2, 3, 4))
    v, i = tg.tensor(a).min(dim=-2, keepdim=True)
    close(v, a.min(-2, keepdims=True))
    assert i.shape == (2, 1, 4) and np.array_equal(i.numpy(), a.argmin(-2)[:, None])
    v0, i0 = tg.max(tg.tensor(4.0), 0)
    assert v0.item() == 4.0 and i0.item() == 0 and v0.shape == ()


def test_max_errors():
    with pytest.raises(RuntimeError, match=r"max\(\): Expected reduction dim to be specified"):
        tg.zeros(0).max()
    with pytest.raises(IndexError, match=r"max\(\): Expected reduction dim 0 to have non-zero"):
        tg.zeros(0, 3).max(0)
    with pytest.raises(IndexError, match=r"amin\(\): Expected reduction dim 1"):
        tg.zeros(3, 0).amin(1)
    with pytest.raises(TypeError):
        tg.ones(2, 3).max((0, 1))


def test_max_of_two_tensors_is_maximum():
    if not hasattr(tg, "maximum"):
        pytest.skip("elementwise maximum not available yet")
    a, b = tg.tensor([1.0, 5.0]), tg.tensor([3.0, 2.0])
    close(tg.max(a, b), [3.0, 5.0])
    close(a.min(b), [1.0, 2.0])
    close(tg.max(a, other=b), [3.0, 5.0])


def test_amax_amin_dims_and_ties():
    a = rng.standard_normal((2, 3, 4))
    close(tg.amax(tg.tensor(a), (0, -1)), a.max((0, 2)))
    close(tg.tensor(a).amin(1, keepdim=True), a.min(1, keepdims=True))
    close(tg.amax(tg.tensor(a)), a.max())
    x = leaf([[2.0, 2.0, 2.0], [1.0, 4.0, 4.0]])
    y = tg.amax(x, 1)
    assert y.grad_fn.name() == "AmaxBackward0"
    y.backward(tg.tensor([3.0, 1.0], dtype=tg.float64))
    close(x.grad, [[1.0, 1.0, 1.0], [0.0, 0.5, 0.5]])
    assert tg.amin(leaf([1.0])).grad_fn.name() == "AminBackward0"


# -------------------------------------------------------------------------------- argmax, argmin
def test_argmax_argmin():
    a = rng.standard_normal((3, 4))
    t = tg.tensor(a)
    assert tg.argmax(t).item() == a.argmax() and tg.argmax(t).dtype == tg.int64
    assert t.argmin(1).tolist() == a.argmin(1).tolist()
    assert t.argmax(0, keepdim=True).shape == (1, 4)
    assert t.argmax(keepdim=True).shape == (1, 1)
    assert tg.tensor([1.0, 3.0, 3.0]).argmax().item() == 1  # first of the ties
    assert not tg.argmax(leaf(a)).requires_grad
    with pytest.raises(RuntimeError, match=r"argmax\(\): Expected reduction dim to be specified"):
        tg.zeros(0).argmax()
    with pytest.raises(IndexError, match="argmin"):
        tg.zeros(2, 0).argmin(1)


# ------------------------------------------------------------------------------------------ median
def test_median():
    a = np.array([[3.0, 1.0, 2.0, 5.0], [4.0, 0.0, 6.0, 8.0]])
    assert tg.median(tg.tensor(a)).item() == 3.0  # the lower of the two middle values
    v, i = tg.tensor(a).median(1)
    close(v, [2.0, 4.0])
    assert i.tolist() == [2, 0]
    x = leaf(a)
    x.median(1, keepdim=True).values.sum().backward()
    expected = np.zeros_like(a)
    expected[0, 2] = expected[1, 0] = 1.0
    close(x.grad, expected)
    assert math.isnan(tg.tensor([1.0, float("nan"), 2.0]).median().item())


# ---------------------------------------------------------------------------------------- var, std
def test_var_std_values_and_signatures():
    a = rng.standard_normal((3, 5))
    t = tg.tensor(a)
    close(t.var(), a.var(ddof=1))
    close(tg.var(t, 1), a.var(1, ddof=1))
    close(tg.var(t, 1, unbiased=False), a.var(1))
    close(tg.var(t, False), a.var())  # the old (input, unbiased) overload
    close(t.std(0, correction=0, keepdim=True), a.std(0, keepdims=True))
    close(tg.std(t, (0, 1), correction=2), np.sqrt(a.var(ddof=2)))
    v, m = tg.var_mean(t, 1)
    close(v, a.var(1, ddof=1)), close(m, a.mean(1))
    s, m = tg.std_mean(t, unbiased=False)
    close(s, a.std()), close(m, a.mean())
    with pytest.raises(RuntimeError, match="std and var only support floating point"):
        tg.tensor([1, 2, 3]).var()


def test_var_std_gradients():
    a = rng.standard_normal((3, 5))
    x = leaf(a)
    v = x.var(1)
    assert v.grad_fn.name() == "VarBackward0"
    v.sum().backward()
    close(x.grad, 2 * (a - a.mean(1, keepdims=True)) / 4)
    x = leaf(a)
    s = x.std()
    assert s.grad_fn.name() == "StdBackward0"
    s.backward()
    close(x.grad, (a - a.mean()) / (a.size - 1) / a.std(ddof=1))


def test_std_gradient_of_a_constant_slice_is_zero():
    x = leaf([[2.0, 2.0, 2.0], [1.0, 2.0, 3.0]])
    x.std(1).sum().backward()
    g = np.asarray(x.grad)
    assert np.all(np.isfinite(g)) and np.all(g[0] == 0.0)


# -------------------------------------------------------------------------------------------- norm
def test_norm_values():
    a = rng.standard_normal((3, 4))
    t = tg.tensor(a)
    close(t.norm(), np.linalg.norm(a))
    close(tg.norm(t, "fro"), np.linalg.norm(a))
    close(t.norm(1, dim=1), np.abs(a).sum(1))
    close(t.norm(float("inf"), dim=0, keepdim=True), np.abs(a).max(0, keepdims=True))
    close(t.norm(-math.inf), np.abs(a).min())
    close(t.norm(3, dim=(0, 1)), (np.abs(a) ** 3).sum() ** (1 / 3))
    close(t.norm(0), float(np.count_nonzero(a)))
    close(t.norm(dtype=tg.float32), np.linalg.norm(a), rtol=1e-6)
    assert tg.tensor(a).requires_grad_().norm().grad_fn.name() == "LinalgVectorNormBackward0"


def test_norm_gradients():
    a = rng.standard_normal((3, 4))
    x = leaf(a)
    x.norm(dim=1).sum().backward()
    close(x.grad, a / np.linalg.norm(a, axis=1, keepdims=True))
    x = leaf(a)
    x.norm(3).backward()
    n = (np.abs(a) ** 3).sum() ** (1 / 3)
    close(x.grad, np.sign(a) * np.abs(a) ** 2 / n**2)
    x = leaf([1.0, -3.0, 3.0])
    x.norm(math.inf).backward()
    close(x.grad, [0.0, -0.5, 0.5])


def test_norm_gradient_at_zero_is_zero_not_nan():
    x = leaf(np.zeros(3))
    (g,) = tg.autograd.grad(x.norm(), x, create_graph=True)
    close(g, np.zeros(3))
    (h,) = tg.autograd.grad(g.sum(), x)
    assert np.all(np.isfinite(np.asarray(h)))


def test_norm_errors():
    with pytest.raises(RuntimeError, match="Expected a floating point or complex tensor"):
        tg.tensor([1, 2]).norm()
    with pytest.raises(NotImplementedError, match="nuc"):
        tg.ones(2, 2).norm("nuc")


# --------------------------------------------------------------------------------------- logsumexp
def test_logsumexp_is_stable_and_its_gradient_is_softmax():
    a = np.array([[1000.0, 1001.0, 999.0], [-1000.0, -1000.0, -999.0]])
    expected = a.max(1) + np.log(np.exp(a - a.max(1, keepdims=True)).sum(1))
    x = leaf(a)
    y = tg.logsumexp(x, 1)
    close(y, expected)
    assert y.grad_fn.name() == "LogsumexpBackward0"
    y.sum().backward()
    close(x.grad, np.exp(a - expected[:, None]))
    close(tg.tensor(a).logsumexp((0, 1), keepdim=True), [[np.log(np.exp(a - 1001).sum()) + 1001]])
    assert tg.logsumexp(tg.tensor([1, 2]), 0).dtype == tg.float32  # integers promote


# --------------------------------------------------------------------------------- cumsum, cumprod
def test_cumsum():
    a = rng.standard_normal((3, 4))
    close(tg.cumsum(tg.tensor(a), -1), np.cumsum(a, -1))
    assert tg.tensor([1, 2, 3], dtype=tg.int32).cumsum(0).dtype == tg.int64
    assert tg.tensor([True, True]).cumsum(0).tolist() == [1, 2]
    assert tg.tensor([1, 2]).cumsum(0, dtype=tg.float64).dtype == tg.float64
    x = leaf(a)
    y = x.cumsum(0)
    assert y.grad_fn.name() == "CumsumBackward0"
    w = rng.standard_normal((3, 4))
    y.backward(tg.tensor(w))
    close(x.grad, np.cumsum(w[::-1], 0)[::-1])
    t = tg.tensor([1.0, 2.0])
    t.cumsum_(0)
    assert t.tolist() == [1.0, 3.0]


def _cumprod_grad(x, w):
    """Exact: dx_k = sum_{i >= k} w_i prod_{j <= i, j != k} x_j."""
    n = len(x)
    return np.array(
        [sum(w[i] * np.prod(np.delete(x[: i + 1], k)) for i in range(k, n)) for k in range(n)]
    )


@pytest.mark.parametrize(
    "row", [[2.0, 3.0, 0.5, 4.0], [2.0, 0.0, 3.0, 4.0], [0.0, 2.0, 0.0, 3.0], [1.5, 2.0, 3.0, 0.0]]
)
def test_cumprod_gradient_with_zeros_is_exact(row):
    row = np.array(row)
    w = rng.standard_normal(4)
    x = leaf(row)
    y = x.cumprod(0)
    close(y, np.cumprod(row))
    assert y.grad_fn.name() == "CumprodBackward0"
    (g,) = tg.autograd.grad(y, x, tg.tensor(w), create_graph=True)
    close(g, _cumprod_grad(row, w))
    (h,) = tg.autograd.grad(g.sum(), x)
    assert np.all(np.isfinite(np.asarray(h)))


def test_cumprod_dims_dtypes():
    a = rng.standard_normal((2, 3, 4))
    close(tg.tensor(a).cumprod(1), np.cumprod(a, 1))
    assert tg.tensor([1, 2, 3]).cumprod(0).tolist() == [1, 2, 6]
    assert tg.tensor(3.0).cumprod(0).item() == 3.0


# ------------------------------------------------------------------------- all, any, count_nonzero
def test_all_any_count_nonzero():
    a = np.array([[0.0, 1.0, 2.0], [3.0, 4.0, 5.0]])
    t = tg.tensor(a)
    assert t.all().item() is False and tg.any(t).item() is True
    assert t.all(1).tolist() == [False, True] and t.all(1).dtype == tg.bool
    assert tg.any(t == 0, dim=0, keepdim=True).tolist() == [[True, False, False]]
    assert tg.all(t, (0, 1)).item() is False
    assert tg.count_nonzero(t).item() == 5 and t.count_nonzero(0).tolist() == [1, 2, 2]
    assert t.count_nonzero().dtype == tg.int64
    assert not tg.all(leaf(a)).requires_grad


# ------------------------------------------------------------------------- softmax, log_softmax
def _np_softmax(a, axis):
    e = np.exp(a - a.max(axis, keepdims=True))
    return e / e.sum(axis, keepdims=True)


def test_softmax_values_stability_and_names():
    a = rng.standard_normal((3, 4)) * 3 + 1000.0
    x = leaf(a)
    s = tg.softmax(x, 1)
    close(s, _np_softmax(a, 1))
    assert s.grad_fn.name() == "SoftmaxBackward0"
    ls = x.log_softmax(dim=-1)
    close(ls, np.log(_np_softmax(a, 1)), rtol=1e-9)
    assert ls.grad_fn.name() == "LogSoftmaxBackward0"
    assert np.all(np.isfinite(np.asarray(ls.detach())))
    assert tg.softmax(tg.tensor([1.0, 2.0]), 0, dtype=tg.float64).dtype == tg.float64
    close(tg.softmax(tg.tensor(3.0, dtype=tg.float64), 0), 1.0)


def test_softmax_gradients_match_the_jacobian():
    a = rng.standard_normal(5)
    w = rng.standard_normal(5)
    p = _np_softmax(a, 0)
    jac = np.diag(p) - np.outer(p, p)
    x = leaf(a)
    x.softmax(0).backward(tg.tensor(w))
    close(x.grad, jac.T @ w)
    x = leaf(a)
    tg.log_softmax(x, 0).backward(tg.tensor(w))
    close(x.grad, w - p * w.sum())


def test_softmax_dim_rules():
    with pytest.raises(TypeError):
        tg.softmax(tg.ones(2, 3))  # dim is required
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        s = tg.softmax(tg.ones(2, 3), None)  # PyTorch's implicit choice: dim 1 for 2-d
    assert "Implicit dimension choice" in str(caught[0].message)
    close(s, np.full((2, 3), 1 / 3), rtol=1e-6)
    with pytest.raises(RuntimeError, match="not implemented for 'Long'"):
        tg.softmax(tg.tensor([1, 2]), 0)
    with pytest.raises(IndexError):
        tg.ones(2, 3).softmax(2)
