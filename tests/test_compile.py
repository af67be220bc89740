"""``tracegrad.compile``: a whole training step as one XLA program, checked against eager runs of
the same code from the same state (the oracle: tracegrad's eager mode, itself checked against
jax.vjp and PyTorch elsewhere)."""

from __future__ import annotations

import copy
import logging
import os
import subprocess
import sys
import textwrap

import jax
import numpy as np
import pytest

import tracegrad as tg
import tracegrad.nn.functional as F
from tracegrad import nn, optim
from tracegrad.ops import REGISTRY

from .samples import draw_cotangent, load_all
from .tiers import slow_after


def arr(t) -> np.ndarray:
    return np.asarray(t._storage.array)


def assert_state_equal(model_a, opt_a, model_b, opt_b, rtol=2e-5, atol=1e-6):
    """Parameters, gradients, buffers and optimizer state of two runs agree to float32 rounding."""
    for (name, a), (_, b) in zip(model_a.named_parameters(), model_b.named_parameters()):
        np.testing.assert_allclose(arr(a), arr(b), rtol=rtol, atol=atol, err_msg=name)
        assert (a.grad is None) == (b.grad is None), name
        if a.grad is not None:
            np.testing.assert_allclose(arr(a.grad), arr(b.grad), rtol=rtol, atol=atol, err_msg=name)
    for (name, a), (_, b) in zip(model_a.named_buffers(), model_b.named_buffers()):
        np.testing.assert_allclose(arr(a), arr(b), rtol=rtol, atol=atol, err_msg=name)
    for pa, pb in zip(model_a.parameters(), model_b.parameters()):
        sa, sb = opt_a.state[pa], opt_b.state[pb]
        assert sa.keys() == sb.keys()
        for k in sa:
            np.testing.assert_allclose(arr(sa[k]), arr(sb[k]), rtol=rtol, atol=atol, err_msg=k)


def run_both(make, step_fn, batches):
    """Run ``step_fn`` eagerly and compiled from the same initial state and seed; return both
    (model, optimizer, losses) triples."""
    out = []
    for compiled in (False, True):
        model, opt = make()
        tg.manual_seed(123)
        step = step_fn(model, opt)
        if compiled:
            step = tg.compile(step)
        losses = [float(step(*b)) for b in batches]
        out.append((model, opt, losses, step))
    return out


def mlp_adam():
    tg.manual_seed(0)
    model = nn.Sequential(nn.Linear(12, 32), nn.ReLU(), nn.Dropout(0.25), nn.Linear(32, 4))
    return model, optim.Adam(model.parameters(), lr=1e-2)


def cnn_bn_sgd():
    tg.manual_seed(0)
    model = nn.Sequential(
        nn.Conv2d(1, 4, 3, padding=1),
        nn.BatchNorm2d(4),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Flatten(),
        nn.Linear(4 * 4 * 4, 3),
    )
    return model, optim.SGD(model.parameters(), lr=0.1, momentum=0.9, weight_decay=1e-4)


def classification_step(model, opt, clip: float | None = None):
    def step(x, y):
        opt.zero_grad()
        loss = F.cross_entropy(model(x), y)
        loss.backward()
        if clip is not None:
            nn.utils.clip_grad_norm_(model.parameters(), max_norm=clip)
        opt.step()
        return loss

    return step


def batches(shape, classes, n=6, seed=0):
    rng = np.random.default_rng(seed)
    return [
        (
            tg.tensor(rng.standard_normal(shape).astype(np.float32)),
            tg.tensor(rng.integers(0, classes, shape[0])),
        )
        for _ in range(n)
    ]


@pytest.mark.slow
def test_mlp_adam_with_dropout_matches_eager():
    (me, oe, le, _), (mc, oc, lc, step) = run_both(
        mlp_adam, classification_step, batches((16, 12), 4)
    )
    np.testing.assert_allclose(lc, le, rtol=2e-5)
    assert_state_equal(me, oe, mc, oc)
    # the first call creates .grads and Adam's moments, the second traces the steady state
    assert step.traces == 2
    # the RNG key advanced exactly as in eager mode (same dropout masks in the next draw)
    np.testing.assert_array_equal(
        jax.random.key_data(tg.get_rng_state()), jax.random.key_data(tg.get_rng_state())
    )


