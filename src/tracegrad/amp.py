"""``torch.amp``: autocast (mixed precision by PyTorch's per-op policy) and gradient scaling.

``autocast(device_type, dtype)`` opens a per-thread region in which ops run under PyTorch's cast
policy for that device type (``_autocast.POLICIES``): matmuls, linear layers, convolutions and
attention in ``dtype`` (CPU: bfloat16 by default, CUDA: float16), losses, softmax-like and other
precision-sensitive ops in float32, ``cat``/``stack`` in the widest input type, everything else in
its inputs' types. Only float16/bfloat16/float32 tensors are cast. The casts happen in the op
registry's dispatch and at the entry of composite public functions, as recorded ``to_copy`` ops, so
float32 parameters get float32 gradients. It takes effect for the device type of JAX's default
backend; as in PyTorch's CPU build, ``autocast('cuda')`` without a GPU warns and disables itself.
The region is part of a compiled step's cache key (a change retraces). See docs/amp.md.

``GradScaler`` is PyTorch's dynamic loss scaling, step for step: ``scale(loss)`` multiplies by the
scale, ``unscale_``/``step`` divide the gradients by it and skip the step when any gradient is
inf or NaN, ``update`` backs the scale off after a skipped step and grows it after
``growth_interval`` clean ones.
"""

from __future__ import annotations

import functools
import math
import warnings
from collections.abc import Callable, Iterable
from typing import Any

from . import _autocast, _device, _dtype
from ._grad_mode import no_grad
from .ops.shape import stack as _stack
from .tensor import Tensor

__all__ = [
    "GradScaler",
    "autocast",
    "custom_bwd",
    "custom_fwd",
    "get_autocast_dtype",
    "is_autocast_available",
    "is_autocast_enabled",
]

_SUPPORTED = {
    "cpu": ("bfloat16", "float16"),
    "cuda": ("float16", "bfloat16"),
    "xla": ("bfloat16", "float16"),
    "tpu": ("bfloat16", "float16"),
}
_AVAILABLE = frozenset(("cpu", "cuda", "xla", "tpu", "xpu", "mps", "hpu", "ipu", "mtia", "maia"))


def warn_deprecated_spelling(device: str, name: str) -> None:
    """PyTorch's FutureWarning for ``torch.<device>.amp.<name>`` (``torch.cpu.amp``,
    ``torch.cuda.amp``), raised at the user's call."""
    warnings.warn(
        f"`torch.{device}.amp.{name}(args...)` is deprecated. Please use "
        f"`torch.amp.{name}('{device}', args...)` instead.",
        FutureWarning,
        stacklevel=4,
    )


def is_autocast_available(device_type: str) -> bool:
    """Whether ``autocast(device_type)`` is a known autocast device type (PyTorch's answer; it
    takes effect only for the device type of JAX's default backend)."""
    return device_type in _AVAILABLE


def is_autocast_enabled(device_type: str = "cuda") -> bool:
    """Whether an enabled autocast region for ``device_type`` is open in this thread."""
    return bool(_autocast.region(device_type)[0])


def get_autocast_dtype(device_type: str):
    """The dtype autocast for ``device_type`` casts to in this thread (its default outside a
    region: bfloat16 for CPU and TPU, float16 for CUDA)."""
    return _autocast.region(device_type)[1]


