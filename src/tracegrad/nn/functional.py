"""``tracegrad.nn.functional``: the functional forms of layers, as ``torch.nn.functional``.

Activations, softmax, convolutions and pooling are defined with their ops in ``tracegrad/ops`` and
re-exported by name. Linear maps, embeddings, dropout, normalisation, padding and the losses are
defined here, composed from recorded ops (so every gradient comes from the ops' hand-written
rules); ``nll_loss``, ``mse_loss`` and ``binary_cross_entropy`` are single ops of their own
(``ops/nn.py``), named as PyTorch names them.

Everything is written with tensor ops only, without Python branches on tensor values, so a step
that uses these functions can be traced and compiled (the few eager-only input checks, e.g. class
indices in range, are skipped on traced values).
"""

from __future__ import annotations

import math
import warnings
from functools import partial

import jax
import jax.numpy as jnp
import numpy as np

from .. import _queries, _tracing, creation
from .. import random as _random
from .._dtype import bool_ as _bool
from .._dtype import cpp_type_name, finfo, scalar_type_name
from .._surface import expose
from ..autograd.function import Function
from ..autograd.grad_mode import is_grad_enabled, no_grad
from ..ops import attention as _attention
from ..ops import conv as _conv
from ..ops import pooling as _pooling
from ..ops import resample as _resampling
from ..ops import resize as _resize
from ..ops import sampling as _sampling
from ..ops.conv import *  # noqa: F403
from ..ops.ctc import _ctc_loss
from ..ops.elementwise import (
    celu,
    elu,
    gelu,
    hardsigmoid,
    hardswish,
    hardtanh,
    leaky_relu,
    logsigmoid,
    mish,
    relu,
    relu6,
    selu,
    sigmoid,
    silu,
    softplus,
    tanh,
    where,
)
from ..ops.indexing import _check_range, _embedding, _select_checked, one_hot
from ..ops.linalg import baddbmm, bmm, einsum, linear_2d
from ..ops.nn import (
    _binary_cross_entropy,
    _binary_cross_entropy_with_logits,
    _layer_norm,
    _mse_loss,
    _nll_loss,
)
from ..ops.pooling import *  # noqa: F403
from ..ops.pooling import max_pool1d
from ..ops.products import cosine_similarity, pairwise_distance, pdist
from ..ops.reduction import _softmax_dim, log_softmax, softmax
from ..ops.registry import autocast_entry
from ..ops.resample import *  # noqa: F403
from ..ops.resample import pad
from ..ops.resize import *  # noqa: F403
from ..ops.shape import cat
from ..tensor import Tensor, tensor
from .attention import _any_backend_enabled
from .attention.bias import CausalBias as _CausalBias

__all__ = [
    "ctc_loss",
    "pixel_shuffle",
    "pixel_unshuffle",
    "celu",
    "elu",
    "gelu",
    "hardsigmoid",
    "hardswish",
    "hardtanh",
    "leaky_relu",
    "log_softmax",
    "logsigmoid",
    "mish",
    "one_hot",
    "relu",
    "relu6",
    "selu",
    "sigmoid",
    "silu",
    "softmax",
    "softplus",
    "tanh",
    # defined here
    "linear",
    "bilinear",
    "embedding",
    "embedding_bag",
    "dropout",
    "dropout1d",
    "dropout2d",
    "dropout3d",
    "batch_norm",
    "layer_norm",
    "group_norm",
    "normalize",
    "mse_loss",
    "l1_loss",
    "smooth_l1_loss",
    "huber_loss",
    "nll_loss",
    "cross_entropy",
    "binary_cross_entropy",
    "binary_cross_entropy_with_logits",
    "kl_div",
    "cosine_similarity",
    "pairwise_distance",
    "pdist",
    "alpha_dropout",
    "feature_alpha_dropout",
    "instance_norm",
    "rms_norm",
    "channel_shuffle",
    "hardshrink",
    "softshrink",
    "threshold",
    "threshold_",
    "relu_",
    "elu_",
    "celu_",
    "selu_",
    "leaky_relu_",
    "hardtanh_",
    "native_channel_shuffle",
    "conv_tbc",
    "softsign",
    "tanhshrink",
    "softmin",
    "glu",
    "gumbel_softmax",
    "prelu",
    "rrelu",
    "rrelu_",
    "hinge_embedding_loss",
    "margin_ranking_loss",
    "cosine_embedding_loss",
    "triplet_margin_loss",
    "poisson_nll_loss",
    "gaussian_nll_loss",
    "soft_margin_loss",
    "multilabel_soft_margin_loss",
    "max_pool1d_with_indices",
    "scaled_dot_product_attention",
    "multi_head_attention_forward",
]
__all__ += _conv.__all__ + _pooling.__all__ + _resampling.__all__ + _resize.__all__


def _concrete(t: Tensor) -> bool:
    """Whether ``t`` holds a real array (not a value being traced by ``jax.jit``)."""
    return not isinstance(t._storage.array, jax.core.Tracer)


# ------------------------------------------------------------------------------- linear, bilinear
@autocast_entry("linear")
def linear(input: Tensor, weight: Tensor, bias: Tensor | None = None) -> Tensor:
    """``input @ weight.T + bias``: a 2-D input with a bias is one ``addmm`` (as in PyTorch);
    other shapes are a ``matmul`` over the last dimension, then the bias add."""
    if input.ndim == 2 and bias is not None:
        return linear_2d(input, weight, bias)
    out = input.matmul(weight.t())
    return out if bias is None else out + bias


@autocast_entry("bilinear")
def bilinear(input1: Tensor, input2: Tensor, weight: Tensor, bias: Tensor | None = None) -> Tensor:
    """``y[..., o] = sum_ij x1[..., i] weight[o, i, j] x2[..., j] + bias[o]``; ``weight`` is
    ``(out_features, in1_features, in2_features)``."""
    if input1.shape[:-1] != input2.shape[:-1]:
        raise RuntimeError(
            "bilinear(): input batch dimensions do not match: got "
            f"{list(input1.shape[:-1])} and {list(input2.shape[:-1])}"
        )
    if weight.ndim != 3 or weight.shape[1:] != (input1.shape[-1], input2.shape[-1]):
        raise RuntimeError(
            f"bilinear(): weight of shape {list(weight.shape)} does not match inputs with "
            f"{input1.shape[-1]} and {input2.shape[-1]} features: expected "
            f"[out_features, {input1.shape[-1]}, {input2.shape[-1]}]"
        )
    lead = input1.shape[:-1]
    x1 = input1.reshape(-1, input1.shape[-1])
    x2 = input2.reshape(-1, input2.shape[-1])
    out = (einsum("bi,oij->boj", x1, weight) * x2.unsqueeze(1)).sum(-1)
    if bias is not None:
        out = out + bias
    return out.reshape(*lead, weight.shape[0])


# -------------------------------------------------------------------------------------- embedding
def embedding(
    input: Tensor,
    weight: Tensor,
    padding_idx: int | None = None,
    max_norm: float | None = None,
    norm_type: float = 2.0,
    scale_grad_by_freq: bool = False,
    sparse: bool = False,
) -> Tensor:
    """Rows of ``weight`` at the integer indices ``input``: shape ``(*input.shape, dim)``.

    ``padding_idx`` rows get no gradient; ``max_norm`` renormalises (in place, as PyTorch) the
    looked-up rows whose ``norm_type``-norm exceeds it; ``scale_grad_by_freq`` divides each row's
    gradient by how often its index occurs in ``input``. ``sparse=True`` raises: tracegrad has no
    sparse gradients (the dense one has the same values).
    """
    if sparse and weight.requires_grad and is_grad_enabled():
        raise NotImplementedError(
            "embedding(): sparse=True (a sparse gradient for the weight) is not supported; "
            "tracegrad has no sparse tensors. Use sparse=False: the dense gradient has the same "
            "values (and a dense optimizer such as Adam instead of SparseAdam)"
        )
    if input.dtype.name not in ("int64", "int32"):
        raise RuntimeError(
            "Expected tensor for argument #1 'indices' to have one of the following scalar types: "
            f"Long, Int; but got {input.dtype} instead (while checking arguments for embedding)"
        )
    n = weight.shape[0]
    if padding_idx is not None:
        if not -n <= padding_idx < n:
            raise AssertionError("Padding_idx must be within num_embeddings")
        padding_idx %= n
    _check_range(input._storage.array, 0, n, lambda bad: IndexError("index out of range in self"))
    if max_norm is not None:
        _embedding_renorm_(weight, input.reshape(-1), max_norm, norm_type)
    w = weight
    if padding_idx is not None and weight.requires_grad:
        # Same values; the padding row reads from a detached copy, so it gets no gradient.
        rows = tensor(np.arange(n) == padding_idx).unsqueeze(1)
        w = where(rows, weight.detach(), weight)
    out = _embedding(w, input)  # checked above: one read back, not two
    if scale_grad_by_freq and out.requires_grad:
        # out.detach() + (out - out.detach()) * s has out's value exactly and gradient s * g.
        idx = input.reshape(-1)
        counts = (idx.unsqueeze(1) == idx.unsqueeze(0)).sum(1).to(out.dtype)
        frozen = out.detach()
        out = frozen + (out - frozen) / counts.reshape(*input.shape, 1)
    return out


def _embedding_renorm_(weight: Tensor, idx: Tensor, max_norm: float, norm_type: float) -> None:
    """Scale, in place, the rows of ``weight`` listed in ``idx`` whose norm exceeds ``max_norm``
    to norm ``max_norm`` (PyTorch's ``embedding_renorm_``, same 1e-7 guard)."""
    with no_grad():
        used = (tensor(np.arange(weight.shape[0])).unsqueeze(1) == idx.unsqueeze(0)).any(1)
        norms = weight.norm(norm_type, dim=1)
        scale = (max_norm / (norms + 1e-7)).where(used.logical_and(norms > max_norm), 1.0)
        weight.mul_(scale.unsqueeze(1).to(weight.dtype))


# ---------------------------------------------------------------------------------- embedding_bag
_BAG_MODES = {"sum": 0, "mean": 1, "max": 2}
_FLOAT_WEIGHTS = ("float16", "bfloat16", "float32", "float64")


def embedding_bag(
    input: Tensor,
    weight: Tensor,
    offsets: Tensor | None = None,
    max_norm: float | None = None,
    norm_type: float = 2,
    scale_grad_by_freq: bool = False,
    mode: str = "mean",
    sparse: bool = False,
    per_sample_weights: Tensor | None = None,
    include_last_offset: bool = False,
    padding_idx: int | None = None,
) -> Tensor:
    """Sums, means or maxima (``mode``) of bags of rows of ``weight``: shape ``(bags, dim)``.

    A 2-D ``input`` is a batch of fixed-length bags; a 1-D ``input`` is cut into bags at
    ``offsets`` (``include_last_offset`` when the last offset closes the last bag). Rows at
    ``padding_idx`` are left out of every bag (and of the mean's count); an empty bag gives zeros.
    ``per_sample_weights`` (``mode='sum'`` only) scales each row first; ``max_norm`` renormalises
    the looked-up rows of ``weight`` in place. ``scale_grad_by_freq`` divides each row's gradient
    by its index's frequency in ``input``, as documented and as PyTorch's GPU kernel does (its CPU
    kernel in 2.13 divides by the wrong count when frequencies differ, pytorch#190063). Gradients
    are dense: ``sparse=True`` raises when the weight would get one.
    """
    if weight.dtype.name == "int64" and input.is_floating_point():
        # PyTorch's argument order was once (weight, input); it still accepts it, with a warning.
        warnings.warn(
            "Argument order of nn.functional.embedding_bag was changed. "
            "Usage `embedding_bag(weight, input, ...)` is deprecated, "
            "and should now be `embedding_bag(input, weight, ...)`.",
            stacklevel=2,
        )
        weight, input = input, weight
    if per_sample_weights is not None and input.shape != per_sample_weights.shape:
        raise ValueError(
            f"embedding_bag: If per_sample_weights ({per_sample_weights.shape}) is not None, "
            f"then it must have the same shape as the input ({input.shape})"
        )
    if weight.ndim != 2:
        raise ValueError(f"weight has to be a 2D Tensor, but got Tensor of dimension {weight.ndim}")
    if input.ndim == 2:
        if offsets is not None:
            raise ValueError(
                "if input is 2D, then offsets has to be None, as input is treated is a mini-batch "
                "of fixed length sequences. However, found offsets of type "
                f"{type(offsets)}"
            )
        if input.shape[1] == 0:
            raise RuntimeError(
                "embedding_bag(): a 2-D input with bags of length 0 is not supported (PyTorch "
                "fails on it too); pass a 1-D input with offsets for empty bags"
            )
        offsets = Tensor._wrap(jnp.arange(0, input.numel(), input.shape[1], dtype=input.dtype.np))
        include_last_offset = False
        input = input.reshape(-1)
        if per_sample_weights is not None:
            per_sample_weights = per_sample_weights.reshape(-1)
    elif input.ndim == 1:
        if offsets is None:
            raise ValueError("offsets has to be a 1D Tensor but got None")
        if offsets.ndim != 1:
            raise ValueError("offsets has to be a 1D Tensor")
    else:
        raise ValueError(
            f"input has to be 1D or 2D Tensor, but got Tensor of dimension {input.ndim}"
        )
    if mode not in _BAG_MODES:
        raise ValueError("mode has to be one of sum, mean or max")
    if mode == "max":
        if scale_grad_by_freq:
            raise ValueError("max mode does not support scaling the gradient by the frequency")
        if sparse:
            raise ValueError("max mode does not support sparse weights")
    if per_sample_weights is not None and mode != "sum":
        raise NotImplementedError(
            "embedding_bag: per_sample_weights was not None. "
            "per_sample_weights is only supported for mode='sum' "
            f"(got mode='{mode}'). Please open a feature request on GitHub."
        )
    _check_bag_sparse(weight, sparse)
    _check_bag_indices(input, weight)
    if max_norm is not None:
        _embedding_renorm_(weight, input, max_norm, norm_type)
    return _embedding_bag(
        weight,
        input,
        offsets,
        scale_grad_by_freq,
        _BAG_MODES[mode],
        per_sample_weights,
        include_last_offset,
        padding_idx,
    )[0]


def _check_bag_sparse(weight: Tensor, sparse: bool) -> None:
    if sparse and weight.requires_grad and is_grad_enabled():
        raise NotImplementedError(
            "embedding_bag(): sparse=True (a sparse gradient for the weight) is not supported; "
            "tracegrad has no sparse tensors. Use sparse=False: the dense gradient has the same "
            "values (and a dense optimizer such as Adam instead of SparseAdam)"
        )


def _check_bag_indices(indices: Tensor, weight: Tensor) -> None:
    """Integer indices, each a row of ``weight`` (checked before anything is renormalised)."""
    if indices.dtype.name not in ("int64", "int32"):
        raise RuntimeError(
            "Expected tensor for argument #1 'indices' to have one of the following scalar types: "
            f"Long, Int; but got {indices.dtype} instead (while checking arguments for "
            "embedding_bag)"
        )
    n = weight.shape[0]
    _check_range(
        indices._storage.array.reshape(-1),
        0,
        n,
        lambda bad: RuntimeError(
            f"embedding_bag(): index {bad} of input is not in the valid range [0, {n})"
        ),
    )


def _bag_of(offsets, n_indices: int, n_bags: int):
    """The bag of each index position (PyTorch's ``offset2bag``): the last bag whose offset is at
    most the position, so empty bags (repeated offsets) are skipped."""
    starts = offsets[:n_bags]
    pos = jnp.arange(n_indices, dtype=starts.dtype)
    return jnp.maximum(jnp.searchsorted(starts, pos, side="right") - 1, 0)


def _check_offsets(offsets, n_indices: int, include_last_offset: bool) -> None:
    """PyTorch's checks on concrete offsets, and two of ours where PyTorch's result is undefined
    (decreasing offsets; a last offset short of the input with ``include_last_offset``)."""
    o = np.asarray(offsets)
    if o.size == 0:
        return
    if o[0] != 0:
        raise RuntimeError(
            "offsets[0] has to be 0, i.e., the first sequence in the mini-batch has to start from "
            f"position 0. However, got {o[0]}"
        )
    if o[-1] > n_indices:
        raise RuntimeError(
            f"offsets[-1] can not be greater than input's length {n_indices} but got "
            f"offsets[-1] of {o[-1]}"
        )
    drops = np.nonzero(np.diff(o) < 0)[0]
    if drops.size:
        i = int(drops[0])
        raise RuntimeError(
            f"embedding_bag(): offsets must be non-decreasing, but offsets[{i}] = {o[i]} > "
            f"offsets[{i + 1}] = {o[i + 1]}"
        )
    if include_last_offset and o[-1] != n_indices:
        raise NotImplementedError(
            "embedding_bag(): include_last_offset=True with offsets[-1] "
            f"({o[-1]}) short of the input's length ({n_indices}) is not supported: PyTorch's "
            "modes disagree on whether the indices after it belong to the last bag. End offsets "
            "with the input's length"
        )


def _embedding_bag(
    weight: Tensor,
    indices: Tensor,
    offsets: Tensor,
    scale_grad_by_freq: bool,
    mode: int,
    per_sample_weights: Tensor | None,
    include_last_offset: bool,
    padding_idx: int | None,
) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """``torch.embedding_bag``'s four results for 1-D ``indices`` cut at ``offsets``: the bags,
    then (as PyTorch's CPU kernel gives them) ``offset2bag``, ``bag_size`` and ``max_indices``.

    The bags are composed from recorded ops, so their gradients come from those ops' rules: rows
    are read with ``index_select``, summed into bags with ``index_add`` (sum, mean) or read again
    at each bag's argmax with ``gather`` (max, so the gradient goes to the argmax rows only)."""
    if weight.dtype.name not in _FLOAT_WEIGHTS:
        raise RuntimeError(
            "Expected tensor for argument #1 'weight' to have one of the following scalar types: "
            f"Half, BFloat16, Float, Double; but got {weight.dtype} instead (while checking "
            "arguments for embedding_bag)"
        )
    if offsets.dtype.name not in ("int64", "int32"):
        raise RuntimeError(
            "Expected tensor for argument #1 'offsets' to have one of the following scalar types: "
            f"Long, Int; but got {offsets.dtype} instead (while checking arguments for "
            "embedding_bag)"
        )
    if indices.ndim != 1 or offsets.ndim != 1:
        raise ValueError(
            f"embedding_bag(): indices and offsets must be 1-D, but got {indices.ndim}-D indices "
            f"and {offsets.ndim}-D offsets"
        )
    if per_sample_weights is not None and per_sample_weights.dtype != weight.dtype:
        raise RuntimeError(
            "Expected tensor for argument #1 'weight' to have the same type as tensor for "
            f"argument #1 'per_sample_weights'; but type {weight.dtype} does not equal "
            f"{per_sample_weights.dtype} (while checking arguments for embedding_bag)"
        )
    _check_bag_indices(indices, weight)
    n, dim = weight.shape
    if padding_idx is not None:
        if not -n <= padding_idx < n:
            raise RuntimeError(
                f"padding_idx must be within the number of embeddings, -{n} through {n - 1}, "
                f"but got {padding_idx}"
            )
        padding_idx %= n
    n_idx, n_off = indices.shape[0], offsets.shape[0]
    n_bags = max(n_off - 1, 0) if include_last_offset else n_off
    int_np = jnp.promote_types(indices.dtype.np, offsets.dtype.np)
    off = offsets._storage.array.astype(int_np)
    idx = indices._storage.array.astype(int_np)
    if _concrete(offsets):
        _check_offsets(off, n_idx, include_last_offset)
    bag = _bag_of(off, n_idx, n_bags)
    valid = jnp.ones(n_idx, bool) if padding_idx is None else idx != padding_idx
    bag_size = jax.ops.segment_sum(valid.astype(int_np), bag, n_bags)

    rows = _select_checked(weight, 0, idx)  # (n_idx, dim); range checked above
    if scale_grad_by_freq and rows.requires_grad:
        # rows.detach() + (rows - rows.detach()) / c has rows' value and gradient g / c.
        freq = jnp.bincount(idx, length=n)[idx].astype(rows.dtype.np)
        frozen = rows.detach()
        rows = frozen + (rows - frozen) / Tensor._wrap(freq).unsqueeze(1)
    empty = Tensor._wrap(jnp.zeros((n_bags, dim), weight.dtype.np))
    max_indices = None
    if mode == 2:
        out, max_idx = _bag_max(weight, rows, idx, bag, valid, bag_size, n_bags)
        max_indices = Tensor._wrap(max_idx)
    elif n_bags == 0:
        out = empty
    else:
        if per_sample_weights is not None:
            rows = rows * per_sample_weights.unsqueeze(1)
        if padding_idx is not None:
            rows = where(Tensor._wrap(valid[:, None]), rows, 0.0)
        out = empty.index_add(0, Tensor._wrap(bag), rows)
        if mode == 1:
            count = jnp.maximum(bag_size, 1).astype(weight.dtype.np)[:, None]
            out = out / Tensor._wrap(count)
    # The extra results are those of PyTorch's CPU kernel: its fast path for plain sums of
    # single- or half-precision rows skips offset2bag, and sums report zero bag sizes: one per
    # bag when autograd records the call, one per offset when it does not (its forward-only
    # kernel).
    if mode == 0 and padding_idx is None and weight.dtype.name != "float64":
        offset2bag = jnp.zeros((0,), int_np)
    else:
        offset2bag = bag.astype(int_np)
    if mode == 0:
        recorded = is_grad_enabled() and (
            weight.requires_grad
            or (per_sample_weights is not None and per_sample_weights.requires_grad)
        )
        bag_size = jnp.zeros((n_bags if recorded else n_off,), int_np)
    if max_indices is None:
        max_indices = Tensor._wrap(bag_size)
    return out, Tensor._wrap(offset2bag), Tensor._wrap(bag_size), max_indices


