"""One training step of a 2-layer LSTM language model: tracegrad (eager, and ``tracegrad.compile``)
against a hand-written ``jax.jit(jax.value_and_grad)`` step and PyTorch eager.

The model (float32): embedding (vocabulary 1000, 128) -> ``nn.LSTM(128, 256, num_layers=2)`` ->
linear (256 -> 1000) -> cross-entropy against the next tokens, on a fixed batch of 32 sequences of
64 steps (time-major), SGD with lr 0.01. tracegrad runs each LSTM layer as one recorded ``scan``
op (its backward a reverse scan); the JAX anchor writes the same math by hand: the input
projection of all steps as one matmul, then ``lax.scan`` of the recurrent step, differentiated by
``jax.value_and_grad``.

Contenders run interleaved in one process (``steps.interleaved``) after three warm-up steps whose
losses are checked against each other; the table gives medians and ratios: compiled against
``jax.jit`` (target <= 1.05), eager against PyTorch eager (target <= 1.5).

``--hlo`` instead prints, for the compiled tracegrad step and the JAX anchor, counts of the
optimized HLO's memory-moving instructions and, per ``while`` body (one per scan direction and
layer), its matmuls and transcendental elements: where the compiled step's time differs.

Run: ``python benchmarks/lstm.py [--quick] [--reps N] [--no-torch] [--hlo]``.
"""

from __future__ import annotations

import argparse
import collections
import re
import time
from collections.abc import Callable

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax
from steps import LR, check_close, interleaved, jax_runner, print_table, rows_from, torch

import tracegrad as tg
import tracegrad.nn.functional as F

VOCAB, EMBED, HIDDEN, LAYERS, STEPS, BATCH = 1000, 128, 256, 2, 64, 32


def param_arrays(seed: int = 0) -> dict[str, np.ndarray]:
    """The weights by PyTorch's parameter names, uniform in +-1/sqrt(hidden) (PyTorch's LSTM
    init; the embedding normal, the decoder as a Linear)."""
    rng = np.random.default_rng(seed)
    k = 1 / np.sqrt(HIDDEN)
    p = {"embed.weight": rng.standard_normal((VOCAB, EMBED))}
    for layer in range(LAYERS):
        n_in = EMBED if layer == 0 else HIDDEN
        p[f"lstm.weight_ih_l{layer}"] = rng.uniform(-k, k, (4 * HIDDEN, n_in))
        p[f"lstm.weight_hh_l{layer}"] = rng.uniform(-k, k, (4 * HIDDEN, HIDDEN))
        p[f"lstm.bias_ih_l{layer}"] = rng.uniform(-k, k, 4 * HIDDEN)
        p[f"lstm.bias_hh_l{layer}"] = rng.uniform(-k, k, 4 * HIDDEN)
    p["decoder.weight"] = rng.uniform(-k, k, (VOCAB, HIDDEN))
    p["decoder.bias"] = rng.uniform(-k, k, VOCAB)
    return {name: a.astype(np.float32) for name, a in p.items()}


def build(nn):
    """The language model from ``nn`` (``tracegrad.nn`` or ``torch.nn``)."""

    class LanguageModel(nn.Module):
        def __init__(self):
            super().__init__()
            self.embed = nn.Embedding(VOCAB, EMBED)
            self.lstm = nn.LSTM(EMBED, HIDDEN, num_layers=LAYERS)
            self.decoder = nn.Linear(HIDDEN, VOCAB)

        def forward(self, tokens):
            out, _ = self.lstm(self.embed(tokens))
            return self.decoder(out.reshape(-1, HIDDEN))

    return LanguageModel()


def load(model, arrays: dict, lib) -> None:
    """Copy the arrays into the model's parameters by name."""
    params = dict(model.named_parameters())
    assert sorted(params) == sorted(arrays), sorted(params)
    with lib.no_grad():
        for name, p in params.items():
            p.copy_(lib.tensor(arrays[name]))


# ---------------------------------------------------------------------------- the JAX anchor
NAMES = list(param_arrays())  # the order of the JAX parameter list


