"""``Tensor``: a JAX array plus PyTorch's autograd state. No math lives here.

Operators and most methods (``x + y``, ``x.exp()``, ``x.sum()``) are attached by the op modules in
``tracegrad/ops``, each next to its lowering and VJP rule.
"""

from __future__ import annotations

import functools
import warnings
import weakref
from collections.abc import Callable

import jax
import jax.numpy as jnp
import numpy as np

from . import _dtype, _tracing
from . import lazy as _lazy
from ._device import device as Device
from ._device import device_of
from ._dtype import as_dtype, dtype
from ._format import tensor_repr
from ._grad_mode import is_grad_enabled
from ._hooks import RemovableHandle
from ._layout import (
    check_memory_format,
    check_pin_memory,
    contiguous_strides,
    is_contiguous_as,
    strided,
)
from .lazy import Pending

__all__ = ["Tensor", "Size", "tensor", "as_array", "legacy_array"]


class Size(tuple):
    """A tensor's shape: a tuple of ints that prints as ``tracegrad.Size([2, 3])``.

    As ``torch.Size``: it equals the plain tuple with the same sizes (never a list), and slicing,
    ``+`` and ``*`` give a ``Size`` again (``x.shape[1:]``, ``x.shape[:1] + (4,)``)."""

    def __new__(cls, sizes=()):
        sizes = tuple(sizes)
        if not all(type(s) is int for s in sizes):
            sizes = tuple(_size_item(s, i) for i, s in enumerate(sizes))
        return tuple.__new__(cls, sizes)

    def __repr__(self) -> str:
        return f"tracegrad.Size({list(self)})"

    def __getitem__(self, index):
        item = tuple.__getitem__(self, index)
        return tuple.__new__(Size, item) if isinstance(index, slice) else item

    def __add__(self, other):
        if not isinstance(other, tuple):
            return NotImplemented
        return Size(tuple(self) + tuple(other))

    def __radd__(self, other):
        if not isinstance(other, tuple):
            return NotImplemented
        return Size(tuple(other) + tuple(self))

    def __mul__(self, n):
        if not isinstance(n, int):
            return NotImplemented
        return tuple.__new__(Size, tuple(self) * n)

    __rmul__ = __mul__

    def __reduce__(self):
        return (Size, (tuple(self),))

    def numel(self) -> int:
        """The number of elements a tensor of this shape has (1 for ``Size([])``)."""
        n = 1
        for s in self:
            n *= s
        return n


def _size_item(s, i: int) -> int:
    """One size given to ``Size(...)``: an int or anything with ``__index__`` (a 0-d integer
    tensor); anything else raises PyTorch's ``TypeError``."""
    if not hasattr(type(s), "__index__"):
        raise TypeError(
            f"tracegrad.Size() takes an iterable of 'int' (item {i} is '{type(s).__name__}')"
        )
    return s.__index__()


class _Storage:
    """The array a tensor holds, shared by the tensor, its ``.data`` and its ``detach()``.

    In-place operations replace ``array`` (JAX arrays are immutable) and bump ``version``; nodes
    that saved the tensor compare versions at backward time.

    ``exclusive`` is ``array`` while no one but this storage holds that array object: a compiled
    step marks the arrays it writes back, and handing the array to another holder
    (``Tensor._handout``) clears the mark. A compiled step donates (reuses the buffer of) only an
    array so marked; any other input is copied first, so no holder is left with a deleted array.
    """

    __slots__ = ("_array", "version", "exclusive", "writes", "__weakref__")

    def __init__(self, array):
        self._array = array
        if type(array) is Pending:
            _lazy.attach(array, self)
        self.version = 0
        self.exclusive = None
        self.writes = (
            0  # every replacement of ``array``, counted or not (tells views they are stale)
        )

    @property
    def array(self):
        """The JAX array; a pending value (lazy mode, ``tracegrad.lazy``) is realized first.
        ``_array`` is the array or the :class:`~tracegrad.lazy.Pending` itself: its ``shape`` and
        ``dtype`` can be read without computing anything."""
        a = self._array
        if type(a) is Pending:
            a = _lazy.realize(self)
        return a

    @array.setter
    def array(self, a) -> None:
        if type(a) is Pending:
            _lazy.attach(a, self)
        self._array = a


