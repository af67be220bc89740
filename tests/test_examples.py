"""The example scripts run and print the numbers they claim."""

from __future__ import annotations

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
