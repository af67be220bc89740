"""``tracegrad.nn.functional``: the functional forms of layers, as ``torch.nn.functional``.

Everything here is defined with its op in ``tracegrad/ops`` and re-exported by name.
"""

from __future__ import annotations

from ..ops import conv as _conv
from ..ops import pooling as _pooling
from ..ops.conv import *  # noqa: F403
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
)
from ..ops.indexing import one_hot
from ..ops.pooling import *  # noqa: F403
from ..ops.reduction import log_softmax, softmax

__all__ = [
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
]
__all__ += _conv.__all__ + _pooling.__all__
