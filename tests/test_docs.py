"""docs/ops.md is generated from the op registry and must match it."""

from __future__ import annotations

import importlib.util
from pathlib import Path

DOCS = Path(__file__).resolve().parents[1] / "docs"


def _generator():
    spec = importlib.util.spec_from_file_location("gen_ops_table", DOCS / "gen_ops_table.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_ops_table_is_up_to_date():
    gen = _generator()
    assert (DOCS / "ops.md").read_text() == gen.table(), (
        "docs/ops.md is out of date: run `python docs/gen_ops_table.py`"
    )


def test_ops_table_lists_every_registered_op():
    from tracegrad.ops import REGISTRY

    text = (DOCS / "ops.md").read_text()
    for name in REGISTRY:
        assert f"| `{name}` |" in text
