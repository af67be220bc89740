"""The drop-in suite: PyTorch tutorials and examples run unchanged with tracegrad as ``torch``.

Each program in tests/dropin/ is adapted from PyTorch's public tutorials or examples only in size,
epochs and data (see each file's docstring and docs/dropin.md). It runs in fresh interpreters, once
with real PyTorch and once with tracegrad standing in for ``torch`` (tests/dropin/run.py), and the
numbers it emits are compared one by one. When PyTorch is not installed only the tracegrad side
runs and must complete.

Tolerances (float32 programs): ``|tracegrad - torch| <= ATOL + RTOL * |torch|`` with
``RTOL = 1e-4`` and ``ATOL = 1e-5``, the size of float32 rounding differences (different summation
orders in XLA and ATen) after a few hundred training steps; a program whose numbers are integers
(counts, argmaxes) must match exactly. ``TOLERANCES`` below widens them per program where a long
run amplifies rounding, with the reason. Numbers that depend on torch's own random draws (dropout
masks, sampling) are emitted as ``unseeded`` and compared only in structure and finiteness.

A program that stops under tracegrad because a name is missing is ``xfail(strict=True)`` with the
missing API in its reason and ``raises=MissingAPI``: it flips to a failure (to be unmarked) when
the feature lands, and a wrong value is never taken for a missing name. A program whose numbers
all match but whose emitted names (strings, such as a printed grad_fn) differ is
``xfail(strict=True, raises=TextDiffers)`` with the difference in its reason. A program whose
numbers differ because of a documented difference from PyTorch (docs/semantics.md; for example an
in-place write through a view, which tracegrad does not have) is
``xfail(strict=True, raises=ValuesDiffer)`` with the difference and a minimal example in its
reason; any other wrong value fails the test.
"""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DROPIN = ROOT / "tests" / "dropin"
RUNNER = DROPIN / "run.py"
MARKER = "DROPIN-RESULT "

RTOL = 1e-4
ATOL = 1e-5
# Per-program (rtol, atol) where the defaults are too tight, with the reason.
TOLERANCES: dict[str, tuple[float, float]] = {}

try:
    import torch as _torch  # noqa: F401

    HAVE_TORCH = True
except ImportError:
    HAVE_TORCH = False


class MissingAPI(AssertionError):
    """The program stopped under tracegrad on a name tracegrad does not have (yet)."""


class TextDiffers(AssertionError):
    """Every number matches but an emitted name (a string, such as a grad_fn's) differs."""


class ValuesDiffer(AssertionError):
    """Numbers differ where a documented difference from PyTorch (docs/semantics.md) explains it."""


# The last line of a traceback that means "tracegrad lacks this name", not "wrong value".
_MISSING = ("AttributeError:", "ModuleNotFoundError:", "ImportError:", "NotImplementedError:")
# ... and tracegrad's refusal to pickle a whole module (torch.save(model)), which it never will.
_MISSING += ("TypeError: tracegrad.save cannot store a whole",)


def _run(backend: str, program: str, cwd: Path) -> dict:
    env = dict(os.environ)
    src = str(ROOT / "src")
    env["PYTHONPATH"] = src + os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else src
    proc = subprocess.run(
        [sys.executable, str(RUNNER), backend, str(DROPIN / program)],
        capture_output=True,
        text=True,
        timeout=600,
        cwd=cwd,
        env=env,
    )
    if proc.returncode != 0:
        last = proc.stderr.strip().splitlines()[-1] if proc.stderr.strip() else ""
        message = f"{program} failed under {backend}: {last}\n{proc.stderr[-4000:]}"
        if backend == "tracegrad" and last.startswith(_MISSING):
            raise MissingAPI(message)
        raise AssertionError(message)
    lines = [x for x in proc.stdout.splitlines() if x.startswith(MARKER)]
    assert len(lines) == 1, f"{program} under {backend} printed {len(lines)} result lines"
    return json.loads(lines[0][len(MARKER) :])


def _flatten(value, path: str, out: list) -> None:
    if isinstance(value, dict):
        assert all(isinstance(k, str) for k in value), path
        for key in sorted(value):
            _flatten(value[key], f"{path}.{key}", out)
    elif isinstance(value, (list, tuple)):
        out.append((f"{path}#len", len(value)))
        for i, item in enumerate(value):
            _flatten(item, f"{path}[{i}]", out)
    else:
        out.append((path, value))


def _leaves(value) -> list:
    out: list = []
    _flatten(value, "", out)
    return out


