"""``torch.cuda`` on JAX: the GPUs JAX sees are the CUDA devices.

Without a GPU in JAX every function behaves as in PyTorch's CPU build: ``is_available()`` is
False, ``device_count()`` 0, the memory queries 0, seeding does nothing, and what needs a device
(``current_device``, ``synchronize``, ``get_device_name``, the RNG state) raises
``AssertionError``. Nothing here asks JAX about devices before a function is called.
"""

from __future__ import annotations

import time
import warnings

import jax

from .. import _device
from .. import random as _random
from .._device import device as Device

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
    "get_device_properties",
    "get_device_capability",
    "memory_summary",
    "ipc_collect",
    "device",
    "Stream",
    "Event",
    "StreamContext",
    "stream",
    "current_stream",
    "default_stream",
    "amp",
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


# ------------------------------------------------------------------------------- properties
class _DeviceProperties:
    """What ``get_device_properties`` reports: the fields PyTorch programs read."""

    def __init__(self, jax_device: jax.Device) -> None:
        self.name = jax_device.device_kind
        stats = jax_device.memory_stats() or {}
        self.total_memory = int(stats.get("bytes_limit", 0))
        self.major, self.minor = _capability(jax_device)
        self.multi_processor_count = int(getattr(jax_device, "core_count", 0) or 0)
        self.is_integrated = False
        self.is_multi_gpu_board = False

    def __repr__(self) -> str:
        return (
            f"_CudaDeviceProperties(name='{self.name}', major={self.major}, minor={self.minor}, "
            f"total_memory={self.total_memory // 2**20}MB, "
            f"multi_processor_count={self.multi_processor_count})"
        )


def _capability(jax_device: jax.Device) -> tuple[int, int]:
    text = str(getattr(jax_device, "compute_capability", "") or "")
    major, _, minor = text.partition(".")
    try:
        return int(major), int(minor or 0)
    except ValueError:  # a ROCm GPU reports its gfx name; PyTorch on HIP reports (9, x) too
        return 0, 0


def get_device_properties(device: Device | str | int | None = None) -> _DeviceProperties:
    """The GPU's name, total memory (JAX's ``bytes_limit``), compute capability and core count."""
    return _DeviceProperties(_jax_gpu(device))


def get_device_capability(device: Device | str | int | None = None) -> tuple[int, int]:
    """The GPU's CUDA compute capability as ``(major, minor)``."""
    return _capability(_jax_gpu(device))


def memory_summary(device=None, abbreviated: bool = False) -> str:
    """A table of JAX's allocator statistics for the GPU (JAX's keys, not PyTorch's: JAX reports
    bytes in use, peaks, limit and pool size rather than PyTorch's per-pool counters)."""
    stats = memory_stats(device)
    if not stats:
        raise KeyError("allocated_bytes.all.current")  # PyTorch's CPU build fails the same way
    width = max(len(k) for k in stats)
    lines = [f"JAX GPU memory summary, device {_index(device)}"]
    lines += [f"  {k:<{width}}  {v:>16,}" for k, v in sorted(stats.items())]
    return "\n".join(lines)


def ipc_collect() -> None:
    """Nothing to collect: JAX shares no GPU memory between processes. Needs a GPU, as in
    PyTorch."""
    _lazy_init()


class device:  # noqa: N801 - PyTorch's name
    """``with torch.cuda.device(i):`` makes GPU ``i`` the current one inside the block."""

    def __init__(self, device) -> None:
        self.idx = -1 if device is None else _index(device)
        self.prev_idx = -1

    def __enter__(self) -> device:
        if self.idx < 0:
            return self
        _lazy_init()
        self.prev_idx = _device.current_index("cuda")
        _device.set_current_index("cuda", self.idx)
        return self

    def __exit__(self, *exc) -> None:
        if self.prev_idx >= 0:
            _device.set_current_index("cuda", self.prev_idx)


# ---------------------------------------------------------------------------------- streams
# JAX runs each device's work in order on streams it manages itself; user streams cannot be
# expressed. A ``Stream`` here names the device's one queue: work "on" it runs in program order,
# which is a valid schedule of any PyTorch program that synchronizes correctly (streams change
# when work may overlap, never what it computes).
class Stream:
    """The GPU's work queue (JAX has one per device; see the note above). ``priority`` is
    accepted and has no effect."""

    def __init__(self, device=None, priority: int = 0, **kwargs) -> None:
        if kwargs:
            raise TypeError(f"Stream() got unexpected keyword arguments {sorted(kwargs)}")
        if not is_available():
            raise RuntimeError("torch.cuda.Stream requires CUDA support")
        self.device = Device("cuda", _index(device))
        self.priority = priority

    def synchronize(self) -> None:
        """Block until the device's queued work is done."""
        synchronize(self.device)

    def wait_stream(self, stream: Stream) -> None:
        """Nothing to wait for: every stream is the device's one queue."""

    def wait_event(self, event: Event) -> None:
        """Nothing to wait for: every stream is the device's one queue."""

    def record_event(self, event: Event | None = None) -> Event:
        event = Event() if event is None else event
        event.record(self)
        return event

    def query(self) -> bool:
        self.synchronize()
        return True

    def __eq__(self, other) -> bool:
        return isinstance(other, Stream) and other.device == self.device

    def __hash__(self) -> int:
        return hash(("cuda-stream", self.device))


class Event:
    """A point in the device's queue. ``record`` blocks until the work queued so far is done and
    notes the time, so ``elapsed_time`` between two events measures the work between them (JAX
    exposes no device-side timers; the extra wait makes timed code run synchronously)."""

    def __init__(
        self, enable_timing: bool = False, blocking: bool = False, interprocess: bool = False
    ) -> None:
        if not is_available():
            raise RuntimeError("Tried to instantiate dummy base class Event")
        if interprocess:
            raise NotImplementedError(
                "cuda.Event(interprocess=True): JAX shares no events between processes"
            )
        self.enable_timing = enable_timing
        self._time: float | None = None

    def record(self, stream: Stream | None = None) -> None:
        device_ = stream.device if stream is not None else None
        synchronize(device_)
        self._time = time.perf_counter()

    def synchronize(self) -> None:
        """Nothing left to wait for: ``record`` already waited."""

    def wait(self, stream: Stream | None = None) -> None:
        """Nothing to wait for: every stream is the device's one queue."""

    def query(self) -> bool:
        return True

    def elapsed_time(self, end_event: Event) -> float:
        """Milliseconds between this event's ``record`` and ``end_event``'s."""
        if not (self.enable_timing and end_event.enable_timing):
            raise RuntimeError("Both events must be created with argument 'enable_timing=True'")
        if self._time is None or end_event._time is None:
            raise RuntimeError("Both events must be recorded before calculating elapsed time")
        return (end_event._time - self._time) * 1000.0


class StreamContext:
    """``with torch.cuda.stream(s):``: work inside runs on ``s`` (the device's one queue)."""

    def __init__(self, stream: Stream | None) -> None:
        self.stream = stream

    def __enter__(self) -> StreamContext:
        return self

    def __exit__(self, *exc) -> None:
        return None


def stream(stream: Stream | None) -> StreamContext:
    """Context manager that runs its body on ``stream`` (see ``Stream``)."""
    return StreamContext(stream)


def current_stream(device=None) -> Stream:
    """The device's queue."""
    _lazy_init()
    return Stream(device)


def default_stream(device=None) -> Stream:
    """The device's queue (the same one ``current_stream`` returns)."""
    _lazy_init()
    return Stream(device)


from . import amp  # noqa: E402 - the submodule refers back to nothing here
