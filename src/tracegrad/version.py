"""``tracegrad.version``, as ``torch.version``: the package version, and ``cuda``/``hip``/``git_version``
for code that asks which build it runs on. tracegrad has no CUDA build of its own (JAX's plugins
bring the accelerator), so ``cuda`` and ``hip`` are None."""

from __future__ import annotations

__all__ = ["__version__", "cuda", "debug", "git_version", "hip"]

__version__ = "0.1.0"
cuda: str | None = None
hip: str | None = None
debug = False
# PyTorch's value when a build was not made from a git checkout.
git_version = "Unknown"
