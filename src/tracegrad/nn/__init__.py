"""Neural-network building blocks, as ``torch.nn``: ``Module``, layers, losses, ``init``,
``functional`` and ``utils``."""

from . import attention, functional, init, modules, utils
from .modules import *  # noqa: F403
from .parameter import *  # noqa: F403

__all__ = ["attention", "functional", "init", "utils", "modules"]
__all__ += modules.__all__
