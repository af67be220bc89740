"""PyTorch's legacy tensor types: ``FloatTensor``, ``LongTensor``, ``ByteTensor``, ...

Each is a constructor of a fixed dtype (``LongTensor([1, 2])``, ``FloatTensor(2, 3)``,
``FloatTensor()``), a type for ``isinstance`` checks (``isinstance(x, FloatTensor)`` is
``x.dtype == float32``) and an annotation. As in PyTorch they are not subclasses of ``Tensor``: what
they construct is a plain ``Tensor``.

PyTorch's ``FloatTensor`` matches CPU tensors only (a CUDA one is a ``torch.cuda.FloatTensor``);
tracegrad has no ``cuda`` tensor types, so these match by dtype on any device (see
docs/tensors.md).
"""

from __future__ import annotations

import warnings

import jax

from . import _dtype
from ._device import device as Device
from ._surface import expose
from .tensor import Tensor, legacy_array

__all__ = [
    "BFloat16Tensor",
    "BoolTensor",
    "ByteTensor",
    "CharTensor",
    "DoubleTensor",
    "FloatTensor",
    "HalfTensor",
    "IntTensor",
    "LongTensor",
    "ShortTensor",
    "TYPES",
    "set_default_tensor_type",
    "typename",
]


class _TensorType(type):
    """The metaclass of the legacy types (PyTorch's ``torch.tensortype``): calling one builds a
    ``Tensor`` of its dtype, and ``isinstance`` asks the tensor's dtype."""

    dtype: _dtype.dtype

    def __call__(cls, *args, device=None):
        if len(args) == 1 and isinstance(args[0], Tensor):
            source = args[0]
            if source.dtype is not cls.dtype:
                raise TypeError(
                    f"expected TensorOptions(dtype={_dtype.cpp_type_name(cls.dtype)}) (got "
                    f"TensorOptions(dtype={_dtype.cpp_type_name(source.dtype)}))"
                )
            return Tensor(source, device=device)
        if device is not None and Device(device).type != "cpu":
            raise RuntimeError(
                f"legacy constructor expects device type: cpu but device type: "
                f"{Device(device).type} was passed"
            )
        array = legacy_array(args, cls.dtype, "new")
        if device is not None:
            array = jax.device_put(array, Device(device).jax_device())
        return Tensor._wrap(array)

    def __instancecheck__(cls, obj) -> bool:
        return isinstance(obj, Tensor) and obj.dtype is cls.dtype

    def __repr__(cls) -> str:
        return f"<class 'tracegrad.{cls.__name__}'>"


def _legacy_type(d: _dtype.dtype) -> _TensorType:
    name = f"{_dtype.scalar_type_name(d)}Tensor"
    doc = (
        f"The legacy constructor of {d} tensors, as ``torch.{name}``: ``{name}(data)``, "
        f"``{name}(*sizes)``, ``{name}()``; ``isinstance(x, {name})`` is ``x.dtype == {d}``."
    )
    cls = _TensorType(name, (), {"__doc__": doc, "__module__": "tracegrad", "__slots__": ()})
    cls.dtype = d
    cls.is_cuda = False
    cls.is_sparse = False
    return cls


FloatTensor = _legacy_type(_dtype.float32)
DoubleTensor = _legacy_type(_dtype.float64)
HalfTensor = _legacy_type(_dtype.float16)
BFloat16Tensor = _legacy_type(_dtype.bfloat16)
ByteTensor = _legacy_type(_dtype.uint8)
CharTensor = _legacy_type(_dtype.int8)
ShortTensor = _legacy_type(_dtype.int16)
IntTensor = _legacy_type(_dtype.int32)
LongTensor = _legacy_type(_dtype.int64)
BoolTensor = _legacy_type(_dtype.bool_)

# Each legacy type by its dtype's name ("float32" -> FloatTensor), for ``Tensor.type``.
TYPES = {
    t.dtype.name: t
    for t in (
        FloatTensor,
        DoubleTensor,
        HalfTensor,
        BFloat16Tensor,
        ByteTensor,
        CharTensor,
        ShortTensor,
        IntTensor,
        LongTensor,
        BoolTensor,
    )
}


@expose(methods=("new",))
def new(self: Tensor, *args, device=None) -> Tensor:
    """PyTorch's legacy ``x.new(...)``: a tensor of ``x``'s dtype on ``x``'s device (or
    ``device``) from data (``x.new([1, 2])``), sizes (``x.new(2, 3)``, zero-filled where PyTorch
    leaves memory uninitialised), or nothing (an empty tensor)."""
    if len(args) == 1 and isinstance(args[0], Tensor):
        return TYPES[self.dtype.name](args[0])
    array = legacy_array(args, self.dtype, "new")
    target = Device(device) if device is not None else self.device
    return Tensor._wrap(jax.device_put(array, target.jax_device()))


def _volatile(self: Tensor) -> bool:
    """Always False, with PyTorch's warning: ``volatile`` was removed (use ``no_grad``)."""
    warnings.warn(
        "volatile was removed (Variable.volatile is always False)", UserWarning, stacklevel=2
    )
    return False


def _name(self: Tensor) -> None:
    """None: the name slot of PyTorch's old ``Variable``, never set by tracegrad or PyTorch."""
    return None


expose(_volatile, methods=(), properties=("volatile",))
expose(_name, methods=(), properties=("name",))


def typename(obj) -> str:
    """The type name PyTorch prints: ``x.type()`` for a tensor (``'tracegrad.FloatTensor'``),
    ``module.QualName`` for anything else."""
    if isinstance(obj, Tensor):
        return obj.type()
    module = getattr(obj, "__module__", "") or ""
    qualname = getattr(obj, "__qualname__", None) or type(obj).__qualname__
    if module in ("", "builtins"):
        return qualname
    return f"{module}.{qualname}"


def set_default_tensor_type(t) -> None:
    """Deprecated in PyTorch: set the default float dtype from a legacy type
    (``DoubleTensor``) or its name (``'torch.DoubleTensor'``); prefer
    ``set_default_dtype``. CUDA type names need a GPU, as in PyTorch."""
    warnings.warn(
        "torch.set_default_tensor_type() is deprecated as of PyTorch 2.1, please use "
        "torch.set_default_dtype() and torch.set_default_device() as alternatives.",
        UserWarning,
        stacklevel=2,
    )
    if isinstance(t, str):
        name = t.rsplit(".", 1)[-1]
        by_name = {cls.__name__: cls for cls in TYPES.values()}
        if name not in by_name:
            raise TypeError(f"invalid type: '{t}'")
        if ".cuda." in t:
            raise NotImplementedError(
                f"set_default_tensor_type({t!r}): use torch.set_default_device('cuda') and "
                "torch.set_default_dtype() instead"
            )
        t = by_name[name]
    if not isinstance(t, _TensorType):
        raise TypeError(f"invalid type: '{t}'")
    if not t.dtype.is_floating_point:
        raise TypeError("only floating-point types are supported as the default type")
    _dtype.set_default_dtype(t.dtype)
