"""Every PyTorch name in ``tests/pytorch_api.py`` resolves in tracegrad, or docs/semantics.md lists
it under "PyTorch names tracegrad does not provide" with the reason; and every name listed there is
really absent (the list shrinks as names land)."""

from __future__ import annotations

import re
from pathlib import Path

import tracegrad

from .pytorch_api import NAMES

SEMANTICS = Path(__file__).resolve().parents[1] / "docs" / "semantics.md"
HEADING = "## PyTorch names tracegrad does not provide"


def _resolve(namespace: str, name: str) -> bool:
    obj = tracegrad.Tensor if namespace == "Tensor" else tracegrad
    parts = [] if namespace in ("torch", "Tensor") else namespace.split(".")[1:]
    for part in (*parts, *name.split(".")):
        if not hasattr(obj, part):
            return False
        obj = getattr(obj, part)
    return True


def _declined() -> dict[str, str]:
    """``{'torch.linalg.eig': reason, ...}`` from the table under HEADING."""
    text = SEMANTICS.read_text()
    assert HEADING in text, f"docs/semantics.md has no section {HEADING!r}"
    section = text.split(HEADING, 1)[1].split("\n## ", 1)[0]
    rows = {}
    for line in section.splitlines():
        m = re.match(r"\|\s*(`[^|]+`)\s*\|\s*([^|]+?)\s*\|\s*$", line)
        if not m:
            continue
        for name in re.findall(r"`([^`]+)`", m.group(1)):
            rows[name] = m.group(2)
    return rows


def _qualified(namespace: str, name: str) -> str:
    return f"Tensor.{name}" if namespace == "Tensor" else f"{namespace}.{name}"


ALL = [(ns, n) for ns, names in NAMES.items() for n in names]


def test_every_name_resolves_or_is_declined_with_a_reason():
    declined = _declined()
    missing = [
        _qualified(ns, n)
        for ns, n in ALL
        if not _resolve(ns, n) and _qualified(ns, n) not in declined
    ]
    assert not missing, f"{len(missing)} names neither exist nor are declined: {missing}"


def test_declined_names_are_really_absent_and_have_reasons():
    declined = _declined()
    present = []
    for qualified, reason in declined.items():
        assert len(reason) > 10, f"{qualified}: give a reason"
        if qualified.startswith("Tensor."):
            ns, name = "Tensor", qualified[len("Tensor.") :]
        else:
            head = [ns for ns in NAMES if ns != "Tensor" and qualified.startswith(ns + ".")]
            ns = max(head, key=len) if head else "torch"
            name = qualified[len(ns) + 1 :]
        if _resolve(ns, name):
            present.append(qualified)
    assert not present, f"listed as not provided but present: {present}"
