"""``Generator``: a seeded source of randomness separate from the global state.

PyTorch code passes ``torch.Generator().manual_seed(s)`` to ``DataLoader``, ``random_split`` and
samplers to make shuffling reproducible without touching the global seed. Here a generator holds
its own JAX key and splits it on every draw, exactly as ``tracegrad.random`` does for the global
state.
"""

from __future__ import annotations

import jax
import numpy as np

from ... import random as _random
from ...tensor import tensor

__all__ = ["Generator"]

_DEFAULT_SEED = 67280421310721  # torch.Generator().initial_seed()


class Generator:
    """A random number generator with its own seed, like ``torch.Generator``.

    ``Generator().manual_seed(0)`` returns the generator, so it can be built inline. Every draw
    splits the generator's key, so two generators seeded alike produce the same sequence and never
    disturb ``tracegrad.manual_seed``'s global state.
    """

    def __init__(self, device="cpu") -> None:
        self.device = device
        self.manual_seed(_DEFAULT_SEED)

    def manual_seed(self, seed: int) -> Generator:
        """Reset the generator to ``seed``; returns ``self``."""
        self._seed = int(seed)
        self._key = jax.random.key(self._seed % 2**64)
        return self

    def seed(self) -> int:
        """Seed from a non-deterministic source and return the seed."""
        s = int(np.random.SeedSequence().entropy % 2**63)
        self.manual_seed(s)
        return s

    def initial_seed(self) -> int:
        """The seed last given to ``manual_seed``."""
        return self._seed

    def get_state(self):
        """The generator's state as a uint8 tensor (pass it to ``set_state`` to replay draws)."""
        return tensor(np.asarray(jax.random.key_data(self._key)).view(np.uint8))

    def set_state(self, new_state) -> Generator:
        """Restore a state returned by ``get_state``; returns ``self``."""
        data = np.asarray(new_state, dtype=np.uint8).view(np.uint32)
        self._key = jax.random.wrap_key_data(data)
        return self

    def _next_key(self) -> jax.Array:
        self._key, sub = jax.random.split(self._key)
        return sub

    def __repr__(self) -> str:
        return f"<tracegrad.Generator object (seed {self._seed})>"


def next_key(generator: Generator | None) -> jax.Array:
    """A fresh key from ``generator``, or from the global state (``manual_seed``) when None."""
    return _random.next_key(generator)


def permutation(n: int, generator: Generator | None) -> np.ndarray:
    """A random permutation of ``range(n)`` as a host int64 array (one key drawn).

    The key is placed on the default device first: the global key may be committed (written back
    by a compiled step) or not, and ``jax.random.permutation`` would compile once for each."""
    key = jax.device_put(next_key(generator), jax.devices()[0])
    return np.asarray(jax.random.permutation(key, n), dtype=np.int64)
