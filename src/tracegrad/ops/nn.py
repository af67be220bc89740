"""Ops of ``nn.functional`` with dedicated rules: ``layer_norm``, and the losses ``nll_loss``,
``mse_loss``, ``binary_cross_entropy`` and ``binary_cross_entropy_with_logits``.

Each takes its ``reduction`` (``"none"``, ``"sum"``, ``"mean"``) as a static param, so the whole
loss is one node named as PyTorch names it (``NllLossBackward0`` sits on top of every
``cross_entropy``). The public functions with PyTorch's signatures and checks live in
``tracegrad.nn.functional``; the other losses there are composed from existing ops.
"""

from __future__ import annotations

import jax.numpy as jnp
import numpy as np
from jax import lax

from ..tensor import Tensor, tensor
from .elementwise import logsigmoid, sigmoid, where
from .registry import defop, needs_grad

__all__: list[str] = []


def _reduce(loss, reduction: str):
    """Reduce an elementwise loss (a jax array) as PyTorch's ``reduction`` says."""
    if reduction == "sum":
        return loss.sum()
    if reduction == "mean":
        return loss.mean()
    return loss


def _scale(g: Tensor, reduction: str, n: int) -> Tensor:
    """The cotangent of each element of the unreduced loss: ``mean`` spreads ``g`` over ``n``."""
    return g / n if reduction == "mean" else g


# ------------------------------------------------------------------------------------- layer_norm
# Over the trailing dims D (n elements): mu = mean(x), r = 1 / sqrt(var(x) + eps) (biased var),
# xh = (x - mu) r, out = xh w + b. With h = g w (g where there is no weight):
#   dx = r (h - mean(h) - xh mean(h xh))      (means over D)
#   dw = sum(g xh), db = sum(g)               (sums over the leading dims)
# One node, as PyTorch's NativeLayerNormBackward0, where the composed form recorded eight; mean
# and r are recomputed by the rule (in a compiled backward XLA fuses them with the rest).
# float16/bfloat16 inputs are normalised in float32, as PyTorch does, and rounded back.
@defop("NativeLayerNormBackward0", saves=(0, 1), fuse=True)
def _layer_norm(x, w, b, *, dims, eps):
    low = x.dtype in (jnp.float16, jnp.bfloat16)
    xf = x.astype(jnp.float32) if low else x
    mean = xf.mean(dims, keepdims=True)
    xc = xf - mean
    out = xc * lax.rsqrt(jnp.square(xc).mean(dims, keepdims=True) + eps)
    if low:
        out = out.astype(x.dtype)
    if w is not None:
        out = out * w
    if b is not None:
        out = out + b
    return out


@_layer_norm.vjp
def _(g, out, x, w, b, *, dims, eps):
    lead = tuple(range(x.ndim - len(dims)))
    need_x, need_w, need_b = needs_grad(x), needs_grad(w), needs_grad(b)
    dtype = x.dtype
    low = dtype.is_floating_point and dtype.itemsize == 2
    if low:  # in float32, as the forward
        x, g = x.float(), g.float()
    mean = x.mean(dims, keepdim=True)
    xc = x - mean
    rstd = ((xc * xc).mean(dims, keepdim=True) + eps).rsqrt()
    xh = xc * rstd
    gx = gw = gb = None
    if need_x:
        h = g if w is None else g * w
        gx = rstd * (h - h.mean(dims, keepdim=True) - xh * (h * xh).mean(dims, keepdim=True))
        gx = gx.to(dtype) if low else gx
    if need_w:
        gw = (g * xh).sum(lead) if lead else g * xh
    if need_b:
        gb = g.sum(lead) if lead else g
    return gx, gw, gb


