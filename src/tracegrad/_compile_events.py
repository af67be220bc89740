"""Explained compiles: where each compile was triggered, why, and what it cost.

Both compilers record a :class:`CompileEvent` per compile: a ``tracegrad.compile`` step per trace
(``CompiledFunction.compile_events``), the compiled eager backward per new signature it compiles
(``tracegrad.autograd.compiled.compile_events()``). An event names the user's line that triggered
the compile (the first stack frame outside the tracegrad package), the reason in user terms, the
seconds it took, and the ops it holds per ``nn.Module`` call (from the recorded scopes, see
``_scope``).

Everything here runs only when something compiles, never on a cache hit: the call site is found
by walking the stack at that moment, and the reason by comparing cache keys then.

Each reason also has a *cause*, a coarse class that says what to do about repeated compiles:
``"shapes"`` (pad batches, ``drop_last=True``), ``"scalar"`` (pass the Python value as a tensor),
``"structure"`` (the graph differs each time), ``"mode"`` (grad mode, ``train()``/``eval()``, the
default dtype), ``"state"`` (which tensors have a ``.grad``, optimizer state: expected once, when
the first step creates them), ``"first"`` (nothing was compiled before), ``"eager"`` (the trace
was abandoned and the step runs eagerly: ``LBFGS.step``) or ``"other"``.
"""

from __future__ import annotations

import collections
import linecache
import os
import sys
import threading
import warnings
from dataclasses import dataclass, field

from . import _scope

__all__ = ["CompileEvent", "MAX_EVENTS", "REPEAT_WARNING", "user_frame"]

MAX_EVENTS = 100  # events kept per compiled function, and for the compiled backward
REPEAT_WARNING = 8  # warn once a call site has compiled the backward this many times
NO_MODULE = "(no module)"  # the ops_per_module key of ops recorded outside any nn.Module

PACKAGE = os.path.dirname(os.path.abspath(__file__)) + os.sep  # frames here are not the user's


@dataclass(frozen=True)
class CompileEvent:
    """One compile: ``kind`` ("step" for a ``tracegrad.compile`` trace, "backward" for the
    compiled eager backward), ``name`` (the step's function, or the backward's root node, e.g.
    ``MeanBackward0``), ``where`` (the user's ``file.py:line`` that triggered it), ``reason``
    (what was new, in user terms), ``seconds`` (tracing and compiling), ``ops`` (the ops recorded,
    or the backward's non-leaf nodes) and ``ops_per_module`` (those counted by the ``nn.Module``
    call that recorded them, keyed ``"GPT.blocks.3.attn"``, ``"(no module)"`` for ops outside
    modules). ``cause`` classifies the reason: "first", "shapes", "scalar", "structure", "mode",
    "state", "eager" or "other"."""

    kind: str
    name: str
    where: str
    reason: str
    seconds: float
    ops: int
    ops_per_module: dict[str, int] = field(default_factory=dict)
    cause: str = "other"


_ADVICE = {
    "shapes": (
        "tensor shapes or dtypes changed",
        "pad batches to a fixed size or use drop_last=True in DataLoader",
    ),
    "scalar": ("a Python scalar changed", "pass it as a tensor"),
    "structure": (
        "the graph's structure changed",
        "the graph differs each time (data-dependent control flow)",
    ),
    "mode": (
        "grad mode, train()/eval() or the default dtype changed",
        "keep the mode fixed, or compile one function per mode",
    ),
    "eager": (
        "the step runs eagerly (it needs host values between evaluations)",
        "expected: the step is not one program; what it evaluates repeatedly is compiled",
    ),
    "state": (
        "the state's structure changed (which tensors have a .grad, optimizer state)",
        "expected once, after the first call creates gradients and optimizer state; if it "
        "repeats, something creates or drops gradients or optimizer state between calls",
    ),
}


def short_path(filename: str) -> str:
    """``filename`` relative to the working directory when below it, else its base name."""
    try:
        rel = os.path.relpath(filename)
    except ValueError:  # another drive (Windows)
        rel = filename
    return (
        rel if not rel.startswith("..") and not os.path.isabs(rel) else os.path.basename(filename)
    )


def _user():
    """The first frame outside the tracegrad package, and its level as ``warnings.warn``'s
    ``stacklevel`` counts from the caller of this function (1: that caller itself)."""
    frame = sys._getframe(1)
    level = 1
    while frame is not None and frame.f_code.co_filename.startswith(PACKAGE):
        frame = frame.f_back
        level += 1
    return frame, level


