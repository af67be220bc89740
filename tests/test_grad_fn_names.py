"""grid_sample, affine_grid and pixel_(un)shuffle against PyTorch as graphs: one node each with
PyTorch's grad_fn name, and grid_sample's double backward (PyTorch's grid_sampler backward is
differentiable) equal to PyTorch's. Values and first gradients for every mode are in
``tests/test_pooling_more.py`` and ``tests/test_pixel_shuffle.py``."""

from __future__ import annotations

import numpy as np
import pytest

import tracegrad as tg
import tracegrad.nn.functional as F

from .tiers import slow_after

TOL = {"rtol": 1e-9, "atol": 1e-9}


def _torch():
    return pytest.importorskip("torch")


def _calls(torch_mode: bool):
    """(label, function of the module F and a tensor maker) for each op under test."""
    rng = np.random.default_rng(3)
    x4, x5 = rng.standard_normal((1, 4, 4, 4)), rng.standard_normal((1, 2, 3, 3, 3))
    g4, g5 = rng.uniform(-1, 1, (1, 2, 3, 2)), rng.uniform(-1, 1, (1, 2, 2, 2, 3))
    t2, t3 = rng.standard_normal((2, 2, 3)), rng.standard_normal((3, 3, 4))
    return [
        ("GridSampler2DBackward0", lambda m, T: m.grid_sample(T(x4), T(g4), align_corners=False)),
        (
            "GridSampler2DBackward0",
            lambda m, T: m.grid_sample(T(x4), T(g4), "bicubic", align_corners=True),
        ),
        (
            "GridSampler2DBackward0",
            lambda m, T: m.grid_sample(T(x4), T(g4), "nearest", align_corners=False),
        ),
        ("GridSampler3DBackward0", lambda m, T: m.grid_sample(T(x5), T(g5), align_corners=True)),
        (
            "AffineGridGeneratorBackward0",
            lambda m, T: m.affine_grid(T(t2), (2, 1, 3, 4), align_corners=False),
        ),
        (
            "AffineGridGeneratorBackward0",
            lambda m, T: m.affine_grid(T(t3), (3, 1, 2, 2, 4), align_corners=True),
        ),
        ("PixelShuffleBackward0", lambda m, T: m.pixel_shuffle(T(x4), 2)),
        ("PixelUnshuffleBackward0", lambda m, T: m.pixel_unshuffle(T(x4), 2)),
    ]


@pytest.mark.parametrize("case", range(len(_calls(False))))
def test_grad_fn_name_matches_pytorch(case):
    torch = _torch()
    name, call = _calls(False)[case]
    want = call(torch.nn.functional, lambda a: torch.tensor(a, requires_grad=True))
    got = call(F, lambda a: tg.tensor(a, requires_grad=True))
    assert type(want.grad_fn).__name__ == name
    assert got.grad_fn.name() == name
    # One node: its inputs are the leaves themselves.
    assert all(
        fn is None or fn.name() == "torch::autograd::AccumulateGrad"
        for fn, _ in got.grad_fn.next_functions
    )
    np.testing.assert_allclose(got.detach().numpy(), want.detach().numpy(), **TOL)


def test_pixel_shuffle_gradient_node_is_pixel_unshuffle():
    torch = _torch()
    x = np.random.default_rng(4).standard_normal((1, 4, 2, 3))
    tx, gx = torch.tensor(x, requires_grad=True), tg.tensor(x, requires_grad=True)
    for m, t in ((torch.nn.functional, tx), (F, gx)):
        out = m.pixel_shuffle(t, 2)
        (grad,) = (torch.autograd if m is not F else tg.autograd).grad(
            out, t, (out * 0 + 1), create_graph=True
        )
        name = grad.grad_fn.name() if m is F else type(grad.grad_fn).__name__
        assert name.startswith("PixelUnshuffleBackward0"), name


_SECOND = [
    (2, "bilinear", "zeros", False),
    (2, "bilinear", "border", True),
    (2, "bilinear", "reflection", False),
    (2, "bicubic", "zeros", True),
    (2, "bicubic", "reflection", False),
    (3, "bilinear", "zeros", True),
    (3, "bilinear", "reflection", False),
    (2, "nearest", "border", False),
]


