"""Graph nodes. A node is data: its op, static params, saved tensors and edges; no closures.

That makes a recorded graph a pure function of its saved arrays, so it can be replayed (and
compiled) and differentiated again with ``create_graph=True``.
"""

from __future__ import annotations

import itertools
import traceback
import weakref
from collections.abc import Callable
from typing import Protocol

from .. import _scope
from .._hooks import RemovableHandle
from ..tensor import Tensor
from . import anomaly_mode

__all__ = [
    "REGISTRY",
    "OpLike",
    "NodeLike",
    "Node",
    "AccumulateGrad",
    "RemovableHandle",
    "ShapeOnly",
    "record",
    "shape_only",
]

# Nodes are numbered in the order they are recorded (PyTorch's sequence number): a checkpointed
# region (``utils/checkpoint.py``) finds the nodes it recorded as those numbered after its start.
_sequence = itertools.count()

# Every registered op by name (filled by ``ops.registry.defop``). A compiled backward program is
# keyed by op names and rebuilt from them, so only these ops, never a custom ``Function``, replay.
REGISTRY: dict[str, OpLike] = {}

_FREED = (
    "Trying to backward through the graph a second time (or directly access saved tensors after "
    "they have already been freed). Saved intermediate values of the graph are freed when you call "
    ".backward() or autograd.grad(). Specify retain_graph=True if you need to backward through the "
    "graph a second time or if you need to access saved tensors after calling backward."
)


class OpLike(Protocol):
    """What a node's ``op`` gives the engine: a registered ``Op`` (``ops/registry.py``) or a custom
    ``autograd.Function``'s adapter (``function.py``)."""

    name: str
    grad_fn_name: str | Callable[[dict], str]
    saved_inputs: tuple  # the operands the rule reads (the rest are kept as shapes only)
    saves_out: bool  # whether the rule reads the output

    def rule(self, g, out, *operands, **params) -> tuple:
        """One gradient per operand (None where there is none)."""
        ...


class NodeLike(Protocol):
    """What ``engine.propagate`` reads of a node: a recorded :class:`Node`, or a node that the
    compiled backward rebuilds from a graph's signature (``compiled._PlanNode``)."""

    op: OpLike
    params: dict
    in_meta: tuple
    next_functions: tuple
    scope: object
    _pre_hooks: list | None
    _post_hooks: list | None
    _retained: object


class Node:
    """One recorded operation: ``grad_fn`` of the tensor it produced.

    ``inputs`` are the op's positional operands (tensors, Python scalars or None). The ones the VJP
    rule reads (``op.saved_inputs``) are checked against the versions they had when recorded;
    ``out_meta``/``in_meta`` keep shapes and dtypes so the engine can undo broadcasting and casts.
    """

    __slots__ = (
        "op",
        "params",
        "inputs",
        "in_meta",
        "next_functions",
        "_versions",
        "_out",
        "_out_version",
        "_released",
        "_pre_hooks",
        "_post_hooks",
        "_retained",
        "out_meta",
        "metadata",
        "scope",
        "_seq",
        "_recompute",
        "__weakref__",
    )

    def __init__(self, op, params: dict, inputs: tuple, in_meta: tuple, next_functions: tuple, out):
        self.op = op
        self.params = params
        saved = op.saved_inputs
        if len(saved) < len(inputs):  # keep only the shape and dtype of what the rule never reads
            inputs = tuple(
                shape_only(x) if i not in saved and isinstance(x, Tensor) else x
                for i, x in enumerate(inputs)
            )
        self.inputs = inputs
        self.in_meta = in_meta
        self.next_functions = next_functions
        self._versions = tuple(
            inputs[i]._storage.version if hasattr(inputs[i], "_storage") else None
            for i in op.saved_inputs
        )
        storage = out._storage
        self._out = storage if op.saves_out else None
        self._out_version = storage.version
        self.out_meta = (out.shape, out.dtype)
        self._released = False
        self._pre_hooks = None
        self._post_hooks = None
        self._retained = None
        self.metadata = {}
        self.scope = _scope.current()  # the nn.Module calls that recorded it (see _scope)
        self._seq = next(_sequence)
        # A checkpointed node's saved values are recomputed when backward reads them: the
        # ``(region, index)`` that recomputes them (``utils/checkpoint.py``), else None.
        self._recompute = None
        if anomaly_mode._enabled:  # where the forward call was, for backward's error report
            self.metadata["traceback_"] = traceback.format_stack()[:-2]

    def name(self) -> str:
        """PyTorch's name for this backward function, e.g. ``MulBackward0``."""
        n = self.op.grad_fn_name
        return n if isinstance(n, str) else n(self.params)

    def __repr__(self) -> str:
        return f"<{self.name()} object at {hex(id(self))}>"

    def register_prehook(self, hook) -> RemovableHandle:
        """Run ``hook(grad)`` on the gradient of this node's output before the rule; it may return a
        replacement gradient."""
        if self._pre_hooks is None:
            self._pre_hooks = []
        self._pre_hooks.append(hook)
        return RemovableHandle(self._pre_hooks, hook)

    def register_hook(self, hook) -> RemovableHandle:
        """Run ``hook(grad_inputs, grad_outputs)`` after the rule, as PyTorch's
        ``Node.register_hook``: ``grad_inputs`` are the gradients this node passes to its inputs
        (a tuple, one per input, None where an input needs none), ``grad_outputs`` the gradient of
        its output (a 1-tuple). It may return a replacement ``grad_inputs`` (a tuple of the same
        length and shapes)."""
        if self._post_hooks is None:
            self._post_hooks = []
        self._post_hooks.append(hook)
        return RemovableHandle(self._post_hooks, hook)

    def saved(self):
        """The rule's operands, checked: ``(out, inputs)``. Raises if freed or modified in place."""
        if self._released:
            raise RuntimeError(_FREED)
        if self._recompute is not None:  # checkpointed: recomputed now (utils/checkpoint.py)
            region, index = self._recompute
            inputs, versions, storage, out_version = region.unpack(self, index)
        else:
            inputs, versions = self.inputs, self._versions
            storage, out_version = self._out, self._out_version
        for i, v in zip(self.op.saved_inputs, versions):
            t = inputs[i]
            if v is not None and t._storage.version != v:
                raise RuntimeError(_modified_message(t, v, f"input {i} of {self.name()}"))
        out = None
        if storage is not None:
            if storage.version != out_version:
                shape, dtype = self.out_meta
                raise RuntimeError(
                    _modified_message(
                        None,
                        out_version,
                        f"output 0 of {self.name()}",
                        shape,
                        dtype,
                        storage.version,
                    )
                )
            out = Tensor._wrap(storage._array, requires_grad=True, grad_fn=self)
        return out, inputs

    def release(self) -> None:
        """Drop the saved tensors (after a backward without ``retain_graph``)."""
        if self.op.saved_inputs or self.op.saves_out or self._recompute is not None:
            self._released = True
            self.inputs = None
            self._out = None
            self._recompute = None