class Tensor:
    """A multi-dimensional array that records the operations applied to it, like ``torch.Tensor``.

    ``Tensor(data)`` builds a float tensor from nested lists, numbers or arrays (as
    ``torch.Tensor([...])`` does); prefer ``tracegrad.tensor(data, dtype=..., requires_grad=...)``.
    """

    __slots__ = (
        "_storage",
        "_requires_grad",
        "grad_fn",
        "_grad",
        "_accumulate",
        "_hooks",
        "_version_tracked",
        "_view",
        "__weakref__",
        "__dict__",
    )

    __array_priority__ = 1000  # numpy defers to our operators (np_array * tensor -> Tensor)
    # True on the stand-in for a Python float while tracegrad.compile traces (a lifted value):
    # ``tensor(x)`` then converts it as the float it stands for, not as a float64 tensor.
    _python_float = False

    def __init__(self, *data, device=None, requires_grad: bool = False):
        if len(data) == 1 and isinstance(data[0], Tensor):  # an alias of that tensor, any dtype
            self._alias(data[0], device)
            return
        array = legacy_array(data, _dtype.get_default_dtype())
        if device is not None:
            array = jax.device_put(array, Device(device).jax_device())
        self._init(array, False, None)
        if requires_grad:
            self.requires_grad_(True)

    def _alias(self, source: Tensor, device) -> None:
        """Become ``Tensor(source)``: share ``source``'s storage (in-place changes show in both,
        as with ``detach()``) and, when it requires grad, pass gradients back to it."""
        if device is not None and Device(device) != source.device:
            raise RuntimeError(
                f"Attempted to create a tensor aliasing a tensor on {source.device} with "
                f"device={Device(device)}; move it with .to() instead"
            )
        self._init(None, False, None)
        self._storage = source._storage
        if source._requires_grad:
            self._requires_grad = True
            # An identity node whose gradient goes to ``source`` (PyTorch's AliasBackward0).
            self.grad_fn = source.clone().grad_fn

    def _init(self, array, requires_grad, grad_fn):
        self._storage = _Storage(array)
        self._requires_grad = requires_grad
        self.grad_fn = grad_fn
        self._grad = None
        self._accumulate = None
        self._hooks = None
        self._version_tracked = True
        # A _ViewLink when this tensor is what PyTorch returns as a view of another one.
        self._view = None

    @classmethod
    def _wrap(cls, array, requires_grad: bool = False, grad_fn=None) -> Tensor:
        """Wrap a JAX array without copying or validating (the hot path)."""
        t = cls.__new__(cls)
        t._init(array, requires_grad, grad_fn)
        return t

    @classmethod
    def _share(cls, other: Tensor, tracked: bool) -> Tensor:
        """A tensor that shares ``other``'s storage (for ``.data`` and ``detach()``)."""
        t = cls.__new__(cls)
        t._init(None, False, None)
        t._storage = other._storage
        t._version_tracked = tracked
        return t

    # ----------------------------------------------------------------- the array and its metadata
    @property
    def data(self) -> Tensor:
        """This tensor's values, detached from the graph. In-place ops on it change this tensor."""
        return Tensor._share(self, tracked=False)

    @data.setter
    def data(self, value: Tensor) -> None:
        value = value if isinstance(value, Tensor) else tensor(value)
        _note_write(self)
        self._storage.array = value._handout()

    @property
    def shape(self) -> Size:
        return tuple.__new__(Size, self._storage._array.shape)

    def size(self, dim: int | None = None):
        """The shape, or the size of dimension ``dim``."""
        shape = self._storage._array.shape
        if dim is None:
            return tuple.__new__(Size, shape)
        return shape[_wrap_dim(dim, len(shape), "size")]

    def dim(self) -> int:
        """The number of dimensions."""
        return self._storage._array.ndim

    ndimension = dim

    @property
    def ndim(self) -> int:
        return self._storage._array.ndim

    def numel(self) -> int:
        """The number of elements."""
        return int(self._storage._array.size)

    nelement = numel

    def element_size(self) -> int:
        """The size of one element in bytes (``itemsize``)."""
        return self.dtype.itemsize

    @property
    def itemsize(self) -> int:
        """The size of one element in bytes, as ``torch.Tensor.itemsize``."""
        return self.dtype.itemsize

    @property
    def nbytes(self) -> int:
        """The number of bytes the elements take (``numel() * itemsize``)."""
        return int(self._storage._array.size) * self.dtype.itemsize

    def stride(self, dim: int | None = None):
        """The strides, in elements, of the contiguous (row-major) layout of this shape, as
        PyTorch reports them for a contiguous tensor; with ``dim``, that dimension's stride.

        A JAX array has no strides of its own (XLA picks the layout): these are the strides a
        contiguous PyTorch tensor of this shape has, which is what tracegrad's semantics are."""
        shape = self._storage._array.shape
        strides = contiguous_strides(shape)
        if dim is None:
            return strides
        if not shape:
            raise IndexError(f"Dimension specified as {dim} but tensor has no dimensions")
        return strides[_wrap_dim(dim, len(shape), "stride")]

    def storage_offset(self) -> int:
        """Always 0: every tensor starts its own storage (tracegrad has no views)."""
        return 0

    @property
    def is_sparse(self) -> bool:
        """Always False: tracegrad tensors are dense."""
        return False

    @property
    def layout(self):
        """Always ``tracegrad.strided``: tracegrad tensors are dense."""
        return strided

    def is_signed(self) -> bool:
        """Whether the dtype is signed (False for ``uint8`` and ``bool``)."""
        return self.dtype.is_signed

    def is_nonzero(self) -> bool:
        """The truth of a one-element tensor, as ``torch.is_nonzero``; ``RuntimeError`` for an empty
        or a multi-element one."""
        self._check_concrete("is_nonzero")
        n = self.numel()
        if n != 1:
            many = "no values" if n == 0 else "more than one value"
            raise RuntimeError(f"Boolean value of Tensor with {many} is ambiguous")
        return bool(self.item())

    def is_same_size(self, other: Tensor) -> bool:
        """Whether ``other`` has the same shape."""
        return self._storage._array.shape == other._storage._array.shape

    @property
    def dtype(self) -> dtype:
        return as_dtype(self._storage._array.dtype)

    @property
    def device(self) -> Device:
        return device_of(self._storage._array)

    @property
    def is_cuda(self) -> bool:
        return self.device.type == "cuda"

    @property
    def is_cpu(self) -> bool:
        return self.device.type == "cpu"

    @property
    def is_xpu(self) -> bool:
        return False  # JAX has no XPU backend

    @property
    def is_mps(self) -> bool:
        return False  # JAX has no MPS backend

    @property
    def is_meta(self) -> bool:
        return False

    def get_device(self) -> int:
        """The device index: -1 for a CPU tensor (as PyTorch, whichever CPU device holds it),
        ``k`` for one on ``cuda:k`` (or ``tpu:k``)."""
        d = self.device
        return -1 if d.type == "cpu" else (d.index or 0)

    def is_floating_point(self) -> bool:
        return self.dtype.is_floating_point

    def is_complex(self) -> bool:
        return self.dtype.is_complex

    @property
    def _version(self) -> int:
        return self._storage.version

    # ---------------------------------------------------------------------------- autograd state
    @property
    def requires_grad(self) -> bool:
        return self._requires_grad

    @requires_grad.setter
    def requires_grad(self, value: bool) -> None:
        self.requires_grad_(value)

    def requires_grad_(self, requires_grad: bool = True) -> Tensor:
        """Set ``requires_grad`` on a leaf (in place); returns ``self``."""
        if self.grad_fn is not None:
            if requires_grad:
                return self
            raise RuntimeError(
                "you can only change requires_grad flags of leaf variables. If you want to use a "
                "computed variable in a subgraph that doesn't require differentiation use "
                "var_no_grad = var.detach()."
            )
        if requires_grad and not (self.dtype.is_floating_point or self.dtype.is_complex):
            raise RuntimeError(
                "only Tensors of floating point and complex dtype can require gradients "
                f"(got {self.dtype})"
            )
        self._requires_grad = bool(requires_grad)
        return self

    @property
    def is_leaf(self) -> bool:
        return self.grad_fn is None

    @property
    def grad(self) -> Tensor | None:
        """The accumulated gradient (None until a backward reaches this tensor)."""
        # As PyTorch: warn only when a non-leaf's .grad is read while still unpopulated.
        if self._grad is None and self.grad_fn is not None and not self.retains_grad:
            warnings.warn(
                "The .grad attribute of a Tensor that is not a leaf Tensor is being accessed. Its "
                ".grad attribute won't be populated during autograd.backward(). If you indeed want "
                "the .grad field to be populated for a non-leaf Tensor, use .retain_grad() on it.",
                UserWarning,
                stacklevel=2,
            )
        return self._grad

    @grad.setter
    def grad(self, value: Tensor | None) -> None:
        if value is not None:
            if not isinstance(value, Tensor):
                raise TypeError(
                    f"assigned grad expected to be a Tensor or None but got {type(value).__name__}"
                )
            if value.shape != self.shape:
                raise RuntimeError(
                    f"assigned grad has data of a different size: got {list(value.shape)}, "
                    f"expected {list(self.shape)}"
                )
            if value.dtype != self.dtype:
                raise RuntimeError(
                    f"assigned grad has data of a different type: got {value.dtype}, "
                    f"expected {self.dtype}"
                )
        self._grad = value

    @grad.deleter
    def grad(self) -> None:
        self._grad = None

    def _accumulate_grad(self, g: Tensor, create_graph: bool) -> None:
        """Add ``g`` into ``.grad``: in place on the existing grad unless building a graph."""
        if not create_graph:
            g = g.detach()
        if self._grad is None:
            # A fresh tensor (never an alias of a tensor the rule or the user still holds).
            if create_graph:
                self._grad = g
            elif type(g._storage._array) is Pending:  # lazy mode: share the pending value
                self._grad = Tensor._wrap(g._storage._array)
            else:
                self._grad = Tensor._wrap(g._handout())
        elif create_graph or self._grad.requires_grad:
            self._grad = self._grad + g
        else:
            st = self._grad._storage
            if type(st._array) is Pending or type(g._storage._array) is Pending:
                st.array = (Tensor._wrap(st._array) + g)._storage._array  # recorded, pending
            else:
                st.array = st.array + g._storage.array
            st.version += 1

    @property
    def retains_grad(self) -> bool:
        """True if ``retain_grad()`` was called on this non-leaf."""
        node = self.grad_fn
        return node is not None and node._retained is not None and node._retained() is self

    def retain_grad(self) -> None:
        """Populate ``.grad`` for this non-leaf tensor during backward."""
        if not self._requires_grad:
            raise RuntimeError("can't retain_grad on Tensor that has requires_grad=False")
        if self.grad_fn is not None:
            self.grad_fn._retained = weakref.ref(self)

    def register_hook(self, hook) -> RemovableHandle:
        """Call ``hook(grad)`` when this tensor's gradient is computed; a returned tensor replaces it."""
        if not self._requires_grad:
            raise RuntimeError("cannot register a hook on a tensor that doesn't require gradient")
        if self.grad_fn is not None:
            return self.grad_fn.register_prehook(hook)
        if self._hooks is None:
            self._hooks = []
        self._hooks.append(hook)
        return RemovableHandle(self._hooks, hook)

    def register_post_accumulate_grad_hook(self, hook) -> RemovableHandle:
        """Call ``hook(tensor)`` after backward has accumulated into this leaf's ``.grad`` (an
        optimizer can step the parameter right there). Leaves only, as in PyTorch."""
        if not self._requires_grad:
            raise RuntimeError("cannot register a hook on a tensor that doesn't require gradient")
        if self.grad_fn is not None:
            raise RuntimeError(
                "post accumulate grad hooks cannot be registered on non-leaf tensors"
            )
        hooks = self.__dict__.setdefault("_post_accumulate_grad_hooks", [])
        hooks.append(hook)
        return RemovableHandle(hooks, hook)

    def detach(self) -> Tensor:
        """A tensor with the same storage that does not require grad."""
        return Tensor._share(self, tracked=True)

    def detach_(self) -> Tensor:
        """Detach this tensor from the graph in place, making it a leaf."""
        self.grad_fn = None
        self._requires_grad = False
        return self

    # ----------------------------------------------------------------------- leaving tracegrad
    def _check_concrete(self, what: str) -> None:
        if isinstance(self._storage.array, jax.core.Tracer):
            raise RuntimeError(
                f"Tensor.{what}() needs a concrete value, but this tensor is being traced inside a "
                "compiled function; keep the value as a tensor, or move the call outside the "
                "compiled function"
            )

    def item(self):
        """The value of a one-element tensor as a Python number."""
        self._check_concrete("item")
        if self.numel() != 1:
            raise RuntimeError(
                f"a Tensor with {self.numel()} elements cannot be converted to Scalar"
            )
        return np.asarray(self._storage.array).reshape(()).item()

    def tolist(self):
        """The values as (nested) Python lists of numbers."""
        self._check_concrete("tolist")
        return np.asarray(self._storage.array).tolist()

    def numpy(self, *, force: bool = False) -> np.ndarray:
        """The values as a new, writable numpy array.

        A copy: writes to it do not reach the tensor, nor the tensor's later changes the array
        (PyTorch shares the memory; JAX arrays cannot alias numpy memory, see docs/semantics.md).
        ``force=True`` allows a tensor that requires grad (PyTorch's ``force``)."""
        self._check_concrete("numpy")
        if self._requires_grad and not force:
            raise RuntimeError(
                "Can't call numpy() on Tensor that requires grad. Use tensor.detach().numpy() instead."
            )
        return np.array(self._storage.array)

    def __array__(self, dtype=None, copy=None):
        self._check_concrete("__array__")
        a = np.asarray(self._storage.array)
        return a if dtype is None else a.astype(dtype)

    def __jax_array__(self):
        return self._handout()

    def _handout(self):
        """This tensor's array object, for a holder outside this storage: from now on it is not
        tracegrad's alone, so a compiled step will not donate it (see ``_Storage``)."""
        self._storage.exclusive = None
        return self._storage.array

    def __bool__(self) -> bool:
        self._check_concrete("__bool__")
        if self.numel() != 1:
            many = "no values" if self.numel() == 0 else "more than one value"
            raise RuntimeError(
                f"Boolean value of Tensor with {many} is ambiguous (shape {list(self.shape)})"
            )
        return bool(self.item())

    def __float__(self) -> float:
        self._check_concrete("__float__")
        if self.numel() != 1:  # PyTorch's type and message (item() raises RuntimeError)
            raise ValueError("only one element tensors can be converted to Python scalars")
        return float(self.item())

    def __int__(self) -> int:
        self._check_concrete("__int__")
        if self.numel() != 1:
            raise ValueError("only one element tensors can be converted to Python scalars")
        return int(self.item())

    def __index__(self) -> int:
        if self.dtype.is_floating_point or self.numel() != 1:
            raise TypeError("only integer tensors of a single element can be converted to an index")
        return int(self.item())

    def __len__(self) -> int:
        if self.ndim == 0:
            raise TypeError("len() of a 0-d tensor")
        return self._storage._array.shape[0]

    def __iter__(self):
        if self.ndim == 0:
            raise TypeError("iteration over a 0-d tensor")
        return (self[i] for i in range(len(self)))

    __hash__ = object.__hash__

    def __pos__(self) -> Tensor:
        return self

    def __repr__(self) -> str:
        return tensor_repr(self)

    def __format__(self, spec: str) -> str:
        if self.ndim == 0:
            return self.item().__format__(spec)
        return object.__format__(self, spec)

    def __reduce_ex__(self, protocol):
        return (_rebuild, (np.asarray(self._storage.array), self._requires_grad))

    def __deepcopy__(self, memo):
        t = Tensor._wrap(self._handout(), requires_grad=self._requires_grad)
        if self._grad is not None:
            t._grad = Tensor._wrap(self._grad._handout())
        memo[id(self)] = t
        return t

    # ------------------------------------------------------------------------------ layout
    def contiguous(self, memory_format=None) -> Tensor:
        """JAX arrays have no strides: returns ``self`` (``channels_last`` raises
        ``NotImplementedError``)."""
        if memory_format is not None:
            check_memory_format("contiguous", memory_format)
        return self

    def is_contiguous(self, memory_format=None) -> bool:
        """Always True for the default format (a JAX array reads as row-major); for
        ``channels_last``/``channels_last_3d``, whether a row-major tensor of this shape would
        also pass PyTorch's check (size-1 dimensions aside, the channels are innermost)."""
        return is_contiguous_as(tuple(self._storage._array.shape), memory_format)

    # ---------------------------------------------------------------------------- in-place core
    def _view_of(self, base: Tensor, read, write, refuse: str | None = None) -> Tensor:
        """Mark this new tensor as PyTorch's view ``read(base)`` of ``base``: an in-place op on it
        then runs ``write(base, self)``, a recorded in-place update of ``base`` (see
        ``_ViewLink``); or, with ``refuse``, raises that RuntimeError as PyTorch does."""
        self._view = _ViewLink(base, read, write)
        self._view.refuse = refuse
        return self

    def _check_inplace(self, op_name: str) -> None:
        view = self._view
        if view is not None and is_grad_enabled():
            found = view.target()
            if found is not None and found[1]._requires_grad and found[1].grad_fn is None:
                raise RuntimeError(
                    "a view of a leaf Variable that requires grad is being used in an in-place "
                    f"operation ({op_name}). Wrap the update in `with tracegrad.no_grad():`, or "
                    "update `.data` instead."
                )
        if self._requires_grad and self.grad_fn is None and is_grad_enabled():
            raise RuntimeError(
                f"a leaf Variable that requires grad is being used in an in-place operation "
                f"({op_name}). Wrap the update in `with tracegrad.no_grad():`, or update "
                f"`.data` instead."
            )

    def _snapshot(self) -> Tensor:
        """This tensor's current value and graph position, as a separate tensor (the operand of an
        in-place op, whose own storage is about to change)."""
        if self._view is not None:
            self._refresh_view()
        # ``_array``: in lazy mode a pending value stays pending (the op records on it).
        if not self._requires_grad:
            return Tensor._wrap(self._storage._array)
        return (
            Tensor._wrap(self._storage._array, requires_grad=True, grad_fn=self.grad_fn)
            if self.grad_fn is not None
            else self
        )

    def _rebase(self, result: Tensor) -> Tensor:
        """Make ``self`` hold ``result`` (an in-place op's out-of-place value); bumps the version."""
        _note_write(self)
        array = result._storage._array  # shape and dtype only: a pending value stays pending
        if array.shape != self._storage._array.shape:
            raise RuntimeError(
                f"output with shape {list(self.shape)} doesn't match the broadcast shape "
                f"{list(array.shape)}"
            )
        if array.dtype != self._storage._array.dtype:
            if self.dtype.is_floating_point < as_dtype(array.dtype).is_floating_point or (
                self.dtype is _dtype.bool_ and array.dtype != np.bool_
            ):
                raise RuntimeError(
                    f"result type {as_dtype(array.dtype)} can't be cast to the desired output type "
                    f"{self.dtype}"
                )
            result = result.to(self.dtype)
            array = result._storage._array
        return self._adopt(result, array)

    def _adopt(self, result: Tensor, array) -> Tensor:
        """Hold ``array`` (``result``'s value, any shape) from now on: bump the version, take
        ``result``'s node, and move a retained gradient to the new value."""
        view = self._view
        found = None
        if view is not None:
            found = view.target()
            if array.shape != self._storage._array.shape:
                # PyTorch's in-place reshape of a view (``x[0].unsqueeze_(0)``) keeps writing
                # through with new strides; tracegrad cannot follow, so it refuses later writes.
                view.reshaped = True
                found = None
            elif view.refuse is not None:
                raise RuntimeError(view.refuse)
            elif view.reshaped and found is not None:
                raise NotImplementedError(
                    "an in-place operation on a view of a tensor after an in-place shape change "
                    "of that view (squeeze_, unsqueeze_, t_, transpose_, ...): PyTorch writes it "
                    "through to the viewed tensor, tracegrad cannot; reshape out of place "
                    "(unsqueeze instead of unsqueeze_) or write into the viewed tensor directly"
                )
            elif found is not None and found[1]._storage.writes != found[0].writes:
                raise RuntimeError(
                    "an in-place operation on a view of a tensor that was modified after the view "
                    "was taken: tracegrad cannot write it through (its views are copies kept in "
                    "step with their base only by in-place ops on them); take the view again "
                    "after modifying the tensor"
                )
        retained = self.retains_grad
        if retained:  # the gradient retained is the new value's, not the overwritten one's
            self.grad_fn._retained = None
        self._storage.array = array
        self._storage.writes += 1
        if self._version_tracked:
            self._storage.version += 1
        if result.grad_fn is not None:
            self.grad_fn = result.grad_fn
            self._requires_grad = True
            if retained:
                self.retain_grad()
        if found is not None:
            # PyTorch's ``x[0].add_(1)`` changes ``x``: write the new value back (a recorded
            # ``x[0] = ...``, so gradients flow as through PyTorch's CopySlices).
            _, base, _, write = found
            write(base, self)
            view.caught_up()
        return self

    def _refresh_view(self) -> None:
        """Before an in-place op on a view: if its base changed since the view was taken, take
        the base's current values (a PyTorch view would show them)."""
        view = self._view
        found = view.target()
        if found is None or view.reshaped or view.refuse is not None:
            return
        if found[1]._storage.writes == found[0].writes:
            return
        _, base, read, _ = found
        fresh = read(base)
        if fresh._storage._array.shape != self._storage._array.shape:
            self._view = None
            return
        self._storage.array = fresh._storage._array
        self._storage.writes += 1
        if fresh.grad_fn is not None or self._requires_grad:
            self.grad_fn = fresh.grad_fn
            self._requires_grad = fresh._requires_grad
        view.caught_up()


