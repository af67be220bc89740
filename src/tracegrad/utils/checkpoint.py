"""Activation checkpointing (``torch.utils.checkpoint``): trade compute for memory.

A checkpointed segment keeps none of its intermediate activations for backward; backward reruns
the segment's forward (under grad mode, with the random state of the first run so dropout draws
the same mask) and backpropagates through the recomputation. Gradients are exactly those of the
segment run plainly.

Two implementations, as in PyTorch:

- ``use_reentrant=False`` runs the forward recording the graph as usual, then strips the nodes
  recorded inside the segment of their saved values (each keeps a ``(region, index)`` handle in
  ``node._recompute``). The first node whose saved values backward reads reruns the segment and
  hands each original node the values its counterpart in the rerun saved (the k-th node recorded
  is matched with the k-th). The outputs keep their ordinary ``grad_fn``; ``autograd.grad``,
  ``backward(inputs=...)`` and ``create_graph=True`` (the recomputed values are recorded, so
  second derivatives flow through them) work.
- ``use_reentrant=True`` is a custom ``autograd.Function`` (``CheckpointFunctionBackward``) whose
  forward runs under ``no_grad`` and whose backward reruns the segment on detached inputs and
  calls ``backward`` on it, accumulating straight into the ``.grad`` of the parameters it uses.
  Hence PyTorch's limits: no ``autograd.grad`` or ``inputs=``, no keyword arguments, outputs
  that require grad only if an input does, no second derivatives.

Inside ``tracegrad.compile`` both trace the recomputation into the step's program.
"""

from __future__ import annotations

import contextlib
import warnings
from collections.abc import Callable, Iterable
from typing import Any

import jax

from .. import _tracing
from .. import random as _random
from ..autograd import backward as _backward
from ..autograd import engine as _engine
from ..autograd import node as _node
from ..autograd.function import Function, FunctionCtx
from ..autograd.grad_mode import enable_grad, is_grad_enabled, no_grad
from ..autograd.node import Node, shape_only
from ..nn.modules.container import Sequential
from ..tensor import Tensor

__all__ = [
    "checkpoint",
    "checkpoint_sequential",
    "CheckpointError",
    "CheckpointFunction",
    "check_backward_validity",
    "detach_variable",
    "noop_context_fn",
    "set_checkpoint_early_stop",
    "set_checkpoint_debug_enabled",
]

_debug_enabled: bool | None = None  # set_checkpoint_debug_enabled's override of ``debug``


class CheckpointError(RuntimeError):
    """The recomputation of a checkpointed segment did not match its first run."""


def noop_context_fn() -> tuple:
    """The default ``context_fn``: no context around the forward or the recomputation."""
    return contextlib.nullcontext(), contextlib.nullcontext()


def check_backward_validity(inputs: Iterable[Any]) -> None:
    """Warn, as PyTorch does, when no tensor input requires grad (a reentrant checkpoint's
    outputs then do not either)."""
    if not any(isinstance(x, Tensor) and x.requires_grad for x in inputs):
        warnings.warn(
            "None of the inputs have requires_grad=True. Gradients will be None", stacklevel=2
        )


def detach_variable(inputs: tuple) -> tuple:
    """Detached copies of ``inputs`` that keep their ``requires_grad``."""
    if not isinstance(inputs, tuple):
        raise RuntimeError(
            f"Only tuple of tensors is supported. Got Unsupported input type: {type(inputs).__name__}"
        )
    out = []
    for x in inputs:
        if not isinstance(x, Tensor):
            out.append(x)
            continue
        d = x.detach()
        d.requires_grad = x.requires_grad
        out.append(d)
    return tuple(out)


@contextlib.contextmanager
def set_checkpoint_early_stop(enable: bool):
    """Context manager choosing whether non-reentrant checkpoints stop recomputing once every
    needed value is back. Accepted for PyTorch code: tracegrad always recomputes the whole
    segment, which gives the same values (only the time differs)."""
    del enable  # the whole segment is recomputed either way; the values are the same
    yield


@contextlib.contextmanager
def set_checkpoint_debug_enabled(enabled: bool | None):
    """Context manager overriding every non-reentrant checkpoint's ``debug`` inside it (None:
    each call's own ``debug``)."""
    global _debug_enabled
    prev = _debug_enabled
    _debug_enabled = enabled
    try:
        yield
    finally:
        _debug_enabled = prev


@contextlib.contextmanager
def _rng(state):
    """Run with the random state ``state`` (None: as is), restoring the current one after, so a
    recomputation neither changes nor consumes the caller's random stream."""
    if state is None:
        yield
        return
    current = _random.get_rng_state()
    _random.set_rng_state(state)
    try:
        yield
    finally:
        _random.set_rng_state(current)


