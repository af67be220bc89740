"""``torch.cuda`` on JAX: the GPUs JAX sees are the CUDA devices.

Without a GPU in JAX every function behaves as in PyTorch's CPU build: ``is_available()`` is
False, ``device_count()`` 0, the memory queries 0, seeding does nothing, and what needs a device
(``current_device``, ``synchronize``, ``get_device_name``, the RNG state) raises
``AssertionError``. Nothing here asks JAX about devices before a function is called.
"""

from __future__ import annotations

import warnings

import jax

from . import _device
from . import random as _random
from ._device import device as Device

__all__ = [
    "is_available",
    "is_initialized",
    "device_count",
    "current_device",
    "set_device",
    "get_device_name",
    "synchronize",
    "manual_seed",
    "manual_seed_all",
    "seed",
    "seed_all",
    "initial_seed",
    "get_rng_state",
    "set_rng_state",
    "empty_cache",
    "memory_stats",
    "memory_allocated",
    "max_memory_allocated",
    "memory_reserved",
    "max_memory_reserved",
    "reset_peak_memory_stats",
    "is_bf16_supported",
]


def _gpus() -> list:
    return _device.jax_devices("cuda")


def _lazy_init() -> list:
    """JAX's GPUs; PyTorch's CPU-build error (with what to do) when there are none."""
    gpus = _gpus()
    if not gpus:
        Device("cuda").jax_device()  # raises AssertionError: Torch not compiled with CUDA enabled
    return gpus


def _index(device, optional: bool = True) -> int:
    """The GPU index named by ``device`` (an int, a string, a ``device`` or None: the current)."""
    if device is None:
        return _device.current_index("cuda")
    if isinstance(device, int) and not isinstance(device, bool):
        return device
    d = Device(device)
    if d.type != "cuda":
        raise ValueError(f"Expected a cuda device, but got: {d}")
    return d.index if d.index is not None else _device.current_index("cuda")


def _jax_gpu(device) -> jax.Device:
    _lazy_init()
    return _device._jax_device("cuda", _index(device))


def is_available() -> bool:
    """Whether JAX has a GPU (a CUDA or ROCm build of JAX on a machine with one)."""
    return bool(_gpus())


def is_initialized() -> bool:
    """Whether JAX has started its backends and one of them is a GPU."""
    return _device.backends_started() and is_available()


def device_count() -> int:
    """The number of GPUs JAX sees (0 without one)."""
    return len(_gpus())


def current_device() -> int:
    """The index of the current GPU (what ``'cuda'`` without an index means)."""
    _lazy_init()
    return _device.current_index("cuda")


def set_device(device: Device | str | int | None) -> None:
    """Make ``device`` the current GPU; a negative index does nothing, as in PyTorch."""
    index = _index(device)
    if index < 0:
        return
    _lazy_init()
    _device.set_current_index("cuda", index)


def get_device_name(device: Device | str | int | None = None) -> str:
    """The GPU's name as JAX reports it (``'NVIDIA H100 80GB HBM3'``)."""
    return _jax_gpu(device).device_kind


def synchronize(device: Device | str | int | None = None) -> None:
    """Block until all work queued on the GPU (the current one, or ``device``) has finished."""
    _device.block_on([_jax_gpu(device)])


# tracegrad has one random generator for every device (``tracegrad.manual_seed``): seeding the
# GPU's seeds it when JAX has a GPU, and does nothing without one, as PyTorch's CPU build.
def manual_seed(seed: int) -> None:
    """Seed the random generator the GPU draws from (tracegrad's one generator) when JAX has a
    GPU; without one nothing draws from it and this does nothing, as in PyTorch."""
    if is_available():
        _random.manual_seed(seed)


def manual_seed_all(seed: int) -> None:
    """``manual_seed`` for every GPU: they share tracegrad's one generator."""
    manual_seed(seed)


def seed() -> None:
    """Seed the GPU's generator from a non-deterministic source (nothing without a GPU)."""
    if is_available():
        _random.seed()


def seed_all() -> None:
    """``seed`` for every GPU: they share tracegrad's one generator."""
    seed()


def initial_seed() -> int:
    """The seed the GPU's generator (tracegrad's one generator) was last seeded with."""
    _lazy_init()
    return _random.initial_seed()


