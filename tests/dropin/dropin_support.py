"""What the drop-in programs share: numpy-drawn data and initial weights, and the result line.

PyTorch's random number generator and tracegrad's draw different numbers from the same seed, so
where an original program relies on torch's RNG for data or initial weights, the adapted program
draws them from a seeded ``numpy.random.Generator`` instead (the one documented adaptation) and
hands them to torch through ``torch.from_numpy`` / ``load_state_dict``. Everything here goes
through ``torch``'s public API, so it runs against PyTorch and against tracegrad alike.
"""

from __future__ import annotations

import json
import math

import numpy as np
import torch

MARKER = "DROPIN-RESULT "


def rng(seed: int = 0) -> np.random.Generator:
    """The seeded numpy generator a program draws its data and weights from."""
    return np.random.default_rng(seed)


def tensor(array, dtype=np.float32):
    """A torch tensor holding ``array`` as ``dtype`` (float32 unless told)."""
    return torch.from_numpy(np.ascontiguousarray(np.asarray(array, dtype=dtype)))


def numpy_state(model, gen: np.random.Generator, draw=None) -> dict:
    """``model.state_dict()`` with every parameter redrawn from numpy.

    By default a weight of ``k`` inputs per output is uniform in ``±1/sqrt(k)`` and its bias takes
    the same bound (the shape of PyTorch's default ``Linear``/``Conv`` init); a 1-D parameter
    without a matching weight (a norm layer's ``weight``/``bias``) keeps its value. ``draw(name,
    shape)`` may return an array to use instead (``None`` falls back to the default). Buffers
    (running statistics, counters) are kept.
    """
    params = dict(model.named_parameters())
    state = model.state_dict()
    out = {}
    for name, value in state.items():
        if name not in params:
            out[name] = value
            continue
        shape = tuple(value.shape)
        array = draw(name, shape) if draw is not None else None
        if array is None:
            prefix = name.rsplit(".", 1)[0] if "." in name else ""
            weight = params.get(f"{prefix}.weight" if prefix else "weight")
            ref = value if len(shape) >= 2 else weight
            if ref is None or ref.dim() < 2:
                out[name] = value
                continue
            fan_in = ref.numel() // ref.shape[0]
            bound = 1.0 / math.sqrt(fan_in)
            array = gen.uniform(-bound, bound, size=shape)
        out[name] = tensor(array)
    return out


def values(t) -> list | float:
    """A tensor's values as (nested) Python floats."""
    return t.detach().cpu().tolist()


def emit(results: dict, unseeded: dict | None = None) -> None:
    """Print the numbers a program computed, as one JSON line the harness compares.

    ``results`` is compared value by value with the other backend's; ``unseeded`` holds numbers
    that depend on torch's own random draws (dropout masks, sampling), compared only in structure
    and checked to be finite.
    """
    print(MARKER + json.dumps({"values": results, "unseeded": unseeded or {}}))
