"""Linear algebra: ``matmul`` (``@``), ``mm``, ``bmm``, ``dot``, ``mv``, ``outer``, ``addmm``,
``baddbmm``, ``tensordot`` and ``einsum``.

Every product lowers to ``jnp.matmul``/``jnp.einsum`` (XLA's dot_general), and every rule is again
a product (``dA = G B^T``, ``dB = A^T G``), so gradients of gradients work. Rules skip the
gradient of an operand that does not require grad (it would be thrown away).
"""

from __future__ import annotations

import math
import string

import jax.numpy as jnp
from jax import lax

from .._dtype import cpp_type_name, scalar_type_name
from .._surface import expose
from ..creation import eye
from ..tensor import Tensor, _wrap_dim
from .broadcast import _infer_size
from .registry import autocast_entry, defop, needs_grad
from .shape import _expanded_shape, _reshape

__all__ = [
    "matmul",
    "mm",
    "bmm",
    "dot",
    "mv",
    "outer",
    "ger",
    "addmm",
    "baddbmm",
    "tensordot",
    "einsum",
]


def _shape_str(shape) -> str:
    return "x".join(str(s) for s in shape)


def _check_same_dtype(a: Tensor, b: Tensor) -> None:
    if a.dtype != b.dtype:
        raise RuntimeError(
            f"expected m1 and m2 to have the same dtype, but got: {cpp_type_name(a.dtype)} != "
            f"{cpp_type_name(b.dtype)}"
        )


def _check_mm(a: Tensor, b: Tensor) -> None:
    _check_same_dtype(a, b)
    if a.shape[1] != b.shape[0]:
        raise RuntimeError(
            f"mat1 and mat2 shapes cannot be multiplied ({_shape_str(a.shape)} and "
            f"{_shape_str(b.shape)})"
        )


# -------------------------------------------------------------------------------------------- mm
@defop("MmBackward0")
def _mm(a, b):
    return jnp.matmul(a, b)


@_mm.vjp
def _(g, out, a, b):
    return (_mm(g, b.t()) if needs_grad(a) else None, _mm(a.t(), g) if needs_grad(b) else None)


@expose
def mm(input: Tensor, mat2: Tensor) -> Tensor:
    """The matrix product of two 2-D tensors, ``(n, k) @ (k, m) -> (n, m)``."""
    if input.ndim != 2:
        raise RuntimeError("self must be a matrix")
    if mat2.ndim != 2:
        raise RuntimeError("mat2 must be a matrix")
    _check_mm(input, mat2)
    return _mm(input, mat2)


# ------------------------------------------------------------------------------------------- bmm
@defop("BmmBackward0")
def _bmm(a, b):
    return jnp.matmul(a, b)


@_bmm.vjp
def _(g, out, a, b):
    ga = _bmm(g, b.transpose(1, 2)) if needs_grad(a) else None
    return ga, _bmm(a.transpose(1, 2), g) if needs_grad(b) else None


def _check_bmm(a: Tensor, b: Tensor, names=("batch1", "batch2")) -> None:
    if a.ndim != 3:
        raise RuntimeError(f"{names[0]} must be a 3D tensor")
    if b.ndim != 3:
        raise RuntimeError(f"{names[1]} must be a 3D tensor")
    if a.dtype != b.dtype:
        raise RuntimeError(
            f"expected scalar type {scalar_type_name(a.dtype)} but found {scalar_type_name(b.dtype)}"
        )
    if b.shape[0] != a.shape[0] or b.shape[1] != a.shape[2]:
        raise RuntimeError(
            f"Expected size for first two dimensions of {names[1]} tensor to be: "
            f"[{a.shape[0]}, {a.shape[2]}] but got: [{b.shape[0]}, {b.shape[1]}]."
        )


@expose
def bmm(input: Tensor, mat2: Tensor) -> Tensor:
    """Batched matrix product of two 3-D tensors, ``(b, n, k) @ (b, k, m) -> (b, n, m)``; no
    broadcasting (use ``matmul`` for that)."""
    _check_bmm(input, mat2)
    return _bmm(input, mat2)


