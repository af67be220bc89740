"""PyTorch: Tensors -- a third-order polynomial fitted to sin(x) with hand-written gradients.

Source: pytorch/tutorials, beginner_source/examples_tensor/polynomial_tensor.py
("Learning PyTorch with Examples").
Adaptation: the four random weights are drawn from numpy (dropin_support) instead of torch.randn.
"""

import math

import torch
from dropin_support import emit, rng

gen = rng(0)

dtype = torch.float
device = torch.device("cpu")
# device = torch.device("cuda:0") # Uncomment this to run on GPU

# Create random input and output data
x = torch.linspace(-math.pi, math.pi, 2000, device=device, dtype=dtype)
y = torch.sin(x)

# Randomly initialize weights
a = torch.tensor(gen.standard_normal(), device=device, dtype=dtype)
b = torch.tensor(gen.standard_normal(), device=device, dtype=dtype)
c = torch.tensor(gen.standard_normal(), device=device, dtype=dtype)
d = torch.tensor(gen.standard_normal(), device=device, dtype=dtype)

losses = []
learning_rate = 1e-6
for t in range(2000):
    # Forward pass: compute predicted y
    y_pred = a + (b * x) + (c * x.pow(2)) + (d * x.pow(3))

    # Compute and print loss
    loss = (y_pred - y).pow(2).sum().item()
    if t % 100 == 99:
        print(t, loss)
        losses.append(loss)

    # Backprop to compute gradients of a, b, c, d with respect to loss
    grad_y_pred = -2.0 * (y - y_pred)
    grad_a = grad_y_pred.sum()
    grad_b = torch.matmul(input=grad_y_pred, other=x).sum()
    grad_c = torch.matmul(input=grad_y_pred, other=x.pow(2)).sum()
    grad_d = torch.matmul(input=grad_y_pred, other=x.pow(3)).sum()

    # Update weights using gradient descent
    a -= learning_rate * grad_a
    b -= learning_rate * grad_b
    c -= learning_rate * grad_c
    d -= learning_rate * grad_d


print(f"Result: y = {a.item()} + {b.item()} x + {c.item()} x^2 + {d.item()} x^3")
emit({"losses": losses, "coefficients": [a.item(), b.item(), c.item(), d.item()]})
