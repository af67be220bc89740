"""Window functions, stft and istft against PyTorch: values value by value in float32 and
float64, dtypes, gradients (in the signal and the window, real and complex), errors and
warnings; float64 finite differences and a second-order check for the composed gradients."""

from __future__ import annotations

import warnings
from contextlib import nullcontext

import numpy as np
import pytest

import tracegrad as tg

from .tiers import slow, slow_after

torch = pytest.importorskip("torch")

RNG = np.random.default_rng(7)
WINDOWS = ["hann_window", "hamming_window", "blackman_window", "bartlett_window", "kaiser_window"]


def _tol(dtype: str) -> dict:
    return {"rtol": 2e-5, "atol": 2e-5} if dtype == "float32" else {"rtol": 1e-10, "atol": 1e-10}


def _np(t):
    return t.detach().resolve_conj().numpy()


def _pair(x, dtype: str, requires_grad: bool = False):
    """The same values as a tracegrad and a PyTorch tensor of ``dtype`` (its complex
    counterpart for complex ``x``)."""
    if np.iscomplexobj(x):
        dtype = {"float32": "complex64", "float64": "complex128"}[dtype]
    a = tg.tensor(x, dtype=getattr(tg, dtype), requires_grad=requires_grad)
    b = torch.tensor(x, dtype=getattr(torch, dtype), requires_grad=requires_grad)
    return a, b


# ---------------------------------------------------------------------------------- windows
@pytest.mark.parametrize(
    "name,dtype",
    slow_after([(n, d) for d in ("float32", "float64") for n in WINDOWS], 5, multi=True),
)
def test_window_values_match_pytorch(name, dtype):
    for length in (0, 1, 2, 5, 8, 33):
        for periodic in (True, False):
            ours = getattr(tg, name)(length, periodic, dtype=getattr(tg, dtype))
            theirs = getattr(torch, name)(length, periodic, dtype=getattr(torch, dtype))
            assert ours.dtype == getattr(tg, dtype)
            assert ours.shape == tuple(theirs.shape)
            np.testing.assert_allclose(ours.numpy(), theirs.numpy(), **_tol(dtype))


def test_window_parameters_and_defaults():
    np.testing.assert_allclose(
        tg.hamming_window(7, False, 0.6, 0.3).numpy(),
        torch.hamming_window(7, False, 0.6, 0.3).numpy(),
        rtol=1e-6,
    )
    np.testing.assert_allclose(
        tg.kaiser_window(9, True, 5.0).numpy(), torch.kaiser_window(9, True, 5.0).numpy(), rtol=1e-6
    )
    # Exact values: numpy's symmetric windows are PyTorch's periodic=False.
    np.testing.assert_allclose(tg.hann_window(6, False, dtype=tg.float64).numpy(), np.hanning(6))
    np.testing.assert_allclose(
        tg.blackman_window(6, False, dtype=tg.float64).numpy(), np.blackman(6), atol=1e-15
    )
    np.testing.assert_allclose(
        tg.kaiser_window(6, False, 3.0, dtype=tg.float64).numpy(), np.kaiser(6, 3.0)
    )
    w = tg.hann_window(4, requires_grad=True)
    assert w.dtype == tg.float32 and w.requires_grad and w.is_leaf
    tg.set_default_dtype(tg.float64)
    try:
        assert tg.bartlett_window(4).dtype == tg.float64
    finally:
        tg.set_default_dtype(tg.float32)


@pytest.mark.parametrize("name", WINDOWS[:2])
def test_window_errors_match_pytorch(name):
    for args, kwargs in (((5,), {"dtype": "int64"}), ((-1,), {})):
        kwargs_t = {k: getattr(torch, v) for k, v in kwargs.items()}
        kwargs_g = {k: getattr(tg, v) for k, v in kwargs.items()}
        with pytest.raises(RuntimeError) as theirs:
            getattr(torch, name)(*args, **kwargs_t)
        with pytest.raises(RuntimeError) as ours:
            getattr(tg, name)(*args, **kwargs_g)
        # The same opening words (PyTorch prints its TensorOptions after them).
        assert str(ours.value).split(",")[0][:40] == str(theirs.value).split(",")[0][:40]
    with pytest.raises(NotImplementedError):
        getattr(tg, name)(5, dtype=tg.complex64)
    with pytest.raises(NotImplementedError):
        getattr(torch, name)(5, dtype=torch.complex64)


# ------------------------------------------------------------------------------------- stft
STFT_CASES = [
    ((40,), {"n_fft": 8}),
    ((2, 37), {"n_fft": 8, "hop_length": 3, "win_length": 5}),
    ((33,), {"n_fft": 9, "center": False, "normalized": True}),
    ((2, 30), {"n_fft": 8, "onesided": False, "pad_mode": "constant"}),
    ((30,), {"n_fft": 6, "hop_length": 4, "pad_mode": "replicate", "normalized": True}),
    ((2, 29), {"n_fft": 8, "win_length": 4, "hop_length": 3, "center": False,
               "align_to_window": True}),
    ((25,), {"n_fft": 7, "pad_mode": "circular", "hop_length": 2}),
]  # fmt: skip


