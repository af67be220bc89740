"""``tracegrad.distributed``: ``torch.distributed`` on JAX's mesh and multi-controller runtime.

World size is the number of *processes* (``jax.process_count()``), each driving all its host's
devices; rank is ``jax.process_index()``. On one host the world is one process, and its devices
are used through a mesh: ``tracegrad.nn.parallel.DistributedDataParallel`` (parameters replicated, batch split),
``fully_shard`` (parameters split too), ``shard`` (any ``PartitionSpec``). See docs/scaling.md.
"""

from __future__ import annotations

from jax.sharding import Mesh, NamedSharding, PartitionSpec

from .collectives import (
    ReduceOp,
    all_gather,
    all_gather_into_tensor,
    all_gather_object,
    all_reduce,
    barrier,
    broadcast,
    broadcast_object_list,
    reduce_scatter_tensor,
)
from .process_group import (
    GroupMember,
    ProcessGroup,
    destroy_process_group,
    get_backend,
    get_rank,
    get_world_size,
    group,
    init_process_group,
    is_available,
    is_initialized,
    new_group,
)
from .sharding import default_mesh, fully_shard, mesh, shard, shard_batch

__all__ = [
    "is_available",
    "is_initialized",
    "init_process_group",
    "destroy_process_group",
    "get_rank",
    "get_world_size",
    "get_backend",
    "new_group",
    "group",
    "GroupMember",
    "ProcessGroup",
    "ReduceOp",
    "all_reduce",
    "all_gather",
    "all_gather_into_tensor",
    "all_gather_object",
    "broadcast",
    "broadcast_object_list",
    "reduce_scatter_tensor",
    "barrier",
    "mesh",
    "default_mesh",
    "shard",
    "shard_batch",
    "fully_shard",
    "Mesh",
    "NamedSharding",
    "PartitionSpec",
]
