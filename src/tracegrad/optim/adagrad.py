"""``Adagrad``: per-coordinate learning rates from the running sum of squared gradients."""

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
    _full_like,
    _grad_with_l2,
    _hyper,
    _step_tensor,
)

__all__ = ["Adagrad"]


@_lazy.jit(static_argnames=("maximize", "has_wd"))
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
        g = _grad_with_l2(p, g, c, weight_decay, maximize, has_wd)
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

    _update_fn = staticmethod(_adagrad_update)
    _state_keys = ("sum", "step")

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
        for group in self.param_groups:  # PyTorch creates Adagrad's state at construction
            for p in group["params"]:
                self._init(p, self.state[p], group)

    def _init(self, p: Tensor, state: dict[str, Any], group: dict[str, Any]) -> None:
        state["step"] = _step_tensor(param=p)
        state["sum"] = _full_like(p, group["initial_accumulator_value"])

    def _hyper_args(self, group: dict[str, Any]) -> tuple[tuple, dict[str, Any]]:
        args = (_hyper(group["lr"]), group["lr_decay"], group["weight_decay"], group["eps"])
        return args, {"maximize": bool(group["maximize"]), "has_wd": group["weight_decay"] != 0}
