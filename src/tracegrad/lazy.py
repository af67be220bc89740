"""Lazy tensors: ops record what to compute, and a tensor's value is computed when Python looks.

With ``tracegrad.set_lazy(True)`` (or ``TRACEGRAD_LAZY=1``), an op dispatches nothing. It records
a *pending* value: the op, its static params, its inputs and the output's shape and dtype, found by
abstract evaluation (cached per op, params and input shapes), so a shape, dtype or broadcasting
error is still raised at the op, with the eager message. The value is computed (*realized*) only
where Python needs it: anything that reads the array (``item()``, ``float()``, ``bool()`` and so
``if``/``while`` on a tensor, ``tolist()``, ``numpy()``, printing, data-dependent shapes,
interop with JAX, an optimizer's fused update), ``tracegrad.sync()``, or a recorded graph grown to
``NODE_CAP`` nodes.

Realizing runs everything pending in the thread as **one XLA program**. Its outputs are the
pending values some tensor still holds; intermediates no tensor holds are computed inside the
program and never materialized. Programs are cached by structure (the ops, their params, which
inputs each reads, the inputs' shapes and dtypes, which values come out), so a loop's later
iterations run a compiled program without tracing anything.

Each thread records into its own graph; a pending value read by another thread is realized first.
Inside ``tracegrad.compile`` ops run on the trace as always: a compiled step is a lazy region with
a guaranteed cut. ``stats()`` counts records, realizations and compiles;
``TRACEGRAD_LOG_COMPILES=1`` logs each compile with the line that triggered it. See
``docs/lazy.md``.
"""

from __future__ import annotations

import logging
import math
import os
import sys
import threading
import time
import weakref
from collections import OrderedDict

import jax
import numpy as np

from . import _caches, _compile_events, _tracing

__all__ = ["NODE_CAP", "is_lazy", "set_lazy", "stats", "sync"]

NODE_CAP = 10_000  # a graph this long is realized at the next op: bounds memory and compile time
CACHE_SIZE = 256  # compiled programs kept (least recently used evicted)

_enabled = os.environ.get("TRACEGRAD_LAZY", "0") not in ("", "0")
_local = threading.local()
_programs: OrderedDict = OrderedDict()  # structural key -> jitted program
_avals: dict = {}  # (op, params, input avals) -> output aval, or None: the op runs eagerly
_AVALS_LIMIT = 65_536
_lock = threading.Lock()  # guards _programs and _stats
_stats = dict(recorded=0, eager=0, realizations=0, compiles=0, hits=0, compile_seconds=0.0)
_last: dict = {}  # the last realization: where, why, nodes
_sites = _compile_events.SiteCounter()  # compiles per realizing line, for the repeat warning
_site_keys: dict = {}  # realizing line -> the key of the program it last compiled
REPEAT_WARNING = _compile_events.REPEAT_WARNING

_caches.register("tracegrad.lazy._programs", lambda: len(_programs), lambda: clear_cache())


def set_lazy(mode: bool) -> None:
    """Turn lazy evaluation on or off for every thread. Turning it off realizes nothing by itself:
    pending values are computed when they are next read, as always."""
    global _enabled
    _enabled = bool(mode)


def is_lazy() -> bool:
    """Whether ops record pending values instead of running (``set_lazy``)."""
    return _enabled


def stats() -> dict:
    """Counters since the process started: ``recorded`` (ops recorded pending), ``eager`` (ops
    that could not be recorded and ran at once), ``realizations``, ``compiles`` and ``hits`` (of
    the program cache), ``compile_seconds``, ``programs`` (cached now) and ``pending`` (values
    waiting in this thread), and ``last``: where and why the last realization happened."""
    with _lock:
        out = dict(_stats)
        out["programs"] = len(_programs)
    out["pending"] = len(_graph().nodes)
    out["last"] = dict(_last)
    return out


def sync() -> None:
    """Realize every pending value of this thread now (``torch.cuda.synchronize`` and
    ``xm.mark_step`` in spirit; never required for correct results)."""
    _flush(_graph(), "tracegrad.sync()")


