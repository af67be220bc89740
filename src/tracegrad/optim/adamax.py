"""``Adamax``: Adam with the infinity norm of past gradients in place of their root mean square."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import jax.numpy as jnp

from .. import lazy as _lazy
from ..tensor import Tensor
from .optimizer import (
    Optimizer,
    _adam_like_args,
    _caster,
    _check_adam_like,
    _grad_with_l2,
    _host,
    _init_zeros,
    _lerp,
)

__all__ = ["Adamax"]


@_lazy.jit(static_argnames=("maximize", "has_wd", "small"))
def _adamax_update(
    params, grads, exp_avgs, exp_infs, steps, lr, beta1, beta2, eps, weight_decay, *, maximize,
    has_wd, small,
):  # fmt: skip
    """PyTorch's Adamax on lists of arrays; returns the new (params, exp_avgs, exp_infs, steps).

    m <- lerp(m, g, 1 - b1);  u <- max(b2 u, |g| + eps);  p <- p - lr / (1 - b1^t) * m / u.
    The step size is computed in float64 from the step count, as PyTorch's host-side math.
    """
    out_p, out_m, out_u, out_t = [], [], [], []
    for p, g, m, u, t in zip(params, grads, exp_avgs, exp_infs, steps):
        c = _caster(p.dtype)
        t = t + 1
        g = _grad_with_l2(p, g, c, weight_decay, maximize, has_wd)
        m = _lerp(m, g, c(1 - beta1), small)
        u = jnp.maximum(u * c(beta2), jnp.abs(g) + c(eps))
        clr = _host(lr) / (1 - beta1 ** _host(t))
        out_p.append(p + c(-clr) * m / u)
        out_m.append(m)
        out_u.append(u)
        out_t.append(t)
    return out_p, out_m, out_u, out_t


class Adamax(Optimizer):
    """Adamax, as ``torch.optim.Adamax`` (a variant of Adam based on the infinity norm).

    State per parameter: ``step``, ``exp_avg`` and ``exp_inf``, starting at zero.
    """

    _traced_hyperparameters = ("lr", "betas")

    _update_fn = staticmethod(_adamax_update)
    _state_keys = ("exp_avg", "exp_inf", "step")

    def __init__(
        self,
        params: Iterable[Tensor] | Iterable[dict],
        lr: float | Tensor = 2e-3,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
        weight_decay: float = 0,
        foreach: bool | None = None,
        *,
        maximize: bool = False,
        differentiable: bool = False,
        capturable: bool = False,
    ) -> None:
        _check_adam_like(lr, eps, betas, weight_decay)
        defaults = {
            "lr": lr,
            "betas": betas,
            "eps": eps,
            "weight_decay": weight_decay,
            "foreach": foreach,
            "maximize": maximize,
            "differentiable": differentiable,
            "capturable": capturable,
        }
        super().__init__(params, defaults)

    def _init(self, p: Tensor, state: dict[str, Any], group: dict[str, Any]) -> None:
        _init_zeros(p, state, "exp_avg", "exp_inf")

    def _hyper_args(self, group: dict[str, Any]) -> tuple[tuple, dict[str, Any]]:
        return _adam_like_args(group)
