"""``torch.autocast``: the per-op cast policy against PyTorch's CPU autocast (output dtypes and
values), training steps end to end, the region's scoping, and autocast under compile and lazy."""

from __future__ import annotations

import threading

import numpy as np
import pytest

import tracegrad as tg
from tracegrad import _autocast
from tracegrad.ops.registry import REGISTRY

torch = pytest.importorskip("torch")

rng = np.random.default_rng(0)


def _a(*shape):
    return rng.standard_normal(shape).astype(np.float32)


def _pos(*shape):
    return (np.abs(rng.standard_normal(shape)) + 0.1).astype(np.float32)


def _t(lib, x):
    return lib.tensor(x)


A, B, C = _a(4, 5), _a(5, 3), _a(4, 3)
BA, BB = _a(2, 4, 5), _a(2, 5, 3)
X4, W4, BIAS4 = _a(2, 3, 8, 8), _a(4, 3, 3, 3), _a(4)
X3, W3 = _a(2, 3, 9), _a(4, 3, 3)
X5 = _a(1, 2, 4, 4, 4)
LOGITS, TARGET = _a(6, 5), np.array([0, 1, 4, 2, 3, 1])
Q = _a(2, 2, 4, 8)
P01 = (rng.uniform(0.1, 0.9, (4, 3))).astype(np.float32)
BC, W5, SLOPE = _a(2, 4, 3), _a(3, 2, 2, 2, 2), _pos(3)
KL_TARGET = _pos(6, 5) / 5
GRID = np.clip(_a(2, 5, 5, 2), -1, 1)
L1, L2, Y = _a(4, 3), _a(4, 3), np.sign(_a(4)).astype(np.float32)

