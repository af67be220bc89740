"""Reverse-mode automatic differentiation: ``backward``, ``grad``, grad modes and ``Function``."""

from __future__ import annotations

from .._surface import expose
from ..creation import zeros_like
from . import anomaly_mode, compiled, engine, functional  # noqa: F401 - torch.autograd.functional
from .anomaly_mode import (
    detect_anomaly,
    is_anomaly_check_nan_enabled,
    is_anomaly_enabled,
    set_anomaly_enabled,
    set_detect_anomaly,
)
from .engine import as_list, root_grads, run_backward
from .function import Function, FunctionCtx
from .grad_mode import (
    enable_grad,
    inference_mode,
    is_grad_enabled,
    is_inference_mode_enabled,
    no_grad,
    set_grad_enabled,
)
from .gradcheck import gradcheck, gradgradcheck
from .node import AccumulateGrad, Node
from .variable import Variable

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
    "detect_anomaly",
    "set_detect_anomaly",
    "is_anomaly_enabled",
    "is_anomaly_check_nan_enabled",
    "set_anomaly_enabled",
    "gradcheck",
    "gradgradcheck",
    "Variable",
]


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
    outputs = as_list(tensors)
    grads = root_grads(
        outputs, as_list(grad_tensors) if grad_tensors is not None else [], create_graph
    )
    if retain_graph is None:
        retain_graph = create_graph
    targets = as_list(inputs) if inputs is not None else None
    if targets is not None and not targets:
        raise RuntimeError("backward() received an empty list of inputs")
    order = None
    # Anomaly mode checks each node's output, so it runs node by node (anomaly_mode.py).
    if targets is None and not create_graph and compiled.is_enabled() and not anomaly_mode._enabled:
        # A graph seen before runs as one compiled XLA program (compiled.py).
        root_nodes, order = engine.graph_order(outputs)
        if compiled.try_backward(order, root_nodes, grads, retain_graph):
            return
    run_backward(outputs, grads, retain_graph, create_graph, inputs=targets, order=order)


@expose(methods=("backward",))
def _backward_method(
    self, gradient=None, retain_graph=None, create_graph=False, inputs=None
) -> None:
    """Accumulate the gradient of this tensor into the leaves' ``.grad`` (see autograd.backward)."""
    backward(self, gradient, retain_graph, create_graph, inputs=inputs)


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
    outs = as_list(outputs)
    ins = as_list(inputs)
    for i, t in enumerate(ins):
        if not t.requires_grad:
            raise RuntimeError(
                f"One of the differentiated Tensors (input {i}) does not require grad"
            )
    grads = root_grads(
        outs, as_list(grad_outputs) if grad_outputs is not None else [], create_graph
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
                result[i] = zeros_like(t)
    return tuple(result)
