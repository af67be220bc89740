"""Arranging a tensor's values: grids (``meshgrid``, ``cartesian_prod``, ``combinations``), block
and Kronecker products, repeats (``repeat_interleave``), sliding windows (``Tensor.unfold``),
rotations (``rot90``), more ways to split (``tensor_split``, ``hsplit``, ...) and to stack
(``column_stack``, ``dstack``), and the in-place shape methods (``squeeze_``, ``t_``, ...).

Most are compositions of the shape and indexing ops, so their gradients and ``grad_fn`` names are
PyTorch's without a rule of their own. Three have their own rule: ``unfold`` (overlapping windows:
the gradient scatter-adds every window back), ``rot90`` and ``block_diag``.

In-place shape methods change a tensor's shape, which ``Tensor._rebase`` (for in-place *value*
changes) refuses; ``_rebase_shape`` here is its counterpart for them: the tensor holds the new
array, its version is bumped and its ``grad_fn`` becomes the shape op's, as in PyTorch. Storage is
shared with ``.data``/``detach()`` aliases (see docs/semantics.md), so those see the new shape too.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence

import jax.numpy as jnp
import numpy as np

from .._dtype import bool_, int32, int64, scalar_type_name
from .._layout import check_memory_format
from .._surface import expose
from ..tensor import Tensor, _note_write, _size_args, _wrap_dim, tensor
from .arith import _check_fill_tensor, _copy, _fill
from .indexing import _slice_dim, index_select
from .reduction import cumprod
from .registry import defop, needs_grad
from .shape import (
    _chunk,
    _dim_of,
    _expand,
    _permute,
    _pieces,
    _reshape,
    _tensor_list,
    cat,
    diag_embed,
    flip,
    hstack,
    split,
    stack,
    t,
    unsqueeze,
    vstack,
)

__all__ = [
    "meshgrid",
    "cartesian_prod",
    "combinations",
    "block_diag",
    "kron",
    "diagflat",
    "repeat_interleave",
    "tensor_split",
    "split_with_sizes",
    "hsplit",
    "vsplit",
    "dsplit",
    "rot90",
    "ravel",
    "atleast_1d",
    "atleast_2d",
    "atleast_3d",
    "column_stack",
    "dstack",
    "row_stack",
    "vander",
    "narrow_copy",
    "unsafe_chunk",
    "unsafe_split",
    "unsafe_split_with_sizes",
    "positive",
    "fill",
]


def _tensors_arg(tensors: tuple, op: str) -> list:
    """``f(a, b)`` and ``f([a, b])``, as PyTorch's variadic tensor functions take both."""
    if len(tensors) == 1 and isinstance(tensors[0], (list, tuple)):
        tensors = tuple(tensors[0])
    return _tensor_list(tensors, op)


# ------------------------------------------------------------------------------ meshgrid and kin
def meshgrid(*tensors, indexing: str | None = None) -> tuple:
    """Coordinate grids from 0-d or 1-d tensors: with ``indexing="ij"`` (the default, without
    PyTorch's warning about it) output ``i`` varies along dimension ``i``; ``"xy"`` swaps the
    first two dimensions of every output (Cartesian, as numpy's default)."""
    ts = _tensors_arg(tensors, "meshgrid")
    if not ts:
        raise RuntimeError("meshgrid expects a non-empty TensorList")
    if indexing is None:
        indexing = "ij"
    if indexing not in ("ij", "xy"):
        raise RuntimeError(
            f'torch.meshgrid: indexing must be one of "xy" or "ij", but received: {indexing}'
        )
    for t_ in ts[1:]:
        if t_.dtype != ts[0].dtype:
            raise RuntimeError("meshgrid expects all tensors to have the same dtype")
        if t_.device != ts[0].device:
            raise RuntimeError("meshgrid expects all tensors to have the same device")
    for t_ in ts:
        if t_.ndim > 1:
            raise RuntimeError(
                f"torch.meshgrid: Expected 0D or 1D tensor in the tensor list but got: {t_}"
            )
    # As PyTorch: "xy" is "ij" with the first two inputs swapped, and the first two outputs.
    swap = indexing == "xy" and len(ts) >= 2
    if swap:
        ts[0], ts[1] = ts[1], ts[0]
    shape = tuple(t_.numel() for t_ in ts)
    out = []
    for i, t_ in enumerate(ts):
        view = [1] * len(ts)
        view[i] = -1
        # Always an expand (PyTorch's ExpandBackward0), even where the shape is already right.
        out.append(_expand(t_.reshape(*view), shape=shape))
    if swap:
        out[0], out[1] = out[1], out[0]
    return tuple(out)


