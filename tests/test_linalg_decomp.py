"""tracegrad.linalg against torch.linalg on the same matrices: values, gradients (through a
scalar loss, so the eigenvectors' sign convention cancels), result types and errors. Singular
vectors are compared with each column's sign fixed by its first entry (the fix is a constant
factor, so the gradients compare too)."""

from __future__ import annotations

import math

import numpy as np
import pytest

import tracegrad as tg

from . import tiers

torch = pytest.importorskip("torch")

RNG = np.random.default_rng(7)
A = RNG.standard_normal((3, 3)) + 3 * np.eye(3)
SPD = (lambda m: m @ m.T + 3 * np.eye(3))(RNG.standard_normal((3, 3)))
B = RNG.standard_normal((3, 2))
BATCH = RNG.standard_normal((2, 3, 3)) + 3 * np.eye(3)
TALL = RNG.standard_normal((5, 3))
WIDE = RNG.standard_normal((2, 3, 4))
SQ = RNG.standard_normal((4, 4))
SYM = SQ + SQ.T
B5 = RNG.standard_normal((5, 2))
LOW_RANK = RNG.standard_normal((5, 2)) @ RNG.standard_normal((2, 4))


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


def _flat(m, *ts):
    return m.cat([t.reshape(-1) for t in ts])


def _signfix(m, u, rows=False):
    """Each column (``rows``: row) of ``u`` with the sign that makes its first entry positive."""
    if rows:
        return u * m.sign(u[..., :, :1]).detach()
    return u * m.sign(u[..., :1, :]).detach()


def _qr(m, a, mode="reduced"):
    q, r = m.linalg.qr(a, mode=mode)
    return _flat(m, q, r)


def _svd_parts(m, a, full=False):
    u, s, vh = m.linalg.svd(a, full_matrices=full)
    k = s.shape[-1]
    return _flat(m, _signfix(m, u[..., :k]), s, _signfix(m, vh[..., :k, :], rows=True))


def _lu(m, a):
    p, lo, up = m.linalg.lu(a)
    return _flat(m, p, lo, up)


def _lu_solve(left, adjoint):
    def run(m, lu_, b):
        piv = m.tensor(PIV)
        bb = b if left else b.mT
        return m.linalg.lu_solve(lu_, piv, bb, left=left, adjoint=adjoint)

    return run


_sq_lu = torch.linalg.lu_factor(torch.tensor(SQ))
LU_SQ, PIV = _sq_lu.LU.numpy(), _sq_lu.pivots.numpy()
B4 = RNG.standard_normal((4, 3))
TAU = RNG.uniform(0.5, 1.5, (3,))
SPD_L = np.linalg.cholesky(SPD)


def _pair(fn):
    """``fn(module, *tensors)`` as the two callables ``both`` takes."""
    return (lambda *xs: fn(tg, *xs)), (lambda *xs: fn(torch, *xs))


