"""The machinery behind ``Module.register_backward_hook``, PyTorch's deprecated non-full hook.

PyTorch registers such a hook on the ``grad_fn`` of the module's (first) output, so
``hook(module, grad_input, grad_output)`` sees that *last node's* gradients: ``grad_output`` is
the gradient of its output, ``grad_input`` one gradient per input of that node (None where none
is needed). For ``nn.Linear`` on a 2-D input that node is ``AddmmBackward0`` and ``grad_input`` is
``(bias grad, input grad, weight.T grad)``; for ``nn.ReLU`` it is the input's gradient.

tracegrad registers the hook on its own last node (``Node.register_hook``). The numbers are
PyTorch's only where that node is the one PyTorch records, with the same inputs in the same
order. So the last node is checked before a hook is attached:

- when a built-in layer recorded it (the innermost module call of ``Node.scope``), the layer and
  the node must be in ``_BUILTIN``, a table of layers whose last node was checked against
  PyTorch's (``tests/test_module_backward_hook_legacy.py``);
- when user code recorded it (a custom module's ``forward``), its op must be in ``_USER_OPS``:
  ops that are PyTorch's own node wherever they end a computation. Generic ops such as ``add``,
  ``mul`` or ``reshape`` are not: they also end tracegrad's decompositions of fused PyTorch ops
  (``F.batch_norm``, ``F.linear`` on a 3-D input), where PyTorch's last node differs.

Anything else raises ``NotImplementedError`` when the module is called, rather than hand the hook
gradients that PyTorch would not. ``_LAYOUTS`` converts between a tracegrad node's gradient tuple
and PyTorch's where they are ordered differently (tracegrad's ``linear`` node is PyTorch's
``addmm`` on ``(bias, input, weight.T)``).
"""

from __future__ import annotations

import warnings
import weakref
from collections.abc import Callable

from ...tensor import Tensor

__all__ = ["attach", "warn_if_partial"]


def _two_d(node) -> bool:
    return len(node.out_meta[0]) == 2


def _always(node) -> bool:
    return True


_ACTIVATIONS = {
    "ReLU": "relu",
    "Sigmoid": "sigmoid",
    "Tanh": "tanh",
    "GELU": "gelu",
    "LeakyReLU": "leaky_relu",
    "ELU": "elu",
    "SELU": "elu",
    "SiLU": "silu",
    "Softplus": "softplus",
    "Hardtanh": "hardtanh",
    "ReLU6": "hardtanh",
    "Softmax": "softmax",
    "LogSoftmax": "log_softmax",
    "Mish": "mish",
    "Hardswish": "hardswish",
    "Hardsigmoid": "hardsigmoid",
    "LogSigmoid": "logsigmoid",
    "Softsign": "div",
    "Tanhshrink": "sub",
}

# built-in layer -> {op of its last node: the condition under which that node is PyTorch's}
_BUILTIN: dict[str, dict[str, Callable]] = {
    "Linear": {"linear": _two_d, "mm": _two_d},
    # (not ConvTranspose: tracegrad's node convolves with the flipped, transposed weight)
    **{f"Conv{n}d": {"convolution": _always} for n in (1, 2, 3)},
    "MaxPool2d": {"max_pool": _always},
    "AvgPool2d": {"avg_pool": _always},
    "Flatten": {"reshape": _always},
    "LayerNorm": {"layer_norm": _always},
    **{name: {op: _always} for name, op in _ACTIVATIONS.items()},
}

# ops that are PyTorch's own last node when user code calls them (see the module docstring)
_USER_OPS: dict[str, Callable] = {
    "linear": _two_d,
    "mm": _two_d,
    "convolution": _always,
    **{op: _always for op in _ACTIVATIONS.values() if op not in ("div", "sub")},
    "exp": _always,
    "log": _always,
}


def _addmm_to_torch(grads: tuple) -> tuple:
    gx, gw, gb = grads
    return (gb, gx, None if gw is None else gw.t())


def _addmm_from_torch(grads: tuple) -> tuple:
    gb, gx, gwt = grads
    return (gx, None if gwt is None else gwt.t(), gb)


# op -> (tracegrad's gradient tuple -> PyTorch's, PyTorch's -> tracegrad's)
_LAYOUTS: dict[str, tuple[Callable, Callable]] = {
    "linear": (_addmm_to_torch, _addmm_from_torch),
}


def _check(module, node) -> None:
    """Raise unless ``node``'s gradients are those of the node PyTorch records last."""
    op = getattr(node.op, "name", None)
    inner = node.scope[1] if node.scope is not None else None
    cls = type(inner)
    if inner is not None and cls.__module__.startswith("tracegrad.nn."):
        accepted = _BUILTIN.get(cls.__name__, {})
        where = f"{cls.__name__} layer"
    else:
        accepted = _USER_OPS
        where = "custom forward"
    cond = accepted.get(op)
    if cond is not None and cond(node):
        return
    raise NotImplementedError(
        f"{type(module).__name__}.register_backward_hook: the output of this call is produced by "
        f"tracegrad's {node.name()} (in a {where}), which is not known to be the last autograd "
        "node PyTorch records here, so the hook's grad_input could differ from PyTorch's. "
        "Use register_full_backward_hook (the gradients with respect to the module's inputs), "
        "or Tensor.register_hook on the tensor whose gradient you want."
    )