class _ViewLink:
    """How a tensor that PyTorch returns as a view of ``base`` (``read(base)``) stays one for
    in-place ops: after one, ``write(base, view)`` writes the new value back into ``base``.

    tracegrad's views are copies (JAX arrays cannot alias), linked to their base by this. The base
    is held weakly, so a view keeps no tensor alive. When the base is gone -- the temporary
    ``t[1]`` of ``t[1][0][2] = 1`` -- ``target`` goes up to the base's own link (``up``), reading
    and writing through the base's functions composed with this view's. ``writes`` is the base's
    write count when the link last saw it: a base changed since is read again before an in-place
    op on the view (``Tensor._refresh_view``).
    """

    __slots__ = ("base", "writes", "read", "write", "up", "reshaped", "refuse")

    def __init__(self, base: Tensor, read, write):
        self.base = weakref.ref(base)
        self.writes = base._storage.writes
        self.read = read
        self.write = write
        self.up = base._view
        self.reshaped = False
        self.refuse = None

    def target(self) -> tuple[_ViewLink, Tensor, Callable, Callable] | None:
        """The first link up the chain whose tensor is alive, that tensor, and how to read this
        view from it and write this view into it."""
        link, read, write = self, self.read, self.write
        while True:
            t = link.base()
            if t is not None:
                return link, t, read, write
            up = link.up
            if up is None:
                return None
            # r0(r) is a fresh view of r: writing into it writes through to r.
            r0 = up.read
            read = functools.partial(_read_through, r0, read)
            write = functools.partial(_write_through, r0, write)
            link = up

    def caught_up(self) -> None:
        """After a write through (or a refresh): every tensor up the chain is current."""
        link = self
        while link is not None:
            t = link.base()
            if t is not None:
                link.writes = t._storage.writes
            link = link.up


