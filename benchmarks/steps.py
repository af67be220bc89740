"""Training steps and op chains: tracegrad (eager, lazy and ``tracegrad.compile``) against a
hand-written ``jax.jit`` step and PyTorch eager (issue 5, part 3). "tracegrad lazy" runs the
eager code in lazy mode (``tracegrad.set_lazy(True)``, see ``docs/lazy.md``).

Benchmarks (float32; JAX and tracegrad on ``jax.devices()[0]``, PyTorch on the CPU):

- ``mlp``: one SGD training step (zero_grad, forward, cross-entropy, backward, step) of a
  784-512-512-10 ReLU MLP on a batch of 256;
- ``cnn``: the same step for conv(1->32, 3x3)-relu-conv(32->64, 3x3, stride 2)-relu-flatten-
  linear(->10) on a batch of 64 1x28x28 images;
- ``cnn_nobias``: the same CNN step with no biases (``bias=False`` on all three layers);
- ``chain200``: forward + backward of a 200-op elementwise chain on a (64,) tensor;
- ``chain20k``: forward + backward of ``y = y * 1.0001`` repeated 20,000 times on a (64,) tensor;
- ``compile``: the first call of ``tracegrad.compile`` on the MLP step (trace, compile, run) against
  ``jax.jit``'s first call of the hand-written step (JAX's caches cleared before each).

The contenders of a benchmark run interleaved in one process (round robin: rep 1 of each, then
rep 2 of each, ...), after warm-up calls; each reports its median, and the script ends with a
table of medians and ratios against each benchmark's anchor. Every contender of a training step
starts from the same weights and trains on the same fixed batch, and their warm-up losses are
checked against each other. Rows for ``tracegrad.compile`` print "n/a" while it does not exist.

Run: ``python benchmarks/steps.py [--quick] [--only mlp,cnn,cnn_nobias,chain200,chain20k,compile]
[--no-torch] [--reps N]``.
"""

from __future__ import annotations

import argparse
import dataclasses
import platform
import statistics
import sys
import time
from collections.abc import Callable

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax

import tracegrad as tg
import tracegrad.nn.functional as F
from tracegrad.autograd import compiled as tg_compiled

try:
    import torch
except ImportError:  # PyTorch rows are skipped
    torch = None

LR = 0.01
BENCHMARKS = ("mlp", "cnn", "cnn_nobias", "chain200", "chain20k", "compile")
NO_COMPILE = "tracegrad.compile does not exist yet"


@dataclasses.dataclass
class Row:
    """One line of the final table."""

    bench: str
    contender: str
    seconds: float | None  # median; None: did not run
    anchor: str | None = None  # contender of the same benchmark this row is divided by
    target: str = ""  # e.g. "<= 1.02"
    note: str = ""


# --------------------------------------------------------------------------- timing


def interleaved(
    contenders: dict[str, Callable[[], object]], reps: int, warmup: int
) -> tuple[dict[str, list[float]], dict[str, list[object]], dict[str, str]]:
    """Call each contender ``warmup`` times, then ``reps`` times round robin, timing each call.

    A contender must block until its work is done. Returns the timings of the timed calls, the
    values the warm-up calls returned (for cross-checks), and an error message per contender
    that raised (it is dropped from the rounds).
    """
    warm: dict[str, list[object]] = {name: [] for name in contenders}
    errors: dict[str, str] = {}
    live = dict(contenders)
    for _ in range(warmup):
        for name, fn in list(live.items()):
            try:
                warm[name].append(fn())
            except Exception as exc:  # noqa: BLE001 - reported in the table, others go on
                errors[name] = f"{type(exc).__name__}: {exc}".splitlines()[0][:120]
                del live[name]
    times: dict[str, list[float]] = {name: [] for name in live}
    for _ in range(reps):
        for name, fn in live.items():
            t0 = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - t0)
    return times, warm, errors


def rows_from(
    bench: str,
    names: list[str],
    times: dict[str, list[float]],
    errors: dict[str, str],
    ratios: dict[str, tuple[str, str]],
    notes: dict[str, str] | None = None,
) -> list[Row]:
    """Rows for ``names`` in order; ``ratios[name] = (anchor, target)``."""
    rows = []
    for name in names:
        anchor, target = ratios.get(name, (None, ""))
        med = statistics.median(times[name]) if times.get(name) else None
        note = (notes or {}).get(name, "") or errors.get(name, "")
        rows.append(Row(bench, name, med, anchor, target, note))
    return rows


