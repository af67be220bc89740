"""Anomaly mode (``torch.autograd.detect_anomaly``): debugging checks for the backward pass.

While it is on, every recorded node keeps the Python stack of the forward call that recorded it
(``node.metadata["traceback_"]``). When a node's backward raises, or (with ``check_nan``) returns a
gradient holding NaN, the engine warns with that stack ("Error detected in MulBackward0. Traceback
of forward call that caused the error: ...") and raises, as PyTorch does. The mode is process-wide,
as PyTorch's is. Checking each node's output needs the node-by-node engine, so a backward in
anomaly mode never runs as a compiled program (``compiled.py``).
"""

from __future__ import annotations

import functools
import os
import warnings

__all__ = [
    "detect_anomaly",
    "set_detect_anomaly",
    "is_anomaly_enabled",
    "is_anomaly_check_nan_enabled",
    "set_anomaly_enabled",
]

_enabled = False
_check_nan = True
_PACKAGE = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def is_anomaly_enabled() -> bool:
    """Whether anomaly detection is on."""
    return _enabled


def is_anomaly_check_nan_enabled() -> bool:
    """Whether anomaly detection checks backward's outputs for NaN."""
    return _check_nan


def set_anomaly_enabled(enabled: bool, check_nan: bool = True) -> None:
    """Switch anomaly detection on or off (``torch.set_anomaly_enabled``)."""
    global _enabled, _check_nan
    _enabled, _check_nan = bool(enabled), bool(check_nan)


class detect_anomaly:
    """Context manager (or decorator) that turns anomaly detection on: nodes recorded inside
    keep the traceback of their forward call, and a backward run inside that meets an error, or
    (``check_nan``) a node returning NaN, warns with that traceback and raises
    ``RuntimeError("Function 'XBackward0' returned nan values in its 0th output.")``. Slow: for
    debugging only (it warns so when created)."""

    def __init__(self, check_nan: bool = True) -> None:
        self.prev = _enabled
        self.check_nan = check_nan
        self.prev_check_nan = _check_nan
        warnings.warn(
            "Anomaly Detection has been enabled. This mode will increase the runtime and should "
            "only be enabled for debugging.",
            stacklevel=2,
        )

    def __enter__(self) -> None:
        set_anomaly_enabled(True, self.check_nan)

    def __exit__(self, *args: object) -> None:
        set_anomaly_enabled(self.prev, self.prev_check_nan)

    def __call__(self, fn):
        """As a decorator: each call of ``fn`` runs in anomaly mode."""
        check_nan = self.check_nan

        @functools.wraps(fn)
        def wrapper(*args, **kwargs):
            prev, prev_check_nan = _enabled, _check_nan
            set_anomaly_enabled(True, check_nan)
            try:
                return fn(*args, **kwargs)
            finally:
                set_anomaly_enabled(prev, prev_check_nan)

        return wrapper


class set_detect_anomaly:
    """Switch anomaly detection on or off (``mode``), as a function or as a context manager
    that restores the previous setting on exit."""

    def __init__(self, mode: bool, check_nan: bool = True) -> None:
        self.prev = _enabled
        self.prev_check_nan = _check_nan
        set_anomaly_enabled(mode, check_nan)

    def __enter__(self) -> None:
        pass

    def __exit__(self, *args: object) -> None:
        set_anomaly_enabled(self.prev, self.prev_check_nan)


def forward_traceback(stack: list[str]) -> str:
    """The user's frames of a recorded stack (tracegrad's own frames left out)."""
    return "".join(line for line in stack if _PACKAGE not in line.split("\n", 1)[0])


def report(node) -> None:
    """Warn with the forward traceback of ``node`` (PyTorch's message), if it has one."""
    stack = getattr(node, "metadata", {}).get("traceback_")
    if stack is None:
        warnings.warn(
            f"Error detected in {node.name()}. No forward pass information available. Enable "
            "detect anomaly during forward pass for more information.",
            stacklevel=2,
        )
        return
    warnings.warn(
        f"Error detected in {node.name()}. Traceback of forward call that caused the error:\n"
        + forward_traceback(stack),
        stacklevel=2,
    )
