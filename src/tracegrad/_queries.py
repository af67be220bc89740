"""PyTorch's top-level questions about tensors and their dtypes: ``is_floating_point``,
``is_complex``, ``is_nonzero``, ``is_same_size``, ``is_signed``, ``result_type``, and
``_assert`` (the assertion that ``torch.fx``-traceable code uses)."""

from __future__ import annotations

from . import _dtype
from .tensor import Tensor

__all__ = [
    "detach",
    "get_device",
    "is_complex",
    "is_floating_point",
    "is_nonzero",
    "is_same_size",
    "is_signed",
    "is_storage",
    "result_type",
]


def _check_tensor(fn: str, value, name: str = "input", position: int = 1) -> None:
    if not isinstance(value, Tensor):
        raise TypeError(
            f"{fn}(): argument '{name}' (position {position}) must be Tensor, not "
            f"{type(value).__name__}"
        )


def is_floating_point(input: Tensor) -> bool:
    """Whether ``input``'s dtype is a floating point type (float16, bfloat16, float32, float64)."""
    _check_tensor("is_floating_point", input)
    return input.is_floating_point()


def is_complex(input: Tensor) -> bool:
    """Whether ``input``'s dtype is complex (``complex64`` or ``complex128``)."""
    _check_tensor("is_complex", input)
    return input.is_complex()


def is_nonzero(input: Tensor) -> bool:
    """The truth of a one-element tensor; ``RuntimeError`` for an empty or multi-element one."""
    _check_tensor("is_nonzero", input)
    return input.is_nonzero()


def is_same_size(input: Tensor, other: Tensor) -> bool:
    """Whether ``input`` and ``other`` have the same shape."""
    _check_tensor("is_same_size", input)
    _check_tensor("is_same_size", other, "other", 2)
    return input.is_same_size(other)


def is_signed(input: Tensor) -> bool:
    """Whether ``input``'s dtype is signed (False for ``uint8`` and ``bool``)."""
    _check_tensor("is_signed", input)
    return input.is_signed()


def result_type(tensor1, tensor2) -> _dtype.dtype:
    """The dtype an arithmetic operation on ``tensor1`` and ``tensor2`` (tensors or Python
    numbers) gives, by PyTorch's promotion: dimensioned tensors first, then 0-d tensors, then
    Python numbers, a lower tier counting only when it is of a higher kind (see docs/tensors.md)."""
    dims, zero_dims, kinds = [], [], []
    for x in (tensor1, tensor2):
        if isinstance(x, Tensor):
            (dims if x.ndim else zero_dims).append(x.dtype)
        elif isinstance(x, (bool, int, float)):
            kinds.append(_dtype.scalar_kind(x))
        else:
            got = ", ".join(type(a).__name__ for a in (tensor1, tensor2))
            raise TypeError(
                f"result_type() received an invalid combination of arguments - got ({got}), but "
                "expected one of: (Tensor tensor, Tensor other), (Number scalar, Tensor tensor), "
                "(Tensor tensor, Number other), (Number scalar1, Number scalar2)"
            )
    return _dtype.result_type(tuple(dims), tuple(zero_dims), tuple(kinds))


def _assert(condition, message: str) -> None:
    """``assert condition, message`` as a function (PyTorch's ``torch._assert``): raises
    ``AssertionError(message)`` when ``condition`` is false; a tensor condition must have one
    element."""
    if isinstance(condition, Tensor):
        condition = condition.is_nonzero()
    if not condition:
        raise AssertionError(message)


def is_storage(obj) -> bool:
    """False: tracegrad has no storage objects (a tensor's values live in its JAX array)."""
    return False


def detach(input: Tensor) -> Tensor:
    """``input.detach()`` as a function: the same values, cut from the graph."""
    _check_tensor("detach", input)
    return input.detach()


def get_device(input: Tensor) -> int:
    """``input.get_device()``: the GPU index of a CUDA tensor, -1 for a CPU tensor."""
    _check_tensor("get_device", input)
    return input.get_device()
