"""ACAS Xu (VNN-COMP 2021): run the 186 instances (or a filtered subset) with a per-instance
timeout (the competition's own, or ``--timeout`` as a cap), through the same path as
``neurarust verify NET.onnx --vnnlib PROP.vnnlib`` (ONNX import, tracing, branch and bound;
violations checked by the eager network and by onnxruntime); print each verdict and time,
then solved / holds / violated / unknown, median and max time of the solved, and a table
per property.

    python bench/acasxu.py [--timeout 30] [--filter prop_1] [--start 0] [--n 186]
                           [--dir ../shared/vnncomp/acasxu]

Times include loading the network (ONNX import and tracing, ~0.1 s), not the one-off
imports. BLAS runs single-threaded: the bound computations are many small products, where
threads only add contention.
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
import sys
import time

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
os.environ.setdefault("OMP_NUM_THREADS", "1")
# import neurarust from this checkout (the script runs from bench/)
_HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(_HERE))


def _row(name: str, verdicts: list[str], times: list[float]) -> str:
    solved = [t for v, t in zip(verdicts, times) if v != "unknown"]
    med = f"{statistics.median(solved):7.2f}" if solved else "      -"
    mx = f"{max(solved):7.2f}" if solved else "      -"
    return (f"{name:10s} {len(verdicts):5d} {len(solved):6d} {verdicts.count('holds'):5d} "
            f"{verdicts.count('violated'):8d} {verdicts.count('unknown'):7d} {med} {mx}")


def main(argv: list[str] | None = None) -> int:
    import neurarust as nr
    from neurarust.verify.bab import onnxruntime_runner, verify_property
    from neurarust.verify.vnnlib import read_vnnlib

    here = os.path.dirname(os.path.abspath(__file__))
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--dir", default=os.path.join(here, "..", "..", "shared", "vnncomp", "acasxu"))
    ap.add_argument("--n", type=int, default=186, help="at most this many instances")
    ap.add_argument("--start", type=int, default=0, help="skip the first START instances")
    ap.add_argument("--timeout", type=float, default=None,
                    help="seconds per instance (default: the csv's, 116 s); a cap")
    ap.add_argument("--filter", default=None, metavar="REGEX",
                    help="only instances whose 'NET PROP' matches, e.g. 'prop_[34]' or '_1_'")
    args = ap.parse_args(argv)
    if not os.path.isdir(args.dir):
        args.dir = "/work/shared/vnncomp/acasxu"
    with open(os.path.join(args.dir, "acasxu_instances.csv"), encoding="utf-8") as f:
        rows = [line.strip().split(",") for line in f if line.strip()]
    if args.filter:
        rows = [r for r in rows if re.search(args.filter, f"{r[0]} {r[1]}")]
    rows = rows[args.start:args.start + args.n]
    results: list[tuple[str, str, float]] = []
    for net, prop, csv_timeout in rows:
        timeout = float(csv_timeout) if args.timeout is None else min(float(csv_timeout),
                                                                        args.timeout)
        path = os.path.join(args.dir, net)
        t0 = time.perf_counter()
        model = nr.onnx.load(path)
        ort_run = onnxruntime_runner(path, (1, 1, 1, 5))
        r = verify_property(model, (1, 1, 1, 5), read_vnnlib(os.path.join(args.dir, prop)),
                            timeout=timeout, also=() if ort_run is None else (ort_run,))
        dt = time.perf_counter() - t0
        results.append((prop.removesuffix(".vnnlib"), r.verdict, dt))
        print(f"{net:34s} {prop:14s} {r.verdict:9s} {dt:7.2f} s  {r.boxes:7d} boxes "
              f"{r.reason}", flush=True)
    cap = "the csv's" if args.timeout is None else f"min(csv, {args.timeout:g} s)"
    print(f"\n{len(results)} instances, timeout {cap}")
    print(f"{'property':10s} {'total':>5s} {'solved':>6s} {'holds':>5s} {'violated':>8s} "
          f"{'unknown':>7s} {'median':>7s} {'max':>7s}")
    props = sorted({p for p, _, _ in results}, key=lambda p: int(p.split("_")[1]))
    for p in props:
        sel = [(v, t) for q, v, t in results if q == p]
        print(_row(p, [v for v, _ in sel], [t for _, t in sel]))
    print(_row("all", [v for _, v, _ in results], [t for _, _, t in results]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
