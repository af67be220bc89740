"""Packed and padded batches of variable-length sequences, as ``torch.nn.utils.rnn``.

A :class:`PackedSequence` stores the steps of a batch of sequences time-major with the finished
sequences left out: ``data`` holds step 0 of every sequence (longest first), then step 1 of those
still running, and so on; ``batch_sizes[t]`` says how many sequences are still running at step
``t``. Packing and unpacking are a single recorded ``index_select`` each (through a ``cat`` with
one padding row for unpacking), so gradients flow through them like through any other op. The
structure (lengths, batch sizes, permutations) is plain Python data read when the function runs:
it is part of the program, not a value inside it.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import NamedTuple

import numpy as np

from ... import _dtype
from ...ops.shape import cat
from ...tensor import Tensor, tensor

__all__ = [
    "PackedSequence",
    "invert_permutation",
    "pack_padded_sequence",
    "pad_packed_sequence",
    "pad_sequence",
    "unpad_sequence",
    "pack_sequence",
    "unpack_sequence",
]


class PackedSequence_(NamedTuple):
    data: Tensor
    batch_sizes: Tensor
    sorted_indices: Tensor | None
    unsorted_indices: Tensor | None


def _bind(optional, fn):
    return None if optional is None else fn(optional)


class PackedSequence(PackedSequence_):
    """The packed form of a batch of variable-length sequences, as
    ``torch.nn.utils.rnn.PackedSequence``: a named tuple of ``data`` (the steps, time-major,
    finished sequences left out), ``batch_sizes`` (an int64 CPU tensor: sequences still running
    at each step), and ``sorted_indices`` / ``unsorted_indices`` (the permutation that sorted the
    batch by decreasing length and its inverse, or ``None`` when it came sorted). Build one with
    :func:`pack_padded_sequence` or :func:`pack_sequence`; every recurrent layer accepts it."""

    def __new__(
        cls,
        data: Tensor,
        batch_sizes: Tensor | None = None,
        sorted_indices: Tensor | None = None,
        unsorted_indices: Tensor | None = None,
    ) -> PackedSequence:
        return super().__new__(
            cls, *_packed_sequence_init_args(data, batch_sizes, sorted_indices, unsorted_indices)
        )

    def to(self, *args, **kwargs) -> PackedSequence:
        """Convert ``data`` as ``Tensor.to`` does (the index tensors follow it to its device;
        ``batch_sizes`` stays on the CPU); ``self`` when nothing changes."""
        data = self.data.to(*args, **kwargs)
        if data is self.data:
            return self

        def call_to(t: Tensor) -> Tensor:
            return t.to(data.device)

        return type(self)(
            data,
            self.batch_sizes,
            _bind(self.sorted_indices, call_to),
            _bind(self.unsorted_indices, call_to),
        )

    def cuda(self, *args, **kwargs) -> PackedSequence:
        """``data`` on the accelerator (as ``Tensor.cuda``)."""
        return type(self)(
            self.data.cuda(*args, **kwargs),
            self.batch_sizes,
            _bind(self.sorted_indices, lambda t: t.cuda(*args, **kwargs)),
            _bind(self.unsorted_indices, lambda t: t.cuda(*args, **kwargs)),
        )

    def cpu(self, *args, **kwargs) -> PackedSequence:
        """``data`` on the CPU."""
        return self.to("cpu")

    def pin_memory(self) -> PackedSequence:
        """``self`` with its tensors' ``pin_memory()``."""
        return type(self)(
            self.data.pin_memory(),
            self.batch_sizes,
            _bind(self.sorted_indices, lambda t: t.pin_memory()),
            _bind(self.unsorted_indices, lambda t: t.pin_memory()),
        )

    def double(self) -> PackedSequence:
        """``data`` as float64."""
        return self.to(dtype=_dtype.float64)

    def float(self) -> PackedSequence:
        """``data`` as float32."""
        return self.to(dtype=_dtype.float32)

    def half(self) -> PackedSequence:
        """``data`` as float16."""
        return self.to(dtype=_dtype.float16)

    def long(self) -> PackedSequence:
        """``data`` as int64."""
        return self.to(dtype=_dtype.int64)

    def int(self) -> PackedSequence:
        """``data`` as int32."""
        return self.to(dtype=_dtype.int32)

    def short(self) -> PackedSequence:
        """``data`` as int16."""
        return self.to(dtype=_dtype.int16)

    def char(self) -> PackedSequence:
        """``data`` as int8."""
        return self.to(dtype=_dtype.int8)

    def byte(self) -> PackedSequence:
        """``data`` as uint8."""
        return self.to(dtype=_dtype.uint8)

    @property
    def is_cuda(self) -> bool:
        """Whether ``data`` is on an accelerator."""
        return self.data.is_cuda

    def is_pinned(self) -> bool:
        """Whether ``data`` is in pinned memory."""
        return self.data.is_pinned()


