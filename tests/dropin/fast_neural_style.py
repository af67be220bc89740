"""Fast neural style transfer: a TransformerNet of reflection-padded convolutions, InstanceNorm2d,
residual blocks and nn.Upsample, trained with Adam against content and Gram-matrix style losses
computed by a VGG-16-shaped feature extractor; then the saved state_dict is loaded to stylize.

Source: pytorch/examples, fast_neural_style/neural_style/{neural_style.py, transformer_net.py,
vgg.py, utils.py} (one file).
Adaptations: torchvision's pretrained VGG-16 becomes the same layer list (conv 3x3, ReLU(inplace),
max-pool; slices at relu1_2/relu2_2/relu3_3/relu4_3) with its widths divided by 8 and weights drawn
from numpy; the ImageFolder of 256x256 photos becomes a TensorDataset of 4 numpy-drawn 16x16 images
scaled to 0..255 (batch 2, 2 epochs, log every batch); the style image is numpy-drawn too; the
TransformerNet's weights come from numpy through load_state_dict. PIL image files are not written;
the stylized image is checked against the in-memory model's, not across libraries (see stylize).
"""

# The original's spelling is kept (super(Net, self), .format).
# ruff: noqa: UP008, UP032

import argparse
import os
import re
import time
from collections import namedtuple

import numpy as np
import torch
from dropin_support import emit, numpy_state, rng, tensor
from torch.optim import Adam
from torch.utils.data import DataLoader, TensorDataset

gen = rng(14)


# --------------------------------------------------------------------------- transformer_net.py
class TransformerNet(torch.nn.Module):
    def __init__(self):
        super(TransformerNet, self).__init__()
        # Initial convolution layers
        self.conv1 = ConvLayer(3, 32, kernel_size=9, stride=1)
        self.in1 = torch.nn.InstanceNorm2d(32, affine=True)
        self.conv2 = ConvLayer(32, 64, kernel_size=3, stride=2)
        self.in2 = torch.nn.InstanceNorm2d(64, affine=True)
        self.conv3 = ConvLayer(64, 128, kernel_size=3, stride=2)
        self.in3 = torch.nn.InstanceNorm2d(128, affine=True)
        # Residual layers
        self.res1 = ResidualBlock(128)
        self.res2 = ResidualBlock(128)
        self.res3 = ResidualBlock(128)
        self.res4 = ResidualBlock(128)
        self.res5 = ResidualBlock(128)
        # Upsampling Layers
        self.deconv1 = UpsampleConvLayer(128, 64, kernel_size=3, stride=1, upsample=2)
        self.in4 = torch.nn.InstanceNorm2d(64, affine=True)
        self.deconv2 = UpsampleConvLayer(64, 32, kernel_size=3, stride=1, upsample=2)
        self.in5 = torch.nn.InstanceNorm2d(32, affine=True)
        self.deconv3 = ConvLayer(32, 3, kernel_size=9, stride=1)
        # Non-linearities
        self.relu = torch.nn.ReLU()

    def forward(self, X):
        y = self.relu(self.in1(self.conv1(X)))
        y = self.relu(self.in2(self.conv2(y)))
        y = self.relu(self.in3(self.conv3(y)))
        y = self.res1(y)
        y = self.res2(y)
        y = self.res3(y)
        y = self.res4(y)
        y = self.res5(y)
        y = self.relu(self.in4(self.deconv1(y)))
        y = self.relu(self.in5(self.deconv2(y)))
        y = self.deconv3(y)
        return y


class ConvLayer(torch.nn.Module):
    def __init__(self, in_channels, out_channels, kernel_size, stride):
        super(ConvLayer, self).__init__()
        reflection_padding = kernel_size // 2
        self.reflection_pad = torch.nn.ReflectionPad2d(reflection_padding)
        self.conv2d = torch.nn.Conv2d(in_channels, out_channels, kernel_size, stride)

    def forward(self, x):
        out = self.reflection_pad(x)
        out = self.conv2d(out)
        return out


class ResidualBlock(torch.nn.Module):
    """The residual block of the original: two reflection-padded convolutions with instance
    norm."""

    def __init__(self, channels):
        super(ResidualBlock, self).__init__()
        self.conv1 = ConvLayer(channels, channels, kernel_size=3, stride=1)
        self.in1 = torch.nn.InstanceNorm2d(channels, affine=True)
        self.conv2 = ConvLayer(channels, channels, kernel_size=3, stride=1)
        self.in2 = torch.nn.InstanceNorm2d(channels, affine=True)
        self.relu = torch.nn.ReLU()

    def forward(self, x):
        residual = x
        out = self.relu(self.in1(self.conv1(x)))
        out = self.in2(self.conv2(out))
        out = out + residual
        return out


