"""Spectral-normalization GAN: a DCGAN-like generator (ConvTranspose2d/BatchNorm2d/ReLU/Tanh) and
a discriminator whose convolutions and linear head are spectrally normalized, trained with the
hinge loss, Adam with betas (0.0, 0.9), ExponentialLR, several discriminator updates per
generator update.

Source: christiancosgrove/pytorch-spectral-normalization-gan, model.py (DCGAN-like Generator and
Discriminator) + main.py (hinge loss, ``disc_iters``, optimizers and schedulers, the train loop).
Adaptations: a TensorDataset of 4 numpy-drawn 3x8x8 images in [-1, 1] with numpy-drawn labels
replaces CIFAR-10 (one batch, so ``shuffle=True`` only reorders inside it); batch 4, Z_dim 8,
generator widths 16/8, discriminator widths 4/8/16 with three convolutions and w_g = 2 (the
original's seven convolutions on 32x32 shrunk to 8x8 inputs), disc_iters 2, 2 epochs; the
repository's own ``SpectralNorm`` wrapper (spectral_normalization.py, one power iteration per
forward) is replaced by PyTorch's ``nn.utils.spectral_norm`` (the same algorithm, as a forward
pre-hook), and a second, smaller discriminator in the form of the newer
``nn.utils.parametrizations.spectral_norm`` is trained the same way after the first (the
original's ``--model`` choice of two architectures, run one after the other); initial weights
are numpy draws of PyTorch's default bounds, except the biases of the normalized layers, uniform
in ±0.01 (with larger ones a channel's pre-activations keep one sign over the whole batch, its
bias gradient under the hinge loss cancels to an exact zero in one library and to rounding noise
in the other, and Adam turns that noise into a full ``lr`` step); the power-iteration vectors
``u``/``v`` that torch draws at registration are numpy draws, normalized, loaded with
``load_state_dict``; the noise ``z`` is drawn from numpy; runs on the CPU (``.cuda()`` dropped);
``disc_loss.data[0]`` (a 0-dim index PyTorch now rejects) is ``.item()``; the matplotlib sample
grid and the checkpoint files are left out, the samples, the losses, the discriminator's scores
of the samples and ``conv2``'s ``u`` and ``sigma`` are emitted instead. The DataLoader's shuffle
(torch's RNG) only reorders the one batch; every loss is a mean over it.
"""

# The original's spelling is kept (super(Net, self), Variable); its train() closes over the
# current variant's models and optimizers and is called within that iteration.
# ruff: noqa: UP008, B023

import argparse

import numpy as np
import torch
import torch.nn as nn
import torch.optim as optim
import torch.utils.data
from dropin_support import emit, numpy_state, rng, tensor, values
from torch.autograd import Variable

parser = argparse.ArgumentParser()
parser.add_argument("--batch_size", type=int, default=4)
parser.add_argument("--lr", type=float, default=2e-4)
parser.add_argument("--loss", type=str, default="hinge")
parser.add_argument("--epochs", type=int, default=2)
args = parser.parse_args()

gen = rng(21)
channels = 3
size = 8
loader = torch.utils.data.DataLoader(
    torch.utils.data.TensorDataset(
        tensor(gen.uniform(-1.0, 1.0, size=(4, channels, size, size))),
        torch.from_numpy(gen.integers(0, 10, size=4)),
    ),
    batch_size=args.batch_size,
    shuffle=True,
    num_workers=0,
)

# ---- model.py ---------------------------------------------------------------------------------
leak = 0.1
w_g = 2


class Generator(nn.Module):
    def __init__(self, z_dim):
        super(Generator, self).__init__()
        self.z_dim = z_dim

        self.model = nn.Sequential(
            nn.ConvTranspose2d(z_dim, 16, 4, stride=1),
            nn.BatchNorm2d(16),
            nn.ReLU(),
            nn.ConvTranspose2d(16, 8, 4, stride=2, padding=(1, 1)),
            nn.BatchNorm2d(8),
            nn.ReLU(),
            nn.ConvTranspose2d(8, channels, 3, stride=1, padding=(1, 1)),
            nn.Tanh(),
        )

    def forward(self, z):
        return self.model(z.view(-1, self.z_dim, 1, 1))


class Discriminator(nn.Module):
    def __init__(self):
        super(Discriminator, self).__init__()

        self.conv1 = nn.utils.spectral_norm(nn.Conv2d(channels, 4, 3, stride=1, padding=(1, 1)))
        self.conv2 = nn.utils.spectral_norm(nn.Conv2d(4, 8, 4, stride=2, padding=(1, 1)))
        self.conv3 = nn.utils.spectral_norm(nn.Conv2d(8, 16, 4, stride=2, padding=(1, 1)))

        self.fc = nn.utils.spectral_norm(nn.Linear(w_g * w_g * 16, 1))

    def forward(self, x):
        m = x
        m = nn.LeakyReLU(leak)(self.conv1(m))
        m = nn.LeakyReLU(leak)(self.conv2(m))
        m = nn.LeakyReLU(leak)(self.conv3(m))

        return self.fc(m.view(-1, w_g * w_g * 16))


