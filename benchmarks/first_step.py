"""Time to the first training step, in fresh processes: tracegrad (no persistent cache, then the
first and second run with one) against PyTorch running the same source.

Each contender runs ``first_step_programs.py`` (a minGPT-sized GPT, pytorch/examples' MNIST CNN)
in a new Python process and reports seconds from process start to: ``import`` done, the model
built and initialised, the first training step done, the second step done; and, for tracegrad,
how many XLA compilations each phase needed (and how many of those the persistent cache served).
Contenders are interleaved round by round; the table gives medians.

Run: python benchmarks/first_step.py [--rounds 3] [--models gpt,cnn] [--no-torch]
       [--tracegrad-src PATH]   (another checkout's src/, e.g. to measure an older commit)
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
PROGRAM = HERE / "first_step_programs.py"


def run(lib: str, model: str, env_changes: dict, src: str | None) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("JAX_", "TRACEGRAD_CACHE"))}
    env.update(env_changes)
    if src:
        env["PYTHONPATH"] = src + os.pathsep + env.get("PYTHONPATH", "")
    out = subprocess.run(
        [sys.executable, str(PROGRAM), "--lib", lib, "--model", model],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--models", default="gpt,cnn")
    parser.add_argument("--no-torch", action="store_true")
    parser.add_argument("--tracegrad-src", default=None)
    args = parser.parse_args()
    rows: dict = {}
    for model in args.models.split(","):
        for _ in range(args.rounds):
            cache = tempfile.mkdtemp(prefix="tracegrad-first-step-")
            try:
                runs = [
                    ("tracegrad, no cache", "tracegrad", {"TRACEGRAD_CACHE_DIR": "0"}),
                    ("tracegrad, cache: first run", "tracegrad", {"TRACEGRAD_CACHE_DIR": cache}),
                    ("tracegrad, cache: second run", "tracegrad", {"TRACEGRAD_CACHE_DIR": cache}),
                ]
                if not args.no_torch:
                    runs.append(("PyTorch", "torch", {}))
                for name, lib, env in runs:
                    got = run(lib, model, env, args.tracegrad_src)
                    rows.setdefault((model, name), []).append(got["phases"])
            finally:
                shutil.rmtree(cache, ignore_errors=True)
    print(f"python {sys.version.split()[0]}, {args.rounds} rounds; medians, in seconds from start")
    print(
        "| model | contender | import | built | first step | second step "
        "| XLA compiles (cache hits) to the first step |"
    )
    print("| --- | --- | --- | --- | --- | --- | --- |")
    for (model, name), runs in rows.items():
        med = [statistics.median(r[i][1] for r in runs) for i in range(4)]
        counts = runs[-1][2][2]
        compiles = f"{counts['compiles']} ({counts['cache_hits']})" if "tracegrad" in name else "-"
        cells = " | ".join(f"{t:.2f}" for t in med)
        print(f"| {model} | {name} | {cells} | {compiles} |")


if __name__ == "__main__":
    main()
