"""One GPT training step: ``tracegrad.compile`` against a hand-written ``jax.jit`` step, and
tracegrad eager against PyTorch eager.

The model is ``examples/train_gpt.py``'s character-level GPT (4 layers, 4 heads, d=128, block 128,
tied embedding, dropout 0 so that every contender computes the same numbers) on a batch of 16
windows of its standard-library text. One step is forward, cross-entropy, backward and an AdamW
step (decay and no-decay groups, lr 1e-3, weight decay 0.1, betas (0.9, 0.99)). Contenders:

- ``tracegrad eager`` and ``tracegrad.compile``: the same PyTorch-style ``train_step`` function on
  the example's ``GPT`` class;
- ``jax.jit``: the same math written in JAX (``jax.value_and_grad`` of a functional GPT, attention
  as ``softmax(QK^T/sqrt(d) masked) V``) with a hand-written AdamW update in the same jit,
  parameters and moments donated;
- ``pytorch eager``: the example's model source with its three ``tracegrad`` imports replaced by
  ``torch`` ones, and ``torch.optim.AdamW``.

All start from the same weights. They run interleaved in one process after three warm-up steps,
whose losses are cross-checked, using ``benchmarks/steps.py``'s helpers; the script ends with a table
of medians and ratios (``tracegrad.compile`` vs ``jax.jit``, target <= 1.05; tracegrad eager vs
PyTorch eager), then a second table of throughput: tokens/s (batch x block / median step time)
and MFU per contender.

MFU (model FLOPs utilization) = model FLOPs per second achieved / the device's peak. Model FLOPs
per token of a training step are counted with the standard formula (Kaplan et al. 2020; PaLM,
appendix B; nanoGPT's ``estimate_mfu``)::

    flops_per_token = 6 * N + 12 * n_layer * n_embd * block

where ``N`` is the parameter count without the position embedding (the tied token embedding
counts once: it is the output layer's matmul) and ``6 = 2`` (forward multiply-add) ``x 3``
(forward, and backward for inputs and weights); the second term is attention's ``QK^T`` and
``AV``, ``2 * 2 * block * n_embd`` per layer and token forward, times 3, counted for the full
``block x block`` score matrix although the causal mask makes half of it unneeded. Nothing else
(LayerNorm, softmax, GELU, AdamW) is counted, and recomputation is not either: MFU, not hardware
FLOPs utilization. The peak is the bfloat16 dense peak of ``jax.devices()[0]``, looked up by its
``device_kind`` in ``PEAK_BF16_FLOPS`` (per JAX device: a TPU v2/v3 device is one core, half a
chip); an unknown kind (the CPU) prints "MFU n/a (unknown peak for <kind>)". The step itself runs
in float32 (no autocast), so against a bfloat16 peak the MFU is a lower bound of what the same
step reaches with ``torch.autocast``. The PyTorch row runs on the CPU: its tokens/s is printed,
its MFU is not.

Run: ``python benchmarks/gpt.py [--quick] [--reps N] [--no-torch] [--batch 16] [--block 128]``;
the smallest check: ``--quick --no-torch --batch 2 --block 16 --n-layer 1 --n-head 1 --n-embd 16``.
"""

from __future__ import annotations

import argparse
import math
import platform
import statistics
import sys
import time
import types
from collections.abc import Callable
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
from steps import Row, check_close, interleaved, print_table, rows_from, tracegrad_runner

import tracegrad as tg

try:
    import torch
except ImportError:  # PyTorch rows are skipped
    torch = None

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "train_gpt.py"
LR, WEIGHT_DECAY, BETAS, EPS = 1e-3, 0.1, (0.9, 0.99), 1e-8
# The example's imports, and what PyTorch's version of the same source imports instead.
TORCH_IMPORTS = {
    "import tracegrad as torch\n": "import torch\n",
    "import tracegrad.nn.functional as F\n": "import torch.nn.functional as F\n",
    "from tracegrad import nn\n": "from torch import nn\n",
}


