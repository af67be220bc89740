"""Per-sample gradients: ``vmap(grad(loss))`` of the 784-512-512-10 ReLU MLP of ``steps.py``
(cross-entropy, batch 256, float32), one gradient of every parameter per example.

Contenders, interleaved in one process (``steps.interleaved``), medians and ratios:

- ``tracegrad.compile``: ``tracegrad.func.vmap(tracegrad.func.grad(loss_of_params))`` with
  ``tracegrad.func.functional_call(model, params, (x,))``, the whole computation wrapped in
  ``tracegrad.compile`` (one XLA program per call once traced);
- ``tracegrad eager``: the same without ``tracegrad.compile``. An eager ``vmap`` traces the
  function with ``jax.vmap`` on every call (its ops run batched, one dispatch each); this row is
  for information;
- ``jax.jit`` (the anchor): ``jax.jit(jax.vmap(jax.grad(loss), in_axes=(None, 0, 0)))`` on the same
  parameters;
- ``torch.func``: ``torch.func.vmap(torch.func.grad(...))`` with ``torch.func.functional_call``
  (skipped when torch is not importable, or with ``--no-torch``);
- ``jax.jit program alone``: the anchor's program called ahead-of-time compiled (``lower().compile()``),
  for what the program costs without ``jax.jit``'s dispatch.

Every contender blocks until its gradients are computed. Before timing, each one's per-sample
gradients are compared with the anchor's (float32 tolerance).

    python benchmarks/per_sample_grads.py [--reps N] [--no-torch]

The numbers in benchmarks/README.md were taken pinned to one core
(``taskset -c 1 python benchmarks/per_sample_grads.py``).
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import time

import jax
import jax.numpy as jnp
import numpy as np
from steps import (
    MLP_FAN_INS,
    MLP_SHAPES,
    Row,
    init_params,
    interleaved,
    mlp_loss,
    mlp_modules,
    print_table,
    rows_from,
)

import tracegrad as tg

try:
    import torch
except ImportError:  # the torch.func row is skipped
    torch = None

BATCH = 256
BENCH = "per_sample_grads"
NAMES = ["0.weight", "0.bias", "2.weight", "2.bias", "4.weight", "4.bias"]


def tracegrad_contenders(arrays: list, x: np.ndarray, y: np.ndarray) -> dict:
    """``(compiled, eager)``: each returns the per-sample gradients (a dict of tensors shaped
    ``(BATCH, *param.shape)``) once they are computed."""
    model = mlp_modules(tg.nn)
    params = {n: tg.tensor(a) for n, a in zip(NAMES, arrays)}
    xt, yt = tg.tensor(x), tg.tensor(y)

    def loss_of_params(p, xi, yi):
        logits = tg.func.functional_call(model, p, (xi.unsqueeze(0),))
        return tg.nn.functional.cross_entropy(logits, yi.unsqueeze(0))

    per_sample = tg.func.vmap(tg.func.grad(loss_of_params), in_dims=(None, 0, 0))
    compiled = tg.compile(per_sample)

    def blocking(fn):
        def run():
            out = fn(params, xt, yt)
            # wait for every gradient (eager ops are dispatched asynchronously)
            jax.block_until_ready([t._storage.array for t in out.values()])
            return out

        return run

    return {"tracegrad.compile": blocking(compiled), "tracegrad eager": blocking(per_sample)}


def jax_contender(arrays: list, x: np.ndarray, y: np.ndarray):
    params = [jnp.asarray(a) for a in arrays]
    xj, yj = jnp.asarray(x), jnp.asarray(y)

    def loss(p, xi, yi):
        return mlp_loss(p, xi[None], yi[None])

    fn = jax.jit(jax.vmap(jax.grad(loss), in_axes=(None, 0, 0)))

    def run():
        return dict(zip(NAMES, jax.block_until_ready(fn(params, xj, yj))))

    return run, fn, (params, xj, yj)


def torch_contender(arrays: list, x: np.ndarray, y: np.ndarray):
    model = mlp_modules(torch.nn)
    params = {n: torch.tensor(a) for n, a in zip(NAMES, arrays)}
    xt, yt = torch.tensor(x), torch.tensor(y)

    def loss_of_params(p, xi, yi):
        logits = torch.func.functional_call(model, p, (xi.unsqueeze(0),))
        return torch.nn.functional.cross_entropy(logits, yi.unsqueeze(0))

    fn = torch.func.vmap(torch.func.grad(loss_of_params), in_dims=(None, 0, 0))

    def run():
        with torch.no_grad():
            return fn(params, xt, yt)

    return run


def as_numpy(out: dict) -> dict:
    return {
        n: np.asarray(v.detach().numpy() if hasattr(v, "detach") else v) for n, v in out.items()
    }


def check_agree(results: dict, anchor: str) -> dict[str, str]:
    """Notes for contenders whose per-sample gradients differ from the anchor's."""
    ref = results[anchor]
    notes = {}
    for name, got in results.items():
        for n in NAMES:
            a, e = got[n], ref[n]
            scale = float(np.max(np.abs(e)))
            if a.shape != e.shape or not np.allclose(a, e, rtol=1e-4, atol=1e-5 * scale):
                err = float(np.max(np.abs(a - e))) if a.shape == e.shape else float("nan")
                notes[name] = f"MISMATCH vs {anchor} in {n} (max abs diff {err:.2e})"
                print(f"  WARNING: {name} {notes[name]}", file=sys.stderr)
                break
        else:
            print(f"  {name}: per-sample gradients agree with {anchor}")
    return notes


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--reps", type=int, default=20, help="timed reps per contender")
    parser.add_argument("--no-torch", action="store_true", help="skip the torch.func row")
    args = parser.parse_args(argv)
    use_torch = torch is not None and not args.no_torch

    print(f"device {jax.devices()[0]} ({jax.default_backend()}), jax {jax.__version__}, ", end="")
    print(f"tracegrad {tg.__version__}, python {platform.python_version()}")
    if hasattr(os, "sched_getaffinity"):
        print(f"cores available to this process: {sorted(os.sched_getaffinity(0))}")
    if use_torch:
        torch.set_num_threads(
            len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else 1
        )
        print(f"torch {torch.__version__} on the CPU, {torch.get_num_threads()} threads")
    else:
        print(
            "torch.func: not used" + (" (--no-torch)" if torch is not None else " (not installed)")
        )

    arrays = init_params(MLP_SHAPES, MLP_FAN_INS, seed=0)
    rng = np.random.default_rng(1)
    x = rng.normal(size=(BATCH, 784)).astype(np.float32)
    y = rng.integers(0, 10, BATCH).astype(np.int64)

    contenders = {}
    contenders.update(tracegrad_contenders(arrays, x, y))
    jax_run, jax_fn, jax_args = jax_contender(arrays, x, y)
    contenders["jax.jit"] = jax_run
    if use_torch:
        contenders["torch.func"] = torch_contender(arrays, x, y)

    # the values first (one call each), then the timing
    results, notes = {}, {}
    for name, fn in contenders.items():
        t0 = time.perf_counter()
        try:
            results[name] = as_numpy(fn())
        except Exception as exc:  # noqa: BLE001 - reported in the table
            notes[name] = f"{type(exc).__name__}: {exc}".splitlines()[0][:120]
        print(f"  first call of {name}: {time.perf_counter() - t0:.2f} s", flush=True)
    notes.update(check_agree(results, "jax.jit"))
    del results

    # the anchor's program alone (an AOT-compiled call: what XLA runs, less jax.jit's dispatch)
    compiled = jax_fn.lower(*jax_args).compile()
    contenders["jax.jit program alone"] = lambda: jax.block_until_ready(compiled(*jax_args))

    live = {n: (lambda f=f: f() and None) for n, f in contenders.items() if n not in notes}
    times, _, errors = interleaved(live, reps=args.reps, warmup=2)
    errors.update({n: notes[n] for n in notes if n not in live})
    ratios = {
        "tracegrad.compile": ("jax.jit", "<= 1.1"),
        "tracegrad eager": ("jax.jit", ""),
        "torch.func": ("jax.jit", ""),
        "jax.jit program alone": ("jax.jit", ""),
    }
    names = ["jax.jit", "tracegrad.compile", "tracegrad eager"]
    names += ["torch.func"] if use_torch else []
    rows: list[Row] = rows_from(
        BENCH, names + ["jax.jit program alone"], times, errors, ratios, notes
    )
    if not use_torch:
        rows.append(Row(BENCH, "torch.func", None, note="torch not used"))
    print()
    print_table(rows)
    print()
    print(
        "fastest call (ms): " + ", ".join(f"{n} {min(t) * 1e3:.1f}" for n, t in times.items() if t)
    )
    med = {r.contender: r.seconds for r in rows}
    if use_torch and med.get("torch.func") and med.get("tracegrad.compile"):
        ratio = med["tracegrad.compile"] / med["torch.func"]
        print(f"\ntracegrad.compile / torch.func = {ratio:.3f} (target < 1)")


if __name__ == "__main__":
    main()
