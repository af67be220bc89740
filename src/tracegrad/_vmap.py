"""``tracegrad.vmap``: PyTorch's ``torch.vmap`` by batching the lowered program with ``jax.vmap``.

Every tracegrad op lowers to ``jax.numpy``/``jax.lax``, so batching a function of tensors needs no
batching rule of our own: ``jax.vmap`` maps a pure function of arrays that wraps its (batch
tracer) arrays as tensors, makes a :class:`_tracing.Trace` current and calls the user's function.
Inside, every op runs on batch tracers exactly as it runs on jit tracers inside
``tracegrad.compile``: gradients taken there (``tracegrad.autograd.grad``) are tracegrad's own
rules running on batched values, i.e. per-sample gradients. Batching is a transform of the
lowering, not differentiation: JAX's autodiff is not involved.

The trace is what makes the rest PyTorch-like: its random key is per batch element
(``randomness="different"``), shared (``"same"``) or refused (``"error"``); its ``wrote`` hook
finds in-place writes of batched values into unbatched tensors; its runtime checks (an index out
of range) are carried out of the map and raised after it, or handed to an enclosing trace.

Differentiating *through* a mapped call (an output that requires grad) records the call as one
node (``_MappedCall``, a custom Function) whose backward is again a vmap: the function run once
more per element, differentiated by ``tracegrad.autograd.grad`` with that element's cotangent.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from jax._src.interpreters import batching

from . import _tracing
from . import random as _random
from ._grad_mode import is_grad_enabled
from .autograd import Function, enable_grad
from .autograd import grad as autograd_grad
from .tensor import Tensor, _wrap_dim

__all__ = ["vmap"]

_RANDOMNESS = ("error", "different", "same")

_RANDOM_ERROR = (
    "vmap: called random operation while in randomness error mode. Please either use the 'same' "
    "or 'different' randomness flags on vmap or perform the randomness operation out of vmap"
)
_CONTROL_FLOW_ERROR = (
    "vmap: It looks like you're attempting to use a Tensor in some data-dependent control flow. "
    "We don't support that yet: the value differs from one batch element to the next, so Python "
    "cannot branch on it. Use tracegrad.where (or arithmetic on masks) instead of `if`, or move "
    "the test out of the vmapped function"
)
_ITEM_ERROR = (
    "vmap: It looks like you're calling .item() on a Tensor. We don't support vmap over calling "
    ".item() on a Tensor, please try to rewrite what you're doing with other operations"
)
_INPLACE_ERROR = (
    "vmap: inplace arithmetic(self, *extra_args) is not possible because there exists a Tensor "
    "`other` in extra_args that has more elements than `self`. This happened due to `other` "
    "being vmapped over but `self` not being vmapped over in a vmap (a tensor of shape {shape} "
    "created outside the vmapped function, or without the batch dimension, was modified in place "
    "with a batched value). Please try to use out-of-place operators instead of inplace "
    "arithmetic"
)
_THROUGH_ERROR = (
    "tracegrad.vmap: differentiating through vmap is supported for one output that requires "
    "grad; {name} returned several (they depend on tensors that require grad while grad mode is "
    "on), and their gradients would not reach those tensors. Return one of them, or compute the "
    "loss inside the vmapped function and take its gradients there with "
    "tracegrad.autograd.grad (per-sample gradients), or call vmap under tracegrad.no_grad() if "
    "no gradient is needed"
)

# What Python reads from a tensor (Tensor._check_concrete's names): a value, not an op's result.
_PYTHON_READS = frozenset(
    ("__bool__", "__float__", "__int__", "__complex__", "tolist", "numpy", "__array__", "data_ptr")
)

# JAX's errors for a lowering that needs concrete values (a result shape that depends on the data,
# a Python int or bool read from an array) or that has no batching rule.
_UNBATCHABLE = (
    jax.errors.ConcretizationTypeError,
    jax.errors.TracerArrayConversionError,
    jax.errors.TracerBoolConversionError,
    jax.errors.TracerIntegerConversionError,
    jax.errors.NonConcreteBooleanIndexError,
)


def _name(func: Callable) -> str:
    if hasattr(func, "__name__"):
        return func.__name__
    if isinstance(func, functools.partial):
        return f"functools.partial({_name(func.func)}, ...)"
    return repr(func)


def _is_leaf(x) -> bool:
    return x is None or isinstance(x, Tensor)


def _flatten(tree) -> tuple[list, Any]:
    return jax.tree_util.tree_flatten(tree, is_leaf=_is_leaf)


def _key_order(tree) -> Any:
    """The key order of every dict in ``tree``, which jax's pytrees lose (they sort the keys):
    None where there is no dict."""
    if isinstance(tree, dict):
        return {k: _key_order(v) for k, v in tree.items()}
    if isinstance(tree, (tuple, list)):
        orders = [_key_order(v) for v in tree]
        return orders if any(o is not None for o in orders) else None
    return None


def _in_key_order(tree, order) -> Any:
    """``tree`` (as jax unflattened it) with its dicts in the key order ``order`` recorded, as
    torch's pytrees keep it."""
    if order is None:
        return tree
    if isinstance(order, dict):
        return {k: _in_key_order(tree[k], o) for k, o in order.items()}
    items = [_in_key_order(v, o) for v, o in zip(tree, order)]
    if hasattr(tree, "_fields"):  # a namedtuple
        return type(tree)(*items)
    return type(tree)(items)


