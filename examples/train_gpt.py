"""Train a character-level GPT on Python's own standard-library source, the PyTorch way.

Real text, no download: a fixed list of modules from the standard library of the running Python
(present in every CPython 3.10-3.13 install), about 640,000 characters. The model is a small GPT
written as minGPT and nanoGPT write theirs: token and learned position embeddings, pre-LayerNorm
blocks of causal self-attention (``F.scaled_dot_product_attention``) and a GELU MLP, and a language
model head tied to the token embedding. The loop is ordinary PyTorch code with
``import tracegrad as torch``: AdamW with decay and no-decay parameter groups, gradient clipping, a
cosine learning rate with linear warm-up (``LambdaLR``), periodic validation, a sample generated
with temperature and top-k at the end, and a safetensors checkpoint that PyTorch can load.

Losses are in nats per character, printed next to the unigram baseline: the entropy of the
training text's character frequencies, the loss of the best model that ignores context.

With ``--compile`` the training step (forward, backward, clipping, AdamW step) runs as one XLA
program through ``torch.compile``, which is ``tracegrad.compile`` here.

With the defaults (4 layers, 4 heads, d=64, 64-character context, batch 32, 1,500 steps) and
``--compile``, the validation loss falls from 4.50 to 1.95 nats per character (unigram baseline
3.07) in about 3 minutes on a 2-core CPU. The same file runs under PyTorch with ``import torch``
in place of the three tracegrad imports.

Run: python examples/train_gpt.py [--compile] [--max-iters 1500] [--checkpoint gpt_char.safetensors]
"""

from __future__ import annotations

import argparse
import math
import sysconfig
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from tqdm import tqdm

import tracegrad as torch
import tracegrad.nn.functional as F
from tracegrad import nn

# Modules that exist, as plain source files, in the standard library of CPython 3.10 to 3.13.
# Their text differs a little between versions, so the exact numbers do too.
STDLIB_FILES = (
    "argparse.py",
    "calendar.py",
    "collections/__init__.py",
    "contextlib.py",
    "dataclasses.py",
    "difflib.py",
    "enum.py",
    "fractions.py",
    "functools.py",
    "heapq.py",
    "pprint.py",
    "random.py",
    "statistics.py",
    "textwrap.py",
)


# --------------------------------------------------------------------------------------- model


@dataclass
class GPTConfig:
    vocab_size: int
    block_size: int = 128
    n_layer: int = 4
    n_head: int = 4
    n_embd: int = 128
    dropout: float = 0.0


