"""tracegrad: PyTorch-style autograd on JAX arrays, with a backward pass XLA can compile.

``import tracegrad as torch`` carries typical PyTorch tutorial code.
"""

from __future__ import annotations

import jax as _jax

# PyTorch computes float64 in float64 and indexes with int64; JAX needs x64 switched on for both.
# tracegrad creates every array with an explicit dtype, so float32 stays the default.
_jax.config.update("jax_enable_x64", True)

from . import compile_cache  # noqa: E402

compile_cache._configure()  # XLA programs compiled once are kept on disk (see compile_cache.py)

from . import (  # noqa: E402
    autograd,
    distributed,
    distributions,
    fft,
    func,
    lazy,
    linalg,
    nn,
    optim,
    random,
    special,
    utils,
    viz,
)
from ._caches import clear_caches  # noqa: E402
from ._device import device  # noqa: E402
from ._dtype import (  # noqa: E402
    bfloat16,
    bool_,
    complex64,
    complex128,
    dtype,
    float16,
    float32,
    float64,
    get_default_dtype,
    int8,
    int16,
    int32,
    int64,
    promote_types,
    set_default_dtype,
    uint8,
)
from ._layout import (  # noqa: E402
    channels_last,
    channels_last_3d,
    contiguous_format,
    layout,
    memory_format,
    preserve_format,
    sparse_coo,
    sparse_csr,
    strided,
)
from ._vmap import vmap  # noqa: E402
from .autograd import (  # noqa: E402
    enable_grad,
    inference_mode,
    is_anomaly_check_nan_enabled,
    is_anomaly_enabled,
    is_grad_enabled,
    is_inference_mode_enabled,
    no_grad,
    set_anomaly_enabled,
    set_grad_enabled,
)
from .compiler import compile  # noqa: E402, A004 - PyTorch's name
from .creation import *  # noqa: E402, F403
from .lazy import is_lazy, set_lazy, sync  # noqa: E402
from .nn.functional import TORCH_FUNCTIONS as _nn_torch_functions  # noqa: E402
from .nn.functional import pixel_shuffle, pixel_unshuffle  # noqa: E402
from .ops import *  # noqa: E402, F403
from .ops import out as _out_variants  # noqa: E402
from .random import get_rng_state, initial_seed, manual_seed, seed, set_rng_state  # noqa: E402
from .sampling import bernoulli, binomial, multinomial, poisson  # noqa: E402
from .serialization import load, save  # noqa: E402
from .tensor import Size, Tensor  # noqa: E402
from .utils.data.generator import Generator  # noqa: E402

globals().update(_nn_torch_functions)  # torch.dropout, torch.batch_norm, ... (nn/functional.py)

# PyTorch's ``out=`` on every public function that takes it (see ops/out.py).
_out_variants.install(globals())
_out_variants.install(nn.functional.__dict__, _out_variants.NN_FUNCTIONAL_OUT_FUNCTIONS)

# Devices: torch.cuda, torch.accelerator, torch.backends and the default device (docs/devices.md).
from . import accelerator, amp, backends, cpu, cuda  # noqa: E402
from ._device import get_default_device, set_default_device  # noqa: E402
from .amp import GradScaler, autocast, get_autocast_dtype, is_autocast_enabled  # noqa: E402
from .backends import (  # noqa: E402
    are_deterministic_algorithms_enabled,
    get_float32_matmul_precision,
    is_deterministic_algorithms_warn_only_enabled,
    set_float32_matmul_precision,
    use_deterministic_algorithms,
)

bool = bool_  # noqa: A001 - PyTorch's name
float = float32  # noqa: A001
double = float64
half = float16
long = int64
int = int32  # noqa: A001
short = int16
cfloat = complex64
cdouble = complex128

# PyTorch's conventions: legacy tensor types, dtype limits, constants, predicates, printing,
# threads, broadcasting as functions (docs/tensors.md).
import math as _math  # noqa: E402

from . import version  # noqa: E402
from ._dtype import can_cast, finfo, iinfo  # noqa: E402
from ._format import set_printoptions  # noqa: E402
from ._interop import from_dlpack, to_dlpack  # noqa: E402
from ._legacy import (  # noqa: E402
    BFloat16Tensor,
    BoolTensor,
    ByteTensor,
    CharTensor,
    DoubleTensor,
    FloatTensor,
    HalfTensor,
    IntTensor,
    LongTensor,
    ShortTensor,
    set_default_tensor_type,
    typename,
)
from ._queries import (  # noqa: E402
    _assert,
    detach,
    get_device,
    is_complex,
    is_floating_point,
    is_nonzero,
    is_same_size,
    is_signed,
    is_storage,
    result_type,
)
from ._threads import (  # noqa: E402
    get_num_interop_threads,
    get_num_threads,
    set_num_interop_threads,
    set_num_threads,
)
from .ops.broadcast import broadcast_shapes, broadcast_tensors  # noqa: E402
from .version import __version__  # noqa: E402

pi = _math.pi
e = _math.e
inf = _math.inf
nan = _math.nan
newaxis = None


def set_compiled_backward(enabled: bool) -> None:
    """Let plain ``backward()`` run a recurring graph as one cached XLA executable (on by default;
    see docs/compiled_backward.md). Off: every backward runs node by node."""
    autograd.compiled.set_enabled(enabled)


def is_compiled_backward_enabled() -> bool:
    """Whether ``backward()`` may run recurring graphs compiled (``set_compiled_backward``)."""
    return autograd.compiled.is_enabled()


def __getattr__(name: str):
    # PyTorch's complex32 has float16 parts; JAX has no such dtype, so naming it says so.
    if name in ("chalf", "complex32"):
        raise NotImplementedError(
            f"tracegrad.{name} (complex32) is not supported: JAX has no complex dtype with float16 "
            "parts; use tracegrad.complex64 (cfloat)"
        )
    raise AttributeError(f"module 'tracegrad' has no attribute {name!r}")


def is_tensor(obj) -> bool:
    """True if ``obj`` is a tracegrad Tensor."""
    return isinstance(obj, Tensor)


def numel(input: Tensor) -> int:
    """The number of elements of ``input``."""
    return input.numel()


del annotations  # the `from __future__` import, not a public name