# ------------------------------------------------------------------------------------------- dot
@defop("DotBackward0")
def _dot(a, b):
    return jnp.dot(a, b)


@_dot.vjp
def _(g, out, a, b):
    return (g * b if needs_grad(a) else None, g * a if needs_grad(b) else None)


@expose
def dot(input: Tensor, tensor: Tensor) -> Tensor:
    """The inner product of two 1-D tensors of the same size (a 0-d tensor)."""
    if input.ndim != 1 or tensor.ndim != 1:
        raise RuntimeError(f"1D tensors expected, but got {input.ndim}D and {tensor.ndim}D tensors")
    if input.dtype != tensor.dtype:
        raise RuntimeError(
            "dot : expected both vectors to have same dtype, but found "
            f"{scalar_type_name(input.dtype)} and {scalar_type_name(tensor.dtype)}"
        )
    if input.shape[0] != tensor.shape[0]:
        n, m = input.shape[0], tensor.shape[0]
        raise RuntimeError(
            f"inconsistent tensor size, expected tensor [{n}] and src [{m}] to have the same "
            f"number of elements, but got {n} and {m} elements respectively"
        )
    return _dot(input, tensor)


# -------------------------------------------------------------------------------------------- mv
@defop("MvBackward0")
def _mv(a, v):
    return jnp.matmul(a, v)


@_mv.vjp
def _(g, out, a, v):
    ga = g.unsqueeze(1) * v if needs_grad(a) else None  # the outer product g v^T
    return ga, _mv(a.t(), g) if needs_grad(v) else None


@expose
def mv(input: Tensor, vec: Tensor) -> Tensor:
    """Matrix-vector product, ``(n, k) @ (k,) -> (n,)``."""
    if input.ndim != 2 or vec.ndim != 1:
        raise RuntimeError(f"vector + matrix @ vector expected, got 1, {input.ndim}, {vec.ndim}")
    _check_same_dtype(input, vec)
    if input.shape[1] != vec.shape[0]:
        raise RuntimeError(
            f"size mismatch, got input ({input.shape[0]}), mat ({_shape_str(input.shape)}), "
            f"vec ({vec.shape[0]})"
        )
    return _mv(input, vec)


# ---------------------------------------------------------------------------------------- outer
@expose
def outer(input: Tensor, vec2: Tensor) -> Tensor:
    """The outer product of two 1-D tensors, ``(n,) x (m,) -> (n, m)`` (a broadcast product, as
    in PyTorch, so its ``grad_fn`` is ``MulBackward0``)."""
    if input.ndim != 1 or vec2.ndim != 1:
        raise RuntimeError(
            f"outer: Expected 1-D argument self, but got {input.ndim}-D"
            if input.ndim != 1
            else f"outer: Expected 1-D argument vec2, but got {vec2.ndim}-D"
        )
    return input.reshape(-1, 1) * vec2


ger = expose(outer, methods=("ger",))


# ---------------------------------------------------------------------------------------- matmul
# Both operands at least 2-D, at least one more: batch dimensions broadcast. The rule's products
# have the broadcast batch shape; the engine sums them back to each operand's shape. PyTorch
# computes this case by a reshaped bmm and reports UnsafeViewBackward0.
@defop("UnsafeViewBackward0")
def _matmul(a, b):
    return jnp.matmul(a, b)


@_matmul.vjp
def _(g, out, a, b):
    return (
        _matmul(g, b.mT) if needs_grad(a) else None,
        _matmul(a.mT, g) if needs_grad(b) else None,
    )


