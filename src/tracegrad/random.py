"""The global random state: a JAX PRNG key split on every draw, seeded by ``manual_seed``."""

from __future__ import annotations

import jax
import numpy as np

__all__ = ["manual_seed", "seed", "initial_seed", "next_key", "get_rng_state", "set_rng_state"]

_seed = 0
_key = None


def manual_seed(seed: int):
    """Seed tracegrad's random number generator (factories, dropout, init, shuffling)."""
    global _seed, _key
    _seed = int(seed)
    _key = jax.random.key(_seed)
    return _Generator


def seed() -> int:
    """Seed from a non-deterministic source and return the seed."""
    s = int(np.random.SeedSequence().entropy % (2**63))
    manual_seed(s)
    return s


def initial_seed() -> int:
    """The seed last given to ``manual_seed``."""
    return _seed


def next_key() -> jax.Array:
    """Split the global key and return a fresh subkey for one random draw."""
    global _key
    if _key is None:
        _key = jax.random.key(_seed)
    _key, sub = jax.random.split(_key)
    return sub


def get_rng_state():
    """The current key (a JAX key array); pass it to ``set_rng_state`` to replay draws."""
    if _key is None:
        manual_seed(_seed)
    return _key


def set_rng_state(state) -> None:
    """Restore a key returned by ``get_rng_state``."""
    global _key
    _key = state


class _Generator:
    """What ``manual_seed`` returns in PyTorch; here only its ``initial_seed`` is meaningful."""

    @staticmethod
    def initial_seed() -> int:
        return _seed
