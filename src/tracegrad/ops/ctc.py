"""The connectionist temporal classification loss (``ctc_loss``), as PyTorch's ``_ctc_loss``.

The forward is the alpha recursion of Graves et al. in log space over the extended label sequence
``l'`` (a blank before, between and after the target labels), one ``lax.scan`` over time for the
whole batch. Its rule is ``ctc_loss_backward``: the beta recursion (a reverse scan), after which
``alpha_t(s) + beta_t(s) - lp[t, l'(s)]`` summed over the states of each class is the log of that
class's posterior occupancy at ``t``.

PyTorch's gradient convention: ``ctc_loss_backward`` returns ``g * (exp(lp) - occupancy)``, not
``-g * occupancy`` (the derivative of the negative log likelihood). The extra ``exp(lp)`` is the
gradient of ``sum_{t < L, c} exp(lp[t, c])``, which is the constant ``L`` when the rows of ``lp``
come from ``log_softmax`` (PyTorch's assumption), and through ``log_softmax`` both give the same
logits gradient. The lowering spells that convention out as ``nll + (E - stop(E))``: the value is
``nll`` exactly and its derivative is PyTorch's, so JAX's autodiff of the lowering checks the rule.
"""

from __future__ import annotations

import jax.numpy as jnp
from jax import lax

from .registry import defop, not_implemented_rule

__all__: list[str] = []


def _lse(*xs):
    """log(sum(exp(x))) of same-shaped arrays; -inf where all are -inf, without NaNs (also in JAX's
    derivative of it, which the tests use as the oracle)."""
    m = xs[0]
    for x in xs[1:]:
        m = jnp.maximum(m, x)
    m0 = jnp.where(jnp.isfinite(m), m, 0)
    total = sum(jnp.exp(x - m0) for x in xs)
    ok = total > 0
    return jnp.where(ok, m0 + jnp.log(jnp.where(ok, total, 1)), -jnp.inf)


def _padded(targets, target_lengths, s_max: int):
    """Targets as an (N, s_max) array: the padded form as it is, the concatenated form gathered
    from each sample's offset (PyTorch's ``tg_batch_offsets``)."""
    if targets.ndim == 2:
        return targets[:, :s_max]
    n = target_lengths.shape[0]
    if targets.shape[0] == 0 or s_max == 0:
        return jnp.zeros((n, s_max), targets.dtype)
    offsets = jnp.cumsum(target_lengths) - target_lengths
    idx = offsets[:, None] + jnp.arange(s_max)[None, :]
    return targets[jnp.clip(idx, 0, targets.shape[0] - 1)]


def _extended(log_probs, targets, target_lengths, blank: int, s_max: int):
    """The extended labels (N, 2S+1), their log probabilities at each step (T, N, 2S+1), which
    states exist (s < 2 * target_length + 1) and which may skip two states back (a label that
    differs from the label two states before)."""
    n = log_probs.shape[1]
    lab = _padded(targets, target_lengths, s_max).astype(jnp.int32)
    ext = jnp.full((n, 2 * s_max + 1), blank, jnp.int32).at[:, 1::2].set(lab)
    lp_ext = jnp.take_along_axis(
        log_probs, jnp.broadcast_to(ext[None], (log_probs.shape[0],) + ext.shape), axis=2
    )
    s = jnp.arange(2 * s_max + 1)
    valid = s[None, :] < 2 * target_lengths[:, None] + 1
    prev2 = jnp.concatenate([jnp.full((n, 2), -1, jnp.int32), ext[:, :-2]], axis=1)
    skip = (ext != blank) & (ext != prev2)
    return ext, lp_ext, valid, skip


def _shift(a, k: int):
    """``a`` moved ``k`` states to the right along the last axis, -inf coming in."""
    if k == 0:
        return a
    pad = jnp.full(a.shape[:-1] + (abs(k),), -jnp.inf, a.dtype)
    if k > 0:
        return jnp.concatenate([pad, a[..., :-k]], axis=-1)
    return jnp.concatenate([a[..., -k:], pad], axis=-1)


def _alphas(lp_ext, valid, skip, input_lengths):
    """log alpha for every step (T, N, 2S+1); steps at or past a sample's input length are -inf."""
    t_max = lp_ext.shape[0]
    neg = jnp.asarray(-jnp.inf, lp_ext.dtype)
    first = jnp.where(valid & (jnp.arange(lp_ext.shape[2]) < 2)[None], lp_ext[0], neg)

    def step(prev, xs):
        lp_t, t = xs
        a = _lse(prev, _shift(prev, 1), jnp.where(skip, _shift(prev, 2), neg))
        return jnp.where(valid, lp_t + a, neg), prev

    last, alphas = lax.scan(step, first, (lp_ext[1:], jnp.arange(1, t_max)))
    alphas = jnp.concatenate([alphas, last[None]], axis=0) if t_max > 1 else first[None]
    live = jnp.arange(t_max)[:, None] < input_lengths[None, :]
    return jnp.where(live[..., None], alphas, neg)