def _bag_max(weight, rows, idx, bag, valid, bag_size, n_bags):
    """Each bag's elementwise maximum and the row it came from (PyTorch's ``max_indices``): the
    first row holding the maximum, or the first NaN when there is one; zeros for empty bags."""
    dim = weight.shape[1]
    n_idx = idx.shape[0]
    vals = rows._storage.array
    isnan = jnp.isnan(vals) & valid[:, None]
    clean = jnp.where(valid[:, None] & ~isnan, vals, -jnp.inf)
    top = jax.ops.segment_max(clean, bag, n_bags)
    has_nan = jax.ops.segment_max(isnan.astype(jnp.int32), bag, n_bags) > 0
    best = jnp.where(has_nan[bag], isnan, valid[:, None] & (vals == top[bag]))
    pos = jnp.arange(n_idx)[:, None]
    first = jax.ops.segment_min(jnp.where(best, pos, n_idx), bag, n_bags)
    if n_bags == 0 or n_idx == 0:
        zeros = jnp.zeros((n_bags, dim), idx.dtype)
        return Tensor._wrap(jnp.zeros((n_bags, dim), weight.dtype.np)), zeros
    present = (bag_size > 0)[:, None]
    max_idx = jnp.where(present, idx[jnp.clip(first, 0, n_idx - 1)], 0).astype(idx.dtype)
    # Read the maxima again from the weight, so the gradient goes to the argmax rows.
    out = weight.gather(0, Tensor._wrap(max_idx.astype(jnp.int64)))
    return where(Tensor._wrap(present), out, 0.0), max_idx


# ---------------------------------------------------------------------------------------- dropout
def _check_p(p: float) -> None:
    if p < 0.0 or p > 1.0:
        raise ValueError(f"dropout probability has to be between 0 and 1, but got {p}")


@partial(jax.jit, static_argnames=("shape", "dtype"))
def _dropout_noise(key, p_keep, shape: tuple, dtype):
    """The kept elements scaled by ``1 / p_keep`` (zeros elsewhere), as one program per shape."""
    return _random.keep_mask(key, p_keep, shape).astype(dtype) / p_keep.astype(dtype)


def _apply_noise(input: Tensor, p: float, mask_shape: tuple, inplace: bool) -> Tensor:
    """``input * mask / (1 - p)`` with ``mask`` ~ Bernoulli(1 - p) of ``mask_shape`` (broadcast
    over ``input``), drawn from tracegrad's global generator (``manual_seed``)."""
    if p == 1.0:
        noise = Tensor._wrap(jnp.zeros(mask_shape, input.dtype.np))
    else:
        noise = Tensor._wrap(
            _dropout_noise(_random.next_key(), 1.0 - p, mask_shape, input.dtype.np)
        )
    return input.mul_(noise) if inplace else input * noise


def dropout(input: Tensor, p: float = 0.5, training: bool = True, inplace: bool = False) -> Tensor:
    """Zero each element with probability ``p`` and scale the rest by ``1 / (1 - p)`` (so the
    expectation is unchanged); the identity when not ``training`` or ``p == 0``."""
    _check_p(p)
    if not training or p == 0.0:
        return input
    return _apply_noise(input, p, tuple(input.shape), inplace)


def _feature_dropout(input, p, training, inplace, name: str, batched: int) -> Tensor:
    _check_p(p)
    if not training or p == 0.0:
        return input
    if input.ndim == batched - 1:  # no batch dimension: channels first
        shape = (input.shape[0],) + (1,) * (input.ndim - 1)
    elif input.ndim >= 2:
        shape = tuple(input.shape[:2]) + (1,) * (input.ndim - 2)
    else:
        raise RuntimeError(f"{name}: Expected 2D or 3D input, but received a {input.ndim}D input")
    return _apply_noise(input, p, shape, inplace)


def dropout1d(
    input: Tensor, p: float = 0.5, training: bool = True, inplace: bool = False
) -> Tensor:
    """Zero whole channels (``input[n, c]`` of an ``(N, C, L)`` or ``(C, L)`` input) with
    probability ``p``, scaling the rest by ``1 / (1 - p)``."""
    if input.ndim not in (2, 3):
        raise RuntimeError(
            f"dropout1d: Expected 2D or 3D input, but received a {input.ndim}D input. Note that "
            "dropout1d exists to provide channel-wise dropout on inputs with 1 spatial dimension, "
            "a channel dimension, and an optional batch dimension (i.e. 2D or 3D inputs)."
        )
    return _feature_dropout(input, p, training, inplace, "dropout1d", 3)


def dropout2d(
    input: Tensor, p: float = 0.5, training: bool = True, inplace: bool = False
) -> Tensor:
    """Zero whole channels (``input[n, c]`` of an ``(N, C, H, W)`` input) with probability ``p``,
    scaling the rest by ``1 / (1 - p)``. As PyTorch still does, a 3-D input is read as
    ``(N, C, L)`` (channel-wise 1-D dropout), with a warning."""
    if input.ndim not in (3, 4):
        warnings.warn(
            f"dropout2d: Received a {input.ndim}-D input to dropout2d, which is deprecated and "
            "will result in an error in a future release. To retain the behavior and silence this "
            "warning, please use dropout instead.",
            stacklevel=2,
        )
    if input.ndim == 3:
        warnings.warn(
            "dropout2d: Received a 3D input to dropout2d and assuming that channel-wise 1D "
            "dropout behavior is desired - input is interpreted as shape (N, C, L), where C is "
            "the channel dim. To maintain the 1D channel-wise dropout behavior, please switch to "
            "using dropout1d instead.",
            stacklevel=2,
        )
    return _feature_dropout(input, p, training, inplace, "dropout2d", 0)


def dropout3d(
    input: Tensor, p: float = 0.5, training: bool = True, inplace: bool = False
) -> Tensor:
    """Zero whole channels of an ``(N, C, D, H, W)`` (or unbatched ``(C, D, H, W)``) input with
    probability ``p``, scaling the rest by ``1 / (1 - p)``."""
    if input.ndim not in (4, 5):
        warnings.warn(
            f"dropout3d: Received a {input.ndim}-D input to dropout3d, which is deprecated and "
            "will result in an error in a future release. To retain the behavior and silence this "
            "warning, please use dropout instead.",
            stacklevel=2,
        )
    return _feature_dropout(input, p, training, inplace, "dropout3d", 5)


# ---------------------------------------------------------------------------------- normalisation
def _channel_view(t: Tensor, ndim: int) -> Tensor:
    """A per-channel vector shaped to broadcast along axis 1 of an ``ndim``-D input."""
    return t.reshape(-1, *(1,) * (ndim - 2))


def batch_norm(
    input: Tensor,
    running_mean: Tensor | None,
    running_var: Tensor | None,
    weight: Tensor | None = None,
    bias: Tensor | None = None,
    training: bool = False,
    momentum: float = 0.1,
    eps: float = 1e-5,
) -> Tensor:
    """Normalise each channel (axis 1) of ``input``: ``(x - mean) / sqrt(var + eps) * weight + bias``.

    In ``training``, mean and (biased) variance come from the batch (all axes but 1), and the
    running stats, when given, are updated in place: ``r = (1 - momentum) r + momentum stat``, with
    the unbiased variance for ``running_var``, as PyTorch. ``momentum`` may be a tensor (the
    cumulative average ``1 / num_batches_tracked``). Otherwise the running stats are used.
    """
    if input.ndim < 2:
        raise ValueError(f"batch_norm: expected at least 2D input (got {input.ndim}D input)")
    c = input.shape[1]
    for name, t in (("running_mean", running_mean), ("running_var", running_var),
                    ("weight", weight), ("bias", bias)):  # fmt: skip
        if t is not None and t.numel() != c:
            raise RuntimeError(f"{name} should contain {c} elements not {t.numel()}")
    dims = [0, *range(2, input.ndim)]
    if training:
        n = input.numel() // c if c else 0
        if n <= 1:
            raise ValueError(
                "Expected more than 1 value per channel when training, got input size "
                f"{input.size()}"
            )
        mean = input.mean(dims)
        var = input.var(dims, correction=0)
        if running_mean is not None or running_var is not None:
            with no_grad():
                if running_mean is not None:
                    running_mean.mul_(1 - momentum).add_(mean.detach() * momentum)
                if running_var is not None:
                    unbiased = var.detach() * (n / (n - 1))
                    running_var.mul_(1 - momentum).add_(unbiased * momentum)
    else:
        if running_mean is None or running_var is None:
            raise RuntimeError(
                f"running_{'mean' if running_mean is None else 'var'} must be defined in "
                "evaluation mode"
            )
        mean, var = running_mean, running_var
    out = (input - _channel_view(mean, input.ndim)) * _channel_view((var + eps).rsqrt(), input.ndim)
    if weight is not None:
        out = out * _channel_view(weight, input.ndim)
    if bias is not None:
        out = out + _channel_view(bias, input.ndim)
    return out


@autocast_entry("layer_norm")
def layer_norm(
    input: Tensor,
    normalized_shape,
    weight: Tensor | None = None,
    bias: Tensor | None = None,
    eps: float = 1e-5,
) -> Tensor:
    """Normalise over the trailing ``normalized_shape`` dimensions (mean 0, biased variance 1),
    then scale by ``weight`` and shift by ``bias`` (both of ``normalized_shape``)."""
    shape = (normalized_shape,) if isinstance(normalized_shape, int) else tuple(normalized_shape)
    k = len(shape)
    if k == 0 or input.ndim < k or tuple(input.shape[input.ndim - k :]) != shape:
        raise RuntimeError(
            f"Given normalized_shape={list(shape)}, expected input with shape "
            f"[*, {', '.join(map(str, shape))}], but got input of size{list(input.shape)}"
        )
    dims = tuple(range(input.ndim - k, input.ndim))
    return _layer_norm(input, weight, bias, dims=dims, eps=float(eps))


@autocast_entry("group_norm")
def group_norm(
    input: Tensor,
    num_groups: int,
    weight: Tensor | None = None,
    bias: Tensor | None = None,
    eps: float = 1e-5,
) -> Tensor:
    """Split the channels (axis 1) into ``num_groups`` groups and normalise each group of each
    sample over its channels and spatial positions; ``weight``/``bias`` are per channel."""
    if input.ndim < 2:
        raise RuntimeError(
            f"Expected at least 2 dimensions for input tensor but received {input.ndim}"
        )
    n, c = input.shape[:2]
    if num_groups <= 0 or c % num_groups:
        raise RuntimeError(
            "Expected number of channels in input to be divisible by num_groups, but got input "
            f"of shape {list(input.shape)} and num_groups={num_groups}"
        )
    x = input.reshape(n, num_groups, -1)
    mean = x.mean(-1, keepdim=True)
    var = x.var(-1, correction=0, keepdim=True)
    out = ((x - mean) * (var + eps).rsqrt()).reshape(input.shape)
    if weight is not None:
        out = out * _channel_view(weight, input.ndim)
    if bias is not None:
        out = out + _channel_view(bias, input.ndim)
    return out


def normalize(input: Tensor, p: float = 2.0, dim: int = 1, eps: float = 1e-12) -> Tensor:
    """``input / max(||input||_p, eps)`` along ``dim`` (``out=`` is added by ``ops/out.py``)."""
    return input / input.norm(p, dim=dim, keepdim=True).clamp_min(eps)


# ----------------------------------------------------------------------------------------- losses
def _reduction(size_average, reduce, reduction: str) -> str:
    """PyTorch's reduction string, from the deprecated ``size_average``/``reduce`` if given."""
    if size_average is not None or reduce is not None:
        warnings.warn(
            "size_average and reduce args will be deprecated, please use reduction='"
            f"{_legacy(size_average, reduce)}' instead.",
            stacklevel=3,
        )
        return _legacy(size_average, reduce)
    if reduction not in ("none", "mean", "sum"):
        raise ValueError(f"{reduction} is not a valid value for reduction")
    return reduction


def _legacy(size_average, reduce) -> str:
    size_average = True if size_average is None else size_average
    reduce = True if reduce is None else reduce
    return "none" if not reduce else ("mean" if size_average else "sum")


def _reduce(loss: Tensor, reduction: str) -> Tensor:
    if reduction == "mean":
        return loss.mean()
    return loss.sum() if reduction == "sum" else loss


def _warn_sizes(input: Tensor, target: Tensor) -> None:
    if target.shape != input.shape:
        warnings.warn(
            f"Using a target size ({target.size()}) that is different to the input size "
            f"({input.size()}). This will likely lead to incorrect results due to broadcasting. "
            "Please ensure they have the same size.",
            stacklevel=3,
        )


def _weighted(loss: Tensor, weight: Tensor | None, reduction: str, by_weight: bool) -> Tensor:
    """Reduce ``loss * weight``; PyTorch's weighted ``mse_loss``/``l1_loss`` divide the ``'mean'``
    by ``weight.sum()`` (``by_weight``), its ``huber_loss`` by the element count."""
    if weight is None:
        return _reduce(loss, reduction)
    if weight.shape != loss.shape:
        raise ValueError("Weights and input must have the same size.")
    loss = loss * weight
    if reduction == "mean" and by_weight:
        return loss.sum() / weight.sum()
    return _reduce(loss, reduction)


@autocast_entry("mse_loss")
def mse_loss(
    input: Tensor,
    target: Tensor,
    size_average=None,
    reduce=None,
    reduction: str = "mean",
    weight: Tensor | None = None,
) -> Tensor:
    """Squared error ``(input - target)^2``, optionally times ``weight``, reduced by
    ``reduction``; one ``MseLossBackward0`` node when unweighted."""
    reduction = _reduction(size_average, reduce, reduction)
    _warn_sizes(input, target)
    if weight is None:
        return _mse_loss(input, target, reduction=reduction)
    return _weighted((input - target).square(), weight, reduction, True)


@autocast_entry("l1_loss")
def l1_loss(
    input: Tensor,
    target: Tensor,
    size_average=None,
    reduce=None,
    reduction: str = "mean",
    weight: Tensor | None = None,
) -> Tensor:
    """Absolute error ``|input - target|``, optionally times ``weight``, reduced by
    ``reduction``."""
    reduction = _reduction(size_average, reduce, reduction)
    _warn_sizes(input, target)
    return _weighted((input - target).abs(), weight, reduction, True)


@autocast_entry("smooth_l1_loss")
def smooth_l1_loss(
    input: Tensor,
    target: Tensor,
    size_average=None,
    reduce=None,
    reduction: str = "mean",
    beta: float = 1.0,
) -> Tensor:
    """``0.5 d^2 / beta`` where ``|d| < beta``, else ``|d| - 0.5 beta`` (``d = input - target``);
    ``beta = 0`` is the L1 loss."""
    reduction = _reduction(size_average, reduce, reduction)
    if beta < 0:
        raise RuntimeError("smooth_l1_loss does not support negative values for beta.")
    _warn_sizes(input, target)
    d = input - target
    ad = d.abs()
    if beta == 0:
        return _reduce(ad, reduction)
    return _reduce(where(ad < beta, 0.5 * d * d / beta, ad - 0.5 * beta), reduction)


@autocast_entry("huber_loss")
def huber_loss(
    input: Tensor,
    target: Tensor,
    reduction: str = "mean",
    delta: float = 1.0,
    weight: Tensor | None = None,
) -> Tensor:
    """``0.5 d^2`` where ``|d| < delta``, else ``delta (|d| - 0.5 delta)``
    (``d = input - target``), optionally times ``weight``."""
    reduction = _reduction(None, None, reduction)
    if delta <= 0:
        raise RuntimeError("huber_loss does not support non-positive values for delta.")
    _warn_sizes(input, target)
    d = input - target
    ad = d.abs()
    loss = where(ad < delta, 0.5 * d * d, delta * (ad - 0.5 * delta))
    return _weighted(loss, weight, reduction, False)


def _class_target_check(input: Tensor, target: Tensor) -> None:
    """PyTorch's shape, dtype and range checks of class-index targets for ``nll_loss``."""
    if input.ndim < 1:
        raise ValueError(f"Expected 1 or more dimensions (got {input.ndim})")
    if target.dtype.name not in ("int64", "uint8"):
        raise RuntimeError(
            f"expected target dtype to be Long or Byte, but got {scalar_type_name(target.dtype)}"
        )
    if input.ndim == 1:
        if target.ndim != 0:
            raise RuntimeError("0D or 1D target tensor expected, multi-target not supported")
    elif input.ndim == 2 and target.ndim != 1:
        raise RuntimeError(
            "0D or 1D target tensor expected, multi-target not supported"
            if target.ndim > 1
            else f"Expected input batch_size ({input.shape[0]}) to match target batch_size (1)."
        )
    elif input.ndim >= 2 and (target.ndim == 0 or input.shape[0] != target.shape[0]):
        got = target.shape[0] if target.ndim else 0
        raise ValueError(
            f"Expected input batch_size ({input.shape[0]}) to match target batch_size ({got})."
        )
    elif input.ndim > 2 and tuple(target.shape) != (input.shape[0], *input.shape[2:]):
        raise RuntimeError(
            f"Expected target size {[input.shape[0], *input.shape[2:]]}, got {list(target.shape)}"
        )


def _check_bounds(target: Tensor, c: int, ignore_index: int) -> None:
    if target.numel() == 0:
        return
    bad = _first_out_of_bounds(target._storage.array, c, ignore_index)
    if not _concrete(target):  # inside tracegrad.compile: checked when the program has run
        _tracing.add_check(
            bad != ignore_index, lambda v: IndexError(f"Target {v} is out of bounds."), bad
        )
    elif int(bad) != ignore_index:  # one compiled check and one read, not six eager ops
        raise IndexError(f"Target {int(bad)} is out of bounds.")