def user_frame() -> str:
    """``"file.py:line"`` of the first stack frame outside the tracegrad package: the user's
    line that called into tracegrad (a path relative to the working directory when it is below
    it, else the file's name); ``"<unknown>"`` when there is none."""
    frame, _ = _user()
    if frame is None:
        return "<unknown>"
    return f"{short_path(frame.f_code.co_filename)}:{frame.f_lineno}"


def user_site() -> tuple[str, str]:
    """``(where, code)``: :func:`user_frame` and the stripped source line there ("" if unknown)."""
    frame, _ = _user()
    if frame is None:
        return "<unknown>", ""
    filename, line = frame.f_code.co_filename, frame.f_lineno
    code = linecache.getline(filename, line).strip()
    if len(code) > 60:
        code = code[:57] + "..."
    return f"{short_path(filename)}:{line}", code


def warn_at_user(message: str) -> None:
    """``warnings.warn`` attributed to the user's line (the first frame outside tracegrad)."""
    _, level = _user()
    warnings.warn(message, UserWarning, stacklevel=level)


def ops_per_module(scopes) -> dict[str, int]:
    """Count ops by module path (``"GPT.blocks.3.attn"``; ``"(no module)"`` outside modules),
    most first. ``scopes`` holds one ``_scope`` chain per op."""
    by_scope = collections.Counter(map(id, scopes))
    first = {}
    for s in scopes:
        first.setdefault(id(s), s)
    cache: dict = {}
    counts: collections.Counter = collections.Counter()
    for i, n in by_scope.items():
        s = first[i]
        counts[".".join(_scope.names(s, cache)) if s is not None else NO_MODULE] += n
    return dict(counts.most_common())


def advice(cause: str) -> tuple[str, str]:
    """``(what happened, what to do)`` for a cause."""
    return _ADVICE.get(cause, ("something it depends on changed", "see the log for each reason"))


def most_frequent(events) -> tuple[str, int, CompileEvent | None]:
    """The most frequent cause among ``events`` other than "first" (ties: the latest), its
    count, and the latest event with it."""
    counts = collections.Counter(e.cause for e in events if e.cause != "first")
    if not counts:
        return "first", 0, events[-1] if events else None
    best = max(counts.values())
    for e in reversed(events):
        if counts.get(e.cause) == best:
            return e.cause, best, e
    raise AssertionError("unreachable")


def format_events(events, total: int) -> list[str]:
    """Report lines for ``events``, the last of ``total`` recorded so far, numbered from 1."""
    lines = []
    if total > len(events):
        lines.append(f"  (the last {len(events)} of {total})")
    first = total - len(events) + 1
    for i, e in enumerate(events):
        lines.append(f"  #{first + i} at {e.where}: {e.reason} ({e.seconds:.3f} s, {e.ops} ops)")
    return lines


def format_modules(counts: dict[str, int], top: int = 20) -> list[str]:
    """Report lines for ops per module, most first, the first ``top`` of them."""
    items = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))
    width = max((len(k) for k, _ in items[:top]), default=0)
    lines = [f"  {k.ljust(width)}  {n}" for k, n in items[:top]]
    if len(items) > top:
        rest = sum(n for _, n in items[top:])
        lines.append(f"  ... {len(items) - top} more modules, {rest} ops")
    return lines


class SiteCounter:
    """Compiles per call site (the last ``size`` sites), and their causes."""

    def __init__(self, size: int = 1000) -> None:
        self.size = size
        self._sites: collections.OrderedDict = collections.OrderedDict()
        self._lock = threading.Lock()

    def add(self, where: str, cause: str, limit: int) -> collections.Counter | None:
        """Count one compile at ``where``; returns its causes when it has just reached ``limit``
        compiles (the caller warns, once per site), else None."""
        with self._lock:
            entry = self._sites.pop(where, None)
            if entry is None:
                entry = [0, collections.Counter(), False]
            self._sites[where] = entry
            if len(self._sites) > self.size:
                self._sites.popitem(last=False)
            entry[0] += 1
            entry[1][cause] += 1
            if entry[0] >= limit and not entry[2]:
                entry[2] = True
                return collections.Counter(entry[1])
            return None

    def count(self, where: str) -> int:
        with self._lock:
            entry = self._sites.get(where)
            return 0 if entry is None else entry[0]

    def clear(self) -> None:
        with self._lock:
            self._sites.clear()
