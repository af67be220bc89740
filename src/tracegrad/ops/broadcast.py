"""Broadcasting as functions: ``broadcast_shapes`` (shapes only) and ``broadcast_tensors`` (every
tensor expanded to the common shape, through ``expand``, so gradients sum back to each input)."""

from __future__ import annotations

from collections.abc import Sequence
from functools import reduce

from ..tensor import Size, Tensor
from .shape import expand

__all__ = ["broadcast_shapes", "broadcast_tensors"]


def broadcast_shapes(*shapes) -> Size:
    """The shape that tensors of ``shapes`` broadcast to, as ``torch.broadcast_shapes`` (each
    shape a ``Size``, a sequence of ints or an int; None is skipped). Incompatible shapes raise
    PyTorch's ``RuntimeError``, a negative size its ``ValueError``."""
    shapes = tuple((s,) if isinstance(s, int) else s for s in shapes if s is not None)
    if not shapes:
        return Size([])
    for shape in shapes:
        if not isinstance(shape, Sequence):
            raise RuntimeError(
                "Input shapes should be of type ints, a tuple of ints, or a list of ints, got "
                f"{shape}"
            )
    common = [1] * reduce(max, (len(s) for s in shapes))
    for arg_idx, shape in enumerate(shapes):  # PyTorch's reference algorithm, step by step
        for idx in range(-1, -1 - len(shape), -1):
            if shape[idx] == common[idx]:
                continue
            if common[idx] == 1:
                if shape[idx] < 0:
                    raise ValueError("Attempting to broadcast a dimension with negative length!")
                common[idx] = shape[idx]
            if shape[idx] != 1 and common[idx] != shape[idx]:
                raise RuntimeError(
                    f"Attempting to broadcast a dimension of length {shape[idx]} at {idx}! "
                    f"Mismatching argument at index {arg_idx} had {shape}; but expected shape "
                    f"should be broadcastable to {common}"
                )
    return Size(common)


def _infer_size(a: tuple, b: tuple) -> tuple:
    """The broadcast of two tensor shapes, with PyTorch's ``infer_size`` error."""
    n = max(len(a), len(b))
    out = []
    for i in range(n):
        sa = a[i - n + len(a)] if i - n + len(a) >= 0 else 1
        sb = b[i - n + len(b)] if i - n + len(b) >= 0 else 1
        if sa != sb and sa != 1 and sb != 1:
            raise RuntimeError(
                f"The size of tensor a ({sa}) must match the size of tensor b ({sb}) at "
                f"non-singleton dimension {i}"
            )
        out.append(sb if sa == 1 else sa)
    return tuple(out)


def broadcast_tensors(*tensors: Tensor) -> tuple[Tensor, ...]:
    """The tensors expanded to their common broadcast shape, as ``torch.broadcast_tensors``.

    Each result is ``expand`` of its input (recorded as ``ExpandBackward0``), so the gradient of
    each sums back over the broadcast dimensions to its input's shape."""
    for i, t in enumerate(tensors):
        if not isinstance(t, Tensor):
            raise TypeError(
                f"expected Tensor as element {i} in argument 0, but got {type(t).__name__}"
            )
    if not tensors:
        return ()
    shape = reduce(_infer_size, (tuple(t.shape) for t in tensors))
    return tuple(expand(t, *shape) for t in tensors)