@jax.jit
def _first_out_of_bounds(target, c, ignore_index):
    """The first target outside ``[0, c)`` (other than ``ignore_index``), else ``ignore_index``."""
    a = target.astype(jnp.int64).reshape(-1)
    bad = (a != ignore_index) & ((a < 0) | (a >= c))
    return jnp.where(bad.any(), a[bad.argmax()], ignore_index)


@autocast_entry("nll_loss")
def nll_loss(
    input: Tensor,
    target: Tensor,
    weight: Tensor | None = None,
    size_average=None,
    ignore_index: int = -100,
    reduce=None,
    reduction: str = "mean",
) -> Tensor:
    """Negative log-likelihood ``-weight[t] * input[t]`` of the class indices ``target``, for
    ``input`` of shape ``(C,)``, ``(N, C)`` or ``(N, C, d1, ...)``. Targets equal to
    ``ignore_index`` contribute nothing; ``'mean'`` divides by the total weight of the others.
    As in PyTorch, ``weight`` is not differentiable: one that requires grad raises (with grad
    mode on)."""
    reduction = _reduction(size_average, reduce, reduction)
    if input.ndim >= 1 and weight is not None and weight.requires_grad and is_grad_enabled():
        # PyTorch's nll_loss has no derivative for its class weights and refuses to record one
        # (before its target checks, as here).
        kernel = "nll_loss_forward" if input.ndim <= 2 else "nll_loss2d_forward"
        raise RuntimeError(
            f"The function '{kernel}' is not differentiable with respect to argument 'weight'. "
            "This input cannot have requires_grad True."
        )
    _class_target_check(input, target)
    c = input.shape[0] if input.ndim == 1 else input.shape[1]
    if weight is not None and weight.shape != (c,):
        raise RuntimeError(
            f"weight tensor should be defined either for all {c} classes or no classes but got "
            f"weight tensor of shape: {list(weight.shape)}"
        )
    _check_bounds(target, c, ignore_index)
    if target.dtype.name != "int64":
        target = target.long()
    if input.ndim == 1:
        out = _nll_loss(
            input.unsqueeze(0),
            target.reshape(1),
            weight,
            ignore_index=ignore_index,
            reduction=reduction,
        )
        return out.reshape(()) if reduction == "none" else out
    return _nll_loss(input, target, weight, ignore_index=ignore_index, reduction=reduction)


@autocast_entry("cross_entropy")
def cross_entropy(
    input: Tensor,
    target: Tensor,
    weight: Tensor | None = None,
    size_average=None,
    ignore_index: int = -100,
    reduce=None,
    reduction: str = "mean",
    label_smoothing: float = 0.0,
) -> Tensor:
    """``nll_loss(log_softmax(input, class_dim), target)`` for class-index targets, or
    ``-sum(target * log_softmax(input))`` over the class dimension for probability targets (a
    float ``target`` of ``input``'s shape). ``label_smoothing`` mixes the target with the uniform
    distribution over the ``C`` classes, as PyTorch: ``(1 - eps) * loss + eps / C * smooth``."""
    reduction = _reduction(size_average, reduce, reduction)
    if not 0.0 <= label_smoothing <= 1.0:
        raise RuntimeError(f"label_smoothing must be between 0.0 and 1.0. Got: {label_smoothing}")
    if input.ndim < 1:
        raise ValueError(f"Expected 1 or more dimensions (got {input.ndim})")
    class_dim = 0 if input.ndim == 1 else 1
    c = input.shape[class_dim]
    logp = log_softmax(input, class_dim)
    wview = None
    if weight is not None:
        wview = weight if input.ndim == 1 else _channel_view(weight, input.ndim)

    if target.dtype.is_floating_point:  # probabilities
        if ignore_index >= 0:
            raise RuntimeError("ignore_index is not supported for floating point target")
        if target.shape != input.shape:
            raise RuntimeError(
                "Expected floating point type target to have the same shape as input, got "
                f"target of shape {list(target.shape)} and input of shape {list(input.shape)}"
            )
        if label_smoothing > 0:
            target = target * (1 - label_smoothing) + label_smoothing / c
        prod = logp * target if wview is None else logp * target * wview
        if reduction == "none":
            return -prod.sum(class_dim)
        if reduction == "sum":
            return -prod.sum()
        return -prod.sum() / (input.numel() / c if c else 0)

    nll = nll_loss(logp, target, weight, ignore_index=ignore_index, reduction=reduction)
    if label_smoothing == 0:
        return nll
    ignored = target == ignore_index
    smooth = -(logp if wview is None else logp * wview).sum(class_dim)
    smooth = smooth.masked_fill(ignored, 0.0)
    if reduction == "mean":
        if weight is None:
            denom = ignored.logical_not().sum()
        else:
            t = target.masked_fill(ignored, 0)
            denom = weight.index_select(0, t.reshape(-1)).reshape(t.shape)
            denom = denom.masked_fill(ignored, 0.0).sum()
        smooth = smooth.sum() / denom
    elif reduction == "sum":
        smooth = smooth.sum()
    return (1 - label_smoothing) * nll + smooth * (label_smoothing / c)


@autocast_entry("binary_cross_entropy")
def binary_cross_entropy(
    input: Tensor,
    target: Tensor,
    weight: Tensor | None = None,
    size_average=None,
    reduce=None,
    reduction: str = "mean",
) -> Tensor:
    """``-weight * (t log(x) + (1 - t) log(1 - x))`` for probabilities ``x`` in [0, 1], each log
    clamped to >= -100 as in PyTorch; one ``BinaryCrossEntropyBackward0`` node."""
    reduction = _reduction(size_average, reduce, reduction)
    if target.shape != input.shape:
        raise ValueError(
            f"Using a target size ({target.size()}) that is different to the input size "
            f"({input.size()}) is deprecated. Please ensure they have the same size."
        )
    if _concrete(input) and input.numel():
        a = input._storage.array
        if bool(jnp.any((a < 0) | (a > 1) | jnp.isnan(a))):
            raise RuntimeError("all elements of input should be between 0 and 1")
    if weight is not None and weight.shape != input.shape:
        weight = weight.expand(*input.shape)
    return _binary_cross_entropy(input, target, weight, reduction=reduction)


@autocast_entry("binary_cross_entropy_with_logits")
def binary_cross_entropy_with_logits(
    input: Tensor,
    target: Tensor,
    weight: Tensor | None = None,
    size_average=None,
    reduce=None,
    reduction: str = "mean",
    pos_weight: Tensor | None = None,
) -> Tensor:
    """Binary cross-entropy of ``sigmoid(input)``, computed stably from the logits:
    ``(1 - t) x - (1 + (pos_weight - 1) t) log_sigmoid(x)``, where ``-log_sigmoid(x) =
    max(-x, 0) + log1p(exp(-|x|))`` never overflows; ``pos_weight`` weighs the positive term
    (broadcast along the last, class, dimension)."""
    reduction = _reduction(size_average, reduce, reduction)
    if target.shape != input.shape:
        raise ValueError(
            f"Target size ({target.size()}) must be the same as input size ({input.size()})"
        )
    if weight is not None or pos_weight is not None:
        shape = tuple(input.shape)
        for name, w in (("weight", weight), ("pos_weight", pos_weight)):
            if w is not None and _broadcast_to(tuple(w.shape), shape) != shape:
                raise RuntimeError(
                    f"The size of {name} ({tuple(w.shape)}) must broadcast to the input's "
                    f"{shape} (binary_cross_entropy_with_logits)"
                )
    return _binary_cross_entropy_with_logits(input, target, weight, pos_weight, reduction=reduction)


def _broadcast_to(a: tuple, b: tuple) -> tuple:
    """The shape ``a`` and ``b`` broadcast to (None when they do not)."""
    n = max(len(a), len(b))
    a, b = (1,) * (n - len(a)) + a, (1,) * (n - len(b)) + b
    if any(x != y and 1 not in (x, y) for x, y in zip(a, b)):
        return None
    return tuple(max(x, y) for x, y in zip(a, b))


@autocast_entry("kl_div")
def kl_div(
    input: Tensor,
    target: Tensor,
    size_average=None,
    reduce=None,
    reduction: str = "mean",
    log_target: bool = False,
) -> Tensor:
    """Kullback-Leibler divergence ``target * (log(target) - input)`` with ``input`` a
    log-probability (and ``target`` too if ``log_target``); 0 where ``target`` is 0.
    ``'batchmean'`` divides the sum by the batch size, the mathematically correct KL."""
    if size_average is not None or reduce is not None:
        reduction = _reduction(size_average, reduce, reduction)
    elif reduction == "mean":
        warnings.warn(
            "reduction: 'mean' divides the total loss by both the batch size and the support "
            "size.'batchmean' divides only by the batch size, and aligns with the KL div math "
            "definition.'mean' will be changed to behave the same as 'batchmean' in the next "
            "major release.",
            stacklevel=2,
        )
    elif reduction not in ("none", "sum", "batchmean"):
        raise ValueError(f"{reduction} is not a valid value for reduction")
    if log_target:
        loss = target.exp() * (target - input)
    else:
        # xlogy(t, t) - t * x, with the log taken of 1 where t <= 0 so no branch holds a NaN.
        pos = target > 0
        safe = where(pos, target, 1.0)
        loss = where(pos, target * safe.log(), 0.0) - target * input
    if reduction == "batchmean":
        return loss.sum() / input.shape[0] if input.ndim else loss.sum()
    return _reduce(loss, reduction)


# ------------------------------------------------------------------------------- pixel shuffle
def pixel_shuffle(input: Tensor, upscale_factor: int) -> Tensor:
    """Rearrange ``(*, C r^2, H, W)`` into ``(*, C, H r, W r)`` with ``r = upscale_factor``: each
    group of ``r^2`` channels becomes an ``r x r`` block of pixels (a reshape and a permute)."""
    r = upscale_factor
    _check_shuffle("pixel_shuffle", input, r)
    *batch, c, h, w = input.shape
    if c % (r * r):
        raise RuntimeError(
            "pixel_shuffle expects its input's 'channel' dimension to be divisible by the square "
            f"of upscale_factor, but input.size(-3)={c} is not divisible by {r * r}"
        )
    return _sampling._pixel_shuffle(input, upscale_factor=r)


def pixel_unshuffle(input: Tensor, downscale_factor: int) -> Tensor:
    """The inverse of ``pixel_shuffle``: ``(*, C, H r, W r)`` into ``(*, C r^2, H, W)``."""
    r = downscale_factor
    _check_shuffle("pixel_unshuffle", input, r)
    *batch, c, h, w = input.shape
    for name, size in (("height", h), ("width", w)):
        if size % r:
            raise RuntimeError(
                f"pixel_unshuffle expects {name} to be divisible by downscale_factor, but "
                f"input.size({-2 if name == 'height' else -1})={size} is not divisible by {r}"
            )
    return _sampling._pixel_unshuffle(input, downscale_factor=r)


def _check_shuffle(name: str, input: Tensor, factor: int) -> None:
    if input.ndim < 3:
        raise RuntimeError(
            f"{name} expects input to have at least 3 dimensions, but got input with "
            f"{input.ndim} dimension(s)"
        )
    if factor <= 0:
        which = "upscale_factor" if name == "pixel_shuffle" else "downscale_factor"
        raise RuntimeError(f"{name} expects a positive {which}, but got {factor}")


# --------------------------------------------------------------------------------- alpha dropout
# SELU's negative saturation value, -scale * alpha: alpha dropout sets dropped units to it, then
# an affine map a x + b restores zero mean and unit variance (Klambauer et al.), as PyTorch.
_ALPHA_DROPOUT_SATURATION = 1.7580993408473766


def _feature_noise_shape(input: Tensor) -> tuple:
    if input.ndim < 2:
        raise RuntimeError("Feature dropout requires at least 2 dimensions in the input")
    return tuple(input.shape[:2]) + (1,) * (input.ndim - 2)


def _alpha_dropout(input: Tensor, p: float, training: bool, inplace: bool, feature: bool):
    if not training or p == 0.0 or input.numel() == 0:
        return input
    shape = _feature_noise_shape(input) if feature else tuple(input.shape)
    if p == 1.0:
        return _apply_noise(input, 1.0, shape, inplace)
    keep = _random.keep_mask(_random.next_key(), 1.0 - p, shape).astype(input.dtype.np)
    alpha = _ALPHA_DROPOUT_SATURATION
    a = 1.0 / np.sqrt((alpha * alpha * p + 1) * (1 - p))
    b = Tensor._wrap((keep - 1) * (alpha * a) + alpha * a * p)
    noise = Tensor._wrap(keep * np.asarray(a, input.dtype.np))
    return input.mul_(noise).add_(b) if inplace else input * noise + b


def alpha_dropout(
    input: Tensor, p: float = 0.5, training: bool = False, inplace: bool = False
) -> Tensor:
    """Dropout that keeps SELU's self-normalisation: each element is set, with probability
    ``p``, to SELU's saturation value, then all are mapped affinely to keep zero mean and unit
    variance; the identity when not ``training``."""
    _check_p(p)
    return _alpha_dropout(input, p, training, inplace, feature=False)


def feature_alpha_dropout(
    input: Tensor, p: float = 0.5, training: bool = False, inplace: bool = False
) -> Tensor:
    """``alpha_dropout`` of whole channels (``input[n, c]``): one draw per channel."""
    _check_p(p)
    return _alpha_dropout(input, p, training, inplace, feature=True)


# --------------------------------------------------------------------------------- instance norm
def _verify_spatial_size(input: Tensor) -> None:
    if math.prod(input.shape[2:]) == 1:
        raise ValueError(
            f"Expected more than 1 spatial element when training, got input size {input.size()}"
        )


def instance_norm(
    input: Tensor,
    running_mean: Tensor | None = None,
    running_var: Tensor | None = None,
    weight: Tensor | None = None,
    bias: Tensor | None = None,
    use_input_stats: bool = True,
    momentum: float = 0.1,
    eps: float = 1e-5,
) -> Tensor:
    """Normalise each channel of each sample over its spatial positions; ``weight``/``bias`` are
    per channel. With ``use_input_stats=False`` the running stats are used instead; otherwise
    they (when given) are updated in place with the batch average of the per-sample stats."""
    if use_input_stats:
        _verify_spatial_size(input)
    return _instance_norm(
        input, weight, bias, running_mean, running_var, use_input_stats, momentum, eps
    )


def _instance_norm(input, weight, bias, running_mean, running_var, use_input_stats, momentum, eps):
    # PyTorch's construction: fold the batch into the channels, batch-normalise (1, N*C, ...),
    # then average the N per-sample running-stat updates back into the C running stats.
    if not use_input_stats and (running_mean is None or running_var is None):
        raise RuntimeError(
            "Expected running_mean and running_var to be defined when use_input_stats is false"
        )
    if input.ndim < 2:
        raise ValueError(f"instance_norm: expected at least 2D input (got {input.ndim}D input)")
    n, c = input.shape[:2]
    folded = input.reshape(1, n * c, *input.shape[2:])

    def rep(t):
        return None if t is None else t.repeat(n)

    rm, rv = rep(running_mean), rep(running_var)
    out = batch_norm(folded, rm, rv, rep(weight), rep(bias), use_input_stats, momentum, eps)
    if use_input_stats:
        with no_grad():
            for stat, folded_stat in ((running_mean, rm), (running_var, rv)):
                if stat is not None:
                    stat.copy_(folded_stat.reshape(n, c).mean(0))
    return out.reshape(input.shape)


# -------------------------------------------------------------------------------------- rms norm
def rms_norm(
    input: Tensor, normalized_shape, weight: Tensor | None = None, eps: float | None = None
) -> Tensor:
    """``input / sqrt(mean(input^2) + eps) * weight`` over the trailing ``normalized_shape``
    dimensions; ``eps`` defaults to the machine epsilon of ``input``'s dtype."""
    if isinstance(normalized_shape, int):
        raise TypeError(
            "rms_norm(): argument 'normalized_shape' (position 2) must be tuple of ints, not int"
        )
    shape = tuple(normalized_shape)
    k = len(shape)
    if k == 0 or input.ndim < k or tuple(input.shape[input.ndim - k :]) != shape:
        raise RuntimeError(
            f"Given normalized_shape={list(shape)}, expected input with shape "
            f"[*{', '.join(map(str, shape))}], but got input of size{list(input.shape)}"
        )
    if eps is None:
        eps = finfo(input.dtype).eps
    dims = list(range(input.ndim - k, input.ndim))
    out = input * (input.square().mean(dims, keepdim=True) + eps).rsqrt()
    return out if weight is None else out * weight