NEW_CASES = {
    "qr_tall": (_qr, [TALL]),
    "qr_square_complete": (lambda m, a: _qr(m, a, "complete"), [BATCH]),
    "qr_wide": (_qr, [WIDE]),
    "qr_wide_complete": (lambda m, a: _qr(m, a, "complete"), [WIDE]),
    "torch_qr": (lambda m, a: _flat(m, *m.qr(a)), [TALL]),
    "svd_square": (_svd_parts, [A]),
    "svd_tall": (_svd_parts, [TALL]),
    "svd_wide_batched": (_svd_parts, [WIDE]),
    "svd_full_tall": (lambda m, a: _svd_parts(m, a, True), [TALL]),
    "svd_gauge_free": (lambda m, a: (lambda u, s, vh: u @ vh)(*m.linalg.svd(a, False)), [TALL]),
    "svdvals": (lambda m, a: m.linalg.svdvals(a), [WIDE]),
    "svdvals_repeated": (lambda m, a: m.linalg.svdvals(a * 0 + m.eye(3, dtype=a.dtype)), [A]),
    "svd_polar_repeated": (  # U used on a repeated singular value: nan in both
        lambda m, a: (lambda u, s, vh: u @ vh)(
            *m.linalg.svd(a * 0 + m.tensor(np.diag([2.0, 2.0, 1.0])))
        ),
        [A],
    ),
    "svd_s_repeated": (lambda m, a: m.linalg.svd(a * 0 + m.eye(3, dtype=a.dtype)).S, [A]),
    "torch_svd": (
        lambda m, a: (lambda u, s, v: _flat(m, _signfix(m, u), s, _signfix(m, v)))(*m.svd(a)),
        [TALL],
    ),
    "torch_svd_no_uv": (lambda m, a: _flat(m, *m.svd(a, compute_uv=False)), [TALL]),
    "pinv_tall": (lambda m, a: m.linalg.pinv(a), [TALL]),
    "pinv_wide": (lambda m, a: m.linalg.pinv(a), [WIDE]),
    "pinv_hermitian": (lambda m, a: m.linalg.pinv(a, hermitian=True), [SYM]),
    "pinv_hermitian_reads_lower": (lambda m, a: m.linalg.pinv(a, hermitian=True), [SQ]),
    "pinv_low_rank": (lambda m, a: m.linalg.pinv(a, rtol=1e-8), [LOW_RANK]),
    "pinv_atol_tensor": (
        lambda m, a: m.linalg.pinv(a, atol=m.tensor([0.5, 1e-3], dtype=a.dtype)),
        [WIDE],
    ),
    "pinverse": (lambda m, a: m.pinverse(a), [TALL]),
    "lstsq_tall": (lambda m, a, b: m.linalg.lstsq(a, b).solution, [TALL, B5]),
    "lstsq_vector": (lambda m, a, b: m.linalg.lstsq(a, b[:, 0]).solution, [TALL, B5]),
    "lstsq_square_batched": (lambda m, a, b: m.linalg.lstsq(a, b).solution, [BATCH, B[None]]),
    "matrix_norm_2": (lambda m, a: m.linalg.matrix_norm(a, 2), [WIDE]),
    "matrix_norm_-2_keepdim": (lambda m, a: m.linalg.matrix_norm(a, -2, keepdim=True), [WIDE]),
    "matrix_norm_nuc_dims": (lambda m, a: m.linalg.matrix_norm(a, "nuc", dim=(0, 2)), [WIDE]),
    "norm_2": (lambda m, a: m.linalg.norm(a, 2), [TALL]),
    "cond": (lambda m, a: m.linalg.cond(a), [TALL]),
    "cond_-2": (lambda m, a: m.linalg.cond(a, -2), [BATCH]),
    "cond_fro": (lambda m, a: m.linalg.cond(a, "fro"), [BATCH]),
    "cond_inf": (lambda m, a: m.linalg.cond(a, math.inf), [A]),
    "cond_nuc": (lambda m, a: m.linalg.cond(a, "nuc"), [A]),
    "lu_factor": (lambda m, a: m.linalg.lu_factor(a).LU, [SQ]),
    "lu_square_batched": (_lu, [BATCH]),
    "lu_wide": (_lu, [WIDE]),
    "lu_tall": (_lu, [TALL]),
    "lu_solve": (_lu_solve(True, False), [LU_SQ, B4]),
    "lu_solve_adjoint": (_lu_solve(True, True), [LU_SQ, B4]),
    "lu_solve_right": (_lu_solve(False, False), [LU_SQ, B4]),
    "lu_solve_right_adjoint": (_lu_solve(False, True), [LU_SQ, B4]),
    "torch_lu_solve": (lambda m, lu_, b: m.lu_solve(b, lu_, m.tensor(PIV)), [LU_SQ, B4]),
    "lu_unpack": (lambda m, lu_: _flat(m, *m.lu_unpack(lu_, m.tensor(PIV))), [LU_SQ]),
    "solve_ex": (lambda m, a, b: m.linalg.solve_ex(a, b).result, [A, B]),
    "vecdot": (lambda m, x, y: m.linalg.vecdot(x, y, dim=0), [TALL, B5[:, :1]]),
    "diagonal": (lambda m, a: m.linalg.diagonal(a, offset=1), [WIDE]),
    "vander": (lambda m, x: m.linalg.vander(x, N=4), [TALL]),
    "tensorinv": (lambda m, a: m.linalg.tensorinv(a.reshape(4, 2, 2), ind=1), [SQ + 4 * np.eye(4)]),
    "tensorsolve": (
        lambda m, a, b: m.linalg.tensorsolve(a.reshape(2, 2, 4), b.reshape(2, 2)),
        [SQ + 4 * np.eye(4), B4[:, 0]],
    ),
    "householder_product": (lambda m, a, t: m.linalg.householder_product(a, t), [TALL, TAU]),
    "orgqr": (lambda m, a, t: m.orgqr(a, t), [TALL[:, :2], TAU[:2]]),
    "cholesky_inverse_chain": (lambda m, a: m.cholesky_inverse(m.linalg.cholesky(a)), [SPD]),
    "cholesky_inverse_upper_chain": (
        lambda m, a: m.cholesky_inverse(m.linalg.cholesky(a, upper=True), upper=True),
        [SPD],
    ),
    "cholesky_solve_chain": (
        lambda m, a, b: m.cholesky_solve(b, m.linalg.cholesky(a)),
        [SPD, B],
    ),
    "cholesky_solve_upper_chain": (
        lambda m, a, b: m.cholesky_solve(b, m.linalg.cholesky(a).mT, upper=True),
        [SPD, B],
    ),
    "triangular_solve": (lambda m, b, a: m.triangular_solve(b, a.triu())[0], [B, A]),
    "triangular_solve_transpose_lower": (
        lambda m, b, a: _flat(m, *m.triangular_solve(b, a.tril(), False, True, True)),
        [B, A],
    ),
}
for _k, (_fn, _arrays) in NEW_CASES.items():
    CASES[_k] = (*_pair(_fn), _arrays)


