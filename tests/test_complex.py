"""Complex dtypes and functions against PyTorch: dtypes, promotion, printing, values, errors and
gradients value by value (PyTorch's conjugate convention)."""

from __future__ import annotations

import numpy as np
import pytest

import tracegrad as tg

from .tiers import slow_after

torch = pytest.importorskip("torch")

RNG = np.random.default_rng(0)
Z = RNG.standard_normal((3, 4)) + 1j * RNG.standard_normal((3, 4))
A = RNG.standard_normal((3, 4))
B = RNG.standard_normal((3, 4))


def _np(t):
    return t.detach().resolve_conj().numpy() if hasattr(t, "resolve_conj") else np.asarray(t)


def _name(d) -> str:
    return str(d).split(".")[-1]


def test_dtypes_aliases_and_predicates():
    assert tg.cfloat is tg.complex64 and tg.cdouble is tg.complex128
    assert tg.complex64.is_complex and not tg.complex64.is_floating_point
    assert tg.tensor([1 + 2j]).dtype == tg.complex64
    assert tg.tensor(np.array([1j])).dtype == tg.complex128
    assert tg.is_complex(tg.tensor([1j])) and not tg.is_complex(tg.ones(2))
    assert tg.finfo(tg.complex64).dtype == "float32"
    with pytest.raises(NotImplementedError):
        tg.chalf  # noqa: B018
    tg.set_default_dtype(tg.float64)
    try:
        assert tg.tensor([1j]).dtype == tg.complex128
    finally:
        tg.set_default_dtype(tg.float32)


@pytest.mark.parametrize(
    "a,b",
    [
        ("complex64", "float64"),
        ("complex64", "complex128"),
        ("complex128", "float32"),
        ("complex64", "int64"),
        ("float32", "complex64"),
    ],
)
def test_promote_types_matches_pytorch(a, b):
    want = torch.promote_types(getattr(torch, a), getattr(torch, b))
    assert _name(tg.promote_types(getattr(tg, a), getattr(tg, b))) == _name(want)


@pytest.mark.parametrize(
    "make",
    [
        lambda T: T.ones(2, dtype=T.float64) * 1j,
        lambda T: T.ones(2) * 1j,
        lambda T: T.ones(2, dtype=T.int64) * 1j,
        lambda T: T.ones(2, dtype=T.float64) * T.tensor(1j, dtype=T.complex64),
        lambda T: T.ones(2, dtype=T.complex64) + T.tensor(1.0, dtype=T.float64),
    ],
)
def test_result_dtypes_match_pytorch(make):
    assert _name(make(tg).dtype) == _name(make(torch).dtype)


@pytest.mark.parametrize(
    "data,dtype",
    [([1 + 2j, 3], None), ([[1.5 - 2j, 3], [0.001j, -1]], "complex128"), (1 - 1j, None)],
)
def test_printing_matches_pytorch(data, dtype):
    got = repr(tg.tensor(data, dtype=None if dtype is None else getattr(tg, dtype)))
    want = repr(torch.tensor(data, dtype=None if dtype is None else getattr(torch, dtype)))
    # The longer "tracegrad." prefix may move the dtype suffix to its own line.
    assert got.split() == want.replace("torch.", "tracegrad.").split()


def test_conversions_match_pytorch():
    assert complex(tg.tensor([1j])) == complex(torch.tensor([1j]))
    assert complex(tg.tensor(1.5)) == 1.5 + 0j
    assert tg.ones(2, dtype=tg.float64).cfloat().dtype == tg.complex64
    assert tg.ones(2, dtype=tg.int64).cdouble().dtype == tg.complex128
    assert tg.tensor(1 + 2j).float().item() == 1.0
    with pytest.raises(TypeError):
        tg.tensor([1j], dtype=tg.float32)


