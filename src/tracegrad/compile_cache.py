"""The persistent compilation cache: XLA programs compiled once are kept on disk, so the next run
of a script (and every other script that runs the same ops on the same shapes) loads them instead
of compiling them again.

tracegrad runs each eager op, each recorded backward and each ``tracegrad.compile`` step as an XLA
program, compiled the first time an op meets a new shape. Without this cache every process pays
for all of those compilations again; with it, the second run of a script compiles almost nothing.
The cache is JAX's persistent compilation cache: an entry is the executable XLA built for one
program, keyed by the program, the compile options, the backend and the JAX/XLA versions, so an
entry never changes a result.

On by default, in ``$TRACEGRAD_CACHE_DIR``, else ``$XDG_CACHE_HOME/tracegrad/xla``, else
``~/.cache/tracegrad/xla``. Environment variables, read when ``tracegrad`` is imported:

- ``TRACEGRAD_CACHE_DIR``: the directory; ``0``, ``off`` or ``false`` turns the cache off.
- ``TRACEGRAD_CACHE_MAX_BYTES``: the size cap (default 2 GiB). At import, when the directory is
  larger, the entries used least recently are deleted (in a background thread) until it is at
  80% of the cap.

A cache directory configured for JAX itself (``JAX_COMPILATION_CACHE_DIR`` or
``jax.config.update("jax_compilation_cache_dir", ...)`` before ``import tracegrad``) is left as it
is. To clear the cache: ``tracegrad.compile_cache.clear()``, ``python -m tracegrad.compile_cache
--clear``, or delete the directory.
"""

from __future__ import annotations

import argparse
import os
import threading
from pathlib import Path

import jax

__all__ = ["directory", "size_bytes", "clear", "prune", "DEFAULT_MAX_BYTES"]

DEFAULT_MAX_BYTES = 2 << 30
_OFF = {"0", "off", "false", "no"}
_SUFFIX = "-cache"  # JAX's name for an entry: <key>-cache


def _default_directory() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "tracegrad" / "xla"


def _max_bytes() -> int:
    value = os.environ.get("TRACEGRAD_CACHE_MAX_BYTES", "")
    try:
        return int(value) if value else DEFAULT_MAX_BYTES
    except ValueError:
        raise ValueError(
            f"TRACEGRAD_CACHE_MAX_BYTES must be a number of bytes, got {value!r}"
        ) from None


def directory() -> str | None:
    """The directory of the persistent compilation cache in use (tracegrad's or one configured
    for JAX), or ``None`` when it is off."""
    return jax.config.jax_compilation_cache_dir or None


def _entries(path: Path) -> list[tuple[float, int, Path]]:
    """(last use, size, path) of every entry; a file another process removes meanwhile is skipped."""
    out = []
    with os.scandir(path) as it:
        for e in it:
            if not e.name.endswith(_SUFFIX):
                continue
            try:
                st = e.stat()
            except FileNotFoundError:
                continue
            out.append((max(st.st_atime, st.st_mtime), st.st_size, Path(e.path)))
    return out


def size_bytes() -> int:
    """The total size of the cache's entries, in bytes (0 when the cache is off)."""
    path = directory()
    if path is None or not os.path.isdir(path):
        return 0
    return sum(size for _, size, _ in _entries(Path(path)))


def prune(max_bytes: int | None = None) -> int:
    """Delete the least recently used entries until the cache is at 80% of ``max_bytes`` (default:
    ``TRACEGRAD_CACHE_MAX_BYTES``, else 2 GiB), when it is larger than that. Returns the bytes
    freed."""
    path = directory()
    if path is None or not os.path.isdir(path):
        return 0
    return _prune(Path(path), _max_bytes() if max_bytes is None else max_bytes)


def _prune(path: Path, cap: int) -> int:
    entries = _entries(path)
    total = sum(size for _, size, _ in entries)
    if total <= cap:
        return 0
    freed, target = 0, int(cap * 0.8)
    for _, size, file in sorted(entries, key=lambda e: e[0]):
        if total - freed <= target:
            break
        try:
            file.unlink()
        except FileNotFoundError:
            continue
        freed += size
    return freed


def clear() -> None:
    """Delete every entry of the cache (the directory stays, empty). Programs already loaded in
    this process stay usable."""
    path = directory()
    if path is None or not os.path.isdir(path):
        return
    for _, _, file in _entries(Path(path)):
        try:
            file.unlink()
        except FileNotFoundError:
            pass


def _configure() -> None:
    """Turn the cache on at import, unless it is switched off or JAX already has one."""
    choice = os.environ.get("TRACEGRAD_CACHE_DIR", "").strip()
    if choice.lower() in _OFF or jax.config.jax_compilation_cache_dir:
        return
    path = Path(choice) if choice else _default_directory()
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError:  # a read-only home: run without the cache rather than fail the import
        return
    jax.config.update("jax_compilation_cache_dir", str(path))
    # Every program, however small: an eager run is many small programs, each compiled once.
    jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.0)
    jax.config.update("jax_persistent_cache_min_entry_size_bytes", 0)
    # The size check reads every entry's metadata; it runs beside the user's program.
    threading.Thread(target=_prune_quietly, name="tracegrad-cache-prune", daemon=True).start()


def _prune_quietly() -> None:
    try:
        prune()
    except (OSError, ValueError):
        pass


def _main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m tracegrad.compile_cache",
        description="Show, prune or clear tracegrad's persistent compilation cache.",
    )
    group = parser.add_mutually_exclusive_group()
    group.add_argument("--clear", action="store_true", help="delete every entry")
    group.add_argument("--prune", action="store_true", help="shrink it to the size cap")
    args = parser.parse_args(argv)
    path = directory()
    if path is None:
        print("the persistent compilation cache is off")
        return
    if args.clear:
        clear()
    elif args.prune:
        prune()
    print(f"{path}: {size_bytes() / 2**20:.1f} MiB (cap {_max_bytes() / 2**20:.0f} MiB)")


if __name__ == "__main__":
    _main()
