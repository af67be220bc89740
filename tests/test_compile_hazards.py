"""The compiled-step hazard catalogue: Python values a step reads or writes, and that change
between calls. In the spirit of tinygrad's ``test/unit/test_jit_footguns.py``, but inverted:
every entry asserts the correct result (the same values and dtypes as running the same step
eagerly, for several calls while the Python value changes between them) or a clear error.

Each entry builds its state twice (eager, then compiled), changes the Python value before each
call in the same way, and compares the returned values and the Python state afterwards."""

from __future__ import annotations

import logging
import math
import types

import jax.numpy as jnp
import numpy as np
import pytest

import tracegrad as tg
from tracegrad import nn, optim
from tracegrad.nn.utils import clip_grad_norm_

X = None  # set by fresh(): the batch every step reads


def fresh(seed: int = 0, shape=(4, 3)):
    global X
    tg.manual_seed(seed)
    X = tg.randn(*shape)
    return X


def value(x):
    """Something comparable: tensors as (dtype, array), floats/ints as themselves."""
    if isinstance(x, tg.Tensor):
        return (str(x.dtype), np.asarray(x.detach().numpy()))
    if isinstance(x, np.ndarray):
        return ("ndarray", x.copy())
    if isinstance(x, (list, tuple)):
        return type(x)(value(y) for y in x)
    if isinstance(x, dict):
        return {k: value(v) for k, v in x.items()}
    return x


def assert_same(a, b, path="result"):
    if isinstance(a, tuple) and len(a) == 2 and isinstance(a[1], np.ndarray):
        assert a[0] == b[0], f"{path}: dtype {a[0]} (eager) != {b[0]} (compiled)"
        np.testing.assert_allclose(b[1], a[1], rtol=1e-5, atol=1e-6, err_msg=path)
    elif isinstance(a, (list, tuple)):
        assert type(a) is type(b) and len(a) == len(b), f"{path}: {a!r} != {b!r}"
        for i, (x, y) in enumerate(zip(a, b)):
            assert_same(x, y, f"{path}[{i}]")
    elif isinstance(a, dict):
        assert a.keys() == b.keys(), path
        for k in a:
            assert_same(a[k], b[k], f"{path}[{k!r}]")
    elif isinstance(a, float):
        assert type(b) is float, f"{path}: {b!r} is not a float"
        assert math.isclose(a, b, rel_tol=1e-6), f"{path}: {a} (eager) != {b} (compiled)"
    else:
        assert a == b, f"{path}: {a!r} (eager) != {b!r} (compiled)"


def check(make, calls: int = 4, traces: int | None = None):
    """``make()`` builds fresh state and returns ``(step, before, observe)``: ``before(i)``
    changes Python state before call ``i``, ``observe()`` returns what to compare afterwards.
    Runs eagerly, then compiled; the results and observations must agree call by call.
    ``traces``: how many times the compiled step may trace (a lifted value: no retrace)."""
    runs = []
    for compiled in (False, True):
        step, before, observe = make()
        if compiled:
            step = tg.compile(step)
        seen = []
        for i in range(calls):
            before(i)
            seen.append((value(step()), value(observe())))
        runs.append(seen)
    for i, (eager, compiled) in enumerate(zip(*runs)):
        assert_same(eager, compiled, f"call {i}")
    if traces is not None:
        assert step.traces == traces, f"traced {step.traces} times, expected {traces}"
    return runs


def nothing(*_):
    return None


# ------------------------------------------------------------------ floats: program inputs
LR = 0.1


def test_global_float_learning_rate():
    def make():
        fresh()
        model = nn.Linear(3, 2)

        def step():
            loss = (model(X) ** 2).mean()
            loss.backward()
            with tg.no_grad():
                for p in model.parameters():
                    p -= LR * p.grad
                    p.grad = None
            return loss

        def before(i):
            global LR
            LR = [0.1, 0.5, 0.02, 0.3][i]

        return step, before, lambda: model.weight

    check(make, traces=1)


