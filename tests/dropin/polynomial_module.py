"""PyTorch: Custom nn Modules -- a Module subclass with four Parameters, trained with optim.SGD.

Source: pytorch/tutorials, beginner_source/examples_nn/polynomial_module.py
("Learning PyTorch with Examples").
Adaptation: the four Parameters start from numpy draws instead of torch.randn(()).
"""

import math

import torch
from dropin_support import emit, rng

gen = rng(3)


class Polynomial3(torch.nn.Module):
    def __init__(self):
        """
        In the constructor we instantiate four parameters and assign them as
        member parameters.
        """
        super().__init__()
        self.a = torch.nn.Parameter(torch.tensor(gen.standard_normal(), dtype=torch.float32))
        self.b = torch.nn.Parameter(torch.tensor(gen.standard_normal(), dtype=torch.float32))
        self.c = torch.nn.Parameter(torch.tensor(gen.standard_normal(), dtype=torch.float32))
        self.d = torch.nn.Parameter(torch.tensor(gen.standard_normal(), dtype=torch.float32))

    def forward(self, x):
        """
        In the forward function we accept a Tensor of input data and we must return
        a Tensor of output data. We can use Modules defined in the constructor as
        well as arbitrary operators on Tensors.
        """
        return self.a + self.b * x + self.c * x**2 + self.d * x**3

    def string(self):
        """
        Just like any class in Python, you can also define custom method on PyTorch modules
        """
        return (
            f"y = {self.a.item()} + {self.b.item()} x + {self.c.item()} x^2 + {self.d.item()} x^3"
        )


# Create Tensors to hold input and outputs.
x = torch.linspace(-math.pi, math.pi, 2000)
y = torch.sin(x)

# Construct our model by instantiating the class defined above
model = Polynomial3()

# Construct our loss function and an Optimizer. The call to model.parameters()
# in the SGD constructor will contain the learnable parameters (defined
# with torch.nn.Parameter) which are members of the model.
criterion = torch.nn.MSELoss(reduction="sum")
optimizer = torch.optim.SGD(model.parameters(), lr=1e-6)
losses = []
for t in range(2000):
    # Forward pass: Compute predicted y by passing x to the model
    y_pred = model(x)

    # Compute and print loss
    loss = criterion(y_pred, y)
    if t % 100 == 99:
        print(t, loss.item())
        losses.append(loss.item())

    # Zero gradients, perform a backward pass, and update the weights.
    optimizer.zero_grad()
    loss.backward()
    optimizer.step()

print(f"Result: {model.string()}")
emit({"losses": losses, "parameters": {n: p.item() for n, p in model.named_parameters()}})
