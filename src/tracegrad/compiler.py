"""``tracegrad.compile``: a whole PyTorch-style step -- forward, ``backward()``, ``optimizer.step()``,
``zero_grad()``, buffer updates, random draws -- as one XLA program.

How it works. The state a step reads and writes is *declared* (``compile(step, state=(model,
optimizer))``: those objects are the roots) or, without ``state=``, *discovered*: the function's
arguments, its closure cells, the globals its code loads and the attributes of plain objects they
hold (recursively through the functions it calls) are searched for modules, optimizers and
tensors, once per function (``_Roots`` keeps the result while what the search read is unchanged).
From those *roots* a deterministic walk
collects the state tensors -- parameters, buffers, loose tensors, their gradients, optimizer state
and tensor hyperparameters -- plus the global RNG key and the optimizers' float learning rates.

The step is then a pure function of that state and the tensor arguments: the walk's arrays are
installed into the very same Python objects as JAX tracers, the user's function runs unchanged
(recording and back-propagating a tracegrad graph as usual), and the walk is repeated to read the
new state. ``jax.jit`` traces that once; later calls feed the current arrays in and write the
results back into the objects. State inputs are donated, so parameters are updated in place;
only arrays tracegrad owns (a previous call's outputs, not handed out since) are donated as they
are, others are copied first (see ``_own_donated``).

The cache key is everything the trace depended on besides array values: argument shapes, dtypes
and non-tensor values, the state's structure (which parameters have a ``.grad``, which optimizer
state exists), grad mode, ``module.training`` flags and non-lr hyperparameters, and the
Python values the step reads that are not inputs (``_Values``: floats and numpy arrays found in
globals, closure cells and attributes are lifted to inputs; ints, strings and floats needed as
Python numbers are keyed; the step's writes to them are replayed after each call). A new key retraces
(logged with the user's call site and what changed, through the ``tracegrad.compile`` logger, and
recorded as a ``CompileEvent`` in ``compile_events``; ``explain()`` reports them); one function
retracing ``RETRACE_WARNING`` times warns with the most frequent cause.

The first call is traced too. When it creates state (optimizer moments, the first gradients),
the program's outputs create it in the Python objects, and the second call, seeing the new
structure, traces the steady-state program. Two compiles cost less than one eager step: an eager
first call would compile every JAX op it dispatches, one by one.

``compile(module)`` under grad mode returns outputs whose backward is a second compiled program:
the recorded graph's backward (``autograd/compiled.py``'s replay), fed the arrays the forward saved.
"""

from __future__ import annotations

import collections
import functools
import inspect
import logging
import threading
import time
import types
import warnings
import weakref
from collections import OrderedDict
from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from . import _autocast, _caches, _compile_events, _dtype, _scope, _tracing
from . import random as _random
from ._compile_events import CompileEvent
from ._compile_values import (
    _MAX_CONTAINER,
    _MISSING,
    _SEARCH_DEPTH,
    Opaque,
    _code_names,
    _holder,
    _LiftedFloat,
    _NeedsConcrete,
    _promotion_hazards,
    _replay,
    _Trace,
    _Values,
)
from .autograd import compiled as compiled_backward
from .autograd import engine
from .autograd.function import Function
from .autograd.grad_mode import is_grad_enabled
from .autograd.node import AccumulateGrad
from .nn.modules.module import Module
from .nn.parameter import Parameter
from .optim.optimizer import Optimizer, _LiftedHyper
from .tensor import Tensor

__all__ = [
    "compile",
    "CompiledFunction",
    "CompileEvent",
    "LoweredStep",
    "StateSpec",
    "RETRACE_WARNING",
]

RETRACE_WARNING = 8  # warn when one function has been traced this many times
CACHE_SIZE = 32  # executables kept per compiled function (least recently used evicted)
_TRACE_LOCK = threading.RLock()  # one trace at a time (see _Program._traced)

logger = logging.getLogger("tracegrad.compile")


# --------------------------------------------------------------------------- finding the state


def _find_roots(fn: Callable, args: tuple, kwargs: dict, checks: list | None = None) -> list:
    """Modules, optimizers and tensors that ``fn`` can reach: through its arguments, its bound
    ``self``, its closure cells and the globals its code names (and, recursively, those of the
    Python functions it refers to). Ordered and without repeats, so the walk is deterministic.

    The discovery fallback of ``compile(fn)`` without ``state=``. When ``checks`` is given it
    receives what the result depends on besides the arguments (see :class:`_Roots`): every place
    the walk read and what it found there, compared by identity on later calls."""
    module_t, optim_t = Module, Optimizer
    roots: list = []
    seen_roots: set[int] = set()
    seen_code: set[int] = set()
    record = checks.append if checks is not None else (lambda check: None)

    def add(obj, depth: int, tensors: bool = True) -> None:
        if isinstance(obj, Tensor) and not (tensors or obj._requires_grad):
            return  # a data argument: an input, not state
        if isinstance(obj, (Tensor, module_t, optim_t)):
            if id(obj) not in seen_roots:
                seen_roots.add(id(obj))
                roots.append(obj)
            return
        if depth <= 0:
            return
        if isinstance(obj, (list, tuple)) and len(obj) <= _MAX_CONTAINER:
            if isinstance(obj, list):
                record(("items", obj, tensors, _items_sig(obj, tensors)))
            for x in obj:
                add(x, depth - 1, tensors)
        elif isinstance(obj, dict) and len(obj) <= _MAX_CONTAINER:
            record(("items", obj, tensors, _items_sig(obj, tensors)))
            for x in obj.values():
                add(x, depth - 1, tensors)
        elif isinstance(obj, (types.FunctionType, types.MethodType, functools.partial)):
            visit_function(obj, depth - 1)
        elif isinstance(obj, CompiledFunction):  # called inside: its state is this one's too
            visit_function(obj.fn, depth - 1)
        elif isinstance(obj, _CompiledModule):
            add(obj._module, depth, tensors)
        elif _holder(obj) and id(obj) not in seen_roots:  # a trainer object holding the model
            seen_roots.add(id(obj))
            record(("items", obj, tensors, _items_sig(obj, tensors)))
            for x in vars(obj).values():
                add(x, depth - 1, tensors)

    def visit_function(f, depth: int) -> None:
        if isinstance(f, functools.partial):
            record(("items", f.keywords, True, _items_sig(f.keywords, True)))
            for x in (*f.args, *f.keywords.values()):
                add(x, depth)
            f = f.func
        if isinstance(f, types.MethodType):
            add(f.__self__, depth)
            f = f.__func__
        if not isinstance(f, types.FunctionType) or id(f.__code__) in seen_code:
            return
        seen_code.add(id(f.__code__))
        record(("function", f, None, _function_sig(f)))
        for cell in f.__closure__ or ():
            try:
                add(cell.cell_contents, depth)
            except ValueError:  # an empty cell
                pass
        for x in (*(f.__defaults__ or ()), *(f.__kwdefaults__ or {}).values()):
            add(x, depth)  # def step(x, model=model): state bound as a default argument
        g = f.__globals__
        names = _code_names(f.__code__)[0]  # the globals it loads or stores
        record(("globals", g, names, _globals_sig(g, names)))
        for name in names:
            if name in g:
                value = g[name]
                if not isinstance(value, types.ModuleType):
                    add(value, depth)

    for a in (*args, *kwargs.values()):
        # Tensor arguments are inputs; those that require grad are also state (their .grad).
        add(a, _SEARCH_DEPTH, tensors=False)
    visit_function(fn, _SEARCH_DEPTH)
    return roots


class _Same:
    """A value in a discovery check, compared by identity (holding it keeps its ``id`` unique)."""

    __slots__ = ("obj",)

    def __init__(self, obj) -> None:
        self.obj = obj

    def __eq__(self, other) -> bool:
        return isinstance(other, _Same) and other.obj is self.obj

    def __hash__(self) -> int:
        return id(self.obj)


_IGNORED = "ignored"  # a value discovery does not look into (a number, a data tensor, a module)


def _sig(v, tensors: bool):
    """What of ``v`` decides what :func:`_find_roots` finds through it, for its cache's checks:
    the object itself (by identity) when the walk would look into it, else ``_IGNORED``. Tuples
    (an argument ``(x, y)`` built anew each call) by their items."""
    if isinstance(v, Tensor):
        return _Same(v) if tensors or v._requires_grad else _IGNORED
    if isinstance(v, tuple) and len(v) <= _MAX_CONTAINER:
        return ("tuple", tuple(_sig(x, tensors) for x in v))
    if isinstance(v, (list, dict)):
        return _Same(v) if len(v) <= _MAX_CONTAINER else _IGNORED
    if isinstance(
        v,
        (
            Module,
            Optimizer,
            types.FunctionType,
            types.MethodType,
            functools.partial,
            CompiledFunction,
            _CompiledModule,
        ),
    ):
        return _Same(v)
    if isinstance(v, (int, float, str, bytes, type(None), types.ModuleType)):
        return _IGNORED
    return _Same(v) if _holder(v) else _IGNORED


