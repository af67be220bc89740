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

import contextlib
import functools
import inspect
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

__all__ = ["NODE_CAP", "RealizationError", "is_lazy", "set_lazy", "stats", "strict", "sync"]

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


_SYNC = "tracegrad.sync()"


def sync() -> None:
    """Realize every pending value of this thread now (``torch.cuda.synchronize`` and
    ``xm.mark_step`` in spirit; never required for correct results). Allowed in :func:`strict`
    regions: it is the cut the user asked for."""
    _flush(_graph(), _SYNC)


class RealizationError(RuntimeError):
    """A pending value was realized inside a :class:`strict` region."""


class strict(contextlib.ContextDecorator):
    """A region of code (``with tracegrad.lazy.strict():``, or ``@tracegrad.lazy.strict()`` on
    a function) in which realizing pending values raises :class:`RealizationError`, naming the
    line and the read that would have realized them; nothing is computed and the pending graph
    stays as it was. Only :func:`sync` realizes inside it. For code that must stay one program:
    a training step whose loss is read after the region, not in it.

    Regions nest and are per thread. In eager mode nothing is pending, so nothing is realized
    and a region never raises."""

    def __enter__(self) -> strict:
        _local.strict = getattr(_local, "strict", 0) + 1
        return self

    def __exit__(self, *exc) -> bool:
        _local.strict -= 1
        return False


def clear_cache() -> None:
    """Forget the compiled programs and the cached abstract evaluations."""
    with _lock:
        _programs.clear()
        _site_keys.clear()
    _avals.clear()
    _sites.clear()


class Pending:
    """A value not computed yet: the op that will compute it and its abstract value.

    It stands in a tensor's storage where the array would be; ``shape``, ``dtype`` and ``ndim``
    answer without computing anything. Reading the storage's ``array`` realizes it.
    """

    __slots__ = ("shape", "dtype", "weak_type", "aval", "op", "graph", "index", "storages",
                 "value", "commit", "__weakref__")  # fmt: skip

    def __init__(self, aval, op, graph, index):
        self.commit = False  # realized committed to the home device (``to(device)``)
        self.shape, self.dtype, self.weak_type = aval
        self.aval = aval
        self.op = op
        self.graph = graph  # None once realized (or dropped)
        self.index = index  # its step in the graph's program
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
    """One thread's pending values (weak references: a value nothing holds is not computed
    outside the program), in the order they were recorded (a topological order), with
    the program that computes them built as they are recorded: its steps (lowering, params,
    promotion cast, operand references), its leaves (the concrete arrays it reads, each once) and
    its structural key."""

    __slots__ = ("nodes", "steps", "sig", "leaves", "leaf_ids", "leaf_avals", "lock",
                 "__weakref__")  # fmt: skip

    def __init__(self):
        self.lock = threading.RLock()
        self._reset()

    def _reset(self) -> None:
        self.nodes: list = []
        self.steps: list = []
        self.sig: list = []
        self.leaves: list = []
        self.leaf_ids: dict = {}
        self.leaf_avals: list = []

    def leaf(self, a) -> int:
        """The reference (``-1 - j``) to concrete array ``a``, made a leaf of the program."""
        j = self.leaf_ids.get(id(a))
        if j is None:
            j = self.leaf_ids[id(a)] = len(self.leaves)
            self.leaves.append(a)  # held: keeps id(a) unique while the graph lives
            self.leaf_avals.append(_aval(a))
        return -1 - j


def _graph() -> _Graph:
    g = getattr(_local, "graph", None)
    if g is None:
        g = _local.graph = _Graph()
    return g


_home: list = []


def home():
    """The device programs run on: JAX's default device. Values committed to it may be leaves
    of a program; values on other devices run their ops eagerly."""
    if not _home:
        _home.append(jax.devices()[0])
    return _home[0]


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


_CONSTANTS = (bool, int, float, complex, str, type(None), np.generic)
_EXACT_CONSTANTS = frozenset((bool, int, float, type(None)))
_ARRAYS = (jax.Array, np.ndarray)


def record(op, arrays: list, params: dict, cast):
    """A :class:`Pending` for ``op`` on ``arrays`` (concrete arrays, pending values or Python
    constants), or None when the op cannot be recorded (its params are not hashable, or its
    lowering needs concrete values): the caller then runs it eagerly."""
    graph = _graph()
    for a in arrays:  # values pending in another thread: realized there first
        if type(a) is Pending and a.graph is not None and a.graph is not graph:
            _flush(a.graph, "a pending value read by another thread")
    with graph.lock:  # another thread may realize this graph meanwhile
        return _record(graph, op, arrays, params, cast)


