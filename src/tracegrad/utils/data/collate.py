"""``default_collate``: merge a list of samples into a batch, as ``torch.utils.data`` does."""

from __future__ import annotations

import collections.abc
import copy

import jax
import numpy as np

from ... import _dtype
from ...ops.shape import stack
from ...tensor import Size, Tensor, tensor

__all__ = ["default_collate", "default_convert"]

_ERR = (
    "default_collate: batch must contain tensors, numpy arrays, numbers, dicts or lists; found {}"
)


def _is_string_array(a) -> bool:
    return isinstance(a, np.ndarray | np.generic) and a.dtype.kind in "SaUO"


def _stack_arrays(batch) -> Tensor:
    """Stack numpy/JAX arrays (or scalars) into one tensor of their dtype, in one host copy."""
    first = np.shape(batch[0])
    for i, b in enumerate(batch):
        if np.shape(b) != first:
            raise RuntimeError(
                f"stack expects each tensor to be equal size, but got {list(first)} at entry 0 "
                f"and {list(np.shape(b))} at entry {i}"
            )
    return tensor(np.stack([np.asarray(b) for b in batch]))


def _like_mapping(elem, fields: dict):
    """``fields`` in a mapping like ``elem``: a copy of a mutable one updated with them, else
    ``type(elem)(fields)``, else (a type that cannot be built from a dict) the dict itself."""
    if isinstance(elem, collections.abc.MutableMapping):
        clone = copy.copy(elem)
        clone.update(fields)
        return clone
    try:
        return type(elem)(fields)
    except TypeError:
        return fields


def _like_sequence(elem, items: list):
    """``items`` in a sequence like ``elem``: a copy of a mutable one with its entries replaced,
    else ``type(elem)(items)``, else (a type that cannot be built from a list) the list itself."""
    try:
        if isinstance(elem, collections.abc.MutableSequence):
            clone = copy.copy(elem)
            for i, item in enumerate(items):
                clone[i] = item
            return clone
        return type(elem)(items)
    except TypeError:
        return items


def default_collate(batch):
    """Merge a list of samples into a batch, recursing into containers.

    Tensors are stacked along a new first dimension; numpy arrays and numpy scalars become one
    tensor of their dtype; Python floats a float64 tensor, ints an int64 tensor (bools a bool
    tensor); strings and bytes stay a list. A dict of fields gives a dict of batched fields; a
    tuple or list of fields is transposed and each position collated (tuples give a list, so
    ``for x, y in loader`` works). Anything else raises TypeError.
    """
    elem = batch[0]
    if isinstance(elem, Tensor):
        return stack(list(batch), 0)
    if isinstance(elem, jax.Array | np.ndarray | np.generic):
        if _is_string_array(elem):
            raise TypeError(_ERR.format(elem.dtype))
        return _stack_arrays(batch)
    if isinstance(elem, float):
        return tensor(batch, dtype=_dtype.float64)
    if isinstance(elem, int):
        return tensor(batch)
    if isinstance(elem, str | bytes):
        return batch
    if isinstance(elem, collections.abc.Mapping):
        return _like_mapping(elem, {key: default_collate([d[key] for d in batch]) for key in elem})
    if isinstance(elem, tuple) and hasattr(elem, "_fields"):  # namedtuple
        return type(elem)(*(default_collate(s) for s in zip(*batch)))
    if isinstance(elem, collections.abc.Sequence) and not isinstance(elem, Size):
        size = len(elem)
        if any(len(e) != size for e in batch):
            raise RuntimeError("each element in list of batch should be of equal size")
        columns = [default_collate(s) for s in zip(*batch)]
        return columns if isinstance(elem, tuple) else _like_sequence(elem, columns)
    raise TypeError(_ERR.format(type(elem)))


def default_convert(data):
    """Convert one sample without batching (``DataLoader(batch_size=None)``): numpy arrays and
    scalars become tensors, containers are converted element-wise, everything else is kept."""
    if isinstance(data, Tensor):
        return data
    if isinstance(data, np.ndarray | np.generic | jax.Array):
        return data if _is_string_array(data) else tensor(np.asarray(data))
    if isinstance(data, collections.abc.Mapping):
        return _like_mapping(data, {key: default_convert(data[key]) for key in data})
    if isinstance(data, tuple) and hasattr(data, "_fields"):
        return type(data)(*(default_convert(d) for d in data))
    if isinstance(data, tuple):
        return [default_convert(d) for d in data]
    if isinstance(data, collections.abc.Sequence) and not isinstance(data, str | bytes):
        return _like_sequence(data, [default_convert(d) for d in data])
    return data
