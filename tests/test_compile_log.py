"""Explained compiles: every compile logs and records where the user's call was and why it
compiled, repeated compiles at one call site warn with the likely cause, and ``explain()`` reports
how a step or a backward runs. Nothing of it happens on a cache hit."""

from __future__ import annotations

import collections
import logging
import sys
import warnings

import pytest

import tracegrad as tg
from tracegrad import _compile_events, _scope
from tracegrad.autograd import compiled
from tracegrad.autograd.engine import _topological_order
from tracegrad.autograd.node import AccumulateGrad

pytestmark = (
    pytest.mark.eager_only
)  # the compiled backward's log; lazy mode has its own (test_lazy.py)

FILE = "test_compile_log.py"


@pytest.fixture(autouse=True)
def _fresh_backward():
    before = tg.is_compiled_backward_enabled()
    tg.set_compiled_backward(True)
    compiled.clear_cache()
    compiled.reset_stats()
    yield
    tg.set_compiled_backward(before)
    compiled.clear_cache()
    compiled.reset_stats()


def _next_line() -> int:
    """The line after the caller's: where the call under test is."""
    return sys._getframe(1).f_lineno + 1


class Net(tg.nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.body = tg.nn.Sequential(tg.nn.Linear(4, 6), tg.nn.Tanh(), tg.nn.Linear(6, 3))

    def forward(self, x):
        return self.body(x)


def _train_step():
    tg.manual_seed(0)
    model = Net()
    opt = tg.optim.SGD(model.parameters(), lr=0.1)

    def step(x):
        opt.zero_grad()
        loss = model(x).pow(2).mean()
        loss.backward()
        opt.step()
        return loss

    return model, tg.compile(step)


def _messages(caplog) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == "tracegrad.compile"]


def _graph_counts(root) -> collections.Counter:
    """Non-leaf nodes of a recorded graph per module path, counted from the nodes themselves."""
    counts: collections.Counter = collections.Counter()
    for node in _topological_order([root]):
        if type(node) is not AccumulateGrad:
            names = _scope.names(node.scope)
            counts[".".join(names) if names else "(no module)"] += 1
    return counts


# ----------------------------------------------------------------------------------- the step log
def test_user_frame_is_the_callers_line():
    line = _next_line()
    where = _compile_events.user_frame()
    assert where.endswith(f"{FILE}:{line}")


def test_first_trace_logs_its_call_site(caplog):
    _, step = _train_step()
    with caplog.at_level(logging.INFO, logger="tracegrad.compile"):
        line = _next_line()
        step(tg.randn(8, 4))
    first = _messages(caplog)[0]
    assert first.startswith("tracegrad.compile: tracing ")
    assert "step (compile #1 of this function)" in first
    assert f"{FILE}:{line}: first call" in first


def test_batch_size_change_logs_argument_and_both_shapes(caplog):
    _, step = _train_step()
    for _ in range(3):
        step(tg.randn(8, 4))
    assert step.traces == 2
    with caplog.at_level(logging.INFO, logger="tracegrad.compile"):
        line = _next_line()
        step(tg.randn(5, 4))
    (message,) = _messages(caplog)
    assert "retracing" in message and "(compile #3 of this function)" in message
    assert (
        f"{FILE}:{line}: argument 'x' changed: tensor[8, 4] float32 -> tensor[5, 4] float32"
        in message
    )


def test_a_nested_argument_names_the_tensor_that_changed(caplog):
    @tg.compile
    def f(batch):
        return batch[0] * 2 + batch[1]

    f((tg.ones(3), tg.ones(3)))
    with caplog.at_level(logging.INFO, logger="tracegrad.compile"):
        f((tg.ones(3), tg.ones(1)))
    assert "argument 'batch'[1] changed: tensor[3] float32 -> tensor[1] float32" in caplog.text
    assert f.compile_events[-1].cause == "shapes"


# ------------------------------------------------------------------------------- the backward log
def _eager_loss(model, batch):
    return model(tg.randn(batch, 4)).pow(2).mean()


