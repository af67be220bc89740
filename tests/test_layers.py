"""The package's layering: each layer imports only the layers below it, at module level, with no
import cycle and no import hidden inside a function to dodge one.

    core      dtype, device, grad mode, hooks, Tensor, its surface, creation, random, trace state
    autograd  nodes, the engine, the compiled backward, Function
    ops       every recorded op
    library   nn, optim, utils, serialization, cuda, accelerator, backends, amp, distributed
    compiler  tracegrad.compile, vmap and the function transforms (func), and the pictures of
              graphs and compiles (viz)

Upper layers extend ``Tensor`` through ``tracegrad._surface.expose`` rather than ``tensor.py``
importing them, so the Tensor's methods need no import upward.
"""

from __future__ import annotations

import ast
from pathlib import Path

import tracegrad

SRC = Path(tracegrad.__file__).parent
CORE = {
    "_autocast", "_caches", "_compile_events", "_device", "_dtype", "_format", "_grad_mode", "_hooks", "_interop",
    "_layout", "_legacy", "_queries", "_scope", "_surface", "_threads", "_tracing", "compile_cache",
    "creation", "lazy", "random", "sampling", "tensor", "version",
}  # fmt: skip
LAYERS = ["core", "autograd", "ops", "library", "compiler"]


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(SRC.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _layer(module: str) -> str | None:
    parts = module.split(".")
    head = parts[1] if len(parts) > 1 else ""
    if head in CORE:
        return "core"
    if head == "autograd":
        return "autograd"
    if head == "ops":
        return "ops"
    if head in (
        "nn", "optim", "utils", "serialization", "distributions", "linalg", "cuda", "accelerator",
        "backends", "amp", "cpu", "fft", "special", "distributed",
    ):  # fmt: skip
        return "library"
    if head in ("compiler", "_compile_values", "_vmap", "func", "viz"):
        return "compiler"
    return None  # the package itself and the stub generator sit above everything


def _is_module(name: str) -> bool:
    path = SRC.parent / name.replace(".", "/")
    return path.with_suffix(".py").exists() or (path / "__init__.py").exists()


def _imports(path: Path):
    """``(target module, line, at module level)`` for each import of a tracegrad module."""
    module = _module_name(path)
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    tree = ast.parse(path.read_text())
    top = {id(node) for node in tree.body}
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names if a.name.split(".")[0] == "tracegrad"]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - (node.level - 1)]
                source = ".".join(base + ([node.module] if node.module else []))
            else:
                source = node.module or ""
            if source.split(".")[0] != "tracegrad":
                continue
            names = [
                f"{source}.{a.name}" if _is_module(f"{source}.{a.name}") else source
                for a in node.names
            ]
        else:
            continue
        for name in dict.fromkeys(names):
            yield name, node.lineno, id(node) in top


def _graph() -> dict[str, list]:
    return {_module_name(p): list(_imports(p)) for p in sorted(SRC.rglob("*.py"))}


def test_no_import_inside_a_function():
    hidden = [
        f"{module}:{line} imports {target}"
        for module, edges in _graph().items()
        for target, line, top_level in edges
        if not top_level
    ]
    assert not hidden, (
        "imports of tracegrad modules belong at the top of the module:\n" + "\n".join(hidden)
    )


def test_layers_import_only_downward():
    upward = []
    for module, edges in _graph().items():
        mine = _layer(module)
        for target, line, _ in edges:
            theirs = _layer(target)
            if mine and theirs and LAYERS.index(theirs) > LAYERS.index(mine):
                upward.append(f"{module}:{line} ({mine}) imports {target} ({theirs})")
    assert not upward, "\n".join(upward)


def test_every_module_has_a_layer():
    unplaced = [
        m for m in _graph() if _layer(m) is None and m not in ("tracegrad", "tracegrad._stub")
    ]
    assert not unplaced, f"place these modules in a layer (tests/test_layers.py): {unplaced}"


def test_no_import_cycle():
    graph = {m: {t for t, _, _ in edges if t != m} for m, edges in _graph().items()}
    state: dict[str, int] = {}  # 1 on the current path, 2 finished

    def visit(module: str, path: list[str]) -> list[str] | None:
        state[module] = 1
        for target in sorted(graph.get(module, ())):
            if target == module.rpartition(".")[0] and module.startswith(target):
                continue  # importing one's own package is resolved before the module runs
            if state.get(target) == 1:
                return path + [module, target]
            if target not in state:
                cycle = visit(target, path + [module])
                if cycle:
                    return cycle
        state[module] = 2
        return None

    for module in sorted(graph):
        if module not in state:
            cycle = visit(module, [])
            if cycle:
                raise AssertionError(
                    "import cycle: " + " -> ".join(cycle[cycle.index(cycle[-1]) :])
                )