def _check_vector(t_: Tensor) -> None:
    if t_.ndim != 1:
        raise RuntimeError(f"Expect a 1D vector, but got shape {list(t_.shape)}")


def cartesian_prod(*tensors) -> Tensor:
    """Every tuple of one entry from each 1-d tensor, as rows (``itertools.product`` order); one
    tensor is returned as it is."""
    ts = _tensors_arg(tensors, "cartesian_prod")
    for t_ in ts:
        _check_vector(t_)
    if len(ts) == 1:
        return ts[0]
    grids = meshgrid(*ts, indexing="ij")
    return stack([g.flatten() for g in grids], 1)


def combinations(input: Tensor, r: int = 2, with_replacement: bool = False) -> Tensor:
    """The length-``r`` combinations of a 1-d tensor's entries, as rows, in
    ``itertools.combinations`` (or ``combinations_with_replacement``) order."""
    _check_vector(input)
    if r < 0:
        raise RuntimeError(f"Expect a non-negative number, but got {r}")
    if r == 0:
        return input.new_empty((0,))
    pick = itertools.combinations_with_replacement if with_replacement else itertools.combinations
    rows = np.array(list(pick(range(input.shape[0]), r)), dtype=np.int64).reshape(-1, r)
    cols = [index_select(input, 0, tensor(rows[:, j], device=input.device)) for j in range(r)]
    return stack(cols, 1)


# ------------------------------------------------------------------------------- block_diag, kron
@defop("BlockDiagBackward0", promote="same", saves=())
def _block_diag(*xs):
    rows = sum(x.shape[0] for x in xs)
    cols = sum(x.shape[1] for x in xs)
    dtype = xs[0].dtype if xs else jnp.float32
    z = jnp.zeros((rows, cols), dtype)
    r = c = 0
    for x in xs:
        h, w = x.shape
        z = z.at[r : r + h, c : c + w].set(x)
        r, c = r + h, c + w
    return z


@_block_diag.vjp
def _(g, out, *xs):
    grads, r, c = [], 0, 0
    for x in xs:
        h, w = x.shape
        if needs_grad(x):
            grads.append(_slice_dim(_slice_dim(g, 0, r, r + h), 1, c, c + w))
        else:
            grads.append(None)
        r, c = r + h, c + w
    return tuple(grads)


def block_diag(*tensors: Tensor) -> Tensor:
    """A block diagonal matrix of the given 0-d, 1-d (one row) or 2-d tensors; dtypes promote."""
    ts = _tensor_list(tensors, "block_diag")
    blocks = []
    for i, t_ in enumerate(ts):
        if t_.ndim > 2:
            raise RuntimeError(
                f"torch.block_diag: Input tensors must have 2 or fewer dimensions. Input {i} has "
                f"{t_.ndim} dimensions"
            )
        blocks.append(t_.reshape(1, -1) if t_.ndim < 2 else t_)
    if not blocks:
        return tensor(np.zeros((1, 0), np.float32))
    return _block_diag(*blocks)


@expose
def kron(input: Tensor, other: Tensor) -> Tensor:
    """The Kronecker product: blocks ``input[i] * other``, of shape ``input.shape * other.shape``
    (the shorter shape padded with leading ones)."""
    n = max(input.ndim, other.ndim)
    a_shape = (1,) * (n - input.ndim) + tuple(input.shape)
    b_shape = (1,) * (n - other.ndim) + tuple(other.shape)
    a = input.reshape(tuple(s for d in a_shape for s in (d, 1)))
    b = other.reshape(tuple(s for d in b_shape for s in (1, d)))
    shape = tuple(x * y for x, y in zip(a_shape, b_shape))
    return _reshape(a * b, shape=shape, name="UnsafeViewBackward0")


