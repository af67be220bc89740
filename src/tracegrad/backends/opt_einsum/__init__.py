"""``torch.backends.opt_einsum``: JAX always plans ``einsum`` contractions with opt_einsum
(``jax.numpy.einsum(optimize='auto')``), so it is available and enabled. ``enabled`` and
``strategy`` are kept and read back; ``tracegrad.einsum`` lets JAX choose the order either way
(the order changes rounding, never the mathematical result)."""

from __future__ import annotations

__all__ = ["is_available", "get_opt_einsum", "enabled", "strategy"]

enabled = True
strategy = "auto"


def is_available() -> bool:
    """True: JAX ships opt_einsum and uses it for every einsum."""
    return True


def get_opt_einsum():
    """The opt_einsum package JAX uses."""
    import opt_einsum  # noqa: PLC0415 - an optional import, as in PyTorch

    return opt_einsum
