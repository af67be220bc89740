"""pixel_shuffle / pixel_unshuffle and their modules against PyTorch: values, gradients, errors."""

from __future__ import annotations

import numpy as np
import pytest

import tracegrad as tg

torch = pytest.importorskip("torch")


@pytest.mark.parametrize(
    "fn, shape, r",
    [
        ("pixel_shuffle", (2, 8, 3, 5), 2),
        ("pixel_shuffle", (9, 2, 3), 3),
        ("pixel_shuffle", (2, 2, 4, 1, 1), 2),
        ("pixel_unshuffle", (2, 3, 4, 6), 2),
        ("pixel_unshuffle", (1, 6, 9), 3),
    ],
)
def test_matches_pytorch_with_gradients(fn, shape, r):
    x = np.random.default_rng(0).standard_normal(shape).astype(np.float32)
    ours = tg.tensor(x, requires_grad=True)
    theirs = torch.tensor(x, requires_grad=True)
    a = getattr(tg.nn.functional, fn)(ours, r)
    b = getattr(torch.nn.functional, fn)(theirs, r)
    np.testing.assert_array_equal(a.detach().numpy(), b.detach().numpy())
    w = np.random.default_rng(1).standard_normal(tuple(b.shape)).astype(np.float32)
    (a * tg.tensor(w)).sum().backward()
    (b * torch.tensor(w)).sum().backward()
    np.testing.assert_array_equal(ours.grad.numpy(), theirs.grad.numpy())


def test_modules_and_top_level_names():
    x = tg.arange(16.0).reshape(1, 4, 2, 2)
    up = tg.nn.PixelShuffle(2)
    assert repr(up) == "PixelShuffle(upscale_factor=2)"
    np.testing.assert_array_equal(tg.nn.PixelUnshuffle(2)(up(x)).numpy(), x.numpy())
    assert tg.pixel_shuffle is tg.nn.functional.pixel_shuffle


@pytest.mark.parametrize(
    "fn, shape, r, message",
    [
        ("pixel_shuffle", (4, 4), 2, "at least 3 dimensions"),
        ("pixel_shuffle", (1, 6, 2, 2), 2, "divisible by the square of upscale_factor"),
        ("pixel_unshuffle", (1, 1, 3, 4), 2, "divisible by downscale_factor"),
    ],
)
def test_errors_match_pytorch(fn, shape, r, message):
    with pytest.raises(RuntimeError, match=message):
        getattr(tg.nn.functional, fn)(tg.zeros(*shape), r)
    with pytest.raises(RuntimeError, match=message):
        getattr(torch.nn.functional, fn)(torch.zeros(*shape), r)
