"""``Adam``: adaptive moment estimation, with AMSGrad, L2 or decoupled weight decay, maximize."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import jax.numpy as jnp

from .. import lazy as _lazy
from ..tensor import Tensor
from .optimizer import (
    Optimizer,
    _arrays,
    _caster,
    _check_adam_like,
    _decayed,
    _ema_square,
    _hyper,
    _init_zeros,
    _lerp,
    _LiftedHyper,
    _log_beta,
    _small,
    _write_back,
    _zeros_like,
)

__all__ = ["Adam"]


@_lazy.jit(static_argnames=("amsgrad", "maximize", "has_wd", "decoupled", "small_weight"))
def _adam_update(
    params,
    grads,
    exp_avgs,
    exp_avg_sqs,
    max_exp_avg_sqs,
    steps,
    lr,
    beta1,
    beta2,
    log_beta1,
    log_beta2,
    eps,
    weight_decay,
    *,
    amsgrad,
    maximize,
    has_wd,
    decoupled,
    small_weight,
):
    """PyTorch's documented Adam on lists of arrays; returns the new (params, exp_avgs,
    exp_avg_sqs, max_exp_avg_sqs, steps).

    m <- lerp(m, g, 1 - b1);  v <- b2 v + (1 - b2) g^2;  (amsgrad: vmax <- max(vmax, v), use vmax)
    p <- p - lr / (1 - b1^t) * m / (sqrt(v) / sqrt(1 - b2^t) + eps).

    The step count t is a tensor, so the bias corrections are tensor math. ``1 - b^t`` is computed
    as ``-expm1(t log b)`` (log b taken on the host in double precision): in float32 the direct
    form loses most digits of ``1 - 0.999`` to cancellation, this one keeps full precision.
    """
    out_p, out_m, out_v, out_vmax, out_t = [], [], [], [], []
    for i, (p, g, m, v, t) in enumerate(zip(params, grads, exp_avgs, exp_avg_sqs, steps)):
        c = _caster(p.dtype)
        t = t + 1
        p, g = _decayed(
            p, g, c, lr, weight_decay, maximize=maximize, has_wd=has_wd, decoupled=decoupled
        )
        m = _lerp(m, g, c(1 - beta1), small_weight)
        v = _ema_square(v, g, c, beta2)
        tt = t.astype(p.dtype)
        bias_correction1 = -jnp.expm1(tt * c(log_beta1))
        bias_correction2_sqrt = jnp.sqrt(-jnp.expm1(tt * c(log_beta2)))
        step_size = c(lr) / bias_correction1
        if amsgrad:
            vmax = jnp.maximum(max_exp_avg_sqs[i], v)
            denom = jnp.sqrt(vmax) / bias_correction2_sqrt + c(eps)
            out_vmax.append(vmax)
        else:
            denom = jnp.sqrt(v) / bias_correction2_sqrt + c(eps)
        out_p.append(p + (-step_size) * m / denom)
        out_m.append(m)
        out_v.append(v)
        out_t.append(t)
    return out_p, out_m, out_v, out_vmax, out_t


def _to_scalar(x):
    return float(x) if isinstance(x, Tensor) and not isinstance(x, _LiftedHyper) else x


class Adam(Optimizer):
    """Adam, as ``torch.optim.Adam`` (its documented algorithm, to float32 rounding).

    State per parameter: ``step`` (a float32 scalar tensor), ``exp_avg``, ``exp_avg_sq`` and, with
    ``amsgrad``, ``max_exp_avg_sq``. ``weight_decay`` is an L2 term added to the gradient unless
    ``decoupled_weight_decay=True`` (then it is AdamW's decay of the parameter). ``foreach``,
    ``capturable`` and ``fused`` are accepted (one implementation serves all);
    ``differentiable=True`` raises ``NotImplementedError``.
    """

    _traced_hyperparameters = ("lr", "betas")

    def __init__(
        self,
        params: Iterable[Tensor] | Iterable[dict],
        lr: float | Tensor = 1e-3,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
        weight_decay: float = 0,
        amsgrad: bool = False,
        *,
        foreach: bool | None = None,
        maximize: bool = False,
        capturable: bool = False,
        differentiable: bool = False,
        fused: bool | None = None,
        decoupled_weight_decay: bool = False,
    ) -> None:
        _check_adam_like(lr, eps, betas, weight_decay)
        if not (
            (isinstance(betas[0], float) and isinstance(betas[1], float))
            or (isinstance(betas[0], Tensor) and isinstance(betas[1], Tensor))
        ):
            raise ValueError("betas must be either both floats or both Tensors")
        defaults = {
            "lr": lr,
            "betas": tuple(map(_to_scalar, betas)),
            "eps": eps,
            "weight_decay": weight_decay,
            "amsgrad": amsgrad,
            "maximize": maximize,
            "foreach": foreach,
            "capturable": capturable,
            "differentiable": differentiable,
            "fused": fused,
            "decoupled_weight_decay": decoupled_weight_decay,
        }
        super().__init__(params, defaults)

    def _init(self, p: Tensor, state: dict[str, Any], group: dict[str, Any]) -> None:
        _init_zeros(p, state, "exp_avg", "exp_avg_sq")

    def _update_group(self, group: dict[str, Any]) -> None:
        params, states = self._prepare(group)
        if not params:
            return
        amsgrad = bool(group["amsgrad"])
        for p, state in zip(params, states):
            if amsgrad and "max_exp_avg_sq" not in state:
                state["max_exp_avg_sq"] = _zeros_like(p)
        beta1, beta2 = (_to_scalar(b) for b in group["betas"])
        out = _adam_update(
            _arrays(params),
            _arrays(p._grad for p in params),
            _arrays(s["exp_avg"] for s in states),
            _arrays(s["exp_avg_sq"] for s in states),
            _arrays(s["max_exp_avg_sq"] for s in states) if amsgrad else [],
            _arrays(s["step"] for s in states),
            _hyper(group["lr"]),
            _hyper(beta1),
            _hyper(beta2),
            _log_beta(beta1),
            _log_beta(beta2),
            group["eps"],
            group["weight_decay"],
            amsgrad=amsgrad,
            maximize=bool(group["maximize"]),
            has_wd=group["weight_decay"] != 0,
            decoupled=bool(group.get("decoupled_weight_decay", False)),
            small_weight=_small(beta1),
        )
        new_p, new_m, new_v, new_vmax, new_t = out
        extra = {"max_exp_avg_sq": new_vmax} if amsgrad else {}
        _write_back(params, states, new_p, exp_avg=new_m, exp_avg_sq=new_v, step=new_t, **extra)
