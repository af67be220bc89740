"""Per-sample gradients with tracegrad.vmap, and DP-SGD on them (clip each sample's gradient,
add noise, average).

The per-sample function computes one sample's loss and takes its gradient with
``tracegrad.autograd.grad``; ``vmap`` runs it once on batched values (tracegrad's own gradient
rules, batched by ``jax.vmap``), so a batch of 64 per-sample gradients costs one pass instead of
64. The data are random "digits": ten fixed 8x8 templates plus noise.

Run: python examples/per_sample_grads.py [--steps 60]
"""

import argparse

import numpy as np

import tracegrad as torch
from tracegrad import nn
from tracegrad.nn import functional as F


def make_data(n: int, seed: int = 0):
    """``n`` noisy 8x8 images of ten random templates, flattened, and their labels."""
    rng = np.random.default_rng(seed)
    templates = rng.uniform(0, 1, size=(10, 64)) > 0.6
    labels = rng.integers(0, 10, size=n)
    images = templates[labels] + 0.4 * rng.standard_normal((n, 64))
    return torch.tensor(images, dtype=torch.float32), torch.tensor(labels)


def main(steps: int = 60, batch: int = 64, clip: float = 1.0, noise: float = 0.5) -> None:
    torch.manual_seed(0)
    x, y = make_data(1024)
    model = nn.Sequential(nn.Linear(64, 32), nn.Tanh(), nn.Linear(32, 10))
    params = list(model.parameters())

    def sample_grads(xi, yi):
        """One sample's gradient of its loss with respect to every parameter."""
        loss = F.cross_entropy(model(xi.unsqueeze(0)), yi.unsqueeze(0))
        return torch.autograd.grad(loss, params)

    def clipped_sample_grads(xi, yi):
        """DP-SGD's clipping, per sample: scale the gradient to norm at most ``clip``."""
        grads = sample_grads(xi, yi)
        norm = torch.sqrt(sum((g**2).sum() for g in grads))
        factor = torch.clamp(clip / (norm + 1e-6), max=1.0)
        return tuple(g * factor for g in grads)

    # The vmapped gradients against a Python loop over the same samples.
    xb, yb = x[:8], y[:8]
    batched = torch.vmap(sample_grads)(xb, yb)
    looped = [sample_grads(xb[i], yb[i]) for i in range(8)]
    same = all(
        torch.allclose(batched[j][i], looped[i][j], rtol=1e-5, atol=1e-6)
        for i in range(8)
        for j in range(len(params))
    )
    print(f"per-sample gradients match a loop: {same}")
    print("per-sample gradient shapes:", [tuple(g.shape) for g in batched])

    clipped = torch.vmap(clipped_sample_grads)(x[:batch], y[:batch])
    norms = torch.sqrt(sum((g**2).flatten(1).sum(1) for g in clipped))
    print(f"every clipped per-sample gradient norm <= {clip}: {bool((norms <= clip + 1e-5).all())}")

    lr = 0.5
    for step in range(1, steps + 1):
        idx = torch.randint(0, x.shape[0], (batch,))
        grads = torch.vmap(clipped_sample_grads)(x[idx], y[idx])
        with torch.no_grad():
            for p, g in zip(params, grads):
                noisy = g.sum(0) + noise * clip * torch.randn(p.shape)
                p -= lr * noisy / batch
        if step == 1 or step % 20 == 0:
            with torch.no_grad():
                logits = model(x)
                loss = F.cross_entropy(logits, y).item()
                accuracy = (logits.argmax(1) == y).float().mean().item()
            print(f"step {step:3d}  loss {loss:.3f}  accuracy {accuracy:.1%}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=60)
    main(parser.parse_args().steps)
