"""Compiled eager backward: a recurring graph's ``backward()`` runs as one cached XLA executable.

A recorded graph is data (nodes hold ops, static params and saved tensors, no closures), so the
backward pass of a graph is a pure function of its saved arrays and the seed gradient. This module
turns a graph into a *signature* -- per node in topological order: the op's name, its params, its
operands (array slots, or Python scalars by exact value), the input shapes/dtypes, the edges as
indices, whether its output's grad is retained -- plus the shape/dtype of every array. Two graphs
with the same signature have the same backward program, so the signature is the cache key.

The program is the engine's own loop (``engine.propagate``) replayed on JAX tracers over a *plan*
rebuilt from the key alone (so an executable never holds a graph's arrays or nodes alive), traced
by ``jax.jit`` and compiled ahead of time. At run time the saved arrays and seeds are passed in,
and the returned gradients are accumulated into ``.grad`` exactly as the eager engine does.

Policy (measured, see docs/compiled_backward.md): a signature seen for the first time runs node by
node; the ``COMPILE_AT``-th time it is seen it is compiled, and it runs compiled from then on. So
one-off graphs never pay a compile and a training loop compiles at its second iteration. Compiling
costs about 0.35 ms per node, so a big graph waits one more sighting per ``NODES_PER_SIGHTING``
nodes (a 20,000-node graph compiles at its 22nd backward, once the compile is likely repaid).

Graphs that always run node by node (counted as ``fallbacks``): custom ``autograd.Function``
nodes, tensor hooks and node pre-hooks (``retain_grad`` is fine), ``create_graph=True``,
``inputs=``, ``autograd.grad``, operands that are neither tensors nor Python numbers, graphs traced
inside another ``jax`` transformation, and graphs whose rules cannot be traced (need a concrete
value).

Python scalar operands are part of the key by exact value (not lifted to inputs): rules may use
them in Python logic and PyTorch's type promotion treats them differently from tensors. A scalar
that changes every step (rare in practice) therefore means a new signature every step.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections import OrderedDict

import jax

from .. import _caches, _tracing
from . import engine
from .grad_mode import set_grad_enabled
from .node import AccumulateGrad

__all__ = [
    "COMPILE_AT",
    "CACHE_SIZE",
    "stats",
    "reset_stats",
    "clear_cache",
    "set_enabled",
    "is_enabled",
]

COMPILE_AT = 2  # compile when a signature is seen for the COMPILE_AT-th time ...
NODES_PER_SIGHTING = 1000  # ... plus one more sighting per this many nodes (big graphs wait longer)
CACHE_SIZE = 64  # compiled executables kept (least recently used evicted)
_SEEN_SIZE = 256  # signatures seen but not yet compiled

logger = logging.getLogger("tracegrad.compile")
if os.environ.get("TRACEGRAD_LOG_COMPILES", "") not in ("", "0"):
    logger.setLevel(logging.INFO)
    if not logger.handlers:
        logger.addHandler(logging.StreamHandler())

_enabled = os.environ.get("TRACEGRAD_COMPILED_BACKWARD", "1") not in ("", "0")
_cache: OrderedDict = OrderedDict()  # key -> _Entry
_seen: OrderedDict = OrderedDict()  # key -> times seen
_stats = dict(hits=0, misses=0, compiles=0, compile_seconds=0.0, fallbacks=0)
# Guards _cache, _seen and _stats: backward() may run in several threads at once. Held only for
# the bookkeeping, never while a graph is compiled or run.
_lock = threading.Lock()
_ARRAY = type(jax.numpy.zeros(()))
_LEAF = ("AccumulateGrad",)


def set_enabled(enabled: bool) -> None:
    """Switch compiled backward on or off (``tracegrad.set_compiled_backward``), for every
    thread."""
    global _enabled
    _enabled = bool(enabled)


def is_enabled() -> bool:
    """Whether plain ``backward()`` may run recurring graphs compiled: the switch is on and this
    thread is not tracing a ``tracegrad.compile`` step (whose backward is traced into the step's
    program, node by node). A trace in one thread leaves the other threads' backward compiled."""
    return _enabled and _tracing.current() is None


def stats() -> dict:
    """Counters: ``hits`` (ran a cached executable), ``misses`` (signature not compiled yet:
    ran node by node, or compiled now), ``compiles``, ``compile_seconds``, ``fallbacks`` (graphs
    that must run node by node); and the cache's size: ``cached`` (signatures in the cache, at
    most ``CACHE_SIZE``), ``executables`` (those holding a compiled executable; the others could
    not be compiled and run node by node) and ``seen`` (signatures seen but not compiled yet, at
    most 256)."""
    with _lock:
        executables = sum(1 for e in _cache.values() if e.executable is not None)
        return dict(_stats, cached=len(_cache), executables=executables, seen=len(_seen))


