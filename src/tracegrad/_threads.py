"""``get_num_threads``/``set_num_threads`` and their inter-op twins, answered for XLA's CPU runtime.

XLA runs CPU programs on a thread pool sized when JAX starts its CPU backend (one thread per CPU
this process may run on), and nothing can resize it afterwards. So the getters report that size,
and a setter asking for another number validates it as PyTorch does, warns that the number of
threads stays as it is, and changes nothing. Results never depend on the thread count; only speed
does. To run XLA on fewer CPUs, restrict the process's CPUs before it starts (``taskset``).
"""

from __future__ import annotations

import os
import warnings

__all__ = [
    "get_num_interop_threads",
    "get_num_threads",
    "set_num_interop_threads",
    "set_num_threads",
]


def _cpus() -> int:
    """The CPUs this process may run on: the size of XLA's CPU thread pool."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def _check(fn: str, n) -> None:
    if not isinstance(n, int) or isinstance(n, bool):
        raise RuntimeError(f"{fn} expects an int, but got {type(n).__name__}")
    if n <= 0:
        raise RuntimeError(f"{fn} expects a positive integer")


def get_num_threads() -> int:
    """The number of threads XLA uses for parallelizing CPU operations (one per available CPU)."""
    return _cpus()


def set_num_threads(int: int) -> None:  # noqa: A002 - PyTorch's parameter name
    """Validate ``int`` as ``torch.set_num_threads`` does; XLA's CPU thread pool cannot be resized
    after start, so a different number warns (``UserWarning``) and leaves the pool as it is."""
    _check("set_num_threads", int)
    if int != _cpus():
        warnings.warn(
            f"set_num_threads({int}) has no effect: XLA's CPU thread pool keeps its {_cpus()} "
            "threads (it is sized when JAX starts; restrict the process's CPUs, e.g. with taskset, "
            "to use fewer)",
            UserWarning,
            stacklevel=2,
        )


def get_num_interop_threads() -> int:
    """The number of threads for inter-op parallelism on CPU: XLA runs independent operations on
    the same pool as ``get_num_threads``."""
    return _cpus()


def set_num_interop_threads(int: int) -> None:  # noqa: A002 - PyTorch's parameter name
    """Validate ``int`` as ``torch.set_num_interop_threads`` does; a different number warns
    (``UserWarning``) and changes nothing, as for ``set_num_threads``."""
    _check("set_num_interop_threads", int)
    if int != _cpus():
        warnings.warn(
            f"set_num_interop_threads({int}) has no effect: XLA's CPU thread pool keeps its "
            f"{_cpus()} threads (it is sized when JAX starts)",
            UserWarning,
            stacklevel=2,
        )
