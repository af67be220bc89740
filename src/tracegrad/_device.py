"""Devices: PyTorch's ``device`` objects mapped onto JAX devices.

``cuda`` names JAX's GPUs, ``tpu`` its TPUs, ``cpu`` its CPU devices (``cpu:1`` is the second one,
as when ``XLA_FLAGS=--xla_force_host_platform_device_count=N`` simulates N of them), and ``xla``
JAX's default backend. A device without an index is the current one of its kind
(``tracegrad.cuda.set_device``). Nothing here asks JAX about devices until a device is used, so
``import tracegrad`` starts no backend.
"""

from __future__ import annotations

import re
import threading

import jax

try:  # whether JAX has started its backends (asking it for devices would start them)
    from jax._src.xla_bridge import backends_are_initialized as _backends_are_initialized
except ImportError:  # pragma: no cover - a JAX without it
    _backends_are_initialized = None

__all__ = ["device", "set_default_device", "get_default_device"]

# PyTorch's device types (its parser's list), plus ``tpu`` for JAX's TPUs.
_TYPES = (
    "cpu", "cuda", "ipu", "xpu", "mkldnn", "opengl", "opencl", "ideep", "hip", "ve", "fpga",
    "maia", "xla", "lazy", "vulkan", "mps", "meta", "hpu", "mtia", "privateuseone", "tpu",
)  # fmt: skip
# The JAX platforms behind each type JAX can place on (``xla``: the default backend).
_PLATFORMS = {"cpu": ("cpu",), "cuda": ("gpu", "cuda", "rocm"), "tpu": ("tpu",), "xla": None}
_DEVICE_STRING = re.compile(r"([a-zA-Z_]+)(?::(0|[1-9][0-9]*))?")
_NO_ACCELERATOR = "Cannot access accelerator device when none is available."


class device:
    """A device, as ``torch.device``: ``device('cpu')``, ``device('cuda', 0)``, ``device('cuda:1')``.

    Parsing, ``repr``, ``str``, equality and errors are PyTorch's; ``'tpu'`` names a JAX TPU and
    ``'xla'`` JAX's default backend. ``device(0)`` is index 0 of the current accelerator. Used as a
    context manager (``with device('cuda'):``) it is the factories' default device inside the block.
    """

    __slots__ = ("type", "index")

    def __init__(self, type: str | device, index: int | None = None):
        if isinstance(type, device):
            if index is not None:
                raise TypeError("device(): argument 'type' (position 1) must be str, not device")
            object.__setattr__(self, "type", type.type)
            object.__setattr__(self, "index", type.index)
            return
        if isinstance(type, int) and not isinstance(type, bool):  # an accelerator index
            acc = accelerator_type()
            if acc is None:
                raise RuntimeError(_NO_ACCELERATOR)
            type, index = acc, type
        if not isinstance(type, str):
            raise TypeError(
                "device() received an invalid combination of arguments - got "
                f"({_typename(type)}), but expected one of:\n * (device device)\n"
                " * (str type, int index = -1)"
            )
        if index is not None and (not isinstance(index, int) or isinstance(index, bool)):
            raise TypeError(
                f"device(): argument 'index' (position 2) must be int, not {_typename(index)}"
            )
        if not type:
            raise RuntimeError("Device string must not be empty")
        match = _DEVICE_STRING.fullmatch(type)
        if match is None:
            raise RuntimeError(f"Invalid device string: '{type}'")
        kind, idx = match.groups()
        if kind not in _TYPES:
            raise RuntimeError(
                f"Expected one of {', '.join(_TYPES)} device type at start of device string: {kind}"
            )
        if idx is not None:
            if index is not None:
                raise RuntimeError(
                    "type (string) must not include an index because index was passed "
                    f"explicitly: {type}"
                )
            index = int(idx)
        if index is not None and index < 0:
            raise RuntimeError("Device index must not be negative")
        object.__setattr__(self, "type", kind)
        object.__setattr__(self, "index", index)

    def __setattr__(self, name, value):
        raise AttributeError(f"attribute '{name}' of 'device' objects is not writable")

    def __repr__(self) -> str:
        idx = "" if self.index is None else f", index={self.index}"
        return f"device(type='{self.type}'{idx})"

    def __str__(self) -> str:
        return self.type if self.index is None else f"{self.type}:{self.index}"

    def __eq__(self, other) -> bool:
        if isinstance(other, str):  # a tracegrad convenience: x.device == 'cpu'
            try:
                other = device(other)
            except RuntimeError:
                return False
        return isinstance(other, device) and (self.type, self.index) == (other.type, other.index)

    def __hash__(self) -> int:
        return hash((self.type, self.index))

    def __reduce__(self):
        return (device, (self.type, self.index))

    def __enter__(self) -> device:
        stack = _default_stack()
        stack.append(getattr(_state, "default", None))
        _state.default = self
        return self

    def __exit__(self, *exc) -> None:
        _state.default = _default_stack().pop()

    def jax_device(self) -> jax.Device:
        """The JAX device this names (without an index: the current one of its kind).

        Raises as PyTorch's CPU build does for a type JAX has no device of: ``AssertionError``
        for ``cuda`` and ``xpu``, ``NotImplementedError`` for types JAX cannot place on (``mps``,
        ``meta``, ...), ``RuntimeError`` for an index past the devices JAX sees."""
        index = self.index
        if index is None:
            index = _current.get(self.type, 0)
        found = _CACHE.get((self.type, index))
        if found is None:
            found = _CACHE[(self.type, index)] = _jax_device(self.type, index)
        return found


