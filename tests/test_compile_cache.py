"""The persistent compilation cache (``tracegrad.compile_cache``): on by default, in
``TRACEGRAD_CACHE_DIR``; a second process loads what the first compiled; off switch; a cache JAX
was given is left alone; the size cap evicts the least recently used entries."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time

from tracegrad import compile_cache

from .tiers import slow

_PROGRAM = """
import json, sys
from jax import monitoring
counts = {"compiles": 0, "hits": 0}
monitoring.register_event_duration_secs_listener(
    lambda e, s, **k: counts.__setitem__("compiles", counts["compiles"] + 1)
    if e == "/jax/core/compile/backend_compile_duration" else None)
monitoring.register_event_listener(
    lambda e, **k: counts.__setitem__("hits", counts["hits"] + 1)
    if e == "/jax/compilation_cache/cache_hits" else None)
import tracegrad as torch
x = torch.randn(3, 5, requires_grad=True)
(torch.tanh(x @ x.T) * 1.5).sum().backward()
print(json.dumps({"dir": torch.compile_cache.directory(), **counts}))
"""


def _run(env_changes: dict, program: str = _PROGRAM) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("JAX_", "TRACEGRAD_CACHE"))}
    env.update(env_changes)
    out = subprocess.run(
        [sys.executable, "-c", program], env=env, capture_output=True, text=True, check=True
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_a_second_process_loads_what_the_first_compiled(tmp_path):
    first = _run({"TRACEGRAD_CACHE_DIR": str(tmp_path)})
    assert first["dir"] == str(tmp_path)
    assert first["compiles"] > 0 and first["hits"] == 0
    assert any(p.name.endswith("-cache") for p in tmp_path.iterdir())
    second = _run({"TRACEGRAD_CACHE_DIR": str(tmp_path)})
    assert second["hits"] == second["compiles"] == first["compiles"]  # every program loaded


@slow  # a fresh process each: the full suite
def test_the_default_directory_is_per_user(tmp_path):
    got = _run({"XDG_CACHE_HOME": str(tmp_path)})
    assert got["dir"] == str(tmp_path / "tracegrad" / "xla")


@slow  # a fresh process each: the full suite
def test_switched_off(tmp_path):
    for off in ("0", "off"):
        got = _run({"TRACEGRAD_CACHE_DIR": off, "XDG_CACHE_HOME": str(tmp_path)})
        assert got["dir"] is None and got["hits"] == 0
    assert not (tmp_path / "tracegrad").exists()


@slow  # a fresh process each: the full suite
def test_a_cache_configured_for_jax_is_left_alone(tmp_path):
    mine, jaxs = tmp_path / "mine", tmp_path / "jax"
    got = _run({"TRACEGRAD_CACHE_DIR": str(mine), "JAX_COMPILATION_CACHE_DIR": str(jaxs)})
    assert got["dir"] == str(jaxs) and not mine.exists()


def test_prune_evicts_the_least_recently_used_entries_to_80_percent(tmp_path):
    now = time.time()
    for i in range(10):  # entry i last used i hours ago, 100 bytes each
        f = tmp_path / f"k{i}-cache"
        f.write_bytes(b"x" * 100)
        os.utime(f, (now - 3600 * i, now - 3600 * i))
    (tmp_path / "k0-atime").write_bytes(b"12345678")  # not an entry: ignored
    assert compile_cache._prune(tmp_path, 2000) == 0  # under the cap: nothing to do
    assert compile_cache._prune(tmp_path, 500) == 600  # 1000 bytes -> 400 (80% of 500)
    left = sorted(p.name for p in tmp_path.iterdir())
    assert left == ["k0-atime", "k0-cache", "k1-cache", "k2-cache", "k3-cache"]


@slow  # a fresh process each: the full suite
def test_clear_from_the_command_line(tmp_path):
    _run({"TRACEGRAD_CACHE_DIR": str(tmp_path)})
    env = {k: v for k, v in os.environ.items() if not k.startswith(("JAX_", "TRACEGRAD_CACHE"))}
    env["TRACEGRAD_CACHE_DIR"] = str(tmp_path)
    out = subprocess.run(
        [sys.executable, "-m", "tracegrad.compile_cache", "--clear"],
        env=env, capture_output=True, text=True, check=True,
    )  # fmt: skip
    assert out.stdout.startswith(str(tmp_path)) and "0.0 MiB" in out.stdout
    assert not any(p.name.endswith("-cache") for p in tmp_path.iterdir())
