"""Programs PyTorch runs that tracegrad used to refuse, checked against PyTorch itself.

- A loss changed in place before backward (``loss += reg``): no op saves its output unless its
  rule (and PyTorch's) reads it, so only a saved value that really changed raises.
- ``nll_loss``/``cross_entropy`` class weights that require grad: PyTorch's error, not a gradient.
- NumPy's ``keepdims=`` spelling of ``keepdim``, accepted exactly where PyTorch accepts it.
"""

from __future__ import annotations

import inspect
import warnings

import numpy as np
import pytest

import tracegrad as tg
import tracegrad.nn.functional as F

torch = pytest.importorskip("torch")
TF = torch.nn.functional

rng = np.random.default_rng(0)
X = rng.uniform(-2, 2, (4, 3))
Y = rng.uniform(0, 1, (4, 3))
P = Y / Y.sum(1, keepdims=True)
T = np.array([0, 2, 1, -100])
W = rng.uniform(0.5, 2, (3,))


def _augmented_grad(m, f, loss_fn):
    """``loss = loss_fn(x); loss += (x * x).sum(...); loss.sum().backward()``: x's gradient."""
    x = m.tensor(X, requires_grad=True)
    loss = loss_fn(m, f, x)
    loss += (x * x).sum() if loss.ndim == 0 else (x * x).sum(1) if loss.ndim == 1 else x * x
    loss.sum().backward()
    return x.grad.numpy()


LOSSES = {
    "cross_entropy": lambda m, f, x: f.cross_entropy(x, m.tensor(T)),
    "cross_entropy_weight": lambda m, f, x: f.cross_entropy(x, m.tensor(T), weight=m.tensor(W)),
    "cross_entropy_smoothing": lambda m, f, x: f.cross_entropy(
        x, m.tensor(T), weight=m.tensor(W), label_smoothing=0.2
    ),
    "cross_entropy_probs": lambda m, f, x: f.cross_entropy(x, m.tensor(P)),
    "nll_weight_ignore": lambda m, f, x: f.nll_loss(
        x.log_softmax(1), m.tensor(T), weight=m.tensor(W), ignore_index=-100
    ),
    "nll_weight_sum": lambda m, f, x: f.nll_loss(
        x.log_softmax(1), m.tensor(T), weight=m.tensor(W), reduction="sum"
    ),
    "nll_weight_none": lambda m, f, x: f.nll_loss(
        x.log_softmax(1), m.tensor(T), weight=m.tensor(W), reduction="none"
    ),
    "mse": lambda m, f, x: f.mse_loss(x, m.tensor(Y)),
    "mse_none": lambda m, f, x: f.mse_loss(x, m.tensor(Y), reduction="none"),
    "l1": lambda m, f, x: f.l1_loss(x, m.tensor(Y)),
    "bce": lambda m, f, x: f.binary_cross_entropy(x.sigmoid(), m.tensor(Y)),
    "bce_none": lambda m, f, x: f.binary_cross_entropy(x.sigmoid(), m.tensor(Y), reduction="none"),
    "bce_logits": lambda m, f, x: f.binary_cross_entropy_with_logits(x, m.tensor(Y)),
    "bce_logits_pos_weight": lambda m, f, x: f.binary_cross_entropy_with_logits(
        x, m.tensor(Y), pos_weight=m.tensor(W), reduction="none"
    ),
    "kl_div": lambda m, f, x: f.kl_div(x.log_softmax(1), m.tensor(P), reduction="batchmean"),
    "kl_div_log_target": lambda m, f, x: f.kl_div(
        x.log_softmax(1), m.tensor(np.log(P)), reduction="none", log_target=True
    ),
    "smooth_l1": lambda m, f, x: f.smooth_l1_loss(x, m.tensor(Y), beta=0.5),
    "huber": lambda m, f, x: f.huber_loss(x, m.tensor(Y), reduction="none"),
}


@pytest.mark.parametrize("name", ["cross_entropy"])
def test_loss_changed_in_place_backpropagates_as_in_pytorch(name):
    expected = _augmented_grad(torch, TF, LOSSES[name])
    np.testing.assert_allclose(_augmented_grad(tg, F, LOSSES[name]), expected, rtol=1e-10)


@pytest.mark.slow
@pytest.mark.parametrize("name", [n for n in LOSSES if n != "cross_entropy"])
def test_losses_changed_in_place_backpropagate_as_in_pytorch(name):
    expected = _augmented_grad(torch, TF, LOSSES[name])
    np.testing.assert_allclose(_augmented_grad(tg, F, LOSSES[name]), expected, rtol=1e-10)