# (name, function of the library): each runs inside torch.autocast("cpu", dtype=bfloat16).
CALLS = {
    "matmul": lambda L: _t(L, A) @ _t(L, B),
    "mm": lambda L: L.mm(_t(L, A), _t(L, B)),
    "bmm": lambda L: L.bmm(_t(L, BA), _t(L, BB)),
    "addmm": lambda L: L.addmm(_t(L, C), _t(L, A), _t(L, B)),
    "baddbmm": lambda L: L.baddbmm(_t(L, BC), _t(L, BA), _t(L, BB)),
    "addbmm": lambda L: L.addbmm(_t(L, C), _t(L, BA), _t(L, BB)),
    "linear": lambda L: L.nn.functional.linear(_t(L, A), _t(L, B.T), _t(L, C[0])),
    "linear_3d": lambda L: L.nn.functional.linear(_t(L, BA), _t(L, B.T), _t(L, C[0])),
    "conv1d": lambda L: L.nn.functional.conv1d(_t(L, X3), _t(L, W3), _t(L, BIAS4)),
    "conv2d": lambda L: L.nn.functional.conv2d(_t(L, X4), _t(L, W4), _t(L, BIAS4), padding=1),
    "conv_transpose2d": lambda L: L.nn.functional.conv_transpose2d(
        _t(L, X4), _t(L, W4.transpose(1, 0, 2, 3)), _t(L, BIAS4)
    ),
    "conv3d": lambda L: L.nn.functional.conv3d(_t(L, X5), _t(L, W5)),
    "prelu": lambda L: L.nn.functional.prelu(_t(L, X4), _t(L, SLOPE)),
    "sdpa": lambda L: L.nn.functional.scaled_dot_product_attention(
        _t(L, Q), _t(L, Q * 0.5), _t(L, Q * 2)
    ),
    "softmax": lambda L: L.softmax(_t(L, LOGITS), dim=-1),
    "log_softmax": lambda L: L.log_softmax(_t(L, LOGITS), dim=-1),
    "layer_norm": lambda L: L.nn.functional.layer_norm(_t(L, LOGITS), (5,)),
    "exp": lambda L: L.exp(_t(L, A)),
    "sum": lambda L: _t(L, A).sum(),
    "cross_entropy": lambda L: L.nn.functional.cross_entropy(_t(L, LOGITS), L.tensor(TARGET)),
    "cross_entropy_of_bf16": lambda L: L.nn.functional.cross_entropy(
        _t(L, LOGITS).to(L.bfloat16), L.tensor(TARGET)
    ),
    "nll_loss": lambda L: L.nn.functional.nll_loss(_t(L, LOGITS).to(L.bfloat16), L.tensor(TARGET)),
    "mse_loss": lambda L: L.nn.functional.mse_loss(
        _t(L, A).to(L.bfloat16), _t(L, A * 0.5).to(L.bfloat16)
    ),
    "l1_loss": lambda L: L.nn.functional.l1_loss(_t(L, A).to(L.bfloat16), _t(L, A * 0.5)),
    "smooth_l1_loss": lambda L: L.nn.functional.smooth_l1_loss(
        _t(L, A).to(L.bfloat16), _t(L, A * 0.5).to(L.bfloat16)
    ),
    "huber_loss": lambda L: L.nn.functional.huber_loss(
        _t(L, A).to(L.bfloat16), _t(L, A * 0.5).to(L.bfloat16)
    ),
    "kl_div": lambda L: L.nn.functional.kl_div(
        _t(L, LOGITS).to(L.bfloat16),
        _t(L, KL_TARGET),
        reduction="batchmean",
    ),
    "bce": lambda L: L.nn.functional.binary_cross_entropy(
        _t(L, P01).to(L.bfloat16), _t(L, P01 * 0.5).to(L.bfloat16)
    ),
    "bce_with_logits": lambda L: L.nn.functional.binary_cross_entropy_with_logits(
        _t(L, A).to(L.bfloat16), _t(L, np.ones_like(A) * 0.5)
    ),
    "margin_ranking_loss": lambda L: L.nn.functional.margin_ranking_loss(
        _t(L, L1[:, 0]).to(L.bfloat16), _t(L, L2[:, 0]).to(L.bfloat16), _t(L, Y)
    ),
    "soft_margin_loss": lambda L: L.nn.functional.soft_margin_loss(
        _t(L, L1).to(L.bfloat16), _t(L, np.sign(L2))
    ),
    "hinge_embedding_loss": lambda L: L.nn.functional.hinge_embedding_loss(
        _t(L, L1).to(L.bfloat16), _t(L, np.sign(L2))
    ),
    "cosine_embedding_loss": lambda L: L.nn.functional.cosine_embedding_loss(
        _t(L, L1).to(L.bfloat16), _t(L, L2).to(L.bfloat16), _t(L, Y)
    ),
    "triplet_margin_loss": lambda L: L.nn.functional.triplet_margin_loss(
        _t(L, L1).to(L.bfloat16), _t(L, L2).to(L.bfloat16), _t(L, L1 * 0.3).to(L.bfloat16)
    ),
    "poisson_nll_loss": lambda L: L.nn.functional.poisson_nll_loss(
        _t(L, L1).to(L.bfloat16), _t(L, P01)
    ),
    "multi_margin_loss": lambda L: L.nn.functional.multi_margin_loss(
        _t(L, LOGITS).to(L.bfloat16), L.tensor(TARGET)
    ),
    "prod": lambda L: L.prod(_t(L, P01).to(L.bfloat16)),
    "avg_pool3d": lambda L: L.nn.functional.avg_pool3d(_t(L, X5).to(L.bfloat16), 2),
    "max_pool3d": lambda L: L.nn.functional.max_pool3d(_t(L, X5).to(L.bfloat16), 2),
    "max_pool2d": lambda L: L.nn.functional.max_pool2d(_t(L, X4).to(L.bfloat16), 2),
    "adaptive_avg_pool3d": lambda L: L.nn.functional.adaptive_avg_pool3d(
        _t(L, X5).to(L.bfloat16), 2
    ),
    "grid_sample": lambda L: L.nn.functional.grid_sample(
        _t(L, X4).to(L.bfloat16),
        _t(L, GRID).to(L.bfloat16),
        align_corners=False,
    ),
    "fft": lambda L: L.fft.fft(_t(L, A)).real,
    "rfft": lambda L: L.fft.rfft(_t(L, A)).abs(),
    "cat": lambda L: L.cat([_t(L, A).to(L.bfloat16), _t(L, A)]),
    "stack": lambda L: L.stack([_t(L, A).to(L.bfloat16), _t(L, A)]),
    "cat_lower": lambda L: L.cat([_t(L, A).to(L.bfloat16), _t(L, A).to(L.bfloat16)]),
    "add_mixed": lambda L: _t(L, A).to(L.bfloat16) + _t(L, A),
    "relu_bf16": lambda L: L.relu(_t(L, A).to(L.bfloat16)),
    "matmul_f64": lambda L: _t(L, A).double() @ _t(L, B).double(),
    "matmul_int": lambda L: L.tensor([[1, 2]]) @ L.tensor([[3], [4]]),
}


