"""Helpers shared by the layer modules (PyTorch's ``torch.nn.modules.utils``)."""

from __future__ import annotations


def _ntuple(value, n: int) -> tuple:
    """A layer's int-or-tuple option as stored (and shown by ``repr``): a sequence as a tuple,
    unchecked (the functional call checks it), anything else repeated ``n`` times."""
    if isinstance(value, (tuple, list)):
        return tuple(value)
    return (value,) * n
