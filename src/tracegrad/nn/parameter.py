"""``Parameter``: a tensor that a ``Module`` registers as one of its learnable weights."""

from __future__ import annotations

import jax.numpy as jnp
import numpy as np

from .._dtype import get_default_dtype
from ..tensor import Tensor, tensor

__all__ = ["Parameter", "Buffer"]


class Parameter(Tensor):
    """A leaf tensor that, assigned as a ``Module`` attribute, is registered as a parameter and
    returned by ``parameters()``, as ``torch.nn.Parameter``.

    ``Parameter(t)`` shares ``t``'s storage (changing one changes the other) and requires grad by
    default; ``Parameter()`` is an empty float tensor. Operations on a parameter return plain
    tensors (``apply`` wraps results with ``Tensor._wrap``), so only the leaf itself is a
    ``Parameter``.
    """

    def __init__(self, data: Tensor | None = None, requires_grad: bool = True):
        if data is None:
            data = Tensor._wrap(jnp.zeros((0,), get_default_dtype().np))
        elif not isinstance(data, Tensor):
            data = tensor(data)
        self._init(None, False, None)
        self._storage = data._storage  # shared, as PyTorch's Parameter(t) aliases t's data
        if requires_grad:
            self.requires_grad_(True)

    def __repr__(self) -> str:
        return "Parameter containing:\n" + super().__repr__()

    def __deepcopy__(self, memo):
        if id(self) in memo:
            return memo[id(self)]
        p = Parameter(Tensor._wrap(self._handout()), self._requires_grad)
        if self._grad is not None:
            p._grad = Tensor._wrap(self._grad._handout())
        memo[id(self)] = p
        return p

    def __reduce_ex__(self, protocol):
        return (_rebuild_parameter, (np.asarray(self._storage.array), self._requires_grad))


def _rebuild_parameter(array, requires_grad):
    return Parameter(Tensor._wrap(jnp.asarray(array)), requires_grad)


class Buffer(Tensor):
    """Marks a tensor to be registered as a buffer when assigned to a ``Module`` attribute, as
    ``torch.nn.Buffer``: ``self.running = Buffer(t, persistent=False)``. The module stores a plain
    tensor sharing ``t``'s storage."""

    def __init__(self, data: Tensor | None = None, *, persistent: bool = True):
        if data is None:
            data = Tensor._wrap(jnp.zeros((0,), get_default_dtype().np))
        self._init(None, False, None)
        self._storage = data._storage
        self.persistent = persistent
