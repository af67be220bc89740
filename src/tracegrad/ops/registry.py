"""The op registry: every recorded operation is an ``Op`` = a JAX lowering + a hand-written VJP.

An op is declared in one block::

    @defop("MulBackward0", promote="same")
    def mul(a, b):                      # the lowering, on jax arrays (and Python scalars)
        return jnp.multiply(a, b)

    @mul.vjp
    def _(g, out, a, b):                # the rule, in tracegrad ops, on Tensors
        return g * b, g * a

The rule gets the output's cotangent ``g``, the output ``out`` (None unless ``save_out=True``), the
op's operands and its static params, and returns one gradient per operand (None where there is
none). It may return gradients of a broadcast shape or a wider dtype: the engine sums and casts
them back to each operand (see ``autograd/engine.py``), so rules never do.
"""

from __future__ import annotations

import functools
from collections.abc import Callable

import jax
import numpy as np

from .. import _autocast, _caches, _tracing
from .. import lazy as _lazy
from .._device import device_of_jax
from .._dtype import as_dtype, get_default_dtype, result_type, scalar_kind
from .._grad_mode import is_grad_enabled
from ..autograd.node import REGISTRY, record
from ..tensor import Tensor

__all__ = [
    "Op",
    "defop",
    "REGISTRY",
    "apply",
    "autocast_entry",
    "autocast_operands",
    "needs_grad",
    "not_implemented_rule",
]


def needs_grad(x) -> bool:
    """Whether a rule must compute a gradient for operand ``x``: a tensor that requires grad (the
    engine drops the others; not computing them halves the backward cost of ``tensor * scalar``)."""
    return isinstance(x, Tensor) and x._requires_grad


class Op:
    """A registered operation. Calling it runs ``apply``: lowering, then recording a node."""

    def __init__(
        self,
        forward: Callable,
        grad_fn_name,
        promote: str | None,
        saved_inputs,
        save_out: bool,
        name: str,
    ):
        self.name = name
        self.forward = forward
        self.grad_fn_name = grad_fn_name
        self.promote = promote
        self._saved_inputs = saved_inputs
        self.saves_out = save_out
        self.rule: Callable | None = None
        # Whether the rule is right for complex operands (PyTorch's conjugate convention, see
        # ops/complex.py); recording any other op on complex values raises NotImplementedError.
        self.complex_grad = False
        self.operand_names: tuple[str, ...] = ()
        self.__doc__ = forward.__doc__
        self.__name__ = name
        self.__module__ = forward.__module__  # where the op is declared, not this module

    @property
    def saved_inputs(self) -> tuple:
        return self._saved_inputs

    def vjp(self, rule: Callable) -> Callable:
        """Decorator: register ``rule(g, out, *operands, **params)`` as this op's VJP."""
        self.rule = rule
        return rule

    @property
    def differentiable(self) -> bool:
        """Whether gradients flow through this op (an op with a :func:`not_implemented_rule`
        records a node, but a backward through it raises)."""
        return self.rule is not None and not getattr(self.rule, "not_implemented", False)

    def __call__(self, *operands, **params):
        return apply(self, operands, params)

    def __get__(self, instance, owner=None):
        # Bound as a Tensor method: ``x.mul(y)`` is ``mul(x, y)``.
        if instance is None:
            return self
        return functools.partial(apply_bound, self, instance)

    def __repr__(self) -> str:
        return f"<tracegrad op {self.name}>"


def not_implemented_rule(aten_name: str) -> Callable:
    """The rule of an op PyTorch records but cannot differentiate: the result requires grad, as
    PyTorch's does, and a backward through it raises PyTorch's error instead of treating the op
    as a constant (a silent zero gradient)."""

    def rule(g, out, *operands, **params):
        raise RuntimeError(f"derivative for {aten_name} is not implemented")

    rule.not_implemented = True
    return rule


def defop(
    grad_fn_name,
    *,
    promote: str | None = None,
    saves: tuple | str = "all",
    save_out: bool = False,
    name: str | None = None,
    fuse: bool = False,
):
    """Register the decorated lowering as an op.

    - ``grad_fn_name``: PyTorch's backward-node name (a string, or a function of the params).
    - ``promote``: None (operands keep their dtypes), ``"same"`` (tensors and Python scalars are
      promoted to one dtype by PyTorch's rules) or ``"float"`` (the same, then integers to the default
      float).
    - ``saves``: which operands the rule reads values of (``"all"``, or a tuple of indices); they are
      version-checked at backward and freed after it. Others are kept only for their shapes.
    - ``save_out``: whether the rule reads ``out``.
    - ``fuse``: run the lowering as one compiled call (``jax.jit``, params static) instead of one
      eager dispatch per JAX op inside it; for lowerings of several JAX ops on the eager hot path.
    """

    def register(forward: Callable) -> Op:
        op_name = name or forward.__name__.lstrip("_")
        if op_name in REGISTRY:
            raise ValueError(f"op {op_name!r} is registered twice")
        nargs = forward.__code__.co_argcount
        names = forward.__code__.co_varnames[:nargs]
        if fuse:
            code = forward.__code__
            params = code.co_varnames[nargs : nargs + code.co_kwonlyargcount]
            forward = jax.jit(forward, static_argnames=params)
        saved = tuple(range(nargs)) if saves == "all" else tuple(saves)
        op = Op(forward, grad_fn_name, promote, saved, save_out, op_name)
        op.operand_names = names  # for pictures of saved operands (tracegrad.viz)
        REGISTRY[op_name] = op
        return op

    return register