# ------------------------------------------------------------------------------- reentrant
class CheckpointFunction(Function):
    """The reentrant checkpoint: a Function whose backward reruns the segment and backpropagates
    through it with ``backward()`` (so parameters' ``.grad`` accumulate directly)."""

    @staticmethod
    def forward(ctx, run_function, preserve_rng_state, *args):
        check_backward_validity(args)
        ctx.run_function = run_function
        ctx.rng_state = _random.get_rng_state() if preserve_rng_state else None
        ctx.inputs = [None if isinstance(a, Tensor) else a for a in args]
        ctx.tensor_indices = [i for i, a in enumerate(args) if isinstance(a, Tensor)]
        ctx.save_for_backward(*(a for a in args if isinstance(a, Tensor)))
        with no_grad():
            outputs = run_function(*args)
        if not isinstance(outputs, Tensor):
            raise NotImplementedError(
                "checkpoint(use_reentrant=True) of a function that returns "
                f"{type(outputs).__name__} is not supported in tracegrad (its custom Functions "
                "have one tensor output); use checkpoint(..., use_reentrant=False), which takes "
                "any outputs"
            )
        return outputs

    @staticmethod
    def backward(ctx, *grads):
        if not _engine.is_checkpoint_valid():
            raise RuntimeError(
                "When use_reentrant=True, torch.utils.checkpoint is incompatible with .grad() or "
                "passing an `inputs` parameter to .backward(). To resolve this error, you can "
                "either set use_reentrant=False, or call .backward() without passing the "
                "`inputs` argument."
            )
        inputs = list(ctx.inputs)
        for i, t in zip(ctx.tensor_indices, ctx.saved_tensors):
            inputs[i] = t
        detached = detach_variable(tuple(inputs))
        if _tracing.current() is not None:  # traced into a compiled step: keep XLA from merging
            detached = _barrier(detached, grads[0]._storage.array)
        with _rng(ctx.rng_state), enable_grad():
            outputs = ctx.run_function(*detached)
        if not outputs.requires_grad:
            raise RuntimeError(
                "none of output has requires_grad=True, this checkpoint() is not necessary"
            )
        _backward(outputs, grads[0])
        return (None, None) + tuple(x.grad if isinstance(x, Tensor) else None for x in detached)


# ---------------------------------------------------------------------------- non-reentrant
def _barrier(args: tuple, cotangent) -> tuple:
    """The tensor arguments behind an XLA optimization barrier, for a recomputation traced into
    a compiled program: without it XLA sees the recomputation equal the forward (common
    subexpressions) and keeps the forward's activations instead, undoing the checkpoint. The
    copies are leaves that do not lead back to the originals in the graph, so this is only for a
    backward without ``create_graph`` (the recomputation then provides values, not a graph), or
    the reentrant checkpoint's detached inputs."""
    arrays = [a._storage.array for a in args if isinstance(a, Tensor)]
    if not arrays:
        return args
    # The cotangent goes through the barrier too, so the recomputation waits for the backward.
    arrays = iter(jax.lax.optimization_barrier([*arrays, cotangent])[:-1])
    return tuple(
        Tensor._wrap(next(arrays), requires_grad=a.requires_grad) if isinstance(a, Tensor) else a
        for a in args
    )


def _tensors(obj) -> list:
    """The tensors in a function's result (a tensor, or nested tuples, lists and dicts)."""
    if isinstance(obj, Tensor):
        return [obj]
    if isinstance(obj, (tuple, list)):
        return [t for x in obj for t in _tensors(x)]
    if isinstance(obj, dict):
        return [t for x in obj.values() for t in _tensors(x)]
    return []


def _region_nodes(outputs, start: int) -> list:
    """The nodes recorded after sequence number ``start`` that lead to ``outputs``, in the order
    they were recorded."""
    stack = [t.grad_fn for t in _tensors(outputs)]
    seen: set = set()
    nodes = []
    while stack:
        n = stack.pop()
        if type(n) is not Node or n._seq <= start or id(n) in seen:
            continue
        seen.add(id(n))
        nodes.append(n)
        stack.extend(c for c, _ in n.next_functions)
    nodes.sort(key=lambda n: n._seq)
    return nodes


def _ctx(node):
    ctx = node.params.get("ctx") if node.params else None
    return ctx if isinstance(ctx, FunctionCtx) else None


def _saves(node) -> bool:
    ctx = _ctx(node)
    if ctx is not None:
        return bool(ctx.saved_tensors)
    return bool(node.op.saved_inputs or node.op.saves_out)


