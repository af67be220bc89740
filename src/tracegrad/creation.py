"""Tensor factories: ``zeros``, ``ones``, ``arange``, ``rand``, ... with PyTorch's signatures."""

from __future__ import annotations

import math
import warnings

import jax
import jax.numpy as jnp
import numpy as np

from . import _tracing
from . import random as _random
from . import tensor as _tensor
from ._device import default_device
from ._device import device as Device
from ._dtype import (
    as_dtype,
    bool_,
    float32,
    get_default_dtype,
    int32,
    int64,
    scalar_type_name,
)
from ._layout import check_layout, check_memory_format, check_pin_memory
from ._surface import expose
from .lazy import Pending
from .tensor import Tensor, _from_python, _size_args, as_array

__all__ = [
    "tensor",
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
    "logspace",
    "range",
    "scalar_tensor",
    "asarray",
    "frombuffer",
    "empty_strided",
    "empty_permuted",
    "tril_indices",
    "triu_indices",
]


def _finish(array, device, requires_grad: bool) -> Tensor:
    """A new leaf holding ``array``, on ``device``, or without one on the default device when
    ``set_default_device`` set one (else where JAX put it)."""
    if device is None:
        device = default_device()
    return _tensor._finish(array, device, requires_grad)


def tensor(
    data, dtype=None, device=None, requires_grad: bool = False, pin_memory: bool = False
) -> Tensor:
    """Build a tensor from data (lists, numbers, numpy or JAX arrays), as ``torch.tensor``.

    Python numbers are converted straight to ``dtype`` (``tensor([0.3], dtype=float64)`` holds the
    double 0.3); ints that do not fit int64 raise ``ValueError``, as in PyTorch. Without
    ``device`` a tensor ``data`` keeps its device and other data goes to the default device
    (``set_default_device``)."""
    if device is None and not isinstance(data, Tensor):
        device = default_device()
    return _tensor.tensor(
        data, dtype=dtype, device=device, requires_grad=requires_grad, pin_memory=pin_memory
    )


def _float_dtype(dtype):
    return as_dtype(dtype) if dtype is not None else get_default_dtype()


def _shape(fn: str, sizes: tuple, size) -> tuple:
    """The shape of ``fn(2, 3)``, ``fn((2, 3))`` or ``fn(size=(2, 3))``, as PyTorch's factories."""
    if size is not None:
        if sizes:
            raise TypeError(f"{fn}() got multiple values for argument 'size'")
        sizes = (size,)
    return _size_args(sizes)


def _check_strided(fn: str, layout, pin_memory=False, memory_format=None) -> None:
    check_layout(fn, layout)
    check_pin_memory(fn, pin_memory)
    check_memory_format(fn, memory_format)


def _random_float_dtype(fn: str, dtype):
    d = _float_dtype(dtype)
    if not d.is_floating_point:
        raise NotImplementedError(f"{fn}(): expected a floating point dtype, got {d}")
    return d


def _no_bool(fn: str, d) -> None:
    if d is bool_:
        raise NotImplementedError(f"{fn}() is not implemented for dtype {d}")


_FINITE_MAX = {4: float(np.finfo(np.float32).max), 8: float(np.finfo(np.float64).max)}
_INT_RANGE = {
    np.dtype(t): (int(np.iinfo(t).min), int(np.iinfo(t).max))
    for t in (np.int8, np.int16, np.int32, np.int64, np.uint8)
}


def _scalar(value, d):
    """A fill value as a 0-d numpy array of ``d`` (or its inferred dtype). As PyTorch converts a
    ``Scalar``, a value out of ``d``'s range raises ``RuntimeError`` (``tensor()`` data makes inf)."""
    if isinstance(value, Tensor):
        value = value.item()
    kind = type(value)
    if d is not None and (kind is int or kind is float):  # the common case, without numpy objects
        if d.np.kind == "f" and d.itemsize >= 4 and not abs(value) > _FINITE_MAX[d.itemsize]:
            return np.asarray(value, d.np)  # rounds once; NaN and inf pass, as in PyTorch
        if (
            d.np.kind in "iu"
            and kind is int
            and _INT_RANGE[d.np][0] <= value <= _INT_RANGE[d.np][1]
        ):
            return np.asarray(value, d.np)
    try:
        array = _from_python(value, d)
    except ValueError:  # an int past int64
        raise RuntimeError(
            f"value cannot be converted to type {(d or int64).name} without overflow"
        ) from None
    if array.dtype.kind == "f" and np.isinf(array).any() and math.isfinite(value):
        raise RuntimeError(
            f"value cannot be converted to type {as_dtype(array.dtype).name} without overflow"
        )
    return array


