"""Hessians with tracegrad.func: the Hessian of a small MLP's loss, and Newton's method on a
quadratic (which it solves in one step).

    python examples/hessian_newton.py
"""

from __future__ import annotations

import tracegrad as torch
from tracegrad.func import functional_call, grad, hessian

torch.manual_seed(0)

# --- Newton's method on f(x) = 1/2 x^T A x - b^T x + 1/4 |x|^4 ---------------------------------
A = torch.tensor([[3.0, 1.0], [1.0, 2.0]], dtype=torch.float64)
b = torch.tensor([1.0, -1.0], dtype=torch.float64)


def f(x):
    return 0.5 * x @ A @ x - b @ x + 0.25 * (x @ x) ** 2


x = torch.tensor([2.0, 2.0], dtype=torch.float64)
for step in range(6):
    g, H = grad(f)(x), hessian(f)(x)
    x = x - torch.linalg.solve(H, g)
    print(f"newton step {step}: x = {x.tolist()}, |grad| = {grad(f)(x).norm().item():.3e}")

# On the pure quadratic, one Newton step lands on the solution of A x = b.
q = lambda x: 0.5 * x @ A @ x - b @ x  # noqa: E731
x0 = torch.zeros(2, dtype=torch.float64)
x1 = x0 - torch.linalg.solve(hessian(q)(x0), grad(q)(x0))
print(f"quadratic: one step gives {x1.tolist()}, A^-1 b = {torch.linalg.solve(A, b).tolist()}")

# --- the Hessian of a small MLP's loss with respect to its first layer's weight ------------------
model = torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.Tanh(), torch.nn.Linear(4, 1)).double()
data, target = torch.randn(8, 3, dtype=torch.float64), torch.randn(8, 1, dtype=torch.float64)
params = {k: v.detach() for k, v in model.named_parameters()}


def loss(w):
    out = functional_call(model, {**params, "0.weight": w}, (data,))
    return ((out - target) ** 2).mean()


H = hessian(loss)(params["0.weight"])
print(f"MLP loss Hessian w.r.t. 0.weight: shape {tuple(H.shape)}")
Hm = H.reshape(12, 12)
print(
    f"symmetric: {torch.allclose(Hm, Hm.T)}, eigenvalues in [{torch.linalg.eigvalsh(Hm).min().item():.4f}, {torch.linalg.eigvalsh(Hm).max().item():.4f}]"
)
