"""``NAdam``: Adam with Nesterov momentum and a momentum schedule (Dozat, 2016)."""

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
    _check_hyper,
    _decayed,
    _ema_square,
    _host,
    _init_zeros,
    _lerp,
    _placed_like,
    _zeros_like,
)

__all__ = ["NAdam"]


@_lazy.jit(static_argnames=("maximize", "has_wd", "decoupled", "small"))
def _nadam_update(
    params, grads, exp_avgs, exp_avg_sqs, mu_products, steps, lr, beta1, beta2, eps,
    weight_decay, momentum_decay, *, maximize, has_wd, decoupled, small,
):  # fmt: skip
    """PyTorch's NAdam on lists of arrays; returns the new (params, exp_avgs, exp_avg_sqs,
    mu_products, steps).

    mu_t = b1 (1 - 0.5 * 0.96^(t psi));  prod <- prod * mu_t;  m <- lerp(m, g, 1 - b1);
    v <- b2 v + (1 - b2) g^2;  denom = sqrt(v / (1 - b2^t)) + eps;
    p <- p - lr (1 - mu_t) / (1 - prod) g / denom - lr mu_{t+1} / (1 - prod mu_{t+1}) m / denom.
    The scalar coefficients are float64, as PyTorch's host-side math; ``mu_product`` is a
    float32 tensor, multiplied in float32 as PyTorch's ``mu_product *= mu`` is.
    """
    out_p, out_m, out_v, out_mp, out_t = [], [], [], [], []
    for p, g, m, v, mp, t in zip(params, grads, exp_avgs, exp_avg_sqs, mu_products, steps):
        c = _caster(p.dtype)
        t = t + 1
        step = _host(t)
        bias_correction2 = 1 - beta2**step
        p, g = _decayed(
            p, g, c, _host(lr), weight_decay, maximize=maximize, has_wd=has_wd, decoupled=decoupled
        )
        mu = beta1 * (1.0 - 0.5 * (0.96 ** (step * momentum_decay)))
        mu_next = beta1 * (1.0 - 0.5 * (0.96 ** ((step + 1) * momentum_decay)))
        mp = mp * mu.astype(mp.dtype)
        m = _lerp(m, g, c(1 - beta1), small)
        v = _ema_square(v, g, c, beta2)
        denom = jnp.sqrt(v / c(bias_correction2)) + c(eps)
        mp_next = _host(mp) * mu_next
        p = p + c(-_host(lr) * (1.0 - mu) / (1.0 - _host(mp))) * g / denom
        p = p + c(-_host(lr) * mu_next / (1.0 - mp_next)) * m / denom
        out_p.append(p)
        out_m.append(m)
        out_v.append(v)
        out_mp.append(mp)
        out_t.append(t)
    return out_p, out_m, out_v, out_mp, out_t


class NAdam(Optimizer):
    """NAdam, as ``torch.optim.NAdam``.

    State per parameter: ``step``, ``mu_product`` (the running product of the momentum schedule,
    a float32 scalar tensor starting at 1), ``exp_avg`` and ``exp_avg_sq``. ``weight_decay`` is an
    L2 term unless ``decoupled_weight_decay=True`` (NAdamW: the parameter decays by
    ``1 - lr * weight_decay``).
    """

    _traced_hyperparameters = ("lr", "betas")

    _update_fn = staticmethod(_nadam_update)
    _state_keys = ("exp_avg", "exp_avg_sq", "mu_product", "step")

    def __init__(
        self,
        params: Iterable[Tensor] | Iterable[dict],
        lr: float | Tensor = 2e-3,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
        weight_decay: float = 0,
        momentum_decay: float = 4e-3,
        decoupled_weight_decay: bool = False,
        *,
        foreach: bool | None = None,
        maximize: bool = False,
        capturable: bool = False,
        differentiable: bool = False,
    ) -> None:
        _check_adam_like(lr, eps, betas, weight_decay)
        _check_hyper("momentum_decay value", momentum_decay)
        defaults = {
            "lr": lr,
            "betas": betas,
            "eps": eps,
            "weight_decay": weight_decay,
            "momentum_decay": momentum_decay,
            "decoupled_weight_decay": decoupled_weight_decay,
            "maximize": maximize,
            "foreach": foreach,
            "capturable": capturable,
            "differentiable": differentiable,
        }
        super().__init__(params, defaults)

    def _init(self, p: Tensor, state: dict[str, Any], group: dict[str, Any]) -> None:
        _init_zeros(p, state)  # in PyTorch's key order: step, mu_product, exp_avg, exp_avg_sq
        state["mu_product"] = Tensor._wrap(_placed_like(jnp.ones((), jnp.float32), p))
        state["exp_avg"], state["exp_avg_sq"] = _zeros_like(p), _zeros_like(p)

    def _hyper_args(self, group: dict[str, Any]) -> tuple[tuple, dict[str, Any]]:
        decoupled = bool(group["decoupled_weight_decay"])
        return _adam_like_args(group, group["momentum_decay"], decoupled=decoupled)
