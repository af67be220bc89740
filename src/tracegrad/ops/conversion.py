"""Dtype/device conversion and copies: ``to``, ``clone``."""

from __future__ import annotations

import jax

from ..tensor import Tensor
from .registry import defop, tensor_method

__all__ = ["clone"]


# The engine casts every gradient back to its input's dtype, so the rule passes ``g`` through;
# moving devices is undone by moving the gradient back.
@defop("ToCopyBackward0", saves=())
def to_copy(a, *, dtype, device):
    if dtype is not None:
        a = a.astype(dtype.np)
    if device is not None:
        a = jax.device_put(a, device.jax_device())
    return a


@to_copy.vjp
def _(g, out, a, *, dtype, device):
    return (g.to(a.device) if device is not None else g,)


@defop("CloneBackward0", saves=())
def _clone(a):
    return a.copy()


@_clone.vjp
def _(g, out, a):
    return (g,)


@tensor_method
def clone(input: Tensor, *, memory_format=None) -> Tensor:
    """A copy of ``input`` that is recorded (gradients flow back to ``input``)."""
    if memory_format is not None:
        from .._layout import check_memory_format

        check_memory_format("clone", memory_format)
    return _clone(input)
