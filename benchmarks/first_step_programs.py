"""The two programs ``first_step.py`` starts in fresh processes: a minGPT-sized GPT and a small
CNN, each written the plain PyTorch way against ``torch`` -- which is PyTorch or tracegrad
(``--lib``), the source being the same.

Run: python benchmarks/first_step_programs.py --lib tracegrad|torch --model gpt|cnn

It prints one JSON line: seconds from the start of the process to the end of each phase (import,
model built and initialised, first training step done, second step done) and, under tracegrad,
the number of XLA compilations (and persistent-cache hits) in each phase.
"""

from __future__ import annotations

import time

_START = time.perf_counter()

import argparse  # noqa: E402
import importlib  # noqa: E402
import json  # noqa: E402
import math  # noqa: E402

_COMPILES = {"compiles": 0, "cache_hits": 0}


def _count_compiles() -> None:
    """Count XLA compilations and persistent-cache hits through JAX's monitoring events."""
    from jax import monitoring

    def on_duration(event: str, _secs: float, **_kw) -> None:
        if event == "/jax/core/compile/backend_compile_duration":
            _COMPILES["compiles"] += 1

    def on_event(event: str, **_kw) -> None:
        if event == "/jax/compilation_cache/cache_hits":
            _COMPILES["cache_hits"] += 1

    monitoring.register_event_duration_secs_listener(on_duration)
    monitoring.register_event_listener(on_event)


