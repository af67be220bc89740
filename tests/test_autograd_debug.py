"""Autograd debugging: anomaly mode, gradcheck/gradgradcheck, the deprecated Variable.

Oracles: exact values, the messages PyTorch gives (PyTorch itself when installed)."""

from __future__ import annotations

import importlib
import warnings

import numpy as np
import pytest

import tracegrad as tg
from tracegrad.autograd import engine, gradcheck, gradgradcheck
from tracegrad.autograd.gradcheck import GradcheckError

ANOMALY_WARNING = "Anomaly Detection has been enabled"


# ------------------------------------------------------------------------------- anomaly mode
def test_detect_anomaly_warns_and_switches_the_mode():
    assert not tg.is_anomaly_enabled()
    with pytest.warns(UserWarning, match=ANOMALY_WARNING):
        ctx = tg.autograd.detect_anomaly(check_nan=False)
    with ctx:
        assert tg.is_anomaly_enabled()
        assert not tg.is_anomaly_check_nan_enabled()
    assert not tg.is_anomaly_enabled() and tg.is_anomaly_check_nan_enabled()
    with tg.autograd.set_detect_anomaly(True):
        assert tg.autograd.is_anomaly_enabled()
    assert not tg.is_anomaly_enabled()
    tg.autograd.set_detect_anomaly(True)
    assert tg.is_anomaly_enabled()
    tg.autograd.set_detect_anomaly(False)
    assert not tg.is_anomaly_enabled()


def test_nan_in_backward_raises_with_the_forward_traceback():
    x = tg.tensor([0.0, 1.0], requires_grad=True)
    with pytest.warns(UserWarning, match=ANOMALY_WARNING), tg.autograd.detect_anomaly():
        y = x.sqrt() * 0  # the forward line the report must name
        with pytest.warns(UserWarning) as caught:
            with pytest.raises(
                RuntimeError,
                match=r"Function 'SqrtBackward0' returned nan values in its 0th output.",
            ):
                y.sum().backward()
    (report,) = [w for w in caught if "Error detected in" in str(w.message)]
    text = str(report.message)
    assert text.startswith(
        "Error detected in SqrtBackward0. Traceback of forward call that caused the error:\n"
    )
    assert "y = x.sqrt() * 0" in text and "test_autograd_debug.py" in text
    assert "tracegrad/ops" not in text  # only the user's frames


def test_without_anomaly_mode_nan_flows_silently():
    x = tg.tensor([0.0, 1.0], requires_grad=True)
    (x.sqrt() * 0).sum().backward()
    assert np.isnan(x.grad.numpy()[0])


def test_check_nan_false_does_not_raise_but_errors_are_reported():
    x = tg.tensor([0.0, 1.0], requires_grad=True)
    with pytest.warns(UserWarning), tg.autograd.detect_anomaly(check_nan=False):
        (x.sqrt() * 0).sum().backward()

    class Boom(tg.autograd.Function):
        @staticmethod
        def forward(ctx, a):
            return a * 1

        @staticmethod
        def backward(ctx, g):
            raise ValueError("boom")

    with pytest.warns(UserWarning), tg.autograd.detect_anomaly():
        y = Boom.apply(x)
        with pytest.warns(UserWarning, match="Error detected in BoomBackward"):
            with pytest.raises(ValueError, match="boom"):
                y.sum().backward()


def test_decorator_and_grad():
    x = tg.tensor([-1.0, 1.0], requires_grad=True)

    with pytest.warns(UserWarning, match=ANOMALY_WARNING):

        @tg.autograd.detect_anomaly()
        def run():
            assert tg.is_anomaly_enabled()
            return tg.autograd.grad(x.sqrt().sum(), x)

    with pytest.warns(UserWarning, match="Error detected in SqrtBackward0"):
        with pytest.raises(RuntimeError, match="returned nan values in its 0th output"):
            run()
    assert not tg.is_anomaly_enabled()


