"""``tracegrad.fft``, as ``torch.fft``: discrete Fourier transforms and their helpers.

``fft``/``ifft``/``fft2``/``ifft2``/``fftn``/``ifftn`` (complex to complex; real or integer inputs
are promoted to complex, as in PyTorch), ``rfft``/``irfft``/``rfft2``/``irfft2``/``rfftn``/
``irfftn`` (real signals and their one-sided spectra), ``hfft``/``ihfft``/``hfft2``/``ihfft2``/
``hfftn``/``ihfftn`` (Hermitian signals), ``fftfreq``/``rfftfreq`` and ``fftshift``/``ifftshift``.
``n``/``s`` zero-pad or crop the transformed dimensions, ``dim`` picks them and ``norm`` is
``"backward"`` (default: no scaling forward, ``1/n`` inverse), ``"ortho"`` (``1/sqrt(n)`` both
ways) or ``"forward"`` (``1/n`` forward). Every transform is differentiable with hand-written
rules (``ops/fft.py``); gradients follow PyTorch's complex convention (docs/fft.md).
``out=`` raises ``NotImplementedError``: assign the result instead.
"""

from __future__ import annotations

from collections.abc import Sequence

from .creation import arange
from .ops import fft as _ops
from .ops.shape import roll
from .tensor import Tensor, _wrap_dim

__all__ = [
    "fft",
    "ifft",
    "fft2",
    "ifft2",
    "fftn",
    "ifftn",
    "rfft",
    "irfft",
    "rfft2",
    "irfft2",
    "rfftn",
    "irfftn",
    "hfft",
    "ihfft",
    "hfft2",
    "ihfft2",
    "hfftn",
    "ihfftn",
    "fftfreq",
    "rfftfreq",
    "fftshift",
    "ifftshift",
]

_Dims = int | Sequence[int] | None


def _check(name: str, input, out) -> None:
    if out is not None:
        raise NotImplementedError(
            f"fft.{name}(): out= is not supported by tracegrad; assign the result instead"
        )
    if not isinstance(input, Tensor):
        raise TypeError(
            f"fft_{name}(): argument 'input' (position 1) must be Tensor, not "
            f"{type(input).__name__}"
        )


def _one(input: Tensor, n, dim: int):
    """The 1-D transforms' ``(s, dims)``: one dimension, resized to ``n`` when given."""
    d = _wrap_dim(dim, input.ndim)
    return (None if n is None else [int(n)]), (d,)


def fft(
    input: Tensor, n: int | None = None, dim: int = -1, norm: str | None = None, *, out=None
) -> Tensor:
    """The 1-D discrete Fourier transform along ``dim`` (zero-padded or cropped to ``n``)."""
    _check("fft", input, out)
    s, dims = _one(input, n, dim)
    return _ops.c2c(input, s, dims, norm, inverse=False)


def ifft(
    input: Tensor, n: int | None = None, dim: int = -1, norm: str | None = None, *, out=None
) -> Tensor:
    """The 1-D inverse discrete Fourier transform along ``dim``."""
    _check("ifft", input, out)
    s, dims = _one(input, n, dim)
    return _ops.c2c(input, s, dims, norm, inverse=True)


def fftn(
    input: Tensor,
    s: Sequence[int] | None = None,
    dim: _Dims = None,
    norm: str | None = None,
    *,
    out=None,
) -> Tensor:
    """The n-D discrete Fourier transform over ``dim`` (default: the last ``len(s)`` dimensions,
    or all), each resized to ``s``."""
    _check("fftn", input, out)
    dims, s = _ops._dims_and_sizes(input, s, dim, "fftn")
    return _ops.c2c(input, s, dims, norm, inverse=False)


def ifftn(
    input: Tensor,
    s: Sequence[int] | None = None,
    dim: _Dims = None,
    norm: str | None = None,
    *,
    out=None,
) -> Tensor:
    """The n-D inverse discrete Fourier transform over ``dim``."""
    _check("ifftn", input, out)
    dims, s = _ops._dims_and_sizes(input, s, dim, "ifftn")
    return _ops.c2c(input, s, dims, norm, inverse=True)