@pytest.mark.slow
def test_compiled_backward_logs_its_site_and_the_shape_change(caplog):
    model = Net()
    with caplog.at_level(logging.INFO, logger="tracegrad.compile"):
        for batch in (3, 3, 5, 5):
            loss = _eager_loss(model, batch)
            line = _next_line()
            loss.backward()
    first, second = _messages(caplog)
    assert "compiled backward at " in first and f"{FILE}:{line} (loss.backward()):" in first
    assert "new signature: graph structure first seen" in first
    assert f"{FILE}:{line} (loss.backward())" in second
    assert "shapes/dtypes changed (input 0 of AddmmBackward0: [3, 4] -> [5, 4])" in second


def test_a_changed_scalar_names_the_node_and_both_values(caplog):
    x = tg.ones(3, requires_grad=True)
    with caplog.at_level(logging.INFO, logger="tracegrad.compile"):
        for c in (2.0, 2.0, 3.0, 3.0):
            (x * c).sum().backward()
    assert "params or scalars of MulBackward0 changed (scalar input 1: 2.0 -> 3.0)" in caplog.text
    assert compiled.compile_events()[-1].cause == "scalar"


def test_a_new_structure_names_the_first_node_that_differs(caplog):
    x = tg.ones(3, requires_grad=True)
    with caplog.at_level(logging.INFO, logger="tracegrad.compile"):
        for _ in range(2):
            (x * 2).sum().backward()
        for _ in range(2):
            (x * 2).mean().backward()
        for _ in range(2):
            (x * 2).exp().mean().backward()
    first, second, third = _messages(caplog)
    assert "new signature: graph structure first seen" in first
    assert (
        "new graph structure (3 nodes; the last compiled graph has 3, and at node 0 it has "
        "SumBackward0 where this one has MeanBackward0)" in second
    )
    assert "at node 1 it has MulBackward0 where this one has ExpBackward0" in third
    assert [e.cause for e in compiled.compile_events()] == ["first", "structure", "structure"]


# ----------------------------------------------------------------------------------- the events
def test_step_events_count_ops_per_module():
    tg.manual_seed(0)
    model = Net()

    @tg.compile
    def forward(x):
        return model(x).sum()

    x = tg.randn(2, 4)
    line = _next_line()
    forward(x)
    (event,) = forward.compile_events
    assert (event.kind, event.name, event.cause) == ("step", forward.__qualname__, "first")
    assert event.where.endswith(f"{FILE}:{line}") and event.reason == "first call"
    assert event.seconds > 0
    expected = _graph_counts(model(x).sum().grad_fn)  # the same ops, recorded eagerly
    assert set(expected) == {"Net.body.0", "Net.body.1", "Net.body.2", "(no module)"}
    assert event.ops_per_module == dict(expected)
    assert event.ops == sum(expected.values()) == len(forward.lower(x).tape.splitlines())


def test_a_training_step_records_each_trace_and_why():
    _, step = _train_step()
    for batch in (8, 8, 8, 5):
        step(tg.randn(batch, 4))
    events = step.compile_events
    assert [e.cause for e in events] == ["first", "state", "shapes"]
    assert events[1].reason == (
        "which tensors have a .grad changed (0 -> 4 tensors: the first call created them)"
    )
    assert all(e.kind == "step" and e.where.startswith(("tests/", FILE)) for e in events)
    # Forward, backward and update: a module's forward ops and the ops of their backward rules
    # are counted under the module; the loss and the optimizer outside any module.
    forward_only = _graph_counts(Net()(tg.randn(5, 4)).sum().grad_fn)["Net.body.0"]
    assert events[-1].ops_per_module["Net.body.0"] > forward_only >= 1
    assert events[-1].ops == sum(events[-1].ops_per_module.values())


def test_backward_events_count_nodes_per_module():
    model = Net()
    for _ in range(2):
        loss = _eager_loss(model, 3)
        expected = _graph_counts(loss.grad_fn)
        line = _next_line()
        loss.backward()
    (event,) = compiled.compile_events()
    assert (event.kind, event.name, event.cause) == ("backward", "MeanBackward0", "first")
    assert event.where.endswith(f"{FILE}:{line}")
    assert event.ops_per_module == dict(expected) and event.ops == sum(expected.values())
    assert {"Net.body.0", "Net.body.1", "Net.body.2"} <= set(expected)


