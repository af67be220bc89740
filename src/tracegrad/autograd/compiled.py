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
Running node by node is not free either when its rules meet shapes this process has not run yet:
each such rule compiles its own small programs (tens of ms each). So a graph is compiled at its
first sighting when that would cost more (``_compile_now``): the first backward of a new model in
a fresh process is then one program, not a hundred.

Graphs that always run node by node (counted as ``fallbacks``): custom ``autograd.Function``
nodes, checkpointed regions (``utils.checkpoint``), tensor hooks and node pre-hooks
(``retain_grad`` is fine), ``create_graph=True``, ``inputs=``, ``autograd.grad``, operands that
are neither tensors nor Python numbers, graphs traced inside another ``jax`` transformation, and
graphs whose rules cannot be traced (need a concrete value). In anomaly mode
(``autograd.detect_anomaly``) every backward runs node by node, uncounted, so that each node's
output can be checked.

Each compile is logged (``tracegrad.compile`` logger, INFO) with the user's ``backward()`` line and
why the signature was new, and recorded as a ``CompileEvent`` (``compile_events()``); one call
site compiling ``REPEAT_WARNING`` times warns with the most frequent cause, and ``explain(tensor)``
says how a graph's backward will run. All of it is worked out only when compiling.

Python scalar operands are part of the key by exact value (not lifted to inputs): rules may use
them in Python logic and PyTorch's type promotion treats them differently from tensors. A scalar
that changes every step (rare in practice) therefore means a new signature every step.
"""

from __future__ import annotations

import collections
import logging
import os
import threading
import time
from collections import OrderedDict

import jax

from .. import _caches, _compile_events, _tracing
from .. import lazy as _lazy
from .._compile_events import CompileEvent
from .._dtype import get_default_dtype
from ..tensor import Tensor
from . import engine
from .grad_mode import set_grad_enabled
from .node import REGISTRY, AccumulateGrad, ShapeOnly

__all__ = [
    "COMPILE_AT",
    "CACHE_SIZE",
    "stats",
    "reset_stats",
    "clear_cache",
    "set_enabled",
    "is_enabled",
    "compile_events",
    "explain",
    "CompileEvent",
    "REPEAT_WARNING",
]

COMPILE_AT = 2  # compile when a signature is seen for the COMPILE_AT-th time ...
NODES_PER_SIGHTING = 1000  # ... plus one more sighting per this many nodes (big graphs wait longer)
# ... or at its first sighting when running it node by node would compile more (see _compile_now;
# TRACEGRAD_COMPILE_FIRST_IF_CHEAPER=0 switches that off): estimates of a new rule's eager
# compiles, and of a whole-graph compile, in seconds (measured on CPU).
COMPILE_FIRST_IF_CHEAPER = os.environ.get("TRACEGRAD_COMPILE_FIRST_IF_CHEAPER", "1") not in (
    "",
    "0",
)
NEW_RULE_SECONDS = 0.03
GRAPH_COMPILE_SECONDS = 0.1
GRAPH_COMPILE_SECONDS_PER_NODE = 0.00035
CACHE_SIZE = 64  # compiled executables kept (least recently used evicted)
_SEEN_SIZE = 256  # signatures seen but not yet compiled
REPEAT_WARNING = _compile_events.REPEAT_WARNING  # warn when one call site has compiled this often

logger = logging.getLogger("tracegrad.compile")
if os.environ.get("TRACEGRAD_LOG_COMPILES", "") not in ("", "0"):
    logger.setLevel(logging.INFO)
    if not logger.handlers:
        logger.addHandler(logging.StreamHandler())

_enabled = os.environ.get("TRACEGRAD_COMPILED_BACKWARD", "1") not in ("", "0")
_cache: OrderedDict = OrderedDict()  # key -> _Entry
_seen: OrderedDict = OrderedDict()  # key -> times seen
# What each node's rule has been run on node by node in this process (op, params, operand shapes
# and dtypes): rules whose programs eager dispatch has compiled already.
_ran: set = set()
_RAN_SIZE = 100_000
_stats = dict(hits=0, misses=0, compiles=0, compile_seconds=0.0, fallbacks=0)
# Guards _cache, _seen and _stats: backward() may run in several threads at once. Held only for
# the bookkeeping, never while a graph is compiled or run.
_lock = threading.Lock()
# The last compiles (CompileEvent), and compiles per call site for the repeated-compile warning:
# written only when something compiles.
_events: collections.deque = collections.deque(maxlen=_compile_events.MAX_EVENTS)
_event_total = 0
_sites = _compile_events.SiteCounter()
# The concrete class of JAX arrays, found on the first backward (creating an array at import would
# start JAX's backends when tracegrad is imported).
_ARRAY: type | None = None
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
    """Zero the counters and forget the recorded compile events (the cache is kept)."""
    global _event_total
    with _lock:
        _stats.update(hits=0, misses=0, compiles=0, compile_seconds=0.0, fallbacks=0)
        _events.clear()
        _event_total = 0


def _rule_signatures(key) -> list:
    """Per node of a signature: what its eager rule's programs depend on (the op, its params,
    its operands' shapes and dtypes; scalars by type, as eager dispatch passes them as inputs)."""
    metas = key[3]
    out = []
    for node in key[1]:
        if node is _LEAF:
            continue
        name, pkey, operands, in_meta = node[0], node[1], node[2], node[3]
        ops = tuple(
            None if o is None else metas[o[1]] if o[0] == "t" else o[:3] if o[0] == "m" else o[0]
            for o in operands
        )
        out.append((name, pkey, ops, in_meta))
    return out


