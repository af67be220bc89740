"""``Adagrad``: per-coordinate learning rates from the running sum of squared gradients."""

from __future__ import annotations

from collections.abc import Iterable
from functools import partial
from typing import Any

import jax
import jax.numpy as jnp

from ..tensor import Tensor
from .optimizer import (
    Optimizer,
    _arrays,
    _caster,
    _check_hyper,
    _check_lr,
    _full_like,
    _hyper,
    _step_tensor,
    _write_back,
)

__all__ = ["Adagrad"]


@partial(jax.jit, static_argnames=("maximize", "has_wd"))
def _adagrad_update(
    params, grads, sums, steps, lr, lr_decay, weight_decay, eps, *, maximize, has_wd
):
    """PyTorch's documented Adagrad on lists of arrays; returns the new (params, sums, steps).

    clr = lr / (1 + (t - 1) lr_decay);  s <- s + g^2;  p <- p - clr g / (sqrt(s) + eps).
    """
    out_p, out_s, out_t = [], [], []
    for p, g, s, t in zip(params, grads, sums, steps):
        c = _caster(p.dtype)
        t = t + 1
        if maximize:
            g = -g
        if has_wd:
            g = g + c(weight_decay) * p
        clr = c(lr) / (1 + (t.astype(p.dtype) - 1) * c(lr_decay))
        s = s + g * g
        std = jnp.sqrt(s) + c(eps)
        out_p.append(p + (-clr) * g / std)
        out_s.append(s)
        out_t.append(t)
    return out_p, out_s, out_t


class Adagrad(Optimizer):
    """Adagrad, as ``torch.optim.Adagrad``.

    State per parameter, created at construction as PyTorch does: ``step`` and ``sum`` (filled with
    ``initial_accumulator_value``). Sparse gradients do not exist in tracegrad. ``foreach`` and
    ``fused`` are accepted (one implementation serves all); ``differentiable=True`` raises
    ``NotImplementedError``.
    """

    def __init__(
        self,
        params: Iterable[Tensor] | Iterable[dict],
        lr: float | Tensor = 1e-2,
        lr_decay: float = 0,
        weight_decay: float = 0,
        initial_accumulator_value: float = 0,
        eps: float = 1e-10,
        foreach: bool | None = None,
        *,
        maximize: bool = False,
        differentiable: bool = False,
        fused: bool | None = None,
    ) -> None:
        _check_lr(lr)
        _check_hyper("lr_decay value", lr_decay)
        _check_hyper("weight_decay value", weight_decay)
        _check_hyper("initial_accumulator_value value", initial_accumulator_value)
        _check_hyper("epsilon value", eps)
        defaults = {
            "lr": lr,
            "lr_decay": lr_decay,
            "eps": eps,
            "weight_decay": weight_decay,
            "initial_accumulator_value": initial_accumulator_value,
            "foreach": foreach,
            "maximize": maximize,
            "differentiable": differentiable,
            "fused": fused,
        }
        super().__init__(params, defaults)
        for group in self.param_groups:
            for p in group["params"]:
                self._init_state(p, group)

    def _init_state(self, p: Tensor, group: dict[str, Any]) -> dict[str, Any]:
        state = self.state[p]
        if len(state) == 0:
            state["step"] = _step_tensor(param=p)
            value = group["initial_accumulator_value"]
            state["sum"] = _full_like(p, value)
        return state

    def _update_group(self, group: dict[str, Any]) -> None:
        params = self._with_grad(group)
        if not params:
            return
        states = [self._init_state(p, group) for p in params]
        new_p, new_s, new_t = _adagrad_update(
            _arrays(params),
            _arrays(p._grad for p in params),
            _arrays(s["sum"] for s in states),
            _arrays(s["step"] for s in states),
            _hyper(group["lr"]),
            group["lr_decay"],
            group["weight_decay"],
            group["eps"],
            maximize=bool(group["maximize"]),
            has_wd=group["weight_decay"] != 0,
        )
        _write_back(params, states, new_p, sum=new_s, step=new_t)
