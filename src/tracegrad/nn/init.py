"""``tracegrad.nn.init``: in-place weight initialisation, as ``torch.nn.init``.

Every function fills its tensor in place under ``no_grad`` (so it works on parameters that require
grad), bumps its version and returns it. Random draws come from tracegrad's global generator
(``tracegrad.manual_seed``), or from ``generator`` (a ``tracegrad.Generator``) when one is given.
"""

from __future__ import annotations

import math
import warnings
from functools import partial

import jax
import jax.numpy as jnp
import numpy as np

from ..autograd.grad_mode import no_grad
from ..random import host_generator, next_key
from ..tensor import Tensor

__all__ = [
    "calculate_gain",
    "uniform_",
    "normal_",
    "trunc_normal_",
    "constant_",
    "ones_",
    "zeros_",
    "eye_",
    "dirac_",
    "xavier_uniform_",
    "xavier_normal_",
    "kaiming_uniform_",
    "kaiming_normal_",
    "orthogonal_",
]


def _write(tensor: Tensor, array) -> Tensor:
    """Make ``tensor`` hold ``array`` (cast to its dtype, moved to its device), in place."""
    with no_grad():
        return tensor.copy_(Tensor._wrap(array))


def _draw_dtype(tensor: Tensor):
    # Draw half-precision values in float32 (then round): jax.random's low-precision samplers are
    # coarser than a rounded float32 draw, which is what PyTorch's CPU kernels produce.
    return jnp.float64 if tensor.dtype.np == np.float64 else jnp.float32


def _check_float(tensor: Tensor, fn: str) -> None:
    if not isinstance(tensor, Tensor):
        raise TypeError(f"{fn}(): argument 'tensor' must be Tensor, not {type(tensor).__name__}")
    if not tensor.dtype.is_floating_point:
        raise RuntimeError(f"\"{fn}\" not implemented for '{tensor.dtype}'")


def calculate_gain(nonlinearity: str, param: float | None = None) -> float:
    """The recommended gain for ``nonlinearity`` (PyTorch's table): 1 for linear, conv and
    sigmoid, 5/3 for tanh, sqrt(2) for relu, sqrt(2 / (1 + slope^2)) for leaky_relu (``param`` is
    the slope, default 0.01) and 3/4 for selu."""
    linear_fns = [
        "linear",
        "conv1d",
        "conv2d",
        "conv3d",
        "conv_transpose1d",
        "conv_transpose2d",
        "conv_transpose3d",
    ]
    if nonlinearity in linear_fns or nonlinearity == "sigmoid":
        return 1
    if nonlinearity == "tanh":
        return 5.0 / 3
    if nonlinearity == "relu":
        return math.sqrt(2.0)
    if nonlinearity == "leaky_relu":
        if param is None:
            negative_slope = 0.01
        elif not isinstance(param, bool) and isinstance(param, (int, float)):
            negative_slope = param
        else:
            raise ValueError(f"negative_slope {param} not a valid number")
        return math.sqrt(2.0 / (1 + negative_slope**2))
    if nonlinearity == "selu":
        return 3.0 / 4
    raise ValueError(f"Unsupported nonlinearity {nonlinearity}")


def _calculate_fan_in_and_fan_out(tensor: Tensor) -> tuple[int, int]:
    """``(fan_in, fan_out)`` of a weight laid out as PyTorch's: ``(out, in, *kernel)``."""
    if tensor.dim() < 2:
        raise ValueError(
            "Fan in and fan out can not be computed for tensor with fewer than 2 dimensions"
        )
    receptive = 1
    for s in tensor.shape[2:]:
        receptive *= s
    return tensor.size(1) * receptive, tensor.size(0) * receptive


def _calculate_correct_fan(tensor: Tensor, mode: str) -> int:
    mode = mode.lower()
    valid = ["fan_in", "fan_out"]
    if mode not in valid:
        raise ValueError(f"Mode {mode} not supported, please use one of {valid}")
    fan_in, fan_out = _calculate_fan_in_and_fan_out(tensor)
    return fan_in if mode == "fan_in" else fan_out