def check_close(bench: str, warm: dict[str, list[object]], tol: float) -> dict[str, str]:
    """Compare the warm-up results of all contenders with the first one's; notes for mismatches.

    Results are floats (losses, one per warm-up step) or arrays (gradients); ``tol`` is relative
    (to the largest reference value), loose enough for TF32 matmuls on GPUs against PyTorch on
    the CPU.
    """
    ref_name = next((n for n, v in warm.items() if v), None)
    notes = {}
    if ref_name is None:
        return notes
    for name, vals in warm.items():
        for a, e in zip(vals, warm[ref_name]):
            a, e = np.asarray(a, np.float64), np.asarray(e, np.float64)
            if not np.allclose(a, e, rtol=tol, atol=tol * float(np.max(np.abs(e)))):
                err = float(np.max(np.abs(a - e)))
                notes[name] = f"MISMATCH vs {ref_name} (max abs diff {err:.2e})"
                print(f"  WARNING {bench}: {name} {notes[name]}", file=sys.stderr)
                break
    return notes


# --------------------------------------------------------------------------- training steps


def init_params(shapes: list[tuple[int, ...]], fan_ins: list[int], seed: int = 0) -> list:
    """Weights and biases as numpy float32, uniform in +-1/sqrt(fan_in) (PyTorch's Linear/Conv
    default bound for biases; for weights it is close enough for a benchmark)."""
    rng = np.random.default_rng(seed)
    out = []
    for shape, fan_in in zip(shapes, fan_ins):
        bound = 1.0 / np.sqrt(fan_in)
        out.append(rng.uniform(-bound, bound, shape).astype(np.float32))
    return out


def load_tracegrad(model, arrays: list) -> None:
    """Copy numpy arrays into the model's parameters, in ``parameters()`` order."""
    params = list(model.parameters())
    assert [tuple(p.shape) for p in params] == [a.shape for a in arrays]
    with tg.no_grad():
        for p, a in zip(params, arrays):
            p.copy_(tg.tensor(a))


def load_torch(model, arrays: list) -> None:
    """Copy numpy arrays into a PyTorch model's parameters, in ``parameters()`` order."""
    params = list(model.parameters())
    assert [tuple(p.shape) for p in params] == [a.shape for a in arrays]
    with torch.no_grad():
        for p, a in zip(params, arrays):
            p.copy_(torch.from_numpy(a))


def make_train_step(model, optimizer) -> Callable:
    """The plain PyTorch-style training step; the eager and the compiled contender run this
    same function (each on its own model and optimizer)."""

    def train_step(x, y):
        optimizer.zero_grad()
        loss = F.cross_entropy(model(x), y)
        loss.backward()
        optimizer.step()
        return loss

    return train_step


def tracegrad_runner(step: Callable, model, x, y) -> Callable[[], float]:
    """Run ``step(x, y)`` and block on the loss and the updated parameters."""
    params = list(model.parameters())

    def run() -> float:
        loss = step(x, y)
        jax.block_until_ready([p._storage.array for p in params])
        return loss.item()

    return run


def with_mode(get: Callable, set_: Callable, value, fn: Callable) -> Callable:
    """``fn`` run with a tracegrad switch (``get``/``set_``) at ``value``, restored after."""

    def run():
        before = get()
        set_(value)
        try:
            return fn()
        finally:
            set_(before)

    return run


def lazily(fn: Callable) -> Callable:
    """``fn`` run in lazy mode (``tracegrad.set_lazy``)."""
    return with_mode(tg.is_lazy, tg.set_lazy, True, fn)