# -------------------------------------------------------------------------------- channel shuffle
def channel_shuffle(input: Tensor, groups: int) -> Tensor:
    """Interleave the channels (axis 1) of ``groups`` groups: ``(N, g * k, *)`` is read as
    ``(N, g, k, *)``, transposed to ``(N, k, g, *)`` and flattened back."""
    if input.ndim <= 2:
        raise RuntimeError(
            f"channel_shuffle expects input with > 2 dims, but got input with sizes "
            f"{list(input.shape)}"
        )
    if groups <= 0:
        raise RuntimeError(
            f"Number of groups to divide channels in must be positive. Value of groups:{groups}"
        )
    n, c, *rest = input.shape
    if c % groups:
        raise RuntimeError(
            f"Number of channels must be divisible by groups. Got {c} channels and {groups} groups."
        )
    x = input.reshape(n, groups, c // groups, *rest).transpose(1, 2)
    return x.reshape(input.shape)


def native_channel_shuffle(input: Tensor, groups: int) -> Tensor:
    """PyTorch's kernel-level ``channel_shuffle``: the same result (``channel_shuffle``)."""
    return channel_shuffle(input, groups)


def conv_tbc(input: Tensor, weight: Tensor, bias: Tensor, pad: int = 0) -> Tensor:
    """A 1-D convolution over a ``(time, batch, in_channels)`` input with a
    ``(kernel_width, in_channels, out_channels)`` weight and a ``(out_channels,)`` bias, zero
    padded by ``pad`` steps on both ends of time; the result is ``(time', batch, out_channels)``.
    Computed as ``conv1d`` on the transposed operands."""
    if input.ndim != 3:
        raise RuntimeError("Input must have 3 dims: time, batch, in_channel")
    if weight.ndim != 3:
        raise RuntimeError(
            "Weight tensor must have 3 dims: kernel_width, in_channels, out_channels."
        )
    if bias.ndim != 1:
        raise RuntimeError("Bias must be 1-D")
    if input.shape[2] != weight.shape[1]:
        raise RuntimeError("Input dim 2 (input channels) is not == dim 1 in the weight tensor")
    if bias.shape[0] != weight.shape[2]:
        raise RuntimeError("Bias size must equal dim 2 in the weight tensor (output channels).")
    out = _conv.conv1d(input.permute(1, 2, 0), weight.permute(2, 1, 0), bias, padding=pad)
    return out.permute(2, 0, 1)


# ---------------------------------------------------------------------- shrinks and thresholds
def _in_place(input: Tensor, name: str, fn, *args) -> Tensor:
    """``fn(input, *args)`` written into ``input`` (PyTorch's in-place form, with its checks)."""
    input._check_inplace(name)
    return input._rebase(fn(input._snapshot(), *args))


@expose
def hardshrink(input: Tensor, lambd: float = 0.5) -> Tensor:
    """0 where ``-lambd <= input <= lambd``, else ``input`` (NaN passes through)."""
    return where((input >= -lambd).logical_and(input <= lambd), 0.0, input)


def softshrink(input: Tensor, lambd: float = 0.5) -> Tensor:
    """``input - lambd`` above ``lambd``, ``input + lambd`` below ``-lambd``, else 0."""
    if lambd < 0:
        dtype = input.dtype
        raise RuntimeError(
            f"lambda must be in range [0, {finfo(dtype).max:g}] for input dtype "
            f"{scalar_type_name(dtype)}, but found {lambd:g}"
        )
    inside = (input >= -lambd).logical_and(input <= lambd)  # NaN is outside, and passes through
    return where(inside, 0.0, where(input > lambd, input - lambd, input + lambd))


def _threshold(input: Tensor, threshold: float, value: float) -> Tensor:
    return where(input <= threshold, value, input)


def threshold(input: Tensor, threshold: float, value: float, inplace: bool = False) -> Tensor:
    """``value`` where ``input <= threshold``, else ``input``."""
    if inplace:
        return _in_place(input, "threshold_", _threshold, threshold, value)
    return _threshold(input, threshold, value)


def threshold_(input: Tensor, threshold: float, value: float) -> Tensor:
    """In-place ``threshold``."""
    return _in_place(input, "threshold_", _threshold, threshold, value)


def relu_(input: Tensor) -> Tensor:
    """In-place ``relu`` (``input.relu_()``)."""
    return input.relu_()


def elu_(input: Tensor, alpha: float = 1.0) -> Tensor:
    """In-place ``elu`` (``input.elu_(alpha)``)."""
    return input.elu_(alpha)


def celu_(input: Tensor, alpha: float = 1.0) -> Tensor:
    """In-place ``celu`` (``input.celu_(alpha)``)."""
    return input.celu_(alpha)


def selu_(input: Tensor) -> Tensor:
    """In-place ``selu`` (``input.selu_()``)."""
    return input.selu_()


def leaky_relu_(input: Tensor, negative_slope: float = 0.01) -> Tensor:
    """In-place ``leaky_relu`` (``input.leaky_relu_(negative_slope)``)."""
    return input.leaky_relu_(negative_slope)


def hardtanh_(input: Tensor, min_val: float = -1.0, max_val: float = 1.0) -> Tensor:
    """In-place ``hardtanh`` (``input.hardtanh_(min_val, max_val)``)."""
    return input.hardtanh_(min_val, max_val)


def softsign(input: Tensor) -> Tensor:
    """``input / (1 + |input|)``."""
    return input / (input.abs() + 1)


def tanhshrink(input: Tensor) -> Tensor:
    """``input - tanh(input)``."""
    return input - tanh(input)


def softmin(input: Tensor, dim: int | None = None, _stacklevel: int = 3, dtype=None) -> Tensor:
    """``softmax(-input)`` along ``dim``; ``dtype`` casts the input first."""
    x, d = _softmax_dim("softmin", input, dim, dtype)
    return softmax(-x, d)


def glu(input: Tensor, dim: int = -1) -> Tensor:
    """The gated linear unit: ``a * sigmoid(b)`` for the two halves ``a``, ``b`` of ``input``
    along ``dim``."""
    if input.ndim == 0:
        raise RuntimeError("glu does not support scalars because halving size must be even")
    d = dim % input.ndim if -input.ndim <= dim < input.ndim else dim
    if not 0 <= d < input.ndim:
        raise IndexError(
            f"Dimension out of range (expected to be in range of [{-input.ndim}, "
            f"{input.ndim - 1}], but got {dim})"
        )
    if input.shape[d] % 2:
        raise RuntimeError(
            f"Halving dimension must be even, but dimension {d} is size {input.shape[d]}"
        )
    a, b = input.chunk(2, d)
    return a * sigmoid(b)


def gumbel_softmax(
    logits: Tensor, tau: float = 1, hard: bool = False, eps: float = 1e-10, dim: int = -1
) -> Tensor:
    """A sample of the Gumbel-softmax distribution: ``softmax((logits + g) / tau)`` with ``g``
    standard Gumbel noise from tracegrad's generator; ``hard`` returns the one-hot of the
    largest with the soft sample's gradient (straight through)."""
    if eps != 1e-10:
        warnings.warn("`eps` parameter is deprecated and has no effect.", stacklevel=2)
    draw = jax.random.exponential(_random.next_key(), tuple(logits.shape), logits.dtype.np)
    gumbels = (logits - Tensor._wrap(jnp.log(draw))) / tau
    y_soft = softmax(gumbels, dim)
    if not hard:
        return y_soft
    d = dim % logits.ndim
    index = y_soft.argmax(d, keepdim=True)
    positions = tensor(np.arange(logits.shape[d])).reshape(
        *(-1 if i == d else 1 for i in range(logits.ndim))
    )
    y_hard = (positions == index).to(logits.dtype)
    return y_hard - y_soft.detach() + y_soft


# ---------------------------------------------------------------------------------- prelu, rrelu
@expose
@autocast_entry("prelu")
def prelu(input: Tensor, weight: Tensor) -> Tensor:
    """``input`` where positive, else ``weight * input``; ``weight`` has one element or one per
    channel (axis 1)."""
    k = weight.numel()
    if k != 1:
        if input.ndim == 0:
            raise RuntimeError("Not allow zero-dim input tensor.")
        channels = input.shape[1] if input.ndim > 1 else 1
        if channels != k:
            raise RuntimeError(
                f"Mismatch of parameter numbers and input channel size. Found parameter numbers "
                f"= {k} and channel size = {channels}."
            )
    if weight.ndim > 1:
        raise RuntimeError(
            f"prelu: Expected `weight` to be a scalar or 1D tensor, but got: ndim = {weight.ndim}"
        )
    w = weight
    if input.ndim >= 2:
        w = weight.reshape(k, *(1,) * (input.ndim - 2))
    return where(input > 0, input, w * input)


def _rrelu(input, lower, upper, training, generator=None) -> Tensor:
    if lower > upper:
        raise RuntimeError("Lower bound should be less than or equal to the upper bound")
    if not training:
        return leaky_relu(input, (lower + upper) / 2)
    # Each non-positive element is scaled by its own slope ~ U(lower, upper); the slopes are
    # constants of the graph, so the gradient is g * slope there and g elsewhere.
    slopes = jax.random.uniform(
        _random.next_key(generator), tuple(input.shape), input.dtype.np, lower, upper
    )
    noise = jnp.where(input._storage.array <= 0, slopes, jnp.ones((), input.dtype.np))
    return input * Tensor._wrap(noise)


def rrelu(
    input: Tensor,
    lower: float = 1.0 / 8,
    upper: float = 1.0 / 3,
    training: bool = False,
    inplace: bool = False,
) -> Tensor:
    """Randomized leaky ReLU: in ``training`` each non-positive element gets a random slope from
    ``U(lower, upper)`` (tracegrad's generator); otherwise the slope is ``(lower + upper) / 2``."""
    if inplace:
        return _in_place(input, "rrelu_", _rrelu, lower, upper, training)
    return _rrelu(input, lower, upper, training)


def rrelu_(
    input: Tensor, lower: float = 1.0 / 8, upper: float = 1.0 / 3, training: bool = False
) -> Tensor:
    """In-place ``rrelu``."""
    return _in_place(input, "rrelu_", _rrelu, lower, upper, training)


# ------------------------------------------------------------------------------ more losses
@autocast_entry("hinge_embedding_loss")
def hinge_embedding_loss(
    input: Tensor,
    target: Tensor,
    margin: float = 1.0,
    size_average=None,
    reduce=None,
    reduction: str = "mean",
) -> Tensor:
    """``input`` where ``target == 1``, ``max(0, margin - input)`` where ``target == -1`` (both
    summed for other targets, as PyTorch), reduced by ``reduction``."""
    reduction = _reduction(size_average, reduce, reduction)
    margin_clamp = (margin - input).clamp_min(0)
    out = where(target != 1, margin_clamp, 0.0) + where(target != -1, input, 0.0)
    return _reduce(out, reduction)


@autocast_entry("margin_ranking_loss")
def margin_ranking_loss(
    input1: Tensor,
    input2: Tensor,
    target: Tensor,
    margin: float = 0,
    size_average=None,
    reduce=None,
    reduction: str = "mean",
) -> Tensor:
    """``max(0, -target * (input1 - input2) + margin)``, reduced by ``reduction``."""
    reduction = _reduction(size_average, reduce, reduction)
    if input1.ndim != input2.ndim or input1.ndim != target.ndim:
        raise RuntimeError(
            "margin_ranking_loss : All input tensors should have same dimension but got sizes: "
            f"input1: {input1.size()}, input2: {input2.size()}, target: {target.size()} "
        )
    return _margin_ranking_loss(input1, input2, target, margin, reduction)


def _margin_ranking_loss(input1, input2, target, margin, reduction) -> Tensor:
    return _reduce((-target * (input1 - input2) + margin).clamp_min(0), reduction)


_COSINE_EPSILON = 1e-12  # added to each squared magnitude, as PyTorch


@autocast_entry("cosine_embedding_loss")
def cosine_embedding_loss(
    input1: Tensor,
    input2: Tensor,
    target: Tensor,
    margin: float = 0,
    size_average=None,
    reduce=None,
    reduction: str = "mean",
) -> Tensor:
    """``1 - cos(input1, input2)`` where ``target == 1``, ``max(0, cos - margin)`` where
    ``target == -1``, for rows of 2-D inputs (1-D target) or 1-D inputs (0-d target)."""
    reduction = _reduction(size_average, reduce, reduction)
    t = target.ndim
    if t not in (0, 1):
        raise RuntimeError("0D or 1D target tensor expected, multi-target not supported")
    if input1.ndim != t + 1 or input2.ndim != t + 1:
        raise RuntimeError(
            f"{t}D target tensor expects {t + 1}D input tensors, but found inputs with sizes "
            f"{list(input1.shape)} and {list(input2.shape)}."
        )
    prod = (input1 * input2).sum(t)
    mag1 = (input1 * input1).sum(t) + _COSINE_EPSILON
    mag2 = (input2 * input2).sum(t) + _COSINE_EPSILON
    cos = prod / (mag1 * mag2).sqrt()
    out = where(target == 1, 1 - cos, 0.0) + where(target == -1, (cos - margin).clamp_min(0), 0.0)
    return _reduce(out, reduction)


@autocast_entry("triplet_margin_loss")
def triplet_margin_loss(
    anchor: Tensor,
    positive: Tensor,
    negative: Tensor,
    margin: float = 1.0,
    p: float = 2,
    eps: float = 1e-6,
    swap: bool = False,
    size_average=None,
    reduce=None,
    reduction: str = "mean",
) -> Tensor:
    """``max(0, margin + d(a, p) - d(a, n))`` with ``d`` the ``pairwise_distance``; ``swap``
    uses ``min(d(a, n), d(p, n))`` for the negative distance."""
    reduction = _reduction(size_average, reduce, reduction)
    if margin <= 0:
        raise ValueError(f"margin must be greater than 0, got {margin}")
    return _triplet_margin_loss(anchor, positive, negative, margin, p, eps, swap, reduction)


def _triplet_margin_loss(anchor, positive, negative, margin, p, eps, swap, reduction) -> Tensor:
    a, pd, nd = anchor.ndim, positive.ndim, negative.ndim
    if not a == pd == nd:
        raise RuntimeError(
            "The anchor, positive, and negative tensors are expected to have the same number of "
            f"dimensions, but got: anchor {a}D, positive {pd}D, and negative {nd}D inputs"
        )
    d_pos = pairwise_distance(anchor, positive, p, eps)
    d_neg = pairwise_distance(anchor, negative, p, eps)
    if swap:
        d_neg = d_neg.minimum(pairwise_distance(positive, negative, p, eps))
    return _reduce((margin + d_pos - d_neg).clamp_min(0), reduction)


@autocast_entry("poisson_nll_loss")
def poisson_nll_loss(
    input: Tensor,
    target: Tensor,
    log_input: bool = True,
    full: bool = False,
    size_average=None,
    eps: float = 1e-8,
    reduce=None,
    reduction: str = "mean",
) -> Tensor:
    """Poisson negative log-likelihood: ``exp(input) - target * input`` for a log-rate
    ``input`` (``log_input``), else ``input - target * log(input + eps)``; ``full`` adds the
    Stirling term ``t log t - t + log(2 pi t) / 2`` where ``target > 1``."""
    if size_average is not None or reduce is not None:
        reduction = _reduction(size_average, reduce, reduction)
    elif reduction not in ("none", "mean", "sum"):
        raise ValueError(f"{reduction} is not a valid value for reduction")
    return _poisson_nll_loss(input, target, log_input, full, eps, reduction)


def _poisson_nll_loss(input, target, log_input, full, eps, reduction) -> Tensor:
    if log_input:
        loss = input.exp() - target * input
    else:
        loss = input - target * (input + eps).log()
    if full:
        stirling = target * target.log() - target + 0.5 * (2 * math.pi * target).log()
        loss = loss + stirling.masked_fill(target <= 1, 0)
    return _reduce(loss, reduction)


def gaussian_nll_loss(
    input: Tensor,
    target: Tensor,
    var,
    full: bool = False,
    eps: float = 1e-6,
    reduction: str = "mean",
) -> Tensor:
    """Gaussian negative log-likelihood ``(log(var) + (input - target)^2 / var) / 2`` (plus
    ``log(2 pi) / 2`` if ``full``); ``var`` is clamped below by ``eps`` with the clamp invisible
    to its gradient, as PyTorch. ``var`` may be a float, of ``input``'s shape, or miss one
    (homoscedastic) dimension."""
    if isinstance(var, float):
        if var < 0:
            raise ValueError("var has negative entry/entries")
        var = var * input.new_ones(input.shape)
    elif bool((var < 0).any()):
        raise ValueError("var has negative entry/entries")
    if var.shape != input.shape:
        if tuple(input.shape[:-1]) == tuple(var.shape):
            var = var.unsqueeze(-1)
        elif not (
            input.ndim == var.ndim and sum(y for x, y in zip(input.shape, var.shape) if x != y) == 1
        ):
            raise ValueError("var is of incorrect size")
    if reduction not in ("none", "mean", "sum"):
        raise ValueError(reduction + " is not valid")
    with no_grad():
        shift = var.clamp_min(eps) - var
    var = var + shift
    loss = 0.5 * (var.log() + (input - target) ** 2 / var)
    if full:
        loss = loss + 0.5 * math.log(2 * math.pi)
    return _reduce(loss, reduction)


@autocast_entry("soft_margin_loss")
def soft_margin_loss(
    input: Tensor,
    target: Tensor,
    size_average=None,
    reduce=None,
    reduction: str = "mean",
) -> Tensor:
    """``log(1 + exp(-target * input))``, reduced by ``reduction``."""
    reduction = _reduction(size_average, reduce, reduction)
    return _reduce((-input * target).exp().log1p(), reduction)


def multilabel_soft_margin_loss(
    input: Tensor,
    target: Tensor,
    weight: Tensor | None = None,
    size_average=None,
    reduce=None,
    reduction: str = "mean",
) -> Tensor:
    """The binary cross-entropy of ``sigmoid(input)`` against 0/1 ``target``, averaged over the
    classes (the last dimension), optionally weighted per class."""
    if size_average is not None or reduce is not None:
        reduction = _legacy(size_average, reduce)
    loss = -(target * logsigmoid(input) + (1 - target) * logsigmoid(-input))
    if weight is not None:
        loss = loss * weight
    class_dim = input.ndim - 1
    loss = loss.sum(class_dim) / input.shape[class_dim]
    if reduction not in ("none", "mean", "sum"):
        raise ValueError(reduction + " is not valid")
    return _reduce(loss, reduction)


# ------------------------------------------------------------------------------ pooling indices
def max_pool1d_with_indices(
    input: Tensor,
    kernel_size,
    stride=None,
    padding=0,
    dilation=1,
    ceil_mode: bool = False,
    return_indices: bool = False,
):
    """``max_pool1d`` returning ``(values, indices)`` whatever ``return_indices`` says (it is in
    PyTorch's signature and ignored there too)."""
    del return_indices  # PyTorch's signature: the indices are always returned
    return max_pool1d(input, kernel_size, stride, padding, dilation, ceil_mode, True)


# --------------------------------------------------------------------------------------- ctc_loss
_CTC_WHERE = " (while checking arguments for ctc_loss_allocate_outputs)"


def _ctc_lengths(lengths, name: str) -> Tensor:
    """Lengths given as a tensor, a sequence or a number, as an int64 tensor of one dimension."""
    if not isinstance(lengths, Tensor):
        lengths = tensor(lengths)
    if lengths.dtype.is_floating_point or lengths.dtype.is_complex:
        raise RuntimeError(f"{name} must be integral")
    return lengths.long().reshape(-1)


def _ctc_loss_impl(
    log_probs, targets, input_lengths, target_lengths, blank, reduction, zero_infinity
):
    if not (log_probs.dtype.is_floating_point and log_probs.dtype.itemsize >= 4):
        name = scalar_type_name(log_probs.dtype)
        raise NotImplementedError(f"\"ctc_loss_cpu\" not implemented for '{name}'")
    batched = log_probs.ndim == 3
    if not batched:
        log_probs = log_probs.unsqueeze(1)
        if targets.ndim == 1:
            targets = targets.unsqueeze(0)
    t_max, n, c = log_probs.shape
    inputs = _ctc_lengths(input_lengths, "input_lengths")
    lengths = _ctc_lengths(target_lengths, "target_lengths")
    if blank < 0 or blank >= c:
        raise RuntimeError("blank must be in label range")
    if inputs.shape[0] != n:
        raise RuntimeError("input_lengths must be of size batch_size")
    if lengths.shape[0] != n:
        raise RuntimeError("target_lengths must be of size batch_size")
    targets = targets.long()
    concatenated = targets.ndim == 1
    if _concrete(inputs) and _concrete(lengths):
        ins = np.asarray(inputs._storage.array).tolist()
        tls = np.asarray(lengths._storage.array).tolist()
        for tl in tls:
            if tl < 0:
                raise RuntimeError(
                    f"Expected target_lengths to have value at least 0, but got value {tl}"
                    + _CTC_WHERE
                )
        if concatenated:
            if targets.shape[0] != sum(tls):
                raise RuntimeError(
                    f"Expected tensor to have size {sum(tls)} at dimension 0, but got size "
                    f"{targets.shape[0]} for argument #2 'targets'" + _CTC_WHERE
                )
            s_max = max(tls, default=0)
        else:
            s_max = targets.shape[1]
            for tl in tls:
                if tl > s_max:
                    raise RuntimeError(
                        f"Expected tensor to have size at least {tl} at dimension 1, but got size "
                        f"{s_max} for argument #2 'targets'" + _CTC_WHERE
                    )
        for il in ins:
            if il > t_max:
                raise RuntimeError(
                    f"Expected input_lengths to have value at most {t_max}, but got value {il}"
                    + _CTC_WHERE
                )
            if il < 0:
                raise RuntimeError(
                    f"Expected input_lengths to have value at least 0, but got value {il}"
                    + _CTC_WHERE
                )
    else:  # lengths being traced: the longest possible target
        s_max = targets.shape[0] if concatenated else targets.shape[1]
    loss = _ctc_loss(
        log_probs,
        targets,
        inputs,
        lengths,
        blank=int(blank),
        s_max=int(s_max),
        zero_infinity=bool(zero_infinity),
    )
    if reduction == "mean":
        return (loss / lengths.to(loss.dtype).clamp_min(1)).mean()
    if reduction == "sum":
        return loss.sum()
    return loss if batched else loss.squeeze(0)


@autocast_entry("ctc_loss")
def ctc_loss(
    log_probs: Tensor,
    targets: Tensor,
    input_lengths,
    target_lengths,
    blank: int = 0,
    reduction: str = "mean",
    zero_infinity: bool = False,
) -> Tensor:
    """The connectionist temporal classification loss of ``log_probs`` (``(T, N, C)``, or
    ``(T, C)`` unbatched, already ``log_softmax``-ed) against ``targets`` (padded ``(N, S)`` or
    concatenated 1-D), with per-sample ``input_lengths`` and ``target_lengths`` (tensors or
    tuples). ``'mean'`` divides each loss by its target length (at least 1) and averages over the
    batch; ``zero_infinity`` makes the loss (and gradient) of an impossible alignment 0. The
    gradient follows PyTorch's, which assumes ``log_probs`` came from ``log_softmax``."""
    reduction = _reduction(None, None, reduction)
    return _ctc_loss_impl(
        log_probs, targets, input_lengths, target_lengths, blank, reduction, zero_infinity
    )


# ---------------------------------------------------------------------------------------- attention
@autocast_entry("scaled_dot_product_attention")
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
) -> Tensor:
    """``softmax(query @ key^T * scale + attn_mask) @ value``, with dropout ``dropout_p`` on the
    probabilities, over query (..., L, E), key (..., S, E) and value (..., S, Ev). ``attn_mask`` is
    bool (True takes part) or float (added to the scores); ``is_causal`` masks key positions after
    each query's (top-left aligned); ``scale`` defaults to ``1/sqrt(E)``; ``enable_gqa`` repeats the
    key/value heads (dim -3) to the query's. One recorded op whose backward recomputes the
    probabilities instead of keeping the L x S matrix (see ``docs/attention.md``); as in PyTorch,
    ``dropout_p`` applies whatever the module mode, so pass 0.0 in evaluation. ``attn_mask`` may
    also be a ``tracegrad.nn.attention.bias.CausalBias``."""
    if not _any_backend_enabled():
        raise RuntimeError(
            "No viable backend for scaled_dot_product_attention was found. This is likely due to "
            "turning off both the math kernel and the fused kernels."
        )
    diagonal = 0
    if isinstance(attn_mask, _CausalBias):
        if is_causal:
            raise ValueError("CausalBias should not be used with causal=True")
        if (attn_mask.seq_len_q, attn_mask.seq_len_kv) == (query.shape[-2], key.shape[-2]):
            # Applied inside the op as a shifted triangle: no L x S mask is built or saved.
            attn_mask, is_causal, diagonal = None, True, attn_mask.diagonal
        else:  # PyTorch materializes it, and the mask's shape then decides (an error)
            attn_mask = attn_mask._materialize()
    return _attention.scaled_dot_product_attention(
        query,
        key,
        value,
        attn_mask,
        dropout_p,
        is_causal,
        scale=scale,
        enable_gqa=enable_gqa,
        diagonal=diagonal,
    )