def clear_cache() -> None:
    """Forget the compiled programs and the cached abstract evaluations."""
    with _lock:
        _programs.clear()
        _site_keys.clear()
    _avals.clear()
    _sites.clear()


class Pending:
    """A value not computed yet: the op that will compute it, its inputs and its abstract value.

    It stands in a tensor's storage where the array would be; ``shape``, ``dtype`` and ``ndim``
    answer without computing anything. Reading the storage's ``array`` realizes it.
    """

    __slots__ = (
        "shape",
        "dtype",
        "weak_type",
        "op",
        "params",
        "pkey",
        "cast",
        "inputs",
        "graph",
        "storages",
        "value",
        "__weakref__",
    )

    def __init__(self, aval, op, params, pkey, cast, inputs, graph):
        self.shape, self.dtype, self.weak_type = aval
        self.op, self.params, self.pkey, self.cast = op, params, pkey, cast
        self.inputs = inputs
        self.graph = graph
        self.storages: list = []
        self.value = None

    @property
    def ndim(self) -> int:
        return len(self.shape)

    @property
    def size(self) -> int:
        return math.prod(self.shape)

    def __repr__(self) -> str:
        return f"Pending({self.op.name}, {list(self.shape)}, {self.dtype})"


class _Graph:
    """One thread's pending values, in the order they were recorded (a topological order)."""

    __slots__ = ("nodes", "lock", "__weakref__")

    def __init__(self):
        self.nodes: list = []
        self.lock = threading.RLock()


def _graph() -> _Graph:
    g = getattr(_local, "graph", None)
    if g is None:
        g = _local.graph = _Graph()
    return g


def active() -> bool:
    """Whether an op should be recorded pending now: lazy mode on and no trace in this thread."""
    return _enabled and _tracing.current() is None


# ----------------------------------------------------------------------------------- recording
def _const_key(x):
    """A hashable key telling constants apart exactly (1 from True, 0.0 from -0.0, NaN equal to
    itself)."""
    if isinstance(x, float):
        return ("f", x.hex())
    if isinstance(x, complex):
        return ("c", x.real.hex(), x.imag.hex())
    return (type(x).__name__, x)


def _aval(a) -> tuple:
    return (tuple(a.shape), np.dtype(a.dtype), bool(getattr(a, "weak_type", False)))


def record(op, arrays: list, params: dict, cast):
    """A :class:`Pending` for ``op`` on ``arrays`` (concrete arrays, pending values or Python
    constants), or None when the op cannot be recorded (its params are not hashable, or its
    lowering needs concrete values): the caller then runs it eagerly."""
    try:
        pkey = tuple(sorted(params.items())) if params else ()
        hash(pkey)
    except TypeError:
        return None
    graph = _graph()
    inputs, akey = [], []
    for a in arrays:
        if type(a) is Pending:
            if a.value is not None:
                a = a.value
            elif a.graph is not graph:  # another thread's value: realize it there first
                _flush(a.graph, "a pending value read by another thread")
                a = a.value
        if type(a) is Pending or isinstance(a, (jax.Array, np.ndarray)):
            if cast is not None and a.dtype != cast:
                akey.append((tuple(a.shape), np.dtype(cast), False))
            else:
                akey.append(_aval(a))
        elif a is None or isinstance(a, (bool, int, float, complex, str)):
            akey.append(_const_key(a))
        else:
            return None
        inputs.append(a)
    key = (op.name, pkey, tuple(akey))
    aval = _avals.get(key, False)
    if aval is False:
        aval = _abstract_eval(op, inputs, params, cast)
        if len(_avals) >= _AVALS_LIMIT:
            _avals.clear()
        _avals[key] = aval
    if aval is None:
        return None
    if len(graph.nodes) >= NODE_CAP:
        _flush(graph, f"the pending graph reached {NODE_CAP} nodes")
        inputs = [x.value if type(x) is Pending and x.value is not None else x for x in inputs]
    p = Pending(aval, op, params, pkey, cast, tuple(inputs), graph)
    graph.nodes.append(p)
    _stats["recorded"] += 1
    return p