def _record(graph: _Graph, op, arrays: list, params: dict, cast):
    if len(graph.nodes) >= NODE_CAP:
        _flush(graph, f"the pending graph reached {NODE_CAP} nodes")
    for a in arrays:  # anything else (a list, an object): the op runs eagerly
        t = type(a)
        if t is not Pending and t not in _EXACT_CONSTANTS and not isinstance(a, _ARRAYS):
            if not isinstance(a, _CONSTANTS):
                return None
    cdt = None if cast is None else np.dtype(cast)
    refs, akey = [], []
    for a in arrays:
        t = type(a)
        if t is Pending:
            if a.graph is graph:
                refs.append(a.index)
                av = a.aval
            else:  # realized (in this graph's last program, or in another thread's)
                r = graph.leaf(a.value)
                refs.append(r)
                av = graph.leaf_avals[-1 - r]
        elif t in _EXACT_CONSTANTS or not isinstance(a, _ARRAYS):
            k = _const_key(a)
            refs.append(("const", k, a))
            akey.append(k)
            continue
        else:
            r = graph.leaf(a)
            refs.append(r)
            av = graph.leaf_avals[-1 - r]
        akey.append(av if cdt is None or av[1] == cdt else (av[0], cdt, False))
    pkey = tuple(params.items()) if params else ()
    key = (op.name, pkey, tuple(akey))
    try:
        aval = _avals.get(key, False)
    except TypeError:  # an unhashable param
        return None
    refs = tuple(refs)
    if aval is False:
        operands = [_operand(graph, r) for r in refs]
        aval = _abstract_eval(op, operands, params, cast)
        if len(_avals) >= _AVALS_LIMIT:
            _avals.clear()
        _avals[key] = aval
    if aval is None:
        return None
    p = Pending(aval, op, graph, len(graph.nodes))
    graph.nodes.append(weakref.ref(p))
    graph.steps.append((op.forward, params, cast, refs))
    graph.sig.append((op.name, pkey, None if cdt is None else cdt.name, refs))
    _stats["recorded"] += 1
    return p


def _operand(graph: _Graph, r):
    """The operand a step reference stands for (a pending value, a leaf or a constant)."""
    if type(r) is not int:
        return r[2]
    return graph.nodes[r]() if r >= 0 else graph.leaves[-1 - r]


class _Step:
    """What a pending value of a :func:`call` names as its op (for ``repr`` and the log)."""

    __slots__ = ("name",)

    def __init__(self, name: str):
        self.name = name


_CALL_OUTPUT = _Step("call output")
_calls: dict = {}  # (fn, input structure, static kwargs, input avals) -> (output structure, avals)


def _getitem(t, *, i):
    return t[i]


def call(fn, args: tuple, kwargs: dict):
    """``fn(*args, **kwargs)`` recorded as one pending step, for a pure JAX function of arrays
    that tracegrad calls itself (an optimizer's fused update, gradient clipping): ``args`` are
    pytrees of arrays, pending values, Python numbers (made weakly typed inputs, as ``jax.jit``
    makes them, so a learning rate that changes compiles nothing new) and None; ``kwargs`` are
    ``fn``'s static arguments. Returns ``fn``'s output pytree with pending values for its arrays,
    or None when lazy mode is off or an argument is something else (call ``fn`` then)."""
    if not active():
        return None
    leaves, treedef = jax.tree_util.tree_flatten(args)
    for a in leaves:
        if type(a) is not Pending and not isinstance(a, (*_ARRAYS, bool, int, float, complex)):
            return None
    graph = _graph()
    for a in leaves:
        if type(a) is Pending and a.graph is not None and a.graph is not graph:
            _flush(a.graph, "a pending value read by another thread")
    with graph.lock:
        return _call(graph, fn, leaves, treedef, kwargs)