def _items_sig(obj, tensors: bool) -> tuple:
    if isinstance(obj, list):
        return tuple(_sig(x, tensors) for x in obj)
    items = obj if isinstance(obj, dict) else vars(obj)
    return tuple((k, _sig(x, tensors)) for k, x in items.items())


def _function_sig(f: types.FunctionType) -> tuple:
    cells = []
    for cell in f.__closure__ or ():
        try:
            cells.append(_sig(cell.cell_contents, True))
        except ValueError:
            cells.append(_MISSING)
    defaults = (*(f.__defaults__ or ()), *(f.__kwdefaults__ or {}).items())
    return (_Same(f.__code__), tuple(cells), _sig(defaults, True))


def _globals_sig(g: dict, names: tuple) -> tuple:
    return tuple(_sig(g[n], True) if n in g else _MISSING for n in names)


class _Roots:
    """The roots discovery found for a function, kept on its :class:`CompiledFunction` so that
    the walk over bytecode, closures and globals runs once, not on every call. ``valid`` re-reads
    only the places the walk read (a global, a closure cell, an attribute, a list) and compares
    what is there by identity: rebinding any of them (``model = Net()``) discovers again."""

    __slots__ = ("roots", "checks", "args")

    def __init__(self, fn: Callable, args: tuple, kwargs: dict) -> None:
        self.checks: list = []
        self.roots = _find_roots(fn, args, kwargs, self.checks)
        self.args = _args_sig(args, kwargs)

    def valid(self, args: tuple, kwargs: dict) -> bool:
        if _args_sig(args, kwargs) != self.args:
            return False
        for kind, obj, extra, sig in self.checks:
            if kind == "items":
                now = _items_sig(obj, extra)
            elif kind == "function":
                now = _function_sig(obj)
            else:
                now = _globals_sig(obj, extra)
            if now != sig:
                return False
        return True


def _args_sig(args: tuple, kwargs: dict) -> tuple:
    return (
        tuple(_sig(a, False) for a in args),
        tuple((k, _sig(a, False)) for k, a in kwargs.items()),
    )


def _declared_roots(state) -> tuple:
    """``compile(fn, state=...)``'s roots: the modules, optimizers and tensors of ``state`` (one of
    them, or a tuple/list/dict of them, nested), in order and without repeats."""
    module_t, optim_t = Module, Optimizer
    roots: list = []
    seen: set[int] = set()

    def add(x, where: str) -> None:
        if isinstance(x, _CompiledModule):
            x = x._module
        if isinstance(x, (Tensor, module_t, optim_t)):
            if id(x) not in seen:
                seen.add(id(x))
                roots.append(x)
        elif isinstance(x, (list, tuple)):
            for i, y in enumerate(x):
                add(y, f"{where}[{i}]")
        elif isinstance(x, dict):
            for k, y in x.items():
                add(y, f"{where}[{k!r}]")
        else:
            raise TypeError(
                f"compile(state=...): {where} is a {type(x).__name__}; the state is made of "
                "modules, optimizers and tensors (one, or a tuple, list or dict of them)"
            )

    add(state, "state")
    return tuple(roots)


def _flatten_args_tensors(xs) -> list:
    """The tensors in a call's arguments (through lists, tuples and dicts)."""
    out: list = []
    for x in xs:
        if isinstance(x, Tensor):
            out.append(x)
        elif isinstance(x, (list, tuple)):
            out += _flatten_args_tensors(x)
        elif isinstance(x, dict):
            out += _flatten_args_tensors(x.values())
    return out


_OUTSIDE_CHANGED = (
    "a tensor the step reads from outside state= changed (it is a constant of the program; "
    "add it to state= to make it an input)",
    "state",
)


class OptimizerSpec(NamedTuple):
    """One optimizer's part of a :class:`StateSpec`."""

    state: tuple  # (parameter index, key, ("tensor", shape, dtype) or ("value", v)) per entry
    hyperparameters: tuple  # (group index, name, value; ``float`` for a lifted lr) per entry


class StateSpec(NamedTuple):
    """The structure of a step's state, as one walk (:class:`_State`) finds it: part of the cache
    key, and what a retrace explanation compares field by field. Array values are not in it."""

    tensors: tuple  # (shape, dtype, requires_grad) of each base tensor: parameters, buffers, ...
    grads: tuple  # (base index, (shape, dtype)) of each base tensor that has a ``.grad``
    optimizers: tuple  # an :class:`OptimizerSpec` per optimizer
    training: tuple  # ``module.training`` of every module, in walk order


class _State:
    """One walk over the roots: the state tensors in a fixed order, and the structure key.

    ``tensors`` lists every state tensor once (by storage): first the *base* tensors (parameters,
    buffers, loose tensors, tensor hyperparameters), then the present gradients, then optimizer
    state tensors. ``spec`` (a :class:`StateSpec`) describes where each lives and its shape/dtype,
    plus the non-tensor facts a trace depends on; two walks with equal specs have interchangeable
    tensors.
    """

    __slots__ = (
        "roots",
        "base",
        "tensors",
        "paths",
        "spec",
        "optimizers",
        "modules",
        "hypers",
        "lift",
    )

    def __init__(self, roots: list, lift: bool = True) -> None:
        module_t = Module
        base: list[Tensor] = []
        seen: set[int] = set()
        optimizers, modules = [], []

        def add_base(t: Tensor) -> None:
            if id(t._storage) not in seen:
                seen.add(id(t._storage))
                base.append(t)

        for r in roots:
            if isinstance(r, Tensor):
                add_base(r)
            elif isinstance(r, module_t):
                for m in r.modules():
                    modules.append(m)
                    for t in (*m._parameters.values(), *m._buffers.values()):
                        if t is not None:
                            add_base(t)
                    for t in vars(m).values():  # a tensor kept as a plain attribute
                        if type(t) is Tensor:
                            add_base(t)
            else:
                optimizers.append(r)
                for group in r.param_groups:
                    for p in group["params"]:
                        add_base(p)
                    for v in group.values():
                        if isinstance(v, Tensor):
                            add_base(v)

        tensors = list(base)
        paths: list = [("base", i) for i in range(len(base))]  # where each tensor lives
        grads = []
        for i, t in enumerate(base):
            g = t._grad
            if g is not None:
                if id(g._storage) not in seen:
                    seen.add(id(g._storage))
                    tensors.append(g)
                    paths.append(("grad", i))
                grads.append((i, _aval(g)))
        index = {id(t): i for i, t in enumerate(base)}
        hypers: list = []  # (optimizer, group index, name, tuple index or None, facts or None)
        optimizer_specs = []
        for oi, opt in enumerate(optimizers):
            entries = []
            for p, st in opt.state.items():
                pi = index.get(id(p), -1)
                for k, v in st.items():
                    if isinstance(v, Tensor):
                        if id(v._storage) not in seen:
                            seen.add(id(v._storage))
                            tensors.append(v)
                            paths.append(("optim", oi, pi, k))
                        entries.append((pi, k, ("tensor", *_aval(v))))
                    else:
                        entries.append((pi, k, ("value", _static(v))))
            hyper = []
            # Float hyperparameters the optimizer's rules accept traced (the lr, SGD's momentum,
            # Adam's betas) are program inputs, since schedulers change them every step; the key
            # keeps only the host-side facts the rules branch on (see _LiftedHyper).
            traced = getattr(opt, "_traced_hyperparameters", ("lr",)) if lift else ("lr",)
            for gi, group in enumerate(opt.param_groups):
                for k, v in group.items():
                    if k == "params" or isinstance(v, Tensor):
                        continue
                    if k not in traced:
                        hyper.append((gi, k, _static(v)))
                    elif isinstance(v, float):
                        facts = None if k == "lr" else _LiftedHyper.facts_of(v)
                        hypers.append((opt, gi, k, None, facts))
                        hyper.append((gi, k, float if facts is None else ("lifted", facts)))
                    elif isinstance(v, (tuple, list)) and any(isinstance(x, float) for x in v):
                        desc = []
                        for i, x in enumerate(v):
                            if isinstance(x, float):
                                facts = _LiftedHyper.facts_of(x)
                                hypers.append((opt, gi, k, i, facts))
                                desc.append(("lifted", facts))
                            else:
                                desc.append(_static(x))
                        hyper.append((gi, k, (type(v).__name__, tuple(desc))))
                    else:
                        hyper.append((gi, k, _static(v)))
            optimizer_specs.append(OptimizerSpec(tuple(entries), tuple(hyper)))
        self.roots = roots
        self.base, self.tensors, self.optimizers, self.modules = base, tensors, optimizers, modules
        self.paths = paths
        self.hypers = hypers
        self.lift = lift
        self.spec = StateSpec(
            tensors=tuple(_aval(t) + (t._requires_grad,) for t in base),
            grads=tuple(grads),
            optimizers=tuple(optimizer_specs),
            training=tuple(m.training for m in modules),
        )


def _aval(t: Tensor) -> tuple:
    a = t._storage.array
    return (None, None) if a is None else (a.shape, a.dtype)  # None: a slot being filled