class _WrappedHook:
    """``hook(module, grad_input, grad_output)`` as a node post-hook, in PyTorch's layout."""

    def __init__(self, hook: Callable, module, op: str | None) -> None:
        self.hook = hook
        self.module = weakref.ref(module)
        self.layout = _LAYOUTS.get(op)
        self.__name__ = getattr(hook, "__name__", type(hook).__name__)

    def __call__(self, grad_inputs: tuple, grad_outputs: tuple):
        module = self.module()
        if module is None:
            raise RuntimeError("You are trying to call the hook of a dead Module!")
        if self.layout is None:
            return self.hook(module, grad_inputs, grad_outputs)
        to_torch, from_torch = self.layout
        torch_inputs = to_torch(grad_inputs)
        new = self.hook(module, torch_inputs, grad_outputs)
        if new is None:
            return None
        if not isinstance(new, tuple):
            raise TypeError(f"expected tuple, but hook returned '{type(new).__name__}'")
        if len(new) != len(torch_inputs):
            raise RuntimeError(
                f"hook '{self.__name__}' has returned an incorrect number of values (got "
                f"{len(new)}, but expected {len(torch_inputs)})"
            )
        for g, old in zip(new, torch_inputs):
            if g is not None and old is not None and g.shape != old.shape:
                raise RuntimeError(f"hook '{self.__name__}' has changed the size of value")
        return from_torch(new)


def attach(module, hooks: list, args: tuple, result) -> None:
    """Register ``hooks`` on the ``grad_fn`` of ``result``'s first tensor, as PyTorch's
    ``Module._call_impl`` does, and warn as it does where the hook will miss gradients."""
    var = result
    while not isinstance(var, Tensor):
        if isinstance(var, dict):
            var = next(v for v in var.values() if isinstance(v, Tensor))
        else:
            var = var[0]
    node = var.grad_fn
    if node is None:
        return
    _check(module, node)
    op = getattr(node.op, "name", None)
    for hook in hooks:
        node.register_hook(_WrappedHook(hook, module, op))
    warn_if_partial(args, result, node)


def _tensor_tuple(value, verb: str, grads: str) -> tuple | None:
    """``value`` (a tensor or a tuple of tensors) as a tuple; otherwise None, after PyTorch's
    FutureWarning that a hook on a module that does not ``verb`` one misses part of ``grads``."""
    if isinstance(value, Tensor):
        return (value,)
    if isinstance(value, tuple) and all(isinstance(v, Tensor) for v in value):
        return value
    warnings.warn(
        f"Using non-full backward hooks on a Module that does not {verb} a "
        "single Tensor or a tuple of Tensors is deprecated and will be removed "
        f"in future versions. This hook will be missing some of the {grads}. "
        "Please use register_full_backward_hook to get the documented behavior.",
        FutureWarning,
        stacklevel=6,  # the caller of the module, as warn_if_partial's warnings
    )
    return None


def warn_if_partial(inputs, result, grad_fn) -> None:
    """PyTorch's ``Module._maybe_warn_non_full_backward_hook``: a FutureWarning where the hook
    will miss part of ``grad_input`` or ``grad_output``."""
    result = _tensor_tuple(result, "return", "grad_output")
    inputs = None if result is None else _tensor_tuple(inputs, "take as input", "grad_input")
    if inputs is None:
        return
    out_grad_fn = {r.grad_fn for r in result if r.grad_fn is not None}
    if len(out_grad_fn) == 0 or (len(out_grad_fn) == 1 and grad_fn not in out_grad_fn):
        warnings.warn(
            "Using a non-full backward hook when outputs are nested in python data structure "
            "is deprecated and will be removed in future versions. This hook will be missing "
            "some grad_output.",
            FutureWarning,
            stacklevel=5,
        )
    elif len(out_grad_fn) > 1:
        warnings.warn(
            "Using a non-full backward hook when outputs are generated by different autograd "
            "Nodes is deprecated and will be removed in future versions. This hook will be "
            "missing some grad_output. Please use register_full_backward_hook to get the "
            "documented behavior.",
            FutureWarning,
            stacklevel=5,
        )
    else:
        inputs_grad_fn = {i.grad_fn for i in inputs if i.grad_fn is not None}
        next_functions = {n[0] for n in grad_fn.next_functions}
        if inputs_grad_fn != next_functions:
            warnings.warn(
                "Using a non-full backward hook when the forward contains multiple autograd "
                "Nodes is deprecated and will be removed in future versions. This hook will be "
                "missing some grad_input. Please use register_full_backward_hook to get the "
                "documented behavior.",
                FutureWarning,
                stacklevel=5,
            )
