"""Sample inputs for the registry-generated op tests.

Each family module defines ``SAMPLES = {op_name: [Sample, ...]}``. ``tests/test_op_registry.py``
checks every registered op against ``jax.vjp`` of its own lowering, by float64 finite differences,
and to second order; it fails for a registered op that has no samples here. Each family draws its
random operands from its own generator (``Family``), seeded from the family's name.
"""

from __future__ import annotations

import importlib
import pkgutil
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np


@dataclass
class Sample:
    """One call of an op: ``op(*args, **params)``.

    ``args`` hold numpy float arrays (differentiable operands), integer/bool arrays (index or mask
    operands, never differentiated), Python scalars or None. ``fd=False`` skips the finite-difference
    check (for inputs near a kink); ``second_order=False`` skips create_graph checks; ``name`` labels
    the test. ``cotangent``, if given, maps ``(output, drawn cotangent)`` to the cotangent the checks
    use: for outputs defined only up to a gauge (eigenvector phases), a cotangent the gauge cannot
    change.
    """

    args: tuple
    params: dict = field(default_factory=dict)
    fd: bool = True
    second_order: bool = True
    name: str = ""
    cotangent: Callable | None = None


class Family:
    """Random operands for one family's samples, from that family's own generator.

    The seed comes from the family's name, so adding, removing or reordering samples in one family
    leaves every other family's inputs as they were. Each family module starts with
    ``_draw = Family(__name__)`` and takes the helpers it uses from it
    (``arr, pos = _draw.arr, _draw.pos``).
    """

    def __init__(self, module: str):
        self.name = module.rpartition(".")[2]
        self.rng = np.random.default_rng(zlib.crc32(self.name.encode()))

    def arr(self, *shape, low: float = -2.0, high: float = 2.0) -> np.ndarray:
        """Uniform float64 values in [low, high)."""
        return self.rng.uniform(low, high, size=shape)

    def pos(self, *shape, low: float = 0.5, high: float = 2.0) -> np.ndarray:
        """Positive float64 values (domains of log, sqrt, ...)."""
        return self.rng.uniform(low, high, size=shape)

    def away(self, *shape, gap: float = 0.2, low: float = -2.0, high: float = 2.0) -> np.ndarray:
        """Values at least ``gap`` away from 0 (for kinks at zero: abs, relu, sign, ...)."""
        x = self.rng.uniform(low, high, size=shape)
        return np.where(np.abs(x) < gap, np.sign(x + 1e-12) * gap + x, x)

    def distinct(self, *shape, low: float = -2.0, high: float = 2.0) -> np.ndarray:
        """Values with no ties (max/min/sort-based ops), well separated."""
        n = int(np.prod(shape)) if shape else 1
        vals = np.linspace(low, high, n) + self.rng.uniform(0, 0.1 * (high - low) / max(n, 1), n)
        return self.rng.permutation(vals).reshape(shape)

    def ints(self, *shape, high: int, low: int = 0) -> np.ndarray:
        """int64 indices in [low, high)."""
        return self.rng.integers(low, high, size=shape, dtype=np.int64)


def draw_cotangent(out, rng: np.random.Generator, sample: Sample | None = None) -> np.ndarray:
    """A random cotangent for ``out`` (an array or tensor) in its dtype (complex parts drawn
    independently), passed through ``sample.cotangent`` when the sample gives one."""
    out = np.asarray(out)
    if out.dtype.kind == "c":
        cot = rng.standard_normal(out.shape) + 1j * rng.standard_normal(out.shape)
    else:
        cot = rng.standard_normal(out.shape)
    cot = cot.astype(out.dtype)
    if sample is not None and sample.cotangent is not None:
        cot = sample.cotangent(out, cot).astype(out.dtype)
    return cot


def load_all() -> dict:
    """All families' samples, merged."""
    merged: dict = {}
    for info in pkgutil.iter_modules(__path__):
        mod = importlib.import_module(f"{__name__}.{info.name}")
        for name, samples in getattr(mod, "SAMPLES", {}).items():
            if name in merged:
                raise ValueError(f"samples for op {name!r} defined twice")
            merged[name] = samples
    return merged