# Values only: PyTorch's own backward fails for these conds (it modifies inv's output in place),
# and a hermitian pinv of a non-symmetric matrix reads one triangle, whose gradient PyTorch's
# formula does not project.
_VALUES_ONLY = {"cond_fro", "cond_inf", "cond_nuc", "pinv_hermitian_reads_lower"}


# The fast tier keeps the older cases and one or two of each new family; the rest are slow.
_FAST_NEW = {"qr_wide", "svd_tall", "pinv_wide", "lstsq_tall", "lu_square_batched"}


_FAST_OLD = set(sorted(set(CASES) - set(NEW_CASES))[:3])


@pytest.mark.parametrize(
    "name",
    [
        n if n in _FAST_NEW or n in _FAST_OLD else pytest.param(n, marks=tiers.slow)
        for n in sorted(CASES)
    ],
)
def test_matches_pytorch(name):
    fn_tg, fn_torch, arrays = CASES[name]
    both(fn_tg, fn_torch, *arrays, grad=name not in _VALUES_ONLY)


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


def test_triangular_read_only_values_match_pytorch():
    """``cholesky_inverse``/``cholesky_solve`` read one triangle: values agree with PyTorch on a
    matrix with junk in the other triangle; on a triangular factor the gradient agrees on the
    triangle that is read (PyTorch's formula also writes the other, which the value does not
    depend on; tracegrad leaves it zero)."""
    junk = np.triu(RNG.standard_normal((3, 3)), 1)
    for upper in (False, True):
        tri = np.triu if upper else np.tril
        x = SPD_L.T if upper else SPD_L
        got = tg.cholesky_inverse(tg.tensor(x + (junk.T if upper else junk)), upper)
        want = torch.cholesky_inverse(torch.tensor(x + (junk.T if upper else junk)), upper)
        np.testing.assert_allclose(got.numpy(), want.numpy(), rtol=1e-9)
        got = tg.cholesky_solve(tg.tensor(B), tg.tensor(x + (junk.T if upper else junk)), upper)
        want = torch.cholesky_solve(
            torch.tensor(B), torch.tensor(x + (junk.T if upper else junk)), upper
        )
        np.testing.assert_allclose(got.numpy(), want.numpy(), rtol=1e-9)
        xt, xx = tg.tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
        tg.cholesky_inverse(xt, upper).sum().backward()
        torch.cholesky_inverse(xx, upper).sum().backward()
        np.testing.assert_allclose(tri(xt.grad.numpy()), tri(xx.grad.numpy()), rtol=1e-7)
        np.testing.assert_array_equal(xt.grad.numpy() - tri(xt.grad.numpy()), 0)


