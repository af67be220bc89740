"""Train a small CNN on scikit-learn's bundled 8x8 handwritten digits, the PyTorch way.

Real data, no download: 1,797 images shipped with scikit-learn. The model (conv, batchnorm, relu,
pool, linear) and the loop (zero_grad, backward, step) are ordinary PyTorch code with
``import tracegrad as torch``. Prints per-epoch loss, test accuracy and seconds per epoch, and saves
a safetensors checkpoint that PyTorch can load.

With ``--compile`` the training step (forward, backward, optimizer step) runs as one XLA program
through ``tracegrad.compile``; the step function is the same either way.

Run: python examples/train_digits.py [--compile] [--epochs 15] [--checkpoint digits_cnn.safetensors]
"""

from __future__ import annotations

import argparse
import time

import numpy as np
from sklearn.datasets import load_digits
from tqdm import tqdm

import tracegrad as torch
import tracegrad.nn.functional as F
from tracegrad import nn, optim
from tracegrad.utils.data import DataLoader, TensorDataset


class DigitsCNN(nn.Module):
    """conv(1->16) - bn - relu - pool - conv(16->32) - bn - relu - pool - linear(128->10)."""

    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 16, kernel_size=3, padding=1)
        self.bn1 = nn.BatchNorm2d(16)
        self.conv2 = nn.Conv2d(16, 32, kernel_size=3, padding=1)
        self.bn2 = nn.BatchNorm2d(32)
        self.pool = nn.MaxPool2d(2)
        self.fc = nn.Linear(32 * 2 * 2, 10)

    def forward(self, x):
        x = self.pool(F.relu(self.bn1(self.conv1(x))))  # 16 x 4 x 4
        x = self.pool(F.relu(self.bn2(self.conv2(x))))  # 32 x 2 x 2
        return self.fc(torch.flatten(x, 1))


def load_data(seed: int = 0):
    """The digits as (N, 1, 8, 8) float tensors scaled to [0, 1], split 80/20 with a fixed seed."""
    digits = load_digits()
    images = (digits.images / 16.0).astype(np.float32)[:, None]
    labels = digits.target.astype(np.int64)
    order = np.random.default_rng(seed).permutation(len(labels))
    split = int(0.8 * len(labels))
    train, test = order[:split], order[split:]
    return (
        TensorDataset(torch.from_numpy(images[train]), torch.from_numpy(labels[train])),
        TensorDataset(torch.from_numpy(images[test]), torch.from_numpy(labels[test])),
    )


def evaluate(model: nn.Module, loader: DataLoader) -> float:
    model.eval()
    correct = total = 0
    with torch.no_grad():
        for images, labels in loader:
            correct += (model(images).argmax(dim=1) == labels).sum().item()
            total += labels.numel()
    model.train()
    return correct / total


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=15)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--lr", type=float, default=0.05)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--checkpoint", default="digits_cnn.safetensors")
    parser.add_argument("--no-progress", action="store_true", help="hide the tqdm progress bar")
    parser.add_argument(
        "--compile",
        action="store_true",
        help="run each training step as one XLA program (tracegrad.compile)",
    )
    parser.add_argument(
        "--no-compiled-backward",
        action="store_true",
        help="run backward() node by node instead of as one cached XLA executable",
    )
    args = parser.parse_args()
    torch.set_compiled_backward(not args.no_compiled_backward)

    torch.manual_seed(args.seed)
    train_set, test_set = load_data(args.seed)
    train_loader = DataLoader(train_set, batch_size=args.batch_size, shuffle=True, drop_last=True)
    test_loader = DataLoader(test_set, batch_size=256)

    model = DigitsCNN()
    optimizer = optim.SGD(model.parameters(), lr=args.lr, momentum=0.9, weight_decay=1e-4)
    scheduler = optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=args.epochs)
    criterion = nn.CrossEntropyLoss()
    print(model)
    print(f"train {len(train_set)} images, test {len(test_set)} images")

    def train_step(images, labels):
        optimizer.zero_grad()
        loss = criterion(model(images), labels)
        loss.backward()
        optimizer.step()
        return loss

    if args.compile:
        train_step = torch.compile(train_step)

    accuracy = 0.0
    for epoch in range(1, args.epochs + 1):
        start = time.perf_counter()
        running, batches = 0.0, 0
        for images, labels in tqdm(
            train_loader, desc=f"epoch {epoch}", leave=False, disable=args.no_progress
        ):
            running += train_step(images, labels).item()
            batches += 1
        scheduler.step()
        seconds = time.perf_counter() - start
        accuracy = evaluate(model, test_loader)
        print(
            f"epoch {epoch:2d}  loss {running / batches:.4f}  test accuracy {accuracy:.2%}  "
            f"{seconds:.2f} s/epoch"
        )

    torch.save(model.state_dict(), args.checkpoint)
    print(f"final test accuracy {accuracy:.2%}; checkpoint saved to {args.checkpoint}")


if __name__ == "__main__":
    main()