def jax_runner(loss_fn: Callable, arrays: list, x, y, keep_grads: bool = False):
    """A hand-written ``jax.jit`` SGD step of ``loss_fn(params, x, y)``, parameters donated.

    ``keep_grads`` also returns the gradients (into donated buffers), as a PyTorch-style step must:
    after ``optimizer.step()`` every ``p.grad`` holds this step's gradient. The plain anchor never
    stores them, so XLA can fuse each gradient into its update.
    """

    def sgd_step(params, grads, x, y):
        loss, grads = jax.value_and_grad(loss_fn)(params, x, y)
        new = jax.tree.map(lambda p, g: p - LR * g, params, grads)
        return new, (grads if keep_grads else None), loss

    step = jax.jit(sgd_step, donate_argnums=(0, 1))
    params = [jnp.asarray(a) for a in arrays]
    state = {"params": params, "grads": [jnp.zeros_like(p) for p in params] if keep_grads else None}

    def run() -> float:
        state["params"], state["grads"], loss = step(state["params"], state["grads"], x, y)
        jax.block_until_ready(state["params"])
        return float(loss)

    return run


def torch_runner(model, x, y) -> Callable[[], float]:
    """PyTorch eager SGD step on the CPU."""
    opt = torch.optim.SGD(model.parameters(), lr=LR)
    loss_fn = torch.nn.CrossEntropyLoss()

    def run() -> float:
        opt.zero_grad()
        loss = loss_fn(model(x), y)
        loss.backward()
        opt.step()
        return loss.item()

    return run


def jax_cross_entropy(logits, y):
    logp = jax.nn.log_softmax(logits)
    return -jnp.mean(jnp.take_along_axis(logp, y[:, None], axis=1))


def mlp_loss(params, x, y):
    h = x
    for i in range(0, len(params), 2):
        h = h @ params[i].T + params[i + 1]
        if i + 2 < len(params):
            h = jax.nn.relu(h)
    return jax_cross_entropy(h, y)


def cnn_loss(params, x, y):
    w1, b1, w2, b2, w3, b3 = params
    dn = ("NCHW", "OIHW", "NCHW")
    h = lax.conv_general_dilated(x, w1, (1, 1), "VALID", dimension_numbers=dn)
    h = jax.nn.relu(h + b1[None, :, None, None])
    h = lax.conv_general_dilated(h, w2, (2, 2), "VALID", dimension_numbers=dn)
    h = jax.nn.relu(h + b2[None, :, None, None])
    h = h.reshape(h.shape[0], -1)
    return jax_cross_entropy(h @ w3.T + b3, y)


def cnn_nobias_loss(params, x, y):
    w1, w2, w3 = params
    dn = ("NCHW", "OIHW", "NCHW")
    h = jax.nn.relu(lax.conv_general_dilated(x, w1, (1, 1), "VALID", dimension_numbers=dn))
    h = jax.nn.relu(lax.conv_general_dilated(h, w2, (2, 2), "VALID", dimension_numbers=dn))
    h = h.reshape(h.shape[0], -1)
    return jax_cross_entropy(h @ w3.T, y)


def mlp_modules(nn) -> object:
    """The MLP, built from ``nn`` (``tracegrad.nn`` or ``torch.nn``)."""
    return nn.Sequential(
        nn.Linear(784, 512), nn.ReLU(), nn.Linear(512, 512), nn.ReLU(), nn.Linear(512, 10)
    )


def cnn_modules(nn) -> object:
    """The CNN, built from ``nn`` (``tracegrad.nn`` or ``torch.nn``)."""
    return nn.Sequential(
        nn.Conv2d(1, 32, 3),
        nn.ReLU(),
        nn.Conv2d(32, 64, 3, stride=2),
        nn.ReLU(),
        nn.Flatten(),
        nn.Linear(64 * 12 * 12, 10),
    )


def cnn_nobias_modules(nn) -> object:
    """The CNN without biases, built from ``nn`` (``tracegrad.nn`` or ``torch.nn``)."""
    return nn.Sequential(
        nn.Conv2d(1, 32, 3, bias=False),
        nn.ReLU(),
        nn.Conv2d(32, 64, 3, stride=2, bias=False),
        nn.ReLU(),
        nn.Flatten(),
        nn.Linear(64 * 12 * 12, 10, bias=False),
    )