def _dtype_name(d) -> str:
    return str(d).split(".")[-1]


def _run(lib, call, dtype="bfloat16"):
    with lib.autocast("cpu", dtype=getattr(lib, dtype)):
        return call(lib)


@pytest.mark.parametrize("name", sorted(CALLS))
def test_op_dtype_and_values_match_pytorch_cpu_autocast(name):
    theirs = _run(torch, CALLS[name])
    ours = _run(tg, CALLS[name])
    assert _dtype_name(ours.dtype) == _dtype_name(theirs.dtype), name
    np.testing.assert_allclose(
        ours.float().numpy().astype(np.float64) if ours.dtype != tg.float64 else ours.numpy(),
        theirs.float().detach().numpy()
        if theirs.dtype != torch.float64
        else theirs.detach().numpy(),
        rtol=3e-2,
        atol=3e-2,
    )


@pytest.mark.parametrize(
    "name", ["matmul", "linear", "conv2d", "cross_entropy", "mse_loss", "add_mixed"]
)
def test_float16_autocast_matches_pytorch(name):
    theirs = _run(torch, CALLS[name], "float16")
    ours = _run(tg, CALLS[name], "float16")
    assert _dtype_name(ours.dtype) == _dtype_name(theirs.dtype)


def test_every_name_in_the_policy_tables_is_dispatched():
    """No dead entries: each name is a registry op (cast in ``apply``) or a public function
    decorated with ``_autocast.entry``."""
    for device_type, table in _autocast.POLICIES.items():
        unknown = sorted(n for n in table if n not in REGISTRY and n not in _autocast.ENTRIES)
        assert not unknown, (device_type, unknown)
    assert not (_autocast.ENTRIES - set().union(*_autocast.POLICIES.values()))


class MLP:
    pass


def _models(lib):
    lib.manual_seed(0)
    cnn = lib.nn.Sequential(
        lib.nn.Conv2d(3, 4, 3, padding=1),
        lib.nn.ReLU(),
        lib.nn.MaxPool2d(2),
        lib.nn.Flatten(),
        lib.nn.Linear(4 * 4 * 4, 16),
        lib.nn.LayerNorm(16),
        lib.nn.GELU(),
        lib.nn.Linear(16, 5),
    )
    return cnn


def _copy_params(src, dst):
    with torch.no_grad():
        for p, q in zip(src.parameters(), dst.parameters()):
            q.copy_(torch.tensor(p.detach().numpy()))


def _train(lib, model, steps=3):
    opt = lib.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    x = lib.tensor(_IMAGES)
    y = lib.tensor(_LABELS)
    losses, grads = [], []
    for _ in range(steps):
        opt.zero_grad()
        with lib.autocast("cpu", dtype=lib.bfloat16):
            out = model(x)
            loss = lib.nn.functional.cross_entropy(out, y)
        assert _dtype_name(out.dtype) == "bfloat16" and _dtype_name(loss.dtype) == "float32"
        loss.backward()
        grads.append([_dtype_name(p.grad.dtype) for p in model.parameters()])
        opt.step()
        losses.append(loss.item())
    return losses, grads


_IMAGES = _a(6, 3, 8, 8)
_LABELS = np.array([0, 1, 2, 3, 4, 0])


def test_cnn_training_step_matches_pytorch():
    ours = _models(tg)
    theirs = _models(torch)
    _copy_params(ours, theirs)
    our_losses, our_grads = _train(tg, ours)
    their_losses, their_grads = _train(torch, theirs)
    assert our_grads == their_grads
    assert all(d == "float32" for d in our_grads[0])
    np.testing.assert_allclose(our_losses, their_losses, rtol=3e-2, atol=2e-2)


