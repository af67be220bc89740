"""``autograd.Function``: user-defined ops with a hand-written ``forward`` and ``backward``."""

from __future__ import annotations

from ..tensor import Tensor
from .grad_mode import is_grad_enabled, no_grad
from .node import record

__all__ = ["Function", "FunctionCtx"]


class FunctionCtx:
    """The ``ctx`` passed to ``forward``/``backward``: stash tensors and values for backward."""

    def __init__(self):
        self.saved_tensors: tuple = ()
        self.needs_input_grad: tuple = ()
        self._non_differentiable: set = set()
        self.materialize_grads = True

    def save_for_backward(self, *tensors) -> None:
        """Save tensors for ``backward``; read them back from ``ctx.saved_tensors``."""
        self.saved_tensors = tensors

    def mark_non_differentiable(self, *tensors) -> None:
        self._non_differentiable.update(id(t) for t in tensors)

    def mark_dirty(self, *tensors) -> None:
        raise NotImplementedError("in-place custom Functions (ctx.mark_dirty) are not supported")

    def set_materialize_grads(self, value: bool) -> None:
        self.materialize_grads = value


class _FunctionOp:
    """A Function subclass as the op of its nodes (``node.OpLike``): its rule calls the user's
    ``backward``; it reads no operands (``ctx`` holds what ``forward`` saved)."""

    saved_inputs = ()
    saves_out = False

    def __init__(self, cls):
        self.cls = cls
        self.name = cls.__name__
        self.grad_fn_name = f"{cls.__name__}Backward"

    def rule(self, g, out, *operands, ctx):
        grads = self.cls.backward(ctx, g)
        if not isinstance(grads, tuple):
            grads = (grads,)
        n = len(operands)
        if len(grads) < n:
            raise RuntimeError(
                f"function {self.grad_fn_name} returned an incorrect number of gradients "
                f"(expected {n}, got {len(grads)})"
            )
        return tuple(grads[:n])


class _FunctionMeta(type):
    def __init__(cls, name, bases, ns):
        super().__init__(name, bases, ns)
        cls._op = _FunctionOp(cls)


class Function(metaclass=_FunctionMeta):
    """Subclass with static ``forward(ctx, *args)`` and ``backward(ctx, *grads)``; call ``apply``.

    ``forward`` runs with grad mode off; the result is recorded as one node whose backward calls
    yours. ``backward`` returns one gradient per ``forward`` argument (None for non-tensors).
    """

    @staticmethod
    def forward(ctx, *args, **kwargs):
        raise NotImplementedError(
            "You must implement the forward function for custom autograd.Function."
        )

    @staticmethod
    def backward(ctx, *grad_outputs):
        raise NotImplementedError(
            "You must implement the backward function for custom autograd.Function."
        )

    @classmethod
    def apply(cls, *args, **kwargs):
        ctx = FunctionCtx()
        ctx.needs_input_grad = tuple(isinstance(a, Tensor) and a.requires_grad for a in args)
        with no_grad():
            out = cls.forward(ctx, *args, **kwargs)
        if isinstance(out, tuple):
            raise NotImplementedError(
                f"{cls.__name__}.forward returned {len(out)} outputs; tracegrad's custom Functions "
                "support a single tensor output"
            )
        if (
            not (is_grad_enabled() and any(ctx.needs_input_grad))
            or id(out) in ctx._non_differentiable
        ):
            return out
        return record(cls._op, {"ctx": ctx}, args, out._storage.array)
