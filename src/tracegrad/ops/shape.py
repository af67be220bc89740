"""Shape ops: ``reshape``/``view``/``flatten``, ``expand``/``repeat``, ``squeeze``/``unsqueeze``,
``transpose``/``permute``/``movedim``, joining (``cat``, ``stack``) and splitting (``split``,
``chunk``, ``unbind``, ``narrow``), ``flip``/``roll``, ``diagonal``/``diag``, ``tril``/``triu``.

Pieces of a tensor (``split``, ``narrow``, ``select``) are the indexing op of ``ops/indexing.py``
with a static slice, so their gradients scatter back like any ``x[a:b]``.

JAX arrays have no strides, so "views" are new arrays; in-place ops on them do not write through
to the tensor they came from (see docs/semantics.md).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import jax.numpy as jnp

from .._surface import expose
from ..tensor import Size, Tensor, _size_args, _wrap_dim
from .indexing import _select_dim, _slice_dim, index_view
from .registry import defop

__all__ = [
    "reshape",
    "expand",
    "expand_as",
    "broadcast_to",
    "unsqueeze",
    "squeeze",
    "transpose",
    "swapaxes",
    "swapdims",
    "permute",
    "t",
    "flatten",
    "unflatten",
    "tile",
    "cat",
    "concat",
    "concatenate",
    "stack",
    "hstack",
    "vstack",
    "split",
    "chunk",
    "unbind",
    "narrow",
    "select",
    "flip",
    "fliplr",
    "flipud",
    "roll",
    "movedim",
    "moveaxis",
    "diagonal",
    "diag",
    "diag_embed",
    "tril",
    "triu",
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


# PyTorch returns the results of these functions as views of their input; tracegrad's are copies
# linked to the input, so that in-place ops on them write through (Tensor._view_of,
# docs/semantics.md).
def _reshaped_view(out: Tensor, input: Tensor) -> Tensor:
    if out is not input:
        shape = tuple(out.shape)
        out._view_of(input, lambda b: b.reshape(shape), _write_reshaped)
    return out


def _write_reshaped(base: Tensor, v: Tensor) -> None:
    base[...] = v.reshape(base.shape)


def _permuted_view(out: Tensor, input: Tensor, dims: tuple) -> Tensor:
    if out is not input:
        inverse = tuple(sorted(range(len(dims)), key=dims.__getitem__))
        out._view_of(
            input,
            lambda b: b.permute(*dims),
            lambda b, v: b.__setitem__(Ellipsis, v.permute(*inverse)),
        )
    return out


def _dim_key(d: int, index) -> tuple:
    """The basic-indexing key that applies ``index`` (an int or a slice) to dimension ``d``."""
    return (slice(None),) * d + (index,)


@expose
def reshape(input: Tensor, *shape) -> Tensor:
    """The same values in a new ``shape`` (one dimension may be -1)."""
    return _reshaped_view(_reshape_to(input, shape, "ViewBackward0"), input)


@expose
def view(self: Tensor, *shape) -> Tensor:
    """The same values in a new ``shape``; ``view(dtype)`` is not supported."""
    if len(shape) == 1 and not isinstance(shape[0], (int, tuple, list, Size)):
        raise NotImplementedError("Tensor.view(dtype) is not supported; use .to(dtype)")
    return _reshaped_view(_reshape_to(self, shape, "ViewBackward0"), self)


@expose
def view_as(self: Tensor, other: Tensor) -> Tensor:
    """``self.view(other.shape)``."""
    return view(self, *other.shape)


@expose
def reshape_as(self: Tensor, other: Tensor) -> Tensor:
    """``self.reshape(other.shape)``."""
    return reshape(self, *other.shape)


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


@expose
def expand(input: Tensor, *sizes) -> Tensor:
    """Broadcast ``input`` to ``sizes`` (-1 keeps a dimension) without copying in PyTorch."""
    shape = _expanded_shape(input, _size_args(sizes) if sizes else ())
    if shape == tuple(input.shape):
        return input
    # A view in PyTorch, where writing into it raises (elements share memory): so here too.
    return _expand(input, shape=shape)._view_of(input, None, None, refuse=_EXPANDED)


_EXPANDED = (
    "unsupported operation: more than one element of the written-to tensor refers to a single "
    "memory location. Please clone() the tensor before performing the operation."
)


@expose
def expand_as(input: Tensor, other: Tensor) -> Tensor:
    """``input.expand(other.shape)``."""
    return expand(input, *other.shape)


@expose
def broadcast_to(input: Tensor, size) -> Tensor:
    """``input.expand(size)``."""
    return expand(input, *size)


# --------------------------------------------------------------------------- squeeze, unsqueeze
@expose
def unsqueeze(input: Tensor, dim: int) -> Tensor:
    """Insert a size-1 dimension at ``dim``."""
    d = _wrap_dim(dim, input.ndim + 1)
    shape = list(input.shape)
    shape.insert(d, 1)
    return _reshaped_view(_reshape(input, shape=tuple(shape), name="UnsqueezeBackward0"), input)


@expose
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
    return _reshaped_view(_reshape(input, shape=shape, name=name), input)


# ------------------------------------------------------------------------- permute, transpose, t
@defop(lambda p: p["name"], saves=())
def _permute(a, *, dims, name):
    return jnp.transpose(a, dims)


@_permute.vjp
def _(g, out, a, *, dims, name):
    inverse = tuple(sorted(range(len(dims)), key=dims.__getitem__))
    return (_permute(g, dims=inverse, name=name),)


@expose
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
    return _permuted_view(_permute(input, dims=dims, name="PermuteBackward0"), input, dims)


@expose
def transpose(input: Tensor, dim0: int, dim1: int) -> Tensor:
    """Swap dimensions ``dim0`` and ``dim1``."""
    n = input.ndim
    d0, d1 = _wrap_dim(dim0, n), _wrap_dim(dim1, n)
    dims = list(range(n))
    dims[d0], dims[d1] = dims[d1], dims[d0]
    dims = tuple(dims)
    return _permuted_view(_permute(input, dims=dims, name="TransposeBackward0"), input, dims)


swapaxes = expose(transpose, methods=("swapaxes",))
swapdims = expose(transpose, methods=("swapdims",))


@expose
def t(input: Tensor) -> Tensor:
    """Transpose a matrix (0-d and 1-d tensors are returned as they are)."""
    if input.ndim > 2:
        raise RuntimeError(f"t() expects a tensor with <= 2 dimensions, but self is {input.ndim}D")
    if input.ndim < 2:
        return input
    return _permuted_view(_permute(input, dims=(1, 0), name="TBackward0"), input, (1, 0))


def _T(self: Tensor) -> Tensor:
    """All dimensions reversed (a matrix transpose for 2-d tensors)."""
    if self.ndim < 2:
        return self
    dims = tuple(reversed(range(self.ndim)))
    return _permuted_view(_permute(self, dims=dims, name="PermuteBackward0"), self, dims)


def _mT(self: Tensor) -> Tensor:
    """The last two dimensions swapped."""
    if self.ndim < 2:
        raise RuntimeError(
            f"tensor.mT is only supported on matrices or batches of matrices. Got {self.ndim}-D tensor."
        )
    return transpose(self, -2, -1)


expose(_T, methods=(), properties=("T",))
expose(_mT, methods=(), properties=("mT",))


# ------------------------------------------------------------------------------ flatten, unflatten
@expose
def flatten(input: Tensor, start_dim: int = 0, end_dim: int = -1) -> Tensor:
    """Merge dimensions ``start_dim`` to ``end_dim`` (inclusive) into one; a 0-d tensor gives 1-d."""
    n = input.ndim
    if n == 0:
        return _reshape_to(input, (1,), "ViewBackward0")
    s, e = _wrap_dim(start_dim, n), _wrap_dim(end_dim, n)
    if s > e:
        raise RuntimeError("flatten() has invalid args: start_dim cannot come after end_dim")
    if s == e:
        return input
    shape = input.shape
    out = _reshape_to(
        input, shape[:s] + (math.prod(shape[s : e + 1]),) + shape[e + 1 :], "ViewBackward0"
    )
    return _reshaped_view(out, input)


@expose
def unflatten(input: Tensor, dim: int, sizes: Sequence[int]) -> Tensor:
    """Split dimension ``dim`` into ``sizes`` (one entry may be -1, inferred)."""
    d = _wrap_dim(dim, input.ndim)
    sizes = tuple(int(s) for s in sizes)
    if not sizes:
        raise RuntimeError("unflatten: sizes must be non-empty")
    size = input.shape[d]
    if sizes.count(-1) > 1:
        raise RuntimeError("only one dimension can be inferred")
    known = math.prod(s for s in sizes if s != -1)
    if -1 in sizes:
        ok = known != 0 and size % known == 0
        sizes = tuple(size // known if s == -1 and ok else s for s in sizes)
    else:
        ok = known == size
    if not ok:
        raise RuntimeError(
            f"unflatten: Provided sizes {list(sizes)} don't multiply up to the size of dim {dim} "
            f"({size}) in the input tensor"
        )
    shape = input.shape
    out = _reshape_to(input, shape[:d] + sizes + shape[d + 1 :], "ViewBackward0")
    return _reshaped_view(out, input)


# ----------------------------------------------------------------------------------- repeat, tile
@defop("RepeatBackward0", saves=())
def _repeat(a, *, repeats):
    return jnp.tile(a, repeats)


@_repeat.vjp
def _(g, out, a, *, repeats):
    # out[r * s + i] = a[i] in each dimension: view every output dimension as (repeat, size) and
    # sum over the repeats.
    shape = (1,) * (len(repeats) - a.ndim) + tuple(a.shape)
    g = g.reshape(tuple(x for r, s in zip(repeats, shape) for x in (r, s)))
    if repeats:
        g = g.sum(dim=tuple(range(0, 2 * len(repeats), 2)))
    return (g.reshape(tuple(a.shape)),)


@expose
def repeat(self: Tensor, *sizes) -> Tensor:
    """Tile the tensor ``sizes[i]`` times along each dimension (extra sizes add leading dims)."""
    sizes = _size_args(sizes)
    if len(sizes) < self.ndim:
        raise RuntimeError(
            "Number of dimensions of repeat dims can not be smaller than number of dimensions of "
            "tensor"
        )
    if any(s < 0 for s in sizes):
        raise RuntimeError(f"Trying to create tensor with negative dimension: {list(sizes)}")
    return _repeat(self, repeats=sizes)


@expose
def tile(input: Tensor, dims, *more_dims) -> Tensor:
    """``repeat``, with ``dims`` padded with leading 1s when shorter than ``input.ndim``."""
    dims = ((dims,) if isinstance(dims, int) else tuple(dims)) + more_dims
    return repeat(input, *((1,) * (input.ndim - len(dims)) + dims))


# ------------------------------------------------------------------------------------ cat, stack
@defop("CatBackward0", promote="same", saves=())
def _cat(*xs, dim):
    return jnp.concatenate(xs, axis=dim)


@_cat.vjp
def _(g, out, *xs, dim):
    grads, start = [], 0
    for x in xs:
        stop = start + x.shape[dim]
        grads.append(_slice_dim(g, dim, start, stop) if x._requires_grad else None)
        start = stop
    return tuple(grads)


def _tensor_list(tensors, op: str) -> list:
    if isinstance(tensors, Tensor):
        raise TypeError(f"{op}(): argument 'tensors' must be tuple of Tensors, not Tensor")
    tensors = list(tensors)
    for i, t in enumerate(tensors):
        if not isinstance(t, Tensor):
            raise TypeError(
                f"expected Tensor as element {i} in argument 0, but got {type(t).__name__}"
            )
    return tensors


def cat(tensors: Sequence[Tensor], dim: int = 0) -> Tensor:
    """Join tensors along an existing dimension ``dim``; all other sizes must match. Legacy 1-d
    empty tensors (shape ``(0,)``) are skipped, as in PyTorch. Dtypes are promoted."""
    tensors = _tensor_list(tensors, "cat")
    if not tensors:
        raise RuntimeError("torch.cat(): expected a non-empty list of Tensors")
    keep = [(i, t) for i, t in enumerate(tensors) if tuple(t.shape) != (0,)] or [(0, tensors[0])]
    ref = keep[0][1]
    for i, t in keep:
        if t.ndim == 0:
            raise RuntimeError(f"zero-dimensional tensor (at position {i}) cannot be concatenated")
    d = _wrap_dim(dim, ref.ndim)
    for i, t in keep:
        if t.ndim != ref.ndim:
            raise RuntimeError(
                f"Tensors must have same number of dimensions: got {ref.ndim} and {t.ndim}"
            )
        for k in range(ref.ndim):
            if k != d and t.shape[k] != ref.shape[k]:
                raise RuntimeError(
                    f"Sizes of tensors must match except in dimension {d}. Expected size "
                    f"{ref.shape[k]} but got size {t.shape[k]} for tensor number {i} in the list."
                )
    return _cat(*(t for _, t in keep), dim=d)


concat = concatenate = cat


@defop("StackBackward0", promote="same", saves=())
def _stack(*xs, dim):
    return jnp.stack(xs, axis=dim)


@_stack.vjp
def _(g, out, *xs, dim):
    return tuple(_select_dim(g, dim, i) if x._requires_grad else None for i, x in enumerate(xs))


def stack(tensors: Sequence[Tensor], dim: int = 0) -> Tensor:
    """Join equally shaped tensors along a new dimension ``dim``."""
    tensors = _tensor_list(tensors, "stack")
    if not tensors:
        raise RuntimeError("stack expects a non-empty TensorList")
    ref = tensors[0]
    for i, t in enumerate(tensors):
        if t.shape != ref.shape:
            raise RuntimeError(
                f"stack expects each tensor to be equal size, but got {list(ref.shape)} at entry 0 "
                f"and {list(t.shape)} at entry {i}"
            )
    return _stack(*tensors, dim=_wrap_dim(dim, ref.ndim + 1))


def hstack(tensors: Sequence[Tensor]) -> Tensor:
    """Concatenate along dimension 1 (dimension 0 for 1-d tensors); 0-d tensors count as 1-d."""
    tensors = [t.reshape(1) if t.ndim == 0 else t for t in _tensor_list(tensors, "hstack")]
    if not tensors:
        raise RuntimeError("hstack expects a non-empty TensorList")
    return cat(tensors, 0 if tensors[0].ndim == 1 else 1)


def vstack(tensors: Sequence[Tensor]) -> Tensor:
    """Concatenate along dimension 0, after making 0-d and 1-d tensors rows (1, n)."""
    tensors = [t.reshape(1, -1) if t.ndim < 2 else t for t in _tensor_list(tensors, "vstack")]
    if not tensors:
        raise RuntimeError("vstack expects a non-empty TensorList")
    return cat(tensors, 0)


# ----------------------------------------------------------------- split, chunk, unbind, narrow
def _pieces(input: Tensor, d: int, sizes: list, name: str) -> tuple:
    out, start = [], 0
    for s in sizes:
        piece = _slice_dim(input, d, start, start + s, name)
        out.append(index_view(piece, input, _dim_key(d, slice(start, start + s))))
        start += s
    return tuple(out)


def _dim_of(input: Tensor, dim: int, op: str) -> int:
    if input.ndim == 0:
        raise RuntimeError(f"{op} expects at least a 1-dimensional tensor")
    return _wrap_dim(dim, input.ndim)


@expose
def split(tensor: Tensor, split_size_or_sections, dim: int = 0) -> tuple:
    """Pieces of ``tensor`` along ``dim``: of ``split_size`` each (the last may be smaller), or of
    the sizes in a list (which must sum to the dimension's size)."""
    d = _dim_of(tensor, dim, "split")
    n = tensor.shape[d]
    if isinstance(split_size_or_sections, int):
        s = split_size_or_sections
        if s < 0:
            raise RuntimeError(f"split expects split_size be non-negative, but got split_size={s}")
        if s == 0 and n != 0:
            raise RuntimeError(
                f"split_size can only be 0 if dimension size is 0, but got dimension size of {n}"
            )
        sizes = [s] * (n // s) + ([n % s] if n % s else []) if s else [0]
        return _pieces(tensor, d, sizes or [0], "SplitBackward0")
    sizes = [int(s) for s in split_size_or_sections]
    if sum(sizes) != n or any(s < 0 for s in sizes):
        raise RuntimeError(
            f"split_with_sizes expects split_sizes to sum exactly to {n} (input tensor's size at "
            f"dimension {d}), but got split_sizes={sizes}"
        )
    return _pieces(tensor, d, sizes, "SplitWithSizesBackward0")


@expose
def chunk(input: Tensor, chunks: int, dim: int = 0) -> tuple:
    """At most ``chunks`` pieces of equal size ``ceil(n / chunks)`` along ``dim`` (the last may be
    smaller, and fewer pieces come back when the size does not allow ``chunks`` of them)."""
    return _chunk(input, chunks, dim, split, "SplitWithSizesBackward0")


def _chunk(input: Tensor, chunks: int, dim: int, split_fn, empty_name: str) -> tuple:
    """``chunk`` and ``unsafe_chunk``: ``split_fn`` into pieces of ``ceil(n / chunks)``, or
    ``chunks`` empty pieces (recorded as ``empty_name``) along a dimension of size 0."""
    if chunks <= 0:
        raise RuntimeError(f"chunk expects `chunks` to be greater than 0, got: {chunks}")
    d = _dim_of(input, dim, "chunk")
    n = input.shape[d]
    if n == 0:
        return _pieces(input, d, [0] * chunks, empty_name)
    return split_fn(input, -(-n // chunks), d)


@expose
def unbind(input: Tensor, dim: int = 0) -> tuple:
    """The slices of ``input`` along ``dim``, each without that dimension."""
    d = _dim_of(input, dim, "unbind")
    return tuple(
        index_view(_select_dim(input, d, i, "UnbindBackward0"), input, _dim_key(d, i))
        for i in range(input.shape[d])
    )


@expose
def narrow(input: Tensor, dim: int, start, length: int) -> Tensor:
    """The ``length`` entries of ``input`` from ``start`` along ``dim``."""
    if input.ndim == 0:
        raise RuntimeError("narrow() cannot be applied to a 0-dim tensor.")
    d = _wrap_dim(dim, input.ndim)
    size = input.shape[d]
    start, length = int(start), int(length)
    if not -size <= start <= size:
        raise IndexError(
            f"start out of range (expected to be in range of [{-size}, {size}], but got {start})"
        )
    if start < 0:
        start += size
    if length < 0:
        raise RuntimeError("narrow(): length must be non-negative.")
    if start + length > size:
        raise RuntimeError(f"start ({start}) + length ({length}) exceeds dimension size ({size}).")
    out = _slice_dim(input, d, start, start + length)
    return index_view(out, input, _dim_key(d, slice(start, start + length)))


@expose
def select(input: Tensor, dim: int, index: int) -> Tensor:
    """``input`` at position ``index`` of dimension ``dim``, which is removed."""
    if input.ndim == 0:
        raise IndexError("select() cannot be applied to a 0-dim tensor.")
    d = _wrap_dim(dim, input.ndim)
    size, index = input.shape[d], int(index)
    if not -size <= index < size:
        raise IndexError(
            f"select(): index {index} out of range for tensor of size {list(input.shape)} at "
            f"dimension {d}"
        )
    index %= size
    return index_view(_select_dim(input, d, index), input, _dim_key(d, index))


# ------------------------------------------------------------------------------------ flip, roll
@defop("FlipBackward0", saves=())
def _flip(a, *, dims):
    return jnp.flip(a, dims) if dims else a


@_flip.vjp
def _(g, out, a, *, dims):
    return (_flip(g, dims=dims),)


@expose
def flip(input: Tensor, dims, *more_dims) -> Tensor:
    """Reverse the order of entries along ``dims``: ``flip(x, (0, 1))`` or ``x.flip(0, 1)``."""
    dims = ((dims,) if isinstance(dims, int) else tuple(dims)) + more_dims
    wrapped = tuple(_wrap_dim(d, input.ndim) for d in dims)
    if len(set(wrapped)) != len(wrapped):
        raise RuntimeError(
            f"dims has duplicates, original flip dims size={len(wrapped)}, but unique flip dims "
            f"size={len(set(wrapped))}"
        )
    return _flip(input, dims=wrapped if input.ndim else ())


@expose
def fliplr(input: Tensor) -> Tensor:
    """Reverse the columns (dimension 1)."""
    if input.ndim < 2:
        raise RuntimeError("Input must be >= 2-d.")
    return flip(input, 1)


@expose
def flipud(input: Tensor) -> Tensor:
    """Reverse the rows (dimension 0)."""
    if input.ndim < 1:
        raise RuntimeError("Input must be >= 1-d.")
    return flip(input, 0)


@defop("RollBackward0", saves=())
def _roll(a, *, shifts, dims):
    return jnp.roll(a, shifts, axis=dims)


@_roll.vjp
def _(g, out, a, *, shifts, dims):
    return (_roll(g, shifts=tuple(-s for s in shifts), dims=dims),)


@expose
def roll(input: Tensor, shifts, dims=None) -> Tensor:
    """Shift entries cyclically by ``shifts`` along ``dims`` (the flattened tensor when None)."""
    shifts = (shifts,) if isinstance(shifts, int) else tuple(int(s) for s in shifts)
    if dims is None:
        if len(shifts) != 1:
            raise RuntimeError(f"shifts and dimensions must align. shifts: {len(shifts)}, dims:0")
        return roll(input.reshape(-1), shifts, 0).reshape(tuple(input.shape))
    dims = (dims,) if isinstance(dims, int) else tuple(int(d) for d in dims)
    if len(shifts) != len(dims):
        raise RuntimeError(
            f"shifts and dimensions must align. shifts: {len(shifts)}, dims:{len(dims)}"
        )
    dims = tuple(_wrap_dim(d, input.ndim) for d in dims)
    # Normalised shifts (a size-0 dimension rolls by 0) keep the lowering free of modulo-by-zero.
    shifts = tuple(s % input.shape[d] if input.shape[d] else 0 for s, d in zip(shifts, dims))
    return _roll(input, shifts=shifts, dims=dims)


# ------------------------------------------------------------------------------- movedim/moveaxis
@expose
def movedim(input: Tensor, source, destination) -> Tensor:
    """Move dimensions ``source`` to positions ``destination``; the others keep their order."""
    src = (source,) if isinstance(source, int) else tuple(source)
    dst = (destination,) if isinstance(destination, int) else tuple(destination)
    if len(src) != len(dst):
        raise RuntimeError(
            f"movedim: Invalid source or destination dims: source ({list(src)} dims) should "
            f"contain the same number of dims as destination ({list(dst)} dims)"
        )
    n = input.ndim
    s = tuple(_wrap_dim(d, n) for d in src)
    t = tuple(_wrap_dim(d, n) for d in dst)
    if len(set(s)) != len(s):
        raise RuntimeError(f"movedim: repeated dim in `source` ({list(src)})")
    if len(set(t)) != len(t):
        raise RuntimeError(f"movedim: repeated dim in `destination` ({list(dst)})")
    order = [None] * n
    for a, b in zip(s, t):
        order[b] = a
    rest = iter(d for d in range(n) if d not in s)
    order = tuple(next(rest) if o is None else o for o in order)
    if not n:
        return input
    return _permuted_view(_permute(input, dims=order, name="PermuteBackward0"), input, order)


moveaxis = expose(movedim, methods=("moveaxis",))


# ----------------------------------------------------------------------- diagonal, diag, diag_embed
@defop("DiagonalBackward0", saves=())
def _diagonal(a, *, offset, dim1, dim2):
    return jnp.diagonal(a, offset, dim1, dim2)


@_diagonal.vjp
def _(g, out, a, *, offset, dim1, dim2):
    return (
        _diagonal_scatter(
            g,
            shape=tuple(a.shape),
            offset=offset,
            dim1=dim1,
            dim2=dim2,
            name="DiagonalBackwardBackward0",
        ),
    )


# Zeros of ``shape`` with ``g``'s last dimension written on the ``offset`` diagonal of the
# (dim1, dim2) planes: the transpose of ``diagonal``, and ``diag_embed`` itself.
@defop(lambda p: p["name"], saves=())
def _diagonal_scatter(g, *, shape, offset, dim1, dim2, name):
    n = g.shape[-1]
    rows = jnp.arange(n) + max(-offset, 0)
    cols = jnp.arange(n) + max(offset, 0)
    z = jnp.moveaxis(jnp.zeros(shape, g.dtype), (dim1, dim2), (-2, -1))
    z = z.at[..., rows, cols].set(g)
    return jnp.moveaxis(z, (-2, -1), (dim1, dim2))


@_diagonal_scatter.vjp
def _(gg, out, g, *, shape, offset, dim1, dim2, name):
    return (_diagonal(gg, offset=offset, dim1=dim1, dim2=dim2),)


@expose
def diagonal(input: Tensor, offset: int = 0, dim1: int = 0, dim2: int = 1) -> Tensor:
    """The ``offset`` diagonal of each (``dim1``, ``dim2``) plane, as a new last dimension."""
    d1, d2 = _wrap_dim(dim1, input.ndim), _wrap_dim(dim2, input.ndim)
    if d1 == d2:
        raise RuntimeError(f"diagonal dimensions cannot be identical {dim1}, {dim2}")
    offset = int(offset)
    out = _diagonal(input, offset=offset, dim1=d1, dim2=d2)
    return out._view_of(
        input,
        lambda b: b.diagonal(offset, d1, d2),
        lambda b, v: b.copy_(b.diagonal_scatter(v, offset, d1, d2)),
    )


@expose
def diag_embed(input: Tensor, offset: int = 0, dim1: int = -2, dim2: int = -1) -> Tensor:
    """Matrices (in dimensions ``dim1``, ``dim2`` of the result) whose ``offset`` diagonal holds the
    last dimension of ``input``."""
    n = input.ndim + 1
    d1, d2 = _wrap_dim(dim1, n), _wrap_dim(dim2, n)
    if d1 == d2:
        raise RuntimeError(f"diagonal dimensions cannot be identical {dim1}, {dim2}")
    size = (input.shape[-1] if input.ndim else 1) + abs(offset)
    shape = list(input.shape[:-1])
    for d in sorted((d1, d2)):
        shape.insert(d, size)
    x = input.reshape(1) if input.ndim == 0 else input
    return _diagonal_scatter(
        x, shape=tuple(shape), offset=int(offset), dim1=d1, dim2=d2, name="DiagEmbedBackward0"
    )


@expose
def diag(input: Tensor, diagonal: int = 0) -> Tensor:
    """A 1-d input becomes a square matrix with it on the ``diagonal``; a 2-d input gives that
    diagonal as a 1-d tensor."""
    if input.ndim == 1:
        return diag_embed(input, diagonal, 0, 1)
    if input.ndim == 2:
        return _diagonal(input, offset=int(diagonal), dim1=0, dim2=1)
    raise RuntimeError(f"diag(): Supports 1D or 2D tensors. Got {input.ndim}D")


# ------------------------------------------------------------------------------------ tril, triu
@defop("TrilBackward0", saves=())
def _tril(a, *, diagonal):
    return jnp.tril(a, diagonal)


@_tril.vjp
def _(g, out, a, *, diagonal):
    return (_tril(g, diagonal=diagonal),)


@defop("TriuBackward0", saves=())
def _triu(a, *, diagonal):
    return jnp.triu(a, diagonal)


@_triu.vjp
def _(g, out, a, *, diagonal):
    return (_triu(g, diagonal=diagonal),)


@expose(inplace=True)
def tril(input: Tensor, diagonal: int = 0) -> Tensor:
    """The lower triangle of each matrix (last two dims): zeros above the ``diagonal``."""
    if input.ndim < 2:
        raise RuntimeError("tril: input tensor must have at least 2 dimensions")
    return _tril(input, diagonal=int(diagonal))


@expose(inplace=True)
def triu(input: Tensor, diagonal: int = 0) -> Tensor:
    """The upper triangle of each matrix (last two dims): zeros below the ``diagonal``."""
    if input.ndim < 2:
        raise RuntimeError("triu: input tensor must have at least 2 dimensions")
    return _triu(input, diagonal=int(diagonal))
