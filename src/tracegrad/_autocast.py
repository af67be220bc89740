"""The autocast state and PyTorch's per-op cast policy (``torch.autocast``; see docs/amp.md).

Every op passes through the registry's dispatch (``ops/registry.py: apply``) or, for a public
function built from several registry ops (``F.linear``, ``F.cross_entropy``), through the
``autocast_entry`` decorator at its top (also in ``ops/registry.py``). Both cast the operands by
the op's class in the policy of the device type autocast takes effect for:

- ``LOWER``: floating operands (float16/bfloat16/float32) cast to the autocast dtype;
- ``FP32``: floating operands cast up to float32;
- ``PROMOTE``: floating operands cast to the widest among them (float32 over the autocast dtype);
- ``BANNED``: PyTorch's error (``binary_cross_entropy`` under CUDA autocast).

Float64, integer, boolean and complex tensors are never cast. The casts are recorded ``to_copy``
ops, so gradients flow back to each input in its own dtype. Inside a listed public function the
ops it is built from are not cast again (PyTorch excludes its autocast key there).

When no region is enabled in any thread, the dispatch pays one truth test of ``active``.
"""

from __future__ import annotations

import threading

from ._device import accelerator_type
from ._dtype import bfloat16, float16, float32

__all__ = ["LOWER", "FP32", "PROMOTE", "BANNED", "POLICIES", "ENTRIES", "active", "policy", "key"]

LOWER, FP32, PROMOTE, BANNED = "lower_precision_fp", "fp32", "promote", "banned"

# How many enabled autocast regions are open, in all threads: the dispatch reads this module
# attribute before anything thread-local, so code outside autocast pays one truth test per op.
active = 0
_active_lock = threading.Lock()


def _table(**classes: str) -> dict[str, str]:
    table: dict[str, str] = {}
    for cls, names in classes.items():
        for name in names.split():
            table[name] = {"lower": LOWER, "fp32": FP32, "promote": PROMOTE, "banned": BANNED}[cls]
    return table


# Names are registry op names (``REGISTRY``) or names given to ``entry`` (public functions built
# from several registry ops); tests/test_autocast.py checks every one is one or the other. Where
# a registry op serves several PyTorch ops (``convolution``: conv1d/2d/3d and the transposed ones;
# ``c2c``/``r2c``/``c2r``: torch.fft.*) the PyTorch ops share one class. PyTorch names tracegrad
# has no op for are left out (conv_tbc, mkldnn_rnn_layer, _native_multi_head_attention, ...).
#
# PyTorch's CPU policy (aten/src/ATen/autocast_mode.cpp, TORCH_LIBRARY_IMPL(aten, AutocastCPU)).
_CPU = _table(
    lower="""
        mm bmm baddbmm addmm addbmm matmul linear convolution scaled_dot_product_attention
        conv1d conv2d conv3d conv_transpose1d conv_transpose2d conv_transpose3d prelu
    """,
    fp32="""
        avg_pool3d binary_cross_entropy grid_sampler_2d grid_sampler_3d grid_sample polar prod
        view_as_complex cholesky max_pool3d max_unpool2d max_unpool3d adaptive_avg_pool3d
        adaptive_max_pool3d mse_loss cosine_embedding_loss nll_loss hinge_embedding_loss
        poisson_nll_loss smooth_l1_loss cross_entropy l1_loss huber_loss margin_ranking_loss
        soft_margin_loss triplet_margin_loss multi_margin_loss ctc_loss kl_div
        multilabel_margin_loss binary_cross_entropy_with_logits c2c r2c c2r qr svd eig eigh
        eigvals lstsq
    """,
    promote="cat stack",
)

# PyTorch's CUDA policy (TORCH_LIBRARY_IMPL(aten, AutocastCUDA)); also used for TPUs ("xla"/"tpu").
# ``fp32_set_opt_dtype`` ops (softmax, sum, cumsum, ...) run in float32 as FP32 here.
_CUDA = _table(
    lower="""
        convolution addmm addmv addr matmul einsum mm mv linear addbmm baddbmm bmm
        scaled_dot_product_attention conv1d conv2d conv3d conv_transpose1d conv_transpose2d
        conv_transpose3d prelu
    """,
    fp32="""
        acos asin cosh erfinv exp expm1 log log10 log2 log1p reciprocal rsqrt sinh tan
        pow_scalar pow_tensor softplus layer_norm group_norm norm cosine_similarity
        poisson_nll_loss cosine_embedding_loss nll_loss hinge_embedding_loss kl_div l1_loss
        smooth_l1_loss huber_loss mse_loss margin_ranking_loss multilabel_margin_loss
        soft_margin_loss triplet_margin_loss multi_margin_loss binary_cross_entropy_with_logits
        pdist logsumexp interpolate prod softmax log_softmax cumprod cumsum sum
    """,
    promote="""
        addcdiv addcmul atan2 bilinear cross dot grid_sampler_2d grid_sampler_3d grid_sample
        index_put scatter_add tensordot cat stack
    """,
    banned="binary_cross_entropy",
)

POLICIES = {"cpu": _CPU, "cuda": _CUDA, "xla": _CUDA, "tpu": _CUDA}
DEFAULT_DTYPES = {"cpu": bfloat16, "cuda": float16, "xla": bfloat16, "tpu": bfloat16}
ENTRIES: set[str] = set()  # names given to ``entry``

CASTABLE = frozenset((float16, bfloat16, float32))


class _State(threading.local):
    def __init__(self) -> None:
        # device type -> (enabled, dtype, cache_enabled): PyTorch's per-thread autocast state
        self.regions: dict = {}
        self.excluded = 0  # inside a listed public function: its inner ops are not cast again


_local = _State()
_effective: tuple | None = None


def effective_types() -> tuple:
    """The device types autocast takes effect for: that of JAX's default backend (``xla`` and
    ``tpu`` both name a TPU backend)."""
    global _effective
    if _effective is None:
        t = accelerator_type() or "cpu"
        _effective = ("tpu", "xla") if t in ("tpu", "xla") else (t,)
    return _effective


def region(device_type: str) -> tuple:
    """This thread's ``(enabled, dtype, cache_enabled)`` for ``device_type``."""
    found = _local.regions.get(device_type)
    if found is None:
        return (False, DEFAULT_DTYPES.get(device_type, bfloat16), True)
    return found


def set_region(device_type: str, state: tuple | None) -> tuple | None:
    """Replace this thread's state for ``device_type`` (None: the default); returns the old one
    and keeps ``active`` counting enabled regions."""
    global active
    old = _local.regions.get(device_type)
    if state is None:
        _local.regions.pop(device_type, None)
    else:
        _local.regions[device_type] = state
    delta = bool(state and state[0]) - bool(old and old[0])
    if delta:
        with _active_lock:
            active += delta
    return old


def policy() -> tuple | None:
    """This thread's ``(table, dtype, device_type)`` when an autocast region takes effect here."""
    if _local.excluded:
        return None
    regions = _local.regions
    for t in effective_types():
        found = regions.get(t)
        if found is not None and found[0]:
            return POLICIES[t], found[1], t
    return None


def key() -> tuple:
    """What compiled programs depend on: the effective region's dtype (None when off)."""
    if not active:
        return ()
    p = policy()
    return () if p is None else (p[2], p[1].name)


def excluded():
    """Context: autocast takes no effect in this thread (a backward pass: rules run in the
    dtypes the forward ops ran in, as in PyTorch)."""
    return _Excluded()


class _Excluded:
    def __enter__(self):
        _local.excluded += 1

    def __exit__(self, *exc):
        _local.excluded -= 1
