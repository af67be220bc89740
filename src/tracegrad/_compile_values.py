"""What a compiled step reads from Python besides its state: floats, ints, strings and numpy
arrays in globals, closure cells, attributes and containers.

Each is either a program input (floats and arrays: a new value needs no retrace), part of the
cache key (everything else: a new value retraces, logged with the value's name), or, when written
by the step, replayed after every call. See docs/compile.md, "Python values". ``compiler.py``
uses: ``_Values`` (the walk and its cheap re-read per call), ``_Trace`` (installing lifted values
for one trace and collecting the step's writes), ``_replay``, ``_LiftedFloat`` /
``_NeedsConcrete`` and ``_promotion_hazards``.
"""

from __future__ import annotations

import dis
import functools
import hashlib
import os
import sysconfig
import types
from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from . import _caches, _dtype
from .nn.modules.module import Module
from .ops.registry import REGISTRY, _compute_promotion
from .optim.optimizer import Optimizer
from .tensor import Tensor

_SEARCH_DEPTH = 4  # how deep globals/closures/containers are searched for state
_MAX_CONTAINER = 256  # lists/dicts longer than this (a dataset) are not searched


class Opaque:
    """Base of tracegrad's own compile objects (compiled functions and modules, programs): the
    state search never takes their attributes for user state. A compiled wrapper is searched
    through what it wraps (``wrapped``: the function or module)."""

    wrapped: Any = None


def _holder(obj) -> bool:
    """A plain Python object whose attributes may hold state (``self.model``, ``self.opt``)."""
    d = getattr(obj, "__dict__", None)
    return (
        isinstance(d, dict)
        and len(d) <= _MAX_CONTAINER
        and not isinstance(obj, (type, types.ModuleType, Opaque))
    )


_MISSING = object()  # a name, attribute or key that is absent
_KEYED_TYPES = (int, bool, str, bytes, complex, type(None), range, slice, type(Ellipsis))


class _NeedsConcrete(RuntimeError):
    """A lifted Python value was used where only a concrete Python number will do."""

    def __init__(self, labels, what: str) -> None:
        self.labels = frozenset(labels)
        super().__init__(
            f"tracegrad.compile: {', '.join(sorted(self.labels))} is used as a concrete Python "
            f"value ({what}); it becomes part of the cache key"
        )