def _static(v):
    """A non-tensor value as part of a cache key (hashable, compared by value)."""
    try:
        hash(v)
        return v
    except TypeError:
        if isinstance(v, (list, tuple)):
            return tuple(_static(x) for x in v)
        if isinstance(v, dict):
            return tuple(sorted((k, _static(x)) for k, x in v.items()))
        return ("id", id(v))


def _flatten_args(args: tuple, kwargs: dict):
    """Split the call's arguments into tensor leaves and a hashable description of the rest."""
    leaves: list[Tensor] = []

    def walk(x):
        if isinstance(x, Tensor):
            if x.grad_fn is not None and is_grad_enabled():
                raise NotImplementedError(
                    f"tracegrad.compile: argument {len(leaves)} is the output of a recorded graph "
                    f"(grad_fn={x.grad_fn.name()}); a compiled function cannot back-propagate "
                    "into a graph recorded outside it. Pass it .detach()ed, or compute it inside "
                    "the compiled function"
                )
            leaves.append(x)
            return ("T", x._storage.array.shape, x._storage.array.dtype, x._requires_grad)
        if isinstance(x, (list, tuple)):
            return (type(x).__name__, tuple(walk(y) for y in x))
        if isinstance(x, dict):
            return ("dict", tuple((k, walk(v)) for k, v in x.items()))
        return _static(x)

    desc = (tuple(walk(a) for a in args), tuple((k, walk(v)) for k, v in kwargs.items()))
    return leaves, desc


# --------------------------------------------------------------------------- snapshots
class _Snapshot:
    """Everything a trace may change, so a failed (or lower-only) trace can be undone exactly."""

    def __init__(self, state: _State, arg_tensors: list[Tensor]) -> None:
        tensors = [*state.base, *arg_tensors]
        self.arrays = [(t._storage, t._storage.array, t._storage.version) for t in tensors]
        self.grads = [(t, t._grad) for t in state.base]
        self.grad_arrays = [
            (g._storage, g._storage.array, g._storage.version)
            for g in state.tensors[len(state.base) :]
        ]
        self.opt = [(o, {p: dict(s) for p, s in o.state.items()}) for o in state.optimizers]
        # The lifted hyperparameters' groups entries (a float, or the whole betas tuple).
        self.hypers = [(o, gi, k, o.param_groups[gi][k]) for o, gi, k, _, _ in state.hypers]

    def restore(self) -> None:
        for storage, array, version in (*self.arrays, *self.grad_arrays):
            storage.array, storage.version = array, version
        for t, g in self.grads:
            t._grad = g
        for o, st in self.opt:
            o.state.clear()
            o.state.update({p: dict(s) for p, s in st.items()})
        self.restore_hypers()

    def restore_hypers(self) -> None:
        """Put the lifted hyperparameters' Python values back into their groups."""
        for o, gi, k, v in self.hypers:
            o.param_groups[gi][k] = v


# --------------------------------------------------------------------------- one traced program
class _NotCompilable(Exception):
    """This call's graph cannot be handed back to eager ``backward()`` as a compiled program."""


def _tape_line(name: str, operands: tuple, arrays: list, out) -> str:
    args = ", ".join(
        f"{a.dtype}{list(a.shape)}" if isinstance(x, Tensor) else repr(x)
        for x, a in zip(operands, arrays)
    )
    return f"{name}({args}) -> {out.dtype}{list(out.shape)}"


class _Program(Opaque):
    """One cache entry: the jitted pure step for one key, and what its trace found out."""

    def __init__(self, owner: CompiledFunction, args, kwargs, key) -> None:
        self.owner, self.args, self.kwargs, self.key = owner, args, kwargs, key
        self.post_spec = None  # the state's structure after the step (None: not traced yet)
        self.orphans: list[int] = []  # state inputs the step dropped (written back unchanged)
        self.arg_writes: list[int] = []  # tensor arguments the step modified in place
        self.out_tree = None  # rebuilds the return value from the output arrays
        self.tape: list[str] = []
        self.trace_seconds = 0.0
        self.ops = 0  # ops recorded by the trace, and per module (see _compile_events)
        self.module_ops: dict[str, int] = {}
        self.why: tuple | None = None  # (where, reason, cause) of the call that created it
        self.concrete = owner._concrete  # Python values kept in the cache key, not lifted
        self.lift = owner._lift_hypers  # optimizer hyperparameters besides lr lifted to inputs
        self.py_writes: list = []  # the step's writes to Python state, replayed after each call
        self.draws = False  # whether the step draws random numbers (then its key is written back)
        self.jitted = jax.jit(self._traced, donate_argnums=(0,) if owner.donate else ())
        # A differentiable call (compile(module) under grad mode): the recorded graph's backward
        # as a second program, fed the forward's saved arrays (residuals) and the output's grad.
        self.backward_key = None
        self.seed_slot = 0
        # Runtime checks (an out-of-range index): their error builders, and the program that
        # computes only their verdict, run before the step (see CompiledFunction._precheck).
        self.errors: list = []
        self.checker = None
        self.leaves: list = []  # (node index in the plan, position in the state's base tensors)
        # With a declared state: the tensors from outside it the step read as constants, as weak
        # references to their storage and the array it held; a call after one changed retraces.
        self.guards: list = []
        self._backward = None

    def guards_hold(self) -> bool:
        """Whether every outside tensor the trace read as a constant still holds that array."""
        for storage_ref, array_ref in self.guards:
            storage = storage_ref()
            if storage is not None and storage.array is not array_ref():
                return False
        return True

    def _traced(self, *inputs):
        """``_pure``, one trace at a time in the process: a trace installs tracers into the very
        Python objects (a model two compiled functions share, or one program's objects that two
        threads' first calls would trace at once)."""
        with _TRACE_LOCK:
            return self._pure(*inputs)

    def _pure(self, state_arrays, arg_arrays, key, hypers, py_floats, py_arrays):
        """The step as a pure function of arrays. Runs only while ``jax.jit`` traces it; it leaves
        every Python object as it found it (the caller writes the results back)."""
        start = time.perf_counter()
        owner = self.owner
        state = _State(owner._roots(self.args, self.kwargs), self.lift)
        arg_tensors, _ = _flatten_args(self.args, self.kwargs)
        snapshot = _Snapshot(state, arg_tensors)
        values = _Values(owner.fn, self.args, self.kwargs, self.concrete)
        explicit = owner._declared is not None
        trace = _CompileTrace(_Tape(explicit), key, state, snapshot, values, explicit)
        try:
            trace.py = _Trace(values, py_floats, py_arrays)
            pre = list(state.tensors)
            for t, a in zip(pre, state_arrays):
                t._storage.array = a
            for t, a in zip(arg_tensors, arg_arrays):
                t._storage.array = a
            for (opt, gi, k, i, facts), a in zip(state.hypers, hypers):
                t = Tensor._wrap(a) if facts is None else _LiftedHyper.lift(a, facts)
                group = opt.param_groups[gi]
                if i is None:
                    group[k] = t
                else:  # one element of a tuple (betas)
                    v = group[k]
                    group[k] = type(v)((*v[:i], t, *v[i + 1 :]))
            # The trace is this thread's: its ops go to its tape, its random draws split its own
            # key (the program's key input), and its backward runs node by node (traced into this
            # program); other threads' eager code, draws and compiled backward are not affected.
            with _tracing.tracing(trace):
                try:
                    out = owner.fn(*self.args, **self.kwargs)
                finally:
                    trace.refuse_outside_writes()
            self.tape = [_tape_line(*entry) for entry in trace.tape]
            self.ops = len(trace.tape)
            self.module_ops = _compile_events.ops_per_module(trace.tape.scopes)
            hazards = _promotion_hazards(trace.tape)
            if hazards:
                raise _NeedsConcrete(hazards, "an op whose result type depends on it being a float")
            self.py_writes, py_out = trace.py.writes(state)
            trace.py.restore()  # the attributes' own tensors, before the state is walked again
            snapshot.restore_hypers()  # back to floats before the state is walked again

            post = _State(state.roots, state.lift)
            if [id(t._storage) for t in post.base] != [id(t._storage) for t in state.base]:
                raise RuntimeError(
                    "tracegrad.compile: the function changed which parameters, buffers or tensors "
                    "it uses while it ran (for example by creating a parameter); build the model "
                    "before compiling, or leave this function uncompiled"
                )
            # A pre-step tensor whose place is gone afterwards (a .grad set to None) is written back
            # unchanged; one whose place remains (a .grad replaced by a new one) is reused.
            post_paths = set(post.paths)
            self.orphans = [i for i, path in enumerate(state.paths) if path not in post_paths]
            self.arg_writes = [
                i
                for i, (t, a) in enumerate(zip(arg_tensors, arg_arrays))
                if t._storage.array is not a
            ]
            residuals = _plan_backward(self, out, state) if self.owner.differentiable else []
            out_leaves, self.out_tree = _flatten_out(out)
            self.post_spec = post.spec
            self.draws = trace.key is not key
            self.errors = [(make, value is not None) for _, make, value in trace.checks]
            self.guards = [(weakref.ref(st), weakref.ref(a)) for st, a in trace.tape.reads.values()]
            return (
                [t._storage.array for t in post.tensors],
                [pre[i]._storage.array for i in self.orphans],
                [arg_tensors[i]._storage.array for i in self.arg_writes],
                [t._storage.array for t in out_leaves],
                trace.key,
                residuals,
                py_out,
                _check_result(trace.checks) if trace.checks else (),  # none: nothing extra
            )
        finally:
            if trace.py is not None:
                trace.py.restore()
            snapshot.restore()
            self.trace_seconds = time.perf_counter() - start


