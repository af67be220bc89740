"""Super-resolution with an efficient sub-pixel CNN: conv layers, nn.PixelShuffle, orthogonal init,
Adam, PSNR under no_grad, and a whole-model checkpoint.

Source: pytorch/examples, super_resolution/model.py and super_resolution/main.py (one file).
Adaptations: a TensorDataset of numpy-drawn 1x8x8 low-resolution inputs and 1x24x24 targets
replaces the BSDS300 download and torchvision transforms (upscale factor 3, 8 training images in
one batch so ``shuffle=True`` only reorders inside it, 4 test images, 3 epochs); the weights that
``init.orthogonal_`` draws with torch's RNG are replaced by numpy draws through load_state_dict.
"""

# The original's spelling is kept (super(Net, self), % and .format, late imports).
# ruff: noqa: UP008, UP031, UP032, E402, B007

import argparse
from math import log10

import torch
import torch.nn as nn
import torch.nn.init as init
import torch.optim as optim
from dropin_support import emit, numpy_state, rng, tensor, values
from torch.utils.data import DataLoader, TensorDataset


class Net(nn.Module):
    def __init__(self, upscale_factor):
        super(Net, self).__init__()

        self.relu = nn.ReLU()
        self.conv1 = nn.Conv2d(1, 64, (5, 5), (1, 1), (2, 2))
        self.conv2 = nn.Conv2d(64, 64, (3, 3), (1, 1), (1, 1))
        self.conv3 = nn.Conv2d(64, 32, (3, 3), (1, 1), (1, 1))
        self.conv4 = nn.Conv2d(32, upscale_factor**2, (3, 3), (1, 1), (1, 1))
        self.pixel_shuffle = nn.PixelShuffle(upscale_factor)

        self._initialize_weights()

    def forward(self, x):
        x = self.relu(self.conv1(x))
        x = self.relu(self.conv2(x))
        x = self.relu(self.conv3(x))
        x = self.pixel_shuffle(self.conv4(x))
        return x

    def _initialize_weights(self):
        init.orthogonal_(self.conv1.weight, init.calculate_gain("relu"))
        init.orthogonal_(self.conv2.weight, init.calculate_gain("relu"))
        init.orthogonal_(self.conv3.weight, init.calculate_gain("relu"))
        init.orthogonal_(self.conv4.weight)


gen = rng(10)


def fake_bsds(n, upscale_factor, size=8):
    return TensorDataset(
        tensor(gen.uniform(0.0, 1.0, size=(n, 1, size, size))),
        tensor(gen.uniform(0.0, 1.0, size=(n, 1, size * upscale_factor, size * upscale_factor))),
    )


# Training settings
parser = argparse.ArgumentParser(description="PyTorch Super Res Example")
parser.add_argument("--upscale_factor", type=int, default=3)
parser.add_argument("--batchSize", type=int, default=8)
parser.add_argument("--testBatchSize", type=int, default=2)
parser.add_argument("--nEpochs", type=int, default=3)
parser.add_argument("--lr", type=float, default=0.01)
parser.add_argument("--accel", action="store_true")
parser.add_argument("--threads", type=int, default=0)
parser.add_argument("--seed", type=int, default=123)
opt = parser.parse_args()

print(opt)

torch.manual_seed(opt.seed)

if opt.accel and torch.accelerator.is_available():
    device = torch.accelerator.current_accelerator()
else:
    device = torch.device("cpu")

print("===> Loading datasets")
train_set = fake_bsds(8, opt.upscale_factor)
test_set = fake_bsds(4, opt.upscale_factor)
training_data_loader = DataLoader(
    dataset=train_set, num_workers=opt.threads, batch_size=opt.batchSize, shuffle=True
)
testing_data_loader = DataLoader(
    dataset=test_set, num_workers=opt.threads, batch_size=opt.testBatchSize, shuffle=False
)

print("===> Building model")
model = Net(upscale_factor=opt.upscale_factor).to(device)
model.load_state_dict(numpy_state(model, gen))
criterion = nn.MSELoss()

optimizer = optim.Adam(model.parameters(), lr=opt.lr)
logged = {"loss": [], "psnr": []}


def train(epoch):
    epoch_loss = 0
    for iteration, batch in enumerate(training_data_loader, 1):
        input, target = batch[0].to(device), batch[1].to(device)

        optimizer.zero_grad()
        loss = criterion(model(input), target)
        epoch_loss += loss.item()
        loss.backward()
        optimizer.step()

        print(
            f"===> Epoch[{epoch}]({iteration}/{len(training_data_loader)}): Loss: {loss.item():.4f}"
        )

    print(f"===> Epoch {epoch} Complete: Avg. Loss: {epoch_loss / len(training_data_loader):.4f}")
    logged["loss"].append(epoch_loss / len(training_data_loader))


def test():
    avg_psnr = 0
    with torch.no_grad():
        for batch in testing_data_loader:
            input, target = batch[0].to(device), batch[1].to(device)

            prediction = model(input)
            mse = criterion(prediction, target)
            psnr = 10 * log10(1 / mse.item())
            avg_psnr += psnr
    print(f"===> Avg. PSNR: {avg_psnr / len(testing_data_loader):.4f} dB")
    logged["psnr"].append(avg_psnr / len(testing_data_loader))


def checkpoint(epoch):
    model_out_path = f"model_epoch_{epoch}.pth"
    torch.save(model, model_out_path)
    print(f"Checkpoint saved to {model_out_path}")


for epoch in range(1, opt.nEpochs + 1):
    train(epoch)
    test()
    checkpoint(epoch)

emit({**logged, "conv4.bias": values(model.conv4.bias)})
