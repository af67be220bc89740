"""LeNet-5's forward pass from ``F.conv2d`` and ``F.max_pool2d``, then one backward pass.

The 1998 architecture on 32x32 grey images: conv 5x5 (1 -> 6), pool 2x2, conv 5x5 (6 -> 16),
pool 2x2, then three fully connected layers 400 -> 120 -> 84 -> 10. The parameters are plain
leaf tensors (random, scaled by 0.1) with ``requires_grad=True``; the loss is the sum of squares
of the outputs. The script prints the activations' shapes and every parameter gradient's shape.
Run with ``python examples/lenet_forward.py``.
"""

import tracegrad as torch
import tracegrad.nn.functional as F

torch.manual_seed(0)


def param(*shape):
    return (torch.randn(*shape) * 0.1).requires_grad_()


params = {
    "conv1.weight": param(6, 1, 5, 5),
    "conv1.bias": param(6),
    "conv2.weight": param(16, 6, 5, 5),
    "conv2.bias": param(16),
    "fc1.weight": param(120, 400),
    "fc1.bias": param(120),
    "fc2.weight": param(84, 120),
    "fc2.bias": param(84),
    "fc3.weight": param(10, 84),
    "fc3.bias": param(10),
}


def linear(x, name):
    return x @ params[f"{name}.weight"].t() + params[f"{name}.bias"]


def lenet(x):
    x = F.relu(F.conv2d(x, params["conv1.weight"], params["conv1.bias"]))  # (N, 6, 28, 28)
    x = F.max_pool2d(x, 2)  # (N, 6, 14, 14)
    print("after conv1 + pool:", tuple(x.shape))
    x = F.relu(F.conv2d(x, params["conv2.weight"], params["conv2.bias"]))  # (N, 16, 10, 10)
    x = F.max_pool2d(x, 2)  # (N, 16, 5, 5)
    print("after conv2 + pool:", tuple(x.shape))
    x = x.flatten(1)  # (N, 400)
    x = F.relu(linear(x, "fc1"))
    x = F.relu(linear(x, "fc2"))
    return linear(x, "fc3")  # (N, 10)


images = torch.randn(8, 1, 32, 32)
out = lenet(images)
print("output:", tuple(out.shape), "grad_fn:", out.grad_fn.name())
loss = (out**2).sum()
loss.backward()
print(f"loss = {loss.item():.4f}")
for name, p in params.items():
    print(f"{name:13s} grad shape {tuple(p.grad.shape)}")
