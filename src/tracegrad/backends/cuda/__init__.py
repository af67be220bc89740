"""``torch.backends.cuda``: whether JAX was built for CUDA, ``matmul.allow_tf32`` (JAX's matmul
precision), and the attention-kernel switches.

The ``*_sdp`` switches choose among PyTorch's fused attention kernels. XLA chooses its own kernel
for an attention computation, so they are kept and read back but change nothing numerically:
every choice computes the same attention."""

from __future__ import annotations

import contextlib
import importlib.util
import warnings

import jax

__all__ = [
    "is_built",
    "matmul",
    "enable_flash_sdp",
    "enable_mem_efficient_sdp",
    "enable_math_sdp",
    "enable_cudnn_sdp",
    "flash_sdp_enabled",
    "mem_efficient_sdp_enabled",
    "math_sdp_enabled",
    "cudnn_sdp_enabled",
    "sdp_kernel",
]

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
    """``torch.backends.cuda.matmul``: ``allow_tf32`` reads and sets JAX's default precision.
    ``allow_fp16_reduced_precision_reduction``/``allow_bf16_...`` are kept and read back: XLA
    accumulates half-precision matmuls in float32 whatever they say, which is at least as precise
    as PyTorch with either setting."""

    __slots__ = ("allow_fp16_reduced_precision_reduction", "allow_bf16_reduced_precision_reduction")

    def __init__(self) -> None:
        object.__setattr__(self, "allow_fp16_reduced_precision_reduction", True)
        object.__setattr__(self, "allow_bf16_reduced_precision_reduction", True)

    @property
    def allow_tf32(self) -> bool:
        return tf32_allowed()

    @allow_tf32.setter
    def allow_tf32(self, value: bool) -> None:
        allow_tf32(bool(value))

    def __setattr__(self, name, value):
        if name not in ("allow_tf32", *self.__slots__):
            raise AttributeError(f"Unknown attribute {name}")
        object.__setattr__(self, name, value)


matmul = _Matmul()


_SDP = {"flash": True, "mem_efficient": True, "math": True, "cudnn": True}


def enable_flash_sdp(enabled: bool) -> None:
    """Keep the flash-attention switch (XLA chooses the kernel; see the module note)."""
    _SDP["flash"] = bool(enabled)


def enable_mem_efficient_sdp(enabled: bool) -> None:
    """Keep the memory-efficient-attention switch (see the module note)."""
    _SDP["mem_efficient"] = bool(enabled)


def enable_math_sdp(enabled: bool) -> None:
    """Keep the math-attention switch (see the module note)."""
    _SDP["math"] = bool(enabled)


def enable_cudnn_sdp(enabled: bool) -> None:
    """Keep the cuDNN-attention switch (see the module note)."""
    _SDP["cudnn"] = bool(enabled)


def flash_sdp_enabled() -> bool:
    return _SDP["flash"]


def mem_efficient_sdp_enabled() -> bool:
    return _SDP["mem_efficient"]


def math_sdp_enabled() -> bool:
    return _SDP["math"]


def cudnn_sdp_enabled() -> bool:
    return _SDP["cudnn"]


@contextlib.contextmanager
def sdp_kernel(
    enable_flash: bool = True,
    enable_math: bool = True,
    enable_mem_efficient: bool = True,
    enable_cudnn: bool = True,
):
    """Deprecated in PyTorch (use ``torch.nn.attention.sdpa_kernel``): set the four switches
    inside the block and restore them after."""
    warnings.warn(
        "`torch.backends.cuda.sdp_kernel()` is deprecated. In the future, this context manager "
        "will be removed. Please see `torch.nn.attention.sdpa_kernel()` for the new context "
        "manager, with updated signature.",
        FutureWarning,
        stacklevel=3,
    )
    saved = dict(_SDP)
    _SDP.update(
        flash=bool(enable_flash),
        math=bool(enable_math),
        mem_efficient=bool(enable_mem_efficient),
        cudnn=bool(enable_cudnn),
    )
    try:
        yield
    finally:
        _SDP.update(saved)