def _stft_inputs(shape, kw, complex_input: bool):
    x = RNG.standard_normal(shape)
    if complex_input:
        x = x + 1j * RNG.standard_normal(shape)
    w = RNG.uniform(0.5, 1.5, kw.get("win_length", kw["n_fft"]))
    return x, w


@pytest.mark.parametrize("dtype", slow_after(["float32", "float64"]))
@pytest.mark.parametrize("complex_input", slow_after([False, True]))
@pytest.mark.parametrize(
    "shape,kw", slow_after([pytest.param(*c, id=str(i)) for i, c in enumerate(STFT_CASES)], 2)
)
def test_stft_values_and_gradients_match_pytorch(shape, kw, complex_input, dtype):
    if complex_input and kw.get("onesided"):
        pytest.skip("one-sided output needs real input")
    x, w = _stft_inputs(shape, kw, complex_input)
    xa, xb = _pair(x, dtype, requires_grad=True)
    wa, wb = _pair(w, dtype, requires_grad=True)
    ours = tg.stft(xa, window=wa, return_complex=True, **kw)
    theirs = torch.stft(xb, window=wb, return_complex=True, **kw)
    assert ours.shape == tuple(theirs.shape)
    assert str(ours.dtype).split(".")[-1] == str(theirs.dtype).split(".")[-1]
    np.testing.assert_allclose(_np(ours), _np(theirs), **_tol(dtype))
    g = RNG.standard_normal(tuple(theirs.shape)) + 1j * RNG.standard_normal(tuple(theirs.shape))
    ga, gb = _pair(g, dtype)
    ours.backward(ga)
    theirs.backward(gb)
    np.testing.assert_allclose(_np(xa.grad), _np(xb.grad), **_tol(dtype))
    np.testing.assert_allclose(_np(wa.grad), _np(wb.grad), **_tol(dtype))


