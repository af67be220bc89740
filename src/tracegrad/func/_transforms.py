"""The tape-based transforms of ``torch.func``: ``grad``, ``vjp``, ``jacrev`` and, by the
double-VJP construction, ``jvp``, ``linearize``, ``jacfwd`` and ``hessian``.

Each call of a transform is a *level*. It gives each differentiated input a fresh tensor object
(a ``view_as`` alias when the input already requires grad in the caller's graph, else a detached
leaf), runs the function, and differentiates with ``autograd.grad`` with respect to those fresh
objects only, so a level never differentiates with respect to another level's variables (no
perturbation confusion). Before differentiating, the level walks the forward graph: if it reaches
a leaf that is not one of its own inputs (an outer level's variable, a captured parameter, an
input that required grad), the gradients are computed with ``create_graph=True`` and stay
connected to it; otherwise they are computed without a graph and returned detached, so
``grad(f)(x)`` on a plain ``x`` gives a tensor that does not require grad, as in PyTorch.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

import jax.numpy as jnp

from .._vmap import vmap
from ..autograd import functional as _autograd_functional
from ..autograd import grad as _autograd_grad
from ..autograd.grad_mode import enable_grad, is_grad_enabled, set_grad_enabled
from ..autograd.node import AccumulateGrad
from ..creation import ones_like, zeros_like
from ..ops import stack
from ..tensor import Tensor

# autograd.functional's vectorize=True maps with vmap, which sits in this (upper) layer.
_autograd_functional._vmap = vmap

__all__ = [
    "grad",
    "grad_and_value",
    "vjp",
    "jvp",
    "linearize",
    "jacrev",
    "jacfwd",
    "hessian",
]

# ----------------------------------------------------------------------------- pytrees


def _flatten(tree: Any) -> tuple[list, Any]:
    """Leaves of nested tuples/lists/dicts (in order) and the structure to rebuild them."""
    if isinstance(tree, (tuple, list)):
        leaves, specs = [], []
        for item in tree:
            sub, spec = _flatten(item)
            leaves += sub
            specs.append(spec)
        return leaves, (type(tree), tuple(specs))
    if isinstance(tree, dict):
        leaves, specs = [], []
        for item in tree.values():
            sub, spec = _flatten(item)
            leaves += sub
            specs.append(spec)
        return leaves, (dict, (tuple(tree), tuple(specs)))
    return [tree], None


def _unflatten(leaves: list, spec: Any) -> Any:
    it = iter(leaves)

    def build(s):
        if s is None:
            return next(it)
        kind, rest = s
        if kind is dict:
            keys, specs = rest
            return {k: build(c) for k, c in zip(keys, specs)}
        return kind(build(c) for c in rest)

    return build(spec)


def _tree_map(fn: Callable, tree: Any) -> Any:
    leaves, spec = _flatten(tree)
    return _unflatten([fn(x) for x in leaves], spec)


# ----------------------------------------------------------------------------- argnums


def _wrap_argnum(argnum: Any, num_args: int) -> int:
    if not isinstance(argnum, int):
        raise RuntimeError(f"argnum must be int, got: {type(argnum)}")
    if 0 <= argnum < num_args:
        return argnum
    if -num_args <= argnum < 0:
        return argnum + num_args
    raise RuntimeError(f"Got argnum={argnum}, but only {num_args} positional inputs")


def _argnums(argnums: Any, num_args: int) -> tuple[int, ...]:
    """``argnums`` validated as PyTorch does, as a tuple of non-negative positions."""
    if not isinstance(argnums, (int, tuple)):
        raise RuntimeError(f"argnums must be int or Tuple[int, ...], got: {type(argnums)}")
    if isinstance(argnums, int):
        return (_wrap_argnum(argnums, num_args),)
    wrapped = tuple(_wrap_argnum(a, num_args) for a in argnums)
    if len(wrapped) == 0:
        raise RuntimeError("argnums must be non-empty")
    if len(set(wrapped)) != len(wrapped):
        raise RuntimeError(f"argnums elements must be unique, got {argnums}")
    return wrapped


# ----------------------------------------------------------------------------- levels


class _Level:
    """One application of a transform: fresh differentiable stand-ins for its inputs."""

    def __init__(self, leaves: list):
        self.grad_on = is_grad_enabled()
        self.inputs = [self._fresh(x) for x in leaves]
        self.own = {id(x) for x in self.inputs}

    def _fresh(self, x: Any) -> Tensor:
        if not isinstance(x, Tensor):
            raise ValueError(f"Thing passed to transform API must be Tensor, got {type(x)}")
        if self.grad_on and x.requires_grad:
            return x.view_as(x)
        return x.detach().requires_grad_()  # raises PyTorch's error for integer tensors

    def keeps_graph(self, outputs: list) -> bool:
        """Whether ``outputs`` depend on a tensor requiring grad outside this level (then the
        results must stay differentiable with respect to it)."""
        if not self.grad_on:
            return False
        stack_ = [o.grad_fn for o in outputs if isinstance(o, Tensor) and o.grad_fn is not None]
        for o in outputs:
            if isinstance(o, Tensor) and o.grad_fn is None and o.requires_grad:
                if id(o) not in self.own:
                    return True
        seen = set()
        while stack_:
            node = stack_.pop()
            if id(node) in seen:
                continue
            seen.add(id(node))
            if isinstance(node, AccumulateGrad):
                if id(node.variable) not in self.own:
                    return True
                continue
            stack_.extend(c for c, _ in node.next_functions if c is not None)
        return False


def _grads(outputs, inputs, grad_outputs, create_graph: bool) -> list:
    """``autograd.grad`` over the outputs that require grad, zeros for inputs not reached."""
    pairs = [
        (o, g) for o, g in zip(outputs, grad_outputs) if isinstance(o, Tensor) and o.requires_grad
    ]
    if not pairs:
        res = [None] * len(inputs)
    else:
        with set_grad_enabled(create_graph or is_grad_enabled()):
            res = list(
                _autograd_grad(
                    [o for o, _ in pairs],
                    inputs,
                    [g for _, g in pairs],
                    retain_graph=True,
                    create_graph=create_graph,
                    allow_unused=True,
                )
            )
    return [zeros_like(x) if g is None else g for g, x in zip(res, inputs)]


def _finish(tree: Any, keep: bool) -> Any:
    """Results of a level: detached unless the level keeps the caller's graph."""
    if keep:
        return tree
    return _tree_map(lambda t: t.detach() if isinstance(t, Tensor) else t, tree)