@pytest.mark.slow
def test_cnn_batchnorm_sgd_momentum_matches_eager():
    (me, oe, le, _), (mc, oc, lc, step) = run_both(
        cnn_bn_sgd, classification_step, batches((8, 1, 8, 8), 3)
    )
    np.testing.assert_allclose(lc, le, rtol=2e-5)
    assert_state_equal(me, oe, mc, oc)
    assert int(mc[1].num_batches_tracked.item()) == 6
    assert step.traces == 2


@pytest.mark.slow
def test_rng_state_after_compiled_calls_matches_eager():
    keys = []
    for compiled in (False, True):
        model, opt = mlp_adam()
        tg.manual_seed(7)
        step = classification_step(model, opt)
        step = tg.compile(step) if compiled else step
        for b in batches((16, 12), 4, n=3):
            step(*b)
        keys.append(np.asarray(jax.random.key_data(tg.get_rng_state())))
    np.testing.assert_array_equal(keys[0], keys[1])


def test_dropout_masks_fresh_each_call_and_equal_to_eager():
    def masks(compiled: bool):
        tg.manual_seed(3)
        ones = tg.ones(64)

        def draw(x):
            return F.dropout(x, 0.5)

        f = tg.compile(draw) if compiled else draw
        return [arr(f(ones)) for _ in range(4)]

    eager, comp = masks(False), masks(True)
    for e, c in zip(eager, comp):
        np.testing.assert_array_equal(e, c)
    assert not np.array_equal(comp[2], comp[3])  # both compiled calls: not a baked mask


def test_closure_tensors_and_manual_update():
    """Linear regression the tutorial way: loose tensors in globals/closures, a manual update."""

    def train(compiled: bool):
        tg.manual_seed(0)
        w = tg.randn(3, 1, requires_grad=True)
        b = tg.zeros(1, requires_grad=True)
        x = tg.randn(20, 3)
        y = x @ tg.tensor([[1.0], [-2.0], [0.5]]) + 0.3

        def step(x, y):
            loss = ((x @ w + b - y) ** 2).mean()
            loss.backward()
            with tg.no_grad():
                w.sub_(0.1 * w.grad)
                b.sub_(0.1 * b.grad)
                w.grad.zero_()
                b.grad.zero_()
            return loss

        f = tg.compile(step) if compiled else step
        losses = [f(x, y).item() for _ in range(5)]
        return losses, arr(w), arr(b), f

    le, we, be, _ = train(False)
    lc, wc, bc, f = train(True)
    np.testing.assert_allclose(lc, le, rtol=1e-5)
    np.testing.assert_allclose(wc, we, rtol=1e-5)
    np.testing.assert_allclose(bc, be, rtol=1e-5)
    assert f.traces == 2


@pytest.mark.slow
def test_retrace_on_new_shape_is_logged(caplog):
    model, opt = mlp_adam()
    step = tg.compile(classification_step(model, opt))
    with caplog.at_level(logging.INFO, logger="tracegrad.compile"):
        for b in batches((16, 12), 4, n=3):
            step(*b)
        assert step.traces == 2
        for b in batches((8, 12), 4, n=2):
            step(*b)
    assert step.traces == 3
    assert "argument 'x' changed: tensor[16, 12] float32 -> tensor[8, 12] float32" in caplog.text


def test_train_eval_switch_retraces():
    model, opt = cnn_bn_sgd()

    @tg.compile
    def predict(x):
        return model(x)

    x = batches((8, 1, 8, 8), 3, n=1)[0][0]
    with tg.no_grad():
        predict(x)
        train_out = predict(x)
        model.eval()
        eval_out = predict(x)
        expected = model(x)
    np.testing.assert_allclose(arr(eval_out), arr(expected), rtol=1e-5, atol=1e-6)
    assert not np.allclose(arr(train_out), arr(eval_out))
    assert predict.traces == 2


def test_repeated_retraces_warn():
    @tg.compile
    def f(x, k):
        return x * k

    x = tg.ones(3)
    f(x, 0)
    with pytest.warns(UserWarning, match="has been traced 8 times"):
        for k in range(1, 9):
            np.testing.assert_allclose(arr(f(x, k)), k)


