"""``tracegrad.nn.utils``: gradient clipping, parameter/vector conversion, parametrizations,
weight and spectral normalization, batch-norm fusion, ``skip_init``, ``functional_call`` and
packed sequences, as ``torch.nn.utils``."""

from __future__ import annotations

from . import (
    clip_grad,
    convert_parameters,
    fusion,  # noqa: F401
    init,  # noqa: F401
    parametrizations,
    parametrize,
    rnn,
    spectral_norm,
    stateless,
    weight_norm,
)
from .clip_grad import *  # noqa: F403
from .convert_parameters import *  # noqa: F403
from .fusion import (
    fuse_conv_bn_eval,
    fuse_conv_bn_weights,
    fuse_linear_bn_eval,
    fuse_linear_bn_weights,
)
from .init import skip_init
from .memory_format import (
    convert_conv2d_weight_memory_format,
    convert_conv3d_weight_memory_format,
)
from .spectral_norm import remove_spectral_norm, spectral_norm  # noqa: F811
from .weight_norm import remove_weight_norm, weight_norm  # noqa: F811

__all__ = [
    "clip_grad",
    "convert_parameters",
    "parametrizations",
    "parametrize",
    "rnn",
    "stateless",
    "fuse_conv_bn_eval",
    "fuse_conv_bn_weights",
    "fuse_linear_bn_eval",
    "fuse_linear_bn_weights",
    "skip_init",
    "convert_conv2d_weight_memory_format",
    "convert_conv3d_weight_memory_format",
    "spectral_norm",
    "remove_spectral_norm",
    "weight_norm",
    "remove_weight_norm",
]
__all__ += clip_grad.__all__ + convert_parameters.__all__
