"""``Adadelta``: steps scaled by the ratio of running RMS of past updates to running RMS of
gradients (Zeiler, 2012)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import jax.numpy as jnp

from .. import lazy as _lazy
from ..tensor import Tensor
from .optimizer import (
    Optimizer,
    _caster,
    _check_hyper,
    _check_lr,
    _ema_square,
    _grad_with_l2,
    _hyper,
    _init_zeros,
)

__all__ = ["Adadelta"]


@_lazy.jit(static_argnames=("maximize", "has_wd"))
def _adadelta_update(
    params, grads, square_avgs, acc_deltas, steps, lr, rho, eps, weight_decay, *, maximize, has_wd
):
    """PyTorch's Adadelta on lists of arrays, in its order of operations; returns the new
    (params, square_avgs, acc_deltas, steps).

    v <- rho v + (1 - rho) g^2;  delta = sqrt(u + eps) / sqrt(v + eps) * g;
    u <- rho u + (1 - rho) delta^2;  p <- p - lr delta.
    """
    out_p, out_v, out_u, out_t = [], [], [], []
    for p, g, v, u, t in zip(params, grads, square_avgs, acc_deltas, steps):
        c = _caster(p.dtype)
        g = _grad_with_l2(p, g, c, weight_decay, maximize, has_wd)
        v = _ema_square(v, g, c, rho)
        std = jnp.sqrt(v + c(eps))
        delta = jnp.sqrt(u + c(eps)) / std * g
        u = _ema_square(u, delta, c, rho)
        out_p.append(p + c(-lr) * delta)
        out_v.append(v)
        out_u.append(u)
        out_t.append(t + 1)
    return out_p, out_v, out_u, out_t


class Adadelta(Optimizer):
    """Adadelta, as ``torch.optim.Adadelta``.

    State per parameter: ``step``, ``square_avg`` and ``acc_delta``, starting at zero.
    ``foreach`` and ``capturable`` are accepted (the update is one compiled program either way);
    ``differentiable=True`` raises ``NotImplementedError``.
    """

    _update_fn = staticmethod(_adadelta_update)
    _state_keys = ("square_avg", "acc_delta", "step")

    def __init__(
        self,
        params: Iterable[Tensor] | Iterable[dict],
        lr: float | Tensor = 1.0,
        rho: float = 0.9,
        eps: float = 1e-6,
        weight_decay: float = 0,
        foreach: bool | None = None,
        *,
        capturable: bool = False,
        maximize: bool = False,
        differentiable: bool = False,
    ) -> None:
        _check_lr(lr)
        if not 0.0 <= rho <= 1.0:
            raise ValueError(f"Invalid rho value: {rho}")
        _check_hyper("epsilon value", eps)
        _check_hyper("weight_decay value", weight_decay)
        defaults = {
            "lr": lr,
            "rho": rho,
            "eps": eps,
            "weight_decay": weight_decay,
            "maximize": maximize,
            "capturable": capturable,
            "foreach": foreach,
            "differentiable": differentiable,
        }
        super().__init__(params, defaults)

    def _init(self, p: Tensor, state: dict[str, Any], group: dict[str, Any]) -> None:
        _init_zeros(p, state, "square_avg", "acc_delta")

    def _hyper_args(self, group: dict[str, Any]) -> tuple[tuple, dict[str, Any]]:
        return (
            _hyper(group["lr"]),
            group["rho"],
            group["eps"],
            group["weight_decay"],
        ), {
            "maximize": bool(group["maximize"]),
            "has_wd": group["weight_decay"] != 0,
        }
