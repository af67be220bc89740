"""Draw autograd graphs: the seed notes' two small graphs and a small CNN, collapsed by module.

    python examples/draw_graphs.py               # prints text trees and a Mermaid chart
    python examples/draw_graphs.py --out DIR     # also writes DIR/<name>.dot and, with Graphviz
                                                 # installed, DIR/<name>.svg

docs/viz.md shows the pictures this script writes with ``--out docs/images/viz``.
"""

from __future__ import annotations

import argparse
import pathlib
import shutil

import tracegrad as torch
import tracegrad.nn as nn
import tracegrad.nn.functional as F
from tracegrad.viz import make_dot, to_mermaid, tree


def seed_graph():
    """``z = x * y + y**2``, keeping the gradient of the product ``xy``."""
    x = torch.tensor([1.0, 2.0], requires_grad=True)
    y = torch.tensor([3.0, 4.0], requires_grad=True)
    xy = x * y
    xy.retain_grad()
    z = xy + y**2
    return z, dict(x=x, y=y, xy=xy, z=z)


def linear_model():
    """The loss of one point for the line ``w * x + b``: ``L = (w*x + b)**2``."""
    w = torch.tensor(2.0, requires_grad=True)
    b = torch.tensor(1.0, requires_grad=True)
    x = torch.tensor(5.0)
    L = (w * x + b) ** 2
    return L, dict(w=w, b=b, x=x, L=L)


class ConvBlock(nn.Module):
    def __init__(self, cin: int, cout: int):
        super().__init__()
        self.conv = nn.Conv2d(cin, cout, 3, padding=1)
        self.bn = nn.BatchNorm2d(cout)
        self.pool = nn.MaxPool2d(2)

    def forward(self, x):
        return self.pool(F.relu(self.bn(self.conv(x))))


class SmallCNN(nn.Module):
    def __init__(self):
        super().__init__()
        self.features = nn.Sequential(ConvBlock(1, 8), ConvBlock(8, 16))
        self.classifier = nn.Linear(16 * 2 * 2, 10)

    def forward(self, x):
        return self.classifier(self.features(x).flatten(1))


def cnn_loss():
    torch.manual_seed(0)
    model = SmallCNN()
    images, labels = torch.randn(4, 1, 8, 8), torch.tensor([3, 1, 4, 1])
    loss = F.cross_entropy(model(images), labels)
    return loss, dict(model.named_parameters())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=pathlib.Path, help="directory for .dot and .svg files")
    args = parser.parse_args()

    z, names = seed_graph()
    loss, params = cnn_loss()
    L, lin_names = linear_model()
    pictures = {
        "seed_graph": make_dot(z, names, show_saved=True),
        "linear_model": make_dot(L, lin_names),
        "small_cnn": make_dot(loss, params),
        "small_cnn_by_module": make_dot(loss, params, depth=2),
    }

    print("z = x * y + y**2, with xy.retain_grad():")
    print(tree(z, names, show_saved=True))
    print("L = (w*x + b)**2 as Mermaid:")
    print(to_mermaid(L, lin_names))
    print("A small CNN, each ConvBlock drawn as one box (depth=2):")
    print(tree(loss, params, depth=2))
    boxes = pictures["small_cnn_by_module"].source.count("label=")
    print(f"boxes: {pictures['small_cnn'].source.count('label=')} drawn in full, {boxes} by module")

    if args.out is not None:
        args.out.mkdir(parents=True, exist_ok=True)
        render = shutil.which("dot") is not None
        for name, dot in pictures.items():
            dot.save(f"{name}.dot", str(args.out))
            if render:
                svg = dot.pipe(format="svg", encoding="utf-8")
                (args.out / f"{name}.svg").write_text(svg, encoding="utf-8")
        print(f"wrote {len(pictures)} pictures to {args.out}" + ("" if render else " (DOT only)"))


if __name__ == "__main__":
    main()
