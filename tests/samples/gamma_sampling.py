"""Samples for reparameterized gamma draws (standard_gamma and its gradient, standard_gamma_grad).

The draw is made by rejection, so finite differences of the lowering at a fixed key measure the
pathwise derivative of the sampler, not the implicit-reparameterization gradient the op (and JAX's
own ``gamma``) defines: those checks are off. As in PyTorch, there is no second derivative."""

from __future__ import annotations

import numpy as np

from . import Family, Sample

_draw = Family(__name__)
pos, ints = _draw.pos, _draw.ints

S = Sample


def _seed() -> np.ndarray:
    return ints(2, high=2**31)


SAMPLES = {
    "standard_gamma": [
        S((pos(3, 4, low=0.3, high=5.0), _seed()), fd=False, second_order=False),
        S((pos(5, low=0.05, high=0.9), _seed()), fd=False, second_order=False, name="small"),
        S((pos(2, 3, low=20.0, high=50.0), _seed()), fd=False, second_order=False, name="large"),
    ],
    "standard_gamma_grad": [
        S((pos(3, 4, low=0.3, high=5.0), pos(3, 4, low=0.1, high=4.0))),
    ],
}
