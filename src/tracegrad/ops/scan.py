"""``scan``: a whole loop over time as one recorded op, lowered to ``lax.scan``.

The op runs a *body* written in tracegrad ops, ``body(carry, x_t, consts) -> (new_carry, y_t)``
(tuples of tensors), once per step along axis 0 of the ``xs`` leaves. Its lowering is one
``lax.scan``: the body runs on tensors that wrap the scan's tracers, with grad mode off and any
``tracegrad.compile`` trace suspended (its inner ops belong to the scan, not to the step's tape), and
the lowering is jitted with the body as a static argument, so eager calls of one body at one shape
reuse one executable. A recurrent layer is then one node, whatever its length.

Operands and output. Registry ops take positional operands and return one array. The operands
are the leaves of ``consts``, ``carry0`` and ``xs`` in that order, padded with None to
``MAX_OPERANDS`` (the registry declares saved operands by position, so a fixed arity is what lets
the node keep every leaf its rule reads); ``n_consts`` and ``n_carry`` say where the groups start.
The output is 1-d: ``T`` rows of ``S`` values each -- per step the new carry leaves flattened (when
``emit``) then the ``y`` leaves flattened -- followed by the final carry's leaves flattened (the
*tail*). ``unpack`` splits it.

The rule. Write ``c_t = f(c_{t-1}, x_t, k)`` for one step. Its VJP, run from the last step to the
first, is the same kind of loop: with ``u_t`` the cotangent reaching ``c_t`` (from step ``t + 1``
and from row ``t`` of the output), the body's VJP at ``(c_{t-1}, x_t, k)`` maps ``(u_t, g_{y_t})``
to the cotangents of ``c_{t-1}`` (the next ``u``), of ``x_t`` (a row of the result) and of ``k``
(summed over steps, so carried). So the rule is ``scan`` again, in the other direction, with the
derived body ``vjp_body(body)``, which runs ``body`` with grad enabled and takes its cotangents with
``autograd.grad(create_graph=True)``: tracegrad's own rules, traced into the backward scan. Being
tracegrad ops plus ``scan``, the rule records under ``create_graph=True`` and its own rule is
``scan`` of ``vjp_body(vjp_body(body))``: every order of derivative comes from the same code.

Why ``emit``. The backward needs ``c_{t-1}`` at every step, so a forward scan emits its carries
(``emit=True``). The backward scan's carry holds the const cotangents being summed (for an LSTM,
``W_hh``'s gradient): emitting them would store ``T`` copies of every weight. So the backward runs
with ``emit=False`` (rows hold only the ``x`` cotangents, the tail the sums), and the rule of an
``emit=False`` scan -- needed only for second order -- first recomputes its carries with a
recorded ``emit=True`` scan (checkpointing).
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence

import jax.numpy as jnp
import numpy as np
from jax import lax

from .. import _tracing
from .._grad_mode import set_grad_enabled
from ..autograd import grad as autograd_grad
from ..autograd.grad_mode import enable_grad
from ..tensor import Tensor
from .registry import defop
from .shape import cat

__all__: list[str] = []

MAX_OPERANDS = 32  # leaves of consts, carry and xs together (second order of an LSTM uses 18)


def _is_float(t) -> bool:
    """Whether ``t`` is a tensor that gradients flow through (floating point or complex)."""
    if not isinstance(t, Tensor):
        return False
    dtype = t._storage.array.dtype
    return dtype.kind in "fc" or dtype.name == "bfloat16"


def _arrays(ts, what: str) -> list:
    ts = tuple(ts) if isinstance(ts, (tuple, list)) else None
    if ts is None:
        raise TypeError(f"scan: the body must return {what} as a tuple of tensors")
    for t in ts:
        if not isinstance(t, Tensor):
            raise TypeError(
                f"scan: the body returned a {type(t).__name__} in {what}; return tensors (wrap a "
                "Python number with tracegrad.tensor)"
            )
    return [t._storage.array for t in ts]


@defop("ScanBackward0", saves=tuple(range(MAX_OPERANDS)), save_out=True, fuse=True)
def _scan(*leaves, body, n_consts, n_carry, reverse, emit):
    """``lax.scan`` of ``body`` over axis 0 of the xs leaves; the output is the per-step rows
    (new carry when ``emit``, then ys, flattened) followed by the final carry, all 1-d."""
    consts = leaves[:n_consts]
    carry0 = leaves[n_consts : n_consts + n_carry]
    xs = tuple(a for a in leaves[n_consts + n_carry :] if a is not None)
    k_t = tuple(Tensor._wrap(a) for a in consts)
    dtype = jnp.result_type(*carry0) if carry0 else None

    def step(carry, x):
        # The body's ops are the scan's: no nodes (grad off) and no entries on a compile tape.
        with set_grad_enabled(False), _tracing.suspended():
            new, ys = body(tuple(map(Tensor._wrap, carry)), tuple(map(Tensor._wrap, x)), k_t)
        new, ys = _arrays(new, "the new carry"), _arrays(ys, "y")
        if len(new) != len(carry):
            raise ValueError(
                f"scan: the body returned {len(new)} carry tensors for a carry of {len(carry)}"
            )
        for a, c in zip(new, carry):
            if a.shape != c.shape:
                raise ValueError(
                    f"scan: the body changed a carry's shape from {list(c.shape)} to "
                    f"{list(a.shape)}; a carry keeps its shape across steps"
                )
        # A carry keeps its dtype (a body may compute in a wider one, e.g. with a float64 const).
        new = tuple(a.astype(c.dtype) for a, c in zip(new, carry))
        pack = dtype if dtype is not None else (jnp.result_type(*ys) if ys else jnp.float32)
        parts = [a.ravel() for a in new] if emit else []
        parts += [a.ravel() for a in ys]
        row = jnp.concatenate([p.astype(pack) for p in parts]) if parts else jnp.zeros((0,), pack)
        return new, row

    final, rows = lax.scan(step, tuple(carry0), xs, reverse=reverse)
    tail = [a.ravel().astype(rows.dtype) for a in final]
    return jnp.concatenate([rows.ravel(), *tail])


@_scan.vjp
def _(g, out, *leaves, body, n_consts, n_carry, reverse, emit):
    consts = leaves[:n_consts]
    carry0 = leaves[n_consts : n_consts + n_carry]
    xs = tuple(a for a in leaves[n_consts + n_carry :] if a is not None)
    t_len = xs[0].shape[0]
    sizes = [c.numel() for c in carry0]
    c_total = sum(sizes)
    if not emit:  # recompute the carries (only second order differentiates such a scan)
        out = _scan(
            *leaves, body=body, n_consts=n_consts, n_carry=n_carry, reverse=reverse, emit=True
        )
    rows = _rows(out, t_len, c_total)
    prev, off = [], 0
    for c, n in zip(carry0, sizes):
        steps = rows[:, off : off + n].reshape((t_len, *c.shape))
        first = c.reshape((1, *c.shape))
        # c_{t-1}: the initial carry, then every step's new carry but the last one processed.
        if reverse:
            prev.append(_cat_steps(steps[1:], first))
        else:
            prev.append(_cat_steps(first, steps[: t_len - 1]))
        off += n
    g_rows = _rows(g, t_len, c_total)
    ct, start = [], g.shape[0] - c_total
    for c, n in zip(carry0, sizes):
        ct.append(g[start : start + n].reshape(c.shape))
        start += n
    # Only the cotangents some operand needs are computed (the carry's always: it chains).
    float_consts = [i for i, k in enumerate(consts) if _is_float(k) and k._requires_grad]
    acc = [consts[i].new_zeros(consts[i].shape) for i in float_consts]
    float_xs = [i for i, x in enumerate(xs) if _is_float(x) and x._requires_grad]
    b_leaves = (*consts, *ct, *acc, g_rows, *xs, *prev)
    b_out = scan_call(
        b_leaves,
        body=vjp_body(body, len(xs), emit, tuple(float_xs), tuple(float_consts)),
        n_consts=n_consts,
        n_carry=n_carry + len(acc),
        reverse=not reverse,
        emit=False,
    )
    # b_out: rows of the xs' cotangents, then the tail (carry0's, then the consts').
    grads: list = [None] * len(leaves)
    x_sizes = [int(np.prod(xs[i].shape[1:], dtype=np.int64)) for i in float_xs]
    x_rows = _rows(b_out, t_len, b_out.shape[0] - t_len * sum(x_sizes))
    off = 0
    for i, n in zip(float_xs, x_sizes):
        grads[n_consts + n_carry + i] = x_rows[:, off : off + n].reshape(xs[i].shape)
        off += n
    start = t_len * sum(x_sizes)
    for j, (c, n) in enumerate(zip(carry0, sizes)):
        grads[n_consts + j] = b_out[start : start + n].reshape(c.shape)
        start += n
    for i in float_consts:
        n = consts[i].numel()
        grads[i] = b_out[start : start + n].reshape(consts[i].shape)
        start += n
    return tuple(
        g if g is not None and isinstance(x, Tensor) and x._requires_grad else None
        for g, x in zip(grads, leaves)
    )


def _rows(out: Tensor, t_len: int, tail: int) -> Tensor:
    """The per-step rows of a packed scan output (or of its cotangent): ``(T, S)``."""
    n = out.shape[0] - tail
    return out[:n].reshape((t_len, n // t_len if t_len else 0))


def _cat_steps(a: Tensor, b: Tensor) -> Tensor:
    return cat([a, b], 0)


def _variable(t: Tensor) -> Tensor:
    """``t`` as something ``autograd.grad`` can differentiate with respect to: itself when it is
    already part of a graph (a derived body inside another one), else a fresh leaf of its array."""
    return t if t._requires_grad else Tensor._wrap(t._storage.array, requires_grad=True)


@functools.cache
def vjp_body(
    body: Callable, n_x: int, per_step_carry: bool, dxs: tuple = (), dconsts: tuple = ()
) -> Callable:
    """The body of the reverse scan that is ``scan``'s rule, for forward scans of ``body`` with
    ``n_x`` xs leaves whose rows hold the new carries (``per_step_carry``) or only ys; ``dxs`` and
    ``dconsts`` are the indices of the xs and consts whose cotangents are wanted.

    Its carry is (cotangents of the forward carry, sums of the wanted consts' cotangents), its xs
    (the output cotangent's row, the forward xs, the forward carry before the step), its consts the
    forward consts; it returns the next carry and the wanted xs' cotangents. Cached, so that one
    body always derives the same function: the jitted lowering and the compiled backward's graph
    signatures key on it."""

    def backward_body(carry, xs, consts):

        float_consts, float_xs = dconsts, dxs
        n_c = len(carry) - len(float_consts)
        ct, acc = carry[:n_c], carry[n_c:]
        g_row, x, prev = xs[0], xs[1 : 1 + n_x], xs[1 + n_x :]
        p_in = tuple(_variable(t) for t in prev)
        x_in = tuple(_variable(t) if i in float_xs else t for i, t in enumerate(x))
        k_in = tuple(_variable(t) if i in float_consts else t for i, t in enumerate(consts))
        with enable_grad():
            new, ys = body(p_in, x_in, k_in)
            new = tuple(a.to(p.dtype) if a.dtype != p.dtype else a for a, p in zip(new, p_in))
        outs, cots, off = [], [], 0
        for a, u in zip(new, ct):
            if per_step_carry:
                n = a.numel()
                u = u + g_row[off : off + n].reshape(a.shape)
                off += n
            outs.append(a)
            cots.append(u)
        for y in ys:
            n = y.numel()
            outs.append(y)
            cots.append(g_row[off : off + n].reshape(y.shape))
            off += n
        live = [(o, u) for o, u in zip(outs, cots) if o.requires_grad]
        wrt = [*p_in, *(x_in[i] for i in float_xs), *(k_in[i] for i in float_consts)]
        if live:
            grads = autograd_grad(
                [o for o, _ in live],
                wrt,
                [u for _, u in live],
                create_graph=True,
                allow_unused=True,
            )
        else:
            grads = [None] * len(wrt)
        grads = [w.new_zeros(w.shape) if d is None else d for d, w in zip(grads, wrt)]
        ct_prev = grads[:n_c]
        ct_x = grads[n_c : n_c + len(float_xs)]
        ct_k = grads[n_c + len(float_xs) :]
        return (*ct_prev, *(a + d for a, d in zip(acc, ct_k))), tuple(ct_x)

    backward_body.__name__ = backward_body.__qualname__ = f"vjp_body({_name(body)})"
    return backward_body


def _name(f: Callable) -> str:
    return getattr(f, "__qualname__", None) or repr(f)


def scan_call(
    leaves: Sequence, *, body: Callable, n_consts: int, n_carry: int, reverse: bool, emit: bool
) -> Tensor:
    """Run the ``scan`` op on the flat ``leaves`` (consts, carry, xs), padding its operands."""
    leaves = tuple(leaves)
    if len(leaves) > MAX_OPERANDS:
        raise NotImplementedError(
            f"scan: {len(leaves)} consts, carry and xs tensors; at most {MAX_OPERANDS} are "
            "supported (stack tensors of one shape into one)"
        )
    pad = (None,) * (MAX_OPERANDS - len(leaves))
    return _scan(
        *leaves, *pad, body=body, n_consts=n_consts, n_carry=n_carry, reverse=reverse, emit=emit
    )


def scan(
    body: Callable,
    carry: Sequence[Tensor],
    xs: Sequence[Tensor],
    consts: Sequence[Tensor] = (),
    *,
    reverse: bool = False,
    emit: bool = True,
) -> Tensor:
    """One recorded op for ``for t in range(T): carry, y_t = body(carry, xs[t], consts)`` (from
    ``T - 1`` down to 0 when ``reverse``), lowered to ``lax.scan``; ``body`` is a module-level
    function of tracegrad ops taking and returning tuples of tensors. Returns the packed output
    (see the module's notes); :func:`unpack` splits it into the final carry, the per-step carries
    (when ``emit``) and the stacked ys."""
    carry, xs, consts = tuple(carry), tuple(xs), tuple(consts)
    if not xs:
        raise ValueError("scan: at least one xs tensor is needed (it gives the number of steps)")
    t_len = xs[0].shape[0] if xs[0].ndim else None
    for x in xs:
        if not x.ndim or x.shape[0] != t_len:
            raise ValueError(
                f"scan: every xs tensor must have the steps on dim 0 with one length; got "
                f"{[list(x.shape) for x in xs]}"
            )
    for c in carry:
        if not _is_float(c):
            raise TypeError(f"scan: carry tensors must be floating point, got {c.dtype}")
    return scan_call(
        (*consts, *carry, *xs),
        body=body,
        n_consts=len(consts),
        n_carry=len(carry),
        reverse=reverse,
        emit=emit,
    )


def unpack(
    out: Tensor,
    carry: Sequence[Tensor],
    t_len: int,
    y_shapes: Sequence[tuple] = (),
    *,
    emit: bool = True,
) -> tuple[tuple[Tensor, ...], tuple[Tensor, ...], tuple[Tensor, ...]]:
    """Split a packed ``scan`` output: ``(final carry, per-step carries (T, *shape) -- empty
    unless emit --, ys (T, *shape))``, given the initial ``carry`` (for its shapes), the number of
    steps and the shape of each y at one step. Each piece is a view-like recorded op of ``out``."""
    sizes = [c.numel() for c in carry]
    c_total = sum(sizes)
    rows = _rows(out, t_len, c_total)
    steps, ys, off = [], [], 0
    if emit:
        for c, n in zip(carry, sizes):
            steps.append(rows[:, off : off + n].reshape((t_len, *c.shape)))
            off += n
    for shape in y_shapes:
        n = int(np.prod(shape, dtype=np.int64))
        ys.append(rows[:, off : off + n].reshape((t_len, *shape)))
        off += n
    final, start = [], out.shape[0] - c_total
    for c, n in zip(carry, sizes):
        final.append(out[start : start + n].reshape(c.shape))
        start += n
    return tuple(final), tuple(steps), tuple(ys)