def _saved_meta(node) -> tuple:
    """Shapes and dtypes of what ``node`` saved, for the determinism check."""
    ctx = _ctx(node)
    if ctx is not None:
        tensors = [t for t in ctx.saved_tensors if isinstance(t, Tensor)]
    else:
        tensors = [node.inputs[i] for i in node.op.saved_inputs]
        tensors = [t for t in tensors if isinstance(t, Tensor)]
    meta = [(tuple(t.shape), t.dtype) for t in tensors]
    if node._out is not None:
        meta.append((tuple(node.out_meta[0]), node.out_meta[1]))
    return tuple(meta)


class _Region:
    """One call of a non-reentrant checkpoint: what it needs to rerun the segment, and the
    recomputed nodes waiting to hand their saved values to the original ones."""

    def __init__(self, function, args, kwargs, rng_state, recompute_context, check, debug):
        self.function, self.args, self.kwargs = function, args, kwargs
        self.versions = [a._storage.version if isinstance(a, Tensor) else None for a in args]
        self.rng_state = rng_state
        self.recompute_context = recompute_context
        self.check, self.debug = check, debug
        self.count = 0  # nodes recorded in the segment
        self.packed: dict = {}  # index -> saved shapes/dtypes of the nodes stripped
        self.names: list = []
        self.values: dict = {}  # index -> recomputed node, until its original reads it
        self.cotangent = None  # in a compiled step: the gradient reaching the first node unpacked

    def pack(self, nodes: list) -> None:
        """Strip the nodes recorded in the segment of their saved values."""
        self.count = len(nodes)
        self.names = [n.name() for n in nodes]
        for i, n in enumerate(nodes):
            if n._recompute is not None or not _saves(n):  # a nested checkpoint's, or nothing
                continue
            self.packed[i] = _saved_meta(n) if self.check else None
            saved = n.op.saved_inputs
            n.inputs = tuple(
                shape_only(x) if j in saved and isinstance(x, Tensor) else x
                for j, x in enumerate(n.inputs)
            )
            n._out = None
            ctx = _ctx(n)
            if ctx is not None:
                ctx.saved_tensors = ()
            n._recompute = (self, i)

    def unpack(self, node, index: int) -> tuple:
        """The saved values of ``node`` (the segment's ``index``-th), recomputing the segment if
        they are not waiting: ``(inputs, versions, out storage, out version)``."""
        new = self.values.pop(index, None)
        if new is None:
            self._recompute()
            new = self.values.pop(index)
        if _ctx(node) is not None:
            node.params = new.params  # a custom Function's ctx, holding the recomputed tensors
        return new.inputs, new._versions, new._out, new._out_version

    def _recompute(self) -> None:
        for i, (a, v) in enumerate(zip(self.args, self.versions)):
            if v is not None and a._storage.version != v:
                raise RuntimeError(
                    "one of the variables needed for gradient computation has been modified by "
                    f"an inplace operation: [{a.dtype} {list(a.shape)}], which is input {i} of "
                    f"a checkpointed function, is at version {a._storage.version}; expected "
                    f"version {v} instead. Hint: clone() the input before modifying it."
                )
        args = self.args
        if self.cotangent is not None and not is_grad_enabled():
            args = _barrier(args, self.cotangent)
        self.cotangent = None
        start = next(_node._sequence)
        with _rng(self.rng_state), enable_grad(), self.recompute_context:
            outputs = self.function(*args, **self.kwargs)
        nodes = _region_nodes(outputs, start)
        if len(nodes) != self.count:
            raise CheckpointError(
                "torch.utils.checkpoint: A different number of tensors was saved during the "
                f"original forward and recomputation.\nNumber of tensors saved during forward: "
                f"{self.count}\nNumber of tensors saved during recomputation: {len(nodes)}."
                + self._trace(nodes)
            )
        for i, meta in self.packed.items():
            new = nodes[i]
            if meta is not None and _saved_meta(new) != meta:
                raise CheckpointError(
                    "torch.utils.checkpoint: Recomputed values for the following tensors have "
                    "different metadata than during the forward pass.\n"
                    f"node {i} ({self.names[i]}): saved {list(meta)} during forward, "
                    f"{list(_saved_meta(new))} during recomputation" + self._trace(nodes)
                )
            self.values[i] = new

    def _trace(self, nodes: list) -> str:
        if not self.debug:
            return ""
        return (
            "\n\nOperations recorded during the original forward:\n  "
            + "\n  ".join(self.names)
            + "\nOperations recorded during the recomputation:\n  "
            + "\n  ".join(n.name() for n in nodes)
        )


