"""Training a Classifier (60 Minute Blitz): a CNN on CIFAR-10-shaped images, SGD with momentum,
DataLoader, torch.no_grad evaluation, and save/load of the state_dict.

Source: pytorch/tutorials, beginner_source/blitz/cifar10_tutorial.py.
Adaptations: the data is a TensorDataset of numpy-drawn 3x32x32 images in [-1, 1] (what
``Normalize((0.5,)*3, (0.5,)*3)`` yields) with numpy labels instead of torchvision's CIFAR10 (the
training set is one batch of 4, so ``shuffle=True`` only reorders inside the batch); 20 epochs,
statistics every epoch; the initial weights come from numpy through load_state_dict; the image
display (matplotlib, make_grid) and the closing "Training on GPU" prose are left out.
"""

import torch
import torch.nn as nn
import torch.nn.functional as F
import torch.optim as optim
from dropin_support import emit, numpy_state, rng, tensor, values
from torch.utils.data import TensorDataset

gen = rng(6)


def fake_cifar(n):
    images = tensor(gen.uniform(-1.0, 1.0, size=(n, 3, 32, 32)))
    labels = torch.from_numpy(gen.integers(0, 10, size=n))
    return TensorDataset(images, labels)


batch_size = 4

trainset = fake_cifar(4)
trainloader = torch.utils.data.DataLoader(
    trainset, batch_size=batch_size, shuffle=True, num_workers=2
)

testset = fake_cifar(12)
testloader = torch.utils.data.DataLoader(
    testset, batch_size=batch_size, shuffle=False, num_workers=2
)

classes = ("plane", "car", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck")


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(3, 6, 5)
        self.pool = nn.MaxPool2d(2, 2)
        self.conv2 = nn.Conv2d(6, 16, 5)
        self.fc1 = nn.Linear(16 * 5 * 5, 120)
        self.fc2 = nn.Linear(120, 84)
        self.fc3 = nn.Linear(84, 10)

    def forward(self, x):
        x = self.pool(F.relu(self.conv1(x)))
        x = self.pool(F.relu(self.conv2(x)))
        x = torch.flatten(x, 1)  # flatten all dimensions except batch
        x = F.relu(self.fc1(x))
        x = F.relu(self.fc2(x))
        x = self.fc3(x)
        return x


net = Net()
net.load_state_dict(numpy_state(net, gen))

criterion = nn.CrossEntropyLoss()
optimizer = optim.SGD(net.parameters(), lr=0.001, momentum=0.9)

epoch_losses = []
for epoch in range(20):  # loop over the dataset multiple times
    running_loss = 0.0
    for i, data in enumerate(trainloader, 0):
        # get the inputs; data is a list of [inputs, labels]
        inputs, labels = data

        # zero the parameter gradients
        optimizer.zero_grad()

        # forward + backward + optimize
        outputs = net(inputs)
        loss = criterion(outputs, labels)
        loss.backward()
        optimizer.step()

        # print statistics
        running_loss += loss.item()
        if i % 1 == 0:  # print every mini-batch
            print(f"[{epoch + 1}, {i + 1:5d}] loss: {running_loss / 1:.3f}")
            epoch_losses.append(running_loss)
            running_loss = 0.0

print("Finished Training")

PATH = "./cifar_net.pth"
torch.save(net.state_dict(), PATH)

dataiter = iter(testloader)
images, labels = next(dataiter)

print("GroundTruth: ", " ".join(f"{classes[labels[j]]:5s}" for j in range(4)))

net = Net()
net.load_state_dict(torch.load(PATH, weights_only=True))

outputs = net(images)

_, predicted = torch.max(outputs, 1)

print("Predicted: ", " ".join(f"{classes[predicted[j]]:5s}" for j in range(4)))

correct = 0
total = 0
# since we're not training, we don't need to calculate the gradients for our outputs
with torch.no_grad():
    for data in testloader:
        images, labels = data
        # calculate outputs by running images through the network
        outputs = net(images)
        # the class with the highest energy is what we choose as prediction
        _, predicted = torch.max(outputs, 1)
        total += labels.size(0)
        correct += (predicted == labels).sum().item()

print(f"Accuracy of the network on the 12 test images: {100 * correct // total} %")

# prepare to count predictions for each class
correct_pred = {classname: 0 for classname in classes}
total_pred = {classname: 0 for classname in classes}

# again no gradients needed
with torch.no_grad():
    for data in testloader:
        images, labels = data
        outputs = net(images)
        _, predictions = torch.max(outputs, 1)
        # collect the correct predictions for each class
        for label, prediction in zip(labels, predictions):
            if label == prediction:
                correct_pred[classes[label]] += 1
            total_pred[classes[label]] += 1

# print accuracy for each class
for classname, correct_count in correct_pred.items():
    accuracy = 100 * float(correct_count) / max(total_pred[classname], 1)
    print(f"Accuracy for class: {classname:5s} is {accuracy:.1f} %")

with torch.no_grad():
    test_logits = torch.cat([net(images) for images, _ in testloader])
emit(
    {
        "epoch_losses": epoch_losses,
        "correct": correct,
        "correct_pred": correct_pred,
        "test_logits": values(test_logits),
        "fc3.bias": values(net.fc3.bias),
    }
)