class _LiftedFloat(Tensor):
    """A Python float of the user's state, installed in its place while the step is traced: a 0-d
    float64 tensor wrapping the program input, so a new value needs no retrace. Arithmetic with
    tensors promotes as a Python float does (``f32_tensor * lr`` stays float32); arithmetic with
    numbers stays a lifted float (computed in float64, as Python does). Anything that needs the
    concrete number (``math.exp``, ``if lr > 0``, formatting, hashing) raises
    :class:`_NeedsConcrete`, and the call is traced again with the value in the cache key."""

    __slots__ = ("_labels",)
    _python_float = True

    @classmethod
    def _lift(cls, array, labels) -> _LiftedFloat:
        t = cls._wrap(array)
        t._labels = labels
        return t

    def _check_concrete(self, what: str) -> None:
        raise _NeedsConcrete(self._labels, what)

    def _fail(self, *_, what: str = "a comparison or conversion"):
        raise _NeedsConcrete(self._labels, what)

    __lt__ = __le__ = __gt__ = __ge__ = __eq__ = __ne__ = _fail

    def __hash__(self):
        raise _NeedsConcrete(self._labels, "hashing")

    def __jax_array__(self):
        raise _NeedsConcrete(self._labels, "a JAX array or an op parameter")

    def __format__(self, spec: str) -> str:
        raise _NeedsConcrete(self._labels, "formatting")

    def __repr__(self) -> str:
        raise _NeedsConcrete(self._labels, "repr")

    __str__ = __repr__

    def __len__(self):
        raise TypeError("object of type 'float' has no len()")

    def _binary(self, other, fn, reflected: bool):
        if isinstance(other, _LiftedFloat):
            return _LiftedFloat._lift(
                fn(other._storage.array, self._storage.array)
                if reflected
                else fn(self._storage.array, other._storage.array),
                self._labels | other._labels,
            )
        if isinstance(other, (int, float)) and not isinstance(other, Tensor):  # a Python number
            a, b = self._storage.array, np.float64(other)
            return _LiftedFloat._lift(fn(b, a) if reflected else fn(a, b), self._labels)
        if isinstance(other, Tensor):
            # PyTorch: a Python float takes the tensor's dtype when that is floating, else the
            # default dtype. A 0-d tensor of exactly that dtype promotes the same way.
            d = other.dtype if other.dtype.is_floating_point else _dtype.get_default_dtype()
            c = Tensor._wrap(self._storage.array.astype(d.np))
            return _TENSOR_OPS[fn](other, c) if reflected else _TENSOR_OPS[fn](c, other)
        if isinstance(other, np.ndarray):
            raise _NeedsConcrete(self._labels, "arithmetic with a numpy array")
        return NotImplemented

    def __add__(self, o):
        return self._binary(o, jnp.add, False)

    def __radd__(self, o):
        return self._binary(o, jnp.add, True)

    def __sub__(self, o):
        return self._binary(o, jnp.subtract, False)

    def __rsub__(self, o):
        return self._binary(o, jnp.subtract, True)

    def __mul__(self, o):
        return self._binary(o, jnp.multiply, False)

    def __rmul__(self, o):
        return self._binary(o, jnp.multiply, True)

    def __truediv__(self, o):
        return self._binary(o, jnp.true_divide, False)

    def __rtruediv__(self, o):
        return self._binary(o, jnp.true_divide, True)

    def __floordiv__(self, o):
        return self._binary(o, jnp.floor_divide, False)

    def __rfloordiv__(self, o):
        return self._binary(o, jnp.floor_divide, True)

    def __mod__(self, o):
        return self._binary(o, jnp.remainder, False)

    def __rmod__(self, o):
        return self._binary(o, jnp.remainder, True)

    def __pow__(self, o):
        return self._binary(o, jnp.power, False)

    def __rpow__(self, o):
        return self._binary(o, jnp.power, True)

    # ``x += 0.1`` on a Python float rebinds; it must not update a tensor in place
    __iadd__, __isub__, __imul__, __itruediv__ = __add__, __sub__, __mul__, __truediv__

    def __neg__(self):
        return _LiftedFloat._lift(-self._storage.array, self._labels)

    def __pos__(self):
        return self

    def __abs__(self):
        return _LiftedFloat._lift(jnp.abs(self._storage.array), self._labels)


_TENSOR_OPS = {
    jnp.add: lambda a, b: a + b,
    jnp.subtract: lambda a, b: a - b,
    jnp.multiply: lambda a, b: a * b,
    jnp.true_divide: lambda a, b: a / b,
    jnp.floor_divide: lambda a, b: a // b,
    jnp.remainder: lambda a, b: a % b,
    jnp.power: lambda a, b: a**b,
}


class _LiftedArray(Tensor):
    """A numpy array of the user's state, installed in its place while the step is traced: a
    tensor of the same dtype wrapping the program input, so the array's current values (changed
    in place or rebound) reach every call. Reading it as numpy raises :class:`_NeedsConcrete`
    (the call is traced again with the array's contents in the cache key)."""

    __slots__ = ("_labels",)

    def _check_concrete(self, what: str) -> None:
        raise _NeedsConcrete(self._labels, f"Tensor.{what}() on a numpy array")


@_caches.bounded(1024)
def _code_names(code: types.CodeType) -> tuple[tuple, frozenset]:
    """The global names a code object (and code nested in it) loads or stores, and every name it
    uses (attributes included): what the walk below watches."""
    names, used = [], set(code.co_names)
    for ins in dis.get_instructions(code):
        if ins.opname in ("LOAD_GLOBAL", "LOAD_NAME", "STORE_GLOBAL", "DELETE_GLOBAL"):
            names.append(ins.argval)
    for const in code.co_consts:
        if isinstance(const, types.CodeType):
            inner, inner_used = _code_names(const)
            names.extend(inner)
            used |= inner_used
    return tuple(dict.fromkeys(names)), frozenset(used)


@functools.cache
def _library_dirs() -> tuple:
    """Code under these directories is not the user's: its globals are not watched."""

    paths = sysconfig.get_paths()
    dirs = {os.path.dirname(os.path.abspath(__file__))}
    dirs.update(os.path.abspath(paths[k]) for k in ("stdlib", "platstdlib", "purelib", "platlib"))
    return tuple(d + os.sep for d in dirs)