def fft2(
    input: Tensor,
    s: Sequence[int] | None = None,
    dim: _Dims = (-2, -1),
    norm: str | None = None,
    *,
    out=None,
) -> Tensor:
    """The 2-D discrete Fourier transform (``fftn`` over the last two dimensions by default)."""
    _check("fft2", input, out)
    return fftn(input, s, dim, norm)


def ifft2(
    input: Tensor,
    s: Sequence[int] | None = None,
    dim: _Dims = (-2, -1),
    norm: str | None = None,
    *,
    out=None,
) -> Tensor:
    """The 2-D inverse discrete Fourier transform."""
    _check("ifft2", input, out)
    return ifftn(input, s, dim, norm)


def rfft(
    input: Tensor, n: int | None = None, dim: int = -1, norm: str | None = None, *, out=None
) -> Tensor:
    """The one-sided Fourier transform of a real signal: the first ``n // 2 + 1`` frequencies."""
    _check("rfft", input, out)
    s, dims = _one(input, n, dim)
    return _ops.r2c("rfft", input, s, dims, norm, forward=True)


def irfft(
    input: Tensor, n: int | None = None, dim: int = -1, norm: str | None = None, *, out=None
) -> Tensor:
    """The real signal of length ``n`` (default ``2 * (input.size(dim) - 1)``) whose one-sided
    spectrum is ``input``; imaginary parts of the zero (and, for even ``n``, Nyquist) frequency
    are ignored."""
    _check("irfft", input, out)
    s, dims = _one(input, n, dim)
    return _ops.c2r("irfft", input, s, dims, norm, inverse=True)


def rfftn(
    input: Tensor,
    s: Sequence[int] | None = None,
    dim: _Dims = None,
    norm: str | None = None,
    *,
    out=None,
) -> Tensor:
    """The n-D Fourier transform of a real signal, one-sided in the last transformed dimension."""
    _check("rfftn", input, out)
    dims, s = _ops._dims_and_sizes(input, s, dim, "rfftn")
    return _ops.r2c("rfftn", input, s, dims, norm, forward=True)


def irfftn(
    input: Tensor,
    s: Sequence[int] | None = None,
    dim: _Dims = None,
    norm: str | None = None,
    *,
    out=None,
) -> Tensor:
    """The inverse of ``rfftn``: a real signal of shape ``s`` from a one-sided spectrum."""
    _check("irfftn", input, out)
    dims, s = _ops._dims_and_sizes(input, s, dim, "irfftn")
    return _ops.c2r("irfftn", input, s, dims, norm, inverse=True)


def rfft2(
    input: Tensor,
    s: Sequence[int] | None = None,
    dim: _Dims = (-2, -1),
    norm: str | None = None,
    *,
    out=None,
) -> Tensor:
    """``rfftn`` over the last two dimensions by default."""
    _check("rfft2", input, out)
    return rfftn(input, s, dim, norm)


def irfft2(
    input: Tensor,
    s: Sequence[int] | None = None,
    dim: _Dims = (-2, -1),
    norm: str | None = None,
    *,
    out=None,
) -> Tensor:
    """``irfftn`` over the last two dimensions by default."""
    _check("irfft2", input, out)
    return irfftn(input, s, dim, norm)


def hfft(
    input: Tensor, n: int | None = None, dim: int = -1, norm: str | None = None, *, out=None
) -> Tensor:
    """The real spectrum of a Hermitian-symmetric signal given by its first half (``irfft`` of the
    conjugate with the opposite normalisation)."""
    _check("hfft", input, out)
    s, dims = _one(input, n, dim)
    return _ops.c2r("hfft", input, s, dims, norm, inverse=False)


def ihfft(
    input: Tensor, n: int | None = None, dim: int = -1, norm: str | None = None, *, out=None
) -> Tensor:
    """The inverse of ``hfft``: the one-sided inverse transform of a real signal."""
    _check("ihfft", input, out)
    s, dims = _one(input, n, dim)
    return _ops.r2c("ihfft", input, s, dims, norm, forward=False)