# Constants up to this many elements are filled on the host and transferred: no XLA program to
# compile (jnp.full compiles one per shape, and building a model creates many shapes). Larger ones,
# and any inside a compiled step's trace (a host array would become a program constant), are
# filled on the device.
_HOST_FILL_MAX = 1 << 18


def _filled(shape: tuple, value, dtype):
    """An array of ``shape`` and ``dtype`` holding ``value`` everywhere."""
    if _tracing.current() is None and math.prod(shape) <= _HOST_FILL_MAX:
        return jax.device_put(np.full(shape, value, dtype))  # a transfer, not a program
    return jnp.full(shape, value, dtype)


def full(
    size,
    fill_value,
    *,
    dtype=None,
    layout=None,
    device=None,
    requires_grad: bool = False,
    pin_memory: bool = False,
) -> Tensor:
    """A tensor of shape ``size`` filled with ``fill_value`` (dtype inferred from it if not given).

    The value is converted straight to ``dtype``: ``full((2,), 0.3, dtype=float64)`` holds 0.3."""
    _check_strided("full", layout, pin_memory)
    value = _scalar(fill_value, as_dtype(dtype) if dtype is not None else None)
    shape = _size_args((size,)) if not isinstance(size, int) else (size,)
    return _finish(_filled(shape, value, value.dtype), device, requires_grad)


def zeros(
    *sizes, size=None, dtype=None, layout=None, device=None, requires_grad: bool = False
) -> Tensor:
    """A tensor of zeros: ``zeros(2, 3)``, ``zeros((2, 3))`` or ``zeros(size=(2, 3))``."""
    _check_strided("zeros", layout)
    shape = _shape("zeros", sizes, size)
    return _finish(_filled(shape, 0, _float_dtype(dtype).np), device, requires_grad)


def ones(
    *sizes, size=None, dtype=None, layout=None, device=None, requires_grad: bool = False
) -> Tensor:
    """A tensor of ones: ``ones(2, 3)``, ``ones((2, 3))`` or ``ones(size=(2, 3))``."""
    _check_strided("ones", layout)
    shape = _shape("ones", sizes, size)
    return _finish(_filled(shape, 1, _float_dtype(dtype).np), device, requires_grad)


def empty(
    *sizes,
    size=None,
    dtype=None,
    layout=None,
    device=None,
    requires_grad: bool = False,
    pin_memory: bool = False,
    memory_format=None,
) -> Tensor:
    """An 'uninitialised' tensor; JAX has no such thing, so it is zeros."""
    _check_strided("empty", layout, pin_memory, memory_format)
    shape = _shape("empty", sizes, size)
    return _finish(_filled(shape, 0, _float_dtype(dtype).np), device, requires_grad)


def _like(t: Tensor, dtype, device):
    return (as_dtype(dtype) if dtype is not None else t.dtype), (
        device if device is not None else t.device
    )


def _named(fn, name: str, doc: str, qualname: str | None = None):
    """``fn``, made by one of the factories below, under its public name and docstring."""
    fn.__name__, fn.__qualname__, fn.__doc__ = name, qualname or name, doc
    return fn


def _filled_like(fn: str, t: Tensor, value, dtype, layout, device, requires_grad, memory_format):
    """``value`` in the shape of ``t``. Without ``device`` the result is placed like ``t`` (same
    device, or the same sharding over several), as PyTorch keeps a ``*_like`` on its input's device."""
    _check_strided(fn, layout, memory_format=memory_format)
    d = as_dtype(dtype) if dtype is not None else t.dtype
    value = _scalar(value, d)
    if device is None:
        a = t._storage._array
        if type(a) is Pending:  # lazy mode: no value to read (and nothing committed)
            return _finish(_filled(tuple(a.shape), value, d.np), None, requires_grad)
        array = jnp.full_like(a, value, d.np)
        return _tensor._finish(array, None, requires_grad)
    return _finish(_filled(tuple(t.shape), value, d.np), device, requires_grad)


