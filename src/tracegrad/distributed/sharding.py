"""Meshes and placements: tensors laid out over many devices with JAX's ``NamedSharding``.

``mesh()`` arranges the devices (every process's, with ``jax.distributed``) in a named grid;
``shard`` places one tensor on it by a ``PartitionSpec``; ``fully_shard`` places a module's
parameters (split along their first dimension, FSDP/ZeRO-3 style). Nothing here computes a
gradient: placements only tell XLA where the arrays live, and XLA's SPMD partitioner (eagerly,
op by op, or for a whole ``tracegrad.compile`` step) inserts the communication.
"""

from __future__ import annotations

import warnings

import jax
import numpy as np
from jax.sharding import Mesh, NamedSharding, PartitionSpec

from ..tensor import Tensor

__all__ = ["mesh", "shard", "fully_shard", "Mesh", "NamedSharding", "PartitionSpec"]

_DEFAULT: dict = {}  # the devices' ids -> the default one-axis mesh


def mesh(shape=None, axis_names=("data",), devices=None) -> Mesh:
    """A ``jax.sharding.Mesh`` over ``devices`` (default: all of JAX's devices, every process's)
    reshaped to ``shape`` (default: one axis over all of them) with ``axis_names``."""
    axis_names = (axis_names,) if isinstance(axis_names, str) else tuple(axis_names)
    devs = np.array(jax.devices() if devices is None else list(devices), dtype=object)
    if shape is None:
        if len(axis_names) != 1:
            raise ValueError(f"mesh(): give a shape for {len(axis_names)} axis names {axis_names}")
        shape = (devs.size,)
    shape = tuple(shape)
    if int(np.prod(shape)) != devs.size or len(shape) != len(axis_names):
        raise ValueError(
            f"mesh(): shape {shape} with axes {axis_names} does not fit {devs.size} devices"
        )
    return Mesh(devs.reshape(shape), axis_names)


def default_mesh() -> Mesh:
    """One axis, ``"data"``, over all devices (built once)."""
    key = tuple(d.id for d in jax.devices())
    found = _DEFAULT.get(key)
    if found is None:
        found = _DEFAULT[key] = mesh()
    return found


def _is_traced(a) -> bool:
    return isinstance(a, jax.core.Tracer)


def _put(array, sharding: NamedSharding):
    """``array`` laid out by ``sharding``: a constraint inside a trace, a transfer outside; with
    several processes a process-local value is taken as this process's copy of a replicated one."""
    if _is_traced(array):
        return jax.lax.with_sharding_constraint(array, sharding)
    if jax.process_count() > 1 and getattr(array, "is_fully_addressable", True):
        local = np.asarray(array)
        return jax.make_array_from_callback(local.shape, sharding, lambda idx: local[idx])
    return jax.device_put(array, sharding)


def _place_in_place(t: Tensor, sharding: NamedSharding) -> None:
    """Re-lay ``t`` (a parameter or buffer) and its ``.grad`` where ``sharding`` says, keeping the
    tensor object (modules and optimizers hold it)."""
    t._storage.array = _put(t._storage.array, sharding)
    g = t.grad
    if g is not None:
        g._storage.array = _put(g._storage.array, sharding)


def _spec(spec) -> PartitionSpec:
    if spec is None:
        return PartitionSpec()
    return spec if isinstance(spec, PartitionSpec) else PartitionSpec(*spec)


