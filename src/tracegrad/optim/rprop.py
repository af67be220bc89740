"""``Rprop``: resilient backpropagation, per-coordinate step sizes adapted to gradient signs."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import jax.numpy as jnp

from .. import lazy as _lazy
from ..tensor import Tensor
from .optimizer import (
    Optimizer,
    _array,
    _caster,
    _check_lr,
    _hyper,
    _init_zeros,
    _placed_like,
)

__all__ = ["Rprop"]


@_lazy.jit(static_argnames=("maximize",))
def _rprop_update(
    params, grads, prevs, step_sizes, steps, etaminus, etaplus, step_size_min, step_size_max, *,
    maximize,
):  # fmt: skip
    """PyTorch's Rprop on lists of arrays; returns the new (params, prevs, step_sizes, steps).

    s = sign(g prev);  f = etaplus (s > 0), etaminus (s < 0), 1 (s = 0);
    step_size <- clamp(step_size f, min, max);  g <- 0 where s < 0;
    p <- p - sign(g) step_size;  prev <- g.
    """
    out_p, out_prev, out_ss, out_t = [], [], [], []
    for p, g, prev, ss, t in zip(params, grads, prevs, step_sizes, steps):
        c = _caster(p.dtype)
        if maximize:
            g = -g
        sign = jnp.sign(g * prev)
        factor = jnp.where(sign > 0, c(etaplus), jnp.where(sign < 0, c(etaminus), c(1)))
        ss = jnp.clip(ss * factor, c(step_size_min), c(step_size_max))
        g = jnp.where(sign < 0, c(0), g)
        out_p.append(p + c(-1) * (jnp.sign(g) * ss))
        out_prev.append(g)
        out_ss.append(ss)
        out_t.append(t + 1)
    return out_p, out_prev, out_ss, out_t


class Rprop(Optimizer):
    """Rprop, as ``torch.optim.Rprop``.

    State per parameter: ``step``, ``prev`` (the last gradient used, zeroed where its sign
    flipped) and ``step_size`` (per coordinate, starting at ``lr``). ``etas=(etaminus, etaplus)``
    shrink and grow the step sizes, which stay within ``step_sizes=(min, max)``.
    """

    _update_fn = staticmethod(_rprop_update)
    _state_keys = ("prev", "step_size", "step")

    def __init__(
        self,
        params: Iterable[Tensor] | Iterable[dict],
        lr: float | Tensor = 1e-2,
        etas: tuple[float, float] = (0.5, 1.2),
        step_sizes: tuple[float, float] = (1e-6, 50),
        *,
        capturable: bool = False,
        foreach: bool | None = None,
        maximize: bool = False,
        differentiable: bool = False,
    ) -> None:
        _check_lr(lr)
        if not 0.0 < etas[0] < 1.0 < etas[1]:
            raise ValueError(f"Invalid eta values: {etas[0]}, {etas[1]}")
        defaults = {
            "lr": lr,
            "etas": etas,
            "step_sizes": step_sizes,
            "foreach": foreach,
            "maximize": maximize,
            "differentiable": differentiable,
            "capturable": capturable,
        }
        super().__init__(params, defaults)

    def _init(self, p: Tensor, state: dict[str, Any], group: dict[str, Any]) -> None:
        _init_zeros(p, state, "prev")
        lr = _hyper(group["lr"])
        state["step_size"] = Tensor._wrap(_placed_like(jnp.full_like(_array(p), lr), p))

    def _hyper_args(self, group: dict[str, Any]) -> tuple[tuple, dict[str, Any]]:
        etaminus, etaplus = group["etas"]
        step_size_min, step_size_max = group["step_sizes"]
        args = (etaminus, etaplus, step_size_min, step_size_max)
        return args, {"maximize": bool(group["maximize"])}
