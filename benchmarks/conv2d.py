"""conv2d forward + backward: tracegrad (eager, and its recorded backward under ``jax.jit``)
against ``jax.jit(jax.vjp)`` of the same convolution.

Shapes: batch 64, 32 -> 64 channels, 26x26 input, 3x3 kernel, stride 2, float32, with bias.
Every contender returns the output and the three gradients (so no one's forward pass is dead
code). The contenders run interleaved, round after round, and the script prints each median and
its ratio to JAX under jit. Run: ``python benchmarks/conv2d.py [rounds]``.
"""

from __future__ import annotations

import statistics
import sys
import time

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax

import tracegrad as tg
import tracegrad.nn.functional as F

N, C_IN, C_OUT, SIZE, K, STRIDE = 64, 32, 64, 26, 3, 2


def tracegrad_step(x, w, b, g):
    """Forward and recorded backward in tracegrad, on JAX arrays in and out."""
    tx, tw, tb = (tg.tensor(a, requires_grad=True) for a in (x, w, b))
    out = F.conv2d(tx, tw, tb, stride=STRIDE)
    out.backward(tg.tensor(g))
    return tuple(jnp.asarray(t) for t in (out.detach(), tx.grad, tw.grad, tb.grad))


def jax_conv(x, w, b):
    y = lax.conv_general_dilated(x, w, (STRIDE, STRIDE), "VALID", dimension_numbers=None)
    return y + b[None, :, None, None]


def jax_step(x, w, b, g):
    out, vjp = jax.vjp(jax_conv, x, w, b)
    return (out, *vjp(g))


def main(rounds: int = 30) -> None:
    rng = np.random.default_rng(0)
    x = jnp.asarray(rng.standard_normal((N, C_IN, SIZE, SIZE)), jnp.float32)
    w = jnp.asarray(rng.standard_normal((C_OUT, C_IN, K, K)) * 0.1, jnp.float32)
    b = jnp.asarray(rng.standard_normal(C_OUT), jnp.float32)
    out_size = (SIZE - K) // STRIDE + 1
    g = jnp.asarray(rng.standard_normal((N, C_OUT, out_size, out_size)), jnp.float32)

    contenders = {
        "tracegrad eager": tracegrad_step,
        "tracegrad jit": jax.jit(tracegrad_step),
        "jax.jit(jax.vjp)": jax.jit(jax_step),
    }
    # Warm up (compiles) and check that all three agree.
    results = {name: jax.block_until_ready(fn(x, w, b, g)) for name, fn in contenders.items()}
    for name, res in results.items():
        for a, e in zip(res, results["jax.jit(jax.vjp)"]):
            np.testing.assert_allclose(
                np.asarray(a), np.asarray(e), rtol=2e-3, atol=2e-3, err_msg=name
            )

    times: dict = {name: [] for name in contenders}
    for _ in range(rounds):
        for name, fn in contenders.items():
            t0 = time.perf_counter()
            jax.block_until_ready(fn(x, w, b, g))
            times[name].append(time.perf_counter() - t0)

    base = statistics.median(times["jax.jit(jax.vjp)"])
    print(f"conv2d fwd+bwd: batch {N}, {C_IN}->{C_OUT} channels, {SIZE}x{SIZE}, {K}x{K}, ", end="")
    print(f"stride {STRIDE}, float32, {rounds} rounds, device {jax.devices()[0].platform}")
    for name, ts in times.items():
        med = statistics.median(ts)
        print(
            f"  {name:18s} median {med * 1e3:8.3f} ms   ratio to jax.jit(jax.vjp) {med / base:6.3f}"
        )


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 30)
