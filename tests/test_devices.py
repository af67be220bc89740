"""Devices as PyTorch programs ask for them: ``torch.device``, ``torch.cuda``,
``torch.accelerator``, ``torch.backends``, placement and the same-device check.

The oracle is PyTorch's CPU build (installed in the venv) on a CPU-only JAX; the multi-device
checks run in a subprocess with ``XLA_FLAGS=--xla_force_host_platform_device_count=2`` (two CPU
devices, the second named ``cpu:1``)."""

from __future__ import annotations

import os
import pickle
import subprocess
import sys
import textwrap
import threading

import jax
import numpy as np
import pytest

import tracegrad as tg

torch = pytest.importorskip("torch")

CPU_ONLY = jax.default_backend() == "cpu"
cpu_only = pytest.mark.skipif(not CPU_ONLY, reason="compares with PyTorch's CPU build")


def _outcome(fn):
    """``('ok', value)`` or ``('error', exception type name, message)``."""
    try:
        return ("ok", fn())
    except Exception as e:  # noqa: BLE001 - the outcome is what is compared
        return ("error", type(e).__name__, str(e))


DEVICE_ARGS = [
    ("cuda",), ("cuda:1",), ("cpu",), ("cpu:1",), ("mps",), ("xla",), ("xla:0",), ("meta",),
    ("xpu",), ("CUDA",), ("cuda:01",), ("cuda:-1",), ("cuda: 1",), ("cuda:x",), ("",),
    ("cuda:1:2",), ("cuda", 1), ("cpu", 0), ("cpu", None), ("cuda:1", 2), ("cuda", -1),
    ("cuda", "1"), (None,),
]  # fmt: skip


@pytest.mark.parametrize("args", DEVICE_ARGS, ids=repr)
def test_device_parsing_matches_pytorch(args):
    def view(mod):
        d = mod.device(*args)
        return repr(d), str(d), d.type, d.index

    mine, theirs = _outcome(lambda: view(tg)), _outcome(lambda: view(torch))
    if theirs[0] == "error" and theirs[2].startswith("Expected one of"):
        # PyTorch's list of device types, which tracegrad extends with 'tpu'
        assert mine[:2] == theirs[:2] and mine[2].endswith(theirs[2].rsplit(":", 1)[1])
    elif theirs[0] == "error" and theirs[1] == "TypeError":
        assert mine[:2] == theirs[:2]  # the message names tracegrad's class, not torch's
    else:
        assert mine == theirs


def test_unknown_type_message_lists_pytorch_types_and_tpu():
    with pytest.raises(RuntimeError) as mine:
        tg.device("foo")
    with pytest.raises(RuntimeError) as theirs:
        torch.device("foo")
    assert str(mine.value) == str(theirs.value).replace(
        "privateuseone device type", "privateuseone, tpu device type"
    )


def test_tpu_device_parses():
    assert repr(tg.device("tpu:1")) == "device(type='tpu', index=1)"


def test_device_objects_behave_as_pytorch():
    d = tg.device("cuda", 1)
    with pytest.raises(AttributeError):
        d.type = "cpu"
    with pytest.raises(AttributeError):
        torch.device("cuda", 1).type = "cpu"
    assert pickle.loads(pickle.dumps(d)) == d
    assert tg.device(d) == d and hash(tg.device("cuda:1")) == hash(d)
    assert (tg.device("cuda") == tg.device("cuda:0")) == (
        torch.device("cuda") == torch.device("cuda:0")
    )
    assert tg.device("cpu") != 3


@cpu_only
def test_device_from_an_index_needs_an_accelerator():
    mine, theirs = _outcome(lambda: tg.device(0)), _outcome(lambda: torch.device(0))
    assert mine == theirs


