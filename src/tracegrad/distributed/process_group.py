"""The process group: ``init_process_group`` and the questions asked of it.

What the world is. PyTorch runs one process per device, so its world size is the number of devices
and its rank a device's index. JAX runs one process per *host* (a single controller driving every
local device; several hosts are several controllers joined by ``jax.distributed``). tracegrad
follows JAX: **world size is the number of processes** (``jax.process_count()``, 1 on one host
however many devices it has) and **rank is this process's index** (``jax.process_index()``). The
devices inside a process are reached through a mesh (``tracegrad.distributed.mesh``), over which
``DistributedDataParallel`` splits each batch. ``DistributedSampler`` divides a dataset by the same
world size, so each process loads its own share and its devices split that share.
"""

from __future__ import annotations

import os
import re

import jax

from .._device import backends_started

try:  # JAX's multi-controller state (read to tell whether jax.distributed already started)
    from jax._src import distributed as _jax_distributed
except ImportError:  # pragma: no cover - a JAX without it
    _jax_distributed = None

__all__ = [
    "is_available",
    "is_initialized",
    "init_process_group",
    "destroy_process_group",
    "get_rank",
    "get_world_size",
    "get_backend",
    "new_group",
    "ProcessGroup",
    "GroupMember",
    "group",
]

_NOT_INITIALIZED = (
    "Default process group has not been initialized, please make sure to call init_process_group."
)


class ProcessGroup:
    """The one process group tracegrad has: every process (``WORLD``)."""

    def __init__(self, backend: str) -> None:
        self.backend = backend

    def rank(self) -> int:
        return jax.process_index()

    def size(self) -> int:
        return jax.process_count()

    def __repr__(self) -> str:
        return f"ProcessGroup(backend={self.backend!r}, world_size={self.size()})"


class _State:
    group: ProcessGroup | None = None
    started_jax_distributed = False


class GroupMember:
    """PyTorch's ``GroupMember.WORLD``: the default group once initialized."""

    NON_GROUP_MEMBER = -100

    @classmethod
    def _world(cls):
        return _State.group


class _Group:
    """``torch.distributed.group.WORLD``: the default group (None until initialized)."""

    WORLD = None


group = _Group


def is_available() -> bool:
    """Whether the distributed package is usable: always, JAX's runtime is built in."""
    return True


def is_initialized() -> bool:
    """Whether ``init_process_group`` has been called (and not undone)."""
    return _State.group is not None


def _coordinator(init_method: str | None) -> str | None:
    if init_method and init_method.startswith("tcp://"):
        return init_method[len("tcp://") :]
    if init_method and not init_method.startswith("env://"):
        raise ValueError(
            f"init_process_group: init_method {init_method!r} is not supported; use 'env://' "
            "(MASTER_ADDR/MASTER_PORT) or 'tcp://host:port' (the jax.distributed coordinator)"
        )
    addr, port = os.environ.get("MASTER_ADDR"), os.environ.get("MASTER_PORT")
    return f"{addr}:{port}" if addr and port else None