# ------------------------------------------------------------------------------- torch.* forms
# PyTorch exposes these nn functions at the top level too, with ATen's signatures: positional
# ``train`` flags, ``reduction`` as an enum (0 none, 1 mean, 2 sum), cuDNN switches. They are
# collected here and put into ``tracegrad``'s namespace by the package.
TORCH_FUNCTIONS: dict = {}
_ENUM_REDUCTIONS = ("none", "mean", "sum")


def _torch_form(name: str):
    def register(fn):
        fn.__name__ = fn.__qualname__ = name
        TORCH_FUNCTIONS[name] = fn
        return fn

    return register


def _enum_reduction(reduction: int) -> str:
    if reduction not in (0, 1, 2):
        raise ValueError(f"{reduction} is not a valid value for reduction")
    return _ENUM_REDUCTIONS[reduction]


def _torch_check_p(p: float) -> None:
    if p < 0.0 or p > 1.0:
        raise RuntimeError(f"dropout probability has to be between 0 and 1, but got {p}")


def _torch_dropout_pair(name: str, run, doc: str, inplace_doc: str) -> None:
    """Register ATen's ``torch.<name>(input, p, train)`` and its in-place ``torch.<name>_``,
    with docstrings ``doc`` and ``inplace_doc``: ``p`` is checked, then ``run(input, p, train,
    inplace)`` gives the result."""

    def register(inplace: bool, doc: str) -> None:
        def form(input: Tensor, p: float, train: bool) -> Tensor:
            _torch_check_p(p)
            return run(input, p, train, inplace)

        form.__doc__ = doc
        _torch_form(name + "_" if inplace else name)(form)

    register(False, doc)
    register(True, inplace_doc)


def _torch_feature_dropout(input: Tensor, p: float, train: bool, inplace: bool) -> Tensor:
    if not train or p == 0.0 or input.numel() == 0:
        return input
    return _apply_noise(input, p, _feature_noise_shape(input), inplace)


_torch_dropout_pair(
    "dropout",
    dropout,
    "``torch.dropout``: ``F.dropout(input, p, train)``.",
    "``torch.dropout_``: in-place ``F.dropout``.",
)
_torch_dropout_pair(
    "feature_dropout",
    _torch_feature_dropout,
    "``torch.feature_dropout``: zero whole channels ``input[n, c]`` with probability ``p``.",
    "``torch.feature_dropout_``: in-place ``torch.feature_dropout``.",
)
_torch_dropout_pair(
    "alpha_dropout",
    partial(_alpha_dropout, feature=False),
    "``torch.alpha_dropout``: ``F.alpha_dropout(input, p, train)``.",
    "``torch.alpha_dropout_``: in-place ``torch.alpha_dropout``.",
)
_torch_dropout_pair(
    "feature_alpha_dropout",
    partial(_alpha_dropout, feature=True),
    "``torch.feature_alpha_dropout``: ``F.feature_alpha_dropout(input, p, train)``.",
    "``torch.feature_alpha_dropout_``: in-place ``torch.feature_alpha_dropout``.",
)


@_torch_form("batch_norm")
def _torch_batch_norm(
    input, weight, bias, running_mean, running_var, training, momentum, eps, cudnn_enabled
) -> Tensor:
    """``torch.batch_norm``: ``F.batch_norm`` with ATen's argument order."""
    del cudnn_enabled  # a backend switch; the values are the same
    return batch_norm(input, running_mean, running_var, weight, bias, training, momentum, eps)


@_torch_form("instance_norm")
def _torch_instance_norm(
    input, weight, bias, running_mean, running_var, use_input_stats, momentum, eps, cudnn_enabled
) -> Tensor:
    """``torch.instance_norm``: ``F.instance_norm`` with ATen's argument order."""
    del cudnn_enabled  # a backend switch; the values are the same
    return _instance_norm(
        input, weight, bias, running_mean, running_var, use_input_stats, momentum, eps
    )


@_torch_form("layer_norm")
def _torch_layer_norm(
    input, normalized_shape, weight=None, bias=None, eps: float = 1e-5, cudnn_enable: bool = True
) -> Tensor:
    """``torch.layer_norm``: ``F.layer_norm``."""
    del cudnn_enable  # a backend switch; the values are the same
    return layer_norm(input, normalized_shape, weight, bias, eps)


@_torch_form("group_norm")
def _torch_group_norm(
    input, num_groups, weight=None, bias=None, eps: float = 1e-5, cudnn_enabled: bool = True
) -> Tensor:
    """``torch.group_norm``: ``F.group_norm``."""
    del cudnn_enabled  # a backend switch; the values are the same
    return group_norm(input, num_groups, weight, bias, eps)


@_torch_form("embedding")
def _torch_embedding(
    weight, indices, padding_idx: int = -1, scale_grad_by_freq: bool = False, sparse: bool = False
) -> Tensor:
    """``torch.embedding``: ``F.embedding`` with the weight first; a negative ``padding_idx``
    means none."""
    pad = padding_idx if padding_idx >= 0 else None
    return embedding(indices, weight, pad, scale_grad_by_freq=scale_grad_by_freq, sparse=sparse)


@_torch_form("embedding_bag")
def _torch_embedding_bag(
    weight: Tensor,
    indices: Tensor,
    offsets: Tensor,
    scale_grad_by_freq: bool = False,
    mode: int = 0,
    sparse: bool = False,
    per_sample_weights: Tensor | None = None,
    include_last_offset: bool = False,
    padding_idx: int | None = None,
) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """``torch.embedding_bag``: ``(output, offset2bag, bag_size, max_indices)`` for 1-D
    ``indices`` cut at ``offsets``, ``mode`` an enum (0 sum, 1 mean, 2 max); the extra results
    are those PyTorch's CPU kernel gives."""
    if mode not in (0, 1, 2):
        raise ValueError(f"embedding_bag(): mode must be 0 (sum), 1 (mean) or 2 (max), got {mode}")
    _check_bag_sparse(weight, sparse)
    return _embedding_bag(
        weight,
        indices,
        offsets,
        scale_grad_by_freq,
        mode,
        per_sample_weights,
        include_last_offset,
        padding_idx,
    )


@_torch_form("bilinear")
def _torch_bilinear(input1, input2, weight, bias=None) -> Tensor:
    """``torch.bilinear``: ``F.bilinear``."""
    return bilinear(input1, input2, weight, bias)


@_torch_form("binary_cross_entropy_with_logits")
def _torch_bce_with_logits(input, target, weight=None, pos_weight=None, reduction: int = 1):
    """``torch.binary_cross_entropy_with_logits``: the F form with an enum ``reduction``."""
    return binary_cross_entropy_with_logits(
        input, target, weight, reduction=_enum_reduction(reduction), pos_weight=pos_weight
    )


@_torch_form("kl_div")
def _torch_kl_div(input, target, reduction: int = 1, log_target: bool = False) -> Tensor:
    """``torch.kl_div``: the pointwise KL divergence reduced by an enum (``mean`` without
    ``F.kl_div``'s warning)."""
    loss = kl_div(input, target, reduction="none", log_target=log_target)
    return _reduce(loss, _enum_reduction(reduction))


@_torch_form("hinge_embedding_loss")
def _torch_hinge_embedding_loss(input, target, margin: float = 1.0, reduction: int = 1):
    """``torch.hinge_embedding_loss``: the F form with an enum ``reduction``."""
    return hinge_embedding_loss(input, target, margin, reduction=_enum_reduction(reduction))


@_torch_form("margin_ranking_loss")
def _torch_margin_ranking_loss(input1, input2, target, margin: float = 0.0, reduction: int = 1):
    """``torch.margin_ranking_loss``: the loss without F's dimension check."""
    return _margin_ranking_loss(input1, input2, target, margin, _enum_reduction(reduction))


@_torch_form("cosine_embedding_loss")
def _torch_cosine_embedding_loss(input1, input2, target, margin: float = 0.0, reduction: int = 1):
    """``torch.cosine_embedding_loss``: the F form with an enum ``reduction``."""
    return cosine_embedding_loss(
        input1, input2, target, margin, reduction=_enum_reduction(reduction)
    )


@_torch_form("triplet_margin_loss")
def _torch_triplet_margin_loss(
    anchor,
    positive,
    negative,
    margin: float = 1.0,
    p: float = 2,
    eps: float = 1e-6,
    swap: bool = False,
    reduction: int = 1,
) -> Tensor:
    """``torch.triplet_margin_loss``: the loss without F's check that ``margin > 0``."""
    return _triplet_margin_loss(
        anchor, positive, negative, margin, p, eps, swap, _enum_reduction(reduction)
    )


@_torch_form("poisson_nll_loss")
def _torch_poisson_nll_loss(input, target, log_input, full, eps, reduction) -> Tensor:
    """``torch.poisson_nll_loss``: every argument positional, ``reduction`` an enum."""
    return _poisson_nll_loss(input, target, log_input, full, eps, _enum_reduction(reduction))


@_torch_form("threshold")
def _torch_threshold(input, threshold, value) -> Tensor:
    """``torch.threshold``: ``value`` where ``input <= threshold``, else ``input``."""
    return _threshold(input, threshold, value)


@_torch_form("rrelu")
def _torch_rrelu(
    input, lower: float = 1.0 / 8, upper: float = 1.0 / 3, training: bool = False, generator=None
) -> Tensor:
    """``torch.rrelu``: ``F.rrelu``, drawing the slopes from ``generator`` when given."""
    return _rrelu(input, lower, upper, training, generator)


@_torch_form("rrelu_")
def _torch_rrelu_(
    input, lower: float = 1.0 / 8, upper: float = 1.0 / 3, training: bool = False, generator=None
) -> Tensor:
    """``torch.rrelu_``: in-place ``torch.rrelu``."""
    return _in_place(input, "rrelu_", _rrelu, lower, upper, training, generator)


@_torch_form("native_channel_shuffle")
def _torch_native_channel_shuffle(input, groups: int) -> Tensor:
    """``torch.native_channel_shuffle``: ``channel_shuffle``."""
    return channel_shuffle(input, groups)


@_torch_form("ctc_loss")
def _torch_ctc_loss(
    log_probs,
    targets,
    input_lengths,
    target_lengths,
    blank: int = 0,
    reduction: int = 1,
    zero_infinity: bool = False,
) -> Tensor:
    """``torch.ctc_loss``: ``F.ctc_loss`` with an enum ``reduction``."""
    return _ctc_loss_impl(
        log_probs,
        targets,
        input_lengths,
        target_lengths,
        blank,
        _enum_reduction(reduction),
        zero_infinity,
    )


@_torch_form("max_pool1d_with_indices")
def _torch_max_pool1d_with_indices(
    input, kernel_size, stride=(), padding=0, dilation=1, ceil_mode: bool = False
):
    """``torch.max_pool1d_with_indices``: ``(values, indices)`` of ``max_pool1d``; an empty
    ``stride`` means ``kernel_size``."""
    return max_pool1d(input, kernel_size, stride or None, padding, dilation, ceil_mode, True)


# Multi-head attention (nn.MultiheadAttention computes through this function, as in PyTorch)
# ---------------------------------------------------------------------------- mask helpers
def _none_or_dtype(input: Tensor | None):
    """The dtype of ``input``, or ``None`` when there is no tensor."""
    if input is None:
        return None
    if isinstance(input, Tensor):
        return input.dtype
    raise RuntimeError("input to _none_or_dtype() must be None or torch.Tensor")


def _canonical_mask(
    mask: Tensor | None,
    mask_name: str,
    other_type,
    other_name: str,
    target_type,
    check_other: bool = True,
) -> Tensor | None:
    """A boolean mask turned additive (``True`` -> ``-inf``, ``False`` -> 0, in ``target_type``);
    a float mask is returned as is. Warns, as PyTorch does, when its dtype differs from the
    other mask's, and refuses integer masks."""
    if mask is None:
        return None
    is_float = _queries.is_floating_point(mask)
    if mask.dtype != _bool and not is_float:
        raise AssertionError(f"only bool and floating types of {mask_name} are supported")
    if check_other and other_type is not None and mask.dtype != other_type:
        warnings.warn(
            f"Support for mismatched {mask_name} and {other_name} "
            "is deprecated. Use same type for both instead.",
            stacklevel=2,
        )
    if not is_float:
        mask = creation.zeros_like(mask, dtype=target_type).masked_fill(mask, float("-inf"))
    return mask


def _mha_shape_check(
    query: Tensor,
    key: Tensor,
    value: Tensor,
    key_padding_mask: Tensor | None,
    attn_mask: Tensor | None,
    num_heads: int,
) -> bool:
    """Whether the inputs are batched (3-D query) or not (2-D), after PyTorch's shape checks."""
    if query.dim() == 3:
        if key.dim() != 3 or value.dim() != 3:
            raise AssertionError(
                "For batched (3-D) `query`, expected `key` and `value` to be 3-D"
                f" but found {key.dim()}-D and {value.dim()}-D tensors respectively"
            )
        if key_padding_mask is not None and key_padding_mask.dim() != 2:
            raise AssertionError(
                "For batched (3-D) `query`, expected `key_padding_mask` to be `None` or 2-D"
                f" but found {key_padding_mask.dim()}-D tensor instead"
            )
        if attn_mask is not None and attn_mask.dim() not in (2, 3):
            raise AssertionError(
                "For batched (3-D) `query`, expected `attn_mask` to be `None`, 2-D or 3-D"
                f" but found {attn_mask.dim()}-D tensor instead"
            )
        return True
    if query.dim() == 2:
        if key.dim() != 2 or value.dim() != 2:
            raise AssertionError(
                "For unbatched (2-D) `query`, expected `key` and `value` to be 2-D"
                f" but found {key.dim()}-D and {value.dim()}-D tensors respectively"
            )
        if key_padding_mask is not None and key_padding_mask.dim() != 1:
            raise AssertionError(
                "For unbatched (2-D) `query`, expected `key_padding_mask` to be `None` or 1-D"
                f" but found {key_padding_mask.dim()}-D tensor instead"
            )
        if attn_mask is not None:
            if attn_mask.dim() not in (2, 3):
                raise AssertionError(
                    "For unbatched (2-D) `query`, expected `attn_mask` to be `None`, 2-D or 3-D"
                    f" but found {attn_mask.dim()}-D tensor instead"
                )
            if attn_mask.dim() == 3:
                expected = (num_heads, query.shape[0], key.shape[0])
                if tuple(attn_mask.shape) != expected:
                    raise AssertionError(
                        f"Expected `attn_mask` shape to be {expected} but got {attn_mask.shape}"
                    )
        return False
    raise AssertionError(
        "query should be unbatched 2D or batched 3D tensor but received "
        f"{query.dim()}-D query tensor"
    )


# ---------------------------------------------------------------------------- projections
def _in_projection_packed(
    q: Tensor, k: Tensor, v: Tensor, w: Tensor, b: Tensor | None
) -> tuple[Tensor, Tensor, Tensor]:
    # One matmul for self-attention (q, k, v the same tensor) and one for the shared key/value
    # of encoder-decoder attention, as PyTorch does: the products are the same numbers as three
    # separate projections, with fewer ops recorded.
    E = q.size(-1)
    if k is v:
        if q is k:
            proj = linear(q, w, b).unflatten(-1, (3, E))
            return proj[..., 0, :], proj[..., 1, :], proj[..., 2, :]
        w_q, w_kv = w.split([E, 2 * E])
        b_q, b_kv = (None, None) if b is None else b.split([E, 2 * E])
        kv = linear(k, w_kv, b_kv).unflatten(-1, (2, E))
        return linear(q, w_q, b_q), kv[..., 0, :], kv[..., 1, :]
    w_q, w_k, w_v = w.chunk(3)
    b_q, b_k, b_v = (None, None, None) if b is None else b.chunk(3)
    return linear(q, w_q, b_q), linear(k, w_k, b_k), linear(v, w_v, b_v)


def _in_projection(q, k, v, w_q, w_k, w_v, b_q, b_k, b_v) -> tuple[Tensor, Tensor, Tensor]:
    Eq, Ek, Ev = q.size(-1), k.size(-1), v.size(-1)
    for name, w, shape in (
        ("query", w_q, (Eq, Eq)),
        ("key", w_k, (Eq, Ek)),
        ("value", w_v, (Eq, Ev)),
    ):
        if tuple(w.shape) != shape:
            raise AssertionError(f"expecting {name} weights shape of {shape}, but got {w.shape}")
    for name, b in (("query", b_q), ("key", b_k), ("value", b_v)):
        if b is not None and tuple(b.shape) != (Eq,):
            raise AssertionError(f"expecting {name} bias shape of {(Eq,)}, but got {b.shape}")
    return linear(q, w_q, b_q), linear(k, w_k, b_k), linear(v, w_v, b_v)