@tiers.slow
def test_lu_factor_pivots_and_info_match_pytorch():
    for a in (SQ, TALL, WIDE, np.zeros((2, 2)), np.array([[1.0, 2.0], [2.0, 4.0]])):
        got = tg.linalg.lu_factor_ex(tg.tensor(a))
        want = torch.linalg.lu_factor_ex(torch.tensor(a))
        np.testing.assert_allclose(got.LU.numpy(), want.LU.numpy(), rtol=1e-9, atol=1e-12)
        assert got.pivots.dtype == tg.int32 and got.info.dtype == tg.int32
        np.testing.assert_array_equal(got.pivots.numpy(), want.pivots.numpy())
        np.testing.assert_array_equal(got.info.numpy(), want.info.numpy())
    lu_, piv = tg.lu(tg.tensor(SQ))
    np.testing.assert_array_equal(piv.numpy(), PIV)
    assert len(tg.lu(tg.tensor(SQ), get_infos=True)) == 3
    assert tg.tensor(SQ).lu()[0].shape == (4, 4)


@pytest.mark.parametrize("driver", tiers.slow_after([None, "gels", "gelsy", "gelsd", "gelss"], 3))
@pytest.mark.parametrize(
    "case", tiers.slow_after(["tall", "vector", "batched", "rank_deficient"], 2)
)
def test_lstsq_fields_match_pytorch(driver, case):
    a, b = {
        "tall": (TALL, B5),
        "vector": (TALL, B5[:, 0]),
        "batched": (np.stack([TALL, TALL * 2]), B5[None]),
        "rank_deficient": (LOW_RANK, B5),
    }[case]
    if case == "rank_deficient" and driver == "gels":
        return  # gels assumes full rank: PyTorch's answer is LAPACK's garbage
    got = tg.linalg.lstsq(tg.tensor(a), tg.tensor(b), driver=driver)
    want = torch.linalg.lstsq(torch.tensor(a), torch.tensor(b), driver=driver)
    assert type(got).__name__ == "linalg_lstsq"
    for field in ("solution", "residuals", "rank", "singular_values"):
        g, w = getattr(got, field), getattr(want, field)
        assert tuple(g.shape) == tuple(w.shape), field
        assert str(g.dtype).split(".")[-1] == str(w.dtype).split(".")[-1], field
        np.testing.assert_allclose(g.numpy(), w.numpy(), rtol=1e-8, atol=1e-10, err_msg=field)


@pytest.mark.parametrize(
    "kwargs",
    tiers.slow_after(
        [{}, {"hermitian": True}, {"atol": 1.0}, {"rtol": 0.5}, {"atol": 0.1, "rtol": 0.2}], 1
    ),
)
def test_matrix_rank_matches_pytorch(kwargs):
    for a in (LOW_RANK, SYM, np.stack([SQ, SYM]), np.zeros((3, 3)), SQ):
        if kwargs.get("hermitian") and a.shape[-1] != a.shape[-2]:
            continue
        got = tg.linalg.matrix_rank(tg.tensor(a), **kwargs)
        want = torch.linalg.matrix_rank(torch.tensor(a), **kwargs)
        assert got.dtype == tg.int64
        np.testing.assert_array_equal(got.numpy(), want.numpy())
    got = tg.linalg.matrix_rank(tg.tensor(SYM), 2.0)
    np.testing.assert_array_equal(got.numpy(), torch.linalg.matrix_rank(torch.tensor(SYM), 2.0))


def test_values_of_factors_match_pytorch():
    """LAPACK's sign conventions: Q, R, U, Vh equal PyTorch's entry by entry."""
    for a in (TALL, WIDE, A):
        for mode in ("reduced", "complete", "r"):
            got, want = tg.linalg.qr(tg.tensor(a), mode), torch.linalg.qr(torch.tensor(a), mode)
            for g, w in zip(got, want):
                assert tuple(g.shape) == tuple(w.shape)
                np.testing.assert_allclose(g.numpy(), w.numpy(), rtol=1e-9, atol=1e-12)
        for full in (True, False):
            got = tg.linalg.svd(tg.tensor(a), full_matrices=full)
            want = torch.linalg.svd(torch.tensor(a), full_matrices=full)
            assert [tuple(g.shape) for g in got] == [tuple(w.shape) for w in want]
            np.testing.assert_allclose(got.S.numpy(), want.S.numpy(), rtol=1e-9)