@_caches.bounded(1024)
def _is_user_code(code: types.CodeType) -> bool:
    return not code.co_filename.startswith(_library_dirs()) and not code.co_filename.startswith(
        "<frozen"
    )


@_caches.bounded(256)
def _class_code(cls: type) -> tuple[tuple, frozenset]:
    """The user-written functions of a class (and its bases), and every name they use."""
    functions, used = [], set()
    for c in cls.__mro__:
        for v in vars(c).values():
            if isinstance(v, (staticmethod, classmethod)):
                v = v.__func__
            elif isinstance(v, property):
                v = v.fget
            if isinstance(v, types.FunctionType):
                used |= _code_names(v.__code__)[1]
                if _is_user_code(v.__code__):
                    functions.append(v)
    return tuple(functions), frozenset(used)


@functools.cache
def _module_internals() -> frozenset:
    return frozenset(vars(Module()))


def _is_user_class(cls: type) -> bool:
    return not cls.__module__.startswith("tracegrad.")


class _Values:
    """One walk over the Python values a call can read: *spaces* (a module's globals, an object's
    attributes, a dict, a list, a closure cell) and the *slots* in them whose value matters. The
    walk is deterministic, so slot ``i`` of a later walk is the same place as slot ``i`` of the
    walk the program was traced with. ``key`` is this call's part of the cache key; ``floats``
    and ``arrays`` are the program inputs of the lifted slots.

    The walk's path depends only on the identity of the containers, objects and functions it
    passes through and on which keys they have; ``checks`` records those, so a later call whose
    checks hold reuses the walk (:meth:`reread`) and only reads the values again."""

    __slots__ = (
        "spaces",
        "slots",
        "checks",
        "concrete",
        "values",
        "plan",
        "key",
        "floats",
        "arrays",
    )

    def __init__(self, fn: Callable, args: tuple, kwargs: dict, concrete: frozenset) -> None:
        module_t, optim_t = Module, Optimizer
        spaces: list = []  # [kind, obj, label, is_argument]
        space_index: dict[int, int] = {}
        slots: list = []  # (space, name, label, attribute path, liftable)
        seen_slots: set = set()
        visited: list = []  # (space, name, value if the walk went into it else _LEAF)
        seen_code: set[int] = set()
        used: dict[int, frozenset] = {}  # the names code the step can run uses, by class/code

        def space(kind, obj, label, arg=False):
            i = space_index.get(id(obj))
            if i is None:
                i = space_index[id(obj)] = len(spaces)
                spaces.append((kind, obj, label, arg))
                return i, True
            return i, False

        def slot(si, name, label, value, path, depth, liftable=True):
            if (si, name) in seen_slots:
                return
            seen_slots.add((si, name))
            slots.append((si, name, label, path, liftable))
            visited.append((si, name, _LEAF if _is_leaf(value) else value))
            visit(value, label, depth, path)

        def visit(v, label, depth, path, arg=False):
            if type(v) is float or isinstance(v, (_KEYED_TYPES, np.generic, Tensor, jax.Array)):
                return
            if isinstance(v, optim_t):
                return
            if isinstance(v, module_t):
                return visit_module(v, label, depth, path)
            if depth <= 0:
                return
            if isinstance(v, (types.FunctionType, types.MethodType, functools.partial)):
                visit_function(v, depth - 1)
            elif isinstance(v, Opaque) and isinstance(v.wrapped, Module):
                visit_module(v.wrapped, label, depth, path)
            elif isinstance(v, Opaque) and v.wrapped is not None:
                visit_function(v.wrapped, depth - 1)
            elif isinstance(v, list) and len(v) <= _MAX_CONTAINER:
                si, new = space("list", v, label, arg)
                if new:
                    for i, x in enumerate(v):
                        slot(si, i, f"{label}[{i}]", x, path, depth - 1)
            elif isinstance(v, dict) and len(v) <= _MAX_CONTAINER:
                si, new = space("dict", v, label, arg)
                if new:
                    for k, x in v.items():
                        slot(si, k, f"{label}[{k!r}]", x, path, depth - 1)
            elif isinstance(v, tuple) and len(v) <= _MAX_CONTAINER:
                for i, x in enumerate(v):
                    visit(x, f"{label}[{i}]", depth - 1, path)
            elif _holder(v) and not isinstance(v, types.FunctionType):
                si, new = space("attrs", v, label, arg)
                if new:
                    visit_class(type(v), depth)
                    for name, x in vars(v).items():
                        slot(si, name, f"{label}.{name}", x, (*path, name), depth - 1)

        def visit_module(m, label, depth, path):
            si, new = space("attrs", m, label)
            if not new:
                return
            user = _is_user_class(type(m))
            visit_class(type(m), depth)
            internals = _module_internals()
            for name, x in vars(m).items():
                if name not in internals:
                    slot(si, name, f"{label}.{name}", x, (*path, name), depth - 1, liftable=user)
            for name, sub in m._modules.items():
                if sub is not None:
                    visit_module(sub, f"{label}.{name}", depth, path)

        def visit_class(cls, depth):
            functions, names = _class_code(cls)
            used[id(names)] = names
            if _is_user_class(cls):
                for f in functions:
                    visit_function(f, depth - 1)

        def visit_function(f, depth):
            if isinstance(f, functools.partial):
                for x in (*f.args, *f.keywords.values()):
                    visit(x, "a functools.partial argument", depth, ())
                f = f.func
            if isinstance(f, types.MethodType):
                visit(f.__self__, "self", depth, ())
                f = f.__func__
            if not isinstance(f, types.FunctionType) or id(f.__code__) in seen_code:
                return
            code = f.__code__
            seen_code.add(id(code))
            if not _is_user_code(code):
                return
            names, code_used = _code_names(code)
            used[id(code_used)] = code_used
            for name, cell in zip(code.co_freevars, f.__closure__ or ()):
                si, _ = space("cell", cell, name)
                try:
                    value = cell.cell_contents
                except ValueError:
                    value = _MISSING
                slot(si, None, f"closure {name}", value, (), depth)
            for x in (*(f.__defaults__ or ()), *(f.__kwdefaults__ or {}).values()):
                visit(x, f"a default argument of {f.__qualname__}", depth, ())
            g = f.__globals__
            si, _ = space("globals", g, g.get("__name__", "?"))
            for name in names:
                value = g.get(name, _MISSING)
                if not isinstance(value, types.ModuleType):
                    slot(si, name, f"global {name}", value, (), depth)

        params = _parameter_names(fn)
        for i, a in enumerate(args):
            visit(a, f"argument {params[i] if i < len(params) else i}", _SEARCH_DEPTH, (), True)
        for k, a in kwargs.items():
            visit(a, f"argument {k}", _SEARCH_DEPTH, (), True)
        visit_function(fn, _SEARCH_DEPTH)

        # Keep an attribute only when some code the step can run names it (``self.temperature``):
        # an attribute no code reads (``trainer.epoch``) must not retrace the step when it changes.
        self.spaces = spaces
        self.checks = (
            _arg_identities(args, kwargs),
            visited,
            [_space_shape(kind, obj) for kind, obj, _, _ in spaces],
        )
        name_sets = list(used.values())
        self.slots = [s for s in slots if all(any(n in u for u in name_sets) for n in s[3])]
        self._read(concrete)

    def reread(self, args: tuple, kwargs: dict, concrete: frozenset) -> _Values | None:
        """This walk with this call's values, or None when the walk would now take another path
        (then walk again)."""
        if concrete is not self.concrete or _arg_identities(args, kwargs) != self.checks[0]:
            return None
        get = self._get
        for si, name, v in self.checks[1]:
            now = get(si, name)
            if (now is not v) if v is not _LEAF else not _is_leaf(now):
                return None
        for (kind, obj, _, _), shape in zip(self.spaces, self.checks[2]):
            if _space_shape(kind, obj) != shape:
                return None
        new = _Values.__new__(_Values)
        new.spaces, new.slots, new.checks = self.spaces, self.slots, self.checks
        new._read(concrete)
        return new

    def _get(self, si, name):
        kind, obj, _, _ = self.spaces[si]
        if kind == "cell":
            try:
                return obj.cell_contents
            except ValueError:
                return _MISSING
        if kind == "attrs":
            return vars(obj).get(name, _MISSING)
        if kind == "list":
            return obj[name]
        return obj.get(name, _MISSING)

    def _set(self, si, name, value) -> None:
        kind, obj, _, _ = self.spaces[si]
        if kind == "cell":
            if value is _MISSING:
                del obj.cell_contents
            else:
                obj.cell_contents = value
        elif kind == "attrs":
            if value is _MISSING:
                vars(obj).pop(name, None)
            else:
                vars(obj)[name] = value
        elif value is _MISSING:
            obj.pop(name, None)
        else:
            obj[name] = value

    def _read(self, concrete: frozenset) -> None:
        """This call's values: the cache key, the plan (which slots are lifted) and the inputs."""
        key, plan, floats, arrays, values = [], [], [], [], []
        for si, name, label, _, liftable in self.slots:
            v = self._get(si, name)
            values.append(v)
            t = type(v)
            if t is float and liftable and label not in concrete:
                plan.append("f")
                floats.append(np.float64(v))
                key.append((label, "f"))
            elif _liftable_array(v) and label not in concrete:
                plan.append("a")
                arrays.append(v)
                key.append((label, ("a", v.shape, v.dtype)))
            else:
                plan.append(None)
                key.append((label, _value_key(v)))
        self.concrete = concrete
        self.values, self.plan, self.key = values, tuple(plan), tuple(key)
        self.floats, self.arrays = floats, arrays


