"""Out-of-range indices inside ``tracegrad.compile`` raise the eager error, and leave nothing
half-applied: parameters, gradients, optimizer state and the RNG key are as before the call."""

from __future__ import annotations

import jax
import numpy as np
import pytest

import tracegrad as torch
import tracegrad.nn.functional as F
from tracegrad import nn

from .tiers import slow_after


class Net(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.lin = nn.Linear(4, 3)
        self.emb = nn.Embedding(3, 2)


# Each loss reads ``idx`` (3 entries) as indices into a size-3 dimension.
LOSSES = {
    "cross_entropy": lambda m, x, idx: F.cross_entropy(m.lin(x), idx),
    "nll_loss": lambda m, x, idx: F.nll_loss(F.log_softmax(m.lin(x), 1), idx),
    "gather": lambda m, x, idx: m.lin(x).gather(1, idx.unsqueeze(1)).sum(),
    "embedding": lambda m, x, idx: m.emb(idx).sum() + m.lin(x).sum(),
    "index_select": lambda m, x, idx: m.lin(x).index_select(1, idx).sum(),
    "getitem": lambda m, x, idx: m.lin(x)[idx].sum(),
    "getitem_dim1": lambda m, x, idx: m.lin(x)[:, idx].sum(),
    "take": lambda m, x, idx: m.lin(x).take(idx).sum(),
}
GOOD = [0, 2, 1]
BAD = {"too large": [0, 12, 1], "too small": [0, -12, 1]}


def _setup(momentum: bool = True):
    torch.manual_seed(0)
    model = Net()
    opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9 if momentum else 0.0)
    return model, opt


def _state(model, opt) -> dict:
    """Every value a step may change, as numpy arrays (and the RNG state)."""
    out = {}
    for name, p in model.named_parameters():
        out[name] = np.array(p.detach().numpy())
        out[name + ".grad"] = None if p.grad is None else np.array(p.grad.numpy())
    for i, st in enumerate(opt.state.values()):
        for k, v in st.items():
            out[f"opt.{i}.{k}"] = np.array(v.numpy()) if isinstance(v, torch.Tensor) else v
    out["rng"] = np.array(jax.random.key_data(torch.get_rng_state()))
    return out


def _assert_same(a: dict, b: dict) -> None:
    assert a.keys() == b.keys()
    for k in a:
        if a[k] is None or b[k] is None:
            assert a[k] is None and b[k] is None, k
        else:
            np.testing.assert_array_equal(a[k], b[k], err_msg=k)


def _eager_error(loss, idx) -> BaseException:
    model, _ = _setup()
    with pytest.raises(Exception) as info:
        loss(model, torch.randn(3, 4), torch.tensor(idx))
    return info.value


def _make_step(model, opt, loss, dropout: bool = False):
    @torch.compile
    def step(x, idx):
        opt.zero_grad()
        if dropout:
            x = F.dropout(x, 0.5)
        value = loss(model, x, idx)
        value.backward()
        opt.step()
        return value

    return step


@pytest.mark.parametrize("which", sorted(BAD))
@pytest.mark.parametrize("op", slow_after(sorted(LOSSES), 1))
def test_bad_index_raises_the_eager_error_and_changes_nothing(op, which):
    loss = LOSSES[op]
    expected = _eager_error(loss, BAD[which])
    model, opt = _setup()
    step = _make_step(model, opt, loss)
    x = torch.randn(3, 4)
    step(x, torch.tensor(GOOD))
    step(x, torch.tensor(GOOD))  # the steady-state program (momentum buffers exist)
    before = _state(model, opt)
    with pytest.raises(type(expected)) as info:
        step(x, torch.tensor(BAD[which]))
    assert str(info.value) == str(expected)
    _assert_same(before, _state(model, opt))

    # A good step afterwards is the step an eager run takes from the same state.
    eager_model, eager_opt = _setup()
    eager_model.load_state_dict(model.state_dict())
    eager_opt.load_state_dict(opt.state_dict())
    compiled_loss = step(x, torch.tensor(GOOD))
    eager_opt.zero_grad()
    eager_loss = loss(eager_model, x, torch.tensor(GOOD))
    eager_loss.backward()
    eager_opt.step()
    np.testing.assert_allclose(compiled_loss.item(), eager_loss.item(), rtol=1e-5)
    for (name, p), q in zip(model.named_parameters(), eager_model.parameters()):
        np.testing.assert_allclose(p.detach().numpy(), q.detach().numpy(), rtol=1e-5, err_msg=name)


@pytest.mark.parametrize("op", ["cross_entropy", "gather", "getitem"])
def test_bad_index_on_the_first_call_creates_no_state(op):
    # The first call traces and would create the gradients and momentum buffers.
    loss = LOSSES[op]
    expected = _eager_error(loss, BAD["too large"])
    model, opt = _setup()
    step = _make_step(model, opt, loss)
    x = torch.randn(3, 4)
    before = _state(model, opt)
    with pytest.raises(type(expected), match=str(expected).replace("[", r"\[")):
        step(x, torch.tensor(BAD["too large"]))
    _assert_same(before, _state(model, opt))
    assert all(p.grad is None for p in model.parameters()) and not opt.state
    step(x, torch.tensor(GOOD))
    assert all(p.grad is not None for p in model.lin.parameters()) and opt.state