def _call(func, args, kwargs, positions, level_inputs, specs):
    """``func`` with the arguments at ``positions`` replaced by the level's fresh inputs."""
    new_args = list(args)
    start = 0
    for pos, (n, spec) in zip(positions, specs):
        new_args[pos] = _unflatten(level_inputs[start : start + n], spec)
        start += n
    with enable_grad():
        return func(*new_args, **kwargs)


def _split_aux(output, has_aux: bool, api: str):
    if not has_aux:
        return output, None
    if not (isinstance(output, tuple) and len(output) == 2):
        raise RuntimeError(
            f"{api}: output of function f should be a tuple: (output, aux) if has_aux is True"
        )
    return output


def _setup(args, argnums):
    positions = _argnums(argnums, len(args))
    flats = [_flatten(args[p]) for p in positions]
    leaves = [x for f, _ in flats for x in f]
    specs = [(len(f), s) for f, s in flats]
    return positions, leaves, specs


def _regroup(flat: list, specs, argnums) -> Any:
    """Per-input results shaped like the differentiated arguments (a tuple for tuple argnums)."""
    out, start = [], 0
    for n, spec in specs:
        out.append(_unflatten(flat[start : start + n], spec))
        start += n
    return out[0] if isinstance(argnums, int) else tuple(out)


# ----------------------------------------------------------------------------- reverse mode


def grad_and_value(func: Callable, argnums: int | tuple[int, ...] = 0, has_aux: bool = False):
    """A function returning ``(gradient, value)`` of the scalar function ``func`` with respect
    to the arguments at ``argnums`` (``(gradient, (value, aux))`` with ``has_aux``). Arguments
    may be pytrees (tuples, lists, dicts) of floating-point tensors; the gradient has their
    structure (a tuple of them for tuple ``argnums``). As ``torch.func.grad_and_value``."""

    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        positions, leaves, specs = _setup(args, argnums)
        level = _Level(leaves)
        output = _call(func, args, kwargs, positions, level.inputs, [(n, s) for n, s in specs])
        output, aux = _split_aux(output, has_aux, "grad_and_value(f)(*args)")
        if not isinstance(output, Tensor):
            raise RuntimeError(
                f"grad_and_value(f)(*args): Expected f(*args) to return a Tensor, got {type(output)}"
            )
        if output.dim() != 0:
            raise RuntimeError(
                "grad_and_value(f)(*args): Expected f(*args) to return a scalar Tensor, got "
                f"tensor with {output.dim()} dims. Maybe you wanted to use the vjp or jacrev "
                "APIs instead?"
            )
        keep = level.keeps_graph([output] + _flatten(aux)[0])
        grads = _grads([output], level.inputs, [None], keep)
        grads = _finish(_regroup(grads, specs, argnums), keep)
        value = _finish(output, keep)
        if has_aux:
            return grads, (value, _finish(aux, keep))
        return grads, value

    return wrapper


