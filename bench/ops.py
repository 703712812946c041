"""Op benchmark: per-call dispatch overhead on tiny tensors, and matmul throughput.

Compares neurarust with PyTorch (CPU, eager) and raw numpy in one run, side by side:

- small ops (add, mul, relu, sum, matmul on 8x8 float32), with and without requires_grad,
  and a forward + backward of a tiny expression: microseconds per call, min over repeats;
- matmul of n x n float32 for n in 256, 512, 1024, 2048: GFLOP/s (2 n^3 flops per call);
- conv2d (im2col + one GEMM) forward and forward + backward at small-CNN sizes: ms per call.

PyTorch runs with as many threads as numpy's BLAS (read with threadpoolctl when installed),
so the large matmul compares the same hardware budget. Run::

    python bench/ops.py              # the tables
    python bench/ops.py --profile    # cProfile of the small-op loop (where dispatch time goes)
    python bench/ops.py --quick      # fewer repeats and sizes, for a smoke run

Targets (see bench/README.md): small-op overhead within 3x of PyTorch eager; large matmul
within 10% of numpy.
"""

from __future__ import annotations

import argparse
import cProfile
import os
import pstats
import sys
import timeit
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import neurarust as nr

try:
    import torch
except ImportError:  # pragma: no cover - PyTorch is an optional peer
    torch = None

Fn = Callable[[], Any]


def blas_threads() -> tuple[int, str]:
    """numpy's BLAS thread count, and where the number came from."""
    try:
        from threadpoolctl import threadpool_info

        for pool in threadpool_info():
            if pool.get("user_api") == "blas":
                return int(pool["num_threads"]), f"threadpoolctl ({pool.get('internal_api')})"
    except ImportError:
        pass
    for var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        if os.environ.get(var):
            return int(os.environ[var]), var
    return os.cpu_count() or 1, "os.cpu_count()"


def per_call_us(fns: Sequence[Fn | None], repeat: int, min_time: float = 0.05) -> list[float | None]:
    """Microseconds per call of each fn: the minimum over ``repeat`` rounds, where each round
    times every fn in turn (interleaved, so that load from elsewhere on the machine hits all
    of them alike and their ratios stay meaningful)."""
    timers = [timeit.Timer(fn) if fn is not None else None for fn in fns]
    numbers = []
    for timer in timers:
        if timer is None:
            numbers.append(0)
            continue
        number, took = timer.autorange()  # also warms up
        numbers.append(max(1, int(number * min_time / max(took, 1e-9))))
    best = [float("inf")] * len(fns)
    for _ in range(repeat):
        for i, (timer, number) in enumerate(zip(timers, numbers)):
            if timer is not None:
                best[i] = min(best[i], timer.timeit(number) / number)
    return [b * 1e6 if t is not None else None for b, t in zip(best, timers)]


# -- the small-op cases ------------------------------------------------------------------------
def small_cases() -> list[tuple[str, Fn | None, Fn | None, Fn | None]]:
    """(name, neurarust fn, torch fn, numpy fn) on 8x8 float32."""
    rng = np.random.default_rng(0)
    a_np = rng.standard_normal((8, 8)).astype(np.float32)
    b_np = rng.standard_normal((8, 8)).astype(np.float32)
    a, b = nr.from_numpy(a_np.copy()), nr.from_numpy(b_np.copy())
    ag = nr.from_numpy(a_np.copy()).requires_grad_()
    bg = nr.from_numpy(b_np.copy()).requires_grad_()
    if torch is not None:
        ta, tb = torch.from_numpy(a_np.copy()), torch.from_numpy(b_np.copy())
        tag = torch.from_numpy(a_np.copy()).requires_grad_()
        tbg = torch.from_numpy(b_np.copy()).requires_grad_()

    def t(fn: Callable[[], Any]) -> Fn | None:
        return fn if torch is not None else None

    def nr_fwd_bwd() -> None:
        ((ag * bg + ag).relu().sum()).backward()
        ag.grad = None
        bg.grad = None

    def torch_fwd_bwd() -> None:
        ((tag * tbg + tag).relu().sum()).backward()
        tag.grad = None
        tbg.grad = None

    return [
        ("add", lambda: a + b, t(lambda: ta + tb), lambda: a_np + b_np),
        ("mul", lambda: a * b, t(lambda: ta * tb), lambda: a_np * b_np),
        ("relu", lambda: a.relu(), t(lambda: ta.relu()), lambda: np.maximum(a_np, 0)),
        ("sum", lambda: a.sum(), t(lambda: ta.sum()), lambda: a_np.sum()),
        ("matmul", lambda: a @ b, t(lambda: ta @ tb), lambda: a_np @ b_np),
        ("add (requires_grad)", lambda: ag + bg, t(lambda: tag + tbg), None),
        ("mul (requires_grad)", lambda: ag * bg, t(lambda: tag * tbg), None),
        ("relu (requires_grad)", lambda: ag.relu(), t(lambda: tag.relu()), None),
        ("sum (requires_grad)", lambda: ag.sum(), t(lambda: tag.sum()), None),
        ("matmul (requires_grad)", lambda: ag @ bg, t(lambda: tag @ tbg), None),
        ("fwd+bwd (a*b+a).relu().sum()", nr_fwd_bwd, t(torch_fwd_bwd), None),
    ]