def test_stft_defaults_method_and_dtype_promotion():
    x = RNG.standard_normal(50)
    w = RNG.uniform(0.5, 1.5, 16)
    xa, xb = _pair(x, "float32")
    wa, wb = _pair(w, "float64")
    # A float64 window makes the float32 signal's transform complex128, as in PyTorch.
    ours = xa.stft(16, window=wa, return_complex=True)
    theirs = xb.stft(16, window=wb, return_complex=True)
    assert ours.dtype == tg.complex128 and theirs.dtype == torch.complex128
    np.testing.assert_allclose(_np(ours), _np(theirs), rtol=1e-6, atol=1e-6)
    # No window: ones, with PyTorch's warning.
    with pytest.warns(UserWarning, match="window was not provided"):
        ours = tg.stft(xa, 16, return_complex=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        theirs = torch.stft(xb, 16, return_complex=True)
    np.testing.assert_allclose(_np(ours), _np(theirs), rtol=1e-5, atol=1e-5)


def test_stft_return_complex_false_is_view_as_real_with_a_warning():
    x = RNG.standard_normal(30)
    xa, xb = _pair(x, "float64")
    wa, wb = _pair(np.hanning(8), "float64")
    with pytest.warns(UserWarning, match="return_complex=False is deprecated"):
        ours = tg.stft(xa, 8, window=wa, return_complex=False)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        theirs = torch.stft(xb, 8, window=wb, return_complex=False)
    assert ours.dtype == tg.float64 and ours.shape == tuple(theirs.shape)
    np.testing.assert_allclose(_np(ours), _np(theirs), rtol=1e-12, atol=1e-12)


STFT_ERRORS = [
    ((20,), {"n_fft": 8}),  # return_complex missing for a real input
    ((20,), {"n_fft": 8, "window": 7, "return_complex": True}),
    ((20,), {"n_fft": 8, "win_length": 9, "return_complex": True}),
    ((20,), {"n_fft": 21, "center": False, "return_complex": True}),
    ((20,), {"n_fft": 8, "hop_length": 0, "return_complex": True}),
    ((2, 2, 5), {"n_fft": 4, "return_complex": True}),
    ((20,), {"n_fft": 8, "align_to_window": True, "return_complex": True}),
    ("complex", {"n_fft": 8, "onesided": True, "return_complex": True}),
]


@pytest.mark.parametrize("shape,kw", STFT_ERRORS)
def test_stft_errors_match_pytorch(shape, kw):
    x = RNG.standard_normal(20) + 1j * RNG.standard_normal(20) if shape == "complex" else None
    x = RNG.standard_normal(shape) if x is None else x
    xa, xb = _pair(x, "float32")
    kw_a, kw_b = dict(kw), dict(kw)
    if "window" in kw:
        kw_a["window"], kw_b["window"] = tg.ones(kw["window"]), torch.ones(kw["window"])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with pytest.raises(RuntimeError) as theirs:
            torch.stft(xb, **kw_b)
        with pytest.raises(RuntimeError) as ours:
            tg.stft(xa, **kw_a)
    # PyTorch's message, after the argument summary (which names its own tensor types).
    assert str(ours.value).rpartition(") : ")[2] == str(theirs.value).rpartition(") : ")[2]


def test_stft_of_integers_raises():
    with pytest.raises(RuntimeError, match="expected a tensor of floating point or complex"):
        tg.stft(tg.arange(20), 8, return_complex=True)


# ------------------------------------------------------------------------------------ istft
ISTFT_CASES = [
    ({"n_fft": 8, "hop_length": 2}, {}),
    ({"n_fft": 8, "hop_length": 2}, {"length": 50}),  # zero-padded past the last frame
    ({"n_fft": 8, "hop_length": 3, "win_length": 6}, {"length": 42}),
    ({"n_fft": 9, "hop_length": 2, "normalized": True}, {"length": 20}),
    ({"n_fft": 8, "hop_length": 2, "center": False}, {}),
    ({"n_fft": 8, "hop_length": 2, "onesided": False}, {}),
    ({"n_fft": 8, "hop_length": 2, "onesided": False}, {"return_complex": True}),
]


@pytest.mark.parametrize("dtype", slow_after(["float64", "float32"]))
@pytest.mark.parametrize(
    "kw,extra", slow_after([pytest.param(*c, id=str(i)) for i, c in enumerate(ISTFT_CASES)], 1)
)
def test_istft_values_and_gradients_match_pytorch(kw, extra, dtype):
    complex_signal = extra.get("return_complex", False)
    shape = (2, 40)
    x, w = _stft_inputs(shape, kw, complex_signal)
    xb, _ = _pair(x, dtype)[1], None
    wb = _pair(w, dtype)[1]
    spec = torch.stft(xb, window=wb, return_complex=True, **kw).detach().numpy()
    sa, sb = _pair(spec, dtype, requires_grad=True)
    wa, wb = _pair(w, dtype, requires_grad=True)
    padded = extra.get("length") == 50  # past the last frame
    with pytest.warns(UserWarning, match="padded with zeros") if padded else nullcontext():
        ours = tg.istft(sa, window=wa, **kw, **extra)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        theirs = torch.istft(sb, window=wb, **kw, **extra)
    assert ours.shape == tuple(theirs.shape)
    assert str(ours.dtype).split(".")[-1] == str(theirs.dtype).split(".")[-1]
    np.testing.assert_allclose(_np(ours), _np(theirs), **_tol(dtype))
    if not extra.get("length"):  # the round trip recovers the signal
        np.testing.assert_allclose(_np(ours), x, **_tol(dtype))
    g = RNG.standard_normal(tuple(theirs.shape))
    if complex_signal:
        g = g + 1j * RNG.standard_normal(tuple(theirs.shape))
    ga, gb = _pair(g, dtype)
    ours.backward(ga)
    theirs.backward(gb)
    np.testing.assert_allclose(_np(sa.grad), _np(sb.grad), **_tol(dtype))
    np.testing.assert_allclose(_np(wa.grad), _np(wb.grad), **_tol(dtype))


def test_istft_unbatched_method_and_default_window():
    x = RNG.standard_normal(30)
    spec = torch.stft(torch.tensor(x), 8, window=torch.ones(8), return_complex=True).numpy()
    sa, sb = _pair(spec, "float64")
    with pytest.warns(UserWarning, match="window was not provided"):
        ours = sa.istft(8)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        theirs = sb.istft(8)
    assert ours.shape == (30,)
    np.testing.assert_allclose(_np(ours), _np(theirs), rtol=1e-12, atol=1e-12)


ISTFT_ERRORS = [
    ({"n_fft": 8, "window": "hann", "center": False}, "real_ok"),  # the envelope vanishes
    ({"n_fft": 8, "window": "hann"}, "real"),
    ({"n_fft": 8, "window": "hann", "onesided": False}, "spec"),
    ({"n_fft": 9, "window": "hann"}, "spec"),
    ({"n_fft": 8, "hop_length": 0, "window": "hann"}, "spec"),
    ({"n_fft": 8, "win_length": 10}, "spec"),
    ({"n_fft": 8, "window": "hann", "return_complex": True}, "spec"),
    ({"n_fft": 8, "window": "complex"}, "spec"),
    ({"n_fft": 8, "window": "zeros"}, "spec"),
]


@pytest.mark.parametrize("kw,what", ISTFT_ERRORS)
def test_istft_errors_match_pytorch(kw, what):
    x = torch.randn(20, dtype=torch.float64)
    spec = torch.stft(x, 8, window=torch.hann_window(8, dtype=torch.float64), return_complex=True)
    arg_b = torch.view_as_real(spec) if what == "real" else spec
    arg_a = tg.tensor(arg_b.numpy())
    kw_a, kw_b = dict(kw), dict(kw)
    make = {
        "hann": lambda lib: lib.hann_window(8, dtype=lib.float64),
        "complex": lambda lib: lib.ones(8, dtype=lib.complex128),
        "zeros": lambda lib: lib.zeros(8, dtype=lib.float64),
    }
    if "window" in kw:
        kw_a["window"], kw_b["window"] = make[kw["window"]](tg), make[kw["window"]](torch)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with pytest.raises(RuntimeError) as theirs:
            torch.istft(arg_b, **kw_b)
        with pytest.raises(RuntimeError) as ours:
            tg.istft(arg_a, **kw_a)
    tail = str(theirs.value).rpartition(") ")[2].split("\n")[0]
    assert str(ours.value).rpartition(") ")[2].startswith(tail.split("[")[0].strip())


# ------------------------------------------------------------- oracles other than PyTorch
def test_stft_matches_a_numpy_transform_of_each_frame():
    x = RNG.standard_normal(32)
    w = np.hanning(8)
    ours = _np(tg.stft(tg.tensor(x), 8, 4, window=tg.tensor(w), center=False, return_complex=True))
    frames = np.stack([x[i : i + 8] * w for i in range(0, 32 - 8 + 1, 4)])
    np.testing.assert_allclose(ours, np.fft.rfft(frames, axis=-1).T, rtol=1e-12, atol=1e-12)


def _finite_difference_check(f, x: np.ndarray, eps: float = 1e-6):
    """``f``'s gradient (sum of a fixed random projection of its output) against central
    differences in float64, in a random direction."""
    out_shape = f(tg.tensor(x)).shape
    proj = RNG.standard_normal(out_shape)

    def loss(v):
        return float((f(tg.tensor(v)) * tg.tensor(proj)).sum().item())

    xa = tg.tensor(x, requires_grad=True)
    (f(xa) * tg.tensor(proj)).sum().backward()
    d = RNG.standard_normal(x.shape)
    numeric = (loss(x + eps * d) - loss(x - eps * d)) / (2 * eps)
    np.testing.assert_allclose(float((xa.grad.numpy() * d).sum()), numeric, rtol=1e-6)


@slow
def test_gradients_match_finite_differences():
    w = tg.tensor(np.hanning(9)[:8] + 0.1)
    _finite_difference_check(
        lambda x: tg.view_as_real(tg.stft(x, 8, 3, window=w, return_complex=True)),
        RNG.standard_normal(30),
    )
    x = tg.tensor(RNG.standard_normal(30))

    def through_window(v):
        return tg.view_as_real(tg.stft(x, 8, 3, window=v, return_complex=True))

    _finite_difference_check(through_window, RNG.uniform(0.5, 1.5, 8))
    spec = RNG.standard_normal((5, 11, 2))
    _finite_difference_check(
        lambda s: tg.istft(tg.view_as_complex(s), 8, 2, window=w, length=20), spec
    )


@slow
def test_second_order_gradients_match_pytorch():
    x = RNG.standard_normal(24)
    w = RNG.uniform(0.5, 1.5, 8)
    results = []
    for lib in (tg, torch):
        xv = lib.tensor(x, requires_grad=True)
        wv = lib.tensor(w, requires_grad=True)
        s = lib.stft(xv, 8, 2, window=wv, return_complex=True)
        y = lib.istft(s * 2, 8, 2, window=wv * wv, length=24)
        (gx,) = lib.autograd.grad((y * y * y).sum(), xv, create_graph=True)
        (gw,) = lib.autograd.grad((gx * gx).sum(), wv)
        results.append((gx.detach().numpy(), gw.numpy()))
    np.testing.assert_allclose(results[0][0], results[1][0], rtol=1e-9, atol=1e-9)
    np.testing.assert_allclose(results[0][1], results[1][1], rtol=1e-9, atol=1e-9)


def test_round_trip_in_a_compiled_step_and_its_envelope_check():
    @tg.compile
    def round_trip(x, w):
        s = tg.stft(x, 8, 2, window=w, return_complex=True)
        return tg.istft(s, 8, 2, window=w, length=40)

    x = RNG.standard_normal(40)
    out = round_trip(tg.tensor(x), tg.hann_window(8, dtype=tg.float64))
    np.testing.assert_allclose(out.numpy(), x, rtol=1e-12, atol=1e-12)
    with pytest.raises(RuntimeError, match="window overlap add min"):
        round_trip(tg.tensor(x), tg.zeros(8, dtype=tg.float64))