# --------------------------------------------------------------------------- CPU-only behaviour
@cpu_only
@pytest.mark.parametrize(
    "call",
    ["x.cuda()", "x.to('cuda')", "x.to('cuda:0')", "ones(2, device='cuda')"],
)
def test_cuda_placement_without_a_gpu_raises_as_pytorch_cpu_build(call):
    def run(mod):
        x = mod.ones(2)  # noqa: F841 - read by eval
        return eval(call, {"x": x, "ones": mod.ones})

    mine, theirs = _outcome(lambda: run(tg)), _outcome(lambda: run(torch))
    assert theirs[:2] == ("error", "AssertionError")
    assert mine[:2] == theirs[:2]
    assert "not compiled with CUDA enabled" in mine[2] and theirs[2] in mine[2]
    assert 'pip install -U "jax[cuda12]"' in mine[2] and "device='cpu'" in mine[2]


@cpu_only
def test_cuda_with_an_index_without_an_accelerator_raises_as_pytorch():
    mine, theirs = _outcome(lambda: tg.ones(1).cuda(0)), _outcome(lambda: torch.ones(1).cuda(0))
    assert mine[:2] == theirs[:2] and mine[2].startswith(theirs[2]) and "jax[cuda12]" in mine[2]


def test_cuda_with_a_cpu_device_is_refused_as_pytorch():
    mine = _outcome(lambda: tg.ones(1).cuda("cpu"))
    theirs = _outcome(lambda: torch.ones(1).cuda("cpu"))
    assert mine[:2] == theirs[:2] and mine[2].startswith(theirs[2])


@cpu_only
def test_other_device_types_refuse_placement():
    # PyTorch's CPU build: XPU is an AssertionError, MPS a NotImplementedError.
    for kind in ("xpu", "mps"):
        mine = _outcome(lambda kind=kind: tg.ones(1, device=kind))
        theirs = _outcome(lambda kind=kind: torch.ones(1, device=kind))
        assert mine[:2] == theirs[:2], kind
    with pytest.raises(NotImplementedError, match="'meta' devices"):
        tg.ones(1).to("meta")


@cpu_only
def test_an_index_past_the_cpu_devices_says_how_to_get_more():
    with pytest.raises(RuntimeError, match="xla_force_host_platform_device_count"):
        tg.ones(1, device="cpu:1")


@cpu_only
@pytest.mark.parametrize(
    "name",
    [
        "is_available",
        "device_count",
        "is_initialized",
        "current_device",
        "synchronize",
        "get_device_name",
        "memory_allocated",
        "max_memory_allocated",
        "memory_reserved",
        "max_memory_reserved",
        "empty_cache",
        "is_bf16_supported",
        "get_rng_state",
        "initial_seed",
        "seed",
        "seed_all",
        "memory_stats",
    ],
)
def test_torch_cuda_on_a_cpu_only_machine_matches_pytorch_cpu_build(name):
    mine = _outcome(getattr(tg.cuda, name))
    theirs = _outcome(getattr(torch.cuda, name))
    if theirs[0] == "error":
        assert mine[:2] == theirs[:2] and theirs[2] in mine[2]
    else:
        assert mine == ("ok", dict(theirs[1]) if name == "memory_stats" else theirs[1])


@cpu_only
def test_cuda_seeding_without_a_gpu_does_nothing():
    tg.manual_seed(3)
    expected = tg.rand(3).numpy()
    tg.manual_seed(3)
    assert tg.cuda.manual_seed(7) is None and tg.cuda.manual_seed_all(7) is None
    np.testing.assert_array_equal(tg.rand(3).numpy(), expected)
    tg.cuda.reset_peak_memory_stats()  # nothing to reset
    tg.cuda.set_device(-1)  # a negative index does nothing, as in PyTorch
    with pytest.raises(AssertionError, match="not compiled with CUDA"):
        tg.cuda.set_device(0)
    with pytest.raises(AssertionError, match="not compiled with CUDA"):
        tg.cuda.set_rng_state(tg.get_rng_state())


@cpu_only
@pytest.mark.parametrize(
    "call",
    [
        "is_available()",
        "current_accelerator()",
        "current_accelerator(check_available=True)",
        "device_count()",
        "current_device_index()",
        "synchronize()",
        "set_device_index(0)",
    ],
)
def test_accelerator_on_a_cpu_only_machine_matches_pytorch(call):
    mine = _outcome(lambda: eval(call, vars(tg.accelerator)))
    theirs = _outcome(lambda: eval(call, vars(torch.accelerator)))
    assert mine == theirs