def init_process_group(
    backend: str | None = None,
    init_method: str | None = None,
    timeout=None,
    world_size: int = -1,
    rank: int = -1,
    store=None,
    group_name: str = "",
    pg_options=None,
    device_id=None,
) -> None:
    """Start the process group, as ``torch.distributed.init_process_group``.

    With one process (no ``WORLD_SIZE`` above 1 in the environment, ``world_size`` 1 or unset) it
    only records the group: this process drives all local devices, which JAX needs no set-up for.
    With several, it calls ``jax.distributed.initialize(coordinator_address, num_processes,
    process_id)`` with the coordinator from ``init_method='tcp://host:port'`` or
    ``MASTER_ADDR``/``MASTER_PORT``, ``num_processes`` from ``world_size``/``WORLD_SIZE`` and
    ``process_id`` from ``rank``/``RANK``. That must happen before JAX starts its backends (before
    the first tensor is made). ``backend`` (``'nccl'``, ``'gloo'``, ...) is recorded and otherwise
    ignored: XLA picks the transport.
    """
    if _State.group is not None:
        raise ValueError("trying to initialize the default process group twice!")
    if store is not None:
        raise NotImplementedError(
            "init_process_group(store=...): tracegrad has no c10d store; processes meet through "
            "the jax.distributed coordinator (init_method='tcp://host:port' or MASTER_ADDR/"
            "MASTER_PORT)"
        )
    if world_size == -1:
        world_size = int(os.environ.get("WORLD_SIZE", "1"))
    if rank == -1:
        rank = int(os.environ.get("RANK", "0"))
    if world_size > 1 and not _jax_distributed_running():
        coordinator = _coordinator(init_method)
        if coordinator is None or not re.fullmatch(r"[^:]+:\d+", coordinator):
            raise ValueError(
                f"init_process_group: world_size={world_size} needs a coordinator address: set "
                "MASTER_ADDR and MASTER_PORT or pass init_method='tcp://host:port'"
            )
        if backends_started():
            raise RuntimeError(
                "init_process_group: JAX has already started its backends (a tensor was made or "
                "a device asked for), and jax.distributed.initialize must come first; call "
                "init_process_group at the top of the program"
            )
        kwargs = {}
        if timeout is not None:
            kwargs["initialization_timeout"] = int(timeout.total_seconds())
        jax.distributed.initialize(
            coordinator_address=coordinator,
            num_processes=world_size,
            process_id=rank,
            **kwargs,
        )
        _State.started_jax_distributed = True
    if world_size != jax.process_count() or rank != jax.process_index():
        raise RuntimeError(
            f"init_process_group: asked for world_size={world_size}, rank={rank}, but JAX runs "
            f"{jax.process_count()} process(es) and this is process {jax.process_index()}. In "
            "tracegrad a rank is a process driving all its host's devices, not one device "
            "(see tracegrad.distributed)"
        )
    _State.group = ProcessGroup(backend or "xla")
    _Group.WORLD = _State.group


def _jax_distributed_running() -> bool:
    """Whether ``jax.distributed.initialize`` already ran (by the user, or an earlier group)."""
    return getattr(getattr(_jax_distributed, "global_state", None), "client", None) is not None


def destroy_process_group(group=None) -> None:
    """Forget the process group (and shut ``jax.distributed`` down if it was started here)."""
    if group is not None and group is not _State.group:
        raise ValueError("destroy_process_group: the group is not the default group")
    if _State.started_jax_distributed:
        jax.distributed.shutdown()
        _State.started_jax_distributed = False
    _State.group = None
    _Group.WORLD = None


def _check(group=None) -> None:
    if _State.group is None:
        raise ValueError(_NOT_INITIALIZED)
    if group is not None and group is not _State.group:
        raise ValueError("tracegrad has only the default process group (group.WORLD)")


def get_rank(group=None) -> int:
    """This process's index, ``jax.process_index()`` (0 on one host)."""
    _check(group)
    return jax.process_index()


def get_world_size(group=None) -> int:
    """The number of processes, ``jax.process_count()`` (1 on one host, whatever its device
    count; the devices are ``len(tracegrad.distributed.mesh().devices.flat)``)."""
    _check(group)
    return jax.process_count()


def get_backend(group=None) -> str:
    """The backend name given to ``init_process_group`` (``'xla'`` when none was)."""
    _check(group)
    return _State.group.backend


def new_group(ranks=None, timeout=None, backend=None, pg_options=None, **kwargs):
    """The whole world (``ranks`` None or every rank) is the default group; a subset of processes
    cannot be a group in JAX's runtime, so that raises ``NotImplementedError``."""
    _check()
    if ranks is None or sorted(ranks) == list(range(jax.process_count())):
        return _State.group
    raise NotImplementedError(
        f"new_group(ranks={list(ranks)}): tracegrad has one process group, all processes. For "
        "collectives over a subset of devices build a jax.sharding.Mesh with an axis over those "
        "devices (tracegrad.distributed.mesh) and shard over that axis"
    )