def _constant_like(name: str, value, doc: str):
    """``zeros_like``, ``ones_like`` and ``empty_like``: one signature, a different value."""

    def like(
        input: Tensor,
        *,
        dtype=None,
        layout=None,
        device=None,
        requires_grad: bool = False,
        memory_format=None,
    ) -> Tensor:
        return _filled_like(name, input, value, dtype, layout, device, requires_grad, memory_format)

    return _named(like, name, doc)


zeros_like = _constant_like(
    "zeros_like", 0, "Zeros with the shape (and, unless given, dtype and device) of ``input``."
)
ones_like = _constant_like(
    "ones_like", 1, "Ones with the shape (and, unless given, dtype and device) of ``input``."
)
empty_like = _constant_like(
    "empty_like",
    0,
    "An 'uninitialised' tensor like ``input``; JAX has no such thing, so it is zeros.",
)


def full_like(
    input: Tensor,
    fill_value,
    *,
    dtype=None,
    layout=None,
    device=None,
    requires_grad: bool = False,
    memory_format=None,
) -> Tensor:
    """``fill_value`` everywhere, with the shape (and, unless given, dtype and device) of ``input``."""
    return _filled_like(
        "full_like", input, fill_value, dtype, layout, device, requires_grad, memory_format
    )


def arange(
    start=0,
    end=None,
    step=1,
    *,
    dtype=None,
    layout=None,
    device=None,
    requires_grad: bool = False,
) -> Tensor:
    """Values from ``start`` to ``end`` (exclusive) by ``step``; int64 unless any bound is a float.

    As PyTorch, each value is ``start + i * step`` computed in float64 (int64 for integer dtypes)
    and then rounded once to ``dtype``."""
    _check_strided("arange", layout)
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
    _no_bool("arange", dtype)
    if not dtype.is_floating_point:  # PyTorch converts the bounds to the integer type first
        start, end, step = math.trunc(start), math.trunc(end), math.trunc(step)
        if step == 0:  # PyTorch's error type when truncation made the step zero
            raise ValueError("step must be nonzero")
    n = max(0, math.ceil((end - start) / step))
    values = start + np.arange(n, dtype=np.float64 if dtype.is_floating_point else np.int64) * step
    return _finish(jnp.asarray(values, dtype.np), device, requires_grad)


def linspace(
    start,
    end,
    steps: int,
    *,
    dtype=None,
    layout=None,
    device=None,
    requires_grad: bool = False,
) -> Tensor:
    """``steps`` evenly spaced values from ``start`` to ``end`` inclusive.

    PyTorch's formula: with ``step = (end - start) / (steps - 1)``, the first half is
    ``start + i * step`` and the second ``end - (steps - 1 - i) * step``, so both ends are exact.
    It runs in ``dtype`` (float64 for integer dtypes, then truncated)."""
    _check_strided("linspace", layout)
    start, end = (x.item() if isinstance(x, Tensor) else x for x in (start, end))
    d = _float_dtype(dtype)
    _no_bool("linspace", d)
    if steps < 0:
        raise RuntimeError("linspace(): number of steps must be non-negative")
    # ``start`` and ``end`` are first converted to ``dtype`` (truncated for integers), then the
    # formula runs in ``dtype`` itself (float64 for integer dtypes).
    if d.is_floating_point:
        work = d.np.type
        with np.errstate(over="ignore"):
            first, last = work(start), work(end)
        if (math.isfinite(start) and not np.isfinite(first)) or (
            math.isfinite(end) and not np.isfinite(last)
        ):
            raise RuntimeError(f"value cannot be converted to type {d.name} without overflow")
    else:
        work = np.float64
        first, last = work(math.trunc(start)), work(math.trunc(end))
    i = np.arange(steps)
    if steps == 1:
        values = np.full(1, first, work)
    else:
        step = (last - first) / work(steps - 1)
        values = np.where(
            i < steps // 2,
            first + step * i.astype(work),
            last - step * (steps - 1 - i).astype(work),
        ).astype(work)
    return _finish(jnp.asarray(values.astype(d.np)), device, requires_grad)


def eye(
    n: int,
    m: int | None = None,
    *,
    dtype=None,
    layout=None,
    device=None,
    requires_grad: bool = False,
) -> Tensor:
    """An ``n x m`` identity matrix."""
    _check_strided("eye", layout)
    return _finish(jnp.eye(n, m, dtype=_float_dtype(dtype).np), device, requires_grad)