@expose
def diagflat(input: Tensor, offset: int = 0) -> Tensor:
    """A square matrix with the flattened ``input`` on its ``offset`` diagonal."""
    return diag_embed(input.reshape(-1), offset, 0, 1)


# ------------------------------------------------------------------------------ repeat_interleave
@expose
def repeat_interleave(
    input: Tensor, repeats=None, dim: int | None = None, *, output_size: int | None = None
) -> Tensor:
    """Each entry (along ``dim``; of the flattened tensor when None) repeated ``repeats`` times in
    place: an int, or a tensor with one count per entry. ``repeat_interleave(counts)`` alone
    gives ``arange(len(counts))`` so repeated. Tensor counts are read on the host (the output's
    size depends on them)."""
    if repeats is None:  # torch.repeat_interleave(repeats)
        counts = input
        if counts.ndim != 1:
            raise RuntimeError("repeat_interleave only accept 1D vector as repeat")
        _check_counts_dtype(counts)
        values = _counts(counts, output_size)
        return tensor(
            np.repeat(np.arange(len(values)), values), dtype=counts.dtype, device=counts.device
        )
    if dim is None:
        input = input.reshape(-1)
        dim = 0
    d = _wrap_dim(dim, input.ndim)
    n = input.shape[d] if input.ndim else 1
    if input.ndim == 0:
        input = input.reshape(1)
    if isinstance(repeats, int):
        if repeats < 0:
            raise RuntimeError("Repeats must be non-negative")
        if output_size is not None and output_size != n * repeats:
            raise RuntimeError(
                f"repeat_interleave: Invalid output_size, expected {n * repeats} but got "
                f"{output_size}"
            )
        # PyTorch's own construction (a new axis, expanded, merged), with its grad_fn.
        shape = list(input.shape)
        x = unsqueeze(input, d + 1)
        expanded = shape[: d + 1] + [repeats] + shape[d + 1 :]
        shape[d] *= repeats
        return x.expand(*expanded).reshape(*shape)
    if not isinstance(repeats, Tensor):
        repeats = tensor(repeats)
    _check_counts_dtype(repeats)
    if repeats.ndim > 1:
        raise RuntimeError("repeat_interleave only accept 1D vector as repeat")
    if repeats.ndim == 0 or repeats.shape[0] == 1:  # one count for every entry
        repeats = repeats.reshape(1).expand(n)
    if repeats.shape[0] != n:
        raise RuntimeError(
            "repeats must have the same size as input along dim, but got repeats.size(0) = "
            f"{repeats.shape[0]} and input.size({d}) = {n}"
        )
    values = _counts(repeats, output_size)
    index = np.repeat(np.arange(n), values)
    return index_select(input, d, tensor(index, device=input.device))


def _counts(repeats: Tensor, output_size: int | None) -> np.ndarray:
    repeats._check_concrete("repeat_interleave")
    values = np.asarray(repeats._storage.array).astype(np.int64)
    if (values < 0).any():
        raise RuntimeError("repeats can not be negative")
    if output_size is not None and output_size != int(values.sum()):
        raise RuntimeError("allocated size does not match required size")
    return values


def _check_counts_dtype(repeats: Tensor) -> None:
    if repeats.dtype not in (int64, int32):
        raise NotImplementedError(
            f"\"repeat_interleave_cpu\" not implemented for '{scalar_type_name(repeats.dtype)}'"
        )


# ---------------------------------------------------------------------------------------- unfold
def _windows(length: int, size: int, step: int) -> np.ndarray:
    """The (windows, size) positions read by ``unfold``."""
    n = (length - size) // step + 1
    return np.arange(n)[:, None] * step + np.arange(size)[None, :]