def reset_stats() -> None:
    """Zero the counters (the cache is kept)."""
    with _lock:
        _stats.update(hits=0, misses=0, compiles=0, compile_seconds=0.0, fallbacks=0)


def clear_cache() -> None:
    """Drop every compiled executable and every remembered signature."""
    with _lock:
        _cache.clear()
        _seen.clear()


def _clear_seen() -> None:
    with _lock:
        _seen.clear()


_caches.register("tracegrad.autograd.compiled._cache", lambda: len(_cache), clear_cache)
_caches.register("tracegrad.autograd.compiled._seen", lambda: len(_seen), _clear_seen)


class _Entry:
    __slots__ = ("executable", "visited", "error")

    def __init__(self, executable, visited, error=None):
        self.executable, self.visited, self.error = executable, visited, error


# ----------------------------------------------------------------------------------- signature
def _signature(order: list, root_nodes: list, grad_roots: list, traced: bool = False):
    """``(key, arrays)`` for this graph, or None when it must run node by node. ``traced``
    accepts JAX tracers as arrays (a graph recorded inside ``tracegrad.compile``)."""
    from .._dtype import get_default_dtype
    from ..ops.registry import REGISTRY
    from ..tensor import Tensor

    index = {node: i for i, node in enumerate(order)}
    arrays, slots, metas, nodes = [], {}, [], []

    def slot(a):
        s = slots.get(id(a))
        if s is None:
            if type(a) is not _ARRAY and not (traced and isinstance(a, jax.core.Tracer)):
                return None  # a tracer (inside a jax transform) or a numpy array
            s = slots[id(a)] = len(arrays)
            arrays.append(a)
            metas.append((a.shape, a.dtype, a.weak_type))
        return s

    for node in order:
        if type(node) is AccumulateGrad:
            if node.variable._hooks:
                return None
            nodes.append(_LEAF)
            continue
        op = node.op
        if node._pre_hooks or node._released or REGISTRY.get(op.name) is not op:
            return None  # hooks, a freed graph (eager raises), a custom Function
        operands = []
        for x in node.inputs:
            if isinstance(x, Tensor):
                s = slot(x._storage.array)
                if s is None:
                    return None
                operands.append(("t", s, x._requires_grad))
            elif x is None:
                operands.append(None)
            elif type(x) is float:  # by bits: 0.0 and -0.0 differ, nan equals nan
                operands.append(("f", x.hex()))
            elif type(x) is int or type(x) is bool:
                operands.append(("s", x))
            else:
                return None
        out = None
        if node._out is not None:
            out = slot(node._out.array)
            if out is None:
                return None
        retained = node._retained is not None and node._retained() is not None
        params = node.params
        # (name, type, value): 2 and 2.0 (and True) are equal dict keys but not the same param.
        pkey = tuple((k, type(v), v) for k, v in params.items()) if params else ()
        edges = tuple(-1 if c is None else index[c] for c, _ in node.next_functions)
        nodes.append((op.name, pkey, tuple(operands), node.in_meta, edges, out, retained))
    seeds = []
    for node, g in zip(root_nodes, grad_roots):
        s = slot(g._storage.array)
        if s is None:
            return None
        seeds.append((index[node], s))
    return (get_default_dtype(), tuple(nodes), tuple(seeds), tuple(metas)), arrays


# ------------------------------------------------------------------------------ plan and program
class _PlanNode:
    """A node rebuilt from a signature: what ``engine.propagate`` reads, and no arrays."""

    __slots__ = ("op", "params", "operands", "in_meta", "next_functions", "out", "_retained")
    _pre_hooks = None

    def __init__(self, index, op, params, operands, in_meta, out, retained):
        self.op, self.params, self.operands, self.in_meta = op, params, operands, in_meta
        self.out, self._retained = out, (index if retained else None)
        self.next_functions = ()


class _PlanLeaf(AccumulateGrad):
    __slots__ = ("index",)

    def __init__(self, index):
        super().__init__(None)
        self.index = index


def _plan(key) -> tuple:
    """Plan nodes (in topological order) and seeds ``(node, slot)`` for a signature."""
    from ..ops.registry import REGISTRY

    _, specs, seeds, _ = key
    nodes = []
    for i, spec in enumerate(specs):
        if spec == _LEAF:
            nodes.append(_PlanLeaf(i))
            continue
        name, pkey, operands, in_meta, _, out, retained = spec
        params = {k: v for k, _, v in pkey}
        nodes.append(_PlanNode(i, REGISTRY[name], params, operands, in_meta, out, retained))
    for node, spec in zip(nodes, specs):
        if not isinstance(node, _PlanLeaf):
            node.next_functions = tuple((None if e < 0 else nodes[e], 0) for e in spec[4])
    return nodes, [(nodes[i], s) for i, s in seeds]


class _ReplaySink:
    """Collects the gradients of leaves and retained tensors by node index."""

    def __init__(self):
        self.grads: dict = {}

    def leaf(self, node, grad) -> None:
        self.grads[node.index] = grad._storage.array

    def nonleaf(self, node, grad) -> bool:
        if node._retained is not None:
            self.grads[node._retained] = grad._storage.array
        return False