class Scaled(nn.Module):
    def __init__(self):
        super().__init__()
        self.lin = nn.Linear(3, 2)
        self.temperature = 1.0

    def forward(self, x):
        return self.lin(x) / self.temperature


def test_module_float_attribute():
    def make():
        fresh()
        model = Scaled()

        def before(i):
            model.temperature = [1.0, 2.0, 0.25, 3.0][i]

        return lambda: model(X).sum(), before, nothing

    check(make, traces=1)


def test_closure_float():
    def make():
        fresh()
        scale = 1.0

        def step():
            return X * scale

        def before(i):
            nonlocal scale
            scale = 1.0 + i

        return step, before, nothing

    check(make, traces=1)


MAX_NORM = 1.0


def test_global_max_norm_for_clip_grad_norm():
    def make():
        fresh()
        model = nn.Linear(3, 2)
        opt = optim.SGD(model.parameters(), lr=0.1)

        def step():
            opt.zero_grad()
            loss = (model(X) * 3).pow(2).sum()
            loss.backward()
            clip_grad_norm_(model.parameters(), MAX_NORM)
            opt.step()
            return loss

        def before(i):
            global MAX_NORM
            MAX_NORM = [1.0, 0.1, 5.0, 0.01][i]

        return step, before, lambda: model.weight

    check(make, traces=2)


BASE_LR, DECAY, EPOCH = 0.1, 0.5, 0


def scheduled_lr():
    return BASE_LR * DECAY**EPOCH


def test_float_through_a_scheduler_like_function():
    def make():
        fresh()
        w = tg.ones(3, requires_grad=True)

        def step():
            loss = (X @ w).pow(2).mean()
            loss.backward()
            with tg.no_grad():
                w.sub_(scheduled_lr() * w.grad)
                w.grad = None
            return loss

        def before(i):
            global EPOCH, BASE_LR
            EPOCH, BASE_LR = i // 2, [0.1, 0.1, 0.2, 0.2][i]

        return step, before, lambda: w

    check(make, traces=2)


HP = {"scale": 1.0, "shift": 0.0}


def test_dict_of_hyperparameters():
    def make():
        fresh()
        HP.update(scale=1.0, shift=0.0)

        def before(i):
            HP["scale"], HP["shift"] = 1.0 + i, -0.5 * i

        return lambda: X * HP["scale"] + HP["shift"], before, nothing

    check(make, traces=1)


CONFIG = types.SimpleNamespace(scale=1.0)


def test_float_in_a_plain_config_object():
    def make():
        fresh()

        def before(i):
            CONFIG.scale = 0.5 * (i + 1)

        return lambda: X * CONFIG.scale, before, nothing

    check(make, traces=1)


SCALE = 2.0


class UsesGlobal(nn.Module):
    def forward(self, x):
        return x * SCALE


def test_global_read_inside_a_module_forward():
    def make():
        fresh()
        model = UsesGlobal()

        def before(i):
            global SCALE
            SCALE = 2.0 + i

        return lambda: model(X), before, nothing

    check(make, traces=1)


def test_lifted_float_keeps_eager_dtypes():
    """A Python float times a 0-d float32, an int64 tensor or a float64 tensor: the dtypes and
    values eager gives (a float is weak: it takes the tensor's float dtype, exactly rounded)."""

    def make():
        fresh()
        ints = tg.arange(4)
        doubles = tg.tensor([0.1, 0.2, 0.3], dtype=tg.float64)

        def step():
            loss = X.sum()
            return loss * LR, ints * LR, doubles * LR, LR - loss, 1.0 / LR

        def before(i):
            global LR
            LR = [0.1, 0.3, 1e-3, 7.0][i]

        return step, before, nothing

    runs = check(make, traces=1)
    assert runs[1][0][0][2][0] == "tracegrad.float64"