class UpsampleConvLayer(torch.nn.Module):
    """Upsamples the input, then convolves (the original's alternative to ConvTranspose2d)."""

    def __init__(self, in_channels, out_channels, kernel_size, stride, upsample=None):
        super(UpsampleConvLayer, self).__init__()
        self.upsample = upsample
        if upsample:
            self.upsample_layer = torch.nn.Upsample(mode="nearest", scale_factor=upsample)
        reflection_padding = kernel_size // 2
        self.reflection_pad = torch.nn.ReflectionPad2d(reflection_padding)
        self.conv2d = torch.nn.Conv2d(in_channels, out_channels, kernel_size, stride)

    def forward(self, x):
        x_in = x
        if self.upsample:
            x_in = self.upsample_layer(x_in)
        out = self.reflection_pad(x_in)
        out = self.conv2d(out)
        return out


# --------------------------------------------------------------------------------------- vgg.py
def vgg16_features(width=8):
    """torchvision's ``vgg16().features`` layer list, its channel widths divided by ``width``."""
    cfg = [64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M"]
    layers, in_channels = [], 3
    for v in cfg:
        if v == "M":
            layers.append(torch.nn.MaxPool2d(kernel_size=2, stride=2))
        else:
            layers += [
                torch.nn.Conv2d(in_channels, v // width, kernel_size=3, padding=1),
                torch.nn.ReLU(inplace=True),
            ]
            in_channels = v // width
    return torch.nn.Sequential(*layers)


class Vgg16(torch.nn.Module):
    def __init__(self, requires_grad=False):
        super(Vgg16, self).__init__()
        vgg_pretrained_features = vgg16_features()
        self.slice1 = torch.nn.Sequential()
        self.slice2 = torch.nn.Sequential()
        self.slice3 = torch.nn.Sequential()
        self.slice4 = torch.nn.Sequential()
        for x in range(4):
            self.slice1.add_module(str(x), vgg_pretrained_features[x])
        for x in range(4, 9):
            self.slice2.add_module(str(x), vgg_pretrained_features[x])
        for x in range(9, 16):
            self.slice3.add_module(str(x), vgg_pretrained_features[x])
        for x in range(16, 23):
            self.slice4.add_module(str(x), vgg_pretrained_features[x])
        if not requires_grad:
            for param in self.parameters():
                param.requires_grad = False

    def forward(self, X):
        h = self.slice1(X)
        h_relu1_2 = h
        h = self.slice2(h)
        h_relu2_2 = h
        h = self.slice3(h)
        h_relu3_3 = h
        h = self.slice4(h)
        h_relu4_3 = h
        vgg_outputs = namedtuple("VggOutputs", ["relu1_2", "relu2_2", "relu3_3", "relu4_3"])
        out = vgg_outputs(h_relu1_2, h_relu2_2, h_relu3_3, h_relu4_3)
        return out


# ------------------------------------------------------------------------------------- utils.py
def gram_matrix(y):
    (b, ch, h, w) = y.size()
    features = y.view(b, ch, w * h)
    features_t = features.transpose(1, 2)
    gram = features.bmm(features_t) / (ch * h * w)
    return gram


def normalize_batch(batch):
    # normalize using imagenet mean and std
    mean = batch.new_tensor([0.485, 0.456, 0.406]).view(-1, 1, 1)
    std = batch.new_tensor([0.229, 0.224, 0.225]).view(-1, 1, 1)
    batch = batch.div_(255.0)
    return (batch - mean) / std


# ------------------------------------------------------------------------------ neural_style.py
logged = {"content": [], "style": [], "total": []}


def check_paths(args):
    if not os.path.exists(args.save_model_dir):
        os.makedirs(args.save_model_dir)


def fake_image_folder(n, size):
    images = tensor(gen.uniform(0.0, 1.0, size=(n, 3, size, size))).mul(255)
    return TensorDataset(images, torch.zeros(n, dtype=torch.long))


def train(args):
    device = torch.device("cuda" if args.cuda else "cpu")

    np.random.seed(args.seed)
    torch.manual_seed(args.seed)

    train_dataset = fake_image_folder(4, args.image_size)
    train_loader = DataLoader(train_dataset, batch_size=args.batch_size)

    transformer = TransformerNet().to(device)
    transformer.load_state_dict(numpy_state(transformer, gen))
    optimizer = Adam(transformer.parameters(), args.lr)
    mse_loss = torch.nn.MSELoss()

    vgg = Vgg16(requires_grad=False).to(device)
    vgg.load_state_dict(numpy_state(vgg, gen))
    style = tensor(gen.uniform(0.0, 1.0, size=(3, args.image_size, args.image_size))).mul(255)
    style = style.repeat(args.batch_size, 1, 1, 1).to(device)

    features_style = vgg(normalize_batch(style))
    gram_style = [gram_matrix(y) for y in features_style]

    for e in range(args.epochs):
        transformer.train()
        agg_content_loss = 0.0
        agg_style_loss = 0.0
        count = 0
        for batch_id, (x, _) in enumerate(train_loader):
            n_batch = len(x)
            count += n_batch
            optimizer.zero_grad()

            x = x.to(device)
            y = transformer(x.to(device))

            y = normalize_batch(y)
            x = normalize_batch(x)

            features_y = vgg(y)
            features_x = vgg(x)

            content_loss = args.content_weight * mse_loss(features_y.relu2_2, features_x.relu2_2)

            style_loss = 0.0
            for ft_y, gm_s in zip(features_y, gram_style):
                gm_y = gram_matrix(ft_y)
                style_loss += mse_loss(gm_y, gm_s[:n_batch, :, :])
            style_loss *= args.style_weight

            total_loss = content_loss + style_loss
            total_loss.backward()
            optimizer.step()

            agg_content_loss += content_loss.item()
            agg_style_loss += style_loss.item()

            if (batch_id + 1) % args.log_interval == 0:
                mesg = (
                    "{}\tEpoch {}:\t[{}/{}]\tcontent: {:.6f}\tstyle: {:.6f}\ttotal: {:.6f}".format(
                        time.ctime(),
                        e + 1,
                        count,
                        len(train_dataset),
                        agg_content_loss / (batch_id + 1),
                        agg_style_loss / (batch_id + 1),
                        (agg_content_loss + agg_style_loss) / (batch_id + 1),
                    )
                )
                print(mesg)
                logged["content"].append(agg_content_loss / (batch_id + 1))
                logged["style"].append(agg_style_loss / (batch_id + 1))
                logged["total"].append((agg_content_loss + agg_style_loss) / (batch_id + 1))

    # save model
    transformer.eval().cpu()
    save_model_filename = "epoch_" + str(args.epochs) + "_" + str(args.content_weight) + ".model"
    save_model_path = os.path.join(args.save_model_dir, save_model_filename)
    torch.save(transformer.state_dict(), save_model_path)

    print("\nDone, trained model saved at", save_model_path)
    return save_model_path, transformer


def stylize(args, model_path, trained):
    device = torch.device("cuda" if args.cuda else "cpu")

    content_image = tensor(gen.uniform(0.0, 1.0, size=(3, 12, 12))).mul(255)
    content_image = content_image.unsqueeze(0).to(device)

    with torch.no_grad():
        style_model = TransformerNet()
        state_dict = torch.load(model_path)
        # remove saved deprecated running_* keys in InstanceNorm from the checkpoint
        for k in list(state_dict.keys()):
            if re.search(r"in\d+\.running_(mean|var)$", k):
                del state_dict[k]
        style_model.load_state_dict(state_dict)
        style_model.to(device)
        output = style_model(content_image).cpu()
        # Adapted: the same image through the model still in memory. The stylized pixels themselves
        # are not compared across libraries: after Adam's first steps every weight has moved by about
        # +-lr whatever its gradient's size, so weights whose gradient is rounding noise (the biases
        # that instance norm cancels) move differently in any two float32 implementations.
        same = torch.equal(output, trained.eval()(content_image).cpu())
    return output[0].clone().clamp(0, 255), same


parser = argparse.ArgumentParser(description="parser for fast-neural-style")
parser.add_argument("--epochs", type=int, default=2)
parser.add_argument("--batch-size", type=int, default=2)
parser.add_argument("--save-model-dir", type=str, default="saved_models")
parser.add_argument("--image-size", type=int, default=16)
parser.add_argument("--cuda", type=int, default=0)
parser.add_argument("--seed", type=int, default=42)
parser.add_argument("--content-weight", type=float, default=1e5)
parser.add_argument("--style-weight", type=float, default=1e10)
parser.add_argument("--lr", type=float, default=1e-3)
parser.add_argument("--log-interval", type=int, default=1)
args = parser.parse_args()

check_paths(args)
path, trained = train(args)
stylized, same = stylize(args, path, trained)
emit({**logged, "stylized_shape": list(stylized.shape), "saved_model_stylizes_the_same": same})