def grad(func: Callable, argnums: int | tuple[int, ...] = 0, has_aux: bool = False):
    """A function returning the gradient of the scalar function ``func`` with respect to the
    arguments at ``argnums`` (``(gradient, aux)`` with ``has_aux``). Composes with itself and
    the other transforms: ``grad(grad(f))`` is the second derivative. As ``torch.func.grad``."""
    gv = grad_and_value(func, argnums, has_aux)

    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        g, value = gv(*args, **kwargs)
        return (g, value[1]) if has_aux else g

    return wrapper


def vjp(func: Callable, *primals, has_aux: bool = False):
    """``(output, vjp_fn)`` (``(output, vjp_fn, aux)`` with ``has_aux``): ``func(*primals)`` and
    a function mapping cotangents shaped like the output to a tuple of gradients, one per primal.
    ``vjp_fn`` may be called many times. As ``torch.func.vjp``."""
    level = _Level(_flatten(primals)[0])
    specs = [_flatten(p) for p in primals]
    output = _call(
        func, primals, {}, range(len(primals)), level.inputs, [(len(f), s) for f, s in specs]
    )
    output, aux = _split_aux(output, has_aux, "vjp(f, *primals)")
    flat_out, out_spec = _flatten(output)
    for o in flat_out:
        if not isinstance(o, Tensor):
            raise RuntimeError(
                "vjp(f, *primals): expected f(*primals) to return only tensors, got "
                f"unsupported type {type(o)}"
            )
        if not (o.is_floating_point() or o.is_complex()):
            raise RuntimeError(
                "vjp(f, ...): All outputs of f must be floating-point or complex Tensors, got "
                f"Tensor with dtype {o.dtype}"
            )
    keep = level.keeps_graph(flat_out + _flatten(aux)[0])

    def vjp_fn(cotangents, retain_graph: bool = True, create_graph: bool | None = None):
        flat_ct, ct_spec = _flatten(cotangents)
        if ct_spec != out_spec:
            raise RuntimeError(
                "Expected pytree structure of cotangents to be the same as pytree structure of "
                f"outputs to the function. cotangents: {ct_spec}, primal output: {out_spec}"
            )
        for i, (o, c) in enumerate(zip(flat_out, flat_ct)):
            if c.shape != o.shape:
                raise RuntimeError(
                    f"Mismatch in shape: grad_output[{i}] has a shape of {c.shape} and "
                    f"output[{i}] has a shape of {o.shape}."
                )
        g = _grads(flat_out, level.inputs, flat_ct, keep or bool(create_graph))
        return _finish(tuple(_unflatten_primals(g, specs)), keep or bool(create_graph))

    result = (_finish(output, keep), vjp_fn)
    return result + (_finish(aux, keep),) if has_aux else result


def _unflatten_primals(flat, specs):
    start = 0
    for f, s in specs:
        yield _unflatten(flat[start : start + len(f)], s)
        start += len(f)


def _jacobian_blocks(flat_out, inputs, rows_of) -> list[list[Tensor]]:
    """``blocks[i][j] = d out_i / d input_j`` shaped ``out_i.shape + input_j.shape``."""
    blocks = []
    for i, out in enumerate(flat_out):
        rows = rows_of(i, out)  # rows[j]: list of gradients, one per element of out_i
        blocks.append(
            [
                (stack(r) if r else x.new_zeros((0, *x.shape))).reshape(
                    tuple(out.shape) + tuple(x.shape)
                )
                for r, x in zip(rows, inputs)
            ]
        )
    return blocks


def _identity_basis(parts: list) -> list[Tensor]:
    """The identity over all the elements of ``parts`` (concatenated), split per part: entry
    ``i`` is shaped ``(total, *parts[i].shape)`` in ``parts[i]``'s dtype, so row ``r`` is the
    ``r``-th one-hot vector of the concatenation."""
    total = sum(p.numel() for p in parts)
    out, start = [], 0
    for p in parts:
        n = p.numel()
        eye = jnp.eye(total, n, k=-start, dtype=p.dtype.np)
        out.append(Tensor._wrap(eye.reshape((total, *p.shape))))
        start += n
    return out