@defop("UnfoldBackward0", saves=())
def _unfold(a, *, dim, size, step):
    if a.ndim == 0:  # PyTorch: a 0-d tensor is one window of size 1 (or none of size 0)
        return jnp.reshape(a, (1,))[:size]
    idx = _windows(a.shape[dim], size, step)
    return jnp.moveaxis(jnp.take(a, idx, axis=dim), dim + 1, -1)


# The transpose of ``unfold``: every window's cotangent added back to the positions it read
# (windows overlap when step < size, so positions collect several).
@defop("UnfoldBackwardBackward0", saves=())
def _unfold_backward(g, *, shape, dim, size, step):
    if not shape:
        return jnp.sum(g).astype(g.dtype)
    idx = _windows(shape[dim], size, step)
    z = jnp.zeros(shape, g.dtype)
    return z.at[(slice(None),) * dim + (idx,)].add(jnp.moveaxis(g, -1, dim + 1))


@_unfold.vjp
def _(g, out, a, *, dim, size, step):
    return (_unfold_backward(g, shape=tuple(a.shape), dim=dim, size=size, step=step),)


@_unfold_backward.vjp
def _(gg, out, g, *, shape, dim, size, step):
    return (_unfold(gg, dim=dim, size=size, step=step),)


def _unfold_method(self: Tensor, dimension: int, size: int, step: int) -> Tensor:
    """The windows of ``size`` entries, every ``step``, along ``dimension``: that dimension becomes
    the window count and a new last dimension of ``size`` holds each window."""
    d = _wrap_dim(dimension, self.ndim)
    length = self.shape[d] if self.ndim else 1
    if size > length:
        raise RuntimeError(
            f"maximum size for tensor at dimension {d} is {length} but size is {size}"
        )
    if size < 0:
        raise RuntimeError(f"size is {size} but must be >= 0")
    if step <= 0:
        raise RuntimeError(f"step is {step} but must be > 0")
    return _unfold(self, dim=d, size=size, step=step)


_unfold_method.__name__ = "unfold"
expose(_unfold_method, methods=("unfold",))


# ----------------------------------------------------------------------------------------- rot90
@defop("Rot90Backward0", saves=())
def _rot90(a, *, k, dims):
    return jnp.rot90(a, k, dims)


@_rot90.vjp
def _(g, out, a, *, k, dims):
    return (_rot90(g, k=(-k) % 4, dims=dims),)


@expose
def rot90(input: Tensor, k: int = 1, dims: Sequence[int] = (0, 1)) -> Tensor:
    """Rotate by 90 degrees ``k`` times in the plane ``dims``, from the first axis towards the
    second."""
    dims = tuple(dims)
    if len(dims) != 2:
        raise RuntimeError(f"expected total rotation dims == 2, but got dims = {len(dims)}")
    if input.ndim < 2:
        raise RuntimeError(f"expected total dims >= 2, but got total dims = {input.ndim}")
    w0, w1 = _wrap_dim(dims[0], input.ndim), _wrap_dim(dims[1], input.ndim)
    if w0 == w1:
        raise RuntimeError(
            f"expected rotation dims to be different, but got dim0 = {dims[0]} and dim1 = {dims[1]}"
        )
    return _rot90(input, k=int(k) % 4, dims=(w0, w1))


# ------------------------------------------------------------------------------------- splitting
def _slice_bounds(start: int, stop: int, n: int) -> tuple:
    """PyTorch's ``slice`` of ``start:stop`` on a size-``n`` dimension (negatives wrap once, then
    both clamp; a stop before the start is empty)."""
    start = min(max(start + n if start < 0 else start, 0), n)
    stop = min(max(stop + n if stop < 0 else stop, 0), n)
    return start, max(stop, start)


