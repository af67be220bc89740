"""Comparisons and logical ops: results are bool and never require grad."""

from __future__ import annotations

import jax.numpy as jnp

from ..tensor import Tensor
from .registry import defop, tensor_method

__all__ = [
    "eq",
    "ne",
    "lt",
    "le",
    "gt",
    "ge",
    "logical_and",
    "logical_or",
    "logical_not",
    "logical_xor",
]


def _comparison(fn, grad_fn_name, name):
    op = defop(grad_fn_name, promote="same", name=name)(fn)
    return tensor_method(op, name=name)


eq = _comparison(lambda a, b: jnp.equal(a, b), "EqBackward0", "eq")
ne = _comparison(lambda a, b: jnp.not_equal(a, b), "NeBackward0", "ne")
lt = _comparison(lambda a, b: jnp.less(a, b), "LtBackward0", "lt")
le = _comparison(lambda a, b: jnp.less_equal(a, b), "LeBackward0", "le")
gt = _comparison(lambda a, b: jnp.greater(a, b), "GtBackward0", "gt")
ge = _comparison(lambda a, b: jnp.greater_equal(a, b), "GeBackward0", "ge")
logical_and = _comparison(lambda a, b: jnp.logical_and(a, b), "LogicalAndBackward0", "logical_and")
logical_or = _comparison(lambda a, b: jnp.logical_or(a, b), "LogicalOrBackward0", "logical_or")
logical_xor = _comparison(lambda a, b: jnp.logical_xor(a, b), "LogicalXorBackward0", "logical_xor")
logical_not = tensor_method(
    defop("LogicalNotBackward0", name="logical_not")(lambda a: jnp.logical_not(a)),
    name="logical_not",
)
bitwise_and = defop("BitwiseAndBackward0", promote="same", name="bitwise_and")(
    lambda a, b: jnp.bitwise_and(a, b)
)
bitwise_or = defop("BitwiseOrBackward0", promote="same", name="bitwise_or")(
    lambda a, b: jnp.bitwise_or(a, b)
)
bitwise_xor = defop("BitwiseXorBackward0", promote="same", name="bitwise_xor")(
    lambda a, b: jnp.bitwise_xor(a, b)
)
bitwise_not = defop("BitwiseNotBackward0", name="bitwise_not")(lambda a: jnp.invert(a))

Tensor.__eq__ = lambda self, other: eq(self, other)
Tensor.__ne__ = lambda self, other: ne(self, other)
Tensor.__lt__ = lambda self, other: lt(self, other)
Tensor.__le__ = lambda self, other: le(self, other)
Tensor.__gt__ = lambda self, other: gt(self, other)
Tensor.__ge__ = lambda self, other: ge(self, other)
Tensor.__and__ = Tensor.__rand__ = lambda self, other: bitwise_and(self, other)
Tensor.__or__ = Tensor.__ror__ = lambda self, other: bitwise_or(self, other)
Tensor.__xor__ = Tensor.__rxor__ = lambda self, other: bitwise_xor(self, other)
Tensor.__invert__ = lambda self: bitwise_not(self)
Tensor.__hash__ = object.__hash__  # defining __eq__ above must not make tensors unhashable