def hfftn(
    input: Tensor,
    s: Sequence[int] | None = None,
    dim: _Dims = None,
    norm: str | None = None,
    *,
    out=None,
) -> Tensor:
    """The n-D ``hfft``: the last transformed dimension holds the Hermitian half."""
    _check("hfftn", input, out)
    dims, s = _ops._dims_and_sizes(input, s, dim, "hfftn")
    return _ops.c2r("hfftn", input, s, dims, norm, inverse=False)


def ihfftn(
    input: Tensor,
    s: Sequence[int] | None = None,
    dim: _Dims = None,
    norm: str | None = None,
    *,
    out=None,
) -> Tensor:
    """The n-D ``ihfft``."""
    _check("ihfftn", input, out)
    dims, s = _ops._dims_and_sizes(input, s, dim, "ihfftn")
    return _ops.r2c("ihfftn", input, s, dims, norm, forward=False)


def hfft2(
    input: Tensor,
    s: Sequence[int] | None = None,
    dim: _Dims = (-2, -1),
    norm: str | None = None,
    *,
    out=None,
) -> Tensor:
    """``hfftn`` over the last two dimensions by default."""
    _check("hfft2", input, out)
    return hfftn(input, s, dim, norm)


def ihfft2(
    input: Tensor,
    s: Sequence[int] | None = None,
    dim: _Dims = (-2, -1),
    norm: str | None = None,
    *,
    out=None,
) -> Tensor:
    """``ihfftn`` over the last two dimensions by default."""
    _check("ihfft2", input, out)
    return ihfftn(input, s, dim, norm)


def fftfreq(
    n: int,
    d: float = 1.0,
    *,
    out=None,
    dtype=None,
    layout=None,
    device=None,
    requires_grad: bool = False,
) -> Tensor:
    """The sample frequencies of an ``n``-point ``fft`` with sample spacing ``d``:
    ``[0, 1, ..., (n - 1) // 2, -(n // 2), ..., -1] / (d * n)``, in the default float dtype."""
    if out is not None:
        raise NotImplementedError("fft.fftfreq(): out= is not supported by tracegrad")
    n = int(n)
    k = arange(n, dtype=dtype, layout=layout, device=device)
    k = roll(k - n // 2, -(n // 2)) if n else k  # 0, 1, ..., then the negative half
    out = k * (1.0 / (d * n)) if n else k
    return out.requires_grad_(requires_grad)


def rfftfreq(
    n: int,
    d: float = 1.0,
    *,
    out=None,
    dtype=None,
    layout=None,
    device=None,
    requires_grad: bool = False,
) -> Tensor:
    """The sample frequencies of an ``n``-point ``rfft``: ``[0, 1, ..., n // 2] / (d * n)``."""
    if out is not None:
        raise NotImplementedError("fft.rfftfreq(): out= is not supported by tracegrad")
    n = int(n)
    k = arange(n // 2 + 1, dtype=dtype, layout=layout, device=device)
    out = k * (1.0 / (d * n)) if n else k
    return out.requires_grad_(requires_grad)


def _shift(input: Tensor, dim: _Dims, sign: int) -> Tensor:
    if dim is None:
        dims = tuple(range(input.ndim))
    else:
        dims = (dim,) if isinstance(dim, int) else tuple(dim)
        dims = tuple(_wrap_dim(d, input.ndim) for d in dims)
    if not dims:
        return input
    shifts = tuple(sign * (input.shape[d] // 2) for d in dims)
    return roll(input, shifts, dims)


def fftshift(input: Tensor, dim: _Dims = None) -> Tensor:
    """Move the zero frequency to the centre of ``dim`` (all dimensions by default): a roll by
    ``size // 2``."""
    return _shift(input, dim, 1)


def ifftshift(input: Tensor, dim: _Dims = None) -> Tensor:
    """The inverse of ``fftshift``: a roll by ``-(size // 2)``."""
    return _shift(input, dim, -1)
