"""Scaled dot-product attention as one op, with a memory-lean VJP (``F.scaled_dot_product_attention``).

The forward is PyTorch's math definition::

    S = scale * Q K^T + M        (M: a float mask added, or -inf where a bool mask is False / above
                                  the diagonal when causal)
    P = softmax(S, -1)           (in float32 or wider; a row masked everywhere gives P = 0)
    O = (P * Z) V                (Z: the dropout keep mask over 1 - p; Z = 1 without dropout)

Composed from ``matmul``, ``softmax`` and ``matmul``, the recorded graph would keep the ``L x S``
probabilities (twice: softmax saves its output, the second matmul its input) for every batch and
head, which dominates a transformer's activation memory. As one op, the node keeps only ``Q``, ``K``,
``V``, the mask and the dropout seed; the rule recomputes ``S`` and ``P`` (the FlashAttention
backward, Dao et al. 2022). Derivation, with ``dO`` the output's cotangent and ``Pd = P * Z``:

    dV = Pd^T dO
    dPd = dO V^T,  dP = dPd * Z
    dS = P * (dP - delta),  delta = rowsum(P * dP)   (the softmax VJP)
    dQ = scale * dS K,  dK = scale * dS^T Q,  dM = dS (a float mask's gradient, as PyTorch's)

``delta`` is also ``rowsum(dO * O)`` (because ``rowsum(P * Z * dO V^T) = rowsum(dO * (Pd V))``),
which is what FlashAttention uses to avoid a pass over ``L x S``; here ``P`` is materialized anyway
(XLA fuses the row sum into its producer), so ``O`` is not saved either. The recomputation is one
extra ``Q K^T`` matmul in the backward, against ``L x S`` activations per head kept until it.

Grouped-query attention (``enable_gqa``) repeats the key/value heads inside the op, so the node
saves the un-repeated ``K`` and ``V``; the rule sums each group's gradients back onto its head.

Dropout draws its keep mask from a seed operand (the raw data of a JAX key, as int64, drawn from
tracegrad's generator by the caller, as ``standard_gamma`` does): the rule regenerates the very same
mask from it, so the ``L x S`` mask is not stored either.
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp

from .. import random as _random
from .._dtype import as_dtype, bool_, cpp_type_name, float32, scalar_type_name
from ..tensor import Tensor
from .broadcast import _infer_size
from .registry import defop, needs_grad

__all__: list[str] = []

# PyTorch's CPU dispatch picks its fused flash kernel for 4-d inputs with equal query and value
# head sizes (and equal key and value head counts), no dropout and a mask that needs no gradient,
# and the math composite otherwise, whose last recorded op is an ``_unsafe_view`` (an ``mm`` for
# 2-d inputs); the ``name`` param carries the grad_fn name PyTorch reports for each.
_FLASH = "ScaledDotProductFlashAttentionForCpuBackward0"
_MATH = "UnsafeViewBackward0"
_MATH_2D = "MmBackward0"


def _grad_fn_name(query, key, value, mask_grad: bool, dropout: bool, gk: int, gv: int) -> str:
    dims = (query.ndim, key.ndim, value.ndim)
    if dims == (2, 2, 2):
        return _MATH_2D
    same_e = query.shape[-1] == value.shape[-1]
    if dims == (4, 4, 4) and same_e and gk == gv and not dropout and not mask_grad:
        return _FLASH
    return _MATH


def _compute_dtype(dtype):
    """Softmax precision: float32 for half-precision inputs, the input's own dtype otherwise."""
    return jnp.promote_types(dtype, jnp.float32)


def _keep_mask(seed, shape: tuple, p: float):
    """The dropout keep mask (bool, ``shape``) drawn from the key whose raw data is ``seed``."""
    key = jax.random.wrap_key_data(seed.astype(jnp.uint32))
    return jax.random.bernoulli(key, 1.0 - p, shape)


@defop("BernoulliBackward0", name="sdpa_dropout_keep")
def _sdpa_keep(seed, *, shape, p):
    """The keep mask of attention dropout (no gradient): what the rule regenerates from the seed."""
    return _keep_mask(seed, shape, p)