# ----------------------------------------------------------------------------- torch.backends
@cpu_only
@pytest.mark.parametrize(
    "flag",
    [
        "cudnn.benchmark",
        "cudnn.deterministic",
        "cudnn.enabled",
        "cudnn.is_available()",
        "cudnn.version()",
        "cuda.is_built()",
        "cuda.matmul.allow_tf32",
        "mps.is_available()",
        "mps.is_built()",
    ],
)
def test_backend_flags_match_pytorch_cpu_build(flag):
    assert eval(f"tg.backends.{flag}") == eval(f"torch.backends.{flag}")


def test_backends_jax_does_not_use_are_unavailable():
    # PyTorch's CPU build has MKL-DNN and OpenMP; XLA's CPU kernels use neither.
    assert tg.backends.mkldnn.is_available() is False
    assert tg.backends.openmp.is_available() is False


def test_allow_tf32_is_jax_default_matmul_precision():
    before = jax.config.jax_default_matmul_precision
    try:
        tg.backends.cuda.matmul.allow_tf32 = True
        assert jax.config.jax_default_matmul_precision == "tensorfloat32"
        assert tg.backends.cudnn.allow_tf32 is True
        tg.backends.cudnn.allow_tf32 = False
        assert jax.config.jax_default_matmul_precision == "highest"
        assert tg.backends.cuda.matmul.allow_tf32 is False
        with pytest.raises(AttributeError):
            tg.backends.cuda.matmul.no_such_flag = 1
    finally:
        jax.config.update("jax_default_matmul_precision", before)


@cpu_only
def test_cudnn_deterministic_sets_xla_flag(monkeypatch):
    monkeypatch.setenv("XLA_FLAGS", "--xla_force_host_platform_device_count=1")
    tg.backends.cudnn.deterministic = True
    assert os.environ["XLA_FLAGS"].split() == [
        "--xla_force_host_platform_device_count=1",
        "--xla_gpu_deterministic_ops=true",
    ]
    assert tg.backends.cudnn.deterministic is True
    tg.backends.cudnn.deterministic = False
    assert os.environ["XLA_FLAGS"] == "--xla_force_host_platform_device_count=1"
    tg.backends.cudnn.benchmark = True
    assert tg.backends.cudnn.benchmark is True
    tg.backends.cudnn.benchmark = False


# ------------------------------------------------------------------------ tensors and defaults
@cpu_only
def test_tensor_device_properties_match_pytorch():
    for attr in ("is_cuda", "is_cpu", "is_xpu", "is_mps", "is_meta"):
        assert getattr(tg.ones(2), attr) == getattr(torch.ones(2), attr), attr
    assert repr(tg.ones(2).device) == repr(torch.ones(2).device)
    assert tg.ones(2).get_device() == torch.ones(2).get_device() == -1
    assert tg.tensor(1.0).to("cpu").get_device() == -1


@cpu_only
def test_default_device_matches_pytorch_and_is_per_thread():
    assert repr(tg.get_default_device()) == repr(torch.get_default_device())
    tg.set_default_device("cpu")
    try:
        assert tg.get_default_device() == tg.device("cpu")
        for t in (tg.zeros(2), tg.tensor([1.0]), tg.randn(2), tg.arange(3), tg.full((2,), 1.0)):
            assert t._storage.array.committed and t.device == tg.device("cpu")
        seen = []
        thread = threading.Thread(target=lambda: seen.append(tg.zeros(1)._storage.array.committed))
        thread.start()
        thread.join()
        assert seen == [False]  # another thread keeps JAX's placement, as PyTorch's is per thread
    finally:
        tg.set_default_device(None)
    assert not tg.zeros(2)._storage.array.committed
    with tg.device("cpu"):
        assert tg.ones(1)._storage.array.committed
    assert not tg.ones(1)._storage.array.committed


def test_to_same_device_returns_self():
    x = tg.ones(2)
    assert x.to("cpu") is x and x.cpu() is x and x.to(tg.device("cpu")) is x
    assert x.to("cpu", copy=True) is not x