@expose(operators=("__matmul__",))
def matmul(input: Tensor, other: Tensor) -> Tensor:
    """The matrix product with NumPy's rules: 1-D @ 1-D is a dot product, a 1-D operand is a row
    (left) or column (right) vector that is removed from the result, and dimensions before the
    last two are batch dimensions that broadcast."""
    if not isinstance(input, Tensor) or not isinstance(other, Tensor):
        raise TypeError(
            f"matmul(): argument 'other' must be Tensor, not {type(other).__name__}"
            if isinstance(input, Tensor)
            else f"matmul(): argument 'input' must be Tensor, not {type(input).__name__}"
        )
    d1, d2 = input.ndim, other.ndim
    if d1 == 0 or d2 == 0:
        raise RuntimeError(
            f"both arguments to matmul need to be at least 1D, but they are {d1}D and {d2}D"
        )
    if d1 == 1 and d2 == 1:
        return dot(input, other)
    if d1 == 2 and d2 == 1:
        return mv(input, other)
    if d1 == 1 and d2 == 2:
        _check_mm(input.unsqueeze(0), other)
        r = _mm(input.unsqueeze(0), other)
        return _reshape(r, shape=(other.shape[1],), name="SqueezeBackward4")
    if d1 == 2 and d2 == 2:
        return mm(input, other)
    # Batched: treat a 1-D operand as a matrix, multiply, then drop that dimension again.
    a = input.unsqueeze(0) if d1 == 1 else input
    b = other.unsqueeze(-1) if d2 == 1 else other
    _check_same_dtype(a, b)
    if a.shape[-1] != b.shape[-2]:
        if b.ndim == 2:  # PyTorch folds the batch into one mm
            folded = (math.prod(a.shape[:-1]), a.shape[-1])
            raise RuntimeError(
                f"mat1 and mat2 shapes cannot be multiplied ({_shape_str(folded)} and "
                f"{_shape_str(b.shape)})"
            )
        batch = math.prod(_infer_size(tuple(a.shape[:-2]), tuple(b.shape[:-2])))
        raise RuntimeError(
            f"Expected size for first two dimensions of batch2 tensor to be: "
            f"[{batch}, {a.shape[-1]}] but got: [{batch}, {b.shape[-2]}]."
        )
    _infer_size(tuple(a.shape[:-2]), tuple(b.shape[:-2]))
    r = _matmul(a, b)
    if d1 == 1:
        r = r.squeeze(-2)
    if d2 == 1:
        r = r.squeeze(-1)
    return r


@expose(methods=(), operators=("__rmatmul__",))
def _rmatmul(self: Tensor, other) -> Tensor:
    """``other @ self``; ``other`` may be array-like."""
    return matmul(other if isinstance(other, Tensor) else Tensor(other), self)


# ------------------------------------------------------------------------------ addmm, baddbmm
# beta * input + alpha * (m1 @ m2): the input's gradient is beta * g (summed back to its shape by
# the engine), the factors' are alpha times the matmul gradients. With beta == 0 the input is
# ignored (NaNs in it do not propagate), as PyTorch.
def _beta_plus_alpha(c, r, beta, alpha):
    """``beta * c + alpha * r`` on arrays, the lowering of every ``add*`` product op; with
    ``beta == 0`` ``c`` is ignored (its NaNs too), and a factor of 1 costs no multiply."""
    r = r if alpha == 1 else alpha * r
    return r if beta == 0 else (c if beta == 1 else beta * c) + r


def _times(g: Tensor, s) -> Tensor:
    """``g * s``, with no op when ``s`` is 1: a cotangent scaled by an ``add*`` op's beta or
    alpha."""
    return g if s == 1 else g * s


@defop("AddmmBackward0", saves=(1, 2))  # the addend's gradient needs only its shape
def _addmm(c, a, b, *, beta, alpha):
    return _beta_plus_alpha(c, jnp.matmul(a, b), beta, alpha)


@_addmm.vjp
def _(g, out, c, a, b, *, beta, alpha):
    gr = _times(g, alpha)
    return (
        _times(g, beta) if needs_grad(c) else None,
        _mm(gr, b.t()) if needs_grad(a) else None,
        _mm(a.t(), gr) if needs_grad(b) else None,
    )


# ------------------------------------------------------------------------------------ linear
# input @ weight.T + bias as one contraction over the weight's second axis, so no transposed copy
# of the weight is made (an eager ``weight.t()`` materialises one on every call). PyTorch records
# a 2-D ``F.linear`` with a bias as ``addmm``, hence the node's name.
@defop("AddmmBackward0", saves=(0, 1), fuse=True)
def _linear(x, w, b):
    return lax.dot_general(x, w, (((1,), (1,)), ((), ()))) + b


