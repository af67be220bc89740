"""nanoGPT: a GPT with causal self-attention through F.scaled_dot_product_attention(is_causal=True),
LayerNorm with optional bias, GELU MLP, tied token embedding and lm_head, AdamW with
decay/no-decay parameter groups, warmup + cosine learning rate, gradient accumulation, GradScaler
(disabled in float32), clip_grad_norm_, estimate_loss under no_grad, and top-k generation -- then
the same model with its attention block written with nn.MultiheadAttention(batch_first=True) and
a boolean causal mask.

Source: karpathy/nanoGPT, model.py (LayerNorm, CausalSelfAttention, MLP, Block, GPT) and train.py
(get_lr, estimate_loss, the training loop), in one file; DDP, checkpoints, wandb, MFU estimates
and ``from_pretrained`` are left out.
Adaptations: the memmapped token files are replaced by a token stream over 40 tokens (each token
the previous plus 7, one in ten replaced by numpy noise) and ``get_batch`` draws its offsets from
numpy instead of ``torch.randint``; n_layer 2, n_head 2, n_embd 32, block_size 16, batch 4, 2
accumulation steps, 7 iterations, eval every 3 with 2 batches, learning rate 1e-2 down to 1e-3
(so that a few steps learn enough for the greedy generation to be far from ties);
dtype float32 and compile off (CPU); the slow-attention fallback for PyTorch < 2.0 is dropped, so
the attention is always ``scaled_dot_product_attention``; the weights ``_init_weights`` draws with
torch's RNG come from numpy through load_state_dict; ``generate`` uses ``top_k=1`` (one nonzero
probability, so ``torch.multinomial`` has a single outcome). ``MHACausalSelfAttention`` (the
variant block) is not in nanoGPT: it is the common rewrite of the same block with
``nn.MultiheadAttention``.
"""

# The original's spelling is kept (% formatting, unused loop variables).
# ruff: noqa: UP031, B007

import inspect
import math
from contextlib import nullcontext
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn as nn
from dropin_support import emit, numpy_state, rng, values
from torch.nn import functional as F


class LayerNorm(nn.Module):
    """LayerNorm but with an optional bias. PyTorch doesn't support simply bias=False"""

    def __init__(self, ndim, bias):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(ndim))
        self.bias = nn.Parameter(torch.zeros(ndim)) if bias else None

    def forward(self, input):
        return F.layer_norm(input, self.weight.shape, self.weight, self.bias, 1e-5)


