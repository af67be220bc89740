"""``linalg.eig`` and ``linalg.eigvals`` of general matrices: values against PyTorch and numpy (up
to the order of the eigenpairs and each eigenvector's phase, which LAPACK builds may choose
differently), errors against PyTorch, and gradients of phase-invariant losses against PyTorch's
``.grad`` and float64 finite differences. The registry checks (tests/test_op_registry.py) compare
the rules with JAX's autodiff of the lowering."""

from __future__ import annotations

import numpy as np
import pytest

import tracegrad as tg

from .tiers import slow_after

torch = pytest.importorskip("torch")


def _matrix(shape, complex_values=False, seed=0, gap=0.3):
    """A random matrix (batch) whose eigenvalues are at least ``gap`` apart."""
    rng = np.random.default_rng(seed)
    while True:
        m = rng.standard_normal(shape)
        if complex_values:
            m = m + 1j * rng.standard_normal(shape)
        w = np.linalg.eigvals(m)
        d = np.abs(w[..., :, None] - w[..., None, :]) + np.eye(shape[-1]) * gap
        if d.min() >= gap:
            return m


def _sorted(w):
    w = np.asarray(w)
    return np.sort_complex(w.reshape(-1, w.shape[-1])).reshape(w.shape)


# ------------------------------------------------------------------------------------------ values
@pytest.mark.parametrize(
    "dtype,shape,complex_values",
    slow_after(
        [
            ("float64", (4, 4), False),
            ("complex128", (3, 3), True),
            ("float32", (2, 5, 5), False),
            ("complex64", (2, 3, 3), True),
            ("float64", (1, 1), False),
        ],
        keep=2,
        multi=True,
    ),
)
def test_eig_values_match_pytorch(dtype, shape, complex_values):
    a = _matrix(shape, complex_values).astype(dtype)
    L, V = tg.linalg.eig(tg.tensor(a))
    tL, tV = torch.linalg.eig(torch.tensor(a))
    assert str(L.dtype).split(".")[-1] == str(tL.dtype).split(".")[-1]
    assert V.dtype == L.dtype and tuple(V.shape) == tuple(tV.shape)
    tol = 1e-4 if dtype in ("float32", "complex64") else 1e-10
    L, V = np.asarray(L), np.asarray(V)
    np.testing.assert_allclose(_sorted(L), _sorted(tL.numpy()), rtol=tol, atol=tol)
    # A v = lambda v, and unit norm (LAPACK's normalization, as PyTorch).
    np.testing.assert_allclose(a @ V, V * L[..., None, :], rtol=tol, atol=tol * 10)
    np.testing.assert_allclose(np.linalg.norm(V, axis=-2), 1.0, rtol=tol)
    # Each eigenvector is PyTorch's up to a phase: |<v, v_torch>| = 1 for the matching eigenvalue.
    tLn, tVn = tL.numpy(), tV.numpy()
    for idx in np.ndindex(*shape[:-2]):
        for j in range(shape[-1]):
            k = np.argmin(np.abs(tLn[idx] - L[idx][j]))
            overlap = abs(np.vdot(V[idx][:, j], tVn[idx][:, k]))
            np.testing.assert_allclose(overlap, 1.0, rtol=tol * 10)


def test_eigvals_matches_eig_and_numpy():
    a = _matrix((2, 4, 4))
    w = tg.linalg.eigvals(tg.tensor(a))
    assert w.dtype == tg.complex128 and not w.requires_grad
    np.testing.assert_allclose(_sorted(w), _sorted(np.linalg.eigvals(a)), rtol=1e-10)
    np.testing.assert_allclose(
        np.asarray(w), np.asarray(tg.linalg.eig(tg.tensor(a)).eigenvalues), rtol=1e-12
    )
    # With a gradient (the eigenvectors are computed too) the values are the same.
    wg = tg.linalg.eigvals(tg.tensor(a, requires_grad=True))
    np.testing.assert_allclose(np.asarray(wg.detach()), np.asarray(w), rtol=1e-12)


def test_eig_result_fields_and_empty():
    r = tg.linalg.eig(tg.tensor(_matrix((3, 3)).astype("float32")))
    assert r.eigenvalues is r[0] and r.eigenvectors is r[1]
    assert r.eigenvalues.dtype == tg.complex64
    for shape in [(0, 0), (2, 0, 0)]:
        L, V = tg.linalg.eig(tg.zeros(*shape))
        tL, tV = torch.linalg.eig(torch.zeros(*shape))
        assert tuple(L.shape) == tuple(tL.shape) and tuple(V.shape) == tuple(tV.shape)
        assert L.dtype == tg.complex64
        assert tuple(tg.linalg.eigvals(tg.zeros(*shape)).shape) == tuple(tL.shape)


# ------------------------------------------------------------------------------------------ errors
@pytest.mark.parametrize("name", ["eig", "eigvals"])
@pytest.mark.parametrize(
    "shape,dtype",
    [
        ((3,), "float64"),
        ((2, 3), "float32"),
        ((2, 2), "int64"),
        ((2, 2), "bool"),
        ((2, 2), "float16"),
    ],
)
@pytest.mark.filterwarnings("ignore:ComplexHalf support:UserWarning")
def test_errors_match_pytorch(name, shape, dtype):
    with pytest.raises(Exception) as expected:
        getattr(torch.linalg, name)(torch.ones(shape, dtype=getattr(torch, dtype)))
    with pytest.raises(type(expected.value)) as got:
        getattr(tg.linalg, name)(tg.ones(*shape, dtype=getattr(tg, dtype)))
    assert str(got.value) == str(expected.value)


