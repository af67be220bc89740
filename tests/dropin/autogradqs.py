"""Automatic Differentiation with torch.autograd (Learn the Basics).

Source: pytorch/tutorials, beginner_source/basics/autogradqs_tutorial.py.
Adaptation: w and b are drawn from numpy instead of torch.randn.
"""

import torch
from dropin_support import emit, rng, values

gen = rng(4)

x = torch.ones(5)  # input tensor
y = torch.zeros(3)  # expected output
w = torch.tensor(gen.standard_normal((5, 3)), dtype=torch.float32, requires_grad=True)
b = torch.tensor(gen.standard_normal(3), dtype=torch.float32, requires_grad=True)
z = torch.matmul(x, w) + b
loss = torch.nn.functional.binary_cross_entropy_with_logits(z, y)

print(f"Gradient function for z = {z.grad_fn}")
print(f"Gradient function for loss = {loss.grad_fn}")

loss.backward()
print(w.grad)
print(b.grad)
results = {"loss": loss.item(), "w.grad": values(w.grad), "b.grad": values(b.grad)}
# What the prints above show: "<AddBackward0 object at 0x...>".
results["grad_fns"] = [repr(z.grad_fn).split()[0], repr(loss.grad_fn).split()[0]]

z = torch.matmul(x, w) + b
print(z.requires_grad)
results["requires_grad"] = [z.requires_grad]

with torch.no_grad():
    z = torch.matmul(x, w) + b
print(z.requires_grad)
results["requires_grad"].append(z.requires_grad)

z = torch.matmul(x, w) + b
z_det = z.detach()
print(z_det.requires_grad)
results["requires_grad"].append(z_det.requires_grad)

inp = torch.eye(4, 5, requires_grad=True)
out = (inp + 1).pow(2).t()
out.backward(torch.ones_like(out), retain_graph=True)
print(f"First call\n{inp.grad}")
results["first call"] = values(inp.grad)
out.backward(torch.ones_like(out), retain_graph=True)
print(f"\nSecond call\n{inp.grad}")
results["second call"] = values(inp.grad)
inp.grad.zero_()
out.backward(torch.ones_like(out), retain_graph=True)
print(f"\nCall after zeroing gradients\n{inp.grad}")
results["after zeroing"] = values(inp.grad)
emit(results)
