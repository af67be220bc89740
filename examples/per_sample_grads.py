"""Per-sample gradients of a small CNN on the 8x8 digits with tracegrad.func, and DP-SGD on them.

PyTorch's per-sample-gradients tutorial, with ``import tracegrad as torch``: the model's
parameters are taken out as a dict of detached tensors, ``compute_loss(params, buffers, sample,
target)`` runs the model on one sample (``unsqueeze(0)``) through ``functional_call``,
``grad(compute_loss)`` differentiates it with respect to ``params`` and
``vmap(..., in_dims=(None, None, 0, 0))`` maps that over a batch of samples and targets. The
result is checked against a Python loop of ordinary per-sample ``backward()`` calls.

Then DP-SGD (Abadi et al. 2016) on top: each sample's gradient is clipped to norm ``--clip``, the
clipped gradients are summed, Gaussian noise of standard deviation ``--noise * --clip`` is added,
and the sum is divided by the batch size before the SGD update. A few epochs on scikit-learn's
bundled digits (1,797 images, no download) print the train and test accuracy.

Run: python examples/per_sample_grads.py [--epochs 10] [--batch-size 64] [--clip 1.0] [--noise 1.0]
"""

from __future__ import annotations

import argparse
import time

import numpy as np
from sklearn.datasets import load_digits

import tracegrad as torch
import tracegrad.nn.functional as F
from tracegrad import nn
from tracegrad.func import functional_call, grad, vmap


class SmallCNN(nn.Module):
    """conv(1->8) - relu - pool - conv(8->16) - relu - pool - linear(64->10). No BatchNorm: it
    mixes samples in a batch, so a per-sample gradient (and DP-SGD) is not defined for it."""

    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 8, kernel_size=3, padding=1)
        self.conv2 = nn.Conv2d(8, 16, kernel_size=3, padding=1)
        self.pool = nn.MaxPool2d(2)
        self.fc = nn.Linear(16 * 2 * 2, 10)

    def forward(self, x):
        x = self.pool(F.relu(self.conv1(x)))  # 8 x 4 x 4
        x = self.pool(F.relu(self.conv2(x)))  # 16 x 2 x 2
        return self.fc(torch.flatten(x, 1))


def load_data(seed: int = 0):
    """The digits as (N, 1, 8, 8) float tensors scaled to [0, 1], split 80/20 with a fixed seed
    (as examples/train_digits.py splits them)."""
    digits = load_digits()
    images = (digits.images / 16.0).astype(np.float32)[:, None]
    labels = digits.target.astype(np.int64)
    order = np.random.default_rng(seed).permutation(len(labels))
    split = int(0.8 * len(labels))
    train, test = order[:split], order[split:]
    return (
        (torch.from_numpy(images[train]), torch.from_numpy(labels[train])),
        (torch.from_numpy(images[test]), torch.from_numpy(labels[test])),
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--lr", type=float, default=2.0)
    parser.add_argument("--clip", type=float, default=1.0, help="per-sample gradient norm bound C")
    parser.add_argument("--noise", type=float, default=1.0, help="noise multiplier sigma")
    parser.add_argument("--check", type=int, default=16, help="samples checked against a loop")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    torch.manual_seed(args.seed)
    (x_train, y_train), (x_test, y_test) = load_data(args.seed)
    model = SmallCNN()

    # --- per-sample gradients, the torch.func way --------------------------------------------
    params = {k: v.detach() for k, v in model.named_parameters()}
    buffers = {k: v.detach() for k, v in model.named_buffers()}

    def compute_loss(params, buffers, sample, target):
        batch = sample.unsqueeze(0)
        targets = target.unsqueeze(0)
        predictions = functional_call(model, (params, buffers), (batch,))
        return F.cross_entropy(predictions, targets)

    ft_compute_grad = grad(compute_loss)
    ft_compute_sample_grad = vmap(ft_compute_grad, in_dims=(None, None, 0, 0))

    data, targets = x_train[: args.check], y_train[: args.check]
    ft_per_sample_grads = ft_compute_sample_grad(params, buffers, data, targets)

    # The same gradients from a Python loop: one forward and backward() per sample.
    loop_grads = {k: [] for k in params}
    for i in range(args.check):
        model.zero_grad()
        F.cross_entropy(model(data[i].unsqueeze(0)), targets[i].unsqueeze(0)).backward()
        for k, p in model.named_parameters():
            loop_grads[k].append(p.grad.clone())
    diff = max(
        (ft_per_sample_grads[k] - torch.stack(loop_grads[k])).abs().max().item() for k in params
    )
    same = all(
        torch.allclose(ft_per_sample_grads[k], torch.stack(loop_grads[k]), rtol=1e-4, atol=1e-6)
        for k in params
    )
    print(
        "per-sample gradient shapes:", {k: tuple(g.shape) for k, g in ft_per_sample_grads.items()}
    )
    print(f"max |vmap(grad) - loop of backward()| over {args.check} samples: {diff:.2e}")
    print(f"per-sample gradients match a loop: {same}")

    # --- DP-SGD ---------------------------------------------------------------------------------
    clip, sigma, lr = args.clip, args.noise, args.lr

    # An eager vmap traces the mapped function on every call (about 9 s an epoch here), so the
    # whole DP-SGD step (per-sample gradients, clipping, noise, update) runs as one compiled XLA
    # program (about 0.4 s an epoch): traced once, then reused for every batch of the same shape
    # (the last, smaller batch of an epoch is dropped so that the shape never changes).
    @torch.compile
    def dp_sgd_step(params, images, labels):
        grads = ft_compute_sample_grad(params, buffers, images, labels)
        # Each sample's norm over all its parameters' gradients, then a factor <= 1 per sample.
        norms = torch.sqrt(sum((g**2).flatten(1).sum(1) for g in grads.values()))
        factor = torch.clamp(clip / (norms + 1e-6), max=1.0)
        new_params = {}
        for k, p in params.items():
            clipped = grads[k] * factor.reshape(-1, *[1] * (grads[k].dim() - 1))
            noisy = clipped.sum(0) + sigma * clip * torch.randn(p.shape)
            new_params[k] = p - lr * noisy / images.shape[0]
        return new_params, norms.max()

    def accuracy(params, images, labels) -> float:
        with torch.no_grad():
            logits = functional_call(model, (params, buffers), (images,))
        return (logits.argmax(1) == labels).float().mean().item()

    n, b = x_train.shape[0], args.batch_size
    print(f"DP-SGD: clip C = {clip}, noise sigma = {sigma}, batch {b}, lr {lr}")
    start = time.perf_counter()
    for epoch in range(1, args.epochs + 1):
        order = torch.randperm(n)
        for i in range(0, n - b + 1, b):
            idx = order[i : i + b]
            params, largest = dp_sgd_step(params, x_train[idx], y_train[idx])
        print(
            f"epoch {epoch}  train accuracy {accuracy(params, x_train, y_train):.1%}  "
            f"test accuracy {accuracy(params, x_test, y_test):.1%}  "
            f"(largest per-sample gradient norm before clipping {largest.item():.2f})"
        )
    print(f"DP-SGD training took {time.perf_counter() - start:.1f} s")
    print(f"final test accuracy {accuracy(params, x_test, y_test):.1%}")


if __name__ == "__main__":
    main()
