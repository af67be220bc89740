"""The state of a ``tracegrad.compile`` trace in progress, kept per thread.

While a compiled function is traced, its thread records the ops it runs (the *tape*) and the
runtime checks that cannot be decided on tracer values (``checks``: an out-of-range index inside
the program), draws random numbers from the trace's own key (``key``, a tracer: the program's RNG
input) and runs ``backward()`` node by node (it is traced into the program). Other threads see no
trace at all: their eager code, their random draws (from the process-wide generator) and their
compiled backward run as usual.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager

__all__ = [
    "Trace",
    "current",
    "tracing",
    "suspended",
    "add_check",
    "RunsEagerly",
    "closure_compiler",
    "compiling_closures",
]

_local = threading.local()


class Trace:
    """One trace in progress: the recorded ``tape``, the pending ``checks`` and the RNG ``key``.

    ``checks`` holds ``(bad, make_error, value)`` triples: ``bad`` is a boolean JAX value computed
    inside the program (True when the check fails), ``value`` None or an integer JAX value the
    error message needs (the offending index), and ``make_error()`` (``make_error(int(value))``
    when there is a value) builds the exception a call raises when the check fails (the compiled
    step computes its checks' verdict first, in a reduced program, and then runs).

    ``key`` is the trace's random key (None: draws use the global generator). While the trace is
    current, ``tracegrad.random`` splits and replaces it instead of the global key, so the
    program's draws are a function of its key input and never touch another thread's state.
    """

    __slots__ = ("tape", "checks", "key")

    def __init__(self, tape: list, key=None) -> None:
        self.tape = tape
        self.checks: list[tuple] = []
        self.key = key

    def wrote(self, tensor) -> None:
        """``tensor`` is about to be modified in place while this trace runs (a compiled step
        with a declared state overrides this to refuse writes outside the state)."""


# How many traces are in progress, in all threads: a module attribute the op dispatch reads before
# it looks at its thread's state, so eager code pays one truth test per op, not a thread-local read.
active = 0
_active_lock = threading.Lock()


def current() -> Trace | None:
    """The trace this thread is running, or None in eager code."""
    return getattr(_local, "trace", None)


@contextmanager
def tracing(trace: Trace) -> Iterator[Trace]:
    """Make ``trace`` this thread's current trace for the duration of the block."""
    global active
    previous = current()
    _local.trace = trace
    with _active_lock:
        active += 1
    try:
        yield trace
    finally:
        _local.trace = previous
        with _active_lock:
            active -= 1


@contextmanager
def suspended() -> Iterator[None]:
    """No trace is current in this thread for the duration of the block: code that runs inside
    one recorded op's lowering (the body of ``scan``) must not add its inner ops to the tape."""
    previous = current()
    _local.trace = None
    try:
        yield
    finally:
        _local.trace = previous


def add_check(bad, make_error: Callable[..., Exception], value=None) -> None:
    """Register a check on traced values with the current trace: when ``bad`` is True the call
    raises ``make_error()`` -- ``make_error(v)`` with ``v`` the concrete integer of ``value`` when
    one is given -- before the step runs, so nothing is written. Outside a trace: does nothing."""
    trace = current()
    if trace is not None:
        trace.checks.append((bad, make_error, value))
    elif getattr(_local, "abstract", False):
        raise NeedsValues  # lazy mode's abstract evaluation: the op must run on concrete values


class NeedsValues(Exception):
    """Raised by ``add_check`` while lazy mode evaluates an op abstractly (``abstract_eval``):
    the op checks values, so it is not recorded pending but runs on concrete ones."""


@contextmanager
def abstract_eval() -> Iterator[None]:
    """Mark this thread as evaluating an op abstractly for lazy mode (see ``NeedsValues``)."""
    previous = getattr(_local, "abstract", False)
    _local.abstract = True
    try:
        yield
    finally:
        _local.abstract = previous


class RunsEagerly(Exception):
    """Raised inside a trace by code that must read host values between evaluations of its own
    (``LBFGS.step(closure)``): the compiled function abandons the trace (its snapshot undoes
    everything the trace touched) and runs its step eagerly from then on. The message says why
    and what is still compiled."""


def closure_compiler() -> Callable | None:
    """While a compiled function runs its step eagerly (see :class:`RunsEagerly`): the function
    that compiles a closure an optimizer evaluates, ``compile_closure(optimizer, closure) ->
    callable``. None otherwise (the closure runs as it is)."""
    return getattr(_local, "closure_compiler", None)


@contextmanager
def compiling_closures(compile_closure: Callable) -> Iterator[None]:
    """Make :func:`closure_compiler` return ``compile_closure`` in this thread for the block."""
    previous = closure_compiler()
    _local.closure_compiler = compile_closure
    try:
        yield
    finally:
        _local.closure_compiler = previous