# Values that compare two different computations of the same numbers bitwise (gradients with
# and without activation checkpointing). In lazy mode each is part of a differently fused
# program, equal to float32 rounding (docs/lazy.md; the max difference is still compared), so
# these are compared in eager mode only.
BITWISE_ACROSS_PROGRAMS = {"checkpointed_blocks.py": {".det_grads_equal"}}
LAZY = os.environ.get("TRACEGRAD_LAZY", "0") not in ("", "0")


def _compare(program: str, got: dict, want: dict) -> None:
    rtol, atol = TOLERANCES.get(program, (RTOL, ATOL))
    got_values, want_values = _leaves(got["values"]), _leaves(want["values"])
    assert [p for p, _ in got_values] == [p for p, _ in want_values], "different result structure"
    assert want_values, f"{program} emitted no values"
    skip = BITWISE_ACROSS_PROGRAMS.get(program, set()) if LAZY else set()
    bad = []
    for (path, g), (_, w) in zip(got_values, want_values):
        if path in skip:
            continue
        text = isinstance(w, str)
        if isinstance(w, bool) or isinstance(w, str) or w is None:
            ok = g == w
        elif isinstance(w, int) and isinstance(g, int):
            ok = g == w
        else:
            ok = isinstance(g, (int, float)) and abs(g - w) <= atol + rtol * abs(w)
            ok = ok or (isinstance(g, float) and math.isnan(g) and math.isnan(w))
        if not ok:
            bad.append((text, f"{path}: tracegrad {g!r} vs torch {w!r}"))
    message = f"{len(bad)} of {len(want_values)} values differ:\n"
    message += "\n".join(b for _, b in bad[:20])
    if bad and all(text for text, _ in bad):
        raise TextDiffers(message)
    if bad:
        raise ValuesDiffer(message)
    got_unseeded, want_unseeded = _leaves(got["unseeded"]), _leaves(want["unseeded"])
    assert [p for p, _ in got_unseeded] == [p for p, _ in want_unseeded]
    _check_finite(got["unseeded"])


def _check_finite(unseeded: dict) -> None:
    for path, v in _leaves(unseeded):
        if isinstance(v, float):
            assert math.isfinite(v), f"unseeded{path} = {v}"


def _program(
    name: str,
    *,
    missing: str | None = None,
    differs: str | None = None,
    wrong: str | None = None,
    fast: bool = False,
):
    marks = [] if fast else [pytest.mark.slow]
    if missing is not None:
        marks.append(pytest.mark.xfail(strict=True, raises=MissingAPI, reason=f"needs {missing}"))
    if differs is not None:
        marks.append(pytest.mark.xfail(strict=True, raises=TextDiffers, reason=differs))
    if wrong is not None:
        marks.append(pytest.mark.xfail(strict=True, raises=ValuesDiffer, reason=wrong))
    return pytest.param(name, id=name.removesuffix(".py"), marks=marks)


PROGRAMS = [
    _program("polynomial_custom_function.py", fast=True),
    _program("polynomial_tensor.py"),
    _program("polynomial_autograd.py"),
    _program("polynomial_nn.py"),
    _program("polynomial_module.py"),
    _program("autogradqs.py"),
    _program("neural_networks.py"),
    _program("cifar10.py"),
    _program("quickstart.py"),
    _program("mnist.py"),
    _program("dcgan.py"),
    _program("reinforce.py"),
    _program(
        "super_resolution.py",
        missing="torch.save of a whole nn.Module (tracegrad saves state_dicts, never pickles)",
    ),
    _program(
        "word_language_model.py",
        missing="torch.save of a whole nn.Module (tracegrad saves state_dicts, never pickles)",
    ),
    _program("char_rnn_classification.py"),
    _program("seq2seq_translation.py"),
    _program("transformer_tutorial.py"),
    _program("lstm_packed_classifier.py"),
    _program("nanogpt.py"),
    _program("fast_neural_style.py"),
    _program("time_sequence_prediction.py"),
    _program("sngan.py"),
    _program("checkpointed_blocks.py"),
]


@pytest.mark.parametrize("program", PROGRAMS)
def test_dropin_matches_pytorch(program, tmp_path):
    (tmp_path / "tracegrad").mkdir()
    got = _run("tracegrad", program, tmp_path / "tracegrad")
    if not HAVE_TORCH:
        _check_finite(got["unseeded"])
        assert got["values"], f"{program} emitted no values"
        return
    (tmp_path / "torch").mkdir()
    want = _run("torch", program, tmp_path / "torch")
    _compare(program, got, want)


def test_every_program_is_listed():
    listed = {p.values[0] for p in PROGRAMS}
    present = {p.name for p in DROPIN.glob("*.py")} - {"run.py", "dropin_support.py"}
    assert listed == present