def test_float_attribute_written_by_the_step():
    def make():
        fresh()
        model = Scaled()

        def step():
            out = model(X).sum()
            model.temperature = model.temperature * 0.5 + 0.1
            return out

        return step, nothing, lambda: model.temperature

    check(make, traces=1)


# ------------------------------------------------------------------ values needed concretely
def test_float_needed_as_a_python_number_is_keyed(caplog):
    def make():
        fresh()
        model = Scaled()

        def step():
            return model(X).sum() * math.exp(model.temperature)

        def before(i):
            model.temperature = [1.0, 2.0, 1.0, 0.5][i]

        return step, before, nothing

    with caplog.at_level(logging.INFO, logger="tracegrad.compile"):
        check(make)
    assert "temperature in its cache key" in caplog.text
    assert "temperature changed: 1.0 -> 2.0" in caplog.text


def test_float_in_a_python_branch():
    def make():
        fresh()

        def step():
            return X.relu() if LR > 0.2 else X * LR

        def before(i):
            global LR
            LR = [0.1, 0.5, 0.15, 0.5][i]

        return step, before, nothing

    check(make)


CLIP = 0.5


def test_float_as_an_op_parameter():
    def make():
        fresh()

        def before(i):
            global CLIP
            CLIP = [0.5, 0.1, 1.0, 0.0][i]

        return lambda: tg.clamp(X, max=CLIP), before, nothing

    check(make)


# ------------------------------------------------------------------ ints, bools, strings: key
STEP = 0


def test_global_int_counter(caplog):
    def make():
        fresh()

        def step():
            global STEP
            STEP += 1
            return X * (1 - 0.9**STEP)

        def before(i):
            global STEP
            STEP = 0 if i == 0 else STEP

        return step, before, lambda: STEP

    with caplog.at_level(logging.INFO, logger="tracegrad.compile"):
        check(make)
    assert "global STEP changed: 1 -> 2" in caplog.text


class Counting(nn.Module):
    def __init__(self):
        super().__init__()
        self.lin = nn.Linear(3, 2)
        self.t = 0

    def forward(self, x):
        self.t += 1
        return self.lin(x) * self.t


def test_attribute_counter_incremented_by_the_step():
    def make():
        fresh()
        model = Counting()
        return lambda: model(X).sum(), nothing, lambda: model.t

    check(make)


def test_closure_counter_incremented_by_the_step():
    def make():
        fresh()
        count = 0

        def step():
            nonlocal count
            count += 1
            return X + count

        return step, nothing, lambda: count

    check(make)


USE_L1 = False


def test_bool_flag_toggling_a_branch():
    def make():
        fresh()

        def step():
            return X.abs().sum() if USE_L1 else (X**2).sum()

        def before(i):
            global USE_L1
            USE_L1 = bool(i % 2)

        return step, before, nothing

    check(make)


MODE = "mse"


def test_string_mode():
    def make():
        fresh()

        def step():
            return {"mse": (X**2).mean(), "l1": X.abs().mean()}[MODE]

        def before(i):
            global MODE
            MODE = ["mse", "l1", "l1", "mse"][i]

        return step, before, nothing

    check(make)


BETAS = (0.9, 0.99)


def test_tuple_of_floats():
    def make():
        fresh()

        def before(i):
            global BETAS
            BETAS = [(0.9, 0.99), (0.5, 0.9), (0.5, 0.9), (0.1, 0.2)][i]

        return lambda: X * BETAS[0] + BETAS[1], before, nothing

    check(make)


def test_library_module_attribute_changed_between_calls():
    def make():
        fresh()
        model = nn.Sequential(nn.Linear(3, 4), nn.LeakyReLU(0.1))

        def before(i):
            model[1].negative_slope = [0.1, 0.5, 0.5, 0.01][i]

        return lambda: model(X), before, nothing

    check(make)