def _packed_sequence_init_args(data, batch_sizes, sorted_indices, unsorted_indices):
    # Mirrors PyTorch: ``PackedSequence(data, batch_sizes[, sorted_indices])`` and
    # ``PackedSequence((data, batch_sizes), sorted_indices=...)`` are both accepted.
    if unsorted_indices is None:
        unsorted_indices = invert_permutation(sorted_indices)
    if batch_sizes is not None:
        if batch_sizes.device.type != "cpu":
            raise ValueError(
                "batch_sizes should always be on CPU. "
                "Instances of PackedSequence should never be created manually. "
                "They should be instantiated by functions like pack_sequence "
                "and pack_padded_sequences in nn.utils.rnn. "
                "https://pytorch.org/docs/stable/nn.html#torch.nn.utils.rnn.pack_sequence"
            )
        return data, batch_sizes, sorted_indices, unsorted_indices
    if not (isinstance(data, (list, tuple)) and len(data) == 2):
        raise AssertionError("Expected data to be a list or tuple of length 2")
    return data[0], data[1], sorted_indices, unsorted_indices


def _index_tensor(values: list[int], device=None, dtype=_dtype.int64) -> Tensor:
    """An integer tensor of ``values`` that remembers them as Python ints (see ``_ints``)."""
    t = tensor(values, dtype=dtype, device=device)
    t._python_ints = tuple(values)
    return t


def _ints(t: Tensor) -> list[int]:
    """The values of a structure tensor (batch sizes, lengths, a permutation) as Python ints.

    Inside ``tracegrad.compile`` every tensor a function creates is traced, so the structure
    tensors this module makes also keep their values as Python ints and are read from there; a
    tensor from elsewhere is read with ``tolist()`` (which names the problem when it is traced:
    the lengths of a packed batch must be known when the program is built)."""
    known = getattr(t, "_python_ints", None)
    if known is not None:
        return list(known)
    try:
        return [int(v) for v in t.tolist()]
    except RuntimeError as e:  # a traced tensor: its values are not known while tracing
        raise RuntimeError(
            "the structure of a packed sequence (its lengths, batch sizes and permutations) must "
            "be known when a compiled program is built, but this tensor is traced inside "
            "tracegrad.compile; pass the lengths as a Python list (each new set of lengths is "
            "then its own program), or pack outside the compiled function"
        ) from e


def invert_permutation(permutation: Tensor | None) -> Tensor | None:
    """The inverse of the 1-D index tensor ``permutation`` (``None`` for ``None``): the
    ``unsorted_indices`` that undo a :class:`PackedSequence`'s ``sorted_indices``."""
    if permutation is None:
        return None
    perm = _ints(permutation)
    inverse = [0] * len(perm)
    for i, p in enumerate(perm):
        inverse[p] = i
    return _index_tensor(inverse, permutation.device, permutation.dtype)


def _lengths_list(lengths) -> list[int]:
    """``lengths`` (a list or a tensor) as Python ints, with PyTorch's check on tensors."""
    if isinstance(lengths, Tensor):
        if lengths.dim() != 1:
            raise RuntimeError(
                "'lengths' argument should be a 1D CPU int64 tensor, but got "
                f"{lengths.dim()}D {lengths.device} Long tensor"
            )
        return _ints(lengths)
    # A list is read as Python data (not through a tensor, which would be traced under compile).
    out = np.asarray(lengths)
    if out.ndim != 1:
        raise RuntimeError(
            "'lengths' argument should be a 1D CPU int64 tensor, but got "
            f"{out.ndim}D cpu Long tensor"
        )
    return [int(v) for v in out.tolist()]


def _batch_sizes(sorted_lengths: list[int]) -> list[int]:
    """Sequences still running at each step, for lengths in decreasing order."""
    return [sum(1 for n in sorted_lengths if n > t) for t in range(sorted_lengths[0])]


