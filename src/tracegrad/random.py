"""The random state: a JAX PRNG key split on every draw, seeded by ``manual_seed``.

The generator is process-wide, like PyTorch's default generator: every thread draws from it, one
draw at a time (a lock makes split-and-replace atomic, so two threads never get the same key).
While ``tracegrad.compile`` traces a step in some thread, that thread draws from the trace's own
key instead (``_tracing.Trace.key``, the program's RNG input); ``get_rng_state``,
``set_rng_state`` and ``manual_seed`` called inside the step act on that key too, so the program
sees the same random state an eager step would. Other threads keep using the global key.
"""

from __future__ import annotations

import math
import threading
from functools import partial

import jax
import jax.numpy as jnp
import numpy as np

from . import _tracing

__all__ = ["manual_seed", "seed", "initial_seed", "next_key", "get_rng_state", "set_rng_state"]

_seed = 0
_key = None
_lock = threading.Lock()  # guards _seed and _key


def _trace_with_key():
    trace = _tracing.current()
    return trace if trace is not None and trace.key is not None else None


def manual_seed(seed: int):
    """Seed tracegrad's random number generator (factories, dropout, init, shuffling)."""
    global _seed, _key
    seed = int(seed)
    trace = _trace_with_key()
    if trace is not None:  # inside a compiled step: reseeds the step's key
        trace.key = jax.random.key(seed)
        return _Generator
    key = jax.random.key(seed)
    with _lock:
        _seed, _key = seed, key
    return _Generator


def seed() -> int:
    """Seed from a non-deterministic source and return the seed."""
    s = int(np.random.SeedSequence().entropy % (2**63))
    manual_seed(s)
    return s


def initial_seed() -> int:
    """The seed last given to ``manual_seed``."""
    return _seed


def next_key(generator=None) -> jax.Array:
    """Split the current key (the global one, or the trace's inside a compiled step) and return
    a fresh subkey for one random draw. With a ``tracegrad.Generator``, split that generator's
    key instead (the ``generator=`` argument of PyTorch's random functions)."""
    global _key
    if generator is not None:
        return _generator_key(generator)
    trace = _trace_with_key()
    if trace is not None:
        trace.key, sub = jax.random.split(trace.key)
        return sub
    with _lock:
        if _key is None:
            _key = jax.random.key(_seed)
        _key, sub = jax.random.split(_key)
    return sub


def get_rng_state():
    """The current key (a JAX key array); pass it to ``set_rng_state`` to replay draws."""
    global _key
    trace = _trace_with_key()
    if trace is not None:
        return trace.key
    with _lock:
        if _key is None:
            _key = jax.random.key(_seed)
        return _key


def set_rng_state(state) -> None:
    """Restore a key returned by ``get_rng_state``."""
    global _key
    trace = _trace_with_key()
    if trace is not None:
        trace.key = state
        return
    with _lock:
        _key = state


def _generator_key(generator) -> jax.Array:
    if not hasattr(generator, "_next_key"):
        raise TypeError(f"generator must be a tracegrad.Generator, got {type(generator).__name__}")
    if _tracing.current() is not None:
        # The generator's key is Python state outside the program: splitting it here would leave
        # a traced key in it and replay the same draws on every call.
        raise NotImplementedError(
            "tracegrad.compile: a draw from an explicit Generator (generator=...) inside a "
            "compiled step is not supported; draw from the global generator (seeded by "
            "tracegrad.manual_seed) inside the step, or make the draw outside it"
        )
    return generator._next_key()


def replace_rng_state(old, new) -> None:
    """Make ``new`` (an equal key, placed on a device) the global key, unless another thread
    drew since ``old`` was read (then its key is newer and stays)."""
    global _key
    with _lock:
        if _key is old:
            _key = new


class _Generator:
    """What ``manual_seed`` returns in PyTorch; here only its ``initial_seed`` is meaningful."""

    @staticmethod
    def initial_seed() -> int:
        return _seed


@partial(jax.jit, static_argnames=("shape",))
def keep_mask(key, p_keep, shape: tuple):
    """A boolean mask of ``shape``, each element True with probability ``p_keep`` (dropout's kept
    elements), drawn from ``key``.

    The bits come from XLA's random bit generator seeded by four words of ``key``, not from
    threefry. Both are reproducible from ``manual_seed``. XLA:CPU compiles threefry's counter
    arithmetic in time that grows with the shape (1.8 s for a 64x64x12x12 mask, against 0.2 s for
    any shape here), and the bit generator also runs about twice as fast.
    """
    words = jax.random.bits(key, (4,), jnp.uint32)
    return jax.random.bernoulli(jax.random.wrap_key_data(words, impl="rbg"), p_keep, shape)


# Draws made outside a compiled step, for tensors up to this many elements, come from a numpy
# generator seeded by the next key of tracegrad's stream (so manual_seed and generator= reproduce
# them) and are transferred: XLA:CPU compiles a random-number program for each new shape in
# 0.1-0.5 s, and a program's first steps meet many shapes (initialisers, data). Larger draws, and
# draws inside a compiled step's trace, use jax.random on the device.
HOST_DRAW_MAX = 1 << 22


def host_generator(key, shape: tuple) -> np.random.Generator | None:
    """A numpy generator seeded by ``key``, or None when the draw should stay on the device."""
    if isinstance(key, jax.core.Tracer) or math.prod(shape) > HOST_DRAW_MAX:
        return None
    return np.random.default_rng([int(w) for w in np.asarray(jax.random.key_data(key))])
