"""The example scripts run and print the numbers they claim."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

# Each test runs a script in a fresh interpreter (seconds each): all in the slow tier.
pytestmark = pytest.mark.slow


def _run(script: str, *args: str) -> str:
    proc = subprocess.run(
        [sys.executable, str(ROOT / "examples" / script), *args],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=ROOT,
    )
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


def test_seed_notebooks():
    out = _run("seed_notebooks.py")
    assert "out = tensor(72., grad_fn=<SumBackward0>)" in out
    assert (
        "x.grad = tensor([[24., 24., 24.],\n        [24., 24., 24.],\n        [24., 24., 24.]])"
        in out
    )
    assert "grad_fns: MulBackward0 PowBackward0 SumBackward0" in out
    assert "out = tensor(27., grad_fn=<MeanBackward0>)" in out
    assert "x.grad = tensor([[4.5000, 4.5000],\n        [4.5000, 4.5000]])" in out
    assert "x.grad == 2**(k+1) * v: True" in out
    assert "L = 121.0" in out and "dL/dw = 110.0" in out and "dL/db = 22.0" in out
    assert "x.grad = tensor([9., 9., 9.])" in out
    assert "y.grad = tensor([[30.],\n        [36.]])" in out
    assert "z.grad = tensor([[1., 1., 1.],\n        [1., 1., 1.]])" in out
    assert "under no_grad: (x * 2).requires_grad = False" in out
    assert "x.detach().requires_grad = False" in out
    assert "(<AccumulateGrad object at 0x" in out


def test_lenet_forward_prints_gradient_shapes():
    out = _run("lenet_forward.py")
    assert "conv1.weight" in out and "(6, 1, 5, 5)" in out
    assert "fc3.bias" in out and "(10,)" in out


def test_linear_regression_recovers_the_line():
    out = _run("linear_regression.py")
    line = next(x for x in out.splitlines() if x.startswith("learned y ="))
    w, b = float(line.split()[3]), float(line.split()[6])
    assert abs(w - 2.0) < 0.05 and abs(b - 1.0) < 0.05, line


@pytest.mark.parametrize("mode", [[], ["--compile"]], ids=["eager", "compile"])
def test_train_digits_reaches_a_sane_accuracy(tmp_path, mode):
    ckpt = tmp_path / "digits.safetensors"
    out = _run(
        "train_digits.py", "--epochs", "2", "--no-progress", "--checkpoint", str(ckpt), *mode
    )
    final = next(x for x in out.splitlines() if x.startswith("final test accuracy"))
    accuracy = float(final.split()[3].rstrip("%;")) / 100
    assert accuracy >= 0.90, final
    assert ckpt.exists()

    import tracegrad as torch

    state = torch.load(str(ckpt))
    assert state["conv1.weight"].shape == (16, 1, 3, 3)
    assert state["bn1.num_batches_tracked"].dtype == torch.int64


def test_draw_graphs_matches_the_committed_pictures(tmp_path):
    """The example prints its graphs, and the pictures docs/viz.md shows are the ones it draws
    now (DOT compared exactly; regenerate with ``--out docs/images/viz``)."""
    out = _run("draw_graphs.py", "--out", str(tmp_path))
    assert "MulBackward0  (retains grad: xy (2))" in out
    assert "features.0 ConvBlock 15 ops  [SmallCNN.features]" in out
    assert 'n6["w<br/> ()"]:::leaf' in out
    committed = ROOT / "docs" / "images" / "viz"
    for dot in sorted(committed.glob("*.dot")):
        assert (tmp_path / dot.name).read_text() == dot.read_text(), (
            f"docs/images/viz/{dot.name} is out of date: run "
            "`python examples/draw_graphs.py --out docs/images/viz`"
        )
        assert (committed / f"{dot.stem}.svg").exists()
    assert len(list(committed.glob("*.dot"))) == 4


def test_compile_reasons_logs_the_batch_size_change():
    out = _run("compile_reasons.py")
    assert "step 4: batch 32" in out
    assert "#3 at examples/compile_reasons.py:" in out
    assert "argument 'x' changed: tensor[48, 10] float32 -> tensor[32, 10] float32" in out
    assert "pad batches to a fixed size or use drop_last=True" in out


def _train_gpt_module(backend: str):
    """examples/train_gpt.py as a module, importing tracegrad as written or, for ``"torch"``,
    real PyTorch in its place (its three import lines swapped, the rest unchanged)."""
    import types

    source = (ROOT / "examples" / "train_gpt.py").read_text()
    if backend == "torch":
        for old, new in (
            ("import tracegrad as torch\n", "import torch\n"),
            ("import tracegrad.nn.functional as F\n", "import torch.nn.functional as F\n"),
            ("from tracegrad import nn\n", "from torch import nn\n"),
        ):
            assert source.count(old) == 1, old
            source = source.replace(old, new)
    module = types.ModuleType(f"train_gpt_{backend}")
    sys.modules[module.__name__] = module  # dataclasses look their module up by name
    exec(compile(source, str(ROOT / "examples" / "train_gpt.py"), "exec"), module.__dict__)
    return module


@pytest.mark.parametrize("mode", [[], ["--compile"]], ids=["eager", "compile"])
def test_train_gpt_learns_and_saves_a_checkpoint_pytorch_reads(tmp_path, mode):
    import math

    import numpy as np
    from safetensors.numpy import load_file

    ckpt = tmp_path / "gpt.safetensors"
    sizes = {"--n-layer": 2, "--n-head": 2, "--n-embd": 32, "--block-size": 32}
    out = _run(
        "train_gpt.py",
        *(str(a) for kv in sizes.items() for a in kv),
        *("--batch-size", "16", "--max-iters", "80", "--warmup-iters", "10", "--lr", "3e-3"),
        *("--dropout", "0.1", "--eval-interval", "40", "--eval-batches", "4"),
        *("--sample-chars", "40", "--no-progress", "--checkpoint", str(ckpt), *mode),
    )
    # "step    40  train loss 3.012  val loss 3.123  (unigram 3.071)  lr ..."
    evals = [line.split() for line in out.splitlines() if line.startswith("step ")]
    assert [int(e[1]) for e in evals] == [0, 40, 80], out
    train = [float(e[4]) for e in evals]
    val = [float(e[7]) for e in evals]
    unigram = float(evals[0][9].rstrip(")"))
    vocab = int(out.split("vocabulary ")[1].split(";")[0])
    assert all(math.isfinite(x) for x in train + val), out
    # An untrained model is near the uniform guess; 80 steps of a tiny model must get it
    # well under that, and on the training text under the unigram entropy.
    assert abs(train[0] - math.log(vocab)) < 0.5, out
    assert train[2] < train[0] - 1.0 and val[2] < val[0] - 1.0, out
    assert train[2] < unigram, out
    sample = out.split("---- sample")[1].split("\n", 1)[1].split("\n----")[0]
    assert len(sample) >= 40, out  # 40 characters (a sampled newline adds no character)

    # The checkpoint is a plain safetensors file: read without tracegrad or PyTorch.
    state = load_file(str(ckpt))
    assert state["tok_emb.weight"].shape == (vocab, 32)
    assert state["pos_emb.weight"].shape == (32, 32)
    assert state["blocks.1.attn.c_attn.weight"].shape == (96, 32)
    # Tied weights: two keys (as PyTorch's state_dict has), one value.
    np.testing.assert_array_equal(state["lm_head.weight"], state["tok_emb.weight"])

    torch = pytest.importorskip("torch")
    from safetensors.torch import load_file as torch_load_file

    # PyTorch loads the file into the same model source and computes the same logits.
    import tracegrad

    config = dict(vocab_size=vocab, block_size=32, n_layer=2, n_head=2, n_embd=32)
    tg_gpt, pt_gpt = _train_gpt_module("tracegrad"), _train_gpt_module("torch")
    ours = tg_gpt.GPT(tg_gpt.GPTConfig(**config))
    ours.load_state_dict(tracegrad.load(str(ckpt)))
    theirs = pt_gpt.GPT(pt_gpt.GPTConfig(**config))
    theirs.load_state_dict(torch_load_file(str(ckpt)))
    ours.eval(), theirs.eval()
    idx = np.random.default_rng(0).integers(0, vocab, (3, 32))
    with tracegrad.no_grad():
        logits_tg = np.asarray(ours(tracegrad.tensor(idx))[0])
    with torch.no_grad():
        logits_pt = theirs(torch.from_numpy(idx))[0].numpy()
    np.testing.assert_allclose(logits_tg, logits_pt, rtol=1e-4, atol=1e-4)


def test_hessian_newton_converges():
    out = _run("hessian_newton.py")
    last = float(out.split("newton step 5:")[1].split("|grad| = ")[1].split()[0])
    assert last < 1e-8, out
    assert "quadratic: one step gives [0.5999" in out
    assert "shape (4, 3, 4, 3)" in out and "symmetric: True" in out


def _number_after(out: str, prefix: str) -> float:
    """The number that follows ``prefix`` on the first line containing it ("1.2e-08", "88.3%")."""
    line = next(x for x in out.splitlines() if prefix in x)
    return float(line.split(prefix, 1)[1].split()[0].rstrip("%,;)"))


def test_per_sample_grads_match_a_loop_and_dp_sgd_learns():
    # Moved here from tests/test_vmap.py when the example became the torch.func tutorial's.
    out = _run("per_sample_grads.py")
    assert "per-sample gradients match a loop: True" in out
    assert _number_after(out, "loop of backward()| over 16 samples:") < 1e-5, out
    assert "'conv1.weight': (16, 8, 1, 3, 3)" in out and "'fc.weight': (16, 10, 64)" in out
    assert _number_after(out, "final test accuracy") > 80.0, out


def test_ensembling_matches_running_the_models_one_by_one():
    out = _run("ensembling.py", "--models", "5")
    assert "(a) same minibatch: predictions (5, 64, 10)" in out
    assert "(b) own minibatches: predictions (5, 64, 10)" in out
    assert "(a) matches the loop: True" in out and "(b) matches the loop: True" in out
    assert _number_after(out, "(a) max |vmap - loop| =") < 1e-5, out
    assert _number_after(out, "(b) max |vmap - loop| =") < 1e-5, out
    assert _number_after(out, "stacked parameters: max |vmap - loop| =") < 1e-6, out


def test_jacobian_physics_matches_finite_differences():
    out = _run("jacobian_physics.py")
    assert _number_after(out, "max |jacrev - finite differences| =") < 1e-7, out
    assert _number_after(out, "max |jacfwd - finite differences| =") < 1e-7, out
    assert _number_after(out, "max |jacrev - jacfwd| =") < 1e-12, out
    assert "jacobians match finite differences: True" in out
    # At rho = 28 the fixed point C+ is an unstable spiral: lambda = -13.85, 0.094 +- 10.19j.
    assert "'-13.8546+0.0000j', '0.0940+10.1945j', '0.0940-10.1945j'" in out
    assert _number_after(out, "max |mu - exp(dt lambda)| =") < 1e-5, out
    assert "C+ is unstable: 2 of 3 |mu| > 1" in out
    # The linearized covariance agrees with a 20,000-state ensemble to sampling error.
    assert _number_after(out, "|J P J^T - ensemble| / |ensemble| =") < 0.05, out


def test_colab_tpu_notebook_trains_data_parallel_on_8_devices(monkeypatch):
    """examples/colab_tpu.ipynb runs top to bottom at its tiny size, its DDP step split over 8
    simulated CPU devices, and prints its throughput and a finite final loss."""
    import math

    try:
        import ipykernel  # noqa: F401 - the kernel nbclient starts
        import nbformat
        from nbclient import NotebookClient
    except ImportError as exc:
        pytest.skip(f"executing the notebook needs nbclient, nbformat and ipykernel: {exc}")

    # The kernel is a fresh process: it sees these, and this process's jax is untouched.
    monkeypatch.setenv("TRACEGRAD_NOTEBOOK_SIZE", "tiny")
    monkeypatch.setenv("XLA_FLAGS", "--xla_force_host_platform_device_count=8")
    monkeypatch.setenv("JAX_PLATFORMS", "cpu")
    monkeypatch.setenv(
        "PYTHONPATH",
        os.pathsep.join(filter(None, [str(ROOT / "src"), os.environ.get("PYTHONPATH")])),
    )
    monkeypatch.delenv("COLAB_RELEASE_TAG", raising=False)
    nb = nbformat.read(ROOT / "examples" / "colab_tpu.ipynb", as_version=4)
    assert not any(c.get("outputs") for c in nb.cells if c.cell_type == "code"), "stored outputs"
    client = NotebookClient(
        nb,
        kernel_name="python3",
        timeout=600,
        resources={"metadata": {"path": str(ROOT / "examples")}},
    )
    client.execute()
    out = "".join(
        o.get("text", "")
        for c in nb.cells
        if c.cell_type == "code"
        for o in c.outputs
        if o.output_type == "stream"
    )
    assert "size: tiny" in out, out
    assert "8 devices" in out and "x 8 devices" in out, out
    line = next(x for x in out.splitlines() if x.startswith("throughput: "))
    assert "tokens/s" in line and "steps/s" in line, line
    assert float(line.split()[1].replace(",", "")) > 0, line
    final = _number_after(out, "final loss:")
    assert math.isfinite(final), out