def _typename(x) -> str:
    return "NoneType" if x is None else type(x).__name__


# (type, index) -> jax.Device. JAX's device list is fixed once its backends start.
_CACHE: dict = {}
# The current index of each type without an explicit one (tracegrad.cuda.set_device).
_current: dict = {}


def _jax_device(type: str, index: int) -> jax.Device:
    if type not in _PLATFORMS:
        if type == "xpu":
            raise AssertionError(
                "Torch not compiled with XPU enabled: tracegrad runs on JAX, which has no XPU "
                "backend; use device='cpu', 'cuda' or 'tpu'"
            )
        raise NotImplementedError(
            f"tracegrad cannot place tensors on '{type}' devices: JAX has no such backend "
            f"(it has {sorted({d.platform for d in jax.devices()})}); use device='cpu', 'cuda' "
            "(a GPU), 'tpu', or 'xla' (JAX's default backend)"
        )
    devices = jax_devices(type)
    if not devices:
        if type == "cuda":
            raise AssertionError(
                "Torch not compiled with CUDA enabled: tracegrad found no GPU in JAX (it sees "
                f"{jax.devices()}); install JAX with CUDA support (pip install -U "
                '"jax[cuda12]") on a machine with an NVIDIA GPU, or keep tensors on '
                "device='cpu' (torch.cuda.is_available() tells which)"
            )
        raise RuntimeError(
            f"no {type} device is visible to JAX (it sees {jax.devices()}); install a JAX build "
            f"for that accelerator or use device='cpu'"
        )
    if index >= len(devices):
        hint = (
            "; set XLA_FLAGS=--xla_force_host_platform_device_count=N before JAX starts to "
            "simulate N CPU devices"
            if type == "cpu"
            else ""
        )
        raise RuntimeError(
            f"{'CUDA error: invalid device ordinal: ' if type == 'cuda' else ''}device index "
            f"{index} is out of range: JAX sees {len(devices)} {type} device(s){hint}"
        )
    return devices[index]


def jax_devices(type: str) -> list:
    """JAX's devices of a tracegrad device type (``xla``: the default backend's); [] if none."""
    platforms = _PLATFORMS.get(type, ())
    if platforms is None:
        return jax.devices()
    for p in platforms:
        try:
            return jax.devices(p)
        except RuntimeError:
            continue
    return []