def test_region_scoping_nesting_and_decorator():
    assert not tg.is_autocast_enabled("cpu")
    assert tg.get_autocast_dtype("cpu") == tg.bfloat16
    assert tg.get_autocast_dtype("cuda") == tg.float16
    a, b = tg.tensor(A), tg.tensor(B)
    with tg.autocast("cpu"):
        assert tg.is_autocast_enabled("cpu")
        assert (a @ b).dtype == tg.bfloat16
        with tg.autocast("cpu", enabled=False):
            assert not tg.is_autocast_enabled("cpu")
            assert (a @ b).dtype == tg.float32
        with tg.autocast("cpu", dtype=tg.float16):
            assert (a @ b).dtype == tg.float16
        assert (a @ b).dtype == tg.bfloat16
        assert (a.double() @ b.double()).dtype == tg.float64
    assert (a @ b).dtype == tg.float32
    assert _autocast.active == 0

    @tg.autocast("cpu")
    def f(x, y):
        return x @ y

    assert f(a, b).dtype == tg.bfloat16
    assert (a @ b).dtype == tg.float32
    with pytest.raises(ValueError):  # an exception leaves the region too
        with tg.autocast("cpu"):
            raise ValueError
    assert not tg.is_autocast_enabled("cpu") and _autocast.active == 0


def test_deprecated_spellings_and_unsupported_dtype_match_pytorch():
    for lib in (tg, torch):
        with pytest.warns(FutureWarning, match="torch.cpu.amp.autocast"):
            ctx = lib.cpu.amp.autocast()
        with ctx:
            assert lib.is_autocast_enabled("cpu")
            assert (lib.ones(2, 2) @ lib.ones(2, 2)).dtype == lib.bfloat16
        with pytest.warns(UserWarning, match="target dtype is not supported"):
            ctx = lib.autocast("cpu", dtype=lib.float32)
        with ctx:
            assert not lib.is_autocast_enabled("cpu")
        assert lib.amp.is_autocast_available("cpu")


def test_region_is_per_thread():
    a, b = tg.tensor(A), tg.tensor(B)
    seen = []
    entered, done = threading.Event(), threading.Event()

    def other():
        entered.wait()
        seen.append(((a @ b).dtype, tg.is_autocast_enabled("cpu")))
        done.set()

    t = threading.Thread(target=other)
    t.start()
    with tg.autocast("cpu"):
        entered.set()
        done.wait()
        assert (a @ b).dtype == tg.bfloat16
    t.join()
    assert seen == [(tg.float32, False)]


def test_custom_fwd_casts_inputs_and_custom_bwd_restores_the_region():
    seen = {}

    class Square(tg.autograd.Function):
        @staticmethod
        @tg.amp.custom_fwd(device_type="cpu", cast_inputs=tg.float32)
        def forward(ctx, x):
            seen["fwd"] = (x.dtype, tg.is_autocast_enabled("cpu"))
            ctx.save_for_backward(x)
            return x * x

        @staticmethod
        @tg.amp.custom_bwd(device_type="cpu")
        def backward(ctx, g):
            seen["bwd"] = tg.is_autocast_enabled("cpu")
            (x,) = ctx.saved_tensors
            return 2 * x * g

    x = tg.tensor([1.0, 2.0], dtype=tg.bfloat16, requires_grad=True)
    with tg.autocast("cpu"):
        y = Square.apply(x)
    y.sum().backward()
    assert seen["fwd"] == (tg.float32, False) and seen["bwd"] is True
    assert y.dtype == tg.float32 and x.grad.dtype == tg.bfloat16
    assert x.grad.float().tolist() == [2.0, 4.0]


# ------------------------------------------------------------------ compile, lazy, GradScaler
def _mlp(lib):
    lib.manual_seed(1)
    return lib.nn.Sequential(lib.nn.Linear(8, 16), lib.nn.ReLU(), lib.nn.Linear(16, 4))


_XS = _a(5, 8)
_YS = np.array([0, 1, 2, 3, 0])


