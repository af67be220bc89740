"""Reverse-mode automatic differentiation: ``backward``, ``grad``, grad modes and ``Function``."""

from __future__ import annotations

from .engine import run_backward
from .function import Function, FunctionCtx
from .grad_mode import (
    enable_grad,
    inference_mode,
    is_grad_enabled,
    is_inference_mode_enabled,
    no_grad,
    set_grad_enabled,
)
from .node import AccumulateGrad, Node

__all__ = [
    "backward",
    "grad",
    "Function",
    "FunctionCtx",
    "Node",
    "AccumulateGrad",
    "no_grad",
    "enable_grad",
    "set_grad_enabled",
    "is_grad_enabled",
    "inference_mode",
    "is_inference_mode_enabled",
]


def _as_list(x) -> list:
    from ..tensor import Tensor

    if x is None:
        return []
    if isinstance(x, Tensor):
        return [x]
    return list(x)


def _root_grads(outputs: list, grad_outputs: list, create_graph: bool) -> list:
    """Validate outputs and their seed gradients; ones for scalar outputs given no gradient."""
    from ..tensor import Tensor

    if grad_outputs and len(grad_outputs) != len(outputs):
        raise RuntimeError(
            f"Mismatch in number of gradients: got {len(grad_outputs)} gradients for "
            f"{len(outputs)} outputs; pass one gradient per output (None for a scalar output)"
        )
    grads = []
    for i, out in enumerate(outputs):
        if not out.requires_grad:
            raise RuntimeError(
                f"element {i} of tensors does not require grad and does not have a grad_fn"
            )
        g = grad_outputs[i] if grad_outputs else None
        if g is None:
            if out.numel() != 1:
                raise RuntimeError(
                    f"grad can be implicitly created only for scalar outputs (output {i} has shape "
                    f"{list(out.shape)}); pass gradient= with that shape for a vector-Jacobian product"
                )
            from ..creation import ones_like

            g = ones_like(out)
        else:
            if not isinstance(g, Tensor):
                from ..tensor import tensor

                g = tensor(g, dtype=out.dtype)
            if g.shape != out.shape:
                raise RuntimeError(
                    f"Mismatch in shape: grad_output[{i}] has a shape of {g.shape} and output[{i}] "
                    f"has a shape of {out.shape}."
                )
            if g.dtype != out.dtype:  # PyTorch casts the seed to the output's dtype
                g = g.to(out.dtype)
            if not create_graph:
                g = g.detach()
        grads.append(g)
    return grads


def backward(
    tensors,
    grad_tensors=None,
    retain_graph: bool | None = None,
    create_graph: bool = False,
    inputs=None,
) -> None:
    """Accumulate gradients of ``tensors`` into the ``.grad`` of the graph's leaves.

    ``grad_tensors`` seeds a vector-Jacobian product for non-scalar outputs. The graph's saved
    tensors are freed unless ``retain_graph`` (which defaults to ``create_graph``). With ``inputs``,
    only those tensors accumulate.
    """
    outputs = _as_list(tensors)
    grads = _root_grads(
        outputs, _as_list(grad_tensors) if grad_tensors is not None else [], create_graph
    )
    if retain_graph is None:
        retain_graph = create_graph
    targets = _as_list(inputs) if inputs is not None else None
    if targets is not None and not targets:
        raise RuntimeError("backward() received an empty list of inputs")
    run_backward(outputs, grads, retain_graph, create_graph, inputs=targets, accumulate=True)


def grad(
    outputs,
    inputs,
    grad_outputs=None,
    retain_graph: bool | None = None,
    create_graph: bool = False,
    only_inputs: bool = True,
    allow_unused: bool | None = None,
    is_grads_batched: bool = False,
    materialize_grads: bool = False,
) -> tuple:
    """Return the gradients of ``outputs`` with respect to ``inputs`` without touching ``.grad``.

    With ``create_graph=True`` the returned gradients are themselves differentiable.
    """
    if is_grads_batched:
        raise NotImplementedError("autograd.grad(is_grads_batched=True) is not supported")
    outs = _as_list(outputs)
    ins = _as_list(inputs)
    for i, t in enumerate(ins):
        if not t.requires_grad:
            raise RuntimeError(
                f"One of the differentiated Tensors (input {i}) does not require grad"
            )
    grads = _root_grads(
        outs, _as_list(grad_outputs) if grad_outputs is not None else [], create_graph
    )
    if retain_graph is None:
        retain_graph = create_graph
    if allow_unused is None:
        allow_unused = materialize_grads
    result = run_backward(outs, grads, retain_graph, create_graph, inputs=ins, accumulate=False)
    for i, (t, g) in enumerate(zip(ins, result)):
        if g is None:
            if not allow_unused:
                raise RuntimeError(
                    f"One of the differentiated Tensors (input {i}) appears to not have been used "
                    "in the graph. Set allow_unused=True if this is the desired behavior."
                )
            if materialize_grads:
                from ..creation import zeros_like

                result[i] = zeros_like(t)
    return tuple(result)
