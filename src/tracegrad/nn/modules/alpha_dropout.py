"""``AlphaDropout`` and ``FeatureAlphaDropout``, as ``torch.nn``: dropout that keeps SELU's
self-normalisation, active in training mode and the identity in eval mode."""

from __future__ import annotations

from ...tensor import Tensor
from .. import functional as F
from .dropout import _DropoutNd

__all__ = ["AlphaDropout", "FeatureAlphaDropout"]


class AlphaDropout(_DropoutNd):
    """Set each element, with probability ``p``, to SELU's negative saturation value, then map
    all affinely to keep zero mean and unit variance (see ``F.alpha_dropout``). As PyTorch's,
    ``forward`` never works in place (``inplace`` is only stored and shown)."""

    def forward(self, input: Tensor) -> Tensor:
        return F.alpha_dropout(input, self.p, self.training)


class FeatureAlphaDropout(_DropoutNd):
    """``AlphaDropout`` of whole channels (``input[n, c]``), one draw per channel (see
    ``F.feature_alpha_dropout``); like PyTorch's, never in place."""

    def forward(self, input: Tensor) -> Tensor:
        return F.feature_alpha_dropout(input, self.p, self.training)