def _rows_by_vmap(flat_out: list, inputs: list, chunk_size: int | None) -> list[list[Tensor]]:
    """``blocks[i][j] = d out_i / d input_j``: one ``vmap`` of the (detached) vector-Jacobian
    product over the identity basis of all the outputs, ``chunk_size`` rows at a time."""

    def vjp_rows(*cotangents):
        return tuple(_grads(flat_out, inputs, list(cotangents), False))

    rows = vmap(vjp_rows, chunk_size=chunk_size)(*_identity_basis(flat_out))
    blocks, start = [], 0
    for out in flat_out:
        n = out.numel()
        blocks.append(
            [
                r[start : start + n].reshape(tuple(out.shape) + tuple(x.shape))
                for r, x in zip(rows, inputs)
            ]
        )
        start += n
    return blocks


def jacrev(
    func: Callable,
    argnums: int | tuple[int, ...] = 0,
    *,
    has_aux: bool = False,
    chunk_size: int | None = None,
    _preallocate_and_copy: bool = False,
):
    """A function returning the Jacobian of ``func`` with respect to the arguments at
    ``argnums``, by reverse mode. As PyTorch's, the rows come from one ``vmap`` of the
    vector-Jacobian product over the identity basis of the outputs (tracegrad's own rules run
    once, on a batch of cotangents), ``chunk_size`` rows at a time (all at once when None). When
    the Jacobian must stay differentiable (it depends on an outer transform's variable or a
    tensor that requires grad, as the inner ``jacrev`` of ``hessian`` or ``jacrev(jacrev(f))``
    does), the rows are computed one reverse pass each in a Python loop instead: a mapped call
    records one first-order node (docs/vmap.md), not the graph a second derivative needs. The
    result nests the output structure outside the input structure; each block is shaped
    ``output.shape + input.shape``. As ``torch.func.jacrev``."""
    if not (chunk_size is None or chunk_size > 0):
        raise ValueError("jacrev: `chunk_size` should be greater than 0.")

    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        positions, leaves, specs = _setup(args, argnums)
        level = _Level(leaves)
        output = _call(func, args, kwargs, positions, level.inputs, specs)
        output, aux = _split_aux(output, has_aux, "vjp(f, *primals)")
        flat_out, out_spec = _flatten(output)
        _check_outputs(flat_out, "jacrev(f, ...)(*args)")
        keep = level.keeps_graph(flat_out + _flatten(aux)[0])

        if keep:

            def rows_of(i, out):
                flat = out.reshape(-1)
                rows = [[] for _ in level.inputs]
                for k in range(out.numel()):
                    g = _grads([flat[k]], level.inputs, [None], keep)
                    for r, gk in zip(rows, g):
                        r.append(gk)
                return rows

            blocks = _jacobian_blocks(flat_out, level.inputs, rows_of)
        else:
            blocks = _rows_by_vmap(flat_out, level.inputs, chunk_size)
        jac = _unflatten([_regroup(b, specs, argnums) for b in blocks], out_spec)
        jac = _finish(jac, keep)
        return (jac, _finish(aux, keep)) if has_aux else jac

    return wrapper


def _check_outputs(flat_out, api):
    if not flat_out:
        raise RuntimeError(f"{api}: Expected f to be a function that has non-empty output")
    for o in flat_out:
        if not isinstance(o, Tensor):
            raise RuntimeError(
                f"{api}: expected f(*primals) to return only tensors, got unsupported type "
                f"{type(o)}"
            )


# ----------------------------------------------------------------------------- forward mode


class _Linearized:
    """The first reverse pass of the double-VJP construction, kept for many tangents.

    ``g(u) = J^T u`` is computed once with a graph, for dummy cotangents ``u`` that require
    grad; ``J v`` is then the gradient of ``<g(u), v>`` with respect to ``u``: one more reverse
    pass per tangent, through ``g``'s graph. ``g`` is linear in ``u``, so any ``u`` gives the same
    ``J v``; ``u`` is ones, not zeros, so that a rule written piecewise in the cotangent's sign
    (``logcumsumexp``'s takes ``log`` of its positive and negative parts) is differentiated
    inside a branch, not at the kink at 0 where every branch is constant.
    """

    def __init__(self, flat_out: list, inputs: list, keep: bool):
        self.flat_out, self.inputs, self.keep = flat_out, inputs, keep
        with enable_grad():
            self.dummies = [
                ones_like(o).requires_grad_() if isinstance(o, Tensor) and o.requires_grad else None
                for o in flat_out
            ]
            live = [(o, u) for o, u in zip(flat_out, self.dummies) if u is not None]
            self.vjps = (
                _grads([o for o, _ in live], inputs, [u for _, u in live], True) if live else []
            )
        self.live = [u for u in self.dummies if u is not None]

    def __call__(self, tangents: list) -> list:
        if self.live:
            res = _grads(self.vjps, self.live, tangents, self.keep)
        else:
            res = []
        it = iter(res)
        return [
            next(it) if u is not None else zeros_like(o)
            for o, u in zip(self.flat_out, self.dummies)
        ]