_LEAF = object()  # in _Values.checks: a value the walk did not go into


def _is_leaf(v) -> bool:
    return type(v) is float or isinstance(
        v, (_KEYED_TYPES, np.generic, np.ndarray, Tensor, jax.Array, Optimizer)
    )


def _arg_identities(args: tuple, kwargs: dict) -> tuple:
    return (
        tuple(_LEAF if _is_leaf(a) else id(a) for a in args),
        tuple((k, _LEAF if _is_leaf(a) else id(a)) for k, a in kwargs.items()),
    )


def _space_shape(kind: str, obj):
    """What of a space decides the walk's path besides its values: its keys, its submodules."""
    if kind == "attrs":
        modules = getattr(obj, "_modules", None)
        return (
            tuple(vars(obj)),
            tuple(map(id, modules.values())) if isinstance(modules, dict) else (),
        )
    if kind == "list":
        return len(obj)
    if kind == "dict":
        return tuple(obj)
    return None


def _parameter_names(fn) -> tuple:
    """The names of ``fn``'s positional parameters (for labels), without ``inspect``'s cost."""
    while isinstance(fn, functools.partial):
        fn = fn.func
    skip = 1 if isinstance(fn, types.MethodType) else 0
    code = getattr(getattr(fn, "__func__", fn), "__code__", None)
    if code is None:
        return ()
    return code.co_varnames[skip : code.co_argcount]


