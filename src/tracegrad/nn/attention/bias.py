"""``torch.nn.attention.bias``: causal masks as objects, passed as ``attn_mask``.

``causal_upper_left(L, S)`` is ``is_causal=True``; ``causal_lower_right(L, S)`` aligns the
triangle to the bottom-right corner (query ``i`` sees keys up to ``i + S - L``, the masking of a
decoder step over a cache). ``F.scaled_dot_product_attention`` recognizes a ``CausalBias`` and
applies it inside the attention op, without an ``L x S`` mask. Unlike PyTorch's, ``CausalBias`` is
not a ``Tensor`` subclass: ``_materialize()`` gives its boolean mask as a tensor.
"""

from __future__ import annotations

import enum
import warnings

import jax.numpy as jnp

from ...tensor import Tensor

__all__ = ["causal_upper_left", "causal_lower_right", "CausalVariant", "CausalBias"]


class CausalVariant(enum.IntEnum):
    """Where the causal triangle is aligned: ``UPPER_LEFT`` (``tril(ones(L, S))``) or
    ``LOWER_RIGHT`` (``tril(ones(L, S), diagonal=S - L)``); equal when ``L == S``."""

    UPPER_LEFT = enum.auto()
    LOWER_RIGHT = enum.auto()


class CausalBias:
    """A causal attention pattern of ``seq_len_q`` queries over ``seq_len_kv`` keys, given to
    ``F.scaled_dot_product_attention`` as ``attn_mask``; build it with ``causal_upper_left`` or
    ``causal_lower_right``."""

    def __init__(self, variant: CausalVariant, seq_len_q: int, seq_len_kv: int) -> None:
        if not isinstance(variant, CausalVariant):
            raise AssertionError(f"variant must be a CausalVariant, got {type(variant).__name__}")
        self.variant = variant
        self.seq_len_q = seq_len_q
        self.seq_len_kv = seq_len_kv
        if seq_len_q > seq_len_kv and variant == CausalVariant.LOWER_RIGHT:
            warnings.warn(
                "Lower right causal bias will produce NaNs in the output when seq_len_q > "
                "seq_len_kv!",
                stacklevel=2,
            )

    @property
    def diagonal(self) -> int:
        """The offset of the triangle's diagonal (``torch.tril``'s ``diagonal``)."""
        if self.variant == CausalVariant.LOWER_RIGHT:
            return self.seq_len_kv - self.seq_len_q
        return 0

    def _materialize(self, device=None) -> Tensor:
        """The boolean mask (True takes part), ``seq_len_q x seq_len_kv``."""
        ones = jnp.ones((self.seq_len_q, self.seq_len_kv), bool)
        mask = Tensor._wrap(jnp.tril(ones, self.diagonal))
        return mask if device is None else mask.to(device)

    def __repr__(self) -> str:
        return repr(self._materialize())


def causal_upper_left(*size) -> CausalBias:
    """The causal bias aligned to the upper-left corner (``is_causal=True``) of ``size = (L, S)``."""
    if len(size) != 2:
        raise AssertionError("causal_upper_left only supports 2D tensors")
    seq_len_q, seq_len_kv = size
    return CausalBias(CausalVariant.UPPER_LEFT, seq_len_q, seq_len_kv)


def causal_lower_right(*size) -> CausalBias:
    """The causal bias aligned to the lower-right corner of ``size = (L, S)``: query ``i`` sees the
    keys up to ``i + S - L``."""
    if len(size) != 2:
        raise AssertionError("causal_lower_right only supports 2D tensors")
    seq_len_q, seq_len_kv = size
    return CausalBias(CausalVariant.LOWER_RIGHT, seq_len_q, seq_len_kv)
