"""``DistributedSampler``: each replica's share of a dataset's indices, as PyTorch's.

A *replica* here is a process (``tracegrad.distributed.get_world_size()``): on JAX one process
drives all of its host's devices, so on one host there is one replica and the whole batch is split
over the devices by ``DistributedDataParallel``, not by the sampler. With several processes
(several hosts, ``init_process_group`` over ``jax.distributed``) each takes its share, exactly as
PyTorch's ranks do.
"""

from __future__ import annotations

import math
from collections.abc import Iterator

from ...distributed import process_group as _pg
from .generator import Generator, permutation
from .sampler import Sampler

__all__ = ["DistributedSampler"]


class DistributedSampler(Sampler):
    """The indices replica ``rank`` of ``num_replicas`` visits, as ``torch.utils.data.
    DistributedSampler``: padded by repeating the first indices so every replica gets the same
    count (or the tail dropped with ``drop_last``), then every ``num_replicas``-th index from
    ``rank``. ``num_replicas``/``rank`` default to the process group's world size and rank (the
    number of processes and this one's index; see ``tracegrad.distributed``).

    With ``shuffle`` the order is a permutation seeded with ``seed + epoch`` (call ``set_epoch``
    each epoch), the same on every replica. It comes from tracegrad's JAX-keyed generator, so it is
    *not* the permutation PyTorch's ``torch.randperm`` draws for that seed; the split arithmetic is
    PyTorch's exactly.
    """

    def __init__(
        self,
        dataset,
        num_replicas: int | None = None,
        rank: int | None = None,
        shuffle: bool = True,
        seed: int = 0,
        drop_last: bool = False,
    ) -> None:
        if num_replicas is None:
            num_replicas = _pg.get_world_size()
        if rank is None:
            rank = _pg.get_rank()
        if rank >= num_replicas or rank < 0:
            raise ValueError(
                f"Invalid rank {rank}, rank should be in the interval [0, {num_replicas - 1}]"
            )
        self.dataset = dataset
        self.num_replicas = num_replicas
        self.rank = rank
        self.epoch = 0
        self.drop_last = drop_last
        n = len(dataset)
        if drop_last and n % num_replicas != 0:
            self.num_samples = math.ceil((n - num_replicas) / num_replicas)
        else:
            self.num_samples = math.ceil(n / num_replicas)
        self.total_size = self.num_samples * num_replicas
        self.shuffle = shuffle
        self.seed = seed

    def __iter__(self) -> Iterator[int]:
        n = len(self.dataset)
        if self.shuffle:
            g = Generator().manual_seed(self.seed + self.epoch)
            indices = permutation(n, g).tolist()
        else:
            indices = list(range(n))
        if not self.drop_last:
            padding = self.total_size - len(indices)
            if padding <= len(indices):
                indices += indices[:padding]
            else:
                indices += (indices * math.ceil(padding / len(indices)))[:padding]
        else:
            indices = indices[: self.total_size]
        indices = indices[self.rank : self.total_size : self.num_replicas]
        return iter(indices)

    def __len__(self) -> int:
        return self.num_samples

    def set_epoch(self, epoch: int) -> None:
        """Make the next ``__iter__`` use permutation ``seed + epoch`` (with ``shuffle``)."""
        self.epoch = epoch
