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

from . import cuda, cudnn, mkl, mkldnn, mps, openmp, opt_einsum

__all__ = ["cuda", "cudnn", "mkl", "mkldnn", "mps", "openmp", "opt_einsum"]