# --------------------------------------------------------------------------------------- nll_loss
# Operands: log-probabilities x of shape (N, C, *d), class indices t of shape (N, *d), and per-class
# weights w of shape (C,) or None. With M[i, c] = [t_i == c and t_i != ignore_index] (a constant):
#   loss_i = -w_{t_i} x[i, t_i] = -sum_c M[i, c] w_c x[i, c]
#   mean   = sum_i loss_i / sum_i w_{t_i}      (PyTorch divides by the total weight, not by N)
# so dx[i, c] = -gi w_c M[i, c] with gi = g (none, sum) or g / total (mean), and
# dw_c = sum_i M[i, c] gi (-x[i, t_i] - mean) for mean (quotient rule), without "- mean" otherwise.
# The output is not saved: like PyTorch's, the loss may be changed in place (``loss += reg``) before
# backward. Only dw reads the mean, and it is recomputed from the saved operands. PyTorch offers no
# dw at all (``F.nll_loss`` refuses a weight that requires grad, as it does); the rule keeps it so
# the op is differentiable in every operand, as the registry's oracle tests check.
def _nll_mask(t, c: int, ndim: int, ignore_index: int, xp):
    """M above, shape (N, C, *d), as 0/1 values of the array library ``xp`` (jnp or tracegrad)."""
    classes = np.arange(c).reshape((1, c) + (1,) * (ndim - 2))
    if xp is jnp:
        t1 = jnp.expand_dims(t, 1)
        return (t1 == classes) & (t1 != ignore_index)
    t1 = t.unsqueeze(1)
    return (t1 == tensor(classes)).logical_and(t1 != ignore_index)


def _class_view(w, ndim: int):
    """Per-class weights shaped to broadcast along axis 1 of an (N, C, *d) array."""
    return w.reshape((1, -1) + (1,) * (ndim - 2))


@defop("NllLossBackward0", saves=(0, 1, 2), fuse=True)
def _nll_loss(x, target, weight, *, ignore_index, reduction):
    # A gather, not a masked sum: an ignored or unpicked -inf log-probability must not give NaN.
    valid = target != ignore_index
    t = jnp.where(valid, target, 0)
    picked = jnp.take_along_axis(x, jnp.expand_dims(t, 1), axis=1).squeeze(1)
    w = valid.astype(x.dtype) if weight is None else jnp.where(valid, weight[t], 0)
    loss = jnp.where(valid, -picked * w, 0)
    if reduction == "mean":
        return loss.sum() / w.sum()
    return loss.sum() if reduction == "sum" else loss


@_nll_loss.vjp
def _(g, out, x, target, weight, *, ignore_index, reduction):
    mask = _nll_mask(target, x.shape[1], x.ndim, ignore_index, None).to(x.dtype)
    wm = mask * _class_view(weight, x.ndim) if weight is not None else mask
    if reduction == "mean":
        # With every target ignored the loss is 0/0 = NaN, but (as in PyTorch) no element was
        # picked, so the gradient is 0: divide by 1 instead of 0 there.
        total = wm.sum()
        gi = g / where(total == 0, 1.0, total)
    else:
        gi = g
    # PyTorch writes -w * g at the picked elements only: a where, not a product with the mask,
    # so a non-finite cotangent gives no NaN at the elements not picked (in a compiled program
    # too, where XLA turns a product with a mask into a select).
    gx = where(mask > 0, -(gi.unsqueeze(1) if gi.ndim else gi) * wm, 0.0) if needs_grad(x) else None
    gw = None
    if needs_grad(weight):
        coef = -where(mask > 0, x, 0.0).sum(1)  # -x[i, t_i]; a where, so -inf elsewhere is fine
        if reduction == "mean":
            coef = coef - (coef * wm.sum(1)).sum() / total  # minus the mean loss
        gw = (mask * (gi * coef).unsqueeze(1)).sum([d for d in range(x.ndim) if d != 1])
    return gx, None, gw


# --------------------------------------------------------------------------------------- mse_loss
# loss = reduce((a - b)^2): da = 2 (a - b) gi, db = -da, gi = g / numel for mean. The engine sums
# the broadcast gradient back to each operand's shape.
@defop("MseLossBackward0", promote="float", fuse=True)
def _mse_loss(a, b, *, reduction):
    return _reduce(jnp.square(a - b), reduction)


