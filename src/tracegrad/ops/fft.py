"""Discrete Fourier transforms: the ops behind ``tracegrad.fft`` (``fft``, ``ifft``, ``fftn``,
``rfft``, ``irfft``, ``hfft``, ``ihfft`` and their 2-D/n-D forms).

Three primitives, each lowered to ``jnp.fft`` on exactly-sized inputs (zero-padding or cropping
to ``n``/``s`` is a separate, recorded ``constant_pad``):

- ``c2c``: complex to complex over some dimensions, forward or inverse;
- ``r2c``: real to the one-sided complex spectrum along one dimension (``rfft``);
- ``c2r``: a one-sided spectrum to a real signal of length ``n`` along one dimension (``irfft``).

Gradients follow PyTorch's complex convention (see ops/complex.py: a rule returns the adjoint of
the real Jacobian under ``Re(sum(conj(a) b))``). With ``W`` the unnormalised DFT matrix
(``W[k, j] = exp(-2 pi i k j / n)``), ``fft(norm="backward")`` is ``W``, ``"ortho"`` is
``W / sqrt(n)`` and ``"forward"`` is ``W / n``; ``ifft`` is ``W^H`` scaled by ``1/n``, ``1/sqrt(n)``
or 1. So the adjoint of a transform is the opposite transform with the *dual* norm (backward and
forward swapped, ortho kept):

- ``c2c``: ``g -> c2c(g, inverse=not inverse, norm=dual)``;
- ``r2c`` keeps the first ``n//2 + 1`` rows of ``W``: its adjoint pads ``g`` with zeros to ``n``,
  applies the inverse transform with the dual norm, and keeps the real part (the input is real);
- ``c2r`` reads ``X[0]`` once, ``X[k]`` for ``0 < k < n/2`` twice (``X[k] e^{..}`` and its mirror
  ``conj(X[k]) e^{-..}``) and, for even ``n``, ``X[n/2]`` once, always through their real parts'
  projections: ``x[j] = (1/n) sum_k w_k Re(X[k] e^{2 pi i k j / n})`` with ``w = 1, 2, ..., 2, 1``.
  Differentiating, ``dL/dX[k] = (w_k / n) sum_j g[j] e^{-2 pi i k j / n}``: ``rfft(g)`` with the
  dual norm, times ``w``. (The imaginary parts of ``X[0]`` and ``X[n/2]`` are ignored and get the
  zero imaginary gradient ``rfft(g)`` has there.)
"""

from __future__ import annotations

import jax.numpy as jnp
import numpy as np

from .._dtype import get_default_complex_dtype, scalar_type_name
from ..tensor import Tensor, _wrap_dim
from .complex import _complex_op, _real, conj
from .resample import _constant_pad

__all__: list[str] = []

_DUAL = {"backward": "forward", "forward": "backward", "ortho": "ortho"}


@_complex_op("FftC2CBackward0", saves=())
def _c2c(a, *, dims, norm, inverse):
    fn = jnp.fft.ifftn if inverse else jnp.fft.fftn
    return fn(a, axes=dims, norm=norm)


@_c2c.vjp
def _(g, out, a, *, dims, norm, inverse):
    return (_c2c(g, dims=dims, norm=_DUAL[norm], inverse=not inverse),)


@_complex_op("FftR2CBackward0", saves=())
def _r2c(a, *, dim, norm):
    return jnp.fft.rfft(a, axis=dim, norm=norm)


@_r2c.vjp
def _(g, out, a, *, dim, norm):
    n = a.shape[dim]
    full = _resize(g, dim, n)
    return (_real(_c2c(full, dims=(dim,), norm=_DUAL[norm], inverse=True)),)


@_complex_op("FftC2RBackward0", saves=())
def _c2r(a, *, dim, n, norm):
    return jnp.fft.irfft(a, n=n, axis=dim, norm=norm)


@_c2r.vjp
def _(g, out, a, *, dim, n, norm):
    spectrum = _r2c(g, dim=dim, norm=_DUAL[norm])
    m = n // 2 + 1
    w = np.full(m, 2.0)
    w[0] = 1.0
    if n % 2 == 0:
        w[-1] = 1.0
    shape = [1] * g.ndim
    shape[dim] = m
    weights = Tensor._wrap(jnp.asarray(w.reshape(shape), g.dtype.np))
    return (spectrum * weights,)


# ------------------------------------------------------------------------------- argument helpers
def _norm(norm: str | None) -> str:
    if norm is None:
        return "backward"
    if norm not in _DUAL:
        raise RuntimeError(f'Invalid normalization mode: "{norm}"')
    return norm


def _resize(x: Tensor, dim: int, n: int) -> Tensor:
    """``x`` zero-padded or cropped at the end of ``dim`` to length ``n``."""
    size = x.shape[dim]
    if size == n:
        return x
    pad = [(0, 0)] * x.ndim
    pad[dim] = (0, n - size)
    return _constant_pad(x, pad=tuple(pad), value=0)


def _check_n(n: int, what: str = "data points") -> None:
    if n < 1:
        raise RuntimeError(f"Invalid number of {what} ({n}) specified")