@pytest.mark.eager_only  # about the compiled backward, eager mode's
def test_anomaly_mode_runs_backward_node_by_node():
    before = tg.is_compiled_backward_enabled()
    tg.set_compiled_backward(True)
    tg.autograd.compiled.reset_stats()
    try:
        x = tg.tensor([0.5, 1.0], requires_grad=True)
        for _ in range(3):  # would compile at the second backward
            (x.exp() * 2).sum().backward()
        compiled = tg.autograd.compiled.stats()["hits"] + tg.autograd.compiled.stats()["compiles"]
        assert compiled > 0
        tg.autograd.compiled.reset_stats()
        with pytest.warns(UserWarning), tg.autograd.detect_anomaly():
            for _ in range(3):
                (x.exp() * 2).sum().backward()
        stats = tg.autograd.compiled.stats()
        assert stats["hits"] == stats["compiles"] == stats["misses"] == 0
    finally:
        tg.set_compiled_backward(before)


def test_anomaly_matches_pytorch():
    torch = pytest.importorskip("torch")
    messages = []
    for lib in (torch, tg):
        x = lib.tensor([0.0, 1.0], requires_grad=True)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            with lib.autograd.detect_anomaly():
                y = x.sqrt() * 0
                with pytest.raises(RuntimeError) as err:
                    y.sum().backward()
        first = str(caught[0].message)
        report = next(str(w.message) for w in caught if "Error detected" in str(w.message))
        messages.append((first, str(err.value), report.split(":", 1)[0]))
    assert messages[0] == messages[1]


# ---------------------------------------------------------------------------------- gradcheck
def _double(*shape, seed=0):
    rng = np.random.default_rng(seed)
    return tg.tensor(rng.normal(size=shape), dtype=tg.float64, requires_grad=True)


class _WrongExp(tg.autograd.Function):
    @staticmethod
    def forward(ctx, a):
        ctx.save_for_backward(a)
        return a.exp()

    @staticmethod
    def backward(ctx, g):
        (a,) = ctx.saved_tensors
        return g * a  # should be g * exp(a)


def test_gradcheck_passes_on_correct_gradients():
    x, w = _double(3), _double(3, 2, seed=1)
    assert gradcheck(lambda a, b: (a @ b).tanh(), (x, w))
    assert gradcheck(lambda a: a.exp(), x, eps=1e-6, atol=1e-5, rtol=1e-3)
    assert gradcheck(lambda a, k: (a * k, a.sum()), (x, 3))  # two outputs, a non-tensor input


def test_gradcheck_reports_a_mismatch_as_pytorch_does():
    x = _double(2)
    with pytest.raises(GradcheckError) as err:
        gradcheck(_WrongExp.apply, (x,))
    text = str(err.value)
    assert isinstance(err.value, RuntimeError)
    assert text.startswith("Jacobian mismatch for output 0 with respect to input 0,\nnumerical:")
    assert "\nanalytical:" in text
    assert gradcheck(_WrongExp.apply, (x,), raise_exception=False) is False


def test_gradcheck_names_the_input_index():
    x, w = _double(2), _double(2, seed=1)
    with pytest.raises(GradcheckError, match="with respect to input 1,"):
        gradcheck(lambda a, b: a.sin() + _WrongExp.apply(b), (x, w))


def test_gradcheck_warns_on_single_precision():
    x = tg.tensor([0.5, 1.0], requires_grad=True)
    with pytest.warns(UserWarning, match="Input #0 requires gradient and is not a double"):
        gradcheck(lambda a: a * 2, (x,), eps=1e-2, atol=1e-2)


def test_gradcheck_refuses_what_it_cannot_check():
    x = _double(2)
    for option in ("check_forward_ad", "check_batched_grad", "check_batched_forward_grad"):
        with pytest.raises(NotImplementedError, match=option):
            gradcheck(lambda a: a * 2, (x,), **{option: True})
    with pytest.raises(NotImplementedError, match="masked"):
        gradcheck(lambda a: a * 2, (x,), masked=True)


