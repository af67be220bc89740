"""The backward engine: iterative, child-counting, frees cotangents as soon as they are used.

There is no recursion anywhere, so a graph of any depth (a 100,000-op chain) backpropagates.
Broadcasting and dtype promotion are undone here, in one place: each gradient a rule returns is
summed back to the shape of the input it belongs to and cast to that input's dtype.

The loop itself (``propagate``) is shared by two callers: the eager engine below, which runs each
rule on the graph's own tensors, and ``compiled.py``, which replays the same loop on JAX tracers to
build one XLA program for a recurring graph. They differ only in where a node's saved operands
come from (``saved``) and where the gradients of leaves and retained tensors go (the ``sink``).
"""

from __future__ import annotations

import threading
import warnings

import jax
import jax.numpy as jnp

from .. import _scope, _tracing
from ..creation import ones_like
from ..tensor import Tensor, tensor
from . import anomaly_mode
from .grad_mode import set_grad_enabled
from .node import AccumulateGrad, NodeLike, accumulate_node

__all__ = ["run_backward", "graph_order", "as_list", "root_grads", "is_checkpoint_valid"]

# Whether the backward running in this thread may run a reentrant checkpoint's backward: not
# under ``autograd.grad`` or ``backward(inputs=...)`` (PyTorch's ``_is_checkpoint_valid``).
_local = threading.local()


def is_checkpoint_valid() -> bool:
    """False while this thread runs ``autograd.grad`` or ``backward(inputs=...)``, whose
    gradients a reentrant checkpoint (which accumulates into ``.grad``) cannot deliver."""
    return getattr(_local, "checkpoint_valid", True)


def as_list(x) -> list:
    """``None``, a tensor or a sequence of tensors, as a list."""
    if x is None:
        return []
    if isinstance(x, Tensor):
        return [x]
    return list(x)


def root_grads(outputs: list, grad_outputs: list, create_graph: bool) -> list:
    """Validate outputs and their seed gradients; ones for scalar outputs given no gradient."""
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
            g = ones_like(out)
        else:
            if not isinstance(g, Tensor):
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


def _graph_root(t):
    return t.grad_fn if t.grad_fn is not None else accumulate_node(t)


def _topological_order(roots: list) -> list:
    """Nodes reachable from ``roots``, each after every node that sends it a gradient (Kahn)."""
    # One node may be the root of several outputs (``grad([y, y], ...)``, or two outputs that are
    # one tensor): it must count its children once, or they would never become ready.
    roots = list(dict.fromkeys(roots))
    deps: dict = {}
    stack = list(roots)
    seen = set(map(id, roots))
    nodes = list(roots)
    while stack:
        node = stack.pop()
        for child, _ in node.next_functions:
            if child is None:
                continue
            deps[child] = deps.get(child, 0) + 1
            if id(child) not in seen:
                seen.add(id(child))
                nodes.append(child)
                stack.append(child)
    ready = [n for n in dict.fromkeys(roots) if n not in deps]
    order = []
    while ready:
        node = ready.pop()
        order.append(node)
        for child, _ in node.next_functions:
            if child is None:
                continue
            deps[child] -= 1
            if deps[child] == 0:
                ready.append(child)
    return order


def _needed(order: list, targets: set) -> set:
    """Nodes on some path to a target (walk the order backwards: children come later)."""
    needed = set()
    for node in reversed(order):
        if node in targets or any(c in needed for c, _ in node.next_functions if c is not None):
            needed.add(node)
    return needed


def _reduce(grad, meta):
    """Sum a gradient back over broadcast dimensions and cast it to its input's dtype."""
    shape, dtype = meta
    array = grad._storage._array  # shape and dtype only: a pending value stays pending
    if array.shape != shape:
        grad = grad.sum_to_size(shape)
    if array.dtype != dtype.np:
        grad = grad.to(dtype)
    return grad