def _liftable_array(v) -> bool:
    """A numpy array, or a JAX array held outside any tensor, of a dtype tracegrad has."""
    if type(v) is np.ndarray:
        return v.dtype.kind in "biuf"
    return isinstance(v, jax.Array) and not isinstance(v, jax.core.Tracer)


class _Identity:
    """An object in a cache key by identity; holding it keeps its ``id`` from being reused."""

    __slots__ = ("obj",)

    def __init__(self, obj) -> None:
        self.obj = obj

    def __eq__(self, other) -> bool:
        return isinstance(other, _Identity) and other.obj is self.obj

    def __hash__(self) -> int:
        return id(self.obj)

    def __repr__(self) -> str:
        return f"<{type(self.obj).__name__} object at {id(self.obj):#x}>"


_SIMPLE = frozenset((int, bool, str, float, type(None)))


def _value_key(v, depth: int = 4):
    """A Python value as part of the cache key: by value when it is hashable or a numpy array,
    by identity otherwise (an object whose contents the walk does not see)."""
    if type(v) in _SIMPLE:
        return v
    if v is _MISSING:
        return ("missing",)
    if isinstance(v, np.ndarray):
        return ("ndarray", v.shape, v.dtype, hashlib.blake2b(v.tobytes(), digest_size=16).digest())
    if isinstance(v, (Tensor, list, dict, Module, Optimizer)) or _holder(v):
        return ("object", type(v).__name__)  # walked: its contents have slots (or are state)
    slots = _slot_names(type(v))
    if slots and depth > 0:  # no __dict__ for the walk to watch: key on the slots' values
        return (
            "slots",
            type(v),
            tuple(_value_key(getattr(v, s, _MISSING), depth - 1) for s in slots),
        )
    try:
        hash(v)
        return v
    except TypeError:
        if isinstance(v, tuple):
            return tuple(_value_key(x, depth - 1) for x in v)
        return _Identity(v)