def _checkpoint_without_reentrant(
    function, preserve, context_fn, determinism_check, debug, args, kwargs
):
    if _debug_enabled is not None:
        debug = _debug_enabled
    if determinism_check not in ("default", "none"):
        raise ValueError(
            f"determinism_check should be one of ['default', 'none'], but got {determinism_check}"
        )
    forward_context, recompute_context = context_fn()
    if not is_grad_enabled():  # nothing is recorded, so nothing to free or recompute
        with forward_context:
            return function(*args, **kwargs)
    rng_state = _random.get_rng_state() if preserve else None
    start = next(_node._sequence)
    with forward_context:
        outputs = function(*args, **kwargs)
    region = _Region(
        function,
        args,
        kwargs,
        rng_state,
        recompute_context,
        determinism_check == "default",
        debug,
    )
    region.pack(_region_nodes(outputs, start))
    return outputs


def checkpoint(
    function: Callable,
    *args,
    use_reentrant: bool | None = None,
    context_fn: Callable[[], tuple] = noop_context_fn,
    determinism_check: str = "default",
    debug: bool = False,
    early_stop: bool = True,
    **kwargs,
):
    """Run ``function(*args, **kwargs)`` without keeping its intermediate activations for
    backward; backward recomputes them by running ``function`` again (with the random state of
    this call unless ``preserve_rng_state=False``). Returns what ``function`` returns, with the
    same values and gradients as calling it directly.

    ``use_reentrant`` selects PyTorch's implementation (see the module's docstring); not passing
    it warns as PyTorch does and means True. ``context_fn`` returns two context managers, entered
    around the forward and around the recomputation; ``determinism_check="default"`` checks that
    the recomputation saved tensors of the same shapes and dtypes, ``debug`` adds the operations
    of both runs to that error (both non-reentrant only). ``early_stop`` is accepted: the
    recomputation always runs the whole segment, which gives the same values.
    """
    del early_stop  # the whole segment is recomputed; the values are the same
    if use_reentrant is None:
        warnings.warn(
            "torch.utils.checkpoint: the use_reentrant parameter should be passed explicitly. "
            "Starting in PyTorch 2.9, calling checkpoint without use_reentrant will raise an "
            "exception. use_reentrant=False is recommended, but if you need to preserve the "
            "current default behavior, you can pass use_reentrant=True. Refer to docs for more "
            "details on the differences between the two variants.",
            stacklevel=2,
        )
        use_reentrant = True
    preserve = kwargs.pop("preserve_rng_state", True)
    if kwargs and use_reentrant:
        raise ValueError("Unexpected keyword arguments: " + ",".join(arg for arg in kwargs))
    if use_reentrant:
        if context_fn is not noop_context_fn or debug is not False:
            raise ValueError(
                "Passing `context_fn` or `debug` is only supported when use_reentrant=False."
            )
        return CheckpointFunction.apply(function, preserve, *args)
    return _checkpoint_without_reentrant(
        function, preserve, context_fn, determinism_check, debug, args, kwargs
    )


def checkpoint_sequential(
    functions, segments: int, input, use_reentrant: bool | None = None, **kwargs
):
    """Run a sequence of modules or functions (an ``nn.Sequential`` or a list) on ``input`` in
    ``segments`` chunks, checkpointing every chunk but the last (see :func:`checkpoint`)."""
    if use_reentrant is None:
        warnings.warn(
            "torch.utils.checkpoint.checkpoint_sequential: the use_reentrant parameter should be "
            "passed explicitly. In version 2.9 we will raise an exception if use_reentrant is "
            "not passed. use_reentrant=False is recommended, but if you need to preserve the "
            "current default behavior, you can pass use_reentrant=True. Refer to docs for more "
            "details on the differences between the two variants.",
            stacklevel=2,
        )
        use_reentrant = True
    preserve = kwargs.pop("preserve_rng_state", True)
    if kwargs:
        raise ValueError("Unexpected keyword arguments: " + ",".join(arg for arg in kwargs))

    def run_function(start, end, functions):
        def forward(input):
            for j in range(start, end + 1):
                input = functions[j](input)
            return input

        return forward

    if isinstance(functions, Sequential):
        functions = list(functions.children())
    segment_size = len(functions) // segments
    end = -1  # the last chunk is not checkpointed
    for start in range(0, segment_size * (segments - 1), segment_size):
        end = start + segment_size - 1
        input = checkpoint(
            run_function(start, end, functions),
            input,
            use_reentrant=use_reentrant,
            preserve_rng_state=preserve,
        )
    return run_function(end + 1, len(functions) - 1, functions)(input)
