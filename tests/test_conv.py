"""conv1d/2d/3d and conv_transpose1d/2d/3d: the option grid against JAX's autodiff of an
independently written ``lax.conv_general_dilated`` call and against finite differences, second
order, and the public API (layouts, unbatched inputs, ``'same'`` padding, errors, grad_fn names)
against plain numpy.

Speed: every distinct convolution costs an XLA compile (0.1-0.3 s on CPU in float64), and a grid
case needs six of them (forward, input and weight gradient; ours and the oracle's). So the grid is
run in chunks: one ``jax.jit`` per chunk traces tracegrad's eager code (forward, ``backward()``,
the recorded VJP rules: tracegrad ops run on tracers) next to the oracle, compiled once with
XLA's backend optimisation off; each case then compares its slice. The eager path itself is
covered by the registry samples (tests/samples/conv.py) and the API tests below.
"""

from __future__ import annotations

import functools
import itertools
from dataclasses import dataclass

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax import lax

import tracegrad as tg
import tracegrad.nn.functional as F

from .tiers import slow_after

CONV = {1: F.conv1d, 2: F.conv2d, 3: F.conv3d}
CONV_T = {1: F.conv_transpose1d, 2: F.conv_transpose2d, 3: F.conv_transpose3d}
SPECS = {1: ("NCH", "OIH", "NCH"), 2: ("NCHW", "OIHW", "NCHW"), 3: ("NCDHW", "OIDHW", "NCDHW")}
KERNELS = {1: ((2,), (3,)), 2: ((2, 3), (3, 2)), 3: ((2, 3, 2), (2, 2, 3))}
SPATIAL = {1: (7,), 2: (6, 7), 3: (4, 5, 5)}
SPATIAL_T = {1: (5,), 2: (4, 5), 3: (4, 4, 4)}
# XLA CPU compiles these tiny float64 convolutions 5x faster with LLVM's optimisation and the
# fusion emitters off; if a backend does not know an option, the default compile is used.
FAST_COMPILE = {"xla_backend_optimization_level": 0, "xla_cpu_use_fusion_emitters": False}
CHUNK = 16
EPS = 1e-6


@dataclass(frozen=True)
class Case:
    transposed: bool
    nd: int
    stride: int
    padding: object
    dilation: int
    groups: int
    output_padding: int
    kernel: tuple
    cin: int  # channels per group
    cout: int
    seed: int
    fd: bool
    chunk: tuple = ()

    def __str__(self) -> str:
        kind = "convT" if self.transposed else "conv"
        op = f"-op{self.output_padding}" if self.transposed else ""
        return (
            f"{kind}{self.nd}d-s{self.stride}-p{self.padding}-d{self.dilation}-g{self.groups}{op}"
            f"-k{'x'.join(map(str, self.kernel))}"
        )

    def kwargs(self) -> dict:
        kw = dict(stride=self.stride, padding=self.padding, dilation=self.dilation)
        if self.transposed:
            kw["output_padding"] = self.output_padding
        return dict(kw, groups=self.groups)

    def inputs(self):
        rng = np.random.default_rng(self.seed)
        g, k = self.groups, self.kernel
        spatial = (SPATIAL_T if self.transposed else SPATIAL)[self.nd]
        x = rng.standard_normal((2, self.cin * g, *spatial))
        if self.transposed:
            w = rng.standard_normal((self.cin * g, self.cout, *k))
        else:
            w = rng.standard_normal((self.cout * g, self.cin, *k))
        b = rng.standard_normal(self.cout * g)
        ct = rng.standard_normal(jax.eval_shape(functools.partial(oracle, self), x, w, b).shape)
        dirs = tuple(rng.standard_normal(a.shape) for a in (x, w, b))
        return x, w, b, ct, dirs


