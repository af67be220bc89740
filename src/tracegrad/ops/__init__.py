"""All recorded operations. Each module holds one family; each op is a lowering and its VJP rule,
side by side, registered in ``REGISTRY``. Importing a module registers its ops and attaches their
Tensor methods."""

from . import (
    arith,
    arrange,
    attention,
    bitwise,
    compare,
    conv,
    conversion,
    ctc,
    decomp,
    decomp2,
    elementwise,
    gamma_sampling,
    indexing,
    linalg,
    mathfns,
    nn,
    pooling,
    products,
    reduction,
    resample,
    resize,
    sampling,
    scans,
    shape,
    sorting,
    special,
    stats,
    windows,
)
from . import complex as _complex_ops  # the module; ``complex`` is the function it exports
from . import eig as _eig_ops  # noqa: F401 - registers eig/eigvals (tracegrad.linalg exposes them)
from . import fft as _fft_ops  # noqa: F401 - registers the transforms (tracegrad.fft exposes them)
from . import recurrent as _recurrent_ops  # noqa: F401 - the recurrent layers' step bodies
from . import scan as _scan_ops  # noqa: F401 - registers scan (recurrent layers use it)
from . import scatter as scatter_ops  # ``scatter`` itself is the function (indexing.py)
from .arith import *  # noqa: F403
from .arrange import *  # noqa: F403
from .bitwise import *  # noqa: F403
from .compare import *  # noqa: F403
from .complex import *  # noqa: F403
from .conv import *  # noqa: F403
from .conversion import *  # noqa: F403
from .decomp import *  # noqa: F403
from .decomp2 import *  # noqa: F403
from .elementwise import *  # noqa: F403
from .gamma_sampling import *  # noqa: F403
from .indexing import *  # noqa: F403
from .linalg import *  # noqa: F403
from .mathfns import *  # noqa: F403
from .nn import *  # noqa: F403
from .pooling import *  # noqa: F403
from .products import *  # noqa: F403
from .reduction import *  # noqa: F403
from .registry import REGISTRY, Op, defop
from .resample import *  # noqa: F403
from .resize import *  # noqa: F403
from .scans import *  # noqa: F403
from .scatter import *  # noqa: F403
from .shape import *  # noqa: F403
from .sorting import *  # noqa: F403
from .special import *  # noqa: F403
from .stats import *  # noqa: F403
from .windows import *  # noqa: F403

__all__ = ["REGISTRY", "Op", "defop"]
for _m in (
    arith,
    arrange,
    bitwise,
    compare,
    _complex_ops,
    conv,
    conversion,
    ctc,
    decomp,
    decomp2,
    gamma_sampling,
    elementwise,
    indexing,
    resize,
    linalg,
    mathfns,
    nn,
    pooling,
    products,
    reduction,
    resample,
    sampling,
    scatter_ops,
    shape,
    sorting,
    special,
    scans,
    stats,
    windows,
):
    __all__ += _m.__all__