def _call(graph: _Graph, fn, leaves: list, treedef, kwargs: dict):
    if len(graph.nodes) >= NODE_CAP:
        _flush(graph, f"the pending graph reached {NODE_CAP} nodes")
    refs, akey = [], []
    for a in leaves:
        if type(a) is Pending and a.graph is graph:
            refs.append(a.index)
            akey.append(a.aval)
            continue
        if type(a) is Pending:
            a = a.value
        elif not isinstance(a, _ARRAYS):
            a = jax.numpy.asarray(a)  # weakly typed, like a Python number passed to jax.jit
        r = graph.leaf(a)
        refs.append(r)
        akey.append(graph.leaf_avals[-1 - r])
    pkey = tuple(kwargs.items())
    key = (fn, treedef, pkey, tuple(akey))
    found = _calls.get(key)
    if found is None:
        specs = [jax.ShapeDtypeStruct(av[0], av[1], weak_type=av[2]) for av in akey]
        out = jax.eval_shape(
            lambda *xs: fn(*jax.tree_util.tree_unflatten(treedef, xs), **kwargs), *specs
        )
        out_leaves, out_tree = jax.tree_util.tree_flatten(out)
        avals = tuple((tuple(o.shape), np.dtype(o.dtype), bool(o.weak_type)) for o in out_leaves)
        found = _calls[key] = (out_tree, avals)
    out_tree, avals = found

    def flat(*xs):
        return tuple(
            jax.tree_util.tree_leaves(fn(*jax.tree_util.tree_unflatten(treedef, xs), **kwargs))
        )

    name = getattr(fn, "__name__", "call")
    index = len(graph.nodes)
    graph.nodes.append(weakref.ref(Pending(((), None, False), _Step(name), graph, index)))
    refs = tuple(refs)
    graph.steps.append((flat, {}, None, refs))
    graph.sig.append((name, (fn, treedef, pkey), None, refs))
    outs = []
    for i, av in enumerate(avals):
        p = Pending(av, _CALL_OUTPUT, graph, len(graph.nodes))
        graph.nodes.append(weakref.ref(p))
        graph.steps.append((_getitem, {"i": i}, None, (index,)))
        graph.sig.append(("getitem", (("i", i),), None, (index,)))
        outs.append(p)
    _stats["recorded"] += 1
    return jax.tree_util.tree_unflatten(out_tree, outs)


def jit(fn=None, *, static_argnames=()):
    """``jax.jit(fn, static_argnames=...)`` for the pure functions tracegrad runs on tensors'
    arrays itself (optimizer updates, gradient clipping): in lazy mode a call is recorded as one
    pending step (:func:`call`) and joins the program of the step around it; otherwise, or when
    it cannot be recorded, it runs, on realized arguments."""
    if fn is None:
        return functools.partial(jit, static_argnames=static_argnames)
    jitted = jax.jit(fn, static_argnames=static_argnames)
    names = list(inspect.signature(fn).parameters)
    static_positions = [i for i, n in enumerate(names) if n in static_argnames]

    @functools.wraps(fn)
    def run(*args, **kwargs):
        if _enabled:
            if static_positions:  # static arguments given by position go with the keywords
                kwargs = {
                    **kwargs,
                    **{names[i]: args[i] for i in static_positions if i < len(args)},
                }
                args = tuple(a for i, a in enumerate(args) if i not in static_positions)
            out = call(jitted, args, kwargs)
            if out is not None:
                return out
            args = concrete(args)
        return jitted(*args, **kwargs)

    return run


def array_of(t):
    """A tensor's array for a :func:`jit` function: its pending value, unrealized, in lazy mode."""
    return t._storage._array if _enabled and _tracing.current() is None else t._storage.array


def concrete(x):
    """``x`` with every pending value in it (a pytree) realized."""

    def one(a):
        if type(a) is not Pending:
            return a
        if a.value is None and a.graph is not None:
            _flush(a.graph, None)
        return a.value

    return jax.tree_util.tree_map(one, x)


def _abstract_eval(op, operands, params, cast):
    """The output's (shape, dtype, weak_type), or None for an op whose lowering needs concrete
    values (it runs eagerly). Errors about the operands (broadcasting, shapes) propagate."""
    positions, specs = [], []
    consts = list(operands)
    for i, a in enumerate(operands):
        if not isinstance(a, _CONSTANTS):
            dtype = cast if cast is not None else a.dtype
            weak = getattr(a, "weak_type", False) and (cast is None or a.dtype == cast)
            specs.append(jax.ShapeDtypeStruct(tuple(a.shape), dtype, weak_type=weak))
            positions.append(i)

    raised = []

    def f(*arrays):
        args = list(consts)
        for i, x in zip(positions, arrays):
            args[i] = x
        try:
            return op.forward(*args, **params)
        except Exception as e:  # kept out of JAX's hands, which would add notes to it
            raised.append(e)
            raise _Raised from None

    try:
        with _tracing.abstract_eval():
            out = jax.eval_shape(f, *specs)
    except _Raised:
        (e,) = raised
        if isinstance(e, _NEEDS_VALUES):
            return None
        raise e from None
    if not isinstance(out, jax.ShapeDtypeStruct):
        return None
    return (tuple(out.shape), np.dtype(out.dtype), bool(out.weak_type))


class _Raised(Exception):
    """Stands for the exception a lowering raised during abstract evaluation."""