# Initialisers draw on the host (``random.host_generator``) and transfer the result: building a
# model meets many shapes, and a device draw compiles a program for each.
def _draw_plan(tensor: Tensor, fn: str, generator) -> tuple:
    """``(shape, dtype, key, rng)`` for a draw into ``tensor`` (checked to be floating): the key
    is the stream's next, ``rng`` its host generator or None (see ``random.host_generator``)."""
    _check_float(tensor, fn)
    shape, dtype = tuple(tensor.shape), _draw_dtype(tensor)
    key = next_key(generator)
    return shape, dtype, key, host_generator(key, shape)


def _to_device(array: np.ndarray):
    return jax.device_put(array)  # a transfer: no program to compile


def uniform_(tensor: Tensor, a: float = 0.0, b: float = 1.0, generator=None) -> Tensor:
    """Fill ``tensor`` with draws from U(a, b)."""
    shape, dtype, key, rng = _draw_plan(tensor, "uniform_", generator)
    if rng is None:
        return _write(tensor, jax.random.uniform(key, shape, dtype, minval=a, maxval=b))
    d = np.dtype(dtype)
    u = rng.random(shape, dtype=d) * d.type(b - a) + d.type(a)
    return _write(tensor, _to_device(np.maximum(u, d.type(a))))


# Device draws: a draw and its scaling as one program per shape (three, op by op). mean, std and
# the bounds are inputs, not constants.
@partial(jax.jit, static_argnames=("shape", "dtype"))
def _normal_draw(key, mean, std, *, shape, dtype):
    return jax.random.normal(key, shape, dtype) * std + mean


@partial(jax.jit, static_argnames=("shape", "dtype"))
def _trunc_normal_draw(key, mean, std, a, b, *, shape, dtype):
    z = jax.random.truncated_normal(key, (a - mean) / std, (b - mean) / std, shape, dtype)
    return jnp.clip(z * std + mean, a, b)


def normal_(tensor: Tensor, mean: float = 0.0, std: float = 1.0, generator=None) -> Tensor:
    """Fill ``tensor`` with draws from N(mean, std^2)."""
    shape, dtype, key, rng = _draw_plan(tensor, "normal_", generator)
    if rng is None:
        return _write(tensor, _normal_draw(key, mean, std, shape=shape, dtype=dtype))
    d = np.dtype(dtype)
    z = rng.standard_normal(shape, dtype=d) * d.type(std) + d.type(mean)
    return _write(tensor, _to_device(z))


def trunc_normal_(
    tensor: Tensor,
    mean: float = 0.0,
    std: float = 1.0,
    a: float = -2.0,
    b: float = 2.0,
    generator=None,
) -> Tensor:
    """Fill ``tensor`` with draws from N(mean, std^2) truncated to [a, b] (a and b are absolute
    bounds, as in PyTorch)."""
    _check_float(tensor, "trunc_normal_")
    shape, dtype = tuple(tensor.shape), _draw_dtype(tensor)
    z = _trunc_normal_draw(next_key(generator), mean, std, a, b, shape=shape, dtype=dtype)
    return _write(tensor, z)


def constant_(tensor: Tensor, val: float) -> Tensor:
    """Fill ``tensor`` with ``val``."""
    with no_grad():
        return tensor.fill_(val)


def ones_(tensor: Tensor) -> Tensor:
    """Fill ``tensor`` with ones."""
    return constant_(tensor, 1.0)


def zeros_(tensor: Tensor) -> Tensor:
    """Fill ``tensor`` with zeros."""
    with no_grad():
        return tensor.zero_()


def eye_(tensor: Tensor) -> Tensor:
    """Fill a 2-D ``tensor`` with the identity matrix (ones on the diagonal)."""
    if tensor.ndim != 2:
        raise ValueError("Only tensors with 2 dimensions are supported")
    return _write(tensor, jnp.eye(*tensor.shape, dtype=tensor.dtype.np))