def _grid() -> list:
    cases = []
    for transposed, nd in itertools.product((False, True), (1, 2, 3)):
        paddings = (0, 1, 2) if transposed else (0, 1, 2, "same", "valid")
        combos = [
            c
            for c in itertools.product((1, 2, 3), paddings, (1, 2), (1, 2, 3))
            if not (c[1] == "same" and c[0] > 1)
        ]
        for i, (s, p, d, g) in enumerate(combos):
            case = Case(
                transposed,
                nd,
                s,
                p,
                d,
                g,
                output_padding=i % max(s, d) if transposed else 0,
                kernel=KERNELS[nd][i % 2],
                cin=1 + (i // 2) % 2,
                cout=2 - (i // 3) % 2,
                seed=len(cases),
                fd=i % 4 == 0,
                chunk=(transposed, nd, i // CHUNK),
            )
            cases.append(case)
    return cases


GRID = _grid()


def oracle(case: Case, x, w, b):
    """The PyTorch-semantics convolution as one ``lax.conv_general_dilated`` call, written from
    the PyTorch documentation (not from tracegrad's lowering)."""
    nd, s, p, d, g = case.nd, case.stride, case.padding, case.dilation, case.groups
    k = w.shape[2:]
    if case.transposed:
        # conv_transpose: the input dilated by the stride, padded by d (k - 1) - p (+
        # output_padding on the right), correlated with the flipped kernel, in/out swapped per
        # group: (C_in, C_out/g, k) -> (g, C_in/g, C_out/g, k) -> (C_out, C_in/g, k).
        cin, cout_g = w.shape[:2]
        wt = w.reshape(g, cin // g, cout_g, *k).swapaxes(1, 2).reshape(g * cout_g, cin // g, *k)
        wt = jnp.flip(wt, axis=tuple(range(2, nd + 2)))
        op = case.output_padding
        pads = [(d * (kk - 1) - p, d * (kk - 1) - p + op) for kk in k]
        y = lax.conv_general_dilated(
            x, wt, (1,) * nd, pads, (s,) * nd, (d,) * nd, SPECS[nd], feature_group_count=g
        )
    else:
        if p == "same":
            pads = [(d * (kk - 1) // 2, d * (kk - 1) - d * (kk - 1) // 2) for kk in k]
        else:
            pads = [(0 if p == "valid" else p,) * 2] * nd
        y = lax.conv_general_dilated(
            x, w, (s,) * nd, pads, rhs_dilation=(d,) * nd, dimension_numbers=SPECS[nd],
            feature_group_count=g,
        )  # fmt: skip
    return y + b.reshape((1, -1) + (1,) * nd)


def _call(case: Case, x, w, b):
    return (CONV_T if case.transposed else CONV)[case.nd](x, w, b, **case.kwargs())


def _ours(case: Case, x, w, b, ct):
    """tracegrad's forward and recorded backward (traced, inside the chunk's jit)."""
    tx, tw, tb = (tg.tensor(a, requires_grad=True) for a in (x, w, b))
    out = _call(case, tx, tw, tb)
    out.backward(tg.tensor(ct))
    return tuple(jnp.asarray(t) for t in (out.detach(), tx.grad, tw.grad, tb.grad))


def _reference(case: Case, x, w, b, ct):
    out, vjp = jax.vjp(functools.partial(oracle, case), x, w, b)
    return (out, *vjp(ct))


def _shifted(case: Case, x, w, b, dirs, sign):
    with tg.no_grad():
        shifted = (tg.tensor(a + sign * EPS * da) for a, da in zip((x, w, b), dirs))
        return jnp.asarray(_call(case, *shifted))


def _compile(fn, data):
    lowered = jax.jit(fn).lower(data)
    try:
        return lowered.compile(compiler_options=FAST_COMPILE)
    except Exception:  # an option this XLA does not have
        return lowered.compile()


@functools.cache
def _chunk_results(chunk: tuple) -> dict:
    cases = [c for c in GRID if c.chunk == chunk]
    data = [c.inputs() for c in cases]

    def run(data):
        results = []
        for c, (x, w, b, ct, dirs) in zip(cases, data):
            fd = (_shifted(c, x, w, b, dirs, 1), _shifted(c, x, w, b, dirs, -1)) if c.fd else ()
            results.append((_ours(c, x, w, b, ct), _reference(c, x, w, b, ct), fd))
        return results

    compiled = _compile(run, data)
    return {c: (r, d) for c, r, d in zip(cases, jax.device_get(compiled(data)), data)}


@pytest.mark.slow
@pytest.mark.parametrize("case", GRID, ids=str)
def test_grid_matches_jax_and_finite_differences(case):
    (ours, ref, fd), (x, w, b, ct, dirs) = _chunk_results(case.chunk)[case]
    for what, got, want in zip(("output", "input grad", "weight grad", "bias grad"), ours, ref):
        assert got.shape == want.shape, what
        np.testing.assert_allclose(got, want, rtol=1e-10, atol=1e-10, err_msg=what)
    if case.fd:
        numeric = np.sum((fd[0] - fd[1]) * ct) / (2 * EPS)
        analytic = sum(np.sum(g * d) for g, d in zip(ours[1:], dirs))
        np.testing.assert_allclose(analytic, numeric, rtol=1e-6, atol=1e-6)


# ----------------------------------------------------------------------------------- second order
SECOND = GRID[::13]


def _second_ours(case: Case, x, w, b, ct, vx, vw):
    """d/d(x, w) of <dL/dx, vx> + <dL/dw, vw>, through create_graph=True."""
    tx, tw, tb = (tg.tensor(a, requires_grad=True) for a in (x, w, b))
    out = _call(case, tx, tw, tb)
    gx, gw = tg.autograd.grad(out, (tx, tw), tg.tensor(ct), create_graph=True)
    total = (gx * tg.tensor(vx)).sum() + (gw * tg.tensor(vw)).sum()
    return tuple(jnp.asarray(h) for h in tg.autograd.grad(total, (tx, tw)))


def _second_reference(case: Case, x, w, b, ct, vx, vw):
    def h(x, w):
        gx, gw, _ = jax.vjp(functools.partial(oracle, case), x, w, b)[1](ct)
        return jnp.sum(gx * vx) + jnp.sum(gw * vw)

    return jax.grad(h, argnums=(0, 1))(x, w)


@functools.cache
def _second_results() -> list:
    data = []
    for c in SECOND:
        x, w, b, ct, (vx, vw, _) = c.inputs()
        data.append((x, w, b, ct, vx, vw))

    def run(data):
        return [(_second_ours(c, *a), _second_reference(c, *a)) for c, a in zip(SECOND, data)]

    compiled = _compile(run, data)
    return jax.device_get(compiled(data))


@pytest.mark.slow
@pytest.mark.parametrize("i", range(len(SECOND)), ids=[str(c) for c in SECOND])
def test_second_order_matches_jax(i):
    ours, ref = _second_results()[i]
    for what, got, want in zip(("input", "weight"), ours, ref):
        np.testing.assert_allclose(got, want, rtol=1e-10, atol=1e-10, err_msg=what)


@pytest.mark.slow
def test_second_order_eager():
    case = Case(False, 2, 2, 1, 2, 2, 0, (3, 2), 1, 2, seed=99, fd=False)
    x, w, b, ct, (vx, vw, _) = case.inputs()
    ours = _second_ours(case, x, w, b, ct, vx, vw)
    for got, want in zip(ours, _second_reference(case, x, w, b, ct, vx, vw)):
        np.testing.assert_allclose(got, want, rtol=1e-10, atol=1e-10)


# ------------------------------------------------------------------------ public API, vs numpy
def np_conv(x, w, b=None, stride=1, pads=0, dilation=1, groups=1):
    """Direct convolution in numpy: a sum over kernel offsets of strided input slices."""
    nd = x.ndim - 2
    s, d = (stride,) * nd, (dilation,) * nd
    pads = [(pads, pads)] * nd if isinstance(pads, int) else list(pads)
    xp = np.pad(x, [(0, 0), (0, 0), *pads])
    k = w.shape[2:]
    out_sp = [(xp.shape[2 + i] - d[i] * (k[i] - 1) - 1) // s[i] + 1 for i in range(nd)]
    n, c = x.shape[:2]
    o = w.shape[0]
    out = np.zeros((n, groups, o // groups, *out_sp))
    for t in np.ndindex(*k):
        sl = tuple(
            slice(d[i] * t[i], d[i] * t[i] + s[i] * (out_sp[i] - 1) + 1, s[i]) for i in range(nd)
        )
        patch = xp[(slice(None), slice(None), *sl)].reshape(n, groups, c // groups, *out_sp)
        wk = w[(slice(None), slice(None), *t)].reshape(groups, o // groups, c // groups)
        out += np.einsum("ngc...,goc->ngo...", patch, wk)
    out = out.reshape(n, o, *out_sp)
    return out if b is None else out + b.reshape((1, -1) + (1,) * nd)


def np_conv_transpose1d(x, w, stride=1, padding=0, output_padding=0, groups=1, dilation=1):
    """Scatter form: out[s i + d t - p] += x[i] w[t], per group."""
    n, cin, length = x.shape
    k = w.shape[2]
    cout_g = w.shape[1]
    full = (length - 1) * stride + dilation * (k - 1) + 1 + output_padding
    buf = np.zeros((n, groups * cout_g, full))
    for grp in range(groups):
        xs = x[:, grp * (cin // groups) : (grp + 1) * (cin // groups)]
        ws = w[grp * (cin // groups) : (grp + 1) * (cin // groups)]
        for i in range(length):
            for t in range(k):
                buf[:, grp * cout_g : (grp + 1) * cout_g, stride * i + dilation * t] += np.einsum(
                    "nc,co->no", xs[:, :, i], ws[:, :, t]
                )
    out_len = full - 2 * padding
    return buf[:, :, padding : padding + out_len]


RNG = np.random.default_rng(7)


def _t(*shape, requires_grad=False):
    return tg.tensor(RNG.standard_normal(shape), requires_grad=requires_grad)


def test_conv2d_tuple_options_match_numpy():
    x, w, b = _t(2, 4, 7, 6), _t(6, 2, 3, 2), _t(6)
    out = F.conv2d(x, w, b, stride=(2, 1), padding=(1, 0), dilation=(1, 2), groups=2)
    assert out.shape == (2, 6, 4, 4)
    # per-axis stride (2, 1) and dilation (1, 2) by hand: a kernel dilated along W, every other
    # row of the stride-1 result
    wd = np.zeros((6, 2, 3, 3))
    wd[..., ::2] = w.numpy()
    ref = np_conv(x.numpy(), wd, b.numpy(), 1, [(1, 1), (0, 0)], 1, 2)[:, :, ::2, :]
    np.testing.assert_allclose(out.numpy(), ref, rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize("k,dilation", [(4, 1), (2, 3), (3, 2)])
def test_same_padding_splits_odd_total_to_the_right(k, dilation):
    x, w = _t(1, 2, 7), _t(3, 2, k)
    out = F.conv1d(x, w, padding="same", dilation=dilation)
    total = dilation * (k - 1)
    ref = np_conv(x.numpy(), w.numpy(), None, 1, [(total // 2, total - total // 2)], dilation)
    assert out.shape == (1, 3, 7)
    np.testing.assert_allclose(out.numpy(), ref, rtol=1e-10, atol=1e-10)


def test_valid_padding_is_zero_padding():
    x, w = _t(2, 3, 6, 6), _t(4, 3, 3, 3)
    np.testing.assert_allclose(
        F.conv2d(x, w, padding="valid").numpy(), np_conv(x.numpy(), w.numpy()), rtol=1e-10
    )


def test_conv3d_matches_numpy():
    x, w, b = _t(1, 2, 4, 5, 4), _t(4, 1, 2, 3, 2), _t(4)
    out = F.conv3d(x, w, b, stride=2, padding=1, groups=2)
    ref = np_conv(x.numpy(), w.numpy(), b.numpy(), 2, 1, 1, 2)
    np.testing.assert_allclose(out.numpy(), ref, rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize(
    "stride,padding,output_padding,groups,dilation",
    [(2, 0, 1, 1, 1), (3, 1, 2, 2, 1), (1, 2, 0, 1, 1), (2, 1, 0, 3, 2), (1, 0, 1, 1, 2)],
)
def test_conv_transpose1d_matches_numpy_scatter(stride, padding, output_padding, groups, dilation):
    # padding 2 with k = 2 crops more than the kernel adds: negative lax padding passes through
    x, w, b = _t(2, 2 * groups, 5), _t(2 * groups, 2, 2), _t(2 * groups)
    out = F.conv_transpose1d(x, w, b, stride, padding, output_padding, groups, dilation)
    ref = np_conv_transpose1d(
        x.numpy(), w.numpy(), stride, padding, output_padding, groups, dilation
    )
    np.testing.assert_allclose(out.numpy(), ref + b.numpy()[:, None], rtol=1e-10, atol=1e-10)


def test_unbatched_inputs():
    x, w, b = _t(3, 6, 6, requires_grad=True), _t(4, 3, 3, 3), _t(4)
    out = F.conv2d(x, w, b, padding=1)
    assert out.shape == (4, 6, 6) and out.grad_fn.name() == "SqueezeBackward1"
    np.testing.assert_allclose(
        out.detach().numpy(), np_conv(x.detach().numpy()[None], w.numpy(), b.numpy(), 1, 1)[0]
    )
    out.sum().backward()
    assert x.grad.shape == (3, 6, 6)
    xt, wt = _t(2, 5), _t(2, 3, 3)
    np.testing.assert_allclose(
        F.conv_transpose1d(xt, wt, stride=2).numpy(),
        np_conv_transpose1d(xt.numpy()[None], wt.numpy(), 2)[0],
        rtol=1e-10,
    )


def test_grad_fn_names_and_dtypes():
    for fn, w in ((F.conv1d, _t(4, 3, 2)), (F.conv_transpose1d, _t(3, 4, 2))):
        x = tg.tensor(RNG.standard_normal((2, 3, 5)), dtype=tg.float32, requires_grad=True)
        out = fn(x, w.float(), _t(4).float())
        assert out.grad_fn.name() == "ConvolutionBackward0" and out.dtype == tg.float32
        out.sum().backward()
        assert x.grad.dtype == tg.float32 and x.grad.shape == (2, 3, 5)


def test_bias_gradient_is_sum_over_batch_and_space():
    x, w, b = _t(2, 3, 5, 4), _t(4, 3, 2, 2), _t(4, requires_grad=True)
    g = RNG.standard_normal((2, 4, 4, 3))
    F.conv2d(x, w, b).backward(tg.tensor(g))
    np.testing.assert_allclose(b.grad.numpy(), g.sum(axis=(0, 2, 3)), rtol=1e-12)


def test_empty_batch():
    x, w = _t(0, 3, 5, 5, requires_grad=True), _t(8, 3, 3, 3, requires_grad=True)
    out = F.conv2d(x, w)
    assert out.shape == (0, 8, 3, 3)
    out.sum().backward()
    assert x.grad.shape == (0, 3, 5, 5)
    np.testing.assert_array_equal(w.grad.numpy(), np.zeros((8, 3, 3, 3)))


def test_functional_exports():
    for name in ("conv1d", "conv2d", "conv3d", "conv_transpose1d", "conv_transpose2d"):
        assert name in F.__all__ and callable(getattr(F, name))


# ---------------------------------------------------------------------------------------- errors
@pytest.mark.parametrize(
    "call,exc,message",
    [
        (
            lambda: F.conv2d(_t(1, 4, 5, 5), _t(3, 1, 3, 3), groups=2),
            RuntimeError,
            "Given groups=2, expected weight to be divisible by 2 at dimension 0, but got weight "
            "of size [3, 1, 3, 3] instead",
        ),
        (
            lambda: F.conv2d(_t(1, 4, 5, 5), _t(8, 3, 3, 3)),
            RuntimeError,
            "Given groups=1, weight of size [8, 3, 3, 3], expected input[1, 4, 5, 5] to have 3 "
            "channels, but got 4 channels instead",
        ),
        (
            lambda: F.conv2d(_t(1, 3, 2, 2), _t(8, 3, 3, 3)),
            RuntimeError,
            "Calculated padded input size per channel: (2 x 2). Kernel size: (3 x 3). Kernel size "
            "can't be greater than actual input size",
        ),
        (
            lambda: F.conv2d(_t(5, 5), _t(8, 3, 3, 3)),
            RuntimeError,
            "Expected 3D (unbatched) or 4D (batched) input to conv2d, but got input of size: "
            "[5, 5]",
        ),
        (
            lambda: F.conv1d(_t(1, 3, 5), _t(8, 3, 3), stride=2, padding="same"),
            RuntimeError,
            "padding='same' is not supported for strided convolutions",
        ),
        (
            lambda: F.conv1d(_t(1, 3, 5), _t(8, 3, 3), padding="full"),
            RuntimeError,
            "Invalid padding string: 'full'",
        ),
        (
            lambda: F.conv1d(_t(1, 3, 5), _t(8, 3, 3), _t(7)),
            RuntimeError,
            "Given weight of size [8, 3, 3], expected bias to be 1-dimensional with 8 elements, "
            "but got bias of size [7] instead",
        ),
        (
            lambda: F.conv1d(_t(1, 3, 5), _t(8, 3, 3), padding=-1),
            RuntimeError,
            "negative padding is not supported",
        ),
        (
            lambda: F.conv2d(_t(1, 3, 5, 5), _t(8, 3, 3, 3), stride=(1, 1, 1)),
            RuntimeError,
            "expected stride to be a single integer value or a list of 2 values",
        ),
        (
            lambda: F.conv2d(_t(1, 3, 5, 5), _t(8, 3, 3)),
            RuntimeError,
            "Expected 3-dimensional input for 3-dimensional weight [8, 3, 3], but got "
            "4-dimensional input of size [1, 3, 5, 5] instead",
        ),
        (
            lambda: F.conv2d(_t(1, 3, 5, 5), _t(8, 3, 3, 3).float()),
            RuntimeError,
            "Input type (double) and weight type (float) should be the same",
        ),
        (
            lambda: F.conv_transpose2d(_t(1, 5, 4, 4), _t(4, 3, 3, 3)),
            RuntimeError,
            "Given transposed=1, weight of size [4, 3, 3, 3], expected input[1, 5, 4, 4] to have "
            "4 channels, but got 5 channels instead",
        ),
        (
            lambda: F.conv_transpose1d(_t(1, 4, 4), _t(4, 3, 3), stride=2, output_padding=2),
            RuntimeError,
            "output padding must be smaller than either stride or dilation",
        ),
        (
            lambda: F.conv_transpose1d(_t(1, 4, 2), _t(4, 3, 1), padding=2),
            RuntimeError,
            "Given input size per channel: (2). Calculated output size per channel: (-2). Output "
            "size is too small",
        ),
    ],
    ids=lambda v: v[:40] if isinstance(v, str) else None,
)
def test_errors(call, exc, message):
    with pytest.raises(exc) as info:
        call()
    assert message in str(info.value)


# ----------------------------------------------------------------------- PyTorch, when installed
@pytest.mark.parametrize("case", slow_after(GRID[::17]), ids=str)
def test_matches_pytorch(case):
    torch = pytest.importorskip("torch")
    x, w, b, ct, _ = case.inputs()
    tx, tw, tb = (torch.tensor(a, requires_grad=True) for a in (x, w, b))
    fn = getattr(torch.nn.functional, f"conv{'_transpose' if case.transposed else ''}{case.nd}d")
    out = fn(tx, tw, tb, **case.kwargs())
    out.backward(torch.tensor(ct))
    ts = [tg.tensor(a, requires_grad=True) for a in (x, w, b)]
    ours = _call(case, *ts)
    ours.backward(tg.tensor(ct))
    np.testing.assert_allclose(ours.detach().numpy(), out.detach().numpy(), rtol=1e-10, atol=1e-10)
    for t, ref in zip(ts, (tx, tw, tb)):
        np.testing.assert_allclose(t.grad.numpy(), ref.grad.numpy(), rtol=1e-10, atol=1e-10)
