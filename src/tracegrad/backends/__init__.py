"""``torch.backends`` on JAX: the flags PyTorch programs set, mapped to what JAX can do.

- ``cudnn``: ``is_available()`` when JAX has a GPU; ``deterministic`` sets XLA's deterministic GPU
  ops (before JAX starts its GPU backend); ``allow_tf32`` is JAX's default matmul precision, shared
  with ``cuda.matmul.allow_tf32`` (JAX has one precision for matmuls and convolutions);
  ``benchmark`` and ``enabled`` are kept (XLA chooses and autotunes its own kernels).
- ``cuda``: ``is_built()`` (a CUDA build of JAX is installed), ``matmul.allow_tf32``.
- ``mps``, ``mkldnn``, ``mkl``, ``openmp``: JAX uses none of them; ``is_available()`` is False.
- ``opt_einsum``: JAX plans every einsum with it.
"""

from __future__ import annotations

import jax

from . import cuda, cudnn, mkl, mkldnn, mps, openmp, opt_einsum

__all__ = ["cuda", "cudnn", "mkl", "mkldnn", "mps", "openmp", "opt_einsum"]

# PyTorch's top-level switches for these flags (``torch.set_float32_matmul_precision``, ...).
_PRECISIONS = {"highest": "highest", "high": "tensorfloat32", "medium": "bfloat16"}
_deterministic = {"on": False, "warn_only": False}


def set_float32_matmul_precision(precision: str) -> None:
    """``'highest'`` (full float32), ``'high'`` (TF32) or ``'medium'`` (bfloat16 passes): JAX's
    default matmul precision, the same knob as ``cuda.matmul.allow_tf32``."""
    if precision not in _PRECISIONS:
        raise RuntimeError(f"Invalid float32 matmul precision: {precision}")
    jax.config.update("jax_default_matmul_precision", _PRECISIONS[precision])


def get_float32_matmul_precision() -> str:
    """The float32 matmul precision in effect: ``'highest'`` when full float32, ``'high'`` for
    TF32, ``'medium'`` for bfloat16 passes (JAX's default on an accelerator is reduced)."""
    precision = jax.config.jax_default_matmul_precision
    if precision is None:
        return "high" if cuda.tf32_allowed() else "highest"
    precision = str(precision).lower()
    if precision in ("bfloat16", "default", "fastest"):
        return "medium"
    return "highest" if precision in ("highest", "float32") else "high"


def use_deterministic_algorithms(mode: bool, *, warn_only: bool = False) -> None:
    """Make every op deterministic: XLA's deterministic GPU ops (as ``cudnn.deterministic``;
    JAX's CPU backend is deterministic already). Where PyTorch raises for an op without a
    deterministic implementation, XLA runs a deterministic one instead."""
    cudnn.deterministic = bool(mode)
    _deterministic.update(on=bool(mode), warn_only=bool(warn_only))


def are_deterministic_algorithms_enabled() -> bool:
    """Whether ``use_deterministic_algorithms(True)`` is in effect."""
    return _deterministic["on"]


def is_deterministic_algorithms_warn_only_enabled() -> bool:
    """The ``warn_only`` given to ``use_deterministic_algorithms``."""
    return _deterministic["warn_only"]