def _scaled_steps(mode, steps=4, inf_at=2):
    model = _mlp(tg)
    opt = tg.optim.SGD(model.parameters(), lr=0.1)
    scaler = tg.amp.GradScaler("cpu", init_scale=2.0**8, growth_interval=1)

    def step(x, y):
        opt.zero_grad()
        with tg.autocast("cpu", dtype=tg.bfloat16):
            loss = tg.nn.functional.cross_entropy(model(x), y)
        scaler.scale(loss).backward()
        return loss

    if mode == "compile":
        step = tg.compile(step, state=(model, opt))
    losses, scales = [], []
    before = tg.is_lazy() if hasattr(tg, "is_lazy") else False
    if mode == "lazy":
        tg.set_lazy(True)
    try:
        for i in range(steps):
            x = tg.tensor(_XS * (np.inf if i == inf_at else 1.0))
            loss = step(x, tg.tensor(_YS))
            scaler.step(opt)
            scaler.update()
            losses.append(loss.item())
            scales.append(scaler.get_scale())
    finally:
        if mode == "lazy":
            tg.set_lazy(before)
    params = [p.detach().numpy().copy() for p in model.parameters()]
    grads = [_dtype_name(p.grad.dtype) for p in model.parameters()]
    return losses, scales, params, grads


@pytest.mark.parametrize("mode", ["compile", "lazy"])
def test_grad_scaler_with_autocast_matches_eager(mode):
    eager = _scaled_steps("eager")
    other = _scaled_steps(mode)
    assert eager[1] == other[1] == [512.0, 1024.0, 512.0, 1024.0]  # step 2 skipped (inf)
    np.testing.assert_allclose(other[0], eager[0], rtol=1e-2)
    for p, q in zip(other[2], eager[2]):
        np.testing.assert_allclose(p, q, rtol=1e-2, atol=1e-3)
    assert other[3] == eager[3] == ["float32"] * 4


def test_compiled_step_retraces_when_the_region_changes():
    a, b = tg.tensor(A), tg.tensor(B)

    @tg.compile
    def f(x, y):
        return x @ y

    assert f(a, b).dtype == tg.float32
    with tg.autocast("cpu"):
        assert f(a, b).dtype == tg.bfloat16
        with tg.autocast("cpu", dtype=tg.float16):
            assert f(a, b).dtype == tg.float16
    assert f(a, b).dtype == tg.float32


def test_lazy_ops_follow_the_region():
    tg.set_lazy(True)
    try:
        a, b = tg.tensor(A, requires_grad=True), tg.tensor(B)
        with tg.autocast("cpu"):
            out = (a @ b).relu()
            loss = tg.nn.functional.mse_loss(out, tg.zeros(4, 3))
        assert out.dtype == tg.bfloat16 and loss.dtype == tg.float32
        loss.backward()
        assert a.grad.dtype == tg.float32
        value = loss.item()
    finally:
        tg.set_lazy(False)
    ref = torch.tensor(A) @ torch.tensor(B)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        ref = torch.nn.functional.mse_loss(
            (torch.tensor(A) @ torch.tensor(B)).relu(), torch.zeros(4, 3)
        )
    np.testing.assert_allclose(value, ref.item(), rtol=2e-2)


def test_float16_grad_scaler_skips_overflowing_steps():
    """Under float16 autocast the scaled cotangent of a float16 matmul overflows at a large
    scale: the gradients are inf, the step is skipped and the scale backs off, as in PyTorch."""
    results = []
    for lib in (tg, torch):
        p = lib.nn.Parameter(lib.tensor([[1.0], [2.0]]))
        x = lib.tensor([[3.0, 4.0]])
        opt = lib.optim.SGD([p], lr=0.1)
        scaler = lib.amp.GradScaler("cpu", init_scale=2.0**17, growth_interval=1)
        history = []
        for _ in range(4):
            opt.zero_grad()
            with lib.autocast("cpu", dtype=lib.float16):
                out = x @ p
            assert out.dtype == lib.float16
            scaler.scale(out.float().sum()).backward()
            assert p.grad.dtype == lib.float32
            scaler.step(opt)
            scaler.update()
            history.append((p.detach().numpy().copy().ravel().tolist(), scaler.get_scale()))
        results.append(history)
    assert results[0] == results[1]
    assert results[0][0][1] == 2.0**16  # the first step overflowed and was skipped


def test_unscaling_float16_gradients_is_refused_as_in_pytorch():
    for lib in (tg, torch):
        p = lib.nn.Parameter(lib.tensor([1.0, 2.0], dtype=lib.float16))
        opt = lib.optim.SGD([p], lr=0.1)
        scaler = lib.amp.GradScaler("cpu")
        scaler.scale((p * 2).sum()).backward()
        with pytest.raises(ValueError, match="Attempting to unscale FP16 gradients"):
            scaler.unscale_(opt)
