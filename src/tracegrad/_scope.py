"""Which ``nn.Module`` calls are running, per thread, so recorded nodes can say where they came from.

Calling a module pushes it on its thread's *scope*, an immutable chain ``(outer_scope, module)``
(None outside any module). A node recorded meanwhile keeps the chain (``Node.scope``), and so does
each op a ``tracegrad.compile`` trace records. Pictures group nodes by it (``tracegrad.viz``) and
compile reports count ops per module. Keeping it costs one thread-local read per node and one
write before and after each module call; naming the modules (``names``) is left to whoever draws.
"""

from __future__ import annotations

import threading

__all__ = ["current", "enter", "leave", "swap", "modules", "names"]


class _Local(threading.local):
    scope = None  # every thread starts outside any module


_local = _Local()


def current():
    """This thread's scope: None, or ``(outer_scope, module)`` for the innermost module call."""
    return _local.scope


def enter(module):
    """Push ``module``; returns the scope to restore with :func:`leave`."""
    outer = _local.scope
    _local.scope = (outer, module)
    return outer


def leave(outer) -> None:
    _local.scope = outer


def swap(scope):
    """Make ``scope`` this thread's scope (a node's, while its rule runs); returns the old one."""
    outer = _local.scope
    _local.scope = scope
    return outer


def modules(scope) -> tuple:
    """The modules of a scope chain, outermost first."""
    chain = []
    while scope is not None:
        scope, module = scope
        chain.append(module)
    return tuple(reversed(chain))


def names(scope, cache: dict | None = None) -> tuple[str, ...]:
    """Readable names of a scope chain's modules, outermost first: the outermost by its class
    (``"GPT"``), each inner one by its path from the one around it, as ``named_modules`` spells it
    (``"blocks.3"``, ``"attn"``), or by its class when it is not a submodule of it (a loss module
    called inside another module's forward). ``cache`` (a dict) memoizes lookups across calls."""
    if cache is None:
        cache = {}
    chain = modules(scope)
    out = []
    for i, module in enumerate(chain):
        name = None
        if i:
            parent = chain[i - 1]
            paths = cache.get(id(parent))
            if paths is None:
                paths = cache[id(parent)] = {
                    id(m): path for path, m in parent.named_modules() if path
                }
            name = paths.get(id(module))
        out.append(name or type(module).__name__)
    return tuple(out)
