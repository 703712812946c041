"""ACAS Xu (VNN-COMP 2021): run N instances with a per-instance timeout; print verdicts,
times, and solved / unknown / median time.

    python bench/acasxu.py [--n 20] [--start 0] [--timeout 10] [--dir ../shared/vnncomp/acasxu]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time


def main(argv: list[str] | None = None) -> int:
    import neurarust as nr
    from neurarust.verify.bab import verify_property
    from neurarust.verify.vnnlib import read_vnnlib

    here = os.path.dirname(os.path.abspath(__file__))
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--dir", default=os.path.join(here, "..", "..", "shared", "vnncomp", "acasxu"))
    ap.add_argument("--n", type=int, default=20)
    ap.add_argument("--start", type=int, default=0)
    ap.add_argument("--timeout", type=float, default=10.0)
    args = ap.parse_args(argv)
    if not os.path.isdir(args.dir):
        args.dir = "/work/shared/vnncomp/acasxu"
    with open(os.path.join(args.dir, "acasxu_instances.csv")) as f:
        rows = [line.strip().split(",") for line in f if line.strip()]
    rows = rows[args.start:args.start + args.n]
    counts: dict[str, int] = {}
    solved_times: list[float] = []
    for net, prop, _ in rows:
        t0 = time.perf_counter()
        model = nr.onnx.load(os.path.join(args.dir, net))
        r = verify_property(model, (1, 1, 1, 5), read_vnnlib(os.path.join(args.dir, prop)),
                            timeout=args.timeout)
        dt = time.perf_counter() - t0
        counts[r.verdict] = counts.get(r.verdict, 0) + 1
        if r.verdict != "unknown":
            solved_times.append(dt)
        print(f"{net:34s} {prop:14s} {r.verdict:9s} {dt:7.2f} s  {r.boxes} boxes", flush=True)
    med = statistics.median(solved_times) if solved_times else float("nan")
    print(f"{len(rows)} instances: {counts.get('holds', 0)} holds, "
          f"{counts.get('violated', 0)} violated, {counts.get('unknown', 0)} unknown "
          f"(timeout {args.timeout:g} s); median time of solved {med:.2f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