@expose
def tensor_split(input: Tensor, indices_or_sections, dim: int = 0) -> tuple:
    """Split along ``dim`` into ``sections`` nearly equal pieces (the first ``n % sections`` one
    longer), or at the given ``indices``; a 0-d integer tensor counts as sections, a 1-d one as
    indices."""
    if input.ndim == 0:
        raise RuntimeError(
            "tensor_split expected at least a 1-dimensional tensor, but got a tensor with 0 dims"
        )
    if isinstance(indices_or_sections, Tensor):
        spec = indices_or_sections
        if spec.dtype is not int64:
            raise RuntimeError(
                "tensor_split expected tensor_indices_or_sections to have dtype of long, but got "
                f"{scalar_type_name(spec.dtype)}"
            )
        if spec.ndim > 1:
            raise RuntimeError(
                "tensor_split expected tensor_indices_or_sections to be a zero-dimensional or "
                f"one-dimensional tensor, but got a tensor with {spec.ndim} dims"
            )
        spec._check_concrete("tensor_split")
        values = np.asarray(spec._storage.array)
        indices_or_sections = int(values) if spec.ndim == 0 else [int(v) for v in values]
    d = _wrap_dim(dim, input.ndim)
    n = input.shape[d]
    if isinstance(indices_or_sections, int):
        sections = indices_or_sections
        if sections <= 0:
            raise RuntimeError(f"number of sections must be larger than 0, got {sections}")
        q, extra = divmod(n, sections)
        bounds, start = [], 0
        for i in range(sections):
            stop = start + q + (1 if i < extra else 0)
            bounds.append((start, stop))
            start = stop
    else:
        bounds, start = [], 0
        for index in [int(i) for i in indices_or_sections]:
            bounds.append(_slice_bounds(start, index, n))
            start = index
        bounds.append(_slice_bounds(start, n, n))
    return tuple(_slice_dim(input, d, a, b) for a, b in bounds)


def _split_dir(input: Tensor, indices_or_sections, op: str, min_dim: int, dim: int) -> tuple:
    if input.ndim < min_dim:
        raise RuntimeError(
            f"torch.{op} requires a tensor with at least {min_dim} dimension, but got a tensor "
            f"with {input.ndim} dimensions!"
        )
    if isinstance(indices_or_sections, int):
        size = input.shape[dim]
        if indices_or_sections == 0 or size % indices_or_sections:
            raise RuntimeError(
                f"torch.{op} attempted to split along dimension {dim}, but the size of the "
                f"dimension {size} is not divisible by the split_size {indices_or_sections}!"
            )
    return tensor_split(input, indices_or_sections, dim)


@expose
def hsplit(input: Tensor, indices_or_sections) -> tuple:
    """``tensor_split`` along dimension 1 (0 for a 1-d tensor); sections must divide evenly."""
    return _split_dir(input, indices_or_sections, "hsplit", 1, 1 if input.ndim > 1 else 0)


@expose
def vsplit(input: Tensor, indices_or_sections) -> tuple:
    """``tensor_split`` along dimension 0 of a tensor of 2 or more dimensions."""
    return _split_dir(input, indices_or_sections, "vsplit", 2, 0)


@expose
def dsplit(input: Tensor, indices_or_sections) -> tuple:
    """``tensor_split`` along dimension 2 of a tensor of 3 or more dimensions."""
    return _split_dir(input, indices_or_sections, "dsplit", 3, 2)


def _sizes_check(input: Tensor, sizes: list, d: int, op: str) -> list:
    n = input.shape[d]
    if sum(sizes) != n or any(s < 0 for s in sizes):
        raise RuntimeError(
            f"{op} expects split_sizes to sum exactly to {n} (input tensor's size at "
            f"dimension {d}), but got split_sizes={sizes}"
        )
    return sizes


def _split_with_sizes(input: Tensor, split_sizes, dim: int, name: str) -> tuple:
    d = _dim_of(input, dim, "split_with_sizes")
    sizes = _sizes_check(input, [int(s) for s in split_sizes], d, "split_with_sizes")
    return _pieces(input, d, sizes, name)


@expose
def split_with_sizes(input: Tensor, split_sizes: Sequence[int], dim: int = 0) -> tuple:
    """Pieces of the given sizes along ``dim`` (they must sum to its size)."""
    return _split_with_sizes(input, split_sizes, dim, "SplitWithSizesBackward0")


