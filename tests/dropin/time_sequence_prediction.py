"""Time-sequence prediction: two stacked nn.LSTMCell layers unrolled over sine waves in float64,
trained with LBFGS and a closure, then asked to continue the waves into the future.

Source: pytorch/examples, time_sequence_prediction/generate_sine_wave.py and train.py (one file).
Adaptations: the waves are generated in the program (8 waves of 40 samples instead of 100 of 1000,
saved as a tensor with torch.save and loaded back: the original pickles a numpy array, which
PyTorch 2.6+'s weights-only torch.load refuses), 2 LBFGS steps with a
12-sample future instead of 15 steps and 1000; the initial weights come from numpy through
load_state_dict; the matplotlib plots are left out.
"""

# The original's spelling is kept (super(Sequence, self), the closure printing inside step).
# ruff: noqa: UP008, B007

import argparse

import numpy as np
import torch
import torch.nn as nn
import torch.optim as optim
from dropin_support import emit, numpy_state, rng, values

gen = rng(15)


class Sequence(nn.Module):
    def __init__(self):
        super(Sequence, self).__init__()
        self.lstm1 = nn.LSTMCell(1, 51)
        self.lstm2 = nn.LSTMCell(51, 51)
        self.linear = nn.Linear(51, 1)
        self.dummy_param = nn.Parameter(torch.empty(0))

    def forward(self, input, future=0):
        outputs = []
        device = self.dummy_param.device
        h_t = torch.zeros(input.size(0), 51, dtype=torch.double).to(device)
        c_t = torch.zeros(input.size(0), 51, dtype=torch.double).to(device)
        h_t2 = torch.zeros(input.size(0), 51, dtype=torch.double).to(device)
        c_t2 = torch.zeros(input.size(0), 51, dtype=torch.double).to(device)

        for input_t in input.split(1, dim=1):
            h_t, c_t = self.lstm1(input_t, (h_t, c_t))
            h_t2, c_t2 = self.lstm2(h_t, (h_t2, c_t2))
            output = self.linear(h_t2)
            outputs += [output]
        for i in range(future):  # if we should predict the future
            h_t, c_t = self.lstm1(output, (h_t, c_t))
            h_t2, c_t2 = self.lstm2(h_t, (h_t2, c_t2))
            output = self.linear(h_t2)
            outputs += [output]
        outputs = torch.cat(outputs, dim=1)
        return outputs


def generate_sine_wave(T=20, L=40, N=8):
    """generate_sine_wave.py: N waves of L samples, each shifted by a random offset."""
    x = np.empty((N, L), "int64")
    x[:] = np.array(range(L)) + gen.integers(-4 * T, 4 * T, N).reshape(N, 1)
    data = np.sin(x / 1.0 / T).astype("float64")
    torch.save(torch.from_numpy(data), open("traindata.pt", "wb"))


logged = {"loss": [], "test_loss": []}

parser = argparse.ArgumentParser()
parser.add_argument("--steps", type=int, default=2, help="steps to run")
parser.add_argument("--device", type=str, default="cpu", help="training device. cuda, mps, or cpu.")
opt = parser.parse_args()
# training device
device_name = opt.device
if device_name == "cuda" and not torch.cuda.is_available():
    print("cuda is not available")
    exit(-1)
elif device_name == "mps" and not torch.backends.mps.is_available():
    print("mps is not available")
    exit(-1)
device = torch.device(device_name)
# set random seed to 0
np.random.seed(0)
torch.manual_seed(0)
# load data and make training set
generate_sine_wave()
data = torch.load("traindata.pt").to(device)
input = data[3:, :-1]
target = data[3:, 1:]
test_input = data[:3, :-1]
test_target = data[:3, 1:]
# build the model
seq = Sequence().to(device).double()
seq.load_state_dict(
    numpy_state(
        seq, gen, lambda name, shape: gen.uniform(-0.14, 0.14, shape) if "bias_" in name else None
    )
)
criterion = nn.MSELoss().to(device)
# use LBFGS as optimizer since we can load the whole data to train
optimizer = optim.LBFGS(seq.parameters(), lr=0.8)
# begin to train
for i in range(opt.steps):
    print("STEP: ", i)

    def closure():
        optimizer.zero_grad()
        out = seq(input)
        loss = criterion(out, target)
        print("loss:", loss.item())
        logged["loss"].append(loss.item())
        loss.backward()
        return loss

    optimizer.step(closure)
    # begin to predict, no need to track gradient here
    with torch.no_grad():
        future = 12
        pred = seq(test_input, future=future)
        loss = criterion(pred[:, :-future], test_target)
        print("test loss:", loss.item())
        logged["test_loss"].append(loss.item())
        y = pred.cpu().detach().numpy()

emit(
    {
        **logged,
        "future": values(torch.from_numpy(y[:, -future:])),
        "lbfgs_n_iter": optimizer.state_dict()["state"][0]["n_iter"],
    }
)