@pytest.mark.parametrize(
    "call, name",
    [
        (lambda t: t.item(), "item"),
        (lambda t: t.tolist(), "tolist"),
        (lambda t: t.numpy(), "numpy"),
        (lambda t: bool(t), "__bool__"),
    ],
)
def test_host_reads_inside_raise_and_leave_state_untouched(call, name):
    model, opt = mlp_adam()
    x, y = batches((16, 12), 4, n=1)[0]

    def step(x, y):
        opt.zero_grad()
        loss = F.cross_entropy(model(x), y)
        loss.backward()
        opt.step()
        call(loss.detach().sum() > 0 if name == "__bool__" else loss.detach())
        return loss

    f = tg.compile(step)
    before = [arr(p).copy() for p in model.parameters()]
    key = np.asarray(jax.random.key_data(tg.get_rng_state()))
    with pytest.raises(RuntimeError, match=rf"Tensor\.{name}\(\) needs a concrete value"):
        f(x, y)
    for p, b in zip(model.parameters(), before):
        assert not isinstance(p._storage.array, jax.core.Tracer)
        np.testing.assert_array_equal(arr(p), b)
        assert p.grad is None and not opt.state[p]  # nothing half-applied
    np.testing.assert_array_equal(np.asarray(jax.random.key_data(tg.get_rng_state())), key)


def test_lower_shows_tape_jaxpr_and_hlo():
    model, opt = mlp_adam()
    step = tg.compile(classification_step(model, opt))
    x, y = batches((16, 12), 4, n=1)[0]
    step(x, y)
    before = [arr(p).copy() for p in model.parameters()]
    lowered = step.lower(x, y)
    assert "addmm(" in lowered.tape or "linear(" in lowered.tape or "mm(" in lowered.tape
    assert "dot_general" in str(lowered.jaxpr)
    assert "stablehlo" in lowered.as_text()
    for p, b in zip(model.parameters(), before):  # lowering runs nothing
        np.testing.assert_array_equal(arr(p), b)


def test_return_structure_and_detached_outputs():
    w = tg.ones(3, requires_grad=True)

    @tg.compile
    def f(x):
        y = (w * x).sum()
        return {"y": y, "pair": (x * 2, 5), "none": None}

    for _ in range(3):
        out = f(tg.arange(3.0))
    assert out["pair"][1] == 5 and out["none"] is None
    assert out["y"].item() == 3.0 and not out["y"].requires_grad
    np.testing.assert_array_equal(arr(out["pair"][0]), [0, 2, 4])


def test_donation_keeps_copies_valid():
    model, opt = mlp_adam()
    saved = copy.deepcopy(model)
    state = {k: v for k, v in model.state_dict().items()}
    snapshot = {k: arr(v).copy() for k, v in saved.state_dict().items()}
    step = tg.compile(classification_step(model, opt))
    for b in batches((16, 12), 4, n=4):
        step(*b)
    for k, v in saved.state_dict().items():  # the deepcopy still holds the initial values
        np.testing.assert_array_equal(arr(v), snapshot[k])
    # state_dict() tensors share storage with the parameters, as in PyTorch: they see the update
    for k, v in state.items():
        np.testing.assert_array_equal(arr(v), arr(model.state_dict()[k]))


def test_compile_module_for_inference():
    model, _ = cnn_bn_sgd()
    model.eval()
    fast = tg.compile(model)
    x = batches((8, 1, 8, 8), 3, n=1)[0][0]
    with tg.no_grad():
        outs = [arr(fast(x)) for _ in range(3)]
        expected = arr(model(x))
    for o in outs:
        np.testing.assert_allclose(o, expected, rtol=1e-5, atol=1e-6)


@pytest.mark.slow
def test_compiled_module_trains_with_backward_outside():
    """``model = tracegrad.compile(model)`` in an ordinary loop: the forward (BatchNorm, dropout)
    is one program, ``loss.backward()`` runs its backward as a second one."""
    results = []
    for compiled in (False, True):
        model, opt = cnn_bn_sgd()
        model.insert(5, nn.Dropout(0.3))
        net = tg.compile(model) if compiled else model
        tg.manual_seed(9)
        losses = []
        for x, y in batches((8, 1, 8, 8), 3, n=5):
            opt.zero_grad()
            out = net(x)
            loss = F.cross_entropy(out, y)
            loss.backward()
            opt.step()
            losses.append(loss.item())
        results.append((model, opt, losses, out))
    (me, oe, le, _), (mc, oc, lc, out) = results
    assert out.grad_fn.name() == "CompiledForwardBackward"
    np.testing.assert_allclose(lc, le, rtol=2e-5)
    assert_state_equal(me, oe, mc, oc)


