"""``torch.accelerator`` on JAX: the accelerator is JAX's default backend when it is not the CPU
(``cuda`` on a GPU, ``tpu`` on a TPU). On a CPU-only JAX there is none, as in PyTorch's CPU
build: ``current_accelerator()`` is None and what needs a device raises ``RuntimeError``."""

from __future__ import annotations

from . import _device
from ._device import device as Device

__all__ = [
    "is_available",
    "current_accelerator",
    "device_count",
    "synchronize",
    "current_device_index",
    "set_device_index",
]


def _type() -> str:
    acc = _device.accelerator_type()
    if acc is None:
        raise RuntimeError(_device._NO_ACCELERATOR)
    return acc


def is_available() -> bool:
    """Whether JAX's default backend is an accelerator (a GPU or a TPU)."""
    return _device.accelerator_type() is not None


def current_accelerator(check_available: bool = False) -> Device | None:
    """The accelerator's device type, without an index (``device(type='cuda')``), or None on a
    CPU-only JAX. ``check_available`` is accepted; JAX's backends are known when they start, so
    it changes nothing."""
    acc = _device.accelerator_type()
    return None if acc is None else Device(acc)


def device_count() -> int:
    """The number of accelerator devices (0 on a CPU-only JAX)."""
    acc = _device.accelerator_type()
    return 0 if acc is None else len(_device.jax_devices(acc))


def _index(device) -> int:
    acc = _type()
    if device is None:
        return _device.current_index(acc)
    if isinstance(device, int) and not isinstance(device, bool):
        return device
    d = Device(device)
    if d.type != acc:
        raise ValueError(f"{d.type} doesn't match the current accelerator {acc}.")
    return d.index if d.index is not None else _device.current_index(acc)


def current_device_index() -> int:
    """The index of the current accelerator device."""
    return _device.current_index(_type())


def set_device_index(device: Device | str | int | None, /) -> None:
    """Make ``device`` the current accelerator device (a negative index does nothing)."""
    index = _index(device)
    if index >= 0:
        _device.set_current_index(_type(), index)


def synchronize(device: Device | str | int | None = None, /) -> None:
    """Block until all work queued on the accelerator (the current device, or ``device``) has
    finished."""
    acc = _type()
    _device.block_on([_device._jax_device(acc, _index(device))])
