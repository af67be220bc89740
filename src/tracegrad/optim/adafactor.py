"""``Adafactor``: adaptive step sizes from a factored (row and column) second-moment estimate
(Shazeer and Stern, 2018), as PyTorch's ``torch.optim.Adafactor``."""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any

import jax
import jax.numpy as jnp

from .. import lazy as _lazy
from ..tensor import Tensor
from .optimizer import (
    Optimizer,
    _array,
    _arrays,
    _caster,
    _host,
    _hyper,
    _lerp_traced,
    _placed_like,
    _step_tensor,
    _write,
    _zeros_like,
)

__all__ = ["Adafactor"]


def _norm(x, axis=None):
    """The 2-norm in ``x``'s dtype, accumulated in float64 (PyTorch's CPU reductions accumulate
    float32 in double)."""
    wide = x.astype(jnp.float64)
    return jnp.sqrt(jnp.sum(wide * wide, axis=axis, keepdims=axis is not None)).astype(x.dtype)


@_lazy.jit(static_argnames=("maximize", "has_wd"))
def _adafactor_update(
    params, grads, row_vars, col_vars, variances, steps, lr, beta2_decay, eps1, eps2, d,
    weight_decay, *, maximize, has_wd,
):  # fmt: skip
    """PyTorch's Adafactor on lists of arrays (``row_vars``/``col_vars`` hold ``None`` for
    parameters of fewer than two dimensions, ``variances`` ``None`` for the others); returns the
    new (params, row_vars, col_vars, variances, steps).

    w = t^beta2_decay;  rho = min(lr, 1 / sqrt(t));  alpha = max(eps2, rms(p)) rho;
    p <- p (1 - lr wd);  matrices: R <- lerp(R, mean_row(g^2), w), C <- lerp(C, mean_col(g^2), w),
    V = R C / max(mean(R), eps1);  else V <- lerp(V, g^2, w);
    u = g / sqrt(max(V, eps1^2));  p <- p - alpha / max(1, rms(u) / d) u.
    PyTorch reads ``rms(p)`` and ``rms(u)`` back to the host; here they stay on the device, and
    the scalar math is float64 as PyTorch's.
    """
    out_p, out_r, out_c, out_v, out_t = [], [], [], [], []
    for i, (p, g, t) in enumerate(zip(params, grads, steps)):
        c = _caster(p.dtype)
        if maximize:
            g = -g
        t = t + 1
        step = _host(t)
        one_minus_beta2_t = c(step**beta2_decay)
        rho_t = jnp.minimum(_host(lr), 1 / (step**0.5))
        alpha = jnp.maximum(eps2, _host(_norm(p)) / math.sqrt(p.size)) * rho_t
        if has_wd:
            p = p * c(1 - _host(lr) * weight_decay)
        if g.ndim > 1:
            row_mean = jnp.square(_norm(g, -1)) / g.shape[-1]
            row_var = _lerp_traced(row_vars[i], row_mean, one_minus_beta2_t)
            col_mean = jnp.square(_norm(g, -2)) / g.shape[-2]
            col_var = _lerp_traced(col_vars[i], col_mean, one_minus_beta2_t)
            var_estimate = row_var @ col_var
            var_estimate = var_estimate / jnp.maximum(
                jnp.mean(row_var, axis=-2, keepdims=True), c(eps1)
            )
            out_r.append(row_var)
            out_c.append(col_var)
            out_v.append(None)
        else:
            variance = _lerp_traced(variances[i], g * g, one_minus_beta2_t)
            var_estimate = variance
            out_r.append(None)
            out_c.append(None)
            out_v.append(variance)
        update = jax.lax.rsqrt(jnp.maximum(var_estimate, c(eps1 * eps1))) * g
        denom = jnp.maximum(1.0, _host(_norm(update)) / (math.sqrt(update.size) * d))
        out_p.append(p + c(-alpha / denom) * update)
        out_t.append(t)
    return out_p, out_r, out_c, out_v, out_t