def _new_rules(key) -> tuple[list, int]:
    """The graph's rule signatures, and how many of them have not run node by node in this
    process (each of those would compile programs of its own). Called under ``_lock``."""
    rules = _rule_signatures(key)
    return rules, sum(1 for r in set(rules) if r not in _ran)


def _cheaper_compiled(new_rules: int, nodes: int) -> bool:
    """Whether compiling the whole graph costs less than running it node by node once."""
    compile_cost = GRAPH_COMPILE_SECONDS + GRAPH_COMPILE_SECONDS_PER_NODE * nodes
    return COMPILE_FIRST_IF_CHEAPER and new_rules * NEW_RULE_SECONDS > compile_cost


def _compile_now(key, nodes: int) -> bool:
    """At a graph's first sighting: compile it now, or (recording that its rules will have run
    node by node) not. Called under ``_lock``."""
    rules, new = _new_rules(key)
    if _cheaper_compiled(new, nodes):
        return True
    if len(_ran) > _RAN_SIZE:
        _ran.clear()
    _ran.update(rules)
    return False


def clear_cache() -> None:
    """Drop every compiled executable and every remembered signature (and the compile counts per
    call site that the repeated-compile warning uses)."""
    with _lock:
        _cache.clear()
        _seen.clear()
        _ran.clear()
    _sites.clear()


def compile_events() -> list[CompileEvent]:
    """The last ``MAX_EVENTS`` (100) compiles of the backward, oldest first: where each was
    triggered (the user's ``file.py:line`` of ``backward()``), why its signature was new, its
    seconds, ops and ops per module (see :class:`~tracegrad.compiler.CompileEvent`)."""
    with _lock:
        return list(_events)


def _clear_seen() -> None:
    with _lock:
        _seen.clear()
        _ran.clear()


_caches.register("tracegrad.autograd.compiled._cache", lambda: len(_cache), clear_cache)
_caches.register("tracegrad.autograd.compiled._seen", lambda: len(_seen), _clear_seen)


class _Entry:
    __slots__ = ("executable", "visited", "error")

    def __init__(self, executable, visited, error=None):
        self.executable, self.visited, self.error = executable, visited, error