def _precheck(program: _Program, inputs: tuple) -> None:
    """Raise the error of the step's first failed runtime check, before the step runs.

    The checker is the step's program reduced to its checks' verdict: XLA drops everything the
    verdict does not depend on (usually all but a min/max over an input's indices), and it donates
    nothing. So a failing call raises with every state buffer intact, exactly as the eager step
    stops at the op, and a passing call costs one small program and a read of two integers."""
    if program.checker is None:
        program.checker = jax.jit(lambda *a: program.jitted(*a)[-1])
    failed, value = (int(v) for v in np.asarray(program.checker(*inputs)))
    if failed >= 0:
        make_error, has_value = program.errors[failed]
        raise make_error(value) if has_value else make_error()


def _check_result(checks: list):
    """The program's verdict on its runtime checks: an int64 pair (the number of the first check
    that failed, or -1; that check's value, or 0)."""
    bad = jnp.stack([jnp.any(jnp.asarray(b, bool)) for b, _, _ in checks])
    values = jnp.stack(
        [jnp.asarray(0 if v is None else v).astype(jnp.int64).reshape(()) for _, _, v in checks]
    )
    first = jnp.argmax(bad)
    return jnp.stack([jnp.where(bad[first], first, -1), values[first]])


class _Tape(list):
    """The ops a trace runs, as ``(name, operands, their arrays, output)``. Appending checks that
    no parameter enters with a concrete value: one the state search missed would be baked into
    the program as a constant and its updates lost. It is refused at its first use, before
    anything has been written to it. ``scopes`` keeps each op's module scope (see ``_scope``).

    With a declared state (``compile(fn, state=...)``) every tensor that enters with a concrete
    value comes from outside the state and the arguments: one that requires grad is refused (its
    ``.grad`` would be lost), the others are read as constants and recorded in ``reads`` (the
    program is traced again when one of them changes; see ``_Program.guards``)."""

    def __init__(self, explicit: bool = False) -> None:
        super().__init__()
        self.scopes: list = []
        self.explicit = explicit
        self.reads: dict = {}  # id(storage) -> (storage, array): outside tensors read as constants

    def append(self, entry) -> None:
        name, operands, arrays, _ = entry
        for x, a in zip(operands, arrays):
            if not isinstance(x, Tensor) or isinstance(a, jax.core.Tracer):
                continue
            if self.explicit and (x._requires_grad or isinstance(x, Parameter)):
                raise RuntimeError(
                    f"tracegrad.compile: {name} used a tensor of shape {list(x.shape)} that "
                    f"{'requires grad' if x._requires_grad else 'is a parameter'} and is not "
                    "under the declared state, so its value would be baked into the program and "
                    "its gradient and updates lost. Add its module, optimizer or the tensor "
                    "itself to state=, or pass it as an argument"
                )
            if isinstance(x, Parameter):
                raise RuntimeError(
                    f"tracegrad.compile: {name} used a parameter of shape {list(x.shape)} that "
                    "was not found through the function's arguments, closures, globals or the "
                    "attributes of objects they hold, so it would be baked in as a constant. "
                    "Pass its module (or the object holding it) as an argument, or declare the "
                    "state: compile(fn, state=(model, optimizer))"
                )
            if self.explicit and id(x._storage) not in self.reads:
                self.reads[id(x._storage)] = (x._storage, a)
        super().append(entry)
        self.scopes.append(_scope.current())


class _CompileTrace(_tracing.Trace):
    """Everything one trace of a compiled step keeps, in one object: the per-thread trace of
    ``_tracing`` (tape, runtime checks, RNG key) plus the state walk it installed tracers into,
    the snapshot that undoes it, the Python values it lifted, and -- with a declared state --
    the tensors from outside the state the step wrote to (``outside_writes``: refused)."""

    __slots__ = ("state", "snapshot", "values", "py", "explicit", "outside_writes")

    def __init__(self, tape: _Tape, key, state, snapshot, values, explicit: bool) -> None:
        super().__init__(tape, key=key)
        self.state, self.snapshot, self.values = state, snapshot, values
        self.py = None
        self.explicit = explicit
        self.outside_writes: dict = {}  # id(storage) -> (storage, array, version) before

    def wrote(self, t: Tensor) -> None:
        """``t`` is about to be modified in place during this trace (see ``_hooks``)."""
        st = t._storage
        if not isinstance(st.array, jax.core.Tracer) and id(st) not in self.outside_writes:
            self.outside_writes[id(st)] = (st, st.array, st.version)

    def refuse_outside_writes(self) -> None:
        if not self.outside_writes:
            return
        shapes = []
        for st, array, version in self.outside_writes.values():
            shapes.append(list(array.shape))
            st.array, st.version = array, version
        raise RuntimeError(
            f"tracegrad.compile: the step modifies a tensor of shape {shapes[0]} that is not "
            "under the declared state (a buffer of a module, an optimizer's state or a tensor not "
            "listed in state=); its update would be lost. Add its owner (the module, the "
            "optimizer or the tensor itself) to state="
        )


def _plan_backward(program: _Program, out, state: _State) -> list:
    """Record how to back-propagate ``out``'s graph later: its signature (as the compiled
    backward builds it), where the seed goes, which leaves are state tensors. Returns the arrays
    the backward needs, to be returned by the forward program."""
    if not (isinstance(out, Tensor) and out.grad_fn is not None):
        raise _NotCompilable("it does not return a single tensor with a graph")
    root = out.grad_fn
    order = engine._topological_order([root])
    seed = Tensor._wrap(jnp.zeros(out.shape, out._storage.array.dtype))
    signature = compiled_backward._signature(order, [root], [seed], traced=True)
    if signature is None:
        raise _NotCompilable(
            "its graph has a custom Function, a checkpointed segment, a hook or a non-tensor operand"
        )
    key, arrays = signature
    where = {id(t._storage): i for i, t in enumerate(state.base)}
    program.leaves = [
        (i, where[id(node.variable._storage)])
        for i, node in enumerate(order)
        if type(node) is AccumulateGrad and id(node.variable._storage) in where
    ]
    program.backward_key = key
    program.seed_slot = next(i for i, a in enumerate(arrays) if a is seed._storage.array)
    return [a for i, a in enumerate(arrays) if i != program.seed_slot]


def _run_backward(program: _Program, residuals: list, g: Tensor) -> tuple:
    """The gradients of the leaves (state tensors) of a compiled differentiable call."""
    if program._backward is None:
        program._backward = jax.jit(compiled_backward._program(program.backward_key, []))
    arrays = list(residuals)
    arrays.insert(program.seed_slot, g._storage.array)
    grads = program._backward(*arrays)
    return tuple(Tensor._wrap(grads[i]) if i in grads else None for i, _ in program.leaves)


class CompiledForward(Function):
    """The output of a compiled module call, as one node whose backward is compiled too."""

    @staticmethod
    def forward(ctx, *leaves, program, out, residuals):
        ctx.program, ctx.residuals = program, residuals
        return out

    @staticmethod
    def backward(ctx, g):
        if is_grad_enabled():
            raise NotImplementedError(
                "double backward (create_graph=True) through a tracegrad.compile'd module "
                "is not supported; compile the whole step, or call the module uncompiled"
            )
        return _run_backward(ctx.program, ctx.residuals, g)


def _flatten_out(out):
    """The return value's tensors, and a function rebuilding it from new arrays."""
    leaves: list[Tensor] = []

    def walk(x):
        if isinstance(x, _LiftedFloat):  # a Python float of the state, returned
            leaves.append(x)
            return ("float", None)
        if isinstance(x, Tensor):
            leaves.append(x)
            return None
        if isinstance(x, (list, tuple)):
            return (type(x), [walk(y) for y in x])
        if isinstance(x, dict):
            return (dict, {k: walk(v) for k, v in x.items()})
        if isinstance(x, jax.core.Tracer):
            raise TypeError(
                "tracegrad.compile: the function returned a raw JAX array computed from traced "
                "values; return tensors instead"
            )
        return ("const", x)

    tree = walk(out)

    def build(arrays):
        it = iter(arrays)

        def rebuild(node):
            if node is None:
                return Tensor._wrap(next(it))
            kind, body = node
            if kind == "const":
                return body
            if kind == "float":
                return float(np.asarray(next(it)))
            if kind is dict:
                return {k: rebuild(v) for k, v in body.items()}
            return kind(rebuild(v) for v in body)

        return rebuild(tree)

    return leaves, build


