"""``torch.autograd.functional``: vector-Jacobian, Jacobian-vector and Hessian products of a
function, computed with ``autograd.grad``.

Every function here takes ``inputs`` as a tensor or a tuple of tensors and returns results shaped
as PyTorch's do: a single tensor where the function's inputs (or outputs) were a single tensor, a
tuple where they were a tuple. Forward-mode products (``jvp``, ``hvp``) use the double-backward
construction: the vector-Jacobian product ``u -> J^T u`` is linear in ``u``, so differentiating
``<J^T u, v>`` with respect to a dummy ``u`` gives ``J v``. That costs two reverse passes per
product. ``jacobian``/``hessian`` with ``vectorize=True`` compute all the rows (or columns) with
one ``tracegrad.vmap`` of the backward over the identity basis, as PyTorch's do; without it (and
with ``create_graph=True``, whose graph a mapped call cannot record) one reverse pass per row.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import jax.numpy as jnp

from .. import autograd as _autograd
from ..creation import ones_like, zeros_like
from ..tensor import Tensor, tensor
from .function import Function
from .grad_mode import enable_grad, is_grad_enabled, set_grad_enabled

__all__ = ["vjp", "jvp", "jacobian", "hessian", "hvp", "vhp"]

# ``tracegrad.vmap``, installed by ``tracegrad.func`` when it is imported: vmap sits in the
# compiler layer, above this one (tests/test_layers.py), and ``vectorize=True`` needs it.
_vmap: Callable | None = None


class _Stack(Function):
    """``stack(rows)`` as a custom Function (this layer sits below the ops), differentiable to any
    order: its backward indexes the incoming gradient, which records when ``create_graph``."""

    @staticmethod
    def forward(ctx, *rows):
        ctx.n = len(rows)
        return tensor(jnp.stack([r._storage.array for r in rows]))

    @staticmethod
    def backward(ctx, grad):
        return tuple(grad[i] for i in range(ctx.n))


def stack_rows(rows: list[Tensor]) -> Tensor:
    """Rows of a Jacobian stacked along a new leading dimension (differentiably)."""
    return _Stack.apply(*rows)


def _as_tuple(inp: Any, arg_name: str, fn_name: str) -> tuple[bool, tuple]:
    """Whether ``inp`` was a tuple, and ``inp`` as a tuple of tensors (TypeError otherwise)."""
    is_tuple = isinstance(inp, tuple)
    items = inp if is_tuple else (inp,)
    for i, el in enumerate(items):
        if not isinstance(el, Tensor):
            where = f"the value at index {i}" if is_tuple else f"the given {arg_name}"
            raise TypeError(
                f"The {arg_name} given to {fn_name} must be either a Tensor or a tuple of Tensors "
                f"but {where} has type {type(el)}."
            )
    return is_tuple, items


def _untuple(res, unpack):
    """Undo ``_as_tuple``: ``unpack`` is one flag, or (outputs flag, inputs flag) for nested."""
    if isinstance(unpack, tuple):
        if not unpack[1]:
            res = tuple(el[0] for el in res)
        if not unpack[0]:
            res = res[0]
    elif not unpack:
        res = res[0]
    return res


def _preprocess(inputs: tuple, create_graph: bool, need_graph: bool) -> tuple:
    """Fresh tensor objects for the inputs: a differentiable alias (``view_as``) when the caller
    wants gradients to reach them, else a detached copy. The fresh object tells the inputs apart
    from the same tensors captured by the function's closure."""
    return tuple(
        inp.view_as(inp)
        if create_graph and inp.requires_grad
        else inp.detach().requires_grad_(need_graph)
        for inp in inputs
    )


def _postprocess(res, create_graph: bool):
    """Detach results unless the caller asked for a graph (nested tuples are walked)."""
    if isinstance(res[0], Tensor):
        return res if create_graph else tuple(r.detach() for r in res)
    return tuple(_postprocess(r, create_graph) for r in res)