def test_result_types_of_factorizations():
    a = tg.tensor(TALL)
    assert tg.linalg.qr(a).R is tg.linalg.qr(a)[1] or tg.linalg.qr(a).R.shape == (3, 3)
    assert type(tg.linalg.qr(a)).__name__ == "linalg_qr" and type(tg.qr(a)).__name__ == "qr"
    assert type(tg.linalg.svd(a)).__name__ == "linalg_svd" and tg.svd(a).V.shape == (3, 3)
    assert tg.linalg.lu(a).P.shape == (5, 5) and tg.linalg.lu_factor(a).pivots.shape == (3,)
    assert tg.linalg.solve_ex(tg.tensor(A), tg.tensor(B)).info.dtype == tg.int32
    assert tg.triangular_solve(tg.tensor(B), tg.tensor(A)).cloned_coefficient.shape == (3, 3)
    assert a.pinverse().shape == (3, 5) and a.qr().Q.shape == (5, 3) and a.svd().S.shape == (3,)
    lu_ = tg.linalg.lu_factor(tg.tensor(SQ))
    b = tg.tensor(B4)
    np.testing.assert_allclose(b.lu_solve(*lu_).numpy(), np.linalg.solve(SQ, B4), rtol=1e-9)
    np.testing.assert_allclose(
        b.cholesky_solve(tg.tensor(SPD_L)).numpy()[:3]
        if False
        else tg.tensor(B).cholesky_solve(tg.tensor(SPD_L)).numpy(),
        np.linalg.solve(SPD, B),
        rtol=1e-9,
    )
    np.testing.assert_allclose(
        tg.tensor(SPD_L).cholesky_inverse().numpy(), np.linalg.inv(SPD), rtol=1e-9
    )
    x = tg.tensor(B).triangular_solve(tg.tensor(np.triu(A))).solution
    np.testing.assert_allclose(x.numpy(), np.linalg.solve(np.triu(A), B), rtol=1e-9)


def test_backward_errors_match_pytorch():
    for m in (tg, torch):
        a = m.tensor(TALL, requires_grad=True)
        with pytest.raises(RuntimeError, match="not computed when mode='r'"):
            m.linalg.qr(a, mode="r").R.sum().backward()
        with pytest.raises(RuntimeError, match="mode='complete' and nrows > ncols"):
            m.linalg.qr(a, mode="complete").Q.sum().backward()


def test_factorization_errors_match_pytorch():
    cases = [
        (lambda m: m.linalg.qr(m.ones(3, 3), mode="x"), "unrecognized mode"),
        (lambda m: m.linalg.lu_factor(m.ones(3, 3), pivot=False), "without pivoting"),
        (lambda m: m.linalg.lu_factor(m.zeros(2, 2)), r"U\[1,1\] is zero"),
        (lambda m: m.linalg.lstsq(m.ones(3, 2), m.ones(3, 1), driver="x"), "driver"),
        (lambda m: m.linalg.vander(m.ones(3), N=1), "N must be greater than 1"),
        (lambda m: m.linalg.tensorinv(m.ones(2, 3), ind=1), "prod"),
        (lambda m: m.linalg.solve_ex(m.zeros(2, 2), m.ones(2), check_errors=True), "singular"),
        (lambda m: m.linalg.svd(m.ones(3)), "at least 2 dimensions"),
        (lambda m: m.linalg.svdvals(m.eye(2), driver="gesvd"), "only supported on CUDA"),
    ]
    for fn, match in cases:
        for m in (tg, torch):
            with pytest.raises(RuntimeError, match=match):
                fn(m)


def test_refusals_name_the_alternative():
    a = tg.tensor(SYM)
    with pytest.raises(NotImplementedError, match="cholesky"):
        tg.linalg.ldl_factor(a)
    with pytest.raises(NotImplementedError, match="lu_factor"):
        tg.linalg.ldl_factor_ex(a)
    with pytest.raises(NotImplementedError, match="cholesky"):
        tg.linalg.ldl_solve(a, tg.zeros(4, dtype=tg.int32), a)


@tiers.slow
def test_second_order_through_compositions():
    """Gradients of gradients of the composed functions, against PyTorch's."""
    for fn in (
        lambda m, a: m.linalg.svdvals(a).sum(),
        lambda m, a: m.linalg.pinv(a).pow(2).sum(),
        lambda m, a: m.linalg.householder_product(a, m.ones(3, dtype=a.dtype) * 0.7).sum(),
    ):
        xs = tg.tensor(TALL, requires_grad=True)
        ts = torch.tensor(TALL, requires_grad=True)
        (g1,) = tg.autograd.grad(fn(tg, xs), [xs], create_graph=True)
        (h1,) = torch.autograd.grad(fn(torch, ts), [ts], create_graph=True)
        (g2,) = tg.autograd.grad((g1 * g1).sum(), [xs])
        (h2,) = torch.autograd.grad((h1 * h1).sum(), [ts])
        np.testing.assert_allclose(g2.numpy(), h2.numpy(), rtol=1e-6, atol=1e-9)