def _as_complex(x: Tensor) -> Tensor:
    """``x`` in a complex dtype: complex stays; float32/float64 take their complex counterpart;
    integers and bool take the default complex dtype (PyTorch's promotion for FFTs)."""
    if x.is_complex():
        return x
    if x.dtype.is_floating_point:
        return x.to(x.dtype.to_complex())
    return x.to(get_default_complex_dtype())


def _as_real(op: str, x: Tensor) -> Tensor:
    if x.is_complex():
        raise RuntimeError(f"{op} expects a real input tensor, but got {scalar_type_name(x.dtype)}")
    if x.dtype.is_floating_point:
        x.dtype.to_complex()  # float16/bfloat16 have no complex counterpart in JAX
        return x
    return x.to(get_default_complex_dtype().to_real())


def _dims_and_sizes(x: Tensor, s, dim, name: str) -> tuple[tuple[int, ...], list[int] | None]:
    """PyTorch's ``(s, dim)`` resolution for n-d transforms: ``dim`` defaults to the last
    ``len(s)`` dimensions when ``s`` is given, else to every dimension."""
    if dim is not None:
        dims = (dim,) if isinstance(dim, int) else tuple(dim)
        dims = tuple(_wrap_dim(d, x.ndim) for d in dims)
        if len(set(dims)) != len(dims):
            raise RuntimeError(f"{name} dims must be unique")
    if s is not None:
        s = [int(v) for v in s]
        if dim is None:
            if len(s) > x.ndim:
                raise RuntimeError(
                    f"Got shape with {len(s)} values but input tensor only has {x.ndim} dimensions."
                )
            dims = tuple(range(x.ndim - len(s), x.ndim))
        elif len(s) != len(dims):
            raise RuntimeError(
                f"When given, dim and shape arguments must have the same length. Got {len(dims)} "
                f"dims and {len(s)} shape values"
            )
    elif dim is None:
        dims = tuple(range(x.ndim))
    return dims, s


# -------------------------------------------------------------------------------- the transforms
def _resized(x: Tensor, s, dims) -> Tensor:
    """``x`` with each of ``dims`` cut or zero-padded to its size in ``s`` (-1 keeps it; ``s`` None
    keeps them all)."""
    if s is not None:
        for d, n in zip(dims, s):
            n = x.shape[d] if n == -1 else n
            _check_n(n)
            x = _resize(x, d, n)
    return x


def c2c(x: Tensor, s, dims: tuple[int, ...], norm, inverse: bool) -> Tensor:
    """A complex transform over ``dims``, each resized to ``s`` (or kept) first."""
    x = _as_complex(x)
    x = _resized(x, s, dims)
    for d in dims:
        _check_n(x.shape[d])
    if not dims:
        return x
    return _c2c(x, dims=dims, norm=_norm(norm), inverse=inverse)


def r2c(op: str, x: Tensor, s, dims: tuple[int, ...], norm, forward: bool) -> Tensor:
    """``rfftn`` (``forward``) or ``ihfftn``'s core: the one-sided spectrum along the last of
    ``dims``, then complex transforms over the others."""
    x = _as_real(op, x)
    if not dims:
        raise RuntimeError(f"{op} must transform at least one axis")
    x = _resized(x, s, dims)
    for d in dims:
        _check_n(x.shape[d])
    norm = _norm(norm)
    if forward:
        out = _r2c(x, dim=dims[-1], norm=norm)
        return _c2c(out, dims=dims[:-1], norm=norm, inverse=False) if dims[:-1] else out
    # ihfftn: conj(rfftn(x, norm=dual)) = the inverse transforms of a real signal.
    out = conj(_r2c(x, dim=dims[-1], norm=_DUAL[norm]))
    return _c2c(out, dims=dims[:-1], norm=norm, inverse=True) if dims[:-1] else out


def c2r(op: str, x: Tensor, s, dims: tuple[int, ...], norm, inverse: bool) -> Tensor:
    """``irfftn`` (``inverse``) or ``hfftn``: complex transforms over all but the last of ``dims``,
    then the real signal of length ``s[-1]`` (default ``2 * (m - 1)``) along the last."""
    x = _as_complex(x)
    if not dims:
        raise RuntimeError(f"{op} must transform at least one axis")
    last = dims[-1]
    if s is not None and s[-1] != -1:
        n = s[-1]
    else:
        n = 2 * (x.shape[last] - 1)
    _check_n(n, "data points")
    x = _resized(x, None if s is None else s[:-1], dims[:-1])
    x = _resize(x, last, n // 2 + 1)
    norm = _norm(norm)
    if inverse:
        if dims[:-1]:
            x = _c2c(x, dims=dims[:-1], norm=norm, inverse=True)
        return _c2r(x, dim=last, n=n, norm=norm)
    # hfftn: irfftn of the conjugate with the dual norm.
    x = conj(x)
    if dims[:-1]:
        x = _c2c(x, dims=dims[:-1], norm=_DUAL[norm], inverse=True)
    return _c2r(x, dim=last, n=n, norm=_DUAL[norm])
