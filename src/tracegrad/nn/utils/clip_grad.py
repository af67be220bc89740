"""Gradient clipping: ``clip_grad_norm_`` and ``clip_grad_value_``, as ``torch.nn.utils``.

The clipping is written as tensor ops with no Python branch on the norm's value (the scale is
``min(max_norm / (norm + 1e-6), 1)``, applied unconditionally), so it can run inside a compiled
training step. Eagerly, ``clip_grad_norm_`` runs those same ops as one program for all the
gradients (``_fused_clip``): op by op, each parameter shape would compile and dispatch a norm and a
scaling of its own.
"""

from __future__ import annotations

import math
from collections.abc import Iterable

import jax

from ... import _tracing
from ... import lazy as _lazy
from ...autograd.grad_mode import no_grad
from ...ops.elementwise import clamp
from ...ops.reduction import norm
from ...ops.shape import stack
from ...tensor import Tensor, tensor

__all__ = [
    "clip_grad_norm_",
    "clip_grad_norm",
    "clip_grad_value_",
    "get_total_norm",
    "clip_grads_with_norm_",
]


def _as_list(tensors) -> list:
    return [tensors] if isinstance(tensors, Tensor) else list(tensors)


def get_total_norm(
    tensors: Tensor | Iterable[Tensor],
    norm_type: float = 2.0,
    error_if_nonfinite: bool = False,
    foreach: bool | None = None,
) -> Tensor:
    """The ``norm_type``-norm of all ``tensors`` together (as if concatenated into one vector):
    the norm of the per-tensor norms."""
    tensors = _as_list(tensors)
    norm_type = float(norm_type)
    if not tensors:
        return tensor(0.0)
    total = _total_norm(tensors, norm_type)
    _check_finite(total, norm_type, error_if_nonfinite)
    return total


def _total_norm(tensors: list, norm_type: float) -> Tensor:
    norms = [norm(t.detach(), norm_type) for t in tensors]
    dtypes = {n.dtype for n in norms}
    if len(dtypes) > 1:  # mixed precision: combine in the widest dtype
        wide = max(dtypes, key=lambda d: d.itemsize)
        norms = [n.to(wide) for n in norms]
    return norm(stack(norms), norm_type)


def _check_finite(total: Tensor, norm_type: float, error_if_nonfinite: bool) -> None:
    if error_if_nonfinite and not math.isfinite(total.item()):
        raise RuntimeError(
            f"The total norm of order {norm_type} for gradients from `parameters` is non-finite, "
            "so it cannot be clipped. To disable this error and scale the gradients by the "
            "non-finite norm anyway, set `error_if_nonfinite=False`"
        )


def clip_grads_with_norm_(
    parameters: Tensor | Iterable[Tensor],
    max_norm: float,
    total_norm: Tensor,
    foreach: bool | None = None,
) -> None:
    """Scale the gradients of ``parameters`` in place by ``min(max_norm / (total_norm + 1e-6),
    1)``."""
    grads = [p.grad for p in _as_list(parameters) if p.grad is not None]
    if not grads:
        return
    with no_grad():
        coef = clamp(max_norm / (total_norm + 1e-6), max=1.0)  # max_norm may be lifted by compile
        for g in grads:
            g.mul_(coef.to(device=g.device, dtype=g.dtype))


def clip_grad_norm_(
    parameters: Tensor | Iterable[Tensor],
    max_norm: float,
    norm_type: float = 2.0,
    error_if_nonfinite: bool = False,
    foreach: bool | None = None,
) -> Tensor:
    """Rescale the gradients of ``parameters`` in place so that their joint ``norm_type``-norm is
    at most ``max_norm``; returns the norm before clipping (a 0-d tensor).

    The gradients are always multiplied by ``clamp(max_norm / (norm + 1e-6), max=1)``, exactly as
    PyTorch does (so a norm below ``max_norm`` leaves them unchanged up to rounding).
    ``error_if_nonfinite=True`` raises a ``RuntimeError`` for a nan/inf norm (this reads the value
    on the host).
    """
    parameters = _as_list(parameters)
    grads = [p.grad for p in parameters if p.grad is not None]
    fusable = type(max_norm) in (int, float) and len({g.device for g in grads}) == 1
    if grads and fusable and _tracing.current() is None:
        arrays = [_lazy.array_of(g) for g in grads]  # pending in lazy mode: one more step
        if all(
            type(a) is _lazy.Pending
            or (isinstance(a, jax.Array) and not isinstance(a, jax.core.Tracer))
            for a in arrays
        ):
            total, scaled = _fused_clip(arrays, max_norm, float(norm_type))
            total = Tensor._wrap(total)
            _check_finite(total, norm_type, error_if_nonfinite)
            for g, a in zip(grads, scaled):
                g._rebase(Tensor._wrap(a))  # in place: same tensor, version bumped (as mul_)
            return total
    with no_grad():
        total = get_total_norm(grads, norm_type, error_if_nonfinite, foreach)
        clip_grads_with_norm_(parameters, max_norm, total, foreach)
    return total


@_lazy.jit(static_argnames=("max_norm", "norm_type"))
def _fused_clip(arrays: list, max_norm: float, norm_type: float):
    """``get_total_norm`` and ``clip_grads_with_norm_``'s ops on the gradients' arrays, traced as
    one program: the total norm and the scaled gradients. ``max_norm`` is a Python number in the
    program, as in the op-by-op path (where it promotes as a Python scalar)."""
    with no_grad():
        grads = [Tensor._wrap(a) for a in arrays]
        total = _total_norm(grads, norm_type)
        coef = clamp(max_norm / (total + 1e-6), max=1.0)
        return total._storage.array, [(g * coef.to(dtype=g.dtype))._storage.array for g in grads]


def clip_grad_norm(
    parameters: Tensor | Iterable[Tensor],
    max_norm: float,
    norm_type: float = 2.0,
    error_if_nonfinite: bool = False,
    foreach: bool | None = None,
) -> Tensor:
    """The deprecated name of ``clip_grad_norm_`` (it warns with PyTorch's ``FutureWarning``)."""
    import warnings

    warnings.warn(
        "`torch.nn.utils.clip_grad_norm` is now deprecated "
        "in favor of `torch.nn.utils.clip_grad_norm_`.",
        FutureWarning,
        stacklevel=2,
    )
    return clip_grad_norm_(parameters, max_norm, norm_type, error_if_nonfinite, foreach)


def clip_grad_value_(
    parameters: Tensor | Iterable[Tensor], clip_value: float, foreach: bool | None = None
) -> None:
    """Clamp every gradient of ``parameters`` to ``[-clip_value, clip_value]`` in place."""
    clip_value = float(clip_value)
    with no_grad():
        for p in _as_list(parameters):
            if p.grad is not None:
                p.grad.clamp_(min=-clip_value, max=clip_value)
