"""``ASGD``: averaged stochastic gradient descent (Polyak and Juditsky, 1992)."""

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
    _grad_with_l2,
    _host,
    _hyper,
    _init_zeros,
    _placed_like,
    _zeros_like,
)

__all__ = ["ASGD"]


@_lazy.jit(static_argnames=("maximize", "has_wd"))
def _asgd_update(
    params, grads, axs, mus, etas, steps, lr, lambd, alpha, t0, weight_decay, *, maximize, has_wd
):
    """PyTorch's ASGD on lists of arrays; returns the new (params, axs, mus, etas, steps).

    p <- p (1 - lambd eta) - eta g;  ax <- p if mu == 1 else ax + mu (p - ax);
    eta <- lr / (1 + lambd lr t)^alpha;  mu <- 1 / max(1, t - t0).
    ``eta`` and ``mu`` are float32 scalar tensors; the new values are computed in float64 from
    the step count (PyTorch's host math) and rounded to float32 when stored.
    """
    out_p, out_ax, out_mu, out_eta, out_t = [], [], [], [], []
    for p, g, ax, mu, eta, t in zip(params, grads, axs, mus, etas, steps):
        c = _caster(p.dtype)
        t = t + 1
        g = _grad_with_l2(p, g, c, weight_decay, maximize, has_wd)
        eta_value = _host(eta)
        p = p * c(1 - lambd * eta_value)
        p = p + c(-eta_value) * g
        ax = jnp.where(mu == 1, p, ax + (p - ax) * mu.astype(p.dtype))
        step = _host(t)
        out_eta.append((_host(lr) / ((1 + lambd * _host(lr) * step) ** alpha)).astype(eta.dtype))
        out_mu.append((1 / jnp.maximum(1.0, step - t0)).astype(mu.dtype))
        out_p.append(p)
        out_ax.append(ax)
        out_t.append(t)
    return out_p, out_ax, out_mu, out_eta, out_t


class ASGD(Optimizer):
    """Averaged SGD, as ``torch.optim.ASGD``.

    State per parameter: ``step``, ``eta`` (the current step size, starting at ``lr``), ``mu``
    (the averaging coefficient, starting at 1), both float32 scalar tensors, and ``ax`` (the
    running average of the parameter).
    """

    _update_fn = staticmethod(_asgd_update)
    _state_keys = ("ax", "mu", "eta", "step")

    def __init__(
        self,
        params: Iterable[Tensor] | Iterable[dict],
        lr: float | Tensor = 1e-2,
        lambd: float = 1e-4,
        alpha: float = 0.75,
        t0: float = 1e6,
        weight_decay: float = 0,
        foreach: bool | None = None,
        maximize: bool = False,
        differentiable: bool = False,
        capturable: bool = False,
    ) -> None:
        _check_lr(lr)
        _check_hyper("weight_decay value", weight_decay)
        defaults = {
            "lr": lr,
            "lambd": lambd,
            "alpha": alpha,
            "t0": t0,
            "weight_decay": weight_decay,
            "foreach": foreach,
            "maximize": maximize,
            "differentiable": differentiable,
            "capturable": capturable,
        }
        super().__init__(params, defaults)

    def _init(self, p: Tensor, state: dict[str, Any], group: dict[str, Any]) -> None:
        _init_zeros(p, state)
        lr = jnp.asarray(_hyper(group["lr"]), jnp.float32)
        state["eta"] = Tensor._wrap(_placed_like(lr, p))
        state["mu"] = Tensor._wrap(_placed_like(jnp.ones((), jnp.float32), p))
        state["ax"] = _zeros_like(p)

    def _hyper_args(self, group: dict[str, Any]) -> tuple[tuple, dict[str, Any]]:
        return (
            _hyper(group["lr"]),
            group["lambd"],
            group["alpha"],
            group["t0"],
            group["weight_decay"],
        ), {"maximize": bool(group["maximize"]), "has_wd": group["weight_decay"] != 0}