# --------------------------------------------------------------------------- the public object
_live: weakref.WeakSet = weakref.WeakSet()  # every CompiledFunction, for tracegrad.clear_caches()
_live_lock = threading.Lock()


def _compiled_functions() -> list:
    with _live_lock:
        return list(_live)


def _clear_all() -> None:
    for f in _compiled_functions():
        f.clear_cache()


_caches.register(
    "tracegrad.compiler.CompiledFunction._programs",
    lambda: sum(len(f._programs) for f in _compiled_functions()),
    _clear_all,
)


class CompiledFunction(Opaque):
    """What ``tracegrad.compile(fn)`` returns: call it like ``fn``. See :func:`compile`."""

    def __init__(
        self, fn: Callable, *, donate: bool = True, differentiable: bool = False, state=None
    ) -> None:
        self.fn = self.wrapped = fn
        self.donate = donate
        self.differentiable = differentiable
        # compile(fn, state=...): the declared roots (modules, optimizers, tensors); None: the
        # roots are discovered, once, and kept in _discovered while its checks hold.
        self._declared: tuple | None = None if state is None else _declared_roots(state)
        self._discovered: _Roots | None = None
        self._programs: OrderedDict = OrderedDict()
        self._lock = threading.Lock()  # guards _programs and _last_key
        with _live_lock:
            _live.add(self)
        self._last_key = None  # the previous call's key, to say what changed on a retrace
        self._concrete: frozenset = frozenset()  # Python floats/arrays needed as concrete values
        self._values: _Values | None = None  # the last walk over the Python values it reads
        # Whether optimizer hyperparameters besides lr (momentum, betas) are program inputs: off
        # after a trace with them lifted failed (an optimizer subclass reading one as a float).
        self._lift_hypers = True
        # Set when a trace reached code that needs host values (LBFGS.step): the step runs eagerly.
        self._eager_reason: str | None = None
        # Optimizers a compiled closure may name outside its declared state (its own optimizer,
        # for zero_grad(); see _compiled_closure).
        self._allowed_optimizers: frozenset[int] = frozenset()
        self._closures: list[CompiledFunction] = []  # the compiled closures its eager run used
        # A compiled closure whose trace fails (it calls .item()) runs uncompiled instead: the
        # same code, so a genuine error is raised again by the eager run.
        self._eager_on_trace_error = False
        self.traces = 0
        self.compile_seconds = 0.0
        self._compiles = 0  # programs created (numbers the log's compiles)
        self._events: collections.deque = collections.deque(maxlen=_compile_events.MAX_EVENTS)
        self._event_total = 0
        functools.update_wrapper(self, fn)

    def __repr__(self) -> str:
        return f"<tracegrad.compile of {getattr(self.fn, '__qualname__', self.fn)!r}>"

    def stats(self) -> dict:
        """``traces`` and ``compile_seconds`` so far; the cache's size: ``programs`` (one per
        cache key, at most ``CACHE_SIZE``) and ``executables`` (compiled programs they hold: a
        step's, plus a differentiable call's backward)."""
        with self._lock:
            programs = list(self._programs.values())
        executables = sum((p.post_spec is not None) + (p._backward is not None) for p in programs)
        return dict(
            traces=self.traces,
            compile_seconds=self.compile_seconds,
            programs=len(programs),
            executables=executables,
        )

    @property
    def compile_events(self) -> list[CompileEvent]:
        """The last ``MAX_EVENTS`` (100) traces of this function, oldest first, as
        :class:`CompileEvent` s: where each was triggered, why, its seconds and ops per module."""
        return list(self._events)

    def explain(self) -> str:
        """A readable report of this function's compiles: its traces, compile seconds and cached
        programs; each compile (where it was called, why, seconds, ops); the most frequent cause
        of retraces with advice; and the ops per module of the latest program (top 20)."""
        s = self.stats()
        events = list(self._events)
        lines = [
            f"tracegrad.compile of {_name(self.fn)}",
            f"  traces: {s['traces']}, compile seconds: {s['compile_seconds']:.3f}, "
            f"programs cached: {s['programs']} (executables: {s['executables']})",
        ]
        if self._eager_reason is not None:
            lines.append(f"  runs eagerly: {self._eager_reason}")
        if not events:
            lines.append("  not traced yet: the first call traces and compiles")
            return "\n".join(lines)
        lines.append("compiles:")
        lines += _compile_events.format_events(events, self._event_total)
        cause, count, latest = _compile_events.most_frequent(events)
        if cause not in ("first", "eager") and not (cause == "state" and count == 1):
            what, advice = _compile_events.advice(cause)
            lines.append(
                f"most frequent cause of retraces: {what} ({count} of {len(events)}): {advice}"
            )
        for closure in self._closures:
            c = closure.stats()
            lines.append(
                f"compiled closure {_name(closure.fn)}: traces: {c['traces']}, compile seconds: "
                f"{c['compile_seconds']:.3f}, programs cached: {c['programs']}"
                + (f"; runs eagerly: {closure._eager_reason}" if closure._eager_reason else "")
            )
        last = events[-1]
        if last.cause != "eager":
            lines.append(f"ops per module in the latest program ({last.ops} ops):")
            lines += _compile_events.format_modules(last.ops_per_module)
        return "\n".join(lines)

    def clear_cache(self) -> None:
        """Drop this function's programs (the next call traces and compiles again; a function
        that ran eagerly tries tracing again)."""
        with self._lock:
            self._programs.clear()
            self._last_key = None
            self._eager_reason = None

    def __get__(self, obj, objtype=None):  # decorating a method
        return self if obj is None else functools.partial(self.__call__, obj)

    def __call__(self, *args, **kwargs):
        if _tracing.current() is not None:  # called while an outer compiled function traces: inline
            return self.fn(*args, **kwargs)
        if self._eager_reason is not None:
            return self._run_eagerly(args, kwargs)
        guessed = frozenset()  # values moved to the key on an error that did not name them
        while True:
            with self._lock:  # threads may call one compiled function (on models of their own)
                state, arg_tensors, values, key = self._walk(args, kwargs)
                program = self._programs.get(key)
                changed = program is not None and program.guards and not program.guards_hold()
                if changed:  # an outside tensor the step reads as a constant changed
                    program = self._new_program(args, kwargs, key, _OUTSIDE_CHANGED)
                elif program is None:
                    if self._declared is not None:
                        self._undeclared_optimizer(values)
                    program = self._new_program(args, kwargs, key)
                else:
                    self._programs.move_to_end(key)
                self._last_key = key
            try:
                return self._run(program, state, arg_tensors, values)
            except _tracing.RunsEagerly as e:  # the trace was undone; nothing was written
                with self._lock:
                    self._programs.pop(key, None)
                self._go_eager(program, str(e))
                return self._run_eagerly(args, kwargs)
            except Exception as e:
                moved = None
                if program.post_spec is None:
                    moved = self._key_hypers(state, e) or self._key_lifted(values, e)
                if not moved and program.post_spec is None and self._eager_on_trace_error:
                    self._go_eager(
                        program,
                        f"tracing it failed ({type(e).__name__}: {e}); it runs uncompiled",
                    )
                    return self._run_eagerly(args, kwargs)
                if not moved:
                    # The error is the user's: the values moved to the key on a guess go back
                    # to being inputs (a bug elsewhere must not make every new lr retrace).
                    self._concrete -= guessed
                    if "hyperparameters" in guessed:
                        self._lift_hypers = True
                    raise
                if not isinstance(e, _NeedsConcrete):
                    guessed |= moved
                with self._lock:
                    self._programs.pop(key, None)

    def _go_eager(self, program: _Program, reason: str) -> None:
        """From now on this function runs its step eagerly (see ``_tracing.RunsEagerly``):
        logged, and recorded as a compile event and in ``explain()``."""
        self._eager_reason = reason
        where = program.why[0] if program.why else _compile_events.user_frame()
        seconds = program.trace_seconds
        self.traces += 1
        self.compile_seconds += seconds
        logger.info(
            "tracegrad.compile: %s runs eagerly from now on (called at %s): %s",
            _name(self.fn),
            where,
            reason,
        )
        self._events.append(
            CompileEvent(
                "step", _name(self.fn), where, f"runs eagerly: {reason}", seconds, 0, {}, "eager"
            )
        )
        self._event_total += 1

    def _run_eagerly(self, args: tuple, kwargs: dict):
        """Run the step uncompiled; an optimizer that evaluates a closure several times per step
        (LBFGS) compiles the closure (see :func:`_compiled_closure`)."""
        with _tracing.compiling_closures(functools.partial(_compiled_closure, owner=self)):
            return self.fn(*args, **kwargs)

    def _key_hypers(self, state: _State, error: Exception) -> frozenset:
        """A trace with lifted optimizer hyperparameters (momentum, betas) failed for a reason
        that names no Python value: key them instead (every new value retraces, as for any
        keyed value), in case a rule reads one as a Python number. Returns what was moved."""
        if (
            isinstance(error, _NeedsConcrete)
            or not self._lift_hypers
            or all(facts is None for *_, facts in state.hypers)
        ):
            return frozenset()
        self._lift_hypers = False
        logger.info(
            "tracegrad.compile: %s keeps its optimizers' momentum/betas in its cache key (a new "
            "value retraces): tracing with them as inputs failed (%s: %s)",
            _name(self.fn),
            type(error).__name__,
            error,
        )
        return frozenset({"hyperparameters"})

    def _key_lifted(self, values: _Values, error: Exception) -> frozenset:
        """A trace with lifted Python values failed: move the values it needed concretely (or,
        when the error does not say which, the arrays and then the floats) into the cache key.
        Returns the labels moved (none when nothing is left to move: the error is the user's)."""
        lifted = {kind: set() for kind in "fa"}
        for (_, _, label, _, _), kind in zip(values.slots, values.plan):
            if kind:
                lifted[kind].add(label)
        if isinstance(error, _NeedsConcrete):
            labels = error.labels & (lifted["f"] | lifted["a"])
            reason = str(error).removeprefix("tracegrad.compile: ")
        else:
            labels = lifted["a"] or lifted["f"]
            reason = f"tracing with them as inputs failed ({type(error).__name__}: {error})"
        if not labels:
            return frozenset()
        self._concrete |= labels
        logger.info(
            "tracegrad.compile: %s keeps %s in its cache key (a new value retraces): %s",
            _name(self.fn),
            ", ".join(sorted(labels)),
            reason,
        )
        return frozenset(labels)

    # ------------------------------------------------------------------ running one program
    def _roots(self, args: tuple, kwargs: dict) -> list:
        """The modules, optimizers and tensors whose state this call reads and writes: the
        declared ones and the tensor arguments that require grad, or, without ``state=``, those
        discovery finds (the walk runs again only when something it read was rebound)."""
        if self._declared is not None:
            roots, seen = list(self._declared), {id(r) for r in self._declared}
            for t in _flatten_args_tensors((*args, *kwargs.values())):
                if t._requires_grad and id(t) not in seen:  # its .grad is written back
                    seen.add(id(t))
                    roots.append(t)
            return roots
        found = self._discovered
        if found is None or not found.valid(args, kwargs):
            found = self._discovered = _Roots(self.fn, args, kwargs)
        return found.roots

    def _undeclared_optimizer(self, values: _Values) -> None:
        """With a declared state, refuse a step that names an optimizer outside it: its learning
        rate would be baked in and its state (momentum, moments) lost."""
        declared = {id(r) for r in self._declared} | self._allowed_optimizers
        optim_t = Optimizer
        for (_, _, label, _, _), v in zip(values.slots, values.values):
            if isinstance(v, optim_t) and id(v) not in declared:
                raise RuntimeError(
                    f"tracegrad.compile: the step refers to an optimizer ({label}, "
                    f"{type(v).__name__}) that is not under the declared state; its state and "
                    "learning rate would not be program inputs. Add it to state="
                )

    def _walk(self, args, kwargs):
        """This call's state, its tensor arguments, the Python values it reads and its key."""
        state = _State(self._roots(args, kwargs), self._lift_hypers)
        arg_tensors, arg_desc = _flatten_args(args, kwargs)
        values = self._values and self._values.reread(args, kwargs, self._concrete)
        if values is None:
            values = self._values = _Values(self.fn, args, kwargs, self._concrete)
        return (
            state,
            arg_tensors,
            values,
            (
                arg_desc,
                state.spec,
                is_grad_enabled(),
                _dtype.get_default_dtype(),
                values.key,
                _autocast.key(),  # the casts traced depend on the autocast region
            ),
        )

    def _inputs(self, state: _State, arg_tensors: list[Tensor], values: _Values):
        state_arrays = [t._storage.array for t in state.tensors]
        if self.donate:
            _own_donated(state_arrays, state.tensors)
        # Commit everything to its device (after the ownership check: the committed array may
        # share the uncommitted one's buffer): jit compiles once per placement signature, and the
        # program's outputs, the next call's inputs, are committed.
        state_arrays = [_committed(a) for a in state_arrays]
        hypers = [
            np.float64(o.param_groups[gi][k] if i is None else o.param_groups[gi][k][i])
            for o, gi, k, i, _ in state.hypers
        ]
        state_ids = {id(t._storage) for t in state.tensors}
        return (
            state_arrays,
            [  # an argument that is also state (a parameter passed in) must not alias a donation
                jnp.array(t._storage.array, copy=True)
                if self.donate and id(t._storage) in state_ids
                else t._storage.array
                for t in arg_tensors
            ],
            _placed_key(state_arrays),
            hypers,
            values.floats,
            values.arrays,
        )

    def _run(self, program: _Program, state: _State, arg_tensors: list[Tensor], values: _Values):
        traced = program.post_spec is None
        start = time.perf_counter()
        inputs = self._inputs(state, arg_tensors, values)
        if traced:  # threads making a program's first call at once wait for one trace, not one each
            with _TRACE_LOCK:
                traced = program.post_spec is None
                if traced:
                    program.jitted.trace(*inputs)  # learns the step's checks before it runs
        if program.errors:
            _precheck(program, inputs)
        outputs = program.jitted(*inputs)
        new_state, orphans, arg_out, out, key, residuals, py_out, _ = outputs
        if traced:
            self._count_trace(time.perf_counter() - start, program)
        if program.post_spec != state.spec:
            _restructure(state, program.post_spec)
            post = _State(state.roots, state.lift)
        else:
            post = state
        handed_out = {id(a) for a in (*out, *py_out, *residuals)}  # held by the caller too
        for t, a in zip(post.tensors, new_state):
            _write(t, a)
            if id(a) not in handed_out:
                t._storage.exclusive = a
        for i, a in zip(program.orphans, orphans):  # dropped by the step: stays valid
            _write(state.tensors[i], a)
        for i, a in zip(program.arg_writes, arg_out):
            _write(arg_tensors[i], a)
        if program.draws:  # else leave the global key to other threads' draws
            _random.set_rng_state(key)
        if program.py_writes:
            _replay(values, program.py_writes, py_out)
        result = program.out_tree(out)
        if program.backward_key is None:
            return result
        leaves = [state.base[i] for _, i in program.leaves]
        return CompiledForward.apply(*leaves, program=program, out=result, residuals=residuals)

    # ------------------------------------------------------------------ tracing
    def _new_program(self, args, kwargs, key, why: tuple | None = None) -> _Program:
        # Only here, on a cache miss: where the user called from and why, for the log and events.
        where = _compile_events.user_frame()
        if why is not None:
            reason, cause = why
        elif self._last_key is not None:
            reason, cause = _why_retrace(self._last_key, key, self.fn)
        elif self.traces:
            reason, cause = "the cache was cleared", "first"
        else:
            reason, cause = "first call", "first"
        self._compiles += 1
        logger.info(
            "tracegrad.compile: %s %s (compile #%d of this function) at %s: %s",
            "tracing" if cause == "first" else "retracing",
            _name(self.fn),
            self._compiles,
            where,
            reason,
        )
        program = _Program(self, args, kwargs, key)
        program.why = (where, reason, cause)
        self._programs[key] = program
        if len(self._programs) > CACHE_SIZE:
            self._programs.popitem(last=False)
        return program

    def _count_trace(self, seconds: float, program: _Program) -> None:
        self.traces += 1
        self.compile_seconds += seconds
        where, reason, cause = program.why or (_compile_events.user_frame(), "", "other")
        self._events.append(
            CompileEvent(
                "step",
                _name(self.fn),
                where,
                reason,
                seconds,
                program.ops,
                program.module_ops,
                cause,
            )
        )
        self._event_total += 1
        if self.traces == RETRACE_WARNING:
            _compile_events.warn_at_user(self._retrace_warning())

    def _retrace_warning(self) -> str:
        name, events = _name(self.fn), list(self._events)
        hint = (
            "Set TRACEGRAD_LOG_COMPILES=1 (or logging.getLogger('tracegrad.compile')"
            ".setLevel(logging.INFO)) to see each one, or print(step.explain())."
        )
        cause, count, latest = _compile_events.most_frequent(events)
        if latest is None or cause == "first":
            return (
                f"tracegrad.compile: {name} has been traced {self.traces} times; something it "
                "depends on changes between calls (argument shapes or dtypes, Python arguments, "
                f"which parameters have gradients, module.train()/eval()). {hint}"
            )
        sites = collections.Counter(e.where for e in events if e.cause == cause)
        what, advice = _compile_events.advice(cause)
        return (
            f"tracegrad.compile: {name} has been traced {self.traces} times, called at "
            f"{sites.most_common(1)[0][0]}; most often because {what} ({count} of "
            f"{len(events)} traces; the latest: {latest.reason}): {advice}. {hint}"
        )

    # ------------------------------------------------------------------ inspection
    def lower(self, *args, **kwargs) -> LoweredStep:
        """Trace the step for these arguments without running it, and return what XLA would get:
        the recorded tape, the jaxpr and the StableHLO text (see :class:`LoweredStep`)."""
        state, arg_tensors, values, key = self._walk(args, kwargs)
        program = _Program(self, args, kwargs, key)
        inputs = self._inputs(state, arg_tensors, values)
        return LoweredStep(program, program.jitted.trace(*inputs))