def _ratio(x: float | None, y: float | None) -> str:
    return f"{x / y:8.2f}x" if x is not None and y is not None else f"{'-':>9}"


def _us(x: float | None) -> str:
    return f"{x:10.2f}" if x is not None else f"{'-':>10}"


def run_small(repeat: int) -> None:
    print("\nSmall ops on 8x8 float32: microseconds per call (min over repeats)")
    print(f"{'op':32} {'neurarust':>10} {'torch':>10} {'numpy':>10} {'nr/torch':>9} {'nr/numpy':>9}")
    ratios = []
    for name, fn_nr, fn_torch, fn_np in small_cases():
        t_nr, t_torch, t_np = per_call_us([fn_nr, fn_torch, fn_np], repeat)
        if t_nr is not None and t_torch is not None:
            ratios.append(t_nr / t_torch)
        print(f"{name:32} {_us(t_nr)} {_us(t_torch)} {_us(t_np)} {_ratio(t_nr, t_torch)} "
              f"{_ratio(t_nr, t_np)}")
    if ratios:
        geo = float(np.exp(np.mean(np.log(ratios))))
        print(f"{'geometric mean nr/torch':32} {'':10} {'':10} {'':10} {geo:8.2f}x   "
              f"(target: <= 3x)")


# -- matmul throughput -------------------------------------------------------------------------
def run_matmul(sizes: list[int], repeat: int) -> None:
    print("\nmatmul n x n float32: GFLOP/s (2 n^3 / best time), higher is better")
    print(f"{'n':>6} {'neurarust':>10} {'torch':>10} {'numpy':>10} {'nr/torch':>9} {'nr/numpy':>9}")
    rng = np.random.default_rng(0)
    for n in sizes:
        a_np = rng.standard_normal((n, n)).astype(np.float32)
        b_np = rng.standard_normal((n, n)).astype(np.float32)
        a, b = nr.from_numpy(a_np), nr.from_numpy(b_np)
        fns: list[Fn | None] = [lambda a=a, b=b: a @ b, lambda a=a_np, b=b_np: a @ b, None]
        if torch is not None:
            ta, tb = torch.from_numpy(a_np), torch.from_numpy(b_np)
            fns[2] = lambda a=ta, b=tb: a @ b
        reps = max(3, repeat if n <= 1024 else repeat // 2)
        t_nr, t_np, t_torch = per_call_us(fns, reps, 0.2)
        flops = 2.0 * n**3
        assert t_nr is not None and t_np is not None
        gf_nr, gf_np = flops / t_nr / 1e3, flops / t_np / 1e3
        gf_t = flops / t_torch / 1e3 if t_torch is not None else None
        # throughput ratios: > 1 means neurarust is faster
        print(f"{n:6d} {gf_nr:10.1f} {_us(gf_t)} {gf_np:10.1f} {_ratio(gf_nr, gf_t)} "
              f"{_ratio(gf_nr, gf_np)}")
    print("(ratios of GFLOP/s: 1.00x = same speed; the target is nr/numpy >= 0.90x)")


def run_conv(repeat: int) -> None:
    """conv2d forward, and forward + backward, at a small-CNN layer size: milliseconds."""
    print("\nconv2d float32, 3x3 kernel: milliseconds per call (min over repeats)")
    print(f"{'case':44} {'neurarust':>10} {'torch':>10} {'nr/torch':>9}")
    rng = np.random.default_rng(0)
    for n, c, size, o, stride in [(32, 16, 28, 32, 1), (32, 64, 14, 128, 2)]:
        x_np = rng.standard_normal((n, c, size, size)).astype(np.float32)
        w_np = rng.standard_normal((o, c, 3, 3)).astype(np.float32) * 0.1
        x, w = nr.from_numpy(x_np.copy()).requires_grad_(), nr.from_numpy(w_np.copy())
        w.requires_grad_()
        label = f"N={n} C={c} {size}x{size} -> {o}, stride {stride}, pad 1"

        def nr_fwd(x: Any = x, w: Any = w, stride: int = stride) -> None:
            with nr.no_grad():
                nr.conv2d(x, w, stride=stride, padding=1)

        def nr_both(x: Any = x, w: Any = w, stride: int = stride) -> None:
            nr.conv2d(x, w, stride=stride, padding=1).sum().backward()
            x.grad = w.grad = None

        rows: list[tuple[str, Fn, Fn | None]] = [(label + " fwd", nr_fwd, None),
                                                 (label + " fwd+bwd", nr_both, None)]
        if torch is not None:
            tx = torch.from_numpy(x_np.copy()).requires_grad_()
            tw = torch.from_numpy(w_np.copy()).requires_grad_()

            def torch_fwd(tx: Any = tx, tw: Any = tw, stride: int = stride) -> None:
                with torch.no_grad():
                    torch.conv2d(tx, tw, stride=stride, padding=1)

            def torch_both(tx: Any = tx, tw: Any = tw, stride: int = stride) -> None:
                torch.conv2d(tx, tw, stride=stride, padding=1).sum().backward()
                tx.grad = tw.grad = None

            rows = [(label + " fwd", nr_fwd, torch_fwd), (label + " fwd+bwd", nr_both, torch_both)]
        for name, fn_nr, fn_torch in rows:
            t_nr, t_torch = (t / 1e3 if t is not None else None
                             for t in per_call_us([fn_nr, fn_torch], repeat, 0.2))
            print(f"{name:44} {_us(t_nr)} {_us(t_torch)} {_ratio(t_nr, t_torch)}")


def run_profile(calls: int, top: int) -> None:
    """cProfile the small-op loop: each case called ``calls`` times."""
    cases = [(name, fn) for name, fn, _, _ in small_cases() if fn is not None]
    profiler = cProfile.Profile()
    profiler.enable()
    for _ in range(calls):
        for _, fn in cases:
            fn()
    profiler.disable()
    print(f"\ncProfile of {calls} x {len(cases)} small neurarust ops "
          f"({', '.join(name for name, _ in cases)})")
    stats = pstats.Stats(profiler)
    stats.strip_dirs().sort_stats("tottime").print_stats(top)
    stats.sort_stats("cumulative").print_stats(top)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--profile", action="store_true",
                        help="profile the small-op loop with cProfile instead of timing")
    parser.add_argument("--quick", action="store_true", help="fewer repeats and sizes")
    parser.add_argument("--calls", type=int, default=5000, help="loop count for --profile")
    parser.add_argument("--top", type=int, default=25, help="rows printed by --profile")
    args = parser.parse_args(argv)

    if args.profile:
        run_profile(args.calls, args.top)
        return
    threads, source = blas_threads()
    if torch is not None:
        torch.set_num_threads(threads)
    print(f"neurarust {getattr(nr, '__version__', '?')}, numpy {np.__version__}"
          + (f", torch {torch.__version__}" if torch is not None else ", torch not installed"))
    print(f"threads: numpy BLAS {threads} (from {source}); torch.set_num_threads({threads})"
          + (f" -> {torch.get_num_threads()}" if torch is not None else ""))
    repeat = 3 if args.quick else 7
    run_small(repeat)
    run_matmul([256, 512] if args.quick else [256, 512, 1024, 2048], repeat)
    if not args.quick:
        run_conv(max(3, repeat // 2))


if __name__ == "__main__":
    main()