@pytest.mark.parametrize("nd, mode, padding, align", slow_after(_SECOND, keep=2, multi=True))
def test_grid_sample_double_backward_matches_pytorch(nd, mode, padding, align):
    """d/d(input, grid) of <d out/d(input, grid) . (u, v)> for a random cotangent w, as PyTorch."""
    torch = _torch()
    rng = np.random.default_rng(5)
    shape = (2, 2, 4, 5) if nd == 2 else (1, 2, 3, 4, 3)
    gshape = (2, 3, 2, 2) if nd == 2 else (1, 2, 2, 3, 3)
    x, grid = rng.standard_normal(shape), rng.uniform(-1.3, 1.3, gshape)
    results = []
    for m, grad, T in (
        (torch.nn.functional, torch.autograd.grad, lambda a: torch.tensor(a, requires_grad=True)),
        (F, tg.autograd.grad, lambda a: tg.tensor(a, requires_grad=True)),
    ):
        tx, tgrid = T(x), T(grid)
        out = m.grid_sample(tx, tgrid, mode, padding, align)
        w = T(np.random.default_rng(6).standard_normal(tuple(out.shape)))
        dx, dgrid = grad(out, (tx, tgrid), w, create_graph=True)
        u = np.random.default_rng(7).standard_normal(shape)
        v = np.random.default_rng(8).standard_normal(gshape)
        s = (dx * T(u)).sum() + (dgrid * T(v)).sum()
        grads = grad(s, (tx, tgrid, w), allow_unused=True)
        results.append([None if a is None else a.detach().numpy() for a in grads])
    for got, want in zip(results[1], results[0]):
        # 'nearest': PyTorch's double backward reports zeros for the grid, where tracegrad's
        # graph does not reach it (None); the values agree.
        if want is None or got is None:
            assert not np.any(got if want is None else want)
            continue
        np.testing.assert_allclose(got, want, rtol=1e-8, atol=1e-8)


def _nearest_second_order(lib, nd: int) -> list:
    """d/d(input, grid, cotangent) of <d out/d input . u> for grid_sample(mode='nearest')."""
    rng = np.random.default_rng(9)
    shape = (2, 2, 4, 5) if nd == 2 else (1, 2, 3, 4, 3)
    gshape = (2, 3, 2, 2) if nd == 2 else (1, 2, 2, 3, 3)
    x, grid = rng.standard_normal(shape), rng.uniform(-1.3, 1.3, gshape)
    tx, tgrid = (lib.tensor(a, requires_grad=True) for a in (x, grid))
    out = lib.nn.functional.grid_sample(tx, tgrid, "nearest", "zeros", False)
    w = lib.tensor(rng.standard_normal(tuple(out.shape)), requires_grad=True)
    dx, _ = lib.autograd.grad(out, (tx, tgrid), w, create_graph=True)
    s = (dx * lib.tensor(rng.standard_normal(shape))).sum()
    grads = lib.autograd.grad(s, (tx, tgrid, w), allow_unused=True)
    return [None if a is None else a.detach().numpy() for a in grads]


@pytest.mark.parametrize("nd", [2, 3])
def test_grid_sample_nearest_double_backward_reports_what_pytorch_does(nd):
    """The input gradient of 'nearest' does not depend on the input (None) and depends on the
    grid with derivative zero: PyTorch reports zeros for the grid, not None."""
    torch = _torch()
    got, want = _nearest_second_order(tg, nd), _nearest_second_order(torch, nd)
    assert [a is None for a in got] == [a is None for a in want] == [True, False, False]
    for a, b in zip(got[1:], want[1:]):
        np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("nd", [2, 3])
def test_grid_sample_nearest_double_backward_against_jax(nd):
    """The oracle: JAX's autodiff of the lowering's input cotangent (the transpose of a gather at
    rounded positions) gives zeros for the grid, and the cotangent's gradient."""
    import jax
    import jax.numpy as jnp

    from tracegrad.ops.sampling import _grid_sampler

    got = _nearest_second_order(tg, nd)
    rng = np.random.default_rng(9)
    shape = (2, 2, 4, 5) if nd == 2 else (1, 2, 3, 4, 3)
    gshape = (2, 3, 2, 2) if nd == 2 else (1, 2, 2, 3, 3)
    x, grid = rng.standard_normal(shape), rng.uniform(-1.3, 1.3, gshape)
    out_shape = (shape[0], shape[1], *gshape[1:-1])
    w, u = rng.standard_normal(out_shape), rng.standard_normal(shape)

    def s(grid, w):
        def sample(x):
            return _grid_sampler(x, grid, mode="nearest", padding_mode="zeros", align_corners=False)

        (dx,) = jax.vjp(sample, jnp.asarray(x))[1](w)
        return (dx * u).sum()

    d_grid, d_w = jax.grad(s, argnums=(0, 1))(jnp.asarray(grid), jnp.asarray(w))
    assert got[0] is None
    np.testing.assert_array_equal(got[1], np.zeros(gshape))
    np.testing.assert_array_equal(np.asarray(d_grid), np.zeros(gshape))
    np.testing.assert_allclose(got[2], np.asarray(d_w), rtol=1e-12, atol=1e-12)
