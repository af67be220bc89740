"""The seed notebooks: PyTorch's introductory autograd examples, run unchanged on tracegrad.

Each section prints what PyTorch prints for the same code. Run with ``python
examples/seed_notebooks.py``; it takes a few seconds.
"""

import tracegrad as torch


def heading(title: str) -> None:
    print(f"\n=== {title} ===")


# ----------------------------------------------------------------------------------------------
heading("1. ones(3, 3) -> * 2 -> ** 3 -> sum")
x = torch.ones(3, 3, requires_grad=True)
y = x * 2
z = y**3
out = z.sum()
print("out =", out)
out.backward()
print("x.grad =", x.grad)  # d/dx sum((2x)^3) = 3 (2x)^2 * 2 = 24 at x = 1
print("grad_fns:", y.grad_fn.name(), z.grad_fn.name(), out.grad_fn.name())

heading("1b. the 60-minute blitz: out = mean(3 (x + 2)^2)")
x = torch.ones(2, 2, requires_grad=True)
y = x + 2
print("y =", y)
print("y.grad_fn =", y.grad_fn)
z = y * y * 3
out = z.mean()
print("z =", z)
print("out =", out)
out.backward()
print("x.grad =", x.grad)  # 6 (x + 2) / 4 = 4.5

# ----------------------------------------------------------------------------------------------
heading("2. vector-Jacobian product: double y until its norm reaches 1000")
torch.manual_seed(0)
x = torch.randn(3, requires_grad=True)
y = x * 2
k = 0
while y.data.norm() < 1000:
    y = y * 2
    k += 1
print("y =", y)
v = torch.tensor([0.1, 1.0, 0.0001], dtype=torch.float)
y.backward(v)
# y = 2**(k+1) x, so the Jacobian is 2**(k+1) I and x.grad = 2**(k+1) v exactly.
print(f"doublings k = {k}, so y = 2**{k + 1} * x")
print("x.grad =", x.grad)
print("x.grad == 2**(k+1) * v:", bool((x.grad == v * 2 ** (k + 1)).all()))

# ----------------------------------------------------------------------------------------------
heading("3. a neuron: z = w * x + b, L = z ** 2 at w=2, x=5, b=1")
w = torch.tensor(2.0, requires_grad=True)
x = torch.tensor(5.0)
b = torch.tensor(1.0, requires_grad=True)
z = w * x + b
L = z**2
L.backward()
print("L =", L.item())  # 121
print("dL/dw =", w.grad.item())  # 2 z x = 110
print("dL/db =", b.grad.item())  # 2 z = 22

# ----------------------------------------------------------------------------------------------
heading("4. broadcasting: z = x * y + y ** 2 with x (3,) and y (2, 1)")
x = torch.tensor([1.0, 2.0, 3.0], requires_grad=True)
y = torch.tensor([[4.0], [5.0]], requires_grad=True)
z = x * y + y**2
z.retain_grad()
z.sum().backward()
print("z =", z)
print("x.grad =", x.grad)  # y summed over rows: 9
print("y.grad =", y.grad)  # sum(x) + 2 * 3 y: 30, 36
print("z.grad =", z.grad)

# ----------------------------------------------------------------------------------------------
heading("5. grad modes and the graph")
x = torch.ones(2, requires_grad=True)
print("(x * 2).requires_grad =", (x * 2).requires_grad)
with torch.no_grad():
    print("under no_grad: (x * 2).requires_grad =", (x * 2).requires_grad)
print("x.detach().requires_grad =", x.detach().requires_grad)
y = x * 2
print("y.grad_fn =", y.grad_fn)
print("y.grad_fn.next_functions =", y.grad_fn.next_functions)
