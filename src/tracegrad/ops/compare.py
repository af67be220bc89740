"""Comparisons and logical ops: results are bool and never require grad."""

from __future__ import annotations

import jax.numpy as jnp

from .._surface import expose
from .registry import defop

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


def _comparison(fn, grad_fn_name, name, operator=None):
    op = defop(grad_fn_name, promote="same", name=name)(fn)
    return expose(op, operators=(operator,) if operator else ())


eq = _comparison(lambda a, b: jnp.equal(a, b), "EqBackward0", "eq", "__eq__")
ne = _comparison(lambda a, b: jnp.not_equal(a, b), "NeBackward0", "ne", "__ne__")
lt = _comparison(lambda a, b: jnp.less(a, b), "LtBackward0", "lt", "__lt__")
le = _comparison(lambda a, b: jnp.less_equal(a, b), "LeBackward0", "le", "__le__")
gt = _comparison(lambda a, b: jnp.greater(a, b), "GtBackward0", "gt", "__gt__")
ge = _comparison(lambda a, b: jnp.greater_equal(a, b), "GeBackward0", "ge", "__ge__")
logical_and = _comparison(lambda a, b: jnp.logical_and(a, b), "LogicalAndBackward0", "logical_and")
logical_or = _comparison(lambda a, b: jnp.logical_or(a, b), "LogicalOrBackward0", "logical_or")
logical_xor = _comparison(lambda a, b: jnp.logical_xor(a, b), "LogicalXorBackward0", "logical_xor")
logical_not = expose(defop("LogicalNotBackward0", name="logical_not")(lambda a: jnp.logical_not(a)))
