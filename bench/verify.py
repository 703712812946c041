"""Verification benchmarks, printed (no timings live in tests).

Shape safety: the time ``nr.verify.verify`` takes (trace every path + z3 on every obligation)
for ResNet-18 with symbolic ``B, H, W`` and a 12-layer Transformer encoder with symbolic
``B, T``; target < 2 s each. The models are the verification corpus's
(``tests/verify/corpus/``), so the benchmark and the tests verify the same code.

Numeric bounds: :func:`bench_numeric` (IBP + linear bounds on a 784-256-256-10 ReLU MLP,
side by side with auto_LiRPA where it is installed).

Run: ``python bench/verify.py`` (``--repeat N`` for the best of N runs).
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import sys
import time
from types import ModuleType
from typing import Any

HERE = os.path.dirname(os.path.abspath(__file__))
CORPUS = os.path.join(os.path.dirname(HERE), "tests", "verify", "corpus")
TARGET_S = 2.0


def _corpus(name: str) -> ModuleType:
    path = os.path.join(CORPUS, f"{name}.py")
    spec = importlib.util.spec_from_file_location(f"_corpus_{name}", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


SHAPE_CASES: list[tuple[str, str, str, dict[str, str], list[str]]] = [
    ("ResNet-18, x: f32[B, 3, H, W]", "resnet", "ResNet18", {"x": "f32[B, 3, H, W]"},
     ["1 <= B <= 4096", "32 <= H <= 512", "32 <= W <= 512"]),
    ("Transformer encoder, 12 layers, x: f32[B, T, 256]", "transformer", "Encoder12",
     {"x": "f32[B, T, 256]"}, ["1 <= B <= 4096", "1 <= T <= 2048"]),
]


def bench_shapes(repeat: int = 3) -> list[dict[str, Any]]:
    """Time shape verification of each SHAPE_CASES model (best of ``repeat``); print a table."""
    from neurarust.verify import verify

    rows = []
    print("shape safety (nr.verify.verify: trace all paths + z3), best of", repeat)
    print(f"  {'model':<52} {'verdict':>8} {'paths':>5} {'oblig.':>6} {'time s':>8} "
          f"{'target':>7}")
    for label, module, name, inputs, assume in SHAPE_CASES:
        model = getattr(_corpus(module), name)()
        best, report = float("inf"), None
        for _ in range(repeat):
            start = time.perf_counter()
            report = verify(model, inputs, assume)
            best = min(best, time.perf_counter() - start)
        assert report is not None
        ok = "ok" if best < TARGET_S else "SLOW"
        print(f"  {label:<52} {report.status:>8} {len(report.paths):>5} "
              f"{len(report.results):>6} {best:>8.3f} {ok:>7}")
        rows.append({"model": label, "status": report.status, "seconds": best})
    return rows


def bench_numeric() -> None:
    """IBP + CROWN bounds on a 784-256-256-10 ReLU MLP vs auto_LiRPA (time ratio, bound
    agreement). Filled in by the numeric verifier's benchmark."""
    print("numeric bounds (IBP / CROWN): not measured here yet")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args(argv)
    sys.path.insert(0, os.path.dirname(HERE))
    bench_shapes(args.repeat)
    bench_numeric()
    return 0


if __name__ == "__main__":
    sys.exit(main())
