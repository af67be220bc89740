"""Tensor factories: ``zeros``, ``ones``, ``arange``, ``rand``, ... with PyTorch's signatures."""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np

from . import random as _random
from ._device import device as Device
from ._dtype import as_dtype, float32, get_default_dtype, int64
from .tensor import Tensor, _size_args, as_array

__all__ = [
    "zeros",
    "ones",
    "full",
    "empty",
    "arange",
    "linspace",
    "eye",
    "rand",
    "randn",
    "randint",
    "randperm",
    "zeros_like",
    "ones_like",
    "full_like",
    "empty_like",
    "rand_like",
    "randn_like",
    "randint_like",
    "from_numpy",
    "as_tensor",
    "normal",
]


def _finish(array, device, requires_grad: bool) -> Tensor:
    if device is not None:
        array = jax.device_put(array, Device(device).jax_device())
    t = Tensor._wrap(array)
    if requires_grad:
        t.requires_grad_(True)
    return t


def _float_dtype(dtype):
    return as_dtype(dtype) if dtype is not None else get_default_dtype()


def full(
    size, fill_value, *, dtype=None, device=None, requires_grad: bool = False, out=None
) -> Tensor:
    """A tensor of shape ``size`` filled with ``fill_value`` (dtype inferred from it if not given)."""
    if dtype is None:
        dtype = (
            as_array(fill_value).dtype if not isinstance(fill_value, float) else get_default_dtype()
        )
    shape = _size_args((size,)) if not isinstance(size, int) else (size,)
    return _finish(jnp.full(shape, fill_value, as_dtype(dtype).np), device, requires_grad)


def zeros(*size, dtype=None, device=None, requires_grad: bool = False, out=None) -> Tensor:
    """A tensor of zeros: ``zeros(2, 3)`` or ``zeros((2, 3))``."""
    return _finish(jnp.zeros(_size_args(size), _float_dtype(dtype).np), device, requires_grad)


def ones(*size, dtype=None, device=None, requires_grad: bool = False, out=None) -> Tensor:
    """A tensor of ones: ``ones(2, 3)`` or ``ones((2, 3))``."""
    return _finish(jnp.ones(_size_args(size), _float_dtype(dtype).np), device, requires_grad)


def empty(*size, dtype=None, device=None, requires_grad: bool = False, out=None, **_) -> Tensor:
    """An 'uninitialised' tensor; JAX has no such thing, so it is zeros."""
    return zeros(*size, dtype=dtype, device=device, requires_grad=requires_grad)


def _like(t: Tensor, dtype, device):
    return (as_dtype(dtype) if dtype is not None else t.dtype), (
        device if device is not None else t.device
    )


def _filled_like(t: Tensor, value, dtype, device, requires_grad: bool) -> Tensor:
    """``value`` in the shape of ``t``. Without ``device`` the result is placed like ``t`` (same
    device, or the same sharding over several), as PyTorch keeps a ``*_like`` on its input's device."""
    d = as_dtype(dtype) if dtype is not None else t.dtype
    if device is None:
        return _finish(jnp.full_like(t._storage.array, value, d.np), None, requires_grad)
    return _finish(jnp.full(t.shape, value, d.np), device, requires_grad)


def zeros_like(
    input: Tensor, *, dtype=None, device=None, requires_grad: bool = False, **_
) -> Tensor:
    """Zeros with the shape (and, unless given, dtype and device) of ``input``."""
    return _filled_like(input, 0, dtype, device, requires_grad)


def ones_like(
    input: Tensor, *, dtype=None, device=None, requires_grad: bool = False, **_
) -> Tensor:
    """Ones with the shape (and, unless given, dtype and device) of ``input``."""
    return _filled_like(input, 1, dtype, device, requires_grad)


def empty_like(
    input: Tensor, *, dtype=None, device=None, requires_grad: bool = False, **_
) -> Tensor:
    return zeros_like(input, dtype=dtype, device=device, requires_grad=requires_grad)


def full_like(
    input: Tensor, fill_value, *, dtype=None, device=None, requires_grad: bool = False, **_
) -> Tensor:
    """``fill_value`` everywhere, with the shape (and, unless given, dtype and device) of ``input``."""
    return _filled_like(input, fill_value, dtype, device, requires_grad)


def arange(
    start, end=None, step=1, *, dtype=None, device=None, requires_grad: bool = False, out=None
) -> Tensor:
    """Values from ``start`` to ``end`` (exclusive) by ``step``; int64 unless any bound is a float."""
    if end is None:
        start, end = 0, start
    start, end, step = (x.item() if isinstance(x, Tensor) else x for x in (start, end, step))
    if step == 0:
        raise RuntimeError("step must be nonzero")
    if dtype is None:
        dtype = (
            get_default_dtype() if any(isinstance(x, float) for x in (start, end, step)) else int64
        )
    dtype = as_dtype(dtype)
    n = max(0, math.ceil((end - start) / step))
    values = start + np.arange(n, dtype=np.float64 if dtype.is_floating_point else np.int64) * step
    return _finish(jnp.asarray(values, dtype.np), device, requires_grad)