@_caches.bounded(256)
def _slot_names(cls: type) -> tuple:
    """The ``__slots__`` of a user class and its bases (none for built-in and library types)."""
    if not _is_user_class(cls):
        return ()
    names = []
    for c in cls.__mro__:
        s = c.__dict__.get("__slots__", ())
        names += (
            [s] if isinstance(s, str) else [n for n in s if n not in ("__dict__", "__weakref__")]
        )
    return tuple(dict.fromkeys(names))


class _Trace:
    """The Python side of one trace: installs the lifted values, detects what the step wrote to
    the watched spaces, and puts everything back as it was."""

    def __init__(self, values: _Values, floats, arrays) -> None:
        self.values = values
        self.saved = [self._snapshot(i) for i in range(len(values.spaces))]
        self.installed: dict = {}
        fi = ai = 0
        for (si, name, label, _, _), kind in zip(values.slots, values.plan):
            if kind == "f":
                t = _LiftedFloat._lift(floats[fi], frozenset([label]))
                fi += 1
            elif kind == "a":
                t = _LiftedArray._wrap(arrays[ai])
                t._labels = frozenset([label])
                ai += 1
            else:
                continue
            values._set(si, name, t)
            self.installed[(si, name)] = (t, t._storage.array)
        self.expected = [self._snapshot(i) for i in range(len(values.spaces))]

    def _snapshot(self, i: int):
        kind, obj, _, _ = self.values.spaces[i]
        if kind == "cell":
            return self.values._get(i, None)
        if kind == "globals":
            names = {name for si, name, *_ in self.values.slots if si == i}
            return {n: obj.get(n, _MISSING) for n in names}
        if kind == "attrs":
            internals = _module_internals() if isinstance(obj, Module) else ()
            return {k: v for k, v in vars(obj).items() if k not in internals}
        return list(obj) if kind == "list" else dict(obj)

    def writes(self, state) -> tuple[list, list]:
        """What the step wrote: ``(space, name, op, tree)`` records to replay after every call,
        and the traced arrays they need (extra program outputs). Raises for writes that cannot
        be replayed."""
        values, records, leaves = self.values, [], []
        state_ids = {id(t) for t in state.base}
        for i, (kind, _, label, is_arg) in enumerate(values.spaces):
            now, before = self._snapshot(i), self.expected[i]
            if kind == "cell":
                if now is not before:
                    tree = _flatten_write(now, state_ids, leaves, label, False)
                    records.append((i, None, "set", tree))
                continue
            if kind == "list":
                n = len(before)
                appended = now[n:]
                if (
                    len(now) < n
                    or any(a is not b for a, b in zip(now, before))
                    or (appended and (is_arg or any(_has_tensor(x) for x in appended)))
                ):
                    raise RuntimeError(
                        f"tracegrad.compile: the step changes the list {label} (appends tensors, "
                        "removes or replaces items, or changes a list passed as an argument). A "
                        "compiled step runs its Python code only when it is traced, so this cannot "
                        "be repeated on every call. Return the value and append it outside the "
                        "compiled function, or store it in an attribute or a dict item (those are "
                        "written back after every call)"
                    )
                if appended:
                    tree = _flatten_write(list(appended), state_ids, leaves, label, False)
                    records.append((i, None, "extend", tree))
                continue
            if kind == "dict" and is_arg and now.keys() != before.keys():
                raise RuntimeError(
                    f"tracegrad.compile: the step changes the dict argument {label}; return the "
                    "value instead, or store it in a global dict or an attribute"
                )
            for name in (*before, *(k for k in now if k not in before)):
                a, b = before.get(name, _MISSING), now.get(name, _MISSING)
                where = _where(kind, label, name)
                if b is _MISSING:
                    if a is not _MISSING:
                        records.append((i, name, "del", None))
                    continue
                inst = self.installed.get((i, name))
                if b is not a:
                    was_array = isinstance(self.saved[i].get(name), np.ndarray)
                    records.append(
                        (i, name, "set", _flatten_write(b, state_ids, leaves, where, was_array))
                    )
                elif inst is not None and b._storage.array is not inst[1]:  # changed in place
                    records.append(
                        (i, name, "inplace", _flatten_write(b, state_ids, leaves, where, True))
                    )
        return records, leaves

    def restore(self) -> None:
        values = self.values
        for i, saved in enumerate(self.saved):
            kind, obj, _, _ = values.spaces[i]
            if kind == "cell":
                values._set(i, None, saved)
            elif kind == "list":
                obj[:] = saved
            elif kind == "dict":
                obj.clear()
                obj.update(saved)
            else:
                now = self._snapshot(i)
                for name in now:
                    if name not in saved:
                        values._set(i, name, _MISSING)
                for name, v in saved.items():
                    values._set(i, name, v)


