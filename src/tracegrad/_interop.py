"""A tensor's dealings outside tracegrad: its buffer (``data_ptr``, DLPack), host memory
(``pin_memory``, ``share_memory_``), element-wise Python callables (``apply_``, ``map_``,
``map2_``), and the container protocol (``in``, ``reversed``).

A tensor's buffer is its JAX array's: ``data_ptr()`` is that buffer's address, so two tensors
sharing one array (``detach()``, ``Tensor(t)``) report the same pointer, and DLPack exchanges the
array without a copy where JAX can."""

from __future__ import annotations

from collections.abc import Callable

import jax
import jax.numpy as jnp
import numpy as np

from ._surface import expose
from .tensor import Tensor

__all__ = ["from_dlpack", "to_dlpack"]


@expose(methods=("data_ptr", "const_data_ptr"))
def data_ptr(self: Tensor) -> int:
    """The address of the tensor's first element (its JAX buffer's); 0 for an empty tensor, as
    PyTorch."""
    self._check_concrete("data_ptr")
    if self.numel() == 0:
        return 0
    return int(self._storage.array.unsafe_buffer_pointer())


@expose(methods=("__dlpack__",))
def __dlpack__(self: Tensor, *, stream=None, max_version=None, dl_device=None, copy=None):  # noqa: N807
    """The DLPack capsule of the tensor's buffer (for ``numpy.from_dlpack``,
    ``torch.from_dlpack``, ...). Refused for a tensor that requires grad, as PyTorch."""
    if self.requires_grad:
        raise RuntimeError("Can't export tensors that require gradient, use tensor.detach()")
    self._check_concrete("__dlpack__")
    kwargs = {"stream": stream}
    if max_version is not None:
        kwargs["max_version"] = max_version
    if dl_device is not None:
        kwargs["dl_device"] = dl_device
    if copy is not None:
        kwargs["copy"] = copy
    return self._storage.array.__dlpack__(**kwargs)


@expose(methods=("__dlpack_device__",))
def __dlpack_device__(self: Tensor):  # noqa: N807
    """``(device type, device index)`` in DLPack's codes."""
    return self._storage.array.__dlpack_device__()


def from_dlpack(ext_tensor) -> Tensor:
    """A tensor from any object with ``__dlpack__`` (a PyTorch tensor, a numpy array, ...),
    sharing its memory where JAX can and copying otherwise."""
    if isinstance(ext_tensor, Tensor):
        return ext_tensor
    return Tensor._wrap(jax.dlpack.from_dlpack(ext_tensor))


def to_dlpack(tensor: Tensor):
    """The DLPack capsule of ``tensor`` (PyTorch's legacy spelling of ``tensor.__dlpack__()``)."""
    return __dlpack__(tensor)


@expose
def pin_memory(self: Tensor, device=None) -> Tensor:
    """The tensor itself: JAX manages host-to-device transfers and has no page-locked tensors to
    make, so ``is_pinned()`` stays False. Pinning changes transfer speed, never values."""
    return self


@expose
def is_pinned(self: Tensor, device=None) -> bool:
    """False: tracegrad has no page-locked host tensors (see ``pin_memory``)."""
    return False


@expose
def is_shared(self: Tensor) -> bool:
    """False: tracegrad tensors live in one process."""
    return False


@expose(methods=("share_memory_",))
def share_memory_(self: Tensor) -> Tensor:
    """Refused: a JAX array cannot be placed in memory shared between processes, so updates made
    by another process (``torch.multiprocessing`` Hogwild training) would never be seen."""
    raise NotImplementedError(
        "Tensor.share_memory_(): tracegrad tensors cannot be shared between processes (JAX "
        "arrays live in one process); train in one process, or shard over devices with "
        "tracegrad.compile"
    )


@expose
def to_dense(self: Tensor, dtype=None, *, masked_grad=None) -> Tensor:
    """The tensor itself (every tracegrad tensor is dense), converted to ``dtype`` if given."""
    return self if dtype is None else self.to(dtype)


@expose
def dim_order(self: Tensor, *, ambiguity_check: bool = False) -> tuple:
    """``(0, 1, ..., ndim-1)``: every tracegrad tensor is contiguous (row-major)."""
    return tuple(range(self.ndim))


def _host_callable(self: Tensor, fn: str, callable_: Callable, others: tuple) -> Tensor:
    """Run a Python callable element by element on the host and write the results back in place
    (PyTorch's CPU-only ``apply_``/``map_``/``map2_``; slow by nature)."""
    if self.requires_grad:
        raise RuntimeError(
            f"Can't call {fn}() on Variable that requires grad. Use var.detach().{fn}() instead."
        )
    self._check_concrete(fn)
    arrays = [np.asarray(self._storage.array)]
    for o in others:
        if not isinstance(o, Tensor):
            raise TypeError(f"{fn}(): expected a Tensor, got {type(o).__name__}")
        arrays.append(np.broadcast_to(np.asarray(o.detach()._storage.array), arrays[0].shape))
    out = np.empty(arrays[0].shape, arrays[0].dtype)
    for idx in np.ndindex(out.shape):
        out[idx] = callable_(*(a[idx].item() for a in arrays))
    self._rebase(Tensor._wrap(jnp.asarray(out, dtype=self._storage.array.dtype)))
    return self


@expose(methods=("apply_",))
def apply_(self: Tensor, callable: Callable) -> Tensor:  # noqa: A002 - PyTorch's name
    """Replace each element ``x`` with ``callable(x)`` (a Python number function), in place."""
    return _host_callable(self, "apply_", callable, ())


@expose(methods=("map_",))
def map_(self: Tensor, tensor: Tensor, callable: Callable) -> Tensor:  # noqa: A002
    """Replace each element ``x`` with ``callable(x, y)``, ``y`` the matching element of
    ``tensor`` (broadcast to this shape), in place."""
    return _host_callable(self, "map_", callable, (tensor,))


@expose(methods=("map2_",))
def map2_(self: Tensor, x: Tensor, y: Tensor, callable: Callable) -> Tensor:  # noqa: A002
    """Replace each element ``s`` with ``callable(s, a, b)`` for the matching elements of ``x``
    and ``y``, in place."""
    return _host_callable(self, "map2_", callable, (x, y))


@expose(methods=("__contains__",))
def __contains__(self: Tensor, element) -> bool:  # noqa: N807
    """``element in tensor``: whether any element equals ``element`` (a number or tensor)."""
    if not isinstance(element, (Tensor, int, float, bool)):
        raise RuntimeError(
            "Tensor.__contains__ only supports Tensor or scalar, but you passed in a "
            f"{type(element)}."
        )
    return bool((self == element).any().item())


@expose(methods=("__reversed__",))
def __reversed__(self: Tensor) -> Tensor:  # noqa: N807
    """The tensor flipped along its first dimension (a 0-d tensor is returned as it is)."""
    return self if self.ndim == 0 else self.flip(0)
