"""Activation memory of a training step: what the recorded graph keeps alive for backward.

For the MLP and CNN of ``steps.py`` (same shapes and batch sizes), after the forward pass and
before ``backward()`` -- the peak of a training step, when every activation the backward needs is
held -- this prints:

- ``graph``: the bytes of the distinct arrays the graph's nodes hold (operands and outputs),
  other than the parameters and the input batch;
- ``live``: how much the JAX arrays alive in the process grew during the forward pass;
- ``torch``: PyTorch's figure for the same model, the bytes of the distinct tensors its autograd
  saved for backward (``saved_tensors_hooks``) other than parameters and the input batch;
- ``lazy temp``: in lazy mode (docs/lazy.md) nothing is held between ops: the whole step
  (forward, backward, SGD update) is one XLA program, and this is the scratch memory XLA assigns
  it (activations and the gradients' temporaries; its arguments and outputs, the parameters and
  gradients, are not counted), read from the compiled program's ``memory_analysis()``;
- ``jit temp``: the same figure for the hand-written ``jax.jit`` SGD step of ``steps.py`` (the
  gradients returned, as a PyTorch-style step keeps them in ``.grad``).

    python benchmarks/memory.py [--no-torch]
"""

from __future__ import annotations

import argparse
import gc

import jax
import numpy as np
from steps import (
    CNN_FAN_INS,
    CNN_SHAPES,
    LR,
    MLP_FAN_INS,
    MLP_SHAPES,
    cnn_loss,
    cnn_modules,
    init_params,
    mlp_loss,
    mlp_modules,
)

import tracegrad as tg

MODELS = {
    "mlp": (mlp_modules, (256, 784)),
    "cnn": (cnn_modules, (64, 1, 28, 28)),
}
JAX_MODELS = {
    "mlp": (mlp_loss, MLP_SHAPES, MLP_FAN_INS),
    "cnn": (cnn_loss, CNN_SHAPES, CNN_FAN_INS),
}


def _live_bytes() -> int:
    gc.collect()
    return sum(a.nbytes for a in jax.live_arrays())


def graph_bytes(loss, exclude: set) -> int:
    """Bytes of the distinct arrays held by the nodes of ``loss``'s graph (not in ``exclude``)."""
    seen, total = set(exclude), 0
    stack, nodes = [loss.grad_fn], set()
    while stack:
        node = stack.pop()
        if node is None or id(node) in nodes:
            continue
        nodes.add(id(node))
        arrays = []
        for x in getattr(node, "inputs", None) or ():
            if isinstance(x, tg.Tensor):
                arrays.append(x._storage.array)
        out = getattr(node, "_out", None)
        if out is not None:
            arrays.append(out.array)
        for a in arrays:
            if isinstance(a, jax.Array) and id(a) not in seen:
                seen.add(id(a))
                total += a.nbytes
        stack.extend(u for u, _ in node.next_functions)
    return total


def measure_tracegrad(name: str) -> tuple[int, int]:
    build, shape = MODELS[name]
    tg.manual_seed(0)
    model = build(tg.nn)
    rng = np.random.default_rng(1)
    x = tg.tensor(rng.standard_normal(shape).astype(np.float32))
    y = tg.tensor(rng.integers(0, 10, shape[0]))
    before = _live_bytes()
    loss = tg.nn.functional.cross_entropy(model(x), y)
    live = _live_bytes() - before
    exclude = {id(p._storage.array) for p in model.parameters()} | {id(x._storage.array)}
    return graph_bytes(loss, exclude), live


def measure_lazy(name: str) -> int:
    """The scratch bytes XLA assigns to a lazy training step's program (see the module doc)."""
    build, shape = MODELS[name]
    tg.manual_seed(0)
    model = build(tg.nn)
    optimizer = tg.optim.SGD(model.parameters(), lr=0.01)
    rng = np.random.default_rng(1)
    x = tg.tensor(rng.standard_normal(shape).astype(np.float32))
    y = tg.tensor(rng.integers(0, 10, shape[0]))
    before = tg.is_lazy()
    tg.set_lazy(True)
    try:
        for _ in range(2):  # the second step runs the cached program of a steady step
            optimizer.zero_grad()
            loss = tg.nn.functional.cross_entropy(model(x), y)
            loss.backward()
            optimizer.step()
            loss.item()
        key = next(reversed(tg.lazy._programs))  # the program the last realization ran
        program = tg.lazy._programs[key]
    finally:
        tg.set_lazy(before)
    specs = [jax.ShapeDtypeStruct(s, d, weak_type=w) for s, d, w in key[1]]
    return program.lower(*specs).compile().memory_analysis().temp_size_in_bytes


def measure_jit(name: str) -> int:
    """The scratch bytes XLA assigns to the hand-written ``jax.jit`` step (see the module doc)."""
    loss_fn, shapes, fan_ins = JAX_MODELS[name]
    params = [jax.numpy.asarray(a) for a in init_params(shapes, fan_ins)]
    x_shape = MODELS[name][1]
    x = jax.ShapeDtypeStruct(x_shape, np.float32)
    y = jax.ShapeDtypeStruct((x_shape[0],), np.int32)

    def sgd_step(params, x, y):
        loss, grads = jax.value_and_grad(loss_fn)(params, x, y)
        return [p - LR * g for p, g in zip(params, grads)], grads, loss

    compiled = jax.jit(sgd_step, donate_argnums=0).lower(params, x, y).compile()
    return compiled.memory_analysis().temp_size_in_bytes


def measure_torch(name: str) -> int:
    import torch

    build, shape = MODELS[name]
    model = build(torch.nn)
    rng = np.random.default_rng(1)
    x = torch.tensor(rng.standard_normal(shape).astype(np.float32))
    y = torch.tensor(rng.integers(0, 10, shape[0]))
    exclude = {p.untyped_storage().data_ptr() for p in model.parameters()}
    exclude.add(x.untyped_storage().data_ptr())
    saved: dict[int, int] = {}

    def pack(t):
        ptr = t.untyped_storage().data_ptr()
        if ptr not in exclude:
            saved[ptr] = t.untyped_storage().nbytes()
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        torch.nn.functional.cross_entropy(model(x), y)
    return sum(saved.values())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--no-torch", action="store_true")
    args = parser.parse_args()
    mb = 2**20
    print(
        f"{'model':6} {'graph MB':>9} {'live MB':>8} {'lazy temp MB':>13} {'jit temp MB':>12} "
        f"{'torch MB':>9}"
    )
    for name in MODELS:
        graph, live = measure_tracegrad(name)
        lazy_temp, jit_temp = measure_lazy(name), measure_jit(name)
        torch_mb = "" if args.no_torch else f"{measure_torch(name) / mb:9.2f}"
        print(
            f"{name:6} {graph / mb:9.2f} {live / mb:8.2f} {lazy_temp / mb:13.2f} "
            f"{jit_temp / mb:12.2f} {torch_mb}"
        )


if __name__ == "__main__":
    main()
