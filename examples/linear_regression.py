"""Fit y = 2x + 1 with nn.Linear, nn.MSELoss and optim.SGD: the seed notebooks' training loop.

Run: python examples/linear_regression.py
"""

import tracegrad as torch
from tracegrad import nn, optim


def main(epochs: int = 200) -> None:
    torch.manual_seed(0)
    x = torch.linspace(-1, 1, 64).unsqueeze(1)
    y = 2 * x + 1 + 0.05 * torch.randn(64, 1)

    model = nn.Linear(1, 1)
    criterion = nn.MSELoss()
    optimizer = optim.SGD(model.parameters(), lr=0.1)

    for epoch in range(1, epochs + 1):
        optimizer.zero_grad()
        loss = criterion(model(x), y)
        loss.backward()
        optimizer.step()
        if epoch % 40 == 0 or epoch == 1:
            print(f"epoch {epoch:3d}  loss {loss.item():.5f}")

    w, b = model.weight.item(), model.bias.item()
    print(f"learned y = {w:.3f} x + {b:.3f}  (true: y = 2x + 1)")


if __name__ == "__main__":
    main()