class CausalSelfAttention(nn.Module):
    def __init__(self, config):
        super().__init__()
        assert config.n_embd % config.n_head == 0
        # key, query, value projections for all heads, but in a batch
        self.c_attn = nn.Linear(config.n_embd, 3 * config.n_embd, bias=config.bias)
        # output projection
        self.c_proj = nn.Linear(config.n_embd, config.n_embd, bias=config.bias)
        # regularization
        self.attn_dropout = nn.Dropout(config.dropout)
        self.resid_dropout = nn.Dropout(config.dropout)
        self.n_head = config.n_head
        self.n_embd = config.n_embd
        self.dropout = config.dropout

    def forward(self, x):
        B, T, C = x.size()  # batch size, sequence length, embedding dimensionality (n_embd)

        # calculate query, key, values for all heads in batch and move head forward to be the batch dim
        q, k, v = self.c_attn(x).split(self.n_embd, dim=2)
        k = k.view(B, T, self.n_head, C // self.n_head).transpose(1, 2)  # (B, nh, T, hs)
        q = q.view(B, T, self.n_head, C // self.n_head).transpose(1, 2)  # (B, nh, T, hs)
        v = v.view(B, T, self.n_head, C // self.n_head).transpose(1, 2)  # (B, nh, T, hs)

        # causal self-attention; Self-attend: (B, nh, T, hs) x (B, nh, hs, T) -> (B, nh, T, T)
        # efficient attention using Flash Attention CUDA kernels
        y = torch.nn.functional.scaled_dot_product_attention(
            q, k, v, attn_mask=None, dropout_p=self.dropout if self.training else 0, is_causal=True
        )
        y = (
            y.transpose(1, 2).contiguous().view(B, T, C)
        )  # re-assemble all head outputs side by side

        # output projection
        y = self.resid_dropout(self.c_proj(y))
        return y


class MHACausalSelfAttention(nn.Module):
    """The same block written with nn.MultiheadAttention and a boolean causal mask."""

    def __init__(self, config):
        super().__init__()
        self.mha = nn.MultiheadAttention(
            config.n_embd, config.n_head, dropout=config.dropout, bias=config.bias, batch_first=True
        )
        mask = torch.triu(torch.ones(config.block_size, config.block_size, dtype=torch.bool), 1)
        self.register_buffer("mask", mask, persistent=False)

    def forward(self, x):
        T = x.size(1)
        y, _ = self.mha(x, x, x, attn_mask=self.mask[:T, :T], need_weights=False)
        return y


class MLP(nn.Module):
    def __init__(self, config):
        super().__init__()
        self.c_fc = nn.Linear(config.n_embd, 4 * config.n_embd, bias=config.bias)
        self.gelu = nn.GELU()
        self.c_proj = nn.Linear(4 * config.n_embd, config.n_embd, bias=config.bias)
        self.dropout = nn.Dropout(config.dropout)

    def forward(self, x):
        x = self.c_fc(x)
        x = self.gelu(x)
        x = self.c_proj(x)
        x = self.dropout(x)
        return x


class Block(nn.Module):
    def __init__(self, config):
        super().__init__()
        self.ln_1 = LayerNorm(config.n_embd, bias=config.bias)
        if config.attention == "mha":
            self.attn = MHACausalSelfAttention(config)
        else:
            self.attn = CausalSelfAttention(config)
        self.ln_2 = LayerNorm(config.n_embd, bias=config.bias)
        self.mlp = MLP(config)

    def forward(self, x):
        x = x + self.attn(self.ln_1(x))
        x = x + self.mlp(self.ln_2(x))
        return x


@dataclass
class GPTConfig:
    block_size: int = 1024
    vocab_size: int = 50304  # GPT-2 vocab_size of 50257, padded up to nearest multiple of 64
    n_layer: int = 12
    n_head: int = 12
    n_embd: int = 768
    dropout: float = 0.0
    bias: bool = True  # True: bias in Linears and LayerNorms, like GPT-2. False: a bit better
    attention: str = "sdpa"


class GPT(nn.Module):
    def __init__(self, config):
        super().__init__()
        assert config.vocab_size is not None
        assert config.block_size is not None
        self.config = config

        self.transformer = nn.ModuleDict(
            dict(
                wte=nn.Embedding(config.vocab_size, config.n_embd),
                wpe=nn.Embedding(config.block_size, config.n_embd),
                drop=nn.Dropout(config.dropout),
                h=nn.ModuleList([Block(config) for _ in range(config.n_layer)]),
                ln_f=LayerNorm(config.n_embd, bias=config.bias),
            )
        )
        self.lm_head = nn.Linear(config.n_embd, config.vocab_size, bias=False)
        # with weight tying when using torch.compile() some warnings get generated:
        # "UserWarning: functional_call was passed multiple values for tied weights.
        # This behavior is deprecated and will be an error in future versions"
        # not 100% sure what this is, so far seems to be harmless. TODO investigate
        self.transformer.wte.weight = (
            self.lm_head.weight
        )  # https://paperswithcode.com/method/weight-tying

        # init all weights
        self.apply(self._init_weights)
        # apply special scaled init to the residual projections, per GPT-2 paper
        for pn, p in self.named_parameters():
            if pn.endswith("c_proj.weight"):
                torch.nn.init.normal_(p, mean=0.0, std=0.02 / math.sqrt(2 * config.n_layer))

        # report number of parameters
        print("number of parameters: %.2fM" % (self.get_num_params() / 1e6,))

    def get_num_params(self, non_embedding=True):
        n_params = sum(p.numel() for p in self.parameters())
        if non_embedding:
            n_params -= self.transformer.wpe.weight.numel()
        return n_params

    def _init_weights(self, module):
        if isinstance(module, nn.Linear):
            torch.nn.init.normal_(module.weight, mean=0.0, std=0.02)
            if module.bias is not None:
                torch.nn.init.zeros_(module.bias)
        elif isinstance(module, nn.Embedding):
            torch.nn.init.normal_(module.weight, mean=0.0, std=0.02)

    def forward(self, idx, targets=None):
        device = idx.device
        b, t = idx.size()
        assert t <= self.config.block_size, (
            f"Cannot forward sequence of length {t}, block size is only {self.config.block_size}"
        )
        pos = torch.arange(0, t, dtype=torch.long, device=device)  # shape (t)

        # forward the GPT model itself
        tok_emb = self.transformer.wte(idx)  # token embeddings of shape (b, t, n_embd)
        pos_emb = self.transformer.wpe(pos)  # position embeddings of shape (t, n_embd)
        x = self.transformer.drop(tok_emb + pos_emb)
        for block in self.transformer.h:
            x = block(x)
        x = self.transformer.ln_f(x)

        if targets is not None:
            # if we are given some desired targets also calculate the loss
            logits = self.lm_head(x)
            loss = F.cross_entropy(
                logits.view(-1, logits.size(-1)), targets.view(-1), ignore_index=-1
            )
        else:
            # inference-time mini-optimization: only forward the lm_head on the very last position
            logits = self.lm_head(x[:, [-1], :])  # note: using list [-1] to preserve the time dim
            loss = None

        return logits, loss

    def configure_optimizers(self, weight_decay, learning_rate, betas, device_type):
        # start with all of the candidate parameters
        param_dict = {pn: p for pn, p in self.named_parameters()}
        # filter out those that do not require grad
        param_dict = {pn: p for pn, p in param_dict.items() if p.requires_grad}
        # create optim groups. Any parameters that is 2D will be weight decayed, otherwise no.
        # i.e. all weight tensors in matmuls + embeddings decay, all biases and layernorms don't.
        decay_params = [p for n, p in param_dict.items() if p.dim() >= 2]
        nodecay_params = [p for n, p in param_dict.items() if p.dim() < 2]
        optim_groups = [
            {"params": decay_params, "weight_decay": weight_decay},
            {"params": nodecay_params, "weight_decay": 0.0},
        ]
        num_decay_params = sum(p.numel() for p in decay_params)
        num_nodecay_params = sum(p.numel() for p in nodecay_params)
        print(
            f"num decayed parameter tensors: {len(decay_params)}, with {num_decay_params:,} parameters"
        )
        print(
            f"num non-decayed parameter tensors: {len(nodecay_params)}, with {num_nodecay_params:,} parameters"
        )
        # Create AdamW optimizer and use the fused version if it is available
        fused_available = "fused" in inspect.signature(torch.optim.AdamW).parameters
        use_fused = fused_available and device_type == "cuda"
        extra_args = dict(fused=True) if use_fused else dict()
        optimizer = torch.optim.AdamW(optim_groups, lr=learning_rate, betas=betas, **extra_args)
        print(f"using fused AdamW: {use_fused}")

        return optimizer

    @torch.no_grad()
    def generate(self, idx, max_new_tokens, temperature=1.0, top_k=None):
        """
        Take a conditioning sequence of indices idx (LongTensor of shape (b,t)) and complete
        the sequence max_new_tokens times, feeding the predictions back into the model each time.
        Most likely you'll want to make sure to be in model.eval() mode of operation for this.
        """
        for _ in range(max_new_tokens):
            # if the sequence context is growing too long we must crop it at block_size
            idx_cond = (
                idx if idx.size(1) <= self.config.block_size else idx[:, -self.config.block_size :]
            )
            # forward the model to get the logits for the index in the sequence
            logits, _ = self(idx_cond)
            # pluck the logits at the final step and scale by desired temperature
            logits = logits[:, -1, :] / temperature
            # optionally crop the logits to only the top k options
            if top_k is not None:
                v, _ = torch.topk(logits, min(top_k, logits.size(-1)))
                logits[logits < v[:, [-1]]] = -float("Inf")
            # apply softmax to convert logits to (normalized) probabilities
            probs = F.softmax(logits, dim=-1)
            # sample from the distribution
            idx_next = torch.multinomial(probs, num_samples=1)
            # append sampled index to the running sequence and continue
            idx = torch.cat((idx, idx_next), dim=1)

        return idx


# -----------------------------------------------------------------------------
# train.py, on CPU, without DDP or checkpoints
eval_interval = 3
eval_iters = 2
gradient_accumulation_steps = 2
batch_size = 4
block_size = 16
n_layer = 2
n_head = 2
n_embd = 32
dropout = 0.0
bias = True
learning_rate = 1e-2
max_iters = 6
weight_decay = 1e-1
beta1 = 0.9
beta2 = 0.95
grad_clip = 1.0
decay_lr = True
warmup_iters = 2
lr_decay_iters = 6
min_lr = 1e-3
device = "cpu"
dtype = "float32"
compile = False
# -----------------------------------------------------------------------------

torch.manual_seed(1337)
device_type = "cuda" if "cuda" in device else "cpu"  # for later use in torch.autocast
ptdtype = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}[dtype]
ctx = (
    nullcontext()
    if device_type == "cpu"
    else torch.amp.autocast(device_type=device_type, dtype=ptdtype)
)

gen = rng(61)
vocab_size = 40


def token_stream(n):
    # each token is the previous one plus 7 (mod vocab_size), one in ten replaced by noise
    stream = (np.arange(n) * 7) % vocab_size
    noise = gen.random(n) < 0.1
    stream[noise] = gen.integers(0, vocab_size, size=int(noise.sum()))
    return stream


data = {"train": token_stream(600), "val": token_stream(200)}


def get_batch(split):
    data_split = data[split]
    ix = gen.integers(0, len(data_split) - block_size, size=batch_size)
    x = torch.stack(
        [torch.from_numpy((data_split[i : i + block_size]).astype(np.int64)) for i in ix]
    )
    y = torch.stack(
        [torch.from_numpy((data_split[i + 1 : i + 1 + block_size]).astype(np.int64)) for i in ix]
    )
    x, y = x.to(device), y.to(device)
    return x, y


# learning rate decay scheduler (cosine with warmup)
def get_lr(it):
    # 1) linear warmup for warmup_iters steps
    if it < warmup_iters:
        return learning_rate * (it + 1) / (warmup_iters + 1)
    # 2) if it > lr_decay_iters, return min learning rate
    if it > lr_decay_iters:
        return min_lr
    # 3) in between, use cosine decay down to min learning rate
    decay_ratio = (it - warmup_iters) / (lr_decay_iters - warmup_iters)
    assert 0 <= decay_ratio <= 1
    coeff = 0.5 * (1.0 + math.cos(math.pi * decay_ratio))  # coeff ranges 0..1
    return min_lr + coeff * (learning_rate - min_lr)


def numpy_gpt_state(model):
    """nanoGPT's init (normal(0, 0.02), scaled c_proj, zero biases), drawn from numpy."""

    def draw(name, shape):
        if ".ln_" in name or name.startswith("transformer.ln_f"):
            return None
        if len(shape) < 2:
            return np.zeros(shape)
        std = 0.02 / math.sqrt(2 * n_layer) if name.endswith("c_proj.weight") else 0.02
        return gen.normal(0.0, std, shape)

    state = numpy_state(model, gen, draw)
    # lm_head.weight is transformer.wte.weight (tied), which named_parameters lists once
    state["lm_head.weight"] = state["transformer.wte.weight"]
    return state


def run(attention):
    model_args = dict(
        n_layer=n_layer,
        n_head=n_head,
        n_embd=n_embd,
        block_size=block_size,
        bias=bias,
        vocab_size=vocab_size,
        dropout=dropout,
        attention=attention,
    )
    gptconf = GPTConfig(**model_args)
    model = GPT(gptconf)
    model.load_state_dict(numpy_gpt_state(model))
    model.to(device)

    # initialize a GradScaler. If enabled=False scaler is a no-op
    scaler = torch.amp.GradScaler(enabled=(dtype == "float16"))

    # optimizer
    optimizer = model.configure_optimizers(weight_decay, learning_rate, (beta1, beta2), device_type)

    # helps estimate an arbitrarily accurate loss over either split using many batches
    @torch.no_grad()
    def estimate_loss():
        out = {}
        model.eval()
        for split in ["train", "val"]:
            losses = torch.zeros(eval_iters)
            for k in range(eval_iters):
                X, Y = get_batch(split)
                with ctx:
                    logits, loss = model(X, Y)
                losses[k] = loss.item()
            out[split] = losses.mean()
        model.train()
        return out

    log = {"iters": [], "evals": []}
    X, Y = get_batch("train")  # fetch the very first batch
    iter_num = 0
    while True:
        # determine and set the learning rate for this iteration
        lr = get_lr(iter_num) if decay_lr else learning_rate
        for param_group in optimizer.param_groups:
            param_group["lr"] = lr

        # evaluate the loss on train/val sets
        if iter_num % eval_interval == 0:
            losses = estimate_loss()
            print(
                f"step {iter_num}: train loss {losses['train']:.4f}, val loss {losses['val']:.4f}"
            )
            log["evals"].append([losses["train"].item(), losses["val"].item()])

        # forward backward update, with optional gradient accumulation to simulate larger batch size
        for micro_step in range(gradient_accumulation_steps):
            with ctx:
                logits, loss = model(X, Y)
                loss = (
                    loss / gradient_accumulation_steps
                )  # scale the loss to account for gradient accumulation
            # immediately async prefetch next batch while model is doing the forward pass on the GPU
            X, Y = get_batch("train")
            # backward pass, with gradient scaling if training in fp16
            scaler.scale(loss).backward()
        # clip the gradient
        if grad_clip != 0.0:
            scaler.unscale_(optimizer)
            norm = torch.nn.utils.clip_grad_norm_(model.parameters(), grad_clip)
        # step the optimizer and scaler if training in fp16
        scaler.step(optimizer)
        scaler.update()
        # flush the gradients as soon as we can, no need for to keep them around in memory
        optimizer.zero_grad(set_to_none=True)

        lossf = loss.item() * gradient_accumulation_steps
        print(f"iter {iter_num}: loss {lossf:.4f}, lr {lr:.6f}")
        log["iters"].append([lossf, norm.item()])
        iter_num += 1

        # termination conditions
        if iter_num > max_iters:
            break

    model.eval()
    start = torch.tensor([[1, 2, 3]], dtype=torch.long, device=device)
    generated = model.generate(start, 3, temperature=1.0, top_k=1)
    log["generated"] = generated[0].tolist()
    with torch.no_grad():
        top2 = model(generated[:, :-1], generated[:, 1:])[0].topk(2, dim=-1).values
    print("smallest top-2 logit gap", (top2[..., 0] - top2[..., 1]).min().item())
    log["tied"] = model.lm_head.weight is model.transformer.wte.weight
    log["wte"] = values(model.transformer.wte.weight[:2, :4])
    return log


results = {"sdpa": run("sdpa"), "mha": run("mha")}

# SDPA's other spellings, against the attention written out by hand.
q, k, v = (torch.from_numpy(gen.standard_normal((2, 2, 5, 4)).astype(np.float32)) for _ in "qkv")
q.requires_grad_(True)
causal = torch.tril(torch.ones(5, 5, dtype=torch.bool))
by_hand = (
    F.softmax(
        (q @ k.transpose(-2, -1)) / math.sqrt(4)
        + torch.zeros(5, 5).masked_fill(~causal, float("-inf")),
        dim=-1,
    )
    @ v
)
results["sdpa_checks"] = {
    "is_causal": (F.scaled_dot_product_attention(q, k, v, is_causal=True) - by_hand)
    .abs()
    .max()
    .item(),
    "bool_mask": (F.scaled_dot_product_attention(q, k, v, attn_mask=causal) - by_hand)
    .abs()
    .max()
    .item(),
    "scale": values(F.scaled_dot_product_attention(q, k, v, scale=0.3).sum(dim=(0, 1, 2))),
}
F.scaled_dot_product_attention(q, k, v, is_causal=True).pow(2).sum().backward()
results["sdpa_checks"]["grad_q"] = values(q.grad[0, 0, :2])
emit(results)