def _broadcast_prefix(prefix, tree) -> list | None:
    """The leaves of ``prefix`` (ints or None) repeated over the leaves of the subtrees of
    ``tree`` they stand for, in ``tree``'s flattening order; None when the structures differ."""
    if isinstance(prefix, (tuple, list)):
        if not isinstance(tree, (tuple, list)) or len(prefix) != len(tree):
            return None
        out = []
        for p, t in zip(prefix, tree):
            sub = _broadcast_prefix(p, t)
            if sub is None:
                return None
            out.extend(sub)
        return out
    if isinstance(prefix, dict):
        if not isinstance(tree, dict) or set(prefix) != set(tree):
            return None
        out = []
        for k in sorted(tree):  # jax flattens dicts in sorted key order
            sub = _broadcast_prefix(prefix[k], tree[k])
            if sub is None:
                return None
            out.extend(sub)
        return out
    return [prefix] * len(_flatten(tree)[0])


def _batched(a, level) -> bool:
    """Whether the array ``a`` carries this vmap's batch dimension."""
    return (
        isinstance(a, batching.BatchTracer)
        and a._trace is level
        and not isinstance(a.batch_dim, batching.NotMapped)
    )


class _Tape(list):
    """The ops run inside the map; each is also recorded on the enclosing trace's tape (a compiled
    step's checks of the tensors it reads), when there is one."""

    def __init__(self, outer: _tracing.Trace | None) -> None:
        super().__init__()
        self.outer = outer
        self.inputs: set = set()  # ids of the arrays of mapped inputs (this map's and inner ones)
        self.scopes = getattr(outer.tape, "scopes", []) if outer is not None else []

    def append(self, entry) -> None:
        if self.outer is not None:
            self.outer.tape.append(entry)
        super().append(entry)


class _VmapTrace(_tracing.Trace):
    """The trace current while the vmapped function runs (see the module docstring)."""

    __slots__ = ("outer", "randomness", "_key", "writes")

    def __init__(self, outer: _tracing.Trace | None, randomness: str, key) -> None:
        self.outer = outer
        self.randomness = randomness
        self.writes: dict = {}  # id(storage) -> (storage, array, version) before the first write
        super().__init__(_Tape(outer), key=key)

    @property
    def key(self):
        if self.randomness == "error":
            raise RuntimeError(_RANDOM_ERROR)
        return self._key

    @key.setter
    def key(self, value) -> None:
        self._key = value

    def compiling(self) -> bool:
        """Whether a ``tracegrad.compile`` trace encloses this map."""
        outer = self.outer
        while isinstance(outer, _VmapTrace):
            outer = outer.outer
        return outer is not None

    def wrote(self, tensor: Tensor) -> None:
        """``tensor`` is about to be modified in place: remember what it held, so that a write of
        a batched value into an unbatched tensor is refused and undone when the function ends."""
        st = tensor._storage
        if id(st) not in self.writes:
            self.writes[id(st)] = (st, st._array, st.version)
        if self.outer is not None:
            self.outer.wrote(tensor)

    def refuse_batched_writes(self, level) -> None:
        """Raise (after undoing every write of this map) when an unbatched tensor was given a
        batched value in place."""
        bad = [
            (st, array)
            for st, array, _ in self.writes.values()
            if not _batched(array, level) and _batched(st._array, level)
        ]
        if not bad:
            return
        self.undo_writes(level)
        raise RuntimeError(_INPLACE_ERROR.format(shape=list(bad[0][1].shape)))

    def undo_writes(self, level) -> None:
        """Put back what every unbatched tensor modified in place with a batched value held."""
        for st, array, version in self.writes.values():
            if not _batched(array, level) and _batched(st._array, level):
                st.array, st.version = array, version