def test_events_are_bounded_and_numbered_from_the_first():
    assert compiled._events.maxlen == _compile_events.MAX_EVENTS == 100

    @tg.compile
    def f(x):
        return x + 1

    assert f._events.maxlen == _compile_events.MAX_EVENTS
    x = tg.ones(2, requires_grad=True)
    for c in (1.0, 1.0, 2.0, 2.0, 3.0, 3.0):
        (x * c).sum().backward()
    assert len(compiled.compile_events()) == 3
    text = compiled.explain((x * 4.0).sum(), recent=2)
    assert "(the last 2 of 3)\n  #2 at " in text and "#3 at " in text and "#1 at " not in text


# --------------------------------------------------------------------------------- cache hits
def test_a_cache_hit_logs_records_and_looks_up_nothing(caplog, monkeypatch):
    model, step = _train_step()
    for _ in range(2):
        step(tg.randn(8, 4))
    for _ in range(2):
        _eager_loss(model, 3).backward()
    step_events, backward_events = step.compile_events, compiled.compile_events()
    assert len(step_events) == 2 and len(backward_events) == 1

    def forbidden():
        raise AssertionError("the call site was looked up on a cache hit")

    monkeypatch.setattr(_compile_events, "user_frame", forbidden)
    monkeypatch.setattr(_compile_events, "user_site", forbidden)
    with caplog.at_level(logging.INFO, logger="tracegrad.compile"):
        for _ in range(3):
            step(tg.randn(8, 4))
            _eager_loss(model, 3).backward()
    assert _messages(caplog) == []
    assert step.compile_events == step_events and compiled.compile_events() == backward_events
    assert compiled.stats()["hits"] == 3 and step.traces == 2


# ------------------------------------------------------------------------------------ warnings
def test_repeated_backward_compiles_at_one_site_warn_with_the_cause():
    x = tg.ones(8, 4)
    w = tg.ones(4, 2, requires_grad=True)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        for batch in range(1, compiled.REPEAT_WARNING + 3):  # two more compiles than the limit
            for _ in range(2):
                line = _next_line()
                (x[:batch] @ w).sum().backward()
    mine = [w for w in caught if "has been compiled" in str(w.message)]
    assert len(mine) == 1, "warns once per site"
    message = str(mine[0].message)
    assert f"the backward at tests/{FILE}:{line} has been compiled 8 times" in message or (
        f"{FILE}:{line} has been compiled 8 times" in message
    )
    assert "tensor shapes or dtypes changed (7 of 8" in message
    assert "pad batches to a fixed size or use drop_last=True in DataLoader" in message
    assert mine[0].filename.endswith(FILE) and mine[0].lineno == line


def test_repeated_backward_compiles_of_a_changing_scalar_advise_a_tensor():
    x = tg.ones(3, requires_grad=True)
    with pytest.warns(UserWarning, match="a Python scalar changed .*pass it as a tensor"):
        for c in range(compiled.REPEAT_WARNING):
            for _ in range(2):
                (x * float(c)).sum().backward()


def test_compiles_at_different_sites_do_not_add_up():
    x = tg.ones(8, 4)
    w = tg.ones(4, 2, requires_grad=True)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        for batch in range(1, compiled.REPEAT_WARNING):  # 7 compiles at each of two sites
            for _ in range(2):
                (x[:batch] @ w).sum().backward()
            for _ in range(2):
                (x[:batch] @ w).mean().backward()
    assert len(compiled.compile_events()) == 2 * (compiled.REPEAT_WARNING - 1)
    assert not [w for w in caught if "has been compiled" in str(w.message)]


def test_step_retrace_warning_names_the_site_and_the_shape_cause():
    @tg.compile
    def f(x):
        return x * 2

    with pytest.warns(UserWarning, match="has been traced 8 times") as record:
        for n in range(1, 9):
            line = _next_line()
            f(tg.ones(n))
    message = str(next(w for w in record if "traced 8 times" in str(w.message)).message)
    assert f"called at tests/{FILE}:{line}" in message or f"called at {FILE}:{line}" in message
    assert "tensor shapes or dtypes changed (7 of 8 traces" in message
    assert "argument 'x' changed: tensor[7] float32 -> tensor[8] float32" in message
    assert "drop_last=True" in message