# ------------------------------------------------------------------ arrays
MASK = np.ones((4, 3), np.float32)


def test_global_numpy_array_changed_in_place():
    def make():
        fresh()
        MASK[:] = 1.0

        def before(i):
            MASK[i % 4] = 0.0

        return lambda: X * tg.tensor(MASK), before, nothing

    check(make, traces=1)


def test_numpy_array_read_with_numpy_is_keyed():
    def make():
        fresh()
        MASK[:] = 1.0

        def before(i):
            MASK[:, i % 3] = 2.0

        return lambda: X * tg.from_numpy(np.maximum(MASK, 0)), before, nothing

    check(make)


TABLE = jnp.ones(3)


def test_global_jax_array_rebound():
    """A JAX array is immutable, but a global can be rebound to a new one (whose ``id`` may be
    the freed old one's): it is a program input, read on every call."""

    def make():
        fresh()

        def before(i):
            global TABLE
            TABLE = jnp.full(3, float(i))

        return lambda: X * tg.tensor(TABLE), before, nothing

    check(make, traces=1)


# ------------------------------------------------------------------ side effects on Python state
METRICS: dict = {}


def test_tensor_stored_in_a_dict_item_and_attribute():
    def make():
        fresh()
        METRICS.clear()
        holder = types.SimpleNamespace(last=None)
        w = tg.ones(3, requires_grad=True)

        def step():
            loss = (X @ w).pow(2).mean()
            METRICS["loss"] = loss
            holder.last = loss * 2
            loss.backward()
            with tg.no_grad():
                w.sub_(0.1 * w.grad)
                w.grad = None
            return loss

        return step, nothing, lambda: (METRICS["loss"], holder.last)

    check(make, traces=2)


LOSSES: list = []


def test_appending_a_tensor_to_a_list_is_refused_clearly():
    fresh()
    LOSSES.clear()
    w = tg.ones(3, requires_grad=True)

    @tg.compile
    def step():
        loss = (X @ w).sum()
        LOSSES.append(loss)
        return loss

    with pytest.raises(RuntimeError, match="changes the list global LOSSES"):
        step()
    assert LOSSES == []  # nothing half-applied, no tracer left behind


def test_print_inside_the_step_runs_at_trace_time_only(capsys):
    def make():
        fresh()

        def step():
            print("tracing a step of shape", tuple(X.shape))
            return X * LR

        def before(i):
            global LR
            LR = [0.1, 0.2, 0.3, 0.4][i]

        return step, before, nothing

    check(make, traces=1)  # correct results; the compiled step printed only when it was traced
    assert capsys.readouterr().out.count("tracing a step") == 4 + 1


def test_float_returned_by_the_step_stays_a_float():
    def make():
        fresh()
        model = Scaled()

        def before(i):
            model.temperature = 1.0 + i

        return lambda: (model(X).sum(), model.temperature * 2), before, nothing

    check(make, traces=1)


class Masked(nn.Module):
    def __init__(self):
        super().__init__()
        self.lin = nn.Linear(3, 2)
        self.mask = tg.ones(2)  # a plain tensor attribute, not a registered buffer

    def forward(self, x):
        out = self.lin(x) * self.mask
        self.last = out.detach()
        return out


def test_module_tensor_attribute_rebound_and_stored_by_forward():
    def make():
        fresh()
        model = Masked()

        def before(i):
            model.mask = tg.full((2,), float(i) - 1.0)

        return lambda: model(X).sum(), before, lambda: model.last

    check(make)


W = None


def test_global_tensor_rebound_by_the_step():
    def make():
        global W
        fresh()
        W = tg.ones(3)

        def step():
            global W
            W = W * 0.5 + X.mean(0)
            return W.sum()

        return step, nothing, lambda: W

    check(make, traces=1)


class FloatCounter(nn.Module):
    def __init__(self):
        super().__init__()
        self.t = 0.0

    def forward(self, x):
        self.t += 1.0
        return x * (1 - 0.9**self.t)