def _sampler(name: str, draw, host_draw, doc: str):
    """``rand`` and ``randn``: one signature, a different distribution (``draw`` on the device,
    ``host_draw`` from a numpy generator; see ``random.host_generator``)."""

    def sample(
        *sizes,
        size=None,
        generator=None,
        dtype=None,
        layout=None,
        device=None,
        requires_grad: bool = False,
        pin_memory: bool = False,
    ) -> Tensor:
        _check_strided(name, layout, pin_memory)
        shape = _shape(name, sizes, size)
        d = _random_float_dtype(name, dtype)
        key = _random.next_key(generator)
        rng = _random.host_generator(key, shape)
        if rng is None:
            array = draw(key, shape, d.np)
        else:  # numpy draws float32/float64; narrower floats are rounded from float32
            host = np.dtype(d.np) if d.np in (np.float32, np.float64) else np.float32
            array = jax.device_put(host_draw(rng, shape, host).astype(d.np))
        return _finish(array, device, requires_grad)

    return _named(sample, name, doc)


rand = _sampler(
    "rand",
    jax.random.uniform,
    lambda rng, shape, dtype: rng.random(shape, dtype),
    "Uniform samples on [0, 1) from tracegrad's global generator (see ``manual_seed``).",
)
randn = _sampler(
    "randn",
    jax.random.normal,
    lambda rng, shape, dtype: rng.standard_normal(shape, dtype),
    "Standard normal samples from tracegrad's global generator (see ``manual_seed``).",
)


def randint(
    low=0,
    high=None,
    size=None,
    *,
    generator=None,
    dtype=None,
    layout=None,
    device=None,
    requires_grad: bool = False,
) -> Tensor:
    """Integers uniform on [low, high): ``randint(high, size)`` or ``randint(low, high, size)``."""
    _check_strided("randint", layout)
    if size is None:
        if high is None:
            raise TypeError("randint() missing 1 required positional argument: 'size'")
        low, high, size = 0, low, high
    elif high is None:
        low, high = 0, low
    d = as_dtype(dtype) if dtype is not None else int64
    if d is bool_:
        raise RuntimeError("randint(): to - 1 is out of bounds for bool")
    shape = _size_args((size,))
    if low >= high:
        raise RuntimeError(
            f"random_ expects 'from' to be less than 'to', but got from={low} >= to={high}"
        )
    key = _random.next_key(generator)
    rng = _random.host_generator(key, shape)
    if rng is None:
        vals = jax.random.randint(key, shape, low, high, dtype=np.int64).astype(d.np)
    else:
        vals = jax.device_put(rng.integers(low, high, shape, np.int64).astype(d.np))
    return _finish(vals, device, requires_grad)


def randperm(
    n: int,
    *,
    generator=None,
    dtype=None,
    layout=None,
    device=None,
    requires_grad: bool = False,
    pin_memory: bool = False,
) -> Tensor:
    """A random permutation of ``0 .. n-1``."""
    _check_strided("randperm", layout, pin_memory)
    d = as_dtype(dtype) if dtype is not None else int64
    _no_bool("randperm", d)
    return _finish(
        jax.random.permutation(_random.next_key(generator), n).astype(d.np), device, requires_grad
    )


def normal(
    mean,
    std=1.0,
    size=None,
    *,
    generator=None,
    dtype=None,
    layout=None,
    device=None,
    requires_grad: bool = False,
    pin_memory: bool = False,
) -> Tensor:
    """Normal samples: ``normal(mean, std, size)`` with numbers, or with a tensor ``mean`` and/or
    ``std`` (broadcast together; the other may be a number) one draw per element. The draw carries
    no graph (PyTorch's gradient for it is zero)."""
    if isinstance(mean, Tensor) or isinstance(std, Tensor):
        if size is not None:
            raise TypeError(
                "normal(): with a tensor mean or std the shape comes from them; size is only for "
                "normal(float mean, float std, size)"
            )
        _check_strided("normal", layout, pin_memory)
        ref = mean if isinstance(mean, Tensor) else std
        m = mean._storage.array if isinstance(mean, Tensor) else mean
        s = std._storage.array if isinstance(std, Tensor) else std
        shape = jnp.broadcast_shapes(jnp.shape(m), jnp.shape(s))
        d = as_dtype(dtype) if dtype is not None else ref.dtype
        if not d.is_floating_point:
            raise NotImplementedError(f"\"normal\" not implemented for '{d}'")
        z = jax.random.normal(_random.next_key(generator), shape, d.np)
        return _finish((m + z * s).astype(d.np), device, requires_grad)
    if size is None:
        raise TypeError(
            f"normal() received an invalid combination of arguments - got ({type(mean).__name__}, "
            f"{type(std).__name__}), but expected one of: (Tensor mean, Tensor std), (Tensor mean, "
            "float std), (float mean, Tensor std), (float mean, float std, tuple of ints size)"
        )
    _check_strided("normal", layout, pin_memory)
    t = randn(*_size_args((size,)), generator=generator, dtype=dtype, device=device)
    return _tensor._finish(t._storage.array * std + mean, None, requires_grad)