# ----------------------------------------------------------------------------------- signature
def _signature(
    order: list, root_nodes: list, grad_roots: list, traced: bool = False, why: list | None = None
):
    """``(key, arrays)`` for this graph, or None when it must run node by node. ``traced``
    accepts JAX tracers as arrays (a graph recorded inside ``tracegrad.compile``). ``why`` (a
    list, for ``explain``) receives the reason when it returns None; the checks are the same, and
    the reason is only built on that path."""
    global _ARRAY
    if _ARRAY is None:  # a concrete array's type, even when first asked inside a jax trace
        with jax.ensure_compile_time_eval():
            _ARRAY = type(jax.numpy.zeros(()))
    array_type = _ARRAY
    index = {node: i for i, node in enumerate(order)}
    arrays, slots, metas, nodes, placements = [], {}, [], [], []

    def slot(a):
        s = slots.get(id(a))
        if s is None:
            if type(a) is not array_type and not (traced and isinstance(a, jax.core.Tracer)):
                return None  # a tracer (inside a jax transform) or a numpy array
            s = slots[id(a)] = len(arrays)
            arrays.append(a)
            metas.append((a.shape, a.dtype, a.weak_type))
            # The executable is compiled for its inputs' placements (one device, or a sharding
            # over a mesh): arrays laid out otherwise need a program of their own.
            placements.append(None if isinstance(a, jax.core.Tracer) else a.sharding)
        return s

    for node in order:
        if type(node) is AccumulateGrad:
            if node.variable._hooks or node.variable.__dict__.get("_post_accumulate_grad_hooks"):
                if why is not None:
                    why.append(_why_eager(node, "hook"))
                return None
            nodes.append(_LEAF)
            continue
        op = node.op
        if (
            node._pre_hooks
            or node._post_hooks
            or node._released
            or node._recompute is not None
            or REGISTRY.get(op.name) is not op
        ):
            if why is not None:  # hooks, a freed graph (eager raises), checkpointed, a Function
                why.append(_why_eager(node, "node"))
            return None
        operands = []
        for x in node.inputs:
            if isinstance(x, Tensor):
                a = x._storage.array
                if type(a) is ShapeOnly:  # an operand the rule does not read: its metadata only
                    operands.append(("m", a.shape, a.dtype, x._requires_grad))
                    continue
                s = slot(a)
                if s is None:
                    if why is not None:
                        why.append(_why_eager(node, "array", x, x._storage.array))
                    return None
                operands.append(("t", s, x._requires_grad))
            elif x is None:
                operands.append(None)
            elif type(x) is float:  # by bits: 0.0 and -0.0 differ, nan equals nan
                operands.append(("f", x.hex()))
            elif type(x) is int or type(x) is bool:
                operands.append(("s", x))
            else:
                if why is not None:
                    why.append(_why_eager(node, "operand", x, x))
                return None
        out = None
        if node._out is not None:
            out = slot(node._out.array)
            if out is None:
                if why is not None:
                    why.append(_why_eager(node, "array", None, node._out.array))
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
            if why is not None:
                why.append(f"the gradient seeding {_node_name(node)} is not a JAX array")
            return None
        seeds.append((index[node], s))
    key = (get_default_dtype(), tuple(nodes), tuple(seeds), tuple(metas), tuple(placements))
    return key, arrays


def _node_name(node) -> str:
    return "AccumulateGrad" if type(node) is AccumulateGrad else node.name()


def _why_eager(node, what: str, operand=None, value=None) -> str:
    """Why ``_signature`` refused a graph at ``node`` (at one of its operands, or at its output
    when ``operand`` is None), in user terms. For ``explain`` only."""

    if what == "hook":
        t = node.variable
        return f"a tensor hook is registered on a leaf tensor of shape {list(t.shape)}"
    name = node.name()
    if node._pre_hooks or node._post_hooks:
        return (
            f"a hook is registered on {name} (register_hook on the tensor it produced, or a "
            "hook or pre-hook on the node)"
        )
    if node._released:
        return f"the saved tensors of {name} were freed by an earlier backward()"
    if node._recompute is not None:
        return f"{name} is inside a checkpointed region (tracegrad.utils.checkpoint)"
    if REGISTRY.get(node.op.name) is not node.op:
        return f"{name} is a custom autograd.Function"
    i = None if operand is None else next(i for i, y in enumerate(node.inputs) if y is operand)
    where = "its output" if i is None else f"input {i}"
    if what == "array":
        kind = "a JAX tracer" if isinstance(value, jax.core.Tracer) else type(value).__name__
        return f"{where} of {name} is held as {kind}, not a JAX array"
    return f"input {i} of {name} is a {type(value).__name__}, neither a tensor nor a Python number"


