"""``DistributedDataParallel``: data parallelism as one SPMD computation over a device mesh.

PyTorch's DDP runs a copy of the model per device, each on its slice of the batch, and all-reduces
the gradients in buckets during backward. Here the parameters are replicated over a
``jax.sharding.Mesh`` (axis ``"data"``) and each batch is split along that axis; every op then
runs on all devices at once (JAX's computation-follows-sharding), and where an op reduces over the
batch (a parameter's gradient, a mean loss) XLA inserts the all-reduce. Inside
``tracegrad.compile`` the whole step is one partitioned program. The gradients come out replicated
and equal to the one-device gradients of the whole batch, which is what PyTorch's DDP gives for a
loss averaged over each rank's batch.
"""

from __future__ import annotations

import contextlib

from jax.sharding import NamedSharding, PartitionSpec

from ...distributed.sharding import _place_in_place, default_mesh, shard_batch
from ..modules.module import Module

__all__ = ["DistributedDataParallel"]


class DistributedDataParallel(Module):
    """``torch.nn.parallel.DistributedDataParallel`` over all of JAX's devices.

    ``module`` becomes the child ``module`` (state-dict keys gain the ``module.`` prefix, as in
    PyTorch; ``ddp.module.state_dict()`` has the bare keys). Its parameters and buffers are
    replicated over ``device_mesh`` (default: every device, axis ``"data"``); ``forward`` splits
    each tensor argument along dimension 0 over the mesh (with several processes, each process's
    tensors are its part of the global batch). ``device_ids``, ``output_device``,
    ``bucket_cap_mb``, ``find_unused_parameters``, ``gradient_as_bucket_view`` and
    ``static_graph`` are accepted for PyTorch programs and not needed: XLA schedules the
    communication. Inputs that require grad are not re-laid (they stay where they are).
    """

    def __init__(
        self,
        module: Module,
        device_ids=None,
        output_device=None,
        dim: int = 0,
        broadcast_buffers: bool = True,
        process_group=None,
        bucket_cap_mb=None,
        find_unused_parameters: bool = False,
        check_reduction: bool = False,
        gradient_as_bucket_view: bool = False,
        static_graph: bool = False,
        delay_all_reduce_named_params=None,
        param_to_hook_all_reduce=None,
        mixed_precision=None,
        device_mesh=None,
    ) -> None:
        super().__init__()
        if dim != 0:
            raise NotImplementedError(
                f"DistributedDataParallel(dim={dim}): tracegrad splits batches along dimension 0"
            )
        if mixed_precision is not None:
            raise NotImplementedError(
                "DistributedDataParallel(mixed_precision=...): use tracegrad.autocast instead"
            )
        self.module = module
        self.device_mesh = default_mesh() if device_mesh is None else device_mesh
        self.device_ids = device_ids
        self.dim = dim
        replicated = NamedSharding(self.device_mesh, PartitionSpec())
        for t in (*module.parameters(), *module.buffers()):
            _place_in_place(t, replicated)
        self._batch = NamedSharding(self.device_mesh, PartitionSpec(self.device_mesh.axis_names))

    def forward(self, *inputs, **kwargs):
        inputs, kwargs = shard_batch((inputs, kwargs), self._batch)
        return self.module(*inputs, **kwargs)

    @contextlib.contextmanager
    def no_sync(self):
        """PyTorch's context for gradient accumulation without communication. Here the reduction
        is part of each op's computation, so it still happens: the accumulated gradients are the
        same as PyTorch's, only the communication is not saved."""
        yield