def _validate_v(v: tuple, other: tuple, is_other_tuple: bool) -> None:
    if len(other) != len(v):
        if is_other_tuple:
            raise RuntimeError(
                f"v is a tuple of invalid length: should be {len(other)} but got {len(v)}."
            )
        raise RuntimeError("The given v should contain a single Tensor.")
    for i, (el_v, el_o) in enumerate(zip(v, other)):
        if el_v.size() != el_o.size():
            prefix = f"Entry {i} in " if is_other_tuple else ""
            raise RuntimeError(
                f"{prefix}v has invalid size: should be {el_o.size()} but got {el_v.size()}."
            )


def _check_requires_grad(items: tuple, kind: str, strict: bool) -> None:
    """In strict mode, refuse outputs (or gradients) that do not depend on the inputs."""
    if not strict:
        return
    for i, t in enumerate(items):
        if t is None:
            raise RuntimeError(
                f"The output of the user-provided function is independent of input {i}."
                " This is not allowed in strict mode."
            )
        if t.requires_grad:
            continue
        if kind == "hessian":
            raise RuntimeError(
                f"The hessian of the user-provided function with respect to input {i}"
                " is independent of the input. This is not allowed in strict mode."
                " You should ensure that your function is thrice differentiable and that"
                " the hessian depends on the inputs."
            )
        if kind == "jacobian":
            raise RuntimeError(
                "While computing the hessian, found that the jacobian of the user-provided"
                f" function with respect to input {i} is independent of the input. This is not"
                " allowed in strict mode. You should ensure that your function is twice"
                " differentiable and that the jacobian depends on the inputs (this would be"
                " violated by a linear function for example)."
            )
        if kind == "grad_inputs":
            raise RuntimeError(
                f"The gradient with respect to input {i} is independent of the inputs of the"
                " user-provided function. This is not allowed in strict mode."
            )
        raise RuntimeError(
            f"Output {i} of the user-provided function does not require gradients."
            " The outputs must be computed in a differentiable manner from the input"
            " when running in strict mode."
        )


def _grad(outputs: tuple, inputs: tuple, grad_outputs=None, create_graph=False, retain_graph=None):
    """``autograd.grad`` that skips outputs (``None`` or not requiring grad) and returns None for
    inputs nothing reached."""
    if grad_outputs is None:
        grad_outputs = (None,) * len(outputs)
    pairs = [(o, g) for o, g in zip(outputs, grad_outputs) if o is not None and o.requires_grad]
    if not pairs:
        return (None,) * len(inputs)
    return _autograd.grad(
        [o for o, _ in pairs],
        inputs,
        [g for _, g in pairs],
        allow_unused=True,
        create_graph=create_graph,
        retain_graph=retain_graph,
    )


_NO_GRAD_MSG = {
    "back": "The output of the user-provided function is independent of input {i}. "
    "This is not allowed in strict mode.",
    "back_trick": "The gradient with respect to the input is independent of entry {i} in the "
    "grad_outputs when using the double backward trick to compute forward mode gradients. This "
    "is not allowed in strict mode.",
    "double_back": "The jacobian of the user-provided function is independent of input {i}. "
    "This is not allowed in strict mode.",
    "double_back_trick": "The hessian of the user-provided function is independent of entry {i} "
    "in the grad_jacobian. This is not allowed in strict mode as it prevents from using the "
    "double backward trick to replace forward mode AD.",
}


def _fill_in_zeros(grads, refs, strict: bool, create_graph: bool, stage: str) -> tuple:
    """Zeros for the gradients nothing reached (an error in strict mode)."""
    res = []
    for i, g in enumerate(grads):
        if g is None:
            if strict:
                raise RuntimeError(_NO_GRAD_MSG[stage].format(i=i))
            g = zeros_like(refs[i])
        elif strict and create_graph and not g.requires_grad:
            what = "hessian" if "double" in stage else "jacobian"
            raise RuntimeError(
                f"The {what} of the user-provided function is independent of input {i}. "
                "This is not allowed in strict mode when create_graph=True."
            )
        res.append(g)
    return tuple(res)


def _prepare_v(v, inputs, is_inputs_tuple, create_graph, fn_name, what):
    if v is not None:
        _, v = _as_tuple(v, "v", fn_name)
        v = _preprocess(v, create_graph=create_graph, need_graph=False)
        _validate_v(v, inputs, is_inputs_tuple)
    elif len(inputs) != 1 or inputs[0].nelement() != 1:
        raise RuntimeError(
            f"The vector v can only be None if the {what} is a single Tensor with a single element."
        )
    return v


