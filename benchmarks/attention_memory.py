"""Activation memory of attention: ``F.scaled_dot_product_attention`` (one op, whose backward
recomputes the probabilities) against the same attention composed of ``matmul``, ``softmax`` and
``matmul`` (PyTorch's math definition, op by op), for query/key/value of shape (B, H, T, E).

For each variant (plain, causal, dropout 0.1) and each contender this prints, after the forward
pass and before ``backward()``:

- ``graph MB``: the bytes of the distinct arrays the recorded graph holds for backward, query, key
  and value included;
- ``extra MB``: the same without query, key and value (which a model keeps anyway: they are the
  outputs of its projections), i.e. what attention itself adds;
- ``live MB``: how much the JAX arrays alive in the process grew during the forward pass (the
  output included);
- ``torch MB``: PyTorch's figure for the same computation (its fused CPU kernel, and its ops
  composed), the bytes of the distinct tensors its autograd saved (``saved_tensors_hooks``) other
  than query, key and value, comparable to ``extra MB``;

and the ratio of the composed graph to the single op's (``graph MB``). It also checks that both contenders give
the same output and gradients (to float32 rounding).

    python benchmarks/attention_memory.py [--batch 8 --heads 8 --seq 1024 --dim 64] [--no-torch]
"""

from __future__ import annotations

import argparse
import gc
import math

import jax
import numpy as np
from memory import graph_bytes

import tracegrad as tg
import tracegrad.nn.functional as F

VARIANTS = {"plain": {}, "causal": {"is_causal": True}, "dropout 0.1": {"dropout_p": 0.1}}


def _live_bytes() -> int:
    gc.collect()
    return sum(a.nbytes for a in jax.live_arrays())


def composed(lib, q, k, v, is_causal: bool = False, dropout_p: float = 0.0):
    """Attention op by op, as PyTorch's math path computes it (for ``lib`` tracegrad or torch)."""
    s = q.matmul(k.transpose(-2, -1)) * (1.0 / math.sqrt(q.shape[-1]))
    if is_causal:
        L, S = s.shape[-2:]
        allowed = lib.ones(L, S, dtype=lib.bool).tril()
        s = s.masked_fill(allowed.logical_not(), float("-inf"))
    p = s.softmax(-1)
    if dropout_p > 0:
        p = lib.nn.functional.dropout(p, dropout_p)
    return p.matmul(v)


def _inputs(shape):
    rng = np.random.default_rng(0)
    return [rng.standard_normal(shape).astype(np.float32) for _ in range(3)]


def measure_tracegrad(fn, arrays, kw) -> tuple[int, int, int, tg.Tensor, tuple]:
    q, k, v = (tg.tensor(a, requires_grad=True) for a in arrays)
    tg.manual_seed(0)
    before = _live_bytes()
    out = fn(q, k, v, **kw)
    live = _live_bytes() - before
    extra = graph_bytes(out, {id(x._storage.array) for x in (q, k, v)})
    return graph_bytes(out, set()), extra, live, out, (q, k, v)


def measure_torch(fn, arrays, kw) -> int:
    import torch

    q, k, v = (torch.tensor(a, requires_grad=True) for a in arrays)
    exclude = {x.untyped_storage().data_ptr() for x in (q, k, v)}
    saved: dict[int, int] = {}

    def pack(t):
        ptr = t.untyped_storage().data_ptr()
        if ptr not in exclude:
            saved[ptr] = t.untyped_storage().nbytes()
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        fn(torch, q, k, v, **kw)
    return sum(saved.values())


def _grads(out, inputs, cot) -> list:
    out.backward(tg.tensor(cot))
    return [np.asarray(x.grad) for x in inputs]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--heads", type=int, default=8)
    parser.add_argument("--seq", type=int, default=1024)
    parser.add_argument("--dim", type=int, default=64)
    parser.add_argument("--no-torch", action="store_true")
    parser.add_argument("--no-check", action="store_true", help="skip the gradient comparison")
    args = parser.parse_args()
    shape = (args.batch, args.heads, args.seq, args.dim)
    arrays = _inputs(shape)
    mb = 2**20
    print(f"q, k, v: {shape} float32, {arrays[0].nbytes / mb:.0f} MB each; jax {jax.__version__}")
    print(
        f"{'variant':12} {'contender':9} {'graph MB':>9} {'extra MB':>9} {'live MB':>8} "
        f"{'torch MB':>9}"
    )
    rows = []
    for variant, kw in VARIANTS.items():
        sdpa = measure_tracegrad(F.scaled_dot_product_attention, arrays, kw)
        comp = measure_tracegrad(lambda q, k, v, **k2: composed(tg, q, k, v, **k2), arrays, kw)
        t_sdpa = t_comp = None
        if not args.no_torch:
            import torch

            t_sdpa = measure_torch(
                lambda lib, q, k, v, **k2: torch.nn.functional.scaled_dot_product_attention(
                    q, k, v, **k2
                ),
                arrays,
                kw,
            )
            t_comp = measure_torch(composed, arrays, kw)
        for name, (graph, extra, live, _, _), t in (
            ("sdpa", sdpa, t_sdpa),
            ("composed", comp, t_comp),
        ):
            torch_mb = "" if t is None else f"{t / mb:9.1f}"
            print(
                f"{variant:12} {name:9} {graph / mb:9.1f} {extra / mb:9.3f} {live / mb:8.1f} "
                f"{torch_mb}"
            )
        rows.append((variant, sdpa[0], comp[0], comp[0] / sdpa[0], sdpa[1], comp[1]))
        if not args.no_check and "dropout_p" not in kw:  # the two draw different dropout masks
            cot = np.random.default_rng(1).standard_normal(sdpa[3].shape).astype(np.float32)
            np.testing.assert_allclose(np.asarray(sdpa[3].detach()), np.asarray(comp[3].detach()),
                                       rtol=1e-4, atol=1e-5)  # fmt: skip
            for a, b in zip(_grads(sdpa[3], sdpa[4], cot), _grads(comp[3], comp[4], cot)):
                np.testing.assert_allclose(a, b, rtol=1e-3, atol=1e-4)
        del sdpa, comp
    print()
    print("| variant | sdpa graph MB | composed graph MB | composed / sdpa | sdpa extra MB | "
          "composed extra MB |")  # fmt: skip
    print("| --- | --- | --- | --- | --- | --- |")
    for variant, s, c, r, se, ce in rows:
        print(f"| {variant} | {s / mb:.1f} | {c / mb:.1f} | {r:.1f}x | {se / mb:.3f} | "
              f"{ce / mb:.1f} |")  # fmt: skip


if __name__ == "__main__":
    main()
