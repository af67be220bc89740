"""Why did it compile? A small MLP trained with tracegrad.compile, whose last batch is smaller.

Each compile logs its call site and reason (logger "tracegrad.compile" at INFO, the same as
TRACEGRAD_LOG_COMPILES=1); at the end the step's explain() reports every compile and the ops per
module. Run: python examples/compile_reasons.py
"""

from __future__ import annotations

import logging

import numpy as np

import tracegrad as torch
import tracegrad.nn as nn
import tracegrad.nn.functional as F

logging.basicConfig(level=logging.INFO, format="%(message)s")


class MLP(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.body = nn.Sequential(nn.Linear(10, 32), nn.ReLU(), nn.Linear(32, 3))

    def forward(self, x):
        return self.body(x)


torch.manual_seed(0)
model = MLP()
optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)


@torch.compile
def train_step(x, y):
    optimizer.zero_grad()
    loss = F.cross_entropy(model(x), y)
    loss.backward()
    optimizer.step()
    return loss


rng = np.random.default_rng(0)
data = rng.standard_normal((224, 10)).astype(np.float32)
labels = (data[:, 0] > 0).astype(np.int64) + (data[:, 1] > 0).astype(np.int64)
for step, start in enumerate(range(0, len(data), 48)):  # 48, 48, 48, 48, then a batch of 32
    x, y = torch.tensor(data[start : start + 48]), torch.tensor(labels[start : start + 48])
    loss = train_step(x, y)
    print(f"step {step}: batch {len(x)}, loss {loss.item():.4f}")

print()
print(train_step.explain())
