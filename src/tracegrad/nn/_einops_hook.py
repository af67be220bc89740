"""Loads tracegrad's einops integration (``tracegrad.nn.einops_layers``) when einops is imported.

einops is optional and ``import tracegrad`` does not import it. einops finds a backend for a tensor
type among the subclasses of its ``AbstractBackend`` that exist when it is asked, so ours has to be
defined before user code calls ``einops.rearrange`` on a tracegrad tensor, and user code has to
import einops to call it. So: if einops is already imported when tracegrad is, the integration
loads now; otherwise a finder on ``sys.meta_path`` watches for the import of ``einops`` and loads
the integration right after the einops package has run. The integration is named by string
because this is the deferred half of an optional dependency, not a way around an import cycle:
``tracegrad.nn.einops_layers`` imports einops at module level and cannot be imported without it.
"""

from __future__ import annotations

import importlib
import importlib.abc
import importlib.util
import sys
import warnings
from types import ModuleType

INTEGRATION = "tracegrad.nn.einops_layers"


def load_integration() -> None:
    """Import the integration; if this einops cannot take it, warn rather than break einops."""
    try:
        importlib.import_module(INTEGRATION)
    except Exception as error:  # an einops whose internals differ from the ones we build on
        warnings.warn(
            f"tracegrad could not register its einops backend ({type(error).__name__}: {error}); "
            "einops will not recognise tracegrad tensors",
            RuntimeWarning,
            stacklevel=2,
        )


class _LoadAfter(importlib.abc.Loader):
    """einops' own loader, followed by loading the integration."""

    def __init__(self, loader: importlib.abc.Loader):
        self._loader = loader

    def create_module(self, spec):
        return self._loader.create_module(spec)

    def exec_module(self, module: ModuleType) -> None:
        self._loader.exec_module(module)
        load_integration()

    def __getattr__(self, name: str):  # get_source, is_package, resource readers, ...
        return getattr(self._loader, name)


class _EinopsFinder(importlib.abc.MetaPathFinder):
    """Finds ``einops`` through the other finders and wraps its loader in ``_LoadAfter``."""

    def __init__(self) -> None:
        self._searching = False

    def find_spec(self, fullname, path, target=None):
        if fullname != "einops" or self._searching:
            return None
        self._searching = True
        try:
            spec = importlib.util.find_spec(fullname)
        finally:
            self._searching = False
        if spec is None or spec.loader is None or not hasattr(spec.loader, "exec_module"):
            return spec
        spec.loader = _LoadAfter(spec.loader)
        return spec


if sys.modules.get("einops") is not None:
    load_integration()
elif not any(isinstance(finder, _EinopsFinder) for finder in sys.meta_path):
    sys.meta_path.insert(0, _EinopsFinder())