def shard(tensor: Tensor, mesh: Mesh, spec=None) -> Tensor:
    """``tensor`` laid out over ``mesh`` by ``spec`` (a ``PartitionSpec`` or a tuple of axis names,
    one entry per dimension; None: replicated). A leaf that requires grad (a parameter) is re-laid
    in place and returned, so its module and optimizer keep it; a tensor that does not require
    grad comes back as a new tensor and the input is left as it was (for a frozen parameter write
    ``p.data = shard(p.data, mesh, spec)``). A tensor inside the autograd graph cannot be re-laid
    without a recorded op: shard the leaf it comes from instead."""
    if not isinstance(tensor, Tensor):
        raise TypeError(f"shard(): expected a tracegrad Tensor, got {type(tensor).__name__}")
    sharding = NamedSharding(mesh, _spec(spec))
    if tensor.requires_grad and tensor.is_leaf:
        _place_in_place(tensor, sharding)
        return tensor
    if tensor.requires_grad:
        raise RuntimeError(
            "shard(): the tensor requires grad, and re-laying it would cut it out of the "
            "autograd graph; shard the parameters or inputs it is computed from (placements "
            "propagate through every op)"
        )
    return Tensor._wrap(_put(tensor._storage.array, sharding))


def _first_dim_spec(shape, mesh: Mesh) -> PartitionSpec:
    names = mesh.axis_names
    if len(shape) == 0 or shape[0] % mesh.size:
        return PartitionSpec()
    return PartitionSpec(names[0] if len(names) == 1 else tuple(names))


def fully_shard(module, mesh: Mesh | None = None, *, shard_inputs: bool = True):
    """Shard ``module``'s parameters over ``mesh`` (default: all devices, axis ``"data"``), as
    PyTorch's FSDP2 ``fully_shard``: each parameter is split along its first dimension when that
    divides by the device count (each device holds ``1/n`` of it) and replicated otherwise;
    buffers are replicated. Optimizer state created afterwards (Adam's ``exp_avg``) takes its
    parameter's layout. With ``shard_inputs`` the module's tensor inputs are split along the batch
    dimension too (data parallelism, as FSDP's ranks each feed their own batch). XLA gathers a
    parameter where an op needs it whole and reduce-scatters its gradient. Returns ``module``."""
    mesh = default_mesh() if mesh is None else mesh
    for p in module.parameters():
        _place_in_place(p, NamedSharding(mesh, _first_dim_spec(p.shape, mesh)))
    replicated = NamedSharding(mesh, PartitionSpec())
    for b in module.buffers():
        _place_in_place(b, replicated)
    if shard_inputs:
        batch = NamedSharding(mesh, PartitionSpec(mesh.axis_names))
        module.register_forward_pre_hook(
            lambda _m, args, kwargs: shard_batch((args, kwargs), batch), with_kwargs=True
        )
    return module


_WARNED: set = set()


def _batch_array(a, batch: NamedSharding, replicated: NamedSharding):
    n = batch.mesh.size
    if a.ndim == 0:
        return _put(a, replicated)
    if jax.process_count() > 1 and not _is_traced(a) and a.is_fully_addressable:
        # each process passes its own part of the global batch, as PyTorch's ranks do
        return jax.make_array_from_process_local_data(batch, np.asarray(a))
    if a.shape[0] % n:
        key = (a.shape[0], n)
        if key not in _WARNED:
            _WARNED.add(key)
            warnings.warn(
                f"a batch of {a.shape[0]} does not split over {n} devices: it is replicated "
                "(every device computes the whole batch); use a batch size divisible by "
                f"{n}",
                stacklevel=4,
            )
        return _put(a, replicated)
    return _put(a, batch)


def shard_batch(tree, batch: NamedSharding | None = None):
    """Every tensor in ``tree`` (tuples, lists, dicts) split along its first dimension by
    ``batch`` (default: over all devices, axis ``"data"``), as ``DistributedDataParallel`` does
    to its inputs. With several processes each process's tensors are its part of the global
    batch: pass the targets a loss compares with the model's output through it too. Tensors that
    require grad are left as they are (re-laying them would leave the autograd graph)."""
    if batch is None:
        batch = NamedSharding(default_mesh(), PartitionSpec("data"))
    replicated = NamedSharding(batch.mesh, PartitionSpec())

    def one(x):
        if isinstance(x, Tensor) and not x.requires_grad:
            return Tensor._wrap(_batch_array(x._storage.array, batch, replicated))
        return x

    return jax.tree_util.tree_map(one, tree, is_leaf=lambda x: isinstance(x, Tensor))
