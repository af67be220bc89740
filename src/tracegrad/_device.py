"""Devices: PyTorch's ``device`` objects mapped onto JAX devices."""

from __future__ import annotations

import functools

import jax

__all__ = ["device"]

# PyTorch names a GPU "cuda"; JAX calls its platforms "gpu"/"cuda"/"rocm"/"tpu".
_PLATFORMS = {"cpu": ("cpu",), "cuda": ("gpu", "cuda", "rocm"), "tpu": ("tpu",), "xla": None}


class device:
    """A device, as ``torch.device``: ``device('cpu')``, ``device('cuda', 0)``, ``device('tpu:1')``.

    ``'xla'`` means JAX's default backend (the accelerator when there is one).
    """

    __slots__ = ("type", "index")

    def __init__(self, type: str | device, index: int | None = None):
        if isinstance(type, device):
            self.type, self.index = type.type, type.index
            return
        if isinstance(type, int):
            type, index = "cuda", type
        if ":" in type:
            type, _, idx = type.partition(":")
            index = int(idx)
        if type not in _PLATFORMS:
            raise RuntimeError(
                f"Expected one of cpu, cuda, tpu, xla device type at start of device string: {type}"
            )
        self.type, self.index = type, index

    def __repr__(self) -> str:
        idx = "" if self.index is None else f", index={self.index}"
        return f"device(type='{self.type}'{idx})"

    def __str__(self) -> str:
        return self.type if self.index is None else f"{self.type}:{self.index}"

    def __eq__(self, other) -> bool:
        if isinstance(other, str):
            other = device(other)
        return isinstance(other, device) and (self.type, self.index) == (other.type, other.index)

    def __hash__(self) -> int:
        return hash((self.type, self.index))

    def jax_device(self) -> jax.Device:
        """The JAX device this names; raises RuntimeError when JAX has none of that kind."""
        return _jax_device(self.type, self.index or 0)


@functools.cache
def _jax_device(type: str, index: int) -> jax.Device:
    platforms = _PLATFORMS[type]
    devices = jax.devices() if platforms is None else _devices_of(platforms)
    if not devices:
        raise RuntimeError(
            f"no {type} device is visible to JAX (it sees {jax.devices()}); "
            f"install a JAX build for that accelerator or use device='cpu'"
        )
    if index >= len(devices):
        raise RuntimeError(
            f"device index {index} out of range: JAX sees {len(devices)} {type} devices"
        )
    return devices[index]


def _devices_of(platforms) -> list:
    for p in platforms:
        try:
            return jax.devices(p)
        except RuntimeError:
            continue
    return []


def device_of(array) -> device:
    """The tracegrad device holding a JAX array."""
    try:
        d = next(iter(array.devices()))
    except Exception:  # tracers inside jit have no devices
        return device(_type_of_platform(jax.default_backend()))
    return device(_type_of_platform(d.platform), d.id if d.platform != "cpu" else None)


def _type_of_platform(platform: str) -> str:
    return {"gpu": "cuda", "rocm": "cuda", "cuda": "cuda", "tpu": "tpu"}.get(platform, "cpu")