def _sampler_like(name: str, sample, doc: str):
    """``rand_like`` and ``randn_like``: ``sample`` in the shape of ``input``."""

    def like(
        input: Tensor,
        *,
        generator=None,
        dtype=None,
        layout=None,
        device=None,
        requires_grad: bool = False,
        memory_format=None,
    ) -> Tensor:
        _check_strided(name, layout, memory_format=memory_format)
        d, dev = _like(input, dtype, device)
        return sample(
            *input.shape, generator=generator, dtype=d, device=dev, requires_grad=requires_grad
        )

    return _named(like, name, doc)


rand_like = _sampler_like(
    "rand_like",
    rand,
    "Uniform samples on [0, 1) with the shape (and, unless given, dtype and device) of ``input``.",
)
randn_like = _sampler_like(
    "randn_like",
    randn,
    "Standard normal samples with the shape (and, unless given, dtype and device) of ``input``.",
)


def randint_like(
    input: Tensor,
    low=0,
    high=None,
    *,
    generator=None,
    dtype=None,
    layout=None,
    device=None,
    requires_grad: bool = False,
    memory_format=None,
) -> Tensor:
    """Integers uniform on [low, high) with the shape of ``input``; ``randint_like(x, high)``."""
    _check_strided("randint_like", layout, memory_format=memory_format)
    if high is None:
        low, high = 0, low
    d, dev = _like(input, dtype, device)
    return randint(
        low,
        high,
        tuple(input.shape),
        generator=generator,
        dtype=d,
        device=dev,
        requires_grad=requires_grad,
    )


def from_numpy(array: np.ndarray) -> Tensor:
    """A tensor from a numpy array, keeping its dtype (JAX copies it; numpy writes don't show)."""
    if not isinstance(array, np.ndarray):
        raise TypeError(f"expected np.ndarray (got {type(array).__name__})")
    return Tensor._wrap(as_array(array))


def as_tensor(data, dtype=None, device=None) -> Tensor:
    """Like ``tensor`` but returns ``data`` itself when it is already a tensor of that dtype/device
    (Python data is converted straight to ``dtype``, as ``tensor`` does)."""
    if (
        isinstance(data, Tensor)
        and (dtype is None or as_dtype(dtype) == data.dtype)
        and device is None
    ):
        return data
    return tensor(data, dtype=dtype, device=device)


# ---------------------------------------------------------------------- x.new_tensor, x.new_zeros, ...
@expose
def new_tensor(self, data, dtype=None, device=None, requires_grad=False) -> Tensor:
    """A tensor of ``data`` with this tensor's dtype and device unless given (Python numbers are
    converted straight to that dtype)."""
    return tensor(
        data, dtype=dtype or self.dtype, device=device or self.device, requires_grad=requires_grad
    )


def _new_filled(self, fn, shape, value, dtype, device, requires_grad, layout, pin_memory):
    check_layout(fn, layout)
    check_pin_memory(fn, pin_memory)
    return full(
        shape,
        value,
        dtype=dtype or self.dtype,
        device=device or self.device,
        requires_grad=requires_grad,
    )


def _new_constant(name: str, value, doc: str) -> None:
    """Declare ``x.new_zeros(*sizes, size=None, ...)`` and its siblings, which differ in the value."""

    def method(
        self,
        *sizes,
        size=None,
        dtype=None,
        device=None,
        requires_grad=False,
        layout=None,
        pin_memory=False,
    ) -> Tensor:
        shape = _shape(name, sizes, size)
        return _new_filled(
            self, name, shape, value, dtype, device, requires_grad, layout, pin_memory
        )

    expose(_named(method, name, doc, qualname=f"Tensor.{name}"))