@_linear.vjp
def _(g, out, x, w, b):
    return (
        _mm(g, w) if needs_grad(x) else None,
        _mm(g.t(), x) if needs_grad(w) else None,
        g if needs_grad(b) else None,  # summed back to the bias's shape by the engine
    )


def linear_2d(input: Tensor, weight: Tensor, bias: Tensor) -> Tensor:
    """``F.linear`` for a 2-D ``input`` with a ``bias`` (validated as PyTorch's ``addmm``)."""
    _check_same_dtype(input, weight)
    if weight.ndim != 2 or input.shape[1] != weight.shape[1]:
        wt = tuple(reversed(weight.shape))
        raise RuntimeError(
            f"mat1 and mat2 shapes cannot be multiplied ({_shape_str(input.shape)} and "
            f"{_shape_str(wt)})"
        )
    _check_addend(bias, (input.shape[0], weight.shape[0]), weight)
    return _linear(input, weight, bias)


@defop("BaddbmmBackward0", saves=(1, 2))
def _baddbmm(c, a, b, *, beta, alpha):
    return _beta_plus_alpha(c, jnp.matmul(a, b), beta, alpha)


@_baddbmm.vjp
def _(g, out, c, a, b, *, beta, alpha):
    gr = _times(g, alpha)
    return (
        _times(g, beta) if needs_grad(c) else None,
        _bmm(gr, b.transpose(1, 2)) if needs_grad(a) else None,
        _bmm(a.transpose(1, 2), gr) if needs_grad(b) else None,
    )


def _check_addend(input: Tensor, out_shape: tuple, operand: Tensor) -> None:
    _expanded_shape(input, out_shape)  # raises PyTorch's expand error if it cannot broadcast
    if input.dtype != operand.dtype:
        raise RuntimeError(
            f"self and mat2 must have the same dtype, but got {scalar_type_name(input.dtype)} and "
            f"{scalar_type_name(operand.dtype)}"
        )


@expose(inplace=True)
def addmm(input: Tensor, mat1: Tensor, mat2: Tensor, *, beta=1, alpha=1) -> Tensor:
    """``beta * input + alpha * (mat1 @ mat2)`` for 2-D ``mat1``, ``mat2``; ``input`` broadcasts
    to the product's shape."""
    if mat1.ndim != 2:
        raise RuntimeError(f"mat1 must be a matrix, got {mat1.ndim}-D tensor")
    if mat2.ndim != 2:
        raise RuntimeError(f"mat2 must be a matrix, got {mat2.ndim}-D tensor")
    _check_mm(mat1, mat2)
    _check_addend(input, (mat1.shape[0], mat2.shape[1]), mat2)
    return _addmm(input, mat1, mat2, beta=beta, alpha=alpha)


@expose(inplace=True)
def baddbmm(input: Tensor, batch1: Tensor, batch2: Tensor, *, beta=1, alpha=1) -> Tensor:
    """``beta * input + alpha * bmm(batch1, batch2)``; ``input`` broadcasts to the product's
    shape."""
    _check_bmm(batch1, batch2)
    _check_addend(input, (batch1.shape[0], batch1.shape[1], batch2.shape[2]), batch2)
    return _baddbmm(input, batch1, batch2, beta=beta, alpha=alpha)


