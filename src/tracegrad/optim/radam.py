"""``RAdam``: Adam with a rectified adaptive learning rate (Liu et al., 2019)."""

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
    _decayed,
    _ema_square,
    _host,
    _init_zeros,
    _lerp,
)

__all__ = ["RAdam"]


@_lazy.jit(static_argnames=("maximize", "has_wd", "decoupled", "small"))
def _radam_update(
    params, grads, exp_avgs, exp_avg_sqs, steps, lr, beta1, beta2, eps, weight_decay, *,
    maximize, has_wd, decoupled, small,
):  # fmt: skip
    """PyTorch's RAdam on lists of arrays; returns the new (params, exp_avgs, exp_avg_sqs, steps).

    m <- lerp(m, g, 1 - b1);  v <- b2 v + (1 - b2) g^2;  mhat = m / (1 - b1^t);
    rho_inf = 2 / (1 - b2) - 1;  rho_t = rho_inf - 2 t b2^t / (1 - b2^t);
    rho_t > 5: p <- p - mhat lr sqrt(1 - b2^t) / (sqrt(v) + eps) r_t  (r_t the rectification),
    else p <- p - mhat lr.
    PyTorch chooses the branch on the host; here both are computed and ``where`` picks one, so
    the step stays one program (no host read of the step count).
    """
    out_p, out_m, out_v, out_t = [], [], [], []
    for p, g, m, v, t in zip(params, grads, exp_avgs, exp_avg_sqs, steps):
        c = _caster(p.dtype)
        t = t + 1
        step = _host(t)
        p, g = _decayed(
            p, g, c, _host(lr), weight_decay, maximize=maximize, has_wd=has_wd, decoupled=decoupled
        )
        m = _lerp(m, g, c(1 - beta1), small)
        v = _ema_square(v, g, c, beta2)
        bias_correction1 = 1 - beta1**step
        bias_correction2 = 1 - beta2**step
        corrected = m / c(bias_correction1)
        rho_inf = 2 / (1 - beta2) - 1
        rho_t = rho_inf - 2 * step * (beta2**step) / bias_correction2
        rect = jnp.sqrt(
            (rho_t - 4) * (rho_t - 2) * rho_inf / ((rho_inf - 4) * (rho_inf - 2) * rho_t)
        )
        # PyTorch's ``float / tensor`` is ``tensor.reciprocal() * float``.
        adaptive_lr = (1 / (jnp.sqrt(v) + c(eps))) * c(jnp.sqrt(bias_correction2))
        plain = corrected * c(lr)
        rectified = plain * adaptive_lr * c(rect)
        out_p.append(p - jnp.where(rho_t > 5.0, rectified, plain))
        out_m.append(m)
        out_v.append(v)
        out_t.append(t)
    return out_p, out_m, out_v, out_t


class RAdam(Optimizer):
    """RAdam, as ``torch.optim.RAdam``.

    State per parameter: ``step``, ``exp_avg`` and ``exp_avg_sq``. ``weight_decay`` is an L2 term
    unless ``decoupled_weight_decay=True`` (the parameter decays by ``1 - lr * weight_decay``).
    """

    _traced_hyperparameters = ("lr", "betas")

    _update_fn = staticmethod(_radam_update)
    _state_keys = ("exp_avg", "exp_avg_sq", "step")

    def __init__(
        self,
        params: Iterable[Tensor] | Iterable[dict],
        lr: float | Tensor = 1e-3,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
        weight_decay: float = 0,
        decoupled_weight_decay: bool = False,
        *,
        foreach: bool | None = None,
        maximize: bool = False,
        capturable: bool = False,
        differentiable: bool = False,
    ) -> None:
        _check_adam_like(lr, eps, betas, weight_decay)
        defaults = {
            "lr": lr,
            "betas": betas,
            "eps": eps,
            "weight_decay": weight_decay,
            "maximize": maximize,
            "foreach": foreach,
            "capturable": capturable,
            "decoupled_weight_decay": decoupled_weight_decay,
            "differentiable": differentiable,
        }
        super().__init__(params, defaults)

    def _init(self, p: Tensor, state: dict[str, Any], group: dict[str, Any]) -> None:
        _init_zeros(p, state, "exp_avg", "exp_avg_sq")

    def _hyper_args(self, group: dict[str, Any]) -> tuple[tuple, dict[str, Any]]:
        return _adam_like_args(group, decoupled=bool(group["decoupled_weight_decay"]))