def _read_through(r0, read, r):
    return read(r0(r))


def _write_through(r0, write, r, v):
    write(r0(r), v)


def _note_write(t: Tensor) -> None:
    """Tell a trace in progress that ``t`` is about to be modified in place (a compiled step with a
    declared state refuses writes to tensors outside it)."""
    if _tracing.active:
        trace = _tracing.current()
        if trace is not None:
            trace.wrote(t)


def _rebuild(array, requires_grad):
    # requires_grad_ refuses a non-float tensor, as PyTorch's unpickling does.
    return Tensor._wrap(jnp.asarray(array)).requires_grad_(bool(requires_grad))


def _wrap_dim(dim: int, ndim: int, op: str = "") -> int:
    """Normalise a possibly negative ``dim``; IndexError (as PyTorch) when out of range."""
    n = max(ndim, 1)
    if not -n <= dim < n:
        raise IndexError(
            f"Dimension out of range (expected to be in range of [{-n}, {n - 1}], but got {dim})"
        )
    return dim % n


def _size_args(size) -> tuple:
    """Accept ``f(2, 3)``, ``f((2, 3))`` and ``f([2, 3])``, as PyTorch's factories do."""
    if len(size) == 1 and isinstance(size[0], (tuple, list, Size)):
        size = tuple(size[0])
    return tuple(int(s) for s in size)


