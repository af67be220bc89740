"""Activation checkpointing: a small GPT-2-style model whose transformer blocks run through
``torch.utils.checkpoint.checkpoint`` when ``gradient_checkpointing`` is on and the model is
training, with an MLP head run through ``checkpoint_sequential``; the gradients of the
checkpointed model are checked against the same model run plainly (dropout on, the same seed
before each run), with ``use_reentrant=False`` and with ``use_reentrant=True``; then a few AdamW
steps with checkpointing on.

Source: the gradient-checkpointing pattern of HuggingFace transformers (``GPT2Model.forward``:
``if self.gradient_checkpointing and self.training:`` the block is called through
``self._gradient_checkpointing_func``, which ``gradient_checkpointing_enable`` sets to
``functools.partial(torch.utils.checkpoint.checkpoint, **gradient_checkpointing_kwargs)``), with a
GPT-2 block (pre-LayerNorm causal self-attention and GELU MLP, each with a residual and dropout),
and the ``checkpoint_sequential(functions, segments, input, use_reentrant=False)`` usage of
PyTorch's ``torch.utils.checkpoint`` documentation for the head.
Adaptations: a tiny model (n_layer 2, n_head 2, n_embd 16, block_size 8, vocab 20, batch 4), the
attention written out with ``masked_fill``/``softmax`` as in GPT-2's ``_attn``, ``nn.Linear``
in place of HF's ``Conv1D``; the head (``Sequential`` of Linear, GELU, Dropout, Linear, Dropout,
Linear) is ours, to have something for ``checkpoint_sequential``; tokens and targets drawn from
numpy; initial weights from numpy through load_state_dict (LayerNorm keeps ones/zeros); 3 AdamW
steps. The model is built twice: with dropout 0.0, whose losses and parameters are compared
value by value, and with dropout 0.1, whose losses depend on torch's dropout masks and are
emitted as unseeded; the gradient differences (checkpointed minus plain, with the same
``torch.manual_seed`` before each run) are zero, or float32 rounding (about 1e-8 under tracegrad
with ``use_reentrant=True``, whose nested backward sums gradients in another order), and are
compared in both.
"""

import functools
import math
from dataclasses import dataclass

import torch
import torch.nn as nn
import torch.utils.checkpoint
from dropin_support import emit, numpy_state, rng, values
from torch.nn import functional as F
from torch.utils.checkpoint import checkpoint_sequential

gen = rng(11)


@dataclass
class GPTConfig:
    block_size: int = 8
    vocab_size: int = 20
    n_layer: int = 2
    n_head: int = 2
    n_embd: int = 16
    dropout: float = 0.0
    layer_norm_epsilon: float = 1e-5


