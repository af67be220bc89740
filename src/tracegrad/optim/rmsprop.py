"""``RMSprop``: divide the gradient by a running root mean square, optionally centered, with
momentum."""

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
    _check_hyper,
    _check_lr,
    _ema_square,
    _grad_with_l2,
    _hyper,
    _init_zeros,
    _lerp,
    _positive,
    _write_back,
    _zeros_like,
)

__all__ = ["RMSprop"]


@_lazy.jit(static_argnames=("centered", "maximize", "has_wd", "has_momentum", "small"))
def _rmsprop_update(
    params,
    grads,
    square_avgs,
    grad_avgs,
    bufs,
    steps,
    lr,
    alpha,
    eps,
    weight_decay,
    momentum,
    *,
    centered,
    maximize,
    has_wd,
    has_momentum,
    small,
):
    """PyTorch's documented RMSprop on lists of arrays; returns the new (params, square_avgs,
    grad_avgs, momentum_buffers, steps).

    v <- alpha v + (1 - alpha) g^2;  centered: ga <- lerp(ga, g, 1 - alpha), avg = sqrt(v - ga^2)
    (else sqrt(v));  avg += eps;  momentum: b <- mu b + g / avg, p <- p - lr b;  else
    p <- p - lr g / avg.
    """
    out_p, out_v, out_ga, out_b, out_t = [], [], [], [], []
    for i, (p, g, v, t) in enumerate(zip(params, grads, square_avgs, steps)):
        c = _caster(p.dtype)
        g = _grad_with_l2(p, g, c, weight_decay, maximize, has_wd)
        v = _ema_square(v, g, c, alpha)
        if centered:
            ga = _lerp(grad_avgs[i], g, c(1 - alpha), small)
            avg = jnp.sqrt(v + c(-1) * ga * ga)
            out_ga.append(ga)
        else:
            avg = jnp.sqrt(v)
        avg = avg + c(eps)
        if has_momentum:
            b = bufs[i] * c(momentum) + g / avg
            p = p - c(lr) * b
            out_b.append(b)
        else:
            p = p + c(-lr) * g / avg
        out_p.append(p)
        out_v.append(v)
        out_t.append(t + 1)
    return out_p, out_v, out_ga, out_b, out_t


class RMSprop(Optimizer):
    """RMSprop, as ``torch.optim.RMSprop``.

    State per parameter: ``step``, ``square_avg``, and ``momentum_buffer`` (when ``momentum > 0``)
    and ``grad_avg`` (when ``centered``), all starting at zero. ``capturable`` and ``foreach`` are
    accepted (one implementation serves all); ``differentiable=True`` raises
    ``NotImplementedError``.
    """

    _traced_hyperparameters = ("lr", "momentum")

    def __init__(
        self,
        params: Iterable[Tensor] | Iterable[dict],
        lr: float | Tensor = 1e-2,
        alpha: float = 0.99,
        eps: float = 1e-8,
        weight_decay: float = 0,
        momentum: float = 0,
        centered: bool = False,
        capturable: bool = False,
        foreach: bool | None = None,
        maximize: bool = False,
        differentiable: bool = False,
    ) -> None:
        _check_lr(lr)
        _check_hyper("epsilon value", eps)
        _check_hyper("momentum value", momentum)
        _check_hyper("weight_decay value", weight_decay)
        _check_hyper("alpha value", alpha)
        defaults = {
            "lr": lr,
            "momentum": momentum,
            "alpha": alpha,
            "eps": eps,
            "centered": centered,
            "weight_decay": weight_decay,
            "capturable": capturable,
            "foreach": foreach,
            "maximize": maximize,
            "differentiable": differentiable,
        }
        super().__init__(params, defaults)

    def _init(self, p: Tensor, state: dict[str, Any], group: dict[str, Any]) -> None:
        _init_zeros(p, state, "square_avg")

    def _update_group(self, group: dict[str, Any]) -> None:
        params, states = self._prepare(group)
        if not params:
            return
        has_momentum, centered = _positive(group["momentum"]), bool(group["centered"])
        extra = [k for k, on in (("grad_avg", centered), ("momentum_buffer", has_momentum)) if on]
        for p, state in zip(params, states):
            for key in extra:
                if key not in state:
                    state[key] = _zeros_like(p)
        out = _rmsprop_update(
            _arrays(params),
            _arrays(p._grad for p in params),
            _arrays(s["square_avg"] for s in states),
            _arrays(s["grad_avg"] for s in states) if centered else [],
            _arrays(s["momentum_buffer"] for s in states) if has_momentum else [],
            _arrays(s["step"] for s in states),
            _hyper(group["lr"]),
            group["alpha"],
            group["eps"],
            group["weight_decay"],
            _hyper(group["momentum"]),
            centered=centered,
            maximize=bool(group["maximize"]),
            has_wd=group["weight_decay"] != 0,
            has_momentum=has_momentum,
            small=abs(1 - group["alpha"]) < 0.5,
        )
        new_p, new_v, new_ga, new_b, new_t = out
        new = {"square_avg": new_v, "grad_avg": new_ga, "momentum_buffer": new_b, "step": new_t}
        _write_back(params, states, new_p, **{k: new[k] for k in ("square_avg", *extra, "step")})