def _program(key, visited: list):
    """The backward of every graph with signature ``key``, as a function of its arrays: the
    engine's loop over a plan, on tracers. Appends the indices of nodes whose rule ran to
    ``visited`` while being traced."""
    from ..tensor import Tensor

    nodes, seeds = _plan(key)
    position = {node: i for i, node in enumerate(nodes)}

    def program(*arrays):
        wrapped: dict = {}

        def operand(spec):
            if spec is None:
                return None
            if spec[0] == "t":
                t = wrapped.get(spec)
                if t is None:
                    t = wrapped[spec] = Tensor._wrap(arrays[spec[1]], requires_grad=spec[2])
                return t
            return float.fromhex(spec[1]) if spec[0] == "f" else spec[1]

        def saved(node):
            visited.append(position[node])
            out = None
            if node.out is not None:
                out = Tensor._wrap(arrays[node.out], requires_grad=True, grad_fn=node)
            return out, tuple(operand(s) for s in node.operands)

        pending: dict = {}
        for node, s in seeds:
            g = Tensor._wrap(arrays[s])
            pending[node] = g if node not in pending else pending[node] + g
        sink = _ReplaySink()
        with set_grad_enabled(False):
            engine.propagate(nodes, pending, saved, sink, retain_graph=True)
        return sink.grads

    return program


def _why_new(key) -> str:
    """Why ``key`` is not like a cached signature: the nearest cached one, what differs."""
    ops = tuple(s[0] for s in key[1])
    for other in reversed(_cache):
        if tuple(s[0] for s in other[1]) != ops:
            continue
        if other[0] != key[0]:
            return "default dtype changed"
        if other[3] != key[3]:
            return "shapes/dtypes changed"
        for a, b in zip(other[1], key[1]):
            if a != b:
                return f"params or scalars of {a[0]} changed"
        return "seeds changed"
    return "graph structure first seen" if not _cache else "new graph structure"


def _compile(key, arrays) -> _Entry:
    visited: list = []
    start = time.perf_counter()
    try:
        executable = jax.jit(_program(key, visited)).lower(*arrays).compile()
    except Exception as e:  # a rule that needs concrete values: this signature stays eager
        logger.warning("backward of %d nodes cannot be compiled, runs eagerly: %s", len(key[1]), e)
        return _Entry(None, (), error=e)
    seconds = time.perf_counter() - start
    with _lock:
        _stats["compiles"] += 1
        _stats["compile_seconds"] += seconds
        why = _why_new(key) if logger.isEnabledFor(logging.INFO) else ""
    logger.info(
        "compiled backward: %d nodes (%d ops), %d input arrays, %.3f s; new signature: %s",
        len(key[1]),
        sum(1 for s in key[1] if s is not _LEAF),
        len(arrays),
        seconds,
        why,
    )
    return _Entry(executable, tuple(visited))


# ------------------------------------------------------------------------------------- running
def try_backward(order: list, root_nodes: list, grad_roots: list, retain_graph: bool) -> bool:
    """Run ``backward()`` of this graph compiled if its signature is cached (or due to be
    compiled). Returns False, having changed nothing, when the engine must run it node by node."""
    sig = _signature(order, root_nodes, grad_roots)
    if sig is None:
        with _lock:
            _stats["fallbacks"] += 1
        return False
    key, arrays = sig
    with _lock:
        try:
            entry = _cache.get(key)
        except TypeError:  # an unhashable param
            _stats["fallbacks"] += 1
            return False
        if entry is None:
            _stats["misses"] += 1
            count = _seen.pop(key, 0) + 1
            if count < COMPILE_AT + len(order) // NODES_PER_SIGHTING:
                _seen[key] = count
                if len(_seen) > _SEEN_SIZE:
                    _seen.popitem(last=False)
                return False
        else:
            _stats["hits"] += 1
            _cache.move_to_end(key)
    if entry is None:  # compiled outside the lock: other threads' backward goes on meanwhile
        entry = _compile(key, arrays)
        with _lock:
            entry = _cache.setdefault(key, entry)  # another thread may have compiled it too
            if len(_cache) > CACHE_SIZE:
                _cache.popitem(last=False)
    if entry.executable is None:
        with _lock:
            _stats["fallbacks"] += 1
        return False

    from ..tensor import Tensor

    for i in entry.visited:  # the eager engine's checks and messages (freed, modified in place)
        order[i].saved()
    grads = entry.executable(*arrays)
    if not retain_graph:
        for i in entry.visited:
            order[i].release()
    for i in sorted(grads):
        node = order[i]
        t = node.variable if type(node) is AccumulateGrad else node._retained()
        if t is not None:
            t._accumulate_grad(Tensor._wrap(grads[i]), False)
    return True