def _type_of_platform(platform: str) -> str:
    return {"gpu": "cuda", "rocm": "cuda", "cuda": "cuda", "tpu": "tpu", "cpu": "cpu"}.get(
        platform, "xla"
    )


_INDEX: dict = {}  # jax.Device -> its tracegrad device


def device_of_jax(d: jax.Device) -> device:
    """The tracegrad device naming JAX device ``d``: ``cpu`` for the first CPU device (as every
    PyTorch CPU tensor reports), ``cpu:k`` for the others, ``cuda:k``/``tpu:k`` by position."""
    found = _INDEX.get(d)
    if found is None:
        type = _type_of_platform(d.platform)
        same = jax_devices(type) if type != "xla" else jax.devices(d.platform)
        index = same.index(d) if d in same else d.id
        found = _INDEX[d] = device(type, None if type == "cpu" and index == 0 else index)
    return found


def device_of(array) -> device:
    """The tracegrad device holding a JAX array (the first of a sharded array's devices)."""
    try:
        sharding = array.sharding
    except Exception:  # tracers inside jit and shape-only stand-ins have no devices
        return device(_type_of_platform(jax.default_backend()))
    d = getattr(sharding, "_device", None)
    if d is None:
        d = (
            next(iter(array.devices()))
            if not hasattr(sharding, "_device_assignment")
            else (sharding._device_assignment[0])
        )
    return device_of_jax(d)


def backends_started() -> bool:
    """Whether JAX has started its backends (read without starting them)."""
    return True if _backends_are_initialized is None else bool(_backends_are_initialized())


def block_on(devices) -> None:
    """Wait until every live array on ``devices`` is computed: all work queued on them is done
    (what ``torch.cuda.synchronize`` promises)."""
    wanted = set(devices)
    pending = [
        a
        for a in jax.live_arrays()
        if not a.is_deleted() and not wanted.isdisjoint(a.sharding.device_set)
    ]
    jax.block_until_ready(pending)
    jax.effects_barrier()


def accelerator_type() -> str | None:
    """The device type of JAX's default backend when it is an accelerator (``cuda``, ``tpu``);
    None on a CPU-only JAX, as ``torch.accelerator.current_accelerator()`` there."""
    backend = jax.default_backend()
    return None if backend == "cpu" else _type_of_platform(backend)


def current_index(type: str) -> int:
    """The index a device of ``type`` without one means (0 until ``set_current_index``)."""
    return _current.get(type, 0)


def set_current_index(type: str, index: int) -> None:
    """Make ``index`` the current device of ``type`` (checked against JAX's devices)."""
    _jax_device(type, index)
    _current[type] = index


# ------------------------------------------------------------------------- the default device
_state = threading.local()  # per thread, as PyTorch's default device


def _default_stack() -> list:
    stack = getattr(_state, "stack", None)
    if stack is None:
        stack = _state.stack = []
    return stack


def default_device() -> device | None:
    """The device set by ``set_default_device`` (or a ``with device(...)`` block), else None."""
    return getattr(_state, "default", None)


def set_default_device(device: device | str | int | None) -> None:
    """Make the factories (``zeros``, ``tensor``, ``randn``, ...) place new tensors on ``device``
    when they are given none, in this thread, as ``torch.set_default_device``; None undoes it."""
    _state.default = None if device is None else _as_device(device)


def _as_device(d) -> device:
    return d if isinstance(d, device) else device(d)


def get_default_device() -> device:
    """The device the factories place new tensors on: the one ``set_default_device`` set (with its
    index: ``cuda:0`` for ``'cuda'``), else where JAX puts an array it is not told where to put
    (``cpu`` on a CPU-only JAX, as PyTorch's default)."""
    d = default_device()
    if d is not None:
        return d if d.index is not None else device_of_jax(d.jax_device())
    d = jax.config.jax_default_device  # a jax.Device, a platform name or None
    if not isinstance(d, jax.Device):
        d = jax.devices(d)[0] if isinstance(d, str) else jax.devices()[0]
    return device_of_jax(d)
