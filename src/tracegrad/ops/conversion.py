"""Dtype/device conversion and copies: ``to`` (and ``float()``, ``cuda()``, ...), ``clone``."""

from __future__ import annotations

import jax

from .. import _dtype
from .._device import _NO_ACCELERATOR, accelerator_type, device_of
from .._device import device as Device
from .._dtype import as_dtype
from .._layout import check_memory_format
from .._legacy import _TensorType
from .._surface import expose
from ..tensor import Tensor
from .registry import defop

__all__ = ["clone"]


# The engine casts every gradient back to its input's dtype, so the rule passes ``g`` through;
# moving devices is undone by moving the gradient back to ``source``, the input's device.
@defop("ToCopyBackward0", saves=())
def to_copy(a, *, dtype, device, source=None):
    if dtype is not None:
        if a.dtype.kind == "c" and not dtype.is_complex:
            a = a.real  # PyTorch keeps the real part (JAX refuses the direct cast)
        a = a.astype(dtype.np)
    if device is not None:
        a = jax.device_put(a, device.jax_device())
    return a


@to_copy.vjp
def _(g, out, a, *, dtype, device, source=None):
    if device is None:
        return (g,)
    return (g.to(source if source is not None else a.device),)


@defop("CloneBackward0", saves=())
def _clone(a):
    return a.copy()


@_clone.vjp
def _(g, out, a):
    return (g,)


@expose
def clone(input: Tensor, *, memory_format=None) -> Tensor:
    """A copy of ``input`` that is recorded (gradients flow back to ``input``)."""
    if memory_format is not None:
        check_memory_format("clone", memory_format)
    return _clone(input)


# ------------------------------------------------------------------ Tensor.to and its shorthands
_TYPE_NAMES = {name: f"{scalar}Tensor" for name, scalar in _dtype._SCALAR_NAMES.items()}


def _same_device(dev: Device, t: Tensor) -> bool:
    """Whether ``t`` already is where ``dev`` would place it (``cuda`` means the current GPU)."""
    if dev.type not in ("cpu", "cuda", "tpu", "xla"):
        dev.jax_device()  # raises, as PyTorch does for a device type it cannot use
    cur = t.device
    if dev.type != cur.type and dev.type != "xla":
        return False
    return dev.jax_device() == _jax_device_of(t)


def _jax_device_of(t: Tensor):
    a = t._storage.array
    d = getattr(getattr(a, "sharding", None), "_device", None)
    return d if d is not None else t.device.jax_device()


def to_args(args: tuple, dtype, device) -> tuple:
    """The ``(dtype, device)`` that ``to(*args, dtype=, device=)`` asks for (either may be None):
    ``to(dtype)``, ``to(device)`` (a string, a ``device`` or a CUDA index), ``to(device, dtype)``,
    ``to(other_tensor)``. Shared by ``Tensor.to`` and ``nn.Module.to``."""
    for a in args:
        if isinstance(a, Tensor):
            dtype, device = a.dtype, a.device
        elif isinstance(a, (str, Device)):
            device = a
        elif isinstance(a, int) and not isinstance(a, bool):
            device = Device("cuda", a)
        elif a is not None:
            dtype = a
    return dtype, device


@expose
def to(
    self,
    *args,
    dtype=None,
    device=None,
    non_blocking: bool = False,
    copy: bool = False,
    memory_format=None,
) -> Tensor:
    """Convert dtype and/or device: ``to(dtype)``, ``to(device)``, ``to(device, dtype)``,
    ``to(other)``; returns ``self`` when nothing changes (unless ``copy=True``).

    ``non_blocking`` is accepted (JAX transfers are asynchronous anyway); ``memory_format``
    other than ``contiguous_format``/``preserve_format`` raises ``NotImplementedError``."""
    check_memory_format("to", memory_format)
    dtype_, device_ = to_args(args, dtype, device)
    d = as_dtype(dtype_) if dtype_ is not None else None
    dev = Device(device_) if device_ is not None else None
    if not copy and (d is None or d == self.dtype) and (dev is None or _same_device(dev, self)):
        return self
    if dev is None:
        return to_copy(self, dtype=d, device=None)
    return to_copy(self, dtype=d, device=dev, source=device_of(self._storage.array))


@expose(methods=("type",))
def _type(self, dtype_=None, non_blocking: bool = False):
    """With no argument, the type name (``'tracegrad.FloatTensor'``); otherwise ``to`` that type:
    a dtype, a legacy type (``tracegrad.LongTensor``) or its name (``'torch.LongTensor'``)."""
    if dtype_ is None:
        return f"tracegrad.{_TYPE_NAMES.get(self.dtype.name, self.dtype.name)}"
    if isinstance(dtype_, str) and dtype_.endswith("Tensor"):
        name = dtype_.rsplit(".", 1)[-1]
        names = {v: k for k, v in _TYPE_NAMES.items()}
        if name not in names:
            raise ValueError(f"invalid type: '{dtype_}'")
        dtype_ = names[name]
    elif isinstance(dtype_, _TensorType):
        dtype_ = dtype_.dtype
    return self.to(as_dtype(dtype_), non_blocking=non_blocking)


@expose
def type_as(self, other: Tensor) -> Tensor:
    """``self`` converted to ``other``'s dtype (``self`` itself when it already has it), as
    ``torch.Tensor.type_as``; recorded like ``to``, so gradients flow back cast to ``self``'s
    dtype."""
    if not isinstance(other, Tensor):
        raise TypeError(
            f"type_as(): argument 'other' (position 1) must be Tensor, not {type(other).__name__}"
        )
    return self.to(other.dtype)


# x.float(), x.long(), ...: each is x.to(that dtype).
_SHORTHANDS = {
    "float": _dtype.float32,
    "double": _dtype.float64,
    "half": _dtype.float16,
    "bfloat16": _dtype.bfloat16,
    "long": _dtype.int64,
    "int": _dtype.int32,
    "short": _dtype.int16,
    "bool": _dtype.bool_,
    "byte": _dtype.uint8,
    "char": _dtype.int8,
}


def _shorthand(name: str, dtype) -> None:
    def method(self, memory_format=None) -> Tensor:
        return self.to(dtype, memory_format=memory_format)

    method.__name__, method.__qualname__ = name, f"Tensor.{name}"
    method.__doc__ = f"``self.to({dtype})``."
    expose(method)


for _name, _target in _SHORTHANDS.items():
    _shorthand(_name, _target)


@expose
def cpu(self, memory_format=None) -> Tensor:
    """This tensor on the CPU (``self`` when it is there already)."""
    return self.to("cpu", memory_format=memory_format)


@expose
def cuda(self, device=None, non_blocking: bool = False, memory_format=None) -> Tensor:
    """This tensor on a GPU: the current one, or ``device`` (an index, a string or a
    ``device``). Without a GPU in JAX it raises ``AssertionError``, as PyTorch's CPU build."""
    if isinstance(device, int) and accelerator_type() is None:  # PyTorch's error for an index
        raise RuntimeError(
            f"{_NO_ACCELERATOR} (tracegrad: JAX sees no GPU; install JAX with CUDA support, "
            "pip install -U \"jax[cuda12]\", or keep tensors on device='cpu')"
        )
    if device is None or isinstance(device, int):
        dev = Device("cuda", device)
    else:
        dev = Device(device)
        if dev.type != "cuda":
            raise RuntimeError(f"Invalid device, must be cuda device (got {dev})")
    return self.to(dev, non_blocking=non_blocking, memory_format=memory_format)