# ------------------------------------------------------------------------------ plan and program
class _PlanNode:
    """A node rebuilt from a signature (a ``node.NodeLike``): what ``engine.propagate`` reads, and
    no arrays."""

    __slots__ = ("op", "params", "operands", "in_meta", "next_functions", "out", "_retained")
    _pre_hooks = None
    _post_hooks = None
    scope = None

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

    specs, seeds = key[1], key[2]
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
            if spec[0] == "m":
                return Tensor._wrap(ShapeOnly(spec[1], spec[2]), requires_grad=spec[3])
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
    return _why_new_cause(key)[0]


def _why_new_cause(key) -> tuple[str, str]:
    """``(reason, cause)`` for a new signature: the most recent cached signature with the same
    ops, and the first node (nearest the leaves) whose shapes, params or scalars differ; else how
    the structure differs from the most recent compiled graph. Runs only when compiling."""
    ops = tuple(s[0] for s in key[1])
    for other in reversed(_cache):
        if tuple(s[0] for s in other[1]) != ops:
            continue
        if other[0] != key[0]:
            return f"default dtype changed: {other[0]} -> {key[0]}", "mode"
        if other[3] != key[3]:
            detail = _shape_change(other, key)
            return "shapes/dtypes changed" + (f" ({detail})" if detail else ""), "shapes"
        if other[4] != key[4]:
            return "placements changed (the arrays' devices or shardings)", "shapes"
        for a, b in zip(other[1], key[1]):
            if a != b:
                return f"params or scalars of {_spec_name(b)} changed ({_scalar_change(a, b)})", (
                    "scalar"
                )
        return "seeds changed", "structure"
    if not _cache:
        return "graph structure first seen", "first"
    last = next(reversed(_cache))[1]
    i = next((i for i, (a, b) in enumerate(zip(last, key[1])) if a[0] != b[0]), None)
    if i is None:
        i = min(len(last), len(key[1]))
    if i >= len(last):
        where = f"this one goes on at node {i} with {_spec_name(key[1][i])}"
    elif i >= len(key[1]):
        where = f"it goes on at node {i} with {_spec_name(last[i])}"
    else:
        where = (
            f"at node {i} it has {_spec_name(last[i])} where this one has {_spec_name(key[1][i])}"
        )
    return (
        f"new graph structure ({len(key[1])} nodes; the last compiled graph has {len(last)}, "
        f"and {where})"
    ), "structure"


def _spec_name(spec) -> str:
    """The PyTorch name of a signature's node (``AddmmBackward0``), as ``Node.name`` gives it."""

    if spec == _LEAF:
        return "AccumulateGrad"
    op = REGISTRY.get(spec[0])
    if op is None:
        return spec[0]
    n = op.grad_fn_name
    return n if isinstance(n, str) else n({k: v for k, _, v in spec[1]})


def _meta(m) -> str:
    shape, dtype, _ = m
    return f"{list(shape)} {dtype}"


def _shape_change(old, new) -> str:
    """The first node, nearest the leaves, whose input or output shapes/dtypes differ."""
    for a, b in zip(reversed(old[1]), reversed(new[1])):
        if a == _LEAF or b == _LEAF:
            continue
        for i, (x, y) in enumerate(zip(a[2], b[2])):
            if x and y and x[0] == "t" == y[0] and old[3][x[1]] != new[3][y[1]]:
                what, ma, mb = f"input {i}", old[3][x[1]], new[3][y[1]]
                break
        else:
            if a[5] is None or b[5] is None or old[3][a[5]] == new[3][b[5]]:
                continue
            what, ma, mb = "output", old[3][a[5]], new[3][b[5]]
        if ma[1] == mb[1]:  # the same dtype: shapes only
            return f"{what} of {_spec_name(b)}: {list(ma[0])} -> {list(mb[0])}"
        return f"{what} of {_spec_name(b)}: {_meta(ma)} -> {_meta(mb)}"
    for (_, x), (_, y) in zip(old[2], new[2]):
        if old[3][x] != new[3][y]:
            return f"the seed gradient: {_meta(old[3][x])} -> {_meta(new[3][y])}"
    return ""


