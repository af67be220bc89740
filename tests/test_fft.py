"""tracegrad.fft against PyTorch (values, dtypes, gradients value by value, errors) and numpy."""

from __future__ import annotations

import numpy as np
import pytest

import tracegrad as tg

from .tiers import slow_after

torch = pytest.importorskip("torch")

RNG = np.random.default_rng(0)
REAL = RNG.standard_normal((4, 6))
CPLX = RNG.standard_normal((4, 6)) + 1j * RNG.standard_normal((4, 6))

CASES = [
    ("fft", REAL, {}),
    ("fft", CPLX, {"n": 8, "norm": "ortho"}),
    ("ifft", CPLX, {"dim": 0, "n": 3}),
    ("fft2", CPLX, {"norm": "forward"}),
    ("ifft2", CPLX, {"s": (5, 4)}),
    ("fftn", CPLX, {"s": (3,)}),
    ("ifftn", REAL, {"dim": (0,), "norm": "ortho"}),
    ("rfft", REAL, {}),
    ("rfft", REAL, {"n": 5, "norm": "forward", "dim": 0}),
    ("irfft", CPLX, {}),
    ("irfft", CPLX, {"n": 7, "norm": "ortho"}),
    ("irfft", CPLX, {"n": 12, "dim": 0}),
    ("rfft2", REAL, {}),
    ("irfft2", CPLX, {"s": (3, 5)}),
    ("rfftn", REAL, {"norm": "ortho"}),
    ("irfftn", CPLX, {"norm": "forward"}),
    ("hfft", CPLX, {}),
    ("hfft", CPLX, {"n": 5, "norm": "ortho"}),
    ("ihfft", REAL, {}),
    ("hfft2", CPLX, {}),
    ("ihfft2", REAL, {"norm": "forward"}),
    ("hfftn", CPLX, {"s": (3, 6)}),
    ("ihfftn", REAL, {}),
    ("fftshift", CPLX, {}),
    ("ifftshift", REAL, {"dim": 1}),
]


def _np(t):
    return t.detach().resolve_conj().numpy()


def _cot(shape, dtype):
    c = RNG.standard_normal(shape)
    if dtype.is_complex:
        c = c + 1j * RNG.standard_normal(shape)
    return c


@pytest.mark.parametrize(
    "name,x,kw", slow_after([pytest.param(*c, id=f"{c[0]}-{i}") for i, c in enumerate(CASES)], 8)
)
def test_values_and_gradients_match_pytorch(name, x, kw):
    a = tg.tensor(x, requires_grad=True)
    b = torch.tensor(x, requires_grad=True)
    got = getattr(tg.fft, name)(a, **kw)
    want = getattr(torch.fft, name)(b, **kw)
    assert got.shape == tuple(want.shape)
    assert str(got.dtype).split(".")[-1] == str(want.dtype).split(".")[-1]
    np.testing.assert_allclose(np.asarray(got.detach()), _np(want), rtol=1e-10, atol=1e-10)
    cot = _cot(tuple(want.shape), want.dtype)
    got.backward(tg.tensor(cot))
    want.backward(torch.tensor(cot))
    np.testing.assert_allclose(np.asarray(a.grad), _np(b.grad), rtol=1e-10, atol=1e-10)


def test_float32_input_gives_complex64_and_ints_the_default_complex():
    assert tg.fft.fft(tg.ones(4)).dtype == tg.complex64
    assert tg.fft.fft(tg.arange(4)).dtype == tg.complex64
    assert tg.fft.rfft(tg.arange(4)).dtype == tg.complex64
    assert tg.fft.irfft(tg.ones(3, dtype=tg.complex128)).dtype == tg.float64


def test_second_order_through_rfft_and_irfft_matches_pytorch():
    x = RNG.standard_normal(6)

    def run(T, t):
        y = T.fft.irfft(T.fft.rfft(t) * T.fft.rfft(t), n=6)
        (g,) = T.autograd.grad((y * y).sum(), t, create_graph=True)
        (h,) = T.autograd.grad((g * g).sum(), t)
        return g, h

    g1, h1 = run(tg, tg.tensor(x, requires_grad=True))
    g2, h2 = run(torch, torch.tensor(x, requires_grad=True))
    np.testing.assert_allclose(np.asarray(g1.detach()), g2.detach().numpy(), rtol=1e-9)
    np.testing.assert_allclose(np.asarray(h1), h2.numpy(), rtol=1e-9)


def test_fftfreq_and_rfftfreq_match_numpy():
    for n in (1, 4, 5):
        np.testing.assert_allclose(np.asarray(tg.fft.fftfreq(n, 0.5)), np.fft.fftfreq(n, 0.5))
        np.testing.assert_allclose(np.asarray(tg.fft.rfftfreq(n)), np.fft.rfftfreq(n))
    assert tg.fft.fftfreq(4).dtype == tg.float32
    assert tg.fft.fftfreq(4, dtype=tg.float64).dtype == tg.float64


@pytest.mark.parametrize(
    "call",
    [
        lambda T: T.fft.fft(T.ones(4), norm="bogus"),
        lambda T: T.fft.fft(T.ones(4), n=0),
        lambda T: T.fft.rfft(T.ones(4, dtype=T.complex64)),
        lambda T: T.fft.fftn(T.ones(2, 2), dim=(0, 0)),
    ],
)
def test_errors_match_pytorch(call):
    with pytest.raises(Exception) as want:
        call(torch)
    with pytest.raises(type(want.value)):
        call(tg)


def test_out_is_refused():
    with pytest.raises(NotImplementedError):
        tg.fft.fft(tg.ones(4), out=tg.ones(4, dtype=tg.complex64))
