"""Window functions and short-time Fourier transforms: ``hann_window``, ``hamming_window``,
``blackman_window``, ``bartlett_window``, ``kaiser_window``, ``stft`` and ``istft``.

The windows are factories: their values are computed in float64 by PyTorch's formulas and rounded
once to ``dtype``, so they carry no graph (``requires_grad=True`` makes a leaf). A *periodic*
window of length ``N`` is the symmetric window of length ``N + 1`` without its last value.

``stft`` and ``istft`` record no op of their own: they are composed of recorded ops whose rules
already exist, as PyTorch composes them (``SpectralOps.cpp``), so their gradients (in the signal
and in the window) come from those rules, to any order:

- ``stft``: optional padding of the signal (``pad``, the ``center`` convention), framing with
  ``unfold``, a product with the zero-padded window, then ``rfft`` (one-sided) or ``fft`` along
  each frame (``norm="ortho"`` when ``normalized``), then a transpose to (freq, frame);
- ``istft``: the inverse transform of each frame (``irfft`` or ``ifft``), a product with the
  window, overlap-add with ``unfold``'s transpose, then division by the overlap-added squared
  window (the *envelope*), after cropping the ``center`` padding.

``unfold`` and its transpose are recorded on real values only; a complex signal is framed (and
overlap-added) through ``view_as_real``, whose rule follows PyTorch's complex convention, so
complex signals get PyTorch's gradients too.
"""

from __future__ import annotations

import warnings

import jax
import jax.numpy as jnp
import numpy as np

from .. import _tracing
from .._dtype import as_dtype, get_default_dtype
from .._surface import expose
from ..creation import _check_strided, _finish, ones
from ..tensor import Tensor
from .arrange import _unfold_backward
from .complex import view_as_complex, view_as_real
from .fft import c2c, c2r, r2c
from .resample import _constant_pad, pad

__all__ = [
    "hann_window",
    "hamming_window",
    "blackman_window",
    "bartlett_window",
    "kaiser_window",
    "stft",
    "istft",
]


# ------------------------------------------------------------------------------------ windows
def _window(name: str, window_length: int, periodic: bool, values, dtype, layout, device, pin, rg):
    """A window factory's result: ``values(n)`` is the symmetric window of ``n >= 2`` points as a
    float64 numpy array; ``periodic`` computes one more point and drops it."""
    _check_strided(name, layout, pin)
    d = as_dtype(dtype) if dtype is not None else get_default_dtype()
    if d.is_complex:
        raise NotImplementedError(f"\"{name}\" not implemented for '{d}': use a floating dtype")
    if not d.is_floating_point:
        raise RuntimeError(f"{name} expects floating point dtypes, got: {d}")
    window_length = int(window_length)
    if window_length < 0:
        raise RuntimeError(
            f"{name} requires non-negative window_length, got window_length={window_length}"
        )
    if window_length <= 1:
        w = np.ones(window_length)
    else:
        w = values(window_length + 1)[:-1] if periodic else values(window_length)
    return _finish(jnp.asarray(w.astype(d.np)), device, rg)


def _cosine_sum(coefficients):
    """``sum_k (-1)^k a_k cos(2 pi k i / (n - 1))``: the Hann, Hamming and Blackman family."""

    def values(n):
        t = 2 * np.pi * np.arange(n) / (n - 1)
        return sum((-1) ** k * a * np.cos(k * t) for k, a in enumerate(coefficients))

    return values


def hann_window(
    window_length: int,
    periodic: bool = True,
    *,
    dtype=None,
    layout=None,
    device=None,
    pin_memory: bool = False,
    requires_grad: bool = False,
) -> Tensor:
    """The Hann window ``0.5 - 0.5 cos(2 pi i / (N - 1))`` of ``window_length`` points (``N`` is
    ``window_length + 1`` when ``periodic``, the default: the window for ``stft``)."""
    return _window(
        "hann_window",
        window_length,
        periodic,
        _cosine_sum((0.5, 0.5)),
        dtype,
        layout,
        device,
        pin_memory,
        requires_grad,
    )


