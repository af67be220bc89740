"""PyTorch: Tensors and autograd -- the same polynomial, gradients from ``loss.backward()``.

Source: pytorch/tutorials, beginner_source/examples_autograd/polynomial_autograd.py
("Learning PyTorch with Examples"), as it stood before its accelerator edit: the current version
ends each step with ``a.grad, b.grad, ... = 0., 0., ...``, which PyTorch 2.13 itself rejects
("assigned grad expected to be a Tensor or None"). The accelerator start-up is covered by
quickstart.py.
Adaptation: the four random weights are drawn from numpy (dropin_support) instead of torch.randn.
"""

import math

import torch
from dropin_support import emit, rng

gen = rng(1)

dtype = torch.float
device = torch.device("cpu")
# device = torch.device("cuda:0")  # Uncomment this to run on GPU

# Create Tensors to hold input and outputs.
# By default, requires_grad=False, which indicates that we do not need to
# compute gradients with respect to these Tensors during the backward pass.
x = torch.linspace(-math.pi, math.pi, 2000, device=device, dtype=dtype)
y = torch.sin(x)

# Create random Tensors for weights. For a third order polynomial, we need
# 4 weights: y = a + b x + c x^2 + d x^3
# Setting requires_grad=True indicates that we want to compute gradients with
# respect to these Tensors during the backward pass.
a = torch.tensor(gen.standard_normal(), device=device, dtype=dtype, requires_grad=True)
b = torch.tensor(gen.standard_normal(), device=device, dtype=dtype, requires_grad=True)
c = torch.tensor(gen.standard_normal(), device=device, dtype=dtype, requires_grad=True)
d = torch.tensor(gen.standard_normal(), device=device, dtype=dtype, requires_grad=True)

losses = []
learning_rate = 1e-6
for t in range(2000):
    # Forward pass: compute predicted y using operations on Tensors.
    y_pred = a + b * x + c * x**2 + d * x**3

    # Compute and print loss using operations on Tensors.
    # Now loss is a Tensor of shape (1,)
    # loss.item() gets the scalar value held in the loss.
    loss = (y_pred - y).pow(2).sum()
    if t % 100 == 99:
        print(t, loss.item())
        losses.append(loss.item())

    # Use autograd to compute the backward pass. This call will compute the
    # gradient of loss with respect to all Tensors with requires_grad=True.
    # After this call a.grad, b.grad. c.grad and d.grad will be Tensors holding
    # the gradient of the loss with respect to a, b, c, d respectively.
    loss.backward()

    # Manually update weights using gradient descent. Wrap in torch.no_grad()
    # because weights have requires_grad=True, but we don't need to track this
    # in autograd.
    with torch.no_grad():
        a -= learning_rate * a.grad
        b -= learning_rate * b.grad
        c -= learning_rate * c.grad
        d -= learning_rate * d.grad

        # Manually zero the gradients after updating weights
        a.grad = None
        b.grad = None
        c.grad = None
        d.grad = None

print(f"Result: y = {a.item()} + {b.item()} x + {c.item()} x^2 + {d.item()} x^3")
emit({"losses": losses, "coefficients": [a.item(), b.item(), c.item(), d.item()]})