def _outputs(func: Callable, inputs: tuple, strict: bool, fn_name: str) -> tuple[bool, tuple]:
    """``func(*inputs)`` as ``(was a tuple, outputs as a tuple)``, each output checked to be a
    tensor (and, with ``strict``, to require grad)."""
    outputs = func(*inputs)
    is_outputs_tuple, outputs = _as_tuple(outputs, "outputs of the user-provided function", fn_name)
    _check_requires_grad(outputs, "outputs", strict)
    return is_outputs_tuple, outputs


def vjp(func: Callable, inputs, v=None, create_graph: bool = False, strict: bool = False) -> tuple:
    """``(func(inputs), v^T J)``: the vector-Jacobian product of ``func`` at ``inputs``.

    ``v`` matches ``func``'s outputs (it may be omitted for a single-element output). With
    ``create_graph`` the results are differentiable; with ``strict`` an output independent of an
    input raises instead of giving zeros. As ``torch.autograd.functional.vjp``.
    """
    with enable_grad():
        is_inputs_tuple, inputs = _as_tuple(inputs, "inputs", "vjp")
        inputs = _preprocess(inputs, create_graph=create_graph, need_graph=True)
        is_outputs_tuple, outputs = _outputs(func, inputs, strict, "vjp")
        if v is not None:
            _, v = _as_tuple(v, "v", "vjp")
            v = _preprocess(v, create_graph=create_graph, need_graph=False)
            _validate_v(v, outputs, is_outputs_tuple)
        elif len(outputs) != 1 or outputs[0].nelement() != 1:
            raise RuntimeError(
                "The vector v can only be None if the user-provided function returns a single "
                "Tensor with a single element."
            )
    with set_grad_enabled(True if create_graph else is_grad_enabled()):
        res = _grad(outputs, inputs, v, create_graph=create_graph)
        res = _fill_in_zeros(res, inputs, strict, create_graph, "back")
    outputs = _postprocess(outputs, create_graph)
    res = _postprocess(res, create_graph)
    return _untuple(outputs, is_outputs_tuple), _untuple(res, is_inputs_tuple)


def jvp(func: Callable, inputs, v=None, create_graph: bool = False, strict: bool = False) -> tuple:
    """``(func(inputs), J v)``: the Jacobian-vector product of ``func`` at ``inputs``.

    Computed by the double-backward construction (two reverse passes): ``g(u) = J^T u`` is
    linear in a dummy cotangent ``u``, and ``J v`` is the gradient of ``<g(u), v>`` in ``u``.
    ``v`` matches ``inputs``. As ``torch.autograd.functional.jvp``.
    """
    with enable_grad():
        is_inputs_tuple, inputs = _as_tuple(inputs, "inputs", "jvp")
        inputs = _preprocess(inputs, create_graph=create_graph, need_graph=True)
        v = _prepare_v(
            v, inputs, is_inputs_tuple, create_graph, "jvp", "input to the user-provided function"
        )
        is_outputs_tuple, outputs = _outputs(func, inputs, strict, "jvp")
        # Ones, not zeros: the result is the same (the VJP is linear in the dummy), and a rule
        # written piecewise in the cotangent's sign is not differentiated at its kink (func's
        # _Linearized says more).
        dummies = tuple(ones_like(out).requires_grad_(True) for out in outputs)
        grad_inputs = _grad(outputs, inputs, dummies, create_graph=True)
        _check_requires_grad(grad_inputs, "grad_inputs", strict)
    with set_grad_enabled(True if create_graph else is_grad_enabled()):
        res = _grad(grad_inputs, dummies, v, create_graph=create_graph)
        res = _fill_in_zeros(res, outputs, strict, create_graph, "back_trick")
    outputs = _postprocess(outputs, create_graph)
    res = _postprocess(res, create_graph)
    return _untuple(outputs, is_outputs_tuple), _untuple(res, is_outputs_tuple)