MLP_SHAPES = [(512, 784), (512,), (512, 512), (512,), (10, 512), (10,)]
MLP_FAN_INS = [784, 784, 512, 512, 512, 512]
CNN_SHAPES = [(32, 1, 3, 3), (32,), (64, 32, 3, 3), (64,), (10, 9216), (10,)]
CNN_FAN_INS = [9, 9, 288, 288, 9216, 9216]
CNN_NOBIAS_SHAPES = CNN_SHAPES[0::2]
CNN_NOBIAS_FAN_INS = CNN_FAN_INS[0::2]


def bench_train_step(bench: str, reps: int, use_torch: bool) -> list[Row]:
    """The four contenders of one training step (``mlp``, ``cnn`` or ``cnn_nobias``)."""
    if bench == "mlp":
        build, loss_fn, shapes, fan_ins, x_shape, batch = (
            mlp_modules, mlp_loss, MLP_SHAPES, MLP_FAN_INS, (256, 784), 256
        )  # fmt: skip
    elif bench == "cnn_nobias":
        build, loss_fn, shapes, fan_ins, x_shape, batch = (
            cnn_nobias_modules, cnn_nobias_loss, CNN_NOBIAS_SHAPES, CNN_NOBIAS_FAN_INS,
            (64, 1, 28, 28), 64
        )  # fmt: skip
    else:
        build, loss_fn, shapes, fan_ins, x_shape, batch = (
            cnn_modules, cnn_loss, CNN_SHAPES, CNN_FAN_INS, (64, 1, 28, 28), 64
        )  # fmt: skip
    arrays = init_params(shapes, fan_ins)
    rng = np.random.default_rng(1)
    x_np = rng.standard_normal(x_shape).astype(np.float32)
    y_np = rng.integers(0, 10, batch)

    tx, ty = tg.tensor(x_np), tg.tensor(y_np)
    contenders: dict[str, Callable[[], float]] = {}
    errors: dict[str, str] = {}

    eager_model = build(tg.nn)
    load_tracegrad(eager_model, arrays)
    eager_step = make_train_step(eager_model, tg.optim.SGD(eager_model.parameters(), lr=LR))
    contenders["tracegrad eager"] = tracegrad_runner(eager_step, eager_model, tx, ty)

    lazy_model = build(tg.nn)
    load_tracegrad(lazy_model, arrays)
    lazy_step = make_train_step(lazy_model, tg.optim.SGD(lazy_model.parameters(), lr=LR))
    contenders["tracegrad lazy"] = lazily(tracegrad_runner(lazy_step, lazy_model, tx, ty))

    if hasattr(tg, "compile"):
        comp_model = build(tg.nn)
        load_tracegrad(comp_model, arrays)
        train_step = make_train_step(comp_model, tg.optim.SGD(comp_model.parameters(), lr=LR))
        step = tg.compile(train_step)
        contenders["tracegrad.compile"] = tracegrad_runner(step, comp_model, tx, ty)
    else:
        errors["tracegrad.compile"] = errors["tracegrad.compile(model)"] = NO_COMPILE

    if hasattr(tg, "compile"):  # model = tracegrad.compile(model), the loop around it eager
        mod_model = build(tg.nn)
        load_tracegrad(mod_model, arrays)
        mod_step = make_train_step(
            tg.compile(mod_model), tg.optim.SGD(mod_model.parameters(), lr=LR)
        )
        contenders["tracegrad.compile(model)"] = tracegrad_runner(mod_step, mod_model, tx, ty)

    jx, jy = jnp.asarray(x_np), jnp.asarray(y_np, jnp.int32)
    contenders["jax.jit"] = jax_runner(loss_fn, arrays, jx, jy)
    contenders["jax.jit, grads kept"] = jax_runner(loss_fn, arrays, jx, jy, keep_grads=True)

    if use_torch:
        torch_model = build(torch.nn)
        load_torch(torch_model, arrays)
        contenders["pytorch eager"] = torch_runner(
            torch_model, torch.from_numpy(x_np), torch.from_numpy(y_np)
        )

    # 3 warm-up steps: tracegrad's first eager call records, its second compiles the backward
    # (tracegrad.compile: compiles, then compiles the steady state); the third runs steady state.
    times, warm, run_errors = interleaved(contenders, reps, warmup=3)
    errors.update(run_errors)
    notes = check_close(bench, warm, tol=5e-3)
    names = ["tracegrad eager", "tracegrad lazy", "tracegrad.compile"]
    names += ["tracegrad.compile(model)", "jax.jit"]
    names += ["jax.jit, grads kept"]
    names += ["pytorch eager"] if use_torch else []
    ratios = {
        "tracegrad.compile": ("jax.jit", "<= 1.05" if bench == "cnn_nobias" else "<= 1.02"),
        "tracegrad lazy": ("jax.jit", "<= 1.10"),
        "tracegrad.compile(model)": ("jax.jit", ""),
        "jax.jit, grads kept": ("jax.jit", ""),
    }
    if use_torch and bench == "mlp":
        ratios["tracegrad eager"] = ("pytorch eager", "<= 1.2")
    elif use_torch:
        ratios["tracegrad eager"] = ("pytorch eager", "")
    else:
        ratios["tracegrad eager"] = ("jax.jit", "")
    if use_torch:
        ratios["pytorch eager"] = ("jax.jit", "")
    return rows_from(bench, names, times, errors, ratios, notes)