class Attention(nn.Module):
    def __init__(self, config):
        super().__init__()
        self.n_head = config.n_head
        self.split_size = config.n_embd
        self.c_attn = nn.Linear(config.n_embd, 3 * config.n_embd)
        self.c_proj = nn.Linear(config.n_embd, config.n_embd)
        self.attn_dropout = nn.Dropout(config.dropout)
        self.resid_dropout = nn.Dropout(config.dropout)
        n = config.block_size
        self.register_buffer(
            "bias",
            torch.tril(torch.ones(n, n, dtype=torch.bool)).view(1, 1, n, n),
            persistent=False,
        )

    def _split_heads(self, x):
        B, T, C = x.size()
        return x.view(B, T, self.n_head, C // self.n_head).permute(0, 2, 1, 3)

    def _merge_heads(self, x):
        x = x.permute(0, 2, 1, 3).contiguous()
        B, T, H, D = x.size()
        return x.view(B, T, H * D)

    def _attn(self, query, key, value):
        w = torch.matmul(query, key.transpose(-1, -2)) / math.sqrt(value.size(-1))
        T = query.size(-2)
        w = w.masked_fill(~self.bias[:, :, :T, :T], torch.finfo(w.dtype).min)
        w = nn.functional.softmax(w, dim=-1)
        w = self.attn_dropout(w)
        return torch.matmul(w, value)

    def forward(self, hidden_states):
        query, key, value = self.c_attn(hidden_states).split(self.split_size, dim=2)
        query = self._split_heads(query)
        key = self._split_heads(key)
        value = self._split_heads(value)
        a = self._merge_heads(self._attn(query, key, value))
        return self.resid_dropout(self.c_proj(a))


class MLP(nn.Module):
    def __init__(self, config):
        super().__init__()
        self.c_fc = nn.Linear(config.n_embd, 4 * config.n_embd)
        self.c_proj = nn.Linear(4 * config.n_embd, config.n_embd)
        self.dropout = nn.Dropout(config.dropout)

    def forward(self, x):
        return self.dropout(self.c_proj(F.gelu(self.c_fc(x), approximate="tanh")))


class Block(nn.Module):
    def __init__(self, config):
        super().__init__()
        self.ln_1 = nn.LayerNorm(config.n_embd, eps=config.layer_norm_epsilon)
        self.attn = Attention(config)
        self.ln_2 = nn.LayerNorm(config.n_embd, eps=config.layer_norm_epsilon)
        self.mlp = MLP(config)

    def forward(self, hidden_states):
        hidden_states = hidden_states + self.attn(self.ln_1(hidden_states))
        hidden_states = hidden_states + self.mlp(self.ln_2(hidden_states))
        return hidden_states


class GPT(nn.Module):
    def __init__(self, config):
        super().__init__()
        self.config = config
        self.wte = nn.Embedding(config.vocab_size, config.n_embd)
        self.wpe = nn.Embedding(config.block_size, config.n_embd)
        self.drop = nn.Dropout(config.dropout)
        self.h = nn.ModuleList([Block(config) for _ in range(config.n_layer)])
        self.ln_f = nn.LayerNorm(config.n_embd, eps=config.layer_norm_epsilon)
        self.head = nn.Sequential(
            nn.Linear(config.n_embd, 2 * config.n_embd),
            nn.GELU(),
            nn.Dropout(config.dropout),
            nn.Linear(2 * config.n_embd, config.n_embd),
            nn.Dropout(config.dropout),
            nn.Linear(config.n_embd, config.vocab_size),
        )
        self.gradient_checkpointing = False
        self.head_segments = 2

    def gradient_checkpointing_enable(self, gradient_checkpointing_kwargs=None):
        if gradient_checkpointing_kwargs is None:
            gradient_checkpointing_kwargs = {"use_reentrant": True}
        self._gradient_checkpointing_func = functools.partial(
            torch.utils.checkpoint.checkpoint, **gradient_checkpointing_kwargs
        )
        self.gradient_checkpointing = True

    def gradient_checkpointing_disable(self):
        self.gradient_checkpointing = False

    def forward(self, idx, targets=None):
        b, t = idx.size()
        pos = torch.arange(0, t, dtype=torch.long)
        hidden_states = self.drop(self.wte(idx) + self.wpe(pos))
        for block in self.h:
            if self.gradient_checkpointing and self.training:
                hidden_states = self._gradient_checkpointing_func(block.__call__, hidden_states)
            else:
                hidden_states = block(hidden_states)
        hidden_states = self.ln_f(hidden_states)
        if self.gradient_checkpointing and self.training:
            logits = checkpoint_sequential(
                self.head, self.head_segments, hidden_states, use_reentrant=False
            )
        else:
            logits = self.head(hidden_states)
        loss = None
        if targets is not None:
            loss = F.cross_entropy(logits.view(-1, logits.size(-1)), targets.view(-1))
        return logits, loss


batch_size = 4
base = GPTConfig()
idx = torch.from_numpy(gen.integers(0, base.vocab_size, size=(batch_size, base.block_size)))
targets = torch.from_numpy(gen.integers(0, base.vocab_size, size=(batch_size, base.block_size)))
init_state = numpy_state(GPT(base), gen)


def build(dropout):
    model = GPT(GPTConfig(dropout=dropout))
    model.load_state_dict(init_state)
    return model


def grads(model, seed):
    model.zero_grad(set_to_none=True)
    torch.manual_seed(seed)
    _, loss = model(idx, targets)
    loss.backward()
    return loss.item(), {n: p.grad.clone() for n, p in model.named_parameters()}


def max_abs_diff(a, b):
    return max((a[n] - b[n]).abs().max().item() for n in a)


def compare(dropout, kwargs):
    """Checkpointed minus plain gradients, the same seed before each run (dropout masks match)."""
    model = build(dropout)
    model.train()
    model.gradient_checkpointing_disable()
    plain_loss, plain = grads(model, 1234)
    model.gradient_checkpointing_enable(gradient_checkpointing_kwargs=kwargs)
    ckpt_loss, ckpt = grads(model, 1234)
    missing = sorted(n for n, g in ckpt.items() if g is None)
    diff = max_abs_diff(ckpt, plain)
    same = all(torch.equal(ckpt[n], plain[n]) for n in plain)
    print(
        f"dropout {dropout} {kwargs}: loss {plain_loss:.6f} vs {ckpt_loss:.6f}, max |dgrad| {diff}"
    )
    return plain_loss, ckpt_loss, diff, same, missing, plain


def train(dropout, steps=3):
    model = build(dropout)
    model.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-2, betas=(0.9, 0.95), weight_decay=0.1)
    torch.manual_seed(99)
    losses = []
    model.train()
    for step in range(steps):
        _, loss = model(idx, targets)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
        print(f"dropout {dropout} step {step}: loss {loss.item():.6f}")
    model.eval()
    with torch.no_grad():
        logits, eval_loss = model(idx, targets)
    return model, losses, eval_loss.item(), logits