def legacy_array(args: tuple, d: dtype, name: str = "new"):
    """The array PyTorch's legacy constructors (``Tensor(...)``, ``LongTensor(...)``) make of
    their positional arguments, other than a single tensor (which they alias): none gives an empty
    tensor; ints or one ``Size`` give a tensor of that shape (zeros: JAX has no uninitialised
    memory); one sequence or array gives its values converted to ``d``. A lone number is refused
    with PyTorch's ``TypeError``, as are other mixtures."""
    if not args:
        return jnp.zeros((0,), d.np)
    if len(args) == 1 and isinstance(args[0], Size):
        return _legacy_zeros(tuple(args[0]), d)
    if all(isinstance(a, int) for a in args):
        return _legacy_zeros(tuple(int(a) for a in args), d)
    if len(args) == 1:
        data = args[0]
        if isinstance(data, (jax.Array, np.ndarray)) and data.ndim > 0:
            return as_array(data, d)
        if isinstance(data, (list, tuple, range)):
            return as_array(list(data) if isinstance(data, range) else data, d)
        raise TypeError(f"{name}(): data must be a sequence (got {type(data).__name__})")
    if isinstance(args[0], int):
        bad = next(i for i, a in enumerate(args) if not isinstance(a, int))
        raise TypeError(
            f"{name}(): argument 'size' failed to unpack the object at pos {bad + 1} with error "
            f'"type must be tuple of ints,but got {type(args[bad]).__name__}"'
        )
    got = ", ".join(type(a).__name__ for a in args)
    raise TypeError(
        f"{name}() received an invalid combination of arguments - got ({got}), but expected one "
        "of: (*, device), (Tensor other), (tuple of ints size, *, device), (object data, *, device)"
    )


