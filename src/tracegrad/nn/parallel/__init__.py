"""``tracegrad.nn.parallel``: ``DistributedDataParallel`` (on a JAX device mesh) and
``DataParallel`` (as PyTorch runs it without CUDA), as ``torch.nn.parallel``."""

from ..modules.container import DataParallel
from .distributed import DistributedDataParallel

__all__ = ["DistributedDataParallel", "DataParallel"]
