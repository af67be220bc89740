"""``skip_init``, as ``torch.nn.utils.skip_init``."""

from __future__ import annotations

import inspect
from typing import Any

from ..modules.module import Module

__all__ = ["skip_init"]


def skip_init(module_cls: type, *args: Any, **kwargs: Any) -> Module:
    """``module_cls(*args, **kwargs)`` with parameters and buffers whose values the caller must
    set (they are "uninitialized"), as ``torch.nn.utils.skip_init``.

    PyTorch builds the module on the ``meta`` device and then allocates empty storage, skipping
    the initialisers' work. JAX has no ``meta`` backend, so tracegrad constructs the module
    directly on ``device``: the initialisers run (time is spent, the values are what the
    constructor makes), which is one admissible content of uninitialized memory. The checks are
    PyTorch's: ``module_cls`` must be a ``Module`` accepting a ``device`` argument.
    """
    if not (isinstance(module_cls, type) and issubclass(module_cls, Module)):
        raise RuntimeError(f"Expected a Module; got {module_cls}")
    if "device" not in inspect.signature(module_cls).parameters:
        raise RuntimeError("Module must support a 'device' arg to skip initialization")
    kwargs["device"] = kwargs.pop("device", "cpu")
    return module_cls(*args, **kwargs)