# ------------------------------------------------------------------------------------ tensordot
@autocast_entry("tensordot")
def tensordot(a: Tensor, b: Tensor, dims=2) -> Tensor:
    """Contract the last ``dims`` dimensions of ``a`` with the first ``dims`` of ``b`` (an int), or
    the listed pairs (``dims=([1, 0], [0, 1])``). Composed as permute, reshape, ``mm``, reshape."""
    if isinstance(dims, int):
        if dims < 0:
            raise RuntimeError(f"tensordot expects dims >= 0, but got dims={dims}")
        da, db = list(range(a.ndim - dims, a.ndim)), list(range(dims))
    else:
        da, db = ([d] if isinstance(d, int) else list(d) for d in dims)
    if len(da) != len(db):
        raise RuntimeError("both dimension lists should have same length")
    da = [_wrap_dim(d, a.ndim) for d in da]
    db = [_wrap_dim(d, b.ndim) for d in db]
    for x, y in zip(da, db):
        if a.shape[x] != b.shape[y]:
            raise RuntimeError(
                f"contracted dimensions need to match, but first has size {a.shape[x]} in dim {x} "
                f"and second has size {b.shape[y]} in dim {y}"
            )
    fa = [d for d in range(a.ndim) if d not in da]
    fb = [d for d in range(b.ndim) if d not in db]
    k = math.prod(a.shape[d] for d in da)
    pa = a.permute(*fa, *da).reshape(math.prod(a.shape[d] for d in fa), k)
    pb = b.permute(*db, *fb).reshape(k, math.prod(b.shape[d] for d in fb))
    return mm(pa, pb).reshape(*[a.shape[d] for d in fa], *[b.shape[d] for d in fb])


# ---------------------------------------------------------------------------------------- einsum
# The op contracts one or two operands with an explicit equation (no ellipsis, no implicit
# output); the public ``einsum`` normalises the equation and contracts n operands pairwise, left
# to right, as PyTorch does.
#
# The rule for operand k: out = sum over the letters not in the output of prod(operands), so
# d out / d X_k is the einsum of the cotangent (with the output's letters) and the other operand,
# written to X_k's letters. Two complications:
# - a letter repeated in X_k (a diagonal, ``ii->i``): the gradient lives on that diagonal. Rename
#   each repeat to a fresh letter and add an identity matrix tying the two (a Kronecker delta).
# - a letter only in X_k (summed away, ``ij->i``): out does not depend on where along it, so the
#   gradient is the contraction without it, broadcast along it.
# The gradient is again an einsum, so the rule is differentiable to any order.
@defop("EinsumBackward0")
def _einsum(a, b, *, equation):
    return jnp.einsum(equation, a) if b is None else jnp.einsum(equation, a, b)


@_einsum.vjp
def _(g, out, a, b, *, equation):
    lhs, target = equation.split("->")
    subs = lhs.split(",")
    operands = (a, b) if b is not None else (a,)
    grads = [None, None]
    for k, x in enumerate(operands):
        if needs_grad(x):
            others = [(subs[j], operands[j]) for j in range(len(operands)) if j != k]
            grads[k] = _einsum_grad(g, target, subs[k], x, others, equation)
    return tuple(grads)


def _einsum_grad(g, target: str, sub: str, x: Tensor, others: list, equation: str) -> Tensor:
    fresh = iter(c for c in string.ascii_letters if c not in equation)
    wanted, terms = [], [(target, g), *others]
    for i, c in enumerate(sub):
        if c in sub[:i]:  # a repeat: a fresh letter, tied to the first by an identity
            new = next(fresh)
            terms.append((c + new, eye(x.shape[i], dtype=g.dtype)))
            c = new
        wanted.append(c)
    present = set("".join(s for s, _ in terms))
    kept = "".join(c for c in wanted if c in present)
    r = einsum(",".join(s for s, _ in terms) + "->" + kept, *[t for _, t in terms])
    if len(kept) == len(wanted):
        return r
    for i, c in enumerate(wanted):  # letters only in x: broadcast the gradient along them
        if c not in present:
            r = r.unsqueeze(i)
    return r.expand(*[x.shape[i] if c not in present else -1 for i, c in enumerate(wanted)])


