"""tracegrad computes every gradient with its own hand-written rules: JAX's autodiff (the tests'
oracle) must never appear in the library's source."""

from __future__ import annotations

import re
from pathlib import Path

import tracegrad

SRC = Path(tracegrad.__file__).parent
_NAMES = (
    "grad|vjp|jvp|value_and_grad|linearize|custom_vjp|custom_jvp|hessian|jacfwd|jacrev|"
    "linear_transpose|closure_convert"
)
# jax.grad(...), jax.vjp, jax.custom_vjp, ... (also through an alias such as `import jax as J`).
_ATTRIBUTE = re.compile(rf"\b(?:jax|J|_jax)\s*\.\s*(?:{_NAMES})\b")
# from jax import grad / from jax import (vjp, jit) / from jax import custom_vjp as cv
_FROM_IMPORT = re.compile(rf"\bfrom\s+jax\s+import\s+\(?[^)\n]*\b(?:{_NAMES})\b")
# from jax._src import ad / from jax.interpreters import ad / jax._src.interpreters.ad
_INTERNALS = re.compile(
    r"\bjax\.(?:_src\.)?(?:interpreters\.)?ad\b|\bfrom\s+jax\.\S*\s+import\s+ad\b"
)


def _sources():
    files = sorted(SRC.rglob("*.py"))
    assert len(files) > 10, f"found only {len(files)} source files under {SRC}"
    return files


def _strip_comments(text: str) -> str:
    return "\n".join(line.split("#", 1)[0] for line in text.splitlines())


def test_no_jax_autodiff_in_library_source():
    offenders = []
    for path in _sources():
        code = _strip_comments(path.read_text())
        for pattern in (_ATTRIBUTE, _FROM_IMPORT, _INTERNALS):
            for m in pattern.finditer(code):
                line = code[: m.start()].count("\n") + 1
                offenders.append(f"{path.relative_to(SRC)}:{line}: {m.group(0)}")
    assert not offenders, "JAX autodiff used in tracegrad's source:\n" + "\n".join(offenders)


def test_the_scanner_catches_forbidden_uses():
    bad = [
        "g = jax.grad(f)(x)",
        "out, f_vjp = jax.vjp(f, x)",
        "jax.jvp(f, (x,), (t,))",
        "@jax.custom_vjp",
        "jax.value_and_grad(loss)",
        "from jax import grad",
        "from jax import jit, vjp",
        "from jax import (numpy, linearize)",
        "jax.hessian(f)",
        "jax.jacrev(f)",
        "from jax._src.interpreters import ad",
    ]
    for line in bad:
        assert any(p.search(line) for p in (_ATTRIBUTE, _FROM_IMPORT, _INTERNALS)), line
    fine = ["jax.jit(f)", "jnp.gradient(x)", "from jax import numpy as jnp", "jax.lax.add(a, b)"]
    for line in fine:
        assert not any(p.search(line) for p in (_ATTRIBUTE, _FROM_IMPORT, _INTERNALS)), line