def test_step_retrace_warning_for_a_python_scalar_advises_a_tensor():
    @tg.compile
    def f(x, k):
        return x * k

    with pytest.warns(UserWarning, match=r"a Python scalar changed .*pass it as a tensor"):
        for k in range(8):
            f(tg.ones(3), k)


# ------------------------------------------------------------------------------------- explain
def test_step_explain_reports_traces_events_and_modules():
    _, step = _train_step()
    assert "not traced yet" in step.explain()
    for batch in (8, 8, 8, 5):
        step(tg.randn(batch, 4))
    text = step.explain()
    lines = text.splitlines()
    assert lines[0] == f"tracegrad.compile of {step.__qualname__}"
    assert "traces: 3, compile seconds: " in lines[1] and "programs cached: 3" in lines[1]
    assert lines[2] == "compiles:"
    assert lines[3].startswith("  #1 at ") and f"{FILE}:" in lines[3] and "first call" in lines[3]
    assert "#2 at " in lines[4] and "which tensors have a .grad changed" in lines[4]
    assert "#3 at " in lines[5] and "argument 'x' changed" in lines[5]
    assert "most frequent cause of retraces: tensor shapes or dtypes changed" in text
    ops = step.compile_events[-1].ops
    assert f"ops per module in the latest program ({ops} ops):" in text
    by_module = dict(line.rsplit(None, 1) for line in text.split("ops):\n")[1].splitlines())
    assert {k.strip(): int(v) for k, v in by_module.items()} == step.compile_events[
        -1
    ].ops_per_module


def test_backward_explain_counts_sightings_then_says_compiled():
    model = Net()
    loss = _eager_loss(model, 3)
    text = compiled.explain(loss)
    assert text.startswith("backward of MeanBackward0: ")
    n_ops = sum(_graph_counts(loss.grad_fn).values())
    assert f"({n_ops} ops, " in text.splitlines()[0]
    assert "seen 0 times of the 2 needed before compiling" in text
    assert "graph structure first seen" in text
    loss.backward()
    loss = _eager_loss(model, 3)
    text = compiled.explain(loss)
    assert "seen 1 time of the 2 needed before compiling; the next backward() compiles it" in text
    loss.backward()  # compiles
    loss = _eager_loss(model, 3)
    text = compiled.explain(loss)
    assert "runs: compiled: its signature has a cached executable" in text
    assert "recent backward compiles:\n  #1 at " in text
    before = compiled.stats()
    compiled.explain(loss)
    assert compiled.stats() == before, "explain counts nothing"
    loss = _eager_loss(model, 4)
    assert "shapes/dtypes changed (input 0 of AddmmBackward0: [3, 4] -> [4, 4])" in (
        compiled.explain(loss)
    )


def test_backward_explain_names_the_node_that_keeps_it_eager():
    class Cube(tg.autograd.Function):
        @staticmethod
        def forward(ctx, x):
            ctx.save_for_backward(x)
            return x**3

        @staticmethod
        def backward(ctx, g):
            (x,) = ctx.saved_tensors
            return 3 * x * x * g

    model = Net()
    text = compiled.explain(Cube.apply(model(tg.randn(2, 4))).sum())
    assert "runs: node by node, always: CubeBackward is a custom autograd.Function" in text

    w = tg.ones(2, 2, requires_grad=True)
    w.register_hook(lambda g: g)
    text = compiled.explain((w * 2).sum())
    assert "a tensor hook is registered on a leaf tensor of shape [2, 2]" in text

    h = model(tg.randn(2, 4))
    h.register_hook(lambda g: g)
    assert "a hook is registered on AddmmBackward0" in compiled.explain(h.sum())

    v = tg.ones(2, requires_grad=True)
    loss = (v * v).sum()
    loss.backward()
    assert "were freed by an earlier backward()" in compiled.explain(loss)

    tg.set_compiled_backward(False)
    assert "compiled backward is switched off" in compiled.explain(_eager_loss(model, 2))


def test_backward_explain_of_graphless_tensors():
    assert "no graph" in compiled.explain(tg.ones(2))
    assert "a leaf tensor" in compiled.explain(tg.ones(2, requires_grad=True))
    assert "backward() would raise" in compiled.explain(tg.ones(2, requires_grad=True) * 2)