def hamming_window(
    window_length: int,
    periodic: bool = True,
    alpha: float = 0.54,
    beta: float = 0.46,
    *,
    dtype=None,
    layout=None,
    device=None,
    pin_memory: bool = False,
    requires_grad: bool = False,
) -> Tensor:
    """The Hamming window ``alpha - beta cos(2 pi i / (N - 1))`` of ``window_length`` points
    (``N`` is ``window_length + 1`` when ``periodic``, the default)."""
    return _window(
        "hamming_window",
        window_length,
        periodic,
        _cosine_sum((float(alpha), float(beta))),
        dtype,
        layout,
        device,
        pin_memory,
        requires_grad,
    )


def blackman_window(
    window_length: int,
    periodic: bool = True,
    *,
    dtype=None,
    layout=None,
    device=None,
    pin_memory: bool = False,
    requires_grad: bool = False,
) -> Tensor:
    """The Blackman window ``0.42 - 0.5 cos(2 pi i / (N - 1)) + 0.08 cos(4 pi i / (N - 1))`` of
    ``window_length`` points (``N`` is ``window_length + 1`` when ``periodic``, the default)."""
    return _window(
        "blackman_window",
        window_length,
        periodic,
        _cosine_sum((0.42, 0.5, 0.08)),
        dtype,
        layout,
        device,
        pin_memory,
        requires_grad,
    )


def _bartlett(n):
    return 1 - np.abs(2 * np.arange(n) / (n - 1) - 1)


def bartlett_window(
    window_length: int,
    periodic: bool = True,
    *,
    dtype=None,
    layout=None,
    device=None,
    pin_memory: bool = False,
    requires_grad: bool = False,
) -> Tensor:
    """The Bartlett (triangular) window ``1 - |2 i / (N - 1) - 1|`` of ``window_length`` points
    (``N`` is ``window_length + 1`` when ``periodic``, the default)."""
    return _window(
        "bartlett_window",
        window_length,
        periodic,
        _bartlett,
        dtype,
        layout,
        device,
        pin_memory,
        requires_grad,
    )


def kaiser_window(
    window_length: int,
    periodic: bool = True,
    beta: float = 12.0,
    *,
    dtype=None,
    layout=None,
    device=None,
    pin_memory: bool = False,
    requires_grad: bool = False,
) -> Tensor:
    """The Kaiser window ``I0(beta sqrt(1 - ((i - m) / m)^2)) / I0(beta)``, ``m = (N - 1) / 2``,
    of ``window_length`` points (``N`` is ``window_length + 1`` when ``periodic``, the default);
    ``I0`` is the modified Bessel function of order zero."""
    beta = float(beta)

    def values(n):
        m = (n - 1) / 2
        r = (np.arange(n) - m) / m
        return np.i0(beta * np.sqrt(np.maximum(1 - r * r, 0.0))) / np.i0(beta)

    return _window(
        "kaiser_window",
        window_length,
        periodic,
        values,
        dtype,
        layout,
        device,
        pin_memory,
        requires_grad,
    )


# --------------------------------------------------------------------------------------- stft
_NO_WINDOW = (
    "A window was not provided. A rectangular window will be applied,which is known to cause "
    "spectral leakage. Other windows such as torch.hann_window or torch.hamming_window are "
    "recommended to reduce spectral leakage.To suppress this warning and use a rectangular "
    "window, explicitly set `window=torch.ones(n_fft, device=<device>)`."
)


def _describe(x) -> str:
    if x is None:
        return "None"
    return f"{x.type()}{{{list(x.shape)}}}"


def _padded_window(window: Tensor | None, win_length: int, n_fft: int, dtype) -> Tensor:
    """The window (ones when None) zero-padded on both sides to ``n_fft`` points, centred."""
    if window is None:
        window = ones(win_length, dtype=dtype)
    if win_length == n_fft:
        return window
    left = (n_fft - win_length) // 2
    return _constant_pad(window, pad=((left, n_fft - win_length - left),), value=0)


def _frames(x: Tensor, n_fft: int, hop: int) -> Tensor:
    """(B, L) -> (B, frames, n_fft): the frames starting every ``hop`` samples."""
    if not x.is_complex():
        return x.unfold(-1, n_fft, hop)
    # Complex values are framed as (real, imag) pairs: (B, L, 2) -> (B, frames, 2, n_fft).
    pairs = view_as_real(x).unfold(1, n_fft, hop)
    return view_as_complex(pairs.transpose(-1, -2).contiguous())


