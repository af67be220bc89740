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

from .._dtype import get_default_dtype, result_type, scalar_kind
from ..autograd.grad_mode import is_grad_enabled
from ..autograd.node import Node, accumulate_node

__all__ = ["Op", "defop", "REGISTRY", "apply", "tensor_method"]

REGISTRY: dict[str, Op] = {}


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
        self.__doc__ = forward.__doc__
        self.__name__ = name

    @property
    def saved_inputs(self) -> tuple:
        return self._saved_inputs

    def vjp(self, rule: Callable) -> Callable:
        """Decorator: register ``rule(g, out, *operands, **params)`` as this op's VJP."""
        self.rule = rule
        return rule

    @property
    def differentiable(self) -> bool:
        return self.rule is not None

    def __call__(self, *operands, **params):
        return apply(self, operands, params)

    def __get__(self, instance, owner=None):
        # Bound as a Tensor method: ``x.mul(y)`` is ``mul(x, y)``.
        if instance is None:
            return self
        return functools.partial(apply_bound, self, instance)

    def __repr__(self) -> str:
        return f"<tracegrad op {self.name}>"


def defop(
    grad_fn_name,
    *,
    promote: str | None = None,
    saves: tuple | str = "all",
    save_out: bool = False,
    name: str | None = None,
):
    """Register the decorated lowering as an op.

    - ``grad_fn_name``: PyTorch's backward-node name (a string, or a function of the params).
    - ``promote``: None (operands keep their dtypes), ``"same"`` (tensors and Python scalars are
      promoted to one dtype by PyTorch's rules) or ``"float"`` (the same, then integers to the default
      float).
    - ``saves``: which operands the rule reads values of (``"all"``, or a tuple of indices); they are
      version-checked at backward and freed after it. Others are kept only for their shapes.
    - ``save_out``: whether the rule reads ``out``.
    """

    def register(forward: Callable) -> Op:
        op_name = name or forward.__name__.lstrip("_")
        if op_name in REGISTRY:
            raise ValueError(f"op {op_name!r} is registered twice")
        nargs = forward.__code__.co_argcount
        saved = tuple(range(nargs)) if saves == "all" else tuple(saves)
        op = Op(forward, grad_fn_name, promote, saved, save_out, op_name)
        REGISTRY[op_name] = op
        return op

    return register


def _promote(op: Op, operands: tuple):
    from ..tensor import Tensor

    dims, zero_dims, kinds = [], [], []
    for x in operands:
        if isinstance(x, Tensor):
            (dims if x._storage.array.ndim else zero_dims).append(x.dtype)
        elif x is not None:
            kinds.append(scalar_kind(x))
    dtype = result_type(tuple(dims), tuple(zero_dims), tuple(kinds))
    if op.promote == "float" and not dtype.is_floating_point:
        dtype = get_default_dtype()
    return dtype


def apply(op: Op, operands: tuple, params: dict):
    """Run ``op`` on ``operands``: lower to JAX, and record a node when a gradient can flow."""
    from ..tensor import Tensor

    arrays = [x._storage.array if isinstance(x, Tensor) else x for x in operands]
    if op.promote is not None:
        dtype = _promote(op, operands).np
        arrays = [
            a.astype(dtype) if hasattr(a, "dtype") and a.dtype != dtype else a for a in arrays
        ]
    out = op.forward(*arrays, **params)

    if not (op.rule is not None and is_grad_enabled()):
        return Tensor._wrap(out)
    if not any(isinstance(x, Tensor) and x._requires_grad for x in operands):
        return Tensor._wrap(out)
    if out.dtype.kind not in "fc" and out.dtype.name != "bfloat16":
        return Tensor._wrap(out)

    edges, meta = [], []
    for x in operands:
        if isinstance(x, Tensor) and x._requires_grad:
            edges.append((x.grad_fn if x.grad_fn is not None else accumulate_node(x), 0))
            meta.append((x._storage.array.shape, x.dtype))
        else:
            edges.append((None, 0))
            meta.append(None)
    result = Tensor._wrap(out, requires_grad=True)
    result.grad_fn = Node(op, params, operands, tuple(meta), tuple(edges), result)
    return result


def apply_bound(op: Op, first, *operands, **params):
    return apply(op, (first, *operands), params)


def tensor_method(fn: Callable | None = None, *, name: str | None = None):
    """Attach the decorated public function to ``Tensor`` as a method (``x.exp()``)."""

    def attach(f):
        from ..tensor import Tensor

        setattr(Tensor, name or f.__name__, f)
        return f

    return attach(fn) if fn is not None else attach


def inplace(fn: Callable, name: str | None = None) -> Callable:
    """The in-place method form of ``fn`` (``x.add_(y)`` from ``add``): computes out of place, then
    makes ``x`` hold the result, bumping its version and moving its ``grad_fn``.

    PyTorch's guard applies: a leaf that requires grad can only be modified under ``no_grad``.
    """
    method_name = name or fn.__name__ + "_"

    def method(self, *args, **kwargs):
        self._check_inplace(method_name)
        return self._rebase(fn(self._snapshot(), *args, **kwargs))

    method.__name__ = method_name
    method.__qualname__ = f"Tensor.{method_name}"
    method.__doc__ = f"In-place version of :func:`{fn.__name__}`."
    return method
