"""The backward engine: iterative, child-counting, frees cotangents as soon as they are used.

There is no recursion anywhere, so a graph of any depth (a 100,000-op chain) backpropagates.
Broadcasting and dtype promotion are undone here, in one place: each gradient a rule returns is
summed back to the shape of the input it belongs to and cast to that input's dtype.
"""

from __future__ import annotations

from .grad_mode import set_grad_enabled
from .node import AccumulateGrad, accumulate_node

__all__ = ["run_backward"]


def _graph_root(t):
    return t.grad_fn if t.grad_fn is not None else accumulate_node(t)


def _topological_order(roots: list) -> list:
    """Nodes reachable from ``roots``, each after every node that sends it a gradient (Kahn)."""
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
    array = grad._storage.array
    if array.shape != shape:
        grad = grad.sum_to_size(shape)
    if array.dtype != dtype.np:
        grad = grad.to(dtype)
    return grad


def run_backward(
    roots,
    grad_roots,
    retain_graph: bool,
    create_graph: bool,
    inputs=None,
    accumulate: bool = True,
):
    """Propagate ``grad_roots`` from ``roots`` to the leaves.

    With ``accumulate`` the gradients of leaves (or of ``inputs`` only, when given) are added to
    their ``.grad``; without it (``autograd.grad``) the gradients of ``inputs`` are returned in order,
    None for an input no path reaches.
    """
    pending: dict = {}
    root_nodes = []
    for t, g in zip(roots, grad_roots):
        node = _graph_root(t)
        root_nodes.append(node)
        pending[node] = g if node not in pending else pending[node] + g

    order = _topological_order(root_nodes)
    targets = None
    if inputs is not None:
        target_nodes = [_graph_root(t) for t in inputs]
        targets = dict(zip(target_nodes, inputs))
        needed = _needed(order, targets)
    captured = {}

    with set_grad_enabled(create_graph):
        for node in order:
            grad = pending.pop(node, None)
            if grad is None:
                continue
            if targets is not None and node not in needed:
                continue
            if isinstance(node, AccumulateGrad):
                var = node.variable
                for hook in var._hooks or ():
                    new = hook(grad)
                    if new is not None:
                        grad = new
                if accumulate:
                    var._accumulate_grad(grad, create_graph)
                else:
                    captured[node] = grad
                continue

            if node._pre_hooks:
                for hook in list(node._pre_hooks):
                    new = hook(grad)
                    if new is not None:
                        grad = new
            target = targets.get(node) if targets is not None else None
            if node._retained is not None:
                t = node._retained()
                # A retained tensor that is also a backward() input accumulates once.
                if t is not None and not (accumulate and t is target):
                    t._accumulate_grad(grad, create_graph)
            if target is not None:
                if accumulate:
                    target._accumulate_grad(grad, create_graph)
                else:
                    captured[node] = grad
                if not any(c in needed for c, _ in node.next_functions if c is not None):
                    continue

            out, operands = node.saved()
            grads = node.op.rule(grad, out, *operands, **node.params)
            del grad, out, operands
            if not retain_graph:
                node.release()
            for (child, _), g, meta in zip(node.next_functions, grads, node.in_meta):
                if child is None or g is None:
                    continue
                g = _reduce(g, meta)
                prev = pending.get(child)
                pending[child] = g if prev is None else prev + g

    if accumulate:
        return None
    return [captured.get(n) for n in target_nodes]