class ShapeOnly:
    """Stands in for the array of an operand a node's rule does not read (``op.saved_inputs``):
    its shape and dtype, no values, so the graph does not keep the operand alive. Wrapped in a
    tensor (:func:`shape_only`), the rule can still ask its ``shape``, ``dtype``, ``ndim`` and
    ``requires_grad``; computing with it raises, which is how the registry tests catch a rule that
    reads an operand it did not declare."""

    __slots__ = ("shape", "dtype")
    weak_type = False

    def __init__(self, shape: tuple, dtype) -> None:
        self.shape, self.dtype = shape, dtype

    @property
    def ndim(self) -> int:
        return len(self.shape)

    @property
    def size(self) -> int:
        n = 1
        for d in self.shape:
            n *= d
        return n

    def __repr__(self) -> str:
        return f"ShapeOnly({self.shape}, {self.dtype})"


def shape_only(t):
    """A tensor with ``t``'s shape, dtype and ``requires_grad`` and no values (see ShapeOnly)."""
    a = t._storage._array
    return Tensor._wrap(ShapeOnly(a.shape, a.dtype), requires_grad=t._requires_grad)


def record(op, params: dict, operands: tuple, array):
    """The one way a node is recorded (by ops and by ``autograd.Function``): wrap ``array`` as the
    result of ``op`` on ``operands``, with a :class:`Node` as its ``grad_fn`` whose edges lead to
    the operands that require grad (their ``grad_fn``, or a leaf's ``AccumulateGrad``)."""
    tensor = Tensor
    edges, meta = [], []
    for x in operands:
        if isinstance(x, tensor) and x._requires_grad:
            edges.append((x.grad_fn if x.grad_fn is not None else accumulate_node(x), 0))
            meta.append((x._storage._array.shape, x.dtype))
        else:
            edges.append((None, 0))
            meta.append(None)
    result = tensor._wrap(array, requires_grad=True)
    result.grad_fn = Node(op, params, operands, tuple(meta), tuple(edges), result)
    return result


def _modified_message(t, expected, what, shape=None, dtype=None, version=None) -> str:
    if t is not None:
        shape, dtype, version = t.shape, t.dtype, t._storage.version
    return (
        "one of the variables needed for gradient computation has been modified by an inplace "
        f"operation: [{dtype} {list(shape)}], which is {what}, is at version {version}; expected "
        f"version {expected} instead. Hint: compute out of place (e.g. x = x + 1 instead of "
        "x += 1), or clone() the tensor before modifying it."
    )


class AccumulateGrad:
    """The node at a leaf: accumulates the incoming gradient into ``variable.grad``."""

    __slots__ = ("variable", "next_functions", "metadata", "__weakref__")

    def __init__(self, variable):
        self.variable = variable
        self.next_functions = ()
        self.metadata = {}

    @staticmethod
    def name() -> str:
        return "torch::autograd::AccumulateGrad"

    def __repr__(self) -> str:
        return f"<AccumulateGrad object at {hex(id(self))}>"


def accumulate_node(t) -> AccumulateGrad:
    """The unique AccumulateGrad of a leaf (the tensor keeps it by weak reference)."""
    ref = t._accumulate
    node = ref() if ref is not None else None
    if node is None:
        node = AccumulateGrad(t)
        t._accumulate = weakref.ref(node)
    return node
