"""The Tensor's surface: one declaration mechanism, and a checked-in stub generated from it."""

from __future__ import annotations

import ast
import inspect
import re
from pathlib import Path

import pytest

import tracegrad
from tracegrad import _stub
from tracegrad._surface import SURFACE, expose

SRC = Path(tracegrad.__file__).parent
Tensor = tracegrad.Tensor


def _public_attributes() -> set[str]:
    names = set()
    for name in dir(Tensor):
        if name.startswith("_") and not (name.startswith("__") and name.endswith("__")):
            continue
        value = inspect.getattr_static(Tensor, name)
        if value is getattr(object, name, None) or name in ("__dict__", "__weakref__", "__doc__"):
            continue
        if name in dir(object) and name != "__hash__" or name in ("__slots__", "__module__"):
            continue
        names.add(name)
    return names


def _stub_tensor_members() -> set[str]:
    tree = ast.parse(_stub.PATH.read_text())
    (cls,) = [n for n in tree.body if isinstance(n, ast.ClassDef) and n.name == "Tensor"]
    return {n.name for n in cls.body if isinstance(n, ast.FunctionDef)} | {
        n.target.id for n in cls.body if isinstance(n, ast.AnnAssign)
    }


def test_stub_is_current():
    assert _stub.PATH.read_text() == _stub.render(), (
        "src/tracegrad/tensor.pyi is out of date: run python -m tracegrad._stub"
    )


def test_stub_lists_every_public_attribute():
    missing = _public_attributes() - _stub_tensor_members()
    assert not missing, f"tensor.pyi lacks {sorted(missing)}"


def test_stub_signatures_match_the_methods():
    # A few methods whose parameters a user relies on: the stub shows the real ones.
    text = _stub.PATH.read_text()
    assert "def sum(self, dim=None, keepdim: builtins.bool = False, *, dtype=None)" in text
    assert "def add_(self, other, *, alpha=1) -> Tensor: ..." in text
    assert "def __rtruediv__(self, other: Any) -> Tensor: ..." in text


def test_surface_entries_are_what_tensor_holds():
    assert len(SURFACE) > 250
    for name, entry in SURFACE.items():
        held = inspect.getattr_static(Tensor, name)
        if entry.kind == "method":
            assert held is entry.fn, name
        elif entry.kind == "property":
            assert isinstance(held, property) and held.fget is entry.fn, name
        else:
            assert held.__name__ == name, name


def test_inplace_forms_keep_the_signature():
    assert str(inspect.signature(Tensor.clamp_)) == str(inspect.signature(Tensor.clamp))


def test_reflected_operators_swap_operands():
    x = tracegrad.tensor([2.0, 4.0])
    assert (8.0 / x).tolist() == [4.0, 2.0]
    assert (1 - x).tolist() == [-1.0, -3.0]
    assert (2**x).tolist() == [4.0, 16.0]
    assert (9.0 // x).tolist() == [4.0, 2.0]


@pytest.mark.parametrize("name", ["sum", "detach", "__add__"])
def test_a_name_cannot_be_declared_twice(name):
    before = inspect.getattr_static(Tensor, name)

    def impostor(self):
        return self

    with pytest.raises(RuntimeError, match=f"Tensor.{name} is declared twice"):
        expose(impostor, methods=(name,))
    assert inspect.getattr_static(Tensor, name) is before


def test_declaration_refused_midway_attaches_nothing_new():
    def impostor(self):
        return self

    with pytest.raises(RuntimeError):
        expose(impostor, methods=("impostor_only",), inplace=("sum",))
    assert not hasattr(Tensor, "impostor_only")


def test_names_reach_tensor_only_through_expose():
    # Outside the surface module, no code assigns attributes onto Tensor.
    pattern = re.compile(r"^\s*(Tensor\.\w+\s*=|setattr\(Tensor\b)", re.M)
    offenders = [
        f"{p.relative_to(SRC)}:{text[: m.start()].count(chr(10)) + 1}"
        for p in SRC.rglob("*.py")
        if p.name != "_surface.py"
        for text in [p.read_text()]
        for m in pattern.finditer(text)
    ]
    assert not offenders, offenders


USER_CODE = """
import tracegrad as torch

x = torch.ones(3, requires_grad=True)
y: torch.Tensor = (x * 2 + 1).relu().sum()
n: int = x.dim()
flag: bool = x.is_floating_point()
z: torch.Tensor = x.add_(1).mul(2).T.float()
shape: torch.Size = x.shape
"""


@pytest.mark.slow
def test_stub_type_checks(tmp_path):
    # The stub is valid for a type checker, and user code typed against it checks.
    mypy = pytest.importorskip("mypy.api")
    (tmp_path / "user.py").write_text(USER_CODE)
    for target in (str(_stub.PATH), str(tmp_path / "user.py")):
        out, err, status = mypy.run(
            [target, "--ignore-missing-imports", "--follow-imports=silent", "--no-incremental"]
        )
        assert status == 0, out + err