# PyTorch's promotion depends only on the operands' dtypes, which of them are 0-d tensors and the
# kinds of the Python scalars, so it is computed once per such signature and cached: the hot path
# of every op is a dict lookup. No shapes in the key, so it stays small; still bounded (emptied
# when full: a lookup is cheaper than LRU bookkeeping). Reads and writes of one dict entry are
# atomic, so threads share it without a lock (two may compute the same entry, equal values).
_PROMOTION_CACHE: dict = {}
_PROMOTION_LIMIT = 4096
_caches.register(
    "tracegrad.ops.registry._PROMOTION_CACHE", lambda: len(_PROMOTION_CACHE), _PROMOTION_CACHE.clear
)


def _promote(op: Op, operands: tuple):
    """The tracegrad dtype ``op``'s operands are computed in (PyTorch's promotion)."""
    key = [op.promote, get_default_dtype()]
    for x in operands:
        if isinstance(x, Tensor):
            a = x._storage._array
            key.append((a.dtype, a.shape == ()))
        elif isinstance(x, np.ndarray):
            key.append((x.dtype, x.shape == (), "numpy"))
        elif x is not None:
            key.append(type(x))
    key = tuple(key)
    dtype = _PROMOTION_CACHE.get(key)
    if dtype is None:
        if len(_PROMOTION_CACHE) >= _PROMOTION_LIMIT:
            _PROMOTION_CACHE.clear()
        dtype = _PROMOTION_CACHE[key] = _compute_promotion(op, operands)
    return dtype


def _compute_promotion(op: Op, operands: tuple):
    dims, zero_dims, kinds = [], [], []
    for x in operands:
        if isinstance(x, Tensor):
            (dims if x._storage._array.ndim else zero_dims).append(x.dtype)
        elif isinstance(x, np.ndarray):  # numpy arrays take part as tensors, as in PyTorch
            (dims if x.ndim else zero_dims).append(as_dtype(x.dtype))
        elif isinstance(x, np.generic):  # numpy scalars as Python numbers of their kind
            kinds.append({"b": 0, "i": 1, "u": 1}.get(x.dtype.kind, 2))
        elif x is not None:
            kinds.append(scalar_kind(x))
    dtype = result_type(tuple(dims), tuple(zero_dims), tuple(kinds))
    if op.promote == "float" and not (dtype.is_floating_point or dtype.is_complex):
        dtype = get_default_dtype()
    return dtype


def _broadcast_error(op: Op, operands: tuple) -> RuntimeError | None:
    """PyTorch's error for tensor operands whose shapes do not broadcast (None if they do)."""
    shapes = [x._storage._array.shape for x in operands if isinstance(x, Tensor)]
    if len(shapes) < 2:
        return None
    a = shapes[0]
    for b in shapes[1:]:
        ndim = max(len(a), len(b))
        out = []
        for i in range(ndim - 1, -1, -1):
            sa = a[i - ndim + len(a)] if i - ndim + len(a) >= 0 else 1
            sb = b[i - ndim + len(b)] if i - ndim + len(b) >= 0 else 1
            if sa != sb and sa != 1 and sb != 1:
                return RuntimeError(
                    f"The size of tensor a ({sa}) must match the size of tensor b ({sb}) at "
                    f"non-singleton dimension {i} (in {op.name}: shapes {list(a)} and {list(b)} "
                    "do not broadcast)"
                )
            out.append(sa if sb == 1 else sb)
        a = tuple(reversed(out))
    return None


