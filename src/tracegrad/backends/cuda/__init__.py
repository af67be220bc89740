"""``torch.backends.cuda``: whether JAX was built for CUDA, and ``matmul.allow_tf32``."""

from __future__ import annotations

import importlib.util

import jax

__all__ = ["is_built", "matmul"]

_CUDA_PLUGINS = ("jax_cuda12_plugin", "jax_cuda13_plugin", "jax_rocm60_plugin", "jax_rocm7_plugin")


def is_built() -> bool:
    """Whether a GPU build of JAX is installed (its CUDA or ROCm plugin), whether or not this
    machine has a GPU; ``tracegrad.cuda.is_available()`` tells whether one is usable."""
    return any(importlib.util.find_spec(name) is not None for name in _CUDA_PLUGINS)


_FULL_PRECISION = ("highest", "float32")


def tf32_allowed() -> bool:
    """Whether float32 matmuls and convolutions may run at reduced precision (TF32 on GPUs,
    bfloat16 passes on TPUs): JAX's ``jax_default_matmul_precision``. Unset, JAX uses reduced
    precision on accelerators and full precision on the CPU."""
    precision = jax.config.jax_default_matmul_precision
    if precision is None:
        return jax.default_backend() != "cpu"
    return str(precision).lower() not in _FULL_PRECISION


def allow_tf32(allowed: bool) -> None:
    """Set JAX's default matmul precision: ``'tensorfloat32'`` when allowed, else ``'highest'``."""
    jax.config.update("jax_default_matmul_precision", "tensorfloat32" if allowed else "highest")


class _Matmul:
    """``torch.backends.cuda.matmul``: ``allow_tf32`` reads and sets JAX's default precision."""

    __slots__ = ()

    @property
    def allow_tf32(self) -> bool:
        return tf32_allowed()

    @allow_tf32.setter
    def allow_tf32(self, value: bool) -> None:
        allow_tf32(bool(value))

    def __setattr__(self, name, value):
        if name != "allow_tf32":
            raise AttributeError(f"Unknown attribute {name}")
        object.__setattr__(self, name, value)


matmul = _Matmul()