# ``fuse``: the forward is one compiled call, so XLA fuses the mask, softmax and dropout into the
# matmuls instead of materializing each L x S intermediate in an eager dispatch of its own.
@defop(
    lambda p: p.get("name", _MATH),
    saves=(0, 1, 2, 3, 4),
    name="scaled_dot_product_attention",
    fuse=True,
)
def _sdpa(
    q, k, v, mask, seed, *, scale, causal=False, dropout_p=0.0, diagonal=0, gk=1, gv=1, name=_MATH
):
    """Attention of ``q`` (..., L, E) over ``k`` (..., S, E) and ``v`` (..., S, Ev); ``mask`` is
    None, bool (True takes part) or float (added to the scores); ``gk``/``gv`` repeat the key/value
    heads (dim -3) for grouped-query attention; ``seed`` (a JAX key's data) draws the dropout mask
    when ``dropout_p > 0``."""
    if gk > 1:
        k = jnp.repeat(k, gk, axis=-3)
    if gv > 1:
        v = jnp.repeat(v, gv, axis=-3)
    ct = _compute_dtype(q.dtype)
    s = jnp.matmul(q.astype(ct), jnp.swapaxes(k, -1, -2).astype(ct)) * jnp.asarray(scale, ct)
    if mask is not None:
        s = jnp.where(mask, s, -jnp.inf) if mask.dtype == jnp.bool_ else s + mask.astype(ct)
    if causal:
        s = jnp.where(jnp.tril(jnp.ones(s.shape[-2:], bool), diagonal), s, -jnp.inf)
    # A row with every score -inf (fully masked) gives 0, as PyTorch's CPU kernels do, rather than
    # softmax's NaN; its scores are replaced before the softmax so no NaN enters any derivative.
    dead = jnp.all(s == -jnp.inf, axis=-1, keepdims=True)
    p = jnp.where(dead, 0, jax.nn.softmax(jnp.where(dead, 0, s), axis=-1))
    if dropout_p > 0:
        keep = _keep_mask(seed, s.shape, dropout_p)
        p = jnp.where(keep, p / (1 - dropout_p), 0) if dropout_p < 1 else jnp.zeros_like(p)
    return jnp.matmul(p.astype(q.dtype), v)


def _expand_heads(x: Tensor, groups: int) -> Tensor:
    return x.repeat_interleave(groups, dim=-3) if groups > 1 else x


