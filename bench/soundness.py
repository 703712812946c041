"""Soundness campaign of the numeric verifier: ``python bench/soundness.py --claims 100000``.

Random graphs over every op with a range rule, random boxes (infinite, huge, tiny,
subnormal, degenerate endpoints; float32 and float16), and an attack on every claim of each
proven report (corners, special values, dense samples, projected gradient) on the eager
float model and, for every third graph, on onnxruntime (:mod:`neurarust.verify.soundness`). Prints the claims attacked, per op, the ops
not generated, and every broken claim with its reproducer; exit status 1 if any claim broke.
"""

from __future__ import annotations

import argparse
import sys
import warnings


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--claims", type=int, default=100_000, help="claims to attack")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--seconds", type=float, default=1200.0, help="stop after this long")
    p.add_argument("--exact-every", type=int, default=10,
                   help="every n-th graph also runs the z3 tightening (0: never)")
    p.add_argument("--ort-every", type=int, default=3,
                   help="every n-th graph's claims are also attacked on onnxruntime (0: never)")
    args = p.parse_args()
    warnings.simplefilter("ignore")
    from neurarust.verify import soundness

    camp = soundness.run(args.claims, args.seed, seconds=args.seconds,
                         exact_every=args.exact_every, ort_every=args.ort_every)
    print(camp.summary())
    for op, why in soundness.NOT_TRACEABLE.items():
        print(f"  {op}: {why}")
    for b in camp.broken:
        print(b)
    return 1 if camp.broken else 0


if __name__ == "__main__":
    sys.exit(main())