def _nll(log_probs, targets, input_lengths, target_lengths, blank: int, s_max: int):
    """The negative log likelihood of each sample (N,), and the pieces the backward reuses."""
    ext, lp_ext, valid, skip = _extended(log_probs, targets, target_lengths, blank, s_max)
    alphas = _alphas(lp_ext, valid, skip, input_lengths)
    n = log_probs.shape[1]
    last_t = jnp.clip(input_lengths - 1, 0, None)
    a_last = alphas[last_t, jnp.arange(n)]  # (N, 2S+1)
    end = 2 * target_lengths
    tail = jnp.take_along_axis(a_last, end[:, None], axis=1)[:, 0]
    before = jnp.where(
        target_lengths > 0,
        jnp.take_along_axis(a_last, jnp.clip(end - 1, 0, None)[:, None], axis=1)[:, 0],
        -jnp.inf,
    )
    nll = -_lse(tail, before)
    return nll, ext, lp_ext, valid, skip, alphas


@defop("CtcLossBackward0", saves=(0, 1, 2, 3))
def _ctc_loss(log_probs, targets, input_lengths, target_lengths, *, blank, s_max, zero_infinity):
    """Per-sample CTC loss (N,) of log probabilities (T, N, C); ``zero_infinity`` makes the loss
    of an impossible alignment 0."""
    nll = _nll(log_probs, targets, input_lengths, target_lengths, blank, s_max)[0]
    # PyTorch's convention (see the module's notes): value 0, derivative exp(lp) at live steps;
    # ``zero_infinity`` zeroes the whole gradient of an impossible sample, this term's too.
    live = jnp.arange(log_probs.shape[0])[:, None] < input_lengths[None, :]
    if zero_infinity:
        live = live & ~jnp.isinf(nll)[None, :]
        nll = jnp.where(jnp.isinf(nll), jnp.zeros((), nll.dtype), nll)
    e = jnp.sum(jnp.where(live[..., None], jnp.exp(log_probs), 0), axis=(0, 2))
    return nll + (e - lax.stop_gradient(e))


@_ctc_loss.vjp
def _(g, out, log_probs, targets, input_lengths, target_lengths, *, blank, s_max, zero_infinity):
    grad = _ctc_loss_backward(
        g,
        log_probs,
        targets,
        input_lengths,
        target_lengths,
        blank=blank,
        s_max=s_max,
        zero_infinity=zero_infinity,
    )
    return grad, None, None, None


# PyTorch has no derivative of its ctc_loss_backward either: a double backward through it raises
# (the rule below), so forward mode (jacfwd) through ctc_loss raises rather than giving zeros.
@defop("NotImplemented", saves=())
def _ctc_loss_backward(
    g, log_probs, targets, input_lengths, target_lengths, *, blank, s_max, zero_infinity
):
    """PyTorch's ``ctc_loss_backward``: ``g * (exp(lp) - occupancy)`` at steps before each input
    length, 0 after; 0 for a sample whose loss is infinite when ``zero_infinity``."""
    nll, ext, lp_ext, valid, skip, alphas = _nll(
        log_probs, targets, input_lengths, target_lengths, blank, s_max
    )
    t_max, n, c = log_probs.shape
    neg = jnp.asarray(-jnp.inf, log_probs.dtype)
    end = 2 * target_lengths
    s = jnp.arange(ext.shape[1])[None, :]
    ends = valid & ((s == end[:, None]) | ((s == end[:, None] - 1) & (target_lengths[:, None] > 0)))
    # State s may come from s + 2 when the label at s + 2 may skip back to s.
    skip_next = _shift(jnp.where(skip, 0.0, neg), -2) == 0

    def step(nxt, xs):
        lp_t, t = xs
        b = _lse(nxt, _shift(nxt, -1), jnp.where(skip_next, _shift(nxt, -2), neg))
        here = jnp.where(valid, lp_t + b, neg)
        start = jnp.where(ends, lp_t, neg)
        last = (t == input_lengths - 1)[:, None]
        before = (t < input_lengths - 1)[:, None]
        beta = jnp.where(last, start, jnp.where(before, here, neg))
        return beta, beta

    init = jnp.full(ext.shape, neg, log_probs.dtype)
    _, betas = lax.scan(step, init, (lp_ext, jnp.arange(t_max)), reverse=True)
    # log of sum over the states s of class c of alpha_t(s) beta_t(s), in a max-shifted linear
    # scale so it is one scatter-add.
    ab = alphas + betas
    m = jnp.max(ab, axis=2, keepdims=True)
    m0 = jnp.where(jnp.isfinite(m), m, 0)
    idx = jnp.broadcast_to(ext[None], ab.shape)
    tt, nn_ = jnp.meshgrid(jnp.arange(t_max), jnp.arange(n), indexing="ij")
    occ = jnp.zeros((t_max, n, c), log_probs.dtype)
    occ = occ.at[tt[..., None], nn_[..., None], idx].add(jnp.exp(ab - m0))
    lcab = jnp.log(occ) + m0
    grad = jnp.exp(log_probs) - jnp.exp(lcab + nll[None, :, None] - log_probs)
    grad = grad * g[None, :, None]
    live = jnp.arange(t_max)[:, None] < input_lengths[None, :]
    keep = live[..., None]
    if zero_infinity:
        keep = keep & ~jnp.isinf(nll)[None, :, None]
    return jnp.where(keep, grad, jnp.zeros((), grad.dtype))


_ctc_loss_backward.vjp(not_implemented_rule("aten::_ctc_loss_backward"))