_new_constant(
    "new_zeros", 0, "Zeros of shape ``size``, with this tensor's dtype and device unless given."
)
_new_constant(
    "new_ones", 1, "Ones of shape ``size``, with this tensor's dtype and device unless given."
)
_new_constant(
    "new_empty", 0, "An 'uninitialised' (zero) tensor of shape ``size``, like ``new_zeros``."
)


@expose
def new_full(
    self,
    size,
    fill_value,
    dtype=None,
    device=None,
    requires_grad=False,
    layout=None,
    pin_memory=False,
) -> Tensor:
    """``fill_value`` in shape ``size``, with this tensor's dtype and device unless given."""
    shape = _shape("new_full", (size,), None)
    return _new_filled(
        self, "new_full", shape, fill_value, dtype, device, requires_grad, layout, pin_memory
    )


@expose
def new_empty_strided(
    self,
    size,
    stride,
    dtype=None,
    device=None,
    requires_grad=False,
    layout=None,
    pin_memory=False,
) -> Tensor:
    """``empty_strided(size, stride)`` with this tensor's dtype and device unless given: zeros,
    reporting contiguous strides (JAX arrays have none of their own)."""
    return empty_strided(
        size,
        stride,
        dtype=dtype or self.dtype,
        layout=layout,
        device=device or self.device,
        requires_grad=requires_grad,
        pin_memory=pin_memory,
    )