def test_the_random_key_is_not_advanced_by_a_failed_step():
    model, opt = _setup()
    step = _make_step(model, opt, LOSSES["cross_entropy"], dropout=True)
    x = torch.randn(3, 4)
    step(x, torch.tensor(GOOD))
    step(x, torch.tensor(GOOD))
    before = _state(model, opt)
    with pytest.raises(IndexError, match="Target 12 is out of bounds."):
        step(x, torch.tensor(BAD["too large"]))
    _assert_same(before, _state(model, opt))


def test_without_donation_too():
    model, opt = _setup()
    loss = LOSSES["gather"]

    def raw(x, idx):
        opt.zero_grad()
        value = loss(model, x, idx)
        value.backward()
        opt.step()
        return value

    step = torch.compile(raw, donate=False)
    x = torch.randn(3, 4)
    step(x, torch.tensor(GOOD))
    step(x, torch.tensor(GOOD))
    before = _state(model, opt)
    with pytest.raises(RuntimeError, match="index 12 is out of bounds for dimension 1 with size 3"):
        step(x, torch.tensor(BAD["too large"]))
    _assert_same(before, _state(model, opt))


@pytest.mark.parametrize("grad", [True, False])
def test_compiled_module_raises(grad):
    torch.manual_seed(0)
    emb = nn.Embedding(3, 2)
    compiled = torch.compile(emb)
    with torch.set_grad_enabled(grad):
        compiled(torch.tensor(GOOD))
        with pytest.raises(IndexError, match="index out of range in self"):
            compiled(torch.tensor([0, 3]))
        out = compiled(torch.tensor(GOOD))
    if grad:
        out.sum().backward()
        assert emb.weight.grad is not None


def test_a_good_index_in_the_last_entry_is_not_reported():
    # The check looks at every entry, not only the first one.
    model, opt = _setup()
    step = _make_step(model, opt, LOSSES["index_select"])
    x = torch.randn(3, 4)
    step(x, torch.tensor(GOOD))
    with pytest.raises(IndexError):
        step(x, torch.tensor([0, 1, 3]))


def test_checks_are_in_the_program_only_when_an_op_needs_them():
    model, opt = _setup()

    @torch.compile
    def plain(x):
        opt.zero_grad()
        model.lin(x).sum().backward()
        opt.step()

    @torch.compile
    def indexed(x, idx):
        opt.zero_grad()
        model.lin(x)[idx].sum().backward()
        opt.step()

    x = torch.randn(3, 4)
    assert "argmax" not in str(plain.lower(x).jaxpr)
    assert "argmax" in str(indexed.lower(x, torch.tensor(GOOD)).jaxpr)


def test_an_inner_compiled_function_reports_through_the_outer_one():
    model, opt = _setup()
    inner = torch.compile(lambda x, idx: model.lin(x)[idx])

    @torch.compile
    def outer(x, idx):
        opt.zero_grad()
        inner(x, idx).sum().backward()
        opt.step()

    x = torch.randn(3, 4)
    outer(x, torch.tensor(GOOD))
    before = _state(model, opt)
    with pytest.raises(IndexError, match="index 12 is out of bounds for dimension 0 with size 3"):
        outer(x, torch.tensor(BAD["too large"]))
    _assert_same(before, _state(model, opt))


def test_setitem_with_a_bad_index_raises():
    model, opt = _setup()

    @torch.compile
    def step(x, idx):
        opt.zero_grad()
        y = model.lin(x)
        y[idx] = 0.0
        y.sum().backward()
        opt.step()

    x = torch.randn(3, 4)
    step(x, torch.tensor([1]))
    step(x, torch.tensor([1]))
    before = _state(model, opt)
    with pytest.raises(IndexError, match="index 3 is out of bounds for dimension 0 with size 3"):
        step(x, torch.tensor([3]))
    _assert_same(before, _state(model, opt))


@pytest.mark.parametrize(
    "classes, message",
    [
        ([0, 3], "Class values must be smaller than num_classes."),
        ([-1, 3], "Class values must be non-negative."),
    ],
)
def test_one_hot_with_a_bad_class_raises(classes, message):
    f = torch.compile(lambda t: F.one_hot(t, 3))
    assert f(torch.tensor([0, 2])).tolist() == [[1, 0, 0], [0, 0, 1]]
    with pytest.raises(RuntimeError) as eager:
        F.one_hot(torch.tensor(classes), 3)
    with pytest.raises(RuntimeError) as compiled:
        f(torch.tensor(classes))
    assert str(compiled.value) == str(eager.value) == message
