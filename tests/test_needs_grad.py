"""A rule computes a gradient only for an operand that requires grad (``needs_grad``): the engine
drops the others, so computing them is wasted work. Checked for every registered op with two or
more floating-point tensor operands: with one of them requiring grad, the rule gives None for the
others, and that one's gradient is the one it gives when all require grad.

An entry that is the cotangent ``g`` itself costs nothing (``add``'s rule returns ``g, g``), so it
passes for an operand that does not need a gradient."""

from __future__ import annotations

import numpy as np
import pytest

import tracegrad as tg
from tracegrad.ops import REGISTRY

from .samples import load_all

SAMPLES = load_all()


def _is_float(a) -> bool:
    return isinstance(a, np.ndarray) and a.dtype.kind == "f"


def _cases():
    """One sample per differentiable op: its first with two or more float tensor operands."""
    for name in sorted(SAMPLES):
        if not REGISTRY[name].differentiable:
            continue
        for i, s in enumerate(SAMPLES[name]):
            floats = [k for k, a in enumerate(s.args) if _is_float(a)]
            if len(floats) >= 2:
                yield pytest.param(name, s, floats, id=f"{name}-{s.name or i}")
                break


def _operands(sample, grad: set):
    return [
        tg.tensor(a, requires_grad=k in grad) if isinstance(a, np.ndarray) else a
        for k, a in enumerate(sample.args)
    ]


def _rule(op, sample, grad: set):
    operands = _operands(sample, grad)
    with tg.no_grad():
        out = op(*operands, **sample.params)
        g = tg.ones_like(out)
        grads = op.rule(g, out if op.saves_out else None, *operands, **sample.params)
    assert len(grads) == len(operands)
    return g, list(grads)


CASES = list(_cases())


def test_there_are_cases():
    assert len(CASES) > 20


@pytest.mark.parametrize("name,sample,floats", CASES)
def test_rule_computes_only_the_gradients_needed(name, sample, floats):
    op = REGISTRY[name]
    _, full = _rule(op, sample, set(floats))
    computed = []
    for i in floats:
        g, grads = _rule(op, sample, {i})
        assert grads[i] is not None, f"no gradient for operand {i}, the one that requires grad"
        np.testing.assert_array_equal(
            np.asarray(grads[i]._storage.array),
            np.asarray(full[i]._storage.array),
            err_msg=f"operand {i}'s gradient changes when the others do not require grad",
        )
        computed += [
            f"operand {k} (only {i} requires grad)"
            for k, x in enumerate(grads)
            if k != i and x is not None and x is not g
        ]
    assert not computed, f"{name}: gradients computed for operands that do not need them: " + (
        ", ".join(computed)
    )