def pack_padded_sequence(
    input: Tensor,
    lengths: Tensor | list[int],
    batch_first: bool = False,
    enforce_sorted: bool = True,
) -> PackedSequence:
    """Pack a padded batch ``input`` (``T x B x *``, or ``B x T x *`` with ``batch_first``) of
    sequences with the given ``lengths`` into a :class:`PackedSequence`, as PyTorch does. With
    ``enforce_sorted`` (default) the lengths must decrease; with ``enforce_sorted=False`` the
    batch is sorted by decreasing length (stably) and the permutation kept in ``sorted_indices``.
    Steps past a sequence's length are left out, and get zero gradient."""
    lengths = _lengths_list(lengths)
    if enforce_sorted:
        order = list(range(len(lengths)))
        sorted_indices = None
    else:
        # PyTorch sorts the lengths descending with a stable sort (ties keep batch order).
        order = sorted(range(len(lengths)), key=lambda b: -lengths[b])
        lengths = [lengths[b] for b in order]
        sorted_indices = _index_tensor(order, input.device)
    steps, batch = (input.size(1), input.size(0)) if batch_first else (input.size(0), input.size(1))
    if input.numel() == 0:
        raise RuntimeError("Cannot pack empty tensors.")
    if len(lengths) != batch:
        raise RuntimeError(
            f"Expected `len(lengths)` to be equal to batch_size, but got {len(lengths)} "
            f"(batch_size={batch})"
        )
    if lengths[-1] <= 0:
        raise RuntimeError(
            "Length of all samples has to be greater than 0, but found an element in 'lengths' "
            "that is <= 0"
        )
    if any(lengths[i + 1] > lengths[i] for i in range(batch - 1)):
        raise RuntimeError(
            "`lengths` array must be sorted in decreasing order when `enforce_sorted` is True. "
            "You can pass `enforce_sorted=False` to pack_padded_sequence and/or pack_sequence to "
            "sidestep this requirement if you do not need ONNX exportability."
        )
    if lengths[0] > steps:
        # PyTorch reads past the end of the input here; we refuse instead.
        raise RuntimeError(
            f"pack_padded_sequence: a sequence length ({lengths[0]}) exceeds the padded input's "
            f"number of steps ({steps}); give lengths of at most {steps}"
        )
    sizes = _batch_sizes(lengths)
    # One gather from the flattened (steps*batch or batch*steps) rows, with the sorting fused in.
    if batch_first:
        rows = [order[b] * steps + t for t, n in enumerate(sizes) for b in range(n)]
    else:
        rows = [t * batch + order[b] for t, n in enumerate(sizes) for b in range(n)]
    flat = input.reshape(steps * batch, *input.shape[2:])
    data = flat.index_select(0, tensor(rows, device=input.device))
    batch_sizes = _index_tensor(sizes)
    return PackedSequence(data, batch_sizes, sorted_indices, None)


def pad_packed_sequence(
    sequence: PackedSequence,
    batch_first: bool = False,
    padding_value: float = 0.0,
    total_length: int | None = None,
) -> tuple[Tensor, Tensor]:
    """The inverse of :func:`pack_padded_sequence`: ``(padded, lengths)`` with ``padded`` of
    shape ``T x B x *`` (``B x T x *`` with ``batch_first``), steps past each length set to
    ``padding_value``, ``T`` the longest length or ``total_length``, and the batch in its
    original order (through ``unsorted_indices``); ``lengths`` is an int64 CPU tensor."""
    sizes = _ints(sequence.batch_sizes)
    max_seq_length = len(sizes)
    if total_length is not None:
        if total_length < max_seq_length:
            raise ValueError(
                "Expected total_length to be at least the length "
                "of the longest sequence in input, but got "
                f"total_length={total_length} and max sequence length being {max_seq_length}"
            )
        max_seq_length = total_length
    data = sequence.data
    batch = sizes[0]
    sorted_lengths = [sum(1 for n in sizes if n > b) for b in range(batch)]
    offsets = [0]
    for n in sizes:
        offsets.append(offsets[-1] + n)
    unsorted = (
        list(range(batch))
        if sequence.unsorted_indices is None
        else _ints(sequence.unsorted_indices)
    )
    pad_row = offsets[-1]  # the index of the padding row appended below
    rows = []
    if batch_first:
        for j in range(batch):
            s = unsorted[j]
            rows += [
                offsets[t] + s if t < sorted_lengths[s] else pad_row for t in range(max_seq_length)
            ]
    else:
        for t in range(max_seq_length):
            rows += [
                offsets[t] + unsorted[j] if t < sorted_lengths[unsorted[j]] else pad_row
                for j in range(batch)
            ]
    padding = data.new_full((1, *data.shape[1:]), padding_value)
    source = cat([data, padding])
    out = source.index_select(0, tensor(rows, device=data.device))
    shape = (batch, max_seq_length) if batch_first else (max_seq_length, batch)
    lengths = _index_tensor([sorted_lengths[s] for s in unsorted])
    return out.reshape(*shape, *data.shape[1:]), lengths


