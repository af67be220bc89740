"""Neural Networks (60 Minute Blitz): LeNet, backward with a given gradient, MSELoss, optim.SGD.

Source: pytorch/tutorials, beginner_source/blitz/neural_networks_tutorial.py.
Adaptation: the initial weights (load_state_dict), the input and the backward's gradient are drawn
from numpy instead of torch's RNG.
"""

# The original's spelling is kept (super(Net, self), % and .format, late imports).
# ruff: noqa: UP008, UP031, UP032, E402, B007

import torch
import torch.nn as nn
import torch.nn.functional as F
from dropin_support import emit, numpy_state, rng, tensor, values

gen = rng(5)


class Net(nn.Module):
    def __init__(self):
        super(Net, self).__init__()
        # 1 input image channel, 6 output channels, 5x5 square convolution
        # kernel
        self.conv1 = nn.Conv2d(1, 6, 5)
        self.conv2 = nn.Conv2d(6, 16, 5)
        # an affine operation: y = Wx + b
        self.fc1 = nn.Linear(16 * 5 * 5, 120)
        self.fc2 = nn.Linear(120, 84)
        self.fc3 = nn.Linear(84, 10)

    def forward(self, x):
        # Max pooling over a (2, 2) window
        x = F.max_pool2d(F.relu(self.conv1(x)), (2, 2))
        # If the size is a square you can only specify a single number
        x = F.max_pool2d(F.relu(self.conv2(x)), 2)
        x = x.view(-1, self.num_flat_features(x))
        x = F.relu(self.fc1(x))
        x = F.relu(self.fc2(x))
        x = self.fc3(x)
        return x

    def num_flat_features(self, x):
        size = x.size()[1:]  # all dimensions except the batch dimension
        num_features = 1
        for s in size:
            num_features *= s
        return num_features


net = Net()
net.load_state_dict(numpy_state(net, gen))
print(net)

params = list(net.parameters())
print(len(params))
print(params[0].size())  # conv1's .weight
results = {"n_params": len(params), "conv1.weight.size": list(params[0].size())}

input = tensor(gen.standard_normal((1, 1, 32, 32)))
out = net(input)
print(out)
results["out"] = values(out)

net.zero_grad()
out.backward(tensor(gen.standard_normal((1, 10))))
results["conv1.bias.grad (random backward)"] = values(net.conv1.bias.grad)

output = net(input)
target = torch.arange(1, 11)  # a dummy target, for example
target = target.view(1, -1)  # make it the same shape as output
criterion = nn.MSELoss()

loss = criterion(output, target)
print(loss)
results["loss"] = loss.item()

print(loss.grad_fn)  # MSELoss
print(loss.grad_fn.next_functions[0][0])  # Linear
print(loss.grad_fn.next_functions[0][0].next_functions[0][0])  # ReLU

net.zero_grad()  # zeroes the gradient buffers of all parameters

print("conv1.bias.grad before backward")
print(net.conv1.bias.grad)
results["grad before backward"] = net.conv1.bias.grad is None

loss.backward()

print("conv1.bias.grad after backward")
print(net.conv1.bias.grad)
results["conv1.bias.grad"] = values(net.conv1.bias.grad)

import torch.optim as optim

# create your optimizer
optimizer = optim.SGD(net.parameters(), lr=0.01)

# in your training loop:
optimizer.zero_grad()  # zero the gradient buffers
output = net(input)
loss = criterion(output, target)
loss.backward()
optimizer.step()  # Does the update

results["loss after step"] = criterion(net(input), target).item()
results["fc3.weight"] = values(net.fc3.weight)
emit(results)