@pytest.mark.slow
def test_compiled_module_refuses_double_backward_and_falls_back_for_custom_functions():
    model, _ = cnn_bn_sgd()
    net = tg.compile(model)
    x = batches((8, 1, 8, 8), 3, n=1)[0][0].requires_grad_()
    out = net(x).sum()
    (g,) = tg.autograd.grad(out, x, create_graph=False)
    np.testing.assert_allclose(
        arr(g), arr(tg.autograd.grad(model(x).sum(), x)[0]), rtol=1e-5, atol=1e-7
    )
    with pytest.raises(NotImplementedError, match="double backward"):
        tg.autograd.grad(net(x).sum(), x, create_graph=True)

    class Square(tg.autograd.Function):
        @staticmethod
        def forward(ctx, t):
            ctx.save_for_backward(t)
            return t * t

        @staticmethod
        def backward(ctx, g):
            (t,) = ctx.saved_tensors
            return 2 * t * g

    class Custom(nn.Module):
        def __init__(self):
            super().__init__()
            self.lin = nn.Linear(3, 2)

        def forward(self, t):
            return Square.apply(self.lin(t))

    custom = Custom()
    fast = tg.compile(custom)
    with pytest.warns(UserWarning, match="runs eagerly because its graph has a custom Function"):
        y = fast(tg.ones(4, 3))
    y.sum().backward()
    assert custom.lin.weight.grad is not None


SHARDED = textwrap.dedent(
    """
    import jax, numpy as np
    from jax.sharding import Mesh, NamedSharding, PartitionSpec as P
    import tracegrad as tg
    import tracegrad.nn.functional as F
    from tracegrad import nn, optim

    assert len(jax.devices()) == 8
    mesh = Mesh(np.array(jax.devices()), ("data",))

    def run(shard):
        tg.manual_seed(0)
        model = nn.Sequential(nn.Linear(10, 16), nn.ReLU(), nn.Linear(16, 3))
        opt = optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
        if shard:
            for p in model.parameters():
                p.data = tg.tensor(jax.device_put(p._storage.array, NamedSharding(mesh, P())))

        @tg.compile
        def step(x, y):
            opt.zero_grad()
            loss = F.cross_entropy(model(x), y)
            loss.backward()
            opt.step()
            return loss

        rng = np.random.default_rng(0)
        losses = []
        for _ in range(4):
            x = rng.standard_normal((32, 10)).astype(np.float32)
            y = rng.integers(0, 3, 32)
            if shard:
                x = jax.device_put(x, NamedSharding(mesh, P("data")))
                y = jax.device_put(y, NamedSharding(mesh, P("data")))
            losses.append(step(tg.tensor(x), tg.tensor(y)).item())
        if shard:
            assert len(model[0].weight._storage.array.sharding.device_set) == 8
        return losses, [np.asarray(p._storage.array) for p in model.parameters()]

    l1, p1 = run(False)
    l8, p8 = run(True)
    np.testing.assert_allclose(l8, l1, rtol=1e-5)
    for a, b in zip(p8, p1):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
    print("ok", l8)
    """
)