class ParametrizedDiscriminator(nn.Module):
    """The same idea with torch.nn.utils.parametrizations.spectral_norm."""

    def __init__(self):
        super(ParametrizedDiscriminator, self).__init__()
        sn = nn.utils.parametrizations.spectral_norm
        self.conv1 = sn(nn.Conv2d(channels, 4, 4, stride=2, padding=(1, 1)))
        self.conv2 = sn(nn.Conv2d(4, 8, 4, stride=2, padding=(1, 1)))
        self.fc = sn(nn.Linear(w_g * w_g * 8, 1))

    def forward(self, x):
        m = nn.LeakyReLU(leak)(self.conv1(x))
        m = nn.LeakyReLU(leak)(self.conv2(m))
        return self.fc(m.view(-1, w_g * w_g * 8))


# ---- numpy-drawn initial state (the documented adaptation) ------------------------------------
def bias_draw(name, shape):
    """Biases of spectrally normalized layers have no ``.weight`` parameter to pair with."""
    if name.endswith("bias") and len(shape) == 1:
        return gen.uniform(-0.01, 0.01, shape)
    return None


def numpy_sn_state(model):
    """numpy_state plus the power-iteration vectors u and v, normalized as torch draws them."""
    state = numpy_state(model, gen, bias_draw)
    for name, value in state.items():
        if name.endswith(("weight_u", "weight_v", "._u", "._v")):
            vec = gen.standard_normal(tuple(value.shape))
            state[name] = tensor(vec / np.linalg.norm(vec))
    return state


# ---- main.py ----------------------------------------------------------------------------------
Z_dim = 8
# number of updates to discriminator for every update to generator
disc_iters = 2

fixed_z = Variable(tensor(gen.standard_normal((args.batch_size, Z_dim))))
results = {}
for variant, make_discriminator in (
    ("spectral_norm", Discriminator),
    ("parametrizations", ParametrizedDiscriminator),
):
    discriminator = make_discriminator()
    discriminator.load_state_dict(numpy_sn_state(discriminator))
    generator = Generator(Z_dim)
    generator.load_state_dict(numpy_state(generator, gen))

    # because the spectral normalization module creates parameters that don't require gradients
    # (u and v), we don't want to optimize these using sgd. We only let the optimizer operate on
    # parameters that _do_ require gradients
    optim_disc = optim.Adam(
        filter(lambda p: p.requires_grad, discriminator.parameters()),
        lr=args.lr,
        betas=(0.0, 0.9),
    )
    optim_gen = optim.Adam(generator.parameters(), lr=args.lr, betas=(0.0, 0.9))

    # use an exponentially decaying learning rate
    scheduler_d = optim.lr_scheduler.ExponentialLR(optim_disc, gamma=0.99)
    scheduler_g = optim.lr_scheduler.ExponentialLR(optim_gen, gamma=0.99)

    logged = []

    def train(epoch):
        for batch_idx, (data, target) in enumerate(loader):
            if data.size()[0] != args.batch_size:
                continue
            data, target = Variable(data), Variable(target)

            # update discriminator
            for _ in range(disc_iters):
                z = Variable(tensor(gen.standard_normal((args.batch_size, Z_dim))))
                optim_disc.zero_grad()
                optim_gen.zero_grad()
                if args.loss == "hinge":
                    disc_loss = (
                        nn.ReLU()(1.0 - discriminator(data)).mean()
                        + nn.ReLU()(1.0 + discriminator(generator(z))).mean()
                    )
                elif args.loss == "wasserstein":
                    disc_loss = -discriminator(data).mean() + discriminator(generator(z)).mean()
                else:
                    disc_loss = nn.BCEWithLogitsLoss()(
                        discriminator(data), Variable(torch.ones(args.batch_size, 1))
                    ) + nn.BCEWithLogitsLoss()(
                        discriminator(generator(z)), Variable(torch.zeros(args.batch_size, 1))
                    )
                disc_loss.backward()
                optim_disc.step()
                logged.append(["D", disc_loss.item()])

            z = Variable(tensor(gen.standard_normal((args.batch_size, Z_dim))))

            # update generator
            optim_disc.zero_grad()
            optim_gen.zero_grad()
            if args.loss == "hinge" or args.loss == "wasserstein":
                gen_loss = -discriminator(generator(z)).mean()
            else:
                gen_loss = nn.BCEWithLogitsLoss()(
                    discriminator(generator(z)), Variable(torch.ones(args.batch_size, 1))
                )
            gen_loss.backward()
            optim_gen.step()
            logged.append(["G", gen_loss.item()])

            if batch_idx % 100 == 0:
                print("disc loss", disc_loss.item(), "gen loss", gen_loss.item())
        scheduler_d.step()
        scheduler_g.step()

    for epoch in range(args.epochs):
        train(epoch)

    samples = generator(fixed_z).cpu().data.numpy()
    discriminator.eval()
    with torch.no_grad():
        scores = discriminator(torch.from_numpy(samples))
    if variant == "spectral_norm":
        u = discriminator.conv2.weight_u
        sigma = torch.dot(
            u, torch.mv(discriminator.conv2.weight_orig.view(8, -1), discriminator.conv2.weight_v)
        )
    else:
        u = discriminator.conv2.parametrizations.weight[0]._u
        sigma = torch.dot(
            u,
            torch.mv(
                discriminator.conv2.parametrizations.weight.original.view(8, -1),
                discriminator.conv2.parametrizations.weight[0]._v,
            ),
        )
    results[variant] = {
        "losses": logged,
        "lr": [optim_disc.param_groups[0]["lr"], optim_gen.param_groups[0]["lr"]],
        "samples": samples[:, 0, :2, :2].tolist(),
        "scores": values(scores),
        "conv2 u": values(u),
        "conv2 sigma": sigma.item(),
        "fc bias": values(discriminator.fc.bias),
    }

emit(results)