def _check_tangents(flat_primals, flat_tangents):
    for idx, (p, t) in enumerate(zip(flat_primals, flat_tangents)):
        if t.shape != p.shape:
            raise RuntimeError(
                f"tangent:{idx} with shape {t.shape} in flattened pytree doesn't match the "
                f"shape {p.shape} of the corresponding primal."
            )
        if t.dtype != p.dtype:
            raise RuntimeError(
                f"tangent:{idx} with dtype {t.dtype} in flattened pytree doesn't match the "
                f"dtype {p.dtype} of the corresponding primal."
            )


_JVP = "jvp(f, primals, tangents)"


def jvp(
    func: Callable, primals: Any, tangents: Any, *, strict: bool = False, has_aux: bool = False
):
    """``(output, jvp_out)`` (``(output, jvp_out, aux)`` with ``has_aux``): ``func(*primals)``
    and its Jacobian-vector product with ``tangents``, shaped like the output. Computed by the
    double-VJP construction: two reverse passes (the first with ``create_graph=True``) instead
    of a forward-mode pass. As ``torch.func.jvp``."""
    if not isinstance(primals, (tuple, list)):
        raise RuntimeError(
            f"{_JVP}: Expected primals to be a tuple. E.g. it should be valid to call f(*primals)."
        )
    if strict:
        raise RuntimeError("jvp(f, primals, tangents, strict=True): strict=True is not implemented")
    flat_p, p_spec = _flatten(tuple(primals))
    flat_t, t_spec = _flatten(tuple(tangents) if isinstance(tangents, list) else tangents)
    if p_spec != t_spec:
        raise RuntimeError(
            f"{_JVP}: Expected primals and tangents to have the same python structure. For "
            "example, if primals is a tuple of 3 tensors, tangents also must be. Got primals "
            f"with structure {p_spec} and tangents with structure {t_spec}"
        )
    for name, flat in (("primals", flat_p), ("tangents", flat_t)):
        if not flat:
            raise RuntimeError(f"{_JVP}: Expected {name} to contain at least one Tensor.")
        for x in flat:
            if not isinstance(x, Tensor):
                raise RuntimeError(
                    f"{_JVP}: Expected {name} to only contain Tensors, got {type(x)}"
                )
    _check_tangents(flat_p, flat_t)
    level = _Level(flat_p)
    specs = [_flatten(p) for p in primals]
    output = _call(
        func, tuple(primals), {}, range(len(primals)), level.inputs, [(len(f), s) for f, s in specs]
    )
    output, aux = _split_aux(output, has_aux, _JVP)
    flat_out, out_spec = _flatten(output)
    _check_outputs(flat_out, _JVP)
    keep = level.keeps_graph(flat_out + _flatten(aux)[0])
    tangent_out = _Linearized(flat_out, level.inputs, keep)(flat_t)
    result = (_finish(output, keep), _finish(_unflatten(tangent_out, out_spec), keep))
    return result + (_finish(aux, keep),) if has_aux else result


def linearize(func: Callable, *primals) -> tuple[Any, Callable]:
    """``(output, jvp_fn)``: ``func(*primals)`` and a function ``jvp_fn(*tangents)`` giving its
    Jacobian-vector products at ``primals``. The first reverse pass of the double-VJP
    construction runs once here; each ``jvp_fn`` call is one more reverse pass. As
    ``torch.func.linearize``."""
    level = _Level(_flatten(primals)[0])
    specs = [_flatten(p) for p in primals]
    output = _call(
        func, primals, {}, range(len(primals)), level.inputs, [(len(f), s) for f, s in specs]
    )
    flat_out, out_spec = _flatten(output)
    _check_outputs(flat_out, "linearize")
    keep = level.keeps_graph(flat_out)
    lin = _Linearized(flat_out, level.inputs, keep)
    p_spec = _flatten(primals)[1]

    def jvp_fn(*tangents):
        flat_t, t_spec = _flatten(tangents)
        if t_spec != p_spec:
            raise RuntimeError(
                f"Expected the tangents {t_spec} to have the same argspec as the primals {p_spec}"
            )
        _check_tangents(level.inputs, flat_t)
        return _finish(_unflatten(lin(flat_t), out_spec), keep)

    return _finish(output, keep), jvp_fn