def _scalar_change(a, b) -> str:
    """What differs between two specs of one op: a param or a Python scalar operand."""
    for (k, _, x), (_, _, y) in zip(a[1], b[1]):
        if x != y:
            return f"param {k!r}: {x!r} -> {y!r}"
    for i, (x, y) in enumerate(zip(a[2], b[2])):
        if x != y and x and y and x[0] in "fs" and y[0] in "fs":
            value = [float.fromhex(v[1]) if v[0] == "f" else v[1] for v in (x, y)]
            return f"scalar input {i}: {value[0]!r} -> {value[1]!r}"
    return "its inputs or edges"


def _compile(key, arrays, order: list, root_nodes: list) -> _Entry:
    global _event_total
    visited: list = []
    where, code = _compile_events.user_site()  # only here: a compile, never a cache hit
    start = time.perf_counter()
    try:
        executable = jax.jit(_program(key, visited)).lower(*arrays).compile()
    except Exception as e:  # a rule that needs concrete values: this signature stays eager
        logger.warning(
            "backward of %d nodes at %s cannot be compiled, runs eagerly: %s", len(key[1]), where, e
        )
        return _Entry(None, (), error=e)
    seconds = time.perf_counter() - start
    ops = sum(1 for s in key[1] if s is not _LEAF)
    per_module = _compile_events.ops_per_module(
        [n.scope for n in order if type(n) is not AccumulateGrad]
    )
    name = ", ".join(dict.fromkeys(_node_name(n) for n in root_nodes))
    with _lock:
        _stats["compiles"] += 1
        _stats["compile_seconds"] += seconds
        why, cause = _why_new_cause(key)
        event = CompileEvent("backward", name, where, why, seconds, ops, per_module, cause)
        _events.append(event)
        _event_total += 1
    logger.info(
        "compiled backward at %s%s: %d nodes (%d ops), %d input arrays, %.3f s; new signature: %s",
        where,
        f" ({code})" if code else "",
        len(key[1]),
        ops,
        len(arrays),
        seconds,
        why,
    )
    causes = _sites.add(where, cause, REPEAT_WARNING)
    if causes is not None:
        _compile_events.warn_at_user(_repeat_warning(where, causes))
    return _Entry(executable, tuple(visited))


def _repeat_warning(where: str, causes: collections.Counter) -> str:
    """The warning for a call site that has compiled the backward ``REPEAT_WARNING`` times."""
    total = sum(causes.values())
    retraces = {c: n for c, n in causes.items() if c != "first"}
    head = f"tracegrad: the backward at {where} has been compiled {total} times"
    if not retraces:
        return f"{head}. Call tracegrad.autograd.compiled.explain(loss) to see why."
    cause = max(retraces, key=retraces.get)
    with _lock:
        latest = next((e for e in reversed(_events) if e.where == where and e.cause == cause), None)
    what, advice = _compile_events.advice(cause)
    example = f"; the latest: {latest.reason}" if latest is not None else ""
    return (
        f"{head}, each a new graph signature; most often because {what} ({retraces[cause]} of "
        f"{total}{example}): {advice}. Set TRACEGRAD_LOG_COMPILES=1 to see each compile, or "
        "tracegrad.set_compiled_backward(False) if the graph really changes every step."
    )