def propagate(
    order: list[NodeLike], pending: dict, saved, sink, retain_graph: bool, needed=None
) -> None:
    """The backward loop: pop each node's summed cotangent, run its rule, pass the results on.

    ``pending`` maps nodes to their incoming gradient (the roots' seeds on entry). ``saved(node)``
    returns the rule's ``(out, operands)``; ``sink.leaf(node, grad)`` receives a leaf's gradient and
    ``sink.nonleaf(node, grad)`` a non-leaf's (for ``retain_grad`` and ``inputs=``), returning True
    when nothing below that node is needed. With ``needed``, other nodes are skipped.
    """
    for node in order:
        grad = pending.pop(node, None)
        if grad is None or (needed is not None and node not in needed):
            continue
        if isinstance(node, AccumulateGrad):
            sink.leaf(node, grad)
            continue
        if node._pre_hooks:
            for hook in list(node._pre_hooks):
                new = hook(grad)
                if new is not None:
                    grad = new
        if sink.nonleaf(node, grad):
            continue

        if _tracing.active and getattr(node, "_recompute", None) is not None:
            # A checkpointed node traced into a compiled step: its recomputation must wait for
            # this cotangent, or XLA would run it during the forward (utils/checkpoint.py).
            node._recompute[0].cotangent = grad._storage.array
        out, operands = saved(node)
        if anomaly_mode._enabled:
            grads = _anomaly_rule(node, grad, out, operands)
        elif _tracing.active:  # a compile trace counts the rule's ops under the node's module
            outer = _scope.swap(node.scope)
            try:
                grads = node.op.rule(grad, out, *operands, **node.params)
            finally:
                _scope.swap(outer)
        else:
            grads = node.op.rule(grad, out, *operands, **node.params)
        if node._post_hooks:
            grads = _run_post_hooks(node, grads, grad)
        del grad, out, operands
        if not retain_graph:
            node.release()
        for (child, _), g, meta in zip(node.next_functions, grads, node.in_meta):
            if child is None or g is None:
                continue
            g = _reduce(g, meta)
            prev = pending.get(child)
            pending[child] = g if prev is None else prev + g


def _hook_name(hook) -> str:
    return getattr(hook, "__name__", type(hook).__name__)


def _run_post_hooks(node, grads, grad) -> tuple:
    """Run ``node``'s post-hooks (``Node.register_hook``) on the gradients its rule produced,
    reduced to the inputs' shapes first, as PyTorch's engine validates a node's outputs before its
    post-hooks see them. A hook may return a replacement tuple, checked as PyTorch checks it."""
    grads = tuple(
        None if child is None or g is None else _reduce(g, meta)
        for (child, _), g, meta in zip(node.next_functions, grads, node.in_meta)
    )
    for hook in list(node._post_hooks):
        new = hook(grads, (grad,))
        if new is None:
            continue
        if not isinstance(new, tuple):
            raise TypeError(f"expected tuple, but hook returned '{type(new).__name__}'")
        if len(new) != len(grads):
            raise RuntimeError(
                f"hook '{_hook_name(hook)}' has returned an incorrect number of values (got "
                f"{len(new)}, but expected {len(grads)})"
            )
        for g, meta in zip(new, node.in_meta):
            if g is not None and meta is not None and tuple(g.shape) != tuple(meta[0]):
                raise RuntimeError(f"hook '{_hook_name(hook)}' has changed the size of value")
        grads = new
    return grads


_warned_traced_nan = False