# --------------------------------------------------------------------------- op chains


def chain_ops(n: int) -> list[int]:
    """Op codes of an ``n``-op chain: multiply by 1.0001 (0), sin (1), add 0.5 (2), sin,
    subtract 0.5 (3), in turn. Values stay within [-1, 1.5] and the gradient does not vanish (it is
    0.001-0.08 after 200 ops), so the contenders' gradients can be compared."""
    cycle = (0, 1, 2, 1, 3)
    return [cycle[i % len(cycle)] for i in range(n)]


def apply_op(y, op: int, sin: Callable):
    """One op of the chain on a tracegrad/PyTorch tensor or a JAX array."""
    if op == 0:
        return y * 1.0001
    if op == 1:
        return sin(y)
    return y + 0.5 if op == 2 else y - 0.5


def tracegrad_chain(ops: list[int], x0: np.ndarray) -> Callable[[], np.ndarray]:
    """tracegrad eager: the chain and ``.sum().backward()``; returns the gradient."""
    x = tg.tensor(x0, requires_grad=True)

    def run():
        x.grad = None
        y = x
        for op in ops:
            y = apply_op(y, op, tg.sin)
        y.sum().backward()
        return jax.block_until_ready(x.grad._storage.array)

    return run


def torch_chain(ops: list[int], x0: np.ndarray) -> Callable[[], np.ndarray]:
    """PyTorch eager: the chain and ``.sum().backward()``; returns the gradient."""
    x = torch.tensor(x0, requires_grad=True)

    def run():
        x.grad = None
        y = x
        for op in ops:
            y = apply_op(y, op, torch.sin)
        y.sum().backward()
        return x.grad.numpy().copy()

    return run


def jax_grad_chain(ops: list[int], x0: np.ndarray) -> Callable[[], np.ndarray]:
    """``jax.grad`` without ``jit``: every primitive dispatched on its own."""
    x = jnp.asarray(x0)

    def f(y):
        for op in ops:
            y = apply_op(y, op, jnp.sin)
        return y.sum()

    grad = jax.grad(f)
    return lambda: jax.block_until_ready(grad(x))


def with_compiled_backward(enabled: bool, fn: Callable) -> Callable:
    """``fn`` run with tracegrad's compiled backward switched on or off."""
    return with_mode(tg.is_compiled_backward_enabled, tg.set_compiled_backward, enabled, fn)


