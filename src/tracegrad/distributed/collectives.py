"""Collectives on tensors across processes, with PyTorch's in-place semantics.

A collective here is between *processes* (ranks; see ``process_group``): with one process it is
the identity (``all_reduce`` of one contribution is that contribution), with several it gathers
every process's value through ``jax.experimental.multihost_utils`` and combines them on the host.
Between the devices of one process there is nothing to call: a sharded computation's reductions
are inserted by XLA (``DistributedDataParallel``, ``fully_shard``).

They are host-side operations: they run eagerly, outside ``tracegrad.compile`` and outside the
autograd graph (as PyTorch's, which are not differentiable).
"""

from __future__ import annotations

import enum
import pickle

import jax
import numpy as np
from jax.experimental import multihost_utils

from .._grad_mode import no_grad
from ..tensor import Tensor, tensor
from . import process_group as _pg

__all__ = [
    "ReduceOp",
    "all_reduce",
    "all_gather",
    "all_gather_into_tensor",
    "all_gather_object",
    "broadcast",
    "broadcast_object_list",
    "reduce_scatter_tensor",
    "barrier",
]


class ReduceOp(enum.Enum):
    """How ``all_reduce`` and ``reduce_scatter_tensor`` combine the ranks' values."""

    SUM = "sum"
    AVG = "avg"
    PRODUCT = "product"
    MIN = "min"
    MAX = "max"
    BAND = "band"
    BOR = "bor"
    BXOR = "bxor"


_REDUCE = {
    ReduceOp.SUM: lambda x: x.sum(0),
    ReduceOp.AVG: lambda x: x.mean(0),
    ReduceOp.PRODUCT: lambda x: x.prod(0),
    ReduceOp.MIN: lambda x: x.min(0),
    ReduceOp.MAX: lambda x: x.max(0),
    ReduceOp.BAND: lambda x: np.bitwise_and.reduce(x, 0),
    ReduceOp.BOR: lambda x: np.bitwise_or.reduce(x, 0),
    ReduceOp.BXOR: lambda x: np.bitwise_xor.reduce(x, 0),
}


class _Work:
    """What ``async_op=True`` returns: the collective already ran, so ``wait`` returns at once."""

    def wait(self, timeout=None) -> bool:
        return True

    def is_completed(self) -> bool:
        return True


def _done(async_op: bool):
    return _Work() if async_op else None


def _check_tensor(name: str, t) -> None:
    if not isinstance(t, Tensor):
        raise TypeError(f"{name}: expected a tracegrad Tensor, got {type(t).__name__}")


def _single() -> bool:
    _pg._check()
    return jax.process_count() == 1


def _gathered(t: Tensor) -> np.ndarray:
    """Every process's value of ``t`` stacked along a new first axis (process order)."""
    return np.asarray(multihost_utils.process_allgather(np.asarray(t._storage.array)))


def _write(t: Tensor, value) -> None:
    """Write ``value`` into ``t`` in place (as PyTorch's collectives do), keeping its placement."""
    with no_grad():
        t.copy_(tensor(np.asarray(value), dtype=t.dtype))


def _as_op(op) -> ReduceOp:
    if isinstance(op, ReduceOp):
        return op
    name = getattr(op, "name", op)
    try:
        return ReduceOp[str(name).upper()]
    except KeyError:
        raise ValueError(
            f"unknown ReduceOp {op!r}; use one of {[o.name for o in ReduceOp]}"
        ) from None


def all_reduce(tensor: Tensor, op=ReduceOp.SUM, group=None, async_op: bool = False):
    """Replace ``tensor`` on every process with the reduction (``op``) of all processes' values.
    One process: unchanged."""
    _check_tensor("all_reduce", tensor)
    op = _as_op(op)
    _pg._check(group)
    if not _single():
        _write(tensor, _REDUCE[op](_gathered(tensor)))
    return _done(async_op)


def all_gather(tensor_list: list, tensor: Tensor, group=None, async_op: bool = False):
    """Fill ``tensor_list[r]`` with process ``r``'s ``tensor`` (``tensor_list`` has one tensor of
    ``tensor``'s shape per process)."""
    _check_tensor("all_gather", tensor)
    _pg._check(group)
    world = jax.process_count()
    if len(tensor_list) != world:
        raise ValueError(
            f"all_gather: tensor_list has {len(tensor_list)} tensors, the world size is {world}"
        )
    values = [np.asarray(tensor._storage.array)] if world == 1 else list(_gathered(tensor))
    for out, v in zip(tensor_list, values):
        _write(out, v)
    return _done(async_op)