def test_float_counter_is_replayed_without_retracing():
    def make():
        fresh()
        model = FloatCounter()
        return lambda: model(X), nothing, lambda: model.t

    check(make, traces=1)


def test_changing_a_list_argument_is_refused_clearly():
    fresh()
    log: list = []

    @tg.compile
    def step(log):
        log.append(X.sum())
        return X * 2

    with pytest.raises(RuntimeError, match="changes the list argument log"):
        step(log)
    assert log == []


def test_model_bound_as_a_default_argument():
    def make():
        fresh()
        tg.manual_seed(1)
        model = nn.Linear(3, 2)
        opt = optim.SGD(model.parameters(), lr=0.1)

        def step(m=model, o=opt):
            o.zero_grad()
            loss = m(X).pow(2).sum()
            loss.backward()
            o.step()
            return loss

        return step, nothing, lambda: [p.detach().clone() for p in model.parameters()]

    check(make)


# ------------------------------------------------------- containers and objects of every kind
class Box:
    def __init__(self):
        self.scale = 1.0


def test_object_bound_as_a_default_argument():
    def make():
        fresh()
        cfg = Box()

        def step(c=cfg):
            return X * c.scale

        def before(i):
            cfg.scale = 1.0 + i

        return step, before, nothing

    check(make, traces=1)


class Slotted:
    __slots__ = ("scale",)

    def __init__(self):
        self.scale = 1.0


class Settings(dict):
    pass


class Scales(list):
    pass


@pytest.mark.parametrize(
    "kind",
    [
        "OrderedDict",
        "defaultdict",
        "dict subclass",
        "list subclass",
        "__slots__",
        "slots dataclass",
    ],
)
def test_containers_and_objects_of_every_kind(kind):
    import collections
    import dataclasses

    @dataclasses.dataclass(slots=True)
    class SlotConfig:
        scale: float = 1.0

    def make():
        fresh()
        if kind in ("list subclass",):
            holder = Scales([1.0])
            read = lambda: holder[0]  # noqa: E731
            write = lambda v: holder.__setitem__(0, v)  # noqa: E731
        elif kind in ("__slots__", "slots dataclass"):
            holder = Slotted() if kind == "__slots__" else SlotConfig()
            read = lambda: holder.scale  # noqa: E731
            write = lambda v: setattr(holder, "scale", v)  # noqa: E731
        else:
            holder = {
                "OrderedDict": collections.OrderedDict,
                "defaultdict": lambda **kw: collections.defaultdict(float, **kw),
                "dict subclass": Settings,
            }[kind](scale=1.0)
            read = lambda: holder["scale"]  # noqa: E731
            write = lambda v: holder.__setitem__("scale", v)  # noqa: E731

        def step():
            return X * read()

        def before(i):
            write(1.0 + i)

        return step, before, nothing

    check(make)


def test_tensor_of_a_lifted_float_has_the_floats_dtype():
    def make():
        fresh()
        cfg = Box()

        def step():
            return tg.tensor(cfg.scale) + X.sum(), tg.stack([tg.tensor(cfg.scale), X[0, 0]])

        def before(i):
            cfg.scale = 2.5 + i

        return step, before, nothing

    check(make)


def test_a_user_error_does_not_move_floats_into_the_key(caplog):
    state = {"fail": True}

    def step():
        if state["fail"]:
            raise ValueError("a bug in the step")
        return X * LR

    fresh()
    compiled = tg.compile(step)
    with pytest.raises(ValueError, match="a bug in the step"):
        compiled()
    state["fail"] = False
    global LR
    for lr in (0.1, 0.2, 0.3):
        LR = lr
        np.testing.assert_allclose(compiled().numpy(), (X * lr).numpy(), rtol=1e-6)
    assert compiled.traces == 1, "a new lr retraced: the failed call moved it into the cache key"
    LR = 0.1
