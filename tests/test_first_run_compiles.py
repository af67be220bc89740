"""What a new process compiles before its first step: creating constants compiles nothing, an
initialiser is one program per parameter shape, and an eager training loop's later steps reuse the
first one's programs (see benchmarks/first_step.py for the whole-script figures)."""

from __future__ import annotations

import numpy as np
import pytest
from jax import monitoring

import tracegrad as tg

_COMPILES: list = []
monitoring.register_event_duration_secs_listener(
    lambda event, _s, **_k: (
        _COMPILES.append(event) if event == "/jax/core/compile/backend_compile_duration" else None
    )
)


def _compiles(fn) -> tuple[int, object]:
    before = len(_COMPILES)
    out = fn()
    return len(_COMPILES) - before, out


@pytest.mark.parametrize(
    "make, value",
    [
        (lambda s: tg.zeros(*s), 0.0),
        (lambda s: tg.ones(*s, dtype=tg.float64), 1.0),
        (lambda s: tg.empty(s), 0.0),
        (lambda s: tg.full(s, 2.5, dtype=tg.bfloat16), 2.5),
        (lambda s: tg.zeros(s, dtype=tg.int64), 0),
        (lambda s: tg.ones_like(tg.zeros(s), device="cpu"), 1.0),
    ],
)
def test_constants_compile_nothing(make, value):
    shape = (3, 41, 7)  # a shape no other test uses
    n, t = _compiles(lambda: make(shape))
    assert n == 0
    assert t.shape == shape
    np.testing.assert_array_equal(t.float().numpy(), np.full(shape, value, np.float32))


def test_initialising_a_layer_is_one_program_per_draw():
    """nn.Linear of new shapes: its weight's and bias's uniform draws, nothing else."""
    tg.nn.Linear(3, 2)  # the generator's one-time setup (seeding, splitting keys)
    n, _ = _compiles(lambda: tg.nn.Linear(43, 31))
    assert n <= 2
    w = tg.empty(47, 29)
    n, _ = _compiles(lambda: tg.nn.init.normal_(w, mean=0.5, std=0.02))
    assert n == 1
    assert abs(float(w.mean()) - 0.5) < 0.01 and abs(float(w.std()) - 0.02) < 0.005
    n, _ = _compiles(lambda: tg.nn.init.normal_(w, mean=-1.0, std=3.0))  # new values, same program
    assert n == 0
    n, _ = _compiles(lambda: tg.nn.init.trunc_normal_(w, std=0.5, a=-0.3, b=0.4))
    assert n == 1
    assert float(w.min()) >= -0.3 and float(w.max()) <= 0.4


def test_tensor_from_host_data_is_a_copy_and_compiles_nothing():
    data = np.arange(3 * 43, dtype=np.float32).reshape(3, 43)
    n, t = _compiles(lambda: tg.tensor(data))
    assert n == 0
    data[:] = -1  # the tensor owns its values: a later change to the numpy array does not show
    np.testing.assert_array_equal(t.numpy(), np.arange(3 * 43, dtype=np.float32).reshape(3, 43))
    n, t = _compiles(lambda: tg.tensor([[0.1] * 5] * 3, dtype=tg.float64))  # exact float64
    assert n == 0 and t.numpy()[0, 0] == 0.1