def _frame_local(tb, code_name: str, module: str, local: str):
    """The innermost frame of traceback ``tb`` running ``code_name`` of ``module``: its local
    ``local`` (None when no such frame)."""
    found = None
    while tb is not None:
        frame = tb.tb_frame
        if frame.f_code.co_name == code_name and frame.f_globals.get("__name__") == module:
            found = frame.f_locals.get(local, found)
        tb = tb.tb_next
    return found


def _tracegrad_function(tb) -> str:
    """The name of the outermost tracegrad function (below the vmapped one) in ``tb``."""
    while tb is not None:
        module = tb.tb_frame.f_globals.get("__name__", "")
        if module.startswith("tracegrad.") and module not in ("tracegrad._vmap", __name__):
            if module != "tracegrad.ops.out":  # the out= wrapper around public functions
                return tb.tb_frame.f_code.co_name
        tb = tb.tb_next
    return "an op"


def _clear_error(e: BaseException, level, compiling: bool) -> BaseException | None:
    """PyTorch's vmap error for an exception raised while the function ran on batched values
    (None: raise it as it is)."""
    if isinstance(e, RuntimeError) and "needs a concrete value" in str(e):
        t = _frame_local(e.__traceback__, "_check_concrete", "tracegrad.tensor", "self")
        what = _frame_local(e.__traceback__, "_check_concrete", "tracegrad.tensor", "what")
        if t is not None and not _batched(t._storage._array, level):
            return None  # not vmap's doing (a compiled function's traced value)
        if what == "item":
            return RuntimeError(_ITEM_ERROR)
        if what in _PYTHON_READS:
            return RuntimeError(_CONTROL_FLOW_ERROR)
        return RuntimeError(
            "vmap: We do not support batching operators that can output dynamic shape. Attempted "
            f"to vmap over {what}: its result's shape depends on the values. Apply it outside "
            "vmap, or use an op of fixed output shape (tracegrad.where, a mask)"
        )
    if isinstance(e, RuntimeError) and "compiled function" in str(e) and not compiling:
        # tracegrad's own refusals of traced values speak of tracegrad.compile; under an eager
        # vmap the values are traced by the batching.
        return RuntimeError(
            f"vmap: {e} (inside vmap, tensors hold batched traced values, so what cannot run "
            "inside a compiled function cannot run here either)"
        )
    jax_batching = isinstance(e, NotImplementedError) and "atching rule" in str(e)
    if isinstance(e, _UNBATCHABLE) or jax_batching:
        op = _frame_local(e.__traceback__, "apply", "tracegrad.ops.registry", "op")
        name = op.name if op is not None else _tracegrad_function(e.__traceback__)
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        return RuntimeError(
            f"vmap: {name} cannot be batched: its lowering needs concrete values (a result shape "
            "that depends on the data, or a Python number read from it) or has no batching rule, "
            f"which a batched value cannot give ({type(e).__name__}: {first}). Apply it outside "
            "vmap, per sample in a loop, or use an op of fixed output shape (tracegrad.where, a "
            "mask)"
        )
    return None


