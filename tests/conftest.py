"""Test-session setup: a persistent XLA compilation cache.

Most of the suite's time is XLA compiling small programs, and most of those programs are the same
from run to run (and from test to test: a test that builds a new ``jax.jit`` of the same
computation misses JAX's in-memory cache, which is keyed by the Python function, but hits this one,
which is keyed by the program). The cache lives in ``.pytest_cache/xla`` at the repository root;
``TRACEGRAD_TEST_XLA_CACHE=0`` turns it off, any other value names another directory. The
variables are set in the environment, so the example scripts and subprocess checks the tests start
share the cache too.

The cache changes no result: an entry is the executable XLA compiled for the same program, options
and backend, and JAX checks all three in its key. It has no size bound: a bound makes JAX take a file
lock and measure the whole directory on every write, which made a cold run half again as slow.
Without the lock, a worker that reads an entry while another is still writing it gets a warning
("Error reading persistent compilation cache entry") and compiles the program itself. Delete the
directory to reclaim its space (about 100 MB after a full run).
"""

from __future__ import annotations

import os
from pathlib import Path

_ROOT = Path(__file__).resolve().parent.parent


def _xla_cache_dir() -> str | None:
    choice = os.environ.get("TRACEGRAD_TEST_XLA_CACHE", "")
    if choice == "0":
        return None
    return choice or str(_ROOT / ".pytest_cache" / "xla")


def _enable_xla_cache() -> None:
    path = _xla_cache_dir()
    if path is None:
        os.environ["TRACEGRAD_CACHE_DIR"] = "0"  # not tracegrad's per-user cache either
        return
    settings = {
        "jax_compilation_cache_dir": path,
        # Every program, however quick to compile: the suite's are small and many.
        "jax_persistent_cache_min_compile_time_secs": 0.0,
        "jax_persistent_cache_min_entry_size_bytes": 0,
    }
    for name, value in settings.items():
        os.environ.setdefault(name.upper(), str(value))
    import jax  # after the environment is set, so a first import reads it too

    for name, value in settings.items():
        jax.config.update(name, type(value)(os.environ[name.upper()]))


_enable_xla_cache()

# The compiled backward's first-sighting rule (compile a new graph at once when running it node by
# node would compile more) depends on which rules this process has already run, that is on test
# order and on how xdist splits the tests. The suite pins the plain sighting policy so compile
# counts are deterministic; tests/test_first_run_compiles.py checks the rule in fresh processes.
os.environ.setdefault("TRACEGRAD_COMPILE_FIRST_IF_CHEAPER", "0")


# Lazy mode (TRACEGRAD_LAZY=1, docs/lazy.md) runs the same tests; tests of eager-only machinery (the
# compiled backward's cache, which lazy mode replaces) carry the ``eager_only`` mark and run eagerly.
import pytest  # noqa: E402


@pytest.fixture(autouse=True)
def _eager_for_eager_only_tests(request):
    if request.node.get_closest_marker("eager_only") is None:
        yield
        return
    import tracegrad

    before = tracegrad.is_lazy()
    tracegrad.sync()
    tracegrad.set_lazy(False)
    try:
        yield
    finally:
        tracegrad.set_lazy(before)
