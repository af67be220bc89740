"""tracegrad's own caches, listed in one place: their sizes, and ``clear_caches()`` for all of them.

Every cache tracegrad keeps is bounded (the compiled backward's executables, each compiled
function's programs, shape-keyed helper tables, the type-promotion table) and registers itself
here, so that tests can count entries and ``tracegrad.clear_caches()`` can empty them. JAX keeps
caches of its own -- one compiled executable per primitive and input shapes for eager dispatch,
one per ``jax.jit`` function and input shapes -- which are far larger per new shape (see
docs/threads_and_memory.md); ``clear_caches()`` clears those too.
"""

from __future__ import annotations

import ctypes
import functools
import gc
import threading
from collections.abc import Callable

import jax

__all__ = ["register", "bounded", "sizes", "clear_caches"]

_registry: dict[str, tuple[Callable[[], int], Callable[[], None]]] = {}
_lock = threading.Lock()


def register(name: str, size: Callable[[], int], clear: Callable[[], None]) -> None:
    """List a cache: ``size()`` counts its entries, ``clear()`` empties it."""
    with _lock:
        _registry[name] = (size, clear)


def bounded(maxsize: int) -> Callable:
    """Decorator: ``functools.lru_cache(maxsize)``, registered here (for helpers keyed on shapes,
    whose entries would otherwise pile up with every new input shape)."""

    def wrap(fn: Callable) -> Callable:
        cached = functools.lru_cache(maxsize=maxsize)(fn)
        register(
            f"{fn.__module__}.{fn.__qualname__}",
            lambda: cached.cache_info().currsize,
            cached.cache_clear,
        )
        return cached

    return wrap


def sizes() -> dict[str, int]:
    """Entries in each of tracegrad's caches, by name."""
    with _lock:
        items = list(_registry.items())
    return {name: size() for name, (size, _) in items}


def clear_caches(jax_caches: bool = True) -> None:
    """Empty tracegrad's caches and (unless ``jax_caches=False``) JAX's compilation caches
    (``jax.clear_caches()``), then hand freed memory back to the operating system where the C
    library allows it (glibc's ``malloc_trim``; without it the process's RSS does not go down,
    though the memory is reused for later allocations).

    Everything still works afterwards; the next call of each op, backward or compiled function
    with given shapes compiles again. Call it between phases whose shapes differ (after
    training, before evaluation at other batch sizes), or every so many new shapes when input
    shapes never repeat."""
    with _lock:
        clears = [clear for _, clear in _registry.values()]
    for clear in clears:
        clear()
    if jax_caches:
        jax.clear_caches()
    _release_memory()


def _release_memory() -> None:
    gc.collect()
    try:
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):  # not glibc: nothing to do
        pass
