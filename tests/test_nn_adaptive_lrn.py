"""``nn.CrossMapLRN2d`` and ``nn.AdaptiveLogSoftmaxWithLoss``: against PyTorch's modules (same
weights through ``state_dict``; forward values, gradients, errors and messages) and, without
PyTorch, against a numpy transcription of PyTorch's running-sum loops (CrossMapLRN2d) and the exact
identity ``loss = nll_loss(log_prob)`` (adaptive softmax)."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import tracegrad as tg
import tracegrad.nn as nn
import tracegrad.nn.functional as F

from .tiers import slow, slow_after

rng = np.random.default_rng(11)
# in_features // div_value**3 is 0 for the last cluster of the default layout: an empty Linear,
# with the same warning as PyTorch's.
pytestmark = pytest.mark.filterwarnings("ignore:Initializing zero-element tensors")


def _torch():
    return pytest.importorskip("torch")


# -------------------------------------------------------------------------------- CrossMapLRN2d
def _lrn_loops(x, g, size, alpha, beta, k):
    """PyTorch's CrossMapLRN2d forward and backward (torch/nn/_functions.py), loop for loop, in
    float64 numpy: (output, grad_input)."""
    n_batch, channels = x.shape[:2]
    sq = x * x
    pre_pad = int((size - 1) / 2 + 1)
    scale = np.zeros_like(x)
    for c in range(min(pre_pad, channels)):
        scale[:, 0] += sq[:, c]
    for c in range(1, channels):
        scale[:, c] = scale[:, c - 1]
        if c < channels - pre_pad + 1:
            scale[:, c] += sq[:, c + pre_pad - 1]
        if c > pre_pad:
            scale[:, c] -= sq[:, c - pre_pad]
    scale = scale * (alpha / size) + k
    out = scale**-beta * x
    grad = scale**-beta * g
    q = int(size - (size - 1) / 2)
    for n in range(n_batch):
        padded = np.zeros((channels + size - 1,) + x.shape[2:])
        padded[q : q + channels] = g[n] * out[n] / scale[n]
        accum = padded[: size - 1].sum(0)
        for c in range(channels):
            accum = accum + padded[c + size - 1]
            grad[n, c] -= 2 * alpha * beta / size * x[n, c] * accum
            accum = accum - padded[c]
    return out, grad


LRN_CASES = slow_after(
    [(5, 7), (3, 2), (2, 5), (4, 6), (6, 3), (7, 9), (3, 1), (9, 4)], keep=1, multi=True
)


@pytest.mark.parametrize("size,channels", LRN_CASES)
def test_cross_map_lrn2d_matches_pytorch_loops(size, channels):
    # PyTorch's own forward and hand-written backward, transcribed; the backward is not the
    # derivative of the forward (test_cross_map_lrn2d_backward_is_pytorchs_not_the_derivative).
    x = rng.normal(size=(2, channels, 3, 4))
    g = rng.normal(size=x.shape)
    xt = tg.tensor(x, requires_grad=True)
    y = nn.CrossMapLRN2d(size, 0.3, 0.8, 1.5)(xt)
    y.backward(tg.tensor(g))
    out, grad = _lrn_loops(x, g, size, 0.3, 0.8, 1.5)
    np.testing.assert_allclose(y.detach().numpy(), out, rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(xt.grad.numpy(), grad, rtol=1e-12, atol=1e-14)
    assert y.grad_fn.name() == "CrossMapLRN2dBackward"


@pytest.mark.parametrize(
    "size,channels,dtype",
    slow_after(
        [(5, 6, "float32"), (3, 4, "float64"), (4, 8, "float32"), (1, 3, "float64")],
        keep=1,
        multi=True,
    ),
)
def test_cross_map_lrn2d_against_pytorch(size, channels, dtype):
    torch = _torch()
    x = rng.normal(size=(3, channels, 4, 5)).astype(dtype)
    g = rng.normal(size=x.shape).astype(dtype)
    xt = torch.tensor(x, requires_grad=True)
    xg = tg.tensor(x, requires_grad=True)
    yt = torch.nn.CrossMapLRN2d(size, 1e-2, 0.75, 2)(xt)
    yg = nn.CrossMapLRN2d(size, 1e-2, 0.75, 2)(xg)
    assert yg.dtype.name == dtype and type(yt.grad_fn).__name__ == yg.grad_fn.name()
    tol = dict(rtol=1e-5, atol=1e-6) if dtype == "float32" else dict(rtol=1e-12)
    np.testing.assert_allclose(yg.detach().numpy(), yt.detach().numpy(), **tol)
    if size == 1:  # PyTorch's backward fails for size 1 (narrow out of range); so does ours
        with pytest.raises(RuntimeError) as want:
            yt.backward(torch.tensor(g))
        with pytest.raises(RuntimeError, match=r"start \(1\) \+ length") as got:
            yg.backward(tg.tensor(g))
        assert str(got.value) == str(want.value)
        return
    yt.backward(torch.tensor(g))
    yg.backward(tg.tensor(g))
    np.testing.assert_allclose(xg.grad.numpy(), xt.grad.numpy(), **tol)


def test_cross_map_lrn2d_errors_and_repr():
    m = nn.CrossMapLRN2d(3)
    assert repr(m) == "CrossMapLRN2d(3, alpha=0.0001, beta=0.75, k=1)"
    with pytest.raises(
        ValueError, match=r"^CrossMapLRN2d: Expected input to be 4D, got 3D instead"
    ):
        m(tg.ones(2, 3, 4))
    assert m(tg.ones(1, 3, 2, 2)).grad_fn is None
    torch = _torch()
    for shape, dtype in [((2, 0, 2, 2), "float32"), ((2, 3, 2, 2), "int64")]:
        with pytest.raises(Exception) as want:
            torch.nn.CrossMapLRN2d(3)(torch.ones(shape, dtype=getattr(torch, dtype)))
        with pytest.raises(want.type) as got:
            m(tg.ones(shape, dtype=getattr(tg, dtype)))
        assert str(got.value) == str(want.value)


@slow
def test_cross_map_lrn2d_backward_is_pytorchs_not_the_derivative():
    # The reason for the custom Function: the exact derivative of the forward (jax.vjp of a jnp
    # transcription) differs from PyTorch's gradient, which tracegrad follows.
    x = rng.normal(size=(1, 5, 2, 2))
    g = rng.normal(size=x.shape)
    size, alpha, beta, k = 3, 0.5, 0.75, 1.0

    def fwd(a):
        sq = a * a
        # channel c: [c - 1, c + 1] clipped, plus channel 0 from c = 2 on (pre_pad = 2)
        m = np.array([[1 if (abs(c - j) <= 1) or (j == 0 and c >= 2) else 0 for j in range(5)]
                      for c in range(5)], dtype=np.float64)  # fmt: skip
        scale = jnp.einsum("cj,njhw->nchw", m, sq) * (alpha / size) + k
        return scale**-beta * a

    exact = jax.vjp(fwd, jnp.asarray(x))[1](jnp.asarray(g))[0]
    xt = tg.tensor(x, requires_grad=True)
    y = nn.CrossMapLRN2d(size, alpha, beta, k)(xt)
    np.testing.assert_allclose(y.detach().numpy(), np.asarray(fwd(x)), rtol=1e-12)
    y.backward(tg.tensor(g))
    np.testing.assert_allclose(xt.grad.numpy(), _lrn_loops(x, g, size, alpha, beta, k)[1])
    assert not np.allclose(xt.grad.numpy(), np.asarray(exact))


@slow
def test_cross_map_lrn2d_in_a_compiled_step():
    def make():
        tg.manual_seed(3)
        m = nn.Sequential(nn.Conv2d(2, 4, 1), nn.CrossMapLRN2d(3, 0.5, 0.75, 1.0))
        return m, tg.optim.SGD(m.parameters(), lr=0.1)

    x = tg.tensor(rng.normal(size=(2, 2, 3, 3)).astype(np.float32))
    losses = []
    for wrap in (lambda f: f, tg.compile):
        m, opt = make()

        def step(x, m=m, opt=opt):
            opt.zero_grad()
            loss = (m(x) ** 2).sum()
            loss.backward()
            opt.step()
            return loss

        step = wrap(step)
        losses.append([step(x).item() for _ in range(3)])
    np.testing.assert_allclose(losses[1], losses[0], rtol=1e-5)


# ------------------------------------------------------------------- AdaptiveLogSoftmaxWithLoss
def _pair(in_features=16, n_classes=20, cutoffs=(4, 10, 15), **kw):
    """A PyTorch module and a tracegrad one with its weights (float64)."""
    torch = _torch()
    torch.manual_seed(0)
    tm = torch.nn.AdaptiveLogSoftmaxWithLoss(in_features, n_classes, list(cutoffs), **kw).double()
    gm = nn.AdaptiveLogSoftmaxWithLoss(in_features, n_classes, cutoffs, dtype=tg.float64, **kw)
    gm.load_state_dict({k: tg.tensor(v.numpy()) for k, v in tm.state_dict().items()})
    return torch, tm, gm


@pytest.mark.parametrize(
    "kw", slow_after([dict(div_value=2.0, head_bias=True), dict(), dict(cutoffs=(3,))], keep=0)
)
def test_adaptive_log_softmax_against_pytorch(kw):
    torch, tm, gm = _pair(**kw)
    assert list(tm.state_dict()) == list(gm.state_dict()) and repr(tm) == repr(gm)
    x = rng.normal(size=(9, 16))
    target = np.array([0, 3, 5, 19, 12, 9, 15, 1, 11])
    xt = torch.tensor(x, requires_grad=True)
    xg = tg.tensor(x, requires_grad=True)
    out_t, loss_t = tm(xt, torch.tensor(target))
    res = gm(xg, tg.tensor(target))
    assert type(res).__name__ == "_ASMoutput" and res._fields == ("output", "loss")
    np.testing.assert_allclose(res.output.detach().numpy(), out_t.detach().numpy(), rtol=1e-12)
    np.testing.assert_allclose(res.loss.item(), loss_t.item(), rtol=1e-12)
    loss_t.backward()
    res.loss.backward()
    np.testing.assert_allclose(xg.grad.numpy(), xt.grad.numpy(), rtol=1e-10, atol=1e-14)
    for p, q in zip(tm.parameters(), gm.parameters()):
        np.testing.assert_allclose(q.grad.numpy(), p.grad.numpy(), rtol=1e-10, atol=1e-14)
    lp_t = tm.log_prob(xt)
    np.testing.assert_allclose(gm.log_prob(xg).detach().numpy(), lp_t.detach().numpy(), rtol=1e-12)
    np.testing.assert_array_equal(gm.predict(xg).numpy(), tm.predict(xt).numpy())


@slow
@pytest.mark.parametrize("rows", ["mixed", "all_tail"])
def test_adaptive_log_softmax_predict_branches(rows):
    # predict's other two branches: some (or all) head argmaxes fall on a cluster entry.
    torch, tm, gm = _pair(head_bias=True)
    x = torch.tensor(rng.normal(size=(12, 16)))
    with torch.no_grad():
        h = tm.head(x)
        gap = h[:, :4].max(1).values - h[:, 4:].max(1).values
        tm.head.bias[4:] += gap.median() if rows == "mixed" else gap.max() + 1.0
    gm.load_state_dict({k: tg.tensor(v.numpy()) for k, v in tm.state_dict().items()})
    head = tm.head(x).argmax(1)
    in_short = (head < 4).sum().item()
    assert (0 < in_short < 12) if rows == "mixed" else in_short == 0
    np.testing.assert_array_equal(gm.predict(tg.tensor(x.numpy())).numpy(), tm.predict(x).numpy())


@slow
def test_adaptive_log_softmax_unbatched_against_pytorch():
    torch, tm, gm = _pair()
    x = rng.normal(size=16)
    xt = torch.tensor(x, requires_grad=True)
    xg = tg.tensor(x, requires_grad=True)
    out_t, loss_t = tm(xt, torch.tensor(12))
    out_g, loss_g = gm(xg, tg.tensor(12))
    assert out_g.shape == () and loss_g.shape == ()
    np.testing.assert_allclose(out_g.item(), out_t.item(), rtol=1e-12)
    loss_t.backward()
    loss_g.backward()
    np.testing.assert_allclose(xg.grad.numpy(), xt.grad.numpy(), rtol=1e-10, atol=1e-14)


def _empty_batch(lib, m, x_requires_grad: bool):
    """Output, loss, grad_fn names and the gradients left by ``loss.backward()`` for an empty
    batch: x's, then every parameter's (None where backward did not reach it)."""
    x = lib.zeros((0, 16), dtype=lib.float64, requires_grad=x_requires_grad)
    out, loss = m(x, lib.zeros(0, dtype=lib.int64))
    names = [t.grad_fn.name() for t in (out, loss)]
    shapes = (tuple(out.shape), tuple(loss.shape))
    value = loss.item()
    loss.backward()
    grads = [x.grad] + [p.grad for p in m.parameters()]
    grads = [None if g is None else g.detach().numpy() for g in grads]
    m.zero_grad(set_to_none=True)
    return names, shapes, value, grads


@pytest.mark.parametrize("x_requires_grad", [True, False])
def test_adaptive_log_softmax_empty_batch_against_pytorch(x_requires_grad):
    torch, tm, gm = _pair()
    want = _empty_batch(torch, tm, x_requires_grad)
    got = _empty_batch(tg, gm, x_requires_grad)
    assert got[0] == want[0] == ["AddBackward0", "MeanBackward0"]
    assert got[1] == want[1] == ((0,), ())
    assert np.isnan(got[2]) and np.isnan(want[2])  # the mean of nothing
    assert [g is None for g in got[3]] == [g is None for g in want[3]]
    for a, b in zip(got[3], want[3]):
        if a is not None:
            assert a.shape == b.shape
            np.testing.assert_array_equal(a, b)


def test_adaptive_log_softmax_empty_batch_keeps_its_graph():
    """No PyTorch needed: an empty batch still records the head's graph (the gather of no rows
    has a node, as PyTorch's does), so backward reaches the head (with zero gradients) and not
    the clusters, which no row uses. The oracle for the gather: JAX's gradient of
    take_along_axis with no indices is zeros."""
    tg.manual_seed(5)
    m = nn.AdaptiveLogSoftmaxWithLoss(16, 12, [3, 7], dtype=tg.float64)
    names, shapes, value, grads = _empty_batch(tg, m, True)
    assert names == ["AddBackward0", "MeanBackward0"] and shapes == ((0,), ()) and np.isnan(value)
    np.testing.assert_array_equal(grads[0], np.zeros((0, 16)))
    heads = [p is m.head.weight for p in m.parameters()]
    for g, is_head in zip(grads[1:], heads):
        assert (g is not None) == is_head
    np.testing.assert_array_equal(grads[1 + heads.index(True)], np.zeros((5, 16)))
    x = tg.tensor(rng.normal(size=(0, 5)), requires_grad=True)
    picked = x.gather(1, tg.zeros((0, 1), dtype=tg.int64))
    assert picked.grad_fn.name() == "GatherBackward0" and picked.shape == (0, 1)
    (gx,) = tg.autograd.grad(picked.sum(), x)
    want = jax.grad(lambda a: jnp.take_along_axis(a, jnp.zeros((0, 1), int), 1).sum())(
        jnp.zeros((0, 5))
    )
    np.testing.assert_array_equal(gx.numpy(), np.asarray(want))
    with tg.no_grad():  # nothing to record: no node
        assert x.gather(1, tg.zeros((0, 1), dtype=tg.int64)).grad_fn is None


def _errors(mod, x, t):
    try:
        mod(x, t)
    except Exception as e:  # noqa: BLE001 - the type and message are compared
        return type(e), str(e).replace("torch.Size", "Size").replace("tracegrad.Size", "Size")
    return None


def test_adaptive_log_softmax_errors_against_pytorch():
    torch, tm, gm = _pair()
    x = rng.normal(size=(4, 16))
    for xs, ts in [
        (x, [0, 25, 0, 0]),
        (x, [0, -1, 0, 0]),
        (x[0], [0, 1, 2, 3]),
        (x, [0, 1]),
        (x[:, None], [0, 1, 2, 3]),
        (x, [[0, 1, 2, 3]]),
        (x, 3),
    ]:
        want = _errors(tm, torch.tensor(xs), torch.tensor(ts))
        got = _errors(gm, tg.tensor(xs), tg.tensor(ts))
        assert want is not None and got == want
    for n, cutoffs in [(10, []), (10, [5, 3]), (10, [0, 3]), (10, [3, 10]), (10, [3, 3])]:
        with pytest.raises(ValueError) as want:
            torch.nn.AdaptiveLogSoftmaxWithLoss(8, n, cutoffs)
        with pytest.raises(ValueError) as got:
            nn.AdaptiveLogSoftmaxWithLoss(8, n, cutoffs)
        assert str(got.value) == str(want.value)


@slow
def test_adaptive_log_softmax_loss_is_nll_of_log_prob():
    # No PyTorch needed: the loss is the mean negative log-likelihood of the full distribution,
    # which sums to one over the classes.
    tg.manual_seed(5)
    m = nn.AdaptiveLogSoftmaxWithLoss(8, 12, [3, 7], dtype=tg.float64)
    x = tg.tensor(rng.normal(size=(6, 8)), requires_grad=True)
    target = tg.tensor([0, 11, 4, 2, 7, 6])
    out, loss = m(x, target)
    lp = m.log_prob(x)
    np.testing.assert_allclose(np.exp(lp.detach().numpy()).sum(1), 1.0, rtol=1e-12)
    np.testing.assert_allclose(
        out.detach().numpy(), lp.detach().numpy()[np.arange(6), target.numpy()], rtol=1e-12
    )
    ref = F.nll_loss(lp, target)
    np.testing.assert_allclose(loss.item(), ref.item(), rtol=1e-12)
    (gx,) = tg.autograd.grad(loss, x)
    (rx,) = tg.autograd.grad(ref, x)
    np.testing.assert_allclose(gx.numpy(), rx.numpy(), rtol=1e-10, atol=1e-14)


@slow
def test_adaptive_log_softmax_under_compile():
    tg.manual_seed(5)
    m = nn.AdaptiveLogSoftmaxWithLoss(8, 12, [3, 7], head_bias=True)
    with tg.no_grad():
        m.head.bias[3:] += 2.0  # some rows predicted in a cluster, some in the shortlist
    x = tg.tensor(rng.normal(size=(10, 8)).astype(np.float32))
    target = tg.tensor([0, 11, 4, 2, 7, 6, 1, 1, 9, 3])
    with pytest.raises(NotImplementedError, match="AdaptiveLogSoftmaxWithLoss.forward inside"):
        tg.compile(lambda m, x, t: m(x, t).loss)(m, x, target)
    lp = tg.compile(lambda m, x: m.log_prob(x))(m, x)
    np.testing.assert_allclose(lp.numpy(), m.log_prob(x).detach().numpy(), rtol=1e-6)
    eager = m.predict(x).numpy()
    assert 0 < (eager < 3).sum() < 10
    np.testing.assert_array_equal(tg.compile(lambda m, x: m.predict(x))(m, x).numpy(), eager)
    nll = tg.compile(lambda m, x, t: F.nll_loss(m.log_prob(x), t))(m, x, target)
    np.testing.assert_allclose(nll.item(), m(x, target).loss.item(), rtol=1e-5)
