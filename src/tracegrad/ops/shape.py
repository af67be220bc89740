"""Shape ops: ``reshape``/``view``, ``expand``, ``squeeze``/``unsqueeze``, ``transpose``/``permute``.

JAX arrays have no strides, so "views" are new arrays; in-place ops on them do not write through
to the tensor they came from (see docs/semantics.md).
"""

from __future__ import annotations

import jax.numpy as jnp

from ..tensor import Size, Tensor, _size_args, _wrap_dim
from .registry import defop, tensor_method

__all__ = [
    "reshape",
    "expand",
    "expand_as",
    "broadcast_to",
    "unsqueeze",
    "squeeze",
    "transpose",
    "swapaxes",
    "permute",
    "t",
]


def _infer_shape(shape: tuple, numel: int, op: str) -> tuple:
    """Resolve one ``-1`` in ``shape``; RuntimeError (as PyTorch) when sizes don't match."""
    if shape.count(-1) > 1:
        raise RuntimeError("only one dimension can be inferred")
    known = 1
    for s in shape:
        if s != -1:
            known *= s
    if -1 in shape:
        if known == 0 or numel % known:
            raise RuntimeError(f"shape '{list(shape)}' is invalid for input of size {numel}")
        shape = tuple(numel // known if s == -1 else s for s in shape)
    elif known != numel:
        raise RuntimeError(f"shape '{list(shape)}' is invalid for input of size {numel}")
    return shape


# --------------------------------------------------------------------------------- reshape, view
@defop(lambda p: p["name"], saves=())
def _reshape(a, *, shape, name):
    return jnp.reshape(a, shape)


@_reshape.vjp
def _(g, out, a, *, shape, name):
    return (_reshape(g, shape=tuple(a.shape), name=name),)


def _reshape_to(input: Tensor, size, name: str) -> Tensor:
    shape = _infer_shape(_size_args(size), input.numel(), name)
    if shape == tuple(input.shape):
        return _reshape(input, shape=shape, name=name) if input.requires_grad else input
    return _reshape(input, shape=shape, name=name)


@tensor_method
def reshape(input: Tensor, *shape) -> Tensor:
    """The same values in a new ``shape`` (one dimension may be -1)."""
    return _reshape_to(input, shape, "ViewBackward0")


def view(self: Tensor, *shape) -> Tensor:
    """The same values in a new ``shape``; ``view(dtype)`` is not supported."""
    if len(shape) == 1 and not isinstance(shape[0], (int, tuple, list, Size)):
        raise NotImplementedError("Tensor.view(dtype) is not supported; use .to(dtype)")
    return _reshape_to(self, shape, "ViewBackward0")


Tensor.view = view
Tensor.view_as = lambda self, other: view(self, *other.shape)
Tensor.reshape_as = lambda self, other: reshape(self, *other.shape)


# ---------------------------------------------------------------------------------------- expand
@defop("ExpandBackward0", saves=())
def _expand(a, *, shape):
    return jnp.broadcast_to(a, shape)


@_expand.vjp
def _(g, out, a, *, shape):
    return (g.sum_to_size(*a.shape),)


def _expanded_shape(input: Tensor, sizes: tuple) -> tuple:
    lead = len(sizes) - input.ndim
    if lead < 0:
        raise RuntimeError(
            f"expand: the number of sizes provided ({len(sizes)}) must be greater or equal to the "
            f"number of dimensions in the tensor ({input.ndim})"
        )
    shape = []
    for i, s in enumerate(sizes):
        cur = input.shape[i - lead] if i >= lead else None
        if s == -1:
            if cur is None:
                raise RuntimeError(
                    f"expand: -1 is not allowed in a leading, non-existing dimension {i}"
                )
            s = cur
        elif cur is not None and cur != s and cur != 1:
            raise RuntimeError(
                f"The expanded size of the tensor ({s}) must match the existing size ({cur}) at "
                f"non-singleton dimension {i}.  Target sizes: {list(sizes)}.  Tensor sizes: "
                f"{list(input.shape)}"
            )
        shape.append(s)
    return tuple(shape)


@tensor_method
def expand(input: Tensor, *sizes) -> Tensor:
    """Broadcast ``input`` to ``sizes`` (-1 keeps a dimension) without copying in PyTorch."""
    shape = _expanded_shape(input, _size_args(sizes) if sizes else ())
    if shape == tuple(input.shape):
        return input
    return _expand(input, shape=shape)


@tensor_method
def expand_as(input: Tensor, other: Tensor) -> Tensor:
    """``input.expand(other.shape)``."""
    return expand(input, *other.shape)


def broadcast_to(input: Tensor, size) -> Tensor:
    """``input.expand(size)``."""
    return expand(input, *size)


Tensor.broadcast_to = broadcast_to


# --------------------------------------------------------------------------- squeeze, unsqueeze
@tensor_method
def unsqueeze(input: Tensor, dim: int) -> Tensor:
    """Insert a size-1 dimension at ``dim``."""
    d = _wrap_dim(dim, input.ndim + 1)
    shape = list(input.shape)
    shape.insert(d, 1)
    return _reshape(input, shape=tuple(shape), name="UnsqueezeBackward0")


@tensor_method
def squeeze(input: Tensor, dim=None) -> Tensor:
    """Remove size-1 dimensions (all, or those in ``dim``: an int or a tuple)."""
    if dim is None:
        dims = {i for i, s in enumerate(input.shape) if s == 1}
        name = "SqueezeBackward0"
    else:
        dims = {_wrap_dim(d, input.ndim) for d in ((dim,) if isinstance(dim, int) else dim)}
        dims = {d for d in dims if input.ndim and input.shape[d] == 1}
        name = "SqueezeBackward1"
    shape = tuple(s for i, s in enumerate(input.shape) if i not in dims)
    return _reshape(input, shape=shape, name=name)


# ------------------------------------------------------------------------- permute, transpose, t
@defop(lambda p: p["name"], saves=())
def _permute(a, *, dims, name):
    return jnp.transpose(a, dims)


@_permute.vjp
def _(g, out, a, *, dims, name):
    inverse = tuple(sorted(range(len(dims)), key=dims.__getitem__))
    return (_permute(g, dims=inverse, name=name),)


@tensor_method
def permute(input: Tensor, *dims) -> Tensor:
    """Reorder dimensions: ``x.permute(2, 0, 1)``."""
    dims = _size_args(dims) if dims else ()
    if len(dims) != input.ndim:
        raise RuntimeError(
            f"permute(sparse_coo): number of dimensions in the tensor input does not match the "
            f"length of the desired ordering of dimensions i.e. input.dim() = {input.ndim} is not "
            f"equal to len(dims) = {len(dims)}"
        )
    dims = tuple(_wrap_dim(d, input.ndim) for d in dims)
    if len(set(dims)) != len(dims):
        raise RuntimeError("permute(): duplicate dims are not allowed.")
    return _permute(input, dims=dims, name="PermuteBackward0")


@tensor_method
def transpose(input: Tensor, dim0: int, dim1: int) -> Tensor:
    """Swap dimensions ``dim0`` and ``dim1``."""
    n = input.ndim
    d0, d1 = _wrap_dim(dim0, n), _wrap_dim(dim1, n)
    dims = list(range(n))
    dims[d0], dims[d1] = dims[d1], dims[d0]
    return _permute(input, dims=tuple(dims), name="TransposeBackward0")


swapaxes = tensor_method(transpose, name="swapaxes")
swapdims = tensor_method(transpose, name="swapdims")


@tensor_method
def t(input: Tensor) -> Tensor:
    """Transpose a matrix (0-d and 1-d tensors are returned as they are)."""
    if input.ndim > 2:
        raise RuntimeError(f"t() expects a tensor with <= 2 dimensions, but self is {input.ndim}D")
    if input.ndim < 2:
        return input
    return _permute(input, dims=(1, 0), name="TBackward0")


def _T(self: Tensor) -> Tensor:
    if self.ndim < 2:
        return self
    return _permute(self, dims=tuple(reversed(range(self.ndim))), name="PermuteBackward0")


def _mT(self: Tensor) -> Tensor:
    if self.ndim < 2:
        raise RuntimeError(
            f"tensor.mT is only supported on matrices or batches of matrices. Got {self.ndim}-D tensor."
        )
    return transpose(self, -2, -1)


Tensor.T = property(_T, doc="All dimensions reversed (a matrix transpose for 2-d tensors).")
Tensor.mT = property(_mT, doc="The last two dimensions swapped.")