# ------------------------------------------------------------------------------------- running
def try_backward(order: list, root_nodes: list, grad_roots: list, retain_graph: bool) -> bool:
    """Run ``backward()`` of this graph compiled if its signature is cached (or due to be
    compiled). Returns False, having changed nothing, when the engine must run it node by node.
    In lazy mode the engine always runs it node by node: the rules record pending values, and
    the backward joins the forward's program (``tracegrad.lazy``)."""
    if _lazy.active():
        return False
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
            if count < COMPILE_AT + len(order) // NODES_PER_SIGHTING and not (
                count == 1 and _compile_now(key, len(order))
            ):
                _seen[key] = count
                if len(_seen) > _SEEN_SIZE:
                    _seen.popitem(last=False)
                return False
        else:
            _stats["hits"] += 1
            _cache.move_to_end(key)
    if entry is None:  # compiled outside the lock: other threads' backward goes on meanwhile
        entry = _compile(key, arrays, order, root_nodes)
        with _lock:
            entry = _cache.setdefault(key, entry)  # another thread may have compiled it too
            if len(_cache) > CACHE_SIZE:
                _cache.popitem(last=False)
    if entry.executable is None:
        with _lock:
            _stats["fallbacks"] += 1
        return False

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


# ------------------------------------------------------------------------------------- explain
def explain(tensor, gradient=None, recent: int = 5) -> str:
    """How ``tensor.backward(gradient)`` would run now, as a readable report: the graph's node
    count and ops per module; whether its signature is compiled (a cached executable), seen
    ``k`` of the times needed before compiling, or must run node by node and why (naming the
    node: a custom ``autograd.Function``, a hook, ...); and the last ``recent`` backward compiles.
    Changes nothing: no sighting is counted and nothing is compiled."""

    root = tensor.grad_fn
    if root is None:
        if tensor.requires_grad:
            return "a leaf tensor: backward() adds the gradient to its own .grad (no graph to run)"
        return "this tensor does not require grad: it has no graph"
    order = engine._topological_order([root])
    real = [n for n in order if type(n) is not AccumulateGrad]
    lines = [
        f"backward of {root.name()}: {len(order)} nodes ({len(real)} ops, "
        f"{len(order) - len(real)} leaves)",
        "ops per module:",
        *_compile_events.format_modules(_compile_events.ops_per_module([n.scope for n in real])),
    ]
    lines.append("runs: " + _how_it_runs(tensor, gradient, order, root, engine.root_grads))
    with _lock:
        events, total = list(_events)[-recent:] if recent else [], _event_total
    if events:
        lines.append("recent backward compiles:")
        lines += _compile_events.format_events(events, total)
    else:
        lines.append("no backward compiled yet")
    return "\n".join(lines)


def _how_it_runs(tensor, gradient, order, root, root_grads) -> str:
    if not _enabled:
        return "node by node: compiled backward is switched off (tracegrad.set_compiled_backward)"
    if _tracing.current() is not None:
        return "traced into the tracegrad.compile step being traced (node by node, inside it)"
    try:
        grads = root_grads([tensor], [gradient] if gradient is not None else [], False)
    except RuntimeError as e:
        return f"backward() would raise: {e}"
    why: list = []
    sig = _signature(order, [root], grads, why=why)
    if sig is None:
        return f"node by node, always: {why[0]}"
    key, _ = sig
    try:
        hash(key)
    except TypeError:
        return "node by node, always: a param of one of its nodes is unhashable"
    needed = COMPILE_AT + len(order) // NODES_PER_SIGHTING
    with _lock:
        entry = _cache.get(key)
        seen = _seen.get(key, 0)
        reason = _why_new(key) if entry is None else ""
    if entry is not None:
        if entry.executable is None:
            return f"node by node: compiling this signature failed ({entry.error})"
        return "compiled: its signature has a cached executable, which backward() runs"
    plural = "s" if seen != 1 else ""
    if seen == 0:
        with _lock:
            _, new = _new_rules(key)
        if _cheaper_compiled(new, len(order)):
            return (
                f"not compiled yet, and the next backward() compiles it: run node by node, {new} "
                "of its rules would compile programs of their own (shapes this process has not "
                f"run them on). New because: {reason}"
            )
    then = (
        "the next backward() compiles it"
        if seen + 1 >= needed
        else f"backward() runs node by node until sighting {needed}, which compiles it"
    )
    return (
        f"not compiled yet: its signature was seen {seen} time{plural} of the {needed} needed "
        f"before compiling; {then}. New because: {reason}"
    )