def _check_in_dims(in_dims, args: tuple, func: Callable) -> tuple[list, list, Any, int]:
    """Validate ``in_dims`` against ``args`` as PyTorch does: the flat arguments, their
    (non-negative) batch dims, the arguments' structure and the batch size."""
    name = _name(func)
    if not isinstance(in_dims, (int, tuple)):
        raise ValueError(
            f"vmap({name}, in_dims={in_dims}, ...)(<inputs>): expected `in_dims` to be int or a "
            f"(potentially nested) tuple matching the structure of inputs, got: {type(in_dims)}."
        )
    if len(args) == 0:
        raise ValueError(
            f"vmap({name})(<inputs>): got no inputs. Maybe you forgot to add inputs, or you are "
            "trying to vmap over a function with no inputs. The latter is unsupported."
        )
    flat_args, spec = _flatten(args)
    flat_dims = _broadcast_prefix(in_dims, args)
    if flat_dims is None:
        raise ValueError(
            f"vmap({name}, in_dims={in_dims}, ...)(<inputs>): in_dims is not compatible with the "
            f"structure of `inputs`. in_dims has structure {jax.tree_util.tree_structure(in_dims)} "
            f"but inputs has structure {spec}."
        )
    for i, (arg, d) in enumerate(zip(flat_args, flat_dims)):
        where = f"vmap({name}, in_dims={in_dims}, ...)(<inputs>): Got in_dim={d}"
        if d is not None and (not isinstance(d, int) or isinstance(d, bool)):
            raise ValueError(
                f"{where} for an input but in_dim must be either an integer dimension or None."
            )
        if d is not None and not isinstance(arg, Tensor):
            raise ValueError(
                f"{where} for an input but the input is of type {type(arg)}. We cannot vmap over "
                "non-Tensor arguments, please use None as the respective in_dim"
            )
        if d is not None and not -arg.ndim <= d < arg.ndim:
            raise ValueError(
                f"{where} for some input, but that input is a Tensor of dimensionality "
                f"{arg.ndim} so expected in_dim to satisfy -{arg.ndim} <= in_dim < {arg.ndim}."
            )
        if d is not None:
            flat_dims[i] = d % arg.ndim
    sizes = [arg.shape[d] for arg, d in zip(flat_args, flat_dims) if d is not None]
    if not sizes:
        raise ValueError("vmap: Expected at least one Tensor to vmap over")
    if any(s != sizes[0] for s in sizes):
        raise ValueError(
            "vmap: Expected all tensors to have the same size in the mapped dimension, got sizes "
            f"{sizes} for the mapped dimension"
        )
    return flat_args, flat_dims, spec, sizes[0]


def _check_out_dims(out_dims, func: Callable) -> None:
    for d in jax.tree_util.tree_leaves(out_dims, is_leaf=lambda x: x is None):
        if d is not None and (not isinstance(d, int) or isinstance(d, bool)):
            raise ValueError(
                f"vmap({_name(func)}, ..., out_dims={out_dims}): `out_dims` must be an int, None "
                "or a python collection of ints representing where in the outputs the vmapped "
                "dimension should appear."
            )