def _compiled_closure(
    optimizer: Optimizer, closure: Callable, owner: CompiledFunction
) -> CompiledFunction:
    """``closure`` (forward and ``backward()``) as one compiled program, its state the
    optimizer's parameters (their values and gradients). Kept per optimizer and closure code;
    a new closure object of the same code replaces the function the program calls (what it
    reads from its cells is checked and, where it differs, retraces as usual). ``owner`` (the
    compiled step running eagerly) lists it in its ``explain()``."""
    # Kept on the optimizer (not in a weak-keyed table: the closure usually refers to the
    # optimizer, which would keep it alive), by the closure's code: a loop that builds its
    # closure anew each step reuses the program. State dicts and copies do not carry it.
    per = vars(optimizer).setdefault("_compiled_closures", {})
    key = closure.__code__ if isinstance(closure, types.FunctionType) else closure
    compiled = per.get(key)
    if compiled is None:
        params = [p for group in optimizer.param_groups for p in group["params"]]
        compiled = per[key] = CompiledFunction(closure, state=params)
        compiled._allowed_optimizers = frozenset({id(optimizer)})
        compiled._eager_on_trace_error = True
    elif compiled.fn is not closure:
        compiled.fn = compiled.wrapped = closure
        compiled._values = None  # read the new closure's cells
    if all(c is not compiled for c in owner._closures):
        owner._closures.append(compiled)
    return compiled