def _pad_signal(x: Tensor, amount: int, mode: str) -> Tensor:
    """``stft``'s ``center`` padding: ``amount`` samples on both ends of the last dimension, by
    ``F.pad``'s ``mode``, on the signal viewed as 3-D (as PyTorch pads it)."""
    ndim = x.ndim
    extended = [1] * (3 - ndim) + list(x.shape)
    if not x.is_complex():
        return pad(x.reshape(extended), (amount, amount), mode).reshape(
            x.shape[:-1] + (x.shape[-1] + 2 * amount,)
        )
    # Padding modes other than constant run on real values: pad the (real, imag) planes.
    planes = view_as_real(x.reshape(extended)).movedim(-1, -2)  # (..., 2, L)
    planes = pad(planes.reshape(-1, 2, x.shape[-1]), (amount, amount), mode)
    padded = view_as_complex(planes.movedim(-2, -1).contiguous())
    return padded.reshape(x.shape[:-1] + (x.shape[-1] + 2 * amount,))


@expose(methods=("stft",))
def stft(
    input: Tensor,
    n_fft: int,
    hop_length: int | None = None,
    win_length: int | None = None,
    window: Tensor | None = None,
    center: bool = True,
    pad_mode: str = "reflect",
    normalized: bool = False,
    onesided: bool | None = None,
    return_complex: bool | None = None,
    align_to_window: bool | None = None,
) -> Tensor:
    """The short-time Fourier transform of a 1-D signal or a (batch, time) signal, as
    ``torch.stft``: frames of ``n_fft`` samples every ``hop_length`` (default ``n_fft // 4``),
    each multiplied by ``window`` (``win_length`` points, default ``n_fft``, zero-padded to
    ``n_fft`` in the centre; ones when None), transformed; the result is (batch?, freq, frame),
    complex, with ``n_fft // 2 + 1`` frequencies when ``onesided`` (the default for a real signal
    and window). ``center`` pads ``n_fft // 2`` samples on both ends by ``pad_mode`` first;
    ``normalized`` scales by ``n_fft ** -0.5``. ``return_complex`` must be given for real inputs;
    ``False`` (deprecated in PyTorch) returns ``view_as_real`` of the result. Differentiable in
    ``input`` and ``window``."""
    if not isinstance(input, Tensor):
        raise TypeError(
            f"stft(): argument 'input' (position 1) must be Tensor, not {type(input).__name__}"
        )
    if center and align_to_window is not None:
        raise RuntimeError("stft align_to_window should only be set when center = false")
    complex_window = window is not None and window.is_complex()
    if return_complex is None:
        if not (input.is_complex() or complex_window):
            raise RuntimeError(
                "stft requires the return_complex parameter be given for real inputs, and will "
                "further require that return_complex=True in a future PyTorch release."
            )
        return_complex = True
    if not return_complex:
        warnings.warn(
            "stft with return_complex=False is deprecated. In a future pytorch release, stft "
            "will return complex tensors for all inputs, and return_complex=False will raise an "
            "error.\nNote: you can still call torch.view_as_real on the complex output to recover "
            "the old return format.",
            UserWarning,
            stacklevel=2,
        )
    n_fft = int(n_fft)
    if center:
        input = _pad_signal(input, n_fft // 2, pad_mode)
    hop = n_fft // 4 if hop_length is None else int(hop_length)
    win = n_fft if win_length is None else int(win_length)

    def error(message: str) -> RuntimeError:
        size = list(input.shape)
        return RuntimeError(
            f"stft({input.type()}{size}, n_fft={n_fft}, hop_length={hop}, win_length={win}, "
            f"window={_describe(window)}, normalized={int(bool(normalized))}, "
            f"onesided={_flag(onesided)}, return_complex={int(bool(return_complex))}, "
            f"align_to_window={_flag(align_to_window)}) : {message}"
        )

    if input.ndim not in (1, 2):
        raise error("expected a 1D or 2D tensor")
    if not (input.dtype.is_floating_point or input.is_complex()):
        raise error("expected a tensor of floating point or complex values")
    length = input.shape[-1]
    if not 0 < n_fft <= length:
        raise error(f"expected 0 < n_fft < {length}, but got n_fft={n_fft}")
    if hop <= 0:
        raise error(f"expected hop_length > 0, but got hop_length={hop}")
    if not 0 < win <= n_fft:
        raise error(f"expected 0 < win_length <= n_fft, but got win_length={win}")
    if window is not None and (window.ndim != 1 or window.shape[0] != win):
        raise error(
            f"expected a 1D window tensor of size equal to win_length={win}, but got window "
            f"with size {list(window.shape)}"
        )
    if window is None:
        warnings.warn(_NO_WINDOW, UserWarning, stacklevel=2)
    complex_result = input.is_complex() or complex_window
    if onesided is None:
        onesided = not complex_result
    elif onesided and complex_result:
        raise RuntimeError("Cannot have onesided output if window or input is complex")

    x = input if input.ndim == 2 else input.reshape(1, length)
    if align_to_window and win < n_fft:
        # Frames line up with the window rather than with the n_fft-point frame: the signal is
        # shifted by the window's offset in the frame (zeros enter only under the zero padding).
        left = (n_fft - win) // 2
        x = _constant_pad(x, pad=((0, 0), (left, n_fft - win - left)), value=0)
    w = _padded_window(window, win, n_fft, x.dtype.to_real() if x.is_complex() else x.dtype)
    frames = _frames(x, n_fft, hop) * w  # (B, frames, n_fft)
    norm = "ortho" if normalized else "backward"
    last = frames.ndim - 1
    if onesided:
        spectrum = r2c("stft", frames, None, (last,), norm, forward=True)
    else:
        spectrum = c2c(frames, None, (last,), norm, inverse=False)
    out = spectrum.transpose(1, 2)
    if input.ndim == 1:
        out = out.reshape(out.shape[1:])
    return out if return_complex else view_as_real(out)


def _flag(value) -> str:
    return "None" if value is None else str(int(bool(value)))


@expose(methods=("istft",))
def istft(
    input: Tensor,
    n_fft: int,
    hop_length: int | None = None,
    win_length: int | None = None,
    window: Tensor | None = None,
    center: bool = True,
    normalized: bool = False,
    onesided: bool | None = None,
    length: int | None = None,
    return_complex: bool = False,
) -> Tensor:
    """The inverse of ``stft``, as ``torch.istft``: each frame of the complex (batch?, freq,
    frame) ``input`` is inverse-transformed, multiplied by ``window`` and overlap-added every
    ``hop_length`` samples; the sum is divided by the overlap-added squared window (which must
    not vanish: PyTorch's error otherwise). ``center`` drops the ``n_fft // 2`` padded samples
    at both ends; ``length`` crops or zero-pads the result to that many samples. ``onesided``
    defaults to whether there are fewer than ``n_fft`` frequencies; ``return_complex`` returns
    the complex signal (two-sided input only). Differentiable in ``input`` and ``window``."""
    if not isinstance(input, Tensor):
        raise TypeError(
            f"istft(): argument 'input' (position 1) must be Tensor, not {type(input).__name__}"
        )
    if not input.is_complex():
        raise RuntimeError(
            "istft requires a complex-valued input tensor matching the output from stft with "
            "return_complex=True."
        )
    n_fft = int(n_fft)
    hop = n_fft // 4 if hop_length is None else int(hop_length)
    win = n_fft if win_length is None else int(win_length)
    fft_size = input.shape[-2] if input.ndim >= 2 else 0
    frames = input.shape[-1] if input.ndim else 0

    def error(message: str) -> RuntimeError:
        return RuntimeError(
            f"istft({input.type()}{list(input.shape)}, n_fft={n_fft}, hop_length={hop}, "
            f"win_length={win}, window={_describe(window)}, center={int(bool(center))}, "
            f"normalized={int(bool(normalized))}, onesided={_flag(onesided)}, "
            f"length={'None' if length is None else length}, "
            f"return_complex={int(bool(return_complex))}) {message}"
        )

    if input.numel() == 0:
        raise error(": input tensor cannot be empty.")
    if input.ndim not in (2, 3):
        raise error(f": expected a tensor with 3 or 4 dimensions, but got {input.ndim + 1}")
    if onesided is None:
        onesided = fft_size != n_fft
    if onesided:
        if n_fft // 2 + 1 != fft_size:
            raise error(
                ": expected the frequency dimension (3rd to the last) of the input tensor to "
                f"match n_fft / 2 + 1 when onesided=True, but got {fft_size}"
            )
    elif n_fft != fft_size:
        raise error(
            ": expected the frequency dimension (3rd to the last) of the input tensor to match "
            f"n_fft when onesided=False, but got {fft_size}"
        )
    if not 0 < hop <= win:
        raise error(": expected 0 < hop_length <= win_length")
    if not 0 < win <= n_fft:
        raise error(": expected 0 < win_length <= n_fft")
    if window is not None and (window.ndim != 1 or window.shape[0] != win):
        raise error(": Invalid window shape. window has to be 1D and length of `win_length`")
    if window is None:
        warnings.warn(_NO_WINDOW, UserWarning, stacklevel=2)

    x = input if input.ndim == 3 else input.reshape(1, fft_size, frames)
    x = x.transpose(1, 2)  # (B, frames, freq)
    w = _padded_window(window, win, n_fft, x.dtype.to_real())
    norm = "ortho" if normalized else "backward"
    last = x.ndim - 1
    if return_complex:
        if onesided:
            raise RuntimeError("Cannot have onesided output if window or input is complex")
        y = c2c(x, None, (last,), norm, inverse=True)
    else:
        if w.is_complex():
            raise RuntimeError("Complex windows are incompatible with return_complex=False")
        if not onesided:
            x = x[..., : n_fft // 2 + 1]
        y = c2r("istft", x, [n_fft], (last,), norm, inverse=True)
    y = y * w  # (B, frames, n_fft)
    total = n_fft + hop * (frames - 1)
    y = _overlap_add(y, total, hop)
    envelope = _overlap_add((w * w).expand(1, frames, n_fft), total, hop)

    start = n_fft // 2 if center else 0
    if length is not None:
        end = start + int(length)
    else:
        end = total - n_fft // 2 if center else total
    y = y[:, start:end]
    envelope = envelope[:, start:end]
    _check_envelope(envelope, error)
    # The complex division has no complex rule; a product with the (real) reciprocal has.
    y = y * envelope.reciprocal() if y.is_complex() else y / envelope
    if input.ndim == 2:
        y = y.reshape(y.shape[1:])
    if end > total:
        warnings.warn(
            "The length of signal is shorter than the length parameter. Result is being padded "
            "with zeros in the tail. Please check your center and hop_length settings.",
            UserWarning,
            stacklevel=2,
        )
        widths = [(0, 0)] * (y.ndim - 1) + [(0, end - total)]
        y = _constant_pad(y, pad=tuple(widths), value=0)
    return y


def _overlap_add(y: Tensor, total: int, hop: int) -> Tensor:
    """(B, frames, n) -> (B, total): frame ``t`` added at offset ``t * hop`` (``unfold``'s
    transpose)."""
    batch, _, n = y.shape
    if not y.is_complex():
        return _unfold_backward(y, shape=(batch, total), dim=1, size=n, step=hop)
    pairs = view_as_real(y).transpose(-1, -2)  # (B, frames, 2, n)
    summed = _unfold_backward(pairs, shape=(batch, total, 2), dim=1, size=n, step=hop)
    return view_as_complex(summed)


def _check_envelope(envelope: Tensor, error) -> None:
    """PyTorch's check that the overlap-added squared window nowhere (nearly) vanishes, where the
    signal could not be recovered; inside a compiled step it is checked when the step runs."""
    if envelope.numel() == 0:
        return
    bad = jnp.min(jnp.abs(envelope._storage.array)) < 1e-11
    if isinstance(bad, jax.core.Tracer):
        _tracing.add_check(bad, lambda: error("window overlap add min: 1"))
    elif bool(bad):
        raise error("window overlap add min: 1")