# ---------------------------------------------------------------------------- the function
def multi_head_attention_forward(
    query: Tensor,
    key: Tensor,
    value: Tensor,
    embed_dim_to_check: int,
    num_heads: int,
    in_proj_weight: Tensor | None,
    in_proj_bias: Tensor | None,
    bias_k: Tensor | None,
    bias_v: Tensor | None,
    add_zero_attn: bool,
    dropout_p: float,
    out_proj_weight: Tensor,
    out_proj_bias: Tensor | None,
    training: bool = True,
    key_padding_mask: Tensor | None = None,
    need_weights: bool = True,
    attn_mask: Tensor | None = None,
    use_separate_proj_weight: bool = False,
    q_proj_weight: Tensor | None = None,
    k_proj_weight: Tensor | None = None,
    v_proj_weight: Tensor | None = None,
    static_k: Tensor | None = None,
    static_v: Tensor | None = None,
    average_attn_weights: bool = True,
    is_causal: bool = False,
) -> tuple[Tensor, Tensor | None]:
    """Multi-head attention of ``query`` ``(L, N, E)`` over ``key``/``value`` ``(S, N, E_k/E_v)``
    (or unbatched ``(L, E)``/``(S, E)``), as ``torch.nn.functional.multi_head_attention_forward``:
    returns ``(attn_output, attn_weights)``, the weights ``(N, L, S)`` averaged over heads,
    ``(N, num_heads, L, S)`` per head (``average_attn_weights=False``), or ``None`` when
    ``need_weights=False``. Masks may be boolean (``True`` masks out) or additive floats;
    ``is_causal`` is a hint that ``attn_mask`` is the causal mask and requires it."""
    is_batched = _mha_shape_check(query, key, value, key_padding_mask, attn_mask, num_heads)
    if not is_batched:
        # Run the batched computation on a batch of one and drop that dimension at the end.
        query, key, value = query.unsqueeze(1), key.unsqueeze(1), value.unsqueeze(1)
        if key_padding_mask is not None:
            key_padding_mask = key_padding_mask.unsqueeze(0)

    tgt_len, bsz, embed_dim = query.shape
    src_len = key.shape[0]

    key_padding_mask = _canonical_mask(
        key_padding_mask,
        "key_padding_mask",
        _none_or_dtype(attn_mask),
        "attn_mask",
        query.dtype,
    )
    if is_causal and attn_mask is None:
        raise RuntimeError(
            "Need attn_mask if specifying the is_causal hint. "
            "You may use the Transformer module method "
            "`generate_square_subsequent_mask` to create this mask."
        )
    if is_causal and key_padding_mask is None and not need_weights:
        # The hint alone drives scaled_dot_product_attention; the mask is not read.
        attn_mask = None
    else:
        attn_mask = _canonical_mask(attn_mask, "attn_mask", None, "", query.dtype, False)
        if key_padding_mask is not None:
            # Merged with the padding mask, the mask is no longer causal.
            is_causal = False

    if embed_dim != embed_dim_to_check:
        raise AssertionError(
            f"was expecting embedding dimension of {embed_dim_to_check}, but got {embed_dim}"
        )
    head_dim = embed_dim // num_heads
    if head_dim * num_heads != embed_dim:
        raise AssertionError(f"embed_dim {embed_dim} not divisible by num_heads {num_heads}")
    if use_separate_proj_weight:
        if key.shape[:2] != value.shape[:2]:
            raise AssertionError(
                f"key's sequence and batch dims {key.shape[:2]} do not match value's "
                f"{value.shape[:2]}"
            )
    elif key.shape != value.shape:
        raise AssertionError(f"key shape {key.shape} does not match value shape {value.shape}")

    if not use_separate_proj_weight:
        if in_proj_weight is None:
            raise AssertionError("use_separate_proj_weight is False but in_proj_weight is None")
        q, k, v = _in_projection_packed(query, key, value, in_proj_weight, in_proj_bias)
    else:
        for name, w in (
            ("q_proj_weight", q_proj_weight),
            ("k_proj_weight", k_proj_weight),
            ("v_proj_weight", v_proj_weight),
        ):
            if w is None:
                raise AssertionError(f"use_separate_proj_weight is True but {name} is None")
        b_q, b_k, b_v = (None, None, None) if in_proj_bias is None else in_proj_bias.chunk(3)
        q, k, v = _in_projection(
            query, key, value, q_proj_weight, k_proj_weight, v_proj_weight, b_q, b_k, b_v
        )

    if attn_mask is not None:
        if attn_mask.dim() == 2:
            if tuple(attn_mask.shape) != (tgt_len, src_len):
                raise RuntimeError(
                    f"The shape of the 2D attn_mask is {attn_mask.shape}, but should be "
                    f"{(tgt_len, src_len)}."
                )
            attn_mask = attn_mask.unsqueeze(0)
        elif attn_mask.dim() == 3:
            if tuple(attn_mask.shape) != (bsz * num_heads, tgt_len, src_len):
                raise RuntimeError(
                    f"The shape of the 3D attn_mask is {attn_mask.shape}, but should be "
                    f"{(bsz * num_heads, tgt_len, src_len)}."
                )
        else:
            raise RuntimeError(f"attn_mask's dimension {attn_mask.dim()} is not supported")

    # A learned extra key and value, which every query may attend to (masks get a 0 column).
    if bias_k is not None and bias_v is not None:
        if static_k is not None:
            raise AssertionError("bias cannot be added to static key.")
        if static_v is not None:
            raise AssertionError("bias cannot be added to static value.")
        k = cat([k, bias_k.repeat(1, bsz, 1)])
        v = cat([v, bias_v.repeat(1, bsz, 1)])
        if attn_mask is not None:
            attn_mask = pad(attn_mask, (0, 1))
        if key_padding_mask is not None:
            key_padding_mask = pad(key_padding_mask, (0, 1))
    elif bias_k is not None:
        raise AssertionError("bias_k is set but bias_v is None")
    elif bias_v is not None:
        raise AssertionError("bias_v is set but bias_k is None")

    # Heads become part of the batch: (seq, N, E) -> (N * heads, seq, head_dim).
    q = q.reshape(tgt_len, bsz * num_heads, head_dim).transpose(0, 1)
    if static_k is None:
        k = k.reshape(k.shape[0], bsz * num_heads, head_dim).transpose(0, 1)
    else:
        _check_static("static_k", static_k, bsz * num_heads, head_dim)
        k = static_k
    if static_v is None:
        v = v.reshape(v.shape[0], bsz * num_heads, head_dim).transpose(0, 1)
    else:
        _check_static("static_v", static_v, bsz * num_heads, head_dim)
        v = static_v

    if add_zero_attn:
        zeros = creation.zeros((bsz * num_heads, 1, head_dim), dtype=k.dtype, device=k.device)
        k = cat([k, zeros], dim=1)
        v = cat([v, zeros.to(v.dtype)], dim=1)
        if attn_mask is not None:
            attn_mask = pad(attn_mask, (0, 1))
        if key_padding_mask is not None:
            key_padding_mask = pad(key_padding_mask, (0, 1))

    src_len = k.size(1)

    if key_padding_mask is not None:
        if key_padding_mask.shape[0] != bsz:
            raise AssertionError(
                f"Expected key_padded_mask.shape[0] to be {bsz}, but got "
                f"{key_padding_mask.shape[0]}"
            )
        if key_padding_mask.shape[1] != src_len:
            raise AssertionError(
                f"Expected key_padded_mask.shape[1] to be {src_len}, but got "
                f"{key_padding_mask.shape[1]}"
            )
        key_padding_mask = (
            key_padding_mask.reshape(bsz, 1, 1, src_len)
            .expand(-1, num_heads, -1, -1)
            .reshape(bsz * num_heads, 1, src_len)
        )
        attn_mask = key_padding_mask if attn_mask is None else attn_mask + key_padding_mask

    if not training:
        dropout_p = 0.0

    if need_weights:
        E = q.shape[-1]
        q_scaled = q * math.sqrt(1.0 / float(E))
        if attn_mask is not None:
            weights = baddbmm(attn_mask, q_scaled, k.transpose(-2, -1))
        else:
            weights = bmm(q_scaled, k.transpose(-2, -1))
        weights = softmax(weights, dim=-1)
        if dropout_p > 0.0:
            weights = dropout(weights, p=dropout_p)
        out = bmm(weights, v)
        out = out.transpose(0, 1).reshape(tgt_len * bsz, embed_dim)
        out = linear(out, out_proj_weight, out_proj_bias)
        out = out.reshape(tgt_len, bsz, out.size(1))
        weights = weights.reshape(bsz, num_heads, tgt_len, src_len)
        if average_attn_weights:
            weights = weights.mean(dim=1)
        if not is_batched:
            out, weights = out.squeeze(1), weights.squeeze(0)
        return out, weights

    if attn_mask is not None:
        # (1, L, S) broadcasts over batch and heads; (N * heads, L, S) splits into them.
        if attn_mask.size(0) == 1 and attn_mask.dim() == 3:
            attn_mask = attn_mask.unsqueeze(0)
        else:
            attn_mask = attn_mask.reshape(bsz, num_heads, -1, src_len)
    q = q.reshape(bsz, num_heads, tgt_len, head_dim)
    k = k.reshape(bsz, num_heads, src_len, head_dim)
    v = v.reshape(bsz, num_heads, src_len, head_dim)
    out = scaled_dot_product_attention(q, k, v, attn_mask, dropout_p, is_causal)
    out = out.permute(2, 0, 1, 3).reshape(bsz * tgt_len, embed_dim)
    out = linear(out, out_proj_weight, out_proj_bias)
    out = out.reshape(tgt_len, bsz, out.size(1))
    if not is_batched:
        out = out.squeeze(1)
    return out, None


def _check_static(name: str, t: Tensor, batch_heads: int, head_dim: int) -> None:
    if t.size(0) != batch_heads:
        raise AssertionError(f"expecting {name}.size(0) of {batch_heads}, but got {t.size(0)}")
    if t.size(2) != head_dim:
        raise AssertionError(f"expecting {name}.size(2) of {head_dim}, but got {t.size(2)}")


# The torch.* names whose signature is nn.functional's.
for _fn in (threshold_, hardshrink, prelu, rms_norm, channel_shuffle):
    TORCH_FUNCTIONS[_fn.__name__] = _fn


# ------------------------------------------------------------------------------------------------
# Local response norm, the deprecated upsample aliases and the margin losses.
__all__ += [
    "local_response_norm",
    "upsample",
    "upsample_nearest",
    "upsample_bilinear",
    "triplet_margin_with_distance_loss",
    "multi_margin_loss",
    "multilabel_margin_loss",
]