def jax_lstm_layer(x, w_ih, w_hh, b_ih, b_hh):
    """One LSTM layer, PyTorch's math and gate order (i, f, g, o), zero initial state."""
    xw = x @ w_ih.T + (b_ih + b_hh)

    def step(carry, xw_t):
        h, c = carry
        i, f, g, o = jnp.split(xw_t + h @ w_hh.T, 4, axis=-1)
        c = jax.nn.sigmoid(f) * c + jax.nn.sigmoid(i) * jnp.tanh(g)
        h = jax.nn.sigmoid(o) * jnp.tanh(c)
        return (h, c), h

    zeros = jnp.zeros((x.shape[1], HIDDEN), x.dtype)
    return lax.scan(step, (zeros, zeros), xw)[1]


def jax_loss(params, tokens, targets):
    p = dict(zip(NAMES, params))
    h = p["embed.weight"][tokens]
    for layer in range(LAYERS):
        h = jax_lstm_layer(h, *(p[f"lstm.{w}_l{layer}"] for w in ("weight_ih", "weight_hh",
                                                                   "bias_ih", "bias_hh")))  # fmt: skip
    logits = h.reshape(-1, HIDDEN) @ p["decoder.weight"].T + p["decoder.bias"]
    logp = jax.nn.log_softmax(logits)
    return -jnp.mean(jnp.take_along_axis(logp, targets[:, None], axis=1))


# ------------------------------------------------------------------------------ contenders
def tracegrad_step(model) -> Callable:
    opt = tg.optim.SGD(model.parameters(), lr=LR)

    def step(tokens, targets):
        opt.zero_grad()
        loss = F.cross_entropy(model(tokens), targets)
        loss.backward()
        opt.step()
        return loss

    return step


def tracegrad_runner(step: Callable, model, tokens, targets) -> Callable[[], float]:
    params = list(model.parameters())

    def run() -> float:
        loss = step(tokens, targets)
        jax.block_until_ready([p._storage.array for p in params])
        return loss.item()

    return run


def torch_runner(model, tokens, targets) -> Callable[[], float]:
    opt = torch.optim.SGD(model.parameters(), lr=LR)

    def run() -> float:
        opt.zero_grad()
        loss = torch.nn.functional.cross_entropy(model(tokens), targets)
        loss.backward()
        opt.step()
        return loss.item()

    return run


_HLO_OPS = ("copy", "concatenate", "pad", "slice", "dynamic-update-slice", "convert", "dot")


def hlo_report(text: str) -> tuple[collections.Counter, list[str]]:
    """Counts of ``_HLO_OPS`` in optimized HLO ``text``, and one line per ``while`` body: its dots
    and its exp/tanh elements per step, through the fusions it calls."""
    comps: dict[str, list[str]] = {}
    name = None
    for line in text.splitlines():
        if re.match(r"^\S.*\{$", line):
            name = line.split()[0].lstrip("%")
            comps[name] = []
        elif name is not None:
            comps[name].append(line)
    ops = collections.Counter()
    for lines in comps.values():
        for line in lines:
            m = re.search(r"= \S+ ([\w-]+)\(", line)
            if m and m.group(1) in _HLO_OPS:
                ops[m.group(1)] += 1
    bodies = []
    for lines in comps.values():
        for line in lines:
            m = re.search(r" while\(.*body=%?([\w.\-]+)", line)
            if m:
                bodies.append(m.group(1))
    report = []
    for body in bodies:
        seen, todo, n = set(), [body], collections.Counter()
        while todo:
            c = todo.pop()
            if c in seen or c not in comps:
                continue
            seen.add(c)
            for line in comps[c]:
                todo += re.findall(r"(?:calls|to_apply)=%?([\w.\-]+)", line)
                m = re.search(r"= f32\[([\d,]*)\]\S* (exponential|tanh|dot)\(", line)
                if m:
                    size = int(np.prod([int(d) for d in m.group(1).split(",") if d]))
                    n[m.group(2)] += 1 if m.group(2) == "dot" else size
        report.append(f"dots {n['dot']}, exp {n['exponential']}, tanh {n['tanh']}")
    return ops, report


