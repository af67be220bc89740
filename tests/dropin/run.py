"""Run one drop-in program with real PyTorch or with tracegrad standing in for ``torch``.

    python tests/dropin/run.py torch PROGRAM.py
    python tests/dropin/run.py tracegrad PROGRAM.py

With ``tracegrad``, the package and each of its public submodules are entered in ``sys.modules``
under the ``torch`` names (``torch``, ``torch.nn``, ``torch.nn.functional``, ``torch.optim``,
``torch.optim.lr_scheduler``, ``torch.utils.data``, ``torch.autograd``, ...), and a finder maps any
other ``import torch.X`` to ``tracegrad.X`` (an ``ImportError`` naming ``torch.X`` when tracegrad
has no such module). The program then runs unchanged with ``runpy`` as ``__main__``.
"""

from __future__ import annotations

import importlib
import importlib.abc
import importlib.machinery
import runpy
import sys
from pathlib import Path


class _AliasLoader(importlib.abc.Loader):
    def __init__(self, target: str) -> None:
        self.target = target

    def create_module(self, spec):
        return importlib.import_module(self.target)

    def exec_module(self, module) -> None:
        pass


class _TorchAsTracegrad(importlib.abc.MetaPathFinder):
    """``import torch.X`` imports ``tracegrad.X`` (for submodules not loaded at start-up)."""

    def find_spec(self, fullname, path=None, target=None):
        if fullname != "torch" and not fullname.startswith("torch."):
            return None
        real = "tracegrad" + fullname[len("torch") :]
        try:
            found = importlib.util.find_spec(real)
        except ModuleNotFoundError:
            found = None
        if found is None:
            return None
        return importlib.machinery.ModuleSpec(fullname, _AliasLoader(real))


def install_tracegrad_as_torch() -> None:
    """Make ``import torch`` (and its public submodules) import tracegrad."""
    import tracegrad

    for name, module in list(sys.modules.items()):
        if name != "tracegrad" and not name.startswith("tracegrad."):
            continue
        if any(part.startswith("_") for part in name.split(".")):
            continue
        sys.modules["torch" + name[len("tracegrad") :]] = module
    sys.meta_path.insert(0, _TorchAsTracegrad())
    assert sys.modules["torch"] is tracegrad


def main(argv: list[str]) -> None:
    backend, program = argv
    if backend == "tracegrad":
        install_tracegrad_as_torch()
    elif backend != "torch":
        raise SystemExit(f"unknown backend {backend!r}: torch or tracegrad")
    # The programs import their small shared helper (dropin_support) from this folder.
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    sys.argv = [program]
    runpy.run_path(program, run_name="__main__")


if __name__ == "__main__":
    main(sys.argv[1:])
