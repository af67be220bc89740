"""A node keeps only what its rule reads: the operands an op declares (``saves=``) and, with
``save_out``, its output. The others are shape-only stand-ins, so the graph does not keep them
alive. Checked for every registered op against its rule run on the real operands (the oracle)."""

from __future__ import annotations

import gc
import weakref

import jax.numpy as jnp
import numpy as np
import pytest

import tracegrad as tg
from tracegrad.autograd.node import ShapeOnly, shape_only
from tracegrad.ops import REGISTRY

from .samples import draw_cotangent, load_all

SAMPLES = load_all()


def _cases():
    for name in sorted(SAMPLES):
        op = REGISTRY[name]
        if not op.differentiable:
            continue
        for i, s in enumerate(SAMPLES[name]):  # the first sample of each op in the fast tier
            marks = (pytest.mark.slow,) if i else ()
            yield pytest.param(name, s, id=f"{name}-{s.name or i}", marks=marks)


def _record(op, sample):
    args = [a.astype(np.float64) if isinstance(a, np.ndarray) and a.dtype.kind == "f" else a
            for a in sample.args]  # fmt: skip
    tensors = [
        tg.tensor(a, requires_grad=a.dtype.kind in "fc") if isinstance(a, np.ndarray) else a
        for a in args
    ]
    out = op(*tensors, **sample.params)
    return tensors, out


def _run_rule(op, node, out, operands, g):
    with tg.no_grad():
        grads = op.rule(g, out, *operands, **node.params)
    return [None if x is None else np.asarray(x._storage.array) for x in grads]


@pytest.mark.parametrize("name,sample", list(_cases()))
def test_node_keeps_only_declared_operands_and_its_rule_needs_no_more(name, sample):
    op = REGISTRY[name]
    tensors, out = _record(op, sample)
    if out.grad_fn is None:
        pytest.skip("nothing recorded (no float output)")
    node = out.grad_fn
    for i, (x, kept) in enumerate(zip(tensors, node.inputs)):
        if not isinstance(x, tg.Tensor):
            assert kept is x or kept == x
        elif i in op.saved_inputs:
            assert kept is x, f"operand {i} is declared saved but not kept"
        else:
            assert type(kept._storage.array) is ShapeOnly, f"operand {i} kept but not declared"
            assert kept.shape == x.shape and kept.dtype == x.dtype
    g = tg.tensor(draw_cotangent(out.detach(), np.random.default_rng(0), sample))
    saved_out, operands = node.saved()
    full_out = out.detach() if op.saves_out else None
    expected = _run_rule(op, node, full_out, tensors, g)  # the rule on the real operands
    got = _run_rule(op, node, saved_out, operands, g)
    assert len(got) == len(expected)
    for e, a in zip(expected, got):
        assert (e is None) == (a is None)
        if e is not None:
            np.testing.assert_array_equal(a, e)


@pytest.mark.slow
def test_every_saved_operand_is_read():
    """The declared saves are not more than the rules read: each saved operand replaced by a
    stand-in makes the rule fail (or change its result) for some sample of the op."""
    over = []
    for name in sorted(SAMPLES):
        op = REGISTRY[name]
        if not op.differentiable:
            continue
        needed = set()
        tensor_operands = set()
        for sample in SAMPLES[name]:
            tensors, out = _record(op, sample)
            if out.grad_fn is None:
                continue
            node = out.grad_fn
            g = tg.tensor(draw_cotangent(out.detach(), np.random.default_rng(0), sample))
            saved_out, operands = node.saved()
            expected = _run_rule(op, node, saved_out, operands, g)
            for i in op.saved_inputs:
                if i >= len(operands) or not isinstance(operands[i], tg.Tensor):
                    continue
                tensor_operands.add(i)
                trial = list(operands)
                trial[i] = shape_only(operands[i])
                try:
                    got = _run_rule(op, node, saved_out, trial, g)
                except Exception:
                    needed.add(i)
                    continue
                same = all(
                    (e is None and a is None)
                    or (e is not None and a is not None and np.array_equal(e, a))
                    for e, a in zip(expected, got)
                )
                if not same:
                    needed.add(i)
        unread = sorted(tensor_operands - needed)
        if unread:
            over.append(f"{name}: saves {unread} but its rule does not read them")
    assert not over, "\n".join(over)


def test_unsaved_operand_is_freed_with_its_last_reference():
    """``b = (x * 2).relu(); del a``: the relu keeps its output, not its input."""
    x = tg.randn(1000, requires_grad=True)
    a = x * 2
    ref = weakref.ref(a._storage)
    b = a.relu()
    del a
    gc.collect()
    assert ref() is None
    b.sum().backward()
    np.testing.assert_array_equal(np.asarray(x.grad), np.where(np.asarray(x) > 0, 2.0, 0.0))


def test_linear_does_not_keep_its_bias_and_addmm_not_its_addend():
    x = tg.randn(4, 3, requires_grad=True)
    w = tg.randn(5, 3, requires_grad=True)
    b = tg.randn(5, requires_grad=True)
    for out in (tg.nn.functional.linear(x, w, b), tg.addmm(b, x, w.t())):
        kept = [t for t in out.grad_fn.inputs if isinstance(t, tg.Tensor)]
        assert all(t is not b for t in kept)
        assert sum(type(t._storage.array) is ShapeOnly for t in kept) == 1


def test_a_rule_reading_an_undeclared_operand_fails_loudly():
    """The stand-in carries no values: computing with it raises instead of giving numbers."""
    t = shape_only(tg.randn(3))
    assert t.shape == (3,) and t.dtype == tg.float32 and t.ndim == 1
    with pytest.raises(TypeError):
        _ = t * 2
    with pytest.raises(TypeError):
        jnp.asarray(t._storage.array)