def test_erfinv_result_changed_in_place_but_not_its_input():
    # PyTorch's erfinv rule reads its input, not its result.
    v = np.array([0.1, -0.4, 0.7])
    grads = []
    for m in (torch, tg):
        a = m.tensor(v, requires_grad=True)
        y = (a * 1).erfinv()
        y *= 3
        (y * y).sum().backward()
        grads.append(a.grad.numpy())
        b = a * 1
        z = b.erfinv()
        b.add_(1)
        with pytest.raises(RuntimeError, match="modified by an inplace operation"):
            z.sum().backward()
    np.testing.assert_allclose(grads[1], grads[0], rtol=1e-10)


@pytest.mark.parametrize("shape", [(4, 3), (2, 3, 5)])
def test_nll_class_weight_that_requires_grad_raises_as_pytorch(shape):
    x = rng.standard_normal(shape)
    t = rng.integers(0, 3, (shape[0], *shape[2:]))
    messages = []
    for m, f in ((torch, TF), (tg, F)):
        w = m.tensor(W, requires_grad=True)
        for loss, extra in ((f.nll_loss, {}), (f.cross_entropy, {"label_smoothing": 0.1})):
            with pytest.raises(RuntimeError) as err:
                loss(m.tensor(x), m.tensor(t), weight=w, **extra)
            messages.append(str(err.value))
        with m.no_grad():  # nothing is recorded: allowed
            f.nll_loss(m.tensor(x), m.tensor(t), weight=w)
    assert messages[2:] == messages[:2]


def test_probability_target_class_weight_gets_pytorch_gradient():
    # Probability targets are composed of differentiable ops in PyTorch too: weight gets a grad.
    grads = []
    for m, f in ((torch, TF), (tg, F)):
        w = m.tensor(W, requires_grad=True)
        f.cross_entropy(m.tensor(X), m.tensor(P), weight=w).backward()
        grads.append(w.grad.numpy())
    np.testing.assert_allclose(grads[1], grads[0], rtol=1e-10)


# ------------------------------------------------------------------------------------ keepdims=
B = rng.uniform(0.1, 1.0, (3, 4))

# Every public function or method with a ``keepdim`` parameter, called with ``keepdims=True``;
# ``None`` marks a name covered under another key. Some calls PyTorch refuses (TypeError).
KEEPDIMS = {
    "sum": lambda m, x, k: m.sum(x, 0, **k),
    "Tensor.sum": lambda m, x, k: x.sum(0, **k),
    "mean": lambda m, x, k: m.mean(x, dim=0, **k),
    "Tensor.mean": lambda m, x, k: x.mean(0, **k),
    "nansum": lambda m, x, k: m.nansum(x, 0, **k),
    "Tensor.nansum": lambda m, x, k: x.nansum(0, **k),
    "nanmean": lambda m, x, k: m.nanmean(x, 0, **k),
    "Tensor.nanmean": lambda m, x, k: x.nanmean(0, **k),
    "amax": lambda m, x, k: m.amax(x, 0, **k),
    "Tensor.amin": lambda m, x, k: x.amin(0, **k),
    "amin": lambda m, x, k: m.amin(x, (0, 1), **k),
    "Tensor.amax": lambda m, x, k: x.amax(1, **k),
    "aminmax": lambda m, x, k: m.aminmax(x, dim=0, **k)[0],
    "Tensor.aminmax": lambda m, x, k: x.aminmax(dim=0, **k)[1],
    "std": lambda m, x, k: m.std(x, 0, **k),
    "Tensor.std": lambda m, x, k: x.std(0, correction=0, **k),
    "var": lambda m, x, k: m.var(x, 0, correction=2, **k),
    "Tensor.var": lambda m, x, k: x.var(0, False, **k),
    "std_mean": lambda m, x, k: m.std_mean(x, 0, **k)[0],
    "var_mean": lambda m, x, k: m.var_mean(x, 0, **k)[1],
    "prod": lambda m, x, k: m.prod(x, 0, **k),
    "Tensor.prod": lambda m, x, k: x.prod(1, **k),
    "any": lambda m, x, k: m.any(x > 0.5, 0, **k),
    "Tensor.any": lambda m, x, k: (x > 0.5).any(1, **k),
    "all": lambda m, x, k: m.all(x > 0.5, 0, **k),
    "Tensor.all": lambda m, x, k: (x > 0.5).all(0, **k),
    "max": lambda m, x, k: m.max(x, 0, **k)[0],
    "Tensor.max": lambda m, x, k: x.max(dim=1, **k).indices,
    "min": lambda m, x, k: m.min(x, 0, **k)[1],
    "Tensor.min": lambda m, x, k: x.min(0, **k).values,
    "logsumexp": lambda m, x, k: m.logsumexp(x, 0, **k),
    "Tensor.logsumexp": lambda m, x, k: x.logsumexp(1, **k),
    "special.logsumexp": lambda m, x, k: m.special.logsumexp(x, 0, **k),
    "median": lambda m, x, k: m.median(x, 0, **k)[0],
    "Tensor.median": lambda m, x, k: x.median(1, **k)[1],
    "nanmedian": lambda m, x, k: m.nanmedian(x, 0, **k)[0],
    "Tensor.nanmedian": lambda m, x, k: x.nanmedian(0, **k)[0],
    "mode": lambda m, x, k: m.mode(x, 0, **k)[0],
    "Tensor.mode": lambda m, x, k: x.mode(0, **k)[0],
    "kthvalue": lambda m, x, k: m.kthvalue(x, 2, 0, **k)[0],
    "Tensor.kthvalue": lambda m, x, k: x.kthvalue(2, 0, **k)[0],
    "argmax": lambda m, x, k: m.argmax(x, 0, **k),
    "Tensor.argmax": lambda m, x, k: x.argmax(1, **k),
    "argmin": lambda m, x, k: m.argmin(x, 0, **k),
    "Tensor.argmin": lambda m, x, k: x.argmin(0, **k),
    "quantile": lambda m, x, k: m.quantile(x, 0.3, 0, **k),
    "Tensor.quantile": lambda m, x, k: x.quantile(0.3, 0, **k),
    "nanquantile": lambda m, x, k: m.nanquantile(x, 0.3, 0, **k),
    "Tensor.nanquantile": lambda m, x, k: x.nanquantile(0.3, 0, **k),
    "linalg.vector_norm": lambda m, x, k: m.linalg.vector_norm(x, dim=0, **k),
    "linalg.matrix_norm": lambda m, x, k: m.linalg.matrix_norm(x, **k),
    "linalg.norm": lambda m, x, k: m.linalg.norm(x, dim=1, **k),
    "pairwise_distance": lambda m, x, k: m.pairwise_distance(x, x + 1, **k),
    "nn.functional.pairwise_distance": lambda m, x, k: m.nn.functional.pairwise_distance(
        x, x + 1, **k
    ),
    "sum out=": lambda m, x, k: m.sum(x, 0, out=m.empty(1, 4, dtype=x.dtype), **k),
    # PyTorch refuses these: torch.norm is Python code, the rest have no keepdim.
    "norm": lambda m, x, k: m.norm(x, dim=0, **k),
    "Tensor.norm": lambda m, x, k: x.norm(2, 0, **k),
    "count_nonzero": lambda m, x, k: m.count_nonzero(x, 0, **k),
    "cumsum": lambda m, x, k: m.cumsum(x, 0, **k),
    "nn.functional.normalize": lambda m, x, k: m.nn.functional.normalize(x, **k),
    # Both spellings: PyTorch's TypeError.
    "sum both": lambda m, x, k: m.sum(x, 0, keepdim=True, **k),
    "Tensor.sum positional": lambda m, x, k: x.sum(0, True, **k),
    "max both": lambda m, x, k: x.max(0, keepdim=True, **k)[0],
    "var positional": lambda m, x, k: m.var(x, 0, False, True, **k),
}
# linalg.amax/amin are tracegrad's re-exports of amax/amin (PyTorch has none).
_COVERED_ELSEWHERE = {"linalg.amax", "linalg.amin"}