class LoweredStep:
    """A traced step, for reading: ``tape`` (the tracegrad ops recorded, one per line),
    ``jaxpr`` (JAX's program), ``as_text()`` (StableHLO, what XLA receives) and
    ``compile().as_text()`` (the optimized HLO)."""

    def __init__(self, program: _Program, traced) -> None:
        self._traced = traced
        self.tape = "\n".join(program.tape)
        self.jaxpr = traced.jaxpr
        self.trace_seconds = program.trace_seconds

    def as_text(self) -> str:
        """The StableHLO module of the step."""
        return self._traced.lower().as_text()

    def compile(self):
        """The compiled XLA executable (``.as_text()`` prints the optimized HLO)."""
        return self._traced.lower().compile()

    def __repr__(self) -> str:
        return f"LoweredStep(tape=<{len(self.tape.splitlines())} ops>)"


# --------------------------------------------------------------------------- helpers
def _write(t: Tensor, array) -> None:
    st = t._storage
    st.array = array
    st.version += 1


def _restructure(state: _State, post_spec) -> None:
    """Give the Python objects the structure the step leaves them in (which parameters have a
    ``.grad``, which optimizer state exists), ready for the new arrays. A no-op when the step
    keeps its structure, the usual case after the first call."""
    if post_spec == state.spec:
        return
    base = state.base
    has_grad = {i for i, _ in post_spec.grads}
    for i, t in enumerate(base):
        if i not in has_grad:
            t._grad = None
        elif t._grad is None:
            t._grad = Tensor._wrap(None)
    for opt, (entries, _) in zip(state.optimizers, post_spec.optimizers):
        new_state: dict = {}
        for pi, k, (kind, *value) in entries:  # ("tensor", shape, dtype) or ("value", v)
            p = base[pi]
            old = opt.state.get(p, {}).get(k)
            if kind == "tensor":
                value = old if isinstance(old, Tensor) else Tensor._wrap(None)
            else:
                value = value[0]
            new_state.setdefault(p, {})[k] = value
        opt.state.clear()
        opt.state.update(new_state)


def _committed(a):
    return a if isinstance(a, jax.core.Tracer) or a.committed else jax.device_put(a, a.sharding)


def _placed_key(arrays: list):
    """The global RNG key committed where the program runs: replicated over the devices of the
    widest state array (one device, or a mesh when the state is sharded). The placed key becomes
    the global key (the same value), so a step that draws nothing does not place it again."""
    key = _random.get_rng_state()
    if isinstance(key, jax.core.Tracer) or key.committed:
        return key  # the previous call's output, or placed by an earlier call
    widest = max(arrays, key=lambda a: len(a.sharding.device_set), default=None)
    target = widest.sharding if widest is not None else key.sharding
    if isinstance(target, jax.sharding.NamedSharding):
        target = jax.sharding.NamedSharding(target.mesh, jax.sharding.PartitionSpec())
    elif len(target.device_set) > 1:
        devices = sorted(target.device_set, key=lambda d: d.id)
        mesh = jax.sharding.Mesh(np.array(devices), ("devices",))
        target = jax.sharding.NamedSharding(mesh, jax.sharding.PartitionSpec())
    placed = jax.device_put(key, target)
    _random.replace_rng_state(key, placed)
    return placed


# --------------------------------------------------------------------------- ownership
# A storage's ``exclusive`` is the array a compiled program returned and tracegrad wrote into it
# (or the copy it made). Only such an array is donated as it is; any other (one the user built the
# tensor from, one a ``copy.deepcopy`` or ``jnp.asarray(tensor)`` also holds) is copied first, and
# the copy donated. Every path that hands the array object to another holder goes through
# ``Tensor._handout``, which clears the mark.
def _own_donated(arrays: list, tensors: list[Tensor]) -> None:
    """Donation frees an input's buffer, so donate only arrays tracegrad holds alone: those a
    previous call wrote back and nobody has been handed since (``_Storage.exclusive``). Copy the
    others first -- arrays the tensors were built from, shared with a ``deepcopy``, handed out by
    ``jnp.asarray(t)``, the same array in two state tensors -- so their other holders stay valid.
    In a training loop only the first compiled call copies."""
    seen: set[int] = set()
    for i, a in enumerate(arrays):
        storage = tensors[i]._storage
        if id(a) in seen or storage.exclusive is not a:
            a = arrays[i] = storage.array = jnp.array(a, copy=True)
            storage.exclusive = a
        seen.add(id(a))


def _name(fn) -> str:
    return getattr(fn, "__qualname__", None) or repr(fn)


def _what_changed(old, new, fn) -> str:
    """A readable account of the first cache-key component that differs."""
    return _why_retrace(old, new, fn)[0]


def _why_retrace(old, new, fn) -> tuple[str, str]:
    """``(reason, cause)``: the first cache-key component that differs, in user terms, and its
    cause class (see ``_compile_events``). Runs only when a call retraces."""
    (old_args, old_kwargs), old_spec, old_grad, old_dtype, old_py, old_cast = old
    (new_args, new_kwargs), new_spec, new_grad, new_dtype, new_py, new_cast = new
    try:
        names = list(inspect.signature(fn).parameters)
    except (TypeError, ValueError):
        names = []
    for i, (a, b) in enumerate(zip(old_args, new_args)):
        if a != b:
            label = names[i] if i < len(names) else f"#{i}"
            return _arg_changed(f"argument {label!r}", a, b)
    if len(old_args) != len(new_args):
        return f"the number of arguments changed: {len(old_args)} -> {len(new_args)}", "structure"
    if old_kwargs != new_kwargs:
        if [k for k, _ in old_kwargs] == [k for k, _ in new_kwargs]:
            for (k, a), (_, b) in zip(old_kwargs, new_kwargs):
                if a != b:
                    return _arg_changed(f"keyword argument {k!r}", a, b)
        old_names, new_names = [k for k, _ in old_kwargs], [k for k, _ in new_kwargs]
        return f"keyword arguments changed: {old_names} -> {new_names}", "structure"
    if old_grad != new_grad:
        return f"grad mode changed: {old_grad} -> {new_grad}", "mode"
    if old_dtype != new_dtype:
        return f"the default dtype changed: {old_dtype} -> {new_dtype}", "mode"
    if old_cast != new_cast:
        return f"the autocast region changed: {old_cast or 'off'} -> {new_cast or 'off'}", "mode"
    if old_spec.tensors != new_spec.tensors:
        for a, b in zip(old_spec.tensors, new_spec.tensors):
            if a[:2] != b[:2]:
                return (
                    f"a parameter/buffer changed: {_describe(('T', *a))} -> {_describe(('T', *b))}",
                    "shapes",
                )
        return "parameter/buffer requires_grad or count changed", "state"
    if old_spec.grads != new_spec.grads:
        counts = f"{len(old_spec.grads)} -> {len(new_spec.grads)} tensors"
        if not old_spec.grads:  # the usual second trace
            return f"which tensors have a .grad changed ({counts}: the first call created them)", (
                "state"
            )
        return f"which tensors have a .grad changed ({counts})", "state"
    for a, b in zip(old_spec.optimizers, new_spec.optimizers):
        if a.state != b.state:
            return "optimizer state changed", "state"
        if a.hyperparameters != b.hyperparameters:
            for (gi, k, u), (_, k2, v) in zip(a.hyperparameters, b.hyperparameters):
                if k == k2 and u != v:
                    return (
                        f"optimizer hyperparameter {k!r} of group {gi} changed: "
                        f"{_describe_hyper(u)} -> {_describe_hyper(v)}",
                        "scalar",
                    )
            return "optimizer hyperparameters changed", "scalar"
    if old_spec.optimizers != new_spec.optimizers:
        return "the number of optimizers changed", "state"
    if old_spec.training != new_spec.training:
        return "module.training changed (train()/eval())", "mode"
    if old_spec != new_spec:
        return "the state's structure changed", "state"
    if old_py != new_py:
        return _py_changed(old_py, new_py), "scalar"
    return "the state's structure changed", "state"