# bfloat16 dense peak FLOP/s per JAX device, by the start of ``jax.devices()[0].device_kind``
# (vendors' data sheets; no sparsity). The first matching prefix wins, so longer names come first.
PEAK_BF16_FLOPS = (
    ("NVIDIA H100 PCIe", 756e12),
    ("NVIDIA H100 NVL", 835e12),
    ("NVIDIA H100", 989e12),  # SXM
    ("NVIDIA H200", 989e12),
    ("NVIDIA A100", 312e12),
    ("TPU v2", 22.5e12),  # 45 TFLOP/s per chip, two cores, one JAX device per core
    ("TPU v3", 61.5e12),  # 123 per chip, two cores
    ("TPU v4", 275e12),  # one JAX device per chip (megacore)
    ("TPU v5 lite", 197e12),  # v5e
    ("TPU v5e", 197e12),
)


def peak_flops(device_kind: str) -> float | None:
    """The bfloat16 dense peak of a device of this ``device_kind``, or None if unknown."""
    for prefix, peak in PEAK_BF16_FLOPS:
        if device_kind.startswith(prefix):
            return peak
    return None


def flops_per_token(n_params: int, n_layer: int, n_embd: int, block: int) -> int:
    """Model FLOPs of one training step per token: ``6 N + 12 n_layer n_embd block`` (see the
    module docstring; ``n_params`` without the position embedding)."""
    return 6 * n_params + 12 * n_layer * n_embd * block


def print_throughput(
    times: dict[str, list[float]], tokens: int, flops: int, cpu_only: tuple[str, ...]
) -> None:
    """A markdown table: contender | median ms | tokens/s | MFU, for the contenders that ran."""
    kind = jax.devices()[0].device_kind
    peak = peak_flops(kind)
    print(f"\nmodel FLOPs per token {flops:,} (6N + 12 L d T); {tokens} tokens per step; ", end="")
    print(f"peak {peak / 1e12:g} TFLOP/s bf16 ({kind})" if peak else f"no known peak for {kind}")
    lines = ["| contender | median ms | tokens/s | MFU |", "| --- | ---: | ---: | --- |"]
    for name, ts in times.items():
        if not ts:
            continue
        med = statistics.median(ts)
        rate = tokens / med
        if name in cpu_only:
            mfu = "n/a (runs on the CPU)"
        elif peak is None:
            mfu = f"MFU n/a (unknown peak for {kind})"
        else:
            mfu = f"{rate * flops / peak:.1%}"
        lines.append(f"| {name} | {med * 1e3:.3f} | {rate:,.0f} | {mfu} |")
    print("\n".join(lines))


def load_example(backend: str) -> types.ModuleType:
    """``examples/train_gpt.py`` as a module, importing tracegrad (as written) or real PyTorch."""
    source = EXAMPLE.read_text()
    if backend == "torch":
        for old, new in TORCH_IMPORTS.items():
            assert source.count(old) == 1, f"{EXAMPLE.name} no longer says {old!r}"
            source = source.replace(old, new)
    module = types.ModuleType(f"train_gpt_{backend}")
    module.__file__ = str(EXAMPLE)
    sys.modules[module.__name__] = module  # dataclasses look their module up by name
    exec(compile(source, str(EXAMPLE), "exec"), module.__dict__)
    return module


# --------------------------------------------------------------------------- the JAX anchor


def jax_layer_norm(x, w, b, eps=1e-5):
    # x - mean is written once: spelling it twice (``((x - mean) ** 2).mean()`` and
    # ``(x - mean) * rsqrt(...)``) makes XLA's CPU fusion of the whole step 1.6x slower here.
    mean = x.mean(-1, keepdims=True)
    xc = x - mean
    var = (xc * xc).mean(-1, keepdims=True)
    return xc * jax.lax.rsqrt(var + eps) * w + b