def pad_sequence(
    sequences: Tensor | Sequence[Tensor],
    batch_first: bool = False,
    padding_value: float = 0.0,
    padding_side: str = "right",
) -> Tensor:
    """Stack the variable-length tensors ``sequences`` (each ``L_i x *``) into one padded tensor,
    ``T x B x *`` (``B x T x *`` with ``batch_first``), ``T`` the longest length, filling with
    ``padding_value`` on the ``padding_side`` (``'right'`` or ``'left'``), as PyTorch does. The
    result has the first sequence's dtype (the others are converted to it, as a copy would)."""
    if not isinstance(sequences, Iterable):
        raise RuntimeError(
            "pad_sequence: Expected iterable for input sequences, but got arg of type: "
            f"{type(sequences)}"
        )
    sequences = tuple(sequences)
    if not sequences:
        raise RuntimeError("received an empty list of sequences")
    if padding_side not in ("left", "right"):
        raise RuntimeError(
            f"Expected padding_side to be one of left or right, but got {padding_side}."
        )
    first = sequences[0]
    if any(s.dim() == 0 for s in sequences):
        raise RuntimeError(
            "pad_sequence: each sequence needs a first (length) dimension, got a 0-d tensor"
        )
    trailing = tuple(first.shape[1:])
    lengths = [s.size(0) for s in sequences]
    longest = max(lengths)
    batch = len(sequences)
    pieces = []
    for s in sequences:
        pieces.append(_fit(s, trailing).to(first.dtype))
    # One gather from all rows stacked, plus a padding row: two recorded ops for any batch size.
    pieces.append(first.new_full((1, *trailing), padding_value))
    source = cat(pieces)
    starts = [0]
    for n in lengths:
        starts.append(starts[-1] + n)
    pad_row = starts[-1]

    def row(b: int, t: int) -> int:
        shift = longest - lengths[b] if padding_side == "left" else 0
        k = t - shift
        return starts[b] + k if 0 <= k < lengths[b] else pad_row

    if batch_first:
        rows = [row(b, t) for b in range(batch) for t in range(longest)]
        shape = (batch, longest)
    else:
        rows = [row(b, t) for t in range(longest) for b in range(batch)]
        shape = (longest, batch)
    out = source.index_select(0, tensor(rows, device=first.device))
    return out.reshape(*shape, *trailing)


def _fit(seq: Tensor, trailing: tuple) -> Tensor:
    """``seq`` broadcast to ``(len, *trailing)``, as PyTorch's copy into the padded output does,
    with its error for shapes that do not broadcast."""
    target = (seq.size(0), *trailing)
    if tuple(seq.shape) == target:
        return seq
    ndim = max(seq.dim(), len(target))
    a = (1,) * (ndim - len(target)) + target
    b = (1,) * (ndim - seq.dim()) + tuple(seq.shape)
    for d in range(ndim - 1, -1, -1):
        if b[d] != a[d] and b[d] != 1:
            raise RuntimeError(
                f"The size of tensor a ({a[d]}) must match the size of tensor b ({b[d]}) at "
                f"non-singleton dimension {d}"
            )
    if seq.dim() > len(target):
        raise RuntimeError(
            f"pad_sequence: a sequence of shape {list(seq.shape)} does not fit the padded "
            f"output's rows of shape {list(target)}"
        )
    return seq.expand(*target)


def unpad_sequence(
    padded_sequences: Tensor,
    lengths: Tensor,
    batch_first: bool = False,
) -> list[Tensor]:
    """The inverse of :func:`pad_sequence` (right padding): the list of ``padded_sequences[:n,
    b]`` for each ``n`` in ``lengths``. As in PyTorch, without ``batch_first`` the input is
    transposed in place (``transpose_(0, 1)``) first."""
    if not batch_first:
        padded_sequences.transpose_(0, 1)
    lengths = _ints(lengths) if isinstance(lengths, Tensor) else list(lengths)
    return [seq[: int(n)] for seq, n in zip(padded_sequences, lengths, strict=True)]


def pack_sequence(sequences: Sequence[Tensor], enforce_sorted: bool = True) -> PackedSequence:
    """Pack a list of variable-length tensors (each ``L_i x *``): :func:`pad_sequence` then
    :func:`pack_padded_sequence` (lengths must decrease unless ``enforce_sorted=False``)."""
    lengths = [v.size(0) for v in sequences]
    return pack_padded_sequence(pad_sequence(sequences), lengths, enforce_sorted=enforce_sorted)


def unpack_sequence(packed_sequences: PackedSequence) -> list[Tensor]:
    """The inverse of :func:`pack_sequence`: the list of the sequences, in their original order."""
    padded_sequences, lengths = pad_packed_sequence(packed_sequences, batch_first=True)
    return unpad_sequence(padded_sequences, lengths, batch_first=True)