@_mse_loss.vjp
def _(g, out, a, b, *, reduction):
    n = int(np.prod(np.broadcast_shapes(a.shape, b.shape)))
    ga = 2 * (a - b) * _scale(g, reduction, n)
    return (ga if needs_grad(a) else None), (-ga if needs_grad(b) else None)


# -------------------------------------------------------------------------- binary_cross_entropy
# loss = -w (y max(log x, -100) + (1 - y) max(log(1 - x), -100)), PyTorch's clamp keeping the loss
# finite at x = 0 or 1. Off the clamp, dx = w (x - y) / (x (1 - x)); PyTorch floors the denominator
# at 1e-12 so the gradient stays finite at the ends too. dy = w (log(1 - x) - log x) (clamped logs)
# and dw = the unweighted loss.
@defop("BinaryCrossEntropyBackward0", fuse=True)
def _binary_cross_entropy(x, y, weight, *, reduction):
    lx = jnp.maximum(jnp.log(x), -100.0)
    l1x = jnp.maximum(jnp.log1p(-x), -100.0)
    loss = -(y * lx + (1 - y) * l1x)
    if weight is not None:
        loss = loss * weight
    return _reduce(loss, reduction)


@_binary_cross_entropy.vjp
def _(g, out, x, y, weight, *, reduction):
    gi = _scale(g, reduction, x.numel())
    gw = gi if weight is None else gi * weight
    gx = gw * (x - y) / (x * (1 - x)).clamp(min=1e-12) if needs_grad(x) else None
    gy = gww = None
    if needs_grad(y) or needs_grad(weight):
        lx = x.log().clamp(min=-100.0)
        l1x = (-x).log1p().clamp(min=-100.0)
        gy = gw * (l1x - lx) if needs_grad(y) else None
        gww = -(y * lx + (1 - y) * l1x) * gi if needs_grad(weight) else None
    return gx, gy, gww


# -------------------------------------------------------------- binary_cross_entropy_with_logits
# With s = sigmoid(x), ls = log(s) (computed stably), w the weight and p the positive weight:
#   loss = w ((1 - t) x - (1 + (p - 1) t) ls)
#   dx = w ((1 - t) - (1 + (p - 1) t) (1 - s))      (= w (s - t) without p)
#   dt = w (-x - (p - 1) ls),  dw = loss / w,  dp = -w t ls
@defop("BinaryCrossEntropyWithLogitsBackward0", saves=(0, 1, 2, 3), fuse=True)
def _binary_cross_entropy_with_logits(x, t, weight, pos_weight, *, reduction):
    ls = -jnp.logaddexp(0.0, -x)
    coef = 1 + (pos_weight - 1) * t if pos_weight is not None else 1
    loss = (1 - t) * x - coef * ls
    if weight is not None:
        loss = loss * weight
    return _reduce(loss, reduction)


@_binary_cross_entropy_with_logits.vjp
def _(g, out, x, t, weight, pos_weight, *, reduction):
    gi = _scale(g, reduction, x.numel() if reduction == "mean" else 1)
    gw = gi if weight is None else gi * weight
    ls = logsigmoid(x)
    coef = 1 if pos_weight is None else 1 + (pos_weight - 1) * t
    gx = gt = gweight = gpos = None
    if needs_grad(x):
        gx = gw * ((sigmoid(x) - t) if pos_weight is None else (1 - t) - coef * (1 - sigmoid(x)))
    if needs_grad(t):
        gt = gw * (-x if pos_weight is None else -x - (pos_weight - 1) * ls)
    if needs_grad(weight):
        gweight = gi * ((1 - t) * x - coef * ls)
    if needs_grad(pos_weight):
        gpos = -gw * t * ls
    return gx, gt, gweight, gpos
