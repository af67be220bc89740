"""Neural-network building blocks, as ``torch.nn``: ``Module``, layers, losses, ``init``,
``functional`` and ``utils``."""

from . import attention, functional, init, modules, parallel, utils
from .modules import *  # noqa: F403
from .parameter import *  # noqa: F403

__all__ = ["attention", "functional", "init", "utils", "modules", "parallel"]
__all__ += modules.__all__

# einops on tracegrad tensors, loaded when einops is imported (docs/einops.md); last, because the
# integration builds on the modules above.
from . import _einops_hook  # noqa: E402, F401
