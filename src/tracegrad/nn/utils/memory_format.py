"""``convert_conv2d_weight_memory_format`` and ``convert_conv3d_weight_memory_format``, as
``torch.nn.utils``.

PyTorch re-lays the convolution weights out in memory; the values do not change. JAX arrays have
no strides (XLA picks layouts), so ``contiguous_format`` (and ``preserve_format``) return the
module unchanged and ``channels_last`` / ``channels_last_3d`` raise ``NotImplementedError``, as
every ``memory_format=`` argument in tracegrad does.
"""

from __future__ import annotations

from ..._layout import check_memory_format
from ..modules.module import Module

__all__ = ["convert_conv2d_weight_memory_format", "convert_conv3d_weight_memory_format"]


def convert_conv2d_weight_memory_format(module: Module, memory_format) -> Module:
    """Lay out the weights of ``module``'s ``Conv2d``/``ConvTranspose2d`` layers in
    ``memory_format`` (only the contiguous format exists in tracegrad). Returns ``module``."""
    check_memory_format("convert_conv2d_weight_memory_format", memory_format)
    return module


def convert_conv3d_weight_memory_format(module: Module, memory_format) -> Module:
    """Lay out the weights of ``module``'s ``Conv3d``/``ConvTranspose3d`` layers in
    ``memory_format`` (only the contiguous format exists in tracegrad). Returns ``module``."""
    check_memory_format("convert_conv3d_weight_memory_format", memory_format)
    return module
