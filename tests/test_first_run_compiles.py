"""What a new process compiles before its first step: creating constants and initialising
parameters compiles nothing, and a new model's first backward is one program (see
benchmarks/first_step.py for the whole-script figures)."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pytest
from jax import monitoring

import tracegrad as tg

pytestmark = pytest.mark.eager_only  # eager mode's compile counts

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


def test_initialising_a_layer_compiles_nothing():
    """nn.Linear of new shapes, normal_ and uniform_ draw on the host from tracegrad's stream;
    trunc_normal_ is one device program per shape."""
    tg.nn.Linear(3, 2)  # the generator's one-time setup (seeding, splitting keys)
    n, lin = _compiles(lambda: tg.nn.Linear(43, 31))
    assert n == 0
    bound = 1 / np.sqrt(43)  # kaiming_uniform_(a=sqrt(5)) and the bias: U(-1/sqrt(fan_in), ...)
    for p in (lin.weight, lin.bias):
        v = p.detach().numpy()
        assert v.dtype == np.float32 and np.all(np.abs(v) <= bound) and v.std() > bound / 3
    w = tg.empty(47, 29)
    n, _ = _compiles(lambda: tg.nn.init.normal_(w, mean=0.5, std=0.02))
    assert n == 0
    assert abs(float(w.mean()) - 0.5) < 0.01 and abs(float(w.std()) - 0.02) < 0.005
    n, _ = _compiles(lambda: tg.nn.init.trunc_normal_(w, std=0.5, a=-0.3, b=0.4))
    assert n == 1
    assert float(w.min()) >= -0.3 and float(w.max()) <= 0.4
    n, _ = _compiles(lambda: tg.nn.init.trunc_normal_(w, mean=0.1, std=2.0))  # same program
    assert n == 0


def test_host_draws_follow_the_seed():
    tg.manual_seed(3)
    a = tg.nn.Linear(6, 4).weight.detach().numpy()
    tg.manual_seed(3)
    b = tg.nn.Linear(6, 4).weight.detach().numpy()
    g1, g2 = tg.Generator().manual_seed(5), tg.Generator().manual_seed(5)
    x, y = tg.empty(3, 7), tg.empty(3, 7)
    tg.nn.init.normal_(x, generator=g1)
    tg.nn.init.normal_(y, generator=g2)
    np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(x.numpy(), y.numpy())
    assert not np.array_equal(x.numpy(), tg.nn.init.normal_(tg.empty(3, 7)).numpy())


def test_tensor_from_host_data_is_a_copy_and_compiles_nothing():
    data = np.arange(3 * 43, dtype=np.float32).reshape(3, 43)
    n, t = _compiles(lambda: tg.tensor(data))
    assert n == 0
    data[:] = -1  # the tensor owns its values: a later change to the numpy array does not show
    np.testing.assert_array_equal(t.numpy(), np.arange(3 * 43, dtype=np.float32).reshape(3, 43))
    n, t = _compiles(lambda: tg.tensor([[0.1] * 5] * 3, dtype=tg.float64))  # exact float64
    assert n == 0 and t.numpy()[0, 0] == 0.1


_FIRST_SIGHTING = """
import json
import jax, jax.numpy as jnp, numpy as np
import tracegrad as tg
from tracegrad.autograd import compiled

rng = np.random.default_rng(0)
x_np, w_np = rng.normal(size=(6, 9)), rng.normal(size=(9, 5))

def loss(x, w, retain=False):
    h = tg.tanh(x @ w)
    if retain:
        h.retain_grad()
    return (tg.exp(-h * h) / (1.0 + h.abs()) - tg.sigmoid(h).log()).mean()

def oracle(x, w):
    h = jnp.tanh(x @ w)
    return (jnp.exp(-h * h) / (1.0 + jnp.abs(h)) - jnp.log(jax.nn.sigmoid(h))).mean()

out = {}
x, w = tg.tensor(x_np, requires_grad=True), tg.tensor(w_np, requires_grad=True)
out["explain"] = compiled.explain(loss(x, w))
loss(x, w).backward()  # new rules: compiled at this first sighting
out["after_first"] = compiled.stats()["compiles"]
gx, gw = jax.grad(oracle, argnums=(0, 1))(jnp.asarray(x_np), jnp.asarray(w_np))
out["grads_ok"] = bool(np.allclose(x.grad.numpy(), gx, rtol=1e-10, atol=1e-12)
                       and np.allclose(w.grad.numpy(), gw, rtol=1e-10, atol=1e-12))

# The same rules on other shapes, first with the rule off: they run node by node (and are now
# known); then a new graph of those known rules (a retained grad changes the structure only) is
# not compiled at its first sighting, since node by node compiles nothing new.
compiled.COMPILE_FIRST_IF_CHEAPER = False
a, b = tg.randn(4, 3, dtype=tg.float64, requires_grad=True), tg.randn(3, 2, dtype=tg.float64, requires_grad=True)
loss(a, b).backward()
compiled.COMPILE_FIRST_IF_CHEAPER = True
loss(a, b, retain=True).backward()
out["after_known"] = compiled.stats()["compiles"]
print(json.dumps(out))
"""


def test_a_new_graph_is_compiled_at_its_first_sighting_when_that_is_cheaper():
    env = {k: v for k, v in os.environ.items() if k != "TRACEGRAD_COMPILE_FIRST_IF_CHEAPER"}
    env["TRACEGRAD_LAZY"] = "0"
    got = subprocess.run(
        [sys.executable, "-c", _FIRST_SIGHTING], env=env, capture_output=True, text=True, check=True
    )
    out = json.loads(got.stdout.strip().splitlines()[-1])
    assert out["after_first"] == 1 and out["grads_ok"]
    assert out["after_known"] == 1  # the known rules ran node by node
    assert "the next backward() compiles it" in out["explain"]
    assert "would compile programs of their own" in out["explain"]


def test_clip_grad_norm_is_one_program_and_matches_the_norm():
    ps = [tg.randn(*s, dtype=tg.float64, requires_grad=True) for s in [(3, 5), (7,), (2, 2, 9)]]
    for p in ps:
        p.grad = tg.randn(*p.shape, dtype=tg.float64) * 3
    before = [p.grad.numpy().copy() for p in ps]
    version = ps[0].grad._version
    n, total = _compiles(lambda: tg.nn.utils.clip_grad_norm_(ps, 1.5))
    assert n == 1
    expected = np.sqrt(sum((g**2).sum() for g in before))
    np.testing.assert_allclose(total.item(), expected, rtol=1e-12)
    for p, g in zip(ps, before):
        np.testing.assert_allclose(
            p.grad.numpy(), g * min(1.5 / (expected + 1e-6), 1.0), rtol=1e-12
        )
    assert ps[0].grad._version > version  # scaled in place