def _abstract_eval(op, inputs, params, cast):
    """The output's (shape, dtype, weak_type), or None for an op whose lowering needs concrete
    values (it runs eagerly). Errors about the operands (broadcasting, shapes) propagate."""
    positions, specs = [], []
    consts = list(inputs)
    for i, a in enumerate(inputs):
        if type(a) is Pending or isinstance(a, (jax.Array, np.ndarray)):
            dtype = cast if cast is not None else a.dtype
            weak = getattr(a, "weak_type", False) and (cast is None or a.dtype == cast)
            specs.append(jax.ShapeDtypeStruct(tuple(a.shape), dtype, weak_type=weak))
            positions.append(i)

    def f(*arrays):
        args = list(consts)
        for i, x in zip(positions, arrays):
            args[i] = x
        return op.forward(*args, **params)

    try:
        with _tracing.abstract_eval():
            out = jax.eval_shape(f, *specs)
    except (
        _tracing.NeedsValues,
        jax.errors.ConcretizationTypeError,
        jax.errors.TracerArrayConversionError,
        jax.errors.TracerIntegerConversionError,
    ):
        return None
    if not isinstance(out, jax.ShapeDtypeStruct):
        return None
    return (tuple(out.shape), np.dtype(out.dtype), bool(out.weak_type))


def attach(pending: Pending, storage) -> None:
    """Register ``storage`` as holding ``pending`` (it gets the value when realized)."""
    pending.storages.append(weakref.ref(storage))


# ----------------------------------------------------------------------------------- realizing
def realize(storage):
    """The array of a storage that holds a pending value: realize its graph, then return it."""
    p = storage._array
    if p.value is None:
        _flush(p.graph, None)
    if p.value is None:  # a value nothing held when its graph was realized (cannot happen to p)
        raise RuntimeError(f"tracegrad.lazy: {p!r} was never computed")
    storage._array = p.value
    return p.value


def _is_live(p: Pending) -> bool:
    for ref in p.storages:
        s = ref()
        if s is not None and s._array is p:
            return True
    return False


def _flush(graph: _Graph, why: str | None) -> None:
    """Compute every pending value of ``graph`` that a tensor holds, as one program."""
    with graph.lock:
        nodes = graph.nodes
        if not nodes:
            return
        graph.nodes = []
        live = [p for p in nodes if _is_live(p)]
        needed = {id(p) for p in live}
        for p in reversed(nodes):
            if id(p) in needed:
                for x in p.inputs:
                    if type(x) is Pending and x.value is None:
                        needed.add(id(x))
        order = [p for p in nodes if id(p) in needed]
        if not order:
            _release(nodes)
            return
        index = {id(p): i for i, p in enumerate(order)}
        leaves: list = []
        leaf_index: dict = {}
        steps, sig = [], []
        for p in order:
            refs = []
            for x in p.inputs:
                if type(x) is Pending and x.value is None:
                    refs.append(index[id(x)])
                elif type(x) is Pending or isinstance(x, (jax.Array, np.ndarray)):
                    x = x.value if type(x) is Pending else x
                    j = leaf_index.get(id(x))
                    if j is None:
                        j = leaf_index[id(x)] = len(leaves)
                        leaves.append(x)
                    refs.append(("leaf", j))
                else:
                    refs.append(("const", _const_key(x), x))
            refs = tuple(refs)
            steps.append((p.op.forward, p.params, p.cast, refs))
            sig.append((p.op.name, p.pkey, None if p.cast is None else np.dtype(p.cast).name, refs))
        outs = tuple(index[id(p)] for p in live)
        key = (tuple(sig), tuple(_aval(a) for a in leaves), outs)
        where = _where() if why is None else why
        with _lock:
            program = _programs.get(key)
            if program is not None:
                _programs.move_to_end(key)
                _stats["hits"] += 1
            _stats["realizations"] += 1
        _last.update(where=where, nodes=len(order), outputs=len(outs))
        start = time.perf_counter()
        if program is None:
            program = jax.jit(_program(tuple(steps), outs))
        results = program(*leaves)
        if key not in _programs:
            seconds = time.perf_counter() - start
            with _lock:
                _programs[key] = program
                if len(_programs) > CACHE_SIZE:
                    _programs.popitem(last=False)
                _stats["compiles"] += 1
                _stats["compile_seconds"] += seconds
            _explain_compile(where, key, len(order), len(outs), seconds)
        for p, r in zip(live, results):
            p.value = r
            for ref in p.storages:
                s = ref()
                if s is not None and s._array is p:
                    s._array = r
        _release(nodes)


