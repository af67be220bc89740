"""All recorded operations. Each module holds one family; each op is a lowering and its VJP rule,
side by side, registered in ``REGISTRY``. Importing a module registers its ops and attaches their
Tensor methods."""

from . import (
    arith,
    compare,
    conv,
    conversion,
    decomp,
    elementwise,
    indexing,
    linalg,
    mathfns,
    nn,
    pooling,
    reduction,
    resample,
    resize,
    scans,
    shape,
    sorting,
    stats,
)
from .arith import *  # noqa: F403
from .compare import *  # noqa: F403
from .conv import *  # noqa: F403
from .conversion import *  # noqa: F403
from .decomp import *  # noqa: F403
from .elementwise import *  # noqa: F403
from .indexing import *  # noqa: F403
from .linalg import *  # noqa: F403
from .mathfns import *  # noqa: F403
from .nn import *  # noqa: F403
from .pooling import *  # noqa: F403
from .reduction import *  # noqa: F403
from .registry import REGISTRY, Op, defop
from .resample import *  # noqa: F403
from .resize import *  # noqa: F403
from .scans import *  # noqa: F403
from .shape import *  # noqa: F403
from .sorting import *  # noqa: F403
from .stats import *  # noqa: F403

__all__ = ["REGISTRY", "Op", "defop"]
for _m in (
    arith,
    compare,
    conv,
    conversion,
    decomp,
    elementwise,
    indexing,
    resize,
    linalg,
    mathfns,
    nn,
    pooling,
    reduction,
    resample,
    shape,
    sorting,
    scans,
    stats,
):
    __all__ += _m.__all__