def _fold_heads(grad: Tensor, groups: int) -> Tensor:
    """The gradient of a head repeated ``groups`` times (``repeat_interleave`` on dim -3): each
    group of consecutive heads sums onto the head it was copied from."""
    if groups == 1:
        return grad
    heads = grad.shape[-3]
    return grad.unflatten(-3, (heads // groups, groups)).sum(-3)


def _probs(q: Tensor, k: Tensor, mask, scale: float, causal: bool, diagonal: int) -> Tensor:
    """``P`` recomputed in tracegrad ops (so the rule is differentiable again), as the lowering."""
    ct = as_dtype(_compute_dtype(q._storage.array.dtype))
    s = q.to(ct).matmul(k.to(ct).transpose(-2, -1)) * scale
    if mask is not None:
        s = s.masked_fill(mask.logical_not(), -math.inf) if mask.dtype == bool_ else s + mask.to(ct)
    if causal:
        allowed = Tensor._wrap(jnp.tril(jnp.ones(tuple(s.shape[-2:]), bool), diagonal))
        s = s.masked_fill(allowed.logical_not(), -math.inf)
    dead = (s == -math.inf).all(-1, keepdim=True)
    return s.masked_fill(dead, 0.0).softmax(-1).masked_fill(dead, 0.0)


@_sdpa.vjp
def _(
    g,
    out,
    q,
    k,
    v,
    mask,
    seed,
    *,
    scale,
    causal=False,
    dropout_p=0.0,
    diagonal=0,
    gk=1,
    gv=1,
    name=_MATH,
):
    kk, vv = _expand_heads(k, gk), _expand_heads(v, gv)
    p = _probs(q, kk, mask, scale, causal, diagonal)  # float32 or wider
    z = None
    if dropout_p > 0:
        keep = _sdpa_keep(seed, shape=tuple(p.shape), p=dropout_p)
        z = keep.to(p.dtype) * (1.0 / (1.0 - dropout_p) if dropout_p < 1 else 0.0)
    dt = q.dtype
    dq = dk = dv = dmask = None
    if needs_grad(v):
        pd = p if z is None else p * z
        dv = _fold_heads(pd.to(dt).transpose(-2, -1).matmul(g), gv)
    if needs_grad(q) or needs_grad(k) or needs_grad(mask):
        dp = g.matmul(vv.transpose(-2, -1)).to(p.dtype)
        if z is not None:
            dp = dp * z
        ds = p * (dp - (p * dp).sum(-1, keepdim=True))
        if needs_grad(mask):
            dmask = ds
        ds = ds.to(dt)
        if needs_grad(q):
            dq = ds.matmul(kk) * scale
        if needs_grad(k):
            dk = _fold_heads(ds.transpose(-2, -1).matmul(q) * scale, gk)
    return dq, dk, dv, dmask, None


# ------------------------------------------------------------------------------ the public function
def _dim_error(n: int) -> IndexError:
    return IndexError(
        f"Dimension out of range (expected to be in range of [{-n}, {n - 1}], but got -3)"
    )


def _check(query: Tensor, key: Tensor, value: Tensor, attn_mask, dropout_p, is_causal, enable_gqa):
    """PyTorch's checks, in its order, with its error types and messages; the group sizes."""
    if query.ndim < 2 or key.ndim < 2 or value.ndim < 2:
        raise RuntimeError(
            "Expected query, key, and value to all be  at least 2 dimensional, but got query.dim: "
            f"{query.ndim} key.dim: {key.ndim} and value.dim: {value.ndim} instead."
        )
    if not (query.dtype == key.dtype == value.dtype):
        raise RuntimeError(
            "Expected query, key, and value to have the same dtype, but got query.dtype: "
            f"{cpp_type_name(query.dtype)} key.dtype: {cpp_type_name(key.dtype)} and "
            f"value.dtype: {cpp_type_name(value.dtype)} instead."
        )
    # "bool or float": float32 is accepted with every query dtype (PyTorch's check).
    if attn_mask is not None and attn_mask.dtype not in (bool_, float32, query.dtype):
        raise RuntimeError(
            "Expected attn_mask dtype to be bool or float or to match query dtype, but got "
            f"attn_mask.dtype: {cpp_type_name(attn_mask.dtype)} and  query.dtype: "
            f"{cpp_type_name(query.dtype)} instead."
        )
    if is_causal and attn_mask is not None:
        raise RuntimeError(
            "_scaled_dot_product_attention: Explicit attn_mask should not be set when is_causal=True"
        )
    if dropout_p > 1:
        raise RuntimeError(f"dropout probability has to be between 0 and 1, but got {dropout_p}")
    if not query.dtype.is_floating_point:
        raise RuntimeError(f"expected scalar type Float but found {scalar_type_name(query.dtype)}")
    gk = gv = 1
    if enable_gqa:
        for x in (query, key, value):
            if x.ndim < 3:
                raise _dim_error(x.ndim)
        hq, hk, hv = query.shape[-3], key.shape[-3], value.shape[-3]
        if hk == 0 or hv == 0 or hq % hk or hq % hv:
            raise RuntimeError(
                "Number of heads in key and value must divide the number of heads in "
            )
        gk, gv = hq // hk, hq // hv
    return gk, gv


def scaled_dot_product_attention(
    query: Tensor,
    key: Tensor,
    value: Tensor,
    attn_mask: Tensor | None = None,
    dropout_p: float = 0.0,
    is_causal: bool = False,
    *,
    scale: float | None = None,
    enable_gqa: bool = False,
    diagonal: int = 0,
) -> Tensor:
    """``softmax(query @ key^T * scale + mask) @ value`` as one recorded op (see the module notes);
    the implementation behind ``tracegrad.nn.functional.scaled_dot_product_attention``.
    ``diagonal`` shifts the causal triangle (``torch.tril``'s argument; ``S - L`` aligns it to
    the lower right, as ``nn.attention.bias.causal_lower_right``)."""
    gk, gv = _check(query, key, value, attn_mask, dropout_p, is_causal, enable_gqa)
    qs, ks, vs = tuple(query.shape), tuple(key.shape), tuple(value.shape)
    khs = ks[:-3] + (ks[-3] * gk,) + ks[-2:] if gk > 1 else ks
    vhs = vs[:-3] + (vs[-3] * gv,) + vs[-2:] if gv > 1 else vs
    # The two matmuls' checks (PyTorch runs them as bmm over the flattened broadcast batch).
    batch = _infer_size(qs[:-2], khs[:-2])
    flat = math.prod(batch)
    if qs[-1] != ks[-1]:
        raise RuntimeError(
            "Expected size for first two dimensions of batch2 tensor to be: "
            f"[{flat}, {qs[-1]}] but got: [{flat}, {ks[-1]}]."
        )
    scores = batch + (qs[-2], ks[-2])
    if attn_mask is not None:
        full = _infer_size(scores, tuple(attn_mask.shape))
        if full != scores:
            raise RuntimeError(
                f"output with shape {list(scores)} doesn't match the broadcast shape {list(full)}"
            )
    batch = _infer_size(batch, vhs[:-2])
    flat = math.prod(batch)
    if vs[-2] != ks[-2]:
        raise RuntimeError(
            "Expected size for first two dimensions of batch2 tensor to be: "
            f"[{flat}, {ks[-2]}] but got: [{flat}, {vs[-2]}]."
        )
    if scale is None:
        # With E = 0 the scores are exactly 0 whatever the scale (PyTorch: a uniform average).
        scale = 1.0 / math.sqrt(qs[-1]) if qs[-1] else 1.0
    p = float(dropout_p) if dropout_p > 0 else 0.0
    seed = None
    if p > 0:
        seed = Tensor._wrap(jax.random.key_data(_random.next_key()).astype(jnp.int64))
    mask_grad = attn_mask is not None and attn_mask.requires_grad
    name = _grad_fn_name(query, key, value, mask_grad, p > 0, gk, gv)
    return _sdpa(
        query,
        key,
        value,
        attn_mask,
        seed,
        scale=float(scale),
        causal=bool(is_causal),
        diagonal=int(diagonal) if is_causal else 0,
        dropout_p=p,
        gk=gk,
        gv=gv,
        name=name,
    )
