"""``torch.amp`` (GradScaler, autocast), the rest of ``torch.cuda`` and ``torch.backends``, against
PyTorch's CPU build: the scaler step for step, and what a CPU-only machine does for GPU calls."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

import tracegrad as tg

torch = pytest.importorskip("torch")


def _train(lib, grads_per_step, **scaler_kwargs):
    """Run a scaler over fixed gradients (some inf/NaN); the parameters, the scale history and
    the state dict after each update."""
    p = lib.nn.Parameter(lib.tensor([1.0, -2.0, 3.0]))
    opt = lib.optim.SGD([p], lr=0.1, momentum=0.9)
    scaler = lib.amp.GradScaler("cpu", **scaler_kwargs)
    history = []
    for g in grads_per_step:
        opt.zero_grad()
        loss = scaler.scale((p * lib.tensor(g)).sum())
        loss.backward()
        if len(history) % 2:
            scaler.unscale_(opt)  # every other step unscales explicitly, as clipping code does
        scaler.step(opt)
        scaler.update()
        history.append((p.detach().numpy().copy(), scaler.get_scale(), scaler.state_dict()))
    return history


GRADS = [
    [1.0, 2.0, 3.0],
    [np.inf, 1.0, 0.0],
    [0.5, -1.0, 2.0],
    [1.0, np.nan, 1.0],
    [0.1, 0.2, 0.3],
    [0.3, 0.2, 0.1],
    [1e-3, 1.0, -1.0],
]


def test_grad_scaler_matches_pytorch_step_for_step():
    kw = dict(init_scale=2.0**10, growth_interval=2, backoff_factor=0.25, growth_factor=4.0)
    ours, theirs = _train(tg, GRADS, **kw), _train(torch, GRADS, **kw)
    for (p, s, sd), (tp, ts, tsd) in zip(ours, theirs):
        np.testing.assert_allclose(p, tp, rtol=1e-6)
        assert s == ts
        assert sd == tsd


def test_grad_scaler_errors_match_pytorch():
    for lib in (tg, torch):
        p = lib.nn.Parameter(lib.ones(2))
        opt = lib.optim.SGD([p], lr=0.1)
        scaler = lib.amp.GradScaler("cpu")
        with pytest.raises(AssertionError, match="did not use scaler.scale"):
            scaler.step(opt)
        scaler.scale((p * 2).sum()).backward()
        scaler.unscale_(opt)
        with pytest.raises(RuntimeError, match="already been called on this optimizer"):
            scaler.unscale_(opt)
        scaler.step(opt)
        with pytest.raises(RuntimeError, match="step\\(\\) has already been called"):
            scaler.step(opt)
        with pytest.raises(RuntimeError, match="Closure use is not currently supported"):
            scaler.step(opt, closure=lambda: None)


def test_grad_scaler_state_dict_loads_across_libraries():
    ours = tg.amp.GradScaler("cpu", init_scale=8.0)
    ours.scale(tg.ones(()))
    theirs = torch.amp.GradScaler("cpu")
    theirs.load_state_dict(ours.state_dict())
    assert theirs.state_dict() == ours.state_dict()
    assert ours.scale(tg.tensor(2.0)).item() == 16.0
    ours.update(new_scale=tg.tensor(4.0))
    assert ours.get_scale() == 4.0


def test_cuda_scaler_and_autocast_disable_themselves_without_a_gpu():
    if tg.cuda.is_available():
        pytest.skip("a GPU is present")
    for lib in (tg, torch):
        with pytest.warns(UserWarning, match="CUDA is not available.  Disabling"):
            scaler = lib.amp.GradScaler()
        assert not scaler.is_enabled() and scaler.get_scale() == 1.0 and scaler.state_dict() == {}
        x = lib.ones(3)
        assert scaler.scale(x) is x
        with pytest.warns(UserWarning, match="Disabling autocast"):
            ctx = lib.autocast("cuda")
        with ctx:
            y = lib.ones(2) * 2
        assert y.dtype == lib.float32
        with pytest.warns(FutureWarning, match="torch.cuda.amp.GradScaler"):
            lib.cuda.amp.GradScaler(enabled=False)


def test_autocast_takes_effect_on_the_cpu_and_custom_fwd_passes_through_outside_it():
    with tg.autocast("cpu", dtype=tg.bfloat16):
        assert (tg.ones(2, 2) @ tg.ones(2, 2)).dtype == tg.bfloat16
    with tg.autocast("cpu", enabled=False):
        assert (tg.ones(2, 2) @ tg.ones(2, 2)).dtype == tg.float32
    assert tg.amp.is_autocast_available("cpu") == torch.amp.is_autocast_available("cpu")

    @tg.amp.custom_fwd(device_type="cpu", cast_inputs=tg.float32)
    def forward(x):
        return x * 2

    assert forward(tg.ones(1)).item() == 2.0


@pytest.mark.parametrize(
    "call",
    [
        lambda lib: lib.cuda.get_device_properties(0),
        lambda lib: lib.cuda.get_device_capability(),
        lambda lib: lib.cuda.ipc_collect(),
        lambda lib: lib.cuda.current_stream(),
        lambda lib: lib.cuda.Stream(),
        lambda lib: lib.cuda.Event(enable_timing=True),
        lambda lib: lib.cuda.memory_summary(),
        lambda lib: lib.cuda.device(0).__enter__(),
    ],
)
def test_gpu_calls_fail_like_pytorchs_cpu_build(call):
    if tg.cuda.is_available():
        pytest.skip("a GPU is present")
    with pytest.raises(Exception) as theirs:
        call(torch)
    with pytest.raises(Exception) as ours:
        call(tg)
    # The same exception type; the device context errors when entered, as PyTorch's does.
    assert type(ours.value) is type(theirs.value) or isinstance(ours.value, AssertionError)


def test_stream_context_without_a_stream_runs_its_body():
    with tg.cuda.stream(None):
        assert tg.ones(1).item() == 1.0
    assert tg.cuda.device(None).__enter__() is not None


def test_backends_flags_read_back_like_pytorch():
    b, tb = tg.backends, torch.backends
    for name in ("flash", "mem_efficient", "math", "cudnn"):
        getattr(b.cuda, f"enable_{name}_sdp")(False)
        assert getattr(b.cuda, f"{name}_sdp_enabled")() is False
        getattr(b.cuda, f"enable_{name}_sdp")(True)
        assert getattr(b.cuda, f"{name}_sdp_enabled")() is True
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        with b.cuda.sdp_kernel(enable_flash=False):
            assert not b.cuda.flash_sdp_enabled()
    assert b.cuda.flash_sdp_enabled()
    m = b.cuda.matmul
    assert (
        m.allow_fp16_reduced_precision_reduction
        == tb.cuda.matmul.allow_fp16_reduced_precision_reduction
    )
    m.allow_bf16_reduced_precision_reduction = False
    assert m.allow_bf16_reduced_precision_reduction is False
    m.allow_bf16_reduced_precision_reduction = True
    with pytest.raises(AttributeError):
        m.allow_tf33 = True
    assert b.opt_einsum.is_available() and b.opt_einsum.enabled and b.opt_einsum.strategy == "auto"
    assert b.mkl.is_available() is False