def _legacy_zeros(shape: tuple, d: dtype):
    for s in shape:
        if s < 0:
            raise RuntimeError(
                f"Trying to create tensor with negative dimension {s}: {list(shape)}"
            )
    return jnp.zeros(shape, d.np)


def as_array(data, dtype: dtype | None = None):
    """Convert nested lists, numbers, numpy/JAX arrays or tensors to a JAX array.

    Without ``dtype`` it infers as PyTorch does: Python floats give the default float dtype, ints
    int64, bools bool; numpy arrays keep their dtype. Python numbers are converted straight to
    ``dtype`` (see ``_from_python``), never through another precision.
    """
    if isinstance(data, Tensor):
        array = data._storage.array
        if data._python_float:  # a Python float's dtype: the default float (or ``dtype``)
            array = array.astype((dtype or _dtype.get_default_dtype()).np)
    elif isinstance(data, (jax.Array, np.ndarray, np.generic)):
        array = data
    else:
        array = _from_python(data, dtype)
    target = dtype.np if dtype is not None else None
    if target is None and isinstance(array, (np.ndarray, np.generic)):
        as_dtype(array.dtype)  # raise on unsupported numpy dtypes
    if isinstance(array, jax.Array):
        return array if target is None or array.dtype == target else array.astype(target)
    if target is None or array.dtype == target:
        # A transfer, not a program: jnp.asarray compiles one (per shape) to stage host data. The
        # host copy is the tensor's own: on CPU the device array may share its buffer, and the
        # caller's numpy array may change later.
        return jax.device_put(np.array(array, copy=True))
    return jnp.asarray(array, dtype=target)  # converted by XLA, rounding once