class CausalSelfAttention(nn.Module):
    """Multi-head self-attention in which each position sees only itself and earlier ones."""

    def __init__(self, config: GPTConfig):
        super().__init__()
        assert config.n_embd % config.n_head == 0
        self.n_head = config.n_head
        self.n_embd = config.n_embd
        self.dropout = config.dropout
        self.c_attn = nn.Linear(config.n_embd, 3 * config.n_embd)  # q, k and v in one matmul
        self.c_proj = nn.Linear(config.n_embd, config.n_embd)
        self.resid_dropout = nn.Dropout(config.dropout)

    def forward(self, x):
        B, T, C = x.size()
        q, k, v = self.c_attn(x).split(self.n_embd, dim=2)
        # (B, T, C) -> (B, n_head, T, head_size): the heads become a batch dimension.
        q = q.view(B, T, self.n_head, C // self.n_head).transpose(1, 2)
        k = k.view(B, T, self.n_head, C // self.n_head).transpose(1, 2)
        v = v.view(B, T, self.n_head, C // self.n_head).transpose(1, 2)
        y = F.scaled_dot_product_attention(
            q, k, v, dropout_p=self.dropout if self.training else 0.0, is_causal=True
        )
        y = y.transpose(1, 2).contiguous().view(B, T, C)  # heads side by side again
        return self.resid_dropout(self.c_proj(y))


class MLP(nn.Module):
    def __init__(self, config: GPTConfig):
        super().__init__()
        self.c_fc = nn.Linear(config.n_embd, 4 * config.n_embd)
        self.gelu = nn.GELU()
        self.c_proj = nn.Linear(4 * config.n_embd, config.n_embd)
        self.dropout = nn.Dropout(config.dropout)

    def forward(self, x):
        return self.dropout(self.c_proj(self.gelu(self.c_fc(x))))


class Block(nn.Module):
    """Pre-LayerNorm transformer block: x + attn(ln(x)), then x + mlp(ln(x))."""

    def __init__(self, config: GPTConfig):
        super().__init__()
        self.ln_1 = nn.LayerNorm(config.n_embd)
        self.attn = CausalSelfAttention(config)
        self.ln_2 = nn.LayerNorm(config.n_embd)
        self.mlp = MLP(config)

    def forward(self, x):
        x = x + self.attn(self.ln_1(x))
        return x + self.mlp(self.ln_2(x))


class GPT(nn.Module):
    def __init__(self, config: GPTConfig):
        super().__init__()
        self.config = config
        self.tok_emb = nn.Embedding(config.vocab_size, config.n_embd)
        self.pos_emb = nn.Embedding(config.block_size, config.n_embd)
        self.drop = nn.Dropout(config.dropout)
        self.blocks = nn.ModuleList([Block(config) for _ in range(config.n_layer)])
        self.ln_f = nn.LayerNorm(config.n_embd)
        self.lm_head = nn.Linear(config.n_embd, config.vocab_size, bias=False)
        # Weight tying: the output layer scores each character by its input embedding. One
        # parameter, two uses; named_parameters() lists it once.
        self.lm_head.weight = self.tok_emb.weight

        self.apply(self._init_weights)
        # GPT-2's scaled init: every block adds two residual contributions (attention and MLP),
        # so the projections into the residual stream start smaller by 1/sqrt(2 * n_layer).
        for name, p in self.named_parameters():
            if name.endswith("c_proj.weight"):
                nn.init.normal_(p, mean=0.0, std=0.02 / math.sqrt(2 * config.n_layer))

    @staticmethod
    def _init_weights(module):
        if isinstance(module, nn.Linear):
            nn.init.normal_(module.weight, mean=0.0, std=0.02)
            if module.bias is not None:
                nn.init.zeros_(module.bias)
        elif isinstance(module, nn.Embedding):
            nn.init.normal_(module.weight, mean=0.0, std=0.02)

    def forward(self, idx, targets=None):
        B, T = idx.size()
        assert T <= self.config.block_size, f"sequence of {T} > block size {self.config.block_size}"
        pos = torch.arange(T, dtype=torch.long, device=idx.device)
        x = self.drop(self.tok_emb(idx) + self.pos_emb(pos))
        for block in self.blocks:
            x = block(x)
        logits = self.lm_head(self.ln_f(x))
        loss = None
        if targets is not None:
            loss = F.cross_entropy(logits.view(-1, logits.size(-1)), targets.view(-1))
        return logits, loss

    def configure_optimizer(self, weight_decay, learning_rate, betas):
        """AdamW in two groups, as GPT-2 trains: matrices (linear and embedding weights) decay;
        biases and LayerNorm gains and shifts (the 1-D parameters) do not."""
        params = [p for p in self.parameters() if p.requires_grad]
        decay = [p for p in params if p.dim() >= 2]
        no_decay = [p for p in params if p.dim() < 2]
        groups = [
            {"params": decay, "weight_decay": weight_decay},
            {"params": no_decay, "weight_decay": 0.0},
        ]
        return torch.optim.AdamW(groups, lr=learning_rate, betas=betas)

    @torch.no_grad()
    def generate(self, idx, max_new_tokens, temperature=1.0, top_k=None, generator=None):
        """Extend ``idx`` (B, T) by ``max_new_tokens`` sampled tokens; returns only the new ones.

        The context is cropped to the last ``block_size`` tokens after every step, so with a
        prompt of ``block_size`` tokens every forward sees the same shape.
        """
        new = []
        for _ in range(max_new_tokens):
            idx_cond = idx[:, -self.config.block_size :]
            logits, _ = self(idx_cond)
            logits = logits[:, -1, :] / temperature
            if top_k is not None:
                v, _ = torch.topk(logits, min(top_k, logits.size(-1)))
                logits[logits < v[:, [-1]]] = -float("inf")
            probs = F.softmax(logits, dim=-1)
            idx_next = torch.multinomial(probs, num_samples=1, generator=generator)
            new.append(idx_next)
            idx = torch.cat((idx, idx_next), dim=1)[:, -self.config.block_size :]
        return torch.cat(new, dim=1)


# ---------------------------------------------------------------------------------------- data


def load_text() -> str:
    """The standard-library files, in STDLIB_FILES order, joined by blank lines."""
    root = Path(sysconfig.get_paths()["stdlib"])
    return "\n\n".join((root / name).read_text(encoding="utf-8") for name in STDLIB_FILES)


def unigram_entropy(ids: np.ndarray, vocab_size: int) -> float:
    """Entropy of the character frequencies, in nats per character."""
    p = np.bincount(ids, minlength=vocab_size) / len(ids)
    p = p[p > 0]
    return float(-(p * np.log(p)).sum())


def get_batch(data, batch_size: int, block_size: int, generator):
    """``batch_size`` random windows of ``block_size`` characters, and the characters that
    follow each one (the windows shifted by one)."""
    starts = torch.randint(len(data) - block_size, (batch_size,), generator=generator)
    offsets = starts[:, None] + torch.arange(block_size)
    return data[offsets], data[offsets + 1]


@torch.no_grad()
def estimate_loss(model, loss_fn, splits: dict, batches: int, batch_size, block_size, seed: int):
    """Mean ``loss_fn(x, y)`` over the same ``batches`` random batches of each split at every
    evaluation, with the model in eval mode (no dropout)."""
    model.eval()
    out = {}
    for name, data in splits.items():
        generator = torch.Generator().manual_seed(seed)
        losses = [
            loss_fn(*get_batch(data, batch_size, block_size, generator)).item()
            for _ in range(batches)
        ]
        out[name] = sum(losses) / len(losses)
    model.train()
    return out


# ---------------------------------------------------------------------------------------- main


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n-layer", type=int, default=4)
    parser.add_argument("--n-head", type=int, default=4)
    parser.add_argument("--n-embd", type=int, default=64)
    parser.add_argument("--block-size", type=int, default=64)
    parser.add_argument("--dropout", type=float, default=0.0)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--max-iters", type=int, default=1500)
    parser.add_argument("--warmup-iters", type=int, default=100)
    parser.add_argument("--lr", type=float, default=2e-3, help="peak learning rate")
    parser.add_argument("--min-lr", type=float, default=2e-4, help="learning rate at the end")
    parser.add_argument("--weight-decay", type=float, default=0.1)
    parser.add_argument("--grad-clip", type=float, default=1.0)
    parser.add_argument("--eval-interval", type=int, default=250)
    parser.add_argument("--eval-batches", type=int, default=20)
    parser.add_argument("--sample-chars", type=int, default=300)
    parser.add_argument("--temperature", type=float, default=0.8)
    parser.add_argument("--top-k", type=int, default=10)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--checkpoint", default="gpt_char.safetensors")
    parser.add_argument("--no-progress", action="store_true", help="hide the tqdm progress bar")
    parser.add_argument(
        "--compile",
        action="store_true",
        help="run each training step as one XLA program (torch.compile)",
    )
    args = parser.parse_args()

    torch.manual_seed(args.seed)
    text = load_text()
    chars = sorted(set(text))
    stoi = {c: i for i, c in enumerate(chars)}
    ids = np.array([stoi[c] for c in text], dtype=np.int64)
    split = int(0.9 * len(ids))
    train_data, val_data = torch.from_numpy(ids[:split]), torch.from_numpy(ids[split:])
    baseline = unigram_entropy(ids[:split], len(chars))
    print(
        f"text: {len(text):,} characters from {len(STDLIB_FILES)} standard-library files, "
        f"vocabulary {len(chars)}; train {len(train_data):,}, validation {len(val_data):,}"
    )
    print(
        f"baselines (nats/char): uniform {math.log(len(chars)):.3f}, "
        f"unigram {baseline:.3f} (entropy of the training text's characters)"
    )

    config = GPTConfig(
        vocab_size=len(chars),
        block_size=args.block_size,
        n_layer=args.n_layer,
        n_head=args.n_head,
        n_embd=args.n_embd,
        dropout=args.dropout,
    )
    model = GPT(config)
    print(f"GPT: {sum(p.numel() for p in model.parameters()):,} parameters, {config}")
    optimizer = model.configure_optimizer(args.weight_decay, args.lr, betas=(0.9, 0.99))

    def lr_at(it: int) -> float:
        """Linear warm-up to the peak, then a cosine down to min_lr at max_iters."""
        if it < args.warmup_iters:
            return args.lr * (it + 1) / (args.warmup_iters + 1)
        progress = (it - args.warmup_iters) / max(1, args.max_iters - args.warmup_iters)
        return args.min_lr + 0.5 * (1.0 + math.cos(math.pi * min(progress, 1.0))) * (
            args.lr - args.min_lr
        )

    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda it: lr_at(it) / args.lr)

    def train_step(x, y):
        optimizer.zero_grad(set_to_none=True)
        _, loss = model(x, y)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), args.grad_clip)
        optimizer.step()
        return loss

    def eval_loss(x, y):
        return model(x, y)[1]

    if args.compile:
        train_step = torch.compile(train_step)
        # Traced under no_grad and model.eval(): a program of its own, forward only.
        eval_loss = torch.compile(eval_loss)

    batch_gen = torch.Generator().manual_seed(args.seed)
    splits = {"train": train_data, "val": val_data}

    def evaluate(it: int, seconds: float) -> dict:
        losses = estimate_loss(
            model, eval_loss, splits, args.eval_batches, args.batch_size, args.block_size,
            args.seed + 1,
        )  # fmt: skip
        tqdm.write(
            f"step {it:5d}  train loss {losses['train']:.3f}  val loss {losses['val']:.3f}  "
            f"(unigram {baseline:.3f})  lr {scheduler.get_last_lr()[0]:.2e}  {seconds:6.1f} s"
        )
        return losses

    start = time.perf_counter()
    evaluate(0, 0.0)
    running = None
    progress = tqdm(range(args.max_iters), desc="train", disable=args.no_progress)
    for it in progress:
        x, y = get_batch(train_data, args.batch_size, args.block_size, batch_gen)
        loss = train_step(x, y)
        scheduler.step()
        if (it + 1) % 10 == 0 or it + 1 == args.max_iters:
            value = loss.item()  # reading the loss waits for the step: only every 10 steps
            running = value if running is None else 0.9 * running + 0.1 * value
            progress.set_postfix(loss=f"{running:.3f}")
        if (it + 1) % args.eval_interval == 0 or it + 1 == args.max_iters:
            losses = evaluate(it + 1, time.perf_counter() - start)
    progress.close()
    seconds = time.perf_counter() - start
    print(
        f"final: train loss {losses['train']:.3f}, val loss {losses['val']:.3f} nats/char "
        f"(unigram baseline {baseline:.3f}) after {args.max_iters} steps in {seconds:.1f} s"
    )

    # A sample: the model continues the first block_size characters of the validation text.
    model.eval()
    prompt = val_data[: args.block_size][None, :]
    sample_gen = torch.Generator().manual_seed(args.seed)
    new = model.generate(
        prompt, args.sample_chars, args.temperature, args.top_k, generator=sample_gen
    )
    print("---- prompt (validation text) ----")
    print("".join(chars[i] for i in prompt[0].tolist()))
    print(f"---- sample (temperature {args.temperature}, top-k {args.top_k}) ----")
    print("".join(chars[i] for i in new[0].tolist()))
    print("----")

    torch.save(model.state_dict(), args.checkpoint)
    print(f"checkpoint saved to {args.checkpoint}")


if __name__ == "__main__":
    main()