def _place_operands(operands: tuple, arrays: list) -> list:
    """Tensor operands committed to different devices (see ``apply``): PyTorch's rule. The common
    device is the first one other than the CPU (JAX's first CPU device); a 0-d tensor on the CPU
    moves to it, as PyTorch lets CPU scalars join any op; any other difference raises PyTorch's
    error. Arrays sharded over several devices are left to JAX."""
    cpu = common = None
    placed = []  # (index, device, 0-d on the CPU)
    for i, x in enumerate(operands):
        if isinstance(x, Tensor):
            a = arrays[i]
            if getattr(a, "_committed", False):
                d = getattr(a.sharding, "_device", None)
                if d is None:
                    continue
                on_cpu = device_of_jax(d) == "cpu"
                cpu = d if on_cpu else cpu
                placed.append((i, d, on_cpu and a.ndim == 0))
                if common is None and not on_cpu:
                    common = d
    if common is None:
        common = placed[0][1]
    arrays = list(arrays)
    for i, d, cpu_scalar in placed:
        if d is common:
            continue
        if cpu_scalar:
            arrays[i] = jax.device_put(arrays[i], common)
            continue
        raise RuntimeError(
            "Expected all tensors to be on the same device, but found at least two devices, "
            f"{device_of_jax(common)} and {device_of_jax(d)}!"
        )
    return arrays


def _device_error(operands: tuple) -> RuntimeError:
    """PyTorch's error for operands on different devices that JAX refused to combine."""
    devices = []
    for x in operands:
        if isinstance(x, Tensor):
            d = str(x.device)
            if d not in devices:
                devices.append(d)
    found = " and ".join(devices[:2]) if len(devices) > 1 else "several devices"
    return RuntimeError(
        f"Expected all tensors to be on the same device, but found at least two devices, {found}!"
    )


def apply(op: Op, operands: tuple, params: dict):
    """Run ``op`` on ``operands``: lower to JAX, and record a node when a gradient can flow.
    In lazy mode (``tracegrad.lazy``) the lowering is recorded as a pending value instead.
    Inside an autocast region the operands are first cast by the op's class (``_autocast``)."""
    if _autocast.active:  # some thread has an autocast region open
        cast = autocast_operands(op.name, operands)
        if cast is not None:
            operands = cast
    if _lazy.active():
        out = _record_pending(op, operands, params)
        if out is not None:
            return _finish(op, operands, params, out)
    arrays = [x._storage.array if isinstance(x, Tensor) else x for x in operands]
    # Devices: only tensors committed to explicit devices (``to``, ``device=``) can disagree; the
    # others live where JAX put them and follow any operand. The usual case, all on one device, is
    # one identity test of each committed operand's device.
    first = None
    for x in operands:
        if isinstance(x, Tensor):
            a = x._storage.array
            if getattr(a, "_committed", False):
                d = getattr(a.sharding, "_device", None)
                if d is None:
                    continue
                if first is None:
                    first = d
                elif d is not first:
                    arrays = _place_operands(operands, arrays)
                    break
    operand_arrays = arrays
    if op.promote is not None:
        dtype = _promote(op, operands).np
        arrays = [
            a.astype(dtype) if hasattr(a, "dtype") and a.dtype != dtype else a for a in arrays
        ]
    try:
        out = op.forward(*arrays, **params)
    except (TypeError, ValueError) as e:
        # JAX's "incompatible shapes for broadcasting" becomes PyTorch's RuntimeError naming the
        # sizes and the dimension; anything else propagates unchanged.
        if "for broadcasting" in str(e):
            err = _broadcast_error(op, operands)
            if err is not None:
                raise err from None
        if "incompatible devices" in str(e):  # tensors inside a list operand (cat, stack)
            raise _device_error(operands) from e
        raise
    for x in operands:
        if isinstance(x, Tensor) and x._storage.array is out:
            # A lowering that changes nothing (a reshape to the same shape) returns its input's
            # array: the result's storage will hold it too, so it is no longer the input's alone.
            x._storage.exclusive = None
    if _tracing.active:  # some thread is tracing: record the op if it is this one
        trace = _tracing.current()
        if trace is not None:
            trace.tape.append((op.name, operands, operand_arrays, out))
    return _finish(op, operands, params, out)


_RESHAPES = frozenset(("reshape", "expand", "permute"))


def _record_pending(op: Op, operands: tuple, params: dict):
    """``op`` on ``operands`` as a pending value, or None when it must run now (an operand on
    another device than the one programs run on, a move to one, or an op the lazy graph cannot
    hold). Programs run on JAX's default device: values committed there (``model.to("cpu")``)
    stay pending, and a ``to(device)`` there is realized committed, as eagerly."""
    home = _lazy.home()
    device = params.get("device")
    if device is not None and device.jax_device() is not home:
        return None
    arrays = []
    pending = False
    for x in operands:
        if isinstance(x, Tensor):
            a = x._storage._array
            if type(a) is _lazy.Pending:
                pending = True
            elif isinstance(a, jax.core.Tracer) or (
                getattr(a, "_committed", False) and getattr(a.sharding, "_device", None) is not home
            ):
                return None
            arrays.append(a)
        else:
            arrays.append(x)
    if not pending and op.name in _RESHAPES:
        # A view of a concrete tensor is computed at once (it costs no arithmetic): index tensors
        # (targets.view(-1), pos.unsqueeze(0)) stay concrete, and checking their range later
        # realizes nothing.
        return None
    cast = None
    if op.promote is not None:
        cast = _promote(op, operands).np
        if all(not hasattr(a, "dtype") or a.dtype == cast for a in arrays):
            cast = None
    try:
        p = _lazy.record(op, arrays, params, cast)
        if device is not None and p is not None:
            p.commit = True
        return p
    except (TypeError, ValueError) as e:
        if "for broadcasting" in str(e):
            err = _broadcast_error(op, operands)
            if err is not None:
                raise err from None
        raise


