"""Test tiers: ``pytest -m "not slow"`` is the fast tier (the edit-run loop), plain ``pytest`` runs
everything. A big parametrized grid keeps its first values in the fast tier (so each feature keeps a
fast check) and marks the rest ``slow`` with ``slow_after``."""

from __future__ import annotations

import pytest
from _pytest.mark.structures import ParameterSet

slow = pytest.mark.slow


def slow_after(values, keep: int = 1, *, multi: bool = False) -> list:
    """``values`` for ``pytest.mark.parametrize``, all but the first ``keep`` marked slow.

    ``multi``: each value is a tuple of several arguments (``parametrize("a,b", ...)``).
    """
    out = []
    for i, v in enumerate(values):
        if i < keep:
            out.append(v)
        elif isinstance(v, ParameterSet):
            out.append(pytest.param(*v.values, id=v.id, marks=(*v.marks, slow)))
        else:
            out.append(pytest.param(*(v if multi else (v,)), marks=slow))
    return out
