"""Pooling and friends (max/avg/adaptive pooling, pad, interpolate, unfold/fold) against plain-numpy
references written here from PyTorch's kernels, their gradients, second order against JAX, the
API (unbatched inputs, return_indices, grad_fn names) and PyTorch's errors.

Speed: every distinct float64 shape costs XLA compiles (~0.1-0.5 s each on CPU), so the option
grids run in chunks, as in tests/test_conv.py: one ``jax.jit`` per chunk traces tracegrad's eager
code (the public function, ``backward()``, the recorded rules) for every case of the chunk,
compiled once with XLA's backend optimisation off. The references run in numpy outside it. The
eager path itself is covered by the registry samples (tests/samples/pooling.py) and the API
tests below.

Gradient checks: for the max-type ops the gradient must be the cotangent scattered to the
reference's arg-max indices (inputs are small integers, so windows tie and the first maximum in
scan order must win); for the linear ops (avg, pad, interpolate, unfold, fold) the gradient must
be the adjoint of the numpy reference: <grad, v> == <g, ref(v) - ref(0)> for random v.
"""

from __future__ import annotations

import functools
import itertools
import re
from dataclasses import dataclass, field

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax import lax

import tracegrad as tg
import tracegrad.nn.functional as F
from tracegrad.ops import pooling, resize

from .tiers import slow_after

# F.pad must be pooling.pad (test_functional_pad_is_the_pooling_op); the grid calls it directly.
PAD = pooling.pad

FAST_COMPILE = {"xla_backend_optimization_level": 0, "xla_cpu_use_fusion_emitters": False}
CHUNK = 24
TOL = dict(rtol=1e-10, atol=1e-10)


# ============================================================================ numpy references
def ref_out_size(n, k, s, p, d, ceil):
    """PyTorch's pooling_output_shape."""
    o = (n + 2 * p - d * (k - 1) - 1 + (s - 1 if ceil else 0)) // s + 1
    if ceil and (o - 1) * s >= n + p:
        o -= 1
    return o


def ref_max_pool(x, k, s, p, d, ceil):
    """PyTorch's CPU loop: maxindex starts at the first in-bounds element, updated on val > max."""
    nd = len(k)
    size, lead = x.shape[-nd:], x.shape[:-nd]
    out = tuple(ref_out_size(*a, ceil) for a in zip(size, k, s, p, d))
    val, idx = np.empty(lead + out), np.empty(lead + out, np.int64)
    for o in np.ndindex(*out):
        axes = [
            [o[i] * s[i] - p[i] + d[i] * t for t in range(k[i])
             if 0 <= o[i] * s[i] - p[i] + d[i] * t < size[i]]
            for i in range(nd)
        ]  # fmt: skip
        best, arg = np.full(lead, -np.inf), np.full(lead, -1)
        for pos in itertools.product(*axes):
            v = x[(..., *pos)]
            upd = (v > best) | (arg < 0)
            best = np.where(upd, v, best)
            arg = np.where(upd, np.ravel_multi_index(pos, size), arg)
        val[(..., *o)], idx[(..., *o)] = best, arg
    return val, idx


def ref_avg_pool(x, k, s, p, ceil, cip, div):
    """PyTorch's CPU loop: pool_size from the window clipped to the padded input, then clipped
    to the input for the sum (and for the divisor without count_include_pad)."""
    nd = len(k)
    size = x.shape[-nd:]
    out = tuple(ref_out_size(n, kk, ss, pp, 1, ceil) for n, kk, ss, pp in zip(size, k, s, p))
    y = np.empty(x.shape[:-nd] + out)
    for o in np.ndindex(*out):
        sl, pool, real = [], 1, 1
        for i in range(nd):
            start = o[i] * s[i] - p[i]
            end = min(start + k[i], size[i] + p[i])
            pool *= end - start
            a, b = max(start, 0), min(end, size[i])
            real *= b - a
            sl.append(slice(a, b))
        total = x[(..., *sl)].sum(axis=tuple(range(-nd, 0)))
        y[(..., *o)] = total / (div if div else (pool if cip else real))
    return y