def _finish(op: Op, operands: tuple, params: dict, out):
    """The result tensor of ``op``: a node recorded when a gradient can flow."""
    if op.rule is None or not is_grad_enabled():
        return Tensor._wrap(out)
    for x in operands:
        if isinstance(x, Tensor) and x._requires_grad:
            break
    else:
        return Tensor._wrap(out)
    if out.dtype.kind not in "fc" and out.dtype.name != "bfloat16":
        return Tensor._wrap(out)
    if not op.complex_grad and _complex_involved(operands, out):
        raise NotImplementedError(
            f"the gradient of {op.name} for complex tensors is not implemented in tracegrad (its "
            "rule assumes real values); work on real and imaginary parts (tracegrad.view_as_real, "
            ".real, .imag) or detach the complex tensor"
        )

    return record(op, params, operands, out)


def _complex_involved(operands: tuple, out) -> bool:
    if out.dtype.kind == "c":
        return True
    for x in operands:
        if isinstance(x, Tensor) and x._requires_grad and x._storage._array.dtype.kind == "c":
            return True
    return False


def apply_bound(op: Op, first, *operands, **params):
    return apply(op, (first, *operands), params)


# ------------------------------------------------------------------------------ autocast
def _eligible(x) -> bool:
    return isinstance(x, Tensor) and x.dtype in _autocast.CASTABLE


def _to(x, dtype):
    if x.dtype == dtype:
        return x
    return apply(REGISTRY["to_copy"], (x,), {"dtype": dtype, "device": None})


def autocast_operands(name: str, operands: tuple) -> tuple | None:
    """The operands ``name`` runs on under this thread's autocast policy, or None when it runs
    on them unchanged (no region here, or an op outside the policy)."""
    p = _autocast.policy()
    if p is None:
        return None
    table, dtype, device_type = p
    cls = table.get(name)
    if cls is None:
        return None
    if cls == _autocast.BANNED:
        raise RuntimeError(
            f"torch.nn.functional.{name} and torch.nn.{name.title().replace('_', '')}Loss are "
            "unsafe to autocast.\nMany models use a sigmoid layer right before the binary cross "
            "entropy layer.\nIn this case, combine the two layers using "
            "torch.nn.functional.binary_cross_entropy_with_logits\nor "
            "torch.nn.BCEWithLogitsLoss.  binary_cross_entropy_with_logits and BCEWithLogits "
            "are\nsafe to autocast."
        )
    if cls == _autocast.FP32:
        dtype = _autocast.float32
    elif cls == _autocast.PROMOTE:
        for x in _flat(operands):
            if _eligible(x) and x.dtype == _autocast.float32:
                dtype = _autocast.float32
                break
    return tuple(_cast_one(x, dtype) for x in operands)


def _flat(operands):
    for x in operands:
        if isinstance(x, (list, tuple)):
            yield from x
        else:
            yield x


def _cast_one(x, dtype):
    if isinstance(x, (list, tuple)) and any(isinstance(v, Tensor) for v in x):
        return type(x)(_cast_one(v, dtype) for v in x)
    return _to(x, dtype) if _eligible(x) else x


def autocast_entry(name: str) -> Callable:
    """Decorator: the public function ``fn`` takes the autocast class of PyTorch's op ``name``.
    Under an enabled region that lists ``name``, its tensor arguments are cast at the top and
    the registry ops it is built from are not cast again; otherwise it runs as written."""
    _autocast.ENTRIES.add(name)

    def wrap(fn: Callable) -> Callable:
        @functools.wraps(fn)
        def run(*args, **kwargs):
            if not _autocast.active:
                return fn(*args, **kwargs)
            new = autocast_operands(name, args)
            if new is None:
                return fn(*args, **kwargs)
            args = new
            if kwargs:
                keys = list(kwargs)
                values = autocast_operands(name, tuple(kwargs.values()))
                kwargs = dict(zip(keys, values))
            _autocast._local.excluded += 1
            try:
                return fn(*args, **kwargs)
            finally:
                _autocast._local.excluded -= 1

        return run

    return wrap
