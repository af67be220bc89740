"""Elementwise math: ``exp``, ``log``, ``sign``, ..., and selection (``where``)."""

from __future__ import annotations

import jax.numpy as jnp

from ..tensor import Tensor
from .registry import defop, inplace, tensor_method

__all__ = ["exp", "log", "sign", "where"]


def _unary_public(op, *aliases):
    """Expose a unary op as ``tracegrad.name``, ``x.name()`` and ``x.name_()``."""
    tensor_method(op, name=op.name)
    setattr(Tensor, op.name + "_", inplace(op))
    for alias in aliases:
        tensor_method(op, name=alias)
    return op


@defop("ExpBackward0", promote="float", saves=(), save_out=True)
def exp(a):
    """``e ** input``."""
    return jnp.exp(a)


@exp.vjp
def _(g, out, a):
    return (g * out,)


@defop("LogBackward0", promote="float")
def log(a):
    """Natural logarithm."""
    return jnp.log(a)


@log.vjp
def _(g, out, a):
    return (g / a,)


@defop("SignBackward0", saves=())
def sign(a):
    """-1, 0 or 1 by the sign of each element (its gradient is zero)."""
    return jnp.sign(a)


@sign.vjp
def _(g, out, a):
    return (g * 0,)


_unary_public(exp)
_unary_public(log)
_unary_public(sign)


# ------------------------------------------------------------------------------------------ where
@defop("WhereBackward0", promote=None, saves=(0,))
def _where(cond, a, b):
    return jnp.where(cond, a, b)


@_where.vjp
def _(g, out, cond, a, b):
    zero = g * 0
    return None, _where(cond, g, zero), _where(cond, zero, g)


@tensor_method
def where(condition: Tensor, input=None, other=None) -> Tensor:
    """``input`` where ``condition`` holds, else ``other`` (either may be a Python number)."""
    if input is None and other is None:
        raise NotImplementedError("where(condition) with one argument: use condition.nonzero()")
    from .registry import _promote

    dtype = _promote(_where, (input, other))
    input = input.to(dtype) if isinstance(input, Tensor) else input
    other = other.to(dtype) if isinstance(other, Tensor) else other
    return _where(condition, input, other)


Tensor.where = lambda self, condition, other: where(condition, self, other)