results, unseeded = {}, {}

# Deterministic model (dropout 0.0): gradients and training compared value by value.
p_loss, c_loss, diff, same, missing, plain = compare(0.0, {"use_reentrant": False})
results["det_loss"] = [p_loss, c_loss]
results["det_grad_maxdiff"] = diff
results["det_grads_equal"] = same
results["det_missing_grads"] = missing
results["det_grad_wte"] = values(plain["wte.weight"][:3])
results["det_grad_head"] = values(plain["head.5.bias"])
p_loss, c_loss, diff, same, missing, _ = compare(0.0, {"use_reentrant": True})
results["det_reentrant_loss"] = c_loss
results["det_reentrant_grad_maxdiff"] = diff
results["det_reentrant_missing_grads"] = missing

model, losses, eval_loss, logits = train(0.0)
results["det_train_losses"] = losses
results["det_eval_loss"] = eval_loss
results["det_logits"] = values(logits[0, -1])
results["det_c_fc"] = values(model.h[1].mlp.c_fc.weight[:2, :4])
results["det_ln_f"] = values(model.ln_f.weight[:4])

# Dropout on: the masks are torch's own draws, so the losses are unseeded; the gradient
# differences are zeros in both libraries (the recomputation replays the masks).
for name, kwargs in (
    ("drop", {"use_reentrant": False}),
    ("drop_reentrant", {"use_reentrant": True}),
):
    p_loss, c_loss, diff, same, missing, _ = compare(0.1, kwargs)
    results[f"{name}_grad_maxdiff"] = diff
    results[f"{name}_missing_grads"] = missing
    results[f"{name}_loss_matches_plain"] = p_loss == c_loss
    unseeded[f"{name}_loss"] = p_loss

model, losses, eval_loss, _ = train(0.1)
unseeded["drop_train_losses"] = losses
# Evaluation turns dropout off, but the weights were trained under torch's masks.
unseeded["drop_eval_loss"] = eval_loss

emit(results, unseeded=unseeded)