def bench_chain(bench: str, n: int, reps: int, use_torch: bool) -> list[Row]:
    """Forward + backward of an ``n``-op elementwise chain on a (64,) tensor."""
    ops = chain_ops(n) if n <= 1000 else [0] * n
    x0 = np.linspace(-1.0, 1.0, 64, dtype=np.float32)
    contenders = {
        "tracegrad eager": tracegrad_chain(ops, x0),  # compiled backward: the default
        "tracegrad eager, node by node": with_compiled_backward(False, tracegrad_chain(ops, x0)),
        "tracegrad lazy": lazily(tracegrad_chain(ops, x0)),
    }
    if use_torch:
        contenders["pytorch eager"] = torch_chain(ops, x0)
    if n <= 1000:  # jax.grad without jit takes ~10 s on the 20k chain: not worth it
        contenders["jax.grad (no jit)"] = jax_grad_chain(ops, x0)

    # Warm-up: the first backward of a new graph runs node by node, the second compiles it (a
    # graph of more than 1,000 nodes waits longer: compiled.NODES_PER_SIGHTING).
    compiles_before = tg_compiled.stats()["compile_seconds"]
    warm_times = []
    if n > 1000:  # time the two warm-up calls of the default, they are worth reporting
        fn = contenders["tracegrad eager"]
        for _ in range(2):
            t0 = time.perf_counter()
            fn()
            warm_times.append(time.perf_counter() - t0)
    times, warm, errors = interleaved(contenders, reps, warmup=1 if n > 1000 else 2)
    notes = check_close(bench, warm, tol=1e-3)
    compile_s = tg_compiled.stats()["compile_seconds"] - compiles_before
    if warm_times:
        notes.setdefault(
            "tracegrad eager",
            f"1st call {warm_times[0]:.2f} s, 2nd call {warm_times[1]:.2f} s "
            + (
                f"(compiled the backward: {compile_s:.2f} s)"
                if compile_s > 0
                else f"(node by node: compiled only at backward {tg_compiled.COMPILE_AT} + "
                f"{n // tg_compiled.NODES_PER_SIGHTING})"
            ),
        )
    anchor = "pytorch eager" if use_torch else "tracegrad eager"
    target = "<= 1.0" if bench == "chain200" else ""
    names = list(contenders)
    ratios = {name: (anchor, "") for name in names if name != anchor}
    if use_torch:
        ratios["tracegrad eager"] = (anchor, target)
        ratios["tracegrad lazy"] = (anchor, "<= 0.5" if bench == "chain200" else "<= 1.0")
    return rows_from(bench, names, times, errors, ratios, notes)


# --------------------------------------------------------------------------- first compile


def bench_compile(reps: int) -> list[Row]:
    """First-call time: ``tracegrad.compile`` on the MLP step vs ``jax.jit`` of the JAX step.

    Before each measurement JAX's caches and tracegrad's compiled-backward cache are cleared and
    a fresh model, optimizer and compiled function are built. For tracegrad, "first call" traces,
    compiles and runs the step; since it creates the parameters' gradients, the second call
    compiles the steady-state program, so "first two calls" is the time to steady state. For JAX
    it is the first call of a fresh ``jax.jit`` (trace, compile, run).
    """
    arrays = init_params(MLP_SHAPES, MLP_FAN_INS)
    rng = np.random.default_rng(1)
    x_np = rng.standard_normal((256, 784)).astype(np.float32)
    y_np = rng.integers(0, 10, 256)
    tx, ty = tg.tensor(x_np), tg.tensor(y_np)
    jx, jy = jnp.asarray(x_np), jnp.asarray(y_np, jnp.int32)

    def jax_first() -> dict[str, float]:
        run = jax_runner(mlp_loss, arrays, jx, jy)
        jax.block_until_ready((jx, jy))
        t0 = time.perf_counter()
        run()
        return {"jax.jit first call": time.perf_counter() - t0}

    def tracegrad_first() -> dict[str, float]:
        model = mlp_modules(tg.nn)
        load_tracegrad(model, arrays)
        run = tracegrad_runner(
            tg.compile(make_train_step(model, tg.optim.SGD(model.parameters(), lr=LR))),
            model,
            tx,
            ty,
        )
        t0 = time.perf_counter()
        run()  # trace + compile + run; creates the .grads
        t1 = time.perf_counter()
        run()  # the steady-state program: trace + compile + run
        t2 = time.perf_counter()
        return {
            "tracegrad.compile first call": t1 - t0,
            "tracegrad.compile first two calls": t2 - t0,
        }

    measurements = {"jax.jit first call": jax_first}
    if hasattr(tg, "compile"):
        measurements["tracegrad.compile"] = tracegrad_first
    times: dict[str, list[float]] = {
        "tracegrad.compile first call": [],
        "tracegrad.compile first two calls": [],
        "jax.jit first call": [],
    }
    errors = {}
    if not hasattr(tg, "compile"):
        errors["tracegrad.compile first call"] = NO_COMPILE
        errors["tracegrad.compile first two calls"] = NO_COMPILE
    for _ in range(reps):
        for name, measure in list(measurements.items()):
            jax.clear_caches()
            tg_compiled.clear_cache()
            try:
                for key, seconds in measure().items():
                    times[key].append(seconds)
            except Exception as exc:  # noqa: BLE001 - reported in the table
                msg = f"{type(exc).__name__}: {exc}".splitlines()[0][:120]
                for key in times:
                    if key.startswith(name):
                        errors[key] = msg
                del measurements[name]
    ratios = {
        "tracegrad.compile first call": ("jax.jit first call", "<= 1.5"),
        "tracegrad.compile first two calls": ("jax.jit first call", ""),
    }
    return rows_from("compile", list(times), times, errors, ratios)


