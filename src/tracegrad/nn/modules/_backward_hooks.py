"""The machinery behind ``Module.register_full_backward_hook`` and ``..._pre_hook``.

PyTorch routes a module's tensor inputs, and then its tensor outputs, through one identity node
each (``BackwardHookFunction``): that node's hook sees the gradients of *all* the outputs at once
(the pre-hooks run there) and, later, of all the inputs (the hooks run there). tracegrad's nodes
have a single output, so several tensors are routed through one node by packing: they are
flattened and concatenated into one tensor (one node, whose pre-hook sees every gradient at once),
and sliced back to their shapes. One tensor is routed through a ``clone``. The engine runs a node
only once every gradient into it has arrived, which is exactly the moment PyTorch's hook fires.
"""

from __future__ import annotations

import warnings

from ... import creation
from ...autograd.grad_mode import is_grad_enabled
from ...ops.shape import cat
from ...tensor import Tensor

__all__ = ["BackwardHook"]


class _Route:
    """Tensors routed through one node: ``tensors`` are what the caller uses in their place;
    ``node`` is the node whose pre-hook receives their gradients packed into one tensor."""

    def __init__(self, tensors: list[Tensor]) -> None:
        self.shapes = [t.shape for t in tensors]
        self.dtypes = [t.dtype for t in tensors]
        self.received = [False] * len(tensors)
        if len(tensors) == 1:
            packed = tensors[0].clone()
            self.tensors = [packed]
        else:
            packed = cat([t.reshape(-1) for t in tensors])
            self.tensors, start = [], 0
            for i, t in enumerate(tensors):
                n = t.numel()
                piece = packed[start : start + n].view(t.shape)
                if piece.dtype != t.dtype:
                    piece = piece.to(t.dtype)
                piece.grad_fn.register_prehook(self._mark(i))
                self.tensors.append(piece)
                start += n
        self.packed_dtype = packed.dtype
        self.node = packed.grad_fn

    def _mark(self, i: int):
        def mark(grad):
            self.received[i] = True

        return mark

    def unpack(self, g: Tensor, materialize: bool) -> list:
        """The packed gradient ``g`` as one gradient per tensor; where none arrived, zeros with
        ``materialize`` (as PyTorch's grad_input) or None (as its grad_output)."""
        if len(self.shapes) == 1:
            return [g]
        out, start = [], 0
        for i, (shape, dtype) in enumerate(zip(self.shapes, self.dtypes)):
            n = _numel(shape)
            if self.received[i]:
                piece = g[start : start + n].view(shape)
                out.append(piece if piece.dtype == dtype else piece.to(dtype))
            else:
                out.append(creation.zeros(shape, dtype=dtype) if materialize else None)
            start += n
        self.received = [False] * len(self.shapes)
        return out

    def pack(self, grads) -> Tensor:
        """One gradient per tensor (None meaning zero) packed back into one tensor."""
        if len(self.shapes) == 1:
            g = grads[0]
            return creation.zeros(self.shapes[0], dtype=self.dtypes[0]) if g is None else g
        flat = [
            creation.zeros(_numel(shape), dtype=self.packed_dtype)
            if g is None
            else g.reshape(-1).to(self.packed_dtype)
            for g, shape in zip(grads, self.shapes)
        ]
        return cat(flat)


def _numel(shape) -> int:
    n = 1
    for s in shape:
        n *= s
    return n