def dirac_(tensor: Tensor, groups: int = 1) -> Tensor:
    """Fill a 3-, 4- or 5-D convolution weight with the Dirac delta (the convolution keeps its
    input's channels), in ``groups`` groups."""
    dims = tensor.ndim
    if dims not in (3, 4, 5):
        raise ValueError("Only tensors with 3, 4, or 5 dimensions are supported")
    sizes = tuple(tensor.shape)
    if sizes[0] % groups != 0:
        raise ValueError("dim 0 must be divisible by groups")
    out_per_group = sizes[0] // groups
    min_dim = min(out_per_group, sizes[1])
    w = np.zeros(sizes, dtype=np.float64)
    centre = tuple(s // 2 for s in sizes[2:])
    for g in range(groups):
        for d in range(min_dim):
            w[(g * out_per_group + d, d, *centre)] = 1
    return _write(tensor, jnp.asarray(w))


def xavier_uniform_(tensor: Tensor, gain: float = 1.0, generator=None) -> Tensor:
    """Glorot uniform: U(-a, a) with a = gain * sqrt(6 / (fan_in + fan_out))."""
    fan_in, fan_out = _calculate_fan_in_and_fan_out(tensor)
    std = gain * math.sqrt(2.0 / float(fan_in + fan_out))
    a = math.sqrt(3.0) * std
    return uniform_(tensor, -a, a, generator)


def xavier_normal_(tensor: Tensor, gain: float = 1.0, generator=None) -> Tensor:
    """Glorot normal: N(0, std^2) with std = gain * sqrt(2 / (fan_in + fan_out))."""
    fan_in, fan_out = _calculate_fan_in_and_fan_out(tensor)
    std = gain * math.sqrt(2.0 / float(fan_in + fan_out))
    return normal_(tensor, 0.0, std, generator)


def _kaiming_std(tensor: Tensor, a, mode, nonlinearity) -> float | None:
    if 0 in tuple(tensor.shape):
        warnings.warn("Initializing zero-element tensors is a no-op", stacklevel=3)
        return None
    fan = _calculate_correct_fan(tensor, mode)
    return calculate_gain(nonlinearity, a) / math.sqrt(fan)


def kaiming_uniform_(
    tensor: Tensor,
    a: float = 0,
    mode: str = "fan_in",
    nonlinearity: str = "leaky_relu",
    generator=None,
) -> Tensor:
    """He uniform: U(-bound, bound) with bound = gain * sqrt(3 / fan) (``mode`` picks fan_in or
    fan_out; ``a`` is the leaky_relu slope used by the gain). ``Linear`` and ``Conv`` use
    ``a=sqrt(5)``, which gives bound = 1 / sqrt(fan_in)."""
    std = _kaiming_std(tensor, a, mode, nonlinearity)
    if std is None:
        return tensor
    bound = math.sqrt(3.0) * std
    return uniform_(tensor, -bound, bound, generator)


def kaiming_normal_(
    tensor: Tensor,
    a: float = 0,
    mode: str = "fan_in",
    nonlinearity: str = "leaky_relu",
    generator=None,
) -> Tensor:
    """He normal: N(0, std^2) with std = gain / sqrt(fan)."""
    std = _kaiming_std(tensor, a, mode, nonlinearity)
    if std is None:
        return tensor
    return normal_(tensor, 0.0, std, generator)


def orthogonal_(tensor: Tensor, gain: float = 1.0, generator=None) -> Tensor:
    """Fill ``tensor`` (viewed as rows = dim 0, cols = the rest) with a (semi-)orthogonal matrix
    times ``gain``: the Q of the QR decomposition of a standard normal matrix, with Q's column
    signs fixed by sign(diag(R)) so the result is uniformly (Haar) distributed, as PyTorch."""
    if tensor.ndim < 2:
        raise ValueError("Only tensors with 2 or more dimensions are supported")
    if tensor.numel() == 0:
        return tensor
    rows = tensor.size(0)
    cols = tensor.numel() // rows
    flat = jax.random.normal(next_key(generator), (rows, cols), _draw_dtype(tensor))
    if rows < cols:
        flat = flat.T
    q, r = jnp.linalg.qr(flat)
    q = q * jnp.sign(jnp.diagonal(r))
    if rows < cols:
        q = q.T
    return _write(tensor, (q * gain).reshape(tuple(tensor.shape)))


# PyTorch's deprecated non-underscore aliases
uniform = uniform_
normal = normal_
constant = constant_
xavier_uniform = xavier_uniform_
xavier_normal = xavier_normal_
kaiming_uniform = kaiming_uniform_
kaiming_normal = kaiming_normal_
orthogonal = orthogonal_