class autocast:  # noqa: N801 - PyTorch's name
    """``torch.autocast(device_type, dtype=None, enabled=True, cache_enabled=None)``.

    Inside an enabled region, ops run under PyTorch's per-op policy for ``device_type`` (see
    docs/amp.md): matmuls and convolutions in ``dtype``, losses and other precision-sensitive ops
    in float32. It takes effect for the device type of JAX's default backend; a region for another
    type is recorded (``is_autocast_enabled``) but changes no op. ``'cuda'`` without a GPU warns
    and disables itself, as PyTorch's CPU build does. The state is per thread; regions nest, and
    ``enabled=False`` turns autocast off inside an enabled one. Usable as a decorator.
    """

    def __init__(
        self,
        device_type: str,
        dtype: Any = None,
        enabled: bool = True,
        cache_enabled: bool | None = None,
    ) -> None:
        if not isinstance(device_type, str):
            raise ValueError(
                f"Expected `device_type` of type `str`, got: `{type(device_type).__name__}`"
            )
        if not is_autocast_available(device_type):
            raise RuntimeError(
                f"User specified an unsupported autocast device_type '{device_type}'"
            )
        self.device = device_type
        self.fast_dtype = _autocast.DEFAULT_DTYPES.get(device_type, _dtype.bfloat16)
        if dtype is not None:
            self.fast_dtype = _dtype.as_dtype(dtype)
        self._cache_enabled = True if cache_enabled is None else bool(cache_enabled)
        self._enabled = bool(enabled)
        if self._enabled and device_type == "cuda" and not _device.jax_devices("cuda"):
            warnings.warn(
                "CUDA is not available or torch_xla is imported. Disabling autocast.",
                UserWarning,
                stacklevel=2,
            )
            self._enabled = False
        supported = _SUPPORTED.get(device_type)
        if self._enabled and supported and self.fast_dtype.name not in supported:
            names = ", ".join(f"torch.{n}" for n in supported)
            label = {"cpu": "CPU", "cuda": "CUDA", "xla": "XLA", "tpu": "TPU"}[device_type]
            warnings.warn(
                f"In {label} autocast, but the target dtype is not supported. Disabling "
                f"autocast.\n{label} Autocast only supports dtypes of {names} currently.",
                UserWarning,
                stacklevel=2,
            )
            self._enabled = False
        self._saved: list = []

    def __enter__(self) -> autocast:
        state = (self._enabled, self.fast_dtype, self._cache_enabled)
        self._saved.append(_autocast.set_region(self.device, state))
        return self

    def __exit__(self, *exc) -> None:
        _autocast.set_region(self.device, self._saved.pop())
        return None

    def __call__(self, fn: Callable) -> Callable:
        @functools.wraps(fn)
        def run(*args, **kwargs):
            with self:
                return fn(*args, **kwargs)

        return run


def custom_fwd(fwd: Callable | None = None, *, device_type: str, cast_inputs: Any = None):
    """Decorator for a custom ``Function.forward``. Inside an enabled autocast region for
    ``device_type``, with ``cast_inputs`` given, the forward's floating tensor arguments are cast
    to ``cast_inputs`` and it runs with autocast off; otherwise it runs in the region's state.
    Either way ``custom_bwd`` runs the backward in the same state."""
    if fwd is None:
        return functools.partial(custom_fwd, device_type=device_type, cast_inputs=cast_inputs)
    cast_dtype = None if cast_inputs is None else _dtype.as_dtype(cast_inputs)

    @functools.wraps(fwd)
    def forward(*args, **kwargs):
        ctx = args[0] if args else None
        state = _autocast.region(device_type)
        if ctx is not None:
            ctx._fwd_used_autocast = bool(state[0])
            ctx._dtype = state[1]
        if cast_dtype is None or not state[0]:
            return fwd(*args, **kwargs)
        args = tuple(_cast_input(a, cast_dtype) for a in args)
        kwargs = {k: _cast_input(v, cast_dtype) for k, v in kwargs.items()}
        with autocast(device_type, enabled=False):
            return fwd(*args, **kwargs)

    return forward


def _cast_input(x, dtype):
    if isinstance(x, Tensor) and x.is_floating_point() and x.dtype != _dtype.float64:
        return x.to(dtype)
    if isinstance(x, (list, tuple)):
        return type(x)(_cast_input(v, dtype) for v in x)
    return x


def custom_bwd(bwd: Callable | None = None, *, device_type: str):
    """Decorator for a custom ``Function.backward``: runs it in the autocast state its forward
    ran in (as PyTorch does)."""
    if bwd is None:
        return functools.partial(custom_bwd, device_type=device_type)

    @functools.wraps(bwd)
    def backward(ctx, *args, **kwargs):
        enabled = getattr(ctx, "_fwd_used_autocast", False)
        dtype = getattr(ctx, "_dtype", None)
        with autocast(device_type, enabled=enabled, dtype=dtype):
            return bwd(ctx, *args, **kwargs)

    return backward