def _anomaly_rule(node, grad, out, operands) -> tuple:
    """Run a node's rule in anomaly mode: on an error, or a gradient holding NaN (``check_nan``),
    warn with the forward call's traceback and raise, as PyTorch's engine does."""
    global _warned_traced_nan
    outer = _scope.swap(node.scope) if _tracing.active else None
    try:
        grads = node.op.rule(grad, out, *operands, **node.params)
    except Exception:
        anomaly_mode.report(node)
        raise
    finally:
        if outer is not None:
            _scope.swap(outer)
    if not anomaly_mode._check_nan:
        return grads
    for i, g in enumerate(grads):
        if g is None:
            continue
        a = g._storage.array
        if isinstance(a, jax.core.Tracer):  # inside tracegrad.compile: no values to look at
            if not _warned_traced_nan:
                _warned_traced_nan = True
                warnings.warn(
                    "anomaly detection cannot check for NaN inside a tracegrad.compile step (the "
                    "values are traced, not computed); run the step eagerly to check it",
                    stacklevel=2,
                )
            continue
        if bool(jnp.isnan(a).any()):
            anomaly_mode.report(node)
            raise RuntimeError(f"Function '{node.name()}' returned nan values in its {i}th output.")
    return grads


class _EagerSink:
    """Where the eager engine's gradients go: leaf hooks, ``.grad`` accumulation, ``inputs=``."""

    def __init__(self, accumulate: bool, create_graph: bool, targets, needed):
        self.accumulate, self.create_graph = accumulate, create_graph
        self.targets, self.needed = targets, needed
        self.captured: dict = {}

    def leaf(self, node, grad) -> None:
        var = node.variable
        for hook in var._hooks or ():
            new = hook(grad)
            if new is not None:
                grad = new
        if self.accumulate:
            var._accumulate_grad(grad, self.create_graph)
            for hook in var.__dict__.get("_post_accumulate_grad_hooks", ()):
                hook(var)
        else:
            self.captured[node] = grad

    def nonleaf(self, node, grad) -> bool:
        target = self.targets.get(node) if self.targets is not None else None
        if node._retained is not None:
            t = node._retained()
            # A retained tensor that is also a backward() input accumulates once.
            if t is not None and not (self.accumulate and t is target):
                t._accumulate_grad(grad, self.create_graph)
        if target is None:
            return False
        if self.accumulate:
            target._accumulate_grad(grad, self.create_graph)
        else:
            self.captured[node] = grad
        return not any(c in self.needed for c, _ in node.next_functions if c is not None)


def _saved(node):
    return node.saved()


def graph_order(roots) -> tuple[list, list]:
    """The graph nodes of ``roots`` (tensors), and every node reachable from them in the order the
    backward pass runs them."""
    root_nodes = [_graph_root(t) for t in roots]
    return root_nodes, _topological_order(root_nodes)


def run_backward(
    roots,
    grad_roots,
    retain_graph: bool,
    create_graph: bool,
    inputs=None,
    accumulate: bool = True,
    order: list | None = None,
):
    """Propagate ``grad_roots`` from ``roots`` to the leaves.

    With ``accumulate`` the gradients of leaves (or of ``inputs`` only, when given) are added to
    their ``.grad``; without it (``autograd.grad``) the gradients of ``inputs`` are returned in order,
    None for an input no path reaches. ``order`` is ``graph_order(roots)``'s, when the caller has
    it already.
    """
    root_nodes = [_graph_root(t) for t in roots]
    if order is None:
        order = _topological_order(root_nodes)

    pending: dict = {}
    for node, g in zip(root_nodes, grad_roots):
        pending[node] = g if node not in pending else pending[node] + g
    targets = needed = target_nodes = None
    if inputs is not None:
        target_nodes = [_graph_root(t) for t in inputs]
        targets = dict(zip(target_nodes, inputs))
        needed = _needed(order, targets)
    sink = _EagerSink(accumulate, create_graph, targets, needed)
    valid = is_checkpoint_valid()
    _local.checkpoint_valid = inputs is None
    try:
        with set_grad_enabled(create_graph):
            propagate(order, pending, _saved, sink, retain_graph, needed)
    finally:
        _local.checkpoint_valid = valid

    if accumulate:
        return None
    return [sink.captured.get(n) for n in target_nodes]