_TORCH_WARNINGS = """
import json, sys, warnings
import numpy as np, torch
a = torch.tensor(np.eye(3) + 1)
lu, piv = torch.linalg.lu_factor(a)
calls = {
    "qr": lambda: torch.qr(a),
    "lu": lambda: torch.lu(a),
    "lu_solve": lambda: torch.lu_solve(a, lu, piv),
    "triangular_solve": lambda: torch.triangular_solve(a, a),
}
out = {}
for name, call in calls.items():
    with warnings.catch_warnings(record=True) as w:
        warnings.simplefilter("always")
        call()
    out[name] = [str(x.message).split(" (Triggered internally")[0] for x in w]
json.dump(out, sys.stdout)
"""


@tiers.slow
def test_deprecated_forms_warn_as_pytorch(monkeypatch):
    """PyTorch warns once per process, so its messages come from a fresh interpreter."""
    import json
    import subprocess
    import sys
    import warnings

    from tracegrad.ops import decomp2

    want = json.loads(
        subprocess.run(
            [sys.executable, "-c", _TORCH_WARNINGS], capture_output=True, text=True, check=True
        ).stdout
    )
    monkeypatch.setattr(decomp2, "_warned", set())
    a = tg.tensor(np.eye(3) + 1)
    lu_, piv = tg.linalg.lu_factor(a)
    calls = {
        "qr": lambda: tg.qr(a),
        "lu": lambda: tg.lu(a),
        "lu_solve": lambda: tg.lu_solve(a, lu_, piv),
        "triangular_solve": lambda: tg.triangular_solve(a, a),
    }
    for name, call in calls.items():
        for expected in (want[name], []):  # the second call is silent
            with warnings.catch_warnings(record=True) as w:
                warnings.simplefilter("always")
                call()
            assert [str(x.message) for x in w] == expected, name


def test_every_linalg_function_pytorch_gives_out_takes_it():
    import inspect
    import re

    for name in tg.linalg.__all__:
        doc = getattr(torch.linalg, name).__doc__ or ""
        documented = any(
            re.match(rf"\s*(linalg\.)?{name}\(.*\bout\b.*\)", line) for line in doc.split("\n")
        )
        has = "out" in inspect.signature(getattr(tg.linalg, name)).parameters
        assert documented == has, name


@pytest.mark.parametrize(
    "call",
    [
        lambda m, o: m.linalg.svdvals(m.tensor(TALL), out=o(m.float64)),
        lambda m, o: m.linalg.matrix_rank(m.tensor(LOW_RANK), out=o(m.int64)),
        lambda m, o: m.linalg.pinv(m.tensor(WIDE), out=o(m.float64)),
        lambda m, o: m.linalg.svd(
            m.tensor(TALL), False, out=(o(m.float64), o(m.float64), o(m.float64))
        ),
        lambda m, o: m.linalg.lu_factor(m.tensor(SQ), out=(o(m.float64), o(m.int32))),
    ],
)
def test_linalg_out_matches_pytorch(call):
    # Absolute values: the SVD's vectors may differ in sign.
    got = call(tg, lambda d: tg.zeros(0, dtype=d))
    want = call(torch, lambda d: torch.zeros(0, dtype=d))
    got = got if isinstance(got, tuple) else (got,)
    want = want if isinstance(want, tuple) else (want,)
    for g, w in zip(got, want):
        np.testing.assert_allclose(np.abs(g.numpy()), np.abs(w.numpy()), rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize("uplo", ["L", "U"])
def test_eigh_reads_one_triangle_of_a_nonsymmetric_input_like_pytorch(uplo):
    """LAPACK (and so PyTorch) reads only the ``UPLO`` triangle; the gradient is PyTorch's
    symmetric formula. Both used to differ on a non-symmetric input (the symmetric part was read)."""
    a = np.random.default_rng(7).standard_normal((2, 4, 4))
    both(
        lambda x: tg.linalg.eigvalsh(x, UPLO=uplo),
        lambda x: torch.linalg.eigvalsh(x, UPLO=uplo),
        a,
    )
