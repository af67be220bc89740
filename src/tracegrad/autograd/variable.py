"""``torch.autograd.Variable``: the deprecated wrapper, kept for old code.

Since PyTorch 0.4 a Variable is a Tensor: ``Variable(t, requires_grad=...)`` returns a tensor that
shares ``t``'s data, detached from its graph, and every tensor is an instance of ``Variable``.
"""

from __future__ import annotations

import warnings

from ..creation import empty
from ..tensor import Tensor

__all__ = ["Variable"]


class _VariableMeta(type):
    def __instancecheck__(cls, other) -> bool:
        return isinstance(other, Tensor)


class Variable(metaclass=_VariableMeta):
    """``Variable(data, requires_grad=False, volatile=False)``: a tensor sharing ``data``'s
    values, detached, with ``requires_grad`` set. ``volatile`` has no effect (it warns, as in
    PyTorch: use ``no_grad()``)."""

    def __new__(cls, data=None, requires_grad: bool = False, volatile: bool = False) -> Tensor:
        if volatile:
            warnings.warn(
                "volatile was removed and now has no effect. Use `with torch.no_grad():` instead.",
                stacklevel=2,
            )
        if data is None:
            data = empty(0)
        if not isinstance(data, Tensor):
            raise TypeError(f"Variable data has to be a tensor, but got {type(data).__name__}")
        out = data.detach()
        out.requires_grad_(requires_grad)
        return out