def ref_adaptive(x, out, how):
    nd = len(out)
    size = x.shape[-nd:]
    lead = x.shape[:-nd]
    y, idx = np.empty(lead + out), np.empty(lead + out, np.int64)
    for o in np.ndindex(*out):
        starts = [o[i] * size[i] // out[i] for i in range(nd)]
        ends = [-(-(o[i] + 1) * size[i] // out[i]) for i in range(nd)]
        region = x[(..., *(slice(a, b) for a, b in zip(starts, ends)))]
        if how == "avg":
            y[(..., *o)] = region.mean(axis=tuple(range(-nd, 0)))
        else:
            flat = region.reshape(lead + (-1,))
            a = np.argmax(flat, axis=-1)  # the first maximum
            coords = np.unravel_index(a, region.shape[-nd:])
            y[(..., *o)] = flat.max(axis=-1)
            idx[(..., *o)] = np.ravel_multi_index([c + b for c, b in zip(coords, starts)], size)
    return y, idx


def ref_pad(x, pad, mode, value=0.0):
    """np.pad: reflect = 'reflect', replicate = 'edge', circular = 'wrap' (after cropping the
    negative pads), constant crops negative pads."""
    pairs = [(0, 0)] * x.ndim
    for j in range(len(pad) // 2):
        pairs[x.ndim - 1 - j] = (pad[2 * j], pad[2 * j + 1])
    crop = tuple(slice(max(-lo, 0), n - max(-hi, 0)) for (lo, hi), n in zip(pairs, x.shape))
    x = x[crop]
    pos = [(max(lo, 0), max(hi, 0)) for lo, hi in pairs]
    if mode == "constant":
        return np.pad(x, pos, constant_values=value)
    return np.pad(
        x, pos, mode={"reflect": "reflect", "replicate": "edge", "circular": "wrap"}[mode]
    )


def ref_interp_matrix(n, o, mode, align, scale):
    """(o, n) interpolation matrix from PyTorch's index formulas (UpSample.h)."""
    m = np.zeros((o, n))
    f32 = np.float32
    for i in range(o):
        if mode in ("nearest", "nearest-exact"):
            sc = f32(1.0 / scale) if scale else f32(n) / f32(o)
            if mode == "nearest":
                j = i if o == n else (i >> 1 if o == 2 * n else int(np.floor(f32(i) * sc)))
            else:
                j = int(np.floor(f32((i + 0.5) * float(sc))))
            m[i, min(j, n - 1)] = 1.0
        elif o == n:
            m[i, i] = 1.0
        else:
            if align:
                src = (n - 1) / (o - 1) * i if o > 1 else 0.0
            else:
                sc = 1.0 / scale if scale else n / o
                src = max(sc * (i + 0.5) - 0.5, 0.0)
            i0 = min(int(np.floor(src)), n - 1)
            lam = min(max(src - i0, 0.0), 1.0)
            m[i, i0] += 1 - lam
            m[i, i0 + (i0 < n - 1)] += lam
    return m


def ref_interpolate(x, out, mode, align=False, scales=None):
    nd = len(out)
    scales = scales or [None] * nd
    for i in range(nd):
        axis = x.ndim - nd + i
        m = ref_interp_matrix(x.shape[axis], out[i], mode, align, scales[i])
        x = np.moveaxis(np.tensordot(x, m, axes=([axis], [1])), -1, axis)
    return x


def ref_unfold(x, k, d, p, s):
    n, c, h, w = x.shape
    xp = np.pad(x, [(0, 0), (0, 0), (p[0], p[0]), (p[1], p[1])])
    oh = (h + 2 * p[0] - d[0] * (k[0] - 1) - 1) // s[0] + 1
    ow = (w + 2 * p[1] - d[1] * (k[1] - 1) - 1) // s[1] + 1
    cols = np.empty((n, c, k[0], k[1], oh, ow))
    for a, b, i, j in itertools.product(range(k[0]), range(k[1]), range(oh), range(ow)):
        cols[:, :, a, b, i, j] = xp[:, :, i * s[0] + a * d[0], j * s[1] + b * d[1]]
    return cols.reshape(n, c * k[0] * k[1], oh * ow)


# =================================================================================== the grids
@dataclass(frozen=True)
class Case:
    kind: str  # "max" (values, indices, argmax gradient) or "linear" (adjoint gradient)
    label: str
    call: object = field(compare=False, hash=False)  # tracegrad: (Tensor) -> Tensor | (out, idx)
    ref: object = field(compare=False, hash=False)  # numpy: (x) -> out | (out, idx)
    shape: tuple = ()
    seed: int = 0
    chunk: int = 0

    def __str__(self) -> str:
        return self.label

    def inputs(self):
        rng = np.random.default_rng(self.seed)
        if self.kind == "max":  # small integers: windows tie
            x = rng.integers(0, 3, self.shape).astype(float)
        else:
            x = rng.standard_normal(self.shape)
        ref = self.ref(x)
        out = ref[0] if isinstance(ref, tuple) else ref
        return x, rng.standard_normal(out.shape), rng.standard_normal(self.shape), ref


def _max_cases():
    cases = []
    spatial = {1: (9,), 2: (7, 6), 3: (4, 5, 4)}
    for nd in (1, 2, 3):
        fn = {1: F.max_pool1d, 2: F.max_pool2d, 3: F.max_pool3d}[nd]
        combos = list(itertools.product((2, 3), (None, 1, 2), (0, 1), (1, 2), (False, True)))
        for i, (k, s, p, d, ceil) in enumerate(combos[:: 2 if nd < 3 else 4]):
            if p > k // 2:
                continue
            sz = spatial[nd]
            ss = k if s is None else s
            if any(ref_out_size(n, k, ss, p, d, ceil) < 1 for n in sz):
                continue
            kk = (k,) * nd if nd == 1 or i % 2 else k  # ints and tuples
            shape = (2, 3, *sz) if i % 3 else (3, *sz)  # batched and unbatched
            cases.append(Case(
                "max", f"max{nd}d-k{k}-s{s}-p{p}-d{d}-ceil{int(ceil)}-{len(shape)}D",
                functools.partial(fn, kernel_size=kk, stride=s, padding=p, dilation=d,
                                  ceil_mode=ceil, return_indices=True),
                functools.partial(ref_max_pool, k=(k,) * nd, s=(ss,) * nd, p=(p,) * nd,
                                  d=(d,) * nd, ceil=ceil),
                shape, seed=len(cases),
            ))  # fmt: skip
    cases.append(Case(
        "max", "max2d-k(3,2)-s(2,1)-p(1,0)-d(1,2)",
        functools.partial(F.max_pool2d, kernel_size=(3, 2), stride=(2, 1), padding=(1, 0),
                          dilation=(1, 2), return_indices=True, ceil_mode=True),
        functools.partial(ref_max_pool, k=(3, 2), s=(2, 1), p=(1, 0), d=(1, 2), ceil=True),
        (2, 2, 8, 7), seed=99,
    ))  # fmt: skip
    for nd, out in ((1, (4,)), (1, (9,)), (2, (3, 2)), (2, (5, 7)), (2, (1, 1)), (3, (2, 3, 3))):
        fn = {1: F.adaptive_max_pool1d, 2: F.adaptive_max_pool2d, 3: F.adaptive_max_pool3d}[nd]
        sz = {1: (7,), 2: (7, 5), 3: (3, 5, 4)}[nd]
        cases.append(Case(
            "max", f"adaptive_max{nd}d-{out}",
            functools.partial(fn, output_size=out if nd > 1 else out[0], return_indices=True),
            functools.partial(ref_adaptive, out=out, how="max"),
            (2, 2, *sz), seed=len(cases),
        ))  # fmt: skip
    return cases


def _linear_cases():
    cases = []

    def add(label, call, ref, shape):
        cases.append(Case("linear", label, call, ref, shape, seed=1000 + len(cases)))

    spatial = {1: (8,), 2: (7, 6), 3: (4, 5, 4)}
    for nd in (1, 2, 3):
        fn = {1: F.avg_pool1d, 2: F.avg_pool2d, 3: F.avg_pool3d}[nd]
        combos = itertools.product(
            (2, 3), (None, 2), (0, 1), (False, True), (True, False), (None, 3)
        )
        for i, (k, s, p, ceil, cip, div) in enumerate(combos):
            if p > k // 2 or (nd == 1 and div) or i % (2 if nd < 3 else 5):
                continue
            ss = k if s is None else s
            kw = dict(kernel_size=k, stride=s, padding=p, ceil_mode=ceil, count_include_pad=cip)
            if nd > 1:
                kw["divisor_override"] = div
            add(
                f"avg{nd}d-k{k}-s{s}-p{p}-ceil{int(ceil)}-cip{int(cip)}-div{div}",
                functools.partial(fn, **kw),
                functools.partial(ref_avg_pool, k=(k,) * nd, s=(ss,) * nd, p=(p,) * nd,
                                  ceil=ceil, cip=cip, div=div),
                (2, 2, *spatial[nd]) if i % 3 else (2, *spatial[nd]),
            )  # fmt: skip
    for nd, out, size in (
        (1, (3,), (7,)), (1, (4,), (8,)), (2, (3, 2), (7, 5)), (2, (None, 3), (6, 7)),
        (2, (4, 4), (8, 4)), (2, (9, 2), (5, 6)), (3, (2, 3, 2), (3, 5, 4)), (3, (1, 1, 1), (3, 4, 2)),
    ):  # fmt: skip
        fn = {1: F.adaptive_avg_pool1d, 2: F.adaptive_avg_pool2d, 3: F.adaptive_avg_pool3d}[nd]
        full = tuple(n if o is None else o for n, o in zip(size, out))
        add(
            f"adaptive_avg{nd}d-{out}-from{size}",
            functools.partial(fn, output_size=out if nd > 1 else out[0]),
            lambda x, full=full: ref_adaptive(x, full, "avg")[0],
            (2, 3, *size),
        )
    pads = {
        "constant": [(1, 2), (2, 0, -1, 1), (0, 1, 1, 0, 2, 1), (-1, -2, 3, 0)],
        "reflect": [(2, 1), (1, 3, 2, 0), (1, 1, 0, 2, 2, 1)],
        "replicate": [(3, 1), (2, 0, 1, 4), (1, 2, 0, 1, 2, 1)],
        "circular": [(2, 4), (1, -2, 3, 1), (1, 0, 2, 1, 0, 3)],
    }
    for mode, plist in pads.items():
        for i, pd in enumerate(plist):
            k = len(pd) // 2
            shape = (2, 3, 4, 5, 4)[: k + 2 - (i % 2)] if k < 3 else (2, 3, 4, 5, 4)
            value = 1.5 if mode == "constant" and i % 2 else None
            add(
                f"pad-{mode}-{pd}-{len(shape)}D",
                functools.partial(PAD, pad=pd, mode=mode, value=value),
                functools.partial(ref_pad, pad=pd, mode=mode, value=value or 0.0),
                shape,
            )
    for mode, shape, size, scale, align in (
        ("nearest", (2, 2, 5), 8, None, None), ("nearest", (2, 2, 6), 3, None, None),
        ("nearest", (1, 2, 5, 4), None, (1.7, 2.0), None), ("nearest", (1, 2, 3, 4, 2), (5, 2, 3), None, None),
        ("nearest", (1, 2, 6, 4), (3, 7), None, None), ("nearest-exact", (1, 2, 5, 4), (7, 3), None, None),
        ("nearest-exact", (2, 2, 5), None, 1.7, None),
        ("linear", (2, 2, 5), 9, None, False), ("linear", (2, 2, 5), 9, None, True),
        ("linear", (2, 2, 7), 3, None, False), ("linear", (1, 2, 5), None, 2.5, False),
        ("bilinear", (1, 2, 3, 4), (5, 7), None, False), ("bilinear", (1, 2, 3, 4), (5, 7), None, True),
        ("bilinear", (2, 1, 6, 5), (4, 5), None, False), ("bilinear", (1, 2, 4, 3), None, (1.5, 2.3), False),
        ("bilinear", (1, 1, 4, 4), (1, 3), None, True), ("trilinear", (1, 1, 3, 4, 2), (4, 3, 5), None, True),
        ("area", (1, 2, 7, 6), (3, 4), None, None),
    ):  # fmt: skip
        nd = len(shape) - 2
        if size is not None:
            out = (size,) * nd if isinstance(size, int) else size
            scales = None
        else:
            sc = (scale,) * nd if isinstance(scale, float) else scale
            out = tuple(int(np.floor(n * s)) for n, s in zip(shape[2:], sc))
            scales = list(sc)
        if mode == "area":
            ref = lambda x, out=out: ref_adaptive(x, out, "avg")[0]  # noqa: E731
        else:
            m = mode if mode.startswith("nearest") else "linear"
            ref = functools.partial(
                ref_interpolate, out=out, mode=m, align=bool(align), scales=scales
            )
        add(
            f"interpolate-{mode}-{shape}-size{size}-scale{scale}-align{align}",
            functools.partial(
                F.interpolate, size=size, scale_factor=scale, mode=mode, align_corners=align
            ),
            ref,
            shape,
        )
    for k, d, p, s, shape in (
        ((2, 3), (1, 1), (0, 1), (1, 2), (2, 3, 5, 6)), ((3, 3), (2, 1), (1, 1), (2, 1), (1, 2, 7, 5)),
        ((1, 2), (1, 3), (0, 0), (1, 1), (1, 2, 3, 8)), ((2, 2), (1, 1), (0, 0), (2, 2), (3, 4, 6)),
    ):  # fmt: skip
        batched = len(shape) == 4

        def ref(x, k=k, d=d, p=p, s=s, batched=batched):
            return ref_unfold(x if batched else x[None], k, d, p, s)[
                0 if not batched else slice(None)
            ]

        add(f"unfold-k{k}-d{d}-p{p}-s{s}-{len(shape)}D",
            functools.partial(F.unfold, kernel_size=k, dilation=d, padding=p, stride=s), ref, shape)  # fmt: skip
    return cases


def _chunked(cases):
    return [
        Case(c.kind, c.label, c.call, c.ref, c.shape, c.seed, chunk=(c.kind, i // CHUNK))
        for i, c in enumerate(cases)
    ]


MAX_GRID = _chunked(_max_cases())
LINEAR_GRID = _chunked(_linear_cases())
GRID = MAX_GRID + LINEAR_GRID


def _compile_and_run(fn, data):
    lowered = jax.jit(fn).lower(data)
    try:
        compiled = lowered.compile(compiler_options=FAST_COMPILE)
    except Exception:  # an option this XLA does not have
        compiled = lowered.compile()
    return jax.device_get(compiled(data))


def _ours(case: Case, x, g):
    """tracegrad's forward, indices and gradient (traced inside the chunk's jit)."""
    tx = tg.tensor(x, requires_grad=True)
    res = case.call(tx)
    out, idx = res if isinstance(res, tuple) else (res, None)
    out.backward(tg.tensor(g))
    return (
        jnp.asarray(out.detach()),
        None if idx is None else jnp.asarray(idx),
        jnp.asarray(tx.grad),
        out.grad_fn.name(),
    )


@functools.cache
def _chunk_results(chunk) -> dict:
    cases = [c for c in GRID if c.chunk == chunk]
    data = [c.inputs() for c in cases]
    names = {}

    def run(arrays):
        results = []
        for c, (x, g) in zip(cases, arrays):
            out, idx, grad, name = _ours(c, x, g)
            names[c] = name
            results.append((out, idx, grad))
        return results

    results = _compile_and_run(run, [(x, g) for x, g, _, _ in data])
    return {c: (r, d, names[c]) for c, r, d in zip(cases, results, data)}


def _argmax_grad(g, idx, x_shape, nd):
    lead = x_shape[: len(x_shape) - nd]
    plane = int(np.prod(x_shape[len(x_shape) - nd :]))
    b = int(np.prod(lead))
    grad = np.zeros((b, plane))
    rows = np.repeat(np.arange(b), g.size // max(b, 1))
    np.add.at(grad, (rows, idx.reshape(-1)), g.reshape(-1))
    return grad.reshape(x_shape)


@pytest.mark.slow
@pytest.mark.parametrize("case", MAX_GRID, ids=str)
def test_max_grid_values_indices_and_gradient_to_first_argmax(case):
    (out, idx, grad), (x, g, _, (ref, ref_idx)), _ = _chunk_results(case.chunk)[case]
    np.testing.assert_array_equal(out, ref)
    assert idx.dtype == np.int64
    np.testing.assert_array_equal(idx, ref_idx)
    nd = int(re.match(r"\D*(\d)d", case.label).group(1))
    expected = _argmax_grad(g, ref_idx, x.shape, nd)
    np.testing.assert_allclose(grad, expected, **TOL)


@pytest.mark.slow
@pytest.mark.parametrize("case", LINEAR_GRID, ids=str)
def test_linear_grid_values_and_adjoint_gradient(case):
    (out, _, grad), (x, g, v, ref), _ = _chunk_results(case.chunk)[case]
    assert out.shape == ref.shape
    np.testing.assert_allclose(out, ref, **TOL)
    # the gradient of a linear (or affine: a pad value) map is its adjoint: <grad, v> = <g, A v>
    av = case.ref(v) - case.ref(np.zeros_like(v))
    np.testing.assert_allclose(np.sum(grad * v), np.sum(g * av), rtol=1e-10)


def _expected_grad_fn(case: Case) -> str:
    label = case.label
    nd = re.match(r"\D*(\d)d", label)
    if label.startswith(("max1d", "avg1d", "adaptive_max1d", "adaptive_avg1d")):
        return "SqueezeBackward1"  # 1-D pooling runs as 2-D on an unsqueezed input, as PyTorch
    if label.startswith("max"):
        return f"MaxPool{nd.group(1)}DWithIndicesBackward0"
    if label.startswith("avg"):
        return f"AvgPool{nd.group(1)}DBackward0"
    if label.startswith("adaptive_max"):
        return f"AdaptiveMaxPool{nd.group(1)}DBackward0"
    if label.startswith("adaptive_avg"):
        return f"AdaptiveAvgPool{nd.group(1)}DBackward0"
    if label.startswith("pad"):
        mode, pd = label.split("-")[1], eval(label.split("-")[2])
        return {
            "constant": "ConstantPadNdBackward0",
            "reflect": f"ReflectionPad{len(pd) // 2}DBackward0",
            "replicate": f"ReplicationPad{len(pd) // 2}DBackward0",
            "circular": "CopySlices",
        }[mode]
    if label.startswith("unfold"):
        return "Im2ColBackward0"
    mode, dim = label.split("-")[1], len(case.shape) - 2
    if mode == "area":
        return f"AdaptiveAvgPool{dim}DBackward0"
    name = {"nearest": "Nearest", "linear": "Linear", "bilinear": "Bilinear",
            "trilinear": "Trilinear"}.get(mode, "NearestExact")  # fmt: skip
    return f"Upsample{name}{dim}DBackward0"


@pytest.mark.parametrize("case", slow_after(GRID[::7], 3), ids=str)
def test_grad_fn_names(case):
    assert _chunk_results(case.chunk)[case][2] == _expected_grad_fn(case)


# =================================================================================== public API
RNG = np.random.default_rng(11)


def _t(*shape, requires_grad=False):
    return tg.tensor(RNG.standard_normal(shape), requires_grad=requires_grad)


def test_functional_exports():
    names = (
        "max_pool1d max_pool2d max_pool3d avg_pool1d avg_pool2d avg_pool3d adaptive_avg_pool1d "
        "adaptive_avg_pool2d adaptive_avg_pool3d adaptive_max_pool1d adaptive_max_pool2d "
        "adaptive_max_pool3d unfold fold"
    ).split()
    for name in names:
        assert name in F.__all__ and getattr(F, name) is getattr(pooling, name), name
    # interpolate lives beside pooling (its area mode is adaptive average pooling)
    assert "interpolate" in F.__all__ and F.interpolate is resize.interpolate


def test_functional_pad_is_the_pooling_op():
    assert F.pad is pooling.pad, "tracegrad.nn.functional.pad shadows ops.pooling.pad"


def _traced(fn):
    """Run ``fn()`` (tracegrad code returning a pytree of Tensors) inside one fast-compiled jit:
    eager, every op of every new shape would compile on its own."""

    def run(_):
        return jax.tree.map(jnp.asarray, fn())

    return _compile_and_run(run, 0)


def test_ties_send_the_gradient_to_the_first_maximum_in_scan_order():
    def fn():
        x = tg.tensor(np.ones((1, 1, 3, 3)), requires_grad=True)
        out, idx = F.max_pool2d(x, 2, stride=1, return_indices=True)
        out.sum().backward()
        # a window of -inf: the index is its first element inside the input, never the padding
        y = tg.tensor(np.full((1, 1, 2, 2), -np.inf), requires_grad=True)
        out2, idx2 = F.max_pool2d(y, 2, padding=1, return_indices=True)
        out2.backward(tg.tensor(np.ones((1, 1, 2, 2))))
        return idx, x.grad, idx2, y.grad

    idx, grad, idx2, grad2 = _traced(fn)
    np.testing.assert_array_equal(idx, [[[[0, 1], [3, 4]]]])
    np.testing.assert_array_equal(grad[0, 0], [[1, 1, 0], [1, 1, 0], [0, 0, 0]])
    np.testing.assert_array_equal(idx2[0, 0], [[0, 1], [2, 3]])
    np.testing.assert_array_equal(grad2[0, 0], [[1, 1], [1, 1]])


def test_return_indices_dtype_shapes_and_float32():
    def fn():
        x = tg.tensor(RNG.standard_normal((3, 7, 6)), dtype=tg.float32, requires_grad=True)
        out, idx = F.max_pool2d(x, 3, 2, 1, return_indices=True)
        assert out.shape == idx.shape == (3, 4, 3) and out.dtype == tg.float32
        assert idx.dtype == tg.int64 and not idx.requires_grad
        out.sum().backward()
        assert x.grad.dtype == tg.float32 and x.grad.shape == (3, 7, 6)
        out1, idx1 = F.max_pool1d(x[0], 2, return_indices=True)
        assert out1.shape == idx1.shape == (7, 3)
        outa, idxa = F.adaptive_max_pool1d(x[0], 4, return_indices=True)
        assert outa.shape == idxa.shape == (7, 4)
        assert (
            F.avg_pool2d(x, 2).dtype == F.interpolate(x[None], scale_factor=2).dtype == tg.float32
        )
        return idx1

    assert _traced(fn).max() < 6


def test_known_pytorch_values():
    def fn():
        x = tg.tensor([[[[1.0, 2.0], [3.0, 4.0]]]])
        r = tg.tensor(np.arange(5.0).reshape(1, 1, 5))
        return (
            F.interpolate(x, scale_factor=2, mode="bilinear", align_corners=False),
            F.interpolate(x, size=(3, 3), mode="bilinear", align_corners=True),
            F.interpolate(r, scale_factor=1.7),
            F.interpolate(r, scale_factor=1.7, recompute_scale_factor=True),
            F.interpolate(r, size=3, mode="nearest-exact"),
            F.avg_pool2d(tg.tensor(np.ones((1, 1, 3, 3))), 2, 2, 1, ceil_mode=True),
        )

    up, up_ac, near, near_rc, exact, avg = _traced(fn)
    np.testing.assert_allclose(
        up[0, 0],
        [
            [1.0, 1.25, 1.75, 2.0],
            [1.5, 1.75, 2.25, 2.5],
            [2.5, 2.75, 3.25, 3.5],
            [3.0, 3.25, 3.75, 4.0],
        ],
    )
    np.testing.assert_allclose(up_ac[0, 0], [[1, 1.5, 2], [2, 2.5, 3], [3, 3.5, 4]])
    # scale_factor 1.7: 8 outputs, source floor(i / 1.7) (not i * 5 / 8 unless recomputed)
    np.testing.assert_array_equal(near[0, 0], [0, 0, 1, 1, 2, 2, 3, 4])
    np.testing.assert_array_equal(near_rc[0, 0], [0, 0, 1, 1, 2, 3, 3, 4])
    np.testing.assert_array_equal(exact[0, 0], [0, 2, 4])
    np.testing.assert_allclose(avg[0, 0], [[0.25, 0.5], [0.5, 1.0]])


def test_fold_is_the_adjoint_of_unfold_and_its_gradient():
    xv = RNG.standard_normal((2, 3, 6, 5))
    kw = dict(kernel_size=(2, 3), dilation=(2, 1), padding=1, stride=(1, 2))
    yv = RNG.standard_normal(ref_unfold(xv, (2, 3), (2, 1), (1, 1), (1, 2)).shape)
    gv = RNG.standard_normal(yv.shape)

    def fn():
        x, y = tg.tensor(xv, requires_grad=True), tg.tensor(yv, requires_grad=True)
        cols, folded = F.unfold(x, **kw), F.fold(y, (6, 5), **kw)
        assert folded.grad_fn.name() == "Col2ImBackward0" and folded.shape == (2, 3, 6, 5)
        cols.backward(tg.tensor(gv))
        folded.backward(tg.tensor(xv))
        ones = F.fold(F.unfold(tg.tensor(np.ones((1, 1, 3, 3))), 2), (3, 3), 2)
        assert F.fold(y[0], (6, 5), **kw).shape == (3, 6, 5)
        return cols, folded, x.grad, y.grad, F.fold(tg.tensor(gv), (6, 5), **kw), ones

    cols, folded, xgrad, ygrad, fold_g, ones = _traced(fn)
    np.testing.assert_allclose(np.sum(cols * yv), np.sum(xv * folded), rtol=1e-12)
    np.testing.assert_allclose(xgrad, fold_g, rtol=1e-12)
    np.testing.assert_allclose(ygrad, ref_unfold(xv, (2, 3), (2, 1), (1, 1), (1, 2)), rtol=1e-12)
    # fold of unfold counts how many blocks cover each pixel
    np.testing.assert_array_equal(ones[0, 0], [[1, 2, 1], [2, 4, 2], [1, 2, 1]])


# ------------------------------------------------------------------ second order and finite diff
def _reduce_window(x, init, op, k, s, pads):
    return lax.reduce_window(x, init, op, (1, 1, *k), (1, 1, *s), ((0, 0), (0, 0), *pads))


SECOND_ORDER = {
    # name: (tracegrad function, jax oracle written from the lax primitives)
    "max_pool2d": (
        lambda t: F.max_pool2d(t, 3, 2, 1, ceil_mode=True),
        lambda x: _reduce_window(x, -jnp.inf, lax.max, (3, 3), (2, 2), ((1, 2), (1, 1))),
    ),
    "avg_pool2d": (
        lambda t: F.avg_pool2d(t, 3, 2, 1, count_include_pad=False),
        lambda x: (
            _reduce_window(x, 0.0, lax.add, (3, 3), (2, 2), ((1, 1), (1, 1)))
            / _reduce_window(jnp.ones_like(x), 0.0, lax.add, (3, 3), (2, 2), ((1, 1), (1, 1)))
        ),
    ),
    "pad_reflect": (
        lambda t: PAD(t, (1, 2, 2, 1), mode="reflect"),
        lambda x: jnp.pad(x, ((0, 0), (0, 0), (2, 1), (1, 2)), mode="reflect"),
    ),
    "bilinear": (
        lambda t: F.interpolate(t, size=(4, 7), mode="bilinear", align_corners=True),
        None,
    ),
}


@pytest.mark.slow
@pytest.mark.parametrize("name", ["max_pool2d", "avg_pool2d", "pad_reflect"])
def test_second_order_matches_jax(name):
    """create_graph=True through the op and a square: the gradient and the Hessian-vector
    product of sum(c * f(x)^2) against jax.grad (of jax.grad) of the lax formulation, all traced
    in one jit."""
    ours, oracle = SECOND_ORDER[name]
    rng = np.random.default_rng(5)
    x = rng.permutation(np.linspace(-2, 2, 60)).reshape(1, 2, 6, 5)  # no ties
    c = rng.standard_normal(jax.eval_shape(oracle, jnp.asarray(x)).shape)
    w = rng.standard_normal(x.shape)

    def run(data):
        x, c, w = data

        def loss(x):
            return jnp.sum(c * oracle(x) ** 2)

        expected = jax.grad(loss)(x), jax.grad(lambda x: jnp.sum(jax.grad(loss)(x) * w))(x)
        tx = tg.tensor(x, requires_grad=True)
        (gx,) = tg.autograd.grad((tg.tensor(c) * ours(tx) ** 2).sum(), tx, create_graph=True)
        (hv,) = tg.autograd.grad((gx * tg.tensor(w)).sum(), tx)
        return (jnp.asarray(gx.detach()), jnp.asarray(hv)), expected

    got, expected = _compile_and_run(run, (x, c, w))
    for a, b in zip(got, expected):
        np.testing.assert_allclose(a, b, **TOL)


@pytest.mark.slow
@pytest.mark.parametrize(
    "fn",
    [
        lambda t: F.max_pool2d(t, (3, 2), stride=(1, 2), padding=1, dilation=(2, 1)),
        lambda t: F.adaptive_max_pool2d(t, (3, None)),
        SECOND_ORDER["bilinear"][0],
    ],
    ids=["max_pool2d", "adaptive_max_pool2d", "bilinear"],
)
def test_gradient_matches_finite_differences(fn):
    rng = np.random.default_rng(6)
    x = rng.permutation(np.linspace(-2, 2, 60)).reshape(2, 1, 6, 5)  # no ties
    v, eps = rng.standard_normal(x.shape), 1e-6

    def run():
        tx = tg.tensor(x, requires_grad=True)
        out = fn(tx)
        g = tg.tensor(np.random.default_rng(7).standard_normal(out.shape))
        out.backward(g)
        with tg.no_grad():
            plus, minus = (fn(tg.tensor(x + s * eps * v)) for s in (1, -1))
        return tx.grad, g, plus, minus

    grad, g, plus, minus = _traced(run)
    numeric = np.sum((plus - minus) * g) / (2 * eps)
    np.testing.assert_allclose(np.sum(grad * v), numeric, rtol=1e-6)


# ---------------------------------------------------------------------------------------- errors
@pytest.mark.parametrize(
    "call,exc,message",
    [
        (lambda: F.max_pool2d(_t(1, 3, 2, 2), 3), RuntimeError,
         "Given input size: (3x2x2). Calculated output size: (3x0x0). Output size is too small"),
        (lambda: F.max_pool3d(_t(2, 3, 3, 3), 4), RuntimeError,
         "Given input size: (2x3x3x3). Calculated output size: (2x0x0x0). Output size is too small"),
        (lambda: F.max_pool2d(_t(1, 1, 5, 5), 3, padding=2), RuntimeError,
         "pad should be at most half of effective kernel size, but got pad=2, kernel_size=3 and "
         "dilation=1"),
        (lambda: F.max_pool2d(_t(1, 1, 5, 5), 3, padding=2, dilation=2), RuntimeError,
         "pad should be smaller than or equal to half of kernel size, but got padW = 2, padH = 2, "
         "kW = 3, kH = 3"),
        (lambda: F.avg_pool2d(_t(1, 1, 5, 5), 2, padding=-1), RuntimeError,
         "pad must be non-negative, but got pad: -1"),
        (lambda: F.max_pool2d(_t(5, 5), 2), RuntimeError,
         "non-empty 3D or 4D (batch mode) tensor expected for input"),
        (lambda: F.max_pool2d(_t(1, 5, 5), (2, 2, 2)), RuntimeError,
         "max_pool2d: kernel_size must either be a single int, or a tuple of two ints"),
        (lambda: F.max_pool1d(_t(1, 1, 3), 5), RuntimeError,
         "max_pool1d() Invalid computed output size: 0"),
        (lambda: F.max_pool1d(_t(1, 1, 6), 3, padding=2), RuntimeError,
         "max_pool1d() padding should be at most half of kernel size, but got padding=2 and "
         "kernel_size=3"),
        (lambda: F.avg_pool2d(_t(1, 1, 4, 4), 2, divisor_override=0), RuntimeError,
         "divisor must be not zero"),
        (lambda: F.avg_pool1d(_t(2, 3, 4, 5), 2), RuntimeError,
         "Expected 2 to 3 dimensions, but got 4-dimensional tensor for argument #1 'self' (while "
         "checking arguments for avg_pool1d)"),
        (lambda: F.avg_pool1d(_t(2, 3, 4), 5), RuntimeError,
         "Given input size: (3x1x4). Calculated output size: (3x1x0). Output size is too small"),
        (lambda: F.adaptive_avg_pool2d(_t(5), 2), RuntimeError,
         "adaptive_avg_pool2d(): Expected 3D or 4D tensor, but got [5]"),
        (lambda: F.adaptive_max_pool2d(_t(1, 3, 4), (2, 2, 2)), ValueError,
         "Input dimension should be at least 4"),
        (lambda: F.adaptive_avg_pool2d(_t(1, 3, 0, 4), 2), RuntimeError,
         "with dimension 2 being empty"),
        (lambda: PAD(_t(1, 3, 3), (3, 3), mode="reflect"), RuntimeError,
         "Argument #4: Padding size should be less than the corresponding input dimension, but "
         "got: padding (3, 3) at dimension 2 of input [1, 3, 3]"),
        (lambda: PAD(_t(1, 1, 3, 4), (0, 0, 1, 3), mode="reflect"), RuntimeError,
         "Argument #6: Padding size should be less than the corresponding input dimension, but "
         "got: padding (1, 3) at dimension 2 of input [1, 1, 3, 4]"),
        (lambda: PAD(_t(1, 1, 3), (4, 0), mode="circular"), RuntimeError,
         "Padding value causes wrapping around more than once."),
        (lambda: PAD(_t(3), (1, 1), mode="reflect"), NotImplementedError,
         "Only 2D, 3D, 4D, 5D padding with non-constant padding are supported for now"),
        (lambda: PAD(_t(2, 3), (1,)), RuntimeError, "Padding length must be divisible by 2"),
        (lambda: PAD(_t(2, 3), (1,) * 6), RuntimeError,
         "Padding length should be less than or equal to two times the input dimension but got "
         "padding length 6 and input of dimension 2"),
        (lambda: PAD(_t(2, 3), (1, 1), mode="foo"), NotImplementedError,
         "Unrecognised padding mode foo"),
        (lambda: PAD(_t(1, 3), (1, 1), mode="reflect", value=1.0), RuntimeError,
         'Padding mode "reflect" doesn\'t take in value argument'),
        (lambda: PAD(_t(2, 3), (-2, -2)), RuntimeError,
         "The input size 3, plus negative padding -2 and -2 resulted in a negative output size, "
         "which is invalid. Check dimension 1 of your input."),
        (lambda: F.interpolate(_t(1, 1, 4, 4), size=2, scale_factor=2.0), ValueError,
         "only one of size or scale_factor should be defined"),
        (lambda: F.interpolate(_t(1, 1, 4, 4)), ValueError,
         "either size or scale_factor should be defined"),
        (lambda: F.interpolate(_t(1, 1, 4), size=8, mode="bilinear"), NotImplementedError,
         "Got 3D input, but bilinear mode needs 4D input"),
        (lambda: F.interpolate(_t(1, 1, 4, 4), size=8, align_corners=True), ValueError,
         "align_corners option can only be set with the interpolating modes: linear | bilinear | "
         "bicubic | trilinear"),
        (lambda: F.interpolate(_t(1, 1, 4, 4), size=(2, 3, 4)), ValueError,
         "Input and output must have the same number of spatial dimensions, but got input with "
         "spatial dimensions of [4, 4] and output size of (2, 3, 4)."),
        (lambda: F.interpolate(_t(4, 4), size=2), NotImplementedError,
         "Input Error: Only 3D, 4D and 5D input Tensors supported (got 2D) for the modes: nearest "
         "| linear | bilinear | bicubic | trilinear | area | nearest-exact (got nearest)"),
        (lambda: F.interpolate(_t(1, 1, 2, 2), scale_factor=0.4), RuntimeError,
         "Input and output sizes should be greater than 0, but got input (H: 2, W: 2) output "
         "(H: 0, W: 0)"),
        (lambda: F.unfold(_t(1, 1, 2, 2), 3), RuntimeError,
         "Given input with spatial size (2, 2), kernel_size=(3, 3), dilation=(1, 1), "
         "padding=(0, 0), calculated shape of the array of sliding blocks as (0, 0), but its "
         "components must be at least one."),
        (lambda: F.unfold(_t(5, 5), 2), RuntimeError,
         "Expected 3D or 4D (batch mode) tensor with optional 0 dim batch size for input, but "
         "got:[5, 5]"),
        (lambda: F.fold(_t(1, 8, 8), (4, 4), 2), RuntimeError,
         "expected size of input's dimension 2 to match the calculated number of sliding blocks "
         "3 * 3 = 9, but got input.size(2)=8."),
        (lambda: F.fold(_t(1, 7, 9), (4, 4), 2), RuntimeError,
         "Expected size of input's dimension 1 to be divisible by the product of kernel_size, but "
         "got input.size(1)=7 and kernel_size=(2, 2)"),
    ],
    ids=lambda v: v[:40] if isinstance(v, str) else None,
)  # fmt: skip
def test_errors(call, exc, message):
    with pytest.raises(exc) as info:
        call()
    assert message in str(info.value)