def _jacobian_rows(outputs, inputs, create_graph: bool, strict: bool) -> tuple:
    """``((d out_i / d in_j for j) for i)``, one reverse pass per output element."""
    jac = []
    for i, out in enumerate(outputs):
        rows: tuple[list, ...] = tuple([] for _ in inputs)
        flat = out.reshape(-1)
        for k in range(out.nelement()):
            vj = _grad((flat[k],), inputs, retain_graph=True, create_graph=create_graph)
            for j, (row, g, inp) in enumerate(zip(rows, vj, inputs)):
                if g is None:
                    if strict:
                        raise RuntimeError(
                            f"Output {i} of the user-provided function is independent of input "
                            f"{j}. This is not allowed in strict mode."
                        )
                    g = zeros_like(inp)
                elif strict and create_graph and not g.requires_grad:
                    raise RuntimeError(
                        f"The jacobian of the user-provided function is independent of input "
                        f"{i}. This is not allowed in strict mode when create_graph=True."
                    )
                row.append(g)
        jac.append(
            tuple(
                _stack_or_empty(row, inp).reshape(tuple(out.shape) + tuple(inp.shape))
                for row, inp in zip(rows, inputs)
            )
        )
    return tuple(jac)


def _stack_or_empty(rows: list, inp: Tensor) -> Tensor:
    if rows:
        return stack_rows(rows)
    return inp.new_zeros((0, *inp.shape))


def _identity_basis(parts) -> list[Tensor]:
    """The identity over all the elements of ``parts`` (concatenated), split per part: entry
    ``i`` is shaped ``(total, *parts[i].shape)`` in ``parts[i]``'s dtype."""
    total = sum(p.nelement() for p in parts)
    out, start = [], 0
    for p in parts:
        n = p.nelement()
        out.append(tensor(jnp.eye(total, n, k=-start, dtype=p.dtype.np).reshape(total, *p.shape)))
        start += n
    return out


def _split_rows(res, outputs, inputs) -> tuple:
    """``res[j]`` (rows over all the outputs' elements, for input ``j``) as blocks shaped
    ``out_i.shape + in_j.shape``."""
    jac, start = [], 0
    for out in outputs:
        n = out.nelement()
        jac.append(
            tuple(
                r[start : start + n].reshape(tuple(out.shape) + tuple(inp.shape))
                for r, inp in zip(res, inputs)
            )
        )
        start += n
    return tuple(jac)


def _jacobian_rows_vectorized(outputs, inputs) -> tuple:
    """As ``_jacobian_rows`` (without a graph): one ``vmap`` of the backward over the identity
    basis of all the outputs."""

    def rows(*cotangents):
        vj = _grad(outputs, inputs, cotangents, retain_graph=True)
        return tuple(zeros_like(inp) if g is None else g for g, inp in zip(vj, inputs))

    return _split_rows(_vmap(rows)(*_identity_basis(outputs)), outputs, inputs)


def _jacobian_columns(outputs_of, inputs, strict: bool) -> tuple:
    """Forward mode: the double-backward Jacobian-vector products for every one-hot tangent, as
    one ``vmap`` of the second backward over the identity basis of the inputs."""
    with enable_grad():
        outputs = outputs_of(inputs)
        # Ones, not zeros: the result is the same (the VJP is linear in the dummy), and a rule
        # written piecewise in the cotangent's sign is not differentiated at its kink (func's
        # _Linearized says more).
        dummies = tuple(ones_like(out).requires_grad_(True) for out in outputs)
        grad_inputs = _grad(outputs, inputs, dummies, create_graph=True)
        _check_requires_grad(grad_inputs, "grad_inputs", strict)

    def columns(*basis):
        res = _grad(grad_inputs, dummies, basis, retain_graph=True)
        return _fill_in_zeros(res, outputs, strict, False, "back_trick")

    # res[i]: the products for every one-hot tangent, shaped (total inputs' elements, *out_i)
    res = _vmap(columns)(*_identity_basis(inputs))
    jac = []
    for out, r in zip(outputs, res):
        cols, start = [], 0
        for inp in inputs:
            c = r[start : start + inp.nelement()].detach()
            start += inp.nelement()
            # column k of out's Jacobian in inp is J[..., k]: the products go last.
            c = c.reshape(inp.nelement(), out.nelement()).transpose(0, 1)
            cols.append(c.reshape(tuple(out.shape) + tuple(inp.shape)))
        jac.append(tuple(cols))
    return tuple(jac)


