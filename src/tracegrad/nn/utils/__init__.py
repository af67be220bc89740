"""``tracegrad.nn.utils``: gradient clipping, parameter/vector conversion, parametrizations and
packed sequences, as ``torch.nn.utils``."""

from __future__ import annotations

from . import clip_grad, convert_parameters, parametrizations, parametrize, rnn
from .clip_grad import *  # noqa: F403
from .convert_parameters import *  # noqa: F403

__all__ = ["clip_grad", "convert_parameters", "parametrizations", "parametrize", "rnn"]
__all__ += clip_grad.__all__ + convert_parameters.__all__