def local_response_norm(
    input: Tensor, size: int, alpha: float = 1e-4, beta: float = 0.75, k: float = 1.0
) -> Tensor:
    """Normalise each element by its neighbours across channels, as
    ``torch.nn.functional.local_response_norm``: ``x / (k + alpha * mean(x^2))^beta``, the mean
    over a window of ``size`` channels (``size // 2`` before, ``(size - 1) // 2`` after, zero
    padded) of an (N, C, *) input with at least one spatial dimension. Composed as PyTorch
    composes it (square, pad, average pool, power), so the gradient is those ops' rules."""
    dim = input.ndim
    if dim < 3:
        raise ValueError(
            "Expected 3D or higher dimensionality                          input (got "
            f"{dim} dimensions)"
        )
    if isinstance(size, bool) or not isinstance(size, (int, np.integer)):
        raise TypeError(
            f"local_response_norm(): argument 'size' must be int, not {type(size).__name__}"
        )
    if input.numel() == 0:
        return input
    div = input.mul(input)
    if dim == 3:
        div = pad(div.unsqueeze(1), (0, 0, size // 2, (size - 1) // 2))
        div = _pooling.avg_pool2d(div, (size, 1), stride=1).squeeze(1)
    else:
        sizes = tuple(input.shape)
        div = div.reshape(sizes[0], 1, sizes[1], sizes[2], -1)
        div = pad(div, (0, 0, 0, 0, size // 2, (size - 1) // 2))
        div = _pooling.avg_pool3d(div, (size, 1, 1), stride=1).squeeze(1).reshape(sizes)
    div = div.mul(alpha).add(k).pow(beta)
    return input / div


def upsample(
    input: Tensor, size=None, scale_factor=None, mode: str = "nearest", align_corners=None
) -> Tensor:
    """Deprecated alias of :func:`interpolate` (with a warning, as PyTorch)."""
    warnings.warn(
        "`nn.functional.upsample` is deprecated. Use `nn.functional.interpolate` instead.",
        stacklevel=2,
    )
    return _resize.interpolate(input, size, scale_factor, mode, align_corners)


def upsample_nearest(input: Tensor, size=None, scale_factor=None) -> Tensor:
    """Deprecated: ``interpolate(input, size, scale_factor, mode='nearest')``, with a warning."""
    warnings.warn(
        "`nn.functional.upsample_nearest` is deprecated. Use `nn.functional.interpolate` instead.",
        stacklevel=2,
    )
    return _resize.interpolate(input, size, scale_factor, mode="nearest")


def upsample_bilinear(input: Tensor, size=None, scale_factor=None) -> Tensor:
    """Deprecated: ``interpolate(input, size, scale_factor, mode='bilinear',
    align_corners=True)``, with a warning."""
    warnings.warn(
        "`nn.functional.upsample_bilinear` is deprecated. Use `nn.functional.interpolate` instead.",
        stacklevel=2,
    )
    return _resize.interpolate(input, size, scale_factor, mode="bilinear", align_corners=True)


def triplet_margin_with_distance_loss(
    anchor: Tensor,
    positive: Tensor,
    negative: Tensor,
    *,
    distance_function=None,
    margin: float = 1.0,
    swap: bool = False,
    reduction: str = "mean",
) -> Tensor:
    """``max(0, margin + d(a, p) - d(a, n))`` with ``d = distance_function`` (any callable of
    two tensors returning per-sample distances; default ``pairwise_distance``); ``swap`` uses
    ``min(d(a, n), d(p, n))`` for the negative distance. The gradient is that of the ops the
    distance function records."""
    if reduction not in ("mean", "sum", "none"):
        raise ValueError(f"{reduction} is not a valid value for reduction")
    if margin <= 0:
        raise ValueError(f"margin must be greater than 0, got {margin}")
    a, pd, nd = anchor.ndim, positive.ndim, negative.ndim
    if not a == pd == nd:
        raise RuntimeError(
            "The anchor, positive, and negative tensors are expected to have the same number of "
            f"dimensions, but got: anchor {a}D, positive {pd}D, and negative {nd}D inputs"
        )
    if distance_function is None:
        distance_function = pairwise_distance
    dist_pos = distance_function(anchor, positive)
    dist_neg = distance_function(anchor, negative)
    if swap:
        dist_neg = dist_neg.minimum(distance_function(positive, negative))
    return _reduce((margin + dist_pos - dist_neg).clamp_min(0), reduction)


def _margin_reduction(size_average, reduce, reduction: str) -> str:
    if size_average is not None or reduce is not None:
        return _legacy(size_average, reduce)
    if reduction not in ("none", "mean", "sum"):
        raise ValueError(f"{reduction} is not a valid value for reduction")
    return reduction


def _margin_frames(input: Tensor) -> tuple[int, int]:
    """(samples, classes) of a margin loss's (N, C), (C,) or 0-d input, with PyTorch's check."""
    n = input.ndim
    if not ((n == 2 and input.shape[1] != 0) or (n == 1 and input.shape[0] != 0) or n == 0):
        raise RuntimeError(
            "Expected non-empty vector or matrix with optional 0-dim batch size, but got: "
            f"{list(input.shape)}"
        )
    return (1 if n <= 1 else input.shape[0]), (1 if n == 0 else input.shape[-1])


def _margin_dtypes(kernel: str, input: Tensor, target: Tensor) -> None:
    if not input.dtype.is_floating_point:
        raise NotImplementedError(
            f"\"{kernel}\" not implemented for '{scalar_type_name(input.dtype)}'"
        )
    if target.dtype.name != "int64":
        raise RuntimeError(f"expected scalar type Long but found {scalar_type_name(target.dtype)}")


def _margin_reduce(loss: Tensor, reduction: str, per_sample: bool) -> Tensor:
    """PyTorch's margin-loss reductions: ``'none'`` gives one loss per sample (a 0-d tensor
    unless ``per_sample``); ``'mean'`` of an empty batch is NaN."""
    if reduction == "none":
        return loss if per_sample else loss.reshape(())
    return _reduce(loss, reduction)


@autocast_entry("multi_margin_loss")
def multi_margin_loss(
    input: Tensor,
    target: Tensor,
    p: int = 1,
    margin: float = 1.0,
    weight: Tensor | None = None,
    size_average=None,
    reduce=None,
    reduction: str = "mean",
) -> Tensor:
    """The multi-class hinge loss, as ``torch.nn.functional.multi_margin_loss``: per sample,
    ``sum over i != y of w[y] * max(0, margin - x[y] + x[i])^p / C`` for an (N, C) or (C,)
    ``input`` and int64 class indices ``target``; ``p`` is 1 or 2, ``weight`` (C,) optional.
    The hinge is strict, as PyTorch's kernel: a term exactly at the margin adds no gradient.
    ``weight`` is not differentiable (PyTorch's error if it requires grad)."""
    reduction = _margin_reduction(size_average, reduce, reduction)
    if p != 1 and p != 2:
        raise ValueError("only p == 1 and p == 2 supported")
    if weight is not None and weight.ndim != 1:
        raise ValueError("weight must be one-dimensional")
    nframe, dim = _margin_frames(input)
    if target.ndim > 1 or target.numel() != nframe:
        raise RuntimeError(
            "multi_margin_loss: target tensor should be 1-D with size equal to the number of "
            f"input samples (batch size). Expected target size [{nframe}], but got "
            f"{list(target.shape)}. Input has shape {list(input.shape)}."
        )
    if weight is not None and weight.numel() != dim:
        raise RuntimeError(f"inconsistent weight size, expected {dim} but got {list(weight.shape)}")
    _margin_dtypes("multi_margin_loss_cpu_kernel", input, target)
    if weight is not None:
        if weight.dtype != input.dtype:
            raise RuntimeError(
                f"expected scalar type {scalar_type_name(input.dtype)} but found "
                f"{scalar_type_name(weight.dtype)}"
            )
        if weight.requires_grad and is_grad_enabled():
            raise RuntimeError(
                "The function 'multi_margin_loss' is not differentiable with respect to argument "
                "'weight'. This input cannot have requires_grad True."
            )
    _check_range(target._storage.array, 0, dim, lambda v: RuntimeError("target out of range"))
    x = input.reshape(nframe, dim)
    t = target.reshape(nframe, 1)
    z = margin - x.gather(1, t) + x
    classes = Tensor._wrap(jnp.arange(dim))
    h = where((z > 0) & (classes != t), z, 0.0)
    if p == 2:
        h = h * h
    if weight is not None:
        h = h * weight.gather(0, t.reshape(-1)).reshape(nframe, 1)
    return _margin_reduce(h.sum(1) / dim, reduction, target.ndim > 0)


@autocast_entry("multilabel_margin_loss")
def multilabel_margin_loss(
    input: Tensor,
    target: Tensor,
    size_average=None,
    reduce=None,
    reduction: str = "mean",
) -> Tensor:
    """The multi-class multi-label hinge loss, as ``torch.nn.functional.multilabel_margin_loss``:
    ``target`` (int64, ``input``'s shape) lists each sample's classes, ended by the first -1; per
    sample, ``sum over listed j and unlisted i of max(0, 1 - (x[j] - x[i])) / C``. A class
    listed twice counts twice, as in PyTorch's kernel; the hinge is strict (no gradient exactly
    at the margin)."""
    reduction = _margin_reduction(size_average, reduce, reduction)
    nframe, dim = _margin_frames(input)
    if input.ndim <= 1:
        ok = target.ndim <= 1 and target.numel() == dim
    else:
        ok = tuple(target.shape) == (nframe, dim)
    if not ok:
        raise RuntimeError(
            f"inconsistent target size: {list(target.shape)} for input of size: {list(input.shape)}"
        )
    _margin_dtypes("multilabel_margin_loss_forward_out_frame", input, target)
    _check_range(
        target._storage.array,
        -1,
        dim,
        lambda v: RuntimeError("argument #2 'target' is out of range"),
    )
    x = input.reshape(nframe, dim)
    t = target.reshape(nframe, dim)
    listed = (t < 0).cumsum(1) == 0  # the entries before the first -1
    t = where(listed, t, 0)
    classes = Tensor._wrap(jnp.arange(dim))
    is_target = (listed.unsqueeze(2) & (t.unsqueeze(2) == classes)).any(1)  # (N, C)
    z = 1 - x.gather(1, t).unsqueeze(2) + x.unsqueeze(1)  # (N, listed j, class i)
    keep = listed.unsqueeze(2) & ~is_target.unsqueeze(1) & (z > 0)
    loss = where(keep, z, 0.0).sum((1, 2)) / dim
    return _margin_reduce(loss, reduction, target.ndim > 1)


# ------------------------------------------------------------------------------------------------
# Pooling with indices, max unpooling and power-average pooling.
__all__ += [
    "max_pool2d_with_indices",
    "max_pool3d_with_indices",
    "adaptive_max_pool1d_with_indices",
    "adaptive_max_pool2d_with_indices",
    "adaptive_max_pool3d_with_indices",
    "max_unpool1d",
    "max_unpool2d",
    "max_unpool3d",
    "lp_pool1d",
    "lp_pool2d",
    "lp_pool3d",
]


def max_pool2d_with_indices(
    input: Tensor,
    kernel_size,
    stride=None,
    padding=0,
    dilation=1,
    ceil_mode: bool = False,
    return_indices: bool = False,
):
    """``max_pool2d`` returning ``(values, indices)`` whatever ``return_indices`` says (it is in
    PyTorch's signature and ignored there too)."""
    del return_indices
    return _pooling.max_pool2d(input, kernel_size, stride, padding, dilation, ceil_mode, True)


def max_pool3d_with_indices(
    input: Tensor,
    kernel_size,
    stride=None,
    padding=0,
    dilation=1,
    ceil_mode: bool = False,
    return_indices: bool = False,
):
    """``max_pool3d`` returning ``(values, indices)`` whatever ``return_indices`` says."""
    del return_indices
    return _pooling.max_pool3d(input, kernel_size, stride, padding, dilation, ceil_mode, True)


def adaptive_max_pool1d_with_indices(input: Tensor, output_size, return_indices: bool = False):
    """``adaptive_max_pool1d`` returning ``(values, indices)`` whatever ``return_indices`` says."""
    del return_indices
    return _pooling.adaptive_max_pool1d(input, output_size, True)


def adaptive_max_pool2d_with_indices(input: Tensor, output_size, return_indices: bool = False):
    """``adaptive_max_pool2d`` returning ``(values, indices)`` whatever ``return_indices`` says."""
    del return_indices
    return _pooling.adaptive_max_pool2d(input, output_size, True)


def adaptive_max_pool3d_with_indices(input: Tensor, output_size, return_indices: bool = False):
    """``adaptive_max_pool3d`` returning ``(values, indices)`` whatever ``return_indices`` says."""
    del return_indices
    return _pooling.adaptive_max_pool3d(input, output_size, True)


def _ntuple_arg(value, n: int) -> tuple:
    """PyTorch's ``_single``/``_pair``/``_triple``: a sequence as given, else repeated."""
    return tuple(value) if isinstance(value, (tuple, list)) else (value,) * n


def _unpool_output_size(input: Tensor, kernel, stride, padding, output_size) -> tuple:
    """PyTorch's ``_unpool_output_size``: the default size (in - 1) s + k - 2 p per axis, or the
    given ``output_size`` (its last ``len(kernel)`` entries when it also names N and C), which
    must lie strictly within one stride of the default."""
    nd = len(kernel)
    size = tuple(input.shape)
    default = [(size[-nd + d] - 1) * stride[d] + kernel[d] - 2 * padding[d] for d in range(nd)]
    if output_size is None:
        return tuple(default)
    if isinstance(output_size, int):
        output_size = [output_size]
    if len(output_size) == nd + 2:
        output_size = output_size[2:]
    if len(output_size) != nd:
        raise ValueError(
            "output_size should be a sequence containing "
            f"{nd} or {nd + 2} elements, but it has a length of '{len(output_size)}'"
        )
    for d in range(nd):
        lo, hi = default[d] - stride[d], default[d] + stride[d]
        if not lo < output_size[d] < hi:
            raise ValueError(
                f'invalid output_size "{output_size}" (dim {d} must be between {lo} and {hi})'
            )
    return tuple(int(o) for o in output_size)


def _max_unpool(fname: str, input: Tensor, indices: Tensor, size: tuple, stride=None) -> Tensor:
    """PyTorch's checks of ``max_unpool2d``/``max_unpool3d``, then the scatter op."""
    nd = len(size)
    if indices.dtype.name != "int64":
        raise RuntimeError(
            f"elements in indices should be type int64 but got: {scalar_type_name(indices.dtype)}"
        )
    if input.ndim not in (nd + 1, nd + 2):
        raise RuntimeError(
            f"Input to max_unpooling{nd}d should be a {nd + 1}d or {nd + 2}d Tensor, but got a "
            f"tensor with {input.ndim} dimensions."
        )
    if tuple(indices.shape) != tuple(input.shape):
        raise RuntimeError(
            "Expected shape of indices to be same as that of the input tensor "
            f"({list(input.shape)}) but got indices tensor with shape: {list(indices.shape)}"
        )
    for i in range(1, input.ndim) if input.ndim == nd + 2 else range(input.ndim):
        if input.shape[i] == 0:
            raise RuntimeError(
                f"max_unpooling{nd}d_forward_out_cpu(): Expected input to have non-zero size for "
                f"non-batch dimensions, but got {list(input.shape)} with dimension {i} being "
                "empty."
            )
    if stride is not None and any(s <= 0 for s in stride):
        raise RuntimeError(f"strides should be greater than zero, but got stride: {list(stride)}")
    if not input.dtype.is_floating_point:
        raise NotImplementedError(
            f"\"{fname}\" not implemented for '{scalar_type_name(input.dtype)}'"
        )
    volume = "x".join(str(n) for n in size)

    def invalid(bad) -> RuntimeError:
        return RuntimeError(
            f"Found an invalid max index: {int(bad)} (output volumes are of size {volume})"
        )

    if _concrete(indices):
        # PyTorch reports the last invalid index in memory order (its loop keeps the latest).
        flat = np.asarray(indices._storage.array).reshape(-1)
        bad = np.flatnonzero((flat < 0) | (flat >= math.prod(size)))
        if bad.size:
            raise invalid(flat[bad[-1]])
    else:
        _check_range(indices._storage.array, 0, math.prod(size), invalid)
    return _pooling._max_unpool(input, indices, size=tuple(size))


def max_unpool1d(
    input: Tensor, indices: Tensor, kernel_size, stride=None, padding=0, output_size=None
) -> Tensor:
    """Partial inverse of ``max_pool1d``, as ``torch.nn.functional.max_unpool1d``: zeros of the
    unpooled length with each value of ``input`` (N, C, L) or (C, L) written at its index from
    ``indices``. Runs as ``max_unpool2d`` of a width-1 plane (``SqueezeBackward1``)."""
    k = _ntuple_arg(kernel_size, 1)
    s = k if stride is None else _ntuple_arg(stride, 1)
    p = _ntuple_arg(padding, 1)
    size = _unpool_output_size(input, k, s, p, output_size) + (1,)
    return _max_unpool("max_unpool2d", input.unsqueeze(-1), indices.unsqueeze(-1), size).squeeze(-1)


@autocast_entry("max_unpool2d")
def max_unpool2d(
    input: Tensor, indices: Tensor, kernel_size, stride=None, padding=0, output_size=None
) -> Tensor:
    """Partial inverse of ``max_pool2d``, as ``torch.nn.functional.max_unpool2d``: zeros of the
    unpooled size ((in - 1) stride + kernel - 2 padding, or ``output_size``) with each value of
    ``input`` (N, C, H, W) or (C, H, W) written at its flat plane index (h * W + w) from
    ``indices``; everything else is zero. The gradient reads the cotangent back at the indices."""
    k = _ntuple_arg(kernel_size, 2)
    s = k if stride is None else _ntuple_arg(stride, 2)
    p = _ntuple_arg(padding, 2)
    size = _unpool_output_size(input, k, s, p, output_size)
    return _max_unpool("max_unpool2d", input, indices, size)


@autocast_entry("max_unpool3d")
def max_unpool3d(
    input: Tensor, indices: Tensor, kernel_size, stride=None, padding=0, output_size=None
) -> Tensor:
    """Partial inverse of ``max_pool3d``, as ``torch.nn.functional.max_unpool3d`` (see
    :func:`max_unpool2d`; indices are flat within each (D, H, W) volume)."""
    k = _ntuple_arg(kernel_size, 3)
    s = k if stride is None else _ntuple_arg(stride, 3)
    p = _ntuple_arg(padding, 3)
    size = _unpool_output_size(input, k, s, p, output_size)
    return _max_unpool("max_unpool3d", input, indices, size, stride=s)


def _lp_pool(nd: int, input: Tensor, norm_type, kernel_size, stride, ceil_mode: bool) -> Tensor:
    """PyTorch's power-average pooling, composed as PyTorch composes it: the average pool of
    ``x^p`` (no padding, ``ceil_mode`` as given), ``sign(a) * relu(|a|)`` times the kernel's
    size, to the power ``1/p``; ``p = ±inf`` is a max pool of ``|x|`` (negated for -inf)."""
    maxpool = (_pooling.max_pool1d, _pooling.max_pool2d, _pooling.max_pool3d)[nd - 1]
    avgpool = (_pooling.avg_pool1d, _pooling.avg_pool2d, _pooling.avg_pool3d)[nd - 1]
    if isinstance(norm_type, (int, float)):
        if norm_type == float("inf"):
            return maxpool(input.abs(), kernel_size, stride, 0, 1, ceil_mode)
        if norm_type == -float("inf"):
            return -maxpool(-input.abs(), kernel_size, stride, 0, 1, ceil_mode)
    out = avgpool(input.pow(norm_type), kernel_size, stride, 0, ceil_mode)
    numel = math.prod(_ntuple_arg(kernel_size, nd))
    return (out.sign() * relu(out.abs())).mul(numel).pow(1.0 / norm_type)


def lp_pool1d(
    input: Tensor, norm_type, kernel_size, stride=None, ceil_mode: bool = False
) -> Tensor:
    """1-D power-average pooling, as ``torch.nn.functional.lp_pool1d``: over each window,
    ``(sum x^p)^(1/p)`` (computed as PyTorch does, from ``avg_pool1d`` of ``x^p``)."""
    return _lp_pool(1, input, norm_type, kernel_size, stride, ceil_mode)


def lp_pool2d(
    input: Tensor, norm_type, kernel_size, stride=None, ceil_mode: bool = False
) -> Tensor:
    """2-D power-average pooling, as ``torch.nn.functional.lp_pool2d``: over each window,
    ``(sum x^p)^(1/p)`` (computed as PyTorch does, from ``avg_pool2d`` of ``x^p``)."""
    return _lp_pool(2, input, norm_type, kernel_size, stride, ceil_mode)


def lp_pool3d(
    input: Tensor, norm_type, kernel_size, stride=None, ceil_mode: bool = False
) -> Tensor:
    """3-D power-average pooling, as ``torch.nn.functional.lp_pool3d``: over each window,
    ``(sum x^p)^(1/p)`` (computed as PyTorch does, from ``avg_pool3d`` of ``x^p``)."""
    return _lp_pool(3, input, norm_type, kernel_size, stride, ceil_mode)


# ------------------------------------------------------------------------------------------------
# Spatial transformers: affine_grid and grid_sample check PyTorch's arguments here, then run one
# op each (ops/sampling.py: AffineGridGeneratorBackward0, GridSampler2DBackward0 / 3D).
__all__ += ["affine_grid", "grid_sample"]

_ALIGN_WARNING = (
    "Default grid_sample and affine_grid behavior has changed "
    "to align_corners=False since 1.3.0. Please specify "
    "align_corners=True if the old behavior is desired. "
    "See the documentation of grid_sample for details."
)


def affine_grid(theta: Tensor, size, align_corners: bool | None = None) -> Tensor:
    """Sampling grid of an affine map, as ``torch.nn.functional.affine_grid``: for ``size`` (N,
    C, H, W) and ``theta`` (N, 2, 3) the (N, H, W, 2) grid ``theta @ [x, y, 1]`` over the output's
    normalised pixel coordinates (x along W); for (N, C, D, H, W) and (N, 3, 4) the (N, D, H, W,
    3) grid. Differentiable in ``theta``."""
    if align_corners is None:
        warnings.warn(_ALIGN_WARNING, stacklevel=2)
        align_corners = False
    if not theta.dtype.is_floating_point:
        raise ValueError(f"Expected theta to have floating point type, but got {theta.dtype}")
    size = tuple(size) if not isinstance(size, tuple) else size
    if len(size) == 4:
        if theta.ndim != 3 or tuple(theta.shape[-2:]) != (2, 3):
            raise ValueError(
                "Expected a batch of 2D affine matrices of shape Nx2x3 for size "
                f"{size}. Got {theta.shape}."
            )
    elif len(size) == 5:
        if theta.ndim != 3 or tuple(theta.shape[-2:]) != (3, 4):
            raise ValueError(
                "Expected a batch of 3D affine matrices of shape Nx3x4 for size "
                f"{size}. Got {theta.shape}."
            )
    else:
        raise NotImplementedError(
            "affine_grid only supports 4D and 5D sizes, "
            "for 2D and 3D affine transforms, respectively. "
            f"Got size {size}."
        )
    spatial = size[2:]
    if align_corners and min(spatial) == 1:
        warnings.warn(
            "Since version 1.3.0, affine_grid behavior has changed "
            "for unit-size grids when align_corners=True. "
            "This is not an intended use case of affine_grid. "
            "See the documentation of affine_grid for details.",
            stacklevel=2,
        )
    elif min(size) <= 0:
        raise ValueError(f"Expected non-zero, positive output size. Got {size}")
    return _sampling._affine_grid_generator(theta, size=size, align_corners=bool(align_corners))


@autocast_entry("grid_sample")
def grid_sample(
    input: Tensor,
    grid: Tensor,
    mode: str = "bilinear",
    padding_mode: str = "zeros",
    align_corners: bool | None = None,
) -> Tensor:
    """Sample ``input`` (N, C, H, W) at the normalised locations ``grid`` (N, Ho, Wo, 2) (x, y in
    [-1, 1]), as ``torch.nn.functional.grid_sample``; 5-D inputs take (N, Do, Ho, Wo, 3) grids.
    ``mode`` 'bilinear' (trilinear in 5-D), 'nearest' (round half to even) or 'bicubic' (4-D
    only, PyTorch's cubic convolution); ``padding_mode`` 'zeros', 'border' or 'reflection'.
    Gradients flow to ``input`` (scatter-adds of the taps) and, for 'bilinear' and 'bicubic',
    to ``grid``, as PyTorch's."""
    if mode not in ("bilinear", "nearest", "bicubic"):
        raise ValueError(
            "nn.functional.grid_sample(): expected mode to be 'bilinear', 'nearest' or "
            f"'bicubic', but got: '{mode}'"
        )
    if padding_mode not in ("zeros", "border", "reflection"):
        raise ValueError(
            "nn.functional.grid_sample(): expected padding_mode "
            "to be 'zeros', 'border', or 'reflection', "
            f"but got: '{padding_mode}'"
        )
    if align_corners is None:
        warnings.warn(_ALIGN_WARNING, stacklevel=2)
        align_corners = False
    nd = input.ndim - 2
    sizes = f"input with sizes {list(input.shape)} and grid with sizes {list(grid.shape)}"
    if grid.shape[-1] != nd:
        raise RuntimeError(
            f"grid_sampler(): expected grid to have size {nd} in last dimension, but got grid "
            f"with sizes {list(grid.shape)}"
        )
    if input.ndim not in (4, 5) or grid.ndim != input.ndim:
        raise RuntimeError(
            f"grid_sampler(): expected {input.ndim}D input and grid with same number of "
            f"dimensions, but got {sizes}"
        )
    if input.shape[0] != grid.shape[0]:
        raise RuntimeError(
            f"grid_sampler(): expected grid and input to have same batch size, but got {sizes}"
        )
    for i in range(2, input.ndim):
        if input.shape[i] == 0:
            raise RuntimeError(
                "grid_sampler(): expected input to have non-empty spatial dimensions, but "
                f"input has sizes {list(input.shape)} with dimension {i} being empty"
            )
    if input.dtype != grid.dtype:
        raise RuntimeError(
            f"expected scalar type {scalar_type_name(input.dtype)} but found "
            f"{scalar_type_name(grid.dtype)}"
        )
    if mode == "bicubic" and nd != 2:
        raise RuntimeError("grid_sampler(): bicubic interpolation only supports 4D input")
    op = _sampling._grid_sampler_2d if nd == 2 else _sampling._grid_sampler_3d
    return op(input, grid, mode=mode, padding_mode=padding_mode, align_corners=bool(align_corners))


# ------------------------------------------------------------------------------------------------
# Fractional max pooling: windows at pseudo-random, data-independent starts (PyTorch's
# generate_intervals), then a gather of each window's maximum, so the gradient is the gather's
# rule (a scatter-add at the arg-max), as PyTorch's.
__all__ += [
    "fractional_max_pool2d",
    "fractional_max_pool3d",
    "fractional_max_pool2d_with_indices",
    "fractional_max_pool3d_with_indices",
]

_FRACTIONAL_AXES = {2: ("height", "width"), 3: ("time", "height", "width")}


def _fractional_starts(sample, n: int, o: int, k: int, dtype):
    """PyTorch's ``generate_intervals`` for one axis, for every plane: (B,) samples in [0, 1) to
    (B, o) window starts ``int((i + u) alpha) - int(u alpha)``, alpha = (n - k) / (o - 1), in the
    input's dtype, the last start pinned to n - k."""
    b = sample.shape[0]
    last = jnp.full((b, min(o, 1)), n - k, jnp.int64)
    if o <= 1:
        return last
    alpha = np.array(n - k, dtype) / np.array(o - 1, dtype)
    i = jnp.arange(o - 1, dtype=dtype)
    starts = ((i[None, :] + sample[:, None]) * alpha).astype(jnp.int32)
    starts = starts - (sample * alpha).astype(jnp.int32)[:, None]
    return jnp.concatenate([starts.astype(jnp.int64), last], axis=1)


def _fractional_max_pool(
    nd: int, input: Tensor, kernel_size, output_size, output_ratio, samples
) -> tuple:
    fname = f"fractional_max_pool{nd}d"
    if output_size is None and output_ratio is None:
        raise ValueError(f"{fname} requires specifying either an output_size or an output_ratio")
    if input.ndim not in (nd + 1, nd + 2):
        raise RuntimeError(
            f"{fname}(): Expected {nd + 1}D or {nd + 2}D tensor, but got: {list(input.shape)}"
        )
    if output_size is None:
        if nd == 2 and isinstance(output_ratio, (tuple, list)) and len(output_ratio) > 2:
            raise ValueError(
                f"{fname} requires output_ratio to either be a single Int or tuple of Ints."
            )
        ratio = _ntuple_arg(output_ratio, nd)
        output_size = [int(input.shape[-nd + a] * ratio[a]) for a in range(nd)]
    kernel = tuple(int(v) for v in _ntuple_arg(kernel_size, nd))
    out = tuple(int(v) for v in _ntuple_arg(output_size, nd))
    batched = input.ndim == nd + 2
    n_batch = input.shape[0] if batched else 1
    channels = input.shape[-nd - 1]
    if samples is None:
        samples = creation.rand(n_batch, channels, nd, dtype=input.dtype, device=input.device)
    if samples.ndim != 3 or samples.shape[2] != nd:
        raise RuntimeError(
            f"Expect _random_samples.size(2) equals to {nd}; got {samples.shape[-1]}."
        )
    if samples.dtype != input.dtype:
        raise RuntimeError("Expect _random_samples to have the same dtype as input")
    spatial = tuple(input.shape[-nd:])
    for a in range(nd):
        if out[a] + kernel[a] - 1 > spatial[a]:
            what = _FRACTIONAL_AXES[nd][a]
            where_ = "_out" if nd == 3 else ""
            raise RuntimeError(
                f"{fname}{where_}(): pool {what} {kernel[a]} too large relative to input "
                f"{what} {spatial[a]}"
            )
    lead = tuple(input.shape[:-nd])
    b = math.prod(lead)
    plane = math.prod(spatial)
    u = samples.detach()._storage.array.reshape(n_batch * channels, nd)
    # PyTorch's sample order: 2-D windows take (width, height) = (u[0], u[1]); 3-D (t, h, w).
    col = (1, 0) if nd == 2 else (0, 1, 2)
    dtype = np.dtype(u.dtype)
    flat_idx = jnp.zeros((b,) + (1,) * (2 * nd), jnp.int64)
    for a in range(nd):
        starts = _fractional_starts(u[:, col[a]], spatial[a], out[a], kernel[a], dtype)
        pos = starts[:, :, None] + jnp.arange(kernel[a], dtype=jnp.int64)[None, None, :]
        shape = [b] + [1] * (2 * nd)
        shape[1 + a], shape[1 + nd + a] = out[a], kernel[a]
        flat_idx = flat_idx * spatial[a] + pos.reshape(shape)
    flat_idx = jnp.broadcast_to(flat_idx, (b, *out, *kernel)).reshape(b, *out, -1)
    x = input.detach()._storage.array.reshape(b, plane)
    vals = jnp.take_along_axis(x, flat_idx.reshape(b, -1), axis=1).reshape(flat_idx.shape)
    # PyTorch keeps the first maximum, or the last NaN when a window holds one.
    nan = (
        jnp.isnan(vals) if jnp.issubdtype(vals.dtype, jnp.floating) else jnp.zeros_like(vals, bool)
    )
    kk = vals.shape[-1]
    last_nan = kk - 1 - jnp.argmax(nan[..., ::-1], axis=-1)
    first_max = jnp.argmax(jnp.where(nan, -jnp.inf, vals), axis=-1)
    pick = jnp.where(nan.any(-1), last_nan, first_max)
    indices = jnp.take_along_axis(flat_idx, pick[..., None], axis=-1)[..., 0]
    idx = Tensor._wrap(indices.reshape(b, -1))
    values = input.reshape(b, plane).gather(1, idx).reshape(*lead, *out)
    return values, idx.reshape(*lead, *out)


def fractional_max_pool2d_with_indices(
    input: Tensor,
    kernel_size,
    output_size=None,
    output_ratio=None,
    return_indices: bool = False,
    _random_samples: Tensor | None = None,
):
    """Fractional max pooling of ``input`` (N, C, H, W) or (C, H, W), returning ``(values,
    indices)``, as ``torch.nn.functional.fractional_max_pool2d_with_indices``: windows of
    ``kernel_size`` at PyTorch's pseudo-random starts for ``output_size`` (or
    ``output_ratio`` times the input's size). ``_random_samples`` (N, C, 2) in [0, 1) fixes the
    starts (the result then equals PyTorch's); by default they are drawn from tracegrad's
    generator (``tracegrad.manual_seed``)."""
    del return_indices
    return _fractional_max_pool(2, input, kernel_size, output_size, output_ratio, _random_samples)


def fractional_max_pool3d_with_indices(
    input: Tensor,
    kernel_size,
    output_size=None,
    output_ratio=None,
    return_indices: bool = False,
    _random_samples: Tensor | None = None,
):
    """Fractional max pooling of ``input`` (N, C, T, H, W) or (C, T, H, W), returning
    ``(values, indices)``, as ``torch.nn.functional.fractional_max_pool3d_with_indices`` (see
    :func:`fractional_max_pool2d_with_indices`; ``_random_samples`` is (N, C, 3))."""
    del return_indices
    return _fractional_max_pool(3, input, kernel_size, output_size, output_ratio, _random_samples)


def fractional_max_pool2d(
    input: Tensor,
    kernel_size,
    output_size=None,
    output_ratio=None,
    return_indices: bool = False,
    _random_samples: Tensor | None = None,
):
    """Fractional max pooling, as ``torch.nn.functional.fractional_max_pool2d`` (see
    :func:`fractional_max_pool2d_with_indices`); the indices too with ``return_indices``."""
    res = _fractional_max_pool(2, input, kernel_size, output_size, output_ratio, _random_samples)
    return res if return_indices else res[0]


def fractional_max_pool3d(
    input: Tensor,
    kernel_size,
    output_size=None,
    output_ratio=None,
    return_indices: bool = False,
    _random_samples: Tensor | None = None,
):
    """Fractional 3-D max pooling, as ``torch.nn.functional.fractional_max_pool3d`` (see
    :func:`fractional_max_pool3d_with_indices`); the indices too with ``return_indices``."""
    res = _fractional_max_pool(3, input, kernel_size, output_size, output_ratio, _random_samples)
    return res if return_indices else res[0]


# ------------------------------------------------------------------- linear_cross_entropy
__all__ += ["linear_cross_entropy", "grouped_mm"]


def _lce_logits(input: Tensor, linear_weight: Tensor, linear_bias: Tensor | None) -> Tensor:
    """``linear(input, linear_weight, linear_bias)`` for a ``(C, d1, ..., dK, in)`` weight: the
    logits ``(*batch, C, d1, ..., dK)``, as one product with the flattened weight."""
    c, out_features = linear_weight.shape[0], tuple(linear_weight.shape[1:-1])
    if not out_features:
        return linear(input, linear_weight, linear_bias)
    flat = linear_weight.reshape(-1, linear_weight.shape[-1])
    logits = linear(input, flat).reshape(*input.shape[:-1], c, *out_features)
    return logits if linear_bias is None else logits + linear_bias


def linear_cross_entropy(
    input: Tensor,
    linear_weight: Tensor,
    target: Tensor,
    *,
    linear_bias: Tensor | None = None,
    weight: Tensor | None = None,
    reduction: str = "mean",
    ignore_index: int | None = None,
    label_smoothing: float = 0.0,
    options=None,
) -> Tensor:
    """``cross_entropy(linear(input, linear_weight, linear_bias), target, ...)``, as PyTorch
    2.13's ``linear_cross_entropy``: ``input`` is ``(in,)`` or ``(N, in)``, ``linear_weight``
    ``(C, in)`` or ``(C, d1, ..., dK, in)`` (a K-dimensional loss over logits
    ``(N, C, d1, ..., dK)``); a target of the logits' shape holds probabilities, otherwise class
    indices, and ``ignore_index=None`` means -100. With ``options`` (a
    ``LinearCrossEntropyOptions``) the batch is processed in chunks with the logits computed in
    ``options.acc_dtype``; configurations PyTorch's chunked path does not take (K > 0, label
    smoothing, reductions other than mean/sum/none, non-int64 targets) warn and use the plain
    path, as in PyTorch. Composed from tracegrad ops, so gradients flow to every input."""
    if input.ndim < 1 or input.ndim > 2:
        raise RuntimeError(f"expected input with dimensionality 1 or 2, got {input.ndim}")
    if linear_weight.ndim < 2:
        raise RuntimeError(
            f"expected linear_weight with dimensionality at least 2, got {linear_weight.ndim}"
        )
    num_batches, in_features = tuple(input.shape[:-1]), input.shape[-1]
    if in_features != linear_weight.shape[-1]:
        raise RuntimeError(
            "expected equal input and linear_weight last dimensions (in_features), "
            f"got {input.shape[-1]} and {linear_weight.shape[-1]}, respectively"
        )
    num_classes, out_features = linear_weight.shape[0], tuple(linear_weight.shape[1:-1])
    if linear_bias is not None and tuple(linear_bias.shape) != (num_classes, *out_features):
        raise RuntimeError(
            "expected linear_bias shape "
            f"{(num_classes, *out_features)}, got {tuple(linear_bias.shape)}"
        )
    if out_features and not num_batches:
        raise RuntimeError(
            f"K-dimensional loss defined by linear_weight shape {tuple(linear_weight.shape)} "
            f"requires batched input, (N, {in_features}), got unbatched"
            f" input with shape {tuple(input.shape)}"
        )
    logits_shape = (*num_batches, num_classes, *out_features)
    if tuple(target.shape) == logits_shape and ignore_index is not None:
        raise RuntimeError("ignore_index cannot be specified when target contains probabilities")
    ignore_index = ignore_index if ignore_index is not None else -100
    kwargs = dict(weight=weight, ignore_index=ignore_index, label_smoothing=label_smoothing)
    if options is None:
        return cross_entropy(
            _lce_logits(input, linear_weight, linear_bias), target, reduction=reduction, **kwargs
        )
    chunkable = (
        not out_features
        and reduction in {"mean", "sum", "none"}
        and label_smoothing == 0.0
        and target.dtype.name == "int64"
    )
    if not chunkable:
        warnings.warn(
            "linear_cross_entropy: ``options`` ignored; chunked path needs "
            "reduction in {'mean','sum','none'}, label_smoothing == 0, target.dtype"
            " == int64, out_features == (). Got "
            f"reduction={reduction!r}, label_smoothing={label_smoothing}, "
            f"target.dtype={target.dtype}, out_features={out_features}"
            ", tracing=False, linear_bias.shape="
            f"{tuple(linear_bias.shape) if linear_bias is not None else None}.",
            stacklevel=2,
        )
        return cross_entropy(
            _lce_logits(input, linear_weight, linear_bias), target, reduction=reduction, **kwargs
        )
    return _linear_cross_entropy_chunked(
        input, linear_weight, target, linear_bias, weight, reduction, ignore_index, options
    )


class _LinearCrossEntropyBatchChunked(Function):
    """The chunked loss of ``(N, in)`` rows: per-sample losses ``-cw[t] * log_softmax(x @ w.T +
    b)[t]``, computed ``step`` rows at a time in ``acc`` so that a chunk's ``(step, C)`` logits
    are the largest buffer, then reduced as ``cross_entropy`` does (``'mean'`` divides by the
    total class weight of the targets not ignored) and cast to the input dtype. Only the inputs
    are saved; backward recomputes each chunk's logits.

    With ``p = softmax(logits)`` and ``s = g * cw[t]`` (0 where ``t`` is ignored; ``g`` the
    per-sample cotangent, ``g / denom`` broadcast for ``'mean'``), the logits' cotangent is
    ``s * (p - onehot(t))``; ``x``, ``w`` and ``b`` get its products. Written in tracegrad ops,
    so ``create_graph=True`` records it. One node, as PyTorch's custom op: the subclasses carry
    the names of its backward nodes."""

    @staticmethod
    def forward(ctx, input, w, target, b, cw, reduction, ignore_index, step, acc):
        ctx.save_for_backward(input, w, b, target, cw)
        ctx.args = (reduction, ignore_index, step, acc)
        wa, ba = w.to(acc), None if b is None else b.to(acc)
        cwa = None if cw is None else cw.to(acc)
        losses = [
            cross_entropy(
                linear(input[s : s + step].to(acc), wa, ba),
                target[s : s + step],
                weight=cwa,
                ignore_index=ignore_index,
                reduction="none",
            )
            for s in range(0, input.shape[0], step)
        ]
        loss = losses[0] if len(losses) == 1 else cat(losses)
        ctx.denom = None
        if reduction == "sum":
            loss = loss.sum()
        elif reduction == "mean":
            kept = target != ignore_index
            if cw is None:
                ctx.denom = kept.sum().to(acc)
            else:
                picked = cw.to(acc).index_select(0, target.masked_fill(~kept, 0))
                ctx.denom = picked.masked_fill(~kept, 0.0).sum()
            loss = loss.sum() / ctx.denom
        return loss.to(input.dtype)

    @staticmethod
    def backward(ctx, g):
        input, w, b, target, cw = ctx.saved_tensors
        reduction, ignore_index, step, acc = ctx.args
        g = g.to(acc)
        if ctx.denom is not None:
            g = g / ctx.denom
        wa, ba = w.to(acc), None if b is None else b.to(acc)
        kept = target != ignore_index
        safe = target.masked_fill(~kept, 0)
        scale = g * kept.to(acc)  # a reduced loss's g broadcasts over the rows
        if cw is not None:
            scale = scale * cw.to(acc).index_select(0, safe)
        gx, gw, gb = [], None, None
        for s in range(0, input.shape[0], step):
            x = input[s : s + step].to(acc)
            p = softmax(linear(x, wa, ba), 1)
            gl = (p - one_hot(safe[s : s + step], p.shape[1]).to(acc)) * scale[s : s + step, None]
            gx.append(gl.matmul(wa))
            gw = gl.t().matmul(x) if gw is None else gw + gl.t().matmul(x)
            gb = gl.sum(0) if gb is None else gb + gl.sum(0)
        gx = (gx[0] if len(gx) == 1 else cat(gx)).to(input.dtype)
        gb = None if b is None else gb.to(b.dtype)
        return gx, gw.to(w.dtype), None, gb, None, None, None, None, None


# PyTorch 2.13 runs the chunked loss as the custom ops ``torch_nn::_linear_cross_entropy_batch_
# chunked`` (mean, sum) and ``..._no_reduction``, whose backward nodes are named after them.
class GeneratedBackwardFor_torch_nn__linear_cross_entropy_batch_chunked_default(  # noqa: N801
    _LinearCrossEntropyBatchChunked
):
    """The mean- or sum-reduced chunked loss (PyTorch's backward node name)."""


class GeneratedBackwardFor_torch_nn__linear_cross_entropy_batch_chunked_no_reduction_default(  # noqa: N801
    _LinearCrossEntropyBatchChunked
):
    """The per-sample chunked loss, ``reduction='none'`` (PyTorch's backward node name)."""


def _linear_cross_entropy_chunked(
    input, linear_weight, target, linear_bias, weight, reduction, ignore_index, options
) -> Tensor:
    """The ``options`` path: one node computing the loss ``batch_chunk_size`` rows at a time in
    ``acc_dtype`` (``_LinearCrossEntropyBatchChunked``); an unbatched input is a batch of one,
    squeezed after, as in PyTorch."""
    if weight is not None:  # PyTorch's chunked op takes a weight that requires grad, gives it none
        weight = weight.detach()
    batched = input.ndim == 2
    if not batched:
        input, target = input.unsqueeze(0), target.unsqueeze(0)
    n, in_features = input.shape
    options = options._adjust(
        n, in_features, linear_weight.shape[0], input.dtype, input.device.type
    )
    op = (
        GeneratedBackwardFor_torch_nn__linear_cross_entropy_batch_chunked_no_reduction_default
        if reduction == "none"
        else GeneratedBackwardFor_torch_nn__linear_cross_entropy_batch_chunked_default
    )
    out = op.apply(
        input,
        linear_weight,
        target,
        linear_bias,
        weight,
        reduction,
        ignore_index,
        options.batch_chunk_size,
        options.acc_dtype,
    )
    return out if batched else out.squeeze(0)


# ------------------------------------------------------------------------------- grouped_mm
_GROUPED_MM_DTYPES = ("float32", "bfloat16", "float16")


def _group_masks(offs: Tensor, length: int, dtype) -> Tensor:
    """``(G, length)``: ``mask[g, i]`` is 1 where ``offs[g-1] <= i < offs[g]`` (``offs[-1]`` = 0),
    so indices past ``offs[-1]`` belong to no group. Built from ``offs`` as a tensor, so it works
    on values traced by ``tracegrad.compile``."""
    ends = offs.long()
    starts = cat([creation.zeros(1, dtype=ends.dtype, device=offs.device), ends[:-1]])
    i = creation.arange(length, device=offs.device)
    return ((i >= starts.unsqueeze(1)) & (i < ends.unsqueeze(1))).to(dtype)


def grouped_mm(
    mat_a: Tensor,
    mat_b: Tensor,
    *,
    offs: Tensor | None = None,
    bias: Tensor | None = None,
    out_dtype=None,
) -> Tensor:
    """The grouped matrix product of Mixture-of-Experts layers, as PyTorch 2.13's
    ``grouped_mm``: ``offs`` (1-D int32, group ends) splits the jagged dimension of a 2-D
    operand. 2-D ``(M, K)`` x 3-D ``(G, K, N)``: rows ``offs[g-1]:offs[g]`` of ``mat_a`` times
    ``mat_b[g]``, shape ``(M, N)``; 3-D ``(G, M, K)`` x 2-D ``(K, N)``: ``mat_a[g]`` times
    columns ``offs[g-1]:offs[g]`` of ``mat_b``, ``(M, N)``; 2-D ``(M, K)`` x 2-D ``(K, N)``:
    the products over each group of ``K``, ``(G, M, N)``; 3-D x 3-D (no ``offs``): ``bmm``.
    Rows or columns past ``offs[-1]`` are zero (PyTorch leaves them unspecified). Dtypes, the
    ``bias`` and ``out_dtype`` are those PyTorch's CPU kernel accepts: float32, bfloat16 or
    float16, no bias, ``out_dtype`` equal to ``mat_a``'s. Composed of masked products (each
    group's product is computed over the whole jagged dimension and masked, ``G`` times the
    work of a ragged kernel), so gradients flow to both operands."""
    if mat_a.dtype.name not in _GROUPED_MM_DTYPES:
        raise RuntimeError(
            "Expected mat_a to be Float32, BFloat16 or Float16 matrix, got "
            f"{scalar_type_name(mat_a.dtype)}"
        )
    if mat_a.dtype != mat_b.dtype:
        raise RuntimeError(
            "expected m1 and m2 to have the same dtype, but got: "
            f"{cpp_type_name(mat_a.dtype)} != {cpp_type_name(mat_b.dtype)}"
        )
    if mat_a.ndim not in (2, 3) or mat_b.ndim not in (2, 3):
        raise RuntimeError(
            f"Multiplicands must be 2D or 3D but got mat_a.dim()={mat_a.ndim} and "
            f"mat_b.dim()={mat_b.ndim}"
        )
    if (mat_a.ndim == 2 or mat_b.ndim == 2) != (offs is not None):
        raise RuntimeError(
            "Have to provide offsets if there is a 2d matrix, or no offset if both matrices are 3d"
        )
    if offs is not None and offs.dtype.name != "int32":
        raise RuntimeError("Offsets have to be int32")
    if offs is not None and offs.ndim != 1:
        raise RuntimeError(f"Offsets tensor must be 1D, but got offs.dim()={offs.ndim}.")
    if mat_a.shape[-1] != mat_b.shape[-2]:
        raise RuntimeError("contraction dimension of mat_a and mat_b must match")
    if bias is not None:
        raise RuntimeError("Bias not supported yet")
    if out_dtype is not None and out_dtype != mat_a.dtype:
        raise RuntimeError("Grouped gemm output dtype must match `mat_a` dtype")
    if mat_a.ndim == 3 and mat_b.ndim == 3:
        if mat_a.shape[0] != mat_b.shape[0]:
            raise RuntimeError("batched dimension has to match")
        return mat_a.matmul(mat_b)
    g = offs.shape[0]
    if mat_a.ndim == 2 and mat_b.ndim == 2:  # groups of the contraction dimension
        mask = _group_masks(offs, mat_a.shape[1], mat_a.dtype)
        return (mat_a.unsqueeze(0) * mask.unsqueeze(1)).matmul(mat_b)
    if (mat_a if mat_a.ndim == 3 else mat_b).shape[0] != g:
        raise RuntimeError("matrix batch sizes have to match")
    if mat_a.ndim == 2:  # groups of rows of mat_a
        mask = _group_masks(offs, mat_a.shape[0], mat_a.dtype)
        return (mat_a.matmul(mat_b) * mask.unsqueeze(2)).sum(0)
    mask = _group_masks(offs, mat_b.shape[1], mat_a.dtype)  # groups of columns of mat_b
    return (mat_a.matmul(mat_b) * mask.unsqueeze(1)).sum(0)