# ------------------------------------------------------------------ logspace, range, scalar_tensor
def logspace(
    start,
    end,
    steps: int,
    base: float = 10.0,
    *,
    dtype=None,
    layout=None,
    device=None,
    requires_grad: bool = False,
) -> Tensor:
    """``steps`` values ``base ** e`` for exponents evenly spaced from ``start`` to ``end``.

    PyTorch's formula: ``start`` and ``end`` are first converted to ``dtype``, the exponent step is
    computed in float64, the first half of the exponents count up from ``start`` and the second
    down from ``end``; integer dtypes truncate the powers (taken of ``base`` as a float32)."""
    _check_strided("logspace", layout)
    start, end = (x.item() if isinstance(x, Tensor) else x for x in (start, end))
    d = _float_dtype(dtype)
    _no_bool("logspace", d)
    if steps < 0:
        raise RuntimeError("number of steps must be non-negative")
    if steps == 1:
        values = np.array([np.power(float(base), float(start))])
    else:
        if d.is_floating_point:
            first, last = float(d.np.type(start)), float(d.np.type(end))
            b = float(base)
        else:
            first, last = float(math.trunc(start)), float(math.trunc(end))
            b = float(np.float32(base))
        i = np.arange(steps)
        step = (last - first) / (steps - 1) if steps > 1 else 0.0
        exponent = np.where(i < steps // 2, first + step * i, last - step * (steps - 1 - i))
        values = np.power(b, exponent)
    if not d.is_floating_point:
        values = np.trunc(values)
    return _finish(jnp.asarray(values.astype(d.np)), device, requires_grad)


_RANGE_WARNING = (
    "torch.range is deprecated and will be removed in a future release because its behavior is "
    "inconsistent with Python's range builtin. Instead, use torch.arange, which produces values in "
    "[start, end)."
)


def _range(
    start,
    end,
    step=1,
    *,
    dtype=None,
    layout=None,
    device=None,
    requires_grad: bool = False,
) -> Tensor:
    """Deprecated, as in PyTorch (it warns): values from ``start`` to ``end`` *inclusive* by
    ``step``, in the default float dtype unless ``dtype`` is given. Use ``arange``.

    As PyTorch, the count is ``floor((end - start) / step) + 1`` and each value is
    ``start + i * step`` computed in float64 (float32 for half types, int64 for integer dtypes)."""
    warnings.warn(_RANGE_WARNING, UserWarning, stacklevel=2)
    _check_strided("range", layout)
    start, end, step = (x.item() if isinstance(x, Tensor) else x for x in (start, end, step))
    d = _float_dtype(dtype)
    _no_bool("range", d)
    if d.is_floating_point:
        acc = np.float32 if d.itemsize == 2 else np.float64
    else:
        acc = np.int64
    xstart, xend, xstep = (acc(math.trunc(v) if acc is np.int64 else v) for v in (start, end, step))
    if xstep == 0:
        raise RuntimeError("step must be nonzero")
    if not (np.isfinite(float(xstart)) and np.isfinite(float(xend))):
        raise RuntimeError(f"unsupported range: {_num(xstart)} -> {_num(xend)}")
    if not ((xstep > 0 and xend >= xstart) or (xstep < 0 and xend <= xstart)):
        raise RuntimeError("upper bound and lower bound inconsistent with step sign")
    n = int((xend - xstart) / xstep) + 1
    values = xstart + np.arange(n).astype(acc) * xstep
    return _finish(jnp.asarray(values.astype(d.np)), device, requires_grad)


def _num(v) -> str:
    v = float(v)
    return str(int(v)) if v.is_integer() else str(v)


_range.__name__ = _range.__qualname__ = "range"
range = _range  # noqa: A001 - PyTorch's name (nothing in this module calls the builtin)


def scalar_tensor(
    s,
    *,
    dtype=None,
    layout=None,
    device=None,
    requires_grad: bool = False,
    pin_memory: bool = False,
) -> Tensor:
    """A 0-d tensor holding ``s``, in the default float dtype unless ``dtype`` is given."""
    _check_strided("scalar_tensor", layout, pin_memory)
    d = _float_dtype(dtype)
    return _finish(jnp.asarray(_scalar(s, d), d.np), device, requires_grad)


# ---------------------------------------------------------------------------- asarray, frombuffer
def asarray(
    obj,
    *,
    dtype=None,
    device=None,
    copy: bool | None = None,
    requires_grad: bool = False,
) -> Tensor:
    """``obj`` as a tensor, as ``torch.asarray``: a tensor of the requested dtype and device is
    returned itself (``copy=True`` clones it; a dtype or device change converts it, and
    ``copy=False`` then raises ``ValueError``), keeping its graph; other data is converted as
    ``tensor`` does, numpy arrays keeping their dtype.

    Difference from PyTorch: JAX arrays cannot alias numpy or buffer memory, so a numpy array is
    always copied (later writes to it do not show); ``copy=False`` for one raises
    ``NotImplementedError`` rather than pretend to share it."""
    if isinstance(obj, Tensor):
        d = as_dtype(dtype) if dtype is not None else obj.dtype
        dev = Device(device) if device is not None else obj.device
        if copy is False and d is not obj.dtype:
            raise ValueError(
                f"can't alias tensor with dtype '{scalar_type_name(obj.dtype)}' into dtype "
                f"'{scalar_type_name(d)}'."
            )
        if copy is False and dev != obj.device:
            raise ValueError(f"can't alias tensor on device '{obj.device}' into device '{dev}'.")
        if d is not obj.dtype or dev != obj.device:
            result = obj.to(device=dev, dtype=d)
        elif copy:
            result = obj.clone()
        else:
            result = obj
    else:
        if copy is False:
            if isinstance(obj, jax.Array) and (dtype is None or as_dtype(dtype).np == obj.dtype):
                return _finish(obj, device, False).requires_grad_(requires_grad)
            if isinstance(obj, (list, tuple)) or not hasattr(obj, "__array__"):
                raise ValueError("can't alias arbitrary sequence into a tensor.")
            raise NotImplementedError(
                "asarray(copy=False): tracegrad cannot share memory with a numpy array or buffer "
                "(JAX copies it); pass copy=None to copy it, or keep the data in a tensor"
            )
        result = tensor(obj, dtype=dtype, device=device)
    if requires_grad:
        result.requires_grad_(True)
    return result


def frombuffer(
    buffer, *, dtype, count: int = -1, offset: int = 0, requires_grad: bool = False
) -> Tensor:
    """A 1-d tensor of ``count`` values of ``dtype`` read from a buffer-protocol object, from byte
    ``offset`` (``count=-1``: to the end). JAX copies the bytes, so later writes to the buffer do
    not show (in PyTorch the tensor shares them)."""
    d = as_dtype(dtype)
    size = len(memoryview(buffer).cast("B"))
    item = d.itemsize
    if size == 0 or count == 0:
        raise ValueError(f"both buffer length ({size}) and count ({count}) must not be 0")
    if offset < 0 or offset >= size:
        raise ValueError(
            f"offset ({offset} bytes) must be non-negative and no greater than buffer length "
            f"({size} bytes) minus 1"
        )
    if count < 0:
        if (size - offset) % item:
            raise ValueError(
                f"buffer length ({size - offset} bytes) after offset ({offset} bytes) must be a "
                f"multiple of element size ({item})"
            )
        count = (size - offset) // item
    elif count * item > size - offset:
        raise ValueError(
            f"requested buffer length ({count} * {item} bytes) after offset ({offset} bytes) must "
            f"not be greater than actual buffer length ({size} bytes)"
        )
    values = np.frombuffer(buffer, dtype=d.np, count=count, offset=offset)
    return _finish(jnp.asarray(values.copy()), None, requires_grad)


# ------------------------------------------------------------------- empty_strided, empty_permuted
def empty_strided(
    size,
    stride,
    *,
    dtype=None,
    layout=None,
    device=None,
    requires_grad: bool = False,
    pin_memory: bool = False,
) -> Tensor:
    """An 'uninitialised' (zero) tensor of shape ``size``. JAX arrays have no strides: the values
    are what any ``stride`` would hold, and ``stride()`` reports the contiguous strides."""
    _check_strided("empty_strided", layout, pin_memory)
    shape, strides = _size_args((size,)), _size_args((stride,))
    if len(shape) != len(strides):
        raise RuntimeError(
            f"dimensionality of sizes ({len(shape)}) must match dimensionality of strides "
            f"({len(strides)})"
        )
    return zeros(shape, dtype=dtype, device=device, requires_grad=requires_grad)


def empty_permuted(
    size,
    physical_layout,
    *,
    dtype=None,
    layout=None,
    device=None,
    requires_grad: bool = False,
    pin_memory: bool = False,
) -> Tensor:
    """An 'uninitialised' (zero) tensor of shape ``size``; ``physical_layout`` (a permutation of
    the dimensions) is checked as PyTorch does, but XLA chooses memory layouts itself."""
    _check_strided("empty_permuted", layout, pin_memory)
    shape, perm = _size_args((size,)), _size_args((physical_layout,))
    if len(shape) != len(perm):
        raise RuntimeError(
            "Number of dimensions in size does not match the length of the physical_layout; "
            f"i.e. len(size) = {len(shape)} is not equal to len(physical_layout) = {len(perm)}"
        )
    seen = set()
    for i, p in enumerate(perm):
        if not 0 <= p < len(shape):
            raise RuntimeError(
                f"Dimension out of range (expected to be between 0 and {len(shape) - 1}, but got "
                f"{p} at index {i}).  NB: negative dims not currently supported; file an issue if "
                "you want it."
            )
        if p in seen:
            raise RuntimeError("Duplicate dim not allowed")
        seen.add(p)
    return zeros(shape, dtype=dtype, device=device, requires_grad=requires_grad)


# ---------------------------------------------------------------------- tril_indices, triu_indices
def _tri_indices(name: str, which, row: int, col: int, offset: int, dtype, layout, device):
    _check_strided(name, layout)
    d = as_dtype(dtype) if dtype is not None else int64
    if d not in (int64, int32):
        raise NotImplementedError(f"\"{name}\" not implemented for '{scalar_type_name(d)}'")
    if row < 0:
        raise RuntimeError(f"row must be non-negative, got{row}")
    if col < 0:
        raise RuntimeError(f"col must be non-negative, got{col}")
    rows, cols = which(row, offset, col)
    return _finish(jnp.asarray(np.stack([rows, cols]).astype(d.np)).reshape(2, -1), device, False)


def tril_indices(
    row: int, col: int, offset: int = 0, *, dtype=None, device=None, layout=None
) -> Tensor:
    """The (2, N) coordinates of the lower triangle of a ``row x col`` matrix (on and below the
    ``offset`` diagonal), row by row; int64 unless ``dtype`` is int32."""
    return _tri_indices("tril_indices", np.tril_indices, row, col, offset, dtype, layout, device)


def triu_indices(
    row: int, col: int, offset: int = 0, *, dtype=None, device=None, layout=None
) -> Tensor:
    """The (2, N) coordinates of the upper triangle of a ``row x col`` matrix (on and above the
    ``offset`` diagonal), row by row; int64 unless ``dtype`` is int32."""
    return _tri_indices("triu_indices", np.triu_indices, row, col, offset, dtype, layout, device)


del float32
