"""tracegrad.linalg against torch.linalg on the same matrices: values, gradients (through a
scalar loss, so the eigenvectors' sign convention cancels), result types and errors."""

from __future__ import annotations

import math

import numpy as np
import pytest

import tracegrad as tg

from .tiers import slow_after

torch = pytest.importorskip("torch")

RNG = np.random.default_rng(7)
A = RNG.standard_normal((3, 3)) + 3 * np.eye(3)
SPD = (lambda m: m @ m.T + 3 * np.eye(3))(RNG.standard_normal((3, 3)))
B = RNG.standard_normal((3, 2))
BATCH = RNG.standard_normal((2, 3, 3)) + 3 * np.eye(3)


def both(fn_tg, fn_torch, *arrays, grad=True):
    """Run both on float64 copies of ``arrays``; compare outputs and the gradients of
    ``sum(out * weights)``."""
    xs = [tg.tensor(a, requires_grad=grad) for a in arrays]
    ts = [torch.tensor(a, requires_grad=grad) for a in arrays]
    got, want = fn_tg(*xs), fn_torch(*ts)
    np.testing.assert_allclose(got.detach().numpy(), want.detach().numpy(), rtol=1e-9, atol=1e-9)
    if grad:
        w = RNG.standard_normal(tuple(want.shape))
        (got * tg.tensor(w)).sum().backward()
        (want * torch.tensor(w)).sum().backward()
        for x, t in zip(xs, ts):
            np.testing.assert_allclose(x.grad.numpy(), t.grad.numpy(), rtol=1e-7, atol=1e-9)


CASES = {
    "inv": (lambda a: tg.linalg.inv(a), lambda a: torch.linalg.inv(a), [A]),
    "inverse_batched": (lambda a: a.inverse(), lambda a: a.inverse(), [BATCH]),
    "det": (lambda a: tg.linalg.det(a), lambda a: torch.linalg.det(a), [BATCH]),
    "logdet": (lambda a: tg.logdet(a), lambda a: torch.logdet(a), [SPD]),
    "slogdet": (
        lambda a: tg.linalg.slogdet(-a).logabsdet,
        lambda a: torch.linalg.slogdet(-a).logabsdet,
        [A],
    ),
    "solve": (lambda a, b: tg.linalg.solve(a, b), lambda a, b: torch.linalg.solve(a, b), [A, B]),
    "solve_vector": (
        lambda a, b: tg.linalg.solve(a, b[:, 0]),
        lambda a, b: torch.linalg.solve(a, b[:, 0]),
        [A, B],
    ),
    "solve_right": (
        lambda a, b: tg.linalg.solve(a, b.T, left=False),
        lambda a, b: torch.linalg.solve(a, b.T, left=False),
        [A, B],
    ),
    "solve_triangular": (
        lambda a, b: tg.linalg.solve_triangular(a.triu(), b, upper=True),
        lambda a, b: torch.linalg.solve_triangular(a.triu(), b, upper=True),
        [A, B],
    ),
    "cholesky": (lambda a: tg.linalg.cholesky(a), lambda a: torch.linalg.cholesky(a), [SPD]),
    "cholesky_upper": (
        lambda a: tg.linalg.cholesky(a, upper=True),
        lambda a: torch.linalg.cholesky(a, upper=True),
        [SPD],
    ),
    "eigvalsh": (lambda a: tg.linalg.eigvalsh(a), lambda a: torch.linalg.eigvalsh(a), [SPD]),
    "eigh_gauge_free": (  # V diag(w^2) V^T does not depend on the eigenvectors' signs
        lambda a: (lambda r: r.eigenvectors @ (r.eigenvalues**2).diag_embed() @ r.eigenvectors.mT)(
            tg.linalg.eigh(a)
        ),
        lambda a: (lambda r: r.eigenvectors @ (r.eigenvalues**2).diag_embed() @ r.eigenvectors.mT)(
            torch.linalg.eigh(a)
        ),
        [SPD],
    ),
    "matrix_exp": (
        lambda a: tg.linalg.matrix_exp(a * 0.3),
        lambda a: torch.linalg.matrix_exp(a * 0.3),
        [BATCH],
    ),
    "matrix_power": (
        lambda a: tg.linalg.matrix_power(a, 3),
        lambda a: torch.linalg.matrix_power(a, 3),
        [A],
    ),
    "matrix_power_negative": (
        lambda a: tg.linalg.matrix_power(a, -2),
        lambda a: torch.linalg.matrix_power(a, -2),
        [A],
    ),
    "multi_dot": (
        lambda a, b: tg.linalg.multi_dot([b[:, 0], a, a, b]),
        lambda a, b: torch.linalg.multi_dot([b[:, 0], a, a, b]),
        [A, B],
    ),
    "vector_norm_3": (
        lambda a: tg.linalg.vector_norm(a, 3, dim=1),
        lambda a: torch.linalg.vector_norm(a, 3, dim=1),
        [A],
    ),
    "vector_norm_inf": (
        lambda a: tg.linalg.vector_norm(a, math.inf),
        lambda a: torch.linalg.vector_norm(a, math.inf),
        [A],
    ),
    "matrix_norm_fro": (
        lambda a: tg.linalg.matrix_norm(a),
        lambda a: torch.linalg.matrix_norm(a),
        [BATCH],
    ),
    "matrix_norm_1": (
        lambda a: tg.linalg.matrix_norm(a, 1),
        lambda a: torch.linalg.matrix_norm(a, 1),
        [BATCH],
    ),
    "matrix_norm_inf": (
        lambda a: tg.linalg.matrix_norm(a, -math.inf, keepdim=True),
        lambda a: torch.linalg.matrix_norm(a, -math.inf, keepdim=True),
        [BATCH],
    ),
    "norm": (lambda a: tg.linalg.norm(a), lambda a: torch.linalg.norm(a), [BATCH]),
}


@pytest.mark.parametrize("name", slow_after(sorted(CASES), 6))
def test_matches_pytorch(name):
    fn_tg, fn_torch, arrays = CASES[name]
    both(fn_tg, fn_torch, *arrays)


def test_result_types_and_fields():
    r = tg.linalg.eigh(tg.tensor(SPD))
    assert isinstance(r, tuple) and r.eigenvalues is r[0] and r.eigenvectors is r[1]
    s = tg.linalg.slogdet(tg.tensor(-A))
    assert float(s.sign) == float(torch.linalg.slogdet(torch.tensor(-A)).sign)
    L, info = tg.linalg.cholesky_ex(tg.tensor(SPD))
    assert int(info) == 0
    assert tg.det is tg.ops.decomp.det and tg.tensor(A).det().shape == ()


def test_errors_match_pytorch():
    for fn, arg in [
        (lambda m: m.linalg.inv(m.ones(2, 3)), "must be batches of square matrices"),
        (lambda m: m.linalg.det(m.ones(3)), "must have at least 2 dimensions"),
        (lambda m: m.linalg.eigh(m.eye(2), UPLO="X"), "Expected UPLO argument to be 'L' or 'U'"),
    ]:
        with pytest.raises(RuntimeError, match=arg):
            fn(tg)
        with pytest.raises(RuntimeError, match=arg):
            fn(torch)
    with pytest.raises(NotImplementedError, match="linalg.svd"):
        tg.linalg.matrix_norm(tg.tensor(A), "nuc")