@pytest.mark.slow
def test_compiled_step_on_8_simulated_devices_matches_one_device():
    env = dict(os.environ, XLA_FLAGS="--xla_force_host_platform_device_count=8")
    env["JAX_PLATFORMS"] = "cpu"
    result = subprocess.run(
        [sys.executable, "-c", SHARDED], env=env, capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.startswith("ok")


def test_parameter_passed_as_argument_is_not_donated_twice():
    model, opt = mlp_adam()
    x, y = batches((16, 12), 4, n=1)[0]

    @tg.compile
    def step(weight, x, y):
        opt.zero_grad()
        loss = F.cross_entropy(model(x), y) + weight.square().sum() * 1e-3
        loss.backward()
        opt.step()
        return loss

    for _ in range(3):
        loss = step(model[0].weight, x, y)
    assert np.isfinite(loss.item())
    assert np.isfinite(arr(model[0].weight)).all()


OPTIMIZERS = {
    "sgd_nesterov": lambda ps: optim.SGD(ps, lr=0.05, momentum=0.9, nesterov=True),
    "adam_amsgrad_wd": lambda ps: optim.Adam(ps, lr=1e-2, amsgrad=True, weight_decay=1e-3),
    "adamw": lambda ps: optim.AdamW(ps, lr=1e-2),
    "rmsprop_centered": lambda ps: optim.RMSprop(ps, lr=1e-2, centered=True, momentum=0.5),
    "adagrad": lambda ps: optim.Adagrad(ps, lr=0.1, lr_decay=0.01),
    "adadelta": lambda ps: optim.Adadelta(ps, lr=0.5, weight_decay=1e-3),
    "adamax": lambda ps: optim.Adamax(ps, lr=1e-2, weight_decay=1e-3),
    "nadam_decoupled": lambda ps: optim.NAdam(
        ps, lr=1e-2, weight_decay=1e-2, decoupled_weight_decay=True
    ),
    "radam": lambda ps: optim.RAdam(ps, lr=1e-2, betas=(0.9, 0.9)),
    "asgd": lambda ps: optim.ASGD(ps, lr=0.05, t0=2, lambd=1e-2),
    "rprop": lambda ps: optim.Rprop(ps, lr=1e-2, etas=(0.4, 1.3)),
    "adafactor": lambda ps: optim.Adafactor(ps, lr=1e-2, weight_decay=1e-2),
}


@pytest.mark.parametrize("name", slow_after(list(OPTIMIZERS)))  # fast: sgd_nesterov
def test_every_optimizer_with_scheduler_and_clipping_matches_eager(name):
    """The scheduler changes lr between calls: lr is a program input, so there is one trace."""
    results = []
    for compiled in (False, True):
        tg.manual_seed(0)
        model = nn.Sequential(nn.Linear(6, 16), nn.Tanh(), nn.Linear(16, 3))
        opt = OPTIMIZERS[name](model.parameters())
        sched = optim.lr_scheduler.ExponentialLR(opt, gamma=0.7)
        step = classification_step(model, opt, clip=0.5)
        f = tg.compile(step) if compiled else step
        for b in batches((10, 6), 3, n=5, seed=4):
            f(*b)
            sched.step()
        results.append((model, opt, f))
    (me, oe, _), (mc, oc, f) = results
    assert_state_equal(me, oe, mc, oc)
    assert f.traces == 2


# ----------------------------------------------------------------------------- the op registry
SAMPLES = load_all()


def _float(a) -> bool:
    return isinstance(a, np.ndarray) and a.dtype.kind == "f"


def _registry_cases():
    for name in sorted(SAMPLES):
        if not REGISTRY[name].differentiable:
            continue
        sample = next((s for s in SAMPLES[name] if any(_float(a) for a in s.args)), None)
        if sample is not None:
            yield pytest.param(name, sample, id=name)


@pytest.mark.slow
@pytest.mark.parametrize("name, sample", list(_registry_cases()))
def test_compiled_step_matches_eager_on_registry(name, sample):
    """Every differentiable op, forward and backward inside one compiled function (tensor
    arguments that require grad get their .grad written back), against the same code eagerly."""
    op = REGISTRY[name]

    def run(compiled: bool):
        tensors = [
            tg.tensor(a, requires_grad=_float(a)) if isinstance(a, np.ndarray) else a
            for a in sample.args
        ]
        out_probe = op(*tensors, **sample.params)
        cot = tg.tensor(draw_cotangent(out_probe.detach(), np.random.default_rng(1), sample))

        def f(*ts):
            for t in ts:
                if isinstance(t, tg.Tensor):
                    t.grad = None
            out = op(*ts, **sample.params)
            out.backward(cot)
            return out

        g = tg.compile(f) if compiled else f
        for _ in range(3):  # compiled: eager, traced, cached
            out = g(*tensors)
        grads = [arr(t.grad) for t in tensors if isinstance(t, tg.Tensor) and t.requires_grad]
        return arr(out), grads, g

    out_e, grads_e, _ = run(False)
    out_c, grads_c, g = run(True)
    np.testing.assert_allclose(out_c, out_e, rtol=1e-10, atol=1e-12)
    for a, b in zip(grads_c, grads_e):
        np.testing.assert_allclose(a, b, rtol=1e-10, atol=1e-12)
    assert g.traces == 2


class Trainer:
    """State reached only through an object's attributes, with the step as a method."""

    def __init__(self):
        self.model, self.opt = mlp_adam()

    @tg.compile
    def step(self, x, y):
        self.opt.zero_grad()
        loss = F.cross_entropy(self.model(x), y)
        loss.backward()
        self.opt.step()
        return loss


def test_compiled_method_finds_state_through_self():
    trainer = Trainer()
    model, opt = mlp_adam()
    eager = classification_step(model, opt)
    for b in batches((16, 12), 4, n=4):
        tg.manual_seed(5)
        eager(*b)
        tg.manual_seed(5)
        trainer.step(*b)
    assert_state_equal(model, opt, trainer.model, trainer.opt)


def test_a_parameter_that_is_not_found_is_refused_not_baked():
    registry = {}  # reached through a call the search does not follow

    def get_model():
        return registry["model"]

    registry["model"] = nn.Linear(3, 2)
    hidden = type("Hidden", (), {"__slots__": ("f",)})()
    hidden.f = get_model

    @tg.compile
    def f(x):
        return hidden.f()(x).sum()

    before = arr(registry["model"].weight).copy()
    with pytest.raises(
        RuntimeError, match=r"used a parameter of shape \[2, 3\] that was not found"
    ):
        f(tg.ones(4, 3))
    np.testing.assert_array_equal(arr(registry["model"].weight), before)


@pytest.mark.slow
def test_double_backward_inside_a_compiled_step():
    """A gradient penalty (autograd.grad with create_graph, then backward) compiles and matches."""

    def run(compiled: bool):
        tg.manual_seed(0)
        critic = nn.Sequential(nn.Linear(3, 8), nn.Tanh(), nn.Linear(8, 1))
        opt = optim.SGD(critic.parameters(), lr=0.05)

        def step(x):
            opt.zero_grad()
            x = x.detach().requires_grad_()
            out = critic(x).sum()
            (g,) = tg.autograd.grad(out, x, create_graph=True)
            loss = out + ((g.norm(dim=1) - 1) ** 2).mean()
            loss.backward()
            opt.step()
            return loss

        f = tg.compile(step) if compiled else step
        x = tg.randn(5, 3)
        return [f(x).item() for _ in range(4)], critic

    le, ce = run(False)
    lc, cc = run(True)
    np.testing.assert_allclose(lc, le, rtol=1e-5)
    for a, b in zip(ce.parameters(), cc.parameters()):
        np.testing.assert_allclose(arr(b), arr(a), rtol=1e-5, atol=1e-6)


def test_state_inputs_are_donated():
    model, opt = mlp_adam()
    step = tg.compile(classification_step(model, opt))
    x, y = batches((16, 12), 4, n=1)[0]
    step(x, y)
    assert "tf.aliasing_output" in step.lower(x, y).as_text()  # parameters updated in place
    assert "tf.aliasing_output" not in tg.compile(step.fn, donate=False).lower(x, y).as_text()


@pytest.mark.slow
def test_compiled_function_called_inside_another_is_inlined():
    def run(compiled: bool):
        model, opt = mlp_adam()
        inner = classification_step(model, opt)
        if compiled:
            inner = tg.compile(inner)

        def two_steps(a, b):
            return inner(*a) + inner(*b)

        outer = tg.compile(two_steps) if compiled else two_steps
        data = batches((16, 12), 4, n=6)
        losses = [float(outer(data[i], data[i + 1])) for i in range(0, 6, 2)]
        losses.append(float(inner(*data[0])))  # the inner one still works on its own
        return losses, model, opt

    tg.manual_seed(0)
    le, me, oe = run(False)
    tg.manual_seed(0)
    lc, mc, oc = run(True)
    np.testing.assert_allclose(lc, le, rtol=2e-5)
    assert_state_equal(me, oe, mc, oc)