FUNCS = [
    ("real", lambda T, z, a, b: T.real(z)),
    ("imag", lambda T, z, a, b: z.imag),
    ("angle", lambda T, z, a, b: T.angle(z)),
    ("abs", lambda T, z, a, b: z.abs()),
    ("conj", lambda T, z, a, b: (z.conj() * z).conj()),
    ("conj_physical", lambda T, z, a, b: T.conj_physical(z)),
    ("complex", lambda T, z, a, b: T.complex(a, b) * z),
    ("polar", lambda T, z, a, b: T.polar(a.abs() + 0.5, b) * z),
    ("view_as_real", lambda T, z, a, b: T.view_as_real(z * z)),
    ("view_as_complex", lambda T, z, a, b: T.view_as_complex(T.stack([a, b], -1)) * z),
    ("H", lambda T, z, a, b: z.H),
    ("mH", lambda T, z, a, b: (z * a).mH),
    ("adjoint", lambda T, z, a, b: T.adjoint(z - b)),
    ("linear_ops", lambda T, z, a, b: T.cat([z.sum(0, keepdim=True), z.flip(1)]).mean(1)),
    ("cast", lambda T, z, a, b: a.to(T.complex128) * z.to(T.complex64).to(T.complex128)),
]


@pytest.mark.parametrize("name,fn", slow_after(FUNCS, 8, multi=True))
def test_values_and_gradients_match_pytorch(name, fn):
    ours = [tg.tensor(v, requires_grad=True) for v in (Z, A, B)]
    theirs = [torch.tensor(v, requires_grad=True) for v in (Z, A, B)]
    got, want = fn(tg, *ours), fn(torch, *theirs)
    assert _name(got.dtype) == _name(want.dtype)
    np.testing.assert_allclose(np.asarray(got.detach()), _np(want), rtol=1e-12, atol=1e-12)
    cot = RNG.standard_normal(tuple(want.shape))
    if want.is_complex():
        cot = cot + 1j * RNG.standard_normal(tuple(want.shape))
    got.backward(tg.tensor(cot))
    want.backward(torch.tensor(cot))
    for o, t in zip(ours, theirs):
        if t.grad is None:
            assert o.grad is None or not np.asarray(o.grad).any()
            continue
        np.testing.assert_allclose(np.asarray(o.grad), _np(t.grad), rtol=1e-10, atol=1e-12)


def test_second_order_through_complex_ops_matches_pytorch():
    def run(T, a, b):
        z = T.complex(a, b)
        loss = T.view_as_real(z * z.conj() * z).pow(2).sum()
        (g,) = T.autograd.grad(loss, a, create_graph=True)
        return g, T.autograd.grad(g.sum(), b)[0]

    g1, h1 = run(tg, tg.tensor(A, requires_grad=True), tg.tensor(B, requires_grad=True))
    g2, h2 = run(torch, torch.tensor(A, requires_grad=True), torch.tensor(B, requires_grad=True))
    np.testing.assert_allclose(np.asarray(g1.detach()), g2.detach().numpy(), rtol=1e-10)
    np.testing.assert_allclose(np.asarray(h1), h2.numpy(), rtol=1e-10)


def test_predicates_and_resolve():
    z = tg.tensor([1 + 0j, 2j])
    assert tg.isreal(z).tolist() == torch.isreal(torch.tensor([1 + 0j, 2j])).tolist()
    assert tg.isreal(tg.ones(2)).tolist() == [True, True]
    assert not z.conj().is_conj() and not tg.is_neg(z)  # conjugation is materialised
    assert z.resolve_conj() is z and tg.resolve_neg(z) is z
    x = tg.ones(2)
    assert x.conj() is x and x.real is x


@pytest.mark.parametrize(
    "call",
    [
        lambda T: T.ones(3).imag,
        lambda T: T.ones(3).H,
        lambda T: T.ones(2, 3, 4).H,
        lambda T: T.ones(3).mH,
        lambda T: T.view_as_real(T.ones(3)),
        lambda T: T.view_as_complex(T.ones(3)),
        lambda T: T.view_as_complex(T.ones(2, 2, dtype=T.int64)),
        lambda T: T.complex(T.ones(2), T.ones(2, dtype=T.float64)),
        lambda T: T.complex(T.ones(2, dtype=T.int64), T.ones(2, dtype=T.int64)),
    ],
)
def test_errors_match_pytorch(call):
    with pytest.raises(Exception) as want:
        call(torch)
    with pytest.raises(type(want.value), match=str(want.value)[:30].replace("(", r"\(")):
        call(tg)


def test_ops_without_complex_rules_refuse_instead_of_answering_wrongly():
    z = tg.tensor([1 + 2j], requires_grad=True)
    with pytest.raises(NotImplementedError, match="complex"):
        z.exp()
