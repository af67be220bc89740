"""Grad modes: whether operations record nodes. Thread-local, like PyTorch's."""

from __future__ import annotations

import functools
import inspect
import threading

__all__ = [
    "no_grad",
    "enable_grad",
    "set_grad_enabled",
    "is_grad_enabled",
    "inference_mode",
    "is_inference_mode_enabled",
]

_state = threading.local()


def is_grad_enabled() -> bool:
    """True when operations on tensors that require grad are recorded."""
    return getattr(_state, "enabled", True)


def _set(enabled: bool) -> None:
    _state.enabled = enabled


class _GradMode:
    """A context manager that is also a decorator (for functions and generators)."""

    _enabled: bool

    def __enter__(self):
        self._prev = is_grad_enabled()
        _set(self._enabled)
        return self

    def __exit__(self, *exc):
        _set(self._prev)
        return False

    def __call__(self, fn):
        if inspect.isgeneratorfunction(fn):

            @functools.wraps(fn)
            def gen_wrapper(*args, **kwargs):
                gen = fn(*args, **kwargs)
                with self.__class__._fresh(self):
                    value = next(gen)
                while True:
                    try:
                        sent = yield value
                    except GeneratorExit:
                        gen.close()
                        raise
                    with self.__class__._fresh(self):
                        try:
                            value = gen.send(sent)
                        except StopIteration:
                            return

            return gen_wrapper

        @functools.wraps(fn)
        def wrapper(*args, **kwargs):
            with self.__class__._fresh(self):
                return fn(*args, **kwargs)

        return wrapper

    @staticmethod
    def _fresh(mode):
        clone = object.__new__(type(mode))
        clone.__dict__.update(mode.__dict__)
        return clone


class no_grad(_GradMode):
    """Disable recording: results of operations do not require grad.

    Use as ``with tracegrad.no_grad():``, or as the decorator ``@tracegrad.no_grad()`` (or
    ``@tracegrad.no_grad``).
    """

    _enabled = False

    def __new__(cls, func=None):
        self = super().__new__(cls)
        return self(func) if callable(func) else self


class enable_grad(no_grad):
    """Enable recording inside a ``no_grad`` block; a context manager and a decorator."""

    _enabled = True


class set_grad_enabled(_GradMode):
    """Set grad mode to ``mode``: takes effect at once, and as a context manager restores it."""

    def __init__(self, mode: bool):
        self._prev = is_grad_enabled()
        self._enabled = bool(mode)
        _set(self._enabled)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        _set(self._prev)
        return False


class inference_mode(_GradMode):
    """Like ``no_grad`` (tracegrad has no separate inference tensors); ``mode=False`` changes nothing."""

    def __new__(cls, mode=True):
        self = super().__new__(cls)
        if callable(mode) and not isinstance(mode, bool):
            self.__init__(True)
            return self(mode)
        return self

    def __init__(self, mode: bool = True):
        self._mode = bool(mode)
        self._enabled = not self._mode

    def __enter__(self):
        self._prev = is_grad_enabled()
        if self._mode:
            _set(False)
            _state.inference = getattr(_state, "inference", 0) + 1
        return self

    def __exit__(self, *exc):
        _set(self._prev)
        if self._mode:
            _state.inference -= 1
        return False


def is_inference_mode_enabled() -> bool:
    """True inside an ``inference_mode()`` block."""
    return getattr(_state, "inference", 0) > 0