def _release(nodes) -> None:
    """Drop what realized (or dead) pending values hold: their inputs and graph."""
    for p in nodes:
        p.inputs = ()
        p.graph = None


def _program(steps: tuple, outs: tuple):
    """The function of the leaves that replays ``steps`` (lowering, params, promotion cast,
    operand references) and returns the values at ``outs``."""

    def run(*leaves):
        env = []
        for forward, params, cast, refs in steps:
            args = []
            for r in refs:
                if type(r) is int:
                    args.append(env[r])
                elif r[0] == "leaf":
                    args.append(leaves[r[1]])
                else:
                    args.append(r[2])
            if cast is not None:
                args = [
                    a.astype(cast) if hasattr(a, "dtype") and a.dtype != cast else a for a in args
                ]
            env.append(forward(*args, **params))
        return tuple(env[i] for i in outs)

    return run


_logger = logging.getLogger("tracegrad.compile")


_JAX = (os.sep + "jax" + os.sep, os.sep + "jaxlib" + os.sep)


def _where() -> str:
    """``"realized at file.py:line"``: the first frame outside tracegrad and JAX."""
    frame = sys._getframe(1)
    while frame is not None and (
        frame.f_code.co_filename.startswith(_compile_events.PACKAGE)
        or any(j in frame.f_code.co_filename for j in _JAX)
    ):
        frame = frame.f_back
    if frame is None:
        return "realized at <unknown>"
    return f"realized at {_compile_events.short_path(frame.f_code.co_filename)}:{frame.f_lineno}"


def _reason(previous, key) -> tuple[str, str]:
    """Why ``key`` compiled where ``previous`` compiled before: ``(cause, reason)``."""
    if previous is None:
        return "first", "first program here"
    (sig0, leaves0, _), (sig1, leaves1, _) = previous, key
    if [s[0] for s in sig0] != [s[0] for s in sig1]:
        return (
            "structure",
            f"new structure ({len(sig1)} ops; the last program here had {len(sig0)})",
        )
    for i, (a, b) in enumerate(zip(leaves0, leaves1)):
        if a != b:
            return (
                "shapes",
                f"shapes/dtypes changed (input {i}: {list(a[0])} {a[1]} -> {list(b[0])} {b[1]})",
            )
    for i, (a, b) in enumerate(zip(sig0, sig1)):
        if a != b:
            return "scalar", f"an op's parameters or constants changed ({a[0]}, op {i})"
    return "other", "different values kept or inputs shared"


def _explain_compile(where: str, key, nodes: int, outputs: int, seconds: float) -> None:
    """Log the compile (``TRACEGRAD_LOG_COMPILES=1``) and warn once a line keeps compiling."""
    with _lock:
        previous = _site_keys.get(where)
        _site_keys[where] = key
    cause, reason = _reason(previous, key)
    if _logger.isEnabledFor(logging.INFO):
        _logger.info(
            "tracegrad.lazy: compiled %d pending ops (%d values kept) in %.2f s, %s: %s",
            nodes,
            outputs,
            seconds,
            where,
            reason,
        )
    causes = _sites.add(where, cause, REPEAT_WARNING)
    if causes is not None:
        top, n = causes.most_common(1)[0]
        what, fix = _compile_events.advice(top)
        _compile_events.warn_at_user(
            f"tracegrad.lazy: the pending graph {where} has been compiled {REPEAT_WARNING} times, "
            f"most often because {what} ({n} of {REPEAT_WARNING}; the latest: {reason}): {fix}. "
            "Set TRACEGRAD_LOG_COMPILES=1 to see each compile, or tracegrad.set_lazy(False) for "
            "code whose structure changes every time."
        )