class _Call:
    """One call of a vmapped function: the map of its lowering over one chunk of the batch, and
    what the trace found out (the outputs' structure and out dims, the runtime checks)."""

    def __init__(self, func, flat_args, flat_dims, spec, kwargs, out_dims, randomness) -> None:
        self.func, self.flat_args, self.flat_dims, self.spec = func, flat_args, flat_dims, spec
        self.kwargs, self.out_dims, self.randomness = kwargs, out_dims, randomness
        self.batched_at = [i for i, d in enumerate(flat_dims) if d is not None]
        self.out_spec = None
        self.arg_order = self.out_order = None  # dict key orders (jax's pytrees sort keys)
        self.out_plan: list = []  # per output leaf: ("b", out_dim) | ("u", None) | ("py", value)
        self.checks: list = []  # (make_error, has_value) of each runtime check
        self.through: list = []  # the outputs that require grad (positions in out_plan)
        self.captured: list = []  # unbatched tensors from outside that require grad

    def pure(self, arrays: list, key):
        """The function on one batch element, as a pure function of arrays (run by jax.vmap)."""
        level = arrays[0]._trace
        leaves = list(self.flat_args)
        for i, a in zip(self.batched_at, arrays):
            leaves[i] = Tensor._wrap(a, requires_grad=self.flat_args[i]._requires_grad)
        args = _in_key_order(jax.tree_util.tree_unflatten(self.spec, leaves), self.arg_order)
        trace = _VmapTrace(_tracing.current(), self.randomness, key)
        outer = trace
        while isinstance(outer, _VmapTrace):  # not tensors captured from outside, for any map
            outer.tape.inputs.update(id(a) for a in arrays)
            outer = outer.outer
        try:
            with _tracing.tracing(trace):
                try:
                    out = self.func(*args, **self.kwargs)
                except Exception as e:
                    err = _clear_error(e, level, trace.compiling())
                    if err is not None:
                        raise err.with_traceback(None) from e
                    raise
                finally:
                    trace.refuse_batched_writes(level)
        finally:
            trace.undo_writes(level)
        return self.unwrap(out, level, trace)

    def unwrap(self, out, level, trace) -> tuple:
        name = _name(self.func)
        flat_out, self.out_spec = _flatten(out)
        self.out_order = _key_order(out)
        if isinstance(out, Tensor) or out is None:
            if isinstance(self.out_dims, tuple) and len(self.out_dims) == 1:
                dims = list(self.out_dims)
            elif isinstance(self.out_dims, int) or self.out_dims is None:
                dims = [self.out_dims]
            else:
                dims = None
        else:
            dims = _broadcast_prefix(self.out_dims, out)
        if dims is None:
            raise ValueError(
                f"vmap({name}, ..., out_dims={self.out_dims})(<inputs>): out_dims is not "
                "compatible with the structure of `outputs`. out_dims has structure "
                f"{jax.tree_util.tree_structure(self.out_dims)} but outputs has structure "
                f"{self.out_spec}."
            )
        batched, unbatched, self.out_plan, self.through = [], [], [], []
        for x, d in zip(flat_out, dims):
            if d is None:
                if isinstance(x, Tensor) and _batched(x._storage.array, level):
                    raise ValueError(
                        f"vmap({name}, ...): `{name}` can not return a BatchedTensor when "
                        "out_dim is None"
                    )
                if isinstance(x, Tensor):
                    unbatched.append(x._storage.array)
                    self.out_plan.append(("u", x))
                else:
                    self.out_plan.append(("py", x))
                continue
            if not isinstance(x, Tensor):
                raise ValueError(
                    f"vmap({name}, ...): `{name}` must only return Tensors, got type {type(x)}. "
                    "Did you mean to set out_dims= to None for output?"
                )
            if x._requires_grad and is_grad_enabled():
                self.through.append(len(self.out_plan))
            batched.append(x._storage.array)
            self.out_plan.append(("b", _wrap_dim(d, x.ndim + 1)))
        if self.through:
            self.captured = _captured(trace.tape, level)
        self.checks = [(make, value is not None) for _, make, value in trace.checks]
        checks = [
            (jnp.asarray(bad, bool), jnp.asarray(0 if v is None else v).astype(jnp.int64))
            for bad, _, v in trace.checks
        ]
        return batched, unbatched, checks

    def run(self, arrays: list, keys) -> tuple:
        """Map the function over the batch (one chunk of it): its batched outputs (batch dim
        first), its unbatched ones, and its checks' per-element verdicts."""
        in_axes = ([self.flat_dims[i] for i in self.batched_at], None if keys is None else 0)
        mapped = jax.vmap(self.pure, in_axes=in_axes, out_axes=(0, None, 0))
        return mapped(arrays, keys)


def _raise_checks(call: _Call, checks: list) -> None:
    """Raise (eagerly) or hand to the enclosing trace the runtime checks of the mapped call."""
    for (make, has_value), (bad, value) in zip(call.checks, checks):
        if bad.shape[0] == 0:
            continue  # an empty batch checked nothing
        b = bad.reshape(bad.shape[0], -1).any(axis=1)
        v = value.reshape(value.shape[0], -1)[:, 0]
        first = jnp.argmax(b)
        if _tracing.current() is not None:
            _tracing.add_check(b.any(), make, v[first] if has_value else None)
            continue
        if bool(np.asarray(b).any()):
            raise make(int(np.asarray(v)[int(first)])) if has_value else make()