_READY, _UNSCALED, _STEPPED = "ready", "unscaled", "stepped"


class GradScaler:
    """``torch.amp.GradScaler``: dynamic loss scaling for gradients in reduced precision.

    ``device='cuda'`` on a machine without a GPU warns and disables the scaler (every method then
    passes through: ``scale`` returns its input, ``step`` calls ``optimizer.step()``), as PyTorch's
    CPU build does.
    """

    def __init__(
        self,
        device: str = "cuda",
        init_scale: float = 2.0**16,
        growth_factor: float = 2.0,
        backoff_factor: float = 0.5,
        growth_interval: int = 2000,
        enabled: bool = True,
    ) -> None:
        self._device = device
        self._enabled = bool(enabled)
        if self._enabled and device == "cuda" and not _device.jax_devices("cuda"):
            warnings.warn(
                "torch.cuda.amp.GradScaler is enabled, but CUDA is not available.  Disabling.",
                UserWarning,
                stacklevel=2,
            )
            self._enabled = False
        if self._enabled:
            if growth_factor <= 1.0:
                raise AssertionError("The growth factor must be > 1.0.")
            if backoff_factor >= 1.0:
                raise AssertionError("The backoff factor must be < 1.0.")
        self._init_scale = float(init_scale)
        self._scale: float | None = None
        self._growth_factor = float(growth_factor)
        self._backoff_factor = float(backoff_factor)
        self._growth_interval = int(growth_interval)
        self._init_growth_tracker = 0
        self._growth_tracker: int | None = None
        self._per_optimizer: dict[int, dict] = {}

    # ------------------------------------------------------------------------------ scaling
    def _check_scale(self, funcname: str) -> float:
        if self._scale is None:
            raise AssertionError(
                f"Attempted {funcname} but _scale is None.  This may indicate your script did "
                "not use scaler.scale(loss or outputs) earlier in the iteration."
            )
        return self._scale

    def scale(self, outputs):
        """``outputs`` (a tensor, or nested lists/tuples of them) multiplied by the scale."""
        if not self._enabled:
            return outputs
        if self._scale is None:
            self._scale = self._init_scale
            self._growth_tracker = self._init_growth_tracker

        def apply(value):
            if isinstance(value, Tensor):
                return value * self._scale
            if isinstance(value, Iterable) and not isinstance(value, (str, bytes)):
                scaled = [apply(v) for v in value]
                return type(value)(scaled) if isinstance(value, (list, tuple)) else scaled
            raise ValueError("outputs must be a Tensor or an iterable of Tensors")

        return apply(outputs)

    def _state(self, optimizer) -> dict:
        return self._per_optimizer.setdefault(id(optimizer), {"stage": _READY, "found_inf": None})

    def unscale_(self, optimizer) -> None:
        """Divide ``optimizer``'s gradients by the scale in place, and note whether any is inf or
        NaN (then ``step`` skips). At most once per optimizer between ``update`` calls."""
        if not self._enabled:
            return
        scale = self._check_scale("unscale_")
        state = self._state(optimizer)
        if state["stage"] == _UNSCALED:
            raise RuntimeError(
                "unscale_() has already been called on this optimizer since the last update()."
            )
        if state["stage"] == _STEPPED:
            raise RuntimeError("unscale_() is being called after step().")
        inv_scale = float(1.0 / scale)
        grads = [p.grad for g in optimizer.param_groups for p in g["params"] if p.grad is not None]
        if any(g.dtype == _dtype.float16 for g in grads):
            raise ValueError("Attempting to unscale FP16 gradients.")
        with no_grad():
            finite = []
            for g in grads:
                g.mul_(inv_scale)
                finite.append(g.isfinite().all())
            # One read of one flag: a lazy step realizes its gradients once, not per parameter.
            found_inf = bool(len(finite) and not bool(_stack(finite).all()))
        state["found_inf"] = found_inf
        state["stage"] = _UNSCALED

    def step(self, optimizer, *args, **kwargs):
        """``optimizer.step(*args, **kwargs)`` on unscaled gradients, skipped (returning None)
        when any gradient was inf or NaN."""
        if not self._enabled:
            return optimizer.step(*args, **kwargs)
        if "closure" in kwargs:
            raise RuntimeError("Closure use is not currently supported if GradScaler is enabled.")
        self._check_scale("step")
        state = self._state(optimizer)
        if state["stage"] == _STEPPED:
            raise RuntimeError("step() has already been called since the last update().")
        if state["stage"] == _READY:
            self.unscale_(optimizer)
        if state["found_inf"] is None:
            raise AssertionError("No inf checks were recorded for this optimizer.")
        result = None if state["found_inf"] else optimizer.step(*args, **kwargs)
        state["stage"] = _STEPPED
        return result

    def update(self, new_scale: float | Tensor | None = None) -> None:
        """Set the scale for the next iteration: ``new_scale`` when given; otherwise back off by
        ``backoff_factor`` if this iteration found inf/NaN, or grow by ``growth_factor`` after
        ``growth_interval`` clean iterations."""
        if not self._enabled:
            return
        scale = self._check_scale("update")
        if new_scale is not None:
            if isinstance(new_scale, Tensor):
                if new_scale.numel() != 1 or new_scale.requires_grad:
                    raise AssertionError(
                        "new_scale should be a float or a 1-element torch.cuda.FloatTensor or "
                        "torch.FloatTensor with requires_grad=False."
                    )
                new_scale = new_scale.item()
            self._scale = float(new_scale)
        else:
            found = [s["found_inf"] for s in self._per_optimizer.values()]
            if not found or any(f is None for f in found):
                raise AssertionError("No inf checks were recorded prior to update.")
            if any(found):
                self._scale = scale * self._backoff_factor
                self._growth_tracker = 0
            else:
                tracker = (self._growth_tracker or 0) + 1
                if tracker == self._growth_interval:
                    grown = scale * self._growth_factor
                    if math.isfinite(grown):
                        self._scale = grown
                    tracker = 0
                self._growth_tracker = tracker
        self._per_optimizer.clear()

    # ---------------------------------------------------------------------------- settings
    def get_scale(self) -> float:
        """The current scale (1.0 when disabled; the initial scale before the first ``scale``)."""
        if not self._enabled:
            return 1.0
        return self._init_scale if self._scale is None else self._scale

    def get_growth_factor(self) -> float:
        return self._growth_factor

    def set_growth_factor(self, new_factor: float) -> None:
        self._growth_factor = float(new_factor)

    def get_backoff_factor(self) -> float:
        return self._backoff_factor

    def set_backoff_factor(self, new_factor: float) -> None:
        self._backoff_factor = float(new_factor)

    def get_growth_interval(self) -> int:
        return self._growth_interval

    def set_growth_interval(self, new_interval: int) -> None:
        self._growth_interval = int(new_interval)

    def is_enabled(self) -> bool:
        return self._enabled

    def state_dict(self) -> dict:
        """PyTorch's layout: ``scale``, the factors, ``growth_interval``, ``_growth_tracker``;
        empty when disabled."""
        if not self._enabled:
            return {}
        return {
            "scale": self.get_scale(),
            "growth_factor": self._growth_factor,
            "backoff_factor": self._backoff_factor,
            "growth_interval": self._growth_interval,
            "_growth_tracker": self._growth_tracker or 0,
        }

    def load_state_dict(self, state_dict: dict) -> None:
        """Restore a ``state_dict`` (from tracegrad or PyTorch)."""
        if not self._enabled:
            return
        if len(state_dict) == 0:
            raise RuntimeError(
                "The source state dict is empty, possibly because it was saved from a disabled "
                "instance of GradScaler."
            )
        self._init_scale = float(state_dict["scale"])
        if self._scale is not None:
            self._scale = self._init_scale
        self._growth_factor = float(state_dict["growth_factor"])
        self._backoff_factor = float(state_dict["backoff_factor"])
        self._growth_interval = int(state_dict["growth_interval"])
        self._init_growth_tracker = int(state_dict["_growth_tracker"])
        if self._growth_tracker is not None:
            self._growth_tracker = self._init_growth_tracker