class BackwardHook:
    """One module call's full backward hooks and pre-hooks (``torch.utils.hooks.BackwardHook``)."""

    def __init__(self, module, user_hooks: list, user_pre_hooks: list) -> None:
        self.module = module
        self.user_hooks = user_hooks
        self.user_pre_hooks = user_pre_hooks
        self.grad_outputs = None
        self.n_inputs = -1
        self.input_tensors_index = None
        self.n_outputs = -1
        self.output_tensors_index = None

    @staticmethod
    def _pack_with_none(indices, values, size: int) -> tuple:
        res = [None] * size
        for idx, val in zip(indices, values):
            res[idx] = val
        return tuple(res)

    def _route(self, args: tuple, on_grad):
        """Route ``args``' tensors that require grad through one node whose pre-hook is
        ``on_grad(route, routed_positions, packed_grad)``; returns ``(new args, the positions of
        all tensor args)`` or ``(args, None)`` when no tensor requires grad."""
        tensors_idx = [i for i, a in enumerate(args) if isinstance(a, Tensor)]
        routed = [i for i in tensors_idx if args[i].requires_grad]
        if not (routed and is_grad_enabled()):
            return args, None
        route = _Route([args[i] for i in routed])
        route.node.register_prehook(lambda g: on_grad(route, routed, g))
        new = list(args)
        for i, t in zip(routed, route.tensors):
            new[i] = t
        return tuple(new), tensors_idx

    def setup_input_hook(self, args: tuple) -> tuple:
        """Route the module's positional tensor inputs; the user hooks run when their gradients
        are complete."""

        def on_grad(route, routed, g):
            if self.grad_outputs is None:
                # the gradient reached the inputs without passing through the outputs
                # (double backward, say): PyTorch calls no hook then
                return None
            grads = dict(zip(routed, route.unpack(g, True)))
            # tensors that do not require grad get zeros, as PyTorch's identity node gives them
            res = tuple(
                grads[i]
                if i in grads
                else creation.zeros_like(args[i])
                if isinstance(args[i], Tensor)
                else None
                for i in range(self.n_inputs)
            )
            for hook in self.user_hooks:
                out = hook(self.module, res, self.grad_outputs)
                if out is None:
                    continue
                if len(out) != len(res):
                    raise RuntimeError(
                        "Backward hook returned an invalid number of grad_input, "
                        f"got {len(out)}, but expected {len(res)}"
                    )
                res = out
            self.grad_outputs = None
            return route.pack([res[i] for i in routed])

        res, idx = self._route(tuple(args), on_grad)
        self.n_inputs = len(args)
        self.input_tensors_index = idx
        return res

    def setup_output_hook(self, result):
        """Route the module's tensor outputs; the pre-hooks run when their gradients are
        complete."""

        def on_grad(route, routed, g):
            grads = dict(zip(routed, route.unpack(g, False)))
            self.grad_outputs = tuple(grads.get(i) for i in range(self.n_outputs))
            if self.user_pre_hooks:
                expected = len(self.grad_outputs)
                for pre_hook in self.user_pre_hooks:
                    new = pre_hook(self.module, self.grad_outputs)
                    if new is None:
                        continue
                    if len(new) != expected:
                        raise RuntimeError(
                            "Backward pre hook returned an invalid number of grad_output, "
                            f"got {len(new)}, but expected {expected}"
                        )
                    self.grad_outputs = tuple(new)
            local = self.grad_outputs
            if self.input_tensors_index is None:
                warnings.warn(
                    "Full backward hook is firing when gradients are computed with respect to "
                    "module outputs since no inputs require gradients. See "
                    "https://docs.pytorch.org/docs/main/generated/torch.nn.Module.html"
                    "#torch.nn.Module.register_full_backward_hook for more details.",
                    stacklevel=5,
                )
                grad_inputs = (None,) * self.n_inputs
                for hook in self.user_hooks:
                    out = hook(self.module, grad_inputs, self.grad_outputs)
                    if out is not None and not (
                        isinstance(out, tuple) and all(el is None for el in out)
                    ):
                        raise RuntimeError(
                            "Backward hook for Modules where no input requires gradient should "
                            "always return None or None for all gradients."
                        )
                self.grad_outputs = None
            return route.pack([local[i] for i in routed])

        is_tuple = isinstance(result, tuple)
        args = result if is_tuple else (result,)
        res, idx = self._route(args, on_grad)
        self.n_outputs = len(args)
        self.output_tensors_index = idx
        return res if is_tuple else res[0]