class Adafactor(Optimizer):
    """Adafactor, as ``torch.optim.Adafactor`` (PyTorch 2.5+).

    State per parameter: ``step`` and, for parameters of two or more dimensions, the factored
    ``row_var`` (last dimension reduced to 1) and ``col_var`` (second-to-last reduced to 1);
    for the others ``variance``. ``eps=(eps1, eps2)``: ``eps1=None`` means the machine epsilon
    of the parameter's dtype. ``weight_decay`` decays the parameter by ``1 - lr * weight_decay``.
    """

    def __init__(
        self,
        params: Iterable[Tensor] | Iterable[dict],
        lr: float | Tensor = 1e-2,
        beta2_decay: float = -0.8,
        eps: tuple[float | None, float] = (None, 1e-3),
        d: float = 1.0,
        weight_decay: float = 0.0,
        *,
        foreach: bool | None = None,
        maximize: bool = False,
    ) -> None:
        if isinstance(lr, Tensor) and lr.numel() != 1:
            raise ValueError("Tensor lr must be 1-element")
        if not 0.0 <= lr:
            raise ValueError(f"Learning rate should be >= 0 but is: {lr}")
        if not 0.0 >= beta2_decay:
            raise ValueError(f"beta2_decay should be <= 0 but is: {beta2_decay}")
        if eps[0] is not None and not 0.0 <= eps[0]:
            raise ValueError(f"epsilon1 should be >= 0 but is: {eps[0]}")
        if not 0.0 <= eps[1]:
            raise ValueError(f"epsilon2 should be >= 0 but is: {eps[1]}")
        if not 1.0 <= d:
            raise ValueError(f"Clipping threshold d should be >= 1 but is: {d}")
        if not 0.0 <= weight_decay:
            raise ValueError(f"weight_decay should be >= 0 but is: {weight_decay}")
        defaults = {
            "lr": lr,
            "beta2_decay": beta2_decay,
            "eps": eps,
            "d": d,
            "weight_decay": weight_decay,
            "foreach": foreach,
            "maximize": maximize,
        }
        super().__init__(params, defaults)

    def _init(self, p: Tensor, state: dict[str, Any], group: dict[str, Any]) -> None:
        state["step"] = _step_tensor(param=p)
        g = _array(p._grad)
        if g.ndim > 1:
            row_shape = (*g.shape[:-1], 1)
            col_shape = (*g.shape[:-2], 1, g.shape[-1])
            state["row_var"] = Tensor._wrap(_placed_like(jnp.zeros(row_shape, g.dtype), p))
            state["col_var"] = Tensor._wrap(_placed_like(jnp.zeros(col_shape, g.dtype), p))
        else:
            state["variance"] = _zeros_like(p._grad)

    def _update_group(self, group: dict[str, Any]) -> None:
        params = self._with_grad(group)
        for p in params:
            if p.is_complex():
                raise RuntimeError("Adafactor does not support complex parameters")
        params, states = self._prepare(group)
        if not params:
            return
        eps1, eps2 = group["eps"]
        if eps1 is None:  # PyTorch takes it from the first parameter with a gradient
            eps1 = float(jnp.finfo(_array(params[0]).dtype).eps)
        new_p, new_r, new_c, new_v, new_t = _adafactor_update(
            _arrays(params),
            _arrays(p._grad for p in params),
            [_array(s["row_var"]) if "row_var" in s else None for s in states],
            [_array(s["col_var"]) if "col_var" in s else None for s in states],
            [_array(s["variance"]) if "variance" in s else None for s in states],
            _arrays(s["step"] for s in states),
            _hyper(group["lr"]),
            group["beta2_decay"],
            eps1,
            eps2,
            group["d"],
            group["weight_decay"],
            maximize=bool(group["maximize"]),
            has_wd=group["weight_decay"] != 0,
        )
        for i, (p, s) in enumerate(zip(params, states)):
            _write(p, new_p[i])
            _write(s["step"], new_t[i])
            for key, arrays in (("row_var", new_r), ("col_var", new_c), ("variance", new_v)):
                if key in s:
                    _write(s[key], arrays[i])
