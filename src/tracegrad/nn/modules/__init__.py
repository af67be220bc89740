"""The layers of ``tracegrad.nn``, one module per family as in ``torch.nn.modules``."""

from . import (
    activation,
    activation_more,
    adaptive,
    alpha_dropout,
    batchnorm,
    container,
    conv,
    ctc,
    distance,
    dropout,
    embedding_bag,
    flatten,
    fold,
    instancenorm,
    lazy,
    linear,
    linear_cross_entropy_options,
    local_response_norm,
    loss,
    loss_margin,
    loss_more,
    mha,
    module,
    normalization,
    padding,
    pixelshuffle,
    pooling,
    rnn,
    softmax2d,
    sparse,
    transformer,
    upsampling,
)
from .activation import *  # noqa: F403
from .activation_more import *  # noqa: F403
from .adaptive import *  # noqa: F403
from .alpha_dropout import *  # noqa: F403
from .batchnorm import *  # noqa: F403
from .container import *  # noqa: F403
from .conv import *  # noqa: F403
from .ctc import *  # noqa: F403
from .distance import *  # noqa: F403
from .dropout import *  # noqa: F403
from .embedding_bag import *  # noqa: F403
from .flatten import *  # noqa: F403
from .fold import *  # noqa: F403
from .instancenorm import *  # noqa: F403
from .lazy import *  # noqa: F403
from .linear import *  # noqa: F403
from .linear_cross_entropy_options import *  # noqa: F403
from .local_response_norm import *  # noqa: F403
from .loss import *  # noqa: F403
from .loss_margin import *  # noqa: F403
from .loss_more import *  # noqa: F403
from .mha import *  # noqa: F403
from .module import *  # noqa: F403
from .normalization import *  # noqa: F403
from .padding import *  # noqa: F403
from .pixelshuffle import *  # noqa: F403
from .pooling import *  # noqa: F403
from .rnn import *  # noqa: F403
from .softmax2d import *  # noqa: F403
from .sparse import *  # noqa: F403
from .transformer import *  # noqa: F403
from .upsampling import *  # noqa: F403

__all__: list[str] = []
for _m in (
    activation,
    activation_more,
    adaptive,
    alpha_dropout,
    batchnorm,
    container,
    conv,
    ctc,
    distance,
    dropout,
    embedding_bag,
    flatten,
    fold,
    instancenorm,
    lazy,
    linear,
    linear_cross_entropy_options,
    local_response_norm,
    loss,
    loss_margin,
    loss_more,
    mha,
    module,
    normalization,
    padding,
    pixelshuffle,
    pooling,
    rnn,
    softmax2d,
    sparse,
    transformer,
    upsampling,
):
    __all__ += _m.__all__