@expose
def unsafe_split_with_sizes(input: Tensor, split_sizes: Sequence[int], dim: int = 0) -> tuple:
    """``split_with_sizes``; PyTorch's unsafe form skips view tracking, tracegrad has no views."""
    return _split_with_sizes(input, split_sizes, dim, "UnsafeSplitWithSizesBackward0")


@expose
def unsafe_split(tensor: Tensor, split_size_or_sections, dim: int = 0) -> tuple:
    """``split`` by an int size; PyTorch's unsafe form skips view tracking, tracegrad has no
    views."""
    if not isinstance(split_size_or_sections, int):
        raise TypeError(
            "unsafe_split(): argument 'split_size' (position 2) must be int, not "
            f"{type(split_size_or_sections).__name__}"
        )
    d = _dim_of(tensor, dim, "split")
    sizes = [p.shape[d] for p in split(tensor.detach(), split_size_or_sections, d)]
    return _pieces(tensor, d, sizes, "UnsafeSplitBackward0")


@expose
def unsafe_chunk(input: Tensor, chunks: int, dim: int = 0) -> tuple:
    """``chunk``; PyTorch's unsafe form skips view tracking, tracegrad has no views."""
    return _chunk(input, chunks, dim, unsafe_split, "UnsafeSplitBackward0")


@expose
def narrow_copy(input: Tensor, dim: int, start: int, length: int) -> Tensor:
    """``narrow``, as a new tensor (every tracegrad result is one)."""
    narrowed = input.detach().narrow(dim, start, length)  # PyTorch's checks and errors
    d = _wrap_dim(dim, input.ndim)
    start = int(start) + (input.shape[d] if int(start) < 0 else 0)
    return _slice_dim(input, d, start, start + narrowed.shape[d], "NarrowCopyBackward0")


# ------------------------------------------------------------------------------ ravel, atleast_nd
@expose
def ravel(input: Tensor) -> Tensor:
    """The values as a 1-d tensor."""
    return input.reshape(-1)


def _atleast(tensors: tuple, fn, op: str):
    if len(tensors) == 1 and isinstance(tensors[0], Tensor):
        return fn(tensors[0])
    return tuple(fn(t_) for t_ in _tensors_arg(tensors, op))


def _as_1d(t_: Tensor) -> Tensor:
    return t_.reshape(1) if t_.ndim == 0 else t_


def _as_2d(t_: Tensor) -> Tensor:
    if t_.ndim == 0:
        return t_.reshape(1, 1)
    return unsqueeze(t_, 0) if t_.ndim == 1 else t_


def _as_3d(t_: Tensor) -> Tensor:
    if t_.ndim == 0:
        return t_.reshape(1, 1, 1)
    if t_.ndim == 1:
        return unsqueeze(unsqueeze(t_, 0), -1)
    return unsqueeze(t_, -1) if t_.ndim == 2 else t_


def atleast_1d(*tensors):
    """Each tensor with at least one dimension (0-d becomes shape (1,)); a tuple for several."""
    return _atleast(tensors, _as_1d, "atleast_1d")


def atleast_2d(*tensors):
    """Each tensor with at least two dimensions (a 1-d one becomes a row); a tuple for several."""
    return _atleast(tensors, _as_2d, "atleast_2d")


def atleast_3d(*tensors):
    """Each tensor with at least three dimensions (``(n,)`` becomes ``(1, n, 1)``, ``(m, n)``
    becomes ``(m, n, 1)``); a tuple for several."""
    return _atleast(tensors, _as_3d, "atleast_3d")


def column_stack(tensors: Sequence[Tensor]) -> Tensor:
    """Stack as columns: 0-d and 1-d tensors become ``(n, 1)`` columns, then ``hstack``."""
    ts = _tensor_list(tensors, "column_stack")
    if not ts:
        raise RuntimeError("column_stack expects a non-empty TensorList")
    return hstack([t_.reshape(t_.numel(), 1) if t_.ndim <= 1 else t_ for t_ in ts])