def jacfwd(
    func: Callable,
    argnums: int | tuple[int, ...] = 0,
    has_aux: bool = False,
    *,
    randomness: str = "error",
):
    """A function returning the Jacobian of ``func`` with respect to the arguments at
    ``argnums``, by forward mode: the Jacobian-vector products by the double-VJP construction
    (one shared first reverse pass, recorded), and the columns from one ``vmap`` of the second
    reverse pass over the identity basis of the inputs (``randomness`` is passed to it). When
    the Jacobian must stay differentiable (it depends on an outer transform's variable or a
    tensor that requires grad) the columns are computed one reverse pass each in a Python loop
    instead, as in ``jacrev``. Same result structure as ``jacrev``. As ``torch.func.jacfwd``."""
    if randomness not in ("error", "different", "same"):
        raise RuntimeError(
            "Only allowed values for randomness are 'error', 'different', or 'same'. "
            f"Got {randomness}"
        )

    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        positions, leaves, specs = _setup(args, argnums)
        level = _Level(leaves)
        output = _call(func, args, kwargs, positions, level.inputs, specs)
        output, aux = _split_aux(output, has_aux, _JVP)
        flat_out, out_spec = _flatten(output)
        _check_outputs(flat_out, _JVP)
        keep = level.keeps_graph(flat_out + _flatten(aux)[0])
        lin = _Linearized(flat_out, level.inputs, keep)
        if keep:
            cols = _columns_by_loop(lin, flat_out, level.inputs)
        else:
            cols = _columns_by_vmap(lin, flat_out, level.inputs, randomness)
        blocks = []
        for i, out in enumerate(flat_out):
            row = []
            for j, x in enumerate(level.inputs):
                # cols[i][j]: the columns of d out_i / d input_j, stacked first.
                c = cols[i][j].reshape(x.numel(), out.numel()).transpose(0, 1)
                row.append(c.reshape(tuple(out.shape) + tuple(x.shape)))
            blocks.append(row)
        jac = _unflatten([_regroup(b, specs, argnums) for b in blocks], out_spec)
        jac = _finish(jac, keep)
        return (jac, _finish(aux, keep)) if has_aux else jac

    return wrapper


def _columns_by_vmap(lin: _Linearized, flat_out: list, inputs: list, randomness: str) -> list:
    """``cols[i][j]``: the Jacobian-vector products of out_i for the one-hot tangents of input
    ``j``, shaped ``(input_j.numel(), *out_i.shape)``: one ``vmap`` of ``lin`` over the identity
    basis of all the inputs."""

    def jvps(*tangents):
        return tuple(lin(list(tangents)))

    res = vmap(jvps, randomness=randomness)(*_identity_basis(inputs))
    cols = []
    for r in res:
        row, start = [], 0
        for x in inputs:
            row.append(r[start : start + x.numel()])
            start += x.numel()
        cols.append(row)
    return cols


def _columns_by_loop(lin: _Linearized, flat_out: list, inputs: list) -> list:
    """As ``_columns_by_vmap``, one reverse pass per column (results that keep a graph)."""
    cols = [[[] for _ in inputs] for _ in flat_out]
    for j, x in enumerate(inputs):
        for k in range(x.numel()):
            basis = [zeros_like(y) for y in inputs]
            basis[j] = _one_hot(x, k)
            for i, t in enumerate(lin(basis)):
                cols[i][j].append(t)
    return [
        [stack(c) if c else out.new_zeros((0, *out.shape)) for c in per_out]
        for out, per_out in zip(flat_out, cols)
    ]


def _one_hot(x: Tensor, k: int) -> Tensor:
    e = zeros_like(x, requires_grad=False).reshape(-1)
    e[k] = 1
    return e.reshape(x.shape)


def hessian(func: Callable, argnums: int | tuple[int, ...] = 0):
    """A function returning the Hessian of the scalar function ``func`` with respect to the
    arguments at ``argnums``: ``jacfwd(jacrev(func, argnums), argnums)``, forward over reverse
    (each forward column by the double-VJP construction). As ``torch.func.hessian``."""
    return jacfwd(jacrev(func, argnums), argnums)
