"""``torch.func``: composable function transforms over tracegrad's tape-based autograd.

``grad``, ``grad_and_value``, ``vjp`` and ``jacrev`` are reverse mode; ``jvp``, ``linearize``,
``jacfwd`` and ``hessian`` compute forward-mode products by the double-VJP construction (two
reverse passes per tangent). ``functional_call`` and ``stack_module_state`` turn modules into
functions of their state. ``vmap`` batches the lowered program with ``jax.vmap``
(docs/vmap.md). See docs/func.md.
"""

from __future__ import annotations

from .._vmap import vmap
from ._module_state import functional_call, stack_module_state
from ._transforms import grad, grad_and_value, hessian, jacfwd, jacrev, jvp, linearize, vjp

__all__ = [
    "grad",
    "grad_and_value",
    "vjp",
    "jvp",
    "linearize",
    "jacrev",
    "jacfwd",
    "hessian",
    "functional_call",
    "stack_module_state",
    "vmap",
]
