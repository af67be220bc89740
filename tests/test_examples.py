"""The example scripts run and print the numbers they claim."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _run(script: str) -> str:
    proc = subprocess.run(
        [sys.executable, str(ROOT / "examples" / script)],
        capture_output=True,
        text=True,
        timeout=120,
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
