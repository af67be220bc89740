"""``Parameter``: a tensor that a ``Module`` registers as one of its learnable weights."""

from __future__ import annotations

import jax.numpy as jnp
import numpy as np

from .. import creation
from .._dtype import get_default_dtype
from ..tensor import Tensor, tensor

__all__ = [
    "Parameter",
    "Buffer",
    "UninitializedParameter",
    "UninitializedBuffer",
]


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


class UninitializedTensorMixin:
    """What ``UninitializedParameter`` and ``UninitializedBuffer`` share (PyTorch's mixin): no
    shape until :meth:`materialize`; reading the shape raises ``RuntimeError`` and computing with
    it ``ValueError``. Changing its dtype or device (``module.to``) is allowed."""

    cls_to_become: type

    def materialize(self, shape, device=None, dtype=None) -> None:
        """Give the tensor uninitialised storage of ``shape`` (on its device, in its dtype unless
        given) and turn it into its ``cls_to_become`` (``Parameter`` or ``Tensor``) in place, so
        that whoever holds it (an optimizer) holds the materialised tensor."""
        array = self._storage.array
        if device is None:
            device = Tensor._wrap(array).device
        if dtype is None:
            dtype = Tensor._wrap(array).dtype
        if isinstance(shape, int):
            shape = (shape,)
        self._storage.array = creation.empty(tuple(shape), device=device, dtype=dtype)._handout()
        self.__class__ = self.cls_to_become

    @property
    def shape(self):
        raise RuntimeError(
            "Can't access the shape of an uninitialized parameter or buffer. This error usually "
            "happens in `load_state_dict` when trying to load an uninitialized parameter into an "
            "initialized one. Call `forward` to initialize the parameters before accessing their "
            "attributes."
        )

    def _refuse(self, what: str):
        raise ValueError(
            f"Attempted to use an uninitialized parameter in {what}. This error happens when you "
            "are using a `LazyModule` or explicitly manipulating "
            f"`tracegrad.nn.parameter.{type(self).__name__}` objects. When using LazyModules Call "
            "`forward` with a dummy batch to initialize the parameters before calling tracegrad "
            "functions"
        )

    def dim(self) -> int:
        self._refuse("Tensor.dim")

    ndimension = dim

    @property
    def ndim(self) -> int:
        self._refuse("Tensor.ndim")

    def numel(self) -> int:
        self._refuse("Tensor.numel")

    def __len__(self) -> int:
        self._refuse("Tensor.__len__")

    def tolist(self):
        self._refuse("Tensor.tolist")

    def numpy(self, *args, **kwargs):
        self._refuse("Tensor.numpy")

    def share_memory_(self):
        raise RuntimeError(
            "Can't share memory on an uninitialized parameter or buffer. Call `forward` to "
            "initialize the parameters before calling `module.share_memory()`."
        )

    def __repr__(self) -> str:
        return f"<{type(self).__name__}>"

    def __reduce_ex__(self, protocol):
        return (_rebuild_uninitialized, (type(self), self._requires_grad, self.dtype))

    def __deepcopy__(self, memo):
        if id(self) not in memo:
            memo[id(self)] = type(self)(self._requires_grad, None, self.dtype)
        return memo[id(self)]


def _refusing(name: str):
    def refuse(self, *args, **kwargs):
        self._refuse(f"Tensor.{name}")

    refuse.__name__ = name
    return refuse


# the operators refuse too (tracegrad has no __torch_function__ to catch every use)
for _name in (
    "__add__ __radd__ __iadd__ __sub__ __rsub__ __isub__ __mul__ __rmul__ __imul__ __truediv__ "
    "__rtruediv__ __itruediv__ __matmul__ __rmatmul__ __pow__ __rpow__ __neg__ __getitem__ "
    "__setitem__ __iter__ __bool__ __float__ __int__ __lt__ __le__ __gt__ __ge__ __array__ "
    "__jax_array__ item sum mean view reshape t"
).split():
    setattr(UninitializedTensorMixin, _name, _refusing(_name))


def _rebuild_uninitialized(cls, requires_grad, dtype):
    return cls(requires_grad, None, dtype)


def _empty_data(device, dtype) -> Tensor:
    return creation.empty(0, device=device, dtype=dtype)


def is_lazy(param) -> bool:
    """Whether ``param`` is an ``UninitializedParameter`` or ``UninitializedBuffer``."""
    return isinstance(param, UninitializedTensorMixin)


class UninitializedParameter(UninitializedTensorMixin, Parameter):
    """A parameter whose shape is not known yet (a lazy module's, until its first call), as
    ``torch.nn.parameter.UninitializedParameter``: ``materialize(shape)`` turns it into a
    ``Parameter`` in place. ``device`` and ``dtype`` are those it will materialise with."""

    cls_to_become = Parameter

    def __init__(self, requires_grad: bool = True, device=None, dtype=None) -> None:
        super().__init__(_empty_data(device, dtype), requires_grad)


class UninitializedBuffer(UninitializedTensorMixin, Tensor):
    """A buffer whose shape is not known yet, as ``torch.nn.parameter.UninitializedBuffer``:
    ``materialize(shape)`` turns it into a plain tensor in place."""

    cls_to_become = Tensor

    def __init__(
        self, requires_grad: bool = False, device=None, dtype=None, persistent: bool = True
    ) -> None:
        data = _empty_data(device, dtype)
        self._init(None, False, None)
        self._storage = data._storage
        self.persistent = persistent
        if requires_grad:
            self.requires_grad_(True)