def jax_gpt_loss(params: dict, idx, targets, n_layer: int, n_head: int):
    """The example's GPT forward and mean cross-entropy, as a function of a parameter dict keyed
    by the tracegrad ``state_dict`` names (``tok_emb.weight`` is also the output layer)."""
    B, T = idx.shape
    wte = params["tok_emb.weight"]
    x = wte[idx] + params["pos_emb.weight"][:T]
    causal = jnp.tril(jnp.ones((T, T), bool))
    for i in range(n_layer):
        p = {k[len(f"blocks.{i}.") :]: v for k, v in params.items() if k.startswith(f"blocks.{i}.")}
        h = jax_layer_norm(x, p["ln_1.weight"], p["ln_1.bias"])
        qkv = h @ p["attn.c_attn.weight"].T + p["attn.c_attn.bias"]
        C = x.shape[-1]
        q, k, v = (
            a.reshape(B, T, n_head, C // n_head).transpose(0, 2, 1, 3)
            for a in jnp.split(qkv, 3, axis=-1)
        )
        s = (q @ k.transpose(0, 1, 3, 2)) / math.sqrt(C // n_head)
        a = jax.nn.softmax(jnp.where(causal, s, -jnp.inf), axis=-1)
        y = (a @ v).transpose(0, 2, 1, 3).reshape(B, T, C)
        x = x + y @ p["attn.c_proj.weight"].T + p["attn.c_proj.bias"]
        h = jax_layer_norm(x, p["ln_2.weight"], p["ln_2.bias"])
        h = jax.nn.gelu(h @ p["mlp.c_fc.weight"].T + p["mlp.c_fc.bias"], approximate=False)
        x = x + h @ p["mlp.c_proj.weight"].T + p["mlp.c_proj.bias"]
    x = jax_layer_norm(x, params["ln_f.weight"], params["ln_f.bias"])
    logits = x @ wte.T
    logp = jax.nn.log_softmax(logits, axis=-1)
    return -jnp.mean(jnp.take_along_axis(logp, targets[..., None], axis=-1))


def jax_runner(params_np: dict, x, y, n_layer: int, n_head: int) -> Callable[[], float]:
    """A ``jax.jit`` step: ``value_and_grad`` of the loss and PyTorch's AdamW update (decoupled
    weight decay on the 2-D parameters, bias-corrected moments), parameters and moments donated."""

    def step(params, m, v, t, x, y):
        loss, grads = jax.value_and_grad(jax_gpt_loss)(params, x, y, n_layer, n_head)
        t = t + 1
        bc1, bc2 = 1 - BETAS[0] ** t, 1 - BETAS[1] ** t
        new_p, new_m, new_v = {}, {}, {}
        for name, p in params.items():
            g = grads[name]
            if p.ndim >= 2:
                p = p * (1 - LR * WEIGHT_DECAY)
            new_m[name] = BETAS[0] * m[name] + (1 - BETAS[0]) * g
            new_v[name] = BETAS[1] * v[name] + (1 - BETAS[1]) * g * g
            denom = jnp.sqrt(new_v[name] / bc2) + EPS
            new_p[name] = p - (LR / bc1) * new_m[name] / denom
        return new_p, new_m, new_v, t, loss

    jitted = jax.jit(step, donate_argnums=(0, 1, 2))
    params = {k: jnp.asarray(a) for k, a in params_np.items()}
    state = {
        "p": params,
        "m": {k: jnp.zeros_like(a) for k, a in params.items()},
        "v": {k: jnp.zeros_like(a) for k, a in params.items()},
        "t": jnp.zeros((), jnp.float32),
    }

    def run() -> float:
        s = state
        s["p"], s["m"], s["v"], s["t"], loss = jitted(s["p"], s["m"], s["v"], s["t"], x, y)
        jax.block_until_ready(s["p"])
        return float(loss)

    return run


# --------------------------------------------------------------------------- the contenders


def make_train_step(model, optimizer) -> Callable:
    """The example's training step without clipping: the eager and the compiled contender run
    this same function (each on its own model and optimizer)."""

    def train_step(x, y):
        optimizer.zero_grad(set_to_none=True)
        _, loss = model(x, y)
        loss.backward()
        optimizer.step()
        return loss

    return train_step


def torch_runner(model, x, y) -> Callable[[], float]:
    opt = model.configure_optimizer(WEIGHT_DECAY, LR, BETAS)
    step = make_train_step(model, opt)
    return lambda: step(x, y).item()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="5 timed reps")
    parser.add_argument("--reps", type=int, default=30, help="timed reps per contender")
    parser.add_argument("--no-torch", action="store_true", help="skip the PyTorch row")
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--block", type=int, default=128)
    parser.add_argument("--n-layer", type=int, default=4)
    parser.add_argument("--n-head", type=int, default=4)
    parser.add_argument("--n-embd", type=int, default=128)
    args = parser.parse_args(argv)
    reps = 5 if args.quick else args.reps
    use_torch = torch is not None and not args.no_torch

    print(f"device {jax.devices()[0]} ({jax.default_backend()}), jax {jax.__version__}, ", end="")
    print(f"tracegrad {tg.__version__}, python {platform.python_version()}")
    if use_torch:
        print(f"torch {torch.__version__} on the CPU, {torch.get_num_threads()} threads")

    gpt = load_example("tracegrad")
    text = gpt.load_text()
    chars = sorted(set(text))
    stoi = {c: i for i, c in enumerate(chars)}
    data = tg.tensor(np.array([stoi[c] for c in text], dtype=np.int64))
    config = dict(
        vocab_size=len(chars), block_size=args.block, n_layer=args.n_layer,
        n_head=args.n_head, n_embd=args.n_embd, dropout=0.0,
    )  # fmt: skip
    tx, ty = gpt.get_batch(data, args.batch, args.block, tg.Generator().manual_seed(0))
    print(f"GPT {config}, batch {args.batch}; reps {reps}")

    tg.manual_seed(0)
    reference = gpt.GPT(gpt.GPTConfig(**config))
    weights = {k: np.asarray(v) for k, v in reference.state_dict().items()}
    n_params = sum(p.numel() for p in reference.parameters())

    def tracegrad_model():
        model = gpt.GPT(gpt.GPTConfig(**config))
        model.load_state_dict({k: tg.tensor(a) for k, a in weights.items()})
        return model

    contenders: dict[str, Callable[[], float]] = {}
    eager_model = tracegrad_model()
    eager_opt = eager_model.configure_optimizer(WEIGHT_DECAY, LR, BETAS)
    contenders["tracegrad eager"] = tracegrad_runner(
        make_train_step(eager_model, eager_opt), eager_model, tx, ty
    )
    comp_model = tracegrad_model()
    comp_opt = comp_model.configure_optimizer(WEIGHT_DECAY, LR, BETAS)
    contenders["tracegrad.compile"] = tracegrad_runner(
        tg.compile(make_train_step(comp_model, comp_opt)), comp_model, tx, ty
    )
    jx, jy = jnp.asarray(np.asarray(tx), jnp.int32), jnp.asarray(np.asarray(ty), jnp.int32)
    jax_params = {k: a for k, a in weights.items() if k != "lm_head.weight"}  # tied: one array
    contenders["jax.jit"] = jax_runner(jax_params, jx, jy, args.n_layer, args.n_head)
    if use_torch:
        tgpt = load_example("torch")
        torch_model = tgpt.GPT(tgpt.GPTConfig(**config))
        torch_model.load_state_dict({k: torch.from_numpy(a.copy()) for k, a in weights.items()})
        tx_t, ty_t = torch.tensor(np.asarray(tx)), torch.tensor(np.asarray(ty))
        contenders["pytorch eager"] = torch_runner(torch_model, tx_t, ty_t)
    print(f"{n_params:,} parameters")

    t0 = time.perf_counter()
    times, warm, errors = interleaved(contenders, reps, warmup=3)
    notes = check_close("gpt", warm, tol=2e-3)
    print(f"warm-up losses: { {k: [round(v, 5) for v in vals] for k, vals in warm.items()} }")
    print(f"  done in {time.perf_counter() - t0:.1f} s\n")
    ratios = {
        "tracegrad.compile": ("jax.jit", "<= 1.05"),
        "tracegrad eager": ("pytorch eager" if use_torch else "jax.jit", ""),
    }
    if use_torch:
        ratios["pytorch eager"] = ("jax.jit", "")
    rows: list[Row] = rows_from("gpt", list(contenders), times, errors, ratios, notes)
    print_table(rows)
    # The tied lm_head.weight is tok_emb.weight: parameters() lists it once.
    n_matmul = n_params - reference.pos_emb.weight.numel()
    flops = flops_per_token(n_matmul, args.n_layer, args.n_embd, args.block)
    print_throughput(times, args.batch * args.block, flops, cpu_only=("pytorch eager",))


if __name__ == "__main__":
    main()
