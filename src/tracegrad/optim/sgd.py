"""``SGD``: stochastic gradient descent with momentum, dampening, Nesterov and weight decay."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from .. import lazy as _lazy
from ..tensor import Tensor
from .optimizer import (
    Optimizer,
    _array,
    _arrays,
    _caster,
    _check_hyper,
    _check_lr,
    _grad_with_l2,
    _hyper,
    _nonzero,
    _write,
)

__all__ = ["SGD"]


@_lazy.jit(static_argnames=("nesterov", "maximize", "has_wd", "has_momentum"))
def _sgd_update(
    params,
    grads,
    bufs,
    lr,
    weight_decay,
    momentum,
    dampening,
    *,
    nesterov,
    maximize,
    has_wd,
    has_momentum,
):
    """PyTorch's documented SGD on lists of arrays; returns the new parameters and buffers.

    g <- -g if maximize;  g <- g + wd p;  b <- g (first step) or mu b + (1 - dampening) g;
    g <- g + mu b (nesterov) or b;  p <- p - lr g.
    A missing buffer (``None``) is the first step: it starts as the gradient, not as zeros.
    """
    new_params, new_bufs = [], []
    for p, g, buf in zip(params, grads, bufs):
        c = _caster(p.dtype)
        g = _grad_with_l2(p, g, c, weight_decay, maximize, has_wd)
        if has_momentum:
            buf = g if buf is None else buf * c(momentum) + c(1 - dampening) * g
            g = g + c(momentum) * buf if nesterov else buf
        new_params.append(p - c(lr) * g)
        new_bufs.append(buf)
    return new_params, new_bufs


class SGD(Optimizer):
    """Stochastic gradient descent (optionally with momentum), as ``torch.optim.SGD``.

    The momentum buffer starts as the first gradient (PyTorch's convention, not zeros) and lives in
    ``state[p]['momentum_buffer']`` only when ``momentum != 0``. ``weight_decay`` adds an L2 term to
    the gradient; ``maximize`` ascends. ``foreach`` and ``fused`` are accepted: every step already
    runs as one fused, compiled update per group. ``differentiable=True`` raises
    ``NotImplementedError``.
    """

    _traced_hyperparameters = ("lr", "momentum")

    def __init__(
        self,
        params: Iterable[Tensor] | Iterable[dict],
        lr: float | Tensor = 1e-3,
        momentum: float = 0,
        dampening: float = 0,
        weight_decay: float = 0,
        nesterov: bool = False,
        *,
        maximize: bool = False,
        foreach: bool | None = None,
        differentiable: bool = False,
        fused: bool | None = None,
    ) -> None:
        _check_lr(lr)
        _check_hyper("momentum value", momentum)
        _check_hyper("weight_decay value", weight_decay)
        defaults = {
            "lr": lr,
            "momentum": momentum,
            "dampening": dampening,
            "weight_decay": weight_decay,
            "nesterov": nesterov,
            "maximize": maximize,
            "foreach": foreach,
            "differentiable": differentiable,
            "fused": fused,
        }
        if nesterov and (momentum <= 0 or dampening != 0):
            raise ValueError("Nesterov momentum requires a momentum and zero dampening")
        super().__init__(params, defaults)

    def _update_group(self, group: dict[str, Any]) -> None:
        params = self._with_grad(group)
        if not params:
            return
        has_momentum = _nonzero(group["momentum"])
        bufs = [self.state[p].get("momentum_buffer") if has_momentum else None for p in params]
        new_params, new_bufs = _sgd_update(
            _arrays(params),
            _arrays(p._grad for p in params),
            [None if b is None else _array(b) for b in bufs],
            _hyper(group["lr"]),
            group["weight_decay"],
            _hyper(group["momentum"]),
            group["dampening"],
            nesterov=bool(group["nesterov"]),
            maximize=bool(group["maximize"]),
            has_wd=group["weight_decay"] != 0,
            has_momentum=has_momentum,
        )
        for p, new_p, new_buf in zip(params, new_params, new_bufs):
            _write(p, new_p)
            if has_momentum:
                state = self.state[p]
                if state.get("momentum_buffer") is None:
                    state["momentum_buffer"] = Tensor._wrap(new_buf)
                else:
                    _write(state["momentum_buffer"], new_buf)
