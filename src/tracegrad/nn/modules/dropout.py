"""``Dropout`` and its channel-wise forms, as ``torch.nn``: active in training mode, the identity
in eval mode; masks come from tracegrad's global generator (``tracegrad.manual_seed``)."""

from __future__ import annotations

from .. import functional as F
from .module import Module

__all__ = ["Dropout", "Dropout1d", "Dropout2d", "Dropout3d"]


class _DropoutNd(Module):
    _fn = "dropout"

    def __init__(self, p: float = 0.5, inplace: bool = False) -> None:
        super().__init__()
        if p < 0 or p > 1:
            raise ValueError(f"dropout probability has to be between 0 and 1, but got {p}")
        self.p = p
        self.inplace = inplace

    def extra_repr(self) -> str:
        return f"p={self.p}, inplace={self.inplace}"

    def forward(self, input):
        return getattr(F, self._fn)(input, self.p, self.training, self.inplace)


class Dropout(_DropoutNd):
    """Zero each element with probability ``p`` in training, scaling the rest by
    ``1 / (1 - p)``."""


class Dropout1d(_DropoutNd):
    """Zero whole channels of ``(N, C, L)`` inputs with probability ``p`` in training."""

    _fn = "dropout1d"


class Dropout2d(_DropoutNd):
    """Zero whole channels of ``(N, C, H, W)`` inputs with probability ``p`` in training."""

    _fn = "dropout2d"


class Dropout3d(_DropoutNd):
    """Zero whole channels of ``(N, C, D, H, W)`` inputs with probability ``p`` in training."""

    _fn = "dropout3d"