def get_rng_state(device: int | str | Device = "cuda"):
    """The GPU's random state: tracegrad's generator key (see ``tracegrad.get_rng_state``)."""
    _jax_gpu(device)
    return _random.get_rng_state()


def set_rng_state(new_state, device: int | str | Device = "cuda") -> None:
    """Restore a state from ``get_rng_state``."""
    _jax_gpu(device)
    _random.set_rng_state(new_state)


def empty_cache() -> None:
    """Nothing to do: JAX's GPU allocator keeps its pool for the process (start Python with
    ``XLA_PYTHON_CLIENT_ALLOCATOR=platform`` to return memory on every free instead)."""


# ------------------------------------------------------------------------------------- memory
def memory_stats(device=None) -> dict:
    """JAX's allocator statistics for the GPU (``bytes_in_use``, ``peak_bytes_in_use``, ...);
    empty without a GPU, as PyTorch's CPU build."""
    if not is_available():
        return {}
    return dict(_jax_gpu(device).memory_stats() or {})


# After reset_peak_memory_stats: the peak JAX reported at the reset, and what was in use then.
_reset_at: dict = {}


def _peak(device, key: str, current_key: str) -> int:
    stats = memory_stats(device)
    peak = int(stats.get(key, 0))
    reset = _reset_at.get((_index(device), key))
    if reset is None:
        return peak
    peak_then, in_use_then = reset
    if peak > peak_then:  # a new peak since the reset: exactly the peak since the reset
        return peak
    warnings.warn(
        "JAX's allocator cannot reset its peak statistics: no allocation since "
        "reset_peak_memory_stats() passed the earlier peak, so this returns a lower bound (the "
        "larger of the bytes in use at the reset and now)",
        UserWarning,
        stacklevel=3,
    )
    return max(in_use_then, int(stats.get(current_key, 0)))


def _reserved_keys(stats: dict) -> tuple[str, str]:
    return (
        ("pool_bytes", "peak_pool_bytes")
        if "pool_bytes" in stats
        else (
            "bytes_reserved",
            "peak_bytes_reserved",
        )
    )


def memory_allocated(device=None) -> int:
    """Bytes of GPU memory held by arrays now (JAX's ``bytes_in_use``); 0 without a GPU."""
    return int(memory_stats(device).get("bytes_in_use", 0))


def max_memory_allocated(device=None) -> int:
    """The peak of ``memory_allocated`` (JAX's ``peak_bytes_in_use``), since the last
    ``reset_peak_memory_stats`` when a new peak was reached after it; 0 without a GPU."""
    if not is_available():
        return 0
    return _peak(device, "peak_bytes_in_use", "bytes_in_use")


def memory_reserved(device=None) -> int:
    """Bytes JAX's allocator holds from the GPU (its pool); 0 without a GPU."""
    stats = memory_stats(device)
    return int(stats.get(_reserved_keys(stats)[0], 0))


def max_memory_reserved(device=None) -> int:
    """The peak of ``memory_reserved``; 0 without a GPU."""
    if not is_available():
        return 0
    current, peak = _reserved_keys(memory_stats(device))
    return _peak(device, peak, current)


def reset_peak_memory_stats(device=None) -> None:
    """Start the peaks of ``max_memory_allocated``/``max_memory_reserved`` afresh. JAX cannot
    reset its own: a peak passed after this call is exact; until then those functions warn and
    return a lower bound. Without a GPU there is nothing to reset."""
    stats = memory_stats(device)
    if not stats:
        return
    index = _index(device)
    current, peak = _reserved_keys(stats)
    for key, in_use in (("peak_bytes_in_use", "bytes_in_use"), (peak, current)):
        _reset_at[(index, key)] = (int(stats.get(key, 0)), int(stats.get(in_use, 0)))


def is_bf16_supported(including_emulation: bool = True) -> bool:
    """Whether the GPU computes in bfloat16: natively from compute capability 8.0, and on older
    GPUs through XLA's emulation when ``including_emulation``; False without a GPU."""
    if not is_available():
        return False
    capability = getattr(_jax_gpu(None), "compute_capability", None)
    try:
        native = float(capability) >= 8.0
    except (TypeError, ValueError):  # a ROCm GPU: bfloat16 is supported, as PyTorch on HIP
        native = True
    return native or including_emulation
