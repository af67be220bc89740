"""Model ensembling with tracegrad.func: several small MLPs run as one vectorized model.

PyTorch's model-ensembling tutorial, with ``import tracegrad as torch``: ``stack_module_state``
stacks the parameters (and buffers) of ``--models`` MLPs of the same architecture along a new
leading dimension, a ``base`` copy of the model (whose own parameters are never used) supplies the
code, and ``vmap`` over ``functional_call(base, (params, buffers), (x,))`` runs every model at once:

(a) every model on the same minibatch: ``in_dims=(0, 0, None)``;
(b) each model on its own minibatch: ``in_dims=(0, 0, 0)``.

Both are checked against running the models one by one in a Python loop (the max difference is
printed), and both are differentiable: one ``backward()`` fills every model's stacked gradient.

Run: python examples/ensembling.py [--models 10] [--batch-size 64]
"""

from __future__ import annotations

import argparse
import copy

import tracegrad as torch
import tracegrad.nn.functional as F
from tracegrad import nn
from tracegrad.func import functional_call, stack_module_state, vmap


class SimpleMLP(nn.Module):
    """28*28 -> 128 -> 128 -> 10, as in the tutorial (inputs are MNIST-shaped random images)."""

    def __init__(self):
        super().__init__()
        self.fc1 = nn.Linear(784, 128)
        self.fc2 = nn.Linear(128, 128)
        self.fc3 = nn.Linear(128, 10)

    def forward(self, x):
        x = x.flatten(1)
        x = F.relu(self.fc1(x))
        x = F.relu(self.fc2(x))
        return self.fc3(x)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", type=int, default=10)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    torch.manual_seed(args.seed)
    num_models, n = args.models, args.batch_size
    models = [SimpleMLP() for _ in range(num_models)]

    # Random MNIST-shaped data: a minibatch for each model, and the first one shared by all.
    minibatches = torch.randn(num_models, n, 1, 28, 28)
    targets = torch.randint(10, (n,))
    minibatch = minibatches[0]

    predictions_diff_minibatch_loop = [model(mb) for model, mb in zip(models, minibatches)]
    predictions_same_minibatch_loop = [model(minibatch) for model in models]

    params, buffers = stack_module_state(models)
    print(
        "stacked parameters:", {k: tuple(v.shape) for k, v in params.items()}, "buffers:", buffers
    )

    # A copy on the "meta" device in PyTorch; here an ordinary copy: only its code is used.
    base_model = copy.deepcopy(models[0])

    def fmodel(params, buffers, x):
        return functional_call(base_model, (params, buffers), (x,))

    # (a) every model on the same minibatch.
    predictions_same = vmap(fmodel, in_dims=(0, 0, None))(params, buffers, minibatch)
    diff_same = (predictions_same - torch.stack(predictions_same_minibatch_loop)).abs().max()
    print(f"(a) same minibatch: predictions {tuple(predictions_same.shape)}")
    print(f"(a) max |vmap - loop| = {diff_same.item():.2e}")
    print(
        "(a) matches the loop:",
        torch.allclose(predictions_same, torch.stack(predictions_same_minibatch_loop), atol=1e-5),
    )

    # (b) each model on its own minibatch.
    predictions_diff = vmap(fmodel)(params, buffers, minibatches)
    diff_diff = (predictions_diff - torch.stack(predictions_diff_minibatch_loop)).abs().max()
    print(f"(b) own minibatches: predictions {tuple(predictions_diff.shape)}")
    print(f"(b) max |vmap - loop| = {diff_diff.item():.2e}")
    print(
        "(b) matches the loop:",
        torch.allclose(predictions_diff, torch.stack(predictions_diff_minibatch_loop), atol=1e-5),
    )

    # The ensemble is differentiable: the stacked parameters are leaves that require grad, so one
    # backward() of the summed losses gives each model the gradient of its own loss.
    loss = sum(F.cross_entropy(predictions_same[i], targets) for i in range(num_models))
    loss.backward()
    for model in models:
        F.cross_entropy(model(minibatch), targets).backward()
    grad_diff = max(
        (params[k].grad - torch.stack([dict(m.named_parameters())[k].grad for m in models]))
        .abs()
        .max()
        .item()
        for k in params
    )
    print(f"gradients of the stacked parameters: max |vmap - loop| = {grad_diff:.2e}")


if __name__ == "__main__":
    main()