def _where(kind: str, label: str, name) -> str:
    if kind == "globals":
        return f"global {name}"
    return f"{label}.{name}" if kind == "attrs" else f"{label}[{name!r}]"


def _has_tensor(x) -> bool:
    if isinstance(x, Tensor):
        return True
    if isinstance(x, (list, tuple)):
        return any(_has_tensor(y) for y in x)
    if isinstance(x, dict):
        return any(_has_tensor(y) for y in x.values())
    return False


def _flatten_write(value, state_ids: set, leaves: list, where: str, as_numpy: bool):
    """A value the step wrote, as a tree that :func:`_rebuild` turns back into a Python value
    after every call: traced tensors and lifted floats become program outputs, state tensors and
    plain Python values are kept as they are."""

    def walk(x):
        if isinstance(x, _LiftedFloat):
            leaves.append(x._storage.array)
            return ("float",)
        if isinstance(x, Tensor):
            a = x._storage.array
            if id(x) in state_ids or not isinstance(a, jax.core.Tracer):
                return ("same", x)
            leaves.append(a)
            if as_numpy and x is value:
                return ("numpy",)
            return ("tensor", x._requires_grad and x.grad_fn is None)
        if type(x) in (list, tuple, dict):
            items = [(k, walk(y)) for k, y in (x.items() if type(x) is dict else enumerate(x))]
            if all(node[0] == "same" for _, node in items):
                return ("same", x)
            return (type(x), items)
        if isinstance(x, jax.core.Tracer) or (
            _holder(x) and any(_has_tracer(y) for y in vars(x).values())
        ):
            raise RuntimeError(
                f"tracegrad.compile: the step stores traced values in {where} in a form that "
                f"cannot be written back after each call ({type(x).__name__}); store tensors, "
                "floats, or lists/tuples/dicts of them, or return the value instead"
            )
        return ("same", x)

    return walk(value)


def _has_tracer(x) -> bool:
    if isinstance(x, Tensor):
        return isinstance(x._storage.array, jax.core.Tracer)
    if isinstance(x, (list, tuple)):
        return any(_has_tracer(y) for y in x)
    if isinstance(x, dict):
        return any(_has_tracer(y) for y in x.values())
    return isinstance(x, jax.core.Tracer)


def _rebuild(node, it):
    kind = node[0]
    if kind == "same":
        return node[1]
    if kind == "float":
        return float(np.asarray(next(it)))
    if kind == "numpy":
        return np.array(next(it))
    if kind == "tensor":
        return Tensor._wrap(next(it), requires_grad=node[1])
    if kind is dict:
        return {k: _rebuild(v, it) for k, v in node[1]}
    return kind(_rebuild(v, it) for _, v in node[1])


def _replay(values: _Values, records: list, arrays) -> None:
    """Repeat the step's writes to Python state, with this call's output values."""
    it = iter(arrays)
    for si, name, op, tree in records:
        if op == "del":
            values._set(si, name, _MISSING)
            continue
        new = _rebuild(tree, it)
        if op == "extend":
            values.spaces[si][1].extend(new)
        elif op == "inplace" and isinstance(values._get(si, name), np.ndarray):
            values._get(si, name)[...] = new
        else:
            values._set(si, name, new)


def _promotion_hazards(tape) -> frozenset:
    """Lifted floats that reached an op directly (not through an operator) where the result
    type would differ from what the Python float gives eagerly: those must be keyed instead."""
    bad: set = set()
    for name, operands, _, _ in tape:
        lifted = [x for x in operands if isinstance(x, _LiftedFloat)]
        if not lifted:
            continue
        labels = set().union(*(x._labels for x in lifted))
        op = REGISTRY.get(name)
        if op is None or op.promote is None:
            bad |= labels
            continue
        as_python = tuple(1.0 if isinstance(x, _LiftedFloat) else x for x in operands)
        try:
            differs = _compute_promotion(op, operands) != _compute_promotion(op, as_python)
        except TypeError:  # an operand promotion does not know (a list): do not risk it
            differs = True
        if differs:
            bad |= labels
    return frozenset(bad)