def test_phase_dependent_loss_raises_as_pytorch():
    a = _matrix((3, 3))
    tV = torch.linalg.eig(torch.tensor(a, requires_grad=True))[1]
    with pytest.raises(RuntimeError) as expected:
        tV.imag.sum().backward()
    V = tg.linalg.eig(tg.tensor(a, requires_grad=True))[1]
    with pytest.raises(RuntimeError) as got:
        V.imag.sum().backward()
    assert str(got.value) == str(expected.value)


def test_grad_fn_names():
    a = _matrix((3, 3))
    A, tA = tg.tensor(a, requires_grad=True), torch.tensor(a, requires_grad=True)
    assert tg.linalg.eigvals(A).grad_fn.name() == torch.linalg.eigvals(tA).grad_fn.name()
    # eig's two results come from one node (as PyTorch's), here behind the slices that split them.
    L, V = tg.linalg.eig(A)
    assert L.grad_fn.next_functions[0][0] is V.grad_fn.next_functions[0][0]
    assert L.grad_fn.next_functions[0][0].name() == torch.linalg.eig(tA)[0].grad_fn.name()


# --------------------------------------------------------------------------------------- gradients
# Losses that depend on neither the order of the eigenpairs nor the eigenvectors' phases, so that
# PyTorch's gradient is defined and the same whatever LAPACK build computed the decomposition.
def _loss_abs2(lib, L, V, W):
    return (L.real * L.real + L.imag * L.imag).sum()


def _loss_real(lib, L, V, W):
    return L.real.sum()


def _loss_vabs(lib, L, V, W):
    # Each |v_ij| weighted by a function of its own eigenvalue and of its row.
    return (V.abs() * (L.real.unsqueeze(-2) + W)).sum()


def _loss_mixed(lib, L, V, W):
    # The projector-like quantity |v_i|^2 per row, and Im(lambda)^2.
    vr, vi = V.real, V.imag
    return ((vr * vr + vi * vi) * W).sum() + (L.imag * L.imag).sum() + (L.real * L.real).sum()


LOSSES = {"abs2": _loss_abs2, "real": _loss_real, "vabs": _loss_vabs, "mixed": _loss_mixed}


def _grads(lib, a, w, loss):
    A = lib.tensor(a, requires_grad=True)
    L, V = lib.linalg.eig(A)
    loss(lib, L, V, lib.tensor(w)).backward()
    return np.asarray(A.grad.detach() if lib is tg else A.grad.numpy())


@pytest.mark.parametrize(
    "loss,complex_values,shape",
    slow_after(
        [
            ("vabs", False, (4, 4)),
            ("abs2", True, (3, 3)),
            ("real", False, (3, 3)),
            ("mixed", True, (2, 3, 3)),
            ("vabs", True, (3, 3)),
            ("mixed", False, (2, 4, 4)),
            ("abs2", False, (5, 5)),
        ],
        keep=2,
        multi=True,
    ),
)
def test_eig_grad_matches_pytorch(loss, complex_values, shape):
    a = _matrix(shape, complex_values, seed=1)
    w = np.random.default_rng(2).standard_normal(shape[:-1] + (1,))
    got = _grads(tg, a, w, LOSSES[loss])
    expected = _grads(torch, a, w, LOSSES[loss])
    assert got.dtype == expected.dtype
    np.testing.assert_allclose(got, expected, rtol=1e-8, atol=1e-10)


@pytest.mark.parametrize("complex_values", [False, True])
def test_eigvals_grad_matches_pytorch(complex_values):
    a = _matrix((2, 4, 4), complex_values, seed=3)

    def grad(lib):
        A = lib.tensor(a, requires_grad=True)
        w = lib.linalg.eigvals(A)
        (0.5 * w.real * w.real + 1.5 * w.imag * w.imag + w.real).sum().backward()
        return np.asarray(A.grad.detach() if lib is tg else A.grad.numpy())

    np.testing.assert_allclose(grad(tg), grad(torch), rtol=1e-8, atol=1e-10)


@pytest.mark.parametrize(
    "loss,complex_values",
    slow_after([("vabs", False), ("mixed", True), ("abs2", False)], multi=True),
)
def test_eig_grad_matches_finite_differences(loss, complex_values):
    shape = (4, 4)
    a = _matrix(shape, complex_values, seed=5)
    w = np.random.default_rng(6).standard_normal(shape[:-1] + (1,))
    grad = _grads(tg, a, w, LOSSES[loss])
    rng = np.random.default_rng(7)
    d = rng.standard_normal(shape)
    if complex_values:
        d = d + 1j * rng.standard_normal(shape)

    def f(x):
        L, V = tg.linalg.eig(tg.tensor(x))
        return float(LOSSES[loss](tg, L, V, tg.tensor(w)))

    eps = 1e-6
    numeric = (f(a + eps * d) - f(a - eps * d)) / (2 * eps)
    # PyTorch's convention: the gradient is the Riesz vector of the real inner product.
    analytic = np.real(np.sum(np.conj(grad) * d))
    np.testing.assert_allclose(analytic, numeric, rtol=1e-6, atol=1e-8)


def test_eigvals_without_grad_mode_records_nothing():
    A = tg.tensor(_matrix((3, 3)), requires_grad=True)
    with tg.no_grad():
        w = tg.linalg.eigvals(A)
    assert not w.requires_grad and w.grad_fn is None


def test_create_graph_is_refused_clearly():
    A = tg.tensor(_matrix((3, 3)), requires_grad=True)
    L, _ = tg.linalg.eig(A)
    with pytest.raises(NotImplementedError, match="complex"):
        tg.autograd.grad(L.real.sum(), A, create_graph=True)