_NEEDS_VALUES = (
    _tracing.NeedsValues,
    jax.errors.ConcretizationTypeError,
    jax.errors.TracerArrayConversionError,
    jax.errors.TracerIntegerConversionError,
    jax.errors.TracerBoolConversionError,
)


def attach(pending: Pending, storage) -> None:
    """Register ``storage`` as holding ``pending`` (it gets the value when realized), or give it
    the value if ``pending`` was realized already."""
    if pending.value is not None:
        storage._array = pending.value
    else:
        pending.storages.append(weakref.ref(storage))


# ----------------------------------------------------------------------------------- realizing
def realize(storage):
    """The array of a storage that holds a pending value: realize its graph, then return it."""
    p = storage._array
    if p.value is None and p.graph is not None:
        _flush(p.graph, None)
    if p.value is None:  # cannot happen: the storage holds p, so p was computed
        raise RuntimeError(f"tracegrad.lazy: {p!r} was never computed")
    storage._array = p.value
    return p.value


def _flush(graph: _Graph, why: str | None) -> None:
    """Compute every pending value of ``graph`` that a tensor holds, as one program. The program
    runs every recorded step; XLA drops those no output needs."""
    with graph.lock:
        nodes = graph.nodes
        if not nodes:
            return
        # A pending value still exists only where something holds it (a tensor's storage, a list
        # an optimizer is about to write back): those are the program's outputs.
        live = [p for p in (ref() for ref in nodes) if p is not None and p.dtype is not None]
        where = _where() if why is None else why
        if live and why != _SYNC and getattr(_local, "strict", 0):
            trigger = where if why is None else f"realized because {why}"
            raise RealizationError(
                f"tracegrad.lazy.strict: {len(nodes)} pending ops would be {trigger}, inside a "
                "strict region. Read the value after the region, or call tracegrad.sync() where "
                "the program should be cut."
            )
        steps, sig, leaves, leaf_avals = graph.steps, graph.sig, graph.leaves, graph.leaf_avals
        graph._reset()
        if not live:
            return
        outs = tuple(p.index for p in live)
        key = (tuple(sig), tuple(leaf_avals), outs)
        with _lock:
            program = _programs.get(key)
            if program is not None:
                _programs.move_to_end(key)
                _stats["hits"] += 1
            _stats["realizations"] += 1
        _last.update(where=where, nodes=len(nodes), outputs=len(outs))
        start = time.perf_counter()
        if program is None:
            program = jax.jit(_program(tuple(steps), outs))
        try:
            with jax.ensure_compile_time_eval():  # concrete values even inside a JAX trace
                results = program(*leaves)
        except BaseException:
            for p in live:  # lost with the graph: reading one raises, recording on one too
                p.graph = None
            raise
        if key not in _programs:
            seconds = time.perf_counter() - start
            with _lock:
                _programs[key] = program
                if len(_programs) > CACHE_SIZE:
                    _programs.popitem(last=False)
                _stats["compiles"] += 1
                _stats["compile_seconds"] += seconds
            _explain_compile(where, key, len(nodes), len(outs), seconds)
        # Each value is given before its graph is let go: another thread reading it meanwhile
        # sees it still pending in this graph and waits on the lock, then finds it computed.
        for p, r in zip(live, results):
            if p.commit and not r.committed:
                r = jax.device_put(r, home())
            p.value = r
            p.graph = None
            for ref in p.storages:
                s = ref()
                if s is not None and s._array is p:
                    s._array = r


def _program(steps: tuple, outs: tuple):
    """The function of the leaves that replays ``steps`` (lowering, params, promotion cast,
    operand references: a step's index, ``-1 - j`` for leaf ``j``, or a constant) and returns the
    values of the steps at ``outs``."""

    def run(*leaves):
        env = []
        for forward, params, cast, refs in steps:
            args = []
            for r in refs:
                if type(r) is int:
                    args.append(env[r] if r >= 0 else leaves[-1 - r])
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
    """``"realized at file.py:line by Tensor.item()"``: the first frame outside tracegrad and
    JAX, and the tracegrad function it called."""
    frame = sys._getframe(1)
    by = None
    while frame is not None:
        name = frame.f_code.co_filename
        if name.startswith(_compile_events.PACKAGE):
            by = frame.f_code.co_qualname
        elif not any(j in name for j in _JAX):
            break
        frame = frame.f_back
    if frame is None:
        return "realized at <unknown>"
    where = f"realized at {_compile_events.short_path(frame.f_code.co_filename)}:{frame.f_lineno}"
    return where if by is None else f"{where} by {by}()"


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