def _parse_einsum(equation: str, operands: tuple) -> tuple[list[str], str]:
    """Expand ``...`` into fresh letters and resolve an implicit output; check against shapes."""
    eq = equation.replace(" ", "")
    lhs, arrow, rhs = eq.partition("->")
    terms = lhs.split(",")
    if len(terms) < len(operands):
        raise ValueError("einsum(): more operands were provided than specified in the equation")
    if len(terms) > len(operands):
        raise ValueError("einsum(): fewer operands were provided than specified in the equation")
    for i, ch in enumerate(eq):
        if ch not in string.ascii_letters and ch not in ".,->":
            raise ValueError(
                f"einsum(): invalid subscript given at index {i} in the equation string, "
                "subscripts must be in [a-zA-Z]"
            )
    fresh = [c for c in string.ascii_letters if c not in eq]
    ell = 0
    for k, (t, x) in enumerate(zip(terms, operands)):
        n = len(t.replace("...", ""))
        if "..." in t:
            if n > x.ndim:
                raise RuntimeError(
                    f"einsum(): the number of subscripts in the equation ({n}) is more than the "
                    f"number of dimensions ({x.ndim}) for operand {k}"
                )
            ell = max(ell, x.ndim - n)
        elif n != x.ndim:
            raise RuntimeError(
                f"einsum(): the number of subscripts in the equation ({n}) does not match the "
                f"number of dimensions ({x.ndim}) for operand {k} and no ellipsis was given"
            )
    if ell > len(fresh):
        raise RuntimeError("einsum(): too many dimensions for the available subscript letters")
    ell_letters = "".join(fresh[:ell])
    subs = [
        t.replace("...", ell_letters[ell - (x.ndim - len(t) + 3) :]) if "..." in t else t
        for t, x in zip(terms, operands)
    ]
    if arrow:
        out = rhs.replace("...", ell_letters)
        for c in out:
            if out.count(c) > 1:
                raise RuntimeError(
                    f"einsum(): output subscript {c} appears more than once in the output"
                )
            if not any(c in s for s in subs):
                raise RuntimeError(
                    f"einsum(): output subscript {c} does not appear in the equation for any "
                    "input operand"
                )
    else:
        flat = "".join(s for s in subs)
        out = ell_letters + "".join(
            sorted(c for c in set(flat) if flat.count(c) == 1 and c not in ell_letters)
        )
    sizes: dict = {}
    for k, (s, x) in enumerate(zip(subs, operands)):
        for c, n in zip(s, x.shape):
            seen = sizes.setdefault(c, n)
            if n != seen and n != 1 and seen != 1:
                raise RuntimeError(
                    f"einsum(): operands do not broadcast: subscript {c} has size {n} for operand "
                    f"{k}, which does not match the size {seen} seen before"
                )
            if seen == 1:
                sizes[c] = n
    return subs, out


def einsum(equation: str, *operands) -> Tensor:
    """Einstein summation, as ``torch.einsum``: ``einsum('bij,bjk->bik', a, b)``. Supports
    ``...``, implicit outputs (the letters used once, sorted), repeated letters (diagonals) and
    size-1 broadcasting; operands may also be passed as one list. More than two operands are
    contracted pairwise from the left. ``grad_fn`` is ``EinsumBackward0`` (PyTorch shows whatever
    view or bmm node its decomposition ends with)."""
    if len(operands) == 1 and isinstance(operands[0], (list, tuple)):
        operands = tuple(operands[0])
    if not isinstance(equation, str):
        raise NotImplementedError("einsum's sublist format is not supported; use an equation")
    if not operands:
        raise RuntimeError("einsum(): must provide at least one operand")
    subs, out = _parse_einsum(equation, operands)
    dtypes = {x.dtype for x in operands}
    if len(dtypes) > 1:
        names = " and ".join(scalar_type_name(d) for d in sorted(dtypes, key=lambda d: d.name))
        raise RuntimeError(f"einsum(): expected all operands to have the same dtype, got {names}")
    if len(operands) == 1:
        return _einsum(operands[0], None, equation=f"{subs[0]}->{out}")
    acc, acc_sub = operands[0], subs[0]
    for i in range(1, len(operands)):
        if i == len(operands) - 1:
            step_out = out
        else:  # keep the letters a later operand or the output still needs
            later = out + "".join(subs[i + 1 :])
            step_out = "".join(dict.fromkeys(c for c in acc_sub + subs[i] if c in later))
        acc = _einsum(acc, operands[i], equation=f"{acc_sub},{subs[i]}->{step_out}")
        acc_sub = step_out
    return acc