def jacobian(
    func: Callable,
    inputs,
    create_graph: bool = False,
    strict: bool = False,
    vectorize: bool = False,
    strategy: str = "reverse-mode",
):
    """The Jacobian of ``func`` at ``inputs``, shaped ``output.shape + input.shape`` and nested
    as PyTorch's: a tensor for a single input and output, a tuple over inputs (or outputs), or a
    tuple over outputs of tuples over inputs.

    ``"reverse-mode"`` runs one reverse pass per output element; ``"forward-mode"`` one
    double-backward product per input element (and, as in PyTorch, needs ``vectorize=True`` and
    ``create_graph=False``). ``vectorize=True`` computes them all with one ``tracegrad.vmap`` of
    the backward over the identity basis (tracegrad's rules, batched); otherwise, and with
    ``create_graph=True`` (a mapped call records no graph to differentiate twice), one reverse
    pass per output element in a Python loop. As ``torch.autograd.functional.jacobian``.
    """
    if strategy not in ("forward-mode", "reverse-mode"):
        raise AssertionError(
            'Expected strategy to be either "forward-mode" or "reverse-mode". Hint: If your '
            'function has more outputs than inputs, "forward-mode" tends to be more performant. '
            'Otherwise, prefer to use "reverse-mode".'
        )
    if strategy == "forward-mode":
        if create_graph:
            raise NotImplementedError(
                "torch.autograd.functional.jacobian: `create_graph=True` and "
                '`strategy="forward-mode"` are not supported together (yet). Please either set '
                '`create_graph=False` or `strategy="reverse-mode"`.'
            )
        if not vectorize:
            raise NotImplementedError(
                "Computing Jacobian using forward-AD or forward-over-reverse Hessian is only "
                "implemented for `vectorize=True`."
            )
        is_inputs_tuple, inputs = _as_tuple(inputs, "inputs", "jacobian")
        inputs = _preprocess(inputs, create_graph=False, need_graph=True)
        flags = {}

        def outputs_of(xs):
            out = func(*xs)
            flags["out"], outs = _as_tuple(out, "outputs of the user-provided function", "jacobian")
            _check_requires_grad(outs, "outputs", strict)
            return outs

        jac = _jacobian_columns(outputs_of, inputs, strict)
        return _untuple(jac, (flags["out"], is_inputs_tuple))
    with enable_grad():
        is_inputs_tuple, inputs = _as_tuple(inputs, "inputs", "jacobian")
        inputs = _preprocess(inputs, create_graph=create_graph, need_graph=True)
        is_outputs_tuple, outputs = _outputs(func, inputs, strict, "jacobian")
        if vectorize and strict:
            raise RuntimeError(
                "torch.autograd.functional.jacobian: `strict=True` and `vectorized=True` are "
                "not supported together. Please either set `strict=False` or "
                "`vectorize=False`."
            )
        if vectorize and not create_graph:
            jac = _jacobian_rows_vectorized(outputs, inputs)
        else:
            jac = _jacobian_rows(outputs, inputs, create_graph, strict)
        jac = _postprocess(jac, create_graph)
        return _untuple(jac, (is_outputs_tuple, is_inputs_tuple))


def hessian(
    func: Callable,
    inputs,
    create_graph: bool = False,
    strict: bool = False,
    vectorize: bool = False,
    outer_jacobian_strategy: str = "reverse-mode",
):
    """The Hessian of the scalar function ``func`` at ``inputs``: the Jacobian of its gradient,
    shaped ``input_i.shape + input_j.shape`` (a tuple of tuples for a tuple of inputs). As
    ``torch.autograd.functional.hessian``.
    """
    is_inputs_tuple, inputs = _as_tuple(inputs, "inputs", "hessian")
    if outer_jacobian_strategy not in ("forward-mode", "reverse-mode"):
        raise AssertionError('Expected strategy to be either "forward-mode" or "reverse-mode".')

    def single_output(*inp):
        out = func(*inp)
        is_out_tuple, t_out = _as_tuple(out, "outputs of the user-provided function", "hessian")
        _check_requires_grad(t_out, "outputs", strict)
        if is_out_tuple or not isinstance(out, Tensor):
            raise RuntimeError("The function given to hessian should return a single Tensor")
        if out.nelement() != 1:
            raise RuntimeError(
                "The Tensor returned by the function given to hessian should contain a single "
                "element"
            )
        return out.squeeze()

    def jac_func(*inp):
        if outer_jacobian_strategy == "forward-mode":
            inp = tuple(t.requires_grad_(True) for t in inp)
        jac = jacobian(single_output, inp, create_graph=True)
        _check_requires_grad(jac, "jacobian", strict)
        return jac

    res = jacobian(
        jac_func,
        inputs,
        create_graph=create_graph,
        strict=strict,
        vectorize=vectorize,
        strategy=outer_jacobian_strategy,
    )
    return _untuple(res, (is_inputs_tuple, is_inputs_tuple))