def dstack(tensors: Sequence[Tensor]) -> Tensor:
    """Concatenate along dimension 2, after ``atleast_3d``."""
    ts = _tensor_list(tensors, "dstack")
    if not ts:
        raise RuntimeError("dstack expects a non-empty TensorList")
    return cat([_as_3d(t_) for t_ in ts], 2)


def row_stack(tensors: Sequence[Tensor]) -> Tensor:
    """``vstack``, under its other name."""
    return vstack(tensors)


# ---------------------------------------------------------------------------------------- vander
def vander(x: Tensor, N: int | None = None, increasing: bool = False) -> Tensor:
    """The Vandermonde matrix of a 1-d ``x``: column ``j`` is ``x ** (N - 1 - j)`` (``x ** j`` when
    ``increasing``); integer and bool inputs give int64. Built as PyTorch builds it, a cumulative
    product, so the values (and gradients) agree."""
    if x.ndim != 1:
        raise RuntimeError("x must be a one-dimensional tensor.")
    n = x.shape[0] if N is None else int(N)
    if n < 0:
        raise RuntimeError("N must be non-negative.")
    if not x.dtype.is_floating_point:
        x = x.to(int64)
    if n == 0:
        return x.new_zeros((x.shape[0], 0))
    cols = [x.new_ones((x.shape[0], 1))]
    if n > 1:
        cols.append(unsqueeze(x, 1).expand(x.shape[0], n - 1))
    result = cumprod(cat(cols, 1), 1) if n > 1 else cols[0]
    return result if increasing else flip(result, 1)


# ------------------------------------------------------------------------------- positive, fill
@expose
def positive(input: Tensor) -> Tensor:
    """``input`` itself (unary plus); a bool tensor raises, as in PyTorch."""
    if input.dtype is bool_:
        raise RuntimeError("The `+` operator, on a bool tensor is not supported.")
    return input


def fill(input: Tensor, value) -> Tensor:
    """A tensor like ``input`` filled with ``value`` (a number or a 0-d tensor, which then gets
    the gradient: the sum of the cotangent)."""
    if isinstance(value, Tensor):
        _check_fill_tensor(value)
        return _copy(input, value)
    return _fill(input, value=value, zero=False)


# ------------------------------------------------------------------------ in-place shape methods
def _rebase_shape(self: Tensor, result: Tensor) -> Tensor:
    """Make ``self`` hold ``result``, a shape op's value (``Tensor._rebase`` for a new shape): the
    version is bumped (nodes that saved ``self`` refuse to run, as in PyTorch) and the grad_fn
    becomes the shape op's."""
    _note_write(self)
    return self._adopt(result, result._storage.array)


# PyTorch names the in-place forms' nodes apart from the out-of-place ones (SqueezeBackward3 for
# ``squeeze_()``, TransposeBackward1, ...); the rules are the same reshape and permute.
def _squeeze_(self: Tensor, dim=None) -> Tensor:
    """Remove size-1 dimensions (all, or those in ``dim``: an int or a tuple) of this tensor, in
    place."""
    self._check_inplace("squeeze_")
    if dim is None:
        dims, name = {i for i, s in enumerate(self.shape) if s == 1}, "SqueezeBackward3"
    else:
        many = not isinstance(dim, int)
        wrapped = [_wrap_dim(d, self.ndim) for d in (dim if many else (dim,))]
        for i, d in enumerate(wrapped):
            if d in wrapped[:i]:
                raise RuntimeError(f"dim {d} appears multiple times in the list of dims")
        dims = {d for d in wrapped if self.ndim and self.shape[d] == 1}
        name = "SqueezeBackward5" if many else "SqueezeBackward4"
    shape = tuple(s for i, s in enumerate(self.shape) if i not in dims)
    return _rebase_shape(self, _reshape(self._snapshot(), shape=shape, name=name))