# --------------------------------------------------------------------------- report


def print_table(rows: list[Row]) -> None:
    """A markdown table: benchmark | contender | median ms | ratio vs anchor | target | note."""
    medians = {(r.bench, r.contender): r.seconds for r in rows}
    lines = [
        "| benchmark | contender | median ms | ratio vs anchor | target | note |",
        "| --- | --- | ---: | --- | --- | --- |",
    ]
    for r in rows:
        ms = "n/a" if r.seconds is None else f"{r.seconds * 1e3:.3f}"
        base = medians.get((r.bench, r.anchor)) if r.anchor else None
        if r.anchor is None:
            ratio = "anchor"
        elif r.seconds is None or base is None:
            ratio = "n/a"
        else:
            ratio = f"{r.seconds / base:.3f} vs {r.anchor}"
            if r.target:
                ok = r.seconds / base <= float(r.target.split()[-1])
                ratio += " (met)" if ok else " (NOT met)"
        lines.append(f"| {r.bench} | {r.contender} | {ms} | {ratio} | {r.target} | {r.note} |")
    print("\n".join(lines))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="few reps (under a minute)")
    parser.add_argument("--only", default=",".join(BENCHMARKS), help="comma-separated subset")
    parser.add_argument("--no-torch", action="store_true", help="skip the PyTorch rows")
    parser.add_argument("--reps", type=int, default=None, help="timed reps for every benchmark")
    args = parser.parse_args(argv)
    only = [b.strip() for b in args.only.split(",") if b.strip()]
    unknown = set(only) - set(BENCHMARKS)
    if unknown:
        parser.error(f"unknown benchmark(s) {sorted(unknown)}; choose from {BENCHMARKS}")
    use_torch = torch is not None and not args.no_torch
    reps = {"mlp": 100, "cnn": 50, "cnn_nobias": 50, "chain200": 50, "chain20k": 5, "compile": 5}
    if args.quick:
        reps = {"mlp": 10, "cnn": 5, "cnn_nobias": 5, "chain200": 10, "chain20k": 1, "compile": 1}
    if args.reps is not None:
        reps = dict.fromkeys(reps, args.reps)

    print(f"device {jax.devices()[0]} ({jax.default_backend()}), jax {jax.__version__}, ", end="")
    print(f"tracegrad {tg.__version__}, python {platform.python_version()}")
    if use_torch:
        print(f"torch {torch.__version__} on the CPU, {torch.get_num_threads()} threads")
    else:
        print("torch: not used" + (" (--no-torch)" if torch is not None else " (not installed)"))
    print(f"tracegrad.compile available: {hasattr(tg, 'compile')}; reps {reps}")

    rows: list[Row] = []
    for bench in only:
        t0 = time.perf_counter()
        if bench in ("mlp", "cnn", "cnn_nobias"):
            rows += bench_train_step(bench, reps[bench], use_torch)
        elif bench == "chain200":
            rows += bench_chain(bench, 200, reps[bench], use_torch)
        elif bench == "chain20k":
            rows += bench_chain(bench, 20_000, reps[bench], use_torch)
        else:
            rows += bench_compile(reps[bench])
        print(f"  {bench}: done in {time.perf_counter() - t0:.1f} s", flush=True)
    print()
    print_table(rows)


if __name__ == "__main__":
    main()