def _gradient_of_scalar(func, inputs, v, create_graph: bool, strict: bool, fn_name: str):
    """The first reverse pass of ``vhp``/``hvp`` (under ``enable_grad``): the inputs and ``v``
    checked and prepared, the scalar output, and its gradient with a graph."""
    is_inputs_tuple, inputs = _as_tuple(inputs, "inputs", fn_name)
    inputs = _preprocess(inputs, create_graph=create_graph, need_graph=True)
    v = _prepare_v(
        v, inputs, is_inputs_tuple, create_graph, fn_name, "input to the user-provided function"
    )
    is_outputs_tuple, outputs = _outputs(func, inputs, strict, fn_name)
    _check_single(outputs, is_outputs_tuple, fn_name)
    jac = _grad(outputs, inputs, create_graph=True)
    _check_requires_grad(jac, "jacobian", strict)
    return is_inputs_tuple, inputs, v, outputs, is_outputs_tuple, jac


def vhp(func: Callable, inputs, v=None, create_graph: bool = False, strict: bool = False) -> tuple:
    """``(func(inputs), v^T H)``: the vector-Hessian product of a scalar function, by two
    reverse passes. As ``torch.autograd.functional.vhp``."""
    with enable_grad():
        is_inputs_tuple, inputs, v, outputs, is_outputs_tuple, jac = _gradient_of_scalar(
            func, inputs, v, create_graph, strict, "vhp"
        )
    with set_grad_enabled(True if create_graph else is_grad_enabled()):
        res = _grad(jac, inputs, v, create_graph=create_graph)
        res = _fill_in_zeros(res, inputs, strict, create_graph, "double_back")
    outputs = _postprocess(outputs, create_graph)
    res = _postprocess(res, create_graph)
    return _untuple(outputs, is_outputs_tuple), _untuple(res, is_inputs_tuple)


def _check_single(outputs, is_outputs_tuple, fn_name):
    if is_outputs_tuple or not isinstance(outputs[0], Tensor):
        raise RuntimeError(f"The function given to {fn_name} should return a single Tensor")
    if outputs[0].nelement() != 1:
        raise RuntimeError(
            f"The Tensor returned by the function given to {fn_name} should contain a single "
            "element"
        )


def hvp(func: Callable, inputs, v=None, create_graph: bool = False, strict: bool = False) -> tuple:
    """``(func(inputs), H v)``: the Hessian-vector product of a scalar function. ``H v`` is a
    forward-mode product of the gradient, computed by the double-backward construction (three
    reverse passes in all). As ``torch.autograd.functional.hvp``."""
    with enable_grad():
        is_inputs_tuple, inputs, v, outputs, is_outputs_tuple, jac = _gradient_of_scalar(
            func, inputs, v, create_graph, strict, "hvp"
        )
        dummies = tuple(ones_like(inp).requires_grad_(True) for inp in inputs)  # as in jvp
        double_back = _grad(jac, inputs, dummies, create_graph=True)
        _check_requires_grad(jac, "hessian", strict)
    with set_grad_enabled(True if create_graph else is_grad_enabled()):
        res = _grad(double_back, dummies, v, create_graph=create_graph)
        res = _fill_in_zeros(res, inputs, strict, create_graph, "double_back_trick")
    outputs = _postprocess(outputs, create_graph)
    res = _postprocess(res, create_graph)
    return _untuple(outputs, is_outputs_tuple), _untuple(res, is_inputs_tuple)
