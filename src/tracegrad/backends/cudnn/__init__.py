"""``torch.backends.cudnn``: JAX uses cuDNN on GPUs, through XLA.

``allow_tf32`` is JAX's default matmul precision, the same flag as
``torch.backends.cuda.matmul.allow_tf32`` (JAX has one precision for matmuls and convolutions).
``deterministic = True`` turns on XLA's deterministic GPU ops (``--xla_gpu_deterministic_ops``),
which XLA reads when JAX starts its GPU backend: set it before the first tensor is made. The CPU
backend is deterministic either way. ``benchmark`` and ``enabled`` are kept for programs that read
them back; XLA picks and autotunes its own kernels.
"""

from __future__ import annotations

import os
import sys
import types

from ... import _device
from .. import cuda as _cuda

try:
    from jax._src.lib import cuda_versions as _cuda_versions  # None on a CPU or ROCm build
except ImportError:  # pragma: no cover - a JAX without it
    _cuda_versions = None

__all__ = ["is_available", "version", "benchmark", "deterministic", "enabled", "allow_tf32"]

_DETERMINISTIC_FLAG = "--xla_gpu_deterministic_ops=true"


def is_available() -> bool:
    """Whether cuDNN can be used: JAX has a GPU."""
    return bool(_device.jax_devices("cuda"))


def version() -> int | None:
    """cuDNN's version number as JAX reports it, or None without a GPU."""
    if not is_available() or _cuda_versions is None:
        return None
    return int(_cuda_versions.cudnn_get_version())


def _xla_flags() -> list[str]:
    return os.environ.get("XLA_FLAGS", "").split()


def _set_deterministic(value: bool) -> None:
    flags = _xla_flags()
    on = _DETERMINISTIC_FLAG in flags
    if value == on:
        return
    if _device.backends_started() and is_available():
        raise NotImplementedError(
            "torch.backends.cudnn.deterministic: XLA reads its deterministic-ops flag when JAX "
            "starts its GPU backend, which has already started; set the flag before the first "
            "tensor is made, or start Python with XLA_FLAGS=--xla_gpu_deterministic_ops=true"
        )
    flags = [f for f in flags if f != _DETERMINISTIC_FLAG] + (
        [_DETERMINISTIC_FLAG] if value else []
    )
    os.environ["XLA_FLAGS"] = " ".join(flags)


class _CudnnModule(types.ModuleType):
    """The module's flags as properties, as PyTorch's ``CudnnModule``."""

    enabled = True
    benchmark = False

    @property
    def deterministic(self) -> bool:
        return _DETERMINISTIC_FLAG in _xla_flags()

    @deterministic.setter
    def deterministic(self, value: bool) -> None:
        _set_deterministic(bool(value))

    @property
    def allow_tf32(self) -> bool:
        return _cuda.tf32_allowed()

    @allow_tf32.setter
    def allow_tf32(self, value: bool) -> None:
        _cuda.allow_tf32(bool(value))


sys.modules[__name__].__class__ = _CudnnModule
