"""``torch.nn.attention``: choosing the kernel behind ``F.scaled_dot_product_attention``.

PyTorch picks among fused attention kernels (flash, memory-efficient, cuDNN) and the math
composite; ``sdpa_kernel`` restricts that choice. In tracegrad, attention is one op lowered to
``jax.numpy`` and XLA compiles it for the device, choosing its own kernel: every backend computes
the same attention, so the selection is accepted, kept (``torch.backends.cuda.*_sdp_enabled`` read
it back) and restored, and changes nothing numerically. As in PyTorch, an attention call with no
backend enabled at all (``sdpa_kernel([])``) raises. The flash-attention implementation registry
(FA3/FA4 kernels registered into PyTorch's dispatcher) has nothing to register into here: it lists
no implementations, and activating one raises ``NotImplementedError``.
"""

from __future__ import annotations

import contextlib
import enum
import logging
from collections.abc import Callable, Iterator

from ...backends import cuda as _cuda
from . import bias  # noqa: F401 - ``torch.nn.attention.bias`` without its own import

__all__ = [
    "SDPBackend",
    "sdpa_kernel",
    "WARN_FOR_UNFUSED_KERNELS",
    "register_flash_attention_impl",
    "activate_flash_attention_impl",
    "list_flash_attention_impls",
    "current_flash_attention_impl",
    "restore_flash_attention_impl",
]

# PyTorch warns, when this is set, why a fused kernel could not be used; XLA has no such choice to
# explain, so the flag is kept for code that sets it and never warns.
WARN_FOR_UNFUSED_KERNELS = False

_logger = logging.getLogger(__name__)


class SDPBackend(enum.Enum):
    """The attention backends, with PyTorch's names and values (``int(SDPBackend.MATH) == 0``)."""

    ERROR = -1
    MATH = 0
    FLASH_ATTENTION = 1
    EFFICIENT_ATTENTION = 2
    CUDNN_ATTENTION = 3
    OVERRIDEABLE = 4

    def __int__(self) -> int:
        return self.value

    def __index__(self) -> int:
        return self.value


# Each backend's switch: the four of ``torch.backends.cuda`` live there; OVERRIDEABLE (a kernel
# registered by an out-of-tree device) has no public switch in PyTorch and lives here.
_SWITCHES = {
    SDPBackend.CUDNN_ATTENTION: "cudnn",
    SDPBackend.FLASH_ATTENTION: "flash",
    SDPBackend.EFFICIENT_ATTENTION: "mem_efficient",
    SDPBackend.MATH: "math",
}
_overrideable = [True]
# PyTorch's default priority order of the backends (``torch._C._get_sdp_priority_order()``).
_priority = [1, 2, 0, 3, 4]


def _enabled(backend: SDPBackend) -> bool:
    if backend is SDPBackend.OVERRIDEABLE:
        return _overrideable[0]
    return _cuda._SDP[_SWITCHES[backend]]


def _current(with_priority: bool) -> list:
    backends = [b for b in (*_SWITCHES, SDPBackend.OVERRIDEABLE) if _enabled(b)]
    if with_priority:
        backends.sort(key=lambda b: _priority.index(int(b)))
    return backends


def _select(backends: list, set_priority: bool) -> None:
    for backend, name in _SWITCHES.items():
        _cuda._SDP[name] = backend in backends
    _overrideable[0] = SDPBackend.OVERRIDEABLE in backends
    if set_priority:
        order = [int(b) for b in backends]
        order += [b for b in _priority if b not in order]
        _priority[:] = order


def _any_backend_enabled() -> bool:
    """Whether ``scaled_dot_product_attention`` may run (some backend is enabled)."""
    return any(_enabled(b) for b in (*_SWITCHES, SDPBackend.OVERRIDEABLE))


@contextlib.contextmanager
def sdpa_kernel(backends: list[SDPBackend] | SDPBackend, set_priority: bool = False) -> Iterator:
    """Enable only ``backends`` (one or a list) for attention inside the block, in that priority
    order when ``set_priority``, and restore the previous selection after it. XLA chooses the kernel
    that runs (see the module note), so any non-empty selection computes the same attention; with
    none enabled, attention raises PyTorch's "No viable backend" error."""
    if not isinstance(backends, (list, SDPBackend)):
        raise AssertionError(
            "Backend must be an instance of SDPBackend or a list of SDPBackend instances, got "
            f"{type(backends).__name__}"
        )
    if isinstance(backends, SDPBackend):
        backends = [backends]
    backends = list(dict.fromkeys(backends))
    previous = _current(with_priority=set_priority)
    saved_priority = list(_priority)
    try:
        _select(backends, set_priority)
        yield {}
    finally:
        _select(previous, False)
        _priority[:] = saved_priority


_IMPLS: dict[str, Callable] = {}


def register_flash_attention_impl(impl: str, *, register_fn: Callable) -> None:
    """Record a flash-attention implementation by name (PyTorch's registry for FA3/FA4 kernels).
    It can be listed but not activated: see ``activate_flash_attention_impl``."""
    _IMPLS[impl] = register_fn


def activate_flash_attention_impl(impl: str) -> None:
    """PyTorch installs a registered flash-attention kernel into its dispatcher; tracegrad's
    attention is compiled by XLA, which chooses its own kernel, so there is nothing to install:
    an unknown name raises PyTorch's ``ValueError``, a registered one ``NotImplementedError``."""
    if impl not in _IMPLS:
        raise ValueError(
            f"Unknown flash attention impl '{impl}'. Available implementations: "
            f"{list_flash_attention_impls()}"
        )
    raise NotImplementedError(
        f"activate_flash_attention_impl({impl!r}): tracegrad does not run kernels registered "
        "into PyTorch's dispatcher; XLA chooses the attention kernel for the device. Leave the "
        "default implementation (do not activate one)."
    )


def list_flash_attention_impls() -> list[str]:
    """The names of the registered flash-attention implementations (none built in)."""
    return sorted(_IMPLS)


def current_flash_attention_impl() -> str | None:
    """The activated flash-attention implementation: always None (the default) in tracegrad."""
    return None


def restore_flash_attention_impl() -> None:
    """Restore the default implementation; as in PyTorch, logs a warning since none was activated."""
    _logger.warning("Trying to restore default FA2 impl when no custom impl was activated")