def gpt(torch, steps: int, phase) -> None:
    """minGPT's 'gpt-mini' (6 layers, 6 heads, d=192) on a 65-character vocabulary, context 64,
    batch 8: attention written out with a causal mask buffer and ``masked_fill``, minGPT's tanh
    GELU, AdamW with decay and no-decay groups, gradient clipping."""
    nn = torch.nn
    F = nn.functional
    vocab, block, n_layer, n_head, n_embd, batch = 65, 64, 6, 6, 192, 8

    class NewGELU(nn.Module):
        def forward(self, x):
            c = math.sqrt(2.0 / math.pi)
            return 0.5 * x * (1.0 + torch.tanh(c * (x + 0.044715 * torch.pow(x, 3.0))))

    class CausalSelfAttention(nn.Module):
        def __init__(self):
            super().__init__()
            self.c_attn = nn.Linear(n_embd, 3 * n_embd)
            self.c_proj = nn.Linear(n_embd, n_embd)
            self.attn_dropout = nn.Dropout(0.1)
            self.resid_dropout = nn.Dropout(0.1)
            mask = torch.tril(torch.ones(block, block)).view(1, 1, block, block)
            self.register_buffer("bias", mask)

        def forward(self, x):
            B, T, C = x.size()
            q, k, v = self.c_attn(x).split(n_embd, dim=2)
            k = k.view(B, T, n_head, C // n_head).transpose(1, 2)
            q = q.view(B, T, n_head, C // n_head).transpose(1, 2)
            v = v.view(B, T, n_head, C // n_head).transpose(1, 2)
            att = (q @ k.transpose(-2, -1)) * (1.0 / math.sqrt(k.size(-1)))
            att = att.masked_fill(self.bias[:, :, :T, :T] == 0, float("-inf"))
            att = self.attn_dropout(F.softmax(att, dim=-1))
            y = (att @ v).transpose(1, 2).contiguous().view(B, T, C)
            return self.resid_dropout(self.c_proj(y))

    class Block(nn.Module):
        def __init__(self):
            super().__init__()
            self.ln_1 = nn.LayerNorm(n_embd)
            self.attn = CausalSelfAttention()
            self.ln_2 = nn.LayerNorm(n_embd)
            self.mlp = nn.ModuleDict(
                dict(
                    c_fc=nn.Linear(n_embd, 4 * n_embd),
                    c_proj=nn.Linear(4 * n_embd, n_embd),
                    act=NewGELU(),
                    dropout=nn.Dropout(0.1),
                )
            )

        def forward(self, x):
            m = self.mlp
            x = x + self.attn(self.ln_1(x))
            return x + m.dropout(m.c_proj(m.act(m.c_fc(self.ln_2(x)))))

    class GPT(nn.Module):
        def __init__(self):
            super().__init__()
            self.transformer = nn.ModuleDict(
                dict(
                    wte=nn.Embedding(vocab, n_embd),
                    wpe=nn.Embedding(block, n_embd),
                    drop=nn.Dropout(0.1),
                    h=nn.ModuleList([Block() for _ in range(n_layer)]),
                    ln_f=nn.LayerNorm(n_embd),
                )
            )
            self.lm_head = nn.Linear(n_embd, vocab, bias=False)
            self.apply(self._init_weights)
            for name, p in self.named_parameters():
                if name.endswith("c_proj.weight"):
                    torch.nn.init.normal_(p, mean=0.0, std=0.02 / math.sqrt(2 * n_layer))

        def _init_weights(self, module):
            if isinstance(module, nn.Linear):
                torch.nn.init.normal_(module.weight, mean=0.0, std=0.02)
                if module.bias is not None:
                    torch.nn.init.zeros_(module.bias)
            elif isinstance(module, nn.Embedding):
                torch.nn.init.normal_(module.weight, mean=0.0, std=0.02)
            elif isinstance(module, nn.LayerNorm):
                torch.nn.init.zeros_(module.bias)
                torch.nn.init.ones_(module.weight)

        def forward(self, idx, targets):
            t = self.transformer
            pos = torch.arange(0, idx.size(1), dtype=torch.long).unsqueeze(0)
            x = t.drop(t.wte(idx) + t.wpe(pos))
            for blk in t.h:
                x = blk(x)
            logits = self.lm_head(t.ln_f(x))
            return F.cross_entropy(logits.view(-1, logits.size(-1)), targets.view(-1))

    torch.manual_seed(0)
    model = GPT()
    decay = [p for n, p in model.named_parameters() if n.endswith("weight") and p.dim() >= 2]
    no_decay = [
        p for n, p in model.named_parameters() if not (n.endswith("weight") and p.dim() >= 2)
    ]
    optimizer = torch.optim.AdamW(
        [{"params": decay, "weight_decay": 0.1}, {"params": no_decay, "weight_decay": 0.0}],
        lr=5e-4,
        betas=(0.9, 0.95),
    )
    phase("built")
    for _ in range(steps):
        x = torch.randint(0, vocab, (batch, block))
        y = torch.randint(0, vocab, (batch, block))
        loss = model(x, y)
        model.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        loss.item()
        phase("step")


def cnn(torch, steps: int, phase) -> None:
    """The CNN of pytorch/examples' mnist (two convolutions, max pooling, dropout, two linear
    layers, log-softmax), batch 64 of 1x28x28, Adadelta as that example trains it."""
    nn = torch.nn
    F = nn.functional

    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv1 = nn.Conv2d(1, 32, 3, 1)
            self.conv2 = nn.Conv2d(32, 64, 3, 1)
            self.dropout1 = nn.Dropout(0.25)
            self.dropout2 = nn.Dropout(0.5)
            self.fc1 = nn.Linear(9216, 128)
            self.fc2 = nn.Linear(128, 10)

        def forward(self, x):
            x = F.relu(self.conv1(x))
            x = F.max_pool2d(F.relu(self.conv2(x)), 2)
            x = torch.flatten(self.dropout1(x), 1)
            x = self.dropout2(F.relu(self.fc1(x)))
            return F.log_softmax(self.fc2(x), dim=1)

    torch.manual_seed(0)
    model = Net()
    optimizer = torch.optim.Adadelta(model.parameters(), lr=1.0)
    phase("built")
    for _ in range(steps):
        data = torch.randn(64, 1, 28, 28)
        target = torch.randint(0, 10, (64,))
        optimizer.zero_grad()
        loss = F.nll_loss(model(data), target)
        loss.backward()
        optimizer.step()
        loss.item()
        phase("step")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--lib", choices=("tracegrad", "torch"), required=True)
    parser.add_argument("--model", choices=("gpt", "cnn"), required=True)
    parser.add_argument("--steps", type=int, default=2)
    args = parser.parse_args()
    marks: list = []

    def phase(name: str) -> None:
        marks.append((name, round(time.perf_counter() - _START, 3), dict(_COMPILES)))

    if args.lib == "tracegrad":
        _count_compiles()
    torch = importlib.import_module(args.lib)
    if args.lib == "torch":
        torch.set_num_threads(1)
    phase("import")
    {"gpt": gpt, "cnn": cnn}[args.model](torch, args.steps, phase)
    print(json.dumps({"lib": args.lib, "model": args.model, "phases": marks}))


if __name__ == "__main__":
    main()