def _keepdims_call(m, name):
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            r = KEEPDIMS[name](m, m.tensor(B), {"keepdims": True})
    except TypeError:
        return TypeError
    return r.detach().numpy()


@pytest.mark.parametrize("name", ["Tensor.sum", "sum both"])
def test_keepdims_alias_as_in_pytorch(name):
    expected, got = _keepdims_call(torch, name), _keepdims_call(tg, name)
    if expected is TypeError:
        assert got is TypeError
    else:
        np.testing.assert_allclose(got, expected, rtol=1e-6)


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(KEEPDIMS))
def test_keepdims_alias_everywhere_pytorch_has_it(name):
    expected, got = _keepdims_call(torch, name), _keepdims_call(tg, name)
    if expected is TypeError:
        assert got is TypeError
    else:
        assert not isinstance(got, type), f"{name}: tracegrad refused keepdims="
        assert got.shape == expected.shape
        np.testing.assert_allclose(got, expected, rtol=1e-6)


@pytest.mark.slow
def test_keepdims_grid_covers_every_function_with_keepdim():
    spaces = {"": tg, "linalg.": tg.linalg, "special.": tg.special, "nn.functional.": F}
    names = {
        prefix + n
        for prefix, ns in spaces.items()
        for n in dir(ns)
        if not n.startswith("_") and _has_keepdim(getattr(ns, n))
    }
    names |= {"Tensor." + n for n in dir(tg.Tensor) if _has_keepdim(getattr(tg.Tensor, n, None))}
    missing = names - set(KEEPDIMS) - _COVERED_ELSEWHERE
    assert not missing, f"add to KEEPDIMS: {sorted(missing)}"


def _has_keepdim(obj) -> bool:
    if not callable(obj) or isinstance(obj, type):
        return False
    try:
        return "keepdim" in inspect.signature(obj).parameters
    except (TypeError, ValueError):
        return False