def all_gather_into_tensor(output_tensor: Tensor, input_tensor: Tensor, group=None, async_op=False):
    """``output_tensor`` (world size times ``input_tensor``'s first dimension, or a new leading
    dimension of the world size) becomes every process's ``input_tensor`` concatenated (stacked)."""
    _check_tensor("all_gather_into_tensor", output_tensor)
    _check_tensor("all_gather_into_tensor", input_tensor)
    _pg._check(group)
    stacked = (
        np.asarray(input_tensor._storage.array)[None] if _single() else _gathered(input_tensor)
    )
    shape = tuple(output_tensor.shape)
    if stacked.shape == shape:
        value = stacked
    else:
        value = stacked.reshape((-1, *stacked.shape[2:])) if stacked.ndim > 1 else stacked
        if value.shape != shape:
            raise ValueError(
                f"all_gather_into_tensor: output shape {list(shape)} is not world size "
                f"({stacked.shape[0]}) times the input shape {list(input_tensor.shape)}"
            )
    _write(output_tensor, value)
    return _done(async_op)


def broadcast(tensor: Tensor, src: int = 0, group=None, async_op: bool = False, group_src=None):
    """Replace ``tensor`` on every process with process ``src``'s value."""
    _check_tensor("broadcast", tensor)
    _pg._check(group)
    src = src if group_src is None else group_src
    if not 0 <= src < jax.process_count():
        raise ValueError(f"broadcast: src={src} is not a rank (world size {jax.process_count()})")
    if not _single():
        value = multihost_utils.broadcast_one_to_all(
            np.asarray(tensor._storage.array), is_source=jax.process_index() == src
        )
        _write(tensor, value)
    return _done(async_op)


def reduce_scatter_tensor(
    output: Tensor, input: Tensor, op=ReduceOp.SUM, group=None, async_op=False
):
    """Reduce every process's ``input`` (``op``), split the result along its first dimension into
    world-size chunks and write chunk ``rank`` into ``output``."""
    _check_tensor("reduce_scatter_tensor", output)
    _check_tensor("reduce_scatter_tensor", input)
    op = _as_op(op)
    _pg._check(group)
    world = jax.process_count()
    if input.shape[0] != world * output.shape[0] or input.shape[1:] != output.shape[1:]:
        raise ValueError(
            f"reduce_scatter_tensor: input shape {list(input.shape)} must be the world size "
            f"({world}) times the output shape {list(output.shape)} along dimension 0"
        )
    reduced = np.asarray(input._storage.array) if world == 1 else _REDUCE[op](_gathered(input))
    rank = jax.process_index()
    n = output.shape[0]
    _write(output, reduced[rank * n : (rank + 1) * n])
    return _done(async_op)


def all_gather_object(object_list: list, obj, group=None) -> None:
    """Fill ``object_list[r]`` with process ``r``'s ``obj`` (any picklable object)."""
    _pg._check(group)
    if _single():
        object_list[0] = obj
        return
    data = np.frombuffer(pickle.dumps(obj), dtype=np.uint8)
    sizes = multihost_utils.process_allgather(np.array([data.size], np.int64)).reshape(-1)
    padded = np.zeros(int(sizes.max()), np.uint8)
    padded[: data.size] = data
    gathered = np.asarray(multihost_utils.process_allgather(padded))
    for r, (row, size) in enumerate(zip(gathered, sizes)):
        object_list[r] = pickle.loads(row[: int(size)].tobytes())


def broadcast_object_list(object_list: list, src: int = 0, group=None, device=None) -> None:
    """Replace ``object_list``'s items on every process with process ``src``'s."""
    _pg._check(group)
    if _single():
        return
    gathered = [None] * jax.process_count()
    all_gather_object(gathered, list(object_list))
    object_list[:] = gathered[src]


def barrier(group=None, async_op: bool = False, device_ids=None):
    """Wait until every process reaches this point (``multihost_utils.sync_global_devices``)."""
    _pg._check(group)
    if not _single():
        multihost_utils.sync_global_devices("tracegrad.distributed.barrier")
    return _done(async_op)