def test_gradcheck_nondeterministic_backward():
    calls = []

    class Jitter(tg.autograd.Function):
        @staticmethod
        def forward(ctx, a):
            return a * 2

        @staticmethod
        def backward(ctx, g):
            calls.append(1)
            return g * 2 + len(calls) * 1e-9

    x = _double(2)
    with pytest.raises(GradcheckError, match="Backward is not reentrant"):
        gradcheck(Jitter.apply, (x,), check_undefined_grad=False)
    assert gradcheck(Jitter.apply, (x,), nondet_tol=1e-6, check_undefined_grad=False)


def test_gradgradcheck():
    x, w = _double(3), _double(3, seed=1)
    assert gradgradcheck(lambda a, b: (a * b).tanh().pow(3), (x, w))

    class OnceDifferentiable(tg.autograd.Function):
        @staticmethod
        def forward(ctx, a):
            ctx.save_for_backward(a)
            return a.pow(3)

        @staticmethod
        def backward(ctx, g):
            (a,) = ctx.saved_tensors
            return g * 3 * a.detach() ** 2  # detached: its second derivative is wrong

    with pytest.raises(GradcheckError, match="Jacobian mismatch"):
        gradgradcheck(OnceDifferentiable.apply, (x,))


def test_gradcheck_matches_pytorch_message():
    torch = pytest.importorskip("torch")

    class TorchWrongExp(torch.autograd.Function):
        @staticmethod
        def forward(ctx, a):
            ctx.save_for_backward(a)
            return a.exp()

        @staticmethod
        def backward(ctx, g):
            (a,) = ctx.saved_tensors
            return g * a

    xv = np.array([0.3, -0.5])
    texts = []
    for lib, fn, err in (
        (
            torch,
            TorchWrongExp.apply,
            importlib.import_module("torch.autograd.gradcheck").GradcheckError,
        ),
        (tg, _WrongExp.apply, GradcheckError),
    ):
        with pytest.raises(err) as caught:
            lib.autograd.gradcheck(fn, (lib.tensor(xv, dtype=lib.float64, requires_grad=True),))
        texts.append(str(caught.value))
    heads = [t.split("numerical:")[0] for t in texts]
    assert heads[0] == heads[1]


# ------------------------------------------------------------------------------------ Variable
def test_variable_is_a_deprecated_alias():
    a = tg.ones(2)
    v = tg.autograd.Variable(a, requires_grad=True)
    assert isinstance(v, tg.Tensor) and v is not a
    assert v.requires_grad and v.is_leaf and v.grad_fn is None
    assert isinstance(a, tg.autograd.Variable)
    b = tg.autograd.Variable(tg.ones(2, requires_grad=True) * 2)
    assert not b.requires_grad and b.grad_fn is None
    assert tg.autograd.Variable().shape == (0,)
    with pytest.raises(TypeError, match="Variable data has to be a tensor, but got list"):
        tg.autograd.Variable([1.0])
    with pytest.warns(UserWarning, match="volatile was removed"):
        tg.autograd.Variable(a, volatile=True)


def test_post_accumulate_grad_hook():
    w = tg.tensor([1.0, 2.0], requires_grad=True)
    seen = []
    w.register_post_accumulate_grad_hook(lambda t: seen.append(t.grad.clone()))
    (w * 3).sum().backward()
    np.testing.assert_array_equal(seen[0].numpy(), [3.0, 3.0])


def test_anomaly_mode_inside_a_compiled_step_warns_that_it_cannot_check():
    w = tg.tensor([0.5, 2.0], requires_grad=True)
    opt = tg.optim.SGD([w], lr=0.1)

    def step(x):
        opt.zero_grad()
        loss = (w * x).sqrt().sum()
        loss.backward()
        opt.step()
        return loss

    compiled = tg.compile(step, state=(w, opt))
    engine._warned_traced_nan = False
    with pytest.warns(UserWarning), tg.autograd.detect_anomaly():
        with pytest.warns(UserWarning, match="cannot check for NaN inside a tracegrad.compile"):
            compiled(tg.tensor([1.0, 1.0]))