def print_hlo(tokens_np, targets_np) -> None:
    """The ``--hlo`` report (see the module's notes)."""
    arrays = param_arrays()
    model = build(tg.nn)
    load(model, arrays, tg)
    step = tg.compile(tracegrad_step(model))
    texts = {
        "tracegrad.compile": step.lower(tg.tensor(tokens_np), tg.tensor(targets_np))
        .compile()
        .as_text(),
        "jax.jit": jax.jit(jax.value_and_grad(jax_loss))
        .lower(
            [jnp.asarray(arrays[n]) for n in NAMES],
            jnp.asarray(tokens_np, jnp.int32),
            jnp.asarray(targets_np, jnp.int32),
        )
        .compile()
        .as_text(),
    }
    for who, text in texts.items():
        ops, bodies = hlo_report(text)
        print(f"{who}: " + ", ".join(f"{op} {ops[op]}" for op in _HLO_OPS))
        for line in bodies:
            print(f"  while body per step: {line}")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="3 timed reps")
    parser.add_argument("--reps", type=int, default=None, help="timed reps (default 10)")
    parser.add_argument("--no-torch", action="store_true", help="skip the PyTorch rows")
    parser.add_argument("--hlo", action="store_true", help="print HLO counts instead of timing")
    args = parser.parse_args(argv)
    reps = args.reps if args.reps is not None else (3 if args.quick else 10)
    use_torch = torch is not None and not args.no_torch
    print(f"device {jax.devices()[0]}, jax {jax.__version__}, tracegrad {tg.__version__}", end="")
    print(f", torch {torch.__version__} ({torch.get_num_threads()} threads)" if use_torch else "")
    print(
        f"LSTM LM: vocab {VOCAB}, embed {EMBED}, hidden {HIDDEN} x {LAYERS} layers, "
        f"T {STEPS}, batch {BATCH}; {reps} timed reps"
    )

    arrays = param_arrays()
    rng = np.random.default_rng(1)
    seq = rng.integers(0, VOCAB, (STEPS + 1, BATCH))
    tokens_np, targets_np = seq[:-1], seq[1:].reshape(-1)
    if args.hlo:
        print_hlo(tokens_np, targets_np)
        return

    contenders: dict[str, Callable[[], float]] = {}
    eager_model = build(tg.nn)
    load(eager_model, arrays, tg)
    tt, ty = tg.tensor(tokens_np), tg.tensor(targets_np)
    contenders["tracegrad eager"] = tracegrad_runner(
        tracegrad_step(eager_model), eager_model, tt, ty
    )
    comp_model = build(tg.nn)
    load(comp_model, arrays, tg)
    contenders["tracegrad.compile"] = tracegrad_runner(
        tg.compile(tracegrad_step(comp_model)), comp_model, tt, ty
    )
    contenders["jax.jit"] = jax_runner(
        jax_loss,
        [arrays[n] for n in NAMES],
        jnp.asarray(tokens_np, jnp.int32),
        jnp.asarray(targets_np, jnp.int32),
    )
    if use_torch:
        torch_model = build(torch.nn)
        load(torch_model, arrays, torch)
        contenders["pytorch eager"] = torch_runner(
            torch_model, torch.from_numpy(tokens_np), torch.from_numpy(targets_np)
        )

    t0 = time.perf_counter()
    times, warm, errors = interleaved(contenders, reps, warmup=3)
    notes = check_close("lstm", warm, tol=5e-3)
    print(f"  lstm: done in {time.perf_counter() - t0:.1f} s")
    names = ["tracegrad eager", "tracegrad.compile", "jax.jit"]
    ratios = {"tracegrad.compile": ("jax.jit", "<= 1.05")}
    if use_torch:
        names.append("pytorch eager")
        ratios["tracegrad eager"] = ("pytorch eager", "<= 1.5")
        ratios["pytorch eager"] = ("jax.jit", "")
    else:
        ratios["tracegrad eager"] = ("jax.jit", "")
    print()
    print_table(rows_from("lstm", names, times, errors, ratios, notes))


if __name__ == "__main__":
    main()