def _describe_hyper(desc) -> str:
    """A hyperparameter's key entry: a value, or a lifted one's facts (see ``_LiftedHyper``)."""
    if desc is float:
        return "a float (a program input)"
    if isinstance(desc, tuple) and len(desc) == 2 and desc[0] == "lifted":
        nonzero, positive, small = desc[1]
        return (
            f"an input with value {'!=' if nonzero else '=='} 0, {'>' if positive else '<='} 0, "
            f"|1 - value| {'<' if small else '>='} 0.5"
        )
    if isinstance(desc, tuple) and len(desc) == 2 and desc[0] in ("tuple", "list"):
        return "(" + ", ".join(_describe_hyper(d) for d in desc[1]) + ")"
    return repr(desc)


def _container(desc) -> bool:
    """A list/tuple/dict argument's description (``_flatten_args``), not a leaf's."""
    return (
        isinstance(desc, tuple)
        and len(desc) == 2
        and isinstance(desc[0], str)
        and desc[0] != "T"
        and isinstance(desc[1], tuple)
    )


def _arg_changed(label: str, a, b) -> tuple[str, str]:
    """``argument 'batch'[0] changed: tensor[64, 10] float32 -> tensor[32, 10] float32``: the
    first leaf of an argument that differs, and its cause."""
    path = ""
    while _container(a) and _container(b) and a[0] == b[0] and len(a[1]) == len(b[1]):
        i = next(i for i, (x, y) in enumerate(zip(a[1], b[1])) if x != y)
        x, y = a[1][i], b[1][i]
        if a[0] == "dict":
            if x[0] != y[0]:
                break
            path += f"[{x[0]!r}]"
            a, b = x[1], y[1]
        else:
            path += f"[{i}]"
            a, b = x, y
    tensors = [isinstance(d, tuple) and d[:1] == ("T",) for d in (a, b)]
    if all(tensors):
        cause = "shapes" if a[1:3] != b[1:3] else "state"
    elif not any(tensors) and not _container(a) and not _container(b):
        cause = "scalar"
    else:
        cause = "structure"
    return f"{label}{path} changed: {_describe(a)} -> {_describe(b)}", cause


def _py_changed(old: tuple, new: tuple) -> str:
    """Which Python value the step reads changed (``global 'step' changed: 3 -> 4``)."""
    old_by_label = dict(old)
    for label, b in new:
        a = old_by_label.get(label, _MISSING)
        if a is _MISSING:
            return f"{label} is new"
        if a != b:
            if b == "f":
                return f"{label} became a float (a program input)"
            if a == "f":
                return f"{label} changed from a float to {_describe_value(b)}"
            return f"{label} changed: {_describe_value(a)} -> {_describe_value(b)}"
    gone = [label for label, _ in old if label not in dict(new)]
    return f"{gone[0]} is gone" if gone else "the Python values it reads changed"


def _describe_value(k) -> str:
    if isinstance(k, tuple) and k and k[0] in ("ndarray", "a"):
        return "a numpy array of other contents" if k[0] == "ndarray" else "a numpy array"
    if isinstance(k, tuple) and k and k[0] in ("object", "missing"):
        return "another object" if k[0] != "missing" else "missing"
    return repr(k)


def _describe(desc) -> str:
    if isinstance(desc, tuple) and desc and desc[0] == "T":
        if desc[1] is None:
            return "an empty tensor slot"
        return f"tensor{list(desc[1])} {desc[2]}"
    if _container(desc):
        kind, items = desc
        if kind == "dict":
            inner = ", ".join(f"{k!r}: {_describe(v)}" for k, v in items)
            return "{" + inner + "}"
        inner = ", ".join(_describe(x) for x in items)
        return f"[{inner}]" if kind == "list" else f"({inner}{',' if len(items) == 1 else ''})"
    return repr(desc)


def compile(
    fn: Callable | None = None, *, state=None, donate: bool = True, **options: Any
) -> CompiledFunction | Callable[[Callable], CompiledFunction]:
    """Run ``fn`` -- typically a whole training step -- as one compiled XLA program per call.

    ``fn`` is ordinary tracegrad code: forward, ``loss.backward()``, ``optimizer.step()``,
    ``optimizer.zero_grad()``, BatchNorm buffer updates, dropout. ``state`` declares what it
    updates: a module, an optimizer or a tensor, or a tuple/list/dict of them
    (``compile(step, state=(model, optimizer))``, or ``@compile(state=...)``). Their parameters,
    buffers, gradients and optimizer state go into the program and the new values are written
    back after each call; a step that uses a tensor outside the state that requires grad, or
    modifies one, or names an undeclared optimizer, raises. Without ``state``, the modules,
    optimizers and tensors it reaches through its arguments, closures and globals are found
    (once; again when one of those bindings changes).

    * The first call traces, compiles and runs. When it creates state (optimizer moments, the
      first gradients) the second call compiles the steady-state program once more; later calls
      with the same shapes run the cached executable.
    * A change of argument shapes/dtypes, of non-tensor arguments, grad mode, ``train()``/``eval()``
      or the state's structure retraces (logged by the ``tracegrad.compile`` logger).
    * Inside, ``.item()``, ``.tolist()``, ``.numpy()`` and ``bool(tensor)`` raise: values are not
      known while tracing.
    * Python values it reads (globals, closure cells, attributes, list and dict items) are never
      baked: floats and numpy arrays are program inputs, other values (ints, bools, strings, a
      float needed as a Python number) are in the cache key. Its writes to them (``self.t += 1``,
      ``metrics["loss"] = loss``) are replayed after every call; appending a tensor to a list
      raises. Other side effects (``print``, ``scheduler.step()``) happen only when it is traced.
    * Random draws use the global generator's key as program state: every call draws fresh
      numbers, the same ones an eager run from the same ``manual_seed`` draws.
    * Returned tensors are detached (the graph lives inside the program).

    Usable as ``@tracegrad.compile``. ``compile(module)`` runs each call of the module as one
    program; under grad mode its output's backward is a second compiled program, so an ordinary
    loop (``loss.backward(); optimizer.step()`` outside) trains it. ``donate=False``
    keeps the previous state buffers alive (more memory). Other keyword arguments of
    ``torch.compile`` (``mode``, ``fullgraph``, ``dynamic``, ``backend``) are accepted and ignored.
    """
    unknown = set(options) - {"mode", "fullgraph", "dynamic", "backend", "options", "disable"}
    if unknown:
        raise TypeError(f"compile() got unexpected keyword arguments {sorted(unknown)}")
    if state is not None:
        _declared_roots(state)  # a wrong state= fails here, not at the first call
    if fn is None:
        return functools.partial(compile, state=state, donate=donate, **options)
    if options.get("disable"):
        return fn
    if isinstance(fn, Module):
        return _CompiledModule(fn, donate=donate, state=state)
    if not callable(fn):
        raise TypeError(f"compile() expects a function or a Module, got {type(fn).__name__}")
    return CompiledFunction(fn, donate=donate, state=state)


class _CompiledModule(Opaque):
    """``compile(module)``: each call runs the module's forward as one compiled program. Under
    grad mode the output's graph is one node whose backward is a second compiled program, so the
    usual ``loss.backward(); optimizer.step()`` outside works (compiling the whole step instead
    also fuses the backward and the update into the same program)."""

    def __init__(self, module, donate: bool, state=None) -> None:
        self._module = self.wrapped = module
        self._compiled = CompiledFunction(module.__call__, donate=donate, state=state)
        self._differentiable = CompiledFunction(
            module.__call__, donate=False, differentiable=True, state=state
        )
        self._eager_reason: str | None = None

    def __getattr__(self, name):
        return getattr(self._module, name)

    def __call__(self, *args, **kwargs):
        needs_graph = is_grad_enabled() and (
            any(p.requires_grad for p in self._module.parameters())
            or any(isinstance(a, Tensor) and a.requires_grad for a in args)
        )
        if not needs_graph:
            return self._compiled(*args, **kwargs)
        if self._eager_reason is None:
            try:
                return self._differentiable(*args, **kwargs)
            except _NotCompilable as e:
                self._eager_reason = str(e)
                warnings.warn(
                    f"tracegrad.compile(module): the forward runs eagerly because {e}; compile "
                    "the whole training step with @tracegrad.compile instead",
                    stacklevel=2,
                )
        return self._module(*args, **kwargs)

    def __repr__(self) -> str:
        return f"Compiled({self._module!r})"