def vmap(
    func: Callable,
    in_dims: int | tuple = 0,
    out_dims: int | tuple | None = 0,
    randomness: str = "error",
    *,
    chunk_size: int | None = None,
) -> Callable:
    """Vectorize ``func`` over a dimension of its inputs, like ``torch.vmap``.

    ``vmap(func)(*args)`` returns what ``func`` returns for each slice of the arguments along
    their ``in_dims``, stacked along ``out_dims``. ``in_dims`` and ``out_dims`` are an int, None
    (not mapped) or a (nested) tuple matching the arguments/outputs as a prefix; keyword arguments
    are not mapped. ``randomness``: ``"error"`` (a random draw raises), ``"different"`` (each
    element draws its own numbers) or ``"same"`` (one draw shared by all). ``chunk_size`` maps
    that many elements at a time and concatenates (less memory). The function runs once, on
    tensors whose arrays are ``jax.vmap`` batch tracers (see docs/vmap.md); inside it,
    ``tracegrad.autograd.grad`` gives per-sample gradients. An output that requires grad is
    connected to the graph by one node whose backward maps tracegrad's backward of ``func``
    (one such output per call; no double backward through it).
    """
    if randomness not in _RANDOMNESS:
        raise RuntimeError(
            "Only allowed values for randomness are 'error', 'different', or 'same'. "
            f"Got {randomness}"
        )
    if not (chunk_size is None or chunk_size > 0):
        raise ValueError(f"vmap: chunk_size should be None or greater than 0. (got {chunk_size})")
    _check_out_dims(out_dims, func)

    @functools.wraps(func)
    def wrapped(*args, **kwargs):
        return _map(func, in_dims, out_dims, randomness, chunk_size, args, kwargs)

    return wrapped


def _map(func, in_dims, out_dims, randomness, chunk_size, args, kwargs, keys=None):
    """``vmap(func, ...)(*args, **kwargs)``; ``keys``: the random keys to use (a backward that
    recomputes the forward draws what the forward drew)."""
    flat_args, flat_dims, spec, size = _check_in_dims(in_dims, args, func)
    call = _Call(func, flat_args, flat_dims, spec, kwargs, out_dims, randomness)
    call.arg_order = _key_order(args)
    arrays = [flat_args[i]._storage.array for i in call.batched_at]
    dims = [flat_dims[i] for i in call.batched_at]
    if keys is None and randomness == "different":
        keys = jax.random.split(_random.next_key(), size)
    elif keys is None and randomness == "same":
        keys = _random.next_key()
    if randomness == "same":
        mapped = jax.vmap(call.pure, in_axes=(dims, None), out_axes=(0, None, 0))
        shared = keys
        run = lambda xs, ks: mapped(xs, shared)  # noqa: E731
    else:
        run = call.run
    chunk = size if chunk_size is None or size == 0 else chunk_size
    parts = []
    for start in range(0, max(size, 1), max(chunk, 1)):
        stop = min(start + chunk, size)
        if chunk == size:
            parts.append(run(arrays, keys))
            continue
        xs = [jax.lax.slice_in_dim(a, start, stop, axis=d) for a, d in zip(arrays, dims)]
        ks = keys[start:stop] if randomness == "different" else None
        parts.append(run(xs, ks))
    batched = [
        p[0] if len(parts) == 1 else jnp.concatenate(p, axis=0)
        for p in zip(*(part[0] for part in parts))
    ]
    unbatched = parts[0][1]
    checks = [
        tuple(c[0] if len(parts) == 1 else jnp.concatenate(c, axis=0) for c in zip(*pair))
        for pair in zip(*(part[2] for part in parts))
    ]
    _raise_checks(call, checks)
    outs, b, u = [], iter(batched), iter(unbatched)
    for kind, x in call.out_plan:
        if kind == "b":
            outs.append(Tensor._wrap(jnp.moveaxis(next(b), 0, x)))
        elif kind == "u":
            # The tensor itself: its value does not depend on the batch, so neither does its
            # graph (a captured parameter's gradient flows through it as usual).
            next(u)
            outs.append(x)
        else:
            outs.append(x)
    if call.through:
        outs = _connect(call, outs, in_dims, chunk_size, args, keys)
    return _in_key_order(jax.tree_util.tree_unflatten(call.out_spec, outs), call.out_order)