def _unsqueeze_(self: Tensor, dim: int) -> Tensor:
    """Insert a size-1 dimension at ``dim`` of this tensor, in place."""
    self._check_inplace("unsqueeze_")
    shape = list(self.shape)
    shape.insert(_wrap_dim(dim, self.ndim + 1), 1)
    return _rebase_shape(
        self, _reshape(self._snapshot(), shape=tuple(shape), name="UnsqueezeBackward1")
    )


def _swap_inplace(self: Tensor, dim0: int, dim1: int, name: str, node: str) -> Tensor:
    self._check_inplace(name)
    n = self.ndim
    d0, d1 = _wrap_dim(dim0, n), _wrap_dim(dim1, n)
    dims = list(range(n))
    dims[d0], dims[d1] = dims[d1], dims[d0]
    return _rebase_shape(self, _permute(self._snapshot(), dims=tuple(dims), name=node))


def _t_(self: Tensor) -> Tensor:
    """Transpose this matrix in place (0-d and 1-d tensors stay as they are)."""
    if self.ndim > 2:
        raise RuntimeError(f"t_() expects a tensor with <= 2 dimensions, but self is {self.ndim}D")
    if self.ndim < 2:
        self._check_inplace("t_")
        return _rebase_shape(self, t(self._snapshot()))
    return _swap_inplace(self, 0, 1, "t_", "TBackward1")


def _transpose_(self: Tensor, dim0: int, dim1: int) -> Tensor:
    """Swap dimensions ``dim0`` and ``dim1`` of this tensor, in place."""
    return _swap_inplace(self, dim0, dim1, "transpose_", "TransposeBackward1")


def _swapaxes_(self: Tensor, axis0: int, axis1: int) -> Tensor:
    """``transpose_(axis0, axis1)``."""
    return _swap_inplace(self, axis0, axis1, "swapaxes_", "TransposeBackward1")


def _swapdims_(self: Tensor, dim0: int, dim1: int) -> Tensor:
    """``transpose_(dim0, dim1)``."""
    return _swap_inplace(self, dim0, dim1, "swapdims_", "TransposeBackward1")


expose(_squeeze_, methods=("squeeze_",))
expose(_unsqueeze_, methods=("unsqueeze_",))
expose(_t_, methods=("t_",))
expose(_transpose_, methods=("transpose_",))
expose(_swapaxes_, methods=("swapaxes_",))
expose(_swapdims_, methods=("swapdims_",))


def _resize_check(self: Tensor, shape: tuple, memory_format, op: str) -> None:
    if memory_format is not None:
        check_memory_format(op, memory_format)
    if self._requires_grad:
        raise RuntimeError("cannot resize variables that require grad")
    if any(s < 0 for s in shape):
        raise RuntimeError(f"Trying to create tensor with negative dimension: {list(shape)}")
    if math.prod(shape) > self.numel():
        raise NotImplementedError(
            f"{op}: growing a tensor of {self.numel()} elements to shape {list(shape)} would "
            "expose uninitialised memory, which JAX arrays do not have; build a new tensor with "
            "tracegrad.zeros(...) (or torch.cat the extra values) instead"
        )


def _resize_(self: Tensor, *sizes, memory_format=None) -> Tensor:
    """Give this tensor shape ``sizes``, keeping its first values in row-major order. Supported
    when the number of elements stays the same or shrinks (growing raises
    ``NotImplementedError``); as in PyTorch, not for tensors that require grad."""
    shape = _size_args(sizes)
    _resize_check(self, shape, memory_format, "resize_")
    flat = jnp.ravel(self._storage.array)[: math.prod(shape)]
    _note_write(self)
    self._storage.array = jnp.reshape(flat, shape)
    if self._version_tracked:
        self._storage.version += 1
    return self


def _resize_as_(self: Tensor, the_template: Tensor, *, memory_format=None) -> Tensor:
    """``resize_(the_template.shape)``."""
    return _resize_(self, *the_template.shape, memory_format=memory_format)


expose(_resize_, methods=("resize_",))
expose(_resize_as_, methods=("resize_as_",))