_PY_KINDS = {bool: 0, int: 1, float: 2, complex: 3}


def _inferred(kind: int) -> dtype:
    """The dtype PyTorch infers for a Python number of ``kind`` (0 bool ... 3 complex)."""
    if kind == 3:
        return _dtype.get_default_complex_dtype()
    return (_dtype.bool_, _dtype.int64, _dtype.get_default_dtype())[kind]


def _from_python(data, dtype: dtype | None = None) -> np.ndarray:
    """Python data (a number, or nested sequences of numbers and one-element tensors) as a numpy
    array of ``dtype``, or of the dtype PyTorch infers for it.

    Every number is converted once, from its exact Python value, as ``torch.tensor`` does: a float
    to float64 is exact, to float32 rounds once (``1e40`` becomes inf); an int to int64 is exact,
    and one that does not fit raises ``ValueError``; a number out of a narrower integer type's range
    (or a NaN/inf to an integer type) raises ``RuntimeError``; floats to integers truncate.
    """
    try:
        values = np.asarray(data, dtype=object)
    except ValueError as e:
        raise ValueError(f"expected a sequence of equal-length sequences of numbers: {e}") from None
    flat = values.ravel()
    kinds = set(map(type, flat))
    if not kinds <= _PY_KINDS.keys():
        flat, inferred = _unpack_elements(data, flat)
        values = flat.reshape(values.shape)
        kinds = set(map(type, flat))
    elif flat.size:
        inferred = _inferred(max(_PY_KINDS[t] for t in kinds))
    else:
        inferred = _dtype.get_default_dtype()
    return _convert_numbers(values, dtype if dtype is not None else inferred, float in kinds)