def _captured(tape: _Tape, level) -> list:
    """The tensors from outside the map that require grad and that the mapped ops read: the
    parameters a per-sample function closes over, the unmapped tensor arguments (tensors the
    function computed from them are not counted: their gradient reaches them through these)."""
    produced = {id(out) for _, _, _, out in tape} | tape.inputs
    seen: set = set()
    found = []
    for _, operands, _, _ in tape:
        for x in operands:
            for t in x if isinstance(x, (tuple, list)) else (x,):
                if not isinstance(t, Tensor) or not t._requires_grad or id(t) in seen:
                    continue
                a = t._storage._array
                if _batched(a, level) or id(a) in produced:
                    continue
                seen.add(id(t))
                found.append(t)
    return found


class _MappedCall(Function):
    """A mapped call as one node of the outer graph: its backward is the vmap of tracegrad's own
    backward of the function (the function run again, on each element, and differentiated by
    ``autograd.grad``)."""

    @staticmethod
    def forward(ctx, through, *inputs):
        ctx.through = through
        return Tensor._wrap(through.out._storage.array)

    @staticmethod
    def backward(ctx, g):
        return (None, *ctx.through.backward(g))


class _Through:
    """What differentiating through one mapped call needs: how to run the function again, which
    output is differentiated, with respect to which inputs, and the random keys it drew."""

    def __init__(self, call: _Call, out: Tensor, in_dims, chunk_size, args, keys) -> None:
        self.call, self.out, self.args, self.keys, self.chunk_size = (
            call,
            out,
            args,
            keys,
            chunk_size,
        )
        self.in_dims = in_dims if isinstance(in_dims, tuple) else (in_dims,) * len(args)
        self.index = call.through[0]
        self.out_dim = call.out_plan[self.index][1]
        self.grad_at = [i for i in call.batched_at if call.flat_args[i]._requires_grad]
        self.captured = call.captured

    def inputs(self) -> list:
        return [self.call.flat_args[i] for i in self.grad_at] + self.captured

    def backward(self, g: Tensor) -> tuple:
        if is_grad_enabled():
            raise NotImplementedError(
                "tracegrad.vmap: a double backward (create_graph=True) through vmap is not "
                "supported; take the higher-order gradients inside the vmapped function"
            )
        call, captured, grad_at = self.call, self.captured, self.grad_at

        def element_backward(*args_and_g):
            *args, ge = args_and_g
            with enable_grad():
                out = call.func(*args, **call.kwargs)
                y = _flatten(out)[0][self.index]
                flat = _flatten(tuple(args))[0]
                targets = [flat[i] for i in grad_at] + captured
                grads = autograd_grad(y, targets, grad_outputs=ge, allow_unused=True)
            return tuple(
                t.detach().zero_() if g is None else g
                for t, g in zip((x.detach().clone() for x in targets), grads)
            )

        out_dims = tuple(call.flat_dims[i] for i in grad_at) + (0,) * len(captured)
        grads = _map(
            element_backward,
            (*self.in_dims, self.out_dim),
            out_dims,
            call.randomness,
            self.chunk_size,
            (*self.args, g),
            {},
            keys=self.keys,
        )
        n = len(grad_at)
        return (*grads[:n], *(c.sum(0) for c in grads[n:]))


def _connect(call: _Call, outs: list, in_dims, chunk_size, args, keys) -> list:
    """Record the mapped call as one node, so its output's gradient reaches the tensors it came
    from; only one output may require grad."""
    if len(call.through) != 1:
        raise NotImplementedError(_THROUGH_ERROR.format(name=_name(call.func)))
    through = _Through(call, outs[call.through[0]], in_dims, chunk_size, args, keys)
    outs = list(outs)
    outs[call.through[0]] = _MappedCall.apply(through, *through.inputs())
    return outs