def test_python_scalars_and_numpy_mix_with_placed_tensors():
    x = tg.ones(2).to("cpu", copy=True)
    np.testing.assert_array_equal((x * 2 + 1).numpy(), [3.0, 3.0])
    np.testing.assert_array_equal((x + np.ones(2)).numpy(), [2.0, 2.0])


# ------------------------------------------------------------------------ two CPU devices
TWO_DEVICES = textwrap.dedent(
    """
    import numpy as np
    import pytest
    import tracegrad as torch

    MSG = "Expected all tensors to be on the same device, but found at least two devices, {} and {}!"
    assert torch.get_default_device() == torch.device("cpu")
    a = torch.ones(3, device="cpu:1")
    b = torch.ones(3, device="cpu")
    assert a.device == torch.device("cpu", 1) and str(b.device) == "cpu"
    assert [d.id for d in a._storage.array.devices()] == [1]
    assert a.get_device() == -1 and a.is_cpu and not a.is_cuda

    # The first device that is not the CPU's first is the common one, in either order.
    for x, y in ((a, b), (b, a)):
        with pytest.raises(RuntimeError) as e:
            x + y
        assert str(e.value) == MSG.format("cpu:1", "cpu"), str(e.value)
    for call in (lambda: a @ b, lambda: torch.cat([a, b]), lambda: torch.where(a > 0, a, b)):
        with pytest.raises(RuntimeError, match="Expected all tensors to be on the same device"):
            call()

    # A 0-d tensor on the CPU joins any op, as in PyTorch; Python scalars and tensors that were
    # never placed follow the placed operand.
    s = torch.tensor(2.0, device="cpu")
    for r in (a * s, s * a, a + 1, a + torch.ones(3)):
        assert r.device == torch.device("cpu", 1)
    np.testing.assert_array_equal((a * s).numpy(), [2.0, 2.0, 2.0])
    with pytest.raises(RuntimeError):  # a 0-d tensor elsewhere than the CPU does not
        b + torch.tensor(1.0, device="cpu:1")

    # Moves are real and recorded: the gradient goes back to the source device.
    x = torch.tensor([1.0, 2.0, 3.0], requires_grad=True)
    y = x.to("cpu:1")
    assert y.device == torch.device("cpu", 1) and y.grad_fn.name() == "ToCopyBackward0"
    (y * y).sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), [2.0, 4.0, 6.0])
    assert x.grad.device == torch.device("cpu")
    assert y.to("cpu:1") is y and y.cpu().device == torch.device("cpu")

    # Factories follow the default device; *_like follow their input.
    torch.set_default_device("cpu:1")
    for t in (torch.zeros(2), torch.ones(2), torch.tensor([1.0]), torch.randn(2),
              torch.arange(3), torch.linspace(0, 1, 3), torch.eye(2), torch.full((2,), 3.0),
              torch.empty(2), torch.randint(5, (2,)), torch.randperm(3), torch.as_tensor([1])):
        assert t.device == torch.device("cpu", 1), t
    assert torch.zeros_like(b).device == torch.device("cpu")
    assert torch.get_default_device() == torch.device("cpu", 1)
    torch.set_default_device(None)
    assert torch.zeros(2).device == torch.device("cpu")
    with torch.device("cpu:1"):
        assert torch.zeros(1).device == torch.device("cpu", 1)
    assert torch.zeros(1).device == torch.device("cpu")

    # A module moved to the second device trains there.
    model = torch.nn.Linear(3, 2).to("cpu:1")
    out = model(a)
    out.sum().backward()
    assert out.device == model.weight.grad.device == torch.device("cpu", 1)
    with pytest.raises(RuntimeError, match="cpu:1 and cpu!"):
        model(b)
    print("ok")
    """
)


@pytest.mark.slow
def test_two_simulated_cpu_devices():
    env = dict(os.environ, XLA_FLAGS="--xla_force_host_platform_device_count=2")
    env["JAX_PLATFORMS"] = "cpu"
    result = subprocess.run(
        [sys.executable, "-c", TWO_DEVICES], env=env, capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.strip().endswith("ok")