def linspace(
    start, end, steps: int, *, dtype=None, device=None, requires_grad: bool = False, out=None
) -> Tensor:
    """``steps`` evenly spaced values from ``start`` to ``end`` inclusive."""
    d = _float_dtype(dtype)
    return _finish(jnp.asarray(np.linspace(start, end, steps), d.np), device, requires_grad)


def eye(
    n: int, m: int | None = None, *, dtype=None, device=None, requires_grad: bool = False, out=None
) -> Tensor:
    """An ``n x m`` identity matrix."""
    return _finish(jnp.eye(n, m, dtype=_float_dtype(dtype).np), device, requires_grad)


def rand(
    *size, generator=None, dtype=None, device=None, requires_grad: bool = False, out=None
) -> Tensor:
    """Uniform samples on [0, 1) from tracegrad's global generator (see ``manual_seed``)."""
    d = _float_dtype(dtype)
    return _finish(
        jax.random.uniform(_random.next_key(), _size_args(size), d.np), device, requires_grad
    )


def randn(
    *size, generator=None, dtype=None, device=None, requires_grad: bool = False, out=None
) -> Tensor:
    """Standard normal samples from tracegrad's global generator (see ``manual_seed``)."""
    d = _float_dtype(dtype)
    return _finish(
        jax.random.normal(_random.next_key(), _size_args(size), d.np), device, requires_grad
    )


def randint(
    low,
    high=None,
    size=None,
    *,
    generator=None,
    dtype=None,
    device=None,
    requires_grad: bool = False,
    out=None,
) -> Tensor:
    """Integers uniform on [low, high): ``randint(high, size)`` or ``randint(low, high, size)``."""
    if size is None:
        low, high, size = 0, low, high
    d = as_dtype(dtype) if dtype is not None else int64
    shape = _size_args((size,))
    vals = jax.random.randint(_random.next_key(), shape, low, high, dtype=np.int64)
    return _finish(vals.astype(d.np), device, requires_grad)


def randperm(
    n: int, *, generator=None, dtype=None, device=None, requires_grad: bool = False
) -> Tensor:
    """A random permutation of ``0 .. n-1``."""
    d = as_dtype(dtype) if dtype is not None else int64
    return _finish(
        jax.random.permutation(_random.next_key(), n).astype(d.np), device, requires_grad
    )


def normal(
    mean: float,
    std: float,
    size,
    *,
    generator=None,
    dtype=None,
    device=None,
    requires_grad: bool = False,
) -> Tensor:
    """Normal samples with the given (scalar) ``mean`` and ``std``."""
    t = randn(*_size_args((size,)), dtype=dtype, device=device)
    return _finish(t._storage.array * std + mean, None, requires_grad)


def rand_like(
    input: Tensor, *, dtype=None, device=None, requires_grad: bool = False, **_
) -> Tensor:
    d, dev = _like(input, dtype, device)
    return rand(*input.shape, dtype=d, device=dev, requires_grad=requires_grad)


def randn_like(
    input: Tensor, *, dtype=None, device=None, requires_grad: bool = False, **_
) -> Tensor:
    d, dev = _like(input, dtype, device)
    return randn(*input.shape, dtype=d, device=dev, requires_grad=requires_grad)


def randint_like(input: Tensor, low, high=None, *, dtype=None, device=None, **_) -> Tensor:
    """Integers uniform on [low, high) with the shape of ``input``; ``randint_like(x, high)``."""
    if high is None:
        low, high = 0, low
    d, dev = _like(input, dtype, device)
    return randint(low, high, tuple(input.shape), dtype=d, device=dev)


def from_numpy(array: np.ndarray) -> Tensor:
    """A tensor from a numpy array, keeping its dtype (JAX copies it; numpy writes don't show)."""
    if not isinstance(array, np.ndarray):
        raise TypeError(f"expected np.ndarray (got {type(array).__name__})")
    return Tensor._wrap(as_array(array))


def as_tensor(data, dtype=None, device=None) -> Tensor:
    """Like ``tensor`` but returns ``data`` itself when it is already a tensor of that dtype/device."""
    if (
        isinstance(data, Tensor)
        and (dtype is None or as_dtype(dtype) == data.dtype)
        and device is None
    ):
        return data
    from .tensor import tensor

    return tensor(data, dtype=dtype, device=device)


del float32