def _unpack_elements(data, flat):
    """Elements that are not Python numbers: one-element tensors and numpy scalars give their value
    and take part in dtype inference with their dtype (``[float64_tensor, 2]`` is float64)."""
    out = np.empty(flat.shape, dtype=object)
    inferred = None
    for i, x in enumerate(flat):
        t = type(x)
        if t in _PY_KINDS:
            d = _inferred(_PY_KINDS[t])
        elif isinstance(x, Tensor):
            if x.numel() != 1:
                raise ValueError("only one element tensors can be converted to Python scalars")
            d, x = x.dtype, x.item()
        elif isinstance(x, np.generic):
            d, x = as_dtype(x.dtype), x.item()
        elif isinstance(x, (bool, int, float, complex)):  # subclasses (IntEnum, ...)
            d = _inferred(_dtype.scalar_kind(x))
            x = (bool, int, float, complex)[_dtype.scalar_kind(x)](x)
        elif isinstance(x, (list, tuple)):
            raise ValueError(
                "expected a sequence of equal-length sequences of numbers, got ragged nesting "
                f"in {type(data).__name__}"
            )
        else:
            raise TypeError(
                f"can't convert {type(data).__name__} with an element of type {t.__name__} to a "
                "tensor"
            )
        out[i] = x
        inferred = d if inferred is None else _dtype.promote_types(inferred, d)
    return out, inferred


def _convert_numbers(values: np.ndarray, d: dtype, has_floats: bool = True) -> np.ndarray:
    """An object array of Python numbers as a numpy array of ``d``, each converted once
    (``has_floats``: whether any of them is a float; False spares looking for them)."""
    if d is _dtype.bool_:
        return values.astype(np.bool_)
    if d.is_complex:
        # Each part converts as a float does (complex(int) is exact up to float64's range).
        return values.astype(np.complex128).astype(d.np)
    if any(type(x) is complex for x in values.flat):
        raise TypeError(f"can't convert complex to {'float' if d.is_floating_point else 'int'}")
    if d.is_floating_point:
        # float(int) rounds correctly and raises OverflowError past the float64 range, as PyTorch.
        f64 = values.astype(np.float64)
        if d.np == np.float64:
            return f64
        with np.errstate(over="ignore"):  # overflow to inf, as PyTorch
            if d.itemsize < 4:  # PyTorch rounds to half types through float32
                return f64.astype(np.float32).astype(d.np)
            return f64.astype(d.np)
    info = np.iinfo(d.np)
    if not has_floats:
        return _exact_ints(values, d, info)
    is_float = np.fromiter((type(x) is float for x in values.flat), bool, values.size)
    is_float = is_float.reshape(values.shape)
    out = np.empty(values.shape, d.np)
    ints = values[~is_float]
    if ints.size:
        out[~is_float] = _exact_ints(ints, d, info)
    floats = values[is_float]
    if floats.size:
        f64 = floats.astype(np.float64)
        with np.errstate(invalid="ignore"):
            bad = ~np.isfinite(f64) | (f64 < float(info.min)) | (f64 > float(info.max))
        if bad.any():
            raise RuntimeError(f"value cannot be converted to type {d.name} without overflow")
        out[is_float] = np.trunc(f64).astype(np.int64).astype(d.np)
    return out


def _exact_ints(values: np.ndarray, d: dtype, info) -> np.ndarray:
    """Python ints as ``d``: past int64 raises ``ValueError``, out of ``d``'s range ``RuntimeError``
    (PyTorch's errors; it lets a negative wrap into an unsigned type, -1 becoming 255)."""
    try:
        i64 = values.astype(np.int64)
    except OverflowError:
        raise ValueError("Overflow when unpacking long long") from None
    low = -int(info.max) if info.min == 0 else int(info.min)
    if ((i64 < low) | (i64 > info.max)).any():
        raise RuntimeError(f"value cannot be converted to type {d.name} without overflow")
    return i64.astype(d.np)


def tensor(
    data, dtype=None, device=None, requires_grad: bool = False, pin_memory: bool = False
) -> Tensor:
    """Build a tensor from data (lists, numbers, numpy or JAX arrays), as ``torch.tensor``.

    Python numbers are converted straight to ``dtype`` (``tensor([0.3], dtype=float64)`` holds the
    double 0.3); ints that do not fit int64 raise ``ValueError``, as in PyTorch."""
    if pin_memory:
        check_pin_memory("tensor", pin_memory)
    d = as_dtype(dtype) if dtype is not None else None
    return _finish(as_array(data, d), device, requires_grad)


def _finish(array, device, requires_grad: bool) -> Tensor:
    """A new leaf tensor holding ``array``, placed on ``device`` when given."""
    if device is not None:
        array = jax.device_put(array, Device(device).jax_device())
    t = Tensor._wrap(array)
    if requires_grad:
        t.requires_grad_(True)
    return t
